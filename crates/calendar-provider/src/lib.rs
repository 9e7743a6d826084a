//! The provider-neutral calendar interface of slotwise.
//!
//! `providers-google` and `providers-outlook` implement [`CalendarProvider`]; the sync engine depends only on
//! this crate and the binaries choose the implementations. It sits between the domain (`availability-core`)
//! and the provider crates and knows nothing about HTTP, JSON wire shapes or storage: wire types stay private
//! to each provider crate.
//!
//! Key types:
//! - [`CalendarProvider`]: OAuth (authorize URL with PKCE, code exchange, refresh, revoke), idempotent event
//!   writes keyed by booking id, incremental sync with a typed "cursor expired" outcome, push channels and
//!   free/busy.
//! - [`TokenSet`]: the OAuth tokens of one connection. Calls that need a token take `&mut TokenSet`: the
//!   provider refreshes it (before expiry, and once after a 401) and the caller persists it when it changed.
//! - [`ExternalEvent`]: one event read from a provider, already mapped to "blocks time or not".
//! - [`ProviderError`]: the one error enum, shaped for the sync engine's "retry or dead" decision.
//!
//! ```
//! use calendar_provider::{EventTiming, ProviderError};
//! use chrono::NaiveDate;
//!
//! let day = EventTiming::AllDay {
//!     start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
//!     end: NaiveDate::from_ymd_opt(2025, 1, 2).unwrap(),
//! };
//! assert!(matches!(day, EventTiming::AllDay { .. }));
//! assert!(ProviderError::Transient("timeout".into()).is_retryable());
//! ```
//!
//! With the `mock` feature the crate also exports `MockCalendarProvider` (mockall).
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};

/// The providers slotwise can connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderKind {
    /// Google Calendar (OAuth 2.0 + Calendar API v3).
    Google,
    /// Microsoft Outlook calendars through Microsoft Graph.
    Outlook,
}

impl ProviderKind {
    /// The lowercase name used in the API contract (`google`, `outlook`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Google => "google",
            ProviderKind::Outlook => "outlook",
        }
    }
}

/// A PKCE code verifier (RFC 7636). The caller stores it with the `state` of the authorization request and
/// hands it back to [`CalendarProvider::exchange_code`].
#[derive(Debug, Clone)]
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// Wraps a verifier produced by a provider (or read back from storage).
    pub fn new(verifier: impl Into<String>) -> Self {
        PkceVerifier(SecretString::from(verifier.into()))
    }

    /// The verifier text, for storage and for the token request.
    pub fn secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The browser redirect that starts a connection, and the verifier that must be kept for the code exchange.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Full authorize URL (state, PKCE S256 challenge, offline access and the provider's minimal scopes).
    pub url: String,
    /// The PKCE verifier matching the challenge in `url`.
    pub pkce_verifier: PkceVerifier,
}

/// The OAuth tokens of one connection.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// Bearer token for API calls.
    pub access_token: SecretString,
    /// Long-lived token used to get new access tokens (absent for online-only grants).
    pub refresh_token: Option<SecretString>,
    /// When the access token stops working.
    pub expires_at: DateTime<Utc>,
    /// The scopes actually granted (users may untick some on the consent screen).
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// Whether the access token is expired or expires within `margin` of `now`.
    pub fn expires_within(&self, now: DateTime<Utc>, margin: Duration) -> bool {
        let margin = chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::zero());
        self.expires_at - margin <= now
    }

    /// Whether two token sets hold the same tokens (so the caller knows whether to persist).
    pub fn same_tokens(&self, other: &TokenSet) -> bool {
        self.access_token.expose_secret() == other.access_token.expose_secret()
            && self.refresh_token.as_ref().map(|t| t.expose_secret())
                == other.refresh_token.as_ref().map(|t| t.expose_secret())
            && self.expires_at == other.expires_at
    }
}

/// When an event happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTiming {
    /// A timed event, `[start, end)`.
    Timed {
        /// Inclusive start.
        start: DateTime<Utc>,
        /// Exclusive end.
        end: DateTime<Utc>,
    },
    /// An all-day event covering the dates `[start, end)` in the calendar owner's zone.
    AllDay {
        /// First date.
        start: NaiveDate,
        /// The date after the last one (exclusive, as providers write it).
        end: NaiveDate,
    },
}

