//! The booking lifecycle: create, get, list, cancel, reschedule, alternatives, history.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use availability_core as core;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use notifications::payload;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AppState, JsonBody, OptionalJsonBody, TenantAuth, parse_query};
use crate::idempotency::{self, idempotent};
use crate::routes::availability::{candidates, check_one, inputs, reasons_json, slot_json};
use crate::routes::setup::{body_employee, check_email_field, check_length, check_name, limits};
use crate::time;

/// How far either side of a booking alternatives are looked for.
const ALTERNATIVES_SPAN: Duration = Duration::days(14);
const DEFAULT_ALTERNATIVES: usize = 5;
const UNBOUNDED_FROM: &str = "1900-01-01T00:00:00Z";
const UNBOUNDED_TO: &str = "9000-01-01T00:00:00Z";
const MAX_ALTERNATIVES: usize = 50;
/// No service's horizon reaches further than this (`horizon_days` is at most 3,660),
/// with a day's slack for the business zone's "today".
const LATEST_START: Duration = Duration::days(3_662);

/// A 400 for a start no horizon can reach: checking such a slot would still expand
/// every recurring time off from its start up to there (decades of daily rules).
pub(crate) fn check_start_in_reach(start: DateTime<Utc>, now: DateTime<Utc>, field: &str) -> ApiResult<()> {
    if start > now + LATEST_START {
        return Err(ApiError::invalid(field, "start lies beyond every booking horizon (at most 3,660 days ahead)"));
    }
    Ok(())
}

pub(crate) async fn business_zone(state: &AppState, tenant: &store::Tenant) -> ApiResult<Tz> {
    let hours = state.store.business_hours(&tenant.id).await?;
    engine::business_zone(tenant, hours.as_ref())
}

fn slot_ref_json(s: &store::SlotRef, zone: Tz) -> Value {
    json!({"start": time::write(s.start, zone), "end": time::write(s.end, zone), "employee_id": s.employee_id.to_string()})
}

fn booking_json(b: &store::Booking, zone: Tz, sync: Vec<Value>) -> Value {
    json!({
        "id": b.id.to_string(),
        "status": b.status.as_str(),
        "service_id": b.service_id.to_string(),
        "employee_id": b.employee_id.to_string(),
        "start": time::write(b.start, zone),
        "end": time::write(b.end, zone),
        "customer": {"name": b.customer.name, "email": b.customer.email, "timezone": b.customer.timezone},
        "notes": b.notes,
        "cancel_reason": b.cancel_reason,
        "calendar_sync": sync,
        "created_at": time::write(b.created_at, zone),
        "updated_at": time::write(b.updated_at, zone),
    })
}

/// The latest calendar write of each connection for a booking.
async fn calendar_sync(state: &AppState, tenant: &store::Tenant, booking: &store::BookingId) -> ApiResult<Vec<Value>> {
    let jobs = state.store.queue(store::QueueKind::CalendarSync).list(&tenant.id, Some(booking), 100).await?;
    let mut latest: Vec<(Option<store::ConnectionId>, Value)> = Vec::new();
    for job in jobs {
        let store::JobDetails::CalendarSync(event) = &job.details else { continue };
        let entry = json!({
            "provider": event.provider.as_str(),
            "event_id": event.provider_event_id,
            "operation": match event.operation {
                store::SyncOperation::Create => "create",
                store::SyncOperation::Update => "update",
                store::SyncOperation::Delete => "delete",
            },
            "status": job.status.as_str(),
        });
        // Jobs come newest first: the first one per connection is its current state; an
        // older one may still know the event id the newer one has not recorded.
        match latest.iter_mut().find(|(c, _)| *c == event.connection_id) {
            Some((_, newest)) if newest["event_id"].is_null() => newest["event_id"] = entry["event_id"].clone(),
            Some(_) => {}
            None => latest.push((event.connection_id.clone(), entry)),
        }
    }
    Ok(latest.into_iter().map(|(_, v)| v).collect())
}

async fn path_booking(state: &AppState, tenant: &store::Tenant, id: &str) -> ApiResult<store::Booking> {
    let parsed = store::BookingId::parse(id).map_err(|_| ApiError::not_found("booking"))?;
    Ok(state.store.booking(&tenant.id, &parsed).await?)
}

