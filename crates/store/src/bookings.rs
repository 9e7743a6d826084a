//! Bookings, their history, and the outbox rows each change writes.
//!
//! Every change is one write transaction: re-check the slot against the confirmed
//! bookings of the employee (buffered intervals, half-open), write the booking, a
//! history row, one calendar sync event per active calendar connection of the
//! employee, one notification per [`NewNotification`], and optionally the idempotency
//! answer. Either all of it is committed or none.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Store;
use crate::backend::{DbRow, dispatch, now};
use crate::connections::Provider;
use crate::error::{Result, StoreError};
use crate::idempotency::{IdempotencyCompletion, complete_in_tx};
use crate::ids::{BookingId, EmployeeId, HistoryId, JobId, ServiceId, TenantId};

/// Whether a booking holds its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    /// Holds its (buffered) interval.
    Confirmed,
    /// Released; kept for history.
    Cancelled,
}

impl BookingStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        match value {
            "confirmed" => Ok(Self::Confirmed),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(StoreError::Corrupt { column: "status", detail: other.to_owned() }),
        }
    }
}

/// Who booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// IANA zone for the customer's notifications.
    pub timezone: Option<String>,
}

/// A stored booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// Its id.
    pub id: BookingId,
    /// `confirmed` or `cancelled`.
    pub status: BookingStatus,
    /// The service booked.
    pub service_id: ServiceId,
    /// Who performs it.
    pub employee_id: EmployeeId,
    /// Start of the appointment.
    pub start: DateTime<Utc>,
    /// End of the appointment (start + the service's duration at booking time).
    pub end: DateTime<Utc>,
    /// The service's buffer before, copied at booking time.
    pub buffer_before_min: u32,
    /// The service's buffer after, copied at booking time.
    pub buffer_after_min: u32,
    /// Who booked.
    pub customer: Customer,
    /// Free text from the customer.
    pub notes: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Rises on every change (iCalendar `SEQUENCE`).
    pub sequence: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Booking {
    /// `start - buffer_before`: where the time it holds begins.
    pub fn buffered_start(&self) -> DateTime<Utc> {
        self.start - TimeDelta::minutes(self.buffer_before_min.into())
    }

    /// `end + buffer_after`: where the time it holds ends.
    pub fn buffered_end(&self) -> DateTime<Utc> {
        self.end + TimeDelta::minutes(self.buffer_after_min.into())
    }

    /// The booking's slot as history records it.
    pub fn slot(&self) -> SlotRef {
        SlotRef { start: self.start, end: self.end, employee_id: self.employee_id.clone() }
    }
}

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// A tenant API call.
    Api,
    /// slotwise itself (workers, maintenance).
    System,
    /// A change seen on a connected calendar.
    Calendar(Provider),
}

impl Actor {
    /// `api`, `system`, `calendar:google` or `calendar:outlook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::System => "system",
            Self::Calendar(Provider::Google) => "calendar:google",
            Self::Calendar(Provider::Outlook) => "calendar:outlook",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        match value {
            "api" => Ok(Self::Api),
            "system" => Ok(Self::System),
            "calendar:google" => Ok(Self::Calendar(Provider::Google)),
            "calendar:outlook" => Ok(Self::Calendar(Provider::Outlook)),
            other => Err(StoreError::Corrupt { column: "actor", detail: other.to_owned() }),
        }
    }
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAction {
    /// The booking was made.
    Created,
    /// Its time or employee changed.
    Rescheduled,
    /// It was cancelled.
    Cancelled,
    /// A calendar write succeeded.
    CalendarSynced,
    /// A calendar write failed for good.
    CalendarFailed,
    /// A calendar change collided with the booking.
    ConflictDetected,
}

impl HistoryAction {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Rescheduled => "rescheduled",
            Self::Cancelled => "cancelled",
            Self::CalendarSynced => "calendar_synced",
            Self::CalendarFailed => "calendar_failed",
            Self::ConflictDetected => "conflict_detected",
        }
    }

    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "created" => Self::Created,
            "rescheduled" => Self::Rescheduled,
            "cancelled" => Self::Cancelled,
            "calendar_synced" => Self::CalendarSynced,
            "calendar_failed" => Self::CalendarFailed,
            "conflict_detected" => Self::ConflictDetected,
            other => {
                return Err(StoreError::Corrupt { column: "action", detail: other.to_owned() });
            }
        })
    }
}

