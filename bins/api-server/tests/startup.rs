//! Start-up refuses an encryption key that cannot read the stored secrets,
//! naming the variable, and rotates keys with `SLOTWISE_ENCRYPTION_KEY_PREVIOUS`.

#[path = "../../../crates/store/tests/common/mod.rs"]
#[allow(unused_imports)]
mod db;

use api_server::{Application, Config, open_store};
use secrecy::{ExposeSecret, SecretString};

fn config(db: &std::path::Path, key: &SecretString) -> Config {
    let url = format!("sqlite://{}", db.display());
    let key = key.expose_secret().to_owned();
    Config::load(None, move |k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "SLOTWISE_ENCRYPTION_KEY" => Some(key.clone()),
        _ => None,
    })
    .unwrap()
}

#[tokio::test]
async fn a_wrong_encryption_key_stops_start_up_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slotwise.db");
    let (right, wrong) = (store::TokenCipher::generate_key(), store::TokenCipher::generate_key());

    let store = open_store(&config(&db, &right)).await.unwrap();
    seed_secrets(&store).await;
    store.close().await;

    let err = open_store(&config(&db, &wrong)).await.unwrap_err();
    assert!(format!("{err:#}").contains("SLOTWISE_ENCRYPTION_KEY"), "{err:#}");
    open_store(&config(&db, &right)).await.expect("the right key still opens it");
}

/// The configuration for `url` with `key` and, if any, the previous keys.
fn rotated_config(url: &str, key: &SecretString, previous: Option<&SecretString>) -> Config {
    let vars: Vec<(&str, String)> = [
        Some(("DATABASE_URL", url.to_owned())),
        Some(("SLOTWISE_BIND", "127.0.0.1:0".to_owned())),
        Some(("SLOTWISE_ENCRYPTION_KEY", key.expose_secret().to_owned())),
        previous.map(|p| {
            (
                "SLOTWISE_ENCRYPTION_KEY_PREVIOUS",
                format!("{},{}", store::TokenCipher::generate_key().expose_secret(), p.expose_secret()),
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut config = Config::load(None, |k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.clone())).unwrap();
    config.run_worker = false;
    config
}

/// Stored secrets: an OAuth connection's tokens and a webhook endpoint's signing secret.
async fn seed_secrets(store: &store::Store) -> store::TenantId {
    let (tenant, _) = store.create_tenant("Salon", "UTC").await.unwrap();
    let employee = store
        .create_employee(
            &tenant.id,
            store::NewEmployee {
                name: "A".into(),
                email: "a@example.com".into(),
                timezone: "UTC".into(),
                service_ids: vec![],
            },
        )
        .await
        .unwrap();
    store
        .upsert_connection(
            &tenant.id,
            &store::NewCalendarConnection {
                employee_id: employee.id,
                provider: store::Provider::Google,
                calendar_id: "primary".into(),
                access_token: SecretString::from("ya29.rotated"),
                refresh_token: Some(SecretString::from("1//refresh-rotated")),
                token_expires_at: None,
            },
        )
        .await
        .unwrap();
    store
        .create_webhook_endpoint(
            &tenant.id,
            &store::NewWebhookEndpoint {
                url: "https://hooks.example.com/slotwise".into(),
                events: vec!["booking.created".into()],
                secret: SecretString::from("whsec_rotated"),
            },
        )
        .await
        .unwrap();
    tenant.id
}

async fn key_rotation_at_start_up(db: db::TestDb) {
    let (k1, k2) = (db.key.clone(), store::TokenCipher::generate_key());
    let tenant = seed_secrets(&db.store).await;

    // K2 with K1 among the previous keys: starts, and rewrites every secret under K2.
    let mut app =
        Application::build(rotated_config(&db.url, &k2, Some(&k1))).await.expect("starts with K2 + previous K1");
    let rewritten = app.reencryption_done().await.expect("the re-encryption finishes");
    assert_eq!(rewritten, 3, "access token, refresh token and webhook secret");
    app.store().close().await;
    drop(app);

    // K2 alone now reads everything.
    let store = open_store(&rotated_config(&db.url, &k2, None)).await.expect("starts with K2 alone");
    let connections = store.list_connections(&tenant, None).await.unwrap();
    assert_eq!(connections[0].access_token.expose_secret(), "ya29.rotated");
    assert_eq!(store.reencrypt_secrets().await.unwrap(), 0, "nothing left under K1");
    store.close().await;

    // K1 alone is refused, naming the variable.
    let err = open_store(&rotated_config(&db.url, &k1, None)).await.unwrap_err();
    assert!(format!("{err:#}").contains("SLOTWISE_ENCRYPTION_KEY"), "{err:#}");
    db.finish().await.unwrap();
}

#[tokio::test]
async fn key_rotation_at_start_up_on_sqlite() {
    key_rotation_at_start_up(db::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn key_rotation_at_start_up_on_postgres() {
    if let Some(db) = db::postgres("key_rotation_at_start_up").await.unwrap() {
        key_rotation_at_start_up(db).await;
    }
}
