//! Connecting Google and Outlook calendars through the HTTP contract, end to end with
//! both provider emulators: OAuth (state, PKCE, replay, denial, expiry), bookings
//! written to the calendar, push notifications turning external events into busy time
//! (and back), forged notifications refused, sync status, retry and disconnect.
//!
//! The server runs on the real clock here (the emulators' tokens and channels live in
//! real time), with its sync worker looping in the background as in production.

use std::sync::Arc;
use std::time::Duration;

use api_server::{Application, Config};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator, MicrosoftServer};
use emulators::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::{Value, json};

use crate::helpers::{OPERATOR, Salon, TestApp, local_starts, on_both_db};

pub(crate) const GOOGLE_USER: &str = "user@example.com";
const MICROSOFT_USER: &str = "user@contoso.example";

pub(crate) struct CalendarApp {
    pub(crate) app: TestApp,
    pub(crate) sync: Arc<sync_engine::Worker>,
    pub(crate) google: EmulatorHandle,
    pub(crate) microsoft: MicrosoftServer,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for CalendarApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A free port for the server, so its public URL (push address, redirect URIs) is known
/// before it binds.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server on the real clock with both emulators and its sync worker looping.
pub(crate) async fn spawn(db: crate::db::TestDb) -> CalendarApp {
    let google = Emulator::start(EmulatorConfig::default()).unwrap();
    let microsoft = MicrosoftEmulator::start(0, MicrosoftConfig::default()).unwrap();
    let port = free_port();
    let mut vars: Vec<(&str, String)> = vec![
        ("SLOTWISE_BIND", format!("127.0.0.1:{port}")),
        ("SLOTWISE_OPERATOR_TOKEN", OPERATOR.to_owned()),
        ("SLOTWISE_RATE_LIMIT_PER_KEY", "100000".to_owned()),
    ];
    vars.extend(emulators::provider_settings(&google, &microsoft));
    let config = Config::load(None, |k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.clone())).unwrap();
    let app = Application::build_with_store(config, db.store.clone(), Arc::new(Utc::now)).await.unwrap();
    let sync = app.sync_worker().clone();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let looping = sync.clone();
    tokio::spawn(async move {
        let _ = looping
            .run(async move {
                let _ = stopped.changed().await;
            })
            .await;
    });
    CalendarApp { app: TestApp { base, client: reqwest::Client::new(), db }, sync, google, microsoft, stop }
}

/// Waits up to `limit` for `check` to hold.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + chrono::Duration::days(2);
    while d.weekday() != chrono::Weekday::Mon {
        d += chrono::Duration::days(1);
    }
    d
}

/// `HH:MM` Berlin wall clock of next Monday as a UTC instant.
pub(crate) fn monday_at(hour: u32, minute: u32) -> chrono::DateTime<Utc> {
    let local = next_monday().and_hms_opt(hour, minute, 0).unwrap();
    chrono_tz::Europe::Berlin.from_local_datetime(&local).single().unwrap().with_timezone(&Utc)
}

