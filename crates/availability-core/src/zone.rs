//! IANA zones and the wall-clock arithmetic of one query window.
//!
//! [`Zone`] is a validated IANA name. [`Timeline`] is the zone's UTC offsets over
//! a bounded stretch of time, found once per query, so that every wall-time to
//! instant conversion after that is a scan of two or three segments instead of
//! a search of the whole time-zone database.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub(crate) const DAY: i64 = 86_400;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A time zone from the IANA database, known to exist.
///
/// ```
/// use availability_core::Zone;
/// let berlin: Zone = "Europe/Berlin".parse().unwrap();
/// assert_eq!(berlin.name(), "Europe/Berlin");
/// assert!("Mars/Olympus_Mons".parse::<Zone>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(Tz);

impl Zone {
    /// Parses an IANA zone name, naming `field` in the error.
    pub fn parse(name: &str, field: &str) -> Result<Self> {
        name.parse::<Tz>().map(Zone).map_err(|_| Error::UnknownZone { field: field.to_owned(), name: name.to_owned() })
    }

    /// The IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The underlying `chrono-tz` zone.
    pub fn tz(&self) -> Tz {
        self.0
    }

    /// The first instant of a local date: midnight, or where a DST gap at midnight
    /// ends (the engine's "compatible" rule, the same one every rule uses).
    ///
    /// ```
    /// use availability_core::Zone;
    /// use chrono::NaiveDate;
    /// let sao: Zone = "America/Sao_Paulo".parse().unwrap();
    /// let day = sao.start_of_day(NaiveDate::from_ymd_opt(2018, 11, 4).unwrap());
    /// assert_eq!(sao.at(day).to_rfc3339(), "2018-11-04T01:00:00-02:00");
    /// ```
    pub fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight is a valid time");
        DateTime::from_timestamp(instant_of_wall(self.0, midnight), 0).expect("instant within chrono's range")
    }

    /// Writes an instant as a date-time with this zone's offset at that instant.
    pub fn at(&self, instant: DateTime<Utc>) -> DateTime<Tz> {
        instant.with_timezone(&self.0)
    }
}

impl From<Tz> for Zone {
    fn from(tz: Tz) -> Self {
        Zone(tz)
    }
}

impl FromStr for Zone {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Zone::parse(s, "timezone")
    }
}

impl TryFrom<String> for Zone {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.name().to_owned()
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name())
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Day number (days since 1970-01-01) of a calendar date.
pub(crate) fn day_number(date: NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&date)) - UNIX_EPOCH_DAYS_FROM_CE
}

/// Calendar date of a day number.
#[cfg(test)]
pub(crate) fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt((day + UNIX_EPOCH_DAYS_FROM_CE) as i32)
        .expect("day number within chrono's range")
}

/// Weekday of a day number, Monday = 0.
pub(crate) fn weekday_of_day(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

fn offset_of(tz: Tz, t: i64) -> i32 {
    let naive = DateTime::from_timestamp(t, 0).expect("instant within chrono's range").naive_utc();
    tz.offset_from_utc_datetime(&naive).fix().local_minus_utc()
}

/// How far apart offsets are sampled when a timeline is built. Two transitions
/// closer than this that cancel out would hide each other; the IANA database
/// has no such pair from 2000 to 2040 (a test scans every zone around every
/// change found), and the oracle property test compares conversions with a
/// per-minute table over random zones.
const SAMPLE_STEP: i64 = 6 * 3600;

#[derive(Debug, Clone, Copy)]
struct Segment {
    /// First instant with this offset (`i64::MIN` for the first segment).
    start: i64,
    /// Local minus UTC, seconds.
    offset: i32,
}

/// A zone's offsets over `[from, to]`, as segments of constant offset.
///
/// Queries outside the covered stretch use the nearest segment's offset.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    tz: Tz,
    segments: Vec<Segment>,
}

