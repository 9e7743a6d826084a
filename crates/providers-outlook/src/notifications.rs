//! Incoming Graph webhook traffic: the validation handshake, change notifications and lifecycle events.
//!
//! The webhook route (`POST /api/calendar/webhooks/outlook`) does, in order:
//! 1. [`validation_token`] on the query string: if present, answer `200 text/plain` with it (within 10 s);
//! 2. otherwise [`parse_notifications`] on the body, answer `202` at once, and for each notification
//!    [`GraphNotification::verify`] it against the stored [`calendar_provider::WatchChannel`] (subscription id +
//!    `clientState`), dropping any that fail;
//! 3. act: a change → incremental sync; a lifecycle event → [`LifecycleEvent::action`].

use calendar_provider::WatchChannel;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// The `validationToken` of a subscription-validation request, URL-decoded, to echo as `text/plain`.
pub fn validation_token(query: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://webhook.invalid/?{query}")).ok()?;
    url.query_pairs().find(|(k, _)| k == "validationToken").map(|(_, v)| v.into_owned())
}

/// What kind of change a notification reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeType {
    /// An event was created.
    Created,
    /// An event was updated.
    Updated,
    /// An event was deleted.
    Deleted,
    /// A value this crate does not know.
    Other(String),
}

/// A lifecycle event (sent to `lifecycleNotificationUrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// Access must be confirmed: renew (PATCH) or reauthorize the subscription.
    ReauthorizationRequired,
    /// The subscription is gone: create a new one and resync.
    SubscriptionRemoved,
    /// Notifications were dropped: resync.
    Missed,
    /// A value this crate does not know.
    Other(String),
}

/// What the engine should do about a lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Renew the subscription ([`crate::OutlookProvider::renew`]).
    Renew,
    /// Create a new subscription ([`calendar_provider::CalendarProvider::watch`]) and run a delta resync.
    Recreate,
    /// Run a delta resync.
    Resync,
    /// Nothing known to do.
    Ignore,
}

impl LifecycleEvent {
    /// The engine's reaction (fact sheet B4).
    pub fn action(&self) -> LifecycleAction {
        match self {
            LifecycleEvent::ReauthorizationRequired => LifecycleAction::Renew,
            LifecycleEvent::SubscriptionRemoved => LifecycleAction::Recreate,
            LifecycleEvent::Missed => LifecycleAction::Resync,
            LifecycleEvent::Other(_) => LifecycleAction::Ignore,
        }
    }
}

/// What one notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationKind {
    /// A change to the watched events.
    Change {
        /// created / updated / deleted.
        change_type: ChangeType,
        /// `Users/{userId}/Events/{eventId}`.
        resource: String,
        /// `resourceData.id`: the event id.
        event_id: Option<String>,
    },
    /// A lifecycle event of the subscription.
    Lifecycle(LifecycleEvent),
}

/// One entry of a notification POST (one POST may batch several, from several subscriptions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNotification {
    /// The subscription it belongs to ([`WatchChannel::channel_id`]).
    pub subscription_id: String,
    /// The secret to compare with the one set at creation.
    pub client_state: Option<String>,
    /// The tenant.
    pub tenant_id: Option<String>,
    /// When the subscription expires.
    pub subscription_expires_at: Option<DateTime<Utc>>,
    /// Change or lifecycle event.
    pub kind: NotificationKind,
}

/// A notification body that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// Not the `{"value":[...]}` JSON Graph sends.
    #[error("not a Graph notification body: {0}")]
    Malformed(String),
    /// An entry has neither `changeType` nor `lifecycleEvent`.
    #[error("notification for subscription {0} has neither changeType nor lifecycleEvent")]
    UnknownKind(String),
}

