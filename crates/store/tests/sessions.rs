//! Dashboard sessions: bound to a tenant, found only by their token, gone after
//! expiry or sign-out, and never stored as the token itself.

mod common;

use anyhow::{Context as _, Result, ensure};
use chrono::{TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use common::{TestDb, fixture};

on_both_backends!(sessions_live_until_expiry_or_sign_out);

async fn sessions_live_until_expiry_or_sign_out(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let now = Utc::now();
    let token = SecretString::from("cookie-token-abc");
    let csrf = SecretString::from("csrf-xyz");
    s.create_dashboard_session(&f.tenant, &token, &csrf, now + TimeDelta::hours(8)).await?;
    let live = s.dashboard_session("cookie-token-abc", now).await?.context("session")?;
    ensure!(live.tenant.id == f.tenant && live.csrf_token.expose_secret() == "csrf-xyz");
    ensure!(s.dashboard_session("cookie-token-abd", now).await?.is_none(), "another token");
    ensure!(s.dashboard_session("cookie-token-abc", now + TimeDelta::hours(9)).await?.is_none(), "expired");
    // Only the token's hash is stored.
    let stored = db.raw_texts("SELECT token_hash FROM dashboard_sessions").await?;
    ensure!(stored.len() == 1 && !stored[0].contains("cookie-token"), "{stored:?}");
    s.delete_dashboard_session("cookie-token-abc").await?;
    ensure!(s.dashboard_session("cookie-token-abc", now).await?.is_none(), "signed out");
    Ok(())
}