/// A booking's place in time, as history records it (`{start, end, employee_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRef {
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Employee.
    pub employee_id: EmployeeId,
}

/// One change of a booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its id.
    pub id: HistoryId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: HistoryAction,
    /// Who.
    pub actor: Actor,
    /// The slot before the change.
    pub from: Option<SlotRef>,
    /// The slot after the change.
    pub to: Option<SlotRef>,
}

/// The payload key that a booking change fills with the booking as it wrote it.
///
/// A [`NewNotification`] whose `payload` is a JSON object with this key set to `null`
/// gets [`Booking::snapshot`] of the booking *as this change leaves it* written there,
/// inside the same transaction, so the message describes exactly the committed state
/// (its `sequence` included) even when changes race. Other payloads are stored as given.
pub const BOOKING_SNAPSHOT_KEY: &str = "booking";

impl Booking {
    /// The booking as a notification payload records it: ids, status, UTC instants
    /// (RFC 3339), `sequence`, the customer, notes and cancel reason.
    pub fn snapshot(&self) -> Value {
        json!({
            "id": self.id.as_str(),
            "status": self.status.as_str(),
            "service_id": self.service_id.as_str(),
            "employee_id": self.employee_id.as_str(),
            "start": self.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end": self.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "sequence": self.sequence,
            "customer": {
                "name": self.customer.name,
                "email": self.customer.email,
                "timezone": self.customer.timezone,
            },
            "notes": self.notes,
            "cancel_reason": self.cancel_reason,
            "created_at": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "updated_at": self.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

/// `payload` with [`BOOKING_SNAPSHOT_KEY`] filled in, if it asks for it.
fn fill_snapshot(payload: &Value, booking: &Booking) -> Value {
    match payload.get(BOOKING_SNAPSHOT_KEY) {
        Some(Value::Null) => {
            let mut filled = payload.clone();
            filled[BOOKING_SNAPSHOT_KEY] = booking.snapshot();
            filled
        }
        _ => payload.clone(),
    }
}

/// A notification to enqueue with a booking change.
///
/// See [`BOOKING_SNAPSHOT_KEY`] for the one thing the store adds to `payload`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// `email`, `webhook`, ...
    pub channel: String,
    /// Address or endpoint id.
    pub recipient: String,
    /// What to render (`booking.created`, ...).
    pub template: String,
    /// Everything the sender needs.
    pub payload: Value,
}

/// What a completed calendar write did to its booking (`calendar_synced`'s from/to).
#[derive(Debug, Clone, Copy)]
pub struct SyncedWrite<'a> {
    /// The booking.
    pub booking: &'a BookingId,
    /// The slot the write removed from the calendar, if any.
    pub from: Option<&'a SlotRef>,
    /// The slot the write put into the calendar, if any.
    pub to: Option<&'a SlotRef>,
}

/// A booking request that the API has already validated against availability.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBooking {
    /// The id to create it under (generated by the caller so that it can appear in the
    /// idempotency answer written in the same transaction).
    pub id: BookingId,
    /// The service; its duration and buffers are read inside the transaction.
    pub service_id: ServiceId,
    /// The employee.
    pub employee_id: EmployeeId,
    /// Appointment start.
    pub start: DateTime<Utc>,
    /// Who books.
    pub customer: Customer,
    /// Free text.
    pub notes: Option<String>,
    /// Who is booking.
    pub actor: Actor,
    /// Notifications to enqueue in the same transaction.
    pub notifications: Vec<NewNotification>,
    /// Idempotency answer to store in the same transaction.
    pub idempotency: Option<IdempotencyCompletion>,
}

/// A cancellation.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelBooking {
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub actor: Actor,
    /// Notifications to enqueue (only if the booking was still confirmed).
    pub notifications: Vec<NewNotification>,
}

