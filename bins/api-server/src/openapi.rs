//! `GET /api/openapi.json`: the contract as an OpenAPI 3.1 document, and
//! `GET /docs`, a self-contained page that shows it to a person (no CDN).
//!
//! The document is written here next to the routes; a test checks that every
//! route `routes::configure` registers is described, so the two cannot drift.

use actix_web::HttpResponse;
use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn op(summary: &str, tag: &str, request: Option<Value>, status: &str, answer: Value, params: Value) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(status.to_owned(), answer);
    responses.insert("400".into(), error_response("invalid_request: the field is named in details.field"));
    responses.insert("401".into(), error_response("unauthorized"));
    responses.insert("404".into(), error_response("not_found (also another tenant's ids)"));
    responses.insert("409".into(), error_response("slot_unavailable, conflict or idempotency_key_reused"));
    responses.insert("413".into(), error_response("payload_too_large (bodies over 1 MiB)"));
    responses.insert("429".into(), error_response("rate_limited, with Retry-After"));
    let mut o = json!({"summary": summary, "tags": [tag], "responses": responses, "parameters": params,
                       "security": [{"tenantKey": []}]});
    if let Some(b) = request {
        o["requestBody"] = b;
    }
    o
}

fn q(name: &str, required: bool, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}})
}

fn id() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
}

fn idem() -> Value {
    json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
           "description": "a repeat with the same key and body replays the first answer"})
}

