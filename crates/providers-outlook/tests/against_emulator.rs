//! `OutlookProvider` against the in-process Microsoft emulator: OAuth, events, delta sync, faults,
//! subscriptions and notifications.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use calendar_provider::{
    CalendarProvider, EventTiming, ExternalEvent, OutgoingEvent, PkceVerifier, ProviderError, SyncBatch, SyncCursor,
    SyncOutcome, TimeWindow, TokenSet, WatchRequest,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use emulators::microsoft::{
    GraphFault, LifecycleEvent, MicrosoftConfig, MicrosoftConsent, MicrosoftEmulator, MicrosoftServer,
};
use emulators::receiver::{RecordingReceiver, ValidationReply};
use providers_outlook::{
    AuthorizationResponse, CallbackError, LifecycleAction, NotificationKind, OutlookConfig, OutlookProvider,
    parse_notifications,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const USER: &str = "user@contoso.example";
const REDIRECT: &str = "http://127.0.0.1:9/api/outlook-calendar/callback";

struct Setup {
    server: MicrosoftServer,
    provider: OutlookProvider,
}

impl Setup {
    fn emu(&self) -> &MicrosoftEmulator {
        self.server.emulator()
    }
}

fn provider_for(server: &MicrosoftServer, secret: &str) -> Result<OutlookProvider> {
    let urls = server.urls();
    let mut config = OutlookConfig::new(MicrosoftConfig::default().client_id, secret, REDIRECT);
    config.authority_url = urls.authority_url.clone();
    config.graph_base_url = urls.graph_base_url.clone();
    config.page_size = 4;
    config.backoff_base = Duration::from_millis(10);
    config.max_retry_wait = Duration::from_secs(2);
    Ok(OutlookProvider::new(config)?)
}

fn setup_with(config: MicrosoftConfig) -> Result<Setup> {
    let secret = config.client_secret.clone();
    let server = MicrosoftEmulator::start(0, config)?;
    let provider = provider_for(&server, &secret)?;
    Ok(Setup { server, provider })
}

fn setup() -> Result<Setup> {
    setup_with(MicrosoftConfig::default())
}

/// Follows the authorize URL like a browser would, without following the redirect back to us.
async fn consent(url: &str) -> Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let resp = client.get(url).send().await?;
    if resp.status() != reqwest::StatusCode::FOUND {
        bail!("authorize answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let location = resp.headers().get("location").context("no Location")?.to_str()?.to_owned();
    if !location.starts_with(REDIRECT) {
        bail!("redirected to {location}");
    }
    Ok(location.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default())
}

async fn connect(s: &Setup) -> Result<TokenSet> {
    let request = s.provider.authorize("state-123")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    assert_eq!(callback.state, "state-123");
    Ok(s.provider.exchange_code(&callback.code, &request.pkce_verifier).await?)
}

fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, day, h, m, 0).single().unwrap_or_default()
}

fn window() -> TimeWindow {
    let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default();
    TimeWindow::new(start, start + chrono::Duration::days(60)).unwrap_or_else(|| unreachable!())
}

fn timed(subject: &str, start: DateTime<Utc>, minutes: i64) -> Value {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    json!({
        "subject": subject,
        "start": {"dateTime": fmt(start), "timeZone": "UTC"},
        "end": {"dateTime": fmt(start + chrono::Duration::minutes(minutes)), "timeZone": "UTC"},
    })
}

async fn full_sync(s: &Setup, tokens: &mut TokenSet) -> Result<SyncBatch> {
    match s.provider.sync(tokens, "primary", SyncCursor::Full(window())).await? {
        SyncOutcome::Changes(batch) => Ok(batch),
        SyncOutcome::CursorExpired => bail!("a full sync cannot expire"),
    }
}

async fn incremental(s: &Setup, tokens: &mut TokenSet, cursor: &str) -> Result<SyncOutcome> {
    Ok(s.provider.sync(tokens, "primary", SyncCursor::Incremental(cursor.to_owned())).await?)
}

fn booking(id: &str, start: DateTime<Utc>) -> OutgoingEvent {
    OutgoingEvent {
        tenant_id: "t1".into(),
        booking_id: id.into(),
        summary: "Haircut with Ana".into(),
        description: Some("Booked through slotwise".into()),
        start,
        end: start + chrono::Duration::minutes(45),
        time_zone: "Europe/Berlin".into(),
    }
}

