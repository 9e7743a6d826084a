//! Idempotency keys: a repeated `POST` with the same key and body gets the first answer.
//!
//! A record is keyed by (tenant, key) and holds the request hash (the caller hashes the
//! canonical JSON body, for example with [`sha256_hex`](crate::sha256_hex)), a state
//! (`in_flight` until the first answer is stored, then `completed`), the stored
//! response and its creation time. Records older than [`IDEMPOTENCY_TTL`] are ignored
//! and purged.

use chrono::{DateTime, TimeDelta, Utc};

use crate::Store;
use crate::backend::{DbRow, dispatch, now};
use crate::error::{Result, StoreError};
use crate::ids::TenantId;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: TimeDelta = TimeDelta::hours(24);

/// A stored idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The client's key.
    pub key: String,
    /// Hash of the first request's body.
    pub request_hash: String,
    /// The stored response, once completed: (HTTP status, body).
    pub response: Option<(u16, String)>,
    /// When the first request arrived.
    pub created_at: DateTime<Utc>,
}

/// What [`Store::begin_idempotent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdempotencyBegin {
    /// No live record existed; one is now `in_flight` and the caller should do the work.
    Started,
    /// A request with this key and body is still being processed (answer 409 `conflict`).
    InFlight,
    /// The first answer, to replay as is.
    Completed {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// The key was used with another body (answer 409 `idempotency_key_reused`).
    HashMismatch,
}

/// The answer to store when completing a key, possibly inside a booking transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyCompletion {
    /// The client's key (begun with [`Store::begin_idempotent`]).
    pub key: String,
    /// HTTP status to replay.
    pub status: u16,
    /// Body to replay.
    pub body: String,
}

/// Completes an in-flight key inside an open transaction (`$tx` is `&mut Transaction`).
macro_rules! complete_in_tx {
    ($tx:expr, $tenant:expr, $completion:expr) => {{
        let completion: &$crate::idempotency::IdempotencyCompletion = $completion;
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_body = $4
             WHERE tenant_id = $1 AND key = $2 AND state = 'in_flight'",
        )
        .bind($tenant.as_str())
        .bind(&completion.key)
        .bind(i64::from(completion.status))
        .bind(&completion.body)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if done != 1 {
            return Err($crate::error::StoreError::Conflict("idempotency key is not in flight".into()));
        }
    }};
}
pub(crate) use complete_in_tx;

fn record_from_row(row: &impl DbRow) -> Result<IdempotencyRecord> {
    let status = row.opt_int("response_status")?;
    let body = row.opt_text("response_body")?;
    let response = match (row.text("state")?.as_str(), status, body) {
        ("completed", Some(status), Some(body)) => Some((
            u16::try_from(status)
                .map_err(|_| StoreError::Corrupt { column: "response_status", detail: status.to_string() })?,
            body,
        )),
        ("in_flight", _, _) => None,
        (state, _, _) => {
            return Err(StoreError::Corrupt { column: "state", detail: state.to_owned() });
        }
    };
    Ok(IdempotencyRecord {
        key: row.text("key")?,
        request_hash: row.text("request_hash")?,
        response,
        created_at: row.time("created_at")?,
    })
}

impl Store {
    /// Starts processing a request under an idempotency key, or reports what an earlier
    /// request with that key left behind.
    pub async fn begin_idempotent(&self, tenant: &TenantId, key: &str, request_hash: &str) -> Result<IdempotencyBegin> {
        let now = now();
        let record = dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            // Insert, or take over a record that has outlived its 24 hours.
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, state, created_at)
                 VALUES ($1, $2, $3, 'in_flight', $4)
                 ON CONFLICT (tenant_id, key) DO UPDATE SET request_hash = excluded.request_hash,
                    state = 'in_flight', response_status = NULL, response_body = NULL,
                    created_at = excluded.created_at
                 WHERE idempotency_keys.created_at <= $5",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(request_hash)
            .bind(tm(now))
            .bind(tm(now - IDEMPOTENCY_TTL))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let record = if claimed == 1 {
                None
            } else {
                let row = sqlx::query(
                    "SELECT key, request_hash, state, response_status, response_body, created_at
                     FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
                )
                .bind(tenant.as_str())
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                Some(record_from_row(&row)?)
            };
            tx.commit().await?;
            record
        });
        Ok(match record {
            None => IdempotencyBegin::Started,
            Some(r) if r.request_hash != request_hash => IdempotencyBegin::HashMismatch,
            Some(IdempotencyRecord { response: Some((status, body)), .. }) => {
                IdempotencyBegin::Completed { status, body }
            }
            Some(_) => IdempotencyBegin::InFlight,
        })
    }

    /// Stores the answer of an in-flight key (when it was not completed inside a
    /// booking transaction, e.g. for a 409 answer).
    pub async fn complete_idempotent(&self, tenant: &TenantId, completion: &IdempotencyCompletion) -> Result<()> {
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            complete_in_tx!(tx, tenant, completion);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets an in-flight key (after a 5xx, so the client may retry).
    pub async fn release_idempotent(&self, tenant: &TenantId, key: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND state = 'in_flight'",
            )
            .bind(tenant.as_str())
            .bind(key)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The record under a key, live or not.
    pub async fn idempotency_record(&self, tenant: &TenantId, key: &str) -> Result<Option<IdempotencyRecord>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT key, request_hash, state, response_status, response_body, created_at
                 FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
            )
            .bind(tenant.as_str())
            .bind(key)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(record_from_row)
            .transpose()
        })
    }

    /// Deletes records created before `cutoff` (all tenants); returns how many.
    /// Call with `now - IDEMPOTENCY_TTL` from a periodic job.
    pub async fn purge_idempotency_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        let purged = dispatch!(self, pool => {
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(tm(cutoff))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(purged)
    }
}
