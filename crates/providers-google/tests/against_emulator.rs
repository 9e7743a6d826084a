//! `GoogleProvider` against the in-process Google emulator: OAuth, events, sync, faults, push.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use calendar_provider::{
    CalendarProvider, EventTiming, OutgoingEvent, PkceVerifier, ProviderError, SyncBatch, SyncCursor, SyncOutcome,
    TimeWindow, TokenSet, WatchRequest,
};
use chrono::{DateTime, TimeZone, Utc};
use emulators::google::{ConsentMode, FaultKind};
use emulators::receiver::RecordingReceiver;
use emulators::{Emulator, EmulatorConfig, EmulatorHandle};
use providers_google::{AuthorizationResponse, CallbackError, GoogleConfig, GoogleProvider, PushNotification};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

const USER: &str = "user@example.com";
const REDIRECT: &str = "http://127.0.0.1:9/api/google-calendar/callback";

struct Setup {
    emu: EmulatorHandle,
    provider: GoogleProvider,
}

fn provider_for(emu: &EmulatorHandle, secret: &str) -> Result<GoogleProvider> {
    let urls = emu.google_urls();
    let client_id = emulators::google::GoogleConfig::default().client_id;
    let mut config = GoogleConfig::new(client_id, secret, REDIRECT);
    config.auth_url = urls.auth_url;
    config.token_url = urls.token_url;
    config.revoke_url = urls.revoke_url;
    config.api_base_url = urls.api_base_url;
    config.backoff_base = Duration::from_millis(10);
    config.max_retry_wait = Duration::from_secs(2);
    Ok(GoogleProvider::new(config)?)
}

fn setup_with(google: emulators::google::GoogleConfig) -> Result<Setup> {
    let secret = google.client_secret.clone();
    let emu = Emulator::start(EmulatorConfig { google_port: 0, google })?;
    let provider = provider_for(&emu, &secret)?;
    Ok(Setup { emu, provider })
}

fn setup() -> Result<Setup> {
    setup_with(emulators::google::GoogleConfig::default())
}

/// Follows the authorize URL like a browser would, without following the redirect back to us.
async fn consent(url: &str) -> Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let resp = client.get(url).send().await?;
    if resp.status() != reqwest::StatusCode::FOUND {
        bail!("consent answered {}", resp.status());
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

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).single().unwrap_or_default()
}

fn window() -> TimeWindow {
    let start = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default();
    TimeWindow::new(start, start + chrono::Duration::days(60)).unwrap_or_else(|| unreachable!())
}

fn timed(summary: &str, start: DateTime<Utc>, minutes: i64) -> serde_json::Value {
    json!({
        "summary": summary,
        "start": {"dateTime": start.to_rfc3339()},
        "end": {"dateTime": (start + chrono::Duration::minutes(minutes)).to_rfc3339()},
    })
}

async fn full_sync(s: &Setup, tokens: &mut TokenSet) -> Result<SyncBatch> {
    match s.provider.sync(tokens, "primary", SyncCursor::Full(window())).await? {
        SyncOutcome::Changes(batch) => Ok(batch),
        SyncOutcome::CursorExpired => bail!("a full sync cannot expire"),
    }
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

#[tokio::test]
async fn oauth_round_trip_with_pkce_gives_offline_tokens() -> Result<()> {
    let s = setup()?;
    let request = s.provider.authorize("state-123")?;
    for expected in ["code_challenge_method=S256", "access_type=offline", "prompt=consent", "state=state-123"] {
        assert!(request.url.contains(expected), "{expected} missing from {}", request.url);
    }
    let tokens = connect(&s).await?;
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.expires_at > Utc::now());
    assert!(tokens.scopes.iter().any(|sc| sc.ends_with("calendar.events")));
    // Revoke on disconnect: the refresh token dies, and a second revoke is still fine.
    s.provider.revoke(&tokens).await?;
    assert!(matches!(s.provider.refresh(&tokens).await, Err(ProviderError::Revoked(_))));
    s.provider.revoke(&tokens).await?;
    Ok(())
}

