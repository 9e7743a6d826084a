//! Webhook endpoints, their delivery log, and the booking snapshot that booking changes
//! write into notification payloads, on both backends.

mod common;

use anyhow::{Result, ensure};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use store::{
    Actor, CancelBooking, JobDetails, JobId, NewNotification, NewWebhookDelivery, NewWebhookEndpoint, QueueKind,
    RescheduleBooking, StoreError, WebhookId,
};

use common::{TestDb, at, booking_at, fixture};

on_both_backends!(
    webhook_endpoints_round_trip_with_encrypted_secrets_per_tenant,
    delivery_log_is_per_endpoint_newest_first,
    booking_changes_fill_the_snapshot_they_commit,
);

fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn endpoint(url: &str, events: &[&str]) -> NewWebhookEndpoint {
    NewWebhookEndpoint {
        url: url.into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: SecretString::from("whsec_c2VjcmV0LWtleS1ieXRlcw=="),
    }
}

async fn webhook_endpoints_round_trip_with_encrypted_secrets_per_tenant(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let a = fixture(s, "A").await?;
    let b = fixture(s, "B").await?;
    let first = s.create_webhook_endpoint(&a.tenant, &endpoint("https://a.example/1", &["booking.created"])).await?;
    let second = s
        .create_webhook_endpoint(&a.tenant, &endpoint("https://a.example/2", &["booking.created", "booking.cancelled"]))
        .await?;
    let read = s.webhook_endpoint(&a.tenant, &first.id).await?;
    ensure!(read.url == "https://a.example/1" && read.events == ["booking.created"] && read.active);
    ensure!(read.secret.expose_secret() == "whsec_c2VjcmV0LWtleS1ieXRlcw==");
    let raw = db.raw_texts("SELECT secret FROM webhook_endpoints").await?;
    ensure!(raw.len() == 2 && raw.iter().all(|r| !r.contains("whsec_")), "secrets stored in clear: {raw:?}");

    let listed: Vec<WebhookId> = s.webhook_endpoints(&a.tenant).await?.into_iter().map(|e| e.id).collect();
    ensure!(listed == [first.id.clone(), second.id.clone()], "{listed:?}");
    let cancelled: Vec<WebhookId> =
        s.webhook_endpoints_for(&a.tenant, "booking.cancelled").await?.into_iter().map(|e| e.id).collect();
    ensure!(cancelled.len() == 1 && cancelled[0] == second.id);

    // Another tenant sees and removes nothing.
    ensure!(s.webhook_endpoints(&b.tenant).await?.is_empty());
    ensure!(matches!(s.webhook_endpoint(&b.tenant, &first.id).await, Err(StoreError::NotFound { .. })));
    ensure!(matches!(s.deactivate_webhook_endpoint(&b.tenant, &first.id).await, Err(StoreError::NotFound { .. })));

    s.deactivate_webhook_endpoint(&a.tenant, &first.id).await?;
    ensure!(!s.webhook_endpoint(&a.tenant, &first.id).await?.active, "removed endpoints stay readable");
    ensure!(s.webhook_endpoints_for(&a.tenant, "booking.created").await?.len() == 1);
    ensure!(matches!(s.deactivate_webhook_endpoint(&a.tenant, &first.id).await, Err(StoreError::NotFound { .. })));
    Ok(())
}

async fn delivery_log_is_per_endpoint_newest_first(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let a = fixture(s, "A").await?;
    let b = fixture(s, "B").await?;
    let hook = s.create_webhook_endpoint(&a.tenant, &endpoint("https://a.example/1", &["booking.created"])).await?;
    let job = JobId::generate();
    for (attempt, status) in [(1, Some(500)), (2, None), (3, Some(204))] {
        s.record_webhook_delivery(
            &a.tenant,
            &NewWebhookDelivery {
                endpoint_id: hook.id.clone(),
                job_id: job.clone(),
                event_type: "booking.created".into(),
                attempt,
                status_code: status,
                error: (status != Some(204)).then(|| "failed".to_owned()),
                at: at(i64::from(attempt)),
            },
        )
        .await?;
    }
    let log = s.webhook_deliveries(&a.tenant, &hook.id, 10).await?;
    let attempts: Vec<(u32, Option<u16>)> = log.iter().map(|d| (d.attempt.attempt, d.attempt.status_code)).collect();
    ensure!(attempts == [(3, Some(204)), (2, None), (1, Some(500))], "{attempts:?}");
    ensure!(log.iter().all(|d| d.attempt.job_id == job && d.attempt.endpoint_id == hook.id));
    ensure!(log[0].attempt.at == at(3) && log[0].attempt.error.is_none());
    ensure!(s.webhook_deliveries(&a.tenant, &hook.id, 1).await?.len() == 1);
    ensure!(s.webhook_deliveries(&b.tenant, &hook.id, 10).await?.is_empty());
    Ok(())
}

async fn booking_changes_fill_the_snapshot_they_commit(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let asks = |template: &str| NewNotification {
        channel: "webhook".into(),
        recipient: "hook".into(),
        template: template.into(),
        payload: json!({"booking": null, "extra": 1}),
    };
    let plain = NewNotification {
        channel: "email".into(),
        recipient: "x@example.com".into(),
        template: "booking.created".into(),
        payload: json!({"lang": "en"}),
    };
    let mut new = booking_at(&f, at(9 * 60));
    new.notifications = vec![asks("booking.created"), plain];
    let booking = s.create_booking(&f.tenant, &new).await?;
    s.reschedule_booking(
        &f.tenant,
        &booking.id,
        &RescheduleBooking {
            start: at(12 * 60),
            employee_id: None,
            actor: Actor::Api,
            notifications: vec![asks("booking.rescheduled")],
            idempotency: None,
        },
    )
    .await?;
    s.cancel_booking(
        &f.tenant,
        &booking.id,
        &CancelBooking {
            reason: Some("ill".into()),
            actor: Actor::Api,
            notifications: vec![asks("booking.cancelled")],
        },
    )
    .await?;
    let jobs = s.queue(QueueKind::Notifications).list(&f.tenant, Some(&booking.id), 10).await?;
    let payload = |template: &str, channel: &str| {
        jobs.iter()
            .find_map(|j| match &j.details {
                JobDetails::Notification(n) if n.message.template == template && n.message.channel == channel => {
                    Some(n.message.payload.clone())
                }
                _ => None,
            })
            .unwrap_or_default()
    };
    ensure!(payload("booking.created", "email") == json!({"lang": "en"}), "payloads without the key are untouched");
    let created = payload("booking.created", "webhook");
    ensure!(created["extra"] == 1 && created["booking"]["id"] == booking.id.as_str(), "{created}");
    ensure!(created["booking"]["sequence"] == 0 && created["booking"]["status"] == "confirmed", "{created}");
    ensure!(created["booking"]["start"] == utc(at(9 * 60)), "{created}");
    ensure!(created["booking"]["customer"]["timezone"] == "America/New_York", "{created}");
    let moved = payload("booking.rescheduled", "webhook");
    ensure!(moved["booking"]["sequence"] == 1 && moved["booking"]["start"] == utc(at(12 * 60)), "{moved}");
    let cancelled = payload("booking.cancelled", "webhook");
    ensure!(cancelled["booking"]["sequence"] == 2 && cancelled["booking"]["status"] == "cancelled", "{cancelled}");
    ensure!(cancelled["booking"]["cancel_reason"] == "ill", "{cancelled}");
    Ok(())
}
