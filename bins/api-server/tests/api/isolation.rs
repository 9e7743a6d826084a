//! Tenant isolation, as a matrix: tenant B calls every tenant endpoint with tenant A's
//! ids — in paths (404), in queries and bodies (400 naming the field, or 404) — and
//! nothing of A's changes; endpoints without a key answer nothing of any tenant's.

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, on_both};

/// Everything A can see of itself (without the parts that move with the clock).
async fn snapshot(app: &TestApp, key: &str, booking: &str, employee: &str) -> Value {
    let mut status = app.get("/api/calendar/sync-status", key).await.expect(200);
    for moving in ["oldest_pending_age_s", "success_rate_1h", "mean_latency_ms_1h"] {
        status[moving] = Value::Null;
    }
    json!({
        "booking": app.get(&format!("/api/bookings/{booking}"), key).await.expect(200),
        "history": app.get(&format!("/api/bookings/{booking}/history"), key).await.expect(200),
        "employee": app.get(&format!("/api/employees/{employee}"), key).await.expect(200),
        "webhooks": app.get("/api/webhooks", key).await.expect(200),
        "google": app.get("/api/google-calendar/status", key).await.expect(200),
        "bookings": app.get("/api/bookings?from=2030-03-01&to=2030-04-01", key).await.expect(200),
        "status": status,
    })
}

on_both!(another_tenants_ids_are_not_found_and_change_nothing);
async fn another_tenants_ids_are_not_found_and_change_nothing(app: TestApp) {
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let salon_a = app.salon(&a).await;
    let salon_b = app.salon(&b).await;
    let anna = salon_a.employees[0].clone();
    // A has a booking, then a connected calendar, and a cancellation that enqueued a
    // calendar write for it (a never-synced calendar would block new bookings).
    let booking = app.book(&a, &salon_a, "2030-03-04T10:00:00+01:00", Some(&anna)).await.expect(201);
    let booking = booking["id"].as_str().unwrap().to_owned();
    let tenant_a = app.db.store.tenant_by_api_key(&SecretString::from(a.clone())).await.unwrap().unwrap();
    app.db
        .store
        .upsert_connection(
            &tenant_a.id,
            &store::NewCalendarConnection {
                employee_id: store::EmployeeId::parse(anna.clone()).unwrap(),
                provider: store::Provider::Google,
                calendar_id: "primary".into(),
                access_token: SecretString::from("access"),
                refresh_token: Some(SecretString::from("refresh")),
                token_expires_at: None,
            },
        )
        .await
        .unwrap();
    app.post(&format!("/api/bookings/{booking}/cancel"), &a, json!({})).await.expect(200);
    let hook = app
        .post("/api/webhooks", &a, json!({"url": "https://hooks.example/a", "events": ["booking.created"]}))
        .await
        .expect(201);
    let hook = hook["id"].as_str().unwrap().to_owned();
    let job =
        app.get("/api/calendar/sync-status", &a).await.expect(200)["events"][0]["id"].as_str().unwrap().to_owned();
    let before = snapshot(&app, &a, &booking, &anna).await;

    // A's ids in B's paths: 404.
    let not_found = [
        ("GET", format!("/api/employees/{anna}"), None),
        (
            "PUT",
            format!("/api/employees/{anna}/schedule"),
            Some(json!({"timezone": "UTC", "weekly": {}, "breaks": {}})),
        ),
        (
            "POST",
            format!("/api/employees/{anna}/time-off"),
            Some(json!({"start": "2030-03-05T09:00:00Z", "end": "2030-03-05T10:00:00Z"})),
        ),
        ("GET", format!("/api/bookings/{booking}"), None),
        ("POST", format!("/api/bookings/{booking}/cancel"), Some(json!({}))),
        ("POST", format!("/api/bookings/{booking}/reschedule"), Some(json!({"start": "2030-03-04T11:00:00+01:00"}))),
        ("GET", format!("/api/bookings/{booking}/reschedule/alternatives"), None),
        ("GET", format!("/api/bookings/{booking}/history"), None),
        ("DELETE", format!("/api/webhooks/{hook}"), None),
        ("POST", format!("/api/webhooks/{hook}/test"), Some(json!({}))),
        ("GET", format!("/api/webhooks/{hook}/deliveries"), None),
        ("GET", format!("/api/google-calendar/status?employee_id={anna}"), None),
        ("GET", format!("/api/google-calendar/oauth?employee_id={anna}"), None),
        ("GET", format!("/api/outlook-calendar/oauth?employee_id={anna}"), None),
        ("POST", "/api/google-calendar/disconnect".to_owned(), Some(json!({"employee_id": anna}))),
        ("POST", "/api/outlook-calendar/disconnect".to_owned(), Some(json!({"employee_id": anna}))),
    ];
    for (method, path, body) in &not_found {
        let answer = app.send(method, path, Some(&b), body.clone()).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], "not_found", "{method} {path}");
    }

    // A's ids in B's queries and bodies: 400 naming the field.
    let service_a = &salon_a.service;
    let invalid = [
        ("GET", format!("/api/availability?service_id={service_a}&from=2030-03-04&to=2030-03-04"), None, "service_id"),
        (
            "POST",
            "/api/availability/check".to_owned(),
            Some(json!({"service_id": salon_b.service, "employee_id": anna, "start": "2030-03-04T10:00:00+01:00"})),
            "employee_id",
        ),
        (
            "POST",
            "/api/bookings".to_owned(),
            Some(json!({"service_id": service_a, "start": "2030-03-04T11:00:00+01:00",
                        "customer": {"name": "x", "email": "x@example.com"}})),
            "service_id",
        ),
        (
            "POST",
            "/api/holidays".to_owned(),
            Some(json!({"date": "2030-03-05", "name": "x", "employee_id": anna})),
            "employee_id",
        ),
        (
            "POST",
            "/api/special-dates".to_owned(),
            Some(json!({"date": "2030-03-05", "hours": [], "employee_id": anna})),
            "employee_id",
        ),
        (
            "POST",
            "/api/employees".to_owned(),
            Some(json!({"name": "x", "email": "x@example.com", "timezone": "UTC", "service_ids": [service_a]})),
            "service_ids.0",
        ),
    ];
    for (method, path, body, field) in &invalid {
        let answer = app.send(method, path, Some(&b), body.clone()).await;
        assert!(matches!(answer.status, 400 | 404), "{method} {path}: {} {}", answer.status, answer.body);
        if answer.status == 400 {
            assert_eq!(answer.body["error"]["details"]["field"], *field, "{method} {path}: {}", answer.body);
        }
    }
    let bulk = app
        .send(
            "POST",
            "/api/availability/bulk",
            Some(&b),
            Some(json!({"employee_ids": [anna], "holidays": [{"date": "2030-03-06", "name": "x"}]})),
        )
        .await;
    assert!(matches!(bulk.status, 400 | 404), "{}", bulk.body);

    // Lists and retries see only B's own things.
    assert_eq!(app.get("/api/bookings?from=2030-03-01&to=2030-04-01", &b).await.expect(200)["bookings"], json!([]));
    assert_eq!(app.get("/api/webhooks", &b).await.expect(200)["webhooks"], json!([]));
    assert_eq!(app.get("/api/google-calendar/status", &b).await.expect(200)["connections"], json!([]));
    let status = app.get("/api/calendar/sync-status", &b).await.expect(200);
    assert_eq!((status["pending"].clone(), status["events"].clone()), (json!(0), json!([])));
    let retried = app.post("/api/calendar/sync-status/retry", &b, json!({"event_ids": [job]})).await.expect(200);
    assert_eq!(retried["requeued"], 0);

    // Nothing of A's changed.
    assert_eq!(snapshot(&app, &a, &booking, &anna).await, before);

    // Without a key nothing of anyone's is answered.
    for path in ["/api/bookings", "/api/webhooks", "/api/calendar/sync-status", "/api/google-calendar/status"] {
        let answer = app.send("GET", path, None, None).await;
        assert_eq!(answer.status, 401, "{path}");
    }
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains(&booking) && !metrics.contains(&anna) && !metrics.contains("example.com"));
    app.db.finish().await.unwrap();
}

