//! Google OAuth 2.0 + Calendar API v3 emulator.
//!
//! Paths (relative to the emulator's base URL):
//! - `GET /o/oauth2/v2/auth` (consent), `POST /o/oauth2/v2/auth/decision` (the consent page's form),
//!   `POST /token`, `POST /revoke`;
//! - `/calendar/v3/calendars/{calendarId}/events[...]`, `POST /calendar/v3/channels/stop`,
//!   `POST /calendar/v3/freeBusy`, `GET /calendar/v3/users/me/calendarList`;
//! - `/admin/...`: fault injection, revocation, seeding and minting tokens (see [`routes`]).

mod api;
mod oauth;
mod push;
mod recurrence;
mod state;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use state::EmulatorApiError;
use state::State;

/// What the consent screen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    /// Redirect back with a code at once (tests).
    AutoApprove,
    /// Redirect back with `error=access_denied` at once (tests).
    AutoDeny,
    /// Show an HTML consent page with Allow / Deny (demo).
    Page,
}

/// Behaviour of the Google emulator.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// The registered OAuth client id.
    pub client_id: String,
    /// The registered client secret.
    pub client_secret: String,
    /// Registered redirect URIs; empty accepts any.
    pub redirect_uris: Vec<String>,
    /// Consent behaviour.
    pub consent: ConsentMode,
    /// The account that consents when the request carries no `login_hint`.
    pub default_user: String,
    /// Access-token lifetime (`expires_in`).
    pub access_token_ttl: Duration,
    /// Authorization-code lifetime.
    pub code_ttl: Duration,
    /// Upper bound on page size, below Google's 2500 cap, so tests see many pages.
    pub max_page_size: usize,
    /// Sync-token lifetime (`None` = until invalidated).
    pub sync_token_ttl: Option<Duration>,
    /// Channel lifetime when the watch request has no `params.ttl`.
    pub channel_default_ttl: Duration,
    /// Longest channel lifetime granted.
    pub channel_max_ttl: Duration,
    /// Zone of calendars created on consent.
    pub calendar_time_zone: String,
    /// Accept `http://` push addresses (the real service wants https).
    pub allow_http_push: bool,
    /// Delivery attempts of one push notification when the receiver answers 5xx.
    pub push_attempts: u32,
}

impl Default for GoogleConfig {
    fn default() -> Self {
        GoogleConfig {
            client_id: "emulator-client.apps.googleusercontent.com".into(),
            client_secret: "emulator-secret".into(),
            redirect_uris: Vec::new(),
            consent: ConsentMode::AutoApprove,
            default_user: "user@example.com".into(),
            access_token_ttl: Duration::from_secs(3599),
            code_ttl: Duration::from_secs(600),
            max_page_size: 2500,
            sync_token_ttl: None,
            channel_default_ttl: Duration::from_secs(604_800),
            channel_max_ttl: Duration::from_secs(2_592_000),
            calendar_time_zone: "UTC".into(),
            allow_http_push: true,
            push_attempts: 3,
        }
    }
}

/// The endpoints of a running Google emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleUrls {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `GOOGLE_AUTH_URL`.
    pub auth_url: String,
    /// `GOOGLE_TOKEN_URL`.
    pub token_url: String,
    /// `GOOGLE_REVOKE_URL`.
    pub revoke_url: String,
    /// `GOOGLE_API_BASE_URL` (`…/calendar/v3`).
    pub api_base_url: String,
    /// Fault injection and seeding.
    pub admin_url: String,
}

impl GoogleUrls {
    /// The endpoints under `base`.
    pub fn new(base: &str) -> Self {
        GoogleUrls {
            base: base.to_owned(),
            auth_url: format!("{base}/o/oauth2/v2/auth"),
            token_url: format!("{base}/token"),
            revoke_url: format!("{base}/revoke"),
            api_base_url: format!("{base}/calendar/v3"),
            admin_url: format!("{base}/admin"),
        }
    }
}

/// A fault the next API calls answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// 429 `rateLimitExceeded`, with `Retry-After` when given.
    RateLimit {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// 403 `userRateLimitExceeded` (Google's other way to throttle).
    UserRateLimit,
    /// 401 `authError`, as if the access token expired at that moment (e.g. between two pages).
    Unauthorized,
    /// 500 `backendError`.
    InternalError,
    /// 503 `backendError`.
    Unavailable,
    /// Answer normally after a delay.
    Slow {
        /// Delay in milliseconds.
        delay_ms: u64,
    },
}

