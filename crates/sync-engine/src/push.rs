//! What push notifications make the engine do. Parsing and verifying a notification is
//! the provider crate's job (`providers_google::PushNotification::verify`,
//! `providers_outlook::GraphNotification::verify`); the webhook route then calls one
//! of these, each a single quick write, and answers at once. The work happens in the
//! worker's next round, which an in-process worker starts at once ([`Worker::wake`]).

use calendar_provider::WatchChannel;
use chrono::{DateTime, Utc};
use store::{CalendarConnection, ChannelRecord, StoreError};

use crate::worker::Worker;

impl Worker {
    /// The connection owning a push channel (Google channel id or Graph subscription id),
    /// with the channel as the provider crate verifies it. `None` for an unknown channel.
    pub async fn channel(&self, channel_id: &str) -> Result<Option<(CalendarConnection, WatchChannel)>, StoreError> {
        let Some(connection) = self.store.connection_by_channel(channel_id).await? else {
            return Ok(None);
        };
        let Some(secret) = connection.channel_secret.clone() else {
            return Ok(None);
        };
        let channel = WatchChannel {
            channel_id: channel_id.to_owned(),
            resource_id: connection.channel_resource_id.clone().unwrap_or_default(),
            token: secret,
            expires_at: connection.channel_expires_at,
        };
        Ok(Some((connection, channel)))
    }

    /// A verified notification said the calendar changed: sync it soon. Any number of
    /// requests before the sync starts are one sync.
    pub async fn request_sync(&self, connection: &CalendarConnection) -> Result<(), StoreError> {
        self.store.request_connection_sync(&connection.tenant_id, &connection.id).await?;
        self.wake();
        Ok(())
    }

    /// The provider wants the channel renewed (Graph `reauthorizationRequired`): it is
    /// marked as expiring now, so the next channel check replaces it. It keeps working
    /// (and verifying) until then.
    pub async fn request_channel_renewal(
        &self,
        connection: &CalendarConnection,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if let (Some(id), Some(secret)) = (&connection.channel_id, &connection.channel_secret) {
            let record =
                ChannelRecord { id, resource_id: connection.channel_resource_id.as_deref(), secret, expires_at: now };
            self.store.set_connection_channel(&connection.tenant_id, &connection.id, Some(record)).await?;
        }
        self.check_channels_now();
        Ok(())
    }

    /// The provider removed the channel (Graph `subscriptionRemoved`): forget it, so the
    /// next channel check creates a new one, and resync (changes may have been missed).
    pub async fn request_channel_recreate(&self, connection: &CalendarConnection) -> Result<(), StoreError> {
        self.store.set_connection_channel(&connection.tenant_id, &connection.id, None).await?;
        self.store.request_connection_sync(&connection.tenant_id, &connection.id).await?;
        self.check_channels_now();
        Ok(())
    }

    /// Lifts this worker's pause between channel checks and starts a round.
    fn check_channels_now(&self) {
        *self.last_channel_check.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        self.wake();
    }
}
