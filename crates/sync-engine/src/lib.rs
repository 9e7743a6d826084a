//! The sync engine of slotwise: turns the calendar outbox into calendar reality, and
//! external calendar changes into busy time — reliably.
//!
//! # Where it sits
//! Between the store (outbox rows, connections, bookings, external events) and the
//! calendar providers, which it knows only through the `calendar-provider` trait: the
//! binaries (`bins/sync-worker`, later the api-server in-process) choose the
//! implementations through a [`ProviderFactory`]. It must not depend on a provider crate,
//! on HTTP or on SQL.
//!
//! # Key types
//! - [`Worker`]: [`Worker::run_once`] (one round, for tests and tools) and
//!   [`Worker::run`] (rounds until shutdown). A round claims due calendar-sync jobs with a
//!   lease, writes them to the provider with idempotent ids, records the outcome (event
//!   id, refreshed tokens, booking history, retry with full-jitter backoff or `dead`),
//!   then syncs the connections that are due ([`Worker::sync_connection`]) and, with a
//!   push address configured, registers or renews push channels before they expire.
//! - Connecting calendars ([`Worker::start_connect`], [`Worker::complete_connect`],
//!   [`Worker::disconnect`]) and reacting to verified push notifications
//!   ([`Worker::request_sync`] and friends): the api-server's calendar routes call these.
//! - [`WorkerConfig`]: worker id, lease, batch size, retry policy, sync window.
//! - [`ProviderFactory`] / [`StaticProviders`]: which implementation serves which provider.
//! - [`Report`], [`JobOutcome`], [`SyncReport`]: what a round did.
//! - [`SyncError`]: store failures (the job's lease then runs out and it is retried),
//!   a missing provider, or a provider failure of an inbound sync.
//!
//! # Why it is built this way
//! Every guarantee rests on two facts: a provider write is idempotent (the event id is
//! derived from the booking id), and a job is only marked done after its write. So a
//! worker may die anywhere: the job's lease runs out, another round redoes the write and
//! finds the event already there. The ordering, retry and conflict rules are in
//! `docs/sync.md`.
//!
//! ```no_run
//! # async fn demo(store: store::Store, google: std::sync::Arc<dyn calendar_provider::CalendarProvider>)
//! # -> Result<(), sync_engine::SyncError> {
//! use std::sync::Arc;
//! use sync_engine::{StaticProviders, Worker, WorkerConfig};
//!
//! let providers = StaticProviders::new().with(store::Provider::Google, google);
//! let worker = Worker::new(store, Arc::new(providers), WorkerConfig::new("worker-1"));
//! let report = worker.run_once().await?;
//! println!("{} calendar writes", report.synced);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod channels;
mod config;
mod connect;
mod error;
mod factory;
mod inbound;
mod outbound;
mod push;
mod tokens;
mod worker;

pub use config::WorkerConfig;
pub use connect::{CallbackParams, ConnectError};
pub use error::{Result, SyncError};
pub use factory::{ProviderFactory, StaticProviders};
pub use inbound::SyncReport;
pub use outbound::{JobOutcome, outgoing_event};
pub use worker::{Report, Worker};
