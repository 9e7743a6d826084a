//! Outgoing webhook endpoints (signing secrets encrypted at rest) and their delivery log.
//!
//! An endpoint is never deleted, only deactivated: notification jobs that name it may
//! still be in the outbox, and the worker must be able to tell "removed" from "unknown".
//! The delivery log has one row per attempt; the job id is the `webhook-id` receivers
//! see, the same on every retry.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Store;
use crate::backend::{DbRow, dispatch, json_column, now, whole_seconds};
use crate::error::{Result, StoreError};
use crate::ids::{DeliveryId, JobId, TenantId, WebhookId};

/// An endpoint as the API registers it (already validated).
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types it subscribes to.
    pub events: Vec<String>,
    /// The `whsec_…` signing secret; stored encrypted.
    pub secret: SecretString,
}

/// A stored endpoint with its secret decrypted. `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id.
    pub id: WebhookId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event types it subscribes to.
    pub events: Vec<String>,
    /// The `whsec_…` signing secret.
    pub secret: SecretString,
    /// False once removed.
    pub active: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether it subscribes to `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.iter().any(|e| e == event)
    }
}

/// One delivery attempt to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookDelivery {
    /// The endpoint.
    pub endpoint_id: WebhookId,
    /// The notification job (the `webhook-id`).
    pub job_id: JobId,
    /// The event type delivered.
    pub event_type: String,
    /// Which attempt of the job (1 for the first).
    pub attempt: u32,
    /// The HTTP status answered, if any.
    pub status_code: Option<u16>,
    /// What went wrong (timeout, refused address, non-2xx), if anything.
    pub error: Option<String>,
    /// When the attempt was made.
    pub at: DateTime<Utc>,
}

/// A recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The log row's id.
    pub id: DeliveryId,
    /// What was recorded.
    pub attempt: NewWebhookDelivery,
}

const ENDPOINT_COLUMNS: &str = "tenant_id, id, url, events, secret, active, created_at";

fn endpoint_from_row(store: &Store, row: &impl DbRow) -> Result<WebhookEndpoint> {
    let events = json_column("events", &row.text("events")?)?;
    let events =
        serde_json::from_value(events).map_err(|e| StoreError::Corrupt { column: "events", detail: e.to_string() })?;
    Ok(WebhookEndpoint {
        tenant_id: TenantId::from_db(row.text("tenant_id")?),
        id: WebhookId::from_db(row.text("id")?),
        url: row.text("url")?,
        events,
        secret: store.cipher().decrypt(&row.text("secret")?)?,
        active: row.flag("active")?,
        created_at: row.time("created_at")?,
    })
}

fn delivery_from_row(row: &impl DbRow) -> Result<WebhookDelivery> {
    let attempt = row.int("attempt")?;
    Ok(WebhookDelivery {
        id: DeliveryId::from_db(row.text("id")?),
        attempt: NewWebhookDelivery {
            endpoint_id: WebhookId::from_db(row.text("endpoint_id")?),
            job_id: JobId::from_db(row.text("job_id")?),
            event_type: row.text("event_type")?,
            attempt: u32::try_from(attempt)
                .map_err(|_| StoreError::Corrupt { column: "attempt", detail: attempt.to_string() })?,
            status_code: row.opt_int("status_code")?.and_then(|c| u16::try_from(c).ok()),
            error: row.opt_text("error")?,
            at: row.time("at")?,
        },
    })
}

impl Store {
    /// Registers an endpoint; its secret is encrypted with the store's cipher.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn create_webhook_endpoint(
        &self,
        tenant: &TenantId,
        new: &NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint> {
        self.tenant(tenant).await?;
        let endpoint = WebhookEndpoint {
            tenant_id: tenant.clone(),
            id: WebhookId::generate(),
            url: new.url.clone(),
            events: new.events.clone(),
            secret: new.secret.clone(),
            active: true,
            created_at: now(),
        };
        let secret = self.cipher().encrypt(new.secret.expose_secret())?;
        let events = serde_json::to_string(&new.events).map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_endpoints (tenant_id, id, url, events, secret, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant.as_str())
            .bind(endpoint.id.as_str())
            .bind(&endpoint.url)
            .bind(events)
            .bind(secret)
            .bind(true)
            .bind(tm(endpoint.created_at))
            .execute(pool)
            .await?;
        });
        Ok(endpoint)
    }

    /// A tenant's active endpoints, oldest first.
    pub async fn webhook_endpoints(&self, tenant: &TenantId) -> Result<Vec<WebhookEndpoint>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                 WHERE tenant_id = $1 AND active = $2 ORDER BY created_at, id"
            )))
            .bind(tenant.as_str())
            .bind(true)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| endpoint_from_row(self, row))
            .collect()
        })
    }

    /// A tenant's active endpoints subscribed to `event`, oldest first.
    pub async fn webhook_endpoints_for(&self, tenant: &TenantId, event: &str) -> Result<Vec<WebhookEndpoint>> {
        Ok(self.webhook_endpoints(tenant).await?.into_iter().filter(|e| e.wants(event)).collect())
    }

    /// One endpoint, active or removed (`active` tells which).
    pub async fn webhook_endpoint(&self, tenant: &TenantId, id: &WebhookId) -> Result<WebhookEndpoint> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| endpoint_from_row(self, row))
            .transpose()?
            .ok_or(StoreError::NotFound { entity: "webhook" })
        })
    }

    /// Removes an endpoint (deactivates it: no new deliveries, pending ones are dropped
    /// by the worker). `NotFound` if it does not exist or is already removed.
    pub async fn deactivate_webhook_endpoint(&self, tenant: &TenantId, id: &WebhookId) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE webhook_endpoints SET active = $3, deactivated_at = $4
                 WHERE tenant_id = $1 AND id = $2 AND active = $5",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(false)
            .bind(tm(now()))
            .bind(true)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound { entity: "webhook" });
        }
        Ok(())
    }

    /// Appends an attempt to the delivery log.
    pub async fn record_webhook_delivery(
        &self,
        tenant: &TenantId,
        delivery: &NewWebhookDelivery,
    ) -> Result<DeliveryId> {
        let id = DeliveryId::generate();
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_deliveries (tenant_id, id, endpoint_id, job_id, event_type, attempt,
                    status_code, error, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(delivery.endpoint_id.as_str())
            .bind(delivery.job_id.as_str())
            .bind(&delivery.event_type)
            .bind(i64::from(delivery.attempt))
            .bind(delivery.status_code.map(i64::from))
            .bind(delivery.error.as_deref())
            .bind(tm(whole_seconds(delivery.at)))
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// An endpoint's delivery log, newest first, at most `limit` rows.
    pub async fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        endpoint: &WebhookId,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT id, endpoint_id, job_id, event_type, attempt, status_code, error, at
                 FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2
                 ORDER BY at DESC, id DESC LIMIT $3",
            )
            .bind(tenant.as_str())
            .bind(endpoint.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect()
        })
    }
}
