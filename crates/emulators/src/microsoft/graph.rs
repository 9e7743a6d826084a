//! Microsoft Graph v1.0 handlers: `/me/events`, `/me/calendars/{id}/events`, `/me/calendarView`,
//! `/me/calendarView/delta`, `/subscriptions` (B2–B5).

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::notify;
use super::state::{DeltaLink, GraphError, Subscription, random_guid};
use super::time::{date_time_time_zone, parse_query_instant, parse_when};
use super::{GraphFault, MicrosoftEmulator, graph_error};

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default()
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The `Prefer` preferences we honour (several may be comma-joined, or sent in several headers).
#[derive(Debug, Default)]
struct Prefer {
    time_zone: Option<String>,
    max_page_size: Option<usize>,
}

fn prefer(req: &HttpRequest) -> Prefer {
    let mut out = Prefer::default();
    for value in req.headers().get_all("Prefer").filter_map(|v| v.to_str().ok()) {
        for part in value.split(',') {
            let Some((name, v)) = part.trim().split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "outlook.timezone" => out.time_zone = Some(v.to_owned()),
                "odata.maxpagesize" => out.max_page_size = v.parse().ok(),
                _ => {}
            }
        }
    }
    out
}

/// Counts the call, applies an injected fault, and checks the bearer token. Returns the user.
async fn gate(req: &HttpRequest, emu: &MicrosoftEmulator, write: bool) -> Result<String, HttpResponse> {
    let fault = {
        let mut state = emu.lock();
        state.graph_requests += 1;
        state.faults.pop_front()
    };
    match fault {
        Some(GraphFault::RateLimit { retry_after_secs }) => {
            let mut resp = graph_error(&GraphError::new(
                429,
                "TooManyRequests",
                "Application is over its MailboxConcurrency limit.",
            ));
            if let Some(secs) = retry_after_secs {
                resp.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(secs));
            }
            return Err(resp);
        }
        Some(GraphFault::Unavailable { retry_after_secs }) => {
            let mut resp =
                graph_error(&GraphError::new(503, "serviceNotAvailable", "The service is temporarily unavailable."));
            if let Some(secs) = retry_after_secs {
                resp.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, actix_web::http::header::HeaderValue::from(secs));
            }
            return Err(resp);
        }
        Some(GraphFault::Unauthorized) => return Err(graph_error(&GraphError::unauthenticated())),
        Some(GraphFault::Slow { delay_ms }) => tokio::time::sleep(Duration::from_millis(delay_ms)).await,
        None => {}
    }
    emu.lock().authenticate(bearer(req).as_deref(), write).map_err(|e| graph_error(&e))
}

/// An event as the caller asked to see it: times in the `Prefer: outlook.timezone` zone (UTC by default),
/// extended properties only when expanded.
fn render(event: &Value, prefer: &Prefer, expand_properties: bool) -> Value {
    let mut out = event.clone();
    if let Value::Object(map) = &mut out
        && !expand_properties
    {
        map.remove("singleValueExtendedProperties");
    }
    if out.get("@removed").is_some() || out.get("isAllDay").and_then(Value::as_bool) == Some(true) {
        return out;
    }
    let zone_name = prefer.time_zone.clone().unwrap_or_else(|| "UTC".into());
    let zone = super::time::parse_zone(&zone_name).unwrap_or(chrono_tz::UTC);
    for key in ["start", "end"] {
        if let Ok(when) = parse_when(event.get(key), key) {
            out[key] = date_time_time_zone(when.at, zone, &zone_name);
        }
    }
    out
}

fn wants_properties(q: &HashMap<String, String>) -> bool {
    q.get("$expand").is_some_and(|e| e.contains("singleValueExtendedProperties"))
}

fn respond(status: actix_web::http::StatusCode, body: Value, prefer: &Prefer) -> HttpResponse {
    let mut resp = HttpResponse::build(status);
    let mut applied = Vec::new();
    if let Some(tz) = &prefer.time_zone {
        applied.push(format!("outlook.timezone=\"{tz}\""));
    }
    if let Some(n) = prefer.max_page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if !applied.is_empty() {
        resp.insert_header(("Preference-Applied", applied.join(", ")));
    }
    resp.json(body)
}

