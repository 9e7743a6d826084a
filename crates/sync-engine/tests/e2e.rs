//! The engine end to end: the real store (SQLite and PostgreSQL), the real Google client
//! and the in-process Google emulator, with the clock moved forward instead of sleeping.

#[path = "../../store/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use calendar_provider::CalendarProvider as _;
use chrono::{DateTime, TimeDelta, Utc};
use emulators::google::FaultKind;
use emulators::{Emulator, EmulatorConfig, EmulatorHandle};
use providers_google::{AuthorizationResponse, GoogleConfig, GoogleProvider, event_id_for_booking};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use store::{
    Actor, Booking, BookingStatus, CalendarConnection, CancelBooking, ConnectionStatus, HistoryAction, JobDetails,
    JobStatus, NewCalendarConnection, Provider, QueueKind, RescheduleBooking, RetryPolicy,
};
use sync_engine::{StaticProviders, Worker, WorkerConfig};

use common::{Fixture, TestDb, at, booking_at, fixture};

/// The emulator's default account; its primary calendar has this id.
const USER: &str = "user@example.com";
const REDIRECT: &str = "http://127.0.0.1:9/api/google-calendar/callback";

on_both_backends!(
    booking_create_reschedule_cancel_reach_the_calendar,
    a_booking_cancelled_before_its_create_ran_writes_nothing,
    an_update_never_overtakes_its_create,
    a_crash_between_the_provider_call_and_the_commit_does_not_duplicate,
    external_events_become_busy_time_and_conflicts_are_recorded,
    rate_limit_and_unavailable_storms_converge,
    a_revoked_grant_marks_the_connection_and_is_not_retried,
    tokens_close_to_expiry_are_refreshed_ahead_and_a_dead_grant_is_revoked,
    two_workers_share_the_queue_without_doing_a_job_twice,
    push_channels_are_registered_and_renewed_before_expiry,
    the_run_loop_works_until_shutdown,
);

struct Env<'a> {
    db: &'a TestDb,
    emu: EmulatorHandle,
    provider: Arc<GoogleProvider>,
    f: Fixture,
    connection: CalendarConnection,
}

impl Env<'_> {
    fn worker(&self, id: &str) -> Worker {
        self.worker_with(id, |_| {})
    }

    fn worker_with(&self, id: &str, adjust: impl FnOnce(&mut WorkerConfig)) -> Worker {
        let mut config = WorkerConfig::new(id);
        config.retry =
            RetryPolicy { max_attempts: 12, base_backoff: TimeDelta::seconds(1), max_backoff: TimeDelta::seconds(30) };
        config.sync_horizon = TimeDelta::days(3650);
        config.batch_size = 5;
        adjust(&mut config);
        let providers = StaticProviders::new().with(Provider::Google, self.provider.clone());
        Worker::new(self.db.store.clone(), Arc::new(providers), config)
    }

    async fn book(&self, minutes: i64) -> Result<Booking> {
        Ok(self.db.store.create_booking(&self.f.tenant, &booking_at(&self.f, at(minutes))).await?)
    }

    async fn connection(&self) -> Result<CalendarConnection> {
        Ok(self.db.store.connection(&self.f.tenant, &self.connection.id).await?)
    }

    fn event(&self, booking: &Booking) -> Option<Value> {
        self.emu.google().stored_event(USER, &event_id_for_booking(booking.id.as_str()))
    }

    async fn jobs(&self) -> Result<Vec<store::Job>> {
        Ok(self.db.store.queue(QueueKind::CalendarSync).list(&self.f.tenant, None, 1000).await?)
    }

    /// Runs outbound rounds, moving the clock a minute per round, until no job is left
    /// unfinished (at most `rounds`).
    async fn drain(&self, worker: &Worker, rounds: u32) -> Result<()> {
        for round in 0..rounds {
            let unfinished = self.jobs().await?.iter().filter(|j| !finished(j.status)).count();
            if unfinished == 0 {
                return Ok(());
            }
            worker.process_due_jobs_at(Utc::now() + TimeDelta::minutes(i64::from(round))).await?;
        }
        bail!("jobs still unfinished after {rounds} rounds: {:?}", self.jobs().await?)
    }
}

