//! # api-server
//!
//! slotwise's HTTP API (`shared/docs/api-contract.md`) on actix-web. Handlers
//! parse and authorise, then call the store and the availability engine; no
//! business rule lives in a handler that the engine or the store can own.
//!
//! [`Application::build`] binds (port 0 in tests) and exposes the address;
//! [`Application::run`] serves until SIGTERM/Ctrl-C, finishing in-flight
//! requests. `main` only reads the configuration and starts tracing.
//! [`Application::build`] also starts the notification worker (`notifications`
//! crate) and the calendar sync worker (`sync-engine`) in-process unless
//! `Config::run_worker` is off (`--no-worker`); [`Application::build_with_store`]
//! never does, so tests drive them themselves ([`Application::sync_worker`]).

pub mod cache;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod observe;
pub mod openapi;
mod routes;
pub mod time;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, middleware, web};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

pub use config::Config;
use error::ApiError;
pub use extract::AppState;

/// A built, bound server.
pub struct Application {
    server: Server,
    address: SocketAddr,
    store: store::Store,
    sync: Arc<sync_engine::Worker>,
    workers: Vec<WorkerHandle>,
    /// The background re-encryption started by [`Application::build`].
    reencryption: Option<tokio::task::JoinHandle<Option<u64>>>,
}