fn by_subject<'a>(s: &Setup, batch: &'a SyncBatch, subject: &str) -> Vec<&'a ExternalEvent> {
    batch
        .changed
        .iter()
        .filter(|e| {
            s.emu().event(USER, &e.id).and_then(|v| v["subject"].as_str().map(|x| x == subject)).unwrap_or(false)
        })
        .collect()
}

fn secret(t: &Option<SecretString>) -> Option<String> {
    t.as_ref().map(|t| t.expose_secret().to_owned())
}

#[tokio::test]
async fn oauth_round_trip_with_pkce_gives_offline_tokens_and_rotates_refresh_tokens() -> Result<()> {
    // The strict setting: a used refresh token dies, so only a client that stores every new one keeps working.
    let s = setup_with(MicrosoftConfig { revoke_used_refresh_tokens: true, ..Default::default() })?;
    let request = s.provider.authorize("state-123")?;
    for expected in [
        "code_challenge_method=S256",
        "response_type=code",
        "scope=offline_access+Calendars.ReadWrite+User.Read",
        "state=state-123",
        "/common/oauth2/v2.0/authorize?",
    ] {
        assert!(request.url.contains(expected), "{expected} missing from {}", request.url);
    }
    let tokens = connect(&s).await?;
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.expires_at > Utc::now());
    assert!(tokens.scopes.iter().any(|sc| sc == "Calendars.ReadWrite"), "{:?}", tokens.scopes);
    let second = s.provider.refresh(&tokens).await?;
    assert_ne!(secret(&second.refresh_token), secret(&tokens.refresh_token), "refresh tokens rotate");
    assert!(!second.same_tokens(&tokens));
    let third = s.provider.refresh(&second).await?;
    assert_ne!(secret(&third.refresh_token), secret(&second.refresh_token));
    // The superseded refresh token is dead here: invalid_grant is reported as Revoked.
    assert!(matches!(s.provider.refresh(&tokens).await, Err(ProviderError::Revoked(m)) if m.contains("invalid_grant")));
    // No revocation endpoint in v2.0: revoke is a local forget and always succeeds.
    s.provider.revoke(&third).await?;
    Ok(())
}

