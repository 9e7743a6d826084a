//! Bookings: a week per employee, cell by cell — booked, busy in an external calendar,
//! free, or closed — each non-free cell with the availability check's reasons, so a
//! person can see why a start is not offered.

use std::collections::HashSet;

use actix_web::{HttpResponse, web};
use availability_core as core;
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{DashError, page as render};
use super::session::Session;
use crate::engine;
use crate::error::ApiError;
use crate::extract::AppState;
use crate::routes::availability::inputs;
use crate::routes::bookings::business_zone;

#[derive(Debug, Deserialize)]
pub struct WeekQuery {
    employee_id: Option<String>,
    service_id: Option<String>,
    week: Option<String>,
}

/// What one cell shows.
enum Cell {
    Free,
    Booked(String),
    Busy,
    Closed(String),
    Other(String),
}

fn classify(check: &core::Check, bookings: &[store::Booking], start: DateTime<Utc>) -> Cell {
    if check.available {
        return Cell::Free;
    }
    let codes: Vec<&str> = check.reasons.iter().map(|r| r.code.as_str()).collect();
    let text = codes.join(", ");
    if codes.contains(&"booking") {
        let who = bookings
            .iter()
            .find(|b| b.start <= start && start < b.end)
            .map_or_else(|| "booked".to_owned(), |b| format!("booked: {}", b.customer.name));
        return Cell::Booked(who);
    }
    if codes.contains(&"external_event") {
        return Cell::Busy;
    }
    if codes.iter().all(|c| matches!(*c, "outside_hours" | "holiday" | "break" | "time_off")) {
        return Cell::Closed(text);
    }
    Cell::Other(text)
}

fn cell_markup(cell: &Cell, reasons: &str) -> Markup {
    let (class, label) = match cell {
        Cell::Free => ("free", "free".to_owned()),
        Cell::Booked(who) => ("booked", who.clone()),
        Cell::Busy => ("busy", "busy (calendar)".to_owned()),
        Cell::Closed(why) => ("closed", why.replace('_', " ")),
        Cell::Other(why) => ("other", why.replace('_', " ")),
    };
    html! { td class={"cell " (class)} title=(reasons) { (label) } }
}

