//! `cargo bench -p availability-core`
//!
//! - `engine/{1,50}emp/{N}`: 60-day window, Mon–Fri 09:00–17:00 Europe/Berlin,
//!   30-minute service stepping by 15, N seeded random (overlapping) busy
//!   intervals per employee.
//! - `sort/{1,50}emp/{N}`: a plain sort of the same busy intervals: the floor.
//! - `oracle/1emp/{N}`: the brute-force minute-by-minute oracle of the tests
//!   on the small sizes, for the ratio.
//! - `peer/n{N}`: the shared peer workloads (`shared/bench/`), when present.

#[path = "../tests/support/oracle.rs"]
mod oracle;
#[path = "../tests/support/workload.rs"]
mod workload;

use std::hint::black_box;
use std::time::Duration;

use availability_core::{Booking, Employee, available_slots};
use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

const DAYS: i64 = 60;

/// A tiny deterministic generator (SplitMix64), so every run measures the same sets.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// N busy intervals as (start minute after the window start, length minutes),
/// spread over the window, overlapping each other freely.
fn busy_set(seed: u64, n: usize) -> Vec<(i64, i64, i64, i64)> {
    let mut rng = Rng(seed);
    (0..n).map(|_| (rng.below((DAYS * 1440) as u64), 5 + rng.below(120), 0, 0)).collect()
}

fn week_case(busy: Vec<(i64, i64, i64, i64)>) -> oracle::Case {
    let nine_to_five = vec![(540u16, 1020u16)];
    let weekly: oracle::Ranges = std::array::from_fn(|d| if d < 5 { nine_to_five.clone() } else { Vec::new() });
    oracle::Case {
        bzone: chrono_tz::Europe::Berlin,
        ezone: chrono_tz::Europe::Berlin,
        weekly: Some((weekly, Default::default())),
        tenant_special: None,
        tenant_holiday: None,
        schedule: None,
        emp_special: None,
        emp_holiday: None,
        start_date: NaiveDate::from_ymd_opt(2030, 3, 4).unwrap(),
        days: DAYS,
        duration: 30,
        step: 15,
        before: 0,
        after: 0,
        notice: 0,
        horizon: 3650,
        now_offset: -1440,
        bookings: busy,
        external: Vec::new(),
        all_day: None,
        time_off: Vec::new(),
        recurring: None,
    }
}

fn sizes(c: &mut Criterion) {
    for employees in [1usize, 50] {
        let mut group = c.benchmark_group(format!("{employees}emp"));
        group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(20);
        for n in [100usize, 1_000, 10_000, 100_000] {
            let cases: Vec<oracle::Case> = (0..employees).map(|e| week_case(busy_set(7 + e as u64, n))).collect();
            let (business, service, _, query) = oracle::engine_inputs(&cases[0]);
            let staff: Vec<Employee> = cases
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut e = oracle::engine_inputs(c).2;
                    e.id = format!("e{i:02}");
                    e
                })
                .collect();
            let raw: Vec<Vec<(i64, i64)>> = staff
                .iter()
                .map(|e| {
                    e.bookings
                        .iter()
                        .map(|b: &Booking| (b.interval.start().timestamp(), b.interval.end().timestamp()))
                        .collect()
                })
                .collect();
            group.bench_function(BenchmarkId::new("engine", n), |b| {
                b.iter(|| available_slots(black_box(&business), &service, black_box(&staff), &query))
            });
            group.bench_function(BenchmarkId::new("sort", n), |b| {
                b.iter(|| {
                    for set in &raw {
                        let mut v = set.clone();
                        v.sort_unstable();
                        black_box(&v);
                    }
                })
            });
            if employees == 1 && n <= 1_000 {
                group
                    .bench_function(BenchmarkId::new("oracle", n), |b| b.iter(|| oracle::oracle(black_box(&cases[0]))));
            }
        }
        group.finish();
    }
}

fn peers(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench");
    let out = std::env::temp_dir().join("slotwise-bench-peers");
    let made = dir.join("gen_workloads.py").exists()
        && std::process::Command::new("python3")
            .arg(dir.join("gen_workloads.py"))
            .args(["--out", out.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
    if !made {
        eprintln!("peer workloads skipped: shared/bench not found");
        return;
    }
    let mut group = c.benchmark_group("peer");
    for n in [100, 1_000, 10_000] {
        let wl = workload::parse(&std::fs::read_to_string(out.join(format!("berlin-60d-n{n}.json"))).unwrap());
        let staff = [wl.employee];
        group.bench_function(BenchmarkId::from_parameter(format!("n{n}")), |b| {
            b.iter(|| available_slots(black_box(&wl.business), &wl.service, black_box(&staff), &wl.query))
        });
    }
    group.finish();
}

criterion_group!(benches, peers, sizes);
criterion_main!(benches);
