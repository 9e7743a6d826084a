//! Outlook / Microsoft 365 calendars for slotwise: OAuth 2.0 on the Microsoft identity platform v2.0
//! (authorization code + PKCE S256, `offline_access`, rotating refresh tokens) and the Microsoft Graph calls of
//! two-way sync, behind the provider-neutral [`calendar_provider::CalendarProvider`] trait.
//!
//! It sits in the provider layer next to `providers-google`: the sync engine and the api-server depend on
//! `calendar-provider`, the binaries construct an [`OutlookProvider`]. It knows no storage: the caller creates,
//! binds and checks the OAuth `state`, stores the PKCE verifier and the [`calendar_provider::TokenSet`], and
//! persists every token set the provider hands back. Graph's wire types stay private to this crate.
//!
//! Behaviour, following `shared/docs/provider-protocols.md` part B:
//! - every refresh returns a new refresh token and the provider puts it into the token set, so the caller
//!   must persist it each time ([`calendar_provider::TokenSet::same_tokens`] says so); `invalid_grant`,
//!   `interaction_required` and `consent_required` on refresh are [`calendar_provider::ProviderError::Revoked`];
//! - events are created with a `transactionId` derived from the booking ([`transaction_id_for_booking`]), so
//!   a retried create after a lost answer does not produce a second event; they carry single-value extended
//!   properties ([`TENANT_PROPERTY_ID`], [`BOOKING_PROPERTY_ID`]) and the reversible `transactionId`, which
//!   sync reads back as [`calendar_provider::ExternalEvent::own`] (delta cannot `$expand` properties);
//! - every call sends `Prefer: outlook.timezone="UTC"`; reschedule is a PATCH, cancel a DELETE (404 = gone);
//! - sync is a `calendarView/delta` round over the window, following `@odata.nextLink` to the
//!   `@odata.deltaLink` (the cursor); `@removed` and `isCancelled` entries are removals; a dead delta token
//!   (410, `syncStateNotFound`, `resyncRequired`) is [`calendar_provider::SyncOutcome::CursorExpired`];
//! - watch is a Graph subscription on the events (`created,updated,deleted`, `clientState` = the channel
//!   token, a lifecycle URL), renewed with [`OutlookProvider::renew`] and deleted on unwatch; incoming
//!   traffic is parsed by [`parse_notifications`] / [`validation_token`];
//! - 429/503/504 are retried honouring `Retry-After` up to [`OutlookConfig::max_retry_wait`].
//!
//! ```
//! use providers_outlook::{marker_from_transaction_id, transaction_id_for_booking};
//!
//! let tx = transaction_id_for_booking("tenant-1", "booking-42");
//! assert_eq!(tx, transaction_id_for_booking("tenant-1", "booking-42"));
//! assert_eq!(marker_from_transaction_id(&tx).map(|m| m.booking_id), Some("booking-42".to_owned()));
//! ```
#![warn(missing_docs)]

mod config;
mod notifications;
mod oauth;
mod wire;

#[doc(hidden)]
pub mod fuzzing {
    //! The sync mapping of Graph events, reachable by the `fuzz/` targets and their corpus replay
    //! (`crates/fuzz-checks`); not part of the API.

    use calendar_provider::{ExternalEvent, ProviderError};

