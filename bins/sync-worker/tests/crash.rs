//! The `sync-worker` binary as a process: SIGKILLed at random points under a stream of
//! bookings, reschedules and cancellations, and several processes sharing one PostgreSQL
//! queue. The end state of the (in-process) Google emulator's calendars is compared with
//! the database: every booking has exactly one event in the right state, and nothing else
//! is there.
//!
//! The kill points are random but seeded (`CRASH_TEST_SEED` overrides the seed, and the
//! seed is printed), and every wait polls with a deadline.

#[path = "../../../crates/store/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use chrono::{DateTime, Utc};
use emulators::google::FaultKind;
use emulators::{Emulator, EmulatorConfig, EmulatorHandle};
use providers_google::event_id_for_booking;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use store::{
    Actor, BookingId, BookingStatus, CancelBooking, HistoryAction, Job, JobDetails, JobStatus, NewCalendarConnection,
    Provider, QueueKind, RescheduleBooking, Store,
};

use common::{Fixture, TestDb, at, booking_at, fixture};

on_both_backends!(killing_the_worker_at_random_points_leaves_exactly_one_event_per_booking);

/// The job lease the worker processes get. Jobs held by a killed worker are due again
/// after it; the store rounds claim times down to whole seconds, so the effective lease
/// is between `LEASE_SECS - 1` and `LEASE_SECS` seconds.
const LEASE_SECS: u64 = 3;
/// How long the kills go on (the last pause may overrun it by about 2 s). A job is claimed
/// again only once its lease ran out, so one job can be caught by at most
/// `10 s / (LEASE_SECS - 1) + 1` = 6 kills: below the default retry policy's 8 attempts,
/// after which the store gives a job up as `dead` (the engine's protection against a job
/// that crashes every worker).
const KILL_PHASE: Duration = Duration::from_secs(8);
/// Booking operations in the crash test's stream.
const OPERATIONS: usize = 56;
/// Bookings in the shared-queue test.
const SHARED_QUEUE_BOOKINGS: usize = 100;
/// How long a final worker may take to drain the outbox.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// One tenant with a connected Google calendar (the primary calendar of `user`).
struct Calendar {
    f: Fixture,
    user: String,
}

/// The database, the emulator and the tenants of one test.
struct Env<'a> {
    db: &'a TestDb,
    emu: EmulatorHandle,
    calendars: Vec<Calendar>,
    logs: tempfile::TempDir,
}

