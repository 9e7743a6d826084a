//! The emulator's in-memory Google: grants, tokens, calendars, events, sync tokens, channels.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::push::Delivery;
use super::recurrence::{self, When, bounds, expand, instance_json, rfc3339};
use super::{FaultKind, GoogleConfig};

/// An API error in Google's terms (status, domain, reason, message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct EmulatorApiError {
    /// HTTP status.
    pub code: u16,
    /// `errors[0].domain`.
    pub domain: &'static str,
    /// `errors[0].reason`.
    pub reason: &'static str,
    /// Message.
    pub message: String,
}

impl EmulatorApiError {
    pub(crate) fn new(code: u16, domain: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        EmulatorApiError { code, domain, reason, message: message.into() }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "global", "invalid", message)
    }
    pub(crate) fn required(message: impl Into<String>) -> Self {
        Self::new(400, "global", "required", message)
    }
    pub(crate) fn not_found() -> Self {
        Self::new(404, "global", "notFound", "Not Found")
    }
    fn time_range_empty() -> Self {
        Self::new(400, "calendar", "timeRangeEmpty", "The specified time range is empty.")
    }
    fn full_sync_required() -> Self {
        Self::new(410, "calendar", "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
    }
}

type ApiResult<T> = Result<T, EmulatorApiError>;

const BASE32HEX: &[u8] = b"0123456789abcdefghijklmnopqrstuv";

pub(crate) fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

fn random_event_id() -> String {
    let mut rng = rand::thread_rng();
    (0..26).map(|_| BASE32HEX[rng.gen_range(0..BASE32HEX.len())] as char).collect()
}

fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| BASE32HEX.contains(&b))
}

#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub challenge: Option<(String, String)>,
    pub offline: bool,
    pub user: String,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub request: PendingConsent,
    pub expires: Instant,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub user: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub user: String,
    pub scopes: Vec<String>,
    pub expires: Instant,
    pub grant: Option<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub json: Value,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    pub owner: String,
    pub time_zone: String,
    pub events: BTreeMap<String, StoredEvent>,
}

impl Calendar {
    fn tz(&self) -> Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub calendar_id: String,
    pub resource_id: String,
    pub resource_uri: String,
    pub token: Option<String>,
    pub address: String,
    pub expiration: DateTime<Utc>,
    pub message_number: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct SyncTokenInfo {
    calendar_id: String,
    seq: u64,
    issued: Instant,
}

#[derive(Debug, Clone)]
struct PendingPages {
    calendar_id: String,
    items: VecDeque<Value>,
    page_size: usize,
    sync_token: String,
}

/// Validated `events.list` parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListParams {
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
    pub sync_token: Option<String>,
    pub single_events: bool,
    pub show_deleted: bool,
    pub time_min: Option<DateTime<Utc>>,
    pub time_max: Option<DateTime<Utc>>,
    pub order_by: Option<String>,
    pub private_props: Vec<(String, String)>,
    pub shared_props: Vec<(String, String)>,
    pub q: Option<String>,
    pub ical_uid: Option<String>,
    pub updated_min: Option<DateTime<Utc>>,
}

/// All emulator state, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub config: GoogleConfig,
    api_base: String,
    notify: UnboundedSender<Delivery>,
    pub faults: VecDeque<FaultKind>,
    pub api_requests: u64,
    pub pending_consents: HashMap<String, PendingConsent>,
    pub codes: HashMap<String, CodeGrant>,
    pub grants: HashMap<String, Grant>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub calendars: HashMap<String, Calendar>,
    pub channels: HashMap<String, Channel>,
    pub sync_tokens: HashMap<String, SyncTokenInfo>,
    pages: HashMap<String, PendingPages>,
    seq: u64,
}

