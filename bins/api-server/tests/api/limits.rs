//! Hostile input is bounded before it costs: body size, windows, page sizes, list
//! lengths, string lengths and recurrence rules each get a 400 (or 413) naming the
//! field, and a refused rule never reaches the engine.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Salon, TestApp, on_both};

fn field(details: Value) -> String {
    details["field"].as_str().unwrap_or_default().to_owned()
}

on_both!(lists_in_bodies_are_bounded);
async fn lists_in_bodies_are_bounded(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = &salon.employees[0];

    let many_ids: Vec<&str> = std::iter::repeat_n(anna.as_str(), 1_001).collect();
    let d =
        app.post("/api/availability/bulk", &key, json!({"employee_ids": many_ids})).await.error(400, "invalid_request");
    assert_eq!(field(d), "employee_ids");
    let holidays: Vec<Value> = (0..1_001).map(|_| json!({"date": "2030-03-05", "name": "x"})).collect();
    let d = app
        .post("/api/availability/bulk", &key, json!({"employee_ids": [anna], "holidays": holidays}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "holidays");
    let time_off: Vec<Value> =
        (0..1_001).map(|_| json!({"start": "2030-03-04T08:00:00Z", "end": "2030-03-04T09:00:00Z"})).collect();
    let d = app
        .post("/api/availability/bulk", &key, json!({"employee_ids": [anna], "time_off": time_off}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "time_off");

    let services: Vec<&str> = std::iter::repeat_n(salon.service.as_str(), 1_001).collect();
    let d = app
        .post(
            "/api/employees",
            &key,
            json!({"name": "z", "email": "z@example.com", "timezone": "UTC", "service_ids": services}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "service_ids");

    let ranges: Vec<Value> = (0..49).map(|_| json!(["09:00", "10:00"])).collect();
    let d = app
        .put("/api/business-hours", &key, json!({"timezone": "Europe/Berlin", "weekly": {"mon": ranges}}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "weekly.mon");
    let d = app
        .post("/api/special-dates", &key, json!({"date": "2030-03-06", "hours": ranges}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "hours");

    let exdates: Vec<&str> = std::iter::repeat_n("2030-03-05T08:00:00Z", 1_001).collect();
    let d = app
        .post(
            &format!("/api/employees/{anna}/time-off"),
            &key,
            json!({"start": "2030-03-04T08:00:00Z", "end": "2030-03-04T09:00:00Z", "rrule": "FREQ=DAILY", "exdates": exdates}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "exdates");

    let events: Vec<&str> = std::iter::repeat_n("booking.created", 101).collect();
    let d = app
        .post("/api/webhooks", &key, json!({"url": "https://hooks.example.com/x", "events": events}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "events");

    // Page sizes and windows were bounded already; they stay so.
    let d = app.get("/api/bookings?limit=1001", &key).await.error(400, "invalid_request");
    assert_eq!(field(d), "limit");
    let d = app
        .get(&format!("/api/availability?service_id={}&from=2030-03-04&to=2031-03-06", salon.service), &key)
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "to");
    let huge = "x".repeat(1_100_000);
    let answer = app.post("/api/services", &key, json!({"name": huge, "duration_min": 30})).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    let ids: Vec<String> = (0..1001).map(|_| "01a21193-f839-734b-b0b2-210af90bcdd3".to_owned()).collect();
    let d = app
        .post("/api/calendar/sync-status/retry", &key, json!({"event_ids": ids}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "event_ids");
    app.db.finish().await.unwrap();
}

on_both!(strings_in_bodies_are_bounded);
async fn strings_in_bodies_are_bounded(app: TestApp) {
    let long_name = "n".repeat(201);
    let d = app
        .post("/api/tenants", crate::helpers::OPERATOR, json!({"name": long_name, "timezone": "UTC"}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "name");
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = &salon.employees[0];

    let d = app
        .post("/api/services", &key, json!({"name": long_name, "duration_min": 30}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "name");
    let d = app
        .post("/api/employees", &key, json!({"name": long_name, "email": "z@example.com", "timezone": "UTC"}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "name");
    let d = app
        .post(
            "/api/employees",
            &key,
            json!({"name": "z", "email": format!("{}@example.com", "e".repeat(250)), "timezone": "UTC"}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "email");
    let d = app
        .post("/api/holidays", &key, json!({"date": "2030-03-05", "name": long_name}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "name");
    let d = app
        .post(
            "/api/availability/bulk",
            &key,
            json!({"employee_ids": [anna], "holidays": [{"date": "2030-03-05", "name": long_name}]}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "holidays.0.name");
    let d = app
        .post(
            &format!("/api/employees/{anna}/time-off"),
            &key,
            json!({"start": "2030-03-04T08:00:00Z", "end": "2030-03-04T09:00:00Z", "reason": "r".repeat(1_001)}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "reason");
    let d = app
        .post(
            "/api/webhooks",
            &key,
            json!({"url": format!("https://hooks.example.com/{}", "p".repeat(2_100)), "events": ["booking.created"]}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "url");

    let booking = json!({
        "service_id": salon.service,
        "start": "2030-03-04T10:00:00+01:00",
        "customer": {"name": long_name, "email": "cleo@example.com"},
    });
    let d = app.post("/api/bookings", &key, booking).await.error(400, "invalid_request");
    assert_eq!(field(d), "customer.name");
    let booked = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", None).await.expect(201);
    let id = booked["id"].as_str().unwrap();
    let d = app
        .post(&format!("/api/bookings/{id}/cancel"), &key, json!({"reason": "r".repeat(1_001)}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "reason");
    app.post(&format!("/api/bookings/{id}/cancel"), &key, json!({"reason": "moved away"})).await.expect(200);
    app.db.finish().await.unwrap();
}

/// A day of time off at `start` repeating by `rrule`.
async fn time_off(
    app: &TestApp,
    key: &str,
    employee: &str,
    start: &str,
    end: &str,
    rrule: &str,
) -> crate::helpers::Answer {
    app.post(&format!("/api/employees/{employee}/time-off"), key, json!({"start": start, "end": end, "rrule": rrule}))
        .await
}

on_both!(pathological_recurrences_are_refused_before_they_cost);
async fn pathological_recurrences_are_refused_before_they_cost(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon: Salon = app.salon(&key).await;
    let anna = &salon.employees[0];

    // Sub-daily frequencies: every second for years.
    let d = time_off(&app, &key, anna, "2030-03-04T08:00:00Z", "2030-03-04T08:00:01Z", "FREQ=SECONDLY")
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "rrule");
    // A daily rule from 1900 would be expanded from 1900 on every availability query.
    let d = time_off(&app, &key, anna, "1900-01-01T08:00:00Z", "1900-01-01T09:00:00Z", "FREQ=DAILY")
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "start");
    let d = time_off(&app, &key, anna, "0001-01-01T08:00:00Z", "0001-01-01T09:00:00Z", "FREQ=DAILY")
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "start");
    let d = app
        .post(
            "/api/availability/bulk",
            &key,
            json!({"employee_ids": [anna], "time_off": [{"start": "1900-01-01T08:00:00Z", "end": "1900-01-01T09:00:00Z", "rrule": "FREQ=DAILY"}]}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "time_off.0.start");
    // A one-off absence in the past costs nothing and stays allowed.
    time_off_once(&app, &key, anna).await;
    // INTERVAL and COUNT within sane ranges, and the rule's length.
    for rule in ["FREQ=DAILY;INTERVAL=100000", "FREQ=DAILY;COUNT=0", "FREQ=DAILY;COUNT=99999999999"] {
        let d = time_off(&app, &key, anna, "2030-03-04T08:00:00Z", "2030-03-04T09:00:00Z", rule)
            .await
            .error(400, "invalid_request");
        assert_eq!(field(d), "rrule", "{rule}");
    }
    let long_rule = format!("FREQ=WEEKLY;BYDAY=MO{}", ",MO".repeat(200));
    let d = time_off(&app, &key, anna, "2030-03-04T08:00:00Z", "2030-03-04T09:00:00Z", &long_rule)
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "rrule");

    // A daily rule as old as allowed (two years) still answers availability at once,
    // up to the service's horizon.
    time_off(&app, &key, anna, "2028-03-06T07:00:00Z", "2028-03-06T08:00:00Z", "FREQ=DAILY").await.expect(201);
    let started = Instant::now();
    let path =
        format!("/api/availability?service_id={}&from=2030-03-04&to=2030-04-30&employee_id={anna}", salon.service);
    app.get(&path, &key).await.expect(200);
    assert!(started.elapsed() < Duration::from_secs(5), "availability took {:?}", started.elapsed());

    // A booking start beyond every horizon is refused before the slot is checked.
    let d = app.book(&key, &salon, "9999-01-04T10:00:00Z", Some(anna)).await.error(400, "invalid_request");
    assert_eq!(field(d), "start");
    let booked = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", Some(anna)).await.expect(201);
    let id = booked["id"].as_str().unwrap();
    let d = app
        .post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "9999-01-04T10:00:00Z"}))
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "start");
    // So is a check of such a start.
    let d = app
        .post(
            "/api/availability/check",
            &key,
            json!({"service_id": salon.service, "employee_id": anna, "start": "9999-01-04T10:00:00Z"}),
        )
        .await
        .error(400, "invalid_request");
    assert_eq!(field(d), "start");
    app.db.finish().await.unwrap();
}

async fn time_off_once(app: &TestApp, key: &str, employee: &str) {
    app.post(
        &format!("/api/employees/{employee}/time-off"),
        key,
        json!({"start": "1900-01-01T08:00:00Z", "end": "1900-01-01T09:00:00Z"}),
    )
    .await
    .expect(201);
}
