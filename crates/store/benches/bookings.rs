//! Store benchmark: bookings per second for 1, 8 and 64 concurrent writers, and the
//! time to load one employee's 60-day availability inputs with 10,000 bookings.
//!
//! Runs on SQLite (a temp file) and, when `TEST_POSTGRES_URL` is set, on a fresh
//! PostgreSQL database. Not a criterion bench: each figure is one timed run of many
//! operations (plus the median of repeated loads), which is what the question needs.
//!
//! ```text
//! export TEST_POSTGRES_URL=$(bash .ci/start-postgres.sh)   # optional
//! CARGO_TARGET_DIR=target-store cargo bench -p store --bench bookings
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::TimeDelta;
use store::{NewNotification, NewService, Store};

const BOOKINGS_PER_RUN: usize = 2_000;
const LOAD_BOOKINGS: usize = 10_000;
const EMPLOYEES: usize = 16;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        println!("backend   | writers | bookings | seconds | bookings/s");
        for writers in [1, 8, 64] {
            let db = common::sqlite().await?;
            report("sqlite", writers, &db.store).await?;
            db.finish().await?;
        }
        let postgres = std::env::var("TEST_POSTGRES_URL").is_ok();
        if postgres {
            for writers in [1, 8, 64] {
                let db = common::postgres("bench").await?.expect("TEST_POSTGRES_URL is set");
                report("postgres", writers, &db.store).await?;
                db.finish().await?;
            }
        } else {
            eprintln!("PostgreSQL skipped: TEST_POSTGRES_URL is not set");
        }
        println!();
        println!("backend   | load 60 days, {LOAD_BOOKINGS} bookings: median of 20 (min..max)");
        let db = common::sqlite().await?;
        load("sqlite", &db.store).await?;
        db.finish().await?;
        if postgres {
            let db = common::postgres("bench").await?.expect("TEST_POSTGRES_URL is set");
            load("postgres", &db.store).await?;
            db.finish().await?;
        }
        anyhow::Ok(())
    })
}

/// A tenant with one service and `EMPLOYEES` employees.
async fn setup(store: &Store, duration_min: u32) -> Result<common::Fixture> {
    let mut f = common::fixture(store, "Bench").await?;
    f.service = store
        .create_service(
            &f.tenant,
            NewService {
                name: "Bench".into(),
                duration_min,
                buffer_before_min: 0,
                buffer_after_min: 0,
                slot_step_min: duration_min,
                min_notice_min: 0,
                horizon_days: 365,
            },
        )
        .await?
        .id;
    Ok(f)
}

async fn report(backend: &str, writers: usize, store: &Store) -> Result<()> {
    let f = setup(store, 30).await?;
    let mut employees = vec![f.employee.clone()];
    for i in 1..EMPLOYEES {
        let e = store
            .create_employee(
                &f.tenant,
                store::NewEmployee {
                    name: format!("E{i}"),
                    email: format!("e{i}@example.com"),
                    timezone: "UTC".into(),
                    service_ids: vec![f.service.clone()],
                },
            )
            .await?;
        employees.push(e.id);
    }
    let f = Arc::new(f);
    let employees = Arc::new(employees);
    let per_writer = BOOKINGS_PER_RUN / writers;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, f, employees) = (store.clone(), f.clone(), employees.clone());
        tasks.push(tokio::spawn(async move {
            for j in 0..per_writer {
                // Distinct, non-overlapping slots: every booking succeeds.
                let n = (w * per_writer + j) as i64;
                let mut new = common::booking_at(&f, common::at(n * 30));
                new.service_id = f.service.clone();
                new.employee_id = employees[n as usize % EMPLOYEES].clone();
                new.notifications = vec![NewNotification {
                    channel: "email".into(),
                    recipient: "grace@example.com".into(),
                    template: "booking.created".into(),
                    payload: serde_json::json!({}),
                }];
                store.create_booking(&f.tenant, &new).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = per_writer * writers;
    println!("{backend:<9} | {writers:>7} | {total:>8} | {elapsed:>7.2} | {:>10.0}", total as f64 / elapsed);
    Ok(())
}

async fn load(backend: &str, store: &Store) -> Result<()> {
    // 10,000 back-to-back 5-minute bookings inside the 60-day window.
    let f = Arc::new(setup(store, 5).await?);
    let writers = 8;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, f) = (store.clone(), f.clone());
        tasks.push(tokio::spawn(async move {
            for j in (w..LOAD_BOOKINGS).step_by(writers) {
                let mut new = common::booking_at(&f, common::at(j as i64 * 5));
                new.service_id = f.service.clone();
                store.create_booking(&f.tenant, &new).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let from = common::at(0);
    let to = from + TimeDelta::days(60);
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let inputs = store.load_availability_inputs(&f.tenant, std::slice::from_ref(&f.employee), from, to).await?;
        times.push(started.elapsed());
        assert_eq!(inputs.employees[0].bookings.len(), LOAD_BOOKINGS);
    }
    times.sort();
    println!(
        "{backend:<9} | {:.1} ms ({:.1}..{:.1} ms)",
        times[10].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[19].as_secs_f64() * 1e3
    );
    Ok(())
}
