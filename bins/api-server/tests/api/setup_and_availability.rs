//! Tenants, auth, set-up and availability.

use serde_json::json;

use crate::helpers::{OPERATOR, TestApp, local_starts, on_both};

on_both!(tenants_and_auth);
async fn tenants_and_auth(app: TestApp) {
    let created =
        app.post("/api/tenants", OPERATOR, json!({"name": "Salon", "timezone": "Europe/Berlin"})).await.expect(201);
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));
    let key = created["api_key"].as_str().unwrap();
    // A tenant key on an operator endpoint, the operator token on a tenant endpoint, nothing, garbage: 401.
    app.post("/api/tenants", key, json!({"name": "X", "timezone": "UTC"})).await.error(401, "unauthorized");
    app.get("/api/services", OPERATOR).await.error(401, "unauthorized");
    app.send("GET", "/api/services", None, None).await.error(401, "unauthorized");
    app.get("/api/services", "not-a-key").await.error(401, "unauthorized");
    app.get("/api/services", key).await.expect(200);
    app.post("/api/tenants", OPERATOR, json!({"name": "Y", "timezone": "Mars/Base"}))
        .await
        .error(400, "invalid_request");
    // Health needs no key.
    app.send("GET", "/healthz", None, None).await.expect(200);
    assert_eq!(app.send("GET", "/readyz", None, None).await.expect(200)["status"], "ready");
    app.db.finish().await.unwrap();
}

