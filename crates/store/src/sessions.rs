//! Dashboard sessions: a random token in an HttpOnly cookie (only its SHA-256 is
//! stored), bound to one tenant, with the CSRF token of its forms, until it expires or
//! the person signs out.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Store;
use crate::backend::{DbRow, dispatch, now, whole_seconds};
use crate::error::Result;
use crate::ids::TenantId;
use crate::secrets::sha256_hex;
use crate::tenants::Tenant;

/// A signed-in dashboard session.
#[derive(Debug, Clone)]
pub struct DashboardSession {
    /// The tenant whose key signed in.
    pub tenant: Tenant,
    /// The token every form of the session carries.
    pub csrf_token: SecretString,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Starts a session for `tenant` until `expires_at`; `token` goes into the cookie.
    /// Expired sessions of every tenant are swept on the way.
    pub async fn create_dashboard_session(
        &self,
        tenant: &TenantId,
        token: &SecretString,
        csrf_token: &SecretString,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at < $1")
                .bind(tm(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO dashboard_sessions (token_hash, tenant_id, csrf_token, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(sha256_hex(token.expose_secret().as_bytes()))
            .bind(tenant.as_str())
            .bind(csrf_token.expose_secret())
            .bind(tm(now))
            .bind(tm(whole_seconds(expires_at)))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The live session of a cookie token at `at`, with its tenant; `None` when unknown,
    /// signed out or expired.
    pub async fn dashboard_session(&self, token: &str, at: DateTime<Utc>) -> Result<Option<DashboardSession>> {
        let found = dispatch!(self, pool => {
            let row = sqlx::query(
                "SELECT tenant_id, csrf_token, expires_at FROM dashboard_sessions
                 WHERE token_hash = $1 AND expires_at > $2",
            )
            .bind(sha256_hex(token.as_bytes()))
            .bind(tm(whole_seconds(at)))
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => Some((
                    TenantId::from_db(row.text("tenant_id")?),
                    SecretString::from(row.text("csrf_token")?),
                    row.time("expires_at")?,
                )),
            }
        });
        let Some((tenant, csrf_token, expires_at)) = found else {
            return Ok(None);
        };
        let tenant = self.tenant(&tenant).await?;
        Ok(Some(DashboardSession { tenant, csrf_token, expires_at }))
    }

    /// Ends a session (sign-out). Unknown tokens are ignored.
    pub async fn delete_dashboard_session(&self, token: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
                .bind(sha256_hex(token.as_bytes()))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
