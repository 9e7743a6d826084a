//! Bad input gets a clear error with a stable code, the right status and the field.

use serde_json::json;

use crate::helpers::{TestApp, on_both};

on_both!(bad_bodies_name_their_field);
async fn bad_bodies_name_their_field(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let field = |d: serde_json::Value| d["field"].as_str().map(str::to_owned);
    let d = app.post("/api/services", &key, json!({"name": "x"})).await.error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("duration_min"), "missing field");
    let d = app
        .post("/api/services", &key, json!({"name": "x", "duration_min": "long"}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("duration_min"), "wrong type");
    let d = app
        .post("/api/services", &key, json!({"name": "x", "duration_min": 30, "slot_step_min": 0}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("slot_step_min"));
    let d = app
        .put("/api/business-hours", &key, json!({"timezone": "Europe/Berlin", "weekly": {"mon": [["17:00", "09:00"]]}}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("weekly.mon.0"));
    let d = app
        .put("/api/business-hours", &key, json!({"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", 17]]}}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("weekly.mon.0.1"));
    let d = app
        .post("/api/employees", &key, json!({"name": "z", "email": "z@example.com", "timezone": "Nowhere/City"}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("timezone"));
    let d = app
        .post(
            "/api/employees",
            &key,
            json!({"name": "z", "email": "z@example.com", "timezone": "UTC", "service_ids": ["nope"]}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("service_ids.0"));
    let anna = &salon.employees[0];
    let d = app
        .post(
            &format!("/api/employees/{anna}/time-off"),
            &key,
            json!({"start": "2030-03-04T10:00:00Z", "end": "2030-03-04T09:00:00Z"}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("end"));
    let d = app
        .post(
            &format!("/api/employees/{anna}/time-off"),
            &key,
            json!({"start": "2030-03-05T09:00:00Z", "end": "2030-03-05T10:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=MO"}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("rrule"));
    let d = app
        .post(
            "/api/bookings",
            &key,
            json!({"service_id": salon.service, "start": "2030-03-04T09:00:00+01:00", "customer": {"name": "c"}}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("customer.email"));
    let d = app
        .post("/api/bookings", &key, json!({"service_id": salon.service, "start": "tomorrow", "customer": {"name": "c", "email": "c@example.com"}}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d).as_deref(), Some("start"));

    // Malformed JSON: no field.
    let resp = app
        .client
        .post(format!("{}/api/services", app.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(body["error"]["details"].get("field").is_none());

    // Over 1 MiB: 413.
    let huge = json!({"name": "x".repeat(1_100_000), "duration_min": 30});
    app.post("/api/services", &key, huge).await.error(413, "payload_too_large");
    app.db.finish().await.unwrap();
}

on_both!(unknown_and_foreign_ids);
async fn unknown_and_foreign_ids(app: TestApp) {
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let salon_a = app.salon(&a).await;
    let salon_b = app.salon(&b).await;
    let anna_a = &salon_a.employees[0];
    // A's ids in B's paths: 404; in B's bodies and queries: 400 naming the field.
    app.get(&format!("/api/employees/{anna_a}"), &b).await.error(404, "not_found");
    app.put(
        &format!("/api/employees/{anna_a}/schedule"),
        &b,
        json!({"timezone": "Europe/Berlin", "weekly": {}, "breaks": {}}),
    )
    .await
    .error(404, "not_found");
    let d = app
        .get(&format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04", salon_a.service), &b)
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "service_id");
    let d = app
        .get(
            &format!(
                "/api/availability?service_id={}&from=2030-03-04&to=2030-03-04&employee_id={anna_a}",
                salon_b.service
            ),
            &b,
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "employee_id");
    let d = app
        .post("/api/holidays", &b, json!({"date": "2030-03-05", "name": "x", "employee_id": anna_a}))
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "employee_id");
    // Windows: end before start, too long, missing parameter.
    let q = |from: &str, to: &str| format!("/api/availability?service_id={}&from={from}&to={to}", salon_b.service);
    assert_eq!(app.get(&q("2030-03-05", "2030-03-04"), &b).await.error(400, "invalid_request")["field"], "to");
    assert_eq!(app.get(&q("2030-01-01", "2031-01-02"), &b).await.error(400, "invalid_request")["field"], "to");
    assert_eq!(
        app.get(&format!("/api/availability?service_id={}&from=2030-03-04", salon_b.service), &b)
            .await
            .error(400, "invalid_request")["field"],
        "to"
    );
    // An employee who does not offer the service.
    let loner = app
        .post("/api/employees", &b, json!({"name": "l", "email": "l@example.com", "timezone": "Europe/Berlin"}))
        .await
        .expect(201);
    let d = app
        .post(
            "/api/bookings",
            &b,
            json!({"service_id": salon_b.service, "employee_id": loner["id"], "start": "2030-03-04T09:00:00+01:00",
                   "customer": {"name": "c", "email": "c@example.com"}}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(d["field"], "employee_id");
    app.get("/api/no-such-route", &b).await.error(404, "not_found");
    app.db.finish().await.unwrap();
}
