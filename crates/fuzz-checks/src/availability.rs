//! The availability engine against invariants checked directly on its answer.
//!
//! The bytes become a small case (one to three days of window, a few busy
//! intervals, zones with DST changes among them). Every slot listed must start
//! in the window, at or after the notice, before the horizon, lie inside the
//! open hours of the business and the employee and keep its buffers clear of
//! busy time; each employee's list is sorted and unique, the merged view
//! agrees with the lists, and `check_slot` agrees with the list on listed
//! starts and on probes. Open hours and recurring time off are expanded here,
//! apart from the engine, by chrono-tz's own conversions (the "compatible"
//! rule: a wall time in a gap moves forward by the gap, an ambiguous one takes
//! the earlier instant).

use arbitrary::{Result, Unstructured};
use availability_core::{
    Booking, Business, BusyTime, Employee, ExternalBusy, Holiday, Interval, Query, ServiceRules, SpecialDate, TimeOff,
    WallRange, WallTime, Week, WeeklyHours, Zone, available_slots, check_slot,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Zones with DST changes, half-hour offsets, dateline jumps or midnight transitions.
const INTERESTING: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Dublin",
    "Antarctica/Troll",
    "Asia/Gaza",
    "America/Havana",
    "Asia/Beirut",
    "America/Asuncion",
    "UTC",
];

/// Feeds engine inputs built from `data` to `available_slots` and checks the answer.
///
/// # Panics
/// When the engine panics or its answer breaks an invariant.
pub fn availability(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(case) = Case::build(&mut u) else { return };
    case.check();
}

pub(crate) fn pick_zone(u: &mut Unstructured<'_>) -> Result<Tz> {
    Ok(if u.arbitrary()? {
        u.choose(INTERESTING)?.parse().expect("known zone")
    } else {
        *u.choose(&chrono_tz::TZ_VARIANTS)?
    })
}

fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("instant within chrono's range")
}

/// The instant of a wall time by the "compatible" rule, from chrono-tz directly.
pub(crate) fn compatible(tz: Tz, wall: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(t) => t.timestamp(),
        chrono::LocalResult::Ambiguous(a, b) => a.timestamp().min(b.timestamp()),
        chrono::LocalResult::None => {
            let gap = chrono_tz::GapInfo::new(&wall, &tz).expect("a wall time that does not exist lies in a gap");
            let before = gap.begin.map(|(_, offset)| offset.fix().local_minus_utc()).expect("a gap has a start");
            wall.and_utc().timestamp() - i64::from(before)
        }
    }
}

fn local_date(tz: Tz, secs: i64) -> NaiveDate {
    utc(secs).with_timezone(&tz).date_naive()
}

/// Sorts and merges touching or overlapping spans.
fn normalize(spans: &mut Vec<(i64, i64)>) {
    spans.retain(|(a, b)| a < b);
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for &(a, b) in spans.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *spans = out;
}

fn subtract(from: &[(i64, i64)], cut: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(mut a, b) in from {
        for &(c, d) in cut {
            if d <= a || c >= b {
                continue;
            }
            if c > a {
                out.push((a, c));
            }
            a = a.max(d);
        }
        if a < b {
            out.push((a, b));
        }
    }
    out
}

fn intersect(x: &[(i64, i64)], y: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(a, b) in x {
        for &(c, d) in y {
            let (s, e) = (a.max(c), b.min(d));
            if s < e {
                out.push((s, e));
            }
        }
    }
    normalize(&mut out);
    out
}

/// A recurring time off as built, to expand here apart from the engine.
#[derive(Debug, Clone)]
struct Recurring {
    tz: Tz,
    start_wall: NaiveDateTime,
    length: i64,
    /// `Some(k)`: FREQ=DAILY;INTERVAL=k. `None`: FREQ=WEEKLY;BYDAY=(mask).
    daily_interval: Option<i64>,
    weekday_mask: u8,
    count: Option<u32>,
    exdates: Vec<i64>,
}