/// An in-process background worker and the switch that stops it.
struct WorkerHandle {
    name: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The sync engine over `store` with the configured providers. Push channels point at
/// `SLOTWISE_PUBLIC_URL` when a provider is configured.
pub fn sync_worker(config: &Config, store: store::Store) -> anyhow::Result<sync_engine::Worker> {
    let providers = config.providers.providers().context("build the calendar provider clients")?;
    let id = format!("api-server-{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let mut settings = sync_engine::WorkerConfig::new(id);
    settings.public_url = Some(config.public_url.clone());
    Ok(sync_engine::Worker::new(store, Arc::new(providers), settings))
}

/// The notification worker the configuration describes: SMTP when `SMTP_URL` is set,
/// else `.eml` files in `SLOTWISE_MAIL_SPOOL`; webhook targets per
/// `SLOTWISE_ALLOW_PRIVATE_WEBHOOKS`.
pub fn notification_worker(config: &Config) -> anyhow::Result<notifications::Worker> {
    let mailer = notifications::Mailer::new(config.smtp_url.as_ref().map(|u| u.expose_secret()), &config.mail_spool)
        .context("SMTP_URL is not a usable SMTP URL (smtp://host:port, smtps://host, user:password@ for auth)")?;
    let from: notifications::Mailbox =
        config.mail_from.parse().context("SLOTWISE_MAIL_FROM is not an email address")?;
    let settings = notifications::WorkerSettings::new(mailer, from)
        .url_policy(notifications::webhook::UrlPolicy { allow_private: config.allow_private_webhooks });
    Ok(notifications::Worker::new(settings))
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("address", &self.address).finish_non_exhaustive()
    }
}

/// Opens the store named by the configuration (running migrations).
pub async fn open_store(config: &Config) -> anyhow::Result<store::Store> {
    let mut cipher = match &config.encryption_key {
        Some(key) => store::TokenCipher::from_base64_key(key).context(
            "SLOTWISE_ENCRYPTION_KEY must be 32 bytes encoded as base64 (generate one with `openssl rand -base64 32`)",
        )?,
        None => {
            tracing::warn!("SLOTWISE_ENCRYPTION_KEY is not set: using a key that lives only as long as this process");
            store::TokenCipher::from_base64_key(&store::TokenCipher::generate_key())?
        }
    };
    for previous in &config.encryption_key_previous {
        cipher = cipher
            .with_previous_key(previous)
            .context("SLOTWISE_ENCRYPTION_KEY_PREVIOUS must hold base64 keys of 32 bytes, separated by commas")?;
    }
    let url = sqlite_create_mode(&config.database_url);
    let store = store::Store::connect(&url, cipher)
        .await
        .with_context(|| format!("could not open the database at DATABASE_URL ({})", redact(&config.database_url)))?;
    store.check_cipher().await.context(
        "SLOTWISE_ENCRYPTION_KEY cannot decrypt the secrets stored in this database: start with the key they were written with \
         (after a rotation, pass the old key in SLOTWISE_ENCRYPTION_KEY_PREVIOUS)",
    )?;
    Ok(store)
}

/// `sqlite://file.db` creates the file when missing (sqlx's `mode=rwc`).
fn sqlite_create_mode(url: &str) -> String {
    if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
        format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
    } else {
        url.to_owned()
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) => match head.rsplit_once(':') {
            Some((scheme_user, _)) if scheme_user.contains("//") => format!("{scheme_user}:***@{tail}"),
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl Application {
    /// Opens the store and binds `config.bind`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = open_store(&config).await?;
        let worker = if config.run_worker { Some(notification_worker(&config)?) } else { None };
        let run_worker = config.run_worker;
        let mut app = Self::build_with_store(config, store, Arc::new(Utc::now)).await?;
        app.reencryption = Some(tokio::spawn(reencrypt_secrets(app.store.clone())));
        if let Some(worker) = worker {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(worker.run(app.store.clone(), stopped));
            app.workers.push(WorkerHandle { name: "notification", stop, task });
        }
        if run_worker {
            let (stop, mut stopped) = tokio::sync::watch::channel(false);
            let sync = app.sync.clone();
            let task = tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.changed().await;
                };
                if let Err(error) = sync.run(shutdown).await {
                    tracing::error!(%error, "the sync worker stopped");
                }
            });
            app.workers.push(WorkerHandle { name: "sync", stop, task });
        }
        Ok(app)
    }

    /// Binds over an open store with the caller's clock (tests). No background worker is
    /// started: tests run `notifications::Worker::run_once` and
    /// [`sync_worker`](Self::sync_worker)`.run_once()` themselves.
    pub async fn build_with_store(
        config: Config,
        store: store::Store,
        clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("could not listen on SLOTWISE_BIND ({})", config.bind))?;
        let address = listener.local_addr()?;
        if config.operator_token.as_ref().is_none_or(|t| t.expose_secret().is_empty()) {
            tracing::warn!("SLOTWISE_OPERATOR_TOKEN is not set: POST /api/tenants answers 401 to everyone");
        }
        let sync = Arc::new(sync_worker(&config, store.clone())?);
        let state = web::Data::new(AppState::with_clock(store.clone(), config, clock, sync.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(middleware::from_fn(cache::invalidate_on_write))
                .wrap(middleware::from_fn(observe::observe))
                // `%U` (the path) rather than `%r` (the request line): query strings carry
                // OAuth codes and states, which must not reach the log.
                .wrap(
                    middleware::Logger::new("%a \"%{method}xi %U\" %s %b %Dms %{x-request-id}o")
                        .custom_request_replace("method", |req| req.method().to_string())
                        .log_target("slotwise::access"),
                )
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
        Ok(Application { server, address, store, sync, workers: Vec::new(), reencryption: None })
    }

    /// Where the server listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The store (for seeding the demo and for tests).
    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// Waits for the re-encryption [`build`](Self::build) started in the background and
    /// returns how many values it rewrote (`None` when there was none or it failed;
    /// failures are logged).
    pub async fn reencryption_done(&mut self) -> Option<u64> {
        self.reencryption.take()?.await.ok().flatten()
    }

    /// The sync engine the routes use (tests run its rounds).
    pub fn sync_worker(&self) -> &Arc<sync_engine::Worker> {
        &self.sync
    }

    /// Serves until stopped; a SIGTERM or Ctrl-C finishes in-flight requests first,
    /// then the in-process workers finish the job in hand.
    pub async fn run(self) -> std::io::Result<()> {
        let served = self.server.await;
        for worker in self.workers {
            let _ = worker.stop.send(true);
            if let Err(e) = worker.task.await {
                tracing::error!(error = %e, worker = worker.name, "an in-process worker panicked");
            }
        }
        served
    }
}

/// Rewrites the secrets still encrypted under a previous key (after a key rotation) with
/// the current one. Never fatal: a failure is logged and start-up carries on, since the
/// previous keys keep every value readable.
async fn reencrypt_secrets(store: store::Store) -> Option<u64> {
    match store.reencrypt_secrets().await {
        Ok(rewritten) => {
            tracing::info!(rewritten, "secrets stored under a previous encryption key re-encrypted");
            Some(rewritten)
        }
        Err(error) => {
            tracing::error!(%error, "re-encrypting the stored secrets failed; they stay readable with the previous keys");
            None
        }
    }
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
