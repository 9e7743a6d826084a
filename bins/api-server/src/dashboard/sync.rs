//! Sync health: the sync-status figures, a 24-hour chart drawn as inline SVG, the
//! event log (refreshing itself, filterable by status) and Retry.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, TimeDelta, Timelike as _, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use store::{JobStatus, QueueKind};

use super::layout::{DashError, fragment, page as render, see_other};
use super::session::Session;
use crate::error::ApiError;
use crate::extract::AppState;
use crate::routes::calendar::{job_json, sync_status_json};

const STATUSES: [&str; 6] = ["all", "pending", "in_progress", "failed", "dead", "succeeded"];
const LOG_ROWS: usize = 50;

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    status: Option<String>,
    requeued: Option<u64>,
}

fn status_filter(query: &LogQuery) -> &str {
    query.status.as_deref().filter(|s| STATUSES.contains(s)).unwrap_or("all")
}

fn figure(label: &str, value: String) -> Markup {
    html! { div { dt { (label) } dd { (value) } } }
}

/// Succeeded and failed/dead writes per hour over the 24 hours before `now`, as bars.
fn chart(jobs: &[store::Job], now: DateTime<Utc>) -> Markup {
    let end = now.with_minute(0).and_then(|t| t.with_second(0)).unwrap_or(now) + TimeDelta::hours(1);
    let start = end - TimeDelta::hours(24);
    let mut ok = [0_u32; 24];
    let mut bad = [0_u32; 24];
    for job in jobs.iter().filter(|j| j.updated_at >= start && j.updated_at < end) {
        let hour = usize::try_from((job.updated_at - start).num_hours()).unwrap_or(0).min(23);
        match job.status {
            JobStatus::Succeeded => ok[hour] += 1,
            JobStatus::Failed | JobStatus::Dead => bad[hour] += 1,
            _ => {}
        }
    }
    let most = ok.iter().zip(&bad).map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let (width, height, left, bottom) = (480.0_f64, 160.0_f64, 30.0_f64, 20.0_f64);
    let bar = (width - left) / 24.0;
    let scale = (height - bottom - 10.0) / f64::from(most);
    let total_ok: u32 = ok.iter().sum();
    let total_bad: u32 = bad.iter().sum();
    html! {
        svg.chart viewBox={"0 0 " (width) " " (height)} role="img" aria-labelledby="chart-title" {
            title id="chart-title" {
                "Calendar writes per hour over the last 24 hours: " (total_ok) " succeeded, " (total_bad) " failed or dead"
            }
            line.axis x1=(left) y1=(height - bottom) x2=(width) y2=(height - bottom) {}
            text x="0" y="14" { (most) }
            text x="0" y=(height - bottom) { "0" }
            @for hour in 0..24 {
                @let x = left + bar * hour as f64 + 1.0;
                @let ok_h = f64::from(ok[hour]) * scale;
                @let bad_h = f64::from(bad[hour]) * scale;
                rect.ok x=(x) y=(height - bottom - ok_h) width=(bar - 2.0) height=(ok_h) {}
                rect.bad x=(x) y=(height - bottom - ok_h - bad_h) width=(bar - 2.0) height=(bad_h) {}
                @if hour % 6 == 0 {
                    text x=(x) y=(height - 5.0) { ((start + TimeDelta::hours(hour as i64)).format("%H:00")) }
                }
            }
        }
        p.muted { "Green: succeeded; red: failed or given up. Hours in UTC." }
    }
}

