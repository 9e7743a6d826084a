//! Prints the slots of a peer workload file (`shared/bench/`) as JSON, in the
//! same shape as `reference_slots.py`, so answers can be compared with
//! `compare.py` and the whole process timed (e.g. with hyperfine).
//!
//! ```text
//! cargo run --release -p availability-core --example workload -- berlin-60d-n1000.json [--out FILE]
//! ```

#[path = "../tests/support/workload.rs"]
mod workload;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: workload WORKLOAD.json [--out FILE]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(1)
    });
    let wl = workload::parse(&text);
    let found =
        availability_core::available_slots(&wl.business, &wl.service, std::slice::from_ref(&wl.employee), &wl.query);
    let starts: Vec<_> = found.employees[0].slots.iter().map(|s| s.start).collect();
    let doc = workload::answer(&wl.name, &starts).to_string();
    match args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)) {
        Some(out) => std::fs::write(out, doc).expect("output file is writable"),
        None => println!("{doc}"),
    }
}