impl State {
    pub(crate) fn new(config: GoogleConfig, api_base: String, notify: UnboundedSender<Delivery>) -> Self {
        State {
            config,
            api_base,
            notify,
            faults: VecDeque::new(),
            api_requests: 0,
            pending_consents: HashMap::new(),
            codes: HashMap::new(),
            grants: HashMap::new(),
            access_tokens: HashMap::new(),
            calendars: HashMap::new(),
            channels: HashMap::new(),
            sync_tokens: HashMap::new(),
            pages: HashMap::new(),
            seq: 0,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn etag(seq: u64) -> String {
        format!("\"{}\"", 3_480_000_000_000_000u64 + seq * 1000)
    }

    // ---- OAuth -------------------------------------------------------------------------------------------

    pub(crate) fn ensure_calendar(&mut self, owner: &str, calendar_id: &str, time_zone: &str) {
        self.calendars.entry(calendar_id.to_owned()).or_insert_with(|| Calendar {
            owner: owner.to_owned(),
            time_zone: time_zone.to_owned(),
            events: BTreeMap::new(),
        });
    }

    /// A new grant; `(access_token, refresh_token)` (the refresh token is empty for online grants).
    pub(crate) fn issue_grant(
        &mut self,
        user: &str,
        client_id: &str,
        scopes: Vec<String>,
        offline: bool,
    ) -> (String, String) {
        let tz = self.config.calendar_time_zone.clone();
        self.ensure_calendar(user, user, &tz);
        let refresh = if offline { format!("1//{}", random_string(40)) } else { String::new() };
        if offline {
            self.grants.insert(
                refresh.clone(),
                Grant {
                    user: user.to_owned(),
                    client_id: client_id.to_owned(),
                    scopes: scopes.clone(),
                    revoked: false,
                },
            );
        }
        let grant = offline.then(|| refresh.clone());
        let access = self.issue_access(user, scopes, grant);
        (access, refresh)
    }

    pub(crate) fn issue_access(&mut self, user: &str, scopes: Vec<String>, grant: Option<String>) -> String {
        let token = format!("ya29.{}", random_string(48));
        let expires = Instant::now() + self.config.access_token_ttl;
        self.access_tokens
            .insert(token.clone(), AccessToken { user: user.to_owned(), scopes, expires, grant, revoked: false });
        token
    }

    pub(crate) fn revoke_grant(&mut self, refresh: &str) {
        if let Some(g) = self.grants.get_mut(refresh) {
            g.revoked = true;
        }
        for t in self.access_tokens.values_mut() {
            if t.grant.as_deref() == Some(refresh) {
                t.revoked = true;
            }
        }
    }

    pub(crate) fn revoke_all(&mut self) {
        for g in self.grants.values_mut() {
            g.revoked = true;
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

    /// The user behind a bearer token that holds one of `allowed` scopes (short names after `auth/`).
    pub(crate) fn authenticate(&self, bearer: Option<&str>, allowed: &[&str]) -> ApiResult<String> {
        let invalid = || {
            EmulatorApiError::new(
                401,
                "global",
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            )
        };
        let token = bearer.and_then(|t| self.access_tokens.get(t)).ok_or_else(invalid)?;
        if token.revoked || token.expires <= Instant::now() {
            return Err(invalid());
        }
        let ok = token.scopes.iter().any(|s| {
            let short = s.strip_prefix("https://www.googleapis.com/auth/").unwrap_or(s);
            allowed.contains(&short)
        });
        if !ok {
            return Err(EmulatorApiError::new(
                403,
                "global",
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
            ));
        }
        Ok(token.user.clone())
    }

    pub(crate) fn resolve_calendar(&self, user: &str, calendar: &str) -> ApiResult<String> {
        let id = if calendar == "primary" { user } else { calendar };
        match self.calendars.get(id) {
            Some(c) if c.owner == user => Ok(id.to_owned()),
            _ => Err(EmulatorApiError::not_found()),
        }
    }

    fn calendar(&self, id: &str) -> ApiResult<&Calendar> {
        self.calendars.get(id).ok_or_else(EmulatorApiError::not_found)
    }

    fn calendar_mut(&mut self, id: &str) -> ApiResult<&mut Calendar> {
        self.calendars.get_mut(id).ok_or_else(EmulatorApiError::not_found)
    }

    // ---- Events ------------------------------------------------------------------------------------------

    fn validate_event(event: &Value) -> ApiResult<()> {
        let start = event.get("start").ok_or_else(|| EmulatorApiError::required("Missing start time."))?;
        let end = event.get("end").ok_or_else(|| EmulatorApiError::required("Missing end time."))?;
        let map = |m: String| {
            if m.starts_with("Missing") { EmulatorApiError::required(m) } else { EmulatorApiError::invalid(m) }
        };
        let s = recurrence::parse_when(start, "start").map_err(map)?;
        let e = recurrence::parse_when(end, "end").map_err(map)?;
        let ordered = match (s, e) {
            (When::Date(a), When::Date(b)) => a < b,
            (When::Instant { at: a, .. }, When::Instant { at: b, .. }) => a < b,
            _ => return Err(EmulatorApiError::invalid("Invalid start time.")),
        };
        if !ordered {
            return Err(EmulatorApiError::time_range_empty());
        }
        if event.get("recurrence").is_some_and(|r| !r.is_null()) {
            if let When::Instant { tz: None, .. } = s {
                return Err(EmulatorApiError::required("Missing time zone definition for start time."));
            }
            let now = Utc::now();
            expand(event, chrono_tz::UTC, now, now + chrono::Duration::days(1))
                .map_err(|_| EmulatorApiError::invalid("Invalid recurrence rule."))?;
        }
        match event.get("transparency").and_then(Value::as_str) {
            None | Some("opaque") | Some("transparent") => {}
            Some(other) => return Err(EmulatorApiError::invalid(format!("Invalid value for: transparency: {other}"))),
        }
        match event.get("status").and_then(Value::as_str) {
            None | Some("confirmed") | Some("tentative") | Some("cancelled") => Ok(()),
            Some(other) => Err(EmulatorApiError::invalid(format!("Invalid value for: status: {other}"))),
        }
    }

    fn stamp(&mut self, calendar_id: &str, event: &mut Value, owner: &str, created: Option<Value>) -> u64 {
        let seq = self.next_seq();
        let now = rfc3339(Utc::now());
        let id = event.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(obj) = event.as_object_mut() {
            obj.insert("kind".into(), json!("calendar#event"));
            obj.insert("etag".into(), json!(Self::etag(seq)));
            obj.entry("status").or_insert(json!("confirmed"));
            obj.insert(
                "htmlLink".into(),
                json!(format!(
                    "{}/event?eid={id}&calendar={calendar_id}",
                    self.api_base.trim_end_matches("/calendar/v3")
                )),
            );
            obj.insert("created".into(), created.unwrap_or(json!(now)));
            obj.insert("updated".into(), json!(now));
            obj.insert("creator".into(), json!({"email": owner, "self": true}));
            obj.insert("organizer".into(), json!({"email": owner, "self": true}));
            obj.entry("iCalUID").or_insert(json!(format!("{id}@google.com")));
            obj.entry("sequence").or_insert(json!(0));
            obj.entry("reminders").or_insert(json!({"useDefault": true}));
            obj.entry("eventType").or_insert(json!("default"));
        }
        seq
    }

    pub(crate) fn insert_event(&mut self, calendar_id: &str, mut event: Value) -> ApiResult<Value> {
        let owner = self.calendar(calendar_id)?.owner.clone();
        if !event.is_object() {
            return Err(EmulatorApiError::new(400, "global", "parseError", "Parse Error"));
        }
        let id = match event.get("id") {
            None | Some(Value::Null) => random_event_id(),
            Some(Value::String(id)) if valid_event_id(id) => id.clone(),
            Some(_) => return Err(EmulatorApiError::invalid("Invalid resource id value.")),
        };
        if self.calendar(calendar_id)?.events.contains_key(&id) {
            return Err(EmulatorApiError::new(409, "global", "duplicate", "The requested identifier already exists."));
        }
        Self::validate_event(&event)?;
        if let Some(obj) = event.as_object_mut() {
            obj.insert("id".into(), json!(id));
            for key in ["recurringEventId", "originalStartTime", "etag", "htmlLink", "created", "updated"] {
                obj.remove(key);
            }
        }
        let seq = self.stamp(calendar_id, &mut event, &owner, None);
        self.calendar_mut(calendar_id)?.events.insert(id, StoredEvent { json: event.clone(), seq });
        self.changed(calendar_id);
        Ok(event)
    }

    /// A stored event, or a generated instance of a stored series.
    fn lookup(&self, calendar_id: &str, event_id: &str) -> ApiResult<(Value, bool)> {
        let cal = self.calendar(calendar_id)?;
        if let Some(e) = cal.events.get(event_id) {
            return Ok((e.json.clone(), true));
        }
        let (master_id, suffix) = event_id.rsplit_once('_').ok_or_else(EmulatorApiError::not_found)?;
        let at = recurrence::instance_time(suffix).ok_or_else(EmulatorApiError::not_found)?;
        let master = cal.events.get(master_id).ok_or_else(EmulatorApiError::not_found)?;
        if master.json.get("status").and_then(Value::as_str) == Some("cancelled") {
            return Err(EmulatorApiError::not_found());
        }
        let window = chrono::Duration::days(2);
        let occurrences =
            expand(&master.json, cal.tz(), at - window, at + window).map_err(|_| EmulatorApiError::not_found())?;
        let occ = occurrences.iter().find(|o| o.id == event_id).ok_or_else(EmulatorApiError::not_found)?;
        Ok((instance_json(&master.json, occ), false))
    }

    pub(crate) fn get_event(&self, calendar_id: &str, event_id: &str) -> ApiResult<Value> {
        self.lookup(calendar_id, event_id).map(|(v, _)| v)
    }

    /// `patch` (JSON merge, `null` deletes) or `update` (`replace`: full body).
    pub(crate) fn patch_event(
        &mut self,
        calendar_id: &str,
        event_id: &str,
        body: Value,
        if_match: Option<&str>,
        replace: bool,
    ) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(EmulatorApiError::new(400, "global", "parseError", "Parse Error"));
        }
        let owner = self.calendar(calendar_id)?.owner.clone();
        let (current, _) = self.lookup(calendar_id, event_id)?;
        if let Some(tag) = if_match
            && current.get("etag").and_then(Value::as_str) != Some(tag)
        {
            return Err(EmulatorApiError::new(412, "global", "conditionNotMet", "Precondition Failed"));
        }
        let mut next = if replace {
            let mut next = body;
            for key in ["id", "recurringEventId", "originalStartTime", "iCalUID", "created", "sequence"] {
                if let Some(v) = current.get(key) {
                    next[key] = v.clone();
                }
            }
            next
        } else {
            let mut next = current.clone();
            merge(&mut next, &body);
            next
        };
        for key in ["id", "recurringEventId", "originalStartTime", "iCalUID"] {
            match current.get(key) {
                Some(v) => next[key] = v.clone(),
                None => {
                    if let Some(obj) = next.as_object_mut() {
                        obj.remove(key);
                    }
                }
            }
        }
        Self::validate_event(&next)?;
        if current.get("start") != next.get("start") || current.get("end") != next.get("end") {
            let sequence = current.get("sequence").and_then(Value::as_u64).unwrap_or(0) + 1;
            next["sequence"] = json!(sequence);
        }
        let created = current.get("created").cloned();
        let seq = self.stamp(calendar_id, &mut next, &owner, created);
        let cancelled = next.get("status").and_then(Value::as_str) == Some("cancelled");
        let cal = self.calendar_mut(calendar_id)?;
        cal.events.insert(event_id.to_owned(), StoredEvent { json: next.clone(), seq });
        if cancelled {
            self.cancel_exceptions(calendar_id, event_id);
        }
        self.changed(calendar_id);
        Ok(next)
    }

    fn cancel_exceptions(&mut self, calendar_id: &str, master_id: &str) {
        let ids: Vec<String> = match self.calendars.get(calendar_id) {
            Some(cal) => cal
                .events
                .iter()
                .filter(|(_, e)| e.json.get("recurringEventId").and_then(Value::as_str) == Some(master_id))
                .map(|(id, _)| id.clone())
                .collect(),
            None => return,
        };
        for id in ids {
            let seq = self.next_seq();
            if let Some(e) = self.calendars.get_mut(calendar_id).and_then(|c| c.events.get_mut(&id)) {
                e.json["status"] = json!("cancelled");
                e.json["etag"] = json!(Self::etag(seq));
                e.seq = seq;
            }
        }
    }

    pub(crate) fn delete_event(&mut self, calendar_id: &str, event_id: &str, if_match: Option<&str>) -> ApiResult<()> {
        let (current, _) = self.lookup(calendar_id, event_id)?;
        if current.get("status").and_then(Value::as_str) == Some("cancelled") {
            return Err(EmulatorApiError::new(410, "global", "deleted", "Resource has been deleted"));
        }
        if let Some(tag) = if_match
            && current.get("etag").and_then(Value::as_str) != Some(tag)
        {
            return Err(EmulatorApiError::new(412, "global", "conditionNotMet", "Precondition Failed"));
        }
        let mut tombstone = current;
        tombstone["status"] = json!("cancelled");
        let seq = self.next_seq();
        tombstone["etag"] = json!(Self::etag(seq));
        tombstone["updated"] = json!(rfc3339(Utc::now()));
        self.calendar_mut(calendar_id)?.events.insert(event_id.to_owned(), StoredEvent { json: tombstone, seq });
        self.cancel_exceptions(calendar_id, event_id);
        self.changed(calendar_id);
        Ok(())
    }

    // ---- List / sync -------------------------------------------------------------------------------------

    pub(crate) fn list_events(&mut self, calendar_id: &str, p: &ListParams) -> ApiResult<Value> {
        let cal = self.calendar(calendar_id)?;
        let tz_name = cal.time_zone.clone();
        if let Some(token) = &p.page_token {
            let mut pages = self
                .pages
                .remove(token)
                .filter(|pg| pg.calendar_id == calendar_id)
                .ok_or_else(|| EmulatorApiError::invalid("Invalid page token value."))?;
            let take = pages.page_size.min(pages.items.len());
            let items: Vec<Value> = pages.items.drain(..take).collect();
            return Ok(self.page_response(calendar_id, &tz_name, items, pages));
        }
        let since = match &p.sync_token {
            Some(token) => {
                let info = self.sync_tokens.get(token).ok_or_else(EmulatorApiError::full_sync_required)?;
                let expired = self.config.sync_token_ttl.is_some_and(|ttl| info.issued.elapsed() > ttl);
                if expired || info.calendar_id != calendar_id {
                    return Err(EmulatorApiError::full_sync_required());
                }
                Some(info.seq)
            }
            None => None,
        };
        let items = match since {
            None => self.full_items(cal, p),
            Some(seq) => self.changed_items(cal, p, seq),
        };
        let sync_token = format!("CP{}", random_string(30));
        self.sync_tokens.insert(
            sync_token.clone(),
            SyncTokenInfo { calendar_id: calendar_id.to_owned(), seq: self.seq, issued: Instant::now() },
        );
        let page_size = p.max_results.unwrap_or(250).clamp(1, 2500).min(self.config.max_page_size.max(1));
        let mut pages =
            PendingPages { calendar_id: calendar_id.to_owned(), items: items.into(), page_size, sync_token };
        let take = page_size.min(pages.items.len());
        let first: Vec<Value> = pages.items.drain(..take).collect();
        Ok(self.page_response(calendar_id, &tz_name, first, pages))
    }

    fn page_response(&mut self, calendar_id: &str, tz: &str, items: Vec<Value>, pages: PendingPages) -> Value {
        let mut body = json!({
            "kind": "calendar#events",
            "etag": Self::etag(self.seq),
            "summary": calendar_id,
            "description": "",
            "updated": rfc3339(Utc::now()),
            "timeZone": tz,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        });
        if pages.items.is_empty() {
            body["nextSyncToken"] = json!(pages.sync_token);
        } else {
            let token = random_string(32);
            body["nextPageToken"] = json!(token);
            self.pages.insert(token, pages);
        }
        body
    }

    fn horizon(master: &Value, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = bounds(master, tz).map(|(s, _)| s).unwrap_or_else(Utc::now);
        (start, start.max(Utc::now()) + chrono::Duration::days(730))
    }

    fn full_items(&self, cal: &Calendar, p: &ListParams) -> Vec<Value> {
        let tz = cal.tz();
        let in_window = |v: &Value| match bounds(v, tz) {
            Some((s, e)) => p.time_min.is_none_or(|min| e > min) && p.time_max.is_none_or(|max| s < max),
            None => false,
        };
        let mut items: Vec<Value> = Vec::new();
        for e in cal.events.values() {
            let v = &e.json;
            let cancelled = v.get("status").and_then(Value::as_str) == Some("cancelled");
            let is_exception = v.get("recurringEventId").is_some();
            let is_master = v.get("recurrence").is_some_and(|r| !r.is_null());
            if !p.single_events {
                let master_live = is_exception
                    && v.get("recurringEventId")
                        .and_then(Value::as_str)
                        .and_then(|m| cal.events.get(m))
                        .is_some_and(|m| m.json.get("status").and_then(Value::as_str) != Some("cancelled"));
                if cancelled && !p.show_deleted && !master_live {
                    continue;
                }
                let visible = if is_master {
                    bounds(v, tz).is_some_and(|(s, _)| p.time_max.is_none_or(|max| s < max))
                } else {
                    cancelled || in_window(v)
                };
                if visible {
                    items.push(v.clone());
                }
                continue;
            }
            if is_exception {
                continue; // emitted with their series below
            }
            if is_master {
                if cancelled {
                    continue;
                }
                let (h_from, h_to) = Self::horizon(v, tz);
                let from = p.time_min.unwrap_or(h_from);
                let to = p.time_max.unwrap_or(h_to);
                for occ in expand(v, tz, from, to).unwrap_or_default() {
                    let item = match cal.events.get(&occ.id) {
                        Some(exception) => exception.json.clone(),
                        None => instance_json(v, &occ),
                    };
                    let item_cancelled = item.get("status").and_then(Value::as_str) == Some("cancelled");
                    if item_cancelled && !p.show_deleted {
                        continue;
                    }
                    if item_cancelled || in_window(&item) {
                        items.push(item);
                    }
                }
                continue;
            }
            if (cancelled && p.show_deleted) || (!cancelled && in_window(v)) {
                items.push(v.clone());
            }
        }
        items.retain(|v| self.matches_filters(v, p));
        match p.order_by.as_deref() {
            Some("updated") => items.sort_by(|a, b| {
                a.get("updated").and_then(Value::as_str).cmp(&b.get("updated").and_then(Value::as_str))
            }),
            _ => items.sort_by_key(|v| {
                (bounds(v, tz).map(|(s, _)| s), v.get("id").and_then(Value::as_str).map(str::to_owned))
            }),
        }
        items
    }

    fn matches_filters(&self, v: &Value, p: &ListParams) -> bool {
        let prop = |kind: &str, k: &str, want: &str| {
            v.pointer(&format!("/extendedProperties/{kind}/{k}")).and_then(Value::as_str) == Some(want)
        };
        p.private_props.iter().all(|(k, want)| prop("private", k, want))
            && p.shared_props.iter().all(|(k, want)| prop("shared", k, want))
            && p.ical_uid.as_deref().is_none_or(|u| v.get("iCalUID").and_then(Value::as_str) == Some(u))
            && p.q.as_deref().is_none_or(|q| {
                let q = q.to_lowercase();
                ["summary", "description", "location"]
                    .iter()
                    .any(|f| v.get(*f).and_then(Value::as_str).is_some_and(|s| s.to_lowercase().contains(&q)))
            })
            && p.updated_min.is_none_or(|min| {
                v.get("updated")
                    .and_then(Value::as_str)
                    .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                    .is_some_and(|u| u >= min)
            })
    }

    fn tombstone(v: &Value) -> Value {
        let mut t = json!({"kind": "calendar#event", "status": "cancelled"});
        for key in ["etag", "id", "recurringEventId", "originalStartTime"] {
            if let Some(x) = v.get(key) {
                t[key] = x.clone();
            }
        }
        t
    }

    fn changed_items(&self, cal: &Calendar, p: &ListParams, since: u64) -> Vec<Value> {
        let tz = cal.tz();
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        let shown = |v: &Value| {
            if v.get("status").and_then(Value::as_str) == Some("cancelled") { Self::tombstone(v) } else { v.clone() }
        };
        for (id, e) in cal.events.iter().filter(|(_, e)| e.seq > since) {
            let v = &e.json;
            let is_master = v.get("recurrence").is_some_and(|r| !r.is_null());
            if p.single_events && is_master {
                let (from, to) = Self::horizon(v, tz);
                let master_cancelled = v.get("status").and_then(Value::as_str) == Some("cancelled");
                for occ in expand(v, tz, from, to).unwrap_or_default() {
                    let item = match cal.events.get(&occ.id) {
                        Some(exception) => exception.json.clone(),
                        None => instance_json(v, &occ),
                    };
                    let item = if master_cancelled { Self::tombstone(&item) } else { shown(&item) };
                    out.insert(occ.id.clone(), item);
                }
            } else {
                out.insert(id.clone(), shown(v));
            }
        }
        out.into_values().collect()
    }

    // ---- Push --------------------------------------------------------------------------------------------

    fn changed(&mut self, calendar_id: &str) {
        let now = Utc::now();
        self.channels.retain(|_, c| c.expiration > now);
        let mut deliveries = Vec::new();
        for (id, c) in self.channels.iter_mut().filter(|(_, c)| c.calendar_id == calendar_id) {
            c.message_number += 1;
            deliveries.push(Delivery::new(id, c, "exists"));
        }
        for d in deliveries {
            let _ = self.notify.send(d);
        }
    }

    pub(crate) fn watch(&mut self, calendar_id: &str, calendar_param: &str, body: &Value) -> ApiResult<Value> {
        self.calendar(calendar_id)?;
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EmulatorApiError::required("Required: channel id"))?;
        match body.get("type").and_then(Value::as_str) {
            Some("web_hook") | Some("webhook") => {}
            _ => return Err(EmulatorApiError::invalid("Invalid value for: type")),
        }
        let address = body
            .get("address")
            .and_then(Value::as_str)
            .ok_or_else(|| EmulatorApiError::required("Required: address"))?;
        let allowed =
            address.starts_with("https://") || (self.config.allow_http_push && address.starts_with("http://"));
        if !allowed {
            return Err(EmulatorApiError::new(
                400,
                "push",
                "push.webhookUrlNotHttps",
                "WebHook callback must be HTTPS: ".to_owned() + address,
            ));
        }
        if self.channels.contains_key(id) {
            return Err(EmulatorApiError::new(
                400,
                "global",
                "channelIdNotUnique",
                format!("Channel id {id} not unique"),
            ));
        }
        let ttl = match body.pointer("/params/ttl") {
            None | Some(Value::Null) => self.config.channel_default_ttl,
            Some(v) => {
                let secs = v
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .or_else(|| v.as_u64())
                    .ok_or_else(|| EmulatorApiError::invalid("Invalid value for: params.ttl"))?;
                Duration::from_secs(secs)
            }
        };
        let ttl = ttl.min(self.config.channel_max_ttl);
        let mut expiration = Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        if let Some(ms) =
            body.get("expiration").and_then(|v| v.as_str().and_then(|s| s.parse::<i64>().ok()).or(v.as_i64()))
            && let Some(requested) = DateTime::from_timestamp_millis(ms)
            && requested < expiration
        {
            expiration = requested;
        }
        let resource_id = resource_id_for(calendar_id);
        let channel = Channel {
            calendar_id: calendar_id.to_owned(),
            resource_id: resource_id.clone(),
            resource_uri: format!("{}/calendars/{calendar_param}/events?alt=json", self.api_base),
            token: body.get("token").and_then(Value::as_str).map(str::to_owned),
            address: address.to_owned(),
            expiration,
            message_number: 1,
        };
        let _ = self.notify.send(Delivery::new(id, &channel, "sync"));
        let mut reply = json!({
            "kind": "api#channel",
            "id": id,
            "resourceId": resource_id,
            "resourceUri": channel.resource_uri,
            "expiration": expiration.timestamp_millis().to_string(),
        });
        if let Some(t) = &channel.token {
            reply["token"] = json!(t);
        }
        self.channels.insert(id.to_owned(), channel);
        Ok(reply)
    }

    pub(crate) fn stop_channel(&mut self, user: &str, body: &Value) -> ApiResult<()> {
        let id = body.get("id").and_then(Value::as_str).ok_or_else(|| EmulatorApiError::required("Required: id"))?;
        let resource = body.get("resourceId").and_then(Value::as_str);
        let owned = self.channels.get(id).is_some_and(|c| {
            resource == Some(c.resource_id.as_str())
                && self.calendars.get(&c.calendar_id).is_some_and(|cal| cal.owner == user)
        });
        if !owned {
            return Err(EmulatorApiError::new(
                404,
                "global",
                "notFound",
                format!("Channel '{id}' not found for project"),
            ));
        }
        self.channels.remove(id);
        Ok(())
    }

    // ---- freeBusy ----------------------------------------------------------------------------------------

    pub(crate) fn free_busy(&self, user: &str, body: &Value) -> ApiResult<Value> {
        let time = |key: &str| -> ApiResult<DateTime<Utc>> {
            let s = body
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| EmulatorApiError::required(format!("Missing {key} parameter.")))?;
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| EmulatorApiError::invalid(format!("Invalid value for: {key}")))
        };
        let (min, max) = (time("timeMin")?, time("timeMax")?);
        if min >= max {
            return Err(EmulatorApiError::time_range_empty());
        }
        let items = body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        if items.len() > 50 {
            return Err(EmulatorApiError::invalid("Too many calendars requested."));
        }
        let mut calendars = Map::new();
        for item in items {
            let Some(requested) = item.get("id").and_then(Value::as_str) else { continue };
            let entry = match self.resolve_calendar(user, requested) {
                Ok(id) => {
                    let busy = self.busy(&id, min, max);
                    json!({"busy": busy.iter().map(|(s, e)| json!({"start": rfc3339(*s), "end": rfc3339(*e)})).collect::<Vec<_>>()})
                }
                Err(_) => json!({"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]}),
            };
            calendars.insert(requested.to_owned(), entry);
        }
        Ok(json!({
            "kind": "calendar#freeBusy",
            "timeMin": rfc3339(min),
            "timeMax": rfc3339(max),
            "calendars": calendars,
        }))
    }

    fn busy(&self, calendar_id: &str, min: DateTime<Utc>, max: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let Some(cal) = self.calendars.get(calendar_id) else { return Vec::new() };
        let tz = cal.tz();
        let p = ListParams { single_events: true, time_min: Some(min), time_max: Some(max), ..ListParams::default() };
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = self
            .full_items(cal, &p)
            .iter()
            .filter(|v| v.get("transparency").and_then(Value::as_str) != Some("transparent"))
            .filter(|v| {
                !v.get("attendees").and_then(Value::as_array).is_some_and(|a| {
                    a.iter().any(|x| {
                        x.get("self").and_then(Value::as_bool) == Some(true)
                            && x.get("responseStatus").and_then(Value::as_str) == Some("declined")
                    })
                })
            })
            .filter_map(|v| bounds(v, tz))
            .map(|(s, e)| (s.max(min), e.min(max)))
            .collect();
        spans.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

fn resource_id_for(calendar_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(calendar_id.as_bytes());
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
}

/// Google's patch: objects merge recursively, `null` deletes a key, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(existing) = t.get_mut(k)
                    && existing.is_object()
                    && v.is_object()
                {
                    merge(existing, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