impl Recurring {
    fn rule(&self) -> String {
        let mut rule = match self.daily_interval {
            Some(k) => format!("FREQ=DAILY;INTERVAL={k}"),
            None => {
                let names = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
                let days: Vec<&str> = (0..7).filter(|i| self.weekday_mask & (1 << i) != 0).map(|i| names[i]).collect();
                format!("FREQ=WEEKLY;BYDAY={}", days.join(","))
            }
        };
        if let Some(n) = self.count {
            rule.push_str(&format!(";COUNT={n}"));
        }
        rule
    }

    /// Occurrence spans whose wall date is at most `last`, exdates removed.
    fn spans(&self, last: NaiveDate) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut date = self.start_wall.date();
        let mut n = 0u32;
        while date <= last && self.count.is_none_or(|c| n < c) {
            let weekday = date.weekday().num_days_from_monday();
            let occurs = self.daily_interval.is_some() || self.weekday_mask & (1 << weekday) != 0;
            if occurs {
                n += 1;
                let start = compatible(self.tz, date.and_time(self.start_wall.time()));
                if !self.exdates.contains(&start) {
                    out.push((start, start + self.length));
                }
            }
            date += Duration::days(self.daily_interval.unwrap_or(1));
        }
        out
    }
}

/// What keeps one employee busy, as this check sees it.
#[derive(Debug, Clone)]
enum Busy {
    Span(i64, i64),
    AllDay(NaiveDate, NaiveDate),
    Recurring(Recurring),
}

struct Case {
    business: Business,
    service: ServiceRules,
    employees: Vec<Employee>,
    busy: Vec<Vec<Busy>>,
    query: Query,
}

fn wall_ranges(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<WallRange>> {
    let n = u.int_in_range(0..=max)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = u.int_in_range(0..=1440u16)?;
        let len = u.int_in_range(1..=1440u16)?;
        let end = start.saturating_add(len).min(1440);
        let (Ok(s), Ok(e)) = (WallTime::from_minutes(start, "s"), WallTime::from_minutes(end, "e")) else {
            continue;
        };
        if let Ok(r) = WallRange::new(s, e, "r") {
            out.push(r);
        }
    }
    Ok(out)
}

fn weekly(u: &mut Unstructured<'_>) -> Result<Option<WeeklyHours>> {
    if u.ratio(1, 8)? {
        return Ok(None);
    }
    let mut open: [Vec<WallRange>; 7] = Default::default();
    let mut breaks: [Vec<WallRange>; 7] = Default::default();
    for day in 0..7 {
        open[day] = wall_ranges(u, 3)?;
        breaks[day] = wall_ranges(u, 1)?;
    }
    Ok(Some(WeeklyHours { weekly: Week::from_days(open), breaks: Week::from_days(breaks) }))
}

fn dates(u: &mut Unstructured<'_>, base: NaiveDate) -> Result<(Vec<SpecialDate>, Vec<Holiday>)> {
    let mut specials = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let date = base + Duration::days(u.int_in_range(-3..=6)?);
        specials.push(SpecialDate { date, hours: wall_ranges(u, 2)? });
    }
    let mut holidays = Vec::new();
    for i in 0..u.int_in_range(0..=1)? {
        holidays.push(Holiday { id: format!("h{i}"), date: base + Duration::days(u.int_in_range(-3..=6)?) });
    }
    Ok((specials, holidays))
}

fn service(u: &mut Unstructured<'_>) -> Result<Option<ServiceRules>> {
    let mut values = [
        *u.choose(&[15i64, 20, 25, 30, 45, 60, 90, 7, 1, 240])?,
        if u.arbitrary()? { 0 } else { u.int_in_range(0..=60)? },
        if u.arbitrary()? { 0 } else { u.int_in_range(0..=60)? },
        *u.choose(&[5i64, 7, 10, 15, 20, 25, 30, 45, 60, 90, 1, 1440])?,
        if u.arbitrary()? { 0 } else { u.int_in_range(0..=900)? },
        if u.arbitrary()? { 3650 } else { u.int_in_range(0..=5)? },
    ];
    if u.ratio(1, 16)? {
        // Any value at all for one field: the constructor must refuse it cleanly or take it.
        let field = u.choose_index(values.len())?;
        values[field] = u.arbitrary()?;
    }
    let [duration, before, after, step, notice, horizon] = values;
    Ok(ServiceRules::new(duration, before, after, step, notice, horizon).ok())
}

