//! `spawn_app()` and a small client for the tests.

use std::sync::Arc;

use api_server::{Application, Config};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};

pub use super::db::TestDb;

pub const OPERATOR: &str = "test-operator-token-0123456789";

/// "Now" in every test: Friday 2030-03-01, so Monday 2030-03-04 is bookable.
pub fn now() -> DateTime<Utc> {
    "2030-03-01T00:00:00Z".parse().unwrap()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// [`spawn_app`] with a change to the configuration first.
pub async fn spawn_app_with(db: TestDb, change: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::load(None, |k| match k {
        "SLOTWISE_BIND" => Some("127.0.0.1:0".into()),
        "SLOTWISE_OPERATOR_TOKEN" => Some(OPERATOR.into()),
        "SLOTWISE_RATE_LIMIT_PER_KEY" => Some("100000".into()),
        _ => None,
    })
    .unwrap();
    change(&mut config);
    let app = Application::build_with_store(config, db.store.clone(), Arc::new(now)).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run());
    TestApp { base, client: reqwest::Client::new(), db }
}

/// A response's status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    /// Asserts an error answer and returns its details.
    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"]["code"], code, "body: {}", self.body);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {}", self.body);
        self.body["error"]["details"].clone()
    }
}

impl TestApp {
    pub async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Answer {
        let mut req = self.client.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) }
    }

    pub async fn get(&self, path: &str, key: &str) -> Answer {
        self.send("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.send("POST", path, Some(key), Some(body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Answer {
        self.send("DELETE", path, Some(key), None).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> Answer {
        self.send("PUT", path, Some(key), Some(body)).await
    }

    /// A new tenant's API key.
    pub async fn tenant(&self, name: &str) -> String {
        let body =
            self.post("/api/tenants", OPERATOR, json!({"name": name, "timezone": "Europe/Berlin"})).await.expect(201);
        body["api_key"].as_str().unwrap().to_owned()
    }

    /// Business hours Mon-Fri 09-17 Berlin with a 12-13 break, a 30-minute
    /// service stepping by 30, and two employees offering it.
    pub async fn salon(&self, key: &str) -> Salon {
        let days = ["mon", "tue", "wed", "thu", "fri"];
        let weekly: serde_json::Map<String, Value> =
            days.iter().map(|d| ((*d).to_owned(), json!([["09:00", "17:00"]]))).collect();
        let breaks: serde_json::Map<String, Value> =
            days.iter().map(|d| ((*d).to_owned(), json!([["12:00", "13:00"]]))).collect();
        self.put("/api/business-hours", key, json!({"timezone": "Europe/Berlin", "weekly": weekly, "breaks": breaks}))
            .await
            .expect(200);
        let service = self.post("/api/services", key, json!({"name": "Haircut", "duration_min": 30})).await.expect(201);
        let service = service["id"].as_str().unwrap().to_owned();
        let mut employees = Vec::new();
        for name in ["anna", "ben"] {
            let e = self
                .post(
                    "/api/employees",
                    key,
                    json!({"name": name, "email": format!("{name}@example.com"), "timezone": "Europe/Berlin", "service_ids": [service]}),
                )
                .await
                .expect(201);
            employees.push(e["id"].as_str().unwrap().to_owned());
        }
        Salon { service, employees }
    }

    /// Books `start` (RFC 3339) for `employee` (or anyone).
    pub async fn book(&self, key: &str, salon: &Salon, start: &str, employee: Option<&str>) -> Answer {
        let mut body = json!({"service_id": salon.service, "start": start, "customer": {"name": "Cleo", "email": "cleo@example.com"}});
        if let Some(e) = employee {
            body["employee_id"] = json!(e);
        }
        self.post("/api/bookings", key, body).await
    }
}

pub struct Salon {
    pub service: String,
    pub employees: Vec<String>,
}

pub fn local_starts(body: &Value) -> Vec<String> {
    body["slots"].as_array().unwrap().iter().map(|s| s["start"].as_str().unwrap()[11..16].to_owned()).collect()
}

/// Runs a test body on a fresh SQLite store and, when available, a fresh PostgreSQL one.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::db::sqlite().await.unwrap();
                super::$name(crate::helpers::spawn_app(db).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = crate::db::postgres(stringify!($name)).await.unwrap() {
                    let app = crate::helpers::spawn_app(db).await;
                    super::$name(app).await;
                }
            }
        }
    };
}
pub(crate) use on_both;

/// Like [`on_both!`] for test bodies that build their own server: they get the database.
macro_rules! on_both_db {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::db::sqlite().await.unwrap()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = crate::db::postgres(stringify!($name)).await.unwrap() {
                    super::$name(db).await;
                }
            }
        }
    };
}
pub(crate) use on_both_db;

#[allow(dead_code)]
pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// A notification worker for tests: SMTP at `smtp` (else `.eml` files in `spool`),
/// webhook targets per `allow_private`, webhook retries per `webhook_policy`.
pub fn worker(
    smtp: Option<&str>,
    spool: &std::path::Path,
    allow_private: bool,
    webhook_policy: store::RetryPolicy,
) -> notifications::Worker {
    let mailer = notifications::Mailer::new(smtp, spool).unwrap();
    let from: notifications::Mailbox = "Salon <bookings@salon.example>".parse().unwrap();
    let settings = notifications::WorkerSettings::new(mailer, from)
        .worker_id("test-worker")
        .url_policy(notifications::webhook::UrlPolicy { allow_private })
        .webhook_policy(webhook_policy);
    notifications::Worker::new(settings)
}

/// Retries at once (no backoff), `attempts` in all.
pub fn immediate_retries(attempts: u32) -> store::RetryPolicy {
    store::RetryPolicy {
        max_attempts: attempts,
        base_backoff: chrono::TimeDelta::zero(),
        max_backoff: chrono::TimeDelta::zero(),
    }
}
