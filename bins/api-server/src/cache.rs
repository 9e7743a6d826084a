//! In-process caches: `GET /api/availability` answers and API key → tenant.
//!
//! Both are exact within one process and bounded-stale across processes
//! (`docs/api.md`, "Caching of availability answers"):
//!
//! - Every tenant has a **generation**. The [`invalidate_on_write`] middleware
//!   bumps it when a request that may write (any method but GET/HEAD/OPTIONS,
//!   and the OAuth callbacks) authenticated as that tenant has been handled, at
//!   any status, before the answer leaves; writes that no tenant key vouches for
//!   (operator calls, provider push notifications, OAuth callbacks) bump every
//!   tenant's. [`Caches::invalidate_tenant`] does the same for writes made
//!   outside a request (the sync engine's, once it calls it).
//! - An availability answer is keyed by tenant, the generation read **before**
//!   its inputs were loaded, the parsed query and the app clock's "now" rounded
//!   up to the whole minute; it is served for at most the configured TTL
//!   (`SLOTWISE_AVAILABILITY_CACHE_MS`, default 1 s) of real time, which is what
//!   bounds staleness from writes by other processes. Answers that list a
//!   connected calendar are never cached: the sync engine writes their busy
//!   time without telling this process. Concurrent misses of one key compute
//!   it once ([`Caches::answer_or`]).
//! - A tenant found by its API key is kept under the key's SHA-256 (never the
//!   key) for [`KEY_TTL`] and until the tenant's generation moves; unknown keys
//!   are not kept at all.
//!
//! Both maps are bounded in entries (and answers in bytes): expired entries are
//! swept once per TTL, and a map still over its bound is emptied. Entries live
//! about a second, so an LRU would buy nothing over this.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use store::TenantId;

use crate::extract::AppState;

/// Default of `SLOTWISE_AVAILABILITY_CACHE_MS`.
pub const DEFAULT_AVAILABILITY_TTL_MS: u64 = 1000;
/// How long a tenant found by its API key is trusted without asking the store again.
pub const KEY_TTL: Duration = Duration::from_secs(5);
/// Most availability answers kept.
const MAX_ANSWERS: usize = 4096;
/// Most bytes of availability answers kept (a 30-day answer is ~100–200 KiB).
const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Most API keys kept.
const MAX_KEYS: usize = 10_000;

/// The caches and the generations that invalidate them; one per process, in [`AppState`].
#[derive(Debug)]
pub struct Caches {
    /// Source of generation values: every bump takes the next one, so a bump
    /// always moves a generation past every value handed out before it.
    stamps: AtomicU64,
    /// The stamp of the last bump of every tenant at once.
    global: AtomicU64,
    /// The stamp of each tenant's last bump (tenants never bumped are absent).
    tenants: Mutex<HashMap<TenantId, u64>>,
    keys: Mutex<Bounded<String, KeyEntry>>,
    /// `None` when `SLOTWISE_AVAILABILITY_CACHE_MS` is 0.
    answers: Option<Mutex<Bounded<AnswerKey, Answer>>>,
    /// Answers being computed: concurrent misses of one key wait for one computation.
    in_flight: Mutex<HashMap<AnswerKey, Flight>>,
}

/// One computation of an answer; `None` once done means "not cacheable": compute your own.
type Flight = Arc<tokio::sync::OnceCell<Option<Answer>>>;

/// What [`Caches::answer_or`]'s computation gives.
#[derive(Debug)]
pub struct Computed {
    /// The answer's body.
    pub body: Bytes,
    /// The business zone (for the horizon's "today").
    pub zone: Tz,
    /// Whether the answer may be kept (it lists no connected calendar).
    pub cacheable: bool,
}

