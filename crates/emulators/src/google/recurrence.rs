//! Event times (`date` / `dateTime` + `timeZone`) and RRULE expansion into instances.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

/// Most instances one series expands to in one request.
const MAX_INSTANCES: u16 = 2500;

/// A parsed `EventDateTime`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum When {
    /// All-day (`date`).
    Date(NaiveDate),
    /// Timed (`dateTime`), with the `timeZone` if one was given.
    Instant { at: DateTime<Utc>, tz: Option<Tz> },
}

impl When {
    /// The instant this starts, all-day dates at midnight in `cal_tz`.
    pub(crate) fn instant(&self, cal_tz: Tz) -> DateTime<Utc> {
        match self {
            When::Instant { at, .. } => *at,
            When::Date(d) => midnight(*d, cal_tz),
        }
    }
}

pub(crate) fn midnight(d: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = d.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or_else(|| naive.and_utc())
}

/// Parses a `start`/`end` object. Errors carry Google's message.
pub(crate) fn parse_when(v: &Value, which: &str) -> Result<When, String> {
    let tz = match v.get("timeZone").and_then(Value::as_str) {
        Some(name) => Some(name.parse::<Tz>().map_err(|_| format!("Invalid time zone definition for {which} time."))?),
        None => None,
    };
    if let Some(d) = v.get("date").and_then(Value::as_str) {
        if v.get("dateTime").and_then(Value::as_str).is_some() {
            return Err(format!("Invalid {which} time."));
        }
        let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("Invalid {which} time."))?;
        return Ok(When::Date(date));
    }
    if let Some(dt) = v.get("dateTime").and_then(Value::as_str) {
        if let Ok(at) = DateTime::parse_from_rfc3339(dt) {
            return Ok(When::Instant { at: at.with_timezone(&Utc), tz });
        }
        let naive =
            NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f").map_err(|_| format!("Invalid {which} time."))?;
        let zone = tz.ok_or_else(|| format!("Missing time zone definition for {which} time."))?;
        let at = zone
            .from_local_datetime(&naive)
            .earliest()
            .ok_or_else(|| format!("Invalid {which} time."))?
            .with_timezone(&Utc);
        return Ok(When::Instant { at, tz: Some(zone) });
    }
    Err(format!("Missing {which} time."))
}

/// `[start, end)` of a stored event or instance, or `None` for a tombstone without times.
pub(crate) fn bounds(event: &Value, cal_tz: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = parse_when(event.get("start")?, "start").ok()?;
    let end = parse_when(event.get("end")?, "end").ok()?;
    Some((start.instant(cal_tz), end.instant(cal_tz)))
}

/// RFC 3339 as Google writes it: seconds, `Z` for UTC.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn rfc3339_in(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One generated instance of a series.
#[derive(Debug, Clone)]
pub(crate) struct Occurrence {
    pub id: String,
    pub start: Value,
    pub end: Value,
    pub original_start: Value,
}