#[tokio::test]
async fn wrong_pkce_verifier_and_reused_code_are_refused() -> Result<()> {
    let s = setup()?;
    let request = s.provider.authorize("s")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    let wrong = PkceVerifier::new("x".repeat(64));
    let err = s.provider.exchange_code(&callback.code, &wrong).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Permanent(m) if m.contains("invalid_grant")), "{err:?}");
    // The code was consumed by the failed attempt: single use.
    let err = s.provider.exchange_code(&callback.code, &request.pkce_verifier).await.unwrap_err();
    assert!(matches!(err, ProviderError::Permanent(_)), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn bad_client_secret_is_invalid_client() -> Result<()> {
    let s = setup()?;
    let bad = provider_for(&s.emu, "not-the-secret")?;
    let request = bad.authorize("s")?;
    let callback = AuthorizationResponse::from_query(&consent(&request.url).await?)?;
    let err = bad.exchange_code(&callback.code, &request.pkce_verifier).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Permanent(m) if m.contains("invalid_client")), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn denied_consent_comes_back_as_access_denied_with_state() -> Result<()> {
    let s = setup()?;
    s.emu.google().set_consent(ConsentMode::AutoDeny);
    let request = s.provider.authorize("state-9")?;
    let err = AuthorizationResponse::from_query(&consent(&request.url).await?).unwrap_err();
    assert_eq!(err, CallbackError::Denied { error: "access_denied".into(), state: Some("state-9".into()) });
    Ok(())
}

#[tokio::test]
async fn expired_access_token_is_refreshed_once_and_the_refresh_token_kept() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let before = tokens.clone();
    s.emu.google().seed_event(USER, timed("dentist", at(9, 0), 30))?;
    s.emu.google().expire_access_tokens();
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 1);
    assert!(!tokens.same_tokens(&before), "the caller must see the new token set");
    assert_ne!(tokens.access_token.expose_secret(), before.access_token.expose_secret());
    assert_eq!(
        tokens.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
        before.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()),
        "Google does not rotate refresh tokens"
    );
    // Proactive refresh: a token set that is about to expire is refreshed before the call.
    tokens.expires_at = Utc::now();
    let old = tokens.access_token.expose_secret().to_owned();
    full_sync(&s, &mut tokens).await?;
    assert_ne!(tokens.access_token.expose_secret(), old);
    Ok(())
}

#[tokio::test]
async fn access_token_expiring_between_two_pages_is_refreshed_mid_sync() -> Result<()> {
    let s = setup_with(emulators::google::GoogleConfig { max_page_size: 2, ..Default::default() })?;
    let mut tokens = connect(&s).await?;
    for i in 0..5 {
        s.emu.google().seed_event(USER, timed(&format!("e{i}"), at(8, 0) + chrono::Duration::days(i), 30))?;
    }
    let before = tokens.clone();
    // Page 1 answers normally, page 2 finds the token expired.
    s.emu.google().inject_fault(FaultKind::Slow { delay_ms: 0 }, 1);
    s.emu.google().inject_fault(FaultKind::Unauthorized, 1);
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 5);
    assert!(!tokens.same_tokens(&before));
    Ok(())
}

#[tokio::test]
async fn revoked_grant_is_reported_as_revoked_without_looping() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu.google().revoke_all_grants();
    let calls = s.emu.google().api_request_count();
    let err = full_sync(&s, &mut tokens).await.unwrap_err();
    assert!(matches!(err.downcast_ref::<ProviderError>(), Some(ProviderError::Revoked(_))), "{err:?}");
    assert_eq!(s.emu.google().api_request_count(), calls + 1, "one 401, one refresh, then stop");
    Ok(())
}

#[tokio::test]
async fn full_sync_pages_then_incremental_sync_sees_changes_and_deletions() -> Result<()> {
    let s = setup_with(emulators::google::GoogleConfig { max_page_size: 2, ..Default::default() })?;
    let mut tokens = connect(&s).await?;
    let mut ids = Vec::new();
    for i in 0..7 {
        let e = s.emu.google().seed_event(USER, timed(&format!("e{i}"), at(8, 0) + chrono::Duration::days(i), 30))?;
        ids.push(e["id"].as_str().unwrap_or_default().to_owned());
    }
    let calls = s.emu.google().api_request_count();
    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 7);
    assert_eq!(s.emu.google().api_request_count() - calls, 4, "7 events in pages of 2");

    let added = s.emu.google().seed_event(USER, timed("new", at(15, 0), 60))?;
    s.emu.google().delete_event(USER, &ids[0])?;
    let SyncOutcome::Changes(delta) =
        s.provider.sync(&mut tokens, "primary", SyncCursor::Incremental(batch.next_cursor.clone())).await?
    else {
        bail!("cursor should be valid");
    };
    assert_eq!(delta.changed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [added["id"].as_str().unwrap_or("")]);
    assert_eq!(delta.removed, [ids[0].clone()]);
    Ok(())
}

#[tokio::test]
async fn expired_sync_token_asks_for_a_full_sync_which_then_works() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu.google().seed_event(USER, timed("a", at(9, 0), 30))?;
    let batch = full_sync(&s, &mut tokens).await?;
    s.emu.google().invalidate_sync_tokens();
    let outcome = s.provider.sync(&mut tokens, "primary", SyncCursor::Incremental(batch.next_cursor)).await?;
    assert_eq!(outcome, SyncOutcome::CursorExpired);
    assert_eq!(full_sync(&s, &mut tokens).await?.changed.len(), 1);
    Ok(())
}

