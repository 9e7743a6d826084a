//! Google Calendar for slotwise: OAuth 2.0 (authorization code + PKCE S256, offline access) and the Calendar
//! API v3 calls of two-way sync, behind the provider-neutral [`calendar_provider::CalendarProvider`] trait.
//!
//! It sits in the provider layer: the sync engine and the api-server depend on `calendar-provider`, the
//! binaries construct a [`GoogleProvider`]. It knows no storage: the caller creates, binds and checks the
//! OAuth `state`, stores the PKCE verifier and the [`calendar_provider::TokenSet`], and persists a token set
//! the provider refreshed. Wire types stay private to this crate.
//!
//! Behaviour, following `shared/docs/provider-protocols.md` part A:
//! - event ids are base32hex, derived from the booking id ([`event_id_for_booking`]), so a retried insert can
//!   never duplicate (409 = already done, the existing event is returned and brought up to date);
//! - our events carry `extendedProperties.private` tags ([`TENANT_KEY`], [`BOOKING_KEY`]) so sync recognises
//!   them ([`calendar_provider::ExternalEvent::own`]);
//! - delete treats 404/410 as already gone; sync pages a `singleEvents=true` full sync, then uses
//!   `nextSyncToken`; a 410 on a sync token is [`calendar_provider::SyncOutcome::CursorExpired`];
//! - access tokens are refreshed before expiry and once after a 401; `invalid_grant` is
//!   [`calendar_provider::ProviderError::Revoked`]; 429/5xx are retried honouring `Retry-After` up to
//!   [`GoogleConfig::max_retry_wait`].
//!
//! ```
//! use providers_google::event_id_for_booking;
//!
//! let id = event_id_for_booking("0192f0c6-6a43-7e1c-9d1a-7b9f6a3c2e10");
//! assert!(id.chars().all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)));
//! assert_eq!(id, event_id_for_booking("0192f0c6-6a43-7e1c-9d1a-7b9f6a3c2e10"));
//! ```
#![warn(missing_docs)]

mod config;
mod push;
mod wire;

#[doc(hidden)]
pub mod fuzzing {
    //! The sync mapping of Calendar API events, reachable by the `fuzz/` targets and their corpus replay
    //! (`crates/fuzz-checks`); not part of the API.

    use calendar_provider::{ExternalEvent, ProviderError};

