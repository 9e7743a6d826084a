//! Microsoft identity platform v2.0 + Microsoft Graph (Outlook calendar) emulator.
//!
//! Paths (relative to the emulator's base URL):
//! - `GET /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/oauth2/v2.0/token` (any tenant segment:
//!   `common`, `organizations`, `consumers`, a GUID…);
//! - Graph under `/v1.0`: `/me`, `/me/calendars`, `/me/events`, `/me/calendar/events`,
//!   `/me/calendars/{id}/events`, `/me/events/{id}`, `/me/calendarView`, `/me/calendars/{id}/calendarView`,
//!   `/me/calendarView/delta` (also `delta()` and `microsoft.graph.delta`), `/subscriptions[/{id}[/reauthorize]]`;
//! - `/admin/...`: fault injection, revocation, delta-token expiry, lifecycle notifications, seeding.
//!
//! It follows `shared/docs/provider-protocols.md` part B; `docs/providers.md` lists what it leaves out.
//!
//! ```no_run
//! use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator};
//!
//! let server = MicrosoftEmulator::start(0, MicrosoftConfig::default()).expect("emulator starts");
//! println!("MICROSOFT_AUTHORITY_URL={}", server.urls().authority_url);
//! ```

mod graph;
mod notify;
mod oauth;
mod state;
mod time;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

pub use state::GraphError;

use crate::EmulatorError;
use state::State;

/// How `/authorize` answers (there is no interactive page: the Microsoft side is for tests and scripts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MicrosoftConsent {
    /// Redirect back with a code at once.
    AutoApprove,
    /// Redirect back with `error=access_denied` (AADSTS65004, the user declined).
    AutoDeny,
}

/// Behaviour of the Microsoft emulator. Unconfirmed facts (part D) are settings here.
#[derive(Debug, Clone)]
pub struct MicrosoftConfig {
    /// The registered application (client) id.
    pub client_id: String,
    /// The registered client secret.
    pub client_secret: String,
    /// Registered redirect URIs; empty accepts any.
    pub redirect_uris: Vec<String>,
    /// Consent behaviour.
    pub consent: MicrosoftConsent,
    /// The account that signs in when the request carries no `login_hint`.
    pub default_user: String,
    /// The tenant id in notifications.
    pub tenant_id: String,
    /// Access-token lifetime (`expires_in`); the real service randomizes 60–90 minutes, tests want it short.
    pub access_token_ttl: Duration,
    /// Authorization-code lifetime (about 10 minutes in the real service).
    pub code_ttl: Duration,
    /// Whether a refresh token dies once used (the real service keeps it alive; clients must act as if not).
    pub revoke_used_refresh_tokens: bool,
    /// Default page size of `/events` and `/calendarView` (10 👀).
    pub page_size: usize,
    /// Largest `$top` / `odata.maxpagesize` honoured (undocumented upstream).
    pub max_page_size: usize,
    /// Default page size of delta rounds (undocumented upstream).
    pub delta_page_size: usize,
    /// Delta-token lifetime (`None` = until expired on demand; Outlook evicts them from a cache).
    pub delta_token_ttl: Option<Duration>,
    /// Longest subscription lifetime (10,080 minutes for Outlook events).
    pub subscription_max_lifetime: Duration,
    /// Shorter expirations are raised to this (45 minutes).
    pub subscription_min_lifetime: Duration,
    /// How long the notification URL has to answer the validation handshake (10 s).
    pub validation_timeout: Duration,
    /// Accept `http://` notification URLs (the real service wants https).
    pub allow_http_webhooks: bool,
    /// Delivery attempts of one notification when the receiver fails.
    pub notification_attempts: u32,
}

impl Default for MicrosoftConfig {
    fn default() -> Self {
        MicrosoftConfig {
            client_id: "5f0c6a4e-3b1d-4c8e-9a7f-0e2d1c3b4a59".into(),
            client_secret: "emulator-secret~microsoft".into(),
            redirect_uris: Vec::new(),
            consent: MicrosoftConsent::AutoApprove,
            default_user: "user@contoso.example".into(),
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            access_token_ttl: Duration::from_secs(4500),
            code_ttl: Duration::from_secs(600),
            revoke_used_refresh_tokens: false,
            page_size: 10,
            max_page_size: 1000,
            delta_page_size: 10,
            delta_token_ttl: None,
            subscription_max_lifetime: Duration::from_secs(10_080 * 60),
            subscription_min_lifetime: Duration::from_secs(45 * 60),
            validation_timeout: Duration::from_secs(10),
            allow_http_webhooks: true,
            notification_attempts: 3,
        }
    }
}

