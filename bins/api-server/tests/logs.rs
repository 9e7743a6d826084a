//! No secret and no customer address reaches the logs.
//!
//! Its own test binary, so it can install one global subscriber: every crate at DEBUG
//! (ours at TRACE), `log` records (actix's access log) included, all written into a
//! buffer. A full run then goes through it — a tenant, set-up, Google and Outlook
//! connected through OAuth with both emulators, bookings synced to both calendars,
//! external events pushed and synced, a webhook endpoint, booking emails and webhook
//! deliveries, a cancellation — and the buffer is searched for every secret the run
//! handled: API key, operator token, OAuth codes, states and PKCE verifiers, access and
//! refresh tokens, channel tokens and Graph clientStates, client secrets, the webhook
//! signing secret, the encryption key and the customer's email address.
//!
//! The emulators stand for Google and Microsoft, not for us: their own log lines
//! (target `emulators`) are turned off.

#[path = "../../../crates/store/tests/common/mod.rs"]
#[allow(unused_imports)]
mod db;

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_server::{Application, Config};
use chrono::{Datelike as _, TimeZone as _, Utc};
use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator};
use emulators::{Emulator, EmulatorConfig};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const OPERATOR: &str = "operator-token-for-the-log-test-4711";
const GOOGLE_USER: &str = "user@example.com";
const MICROSOFT_USER: &str = "user@contoso.example";
const CUSTOMER_EMAIL: &str = "cleo.customer-4711@example.net";

/// Everything logged in this process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A secret the run handled, by what it is.
struct Secret {
    what: String,
    value: String,
}

#[derive(Default)]
struct Secrets(Vec<Secret>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, value: impl Into<String>) {
        let value = value.into();
        // Short values (ids, "true") would match by accident; every real secret is long.
        if value.len() >= 8 {
            self.0.push(Secret { what: what.into(), value });
        }
    }

    /// Each secret found in `logs`, with the lines holding it (the secret masked).
    fn findings(&self, logs: &str) -> Vec<String> {
        let mut found = Vec::new();
        for secret in &self.0 {
            let encoded: String = url_encode(&secret.value);
            for needle in [secret.value.as_str(), encoded.as_str()] {
                let lines: Vec<String> = logs
                    .lines()
                    .filter(|line| line.contains(needle))
                    .take(3)
                    .map(|line| line.replace(needle, &format!("<{}>", secret.what)))
                    .collect();
                if !lines.is_empty() {
                    found.push(format!("{} in the logs:\n  {}", secret.what, lines.join("\n  ")));
                    break;
                }
            }
        }
        found
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of `name` in a URL's query.
fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
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

/// `HH:MM` Berlin wall clock of the Monday after next as a UTC instant.
fn monday_at(hour: u32) -> chrono::DateTime<Utc> {
    let mut d = Utc::now().date_naive() + chrono::Duration::days(2);
    while d.weekday() != chrono::Weekday::Mon {
        d += chrono::Duration::days(1);
    }
    let local = d.and_hms_opt(hour, 0, 0).unwrap();
    chrono_tz::Europe::Berlin.from_local_datetime(&local).single().unwrap().with_timezone(&Utc)
}

/// A webhook receiver on 127.0.0.1 answering every request 200.
async fn webhook_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0_u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    format!("http://{address}/hook")
}

struct Client {
    base: String,
    http: reqwest::Client,
    no_redirects: reqwest::Client,
}

