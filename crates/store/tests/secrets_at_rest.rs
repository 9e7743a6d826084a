//! Secrets at rest: after a calendar is connected (tokens, channel secret), an OAuth
//! state is pending and a webhook endpoint exists, none of their plaintexts is in the
//! database — the raw SQLite files byte for byte, every PostgreSQL row as text. Then a
//! key rotation: the new key with the old one as "previous" reads everything, rewrites
//! it, and afterwards the new key alone suffices while the old one alone is refused.

mod common;

use anyhow::{Context as _, Result, ensure};
use chrono::{TimeDelta, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use store::{ChannelRecord, NewCalendarConnection, NewWebhookEndpoint, Provider, Store, StoreError, TokenCipher};

use common::{TestDb, fixture};

on_both_backends!(no_plaintext_secret_is_stored_and_keys_rotate);

const PLAINTEXTS: [&str; 5] = [
    "ya29.PLAINTEXT-ACCESS-TOKEN",
    "1//PLAINTEXT-REFRESH-TOKEN",
    "PLAINTEXT-CHANNEL-TOKEN",
    "whsec_PLAINTEXTWEBHOOKSECRET",
    "PLAINTEXT-PKCE-VERIFIER",
];

/// Every byte the database holds, as text: the SQLite files, or each PostgreSQL row.
async fn everything(db: &TestDb) -> Result<String> {
    if db.is_postgres() {
        let mut all = String::new();
        for sql in [
            "SELECT row_to_json(t)::text FROM calendar_connections t",
            "SELECT row_to_json(t)::text FROM webhook_endpoints t",
            "SELECT row_to_json(t)::text FROM oauth_states t",
            "SELECT row_to_json(t)::text FROM booking_history t",
            "SELECT row_to_json(t)::text FROM notifications t",
        ] {
            all.push_str(&db.raw_texts(sql).await?.join("\n"));
        }
        Ok(all)
    } else {
        let path = db.url.trim_start_matches("sqlite://").split('?').next().context("path")?.to_owned();
        let mut all = Vec::new();
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                all.extend(bytes);
            }
        }
        ensure!(!all.is_empty(), "no database file at {path}");
        Ok(String::from_utf8_lossy(&all).into_owned())
    }
}

async fn no_plaintext_secret_is_stored_and_keys_rotate(db: &TestDb) -> Result<()> {
    let s = &db.store;
    let f = fixture(s, "Salon").await?;
    let connection = s
        .upsert_connection(
            &f.tenant,
            &NewCalendarConnection {
                employee_id: f.employee.clone(),
                provider: Provider::Google,
                calendar_id: "primary".into(),
                access_token: SecretString::from(PLAINTEXTS[0]),
                refresh_token: Some(SecretString::from(PLAINTEXTS[1])),
                token_expires_at: Some(Utc::now() + TimeDelta::hours(1)),
            },
        )
        .await?;
    let channel_secret = SecretString::from(PLAINTEXTS[2]);
    let channel = ChannelRecord {
        id: "chan-1",
        resource_id: Some("res-1"),
        secret: &channel_secret,
        expires_at: Utc::now() + TimeDelta::days(7),
    };
    s.set_connection_channel(&f.tenant, &connection.id, Some(channel)).await?;
    let webhook = NewWebhookEndpoint {
        url: "https://hooks.example/slotwise".into(),
        events: vec!["booking.created".into()],
        secret: SecretString::from(PLAINTEXTS[3]),
    };
    s.create_webhook_endpoint(&f.tenant, &webhook).await?;
    let state = SecretString::from("state-1");
    let verifier = SecretString::from(PLAINTEXTS[4]);
    s.create_oauth_state(
        &f.tenant,
        &f.employee,
        Provider::Outlook,
        &state,
        &verifier,
        Utc::now() + TimeDelta::minutes(5),
    )
    .await?;

    let raw = everything(db).await?;
    for plain in PLAINTEXTS {
        ensure!(!raw.contains(plain), "{plain} is stored in plain text");
    }

    // Rotation: the new key, with the old one to read what is stored.
    let new_key = TokenCipher::generate_key();
    let both = TokenCipher::from_base64_key(&new_key)?.with_previous_key(&db.key)?;
    let rotating = Store::connect(&db.url, both).await?;
    rotating.check_cipher().await?;
    ensure!(rotating.reencrypt_secrets().await? == 5, "access, refresh, channel, webhook and PKCE secrets");
    ensure!(rotating.reencrypt_secrets().await? == 0, "a second run has nothing to do");
    rotating.close().await;

    let new_only = Store::connect(&db.url, TokenCipher::from_base64_key(&new_key)?).await?;
    new_only.check_cipher().await?;
    let read = new_only.connection(&f.tenant, &connection.id).await?;
    ensure!(read.access_token.expose_secret() == PLAINTEXTS[0]);
    ensure!(read.channel_secret.as_ref().map(|c| c.expose_secret().to_owned()) == Some(PLAINTEXTS[2].into()));
    let taken = new_only.take_oauth_state(Provider::Outlook, "state-1").await?.context("state")?;
    ensure!(taken.pkce_verifier.expose_secret() == PLAINTEXTS[4]);
    new_only.close().await;

    let old_only = Store::connect(&db.url, TokenCipher::from_base64_key(&db.key)?).await?;
    let refused = old_only.check_cipher().await;
    ensure!(matches!(refused, Err(StoreError::Crypto(_))), "the old key alone no longer reads: {refused:?}");
    old_only.close().await;
    let raw = everything(db).await?;
    for plain in PLAINTEXTS {
        ensure!(!raw.contains(plain), "{plain} is stored in plain text after the rotation");
    }
    Ok(())
}
