//! Tenants and their API keys.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::Store;
use crate::backend::{DbRow, dispatch, now};
use crate::error::{Result, StoreError};
use crate::ids::{ApiKeyId, TenantId};
use crate::secrets::{generate_api_key, hash_api_key};

/// What an employee's stale or failing calendar connection does to availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleCalendarPolicy {
    /// Block that employee's time (the default: never offer a slot we cannot vouch for).
    Block,
    /// Ignore the connection's external events.
    Ignore,
}

impl StaleCalendarPolicy {
    fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Ignore => "ignore",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        match value {
            "block" => Ok(Self::Block),
            "ignore" => Ok(Self::Ignore),
            other => Err(StoreError::Corrupt { column: "stale_calendar_policy", detail: other.to_owned() }),
        }
    }
}

/// One business using slotwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// IANA zone, the business zone until business hours are set.
    pub timezone: String,
    /// See [`StaleCalendarPolicy`].
    pub stale_calendar_policy: StaleCalendarPolicy,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

pub(crate) fn tenant_from_row(row: &impl DbRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId::from_db(row.text("tenant_id")?),
        name: row.text("name")?,
        timezone: row.text("timezone")?,
        stale_calendar_policy: StaleCalendarPolicy::parse(&row.text("stale_calendar_policy")?)?,
        created_at: row.time("created_at")?,
    })
}

const TENANT_COLUMNS: &str = "t.tenant_id, t.name, t.timezone, t.stale_calendar_policy, t.created_at";

impl Store {
    /// Creates a tenant and its first API key. The key is returned once; only its
    /// SHA-256 is stored.
    #[tracing::instrument(skip_all)]
    pub async fn create_tenant(&self, name: &str, timezone: &str) -> Result<(Tenant, SecretString)> {
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            timezone: timezone.to_owned(),
            stale_calendar_policy: StaleCalendarPolicy::Block,
            created_at: now(),
        };
        let key = generate_api_key();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            sqlx::query(
                "INSERT INTO tenants (tenant_id, name, timezone, stale_calendar_policy, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(&tenant.timezone)
            .bind(tenant.stale_calendar_policy.as_str())
            .bind(tm(tenant.created_at))
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO api_keys (tenant_id, id, key_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.id.as_str())
            .bind(ApiKeyId::generate().as_str())
            .bind(hash_api_key(&key))
            .bind(tm(tenant.created_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok((tenant, key))
    }

    /// Adds another API key for a tenant (key rotation); returns it once.
    pub async fn add_api_key(&self, tenant: &TenantId) -> Result<SecretString> {
        self.tenant(tenant).await?;
        let key = generate_api_key();
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO api_keys (tenant_id, id, key_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant.as_str())
            .bind(ApiKeyId::generate().as_str())
            .bind(hash_api_key(&key))
            .bind(tm(now()))
            .execute(pool)
            .await?;
        });
        Ok(key)
    }

    /// Revokes every API key of a tenant; returns how many there were.
    pub async fn revoke_api_keys(&self, tenant: &TenantId) -> Result<u64> {
        let done = dispatch!(self, pool => {
            sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done)
    }

    /// The tenant with this id.
    pub async fn tenant(&self, tenant: &TenantId) -> Result<Tenant> {
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.tenant_id = $1"
            )))
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?;
            row.as_ref()
                .map(tenant_from_row)
                .transpose()?
                .ok_or(StoreError::NotFound { entity: "tenant" })
        })
    }

    /// The tenant owning this API key, if any.
    pub async fn tenant_by_api_key(&self, key: &SecretString) -> Result<Option<Tenant>> {
        dispatch!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TENANT_COLUMNS} FROM api_keys k JOIN tenants t ON t.tenant_id = k.tenant_id
                 WHERE k.key_hash = $1"
            )))
            .bind(hash_api_key(key))
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(tenant_from_row).transpose()
        })
    }

    /// Sets what stale calendar connections do to availability.
    pub async fn set_stale_calendar_policy(&self, tenant: &TenantId, policy: StaleCalendarPolicy) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query("UPDATE tenants SET stale_calendar_policy = $2 WHERE tenant_id = $1")
                .bind(tenant.as_str())
                .bind(policy.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound { entity: "tenant" });
        }
        Ok(())
    }
}
