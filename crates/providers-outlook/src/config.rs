//! Typed configuration, read once from the environment (names in the API contract's "Configuration").

use std::time::Duration;

use secrecy::SecretString;

/// The multi-tenant authority (`common`: work/school and personal accounts).
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0";
/// Microsoft Graph v1.0.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";
/// Without it the token endpoint returns no refresh token.
pub const SCOPE_OFFLINE_ACCESS: &str = "offline_access";
/// Create/update/delete events, delta and subscriptions.
pub const SCOPE_CALENDARS_READ_WRITE: &str = "Calendars.ReadWrite";
/// The signed-in user's profile (`/me`).
pub const SCOPE_USER_READ: &str = "User.Read";
/// Longest lifetime of an Outlook event subscription (10,080 minutes, fact sheet B4).
pub const MAX_SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(10_080 * 60);

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

/// Everything the Outlook provider needs; both base URLs are configurable so tests and the demo can point at
/// the emulator.
#[derive(Debug, Clone)]
pub struct OutlookConfig {
    /// Application (client) id (`MICROSOFT_CLIENT_ID`).
    pub client_id: String,
    /// Client secret (`MICROSOFT_CLIENT_SECRET`).
    pub client_secret: SecretString,
    /// Our callback URL, registered with the app (`MICROSOFT_REDIRECT_URI`).
    pub redirect_uri: String,
    /// `MICROSOFT_AUTHORITY_URL`: `{authority}/authorize` and `{authority}/token`.
    pub authority_url: String,
    /// `MICROSOFT_GRAPH_BASE_URL` (up to and including `/v1.0`).
    pub graph_base_url: String,
    /// Requested scopes (`offline_access Calendars.ReadWrite User.Read`).
    pub scopes: Vec<String>,
    /// `Prefer: odata.maxpagesize` for delta and calendarView pages.
    pub page_size: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Attempts of one call on 429/5xx before the error is returned.
    pub max_attempts: u32,
    /// The longest wait (from `Retry-After` or backoff) spent inside one call; longer waits are returned as
    /// [`calendar_provider::ProviderError::RateLimited`] for the sync engine to schedule.
    pub max_retry_wait: Duration,
    /// First backoff step when the service gave no `Retry-After` (doubles each attempt).
    pub backoff_base: Duration,
    /// Refresh the access token when it expires within this margin.
    pub refresh_margin: Duration,
    /// Upper bound of a subscription's requested lifetime (kept configurable: the documented maximum changed
    /// between doc versions).
    pub max_subscription_lifetime: Duration,
    /// Where lifecycle notifications go; `None` = the notification URL itself (one webhook route handles both).
    pub lifecycle_notification_url: Option<String>,
}

impl OutlookConfig {
    /// Defaults for Microsoft's real endpoints.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        OutlookConfig {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            redirect_uri: redirect_uri.into(),
            authority_url: DEFAULT_AUTHORITY_URL.into(),
            graph_base_url: DEFAULT_GRAPH_BASE_URL.into(),
            scopes: vec![SCOPE_OFFLINE_ACCESS.into(), SCOPE_CALENDARS_READ_WRITE.into(), SCOPE_USER_READ.into()],
            page_size: 50,
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            max_retry_wait: Duration::from_secs(30),
            backoff_base: Duration::from_millis(500),
            refresh_margin: Duration::from_secs(120),
            max_subscription_lifetime: MAX_SUBSCRIPTION_LIFETIME,
            lifecycle_notification_url: None,
        }
    }

    /// Reads `MICROSOFT_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `MICROSOFT_*` through `lookup` (testable without touching the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| lookup(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name));
        let mut config = OutlookConfig::new(
            required("MICROSOFT_CLIENT_ID")?,
            required("MICROSOFT_CLIENT_SECRET")?,
            required("MICROSOFT_REDIRECT_URI")?,
        );
        let url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
            reqwest::Url::parse(&value).map_err(|_| ConfigError::InvalidUrl { name, value: value.clone() })?;
            Ok(value.trim_end_matches('/').to_owned())
        };
        config.authority_url = url("MICROSOFT_AUTHORITY_URL", DEFAULT_AUTHORITY_URL)?;
        config.graph_base_url = url("MICROSOFT_GRAPH_BASE_URL", DEFAULT_GRAPH_BASE_URL)?;
        reqwest::Url::parse(&config.redirect_uri).map_err(|_| ConfigError::InvalidUrl {
            name: "MICROSOFT_REDIRECT_URI",
            value: config.redirect_uri.clone(),
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_overrides_and_defaults() {
        let env = |name: &str| match name {
            "MICROSOFT_CLIENT_ID" => Some("cid".to_owned()),
            "MICROSOFT_CLIENT_SECRET" => Some("secret".to_owned()),
            "MICROSOFT_REDIRECT_URI" => Some("http://127.0.0.1:8080/api/outlook-calendar/callback".to_owned()),
            "MICROSOFT_GRAPH_BASE_URL" => Some("http://127.0.0.1:9/v1.0/".to_owned()),
            _ => None,
        };
        let config = OutlookConfig::from_lookup(env).unwrap();
        assert_eq!(config.graph_base_url, "http://127.0.0.1:9/v1.0");
        assert_eq!(config.authority_url, DEFAULT_AUTHORITY_URL);
        assert_eq!(config.scopes, ["offline_access", "Calendars.ReadWrite", "User.Read"]);
    }

    #[test]
    fn missing_secret_is_named() {
        let env = |name: &str| (name == "MICROSOFT_CLIENT_ID").then(|| "cid".to_owned());
        let err = OutlookConfig::from_lookup(env).unwrap_err();
        assert!(err.to_string().contains("MICROSOFT_CLIENT_SECRET"));
    }

    #[test]
    fn bad_url_is_refused() {
        let env = |name: &str| match name {
            "MICROSOFT_AUTHORITY_URL" => Some("not a url".to_owned()),
            _ => Some("http://x.invalid/".to_owned()),
        };
        assert!(matches!(
            OutlookConfig::from_lookup(env),
            Err(ConfigError::InvalidUrl { name: "MICROSOFT_AUTHORITY_URL", .. })
        ));
    }
}
