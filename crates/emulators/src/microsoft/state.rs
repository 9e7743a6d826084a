//! The emulator's in-memory Microsoft tenant: grants, tokens, mailboxes with events, delta rounds,
//! subscriptions and injected faults.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use super::notify::Delivery;
use super::time::{bounds, date_time_time_zone, occurrence_starts, parse_when, utc_text, validate_recurrence};
use super::{GraphFault, MicrosoftConfig};

/// A Graph error: HTTP status, `error.code` and `error.message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: &'static str,
    /// `error.message`.
    pub message: String,
}

impl GraphError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        GraphError { status, code, message: message.into() }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "ErrorInvalidRequest", message)
    }
    pub(crate) fn not_found() -> Self {
        Self::new(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    }
    pub(crate) fn unauthenticated() -> Self {
        Self::new(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    }
    pub(crate) fn sync_state_not_found() -> Self {
        Self::new(410, "syncStateNotFound", "The sync state generation is not found or has expired.")
    }
}

pub(crate) type GraphResult<T> = Result<T, GraphError>;

pub(crate) fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A GUID-shaped random id.
pub(crate) fn random_guid() -> String {
    let hex: String = (0..32).map(|_| format!("{:x}", rand::thread_rng().gen_range(0..16u8))).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A GUID-shaped id derived from `seed` (stable user ids).
fn derived_guid(seed: &str) -> String {
    let hex: String = Sha256::digest(seed.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn short_hash(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(text.as_bytes())[..12])
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) challenge: Option<(String, String)>,
    pub(crate) user: String,
    pub(crate) expires: Instant,
    pub(crate) redeemed: bool,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) user: String,
    pub(crate) client_id: String,
    pub(crate) scopes: Vec<String>,
    /// The AADSTS code a dead token answers with (70008 expired/revoked, 50173 sessions revoked).
    pub(crate) dead: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub(crate) user: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: Instant,
    pub(crate) revoked: bool,
}

/// One stored event: a single instance or a series master with its exceptions and cancelled occurrences.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) json: Value,
    /// Occurrence id → the properties patched on that occurrence.
    pub(crate) exceptions: BTreeMap<String, Map<String, Value>>,
    /// Occurrence ids deleted from the series.
    pub(crate) cancelled: BTreeSet<String>,
}

/// A user's mailbox (one calendar).
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub(crate) user_id: String,
    pub(crate) calendar_id: String,
    pub(crate) events: BTreeMap<String, StoredEvent>,
}

/// The state a delta token stands for: the window and what the client has seen (id → content hash).
#[derive(Debug, Clone)]
pub(crate) struct DeltaState {
    pub(crate) user: String,
    pub(crate) window: (DateTime<Utc>, DateTime<Utc>),
    pub(crate) seen: BTreeMap<String, String>,
    pub(crate) created: Instant,
}

/// The rest of a delta round being paged out.
#[derive(Debug, Clone)]
pub(crate) struct DeltaPages {
    pub(crate) user: String,
    pub(crate) items: VecDeque<Value>,
    pub(crate) page_size: usize,
    pub(crate) final_token: String,
}

/// A change-notification subscription.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) resource: String,
    pub(crate) change_types: Vec<String>,
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) expires: DateTime<Utc>,
    pub(crate) application_id: String,
}

impl Subscription {
    pub(crate) fn to_json(&self, graph_base: &str) -> Value {
        json!({
            "@odata.context": format!("{graph_base}/$metadata#subscriptions/$entity"),
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_types.join(","),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": utc_text(self.expires),
            "creatorId": derived_guid(&self.user),
            "latestSupportedTlsVersion": "v1_2",
            "notificationQueryOptions": null,
            "includeResourceData": false,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
        })
    }
}

/// Everything the emulator holds.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: MicrosoftConfig,
    pub(crate) graph_base: String,
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) mailboxes: BTreeMap<String, Mailbox>,
    pub(crate) delta_tokens: HashMap<String, DeltaState>,
    pub(crate) delta_pages: HashMap<String, DeltaPages>,
    pub(crate) subscriptions: BTreeMap<String, Subscription>,
    pub(crate) faults: VecDeque<GraphFault>,
    pub(crate) graph_requests: u64,
    notify: UnboundedSender<Delivery>,
}