#[tokio::test]
async fn wrong_pkce_verifier_and_reused_code_are_refused() -> Result<()> {
    let s = setup()?;
    let request = s.provider.authorize("s")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    let wrong = PkceVerifier::new("x".repeat(64));
    let err = s.provider.exchange_code(&callback.code, &wrong).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::Permanent(m) if m.contains("invalid_grant") && m.contains("501481")),
        "{err:?}"
    );
    // The code was consumed by the failed attempt: AADSTS54005, and not "revoked" (it is not a refresh).
    let err = s.provider.exchange_code(&callback.code, &request.pkce_verifier).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Permanent(m) if m.contains("54005")), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn bad_client_secret_is_invalid_client() -> Result<()> {
    let s = setup()?;
    let bad = provider_for(&s.server, "not-the-secret")?;
    let request = bad.authorize("s")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    let err = bad.exchange_code(&callback.code, &request.pkce_verifier).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Permanent(m) if m.contains("invalid_client")), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn denied_consent_comes_back_as_access_denied_with_state() -> Result<()> {
    let s = setup()?;
    s.emu().set_consent(MicrosoftConsent::AutoDeny);
    let request = s.provider.authorize("state-9")?;
    match AuthorizationResponse::from_query(&consent(&request.url).await?) {
        Err(CallbackError::Denied { error, description, state }) => {
            assert_eq!((error.as_str(), state.as_deref()), ("access_denied", Some("state-9")));
            assert!(description.contains("AADSTS65004"), "{description}");
        }
        other => bail!("expected a denial, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn without_offline_access_there_is_no_refresh_token_and_that_is_reported() -> Result<()> {
    let s = setup()?;
    let urls = s.server.urls();
    let mut config = OutlookConfig::new(MicrosoftConfig::default().client_id, "emulator-secret~microsoft", REDIRECT);
    config.authority_url = urls.authority_url.clone();
    config.graph_base_url = urls.graph_base_url.clone();
    config.scopes = vec!["Calendars.ReadWrite".into()];
    let online_only = OutlookProvider::new(config)?;
    let request = online_only.authorize("s")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    let err = online_only.exchange_code(&callback.code, &request.pkce_verifier).await.unwrap_err();
    assert!(matches!(&err, ProviderError::ScopeNotGranted { missing } if missing == &["offline_access"]), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn revoked_grant_is_reported_as_revoked_without_looping() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu().revoke_all_grants();
    let before = s.emu().graph_request_count();
    let err = full_sync(&s, &mut tokens).await.unwrap_err();
    let err = err.downcast::<ProviderError>()?;
    assert!(matches!(&err, ProviderError::Revoked(m) if m.contains("50173")), "{err:?}");
    assert_eq!(s.emu().graph_request_count() - before, 1, "one 401, one refresh attempt, no loop");
    Ok(())
}

#[tokio::test]
async fn access_token_expiring_between_two_pages_is_refreshed_mid_sync() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    for i in 0..6 {
        s.emu().seed_event(USER, timed(&format!("e{i}"), at(7 + i, 8, 0), 30))?;
    }
    let before = tokens.clone();
    // Page 1 answers normally, page 2 finds the token expired.
    s.emu().inject_fault(GraphFault::Slow { delay_ms: 0 }, 1);
    s.emu().inject_fault(GraphFault::Unauthorized, 1);
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 6);
    assert!(!tokens.same_tokens(&before), "the caller must persist the new token set");
    assert_ne!(secret(&tokens.refresh_token), secret(&before.refresh_token), "a rotated refresh token came back");
    // Proactive refresh: a token set about to expire is refreshed before the call.
    tokens.expires_at = Utc::now();
    let old = tokens.access_token.expose_secret().to_owned();
    full_sync(&s, &mut tokens).await?;
    assert_ne!(tokens.access_token.expose_secret(), old);
    Ok(())
}

#[tokio::test]
async fn delta_pages_then_reports_changes_and_removals() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let mut ids = Vec::new();
    for i in 0..10 {
        let e = s.emu().seed_event(USER, timed(&format!("e{i}"), at(7, 8, 0) + chrono::Duration::hours(i), 30))?;
        ids.push(e["id"].as_str().unwrap_or_default().to_owned());
    }
    let before = s.emu().graph_request_count();
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 10);
    assert!(s.emu().graph_request_count() - before >= 3, "page size 4 → at least 3 pages");
    assert!(batch.removed.is_empty());

    // Nothing changed: an empty round with a fresh delta link.
    let SyncOutcome::Changes(quiet) = incremental(&s, &mut tokens, &batch.next_cursor).await? else {
        bail!("cursor expired");
    };
    assert!(quiet.changed.is_empty() && quiet.removed.is_empty(), "{quiet:?}");

    s.emu().patch_event(USER, &ids[0], json!({"subject": "moved", "start": {"dateTime": "2030-01-08T08:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-08T09:00:00", "timeZone": "UTC"}}))?;
    s.emu().delete_event(USER, &ids[1])?;
    s.emu().patch_event(USER, &ids[2], json!({"isCancelled": true}))?;
    let added = s.emu().seed_event(USER, timed("new", at(9, 10, 0), 60))?;
    let SyncOutcome::Changes(delta) = incremental(&s, &mut tokens, &quiet.next_cursor).await? else {
        bail!("cursor expired");
    };
    let changed: Vec<&str> = delta.changed.iter().map(|e| e.id.as_str()).collect();
    assert!(changed.contains(&ids[0].as_str()) && changed.contains(&added["id"].as_str().unwrap_or_default()));
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(delta.removed.contains(&ids[1]), "deleted → @removed");
    assert!(delta.removed.contains(&ids[2]), "cancelled → removed");
    let moved = delta.changed.iter().find(|e| e.id == ids[0]).context("moved event")?;
    assert_eq!(moved.timing, EventTiming::Timed { start: at(8, 8, 0), end: at(8, 9, 0) });
    Ok(())
}

