//! Provider event JSON through the same mapping sync uses.
//!
//! The bytes are one page of events (`events.list` for Google, calendarView /
//! delta for Graph). The mapping must answer an error or, for a page it
//! takes, account for every entry (removed or changed, in order, ids kept)
//! and report our own-event marker exactly when the page carries it.

use calendar_provider::{ExternalEvent, OwnEventMarker};
use serde_json::Value;

/// Maps `data` as a Google `events.list` page.
///
/// # Panics
/// When the mapping panics or loses, reorders or invents events.
pub fn google_event(data: &[u8]) {
    let Ok((removed, changed)) = providers_google::fuzzing::map_events_page(data) else { return };
    // serde skips unknown fields without checking their text, so a page it maps need not be valid JSON text.
    let Ok(page) = serde_json::from_slice::<Value>(data) else { return };
    let items = page.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    let (gone, kept): (Vec<&Value>, Vec<&Value>) =
        items.iter().partition(|i| i.get("status").and_then(Value::as_str) == Some("cancelled"));
    assert_eq!(ids(&gone), removed, "cancelled events are the removed ones, in order");
    assert_eq!(ids(&kept), changed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), "changed events keep their ids");
    for (item, event) in kept.iter().zip(&changed) {
        let private = item.pointer("/extendedProperties/private");
        let tag = |key: &str| private.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_owned);
        let marker = tag(providers_google::TENANT_KEY)
            .zip(tag(providers_google::BOOKING_KEY))
            .map(|(tenant_id, booking_id)| OwnEventMarker { tenant_id, booking_id });
        assert_eq!(event.own, marker, "{}: own-event marker", event.id);
        if item.get("transparency").and_then(Value::as_str) == Some("transparent") {
            assert!(!event.blocks_time, "{}: a transparent event blocks time", event.id);
        }
        check_timing(event);
    }
}

/// Maps `data` as a Graph calendarView / delta page.
///
/// # Panics
/// When the mapping panics or loses, reorders or invents events.
pub fn graph_event(data: &[u8]) {
    let Ok((removed, changed)) = providers_outlook::fuzzing::map_events_page(data) else { return };
    // serde skips unknown fields without checking their text, so a page it maps need not be valid JSON text.
    let Ok(page) = serde_json::from_slice::<Value>(data) else { return };
    let items = page.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let gone = |i: &&Value| {
        i.get("@removed").is_some_and(|r| !r.is_null()) || i.get("isCancelled").and_then(Value::as_bool) == Some(true)
    };
    let removed_items: Vec<&Value> = items.iter().filter(gone).collect();
    let master = |i: &&Value| i.get("type").and_then(Value::as_str) == Some("seriesMaster");
    let kept: Vec<&Value> = items.iter().filter(|i| !gone(i) && !master(i)).collect();
    assert_eq!(ids(&removed_items), removed, "removed and cancelled events are the removed ones, in order");
    assert_eq!(ids(&kept), changed.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), "changed events keep their ids");
    for (item, event) in kept.iter().zip(&changed) {
        if matches!(item.get("showAs").and_then(Value::as_str), Some("free" | "workingElsewhere")) {
            assert!(!event.blocks_time, "{}: a free event blocks time", event.id);
        }
        if let Some(tx) = item.get("transactionId").and_then(Value::as_str) {
            let tagged =
                item.get("singleValueExtendedProperties").and_then(Value::as_array).is_some_and(|p| !p.is_empty());
            if !tagged {
                assert_eq!(
                    event.own,
                    providers_outlook::marker_from_transaction_id(tx),
                    "{}: own-event marker",
                    event.id
                );
            }
        }
        check_timing(event);
    }
}

fn ids(items: &[&Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.get("id").and_then(Value::as_str).expect("a mapped event has a string id").to_owned())
        .collect()
}

/// The mapped times are usable: RFC 3339 text of a timed event parses back to the same instant.
fn check_timing(event: &ExternalEvent) {
    if let calendar_provider::EventTiming::Timed { start, end } = &event.timing {
        for t in [start, end] {
            let text = t.to_rfc3339();
            let back = chrono::DateTime::parse_from_rfc3339(&text).map(|d| d.to_utc());
            assert_eq!(back.as_ref(), Ok(t), "{}: instant {text} does not round-trip", event.id);
        }
    }
}
