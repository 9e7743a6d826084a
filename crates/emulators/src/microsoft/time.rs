//! Graph's `dateTimeTimeZone` values, zones (IANA and a few Windows names) and recurrence expansion.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

/// Most occurrences one series expands to in one request.
const MAX_OCCURRENCES: u16 = 2500;

/// Windows zone names Graph uses by default, mapped to IANA (a small table: the common ones).
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("UTC", "UTC"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Mountain Standard Time", "America/Denver"),
    ("Central Standard Time", "America/Chicago"),
    ("Eastern Standard Time", "America/New_York"),
    ("GMT Standard Time", "Europe/London"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
];

/// A zone by IANA or (common) Windows name.
pub(crate) fn parse_zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if let Some((_, iana)) = WINDOWS_ZONES.iter().find(|(w, _)| w.eq_ignore_ascii_case(name)) {
        return iana.parse().ok();
    }
    name.parse().ok()
}

/// A parsed `dateTimeTimeZone`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct When {
    pub(crate) at: DateTime<Utc>,
    pub(crate) zone: Tz,
    pub(crate) local: NaiveDateTime,
}

/// Parses `{"dateTime": "2025-01-06T15:00:00.0000000", "timeZone": "Pacific Standard Time"}`.
pub(crate) fn parse_when(v: Option<&Value>, which: &str) -> Result<When, String> {
    let v = v.ok_or_else(|| format!("The property '{which}' is required."))?;
    let zone_name = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    let zone = parse_zone(zone_name).ok_or_else(|| format!("A valid TimeZone value must be specified ({which})."))?;
    let text = v.get("dateTime").and_then(Value::as_str).ok_or_else(|| format!("{which}.dateTime is required."))?;
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        let at = at.with_timezone(&Utc);
        return Ok(When { at, zone, local: at.with_timezone(&zone).naive_local() });
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .map_err(|_| format!("Cannot convert the literal '{text}' to the expected type 'Edm.DateTime'."))?;
    let at = zone
        .from_local_datetime(&local)
        .earliest()
        .ok_or_else(|| format!("'{text}' does not exist in {zone_name}."))?
        .with_timezone(&Utc);
    Ok(When { at, zone, local })
}

/// An instant as a query parameter value: with an offset it is honoured, without one it is UTC (B2).
pub(crate) fn parse_query_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()
        .map(|n| n.and_utc())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| d.and_time(NaiveTime::MIN).and_utc()))
}

/// Graph's local date-time text: seven fractional digits, no offset.
pub(crate) fn local_text(local: NaiveDateTime) -> String {
    format!("{}.0000000", local.format("%Y-%m-%dT%H:%M:%S"))
}

/// `{"dateTime","timeZone"}` for `at` shown in `zone` (named `zone_name`).
pub(crate) fn date_time_time_zone(at: DateTime<Utc>, zone: Tz, zone_name: &str) -> Value {
    json!({"dateTime": local_text(at.with_timezone(&zone).naive_local()), "timeZone": zone_name})
}

/// RFC 3339 with `Z`, as Graph writes `originalStart` and timestamps.
pub(crate) fn utc_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `[start, end)` of an event JSON.
pub(crate) fn bounds(event: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = parse_when(event.get("start"), "start").ok()?;
    let end = parse_when(event.get("end"), "end").ok()?;
    Some((start.at, end.at))
}

