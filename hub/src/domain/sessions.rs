//! Koji sessions: `sslLogin` creates one from a verified client certificate; later calls
//! name it with `Koji-Session-Id/-Key/-Callnum`. Checks run in Koji's order: session row,
//! expiry, callnum, user status, exclusivity.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::hub::{Hub, HubState};
use crate::storage::{sessions as store, users};
use crate::tls::{ClientCert, PeerInfo};
use chrono::Utc;
use rand::Rng;

pub use crate::storage::sessions::Session;

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

/// How a session was opened (Koji's AUTHTYPE): a client certificate.
const AUTHTYPE_SSL: i32 = 2;

fn auth(msg: impl Into<String>) -> HubError {
    HubError::auth(msg)
}

/// The address a session is bound to.
pub fn client_ip(hub: &HubState, peer: &PeerInfo) -> String {
    if hub.config.auth.check_client_ip {
        peer.addr.ip().to_string()
    } else {
        "-".to_string()
    }
}

/// Validate the session named by the request. `method` is the method being called
/// (`multiCall` for a batch). For `sslLogin` an expired session is returned (it is being
/// renewed) instead of failing.
///
/// This runs before the call's context (and transaction) exists, on connections of its
/// own: an expiry it finds is recorded even though the call is then refused.
pub async fn validate(
    hub: &Hub,
    peer: &PeerInfo,
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
            let mut db = hub
                .pool()
                .acquire()
                .await
                .map_err(|e| hub.acquire_failed(e))?;
            let (s, excl_id) = store::open_by_key(&mut db, id, key)
                .await?
                .ok_or_else(invalid)?;
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
            let mut db = hub
                .pool()
                .acquire()
                .await
                .map_err(|e| hub.acquire_failed(e))?;
            store::expire(&mut db, s.id).await?;
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
    if s.user_status != users::STATUS_NORMAL {
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

fn random_key(user_id: i32) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..19)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    format!("{user_id}-{tail}")
}

