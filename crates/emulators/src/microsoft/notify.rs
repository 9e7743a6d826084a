//! Outgoing webhook traffic: the subscription validation handshake and change/lifecycle notifications.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

/// One notification POST to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) url: String,
    pub(crate) body: Value,
}

/// Why a validation handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("the endpoint could not be reached or did not answer within the timeout: {0}")]
    Unreachable(String),
    #[error("the endpoint answered {0} instead of 200")]
    Status(u16),
    #[error("the endpoint did not echo the validation token as text/plain")]
    WrongEcho,
}

/// The token Graph sends: readable text with spaces and colons, so receivers must URL-decode it.
pub(crate) fn validation_token() -> String {
    format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        super::state::random_guid()
    )
}

/// `POST <url>?validationToken=<token>` (text/plain); the receiver must answer 200 with the token as
/// `text/plain` within `timeout` (B4).
pub(crate) async fn handshake(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), HandshakeError> {
    let token = validation_token();
    let mut target = reqwest::Url::parse(url).map_err(|e| HandshakeError::Unreachable(e.to_string()))?;
    target.query_pairs_mut().append_pair("validationToken", &token);
    let resp = client
        .post(target)
        .header("Content-Type", "text/plain; charset=utf-8")
        .timeout(timeout)
        .body(Vec::new())
        .send()
        .await
        .map_err(|e| HandshakeError::Unreachable(e.to_string()))?;
    if resp.status().as_u16() != 200 {
        return Err(HandshakeError::Status(resp.status().as_u16()));
    }
    let plain = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    let body = resp.text().await.map_err(|e| HandshakeError::Unreachable(e.to_string()))?;
    if !plain || body != token {
        return Err(HandshakeError::WrongEcho);
    }
    Ok(())
}

/// Delivers notifications in order until the emulator stops; a non-2xx answer or an error is retried.
pub(crate) async fn run(client: reqwest::Client, mut rx: UnboundedReceiver<Delivery>, attempts: u32) {
    while let Some(d) = rx.recv().await {
        for attempt in 0..attempts.max(1) {
            let sent = client
                .post(&d.url)
                .header("Content-Type", "application/json; charset=utf-8")
                .timeout(Duration::from_secs(10))
                .body(d.body.to_string())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => break,
                Ok(resp) => {
                    tracing::debug!(status = %resp.status(), attempt, "notification receiver asked for a retry")
                }
                Err(e) => tracing::debug!(error = %e, attempt, "notification delivery failed"),
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
        }
    }
}
