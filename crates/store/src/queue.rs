//! The outbox: calendar sync events and notifications, claimed by workers with a lease.
//!
//! Both tables share one shape and one implementation ([`Queue`] over a [`QueueKind`]).
//! A job is `pending` until claimed; [`Queue::claim_due`] moves due jobs to
//! `in_progress` with `locked_by`/`locked_until` and counts the attempt, so a worker that
//! dies mid-job has its job claimed again once the lease runs out. Failures wait with
//! exponential backoff in `failed` and become `dead` after
//! [`RetryPolicy::max_attempts`]. Rows are kept after success: they are the audit log.
//!
//! On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so claimers never wait on each
//! other; on SQLite it is one `UPDATE … WHERE (tenant_id, id) IN (SELECT …) RETURNING`
//! inside a `BEGIN IMMEDIATE` transaction, which serialises claimers.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::Store;
use crate::backend::{DbRow, dispatch, json_column, now, whole_seconds};
use crate::bookings::NewNotification;
use crate::connections::Provider;
use crate::error::{Result, StoreError};
use crate::ids::{BookingId, ConnectionId, EmployeeId, JobId, TenantId};

/// Which outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// `calendar_sync_events`: writes to connected calendars.
    CalendarSync,
    /// `notifications`: emails and webhooks.
    Notifications,
}

impl QueueKind {
    fn table(self) -> &'static str {
        match self {
            Self::CalendarSync => "calendar_sync_events",
            Self::Notifications => "notifications",
        }
    }

    fn detail_columns(self) -> &'static str {
        match self {
            Self::CalendarSync => {
                "booking_id, connection_id, employee_id, provider, provider_event_id, operation, payload"
            }
            Self::Notifications => "booking_id, channel, recipient, template, payload",
        }
    }
}

/// When failed jobs are retried and when they are given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts (claims) before a job is `dead`.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles with every further failure.
    pub base_backoff: TimeDelta,
    /// Longest wait.
    pub max_backoff: TimeDelta,
}

impl Default for RetryPolicy {
    /// 8 attempts, 30 s doubling up to 1 h.
    fn default() -> Self {
        Self { max_attempts: 8, base_backoff: TimeDelta::seconds(30), max_backoff: TimeDelta::hours(1) }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt: `base * 2^(attempts-1)`, capped.
    pub fn backoff(&self, attempts: u32) -> TimeDelta {
        let doublings = attempts.saturating_sub(1).min(30);
        self.base_backoff.checked_mul(1_i32 << doublings).map_or(self.max_backoff, |b| b.min(self.max_backoff))
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for its first attempt.
    Pending,
    /// Claimed by a worker until `locked_until`.
    InProgress,
    /// Done.
    Succeeded,
    /// Failed; retried at `next_attempt_at`.
    Failed,
    /// Given up after the last attempt.
    Dead,
}

impl JobStatus {
    /// Every status, in the order of a job's life.
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::InProgress, JobStatus::Succeeded, JobStatus::Failed, JobStatus::Dead];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "pending" => Self::Pending,
            "in_progress" => Self::InProgress,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            other => {
                return Err(StoreError::Corrupt { column: "status", detail: other.to_owned() });
            }
        })
    }
}

/// What a calendar sync event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOperation {
    /// Create the event.
    Create,
    /// Update it.
    Update,
    /// Delete it.
    Delete,
}

impl SyncOperation {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            other => {
                return Err(StoreError::Corrupt { column: "operation", detail: other.to_owned() });
            }
        })
    }
}

/// A calendar write to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncEvent {
    /// The booking it mirrors.
    pub booking_id: Option<BookingId>,
    /// The connection to write through.
    pub connection_id: Option<ConnectionId>,
    /// Whose calendar.
    pub employee_id: Option<EmployeeId>,
    /// Which provider.
    pub provider: Provider,
    /// The provider's event id, once known.
    pub provider_event_id: Option<String>,
    /// Create, update or delete.
    pub operation: SyncOperation,
    /// Extra data (`{"sequence": n}` for booking writes).
    pub payload: Value,
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The booking it is about, if any.
    pub booking_id: Option<BookingId>,
    /// What the caller asked for.
    pub message: NewNotification,
}

