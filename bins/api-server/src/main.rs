//! The api-server binary: read the configuration, start tracing, build, run.

use std::path::PathBuf;

use anyhow::Context as _;
use api_server::{Application, Config, demo};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Default)]
struct Args {
    config: Option<PathBuf>,
    demo: bool,
    no_worker: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--demo" => args.demo = true,
            "--config" => args.config = Some(it.next().context("--config needs a file")?.into()),
            // Another process (or nobody) sends the notifications.
            "--no-worker" => args.no_worker = true,
            "-h" | "--help" => {
                println!(
                    "api-server [--config FILE] [--demo] [--no-worker]\nConfiguration: see shared/docs/api-contract.md (environment variables)."
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(args)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = args()?;
    let mut config = Config::from_env(args.config.as_deref())?;
    let mut emulators = None;
    if args.demo {
        demo::prepare(&mut config);
        emulators = demo::start_emulators(&mut config)?;
    }
    config.run_worker = !args.no_worker;
    let app = Application::build(config.clone()).await?;
    if args.demo {
        demo::seed_and_print(&app, &config, emulators.as_ref()).await?;
    } else {
        tracing::info!(address = %app.address(), "slotwise api-server listening");
    }
    app.run().await?;
    drop(emulators);
    Ok(())
}
