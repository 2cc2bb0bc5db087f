//! The shared state of a running hub.
//!
//! The connection pool is kept apart from what handlers may see: a handler reaches the hub
//! only through its call's [`crate::ctx::Ctx`], which hands out [`HubState`] (config,
//! caches, wake-ups) and the call's own connection, never the pool. So no call can hold one
//! pool connection while it waits for a second one (with as many such calls as the pool has
//! connections, every one of them would wait forever).

use crate::config::HubConfig;
use crate::ident::Ident;
use crate::storage::sessions::Session;
use crate::storage::tags::Tag;
use sqlx::PgPool;

/// How often an exhausted pool is logged (not once per refused call).
const POOL_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// How often host polls may wake the scheduler (task events wake it at once anyway).
const POLL_WAKE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

pub struct Hub {
    /// Only the call context, session validation and background loops take connections.
    pool: PgPool,
    state: HubState,
}

impl std::ops::Deref for Hub {
    type Target = HubState;
    fn deref(&self) -> &HubState {
        &self.state
    }
}

/// Everything of a running hub but its connection pool.
pub struct HubState {
    pub config: HubConfig,
    /// Bumped whenever tasks change (on this or another hub, via LISTEN/NOTIFY): wakes
    /// long-polling builders.
    pub task_events: tokio::sync::watch::Sender<u64>,
    /// Per builder host: bumped when a scheduler pass (on any hub) assigned it work.
    pub host_events:
        std::sync::Mutex<std::collections::HashMap<i64, tokio::sync::watch::Sender<u64>>>,
    pub sessions: SessionCache,
    /// Bumped by every committed change (here, or on another hub via NOTIFY kkoji_changes):
    /// cached read results from an older generation are not used.
    pub generation: std::sync::atomic::AtomicU64,
    /// Current tag records by id and by name (see `generation`).
    pub tag_cache: std::sync::Mutex<std::collections::HashMap<Ident, (u64, Tag)>>,
    /// Builder hosts by their user id. A host row is never deleted and never changes its
    /// user, so an entry never goes stale; it saves every host call a lookup.
    pub host_ids: std::sync::Mutex<std::collections::HashMap<i32, i32>>,
    /// When a polling host last woke the scheduler (see [`HubState::wake_scheduler_for_poll`]).
    last_poll_wake: std::sync::Mutex<Option<std::time::Instant>>,
    /// When an exhausted pool was last logged (see [`Hub::acquire_failed`]).
    last_pool_log: std::sync::Mutex<Option<std::time::Instant>>,
}

impl HubState {
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A receiver that changes when `host` is given work.
    pub fn host_watch(&self, host: i64) -> tokio::sync::watch::Receiver<u64> {
        let mut map = self
            .host_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(host)
            .or_insert_with(|| tokio::sync::watch::Sender::new(0))
            .subscribe()
    }

    /// Wake the long-polls of the hosts named in a `kkoji_assigned` payload.
    pub(crate) fn wake_hosts(&self, payload: &str) {
        let map = self
            .host_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in payload
            .split(',')
            .filter_map(|x| x.trim().parse::<i64>().ok())
        {
            if let Some(tx) = map.get(&id) {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wake every long-poll (something changed that any of them may care about).
    pub(crate) fn wake_all_hosts(&self) {
        let map = self
            .host_events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for tx in map.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Ask the background loop for a scheduler pass (passes asked for while one runs
    /// coalesce into one).
    pub fn wake_scheduler(&self) {
        self.task_events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A host found nothing assigned: a pass may have work for it. Polls of many hosts ask
    /// at most once per [`POLL_WAKE_INTERVAL`], so 200 polling builders do not keep the
    /// scheduler running back to back.
    pub fn wake_scheduler_for_poll(&self) {
        let now = std::time::Instant::now();
        let mut last = self
            .last_poll_wake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < POLL_WAKE_INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        self.wake_scheduler();
    }

    pub fn bump_generation(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Hub {
    pub fn new(pool: PgPool, config: HubConfig) -> Hub {
        Hub {
            pool,
            state: HubState {
                config,
                task_events: tokio::sync::watch::Sender::new(0),
                host_events: std::sync::Mutex::new(std::collections::HashMap::new()),
                sessions: SessionCache::new(),
                generation: std::sync::atomic::AtomicU64::new(0),
                tag_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
                host_ids: std::sync::Mutex::new(std::collections::HashMap::new()),
                last_poll_wake: std::sync::Mutex::new(None),
                last_pool_log: std::sync::Mutex::new(None),
            },
        }
    }

    /// The pool, for the call context, session validation and background loops only.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn state(&self) -> &HubState {
        &self.state
    }

    /// Note a failed connection acquisition. An exhausted pool is logged at most once per
    /// [`POOL_LOG_INTERVAL`] with its size, not once per refused call (a crowd of builders
    /// would flood the log).
    pub(crate) fn acquire_failed(&self, e: sqlx::Error) -> crate::error::HubError {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            let now = std::time::Instant::now();
            let mut last = self
                .state
                .last_pool_log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !last.is_some_and(|t| now.duration_since(t) < POOL_LOG_INTERVAL) {
                *last = Some(now);
                tracing::warn!(
                    pool_size = self.pool.size(),
                    idle = self.pool.num_idle(),
                    max_connections = self.state.config.db.max_connections,
                    acquire_timeout_secs = self.state.config.db.acquire_timeout_secs,
                    "database pool exhausted: calls are answered ServerOffline until a connection frees"
                );
            }
        }
        crate::error::HubError::Db(e)
    }
}

/// Validated sessions, kept for a moment so read-only calls need no database round trip
/// for authentication. A change of a session (logout, exclusivity, expiry, renewal) made
/// through this hub drops the user's entries at once; one made through another hub on the
/// same database is seen within `TTL`. Writes never rely on the cache: the commit
/// re-checks the session row (open, not expired, callnum) in the call's transaction.
/// session id → (cached at, session, the user's open exclusive session if any)
type CacheMap = std::collections::HashMap<i64, (std::time::Instant, Session, Option<i64>)>;

pub struct SessionCache {
    entries: std::sync::Mutex<CacheMap>,
}

impl SessionCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(2);
    const MAX: usize = 50_000;

    pub fn new() -> SessionCache {
        SessionCache {
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheMap> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, id: i64, key: &str) -> Option<(Session, Option<i64>)> {
        let map = self.lock();
        let (at, s, excl) = map.get(&id)?;
        (at.elapsed() < Self::TTL && s.key == key).then(|| (s.clone(), *excl))
    }

    pub fn put(&self, s: &Session, excl: Option<i64>) {
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.retain(|_, (at, _, _)| at.elapsed() < Self::TTL);
            if map.len() >= Self::MAX {
                map.clear();
            }
        }
        let mut s = s.clone();
        s.callnum_received = None;
        map.insert(s.id, (std::time::Instant::now(), s, excl));
    }

    /// Record a committed callnum, so a replay through this hub is refused at once.
    pub fn set_callnum(&self, id: i64, n: i64) {
        if let Some((_, s, _)) = self.lock().get_mut(&id) {
            s.callnum = Some(n);
        }
    }

    pub fn forget_user(&self, user_id: i32) {
        self.lock().retain(|_, (_, s, _)| s.user_id != user_id);
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new()
    }
}
