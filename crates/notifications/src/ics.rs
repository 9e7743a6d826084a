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

/// A TEXT value without control characters other than LF (which icalendar escapes as
/// `\n`) and TAB (allowed in TEXT): a raw CR or other control character could end the
/// content line.
fn text(value: &str) -> String {
    value.chars().map(|c| if rfc_control(c) && c != '\n' { ' ' } else { c }).collect()
}

/// RFC 5545's CONTROL: %x00-08 / %x0A-1F / %x7F (TAB and everything else may appear).
fn rfc_control(c: char) -> bool {
    (c < ' ' && c != '\t') || c == '\u{7f}'
}

/// A parameter value (`CN`) that ends up as one RFC 5545 quoted-string: no control
/// characters and no `"` inside, and quoted exactly once — icalendar quotes values that
/// hold `:` or `;` itself, the others are quoted here — so a `,` `;` or `:` in a name
/// can neither split the value nor end the parameter.
fn param(value: &str) -> String {
    let safe: String = value.chars().filter(|c| !rfc_control(*c) && *c != '"').collect();
    if safe.contains([':', ';']) { safe } else { format!("\"{safe}\"") }
}

/// A `mailto:` address without control characters or spaces (it cannot start a line).
fn address(value: &str) -> String {
    value.chars().filter(|c| !rfc_control(*c) && !c.is_whitespace()).collect()
}

/// The stable `UID` of a booking's event.
pub fn uid(booking_id: &str) -> String {
    format!("booking-{}@slotwise", address(booking_id))
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
        .summary(&text(&format!("{} with {}", payload.service_name, payload.employee_name)))
        .description(&text(&format!(
            "{} at {} for {}.",
            payload.service_name, payload.business_name, booking.customer.name
        )))
        .append_property(
            Property::new("ORGANIZER", format!("mailto:{}", address(organizer)))
                .add_parameter("CN", &param(&payload.business_name))
                .done(),
        )
        .append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", address(&booking.customer.email)))
                .add_parameter("CN", &param(&booking.customer.name))
                .add_parameter("ROLE", "REQ-PARTICIPANT")
                .done(),
        )
        .append_multi_property(
            Property::new("ATTENDEE", format!("mailto:{}", address(&payload.employee_email)))
                .add_parameter("CN", &param(&payload.employee_name))
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
    refold(&calendar.done().to_string())
}

/// Folds every content line at 75 octets (RFC 5545 §3.1), on character boundaries.
/// icalendar folds by characters, so a line with multi-byte text could reach 76+ octets
/// (found by fuzzing); its output is unfolded and folded again here.
fn refold(ics: &str) -> String {
    let mut out = String::with_capacity(ics.len() + ics.len() / 64);
    let mut logical = String::new();
    let flush = |logical: &mut String, out: &mut String| {
        if logical.is_empty() {
            return;
        }
        let mut room = 75;
        for c in logical.chars() {
            if c.len_utf8() > room {
                out.push_str("\r\n ");
                room = 74;
            }
            out.push(c);
            room -= c.len_utf8();
        }
        out.push_str("\r\n");
        logical.clear();
    };
    for line in ics.split("\r\n") {
        match line.strip_prefix(' ') {
            Some(continued) if !logical.is_empty() => logical.push_str(continued),
            _ => {
                flush(&mut logical, &mut out);
                logical.push_str(line);
            }
        }
    }
    flush(&mut logical, &mut out);
    out
}
