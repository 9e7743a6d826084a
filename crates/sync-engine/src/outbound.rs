//! Outbound: one claimed calendar-sync job → one provider write, then its bookkeeping.
//!
//! The rule for each job is decided from the job rows of the same booking and
//! connection (see `docs/sync.md`):
//! - an earlier job of the pair that is not finished (`pending`, `in_progress`,
//!   `failed`) makes this one wait ([`Queue::defer`], the attempt is not counted), so an
//!   update or delete never overtakes its create;
//! - create and update write the booking *as it is now* (not as it was when the job was
//!   enqueued), so jobs that run late cannot move an event back in time;
//! - a delete with no event id on any job of the pair deletes nothing: the create never
//!   succeeded;
//! - a create or update for a booking that is no longer in this calendar (cancelled, or
//!   moved to another employee) writes nothing on its first attempt; on a later attempt
//!   an earlier one may have reached the provider before a crash, so it creates
//!   (idempotently, which returns the existing event) and deletes what it finds.

use calendar_provider::{CalendarProvider, EventRef, OutgoingEvent, ProviderError, TokenSet};
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use store::{
    Actor, Booking, BookingId, BookingStatus, CalendarConnection, ConnectionStatus, HistoryAction, Job, JobDetails,
    JobStatus, Queue, QueueKind, StoreError, SyncOperation, SyncedWrite,
};

use crate::error::Result;
use crate::tokens::{persist_if_changed, token_set};
use crate::worker::Worker;

/// What happened to one claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobOutcome {
    /// The provider was called and the calendar now matches the booking.
    Synced,
    /// Nothing needed writing; the reason is logged.
    Skipped(&'static str),
    /// An earlier job of the same booking and calendar is unfinished: handed back.
    Deferred,
    /// Failed; it will be retried at the recorded time.
    Retrying,
    /// Given up (attempts used up, or a failure no retry can fix).
    Dead,
    /// Our lease ran out before the result was recorded; the job runs again elsewhere.
    LeaseLost,
}

/// The provider write a job comes down to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Skip(&'static str),
    Create,
    Update(String),
    Delete(String),
    /// Create idempotently (to learn the id of an event an earlier attempt may have
    /// written), then delete it.
    Purge,
}

fn finished(status: JobStatus) -> bool {
    matches!(status, JobStatus::Succeeded | JobStatus::Dead)
}

/// Decides the provider write of `operation` for `booking` in `connection`'s calendar.
fn plan(
    operation: SyncOperation,
    booking: &Booking,
    calendar_owner: &store::EmployeeId,
    known_event_id: Option<String>,
    attempts: u32,
) -> Action {
    let belongs_here = booking.status == BookingStatus::Confirmed && &booking.employee_id == calendar_owner;
    match operation {
        SyncOperation::Create | SyncOperation::Update if belongs_here => match (operation, known_event_id) {
            (SyncOperation::Update, Some(id)) => Action::Update(id),
            _ => Action::Create,
        },
        SyncOperation::Create | SyncOperation::Update => {
            if known_event_id.is_none() && attempts > 1 {
                Action::Purge
            } else {
                Action::Skip("the booking is no longer in this calendar")
            }
        }
        SyncOperation::Delete => match known_event_id {
            Some(id) => Action::Delete(id),
            None => Action::Skip("no event was ever created for this booking: nothing to delete"),
        },
    }
}

/// The event slotwise writes for a booking.
pub fn outgoing_event(tenant: &str, booking: &Booking, summary: String, time_zone: String) -> OutgoingEvent {
    OutgoingEvent {
        tenant_id: tenant.to_owned(),
        booking_id: booking.id.as_str().to_owned(),
        summary,
        description: booking.notes.clone(),
        start: booking.start,
        end: booking.end,
        time_zone,
    }
}