impl Case {
    fn build(u: &mut Unstructured<'_>) -> Result<Self> {
        let bzone = pick_zone(u)?;
        let extreme = u.ratio(1, 32)?;
        let epoch_2000 = 946_684_800i64;
        let from = if extreme {
            // Anywhere an RFC 3339 date can point (years 0000 to 9999).
            u.int_in_range(-62_167_219_200i64..=253_402_300_799 - 5 * 86_400)?
        } else {
            epoch_2000 + u.int_in_range(0..=40 * 365i64)? * 86_400 + u.int_in_range(0..=1439i64)? * 60
        };
        let from_nanos = if u.ratio(1, 8)? { u.int_in_range(1..=999_999_999u32)? } else { 0 };
        let length =
            if u.ratio(1, 4)? { u.int_in_range(1..=3 * 86_400i64)? } else { u.int_in_range(1..=3i64)? * 86_400 };
        let window_start = DateTime::from_timestamp(from, from_nanos).expect("in range");
        let Ok(window) = Interval::new(window_start, utc(from + length), "window") else {
            return Err(arbitrary::Error::IncorrectFormat);
        };
        let now = if extreme && u.arbitrary()? {
            u.int_in_range(-62_167_219_200i64..=253_402_300_799)?
        } else {
            from + u.int_in_range(-3000..=3000i64)? * 60 + u.int_in_range(0..=59i64)?
        };
        let now_nanos = if u.ratio(1, 8)? { u.int_in_range(1..=999_999_999u32)? } else { 0 };
        let now = DateTime::from_timestamp(now, now_nanos).expect("in range");
        let base = local_date(bzone, from);

        let Some(service) = service(u)? else { return Err(arbitrary::Error::IncorrectFormat) };
        let (special_dates, holidays) = dates(u, base)?;
        let business = Business { zone: Zone::from(bzone), hours: weekly(u)?, special_dates, holidays };

        let mut employees = Vec::new();
        let mut busy = Vec::new();
        for e in 0..u.int_in_range(1..=3)? {
            let ezone = if u.arbitrary()? { bzone } else { pick_zone(u)? };
            let mut employee = Employee::new(format!("e{e}"), Zone::from(ezone));
            let mut mine = Vec::new();
            if u.ratio(1, 2)? {
                employee.schedule = weekly(u)?;
            }
            (employee.special_dates, employee.holidays) = dates(u, base)?;
            let at = |u: &mut Unstructured<'_>| -> Result<i64> { Ok(from + u.int_in_range(-2000..=6000i64)? * 60) };
            for i in 0..u.int_in_range(0..=5)? {
                let start = at(u)?;
                let end = start + u.int_in_range(1..=600i64)? * 60;
                let (bb, ba) = (u.int_in_range(0..=60u32)?, u.int_in_range(0..=60u32)?);
                employee.bookings.push(Booking {
                    id: format!("b{i}"),
                    interval: Interval::new(utc(start), utc(end), "booking").expect("end after start"),
                    buffer_before_min: bb,
                    buffer_after_min: ba,
                });
                mine.push(Busy::Span(start - i64::from(bb) * 60, end + i64::from(ba) * 60));
            }
            for i in 0..u.int_in_range(0..=3)? {
                let start = at(u)?;
                let end = start + u.int_in_range(1..=900i64)? * 60;
                employee.external.push(ExternalBusy {
                    id: format!("x{i}"),
                    time: BusyTime::Timed(Interval::new(utc(start), utc(end), "x").expect("end after start")),
                });
                mine.push(Busy::Span(start, end));
            }
            if u.ratio(1, 4)? {
                let start_date = local_date(ezone, from) + Duration::days(u.int_in_range(-2..=4)?);
                let end_date = start_date + Duration::days(u.int_in_range(-1..=2)?);
                employee
                    .external
                    .push(ExternalBusy { id: "allday".into(), time: BusyTime::AllDay { start_date, end_date } });
                mine.push(Busy::AllDay(start_date, end_date));
            }
            for i in 0..u.int_in_range(0..=2)? {
                let start = at(u)?;
                let end = start + u.int_in_range(1..=900i64)? * 60;
                let interval = Interval::new(utc(start), utc(end), "t").expect("end after start");
                employee.time_off.push(TimeOff::once(format!("t{i}"), interval));
                mine.push(Busy::Span(start, end));
            }
            if u.ratio(1, 3)? {
                let wall = (local_date(ezone, from) + Duration::days(u.int_in_range(-3..=2)?))
                    .and_time(NaiveTime::from_hms_opt(0, 0, 0).expect("midnight"))
                    + Duration::minutes(u.int_in_range(0..=1439)?);
                let start = compatible(ezone, wall);
                // Occurrences repeat the wall time the start instant shows (past a gap, not the one asked for).
                let start_wall = utc(start).with_timezone(&ezone).naive_local();
                let daily_interval = if u.arbitrary()? { Some(u.int_in_range(1..=3)?) } else { None };
                let weekday_mask = u.arbitrary::<u8>()? & 0x7f | (1 << start_wall.weekday().num_days_from_monday());
                let count = if u.ratio(2, 3)? { Some(u.int_in_range(1..=8)?) } else { None };
                let length = u.int_in_range(1..=300i64)? * 60;
                let mut rec =
                    Recurring { tz: ezone, start_wall, length, daily_interval, weekday_mask, count, exdates: vec![] };
                let occurrences = rec.spans(start_wall.date() + Duration::days(10));
                for _ in 0..u.int_in_range(0..=2)? {
                    if let Some(&(s, _)) = occurrences.get(u.int_in_range(0..=5)?) {
                        rec.exdates.push(s);
                    }
                }
                let exdates: Vec<DateTime<Utc>> = rec.exdates.iter().map(|&s| utc(s)).collect();
                let interval = Interval::new(utc(start), utc(start + length), "rt").expect("end after start");
                let prefix = if u.arbitrary()? { "RRULE:" } else { "" };
                let time_off =
                    TimeOff::recurring("rt", interval, &format!("{prefix}{}", rec.rule()), &exdates, Zone::from(ezone))
                        .unwrap_or_else(|e| panic!("valid rule {} from {start_wall} refused: {e}", rec.rule()));
                employee.time_off.push(time_off);
                mine.push(Busy::Recurring(rec));
            }
            employees.push(employee);
            busy.push(mine);
        }
        Ok(Case { business, service, employees, busy, query: Query { window, now } })
    }