impl Timeline {
    /// Finds every offset change in `[from, to]` by sampling and bisection.
    pub fn new(tz: Tz, from: i64, to: i64) -> Self {
        let mut segments = vec![Segment { start: i64::MIN, offset: offset_of(tz, from) }];
        let mut t = from;
        let mut off = segments[0].offset;
        while t < to {
            let next = (t + SAMPLE_STEP).min(to);
            let next_off = offset_of(tz, next);
            if next_off != off {
                // The change lies in (t, next]: bisect to the first second of the new offset.
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if offset_of(tz, mid) == off {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                segments.push(Segment { start: hi, offset: offset_of(tz, hi) });
                off = offset_of(tz, hi);
                if off != next_off {
                    // Two changes inside one sample step: continue from the first one.
                    t = hi;
                    continue;
                }
            }
            t = next;
        }
        Timeline { tz, segments }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    fn index_at(&self, t: i64) -> usize {
        self.segments.partition_point(|s| s.start <= t) - 1
    }

    fn segment_end(&self, i: usize) -> i64 {
        self.segments.get(i + 1).map_or(i64::MAX, |s| s.start)
    }

    /// Local minus UTC at instant `t`, seconds.
    pub fn offset_at(&self, t: i64) -> i64 {
        i64::from(self.segments[self.index_at(t)].offset)
    }

    /// Wall-clock seconds since the local epoch at instant `t`.
    pub fn local(&self, t: i64) -> i64 {
        t + self.offset_at(t)
    }

    /// The local day number of instant `t`.
    pub fn day_of(&self, t: i64) -> i64 {
        self.local(t).div_euclid(DAY)
    }

    /// The instant of a wall-clock time (seconds since the local epoch), by the
    /// "compatible" rule: a time in a gap moves forward by the gap, an ambiguous
    /// time takes the earlier instant.
    pub fn instant(&self, wall: i64) -> i64 {
        for (i, seg) in self.segments.iter().enumerate() {
            let t = wall - i64::from(seg.offset);
            if t < seg.start {
                // Not reached in the previous segment, before this one: a gap.
                // Moving forward by the gap is the previous offset applied.
                return wall - i64::from(self.segments[i - 1].offset);
            }
            if t < self.segment_end(i) {
                return t;
            }
        }
        unreachable!("the last segment is unbounded")
    }

    /// The first instant of local day `day`.
    pub fn start_of_day(&self, day: i64) -> i64 {
        self.instant(day * DAY)
    }

    /// The first instant at or after `t` whose wall-clock reading is a whole
    /// multiple of `grid` seconds after local midnight.
    pub fn next_on_grid(&self, mut t: i64, grid: i64) -> i64 {
        loop {
            let i = self.index_at(t);
            let local = t + i64::from(self.segments[i].offset);
            let candidate = t + (grid - local.rem_euclid(grid)) % grid;
            let end = self.segment_end(i);
            if candidate < end {
                return candidate;
            }
            t = end;
        }
    }
}

/// One-off wall-time conversion straight from the zone database, by the same
/// "compatible" rule as [`Timeline::instant`]; for instants far from a query window.
pub(crate) fn instant_of_wall(tz: Tz, wall: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => t.timestamp(),
        chrono::LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        chrono::LocalResult::None => {
            // Inside a gap: the offset in force just before the gap applies,
            // which moves the wall time forward by the length of the gap.
            let before = chrono_tz::GapInfo::new(&wall, &tz)
                .and_then(|gap| gap.begin)
                .map_or(0, |(_, offset)| offset.fix().local_minus_utc());
            wall.and_utc().timestamp() - i64::from(before)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn wall(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, 0).unwrap().and_utc().timestamp()
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn berlin_spring_gap_moves_forward_and_autumn_overlap_takes_earlier() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let tl = Timeline::new(tz, utc("2030-03-01T00:00:00Z"), utc("2030-11-01T00:00:00Z"));
        // 02:30 does not exist on 2030-03-31: it becomes 03:30 CEST = 01:30Z.
        assert_eq!(tl.instant(wall(2030, 3, 31, 2, 30)), utc("2030-03-31T01:30:00Z"));
        // 02:30 happens twice on 2030-10-27: the first (CEST) is 00:30Z.
        assert_eq!(tl.instant(wall(2030, 10, 27, 2, 30)), utc("2030-10-27T00:30:00Z"));
        assert_eq!(tl.instant(wall(2030, 6, 1, 9, 0)), utc("2030-06-01T07:00:00Z"));
        assert_eq!(
            instant_of_wall(tz, NaiveDate::from_ymd_opt(2030, 3, 31).unwrap().and_hms_opt(2, 30, 0).unwrap()),
            utc("2030-03-31T01:30:00Z")
        );
    }

    #[test]
    fn grid_crosses_lord_howe_half_hour_gap() {
        let tz: Tz = "Australia/Lord_Howe".parse().unwrap();
        // 2030-10-06 02:00 -> 02:30 (+10:30 -> +11:00).
        let tl = Timeline::new(tz, utc("2030-10-01T00:00:00Z"), utc("2030-10-10T00:00:00Z"));
        let t = tl.instant(wall(2030, 10, 6, 1, 50));
        let next = tl.next_on_grid(t, 3600);
        assert_eq!(
            tl.local(next).rem_euclid(DAY),
            3 * 3600,
            "02:30 is the first clock reading after the gap, 03:00 the first on the hour"
        );
    }

    #[test]
    fn no_zone_has_two_changes_within_a_sample_step() {
        let (from, to) = (utc("2000-01-01T00:00:00Z"), utc("2040-01-01T00:00:00Z"));
        for tz in chrono_tz::TZ_VARIANTS {
            let tl = Timeline::new(tz, from, to);
            for seg in &tl.segments[1..] {
                // Around each change found, every other change within a sample step shows up at 10-minute resolution.
                let changes = (-36..36)
                    .map(|k| seg.start + k * 600)
                    .filter(|&t| offset_of(tz, t) != offset_of(tz, t - 600))
                    .count();
                assert_eq!(changes, 1, "{tz}: changes near {}", seg.start);
            }
            for t in (from..to).step_by(86_400 * 7) {
                assert_eq!(i64::from(offset_of(tz, t)), tl.offset_at(t), "{tz} at {t}");
            }
        }
    }

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2030, 3, 4).unwrap();
        assert_eq!(date_of_day(day_number(d)), d);
        assert_eq!(weekday_of_day(day_number(d)), 0, "2030-03-04 is a Monday");
        assert_eq!(day_number(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
    }
}
