//! From stored rows to the availability engine's inputs, and the questions the
//! handlers ask it: slots in a window, is this start free, alternatives.

use availability_core as core;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::error::{ApiError, ApiResult};

/// A connection older than this without a successful sync is stale.
pub const STALE_AFTER: Duration = Duration::minutes(15);

/// The engine's inputs for one question, plus what the answer reports about calendars.
#[derive(Debug)]
pub struct Inputs {
    /// The business zone (hours, grid, "today").
    pub zone: Tz,
    /// Business side.
    pub business: core::Business,
    /// Employees in the order loaded.
    pub employees: Vec<core::Employee>,
    /// `calendars` of the availability answer.
    pub calendars: Vec<serde_json::Value>,
}

fn stored<T: serde::de::DeserializeOwned>(value: serde_json::Value, what: &str) -> ApiResult<T> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored {what} no longer parses: {e}")))
}

fn hours(h: &store::WeeklyHours) -> ApiResult<core::WeeklyHours> {
    stored(json!({"weekly": h.weekly, "breaks": h.breaks}), "weekly hours")
}

fn specials(list: &[store::SpecialDate]) -> ApiResult<Vec<core::SpecialDate>> {
    list.iter()
        .map(|s| Ok(core::SpecialDate { date: s.date, hours: stored(s.hours.clone(), "special date hours")? }))
        .collect()
}

fn holidays(list: &[store::Holiday]) -> Vec<core::Holiday> {
    list.iter().map(|h| core::Holiday { id: h.id.to_string(), date: h.date }).collect()
}

/// The business zone: the business hours' zone, else the tenant's.
pub fn business_zone(tenant: &store::Tenant, business_hours: Option<&store::WeeklyHours>) -> ApiResult<Tz> {
    let name = business_hours.map_or(tenant.timezone.as_str(), |h| h.timezone.as_str());
    name.parse().map_err(|_| ApiError::internal(anyhow::anyhow!("stored zone {name:?} is unknown")))
}

/// Converts the store's rows. `exclude` leaves one booking out of the busy time
/// (a booking never conflicts with itself when it is rescheduled).
pub fn convert(
    rows: &store::AvailabilityInputs,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    exclude: Option<&store::BookingId>,
) -> ApiResult<Inputs> {
    let zone = business_zone(&rows.tenant, rows.business_hours.as_ref())?;
    let business = core::Business {
        zone: zone.into(),
        hours: rows.business_hours.as_ref().map(hours).transpose()?,
        special_dates: specials(&rows.special_dates)?,
        holidays: holidays(&rows.holidays),
    };
    let mut employees = Vec::with_capacity(rows.employees.len());
    let mut calendars = Vec::new();
    for e in &rows.employees {
        let ezone: core::Zone = core::Zone::parse(&e.employee.timezone, "employee.timezone")?;
        let mut employee = core::Employee::new(e.employee.id.to_string(), ezone);
        employee.schedule = e.schedule.as_ref().map(hours).transpose()?;
        employee.special_dates = specials(&e.special_dates)?;
        employee.holidays = holidays(&e.holidays);
        for t in &e.time_off {
            let interval = core::Interval::new(t.entry.start, t.entry.end, "time_off")?;
            employee.time_off.push(match &t.entry.rrule {
                None => core::TimeOff::once(t.id.to_string(), interval),
                Some(rule) => core::TimeOff::recurring(t.id.to_string(), interval, rule, &t.entry.exdates, ezone)?,
            });
        }
        for b in e.bookings.iter().filter(|b| Some(&b.id) != exclude) {
            employee.bookings.push(core::Booking {
                id: b.id.to_string(),
                interval: core::Interval::new(b.start, b.end, "booking")?,
                buffer_before_min: b.buffer_before_min,
                buffer_after_min: b.buffer_after_min,
            });
        }
        let mut ignored = Vec::new();
        for c in &e.calendars {
            let stale =
                c.status != store::ConnectionStatus::Active || c.last_sync_at.is_none_or(|at| now - at > STALE_AFTER);
            calendars.push(json!({
                "employee_id": e.employee.id.to_string(),
                "provider": c.provider.as_str(),
                "status": c.status.as_str(),
                "synced_at": c.last_sync_at.map(|t| crate::time::write(t, zone)),
                "stale": stale,
            }));
            if stale {
                match rows.tenant.stale_calendar_policy {
                    store::StaleCalendarPolicy::Block => {
                        // Never offer time we cannot vouch for: the whole question's span is busy.
                        employee.external.push(core::ExternalBusy {
                            id: format!("stale-calendar:{}", c.connection_id),
                            time: core::BusyTime::Timed(core::Interval::new(
                                window.0 - Duration::days(2),
                                window.1 + Duration::days(9),
                                "window",
                            )?),
                        });
                    }
                    store::StaleCalendarPolicy::Ignore => ignored.push(c.connection_id.clone()),
                }
            }
        }
        for x in e.external_events.iter().filter(|x| x.blocks_time && !ignored.contains(&x.connection_id)) {
            let time = if x.all_day {
                core::BusyTime::AllDay { start_date: x.start.date_naive(), end_date: x.end.date_naive() }
            } else {
                match core::Interval::new(x.start, x.end, "external_event") {
                    Ok(iv) => core::BusyTime::Timed(iv),
                    Err(_) => continue, // a zero-length event blocks nothing
                }
            };
            employee.external.push(core::ExternalBusy { id: x.provider_event_id.clone(), time });
        }
        employees.push(employee);
    }
    Ok(Inputs { zone, business, employees, calendars })
}

/// The engine's service rules from a stored service.
pub fn rules(service: &store::Service) -> ApiResult<core::ServiceRules> {
    let s = &service.settings;
    Ok(core::ServiceRules::new(
        s.duration_min.into(),
        s.buffer_before_min.into(),
        s.buffer_after_min.into(),
        s.slot_step_min.into(),
        s.min_notice_min.into(),
        s.horizon_days.into(),
    )?)
}

/// How far around a question the store is asked for rows.
pub fn load_span(from: DateTime<Utc>, to: DateTime<Utc>, service: &store::Service) -> (DateTime<Utc>, DateTime<Utc>) {
    let s = &service.settings;
    let reach = Duration::minutes(i64::from(s.duration_min + s.buffer_before_min + s.buffer_after_min));
    (from - reach - Duration::days(1), to + reach + Duration::days(1))
}