fn log_table(session: &Session, events: &[Value]) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted { "No calendar writes with this status." }
        } @else {
            div.table-wrap {
                table {
                    caption.visually-hidden { "Calendar sync events, newest first" }
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Booking" } th scope="col" { "Write" }
                        th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { "" }
                    } }
                    tbody {
                        @for e in events {
                            @let status = e["status"].as_str().unwrap_or("");
                            tr {
                                td { (e["updated_at"].as_str().unwrap_or("")) }
                                td { code { (e["booking_id"].as_str().unwrap_or("—")) } }
                                td { (e["provider"].as_str().unwrap_or("")) " " (e["operation"].as_str().unwrap_or("")) }
                                td { span class={"badge " (status)} { (status) } }
                                td { (e["attempts"]) }
                                td { (e["last_error"].as_str().unwrap_or("")) }
                                td {
                                    @if status == "failed" || status == "dead" {
                                        form.inline method="post" action="/dashboard/sync/retry" {
                                            input type="hidden" name="csrf" value=(session.csrf());
                                            input type="hidden" name="event_id" value=(e["id"].as_str().unwrap_or(""));
                                            button.secondary type="submit" { "Retry" span.visually-hidden { " event " (e["id"].as_str().unwrap_or("")) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn events(state: &AppState, session: &Session, status: &str) -> Result<(Vec<store::Job>, Vec<Value>), DashError> {
    let jobs = state.store.queue(QueueKind::CalendarSync).list(&session.tenant.id, None, 1000).await?;
    let shown = jobs
        .iter()
        .filter(|j| status == "all" || j.status.as_str() == status)
        .take(LOG_ROWS)
        .filter_map(job_json)
        .collect();
    Ok((jobs, shown))
}

/// `GET /dashboard/sync`.
pub async fn page(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, DashError> {
    let status = status_filter(&query);
    let figures = sync_status_json(&state, &session.tenant).await?;
    let (jobs, shown) = events(&state, &session, status).await?;
    let healthy = figures["healthy"].as_bool().unwrap_or(false);
    let percent = |v: &Value| v.as_f64().map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0));
    let millis = |v: &Value| v.as_f64().map_or_else(|| "—".to_owned(), |ms| format!("{ms:.0} ms"));
    let body = html! {
        @if let Some(n) = query.requeued { p.notice role="status" { "Requeued " (n) " event(s)." } }
        p {
            @if healthy { span.badge.healthy { "healthy" } } @else { span.badge.unhealthy { "needs attention" } }
            @if let Some(error) = figures["last_error"].as_str() { " " span.muted { "last error: " (error) } }
        }
        dl.figures {
            (figure("Pending", figures["pending"].to_string()))
            (figure("Failed (retrying)", figures["failed"].to_string()))
            (figure("Dead", figures["dead"].to_string()))
            (figure("Success rate, 1 h", percent(&figures["success_rate_1h"])))
            (figure("Mean latency, 1 h", millis(&figures["mean_latency_ms_1h"])))
            (figure("Connections", figures["connections"].as_array().map_or(0, Vec::len).to_string()))
        }
        h2 { "Last 24 hours" }
        (chart(&jobs, state.now()))
        h2 id="log-title" { "Sync event log" }
        form method="get" action="/dashboard/sync" {
            label for="status" { "Show" }
            select id="status" name="status" {
                @for s in STATUSES { option value=(s) selected[s == status] { (s) } }
            }
            " " button.secondary type="submit" { "Filter" }
        }
        form method="post" action="/dashboard/sync/retry" {
            input type="hidden" name="csrf" value=(session.csrf());
            p { button type="submit" { "Retry all failed and dead" } }
        }
        div id="log" aria-live="polite" aria-labelledby="log-title"
            data-refresh={"/dashboard/sync/log?status=" (status)} data-every="5000" {
            (log_table(&session, &shown))
        }
    };
    Ok(render(&session, "/dashboard/sync", "Sync health", body))
}

/// `GET /dashboard/sync/log`: the log table alone, for the page's refresh.
pub async fn log(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, DashError> {
    let (_, shown) = events(&state, &session, status_filter(&query)).await?;
    Ok(fragment(log_table(&session, &shown)))
}

#[derive(Debug, Deserialize)]
pub struct RetryForm {
    csrf: String,
    event_id: Option<String>,
}

/// `POST /dashboard/sync/retry`: one event, or every failed and dead one.
pub async fn retry(
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<RetryForm>,
) -> Result<HttpResponse, DashError> {
    session.check(&form.csrf)?;
    let ids = match form.event_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => Some(vec![store::JobId::parse(id).map_err(|_| ApiError::invalid("event_id", "not an event id"))?]),
        None => None,
    };
    let n = state.store.queue(QueueKind::CalendarSync).requeue_failed(&session.tenant.id, ids.as_deref()).await?;
    state.sync.wake();
    Ok(see_other(&format!("/dashboard/sync?requeued={n}")))
}
