//! Keeps the engine pure mechanically: its normal dependencies are a fixed,
//! reviewed list (no tokio, sqlx, reqwest, actix or any slotwise crate), and
//! every module documents itself.

#[test]
fn engine_depends_only_on_the_reviewed_crates() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    let names: Vec<&str> = deps
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(['.', '=', ' ']).next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["chrono", "chrono-tz", "rrule", "serde", "thiserror"],
        "a new dependency of the core is an API change: review it"
    );
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("//!"), "{} has no module doc comment", path.display());
    }
}
