//! Builder hosts, channels, and who a host is (`host.*` calls).

use super::{Named, find, get, no_such};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::{hosts as store, users};
use chrono::{DateTime, Utc};

pub use crate::storage::hosts::{Channel, HOST_ORDER, Host, HostConfig, HostFilter};
use crate::storage::{Page, Paged};

pub async fn get_host(c: &mut Ctx, ident: &Ident, event: Option<i64>) -> HResult<Option<Host>> {
    Ok(store::get(c.db().await?, ident, event).await?)
}

/// The current host named by `ident`; "No such host: {shown}" when there is none.
pub async fn require_host(c: &mut Ctx, ident: &Ident, shown: &str) -> HResult<Host> {
    get_host(c, ident, None)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such host: {shown}")))
}

/// addHost: a host user (an existing normal user only with `force`), its host row, first
/// config and the `default` channel. `arches` is already checked and space-joined.
pub async fn add(
    c: &mut Ctx,
    name: &str,
    arches: &str,
    principal: Option<&str>,
    force: bool,
) -> HResult<i32> {
    crate::names::check_internal(name)?;
    if find(c, Named::Host, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("host already exists: {name}")));
    }
    let existing = users::by_name(c.db().await?, name).await?;
    let s = c.stamp().await?;
    let db = c.db().await?;
    let uid = match existing {
        Some((uid, _, users::USER_HOST)) => uid,
        Some((uid, _, _)) if force => {
            users::set_usertype(db, uid, users::USER_HOST).await?;
            uid
        }
        Some(_) => {
            return Err(HubError::generic(format!(
                "user {name} already exists and it is not a host"
            )));
        }
        None => users::insert(db, name, users::STATUS_NORMAL, users::USER_HOST).await?,
    };
    if let Some(p) = principal {
        users::add_principal(db, uid, p).await?;
    }
    let hid = store::insert(db, uid, name).await?;
    store::insert_first_config(db, hid, arches, s).await?;
    store::add_to_default_channel(db, hid, s).await?;
    tracing::info!(host = %name, arches = %arches, "host added");
    Ok(hid)
}

/// What `editHost` may change; None leaves a field as it is.
#[derive(Debug, Default)]
pub struct HostEdit {
    pub arches: Option<String>,
    pub capacity: Option<f64>,
    pub description: Option<Option<String>>,
    pub comment: Option<Option<String>>,
    pub name: Option<String>,
}

/// editHost: true when anything changed.
pub async fn edit(c: &mut Ctx, host: i32, e: HostEdit) -> HResult<bool> {
    let old = store::current_config(c.db().await?, host).await?;
    let new = HostConfig {
        arches: e.arches.or_else(|| old.arches.clone()),
        capacity: e.capacity.unwrap_or(old.capacity),
        description: e.description.unwrap_or_else(|| old.description.clone()),
        comment: e.comment.unwrap_or_else(|| old.comment.clone()),
        enabled: old.enabled,
    };
    let mut changed = false;
    if let Some(n) = e.name {
        if find(c, Named::Host, &Ident::Name(n.clone()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!("host {n} already exists")));
        }
        c.mark_write();
        store::rename(c.db().await?, host, &n).await?;
        changed = true;
    }
    if new != old {
        write_config(c, host, &new).await?;
        changed = true;
    }
    Ok(changed)
}

/// A new version of a host's config.
async fn write_config(c: &mut Ctx, host: i32, cfg: &HostConfig) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_config(db, host, s).await?;
    store::insert_config(db, host, cfg, s).await?;
    Ok(())
}

/// enableHost / disableHost.
pub async fn set_enabled(c: &mut Ctx, host: i32, enabled: bool) -> HResult<()> {
    let mut cfg = store::current_config(c.db().await?, host).await?;
    if cfg.enabled != enabled {
        cfg.enabled = enabled;
        write_config(c, host, &cfg).await?;
    }
    Ok(())
}

/// listHosts, ordered by `order` (columns checked by the caller).
pub async fn list(c: &mut Ctx, f: &HostFilter, page: &Page) -> HResult<Paged<Host>> {
    Ok(store::list(c.db().await?, f, page).await?)
}

/// When a host last checked in.
pub async fn last_update(c: &mut Ctx, host: i32) -> HResult<Option<DateTime<Utc>>> {
    Ok(store::update_time(c.db().await?, host).await?)
}

pub async fn get_channel(c: &mut Ctx, ident: &Ident) -> HResult<Option<Channel>> {
    Ok(store::channel(c.db().await?, ident).await?)
}

/// Channels (of a host, as of `event`), by id.
pub async fn channels(
    c: &mut Ctx,
    host: Option<i32>,
    event: Option<i64>,
    enabled: Option<bool>,
) -> HResult<Vec<Channel>> {
    Ok(store::channels(c.db().await?, host, event, enabled).await?)
}

/// Whether a channel is enabled (None: no such channel).
pub async fn channel_enabled(c: &mut Ctx, channel: i32) -> HResult<Option<bool>> {
    Ok(store::channel_enabled(c.db().await?, channel).await?)
}

