//! Every request gets an id (`x-request-id`, taken from the client when it sends
//! a sane one), a tracing span carrying it, and a place in the metrics served at
//! `GET /metrics` in the Prometheus text format.

use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument as _;

use crate::extract::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BookingLabels {
    change: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    provider: &'static str,
    status: &'static str,
}

/// The api-server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    bookings: Family<BookingLabels, Counter>,
    outbox: Family<QueueLabels, Gauge>,
    connections: Family<ConnectionLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slotwise");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        let bookings = Family::<BookingLabels, Counter>::default();
        let outbox = Family::<QueueLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("bookings_changed", "Booking changes made through the API", bookings.clone());
        registry.register("outbox_jobs", "Outbox jobs by queue and status", outbox.clone());
        let connections = Family::<ConnectionLabels, Gauge>::default();
        registry.register("calendar_connections", "Calendar connections by provider and status", connections.clone());
        Metrics { registry: Mutex::new(registry), requests, latency, bookings, outbox, connections }
    }
}

impl Metrics {
    /// Counts one booking change (`created`, `rescheduled`, `cancelled`).
    pub fn booking(&self, change: &'static str) {
        self.bookings.get_or_create(&BookingLabels { change }).inc();
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.requests.get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status }).inc();
        self.latency.get_or_create(&RouteLabels { method, route }).observe(seconds);
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The middleware: request id, span, metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().as_str().to_owned();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let mut res = next.call(req).instrument(span).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    if let Some(m) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        m.observe(&method, &route, res.status().as_u16(), started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// `GET /metrics`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    for (queue, kind) in
        [("calendar_sync", store::QueueKind::CalendarSync), ("notifications", store::QueueKind::Notifications)]
    {
        match state.store.queue(kind).depth().await {
            Ok(counts) => {
                // A status with no job left reads 0, not its last count.
                for status in store::JobStatus::ALL {
                    state.metrics.outbox.get_or_create(&QueueLabels { queue, status: status.as_str() }).set(0);
                }
                for (status, n) in counts {
                    state
                        .metrics
                        .outbox
                        .get_or_create(&QueueLabels { queue, status: status.as_str() })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the outbox depth"),
        }
    }
    match state.store.connection_counts().await {
        Ok(counts) => {
            for provider in [store::Provider::Google, store::Provider::Outlook] {
                for status in
                    [store::ConnectionStatus::Active, store::ConnectionStatus::Error, store::ConnectionStatus::Revoked]
                {
                    let n = counts.iter().find(|(p, s, _)| *p == provider && *s == status).map_or(0, |(_, _, n)| *n);
                    state
                        .metrics
                        .connections
                        .get_or_create(&ConnectionLabels { provider: provider.as_str(), status: status.as_str() })
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count the calendar connections"),
    }
    let mut text = String::new();
    let encoded = match state.metrics.registry.lock() {
        Ok(registry) => prometheus_client::encoding::text::encode(&mut text, &registry),
        Err(_) => return HttpResponse::InternalServerError().finish(),
    };
    match encoded {
        Ok(()) => HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
