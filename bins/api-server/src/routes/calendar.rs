//! Calendar connections (`/api/google-calendar/*`, `/api/outlook-calendar/*`), the
//! providers' push webhooks (`/api/calendar/webhooks/*`) and sync health
//! (`/api/calendar/sync-status`). The OAuth flow and what a notification makes the
//! engine do live in `sync-engine`; verifying a notification lives in the provider
//! crates. These handlers parse, authorise and answer.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, TimeDelta, TimeZone as _, Utc};
use providers_outlook::{LifecycleAction, NotificationKind};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{ConnectionStatus, JobStatus, Provider, QueueKind};
use sync_engine::{CallbackParams, ConnectError};

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppState, JsonBody, OptionalJsonBody, TenantAuth, declared_length, parse_query, read_limited};

/// Bookings further ahead than this are not scanned for conflicts.
const LOOK_AHEAD: chrono::TimeDelta = chrono::TimeDelta::days(120);
/// Most event ids one retry may name.
const MAX_RETRY_IDS: usize = 1000;
/// How many recent calendar writes the sync status lists.
const RECENT_EVENTS: u32 = 50;
/// The window of the success rate and mean latency.
const STATS_WINDOW: TimeDelta = TimeDelta::hours(1);
/// How many jobs are read to compute the hourly figures.
const STATS_SAMPLE: u32 = 1000;

impl From<ConnectError> for ApiError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::NotConfigured(_) => ApiError::provider_not_configured(e.to_string()),
            ConnectError::UnknownState | ConnectError::ExpiredState => ApiError::invalid("state", e.to_string()),
            ConnectError::Denied { .. } => ApiError::invalid("error", e.to_string()),
            ConnectError::MissingCode | ConnectError::Refused(_) => ApiError::invalid("code", e.to_string()),
            ConnectError::Unavailable(_) => ApiError::provider_unavailable(e.to_string()),
            ConnectError::Store(store) => store.into(),
            other => ApiError::internal(anyhow::anyhow!("{other}")),
        }
    }
}

fn time(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
}

