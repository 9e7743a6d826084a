//! `/dashboard`: the admin pages, server-rendered HTML (maud), a little progressive
//! JavaScript (the sync log refreshes itself), every asset served from here.
//!
//! Sign-in exchanges the tenant API key for a session: a random token in an
//! `HttpOnly; SameSite=Strict` cookie (only its hash is stored) and a CSRF token that
//! every form carries and every POST checks. Pages read through the same store and
//! engine code as the API; actions (connect, disconnect, retry, reschedule) call the
//! same functions as the API routes.

mod assets;
mod calendars;
mod conflicts;
mod layout;
mod session;
mod sync;
mod webhooks;
mod week;

use actix_web::web;

pub(crate) use layout::callback_page;

/// The dashboard's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/dashboard")
            .route("", web::get().to(session::index))
            .route("/", web::get().to(session::index))
            .route("/login", web::get().to(session::login_page))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .route("/assets/app.css", web::get().to(assets::css))
            .route("/assets/app.js", web::get().to(assets::js))
            .route("/calendars", web::get().to(calendars::page))
            .route("/calendars/connect", web::post().to(calendars::connect))
            .route("/calendars/disconnect", web::get().to(calendars::confirm_disconnect))
            .route("/calendars/disconnect", web::post().to(calendars::disconnect))
            .route("/sync", web::get().to(sync::page))
            .route("/sync/log", web::get().to(sync::log))
            .route("/sync/retry", web::post().to(sync::retry))
            .route("/conflicts", web::get().to(conflicts::page))
            .route("/conflicts/reschedule", web::post().to(conflicts::reschedule))
            .route("/bookings", web::get().to(week::page))
            .route("/webhooks", web::get().to(webhooks::page)),
    );
}
