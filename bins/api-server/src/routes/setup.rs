//! Tenants and set-up: business hours, services, employees, schedules, time off,
//! holidays, special dates and the bulk edit.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use availability_core as core;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppState, JsonBody, OperatorAuth, TenantAuth, parse_value};
use crate::idempotency::idempotent;
use crate::time;

type Map = BTreeMap<String, Vec<[String; 2]>>;

/// Bounds on request bodies, so one request's work and storage stay small whatever it
/// holds (the 1 MiB body limit alone still admits a hundred thousand list entries).
/// `docs/api.md` ("Limits") lists them.
pub(crate) mod limits {
    /// Names: tenants, services, employees, holidays, customers (bytes).
    pub(crate) const NAME: usize = 200;
    /// Free-text reasons: time off, cancellations (bytes).
    pub(crate) const REASON: usize = 1_000;
    /// Ids in one list (`service_ids`, `employee_ids`).
    pub(crate) const IDS: usize = 1_000;
    /// Entries of each list of a bulk edit (`holidays`, `special_dates`, `time_off`).
    pub(crate) const BULK_ENTRIES: usize = 1_000;
    /// Ranges of one day (weekly hours, breaks, a special date's hours).
    pub(crate) const RANGES_PER_DAY: usize = 48;
    /// `exdates` of one recurring time off.
    pub(crate) const EXDATES: usize = 1_000;
    /// An `rrule` (bytes).
    pub(crate) const RRULE: usize = 500;
    /// How long before "now" a recurring time off may start: occurrences are expanded
    /// from the start on every availability query, so a daily rule from year 1 would
    /// cost ~740,000 steps per query; two years cost at most ~730 (plus the horizon).
    pub(crate) const RECURRENCE_PAST_DAYS: i64 = 731;
    /// The largest `INTERVAL` and `COUNT` of an `rrule`.
    pub(crate) const RRULE_INTERVAL: u64 = 1_000;
    /// See [`RRULE_INTERVAL`].
    pub(crate) const RRULE_COUNT: u64 = 10_000;
}

/// A 400 naming `field` when `value` is longer than `max` bytes.
pub(crate) fn check_length(value: &str, max: usize, field: &str) -> ApiResult<()> {
    if value.len() > max {
        return Err(ApiError::invalid(field, format!("{field} is limited to {max} bytes")));
    }
    Ok(())
}

/// A 400 naming `field` when a list holds more than `max` entries.
pub(crate) fn check_entries(len: usize, max: usize, field: &str) -> ApiResult<()> {
    if len > max {
        return Err(ApiError::invalid(field, format!("{field} is limited to {max} entries")));
    }
    Ok(())
}

/// A non-empty name of at most [`limits::NAME`] bytes.
pub(crate) fn check_name(name: &str, field: &str) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid(field, format!("{field} must not be empty")));
    }
    check_length(name, limits::NAME, field)
}

#[derive(Deserialize)]
pub(crate) struct NewTenant {
    name: String,
    timezone: String,
}

/// `POST /api/tenants` (operator).
pub async fn create_tenant(
    _: OperatorAuth,
    state: web::Data<AppState>,
    body: JsonBody<NewTenant>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    check_name(&b.name, "name")?;
    time::zone(&b.timezone, "timezone")?;
    let (tenant, key) = state.store.create_tenant(b.name.trim(), &b.timezone).await?;
    use secrecy::ExposeSecret;
    Ok(HttpResponse::Created().json(json!({
        "id": tenant.id.to_string(),
        "name": tenant.name,
        "timezone": tenant.timezone,
        "api_key": key.expose_secret(),
    })))
}

