//! What a notification outbox row carries: the contract between whoever enqueues
//! (the api-server, in the booking's transaction) and the [`Worker`](crate::Worker).
//!
//! | channel   | recipient          | template (event)                                  | payload |
//! |-----------|--------------------|---------------------------------------------------|---------|
//! | `email`   | an email address   | `booking.created` / `.rescheduled` / `.cancelled` | [`EmailPayload`] |
//! | `webhook` | a webhook id       | any [`EVENT_TYPES`] entry or [`TEST_EVENT`]        | the webhook's `data` |
//!
//! Booking payloads carry `"booking": null` when enqueued; the store fills it with the
//! booking as the change committed it ([`store::BOOKING_SNAPSHOT_KEY`]), so the message
//! shows the state at the time of the change, never a later one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `email` channel.
pub const EMAIL: &str = "email";
/// The `webhook` channel.
pub const WEBHOOK: &str = "webhook";
/// The event type of `POST /api/webhooks/{id}/test` deliveries.
pub const TEST_EVENT: &str = "webhook.test";
/// The event types an endpoint may subscribe to (the contract's list).
pub const EVENT_TYPES: [&str; 5] =
    ["booking.created", "booking.rescheduled", "booking.cancelled", "calendar.conflict", "calendar.connection_error"];

/// Which booking change a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingEvent {
    /// `booking.created`.
    Created,
    /// `booking.rescheduled`.
    Rescheduled,
    /// `booking.cancelled`.
    Cancelled,
}

impl BookingEvent {
    /// Parses a template/event name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "booking.created" => Some(Self::Created),
            "booking.rescheduled" => Some(Self::Rescheduled),
            "booking.cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// The event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "booking.created",
            Self::Rescheduled => "booking.rescheduled",
            Self::Cancelled => "booking.cancelled",
        }
    }
}

/// The customer as the snapshot records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotCustomer {
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
    /// Preferred zone, if given.
    pub timezone: Option<String>,
}

/// The booking as the change committed it ([`store::Booking::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingSnapshot {
    /// Booking id (the invitation's UID is derived from it).
    pub id: String,
    /// `confirmed` or `cancelled`.
    pub status: String,
    /// Employee id.
    pub employee_id: String,
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// End (UTC).
    pub end: DateTime<Utc>,
    /// Rises on every change: the invitation's SEQUENCE.
    pub sequence: u32,
    /// Who booked.
    pub customer: SnapshotCustomer,
    /// Why it was cancelled.
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// Last change: the invitation's DTSTAMP.
    pub updated_at: DateTime<Utc>,
}

/// Who an email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person who booked.
    Customer,
    /// The person who performs the service.
    Employee,
}

/// The payload of an `email` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailPayload {
    /// Customer or employee.
    pub role: Role,
    /// The recipient's name, for the greeting.
    pub recipient_name: String,
    /// The recipient's IANA zone: the times are written in it.
    pub timezone: String,
    /// The business (tenant) name.
    pub business_name: String,
    /// The service's name.
    pub service_name: String,
    /// The employee's name.
    pub employee_name: String,
    /// The employee's address (the invitation's attendee).
    pub employee_email: String,
    /// Filled by the store; `None` only while being enqueued.
    pub booking: Option<BookingSnapshot>,
}

impl EmailPayload {
    /// The JSON to enqueue (with `"booking": null` for the store to fill).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("plain data serialises")
    }
}