/// What the notifications of one booking change need to know besides the booking
/// itself (which the store fills in as the change commits it).
struct NotifyAbout<'a> {
    event: &'a str,
    booking: &'a store::BookingId,
    service: &'a store::Service,
    employee: &'a store::Employee,
    customer: &'a store::Customer,
    business_zone: Tz,
}

/// The cancellation email to the employee a reschedule takes a booking away from:
/// the booking as they knew it, marked cancelled, with the `SEQUENCE` the change
/// gives it, so their calendar client removes the event.
fn handover_notice(
    tenant: &store::Tenant,
    service: &store::Service,
    booking: &store::Booking,
    previous: &store::Employee,
) -> ApiResult<store::NewNotification> {
    let mut snapshot = booking.snapshot();
    snapshot["status"] = json!("cancelled");
    snapshot["sequence"] = json!(booking.sequence + 1);
    let snapshot: payload::BookingSnapshot = serde_json::from_value(snapshot).map_err(ApiError::internal)?;
    Ok(store::NewNotification {
        channel: payload::EMAIL.into(),
        recipient: previous.email.clone(),
        template: "booking.cancelled".into(),
        payload: payload::EmailPayload {
            role: payload::Role::Employee,
            recipient_name: previous.name.clone(),
            timezone: previous.timezone.clone(),
            business_name: tenant.name.clone(),
            service_name: service.settings.name.clone(),
            employee_name: previous.name.clone(),
            employee_email: previous.email.clone(),
            booking: Some(snapshot),
        }
        .to_value(),
    })
}

/// One email to the customer and one to the employee, each in the recipient's zone,
/// and one webhook delivery per active endpoint subscribed to the event; all written
/// in the booking change's transaction.
async fn notifications(
    state: &AppState,
    tenant: &store::Tenant,
    about: NotifyAbout<'_>,
) -> ApiResult<Vec<store::NewNotification>> {
    let customer_zone = about.customer.timezone.clone().unwrap_or_else(|| about.business_zone.name().to_owned());
    let recipients = [
        (payload::Role::Customer, about.customer.name.as_str(), about.customer.email.as_str(), customer_zone),
        (
            payload::Role::Employee,
            about.employee.name.as_str(),
            about.employee.email.as_str(),
            about.employee.timezone.clone(),
        ),
    ];
    let mut out: Vec<store::NewNotification> = recipients
        .into_iter()
        .map(|(role, name, address, timezone)| store::NewNotification {
            channel: payload::EMAIL.into(),
            recipient: address.to_owned(),
            template: about.event.to_owned(),
            payload: payload::EmailPayload {
                role,
                recipient_name: name.to_owned(),
                timezone,
                business_name: tenant.name.clone(),
                service_name: about.service.settings.name.clone(),
                employee_name: about.employee.name.clone(),
                employee_email: about.employee.email.clone(),
                booking: None,
            }
            .to_value(),
        })
        .collect();
    for endpoint in state.store.webhook_endpoints_for(&tenant.id, about.event).await? {
        out.push(store::NewNotification {
            channel: payload::WEBHOOK.into(),
            recipient: endpoint.id.to_string(),
            template: about.event.to_owned(),
            payload: json!({ store::BOOKING_SNAPSHOT_KEY: null }),
        });
    }
    tracing::debug!(booking = %about.booking, count = out.len(), "notifications enqueued with the change");
    Ok(out)
}

