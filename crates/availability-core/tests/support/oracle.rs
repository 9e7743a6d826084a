//! The brute-force oracle: the contract's availability rules evaluated minute
//! by minute, with its own wall-clock conversions (a per-minute table of
//! offsets straight from `chrono-tz`) and its own expansion of recurring time
//! off. Written apart from the engine on purpose; shared by the property test
//! and the benchmark (which measures the engine against it).
#![allow(dead_code)]

use availability_core::*;
use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

pub type Ranges = [Vec<(u16, u16)>; 7];

#[derive(Debug, Clone)]
pub struct Case {
    pub bzone: Tz,
    pub ezone: Tz,
    pub weekly: Option<(Ranges, Ranges)>,
    pub tenant_special: Option<(i64, Vec<(u16, u16)>)>,
    pub tenant_holiday: Option<i64>,
    pub schedule: Option<(Ranges, Ranges)>,
    pub emp_special: Option<(i64, Vec<(u16, u16)>)>,
    pub emp_holiday: Option<i64>,
    pub start_date: NaiveDate,
    pub days: i64,
    pub duration: i64,
    pub step: i64,
    pub before: i64,
    pub after: i64,
    pub notice: i64,
    pub horizon: i64,
    pub now_offset: i64,
    pub bookings: Vec<(i64, i64, i64, i64)>,
    pub external: Vec<(i64, i64)>,
    pub all_day: Option<(i64, i64)>,
    pub time_off: Vec<(i64, i64)>,
    pub recurring: Option<Recurring>,
}

#[derive(Debug, Clone)]
pub struct Recurring {
    pub day: i64,
    pub wall: u16,
    pub length: i64,
    pub daily_interval: Option<i64>,
    pub weekdays: u8,
    pub count: i64,
}

// ---------------------------------------------------------------- the oracle

/// Offsets of one zone for every minute of the stretch the oracle looks at.
struct MinuteClock {
    base: i64,
    offsets: Vec<i64>,
}

impl MinuteClock {
    fn new(tz: Tz, base: i64, minutes: usize) -> Self {
        let offsets = (0..minutes as i64)
            .map(|m| {
                let t = DateTime::from_timestamp(base + m * 60, 0).unwrap().naive_utc();
                i64::from(tz.offset_from_utc_datetime(&t).fix().local_minus_utc()) / 60
            })
            .collect();
        MinuteClock { base, offsets }
    }

    fn local(&self, m: usize) -> i64 {
        self.base / 60 + m as i64 + self.offsets[m]
    }

    fn day(&self, m: usize) -> i64 {
        self.local(m).div_euclid(1440)
    }

    /// Minute index of a wall-clock minute: the earliest match, or in a gap the
    /// minute the offset before the gap gives. None outside the table.
    fn minute_of(&self, wall: i64) -> Option<usize> {
        let n = self.offsets.len();
        let guess = wall - self.base / 60 - self.offsets[n / 2];
        let lo = (guess - 1800).clamp(1, n as i64) as usize;
        let hi = (guess + 1800).clamp(1, n as i64) as usize;
        if let Some(m) = (lo..hi).find(|&m| self.local(m) == wall) {
            return Some(m);
        }
        let m = (lo..hi).find(|&m| self.local(m - 1) < wall && wall < self.local(m))?;
        Some(m - 1 + (wall - self.local(m - 1)) as usize)
    }
}

fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - 719_163
}

struct Side<'a> {
    weekly: Option<&'a (Ranges, Ranges)>,
    open_without: bool,
    special: Option<(i64, &'a [(u16, u16)])>,
    holiday: Option<i64>,
}

