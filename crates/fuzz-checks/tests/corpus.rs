//! Replays the fuzz corpus and the regression inputs through the target bodies,
//! on stable and without libFuzzer: every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` must pass its target's checks. Inputs of
//! findings not fixed yet live in `fuzz/findings/<target>/` and must still fail:
//! when one passes, its bug is fixed and the file moves to `fuzz/regressions/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use fuzz_checks::{Check, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file under `fuzz/<kind>/<target>/`, with the target's check, sorted by path.
fn inputs(kind: &str) -> Vec<(PathBuf, Check)> {
    let mut out = Vec::new();
    for (target, check) in TARGETS {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.is_file() && path.extension().is_none_or(|e| e != "md") {
                out.push((path, *check));
            }
        }
    }
    out.sort();
    out
}

fn passes(path: &Path, check: Check) -> Result<(), String> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    catch_unwind(AssertUnwindSafe(|| check(&data))).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[test]
fn corpus_and_regressions_pass_their_checks() {
    let mut files = inputs("corpus");
    let corpus = files.len();
    files.extend(inputs("regressions"));
    assert!(corpus >= TARGETS.len(), "the corpus is missing: {} files under {}", corpus, fuzz_dir().display());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|(path, check)| passes(path, *check).err().map(|e| format!("{}: {e}", path.display())))
        .collect();
    assert!(failures.is_empty(), "{} of {} inputs fail:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn every_target_has_a_corpus() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        let n = std::fs::read_dir(&dir).map_or(0, |d| d.count());
        assert!(n > 0, "no corpus for {target} in {}", dir.display());
    }
}

#[test]
fn open_findings_still_fail() {
    let fixed: Vec<String> = inputs("findings")
        .iter()
        .filter(|(path, check)| passes(path, *check).is_ok())
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        fixed.is_empty(),
        "these findings pass now: move them to fuzz/regressions/<target>/:\n{}",
        fixed.join("\n")
    );
}
