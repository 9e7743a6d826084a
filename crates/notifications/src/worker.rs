//! The worker: claims notification jobs from the outbox, sends them, records the outcome.
//!
//! A job is marked `succeeded` only after the email was accepted or the webhook answered
//! 2xx; a crash in between leaves the lease to expire and the job is sent again
//! (at least once, same `Message-ID` / `webhook-id`). Failures are retried with the
//! channel's [`RetryPolicy`]; webhooks are given up (`dead`) once the event is older than
//! [`WorkerSettings::webhook_window`] (24 h); errors no retry can fix (a refused address,
//! an unrenderable row, an SMTP 5xx) are `dead` at once.

use std::time::Duration;

use chrono::{SecondsFormat, TimeDelta, Utc};
use lettre::message::Mailbox;
use serde_json::json;
use store::{Job, JobDetails, QueueKind, RetryPolicy, Store, StoreError};
use tokio::sync::watch;

use crate::email::{self, Mailer};
use crate::payload::{self, BookingEvent, EmailPayload};
use crate::webhook::{self, UrlPolicy};
use crate::{Error, Result};

/// How the worker behaves; [`WorkerSettings::new`] gives the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerSettings {
    /// Names this worker's leases.
    pub worker_id: String,
    /// Where emails go.
    pub mailer: Mailer,
    /// The `From` of emails (also the invitation's organizer).
    pub mail_from: Mailbox,
    /// Which webhook targets are allowed.
    pub url_policy: UrlPolicy,
    /// Retries of emails (default: the store's, 8 attempts over about an hour).
    pub email_policy: RetryPolicy,
    /// Retries of webhooks (default: 30 s doubling up to 2 h; the window ends them).
    pub webhook_policy: RetryPolicy,
    /// How long after the event a webhook is still retried (default 24 h).
    pub webhook_window: TimeDelta,
    /// Jobs claimed at a time.
    pub batch: u32,
    /// How long a claim holds before another worker may take the job.
    pub lease: TimeDelta,
    /// The wait between polls when the outbox is empty.
    pub poll_interval: Duration,
}

impl WorkerSettings {
    /// Defaults around a mailer and a sender address.
    pub fn new(mailer: Mailer, mail_from: Mailbox) -> Self {
        Self {
            worker_id: format!("notifications-{}", std::process::id()),
            mailer,
            mail_from,
            url_policy: UrlPolicy::default(),
            email_policy: RetryPolicy::default(),
            webhook_policy: RetryPolicy {
                max_attempts: 40,
                base_backoff: TimeDelta::seconds(30),
                max_backoff: TimeDelta::hours(2),
            },
            webhook_window: TimeDelta::hours(24),
            batch: 20,
            lease: TimeDelta::minutes(5),
            poll_interval: Duration::from_secs(1),
        }
    }

    /// Sets [`url_policy`](Self::url_policy).
    pub fn url_policy(mut self, policy: UrlPolicy) -> Self {
        self.url_policy = policy;
        self
    }

    /// Sets [`webhook_policy`](Self::webhook_policy).
    pub fn webhook_policy(mut self, policy: RetryPolicy) -> Self {
        self.webhook_policy = policy;
        self
    }

    /// Sets [`email_policy`](Self::email_policy).
    pub fn email_policy(mut self, policy: RetryPolicy) -> Self {
        self.email_policy = policy;
        self
    }

    /// Sets [`worker_id`](Self::worker_id).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = id.into();
        self
    }
}

/// What became of one job.
enum Outcome {
    Done,
    Retry { error: String, retry_after: Option<TimeDelta> },
    GiveUp(String),
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Self {
        if e.is_permanent() {
            Outcome::GiveUp(e.to_string())
        } else {
            Outcome::Retry { error: e.to_string(), retry_after: None }
        }
    }
}

/// Sends notification jobs. See the module docs for the guarantees.
#[derive(Debug, Clone)]
pub struct Worker {
    settings: WorkerSettings,
}

impl Worker {
    /// A worker with these settings.
    pub fn new(settings: WorkerSettings) -> Self {
        Self { settings }
    }

    /// Its settings.
    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// Claims the due jobs (one batch) and processes each; returns how many.
    #[tracing::instrument(skip_all, fields(worker = %self.settings.worker_id))]
    pub async fn run_once(&self, store: &Store) -> Result<usize> {
        let s = &self.settings;
        let jobs = store.queue(QueueKind::Notifications).claim_due(&s.worker_id, s.batch, s.lease).await?;
        for job in &jobs {
            let outcome = self.process(store, job).await;
            self.settle(store, job, outcome).await?;
        }
        Ok(jobs.len())
    }