/// `GET /dashboard/bookings?employee_id&service_id&week=YYYY-MM-DD`.
pub async fn page(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<WeekQuery>,
) -> Result<HttpResponse, DashError> {
    let tenant = &session.tenant;
    let employees = state.store.list_employees(&tenant.id).await?;
    let services = state.store.list_services(&tenant.id).await?;
    let zone = business_zone(&state, tenant).await?;
    let employee = match &query.employee_id {
        Some(id) => employees.iter().find(|e| e.id.as_str() == id).ok_or_else(|| ApiError::not_found("employee"))?,
        None => match employees.first() {
            Some(e) => e,
            None => {
                let body = html! { p { "No employees yet." } };
                return Ok(render(&session, "/dashboard/bookings", "Bookings", body));
            }
        },
    };
    let offered: Vec<&store::Service> = services.iter().filter(|s| employee.service_ids.contains(&s.id)).collect();
    let service = match &query.service_id {
        Some(id) => {
            offered.iter().copied().find(|s| s.id.as_str() == id).ok_or_else(|| ApiError::not_found("service"))?
        }
        None => match offered.first() {
            Some(s) => *s,
            None => {
                let body = html! { p { (employee.name) " offers no service yet." } };
                return Ok(render(&session, "/dashboard/bookings", "Bookings", body));
            }
        },
    };
    let today = state.now().with_timezone(&zone).date_naive();
    let day = match &query.week {
        Some(text) => {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ApiError::invalid("week", "YYYY-MM-DD"))?
        }
        None => today,
    };
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    let days: Vec<NaiveDate> = (0..7).map(|i| monday + Duration::days(i)).collect();
    let local = |date: NaiveDate, time: NaiveTime| zone.from_local_datetime(&date.and_time(time)).earliest();
    let from = local(monday, NaiveTime::MIN).map_or_else(|| state.now(), |t| t.with_timezone(&Utc));
    let to =
        local(monday + Duration::days(7), NaiveTime::MIN).map_or(from + Duration::days(7), |t| t.with_timezone(&Utc));

    let inputs = inputs(&state, tenant, service, std::slice::from_ref(employee), from, to, None).await?;
    let rules = engine::rules(service)?;
    let window = core::Interval::new(from, to, "week").map_err(ApiError::from)?;
    let now = state.now();
    let found = core::available_slots(&inputs.business, &rules, &inputs.employees, &core::Query { window, now });
    let free: HashSet<DateTime<Utc>> = found.employees.iter().flat_map(|e| e.slots.iter().map(|s| s.start)).collect();
    let filter = store::BookingFilter {
        from,
        to,
        employee_id: Some(employee.id.clone()),
        status: Some(store::BookingStatus::Confirmed),
        after: None,
        limit: 1000,
    };
    let bookings = state.store.list_bookings(&tenant.id, &filter).await?;

    let step = i64::from(service.settings.slot_step_min.clamp(15, 60));
    let times: Vec<NaiveTime> = (0..(24 * 60 / step))
        .filter_map(|i| NaiveTime::from_num_seconds_from_midnight_opt(u32::try_from(i * step * 60).ok()?, 0))
        .collect();
    let mut rows: Vec<(NaiveTime, Vec<Markup>)> = Vec::new();
    for time in &times {
        let mut cells = Vec::with_capacity(7);
        let mut all_closed = true;
        for date in &days {
            let Some(start) = local(*date, *time).map(|t| t.with_timezone(&Utc)) else {
                cells.push(html! { td.cell.closed { "—" } });
                continue;
            };
            let (cell, reasons) = if free.contains(&start) {
                (Cell::Free, "offered".to_owned())
            } else {
                let check = core::check_slot(&inputs.business, &rules, &inputs.employees[0], start, now);
                let reasons = check
                    .reasons
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}–{}",
                            r.code.as_str(),
                            r.start.with_timezone(&zone).format("%H:%M"),
                            r.end.with_timezone(&zone).format("%H:%M")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                (classify(&check, &bookings, start), reasons)
            };
            if !matches!(cell, Cell::Closed(ref why) if why.contains("outside_hours")) {
                all_closed = false;
            }
            cells.push(cell_markup(&cell, &reasons));
        }
        if !all_closed {
            rows.push((*time, cells));
        }
    }
    let week_link = |delta: i64| {
        format!(
            "/dashboard/bookings?employee_id={}&service_id={}&week={}",
            employee.id.as_str(),
            service.id.as_str(),
            monday + Duration::days(delta)
        )
    };
    let body = html! {
        form method="get" action="/dashboard/bookings" {
            label for="employee_id" { "Employee" }
            select id="employee_id" name="employee_id" {
                @for e in &employees { option value=(e.id.as_str()) selected[e.id == employee.id] { (e.name) } }
            }
            label for="service_id" { "Service" }
            select id="service_id" name="service_id" {
                @for s in &services { option value=(s.id.as_str()) selected[s.id == service.id] { (s.settings.name) } }
            }
            label for="week" { "Week of" }
            input type="date" id="week" name="week" value=(monday.to_string());
            " " button type="submit" { "Show" }
        }
        p {
            a href=(week_link(-7)) { "← previous week" } " · " a href=(week_link(7)) { "next week →" }
        }
        p.legend.muted {
            span.free { "free" } span.booked { "booked" } span.busy { "external calendar" } span.closed { "closed" }
            " Times in " (zone.name()) "; hover or focus a cell for the reasons."
        }
        @if !inputs.calendars.is_empty() {
            p.muted { "Calendars: "
                @for c in &inputs.calendars {
                    (c["provider"].as_str().unwrap_or("")) " " (c["status"].as_str().unwrap_or(""))
                    @if c["stale"].as_bool() == Some(true) { " (stale)" } " "
                }
            }
        }
        div.table-wrap {
            table.week {
                caption.visually-hidden { (employee.name) "'s week from " (monday) }
                thead { tr {
                    th scope="col" { "Time" }
                    @for d in &days { th scope="col" { (d.format("%a %d %b")) } }
                } }
                tbody {
                    @for (time, cells) in &rows {
                        tr { th scope="row" { (time.format("%H:%M")) } @for c in cells { (c) } }
                    }
                }
            }
        }
        @if rows.is_empty() { p { "Closed all week." } }
        h2 { "Bookings this week" }
        @if bookings.is_empty() { p.muted { "None." } }
        ul {
            @for b in &bookings {
                li { (b.start.with_timezone(&zone).format("%a %d %b %H:%M")) "–" (b.end.with_timezone(&zone).format("%H:%M")) ": "
                     (b.customer.name) " " code { (b.id.as_str()) } }
            }
        }
    };
    Ok(render(&session, "/dashboard/bookings", &format!("Bookings: {}", employee.name), body))
}
