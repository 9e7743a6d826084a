//! Request extractors: JSON bodies with contract errors, tenant and operator auth.

use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use governor::{Quota, RateLimiter, clock::Clock as _};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1 << 20;

type KeyedLimiter = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    governor::clock::DefaultClock,
    governor::middleware::NoOpMiddleware,
>;

/// Push notifications accepted per second from one source address, and per connection.
const WEBHOOK_RATE_PER_SOURCE: NonZeroU32 = NonZeroU32::new(100).unwrap();
/// Short bursts above the rate (Graph and Google retry in bursts after an outage).
const WEBHOOK_BURST: NonZeroU32 = NonZeroU32::new(200).unwrap();
/// A connection's own budget: real providers send a few notifications a second at most.
const WEBHOOK_RATE_PER_CONNECTION: u32 = 20;

/// Shared state of every handler.
pub struct AppState {
    /// The database.
    pub store: store::Store,
    /// The configuration read at start-up.
    pub config: Config,
    operator_token_hash: Option<[u8; 32]>,
    limiter: KeyedLimiter,
    /// Provider push notifications per source address (`source:<ip>`) and per
    /// connection (`connection:<id>`): a flood is refused before it costs a sync.
    webhook_limiter: KeyedLimiter,
    /// Request and booking metrics.
    pub metrics: Arc<crate::observe::Metrics>,
    clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// The sync engine: connecting calendars, reacting to push notifications, sync status.
    /// Its loop runs in-process only when `Config::run_worker` is on.
    pub sync: Arc<sync_engine::Worker>,
    /// Availability answers and API key lookups ([`crate::cache`]).
    pub cache: crate::cache::Caches,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store.backend_name()).finish_non_exhaustive()
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl AppState {
    /// State over a store and sync engine, with a clock of the caller's (tests fix it).
    pub fn with_clock(
        store: store::Store,
        config: Config,
        clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
        sync: Arc<sync_engine::Worker>,
    ) -> Self {
        let per_second = NonZeroU32::new(config.rate_limit_per_key).unwrap_or(NonZeroU32::MIN);
        AppState {
            store,
            operator_token_hash: config.operator_token.as_ref().map(|t| digest(t.expose_secret())),
            limiter: RateLimiter::keyed(Quota::per_second(per_second)),
            webhook_limiter: RateLimiter::keyed(Quota::per_second(WEBHOOK_RATE_PER_SOURCE).allow_burst(WEBHOOK_BURST)),
            metrics: Arc::new(crate::observe::Metrics::default()),
            cache: crate::cache::Caches::new(std::time::Duration::from_millis(config.availability_cache_ms)),
            config,
            clock,
            sync,
        }
    }

    /// Counts one push notification against `key` (`source:<ip>` or
    /// `connection:<id>`); `Err` is a 429 with the wait in Retry-After.
    pub fn webhook_allowed(&self, key: String) -> Result<(), ApiError> {
        // A connection's budget is a fraction of a source's: its key counts several times.
        let weight = if key.starts_with("connection:") {
            WEBHOOK_RATE_PER_SOURCE.get() / WEBHOOK_RATE_PER_CONNECTION
        } else {
            1
        };
        let weight = NonZeroU32::new(weight).unwrap_or(NonZeroU32::MIN);
        match self.webhook_limiter.check_key_n(&key, weight) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Err(ApiError::rate_limited(wait.as_secs().max(1)))
            }
            Err(_) => Err(ApiError::rate_limited(1)),
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn is_operator_token(&self, token: &str) -> bool {
        // Compared as SHA-256 digests, so the comparison's time says nothing about the token.
        self.operator_token_hash.is_some_and(|h| h == digest(token))
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_owned())
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))
}

/// The calling tenant, authenticated by its API key and within its rate limit.
#[derive(Debug, Clone)]
pub struct TenantAuth(pub store::Tenant);