/// The endpoints of a running Microsoft emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicrosoftUrls {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `MICROSOFT_AUTHORITY_URL` (`…/common/oauth2/v2.0`).
    pub authority_url: String,
    /// `MICROSOFT_GRAPH_BASE_URL` (`…/v1.0`).
    pub graph_base_url: String,
    /// Fault injection, revocation, lifecycle notifications, seeding.
    pub admin_url: String,
}

impl MicrosoftUrls {
    /// The endpoints under `base`.
    pub fn new(base: &str) -> Self {
        MicrosoftUrls {
            base: base.to_owned(),
            authority_url: format!("{base}/common/oauth2/v2.0"),
            graph_base_url: format!("{base}/v1.0"),
            admin_url: format!("{base}/admin"),
        }
    }
}

/// A fault the next Graph calls answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GraphFault {
    /// 429 `TooManyRequests`, with `Retry-After` when given.
    RateLimit {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// 503 `serviceNotAvailable`, with `Retry-After` when given.
    Unavailable {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: Option<u64>,
    },
    /// 401 `InvalidAuthenticationToken`, as if the access token expired at that moment.
    Unauthorized,
    /// Answer normally after a delay.
    Slow {
        /// Delay in milliseconds.
        delay_ms: u64,
    },
}

/// Lifecycle events Graph sends to `lifecycleNotificationUrl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// Renew or reauthorize the subscription.
    ReauthorizationRequired,
    /// The subscription is gone: create a new one and resync.
    SubscriptionRemoved,
    /// Notifications were lost: resync.
    Missed,
}

impl LifecycleEvent {
    fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// Cheap, cloneable control handle of the Microsoft emulator's state.
#[derive(Debug, Clone)]
pub struct MicrosoftEmulator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    urls: MicrosoftUrls,
    http: reqwest::Client,
    notify_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<notify::Delivery>>>,
}

