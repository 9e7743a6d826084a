//! Outbox throughput of the sync engine: calendar-sync jobs per second drained by 1 and
//! 2 in-process [`Worker`]s sharing one PostgreSQL store, against the in-process Google
//! emulator answering at once and after 50 ms per request.
//!
//! ```text
//! export TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5433/postgres
//! cargo run --release -p sync-engine --example throughput [-- JOBS_AT_0MS JOBS_AT_50MS]
//! ```
//!
//! Each scenario gets a fresh database and emulator: four tenants, each with one
//! employee whose Google calendar is connected, and the bookings (one create job each)
//! written before the clock starts. The clock stops when no job is left unfinished.
//! Ratios are against baselines of the same run: 2 workers vs 1, and 50 ms vs 0 ms.

#[path = "../../store/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use chrono::{TimeDelta, Utc};
use emulators::google::FaultKind;
use emulators::{Emulator, EmulatorConfig};
use providers_google::{GoogleConfig, GoogleProvider};
use store::{JobStatus, NewCalendarConnection, Provider, QueueKind};
use sync_engine::{StaticProviders, Worker, WorkerConfig};

const TENANTS: usize = 4;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let jobs_fast = args.next().transpose()?.unwrap_or(800);
    let jobs_slow = args.next().transpose()?.unwrap_or(200);
    std::env::var("TEST_POSTGRES_URL").context("set TEST_POSTGRES_URL (see .ci/start-postgres.sh)")?;
    println!("build: {}", if cfg!(debug_assertions) { "debug" } else { "release" });
    let mut rows = Vec::new();
    for (latency_ms, jobs) in [(0, jobs_fast), (50, jobs_slow)] {
        for workers in [1, 2] {
            let rate = scenario(latency_ms, workers, jobs).await?;
            println!("latency {latency_ms:>2} ms, {workers} worker(s): {jobs} jobs, {rate:.1} jobs/s");
            rows.push((latency_ms, workers, rate));
        }
    }
    let rate = |latency, workers| rows.iter().find(|r| r.0 == latency && r.1 == workers).map_or(f64::NAN, |r| r.2);
    println!("2 workers / 1 worker at 0 ms:  {:.2}", rate(0, 2) / rate(0, 1));
    println!("2 workers / 1 worker at 50 ms: {:.2}", rate(50, 2) / rate(50, 1));
    println!("50 ms / 0 ms with 1 worker:    {:.3}", rate(50, 1) / rate(0, 1));
    println!("50 ms / 0 ms with 2 workers:   {:.3}", rate(50, 2) / rate(0, 2));
    Ok(())
}

/// Jobs per second for `workers` workers draining `jobs` create jobs.
async fn scenario(latency_ms: u64, workers: usize, jobs: usize) -> Result<f64> {
    let db = common::postgres("throughput").await?.context("TEST_POSTGRES_URL is not set")?;
    let emu = Emulator::start(EmulatorConfig::default())?;
    if latency_ms > 0 {
        // Every Calendar API request (not the token endpoint) waits this long.
        // (Faults are a queue, one entry per request: enough for every request of the run.)
        emu.google().inject_fault(FaultKind::Slow { delay_ms: latency_ms }, u32::try_from(jobs * 3 + 100)?);
    }
    let provider = Arc::new(provider_for(&emu)?);
    let mut tenants = Vec::new();
    for n in 0..TENANTS {
        let f = common::fixture(&db.store, &format!("Tenant {n}")).await?;
        let user = format!("employee{n}@example.com");
        let (access, refresh) = emu.google().issue_tokens(
            &user,
            &["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.freebusy"],
        );
        let connection = NewCalendarConnection {
            employee_id: f.employee.clone(),
            provider: Provider::Google,
            calendar_id: "primary".into(),
            access_token: access.into(),
            refresh_token: Some(refresh.into()),
            token_expires_at: Some(Utc::now() + TimeDelta::minutes(50)),
        };
        db.store.upsert_connection(&f.tenant, &connection).await?;
        tenants.push(f);
    }
    for i in 0..jobs {
        let f = &tenants[i % TENANTS];
        let slot = i64::try_from(i / TENANTS)?;
        db.store.create_booking(&f.tenant, &common::booking_at(f, common::at(slot * 90))).await?;
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut runs = Vec::new();
    for n in 0..workers {
        let mut config = WorkerConfig::new(format!("bench-{n}"));
        config.poll_interval = Duration::from_millis(10);
        let providers = StaticProviders::new().with(Provider::Google, provider.clone());
        let worker = Worker::new(db.store.clone(), Arc::new(providers), config);
        let mut stopped = stopped.clone();
        runs.push(tokio::spawn(async move {
            worker
                .run(async move {
                    let _ = stopped.wait_for(|done| *done).await;
                })
                .await
        }));
    }
    let started = Instant::now();
    let queue = db.store.queue(QueueKind::CalendarSync);
    let (elapsed, depth) = loop {
        let depth = queue.depth().await?;
        let open: u64 =
            depth.iter().filter(|(s, _)| !matches!(s, JobStatus::Succeeded | JobStatus::Dead)).map(|d| d.1).sum();
        if open == 0 {
            break (started.elapsed(), depth);
        }
        ensure!(started.elapsed() < Duration::from_secs(600), "the queue did not drain: {depth:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let _ = stop.send(true);
    for run in runs {
        run.await??;
    }
    let succeeded = depth.iter().find(|(s, _)| *s == JobStatus::Succeeded).map_or(0, |d| d.1);
    ensure!(usize::try_from(succeeded)? == jobs, "{succeeded} of {jobs} jobs succeeded: {depth:?}");
    db.finish().await?;
    Ok(jobs as f64 / elapsed.as_secs_f64())
}

fn provider_for(emu: &emulators::EmulatorHandle) -> Result<GoogleProvider> {
    let urls = emu.google_urls();
    let google = emulators::google::GoogleConfig::default();
    let mut config = GoogleConfig::new(google.client_id, google.client_secret, "http://127.0.0.1:9/callback");
    config.auth_url = urls.auth_url;
    config.token_url = urls.token_url;
    config.revoke_url = urls.revoke_url;
    config.api_base_url = urls.api_base_url;
    Ok(GoogleProvider::new(config)?)
}
