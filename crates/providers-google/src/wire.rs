//! Calendar API v3 wire types (private to this crate) and their mapping to domain types.

use std::collections::HashMap;

use calendar_provider::{EventTiming, ExternalEvent, OutgoingEvent, OwnEventMarker, ProviderError};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

/// `extendedProperties.private` key holding the tenant id on our events.
pub const TENANT_KEY: &str = "slotwiseTenant";
/// `extendedProperties.private` key holding the booking id on our events.
pub const BOOKING_KEY: &str = "slotwiseBooking";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireEvents {
    #[serde(default)]
    pub items: Vec<WireEvent>,
    pub next_page_token: Option<String>,
    pub next_sync_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireEvent {
    pub id: String,
    pub status: Option<String>,
    pub transparency: Option<String>,
    pub start: Option<WireTime>,
    pub end: Option<WireTime>,
    pub etag: Option<String>,
    pub recurring_event_id: Option<String>,
    #[serde(default)]
    pub attendees: Vec<WireAttendee>,
    pub extended_properties: Option<WireExtendedProperties>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireTime {
    pub date: Option<String>,
    pub date_time: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireAttendee {
    #[serde(rename = "self", default)]
    pub is_self: bool,
    pub response_status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireExtendedProperties {
    #[serde(default)]
    pub private: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireChannel {
    pub resource_id: String,
    pub expiration: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireFreeBusy {
    #[serde(default)]
    pub calendars: HashMap<String, WireFreeBusyCalendar>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireFreeBusyCalendar {
    #[serde(default)]
    pub busy: Vec<WireBusy>,
    #[serde(default)]
    pub errors: Vec<WireReason>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireBusy {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireReason {
    pub reason: Option<String>,
}

/// Google's error JSON, `{"error": {"code", "message", "errors": [{"reason"}]}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireErrorBody {
    pub error: WireError,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub errors: Vec<WireReason>,
}

fn parse_time(t: &WireTime) -> Result<Either, String> {
    if let Some(d) = &t.date {
        return NaiveDate::parse_from_str(d, "%Y-%m-%d").map(Either::Date).map_err(|e| format!("date {d}: {e}"));
    }
    let dt = t.date_time.as_deref().ok_or("event time without date or dateTime")?;
    if let Ok(at) = DateTime::parse_from_rfc3339(dt) {
        return Ok(Either::Instant(at.with_timezone(&Utc)));
    }
    // Google writes offsets in responses; a bare local time is read in the event's own zone.
    let zone: Tz = t.time_zone.as_deref().and_then(|z| z.parse().ok()).ok_or("dateTime without offset or zone")?;
    let naive = NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f").map_err(|e| format!("dateTime {dt}: {e}"))?;
    let at = zone.from_local_datetime(&naive).earliest().ok_or("local time does not exist")?;
    Ok(Either::Instant(at.with_timezone(&Utc)))
}

enum Either {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl WireEvent {
    pub(crate) fn is_cancelled(&self) -> bool {
        self.status.as_deref() == Some("cancelled")
    }

    /// Busy or free by the contract: opaque (the default) and not declined by the calendar owner; cancelled
    /// events never block.
    pub(crate) fn blocks_time(&self) -> bool {
        !self.is_cancelled()
            && self.transparency.as_deref() != Some("transparent")
            && !self.attendees.iter().any(|a| a.is_self && a.response_status.as_deref() == Some("declined"))
    }

    /// The domain event; an error for an event whose times do not parse.
    pub(crate) fn into_external(self) -> Result<ExternalEvent, ProviderError> {
        let bad = |m: String| ProviderError::Permanent(format!("event {}: {m}", self.id));
        let (start, end) = match (&self.start, &self.end) {
            (Some(s), Some(e)) => (parse_time(s).map_err(bad)?, parse_time(e).map_err(bad)?),
            _ => return Err(bad("missing start or end".into())),
        };
        let timing = match (start, end) {
            (Either::Date(start), Either::Date(end)) => EventTiming::AllDay { start, end },
            (Either::Instant(start), Either::Instant(end)) => EventTiming::Timed { start, end },
            _ => return Err(bad("start and end mix date and dateTime".into())),
        };
        let blocks_time = self.blocks_time();
        let own = self.extended_properties.as_ref().and_then(|p| {
            Some(OwnEventMarker {
                tenant_id: p.private.get(TENANT_KEY)?.clone(),
                booking_id: p.private.get(BOOKING_KEY)?.clone(),
            })
        });
        Ok(ExternalEvent {
            id: self.id,
            timing,
            blocks_time,
            etag: self.etag,
            own,
            recurring_event_id: self.recurring_event_id,
        })
    }
}

/// The writable fields of a booking's event (used by insert and patch).
pub(crate) fn event_body(event: &OutgoingEvent) -> Result<Value, ProviderError> {
    let zone: Tz = event
        .time_zone
        .parse()
        .map_err(|_| ProviderError::Permanent(format!("unknown time zone {}", event.time_zone)))?;
    let time = |at: DateTime<Utc>| json!({"dateTime": at.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::Secs, true), "timeZone": zone.name()});
    let mut body = json!({
        "summary": event.summary,
        "start": time(event.start),
        "end": time(event.end),
        "transparency": "opaque",
        "extendedProperties": {"private": {TENANT_KEY: event.tenant_id, BOOKING_KEY: event.booking_id}},
    });
    if let Some(d) = &event.description {
        body["description"] = json!(d);
    }
    Ok(body)
}

/// Whether an existing event already shows what `event` wants (same instants and title).
pub(crate) fn matches(existing: &Value, event: &OutgoingEvent) -> bool {
    let instant = |key: &str| {
        existing
            .pointer(&format!("/{key}/dateTime"))
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    instant("start") == Some(event.start)
        && instant("end") == Some(event.end)
        && existing.get("summary").and_then(Value::as_str) == Some(event.summary.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: Value) -> WireEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn blocks_time_follows_the_contract() {
        let timed = json!({"start": {"dateTime": "2025-01-06T09:00:00Z"}, "end": {"dateTime": "2025-01-06T10:00:00Z"}});
        let with = |extra: Value| {
            let mut v = timed.clone();
            v["id"] = json!("abcde");
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            event(v).blocks_time()
        };
        let cases = [
            (json!({}), true),
            (json!({"transparency": "opaque"}), true),
            (json!({"transparency": "transparent"}), false),
            (json!({"status": "tentative"}), true),
            (json!({"status": "cancelled"}), false),
            (json!({"attendees": [{"email": "me@x", "self": true, "responseStatus": "declined"}]}), false),
            (json!({"attendees": [{"email": "other@x", "responseStatus": "declined"}]}), true),
            (json!({"attendees": [{"email": "me@x", "self": true, "responseStatus": "accepted"}]}), true),
        ];
        for (extra, expected) in cases {
            assert_eq!(with(extra.clone()), expected, "{extra}");
        }
    }

    #[test]
    fn all_day_and_local_times() {
        let e = event(json!({"id": "abcde", "start": {"date": "2025-01-01"}, "end": {"date": "2025-01-02"}}));
        let ext = e.into_external().unwrap();
        assert!(matches!(ext.timing, EventTiming::AllDay { .. }));
        let e = event(json!({"id": "abcde",
            "start": {"dateTime": "2025-07-01T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-07-01T10:00:00", "timeZone": "Europe/Berlin"}}));
        let EventTiming::Timed { start, .. } = e.into_external().unwrap().timing else { panic!("timed") };
        assert_eq!(start, Utc.with_ymd_and_hms(2025, 7, 1, 7, 0, 0).unwrap());
    }
}
