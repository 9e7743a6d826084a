//! The Microsoft identity platform v2.0 side: PKCE, the authorize URL, the token endpoint and its errors.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calendar_provider::ProviderError;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A fresh PKCE pair: (verifier, S256 challenge). 32 random bytes → 43 characters (RFC 7636).
pub(crate) fn pkce_pair() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// What the browser brought back to our callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// The single-use authorization code.
    pub code: String,
    /// The `state` to validate (the caller checks it is known, unused, unexpired and bound to the employee).
    pub state: String,
}

/// A callback that carries no usable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// The user or policy refused (`error=access_denied`, `consent_required`…).
    #[error("authorization refused: {error} ({description})")]
    Denied {
        /// The `error` value.
        error: String,
        /// `error_description` (carries the AADSTS code; diagnostic only).
        description: String,
        /// The `state`, when present.
        state: Option<String>,
    },
    /// `code` or `state` is missing.
    #[error("callback without {0}")]
    Missing(&'static str),
}

impl AuthorizationResponse {
    /// Parses the callback's query string (`session_state` and other extras are ignored).
    pub fn from_query(query: &str) -> Result<Self, CallbackError> {
        let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://callback.invalid/?{query}"))
            .map_or_else(|_| Vec::new(), |u| u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect());
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if let Some(error) = get("error") {
            return Err(CallbackError::Denied {
                error,
                description: get("error_description").unwrap_or_default(),
                state: get("state"),
            });
        }
        Ok(AuthorizationResponse {
            code: get("code").ok_or(CallbackError::Missing("code"))?,
            state: get("state").ok_or(CallbackError::Missing("state"))?,
        })
    }
}

/// The token endpoint's success answer.
#[derive(Debug, Deserialize)]
pub(crate) struct WireToken {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) scope: Option<String>,
}

/// The token endpoint's error answer (B1).
#[derive(Debug, Deserialize)]
pub(crate) struct WireTokenError {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
    #[serde(default)]
    pub(crate) error_codes: Vec<u64>,
}

/// Which token request failed: `invalid_grant` means "revoked" only for a refresh; on a code exchange it
/// means a bad, used or expired code or a wrong PKCE verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Code,
    Refresh,
}

/// Maps a token-endpoint failure. Branches on `error`, never on the AADSTS number (diagnostic only).
pub(crate) fn map_token_error(status: u16, body: &str, retry_after: Option<Duration>, grant: Grant) -> ProviderError {
    let Ok(e) = serde_json::from_str::<WireTokenError>(body) else {
        return match status {
            429 => ProviderError::RateLimited { retry_after },
            s if s >= 500 => ProviderError::Transient(format!("token endpoint answered {s}")),
            s => ProviderError::Permanent(format!("token endpoint answered {s}")),
        };
    };
    let description = e.error_description.unwrap_or_default();
    let first_line = description.lines().next().unwrap_or_default().to_owned();
    let detail = format!("{}: {first_line} (codes {:?})", e.error, e.error_codes);
    match e.error.as_str() {
        "invalid_grant" | "interaction_required" | "consent_required" if grant == Grant::Refresh => {
            ProviderError::Revoked(detail)
        }
        "temporarily_unavailable" => ProviderError::Transient(detail),
        _ if status == 429 => ProviderError::RateLimited { retry_after },
        _ if status >= 500 => ProviderError::Transient(detail),
        _ => ProviderError::Permanent(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_pairs_are_s256() {
        let (verifier, challenge) = pkce_pair();
        assert_eq!(verifier.len(), 43);
        assert_eq!(challenge, URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())));
    }

    #[test]
    fn aadsts_errors_map_by_error_and_grant() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token has expired.","error_codes":[70008]}"#;
        assert!(
            matches!(map_token_error(400, body, None, Grant::Refresh), ProviderError::Revoked(m) if m.contains("70008"))
        );
        assert!(matches!(map_token_error(400, body, None, Grant::Code), ProviderError::Permanent(_)));
        let client =
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        assert!(
            matches!(map_token_error(401, client, None, Grant::Refresh), ProviderError::Permanent(m) if m.contains("invalid_client"))
        );
        let busy = r#"{"error":"temporarily_unavailable"}"#;
        assert!(map_token_error(400, busy, None, Grant::Refresh).is_retryable());
    }

    #[test]
    fn callback_query_parsing() {
        let ok = AuthorizationResponse::from_query("code=M.C5_abc&state=s1&session_state=x").unwrap();
        assert_eq!((ok.code.as_str(), ok.state.as_str()), ("M.C5_abc", "s1"));
        let denied =
            AuthorizationResponse::from_query("error=access_denied&error_description=AADSTS65004%3a+declined&state=s1");
        assert!(
            matches!(denied, Err(CallbackError::Denied { ref error, state: Some(ref s), .. }) if error == "access_denied" && s == "s1")
        );
        assert_eq!(AuthorizationResponse::from_query("state=s1").unwrap_err(), CallbackError::Missing("code"));
    }
}