/// The RRULE text of a Graph `patternedRecurrence`, anchored at the series start.
fn rrule_text(recurrence: &Value, start: &When) -> Result<String, String> {
    let bad = |m: &str| format!("Invalid recurrence: {m}");
    let pattern = recurrence.get("pattern").ok_or_else(|| bad("pattern is required"))?;
    let range = recurrence.get("range").ok_or_else(|| bad("range is required"))?;
    let interval = pattern.get("interval").and_then(Value::as_u64).unwrap_or(1).max(1);
    let days: Vec<String> = pattern
        .get("daysOfWeek")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(day_code).collect::<Result<Vec<_>, _>>())
        .transpose()?
        .unwrap_or_default();
    let day_of_month = pattern.get("dayOfMonth").and_then(Value::as_u64);
    let month = pattern.get("month").and_then(Value::as_u64);
    let setpos = match pattern.get("index").and_then(Value::as_str).unwrap_or("first") {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "last" => -1,
        _ => return Err(bad("unknown index")),
    };
    let mut rule = match pattern.get("type").and_then(Value::as_str) {
        Some("daily") => format!("FREQ=DAILY;INTERVAL={interval}"),
        Some("weekly") => {
            if days.is_empty() {
                return Err(bad("weekly needs daysOfWeek"));
            }
            format!("FREQ=WEEKLY;INTERVAL={interval};BYDAY={}", days.join(","))
        }
        Some("absoluteMonthly") => {
            let d = day_of_month.ok_or_else(|| bad("absoluteMonthly needs dayOfMonth"))?;
            format!("FREQ=MONTHLY;INTERVAL={interval};BYMONTHDAY={d}")
        }
        Some("relativeMonthly") => {
            if days.is_empty() {
                return Err(bad("relativeMonthly needs daysOfWeek"));
            }
            format!("FREQ=MONTHLY;INTERVAL={interval};BYDAY={};BYSETPOS={setpos}", days.join(","))
        }
        Some("absoluteYearly") => {
            let (d, m) = day_of_month.zip(month).ok_or_else(|| bad("absoluteYearly needs dayOfMonth and month"))?;
            format!("FREQ=YEARLY;INTERVAL={interval};BYMONTH={m};BYMONTHDAY={d}")
        }
        Some("relativeYearly") => {
            let m = month.ok_or_else(|| bad("relativeYearly needs month"))?;
            format!("FREQ=YEARLY;INTERVAL={interval};BYMONTH={m};BYDAY={};BYSETPOS={setpos}", days.join(","))
        }
        _ => return Err(bad("unknown pattern type")),
    };
    match range.get("type").and_then(Value::as_str) {
        Some("noEnd") => {}
        Some("numbered") => {
            let n = range.get("numberOfOccurrences").and_then(Value::as_u64).filter(|n| *n > 0);
            rule.push_str(&format!(";COUNT={}", n.ok_or_else(|| bad("numbered needs numberOfOccurrences"))?));
        }
        Some("endDate") => {
            let end = range
                .get("endDate")
                .and_then(Value::as_str)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| bad("endDate needs a date"))?;
            // The end date is inclusive, in the series' zone.
            let last = end.and_hms_opt(23, 59, 59).unwrap_or_else(|| end.and_time(NaiveTime::MIN));
            let until = start.zone.from_local_datetime(&last).latest().map(|t| t.with_timezone(&Utc));
            let until = until.ok_or_else(|| bad("endDate"))?;
            rule.push_str(&format!(";UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        }
        _ => return Err(bad("unknown range type")),
    }
    Ok(format!("DTSTART;TZID={}:{}\nRRULE:{rule}", start.zone.name(), start.local.format("%Y%m%dT%H%M%S")))
}

fn day_code(day: &str) -> Result<String, String> {
    Ok(match day.to_ascii_lowercase().as_str() {
        "monday" => "MO",
        "tuesday" => "TU",
        "wednesday" => "WE",
        "thursday" => "TH",
        "friday" => "FR",
        "saturday" => "SA",
        "sunday" => "SU",
        other => return Err(format!("Invalid recurrence: unknown day {other}")),
    }
    .to_owned())
}

/// Checks that a master's recurrence can be expanded.
pub(crate) fn validate_recurrence(master: &Value) -> Result<(), String> {
    let start = parse_when(master.get("start"), "start")?;
    let recurrence = master.get("recurrence").unwrap_or(&Value::Null);
    let text = rrule_text(recurrence, &start)?;
    text.parse::<rrule::RRuleSet>().map_err(|e| format!("Invalid recurrence: {e}"))?;
    Ok(())
}

/// Occurrence starts (UTC) of a series whose occurrences may overlap `[from, to)`.
pub(crate) fn occurrence_starts(
    master: &Value,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(Vec<DateTime<Utc>>, Duration), String> {
    let start = parse_when(master.get("start"), "start")?;
    let end = parse_when(master.get("end"), "end")?;
    let duration = end.at - start.at;
    let text = rrule_text(master.get("recurrence").unwrap_or(&Value::Null), &start)?;
    let set: rrule::RRuleSet = text.parse().map_err(|e| format!("Invalid recurrence: {e}"))?;
    // A margin of a day either side: exceptions may have moved, and the caller filters exactly.
    let after = (from - duration - Duration::days(1)).with_timezone(&rrule::Tz::UTC);
    let before = (to + Duration::days(1)).with_timezone(&rrule::Tz::UTC);
    let dates = set.after(after).before(before).all(MAX_OCCURRENCES).dates;
    Ok((dates.into_iter().map(|d| d.with_timezone(&Utc)).collect(), duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_zones() {
        assert_eq!(parse_zone("Pacific Standard Time"), Some(chrono_tz::America::Los_Angeles));
        assert_eq!(parse_zone("Europe/Berlin"), Some(chrono_tz::Europe::Berlin));
        assert_eq!(parse_zone("Nowhere"), None);
    }

    #[test]
    fn local_times_are_read_in_their_zone() {
        let v = json!({"dateTime": "2030-01-07T09:00:00.0000000", "timeZone": "W. Europe Standard Time"});
        let when = parse_when(Some(&v), "start").unwrap();
        assert_eq!(utc_text(when.at), "2030-01-07T08:00:00Z");
    }

    #[test]
    fn weekly_numbered_series_expands() {
        let master = json!({
            "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-07T09:30:00", "timeZone": "UTC"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"]},
                           "range": {"type": "numbered", "startDate": "2030-01-07", "numberOfOccurrences": 4}},
        });
        let from = parse_query_instant("2030-01-01T00:00:00Z").unwrap();
        let (starts, duration) = occurrence_starts(&master, from, from + Duration::days(60)).unwrap();
        assert_eq!(starts.len(), 4);
        assert_eq!(duration, Duration::minutes(30));
        assert_eq!(utc_text(starts[1]), "2030-01-09T09:00:00Z");
    }
}
