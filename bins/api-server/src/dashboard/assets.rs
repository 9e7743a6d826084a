//! The stylesheet and the script, compiled into the binary (no CDN, no build step).

use actix_web::HttpResponse;

const CSS: &str = include_str!("app.css");
const JS: &str = include_str!("app.js");

/// `GET /dashboard/assets/app.css`.
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(CSS)
}

/// `GET /dashboard/assets/app.js`.
pub async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(JS)
}
