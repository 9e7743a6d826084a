//! The availability cache: exact within one process (every write through the API
//! shows in the next answer), per tenant, and stale only for writes it cannot see.

use serde_json::json;

use crate::helpers::{TestApp, local_starts, on_both_db, secret, spawn_app_with};

/// A server whose answers would live a minute: any staleness would show.
async fn long_lived(db: crate::db::TestDb) -> TestApp {
    spawn_app_with(db, |c| c.availability_cache_ms = 60_000).await
}

fn day_of(service: &str, employee: &str) -> String {
    format!("/api/availability?service_id={service}&from=2030-03-04&to=2030-03-04&employee_id={employee}")
}

async fn starts(app: &TestApp, path: &str, key: &str) -> Vec<String> {
    local_starts(&app.get(path, key).await.expect(200))
}

/// Time off 09:00-10:00 Berlin on Monday, written to the store directly (as another process would).
async fn time_off_behind_the_api(app: &TestApp, key: &str, employee: &str) {
    let tenant = app.db.store.tenant_by_api_key(&secret(key)).await.unwrap().unwrap();
    let entry = store::NewTimeOff {
        start: "2030-03-04T08:00:00Z".parse().unwrap(),
        end: "2030-03-04T09:00:00Z".parse().unwrap(),
        rrule: None,
        exdates: Vec::new(),
        reason: None,
    };
    app.db.store.add_time_off(&tenant.id, &store::EmployeeId::parse(employee).unwrap(), entry).await.unwrap();
}

on_both_db!(writes_through_the_api_show_at_once);
async fn writes_through_the_api_show_at_once(db: crate::db::TestDb) {
    let app = long_lived(db).await;
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = salon.employees[0].clone();
    let path = day_of(&salon.service, &anna);
    let all = starts(&app, &path, &key).await;
    assert!(all.contains(&"09:00".to_owned()) && all.contains(&"14:00".to_owned()), "{all:?}");

    // A write the process does not see is not in the cached answer (the TTL bounds it)...
    time_off_behind_the_api(&app, &key, &anna).await;
    assert_eq!(starts(&app, &path, &key).await, all, "served from the cache");
    // ...nor does a check (a POST that only reads) drop the answer...
    let check = json!({"service_id": salon.service, "employee_id": anna, "start": "2030-03-04T14:00:00+01:00"});
    assert_eq!(app.post("/api/availability/check", &key, check).await.expect(200)["available"], true);
    assert_eq!(starts(&app, &path, &key).await, all);

    // ...but every write through the API does, and then the store's state shows whole.
    let booking = app.book(&key, &salon, "2030-03-04T14:00:00+01:00", Some(&anna)).await.expect(201);
    let booked = starts(&app, &path, &key).await;
    assert!(!booked.contains(&"14:00".to_owned()), "the booking shows at once: {booked:?}");
    assert_eq!(booked.first().map(String::as_str), Some("10:00"), "and the time off written behind the API");

    let id = booking["id"].as_str().unwrap();
    app.post(&format!("/api/bookings/{id}/cancel"), &key, json!({"reason": "ill"})).await.expect(200);
    assert!(starts(&app, &path, &key).await.contains(&"14:00".to_owned()), "the cancel shows at once");

    app.post(
        &format!("/api/employees/{anna}/time-off"),
        &key,
        json!({"start": "2030-03-04T14:00:00Z", "end": "2030-03-04T15:00:00Z"}),
    )
    .await
    .expect(201);
    let off = starts(&app, &path, &key).await;
    assert!(!off.contains(&"15:00".to_owned()) && !off.contains(&"15:30".to_owned()), "time off: {off:?}");
    assert!(off.contains(&"16:00".to_owned()), "{off:?}");

    app.put(
        &format!("/api/employees/{anna}/schedule"),
        &key,
        json!({"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "11:00"]]}, "breaks": {}}),
    )
    .await
    .expect(200);
    assert_eq!(starts(&app, &path, &key).await, ["10:00", "10:30"], "the schedule shows at once");

    // The same question in the merged view is its own entry, computed fresh.
    let merged = format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04", salon.service);
    let body = app.get(&merged, &key).await.expect(200);
    assert_eq!(body["slots"][0]["employee_ids"], json!([salon.employees[1]]), "only ben at 09:00: {body}");
    app.db.finish().await.unwrap();
}

on_both_db!(tenants_never_share_answers);
async fn tenants_never_share_answers(db: crate::db::TestDb) {
    let app = long_lived(db).await;
    let (key_a, key_b) = (app.tenant("A").await, app.tenant("B").await);
    let (salon_a, salon_b) = (app.salon(&key_a).await, app.salon(&key_b).await);
    let path_a = day_of(&salon_a.service, &salon_a.employees[0]);
    let path_b = day_of(&salon_b.service, &salon_b.employees[0]);
    let all = starts(&app, &path_a, &key_a).await;
    assert_eq!(starts(&app, &path_b, &key_b).await, all, "the same set-up");

    // B asking A's cached question gets B's answer: A's service is not B's.
    let details = app.get(&path_a, &key_b).await.error(400, "invalid_request");
    assert_eq!(details["field"], "service_id");

    // A write of A's leaves B's answer as it is, and B's of B's leaves A's.
    app.book(&key_a, &salon_a, "2030-03-04T10:00:00+01:00", Some(&salon_a.employees[0])).await.expect(201);
    assert!(!starts(&app, &path_a, &key_a).await.contains(&"10:00".to_owned()));
    assert_eq!(starts(&app, &path_b, &key_b).await, all);
    app.book(&key_b, &salon_b, "2030-03-04T11:00:00+01:00", Some(&salon_b.employees[0])).await.expect(201);
    let b = starts(&app, &path_b, &key_b).await;
    assert!(b.contains(&"10:00".to_owned()) && !b.contains(&"11:00".to_owned()), "{b:?}");
    let a = starts(&app, &path_a, &key_a).await;
    assert!(!a.contains(&"10:00".to_owned()) && a.contains(&"11:00".to_owned()), "{a:?}");
    app.db.finish().await.unwrap();
}

on_both_db!(the_cache_can_be_turned_off);
async fn the_cache_can_be_turned_off(db: crate::db::TestDb) {
    let app = spawn_app_with(db, |c| c.availability_cache_ms = 0).await;
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = salon.employees[0].clone();
    let path = day_of(&salon.service, &anna);
    assert_eq!(starts(&app, &path, &key).await.first().map(String::as_str), Some("09:00"));
    time_off_behind_the_api(&app, &key, &anna).await;
    assert_eq!(starts(&app, &path, &key).await.first().map(String::as_str), Some("10:00"), "no cache: seen at once");
    app.db.finish().await.unwrap();
}