pub(crate) fn connection_json(c: &store::CalendarConnection) -> Value {
    json!({
        "id": c.id.as_str(),
        "employee_id": c.employee_id.as_str(),
        "provider": c.provider.as_str(),
        "calendar_id": c.calendar_id,
        "status": c.status.as_str(),
        "last_sync_at": time(c.last_sync_at),
        "channel_expires_at": time(c.channel_expires_at),
        "last_error": c.last_error,
        "connected_at": time(Some(c.created_at)),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmployeeQuery {
    employee_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    employee_id: Option<String>,
}

async fn employee_id(state: &AppState, tenant: &store::Tenant, id: &str, field: &str) -> ApiResult<store::EmployeeId> {
    let id = store::EmployeeId::parse(id).map_err(|_| ApiError::invalid(field, "not an employee id"))?;
    match state.store.employee(&tenant.id, &id).await {
        Ok(_) => Ok(id),
        Err(store::StoreError::NotFound { .. }) => Err(ApiError::not_found("employee")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/{provider}-calendar/oauth?employee_id=E`: 302 to the provider's consent
/// page (the JSON body carries the same URL for clients that do not follow redirects).
async fn oauth(
    provider: Provider,
    req: HttpRequest,
    tenant: store::Tenant,
    state: &AppState,
) -> ApiResult<HttpResponse> {
    let query: EmployeeQuery = parse_query(&req)?;
    let employee = employee_id(state, &tenant, &query.employee_id, "employee_id").await?;
    let url = state.sync.start_connect(&tenant.id, &employee, provider, state.now()).await?;
    Ok(HttpResponse::Found()
        .insert_header(("Location", url.clone()))
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"authorize_url": url})))
}

/// `GET /api/{provider}-calendar/callback?code&state`: the browser comes back from the
/// provider. No API key: the single-use `state` is the authorisation.
async fn callback(provider: Provider, req: HttpRequest, state: &AppState) -> ApiResult<HttpResponse> {
    let query = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::malformed(format!("malformed query string: {e}")))?
        .into_inner();
    let params = CallbackParams {
        code: query.get("code").cloned(),
        state: query.get("state").cloned(),
        error: query.get("error").cloned(),
    };
    let result = state.sync.complete_connect(provider, &params, state.now()).await.map_err(ApiError::from);
    if accepts_html(&req) {
        // A person's browser at the end of the consent flow gets a page, not JSON.
        return Ok(crate::dashboard::callback_page(provider, result.as_ref()));
    }
    let connection = result?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(json!({
        "connected": true,
        "connection": connection_json(&connection),
    })))
}

/// Whether the client asked for HTML (a browser navigating), not JSON.
fn accepts_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|part| part.trim().starts_with("text/html")))
}

/// `GET /api/{provider}-calendar/status[?employee_id=E]`.
async fn status(
    provider: Provider,
    req: HttpRequest,
    tenant: store::Tenant,
    state: &AppState,
) -> ApiResult<HttpResponse> {
    let query: StatusQuery = parse_query(&req)?;
    let employee = match &query.employee_id {
        Some(id) => Some(employee_id(state, &tenant, id, "employee_id").await?),
        None => None,
    };
    let connections = state.store.list_connections(&tenant.id, employee.as_ref()).await?;
    let list: Vec<Value> = connections.iter().filter(|c| c.provider == provider).map(connection_json).collect();
    Ok(HttpResponse::Ok().json(json!({"connections": list})))
}

/// The body of `POST …/disconnect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectBody {
    employee_id: String,
}

/// `POST /api/{provider}-calendar/disconnect` `{employee_id}`.
async fn disconnect(
    provider: Provider,
    tenant: store::Tenant,
    body: DisconnectBody,
    state: &AppState,
) -> ApiResult<HttpResponse> {
    let employee = employee_id(state, &tenant, &body.employee_id, "employee_id").await?;
    let connection = state.sync.disconnect(&tenant.id, &employee, provider, state.now()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "disconnected": true,
        "employee_id": employee.as_str(),
        "provider": provider.as_str(),
        "connection_id": connection.id.as_str(),
    })))
}

macro_rules! provider_routes {
    ($module:ident, $provider:expr) => {
        /// The routes of one provider.
        pub mod $module {
            use super::*;

            /// `GET …/oauth`.
            pub async fn oauth(
                req: HttpRequest,
                TenantAuth(tenant): TenantAuth,
                state: web::Data<AppState>,
            ) -> ApiResult<HttpResponse> {
                super::oauth($provider, req, tenant, &state).await
            }

            /// `GET …/callback`.
            pub async fn callback(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
                super::callback($provider, req, &state).await
            }

            /// `GET …/status`.
            pub async fn status(
                req: HttpRequest,
                TenantAuth(tenant): TenantAuth,
                state: web::Data<AppState>,
            ) -> ApiResult<HttpResponse> {
                super::status($provider, req, tenant, &state).await
            }

            /// `POST …/disconnect`.
            pub async fn disconnect(
                TenantAuth(tenant): TenantAuth,
                state: web::Data<AppState>,
                body: JsonBody<DisconnectBody>,
            ) -> ApiResult<HttpResponse> {
                super::disconnect($provider, tenant, body.value, &state).await
            }
        }
    };
}

provider_routes!(google, Provider::Google);
provider_routes!(outlook, Provider::Outlook);

/// The most a Graph notification POST may carry: Graph batches at most a few hundred
/// small entries; anything larger is not from Graph.
const WEBHOOK_BODY_LIMIT: usize = 256 * 1024;

/// The flood limit by source address (all traffic through one proxy shares it).
fn source_allowed(req: &HttpRequest, state: &AppState) -> ApiResult<()> {
    let source = req.peer_addr().map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
    state.webhook_allowed(format!("source:{source}"))
}

/// `POST /api/calendar/webhooks/google`: a push notification (headers only). Verified by
/// channel id, channel token and resource id; `exists` / `not_exists` ask for a sync.
/// The channel's first message (`sync`) is acknowledged without a lookup: it may arrive
/// before the channel is stored and says nothing changed.
pub async fn google_webhook(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    source_allowed(&req, &state)?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let notification = providers_google::PushNotification::from_headers(header)
        .map_err(|e| ApiError::malformed(format!("not a Google push notification: {e}")))?;
    if notification.state == providers_google::ResourceState::Sync {
        return Ok(HttpResponse::Ok().finish());
    }
    let Some((connection, channel)) = state.sync.channel(&notification.channel_id).await? else {
        return Err(ApiError::unauthorized("unknown push channel"));
    };
    if !notification.verify(&channel) {
        tracing::warn!(channel = %notification.channel_id, "Google notification failed verification");
        return Err(ApiError::unauthorized("the channel token or resource does not match"));
    }
    state.webhook_allowed(format!("connection:{}", connection.id))?;
    state.sync.request_sync(&connection).await?;
    Ok(HttpResponse::Ok().finish())
}

/// `POST /api/calendar/webhooks/outlook`: Graph's validation handshake (echo
/// `validationToken` as text/plain), change notifications (verified by subscription id
/// and `clientState`, then a sync is asked for) and lifecycle notifications. Answers
/// 202 when at least one notification was verified, 401 when none was.
pub async fn outlook_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    source_allowed(&req, &state)?;
    if let Some(token) = providers_outlook::validation_token(req.query_string()) {
        return Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(token));
    }
    let body = match read_limited(declared_length(&req), payload, WEBHOOK_BODY_LIMIT).await {
        Ok(body) => body,
        Err(e) => {
            // The rest of the body is not read: the connection cannot be reused.
            let mut response = actix_web::ResponseError::error_response(&e);
            response.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
            return Ok(response);
        }
    };
    let notifications = providers_outlook::parse_notifications(&body)
        .map_err(|e| ApiError::malformed(format!("not a Graph notification: {e}")))?;
    let mut verified = 0;
    for notification in &notifications {
        let Some((connection, channel)) = state.sync.channel(&notification.subscription_id).await? else {
            continue;
        };
        if !notification.verify(&channel) {
            tracing::warn!(subscription = %notification.subscription_id, "Graph notification failed verification");
            continue;
        }
        verified += 1;
        if state.webhook_allowed(format!("connection:{}", connection.id)).is_err() {
            // Over this connection's budget: the sync it asks for is already due.
            continue;
        }
        match &notification.kind {
            NotificationKind::Change { .. } => state.sync.request_sync(&connection).await?,
            NotificationKind::Lifecycle(event) => match event.action() {
                LifecycleAction::Renew => state.sync.request_channel_renewal(&connection, state.now()).await?,
                LifecycleAction::Recreate => state.sync.request_channel_recreate(&connection).await?,
                LifecycleAction::Resync => state.sync.request_sync(&connection).await?,
                LifecycleAction::Ignore => {}
            },
        }
    }
    if verified == 0 && !notifications.is_empty() {
        return Err(ApiError::unauthorized("no notification matched a subscription and its clientState"));
    }
    Ok(HttpResponse::build(StatusCode::ACCEPTED).finish())
}

/// One overlap of an external event with a confirmed booking.
pub(crate) struct Conflict {
    pub(crate) booking: store::Booking,
    pub(crate) employee: String,
    pub(crate) provider: &'static str,
    pub(crate) event_start: DateTime<Utc>,
    pub(crate) event_end: DateTime<Utc>,
    pub(crate) all_day: bool,
}

/// The event's interval; all-day events cover their dates in the employee's zone.
fn event_span(event: &store::ExternalEvent, zone: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    if !event.all_day {
        return (event.start, event.end);
    }
    let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
        return (event.start, event.end);
    };
    let local = |t: DateTime<Utc>| {
        tz.from_local_datetime(&t.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map_or(t, |d| d.with_timezone(&Utc))
    };
    (local(event.start), local(event.end))
}

/// The confirmed bookings that a blocking external event overlaps now (events that
/// ended are left out, and bookings further than `LOOK_AHEAD` ahead).
pub(crate) async fn conflicts(state: &AppState, tenant: &store::Tenant) -> ApiResult<Vec<Conflict>> {
    let tenant = &tenant.id;
    let now = state.now();
    let employees = state.store.list_employees(tenant).await?;
    let mut found = Vec::new();
    for connection in state.store.list_connections(tenant, None).await? {
        let Some(employee) = employees.iter().find(|e| e.id == connection.employee_id) else { continue };
        for event in state.store.list_external_events(tenant, &connection.id).await? {
            if !event.blocks_time {
                continue;
            }
            let (start, end) = event_span(&event, &employee.timezone);
            if end <= now || start >= now + LOOK_AHEAD {
                continue;
            }
            let filter = store::BookingFilter {
                from: start,
                to: end,
                employee_id: Some(employee.id.clone()),
                status: Some(store::BookingStatus::Confirmed),
                after: None,
                limit: 100,
            };
            for booking in state.store.list_bookings(tenant, &filter).await? {
                if found.iter().any(|c: &Conflict| c.booking.id == booking.id) {
                    continue;
                }
                found.push(Conflict {
                    booking,
                    employee: employee.name.clone(),
                    provider: connection.provider.as_str(),
                    event_start: start,
                    event_end: end,
                    all_day: event.all_day,
                });
            }
        }
    }
    found.sort_by_key(|c| c.booking.start);
    Ok(found)
}

pub(crate) fn job_json(job: &store::Job) -> Option<Value> {
    let store::JobDetails::CalendarSync(event) = &job.details else { return None };
    Some(json!({
        "id": job.id.to_string(),
        "booking_id": event.booking_id.as_ref().map(|b| b.as_str()),
        "provider": event.provider.as_str(),
        "operation": match event.operation {
            store::SyncOperation::Create => "create",
            store::SyncOperation::Update => "update",
            store::SyncOperation::Delete => "delete",
        },
        "event_id": event.provider_event_id,
        "status": job.status.as_str(),
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": time(Some(job.created_at)),
        "updated_at": time(Some(job.updated_at)),
        "next_attempt_at": time(Some(job.next_attempt_at)),
    }))
}

/// `GET /api/calendar/sync-status`: health of the tenant's calendar sync. `pending`
/// counts booking writes not yet done (pending, in progress or failed and waiting for a
/// retry); `failed` those waiting for a retry; `dead` those given up. `healthy` means no
/// dead write, no connection in `error` or `revoked`, and nothing pending for more
/// than 15 minutes.
pub async fn sync_status(TenantAuth(tenant): TenantAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(sync_status_json(&state, &tenant).await?))
}