fn finished(status: JobStatus) -> bool {
    matches!(status, JobStatus::Succeeded | JobStatus::Dead)
}

fn provider_for(emu: &EmulatorHandle) -> Result<GoogleProvider> {
    let urls = emu.google_urls();
    let google = emulators::google::GoogleConfig::default();
    let mut config = GoogleConfig::new(google.client_id, google.client_secret, REDIRECT);
    config.auth_url = urls.auth_url;
    config.token_url = urls.token_url;
    config.revoke_url = urls.revoke_url;
    config.api_base_url = urls.api_base_url;
    // Give storms back to the engine quickly: two tries per call, short waits.
    config.max_attempts = 2;
    config.backoff_base = Duration::from_millis(5);
    config.max_retry_wait = Duration::from_secs(2);
    Ok(GoogleProvider::new(config)?)
}

/// The OAuth flow a tenant's employee goes through, against the auto-approving emulator.
async fn connect(store: &store::Store, f: &Fixture, provider: &GoogleProvider) -> Result<CalendarConnection> {
    let request = provider.authorize("state-1")?;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let answer = client.get(&request.url).send().await?;
    ensure!(answer.status() == reqwest::StatusCode::FOUND, "consent answered {}", answer.status());
    let location = answer.headers().get("location").context("no Location")?.to_str()?.to_owned();
    let query = location.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
    let callback = AuthorizationResponse::from_query(&query)?;
    ensure!(callback.state == "state-1");
    let tokens = provider.exchange_code(&callback.code, &request.pkce_verifier).await?;
    let new = NewCalendarConnection {
        employee_id: f.employee.clone(),
        provider: Provider::Google,
        calendar_id: "primary".into(),
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        token_expires_at: Some(tokens.expires_at),
    };
    Ok(store.upsert_connection(&f.tenant, &new).await?)
}

async fn env(db: &TestDb) -> Result<Env<'_>> {
    let emu = Emulator::start(EmulatorConfig::default())?;
    let provider = Arc::new(provider_for(&emu)?);
    let f = fixture(&db.store, "Salon").await?;
    let connection = connect(&db.store, &f, &provider).await?;
    Ok(Env { db, emu, provider, f, connection })
}

fn start_of(event: &Value) -> Result<DateTime<Utc>> {
    let text = event["start"]["dateTime"].as_str().context("start.dateTime")?;
    Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
}

fn timed(summary: &str, start: DateTime<Utc>, minutes: i64) -> Value {
    json!({
        "summary": summary,
        "start": {"dateTime": start.to_rfc3339()},
        "end": {"dateTime": (start + TimeDelta::minutes(minutes)).to_rfc3339()},
    })
}

async fn history(env: &Env<'_>, booking: &Booking, action: HistoryAction) -> Result<usize> {
    let all = env.db.store.booking_history(&env.f.tenant, &booking.id).await?;
    Ok(all.iter().filter(|h| h.action == action).count())
}

async fn booking_create_reschedule_cancel_reach_the_calendar(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let booking = env.book(9 * 60).await?;
    let report = worker.run_once().await?;
    ensure!(report.synced == 1 && report.connections_synced == 1, "{report:?}");
    let event = env.event(&booking).context("the booking's event is in the calendar")?;
    ensure!(start_of(&event)? == booking.start && event["status"] != "cancelled", "{event}");
    let jobs = env.jobs().await?;
    let job = &jobs[0];
    let JobDetails::CalendarSync(details) = &job.details else { bail!("not a sync job") };
    ensure!(job.status == JobStatus::Succeeded);
    ensure!(details.provider_event_id.as_deref() == Some(event_id_for_booking(booking.id.as_str()).as_str()));
    ensure!(history(&env, &booking, HistoryAction::CalendarSynced).await? == 1);
    // Our own event is not external busy time.
    ensure!(db.store.list_external_events(&env.f.tenant, &env.connection.id).await?.is_empty());

    let change = RescheduleBooking {
        start: at(11 * 60),
        employee_id: None,
        actor: Actor::Api,
        notifications: Vec::new(),
        idempotency: None,
    };
    let moved = db.store.reschedule_booking(&env.f.tenant, &booking.id, &change).await?;
    ensure!(worker.process_due_jobs_at(Utc::now()).await?.synced == 1);
    let event = env.event(&booking).context("still there")?;
    ensure!(start_of(&event)? == moved.start, "the same event moved: {event}");
    ensure!(env.emu.google().stored_event_count(USER) == 1);

    let cancel = CancelBooking { reason: None, actor: Actor::Api, notifications: Vec::new() };
    db.store.cancel_booking(&env.f.tenant, &booking.id, &cancel).await?;
    ensure!(worker.process_due_jobs_at(Utc::now()).await?.synced == 1);
    let event = env.event(&booking).context("a tombstone")?;
    ensure!(event["status"] == "cancelled", "the event is gone: {event}");
    ensure!(history(&env, &booking, HistoryAction::CalendarSynced).await? == 3);
    Ok(())
}

