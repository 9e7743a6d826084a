//! Graph's JSON shapes (private to this crate) and their mapping to the domain types.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calendar_provider::{EventTiming, ExternalEvent, OutgoingEvent, OwnEventMarker, ProviderError};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

/// The single-value extended property holding the tenant of a booking event.
pub const TENANT_PROPERTY_ID: &str = "String {8d2c6f5e-1b7a-4f3e-9c20-5a6b7d8e9f01} Name slotwiseTenant";
/// The single-value extended property holding the booking id of a booking event.
pub const BOOKING_PROPERTY_ID: &str = "String {8d2c6f5e-1b7a-4f3e-9c20-5a6b7d8e9f01} Name slotwiseBooking";
/// Prefix of our `transactionId`s.
const TRANSACTION_PREFIX: &str = "slotwise1.";

/// The `transactionId` of a booking's event: deterministic (a retried create is deduplicated by Graph) and
/// reversible, so sync recognises our events even where extended properties cannot be expanded (delta).
pub fn transaction_id_for_booking(tenant_id: &str, booking_id: &str) -> String {
    format!(
        "{TRANSACTION_PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(tenant_id.as_bytes()),
        URL_SAFE_NO_PAD.encode(booking_id.as_bytes())
    )
}

/// The booking behind one of our `transactionId`s.
pub fn marker_from_transaction_id(transaction_id: &str) -> Option<OwnEventMarker> {
    let rest = transaction_id.strip_prefix(TRANSACTION_PREFIX)?;
    let (tenant, booking) = rest.split_once('.')?;
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).ok().and_then(|b| String::from_utf8(b).ok());
    Some(OwnEventMarker { tenant_id: decode(tenant)?, booking_id: decode(booking)? })
}