#[derive(Deserialize)]
pub(crate) struct CustomerBody {
    name: String,
    email: String,
    timezone: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct NewBookingBody {
    service_id: String,
    start: String,
    employee_id: Option<String>,
    customer: CustomerBody,
    notes: Option<String>,
}

/// Among the free employees, the one with the fewest confirmed bookings starting
/// on that business-local date; ties to the smallest id (bytes).
async fn assign(
    state: &AppState,
    tenant: &store::Tenant,
    free: Vec<store::Employee>,
    start: DateTime<Utc>,
    zone: Tz,
) -> ApiResult<store::Employee> {
    if free.len() == 1 {
        return Ok(free.into_iter().next().expect("one"));
    }
    let date = start.with_timezone(&zone).date_naive();
    let (day_start, day_end) =
        (time::start_of_day(zone, date), time::start_of_day(zone, date.succ_opt().unwrap_or(date)));
    let mut best: Option<(usize, store::Employee)> = None;
    for e in free {
        let filter = store::BookingFilter {
            from: day_start,
            to: day_end,
            employee_id: Some(e.id.clone()),
            status: Some(store::BookingStatus::Confirmed),
            after: None,
            limit: 10_000,
        };
        let count =
            state.store.list_bookings(&tenant.id, &filter).await?.iter().filter(|b| b.start >= day_start).count();
        let better = match &best {
            None => true,
            Some((n, b)) => count < *n || (count == *n && e.id.as_str().as_bytes() < b.id.as_str().as_bytes()),
        };
        if better {
            best = Some((count, e));
        }
    }
    Ok(best.expect("at least one free employee").1)
}

/// `POST /api/bookings`.
pub async fn create(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<NewBookingBody>,
) -> ApiResult<HttpResponse> {
    let key = idempotency::key(&req)?;
    idempotent(&req, &state, &tenant, &body.raw, async {
        let b = &body.value;
        let start = time::instant(&b.start, "start")?;
        check_start_in_reach(start, state.now(), "start")?;
        if b.customer.name.trim().is_empty() {
            return Err(ApiError::invalid("customer.name", "the customer's name must not be empty"));
        }
        check_name(&b.customer.name, "customer.name")?;
        check_email_field(&b.customer.email, "customer.email")?;
        if let Some(z) = &b.customer.timezone {
            time::zone(z, "customer.timezone")?;
        }
        if b.notes.as_ref().is_some_and(|n| n.len() > 10_000) {
            return Err(ApiError::invalid("notes", "notes are limited to 10,000 bytes"));
        }
        let service = crate::routes::setup::body_service(&state, &tenant, &b.service_id, "service_id").await?;
        let staff = candidates(&state, &tenant, &service, b.employee_id.as_deref(), "employee_id").await?;
        let rules = engine::rules(&service)?;
        let inputs = inputs(&state, &tenant, &service, &staff, start, start + Duration::minutes(1), None).await?;
        let now = state.now();
        let mut free = Vec::new();
        let mut reasons = Vec::new();
        for (employee, engine_employee) in staff.iter().zip(&inputs.employees) {
            let check = core::check_slot(&inputs.business, &rules, engine_employee, start, now);
            if check.available {
                free.push(employee.clone());
            } else if b.employee_id.is_some() {
                reasons = reasons_json(&check, inputs.zone);
            }
        }
        if free.is_empty() {
            return Err(ApiError::slot_unavailable(
                "this start is not offered for the service",
                json!({"reasons": reasons}),
            ));
        }
        let employee = assign(&state, &tenant, free, start, inputs.zone).await?;
        let id = store::BookingId::generate();
        let end = start + Duration::minutes(i64::from(service.settings.duration_min));
        let zone = inputs.zone;
        // The answer is known before the write, so the idempotency record can be
        // completed in the booking's own transaction: a crash after the commit
        // still replays this answer.
        let answer = json!({
            "id": id.to_string(),
            "status": "confirmed",
            "service_id": service.id.to_string(),
            "employee_id": employee.id.to_string(),
            "start": time::write(start, zone),
            "end": time::write(end, zone),
            "customer": {"name": b.customer.name.trim(), "email": b.customer.email, "timezone": b.customer.timezone},
            "notes": b.notes,
            "cancel_reason": null,
            "calendar_sync": [],
        });
        let customer = store::Customer {
            name: b.customer.name.trim().to_owned(),
            email: b.customer.email.clone(),
            timezone: b.customer.timezone.clone(),
        };
        let new = store::NewBooking {
            id: id.clone(),
            service_id: service.id.clone(),
            employee_id: employee.id.clone(),
            start,
            customer: customer.clone(),
            notes: b.notes.clone(),
            actor: store::Actor::Api,
            notifications: notifications(
                &state,
                &tenant,
                NotifyAbout {
                    event: "booking.created",
                    booking: &id,
                    service: &service,
                    employee: &employee,
                    customer: &customer,
                    business_zone: zone,
                },
            )
            .await?,
            idempotency: key.clone().map(|key| store::IdempotencyCompletion {
                key,
                status: StatusCode::CREATED.as_u16(),
                body: answer.to_string(),
            }),
        };
        match state.store.create_booking(&tenant.id, &new).await {
            Ok(_) => {
                state.metrics.booking("created");
                Ok((StatusCode::CREATED, answer))
            }
            Err(store::StoreError::SlotTaken) => Err(ApiError::slot_unavailable(
                "the slot was taken a moment ago",
                json!({"reasons": [{"code": "booking"}]}),
            )),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// `GET /api/bookings/{id}`.
pub async fn get(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let booking = path_booking(&state, &tenant, &path).await?;
    let zone = business_zone(&state, &tenant).await?;
    let sync = calendar_sync(&state, &tenant, &booking.id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&booking, zone, sync)))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    from: Option<String>,
    to: Option<String>,
    employee_id: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    timezone: Option<String>,
}

fn encode_cursor(b: &store::Booking) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", b.start.timestamp(), b.id))
}

fn decode_cursor(text: &str) -> ApiResult<(DateTime<Utc>, store::BookingId)> {
    let bad = || ApiError::invalid("cursor", "not a cursor this API gave out");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ts, id) = text.split_once('|').ok_or_else(bad)?;
    let start = DateTime::from_timestamp(ts.parse().map_err(|_| bad())?, 0).ok_or_else(bad)?;
    Ok((start, store::BookingId::parse(id).map_err(|_| bad())?))
}

/// `GET /api/bookings`.
pub async fn list(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = parse_query(&req)?;
    let query_zone = time::zone(q.timezone.as_deref().unwrap_or(&tenant.timezone), "timezone")?;
    let (from, to) = match (&q.from, &q.to) {
        (Some(f), Some(t)) => time::window(f, t, query_zone)?,
        // No window: every booking (bounds every database can store).
        (None, None) => (UNBOUNDED_FROM.parse().expect("valid"), UNBOUNDED_TO.parse().expect("valid")),
        (None, Some(_)) => return Err(ApiError::invalid("from", "give both from and to, or neither")),
        (Some(_), None) => return Err(ApiError::invalid("to", "give both from and to, or neither")),
    };
    let limit = match &q.limit {
        None => 100,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "limit must be a whole number from 1 to 1000"))?,
    };
    let status = match q.status.as_deref() {
        None => None,
        Some("confirmed") => Some(store::BookingStatus::Confirmed),
        Some("cancelled") => Some(store::BookingStatus::Cancelled),
        Some(_) => return Err(ApiError::invalid("status", "status must be confirmed or cancelled")),
    };
    let employee_id = match &q.employee_id {
        Some(id) => Some(body_employee(&state, &tenant, id, "employee_id").await?.id),
        None => None,
    };
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = store::BookingFilter { from, to, employee_id, status, after, limit: limit + 1 };
    let mut found = state.store.list_bookings(&tenant.id, &filter).await?;
    let next_cursor = if found.len() > limit as usize {
        found.truncate(limit as usize);
        found.last().map(encode_cursor)
    } else {
        None
    };
    let zone = business_zone(&state, &tenant).await?;
    let mut bookings = Vec::with_capacity(found.len());
    for b in &found {
        bookings.push(booking_json(b, zone, calendar_sync(&state, &tenant, &b.id).await?));
    }
    Ok(HttpResponse::Ok().json(json!({"bookings": bookings, "next_cursor": next_cursor})))
}

