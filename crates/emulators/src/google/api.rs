//! Calendar API v3 handlers: auth + faults first, then the state's operation, answered in Google's shapes.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::state::{EmulatorApiError, ListParams};
use super::{FaultKind, GoogleEmulator, google_error, pop_fault};

/// Scopes accepted by the read methods (events.list/get/watch), from the discovery document.
const READ: &[&str] = &[
    "calendar",
    "calendar.app.created",
    "calendar.events",
    "calendar.events.freebusy",
    "calendar.events.owned",
    "calendar.events.owned.readonly",
    "calendar.events.public.readonly",
    "calendar.events.readonly",
    "calendar.readonly",
];
/// Scopes accepted by events.insert/patch/update/delete.
const WRITE: &[&str] = &["calendar", "calendar.app.created", "calendar.events", "calendar.events.owned"];
/// Scopes accepted by freebusy.query.
const FREEBUSY: &[&str] = &["calendar", "calendar.events.freebusy", "calendar.freebusy", "calendar.readonly"];
/// Scopes accepted by calendarList.list.
const CALENDAR_LIST: &[&str] =
    &["calendar", "calendar.calendarlist", "calendar.calendarlist.readonly", "calendar.readonly"];
/// Scopes accepted by channels.stop (a superset of the read scopes).
const STOP: &[&str] = &[
    "calendar",
    "calendar.acls",
    "calendar.acls.readonly",
    "calendar.app.created",
    "calendar.calendarlist",
    "calendar.calendarlist.readonly",
    "calendar.events",
    "calendar.events.freebusy",
    "calendar.events.owned",
    "calendar.events.owned.readonly",
    "calendar.events.public.readonly",
    "calendar.events.readonly",
    "calendar.readonly",
    "calendar.settings",
    "calendar.settings.readonly",
];

/// Counts the request, applies an injected fault, then checks the bearer token: returns the user.
async fn prologue(emu: &GoogleEmulator, req: &HttpRequest, scopes: &[&str]) -> Result<String, HttpResponse> {
    let fault = {
        let mut state = emu.lock();
        state.api_requests += 1;
        pop_fault(&mut state.faults)
    };
    match fault {
        Some(FaultKind::RateLimit { retry_after_secs }) => {
            let mut resp = google_error(429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded");
            if let Some(secs) = retry_after_secs
                && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
            {
                resp.headers_mut().insert(actix_web::http::header::RETRY_AFTER, v);
            }
            return Err(resp);
        }
        Some(FaultKind::UserRateLimit) => {
            return Err(google_error(403, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded"));
        }
        Some(FaultKind::Unauthorized) => {
            return Err(google_error(401, "global", "authError", "Invalid Credentials"));
        }
        Some(FaultKind::InternalError) => return Err(google_error(500, "global", "backendError", "Backend Error")),
        Some(FaultKind::Unavailable) => return Err(google_error(503, "global", "backendError", "Backend Error")),
        Some(FaultKind::Slow { delay_ms }) => actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await,
        None => {}
    }
    let bearer = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    emu.lock().authenticate(bearer, scopes).map_err(HttpResponse::from)
}

fn parse_json(body: &[u8]) -> Result<Value, HttpResponse> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(google_error(400, "global", "parseError", "Parse Error")),
    }
}

fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers().get("If-Match").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn respond<T>(result: Result<T, EmulatorApiError>, ok: impl FnOnce(T) -> HttpResponse) -> HttpResponse {
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into(),
    }
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

fn parse_list_params(query: &str) -> Result<ListParams, EmulatorApiError> {
    let pairs: Vec<(String, String)> = web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .map_err(|_| EmulatorApiError::invalid("Invalid query string."))?;
    let mut p = ListParams::default();
    let mut show_deleted_given = None;
    let boolean = |name: &str, v: &str| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(EmulatorApiError::invalid(format!("Invalid value for: {name}: {v}"))),
    };
    let instant = |name: &str, v: &str| -> Result<DateTime<Utc>, EmulatorApiError> {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| EmulatorApiError::invalid(format!("Bad Request: invalid {name}")))
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "maxResults" => {
                let n: i64 = v.parse().map_err(|_| {
                    EmulatorApiError::invalid(format!(
                        "Invalid value '{v}'. Values must be within the range: [1, 2500]"
                    ))
                })?;
                if n < 1 {
                    return Err(EmulatorApiError::invalid(format!(
                        "Invalid value '{v}'. Values must be within the range: [1, 2500]"
                    )));
                }
                p.max_results = Some(usize::try_from(n).unwrap_or(2500));
            }
            "pageToken" => p.page_token = Some(v.clone()),
            "syncToken" => p.sync_token = Some(v.clone()),
            "singleEvents" => p.single_events = boolean(k, v)?,
            "showDeleted" => {
                let b = boolean(k, v)?;
                show_deleted_given = Some(b);
                p.show_deleted = b;
            }
            "timeMin" => p.time_min = Some(instant(k, v)?),
            "timeMax" => p.time_max = Some(instant(k, v)?),
            "updatedMin" => p.updated_min = Some(instant(k, v)?),
            "orderBy" => match v.as_str() {
                "startTime" | "updated" => p.order_by = Some(v.clone()),
                _ => return Err(EmulatorApiError::invalid(format!("Invalid value for: orderBy: {v}"))),
            },
            "privateExtendedProperty" | "sharedExtendedProperty" => {
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| EmulatorApiError::invalid(format!("Invalid value for: {k}: {v}")))?;
                let list = if k == "privateExtendedProperty" { &mut p.private_props } else { &mut p.shared_props };
                list.push((name.to_owned(), value.to_owned()));
            }
            "q" => p.q = Some(v.clone()),
            "iCalUID" => p.ical_uid = Some(v.clone()),
            _ => {} // alt, fields, prettyPrint, timeZone, eventTypes, maxAttendees…: accepted, not interpreted
        }
    }
    if p.sync_token.is_some() {
        let forbidden = [
            ("iCalUID", p.ical_uid.is_some()),
            ("orderBy", p.order_by.is_some()),
            ("privateExtendedProperty", !p.private_props.is_empty()),
            ("q", p.q.is_some()),
            ("sharedExtendedProperty", !p.shared_props.is_empty()),
            ("timeMin", p.time_min.is_some()),
            ("timeMax", p.time_max.is_some()),
            ("updatedMin", p.updated_min.is_some()),
            ("showDeleted=false", show_deleted_given == Some(false)),
        ];
        if let Some((name, _)) = forbidden.iter().find(|(_, present)| *present) {
            return Err(EmulatorApiError::invalid(format!(
                "The {name} parameter cannot be used together with syncToken."
            )));
        }
    }
    if p.order_by.as_deref() == Some("startTime") && !p.single_events {
        return Err(EmulatorApiError::new(
            400,
            "global",
            "badRequest",
            "The requested ordering is not available for the particular query.",
        ));
    }
    if let (Some(min), Some(max)) = (p.time_min, p.time_max)
        && min >= max
    {
        return Err(EmulatorApiError::new(400, "calendar", "timeRangeEmpty", "The specified time range is empty."));
    }
    Ok(p)
}

