//! The Google emulator over HTTP: Google's error shapes for bad input, scopes, ids, etags, consent page.

use anyhow::{Context, Result};
use emulators::google::{ConsentMode, FaultKind, GoogleConfig};
use emulators::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::{Value, json};

const USER: &str = "user@example.com";
const EVENTS_SCOPE: &str = "https://www.googleapis.com/auth/calendar.events";

struct Api {
    emu: EmulatorHandle,
    http: reqwest::Client,
    token: String,
}

impl Api {
    fn start(scopes: &[&str]) -> Result<Self> {
        Self::start_with(GoogleConfig::default(), scopes)
    }

    fn start_with(google: GoogleConfig, scopes: &[&str]) -> Result<Self> {
        let emu = Emulator::start(EmulatorConfig { google_port: 0, google })?;
        let (token, _) = emu.google().issue_tokens(USER, scopes);
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Api { emu, http, token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.google_urls().api_base_url)
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? }))
    }

    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.send(reqwest::Method::GET, path, None).await
    }
}

fn reason(body: &Value) -> &str {
    body.pointer("/error/errors/0/reason").and_then(Value::as_str).unwrap_or("")
}

fn event(id: &str) -> Value {
    json!({"id": id, "summary": "x",
           "start": {"dateTime": "2030-01-07T09:00:00Z"}, "end": {"dateTime": "2030-01-07T10:00:00Z"}})
}

#[tokio::test]
async fn forbidden_and_invalid_list_parameters_answer_400_in_googles_shape() -> Result<()> {
    let api = Api::start(&[EVENTS_SCOPE])?;
    let (status, body) = api.get("/calendars/primary/events").await?;
    assert_eq!(status, 200);
    let token = body["nextSyncToken"].as_str().context("sync token")?.to_owned();
    let cases = [
        (format!("/calendars/primary/events?syncToken={token}&timeMin=2030-01-01T00:00:00Z"), "invalid"),
        (format!("/calendars/primary/events?syncToken={token}&orderBy=updated"), "invalid"),
        (format!("/calendars/primary/events?syncToken={token}&showDeleted=false"), "invalid"),
        ("/calendars/primary/events?orderBy=startTime".to_owned(), "badRequest"),
        ("/calendars/primary/events?maxResults=zero".to_owned(), "invalid"),
        ("/calendars/primary/events?timeMin=yesterday".to_owned(), "invalid"),
        (
            "/calendars/primary/events?timeMin=2030-01-02T00:00:00Z&timeMax=2030-01-01T00:00:00Z".to_owned(),
            "timeRangeEmpty",
        ),
    ];
    for (path, expected) in cases {
        let (status, body) = api.get(&path).await?;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"]["code"], json!(400), "{path}");
        assert!(body["error"]["message"].is_string(), "{path}");
        assert_eq!(reason(&body), expected, "{path}: {body}");
    }
    api.emu.google().invalidate_sync_tokens();
    let (status, body) = api.get(&format!("/calendars/primary/events?syncToken={token}")).await?;
    assert_eq!((status, reason(&body)), (410, "fullSyncRequired"));
    Ok(())
}

#[tokio::test]
async fn event_ids_duplicates_etags_and_bodies() -> Result<()> {
    let api = Api::start(&[EVENTS_SCOPE])?;
    let post = |body| api.send(reqwest::Method::POST, "/calendars/primary/events", Some(body));
    let (status, created) = post(event("abcdef0123")).await?;
    assert_eq!(status, 200);
    assert_eq!(created["kind"], json!("calendar#event"));
    assert_eq!(created["status"], json!("confirmed"));
    let (status, body) = post(event("abcdef0123")).await?;
    assert_eq!((status, reason(&body)), (409, "duplicate"));
    let (status, body) = post(event("UPPERCASE-id")).await?;
    assert_eq!((status, reason(&body)), (400, "invalid"));
    let (status, body) = post(json!({"summary": "no times", "start": {"dateTime": "2030-01-07T09:00:00Z"}})).await?;
    assert_eq!((status, reason(&body)), (400, "required"));

    let raw = api
        .http
        .post(api.url("/calendars/primary/events"))
        .bearer_auth(&api.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(reason(&raw.json::<Value>().await?), "parseError");

    // If-Match with a stale etag → 412; patch merges and deletes extended properties with null.
    let path = "/calendars/primary/events/abcdef0123";
    let (_, patched) = api
        .send(reqwest::Method::PATCH, path, Some(json!({"extendedProperties": {"private": {"a": "1", "b": "2"}}})))
        .await?;
    assert_ne!(patched["etag"], created["etag"]);
    let stale = api
        .http
        .patch(api.url(path))
        .bearer_auth(&api.token)
        .header("If-Match", created["etag"].as_str().unwrap_or_default())
        .json(&json!({"summary": "late"}))
        .send()
        .await?;
    assert_eq!(stale.status().as_u16(), 412);
    let (_, merged) =
        api.send(reqwest::Method::PATCH, path, Some(json!({"extendedProperties": {"private": {"a": null}}}))).await?;
    assert_eq!(merged["extendedProperties"]["private"], json!({"b": "2"}));

    // Delete answers 204, a second delete 410, the id stays taken.
    let (status, _) = api.send(reqwest::Method::DELETE, path, None).await?;
    assert_eq!(status, 204);
    let (status, _) = api.send(reqwest::Method::DELETE, path, None).await?;
    assert_eq!(status, 410);
    let (status, _) = post(event("abcdef0123")).await?;
    assert_eq!(status, 409);
    let (status, body) = api.get(path).await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    Ok(())
}

#[tokio::test]
async fn scopes_and_bearer_tokens_are_checked() -> Result<()> {
    let api = Api::start(&[EVENTS_SCOPE])?;
    let (status, body) = api.get("/users/me/calendarList").await?;
    assert_eq!((status, reason(&body)), (403, "insufficientPermissions"));
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/freeBusy",
            Some(json!({"timeMin": "2030-01-01T00:00:00Z", "timeMax": "2030-01-02T00:00:00Z", "items": [{"id": "primary"}]})),
        )
        .await?;
    assert_eq!((status, reason(&body)), (403, "insufficientPermissions"));
    api.emu.google().expire_access_tokens();
    let (status, body) = api.get("/calendars/primary/events").await?;
    assert_eq!((status, reason(&body)), (401, "authError"));
    assert_eq!(body["error"]["errors"][0]["location"], json!("Authorization"));
    let (status, _) = api.get("/calendars/someone-else@example.com/events").await?;
    assert_eq!(status, 401);
    Ok(())
}