impl CalendarApp {
    fn no_redirects() -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// `GET /oauth` → the provider's consent (auto-approved by the emulator) → the
    /// callback URL the browser would open.
    async fn consent(&self, key: &str, slug: &str, employee: &str) -> String {
        let client = Self::no_redirects();
        let answer = client
            .get(format!("{}/api/{slug}-calendar/oauth?employee_id={employee}", self.app.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302);
        let authorize = answer.headers()["location"].to_str().unwrap().to_owned();
        for needle in ["state=", "code_challenge=", "code_challenge_method=S256"] {
            assert!(authorize.contains(needle), "{needle} missing in {authorize}");
        }
        let consent = client.get(&authorize).send().await.unwrap();
        assert_eq!(consent.status(), 302, "{}", consent.text().await.unwrap());
        let callback = consent.headers()["location"].to_str().unwrap().to_owned();
        assert!(callback.starts_with(&format!("{}/api/{slug}-calendar/callback?", self.app.base)), "{callback}");
        callback
    }

    async fn get_url(&self, url: &str) -> (u16, Value) {
        let answer = Self::no_redirects().get(url).send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn connect(&self, key: &str, slug: &str, employee: &str) -> Value {
        let callback = self.consent(key, slug, employee).await;
        let (status, body) = self.get_url(&callback).await;
        assert_eq!(status, 200, "{body}");
        // The state is single use: the same redirect again is refused.
        let (status, again) = self.get_url(&callback).await;
        assert_eq!(status, 400, "{again}");
        assert_eq!(again["error"]["code"], "invalid_request");
        assert_eq!(again["error"]["details"]["field"], "state");
        body["connection"].clone()
    }

    async fn slots(&self, key: &str, salon: &Salon, employee: &str) -> Vec<String> {
        let monday = next_monday();
        let path =
            format!("/api/availability?service_id={}&from={monday}&to={monday}&employee_id={employee}", salon.service);
        local_starts(&self.app.get(&path, key).await.expect(200))
    }

    async fn sync_status(&self, key: &str) -> Value {
        self.app.get("/api/calendar/sync-status", key).await.expect(200)
    }
}

async fn google_calendar_end_to_end(db: crate::db::TestDb) {
    let c = spawn(db).await;
    let key = c.app.tenant("Salon").await;
    let salon = c.app.salon(&key).await;
    let anna = salon.employees[0].clone();

    let connection = c.connect(&key, "google", &anna).await;
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["provider"], "google");
    // The watch channel was registered during the callback.
    assert!(connection["channel_expires_at"].is_string(), "{connection}");
    assert_eq!(c.google.google().channel_ids().len(), 1);
    let status = c.app.get(&format!("/api/google-calendar/status?employee_id={anna}"), &key).await.expect(200);
    assert_eq!(status["connections"].as_array().unwrap().len(), 1);
    // The first sync runs by itself.
    eventually(Duration::from_secs(10), "first sync", || async {
        let s = c.app.get("/api/google-calendar/status", &key).await.expect(200);
        s["connections"][0]["last_sync_at"].is_string()
    })
    .await;

    // A booking reaches the calendar with the event id derived from the booking.
    let booking = c.app.book(&key, &salon, &monday_at(10, 0).to_rfc3339(), Some(&anna)).await.expect(201);
    let booking_id = booking["id"].as_str().unwrap().to_owned();
    let event_id = providers_google::event_id_for_booking(&booking_id);
    eventually(Duration::from_secs(10), "booking event on Google", || async {
        c.google.google().stored_event(GOOGLE_USER, &event_id).is_some()
    })
    .await;
    let stored = c.google.google().stored_event(GOOGLE_USER, &event_id).unwrap();
    let start: chrono::DateTime<Utc> = stored["start"]["dateTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(start, monday_at(10, 0));
    eventually(Duration::from_secs(5), "calendar_sync on the booking", || async {
        let b = c.app.get(&format!("/api/bookings/{booking_id}"), &key).await.expect(200);
        b["calendar_sync"][0]["status"] == "succeeded" && b["calendar_sync"][0]["event_id"] == json!(event_id)
    })
    .await;
    // Our own event is not external busy time: 10:00 is taken by the booking only.
    let before = c.slots(&key, &salon, &anna).await;
    assert!(before.contains(&"14:00".to_owned()) && !before.contains(&"10:00".to_owned()), "{before:?}");

    // An external event arrives by push and takes 14:00-15:00 within 2 seconds.
    let external = c
        .google
        .google()
        .seed_event(
            GOOGLE_USER,
            json!({"summary": "Dentist", "start": {"dateTime": monday_at(14, 0).to_rfc3339()},
                   "end": {"dateTime": monday_at(15, 0).to_rfc3339()}}),
        )
        .unwrap();
    let external_id = external["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(2), "external event blocks 14:00 and 14:30", || async {
        let s = c.slots(&key, &salon, &anna).await;
        !s.contains(&"14:00".to_owned()) && !s.contains(&"14:30".to_owned()) && s.contains(&"15:00".to_owned())
    })
    .await;
    // Deleted again: the slot returns.
    c.google.google().delete_event(GOOGLE_USER, &external_id).unwrap();
    eventually(Duration::from_secs(2), "deleted external event frees 14:00", || async {
        c.slots(&key, &salon, &anna).await.contains(&"14:00".to_owned())
    })
    .await;

    // A forged notification for the live channel is refused and syncs nothing.
    let channel = c.google.google().channel_ids()[0].clone();
    let forged = c
        .app
        .client
        .post(format!("{}/api/calendar/webhooks/google", c.app.base))
        .header("X-Goog-Channel-ID", &channel)
        .header("X-Goog-Channel-Token", "forged")
        .header("X-Goog-Resource-ID", "whatever")
        .header("X-Goog-Resource-State", "exists")
        .header("X-Goog-Message-Number", "99")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let missing = c.app.client.post(format!("{}/api/calendar/webhooks/google", c.app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 400);

    // Cancelling deletes the event.
    c.app.post(&format!("/api/bookings/{booking_id}/cancel"), &key, json!({})).await.expect(200);
    eventually(Duration::from_secs(10), "cancelled booking's event deleted", || async {
        c.google.google().stored_event(GOOGLE_USER, &event_id).is_none_or(|e| e["status"] == "cancelled")
    })
    .await;

    // The event is gone a moment before the worker commits the job.
    eventually(Duration::from_secs(5), "nothing pending", || async { c.sync_status(&key).await["pending"] == 0 }).await;
    let health = c.sync_status(&key).await;
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["pending"], 0, "{health}");
    assert!(health["events"].as_array().unwrap().len() >= 2, "{health}");
    assert!(health["success_rate_1h"].as_f64().unwrap() > 0.99, "{health}");
    let retried = c.app.post("/api/calendar/sync-status/retry", &key, json!({})).await.expect(200);
    assert_eq!(retried["requeued"], 0);

    // Another tenant sees none of it.
    let other = c.app.tenant("Barber").await;
    assert_eq!(c.app.get("/api/google-calendar/status", &other).await.expect(200)["connections"], json!([]));
    c.app.post("/api/google-calendar/disconnect", &other, json!({"employee_id": anna})).await.error(404, "not_found");

    // Disconnect stops the channel and forgets the connection.
    c.app.post("/api/google-calendar/disconnect", &key, json!({"employee_id": anna})).await.expect(200);
    assert_eq!(c.app.get("/api/google-calendar/status", &key).await.expect(200)["connections"], json!([]));
    assert!(c.google.google().channel_ids().is_empty(), "{:?}", c.google.google().channel_ids());
    c.app.post("/api/google-calendar/disconnect", &key, json!({"employee_id": anna})).await.error(404, "not_found");
}

async fn outlook_calendar_end_to_end(db: crate::db::TestDb) {
    let c = spawn(db).await;
    let key = c.app.tenant("Salon").await;
    let salon = c.app.salon(&key).await;
    let ben = salon.employees[1].clone();

    // The callback creates the Graph subscription, whose validation handshake our
    // webhook answers while the callback is still running.
    let connection = c.connect(&key, "outlook", &ben).await;
    assert_eq!(connection["provider"], "outlook");
    assert!(connection["channel_expires_at"].is_string(), "{connection}");
    let subscriptions = c.microsoft.emulator().subscription_ids();
    assert_eq!(subscriptions.len(), 1);
    eventually(Duration::from_secs(10), "first sync", || async {
        let s = c.app.get("/api/outlook-calendar/status", &key).await.expect(200);
        s["connections"][0]["last_sync_at"].is_string()
    })
    .await;

    let booking = c.app.book(&key, &salon, &monday_at(11, 0).to_rfc3339(), Some(&ben)).await.expect(201);
    let booking_id = booking["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(10), "booking event on Outlook", || async {
        c.microsoft.emulator().stored_event_count(MICROSOFT_USER) == 1
    })
    .await;