    /// Reads one calendarView / delta page as sync does: the ids of removed events and the mapped others
    /// (series masters skipped).
    pub fn map_events_page(json: &[u8]) -> Result<(Vec<String>, Vec<ExternalEvent>), ProviderError> {
        let page: super::WirePage =
            serde_json::from_slice(json).map_err(|e| ProviderError::Permanent(format!("delta answer: {e}")))?;
        let (mut removed, mut changed) = (Vec::new(), Vec::new());
        for item in page.value {
            if item.is_gone() {
                removed.push(item.id);
            } else if !item.is_series_master() {
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
    AuthorizationRequest, BusyInterval, CalendarProvider, EventRef, EventTiming, OutgoingEvent, PkceVerifier,
    ProviderError, ProviderKind, SyncBatch, SyncCursor, SyncOutcome, TimeWindow, TokenSet, WatchChannel, WatchRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub use config::{
    ConfigError, DEFAULT_AUTHORITY_URL, DEFAULT_GRAPH_BASE_URL, MAX_SUBSCRIPTION_LIFETIME, OutlookConfig,
    SCOPE_CALENDARS_READ_WRITE, SCOPE_OFFLINE_ACCESS, SCOPE_USER_READ,
};
pub use notifications::{
    ChangeType, GraphNotification, LifecycleAction, LifecycleEvent, NotificationError, NotificationKind,
    parse_notifications, validation_token,
};
pub use oauth::{AuthorizationResponse, CallbackError};
pub use wire::{BOOKING_PROPERTY_ID, TENANT_PROPERTY_ID, marker_from_transaction_id, transaction_id_for_booking};

use oauth::{Grant, WireToken};
use wire::{WireErrorBody, WireEvent, WirePage, WireSubscription};

/// Graph `error.code`s that mean "this delta token is dead, start a new round" (B3).
const DEAD_DELTA_CODES: &[&str] = &["syncStateNotFound", "resyncRequired", "syncStateInvalid"];

/// A failed Graph call before it is mapped to a [`ProviderError`] (callers interpret some statuses).
#[derive(Debug)]
struct ApiFailure {
    status: Option<StatusCode>,
    code: Option<String>,
    message: String,
    retry_after: Option<Duration>,
    /// Set when refreshing the access token failed: that error wins (Revoked, Transient…).
    refresh: Option<ProviderError>,
}

impl ApiFailure {
    fn transport(message: String) -> Self {
        ApiFailure { status: None, code: None, message, retry_after: None, refresh: None }
    }

    fn refresh(e: ProviderError) -> Self {
        ApiFailure { status: None, code: None, message: e.to_string(), retry_after: None, refresh: Some(e) }
    }

    fn status(&self) -> Option<u16> {
        self.status.map(|s| s.as_u16())
    }

    fn is_dead_delta(&self) -> bool {
        self.refresh.is_none()
            && (self.status() == Some(410)
                || self.code.as_deref().is_some_and(|c| DEAD_DELTA_CODES.iter().any(|d| d.eq_ignore_ascii_case(c))))
    }

    fn into_error(self) -> ProviderError {
        if let Some(e) = self.refresh {
            return e;
        }
        let detail = format!("{} ({})", self.message, self.code.as_deref().unwrap_or("no code"));
        match self.status() {
            None => ProviderError::Transient(self.message),
            Some(401) => ProviderError::Auth(detail),
            Some(404) => ProviderError::NotFound,
            Some(409) | Some(412) => ProviderError::Conflict(detail),
            Some(410) => ProviderError::Gone,
            Some(429) => ProviderError::RateLimited { retry_after: self.retry_after },
            Some(s) if s >= 500 => ProviderError::Transient(detail),
            Some(_) => ProviderError::Permanent(detail),
        }
    }
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value.trim()).ok()?.with_timezone(&Utc);
    (at - Utc::now()).to_std().ok().or(Some(Duration::ZERO))
}

fn retry_after_of(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(parse_retry_after)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether a granted scope (short or fully qualified) is `wanted`.
fn has_scope(granted: &[String], wanted: &str) -> bool {
    granted.iter().any(|s| s.rsplit('/').next().unwrap_or(s).eq_ignore_ascii_case(wanted))
}

/// The Outlook (Microsoft Graph) calendar provider.
#[derive(Debug, Clone)]
pub struct OutlookProvider {
    config: OutlookConfig,
    http: reqwest::Client,
    authorize_url: Url,
    token_url: Url,
    graph_base: Url,
}

impl OutlookProvider {
    /// Builds the provider (validates the URLs, builds one HTTP client without redirects).
    pub fn new(config: OutlookConfig) -> Result<Self, ConfigError> {
        let bad = |name: &'static str, value: &str| ConfigError::InvalidUrl { name, value: value.to_owned() };
        let authority = config.authority_url.trim_end_matches('/');
        let authorize_url = Url::parse(&format!("{authority}/authorize"))
            .map_err(|_| bad("MICROSOFT_AUTHORITY_URL", &config.authority_url))?;
        let token_url = Url::parse(&format!("{authority}/token"))
            .map_err(|_| bad("MICROSOFT_AUTHORITY_URL", &config.authority_url))?;
        let graph_base = Url::parse(&format!("{}/", config.graph_base_url.trim_end_matches('/')))
            .map_err(|_| bad("MICROSOFT_GRAPH_BASE_URL", &config.graph_base_url))?;
        Url::parse(&config.redirect_uri).map_err(|_| bad("MICROSOFT_REDIRECT_URI", &config.redirect_uri))?;
        // No redirects: the bearer token must only ever go to the configured Graph host.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(OutlookProvider { config, http, authorize_url, token_url, graph_base })
    }

    /// The configuration in use.
    pub fn config(&self) -> &OutlookConfig {
        &self.config
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.graph_base.clone();
        url.path_segments_mut()
            .map_err(|_| ProviderError::Permanent("Graph base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `/me/events` for the default calendar (`primary`), `/me/calendars/{id}/events` otherwise.
    fn events_url(&self, calendar_id: &str) -> Result<Url, ProviderError> {
        if calendar_id.is_empty() || calendar_id == "primary" {
            self.url(&["me", "events"])
        } else {
            self.url(&["me", "calendars", calendar_id, "events"])
        }
    }

    /// A link Graph handed out (nextLink, deltaLink) is followed only under the configured Graph base, so
    /// the bearer token never leaves for another host.
    fn graph_link(&self, link: &str) -> Option<Url> {
        let url = Url::parse(link).ok()?;
        let base = self.graph_base.as_str().trim_end_matches('/');
        (url.origin() == self.graph_base.origin() && url.as_str().starts_with(base)).then_some(url)
    }

    async fn token_request(&self, form: &[(&str, &str)], grant: Grant) -> Result<WireToken, ProviderError> {
        let mut body: Vec<(&str, &str)> = vec![
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose_secret()),
        ];
        body.extend_from_slice(form);
        let resp = self
            .http
            .post(self.token_url.clone())
            .header("Accept", "application/json")
            .form(&body)
            .send()
            .await
            .map_err(|e| ProviderError::Transient(format!("token endpoint: {e}")))?;
        let status = resp.status();
        let retry_after = retry_after_of(&resp);
        let text = resp.text().await.map_err(|e| ProviderError::Transient(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            return Err(oauth::map_token_error(status.as_u16(), &text, retry_after, grant));
        }
        serde_json::from_str(&text).map_err(|e| ProviderError::Transient(format!("token endpoint answer: {e}")))
    }

    fn token_set(&self, reply: WireToken, previous: Option<&TokenSet>) -> TokenSet {
        let expires_in = reply.expires_in.unwrap_or(3600);
        let scopes = match reply.scope {
            Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
            _ => previous.map(|p| p.scopes.clone()).unwrap_or_else(|| self.config.scopes.clone()),
        };
        TokenSet {
            access_token: SecretString::from(reply.access_token),
            // Microsoft rotates refresh tokens: always take the new one (keep the old only if none came back).
            refresh_token: reply
                .refresh_token
                .map(SecretString::from)
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_at: Utc::now() + chrono::Duration::seconds(i64::try_from(expires_in).unwrap_or(3600)),
            scopes,
        }
    }

    /// Sends one Graph call with token refresh (before expiry; once after a 401) and retries of 429/5xx.
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
        let prefer = format!("outlook.timezone=\"UTC\", odata.maxpagesize={}", self.config.page_size);
        let mut refreshed = false;
        let mut attempt: u32 = 0;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(tokens.access_token.expose_secret())
                .header("Prefer", &prefer);
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
                    let retry_after = retry_after_of(&resp);
                    let text = resp.text().await.unwrap_or_default();
                    let parsed = serde_json::from_str::<WireErrorBody>(&text).ok();
                    ApiFailure {
                        status: Some(status),
                        code: parsed.as_ref().map(|b| b.error.code.clone()),
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
                _ => return Err(failure),
            }
            attempt += 1;
            let wait = failure.retry_after.unwrap_or_else(|| self.config.backoff_base * 2u32.pow(attempt.min(10) - 1));
            if attempt >= self.config.max_attempts || wait > self.config.max_retry_wait {
                return Err(failure);
            }
            tracing::debug!(status = ?failure.status, ?wait, attempt, "retrying Graph call");
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

    /// Extends a subscription (`PATCH /subscriptions/{id}`), e.g. before expiry or after a
    /// `reauthorizationRequired` lifecycle event. `NotFound` means it is gone: create a new one with `watch`.
    #[tracing::instrument(skip_all, fields(subscription = %channel.channel_id))]
    pub async fn renew(
        &self,
        tokens: &mut TokenSet,
        channel: &WatchChannel,
        ttl: Duration,
    ) -> Result<WatchChannel, ProviderError> {
        let url = self.url(&["subscriptions", &channel.channel_id])?;
        let body = json!({"expirationDateTime": rfc3339(self.expiration(ttl))});
        let v = self.api(tokens, Method::PATCH, url, Some(&body)).await?;
        let sub: WireSubscription =
            serde_json::from_value(v).map_err(|e| ProviderError::Permanent(format!("subscription answer: {e}")))?;
        Ok(WatchChannel { expires_at: sub.expiration, ..channel.clone() })
    }

    /// `now + ttl`, capped a minute below the configured maximum lifetime (clock skew).
    fn expiration(&self, ttl: Duration) -> DateTime<Utc> {
        let max = self.config.max_subscription_lifetime.saturating_sub(Duration::from_secs(60));
        Utc::now() + chrono::Duration::from_std(ttl.min(max)).unwrap_or(chrono::Duration::hours(1))
    }

    /// All pages of a calendarView over `window`.
    async fn calendar_view(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        window: TimeWindow,
    ) -> Result<Vec<WireEvent>, ProviderError> {
        let mut url = if calendar_id.is_empty() || calendar_id == "primary" {
            self.url(&["me", "calendarView"])?
        } else {
            self.url(&["me", "calendars", calendar_id, "calendarView"])?
        };
        url.query_pairs_mut()
            .append_pair("startDateTime", &rfc3339(window.start()))
            .append_pair("endDateTime", &rfc3339(window.end()));
        let mut out = Vec::new();
        loop {
            let v = self.api(tokens, Method::GET, url, None).await?;
            let page: WirePage =
                serde_json::from_value(v).map_err(|e| ProviderError::Permanent(format!("calendarView answer: {e}")))?;
            out.extend(page.value);
            match page.next_link {
                Some(next) => {
                    url = self
                        .graph_link(&next)
                        .ok_or_else(|| ProviderError::Permanent(format!("nextLink outside the Graph base: {next}")))?;
                }
                None => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl CalendarProvider for OutlookProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Outlook
    }

    fn authorize(&self, state: &str) -> Result<AuthorizationRequest, ProviderError> {
        let (verifier, challenge) = oauth::pkce_pair();
        let mut url = self.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(AuthorizationRequest { url: url.to_string(), pkce_verifier: PkceVerifier::new(verifier) })
    }

    #[tracing::instrument(skip_all)]
    async fn exchange_code(&self, code: &str, verifier: &PkceVerifier) -> Result<TokenSet, ProviderError> {
        let scope = self.config.scopes.join(" ");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("code_verifier", verifier.secret()),
            ("scope", scope.as_str()),
        ];
        let reply = self.token_request(&form, Grant::Code).await?;
        let tokens = self.token_set(reply, None);
        let mut missing = Vec::new();
        if !has_scope(&tokens.scopes, SCOPE_CALENDARS_READ_WRITE) {
            missing.push(SCOPE_CALENDARS_READ_WRITE.to_owned());
        }
        if tokens.refresh_token.is_none() {
            missing.push(SCOPE_OFFLINE_ACCESS.to_owned());
        }
        if !missing.is_empty() {
            return Err(ProviderError::ScopeNotGranted { missing });
        }
        Ok(tokens)
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        let refresh = tokens
            .refresh_token
            .as_ref()
            .ok_or_else(|| ProviderError::Revoked("no refresh token stored (offline_access missing)".into()))?;
        let scope = self.config.scopes.join(" ");
        let form =
            [("grant_type", "refresh_token"), ("refresh_token", refresh.expose_secret()), ("scope", scope.as_str())];
        let reply = self.token_request(&form, Grant::Refresh).await?;
        Ok(self.token_set(reply, Some(tokens)))
    }

    /// The v2.0 protocol has no token revocation endpoint (fact sheet B1), and `revokeSignInSessions` would
    /// sign the user out of every app: disconnecting means forgetting the tokens, which the caller does.
    async fn revoke(&self, _tokens: &TokenSet) -> Result<(), ProviderError> {
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id, booking = %event.booking_id))]
    async fn create_event(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        event: &OutgoingEvent,
    ) -> Result<EventRef, ProviderError> {
        let url = self.events_url(calendar_id)?;
        // A repeated transactionId gives back the event created first (the caller's retry after a lost answer).
        let v = self.api(tokens, Method::POST, url, Some(&wire::create_body(event))).await?;
        let created: WireEvent =
            serde_json::from_value(v.clone()).map_err(|e| ProviderError::Permanent(format!("create answer: {e}")))?;
        let same_times = created.start_end().is_ok_and(|(s, e)| s == event.start && e == event.end);
        if !same_times {
            // The booking moved since the first attempt: bring the existing event up to date.
            return self.update_event(tokens, calendar_id, &created.id, event, None).await;
        }
        Ok(event_ref(&v, &created.id))
    }

    #[tracing::instrument(skip_all, fields(event = event_id))]
    async fn update_event(
        &self,
        tokens: &mut TokenSet,
        _calendar_id: &str,
        event_id: &str,
        event: &OutgoingEvent,
        etag: Option<String>,
    ) -> Result<EventRef, ProviderError> {
        let url = self.url(&["me", "events", event_id])?;
        let body = wire::event_body(event);
        let v = self
            .call(tokens, Method::PATCH, url, Some(&body), etag.as_deref())
            .await
            .map_err(ApiFailure::into_error)?;
        Ok(event_ref(&v, event_id))
    }

    #[tracing::instrument(skip_all, fields(event = event_id))]
    async fn delete_event(
        &self,
        tokens: &mut TokenSet,
        _calendar_id: &str,
        event_id: &str,
    ) -> Result<(), ProviderError> {
        let url = self.url(&["me", "events", event_id])?;
        match self.call(tokens, Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.status(), Some(404) | Some(410)) => Ok(()),
            Err(f) => Err(f.into_error()),
        }
    }

    /// Delta is documented for the default calendar only (B3), so `calendar_id` is not used here.
    #[tracing::instrument(skip_all, fields(calendar = calendar_id))]
    async fn sync(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        cursor: SyncCursor,
    ) -> Result<SyncOutcome, ProviderError> {
        let incremental = matches!(cursor, SyncCursor::Incremental(_));
        let mut url = match &cursor {
            SyncCursor::Full(window) => {
                let mut url = self.url(&["me", "calendarView", "delta"])?;
                url.query_pairs_mut()
                    .append_pair("startDateTime", &rfc3339(window.start()))
                    .append_pair("endDateTime", &rfc3339(window.end()));
                url
            }
            SyncCursor::Incremental(delta_link) => match self.graph_link(delta_link) {
                Some(url) => url,
                // A cursor from another Graph base (configuration changed): start over.
                None => return Ok(SyncOutcome::CursorExpired),
            },
        };
        let mut changed = Vec::new();
        let mut removed = Vec::new();
        loop {
            let page = match self.call(tokens, Method::GET, url, None, None).await {
                Ok(v) => v,
                Err(f) if f.is_dead_delta() && incremental => return Ok(SyncOutcome::CursorExpired),
                Err(f) if f.is_dead_delta() => {
                    return Err(ProviderError::Transient(format!("delta round expired while paging: {}", f.message)));
                }
                Err(f) => return Err(f.into_error()),
            };
            let page: WirePage =
                serde_json::from_value(page).map_err(|e| ProviderError::Permanent(format!("delta answer: {e}")))?;
            for item in page.value {
                if item.is_gone() {
                    removed.push(item.id);
                } else if !item.is_series_master() {
                    changed.push(item.into_external()?);
                }
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    url = self
                        .graph_link(&next)
                        .ok_or_else(|| ProviderError::Permanent(format!("nextLink outside the Graph base: {next}")))?;
                }
                (None, Some(delta)) => {
                    // The same change can be replayed: keep the last state per id.
                    changed.reverse();
                    let mut seen = std::collections::HashSet::new();
                    changed.retain(|e: &calendar_provider::ExternalEvent| seen.insert(e.id.clone()));
                    changed.reverse();
                    changed.retain(|e| !removed.contains(&e.id));
                    return Ok(SyncOutcome::Changes(SyncBatch { changed, removed, next_cursor: delta }));
                }
                (None, None) => {
                    return Err(ProviderError::Permanent("delta page without nextLink or deltaLink".into()));
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(calendar = calendar_id))]
    async fn watch(
        &self,
        tokens: &mut TokenSet,
        calendar_id: &str,
        request: &WatchRequest,
    ) -> Result<WatchChannel, ProviderError> {
        let resource = if calendar_id.is_empty() || calendar_id == "primary" {
            "me/events".to_owned()
        } else {
            format!("me/calendars/{calendar_id}/events")
        };
        let lifecycle = self.config.lifecycle_notification_url.clone().unwrap_or_else(|| request.address.clone());
        let body = json!({
            "changeType": "created,updated,deleted",
            "notificationUrl": request.address,
            "lifecycleNotificationUrl": lifecycle,
            "resource": resource,
            "expirationDateTime": rfc3339(self.expiration(request.ttl)),
            "clientState": request.token.expose_secret(),
            "latestSupportedTlsVersion": "v1_2",
        });
        let url = self.url(&["subscriptions"])?;
        let v = self.api(tokens, Method::POST, url, Some(&body)).await?;
        let sub: WireSubscription =
            serde_json::from_value(v).map_err(|e| ProviderError::Permanent(format!("subscription answer: {e}")))?;
        Ok(WatchChannel {
            channel_id: sub.id,
            resource_id: if sub.resource.is_empty() { resource } else { sub.resource },
            token: request.token.clone(),
            expires_at: sub.expiration,
        })
    }

    #[tracing::instrument(skip_all, fields(subscription = %channel.channel_id))]
    async fn unwatch(&self, tokens: &mut TokenSet, channel: &WatchChannel) -> Result<(), ProviderError> {
        let url = self.url(&["subscriptions", &channel.channel_id])?;
        match self.call(tokens, Method::DELETE, url, None, None).await {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.status(), Some(404) | Some(410)) => Ok(()),
            Err(f) => Err(f.into_error()),
        }
    }

    /// Busy periods from a calendarView per calendar (all-day events count from UTC midnight to UTC midnight).
    #[tracing::instrument(skip_all)]
    async fn free_busy(
        &self,
        tokens: &mut TokenSet,
        calendar_ids: &[String],
        window: TimeWindow,
    ) -> Result<BTreeMap<String, Vec<BusyInterval>>, ProviderError> {
        let mut out = BTreeMap::new();
        for id in calendar_ids {
            let mut busy = Vec::new();
            for item in self.calendar_view(tokens, id, window).await? {
                if item.is_gone() || !item.blocks_time() || item.is_series_master() {
                    continue;
                }
                let (start, end) = match item.into_external()?.timing {
                    EventTiming::Timed { start, end } => (start, end),
                    EventTiming::AllDay { start, end } => (
                        start.and_time(chrono::NaiveTime::MIN).and_utc(),
                        end.and_time(chrono::NaiveTime::MIN).and_utc(),
                    ),
                };
                busy.push(BusyInterval { start: start.max(window.start()), end: end.min(window.end()) });
            }
            busy.sort_by_key(|b| b.start);
            out.insert(id.clone(), busy);
        }
        Ok(out)
    }
}

fn event_ref(v: &Value, id: &str) -> EventRef {
    EventRef {
        id: v.get("id").and_then(Value::as_str).unwrap_or(id).to_owned(),
        etag: v.get("@odata.etag").and_then(Value::as_str).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Tue, 19 Nov 2013 01:13:52 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn links_are_followed_only_under_the_graph_base() {
        let mut config = OutlookConfig::new("cid", "secret", "http://127.0.0.1:9/cb");
        config.graph_base_url = "http://127.0.0.1:9/v1.0".into();
        let provider = OutlookProvider::new(config).unwrap();
        assert!(provider.graph_link("http://127.0.0.1:9/v1.0/me/calendarView/delta?$deltatoken=x").is_some());
        assert!(provider.graph_link("http://evil.example/v1.0/me/calendarView/delta").is_none());
        assert!(provider.graph_link("http://127.0.0.1:9/other").is_none());
    }

    #[test]
    fn scopes_match_short_or_qualified() {
        let granted = vec!["https://graph.microsoft.com/Calendars.ReadWrite".to_owned()];
        assert!(has_scope(&granted, "calendars.readwrite"));
        assert!(!has_scope(&granted, "User.Read"));
    }
}
