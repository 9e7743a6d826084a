//! What connected calendars do to availability: freshness in `calendars`, the
//! stale-calendar policy, and external events as busy time.

use std::sync::Arc;

use api_server::{Application, Config};
use chrono::{Datelike, Duration, NaiveDate, Utc};
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{OPERATOR, TestApp, local_starts};

/// This test needs the store's clock and the server's to agree (sync times are
/// stamped by the store), so the server runs on the real clock here.
async fn spawn_on_real_clock(db: crate::db::TestDb) -> TestApp {
    let config = Config::load(None, |k| match k {
        "SLOTWISE_BIND" => Some("127.0.0.1:0".into()),
        "SLOTWISE_OPERATOR_TOKEN" => Some(OPERATOR.into()),
        _ => None,
    })
    .unwrap();
    let app = Application::build_with_store(config, db.store.clone(), Arc::new(Utc::now)).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run());
    TestApp { base, client: reqwest::Client::new(), db }
}

fn next_monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(2);
    while d.weekday() != chrono::Weekday::Mon {
        d += Duration::days(1);
    }
    d
}

async fn stale_and_fresh_calendars(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = store::EmployeeId::parse(salon.employees[0].clone()).unwrap();
    let tenant = app.db.store.tenant_by_api_key(&SecretString::from(key.clone())).await.unwrap().unwrap();
    let monday = next_monday();
    let path = format!("/api/availability?service_id={}&from={monday}&to={monday}&employee_id={anna}", salon.service);

    // Connected but never synced: stale, and by default that blocks her time.
    let connection = app
        .db
        .store
        .upsert_connection(
            &tenant.id,
            &store::NewCalendarConnection {
                employee_id: anna.clone(),
                provider: store::Provider::Google,
                calendar_id: "primary".into(),
                access_token: SecretString::from("access"),
                refresh_token: Some(SecretString::from("refresh")),
                token_expires_at: None,
            },
        )
        .await
        .unwrap();
    let body = app.get(&path, &key).await.expect(200);
    assert_eq!(local_starts(&body), Vec::<String>::new());
    assert_eq!(body["calendars"][0]["provider"], "google");
    assert_eq!(body["calendars"][0]["stale"], true);
    assert!(body["calendars"][0]["synced_at"].is_null());
    let check = app
        .post(
            "/api/availability/check",
            &key,
            json!({"service_id": salon.service, "employee_id": anna.as_str(),
            "start": format!("{monday}T10:00:00+01:00")}),
        )
        .await
        .expect(200);
    assert_eq!(check["reasons"][0]["code"], "external_event");

    // Synced just now: fresh; its blocking events count, the others do not.
    app.db
        .store
        .record_connection_sync(&tenant.id, &connection.id, store::ConnectionStatus::Active, Some("t1"), None)
        .await
        .unwrap();
    let berlin = chrono_tz::Europe::Berlin;
    let at = |h: u32| monday.and_hms_opt(h, 0, 0).unwrap().and_local_timezone(berlin).unwrap().with_timezone(&Utc);
    let event = |id: &str, from: u32, to: u32, blocks: bool| store::ExternalEvent {
        provider_event_id: id.into(),
        start: at(from),
        end: at(to),
        all_day: false,
        blocks_time: blocks,
        etag: None,
        raw_status: "confirmed".into(),
    };
    app.db
        .store
        .upsert_external_events(&tenant.id, &connection.id, &[event("busy", 9, 11, true), event("free", 13, 15, false)])
        .await
        .unwrap();
    let body = app.get(&path, &key).await.expect(200);
    assert_eq!(body["calendars"][0]["stale"], false);
    assert_eq!(body["calendars"][0]["status"], "active");
    let starts = local_starts(&body);
    assert_eq!(starts.first().map(String::as_str), Some("11:00"), "09:00-11:00 is busy in her calendar");
    assert!(starts.contains(&"13:00".to_owned()), "a transparent event does not block");

    // In error and the policy says ignore: the connection's events are left out.
    app.db
        .store
        .record_connection_sync(&tenant.id, &connection.id, store::ConnectionStatus::Error, None, Some("boom"))
        .await
        .unwrap();
    app.db.store.set_stale_calendar_policy(&tenant.id, store::StaleCalendarPolicy::Ignore).await.unwrap();
    let body = app.get(&path, &key).await.expect(200);
    assert_eq!(body["calendars"][0]["status"], "error");
    assert_eq!(local_starts(&body).first().map(String::as_str), Some("09:00"));
    app.db.finish().await.unwrap();
}

mod stale_and_fresh_calendars {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = crate::db::sqlite().await.unwrap();
        super::stale_and_fresh_calendars(super::spawn_on_real_clock(db).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(db) = crate::db::postgres("stale_and_fresh_calendars").await.unwrap() {
            super::stale_and_fresh_calendars(super::spawn_on_real_clock(db).await).await;
        }
    }
}
