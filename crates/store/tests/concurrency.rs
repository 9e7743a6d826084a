//! No double booking and a correct outbox under concurrency, on both backends.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{Result, bail, ensure};
use chrono::{TimeDelta, Utc};
use serde_json::json;
use store::{Actor, JobStatus, NewNotification, QueueKind, RescheduleBooking, RetryPolicy, Store, StoreError};
use tokio::sync::Barrier;

use common::{Fixture, TestDb, assert_no_overlap, at, booking_at, fixture};

on_both_backends!(
    two_hundred_racing_bookings_confirm_exactly_one_per_overlapping_set,
    reschedules_racing_bookings_confirm_exactly_one_per_target,
    two_claimers_never_get_the_same_job,
    an_expired_lease_is_claimed_again,
    failures_back_off_and_die_after_the_last_attempt,
);

const GROUPS: i64 = 20;
const PER_GROUP: i64 = 10;

/// Group `g`, member `k`: starts 2 h apart per group and 3 min apart inside a group, so
/// with 60 min appointments and 10 min buffers every pair inside a group overlaps and
/// no pair across groups does.
fn racing_start(g: i64, k: i64) -> chrono::DateTime<Utc> {
    at(g * 120 + k * 3)
}

async fn two_hundred_racing_bookings_confirm_exactly_one_per_overlapping_set(db: &TestDb) -> Result<()> {
    let store = db.store.clone();
    let f = Arc::new(fixture(&store, "Busy salon").await?);
    let barrier = Arc::new(Barrier::new((GROUPS * PER_GROUP) as usize));
    let mut tasks = Vec::new();
    for g in 0..GROUPS {
        for k in 0..PER_GROUP {
            let (store, f, barrier) = (store.clone(), f.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (g, store.create_booking(&f.tenant, &booking_at(&f, racing_start(g, k))).await)
            }));
        }
    }
    let mut confirmed_per_group = vec![0; GROUPS as usize];
    let mut taken = 0;
    for task in tasks {
        match task.await? {
            (g, Ok(_)) => confirmed_per_group[g as usize] += 1,
            (_, Err(StoreError::SlotTaken)) => taken += 1,
            (_, Err(other)) => bail!("unexpected error: {other:?}"),
        }
    }
    ensure!(confirmed_per_group.iter().all(|&n| n == 1), "per group: {confirmed_per_group:?}");
    ensure!(taken == GROUPS * (PER_GROUP - 1));
    ensure!(assert_no_overlap(&store, &f, &f.employee).await? == GROUPS as usize);
    Ok(())
}

async fn reschedules_racing_bookings_confirm_exactly_one_per_target(db: &TestDb) -> Result<()> {
    let store = db.store.clone();
    let f = Arc::new(fixture(&store, "Busy salon").await?);
    // One booking per group, far from the targets, each to be moved into its group.
    let mut homes = Vec::new();
    for g in 0..GROUPS {
        homes.push(store.create_booking(&f.tenant, &booking_at(&f, at(10_000 + g * 120))).await?);
    }
    let barrier = Arc::new(Barrier::new((GROUPS * PER_GROUP) as usize));
    let mut tasks = Vec::new();
    for g in 0..GROUPS {
        for k in 0..PER_GROUP {
            let (store, f, barrier) = (store.clone(), f.clone(), barrier.clone());
            let home = homes[g as usize].id.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                // Member 0 of each group is a reschedule (placed in the middle of the group
                // so that it races from both sides), the others are new bookings.
                let result = if k == 0 {
                    let change = RescheduleBooking {
                        start: racing_start(g, PER_GROUP / 2),
                        employee_id: None,
                        actor: Actor::Api,
                        notifications: vec![],
                        idempotency: None,
                    };
                    store.reschedule_booking(&f.tenant, &home, &change).await.map(|_| ())
                } else {
                    store.create_booking(&f.tenant, &booking_at(&f, racing_start(g, k))).await.map(|_| ())
                };
                (g, k == 0, result)
            }));
        }
    }
    let mut wins = vec![0; GROUPS as usize];
    let mut moved = HashSet::new();
    for task in tasks {
        match task.await? {
            (g, is_move, Ok(())) => {
                wins[g as usize] += 1;
                if is_move {
                    moved.insert(g);
                }
            }
            (_, _, Err(StoreError::SlotTaken)) => {}
            (_, _, Err(other)) => bail!("unexpected error: {other:?}"),
        }
    }
    ensure!(wins.iter().all(|&n| n == 1), "wins per target: {wins:?}");
    for (g, home) in homes.iter().enumerate() {
        let now = store.booking(&f.tenant, &home.id).await?;
        if moved.contains(&(g as i64)) {
            ensure!(now.start == racing_start(g as i64, PER_GROUP / 2));
        } else {
            ensure!(now == *home, "a lost reschedule changed the booking");
        }
    }
    ensure!(assert_no_overlap(&store, &f, &f.employee).await? == GROUPS as usize * 2 - moved.len());
    Ok(())
}