async fn a_booking_cancelled_before_its_create_ran_writes_nothing(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let booking = env.book(9 * 60).await?;
    let change = RescheduleBooking {
        start: at(13 * 60),
        employee_id: None,
        actor: Actor::Api,
        notifications: vec![],
        idempotency: None,
    };
    db.store.reschedule_booking(&env.f.tenant, &booking.id, &change).await?;
    let cancel = CancelBooking { reason: None, actor: Actor::Api, notifications: Vec::new() };
    db.store.cancel_booking(&env.f.tenant, &booking.id, &cancel).await?;
    let calls = env.emu.google().api_request_count();
    let report = worker.process_due_jobs_at(Utc::now()).await?;
    ensure!(report.claimed == 3 && report.skipped == 3, "{report:?}");
    ensure!(env.emu.google().api_request_count() == calls, "no provider call at all");
    ensure!(env.emu.google().stored_event_count(USER) == 0);
    ensure!(env.jobs().await?.iter().all(|j| j.status == JobStatus::Succeeded));
    Ok(())
}

async fn an_update_never_overtakes_its_create(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let booking = env.book(9 * 60).await?;
    // Another worker holds the create (and is slow, or dead).
    let queue = db.store.queue(QueueKind::CalendarSync);
    let held = queue.claim_due("slow-worker", 10, TimeDelta::seconds(60)).await?;
    ensure!(held.len() == 1);
    let change = RescheduleBooking {
        start: at(11 * 60),
        employee_id: None,
        actor: Actor::Api,
        notifications: vec![],
        idempotency: None,
    };
    db.store.reschedule_booking(&env.f.tenant, &booking.id, &change).await?;
    let report = worker.process_due_jobs_at(Utc::now()).await?;
    ensure!(report.claimed == 1 && report.deferred == 1, "{report:?}");
    ensure!(env.emu.google().stored_event_count(USER) == 0, "nothing written before the create");
    let update = env.jobs().await?.into_iter().find(|j| j.id != held[0].id).context("update job")?;
    ensure!(update.status == JobStatus::Pending && update.attempts == 0, "a deferral is not an attempt: {update:?}");
    // The slow worker's lease runs out: the create runs first, then the update.
    let report = worker.process_due_jobs_at(Utc::now() + TimeDelta::seconds(90)).await?;
    ensure!(report.claimed == 2 && report.synced == 2, "{report:?}");
    let event = env.event(&booking).context("created")?;
    ensure!(start_of(&event)? == at(11 * 60), "{event}");
    Ok(())
}

async fn a_crash_between_the_provider_call_and_the_commit_does_not_duplicate(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let booking = env.book(9 * 60).await?;
    // A worker claims the job and calls the provider, then dies before recording anything.
    let queue = db.store.queue(QueueKind::CalendarSync);
    let claimed = queue.claim_due("doomed", 10, TimeDelta::seconds(60)).await?;
    ensure!(claimed.len() == 1);
    let outgoing =
        sync_engine::outgoing_event(env.f.tenant.as_str(), &booking, "Haircut".into(), "Europe/Berlin".into());
    let mut tokens = calendar_provider::TokenSet {
        access_token: env.connection.access_token.clone(),
        refresh_token: env.connection.refresh_token.clone(),
        expires_at: env.connection.token_expires_at.context("expiry")?,
        scopes: Vec::new(),
    };
    env.provider.create_event(&mut tokens, "primary", &outgoing).await?;
    drop(claimed);
    ensure!(env.emu.google().stored_event_count(USER) == 1);
    // While the lease holds nobody touches the job.
    ensure!(worker.process_due_jobs_at(Utc::now()).await?.claimed == 0);
    let report = worker.process_due_jobs_at(Utc::now() + TimeDelta::seconds(61)).await?;
    ensure!(report.synced == 1, "{report:?}");
    ensure!(env.emu.google().stored_event_count(USER) == 1, "exactly one event");
    let event = env.event(&booking).context("the event")?;
    ensure!(start_of(&event)? == booking.start && event["summary"] == "Haircut with Grace", "{event}");
    let job = queue.job(&env.f.tenant, &env.jobs().await?[0].id).await?;
    ensure!(job.status == JobStatus::Succeeded && job.attempts == 2, "{job:?}");
    Ok(())
}

