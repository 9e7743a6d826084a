//! The store's error type.

use crate::secrets::CryptoError;

/// Everything a store call can fail with.
///
/// Callers map `NotFound` to 404 (or 400 for ids named in a body), `SlotTaken` and
/// `Conflict` to 409, and everything else to a 5xx whose detail is logged, not returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No row of that kind with that id exists for this tenant.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked up (`"booking"`, `"service"`, ...).
        entity: &'static str,
    },
    /// The requested interval overlaps a confirmed booking of the employee (with buffers).
    #[error("the slot is taken")]
    SlotTaken,
    /// The write contradicts the current state (a unique key exists, a cancelled
    /// booking cannot be rescheduled, a lease was lost, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A value handed to the store is not acceptable (for example `end <= start`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The URL names neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    /// A stored value could not be decoded (a bug or a hand-edited row).
    #[error("corrupt stored value in {column}: {detail}")]
    Corrupt {
        /// The column holding the value.
        column: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Encrypting or decrypting a secret failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Applying the migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

/// The PostgreSQL exclusion constraint that forbids overlapping confirmed bookings.
pub(crate) const NO_OVERLAP_CONSTRAINT: &str = "bookings_no_overlap";

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(db) = error.as_database_error() {
            // 23P01 exclusion_violation: the last line of defence on PostgreSQL.
            if db.code().as_deref() == Some("23P01") && db.constraint() == Some(NO_OVERLAP_CONSTRAINT) {
                return StoreError::SlotTaken;
            }
            if db.is_unique_violation() {
                return StoreError::Conflict(format!(
                    "duplicate key{}",
                    db.constraint().map(|c| format!(" ({c})")).unwrap_or_default()
                ));
            }
        }
        StoreError::Database(error)
    }
}

/// Shorthand for results of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