impl Env<'_> {
    fn store(&self) -> &Store {
        &self.db.store
    }

    /// Starts `sync-worker` with the lease `lease_secs`, its log in its own file.
    fn spawn_worker(&self, id: &str, lease_secs: u64) -> Result<WorkerProcess> {
        let google = emulators::google::GoogleConfig::default();
        let urls = self.emu.google_urls();
        let log_path = self.logs.path().join(format!("{id}.log"));
        let log = std::fs::File::create(&log_path).context("worker log file")?;
        let child = Command::new(env!("CARGO_BIN_EXE_sync-worker"))
            .env("DATABASE_URL", &self.db.url)
            .env(store::ENCRYPTION_KEY_VAR, self.db.key.expose_secret())
            .env("GOOGLE_CLIENT_ID", &google.client_id)
            .env("GOOGLE_CLIENT_SECRET", &google.client_secret)
            .env("GOOGLE_AUTH_URL", &urls.auth_url)
            .env("GOOGLE_TOKEN_URL", &urls.token_url)
            .env("GOOGLE_REVOKE_URL", &urls.revoke_url)
            .env("GOOGLE_API_BASE_URL", &urls.api_base_url)
            .env("SLOTWISE_WORKER_ID", id)
            .env("SLOTWISE_WORKER_LEASE_SECS", lease_secs.to_string())
            .env("SLOTWISE_WORKER_POLL_MS", "50")
            .env("RUST_LOG", if std::env::var_os("TEST_LOG").is_some() { "info,sync_engine=debug" } else { "warn" })
            // Nothing from the developer's environment changes what the worker does.
            .env_remove("MICROSOFT_CLIENT_ID")
            .env_remove("SLOTWISE_PUBLIC_URL")
            .env_remove("SLOTWISE_WORKER_BIND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start the sync-worker binary")?;
        Ok(WorkerProcess { id: id.to_owned(), child, log_path })
    }

    async fn jobs(&self) -> Result<Vec<Job>> {
        let mut all = Vec::new();
        for calendar in &self.calendars {
            all.extend(self.store().queue(QueueKind::CalendarSync).list(&calendar.f.tenant, None, 10_000).await?);
        }
        Ok(all)
    }

    /// Polls until no job is `pending`, `in_progress` or `failed`.
    async fn wait_for_drain(&self, workers: &mut [WorkerProcess]) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let jobs = self.jobs().await?;
            if jobs.iter().all(|j| matches!(j.status, JobStatus::Succeeded | JobStatus::Dead)) {
                return Ok(started.elapsed());
            }
            for worker in workers.iter_mut() {
                worker.ensure_running()?;
            }
            if started.elapsed() > DRAIN_TIMEOUT {
                let open: Vec<String> = jobs
                    .iter()
                    .filter(|j| !matches!(j.status, JobStatus::Succeeded | JobStatus::Dead))
                    .map(|j| format!("{} {:?} attempts={} {:?}", j.id, j.status, j.attempts, j.last_error))
                    .collect();
                bail!("the outbox did not drain in {DRAIN_TIMEOUT:?}: {open:#?}\n{}", logs_of(workers));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Compares every calendar with the database: a confirmed booking has exactly one live
    /// event at its current times, a cancelled one none or a cancelled one (Google keeps
    /// a deleted event as a `cancelled` tombstone), and no other event exists. Every job
    /// must have succeeded (none given up).
    async fn verify(&self, bookings: &[(usize, BookingId)]) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        let mut found = vec![0_usize; self.calendars.len()];
        let mut problems = String::new();
        for (index, id) in bookings {
            let calendar = &self.calendars[*index];
            let booking = self.store().booking(&calendar.f.tenant, id).await?;
            let event = self.emu.google().stored_event(&calendar.user, &event_id_for_booking(id.as_str()));
            if event.is_some() {
                found[*index] += 1;
            }
            let live = event.as_ref().filter(|e| e["status"] != "cancelled");
            match booking.status {
                BookingStatus::Confirmed => {
                    outcome.confirmed += 1;
                    match live {
                        Some(event) if times_of(event)? == (booking.start, booking.end) => {}
                        Some(event) => {
                            let _ = writeln!(problems, "{id}: event at the wrong time {event} for {booking:?}");
                        }
                        None => {
                            let _ = writeln!(problems, "{id}: confirmed without a live event: {event:?}");
                        }
                    }
                }
                BookingStatus::Cancelled => {
                    outcome.cancelled += 1;
                    if event.is_some() {
                        outcome.tombstones += 1;
                    }
                    if let Some(event) = live {
                        let _ = writeln!(problems, "{id}: cancelled but its event is live: {event}");
                    }
                }
            }
        }
        for (calendar, found) in self.calendars.iter().zip(&found) {
            let stored = self.emu.google().stored_event_count(&calendar.user);
            if stored != *found {
                let _ = writeln!(problems, "{}: {stored} events stored, {found} belong to bookings", calendar.user);
            }
        }
        for job in self.jobs().await? {
            outcome.jobs += 1;
            outcome.max_attempts = outcome.max_attempts.max(job.attempts);
            if job.attempts > 1 {
                outcome.retried_jobs += 1;
            }
            if job.status != JobStatus::Succeeded {
                let _ = writeln!(problems, "job {} ended {:?}: {:?}", job.id, job.status, job.last_error);
            }
        }
        ensure!(problems.is_empty(), "the calendars do not match the database:\n{problems}");
        Ok(outcome)
    }
}

