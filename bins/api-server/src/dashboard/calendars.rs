//! Calendar connections: each employee with its Google and Outlook state, Connect
//! (the real OAuth flow) and Disconnect (after a confirmation page).

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use store::Provider;

use super::layout::{DashError, page as render, see_other};
use super::session::Session;
use crate::error::ApiError;
use crate::extract::AppState;

const PROVIDERS: [(Provider, &str); 2] = [(Provider::Google, "Google"), (Provider::Outlook, "Outlook")];

fn provider_from(name: &str) -> Result<Provider, DashError> {
    match name {
        "google" => Ok(Provider::Google),
        "outlook" => Ok(Provider::Outlook),
        _ => Err(ApiError::invalid("provider", "google or outlook").into()),
    }
}

fn configured(state: &AppState, provider: Provider) -> bool {
    match provider {
        Provider::Google => state.config.providers.google.is_some(),
        Provider::Outlook => state.config.providers.outlook.is_some(),
    }
}

fn when(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[derive(Debug, Deserialize)]
pub struct Notice {
    disconnected: Option<String>,
}

fn cell(
    session: &Session,
    state: &AppState,
    employee: &store::Employee,
    provider: Provider,
    connection: Option<&store::CalendarConnection>,
) -> Markup {
    let slug = provider.as_str();
    html! {
        @match connection {
            Some(c) => {
                span class={"badge " (c.status.as_str())} { (c.status.as_str()) }
                br;
                span.muted { "calendar " (c.calendar_id) }
                br;
                "last sync " (when(c.last_sync_at))
                br;
                "channel until " (when(c.channel_expires_at))
                @if let Some(error) = &c.last_error { br; span.muted { "last error: " (error) } }
                br;
                @if c.status != store::ConnectionStatus::Active && configured(state, provider) {
                    (connect_form(session, employee, slug, "Reconnect"))
                    " "
                }
                a.button.secondary href={"/dashboard/calendars/disconnect?employee_id=" (employee.id.as_str()) "&provider=" (slug)} {
                    "Disconnect" span.visually-hidden { " " (employee.name) "'s " (slug) " calendar" }
                }
            }
            None => {
                span.badge.never { "never connected" }
                br;
                @if configured(state, provider) { (connect_form(session, employee, slug, "Connect")) }
                @else { span.muted { "not configured on this server" } }
            }
        }
    }
}

fn connect_form(session: &Session, employee: &store::Employee, slug: &str, label: &str) -> Markup {
    html! {
        form.inline method="post" action="/dashboard/calendars/connect" {
            input type="hidden" name="csrf" value=(session.csrf());
            input type="hidden" name="employee_id" value=(employee.id.as_str());
            input type="hidden" name="provider" value=(slug);
            button type="submit" { (label) span.visually-hidden { " " (employee.name) "'s " (slug) " calendar" } }
        }
    }
}

/// `GET /dashboard/calendars`.
pub async fn page(
    session: Session,
    state: web::Data<AppState>,
    notice: web::Query<Notice>,
) -> Result<HttpResponse, DashError> {
    let tenant = &session.tenant;
    let employees = state.store.list_employees(&tenant.id).await?;
    let connections = state.store.list_connections(&tenant.id, None).await?;
    let body = html! {
        @if let Some(what) = &notice.disconnected {
            p.notice role="status" { "Disconnected " (what) "." }
        }
        @if employees.is_empty() {
            p { "No employees yet: add them through the API (" code { "POST /api/employees" } ")." }
        } @else {
            div.table-wrap {
                table {
                    caption.visually-hidden { "Calendar connections per employee" }
                    thead { tr { th scope="col" { "Employee" } @for (_, name) in PROVIDERS { th scope="col" { (name) } } } }
                    tbody {
                        @for employee in &employees {
                            tr {
                                th scope="row" { (employee.name) br; span.muted { (employee.email) } }
                                @for (provider, _) in PROVIDERS {
                                    td {
                                        (cell(&session, &state, employee, provider,
                                            connections.iter().find(|c| c.employee_id == employee.id && c.provider == provider)))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render(&session, "/dashboard/calendars", "Calendar connections", body))
}

#[derive(Debug, Deserialize)]
pub struct ConnectForm {
    csrf: String,
    employee_id: String,
    provider: String,
}

async fn employee(state: &AppState, session: &Session, id: &str) -> Result<store::Employee, DashError> {
    let id = store::EmployeeId::parse(id).map_err(|_| ApiError::invalid("employee_id", "not an employee id"))?;
    Ok(state.store.employee(&session.tenant.id, &id).await?)
}

/// `POST /dashboard/calendars/connect`: 303 to the provider's consent page.
pub async fn connect(
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, DashError> {
    session.check(&form.csrf)?;
    let provider = provider_from(&form.provider)?;
    let employee = employee(&state, &session, &form.employee_id).await?;
    let url = state
        .sync
        .start_connect(&session.tenant.id, &employee.id, provider, state.now())
        .await
        .map_err(ApiError::from)?;
    Ok(see_other(&url))
}

#[derive(Debug, Deserialize)]
pub struct DisconnectQuery {
    employee_id: String,
    provider: String,
}

/// `GET /dashboard/calendars/disconnect`: "are you sure?".
pub async fn confirm_disconnect(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<DisconnectQuery>,
) -> Result<HttpResponse, DashError> {
    let provider = provider_from(&query.provider)?;
    let employee = employee(&state, &session, &query.employee_id).await?;
    let body = html! {
        p { "Disconnect " strong { (employee.name) } "'s " (provider.as_str()) " calendar? Its push channel is stopped, \
             the grant revoked and the events mirrored from it forgotten. Bookings stay confirmed." }
        form method="post" action="/dashboard/calendars/disconnect" {
            input type="hidden" name="csrf" value=(session.csrf());
            input type="hidden" name="employee_id" value=(employee.id.as_str());
            input type="hidden" name="provider" value=(provider.as_str());
            button.danger type="submit" { "Disconnect" }
            " "
            a href="/dashboard/calendars" { "Cancel" }
        }
    };
    Ok(render(&session, "/dashboard/calendars", "Disconnect a calendar", body))
}

/// `POST /dashboard/calendars/disconnect`.
pub async fn disconnect(
    session: Session,
    state: web::Data<AppState>,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, DashError> {
    session.check(&form.csrf)?;
    let provider = provider_from(&form.provider)?;
    let employee = employee(&state, &session, &form.employee_id).await?;
    state.sync.disconnect(&session.tenant.id, &employee.id, provider, state.now()).await.map_err(ApiError::from)?;
    Ok(see_other(&format!("/dashboard/calendars?disconnected={}", provider.as_str())))
}