async fn external_events_become_busy_time_and_conflicts_are_recorded(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let google = env.emu.google();
    let booking = env.book(9 * 60).await?;
    worker.process_due_jobs_at(Utc::now()).await?;
    let dentist = google.seed_event(USER, timed("dentist", at(9 * 60 + 30), 60))?;
    let mut free = timed("focus", at(14 * 60), 60);
    free["transparency"] = json!("transparent");
    let free = google.seed_event(USER, free)?;
    let holiday = google
        .seed_event(USER, json!({"summary": "off", "start": {"date": "2030-01-10"}, "end": {"date": "2030-01-11"}}))?;
    let id = |v: &Value| v["id"].as_str().unwrap_or_default().to_owned();

    let report = worker.sync_connection(&env.connection().await?).await?;
    ensure!(report.full && report.upserted == 3 && report.skipped_own == 1 && report.conflicts == 1, "{report:?}");
    let stored = db.store.list_external_events(&env.f.tenant, &env.connection.id).await?;
    let find = |wanted: &str| stored.iter().find(|e| e.provider_event_id == wanted).cloned();
    let d = find(&id(&dentist)).context("dentist mirrored")?;
    ensure!(d.blocks_time && !d.all_day && d.start == at(9 * 60 + 30) && d.end == at(10 * 60 + 30));
    ensure!(!find(&id(&free)).context("free mirrored")?.blocks_time);
    let h = find(&id(&holiday)).context("holiday mirrored")?;
    ensure!(h.all_day && h.blocks_time && h.end - h.start == TimeDelta::days(1));
    let connection = env.connection().await?;
    ensure!(connection.status == ConnectionStatus::Active && connection.sync_token.is_some());
    ensure!(connection.last_sync_at.is_some() && connection.last_error.is_none());
    // The conflict is recorded once, and the booking stays confirmed.
    ensure!(history(&env, &booking, HistoryAction::ConflictDetected).await? == 1);
    let again = worker.sync_connection(&env.connection().await?).await?;
    ensure!(!again.full && again.conflicts == 0, "{again:?}");
    ensure!(history(&env, &booking, HistoryAction::ConflictDetected).await? == 1);
    ensure!(db.store.booking(&env.f.tenant, &booking.id).await?.status == BookingStatus::Confirmed);

    // Deleted on the calendar → gone from busy time (incremental).
    google.delete_event(USER, &id(&dentist))?;
    let report = worker.sync_connection(&env.connection().await?).await?;
    ensure!(!report.full && report.removed == 1, "{report:?}");
    ensure!(db.store.list_external_events(&env.f.tenant, &env.connection.id).await?.len() == 2);

    // 410: the cursor dies; the next sync wipes and reads everything again.
    google.invalidate_sync_tokens();
    let late = google.seed_event(USER, timed("late", at(16 * 60), 30))?;
    let report = worker.sync_connection(&env.connection().await?).await?;
    ensure!(report.cursor_expired && report.full, "{report:?}");
    let mut ids: Vec<String> = db
        .store
        .list_external_events(&env.f.tenant, &env.connection.id)
        .await?
        .into_iter()
        .map(|e| e.provider_event_id)
        .collect();
    ids.sort();
    let mut expected = vec![id(&free), id(&holiday), id(&late)];
    expected.sort();
    ensure!(ids == expected, "{ids:?} != {expected:?}");
    ensure!(history(&env, &booking, HistoryAction::ConflictDetected).await? == 1);
    Ok(())
}

