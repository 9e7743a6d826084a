//! The Microsoft emulator over plain HTTP: Graph's error shape, paging, `Prefer`, delta routing and expiry,
//! `transactionId`, subscription rules and the admin endpoints.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use emulators::microsoft::{MicrosoftConfig, MicrosoftEmulator, MicrosoftServer};
use emulators::receiver::RecordingReceiver;
use reqwest::StatusCode;
use serde_json::{Value, json};

const USER: &str = "user@contoso.example";

struct Emu {
    server: MicrosoftServer,
    http: reqwest::Client,
    token: String,
}

impl Emu {
    fn start_with(config: MicrosoftConfig, scopes: &[&str]) -> Result<Self> {
        let server = MicrosoftEmulator::start(0, config)?;
        let (token, _) = server.emulator().issue_tokens(USER, scopes);
        Ok(Emu { server, http: reqwest::Client::new(), token })
    }

    fn start() -> Result<Self> {
        Self::start_with(MicrosoftConfig::default(), &["offline_access", "Calendars.ReadWrite", "User.Read"])
    }

    fn graph(&self, path: &str) -> String {
        format!("{}{path}", self.server.urls().graph_base_url)
    }

    async fn get(&self, url: &str) -> Result<(StatusCode, Value)> {
        let resp = self.http.get(url).bearer_auth(&self.token).send().await?;
        Ok((resp.status(), resp.json().await.unwrap_or(Value::Null)))
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Result<(StatusCode, Value)> {
        let resp = self.http.request(method, self.graph(path)).bearer_auth(&self.token).json(&body).send().await?;
        Ok((resp.status(), resp.json().await.unwrap_or(Value::Null)))
    }
}

fn event(subject: &str, day: u32, hour: u32) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": format!("2030-01-{day:02}T{hour:02}:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": format!("2030-01-{day:02}T{hour:02}:30:00"), "timeZone": "UTC"},
    })
}

const WINDOW: &str = "startDateTime=2030-01-01T00:00:00Z&endDateTime=2030-03-01T00:00:00Z";

#[tokio::test]
async fn errors_have_graph_shape_and_tokens_and_scopes_are_checked() -> Result<()> {
    let emu = Emu::start_with(MicrosoftConfig::default(), &["Calendars.Read"])?;
    let resp = reqwest::get(emu.graph("/me/events")).await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], json!("InvalidAuthenticationToken"));
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(emu.get(&emu.graph("/me/events")).await?.0, StatusCode::OK);
    let (status, body) = emu.send(reqwest::Method::POST, "/me/events", event("x", 7, 9)).await?;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("ErrorAccessDenied")));
    let (status, body) = emu.get(&emu.graph("/me/events/nope")).await?;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("ErrorItemNotFound")));
    Ok(())
}

#[tokio::test]
async fn calendar_view_pages_by_ten_with_absolute_links_and_honours_prefer_timezone() -> Result<()> {
    let emu = Emu::start()?;
    for i in 0..23 {
        emu.server.emulator().seed_event(USER, event(&format!("e{i}"), 7 + i / 8, 8 + i % 8))?;
    }
    let mut url = emu.graph(&format!("/me/calendarView?{WINDOW}"));
    let mut sizes = Vec::new();
    loop {
        let (status, page) = emu.get(&url).await?;
        assert_eq!(status, StatusCode::OK);
        sizes.push(page["value"].as_array().map_or(0, Vec::len));
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&emu.server.urls().graph_base_url) && next.contains("startDateTime"),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 3]);

    let resp = emu
        .http
        .get(emu.graph(&format!("/me/calendarView?{WINDOW}&$top=1")))
        .bearer_auth(&emu.token)
        .header("Prefer", "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"text\"")
        .send()
        .await?;
    assert!(resp.headers().get("Preference-Applied").is_some());
    let page: Value = resp.json().await?;
    assert_eq!(
        page["value"][0]["start"],
        json!({"dateTime": "2030-01-07T00:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );

    let (status, body) = emu.get(&emu.graph("/me/calendarView")).await?;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::BAD_REQUEST, json!("ErrorInvalidParameter")));
    Ok(())
}