/// `GET calendars/{calendarId}/events`.
pub(crate) async fn list_events(
    req: HttpRequest,
    path: web::Path<String>,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, READ).await);
    let params = match parse_list_params(req.query_string()) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let mut state = emu.lock();
    let cal = match state.resolve_calendar(&user, &path) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    respond(state.list_events(&cal, &params), |v| HttpResponse::Ok().json(v))
}

/// `POST calendars/{calendarId}/events`.
pub(crate) async fn insert_event(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, WRITE).await);
    let event = try_resp!(parse_json(&body));
    let mut state = emu.lock();
    let cal = match state.resolve_calendar(&user, &path) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    respond(state.insert_event(&cal, event), |v| HttpResponse::Ok().json(v))
}

/// `GET calendars/{calendarId}/events/{eventId}`.
pub(crate) async fn get_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, READ).await);
    let state = emu.lock();
    let (cal, id) = path.into_inner();
    let cal = match state.resolve_calendar(&user, &cal) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    respond(state.get_event(&cal, &id), |v| HttpResponse::Ok().json(v))
}

async fn write_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    emu: web::Data<GoogleEmulator>,
    replace: bool,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, WRITE).await);
    let patch = try_resp!(parse_json(&body));
    let (cal, id) = path.into_inner();
    let mut state = emu.lock();
    let cal = match state.resolve_calendar(&user, &cal) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let tag = if_match(&req);
    respond(state.patch_event(&cal, &id, patch, tag.as_deref(), replace), |v| HttpResponse::Ok().json(v))
}

/// `PATCH calendars/{calendarId}/events/{eventId}`.
pub(crate) async fn patch_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    write_event(req, path, body, emu, false).await
}

/// `PUT calendars/{calendarId}/events/{eventId}`.
pub(crate) async fn update_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    write_event(req, path, body, emu, true).await
}

/// `DELETE calendars/{calendarId}/events/{eventId}` → 204.
pub(crate) async fn delete_event(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, WRITE).await);
    let (cal, id) = path.into_inner();
    let mut state = emu.lock();
    let cal = match state.resolve_calendar(&user, &cal) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let tag = if_match(&req);
    respond(state.delete_event(&cal, &id, tag.as_deref()), |()| HttpResponse::NoContent().finish())
}

/// `POST calendars/{calendarId}/events/watch`.
pub(crate) async fn watch(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    emu: web::Data<GoogleEmulator>,
) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, READ).await);
    let channel = try_resp!(parse_json(&body));
    let mut state = emu.lock();
    let cal = match state.resolve_calendar(&user, &path) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    respond(state.watch(&cal, &path, &channel), |v| HttpResponse::Ok().json(v))
}

/// `POST channels/stop` → 204.
pub(crate) async fn stop_channel(req: HttpRequest, body: web::Bytes, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, STOP).await);
    let channel = try_resp!(parse_json(&body));
    let mut state = emu.lock();
    respond(state.stop_channel(&user, &channel), |()| HttpResponse::NoContent().finish())
}

/// `POST freeBusy`.
pub(crate) async fn free_busy(req: HttpRequest, body: web::Bytes, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, FREEBUSY).await);
    let query = try_resp!(parse_json(&body));
    let state = emu.lock();
    respond(state.free_busy(&user, &query), |v| HttpResponse::Ok().json(v))
}

/// `GET users/me/calendarList` (needs a calendar-list scope: `calendar.events` alone is refused).
pub(crate) async fn calendar_list(req: HttpRequest, emu: web::Data<GoogleEmulator>) -> HttpResponse {
    let user = try_resp!(prologue(&emu, &req, CALENDAR_LIST).await);
    let state = emu.lock();
    let mut items: Vec<Value> = state
        .calendars
        .iter()
        .filter(|(_, c)| c.owner == user)
        .map(|(id, c)| {
            json!({
                "kind": "calendar#calendarListEntry",
                "etag": "\"0\"",
                "id": id,
                "summary": id,
                "timeZone": c.time_zone,
                "accessRole": "owner",
                "primary": *id == user,
                "defaultReminders": [],
            })
        })
        .collect();
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    HttpResponse::Ok().json(json!({"kind": "calendar#calendarList", "etag": "\"0\"", "items": items}))
}
