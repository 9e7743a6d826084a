//! Reads a peer workload (`slots-workload/v1`, see `shared/bench/README.md`)
//! into the engine's inputs, and writes slots in the peers' answer format.
//! Shared by the peer test, the benchmark and the `workload` example.
#![allow(dead_code)]

use availability_core::{
    Business, BusyTime, Employee, ExternalBusy, Interval, Query, ServiceRules, SpecialDate, WallRange, Week,
    WeeklyHours, Zone,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    name: String,
    time_zone: String,
    window: RawWindow,
    weekly: Vec<RawWeekly>,
    #[serde(default)]
    date_overrides: Vec<RawOverride>,
    event_length_minutes: i64,
    slot_interval_minutes: i64,
    #[serde(default)]
    minimum_booking_notice_minutes: i64,
    busy: Vec<RawBusy>,
}

#[derive(Deserialize)]
struct RawWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RawWeekly {
    days: Vec<usize>,
    start: String,
    end: String,
}

#[derive(Deserialize)]
struct RawRange {
    start: String,
    end: String,
}

#[derive(Deserialize)]
struct RawOverride {
    date: NaiveDate,
    ranges: Vec<RawRange>,
}

#[derive(Deserialize)]
struct RawBusy {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A workload mapped to the engine's inputs.
pub struct Workload {
    pub name: String,
    pub business: Business,
    pub service: ServiceRules,
    pub employee: Employee,
    pub query: Query,
}

fn range(start: &str, end: &str) -> WallRange {
    // The workloads write the end of the day as "23:59" or "24:00"; both mean midnight.
    let end = if end == "23:59" { "24:00" } else { end };
    WallRange::parse(start, end, "range").expect("valid workload range")
}

/// Parses a workload file's JSON text.
pub fn parse(text: &str) -> Workload {
    let raw: Raw = serde_json::from_str(text).expect("a slots-workload/v1 document");
    let zone: Zone = raw.time_zone.parse().expect("known zone");
    let mut days: [Vec<WallRange>; 7] = Default::default();
    for w in &raw.weekly {
        for &d in &w.days {
            // Workloads count 0 = Sunday; the engine counts 0 = Monday.
            days[(d + 6) % 7].push(range(&w.start, &w.end));
        }
    }
    let business = Business {
        zone,
        hours: Some(WeeklyHours { weekly: Week::from_days(days), breaks: Week::default() }),
        special_dates: raw
            .date_overrides
            .iter()
            .map(|o| SpecialDate { date: o.date, hours: o.ranges.iter().map(|r| range(&r.start, &r.end)).collect() })
            .collect(),
        holidays: Vec::new(),
    };
    let service = ServiceRules::new(
        raw.event_length_minutes,
        0,
        0,
        raw.slot_interval_minutes,
        raw.minimum_booking_notice_minutes,
        3660,
    )
    .expect("valid service");
    let mut employee = Employee::new("workload", zone);
    employee.external = raw
        .busy
        .iter()
        .enumerate()
        .map(|(i, b)| ExternalBusy {
            id: i.to_string(),
            time: BusyTime::Timed(Interval::new(b.start, b.end, "busy").expect("busy end after start")),
        })
        .collect();
    let window = Interval::new(raw.window.start, raw.window.end, "window").expect("valid window");
    Workload { name: raw.name, business, service, employee, query: Query { window, now: raw.window.start } }
}

/// The slot starts in the peers' answer format.
pub fn answer(name: &str, starts: &[DateTime<Utc>]) -> serde_json::Value {
    let slots: Vec<String> = starts.iter().map(|s| s.format("%Y-%m-%dT%H:%M:%S.000Z").to_string()).collect();
    serde_json::json!({"workload": name, "peer": "slotwise", "slotCount": slots.len(), "slots": slots})
}
