//! Calendar connections (tokens encrypted at rest) and the external events they mirror.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::Store;
use crate::backend::{DbRow, dispatch, now};
use crate::error::{Result, StoreError};
use crate::ids::{ConnectionId, EmployeeId, TenantId};
use crate::secrets::TokenCipher;

/// A calendar provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Google Calendar.
    Google,
    /// Microsoft Outlook (Graph).
    Outlook,
}

impl Provider {
    /// `google` or `outlook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Outlook => "outlook",
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self> {
        match value {
            "google" => Ok(Self::Google),
            "outlook" => Ok(Self::Outlook),
            other => Err(StoreError::Corrupt { column: "provider", detail: other.to_owned() }),
        }
    }
}

/// Health of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Syncing.
    Active,
    /// Failing (the stale-calendar policy applies).
    Error,
    /// The user or provider revoked access.
    Revoked,
}

impl ConnectionStatus {
    /// `active`, `error` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Error => "error",
            Self::Revoked => "revoked",
        }
    }

    pub(crate) fn parse(value: &str) -> Result<Self> {
        match value {
            "active" => Ok(Self::Active),
            "error" => Ok(Self::Error),
            "revoked" => Ok(Self::Revoked),
            other => Err(StoreError::Corrupt { column: "status", detail: other.to_owned() }),
        }
    }
}

/// What the OAuth callback stores.
#[derive(Debug, Clone)]
pub struct NewCalendarConnection {
    /// Whose calendar.
    pub employee_id: EmployeeId,
    /// Which provider.
    pub provider: Provider,
    /// The provider's calendar id (`primary`, ...).
    pub calendar_id: String,
    /// OAuth access token.
    pub access_token: SecretString,
    /// OAuth refresh token.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// A stored connection with its secrets decrypted. `Debug` redacts the secrets.
#[derive(Debug, Clone)]
pub struct CalendarConnection {
    /// Its tenant (useful after a lookup by channel id).
    pub tenant_id: TenantId,
    /// Its id.
    pub id: ConnectionId,
    /// Whose calendar.
    pub employee_id: EmployeeId,
    /// Which provider.
    pub provider: Provider,
    /// The provider's calendar id.
    pub calendar_id: String,
    /// OAuth access token.
    pub access_token: SecretString,
    /// OAuth refresh token.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Health.
    pub status: ConnectionStatus,
    /// Google sync token or Graph delta link.
    pub sync_token: Option<String>,
    /// Google channel id or Graph subscription id.
    pub channel_id: Option<String>,
    /// Channel token / `clientState`.
    pub channel_secret: Option<SecretString>,
    /// Google's `resourceId` of the channel (checked on notifications, needed to stop it).
    pub channel_resource_id: Option<String>,
    /// When the channel or subscription expires.
    pub channel_expires_at: Option<DateTime<Utc>>,
    /// Last successful sync.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last error, for the status page.
    pub last_error: Option<String>,
    /// When it was connected.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Sync requests (push notifications) received so far; a sync is due while this is
    /// above the count the last finished sync started from.
    pub sync_requests: i64,
}

/// A push channel (Google) or subscription (Graph) as stored on its connection.
#[derive(Debug, Clone, Copy)]
pub struct ChannelRecord<'a> {
    /// Channel or subscription id.
    pub id: &'a str,
    /// Google's `resourceId` (none for Graph).
    pub resource_id: Option<&'a str>,
    /// Channel token / `clientState` (stored encrypted).
    pub secret: &'a SecretString,
    /// When the provider stops delivering.
    pub expires_at: DateTime<Utc>,
}

/// An OAuth authorization request in flight, read back (and consumed) by the callback.
#[derive(Debug, Clone)]
pub struct OAuthState {
    /// The tenant that started it.
    pub tenant_id: TenantId,
    /// The employee whose calendar is being connected.
    pub employee_id: EmployeeId,
    /// Which provider.
    pub provider: Provider,
    /// The PKCE verifier of the authorization request.
    pub pkce_verifier: SecretString,
    /// After this instant the state is refused.
    pub expires_at: DateTime<Utc>,
}

