//! Typed ids: one newtype per aggregate, so a `ServiceId` can never be passed where
//! an `EmployeeId` is expected.
//!
//! Ids are opaque text (new ones are UUID v7, which sort by creation time). `parse`
//! accepts any non-empty string of at most 64 visible ASCII characters, so ids that
//! arrive in URLs can be checked before they reach SQL.

use std::fmt;

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an id is 1 to 64 visible ASCII characters")]
pub struct InvalidId;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUID v7 text).
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// Accepts 1 to 64 visible ASCII characters.
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
                    Ok(Self(value))
                } else {
                    Err(InvalidId)
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Rebuilds an id read back from the database (trusted: we wrote it).
            #[allow(dead_code, reason = "not every id type is read back")]
            pub(crate) fn from_db(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(value: &str) -> Result<Self, InvalidId> {
                Self::parse(value)
            }
        }
    )*};
}

id_type!(
    /// A tenant (one business).
    TenantId,
    /// An API key record (not the key itself).
    ApiKeyId,
    /// A bookable service.
    ServiceId,
    /// An employee who performs services.
    EmployeeId,
    /// A booking.
    BookingId,
    /// A special date (tenant or employee).
    SpecialDateId,
    /// A holiday (tenant or employee).
    HolidayId,
    /// A time-off entry.
    TimeOffId,
    /// A booking-history entry.
    HistoryId,
    /// A calendar connection.
    ConnectionId,
    /// A job in an outbox queue (calendar sync event or notification).
    JobId,
    /// An outgoing webhook endpoint.
    WebhookId,
    /// One attempt to deliver a webhook (a row of the delivery log).
    DeliveryId,
);