impl Worker {
    pub(crate) fn queue(&self) -> Queue<'_> {
        self.store.queue(QueueKind::CalendarSync).with_policy(self.config.retry)
    }

    /// Processes one job claimed by this worker at `now`: decides, calls the provider,
    /// records the outcome. Provider failures end up on the job; only store failures are
    /// errors (the lease then runs out and the job is tried again).
    #[tracing::instrument(skip_all, fields(tenant = %job.tenant_id, job = %job.id))]
    pub async fn process_job(&self, job: &Job, now: DateTime<Utc>) -> Result<JobOutcome> {
        let JobDetails::CalendarSync(event) = &job.details else {
            return self.give_up(job, None, "not a calendar sync job").await;
        };
        let (Some(booking_id), Some(connection_id)) = (&event.booking_id, &event.connection_id) else {
            return self.give_up(job, None, "the job names no booking or no connection").await;
        };
        let connection = match self.store.connection(&job.tenant_id, connection_id).await {
            Ok(connection) => connection,
            Err(StoreError::NotFound { .. }) => {
                return self.give_up(job, Some(booking_id), "the calendar connection was removed").await;
            }
            Err(e) => return Err(e.into()),
        };
        if connection.status == ConnectionStatus::Revoked {
            return self.give_up(job, Some(booking_id), "the calendar connection is revoked").await;
        }

        // Order per (booking, connection): jobs are enqueued in commit order, and ids are
        // UUID v7, so (created_at, id) orders them.
        let siblings: Vec<Job> = self
            .queue()
            .list(&job.tenant_id, Some(booking_id), 10_000)
            .await?
            .into_iter()
            .filter(|j| j.id != job.id && calendar_connection(j) == Some(connection_id))
            .collect();
        let earlier: Vec<&Job> =
            siblings.iter().filter(|j| (j.created_at, &j.id) < (job.created_at, &job.id)).collect();
        let unfinished = earlier.iter().filter(|j| !finished(j.status));
        if let Some(due) = unfinished.map(|j| if j.status == JobStatus::Failed { j.next_attempt_at } else { now }).min()
        {
            let until = due.max(now + self.config.defer_wait);
            tracing::debug!(%until, "an earlier job of this booking and calendar is unfinished; deferring");
            return match self.queue().defer(&job.tenant_id, &job.id, &self.config.worker_id, until).await {
                Ok(()) => Ok(JobOutcome::Deferred),
                Err(StoreError::Conflict(_)) => Ok(JobOutcome::LeaseLost),
                Err(e) => Err(e.into()),
            };
        }
        // `list` is newest first: the most recent id known for this booking's event here.
        let known_event_id = event
            .provider_event_id
            .clone()
            .or_else(|| earlier.iter().find_map(|j| calendar_event_id(j).map(str::to_owned)));

        let booking = match self.store.booking(&job.tenant_id, booking_id).await {
            Ok(booking) => booking,
            Err(StoreError::NotFound { .. }) => return self.give_up(job, None, "the booking no longer exists").await,
            Err(e) => return Err(e.into()),
        };
        let action = plan(event.operation, &booking, &connection.employee_id, known_event_id, job.attempts);
        if let Action::Skip(reason) = action {
            tracing::info!(reason, "nothing to write");
            return self.succeed(job, &booking, None, None, None).await.map(|o| match o {
                JobOutcome::Synced => JobOutcome::Skipped(reason),
                other => other,
            });
        }
        let Some(provider) = self.providers.provider(connection.provider) else {
            let error = format!("no calendar provider is configured for {}", connection.provider.as_str());
            return self.retry_later(job, &booking, &error, None, now).await;
        };

        let mut tokens = token_set(&connection, now);
        let before = tokens.clone();
        let result = self.write(provider.as_ref(), &mut tokens, &connection, &booking, &action).await;
        persist_if_changed(&self.store, &connection, &before, &tokens).await?;
        match result {
            Ok(written) => {
                let delete = matches!(action, Action::Delete(_) | Action::Purge);
                let (from, to) = if delete { (Some(&booking), None) } else { (None, Some(&booking)) };
                self.succeed(job, &booking, written.as_ref().map(|w| w.id.as_str()), from, to).await
            }
            Err(error) => self.failed(job, &booking, &connection, error, now).await,
        }
    }

    /// The provider calls of `action`; the event written (for create and update).
    async fn write(
        &self,
        provider: &dyn CalendarProvider,
        tokens: &mut TokenSet,
        connection: &CalendarConnection,
        booking: &Booking,
        action: &Action,
    ) -> std::result::Result<Option<EventRef>, ProviderError> {
        let calendar = connection.calendar_id.as_str();
        match action {
            Action::Skip(_) => Ok(None),
            Action::Delete(id) => provider.delete_event(tokens, calendar, id).await.map(|()| None),
            Action::Create | Action::Update(_) | Action::Purge => {
                let event = self.describe(&connection.tenant_id, booking).await.map_err(|e| {
                    // The booking's service or employee vanished: nothing sensible to write.
                    ProviderError::Permanent(format!("cannot describe the booking: {e}"))
                })?;
                match action {
                    Action::Update(id) => provider.update_event(tokens, calendar, id, &event, None).await.map(Some),
                    Action::Purge => match provider.create_event(tokens, calendar, &event).await {
                        Ok(found) => provider.delete_event(tokens, calendar, &found.id).await.map(|()| Some(found)),
                        // The provider keeps deleted ids: the event is already gone.
                        Err(ProviderError::Conflict(_)) => Ok(None),
                        Err(e) => Err(e),
                    },
                    _ => provider.create_event(tokens, calendar, &event).await.map(Some),
                }
            }
        }
    }

    /// Title and zone of a booking's calendar event.
    async fn describe(&self, tenant: &store::TenantId, booking: &Booking) -> Result<OutgoingEvent> {
        let service = self.store.service(tenant, &booking.service_id).await?;
        let employee = self.store.employee(tenant, &booking.employee_id).await?;
        let summary = format!("{} with {}", service.settings.name, booking.customer.name);
        Ok(outgoing_event(tenant.as_str(), booking, summary, employee.timezone))
    }

    /// Event id, `succeeded` and `calendar_synced` in one transaction (see
    /// `Store::complete_calendar_job`).
    async fn succeed(
        &self,
        job: &Job,
        booking: &Booking,
        event_id: Option<&str>,
        from: Option<&Booking>,
        to: Option<&Booking>,
    ) -> Result<JobOutcome> {
        let (from, to) = (from.map(Booking::slot), to.map(Booking::slot));
        match self
            .store
            .complete_calendar_job(
                &job.tenant_id,
                &job.id,
                &self.config.worker_id,
                event_id,
                &SyncedWrite { booking: &booking.id, from: from.as_ref(), to: to.as_ref() },
            )
            .await
        {
            Ok(()) => Ok(JobOutcome::Synced),
            Err(StoreError::Conflict(_)) => Ok(JobOutcome::LeaseLost),
            Err(e) => Err(e.into()),
        }
    }

    async fn failed(
        &self,
        job: &Job,
        booking: &Booking,
        connection: &CalendarConnection,
        error: ProviderError,
        now: DateTime<Utc>,
    ) -> Result<JobOutcome> {
        let text = error.to_string();
        tracing::warn!(error = %text, attempts = job.attempts, "calendar write failed");
        match error {
            ProviderError::Revoked(_) => {
                self.mark_revoked(connection, &text).await?;
                self.give_up(job, Some(&booking.id), &text).await
            }
            ProviderError::RateLimited { retry_after } => {
                let wait = retry_after.and_then(|w| TimeDelta::from_std(w).ok());
                self.retry_later(job, booking, &text, wait, now).await
            }
            ProviderError::Transient(_) | ProviderError::Auth(_) => {
                self.retry_later(job, booking, &text, None, now).await
            }
            _ => self.give_up(job, Some(&booking.id), &text).await,
        }
    }

    /// `failed` with a wait of `wait` (the provider's) or full jitter, `dead` once the
    /// attempts are used up.
    async fn retry_later(
        &self,
        job: &Job,
        booking: &Booking,
        error: &str,
        wait: Option<TimeDelta>,
        now: DateTime<Utc>,
    ) -> Result<JobOutcome> {
        let wait = wait
            .unwrap_or_else(|| full_jitter(self.config.retry.backoff(job.attempts)))
            .max(self.config.min_retry_wait);
        let status = match self
            .queue()
            .mark_failed_at(&job.tenant_id, &job.id, &self.config.worker_id, error, Some(wait), now)
            .await
        {
            Ok(status) => status,
            Err(StoreError::Conflict(_)) => return Ok(JobOutcome::LeaseLost),
            Err(e) => return Err(e.into()),
        };
        if status == JobStatus::Dead {
            self.failure_history(job, &booking.id).await?;
            return Ok(JobOutcome::Dead);
        }
        Ok(JobOutcome::Retrying)
    }

    /// `dead` at once, with a `calendar_failed` history entry when the booking exists.
    async fn give_up(&self, job: &Job, booking: Option<&BookingId>, error: &str) -> Result<JobOutcome> {
        tracing::warn!(error, "giving the calendar write up");
        match self.queue().mark_dead(&job.tenant_id, &job.id, &self.config.worker_id, error).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Ok(JobOutcome::LeaseLost),
            Err(e) => return Err(e.into()),
        }
        if let Some(booking) = booking {
            self.failure_history(job, booking).await?;
        }
        Ok(JobOutcome::Dead)
    }

    async fn failure_history(&self, job: &Job, booking: &BookingId) -> Result<()> {
        match self
            .store
            .append_history(&job.tenant_id, booking, HistoryAction::CalendarFailed, Actor::System, None, None)
            .await
        {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn calendar_connection(job: &Job) -> Option<&store::ConnectionId> {
    match &job.details {
        JobDetails::CalendarSync(event) => event.connection_id.as_ref(),
        _ => None,
    }
}

fn calendar_event_id(job: &Job) -> Option<&str> {
    match &job.details {
        JobDetails::CalendarSync(event) => event.provider_event_id.as_deref(),
        _ => None,
    }
}

/// A wait drawn uniformly from `[0, ceiling]` ("full jitter"), so retries of many jobs
/// failed by one outage spread out instead of returning together.
fn full_jitter(ceiling: TimeDelta) -> TimeDelta {
    let ceiling = ceiling.num_milliseconds().max(0);
    TimeDelta::milliseconds(rand::thread_rng().gen_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(status: BookingStatus) -> Booking {
        let start = chrono::DateTime::from_timestamp(1_894_060_800, 0).unwrap_or_default();
        Booking {
            id: BookingId::generate(),
            status,
            service_id: store::ServiceId::generate(),
            employee_id: store::EmployeeId::generate(),
            start,
            end: start + TimeDelta::hours(1),
            buffer_before_min: 0,
            buffer_after_min: 0,
            customer: store::Customer { name: "Grace".into(), email: "g@example.com".into(), timezone: None },
            notes: None,
            cancel_reason: None,
            sequence: 0,
            created_at: start,
            updated_at: start,
        }
    }

    #[test]
    fn plan_follows_the_rules() {
        use Action::*;
        use BookingStatus::{Cancelled, Confirmed};
        use SyncOperation::{Create as C, Delete as D, Update as U};
        let id = || Some("ev1".to_owned());
        // (operation, booking status, booking in this calendar, known id, attempts) → action
        let cases: Vec<(SyncOperation, BookingStatus, bool, Option<String>, u32, Action)> = vec![
            (C, Confirmed, true, None, 1, Create),
            (C, Confirmed, true, id(), 1, Create),
            (U, Confirmed, true, id(), 1, Update("ev1".into())),
            (U, Confirmed, true, None, 1, Create),
            (C, Cancelled, true, None, 1, Skip("the booking is no longer in this calendar")),
            (C, Cancelled, true, None, 2, Purge),
            (U, Cancelled, true, id(), 3, Skip("the booking is no longer in this calendar")),
            (C, Confirmed, false, None, 1, Skip("the booking is no longer in this calendar")),
            (D, Cancelled, true, id(), 1, Delete("ev1".into())),
            (D, Cancelled, true, None, 4, Skip("no event was ever created for this booking: nothing to delete")),
        ];
        for (operation, status, here, known, attempts, expected) in cases {
            let b = booking(status);
            let connection_employee = if here { b.employee_id.clone() } else { store::EmployeeId::generate() };
            assert_eq!(
                plan(operation, &b, &connection_employee, known.clone(), attempts),
                expected,
                "{operation:?} {status:?} {here} {known:?} {attempts}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        for _ in 0..200 {
            let wait = full_jitter(TimeDelta::seconds(30));
            assert!(wait >= TimeDelta::zero() && wait <= TimeDelta::seconds(30));
        }
        assert_eq!(full_jitter(TimeDelta::zero()), TimeDelta::zero());
    }
}
