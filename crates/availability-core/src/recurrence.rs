//! Recurring time off: RFC 5545 rules (through the `rrule` crate) that repeat a
//! wall-clock time in the employee's zone.
//!
//! The rule is expanded on the *wall clock*: the start's local date-time is
//! handed to `rrule` as if it were UTC, so the crate does pure calendar
//! arithmetic (weekdays, month days, counts) with no offset changes, and every
//! occurrence keeps the start's wall time. Each occurrence then becomes an
//! instant in the employee's zone by the "compatible" rule. That is what makes
//! a 09:00 weekly absence stay at 09:00 across a DST change.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rrule::{Frequency, RRule, RRuleSet, Unvalidated};

use crate::error::{Error, Result};
use crate::zone::{Timeline, Zone};

/// A parsed, validated rule with its start and excluded instants.
#[derive(Clone)]
pub(crate) struct Recurrence {
    text: String,
    set: RRuleSet,
    /// Excluded occurrence instants (Unix seconds), sorted.
    exdates: Vec<i64>,
}

impl PartialEq for Recurrence {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.exdates == other.exdates && self.set.get_dt_start() == other.set.get_dt_start()
    }
}
impl Eq for Recurrence {}

impl std::fmt::Debug for Recurrence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recurrence").field("rule", &self.text).field("exdates", &self.exdates.len()).finish()
    }
}

fn wall_as_utc(wall: NaiveDateTime) -> DateTime<rrule::Tz> {
    rrule::Tz::UTC.from_utc_datetime(&wall)
}

impl Recurrence {
    pub fn parse(rule: &str, start: DateTime<Utc>, exdates: &[DateTime<Utc>], zone: Zone) -> Result<Self> {
        let err = |message: String| Error::Recurrence { field: "rrule".to_owned(), message };
        let text = rule.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        // RFC 5545 rules are ASCII; the rrule crate panics slicing some non-ASCII input
        // (found by fuzzing), so it never sees any.
        if !text.is_ascii() {
            return Err(err("not an RFC 5545 RRULE: only ASCII characters may appear".to_owned()));
        }
        let parsed: RRule<Unvalidated> = text.parse().map_err(|e| err(format!("not an RFC 5545 RRULE: {e}")))?;
        if matches!(parsed.get_freq(), Frequency::Hourly | Frequency::Minutely | Frequency::Secondly) {
            return Err(err("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY".to_owned()));
        }
        if !parsed.get_by_hour().is_empty() || !parsed.get_by_minute().is_empty() || !parsed.get_by_second().is_empty()
        {
            return Err(err(
                "BYHOUR, BYMINUTE and BYSECOND are not supported: occurrences repeat the start's wall time".to_owned(),
            ));
        }
        let tz = zone.tz();
        let start_wall = start.with_timezone(&tz).naive_local();
        let mut rule = parsed.clone();
        if let Some(until) = parsed.get_until() {
            // UNTIL with `Z` is an instant: read it on the employee's clock. A
            // floating UNTIL is already a wall time in that zone.
            let until_wall = if until.timezone().name() == "UTC" {
                until.with_timezone(&Utc).with_timezone(&tz).naive_local()
            } else {
                until.naive_local()
            };
            rule = rule.until(wall_as_utc(until_wall));
        }
        let dt_start = wall_as_utc(start_wall);
        // `limit()`: a rule that never yields (Feb 30, BYSETPOS past the set) would
        // otherwise walk every period up to year 9999 before giving up; limited, the
        // walk stops after rrule's loop bound.
        let set = rule.build(dt_start).map_err(|e| err(format!("invalid rule: {e}")))?.limit();
        let first = set.into_iter().next();
        if first != Some(dt_start) {
            return Err(err("the time off's start must itself be an occurrence of the rule".to_owned()));
        }
        let mut exdates: Vec<i64> = exdates.iter().map(|d| d.timestamp()).collect();
        exdates.sort_unstable();
        Ok(Recurrence { text: text.to_owned(), set, exdates })
    }

    /// Calls `each` with the start instant of every occurrence whose wall time
    /// lies in `[wall_from, wall_to)` (local seconds), in order.
    pub fn for_each_start(&self, timeline: &Timeline, wall_from: i64, wall_to: i64, mut each: impl FnMut(i64)) {
        for occurrence in &self.set {
            let wall = occurrence.naive_utc().and_utc().timestamp();
            if wall >= wall_to {
                break;
            }
            if wall < wall_from {
                continue;
            }
            let instant = timeline.instant(wall);
            if self.exdates.binary_search(&instant).is_err() {
                each(instant);
            }
        }
    }
}