/// The body of `GET /api/calendar/sync-status` (the dashboard shows the same figures).
pub(crate) async fn sync_status_json(state: &AppState, tenant: &store::Tenant) -> ApiResult<Value> {
    let now = state.now();
    let queue = state.store.queue(QueueKind::CalendarSync);
    let counts = queue.status_counts(&tenant.id).await?;
    let count =
        |wanted: &[JobStatus]| -> u64 { counts.iter().filter(|(s, _)| wanted.contains(s)).map(|(_, n)| n).sum() };
    let pending = count(&[JobStatus::Pending, JobStatus::InProgress, JobStatus::Failed]);
    let failed = count(&[JobStatus::Failed]);
    let dead = count(&[JobStatus::Dead]);
    let jobs = queue.list(&tenant.id, None, STATS_SAMPLE).await?;
    let open = |j: &&store::Job| matches!(j.status, JobStatus::Pending | JobStatus::InProgress | JobStatus::Failed);
    let oldest_pending = jobs.iter().filter(open).map(|j| j.created_at).min();
    let recent: Vec<&store::Job> = jobs.iter().filter(|j| j.updated_at >= now - STATS_WINDOW).collect();
    let done: Vec<&&store::Job> = recent.iter().filter(|j| j.status == JobStatus::Succeeded).collect();
    let finished = done.len() + recent.iter().filter(|j| j.status == JobStatus::Dead).count();
    let attempted = finished + recent.iter().filter(|j| j.status == JobStatus::Failed).count();
    let success_rate = (attempted > 0).then(|| done.len() as f64 / attempted as f64);
    let mean_latency_ms = (!done.is_empty()).then(|| {
        let total: i64 = done.iter().map(|j| (j.updated_at - j.created_at).num_milliseconds()).sum();
        total as f64 / done.len() as f64
    });
    let connections = state.store.list_connections(&tenant.id, None).await?;
    let last_errors: Vec<Value> = jobs
        .iter()
        .filter(|j| j.last_error.is_some() && j.status != JobStatus::Succeeded)
        .take(10)
        .filter_map(job_json)
        .collect();
    let last_error = last_errors
        .first()
        .and_then(|j| j["last_error"].as_str().map(str::to_owned))
        .or_else(|| connections.iter().find_map(|c| c.last_error.clone()));
    let oldest_pending_age_s = oldest_pending.map(|t| (now - t).num_seconds().max(0));
    let healthy = dead == 0
        && connections.iter().all(|c| c.status == ConnectionStatus::Active)
        && oldest_pending_age_s.is_none_or(|age| age < 15 * 60);
    let events: Vec<Value> = jobs.iter().take(RECENT_EVENTS as usize).filter_map(job_json).collect();
    let conflicts: Vec<Value> = conflicts(state, tenant)
        .await?
        .iter()
        .map(|c| {
            json!({
                "booking_id": c.booking.id.as_str(),
                "employee_id": c.booking.employee_id.as_str(),
                "provider": c.provider,
                "booking": {"start": time(Some(c.booking.start)), "end": time(Some(c.booking.end))},
                "event": {"start": time(Some(c.event_start)), "end": time(Some(c.event_end)), "all_day": c.all_day},
            })
        })
        .collect();
    Ok(json!({
        "healthy": healthy,
        "connections": connections.iter().map(connection_json).collect::<Vec<_>>(),
        "pending": pending,
        "failed": failed,
        "dead": dead,
        "oldest_pending_age_s": oldest_pending_age_s,
        "success_rate_1h": success_rate,
        "mean_latency_ms_1h": mean_latency_ms,
        "last_error": last_error,
        "last_errors": last_errors,
        "conflicts": conflicts,
        "events": events,
    }))
}

/// The body of `POST /api/calendar/sync-status/retry`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBody {
    event_ids: Option<Vec<String>>,
}

/// `POST /api/calendar/sync-status/retry` `{event_ids?}`: failed and dead calendar
/// writes (all of the tenant's, or those named) are due again now → `{requeued: N}`.
pub async fn retry(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    OptionalJsonBody(body): OptionalJsonBody<RetryBody>,
) -> ApiResult<HttpResponse> {
    let ids = match &body.event_ids {
        None => None,
        Some(ids) if ids.len() > MAX_RETRY_IDS => {
            return Err(ApiError::invalid("event_ids", format!("at most {MAX_RETRY_IDS} event ids")));
        }
        Some(ids) => Some(
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    store::JobId::parse(id).map_err(|_| ApiError::invalid(format!("event_ids.{i}"), "not an event id"))
                })
                .collect::<ApiResult<Vec<_>>>()?,
        ),
    };
    let requeued = state.store.queue(QueueKind::CalendarSync).requeue_failed(&tenant.id, ids.as_deref()).await?;
    state.sync.wake();
    Ok(HttpResponse::Ok().json(json!({"requeued": requeued})))
}