#[tokio::test]
async fn injected_faults_answer_in_order_then_clear() -> Result<()> {
    let api = Api::start(&[EVENTS_SCOPE])?;
    api.emu.google().inject_fault(FaultKind::RateLimit { retry_after_secs: Some(7) }, 1);
    api.emu.google().inject_fault(FaultKind::InternalError, 1);
    let first = api.http.get(api.url("/calendars/primary/events")).bearer_auth(&api.token).send().await?;
    assert_eq!(first.status().as_u16(), 429);
    assert_eq!(first.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(reason(&first.json::<Value>().await?), "rateLimitExceeded");
    let (status, body) = api.get("/calendars/primary/events").await?;
    assert_eq!((status, reason(&body)), (500, "backendError"));
    assert_eq!(api.get("/calendars/primary/events").await?.0, 200);

    // The admin endpoint does the same over HTTP.
    let admin = format!("{}/faults", api.emu.google_urls().admin_url);
    let resp = api.http.post(admin).json(&json!({"kind": "unavailable", "count": 1})).send().await?;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(api.get("/calendars/primary/events").await?.0, 503);
    Ok(())
}

#[tokio::test]
async fn consent_page_is_a_real_form_and_unticked_scopes_are_not_granted() -> Result<()> {
    let api = Api::start_with(GoogleConfig { consent: ConsentMode::Page, ..GoogleConfig::default() }, &[])?;
    let urls = api.emu.google_urls();
    let client_id = GoogleConfig::default().client_id;
    let page = api
        .http
        .get(&urls.auth_url)
        .query(&[
            ("client_id", client_id.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("response_type", "code"),
            (
                "scope",
                "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy",
            ),
            ("state", "st<1>"),
        ])
        .send()
        .await?;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await?;
    assert!(html.contains("<form") && html.contains("Allow"));
    let request_id = html
        .split("name=\"request_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("request id in the form")?
        .to_owned();
    let decision = api
        .http
        .post(format!("{}/o/oauth2/v2/auth/decision", urls.base))
        .form(&[("request_id", request_id.as_str()), ("decision", "allow"), ("scope", EVENTS_SCOPE)])
        .send()
        .await?;
    assert_eq!(decision.status().as_u16(), 302);
    let location = decision.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let url = reqwest::Url::parse(&location)?;
    let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params.get("state").map(String::as_str), Some("st<1>"));
    assert_eq!(params.get("scope").map(String::as_str), Some(EVENTS_SCOPE));
    assert!(params.get("code").is_some_and(|c| !c.is_empty()));

    // Unknown client and an unregistered redirect URI get an error page, not a redirect.
    let bad =
        api.http.get(&urls.auth_url).query(&[("client_id", "nope"), ("redirect_uri", "http://x/cb")]).send().await?;
    assert_eq!(bad.status().as_u16(), 401);
    Ok(())
}

#[tokio::test]
async fn unknown_paths_answer_googles_404() -> Result<()> {
    let api = Api::start(&[EVENTS_SCOPE])?;
    let (status, body) = api.get("/nothing/here").await?;
    assert_eq!((status, reason(&body)), (404, "notFound"));
    Ok(())
}
