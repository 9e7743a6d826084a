//! Typed configuration, read once from the environment (names in the API contract's "Configuration").

use std::time::Duration;

use secrecy::SecretString;

/// Google's authorization endpoint.
pub const DEFAULT_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
/// Google's token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google's revocation endpoint.
pub const DEFAULT_REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
/// Calendar API v3 base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://www.googleapis.com/calendar/v3";
/// Read/write events on the user's calendars (events list/get/insert/patch/delete/watch, channels.stop).
pub const SCOPE_EVENTS: &str = "https://www.googleapis.com/auth/calendar.events";
/// Free/busy queries (not covered by `calendar.events`).
pub const SCOPE_FREEBUSY: &str = "https://www.googleapis.com/auth/calendar.freebusy";

/// A missing or malformed setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    /// A URL setting does not parse.
    #[error("{name} is not a valid URL: {value}")]
    InvalidUrl {
        /// The variable (or field) name.
        name: &'static str,
        /// The offending value.
        value: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

/// Everything the Google provider needs; every base URL is configurable so tests and the demo can point at
/// the emulator.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// OAuth client id (`GOOGLE_CLIENT_ID`).
    pub client_id: String,
    /// OAuth client secret (`GOOGLE_CLIENT_SECRET`).
    pub client_secret: SecretString,
    /// Our callback URL, registered with Google (`GOOGLE_REDIRECT_URI`).
    pub redirect_uri: String,
    /// `GOOGLE_AUTH_URL`.
    pub auth_url: String,
    /// `GOOGLE_TOKEN_URL`.
    pub token_url: String,
    /// `GOOGLE_REVOKE_URL`.
    pub revoke_url: String,
    /// `GOOGLE_API_BASE_URL` (up to and including `/calendar/v3`).
    pub api_base_url: String,
    /// Requested scopes (minimal: events + free/busy).
    pub scopes: Vec<String>,
    /// `maxResults` for list calls (Google caps it at 2500).
    pub page_size: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Attempts of one call on 429/5xx before the error is returned.
    pub max_attempts: u32,
    /// The longest wait (from `Retry-After` or backoff) spent inside one call; longer waits are returned as
    /// [`calendar_provider::ProviderError::RateLimited`] for the sync engine to schedule.
    pub max_retry_wait: Duration,
    /// First backoff step when the provider gave no `Retry-After` (doubles each attempt).
    pub backoff_base: Duration,
    /// Refresh the access token when it expires within this margin.
    pub refresh_margin: Duration,
}

impl GoogleConfig {
    /// Defaults for Google's real endpoints.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        GoogleConfig {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            redirect_uri: redirect_uri.into(),
            auth_url: DEFAULT_AUTH_URL.into(),
            token_url: DEFAULT_TOKEN_URL.into(),
            revoke_url: DEFAULT_REVOKE_URL.into(),
            api_base_url: DEFAULT_API_BASE_URL.into(),
            scopes: vec![SCOPE_EVENTS.into(), SCOPE_FREEBUSY.into()],
            page_size: 250,
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            max_retry_wait: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            refresh_margin: Duration::from_secs(60),
        }
    }

    /// Reads `GOOGLE_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `GOOGLE_*` through `lookup` (testable without touching the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name));
        let mut config = GoogleConfig::new(
            required("GOOGLE_CLIENT_ID")?,
            required("GOOGLE_CLIENT_SECRET")?,
            required("GOOGLE_REDIRECT_URI")?,
        );
        let url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
            reqwest::Url::parse(&value).map_err(|_| ConfigError::InvalidUrl { name, value: value.clone() })?;
            Ok(value.trim_end_matches('/').to_owned())
        };
        config.auth_url = url("GOOGLE_AUTH_URL", DEFAULT_AUTH_URL)?;
        config.token_url = url("GOOGLE_TOKEN_URL", DEFAULT_TOKEN_URL)?;
        config.revoke_url = url("GOOGLE_REVOKE_URL", DEFAULT_REVOKE_URL)?;
        config.api_base_url = url("GOOGLE_API_BASE_URL", DEFAULT_API_BASE_URL)?;
        reqwest::Url::parse(&config.redirect_uri)
            .map_err(|_| ConfigError::InvalidUrl { name: "GOOGLE_REDIRECT_URI", value: config.redirect_uri.clone() })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_overrides_and_defaults() {
        let env = |name: &str| match name {
            "GOOGLE_CLIENT_ID" => Some("cid".to_owned()),
            "GOOGLE_CLIENT_SECRET" => Some("secret".to_owned()),
            "GOOGLE_REDIRECT_URI" => Some("http://127.0.0.1:8080/api/google-calendar/callback".to_owned()),
            "GOOGLE_API_BASE_URL" => Some("http://127.0.0.1:9/calendar/v3/".to_owned()),
            _ => None,
        };
        let config = GoogleConfig::from_lookup(env).unwrap();
        assert_eq!(config.api_base_url, "http://127.0.0.1:9/calendar/v3");
        assert_eq!(config.token_url, DEFAULT_TOKEN_URL);
    }

    #[test]
    fn missing_secret_is_named() {
        let env = |name: &str| (name == "GOOGLE_CLIENT_ID").then(|| "cid".to_owned());
        let err = GoogleConfig::from_lookup(env).unwrap_err();
        assert!(err.to_string().contains("GOOGLE_CLIENT_SECRET"));
    }

    #[test]
    fn bad_url_is_refused() {
        let env = |name: &str| match name {
            "GOOGLE_TOKEN_URL" => Some("not a url".to_owned()),
            _ => Some("http://x.invalid/".to_owned()),
        };
        assert!(matches!(
            GoogleConfig::from_lookup(env),
            Err(ConfigError::InvalidUrl { name: "GOOGLE_TOKEN_URL", .. })
        ));
    }
}
