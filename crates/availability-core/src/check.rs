//! Why a slot is or is not free: the reasons of `POST /api/availability/check`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{BusyKind, Prepared, for_each_busy, horizon_end, notice_end, secs_floor, to_utc};
use crate::input::{Business, Employee, ServiceRules};
use crate::intervals::{Span, intersect, normalize, subtract};

/// Why a slot is not free. The names are the contract's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// The slot does not lie inside open hours (and no holiday explains it).
    OutsideHours,
    /// The slot overlaps a break.
    Break,
    /// The slot touches a holiday of the business or the employee.
    Holiday,
    /// The slot overlaps time off.
    TimeOff,
    /// The slot overlaps a confirmed booking.
    Booking,
    /// The slot overlaps a blocking external calendar event.
    ExternalEvent,
    /// Only the buffers (the slot's or a booking's) overlap busy time.
    Buffer,
    /// The start lies inside open hours but is not a start of the slot grid.
    OffGrid,
    /// The start is sooner than the minimum notice allows.
    MinNotice,
    /// The start is past the booking horizon.
    Horizon,
}

impl ReasonCode {
    /// The contract's snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::OutsideHours => "outside_hours",
            ReasonCode::Break => "break",
            ReasonCode::Holiday => "holiday",
            ReasonCode::TimeOff => "time_off",
            ReasonCode::Booking => "booking",
            ReasonCode::ExternalEvent => "external_event",
            ReasonCode::Buffer => "buffer",
            ReasonCode::OffGrid => "off_grid",
            ReasonCode::MinNotice => "min_notice",
            ReasonCode::Horizon => "horizon",
        }
    }
}

/// One reason, with the interval of the thing that blocks and its id, if it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// What blocks.
    pub code: ReasonCode,
    /// Start of the blocking thing's interval.
    pub start: DateTime<Utc>,
    /// End of the blocking thing's interval.
    pub end: DateTime<Utc>,
    /// Id of the blocking booking, time off, external event or holiday.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The answer of a check: free or not, and every reason that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// True exactly when `start` is one of the employee's slots (no reasons).
    pub available: bool,
    /// Every reason that applies, in the order of [`ReasonCode`].
    pub reasons: Vec<Reason>,
}

fn reason(code: ReasonCode, span: Span, reference: Option<&str>) -> Reason {
    Reason { code, start: to_utc(span.start), end: to_utc(span.end), reference: reference.map(str::to_owned) }
}

/// Explains whether `start` is a free slot of `employee` for `service`.
///
/// `available` is true exactly when [`crate::available_slots`] would list that
/// start for that employee in any window containing it.
pub fn check_slot(
    business: &Business,
    service: &ServiceRules,
    employee: &Employee,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Check {
    let s = secs_floor(start);
    let duration = i64::from(service.duration_min()) * 60;
    let before = i64::from(service.buffer_before_min()) * 60;
    let after = i64::from(service.buffer_after_min()) * 60;
    let slot = Span::new(s, s + duration);
    let wide = Span::new(s - before, s + duration + after);
    let mut prepared = Prepared::new(business, service, s, s + 1);
    let side = prepared.employee_side(employee);
    let tenant = &prepared.tenant;
    let mut reasons = Vec::new();

    // Hours: holidays first; then "outside hours" only where no holiday explains it.
    let mut holidays: Vec<&(Span, String)> =
        tenant.holidays.iter().chain(&side.holidays).filter(|(span, _)| span.overlaps(slot)).collect();
    holidays.sort_by_key(|(span, id)| (span.start, id.clone()));
    reasons.extend(holidays.iter().map(|(span, id)| reason(ReasonCode::Holiday, *span, Some(id))));
    let hours = intersect(&tenant.ranges, &side.ranges);
    if holidays.is_empty() && !hours.iter().any(|r| r.contains_span(slot)) {
        // The first stretch of the slot that lies outside the hours.
        let closed = subtract(&[slot], &hours);
        let first = closed.first().copied().unwrap_or(slot);
        reasons.push(reason(ReasonCode::OutsideHours, first, None));
    }
    let mut breaks: Vec<Span> = tenant.breaks.iter().chain(&side.breaks).copied().collect();
    normalize(&mut breaks);
    for b in breaks {
        if !intersect(&intersect(&[b], &[slot]), &hours).is_empty() {
            reasons.push(reason(ReasonCode::Break, b, None));
        }
    }

    // The grid: the start must be one of the grid starts of its open range.
    let open = intersect(&tenant.open(), &side.open());
    if let Some(range) = open.iter().find(|r| r.start <= s && s < r.end) {
        let clock = &prepared.clocks.business;
        let boundary = range.start.max(clock.start_of_day(clock.day_of(s)));
        let grid = i64::from(service.grid_minutes()) * 60;
        let step = i64::from(service.slot_step_min()) * 60;
        let anchor = clock.next_on_grid(boundary, grid);
        if s < anchor || (s - anchor) % step != 0 {
            reasons.push(reason(ReasonCode::OffGrid, *range, None));
        }
    }

    // Busy time: the slot itself, or only the buffers.
    let mut busy: Vec<(ReasonCode, Span, String)> = Vec::new();
    let timeline = prepared.clocks.for_zone(employee.zone.tz());
    for_each_busy(employee, timeline, wide.start, wide.end, |kind, plain, widened, i| {
        if !widened.overlaps(wide) {
            return;
        }
        let (code, id) = match kind {
            BusyKind::Booking => (ReasonCode::Booking, &employee.bookings[i].id),
            BusyKind::TimeOff => (ReasonCode::TimeOff, &employee.time_off[i].id),
            BusyKind::External => (ReasonCode::ExternalEvent, &employee.external[i].id),
        };
        let code = if plain.overlaps(slot) { code } else { ReasonCode::Buffer };
        busy.push((code, plain, id.clone()));
    });
    busy.sort_by(|a, b| (a.0, a.1.start, &a.2).cmp(&(b.0, b.1.start, &b.2)));
    reasons.extend(busy.into_iter().map(|(code, span, id)| reason(code, span, Some(&id))));

    let earliest = notice_end(service, now);
    if s < earliest {
        reasons.push(reason(ReasonCode::MinNotice, Span::new(secs_floor(now), earliest), None));
    }
    let horizon = horizon_end(business, service, now);
    if s >= horizon {
        reasons.push(reason(ReasonCode::Horizon, Span::new(horizon, slot.end.max(horizon)), None));
    }
    reasons.sort_by_key(|r| r.code);
    Check { available: reasons.is_empty(), reasons }
}
