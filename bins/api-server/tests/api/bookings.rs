//! The booking lifecycle, idempotency, concurrency and tenant isolation.

use serde_json::json;

use crate::helpers::{TestApp, local_starts, on_both};

on_both!(lifecycle_with_history);
async fn lifecycle_with_history(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = &salon.employees[0];
    let booking = app.book(&key, &salon, "2030-03-04T09:00:00+01:00", Some(anna)).await.expect(201);
    let id = booking["id"].as_str().unwrap().to_owned();
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["employee_id"], json!(anna));
    assert_eq!(booking["start"], "2030-03-04T09:00:00+01:00");
    assert_eq!(booking["end"], "2030-03-04T09:30:00+01:00");
    assert_eq!(booking["customer"]["email"], "cleo@example.com");
    assert_eq!(booking["calendar_sync"], json!([]));

    let got = app.get(&format!("/api/bookings/{id}"), &key).await.expect(200);
    assert_eq!(got["id"], json!(id));
    assert_eq!(got["start"], booking["start"]);
    // The slot is gone for anna, still there for ben.
    let avail = app
        .get(&format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04", salon.service), &key)
        .await
        .expect(200);
    assert_eq!(avail["slots"][0]["employee_ids"], json!([salon.employees[1]]));

    // Same slot, same employee: 409 slot_unavailable.
    app.book(&key, &salon, "2030-03-04T09:00:00+01:00", Some(anna)).await.error(409, "slot_unavailable");
    // Not on the grid / outside hours: 409 too.
    app.book(&key, &salon, "2030-03-04T09:10:00+01:00", Some(anna)).await.error(409, "slot_unavailable");
    app.book(&key, &salon, "2030-03-04T07:00:00+01:00", None).await.error(409, "slot_unavailable");

    // Reschedule: same id, new time; into a taken slot: 409 with alternatives nearest first.
    let moved = app
        .post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "2030-03-04T10:00:00+01:00"}))
        .await
        .expect(200);
    assert_eq!(moved["id"], json!(id));
    assert_eq!(moved["start"], "2030-03-04T10:00:00+01:00");
    let other = app.book(&key, &salon, "2030-03-04T11:00:00+01:00", Some(anna)).await.expect(201);
    let d = app
        .post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "2030-03-04T11:00:00+01:00"}))
        .await
        .error(409, "slot_unavailable");
    let alts: Vec<&str> = d["alternatives"].as_array().unwrap().iter().map(|a| a["start"].as_str().unwrap()).collect();
    // Nearest to 11:00, ties earlier first; 10:00 (the booking's own start) is left out.
    assert_eq!(
        alts,
        [
            "2030-03-04T10:30:00+01:00",
            "2030-03-04T11:30:00+01:00",
            "2030-03-04T09:30:00+01:00",
            "2030-03-04T09:00:00+01:00",
            "2030-03-04T13:00:00+01:00"
        ]
    );
    // Moving within its own buffer-free neighbourhood never conflicts with itself.
    app.post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "2030-03-04T10:30:00+01:00"}))
        .await
        .expect(200);

    let alternatives = app.get(&format!("/api/bookings/{id}/reschedule/alternatives?count=3"), &key).await.expect(200);
    let starts: Vec<&str> =
        alternatives["alternatives"].as_array().unwrap().iter().map(|a| a["start"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2030-03-04T10:00:00+01:00", "2030-03-04T09:30:00+01:00", "2030-03-04T11:30:00+01:00"]);
    let any = app
        .get(&format!("/api/bookings/{id}/reschedule/alternatives?count=2&any_employee=true"), &key)
        .await
        .expect(200);
    assert_eq!(any["alternatives"][0]["start"], "2030-03-04T10:00:00+01:00");
    assert_eq!(any["alternatives"][1]["start"], "2030-03-04T11:00:00+01:00", "ben is free at 11:00");
    app.get(&format!("/api/bookings/{id}/reschedule/alternatives?count=51"), &key).await.error(400, "invalid_request");

    // Cancel, cancel again: the same 200; the slot comes back; rescheduling it is a conflict.
    let cancelled = app.post(&format!("/api/bookings/{id}/cancel"), &key, json!({"reason": "ill"})).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    let again = app.send("POST", &format!("/api/bookings/{id}/cancel"), Some(&key), None).await.expect(200);
    assert_eq!(again["status"], "cancelled");
    app.post(&format!("/api/bookings/{id}/reschedule"), &key, json!({"start": "2030-03-04T14:00:00+01:00"}))
        .await
        .error(409, "conflict");
    let anna_day = app
        .get(
            &format!("/api/availability?service_id={}&from=2030-03-04&to=2030-03-04&employee_id={anna}", salon.service),
            &key,
        )
        .await
        .expect(200);
    assert!(local_starts(&anna_day).contains(&"10:30".to_owned()));

    let history = app.get(&format!("/api/bookings/{id}/history"), &key).await.expect(200);
    let actions: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["created", "rescheduled", "rescheduled", "cancelled"]);
    let first_move = &history["events"][1];
    assert_eq!(first_move["from"]["start"], "2030-03-04T09:00:00+01:00");
    assert_eq!(first_move["to"]["start"], "2030-03-04T10:00:00+01:00");
    assert_eq!(first_move["to"]["employee_id"], json!(anna));
    assert_eq!(first_move["actor"], "api");

    // List: overlap with the window, sorted by start, both statuses unless asked.
    let list = app.get("/api/bookings?from=2030-03-04&to=2030-03-04", &key).await.expect(200);
    assert_eq!(list["bookings"].as_array().unwrap().len(), 2);
    let confirmed = app.get("/api/bookings?from=2030-03-04&to=2030-03-04&status=confirmed", &key).await.expect(200);
    assert_eq!(confirmed["bookings"][0]["id"], other["id"]);
    let page = app.get("/api/bookings?from=2030-03-04&to=2030-03-04&limit=1", &key).await.expect(200);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("/api/bookings?from=2030-03-04&to=2030-03-04&limit=1&cursor={cursor}"), &key)
        .await
        .expect(200);
    assert_eq!(next["bookings"].as_array().unwrap().len(), 1);
    assert_ne!(next["bookings"][0]["id"], page["bookings"][0]["id"]);
    assert!(next["next_cursor"].is_null());
    app.get("/api/bookings?limit=1001", &key).await.error(400, "invalid_request");
    app.db.finish().await.unwrap();
}

