//! `sync-worker`: runs the sync engine as its own process.
//!
//! Reads `DATABASE_URL`, `SLOTWISE_ENCRYPTION_KEY` and the `GOOGLE_*` variables (see
//! `providers_google::GoogleConfig::from_env`), optionally `SLOTWISE_WORKER_ID` and
//! `SLOTWISE_WORKER_BIND` (then it answers `GET /healthz` there), and runs until SIGTERM
//! or Ctrl-C. With `SLOTWISE_GOOGLE_PUSH_URL` (the api-server's Google webhook URL) it also
//! registers and renews push channels. Any number of workers may share one PostgreSQL
//! database.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use providers_google::{GoogleConfig, GoogleProvider};
use sync_engine::{StaticProviders, Worker, WorkerConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();

    let database_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://slotwise.db".to_owned());
    let cipher = store::TokenCipher::from_env().context("read SLOTWISE_ENCRYPTION_KEY")?;
    let store = store::Store::connect(&database_url, cipher).await.context("open the database")?;
    let google = GoogleProvider::new(GoogleConfig::from_env().context("read the GOOGLE_* settings")?)
        .context("build the Google provider")?;
    let providers = StaticProviders::new().with(store::Provider::Google, Arc::new(google));
    let worker_id = std::env::var("SLOTWISE_WORKER_ID")
        .unwrap_or_else(|_| format!("sync-worker-{}-{}", std::process::id(), store::JobId::generate()));
    let mut config = WorkerConfig::new(worker_id);
    config.push_address = std::env::var("SLOTWISE_GOOGLE_PUSH_URL").ok().filter(|url| !url.is_empty());
    let worker = Worker::new(store, Arc::new(providers), config);

    if let Ok(bind) = std::env::var("SLOTWISE_WORKER_BIND") {
        let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("bind {bind}"))?;
        tracing::info!(address = %listener.local_addr()?, "health endpoint listening");
        tokio::spawn(serve_health(listener));
    }
    worker.run(shutdown_signal()).await.context("run the sync worker")
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
