//! Between stored connections and the provider's [`TokenSet`].

use calendar_provider::{ProviderError, TokenSet};
use chrono::{DateTime, TimeDelta, Utc};
use store::{CalendarConnection, Store};

use crate::error::Result;
use crate::worker::Worker;

/// The tokens of a connection as the provider wants them. A connection stored without
/// an expiry is treated as valid for an hour: the provider refreshes on the first 401.
pub(crate) fn token_set(connection: &CalendarConnection, now: DateTime<Utc>) -> TokenSet {
    TokenSet {
        access_token: connection.access_token.clone(),
        refresh_token: connection.refresh_token.clone(),
        expires_at: connection.token_expires_at.unwrap_or(now + TimeDelta::hours(1)),
        scopes: Vec::new(),
    }
}

/// Persists `after` when the provider refreshed the tokens during a call. Runs whether
/// the call succeeded or not: a refresh that happened before a failure must not be lost.
pub(crate) async fn persist_if_changed(
    store: &Store,
    connection: &CalendarConnection,
    before: &TokenSet,
    after: &TokenSet,
) -> Result<()> {
    if before.same_tokens(after) {
        return Ok(());
    }
    tracing::debug!(connection = %connection.id, "persisting refreshed tokens");
    store
        .update_connection_tokens(
            &connection.tenant_id,
            &connection.id,
            &after.access_token,
            after.refresh_token.as_ref(),
            Some(after.expires_at),
        )
        .await?;
    Ok(())
}

impl Worker {
    /// Refreshes the access tokens of active connections that expire within
    /// `token_refresh_margin` (idle connections too: a token is never found dead at
    /// the moment a booking needs it); returns (refreshed, failed). A dead grant marks
    /// the connection `revoked`. At most once per `channel_check_interval` per worker.
    #[tracing::instrument(skip_all, fields(worker = %self.config.worker_id))]
    pub async fn refresh_tokens_at(&self, now: DateTime<Utc>) -> Result<(usize, usize)> {
        if !self.check_due(&self.last_token_check, now) {
            return Ok((0, 0));
        }
        let due = self
            .store
            .connections_with_expiring_tokens(now + self.config.token_refresh_margin, self.config.sync_batch_size)
            .await?;
        let (mut refreshed, mut failed) = (0, 0);
        for connection in &due {
            let Some(provider) = self.providers.provider(connection.provider) else {
                failed += 1;
                continue;
            };
            let tokens = token_set(connection, now);
            match provider.refresh(&tokens).await {
                Ok(fresh) => {
                    persist_if_changed(&self.store, connection, &tokens, &fresh).await?;
                    refreshed += 1;
                }
                Err(error) => {
                    failed += 1;
                    tracing::warn!(connection = %connection.id, %error, "token refresh failed");
                    if let ProviderError::Revoked(_) = &error {
                        self.mark_revoked(connection, &error.to_string()).await?;
                    }
                }
            }
        }
        Ok((refreshed, failed))
    }
}
