//! Push notifications: header-only POSTs to channel addresses, retried on 5xx.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;

use super::state::Channel;

/// One notification to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    address: String,
    channel_id: String,
    token: Option<String>,
    expiration: DateTime<Utc>,
    message_number: u64,
    resource_id: String,
    resource_uri: String,
    state: &'static str,
}

impl Delivery {
    pub(crate) fn new(channel_id: &str, c: &Channel, state: &'static str) -> Self {
        Delivery {
            address: c.address.clone(),
            channel_id: channel_id.to_owned(),
            token: c.token.clone(),
            expiration: c.expiration,
            message_number: c.message_number,
            resource_id: c.resource_id.clone(),
            resource_uri: c.resource_uri.clone(),
            state,
        }
    }
}

/// Delivers notifications in order until the emulator stops.
pub(crate) async fn run(mut rx: UnboundedReceiver<Delivery>, attempts: u32) {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "push client could not be built");
            return;
        }
    };
    while let Some(d) = rx.recv().await {
        for attempt in 0..attempts.max(1) {
            let mut req = client
                .post(&d.address)
                .header("X-Goog-Channel-ID", &d.channel_id)
                .header("X-Goog-Message-Number", d.message_number.to_string())
                .header("X-Goog-Resource-ID", &d.resource_id)
                .header("X-Goog-Resource-State", d.state)
                .header("X-Goog-Resource-URI", &d.resource_uri)
                .header("X-Goog-Channel-Expiration", d.expiration.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
                .header("User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)")
                .body(Vec::new());
            if let Some(token) = &d.token {
                req = req.header("X-Goog-Channel-Token", token);
            }
            match req.send().await {
                Ok(resp) if matches!(resp.status().as_u16(), 500 | 502 | 503 | 504) => {
                    tracing::debug!(status = %resp.status(), attempt, "push receiver asked for a retry");
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "push delivery failed");
                }
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
        }
    }
}