/// The table-specific part of a job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JobDetails {
    /// From `calendar_sync_events`.
    CalendarSync(SyncEvent),
    /// From `notifications`.
    Notification(Notification),
}

/// A job of either outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its id.
    pub id: JobId,
    /// Where it is.
    pub status: JobStatus,
    /// Claims so far (the current one included).
    pub attempts: u32,
    /// When it is (or was) due.
    pub next_attempt_at: DateTime<Utc>,
    /// The worker holding the lease.
    pub locked_by: Option<String>,
    /// When the lease runs out.
    pub locked_until: Option<DateTime<Utc>>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// What to do.
    pub details: JobDetails,
}

const COMMON_COLUMNS: &str = "tenant_id, id, status, attempts, next_attempt_at, locked_by, \
     locked_until, last_error, created_at, updated_at";

fn job_from_row(kind: QueueKind, row: &impl DbRow) -> Result<Job> {
    let booking_id = row.opt_text("booking_id")?.map(BookingId::from_db);
    let payload = json_column("payload", &row.text("payload")?)?;
    let details = match kind {
        QueueKind::CalendarSync => JobDetails::CalendarSync(SyncEvent {
            booking_id,
            connection_id: row.opt_text("connection_id")?.map(ConnectionId::from_db),
            employee_id: row.opt_text("employee_id")?.map(EmployeeId::from_db),
            provider: Provider::parse(&row.text("provider")?)?,
            provider_event_id: row.opt_text("provider_event_id")?,
            operation: SyncOperation::parse(&row.text("operation")?)?,
            payload,
        }),
        QueueKind::Notifications => JobDetails::Notification(Notification {
            booking_id,
            message: NewNotification {
                channel: row.text("channel")?,
                recipient: row.text("recipient")?,
                template: row.text("template")?,
                payload,
            },
        }),
    };
    let attempts = row.int("attempts")?;
    Ok(Job {
        tenant_id: TenantId::from_db(row.text("tenant_id")?),
        id: JobId::from_db(row.text("id")?),
        status: JobStatus::parse(&row.text("status")?)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt { column: "attempts", detail: attempts.to_string() })?,
        next_attempt_at: row.time("next_attempt_at")?,
        locked_by: row.opt_text("locked_by")?,
        locked_until: row.opt_time("locked_until")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        details,
    })
}

/// One outbox, as seen by a worker. Built by [`Store::queue`].
#[derive(Debug, Clone)]
pub struct Queue<'a> {
    store: &'a Store,
    kind: QueueKind,
    policy: RetryPolicy,
}

