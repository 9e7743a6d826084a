//! Wall-clock opening hours: times of day, ranges, weekly patterns, special dates and holidays.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A time of day on the wall clock, `"00:00"` to `"24:00"` inclusive, in whole minutes.
///
/// ```
/// use availability_core::WallTime;
/// assert_eq!(WallTime::parse("09:30", "t").unwrap().minutes(), 570);
/// assert_eq!(WallTime::parse("24:00", "t").unwrap().minutes(), 1440);
/// assert!(WallTime::parse("24:01", "t").is_err());
/// assert!(WallTime::parse("9:30", "t").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WallTime(u16);

impl WallTime {
    /// Midnight at the start of the day.
    pub const MIDNIGHT: WallTime = WallTime(0);
    /// Midnight at the end of the day (`"24:00"`).
    pub const END_OF_DAY: WallTime = WallTime(1440);

    /// Parses `"HH:MM"`, naming `field` in the error.
    pub fn parse(s: &str, field: &str) -> Result<Self> {
        let bad = || Error::invalid(field, format!("expected a time \"HH:MM\" from 00:00 to 24:00, got {s:?}"));
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
            return Err(bad());
        }
        let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
        let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(WallTime(h * 60 + m))
    }

    /// Builds from minutes after midnight (0 to 1440).
    pub fn from_minutes(minutes: u16, field: &str) -> Result<Self> {
        if minutes > 1440 {
            return Err(Error::invalid(field, "minutes after midnight must be at most 1440"));
        }
        Ok(WallTime(minutes))
    }

    /// Minutes after local midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl TryFrom<String> for WallTime {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        WallTime::parse(&s, "time")
    }
}

impl From<WallTime> for String {
    fn from(t: WallTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl fmt::Debug for WallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A range of wall-clock time within one day, start strictly before end on the clock.
///
/// Serialised as `["09:00", "17:00"]`. A range across midnight is written as two
/// ranges on two days; touching ranges merge, also across midnight.
///
/// ```
/// use availability_core::WallRange;
/// assert!(WallRange::parse("09:00", "17:00", "r").is_ok());
/// assert!(WallRange::parse("22:00", "02:00", "r").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "[String; 2]", into = "[String; 2]")]
pub struct WallRange {
    start: WallTime,
    end: WallTime,
}

impl WallRange {
    /// `["00:00", "24:00"]`.
    pub const FULL_DAY: WallRange = WallRange { start: WallTime::MIDNIGHT, end: WallTime::END_OF_DAY };

    /// A range from two times, `start < end`.
    pub fn new(start: WallTime, end: WallTime, field: &str) -> Result<Self> {
        if start >= end {
            return Err(Error::EndBeforeStart { field: field.to_owned() });
        }
        Ok(WallRange { start, end })
    }

    /// Parses two `"HH:MM"` strings.
    pub fn parse(start: &str, end: &str, field: &str) -> Result<Self> {
        let s = WallTime::parse(start, &format!("{field}.0"))?;
        let e = WallTime::parse(end, &format!("{field}.1"))?;
        WallRange::new(s, e, field)
    }

    /// Start of the range.
    pub fn start(self) -> WallTime {
        self.start
    }

    /// End of the range (exclusive).
    pub fn end(self) -> WallTime {
        self.end
    }
}

impl TryFrom<[String; 2]> for WallRange {
    type Error = Error;
    fn try_from([s, e]: [String; 2]) -> Result<Self> {
        WallRange::parse(&s, &e, "range")
    }
}

impl From<WallRange> for [String; 2] {
    fn from(r: WallRange) -> Self {
        [r.start.to_string(), r.end.to_string()]
    }
}

impl fmt::Debug for WallRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Sorts one day's ranges and drops exact repeats. Overlapping ranges are *not*
/// merged on the wall clock: each range becomes instants on its own and they
/// merge as instants, because a range starting inside a DST gap moves forward
/// by the gap while an overlapping range starting after the gap does not.
pub(crate) fn sort_ranges(ranges: &mut Vec<WallRange>) {
    ranges.sort();
    ranges.dedup();
}

/// Day keys of the weekly maps, Monday first.
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Wall-clock ranges for each day of the week, Monday first, each day's ranges
/// sorted (they merge once they are instants, also across midnight).
///
/// Serialised as the contract's map: `{"mon": [["09:00","17:00"]], ...}`; days
/// left out have no ranges.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, Vec<[String; 2]>>", into = "BTreeMap<String, Vec<[String; 2]>>")]
pub struct Week([Vec<WallRange>; 7]);

impl Week {
    /// Builds from a map of day keys (`mon` .. `sun`) to ranges, naming fields
    /// `mon.0` etc. in errors.
    pub fn parse<S: AsRef<str>>(map: &BTreeMap<String, Vec<[S; 2]>>) -> Result<Self> {
        let mut days: [Vec<WallRange>; 7] = Default::default();
        for (key, ranges) in map {
            let Some(i) = DAY_KEYS.iter().position(|k| k == key) else {
                return Err(Error::invalid(key.clone(), "unknown day: use mon, tue, wed, thu, fri, sat or sun"));
            };
            for (j, [s, e]) in ranges.iter().enumerate() {
                days[i].push(WallRange::parse(s.as_ref(), e.as_ref(), &format!("{key}.{j}"))?);
            }
            sort_ranges(&mut days[i]);
        }
        Ok(Week(days))
    }

    /// Builds from per-day ranges, Monday first.
    pub fn from_days(mut days: [Vec<WallRange>; 7]) -> Self {
        days.iter_mut().for_each(sort_ranges);
        Week(days)
    }

    /// The same ranges every day of the week.
    pub fn every_day(ranges: &[WallRange]) -> Self {
        Week::from_days(std::array::from_fn(|_| ranges.to_vec()))
    }

    /// Ranges of a weekday, Monday = 0.
    pub fn day(&self, weekday: usize) -> &[WallRange] {
        &self.0[weekday]
    }
}

impl TryFrom<BTreeMap<String, Vec<[String; 2]>>> for Week {
    type Error = Error;
    fn try_from(map: BTreeMap<String, Vec<[String; 2]>>) -> Result<Self> {
        Week::parse(&map)
    }
}

impl From<Week> for BTreeMap<String, Vec<[String; 2]>> {
    fn from(w: Week) -> Self {
        DAY_KEYS
            .iter()
            .zip(w.0)
            .filter(|(_, r)| !r.is_empty())
            .map(|(k, r)| ((*k).to_owned(), r.into_iter().map(Into::into).collect()))
            .collect()
    }
}

impl fmt::Debug for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(DAY_KEYS.iter().zip(self.0.iter()).filter(|(_, r)| !r.is_empty())).finish()
    }
}