/// Cheap, cloneable control handle of the Google emulator's state.
#[derive(Debug, Clone)]
pub struct GoogleEmulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    urls: GoogleUrls,
    notify_rx: Mutex<Option<mpsc::UnboundedReceiver<push::Delivery>>>,
}

impl GoogleEmulator {
    pub(crate) fn new(config: GoogleConfig, base_url: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let urls = GoogleUrls::new(&base_url);
        GoogleEmulator {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config, urls.api_base_url.clone(), tx)),
                urls,
                notify_rx: Mutex::new(Some(rx)),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock leaves consistent-enough test state behind.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn start_notifier(&self) {
        let rx = self.inner.notify_rx.lock().ok().and_then(|mut rx| rx.take());
        if let Some(rx) = rx {
            let attempts = self.lock().config.push_attempts;
            actix_web::rt::spawn(push::run(rx, attempts));
        }
    }

    /// The endpoints.
    pub fn urls(&self) -> &GoogleUrls {
        &self.inner.urls
    }

    /// The next `count` Calendar API calls answer with `fault`.
    pub fn inject_fault(&self, fault: FaultKind, count: u32) {
        let mut state = self.lock();
        for _ in 0..count {
            state.faults.push_back(fault);
        }
    }

    /// Revokes every grant (the user removed the app): refresh gives `invalid_grant`, API calls 401.
    pub fn revoke_all_grants(&self) {
        self.lock().revoke_all();
    }

    /// Makes every issued access token expire now (API calls answer 401 until refreshed).
    pub fn expire_access_tokens(&self) {
        self.lock().expire_access_tokens();
    }

    /// Invalidates every issued sync token (the next incremental list answers 410 `fullSyncRequired`).
    pub fn invalidate_sync_tokens(&self) {
        self.lock().sync_tokens.clear();
    }

    /// Changes the consent behaviour.
    pub fn set_consent(&self, mode: ConsentMode) {
        self.lock().config.consent = mode;
    }

    /// Creates (or keeps) a calendar owned by `owner`; a user's primary calendar has the user's address as id.
    pub fn add_calendar(&self, owner: &str, calendar_id: &str, time_zone: &str) {
        self.lock().ensure_calendar(owner, calendar_id, time_zone);
    }

    /// Mints tokens for `user` without the consent round trip: `(access_token, refresh_token)`.
    pub fn issue_tokens(&self, user: &str, scopes: &[&str]) -> (String, String) {
        let mut state = self.lock();
        let client_id = state.config.client_id.clone();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        state.issue_grant(user, &client_id, scopes, true)
    }

    /// Inserts an event as its owner would in Google's UI (bumps sync state and notifies channels).
    pub fn seed_event(&self, calendar_id: &str, event: Value) -> Result<Value, EmulatorApiError> {
        self.lock().insert_event(calendar_id, event)
    }

    /// Applies a patch as the owner would (moves, declines, cancels…).
    pub fn patch_event(&self, calendar_id: &str, event_id: &str, patch: Value) -> Result<Value, EmulatorApiError> {
        self.lock().patch_event(calendar_id, event_id, patch, None, false)
    }

    /// Deletes an event as the owner would.
    pub fn delete_event(&self, calendar_id: &str, event_id: &str) -> Result<(), EmulatorApiError> {
        self.lock().delete_event(calendar_id, event_id, None)
    }

    /// A stored event (masters, single events, exceptions and tombstones; not generated instances).
    pub fn stored_event(&self, calendar_id: &str, event_id: &str) -> Option<Value> {
        self.lock().calendars.get(calendar_id).and_then(|c| c.events.get(event_id)).map(|e| e.json.clone())
    }

    /// Number of stored events in a calendar, tombstones included.
    pub fn stored_event_count(&self, calendar_id: &str) -> usize {
        self.lock().calendars.get(calendar_id).map_or(0, |c| c.events.len())
    }

    /// Number of Calendar API requests served so far (faulted ones included).
    pub fn api_request_count(&self) -> u64 {
        self.lock().api_requests
    }

    /// Live (not stopped) channel ids.
    pub fn channel_ids(&self) -> Vec<String> {
        self.lock().channels.keys().cloned().collect()
    }
}

