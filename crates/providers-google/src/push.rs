//! Incoming push notifications (`X-Goog-*` headers, no body) and their verification.

use calendar_provider::WatchChannel;
use secrecy::ExposeSecret;

/// `X-Goog-Resource-State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    /// The channel was created (message 1): record it as live, nothing to sync.
    Sync,
    /// Something changed: run an incremental sync.
    Exists,
    /// The watched resource is gone.
    NotExists,
}

/// A parsed notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotification {
    /// `X-Goog-Channel-ID`.
    pub channel_id: String,
    /// `X-Goog-Channel-Token`, if the channel has one.
    pub token: Option<String>,
    /// `X-Goog-Resource-ID`.
    pub resource_id: String,
    /// `X-Goog-Resource-State`.
    pub state: ResourceState,
    /// `X-Goog-Message-Number` (increasing, not necessarily consecutive).
    pub message_number: Option<u64>,
}

/// Why a request is not a usable notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// A required header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `X-Goog-Resource-State` has an unknown value.
    #[error("unknown resource state {0}")]
    UnknownState(String),
}

impl PushNotification {
    /// Reads the headers through `header` (case-insensitive lookup by the caller's framework).
    pub fn from_headers(header: impl Fn(&str) -> Option<String>) -> Result<Self, NotificationError> {
        let required = |name: &'static str| header(name).ok_or(NotificationError::MissingHeader(name));
        let state = match required("X-Goog-Resource-State")?.as_str() {
            "sync" => ResourceState::Sync,
            "exists" => ResourceState::Exists,
            "not_exists" => ResourceState::NotExists,
            other => return Err(NotificationError::UnknownState(other.to_owned())),
        };
        Ok(PushNotification {
            channel_id: required("X-Goog-Channel-ID")?,
            token: header("X-Goog-Channel-Token"),
            resource_id: required("X-Goog-Resource-ID")?,
            state,
            message_number: header("X-Goog-Message-Number").and_then(|n| n.parse().ok()),
        })
    }

    /// Whether this notification belongs to `channel`: same channel id, resource id and token (the token is
    /// compared in constant time).
    pub fn verify(&self, channel: &WatchChannel) -> bool {
        let expected = channel.token.expose_secret().as_bytes();
        let got = self.token.as_deref().unwrap_or_default().as_bytes();
        let same_token =
            expected.len() == got.len() && expected.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        self.channel_id == channel.channel_id && self.resource_id == channel.resource_id && same_token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn headers(token: Option<&str>) -> impl Fn(&str) -> Option<String> {
        let token = token.map(str::to_owned);
        move |name: &str| match name {
            "X-Goog-Channel-ID" => Some("chan-1".into()),
            "X-Goog-Channel-Token" => token.clone(),
            "X-Goog-Resource-ID" => Some("res-1".into()),
            "X-Goog-Resource-State" => Some("exists".into()),
            "X-Goog-Message-Number" => Some("7".into()),
            _ => None,
        }
    }

    #[test]
    fn verifies_id_resource_and_token() {
        let channel = WatchChannel {
            channel_id: "chan-1".into(),
            resource_id: "res-1".into(),
            token: SecretString::from("s3cret"),
            expires_at: None,
        };
        let good = PushNotification::from_headers(headers(Some("s3cret"))).unwrap();
        assert_eq!(good.state, ResourceState::Exists);
        assert_eq!(good.message_number, Some(7));
        assert!(good.verify(&channel));
        assert!(!PushNotification::from_headers(headers(Some("forged"))).unwrap().verify(&channel));
        assert!(!PushNotification::from_headers(headers(None)).unwrap().verify(&channel));
    }

    #[test]
    fn missing_header_is_reported() {
        let err = PushNotification::from_headers(|_| None).unwrap_err();
        assert_eq!(err, NotificationError::MissingHeader("X-Goog-Resource-State"));
    }
}