/// sslLogin: a session for the certificate's user (or, for an allowed proxy, for
/// `proxyuser`); with `renew`, a new key for the session named in the headers. Returns
/// (session id, key).
pub async fn ssl_login(
    c: &mut Ctx,
    proxyuser: Option<&str>,
    renew: bool,
    exclusive: bool,
) -> HResult<(i64, String)> {
    if c.session.is_some() && !renew {
        return Err(auth("Already logged in"));
    }
    let (dn, subject, mut name) = match &c.peer.cert {
        ClientCert::Verified { dn, subject } => {
            let comp = c.hub().config.auth.dn_username_component.clone();
            let name = c
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
    if let Some(proxy) = proxyuser {
        if !c
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
    // renewal of the session named in the headers (validated, expired ones included)
    if renew && let Some(old) = c.session.take() {
        if old.user_name != name {
            return Err(auth("Invalid session or bad credentials"));
        }
        let key = random_key(old.user_id);
        store::renew(c.db().await?, old.id, &key, exclusive).await?;
        c.mark_write();
        c.hub().sessions.forget_user(old.user_id);
        return Ok((old.id, key));
    }
    let creates = c.hub().config.auth.login_creates_user;
    let db = c.db().await?;
    let (uid, status) = match users::by_name(db, &name).await? {
        Some((id, status, _)) => (id, status),
        None if creates => {
            let id = users::insert(db, &name, users::STATUS_NORMAL, users::USER_NORMAL).await?;
            tracing::info!(user = %name, "created user on first login");
            (id, users::STATUS_NORMAL)
        }
        None => return Err(auth(format!("Unknown user: {name}"))),
    };
    if status != users::STATUS_NORMAL {
        return Err(auth(format!("logins by {name} are not allowed")));
    }
    let key = random_key(uid);
    let hostip = client_ip(c.hub(), &c.peer);
    let sid = store::insert(c.db().await?, uid, &key, &hostip, AUTHTYPE_SSL, None).await?;
    c.mark_write();
    tracing::info!(user = %name, session = sid, "ssl login");
    Ok((sid, key))
}

/// logout: close the caller's session (or, as its owner or an admin, another one) and its
/// subsessions.
pub async fn logout(c: &mut Ctx, target: Option<i64>) -> HResult<()> {
    let me = c.assert_login()?.clone();
    let target = target.unwrap_or(me.id);
    if target != me.id && target != me.master.unwrap_or(-1) && !c.is_admin().await? {
        let owner = store::owner(c.db().await?, target).await?;
        if owner != Some(me.user_id) {
            return Err(HubError::not_allowed(
                "only admins can close other users' sessions",
            ));
        }
    }
    store::close_tree(c.db().await?, target).await?;
    c.mark_write();
    // the session row is closed by this very call: the commit must not re-check it
    c.session_closed = target == me.id || Some(target) == me.master;
    c.hub().sessions.forget_user(me.user_id);
    Ok(())
}

/// exclusiveSession: the caller's session becomes the only usable one of its user (with
/// `force`, another exclusive session is closed).
pub async fn make_exclusive(c: &mut Ctx, force: bool) -> HResult<()> {
    let me = c.assert_login()?.clone();
    if me.master.is_some() {
        return Err(HubError::generic("subsessions cannot become exclusive"));
    }
    if me.exclusive {
        return Err(HubError::generic("session is already exclusive"));
    }
    let db = c.db().await?;
    if let Some(other) = store::exclusive_of_user_for_update(db, me.user_id).await? {
        if !force {
            return Err(HubError::AuthLock("Cannot get exclusive session".into()));
        }
        store::close_tree(db, other).await?;
    }
    store::set_exclusive(db, me.id, true).await?;
    c.mark_write();
    c.hub().sessions.forget_user(me.user_id);
    Ok(())
}

/// sharedSession: drop the exclusive mark.
pub async fn make_shared(c: &mut Ctx) -> HResult<()> {
    let me = c.assert_login()?.clone();
    if me.master.is_some() {
        return Err(HubError::generic("subsessions cannot become shared"));
    }
    store::set_exclusive(c.db().await?, me.id, false).await?;
    c.mark_write();
    c.hub().sessions.forget_user(me.user_id);
    Ok(())
}

/// subsession: a child session of the caller's; returns (id, key).
pub async fn subsession(c: &mut Ctx) -> HResult<(i64, String)> {
    let me = c.assert_login()?.clone();
    let master = me.master.unwrap_or(me.id);
    let key = random_key(me.user_id);
    let sid = store::insert(
        c.db().await?,
        me.user_id,
        &key,
        &me.hostip,
        me.authtype,
        Some(master),
    )
    .await?;
    c.mark_write();
    Ok((sid, key))
}

/// logoutChild: close a subsession of the caller's.
pub async fn logout_child(c: &mut Ctx, child: i64) -> HResult<()> {
    let me = c.assert_login()?.clone();
    if !store::close_child(c.db().await?, child, me.id).await? {
        return Err(HubError::generic(format!("No such subsession: {child}")));
    }
    c.mark_write();
    // the closed child must not stay usable from this hub's session cache
    c.hub().sessions.forget_user(me.user_id);
    Ok(())
}

/// getSessionInfo(user_id=…): the open sessions of a user (the caller's own, or any as
/// admin).
pub async fn sessions_of(c: &mut Ctx, user: i32) -> HResult<Vec<Session>> {
    let me = c.assert_login()?.clone();
    if user != me.user_id && !c.is_admin().await? {
        return Err(HubError::not_allowed(
            "only admins can see other users' sessions",
        ));
    }
    Ok(store::open_of_user(c.db().await?, user).await?)
}

/// Whether the session is exclusive, directly or through its master (a host's
/// subsession).
pub async fn is_exclusive(c: &mut Ctx, s: &Session) -> HResult<bool> {
    Ok(s.exclusive
        || match s.master {
            Some(m) => store::is_exclusive(c.db().await?, m).await?,
            None => false,
        })
}