/// What the end state looked like.
#[derive(Debug, Default)]
struct Outcome {
    confirmed: usize,
    cancelled: usize,
    tombstones: usize,
    jobs: usize,
    retried_jobs: usize,
    max_attempts: u32,
}

/// A running `sync-worker` process.
struct WorkerProcess {
    id: String,
    child: Child,
    log_path: PathBuf,
}

impl WorkerProcess {
    /// Fails (with its log) if the process ended on its own.
    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("worker {} exited by itself ({status}):\n{}", self.id, tail(&self.log_path));
        }
        Ok(())
    }

    /// `kill -9`.
    fn kill(mut self) -> Result<()> {
        self.ensure_running()?;
        self.child.kill().context("SIGKILL the worker")?;
        self.child.wait().context("reap the worker")?;
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    async fn stop(mut self) -> Result<()> {
        self.ensure_running()?;
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "worker {} stopped with {status}:\n{}", self.id, tail(&self.log_path));
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("worker {} did not stop after SIGTERM:\n{}", self.id, tail(&self.log_path));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // A failed test must not leave workers behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last lines of a worker's log.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn logs_of(workers: &[WorkerProcess]) -> String {
    workers.iter().map(|w| format!("--- {} ---\n{}", w.id, tail(&w.log_path))).collect::<Vec<_>>().join("\n")
}

/// `(start, end)` of an emulator event.
fn times_of(event: &Value) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let instant = |key: &str| -> Result<DateTime<Utc>> {
        let text = event[key]["dateTime"].as_str().with_context(|| format!("{key}.dateTime of {event}"))?;
        Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
    };
    Ok((instant("start")?, instant("end")?))
}

/// A small seeded generator (xorshift64*): the same seed gives the same stream and the
/// same kill points, so a failure can be replayed with `CRASH_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env(default: u64) -> Self {
        let seed = std::env::var("CRASH_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
        let _ = writeln!(std::io::stderr(), "crash test seed {seed} (set CRASH_TEST_SEED to replay)");
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.between(low, high))
    }
}

/// Two tenants, each with one employee whose primary Google calendar is connected.
async fn env(db: &TestDb) -> Result<Env<'_>> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    let mut calendars = Vec::new();
    for (name, user) in [("Salon A", "ada@example.com"), ("Salon B", "bea@example.com")] {
        let f = fixture(&db.store, name).await?;
        let (access, refresh) = emu.google().issue_tokens(
            user,
            &["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.freebusy"],
        );
        let connection = NewCalendarConnection {
            employee_id: f.employee.clone(),
            provider: Provider::Google,
            calendar_id: "primary".into(),
            access_token: access.into(),
            refresh_token: Some(refresh.into()),
            token_expires_at: Some(Utc::now() + chrono::TimeDelta::minutes(50)),
        };
        db.store.upsert_connection(&f.tenant, &connection).await?;
        calendars.push(Calendar { f, user: user.to_owned() });
    }
    Ok(Env { db, emu, calendars, logs: tempfile::tempdir()? })
}

/// A booking the stream knows about: its tenant, its slot (slots are 3 h apart, and a
/// reschedule moves between the slot's two halves, so bookings never collide).
struct Tracked {
    calendar: usize,
    id: BookingId,
    slot: i64,
    moved: bool,
    cancelled: bool,
}

impl Tracked {
    fn start(&self) -> DateTime<Utc> {
        at(self.slot * 180 + if self.moved { 90 } else { 0 })
    }
}

/// What the stream did.
#[derive(Debug, Default)]
struct Stream {
    created: usize,
    rescheduled: usize,
    cancelled: usize,
}

