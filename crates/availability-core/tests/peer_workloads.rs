//! The peer workloads of `shared/bench/`: the engine's slots equal the plain
//! reference implementation's answer exactly, at every N.

#[path = "support/workload.rs"]
mod workload;

use std::path::PathBuf;
use std::process::Command;

fn bench_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench");
    dir.join("gen_workloads.py").exists().then_some(dir)
}

#[test]
fn slots_equal_the_reference_answer_on_every_peer_workload() {
    let Some(bench) = bench_dir() else {
        assert!(
            std::env::var("CI").is_err(),
            "shared/bench is missing beside the repository: the peer check cannot run in CI"
        );
        eprintln!("skipped: shared/bench not found beside the repository");
        return;
    };
    let out = std::env::temp_dir().join(format!("slotwise-peer-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("python3")
        .arg(bench.join("gen_workloads.py"))
        .args(["--out", out.to_str().unwrap()])
        .status()
        .expect("python3 runs");
    assert!(status.success());
    for n in [100, 1000, 10000] {
        let file = out.join(format!("berlin-60d-n{n}.json"));
        let reference_file = out.join(format!("berlin-60d-n{n}.reference.json"));
        let status = Command::new("python3")
            .arg(bench.join("reference_slots.py"))
            .arg(&file)
            .args(["--out", reference_file.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&reference_file).unwrap()).unwrap();

        let wl = workload::parse(&std::fs::read_to_string(&file).unwrap());
        let found = availability_core::available_slots(
            &wl.business,
            &wl.service,
            std::slice::from_ref(&wl.employee),
            &wl.query,
        );
        let starts: Vec<_> = found.employees[0].slots.iter().map(|s| s.start).collect();
        let ours = workload::answer(&wl.name, &starts);
        assert_eq!(ours["slots"], reference["slots"], "N = {n}");
        assert!(ours["slotCount"].as_u64().unwrap() > 0);
    }
    std::fs::remove_dir_all(&out).ok();
}
