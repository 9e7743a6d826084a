//! The store methods the sync engine added: handing a claimed job back without counting
//! the attempt, giving a job up at once, claiming the connections due for a sync, and OAuth states.

mod common;

use anyhow::{Context as _, Result, ensure};
use chrono::{TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use store::{ConnectionStatus, JobStatus, NewCalendarConnection, Provider, QueueKind, StoreError};

use common::{TestDb, at, booking_at, fixture};

on_both_backends!(
    defer_hands_a_job_back_without_counting_the_attempt,
    mark_dead_gives_up_at_once_and_needs_the_lease,
    connection_syncs_skip_fresh_failing_and_revoked_ones,
    sync_requests_coalesce_and_a_claim_is_exclusive,
    oauth_states_are_single_use_and_bound_to_their_provider,
    a_calendar_job_whose_last_lease_expires_is_dead_with_history,
    connections_needing_channel_are_unwatched_or_expiring_and_active,
);

fn new_connection(employee: &store::EmployeeId) -> NewCalendarConnection {
    NewCalendarConnection {
        employee_id: employee.clone(),
        provider: Provider::Google,
        calendar_id: "primary".into(),
        access_token: SecretString::from("access"),
        refresh_token: Some(SecretString::from("refresh")),
        token_expires_at: Some(at(60)),
    }
}

async fn defer_hands_a_job_back_without_counting_the_attempt(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    let queue = s.queue(QueueKind::CalendarSync);
    let now = Utc::now();
    let job = queue.claim_due_at("w1", 10, TimeDelta::seconds(60), now).await?.remove(0);
    ensure!(job.attempts == 1);
    ensure!(matches!(queue.defer(&f.tenant, &job.id, "w2", now).await, Err(StoreError::Conflict(_))));
    queue.defer(&f.tenant, &job.id, "w1", now + TimeDelta::seconds(30)).await?;
    let back = queue.job(&f.tenant, &job.id).await?;
    ensure!(back.status == JobStatus::Pending && back.attempts == 0 && back.locked_by.is_none(), "{back:?}");
    ensure!(queue.claim_due_at("w1", 10, TimeDelta::seconds(60), now + TimeDelta::seconds(29)).await?.is_empty());
    // After a real failure the job stays `failed` when handed back, with its error.
    let job = queue.claim_due_at("w1", 10, TimeDelta::seconds(60), now + TimeDelta::seconds(30)).await?.remove(0);
    queue.mark_failed_at(&f.tenant, &job.id, "w1", "boom", Some(TimeDelta::seconds(5)), now).await?;
    let job = queue.claim_due_at("w1", 10, TimeDelta::seconds(60), now + TimeDelta::seconds(40)).await?.remove(0);
    ensure!(job.attempts == 2);
    queue.defer(&f.tenant, &job.id, "w1", now + TimeDelta::seconds(50)).await?;
    let back = queue.job(&f.tenant, &job.id).await?;
    ensure!(back.status == JobStatus::Failed && back.attempts == 1 && back.last_error.as_deref() == Some("boom"));
    Ok(())
}

async fn mark_dead_gives_up_at_once_and_needs_the_lease(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    let queue = s.queue(QueueKind::CalendarSync);
    let job = queue.claim_due("w1", 10, TimeDelta::seconds(60)).await?.remove(0);
    ensure!(matches!(queue.mark_dead(&f.tenant, &job.id, "w2", "no").await, Err(StoreError::Conflict(_))));
    queue.mark_dead(&f.tenant, &job.id, "w1", "grant revoked").await?;
    let dead = queue.job(&f.tenant, &job.id).await?;
    ensure!(dead.status == JobStatus::Dead && dead.last_error.as_deref() == Some("grant revoked"), "{dead:?}");
    ensure!(queue.claim_due_at("w1", 10, TimeDelta::seconds(60), Utc::now() + TimeDelta::days(30)).await?.is_empty());
    Ok(())
}

async fn connection_syncs_skip_fresh_failing_and_revoked_ones(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let g = fixture(s, "Barber").await?;
    let h = fixture(s, "Spa").await?;
    let fresh = s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    let failing = s.upsert_connection(&g.tenant, &new_connection(&g.employee)).await?;
    let revoked = s.upsert_connection(&h.tenant, &new_connection(&h.employee)).await?;
    let now = Utc::now();
    // Claims released at once, so every call sees the whole due set.
    let worker = std::sync::atomic::AtomicU32::new(0);
    let due = |synced_before, failed_before| {
        let id = format!("w{}", worker.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        async move {
            let claimed =
                s.claim_connection_syncs(&id, now, TimeDelta::zero(), synced_before, failed_before, 10).await?;
            for connection in &claimed {
                s.release_connection_sync(connection, &id).await?;
            }
            Ok::<_, StoreError>(claimed)
        }
    };
    // Never synced: every one of them is due.
    ensure!(due(now, now).await?.len() == 3);
    s.record_connection_sync(&f.tenant, &fresh.id, ConnectionStatus::Active, Some("cursor"), None).await?;
    s.record_connection_sync(&g.tenant, &failing.id, ConnectionStatus::Error, None, Some("refused")).await?;
    s.record_connection_sync(&h.tenant, &revoked.id, ConnectionStatus::Revoked, None, Some("revoked")).await?;
    let ids = |list: Vec<store::CalendarConnection>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    // A minute ago as the limit: the fresh one was synced after it, the failing one changed after it.
    let minute_ago = now - TimeDelta::minutes(1);
    ensure!(due(minute_ago, minute_ago).await?.is_empty());
    // Later: both are due again, the revoked one never.
    let later = now + TimeDelta::minutes(10);
    let mut got = ids(due(later, later).await?);
    got.sort();
    let mut expected = vec![fresh.id.clone(), failing.id.clone()];
    expected.sort();
    ensure!(got == expected, "{got:?}");
    // The failing one waits for its own pause, the fresh one for the resync interval.
    ensure!(ids(due(minute_ago, later).await?) == std::slice::from_ref(&failing.id));
    ensure!(ids(due(later, minute_ago).await?) == std::slice::from_ref(&fresh.id));
    Ok(())
}

async fn connections_needing_channel_are_unwatched_or_expiring_and_active(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let g = fixture(s, "Barber").await?;
    let h = fixture(s, "Spa").await?;
    let watched = s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    let unwatched = s.upsert_connection(&g.tenant, &new_connection(&g.employee)).await?;
    let revoked = s.upsert_connection(&h.tenant, &new_connection(&h.employee)).await?;
    let now = Utc::now();
    let secret = SecretString::from("channel-secret");
    s.set_connection_channel(
        &f.tenant,
        &watched.id,
        Some(store::ChannelRecord {
            id: "ch-1",
            resource_id: Some("res-1"),
            secret: &secret,
            expires_at: now + TimeDelta::days(7),
        }),
    )
    .await?;
    s.record_connection_sync(&h.tenant, &revoked.id, ConnectionStatus::Revoked, None, Some("revoked")).await?;
    let ids = |list: Vec<store::CalendarConnection>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    ensure!(
        ids(s.connections_needing_channel(now + TimeDelta::days(1), 10).await?) == std::slice::from_ref(&unwatched.id)
    );
    // Close to its expiry the watched one needs a new channel too, after the channel-less one.
    let soon = ids(s.connections_needing_channel(now + TimeDelta::days(8), 10).await?);
    ensure!(soon == [unwatched.id.clone(), watched.id.clone()], "{soon:?}");
    Ok(())
}

async fn sync_requests_coalesce_and_a_claim_is_exclusive(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let conn = s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    s.record_connection_sync(&f.tenant, &conn.id, ConnectionStatus::Active, Some("cursor"), None).await?;
    let now = Utc::now();
    let lease = TimeDelta::seconds(30);
    let claim = |worker: &'static str, at: chrono::DateTime<Utc>| {
        s.claim_connection_syncs(worker, at, lease, at - TimeDelta::hours(1), at - TimeDelta::hours(1), 10)
    };
    // Freshly synced and nothing asked: not due.
    ensure!(claim("w1", now).await?.is_empty());
    // A burst of three notifications: one sync, claimed by one worker only.
    for _ in 0..3 {
        s.request_connection_sync(&f.tenant, &conn.id).await?;
    }
    let claimed = claim("w1", now).await?;
    ensure!(claimed.len() == 1 && claimed[0].sync_requests == 3, "{claimed:?}");
    ensure!(claim("w2", now).await?.is_empty(), "a second worker must not sync the same connection");
    // A notification during the sync stays due after it.
    s.request_connection_sync(&f.tenant, &conn.id).await?;
    s.release_connection_sync(&claimed[0], "w1").await?;
    let again = claim("w2", now).await?;
    ensure!(again.len() == 1 && again[0].sync_requests == 4, "{again:?}");
    s.release_connection_sync(&again[0], "w2").await?;
    ensure!(claim("w1", now).await?.is_empty(), "every request was served");
    // A worker that dies keeps the connection only until its lease runs out.
    s.request_connection_sync(&f.tenant, &conn.id).await?;
    ensure!(claim("w1", now).await?.len() == 1);
    ensure!(claim("w2", now + TimeDelta::seconds(10)).await?.is_empty());
    ensure!(claim("w2", now + TimeDelta::seconds(31)).await?.len() == 1);
    // Another tenant cannot ask for this connection's sync.
    let g = fixture(s, "Barber").await?;
    ensure!(matches!(s.request_connection_sync(&g.tenant, &conn.id).await, Err(StoreError::NotFound { .. })));
    Ok(())
}

async fn oauth_states_are_single_use_and_bound_to_their_provider(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let expires = Utc::now() + TimeDelta::minutes(10);
    let state = SecretString::from("state-abc");
    let verifier = SecretString::from("verifier-xyz");
    s.create_oauth_state(&f.tenant, &f.employee, Provider::Google, &state, &verifier, expires).await?;
    ensure!(s.take_oauth_state(Provider::Outlook, "state-abc").await?.is_none(), "another provider's state");
    let taken = s.take_oauth_state(Provider::Google, "state-abc").await?.context("state")?;
    ensure!(taken.tenant_id == f.tenant && taken.employee_id == f.employee && taken.provider == Provider::Google);
    ensure!(taken.pkce_verifier.expose_secret() == "verifier-xyz");
    ensure!((taken.expires_at - expires).num_seconds().abs() <= 1);
    ensure!(s.take_oauth_state(Provider::Google, "state-abc").await?.is_none(), "a state is single use");
    ensure!(s.take_oauth_state(Provider::Google, "forged").await?.is_none());
    // Only the employees of the tenant can be bound.
    let g = fixture(s, "Barber").await?;
    let other = s.create_oauth_state(&g.tenant, &f.employee, Provider::Google, &state, &verifier, expires).await;
    ensure!(matches!(other, Err(StoreError::NotFound { .. })), "{other:?}");
    Ok(())
}

async fn a_calendar_job_whose_last_lease_expires_is_dead_with_history(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    let booking = s.create_booking(&f.tenant, &booking_at(&f, at(9 * 60))).await?;
    let policy = store::RetryPolicy { max_attempts: 2, ..store::RetryPolicy::default() };
    let queue = s.queue(QueueKind::CalendarSync).with_policy(policy);
    let lease = TimeDelta::seconds(30);
    let mut now = Utc::now();
    // Two claims whose workers die (their leases run out), then the job is given up.
    for _ in 0..2 {
        ensure!(queue.claim_due_at("w", 10, lease, now).await?.len() == 1);
        // Not before the lease (rounded up to whole seconds) has run out.
        ensure!(queue.claim_due_at("w", 10, lease, now + TimeDelta::seconds(29)).await?.is_empty());
        now += TimeDelta::seconds(32);
    }
    ensure!(queue.claim_due_at("w", 10, lease, now).await?.is_empty());
    let job = queue.list(&f.tenant, Some(&booking.id), 10).await?.remove(0);
    ensure!(job.status == JobStatus::Dead, "{job:?}");
    let history = s.booking_history(&f.tenant, &booking.id).await?;
    ensure!(history.iter().any(|h| h.action == store::HistoryAction::CalendarFailed), "{history:?}");
    Ok(())
}
