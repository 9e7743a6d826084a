//! Outgoing webhooks: registration and validation over HTTP, tenant isolation, and
//! deliveries to a local receiver (signatures, retries with one `webhook-id`, dead after
//! the policy, the SSRF guard).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{TestApp, immediate_retries, on_both, spawn_app_with, worker};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP server on 127.0.0.1:0 answering each request with the next scripted
/// status (the last one repeats).
struct Receiver {
    url: String,
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receiver(statuses: &[u16]) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let script = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (log, script) = (log.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 4096];
                let header_end = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
                let headers: HashMap<String, String> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < header_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[header_end..].to_vec();
                let status = {
                    let mut script = script.lock().unwrap();
                    if script.len() > 1 { script.pop_front().unwrap() } else { script[0] }
                };
                log.lock().unwrap().push(Received { headers, body });
                let answer = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Receiver { url: format!("http://127.0.0.1:{port}/hook"), port, received }
}

impl Receiver {
    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Checks the Standard Webhooks headers of `r` against `secret`; returns (id, body).
fn verified(r: &Received, secret: &str) -> (String, Value) {
    let id = r.headers["webhook-id"].clone();
    let timestamp: i64 = r.headers["webhook-timestamp"].parse().unwrap();
    let signature = &r.headers["webhook-signature"];
    assert!(signature.starts_with("v1,"), "{signature}");
    let secret = SecretString::from(secret.to_owned());
    assert!(
        notifications::webhook::verify(&secret, &id, timestamp, &r.body, signature).unwrap(),
        "signature does not verify: {r:?}"
    );
    // The timestamp is the attempt's, so a receiver's replay window accepts it.
    let age = chrono::Utc::now().timestamp() - timestamp;
    assert!((0..300).contains(&age), "webhook-timestamp {timestamp} is {age} s old");
    assert_eq!(r.headers["content-type"], "application/json");
    (id, serde_json::from_slice(&r.body).unwrap())
}

fn permissive(app_db: crate::db::TestDb) -> impl std::future::Future<Output = TestApp> {
    spawn_app_with(app_db, |c| c.allow_private_webhooks = true)
}

on_both!(endpoints_are_validated_listed_and_removed_per_tenant);
async fn endpoints_are_validated_listed_and_removed_per_tenant(app: TestApp) {
    let key = app.tenant("Salon").await;
    let other = app.tenant("Other").await;
    let events = json!(["booking.created"]);
    for (url, why) in [
        ("http://hooks.example.com/x", "https is required in production"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.0.0.8/x", "private"),
        ("https://[::1]/x", "loopback v6"),
        ("https://localhost/x", "localhost"),
        ("hooks.example.com", "not absolute"),
    ] {
        let d =
            app.post("/api/webhooks", &key, json!({"url": url, "events": events})).await.error(400, "invalid_request");
        assert_eq!(d["field"], "url", "{why}: {d}");
    }
    let d = app.post("/api/webhooks", &key, json!({"events": events})).await.error(400, "invalid_request");
    assert_eq!(d["field"], "url");
    let url = "https://hooks.example.com/slotwise";
    let d = app
        .post("/api/webhooks", &key, json!({"url": url, "events": ["booking.created", "booking.nope"]}))
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "events.1");
    let d = app.post("/api/webhooks", &key, json!({"url": url, "events": []})).await.error(400, "invalid_request");
    assert_eq!(d["field"], "events");
    let d = app.post("/api/webhooks", &key, json!({"url": url})).await.error(400, "invalid_request");
    assert_eq!(d["field"], "events");

    let all = json!([
        "booking.created",
        "booking.rescheduled",
        "booking.cancelled",
        "calendar.conflict",
        "calendar.connection_error"
    ]);
    let created = app.post("/api/webhooks", &key, json!({"url": url, "events": all})).await.expect(201);
    let mut keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["events", "id", "secret", "url"]);
    assert_eq!(created["url"], url);
    assert_eq!(created["events"], all);
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let id = created["id"].as_str().unwrap();

    let list = app.get("/api/webhooks", &key).await.expect(200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list["webhooks"][0]["id"], id);
    assert!(list["webhooks"][0].get("secret").is_none(), "the secret is shown once: {list}");
    assert!(!list.to_string().contains(secret));

    // Another tenant sees nothing and can touch nothing.
    assert_eq!(app.get("/api/webhooks", &other).await.expect(200)["webhooks"], json!([]));
    app.delete(&format!("/api/webhooks/{id}"), &other).await.error(404, "not_found");
    app.post(&format!("/api/webhooks/{id}/test"), &other, json!({})).await.error(404, "not_found");
    app.get(&format!("/api/webhooks/{id}/deliveries"), &other).await.error(404, "not_found");
    app.get("/api/webhooks/no-such-id/deliveries", &key).await.error(404, "not_found");

