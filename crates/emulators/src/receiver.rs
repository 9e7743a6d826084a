//! A webhook receiver that records every request, for tests that wait for push notifications.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::EmulatorError;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// How the receiver answers a Microsoft Graph validation request (`POST ?validationToken=…`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ValidationReply {
    /// Treat it like any other request (the default of [`RecordingReceiver::start`]).
    #[default]
    Ignore,
    /// Answer 200 `text/plain` with the URL-decoded token, as Graph requires.
    Echo,
    /// Answer 200 `text/plain` with some other text.
    Wrong,
    /// Echo correctly, but only after the delay.
    Delayed(Duration),
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<Vec<ReceivedRequest>>,
    status: Mutex<Vec<u16>>,
    validation: Mutex<ValidationReply>,
}

/// An HTTP server on 127.0.0.1 that answers 200 (or scripted statuses) and records requests.
#[derive(Debug)]
pub struct RecordingReceiver {
    url: String,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
}

async fn record(req: HttpRequest, body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let path = match req.uri().path_and_query() {
        Some(pq) => pq.as_str().to_owned(),
        None => req.path().to_owned(),
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(ReceivedRequest { method: req.method().to_string(), path, headers, body: body.to_vec() });
    }
    let validation = shared.validation.lock().map(|v| *v).unwrap_or_default();
    if validation != ValidationReply::Ignore {
        let token = web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().remove("validationToken"));
        if let Some(token) = token {
            let body = match validation {
                ValidationReply::Wrong => "not-the-token".to_owned(),
                ValidationReply::Delayed(delay) => {
                    tokio::time::sleep(delay).await;
                    token
                }
                _ => token,
            };
            return HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body);
        }
    }
    let status = shared.status.lock().ok().and_then(|mut s| if s.is_empty() { None } else { Some(s.remove(0)) });
    match status.and_then(|s| actix_web::http::StatusCode::from_u16(s).ok()) {
        Some(code) => HttpResponse::build(code).finish(),
        None => HttpResponse::Ok().finish(),
    }
}

impl RecordingReceiver {
    /// Starts the receiver on a free port.
    pub fn start() -> Result<Self, EmulatorError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| EmulatorError::Bind { port: 0, source })?;
        let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { port: 0, source })?;
        let shared = Arc::new(Shared::default());
        let server_shared = shared.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("recording-receiver".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    let data = web::Data::new(server_shared);
                    let server =
                        HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
                            .workers(1)
                            .disable_signals()
                            .shutdown_timeout(1)
                            .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let server = rx.recv().map_err(|e| EmulatorError::Start(e.to_string()))?.map_err(EmulatorError::Start)?;
        Ok(RecordingReceiver { url: format!("http://{addr}"), shared, server })
    }

    /// Starts a receiver that also answers Graph's validation handshake ([`ValidationReply::Echo`]).
    pub fn start_graph() -> Result<Self, EmulatorError> {
        let receiver = Self::start()?;
        receiver.set_validation(ValidationReply::Echo);
        Ok(receiver)
    }

    /// Changes how validation requests are answered.
    pub fn set_validation(&self, reply: ValidationReply) {
        if let Ok(mut v) = self.shared.validation.lock() {
            *v = reply;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next requests with these statuses (then 200 again).
    pub fn respond_with(&self, statuses: &[u16]) {
        if let Ok(mut s) = self.shared.status.lock() {
            s.extend_from_slice(statuses);
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Polls until at least `count` requests arrived or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count || Instant::now() >= deadline {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RecordingReceiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}
