//! Runs the provider emulators on fixed ports for the demo and manual testing.
//!
//! `emulator [--google-port 8090] [--consent page|auto-approve|auto-deny] [--client-id ID] [--client-secret S]
//! [--redirect-uri URI] [--access-token-ttl SECS] [--max-page-size N] [--microsoft-port 8091]`
//!
//! Everything lives in the `emulators` library; this binary only reads arguments and prints the URLs to put
//! into `GOOGLE_AUTH_URL`, `GOOGLE_TOKEN_URL`, `GOOGLE_REVOKE_URL` and `GOOGLE_API_BASE_URL`, and (with
//! `--microsoft-port`) `MICROSOFT_CLIENT_ID`, `MICROSOFT_CLIENT_SECRET`, `MICROSOFT_AUTHORITY_URL` and
//! `MICROSOFT_GRAPH_BASE_URL`. The Microsoft emulator approves consent at once.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use emulators::google::{ConsentMode, GoogleConfig};
use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator};
use emulators::{Emulator, EmulatorConfig};

/// What to start: the Google emulator always, the Microsoft one when a port is given.
#[derive(Debug)]
struct Args {
    emulator: EmulatorConfig,
    microsoft_port: Option<u16>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args> {
    let mut microsoft_port = None;
    let mut rest = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--microsoft-port" {
            let value = args.next().context("--microsoft-port needs a value")?;
            microsoft_port = Some(value.parse().context("--microsoft-port")?);
        } else {
            rest.push(arg);
        }
    }
    Ok(Args { emulator: parse_google_args(rest.into_iter())?, microsoft_port })
}

fn parse_google_args(mut args: impl Iterator<Item = String>) -> Result<EmulatorConfig> {
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
                     [--client-secret SECRET] [--redirect-uri URI]... [--access-token-ttl SECS] [--max-page-size N] \
                     [--microsoft-port PORT]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(config)
}

fn main() -> Result<()> {
    let args = parse_args(std::env::args().skip(1))?;
    let microsoft = match args.microsoft_port {
        Some(port) => {
            let config = MicrosoftConfig::default();
            let (client_id, client_secret) = (config.client_id.clone(), config.client_secret.clone());
            let server = MicrosoftEmulator::start(port, config).context("starting the Microsoft emulator")?;
            let urls = server.urls();
            println!("Microsoft emulator listening on {}", urls.base);
            println!("MICROSOFT_CLIENT_ID={client_id}");
            println!("MICROSOFT_CLIENT_SECRET={client_secret}");
            println!("MICROSOFT_AUTHORITY_URL={}", urls.authority_url);
            println!("MICROSOFT_GRAPH_BASE_URL={}", urls.graph_base_url);
            println!("admin (faults, lifecycle, seeding): {}", urls.admin_url);
            Some(server)
        }
        None => None,
    };
    let handle = Emulator::start(args.emulator).context("starting the Google emulator")?;
    let urls = handle.google_urls();
    println!("Google emulator listening on {}", urls.base);
    println!("GOOGLE_AUTH_URL={}", urls.auth_url);
    println!("GOOGLE_TOKEN_URL={}", urls.token_url);
    println!("GOOGLE_REVOKE_URL={}", urls.revoke_url);
    println!("GOOGLE_API_BASE_URL={}", urls.api_base_url);
    println!("admin (faults, seeding): {}", urls.admin_url);
    handle.wait();
    drop(microsoft);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = ["--google-port", "0", "--consent", "auto-approve", "--max-page-size", "3"].map(String::from);
        let config = parse_args(args.into_iter()).unwrap().emulator;
        assert_eq!(config.google_port, 0);
        assert_eq!(config.google.consent, ConsentMode::AutoApprove);
        assert_eq!(config.google.max_page_size, 3);
        assert!(parse_args(["--bogus".to_owned()].into_iter()).is_err());
    }

    #[test]
    fn microsoft_port_is_optional() {
        let args = ["--google-port", "0", "--microsoft-port", "8091", "--max-page-size", "3"].map(String::from);
        let parsed = parse_args(args.into_iter()).unwrap();
        assert_eq!(parsed.microsoft_port, Some(8091));
        assert_eq!(parsed.emulator.google.max_page_size, 3);
        assert_eq!(parse_args(std::iter::empty()).unwrap().microsoft_port, None);
        assert!(parse_args(["--microsoft-port".to_owned()].into_iter()).is_err());
    }
}
