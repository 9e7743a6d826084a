//! Inbound: one connection's calendar changes → external busy time, and conflicts.

use std::collections::HashSet;

use calendar_provider::{
    CalendarProvider, EventTiming, ExternalEvent, ProviderError, SyncCursor, SyncOutcome, TimeWindow, TokenSet,
};
use chrono::{DateTime, NaiveDate, Utc};
use store::{
    Actor, BookingFilter, BookingStatus, CalendarConnection, ConnectionStatus, HistoryAction, SlotRef, StoreError,
};

use crate::error::{Result, SyncError};
use crate::tokens::{persist_if_changed, token_set};
use crate::worker::Worker;

/// What one inbound sync of a connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Whether it read the whole window (first sync, or after an expired cursor).
    pub full: bool,
    /// Whether the stored cursor had expired (the mirrored events were wiped first).
    pub cursor_expired: bool,
    /// External events inserted or updated.
    pub upserted: usize,
    /// External events removed.
    pub removed: usize,
    /// Events slotwise wrote itself for this tenant's bookings, not counted as busy time.
    pub skipped_own: usize,
    /// New `conflict_detected` entries written to bookings.
    pub conflicts: usize,
}

/// The webhook event sent when an external event overlaps a confirmed booking.
const CONFLICT_EVENT: &str = "calendar.conflict";
/// The webhook event sent when a connection turns `error` or `revoked`.
const CONNECTION_ERROR_EVENT: &str = "calendar.connection_error";

/// The changes one sync round found, before they are stored.
struct Round {
    changed: Vec<ExternalEvent>,
    removed: Vec<String>,
    next_cursor: String,
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// A provider event as the store keeps it (all-day events at 00:00 UTC of their dates).
fn to_stored(event: &ExternalEvent) -> store::ExternalEvent {
    let (start, end, all_day) = match event.timing {
        EventTiming::Timed { start, end } => (start, end, false),
        EventTiming::AllDay { start, end } => (midnight(start), midnight(end), true),
    };
    store::ExternalEvent {
        provider_event_id: event.id.clone(),
        start,
        end,
        all_day,
        blocks_time: event.blocks_time,
        etag: event.etag.clone(),
        // The trait hands over the mapped busy flag, not the provider's own status word.
        raw_status: if event.blocks_time { "busy" } else { "free" }.to_owned(),
    }
}

impl Worker {
    /// Syncs one connection now; see [`sync_connection_at`](Self::sync_connection_at).
    pub async fn sync_connection(&self, connection: &CalendarConnection) -> Result<SyncReport> {
        self.sync_connection_at(connection, Utc::now()).await
    }

    /// Reads the connection's calendar changes (incremental with the stored cursor, else
    /// a full read of `now - sync_past … now + sync_horizon`; an expired cursor wipes the
    /// mirrored events and reads fully), stores them, records the sync on the connection
    /// and writes `conflict_detected` to confirmed bookings a blocking event now overlaps.
    ///
    /// A provider failure is recorded on the connection (`revoked` for a dead grant,
    /// `error` for a refusal, still `active` with the error for a transient failure, so
    /// bookings keep enqueuing calendar writes) and returned as [`SyncError::Provider`].
    #[tracing::instrument(skip_all, fields(tenant = %connection.tenant_id, connection = %connection.id))]
    pub async fn sync_connection_at(&self, connection: &CalendarConnection, now: DateTime<Utc>) -> Result<SyncReport> {
        let provider =
            self.providers.provider(connection.provider).ok_or(SyncError::NoProvider(connection.provider))?;
        let mut tokens = token_set(connection, now);
        let before = tokens.clone();
        let mut report = SyncReport::default();
        let round = self.read_changes(provider.as_ref(), &mut tokens, connection, now, &mut report).await;
        persist_if_changed(&self.store, connection, &before, &tokens).await?;
        let round = match round {
            Ok(round) => round,
            Err(SyncError::Provider(error)) => {
                let (status, text) = match &error {
                    ProviderError::Revoked(_) => (ConnectionStatus::Revoked, error.to_string()),
                    e if e.is_retryable() => (ConnectionStatus::Active, error.to_string()),
                    _ => (ConnectionStatus::Error, error.to_string()),
                };
                tracing::warn!(error = %text, status = status.as_str(), "calendar sync failed");
                self.store
                    .record_connection_sync(&connection.tenant_id, &connection.id, status, None, Some(&text))
                    .await?;
                if status != ConnectionStatus::Active && status != connection.status {
                    let payload = serde_json::json!({
                        "connection_id": connection.id.as_str(),
                        "employee_id": connection.employee_id.as_str(),
                        "provider": connection.provider.as_str(),
                        "status": status.as_str(),
                        "error": text,
                    });
                    self.notify_tenant(&connection.tenant_id, CONNECTION_ERROR_EVENT, payload).await?;
                }
                return Err(SyncError::Provider(error));
            }
            Err(other) => return Err(other),
        };

        let tenant = &connection.tenant_id;
        let mut removed = round.removed;
        let mut stored = Vec::with_capacity(round.changed.len());
        for event in &round.changed {
            let ours = event.own.as_ref().is_some_and(|own| own.tenant_id == tenant.as_str());
            if ours {
                report.skipped_own += 1;
                removed.push(event.id.clone());
            } else {
                stored.push(to_stored(event));
            }
        }
        if report.full {
            // A full read is the whole truth about the window: forget what it no longer lists.
            let listed: HashSet<&str> = round.changed.iter().map(|e| e.id.as_str()).collect();
            let known = self.store.list_external_events(tenant, &connection.id).await?;
            removed.extend(known.into_iter().map(|e| e.provider_event_id).filter(|id| !listed.contains(id.as_str())));
        }
        self.store.upsert_external_events(tenant, &connection.id, &stored).await?;
        report.upserted = stored.len();
        report.removed = usize::try_from(self.store.delete_external_events(tenant, &connection.id, &removed).await?)
            .unwrap_or(usize::MAX);
        self.store
            .record_connection_sync(tenant, &connection.id, ConnectionStatus::Active, Some(&round.next_cursor), None)
            .await?;
        report.conflicts = self.detect_conflicts(connection, &stored).await?;
        Ok(report)
    }