/// One `$skip`/`$top` page of `items` with an absolute `@odata.nextLink` carrying every original parameter.
fn paged(
    req: &HttpRequest,
    emu: &MicrosoftEmulator,
    items: Vec<Value>,
    prefer: &Prefer,
    context: &str,
) -> HttpResponse {
    let q = query(req);
    let config = emu.lock().config.clone();
    let size = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .or(prefer.max_page_size)
        .unwrap_or(config.page_size)
        .clamp(1, config.max_page_size.max(1));
    let skip = q.get("$skip").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
    let expand = wants_properties(&q);
    let page: Vec<Value> = items.iter().skip(skip).take(size).map(|e| render(e, prefer, expand)).collect();
    let mut body =
        json!({"@odata.context": format!("{}/$metadata#{context}", emu.urls().graph_base_url), "value": page});
    if skip + size < items.len() {
        let mut next = match reqwest::Url::parse(&format!("{}{}", emu.urls().base, req.path())) {
            Ok(url) => url,
            Err(_) => return graph_error(&GraphError::invalid("bad request URL")),
        };
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in q.iter().filter(|(k, _)| k.as_str() != "$skip") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("$skip", &(skip + size).to_string());
        }
        body["@odata.nextLink"] = json!(next.to_string());
    }
    respond(actix_web::http::StatusCode::OK, body, prefer)
}