#[derive(Deserialize, Default)]
pub(crate) struct CancelBody {
    reason: Option<String>,
}

/// `POST /api/bookings/{id}/cancel`: a repeat answers the same 200.
pub async fn cancel(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: OptionalJsonBody<CancelBody>,
) -> ApiResult<HttpResponse> {
    if let Some(reason) = &body.0.reason {
        check_length(reason, limits::REASON, "reason")?;
    }
    let booking = path_booking(&state, &tenant, &path).await?;
    let notify = if booking.status == store::BookingStatus::Confirmed {
        let employee = state.store.employee(&tenant.id, &booking.employee_id).await?;
        let service = state.store.service(&tenant.id, &booking.service_id).await?;
        let about = NotifyAbout {
            event: "booking.cancelled",
            booking: &booking.id,
            service: &service,
            employee: &employee,
            customer: &booking.customer,
            business_zone: business_zone(&state, &tenant).await?,
        };
        notifications(&state, &tenant, about).await?
    } else {
        Vec::new()
    };
    let (cancelled, changed) = state
        .store
        .cancel_booking(
            &tenant.id,
            &booking.id,
            &store::CancelBooking { reason: body.0.reason, actor: store::Actor::Api, notifications: notify },
        )
        .await?;
    if changed {
        state.metrics.booking("cancelled");
    }
    let zone = business_zone(&state, &tenant).await?;
    let sync = calendar_sync(&state, &tenant, &cancelled.id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&cancelled, zone, sync)))
}