#[tokio::test]
async fn recurring_series_with_a_moved_and_a_cancelled_instance() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let emu = s.emu.google();
    let master = emu.seed_event(
        USER,
        json!({
            "summary": "weekly 1:1",
            "start": {"dateTime": "2030-01-07T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2030-01-07T10:30:00+01:00", "timeZone": "Europe/Berlin"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=5"],
        }),
    )?;
    let master_id = master["id"].as_str().unwrap_or_default().to_owned();
    let moved_id = format!("{master_id}_20300114T090000Z");
    let cancelled_id = format!("{master_id}_20300128T090000Z");
    emu.patch_event(
        USER,
        &moved_id,
        json!({"start": {"dateTime": "2030-01-15T14:00:00+01:00", "timeZone": "Europe/Berlin"},
               "end": {"dateTime": "2030-01-15T14:30:00+01:00", "timeZone": "Europe/Berlin"}}),
    )?;
    emu.delete_event(USER, &cancelled_id)?;

    let batch = full_sync(&s, &mut tokens).await?;
    assert_eq!(batch.changed.len(), 4, "{:#?}", batch.changed);
    assert!(batch.changed.iter().all(|e| e.recurring_event_id.as_deref() == Some(master_id.as_str())));
    assert!(!batch.changed.iter().any(|e| e.id == cancelled_id));
    let moved = batch.changed.iter().find(|e| e.id == moved_id).context("moved instance listed")?;
    assert_eq!(
        moved.timing,
        EventTiming::Timed {
            start: Utc.with_ymd_and_hms(2030, 1, 15, 13, 0, 0).single().unwrap_or_default(),
            end: Utc.with_ymd_and_hms(2030, 1, 15, 13, 30, 0).single().unwrap_or_default(),
        }
    );

    // Cancelling one more instance shows up as a removal in the next incremental round.
    let third = format!("{master_id}_20300121T090000Z");
    emu.delete_event(USER, &third)?;
    let SyncOutcome::Changes(delta) =
        s.provider.sync(&mut tokens, "primary", SyncCursor::Incremental(batch.next_cursor)).await?
    else {
        bail!("cursor valid");
    };
    assert!(delta.removed.contains(&third), "{delta:?}");
    Ok(())
}

#[tokio::test]
async fn all_day_transparent_declined_and_own_events_are_mapped() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let emu = s.emu.google();
    let all_day = emu.seed_event(
        USER,
        json!({"summary": "holiday", "start": {"date": "2030-01-10"}, "end": {"date": "2030-01-11"}}),
    )?;
    let mut free = timed("focus (free)", at(11, 0), 60);
    free["transparency"] = json!("transparent");
    let free = emu.seed_event(USER, free)?;
    let mut declined = timed("declined meeting", at(12, 0), 60);
    declined["attendees"] = json!([{"email": USER, "self": true, "responseStatus": "declined"}]);
    let declined = emu.seed_event(USER, declined)?;
    let own = s.provider.create_event(&mut tokens, "primary", &booking("b-42", at(14, 0))).await?;

    let batch = full_sync(&s, &mut tokens).await?;
    let find = |id: &serde_json::Value| batch.changed.iter().find(|e| Some(e.id.as_str()) == id.as_str());
    let day = find(&all_day["id"]).context("all-day listed")?;
    assert!(day.blocks_time);
    assert!(matches!(day.timing, EventTiming::AllDay { start, end } if end - start == chrono::Duration::days(1)));
    assert!(!find(&free["id"]).context("transparent listed")?.blocks_time);
    assert!(!find(&declined["id"]).context("declined listed")?.blocks_time);
    let ours = batch.changed.iter().find(|e| e.id == own.id).context("own event listed")?;
    let marker = ours.own.as_ref().context("own marker")?;
    assert_eq!((marker.tenant_id.as_str(), marker.booking_id.as_str()), ("t1", "b-42"));
    Ok(())
}