/// An event read from a connected calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalEvent {
    /// The provider's event id.
    pub provider_event_id: String,
    /// Start. For all-day events: 00:00 UTC of the first date.
    pub start: DateTime<Utc>,
    /// End (exclusive). For all-day events: 00:00 UTC of the day after the last date.
    pub end: DateTime<Utc>,
    /// Whether it covers whole dates (to be placed in the employee's zone).
    pub all_day: bool,
    /// Whether it makes the employee busy (opaque, not declined, not cancelled).
    pub blocks_time: bool,
    /// Google etag / Graph change key.
    pub etag: Option<String>,
    /// The provider's status (`confirmed`, `tentative`, `cancelled`, ...).
    pub raw_status: String,
}

const CONNECTION_COLUMNS: &str = "tenant_id, id, employee_id, provider, calendar_id, access_token, \
     refresh_token, token_expires_at, status, sync_token, channel_id, channel_secret, \
     channel_expires_at, last_sync_at, last_error, created_at, updated_at, channel_resource_id, sync_requests";

fn decrypt_opt(cipher: &TokenCipher, text: Option<String>) -> Result<Option<SecretString>> {
    Ok(text.map(|t| cipher.decrypt(&t)).transpose()?)
}

fn connection_from_row(cipher: &TokenCipher, row: &impl DbRow) -> Result<CalendarConnection> {
    Ok(CalendarConnection {
        tenant_id: TenantId::from_db(row.text("tenant_id")?),
        id: ConnectionId::from_db(row.text("id")?),
        employee_id: EmployeeId::from_db(row.text("employee_id")?),
        provider: Provider::parse(&row.text("provider")?)?,
        calendar_id: row.text("calendar_id")?,
        access_token: cipher.decrypt(&row.text("access_token")?)?,
        refresh_token: decrypt_opt(cipher, row.opt_text("refresh_token")?)?,
        token_expires_at: row.opt_time("token_expires_at")?,
        status: ConnectionStatus::parse(&row.text("status")?)?,
        sync_token: row.opt_text("sync_token")?,
        channel_id: row.opt_text("channel_id")?,
        channel_secret: decrypt_opt(cipher, row.opt_text("channel_secret")?)?,
        channel_expires_at: row.opt_time("channel_expires_at")?,
        last_sync_at: row.opt_time("last_sync_at")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        channel_resource_id: row.opt_text("channel_resource_id")?,
        sync_requests: row.int("sync_requests")?,
    })
}

fn encrypt_opt(cipher: &TokenCipher, secret: Option<&SecretString>) -> Result<Option<String>> {
    Ok(secret.map(|s| cipher.encrypt(s.expose_secret())).transpose()?)
}