fn parse_body(body: &[u8]) -> Result<Value, HttpResponse> {
    serde_json::from_slice(body).map_err(|_| {
        graph_error(&GraphError::new(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."))
    })
}

/// `GET /me/events`, `/me/calendar/events`, `/me/calendars/{id}/events`.
pub(crate) async fn list_events(req: HttpRequest, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let calendar = req.match_info().get("calendarId").map(str::to_owned);
    let items = {
        let state = emu.lock();
        if let Err(e) = state.check_calendar(&user, calendar.as_deref()) {
            return graph_error(&e);
        }
        state.list_events(&user)
    };
    paged(&req, &emu, items, &prefer(&req), "users('me')/events")
}

/// `POST /me/events` (and the calendar-scoped spellings): 201 + event; a known `transactionId` returns the
/// event created with it.
pub(crate) async fn create_event(
    req: HttpRequest,
    body: web::Bytes,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let calendar = req.match_info().get("calendarId").map(str::to_owned);
    let created = {
        let mut state = emu.lock();
        state.check_calendar(&user, calendar.as_deref()).and_then(|()| state.create_event(&user, body))
    };
    match created {
        Ok(event) => {
            let p = prefer(&req);
            respond(actix_web::http::StatusCode::CREATED, render(&event, &p, wants_properties(&query(&req))), &p)
        }
        Err(e) => graph_error(&e),
    }
}

/// `GET /me/events/{id}`.
pub(crate) async fn get_event(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let found = emu.lock().get_event(&user, &path);
    match found {
        Ok(event) => {
            let p = prefer(&req);
            respond(actix_web::http::StatusCode::OK, render(&event, &p, wants_properties(&query(&req))), &p)
        }
        Err(e) => graph_error(&e),
    }
}

/// `PATCH /me/events/{id}`.
pub(crate) async fn patch_event(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let if_match = req.headers().get("If-Match").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let patched = emu.lock().patch_event(&user, &path, body, if_match.as_deref());
    match patched {
        Ok(event) => {
            let p = prefer(&req);
            respond(actix_web::http::StatusCode::OK, render(&event, &p, wants_properties(&query(&req))), &p)
        }
        Err(e) => graph_error(&e),
    }
}

/// `DELETE /me/events/{id}` → 204.
pub(crate) async fn delete_event(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let deleted = emu.lock().delete_event(&user, &path);
    match deleted {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => graph_error(&e),
    }
}

fn window(q: &HashMap<String, String>) -> Result<(DateTime<Utc>, DateTime<Utc>), GraphError> {
    let missing = || {
        GraphError::new(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )
    };
    let get = |name: &str| q.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let start = get("startDateTime").ok_or_else(missing)?;
    let end = get("endDateTime").ok_or_else(missing)?;
    let bad = |v: &str| GraphError::new(400, "ErrorInvalidParameter", format!("The value '{v}' is not a valid time."));
    let start = parse_query_instant(&start).ok_or_else(|| bad(&start))?;
    let end = parse_query_instant(&end).ok_or_else(|| bad(&end))?;
    if end <= start {
        return Err(GraphError::new(
            400,
            "ErrorInvalidParameter",
            "The end of the time window must be after its start.",
        ));
    }
    Ok((start, end))
}

/// `GET /me/calendarView?startDateTime&endDateTime` (and `/me/calendars/{id}/calendarView`).
pub(crate) async fn calendar_view(req: HttpRequest, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (from, to) = match window(&query(&req)) {
        Ok(w) => w,
        Err(e) => return graph_error(&e),
    };
    let calendar = req.match_info().get("calendarId").map(str::to_owned);
    let items = {
        let state = emu.lock();
        if let Err(e) = state.check_calendar(&user, calendar.as_deref()) {
            return graph_error(&e);
        }
        state.calendar_view(&user, from, to)
    };
    paged(&req, &emu, items, &prefer(&req), "users('me')/calendarView")
}

/// `GET /me/calendarView/delta` — also spelled `delta()` (the Python SDK) and `microsoft.graph.delta`.
pub(crate) async fn delta(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let function = path.into_inner();
    if !matches!(function.as_str(), "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()") {
        return graph_error(&GraphError::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{function}'."),
        ));
    }
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let q = query(&req);
    let p = prefer(&req);
    let result = {
        let mut state = emu.lock();
        let page = p.max_page_size.unwrap_or(state.config.delta_page_size);
        let skip = if let Some(skip) = q.get("$skiptoken") {
            Ok(skip.clone())
        } else if let Some(token) = q.get("$deltatoken") {
            state.continue_delta(&user, token, page)
        } else {
            window(&q).map(|w| state.start_delta(&user, w, page))
        };
        skip.and_then(|skip| state.delta_page(&user, &skip))
    };
    let (items, link) = match result {
        Ok(r) => r,
        Err(e) => return graph_error(&e),
    };
    let base = format!("{}/me/calendarView/delta", emu.urls().graph_base_url);
    let value: Vec<Value> = items.iter().map(|e| render(e, &p, false)).collect();
    let mut body =
        json!({"@odata.context": format!("{}/$metadata#Collection(event)", emu.urls().graph_base_url), "value": value});
    match link {
        DeltaLink::Next(t) => body["@odata.nextLink"] = json!(format!("{base}?$skiptoken={t}")),
        DeltaLink::Delta(t) => body["@odata.deltaLink"] = json!(format!("{base}?$deltatoken={t}")),
    }
    respond(actix_web::http::StatusCode::OK, body, &p)
}

/// `GET /me/calendars`.
pub(crate) async fn list_calendars(req: HttpRequest, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let calendar = emu.lock().calendar_json(&user);
    HttpResponse::Ok().json(json!({"value": [calendar]}))
}

/// `GET /me` (needs only a valid token in the emulator).
pub(crate) async fn me(req: HttpRequest, emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = emu.lock().ensure_mailbox(&user).user_id.clone();
    HttpResponse::Ok().json(json!({"id": id, "userPrincipalName": user, "mail": user, "displayName": user}))
}

/// `expirationDateTime` checked against the lifetime rules (B4): beyond the maximum → 400, below the floor
/// → raised to it.
fn expiration(body: &Value, emu: &MicrosoftEmulator) -> Result<DateTime<Utc>, GraphError> {
    let text = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::invalid("expirationDateTime is required."))?;
    let at = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| GraphError::invalid(format!("Invalid expirationDateTime '{text}'.")))?;
    let config = emu.lock().config.clone();
    let now = Utc::now();
    let max = now + chrono::Duration::from_std(config.subscription_max_lifetime).unwrap_or(chrono::Duration::days(7));
    let min = now + chrono::Duration::from_std(config.subscription_min_lifetime).unwrap_or(chrono::Duration::zero());
    if at > max {
        return Err(GraphError::invalid(format!(
            "Subscription expiration can only be {} minutes in the future.",
            config.subscription_max_lifetime.as_secs() / 60
        )));
    }
    Ok(at.max(min))
}

fn check_url(url: &str, allow_http: bool) -> Result<(), GraphError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| GraphError::invalid(format!("Invalid notification URL '{url}'.")))?;
    if parsed.scheme() != "https" && !(allow_http && parsed.scheme() == "http") {
        return Err(GraphError::invalid("The notification URL must use https."));
    }
    Ok(())
}