/// A move to a new start (and optionally another employee).
#[derive(Debug, Clone, PartialEq)]
pub struct RescheduleBooking {
    /// New start; the booking keeps its duration and buffers.
    pub start: DateTime<Utc>,
    /// New employee, if it changes.
    pub employee_id: Option<EmployeeId>,
    /// Who.
    pub actor: Actor,
    /// Notifications to enqueue.
    pub notifications: Vec<NewNotification>,
    /// Idempotency answer to store in the same transaction.
    pub idempotency: Option<IdempotencyCompletion>,
}

/// Filter for [`Store::list_bookings`]: overlap with `[from, to)`, sorted by start then id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingFilter {
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// Only this employee.
    pub employee_id: Option<EmployeeId>,
    /// Only this status.
    pub status: Option<BookingStatus>,
    /// Keyset cursor: only bookings after this (start, id).
    pub after: Option<(DateTime<Utc>, BookingId)>,
    /// Most rows returned.
    pub limit: u32,
}

const BOOKING_COLUMNS: &str = "id, status, service_id, employee_id, start_at, end_at, \
     buffer_before_min, buffer_after_min, customer_name, customer_email, customer_timezone, \
     notes, cancel_reason, sequence, created_at, updated_at";

fn small(row: &impl DbRow, column: &'static str) -> Result<u32> {
    let value = row.int(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt { column, detail: value.to_string() })
}