#[tokio::test]
async fn expired_delta_token_asks_for_a_full_sync_which_then_works() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu().seed_event(USER, timed("a", at(7, 9, 0), 30))?;
    let batch = full_sync(&s, &mut tokens).await?;
    s.emu().expire_delta_tokens();
    assert_eq!(incremental(&s, &mut tokens, &batch.next_cursor).await?, SyncOutcome::CursorExpired);
    // A cursor from some other host is never followed with our bearer token.
    assert_eq!(
        incremental(&s, &mut tokens, "https://elsewhere.example/v1.0/me/calendarView/delta?$deltatoken=x").await?,
        SyncOutcome::CursorExpired
    );
    let again = full_sync(&s, &mut tokens).await?;
    assert_eq!(again.changed.len(), 1);
    Ok(())
}

#[tokio::test]
async fn recurring_series_with_a_moved_and_a_cancelled_occurrence() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let series = s.emu().seed_event(
        USER,
        json!({
            "subject": "standup",
            "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2030-01-07T09:15:00", "timeZone": "W. Europe Standard Time"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
                "range": {"type": "numbered", "startDate": "2030-01-07", "numberOfOccurrences": 4},
            },
        }),
    )?;
    let master = series["id"].as_str().context("id")?.to_owned();
    let batch = full_sync(&s, &mut tokens).await?;
    let standups = by_subject(&s, &batch, "standup");
    assert_eq!(standups.len(), 4, "occurrences come expanded");
    assert!(standups.iter().all(|e| e.recurring_event_id.as_deref() == Some(master.as_str())));
    // 09:00 Berlin in January is 08:00 UTC.
    assert!(standups.iter().any(|e| e.timing == EventTiming::Timed { start: at(7, 8, 0), end: at(7, 8, 15) }));

    let second =
        standups.iter().find(|e| matches!(e.timing, EventTiming::Timed { start, .. } if start == at(14, 8, 0)));
    let third = standups.iter().find(|e| matches!(e.timing, EventTiming::Timed { start, .. } if start == at(21, 8, 0)));
    let (second, third) = (second.context("2nd")?.id.clone(), third.context("3rd")?.id.clone());
    s.emu().patch_event(
        USER,
        &second,
        json!({"start": {"dateTime": "2030-01-15T13:00:00", "timeZone": "UTC"}, "end": {"dateTime": "2030-01-15T13:30:00", "timeZone": "UTC"}}),
    )?;
    s.emu().delete_event(USER, &third)?;
    let SyncOutcome::Changes(delta) = incremental(&s, &mut tokens, &batch.next_cursor).await? else {
        bail!("cursor expired");
    };
    assert_eq!(delta.changed.len(), 1, "only the moved occurrence changed: {:?}", delta.changed);
    assert_eq!(delta.changed[0].id, second);
    assert_eq!(delta.changed[0].timing, EventTiming::Timed { start: at(15, 13, 0), end: at(15, 13, 30) });
    assert_eq!(delta.removed, vec![third.clone()]);
    let full = full_sync(&s, &mut tokens).await?;
    assert_eq!(by_subject(&s, &full, "standup").len(), 3);
    Ok(())
}

#[tokio::test]
async fn show_as_all_day_cancelled_and_own_events_are_mapped() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    for (i, show_as) in ["free", "workingElsewhere", "busy", "tentative", "oof"].iter().enumerate() {
        let mut e = timed(show_as, at(7, 8 + i as u32, 0), 30);
        e["showAs"] = json!(show_as);
        s.emu().seed_event(USER, e)?;
    }
    s.emu().seed_event(
        USER,
        json!({"subject": "holiday", "isAllDay": true, "showAs": "oof",
               "start": {"dateTime": "2030-01-10T00:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2030-01-12T00:00:00", "timeZone": "UTC"}}),
    )?;
    let own = s.provider.create_event(&mut tokens, "primary", &booking("b-1", at(20, 10, 0))).await?;
    let batch = full_sync(&s, &mut tokens).await?;
    let blocks = |subject: &str| by_subject(&s, &batch, subject).first().map(|e| e.blocks_time);
    assert_eq!(blocks("free"), Some(false));
    assert_eq!(blocks("workingElsewhere"), Some(false));
    assert_eq!(blocks("busy"), Some(true));
    assert_eq!(blocks("tentative"), Some(true));
    assert_eq!(blocks("oof"), Some(true));
    let holiday = by_subject(&s, &batch, "holiday");
    let day = |d| NaiveDate::from_ymd_opt(2030, 1, d).unwrap_or_default();
    assert_eq!(holiday.first().map(|e| e.timing.clone()), Some(EventTiming::AllDay { start: day(10), end: day(12) }));
    let mine = batch.changed.iter().find(|e| e.id == own.id).context("own event synced")?;
    let marker = mine.own.as_ref().context("own marker")?;
    assert_eq!((marker.tenant_id.as_str(), marker.booking_id.as_str()), ("t1", "b-1"));
    assert!(batch.changed.iter().filter(|e| e.id != own.id).all(|e| e.own.is_none()));
    // Our event was written in its IANA zone and reads back in UTC (Prefer: outlook.timezone="UTC").
    assert_eq!(mine.timing, EventTiming::Timed { start: at(20, 10, 0), end: at(20, 10, 45) });
    Ok(())
}