/// createChannel.
pub async fn create_channel(c: &mut Ctx, name: &str, description: Option<&str>) -> HResult<i32> {
    crate::names::check_internal(name)?;
    if find(c, Named::Channel, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("channel {name} already exists")));
    }
    c.mark_write();
    Ok(store::insert_channel(c.db().await?, name, description).await?)
}

/// addHostToChannel (creating the channel with `create`; a disabled one only with `force`).
pub async fn add_to_channel(
    c: &mut Ctx,
    host: &Host,
    chan: &Ident,
    create: bool,
    force: bool,
) -> HResult<()> {
    let chan_id = match find(c, Named::Channel, chan).await? {
        Some((id, _)) => id,
        None if create => {
            let Ident::Name(n) = chan else {
                return Err(no_such(Named::Channel, chan));
            };
            crate::names::check_internal(n)?;
            c.mark_write();
            store::insert_channel(c.db().await?, n, None).await?
        }
        None => return Err(no_such(Named::Channel, chan)),
    };
    let enabled = store::channel_enabled(c.db().await?, chan_id)
        .await?
        .unwrap_or(false);
    if !enabled && !force {
        return Err(HubError::generic(format!("channel {chan} is disabled")));
    }
    if store::in_channel(c.db().await?, host.id, chan_id).await? {
        return Err(HubError::generic(format!(
            "host {} is already subscribed to the {chan} channel",
            host.name
        )));
    }
    let s = c.stamp().await?;
    store::add_to_channel(c.db().await?, host.id, chan_id, s).await?;
    Ok(())
}

/// removeHostFromChannel.
pub async fn remove_from_channel(c: &mut Ctx, host: &Host, chan: &Ident) -> HResult<()> {
    let (chan_id, chan_name) = get(c, Named::Channel, chan).await?;
    let s = c.stamp().await?;
    let n = store::revoke_channel(c.db().await?, host.id, chan_id, s).await?;
    if n == 0 {
        return Err(HubError::generic(format!(
            "Host {} is not subscribed to channel {chan_name}",
            host.name
        )));
    }
    Ok(())
}

/// The calling host's id, after Koji's `Host().verify()` checks: the caller is a host user
/// with an exclusive session (a subsession of one counts). With `bump`, the call also
/// counts as a sign of life (at most once a second, in the same statement as the lookup,
/// on the call's own connection: a second one per call would let a crowd of builders
/// starve the pool).
pub async fn verify(c: &mut Ctx, bump: bool) -> HResult<i32> {
    let s = c.assert_login()?.clone();
    let cached = c
        .hub()
        .host_ids
        .lock()
        .ok()
        .and_then(|m| m.get(&s.user_id).copied());
    let host = match cached {
        Some(h) if !bump => Some(h),
        _ => {
            let host = store::of_user(c.db().await?, s.user_id, bump).await?;
            if let (Some(h), Ok(mut m)) = (host, c.hub().host_ids.lock()) {
                m.insert(s.user_id, h);
            }
            host
        }
    };
    let Some(host) = host else {
        return Err(HubError::auth(format!("User {} is not a host", s.user_id)));
    };
    if !super::sessions::is_exclusive(c, &s).await? {
        return Err(HubError::auth("This method requires an exclusive session"));
    }
    Ok(host)
}

/// The user of a host.
pub async fn user_of(c: &mut Ctx, host: i32) -> HResult<Option<i32>> {
    Ok(store::user_of(c.db().await?, host).await?)
}

/// A builder's check-in (`host.updateHost`): load, ready flag, what it reports about itself
/// (`maxjobs`, `methods`, `status`) and its status line. A check-in that is the whole call
/// is one statement with the callnum, committed without waiting for the disk: a crash may
/// lose the last second of check-ins, which the next one rewrites, never a state change; one
/// round trip instead of six (BEGIN, SET, lookup, update, callnum, COMMIT) for the call every
/// builder makes every few seconds. Inside a multicall batch it is part of the batch's
/// transaction, flushed as usual.
pub async fn check_in(
    c: &mut Ctx,
    host: i32,
    load: f64,
    ready: bool,
    data: Option<&koji_protocol::Value>,
    status: Option<String>,
) -> HResult<()> {
    let stored = data.map(crate::storage::store_value);
    c.mark_checkin_write();
    let was_ready = if c.in_transaction() {
        store::check_in(c.db().await?, host, load, ready, stored, status).await?
    } else {
        let s = c.assert_login()?;
        let (sid, n) = (s.id, s.callnum_received);
        let (took, was_ready) = store::check_in_alone(
            c.autocommit_db().await?,
            host,
            load,
            ready,
            stored,
            status,
            sid,
            n,
        )
        .await?;
        if !took {
            return Err(c.callnum_refusal(sid, n).await);
        }
        c.callnum_recorded();
        was_ready
    };
    // A host that just became ready may be what a queued task waits for. One that stays
    // ready needs no pass per check-in: new tasks and finished ones wake the scheduler, and
    // its periodic pass covers the rest.
    if ready && was_ready == Some(false) {
        crate::storage::calls::notify_tasks(c.db().await?).await?;
    }
    Ok(())
}