    /// Reads one `events.list` page as sync does: the ids of cancelled events and the mapped others.
    pub fn map_events_page(json: &[u8]) -> Result<(Vec<String>, Vec<ExternalEvent>), ProviderError> {
        let page: super::WireEvents =
            serde_json::from_slice(json).map_err(|e| ProviderError::Permanent(format!("events.list answer: {e}")))?;
        let (mut removed, mut changed) = (Vec::new(), Vec::new());
        for item in page.items {
            if item.is_cancelled() {
                removed.push(item.id);
            } else {
                changed.push(item.into_external()?);
            }
        }
        Ok((removed, changed))
    }
}

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use calendar_provider::{
    AuthorizationRequest, BusyInterval, CalendarProvider, EventRef, OutgoingEvent, PkceVerifier, ProviderError,
    ProviderKind, SyncBatch, SyncCursor, SyncOutcome, TimeWindow, TokenSet, WatchChannel, WatchRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use config::{
    ConfigError, DEFAULT_API_BASE_URL, DEFAULT_AUTH_URL, DEFAULT_REVOKE_URL, DEFAULT_TOKEN_URL, GoogleConfig,
    SCOPE_EVENTS, SCOPE_FREEBUSY,
};
pub use push::{NotificationError, PushNotification, ResourceState};
pub use wire::{BOOKING_KEY, TENANT_KEY};

use wire::{WireChannel, WireErrorBody, WireEvents, WireFreeBusy};

type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type TokenResponseOf = oauth2::StandardTokenResponse<oauth2::EmptyExtraTokenFields, BasicTokenType>;

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The Google event id of a booking's event: base32hex (lowercase, no padding) of SHA-256 of the booking
/// id, 52 characters. Deterministic, so a retried insert hits the same id.
pub fn event_id_for_booking(booking_id: &str) -> String {
    let digest = Sha256::digest(format!("slotwise-booking:{booking_id}").as_bytes());
    let mut out = String::with_capacity(52);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in digest {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32HEX[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32HEX[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// What the browser brought back to our callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The single-use authorization code.
    pub code: String,
    /// The `state` to validate (the caller checks it is known, unused, unexpired and bound to the employee).
    pub state: String,
    /// Granted scopes as Google reported them on the redirect.
    pub scopes: Vec<String>,
}

/// A callback that carries no usable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The user (or policy) refused: `error=access_denied` and friends.
    #[error("authorization refused: {error}")]
    Denied {
        /// Google's `error` value.
        error: String,
        /// The `state`, when present.
        state: Option<String>,
    },
    /// `code` or `state` is missing.
    #[error("callback without {0}")]
    Missing(&'static str),
}

impl AuthorizationResponse {
    /// Parses the callback's query string (unknown parameters such as `authuser` are ignored).
    pub fn from_query(query: &str) -> Result<Self, CallbackError> {
        let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://callback.invalid/?{query}"))
            .map_or_else(|_| Vec::new(), |u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect());
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(error) = get("error") {
            return Err(CallbackError::Denied { error, state: get("state") });
        }
        Ok(AuthorizationResponse {
            code: get("code").ok_or(CallbackError::Missing("code"))?,
            state: get("state").ok_or(CallbackError::Missing("state"))?,
            scopes: get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        })
    }
}

/// A failed API call before it is mapped to a [`ProviderError`] (callers interpret some statuses).
#[derive(Debug)]
struct ApiFailure {
    status: Option<StatusCode>,
    reason: Option<String>,
    message: String,
    retry_after: Option<Duration>,
    /// Set when refreshing the access token failed: that error wins (Revoked, Transient…).
    refresh: Option<ProviderError>,
}

impl ApiFailure {
    fn transport(message: String) -> Self {
        ApiFailure { status: None, reason: None, message, retry_after: None, refresh: None }
    }

    fn refresh(e: ProviderError) -> Self {
        ApiFailure { status: None, reason: None, message: e.to_string(), retry_after: None, refresh: Some(e) }
    }
}

impl ApiFailure {
    fn status(&self) -> Option<u16> {
        self.status.map(|s| s.as_u16())
    }

    fn into_error(self) -> ProviderError {
        if let Some(e) = self.refresh {
            return e;
        }
        let detail = format!("{} ({})", self.message, self.reason.as_deref().unwrap_or("no reason"));
        match self.status() {
            None => ProviderError::Transient(self.message),
            Some(401) => ProviderError::Auth(detail),
            Some(403) if is_rate_reason(self.reason.as_deref()) => {
                ProviderError::RateLimited { retry_after: self.retry_after }
            }
            Some(404) => ProviderError::NotFound,
            Some(409) | Some(412) => ProviderError::Conflict(detail),
            Some(410) => ProviderError::Gone,
            Some(429) => ProviderError::RateLimited { retry_after: self.retry_after },
            Some(s) if s >= 500 => ProviderError::Transient(detail),
            Some(_) => ProviderError::Permanent(detail),
        }
    }
}

fn is_rate_reason(reason: Option<&str>) -> bool {
    matches!(reason, Some("rateLimitExceeded" | "userRateLimitExceeded"))
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The Google Calendar provider.
#[derive(Debug, Clone)]
pub struct GoogleProvider {
    config: GoogleConfig,
    oauth: OAuthClient,
    http: reqwest::Client,
    api_base: Url,
    revoke_url: Url,
}

impl GoogleProvider {
    /// Builds the provider (validates the URLs, builds one HTTP client without redirects).
    pub fn new(config: GoogleConfig) -> Result<Self, ConfigError> {
        let bad = |name: &'static str, value: &str| ConfigError::InvalidUrl { name, value: value.to_owned() };
        let oauth = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose_secret().to_owned()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(config.auth_url.clone()).map_err(|_| bad("GOOGLE_AUTH_URL", &config.auth_url))?)
            .set_token_uri(
                TokenUrl::new(config.token_url.clone()).map_err(|_| bad("GOOGLE_TOKEN_URL", &config.token_url))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_uri.clone())
                    .map_err(|_| bad("GOOGLE_REDIRECT_URI", &config.redirect_uri))?,
            );
        // No redirects: the token endpoint must answer itself (and oauth2 requires it to avoid SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let base = format!("{}/", config.api_base_url.trim_end_matches('/'));
        let api_base = Url::parse(&base).map_err(|_| bad("GOOGLE_API_BASE_URL", &config.api_base_url))?;
        // Revocation is a plain form POST: oauth2's RFC 7009 client insists on https, which the emulator is not.
        let revoke_url = Url::parse(&config.revoke_url).map_err(|_| bad("GOOGLE_REVOKE_URL", &config.revoke_url))?;
        Ok(GoogleProvider { config, oauth, http, api_base, revoke_url })
    }

    /// The configuration in use.
    pub fn config(&self) -> &GoogleConfig {
        &self.config
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .map_err(|_| ProviderError::Permanent("API base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn token_set(&self, response: &TokenResponseOf, previous: Option<&TokenSet>) -> TokenSet {
        let expires_in = response.expires_in().unwrap_or(Duration::from_secs(3600));
        let scopes = match response.scopes() {
            Some(scopes) => scopes.iter().map(|s| s.to_string()).collect(),
            None => previous.map(|p| p.scopes.clone()).unwrap_or_else(|| self.config.scopes.clone()),
        };
        TokenSet {
            access_token: SecretString::from(response.access_token().secret().to_owned()),
            // Google does not rotate refresh tokens: keep the old one when none is returned.
            refresh_token: response
                .refresh_token()
                .map(|t| SecretString::from(t.secret().to_owned()))
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_at: Utc::now() + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::hours(1)),
            scopes,
        }
    }

    /// Sends one API call with token refresh (before expiry; once after a 401) and retries of 429/5xx.
    async fn call(
        &self,
        tokens: &mut TokenSet,
        method: Method,
        url: Url,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Value, ApiFailure> {
        if tokens.expires_within(Utc::now(), self.config.refresh_margin) {
            *tokens = self.refresh(tokens).await.map_err(ApiFailure::refresh)?;
        }
        let mut refreshed = false;
        let mut attempt: u32 = 0;
        loop {
            let mut request =
                self.http.request(method.clone(), url.clone()).bearer_auth(tokens.access_token.expose_secret());
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(tag) = if_match {
                request = request.header("If-Match", tag);
            }
            let failure = match request.send().await {
                Ok(resp) if resp.status().is_success() => {
                    if resp.status() == StatusCode::NO_CONTENT {
                        return Ok(Value::Null);
                    }
                    let text = resp.text().await.map_err(|e| ApiFailure::transport(e.to_string()))?;
                    if text.trim().is_empty() {
                        return Ok(Value::Null);
                    }
                    return serde_json::from_str(&text)
                        .map_err(|e| ApiFailure::transport(format!("unparsable answer: {e}")));
                }
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after =
                        resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                    let text = resp.text().await.unwrap_or_default();
                    let parsed = serde_json::from_str::<WireErrorBody>(&text).ok();
                    ApiFailure {
                        status: Some(status),
                        reason: parsed.as_ref().and_then(|b| b.error.errors.first()).and_then(|r| r.reason.clone()),
                        message: parsed.map(|b| b.error.message).unwrap_or_else(|| status.to_string()),
                        retry_after,
                        refresh: None,
                    }
                }
                Err(e) => ApiFailure::transport(e.to_string()),
            };
            match failure.status() {
                Some(401) if !refreshed => {
                    refreshed = true;
                    *tokens = self.refresh(tokens).await.map_err(ApiFailure::refresh)?;
                    continue;
                }
                Some(429) | Some(500) | Some(502) | Some(503) | Some(504) | None => {}
                Some(403) if is_rate_reason(failure.reason.as_deref()) => {}
                _ => return Err(failure),
            }
            attempt += 1;
            let wait = failure.retry_after.unwrap_or_else(|| self.config.backoff_base * 2u32.pow(attempt.min(10) - 1));
            if attempt >= self.config.max_attempts || wait > self.config.max_retry_wait {
                return Err(failure);
            }
            tracing::debug!(status = ?failure.status, ?wait, attempt, "retrying Google API call");
            tokio::time::sleep(wait).await;
        }
    }

    async fn api(
        &self,
        tokens: &mut TokenSet,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        self.call(tokens, method, url, body, None).await.map_err(ApiFailure::into_error)
    }
}

impl From<ApiFailure> for ProviderError {
    fn from(f: ApiFailure) -> Self {
        f.into_error()
    }
}

/// Which token request failed: `invalid_grant` means "revoked" only for a refresh; on a code exchange it
/// means a bad, used or expired code or a wrong PKCE verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Code,
    Refresh,
}

fn map_token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    grant: Grant,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let description = r.error_description().cloned().unwrap_or_default();
            match r.error() {
                BasicErrorResponseType::InvalidGrant if grant == Grant::Refresh => ProviderError::Revoked(description),
                BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => {
                    ProviderError::Permanent(format!("{}: {description}", r.error()))
                }
                other => ProviderError::Permanent(format!("{other}: {description}")),
            }
        }
        RequestTokenError::Request(e) => ProviderError::Transient(e.to_string()),
        RequestTokenError::Parse(e, _) => ProviderError::Transient(format!("token endpoint answer: {e}")),
        RequestTokenError::Other(m) => ProviderError::Transient(m),
    }
}

