//! Webhooks and notifications: the endpoints, their recent deliveries, and the mail
//! spool (where booking emails go without `SMTP_URL`, as in the demo).

use std::path::Path;

use actix_web::{HttpResponse, web};
use maud::html;

use super::layout::{DashError, page as render};
use super::session::Session;
use crate::extract::AppState;

/// Deliveries shown per endpoint; messages shown from the spool.
const RECENT: u32 = 10;

/// Up to `limit` newest `.eml` files: (file name, Subject, To).
fn spool(dir: &Path, limit: usize) -> Vec<(String, String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
        .into_iter()
        .take(limit)
        .map(|(_, path)| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let header = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(name))
                    .map_or_else(String::new, |v| v.trim().to_owned())
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (name, header("Subject:"), header("To:"))
        })
        .collect()
}

/// `GET /dashboard/webhooks`.
pub async fn page(session: Session, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    let tenant = &session.tenant.id;
    let endpoints = state.store.webhook_endpoints(tenant).await?;
    let mut deliveries = Vec::with_capacity(endpoints.len());
    for endpoint in &endpoints {
        deliveries.push(state.store.webhook_deliveries(tenant, &endpoint.id, RECENT).await?);
    }
    let mails = if state.config.smtp_url.is_none() { spool(&state.config.mail_spool, 20) } else { Vec::new() };
    let body = html! {
        h2 { "Webhook endpoints" }
        @if endpoints.is_empty() { p.muted { "None. Register one with " code { "POST /api/webhooks" } "." } }
        @for (endpoint, log) in endpoints.iter().zip(&deliveries) {
            section aria-label={"Endpoint " (endpoint.url)} {
                h3 { code { (endpoint.url) } }
                p.muted { "events: " (endpoint.events.join(", ")) " · id " code { (endpoint.id.to_string()) } }
                @if log.is_empty() { p.muted { "No deliveries yet." } }
                @else {
                    div.table-wrap { table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Attempt" } th scope="col" { "Answer" } } }
                        tbody {
                            @for d in log {
                                tr {
                                    td { (d.attempt.at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                    td { (d.attempt.event_type) }
                                    td { (d.attempt.attempt) }
                                    td {
                                        @match (d.attempt.status_code, &d.attempt.error) {
                                            (Some(code), _) if (200..300).contains(&code) => span.badge.succeeded { (code) },
                                            (Some(code), _) => span.badge.failed { (code) },
                                            (None, Some(error)) => span.badge.failed { (error) },
                                            (None, None) => "—",
                                        }
                                    }
                                }
                            }
                        }
                    } }
                }
            }
        }
        h2 { "Mail" }
        @if state.config.smtp_url.is_some() {
            p.muted { "Booking emails are sent over SMTP." }
        } @else {
            p.muted { "Without SMTP_URL, booking emails are written to " code { (state.config.mail_spool.display()) } "." }
            @if mails.is_empty() { p.muted { "No messages yet." } }
            ul { @for (name, subject, to) in &mails { li { (subject) " → " (to) " " span.muted { "(" (name) ")" } } } }
        }
    };
    Ok(render(&session, "/dashboard/webhooks", "Webhooks and notifications", body))
}