    let test = app.post(&format!("/api/webhooks/{id}/test"), &key, json!({})).await.expect(202);
    assert!(test["delivery_id"].as_str().is_some_and(|d| !d.is_empty()), "{test}");
    assert_eq!(app.get(&format!("/api/webhooks/{id}/deliveries"), &key).await.expect(200)["deliveries"], json!([]));

    assert_eq!(app.delete(&format!("/api/webhooks/{id}"), &key).await.status, 204);
    app.delete(&format!("/api/webhooks/{id}"), &key).await.error(404, "not_found");
    assert_eq!(app.get("/api/webhooks", &key).await.expect(200)["webhooks"], json!([]));
    app.send("GET", "/api/webhooks", None, None).await.error(401, "unauthorized");
}

on_both!(booking_events_are_signed_and_retried_with_one_webhook_id);
async fn booking_events_are_signed_and_retried_with_one_webhook_id(app: TestApp) {
    let app = permissive(app.db).await;
    let hook = receiver(&[500, 503, 204]).await;
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let created = app
        .post("/api/webhooks", &key, json!({"url": hook.url, "events": ["booking.created", "booking.cancelled"]}))
        .await
        .expect(201);
    let (endpoint, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    let booking = app.book(&key, &salon, "2030-03-04T09:00:00+01:00", None).await.expect(201);
    let booking_id = booking["id"].as_str().unwrap();
    // Not subscribed: a reschedule enqueues emails only.
    app.post(&format!("/api/bookings/{booking_id}/reschedule"), &key, json!({"start": "2030-03-04T10:00:00+01:00"}))
        .await
        .expect(200);

    // The webhook row was written with the booking, in its transaction.
    let tenant = app.db.store.tenant_by_api_key(&SecretString::from(key.clone())).await.unwrap().unwrap();
    let booking_ref = store::BookingId::parse(booking_id).unwrap();
    let queued =
        app.db.store.queue(store::QueueKind::Notifications).list(&tenant.id, Some(&booking_ref), 20).await.unwrap();
    let channels = |c: &str| {
        queued
            .iter()
            .filter(|j| matches!(&j.details, store::JobDetails::Notification(n) if n.message.channel == c))
            .count()
    };
    assert_eq!((channels("email"), channels("webhook")), (4, 1), "{queued:#?}");

    let spool = tempfile::tempdir().unwrap();
    let worker = worker(None, spool.path(), true, immediate_retries(5));
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 5, "four emails and the first attempt");
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 1, "the retry after a 500");
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 1, "the retry after a 503");
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 0, "delivered: nothing left");

    let requests = hook.requests();
    assert_eq!(requests.len(), 3);
    let mut ids = Vec::new();
    for r in &requests {
        let (id, body) = verified(r, secret);
        assert_eq!(body["type"], "booking.created");
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
        let snapshot = &body["data"]["booking"];
        assert_eq!(snapshot["id"], booking_id);
        assert_eq!(snapshot["sequence"], 0, "the state at the time of the change, not the later reschedule");
        assert_eq!(snapshot["start"], "2030-03-04T08:00:00Z");
        assert_eq!(snapshot["status"], "confirmed");
        assert_eq!(r.body, requests[0].body, "the body is the same on every retry");
        ids.push(id);
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "one webhook-id for every retry: {ids:?}");

    let log = app.get(&format!("/api/webhooks/{endpoint}/deliveries"), &key).await.expect(200);
    let rows = log["deliveries"].as_array().unwrap();
    let summary: Vec<(u64, u64, &str)> = rows
        .iter()
        .map(|r| (r["attempt"].as_u64().unwrap(), r["status_code"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [(3, 204, "succeeded"), (2, 503, "succeeded"), (1, 500, "succeeded")], "{log}");
    assert!(rows.iter().all(|r| r["delivery_id"] == json!(ids[0]) && r["type"] == "booking.created"));
    assert!(rows[2]["error"].as_str().is_some_and(|e| e.contains("500")), "{log}");
    assert!(rows[0]["error"].is_null());
    // Written in the tenant's zone, like every time in the API.
    assert!(rows[0]["at"].as_str().is_some_and(|t| t.ends_with("+01:00")), "{log}");
}

on_both!(a_failing_endpoint_is_dead_after_the_policy);
async fn a_failing_endpoint_is_dead_after_the_policy(app: TestApp) {
    let app = permissive(app.db).await;
    let hook = receiver(&[500]).await;
    let key = app.tenant("Salon").await;
    let created =
        app.post("/api/webhooks", &key, json!({"url": hook.url, "events": ["booking.cancelled"]})).await.expect(201);
    let (endpoint, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    let test = app.post(&format!("/api/webhooks/{endpoint}/test"), &key, json!({})).await.expect(202);
    let delivery = test["delivery_id"].as_str().unwrap();

    let spool = tempfile::tempdir().unwrap();
    let worker = worker(None, spool.path(), true, immediate_retries(3));
    for _ in 0..3 {
        assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 1);
    }
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 0, "dead jobs are not retried");
    let requests = hook.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        let (id, body) = verified(r, secret);
        assert_eq!(id, delivery, "the webhook-id is the delivery id the API answered");
        assert_eq!(body["type"], "webhook.test");
        assert_eq!(body["data"]["webhook_id"], endpoint);
    }
    let log = app.get(&format!("/api/webhooks/{endpoint}/deliveries"), &key).await.expect(200);
    let rows = log["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["status"] == "dead" && r["status_code"] == 500), "{log}");
}