/// Expands a series master into the instances overlapping `[from, to)`.
pub(crate) fn expand(
    master: &Value,
    cal_tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, String> {
    let master_id = master.get("id").and_then(Value::as_str).unwrap_or_default();
    let start = parse_when(master.get("start").unwrap_or(&Value::Null), "start")?;
    let end = parse_when(master.get("end").unwrap_or(&Value::Null), "end")?;
    let lines: Vec<String> = master
        .get("recurrence")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let (dtstart, duration, tz, all_day) = match (start, end) {
        (When::Instant { at, tz }, When::Instant { at: end_at, .. }) => {
            let zone = tz.ok_or("Missing time zone definition for start time.")?;
            let local = at.with_timezone(&zone).naive_local();
            (format!("DTSTART;TZID={}:{}", zone.name(), local.format("%Y%m%dT%H%M%S")), end_at - at, zone, false)
        }
        (When::Date(d), When::Date(e)) => {
            (format!("DTSTART:{}T000000Z", d.format("%Y%m%d")), e - d, chrono_tz::UTC, true)
        }
        _ => return Err("Invalid start time.".into()),
    };
    let mut text = dtstart;
    for line in &lines {
        let upper = line.to_ascii_uppercase();
        let line = if all_day && upper.contains("VALUE=DATE") {
            // All-day EXDATE/RDATE: the set is expanded at UTC midnight, so rewrite the dates that way.
            let (name, values) = line.split_once(':').ok_or("Invalid recurrence rule.")?;
            let name = name.split(';').next().unwrap_or(name);
            let values: Vec<String> = values.split(',').map(|v| format!("{v}T000000Z")).collect();
            format!("{name}:{}", values.join(","))
        } else {
            line.clone()
        };
        text.push('\n');
        text.push_str(&line);
    }
    let set: rrule::RRuleSet = text.parse().map_err(|_| "Invalid recurrence rule.".to_owned())?;
    let after = (from - duration - Duration::days(1)).with_timezone(&rrule::Tz::UTC);
    let before = (to + Duration::days(1)).with_timezone(&rrule::Tz::UTC);
    let dates = set.after(after).before(before).all(MAX_INSTANCES).dates;
    let mut out = Vec::new();
    for date in dates {
        let start_at = date.with_timezone(&Utc);
        let end_at = start_at + duration;
        let occurrence = if all_day {
            let day = start_at.date_naive();
            let end_day = day + duration;
            if midnight(end_day, cal_tz) <= from || midnight(day, cal_tz) >= to {
                continue;
            }
            let start = json!({"date": day.format("%Y-%m-%d").to_string()});
            Occurrence {
                id: format!("{master_id}_{}", day.format("%Y%m%d")),
                original_start: start.clone(),
                start,
                end: json!({"date": end_day.format("%Y-%m-%d").to_string()}),
            }
        } else {
            if end_at <= from || start_at >= to {
                continue;
            }
            let start = json!({"dateTime": rfc3339_in(start_at, tz), "timeZone": tz.name()});
            Occurrence {
                id: format!("{master_id}_{}", start_at.format("%Y%m%dT%H%M%SZ")),
                original_start: start.clone(),
                start,
                end: json!({"dateTime": rfc3339_in(end_at, tz), "timeZone": tz.name()}),
            }
        };
        out.push(occurrence);
    }
    Ok(out)
}

/// The instant an instance id's suffix names (`…_20250106T150000Z` or `…_20250106`).
pub(crate) fn instance_time(suffix: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = NaiveDateTime::parse_from_str(suffix, "%Y%m%dT%H%M%SZ") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(suffix, "%Y%m%d").ok().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// The JSON of a generated instance.
pub(crate) fn instance_json(master: &Value, occ: &Occurrence) -> Value {
    let mut v = master.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("recurrence");
        obj.insert("id".into(), json!(occ.id));
        obj.insert("recurringEventId".into(), master.get("id").cloned().unwrap_or(Value::Null));
        obj.insert("originalStartTime".into(), occ.original_start.clone());
        obj.insert("start".into(), occ.start.clone());
        obj.insert("end".into(), occ.end.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_series_expands_in_its_zone() {
        let master = json!({
            "id": "series1",
            "start": {"dateTime": "2025-03-24T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2025-03-24T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"]
        });
        let from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let occ = expand(&master, chrono_tz::UTC, from, to).unwrap();
        let ids: Vec<&str> = occ.iter().map(|o| o.id.as_str()).collect();
        // The DST change on 30 March keeps 09:00 local: 08:00Z then 07:00Z.
        assert_eq!(ids, ["series1_20250324T080000Z", "series1_20250331T070000Z", "series1_20250407T070000Z"]);
    }

    #[test]
    fn all_day_series_with_exdate() {
        let master = json!({
            "id": "daily1",
            "start": {"date": "2025-01-06"},
            "end": {"date": "2025-01-07"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=3", "EXDATE;VALUE=DATE:20250107"]
        });
        let from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0).unwrap();
        let occ = expand(&master, chrono_tz::UTC, from, to).unwrap();
        let ids: Vec<&str> = occ.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["daily1_20250106", "daily1_20250108"]);
    }
}