/// The document.
pub fn document() -> Value {
    let ranges = json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "array", "items": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"}, "minItems": 2, "maxItems": 2}},
                        "description": "day key (mon..sun) to [start, end] wall-clock ranges"});
    let time = json!({"type": "string", "format": "date-time"});
    let schemas = json!({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}}},
        "NewTenant": {"type": "object", "required": ["name", "timezone"], "properties": {"name": {"type": "string"}, "timezone": {"type": "string"}}},
        "Tenant": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "timezone": {"type": "string"}, "api_key": {"type": "string"}}},
        "Hours": {"type": "object", "required": ["timezone", "weekly"], "properties": {"timezone": {"type": "string"}, "weekly": ranges, "breaks": ranges}},
        "NewService": {"type": "object", "required": ["name", "duration_min"], "properties": {
            "name": {"type": "string"}, "duration_min": {"type": "integer"}, "buffer_before_min": {"type": "integer", "default": 0},
            "buffer_after_min": {"type": "integer", "default": 0}, "slot_step_min": {"type": "integer", "description": "defaults to duration_min"},
            "min_notice_min": {"type": "integer", "default": 0}, "horizon_days": {"type": "integer", "default": 60}}},
        "Service": {"allOf": [r("NewService"), {"type": "object", "properties": {"id": {"type": "string"}}}]},
        "NewEmployee": {"type": "object", "required": ["name", "email", "timezone"], "properties": {
            "name": {"type": "string"}, "email": {"type": "string"}, "timezone": {"type": "string"}, "service_ids": {"type": "array", "items": {"type": "string"}}}},
        "Employee": {"allOf": [r("NewEmployee"), {"type": "object", "properties": {"id": {"type": "string"}}}]},
        "TimeOff": {"type": "object", "required": ["start", "end"], "properties": {"start": time, "end": time,
            "rrule": {"type": "string", "description": "RFC 5545 RRULE repeating the interval in the employee's zone"},
            "exdates": {"type": "array", "items": time}, "reason": {"type": "string"}}},
        "Holiday": {"type": "object", "required": ["date", "name"], "properties": {"date": {"type": "string", "format": "date"}, "name": {"type": "string"}, "employee_id": {"type": "string"}}},
        "SpecialDate": {"type": "object", "required": ["date", "hours"], "properties": {"date": {"type": "string", "format": "date"},
            "hours": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}, "employee_id": {"type": "string"}}},
        "Bulk": {"type": "object", "required": ["employee_ids"], "properties": {"employee_ids": {"type": "array", "items": {"type": "string"}},
            "schedule": r("Hours"), "holidays": {"type": "array", "items": r("Holiday")}, "special_dates": {"type": "array", "items": r("SpecialDate")},
            "time_off": {"type": "array", "items": r("TimeOff")}}},
        "Slot": {"type": "object", "properties": {"start": time, "end": time, "employee_ids": {"type": "array", "items": {"type": "string"}}}},
        "Availability": {"type": "object", "properties": {"timezone": {"type": "string"}, "slots": {"type": "array", "items": r("Slot")},
            "calendars": {"type": "array", "items": {"type": "object", "properties": {"employee_id": {"type": "string"}, "provider": {"type": "string"},
                "status": {"type": "string"}, "synced_at": {"type": ["string", "null"]}, "stale": {"type": "boolean"}}}}}},
        "Check": {"type": "object", "required": ["service_id", "employee_id", "start"], "properties": {"service_id": {"type": "string"}, "employee_id": {"type": "string"}, "start": time}},
        "CheckAnswer": {"type": "object", "properties": {"available": {"type": "boolean"}, "reasons": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string", "enum": ["outside_hours", "break", "holiday", "time_off", "booking", "external_event", "buffer", "off_grid", "min_notice", "horizon"]},
            "start": time, "end": time, "ref": {"type": "string"}}}}}},
        "NewBooking": {"type": "object", "required": ["service_id", "start", "customer"], "properties": {"service_id": {"type": "string"}, "start": time,
            "employee_id": {"type": "string"}, "notes": {"type": "string"}, "customer": {"type": "object", "required": ["name", "email"],
                "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "timezone": {"type": "string"}}}}},
        "Booking": {"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string", "enum": ["confirmed", "cancelled"]},
            "service_id": {"type": "string"}, "employee_id": {"type": "string"}, "start": time, "end": time, "customer": {"type": "object"},
            "notes": {"type": ["string", "null"]}, "calendar_sync": {"type": "array", "items": {"type": "object", "properties": {
                "provider": {"type": "string"}, "event_id": {"type": ["string", "null"]}, "status": {"type": "string"}}}}}},
        "Reschedule": {"type": "object", "required": ["start"], "properties": {"start": time, "employee_id": {"type": "string"}}},
        "NewWebhook": {"type": "object", "required": ["url", "events"], "properties": {
            "url": {"type": "string", "format": "uri", "description": "https, public address (SLOTWISE_ALLOW_PRIVATE_WEBHOOKS=true allows http and private addresses)"},
            "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["booking.created", "booking.rescheduled", "booking.cancelled", "calendar.conflict", "calendar.connection_error"]}}}},
        "Webhook": {"type": "object", "properties": {"id": {"type": "string"}, "url": {"type": "string"}, "events": {"type": "array", "items": {"type": "string"}},
            "secret": {"type": "string", "description": "whsec_…, only in the answer to POST /api/webhooks"}, "created_at": time}},
        "Delivery": {"type": "object", "properties": {"id": {"type": "string"}, "delivery_id": {"type": "string", "description": "the webhook-id header, the same on every retry"},
            "type": {"type": "string"}, "attempt": {"type": "integer"}, "status_code": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]}, "at": time,
            "status": {"type": "string", "enum": ["pending", "in_progress", "succeeded", "failed", "dead"]}}},
        "History": {"type": "object", "properties": {"events": {"type": "array", "items": {"type": "object", "properties": {
            "at": time, "action": {"type": "string"}, "from": {"type": "object"}, "to": {"type": "object"}, "actor": {"type": "string"}}}}}},
    });
    let none = json!([]);
    let mut create_tenant = op(
        "create a tenant (operator)",
        "tenants",
        Some(body(r("NewTenant"))),
        "201",
        ok("the tenant and its API key (shown once)", r("Tenant")),
        none.clone(),
    );
    create_tenant["security"] = json!([{"operatorToken": []}]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "slotwise", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Appointment booking: availability, bookings and calendar sync. See shared/docs/api-contract.md."},
        "components": {"schemas": schemas, "securitySchemes": {
            "tenantKey": {"type": "http", "scheme": "bearer", "description": "a tenant API key"},
            "operatorToken": {"type": "http", "scheme": "bearer", "description": "SLOTWISE_OPERATOR_TOKEN"}}},
        "paths": {
            "/healthz": {"get": {"summary": "the process answers", "tags": ["operations"], "security": [], "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "the database answers", "tags": ["operations"], "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "tags": ["operations"], "security": [], "responses": {"200": {"description": "text format", "content": {"text/plain": {}}}}}},
            "/api/openapi.json": {"get": {"summary": "this document", "tags": ["operations"], "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/tenants": {"post": create_tenant},
            "/api/business-hours": {
                "put": op("set the business hours", "set-up", Some(body(r("Hours"))), "200", ok("the hours", r("Hours")), none.clone()),
                "get": op("the business hours", "set-up", None, "200", ok("the hours", r("Hours")), none.clone())},
            "/api/services": {
                "post": op("create a service", "set-up", Some(body(r("NewService"))), "201", ok("the service", r("Service")), json!([idem()])),
                "get": op("list services", "set-up", None, "200", ok("services", json!({"type": "object"})), none.clone())},
            "/api/employees": {
                "post": op("create an employee", "set-up", Some(body(r("NewEmployee"))), "201", ok("the employee", r("Employee")), json!([idem()])),
                "get": op("list employees", "set-up", None, "200", ok("employees", json!({"type": "object"})), none.clone())},
            "/api/employees/{id}": {"get": op("one employee", "set-up", None, "200", ok("the employee", r("Employee")), json!([id()]))},
            "/api/employees/{id}/schedule": {"put": op("set an employee's weekly schedule (the employee's zone)", "set-up", Some(body(r("Hours"))), "200", ok("the schedule", r("Hours")), json!([id()]))},
            "/api/employees/{id}/time-off": {"post": op("add time off, once or recurring", "set-up", Some(body(r("TimeOff"))), "201", ok("its id", json!({"type": "object"})), json!([id(), idem()]))},
            "/api/holidays": {"post": op("add a holiday (business or employee)", "set-up", Some(body(r("Holiday"))), "201", ok("its id", json!({"type": "object"})), json!([idem()]))},
            "/api/special-dates": {"post": op("add a special date (business or employee)", "set-up", Some(body(r("SpecialDate"))), "201", ok("its id", json!({"type": "object"})), json!([idem()]))},
            "/api/availability/bulk": {"post": op("edit many employees at once, all or nothing", "set-up", Some(body(r("Bulk"))), "200", ok("how many were updated", json!({"type": "object", "properties": {"updated": {"type": "integer"}}})), none.clone())},
            "/api/availability": {"get": op("free slots", "availability", None, "200", ok("slots sorted by start, in the asked zone", r("Availability")),
                json!([q("service_id", true, "the service"), q("from", true, "a date (local to timezone) or an RFC 3339 instant"),
                       q("to", true, "a date (inclusive) or an instant"), q("employee_id", false, "one employee"), q("timezone", false, "IANA zone of the answer (default: the tenant's)")]))},
            "/api/availability/check": {"post": op("why a start is or is not free", "availability", Some(body(r("Check"))), "200", ok("free or not, with every reason", r("CheckAnswer")), none.clone())},
            "/api/bookings": {
                "post": op("book a slot", "bookings", Some(body(r("NewBooking"))), "201", ok("the booking", r("Booking")), json!([idem()])),
                "get": op("list bookings overlapping a window", "bookings", None, "200", ok("bookings and next_cursor", json!({"type": "object"})),
                    json!([q("from", false, "date or instant"), q("to", false, "date or instant"), q("employee_id", false, ""), q("status", false, "confirmed or cancelled"),
                           q("limit", false, "default 100, at most 1000"), q("cursor", false, "next_cursor of the previous page")]))},
            "/api/bookings/{id}": {"get": op("one booking", "bookings", None, "200", ok("the booking", r("Booking")), json!([id()]))},
            "/api/bookings/{id}/cancel": {"post": op("cancel (a repeat answers the same)", "bookings", None, "200", ok("the cancelled booking", r("Booking")), json!([id()]))},
            "/api/bookings/{id}/reschedule": {"post": op("move to a new start (409 with alternatives)", "bookings", Some(body(r("Reschedule"))), "200", ok("the moved booking", r("Booking")), json!([id()]))},
            "/api/bookings/{id}/reschedule/alternatives": {"get": op("nearest free slots", "bookings", None, "200", ok("alternatives", json!({"type": "object", "properties": {"alternatives": {"type": "array", "items": r("Slot")}}})),
                json!([id(), q("count", false, "default 5, at most 50"), q("any_employee", false, "true: every employee offering the service")]))},
            "/api/webhooks": {
                "post": op("register a webhook endpoint (Standard Webhooks signatures)", "webhooks", Some(body(r("NewWebhook"))), "201", ok("the endpoint and its secret (shown once)", r("Webhook")), none.clone()),
                "get": op("list webhook endpoints", "webhooks", None, "200", ok("endpoints, without secrets", json!({"type": "object", "properties": {"webhooks": {"type": "array", "items": r("Webhook")}}})), none.clone())},
            "/api/webhooks/{id}": {"delete": op("remove an endpoint (pending deliveries are dropped)", "webhooks", None, "204", json!({"description": "removed"}), json!([id()]))},
            "/api/webhooks/{id}/test": {"post": op("enqueue a webhook.test delivery", "webhooks", None, "202", ok("the delivery id (its webhook-id)", json!({"type": "object", "properties": {"delivery_id": {"type": "string"}, "type": {"type": "string"}, "status": {"type": "string"}}})), json!([id()]))},
            "/api/webhooks/{id}/deliveries": {"get": op("the endpoint's delivery log, newest first", "webhooks", None, "200", ok("one row per attempt", json!({"type": "object", "properties": {"deliveries": {"type": "array", "items": r("Delivery")}}})), json!([id()]))},
            "/api/bookings/{id}/history": {"get": op("every change, oldest first", "bookings", None, "200", ok("events", r("History")), json!([id()]))},
        }
    });
    for (slug, name) in [("google", "Google"), ("outlook", "Microsoft")] {
        let paths = &mut doc["paths"];
        let employee = || q("employee_id", true, "the employee whose calendar is connected");
        let connections = ok(
            "the connections",
            json!({"type": "object", "properties": {"connections": {"type": "array", "items": r("CalendarConnection")}}}),
        );
        paths[format!("/api/{slug}-calendar/oauth")] = json!({"get": op(&format!("302 to {name}'s consent page (state, PKCE S256, offline access, minimal scopes)"), "calendars", None, "302",
            json!({"description": "Location: the authorize URL; the JSON body carries it as authorize_url"}), json!([employee()]))});
        let mut callback = op(
            &format!(
                "{name} redirects the browser here: the code is exchanged, the connection stored (tokens encrypted), the first sync and the push channel started; an unknown, used or expired state is 400 with details.field = state"
            ),
            "calendars",
            None,
            "200",
            ok(
                "the connection",
                json!({"type": "object", "properties": {"connected": {"type": "boolean"}, "connection": r("CalendarConnection")}}),
            ),
            json!([
                q("code", false, "the authorization code"),
                q("state", true, "the state handed out by /oauth"),
                q("error", false, "the provider's refusal (access_denied, ...)")
            ]),
        );
        callback["security"] = json!([]);
        paths[format!("/api/{slug}-calendar/callback")] = json!({"get": callback});
        paths[format!("/api/{slug}-calendar/status")] = json!({"get": op(&format!("the tenant's {name} connections"), "calendars", None, "200", connections.clone(), json!([q("employee_id", false, "one employee")]))});
        paths[format!("/api/{slug}-calendar/disconnect")] = json!({"post": op("stop the push channel, revoke the grant, forget the mirrored events", "calendars",
            Some(body(json!({"type": "object", "required": ["employee_id"], "properties": {"employee_id": {"type": "string"}}}))), "200",
            ok("disconnected", json!({"type": "object"})), none.clone())});
    }
    let mut google_hook = op(
        "Google push notification (headers X-Goog-Channel-ID, -Token, -Resource-ID, -Resource-State; no body); verified, then a sync is queued",
        "calendar webhooks",
        None,
        "200",
        json!({"description": "accepted"}),
        none.clone(),
    );
    google_hook["security"] = json!([]);
    let mut outlook_hook = op(
        "Graph notifications: ?validationToken=… is echoed as text/plain; change and lifecycle notifications are verified by subscription id and clientState",
        "calendar webhooks",
        Some(json!({"content": {"application/json": {"schema": {"type": "object"}}}})),
        "202",
        json!({"description": "accepted (200 text/plain for the validation handshake)"}),
        json!([q("validationToken", false, "Graph's subscription validation")]),
    );
    outlook_hook["security"] = json!([]);
    doc["paths"]["/api/calendar/webhooks/google"] = json!({"post": google_hook});
    doc["paths"]["/api/calendar/webhooks/outlook"] = json!({"post": outlook_hook});
    doc["paths"]["/api/calendar/sync-status"] = json!({"get": op("calendar sync health: healthy, connections, pending / failed / dead counts, oldest pending age, success rate and mean latency over the last hour, last errors, recent sync events", "calendars", None, "200", ok("sync status", json!({"type": "object", "required": ["healthy", "connections", "pending", "failed", "last_error", "events"]})), none.clone())});
    doc["paths"]["/api/calendar/sync-status/retry"] = json!({"post": op("requeue failed and dead calendar writes (all, or those named)", "calendars",
        Some(json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"event_ids": {"type": "array", "items": {"type": "string"}}}}}}})), "200",
        ok("how many", json!({"type": "object", "properties": {"requeued": {"type": "integer"}}})), none.clone())});
    doc["components"]["schemas"]["CalendarConnection"] = json!({"type": "object", "properties": {
        "id": {"type": "string"}, "employee_id": {"type": "string"}, "provider": {"enum": ["google", "outlook"]}, "calendar_id": {"type": "string"},
        "status": {"enum": ["active", "error", "revoked"]}, "last_sync_at": {"type": ["string", "null"], "format": "date-time"},
        "channel_expires_at": {"type": ["string", "null"], "format": "date-time"}, "last_error": {"type": ["string", "null"]}}});
    doc
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// `GET /docs`: the document for people, rendered in the page from the JSON.
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(DOCS_PAGE)
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>slotwise API</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
.op{margin:.6rem 0;padding:.5rem .8rem;border:1px solid #ddd;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:700;font-family:monospace}
code{font-family:monospace;background:#f3f3f3;padding:0 .2rem}
details pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.85rem}
</style></head><body>
<h1>slotwise API</h1>
<p>The machine-readable document is at <a href="/api/openapi.json"><code>/api/openapi.json</code></a>.</p>
<main id="ops">Loading…</main>
<script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const main = document.getElementById('ops'); main.textContent = '';
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const tag = (op.tags || ['other'])[0]; (byTag[tag] = byTag[tag] || []).push([method, path, op]);
  }
  for (const [tag, ops] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; main.appendChild(h);
    for (const [method, path, op] of ops) {
      const div = document.createElement('div'); div.className = 'op';
      const m = document.createElement('span'); m.className = 'm'; m.textContent = method.toUpperCase();
      const p = document.createElement('code'); p.textContent = path;
      const s = document.createElement('div'); s.textContent = op.summary || '';
      div.append(m, p, s);
      const d = document.createElement('details'); const sum = document.createElement('summary'); sum.textContent = 'details';
      const pre = document.createElement('pre'); pre.textContent = JSON.stringify(op, null, 2); d.append(sum, pre); div.appendChild(d);
      main.appendChild(div);
    }
  }
});
</script></body></html>"#;

#[cfg(test)]
mod tests {
    /// Every `.route("…", web::METHOD()…)` registered in `routes/mod.rs` is in the document.
    #[test]
    fn every_route_is_described() {
        let doc = super::document();
        let source = include_str!("routes/mod.rs");
        let mut scope = "";
        let mut seen = 0;
        for line in source.lines() {
            if line.contains("web::scope(\"/api\")") {
                scope = "/api";
            }
            let Some(rest) = line.split(".route(\"").nth(1) else { continue };
            let path = rest.split('"').next().unwrap();
            let method = rest.split("web::").nth(1).unwrap().split('(').next().unwrap();
            let full = format!("{scope}{path}");
            if full == "/docs" {
                continue;
            }
            assert!(doc["paths"][&full][method].is_object(), "{method} {full} is not in the OpenAPI document");
            seen += 1;
        }
        assert!(seen >= 25, "only {seen} routes found: is the parser still right?");
    }
}
