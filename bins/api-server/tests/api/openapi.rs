//! The OpenAPI document against the server's real answers: a scripted session calls
//! the API and checks every answer's body against the schema the document gives for
//! that path, method and status (`$ref`, `allOf`, `type`, `required`, `properties`,
//! `items`, `enum`, `date-time`). The document is written by hand next to the routes;
//! this test and `every_route_is_described` keep it from drifting from the handlers.

use serde_json::{Value, json};

use crate::helpers::{OPERATOR, TestApp, on_both};

/// Why `value` does not match `schema` (`None`: it does), with a JSON-pointer-ish path.
fn mismatch(doc: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return mismatch(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(all) = schema["allOf"].as_array() {
        return all.iter().find_map(|s| mismatch(doc, s, value, at));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() && !types.iter().any(|t| *t == type_of || (*t == "number" && type_of == "integer")) {
        return Some(format!("{at}: {type_of} where the document says {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if schema["format"] == "date-time"
        && let Some(text) = value.as_str()
        && chrono::DateTime::parse_from_rfc3339(text).is_err()
    {
        return Some(format!("{at}: {text:?} is not an RFC 3339 date-time"));
    }
    if let Value::Object(fields) = value {
        for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Some(format!("{at}: required field {name} is missing"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, sub) in properties {
                if let Some(field) = fields.get(name)
                    && let Some(problem) = mismatch(doc, sub, field, &format!("{at}.{name}"))
                {
                    return Some(problem);
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            if let Some(problem) = mismatch(doc, item_schema, item, &format!("{at}.{i}")) {
                return Some(problem);
            }
        }
    }
    None
}

struct Session<'a> {
    app: &'a TestApp,
    doc: Value,
    checked: usize,
}

impl Session<'_> {
    /// Calls `path` (written `template` in the document) and checks the answer's body.
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let answer = self.app.send(method, path, key, body).await;
        let status = answer.status.to_string();
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {template} is not in the document");
        let response = &operation["responses"][&status];
        assert!(response.is_object(), "{method} {template} answered {status}, which the document does not list");
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_object()
            && let Some(problem) = mismatch(&self.doc, schema, &answer.body, "body")
        {
            panic!("{method} {template} → {status}: {problem}\n{}", answer.body);
        }
        self.checked += 1;
        answer.body
    }
}

on_both!(answers_match_the_openapi_document);
async fn answers_match_the_openapi_document(app: TestApp) {
    let doc = app.client.get(format!("{}/api/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let mut s = Session { app: &app, doc, checked: 0 };
    let tenant = s
        .call(
            "POST",
            "/api/tenants",
            "/api/tenants",
            Some(OPERATOR),
            Some(json!({"name": "Salon", "timezone": "Europe/Berlin"})),
        )
        .await;
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let k = Some(key.as_str());
    let weekly = json!({"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]});
    s.call(
        "PUT",
        "/api/business-hours",
        "/api/business-hours",
        k,
        Some(json!({"timezone": "Europe/Berlin", "weekly": weekly, "breaks": {}})),
    )
    .await;
    s.call("GET", "/api/business-hours", "/api/business-hours", k, None).await;
    let service = s
        .call(
            "POST",
            "/api/services",
            "/api/services",
            k,
            Some(json!({"name": "Cut", "duration_min": 30, "buffer_after_min": 10})),
        )
        .await;
    let service = service["id"].as_str().unwrap().to_owned();
    s.call("GET", "/api/services", "/api/services", k, None).await;
    let employee = s
        .call(
            "POST",
            "/api/employees",
            "/api/employees",
            k,
            Some(json!({"name": "Anna", "email": "anna@example.com", "timezone": "Europe/Berlin", "service_ids": [service]})),
        )
        .await;
    let employee = employee["id"].as_str().unwrap().to_owned();
    s.call("GET", "/api/employees", "/api/employees", k, None).await;
    s.call("GET", "/api/employees/{id}", &format!("/api/employees/{employee}"), k, None).await;
    s.call(
        "PUT",
        "/api/employees/{id}/schedule",
        &format!("/api/employees/{employee}/schedule"),
        k,
        Some(json!({"timezone": "Europe/Berlin", "weekly": weekly, "breaks": {}})),
    )
    .await;
    s.call(
        "POST",
        "/api/employees/{id}/time-off",
        &format!("/api/employees/{employee}/time-off"),
        k,
        Some(json!({"start": "2030-03-05T09:00:00+01:00", "end": "2030-03-05T10:00:00+01:00", "rrule": "FREQ=WEEKLY;COUNT=3"})),
    )
    .await;
    s.call("POST", "/api/holidays", "/api/holidays", k, Some(json!({"date": "2030-03-11", "name": "Closed"}))).await;
    s.call(
        "POST",
        "/api/special-dates",
        "/api/special-dates",
        k,
        Some(json!({"date": "2030-03-12", "hours": [["10:00", "12:00"]]})),
    )
    .await;
    s.call(
        "POST",
        "/api/availability/bulk",
        "/api/availability/bulk",
        k,
        Some(json!({"employee_ids": [employee], "holidays": [{"date": "2030-03-13", "name": "Off"}]})),
    )
    .await;
    let availability = format!("/api/availability?service_id={service}&from=2030-03-04&to=2030-03-05");
    s.call("GET", "/api/availability", &availability, k, None).await;
    s.call(
        "POST",
        "/api/availability/check",
        "/api/availability/check",
        k,
        Some(json!({"service_id": service, "employee_id": employee, "start": "2030-03-04T08:00:00+01:00"})),
    )
    .await;
    let booking = s
        .call(
            "POST",
            "/api/bookings",
            "/api/bookings",
            k,
            Some(json!({"service_id": service, "start": "2030-03-04T10:00:00+01:00",
                        "customer": {"name": "Cleo", "email": "cleo@example.com"}})),
        )
        .await;
    let booking = booking["id"].as_str().unwrap().to_owned();
    s.call("GET", "/api/bookings", "/api/bookings?from=2030-03-01&to=2030-04-01", k, None).await;
    s.call("GET", "/api/bookings/{id}", &format!("/api/bookings/{booking}"), k, None).await;
    s.call(
        "GET",
        "/api/bookings/{id}/reschedule/alternatives",
        &format!("/api/bookings/{booking}/reschedule/alternatives"),
        k,
        None,
    )
    .await;
    s.call(
        "POST",
        "/api/bookings/{id}/reschedule",
        &format!("/api/bookings/{booking}/reschedule"),
        k,
        Some(json!({"start": "2030-03-04T11:00:00+01:00"})),
    )
    .await;
    s.call(
        "POST",
        "/api/bookings/{id}/reschedule",
        &format!("/api/bookings/{booking}/reschedule"),
        k,
        Some(json!({"start": "2030-03-04T06:00:00+01:00"})),
    )
    .await;
    s.call("GET", "/api/bookings/{id}/history", &format!("/api/bookings/{booking}/history"), k, None).await;
    s.call("POST", "/api/bookings/{id}/cancel", &format!("/api/bookings/{booking}/cancel"), k, Some(json!({}))).await;
    let hook = s
        .call(
            "POST",
            "/api/webhooks",
            "/api/webhooks",
            k,
            Some(json!({"url": "https://hooks.example/x", "events": ["booking.created"]})),
        )
        .await;
    let hook = hook["id"].as_str().unwrap().to_owned();
    s.call("GET", "/api/webhooks", "/api/webhooks", k, None).await;
    s.call("POST", "/api/webhooks/{id}/test", &format!("/api/webhooks/{hook}/test"), k, Some(json!({}))).await;
    s.call("GET", "/api/webhooks/{id}/deliveries", &format!("/api/webhooks/{hook}/deliveries"), k, None).await;
    s.call("GET", "/api/google-calendar/status", "/api/google-calendar/status", k, None).await;
    s.call("GET", "/api/outlook-calendar/status", "/api/outlook-calendar/status", k, None).await;
    s.call("GET", "/api/calendar/sync-status", "/api/calendar/sync-status", k, None).await;
    s.call("POST", "/api/calendar/sync-status/retry", "/api/calendar/sync-status/retry", k, Some(json!({}))).await;
    // Errors have the documented error shape.
    s.call("GET", "/api/bookings/{id}", "/api/bookings/00000000-0000-0000-0000-000000000000", k, None).await;
    s.call("POST", "/api/services", "/api/services", k, Some(json!({"name": "x"}))).await;
    s.call("GET", "/api/bookings", "/api/bookings", None, None).await;
    assert!(s.checked >= 34, "only {} answers checked", s.checked);
    app.db.finish().await.unwrap();
}