    async fn read_changes(
        &self,
        provider: &dyn CalendarProvider,
        tokens: &mut TokenSet,
        connection: &CalendarConnection,
        now: DateTime<Utc>,
        report: &mut SyncReport,
    ) -> Result<Round> {
        let calendar = connection.calendar_id.as_str();
        if let Some(cursor) = &connection.sync_token {
            match provider.sync(tokens, calendar, SyncCursor::Incremental(cursor.clone())).await? {
                SyncOutcome::Changes(batch) => {
                    return Ok(Round {
                        changed: batch.changed,
                        removed: batch.removed,
                        next_cursor: batch.next_cursor,
                    });
                }
                SyncOutcome::CursorExpired => {
                    tracing::info!("sync cursor expired; wiping mirrored events for a full sync");
                    report.cursor_expired = true;
                    let known = self.store.list_external_events(&connection.tenant_id, &connection.id).await?;
                    let ids: Vec<String> = known.into_iter().map(|e| e.provider_event_id).collect();
                    self.store.delete_external_events(&connection.tenant_id, &connection.id, &ids).await?;
                }
            }
        }
        report.full = true;
        let window = TimeWindow::new(now - self.config.sync_past, now + self.config.sync_horizon)
            .ok_or(ProviderError::Permanent("the sync window is empty".into()))?;
        match provider.sync(tokens, calendar, SyncCursor::Full(window)).await? {
            SyncOutcome::Changes(batch) => {
                Ok(Round { changed: batch.changed, removed: batch.removed, next_cursor: batch.next_cursor })
            }
            SyncOutcome::CursorExpired => {
                Err(ProviderError::Transient("a full sync answered \"cursor expired\"".into()).into())
            }
        }
    }

    /// Appends `conflict_detected` (actor `calendar:<provider>`, `from` = the booking,
    /// `to` = the external event's interval) to every confirmed booking of the employee
    /// that a blocking event overlaps, once per (booking, event interval). Never cancels.
    async fn detect_conflicts(
        &self,
        connection: &CalendarConnection,
        events: &[store::ExternalEvent],
    ) -> Result<usize> {
        let tenant = &connection.tenant_id;
        let mut written = 0;
        for event in events.iter().filter(|e| e.blocks_time) {
            let filter = BookingFilter {
                from: event.start,
                to: event.end,
                employee_id: Some(connection.employee_id.clone()),
                status: Some(BookingStatus::Confirmed),
                after: None,
                limit: 500,
            };
            let external = SlotRef { start: event.start, end: event.end, employee_id: connection.employee_id.clone() };
            for booking in self.store.list_bookings(tenant, &filter).await? {
                let history = match self.store.booking_history(tenant, &booking.id).await {
                    Ok(history) => history,
                    Err(StoreError::NotFound { .. }) => continue,
                    Err(e) => return Err(e.into()),
                };
                let known = history
                    .iter()
                    .any(|h| h.action == HistoryAction::ConflictDetected && h.to.as_ref() == Some(&external));
                if known {
                    continue;
                }
                tracing::warn!(booking = %booking.id, event = %event.provider_event_id, "external event overlaps a confirmed booking");
                self.store
                    .append_history(
                        tenant,
                        &booking.id,
                        HistoryAction::ConflictDetected,
                        Actor::Calendar(connection.provider),
                        Some(&booking.slot()),
                        Some(&external),
                    )
                    .await?;
                let payload = serde_json::json!({
                    "booking_id": booking.id.as_str(),
                    "employee_id": connection.employee_id.as_str(),
                    "provider": connection.provider.as_str(),
                    "booking": {"start": booking.start, "end": booking.end},
                    "event": {
                        "id": event.provider_event_id,
                        "start": event.start,
                        "end": event.end,
                        "all_day": event.all_day,
                    },
                });
                self.notify_tenant(tenant, CONFLICT_EVENT, payload).await?;
                written += 1;
            }
        }
        Ok(written)
    }
}

impl Worker {
    /// Enqueues `event` for every active webhook endpoint of the tenant subscribed to it
    /// (the notifications worker delivers and signs them).
    async fn notify_tenant(&self, tenant: &store::TenantId, event: &str, payload: serde_json::Value) -> Result<()> {
        for endpoint in self.store.webhook_endpoints_for(tenant, event).await? {
            let message = store::NewNotification {
                channel: "webhook".to_owned(),
                recipient: endpoint.id.to_string(),
                template: event.to_owned(),
                payload: payload.clone(),
            };
            self.store.enqueue_notification(tenant, None, &message).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_day_events_are_stored_at_utc_midnight() {
        let date = |d| NaiveDate::from_ymd_opt(2030, 1, d).unwrap_or_default();
        let event = ExternalEvent {
            id: "e1".into(),
            timing: EventTiming::AllDay { start: date(7), end: date(8) },
            blocks_time: true,
            etag: None,
            own: None,
            recurring_event_id: None,
        };
        let stored = to_stored(&event);
        assert!(stored.all_day && stored.blocks_time);
        assert_eq!(stored.start, midnight(date(7)));
        assert_eq!(stored.end - stored.start, chrono::TimeDelta::days(1));
    }
}
