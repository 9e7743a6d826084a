//! The engine's inputs: plain data, validated when built.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hours::{Holiday, SpecialDate, WeeklyHours};
use crate::recurrence::Recurrence;
use crate::zone::Zone;

/// A half-open interval of instants `[start, end)`, end strictly after start.
///
/// ```
/// use availability_core::Interval;
/// use chrono::{TimeZone, Utc};
/// let a = Utc.with_ymd_and_hms(2030, 1, 1, 9, 0, 0).unwrap();
/// let b = Utc.with_ymd_and_hms(2030, 1, 1, 10, 0, 0).unwrap();
/// assert!(Interval::new(a, b, "x").is_ok());
/// assert_eq!(Interval::new(b, a, "booking").unwrap_err().field(), "booking");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawInterval")]
pub struct Interval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

#[derive(Deserialize)]
struct RawInterval {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TryFrom<RawInterval> for Interval {
    type Error = Error;
    fn try_from(r: RawInterval) -> Result<Self> {
        Interval::new(r.start, r.end, "")
    }
}

impl Interval {
    /// An interval with `start < end`, naming `field` in the error.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>, field: &str) -> Result<Self> {
        if end <= start {
            return Err(Error::EndBeforeStart { field: field.to_owned() });
        }
        Ok(Interval { start, end })
    }

    /// First instant.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// First instant after the interval.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

/// Whole minutes, checked against a bound when built.
fn minutes(value: i64, field: &str, min: i64, max: i64) -> Result<u32> {
    if value < min || value > max {
        return Err(Error::invalid(field, format!("must be a whole number of minutes from {min} to {max}")));
    }
    Ok(value as u32)
}

/// What a service asks of a slot: its length, buffers, grid step, notice and horizon.
///
/// ```
/// use availability_core::ServiceRules;
/// let s = ServiceRules::new(30, 0, 0, 15, 0, 60).unwrap();
/// assert_eq!(s.grid_minutes(), 15);
/// assert_eq!(ServiceRules::new(30, 0, 0, 0, 0, 60).unwrap_err().field(), "slot_step_min");
/// assert_eq!(ServiceRules::new(30, 0, 0, 45, 0, 60).unwrap().grid_minutes(), 15);
/// assert_eq!(ServiceRules::new(30, 0, 0, 7, 0, 60).unwrap().grid_minutes(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawServiceRules")]
pub struct ServiceRules {
    duration_min: u32,
    buffer_before_min: u32,
    buffer_after_min: u32,
    slot_step_min: u32,
    min_notice_min: u32,
    horizon_days: u32,
}

#[derive(Deserialize)]
struct RawServiceRules {
    duration_min: i64,
    #[serde(default)]
    buffer_before_min: i64,
    #[serde(default)]
    buffer_after_min: i64,
    slot_step_min: Option<i64>,
    #[serde(default)]
    min_notice_min: i64,
    #[serde(default = "default_horizon")]
    horizon_days: i64,
}

fn default_horizon() -> i64 {
    60
}

impl TryFrom<RawServiceRules> for ServiceRules {
    type Error = Error;
    fn try_from(r: RawServiceRules) -> Result<Self> {
        ServiceRules::new(
            r.duration_min,
            r.buffer_before_min,
            r.buffer_after_min,
            r.slot_step_min.unwrap_or(r.duration_min),
            r.min_notice_min,
            r.horizon_days,
        )
    }
}

impl ServiceRules {
    /// Validates each value and names the first bad field: duration 1 minute to
    /// 7 days, buffers up to 1 day each, step 1 minute to 1 day, notice up to a
    /// year, horizon up to ten years.
    pub fn new(
        duration_min: i64,
        buffer_before_min: i64,
        buffer_after_min: i64,
        slot_step_min: i64,
        min_notice_min: i64,
        horizon_days: i64,
    ) -> Result<Self> {
        Ok(ServiceRules {
            duration_min: minutes(duration_min, "duration_min", 1, 7 * 1440)?,
            buffer_before_min: minutes(buffer_before_min, "buffer_before_min", 0, 1440)?,
            buffer_after_min: minutes(buffer_after_min, "buffer_after_min", 0, 1440)?,
            slot_step_min: minutes(slot_step_min, "slot_step_min", 1, 1440)?,
            min_notice_min: minutes(min_notice_min, "min_notice_min", 0, 366 * 1440)?,
            horizon_days: minutes(horizon_days, "horizon_days", 0, 3660)?,
        })
    }

    /// Length of a slot.
    pub fn duration_min(&self) -> u32 {
        self.duration_min
    }
    /// Time kept free before a slot.
    pub fn buffer_before_min(&self) -> u32 {
        self.buffer_before_min
    }
    /// Time kept free after a slot.
    pub fn buffer_after_min(&self) -> u32 {
        self.buffer_after_min
    }
    /// Elapsed minutes between consecutive slot starts.
    pub fn slot_step_min(&self) -> u32 {
        self.slot_step_min
    }
    /// How long before a slot it can still be booked.
    pub fn min_notice_min(&self) -> u32 {
        self.min_notice_min
    }
    /// How many local days ahead, counting from today, slots are offered.
    pub fn horizon_days(&self) -> u32 {
        self.horizon_days
    }