/// A `dateTimeTimeZone` for `at` in the booking's IANA zone (Graph accepts IANA names).
fn date_time(at: DateTime<Utc>, zone: &str) -> Value {
    let (local, zone) = match zone.parse::<Tz>() {
        Ok(tz) => (at.with_timezone(&tz).naive_local(), zone),
        Err(_) => (at.naive_utc(), "UTC"),
    };
    json!({"dateTime": local.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": zone})
}

/// The properties we own on a booking's event (PATCH body on reschedule).
pub(crate) fn event_body(event: &OutgoingEvent) -> Value {
    json!({
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description.clone().unwrap_or_default()},
        "start": date_time(event.start, &event.time_zone),
        "end": date_time(event.end, &event.time_zone),
        "showAs": "busy",
        "isAllDay": false,
        "isReminderOn": false,
    })
}

/// The create body: [`event_body`] plus `transactionId` and the extended-property tags.
pub(crate) fn create_body(event: &OutgoingEvent) -> Value {
    let mut body = event_body(event);
    body["transactionId"] = json!(transaction_id_for_booking(&event.tenant_id, &event.booking_id));
    body["singleValueExtendedProperties"] = json!([
        {"id": TENANT_PROPERTY_ID, "value": event.tenant_id},
        {"id": BOOKING_PROPERTY_ID, "value": event.booking_id},
    ]);
    body
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireDateTime {
    #[serde(rename = "dateTime")]
    date_time: String,
    #[serde(rename = "timeZone", default)]
    time_zone: Option<String>,
}

impl WireDateTime {
    fn local(&self) -> Result<NaiveDateTime, ProviderError> {
        NaiveDateTime::parse_from_str(self.date_time.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|e| ProviderError::Permanent(format!("unreadable dateTime {}: {e}", self.date_time)))
    }

    /// The instant; we ask for UTC (`Prefer: outlook.timezone="UTC"`), other IANA zones are converted.
    pub(crate) fn instant(&self) -> Result<DateTime<Utc>, ProviderError> {
        let local = self.local()?;
        match self.time_zone.as_deref().unwrap_or("UTC") {
            "UTC" | "tzone://Microsoft/Utc" | "Etc/UTC" => Ok(local.and_utc()),
            other => {
                let tz: Tz = other
                    .parse()
                    .map_err(|_| ProviderError::Permanent(format!("unexpected timeZone {other} (asked for UTC)")))?;
                tz.from_local_datetime(&local)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| ProviderError::Permanent(format!("{} does not exist in {other}", self.date_time)))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireProperty {
    id: String,
    #[serde(default)]
    value: Option<String>,
}

/// One event (or `@removed` entry) of a calendarView / delta page.
#[derive(Debug, Deserialize)]
pub(crate) struct WireEvent {
    pub(crate) id: String,
    #[serde(rename = "@removed", default)]
    pub(crate) removed: Option<Value>,
    #[serde(default)]
    start: Option<WireDateTime>,
    #[serde(default)]
    end: Option<WireDateTime>,
    #[serde(rename = "isAllDay", default)]
    is_all_day: bool,
    #[serde(rename = "isCancelled", default)]
    pub(crate) is_cancelled: bool,
    #[serde(rename = "showAs", default)]
    show_as: Option<String>,
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(rename = "seriesMasterId", default)]
    series_master_id: Option<String>,
    #[serde(rename = "@odata.etag", default)]
    etag: Option<String>,
    #[serde(rename = "transactionId", default)]
    transaction_id: Option<String>,
    #[serde(rename = "singleValueExtendedProperties", default)]
    properties: Vec<WireProperty>,
}

impl WireEvent {
    /// Whether this entry means "gone" for the engine (deleted, or cancelled by the organizer).
    pub(crate) fn is_gone(&self) -> bool {
        self.removed.is_some() || self.is_cancelled
    }

    /// Series masters are listed by `/events`, never by calendarView/delta; they carry no instance times.
    pub(crate) fn is_series_master(&self) -> bool {
        self.kind.as_deref() == Some("seriesMaster")
    }

    pub(crate) fn start_end(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ProviderError> {
        let missing = || ProviderError::Permanent(format!("event {} without start/end", self.id));
        let start = self.start.as_ref().ok_or_else(missing)?.instant()?;
        let end = self.end.as_ref().ok_or_else(missing)?.instant()?;
        Ok((start, end))
    }

    fn own(&self) -> Option<OwnEventMarker> {
        let prop =
            |id: &str| self.properties.iter().find(|p| p.id.eq_ignore_ascii_case(id)).and_then(|p| p.value.clone());
        if let (Some(tenant_id), Some(booking_id)) = (prop(TENANT_PROPERTY_ID), prop(BOOKING_PROPERTY_ID)) {
            return Some(OwnEventMarker { tenant_id, booking_id });
        }
        self.transaction_id.as_deref().and_then(marker_from_transaction_id)
    }

    /// Busy mapping (API contract): `showAs` free / workingElsewhere do not block; busy, tentative, oof (and
    /// unknown, to be safe) do; a cancelled event never blocks.
    pub(crate) fn blocks_time(&self) -> bool {
        !self.is_cancelled && !matches!(self.show_as.as_deref(), Some("free" | "workingElsewhere"))
    }

    pub(crate) fn into_external(self) -> Result<ExternalEvent, ProviderError> {
        let timing = if self.is_all_day {
            let missing = || ProviderError::Permanent(format!("event {} without start/end", self.id));
            let start = self.start.as_ref().ok_or_else(missing)?.local()?.date();
            let end = self.end.as_ref().ok_or_else(missing)?.local()?.date();
            EventTiming::AllDay { start, end }
        } else {
            let (start, end) = self.start_end()?;
            EventTiming::Timed { start, end }
        };
        Ok(ExternalEvent {
            blocks_time: self.blocks_time(),
            own: self.own(),
            recurring_event_id: self.series_master_id.clone(),
            etag: self.etag.clone(),
            timing,
            id: self.id,
        })
    }
}

/// A page of a collection (events, calendarView, delta).
#[derive(Debug, Deserialize)]
pub(crate) struct WirePage {
    #[serde(default)]
    pub(crate) value: Vec<WireEvent>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(crate) next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    pub(crate) delta_link: Option<String>,
}

/// `{"error":{"code","message"}}`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireErrorBody {
    pub(crate) error: WireError,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) message: String,
}

/// A subscription as Graph returns it.
#[derive(Debug, Deserialize)]
pub(crate) struct WireSubscription {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) resource: String,
    #[serde(rename = "expirationDateTime", default)]
    pub(crate) expiration: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: Value) -> WireEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn transaction_ids_round_trip() {
        let id = transaction_id_for_booking("t1", "0192f0c6-6a43-7e1c-9d1a-7b9f6a3c2e10");
        assert_eq!(id, transaction_id_for_booking("t1", "0192f0c6-6a43-7e1c-9d1a-7b9f6a3c2e10"));
        let marker = marker_from_transaction_id(&id).unwrap();
        assert_eq!(
            (marker.tenant_id.as_str(), marker.booking_id.as_str()),
            ("t1", "0192f0c6-6a43-7e1c-9d1a-7b9f6a3c2e10")
        );
        assert_eq!(marker_from_transaction_id("someone-elses-id"), None);
    }

    #[test]
    fn show_as_and_cancellation_decide_blocking() {
        let base = |show_as: &str, cancelled: bool| {
            event(json!({"id": "e", "showAs": show_as, "isCancelled": cancelled,
                "start": {"dateTime": "2030-01-07T09:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2030-01-07T10:00:00.0000000", "timeZone": "UTC"}}))
        };
        for (show_as, blocks) in
            [("free", false), ("workingElsewhere", false), ("busy", true), ("tentative", true), ("oof", true)]
        {
            assert_eq!(base(show_as, false).blocks_time(), blocks, "{show_as}");
        }
        assert!(!base("busy", true).blocks_time());
    }

    #[test]
    fn all_day_events_become_dates() {
        let e = event(json!({"id": "e", "isAllDay": true,
            "start": {"dateTime": "2030-01-07T00:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-09T00:00:00.0000000", "timeZone": "UTC"}}))
        .into_external()
        .unwrap();
        let EventTiming::AllDay { start, end } = e.timing else { panic!("not all-day: {:?}", e.timing) };
        assert_eq!((start.to_string().as_str(), end.to_string().as_str()), ("2030-01-07", "2030-01-09"));
    }
}
