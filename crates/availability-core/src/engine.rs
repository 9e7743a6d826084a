//! The sweep: open hours per side, busy time per employee, the slot grid.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::hours::{Holiday, SpecialDate, WallRange, WeeklyHours};
use crate::input::{Business, BusyTime, Employee, Interval, ServiceRules};
use crate::intervals::{Span, intersect, normalize, subtract};
use crate::zone::{DAY, Timeline, day_number, instant_of_wall, weekday_of_day};

/// One bookable slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Slot {
    /// Start of the appointment.
    pub start: DateTime<Utc>,
    /// End of the appointment (start + duration).
    pub end: DateTime<Utc>,
}

/// One employee's slots, sorted by start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeSlots {
    /// The employee.
    pub employee_id: String,
    /// Free slots, sorted by start.
    pub slots: Vec<Slot>,
}

/// A slot offered by at least one employee ("any employee" mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergedSlot<'a> {
    /// Start of the appointment.
    pub start: DateTime<Utc>,
    /// End of the appointment.
    pub end: DateTime<Utc>,
    /// Every employee for whom this start is one of their own slots, sorted by id (bytes).
    pub employee_ids: Vec<&'a str>,
}

/// The answer to a slot query: each employee's own slots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Slots of each employee asked about, in the order asked.
    pub employees: Vec<EmployeeSlots>,
}

impl Availability {
    /// All slots, each start listed once with every employee that offers it
    /// (the contract's "any employee" mode), sorted by start.
    pub fn merged(&self) -> Vec<MergedSlot<'_>> {
        let mut all: Vec<(&Slot, &str)> =
            self.employees.iter().flat_map(|e| e.slots.iter().map(move |s| (s, e.employee_id.as_str()))).collect();
        all.sort_unstable_by(|a, b| a.0.start.cmp(&b.0.start).then_with(|| a.1.cmp(b.1)));
        let mut merged: Vec<MergedSlot<'_>> = Vec::new();
        for (slot, id) in all {
            match merged.last_mut() {
                Some(last) if last.start == slot.start => {
                    if last.employee_ids.last() != Some(&id) {
                        last.employee_ids.push(id);
                    }
                }
                _ => merged.push(MergedSlot { start: slot.start, end: slot.end, employee_ids: vec![id] }),
            }
        }
        merged
    }
}

/// Which slots are asked for and when "now" is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Slots whose start lies in this window are listed.
    pub window: Interval,
    /// The current instant: minimum notice and "today" (for the horizon) count from it.
    pub now: DateTime<Utc>,
}

pub(crate) fn secs_floor(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(crate) fn secs_ceil(t: DateTime<Utc>) -> i64 {
    t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0)
}

pub(crate) fn to_utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("instant within chrono's range")
}

/// Margin of days evaluated around a window, so that ranges which began before
/// it are seen from a business midnight on (the grid restarts there).
const MARGIN_DAYS: i64 = 2;

/// What one side (business or employee) makes of its hours over some days.
#[derive(Debug, Default)]
pub(crate) struct SideHours {
    /// Open ranges, before breaks are cut out; normalised.
    pub ranges: Vec<Span>,
    /// Breaks in force (weekly breaks of dates without special hours); normalised.
    pub breaks: Vec<Span>,
    /// Holidays with their whole local day.
    pub holidays: Vec<(Span, String)>,
}

impl SideHours {
    pub fn open(&self) -> Vec<Span> {
        subtract(&self.ranges, &self.breaks)
    }
}

const FULL_DAY: [WallRange; 1] = [WallRange::FULL_DAY];

