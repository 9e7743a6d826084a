//! The store methods the sync engine added: handing a claimed job back without counting
//! the attempt, giving a job up at once, and finding the connections due for a sync.

mod common;

use anyhow::{Result, ensure};
use chrono::{TimeDelta, Utc};
use secrecy::SecretString;
use store::{ConnectionStatus, JobStatus, NewCalendarConnection, Provider, QueueKind, StoreError};

use common::{TestDb, at, booking_at, fixture};

on_both_backends!(
    defer_hands_a_job_back_without_counting_the_attempt,
    mark_dead_gives_up_at_once_and_needs_the_lease,
    connections_due_for_sync_skip_fresh_failing_and_revoked_ones,
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

async fn connections_due_for_sync_skip_fresh_failing_and_revoked_ones(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let g = fixture(s, "Barber").await?;
    let h = fixture(s, "Spa").await?;
    let fresh = s.upsert_connection(&f.tenant, &new_connection(&f.employee)).await?;
    let failing = s.upsert_connection(&g.tenant, &new_connection(&g.employee)).await?;
    let revoked = s.upsert_connection(&h.tenant, &new_connection(&h.employee)).await?;
    let now = Utc::now();
    let due = |synced_before, failed_before| s.connections_due_for_sync(synced_before, failed_before, 10);
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
    s.set_connection_channel(&f.tenant, &watched.id, Some(("ch-1", &secret, now + TimeDelta::days(7)))).await?;
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