/// Free slots of the service near `center` for `employees`, nearest first
/// (ties earlier first), leaving out `skip_start` and the booking itself.
#[allow(clippy::too_many_arguments)]
async fn alternatives(
    state: &AppState,
    tenant: &store::Tenant,
    service: &store::Service,
    employees: &[store::Employee],
    center: DateTime<Utc>,
    skip_start: DateTime<Utc>,
    exclude: &store::BookingId,
    count: usize,
) -> ApiResult<Vec<Value>> {
    let (from, to) = (center - ALTERNATIVES_SPAN, center + ALTERNATIVES_SPAN + Duration::seconds(1));
    let inputs = inputs(state, tenant, service, employees, from, to, Some(exclude)).await?;
    let rules = engine::rules(service)?;
    let window = core::Interval::new(from, to, "window")?;
    let found =
        core::available_slots(&inputs.business, &rules, &inputs.employees, &core::Query { window, now: state.now() });
    let mut slots: Vec<core::MergedSlot<'_>> = found.merged().into_iter().filter(|s| s.start != skip_start).collect();
    slots.sort_by_key(|s| ((s.start - center).num_seconds().abs(), s.start));
    Ok(slots.iter().take(count).map(|s| slot_json(s, inputs.zone)).collect())
}

#[derive(Deserialize)]
pub(crate) struct RescheduleBody {
    start: String,
    employee_id: Option<String>,
}

/// `POST /api/bookings/{id}/reschedule`.
pub async fn reschedule(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody<RescheduleBody>,
) -> ApiResult<HttpResponse> {
    let booking = path_booking(&state, &tenant, &path).await?;
    let b = body.value;
    let start = time::instant(&b.start, "start")?;
    let moved = move_booking(&state, &tenant, &booking, start, b.employee_id.as_deref(), "employee_id").await?;
    let zone = business_zone(&state, &tenant).await?;
    let sync = calendar_sync(&state, &tenant, &moved.id).await?;
    Ok(HttpResponse::Ok().json(booking_json(&moved, zone, sync)))
}

