//! `notifications` tells people and systems about booking changes: emails to the
//! customer and the employee (text and HTML in the recipient's zone, with an RFC 5545
//! invitation), and signed webhook deliveries to tenants' endpoints.
//!
//! # Where it sits
//! Above `store`, beside the api-server, which writes the outbox rows this crate reads
//! (in the booking's own transaction) and can run the [`Worker`] in-process. It knows
//! nothing of HTTP routing or of the availability engine.
//!
//! # Key types
//! - [`payload`]: what an outbox row carries ([`payload::EmailPayload`], the booking
//!   snapshot) — the contract between whoever enqueues and the worker.
//! - [`email`]: rendering ([`email::render`]), the `.ics` ([`ics::invitation`]) and
//!   sending ([`Mailer`]: SMTP via `SMTP_URL`, or `.eml` files in a spool folder).
//! - [`webhook`]: Standard Webhooks signing ([`webhook::sign`], [`webhook::verify`]),
//!   the SSRF guard ([`webhook::UrlPolicy`]) and one delivery attempt.
//! - [`Worker`]: claims notification jobs, sends them, records the outcome;
//!   [`Worker::run_once`] for tests, [`Worker::run`] until a shutdown signal.
//!
//! # Guarantees
//! At least once: a job is marked done only after the send succeeded, so a crash in
//! between sends it again. Repeats carry the same identity (the job id is the email's
//! `Message-ID` and the webhook's `webhook-id`, the spool file's name), so receivers can
//! drop duplicates.
//!
//! # Example
//! ```
//! let secret = notifications::webhook::generate_secret();
//! let signature = notifications::webhook::sign(&secret, "msg_1", 1_700_000_000, b"{}").unwrap();
//! assert!(notifications::webhook::verify(&secret, "msg_1", 1_700_000_000, b"{}", &signature).unwrap());
//! ```
#![warn(missing_docs)]

pub mod email;
pub mod ics;
pub mod payload;
pub mod webhook;
mod worker;

pub use email::Mailer;
/// Email addresses with display names (`Name <addr>`), as the worker's sender takes them.
pub use lettre::message::Mailbox;
pub use worker::{Worker, WorkerSettings};

/// Everything sending a notification can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The outbox row cannot be turned into a message (a bug or a hand-edited row):
    /// retrying will not help.
    #[error("invalid notification: {0}")]
    Invalid(String),
    /// A template failed to render.
    #[error("template {name}: {source}")]
    Template {
        /// The template's name.
        name: &'static str,
        /// What went wrong.
        #[source]
        source: minijinja::Error,
    },
    /// Building the MIME message failed (a bad address, usually).
    #[error("email: {0}")]
    Email(String),
    /// The SMTP server refused or could not be reached.
    #[error("smtp: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// `SMTP_URL` is not a URL lettre understands.
    #[error("SMTP_URL: {0}")]
    SmtpUrl(String),
    /// Writing to the mail spool failed.
    #[error("mail spool {path}: {source}")]
    Spool {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A webhook URL or its address is not allowed (see [`webhook::UrlPolicy`]).
    #[error("webhook url refused: {0}")]
    Refused(String),
    /// A webhook's host could not be resolved (may pass: retried).
    #[error("webhook host: {0}")]
    Resolve(String),
    /// A webhook secret is not `whsec_<base64>`.
    #[error("malformed webhook secret")]
    Secret,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

impl Error {
    /// Whether a retry cannot succeed (the job should be given up at once).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::Template { .. } | Self::Email(_) | Self::Refused(_) | Self::Secret => true,
            Self::Smtp(e) => e.is_permanent(),
            _ => false,
        }
    }
}

/// Shorthand for this crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