    /// Open spans of one side over the local dates `first..=last`.
    fn side_open(
        tz: Tz,
        weekly: Option<&WeeklyHours>,
        open_without_weekly: bool,
        specials: &[SpecialDate],
        holidays: &[Holiday],
        first: NaiveDate,
        last: NaiveDate,
    ) -> Vec<(i64, i64)> {
        let (mut open, mut breaks) = (Vec::new(), Vec::new());
        let push = |into: &mut Vec<(i64, i64)>, date: NaiveDate, r: &WallRange| {
            let midnight = date.and_time(NaiveTime::MIN);
            let a = compatible(tz, midnight + Duration::minutes(i64::from(r.start().minutes())));
            let b = compatible(tz, midnight + Duration::minutes(i64::from(r.end().minutes())));
            into.push((a, b));
        };
        let mut date = first;
        while date <= last {
            if holidays.iter().any(|h| h.date == date) {
            } else if specials.iter().any(|s| s.date == date) {
                for s in specials.iter().filter(|s| s.date == date) {
                    s.hours.iter().for_each(|r| push(&mut open, date, r));
                }
            } else if let Some(w) = weekly {
                let weekday = date.weekday().num_days_from_monday() as usize;
                w.weekly.day(weekday).iter().for_each(|r| push(&mut open, date, r));
                w.breaks.day(weekday).iter().for_each(|r| push(&mut breaks, date, r));
            } else if open_without_weekly {
                push(&mut open, date, &WallRange::FULL_DAY);
            }
            date += Duration::days(1);
        }
        normalize(&mut open);
        normalize(&mut breaks);
        subtract(&open, &breaks)
    }