fn side_open(clock: &MinuteClock, side: &Side, first_day: i64, last_day: i64) -> Vec<bool> {
    let n = clock.offsets.len();
    let mut open = vec![false; n];
    let mut brk = vec![false; n];
    let mark = |v: &mut Vec<bool>, day: i64, (s, e): (u16, u16)| {
        let a = clock.minute_of(day * 1440 + i64::from(s));
        let b = clock.minute_of(day * 1440 + i64::from(e));
        if let (Some(a), Some(b)) = (a, b) {
            v[a..b.max(a)].iter_mut().for_each(|x| *x = true);
        }
    };
    for day in first_day..=last_day {
        if side.holiday == Some(day) {
            continue;
        }
        if let Some((d, hours)) = side.special {
            if d == day {
                hours.iter().for_each(|&r| mark(&mut open, day, r));
                continue;
            }
        }
        let weekday = (day + 3).rem_euclid(7) as usize;
        match side.weekly {
            Some((w, b)) => {
                w[weekday].iter().for_each(|&r| mark(&mut open, day, r));
                b[weekday].iter().for_each(|&r| mark(&mut brk, day, r));
            }
            None if side.open_without => mark(&mut open, day, (0, 1440)),
            None => {}
        }
    }
    open.iter().zip(&brk).map(|(o, b)| *o && !*b).collect()
}

