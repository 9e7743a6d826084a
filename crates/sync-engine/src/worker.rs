//! The [`Worker`]: rounds of outbound jobs, then due inbound syncs.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use store::Store;

use crate::config::WorkerConfig;
use crate::error::{Result, SyncError};
use crate::factory::ProviderFactory;
use crate::outbound::JobOutcome;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Jobs claimed.
    pub claimed: usize,
    /// Jobs whose provider write succeeded.
    pub synced: usize,
    /// Jobs that needed no write.
    pub skipped: usize,
    /// Jobs handed back to wait for an earlier job of the same booking and calendar.
    pub deferred: usize,
    /// Jobs that failed and will be retried.
    pub retrying: usize,
    /// Jobs given up.
    pub dead: usize,
    /// Jobs whose lease ran out before the result was recorded.
    pub lease_lost: usize,
    /// Jobs left to their lease after a store failure.
    pub errors: usize,
    /// Connections synced successfully.
    pub connections_synced: usize,
    /// Connection syncs that failed.
    pub connection_errors: usize,
    /// Push channels registered or renewed.
    pub channels_renewed: usize,
    /// Push channel registrations that failed.
    pub channel_errors: usize,
    /// Access tokens refreshed ahead of expiry.
    pub tokens_refreshed: usize,
    /// Token refreshes that failed.
    pub token_errors: usize,
}

impl Report {
    /// Whether the round found nothing to do.
    pub fn is_idle(&self) -> bool {
        self.claimed == 0
            && self.connections_synced == 0
            && self.connection_errors == 0
            && self.channels_renewed == 0
            && self.channel_errors == 0
            && self.tokens_refreshed == 0
            && self.token_errors == 0
    }

    fn count(&mut self, outcome: &JobOutcome) {
        match outcome {
            JobOutcome::Synced => self.synced += 1,
            JobOutcome::Skipped(_) => self.skipped += 1,
            JobOutcome::Deferred => self.deferred += 1,
            JobOutcome::Retrying => self.retrying += 1,
            JobOutcome::Dead => self.dead += 1,
            JobOutcome::LeaseLost => self.lease_lost += 1,
        }
    }

    fn add(&mut self, other: &Report) {
        self.claimed += other.claimed;
        self.synced += other.synced;
        self.skipped += other.skipped;
        self.deferred += other.deferred;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.lease_lost += other.lease_lost;
        self.errors += other.errors;
        self.connections_synced += other.connections_synced;
        self.connection_errors += other.connection_errors;
        self.channels_renewed += other.channels_renewed;
        self.channel_errors += other.channel_errors;
        self.tokens_refreshed += other.tokens_refreshed;
        self.token_errors += other.token_errors;
    }
}

/// One sync worker: claims calendar-sync jobs with a lease and writes them to the
/// providers, then syncs the connections that are due. Any number of workers (with
/// different ids) may share one PostgreSQL database.
pub struct Worker {
    pub(crate) store: Store,
    pub(crate) providers: Arc<dyn ProviderFactory>,
    pub(crate) config: WorkerConfig,
    /// When this worker last looked for channels to renew.
    pub(crate) last_channel_check: Mutex<Option<DateTime<Utc>>>,
    /// When this worker last looked for tokens to refresh.
    pub(crate) last_token_check: Mutex<Option<DateTime<Utc>>>,
    /// Wakes [`Worker::run`] before its poll pause ends (a push notification arrived).
    wake: tokio::sync::Notify,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").field("store", &self.store.backend_name()).field("config", &self.config).finish()
    }
}