/// The `value` of the first hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// `name=value` of a Set-Cookie header named `name`.
fn cookie_of(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

on_both!(a_dashboard_session_reaches_only_its_own_tenant);
async fn a_dashboard_session_reaches_only_its_own_tenant(app: TestApp) {
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let salon_a = app.salon(&a).await;
    let anna = salon_a.employees[0].clone();
    let booking = app.book(&a, &salon_a, "2030-03-04T10:00:00+01:00", Some(&anna)).await.expect(201);
    let booking = booking["id"].as_str().unwrap().to_owned();
    let before = app.get(&format!("/api/bookings/{booking}"), &a).await.expect(200);

    // B signs in to the dashboard.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login = client.get(format!("{}/dashboard/login", app.base)).send().await.unwrap();
    let login_cookie = cookie_of(&login, "slotwise_login_csrf");
    let csrf = csrf_of(&login.text().await.unwrap());
    let signed_in = client
        .post(format!("{}/dashboard/login", app.base))
        .header("cookie", login_cookie)
        .form(&[("api_key", b.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let session = cookie_of(&signed_in, "slotwise_session");
    let page = client.get(format!("{}/dashboard/calendars", app.base)).header("cookie", &session).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(!page.contains(&anna) && !page.contains("anna@example.com"), "A's employee on B's page");
    let csrf = csrf_of(&page);

    // A's ids through B's session: not found, nothing changes.
    let get = |path: String| client.get(format!("{}{path}", app.base)).header("cookie", &session).send();
    assert_eq!(get(format!("/dashboard/bookings?employee_id={anna}")).await.unwrap().status(), 404);
    assert_eq!(
        get(format!("/dashboard/calendars/disconnect?employee_id={anna}&provider=google")).await.unwrap().status(),
        404
    );
    let post = |path: &str, form: Vec<(&str, String)>| {
        client.post(format!("{}{path}", app.base)).header("cookie", &session).form(&form).send()
    };
    let moved = post(
        "/dashboard/conflicts/reschedule",
        vec![("csrf", csrf.clone()), ("booking_id", booking.clone()), ("start", "2030-03-04T11:00:00+01:00".into())],
    )
    .await
    .unwrap();
    assert_eq!(moved.status(), 404);
    let connect = post(
        "/dashboard/calendars/connect",
        vec![("csrf", csrf.clone()), ("employee_id", anna.clone()), ("provider", "google".into())],
    )
    .await
    .unwrap();
    assert!(matches!(connect.status().as_u16(), 404 | 503), "{}", connect.status());
    let gone = post(
        "/dashboard/calendars/disconnect",
        vec![("csrf", csrf.clone()), ("employee_id", anna.clone()), ("provider", "google".into())],
    )
    .await
    .unwrap();
    assert_eq!(gone.status(), 404);
    // Without the session's CSRF token a form is refused even for B's own things.
    let forged = post("/dashboard/sync/retry", vec![("csrf", "forged".into())]).await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(app.get(&format!("/api/bookings/{booking}"), &a).await.expect(200), before);
    app.db.finish().await.unwrap();
}