/// `POST /subscriptions`: validated, then the handshake against both URLs, then 201.
pub(crate) async fn create_subscription(
    req: HttpRequest,
    body: web::Bytes,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let sub = match new_subscription(&body, &emu, &user) {
        Ok(s) => s,
        Err(e) => return graph_error(&e),
    };
    let timeout = emu.lock().config.validation_timeout;
    let mut urls = vec![sub.notification_url.clone()];
    urls.extend(sub.lifecycle_url.clone());
    for url in urls {
        if let Err(e) = notify::handshake(emu.http(), &url, timeout).await {
            return graph_error(&GraphError::new(
                400,
                "ValidationError",
                format!(
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({e})"
                ),
            ));
        }
    }
    let json = {
        let mut state = emu.lock();
        let json = sub.to_json(&state.graph_base);
        state.subscriptions.insert(sub.id.clone(), sub);
        json
    };
    HttpResponse::Created().json(json)
}

fn new_subscription(body: &Value, emu: &MicrosoftEmulator, user: &str) -> Result<Subscription, GraphError> {
    let get = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    let change_types: Vec<String> = get("changeType")
        .ok_or_else(|| GraphError::invalid("changeType is required."))?
        .split(',')
        .map(|c| c.trim().to_owned())
        .collect();
    if change_types.iter().any(|c| !matches!(c.as_str(), "created" | "updated" | "deleted")) {
        return Err(GraphError::invalid("changeType must be created, updated and/or deleted."));
    }
    let resource = get("resource").ok_or_else(|| GraphError::invalid("resource is required."))?;
    let normalized = resource.trim_start_matches('/').to_ascii_lowercase();
    let own = normalized == "me/events"
        || normalized == format!("users/{}/events", user.to_ascii_lowercase())
        || emu.lock().mailboxes.get(user).is_some_and(|m| normalized == format!("users/{}/events", m.user_id));
    if !own {
        return Err(GraphError::new(
            400,
            "ExtensionError",
            format!("Resource '{resource}' is not supported by the emulator (me/events or users/{{id}}/events)."),
        ));
    }
    let allow_http = emu.lock().config.allow_http_webhooks;
    let notification_url = get("notificationUrl").ok_or_else(|| GraphError::invalid("notificationUrl is required."))?;
    check_url(&notification_url, allow_http)?;
    let lifecycle_url = get("lifecycleNotificationUrl");
    if let Some(url) = &lifecycle_url {
        check_url(url, allow_http)?;
    }
    let client_state = get("clientState");
    if client_state.as_ref().is_some_and(|c| c.chars().count() > 128) {
        return Err(GraphError::invalid("clientState must be at most 128 characters."));
    }
    let expires = expiration(body, emu)?;
    let application_id = emu.lock().config.client_id.clone();
    Ok(Subscription {
        id: random_guid(),
        user: user.to_owned(),
        resource,
        change_types,
        notification_url,
        lifecycle_url,
        client_state,
        expires,
        application_id,
    })
}

/// `PATCH /subscriptions/{id}` `{"expirationDateTime"}` → 200 (renewal).
pub(crate) async fn renew_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.get("lifecycleNotificationUrl").is_some() {
        return graph_error(&GraphError::invalid("lifecycleNotificationUrl cannot be added or changed by PATCH."));
    }
    let expires = match expiration(&body, &emu) {
        Ok(e) => e,
        Err(e) => return graph_error(&e),
    };
    let mut state = emu.lock();
    let base = state.graph_base.clone();
    match state.subscriptions.get_mut(path.as_str()) {
        Some(sub) if sub.user == user => {
            sub.expires = expires;
            HttpResponse::Ok().json(sub.to_json(&base))
        }
        _ => graph_error(&GraphError::new(404, "ResourceNotFound", "The object was not found.")),
    }
}

/// `DELETE /subscriptions/{id}` → 204.
pub(crate) async fn delete_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut state = emu.lock();
    match state.subscriptions.get(path.as_str()) {
        Some(sub) if sub.user == user => {
            state.subscriptions.remove(path.as_str());
            HttpResponse::NoContent().finish()
        }
        _ => graph_error(&GraphError::new(404, "ResourceNotFound", "The object was not found.")),
    }
}

/// `POST /subscriptions/{id}/reauthorize` → 204 (after `reauthorizationRequired`).
pub(crate) async fn reauthorize_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<MicrosoftEmulator>,
) -> HttpResponse {
    let user = match gate(&req, &emu, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let state = emu.lock();
    match state.subscriptions.get(path.as_str()) {
        Some(sub) if sub.user == user => HttpResponse::NoContent().finish(),
        _ => graph_error(&GraphError::new(404, "ResourceNotFound", "The object was not found.")),
    }
}
