//! The crate's one error type.

use calendar_provider::ProviderError;
use store::{Provider, StoreError};

/// Why the engine could not do its part. Provider failures are not errors of the engine:
/// they end up on the job or the connection (retried, dead, revoked) and in the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The database failed or refused.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No implementation was configured for a connection's provider.
    #[error("no calendar provider is configured for {}", .0.as_str())]
    NoProvider(Provider),
    /// The provider refused or failed an inbound sync (already recorded on the connection).
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
}

/// `Result` with [`SyncError`].
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
