//! Opening hours and exceptions: business hours, employee schedules, special dates,
//! holidays and time off.
//!
//! Wall-clock hours are kept as the JSON the API accepted (`{"mon": [["09:00","17:00"]]}`);
//! the API layer validates them and the availability engine interprets them. Dates are
//! `YYYY-MM-DD` text, which sorts like the dates themselves.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::Store;
use crate::backend::{DbRow, dispatch, json_column, now};
use crate::error::{Result, StoreError};
use crate::ids::{EmployeeId, HolidayId, SpecialDateId, TenantId, TimeOffId};

/// Weekly hours and breaks in one zone (business hours or an employee schedule).
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyHours {
    /// IANA zone the wall times are in.
    pub timezone: String,
    /// `{"mon": [["09:00","17:00"]], ...}`.
    pub weekly: Value,
    /// Same shape; cut out of the weekly ranges.
    pub breaks: Value,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Hours that replace the weekly ones on one date (`[]` = closed).
#[derive(Debug, Clone, PartialEq)]
pub struct SpecialDate {
    /// Its id.
    pub id: SpecialDateId,
    /// `None` for the tenant's own special date.
    pub employee_id: Option<EmployeeId>,
    /// The local date.
    pub date: NaiveDate,
    /// `[["10:00","14:00"]]`.
    pub hours: Value,
}

/// A date closed all day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    /// Its id.
    pub id: HolidayId,
    /// `None` for a tenant-wide holiday.
    pub employee_id: Option<EmployeeId>,
    /// The local date.
    pub date: NaiveDate,
    /// Display name.
    pub name: String,
}

/// Time off as the API creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimeOff {
    /// Start of the (first) interval.
    pub start: DateTime<Utc>,
    /// End of the (first) interval, after `start`.
    pub end: DateTime<Utc>,
    /// RFC 5545 RRULE repeating the interval, validated by the API layer.
    pub rrule: Option<String>,
    /// Occurrence starts excluded from the rule.
    pub exdates: Vec<DateTime<Utc>>,
    /// Free text.
    pub reason: Option<String>,
}

/// Stored time off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOff {
    /// Its id.
    pub id: TimeOffId,
    /// Whose.
    pub employee_id: EmployeeId,
    /// The interval and its recurrence.
    pub entry: NewTimeOff,
}

fn date_column(column: &'static str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| StoreError::Corrupt { column, detail: e.to_string() })
}

pub(crate) fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(crate) fn hours_from_row(row: &impl DbRow) -> Result<WeeklyHours> {
    Ok(WeeklyHours {
        timezone: row.text("timezone")?,
        weekly: json_column("weekly", &row.text("weekly")?)?,
        breaks: json_column("breaks", &row.text("breaks")?)?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) fn special_date_from_row(row: &impl DbRow) -> Result<SpecialDate> {
    Ok(SpecialDate {
        id: SpecialDateId::from_db(row.text("id")?),
        employee_id: row.opt_text("employee_id")?.map(EmployeeId::from_db),
        date: date_column("date", &row.text("date")?)?,
        hours: json_column("hours", &row.text("hours")?)?,
    })
}

pub(crate) fn holiday_from_row(row: &impl DbRow) -> Result<Holiday> {
    Ok(Holiday {
        id: HolidayId::from_db(row.text("id")?),
        employee_id: row.opt_text("employee_id")?.map(EmployeeId::from_db),
        date: date_column("date", &row.text("date")?)?,
        name: row.text("name")?,
    })
}

pub(crate) fn time_off_from_row(row: &impl DbRow) -> Result<TimeOff> {
    let exdates = match row.opt_text("exdates")? {
        None => Vec::new(),
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { column: "exdates", detail: e.to_string() })?
        }
    };
    Ok(TimeOff {
        id: TimeOffId::from_db(row.text("id")?),
        employee_id: EmployeeId::from_db(row.text("employee_id")?),
        entry: NewTimeOff {
            start: row.time("start_at")?,
            end: row.time("end_at")?,
            rrule: row.opt_text("rrule")?,
            exdates,
            reason: row.opt_text("reason")?,
        },
    })
}

