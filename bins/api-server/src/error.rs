//! The API's error answer: `{"error": {"code", "message", "details"}}` with the
//! contract's codes and statuses. 5xx details go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
    /// For 5xx: what happened, logged and kept from the client.
    source: Option<anyhow::Error>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: json!({}), source: None }
    }

    /// 400 `invalid_request` naming the field (dotted path).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_request", message);
        e.details = json!({ "field": field.into() });
        e
    }

    /// 400 `invalid_request` for a body that is not JSON at all (no field).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404 `not_found` (also for another tenant's ids).
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 409 `slot_unavailable`.
    pub fn slot_unavailable(message: impl Into<String>, details: Value) -> Self {
        let mut e = Self::new(StatusCode::CONFLICT, "slot_unavailable", message);
        e.details = details;
        e
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 409 `idempotency_key_reused`.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        )
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    /// 429 `rate_limited`; the Retry-After header is added by the limiter.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests for this API key");
        e.details = json!({ "retry_after_s": retry_after_secs });
        e
    }

    /// 502 `provider_unavailable`: a calendar provider failed or could not be reached.
    pub fn provider_unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "provider_unavailable", message)
    }

    /// 503 `provider_not_configured`: this server has no client for the provider.
    pub fn provider_not_configured(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "provider_not_configured", message)
    }

    /// 500 `internal`: the cause is logged, the client learns nothing of it.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error");
        e.source = Some(source.into());
        e
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, "internal error");
        }
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            let retry = self.details.get("retry_after_s").and_then(Value::as_u64).unwrap_or(1);
            response.insert_header(("Retry-After", retry.to_string()));
        }
        response.json(self.body())
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound { entity } => ApiError::not_found(entity),
            store::StoreError::SlotTaken => ApiError::slot_unavailable("the slot is no longer available", json!({})),
            store::StoreError::Conflict(message) => ApiError::conflict(message),
            other => ApiError::internal(other),
        }
    }
}

impl From<availability_core::Error> for ApiError {
    fn from(e: availability_core::Error) -> Self {
        ApiError::invalid(e.field().to_owned(), e.to_string())
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