    fn busy_spans(busy: &[Busy], tz: Tz, last: NaiveDate) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for b in busy {
            match b {
                Busy::Span(a, b) => out.push((*a, *b)),
                Busy::AllDay(s, e) if s < e => {
                    out.push((compatible(tz, s.and_time(NaiveTime::MIN)), compatible(tz, e.and_time(NaiveTime::MIN))))
                }
                Busy::AllDay(..) => {}
                Busy::Recurring(r) => out.extend(r.spans(last)),
            }
        }
        out
    }

    fn check(&self) {
        let Case { business, service, employees, busy, query } = self;
        let found = available_slots(business, service, employees, query);
        assert_eq!(found.employees.len(), employees.len(), "one answer per employee");
        let duration = i64::from(service.duration_min()) * 60;
        let (before, after) = (i64::from(service.buffer_before_min()) * 60, i64::from(service.buffer_after_min()) * 60);
        let earliest = query.now.timestamp()
            + i64::from(query.now.timestamp_subsec_nanos() > 0)
            + i64::from(service.min_notice_min()) * 60;
        let btz = business.zone.tz();
        let today = query.now.with_timezone(&btz).date_naive();
        let horizon = today
            .checked_add_signed(Duration::days(i64::from(service.horizon_days())))
            .map(|d| compatible(btz, d.and_time(NaiveTime::MIN)));

        for ((answer, employee), busy) in found.employees.iter().zip(employees).zip(busy) {
            assert_eq!(answer.employee_id, employee.id);
            let slots = &answer.slots;
            if slots.is_empty() {
                continue;
            }
            for pair in slots.windows(2) {
                assert!(pair[0].start < pair[1].start, "{}: slots not sorted and unique: {pair:?}", employee.id);
            }
            let (first, last) = (slots[0].start.timestamp(), slots[slots.len() - 1].start.timestamp() + duration);
            let etz = employee.zone.tz();
            let dates = |tz: Tz| (local_date(tz, first) - Duration::days(3), local_date(tz, last) + Duration::days(3));
            let (bf, bl) = dates(btz);
            let (ef, el) = dates(etz);
            let tenant = Self::side_open(
                btz,
                business.hours.as_ref(),
                false,
                &business.special_dates,
                &business.holidays,
                bf,
                bl,
            );
            let own = Self::side_open(
                etz,
                employee.schedule.as_ref(),
                true,
                &employee.special_dates,
                &employee.holidays,
                ef,
                el,
            );
            let open = intersect(&tenant, &own);
            let blocked = Self::busy_spans(busy, etz, el);
            for slot in slots {
                let s = slot.start.timestamp();
                let what = format!("{}: slot {}", employee.id, slot.start);
                assert_eq!(slot.start.timestamp_subsec_nanos(), 0, "{what} not on a whole second");
                assert_eq!(slot.end.timestamp() - s, duration, "{what}: end is not start + duration");
                assert!(
                    slot.start >= query.window.start() && slot.start < query.window.end(),
                    "{what} outside the window"
                );
                assert!(s >= earliest, "{what} sooner than the notice allows ({})", utc(earliest));
                assert!(horizon.is_none_or(|h| s < h), "{what} past the horizon");
                let i = open.partition_point(|r| r.1 <= s);
                assert!(
                    open.get(i).is_some_and(|r| r.0 <= s && s + duration <= r.1),
                    "{what} not inside open hours {:?}",
                    open.get(i).map(|r| (utc(r.0), utc(r.1)))
                );
                let (wa, wb) = (s - before, s + duration + after);
                if let Some(b) = blocked.iter().find(|b| b.0 < wb && wa < b.1) {
                    panic!("{what} (with buffers) overlaps busy time {} to {}", utc(b.0), utc(b.1));
                }
            }
        }

        // The merged view lists each start once, with exactly the employees that offer it.
        let merged = found.merged();
        for pair in merged.windows(2) {
            assert!(pair[0].start < pair[1].start, "merged slots not sorted and unique");
        }
        let total: usize = found.employees.iter().map(|e| e.slots.len()).sum();
        assert_eq!(
            merged.iter().map(|m| m.employee_ids.len()).sum::<usize>(),
            total,
            "merged view lost or added slots"
        );
        for m in &merged {
            assert!(m.employee_ids.windows(2).all(|w| w[0] < w[1]), "employee ids not sorted and unique");
        }

        // Each employee alone gets the same slots as in company, and check_slot agrees with the list.
        let window = (query.window.start().timestamp(), query.window.end().timestamp());
        for (answer, employee) in found.employees.iter().zip(employees) {
            if employees.len() > 1 {
                let alone = available_slots(business, service, std::slice::from_ref(employee), query);
                assert_eq!(
                    alone.employees[0].slots, answer.slots,
                    "{}: slots depend on the other employees",
                    employee.id
                );
            }
            let listed = &answer.slots;
            let stride = listed.len() / 12 + 1;
            for slot in listed.iter().step_by(stride) {
                let c = check_slot(business, service, employee, slot.start, query.now);
                assert!(
                    c.available,
                    "{}: listed slot {} is not available by check_slot: {:?}",
                    employee.id, slot.start, c.reasons
                );
            }
            let probe_step = ((window.1 - window.0) / 17).max(60) / 60 * 60;
            let mut t = window.0 + i64::from(query.window.start().timestamp_subsec_nanos() > 0);
            t += (300 - t.rem_euclid(300)) % 300;
            for _ in 0..16 {
                if t >= window.1 {
                    break;
                }
                let c = check_slot(business, service, employee, utc(t), query.now);
                let is_listed = listed.binary_search_by_key(&t, |s| s.start.timestamp()).is_ok();
                assert_eq!(
                    c.available,
                    is_listed,
                    "{}: check_slot at {} says {:?}, the list disagrees",
                    employee.id,
                    utc(t),
                    c.reasons
                );
                t += probe_step;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatible_moves_gap_times_forward_and_takes_the_earlier_of_two() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let wall = |d: u32, h: u32, m: u32| NaiveDate::from_ymd_opt(2030, 3, d).unwrap().and_hms_opt(h, m, 0).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert_eq!(compatible(berlin, wall(31, 2, 30)), at("2030-03-31T01:30:00Z"));
        let autumn = NaiveDate::from_ymd_opt(2030, 10, 27).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(compatible(berlin, autumn), at("2030-10-27T00:30:00Z"));
    }

    #[test]
    fn interval_helpers() {
        let mut v = vec![(5, 7), (1, 3), (3, 4), (9, 9)];
        normalize(&mut v);
        assert_eq!(v, [(1, 4), (5, 7)]);
        assert_eq!(subtract(&[(0, 10)], &[(2, 3), (5, 12)]), [(0, 2), (3, 5)]);
        assert_eq!(intersect(&[(0, 5), (6, 9)], &[(4, 7)]), [(4, 5), (6, 7)]);
    }

    /// A small xorshift stream standing in for the fuzzer's bytes.
    pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn random_cases_run_clean_and_most_offer_slots() {
        let (mut built, mut with_slots) = (0, 0);
        for seed in 0..200 {
            let data = noise(seed, 800);
            availability(&data);
            if let Ok(case) = Case::build(&mut Unstructured::new(&data)) {
                built += 1;
                let found = available_slots(&case.business, &case.service, &case.employees, &case.query);
                with_slots += usize::from(found.employees.iter().any(|e| !e.slots.is_empty()));
            }
        }
        assert!(built > 150, "only {built} of 200 random inputs make a case");
        assert!(with_slots > 50, "only {with_slots} of {built} cases offer any slot");
    }
}