on_both!(availability_in_the_business_zone_and_the_asked_zone);
async fn availability_in_the_business_zone_and_the_asked_zone(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let path = format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04", salon.service);
    let body = app.get(&path, &key).await.expect(200);
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(
        local_starts(&body),
        [
            "09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "13:00", "13:30", "14:00", "14:30", "15:00", "15:30",
            "16:00", "16:30"
        ]
    );
    let first = &body["slots"][0];
    assert_eq!(first["start"], "2030-03-04T09:00:00+01:00");
    assert_eq!(first["end"], "2030-03-04T09:30:00+01:00");
    let mut both = salon.employees.clone();
    both.sort();
    assert_eq!(first["employee_ids"], json!(both));
    assert_eq!(body["calendars"], json!([]));

    // Written in the asked zone; dates are that zone's dates.
    let utc = app.get(&format!("{path}&timezone=UTC"), &key).await.expect(200);
    assert_eq!(utc["timezone"], "UTC");
    assert_eq!(utc["slots"][0]["start"], "2030-03-04T08:00:00+00:00");
    // One employee only.
    let one = app.get(&format!("{path}&employee_id={}", salon.employees[1]), &key).await.expect(200);
    assert_eq!(one["slots"][0]["employee_ids"], json!([salon.employees[1]]));
    // Instants as bounds.
    let narrow = app
        .get(
            &format!(
                "/api/availability?service_id={}&from=2030-03-04T10:00:00%2B01:00&to=2030-03-04T11:00:00%2B01:00",
                salon.service
            ),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(local_starts(&narrow), ["10:00", "10:30"]);
    app.db.finish().await.unwrap();
}

on_both!(holidays_special_dates_time_off_and_check);
async fn holidays_special_dates_time_off_and_check(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let holiday = app.post("/api/holidays", &key, json!({"date": "2030-03-05", "name": "Closed"})).await.expect(201);
    assert!(holiday["id"].is_string());
    app.post("/api/special-dates", &key, json!({"date": "2030-03-06", "hours": [["10:00", "11:00"]]}))
        .await
        .expect(201);
    let anna = &salon.employees[0];
    app.post(
        &format!("/api/employees/{anna}/time-off"),
        &key,
        json!({"start": "2030-03-04T08:00:00Z", "end": "2030-03-04T09:00:00Z", "rrule": "FREQ=DAILY;COUNT=5", "reason": "school run"}),
    )
    .await
    .expect(201);
    let day = |d: &str| format!("/api/availability?service_id={}&from={d}&to={d}&employee_id={anna}", salon.service);
    let monday = app.get(&day("2030-03-04"), &key).await.expect(200);
    assert_eq!(local_starts(&monday)[0], "10:00", "09:00-10:00 is time off");
    assert!(local_starts(&app.get(&day("2030-03-05"), &key).await.expect(200)).is_empty(), "holiday");
    assert_eq!(
        local_starts(&app.get(&day("2030-03-06"), &key).await.expect(200)),
        ["10:00", "10:30"],
        "special date 10-11, time off until 10"
    );

    let check = |start: &str| json!({"service_id": salon.service, "employee_id": anna, "start": start});
    let c = app.post("/api/availability/check", &key, check("2030-03-04T12:00:00+01:00")).await.expect(200);
    assert_eq!(c["available"], false);
    assert_eq!(c["reasons"][0]["code"], "break");
    assert_eq!(c["reasons"][0]["start"], "2030-03-04T12:00:00+01:00");
    let c = app.post("/api/availability/check", &key, check("2030-03-04T09:00:00+01:00")).await.expect(200);
    assert_eq!(c["reasons"][0]["code"], "time_off");
    assert!(c["reasons"][0]["ref"].is_string());
    let c = app.post("/api/availability/check", &key, check("2030-03-05T10:00:00+01:00")).await.expect(200);
    assert_eq!(c["reasons"][0]["code"], "holiday");
    assert_eq!(c["reasons"][0]["ref"], holiday["id"]);
    let c = app.post("/api/availability/check", &key, check("2030-03-04T10:00:00+01:00")).await.expect(200);
    assert_eq!(c, json!({"available": true, "reasons": []}));
    app.db.finish().await.unwrap();
}

on_both!(employee_schedule_and_bulk_edit);
async fn employee_schedule_and_bulk_edit(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let (anna, ben) = (&salon.employees[0], &salon.employees[1]);
    app.put(
        &format!("/api/employees/{anna}/schedule"),
        &key,
        json!({"timezone": "Europe/Berlin", "weekly": {"mon": [["15:00", "20:00"]]}, "breaks": {}}),
    )
    .await
    .expect(200);
    // Another zone than the employee's is refused.
    let d = app
        .put(&format!("/api/employees/{anna}/schedule"), &key, json!({"timezone": "UTC", "weekly": {}, "breaks": {}}))
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "timezone");
    let path = |e: &str| {
        format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04&employee_id={e}", salon.service)
    };
    assert_eq!(local_starts(&app.get(&path(anna), &key).await.expect(200)), ["15:00", "15:30", "16:00", "16:30"]);

    let bulk = json!({
        "employee_ids": [anna, ben],
        "schedule": {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "10:00"]]}, "breaks": {}},
        "holidays": [{"date": "2030-03-11", "name": "Team day"}],
    });
    assert_eq!(app.post("/api/availability/bulk", &key, bulk).await.expect(200), json!({"updated": 2}));
    assert_eq!(local_starts(&app.get(&path(ben), &key).await.expect(200)), ["09:00", "09:30"]);
    // All or nothing: one bad time off leaves everything as it was.
    let bad = json!({
        "employee_ids": [anna, ben],
        "schedule": {"timezone": "Europe/Berlin", "weekly": {"mon": [["11:00", "12:00"]]}, "breaks": {}},
        "time_off": [{"start": "2030-03-04T10:00:00Z", "end": "2030-03-04T09:00:00Z"}],
    });
    assert_eq!(
        app.post("/api/availability/bulk", &key, bad).await.error(400, "invalid_request")["field"],
        "time_off.0.end"
    );
    assert_eq!(local_starts(&app.get(&path(ben), &key).await.expect(200)), ["09:00", "09:30"]);
    app.db.finish().await.unwrap();
}

on_both!(metrics_and_request_ids);
async fn metrics_and_request_ids(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    app.book(&key, &salon, "2030-03-04T09:00:00+01:00", None).await.expect(201);
    let resp = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123", "a sane client id is kept");
    let resp = app.client.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert!(resp.headers()["x-request-id"].to_str().unwrap().len() >= 32, "one is made up otherwise");
    let text = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(r#"slotwise_http_requests_total{method="POST",route="/api/bookings",status="201"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"slotwise_bookings_changed_total{change="created"} 1"#), "{text}");
    assert!(text.contains("slotwise_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"slotwise_outbox_jobs{queue="notifications",status="pending"} 2"#), "{text}");
    assert!(text.contains(r#"slotwise_outbox_jobs{queue="calendar_sync",status="dead"} 0"#), "{text}");
    assert!(text.contains(r#"slotwise_calendar_connections{provider="google",status="active"} 0"#), "{text}");
    app.db.finish().await.unwrap();
}