impl FromRequest for TenantAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let state = state(req);
        // Present when the request may write: the cache middleware bumps this tenant's generation.
        let authenticated = req.extensions().get::<crate::cache::AuthenticatedTenant>().cloned();
        Box::pin(async move {
            let state = state?;
            let token = token.ok_or_else(|| ApiError::unauthorized("missing bearer API key"))?;
            if state.is_operator_token(&token) {
                return Err(ApiError::unauthorized("the operator token is not a tenant API key"));
            }
            let key_hash = store::sha256_hex(token.as_bytes());
            if let Err(not_until) = state.limiter.check_key(&key_hash) {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                return Err(ApiError::rate_limited(wait.as_secs().max(1)));
            }
            let tenant = match state.cache.tenant_for_key(&key_hash) {
                Some(tenant) => tenant,
                None => {
                    let mark = state.cache.key_mark();
                    // Unknown keys are not remembered: a key created a moment later works at once.
                    let tenant = state
                        .store
                        .tenant_by_api_key(&SecretString::from(token))
                        .await?
                        .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
                    state.cache.remember_key(key_hash, tenant.clone(), mark);
                    tenant
                }
            };
            if let Some(authenticated) = authenticated {
                authenticated.set(&tenant.id);
            }
            Ok(TenantAuth(tenant))
        })
    }
}

/// The operator, authenticated by `SLOTWISE_OPERATOR_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct OperatorAuth;

impl FromRequest for OperatorAuth {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = state(req).and_then(|state| match bearer(req) {
            Some(token) if state.is_operator_token(&token) => Ok(OperatorAuth),
            Some(_) => Err(ApiError::unauthorized("operator endpoint: a tenant API key is not accepted here")),
            None => Err(ApiError::unauthorized("missing bearer operator token")),
        });
        std::future::ready(result)
    }
}

/// A JSON body, parsed with the contract's errors: not JSON → 400 without a
/// field; wrong type or missing field → 400 naming the dotted path; over 1 MiB → 413.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The body as a JSON value (for idempotency hashing).
    pub raw: Value,
}

/// The request's `Content-Length`, if it declares one.
pub(crate) fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
}

/// Reads a body of at most `limit` bytes: 413 as soon as the declared or the read length
/// goes over, without reading on.
pub(crate) async fn read_limited<S>(
    declared: Option<usize>,
    mut payload: S,
    limit: usize,
) -> Result<web::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::malformed(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn read_json(
    req: &HttpRequest,
    payload: &mut Payload,
    empty_is_object: bool,
) -> LocalBoxFuture<'static, Result<Value, ApiError>> {
    let declared = declared_length(req);
    let payload = payload.take();
    Box::pin(async move {
        let body = read_limited(declared, payload, BODY_LIMIT).await?;
        if empty_is_object && body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = read_json(req, payload, false);
        Box::pin(async move {
            let raw = raw.await?;
            Ok(JsonBody { value: parse_value(&raw, "")?, raw })
        })
    }
}

/// Like [`JsonBody`], but an empty body reads as `{}` (for bodies whose fields are all optional).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = read_json(req, payload, true);
        Box::pin(async move { Ok(OptionalJsonBody(parse_value(&raw.await?, "")?)) })
    }
}

/// Deserialises `raw` into `T`, naming the failing field as a dotted path under `prefix`.
pub fn parse_value<T: DeserializeOwned>(raw: &Value, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let mut segments: Vec<String> = Vec::new();
        if !prefix.is_empty() {
            segments.push(prefix.to_owned());
        }
        for segment in e.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => segments.push(index.to_string()),
                serde_path_to_error::Segment::Map { key } => segments.push(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => segments.push(variant.clone()),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        // serde reports a missing field at its parent: name the field itself.
        if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            segments.push(name.to_owned());
        }
        ApiError::invalid(segments.join("."), message)
    })
}

/// Parses query parameters into `T` with the same errors.
pub fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(req.query_string())?;
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        map.insert(k, Value::String(v));
    }
    parse_value(&Value::Object(map), "")
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::malformed(format!("malformed query string: {e}")))
}
