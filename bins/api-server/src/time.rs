//! Times on the wire: RFC 3339 in, RFC 3339 with the answer zone's offset out,
//! and the `from`/`to` query forms (a local date or an instant).

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::error::ApiError;

/// Longest window a query may ask for.
pub const MAX_WINDOW: Duration = Duration::hours(366 * 24);

/// Parses an IANA zone, naming `field`.
pub fn zone(name: &str, field: &str) -> Result<Tz, ApiError> {
    name.parse::<Tz>().map_err(|_| ApiError::invalid(field, format!("unknown time zone {name:?}")))
}

/// Parses an RFC 3339 instant with an offset (`Z` or `±hh:mm`).
pub fn instant(text: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid(field, format!("expected an RFC 3339 time with an offset, got {text:?}")))
}

/// The first instant of a local date in `tz` (midnight, or the end of a gap at
/// midnight), by the engine's own rule.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    availability_core::Zone::from(tz).start_of_day(date)
}

/// A `from`/`to` bound: a date (`YYYY-MM-DD`, local to `tz`) or an instant.
/// Dates mean the start of that date for `from` and the end of it for `to`.
pub fn bound(text: &str, tz: Tz, field: &str, is_end: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let date =
            if is_end { date.succ_opt().ok_or_else(|| ApiError::invalid(field, "date out of range"))? } else { date };
        return Ok(start_of_day(tz, date));
    }
    instant(text, field)
        .map_err(|_| ApiError::invalid(field, format!("expected a date YYYY-MM-DD or an RFC 3339 time, got {text:?}")))
}

/// A `[from, to)` window from query parameters, at most 366 × 24 hours.
pub fn window(from: &str, to: &str, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let start = bound(from, tz, "from", false)?;
    let end = bound(to, tz, "to", true)?;
    if end <= start {
        return Err(ApiError::invalid("to", "to must be after from"));
    }
    if end - start > MAX_WINDOW {
        return Err(ApiError::invalid("to", "the window may span at most 366 days"));
    }
    Ok((start, end))
}

/// Writes an instant with the offset of `tz` at that instant (`+00:00` for UTC).
pub fn write(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_formatting() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let (a, b) = window("2030-03-31", "2030-03-31", berlin).unwrap();
        assert_eq!(write(a, berlin), "2030-03-31T00:00:00+01:00");
        assert_eq!(write(b, berlin), "2030-04-01T00:00:00+02:00");
        assert_eq!(write(a, chrono_tz::UTC), "2030-03-30T23:00:00+00:00");
        assert_eq!(window("2030-01-02", "2030-01-01", berlin).unwrap_err().code(), "invalid_request");
        assert!(window("2030-01-01", "2031-01-02", berlin).is_err());
        assert!(window("2030-01-01T00:00:00Z", "2030-01-01T10:00:00+02:00", berlin).is_ok());
        let sao: Tz = "America/Sao_Paulo".parse().unwrap();
        assert_eq!(
            write(start_of_day(sao, NaiveDate::from_ymd_opt(2018, 11, 4).unwrap()), sao),
            "2018-11-04T01:00:00-02:00"
        );
    }
}
