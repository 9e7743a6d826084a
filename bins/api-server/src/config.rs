//! Configuration: one typed struct, read once from the environment (the
//! contract's names) and an optional TOML file, with a default for everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything the api-server can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://…` (default `sqlite://slotwise.db`) or `postgres://…`.
    pub database_url: String,
    /// `SLOTWISE_BIND`: where to listen (default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// `SLOTWISE_PUBLIC_URL`: how clients reach us (default `http://<bind>`).
    pub public_url: String,
    /// `SLOTWISE_OPERATOR_TOKEN`: the operator's bearer token; operator calls are refused without one.
    pub operator_token: Option<SecretString>,
    /// `SLOTWISE_ENCRYPTION_KEY`: 32 bytes, base64; secrets at rest. Generated for the demo.
    pub encryption_key: Option<SecretString>,
    /// `SLOTWISE_ENCRYPTION_KEY_PREVIOUS`: older keys (base64, comma-separated) that can
    /// still decrypt values written before a key rotation; start-up re-encrypts those
    /// values under `SLOTWISE_ENCRYPTION_KEY` in the background.
    pub encryption_key_previous: Vec<SecretString>,
    /// `SLOTWISE_RATE_LIMIT_PER_KEY`: requests per second per tenant API key (default 1000).
    pub rate_limit_per_key: u32,
    /// `SLOTWISE_MAIL_SPOOL`: where messages go without `SMTP_URL` (default `./mail-spool`).
    pub mail_spool: PathBuf,
    /// `SMTP_URL`: `smtp://host:port` (add `?tls=required` for STARTTLS), `smtps://host`
    /// for implicit TLS, `user:password@` for auth. Unset: messages go to `mail_spool`.
    pub smtp_url: Option<SecretString>,
    /// `SLOTWISE_MAIL_FROM`: the sender of booking emails (default `slotwise <notifications@localhost>`).
    pub mail_from: String,
    /// `SLOTWISE_ALLOW_PRIVATE_WEBHOOKS=true`: webhook URLs may be plain `http` and reach
    /// loopback and private addresses (development only; default false).
    pub allow_private_webhooks: bool,
    /// `SLOTWISE_AVAILABILITY_CACHE_MS`: how long an availability answer may be served
    /// from this process's cache, bounding staleness from other processes' writes
    /// (default 1000; 0 turns the cache off). See `docs/api.md`.
    pub availability_cache_ms: u64,
    /// Whether `Application::build` starts the notification and sync workers in-process
    /// (default true; `--no-worker` turns it off).
    pub run_worker: bool,
    /// The calendar providers configured by `GOOGLE_*` and `MICROSOFT_*` (a provider is
    /// on when its client id is set; redirect URIs default to our callbacks under
    /// `SLOTWISE_PUBLIC_URL`).
    pub providers: provider_setup::ProviderSetup,
}

/// A setting that cannot be used; start-up stops with its name.
#[derive(Debug, thiserror::Error)]
#[error("configuration {name}: {message}")]
pub struct ConfigError {
    /// The variable or file key.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

/// The optional file: the same settings, lower-case keys (`database_url = "…"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    public_url: Option<String>,
    operator_token: Option<String>,
    encryption_key: Option<String>,
    encryption_key_previous: Option<String>,
    rate_limit_per_key: Option<u32>,
    mail_spool: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    allow_private_webhooks: Option<bool>,
    availability_cache_ms: Option<u64>,
}

fn bad(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { name: name.to_owned(), message: message.into() }
}

