//! Koji sessions: `sslLogin` creates one from a verified client certificate; later calls
//! name it with `Koji-Session-Id/-Key/-Callnum`. Checks run in Koji's order: session row,
//! expiry, callnum, user status, exclusivity.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::hub::Hub;
use crate::signature::Args;
use crate::timefmt;
use crate::tls::ClientCert;
use chrono::{DateTime, Utc};
use koji_protocol::{Value, kstruct};
use rand::Rng;
use sqlx::Row;

/// Session credentials as sent by the client (headers, or the URL query for old clients).
#[derive(Debug, Clone, Default)]
pub struct SessionHeaders {
    pub id: Option<String>,
    pub key: Option<String>,
    pub callnum: Option<String>,
}

impl SessionHeaders {
    pub fn present(&self) -> bool {
        self.id.is_some() || self.key.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_status: i32,
    pub usertype: i32,
    pub key: String,
    pub master: Option<i64>,
    pub hostip: String,
    pub authtype: i32,
    /// The last callnum committed for this session.
    pub callnum: Option<i64>,
    /// The callnum of the current request.
    pub callnum_received: Option<i64>,
    pub start_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub renew_time: Option<DateTime<Utc>>,
    pub expired: bool,
    pub exclusive: bool,
}

/// Methods a stale callnum may repeat (Koji's retry whitelist).
const RETRY_WHITELIST: &[&str] = &[
    "host.taskWait",
    "host.taskUnwait",
    "host.taskSetWait",
    "host.updateHost",
    "host.setBuildRootState",
    "repoExpire",
    "repoDelete",
    "repoProblem",
];

const SESSION_COLUMNS: &str = "s.id, s.user_id, s.key, s.master, s.hostip, s.authtype, s.callnum, \
    s.start_time, s.update_time, s.renew_time, s.expired, COALESCE(s.exclusive, FALSE) AS exclusive, \
    u.name AS user_name, u.status AS user_status, u.usertype";

fn row_to_session(r: &sqlx::postgres::PgRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get("id")?,
        user_id: i64::from(r.try_get::<i32, _>("user_id")?),
        user_name: r.try_get("user_name")?,
        user_status: r.try_get("user_status")?,
        usertype: r.try_get("usertype")?,
        key: r.try_get("key")?,
        master: r.try_get("master")?,
        hostip: r.try_get("hostip")?,
        authtype: r.try_get("authtype")?,
        callnum: r.try_get("callnum")?,
        callnum_received: None,
        start_time: r.try_get("start_time")?,
        update_time: r.try_get("update_time")?,
        renew_time: r.try_get("renew_time")?,
        expired: r.try_get("expired")?,
        exclusive: r.try_get("exclusive")?,
    })
}

fn auth(msg: impl Into<String>) -> HubError {
    HubError::auth(msg)
}

/// The address a session is bound to.
pub fn client_ip(hub: &crate::hub::HubState, peer: &crate::tls::PeerInfo) -> String {
    if hub.config.auth.check_client_ip {
        peer.addr.ip().to_string()
    } else {
        "-".to_string()
    }
}