#[tokio::test]
async fn duplicate_create_after_a_lost_answer_creates_no_second_event() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let event = booking("b-42", at(9, 14, 0));
    // The first answer is "lost": the caller only knows the call may have succeeded, and retries.
    let first = s.provider.create_event(&mut tokens, "primary", &event).await?;
    let again = s.provider.create_event(&mut tokens, "primary", &event).await?;
    assert_eq!(first.id, again.id);
    assert_eq!(s.emu().stored_event_count(USER), 1);
    // The booking moved before the retry: the retry finds the event by transactionId and moves it.
    let moved = booking("b-42", at(9, 16, 0));
    let third = s.provider.create_event(&mut tokens, "primary", &moved).await?;
    assert_eq!(third.id, first.id);
    assert_eq!(s.emu().stored_event_count(USER), 1);
    let stored = s.emu().event(USER, &first.id).context("stored")?;
    assert_eq!(stored["start"]["dateTime"], json!("2030-01-09T17:00:00"), "Berlin local time");
    // Reschedule with the etag, then a stale etag is a conflict; cancel twice is fine.
    let updated = s.provider.update_event(&mut tokens, "primary", &first.id, &event, third.etag.clone()).await?;
    let stale = s.provider.update_event(&mut tokens, "primary", &first.id, &moved, third.etag.clone()).await;
    assert!(matches!(stale, Err(ProviderError::Conflict(_))), "{stale:?}");
    assert_ne!(updated.etag, third.etag);
    s.provider.delete_event(&mut tokens, "primary", &first.id).await?;
    s.provider.delete_event(&mut tokens, "primary", &first.id).await?;
    assert_eq!(s.emu().stored_event_count(USER), 0);
    Ok(())
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_honoured() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu().seed_event(USER, timed("a", at(7, 9, 0), 30))?;
    s.emu().inject_fault(GraphFault::RateLimit { retry_after_secs: Some(1) }, 1);
    s.emu().inject_fault(GraphFault::Unavailable { retry_after_secs: None }, 1);
    let started = Instant::now();
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 1);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited the Retry-After");
    // A Retry-After longer than max_retry_wait goes back to the engine as RateLimited.
    s.emu().inject_fault(GraphFault::RateLimit { retry_after_secs: Some(120) }, 1);
    let err = full_sync(&s, &mut tokens).await.unwrap_err().downcast::<ProviderError>()?;
    assert_eq!(err, ProviderError::RateLimited { retry_after: Some(Duration::from_secs(120)) });
    Ok(())
}

fn watch_request(receiver: &RecordingReceiver, token: &str) -> WatchRequest {
    WatchRequest {
        channel_id: "ignored-by-graph".into(),
        address: format!("{}/api/calendar/webhooks/outlook", receiver.url()),
        token: SecretString::from(token.to_owned()),
        ttl: Duration::from_secs(30 * 24 * 3600),
    }
}