on_both!(any_employee_goes_to_the_least_busy_then_smallest_id);
async fn any_employee_goes_to_the_least_busy_then_smallest_id(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let mut ids = salon.employees.clone();
    ids.sort();
    let first = app.book(&key, &salon, "2030-03-04T09:00:00+01:00", None).await.expect(201);
    assert_eq!(first["employee_id"], json!(ids[0]), "a tie goes to the smallest id");
    let second = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", None).await.expect(201);
    assert_eq!(second["employee_id"], json!(ids[1]), "then to the one with fewer bookings that day");
    let third = app.book(&key, &salon, "2030-03-04T10:00:00+01:00", None).await.expect(201);
    assert_eq!(third["employee_id"], json!(ids[0]), "the only one still free");
    app.book(&key, &salon, "2030-03-04T10:00:00+01:00", None).await.error(409, "slot_unavailable");
    app.db.finish().await.unwrap();
}

on_both!(idempotency_keys);
async fn idempotency_keys(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let body = json!({"service_id": salon.service, "start": "2030-03-04T09:00:00+01:00", "customer": {"name": "Cleo", "email": "cleo@example.com"}});
    let send = |b: serde_json::Value| {
        let req = app
            .client
            .post(format!("{}/api/bookings", app.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", "k-1")
            .json(&b);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s1, b1) = send(body.clone()).await;
    let (s2, b2) = send(body.clone()).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(b1, b2, "the first answer is replayed");
    let list = app.get("/api/bookings", &key).await.expect(200);
    assert_eq!(list["bookings"].as_array().unwrap().len(), 1, "only one booking was made");
    let mut other = body.clone();
    other["start"] = json!("2030-03-04T10:00:00+01:00");
    let (s3, b3) = send(other).await;
    assert_eq!(s3, 409);
    assert_eq!(b3["error"]["code"], "idempotency_key_reused");
    // Another tenant may use the same key.
    let key_b = app.tenant("B").await;
    let salon_b = app.salon(&key_b).await;
    let r = app
        .client
        .post(format!("{}/api/bookings", app.base))
        .bearer_auth(&key_b)
        .header("Idempotency-Key", "k-1")
        .json(&json!({"service_id": salon_b.service, "start": "2030-03-04T09:00:00+01:00", "customer": {"name": "C", "email": "c@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    app.db.finish().await.unwrap();
}

on_both!(fifty_concurrent_bookings_of_one_slot);
async fn fifty_concurrent_bookings_of_one_slot(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = salon.employees[0].clone();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let client = app.client.clone();
            let url = format!("{}/api/bookings", app.base);
            let body = json!({"service_id": salon.service, "employee_id": anna, "start": "2030-03-04T09:00:00+01:00",
                              "customer": {"name": format!("c{i}"), "email": format!("c{i}@example.com")}});
            let key = key.clone();
            tokio::spawn(async move {
                let r = client.post(url).bearer_auth(key).json(&body).send().await.unwrap();
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["error"]["code"], "slot_unavailable"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    let list = app.get("/api/bookings?status=confirmed", &key).await.expect(200);
    assert_eq!(list["bookings"].as_array().unwrap().len(), 1);
    app.db.finish().await.unwrap();
}

on_both!(reschedules_racing_bookings);
async fn reschedules_racing_bookings(app: TestApp) {
    let key = app.tenant("Salon").await;
    let salon = app.salon(&key).await;
    let anna = salon.employees[0].clone();
    // Ten bookings at 13:00..15:30 all try to move to 16:00 while ten new bookings want 16:00 too.
    let mut ids = Vec::new();
    for h in ["13:00", "13:30", "14:00", "14:30", "15:00"] {
        let b = app.book(&key, &salon, &format!("2030-03-04T{h}:00+01:00"), Some(&anna)).await.expect(201);
        ids.push(b["id"].as_str().unwrap().to_owned());
    }
    let mut tasks = Vec::new();
    for id in &ids {
        let req = app
            .client
            .post(format!("{}/api/bookings/{id}/reschedule", app.base))
            .bearer_auth(&key)
            .json(&json!({"start": "2030-03-04T16:00:00+01:00"}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    for i in 0..5 {
        let req = app.client.post(format!("{}/api/bookings", app.base)).bearer_auth(&key).json(&json!({
            "service_id": salon.service, "employee_id": anna, "start": "2030-03-04T16:00:00+01:00",
            "customer": {"name": format!("n{i}"), "email": "n@example.com"}}));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status().as_u16() }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 | 201 => wins += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(wins, 1, "exactly one request got 16:00");
    let at_four = app
        .get("/api/bookings?from=2030-03-04T16:00:00%2B01:00&to=2030-03-04T16:30:00%2B01:00&status=confirmed", &key)
        .await
        .expect(200);
    assert_eq!(at_four["bookings"].as_array().unwrap().len(), 1);
    app.db.finish().await.unwrap();
}

on_both!(tenants_cannot_see_or_touch_each_other);
async fn tenants_cannot_see_or_touch_each_other(app: TestApp) {
    let a = app.tenant("A").await;
    let b = app.tenant("B").await;
    let salon = app.salon(&a).await;
    let booking = app.book(&a, &salon, "2030-03-04T09:00:00+01:00", None).await.expect(201);
    let id = booking["id"].as_str().unwrap();
    app.get(&format!("/api/bookings/{id}"), &b).await.error(404, "not_found");
    app.get(&format!("/api/bookings/{id}/history"), &b).await.error(404, "not_found");
    app.get(&format!("/api/bookings/{id}/reschedule/alternatives"), &b).await.error(404, "not_found");
    app.post(&format!("/api/bookings/{id}/cancel"), &b, json!({})).await.error(404, "not_found");
    app.post(&format!("/api/bookings/{id}/reschedule"), &b, json!({"start": "2030-03-04T10:00:00+01:00"}))
        .await
        .error(404, "not_found");
    assert_eq!(app.get("/api/bookings", &b).await.expect(200)["bookings"], json!([]));
    // Nothing changed for A.
    assert_eq!(app.get(&format!("/api/bookings/{id}"), &a).await.expect(200)["status"], "confirmed");
    app.db.finish().await.unwrap();
}