    /// The grid the first start of each open range is rounded up to: the first
    /// of 60, 30, 20, 15, 10, 5, 1 minutes that divides the step.
    pub fn grid_minutes(&self) -> u32 {
        [60, 30, 20, 15, 10, 5, 1].into_iter().find(|g| self.slot_step_min % g == 0).unwrap_or(1)
    }
}

/// The business side: its zone, weekly hours, special dates and holidays.
///
/// Without `hours` the business is closed except on its special dates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Business {
    /// The business zone: hours, grid, "today" and the horizon are read on its clock.
    pub zone: Zone,
    /// Weekly hours and breaks, or none (closed but for special dates).
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
    /// Dates whose hours replace the weekly ranges and breaks.
    #[serde(default)]
    pub special_dates: Vec<SpecialDate>,
    /// Dates closed all day.
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

/// A confirmed booking that blocks its employee, widened by its service's buffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    /// Identifier reported in check reasons.
    pub id: String,
    /// When the appointment itself takes place.
    #[serde(flatten)]
    pub interval: Interval,
    /// Buffer before, in minutes, as the service had it at booking time.
    #[serde(default)]
    pub buffer_before_min: u32,
    /// Buffer after, in minutes, as the service had it at booking time.
    #[serde(default)]
    pub buffer_after_min: u32,
}

/// When an external calendar event blocks time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BusyTime {
    /// A timed event.
    Timed(Interval),
    /// An all-day event: whole local dates in the employee's zone, `end_date` exclusive.
    AllDay {
        /// First blocked date.
        start_date: NaiveDate,
        /// First date no longer blocked.
        end_date: NaiveDate,
    },
}

/// An external calendar event that blocks time (already filtered by the caller:
/// opaque / busy, not declined by the owner, not cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalBusy {
    /// Identifier reported in check reasons.
    pub id: String,
    /// When it blocks.
    #[serde(flatten)]
    pub time: BusyTime,
}

/// Time off: one interval, or an interval repeated by an RFC 5545 rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOff {
    /// Identifier reported in check reasons.
    pub id: String,
    interval: Interval,
    recurrence: Option<Recurrence>,
}

impl TimeOff {
    /// One-off time off.
    pub fn once(id: impl Into<String>, interval: Interval) -> Self {
        TimeOff { id: id.into(), interval, recurrence: None }
    }

    /// Time off repeated by `rrule` (with or without the `RRULE:` prefix).
    ///
    /// Occurrences repeat the local wall time of the interval's start in `zone`
    /// (the employee's zone) and each lasts the interval's elapsed length; the
    /// start must itself be an occurrence; `exdates` remove occurrences (they
    /// still count toward `COUNT`). Errors name `rrule` / `exdates`.
    pub fn recurring(
        id: impl Into<String>,
        interval: Interval,
        rrule: &str,
        exdates: &[DateTime<Utc>],
        zone: Zone,
    ) -> Result<Self> {
        let recurrence = Recurrence::parse(rrule, interval.start, exdates, zone)?;
        Ok(TimeOff { id: id.into(), interval, recurrence: Some(recurrence) })
    }

    /// The first (or only) occurrence.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    pub(crate) fn recurrence(&self) -> Option<&Recurrence> {
        self.recurrence.as_ref()
    }
}

/// One employee: zone, own schedule and dates, and everything that keeps them busy.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawEmployee")]
pub struct Employee {
    /// Identifier, compared byte by byte where ties are broken.
    pub id: String,
    /// The employee's zone: schedule, special dates, holidays, all-day events and
    /// recurring time off are read on its clock.
    pub zone: Zone,
    /// Weekly schedule, or none (follows the business hours).
    pub schedule: Option<WeeklyHours>,
    /// The employee's own special dates.
    pub special_dates: Vec<SpecialDate>,
    /// The employee's own holidays.
    pub holidays: Vec<Holiday>,
    /// Time off, one-off or recurring.
    pub time_off: Vec<TimeOff>,
    /// Confirmed bookings.
    pub bookings: Vec<Booking>,
    /// External busy time.
    pub external: Vec<ExternalBusy>,
}

impl Employee {
    /// An employee with nothing but an id and a zone: works whenever the business is open.
    pub fn new(id: impl Into<String>, zone: Zone) -> Self {
        Employee {
            id: id.into(),
            zone,
            schedule: None,
            special_dates: Vec::new(),
            holidays: Vec::new(),
            time_off: Vec::new(),
            bookings: Vec::new(),
            external: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct RawTimeOff {
    id: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(default)]
    rrule: Option<String>,
    #[serde(default)]
    exdates: Vec<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct RawEmployee {
    id: String,
    zone: Zone,
    #[serde(default)]
    schedule: Option<WeeklyHours>,
    #[serde(default)]
    special_dates: Vec<SpecialDate>,
    #[serde(default)]
    holidays: Vec<Holiday>,
    #[serde(default)]
    time_off: Vec<RawTimeOff>,
    #[serde(default)]
    bookings: Vec<Booking>,
    #[serde(default)]
    external: Vec<ExternalBusy>,
}

impl TryFrom<RawEmployee> for Employee {
    type Error = Error;
    fn try_from(r: RawEmployee) -> Result<Self> {
        let mut time_off = Vec::with_capacity(r.time_off.len());
        for (i, t) in r.time_off.into_iter().enumerate() {
            let field = format!("time_off.{i}");
            let interval = Interval::new(t.start, t.end, &field)?;
            time_off.push(match t.rrule {
                None => TimeOff::once(t.id, interval),
                Some(rule) => {
                    TimeOff::recurring(t.id, interval, &rule, &t.exdates, r.zone).map_err(|e| e.within(&field))?
                }
            });
        }
        Ok(Employee {
            id: r.id,
            zone: r.zone,
            schedule: r.schedule,
            special_dates: r.special_dates,
            holidays: r.holidays,
            time_off,
            bookings: r.bookings,
            external: r.external,
        })
    }
}
