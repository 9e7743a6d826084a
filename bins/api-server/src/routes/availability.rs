//! `GET /api/availability` and `POST /api/availability/check`.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use availability_core as core;
use chrono::Duration;
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cache::{AnswerQuery, Computed};
use crate::engine;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppState, JsonBody, TenantAuth, parse_query};
use crate::routes::setup::{body_employee, body_service};
use crate::time;

/// The employees a question is about: the one named (who must offer the
/// service), or every employee offering it.
pub(crate) async fn candidates(
    state: &AppState,
    tenant: &store::Tenant,
    service: &store::Service,
    employee_id: Option<&str>,
    field: &str,
) -> ApiResult<Vec<store::Employee>> {
    match employee_id {
        Some(id) => {
            let e = body_employee(state, tenant, id, field).await?;
            if !e.service_ids.contains(&service.id) {
                return Err(ApiError::invalid(field, "this employee does not offer the service"));
            }
            Ok(vec![e])
        }
        None => {
            let mut all = state.store.list_employees(&tenant.id).await?;
            all.retain(|e| e.service_ids.contains(&service.id));
            Ok(all)
        }
    }
}

/// Loads and converts everything the engine needs for `employees` around `[from, to)`.
pub(crate) async fn inputs(
    state: &AppState,
    tenant: &store::Tenant,
    service: &store::Service,
    employees: &[store::Employee],
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    exclude: Option<&store::BookingId>,
) -> ApiResult<engine::Inputs> {
    inputs_at(state, tenant, service, employees, (from, to), state.now(), exclude).await
}

/// [`inputs`] with calendar freshness judged at `now`.
async fn inputs_at(
    state: &AppState,
    tenant: &store::Tenant,
    service: &store::Service,
    employees: &[store::Employee],
    (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    now: chrono::DateTime<chrono::Utc>,
    exclude: Option<&store::BookingId>,
) -> ApiResult<engine::Inputs> {
    let ids: Vec<store::EmployeeId> = employees.iter().map(|e| e.id.clone()).collect();
    let (load_from, load_to) = engine::load_span(from, to, service);
    let rows = state.store.load_availability_inputs(&tenant.id, &ids, load_from, load_to).await?;
    engine::convert(&rows, (from, to), now, exclude)
}

pub(crate) fn slot_json(s: &core::MergedSlot<'_>, zone: Tz) -> Value {
    json!({"start": time::write(s.start, zone), "end": time::write(s.end, zone), "employee_ids": s.employee_ids})
}

#[derive(Deserialize)]
pub(crate) struct AvailabilityQuery {
    service_id: String,
    from: String,
    to: String,
    employee_id: Option<String>,
    timezone: Option<String>,
}

fn json_answer(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::json()).body(body)
}

/// `GET /api/availability`. Answers are cached per tenant generation and minute
/// ([`crate::cache`]); the key (and so the generation) is taken before anything is loaded.
pub async fn availability(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let q: AvailabilityQuery = parse_query(&req)?;
    let zone_name = q.timezone.clone().unwrap_or_else(|| tenant.timezone.clone());
    let zone = time::zone(&zone_name, "timezone")?;
    let (from, to) = time::window(&q.from, &q.to, zone)?;
    let now = state.now();
    let query = AnswerQuery {
        service_id: q.service_id.clone(),
        employee_id: q.employee_id.clone(),
        timezone: zone_name.clone(),
        from,
        to,
    };
    let key = state.cache.answer_key(&tenant.id, now, query);
    let body = state
        .cache
        .answer_or(key, now, || async {
            let service = body_service(&state, &tenant, &q.service_id, "service_id").await?;
            let employees = candidates(&state, &tenant, &service, q.employee_id.as_deref(), "employee_id").await?;
            let inputs = inputs_at(&state, &tenant, &service, &employees, (from, to), now, None).await?;
            let rules = engine::rules(&service)?;
            let window = core::Interval::new(from, to, "to")?;
            let found =
                core::available_slots(&inputs.business, &rules, &inputs.employees, &core::Query { window, now });
            let slots: Vec<Value> = found.merged().iter().map(|s| slot_json(s, zone)).collect();
            let answer = json!({"timezone": zone_name, "slots": slots, "calendars": inputs.calendars});
            let body = serde_json::to_vec(&answer)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("availability answer: {e}")))?;
            // A connected calendar's busy time and freshness are written by the sync
            // engine, which does not tell this process: such answers are never cached.
            Ok::<_, ApiError>(Computed {
                body: web::Bytes::from(body),
                zone: inputs.zone,
                cacheable: inputs.calendars.is_empty(),
            })
        })
        .await?;
    Ok(json_answer(body))
}

#[derive(Deserialize)]
pub(crate) struct CheckBody {
    service_id: String,
    employee_id: String,
    start: String,
}

pub(crate) fn reasons_json(check: &core::Check, zone: Tz) -> Vec<Value> {
    check
        .reasons
        .iter()
        .map(|r| {
            let mut v =
                json!({"code": r.code.as_str(), "start": time::write(r.start, zone), "end": time::write(r.end, zone)});
            if let Some(id) = &r.reference {
                v["ref"] = json!(id);
            }
            v
        })
        .collect()
}

/// Checks one start for one employee; the booking to leave out of the busy time, if any.
pub(crate) async fn check_one(
    state: &AppState,
    tenant: &store::Tenant,
    service: &store::Service,
    employee: &store::Employee,
    start: chrono::DateTime<chrono::Utc>,
    exclude: Option<&store::BookingId>,
) -> ApiResult<(core::Check, Tz)> {
    let inputs =
        inputs(state, tenant, service, std::slice::from_ref(employee), start, start + Duration::minutes(1), exclude)
            .await?;
    let rules = engine::rules(service)?;
    let check = core::check_slot(&inputs.business, &rules, &inputs.employees[0], start, state.now());
    Ok((check, inputs.zone))
}

/// `POST /api/availability/check`.
pub async fn check(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<CheckBody>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    let start = time::instant(&b.start, "start")?;
    crate::routes::bookings::check_start_in_reach(start, state.now(), "start")?;
    let service = body_service(&state, &tenant, &b.service_id, "service_id").await?;
    let employee = candidates(&state, &tenant, &service, Some(&b.employee_id), "employee_id").await?.remove(0);
    let (check, zone) = check_one(&state, &tenant, &service, &employee, start, None).await?;
    Ok(HttpResponse::Ok().json(json!({"available": check.available, "reasons": reasons_json(&check, zone)})))
}