impl Store {
    /// Stores a new connection for (employee, provider), or replaces the tokens and
    /// calendar of the existing one and marks it active again.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn upsert_connection(
        &self,
        tenant: &TenantId,
        new: &NewCalendarConnection,
    ) -> Result<CalendarConnection> {
        self.employee(tenant, &new.employee_id).await?;
        let access = self.cipher.encrypt(new.access_token.expose_secret())?;
        let refresh = encrypt_opt(&self.cipher, new.refresh_token.as_ref())?;
        let now = now();
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO calendar_connections (tenant_id, id, employee_id, provider, calendar_id,
                    access_token, refresh_token, token_expires_at, status, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)
                 ON CONFLICT (tenant_id, employee_id, provider) DO UPDATE SET
                    calendar_id = excluded.calendar_id, access_token = excluded.access_token,
                    refresh_token = COALESCE(excluded.refresh_token, calendar_connections.refresh_token),
                    token_expires_at = excluded.token_expires_at, status = 'active',
                    last_error = NULL, updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(ConnectionId::generate().as_str())
            .bind(new.employee_id.as_str())
            .bind(new.provider.as_str())
            .bind(&new.calendar_id)
            .bind(access)
            .bind(refresh)
            .bind(tmo(new.token_expires_at))
            .bind(tm(now))
            .execute(pool)
            .await?;
        });
        self.list_connections(tenant, Some(&new.employee_id))
            .await?
            .into_iter()
            .find(|c| c.provider == new.provider)
            .ok_or(StoreError::NotFound { entity: "calendar connection" })
    }

    /// The connection with this id.
    pub async fn connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<CalendarConnection> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM calendar_connections WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| connection_from_row(&self.cipher, row))
            .transpose()?
            .ok_or(StoreError::NotFound { entity: "calendar connection" })
        })
    }

    /// The tenant's connections (of one employee, if given), by employee then provider.
    pub async fn list_connections(
        &self,
        tenant: &TenantId,
        employee: Option<&EmployeeId>,
    ) -> Result<Vec<CalendarConnection>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM calendar_connections
                 WHERE tenant_id = $1 AND ($2 IS NULL OR employee_id = $2)
                 ORDER BY employee_id, provider"
            )))
            .bind(tenant.as_str())
            .bind(employee.map(EmployeeId::as_str))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| connection_from_row(&self.cipher, row))
            .collect()
        })
    }

    /// The connection owning a push channel / subscription id (webhooks arrive without
    /// a tenant). The caller must still compare the channel secret.
    pub async fn connection_by_channel(&self, channel_id: &str) -> Result<Option<CalendarConnection>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM calendar_connections WHERE channel_id = $1"
            )))
            .bind(channel_id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| connection_from_row(&self.cipher, row))
            .transpose()
        })
    }

    /// Stores refreshed OAuth tokens.
    pub async fn update_connection_tokens(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        access_token: &SecretString,
        refresh_token: Option<&SecretString>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let access = self.cipher.encrypt(access_token.expose_secret())?;
        let refresh = encrypt_opt(&self.cipher, refresh_token)?;
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_connections SET access_token = $3,
                    refresh_token = COALESCE($4, refresh_token), token_expires_at = $5, updated_at = $6
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(access)
            .bind(refresh)
            .bind(tmo(expires_at))
            .bind(tm(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        found(changed)
    }

    /// Sets the push channel (or subscription), its secret and expiry; `None` clears it.
    pub async fn set_connection_channel(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        channel: Option<ChannelRecord<'_>>,
    ) -> Result<()> {
        let secret = channel.map(|c| self.cipher.encrypt(c.secret.expose_secret())).transpose()?;
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_connections SET channel_id = $3, channel_secret = $4,
                    channel_expires_at = $5, channel_resource_id = $6, updated_at = $7
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(channel.map(|c| c.id))
            .bind(secret)
            .bind(tmo(channel.map(|c| c.expires_at)))
            .bind(channel.and_then(|c| c.resource_id))
            .bind(tm(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        found(changed)
    }

    /// Records a sync outcome: status, the next sync token (if any), the sync time on
    /// success and the error on failure.
    pub async fn record_connection_sync(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
        sync_token: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let now = now();
        let synced_at = (status == ConnectionStatus::Active && error.is_none()).then_some(now);
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_connections SET status = $3, sync_token = COALESCE($4, sync_token),
                    last_sync_at = COALESCE($5, last_sync_at), last_error = $6, updated_at = $7
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(sync_token)
            .bind(tmo(synced_at))
            .bind(error)
            .bind(tm(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        found(changed)
    }

    /// Removes a connection and every external event it mirrored.
    pub async fn delete_connection(&self, tenant: &TenantId, id: &ConnectionId) -> Result<()> {
        let changed = dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            sqlx::query("DELETE FROM external_events WHERE tenant_id = $1 AND connection_id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            let changed = sqlx::query("DELETE FROM calendar_connections WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            changed
        });
        found(changed)
    }

    /// Inserts or replaces mirrored events of a connection (matched by provider event id).
    pub async fn upsert_external_events(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        events: &[ExternalEvent],
    ) -> Result<()> {
        let owner = self.connection(tenant, connection).await?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            for e in events {
                sqlx::query(
                    "INSERT INTO external_events (tenant_id, connection_id, provider_event_id, employee_id,
                        start_at, end_at, all_day, blocks_time, etag, raw_status, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (tenant_id, connection_id, provider_event_id) DO UPDATE SET
                        start_at = excluded.start_at, end_at = excluded.end_at, all_day = excluded.all_day,
                        blocks_time = excluded.blocks_time, etag = excluded.etag,
                        raw_status = excluded.raw_status, updated_at = excluded.updated_at",
                )
                .bind(tenant.as_str())
                .bind(connection.as_str())
                .bind(&e.provider_event_id)
                .bind(owner.employee_id.as_str())
                .bind(tm(e.start))
                .bind(tm(e.end))
                .bind(e.all_day)
                .bind(e.blocks_time)
                .bind(e.etag.as_deref())
                .bind(&e.raw_status)
                .bind(tm(now))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets mirrored events by provider event id; returns how many existed.
    pub async fn delete_external_events(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        provider_event_ids: &[String],
    ) -> Result<u64> {
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let mut deleted = 0;
            for id in provider_event_ids {
                deleted += sqlx::query(
                    "DELETE FROM external_events
                     WHERE tenant_id = $1 AND connection_id = $2 AND provider_event_id = $3",
                )
                .bind(tenant.as_str())
                .bind(connection.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            Ok(deleted)
        })
    }

    /// Every mirrored event of a connection, by start.
    pub async fn list_external_events(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Vec<ExternalEvent>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT provider_event_id, start_at, end_at, all_day, blocks_time, etag, raw_status
                 FROM external_events WHERE tenant_id = $1 AND connection_id = $2
                 ORDER BY start_at, provider_event_id",
            )
            .bind(tenant.as_str())
            .bind(connection.as_str())
            .fetch_all(pool)
            .await?
            .iter()
            .map(external_event_from_row)
            .collect()
        })
    }
}

impl Store {
    /// Asks for an inbound sync of the connection (a push notification arrived). Any
    /// number of requests before the next sync starts are served by that one sync.
    pub async fn request_connection_sync(&self, tenant: &TenantId, id: &ConnectionId) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_connections SET sync_requests = sync_requests + 1
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        found(changed)
    }

    /// Claims, for `worker_id` until `now + lease`, the connections of every tenant whose
    /// inbound sync is due, at most `limit`, oldest sync first. Due means not revoked,
    /// not being synced by another worker (or its lease ran out), and either a sync was
    /// requested since the last one started, or the last successful sync is at or before
    /// `synced_before` (never synced counts) — and, when the last attempt left an error,
    /// the connection last changed at or before `failed_before` (a failing calendar is
    /// retried with a pause, not every poll). Hand each one back with
    /// [`release_connection_sync`](Self::release_connection_sync).
    #[tracing::instrument(skip_all, fields(worker = worker_id))]
    pub async fn claim_connection_syncs(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease: chrono::TimeDelta,
        synced_before: DateTime<Utc>,
        failed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CalendarConnection>> {
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let skip_locked = if IS_POSTGRES { "FOR UPDATE SKIP LOCKED" } else { "" };
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE calendar_connections SET sync_locked_by = $1, sync_locked_until = $2
                 WHERE (tenant_id, id) IN (
                    SELECT tenant_id, id FROM calendar_connections
                    WHERE status IN ('active', 'error')
                      AND (sync_locked_until IS NULL OR sync_locked_until <= $3)
                      AND (sync_requests > synced_requests
                           OR ((last_sync_at IS NULL OR last_sync_at <= $4)
                               AND (last_error IS NULL OR updated_at <= $5)))
                    ORDER BY last_sync_at IS NOT NULL, last_sync_at, tenant_id, id
                    LIMIT $6
                    {skip_locked})
                 RETURNING {CONNECTION_COLUMNS}"
            )))
            .bind(worker_id)
            // Whole seconds are stored: round the lease up so it lasts at least `lease`.
            .bind(tm(now + crate::queue::round_up(lease)))
            .bind(tm(now))
            .bind(tm(synced_before))
            .bind(tm(failed_before))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows.iter().map(|row| connection_from_row(&self.cipher, row)).collect()
        })
    }

    /// Ends `worker_id`'s sync of a connection claimed by
    /// [`claim_connection_syncs`](Self::claim_connection_syncs): the requests counted at
    /// the claim (`CalendarConnection::sync_requests`) are served; later ones stay due.
    pub async fn release_connection_sync(&self, connection: &CalendarConnection, worker_id: &str) -> Result<()> {
        dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_connections SET sync_locked_by = NULL, sync_locked_until = NULL,
                    synced_requests = CASE WHEN synced_requests < $4 THEN $4 ELSE synced_requests END
                 WHERE tenant_id = $1 AND id = $2 AND sync_locked_by = $3",
            )
            .bind(connection.tenant_id.as_str())
            .bind(connection.id.as_str())
            .bind(worker_id)
            .bind(connection.sync_requests)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Active connections of every tenant whose access token expires at or before
    /// `before` (and that have a refresh token), soonest first, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn connections_with_expiring_tokens(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CalendarConnection>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM calendar_connections
                 WHERE status = 'active' AND refresh_token IS NOT NULL
                   AND token_expires_at IS NOT NULL AND token_expires_at <= $1
                 ORDER BY token_expires_at, tenant_id, id
                 LIMIT $2"
            )))
            .bind(tm(before))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| connection_from_row(&self.cipher, row))
            .collect()
        })
    }

    /// Connections of every tenant by provider and status, for the operator's metrics.
    pub async fn connection_counts(&self) -> Result<Vec<(Provider, ConnectionStatus, u64)>> {
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT provider, status, COUNT(*) AS n FROM calendar_connections
                 GROUP BY provider, status ORDER BY provider, status",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    Provider::parse(&row.text("provider")?)?,
                    ConnectionStatus::parse(&row.text("status")?)?,
                    u64::try_from(row.int("n")?).unwrap_or_default(),
                ))
            })
            .collect()
        })
    }

    /// Active connections of every tenant without a push channel or whose channel
    /// expires at or before `expiring_before`, soonest first, at most `limit`.
    #[tracing::instrument(skip_all)]
    pub async fn connections_needing_channel(
        &self,
        expiring_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CalendarConnection>> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CONNECTION_COLUMNS} FROM calendar_connections
                 WHERE status = 'active'
                   AND (channel_id IS NULL OR channel_expires_at IS NULL OR channel_expires_at <= $1)
                 ORDER BY channel_expires_at IS NOT NULL, channel_expires_at, tenant_id, id
                 LIMIT $2"
            )))
            .bind(tm(expiring_before))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| connection_from_row(&self.cipher, row))
            .collect()
        })
    }
}

pub(crate) fn external_event_from_row(row: &impl DbRow) -> Result<ExternalEvent> {
    Ok(ExternalEvent {
        provider_event_id: row.text("provider_event_id")?,
        start: row.time("start_at")?,
        end: row.time("end_at")?,
        all_day: row.flag("all_day")?,
        blocks_time: row.flag("blocks_time")?,
        etag: row.opt_text("etag")?,
        raw_status: row.text("raw_status")?,
    })
}

fn found(changed: u64) -> Result<()> {
    if changed == 0 { Err(StoreError::NotFound { entity: "calendar connection" }) } else { Ok(()) }
}
