//! Runs the provider emulators on fixed ports for the demo and manual testing.
//!
//! `emulator [--google-port 8090] [--consent page|auto-approve|auto-deny] [--client-id ID] [--client-secret S]
//! [--redirect-uri URI] [--access-token-ttl SECS] [--max-page-size N]`
//!
//! Everything lives in the `emulators` library; this binary only reads arguments and prints the URLs to put
//! into `GOOGLE_AUTH_URL`, `GOOGLE_TOKEN_URL`, `GOOGLE_REVOKE_URL` and `GOOGLE_API_BASE_URL`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use emulators::google::{ConsentMode, GoogleConfig};
use emulators::{Emulator, EmulatorConfig};

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<EmulatorConfig> {
    let mut config = EmulatorConfig {
        google_port: 8090,
        google: GoogleConfig { consent: ConsentMode::Page, ..GoogleConfig::default() },
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--google-port" => config.google_port = value()?.parse().context("--google-port")?,
            "--consent" => {
                config.google.consent = match value()?.as_str() {
                    "page" => ConsentMode::Page,
                    "auto-approve" => ConsentMode::AutoApprove,
                    "auto-deny" => ConsentMode::AutoDeny,
                    other => bail!("--consent: unknown mode {other}"),
                }
            }
            "--client-id" => config.google.client_id = value()?,
            "--client-secret" => config.google.client_secret = value()?,
            "--redirect-uri" => config.google.redirect_uris.push(value()?),
            "--access-token-ttl" => {
                config.google.access_token_ttl = Duration::from_secs(value()?.parse().context("--access-token-ttl")?)
            }
            "--max-page-size" => config.google.max_page_size = value()?.parse().context("--max-page-size")?,
            "-h" | "--help" => {
                println!(
                    "emulator [--google-port PORT] [--consent page|auto-approve|auto-deny] [--client-id ID] \
                     [--client-secret SECRET] [--redirect-uri URI]... [--access-token-ttl SECS] [--max-page-size N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(config)
}

fn main() -> Result<()> {
    let config = parse_args(std::env::args().skip(1))?;
    let handle = Emulator::start(config).context("starting the Google emulator")?;
    let urls = handle.google_urls();
    println!("Google emulator listening on {}", urls.base);
    println!("GOOGLE_AUTH_URL={}", urls.auth_url);
    println!("GOOGLE_TOKEN_URL={}", urls.token_url);
    println!("GOOGLE_REVOKE_URL={}", urls.revoke_url);
    println!("GOOGLE_API_BASE_URL={}", urls.api_base_url);
    println!("admin (faults, seeding): {}", urls.admin_url);
    handle.wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = ["--google-port", "0", "--consent", "auto-approve", "--max-page-size", "3"].map(String::from);
        let config = parse_args(args.into_iter()).unwrap();
        assert_eq!(config.google_port, 0);
        assert_eq!(config.google.consent, ConsentMode::AutoApprove);
        assert_eq!(config.google.max_page_size, 3);
        assert!(parse_args(["--bogus".to_owned()].into_iter()).is_err());
    }
}