on_both!(loopback_targets_are_refused_without_the_setting);
async fn loopback_targets_are_refused_without_the_setting(app: TestApp) {
    // Registered while private targets were allowed; delivered by a worker that refuses them.
    let app = permissive(app.db).await;
    let hook = receiver(&[204]).await;
    let key = app.tenant("Salon").await;
    let spool = tempfile::tempdir().unwrap();
    let strict = worker(None, spool.path(), false, immediate_retries(5));
    for (url, reason) in [
        (hook.url.clone(), "https is required"),
        (format!("https://127.0.0.1:{}/hook", hook.port), "private and loopback addresses are not allowed"),
    ] {
        let created =
            app.post("/api/webhooks", &key, json!({"url": url, "events": ["booking.created"]})).await.expect(201);
        let endpoint = created["id"].as_str().unwrap();
        app.post(&format!("/api/webhooks/{endpoint}/test"), &key, json!({})).await.expect(202);
        assert_eq!(strict.run_once(&app.db.store).await.unwrap(), 1);
        assert_eq!(strict.run_once(&app.db.store).await.unwrap(), 0, "a refused address is not retried");
        let log = app.get(&format!("/api/webhooks/{endpoint}/deliveries"), &key).await.expect(200);
        let rows = log["deliveries"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{log}");
        assert_eq!(rows[0]["status"], "dead");
        assert!(rows[0]["status_code"].is_null());
        assert!(rows[0]["error"].as_str().is_some_and(|e| e.contains(reason)), "{log}");
    }
    assert!(hook.requests().is_empty(), "nothing reached the loopback receiver");
}

on_both!(a_crash_between_send_and_commit_resends_with_the_same_webhook_id);
async fn a_crash_between_send_and_commit_resends_with_the_same_webhook_id(app: TestApp) {
    let app = permissive(app.db).await;
    let hook = receiver(&[204]).await;
    let key = app.tenant("Salon").await;
    let created =
        app.post("/api/webhooks", &key, json!({"url": hook.url, "events": ["booking.created"]})).await.expect(201);
    let (endpoint, secret) = (created["id"].as_str().unwrap(), created["secret"].as_str().unwrap());
    let test = app.post(&format!("/api/webhooks/{endpoint}/test"), &key, json!({})).await.expect(202);
    let delivery = test["delivery_id"].as_str().unwrap();

    // A worker claims the job, sends it, and dies before recording the outcome; its
    // lease (zero here) runs out.
    let queue = app.db.store.queue(store::QueueKind::Notifications);
    let claimed = queue.claim_due("crashed-worker", 10, chrono::TimeDelta::zero()).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let sent = notifications::webhook::deliver(
        notifications::webhook::UrlPolicy { allow_private: true },
        &hook.url,
        &SecretString::from(secret.to_owned()),
        claimed[0].id.as_str(),
        chrono::Utc::now().timestamp(),
        br#"{"type":"webhook.test"}"#,
    )
    .await;
    assert!(sent.succeeded(), "{sent:?}");

    // The next worker takes the expired lease and sends again: at least once, same id.
    let spool = tempfile::tempdir().unwrap();
    let worker = worker(None, spool.path(), true, immediate_retries(5));
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 1);
    assert_eq!(worker.run_once(&app.db.store).await.unwrap(), 0, "delivered once by this worker, then done");
    let requests = hook.requests();
    assert_eq!(requests.len(), 2, "one send per claim");
    for r in &requests {
        assert_eq!(verified(r, secret).0, delivery, "the receiver can drop the repeat by webhook-id");
    }
    let job = queue.job(&claimed[0].tenant_id, &claimed[0].id).await.unwrap();
    assert_eq!((job.status, job.attempts), (store::JobStatus::Succeeded, 2));
}
