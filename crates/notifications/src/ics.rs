//! The RFC 5545 invitation attached to booking emails, written with `icalendar`.
//!
//! One `VEVENT` per booking: `UID` is derived from the booking id only, so every
//! message about one booking updates the same event in the recipient's calendar;
//! `SEQUENCE` is the booking's sequence (it rises on every change); times are UTC.
//! `METHOD:REQUEST` on create and reschedule, `METHOD:CANCEL` (with `STATUS:CANCELLED`)
//! on cancel, as iTIP (RFC 5546) asks.

use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};

use crate::payload::{BookingEvent, EmailPayload};

/// The iTIP method of an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Create or update the event.
    Request,
    /// Remove it.
    Cancel,
}

impl Method {
    /// For a booking change.
    pub fn for_event(event: BookingEvent) -> Self {
        match event {
            BookingEvent::Created | BookingEvent::Rescheduled => Self::Request,
            BookingEvent::Cancelled => Self::Cancel,
        }
    }

    /// `REQUEST` or `CANCEL` (also the `method=` parameter of the MIME type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }
}

/// The stable `UID` of a booking's event.
pub fn uid(booking_id: &str) -> String {
    format!("booking-{booking_id}@slotwise")
}

/// The `.ics` text for one message. `organizer` is the sender's address.
pub fn invitation(
    payload: &EmailPayload,
    booking: &crate::payload::BookingSnapshot,
    method: Method,
    organizer: &str,
) -> String {
    let mut event = Event::new();
    event
        .uid(&uid(&booking.id))
        .sequence(booking.sequence)
        .timestamp(booking.updated_at)
        .starts(booking.start)
        .ends(booking.end)
        .summary(&format!("{} with {}", payload.service_name, payload.employee_name))
        .description(&format!("{} at {} for {}.", payload.service_name, payload.business_name, booking.customer.name))
        .append_property(
            Property::new("ORGANIZER", format!("mailto:{organizer}"))
                .add_parameter("CN", &payload.business_name)
                .done(),
        )
        .append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", booking.customer.email))
                .add_parameter("CN", &booking.customer.name)
                .add_parameter("ROLE", "REQ-PARTICIPANT")
                .done(),
        )
        .append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", payload.employee_email))
                .add_parameter("CN", &payload.employee_name)
                .add_parameter("ROLE", "REQ-PARTICIPANT")
                .done(),
        );
    event.status(match method {
        Method::Request => EventStatus::Confirmed,
        Method::Cancel => EventStatus::Cancelled,
    });
    let mut calendar = Calendar::new();
    calendar.append_property(("METHOD", method.as_str()));
    calendar.push(event.done());
    calendar.done().to_string()
}