/// A weekly pattern of open ranges with the breaks cut out of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyHours {
    /// Open ranges per weekday.
    pub weekly: Week,
    /// Breaks per weekday, cut out of that day's ranges.
    #[serde(default)]
    pub breaks: Week,
}

impl WeeklyHours {
    /// Builds from the contract's two maps, naming `weekly.mon.0` / `breaks.tue.1` in errors.
    pub fn parse<S: AsRef<str>>(
        weekly: &BTreeMap<String, Vec<[S; 2]>>,
        breaks: &BTreeMap<String, Vec<[S; 2]>>,
    ) -> Result<Self> {
        Ok(WeeklyHours {
            weekly: Week::parse(weekly).map_err(|e| e.within("weekly"))?,
            breaks: Week::parse(breaks).map_err(|e| e.within("breaks"))?,
        })
    }
}

/// Hours that replace the weekly ranges and weekly breaks of one date on one
/// side (business or employee); no ranges means closed that date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialDate {
    /// The local date.
    pub date: NaiveDate,
    /// Open ranges that date.
    pub hours: Vec<WallRange>,
}

/// A date closed all day on one side (business or employee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// Identifier reported in check reasons.
    pub id: String,
    /// The local date.
    pub date: NaiveDate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn week_sorts_and_names_fields() {
        let map: BTreeMap<String, Vec<[&str; 2]>> =
            [("mon".to_owned(), vec![["12:00", "17:00"], ["09:00", "12:00"], ["10:00", "11:00"]])].into();
        let w = Week::parse(&map).unwrap();
        let r = |a, b| WallRange::parse(a, b, "x").unwrap();
        assert_eq!(w.day(0), &[r("09:00", "12:00"), r("10:00", "11:00"), r("12:00", "17:00")]);
        let bad: BTreeMap<String, Vec<[&str; 2]>> =
            [("tue".to_owned(), vec![["09:00", "10:00"], ["25:00", "26:00"]])].into();
        let err = WeeklyHours::parse(&bad, &BTreeMap::new()).unwrap_err();
        assert_eq!(err.field(), "weekly.tue.1.0");
        let across: BTreeMap<String, Vec<[&str; 2]>> = [("wed".to_owned(), vec![["22:00", "02:00"]])].into();
        assert_eq!(Week::parse(&across).unwrap_err().field(), "wed.0");
        let unknown: BTreeMap<String, Vec<[&str; 2]>> = [("monday".to_owned(), vec![])].into();
        assert_eq!(Week::parse(&unknown).unwrap_err().field(), "monday");
    }

    #[test]
    fn week_serde_round_trip() {
        let w: Week = serde_json::from_str(r#"{"mon":[["09:00","17:00"]],"sat":[["10:00","12:00"]]}"#).unwrap();
        assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"mon":[["09:00","17:00"]],"sat":[["10:00","12:00"]]}"#);
    }
}
