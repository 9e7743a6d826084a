//! Everything the availability engine reads, in one call.
//!
//! The rows are returned as plain data (JSON hours, UTC intervals); converting them into
//! `availability-core` types is the caller's job, so this crate does not depend on the
//! engine.

use chrono::{DateTime, TimeDelta, Utc};

use crate::Store;
use crate::backend::{DbRow, dispatch};
use crate::catalogue::Employee;
use crate::connections::{ConnectionStatus, Provider};
use crate::error::{Result, StoreError};
use crate::ids::{BookingId, ConnectionId, EmployeeId, ServiceId, TenantId};
use crate::schedules::{
    Holiday, SpecialDate, TimeOff, WeeklyHours, date_text, holiday_from_row, hours_from_row, special_date_from_row,
    time_off_from_row,
};
use crate::tenants::Tenant;

/// A confirmed booking that makes its employee busy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyBooking {
    /// Its id (the `ref` of a `booking` reason).
    pub id: BookingId,
    /// Its service.
    pub service_id: ServiceId,
    /// Appointment start.
    pub start: DateTime<Utc>,
    /// Appointment end.
    pub end: DateTime<Utc>,
    /// Buffer before, as copied at booking time.
    pub buffer_before_min: u32,
    /// Buffer after, as copied at booking time.
    pub buffer_after_min: u32,
}

/// A mirrored calendar event near the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyExternalEvent {
    /// The connection it came from.
    pub connection_id: ConnectionId,
    /// The provider's id.
    pub provider_event_id: String,
    /// Start (for all-day events 00:00 UTC of the first date).
    pub start: DateTime<Utc>,
    /// End, exclusive.
    pub end: DateTime<Utc>,
    /// Whole dates in the employee's zone.
    pub all_day: bool,
    /// Whether it blocks time.
    pub blocks_time: bool,
}

/// How fresh an employee's external busy data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFreshness {
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its provider.
    pub provider: Provider,
    /// Its health.
    pub status: ConnectionStatus,
    /// Last successful sync.
    pub last_sync_at: Option<DateTime<Utc>>,
}

/// One employee's share of the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct EmployeeInputs {
    /// The employee (zone, services).
    pub employee: Employee,
    /// Own schedule; `None` = follows business hours.
    pub schedule: Option<WeeklyHours>,
    /// Own special dates within two days of the window.
    pub special_dates: Vec<SpecialDate>,
    /// Own holidays within two days of the window.
    pub holidays: Vec<Holiday>,
    /// Time off overlapping the window, and every recurring entry starting before its end.
    pub time_off: Vec<TimeOff>,
    /// Confirmed bookings whose buffered interval overlaps the window.
    pub bookings: Vec<BusyBooking>,
    /// External events overlapping the window (all-day ones within a day of it).
    pub external_events: Vec<BusyExternalEvent>,
    /// The employee's calendar connections.
    pub calendars: Vec<CalendarFreshness>,
}

/// What [`Store::load_availability_inputs`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct AvailabilityInputs {
    /// The tenant (zone, stale-calendar policy).
    pub tenant: Tenant,
    /// Business hours; `None` = closed except on special dates.
    pub business_hours: Option<WeeklyHours>,
    /// Tenant special dates within two days of the window.
    pub special_dates: Vec<SpecialDate>,
    /// Tenant holidays within two days of the window.
    pub holidays: Vec<Holiday>,
    /// Per employee, in the order asked for.
    pub employees: Vec<EmployeeInputs>,
}

/// Dates are matched two days wider than the window: zones reach ±14 hours.
const DATE_MARGIN: TimeDelta = TimeDelta::days(2);
/// All-day events are stored at UTC midnight and may cover the window a day either side.
const ALL_DAY_MARGIN: TimeDelta = TimeDelta::days(1);

/// Confirmed bookings of one employee whose buffered interval overlaps `[$3, $4)`,
/// as one JSON array of `[id, service_id, start, end, before, after]` (Unix seconds).
const BUSY_BOOKINGS_SQLITE: &str = "SELECT COALESCE(json_group_array(json_array(id, service_id, start_at, end_at,
        buffer_before_min, buffer_after_min)), '[]') AS busy
     FROM bookings
     WHERE tenant_id = $1 AND employee_id = $2 AND status = 'confirmed'
       AND buffered_end > $3 AND buffered_start < $4";