/// Properties a client may not set.
const READ_ONLY: &[&str] = &[
    "id",
    "type",
    "seriesMasterId",
    "originalStart",
    "changeKey",
    "@odata.etag",
    "createdDateTime",
    "lastModifiedDateTime",
    "iCalUId",
    "webLink",
    "isOrganizer",
    "@odata.context",
];

impl State {
    pub(crate) fn new(config: MicrosoftConfig, graph_base: String, notify: UnboundedSender<Delivery>) -> Self {
        State {
            config,
            graph_base,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            mailboxes: BTreeMap::new(),
            delta_tokens: HashMap::new(),
            delta_pages: HashMap::new(),
            subscriptions: BTreeMap::new(),
            faults: VecDeque::new(),
            graph_requests: 0,
            notify,
        }
    }

    pub(crate) fn ensure_mailbox(&mut self, user: &str) -> &mut Mailbox {
        self.mailboxes.entry(user.to_owned()).or_insert_with(|| Mailbox {
            user_id: derived_guid(user),
            calendar_id: format!("AAMkCal{}", short_hash(user).replace(['-', '_'], "0")),
            events: BTreeMap::new(),
        })
    }

    /// Mints an access token (and a refresh token when `offline`).
    pub(crate) fn issue(&mut self, user: &str, client_id: &str, scopes: &[String], offline: bool) -> (String, String) {
        self.ensure_mailbox(user);
        let access = format!("EwB{}", random_string(60));
        self.access_tokens.insert(
            access.clone(),
            AccessToken {
                user: user.to_owned(),
                scopes: scopes.to_vec(),
                expires: Instant::now() + self.config.access_token_ttl,
                revoked: false,
            },
        );
        let refresh = if offline {
            let refresh = format!("M.C5{}", random_string(80));
            self.refresh_tokens.insert(
                refresh.clone(),
                RefreshGrant {
                    user: user.to_owned(),
                    client_id: client_id.to_owned(),
                    scopes: scopes.to_vec(),
                    dead: None,
                },
            );
            refresh
        } else {
            String::new()
        };
        (access, refresh)
    }

    pub(crate) fn revoke_all(&mut self, aadsts: u32) {
        for g in self.refresh_tokens.values_mut() {
            g.dead.get_or_insert(aadsts);
        }
        for t in self.access_tokens.values_mut() {
            t.revoked = true;
        }
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        let now = Instant::now();
        for t in self.access_tokens.values_mut() {
            t.expires = now;
        }
    }