/// Validate the session named by the request. `method` is the method being called
/// (`multiCall` for a batch). For `sslLogin` an expired session is returned (it is being
/// renewed) instead of failing.
pub async fn validate(
    hub: &Hub,
    peer: &crate::tls::PeerInfo,
    h: &SessionHeaders,
    method: &str,
) -> HResult<Session> {
    let invalid = || auth("Invalid session or bad credentials");
    let id: i64 =
        h.id.as_deref()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(invalid)?;
    let key = h.key.as_deref().ok_or_else(invalid)?;
    let (mut s, excl_id) = match hub.sessions.get(id, key) {
        Some(hit) => hit,
        None => {
            let sql = format!(
                "SELECT {SESSION_COLUMNS}, \
                   (SELECT x.id FROM sessions x WHERE x.user_id = s.user_id AND x.exclusive AND NOT x.closed LIMIT 1) AS excl_id \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id = $1 AND s.key = $2 AND NOT s.closed"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(key)
                .fetch_optional(hub.pool())
                .await
                .map_err(|e| hub.acquire_failed(e))?
                .ok_or_else(invalid)?;
            let s = row_to_session(&row)?;
            let excl_id: Option<i64> = row.try_get("excl_id")?;
            hub.sessions.put(&s, excl_id);
            (s, excl_id)
        }
    };
    if s.hostip != client_ip(hub, peer) {
        return Err(invalid());
    }
    let is_login = method == "sslLogin" || method == "login";
    // expiry
    let timeout = hub.config.auth.session_renewal_timeout;
    if !s.expired && timeout > 0 {
        let since = s.renew_time.unwrap_or(s.start_time);
        let limit = chrono::Duration::minutes(i64::try_from(timeout).unwrap_or(i64::MAX / 60_000));
        if Utc::now() - since > limit {
            sqlx::query("UPDATE sessions SET expired = TRUE WHERE id = $1 OR master = $1")
                .bind(s.id)
                .execute(hub.pool())
                .await
                .map_err(|e| hub.acquire_failed(e))?;
            hub.sessions.forget_user(s.user_id);
            s.expired = true;
        }
    }
    if s.expired {
        if is_login {
            return Ok(s);
        }
        return Err(HubError::AuthExpired(format!(
            "session \"{}\" has expired",
            s.id
        )));
    }
    // callnum
    if let Some(c) = &h.callnum {
        let n: i64 = c.trim().parse().map_err(|_| auth("Invalid callnum"))?;
        if let Some(last) = s.callnum {
            if last > n {
                return Err(HubError::Sequence(format!(
                    "{last} > {n} (session {})",
                    s.id
                )));
            }
            if last == n && !RETRY_WHITELIST.contains(&method) {
                return Err(HubError::Retry(format!(
                    "unable to retry call {n} (method {method}) for session {}",
                    s.id
                )));
            }
        }
        s.callnum_received = Some(n);
    }
    if s.user_status != 0 {
        return Err(auth(format!("logins by {} are not allowed", s.user_name)));
    }
    if let Some(x) = excl_id
        && x != s.id
        && Some(x) != s.master
        && !matches!(method, "exclusiveSession" | "login" | "sslLogin" | "logout")
    {
        return Err(HubError::AuthLock("User locked by another session".into()));
    }
    Ok(s)
}

fn random_key(user_id: i64) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..19)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    format!("{user_id}-{tail}")
}

fn login_struct(id: i64, key: &str) -> Value {
    kstruct! { "session-id" => id, "session-key" => key, "header-auth" => true }
}