impl Worker {
    /// A worker over `store` using `providers`.
    pub fn new(store: Store, providers: Arc<dyn ProviderFactory>, config: WorkerConfig) -> Self {
        Self {
            store,
            providers,
            config,
            last_channel_check: Mutex::new(None),
            last_token_check: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Starts the next round of [`run`](Self::run) now instead of after the poll pause
    /// (called in-process after a push notification asked for a sync). A worker in
    /// another process finds the request on its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether a periodic check gated by `last` is due at `now` (at most once per
    /// `channel_check_interval`); records `now` when it is.
    pub(crate) fn check_due(&self, last: &Mutex<Option<DateTime<Utc>>>, now: DateTime<Utc>) -> bool {
        let mut last = last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|last| now < last + self.config.channel_check_interval) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Marks a connection `revoked` with the provider's words (a dead grant: the user
    /// must connect again; nothing is retried for it).
    pub(crate) async fn mark_revoked(&self, connection: &store::CalendarConnection, error: &str) -> Result<()> {
        self.store
            .record_connection_sync(
                &connection.tenant_id,
                &connection.id,
                store::ConnectionStatus::Revoked,
                None,
                Some(error),
            )
            .await?;
        Ok(())
    }

    /// The store it works on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The provider implementations it uses.
    pub fn providers(&self) -> &Arc<dyn ProviderFactory> {
        &self.providers
    }

    /// Its settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// One round now: a batch of due jobs, then the due connection syncs, then the push
    /// channels that are missing or about to expire, then access tokens about to expire.
    pub async fn run_once(&self) -> Result<Report> {
        self.run_once_at(Utc::now()).await
    }

    /// [`run_once`](Self::run_once) with an explicit clock (leases, backoff and due
    /// times are computed from `now`; tests move it forward instead of sleeping).
    pub async fn run_once_at(&self, now: DateTime<Utc>) -> Result<Report> {
        let mut report = self.process_due_jobs_at(now).await?;
        report.add(&self.sync_due_connections_at(now).await?);
        let (renewed, failed) = self.renew_channels_at(now).await?;
        report.channels_renewed = renewed;
        report.channel_errors = failed;
        let (refreshed, failed) = self.refresh_tokens_at(now).await?;
        report.tokens_refreshed = refreshed;
        report.token_errors = failed;
        Ok(report)
    }

    /// Claims up to `batch_size` due jobs and processes them in order.
    #[tracing::instrument(skip_all, fields(worker = %self.config.worker_id))]
    pub async fn process_due_jobs_at(&self, now: DateTime<Utc>) -> Result<Report> {
        let jobs =
            self.queue().claim_due_at(&self.config.worker_id, self.config.batch_size, self.config.lease, now).await?;
        let mut report = Report { claimed: jobs.len(), ..Report::default() };
        for job in &jobs {
            match self.process_job(job, now).await {
                Ok(outcome) => report.count(&outcome),
                Err(error) => {
                    // The lease runs out and the job is claimed again; the write is idempotent.
                    tracing::error!(job = %job.id, %error, "calendar sync job left to its lease");
                    report.errors += 1;
                }
            }
        }
        Ok(report)
    }

    /// Claims and syncs the connections that are due: a push notification asked for it,
    /// never synced, last synced `resync_interval` ago, or failed `failed_sync_retry` ago.
    /// A claimed connection is this worker's until `lease` runs out, so no two workers
    /// sync one connection at a time.
    #[tracing::instrument(skip_all, fields(worker = %self.config.worker_id))]
    pub async fn sync_due_connections_at(&self, now: DateTime<Utc>) -> Result<Report> {
        let due = self
            .store
            .claim_connection_syncs(
                &self.config.worker_id,
                now,
                self.config.lease,
                now - self.config.resync_interval,
                now - self.config.failed_sync_retry,
                self.config.sync_batch_size,
            )
            .await?;
        let mut report = Report::default();
        for connection in &due {
            let result = self.sync_connection_at(connection, now).await;
            if let Err(error) = self.store.release_connection_sync(connection, &self.config.worker_id).await {
                // The claim runs out with its lease.
                tracing::error!(connection = %connection.id, %error, "could not release a connection sync");
            }
            match result {
                Ok(_) => report.connections_synced += 1,
                Err(SyncError::Provider(_)) => report.connection_errors += 1,
                Err(error) => {
                    tracing::error!(connection = %connection.id, %error, "calendar sync failed");
                    report.connection_errors += 1;
                }
            }
        }
        Ok(report)
    }

    /// Runs rounds until `shutdown` completes, pausing `poll_interval` after an idle
    /// round. A round in progress is finished before it stops (stopping mid-round would
    /// also be safe: leases expire and writes are idempotent).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut shutdown = std::pin::pin!(shutdown);
        tracing::info!(worker = %self.config.worker_id, "sync worker started");
        loop {
            let idle = match self.run_once().await {
                Ok(report) => {
                    if !report.is_idle() {
                        tracing::debug!(?report, "sync round");
                    }
                    report.is_idle()
                }
                Err(error) => {
                    tracing::error!(%error, "sync round failed");
                    true
                }
            };
            let pause = if idle { self.config.poll_interval } else { std::time::Duration::ZERO };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(worker = %self.config.worker_id, "sync worker stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The api-server will `tokio::spawn` the loop: its future must be `Send`.
    fn run_future_is_send(worker: &Worker) -> impl Future<Output = Result<()>> + Send + '_ {
        worker.run(std::future::pending::<()>())
    }

    #[test]
    fn the_loop_can_be_spawned() {
        let _ = run_future_is_send;
    }

    #[test]
    fn a_round_with_nothing_done_is_idle() {
        assert!(Report::default().is_idle());
        let mut report = Report::default();
        report.count(&JobOutcome::Deferred);
        report.claimed = 1;
        assert!(!report.is_idle() && report.deferred == 1);
    }
}