/// Evaluates one side's hours on every local date touching `[lo, hi)`, plus margins.
///
/// `weekly` of `None` means "no weekly hours": closed when `open_without_weekly`
/// is false (a business without hours), open all day when true (an employee
/// without a schedule follows the business).
pub(crate) fn side_hours(
    timeline: &Timeline,
    weekly: Option<&WeeklyHours>,
    open_without_weekly: bool,
    special_dates: &[SpecialDate],
    holidays: &[Holiday],
    lo: i64,
    hi: i64,
) -> SideHours {
    let first = timeline.day_of(lo) - MARGIN_DAYS;
    let last = timeline.day_of(hi) + MARGIN_DAYS;
    let mut specials: Vec<(i64, &[WallRange])> = special_dates
        .iter()
        .map(|s| (day_number(s.date), s.hours.as_slice()))
        .filter(|(d, _)| (first..=last).contains(d))
        .collect();
    specials.sort_unstable_by_key(|(d, _)| *d);
    let mut closed: Vec<(i64, &str)> = holidays
        .iter()
        .map(|h| (day_number(h.date), h.id.as_str()))
        .filter(|(d, _)| (first..=last).contains(d))
        .collect();
    closed.sort_unstable_by_key(|(d, _)| *d);

    let mut out = SideHours::default();
    let (mut si, mut hi_idx) = (0, 0);
    for day in first..=last {
        while si < specials.len() && specials[si].0 < day {
            si += 1;
        }
        while hi_idx < closed.len() && closed[hi_idx].0 < day {
            hi_idx += 1;
        }
        let mut is_holiday = false;
        while hi_idx < closed.len() && closed[hi_idx].0 == day {
            let span = Span::new(timeline.start_of_day(day), timeline.start_of_day(day + 1));
            out.holidays.push((span, closed[hi_idx].1.to_owned()));
            is_holiday = true;
            hi_idx += 1;
        }
        if is_holiday {
            continue;
        }
        let base = day * DAY;
        let push = |into: &mut Vec<Span>, r: &WallRange| {
            let start = timeline.instant(base + i64::from(r.start().minutes()) * 60);
            let end = timeline.instant(base + i64::from(r.end().minutes()) * 60);
            if start < end {
                into.push(Span::new(start, end));
            }
        };
        if si < specials.len() && specials[si].0 == day {
            while si < specials.len() && specials[si].0 == day {
                specials[si].1.iter().for_each(|r| push(&mut out.ranges, r));
                si += 1;
            }
            continue;
        }
        let weekday = weekday_of_day(day);
        match weekly {
            Some(w) => {
                w.weekly.day(weekday).iter().for_each(|r| push(&mut out.ranges, r));
                w.breaks.day(weekday).iter().for_each(|r| push(&mut out.breaks, r));
            }
            None if open_without_weekly => FULL_DAY.iter().for_each(|r| push(&mut out.ranges, r)),
            None => {}
        }
    }
    normalize(&mut out.ranges);
    normalize(&mut out.breaks);
    out
}

/// Timelines for the business and each employee zone over one stretch of time.
pub(crate) struct Clocks {
    pub business: Timeline,
    others: Vec<Timeline>,
    from: i64,
    to: i64,
}

impl Clocks {
    pub fn new(business: &Business, from: i64, to: i64) -> Self {
        let (from, to) = (from - (MARGIN_DAYS + 2) * DAY, to + (MARGIN_DAYS + 2) * DAY);
        Clocks { business: Timeline::new(business.zone.tz(), from, to), others: Vec::new(), from, to }
    }

    pub fn for_zone(&mut self, tz: chrono_tz::Tz) -> &Timeline {
        if tz == self.business.tz() {
            return &self.business;
        }
        let i = match self.others.iter().position(|t| t.tz() == tz) {
            Some(i) => i,
            None => {
                self.others.push(Timeline::new(tz, self.from, self.to));
                self.others.len() - 1
            }
        };
        &self.others[i]
    }
}

/// One busy thing of an employee, as a span of instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BusyKind {
    Booking,
    TimeOff,
    External,
}