/// sslLogin(proxyuser=None, proxyauthtype=None, renew=False, exclusive=None)
pub async fn ssl_login(ctx: &mut Ctx, a: Args) -> HResult<Value> {
    let renew = a.truthy(2);
    let exclusive = a.truthy(3);
    if ctx.session.is_some() && !renew {
        return Err(auth("Already logged in"));
    }
    let (dn, subject, mut name) = match &ctx.peer.cert {
        ClientCert::Verified { dn, subject } => {
            let comp = ctx.hub().config.auth.dn_username_component.clone();
            let name = ctx
                .peer
                .cert
                .component(&comp)
                .map(str::to_string)
                .ok_or_else(|| {
                    auth(format!(
                        "unable to get user information ({comp}) from client certificate"
                    ))
                })?;
            (dn.clone(), subject.clone(), name)
        }
        ClientCert::None => return Err(auth("could not verify client: NONE")),
        ClientCert::Invalid(why) => return Err(auth(format!("could not verify client: {why}"))),
    };
    if let Some(proxy) = a.opt_str(0)? {
        if !ctx
            .hub()
            .config
            .auth
            .proxy_dns
            .iter()
            .any(|d| crate::tls::dn_matches(&subject, d))
        {
            return Err(auth(format!("{dn} is not authorized to login other users")));
        }
        name = proxy.to_string();
    }
    crate::names::check_user(&name)?;
    // renewal of an expired session named in the headers
    // the session named in the headers (validated, expired ones included, for sslLogin)
    if renew && let Some(old) = ctx.session.take() {
        if old.user_name != name {
            return Err(auth("Invalid session or bad credentials"));
        }
        let key = random_key(old.user_id);
        let db = ctx.db().await?;
        sqlx::query(
            "UPDATE sessions SET key = $1, expired = FALSE, renew_time = clock_timestamp(), \
             callnum = NULL, exclusive = CASE WHEN $3 THEN TRUE ELSE exclusive END WHERE id = $2",
        )
        .bind(&key)
        .bind(old.id)
        .bind(exclusive)
        .execute(&mut *db)
        .await?;
        ctx.mark_write();
        ctx.hub().sessions.forget_user(old.user_id);
        return Ok(login_struct(old.id, &key));
    }
    let creates = ctx.hub().config.auth.login_creates_user;
    let db = ctx.db().await?;
    let user: Option<(i32, i32)> = sqlx::query_as("SELECT id, status FROM users WHERE name = $1")
        .bind(&name)
        .fetch_optional(&mut *db)
        .await?;
    let (uid, status) = match user {
        Some(u) => u,
        None if creates => {
            let id: i32 = sqlx::query_scalar(
                "INSERT INTO users (name, status, usertype) VALUES ($1, 0, 0) RETURNING id",
            )
            .bind(&name)
            .fetch_one(&mut *db)
            .await?;
            tracing::info!(user = %name, "created user on first login");
            (id, 0)
        }
        None => return Err(auth(format!("Unknown user: {name}"))),
    };
    if status != 0 {
        return Err(auth(format!("logins by {name} are not allowed")));
    }
    let key = random_key(i64::from(uid));
    let hostip = client_ip(ctx.hub(), &ctx.peer);
    let db = ctx.db().await?;
    let sid: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (user_id, key, hostip, authtype) VALUES ($1, $2, $3, 2) RETURNING id",
    )
    .bind(uid)
    .bind(&key)
    .bind(&hostip)
    .fetch_one(&mut *db)
    .await?;
    ctx.mark_write();
    tracing::info!(user = %name, session = sid, "ssl login");
    Ok(login_struct(sid, &key))
}

/// logout(session_id=None)
pub async fn logout(ctx: &mut Ctx, a: Args) -> HResult<Value> {
    let me = ctx.assert_login()?.clone();
    let target = a.opt_i64(0)?.unwrap_or(me.id);
    if target != me.id && target != me.master.unwrap_or(-1) && !ctx.is_admin().await? {
        let owner: Option<i32> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
            .bind(target)
            .fetch_optional(ctx.db().await?)
            .await?;
        if owner.map(i64::from) != Some(me.user_id) {
            return Err(HubError::not_allowed(
                "only admins can close other users' sessions",
            ));
        }
    }
    sqlx::query(
        "UPDATE sessions SET expired = TRUE, closed = TRUE, exclusive = NULL \
         WHERE id = $1 OR master = $1",
    )
    .bind(target)
    .execute(ctx.db().await?)
    .await?;
    ctx.mark_write();
    // the session row is closed by this very call: the commit must not re-check it
    ctx.session_closed = target == me.id || Some(target) == me.master;
    ctx.hub().sessions.forget_user(me.user_id);
    Ok(Value::Nil)
}

/// exclusiveSession(force=False)
pub async fn exclusive_session(ctx: &mut Ctx, a: Args) -> HResult<Value> {
    let me = ctx.assert_login()?.clone();
    if me.master.is_some() {
        return Err(generic_err("subsessions cannot become exclusive"));
    }
    if me.exclusive {
        return Err(generic_err("session is already exclusive"));
    }
    let force = a.truthy(0);
    let db = ctx.db().await?;
    let other: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = $1 AND exclusive AND NOT closed FOR UPDATE",
    )
    .bind(me.user_id as i32)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(o) = other {
        if !force {
            return Err(HubError::AuthLock("Cannot get exclusive session".into()));
        }
        sqlx::query(
            "UPDATE sessions SET expired = TRUE, closed = TRUE, exclusive = NULL WHERE id = $1 OR master = $1",
        )
        .bind(o)
        .execute(&mut *db)
        .await?;
    }
    sqlx::query("UPDATE sessions SET exclusive = TRUE WHERE id = $1")
        .bind(me.id)
        .execute(&mut *db)
        .await?;
    ctx.mark_write();
    ctx.hub().sessions.forget_user(me.user_id);
    Ok(Value::Nil)
}