#[tokio::test]
async fn delta_answers_under_every_spelling_and_dead_tokens_are_410() -> Result<()> {
    let emu = Emu::start()?;
    emu.server.emulator().seed_event(USER, event("a", 7, 9))?;
    let mut links = Vec::new();
    for spelling in ["delta", "delta()", "microsoft.graph.delta"] {
        let (status, page) = emu.get(&emu.graph(&format!("/me/calendarView/{spelling}?{WINDOW}"))).await?;
        assert_eq!(status, StatusCode::OK, "{spelling}");
        assert_eq!(page["value"].as_array().map(Vec::len), Some(1));
        links.push(page["@odata.deltaLink"].as_str().context("deltaLink")?.to_owned());
    }
    let (status, _) = emu.get(&emu.graph(&format!("/me/calendarView/deltas?{WINDOW}"))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Expire through the admin endpoint, as a script would.
    let admin = format!("{}/expire-delta-tokens", emu.server.urls().admin_url);
    assert_eq!(emu.http.post(admin).send().await?.status(), StatusCode::NO_CONTENT);
    let (status, body) = emu.get(&links[0]).await?;
    assert_eq!((status, body["error"]["code"].clone()), (StatusCode::GONE, json!("syncStateNotFound")));
    Ok(())
}

#[tokio::test]
async fn transaction_id_deduplicates_and_cannot_change() -> Result<()> {
    let emu = Emu::start()?;
    let mut body = event("once", 7, 9);
    body["transactionId"] = json!("tx-1");
    let (s1, first) = emu.send(reqwest::Method::POST, "/me/events", body.clone()).await?;
    let (s2, second) = emu.send(reqwest::Method::POST, "/me/events", body).await?;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(emu.server.emulator().stored_event_count(USER), 1);
    let id = first["id"].as_str().context("id")?;
    let (status, _) =
        emu.send(reqwest::Method::PATCH, &format!("/me/events/{id}"), json!({"transactionId": "tx-2"})).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The calendar-scoped path with the right and a wrong calendar id.
    let calendar = emu.server.emulator().calendar_id(USER);
    let (status, _) =
        emu.send(reqwest::Method::POST, &format!("/me/calendars/{calendar}/events"), event("b", 8, 9)).await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = emu.send(reqwest::Method::POST, "/me/calendars/AAMkNope/events", event("c", 8, 10)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // All-day events must start and end at midnight.
    let mut all_day = event("holiday", 9, 9);
    all_day["isAllDay"] = json!(true);
    let (status, body) = emu.send(reqwest::Method::POST, "/me/events", all_day).await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("ErrorPropertyValidationFailure"))
    );
    Ok(())
}

#[tokio::test]
async fn subscription_lifetimes_are_capped_and_floored() -> Result<()> {
    let emu = Emu::start()?;
    let receiver = RecordingReceiver::start_graph()?;
    let at = |minutes: i64| (Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339();
    let body = |expiry: String, change: &str| {
        json!({"changeType": change, "notificationUrl": format!("{}/hook", receiver.url()), "resource": "me/events",
               "expirationDateTime": expiry, "clientState": "secret"})
    };
    let (status, err) = emu.send(reqwest::Method::POST, "/subscriptions", body(at(10_200), "created")).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, _) = emu.send(reqwest::Method::POST, "/subscriptions", body(at(60), "created,moved")).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, sub) =
        emu.send(reqwest::Method::POST, "/subscriptions", body(at(5), "created,updated,deleted")).await?;
    assert_eq!(status, StatusCode::CREATED);
    let expires: DateTime<Utc> = sub["expirationDateTime"].as_str().context("expiry")?.parse()?;
    assert!(expires >= Utc::now() + chrono::Duration::minutes(44), "raised to 45 minutes: {expires}");
    assert_eq!(sub["changeType"], json!("created,updated,deleted"));
    let id = sub["id"].as_str().context("id")?;
    let resp = emu.http.delete(emu.graph(&format!("/subscriptions/{id}"))).bearer_auth(&emu.token).send().await?;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = emu.http.delete(emu.graph(&format!("/subscriptions/{id}"))).bearer_auth(&emu.token).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn token_errors_and_admin_faults_over_http() -> Result<()> {
    let emu = Emu::start()?;
    let config = MicrosoftConfig::default();
    let token_url = format!("{}/token", emu.server.urls().authority_url);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "not-a-token"),
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.as_str()),
    ];
    let resp = emu.http.post(&token_url).form(&form).send().await?;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"], json!("invalid_grant"));
    assert!(body["error_codes"].is_array() && body["trace_id"].is_string() && body["correlation_id"].is_string());

    let admin = emu.server.urls().admin_url.clone();
    let minted: Value = emu
        .http
        .post(format!("{admin}/tokens"))
        .json(&json!({"scopes": ["offline_access", "Calendars.ReadWrite"]}))
        .send()
        .await?
        .json()
        .await?;
    assert!(minted["refresh_token"].as_str().is_some_and(|t| !t.is_empty()));
    let fault = json!({"kind": "rate_limit", "retry_after_secs": 7, "count": 1});
    assert_eq!(emu.http.post(format!("{admin}/faults")).json(&fault).send().await?.status(), StatusCode::NO_CONTENT);
    let resp = emu.http.get(emu.graph("/me/events")).bearer_auth(&emu.token).send().await?;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()), Some("7"));
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], json!("TooManyRequests"));
    Ok(())
}