/// Creates, reschedules and cancels bookings with seeded pauses: a little over half are
/// creates, then about three reschedules for each cancellation.
async fn run_stream(env: &Env<'_>, rng: &mut Rng, tracked: &mut Vec<Tracked>, operations: usize) -> Result<Stream> {
    let mut stream = Stream::default();
    for _ in 0..operations {
        let open: Vec<usize> = (0..tracked.len()).filter(|&i| !tracked[i].cancelled).collect();
        let roll = rng.between(0, 99);
        if open.len() < 4 || roll < 55 {
            let calendar = tracked.len() % env.calendars.len();
            let slot = i64::try_from(tracked.len())?;
            let request = booking_at(&env.calendars[calendar].f, at(slot * 180));
            let booking = env.store().create_booking(&env.calendars[calendar].f.tenant, &request).await?;
            tracked.push(Tracked { calendar, id: booking.id, slot, moved: false, cancelled: false });
            stream.created += 1;
        } else {
            // Recent bookings are picked more often, so many changes reach jobs still in flight.
            let pick = open[open.len() - 1 - usize::try_from(rng.between(0, 99) % 6)?.min(open.len() - 1)];
            let booking = &mut tracked[pick];
            let tenant = &env.calendars[booking.calendar].f.tenant;
            if roll < 82 {
                booking.moved = !booking.moved;
                let change = RescheduleBooking {
                    start: booking.start(),
                    employee_id: None,
                    actor: Actor::Api,
                    notifications: Vec::new(),
                    idempotency: None,
                };
                env.store().reschedule_booking(tenant, &booking.id, &change).await?;
                stream.rescheduled += 1;
            } else {
                let cancel = CancelBooking { reason: None, actor: Actor::Api, notifications: Vec::new() };
                env.store().cancel_booking(tenant, &booking.id, &cancel).await?;
                booking.cancelled = true;
                stream.cancelled += 1;
            }
        }
        tokio::time::sleep(rng.millis(20, 220)).await;
    }
    Ok(stream)
}

/// What the kills caught.
#[derive(Debug, Default)]
struct Kills {
    kills: usize,
    /// Jobs the killed worker held (claimed, not yet recorded).
    held_jobs: usize,
    /// Of those, creates whose event was already on the calendar: the provider had
    /// answered (or was answering) and the commit was lost.
    written_not_committed: usize,
}

