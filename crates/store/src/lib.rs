//! `store` owns every byte slotwise keeps: one schema on SQLite (the zero-set-up
//! default) and PostgreSQL (several api-server and sync-worker processes on one
//! database), behind one [`Store`] handle.
//!
//! # Where it sits
//! Below the api-server and the sync-worker, beside `availability-core`, which it does
//! not depend on: [`Store::load_availability_inputs`] returns plain rows (JSON hours,
//! intervals) that the caller converts into the engine's types. No SQL exists outside
//! this crate.
//!
//! # Key types
//! - [`Store`]: opened with [`Store::connect`] from `sqlite://…` or `postgres://…`;
//!   runs the matching migration set; repository methods grouped by aggregate
//!   (tenants, catalogue, schedules, bookings, idempotency, connections, queues).
//! - Typed ids ([`TenantId`], [`BookingId`], …). Every method takes the tenant id and
//!   filters by it: another tenant's id is simply not found.
//! - [`StoreError`]: `NotFound`, `SlotTaken`, `Conflict`, … for callers to map to HTTP.
//! - [`TokenCipher`]: AES-256-GCM for OAuth tokens and channel secrets at rest.
//! - [`Queue`]: the outbox of calendar sync events and notifications, with leases.
//! - [`WebhookEndpoint`]: tenants' outgoing webhook endpoints (secrets encrypted) and
//!   their delivery log.
//!
//! # Invariants
//! - No two confirmed bookings of one employee overlap, buffers included, whatever the
//!   concurrency: bookings are written in one transaction that re-checks the slot; on
//!   SQLite writers are serialised by `BEGIN IMMEDIATE`, on PostgreSQL an exclusion
//!   constraint (`bookings_no_overlap`) is the last line of defence.
//! - All queries are checked at run time (`sqlx::query` with binds), so the crate builds
//!   with no database at compile time.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), store::StoreError> {
//! let cipher = store::TokenCipher::from_env()?;
//! let store = store::Store::connect("sqlite://slotwise.db?mode=rwc", cipher).await?;
//! let (tenant, api_key) = store.create_tenant("Salon", "Europe/Berlin").await?;
//! assert_eq!(store.tenant_by_api_key(&api_key).await?.unwrap().id, tenant.id);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod availability;
mod backend;
mod bookings;
mod catalogue;
mod connections;
mod error;
mod idempotency;
mod ids;
mod oauth;
mod queue;
mod rotation;
mod schedules;
mod secrets;
mod sessions;
mod tenants;
mod webhooks;

use std::str::FromStr as _;
use std::time::Duration;

use backend::Backend;

pub use availability::{AvailabilityInputs, BusyBooking, BusyExternalEvent, CalendarFreshness, EmployeeInputs};
pub use bookings::{
    Actor, BOOKING_SNAPSHOT_KEY, Booking, BookingFilter, BookingStatus, CancelBooking, Customer, HistoryAction,
    HistoryEntry, NewBooking, NewNotification, RescheduleBooking, SlotRef, SyncedWrite,
};
pub use catalogue::{Employee, NewEmployee, NewService, Service};
pub use connections::{
    CalendarConnection, ChannelRecord, ConnectionStatus, ExternalEvent, NewCalendarConnection, OAuthState, Provider,
};
pub use error::{Result, StoreError};
pub use idempotency::{IdempotencyBegin, IdempotencyCompletion, IdempotencyRecord};
pub use ids::{
    ApiKeyId, BookingId, ConnectionId, DeliveryId, EmployeeId, HistoryId, HolidayId, InvalidId, JobId, ServiceId,
    SpecialDateId, TenantId, TimeOffId, WebhookId,
};
pub use queue::{Job, JobDetails, JobStatus, Notification, Queue, QueueKind, RetryPolicy, SyncEvent, SyncOperation};
pub use schedules::{BulkEdit, Holiday, HoursInput, NewTimeOff, SpecialDate, TimeOff, WeeklyHours};
pub use secrets::{CryptoError, ENCRYPTION_KEY_VAR, TokenCipher, generate_api_key, hash_api_key, sha256_hex};
pub use sessions::DashboardSession;
pub use tenants::{StaleCalendarPolicy, Tenant};
pub use webhooks::{NewWebhookDelivery, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint};

/// Pool settings for [`Store::connect_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Most connections the pool opens (default 8 on SQLite, 16 on PostgreSQL).
    pub max_connections: Option<u32>,
    /// How long a caller waits for a pool connection or, on SQLite, for the write lock.
    pub wait_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { max_connections: None, wait_timeout: Duration::from_secs(30) }
    }
}

impl StoreOptions {
    /// Sets [`max_connections`](Self::max_connections).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max);
        self
    }
}

/// The handle to slotwise's database. Cheap to clone (a pool and a key).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    cipher: TokenCipher,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://path?mode=rwc` or `postgres://…`)
    /// and applies any pending migrations.
    ///
    /// `cipher` encrypts calendar tokens and channel secrets on their way in and out.
    pub async fn connect(url: &str, cipher: TokenCipher) -> Result<Self> {
        Self::connect_with(url, cipher, StoreOptions::default()).await
    }

    /// [`connect`](Self::connect) with pool settings.
    #[tracing::instrument(skip_all)]
    pub async fn connect_with(url: &str, cipher: TokenCipher, options: StoreOptions) -> Result<Self> {
        let backend = if url.starts_with("sqlite:") {
            let connect = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(options.wait_timeout)
                .foreign_keys(true)
                // `sqlite://slotwise.db` must work on a fresh machine with no set-up.
                .create_if_missing(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(options.max_connections.unwrap_or(8))
                .acquire_timeout(options.wait_timeout)
                .connect_with(connect)
                .await?;
            sqlx::migrate!("../../migrations/sqlite").run(&pool).await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = sqlx::postgres::PgConnectOptions::from_str(url)?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(options.max_connections.unwrap_or(16))
                .acquire_timeout(options.wait_timeout)
                .connect_with(connect)
                .await?;
            sqlx::migrate!("../../migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Self { backend, cipher })
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The cipher used for secrets at rest.
    pub fn cipher(&self) -> &TokenCipher {
        &self.cipher
    }

    /// Checks that the cipher can read the secrets already stored (one calendar
    /// token and one webhook secret, if any exist), so a wrong
    /// `SLOTWISE_ENCRYPTION_KEY` stops start-up instead of failing later.
    pub async fn check_cipher(&self) -> Result<()> {
        let samples: Vec<String> = backend::dispatch!(self, pool => {
            let mut found = Vec::new();
            for sql in [
                "SELECT access_token AS secret FROM calendar_connections LIMIT 1",
                "SELECT secret FROM webhook_endpoints LIMIT 1",
            ] {
                if let Some(row) = sqlx::query(sql).fetch_optional(pool).await? {
                    found.push(backend::DbRow::text(&row, "secret")?);
                }
            }
            found
        });
        for stored in samples {
            self.cipher.decrypt(&stored)?;
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        backend::dispatch!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
