//! Incoming webhook traffic: Google push headers, Graph notification bodies and
//! the Graph validation query string.
//!
//! The first byte picks the parser, the rest is its input. Each must answer an
//! error or a value that holds together: a Google notification has the headers
//! it was read from and verifies against a channel with exactly those ids and
//! token, and against no other token; a Graph notification verifies only with
//! its own `clientState`; a validation token survives being URL-encoded.

use calendar_provider::WatchChannel;
use providers_google::{PushNotification, ResourceState};
use providers_outlook::{NotificationKind, parse_notifications, validation_token};
use secrecy::SecretString;

/// Feeds the tail of `data` to one of the webhook parsers, chosen by the first byte.
///
/// # Panics
/// When a parser panics or its answer does not hold together.
pub fn webhook_parsing(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => google_headers(rest),
        1 => graph_body(rest),
        2 => graph_query(&String::from_utf8_lossy(rest)),
        _ => graph_token_round_trip(&String::from_utf8_lossy(rest)),
    }
}

fn channel(id: &str, resource: &str, token: &str) -> WatchChannel {
    WatchChannel {
        channel_id: id.to_owned(),
        resource_id: resource.to_owned(),
        token: SecretString::from(token.to_owned()),
        expires_at: None,
    }
}

/// Lines `Name: value`, looked up case-insensitively, the first one winning (as a framework would).
fn google_headers(raw: &[u8]) {
    let text = String::from_utf8_lossy(raw);
    let headers: Vec<(&str, &str)> =
        text.split('\n').filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let lookup = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| (*v).to_owned());
    let Ok(n) = PushNotification::from_headers(lookup) else { return };
    assert_eq!(Some(&n.channel_id), lookup("X-Goog-Channel-ID").as_ref());
    assert_eq!(Some(&n.resource_id), lookup("X-Goog-Resource-ID").as_ref());
    assert_eq!(n.token, lookup("X-Goog-Channel-Token"));
    let state = match n.state {
        ResourceState::Sync => "sync",
        ResourceState::Exists => "exists",
        ResourceState::NotExists => "not_exists",
    };
    assert_eq!(lookup("X-Goog-Resource-State").as_deref(), Some(state));
    let token = n.token.clone().unwrap_or_default();
    assert!(
        n.verify(&channel(&n.channel_id, &n.resource_id, &token)),
        "a notification must verify against its own channel"
    );
    assert!(!n.verify(&channel(&n.channel_id, &n.resource_id, &format!("{token}x"))), "verified with a wrong token");
    assert!(
        !n.verify(&channel(&format!("{}x", n.channel_id), &n.resource_id, &token)),
        "verified with a wrong channel"
    );
}

fn graph_body(body: &[u8]) {
    let Ok(notifications) = parse_notifications(body) else { return };
    // serde skips unknown fields without checking their text, so a body it reads need not be valid JSON text.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let entries = value.get("value").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
    assert_eq!(notifications.len(), entries, "one notification per entry");
    for n in notifications {
        match &n.client_state {
            Some(state) => {
                assert!(n.verify(&channel(&n.subscription_id, "", state)), "must verify with its own clientState");
                assert!(
                    !n.verify(&channel(&n.subscription_id, "", &format!("{state}x"))),
                    "verified with a wrong secret"
                );
            }
            None => assert!(!n.verify(&channel(&n.subscription_id, "", "")), "verified without a clientState"),
        }
        if let NotificationKind::Lifecycle(event) = &n.kind {
            let _ = event.action();
        }
    }
}

fn graph_query(query: &str) {
    let token = validation_token(query);
    // A framework hands over the query without fragment, whitespace or controls (the URL parser drops those).
    if query.chars().any(|c| c == '#' || c <= ' ') {
        return;
    }
    let expected = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned());
    assert_eq!(token, expected, "the validationToken of {query:?}");
}

fn graph_token_round_trip(token: &str) {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("validationToken", token).finish();
    assert_eq!(validation_token(&query).as_deref(), Some(token), "the token of {query:?}");
}