    /// Processes jobs until `shutdown` turns `true` (or its sender is dropped),
    /// finishing the job in hand first.
    pub async fn run(self, store: Store, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.settings.worker_id, "notification worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let processed = match self.run_once(&store).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "notification worker: claiming or settling failed");
                    0
                }
            };
            if processed == 0 {
                tokio::select! {
                    changed = shutdown.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
        tracing::info!(worker = %self.settings.worker_id, "notification worker stopped");
    }

    async fn process(&self, store: &Store, job: &Job) -> Outcome {
        let JobDetails::Notification(n) = &job.details else {
            return Outcome::GiveUp("not a notification job".into());
        };
        match n.message.channel.as_str() {
            payload::EMAIL => self.send_email(job, &n.message).await,
            payload::WEBHOOK => self.send_webhook(store, job, &n.message).await,
            other => Outcome::GiveUp(format!("unknown channel {other:?}")),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant_id, job = %job.id))]
    async fn send_email(&self, job: &Job, message: &store::NewNotification) -> Outcome {
        let Some(event) = BookingEvent::parse(&message.template) else {
            return Outcome::GiveUp(format!("unknown email template {:?}", message.template));
        };
        let payload: EmailPayload = match serde_json::from_value(message.payload.clone()) {
            Ok(p) => p,
            Err(e) => return Outcome::GiveUp(format!("email payload: {e}")),
        };
        let s = &self.settings;
        let sent = async {
            let rendered = email::render(event, &payload, s.mail_from.email.as_ref())?;
            let mime = email::message(job.id.as_str(), &s.mail_from, &message.recipient, &rendered)?;
            s.mailer.send(job.id.as_str(), &mime).await
        }
        .await;
        match sent {
            Ok(()) => Outcome::Done,
            Err(e) => e.into(),
        }
    }

    #[tracing::instrument(skip_all, fields(tenant = %job.tenant_id, job = %job.id))]
    async fn send_webhook(&self, store: &Store, job: &Job, message: &store::NewNotification) -> Outcome {
        let Ok(endpoint_id) = store::WebhookId::parse(message.recipient.as_str()) else {
            return Outcome::GiveUp(format!("bad webhook id {:?}", message.recipient));
        };
        let endpoint = match store.webhook_endpoint(&job.tenant_id, &endpoint_id).await {
            Ok(e) if e.active => e,
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                tracing::info!(endpoint = %endpoint_id, "webhook endpoint removed: delivery dropped");
                return Outcome::Done;
            }
            Err(e) => return Outcome::Retry { error: e.to_string(), retry_after: None },
        };
        let body = json!({
            "type": message.template,
            "timestamp": job.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "data": message.payload,
        })
        .to_string();
        let now = Utc::now();
        let attempt = webhook::deliver(
            self.settings.url_policy,
            &endpoint.url,
            &endpoint.secret,
            job.id.as_str(),
            now.timestamp(),
            body.as_bytes(),
        )
        .await;
        let logged = store
            .record_webhook_delivery(
                &job.tenant_id,
                &store::NewWebhookDelivery {
                    endpoint_id,
                    job_id: job.id.clone(),
                    event_type: message.template.clone(),
                    attempt: job.attempts,
                    status_code: attempt.status,
                    error: attempt.error.clone(),
                    at: now,
                },
            )
            .await;
        if let Err(e) = logged {
            tracing::warn!(error = %e, "could not record a webhook delivery");
        }
        match attempt.error {
            None => Outcome::Done,
            Some(error) if attempt.permanent => Outcome::GiveUp(error),
            Some(error) => {
                Outcome::Retry { error, retry_after: attempt.retry_after.and_then(|d| TimeDelta::from_std(d).ok()) }
            }
        }
    }

    async fn settle(&self, store: &Store, job: &Job, outcome: Outcome) -> Result<()> {
        let s = &self.settings;
        let queue = store.queue(QueueKind::Notifications);
        let is_webhook = matches!(&job.details, JobDetails::Notification(n) if n.message.channel == payload::WEBHOOK);
        let policy = if is_webhook { s.webhook_policy } else { s.email_policy };
        let give_up = RetryPolicy { max_attempts: 1, ..policy };
        let settled = match outcome {
            Outcome::Done => queue.mark_succeeded(&job.tenant_id, &job.id, &s.worker_id).await.map(|()| None),
            Outcome::GiveUp(error) => {
                tracing::warn!(tenant = %job.tenant_id, job = %job.id, %error, "notification given up");
                queue
                    .with_policy(give_up)
                    .mark_failed(&job.tenant_id, &job.id, &s.worker_id, &error, None)
                    .await
                    .map(Some)
            }
            Outcome::Retry { error, retry_after } => {
                let expired = is_webhook && Utc::now() - job.created_at >= s.webhook_window;
                let policy = if expired { give_up } else { policy };
                tracing::info!(tenant = %job.tenant_id, job = %job.id, attempt = job.attempts, %error, "notification failed");
                queue
                    .with_policy(policy)
                    .mark_failed(&job.tenant_id, &job.id, &s.worker_id, &error, retry_after)
                    .await
                    .map(Some)
            }
        };
        match settled {
            Ok(_) => Ok(()),
            // The lease ran out while sending and another worker has the job: it will settle it.
            Err(StoreError::Conflict(_)) => {
                tracing::warn!(job = %job.id, "lease lost while sending: another worker owns the job now");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_webhook_retries_outlast_the_24_hour_window() {
        let s = WorkerSettings::new(Mailer::Spool("unused".into()), "n@example.com".parse().unwrap());
        let p = s.webhook_policy;
        let span: TimeDelta = (1..p.max_attempts).map(|a| p.backoff(a)).sum();
        assert!(span >= s.webhook_window, "retries stop after {span}, before the window ends");
        assert!(p.backoff(1) <= TimeDelta::minutes(1), "the first retry comes soon");
    }
}