pub fn window_of(case: &Case) -> (i64, i64) {
    let from = case
        .bzone
        .from_local_datetime(&case.start_date.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .or_else(|| case.bzone.from_local_datetime(&case.start_date.and_hms_opt(1, 0, 0).unwrap()).earliest())
        .unwrap()
        .timestamp();
    (from, from + case.days * 86_400)
}

fn recurring_walls(r: &Recurring, start_day: i64) -> Vec<i64> {
    let mut walls = Vec::new();
    match r.daily_interval {
        Some(n) => {
            for k in 0..r.count {
                walls.push((start_day + k * n) * 1440 + i64::from(r.wall));
            }
        }
        None => {
            let mut day = start_day;
            while (walls.len() as i64) < r.count {
                if r.weekdays & (1 << ((day + 3).rem_euclid(7))) != 0 {
                    walls.push(day * 1440 + i64::from(r.wall));
                }
                day += 1;
            }
        }
    }
    walls
}

pub fn oracle(case: &Case) -> Vec<i64> {
    let (from, to) = window_of(case);
    let base = from - 3 * 86_400;
    let n = ((to - from) / 60 + 6 * 1440) as usize;
    let bclock = MinuteClock::new(case.bzone, base, n);
    let eclock = MinuteClock::new(case.ezone, base, n);
    let sd = day_of(case.start_date);
    let (first, last) = (sd - 2, sd + case.days + 2);
    let tenant = side_open(
        &bclock,
        &Side {
            weekly: case.weekly.as_ref(),
            open_without: false,
            special: case.tenant_special.as_ref().map(|(d, h)| (sd + d, h.as_slice())),
            holiday: case.tenant_holiday.map(|d| sd + d),
        },
        first,
        last,
    );
    let emp = side_open(
        &eclock,
        &Side {
            weekly: case.schedule.as_ref(),
            open_without: true,
            special: case.emp_special.as_ref().map(|(d, h)| (sd + d, h.as_slice())),
            holiday: case.emp_holiday.map(|d| sd + d),
        },
        first,
        last,
    );
    let open: Vec<bool> = tenant.iter().zip(&emp).map(|(a, b)| *a && *b).collect();

    let mut busy = vec![false; n];
    let from_m = (from - base) / 60;
    let mut mark = |a: i64, b: i64| {
        let (a, b) = (a.clamp(0, n as i64) as usize, b.clamp(0, n as i64) as usize);
        busy[a..b.max(a)].iter_mut().for_each(|x| *x = true);
    };
    for &(s, len, bb, ba) in &case.bookings {
        mark(from_m + s - bb, from_m + s + len + ba);
    }
    for &(s, len) in case.external.iter().chain(&case.time_off) {
        mark(from_m + s, from_m + s + len);
    }
    if let Some((d, len)) = case.all_day {
        if let (Some(a), Some(b)) = (eclock.minute_of((sd + d) * 1440), eclock.minute_of((sd + d + len) * 1440)) {
            mark(a as i64, b as i64);
        }
    }
    if let Some(r) = &case.recurring {
        let start_day = eclock.day(from_m as usize) + r.day;
        for wall in recurring_walls(r, start_day) {
            if let Some(m) = eclock.minute_of(wall) {
                mark(m as i64, m as i64 + r.length);
            }
        }
    }

    let now = from + case.now_offset * 60;
    let today = day_of(DateTime::from_timestamp(now, 0).unwrap().with_timezone(&case.bzone).date_naive());
    let earliest = now + case.notice * 60;
    let g = [60, 30, 20, 15, 10, 5, 1].into_iter().find(|g| case.step % g == 0).unwrap();
    let mut out = Vec::new();
    let mut m = 1;
    while m < n {
        if !open[m] || open[m - 1] {
            m += 1;
            continue;
        }
        let r0 = m;
        let mut r1 = m;
        while r1 < n && open[r1] {
            r1 += 1;
        }
        // Boundaries: the range start and each business-local midnight inside it.
        let boundaries: Vec<usize> = (r0..r1).filter(|&x| x == r0 || bclock.day(x) != bclock.day(x - 1)).collect();
        for (i, &b) in boundaries.iter().enumerate() {
            let run_end = boundaries.get(i + 1).copied().unwrap_or(r1);
            let Some(anchor) = (b..n).find(|&x| bclock.local(x).rem_euclid(g) == 0) else {
                continue;
            };
            let mut s = anchor;
            while s < run_end {
                let t = base + s as i64 * 60;
                let fits = s as i64 + case.duration <= r1 as i64;
                let lo = s as i64 - case.before;
                let hi = s as i64 + case.duration + case.after;
                let free = (lo.max(0)..hi.min(n as i64)).all(|x| !busy[x as usize]);
                if fits && free && t >= from && t < to && t >= earliest && bclock.day(s) < today + case.horizon {
                    out.push(t);
                }
                s += case.step as usize;
            }
        }
        m = r1;
    }
    out
}

// ---------------------------------------------------------------- the engine's inputs

fn wall_ranges(v: &[(u16, u16)]) -> Vec<WallRange> {
    v.iter()
        .filter(|(s, e)| s < e)
        .map(|&(s, e)| {
            WallRange::new(WallTime::from_minutes(s, "s").unwrap(), WallTime::from_minutes(e, "e").unwrap(), "r")
                .unwrap()
        })
        .collect()
}

fn hours(w: &(Ranges, Ranges)) -> WeeklyHours {
    WeeklyHours {
        weekly: Week::from_days(std::array::from_fn(|i| wall_ranges(&w.0[i]))),
        breaks: Week::from_days(std::array::from_fn(|i| wall_ranges(&w.1[i]))),
    }
}

pub fn utc(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap()
}

pub fn engine_inputs(case: &Case) -> (Business, ServiceRules, Employee, Query) {
    let (from, to) = window_of(case);
    let sd = case.start_date;
    let date = |d: i64| sd + chrono::Duration::days(d);
    let business = Business {
        zone: case.bzone.into(),
        hours: case.weekly.as_ref().map(hours),
        special_dates: case
            .tenant_special
            .iter()
            .map(|(d, h)| SpecialDate { date: date(*d), hours: wall_ranges(h) })
            .collect(),
        holidays: case.tenant_holiday.iter().map(|d| Holiday { id: "th".into(), date: date(*d) }).collect(),
    };
    let service =
        ServiceRules::new(case.duration, case.before, case.after, case.step, case.notice, case.horizon).unwrap();
    let mut e = Employee::new("e", case.ezone.into());
    e.schedule = case.schedule.as_ref().map(hours);
    e.special_dates =
        case.emp_special.iter().map(|(d, h)| SpecialDate { date: date(*d), hours: wall_ranges(h) }).collect();
    e.holidays = case.emp_holiday.iter().map(|d| Holiday { id: "eh".into(), date: date(*d) }).collect();
    let iv = |a: i64, b: i64| Interval::new(utc(a), utc(b), "x").unwrap();
    e.bookings = case
        .bookings
        .iter()
        .enumerate()
        .map(|(i, &(s, len, bb, ba))| Booking {
            id: format!("b{i}"),
            interval: iv(from + s * 60, from + (s + len) * 60),
            buffer_before_min: bb as u32,
            buffer_after_min: ba as u32,
        })
        .collect();
    e.external = case
        .external
        .iter()
        .enumerate()
        .map(|(i, &(s, len))| ExternalBusy {
            id: format!("x{i}"),
            time: BusyTime::Timed(iv(from + s * 60, from + (s + len) * 60)),
        })
        .collect();
    if let Some((d, len)) = case.all_day {
        // Dates on the employee's clock, counted from the window's first date there.
        let first = DateTime::from_timestamp(from, 0).unwrap().with_timezone(&case.ezone).date_naive();
        e.external.push(ExternalBusy {
            id: "allday".into(),
            time: BusyTime::AllDay {
                start_date: first + chrono::Duration::days(d - (first - sd).num_days()),
                end_date: first + chrono::Duration::days(d + len - (first - sd).num_days()),
            },
        });
    }
    e.time_off = case
        .time_off
        .iter()
        .enumerate()
        .map(|(i, &(s, len))| TimeOff::once(format!("t{i}"), iv(from + s * 60, from + (s + len) * 60)))
        .collect();
    if let Some(r) = &case.recurring {
        let first_local = DateTime::from_timestamp(from, 0).unwrap().with_timezone(&case.ezone).date_naive();
        let start_date = first_local + chrono::Duration::days(r.day);
        // The start is an occurrence: for weekly rules, include the start's weekday.
        let weekday = start_date.weekday().num_days_from_monday() as u8;
        let mask = r.weekdays | (1 << weekday);
        let wall = start_date.and_hms_opt(u32::from(r.wall / 60), u32::from(r.wall % 60), 0).unwrap();
        let start = case.ezone.from_local_datetime(&wall).earliest();
        if let Some(start) = start {
            let rule = match r.daily_interval {
                Some(k) => format!("FREQ=DAILY;INTERVAL={k};COUNT={}", r.count),
                None => {
                    let names = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
                    let days: Vec<&str> = (0..7).filter(|i| mask & (1 << i) != 0).map(|i| names[i]).collect();
                    format!("FREQ=WEEKLY;BYDAY={};COUNT={}", days.join(","), r.count)
                }
            };
            let start = start.with_timezone(&Utc);
            let t = TimeOff::recurring(
                "rt",
                Interval::new(start, start + chrono::Duration::minutes(r.length), "x").unwrap(),
                &rule,
                &[],
                case.ezone.into(),
            )
            .unwrap();
            e.time_off.push(t);
        }
    }
    let query = Query { window: iv(from, to), now: utc(from + case.now_offset * 60) };
    (business, service, e, query)
}

/// The oracle's view of the same case, with the recurring rule's weekday mask
/// and start exactly as the engine got them.
pub fn normalised(case: &Case) -> Case {
    let mut c = case.clone();
    let (from, _) = window_of(case);
    if let Some(r) = &mut c.recurring {
        let first_local = DateTime::from_timestamp(from, 0).unwrap().with_timezone(&case.ezone).date_naive();
        let start_date = first_local + chrono::Duration::days(r.day);
        r.weekdays |= 1 << start_date.weekday().num_days_from_monday();
        let wall = start_date.and_hms_opt(u32::from(r.wall / 60), u32::from(r.wall % 60), 0).unwrap();
        if case.ezone.from_local_datetime(&wall).earliest().is_none() {
            c.recurring = None;
        }
    }
    c
}