/// sharedSession()
pub async fn shared_session(ctx: &mut Ctx, _a: Args) -> HResult<Value> {
    let me = ctx.assert_login()?.clone();
    if me.master.is_some() {
        return Err(generic_err("subsessions cannot become shared"));
    }
    sqlx::query("UPDATE sessions SET exclusive = NULL WHERE id = $1")
        .bind(me.id)
        .execute(ctx.db().await?)
        .await?;
    ctx.mark_write();
    ctx.hub().sessions.forget_user(me.user_id);
    Ok(Value::Nil)
}

/// subsession()
pub async fn subsession(ctx: &mut Ctx, _a: Args) -> HResult<Value> {
    let me = ctx.assert_login()?.clone();
    let master = me.master.unwrap_or(me.id);
    let key = random_key(me.user_id);
    let sid: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (user_id, key, hostip, authtype, master) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(me.user_id as i32)
    .bind(&key)
    .bind(&me.hostip)
    .bind(me.authtype)
    .bind(master)
    .fetch_one(ctx.db().await?)
    .await?;
    ctx.mark_write();
    Ok(login_struct(sid, &key))
}

/// logoutChild(session_id)
pub async fn logout_child(ctx: &mut Ctx, a: Args) -> HResult<Value> {
    let me = ctx.assert_login()?.clone();
    let child = a.i64(0)?;
    let n = sqlx::query(
        "UPDATE sessions SET expired = TRUE, closed = TRUE WHERE id = $1 AND master = $2",
    )
    .bind(child)
    .bind(me.id)
    .execute(ctx.db().await?)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(generic_err(&format!("No such subsession: {child}")));
    }
    ctx.mark_write();
    // the closed child must not stay usable from this hub's session cache
    ctx.hub().sessions.forget_user(me.user_id);
    Ok(Value::Nil)
}

fn generic_err(msg: &str) -> HubError {
    HubError::generic(msg)
}

fn session_value(s: &Session, details: bool) -> Value {
    let mut v = kstruct! {
        "user_id" => s.user_id,
        "expired" => s.expired,
        "master" => s.master,
        "authtype" => s.authtype,
        "callnum" => s.callnum,
        "start_time" => timefmt::iso(&s.start_time),
        "start_ts" => timefmt::ts(&s.start_time),
        "update_time" => timefmt::iso(&s.update_time),
        "update_ts" => timefmt::ts(&s.update_time),
        "renew_time" => timefmt::iso_value(s.renew_time.as_ref()),
        "renew_ts" => timefmt::ts_value(s.renew_time.as_ref()),
        "exclusive" => s.exclusive,
    };
    if details && let Value::Struct(m) = &mut v {
        m.insert("hostip".into(), Value::String(s.hostip.clone()));
        m.insert("id".into(), Value::Int(s.id));
    }
    v
}

/// getSessionInfo(details=False, user_id=None)
pub async fn get_session_info(ctx: &mut Ctx, a: Args) -> HResult<Value> {
    let details = a.truthy(0);
    if let Some(uid) = a.opt_i64(1)? {
        let me = ctx.assert_login()?.clone();
        if uid != me.user_id && !ctx.is_admin().await? {
            return Err(HubError::not_allowed(
                "only admins can see other users' sessions",
            ));
        }
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.user_id = $1 AND NOT s.closed ORDER BY s.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uid as i32)
            .fetch_all(ctx.db().await?)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            out.push(session_value(&row_to_session(r)?, details));
        }
        return Ok(Value::Array(out));
    }
    Ok(match &ctx.session {
        Some(s) => session_value(s, details),
        None => Value::Nil,
    })
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

    pub fn forget_user(&self, user_id: i64) {
        self.lock().retain(|_, (_, s, _)| s.user_id != user_id);
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new()
    }
}