impl Store {
    /// Replaces the tenant's business hours.
    pub async fn set_business_hours(
        &self,
        tenant: &TenantId,
        timezone: &str,
        weekly: &Value,
        breaks: &Value,
    ) -> Result<()> {
        self.tenant(tenant).await?;
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO business_hours (tenant_id, timezone, weekly, breaks, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id) DO UPDATE SET timezone = excluded.timezone,
                    weekly = excluded.weekly, breaks = excluded.breaks, updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(timezone)
            .bind(weekly.to_string())
            .bind(breaks.to_string())
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The tenant's business hours, if set.
    pub async fn business_hours(&self, tenant: &TenantId) -> Result<Option<WeeklyHours>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT timezone, weekly, breaks, updated_at FROM business_hours WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(hours_from_row)
            .transpose()
        })
    }

    /// Replaces an employee's schedule.
    pub async fn set_employee_schedule(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        timezone: &str,
        weekly: &Value,
        breaks: &Value,
    ) -> Result<()> {
        self.employee(tenant, employee).await?;
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO employee_schedules (tenant_id, employee_id, timezone, weekly, breaks, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, employee_id) DO UPDATE SET timezone = excluded.timezone,
                    weekly = excluded.weekly, breaks = excluded.breaks, updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(employee.as_str())
            .bind(timezone)
            .bind(weekly.to_string())
            .bind(breaks.to_string())
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// An employee's schedule, if set (without one the employee follows business hours).
    pub async fn employee_schedule(&self, tenant: &TenantId, employee: &EmployeeId) -> Result<Option<WeeklyHours>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT timezone, weekly, breaks, updated_at FROM employee_schedules
                 WHERE tenant_id = $1 AND employee_id = $2",
            )
            .bind(tenant.as_str())
            .bind(employee.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(hours_from_row)
            .transpose()
        })
    }

    /// Adds a special date for the tenant (`employee = None`) or one employee.
    pub async fn add_special_date(
        &self,
        tenant: &TenantId,
        employee: Option<&EmployeeId>,
        date: NaiveDate,
        hours: &Value,
    ) -> Result<SpecialDate> {
        self.check_owner(tenant, employee).await?;
        let special =
            SpecialDate { id: SpecialDateId::generate(), employee_id: employee.cloned(), date, hours: hours.clone() };
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO special_dates (tenant_id, id, employee_id, date, hours, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant.as_str())
            .bind(special.id.as_str())
            .bind(employee.map(EmployeeId::as_str))
            .bind(date_text(date))
            .bind(hours.to_string())
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(special)
    }

    /// Adds a holiday for the tenant (`employee = None`) or one employee.
    pub async fn add_holiday(
        &self,
        tenant: &TenantId,
        employee: Option<&EmployeeId>,
        date: NaiveDate,
        name: &str,
    ) -> Result<Holiday> {
        self.check_owner(tenant, employee).await?;
        let holiday =
            Holiday { id: HolidayId::generate(), employee_id: employee.cloned(), date, name: name.to_owned() };
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO holidays (tenant_id, id, employee_id, date, name, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant.as_str())
            .bind(holiday.id.as_str())
            .bind(employee.map(EmployeeId::as_str))
            .bind(date_text(date))
            .bind(name)
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(holiday)
    }

    /// Adds time off for an employee.
    pub async fn add_time_off(&self, tenant: &TenantId, employee: &EmployeeId, entry: NewTimeOff) -> Result<TimeOff> {
        if entry.end <= entry.start {
            return Err(StoreError::InvalidInput("time off must end after it starts".into()));
        }
        self.employee(tenant, employee).await?;
        let time_off = TimeOff { id: TimeOffId::generate(), employee_id: employee.clone(), entry };
        let e = &time_off.entry;
        let exdates = (!e.exdates.is_empty())
            .then(|| serde_json::to_string(&e.exdates))
            .transpose()
            .map_err(|err| StoreError::InvalidInput(err.to_string()))?;
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO time_off (tenant_id, id, employee_id, start_at, end_at, rrule, exdates, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(tenant.as_str())
            .bind(time_off.id.as_str())
            .bind(employee.as_str())
            .bind(tm(e.start))
            .bind(tm(e.end))
            .bind(e.rrule.as_deref())
            .bind(exdates)
            .bind(e.reason.as_deref())
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(time_off)
    }

    /// Fails with `NotFound` unless the tenant (and the employee, if given) exist.
    async fn check_owner(&self, tenant: &TenantId, employee: Option<&EmployeeId>) -> Result<()> {
        match employee {
            Some(employee) => self.employee(tenant, employee).await.map(drop),
            None => self.tenant(tenant).await.map(drop),
        }
    }
}

