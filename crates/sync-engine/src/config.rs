//! The worker's settings: one typed struct, passed explicitly.

use std::time::Duration;

use chrono::TimeDelta;
use store::RetryPolicy;

/// How a [`Worker`](crate::Worker) claims, retries and syncs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// This worker's id, written into the leases it holds (unique per process).
    pub worker_id: String,
    /// How long a claimed job is ours; a crashed worker's jobs are due again after it.
    pub lease: TimeDelta,
    /// Jobs claimed per round.
    pub batch_size: u32,
    /// Attempts before `dead`, and the backoff ceiling per attempt (the wait is drawn
    /// uniformly from `[0, backoff(attempts)]`: full jitter).
    pub retry: RetryPolicy,
    /// Shortest wait before a failed job is tried again (full jitter may draw zero).
    pub min_retry_wait: TimeDelta,
    /// How long a job waits when an earlier job of the same booking and calendar is
    /// still unfinished.
    pub defer_wait: TimeDelta,
    /// Pause between rounds of [`Worker::run`](crate::Worker::run) when there was nothing to do.
    pub poll_interval: Duration,
    /// A connection is synced again when its last successful sync is this old (the
    /// safety resync; push notifications only make it sooner once the webhook exists).
    pub resync_interval: TimeDelta,
    /// Pause before a connection whose last sync failed is tried again.
    pub failed_sync_retry: TimeDelta,
    /// Connections synced per round.
    pub sync_batch_size: u32,
    /// How far back a full sync reads.
    pub sync_past: TimeDelta,
    /// How far ahead a full sync reads.
    pub sync_horizon: TimeDelta,
    /// The api-server's public base URL (`SLOTWISE_PUBLIC_URL`): providers post push
    /// notifications to `{public_url}/api/calendar/webhooks/{google|outlook}`. `None`
    /// (the default) registers no channels; the periodic resync then carries all changes.
    pub public_url: Option<String>,
    /// Lifetime asked for a new channel (the provider may shorten it).
    pub channel_ttl: Duration,
    /// A channel is renewed when it expires within this margin.
    pub channel_renewal_margin: TimeDelta,
    /// Access tokens expiring within this margin are refreshed ahead of use.
    pub token_refresh_margin: TimeDelta,
    /// How long an OAuth `state` handed out by `start_connect` stays valid.
    pub oauth_state_ttl: TimeDelta,
    /// Pause between two looks for channels to register or renew (a provider that keeps
    /// refusing a channel is asked once per pause, not once per poll).
    pub channel_check_interval: TimeDelta,
}

impl WorkerConfig {
    /// Where `provider` posts push notifications, when a public URL is configured.
    pub fn push_address(&self, provider: store::Provider) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|base| format!("{}/api/calendar/webhooks/{}", base.trim_end_matches('/'), provider.as_str()))
    }

    /// Defaults: 60 s lease, 20 jobs a round, 8 attempts with 30 s … 1 h backoff,
    /// 1 s poll, a resync every 5 minutes, full syncs from a day ago to 400 days ahead,
    /// no push channels (7-day channels renewed a day before expiry once `public_url` is set).
    pub fn new(worker_id: impl Into<String>) -> Self {
        Self {
            worker_id: worker_id.into(),
            lease: TimeDelta::seconds(60),
            batch_size: 20,
            retry: RetryPolicy::default(),
            min_retry_wait: TimeDelta::seconds(1),
            defer_wait: TimeDelta::seconds(2),
            poll_interval: Duration::from_secs(1),
            resync_interval: TimeDelta::minutes(5),
            failed_sync_retry: TimeDelta::minutes(1),
            sync_batch_size: 20,
            sync_past: TimeDelta::days(1),
            sync_horizon: TimeDelta::days(400),
            public_url: None,
            channel_ttl: Duration::from_secs(7 * 24 * 3600),
            channel_renewal_margin: TimeDelta::days(1),
            channel_check_interval: TimeDelta::minutes(1),
            oauth_state_ttl: TimeDelta::minutes(10),
            token_refresh_margin: TimeDelta::minutes(10),
        }
    }
}