/// Polls until a request matching `pred` arrived.
async fn wait_for_request(
    receiver: &RecordingReceiver,
    pred: impl Fn(&emulators::receiver::ReceivedRequest) -> bool,
) -> Option<emulators::receiver::ReceivedRequest> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = receiver.requests().into_iter().find(&pred) {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn subscription_handshake_notifications_lifecycle_renewal_and_delete() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let receiver = RecordingReceiver::start_graph()?;
    let channel = s.provider.watch(&mut tokens, "primary", &watch_request(&receiver, "s3cret")).await?;
    assert_eq!(s.emu().subscription_ids(), vec![channel.channel_id.clone()]);
    // The lifetime was capped below 10,080 minutes.
    let expires = channel.expires_at.context("expiry")?;
    assert!(
        expires <= Utc::now() + chrono::Duration::minutes(10_080) && expires > Utc::now() + chrono::Duration::days(6)
    );
    // The handshake happened before creation, with a token that needs URL-decoding.
    let handshake =
        receiver.requests().into_iter().find(|r| r.path.contains("validationToken=")).context("handshake")?;
    assert_eq!(handshake.header("content-type"), Some("text/plain; charset=utf-8"));

    // A change is POSTed with our clientState and verifies; a forged one does not.
    let seeded = s.emu().seed_event(USER, timed("dentist", at(7, 9, 0), 30))?;
    let note = wait_for_request(&receiver, |r| r.method == "POST" && !r.path.contains("validationToken"))
        .await
        .context("no notification")?;
    let batch = parse_notifications(&note.body)?;
    assert_eq!(batch.len(), 1);
    assert!(batch[0].verify(&channel));
    assert!(
        matches!(&batch[0].kind, NotificationKind::Change { event_id: Some(id), .. } if Some(id.as_str()) == seeded["id"].as_str())
    );
    let forged = calendar_provider::WatchChannel { token: SecretString::from("other"), ..channel.clone() };
    assert!(!batch[0].verify(&forged), "a notification with a wrong clientState is refused");

    // Lifecycle: reauthorizationRequired → renew.
    s.emu().send_lifecycle(&channel.channel_id, LifecycleEvent::ReauthorizationRequired)?;
    let life = wait_for_request(&receiver, |r| String::from_utf8_lossy(&r.body).contains("lifecycleEvent"))
        .await
        .context("no lifecycle notification")?;
    let lifecycle = parse_notifications(&life.body)?;
    assert!(lifecycle[0].verify(&channel));
    let NotificationKind::Lifecycle(event) = &lifecycle[0].kind else { bail!("not lifecycle") };
    assert_eq!(event.action(), LifecycleAction::Renew);
    let renewed = s.provider.renew(&mut tokens, &channel, Duration::from_secs(3600)).await?;
    let new_expiry = s.emu().subscription_expiry(&channel.channel_id).context("still there")?;
    assert_eq!(renewed.expires_at, Some(new_expiry));
    assert!(new_expiry < expires);

    s.provider.unwatch(&mut tokens, &renewed).await?;
    assert!(s.emu().subscription_ids().is_empty());
    s.provider.unwatch(&mut tokens, &renewed).await?;
    assert!(matches!(
        s.provider.renew(&mut tokens, &renewed, Duration::from_secs(3600)).await,
        Err(ProviderError::NotFound)
    ));
    Ok(())
}

#[tokio::test]
async fn failed_validation_handshake_creates_no_subscription() -> Result<()> {
    let s = setup_with(MicrosoftConfig { validation_timeout: Duration::from_millis(300), ..Default::default() })?;
    let mut tokens = connect(&s).await?;
    let receiver = RecordingReceiver::start_graph()?;
    for reply in [ValidationReply::Wrong, ValidationReply::Ignore, ValidationReply::Delayed(Duration::from_secs(2))] {
        receiver.set_validation(reply);
        let err = s.provider.watch(&mut tokens, "primary", &watch_request(&receiver, "s3cret")).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Permanent(m) if m.contains("ValidationError")), "{reply:?}: {err:?}");
    }
    assert!(s.emu().subscription_ids().is_empty());
    Ok(())
}

#[tokio::test]
async fn free_busy_skips_free_and_cancelled_events() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu().seed_event(USER, timed("busy", at(7, 9, 0), 60))?;
    let mut free = timed("free", at(7, 11, 0), 60);
    free["showAs"] = json!("free");
    s.emu().seed_event(USER, free)?;
    let mut cancelled = timed("cancelled", at(7, 13, 0), 60);
    cancelled["isCancelled"] = json!(true);
    s.emu().seed_event(USER, cancelled)?;
    let busy = s.provider.free_busy(&mut tokens, &["primary".to_owned()], window()).await?;
    let primary = busy.get("primary").context("primary")?;
    assert_eq!(primary.len(), 1);
    assert_eq!((primary[0].start, primary[0].end), (at(7, 9, 0), at(7, 10, 0)));
    Ok(())
}