/// Weekly hours as the API accepts them.
#[derive(Debug, Clone, PartialEq)]
pub struct HoursInput {
    /// IANA zone.
    pub timezone: String,
    /// `{"mon": [["09:00","17:00"]], ...}`.
    pub weekly: Value,
    /// Same shape.
    pub breaks: Value,
}

/// `POST /api/availability/bulk`: the same changes for many employees, all or nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkEdit {
    /// Who gets the changes (each must exist for the tenant).
    pub employee_ids: Vec<EmployeeId>,
    /// Replaces each employee's schedule.
    pub schedule: Option<HoursInput>,
    /// Added to each employee: (date, name).
    pub holidays: Vec<(NaiveDate, String)>,
    /// Added to each employee: (date, hours).
    pub special_dates: Vec<(NaiveDate, Value)>,
    /// Added to each employee.
    pub time_off: Vec<NewTimeOff>,
}

impl Store {
    /// Applies a [`BulkEdit`] in one transaction; returns the number of employees updated.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, employees = edit.employee_ids.len()))]
    pub async fn apply_bulk_edit(&self, tenant: &TenantId, edit: &BulkEdit) -> Result<u64> {
        if edit.time_off.iter().any(|t| t.end <= t.start) {
            return Err(StoreError::InvalidInput("time off must end after it starts".into()));
        }
        let exdates = edit
            .time_off
            .iter()
            .map(|t| (!t.exdates.is_empty()).then(|| serde_json::to_string(&t.exdates)).transpose())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            for employee in &edit.employee_ids {
                let exists = sqlx::query("SELECT 1 FROM employees WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(employee.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound { entity: "employee" });
                }
                if let Some(hours) = &edit.schedule {
                    sqlx::query(
                        "INSERT INTO employee_schedules (tenant_id, employee_id, timezone, weekly, breaks, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (tenant_id, employee_id) DO UPDATE SET timezone = excluded.timezone,
                            weekly = excluded.weekly, breaks = excluded.breaks, updated_at = excluded.updated_at",
                    )
                    .bind(tenant.as_str())
                    .bind(employee.as_str())
                    .bind(&hours.timezone)
                    .bind(hours.weekly.to_string())
                    .bind(hours.breaks.to_string())
                    .bind(tm(now))
                    .execute(&mut *tx)
                    .await?;
                }
                for (date, name) in &edit.holidays {
                    sqlx::query(
                        "INSERT INTO holidays (tenant_id, id, employee_id, date, name, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(tenant.as_str())
                    .bind(HolidayId::generate().as_str())
                    .bind(employee.as_str())
                    .bind(date_text(*date))
                    .bind(name)
                    .bind(tm(now))
                    .execute(&mut *tx)
                    .await?;
                }
                for (date, hours) in &edit.special_dates {
                    sqlx::query(
                        "INSERT INTO special_dates (tenant_id, id, employee_id, date, hours, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(tenant.as_str())
                    .bind(SpecialDateId::generate().as_str())
                    .bind(employee.as_str())
                    .bind(date_text(*date))
                    .bind(hours.to_string())
                    .bind(tm(now))
                    .execute(&mut *tx)
                    .await?;
                }
                for (entry, exdates) in edit.time_off.iter().zip(&exdates) {
                    sqlx::query(
                        "INSERT INTO time_off (tenant_id, id, employee_id, start_at, end_at, rrule, exdates, reason, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(tenant.as_str())
                    .bind(TimeOffId::generate().as_str())
                    .bind(employee.as_str())
                    .bind(tm(entry.start))
                    .bind(tm(entry.end))
                    .bind(entry.rrule.as_deref())
                    .bind(exdates.as_deref())
                    .bind(entry.reason.as_deref())
                    .bind(tm(now))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(edit.employee_ids.len() as u64)
    }
}