impl Client {
    async fn send(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn expect(&self, method: &str, path: &str, key: &str, body: Option<Value>, status: u16) -> Value {
        let (got, body) = self.send(method, path, key, body).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        body
    }

    /// OAuth through the emulator: returns the callback URL (with `code` and `state`).
    async fn consent(&self, key: &str, slug: &str, employee: &str) -> String {
        let answer = self
            .no_redirects
            .get(format!("{}/api/{slug}-calendar/oauth?employee_id={employee}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 302);
        let authorize = answer.headers()["location"].to_str().unwrap().to_owned();
        let consent = self.no_redirects.get(&authorize).send().await.unwrap();
        assert_eq!(consent.status(), 302);
        consent.headers()["location"].to_str().unwrap().to_owned()
    }
}

/// Every PKCE verifier waiting in `oauth_states`, decrypted.
async fn pkce_verifiers(db: &db::TestDb) -> Vec<String> {
    let cipher = store::TokenCipher::from_base64_key(&db.key).unwrap();
    let stored = db.raw_texts("SELECT pkce_verifier FROM oauth_states").await.unwrap();
    stored.iter().filter_map(|s| cipher.decrypt(s).ok()).map(|s| s.expose_secret().to_owned()).collect()
}

/// The full run on `db`; returns the secrets it handled.
async fn full_run(db: &db::TestDb) -> Secrets {
    let mut secrets = Secrets::default();
    secrets.add("operator token", OPERATOR);
    secrets.add("SLOTWISE_ENCRYPTION_KEY", db.key.expose_secret());
    secrets.add("customer email", CUSTOMER_EMAIL);

    let google = Emulator::start(EmulatorConfig::default()).unwrap();
    let microsoft = MicrosoftEmulator::start(0, MicrosoftConfig::default()).unwrap();
    secrets.add("Google client secret", emulators::google::GoogleConfig::default().client_secret);
    secrets.add("Microsoft client secret", MicrosoftConfig::default().client_secret);
    let port = free_port();
    let mut vars: Vec<(&str, String)> = vec![
        ("SLOTWISE_BIND", format!("127.0.0.1:{port}")),
        ("SLOTWISE_OPERATOR_TOKEN", OPERATOR.to_owned()),
        ("SLOTWISE_ALLOW_PRIVATE_WEBHOOKS", "true".to_owned()),
    ];
    vars.extend(emulators::provider_settings(&google, &microsoft));
    let config = Config::load(None, |k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.clone())).unwrap();
    let app = Application::build_with_store(config, db.store.clone(), Arc::new(Utc::now)).await.unwrap();
    let sync = app.sync_worker().clone();
    let server = tokio::spawn(app.run());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let looping = sync.clone();
    let sync_task = tokio::spawn(async move {
        let _ = looping
            .run(async move {
                let _ = stopped.changed().await;
            })
            .await;
    });
    let c = Client {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        no_redirects: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
    };

    // A tenant and its set-up.
    let tenant = c
        .expect("POST", "/api/tenants", OPERATOR, Some(json!({"name": "Salon", "timezone": "Europe/Berlin"})), 201)
        .await;
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    secrets.add("tenant API key", key.clone());
    let tenant_id = store::TenantId::parse(tenant["id"].as_str().unwrap()).unwrap();
    let days = ["mon", "tue", "wed", "thu", "fri"];
    let weekly: serde_json::Map<String, Value> =
        days.iter().map(|d| ((*d).to_owned(), json!([["09:00", "17:00"]]))).collect();
    c.expect("PUT", "/api/business-hours", &key, Some(json!({"timezone": "Europe/Berlin", "weekly": weekly})), 200)
        .await;
    let service =
        c.expect("POST", "/api/services", &key, Some(json!({"name": "Haircut", "duration_min": 30})), 201).await;
    let service = service["id"].as_str().unwrap().to_owned();
    let mut employees = Vec::new();
    for name in ["anna", "ben"] {
        let body = json!({"name": name, "email": format!("{name}@salon.example"), "timezone": "Europe/Berlin", "service_ids": [service]});
        let e = c.expect("POST", "/api/employees", &key, Some(body), 201).await;
        employees.push(e["id"].as_str().unwrap().to_owned());
    }

    // Google for anna, Outlook for ben, through OAuth.
    for (slug, employee) in [("google", &employees[0]), ("outlook", &employees[1])] {
        let callback = c.consent(&key, slug, employee).await;
        for verifier in pkce_verifiers(db).await {
            secrets.add(format!("{slug} PKCE verifier"), verifier);
        }
        secrets.add(format!("{slug} OAuth code"), query_value(&callback, "code").expect("a code"));
        secrets.add(format!("{slug} OAuth state"), query_value(&callback, "state").expect("a state"));
        let answer = c.no_redirects.get(&callback).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }

    // Bookings on both calendars, for a customer with an address.
    let mut bookings = Vec::new();
    for (hour, employee) in [(10, &employees[0]), (11, &employees[1])] {
        let body = json!({"service_id": service, "employee_id": employee, "start": monday_at(hour).to_rfc3339(),
            "customer": {"name": "Cleo", "email": CUSTOMER_EMAIL}});
        let b = c.expect("POST", "/api/bookings", &key, Some(body), 201).await;
        bookings.push(b["id"].as_str().unwrap().to_owned());
    }
    let event_id = providers_google::event_id_for_booking(&bookings[0]);
    eventually(Duration::from_secs(15), "booking event on Google", || async {
        google.google().stored_event(GOOGLE_USER, &event_id).is_some()
    })
    .await;
    eventually(Duration::from_secs(15), "booking event on Outlook", || async {
        microsoft.emulator().stored_event_count(MICROSOFT_USER) == 1
    })
    .await;

    // External events arrive by push notification and are synced.
    google
        .google()
        .seed_event(
            GOOGLE_USER,
            json!({"summary": "Dentist", "start": {"dateTime": monday_at(14).to_rfc3339()},
                   "end": {"dateTime": monday_at(15).to_rfc3339()}}),
        )
        .unwrap();
    microsoft
        .emulator()
        .seed_event(
            MICROSOFT_USER,
            json!({"subject": "Team call", "showAs": "busy",
                   "start": {"dateTime": monday_at(15).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"},
                   "end": {"dateTime": monday_at(16).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"}}),
        )
        .unwrap();
    let monday = monday_at(12).date_naive();
    for (employee, hour) in [(&employees[0], "14:00"), (&employees[1], "15:00")] {
        let path = format!("/api/availability?service_id={service}&from={monday}&to={monday}&employee_id={employee}");
        eventually(Duration::from_secs(10), "external event synced", || async {
            let body = c.expect("GET", &path, &key, None, 200).await;
            !body["slots"].as_array().unwrap().iter().any(|s| s["start"].as_str().unwrap()[11..16] == *hour)
        })
        .await;
    }

    // A webhook endpoint; emails and deliveries go out; a cancellation follows.
    let hook = webhook_receiver().await;
    let endpoint = c
        .expect(
            "POST",
            "/api/webhooks",
            &key,
            Some(json!({"url": hook, "events": ["booking.created", "booking.cancelled"]})),
            201,
        )
        .await;
    secrets.add("webhook secret", endpoint["secret"].as_str().unwrap());
    c.expect("POST", &format!("/api/bookings/{}/cancel", bookings[0]), &key, Some(json!({"reason": "ill"})), 200).await;
    let spool = tempfile::tempdir().unwrap();
    let mailer = notifications::Mailer::new(None, spool.path()).unwrap();
    let from: notifications::Mailbox = "Salon <bookings@salon.example>".parse().unwrap();
    let settings = notifications::WorkerSettings::new(mailer, from)
        .worker_id("log-test-worker")
        .url_policy(notifications::webhook::UrlPolicy { allow_private: true });
    let worker = notifications::Worker::new(settings);
    let sent = worker.run_once(&db.store).await.unwrap();
    assert!(sent > 0, "emails rendered");
    assert!(std::fs::read_dir(spool.path()).unwrap().count() > 0, "emails in the spool");
    eventually(Duration::from_secs(15), "cancelled event deleted on Google", || async {
        google.google().stored_event(GOOGLE_USER, &event_id).is_none_or(|e| e["status"] == "cancelled")
    })
    .await;

    // Every token and channel secret the store holds now.
    for connection in db.store.list_connections(&tenant_id, None).await.unwrap() {
        let provider = format!("{:?}", connection.provider);
        secrets.add(format!("{provider} access token"), connection.access_token.expose_secret());
        if let Some(refresh) = &connection.refresh_token {
            secrets.add(format!("{provider} refresh token"), refresh.expose_secret());
        }
        if let Some(channel) = &connection.channel_secret {
            secrets.add(format!("{provider} channel token / clientState"), channel.expose_secret());
        }
    }
    assert!(secrets.0.iter().any(|s| s.what.contains("access token")), "tokens were read");

    let _ = stop.send(true);
    let _ = sync_task.await;
    server.abort();
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_customer_address_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,api_server=trace,store=trace,sync_engine=trace,providers_google=trace,\
             providers_outlook=trace,notifications=trace,provider_setup=trace,slotwise=trace,emulators=off",
        ))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let mut secrets = Secrets::default();
    let sqlite = db::sqlite().await.unwrap();
    secrets.0.extend(full_run(&sqlite).await.0);
    sqlite.finish().await.unwrap();
    if let Some(postgres) = db::postgres("no_secret_or_customer_address_reaches_the_logs").await.unwrap() {
        secrets.0.extend(full_run(&postgres).await.0);
        postgres.finish().await.unwrap();
    }

    let logs = captured.text();
    assert!(logs.contains("slotwise::access"), "the access log was captured");
    // The access log names the path only: the callback's query holds the code and state.
    assert!(logs.contains("\"GET /api/google-calendar/callback\""), "the callback's access line, without its query");
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = std::io::stderr().write_all(logs.as_bytes());
    }
    let findings = secrets.findings(&logs);
    assert!(
        findings.is_empty(),
        "{} secrets in {} lines of logs:\n{}",
        findings.len(),
        logs.lines().count(),
        findings.join("\n")
    );
}