impl Store {
    /// The outbox of `kind` with the default [`RetryPolicy`].
    pub fn queue(&self, kind: QueueKind) -> Queue<'_> {
        Queue { store: self, kind, policy: RetryPolicy::default() }
    }

    /// Enqueues a notification outside a booking change (e.g. a webhook test event).
    pub async fn enqueue_notification(
        &self,
        tenant: &TenantId,
        booking: Option<&BookingId>,
        message: &NewNotification,
    ) -> Result<JobId> {
        self.tenant(tenant).await?;
        let id = JobId::generate();
        let now = now();
        dispatch!(self, pool => {
            sqlx::query(
                "INSERT INTO notifications (tenant_id, id, booking_id, channel, recipient, template,
                    payload, status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8)",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(booking.map(BookingId::as_str))
            .bind(&message.channel)
            .bind(&message.recipient)
            .bind(&message.template)
            .bind(message.payload.to_string())
            .bind(tm(now))
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// Stores the provider's id of the event a sync job created.
    pub async fn record_provider_event_id(
        &self,
        tenant: &TenantId,
        job: &JobId,
        provider_event_id: &str,
    ) -> Result<()> {
        let changed = dispatch!(self, pool => {
            sqlx::query(
                "UPDATE calendar_sync_events SET provider_event_id = $3 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(job.as_str())
            .bind(provider_event_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound { entity: "job" });
        }
        Ok(())
    }
}

impl Queue<'_> {
    /// Uses another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Claims up to `limit` due jobs for `worker_id` for `lease`.
    pub async fn claim_due(&self, worker_id: &str, limit: u32, lease: TimeDelta) -> Result<Vec<Job>> {
        self.claim_due_at(worker_id, limit, lease, Utc::now()).await
    }

    /// [`claim_due`](Self::claim_due) with an explicit clock.
    ///
    /// Due means `pending` or `failed` with `next_attempt_at <= now`, or `in_progress`
    /// with an expired lease. An expired job that has used all its attempts becomes
    /// `dead` instead of being claimed again.
    #[tracing::instrument(skip_all, fields(queue = self.kind.table(), worker = worker_id))]
    pub async fn claim_due_at(
        &self,
        worker_id: &str,
        limit: u32,
        lease: TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<Job>> {
        let now = whole_seconds(now);
        let table = self.kind.table();
        let kind = self.kind;
        let columns = format!("{COMMON_COLUMNS}, {}", kind.detail_columns());
        dispatch!(self.store, pool => {
            let mut tx = begin_write(pool).await?;
            let skip_locked = if IS_POSTGRES { "FOR UPDATE SKIP LOCKED" } else { "" };
            let given_up = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = 'dead', locked_by = NULL, locked_until = NULL,
                    last_error = COALESCE(last_error, 'lease expired on the last attempt'), updated_at = $1
                 WHERE (tenant_id, id) IN (
                    SELECT tenant_id, id FROM {table}
                    WHERE status = 'in_progress' AND locked_until <= $1 AND attempts >= $2
                    {skip_locked})
                 RETURNING tenant_id, booking_id"
            )))
            .bind(tm(now))
            .bind(i64::from(self.policy.max_attempts))
            .fetch_all(&mut *tx)
            .await?;
            if kind == QueueKind::CalendarSync {
                // A calendar write given up is visible in its booking's history, however it ended.
                for row in &given_up {
                    let Some(booking) = row.opt_text("booking_id")? else { continue };
                    sqlx::query(
                        "INSERT INTO booking_history (tenant_id, id, booking_id, at, action, actor, from_slot, to_slot)
                         SELECT $1, $2, $3, $4, 'calendar_failed', 'system', NULL, NULL
                         WHERE EXISTS (SELECT 1 FROM bookings WHERE tenant_id = $1 AND id = $3)",
                    )
                    .bind(row.text("tenant_id")?)
                    .bind(crate::ids::HistoryId::generate().as_str())
                    .bind(booking)
                    .bind(tm(now))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = 'in_progress', locked_by = $1, locked_until = $2,
                    attempts = attempts + 1, updated_at = $3
                 WHERE (tenant_id, id) IN (
                    SELECT tenant_id, id FROM {table}
                    WHERE (status IN ('pending', 'failed') AND next_attempt_at <= $3)
                       OR (status = 'in_progress' AND locked_until <= $3)
                    ORDER BY next_attempt_at, id
                    LIMIT $4
                    {skip_locked})
                 RETURNING {columns}"
            )))
            .bind(worker_id)
            // `now` is rounded down to the second: the lease is rounded up, so it lasts
            // at least `lease` (a zero lease still expires at once).
            .bind(tm(now + round_up(lease)))
            .bind(tm(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            let mut jobs = rows.iter().map(|row| job_from_row(kind, row)).collect::<Result<Vec<_>>>()?;
            jobs.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
            Ok(jobs)
        })
    }

    /// Marks a claimed job done. `Conflict` if `worker_id` no longer holds its lease.
    pub async fn mark_succeeded(&self, tenant: &TenantId, id: &JobId, worker_id: &str) -> Result<()> {
        let table = self.kind.table();
        let changed = dispatch!(self.store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = 'succeeded', locked_by = NULL, locked_until = NULL,
                    last_error = NULL, updated_at = $4
                 WHERE tenant_id = $1 AND id = $2 AND status = 'in_progress' AND locked_by = $3"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(worker_id)
            .bind(tm(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::Conflict("the job's lease is not held by this worker".into()));
        }
        Ok(())
    }

    /// Records a failed attempt: `failed` until `now + backoff` (or `retry_after`, e.g.
    /// from a `Retry-After` header), or `dead` once the attempts are used up.
    pub async fn mark_failed(
        &self,
        tenant: &TenantId,
        id: &JobId,
        worker_id: &str,
        error: &str,
        retry_after: Option<TimeDelta>,
    ) -> Result<JobStatus> {
        self.mark_failed_at(tenant, id, worker_id, error, retry_after, Utc::now()).await
    }

    /// [`mark_failed`](Self::mark_failed) with an explicit clock.
    pub async fn mark_failed_at(
        &self,
        tenant: &TenantId,
        id: &JobId,
        worker_id: &str,
        error: &str,
        retry_after: Option<TimeDelta>,
        now: DateTime<Utc>,
    ) -> Result<JobStatus> {
        let now = whole_seconds(now);
        let table = self.kind.table();
        dispatch!(self.store, pool => {
            let mut tx = begin_write(pool).await?;
            let lock = if IS_POSTGRES { "FOR UPDATE" } else { "" };
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT attempts FROM {table}
                 WHERE tenant_id = $1 AND id = $2 AND status = 'in_progress' AND locked_by = $3 {lock}"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(worker_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Conflict("the job's lease is not held by this worker".into()))?;
            let attempts = u32::try_from(row.int("attempts")?).unwrap_or(u32::MAX);
            let (status, next) = if attempts >= self.policy.max_attempts {
                (JobStatus::Dead, now)
            } else {
                (JobStatus::Failed, now + retry_after.unwrap_or_else(|| self.policy.backoff(attempts)))
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = $3, next_attempt_at = $4, last_error = $5,
                    locked_by = NULL, locked_until = NULL, updated_at = $6
                 WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(tm(next))
            .bind(error)
            .bind(tm(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(status)
        })
    }

    /// Hands a claimed job back without counting the attempt: it becomes due again at
    /// `until` (`pending` if it had no earlier attempt, else `failed`, keeping its last
    /// error). For a worker that finds the job must wait for another one (the sync
    /// engine's "an update never overtakes its create"). `Conflict` if `worker_id` no
    /// longer holds the lease.
    #[tracing::instrument(skip_all, fields(queue = self.kind.table(), job = %id))]
    pub async fn defer(&self, tenant: &TenantId, id: &JobId, worker_id: &str, until: DateTime<Utc>) -> Result<()> {
        let table = self.kind.table();
        let changed = dispatch!(self.store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET
                    status = CASE WHEN attempts > 1 THEN 'failed' ELSE 'pending' END,
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                    next_attempt_at = $4, locked_by = NULL, locked_until = NULL, updated_at = $5
                 WHERE tenant_id = $1 AND id = $2 AND status = 'in_progress' AND locked_by = $3"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(worker_id)
            .bind(tm(whole_seconds(until)))
            .bind(tm(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::Conflict("the job's lease is not held by this worker".into()));
        }
        Ok(())
    }

    /// Gives a claimed job up at once (`dead`, with `error` kept), whatever attempts are
    /// left: for failures that no retry can fix (a revoked grant, a permanent refusal).
    /// `Conflict` if `worker_id` no longer holds the lease.
    #[tracing::instrument(skip_all, fields(queue = self.kind.table(), job = %id))]
    pub async fn mark_dead(&self, tenant: &TenantId, id: &JobId, worker_id: &str, error: &str) -> Result<()> {
        let table = self.kind.table();
        let changed = dispatch!(self.store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = 'dead', last_error = $4, locked_by = NULL, locked_until = NULL,
                    updated_at = $5
                 WHERE tenant_id = $1 AND id = $2 AND status = 'in_progress' AND locked_by = $3"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(worker_id)
            .bind(error)
            .bind(tm(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::Conflict("the job's lease is not held by this worker".into()));
        }
        Ok(())
    }

    /// Makes `failed` and `dead` jobs of a tenant due now with fresh attempts (all of
    /// them, or those listed); returns how many.
    pub async fn requeue_failed(&self, tenant: &TenantId, ids: Option<&[JobId]>) -> Result<u64> {
        let table = self.kind.table();
        let now = now();
        dispatch!(self.store, pool => {
            let mut tx = begin_write(pool).await?;
            let sql = format!(
                "UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2
                 WHERE tenant_id = $1 AND status IN ('failed', 'dead') AND ($3 IS NULL OR id = $3)"
            );
            let mut total = 0;
            let targets: Vec<Option<&str>> = match ids {
                None => vec![None],
                Some(ids) => ids.iter().map(|id| Some(id.as_str())).collect(),
            };
            for target in targets {
                total += sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(tenant.as_str())
                    .bind(tm(now))
                    .bind(target)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(total)
        })
    }

    /// One job.
    pub async fn job(&self, tenant: &TenantId, id: &JobId) -> Result<Job> {
        let table = self.kind.table();
        let kind = self.kind;
        let columns = format!("{COMMON_COLUMNS}, {}", kind.detail_columns());
        dispatch!(self.store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| job_from_row(kind, row))
            .transpose()?
            .ok_or(StoreError::NotFound { entity: "job" })
        })
    }

    /// A tenant's jobs, newest first (of one booking, if given), at most `limit`.
    pub async fn list(&self, tenant: &TenantId, booking: Option<&BookingId>, limit: u32) -> Result<Vec<Job>> {
        let table = self.kind.table();
        let kind = self.kind;
        let columns = format!("{COMMON_COLUMNS}, {}", kind.detail_columns());
        dispatch!(self.store, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {columns} FROM {table}
                 WHERE tenant_id = $1 AND ($2 IS NULL OR booking_id = $2)
                 ORDER BY created_at DESC, id DESC LIMIT $3"
            )))
            .bind(tenant.as_str())
            .bind(booking.map(BookingId::as_str))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| job_from_row(kind, row))
            .collect()
        })
    }

    /// Jobs per status across every tenant, for the operator's metrics (outbox depth).
    pub async fn depth(&self) -> Result<Vec<(JobStatus, u64)>> {
        let table = self.kind.table();
        dispatch!(self.store, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT status, COUNT(*) AS n FROM {table} GROUP BY status ORDER BY status"
            )))
            .fetch_all(pool)
            .await?;
            rows.iter().map(status_count).collect()
        })
    }

    /// How many of a tenant's jobs are in each status (statuses with none are left out).
    pub async fn status_counts(&self, tenant: &TenantId) -> Result<Vec<(JobStatus, u64)>> {
        let table = self.kind.table();
        dispatch!(self.store, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT status, COUNT(*) AS n FROM {table} WHERE tenant_id = $1 GROUP BY status ORDER BY status"
            )))
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter().map(status_count).collect()
        })
    }
}

/// A lease as stored: whole seconds, one more when it is not zero, because claims
/// round `now` down to the second.
pub(crate) fn round_up(lease: TimeDelta) -> TimeDelta {
    if lease > TimeDelta::zero() { lease + TimeDelta::seconds(1) } else { lease }
}

/// One `(status, n)` row of a count grouped by status.
fn status_count(row: &impl DbRow) -> Result<(JobStatus, u64)> {
    Ok((JobStatus::parse(&row.text("status")?)?, u64::try_from(row.int("n")?).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_backoff: TimeDelta::seconds(10),
            max_backoff: TimeDelta::seconds(100),
        };
        let waits: Vec<i64> = (1..=6).map(|a| policy.backoff(a).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 100, 100]);
        assert_eq!(policy.backoff(1000), TimeDelta::seconds(100));
    }
}