    /// The user behind a bearer token; `write` needs `Calendars.ReadWrite`, reads accept `Calendars.Read` too.
    pub(crate) fn authenticate(&self, bearer: Option<&str>, write: bool) -> GraphResult<String> {
        let token = bearer.and_then(|t| self.access_tokens.get(t)).ok_or_else(GraphError::unauthenticated)?;
        if token.revoked || token.expires <= Instant::now() {
            return Err(GraphError::unauthenticated());
        }
        let has = |name: &str| {
            token.scopes.iter().any(|s| {
                let short = s.rsplit('/').next().unwrap_or(s);
                short.eq_ignore_ascii_case(name)
            })
        };
        let ok = has("Calendars.ReadWrite") || (!write && has("Calendars.Read"));
        if !ok {
            return Err(GraphError::new(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        }
        Ok(token.user.clone())
    }

    fn mailbox(&self, user: &str) -> GraphResult<&Mailbox> {
        self.mailboxes.get(user).ok_or_else(GraphError::not_found)
    }

    /// Checks a calendar id of `user` (`None` = the default calendar).
    pub(crate) fn check_calendar(&self, user: &str, calendar_id: Option<&str>) -> GraphResult<()> {
        match calendar_id {
            Some(id) if self.mailbox(user)?.calendar_id != id => Err(GraphError::not_found()),
            _ => Ok(()),
        }
    }

    pub(crate) fn calendar_json(&mut self, user: &str) -> Value {
        let mailbox = self.ensure_mailbox(user);
        json!({
            "id": mailbox.calendar_id,
            "name": "Calendar",
            "isDefaultCalendar": true,
            "canEdit": true,
            "owner": {"name": user, "address": user},
        })
    }

    /// `POST /me/events`: a new event, or the existing one when `transactionId` was seen before (B2).
    pub(crate) fn create_event(&mut self, user: &str, body: Value) -> GraphResult<Value> {
        let Value::Object(mut props) = body else {
            return Err(GraphError::invalid("The request body must be a JSON object."));
        };
        if let Some(tx) = props.get("transactionId").and_then(Value::as_str) {
            let mailbox = self.ensure_mailbox(user);
            if let Some(existing) =
                mailbox.events.values().find(|e| e.json.get("transactionId").and_then(Value::as_str) == Some(tx))
            {
                return Ok(existing.json.clone());
            }
        }
        for key in READ_ONLY {
            props.remove(*key);
        }
        let now = utc_text(Utc::now());
        let id = format!("AAMkAD{}", random_string(40));
        let mut event = Map::new();
        let defaults = [
            ("subject", json!("")),
            ("body", json!({"contentType": "text", "content": ""})),
            ("showAs", json!("busy")),
            ("isAllDay", json!(false)),
            ("isCancelled", json!(false)),
            ("sensitivity", json!("normal")),
            ("importance", json!("normal")),
            ("categories", json!([])),
            ("isReminderOn", json!(true)),
            ("reminderMinutesBeforeStart", json!(15)),
            ("responseStatus", json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"})),
            ("organizer", json!({"emailAddress": {"name": user, "address": user}})),
            ("attendees", json!([])),
            ("recurrence", Value::Null),
        ];
        for (k, v) in defaults {
            event.insert(k.to_owned(), v);
        }
        event.extend(props);
        event.insert("id".into(), json!(id));
        event.insert("createdDateTime".into(), json!(now));
        event.insert("iCalUId".into(), json!(format!("040000008200E00074C5B7101A82E008{}", random_string(24))));
        event.insert("isOrganizer".into(), json!(true));
        event.insert("webLink".into(), json!(format!("https://outlook.office365.com/owa/?itemid={id}")));
        let mut event = Value::Object(event);
        validate_event(&event)?;
        let recurring = event.get("recurrence").is_some_and(|r| !r.is_null());
        event["type"] = json!(if recurring { "seriesMaster" } else { "singleInstance" });
        touch(&mut event);
        self.ensure_mailbox(user).events.insert(
            id.clone(),
            StoredEvent { json: event.clone(), exceptions: BTreeMap::new(), cancelled: BTreeSet::new() },
        );
        self.notify_change(user, &id, "created", &event);
        Ok(event)
    }

    /// `GET /me/events/{id}` for a stored event or one occurrence of a series.
    pub(crate) fn get_event(&self, user: &str, id: &str) -> GraphResult<Value> {
        let mailbox = self.mailbox(user)?;
        if let Some(e) = mailbox.events.get(id) {
            return Ok(e.json.clone());
        }
        let (master_id, _) = split_occurrence(id).ok_or_else(GraphError::not_found)?;
        let master = mailbox.events.get(master_id).ok_or_else(GraphError::not_found)?;
        occurrence(master, id).ok_or_else(GraphError::not_found)
    }

    /// `PATCH /me/events/{id}`: replaces the given properties (on an occurrence: stores an exception).
    pub(crate) fn patch_event(
        &mut self,
        user: &str,
        id: &str,
        patch: Value,
        if_match: Option<&str>,
    ) -> GraphResult<Value> {
        let Value::Object(mut patch) = patch else {
            return Err(GraphError::invalid("The request body must be a JSON object."));
        };
        for key in READ_ONLY {
            patch.remove(*key);
        }
        let current = self.get_event(user, id)?;
        if let Some(tag) = if_match
            && tag != "*"
            && current.get("@odata.etag").and_then(Value::as_str) != Some(tag)
        {
            return Err(GraphError::new(412, "ErrorIrresolvableConflict", "The change key does not match."));
        }
        if let Some(tx) = patch.get("transactionId")
            && current.get("transactionId").is_some_and(|c| c != tx)
        {
            return Err(GraphError::invalid("The property 'transactionId' cannot be changed after creation."));
        }
        let mailbox = self.ensure_mailbox(user);
        let (notify_id, updated) = if let Some(stored) = mailbox.events.get_mut(id) {
            let mut next = stored.json.clone();
            for (k, v) in patch {
                next[k.as_str()] = v;
            }
            validate_event(&next)?;
            touch(&mut next);
            stored.json = next.clone();
            (id.to_owned(), next)
        } else {
            let (master_id, _) = split_occurrence(id).ok_or_else(GraphError::not_found)?;
            let master = mailbox.events.get_mut(master_id).ok_or_else(GraphError::not_found)?;
            patch.remove("recurrence");
            let mut overrides = master.exceptions.get(id).cloned().unwrap_or_default();
            overrides.extend(patch);
            let mut candidate = master.clone();
            candidate.exceptions.insert(id.to_owned(), overrides.clone());
            let next = occurrence(&candidate, id).ok_or_else(GraphError::not_found)?;
            validate_event(&next)?;
            master.exceptions.insert(id.to_owned(), overrides);
            touch(&mut master.json);
            (master_id.to_owned(), next)
        };
        self.notify_change(user, &notify_id, "updated", &updated);
        Ok(updated)
    }

    /// `DELETE /me/events/{id}` (an occurrence id removes only that occurrence).
    pub(crate) fn delete_event(&mut self, user: &str, id: &str) -> GraphResult<()> {
        self.get_event(user, id)?;
        let mailbox = self.ensure_mailbox(user);
        let (notify_id, change, json) = if let Some(stored) = mailbox.events.remove(id) {
            (id.to_owned(), "deleted", stored.json)
        } else {
            let (master_id, _) = split_occurrence(id).ok_or_else(GraphError::not_found)?;
            let master = mailbox.events.get_mut(master_id).ok_or_else(GraphError::not_found)?;
            master.cancelled.insert(id.to_owned());
            master.exceptions.remove(id);
            touch(&mut master.json);
            (master_id.to_owned(), "updated", master.json.clone())
        };
        self.notify_change(user, &notify_id, change, &json);
        Ok(())
    }

    /// `GET /me/events`: single instances and series masters, by start.
    pub(crate) fn list_events(&self, user: &str) -> Vec<Value> {
        let mut out: Vec<Value> =
            self.mailboxes.get(user).map(|m| m.events.values().map(|e| e.json.clone()).collect()).unwrap_or_default();
        out.sort_by_key(|e| bounds(e).map(|b| b.0));
        out
    }

    /// Every instance overlapping `[from, to)`: single events, occurrences and exceptions, by start.
    pub(crate) fn calendar_view(&self, user: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Value> {
        let Some(mailbox) = self.mailboxes.get(user) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for stored in mailbox.events.values() {
            if stored.json.get("recurrence").is_some_and(|r| !r.is_null()) {
                let Ok((starts, _)) = occurrence_starts(&stored.json, from, to) else {
                    continue;
                };
                let master_id = stored.json.get("id").and_then(Value::as_str).unwrap_or_default();
                for start in starts {
                    let id = occurrence_id(master_id, start);
                    if let Some(instance) = occurrence(stored, &id) {
                        out.push(instance);
                    }
                }
            } else {
                out.push(stored.json.clone());
            }
        }
        out.retain(|e| bounds(e).is_some_and(|(s, end)| s < to && (end > from || (s == end && s >= from))));
        out.sort_by_key(|e| bounds(e).map(|b| b.0));
        out
    }

    /// Starts a delta round over a window: every current instance, and the delta token it ends with.
    pub(crate) fn start_delta(&mut self, user: &str, window: (DateTime<Utc>, DateTime<Utc>), page: usize) -> String {
        let items = self.calendar_view(user, window.0, window.1);
        let seen = items.iter().map(|e| (event_id(e), content_hash(e))).collect();
        self.queue_round(user, window, seen, items, page)
    }

    /// Continues from a delta token: changed instances whole, vanished ones as `@removed`.
    pub(crate) fn continue_delta(&mut self, user: &str, token: &str, page: usize) -> GraphResult<String> {
        let ttl = self.config.delta_token_ttl;
        let state = match self.delta_tokens.get(token) {
            Some(s) if s.user == user && ttl.is_none_or(|ttl| s.created.elapsed() < ttl) => s.clone(),
            _ => return Err(GraphError::sync_state_not_found()),
        };
        let current = self.calendar_view(user, state.window.0, state.window.1);
        let mut seen = BTreeMap::new();
        let mut items = Vec::new();
        for e in current {
            let (id, hash) = (event_id(&e), content_hash(&e));
            if state.seen.get(&id) != Some(&hash) {
                items.push(e);
            }
            seen.insert(id, hash);
        }
        for id in state.seen.keys().filter(|id| !seen.contains_key(*id)) {
            items.push(json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}}));
        }
        Ok(self.queue_round(user, state.window, seen, items, page))
    }

    fn queue_round(
        &mut self,
        user: &str,
        window: (DateTime<Utc>, DateTime<Utc>),
        seen: BTreeMap<String, String>,
        items: Vec<Value>,
        page_size: usize,
    ) -> String {
        let final_token = random_string(48);
        self.delta_tokens
            .insert(final_token.clone(), DeltaState { user: user.to_owned(), window, seen, created: Instant::now() });
        let skip = random_string(48);
        self.delta_pages.insert(
            skip.clone(),
            DeltaPages { user: user.to_owned(), items: items.into(), page_size: page_size.max(1), final_token },
        );
        skip
    }

    /// One page of a round: the items and either the next `$skiptoken` or the final `$deltatoken`.
    pub(crate) fn delta_page(&mut self, user: &str, skip: &str) -> GraphResult<(Vec<Value>, DeltaLink)> {
        let mut pages = match self.delta_pages.remove(skip) {
            Some(p) if p.user == user => p,
            _ => return Err(GraphError::sync_state_not_found()),
        };
        let take = pages.page_size.min(pages.items.len());
        let items: Vec<Value> = pages.items.drain(..take).collect();
        if pages.items.is_empty() {
            return Ok((items, DeltaLink::Delta(pages.final_token)));
        }
        let next = random_string(48);
        self.delta_pages.insert(next.clone(), pages);
        Ok((items, DeltaLink::Next(next)))
    }

    /// Queues change notifications for `user`'s subscriptions interested in `change`.
    fn notify_change(&mut self, user: &str, event_id: &str, change: &str, event: &Value) {
        let now = Utc::now();
        let Some(user_id) = self.mailboxes.get(user).map(|m| m.user_id.clone()) else {
            return;
        };
        let resource = format!("Users/{user_id}/Events/{event_id}");
        let tenant = self.config.tenant_id.clone();
        for sub in self.subscriptions.values() {
            if sub.user != user || sub.expires <= now || !sub.change_types.iter().any(|c| c == change) {
                continue;
            }
            let body = json!({"value": [{
                "id": null,
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": utc_text(sub.expires),
                "changeType": change,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": event.get("@odata.etag").cloned().unwrap_or(Value::Null),
                    "id": event_id,
                },
                "clientState": sub.client_state,
                "tenantId": tenant,
            }]});
            let _ = self.notify.send(Delivery { url: sub.notification_url.clone(), body });
        }
    }