impl MicrosoftEmulator {
    fn new(config: MicrosoftConfig, base_url: &str) -> Result<Self, EmulatorError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let urls = MicrosoftUrls::new(base_url);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        Ok(MicrosoftEmulator {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(config, urls.graph_base_url.clone(), tx)),
                urls,
                http,
                notify_rx: Mutex::new(Some(rx)),
            }),
        })
    }

    /// Binds `127.0.0.1:port` (0 = any free port) and serves on a background thread; returns once it accepts
    /// connections.
    pub fn start(port: u16, config: MicrosoftConfig) -> Result<MicrosoftServer, EmulatorError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|source| EmulatorError::Bind { port, source })?;
        let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { port, source })?;
        let emulator = MicrosoftEmulator::new(config, &format!("http://{addr}"))?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let server_emu = emulator.clone();
        let thread = std::thread::Builder::new()
            .name("microsoft-emulator".into())
            .spawn(move || {
                actix_web::rt::System::new().block_on(async move {
                    server_emu.start_notifier();
                    let app_emu = server_emu.clone();
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(web::Data::new(app_emu.clone()))
                            .configure(routes)
                            .default_service(web::to(not_found))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = ready_tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| EmulatorError::Start(e.to_string()))?;
        let server = ready_rx.recv().map_err(|e| EmulatorError::Start(e.to_string()))?.map_err(EmulatorError::Start)?;
        Ok(MicrosoftServer { emulator, server, thread: Some(thread) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked while holding the lock leaves consistent-enough test state behind.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    fn start_notifier(&self) {
        let rx = self.inner.notify_rx.lock().ok().and_then(|mut rx| rx.take());
        if let Some(rx) = rx {
            let attempts = self.lock().config.notification_attempts;
            actix_web::rt::spawn(notify::run(self.inner.http.clone(), rx, attempts));
        }
    }

    /// The endpoints.
    pub fn urls(&self) -> &MicrosoftUrls {
        &self.inner.urls
    }

    /// The next `count` Graph calls answer with `fault`.
    pub fn inject_fault(&self, fault: GraphFault, count: u32) {
        let mut state = self.lock();
        for _ in 0..count {
            state.faults.push_back(fault);
        }
    }

    /// Revokes every grant (sessions revoked, AADSTS50173): refresh answers `invalid_grant`, Graph 401.
    pub fn revoke_all_grants(&self) {
        self.lock().revoke_all(50173);
    }

    /// Makes every issued access token expire now.
    pub fn expire_access_tokens(&self) {
        self.lock().expire_access_tokens();
    }

    /// Evicts every delta token and unfinished delta round (next use → 410 `syncStateNotFound`).
    pub fn expire_delta_tokens(&self) {
        let mut state = self.lock();
        state.delta_tokens.clear();
        state.delta_pages.clear();
    }

    /// Changes the consent behaviour.
    pub fn set_consent(&self, consent: MicrosoftConsent) {
        self.lock().config.consent = consent;
    }

    /// Mints tokens for `user` without the browser round trip: `(access_token, refresh_token)`.
    pub fn issue_tokens(&self, user: &str, scopes: &[&str]) -> (String, String) {
        let mut state = self.lock();
        let client = state.config.client_id.clone();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let offline = scopes.iter().any(|s| s == "offline_access");
        state.issue(user, &client, &scopes, offline)
    }

    /// Creates an event as its owner would in Outlook (notifies subscriptions).
    pub fn seed_event(&self, user: &str, event: Value) -> Result<Value, GraphError> {
        self.lock().create_event(user, event)
    }

    /// Patches an event or one occurrence as the owner would.
    pub fn patch_event(&self, user: &str, event_id: &str, patch: Value) -> Result<Value, GraphError> {
        self.lock().patch_event(user, event_id, patch, None)
    }

    /// Deletes an event or one occurrence as the owner would.
    pub fn delete_event(&self, user: &str, event_id: &str) -> Result<(), GraphError> {
        self.lock().delete_event(user, event_id)
    }

    /// A stored event or occurrence.
    pub fn event(&self, user: &str, event_id: &str) -> Option<Value> {
        self.lock().get_event(user, event_id).ok()
    }

    /// Number of stored events (singles and series masters) of `user`.
    pub fn stored_event_count(&self, user: &str) -> usize {
        self.lock().mailboxes.get(user).map_or(0, |m| m.events.len())
    }

    /// The id of `user`'s default calendar.
    pub fn calendar_id(&self, user: &str) -> String {
        self.lock().ensure_mailbox(user).calendar_id.clone()
    }

    /// Number of Graph requests served so far (faulted ones included).
    pub fn graph_request_count(&self) -> u64 {
        self.lock().graph_requests
    }

    /// Live subscription ids.
    pub fn subscription_ids(&self) -> Vec<String> {
        self.lock().subscriptions.keys().cloned().collect()
    }

    /// A subscription's expiry.
    pub fn subscription_expiry(&self, id: &str) -> Option<chrono::DateTime<Utc>> {
        self.lock().subscriptions.get(id).map(|s| s.expires)
    }

    /// Sends a lifecycle notification for a subscription (`subscriptionRemoved` also removes it).
    pub fn send_lifecycle(&self, subscription_id: &str, event: LifecycleEvent) -> Result<(), GraphError> {
        self.lock().lifecycle(subscription_id, event.as_str())
    }
}

/// A running Microsoft emulator; dropping it stops the server.
#[derive(Debug)]
pub struct MicrosoftServer {
    emulator: MicrosoftEmulator,
    server: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl MicrosoftServer {
    /// The endpoints.
    pub fn urls(&self) -> &MicrosoftUrls {
        self.emulator.urls()
    }

    /// Control and inspection of the emulator's state.
    pub fn emulator(&self) -> &MicrosoftEmulator {
        &self.emulator
    }

    /// Blocks the calling thread until the server stops (used by the `emulator` binary).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MicrosoftServer {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// Registers the Microsoft routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/{tenant}/oauth2/v2.0/authorize", web::get().to(oauth::authorize))
        .route("/{tenant}/oauth2/v2.0/token", web::post().to(oauth::token))
        .service(
            web::scope("/v1.0")
                .route("/me", web::get().to(graph::me))
                .route("/me/calendars", web::get().to(graph::list_calendars))
                .route("/me/events", web::get().to(graph::list_events))
                .route("/me/events", web::post().to(graph::create_event))
                .route("/me/calendar/events", web::get().to(graph::list_events))
                .route("/me/calendar/events", web::post().to(graph::create_event))
                .route("/me/calendars/{calendarId}/events", web::get().to(graph::list_events))
                .route("/me/calendars/{calendarId}/events", web::post().to(graph::create_event))
                .route("/me/events/{id}", web::get().to(graph::get_event))
                .route("/me/events/{id}", web::patch().to(graph::patch_event))
                .route("/me/events/{id}", web::delete().to(graph::delete_event))
                .route("/me/calendarView", web::get().to(graph::calendar_view))
                .route("/me/calendars/{calendarId}/calendarView", web::get().to(graph::calendar_view))
                .route("/me/calendarView/{function}", web::get().to(graph::delta))
                .route("/subscriptions", web::post().to(graph::create_subscription))
                .route("/subscriptions/{id}", web::patch().to(graph::renew_subscription))
                .route("/subscriptions/{id}", web::delete().to(graph::delete_subscription))
                .route("/subscriptions/{id}/reauthorize", web::post().to(graph::reauthorize_subscription)),
        )
        .service(
            web::scope("/admin")
                .route("/faults", web::post().to(admin_fault))
                .route("/revoke-all", web::post().to(admin_revoke_all))
                .route("/expire-access-tokens", web::post().to(admin_expire_tokens))
                .route("/expire-delta-tokens", web::post().to(admin_expire_delta))
                .route("/consent", web::post().to(admin_consent))
                .route("/tokens", web::post().to(admin_tokens))
                .route("/events", web::post().to(admin_seed_event))
                .route("/subscriptions/{id}/lifecycle", web::post().to(admin_lifecycle)),
        );
}

/// Graph's error JSON: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.
pub(crate) fn graph_error(e: &GraphError) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(e.status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let request_id = state::random_guid();
    HttpResponse::build(status).json(json!({"error": {
        "code": e.code,
        "message": e.message,
        "innerError": {
            "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": request_id,
            "client-request-id": request_id,
        },
    }}))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    graph_error(&GraphError::new(400, "BadRequest", format!("Resource not found for the segment '{}'.", req.path())))
}

#[derive(Debug, Deserialize)]
struct FaultBody {
    #[serde(flatten)]
    fault: GraphFault,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

async fn admin_fault(emu: web::Data<MicrosoftEmulator>, body: web::Json<FaultBody>) -> HttpResponse {
    emu.inject_fault(body.fault, body.count);
    HttpResponse::NoContent().finish()
}

async fn admin_revoke_all(emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    emu.revoke_all_grants();
    HttpResponse::NoContent().finish()
}

async fn admin_expire_tokens(emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    emu.expire_access_tokens();
    HttpResponse::NoContent().finish()
}

async fn admin_expire_delta(emu: web::Data<MicrosoftEmulator>) -> HttpResponse {
    emu.expire_delta_tokens();
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct ConsentBody {
    mode: MicrosoftConsent,
}

async fn admin_consent(emu: web::Data<MicrosoftEmulator>, body: web::Json<ConsentBody>) -> HttpResponse {
    emu.set_consent(body.mode);
    HttpResponse::NoContent().finish()
}

#[derive(Debug, Deserialize)]
struct TokensBody {
    user: Option<String>,
    scopes: Vec<String>,
}

async fn admin_tokens(emu: web::Data<MicrosoftEmulator>, body: web::Json<TokensBody>) -> HttpResponse {
    let user = body.user.clone().unwrap_or_else(|| emu.lock().config.default_user.clone());
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let (access, refresh) = emu.issue_tokens(&user, &scopes);
    HttpResponse::Ok().json(json!({"access_token": access, "refresh_token": refresh, "user": user}))
}

#[derive(Debug, Deserialize)]
struct SeedBody {
    user: Option<String>,
    event: Value,
}

async fn admin_seed_event(emu: web::Data<MicrosoftEmulator>, body: web::Json<SeedBody>) -> HttpResponse {
    let body = body.into_inner();
    let user = body.user.unwrap_or_else(|| emu.lock().config.default_user.clone());
    match emu.seed_event(&user, body.event) {
        Ok(v) => HttpResponse::Created().json(v),
        Err(e) => graph_error(&e),
    }
}

async fn admin_lifecycle(
    emu: web::Data<MicrosoftEmulator>,
    path: web::Path<String>,
    body: web::Json<HashMap<String, LifecycleEvent>>,
) -> HttpResponse {
    let Some(event) = body.get("event").copied() else {
        return graph_error(&GraphError::invalid(
            "body must be {\"event\": \"reauthorizationRequired|subscriptionRemoved|missed\"}",
        ));
    };
    match emu.send_lifecycle(&path, event) {
        Ok(()) => HttpResponse::Accepted().finish(),
        Err(e) => graph_error(&e),
    }
}