#[tokio::test]
async fn duplicate_insert_after_a_lost_answer_creates_no_second_event() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let first = s.provider.create_event(&mut tokens, "primary", &booking("b-1", at(9, 0))).await?;
    // The retry (our answer was lost) hits 409 and returns the same event.
    let again = s.provider.create_event(&mut tokens, "primary", &booking("b-1", at(9, 0))).await?;
    assert_eq!(first.id, again.id);
    assert_eq!(s.emu.google().stored_event_count(USER), 1);
    // A retry carrying a newer time (rescheduled meanwhile) brings the event up to date.
    let moved = s.provider.create_event(&mut tokens, "primary", &booking("b-1", at(11, 0))).await?;
    assert_eq!(moved.id, first.id);
    let stored = s.emu.google().stored_event(USER, &first.id).context("stored")?;
    assert_eq!(stored["start"]["dateTime"], json!("2030-01-07T12:00:00+01:00"));
    assert_eq!(s.emu.google().stored_event_count(USER), 1);

    // Reschedule with the etag, then a stale etag is a conflict.
    let updated = s
        .provider
        .update_event(&mut tokens, "primary", &first.id, &booking("b-1", at(13, 0)), moved.etag.clone())
        .await?;
    let stale =
        s.provider.update_event(&mut tokens, "primary", &first.id, &booking("b-1", at(15, 0)), moved.etag).await;
    assert!(matches!(stale, Err(ProviderError::Conflict(_))), "{stale:?}");
    assert_ne!(updated.etag, None);

    // Delete twice and delete unknown: all "already gone" is success.
    s.provider.delete_event(&mut tokens, "primary", &first.id).await?;
    s.provider.delete_event(&mut tokens, "primary", &first.id).await?;
    s.provider.delete_event(&mut tokens, "primary", "abcdefghij").await?;
    Ok(())
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_honoured() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu.google().inject_fault(FaultKind::RateLimit { retry_after_secs: Some(1) }, 1);
    let started = Instant::now();
    full_sync(&s, &mut tokens).await?;
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());

    // A Retry-After longer than the configured in-call wait goes back to the sync engine.
    s.emu.google().inject_fault(FaultKind::RateLimit { retry_after_secs: Some(120) }, 1);
    let err = full_sync(&s, &mut tokens).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<ProviderError>(),
        Some(&ProviderError::RateLimited { retry_after: Some(Duration::from_secs(120)) })
    );

    // 5xx without Retry-After: backoff and retry.
    s.emu.google().inject_fault(FaultKind::Unavailable, 2);
    full_sync(&s, &mut tokens).await?;
    Ok(())
}

#[tokio::test]
async fn push_channel_delivers_sync_then_exists_with_google_headers() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    let receiver = RecordingReceiver::start()?;
    let request = WatchRequest {
        channel_id: "9a3f0c1e-5a7b-4d2c-8e6f-0b1c2d3e4f50".into(),
        address: format!("{}/api/calendar/webhooks/google", receiver.url()),
        token: SecretString::from("secret-token-1"),
        ttl: Duration::from_secs(3600),
    };
    let channel = s.provider.watch(&mut tokens, "primary", &request).await?;
    let expires = channel.expires_at.context("expiration")?;
    assert!(expires > Utc::now() + chrono::Duration::minutes(59) && expires <= Utc::now() + chrono::Duration::hours(1));

    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    let first = got.first().context("sync message arrives")?;
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/api/calendar/webhooks/google");
    assert_eq!(first.header("x-goog-resource-state"), Some("sync"));
    assert_eq!(first.header("x-goog-message-number"), Some("1"));
    assert!(first.header("x-goog-resource-uri").is_some_and(|u| u.contains("/calendars/primary/events")));
    assert!(first.header("x-goog-channel-expiration").is_some_and(|e| e.ends_with("GMT")));
    assert!(first.body.is_empty());

    s.emu.google().seed_event(USER, timed("new meeting", at(16, 0), 30))?;
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let second = got.get(1).context("exists message arrives")?;
    let note = PushNotification::from_headers(|name| second.header(name).map(str::to_owned))?;
    assert_eq!(note.state, providers_google::ResourceState::Exists);
    assert!(note.message_number > Some(1));
    assert!(note.verify(&channel), "channel id, resource id and token match");

    s.provider.unwatch(&mut tokens, &channel).await?;
    assert!(s.emu.google().channel_ids().is_empty());
    s.provider.unwatch(&mut tokens, &channel).await?; // already stopped: fine
    Ok(())
}

#[tokio::test]
async fn free_busy_skips_transparent_events() -> Result<()> {
    let s = setup()?;
    let mut tokens = connect(&s).await?;
    s.emu.google().seed_event(USER, timed("busy", at(9, 0), 60))?;
    s.emu.google().seed_event(USER, timed("overlapping", at(9, 30), 60))?;
    let mut free = timed("free", at(13, 0), 60);
    free["transparency"] = json!("transparent");
    s.emu.google().seed_event(USER, free)?;
    let busy = s.provider.free_busy(&mut tokens, &["primary".to_owned()], window()).await?;
    let primary = busy.get("primary").context("primary answered")?;
    assert_eq!(primary.len(), 1);
    assert_eq!((primary[0].start, primary[0].end), (at(9, 0), at(10, 30)));
    let missing = s.provider.free_busy(&mut tokens, &["nobody@example.com".to_owned()], window()).await;
    assert_eq!(missing, Err(ProviderError::NotFound));
    Ok(())
}