#[derive(Debug, Deserialize)]
struct WireBatch {
    value: Vec<WireNotification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNotification {
    subscription_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    subscription_expiration_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    change_type: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    resource_data: Option<WireResourceData>,
}

#[derive(Debug, Deserialize)]
struct WireResourceData {
    #[serde(default)]
    id: Option<String>,
}

/// Parses a notification POST body (change and lifecycle notifications share the envelope).
pub fn parse_notifications(body: &[u8]) -> Result<Vec<GraphNotification>, NotificationError> {
    let batch: WireBatch = serde_json::from_slice(body).map_err(|e| NotificationError::Malformed(e.to_string()))?;
    batch
        .value
        .into_iter()
        .map(|n| {
            let kind = if let Some(event) = n.lifecycle_event {
                NotificationKind::Lifecycle(match event.as_str() {
                    "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
                    "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
                    "missed" => LifecycleEvent::Missed,
                    _ => LifecycleEvent::Other(event),
                })
            } else if let Some(change) = n.change_type {
                NotificationKind::Change {
                    change_type: match change.as_str() {
                        "created" => ChangeType::Created,
                        "updated" => ChangeType::Updated,
                        "deleted" => ChangeType::Deleted,
                        _ => ChangeType::Other(change),
                    },
                    resource: n.resource.unwrap_or_default(),
                    event_id: n.resource_data.and_then(|d| d.id),
                }
            } else {
                return Err(NotificationError::UnknownKind(n.subscription_id));
            };
            Ok(GraphNotification {
                subscription_id: n.subscription_id,
                client_state: n.client_state,
                tenant_id: n.tenant_id,
                subscription_expires_at: n.subscription_expiration_date_time,
                kind,
            })
        })
        .collect()
}

impl GraphNotification {
    /// Whether this notification belongs to `channel`: same subscription id and the same `clientState`
    /// (compared in constant time). A notification without `clientState` is refused.
    pub fn verify(&self, channel: &WatchChannel) -> bool {
        let expected = channel.token.expose_secret().as_bytes();
        let Some(got) = self.client_state.as_deref().map(str::as_bytes) else {
            return false;
        };
        let same = expected.len() == got.len() && expected.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        same && self.subscription_id == channel.channel_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn channel() -> WatchChannel {
        WatchChannel {
            channel_id: "sub-1".into(),
            resource_id: "me/events".into(),
            token: SecretString::from("s3cret"),
            expires_at: None,
        }
    }

    #[test]
    fn validation_tokens_are_url_decoded() {
        let q = "validationToken=Validation%3a+Testing+client+application+reachability";
        assert_eq!(validation_token(q).as_deref(), Some("Validation: Testing client application reachability"));
        assert_eq!(validation_token("other=1"), None);
    }

    #[test]
    fn change_and_lifecycle_notifications_parse_and_verify() {
        let body = br##"{"value":[
            {"subscriptionId":"sub-1","clientState":"s3cret","changeType":"updated","tenantId":"t",
             "subscriptionExpirationDateTime":"2030-01-07T10:00:00Z","resource":"Users/u/Events/e1",
             "resourceData":{"@odata.type":"#Microsoft.Graph.Event","id":"e1"}},
            {"subscriptionId":"sub-1","clientState":"forged","lifecycleEvent":"missed"},
            {"subscriptionId":"sub-1","clientState":"s3cret","lifecycleEvent":"reauthorizationRequired"}]}"##;
        let batch = parse_notifications(body).unwrap();
        assert!(
            matches!(&batch[0].kind, NotificationKind::Change { change_type: ChangeType::Updated, event_id: Some(id), .. } if id == "e1")
        );
        assert!(batch[0].verify(&channel()));
        assert!(!batch[1].verify(&channel()), "wrong clientState");
        assert_eq!(batch[2].kind, NotificationKind::Lifecycle(LifecycleEvent::ReauthorizationRequired));
        assert_eq!(LifecycleEvent::SubscriptionRemoved.action(), LifecycleAction::Recreate);
        assert!(parse_notifications(b"{}").is_err());
    }
}
