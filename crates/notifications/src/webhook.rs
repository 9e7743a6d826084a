//! Outgoing webhooks after the Standard Webhooks convention
//! (<https://www.standardwebhooks.com/>): signing, the SSRF guard, one delivery attempt.
//!
//! Each delivery is a `POST` of `{type, timestamp, data}` with
//! - `webhook-id`: the outbox job id, the same on every retry (the receiver's
//!   idempotency key);
//! - `webhook-timestamp`: Unix seconds of this attempt;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed
//!   by the base64-decoded part of the endpoint's `whsec_…` secret.
//!
//! The guard ([`UrlPolicy`]): `https` only, and the host must resolve to public
//! addresses only — no loopback, private, link-local, unique-local, shared (CGNAT),
//! multicast or unspecified address — unless `allow_private` (the
//! `SLOTWISE_ALLOW_PRIVATE_WEBHOOKS=true` setting, for development and tests), which
//! also allows plain `http`. The addresses checked are the ones connected to (the
//! client is pinned to them), so a DNS answer cannot change between check and use.
//! Redirects are not followed, proxies are not used, timeouts are short and at most
//! [`RESPONSE_LIMIT`] bytes of an answer are read.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::{Error, Result};

/// The prefix of endpoint secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// The most bytes of a receiver's answer read (the rest is dropped unread).
pub const RESPONSE_LIMIT: usize = 64 * 1024;
/// The time one attempt may take, connect included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh `whsec_<base64 of 32 random bytes>` secret.
pub fn generate_secret() -> SecretString {
    let mut key = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

fn key(secret: &SecretString) -> Result<Vec<u8>> {
    let text = secret.expose_secret();
    STANDARD.decode(text.strip_prefix(SECRET_PREFIX).unwrap_or(text)).map_err(|_| Error::Secret)
}

fn mac(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)?).map_err(|_| Error::Secret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` value: `v1,<base64 signature>`.
pub fn sign(secret: &SecretString, id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    Ok(format!("v1,{}", STANDARD.encode(mac(secret, id, timestamp, body)?.finalize().into_bytes())))
}

/// Whether any `v1,` signature in a `webhook-signature` header (space-separated list)
/// matches, compared in constant time. Receivers must also check that the timestamp is
/// recent (see `docs/notifications.md`).
pub fn verify(secret: &SecretString, id: &str, timestamp: i64, body: &[u8], header: &str) -> Result<bool> {
    for candidate in header.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else { continue };
        let Ok(signature) = STANDARD.decode(encoded) else { continue };
        if mac(secret, id, timestamp, body)?.verify_slice(&signature).is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether an address is one a webhook must never reach without `allow_private`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // deprecated site-local
                || (first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 of any v4 address
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
        }
    }
}

/// Which webhook URLs are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// `SLOTWISE_ALLOW_PRIVATE_WEBHOOKS=true`: allow private/loopback addresses and `http`.
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Checks a URL without resolving it (what can be known at registration): an
    /// absolute `https` URL (or `http` when private targets are allowed) with a host,
    /// no credentials, and no literal private address or `localhost` unless allowed.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url> {
        let parsed = reqwest::Url::parse(url).map_err(|e| Error::Refused(format!("not an absolute URL: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err(Error::Refused("https is required".into())),
            other => return Err(Error::Refused(format!("the scheme must be https, not {other}"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::Refused("credentials in the URL are not allowed".into()));
        }
        let forbidden = match parsed.host() {
            None => return Err(Error::Refused("the URL has no host".into())),
            Some(url::Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if forbidden && !self.allow_private {
            return Err(Error::Refused("private and loopback addresses are not allowed".into()));
        }
        Ok(parsed)
    }

    /// Resolves the URL's host and checks every address; returns them for pinning.
    pub async fn resolve(&self, url: &reqwest::Url) -> Result<Vec<SocketAddr>> {
        let host = url.host_str().ok_or_else(|| Error::Refused("the URL has no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::Resolve(format!("cannot resolve {host}: {e}")))?
            .collect();
        if addresses.is_empty() {
            return Err(Error::Resolve(format!("{host} has no address")));
        }
        if !self.allow_private
            && let Some(bad) = addresses.iter().find(|a| is_private(a.ip()))
        {
            return Err(Error::Refused(format!("{host} resolves to the non-public address {}", bad.ip())));
        }
        Ok(addresses)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The status answered, if the request got that far.
    pub status: Option<u16>,
    /// What went wrong; `None` on a 2xx.
    pub error: Option<String>,
    /// The receiver's `Retry-After` (on 429/503), capped at an hour.
    pub retry_after: Option<Duration>,
    /// A retry cannot succeed (the address is refused).
    pub permanent: bool,
}

impl Attempt {
    /// Whether the receiver accepted it (2xx).
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    fn failed(error: String, permanent: bool) -> Self {
        Self { status: None, error: Some(error), retry_after: None, permanent }
    }
}

/// One signed `POST` of `body` to `url`; never fails, the outcome is in the [`Attempt`].
pub async fn deliver(
    policy: UrlPolicy,
    url: &str,
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Attempt {
    let target = match policy.check_url(url) {
        Ok(t) => t,
        Err(e) => return Attempt::failed(e.to_string(), true),
    };
    let addresses = match policy.resolve(&target).await {
        Ok(a) => a,
        // A refused address is final; DNS trouble may pass.
        Err(e) => return Attempt::failed(e.to_string(), e.is_permanent()),
    };
    let signature = match sign(secret, id, timestamp, body) {
        Ok(s) => s,
        Err(e) => return Attempt::failed(e.to_string(), true),
    };
    let host = target.host_str().unwrap_or_default().to_owned();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT / 2)
        .user_agent(concat!("slotwise-webhooks/", env!("CARGO_PKG_VERSION")))
        .resolve_to_addrs(&host, &addresses)
        .build()
    {
        Ok(c) => c,
        Err(e) => return Attempt::failed(format!("http client: {e}"), false),
    };
    let sent = client
        .post(target)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec())
        .send()
        .await;
    let mut response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Attempt::failed("timed out".into(), false),
        Err(e) => return Attempt::failed(format!("request failed: {}", error_chain(&e)), false),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)));
    // Read a little of the answer (for the log), never more than the limit.
    let mut head = Vec::new();
    while head.len() < RESPONSE_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_LIMIT - head.len())]),
            _ => break,
        }
    }
    drop(response);
    if status.is_success() {
        return Attempt { status: Some(status.as_u16()), error: None, retry_after: None, permanent: false };
    }
    let snippet: String = String::from_utf8_lossy(&head).chars().take(200).collect();
    Attempt {
        status: Some(status.as_u16()),
        error: Some(format!(
            "answered {status}{}",
            if snippet.is_empty() { String::new() } else { format!(": {snippet}") }
        )),
        retry_after: if matches!(status.as_u16(), 429 | 503) { retry_after } else { None },
        permanent: false,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(
            verify(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body, &format!("v1,bad {sig}")).unwrap()
        );
        assert!(!verify(&secret, "msg_other", 1_614_265_330, body, &sig).unwrap());
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn resolution_refuses_names_that_point_inside() {
        // Past the registration check (say, DNS changed since): the resolved address decides.
        let url = reqwest::Url::parse("https://localhost:1/hook").unwrap();
        let refused = UrlPolicy { allow_private: false }.resolve(&url).await.unwrap_err();
        assert!(matches!(&refused, Error::Refused(m) if m.contains("non-public")), "{refused}");
        assert!(refused.is_permanent());
        let allowed = UrlPolicy { allow_private: true }.resolve(&url).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback() && a.port() == 1), "{allowed:?}");
        let attempt =
            deliver(UrlPolicy::default(), "https://localhost:1/hook", &generate_secret(), "msg_1", 0, b"{}").await;
        assert!(attempt.permanent && attempt.status.is_none(), "{attempt:?}");
    }

    #[test]
    fn urls_need_https_and_a_public_host_unless_allowed() {
        let strict = UrlPolicy { allow_private: false };
        let open = UrlPolicy { allow_private: true };
        assert!(strict.check_url("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/",
            "https://localhost:8080/",
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
        assert!(open.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(open.check_url("ftp://example.com/").is_err());
    }
}
