//! Conflicts: external events that now overlap confirmed bookings, with the nearest
//! free starts for each and a one-click reschedule.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use maud::html;
use serde::Deserialize;

use super::layout::{DashError, page as render, see_other};
use super::session::Session;
use crate::error::ApiError;
use crate::extract::AppState;
use crate::routes::bookings::{alternatives_for, business_zone, move_booking};
use crate::routes::calendar::conflicts;
use crate::time;

/// Alternatives offered per conflicting booking.
const ALTERNATIVES: usize = 3;

#[derive(Debug, Deserialize)]
pub struct Notice {
    moved: Option<String>,
}

/// `GET /dashboard/conflicts`.
pub async fn page(
    session: Session,
    state: web::Data<AppState>,
    notice: web::Query<Notice>,
) -> Result<HttpResponse, DashError> {
    let zone = business_zone(&state, &session.tenant).await?;
    let list = conflicts(&state, &session.tenant).await?;
    let mut rows = Vec::with_capacity(list.len());
    for conflict in &list {
        rows.push((conflict, alternatives_for(&state, &session.tenant, &conflict.booking, ALTERNATIVES).await?));
    }
    let show = |t: DateTime<Utc>| t.with_timezone(&zone).format("%a %Y-%m-%d %H:%M").to_string();
    let body = html! {
        @if let Some(id) = &notice.moved { p.notice role="status" { "Booking " code { (id) } " was moved." } }
        p.muted { "External calendar events that overlap confirmed bookings. Bookings are never cancelled for you: \
                   move one to a free start, or leave it. Times in " (zone.name()) "." }
        @if rows.is_empty() {
            p { "No conflicts." }
        } @else {
            div.table-wrap {
                table {
                    caption.visually-hidden { "Conflicting bookings" }
                    thead { tr {
                        th scope="col" { "Booking" } th scope="col" { "Employee" } th scope="col" { "External event" }
                        th scope="col" { "Move to" }
                    } }
                    tbody {
                        @for (c, alternatives) in &rows {
                            tr {
                                td { (show(c.booking.start)) "–" (c.booking.end.with_timezone(&zone).format("%H:%M"))
                                     br; span.muted { (c.booking.customer.name) } br; code { (c.booking.id.as_str()) } }
                                td { (c.employee) }
                                td { (c.provider) ": " (show(c.event_start)) " – " (show(c.event_end)) @if c.all_day { " (all day)" } }
                                td {
                                    @if alternatives.is_empty() { span.muted { "no free start nearby" } }
                                    @for alt in alternatives {
                                        @let start = alt["start"].as_str().unwrap_or("");
                                        form.inline method="post" action="/dashboard/conflicts/reschedule" {
                                            input type="hidden" name="csrf" value=(session.csrf());
                                            input type="hidden" name="booking_id" value=(c.booking.id.as_str());
                                            input type="hidden" name="start" value=(start);
                                            button.secondary type="submit" {
                                                (start.get(..16).unwrap_or(start).replace('T', " "))
                                                span.visually-hidden { " for booking " (c.booking.id.as_str()) }
                                            }
                                        }
                                        " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(&session, "/dashboard/conflicts", "Conflicts", body))
}

#[derive(Debug, Deserialize)]
pub struct RescheduleForm {
    csrf: String,
    booking_id: String,
    start: String,
}

/// `POST /dashboard/conflicts/reschedule`: the same move as `POST /api/bookings/{id}/reschedule`.
pub async fn reschedule(
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<RescheduleForm>,
) -> Result<HttpResponse, DashError> {
    session.check(&form.csrf)?;
    let id = store::BookingId::parse(form.booking_id.clone())
        .map_err(|_| ApiError::invalid("booking_id", "not a booking id"))?;
    let booking = state.store.booking(&session.tenant.id, &id).await?;
    let start = time::instant(&form.start, "start")?;
    let moved = move_booking(&state, &session.tenant, &booking, start, None, "employee_id").await?;
    Ok(see_other(&format!("/dashboard/conflicts?moved={}", moved.id.as_str())))
}