/// Marks an event that slotwise itself wrote for a booking, so sync does not count it twice as busy time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnEventMarker {
    /// The tenant that owns the booking.
    pub tenant_id: String,
    /// The booking the event mirrors.
    pub booking_id: String,
}

/// One event read from a provider calendar, mapped to domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEvent {
    /// The provider's event id (for recurring series: the instance's id).
    pub id: String,
    /// Start and end.
    pub timing: EventTiming,
    /// Whether the event makes its owner busy (already applies transparency, declines and cancellation).
    pub blocks_time: bool,
    /// The provider's version tag, for conditional writes.
    pub etag: Option<String>,
    /// Set when slotwise created this event for one of its bookings.
    pub own: Option<OwnEventMarker>,
    /// For an instance of a recurring series: the series id.
    pub recurring_event_id: Option<String>,
}

/// A time window `[start, end)`; [`TimeWindow::new`] refuses an empty or inverted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeWindow {
    /// A window with `start < end`, or `None`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start < end).then_some(TimeWindow { start, end })
    }

    /// Inclusive start.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Exclusive end.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

/// Where a sync round starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncCursor {
    /// Read every event overlapping the window (the connection's first sync, or after an expired cursor).
    Full(TimeWindow),
    /// Read the changes since the cursor returned by the previous round.
    Incremental(String),
}

/// The changes one sync round found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    /// New or changed events (whole).
    pub changed: Vec<ExternalEvent>,
    /// Ids of events that were deleted or cancelled (including cancelled instances of a series).
    pub removed: Vec<String>,
    /// The cursor for the next incremental round.
    pub next_cursor: String,
}

/// The result of [`CalendarProvider::sync`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The round completed.
    Changes(SyncBatch),
    /// The cursor is no longer accepted: wipe this calendar's mirrored events and run a full sync.
    CursorExpired,
}

/// A booking as written to a provider calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEvent {
    /// The tenant owning the booking (written into the event's private tags).
    pub tenant_id: String,
    /// The booking id; the provider derives its idempotency key from it.
    pub booking_id: String,
    /// Title shown in the calendar.
    pub summary: String,
    /// Optional body text.
    pub description: Option<String>,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant (exclusive).
    pub end: DateTime<Utc>,
    /// IANA zone the event is shown in.
    pub time_zone: String,
}

/// A provider event written by slotwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// The provider's event id.
    pub id: String,
    /// The version tag after the write.
    pub etag: Option<String>,
}

/// What to register for push notifications.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    /// Caller-chosen unique channel id (a UUID); a renewal uses a new id.
    pub channel_id: String,
    /// HTTPS address the provider posts to.
    pub address: String,
    /// Random secret echoed in every notification.
    pub token: SecretString,
    /// Requested lifetime; the provider may shorten it (read [`WatchChannel::expires_at`]).
    pub ttl: Duration,
}

/// A live push channel (Google channel or Graph subscription).
#[derive(Debug, Clone)]
pub struct WatchChannel {
    /// The channel id.
    pub channel_id: String,
    /// The provider's id of the watched resource (needed to stop the channel).
    pub resource_id: String,
    /// The secret echoed in notifications.
    pub token: SecretString,
    /// When the provider stops delivering; renew before.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One busy period from a free/busy query, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyInterval {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// Everything that can go wrong talking to a provider, shaped for the sync engine's retry decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The access token was refused even after one refresh: report, do not loop.
    #[error("provider refused the credentials: {0}")]
    Auth(String),
    /// The grant is dead (`invalid_grant`): mark the connection revoked; the user must reconnect.
    #[error("the grant was revoked or expired: {0}")]
    Revoked(String),
    /// The user did not grant scopes slotwise needs.
    #[error("scopes not granted: {}", missing.join(" "))]
    ScopeNotGranted {
        /// The missing scopes.
        missing: Vec<String>,
    },
    /// The resource does not exist.
    #[error("not found")]
    NotFound,
    /// The resource existed and is gone (or a sync cursor died outside a sync call).
    #[error("gone")]
    Gone,
    /// A write lost a race: the id exists already, or the version tag no longer matches.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Throttled; retry after the given delay (when the provider said).
    #[error("rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Network trouble or a 5xx: retry with backoff.
    #[error("transient provider failure: {0}")]
    Transient(String),
    /// A request the provider will never accept: do not retry.
    #[error("permanent provider failure: {0}")]
    Permanent(String),
}