/// Kills and restarts the worker at seeded intervals until `KILL_PHASE` is over and the
/// stream is done; every third kill is aimed at a moment when the worker holds a job.
async fn kill_repeatedly(env: &Env<'_>, rng: &mut Rng, stream_done: &AtomicBool) -> Result<Kills> {
    let started = Instant::now();
    let mut kills = Kills::default();
    let mut worker = env.spawn_worker("crash-0", LEASE_SECS)?;
    while started.elapsed() < KILL_PHASE {
        let id = worker.id.clone();
        tokio::time::sleep(rng.millis(120, 650)).await;
        if kills.kills % 3 == 2 {
            // An aimed kill: wait until the worker holds a job, then kill it a moment later
            // (before, during or after its provider call, or between the answer and the commit).
            let deadline = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < deadline && !holds_a_job(env, &id).await? {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(rng.millis(0, 30)).await;
        }
        worker.kill()?;
        kills.kills += 1;
        for job in env.jobs().await? {
            if job.status != JobStatus::InProgress || job.locked_by.as_deref() != Some(id.as_str()) {
                continue;
            }
            kills.held_jobs += 1;
            let JobDetails::CalendarSync(details) = &job.details else { continue };
            let written = details.booking_id.as_ref().is_some_and(|booking| {
                env.calendars
                    .iter()
                    .any(|c| env.emu.google().stored_event(&c.user, &event_id_for_booking(booking.as_str())).is_some())
            });
            if details.operation == store::SyncOperation::Create && details.provider_event_id.is_none() && written {
                kills.written_not_committed += 1;
            }
        }
        worker = env.spawn_worker(&format!("crash-{}", kills.kills), LEASE_SECS)?;
    }
    // The stream is bounded by the phase (see KILL_PHASE); wait for it before the last kill stops.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stream_done.load(Ordering::SeqCst) {
        ensure!(Instant::now() < deadline, "the booking stream did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill()?;
    Ok(kills)
}

async fn holds_a_job(env: &Env<'_>, worker: &str) -> Result<bool> {
    Ok(env.jobs().await?.iter().any(|j| j.status == JobStatus::InProgress && j.locked_by.as_deref() == Some(worker)))
}

async fn killing_the_worker_at_random_points_leaves_exactly_one_event_per_booking(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    // Every Calendar API call takes 15 ms, so a kill often lands mid-request (faults are a
    // queue, one entry per request: 20,000 outlast the test).
    env.emu.google().inject_fault(FaultKind::Slow { delay_ms: 15 }, 20_000);
    let began = Instant::now();
    let mut stream_rng = Rng::from_env(0x5107_0157);
    let mut kill_rng = Rng(stream_rng.next());
    let stream_done = AtomicBool::new(false);
    let mut tracked = Vec::new();
    let stream = async {
        let result = run_stream(&env, &mut stream_rng, &mut tracked, OPERATIONS).await;
        stream_done.store(true, Ordering::SeqCst);
        result
    };
    let (stream, kills) = tokio::join!(stream, kill_repeatedly(&env, &mut kill_rng, &stream_done));
    let (stream, kills) = (stream?, kills?);
    ensure!(stream.created > 0 && stream.rescheduled > 0 && stream.cancelled > 0, "{stream:?}");
    ensure!(kills.kills >= 5, "{kills:?}");

    let mut final_worker = vec![env.spawn_worker("final", LEASE_SECS)?];
    let drained = env.wait_for_drain(&mut final_worker).await?;
    let bookings: Vec<(usize, BookingId)> = tracked.iter().map(|t| (t.calendar, t.id.clone())).collect();
    let outcome = env.verify(&bookings).await?;
    for worker in final_worker {
        worker.stop().await?;
    }
    ensure!(outcome.confirmed + outcome.cancelled == stream.created, "{outcome:?}");
    // The aimed kills did interrupt work: some job needed a second claim.
    ensure!(kills.held_jobs > 0 && outcome.retried_jobs > 0, "no kill interrupted a job: {kills:?} {outcome:?}");
    let _ = writeln!(
        std::io::stderr(),
        "crash test on {}: {stream:?}, {kills:?}, drained {drained:.1?} after the last kill, {outcome:?}, {:.1?} in all",
        if db.is_postgres() { "PostgreSQL" } else { "SQLite" },
        began.elapsed()
    );
    Ok(())
}

/// 2 and then 4 worker processes on one PostgreSQL database each: a queue of
/// `SHARED_QUEUE_BOOKINGS` creates (then reschedules and cancels while they run) is
/// drained with every job claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_processes_share_a_postgres_queue_without_doing_a_job_twice() -> Result<()> {
    for processes in [2, 4] {
        let name = "worker_processes_share_a_postgres_queue_without_doing_a_job_twice";
        let Some(db) = common::postgres(name).await? else {
            return Ok(());
        };
        share_the_queue(&db, processes).await?;
        db.finish().await?;
    }
    Ok(())
}

async fn share_the_queue(db: &TestDb, processes: usize) -> Result<()> {
    let env = env(db).await?;
    let began = Instant::now();
    // The default lease (60 s): no job may be claimed twice here.
    let mut workers = Vec::new();
    for n in 0..processes {
        workers.push(env.spawn_worker(&format!("shared-{processes}-{n}"), 60)?);
    }
    // Bookings arrive while the workers run; ten bookings later every 5th one moves and
    // every 10th (of the others) is cancelled, so changes meet jobs in flight. The lease
    // holders are sampled along the way.
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut holders = BTreeSet::new();
    let (mut moved, mut cancelled) = (0, 0);
    for slot in 0..SHARED_QUEUE_BOOKINGS + 10 {
        if slot < SHARED_QUEUE_BOOKINGS {
            let calendar = slot % env.calendars.len();
            let request = booking_at(&env.calendars[calendar].f, at(i64::try_from(slot)? * 180));
            let booking = env.store().create_booking(&env.calendars[calendar].f.tenant, &request).await?;
            tracked.push(Tracked {
                calendar,
                id: booking.id,
                slot: i64::try_from(slot)?,
                moved: false,
                cancelled: false,
            });
        }
        let Some(i) = slot.checked_sub(10) else { continue };
        let booking = &mut tracked[i];
        let tenant = &env.calendars[booking.calendar].f.tenant;
        if i % 5 == 0 {
            booking.moved = true;
            let change = RescheduleBooking {
                start: booking.start(),
                employee_id: None,
                actor: Actor::Api,
                notifications: Vec::new(),
                idempotency: None,
            };
            env.store().reschedule_booking(tenant, &booking.id, &change).await?;
            moved += 1;
        } else if i % 10 == 3 {
            let cancel = CancelBooking { reason: None, actor: Actor::Api, notifications: Vec::new() };
            env.store().cancel_booking(tenant, &booking.id, &cancel).await?;
            booking.cancelled = true;
            cancelled += 1;
        }
        if i % 5 == 0 {
            holders.extend(env.jobs().await?.into_iter().filter_map(|j| j.locked_by));
        }
    }
    let drained = env.wait_for_drain(&mut workers).await?;
    let bookings: Vec<(usize, BookingId)> = tracked.iter().map(|t| (t.calendar, t.id.clone())).collect();
    let outcome = env.verify(&bookings).await?;
    for worker in workers {
        worker.stop().await?;
    }

    // Claimed once each (a deferral hands a job back without counting an attempt).
    ensure!(outcome.max_attempts == 1, "a job was claimed twice: {outcome:?}");
    // At most one `calendar_synced` entry (one provider write) per change of a booking.
    let mut writes = 0;
    for t in &tracked {
        let history = env.store().booking_history(&env.calendars[t.calendar].f.tenant, &t.id).await?;
        let synced = history.iter().filter(|h| h.action == HistoryAction::CalendarSynced).count();
        let changes = history
            .iter()
            .filter(|h| {
                matches!(h.action, HistoryAction::Created | HistoryAction::Rescheduled | HistoryAction::Cancelled)
            })
            .count();
        ensure!(synced <= changes, "{}: {synced} calendar writes recorded for {changes} changes", t.id);
        writes += synced;
    }
    // The emulator stores an event only on an insert of a new id and never forgets one
    // (deletes leave tombstones), so the stored count is the number of inserts that
    // created an event: one per confirmed booking, plus the cancelled bookings whose create
    // ran before the cancel (`verify` checked that no other event exists). A repeated
    // insert would answer 409 and show up as extra API requests below.
    let stored: usize = env.calendars.iter().map(|c| env.emu.google().stored_event_count(&c.user)).sum();
    // Each write is one request (insert, patch or delete), and each calendar is read once
    // by the first inbound sync; a repeated insert would add a 409 and a GET.
    let requests = usize::try_from(env.emu.google().api_request_count())?;
    let _ = writeln!(
        std::io::stderr(),
        "{processes} worker processes: {} bookings ({moved} moved, {cancelled} cancelled), {} jobs drained in \
         {drained:.1?}, {stored} events stored, {requests} API requests for {writes} writes and {} inbound syncs, \
         lease holders seen: {holders:?}, {:.1?} in all",
        tracked.len(),
        outcome.jobs,
        env.calendars.len(),
        began.elapsed()
    );
    ensure!(requests == writes + env.calendars.len(), "{requests} requests: more than one per write");
    ensure!(stored == outcome.confirmed + outcome.tombstones, "{stored} events for {outcome:?}");
    Ok(())
}
