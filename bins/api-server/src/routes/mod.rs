//! The HTTP routes of the contract, and the ones that need no key.

pub mod availability;
pub mod bookings;
pub mod calendar;
pub mod health;
pub mod setup;
pub mod webhooks;

use actix_web::web;

/// Every route of the api-server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(crate::observe::metrics))
        .route("/docs", web::get().to(crate::openapi::docs))
        .route("/api/openapi.json", web::get().to(crate::openapi::openapi))
        .configure(crate::dashboard::configure)
        .service(
            web::scope("/api")
                .route("/tenants", web::post().to(setup::create_tenant))
                .route("/business-hours", web::put().to(setup::put_business_hours))
                .route("/business-hours", web::get().to(setup::get_business_hours))
                .route("/services", web::post().to(setup::create_service))
                .route("/services", web::get().to(setup::list_services))
                .route("/employees", web::post().to(setup::create_employee))
                .route("/employees", web::get().to(setup::list_employees))
                .route("/employees/{id}", web::get().to(setup::get_employee))
                .route("/employees/{id}/schedule", web::put().to(setup::put_schedule))
                .route("/employees/{id}/time-off", web::post().to(setup::create_time_off))
                .route("/holidays", web::post().to(setup::create_holiday))
                .route("/special-dates", web::post().to(setup::create_special_date))
                .route("/availability", web::get().to(availability::availability))
                .route("/availability/check", web::post().to(availability::check))
                .route("/availability/bulk", web::post().to(setup::bulk))
                .route("/bookings", web::post().to(bookings::create))
                .route("/bookings", web::get().to(bookings::list))
                .route("/bookings/{id}", web::get().to(bookings::get))
                .route("/bookings/{id}/cancel", web::post().to(bookings::cancel))
                .route("/bookings/{id}/reschedule", web::post().to(bookings::reschedule))
                .route("/bookings/{id}/reschedule/alternatives", web::get().to(bookings::list_alternatives))
                .route("/bookings/{id}/history", web::get().to(bookings::history))
                .route("/webhooks", web::post().to(webhooks::create))
                .route("/webhooks", web::get().to(webhooks::list))
                .route("/webhooks/{id}", web::delete().to(webhooks::delete))
                .route("/webhooks/{id}/test", web::post().to(webhooks::test))
                .route("/webhooks/{id}/deliveries", web::get().to(webhooks::deliveries))
                .route("/google-calendar/oauth", web::get().to(calendar::google::oauth))
                .route("/google-calendar/callback", web::get().to(calendar::google::callback))
                .route("/google-calendar/status", web::get().to(calendar::google::status))
                .route("/google-calendar/disconnect", web::post().to(calendar::google::disconnect))
                .route("/outlook-calendar/oauth", web::get().to(calendar::outlook::oauth))
                .route("/outlook-calendar/callback", web::get().to(calendar::outlook::callback))
                .route("/outlook-calendar/status", web::get().to(calendar::outlook::status))
                .route("/outlook-calendar/disconnect", web::post().to(calendar::outlook::disconnect))
                .route("/calendar/webhooks/google", web::post().to(calendar::google_webhook))
                .route("/calendar/webhooks/outlook", web::post().to(calendar::outlook_webhook))
                .route("/calendar/sync-status", web::get().to(calendar::sync_status))
                .route("/calendar/sync-status/retry", web::post().to(calendar::retry)),
        );
}