pub(crate) fn booking_from_row(row: &impl DbRow) -> Result<Booking> {
    Ok(Booking {
        id: BookingId::from_db(row.text("id")?),
        status: BookingStatus::parse(&row.text("status")?)?,
        service_id: ServiceId::from_db(row.text("service_id")?),
        employee_id: EmployeeId::from_db(row.text("employee_id")?),
        start: row.time("start_at")?,
        end: row.time("end_at")?,
        buffer_before_min: small(row, "buffer_before_min")?,
        buffer_after_min: small(row, "buffer_after_min")?,
        customer: Customer {
            name: row.text("customer_name")?,
            email: row.text("customer_email")?,
            timezone: row.opt_text("customer_timezone")?,
        },
        notes: row.opt_text("notes")?,
        cancel_reason: row.opt_text("cancel_reason")?,
        sequence: small(row, "sequence")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn slot_json(slot: Option<&SlotRef>) -> Result<Option<String>> {
    slot.map(serde_json::to_string).transpose().map_err(|e| StoreError::InvalidInput(e.to_string()))
}

fn slot_column(column: &'static str, text: Option<String>) -> Result<Option<SlotRef>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt { column, detail: e.to_string() }))
        .transpose()
}

fn history_from_row(row: &impl DbRow) -> Result<HistoryEntry> {
    Ok(HistoryEntry {
        id: HistoryId::from_db(row.text("id")?),
        at: row.time("at")?,
        action: HistoryAction::parse(&row.text("action")?)?,
        actor: Actor::parse(&row.text("actor")?)?,
        from: slot_column("from_slot", row.opt_text("from_slot")?)?,
        to: slot_column("to_slot", row.opt_text("to_slot")?)?,
    })
}

/// Fails with `SlotTaken` if a confirmed booking of the employee other than `$exclude`
/// overlaps `[$start, $end)` (buffered intervals, half-open).
macro_rules! ensure_free {
    ($tx:expr, $tenant:expr, $employee:expr, $start:expr, $end:expr, $exclude:expr) => {{
        let clash = sqlx::query(
            "SELECT id FROM bookings
             WHERE tenant_id = $1 AND employee_id = $2 AND status = 'confirmed'
               AND buffered_end > $3 AND buffered_start < $4 AND id <> $5
             LIMIT 1",
        )
        .bind($tenant.as_str())
        .bind($employee.as_str())
        .bind(tm($start))
        .bind(tm($end))
        .bind($exclude)
        .fetch_optional(&mut *$tx)
        .await?;
        if clash.is_some() {
            return Err(StoreError::SlotTaken);
        }
    }};
}

/// On PostgreSQL, serialises the write transactions that take time from one employee
/// (a transaction-scoped advisory lock), so the re-check that follows sees every
/// committed competitor and concurrent conflicting inserts never meet inside the
/// exclusion constraint (where they could deadlock). SQLite writers are already
/// serialised by `BEGIN IMMEDIATE`.
macro_rules! lock_employee {
    ($tx:expr, $tenant:expr, $employee:expr) => {{
        if IS_POSTGRES {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("booking:{}/{}", $tenant, $employee))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Appends a history row.
macro_rules! insert_history {
    ($tx:expr, $tenant:expr, $booking:expr, $at:expr, $action:expr, $actor:expr, $from:expr, $to:expr) => {{
        sqlx::query(
            "INSERT INTO booking_history (tenant_id, id, booking_id, at, action, actor, from_slot, to_slot)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($tenant.as_str())
        .bind(HistoryId::generate().as_str())
        .bind($booking.as_str())
        .bind(tm($at))
        .bind($action.as_str())
        .bind($actor.as_str())
        .bind(slot_json($from)?)
        .bind(slot_json($to)?)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Enqueues one calendar sync event per active connection of the employee.
macro_rules! enqueue_sync {
    ($tx:expr, $tenant:expr, $booking:expr, $employee:expr, $operation:expr, $sequence:expr, $now:expr) => {{
        let connections = sqlx::query(
            "SELECT id, provider FROM calendar_connections
             WHERE tenant_id = $1 AND employee_id = $2 AND status = 'active'
             ORDER BY id",
        )
        .bind($tenant.as_str())
        .bind($employee.as_str())
        .fetch_all(&mut *$tx)
        .await?;
        for connection in &connections {
            let connection_id = connection.text("id")?;
            sqlx::query(
                "INSERT INTO calendar_sync_events (tenant_id, id, booking_id, connection_id,
                    employee_id, provider, provider_event_id, operation, payload, status, attempts,
                    next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6,
                    (SELECT provider_event_id FROM calendar_sync_events
                     WHERE tenant_id = $1 AND booking_id = $3 AND connection_id = $4
                       AND provider_event_id IS NOT NULL
                     ORDER BY created_at DESC, id DESC LIMIT 1),
                    $7, $8, 'pending', 0, $9, $9, $9)",
            )
            .bind($tenant.as_str())
            .bind(JobId::generate().as_str())
            .bind($booking.as_str())
            .bind(&connection_id)
            .bind($employee.as_str())
            .bind(connection.text("provider")?)
            .bind($operation)
            .bind(json!({ "sequence": $sequence }).to_string())
            .bind(tm($now))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Enqueues the caller's notifications.
macro_rules! enqueue_notifications {
    ($tx:expr, $tenant:expr, $booking:expr, $snapshot_of:expr, $notifications:expr, $now:expr) => {{
        for n in $notifications {
            let n: &NewNotification = n;
            sqlx::query(
                "INSERT INTO notifications (tenant_id, id, booking_id, channel, recipient, template,
                    payload, status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8)",
            )
            .bind($tenant.as_str())
            .bind(JobId::generate().as_str())
            .bind($booking.as_str())
            .bind(&n.channel)
            .bind(&n.recipient)
            .bind(&n.template)
            .bind(fill_snapshot(&n.payload, $snapshot_of).to_string())
            .bind(tm($now))
            .execute(&mut *$tx)
            .await?;
        }
    }};
}

/// Reads a booking inside a transaction, locking its row on PostgreSQL.
macro_rules! booking_for_update {
    ($tx:expr, $tenant:expr, $id:expr) => {{
        let lock = if IS_POSTGRES { " FOR UPDATE" } else { "" };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 AND id = $2{lock}"
        )))
        .bind($tenant.as_str())
        .bind($id.as_str())
        .fetch_optional(&mut *$tx)
        .await?
        .as_ref()
        .map(booking_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound { entity: "booking" })?
    }};
}

impl Store {
    /// Books a slot: one transaction that re-checks the slot and writes the booking, its
    /// history, its outbox rows and the idempotency answer.
    ///
    /// Fails with `SlotTaken` if the buffered interval overlaps a confirmed booking of
    /// the employee, `NotFound` if the service or employee does not exist for the tenant.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, booking = %new.id))]
    pub async fn create_booking(&self, tenant: &TenantId, new: &NewBooking) -> Result<Booking> {
        let now = now();
        let start = crate::backend::whole_seconds(new.start);
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            lock_employee!(tx, tenant, new.employee_id);
            let service = sqlx::query(
                "SELECT duration_min, buffer_before_min, buffer_after_min FROM services
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(new.service_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound { entity: "service" })?;
            let employee = sqlx::query("SELECT 1 FROM employees WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(new.employee_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if employee.is_none() {
                return Err(StoreError::NotFound { entity: "employee" });
            }
            let booking = Booking {
                id: new.id.clone(),
                status: BookingStatus::Confirmed,
                service_id: new.service_id.clone(),
                employee_id: new.employee_id.clone(),
                start,
                end: start + TimeDelta::minutes(service.int("duration_min")?),
                buffer_before_min: small(&service, "buffer_before_min")?,
                buffer_after_min: small(&service, "buffer_after_min")?,
                customer: new.customer.clone(),
                notes: new.notes.clone(),
                cancel_reason: None,
                sequence: 0,
                created_at: now,
                updated_at: now,
            };
            ensure_free!(tx, tenant, booking.employee_id, booking.buffered_start(), booking.buffered_end(), "");
            sqlx::query(
                "INSERT INTO bookings (tenant_id, id, service_id, employee_id, status, start_at, end_at,
                    buffer_before_min, buffer_after_min, buffered_start, buffered_end, customer_name,
                    customer_email, customer_timezone, notes, sequence, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'confirmed', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $15)",
            )
            .bind(tenant.as_str())
            .bind(booking.id.as_str())
            .bind(booking.service_id.as_str())
            .bind(booking.employee_id.as_str())
            .bind(tm(booking.start))
            .bind(tm(booking.end))
            .bind(i64::from(booking.buffer_before_min))
            .bind(i64::from(booking.buffer_after_min))
            .bind(tm(booking.buffered_start()))
            .bind(tm(booking.buffered_end()))
            .bind(&booking.customer.name)
            .bind(&booking.customer.email)
            .bind(booking.customer.timezone.as_deref())
            .bind(booking.notes.as_deref())
            .bind(tm(now))
            .execute(&mut *tx)
            .await?;
            insert_history!(tx, tenant, booking.id, now, HistoryAction::Created, new.actor, None, Some(&booking.slot()));
            enqueue_sync!(tx, tenant, booking.id, booking.employee_id, "create", 0, now);
            enqueue_notifications!(tx, tenant, booking.id, &booking, &new.notifications, now);
            if let Some(completion) = &new.idempotency {
                complete_in_tx!(tx, tenant, completion);
            }
            tx.commit().await?;
            Ok(booking)
        })
    }

    /// Cancels a booking. Cancelling a cancelled booking returns it unchanged and writes
    /// nothing; the flag says whether this call changed it.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, booking = %id))]
    pub async fn cancel_booking(
        &self,
        tenant: &TenantId,
        id: &BookingId,
        cancel: &CancelBooking,
    ) -> Result<(Booking, bool)> {
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let mut booking = booking_for_update!(tx, tenant, id);
            if booking.status == BookingStatus::Cancelled {
                tx.rollback().await?;
                return Ok((booking, false));
            }
            booking.status = BookingStatus::Cancelled;
            booking.cancel_reason = cancel.reason.clone();
            booking.sequence += 1;
            booking.updated_at = now;
            sqlx::query(
                "UPDATE bookings SET status = 'cancelled', cancel_reason = $3, sequence = $4, updated_at = $5
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(booking.cancel_reason.as_deref())
            .bind(i64::from(booking.sequence))
            .bind(tm(now))
            .execute(&mut *tx)
            .await?;
            insert_history!(tx, tenant, id, now, HistoryAction::Cancelled, cancel.actor, Some(&booking.slot()), None);
            enqueue_sync!(tx, tenant, id, booking.employee_id, "delete", booking.sequence, now);
            enqueue_notifications!(tx, tenant, id, &booking, &cancel.notifications, now);
            tx.commit().await?;
            Ok((booking, true))
        })
    }

    /// Moves a confirmed booking in one transaction: its own old interval never
    /// conflicts with the new one; on `SlotTaken` nothing changes. A cancelled booking
    /// cannot be rescheduled (`Conflict`).
    #[tracing::instrument(skip_all, fields(tenant = %tenant, booking = %id))]
    pub async fn reschedule_booking(
        &self,
        tenant: &TenantId,
        id: &BookingId,
        change: &RescheduleBooking,
    ) -> Result<Booking> {
        let now = now();
        let start = crate::backend::whole_seconds(change.start);
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let mut booking = booking_for_update!(tx, tenant, id);
            if booking.status == BookingStatus::Cancelled {
                return Err(StoreError::Conflict("a cancelled booking cannot be rescheduled".into()));
            }
            if let Some(employee) = &change.employee_id {
                let exists = sqlx::query("SELECT 1 FROM employees WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.as_str())
                    .bind(employee.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound { entity: "employee" });
                }
            }
            let before = booking.slot();
            let old_employee = booking.employee_id.clone();
            let duration = booking.end - booking.start;
            booking.start = start;
            booking.end = start + duration;
            if let Some(employee) = &change.employee_id {
                booking.employee_id = employee.clone();
            }
            booking.sequence += 1;
            booking.updated_at = now;
            // The booking's row lock is taken before the employee lock, never after.
            lock_employee!(tx, tenant, booking.employee_id);
            ensure_free!(tx, tenant, booking.employee_id, booking.buffered_start(), booking.buffered_end(), id.as_str());
            sqlx::query(
                "UPDATE bookings SET employee_id = $3, start_at = $4, end_at = $5, buffered_start = $6,
                    buffered_end = $7, sequence = $8, updated_at = $9
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(booking.employee_id.as_str())
            .bind(tm(booking.start))
            .bind(tm(booking.end))
            .bind(tm(booking.buffered_start()))
            .bind(tm(booking.buffered_end()))
            .bind(i64::from(booking.sequence))
            .bind(tm(now))
            .execute(&mut *tx)
            .await?;
            insert_history!(tx, tenant, id, now, HistoryAction::Rescheduled, change.actor, Some(&before), Some(&booking.slot()));
            if old_employee == booking.employee_id {
                enqueue_sync!(tx, tenant, id, booking.employee_id, "update", booking.sequence, now);
            } else {
                enqueue_sync!(tx, tenant, id, old_employee, "delete", booking.sequence, now);
                enqueue_sync!(tx, tenant, id, booking.employee_id, "create", booking.sequence, now);
            }
            enqueue_notifications!(tx, tenant, id, &booking, &change.notifications, now);
            if let Some(completion) = &change.idempotency {
                complete_in_tx!(tx, tenant, completion);
            }
            tx.commit().await?;
            Ok(booking)
        })
    }

    /// The booking with this id.
    pub async fn booking(&self, tenant: &TenantId, id: &BookingId) -> Result<Booking> {
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOOKING_COLUMNS} FROM bookings WHERE tenant_id = $1 AND id = $2"
            )))
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(booking_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound { entity: "booking" })
        })
    }

    /// Bookings overlapping `[from, to)` (appointment times, not buffers), by start then id.
    pub async fn list_bookings(&self, tenant: &TenantId, filter: &BookingFilter) -> Result<Vec<Booking>> {
        let (after_start, after_id) = match &filter.after {
            Some((start, id)) => (Some(*start), Some(id.as_str())),
            None => (None, None),
        };
        dispatch!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {BOOKING_COLUMNS} FROM bookings
                 WHERE tenant_id = $1 AND start_at < $3 AND end_at > $2
                   AND ($4 IS NULL OR employee_id = $4)
                   AND ($5 IS NULL OR status = $5)
                   AND ($6 IS NULL OR start_at > $6 OR (start_at = $6 AND id > $7))
                 ORDER BY start_at, id
                 LIMIT $8"
            )))
            .bind(tenant.as_str())
            .bind(tm(filter.from))
            .bind(tm(filter.to))
            .bind(filter.employee_id.as_ref().map(EmployeeId::as_str))
            .bind(filter.status.map(BookingStatus::as_str))
            .bind(tmo(after_start))
            .bind(after_id)
            .bind(i64::from(filter.limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(booking_from_row)
            .collect()
        })
    }

    /// Confirmed bookings starting in `[from, to)` per employee (for "fewest bookings that
    /// local day" assignment); employees with none are listed with 0, in the order given.
    pub async fn count_confirmed_bookings(
        &self,
        tenant: &TenantId,
        employee_ids: &[EmployeeId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(EmployeeId, u64)>> {
        let mut counts = Vec::with_capacity(employee_ids.len());
        for employee in employee_ids {
            let n = dispatch!(self, pool => {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM bookings
                     WHERE tenant_id = $1 AND employee_id = $2 AND status = 'confirmed'
                       AND start_at >= $3 AND start_at < $4",
                )
                .bind(tenant.as_str())
                .bind(employee.as_str())
                .bind(tm(from))
                .bind(tm(to))
                .fetch_one(pool)
                .await?;
                row.int("n")?
            });
            counts.push((employee.clone(), u64::try_from(n).unwrap_or_default()));
        }
        Ok(counts)
    }

    /// Every change of a booking, oldest first.
    pub async fn booking_history(&self, tenant: &TenantId, id: &BookingId) -> Result<Vec<HistoryEntry>> {
        self.booking(tenant, id).await?;
        dispatch!(self, pool => {
            sqlx::query(
                "SELECT id, at, action, actor, from_slot, to_slot FROM booking_history
                 WHERE tenant_id = $1 AND booking_id = $2 ORDER BY at, id",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
            .iter()
            .map(history_from_row)
            .collect()
        })
    }

    /// Completes a claimed calendar-sync job in one transaction: stores the provider's
    /// event id (if any), marks the job `succeeded` — `Conflict` and nothing written if
    /// `worker_id` no longer holds its lease — and appends `calendar_synced` to the
    /// booking's history with `from`/`to`. A crash can no longer leave a done job without
    /// its history entry, or a history entry for a job another worker redoes.
    pub async fn complete_calendar_job(
        &self,
        tenant: &TenantId,
        job: &JobId,
        worker_id: &str,
        provider_event_id: Option<&str>,
        synced: &SyncedWrite<'_>,
    ) -> Result<()> {
        let SyncedWrite { booking, from, to } = *synced;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            let changed = sqlx::query(
                "UPDATE calendar_sync_events SET status = 'succeeded', locked_by = NULL, locked_until = NULL,
                    last_error = NULL, updated_at = $4, provider_event_id = COALESCE($5, provider_event_id)
                 WHERE tenant_id = $1 AND id = $2 AND status = 'in_progress' AND locked_by = $3",
            )
            .bind(tenant.as_str())
            .bind(job.as_str())
            .bind(worker_id)
            .bind(tm(now))
            .bind(provider_event_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict("the job's lease is not held by this worker".into()));
            }
            let exists = sqlx::query("SELECT 1 AS one FROM bookings WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(booking.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if exists && (from.is_some() || to.is_some()) {
                insert_history!(tx, tenant, booking, now, HistoryAction::CalendarSynced, Actor::System, from, to);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Appends a history entry (for the sync engine: `calendar_synced`, ...).
    pub async fn append_history(
        &self,
        tenant: &TenantId,
        id: &BookingId,
        action: HistoryAction,
        actor: Actor,
        from: Option<&SlotRef>,
        to: Option<&SlotRef>,
    ) -> Result<()> {
        self.booking(tenant, id).await?;
        let now = now();
        dispatch!(self, pool => {
            let mut tx = begin_write(pool).await?;
            insert_history!(tx, tenant, id, now, action, actor, from, to);
            tx.commit().await?;
        });
        Ok(())
    }
}