/// Calls `each(kind, plain, widened, index)` for every busy interval of the
/// employee whose widened span may touch `[lo, hi)`: bookings (widened by their
/// buffers), time-off occurrences, external events (all-day ones on the
/// employee's clock).
pub(crate) fn for_each_busy(
    employee: &Employee,
    timeline: &Timeline,
    lo: i64,
    hi: i64,
    mut each: impl FnMut(BusyKind, Span, Span, usize),
) {
    for (i, b) in employee.bookings.iter().enumerate() {
        let plain = Span::new(secs_floor(b.interval.start()), secs_ceil(b.interval.end()));
        let wide = Span::new(
            plain.start - i64::from(b.buffer_before_min) * 60,
            plain.end + i64::from(b.buffer_after_min) * 60,
        );
        if wide.end > lo && wide.start < hi {
            each(BusyKind::Booking, plain, wide, i);
        }
    }
    for (i, e) in employee.external.iter().enumerate() {
        let span = match e.time {
            BusyTime::Timed(iv) => Span::new(secs_floor(iv.start()), secs_ceil(iv.end())),
            BusyTime::AllDay { start_date, end_date } => {
                let (first, last) = (day_number(start_date), day_number(end_date));
                if last <= first || first > timeline.day_of(hi) + 1 || last < timeline.day_of(lo) - 1 {
                    continue;
                }
                Span::new(timeline.start_of_day(first), timeline.start_of_day(last))
            }
        };
        if span.end > lo && span.start < hi {
            each(BusyKind::External, span, span, i);
        }
    }
    for (i, t) in employee.time_off.iter().enumerate() {
        let first = Span::new(secs_floor(t.interval().start()), secs_ceil(t.interval().end()));
        match t.recurrence() {
            None => {
                if first.end > lo && first.start < hi {
                    each(BusyKind::TimeOff, first, first, i);
                }
            }
            Some(rule) => {
                let length = first.end - first.start;
                // Wall-clock bounds with a day of slack for the zone's offset.
                let wall_from = timeline.local(lo - length) - DAY;
                let wall_to = timeline.local(hi) + DAY;
                rule.for_each_start(timeline, wall_from, wall_to, |start| {
                    let span = Span::new(start, start + length);
                    if span.end > lo && span.start < hi {
                        each(BusyKind::TimeOff, span, span, i);
                    }
                });
            }
        }
    }
}

