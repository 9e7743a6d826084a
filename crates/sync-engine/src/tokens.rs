//! Between stored connections and the provider's [`TokenSet`].

use calendar_provider::TokenSet;
use chrono::{DateTime, TimeDelta, Utc};
use store::{CalendarConnection, Store};

use crate::error::Result;

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
