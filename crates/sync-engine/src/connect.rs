//! Connecting and disconnecting calendars: OAuth state, PKCE and the first sync around
//! the provider trait. The HTTP routes only parse and answer.
//!
//! A connection starts with [`Worker::start_connect`]: a random `state` (32 bytes)
//! bound in the store to tenant, employee and provider with the PKCE verifier, valid for
//! [`WorkerConfig::oauth_state_ttl`](crate::WorkerConfig::oauth_state_ttl). The
//! provider's redirect comes back to [`Worker::complete_connect`], which consumes the
//! state (a replay finds nothing), refuses an expired one, exchanges the code with the
//! verifier, stores the tokens encrypted, registers the push channel when a public URL
//! is configured and asks for the first sync.

use calendar_provider::{PkceVerifier, ProviderError, WatchChannel};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use store::{CalendarConnection, EmployeeId, NewCalendarConnection, Provider, StoreError, TenantId};

use crate::tokens::token_set;
use crate::worker::Worker;

/// Why a calendar could not be connected or disconnected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// This deployment has no client for the provider (its client id is not set).
    #[error("{} calendars are not configured on this server", .0.as_str())]
    NotConfigured(Provider),
    /// The callback's `state` is missing, unknown, forged or already used.
    #[error("the authorization state is unknown or was already used")]
    UnknownState,
    /// The callback's `state` is older than its lifetime.
    #[error("the authorization state has expired; start the connection again")]
    ExpiredState,
    /// The user or the provider refused the authorization (`error=access_denied`, ...).
    #[error("the authorization was refused: {error}")]
    Denied {
        /// The provider's `error` value.
        error: String,
    },
    /// The callback carries no `code`.
    #[error("the callback carries no authorization code")]
    MissingCode,
    /// The provider refused the code (wrong verifier, reused or expired code, scopes).
    #[error("the provider refused the authorization code: {0}")]
    Refused(ProviderError),
    /// The provider could not be reached or failed; trying again may work.
    #[error("the provider is unavailable: {0}")]
    Unavailable(ProviderError),
    /// The database failed or refused (an unknown employee or connection is `NotFound`).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What the provider's redirect brought back to the callback.
#[derive(Debug, Clone, Default)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state handed out by [`Worker::start_connect`].
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, `consent_required`, ...).
    pub error: Option<String>,
}