async fn rate_limit_and_unavailable_storms_converge(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let google = env.emu.google();
    // A long Retry-After is handed to the engine, which schedules the job after it.
    google.inject_fault(FaultKind::RateLimit { retry_after_secs: Some(600) }, 1);
    let first = env.book(8 * 60).await?;
    let now = Utc::now();
    let report = worker.process_due_jobs_at(now).await?;
    ensure!(report.retrying == 1, "{report:?}");
    let job = env.jobs().await?.into_iter().next().context("job")?;
    ensure!(job.status == JobStatus::Failed && job.last_error.as_deref().is_some_and(|e| e.contains("rate limited")));
    let wait = job.next_attempt_at - now;
    ensure!(wait >= TimeDelta::seconds(598) && wait <= TimeDelta::seconds(602), "waited {wait}");

    // Then a storm of 429s and 503s while more bookings come in.
    google.inject_fault(FaultKind::RateLimit { retry_after_secs: None }, 6);
    google.inject_fault(FaultKind::Unavailable, 6);
    google.inject_fault(FaultKind::UserRateLimit, 3);
    let mut bookings = vec![first];
    for i in 1..5 {
        bookings.push(env.book(8 * 60 + i * 120).await?);
    }
    env.drain(&worker, 60).await?;
    for booking in &bookings {
        let event = env.event(booking).context("every booking reached the calendar")?;
        ensure!(start_of(&event)? == booking.start);
    }
    ensure!(google.stored_event_count(USER) == bookings.len());
    ensure!(env.jobs().await?.iter().all(|j| j.status == JobStatus::Succeeded));
    Ok(())
}

async fn a_revoked_grant_marks_the_connection_and_is_not_retried(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    env.emu.google().revoke_all_grants();
    let booking = env.book(9 * 60).await?;
    let report = worker.process_due_jobs_at(Utc::now()).await?;
    ensure!(report.dead == 1, "{report:?}");
    let jobs = env.jobs().await?;
    ensure!(jobs.len() == 1 && jobs[0].status == JobStatus::Dead);
    ensure!(jobs[0].last_error.as_deref().is_some_and(|e| e.contains("revoked")), "{:?}", jobs[0].last_error);
    let connection = env.connection().await?;
    ensure!(connection.status == ConnectionStatus::Revoked && connection.last_error.is_some());
    ensure!(db.store.booking(&env.f.tenant, &booking.id).await?.status == BookingStatus::Confirmed);
    ensure!(history(&env, &booking, HistoryAction::CalendarFailed).await? == 1);
    // Nothing is retried, however long we wait, and the revoked connection is not synced.
    let calls = env.emu.google().api_request_count();
    let later = worker.run_once_at(Utc::now() + TimeDelta::days(2)).await?;
    ensure!(later.is_idle(), "{later:?}");
    ensure!(env.emu.google().api_request_count() == calls);
    Ok(())
}

async fn tokens_close_to_expiry_are_refreshed_ahead_and_a_dead_grant_is_revoked(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker("w1");
    let now = Utc::now();
    let before = env.connection().await?;
    // Far from expiry: nothing to do.
    let far = now + TimeDelta::hours(1);
    db.store.update_connection_tokens(&env.f.tenant, &before.id, &before.access_token, None, Some(far)).await?;
    ensure!(worker.refresh_tokens_at(now).await? == (0, 0));
    // Five minutes from expiry (and a minute later, past the check pause): refreshed.
    let soon = now + TimeDelta::minutes(5);
    db.store.update_connection_tokens(&env.f.tenant, &before.id, &before.access_token, None, Some(soon)).await?;
    let later = now + TimeDelta::minutes(2);
    ensure!(worker.refresh_tokens_at(later).await? == (1, 0));
    let after = env.connection().await?;
    ensure!(after.access_token.expose_secret() != before.access_token.expose_secret(), "a new access token");
    ensure!(after.token_expires_at.is_some_and(|t| t > soon), "{:?}", after.token_expires_at);
    // A dead grant found while refreshing marks the connection revoked.
    env.emu.google().revoke_all_grants();
    db.store.update_connection_tokens(&env.f.tenant, &before.id, &after.access_token, None, Some(soon)).await?;
    ensure!(worker.refresh_tokens_at(later + TimeDelta::minutes(2)).await? == (0, 1));
    ensure!(env.connection().await?.status == ConnectionStatus::Revoked);
    Ok(())
}