/// The instant before which slots must start: local midnight `horizon_days`
/// after today, on the business clock.
pub(crate) fn horizon_end(business: &Business, service: &ServiceRules, now: DateTime<Utc>) -> i64 {
    let tz = business.zone.tz();
    let today = now.with_timezone(&tz).date_naive();
    let last = today + Duration::days(i64::from(service.horizon_days()));
    instant_of_wall(tz, last.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The earliest instant a slot may start at, given the notice.
pub(crate) fn notice_end(service: &ServiceRules, now: DateTime<Utc>) -> i64 {
    secs_ceil(now) + i64::from(service.min_notice_min()) * 60
}

/// Per-query state shared by all employees.
pub(crate) struct Prepared<'a> {
    pub service: &'a ServiceRules,
    pub clocks: Clocks,
    pub tenant: SideHours,
    pub lo: i64,
    pub hi: i64,
}

impl<'a> Prepared<'a> {
    /// Evaluates the business side over `[lo, hi)` (instants whose slots are of interest).
    pub fn new(business: &'a Business, service: &'a ServiceRules, lo: i64, hi: i64) -> Self {
        let reach = hi + i64::from(service.duration_min()) * 60;
        let clocks = Clocks::new(business, lo, reach);
        let tenant = side_hours(
            &clocks.business,
            business.hours.as_ref(),
            false,
            &business.special_dates,
            &business.holidays,
            lo,
            reach,
        );
        Prepared { service, clocks, tenant, lo, hi }
    }

    /// The employee's side of the hours over the same days.
    pub fn employee_side(&mut self, employee: &Employee) -> SideHours {
        let reach = self.hi + i64::from(self.service.duration_min()) * 60;
        let timeline = self.clocks.for_zone(employee.zone.tz());
        side_hours(
            timeline,
            employee.schedule.as_ref(),
            true,
            &employee.special_dates,
            &employee.holidays,
            self.lo,
            reach,
        )
    }

    /// Free slot starts of one employee in `[lo, hi)`, sorted.
    pub fn employee_slots(&mut self, employee: &Employee) -> Vec<i64> {
        let side = self.employee_side(employee);
        let open = intersect(&self.tenant.open(), &side.open());
        let duration = i64::from(self.service.duration_min()) * 60;
        let before = i64::from(self.service.buffer_before_min()) * 60;
        let after = i64::from(self.service.buffer_after_min()) * 60;
        let (lo, hi) = (self.lo, self.hi);

        // A start s is forbidden by busy [a, b) when the widened slot
        // [s - before, s + duration + after) overlaps it: a - duration - after < s < b + before.
        // Only stretches that meet a possible start (inside an open range, early
        // enough for the slot to fit) are kept, which spares sorting busy time
        // that lies outside the hours.
        let candidates: Vec<Span> = open
            .iter()
            .map(|r| Span::new(r.start.max(lo), (r.end - duration + 1).min(hi)))
            .filter(|r| !r.is_empty())
            .collect();
        let mut forbidden = Vec::new();
        let timeline = self.clocks.for_zone(employee.zone.tz());
        for_each_busy(employee, timeline, lo - before, hi + duration + after, |_, _, wide, _| {
            let f = Span::new(wide.start - duration - after + 1, wide.end + before);
            let i = candidates.partition_point(|c| c.end <= f.start);
            if i < candidates.len() && candidates[i].start < f.end {
                forbidden.push(f);
            }
        });
        normalize(&mut forbidden);

        let step = i64::from(self.service.slot_step_min()) * 60;
        let grid = i64::from(self.service.grid_minutes()) * 60;
        sweep_grid(&self.clocks.business, &open, &forbidden, step, grid, duration, lo, hi)
    }
}

/// Walks the slot grid of every open range, skipping forbidden starts by jumps.
#[allow(clippy::too_many_arguments)]
fn sweep_grid(
    clock: &Timeline,
    open: &[Span],
    forbidden: &[Span],
    step: i64,
    grid: i64,
    duration: i64,
    lo: i64,
    hi: i64,
) -> Vec<i64> {
    let mut out = Vec::new();
    let mut f = 0;
    for range in open {
        let last_fit = range.end - duration; // latest start whose slot still fits
        if last_fit < lo || range.start >= hi {
            continue;
        }
        let mut boundary = range.start;
        loop {
            let next_midnight = clock.start_of_day(clock.day_of(boundary) + 1);
            let run_end = next_midnight.min(range.end);
            let anchor = clock.next_on_grid(boundary, grid);
            let stop = run_end.min(hi).min(last_fit + 1);
            if run_end > lo && anchor < stop {
                let mut s = if anchor >= lo { anchor } else { anchor + (lo - anchor + step - 1) / step * step };
                while s < stop {
                    while f < forbidden.len() && forbidden[f].end <= s {
                        f += 1;
                    }
                    if f < forbidden.len() && forbidden[f].start <= s {
                        let past = forbidden[f].end;
                        s = anchor + (past - anchor + step - 1) / step * step;
                        continue;
                    }
                    out.push(s);
                    s += step;
                }
            }
            if next_midnight >= range.end || next_midnight >= hi {
                break;
            }
            boundary = next_midnight;
        }
    }
    out
}

/// Free slots for `service` of each employee in `query.window`; see
/// [`Availability::merged`] for the "any employee" view.
///
/// Inputs are already valid by construction, so this cannot fail. Cost grows
/// as O((days + busy) · log(busy) + slots) per employee.
pub fn available_slots(
    business: &Business,
    service: &ServiceRules,
    employees: &[Employee],
    query: &Query,
) -> Availability {
    let lo = secs_ceil(query.window.start()).max(notice_end(service, query.now));
    let hi = secs_ceil(query.window.end()).min(horizon_end(business, service, query.now));
    let duration = i64::from(service.duration_min()) * 60;
    let mut per_employee: Vec<Vec<i64>> = Vec::with_capacity(employees.len());
    if lo < hi {
        let mut prepared = Prepared::new(business, service, lo, hi);
        for e in employees {
            per_employee.push(prepared.employee_slots(e));
        }
    } else {
        per_employee.resize(employees.len(), Vec::new());
    }

    let employees = employees
        .iter()
        .zip(per_employee)
        .map(|(e, starts)| EmployeeSlots {
            employee_id: e.id.clone(),
            slots: starts.into_iter().map(|s| Slot { start: to_utc(s), end: to_utc(s + duration) }).collect(),
        })
        .collect();
    Availability { employees }
}