/// 32 random bytes as lowercase hex.
pub(crate) fn random_hex() -> SecretString {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Worker {
    /// Starts connecting `employee`'s calendar at `provider`: returns the authorize URL
    /// to send the user's browser to (state, PKCE S256, offline access, minimal scopes).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, provider = provider.as_str()))]
    pub async fn start_connect(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        provider: Provider,
        now: DateTime<Utc>,
    ) -> Result<String, ConnectError> {
        let client = self.providers.provider(provider).ok_or(ConnectError::NotConfigured(provider))?;
        // An unknown employee is refused before anything is handed out.
        self.store.employee(tenant, employee).await?;
        let state = random_hex();
        let request = client.authorize(state.expose_secret()).map_err(ConnectError::Unavailable)?;
        let verifier = SecretString::from(request.pkce_verifier.secret().to_owned());
        self.store
            .create_oauth_state(tenant, employee, provider, &state, &verifier, now + self.config.oauth_state_ttl)
            .await?;
        Ok(request.url)
    }

    /// Completes a connection from the provider's redirect: consumes the state, exchanges
    /// the code, stores the connection (tokens encrypted; a reconnection replaces the
    /// tokens and the push channel of the same connection), registers its push channel when
    /// [`WorkerConfig::public_url`](crate::WorkerConfig::public_url) is set, and asks for
    /// the first sync. A refusal still consumes the state.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
    pub async fn complete_connect(
        &self,
        provider: Provider,
        params: &CallbackParams,
        now: DateTime<Utc>,
    ) -> Result<CalendarConnection, ConnectError> {
        let client = self.providers.provider(provider).ok_or(ConnectError::NotConfigured(provider))?;
        let state = params.state.as_deref().filter(|s| !s.is_empty()).ok_or(ConnectError::UnknownState)?;
        let pending = self.store.take_oauth_state(provider, state).await?.ok_or(ConnectError::UnknownState)?;
        if pending.expires_at < now {
            return Err(ConnectError::ExpiredState);
        }
        if let Some(error) = &params.error {
            return Err(ConnectError::Denied { error: error.clone() });
        }
        let code = params.code.as_deref().filter(|c| !c.is_empty()).ok_or(ConnectError::MissingCode)?;
        let verifier = PkceVerifier::new(pending.pkce_verifier.expose_secret());
        let tokens = client.exchange_code(code, &verifier).await.map_err(|error| {
            if error.is_retryable() { ConnectError::Unavailable(error) } else { ConnectError::Refused(error) }
        })?;
        let tenant = &pending.tenant_id;
        let previous = self.find_connection(tenant, &pending.employee_id, provider).await?;
        if let Some(old) = &previous {
            // A new grant: the old channel goes; the connection keeps its id (queued
            // calendar writes and mirrored events stay attached to it).
            self.stop_channel(old, now).await;
            self.store.set_connection_channel(tenant, &old.id, None).await?;
        }
        let connection = self
            .store
            .upsert_connection(
                tenant,
                &NewCalendarConnection {
                    employee_id: pending.employee_id.clone(),
                    provider,
                    calendar_id: "primary".to_owned(),
                    access_token: tokens.access_token.clone(),
                    refresh_token: tokens.refresh_token.clone(),
                    token_expires_at: Some(tokens.expires_at),
                },
            )
            .await?;
        tracing::info!(connection = %connection.id, "calendar connected");
        if self.config.public_url.is_some()
            && let Err(error) = self.renew_channel_at(&connection, now).await
        {
            // The periodic channel check tries again; the safety resync covers the gap.
            tracing::warn!(%error, connection = %connection.id, "push channel not registered yet");
        }
        self.store.request_connection_sync(tenant, &connection.id).await?;
        self.wake();
        Ok(self.store.connection(tenant, &connection.id).await?)
    }

    /// Disconnects `employee`'s calendar at `provider`: stops the push channel, revokes
    /// the grant (both best effort: the provider may already have forgotten them) and
    /// forgets the connection and every event it mirrored. Calendar writes still queued
    /// for it are given up when they come due.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, provider = provider.as_str()))]
    pub async fn disconnect(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        provider: Provider,
        now: DateTime<Utc>,
    ) -> Result<CalendarConnection, ConnectError> {
        self.store.employee(tenant, employee).await?;
        let connection = self
            .find_connection(tenant, employee, provider)
            .await?
            .ok_or(StoreError::NotFound { entity: "calendar connection" })?;
        self.stop_channel(&connection, now).await;
        if let Some(client) = self.providers.provider(provider)
            && let Err(error) = client.revoke(&token_set(&connection, now)).await
        {
            tracing::warn!(%error, connection = %connection.id, "could not revoke the grant");
        }
        self.store.delete_connection(tenant, &connection.id).await?;
        tracing::info!(connection = %connection.id, "calendar disconnected");
        Ok(connection)
    }

    async fn find_connection(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        provider: Provider,
    ) -> Result<Option<CalendarConnection>, StoreError> {
        Ok(self.store.list_connections(tenant, Some(employee)).await?.into_iter().find(|c| c.provider == provider))
    }

    /// Stops the connection's push channel, if any; failures are only logged (a channel
    /// expires on its own).
    async fn stop_channel(&self, connection: &CalendarConnection, now: DateTime<Utc>) {
        let (Some(id), Some(secret), Some(client)) =
            (&connection.channel_id, &connection.channel_secret, self.providers.provider(connection.provider))
        else {
            return;
        };
        let channel = WatchChannel {
            channel_id: id.clone(),
            resource_id: connection.channel_resource_id.clone().unwrap_or_default(),
            token: secret.clone(),
            expires_at: connection.channel_expires_at,
        };
        if let Err(error) = client.unwatch(&mut token_set(connection, now), &channel).await {
            tracing::warn!(%error, channel = %id, "could not stop the push channel");
        }
    }
}