async fn two_workers_share_the_queue_without_doing_a_job_twice(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let mut bookings = Vec::new();
    for i in 0..24 {
        bookings.push(env.book(i * 90).await?);
    }
    let (a, b) = (env.worker("worker-a"), env.worker("worker-b"));
    let (done_a, done_b) = tokio::try_join!(drain_concurrently(&env, &a), drain_concurrently(&env, &b))?;
    ensure!(done_a + done_b == bookings.len(), "{done_a} + {done_b} writes for {} bookings", bookings.len());
    ensure!(done_a > 0 && done_b > 0, "both workers took part: {done_a} / {done_b}");
    for job in env.jobs().await? {
        ensure!(job.status == JobStatus::Succeeded && job.attempts == 1, "claimed once: {job:?}");
    }
    for booking in &bookings {
        ensure!(env.event(booking).is_some());
        ensure!(history(&env, booking, HistoryAction::CalendarSynced).await? == 1);
    }
    ensure!(env.emu.google().stored_event_count(USER) == bookings.len());
    Ok(())
}

/// Runs rounds of `worker` until the whole queue is finished; returns its writes.
async fn drain_concurrently(env: &Env<'_>, worker: &Worker) -> Result<usize> {
    let mut synced = 0;
    for _ in 0..200 {
        let report = worker.process_due_jobs_at(Utc::now()).await?;
        synced += report.synced;
        if report.claimed == 0 && env.jobs().await?.iter().all(|j| finished(j.status)) {
            return Ok(synced);
        }
    }
    bail!("the queue did not drain")
}

async fn push_channels_are_registered_and_renewed_before_expiry(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker_with("w1", |c| {
        // Nothing listens there; the emulator's deliveries just fail.
        c.public_url = Some("http://127.0.0.1:9".into());
    });
    let now = Utc::now();
    ensure!(worker.renew_channels_at(now).await? == (1, 0));
    let first = env.connection().await?;
    let first_id = first.channel_id.clone().context("a channel")?;
    let expires = first.channel_expires_at.context("an expiry")?;
    ensure!((expires - (now + TimeDelta::days(7))).num_seconds().abs() <= 5, "expires {expires}");
    ensure!(first.channel_secret.is_some());
    ensure!(env.emu.google().channel_ids() == std::slice::from_ref(&first_id));
    // Far from expiry nothing happens (and a second look within the check interval is skipped).
    ensure!(worker.renew_channels_at(now + TimeDelta::seconds(10)).await? == (0, 0));
    ensure!(worker.renew_channels_at(now + TimeDelta::days(2)).await? == (0, 0));
    // Within a day of expiry: a new channel, stored, and the old one stopped.
    let report = worker.run_once_at(now + TimeDelta::days(6) + TimeDelta::hours(1)).await?;
    ensure!(report.channels_renewed == 1 && report.channel_errors == 0, "{report:?}");
    let second = env.connection().await?;
    let second_id = second.channel_id.clone().context("a channel")?;
    // (The emulator's clock did not move, so the new expiry is again a week from the real now.)
    ensure!(second_id != first_id && second.channel_expires_at.is_some());
    ensure!(env.emu.google().channel_ids() == [second_id], "the old channel was stopped");
    Ok(())
}

async fn the_run_loop_works_until_shutdown(db: &TestDb) -> Result<()> {
    let env = env(db).await?;
    let worker = env.worker_with("loop", |c| c.poll_interval = Duration::from_millis(20));
    let booking = env.book(9 * 60).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watch = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let outcome = loop {
            let done = env.jobs().await?.iter().all(|j| j.status == JobStatus::Succeeded);
            if done && env.event(&booking).is_some() && env.connection().await?.last_sync_at.is_some() {
                break Ok(());
            }
            if std::time::Instant::now() > deadline {
                break Err(anyhow::anyhow!("the loop did not sync the booking in time"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = stop.send(());
        outcome
    };
    let (ran, watched) = tokio::join!(
        worker.run(async {
            let _ = stopped.await;
        }),
        watch
    );
    watched?;
    ran?;
    Ok(())
}