impl ProviderError {
    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProviderError::RateLimited { .. } | ProviderError::Transient(_))
    }
}

/// A calendar provider: OAuth, event writes, sync, push channels and free/busy.
///
/// Calls taking `&mut TokenSet` may refresh it; the caller persists it when [`TokenSet::same_tokens`] says it
/// changed. A refresh answered with `invalid_grant` is [`ProviderError::Revoked`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CalendarProvider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// The authorize URL for `state` (created, bound and validated by the caller) with a fresh PKCE verifier.
    fn authorize(&self, state: &str) -> Result<AuthorizationRequest, ProviderError>;

    /// Exchanges an authorization code (single use) for tokens.
    async fn exchange_code(&self, code: &str, verifier: &PkceVerifier) -> Result<TokenSet, ProviderError>;

    /// Gets a new access token with the refresh token (keeping the old refresh token when none is returned).
    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError>;

    /// Revokes the grant (on disconnect). An already dead grant is not an error.
    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError>;

    /// Creates the event of a booking. Idempotent: a retry after a lost answer returns the existing event.
    async fn create_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event: &OutgoingEvent,
    ) -> Result<EventRef, ProviderError>;

    /// Moves or retitles the event of a booking; `etag` makes the write conditional.
    async fn update_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event_id: &str,
        event: &OutgoingEvent,
        etag: Option<String>,
    ) -> Result<EventRef, ProviderError>;

    /// Deletes an event. An event that is already gone is success.
    async fn delete_event(&self, tokens: &mut TokenSet, calendar_id: &str, event_id: &str)
    -> Result<(), ProviderError>;

    /// One sync round from `cursor`, paging internally until the provider hands out the next cursor.
    async fn sync(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        cursor: SyncCursor,
    ) -> Result<SyncOutcome, ProviderError>;

    /// Registers a push channel for the calendar's events.
    async fn watch(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError>;

    /// Stops a push channel. An unknown or expired channel is success.
    async fn unwatch(&self, tokens: &mut TokenSet, channel: &WatchChannel) -> Result<(), ProviderError>;

    /// Busy periods per calendar id (fallback for calendars that cannot be watched).
    async fn free_busy(
        &self,
        tokens: &mut TokenSet,
        calendar_ids: &[String],
        window: TimeWindow,
    ) -> Result<BTreeMap<String, Vec<BusyInterval>>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: SecretString::from("at"),
            refresh_token: Some(SecretString::from("rt")),
            expires_at: Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap(),
            scopes: vec![],
        }
    }

    #[test]
    fn expiry_margin() {
        let t = tokens();
        let before = Utc.with_ymd_and_hms(2025, 1, 1, 11, 58, 0).unwrap();
        assert!(!t.expires_within(before, Duration::from_secs(60)));
        assert!(t.expires_within(before, Duration::from_secs(180)));
    }

    #[test]
    fn windows_must_not_be_empty() {
        let a = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        assert!(TimeWindow::new(a, a).is_none());
        assert!(TimeWindow::new(a, a + chrono::Duration::hours(1)).is_some());
    }

    #[tokio::test]
    async fn the_trait_is_mockable_and_object_safe() {
        let mut mock = MockCalendarProvider::new();
        mock.expect_kind().return_const(ProviderKind::Google);
        mock.expect_delete_event().returning(|_, _, _| Err(ProviderError::RateLimited { retry_after: None }));
        let provider: Box<dyn CalendarProvider> = Box::new(mock);
        assert_eq!(provider.kind().as_str(), "google");
        let err = provider.delete_event(&mut tokens(), "primary", "e1").await.unwrap_err();
        assert!(err.is_retryable());
    }
}
