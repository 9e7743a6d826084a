//! Runs `tests/conformance/google_client.py` (Google's official Python client) against the emulator.
//!
//! Needs PyPI `google-api-python-client`. Without it the test passes with a notice, except when `CI=true`,
//! where a missing client is a failure (CI installs it).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use emulators::google::GoogleConfig;
use emulators::receiver::RecordingReceiver;
use emulators::{Emulator, EmulatorConfig};

fn python_client_available() -> bool {
    Command::new("python3")
        .args(["-c", "import googleapiclient, google.oauth2.credentials"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn official_python_client_runs_a_full_session_against_the_emulator() -> Result<()> {
    if !python_client_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            bail!("CI=true but python3 cannot import googleapiclient: pip install google-api-python-client");
        }
        eprintln!(
            "google conformance not run: python3 cannot import googleapiclient (pip install google-api-python-client)"
        );
        return Ok(());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/google_client.py");
    let google = GoogleConfig::default();
    let (client_id, client_secret) = (google.client_id.clone(), google.client_secret.clone());
    let emu = Emulator::start(EmulatorConfig { google_port: 0, google })?;
    let (_, refresh_token) = emu.google().issue_tokens(
        "user@example.com",
        &["https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.freebusy"],
    );
    let receiver = RecordingReceiver::start()?;

    let mut child = Command::new("python3")
        .arg(&script)
        .env("EMULATOR_BASE_URL", emu.google_base_url())
        .env("REFRESH_TOKEN", refresh_token)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", client_secret)
        .env("PUSH_ADDRESS", format!("{}/hooks/google", receiver.url()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", script.display()))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill()?;
            bail!("conformance script did not finish within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !status.success() {
        bail!("conformance script failed ({status}):\n{stdout}\n{stderr}");
    }
    assert!(stdout.contains("google conformance: 1 passed"), "{stdout}");
    // The watch call registered a real channel: its `sync` message reached the receiver.
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.first().and_then(|r| r.header("x-goog-resource-state")), Some("sync"));
    assert_eq!(got.first().and_then(|r| r.header("x-goog-channel-token")), Some("conformance-token"));
    Ok(())
}
