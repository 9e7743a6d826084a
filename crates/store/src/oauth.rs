//! OAuth authorization requests in flight: a `state` bound to one tenant, employee and
//! provider, with its PKCE verifier, used at most once.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Store;
use crate::backend::{DbRow, dispatch, now, whole_seconds};
use crate::connections::{OAuthState, Provider};
use crate::error::Result;
use crate::ids::{EmployeeId, TenantId};
use crate::secrets::sha256_hex;

impl Store {
    /// Remembers an authorization request until `expires_at`. Only the SHA-256 of
    /// `state` is stored; the verifier is encrypted. Expired requests of every tenant
    /// are swept on the way.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, provider = provider.as_str()))]
    pub async fn create_oauth_state(
        &self,
        tenant: &TenantId,
        employee: &EmployeeId,
        provider: Provider,
        state: &SecretString,
        pkce_verifier: &SecretString,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        self.employee(tenant, employee).await?;
        let verifier = self.cipher.encrypt(pkce_verifier.expose_secret())?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
                .bind(tm(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO oauth_states (state_hash, tenant_id, employee_id, provider, pkce_verifier,
                    expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sha256_hex(state.expose_secret().as_bytes()))
            .bind(tenant.as_str())
            .bind(employee.as_str())
            .bind(provider.as_str())
            .bind(verifier)
            .bind(tm(whole_seconds(expires_at)))
            .bind(tm(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Consumes the authorization request of `state` for `provider`: returns it (expired
    /// or not: the caller decides) and deletes it, so a replayed state finds nothing.
    /// `None` for an unknown, already used or other-provider state.
    #[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
    pub async fn take_oauth_state(&self, provider: Provider, state: &str) -> Result<Option<OAuthState>> {
        let row = dispatch!(self, pool => {
            let row = sqlx::query(
                "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2
                 RETURNING tenant_id, employee_id, provider, pkce_verifier, expires_at",
            )
            .bind(sha256_hex(state.as_bytes()))
            .bind(provider.as_str())
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(row) => Some(OAuthState {
                    tenant_id: TenantId::from_db(row.text("tenant_id")?),
                    employee_id: EmployeeId::from_db(row.text("employee_id")?),
                    provider: Provider::parse(&row.text("provider")?)?,
                    pkce_verifier: self.cipher.decrypt(&row.text("pkce_verifier")?)?,
                    expires_at: row.time("expires_at")?,
                }),
            }
        });
        Ok(row)
    }
}