impl Config {
    /// Reads the environment through `env` (so tests can pass a map), over the file's values.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file: FileConfig = match file {
            None => FileConfig::default(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| bad(&path.display().to_string(), e.to_string()))?;
                toml::from_str(&text).map_err(|e| bad(&path.display().to_string(), e.to_string()))?
            }
        };
        let pick = |var: &str, from_file: Option<String>| env(var).filter(|v| !v.is_empty()).or(from_file);

        let database_url = pick("DATABASE_URL", file.database_url).unwrap_or_else(|| "sqlite://slotwise.db".to_owned());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            return Err(bad("DATABASE_URL", "expected sqlite://… or postgres://…"));
        }
        let bind_text = pick("SLOTWISE_BIND", file.bind).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let bind: SocketAddr =
            bind_text.parse().map_err(|_| bad("SLOTWISE_BIND", format!("{bind_text:?} is not host:port")))?;
        let public_url = pick("SLOTWISE_PUBLIC_URL", file.public_url)
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        let rate_limit_per_key = match env("SLOTWISE_RATE_LIMIT_PER_KEY").filter(|v| !v.is_empty()) {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad("SLOTWISE_RATE_LIMIT_PER_KEY", "expected a whole number of requests per second above 0")
            })?,
            None => file.rate_limit_per_key.unwrap_or(1000),
        };
        let operator_token = pick("SLOTWISE_OPERATOR_TOKEN", file.operator_token).map(SecretString::from);
        if operator_token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
            return Err(bad("SLOTWISE_OPERATOR_TOKEN", "must be at least 16 characters"));
        }
        let allow_private_webhooks = match env("SLOTWISE_ALLOW_PRIVATE_WEBHOOKS").filter(|v| !v.is_empty()) {
            Some(v) => match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("SLOTWISE_ALLOW_PRIVATE_WEBHOOKS", "expected true or false")),
            },
            None => file.allow_private_webhooks.unwrap_or(false),
        };
        let availability_cache_ms = match env("SLOTWISE_AVAILABILITY_CACHE_MS").filter(|v| !v.is_empty()) {
            Some(v) => v.parse::<u64>().map_err(|_| {
                bad("SLOTWISE_AVAILABILITY_CACHE_MS", "expected a whole number of milliseconds (0 turns the cache off)")
            })?,
            None => file.availability_cache_ms.unwrap_or(crate::cache::DEFAULT_AVAILABILITY_TTL_MS),
        };
        let mail_from = pick("SLOTWISE_MAIL_FROM", file.mail_from)
            .unwrap_or_else(|| "slotwise <notifications@localhost>".to_owned());
        if mail_from.parse::<notifications::Mailbox>().is_err() {
            return Err(bad("SLOTWISE_MAIL_FROM", "expected an address such as `Salon <bookings@example.com>`"));
        }
        let providers = provider_setup::ProviderSetup::load(&public_url, &env).map_err(|e| {
            let text = e.to_string();
            let name = text
                .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .find(|w| w.starts_with("GOOGLE_") || w.starts_with("MICROSOFT_"))
                .unwrap_or("GOOGLE_* / MICROSOFT_*");
            bad(name, text.clone())
        })?;
        let encryption_key = pick("SLOTWISE_ENCRYPTION_KEY", file.encryption_key).map(SecretString::from);
        let encryption_key_previous =
            previous_keys(pick("SLOTWISE_ENCRYPTION_KEY_PREVIOUS", file.encryption_key_previous))?;
        if !encryption_key_previous.is_empty() && encryption_key.is_none() {
            return Err(bad(
                "SLOTWISE_ENCRYPTION_KEY_PREVIOUS",
                "previous keys need SLOTWISE_ENCRYPTION_KEY, the key their values are re-encrypted with",
            ));
        }
        Ok(Config {
            providers,
            mail_from,
            allow_private_webhooks,
            availability_cache_ms,
            run_worker: true,
            database_url,
            bind,
            public_url,
            operator_token,
            encryption_key,
            encryption_key_previous,
            rate_limit_per_key,
            mail_spool: PathBuf::from(
                pick("SLOTWISE_MAIL_SPOOL", file.mail_spool).unwrap_or_else(|| "./mail-spool".into()),
            ),
            smtp_url: pick("SMTP_URL", file.smtp_url).map(SecretString::from),
        })
    }

    /// Reads the process environment.
    pub fn from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |k| std::env::var(k).ok())
    }
}

