//! `Idempotency-Key` on creating POSTs: keyed by (tenant, key), kept 24 hours,
//! bodies compared as JSON; the first completed non-5xx answer is replayed, a
//! different body is 409 `idempotency_key_reused`, a repeat while the first is
//! in flight is 409 `conflict`.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::extract::AppState;

/// The header.
pub const HEADER: &str = "Idempotency-Key";

/// The key of a request, if it carries a usable one.
pub fn key(req: &HttpRequest) -> ApiResult<Option<String>> {
    match req.headers().get(HEADER) {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().map_err(|_| ApiError::invalid(HEADER, "the key must be visible ASCII"))?.trim();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::invalid(HEADER, "the key must be 1 to 255 characters"));
            }
            Ok(Some(k.to_owned()))
        }
    }
}

/// Hash of what makes two requests "the same": method, path and the body as JSON
/// (serde_json's maps are sorted, so key order and white space do not matter).
pub fn request_hash(req: &HttpRequest, raw: &Value) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b" ");
    h.update(req.path());
    h.update(b"\n");
    h.update(raw.to_string());
    store::sha256_hex(h.finalize())
}

fn respond(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// Runs `work` under the request's idempotency key, if any.
pub async fn idempotent<F>(
    req: &HttpRequest,
    state: &AppState,
    tenant: &store::Tenant,
    raw: &Value,
    work: F,
) -> ApiResult<HttpResponse>
where
    F: Future<Output = ApiResult<(StatusCode, Value)>>,
{
    let Some(key) = key(req)? else {
        let (status, body) = work.await?;
        return Ok(respond(status, body));
    };
    let hash = request_hash(req, raw);
    match state.store.begin_idempotent(&tenant.id, &key, &hash).await? {
        store::IdempotencyBegin::Started => {}
        store::IdempotencyBegin::InFlight => {
            return Err(ApiError::conflict("a request with this Idempotency-Key is still being processed"));
        }
        store::IdempotencyBegin::HashMismatch => return Err(ApiError::idempotency_key_reused()),
        store::IdempotencyBegin::Completed { status, body } => {
            let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
            return Ok(HttpResponse::build(status)
                .insert_header(("Idempotent-Replayed", "true"))
                .content_type("application/json")
                .body(body));
        }
        _ => return Err(ApiError::internal(anyhow::anyhow!("unknown idempotency state"))),
    }
    let (status, body) = match work.await {
        Ok(answer) => answer,
        Err(e) if e.status().is_server_error() => {
            // Forget the key so the client can retry; the failure is not an answer.
            if let Err(release) = state.store.release_idempotent(&tenant.id, &key).await {
                tracing::warn!(error = %release, "could not release an idempotency key");
            }
            return Err(e);
        }
        Err(e) => (e.status(), e.body()),
    };
    let completion = store::IdempotencyCompletion { key, status: status.as_u16(), body: body.to_string() };
    match state.store.complete_idempotent(&tenant.id, &completion).await {
        // Already completed inside the booking transaction.
        Ok(()) | Err(store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(respond(status, body))
}