impl Caches {
    /// Caches whose availability answers live `answer_ttl` (zero: none are kept).
    pub fn new(answer_ttl: Duration) -> Self {
        Caches {
            stamps: AtomicU64::new(0),
            global: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
            keys: Mutex::new(Bounded::new(KEY_TTL, MAX_KEYS, usize::MAX)),
            answers: (!answer_ttl.is_zero())
                .then(|| Mutex::new(Bounded::new(answer_ttl, MAX_ANSWERS, MAX_ANSWER_BYTES))),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key` (`None`: not cached) at `now`: from the cache, from the
    /// computation of the same key in progress (so a burst of misses computes once), or
    /// from `compute`, whose result is kept when it is cacheable. Errors are never shared.
    pub async fn answer_or<F, Fut, E>(&self, key: Option<AnswerKey>, now: DateTime<Utc>, compute: F) -> Result<Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Computed, E>>,
    {
        let Some(key) = key else {
            return compute().await.map(|c| c.body);
        };
        if let Some(body) = self.answer(&key, now) {
            return Ok(body);
        }
        let flight = lock(&self.in_flight).entry(key.clone()).or_default().clone();
        let _landing = Landing { caches: self, key: &key, flight: &flight };
        let mut compute = Some(compute);
        let mut own = None;
        let (compute_slot, own_slot, key_ref) = (&mut compute, &mut own, &key);
        let shared = flight
            .get_or_try_init(move || async move {
                // Runs at most once per caller: only the caller that computes takes it.
                let Some(compute) = compute_slot.take() else { unreachable!("one initialisation per caller") };
                let computed = compute().await?;
                *own_slot = Some(computed.body.clone());
                if !computed.cacheable {
                    return Ok(None);
                }
                let answer = Answer::new(computed.body, computed.zone, now);
                self.keep_answer(key_ref.clone(), answer.clone());
                Ok(Some(answer))
            })
            .await?;
        if let Some(body) = own {
            return Ok(body);
        }
        if let Some(answer) = shared.as_ref().filter(|a| a.is_current(now)) {
            return Ok(answer.body.clone());
        }
        // Another caller's answer could not be shared: this one computes its own.
        let Some(compute) = compute else { unreachable!("a caller that computed has its answer") };
        compute().await.map(|c| c.body)
    }

    /// The tenant's current generation: it moves on every write of the tenant's data.
    pub fn generation(&self, tenant: &TenantId) -> u64 {
        let own = lock(&self.tenants).get(tenant).copied().unwrap_or(0);
        own.max(self.global.load(Ordering::SeqCst))
    }

    /// Forgets everything cached about the tenant: call after writing its data
    /// outside an API request (calendar sync, key revocation, settings).
    pub fn invalidate_tenant(&self, tenant: &TenantId) {
        let stamp = self.stamps.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&self.tenants).insert(tenant.clone(), stamp);
    }

    /// Forgets everything cached about every tenant.
    pub fn invalidate_all(&self) {
        let stamp = self.stamps.fetch_add(1, Ordering::SeqCst) + 1;
        self.global.store(stamp, Ordering::SeqCst);
    }

    /// A mark to take before asking the store for a key's tenant, for [`Self::remember_key`].
    pub fn key_mark(&self) -> u64 {
        self.stamps.load(Ordering::SeqCst)
    }

    /// The tenant of an API key by its SHA-256 (hex), if seen within [`KEY_TTL`]
    /// and the tenant has not been invalidated since.
    pub fn tenant_for_key(&self, key_hash: &str) -> Option<store::Tenant> {
        let entry = lock(&self.keys).get(key_hash).cloned()?;
        (self.generation(&entry.tenant.id) <= entry.mark).then_some(entry.tenant)
    }

    /// Remembers the tenant the store gave for a key; `mark` is [`Self::key_mark`]
    /// taken before the store was asked, so a bump in between is not missed.
    pub fn remember_key(&self, key_hash: String, tenant: store::Tenant, mark: u64) {
        lock(&self.keys).insert(key_hash, KeyEntry { tenant, mark }, 1);
    }

    /// The key of an availability answer, or `None` when answers are not cached. It
    /// reads the tenant's generation, so build it before loading the answer's inputs.
    pub fn answer_key(&self, tenant: &TenantId, now: DateTime<Utc>, query: AnswerQuery) -> Option<AnswerKey> {
        self.answers.as_ref()?;
        Some(AnswerKey { tenant: tenant.clone(), generation: self.generation(tenant), minute: minute_ceil(now), query })
    }

    /// A cached answer's body for `key` at `now`.
    pub fn answer(&self, key: &AnswerKey, now: DateTime<Utc>) -> Option<Bytes> {
        let answer = lock(self.answers.as_ref()?).get(key).cloned()?;
        answer.is_current(now).then_some(answer.body)
    }

    /// Keeps an answer computed at `now` whose business zone is `zone`.
    pub fn remember_answer(&self, key: AnswerKey, body: Bytes, zone: Tz, now: DateTime<Utc>) {
        self.keep_answer(key, Answer::new(body, zone, now));
    }

    fn keep_answer(&self, key: AnswerKey, answer: Answer) {
        if let Some(answers) = &self.answers {
            let weight = answer.body.len();
            lock(answers).insert(key, answer, weight);
        }
    }
}

/// Ends a caller's part in a [`Flight`], also when its request is dropped: the
/// finished (or abandoned) flight leaves the map, unless a newer one took its place.
struct Landing<'a> {
    caches: &'a Caches,
    key: &'a AnswerKey,
    flight: &'a Flight,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = lock(&self.caches.in_flight);
        if flights.get(self.key).is_some_and(|f| Arc::ptr_eq(f, self.flight)) {
            flights.remove(self.key);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave a map half-updated in a
    // way that matters: every entry is checked on the way out.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `now` rounded up to a whole minute (a whole minute stays itself). Slots start
/// on whole minutes and the engine compares them with `now` only through
/// `start ≥ ceil_s(now) + min_notice`, so the slots are the same for every `now`
/// in `(m − 60 s, m]`; the other use of `now`, the horizon's "today", is checked
/// separately ([`Caches::answer`]).
pub fn minute_ceil(now: DateTime<Utc>) -> i64 {
    let seconds = now.timestamp();
    let on_minute = seconds.rem_euclid(60) == 0 && now.timestamp_subsec_nanos() == 0;
    if on_minute { seconds } else { (seconds.div_euclid(60) + 1) * 60 }
}

/// What an availability answer depends on besides the tenant's data and the time:
/// the parsed query (so parameter order and unknown parameters do not matter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerQuery {
    /// `service_id` as given.
    pub service_id: String,
    /// `employee_id` as given.
    pub employee_id: Option<String>,
    /// The answer's zone name (echoed in the answer), the tenant's when not given.
    pub timezone: String,
    /// The window's start.
    pub from: DateTime<Utc>,
    /// The window's end.
    pub to: DateTime<Utc>,
}

/// The key of a cached availability answer ([`Caches::answer_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    tenant: TenantId,
    generation: u64,
    minute: i64,
    query: AnswerQuery,
}

#[derive(Debug, Clone)]
struct Answer {
    body: Bytes,
    /// The business zone and the date in it when the answer was computed: the
    /// horizon ends at local midnight `horizon_days` after that date. (Local
    /// midnights fall on whole minutes in every zone today, so the minute key
    /// already covers this; checking costs little and holds for any offset.)
    zone: Tz,
    today: NaiveDate,
}

impl Answer {
    fn new(body: Bytes, zone: Tz, now: DateTime<Utc>) -> Self {
        Answer { body, zone, today: now.with_timezone(&zone).date_naive() }
    }

    /// Whether the answer holds at `now`, given its key's minute matched: the horizon
    /// counts from "today" in the business zone.
    fn is_current(&self, now: DateTime<Utc>) -> bool {
        now.with_timezone(&self.zone).date_naive() == self.today
    }
}

#[derive(Debug, Clone)]
struct KeyEntry {
    tenant: store::Tenant,
    /// [`Caches::key_mark`] before the store was asked.
    mark: u64,
}

/// A map whose entries expire `ttl` after insertion, bounded in entries and weight.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, Entry<V>>,
    ttl: Duration,
    max_entries: usize,
    max_weight: usize,
    weight: usize,
    last_sweep: Instant,
}

#[derive(Debug)]
struct Entry<V> {
    created: Instant,
    weight: usize,
    value: V,
}

impl<K: Eq + Hash, V> Bounded<K, V> {
    fn new(ttl: Duration, max_entries: usize, max_weight: usize) -> Self {
        Bounded { map: HashMap::new(), ttl, max_entries, max_weight, weight: 0, last_sweep: Instant::now() }
    }

    fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.map.get(key).filter(|e| e.created.elapsed() < self.ttl).map(|e| &e.value)
    }

    fn insert(&mut self, key: K, value: V, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        let full = self.map.len() >= self.max_entries || self.weight + weight > self.max_weight;
        if full || self.last_sweep.elapsed() >= self.ttl {
            let ttl = self.ttl;
            self.map.retain(|_, e| e.created.elapsed() < ttl);
            self.weight = self.map.values().map(|e| e.weight).sum();
            self.last_sweep = Instant::now();
            if self.map.len() >= self.max_entries || self.weight + weight > self.max_weight {
                self.map.clear();
                self.weight = 0;
            }
        }
        if let Some(old) = self.map.insert(key, Entry { created: Instant::now(), weight, value }) {
            self.weight -= old.weight;
        }
        self.weight += weight;
    }
}

/// Set by [`crate::extract::TenantAuth`] when a request authenticates as a tenant,
/// read by [`invalidate_on_write`] when it has been handled.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthenticatedTenant(Rc<RefCell<Option<TenantId>>>);

impl AuthenticatedTenant {
    pub(crate) fn set(&self, tenant: &TenantId) {
        *self.0.borrow_mut() = Some(tenant.clone());
    }
}

/// Whether a request may change what an availability answer or a key lookup says.
fn may_write(method: &Method, path: &str) -> bool {
    if path == "/api/availability/check" {
        return false; // a POST that only reads
    }
    // The OAuth callbacks are GETs (a browser redirect) that create a calendar connection.
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || path.ends_with("-calendar/callback")
}

