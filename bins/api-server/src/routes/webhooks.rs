//! Outgoing webhook endpoints: register, list, remove, send a test event, delivery log.
//!
//! Deliveries themselves are the notification worker's job (`notifications` crate);
//! these handlers only write endpoints and outbox rows.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use notifications::payload;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppState, JsonBody, TenantAuth};
use crate::time;

/// Delivery-log rows answered at most.
const DELIVERY_LOG_LIMIT: u32 = 200;
/// Entries of `events` in a subscription.
const MAX_EVENTS: usize = 100;

#[derive(Deserialize)]
pub(crate) struct NewWebhookBody {
    url: String,
    events: Vec<String>,
}

fn write_time(at: DateTime<Utc>, tenant: &store::Tenant) -> String {
    match tenant.timezone.parse::<chrono_tz::Tz>() {
        Ok(zone) => time::write(at, zone),
        Err(_) => time::write(at, chrono_tz::UTC),
    }
}

fn endpoint_json(e: &store::WebhookEndpoint, tenant: &store::Tenant) -> Value {
    json!({"id": e.id.to_string(), "url": e.url, "events": e.events, "created_at": write_time(e.created_at, tenant)})
}

async fn path_endpoint(state: &AppState, tenant: &store::Tenant, id: &str) -> ApiResult<store::WebhookEndpoint> {
    let parsed = store::WebhookId::parse(id).map_err(|_| ApiError::not_found("webhook"))?;
    let endpoint = state.store.webhook_endpoint(&tenant.id, &parsed).await?;
    if !endpoint.active {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(endpoint)
}

fn url_policy(state: &AppState) -> notifications::webhook::UrlPolicy {
    notifications::webhook::UrlPolicy { allow_private: state.config.allow_private_webhooks }
}

/// `POST /api/webhooks`: 201 with the secret, shown this once.
pub async fn create(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    body: JsonBody<NewWebhookBody>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    if b.url.len() > 2048 {
        return Err(ApiError::invalid("url", "URLs are limited to 2048 bytes"));
    }
    let url = url_policy(&state).check_url(b.url.trim()).map_err(|e| ApiError::invalid("url", e.to_string()))?;
    if b.events.is_empty() {
        return Err(ApiError::invalid("events", "subscribe to at least one event"));
    }
    // Every event type once is all a subscription can mean; repeats beyond a few are
    // not worth reading.
    if b.events.len() > MAX_EVENTS {
        return Err(ApiError::invalid("events", format!("events is limited to {MAX_EVENTS} entries")));
    }
    let mut events: Vec<String> = Vec::with_capacity(b.events.len());
    for (i, event) in b.events.iter().enumerate() {
        if !payload::EVENT_TYPES.contains(&event.as_str()) {
            return Err(ApiError::invalid(
                format!("events.{i}"),
                format!("unknown event {event:?}; expected one of {}", payload::EVENT_TYPES.join(", ")),
            ));
        }
        if !events.contains(event) {
            events.push(event.clone());
        }
    }
    let endpoint = state
        .store
        .create_webhook_endpoint(
            &tenant.id,
            &store::NewWebhookEndpoint {
                url: url.to_string(),
                events,
                secret: notifications::webhook::generate_secret(),
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": endpoint.id.to_string(),
        "url": endpoint.url,
        "events": endpoint.events,
        "secret": endpoint.secret.expose_secret(),
    })))
}

/// `GET /api/webhooks`: the active endpoints, oldest first, without secrets.
pub async fn list(TenantAuth(tenant): TenantAuth, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let endpoints = state.store.webhook_endpoints(&tenant.id).await?;
    let list: Vec<Value> = endpoints.iter().map(|e| endpoint_json(e, &tenant)).collect();
    Ok(HttpResponse::Ok().json(json!({"webhooks": list})))
}

/// `DELETE /api/webhooks/{id}`: 204; deliveries not yet made are dropped.
pub async fn delete(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = path_endpoint(&state, &tenant, &path).await?;
    state.store.deactivate_webhook_endpoint(&tenant.id, &endpoint.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/webhooks/{id}/test`: 202 with the delivery id (the `webhook-id` the
/// endpoint will see); the worker sends it like any other delivery.
pub async fn test(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = path_endpoint(&state, &tenant, &path).await?;
    let job = state
        .store
        .enqueue_notification(
            &tenant.id,
            None,
            &store::NewNotification {
                channel: payload::WEBHOOK.into(),
                recipient: endpoint.id.to_string(),
                template: payload::TEST_EVENT.into(),
                payload: json!({"webhook_id": endpoint.id.to_string(), "message": "a test event from slotwise"}),
            },
        )
        .await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .json(json!({"delivery_id": job.to_string(), "type": payload::TEST_EVENT, "status": "pending"})))
}

/// `GET /api/webhooks/{id}/deliveries`: every attempt, newest first, with the
/// delivery's current status.
pub async fn deliveries(
    TenantAuth(tenant): TenantAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = path_endpoint(&state, &tenant, &path).await?;
    let rows = state.store.webhook_deliveries(&tenant.id, &endpoint.id, DELIVERY_LOG_LIMIT).await?;
    let queue = state.store.queue(store::QueueKind::Notifications);
    let mut statuses: Vec<(store::JobId, &'static str)> = Vec::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let a = &row.attempt;
        let status = match statuses.iter().find(|(id, _)| *id == a.job_id) {
            Some((_, s)) => *s,
            None => {
                let s = match queue.job(&tenant.id, &a.job_id).await {
                    Ok(job) => job.status.as_str(),
                    Err(store::StoreError::NotFound { .. }) => "unknown",
                    Err(e) => return Err(e.into()),
                };
                statuses.push((a.job_id.clone(), s));
                s
            }
        };
        out.push(json!({
            "id": row.id.to_string(),
            "delivery_id": a.job_id.to_string(),
            "type": a.event_type,
            "attempt": a.attempt,
            "status_code": a.status_code,
            "error": a.error,
            "at": write_time(a.at, &tenant),
            "status": status,
        }));
    }
    Ok(HttpResponse::Ok().json(json!({"deliveries": out})))
}