async fn enqueue(store: &Store, f: &Fixture, n: usize) -> Result<()> {
    for i in 0..n {
        store
            .enqueue_notification(
                &f.tenant,
                None,
                &NewNotification {
                    channel: "email".into(),
                    recipient: format!("r{i}@example.com"),
                    template: "booking.created".into(),
                    payload: json!({"i": i}),
                },
            )
            .await?;
    }
    Ok(())
}

async fn two_claimers_never_get_the_same_job(db: &TestDb) -> Result<()> {
    let store = db.store.clone();
    let f = fixture(&store, "Salon").await?;
    enqueue(&store, &f, 60).await?;
    let barrier = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let queue = store.queue(QueueKind::Notifications);
            let mut mine = Vec::new();
            loop {
                let jobs = queue.claim_due(&format!("w{worker}"), 3, TimeDelta::minutes(5)).await?;
                if jobs.is_empty() {
                    return anyhow::Ok(mine);
                }
                for job in jobs {
                    ensure!(job.status == JobStatus::InProgress && job.attempts == 1);
                    ensure!(job.locked_by.as_deref() == Some(format!("w{worker}").as_str()));
                    mine.push(job.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await?? {
            ensure!(seen.insert(id.clone()), "job {id} claimed twice");
        }
    }
    ensure!(seen.len() == 60, "claimed {} of 60", seen.len());
    Ok(())
}

async fn an_expired_lease_is_claimed_again(db: &TestDb) -> Result<()> {
    let store = &db.store;
    let f = fixture(store, "Salon").await?;
    enqueue(store, &f, 1).await?;
    let queue = store.queue(QueueKind::Notifications);
    let t0 = Utc::now() + TimeDelta::seconds(1);
    let lease = TimeDelta::seconds(30);
    let first = queue.claim_due_at("dies", 10, lease, t0).await?;
    ensure!(first.len() == 1 && first[0].attempts == 1);
    ensure!(queue.claim_due_at("other", 10, lease, t0 + TimeDelta::seconds(29)).await?.is_empty());
    let again = queue.claim_due_at("other", 10, lease, t0 + TimeDelta::seconds(31)).await?;
    ensure!(again.len() == 1 && again[0].id == first[0].id && again[0].attempts == 2);
    ensure!(again[0].locked_by.as_deref() == Some("other"));
    // The worker that lost its lease cannot report on the job any more.
    ensure!(matches!(queue.mark_succeeded(&f.tenant, &first[0].id, "dies").await, Err(StoreError::Conflict(_))));
    queue.mark_succeeded(&f.tenant, &first[0].id, "other").await?;
    ensure!(queue.job(&f.tenant, &first[0].id).await?.status == JobStatus::Succeeded);
    ensure!(queue.claim_due_at("other", 10, lease, t0 + TimeDelta::hours(1)).await?.is_empty());

    // A job whose last allowed attempt's lease runs out is dead, not claimed again.
    enqueue(store, &f, 1).await?;
    let once = queue.with_policy(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() });
    let job = once.claim_due_at("dies", 1, lease, t0).await?;
    ensure!(job.len() == 1);
    ensure!(once.claim_due_at("other", 1, lease, t0 + TimeDelta::minutes(1)).await?.is_empty());
    let dead = once.job(&f.tenant, &job[0].id).await?;
    ensure!(dead.status == JobStatus::Dead && dead.last_error.is_some());
    Ok(())
}

async fn failures_back_off_and_die_after_the_last_attempt(db: &TestDb) -> Result<()> {
    let store = &db.store;
    let f = fixture(store, "Salon").await?;
    store
        .upsert_connection(
            &f.tenant,
            &store::NewCalendarConnection {
                employee_id: f.employee.clone(),
                provider: store::Provider::Outlook,
                calendar_id: "cal".into(),
                access_token: "tok".into(),
                refresh_token: None,
                token_expires_at: None,
            },
        )
        .await?;
    let booking = store.create_booking(&f.tenant, &booking_at(&f, at(0))).await?;
    let policy =
        RetryPolicy { max_attempts: 3, base_backoff: TimeDelta::seconds(10), max_backoff: TimeDelta::hours(1) };
    let queue = store.queue(QueueKind::CalendarSync).with_policy(policy);
    let lease = TimeDelta::seconds(60);
    let t0 = Utc::now() + TimeDelta::seconds(1);
    let t0 = chrono::DateTime::from_timestamp(t0.timestamp(), 0).expect("valid");

    let job = queue.claim_due_at("w", 5, lease, t0).await?;
    ensure!(job.len() == 1, "the booking's sync event is due");
    ensure!(
        matches!(&job[0].details, store::JobDetails::CalendarSync(e) if e.booking_id.as_ref() == Some(&booking.id))
    );
    let id = job[0].id.clone();
    ensure!(queue.mark_failed_at(&f.tenant, &id, "w", "503 from Graph", None, t0).await? == JobStatus::Failed);
    let failed = queue.job(&f.tenant, &id).await?;
    ensure!(failed.attempts == 1 && failed.next_attempt_at == t0 + TimeDelta::seconds(10));
    ensure!(failed.last_error.as_deref() == Some("503 from Graph") && failed.locked_by.is_none());
    ensure!(queue.claim_due_at("w", 5, lease, t0 + TimeDelta::seconds(9)).await?.is_empty());

    let t1 = t0 + TimeDelta::seconds(10);
    ensure!(queue.claim_due_at("w", 5, lease, t1).await?[0].attempts == 2);
    ensure!(queue.mark_failed_at(&f.tenant, &id, "w", "timeout", None, t1).await? == JobStatus::Failed);
    ensure!(queue.job(&f.tenant, &id).await?.next_attempt_at == t1 + TimeDelta::seconds(20));
    ensure!(queue.claim_due_at("w", 5, lease, t1 + TimeDelta::seconds(19)).await?.is_empty());

    let t2 = t1 + TimeDelta::seconds(20);
    ensure!(queue.claim_due_at("w", 5, lease, t2).await?[0].attempts == 3);
    ensure!(queue.mark_failed_at(&f.tenant, &id, "w", "still down", None, t2).await? == JobStatus::Dead);
    ensure!(queue.claim_due_at("w", 5, lease, t2 + TimeDelta::days(1)).await?.is_empty());
    let counts = queue.status_counts(&f.tenant).await?;
    ensure!(counts == [(JobStatus::Dead, 1)], "counts: {counts:?}");

    // Retry-After wins over the computed backoff; a manual requeue starts afresh.
    ensure!(queue.requeue_failed(&f.tenant, Some(std::slice::from_ref(&id))).await? == 1);
    let requeued = queue.job(&f.tenant, &id).await?;
    ensure!(requeued.status == JobStatus::Pending && requeued.attempts == 0);
    let t3 = Utc::now() + TimeDelta::seconds(1);
    let t3 = chrono::DateTime::from_timestamp(t3.timestamp(), 0).expect("valid");
    ensure!(queue.claim_due_at("w", 5, lease, t3).await?.len() == 1);
    queue.mark_failed_at(&f.tenant, &id, "w", "429", Some(TimeDelta::minutes(5)), t3).await?;
    ensure!(queue.job(&f.tenant, &id).await?.next_attempt_at == t3 + TimeDelta::minutes(5));
    ensure!(matches!(
        queue.mark_failed_at(&f.tenant, &id, "w", "not mine", None, t3).await,
        Err(StoreError::Conflict(_))
    ));
    store.record_provider_event_id(&f.tenant, &id, "AAMk-1").await?;
    let detail = queue.job(&f.tenant, &id).await?;
    ensure!(
        matches!(&detail.details, store::JobDetails::CalendarSync(e) if e.provider_event_id.as_deref() == Some("AAMk-1"))
    );
    Ok(())
}
