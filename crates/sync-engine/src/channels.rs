//! Push channels: registered for connections that have none, renewed before expiry.
//!
//! A renewal registers a new channel first (new id, new secret), stores it, then stops
//! the old one, so there is no gap in notifications; the old channel is stopped with its
//! stored resource id (or, for a channel stored before resource ids were kept, the new
//! channel's: Google's resource id names the watched collection, the same for both).
//! A failed stop is only logged: the old channel expires on its own.

use calendar_provider::{ProviderError, WatchChannel, WatchRequest};
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::SecretString;
use store::{CalendarConnection, ChannelRecord};

use crate::error::{Result, SyncError};
use crate::tokens::{persist_if_changed, token_set};
use crate::worker::Worker;

/// 32 random bytes as hex: the channel token echoed in every notification.
fn channel_secret() -> SecretString {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

impl Worker {
    /// Registers or renews the push channel of one connection at `now` (needs
    /// [`WorkerConfig::public_url`](crate::WorkerConfig::public_url)); returns the
    /// new channel. A dead grant marks the connection `revoked`.
    #[tracing::instrument(skip_all, fields(tenant = %connection.tenant_id, connection = %connection.id))]
    pub async fn renew_channel_at(&self, connection: &CalendarConnection, now: DateTime<Utc>) -> Result<WatchChannel> {
        let address = self
            .config
            .push_address(connection.provider)
            .ok_or_else(|| ProviderError::Permanent("no push address is configured".into()))?;
        let provider =
            self.providers.provider(connection.provider).ok_or(SyncError::NoProvider(connection.provider))?;
        let mut tokens = token_set(connection, now);
        let before = tokens.clone();
        let request = WatchRequest {
            channel_id: uuid::Uuid::new_v4().to_string(),
            address,
            token: channel_secret(),
            ttl: self.config.channel_ttl,
        };
        let watched = provider.watch(&mut tokens, &connection.calendar_id, &request).await;
        let channel = match watched {
            Ok(channel) => channel,
            Err(error) => {
                persist_if_changed(&self.store, connection, &before, &tokens).await?;
                if let ProviderError::Revoked(_) = &error {
                    self.mark_revoked(connection, &error.to_string()).await?;
                }
                return Err(error.into());
            }
        };
        // Without an expiry from the provider, ask again after one channel lifetime.
        let expires = channel.expires_at.unwrap_or_else(|| {
            now + chrono::TimeDelta::from_std(self.config.channel_ttl).unwrap_or(chrono::TimeDelta::days(1))
        });
        self.store
            .set_connection_channel(
                &connection.tenant_id,
                &connection.id,
                Some(ChannelRecord {
                    id: &channel.channel_id,
                    resource_id: Some(&channel.resource_id).filter(|r| !r.is_empty()).map(String::as_str),
                    secret: &channel.token,
                    expires_at: expires,
                }),
            )
            .await?;
        if let (Some(old_id), Some(old_secret)) = (&connection.channel_id, &connection.channel_secret) {
            let old = WatchChannel {
                channel_id: old_id.clone(),
                resource_id: connection.channel_resource_id.clone().unwrap_or_else(|| channel.resource_id.clone()),
                token: old_secret.clone(),
                expires_at: connection.channel_expires_at,
            };
            if let Err(error) = provider.unwatch(&mut tokens, &old).await {
                tracing::warn!(%error, channel = %old_id, "could not stop the old channel; it will expire");
            }
        }
        persist_if_changed(&self.store, connection, &before, &tokens).await?;
        Ok(channel)
    }

    /// Registers channels for active connections without one and renews those expiring
    /// within `channel_renewal_margin`; returns (renewed, failed). Nothing without a
    /// push address, and nothing if this worker looked less than
    /// `channel_check_interval` ago.
    #[tracing::instrument(skip_all, fields(worker = %self.config.worker_id))]
    pub async fn renew_channels_at(&self, now: DateTime<Utc>) -> Result<(usize, usize)> {
        if self.config.public_url.is_none() {
            return Ok((0, 0));
        }
        if !self.check_due(&self.last_channel_check, now) {
            return Ok((0, 0));
        }
        let due = self
            .store
            .connections_needing_channel(now + self.config.channel_renewal_margin, self.config.sync_batch_size)
            .await?;
        let (mut renewed, mut failed) = (0, 0);
        for connection in &due {
            match self.renew_channel_at(connection, now).await {
                Ok(_) => renewed += 1,
                Err(error) => {
                    tracing::warn!(connection = %connection.id, %error, "push channel not renewed");
                    failed += 1;
                }
            }
        }
        Ok((renewed, failed))
    }
}