#[async_trait]
impl CalendarProvider for GoogleProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Google
    }

    fn authorize(&self, state: &str) -> Result<AuthorizationRequest, ProviderError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let (url, _) = self
            .oauth
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("access_type", "offline")
            .add_extra_param("prompt", "consent")
            .add_extra_param("include_granted_scopes", "true")
            .url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            pkce_verifier: PkceVerifier::new(verifier.secret().to_owned()),
        })
    }

    #[tracing::instrument(skip_all)]
    async fn exchange_code(&self, code: &str, verifier: &PkceVerifier) -> Result<TokenSet, ProviderError> {
        let response = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| map_token_error(e, Grant::Code))?;
        let tokens = self.token_set(&response, None);
        let missing: Vec<String> = self
            .config
            .scopes
            .iter()
            .filter(|s| s.as_str() == SCOPE_EVENTS && !tokens.scopes.contains(s))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ProviderError::ScopeNotGranted { missing });
        }
        if tokens.refresh_token.is_none() {
            return Err(ProviderError::Permanent("no refresh token issued (offline access not granted)".into()));
        }
        Ok(tokens)
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        let refresh = tokens
            .refresh_token
            .as_ref()
            .ok_or_else(|| ProviderError::Revoked("the connection has no refresh token".into()))?;
        let response = self
            .oauth
            .exchange_refresh_token(&RefreshToken::new(refresh.expose_secret().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| map_token_error(e, Grant::Refresh))?;
        Ok(self.token_set(&response, Some(tokens)))
    }

    #[tracing::instrument(skip_all)]
    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError> {
        // Revoking the refresh token kills the whole grant (its access tokens too).
        let token = tokens.refresh_token.as_ref().unwrap_or(&tokens.access_token);
        let response = self
            .http
            .post(self.revoke_url.clone())
            .form(&[("token", token.expose_secret())])
            .send()
            .await
            .map_err(|e| ProviderError::Transient(e.to_string()))?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            // 400 invalid_token: the grant is already dead, which is what a disconnect wants.
            400 => Ok(()),
            s if s == 429 || s >= 500 => Err(ProviderError::Transient(format!("revoke answered {s}"))),
            s => Err(ProviderError::Permanent(format!("revoke answered {s}"))),
        }
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id, booking = %event.booking_id))]
    async fn create_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event: &OutgoingEvent,
    ) -> Result<EventRef, ProviderError> {
        let id = event_id_for_booking(&event.booking_id);
        let mut body = wire::event_body(event)?;
        body["id"] = json!(id);
        let mut url = self.url(&["calendars", calendar_id, "events"])?;
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        match self.call(tokens, Method::POST, url, Some(&body), None).await {
            Ok(v) => Ok(event_ref(&v, &id)),
            Err(f) if f.status() == Some(409) => {
                // Already done (a retry after a lost answer): return the event, brought up to date.
                let url = self.url(&["calendars", calendar_id, "events", &id])?;
                let existing = self.call(tokens, Method::GET, url, None, None).await.map_err(ApiFailure::into_error)?;
                if existing.get("status").and_then(Value::as_str) == Some("cancelled") {
                    return Err(ProviderError::Conflict(format!("event {id} of this booking was deleted")));
                }
                if wire::matches(&existing, event) {
                    return Ok(event_ref(&existing, &id));
                }
                self.update_event(tokens, calendar_id, &id, event, None).await
            }
            Err(f) => Err(ApiFailure::into_error(f)),
        }
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id, event = event_id))]
    async fn update_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event_id: &str,
        event: &OutgoingEvent,
        etag: Option<String>,
    ) -> Result<EventRef, ProviderError> {
        let body = wire::event_body(event)?;
        let mut url = self.url(&["calendars", calendar_id, "events", event_id])?;
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        let v = self
            .call(tokens, Method::PATCH, url, Some(&body), etag.as_deref())
            .await
            .map_err(ApiFailure::into_error)?;
        Ok(event_ref(&v, event_id))
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id, event = event_id))]
    async fn delete_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let mut url = self.url(&["calendars", calendar_id, "events", event_id])?;
        url.query_pairs_mut().append_pair("sendUpdates", "none");
        match self.call(tokens, Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.status(), Some(404) | Some(410)) => Ok(()),
            Err(f) => Err(ApiFailure::into_error(f)),
        }
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id))]
    async fn sync(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        cursor: SyncCursor,
    ) -> Result<SyncOutcome, ProviderError> {
        let incremental = matches!(cursor, SyncCursor::Incremental(_));
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        let mut page_token: Option<String> = None;
        loop {
            let mut url = self.url(&["calendars", calendar_id, "events"])?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("singleEvents", "true");
                q.append_pair("maxResults", &self.config.page_size.to_string());
                match &cursor {
                    SyncCursor::Full(window) => {
                        q.append_pair("timeMin", &rfc3339(window.start()));
                        q.append_pair("timeMax", &rfc3339(window.end()));
                    }
                    SyncCursor::Incremental(token) => {
                        q.append_pair("syncToken", token);
                    }
                }
                if let Some(p) = &page_token {
                    q.append_pair("pageToken", p);
                }
            }
            let page = match self.call(tokens, Method::GET, url, None, None).await {
                Ok(v) => v,
                Err(f) if incremental && f.status() == Some(410) => return Ok(SyncOutcome::CursorExpired),
                Err(f) => return Err(ApiFailure::into_error(f)),
            };
            let page: WireEvents = serde_json::from_value(page)
                .map_err(|e| ProviderError::Permanent(format!("events.list answer: {e}")))?;
            for item in page.items {
                if item.is_cancelled() {
                    removed.push(item.id);
                } else {
                    changed.push(item.into_external()?);
                }
            }
            match (page.next_page_token, page.next_sync_token) {
                (Some(next), _) => page_token = Some(next),
                (None, Some(sync)) => {
                    return Ok(SyncOutcome::Changes(SyncBatch { changed, removed, next_cursor: sync }));
                }
                (None, None) => {
                    return Err(ProviderError::Permanent("events.list ended without nextSyncToken".into()));
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id, channel = %request.channel_id))]
    async fn watch(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError> {
        let url = self.url(&["calendars", calendar_id, "events", "watch"])?;
        let body = json!({
            "id": request.channel_id,
            "type": "web_hook",
            "address": request.address,
            "token": request.token.expose_secret(),
            "params": {"ttl": request.ttl.as_secs().to_string()},
        });
        let v = self.api(tokens, Method::POST, url, Some(&body)).await?;
        let channel: WireChannel =
            serde_json::from_value(v).map_err(|e| ProviderError::Permanent(format!("events.watch answer: {e}")))?;
        let expires_at =
            channel.expiration.and_then(|ms| ms.parse::<i64>().ok()).and_then(DateTime::<Utc>::from_timestamp_millis);
        Ok(WatchChannel {
            channel_id: request.channel_id.clone(),
            resource_id: channel.resource_id,
            token: request.token.clone(),
            expires_at,
        })
    }

    #[tracing::instrument(skip_all, fields(channel = %channel.channel_id))]
    async fn unwatch(&self, tokens: &mut TokenSet, channel: &WatchChannel) -> Result<(), ProviderError> {
        let url = self.url(&["channels", "stop"])?;
        let body = json!({"id": channel.channel_id, "resourceId": channel.resource_id});
        match self.call(tokens, Method::POST, url, Some(&body), None).await {
            Ok(_) => Ok(()),
            Err(f) if f.status() == Some(404) => Ok(()),
            Err(f) => Err(ApiFailure::into_error(f)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn free_busy(
        &self,
        tokens: &mut TokenSet,
        calendar_ids: &[String],
        window: TimeWindow,
    ) -> Result<BTreeMap<String, Vec<BusyInterval>>, ProviderError> {
        let url = self.url(&["freeBusy"])?;
        let body = json!({
            "timeMin": rfc3339(window.start()),
            "timeMax": rfc3339(window.end()),
            "items": calendar_ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
        });
        let v = self.api(tokens, Method::POST, url, Some(&body)).await?;
        let answer: WireFreeBusy =
            serde_json::from_value(v).map_err(|e| ProviderError::Permanent(format!("freeBusy answer: {e}")))?;
        let mut out = BTreeMap::new();
        for (id, cal) in answer.calendars {
            if let Some(err) = cal.errors.first() {
                return Err(match err.reason.as_deref() {
                    Some("notFound") => ProviderError::NotFound,
                    other => ProviderError::Transient(format!("freeBusy {id}: {}", other.unwrap_or("error"))),
                });
            }
            out.insert(id, cal.busy.into_iter().map(|b| BusyInterval { start: b.start, end: b.end }).collect());
        }
        Ok(out)
    }
}

fn event_ref(v: &Value, id: &str) -> EventRef {
    EventRef {
        id: v.get("id").and_then(Value::as_str).unwrap_or(id).to_owned(),
        etag: v.get("etag").and_then(Value::as_str).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_base32hex_and_distinct() {
        let a = event_id_for_booking("b1");
        let b = event_id_for_booking("b2");
        assert_eq!(a.len(), 52);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| BASE32HEX.contains(&c)));
    }

    #[test]
    fn callback_query_parsing() {
        let ok = AuthorizationResponse::from_query("state=s1&code=4%2Fabc&scope=a%20b&authuser=0").unwrap();
        assert_eq!((ok.code.as_str(), ok.state.as_str(), ok.scopes.len()), ("4/abc", "s1", 2));
        let denied = AuthorizationResponse::from_query("error=access_denied&state=s1").unwrap_err();
        assert_eq!(denied, CallbackError::Denied { error: "access_denied".into(), state: Some("s1".into()) });
        assert_eq!(AuthorizationResponse::from_query("state=s1").unwrap_err(), CallbackError::Missing("code"));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Tue, 19 Nov 2013 01:13:52 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