const BUSY_BOOKINGS_POSTGRES: &str = "SELECT COALESCE(json_agg(json_build_array(id, service_id,
        extract(epoch FROM start_at)::bigint, extract(epoch FROM end_at)::bigint,
        buffer_before_min, buffer_after_min)), '[]')::text AS busy
     FROM bookings
     WHERE tenant_id = $1 AND employee_id = $2 AND status = 'confirmed'
       AND buffered_end > $3 AND buffered_start < $4";

/// Decodes [`BUSY_BOOKINGS_SQLITE`] / [`BUSY_BOOKINGS_POSTGRES`], sorted by start then id.
fn busy_bookings_from_json(text: &str) -> Result<Vec<BusyBooking>> {
    let corrupt = |detail: String| StoreError::Corrupt { column: "bookings", detail };
    let rows: Vec<(String, String, i64, i64, i64, i64)> =
        serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    let instant =
        |secs: i64| DateTime::from_timestamp(secs, 0).ok_or_else(|| corrupt(format!("{secs} is out of range")));
    let minutes = |m: i64| u32::try_from(m).map_err(|_| corrupt(format!("{m} is not a buffer")));
    let mut out = rows
        .into_iter()
        .map(|(id, service_id, start, end, before, after)| {
            Ok(BusyBooking {
                id: BookingId::from_db(id),
                service_id: ServiceId::from_db(service_id),
                start: instant(start)?,
                end: instant(end)?,
                buffer_before_min: minutes(before)?,
                buffer_after_min: minutes(after)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| (a.start, a.id.as_str()).cmp(&(b.start, b.id.as_str())));
    Ok(out)
}

impl Store {
    /// Loads business hours, tenant exceptions and, per employee, schedule, exceptions,
    /// time off, busy bookings, external events and calendar freshness for `[from, to)`.
    ///
    /// `NotFound` if the tenant or one of the employees does not exist.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, employees = employee_ids.len()))]
    pub async fn load_availability_inputs(
        &self,
        tenant: &TenantId,
        employee_ids: &[EmployeeId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<AvailabilityInputs> {
        let tenant_row = self.tenant(tenant).await?;
        let first_date = date_text((from - DATE_MARGIN).date_naive());
        let last_date = date_text((to + DATE_MARGIN).date_naive());
        let mut inputs = dispatch!(self, pool => {
            let business_hours = sqlx::query(
                "SELECT timezone, weekly, breaks, updated_at FROM business_hours WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(hours_from_row)
            .transpose()?;
            let special_dates = sqlx::query(
                "SELECT id, employee_id, date, hours FROM special_dates
                 WHERE tenant_id = $1 AND employee_id IS NULL AND date BETWEEN $2 AND $3 ORDER BY date, id",
            )
            .bind(tenant.as_str())
            .bind(&first_date)
            .bind(&last_date)
            .fetch_all(pool)
            .await?
            .iter()
            .map(special_date_from_row)
            .collect::<Result<Vec<_>>>()?;
            let holidays = sqlx::query(
                "SELECT id, employee_id, date, name FROM holidays
                 WHERE tenant_id = $1 AND employee_id IS NULL AND date BETWEEN $2 AND $3 ORDER BY date, id",
            )
            .bind(tenant.as_str())
            .bind(&first_date)
            .bind(&last_date)
            .fetch_all(pool)
            .await?
            .iter()
            .map(holiday_from_row)
            .collect::<Result<Vec<_>>>()?;
            AvailabilityInputs {
                tenant: tenant_row,
                business_hours,
                special_dates,
                holidays,
                employees: Vec::with_capacity(employee_ids.len()),
            }
        });
        let busy_bookings_sql = match self.backend {
            crate::backend::Backend::Sqlite(_) => BUSY_BOOKINGS_SQLITE,
            crate::backend::Backend::Postgres(_) => BUSY_BOOKINGS_POSTGRES,
        };
        for employee_id in employee_ids {
            let employee = self.employee(tenant, employee_id).await?;
            let one = dispatch!(self, pool => {
                let schedule = sqlx::query(
                    "SELECT timezone, weekly, breaks, updated_at FROM employee_schedules
                     WHERE tenant_id = $1 AND employee_id = $2",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(hours_from_row)
                .transpose()?;
                let special_dates = sqlx::query(
                    "SELECT id, employee_id, date, hours FROM special_dates
                     WHERE tenant_id = $1 AND employee_id = $2 AND date BETWEEN $3 AND $4 ORDER BY date, id",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .bind(&first_date)
                .bind(&last_date)
                .fetch_all(pool)
                .await?
                .iter()
                .map(special_date_from_row)
                .collect::<Result<Vec<_>>>()?;
                let holidays = sqlx::query(
                    "SELECT id, employee_id, date, name FROM holidays
                     WHERE tenant_id = $1 AND employee_id = $2 AND date BETWEEN $3 AND $4 ORDER BY date, id",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .bind(&first_date)
                .bind(&last_date)
                .fetch_all(pool)
                .await?
                .iter()
                .map(holiday_from_row)
                .collect::<Result<Vec<_>>>()?;
                let time_off = sqlx::query(
                    "SELECT id, employee_id, start_at, end_at, rrule, exdates, reason FROM time_off
                     WHERE tenant_id = $1 AND employee_id = $2 AND start_at < $4
                       AND (end_at > $3 OR rrule IS NOT NULL)
                     ORDER BY start_at, id",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .bind(tm(from))
                .bind(tm(to))
                .fetch_all(pool)
                .await?
                .iter()
                .map(time_off_from_row)
                .collect::<Result<Vec<_>>>()?;
                // One row holding every busy booking as JSON: sqlx hands rows over one
                // by one, which cost ~4.5 µs each; the aggregate crosses once.
                let aggregated: String = sqlx::query(busy_bookings_sql)
                    .bind(tenant.as_str())
                    .bind(employee_id.as_str())
                    .bind(tm(from))
                    .bind(tm(to))
                    .fetch_one(pool)
                    .await?
                    .text("busy")?;
                let bookings = busy_bookings_from_json(&aggregated)?;
                let external_events = sqlx::query(
                    "SELECT connection_id, provider_event_id, start_at, end_at, all_day, blocks_time
                     FROM external_events
                     WHERE tenant_id = $1 AND employee_id = $2 AND end_at > $3 AND start_at < $4
                     ORDER BY start_at, provider_event_id",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .bind(tm(from - ALL_DAY_MARGIN))
                .bind(tm(to + ALL_DAY_MARGIN))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(BusyExternalEvent {
                        connection_id: ConnectionId::from_db(row.text("connection_id")?),
                        provider_event_id: row.text("provider_event_id")?,
                        start: row.time("start_at")?,
                        end: row.time("end_at")?,
                        all_day: row.flag("all_day")?,
                        blocks_time: row.flag("blocks_time")?,
                    })
                })
                .filter(|event: &Result<BusyExternalEvent>| match event {
                    Ok(e) => e.all_day || (e.end > from && e.start < to),
                    Err(_) => true,
                })
                .collect::<Result<Vec<_>>>()?;
                let calendars = sqlx::query(
                    "SELECT id, provider, status, last_sync_at FROM calendar_connections
                     WHERE tenant_id = $1 AND employee_id = $2 ORDER BY provider",
                )
                .bind(tenant.as_str())
                .bind(employee_id.as_str())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(CalendarFreshness {
                        connection_id: ConnectionId::from_db(row.text("id")?),
                        provider: Provider::parse(&row.text("provider")?)?,
                        status: ConnectionStatus::parse(&row.text("status")?)?,
                        last_sync_at: row.opt_time("last_sync_at")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
                EmployeeInputs {
                    employee,
                    schedule,
                    special_dates,
                    holidays,
                    time_off,
                    bookings,
                    external_events,
                    calendars,
                }
            });
            inputs.employees.push(one);
        }
        Ok(inputs)
    }
}
