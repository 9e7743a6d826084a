//! Recurring time off from arbitrary RRULE text.
//!
//! The first bytes pick the zone, the start (anywhere from 1900 to 2100), the
//! length and the query window (up to a century after the start); the rest is
//! the rule, as text. `TimeOff::recurring` must refuse it with an error naming
//! `rrule`, or take it; a rule it takes is expanded by a slot query and a
//! check over the window, which must not panic, and the time off must block
//! its own first occurrence. How long all of this takes is bounded by the
//! fuzzer's `-timeout`: a rule that costs seconds is a finding too.

use arbitrary::Unstructured;
use availability_core::{
    Business, Employee, Interval, Query, ReasonCode, ServiceRules, TimeOff, Zone, available_slots, check_slot,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::availability::pick_zone;

/// Feeds the tail of `data` to `TimeOff::recurring` as an RRULE and, if taken, expands it.
///
/// # Panics
/// When parsing or expansion panics, or the time off does not block its own start.
pub fn rrule_time_off(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(parts) = Parts::build(&mut u) else { return };
    let rule = String::from_utf8_lossy(u.take_rest());
    parts.check(&rule);
}

struct Parts {
    zone: Zone,
    interval: Interval,
    exdates: Vec<DateTime<Utc>>,
    window: Interval,
}

impl Parts {
    fn build(u: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let zone = Zone::from(pick_zone(u)?);
        let start = u.int_in_range(-2_208_988_800i64..=4_102_444_800)? / 60 * 60;
        let length = u.int_in_range(1..=3 * 1440i64)? * 60;
        let utc = |s: i64| DateTime::from_timestamp(s, 0).expect("in range");
        let interval = Interval::new(utc(start), utc(start + length), "time_off").expect("end after start");
        let mut exdates = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            exdates.push(utc(start + u.int_in_range(0..=400i64)? * 86_400));
        }
        let from = start + u.int_in_range(-2i64..=36_500)? * 86_400 + u.int_in_range(0..=1439i64)? * 60;
        let window = Interval::new(utc(from), utc(from + u.int_in_range(1..=3i64)? * 86_400), "window")
            .expect("end after start");
        Ok(Parts { zone, interval, exdates, window })
    }

    fn check(&self, rule: &str) {
        let time_off = match TimeOff::recurring("rt", self.interval, rule, &self.exdates, self.zone) {
            Ok(t) => t,
            Err(e) => {
                assert_eq!(e.field(), "rrule", "{rule:?} refused with an error on another field: {e}");
                return;
            }
        };
        let business =
            Business { zone: self.zone, hours: Some(open_every_day()), special_dates: vec![], holidays: vec![] };
        let service = ServiceRules::new(30, 0, 0, 30, 0, 3660).expect("valid rules");
        let mut employee = Employee::new("e", self.zone);
        employee.time_off.push(time_off);
        let now = self.interval.start() - Duration::days(1);
        let employees = std::slice::from_ref(&employee);

        // The window far from the start: the expansion must get there without panicking.
        available_slots(&business, &service, employees, &Query { window: self.window, now });
        check_slot(&business, &service, &employee, self.window.start(), now);

        // The first occurrence is the start itself, unless an exdate removes it (or the start is the later
        // of two instants with the same wall time: occurrences take the earlier one).
        let start = self.interval.start();
        let wall = start.with_timezone(&self.zone.tz()).naive_local();
        let ambiguous = matches!(self.zone.tz().from_local_datetime(&wall), chrono::LocalResult::Ambiguous(..));
        if !self.exdates.contains(&start) && !ambiguous {
            let c = check_slot(&business, &service, &employee, start, now);
            assert!(
                c.reasons.iter().any(|r| r.code == ReasonCode::TimeOff),
                "{rule:?}: time off does not block its own start {start}: {:?}",
                c.reasons
            );
        }
    }
}

/// Open all day, every day.
fn open_every_day() -> availability_core::WeeklyHours {
    availability_core::WeeklyHours {
        weekly: availability_core::Week::every_day(&[availability_core::WallRange::FULL_DAY]),
        breaks: availability_core::Week::default(),
    }
}