/// Registers the Google routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/o/oauth2/v2/auth", web::get().to(oauth::authorize))
        .route("/o/oauth2/v2/auth/decision", web::post().to(oauth::decision))
        .route("/token", web::post().to(oauth::token))
        .route("/revoke", web::post().to(oauth::revoke))
        .service(
            web::scope("/calendar/v3")
                .route("/calendars/{calendarId}/events", web::get().to(api::list_events))
                .route("/calendars/{calendarId}/events", web::post().to(api::insert_event))
                .route("/calendars/{calendarId}/events/watch", web::post().to(api::watch))
                .route("/calendars/{calendarId}/events/{eventId}", web::get().to(api::get_event))
                .route("/calendars/{calendarId}/events/{eventId}", web::patch().to(api::patch_event))
                .route("/calendars/{calendarId}/events/{eventId}", web::put().to(api::update_event))
                .route("/calendars/{calendarId}/events/{eventId}", web::delete().to(api::delete_event))
                .route("/channels/stop", web::post().to(api::stop_channel))
                .route("/freeBusy", web::post().to(api::free_busy))
                .route("/users/me/calendarList", web::get().to(api::calendar_list)),
        )
        .service(
            web::scope("/admin")
                .route("/faults", web::post().to(admin_fault))
                .route("/revoke-all", web::post().to(admin_revoke_all))
                .route("/expire-access-tokens", web::post().to(admin_expire_tokens))
                .route("/invalidate-sync-tokens", web::post().to(admin_invalidate_sync_tokens))
                .route("/consent", web::post().to(admin_consent))
                .route("/tokens", web::post().to(admin_tokens))
                .route("/calendars/{calendarId}/events", web::post().to(admin_seed_event)),
        );
}

/// Google-shaped 404 for unknown paths.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    google_error(404, "global", "notFound", &format!("Not Found: {}", req.path()))
}

/// Google's error JSON: `{"error":{"code","message","errors":[{domain,reason,message}],"status"}}`.
pub(crate) fn google_error(code: u16, domain: &str, reason: &str, message: &str) -> HttpResponse {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        410 => "FAILED_PRECONDITION",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut error = json!({"domain": domain, "reason": reason, "message": message});
    if code == 401 {
        error["location"] = json!("Authorization");
        error["locationType"] = json!("header");
    }
    let body = json!({"error": {"code": code, "message": message, "errors": [error], "status": status}});
    let status = actix_web::http::StatusCode::from_u16(code).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(body)
}

impl From<EmulatorApiError> for HttpResponse {
    fn from(e: EmulatorApiError) -> Self {
        google_error(e.code, e.domain, e.reason, &e.message)
    }
}

pub(crate) fn pop_fault(faults: &mut VecDeque<FaultKind>) -> Option<FaultKind> {
    faults.pop_front()
}

#[derive(Debug, Deserialize)]
struct FaultBody {
    #[serde(flatten)]
    fault: FaultKind,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn admin_fault(emu: web::Data<GoogleEmulator>, body: web::Json<FaultBody>) -> HttpResponse {
    emu.inject_fault(body.fault, body.count);
    HttpResponse::NoContent().finish()
}

async fn admin_revoke_all(emu: web::Data<GoogleEmulator>) -> HttpResponse {
    emu.revoke_all_grants();
    HttpResponse::NoContent().finish()
}

async fn admin_expire_tokens(emu: web::Data<GoogleEmulator>) -> HttpResponse {
    emu.expire_access_tokens();
    HttpResponse::NoContent().finish()
}

async fn admin_invalidate_sync_tokens(emu: web::Data<GoogleEmulator>) -> HttpResponse {
    emu.invalidate_sync_tokens();
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct ConsentBody {
    mode: ConsentMode,
}

async fn admin_consent(emu: web::Data<GoogleEmulator>, body: web::Json<ConsentBody>) -> HttpResponse {
    emu.set_consent(body.mode);
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct TokensBody {
    user: Option<String>,
    scopes: Vec<String>,
}

async fn admin_tokens(emu: web::Data<GoogleEmulator>, body: web::Json<TokensBody>) -> HttpResponse {
    let user = body.user.clone().unwrap_or_else(|| emu.lock().config.default_user.clone());
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let (access, refresh) = emu.issue_tokens(&user, &scopes);
    HttpResponse::Ok().json(json!({"access_token": access, "refresh_token": refresh, "user": user}))
}

async fn admin_seed_event(emu: web::Data<GoogleEmulator>, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return google_error(400, "global", "parseError", "Parse Error"),
    };
    match emu.seed_event(&path, event) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.into(),
    }
}