/// `SLOTWISE_ENCRYPTION_KEY_PREVIOUS`: base64 keys separated by commas (blanks ignored),
/// each checked here so a bad one stops start-up with the variable named.
fn previous_keys(text: Option<String>) -> Result<Vec<SecretString>, ConfigError> {
    let text = SecretString::from(text.unwrap_or_default());
    let mut keys = Vec::new();
    for (i, part) in text.expose_secret().split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let key = SecretString::from(part.to_owned());
        if store::TokenCipher::from_base64_key(&key).is_err() {
            return Err(bad(
                "SLOTWISE_ENCRYPTION_KEY_PREVIOUS",
                format!("key {} is not 32 bytes encoded as base64", i + 1),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::load(None, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_bad_values_name_the_variable() {
        let c = load(&[]).unwrap();
        assert_eq!(c.database_url, "sqlite://slotwise.db");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.rate_limit_per_key, 1000);
        assert_eq!(c.availability_cache_ms, 1000);
        assert_eq!(load(&[("SLOTWISE_AVAILABILITY_CACHE_MS", "0")]).unwrap().availability_cache_ms, 0);
        assert_eq!(
            load(&[("SLOTWISE_AVAILABILITY_CACHE_MS", "1s")]).unwrap_err().name,
            "SLOTWISE_AVAILABILITY_CACHE_MS"
        );
        assert_eq!(load(&[("SLOTWISE_BIND", "nowhere")]).unwrap_err().name, "SLOTWISE_BIND");
        assert_eq!(load(&[("SLOTWISE_RATE_LIMIT_PER_KEY", "0")]).unwrap_err().name, "SLOTWISE_RATE_LIMIT_PER_KEY");
        assert_eq!(load(&[("DATABASE_URL", "mysql://x")]).unwrap_err().name, "DATABASE_URL");
        assert_eq!(load(&[("SLOTWISE_OPERATOR_TOKEN", "short")]).unwrap_err().name, "SLOTWISE_OPERATOR_TOKEN");
        assert!(!c.allow_private_webhooks && c.run_worker);
        assert!(load(&[("SLOTWISE_ALLOW_PRIVATE_WEBHOOKS", "true")]).unwrap().allow_private_webhooks);
        assert_eq!(
            load(&[("SLOTWISE_ALLOW_PRIVATE_WEBHOOKS", "yes")]).unwrap_err().name,
            "SLOTWISE_ALLOW_PRIVATE_WEBHOOKS"
        );
        assert_eq!(load(&[("SLOTWISE_MAIL_FROM", "nobody")]).unwrap_err().name, "SLOTWISE_MAIL_FROM");
        let (k1, k2, k3) = (
            store::TokenCipher::generate_key(),
            store::TokenCipher::generate_key(),
            store::TokenCipher::generate_key(),
        );
        let (k1, k2, k3) = (k1.expose_secret(), k2.expose_secret(), k3.expose_secret());
        let previous = format!("{k2}, {k3},");
        let rotated =
            load(&[("SLOTWISE_ENCRYPTION_KEY", k1), ("SLOTWISE_ENCRYPTION_KEY_PREVIOUS", &previous)]).unwrap();
        assert_eq!(rotated.encryption_key_previous.len(), 2);
        assert!(c.encryption_key_previous.is_empty());
        let bad_previous = format!("{k2},nope");
        let err =
            load(&[("SLOTWISE_ENCRYPTION_KEY", k1), ("SLOTWISE_ENCRYPTION_KEY_PREVIOUS", &bad_previous)]).unwrap_err();
        assert_eq!(err.name, "SLOTWISE_ENCRYPTION_KEY_PREVIOUS");
        assert!(!err.message.contains(k2), "the message shows no key");
        assert_eq!(
            load(&[("SLOTWISE_ENCRYPTION_KEY_PREVIOUS", k2)]).unwrap_err().name,
            "SLOTWISE_ENCRYPTION_KEY_PREVIOUS"
        );
        assert_eq!(load(&[("GOOGLE_CLIENT_ID", "cid")]).unwrap_err().name, "GOOGLE_CLIENT_SECRET");
        let google =
            load(&[("GOOGLE_CLIENT_ID", "cid"), ("GOOGLE_CLIENT_SECRET", "s"), ("SLOTWISE_BIND", "0.0.0.0:9")]);
        assert_eq!(
            google.unwrap().providers.google.unwrap().redirect_uri,
            "http://0.0.0.0:9/api/google-calendar/callback"
        );
    }
}