    let external = c
        .microsoft
        .emulator()
        .seed_event(
            MICROSOFT_USER,
            json!({"subject": "Team call", "showAs": "busy",
                   "start": {"dateTime": monday_at(15, 0).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
                   "end": {"dateTime": monday_at(16, 0).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}}),
        )
        .unwrap();
    eventually(Duration::from_secs(2), "Outlook event blocks 15:00", || async {
        let s = c.slots(&key, &salon, &ben).await;
        !s.contains(&"15:00".to_owned()) && !s.contains(&"15:30".to_owned()) && s.contains(&"16:00".to_owned())
    })
    .await;
    let external_id = external["id"].as_str().unwrap().to_owned();
    c.microsoft.emulator().delete_event(MICROSOFT_USER, &external_id).unwrap();
    eventually(Duration::from_secs(2), "deleted Outlook event frees 15:00", || async {
        c.slots(&key, &salon, &ben).await.contains(&"15:00".to_owned())
    })
    .await;

    // A notification with the wrong clientState is refused; the handshake is echoed.
    let forged = json!({"value": [{"subscriptionId": subscriptions[0], "clientState": "forged", "changeType": "created",
        "resource": "Users/x/Events/y", "resourceData": {"id": "y"}}]});
    let answer =
        c.app.client.post(format!("{}/api/calendar/webhooks/outlook", c.app.base)).json(&forged).send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let huge = format!(r#"{{"value": [], "pad": "{}"}}"#, "x".repeat(300 * 1024));
    let answer = reqwest::Client::new()
        .post(format!("{}/api/calendar/webhooks/outlook", c.app.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    let echo = c
        .app
        .client
        .post(format!("{}/api/calendar/webhooks/outlook?validationToken=Validation%3A%20Testing%20client", c.app.base))
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    assert!(echo.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(echo.text().await.unwrap(), "Validation: Testing client");

    // Lifecycle: `subscriptionRemoved` makes the engine subscribe again.
    c.microsoft
        .emulator()
        .send_lifecycle(&subscriptions[0], emulators::microsoft::LifecycleEvent::SubscriptionRemoved)
        .unwrap();
    eventually(Duration::from_secs(5), "a new subscription", || async {
        let ids = c.microsoft.emulator().subscription_ids();
        !ids.is_empty() && !ids.contains(&subscriptions[0])
    })
    .await;

    c.app.post(&format!("/api/bookings/{booking_id}/cancel"), &key, json!({})).await.expect(200);
    eventually(Duration::from_secs(10), "cancelled booking's event deleted", || async {
        c.microsoft.emulator().stored_event_count(MICROSOFT_USER) == 0
    })
    .await;
    eventually(Duration::from_secs(5), "nothing pending", || async { c.sync_status(&key).await["pending"] == 0 }).await;
    assert_eq!(c.sync_status(&key).await["healthy"], true);
    c.app.post("/api/outlook-calendar/disconnect", &key, json!({"employee_id": ben})).await.expect(200);
    assert!(c.microsoft.emulator().subscription_ids().is_empty());
}

async fn oauth_refusals_are_clear(db: crate::db::TestDb) {
    let c = spawn(db).await;
    let key = c.app.tenant("Salon").await;
    let salon = c.app.salon(&key).await;
    let anna = salon.employees[0].clone();
    let base = c.app.base.clone();

    // Unknown employee, another tenant's employee, no employee.
    c.app.get("/api/google-calendar/oauth?employee_id=emp_0000", &key).await.error(404, "not_found");
    let other = c.app.tenant("Barber").await;
    c.app.get(&format!("/api/google-calendar/oauth?employee_id={anna}"), &other).await.error(404, "not_found");
    let missing = c.app.get("/api/outlook-calendar/oauth", &key).await.error(400, "invalid_request");
    assert_eq!(missing["field"], "employee_id");
    // No key, no redirect.
    assert_eq!(
        c.app.client.get(format!("{base}/api/google-calendar/oauth?employee_id={anna}")).send().await.unwrap().status(),
        401
    );

    // A forged or missing state.
    let (status, body) = c.get_url(&format!("{base}/api/google-calendar/callback?code=abc&state=forged")).await;
    assert_eq!((status, body["error"]["details"]["field"].clone()), (400, json!("state")));
    let (status, _) = c.get_url(&format!("{base}/api/google-calendar/callback?code=abc")).await;
    assert_eq!(status, 400);
    // A state handed out for Google is no good at the Outlook callback.
    let callback = c.consent(&key, "google", &anna).await;
    let crossed = callback.replace("/api/google-calendar/callback", "/api/outlook-calendar/callback");
    assert_eq!(c.get_url(&crossed).await.0, 400);

    // Denied consent: a clear 400 naming the refusal, and nothing stored.
    c.google.google().set_consent(emulators::google::ConsentMode::AutoDeny);
    let denied = c.consent(&key, "google", &anna).await;
    assert!(denied.contains("error=access_denied"), "{denied}");
    let (status, body) = c.get_url(&denied).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["field"], "error");
    assert_eq!(c.app.get("/api/google-calendar/status", &key).await.expect(200)["connections"], json!([]));

    // An expired state (the engine's clock moved past its 10 minutes).
    let tenant = c.app.db.store.tenant_by_api_key(&crate::helpers::secret(&key)).await.unwrap().unwrap();
    let employee = store::EmployeeId::parse(anna.clone()).unwrap();
    let now = Utc::now();
    let url = c.sync.start_connect(&tenant.id, &employee, store::Provider::Google, now).await.unwrap();
    let state = url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let params = sync_engine::CallbackParams { code: Some("x".into()), state: Some(state), error: None };
    let late = c.sync.complete_connect(store::Provider::Google, &params, now + chrono::Duration::minutes(11)).await;
    assert!(matches!(late, Err(sync_engine::ConnectError::ExpiredState)), "{late:?}");
}

on_both_db!(google_calendar_end_to_end);
on_both_db!(outlook_calendar_end_to_end);
on_both_db!(oauth_refusals_are_clear);

async fn webhook_floods_are_limited_and_do_not_starve_bookings(db: crate::db::TestDb) {
    let c = spawn(db).await;
    let key = c.app.tenant("Salon").await;
    let salon = c.app.salon(&key).await;
    let url = format!("{}/api/calendar/webhooks/google", c.app.base);
    let flood = (0..1200).map(|i| {
        let client = c.app.client.clone();
        let url = url.clone();
        async move {
            let answer = client
                .post(&url)
                .header("X-Goog-Channel-ID", format!("forged-{i}"))
                .header("X-Goog-Channel-Token", "x")
                .header("X-Goog-Resource-ID", "r")
                .header("X-Goog-Resource-State", "exists")
                .send()
                .await
                .unwrap();
            (answer.status().as_u16(), answer.headers().get("retry-after").is_some())
        }
    });
    let flooding = futures_util::future::join_all(flood);
    // The booking API answers while the flood runs.
    let booking = async {
        let started = std::time::Instant::now();
        let answer = c.app.book(&key, &salon, &monday_at(10, 0).to_rfc3339(), None).await;
        (answer.status, started.elapsed())
    };
    let (answers, (booked, took)) = tokio::join!(flooding, booking);
    assert_eq!(booked, 201);
    assert!(took < Duration::from_secs(10), "a booking took {took:?} during the flood");
    let limited = answers.iter().filter(|(status, _)| *status == 429).count();
    assert!(limited > 0, "no 429 among {} notifications", answers.len());
    assert!(answers.iter().filter(|(s, _)| *s == 429).all(|(_, retry)| *retry), "429 carries Retry-After");
    assert!(answers.iter().all(|(s, _)| matches!(s, 401 | 429)), "forged: 401 or 429");
}

on_both_db!(webhook_floods_are_limited_and_do_not_starve_bookings);
