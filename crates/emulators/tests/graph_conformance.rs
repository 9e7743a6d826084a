//! Runs `tests/conformance/graph_client.py` (Microsoft's official Graph Python SDK) against the Microsoft
//! emulator.
//!
//! Needs PyPI `msgraph-sdk`. Without it the test passes with a notice, except when `CI=true`, where a missing
//! SDK is a failure (CI installs it).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator};
use emulators::receiver::RecordingReceiver;

fn graph_sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import msgraph"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn official_graph_sdk_runs_a_full_session_against_the_emulator() -> Result<()> {
    if !graph_sdk_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            bail!("CI=true but python3 cannot import msgraph: pip install msgraph-sdk");
        }
        eprintln!("graph conformance not run: python3 cannot import msgraph (pip install msgraph-sdk)");
        return Ok(());
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance/graph_client.py");
    let server = MicrosoftEmulator::start(0, MicrosoftConfig::default())?;
    let (access_token, _) =
        server.emulator().issue_tokens("user@contoso.example", &["offline_access", "Calendars.ReadWrite"]);
    let receiver = RecordingReceiver::start_graph()?;

    let mut child = Command::new("python3")
        .arg(&script)
        .env("GRAPH_BASE_URL", &server.urls().graph_base_url)
        .env("ACCESS_TOKEN", access_token)
        .env("NOTIFICATION_URL", format!("{}/api/calendar/webhooks/outlook", receiver.url()))
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
    assert!(stdout.contains("graph conformance: 1 passed"), "{stdout}");
    // Two handshakes (notification and lifecycle URL) came before the subscription existed, then the
    // deletion was notified with the subscription's clientState.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = receiver.requests();
        let handshakes = got.iter().filter(|r| r.path.contains("validationToken=")).count();
        let deleted = got.iter().any(|r| {
            let body = String::from_utf8_lossy(&r.body);
            body.contains("\"deleted\"") && body.contains("conformance-state")
        });
        if handshakes == 2 && deleted {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("receiver saw {handshakes} handshakes, deletion notified: {deleted}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