/// The middleware: after a request that may write, bump the generation of the tenant
/// it authenticated as, or of every tenant when no tenant key vouched for it (operator
/// calls, provider push notifications, OAuth callbacks) and it was not refused with a 4xx.
pub async fn invalidate_on_write(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !may_write(req.method(), req.path()) {
        return next.call(req).await;
    }
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let tenant = AuthenticatedTenant::default();
    req.extensions_mut().insert(tenant.clone());
    let result = next.call(req).await;
    if let Some(state) = state {
        match tenant.0.borrow().as_ref() {
            Some(id) => state.cache.invalidate_tenant(id),
            None if matches!(&result, Ok(res) if res.status().is_client_error()) => {}
            None => state.cache.invalidate_all(),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn minutes_round_up_and_whole_minutes_stay() {
        assert_eq!(minute_ceil(at("2030-03-01T00:00:00Z")), at("2030-03-01T00:00:00Z").timestamp());
        assert_eq!(minute_ceil(at("2030-03-01T00:00:00.000000001Z")), at("2030-03-01T00:01:00Z").timestamp());
        assert_eq!(minute_ceil(at("2030-03-01T00:00:59.9Z")), at("2030-03-01T00:01:00Z").timestamp());
        assert_eq!(minute_ceil(at("1969-12-31T23:59:30Z")), 0);
    }

    #[test]
    fn writes_are_recognised() {
        assert!(!may_write(&Method::GET, "/api/availability"));
        assert!(!may_write(&Method::POST, "/api/availability/check"));
        assert!(may_write(&Method::POST, "/api/bookings"));
        assert!(may_write(&Method::PUT, "/api/business-hours"));
        assert!(may_write(&Method::DELETE, "/api/webhooks/x"));
        assert!(may_write(&Method::GET, "/api/google-calendar/callback"));
    }

    fn tenant(id: &TenantId) -> store::Tenant {
        store::Tenant {
            id: id.clone(),
            name: "t".into(),
            timezone: "UTC".into(),
            stale_calendar_policy: store::StaleCalendarPolicy::Block,
            created_at: at("2030-03-01T00:00:00Z"),
        }
    }

    #[test]
    fn generations_move_on_their_tenant_or_on_all() {
        let caches = Caches::new(Duration::from_secs(60));
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let (a0, b0) = (caches.generation(&a), caches.generation(&b));
        caches.invalidate_tenant(&a);
        assert!(caches.generation(&a) > a0);
        assert_eq!(caches.generation(&b), b0);
        let (a1, b1) = (caches.generation(&a), caches.generation(&b));
        caches.invalidate_all();
        assert!(caches.generation(&a) > a1 && caches.generation(&b) > b1);
    }

    #[test]
    fn answers_are_per_tenant_generation_minute_and_day() {
        let caches = Caches::new(Duration::from_secs(60));
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let now = at("2030-03-01T10:00:30Z");
        let query = AnswerQuery {
            service_id: "s".into(),
            employee_id: None,
            timezone: "UTC".into(),
            from: at("2030-03-04T00:00:00Z"),
            to: at("2030-03-05T00:00:00Z"),
        };
        let key = caches.answer_key(&a, now, query.clone()).unwrap();
        caches.remember_answer(key.clone(), Bytes::from_static(b"{}"), chrono_tz::UTC, now);
        assert!(caches.answer(&key, now).is_some());
        // The same minute bucket, another tenant, the next minute.
        assert_eq!(caches.answer_key(&a, at("2030-03-01T10:01:00Z"), query.clone()).unwrap(), key);
        assert!(caches.answer(&caches.answer_key(&b, now, query.clone()).unwrap(), now).is_none());
        assert_ne!(caches.answer_key(&a, at("2030-03-01T10:01:00.5Z"), query.clone()).unwrap(), key);
        // A write moves the key on.
        caches.invalidate_tenant(&a);
        assert_ne!(caches.answer_key(&a, now, query).unwrap(), key);
        // Disabled: no keys at all.
        assert!(Caches::new(Duration::ZERO).answer_key(&a, now, AnswerQuery { ..key.query.clone() }).is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once_unless_the_answer_cannot_be_shared() {
        let caches = Caches::new(Duration::from_secs(60));
        let a = TenantId::generate();
        let now = at("2030-03-01T10:00:30Z");
        let runs = std::cell::Cell::new(0);
        let compute = |cacheable: bool| {
            let runs = &runs;
            move || async move {
                runs.set(runs.get() + 1);
                tokio::task::yield_now().await;
                Ok::<_, ()>(Computed { body: Bytes::from_static(b"{}"), zone: chrono_tz::UTC, cacheable })
            }
        };
        let query = |service: &str| AnswerQuery {
            service_id: service.into(),
            employee_id: None,
            timezone: "UTC".into(),
            from: at("2030-03-04T00:00:00Z"),
            to: at("2030-03-05T00:00:00Z"),
        };
        let key = || caches.answer_key(&a, now, query("s"));
        let (x, y) =
            tokio::join!(caches.answer_or(key(), now, compute(true)), caches.answer_or(key(), now, compute(true)));
        assert_eq!((x.unwrap(), y.unwrap(), runs.get()), (Bytes::from_static(b"{}"), Bytes::from_static(b"{}"), 1));
        assert!(caches.answer(&key().unwrap(), now).is_some() && lock(&caches.in_flight).is_empty());

        let key = || caches.answer_key(&a, now, query("calendar"));
        let (x, y) =
            tokio::join!(caches.answer_or(key(), now, compute(false)), caches.answer_or(key(), now, compute(false)));
        assert!(x.is_ok() && y.is_ok());
        assert_eq!(runs.get(), 3, "an answer that is not kept is not shared either");
        assert!(caches.answer(&key().unwrap(), now).is_none());
    }

    #[test]
    fn keys_are_forgotten_when_their_tenant_is_invalidated() {
        let caches = Caches::new(Duration::from_secs(1));
        let a = TenantId::generate();
        let mark = caches.key_mark();
        caches.remember_key("hash".into(), tenant(&a), mark);
        assert_eq!(caches.tenant_for_key("hash").map(|t| t.id), Some(a.clone()));
        caches.invalidate_tenant(&a);
        assert!(caches.tenant_for_key("hash").is_none());
        // A bump between the mark and the store's answer is not missed either.
        let mark = caches.key_mark();
        caches.invalidate_all();
        caches.remember_key("hash".into(), tenant(&a), mark);
        assert!(caches.tenant_for_key("hash").is_none());
    }

    #[test]
    fn bounded_maps_expire_and_stay_bounded() {
        let mut map = Bounded::new(Duration::from_secs(60), 3, 10);
        for i in 0..3 {
            map.insert(i, i, 1);
        }
        assert_eq!(map.get(&2), Some(&2));
        map.insert(3, 3, 1); // over the entry bound with nothing expired: emptied first
        assert_eq!((map.map.len(), map.get(&0), map.get(&3)), (1, None, Some(&3)));
        map.insert(4, 4, 11); // heavier than the whole map: not kept
        assert_eq!(map.get(&4), None);
        let mut expiring = Bounded::new(Duration::ZERO, 3, 10);
        expiring.insert(1, 1, 1);
        assert_eq!(expiring.get(&1), None);
    }
}