#[derive(Deserialize)]
pub(crate) struct HoursBody {
    timezone: String,
    weekly: Value,
    #[serde(default = "empty_object")]
    breaks: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// Validates a `{timezone, weekly, breaks}` body under `prefix` (`""` or `schedule`).
fn validate_hours(body: &HoursBody, prefix: &str) -> ApiResult<()> {
    let at = |f: &str| if prefix.is_empty() { f.to_owned() } else { format!("{prefix}.{f}") };
    time::zone(&body.timezone, &at("timezone"))?;
    let weekly: Map = parse_value(&body.weekly, &at("weekly"))?;
    let breaks: Map = parse_value(&body.breaks, &at("breaks"))?;
    for (name, map) in [("weekly", &weekly), ("breaks", &breaks)] {
        check_entries(map.len(), 7, &at(name))?;
        for (day, ranges) in map {
            check_entries(ranges.len(), limits::RANGES_PER_DAY, &at(&format!("{name}.{day}")))?;
        }
    }
    core::WeeklyHours::parse(&weekly, &breaks).map_err(|e| {
        let e = if prefix.is_empty() { e } else { e.within(prefix) };
        ApiError::from(e)
    })?;
    Ok(())
}

fn hours_answer(body: &HoursBody) -> Value {
    json!({"timezone": body.timezone, "weekly": body.weekly, "breaks": body.breaks})
}

/// `PUT /api/business-hours`.
pub async fn put_business_hours(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<HoursBody>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    validate_hours(&b, "")?;
    state.store.set_business_hours(&tenant.id, &b.timezone, &b.weekly, &b.breaks).await?;
    Ok(HttpResponse::Ok().json(hours_answer(&b)))
}

/// `GET /api/business-hours`.
pub async fn get_business_hours(TenantAuth(tenant): TenantAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    match state.store.business_hours(&tenant.id).await? {
        Some(h) => Ok(HttpResponse::Ok().json(json!({"timezone": h.timezone, "weekly": h.weekly, "breaks": h.breaks}))),
        None => Err(ApiError::not_found("business hours")),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewService {
    name: String,
    duration_min: i64,
    buffer_before_min: Option<i64>,
    buffer_after_min: Option<i64>,
    slot_step_min: Option<i64>,
    min_notice_min: Option<i64>,
    horizon_days: Option<i64>,
}

fn service_json(s: &store::Service) -> Value {
    let v = &s.settings;
    json!({
        "id": s.id.to_string(),
        "name": v.name,
        "duration_min": v.duration_min,
        "buffer_before_min": v.buffer_before_min,
        "buffer_after_min": v.buffer_after_min,
        "slot_step_min": v.slot_step_min,
        "min_notice_min": v.min_notice_min,
        "horizon_days": v.horizon_days,
    })
}

/// `POST /api/services`.
pub async fn create_service(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<NewService>,
) -> ApiResult<HttpResponse> {
    idempotent(&req, &state, &tenant, &body.raw, async {
        let b = &body.value;
        check_name(&b.name, "name")?;
        let rules = core::ServiceRules::new(
            b.duration_min,
            b.buffer_before_min.unwrap_or(0),
            b.buffer_after_min.unwrap_or(0),
            b.slot_step_min.unwrap_or(b.duration_min),
            b.min_notice_min.unwrap_or(0),
            b.horizon_days.unwrap_or(60),
        )?;
        let service = state
            .store
            .create_service(
                &tenant.id,
                store::NewService {
                    name: b.name.trim().to_owned(),
                    duration_min: rules.duration_min(),
                    buffer_before_min: rules.buffer_before_min(),
                    buffer_after_min: rules.buffer_after_min(),
                    slot_step_min: rules.slot_step_min(),
                    min_notice_min: rules.min_notice_min(),
                    horizon_days: rules.horizon_days(),
                },
            )
            .await?;
        Ok((StatusCode::CREATED, service_json(&service)))
    })
    .await
}

/// `GET /api/services`.
pub async fn list_services(TenantAuth(tenant): TenantAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let list = state.store.list_services(&tenant.id).await?;
    Ok(HttpResponse::Ok().json(json!({"services": list.iter().map(service_json).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
pub(crate) struct NewEmployee {
    name: String,
    email: String,
    timezone: String,
    #[serde(default)]
    service_ids: Vec<String>,
}

pub(crate) fn employee_json(e: &store::Employee) -> Value {
    json!({
        "id": e.id.to_string(),
        "name": e.name,
        "email": e.email,
        "timezone": e.timezone,
        "service_ids": e.service_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// A service id from a body or query: unknown to this tenant is a 400 naming `field`.
pub(crate) async fn body_service(
    state: &AppState,
    tenant: &store::Tenant,
    id: &str,
    field: &str,
) -> ApiResult<store::Service> {
    let parsed = store::ServiceId::parse(id).map_err(|_| ApiError::invalid(field, "no such service"))?;
    match state.store.service(&tenant.id, &parsed).await {
        Ok(s) => Ok(s),
        Err(store::StoreError::NotFound { .. }) => Err(ApiError::invalid(field, "no such service")),
        Err(e) => Err(e.into()),
    }
}

/// An employee id from a body or query: unknown to this tenant is a 400 naming `field`.
pub(crate) async fn body_employee(
    state: &AppState,
    tenant: &store::Tenant,
    id: &str,
    field: &str,
) -> ApiResult<store::Employee> {
    let parsed = store::EmployeeId::parse(id).map_err(|_| ApiError::invalid(field, "no such employee"))?;
    match state.store.employee(&tenant.id, &parsed).await {
        Ok(e) => Ok(e),
        Err(store::StoreError::NotFound { .. }) => Err(ApiError::invalid(field, "no such employee")),
        Err(e) => Err(e.into()),
    }
}

/// An employee id from the path: unknown to this tenant is a 404.
pub(crate) async fn path_employee(state: &AppState, tenant: &store::Tenant, id: &str) -> ApiResult<store::Employee> {
    let parsed = store::EmployeeId::parse(id).map_err(|_| ApiError::not_found("employee"))?;
    Ok(state.store.employee(&tenant.id, &parsed).await?)
}

fn check_email(email: &str, field: &str) -> ApiResult<()> {
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.ends_with('.'))
        && !email.chars().any(char::is_whitespace);
    if ok { Ok(()) } else { Err(ApiError::invalid(field, "not an email address")) }
}

pub(crate) fn check_email_field(email: &str, field: &str) -> ApiResult<()> {
    check_email(email, field)
}

/// `POST /api/employees`.
pub async fn create_employee(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<NewEmployee>,
) -> ApiResult<HttpResponse> {
    idempotent(&req, &state, &tenant, &body.raw, async {
        let b = &body.value;
        check_name(&b.name, "name")?;
        check_email(&b.email, "email")?;
        time::zone(&b.timezone, "timezone")?;
        check_entries(b.service_ids.len(), limits::IDS, "service_ids")?;
        let mut service_ids = Vec::with_capacity(b.service_ids.len());
        for (i, id) in b.service_ids.iter().enumerate() {
            service_ids.push(body_service(&state, &tenant, id, &format!("service_ids.{i}")).await?.id);
        }
        let employee = state
            .store
            .create_employee(
                &tenant.id,
                store::NewEmployee {
                    name: b.name.trim().to_owned(),
                    email: b.email.clone(),
                    timezone: b.timezone.clone(),
                    service_ids,
                },
            )
            .await?;
        Ok((StatusCode::CREATED, employee_json(&employee)))
    })
    .await
}

/// `GET /api/employees`.
pub async fn list_employees(TenantAuth(tenant): TenantAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let list = state.store.list_employees(&tenant.id).await?;
    Ok(HttpResponse::Ok().json(json!({"employees": list.iter().map(employee_json).collect::<Vec<_>>()})))
}

/// `GET /api/employees/{id}`.
pub async fn get_employee(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let e = path_employee(&state, &tenant, &path).await?;
    Ok(HttpResponse::Ok().json(employee_json(&e)))
}

/// `PUT /api/employees/{id}/schedule`.
pub async fn put_schedule(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<HoursBody>,
) -> ApiResult<HttpResponse> {
    let employee = path_employee(&state, &tenant, &path).await?;
    let b = body.value;
    validate_hours(&b, "")?;
    if b.timezone != employee.timezone {
        return Err(ApiError::invalid(
            "timezone",
            format!("the schedule's zone must be the employee's ({})", employee.timezone),
        ));
    }
    state.store.set_employee_schedule(&tenant.id, &employee.id, &b.timezone, &b.weekly, &b.breaks).await?;
    Ok(HttpResponse::Ok().json(hours_answer(&b)))
}

#[derive(Deserialize)]
pub(crate) struct TimeOffBody {
    start: String,
    end: String,
    rrule: Option<String>,
    #[serde(default)]
    exdates: Vec<String>,
    reason: Option<String>,
}

/// Validates time off for an employee in `zone`, naming fields under `prefix`.
fn validate_time_off(b: &TimeOffBody, zone: &str, prefix: &str, now: DateTime<Utc>) -> ApiResult<store::NewTimeOff> {
    let at = |f: &str| if prefix.is_empty() { f.to_owned() } else { format!("{prefix}.{f}") };
    let start = time::instant(&b.start, &at("start"))?;
    let end = time::instant(&b.end, &at("end"))?;
    let interval = core::Interval::new(start, end, &at("end"))?;
    if let Some(reason) = &b.reason {
        check_length(reason, limits::REASON, &at("reason"))?;
    }
    check_entries(b.exdates.len(), limits::EXDATES, &at("exdates"))?;
    if let Some(rule) = &b.rrule {
        check_rrule_bounds(rule, &at("rrule"))?;
        if start < now - chrono::Duration::days(limits::RECURRENCE_PAST_DAYS) {
            return Err(ApiError::invalid(
                at("start"),
                format!(
                    "a recurring time off may start at most {} days in the past (start the rule later; \
                     past occurrences no longer matter)",
                    limits::RECURRENCE_PAST_DAYS
                ),
            ));
        }
    }
    let exdates = b
        .exdates
        .iter()
        .enumerate()
        .map(|(i, d)| time::instant(d, &at(&format!("exdates.{i}"))))
        .collect::<ApiResult<Vec<DateTime<Utc>>>>()?;
    if let Some(rule) = &b.rrule {
        let zone = core::Zone::parse(zone, "timezone")?;
        core::TimeOff::recurring("new", interval, rule, &exdates, zone).map_err(|e| {
            let e = if prefix.is_empty() { e } else { e.within(prefix) };
            ApiError::from(e)
        })?;
    }
    Ok(store::NewTimeOff { start, end, rrule: b.rrule.clone(), exdates, reason: b.reason.clone() })
}

/// The bounds of an `rrule` that cost CPU before the rule is expanded: its length, and
/// `INTERVAL` and `COUNT` within sane ranges. (Sub-daily frequencies are refused by
/// the engine's parser.)
fn check_rrule_bounds(rule: &str, field: &str) -> ApiResult<()> {
    check_length(rule, limits::RRULE, field)?;
    let text = rule.trim();
    let text = text.strip_prefix("RRULE:").unwrap_or(text);
    for part in text.split(';') {
        let Some((name, value)) = part.split_once('=') else { continue };
        let max = match name.trim().to_ascii_uppercase().as_str() {
            "INTERVAL" => limits::RRULE_INTERVAL,
            "COUNT" => limits::RRULE_COUNT,
            _ => continue,
        };
        if !value.trim().parse::<u64>().is_ok_and(|n| (1..=max).contains(&n)) {
            return Err(ApiError::invalid(
                field,
                format!("{} must be a whole number from 1 to {max}", name.trim().to_ascii_uppercase()),
            ));
        }
    }
    Ok(())
}

/// `POST /api/employees/{id}/time-off`.
pub async fn create_time_off(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<TimeOffBody>,
) -> ApiResult<HttpResponse> {
    let employee = path_employee(&state, &tenant, &path).await?;
    idempotent(&req, &state, &tenant, &body.raw, async {
        let entry = validate_time_off(&body.value, &employee.timezone, "", state.now())?;
        let t = state.store.add_time_off(&tenant.id, &employee.id, entry).await?;
        Ok((
            StatusCode::CREATED,
            json!({
                "id": t.id.to_string(),
                "employee_id": t.employee_id.to_string(),
                "start": body.value.start,
                "end": body.value.end,
                "rrule": t.entry.rrule,
                "reason": t.entry.reason,
            }),
        ))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct HolidayBody {
    date: NaiveDate,
    name: String,
    employee_id: Option<String>,
}

/// `POST /api/holidays`.
pub async fn create_holiday(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<HolidayBody>,
) -> ApiResult<HttpResponse> {
    idempotent(&req, &state, &tenant, &body.raw, async {
        let b = &body.value;
        check_length(&b.name, limits::NAME, "name")?;
        let employee = match &b.employee_id {
            Some(id) => Some(body_employee(&state, &tenant, id, "employee_id").await?.id),
            None => None,
        };
        let h = state.store.add_holiday(&tenant.id, employee.as_ref(), b.date, b.name.trim()).await?;
        Ok((
            StatusCode::CREATED,
            json!({
                "id": h.id.to_string(),
                "date": h.date,
                "name": h.name,
                "employee_id": h.employee_id.map(|e| e.to_string()),
            }),
        ))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct SpecialDateBody {
    date: NaiveDate,
    hours: Vec<[String; 2]>,
    employee_id: Option<String>,
}

fn validate_ranges(hours: &[[String; 2]], prefix: &str) -> ApiResult<()> {
    check_entries(hours.len(), limits::RANGES_PER_DAY, prefix)?;
    for (i, [s, e]) in hours.iter().enumerate() {
        core::WallRange::parse(s, e, &format!("{prefix}.{i}"))?;
    }
    Ok(())
}

/// `POST /api/special-dates`.
pub async fn create_special_date(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<SpecialDateBody>,
) -> ApiResult<HttpResponse> {
    idempotent(&req, &state, &tenant, &body.raw, async {
        let b = &body.value;
        validate_ranges(&b.hours, "hours")?;
        let employee = match &b.employee_id {
            Some(id) => Some(body_employee(&state, &tenant, id, "employee_id").await?.id),
            None => None,
        };
        let hours = serde_json::to_value(&b.hours).map_err(ApiError::internal)?;
        let s = state.store.add_special_date(&tenant.id, employee.as_ref(), b.date, &hours).await?;
        Ok((
            StatusCode::CREATED,
            json!({
                "id": s.id.to_string(),
                "date": s.date,
                "hours": s.hours,
                "employee_id": s.employee_id.map(|e| e.to_string()),
            }),
        ))
    })
    .await
}

#[derive(Deserialize)]
pub(crate) struct BulkHoliday {
    date: NaiveDate,
    name: String,
}

#[derive(Deserialize)]
pub(crate) struct BulkSpecial {
    date: NaiveDate,
    hours: Vec<[String; 2]>,
}

#[derive(Deserialize)]
pub(crate) struct BulkBody {
    employee_ids: Vec<String>,
    schedule: Option<HoursBody>,
    #[serde(default)]
    holidays: Vec<BulkHoliday>,
    #[serde(default)]
    special_dates: Vec<BulkSpecial>,
    #[serde(default)]
    time_off: Vec<TimeOffBody>,
}

/// `POST /api/availability/bulk`: all or nothing.
pub async fn bulk(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<BulkBody>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    if b.employee_ids.is_empty() {
        return Err(ApiError::invalid("employee_ids", "name at least one employee"));
    }
    check_entries(b.employee_ids.len(), limits::IDS, "employee_ids")?;
    check_entries(b.holidays.len(), limits::BULK_ENTRIES, "holidays")?;
    check_entries(b.special_dates.len(), limits::BULK_ENTRIES, "special_dates")?;
    check_entries(b.time_off.len(), limits::BULK_ENTRIES, "time_off")?;
    for (i, h) in b.holidays.iter().enumerate() {
        check_length(&h.name, limits::NAME, &format!("holidays.{i}.name"))?;
    }
    let mut employees = Vec::with_capacity(b.employee_ids.len());
    for (i, id) in b.employee_ids.iter().enumerate() {
        employees.push(body_employee(&state, &tenant, id, &format!("employee_ids.{i}")).await?);
    }
    if let Some(schedule) = &b.schedule {
        validate_hours(schedule, "schedule")?;
        if let Some(e) = employees.iter().find(|e| e.timezone != schedule.timezone) {
            return Err(ApiError::invalid(
                "schedule.timezone",
                format!("the schedule's zone must be each employee's ({} is in {})", e.id, e.timezone),
            ));
        }
    }
    for (i, s) in b.special_dates.iter().enumerate() {
        validate_ranges(&s.hours, &format!("special_dates.{i}.hours"))?;
    }
    // A rule is checked once per distinct zone among the employees, not once per
    // employee: the check depends only on the zone, and a thousand employees times a
    // thousand rules would otherwise be a million rule expansions.
    let zones: std::collections::BTreeSet<&str> = employees.iter().map(|e| e.timezone.as_str()).collect();
    let now = state.now();
    let mut time_off = Vec::with_capacity(b.time_off.len());
    for (i, t) in b.time_off.iter().enumerate() {
        for zone in &zones {
            time_off.push(validate_time_off(t, zone, &format!("time_off.{i}"), now)?);
        }
        time_off.truncate(i + 1);
    }
    let edit = store::BulkEdit {
        employee_ids: employees.iter().map(|e| e.id.clone()).collect(),
        schedule: b.schedule.as_ref().map(|s| store::HoursInput {
            timezone: s.timezone.clone(),
            weekly: s.weekly.clone(),
            breaks: s.breaks.clone(),
        }),
        holidays: b.holidays.iter().map(|h| (h.date, h.name.clone())).collect(),
        special_dates: b
            .special_dates
            .iter()
            .map(|s| Ok((s.date, serde_json::to_value(&s.hours).map_err(ApiError::internal)?)))
            .collect::<ApiResult<Vec<_>>>()?,
        time_off,
    };
    let updated = state.store.apply_bulk_edit(&tenant.id, &edit).await?;
    Ok(HttpResponse::Ok().json(json!({"updated": updated})))
}
