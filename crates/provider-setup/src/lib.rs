//! Which calendar providers a slotwise process talks to, read once from the
//! environment (the contract's `GOOGLE_*` and `MICROSOFT_*` names). Shared by the
//! api-server and the sync-worker so both build the very same clients.
//!
//! A provider is configured when its client id is set (`GOOGLE_CLIENT_ID`,
//! `MICROSOFT_CLIENT_ID`); its other settings are then checked and a bad one is an
//! error naming the variable. The redirect URI defaults to the api-server's callback
//! under `SLOTWISE_PUBLIC_URL` (`/api/google-calendar/callback`,
//! `/api/outlook-calendar/callback`).
//!
//! ```
//! let env = |name: &str| match name {
//!     "GOOGLE_CLIENT_ID" => Some("client".to_owned()),
//!     "GOOGLE_CLIENT_SECRET" => Some("secret".to_owned()),
//!     _ => None,
//! };
//! let setup = provider_setup::ProviderSetup::load("http://127.0.0.1:8080", env).unwrap();
//! assert!(setup.google.is_some() && setup.outlook.is_none());
//! assert_eq!(setup.google.unwrap().redirect_uri, "http://127.0.0.1:8080/api/google-calendar/callback");
//! ```

use std::sync::Arc;

use providers_google::{GoogleConfig, GoogleProvider};
use providers_outlook::{OutlookConfig, OutlookProvider};
use sync_engine::StaticProviders;

/// A provider setting that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A `GOOGLE_*` setting.
    #[error("Google settings: {0}")]
    Google(#[from] providers_google::ConfigError),
    /// A `MICROSOFT_*` setting.
    #[error("Microsoft settings: {0}")]
    Outlook(#[from] providers_outlook::ConfigError),
}

/// The provider configurations found in the environment.
#[derive(Debug, Clone, Default)]
pub struct ProviderSetup {
    /// Google, when `GOOGLE_CLIENT_ID` is set.
    pub google: Option<GoogleConfig>,
    /// Microsoft, when `MICROSOFT_CLIENT_ID` is set.
    pub outlook: Option<OutlookConfig>,
}

impl ProviderSetup {
    /// Reads the settings through `env`; `public_url` is the api-server's public base URL.
    pub fn load(public_url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let public_url = public_url.trim_end_matches('/').to_owned();
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let with_redirect = |var: &'static str, path: &str| {
            let default = format!("{public_url}{path}");
            move |name: &str| if name == var { set(name).or_else(|| Some(default.clone())) } else { set(name) }
        };
        let google = match set("GOOGLE_CLIENT_ID") {
            None => None,
            Some(_) => {
                Some(GoogleConfig::from_lookup(with_redirect("GOOGLE_REDIRECT_URI", "/api/google-calendar/callback"))?)
            }
        };
        let outlook = match set("MICROSOFT_CLIENT_ID") {
            None => None,
            Some(_) => Some(OutlookConfig::from_lookup(with_redirect(
                "MICROSOFT_REDIRECT_URI",
                "/api/outlook-calendar/callback",
            ))?),
        };
        Ok(ProviderSetup { google, outlook })
    }

    /// Reads the process environment.
    pub fn from_env(public_url: &str) -> Result<Self, SetupError> {
        Self::load(public_url, |name| std::env::var(name).ok())
    }

    /// The clients of the configured providers.
    pub fn providers(&self) -> Result<StaticProviders, SetupError> {
        let mut providers = StaticProviders::new();
        if let Some(config) = &self.google {
            providers = providers.with(store::Provider::Google, Arc::new(GoogleProvider::new(config.clone())?));
        }
        if let Some(config) = &self.outlook {
            providers = providers.with(store::Provider::Outlook, Arc::new(OutlookProvider::new(config.clone())?));
        }
        Ok(providers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_means_no_providers() {
        let setup = ProviderSetup::load("http://localhost:8080", |_| None).unwrap();
        assert!(setup.google.is_none() && setup.outlook.is_none());
    }

    #[test]
    fn a_bad_setting_is_named() {
        let env = |name: &str| match name {
            "MICROSOFT_CLIENT_ID" => Some("cid".to_owned()),
            "MICROSOFT_CLIENT_SECRET" => Some("secret".to_owned()),
            "MICROSOFT_GRAPH_BASE_URL" => Some("not a url".to_owned()),
            _ => None,
        };
        let err = ProviderSetup::load("http://localhost:8080", env).unwrap_err();
        assert!(err.to_string().contains("MICROSOFT_GRAPH_BASE_URL"), "{err}");
        let env = |name: &str| (name == "GOOGLE_CLIENT_ID").then(|| "cid".to_owned());
        let err = ProviderSetup::load("http://localhost:8080", env).unwrap_err();
        assert!(err.to_string().contains("GOOGLE_CLIENT_SECRET"), "{err}");
    }

    #[test]
    fn an_explicit_redirect_wins() {
        let env = |name: &str| match name {
            "MICROSOFT_CLIENT_ID" | "MICROSOFT_CLIENT_SECRET" => Some("x".to_owned()),
            "MICROSOFT_REDIRECT_URI" => Some("https://app.example/cb".to_owned()),
            _ => None,
        };
        let setup = ProviderSetup::load("http://localhost:8080/", env).unwrap();
        assert_eq!(setup.outlook.unwrap().redirect_uri, "https://app.example/cb");
    }
}
