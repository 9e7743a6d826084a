//! `sync-worker`: runs the sync engine as its own process.
//!
//! Reads `DATABASE_URL`, `SLOTWISE_ENCRYPTION_KEY` (and `SLOTWISE_ENCRYPTION_KEY_PREVIOUS`:
//! comma-separated older keys that still decrypt values written before a rotation), the
//! `GOOGLE_*` / `MICROSOFT_*` variables (see the `provider-setup` crate), optionally `SLOTWISE_WORKER_ID` and
//! `SLOTWISE_WORKER_BIND` (then it answers `GET /healthz` there), and runs until SIGTERM
//! or Ctrl-C. With `SLOTWISE_PUBLIC_URL` (the api-server's public base URL) it also
//! registers and renews push channels pointing at the api-server's webhook routes. Any
//! number of workers may share one PostgreSQL database. `SLOTWISE_WORKER_LEASE_SECS`
//! (default 60) and `SLOTWISE_WORKER_POLL_MS` (default 1000) override the job lease and
//! the pause after an idle round (the crash tests use a short lease).

use std::sync::Arc;

use anyhow::{Context as _, Result};
use provider_setup::ProviderSetup;
use sync_engine::{Worker, WorkerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let database_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://slotwise.db".to_owned());
    let mut cipher = store::TokenCipher::from_env().context("read SLOTWISE_ENCRYPTION_KEY")?;
    // After a key rotation, older keys still decrypt the values not yet re-encrypted (the
    // api-server rewrites them at start-up; this worker only reads them).
    let previous = std::env::var("SLOTWISE_ENCRYPTION_KEY_PREVIOUS").unwrap_or_default();
    for (i, key) in previous.split(',').map(str::trim).filter(|k| !k.is_empty()).enumerate() {
        cipher = cipher.with_previous_key(&key.to_owned().into()).with_context(|| {
            format!("SLOTWISE_ENCRYPTION_KEY_PREVIOUS: key {} is not 32 bytes encoded as base64", i + 1)
        })?;
    }
    let store = store::Store::connect(&database_url, cipher).await.context("open the database")?;
    let public_url = std::env::var("SLOTWISE_PUBLIC_URL").ok().filter(|url| !url.is_empty());
    let setup = ProviderSetup::from_env(public_url.as_deref().unwrap_or("http://127.0.0.1:8080"))?;
    if setup.google.is_none() && setup.outlook.is_none() {
        tracing::warn!("neither GOOGLE_CLIENT_ID nor MICROSOFT_CLIENT_ID is set: no calendar will be synced");
    }
    let providers = setup.providers()?;
    let worker_id = std::env::var("SLOTWISE_WORKER_ID")
        .unwrap_or_else(|_| format!("sync-worker-{}-{}", std::process::id(), store::JobId::generate()));
    let mut config = WorkerConfig::new(worker_id);
    config.public_url = public_url;
    if let Some(secs) = env_number("SLOTWISE_WORKER_LEASE_SECS")? {
        config.lease = i64::try_from(secs)
            .ok()
            .filter(|&secs| secs > 0)
            .and_then(chrono::TimeDelta::try_seconds)
            .context("SLOTWISE_WORKER_LEASE_SECS must be a positive number of seconds")?;
    }
    if let Some(millis) = env_number("SLOTWISE_WORKER_POLL_MS")? {
        config.poll_interval = std::time::Duration::from_millis(millis);
    }
    let worker = Worker::new(store, Arc::new(providers), config);

    if let Ok(bind) = std::env::var("SLOTWISE_WORKER_BIND") {
        let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("bind {bind}"))?;
        tracing::info!(address = %listener.local_addr()?, "health endpoint listening");
        tokio::spawn(serve_health(listener));
    }
    worker.run(shutdown_signal()).await.context("run the sync worker")
}

/// A whole number from the environment variable `name`, `None` when unset or empty.
fn env_number(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map(Some).with_context(|| format!("{name} must be a whole number, not {value:?}"))
        }
        _ => Ok(None),
    }
}

/// Answers every request with `200 ok` (a liveness probe: the process is up).
async fn serve_health(listener: tokio::net::TcpListener) {
    while let Ok((mut socket, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut request = [0_u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                .await;
        });
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