    /// Queues a lifecycle notification (`reauthorizationRequired`, `subscriptionRemoved`, `missed`).
    pub(crate) fn lifecycle(&mut self, subscription_id: &str, event: &str) -> GraphResult<()> {
        let sub = self.subscriptions.get(subscription_id).cloned().ok_or_else(GraphError::not_found)?;
        let url = sub
            .lifecycle_url
            .clone()
            .ok_or_else(|| GraphError::invalid("The subscription has no lifecycleNotificationUrl."))?;
        let body = json!({"value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": utc_text(sub.expires),
            "tenantId": self.config.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }]});
        if event == "subscriptionRemoved" {
            self.subscriptions.remove(subscription_id);
        }
        let _ = self.notify.send(Delivery { url, body });
        Ok(())
    }
}

/// Where a delta page points next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeltaLink {
    /// `@odata.nextLink` with this `$skiptoken`.
    Next(String),
    /// `@odata.deltaLink` with this `$deltatoken`.
    Delta(String),
}

fn event_id(e: &Value) -> String {
    e.get("id").and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// What "changed" means for delta: a new change key (every write makes one; occurrences derive theirs from
/// their own content).
fn content_hash(e: &Value) -> String {
    e.get("changeKey").and_then(Value::as_str).map_or_else(|| short_hash(&e.to_string()), str::to_owned)
}

/// New `changeKey`, `@odata.etag` and `lastModifiedDateTime` after a write.
fn touch(event: &mut Value) {
    let key = random_string(20);
    event["changeKey"] = json!(key);
    event["@odata.etag"] = json!(format!("W/\"{key}\""));
    event["lastModifiedDateTime"] = json!(utc_text(Utc::now()));
}

fn validate_event(event: &Value) -> GraphResult<()> {
    let start = parse_when(event.get("start"), "start").map_err(GraphError::invalid)?;
    let end = parse_when(event.get("end"), "end").map_err(GraphError::invalid)?;
    if end.at < start.at {
        return Err(GraphError::invalid("The end time cannot be before the start time."));
    }
    if event.get("isAllDay").and_then(Value::as_bool) == Some(true) {
        let midnight = |w: &super::time::When| w.local.time() == chrono::NaiveTime::MIN;
        if !midnight(&start) || !midnight(&end) || start.zone != end.zone || end.at == start.at {
            return Err(GraphError::new(
                400,
                "ErrorPropertyValidationFailure",
                "Start and End must be midnight in the same time zone for an all-day event.",
            ));
        }
    }
    if let Some(show_as) = event.get("showAs").and_then(Value::as_str)
        && !["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"].contains(&show_as)
    {
        return Err(GraphError::invalid(format!("Invalid showAs value '{show_as}'.")));
    }
    if event.get("recurrence").is_some_and(|r| !r.is_null()) {
        validate_recurrence(event).map_err(GraphError::invalid)?;
    }
    Ok(())
}

/// `<masterId>_<UTC start>`.
fn occurrence_id(master_id: &str, start: DateTime<Utc>) -> String {
    format!("{master_id}_{}", start.format("%Y%m%dT%H%M%SZ"))
}

fn split_occurrence(id: &str) -> Option<(&str, DateTime<Utc>)> {
    let (master, stamp) = id.rsplit_once('_')?;
    let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?.and_utc();
    Some((master, at))
}

/// The occurrence `id` of a stored series (with its exception applied), or `None` if it does not exist or
/// was cancelled.
fn occurrence(master: &StoredEvent, id: &str) -> Option<Value> {
    if master.cancelled.contains(id) {
        return None;
    }
    let (master_id, original) = split_occurrence(id)?;
    let (starts, duration) = occurrence_starts(&master.json, original, original + chrono::Duration::seconds(1)).ok()?;
    if !starts.contains(&original) {
        return None;
    }
    let start = parse_when(master.json.get("start"), "start").ok()?;
    let end = parse_when(master.json.get("end"), "end").ok()?;
    let mut instance = master.json.clone();
    if let Value::Object(map) = &mut instance {
        map.remove("recurrence");
    }
    let start_zone_name = master.json["start"]["timeZone"].as_str().unwrap_or("UTC").to_owned();
    let end_zone_name = master.json["end"]["timeZone"].as_str().unwrap_or("UTC").to_owned();
    instance["id"] = json!(id);
    instance["type"] = json!("occurrence");
    instance["seriesMasterId"] = json!(master_id);
    instance["originalStart"] = json!(utc_text(original));
    instance["originalStartTimeZone"] = json!(start_zone_name);
    instance["originalEndTimeZone"] = json!(end_zone_name);
    instance["start"] = date_time_time_zone(original, start.zone, &start_zone_name);
    instance["end"] = date_time_time_zone(original + duration, end.zone, &end_zone_name);
    if let Some(overrides) = master.exceptions.get(id) {
        for (k, v) in overrides {
            instance[k.as_str()] = v.clone();
        }
        instance["type"] = json!("exception");
    }
    // The occurrence's change key follows its own content, so editing one occurrence leaves the others alone.
    let mut basis = instance.clone();
    if let Value::Object(map) = &mut basis {
        for k in ["changeKey", "@odata.etag", "lastModifiedDateTime"] {
            map.remove(k);
        }
    }
    let key = short_hash(&basis.to_string());
    instance["changeKey"] = json!(key);
    instance["@odata.etag"] = json!(format!("W/\"{key}\""));
    Some(instance)
}