/// Moves `booking` to `start` (and to the employee `employee_id`, if given; `field`
/// names it in errors): re-checked by the engine first (409 `slot_unavailable` with the
/// reasons and alternatives), then by the store inside the write transaction, with
/// history, calendar and notification rows. Shared by the API and the dashboard.
pub(crate) async fn move_booking(
    state: &AppState,
    tenant: &store::Tenant,
    booking: &store::Booking,
    start: DateTime<Utc>,
    employee_id: Option<&str>,
    field: &str,
) -> ApiResult<store::Booking> {
    if booking.status == store::BookingStatus::Cancelled {
        return Err(ApiError::conflict("a cancelled booking cannot be rescheduled"));
    }
    check_start_in_reach(start, state.now(), "start")?;
    let service = state.store.service(&tenant.id, &booking.service_id).await?;
    let employee = match employee_id {
        Some(id) => candidates(state, tenant, &service, Some(id), field).await?.remove(0),
        None => state.store.employee(&tenant.id, &booking.employee_id).await?,
    };
    let (check, _) = check_one(state, tenant, &service, &employee, start, Some(&booking.id)).await?;
    if !check.available {
        let alternatives = alternatives(
            state,
            tenant,
            &service,
            std::slice::from_ref(&employee),
            start,
            booking.start,
            &booking.id,
            DEFAULT_ALTERNATIVES,
        )
        .await?;
        let zone = business_zone(state, tenant).await?;
        return Err(ApiError::slot_unavailable(
            "the new start is not offered",
            json!({"reasons": reasons_json(&check, zone), "alternatives": alternatives}),
        ));
    }
    let about = NotifyAbout {
        event: "booking.rescheduled",
        booking: &booking.id,
        service: &service,
        employee: &employee,
        customer: &booking.customer,
        business_zone: business_zone(state, tenant).await?,
    };
    let mut notify = notifications(state, tenant, about).await?;
    if employee.id != booking.employee_id {
        // The employee who loses the booking is told it is off their calendar.
        let previous = state.store.employee(&tenant.id, &booking.employee_id).await?;
        notify.push(handover_notice(tenant, &service, booking, &previous)?);
    }
    let moved = state
        .store
        .reschedule_booking(
            &tenant.id,
            &booking.id,
            &store::RescheduleBooking {
                start,
                employee_id: (employee.id != booking.employee_id).then(|| employee.id.clone()),
                actor: store::Actor::Api,
                notifications: notify,
                idempotency: None,
            },
        )
        .await;
    match moved {
        Ok(m) => {
            state.metrics.booking("rescheduled");
            Ok(m)
        }
        Err(store::StoreError::SlotTaken) => {
            Err(ApiError::slot_unavailable("the new start was taken a moment ago", json!({"alternatives": []})))
        }
        Err(e) => Err(e.into()),
    }
}

/// Up to `count` free starts nearest to `booking`'s start for its own employee (the
/// booking itself left out of the busy time), as the API writes them.
pub(crate) async fn alternatives_for(
    state: &AppState,
    tenant: &store::Tenant,
    booking: &store::Booking,
    count: usize,
) -> ApiResult<Vec<Value>> {
    let service = state.store.service(&tenant.id, &booking.service_id).await?;
    let employees = vec![state.store.employee(&tenant.id, &booking.employee_id).await?];
    alternatives(state, tenant, &service, &employees, booking.start, booking.start, &booking.id, count).await
}

#[derive(Deserialize)]
pub(crate) struct AlternativesQuery {
    count: Option<String>,
    any_employee: Option<String>,
}

/// `GET /api/bookings/{id}/reschedule/alternatives`.
pub async fn list_alternatives(
    req: HttpRequest,
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let booking = path_booking(&state, &tenant, &path).await?;
    let q: AlternativesQuery = parse_query(&req)?;
    let count = match &q.count {
        None => DEFAULT_ALTERNATIVES,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_ALTERNATIVES).contains(n))
            .ok_or_else(|| ApiError::invalid("count", "count must be a whole number from 1 to 50"))?,
    };
    let any = match q.any_employee.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("any_employee", "any_employee must be true or false")),
    };
    let service = state.store.service(&tenant.id, &booking.service_id).await?;
    let employees = if any {
        candidates(&state, &tenant, &service, None, "employee_id").await?
    } else {
        vec![state.store.employee(&tenant.id, &booking.employee_id).await?]
    };
    let list =
        alternatives(&state, &tenant, &service, &employees, booking.start, booking.start, &booking.id, count).await?;
    Ok(HttpResponse::Ok().json(json!({"alternatives": list})))
}

/// `GET /api/bookings/{id}/history`.
pub async fn history(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let booking = path_booking(&state, &tenant, &path).await?;
    let zone = business_zone(&state, &tenant).await?;
    let events: Vec<Value> = state
        .store
        .booking_history(&tenant.id, &booking.id)
        .await?
        .iter()
        .map(|h| {
            let mut v = json!({"at": time::write(h.at, zone), "action": h.action.as_str(), "actor": h.actor.as_str()});
            if let Some(from) = &h.from {
                v["from"] = slot_ref_json(from, zone);
            }
            if let Some(to) = &h.to {
                v["to"] = slot_ref_json(to, zone);
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"events": events})))
}
