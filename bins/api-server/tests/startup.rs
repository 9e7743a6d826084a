//! Start-up refuses an encryption key that cannot read the stored secrets,
//! naming the variable.

use api_server::{Config, open_store};
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
                access_token: SecretString::from("ya29.secret"),
                refresh_token: None,
                token_expires_at: None,
            },
        )
        .await
        .unwrap();
    store.close().await;

    let err = open_store(&config(&db, &wrong)).await.unwrap_err();
    assert!(format!("{err:#}").contains("SLOTWISE_ENCRYPTION_KEY"), "{err:#}");
    open_store(&config(&db, &right)).await.expect("the right key still opens it");
}
