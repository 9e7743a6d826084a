//! The page frame, the error pages and the answer a browser gets from an OAuth callback.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::{DOCTYPE, Markup, html};

use super::session::Session;
use crate::error::ApiError;

/// The navigation: path, label.
const NAV: [(&str, &str); 5] = [
    ("/dashboard/calendars", "Calendars"),
    ("/dashboard/sync", "Sync health"),
    ("/dashboard/conflicts", "Conflicts"),
    ("/dashboard/bookings", "Bookings"),
    ("/dashboard/webhooks", "Webhooks & mail"),
];

/// Headers every dashboard page carries: no framing, no inline script, no referrer.
fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .body(markup.into_string())
}

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · slotwise" }
        link rel="stylesheet" href="/dashboard/assets/app.css";
    }
}

/// A page without navigation (sign-in, callback results).
pub(super) fn bare_page(title: &str, body: Markup) -> HttpResponse {
    html_response(StatusCode::OK, html! { html lang="en" { (head(title)) body { (body) } } })
}

/// A signed-in page: navigation with `active` marked, the sign-out form, `body`.
pub(super) fn page(session: &Session, active: &str, title: &str, body: Markup) -> HttpResponse {
    let markup = html! {
        html lang="en" {
            (head(title))
            body {
                header.top {
                    span.brand { "slotwise" }
                    span.muted { (session.tenant.name) }
                    nav aria-label="Dashboard" {
                        ul {
                            @for (path, label) in NAV {
                                li {
                                    @if path == active { a href=(path) aria-current="page" { (label) } }
                                    @else { a href=(path) { (label) } }
                                }
                            }
                        }
                    }
                    form method="post" action="/dashboard/logout" {
                        input type="hidden" name="csrf" value=(session.csrf());
                        button.secondary type="submit" { "Sign out" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                script src="/dashboard/assets/app.js" defer {}
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// A fragment (for `data-refresh`).
pub(super) fn fragment(markup: Markup) -> HttpResponse {
    html_response(StatusCode::OK, markup)
}

/// 303 to `to`.
pub(super) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header(("Location", to)).insert_header(("Cache-Control", "no-store")).finish()
}

/// Why a dashboard request did not get its page.
#[derive(Debug)]
pub enum DashError {
    /// No live session: to the sign-in page.
    SignIn,
    /// A form without this session's CSRF token.
    Csrf,
    /// What the API would have answered.
    Api(ApiError),
}

impl std::fmt::Display for DashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DashError::SignIn => f.write_str("sign in first"),
            DashError::Csrf => f.write_str("the form's CSRF token does not match the session"),
            DashError::Api(e) => write!(f, "{e}"),
        }
    }
}

impl From<ApiError> for DashError {
    fn from(e: ApiError) -> Self {
        DashError::Api(e)
    }
}

impl From<store::StoreError> for DashError {
    fn from(e: store::StoreError) -> Self {
        DashError::Api(e.into())
    }
}

fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let body = html! {
        html lang="en" {
            (head(title))
            body {
                main {
                    h1 { (title) }
                    p.notice.error role="alert" { (message) }
                    p { a href="/dashboard/calendars" { "Back to the dashboard" } }
                }
            }
        }
    };
    html_response(status, body)
}

impl ResponseError for DashError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashError::SignIn => StatusCode::SEE_OTHER,
            DashError::Csrf => StatusCode::FORBIDDEN,
            DashError::Api(e) => e.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            DashError::SignIn => see_other("/dashboard/login"),
            DashError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form does not belong to your session (it may be from an old tab). Reload the page and try again.",
            ),
            DashError::Api(e) => {
                if e.status().is_server_error() {
                    // Logs the cause; the page says nothing of it.
                    let _ = e.error_response();
                }
                let message = e.body()["error"]["message"].as_str().unwrap_or("Something went wrong").to_owned();
                error_page(e.status(), "That did not work", &message)
            }
        }
    }
}

/// What a browser sees at the end of the OAuth flow (`…/callback` with `Accept: text/html`).
pub(crate) fn callback_page(
    provider: store::Provider,
    result: Result<&store::CalendarConnection, &ApiError>,
) -> HttpResponse {
    let name = match provider {
        store::Provider::Google => "Google Calendar",
        store::Provider::Outlook => "Outlook calendar",
    };
    match result {
        Ok(connection) => {
            let body = html! {
                main {
                    h1 { (name) " connected" }
                    p.notice role="status" { "The calendar is connected and syncing (connection " code { (connection.id.as_str()) } ")." }
                    p { a href="/dashboard/calendars" { "Back to calendar connections" } }
                }
            };
            html_response(StatusCode::OK, html! { html lang="en" { (head("Connected")) body { (body) } } })
        }
        Err(e) => error_page(
            e.status(),
            &format!("{name} was not connected"),
            e.body()["error"]["message"].as_str().unwrap_or("The authorization failed."),
        ),
    }
}
