//! Re-encrypting secrets after a key rotation.
//!
//! Start with the new key as `SLOTWISE_ENCRYPTION_KEY` and the old one among the
//! previous keys ([`TokenCipher::with_previous_key`]): everything stays readable, new
//! values are written under the new key, and [`Store::reencrypt_secrets`] rewrites the
//! old ones in place while the service runs. A value changed meanwhile by someone else
//! (a token refresh in another process) is left alone: the update only applies where
//! the stored text is still the one that was read.

use crate::Store;
use crate::backend::{DbRow, dispatch};
use crate::error::Result;

/// Every encrypted column: (table, key columns, secret column).
const ENCRYPTED: [(&str, &str, &str); 5] = [
    ("calendar_connections", "tenant_id, id", "access_token"),
    ("calendar_connections", "tenant_id, id", "refresh_token"),
    ("calendar_connections", "tenant_id, id", "channel_secret"),
    ("webhook_endpoints", "tenant_id, id", "secret"),
    ("oauth_states", "state_hash, tenant_id", "pkce_verifier"),
];

impl Store {
    /// Rewrites every secret stored under an older key with the current key; returns how
    /// many values were rewritten. Safe to run while the service runs and to repeat.
    #[tracing::instrument(skip_all)]
    pub async fn reencrypt_secrets(&self) -> Result<u64> {
        let current = self.cipher.current_key_id().to_owned();
        let mut rewritten = 0;
        for (table, keys, column) in ENCRYPTED {
            let (first, second) = keys.split_once(", ").unwrap_or((keys, keys));
            let rows: Vec<(String, String, String)> = dispatch!(self, pool => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {first} AS k1, {second} AS k2, {column} AS secret FROM {table}
                     WHERE {column} IS NOT NULL AND {column} NOT LIKE $1"
                )))
                .bind(format!("{current}:%"))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.text("k1")?, row.text("k2")?, row.text("secret")?)))
                .collect::<Result<Vec<_>>>()?
            });
            for (k1, k2, old) in rows {
                let plain = self.cipher.decrypt(&old)?;
                let new = self.cipher.encrypt(secrecy::ExposeSecret::expose_secret(&plain))?;
                let changed = dispatch!(self, pool => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {table} SET {column} = $1 WHERE {first} = $2 AND {second} = $3 AND {column} = $4"
                    )))
                    .bind(&new)
                    .bind(&k1)
                    .bind(&k2)
                    .bind(&old)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                rewritten += changed;
            }
        }
        if rewritten > 0 {
            tracing::info!(rewritten, key = %current, "secrets re-encrypted with the current key");
        }
        Ok(rewritten)
    }
}
