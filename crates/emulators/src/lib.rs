//! Local emulators of the calendar providers slotwise talks to, for tests and the demo.
//!
//! The [`google`] module emulates Google's OAuth 2.0 endpoints and the parts of Calendar API v3 that
//! `providers-google` uses (events CRUD with client ids, `singleEvents` expansion, paging, sync tokens,
//! push channels, free/busy), following `shared/docs/provider-protocols.md` part A; `docs/providers.md`
//! lists what it follows and what it leaves out. Faults (429/500/503/slow, revoked grants, dead sync tokens)
//! are injected through [`google::GoogleEmulator`] or the `/admin/...` HTTP endpoints.
//!
//! The [`microsoft`] module emulates the Microsoft identity platform v2.0 (`/authorize`, `/token` with PKCE
//! and rotating refresh tokens) and the Outlook calendar part of Microsoft Graph (events with
//! `transactionId`, `calendarView` with recurrence expansion, delta rounds, subscriptions with a real
//! validation handshake and notifications), following part B of the same fact sheet. It runs as its own
//! server: [`microsoft::MicrosoftEmulator::start`].
//!
//! The emulator runs its HTTP server on its own thread and runtime, so it works from any test runtime:
//!
//! ```no_run
//! use emulators::{Emulator, EmulatorConfig};
//!
//! let emu = Emulator::start(EmulatorConfig::default()).expect("emulator starts");
//! println!("token endpoint: {}", emu.google_urls().token_url);
//! ```
//!
//! [`receiver::RecordingReceiver`] is a webhook receiver that records requests, used to see push
//! notifications arrive (with [`receiver::RecordingReceiver::start_graph`] it also answers Graph's
//! validation handshake). This crate is test infrastructure: nothing in production depends on it.
#![warn(missing_docs)]

pub mod google;
pub mod microsoft;
pub mod receiver;

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_web::{App, HttpServer, web};

use crate::google::{GoogleConfig, GoogleEmulator, GoogleUrls};

/// Errors starting an emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The port could not be bound.
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server thread failed before it was ready.
    #[error("emulator server failed to start: {0}")]
    Start(String),
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct EmulatorConfig {
    /// Port of the Google emulator on 127.0.0.1 (0 = any free port).
    pub google_port: u16,
    /// Behaviour of the Google emulator.
    pub google: GoogleConfig,
}

/// Entry point: [`Emulator::start`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds the ports and starts the servers on a background thread; returns once they accept connections.
    pub fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let port = config.google_port;
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|source| EmulatorError::Bind { port, source })?;
        let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { port, source })?;
        let base_url = format!("http://{addr}");
        let google = GoogleEmulator::new(config.google, base_url.clone());

        let (ready_tx, ready_rx) = mpsc::channel();
        let server_google = google.clone();
        let thread = std::thread::Builder::new()
            .name("google-emulator".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    server_google.start_notifier();
                    let app_google = server_google.clone();
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(web::Data::new(app_google.clone()))
                            .configure(google::routes)
                            .default_service(web::to(google::not_found))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                    let server = match server {
                        Ok(server) => server.run(),
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(server.handle()));
                    let _ = server.await;
                });
            })
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let server = ready_rx.recv().map_err(|e| EmulatorError::Start(e.to_string()))?.map_err(EmulatorError::Start)?;
        Ok(EmulatorHandle { google, base_url, server, thread: Some(thread) })
    }
}

/// The api-server's provider settings (the contract's `GOOGLE_*` and `MICROSOFT_*`
/// names) that point it at these emulators, for emulators started with the default
/// client ids and secrets. Used by `--demo` and the api-server's tests.
pub fn provider_settings(
    google: &EmulatorHandle,
    microsoft: &microsoft::MicrosoftServer,
) -> Vec<(&'static str, String)> {
    let g = google.google_urls();
    let m = microsoft.urls().clone();
    let google_client = GoogleConfig::default();
    let microsoft_client = microsoft::MicrosoftConfig::default();
    vec![
        ("GOOGLE_CLIENT_ID", google_client.client_id),
        ("GOOGLE_CLIENT_SECRET", google_client.client_secret),
        ("GOOGLE_AUTH_URL", g.auth_url),
        ("GOOGLE_TOKEN_URL", g.token_url),
        ("GOOGLE_REVOKE_URL", g.revoke_url),
        ("GOOGLE_API_BASE_URL", g.api_base_url),
        ("MICROSOFT_CLIENT_ID", microsoft_client.client_id),
        ("MICROSOFT_CLIENT_SECRET", microsoft_client.client_secret),
        ("MICROSOFT_AUTHORITY_URL", m.authority_url),
        ("MICROSOFT_GRAPH_BASE_URL", m.graph_base_url),
    ]
}

/// A running emulator; dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    google: GoogleEmulator,
    base_url: String,
    server: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` of the Google emulator.
    pub fn google_base_url(&self) -> &str {
        &self.base_url
    }

    /// The Google endpoints (authorize, token, revoke, API base, admin).
    pub fn google_urls(&self) -> GoogleUrls {
        GoogleUrls::new(&self.base_url)
    }

    /// Control and inspection of the Google emulator's state (faults, seeding, revocation).
    pub fn google(&self) -> &GoogleEmulator {
        &self.google
    }

    /// Blocks the calling thread until the server stops (used by the `emulator` binary).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        // `stop` sends the command eagerly; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}
