//! Builder hosts and channels.

use super::common::{self, Named, ver};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use crate::timefmt;
use chrono::{DateTime, Utc};
use koji_protocol::{Value, kstruct};
use sqlx::Row;

const HOST_SELECT: &str = "SELECT h.id, h.user_id, h.name, h.update_time, h.ready, h.task_load, h.status, \
    c.arches, c.capacity, c.description, c.comment, c.enabled \
    FROM host h JOIN host_config c ON c.host_id = h.id";

/// The admin's comment, followed by what the builder last said about itself when that is
/// not simply "ready" (so `koji hostinfo` and `list-hosts --comment` show why a builder
/// takes no work, without overwriting what the admin wrote).
fn shown_comment(admin: Option<String>, status: Option<String>) -> Option<String> {
    match (admin, status.filter(|s| !s.is_empty() && s != "ready")) {
        (Some(a), Some(s)) => Some(format!("{a} [builder: {s}]")),
        (None, Some(s)) => Some(format!("[builder: {s}]")),
        (a, None) => a,
    }
}

fn host_value(r: &sqlx::postgres::PgRow) -> HResult<Value> {
    let update: Option<DateTime<Utc>> = r.try_get("update_time")?;
    let comment = shown_comment(r.try_get("comment")?, r.try_get("status")?);
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "user_id" => r.try_get::<i32, _>("user_id")?,
        "name" => r.try_get::<String, _>("name")?,
        "update_ts" => timefmt::ts_value(update.as_ref()),
        "ready" => r.try_get::<bool, _>("ready")?,
        "task_load" => r.try_get::<f64, _>("task_load")?,
        "arches" => r.try_get::<Option<String>, _>("arches")?.unwrap_or_default(),
        "capacity" => r.try_get::<f64, _>("capacity")?,
        "description" => r.try_get::<Option<String>, _>("description")?,
        "comment" => comment,
        "enabled" => r.try_get::<bool, _>("enabled")?,
    })
}

/// The host named by `v`, as of `event`.
pub async fn host_row(c: &mut Ctx, v: &Value, event: Option<i64>) -> HResult<Option<Value>> {
    let ident = common::ident_of(v, "host")?;
    let cond = match &ident {
        Ident::Id(_) => "h.id = $1",
        Ident::Name(_) => "h.name = $1",
    };
    let sql = format!("{HOST_SELECT} AND {} WHERE {cond}", ver("c", event));
    let q = sqlx::query(sqlx::AssertSqlSafe(sql));
    let q = match &ident {
        Ident::Id(i) => q.bind(common::opt_i32(Some(*i)).unwrap_or(-1)),
        Ident::Name(n) => q.bind(n.clone()),
    };
    match q.fetch_optional(c.db().await?).await? {
        Some(r) => Ok(Some(host_value(&r)?)),
        None => Ok(None),
    }
}

async fn require_host(c: &mut Ctx, v: &Value) -> HResult<(i64, Value)> {
    match host_row(c, v, None).await? {
        Some(h) => Ok((h.get("id").and_then(Value::as_i64).unwrap_or(0), h)),
        None => Err(HubError::generic(format!("No such host: {}", display(v)))),
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => crate::pyrepr::repr(other),
    }
}

/// getHost(hostInfo, strict=False, event=None)
pub async fn get_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    let event = a.opt_i64(2)?;
    match host_row(c, a.val(0), event).await? {
        Some(h) => Ok(h),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "Invalid hostInfo: {}",
            display(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// addHost(hostname, arches, krb_principal=None, force=False)
pub async fn add_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let arches = match a.val(1) {
        Value::String(s) => crate::names::parse_arches(s)?,
        Value::Array(v) => {
            let parts: Option<Vec<&str>> = v.iter().map(Value::as_str).collect();
            let parts =
                parts.ok_or_else(|| HubError::parameter("arches must be a list of strings"))?;
            crate::names::parse_arches(&parts.join(" "))?
        }
        other => {
            return Err(HubError::parameter(format!(
                "Invalid type for arches in addHost(): expected list, got {}",
                other.type_name()
            )));
        }
    };
    let force = a.truthy(3);
    if common::find(c, Named::Host, &Ident::Name(name.clone()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("host already exists: {name}")));
    }
    let existing: Option<(i32, i32)> =
        sqlx::query_as("SELECT id, usertype FROM users WHERE name = $1")
            .bind(&name)
            .fetch_optional(c.db().await?)
            .await?;
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    let db = c.db().await?;
    let uid = match existing {
        Some((uid, 1)) => uid,
        Some((uid, _)) if force => {
            sqlx::query("UPDATE users SET usertype = 1 WHERE id = $1")
                .bind(uid)
                .execute(&mut *db)
                .await?;
            uid
        }
        Some(_) => {
            return Err(HubError::generic(format!(
                "user {name} already exists and it is not a host"
            )));
        }
        None => {
            sqlx::query_scalar(
                "INSERT INTO users (name, status, usertype) VALUES ($1, 0, 1) RETURNING id",
            )
            .bind(&name)
            .fetch_one(&mut *db)
            .await?
        }
    };
    if let Some(p) = a.opt_str(2)? {
        sqlx::query("INSERT INTO user_krb_principals (user_id, krb_principal) VALUES ($1, $2)")
            .bind(uid)
            .bind(p)
            .execute(&mut *db)
            .await?;
    }
    let hid: i32 =
        sqlx::query_scalar("INSERT INTO host (user_id, name) VALUES ($1, $2) RETURNING id")
            .bind(uid)
            .bind(&name)
            .fetch_one(&mut *db)
            .await?;
    sqlx::query(
        "INSERT INTO host_config (host_id, arches, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(hid)
    .bind(&arches)
    .bind(ev)
    .bind(me)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "INSERT INTO host_channels (host_id, channel_id, create_event, creator_id) \
         SELECT $1, id, $2, $3 FROM channels WHERE name = 'default'",
    )
    .bind(hid)
    .bind(ev)
    .bind(me)
    .execute(&mut *db)
    .await?;
    tracing::info!(host = %name, arches = %arches, "host added");
    Ok(Value::Int(i64::from(hid)))
}

/// Koji's wording for a value of the wrong type in editHost.
fn type_error(v: &Value) -> HubError {
    HubError::parameter(format!(
        "Invalid type for value '{}': <class '{}'>, expected type <class 'str'>",
        crate::pyrepr::repr(v).trim_matches('\''),
        v.type_name()
    ))
}

/// A text field that may be cleared with None but must otherwise be a string.
fn opt_text(v: &Value) -> HResult<Option<String>> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(type_error(other)),
    }
}

struct HostConfig {
    arches: Option<String>,
    capacity: f64,
    description: Option<String>,
    comment: Option<String>,
    enabled: bool,
}

async fn current_config(c: &mut Ctx, hid: i64) -> HResult<HostConfig> {
    let r = sqlx::query(
        "SELECT arches, capacity, description, comment, enabled FROM host_config WHERE host_id = $1 AND active",
    )
    .bind(hid as i32)
    .fetch_one(c.db().await?)
    .await?;
    Ok(HostConfig {
        arches: r.try_get("arches")?,
        capacity: r.try_get("capacity")?,
        description: r.try_get("description")?,
        comment: r.try_get("comment")?,
        enabled: r.try_get("enabled")?,
    })
}

/// Write a new version of a host's config (revoke the old row, insert the new one).
async fn write_config(c: &mut Ctx, hid: i64, cfg: &HostConfig) -> HResult<()> {
    common::revoke(c, "host_config", "host_id = $2", &[hid]).await?;
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO host_config (host_id, arches, capacity, description, comment, enabled, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hid as i32)
    .bind(&cfg.arches)
    .bind(cfg.capacity)
    .bind(&cfg.description)
    .bind(&cfg.comment)
    .bind(cfg.enabled)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(())
}

/// editHost(hostInfo, **kw): arches, capacity, description, comment, name. True if
/// anything changed.
pub async fn edit_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let (hid, _) = require_host(c, a.val(0)).await?;
    let old = current_config(c, hid).await?;
    let mut new = HostConfig {
        arches: old.arches.clone(),
        capacity: old.capacity,
        description: old.description.clone(),
        comment: old.comment.clone(),
        enabled: old.enabled,
    };
    let mut rename = None;
    for (k, v) in &a.extra {
        match k.as_str() {
            "arches" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| HubError::parameter("arches must be a string"))?;
                new.arches = Some(crate::names::parse_arches(s)?);
            }
            "capacity" => {
                let cap = v
                    .as_f64()
                    .ok_or_else(|| HubError::parameter("capacity must be a number"))?;
                if !(cap.is_finite() && cap > 0.0) {
                    return Err(HubError::parameter(format!(
                        "capacity must be a positive number, got {cap}"
                    )));
                }
                new.capacity = cap;
            }
            "description" => new.description = opt_text(v)?,
            "comment" => new.comment = opt_text(v)?,
            "name" => {
                let n = v
                    .as_str()
                    .ok_or_else(|| HubError::parameter("name must be a string"))?;
                crate::names::check_internal(n)?;
                rename = Some(n.to_string());
            }
            other => {
                return Err(HubError::parameter(format!(
                    "editHost() got an unexpected keyword argument '{other}'"
                )));
            }
        }
    }
    let mut changed = false;
    if let Some(n) = rename {
        if common::find(c, Named::Host, &Ident::Name(n.clone()))
            .await?
            .is_some()
        {
            return Err(HubError::generic(format!("host {n} already exists")));
        }
        c.mark_write();
        let db = c.db().await?;
        sqlx::query("UPDATE host SET name = $1 WHERE id = $2")
            .bind(&n)
            .bind(hid as i32)
            .execute(&mut *db)
            .await?;
        sqlx::query(
            "UPDATE users SET name = $1 WHERE id = (SELECT user_id FROM host WHERE id = $2)",
        )
        .bind(&n)
        .bind(hid as i32)
        .execute(&mut *db)
        .await?;
        changed = true;
    }
    let cfg_changed = new.arches != old.arches
        || new.capacity != old.capacity
        || new.description != old.description
        || new.comment != old.comment;
    if cfg_changed {
        write_config(c, hid, &new).await?;
        changed = true;
    }
    Ok(Value::Bool(changed))
}

async fn set_enabled(c: &mut Ctx, a: Args, enabled: bool) -> HResult<Value> {
    c.assert_perm("host").await?;
    let (hid, _) = require_host(c, a.val(0)).await?;
    let mut cfg = current_config(c, hid).await?;
    if cfg.enabled != enabled {
        cfg.enabled = enabled;
        write_config(c, hid, &cfg).await?;
    }
    Ok(Value::Nil)
}

/// enableHost(hostname)
pub async fn enable_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, true).await
}

/// disableHost(hostname)
pub async fn disable_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, false).await
}

/// listHosts(arches=None, channelID=None, ready=None, enabled=None, userID=None, queryOpts=None)
pub async fn list_hosts(c: &mut Ctx, a: Args) -> HResult<Value> {
    let arches = a.opt_str_list(0)?;
    let channel = match a.opt_ident(1)? {
        Some(i) => Some(common::get(c, Named::Channel, &i).await?.0),
        None => None,
    };
    let ready = if a.is_nil(2) { None } else { Some(a.truthy(2)) };
    let enabled = if a.is_nil(3) { None } else { Some(a.truthy(3)) };
    let user = a.opt_i64(4)?;
    let qo = common::QueryOpts::parse(
        a.val(5),
        &["id", "name", "user_id", "ready", "task_load", "capacity"],
    )?;
    let sql = format!(
        "{HOST_SELECT} AND c.active WHERE ($1::int IS NULL OR EXISTS (SELECT 1 FROM host_channels hc \
           WHERE hc.host_id = h.id AND hc.channel_id = $1 AND hc.active)) \
         AND ($2::bool IS NULL OR h.ready = $2) AND ($3::bool IS NULL OR c.enabled = $3) \
         AND ($4::int IS NULL OR h.user_id = $4) \
         AND ($5::text[] IS NULL OR string_to_array(COALESCE(c.arches, ''), ' ') && $5) \
         ORDER BY {}",
        qo.order
            .as_deref()
            .map(|o| format!("h.{o}").replace(", ", ", h."))
            .unwrap_or_else(|| "h.id".into())
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(common::opt_i32(channel))
        .bind(ready)
        .bind(enabled)
        .bind(common::opt_i32(user))
        .bind(arches)
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(host_value(r)?);
    }
    Ok(qo.apply(out))
}

/// getLastHostUpdate(hostID, ts=False)
pub async fn get_last_host_update(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (hid, _) = require_host(c, a.val(0)).await?;
    let t: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT update_time FROM host WHERE id = $1")
        .bind(hid as i32)
        .fetch_one(c.db().await?)
        .await?;
    Ok(if a.truthy(1) {
        timefmt::ts_value(t.as_ref())
    } else {
        timefmt::iso_value(t.as_ref())
    })
}

fn channel_value(r: &sqlx::postgres::PgRow) -> HResult<Value> {
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "name" => r.try_get::<String, _>("name")?,
        "description" => r.try_get::<Option<String>, _>("description")?,
        "enabled" => r.try_get::<bool, _>("enabled")?,
        "comment" => r.try_get::<Option<String>, _>("comment")?,
    })
}

/// getChannel(channelInfo, strict=False)
pub async fn get_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let base = "SELECT id, name, description, enabled, comment FROM channels";
    let r = match &ident {
        Ident::Id(i) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} WHERE id = $1")))
                .bind(common::opt_i32(Some(*i)).unwrap_or(-1))
                .fetch_optional(c.db().await?)
                .await?
        }
        Ident::Name(n) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} WHERE name = $1")))
                .bind(n.clone())
                .fetch_optional(c.db().await?)
                .await?
        }
    };
    match r {
        Some(r) => channel_value(&r),
        None if a.truthy(1) => Err(HubError::generic(format!("No such channel: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// listChannels(hostID=None, event=None, enabled=None)
pub async fn list_channels(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = match a.opt_ident(0)? {
        Some(i) => Some(common::get(c, Named::Host, &i).await?.0),
        None => None,
    };
    let event = a.opt_i64(1)?;
    let enabled = if a.is_nil(2) { None } else { Some(a.truthy(2)) };
    let sql = format!(
        "SELECT id, name, description, enabled, comment FROM channels ch \
         WHERE ($1::int IS NULL OR EXISTS (SELECT 1 FROM host_channels hc WHERE hc.channel_id = ch.id \
               AND hc.host_id = $1 AND {})) AND ($2::bool IS NULL OR ch.enabled = $2) ORDER BY id",
        ver("hc", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(common::opt_i32(host))
        .bind(enabled)
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(channel_value(r)?);
    }
    Ok(Value::Array(out))
}

/// createChannel(channel_name, description=None)
pub async fn create_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    if common::find(c, Named::Channel, &Ident::Name(name.clone()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!("channel {name} already exists")));
    }
    c.mark_write();
    let id: i32 =
        sqlx::query_scalar("INSERT INTO channels (name, description) VALUES ($1, $2) RETURNING id")
            .bind(&name)
            .bind(a.opt_str(1)?)
            .fetch_one(c.db().await?)
            .await?;
    Ok(Value::Int(i64::from(id)))
}

/// addHostToChannel(hostname, channel_name, create=False, force=False)
pub async fn add_host_to_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let (hid, host) = require_host(c, a.val(0)).await?;
    let host_name = host
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let chan_ident = a.ident(1)?;
    let create = a.truthy(2);
    let force = a.truthy(3);
    let chan = match common::find(c, Named::Channel, &chan_ident).await? {
        Some((id, _)) => id,
        None if create => {
            let Ident::Name(n) = &chan_ident else {
                return Err(common::no_such(Named::Channel, &chan_ident));
            };
            crate::names::check_internal(n)?;
            c.mark_write();
            let id: i32 =
                sqlx::query_scalar("INSERT INTO channels (name) VALUES ($1) RETURNING id")
                    .bind(n)
                    .fetch_one(c.db().await?)
                    .await?;
            i64::from(id)
        }
        None => return Err(common::no_such(Named::Channel, &chan_ident)),
    };
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM channels WHERE id = $1")
        .bind(chan as i32)
        .fetch_one(c.db().await?)
        .await?;
    if !enabled && !force {
        return Err(HubError::generic(format!(
            "channel {chan_ident} is disabled"
        )));
    }
    let member: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM host_channels WHERE host_id = $1 AND channel_id = $2 AND active",
    )
    .bind(hid as i32)
    .bind(chan as i32)
    .fetch_optional(c.db().await?)
    .await?;
    if member.is_some() {
        return Err(HubError::generic(format!(
            "host {host_name} is already subscribed to the {chan_ident} channel"
        )));
    }
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO host_channels (host_id, channel_id, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(hid as i32)
    .bind(chan as i32)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    Ok(Value::Nil)
}

/// removeHostFromChannel(hostname, channel_name)
pub async fn remove_host_from_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let (hid, host) = require_host(c, a.val(0)).await?;
    let host_name = host
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let chan_ident = a.ident(1)?;
    let (chan, chan_name) = common::get(c, Named::Channel, &chan_ident).await?;
    let n = common::revoke(
        c,
        "host_channels",
        "host_id = $2 AND channel_id = $3",
        &[hid, chan],
    )
    .await?;
    if n == 0 {
        return Err(HubError::generic(format!(
            "Host {host_name} is not subscribed to channel {chan_name}"
        )));
    }
    Ok(Value::Nil)
}

/// listBuildroots(hostID=None, tagID=None, state=None, rpmID=None, archiveID=None,
/// taskID=None, buildrootID=None, repoID=None, queryOpts=None)
pub async fn list_buildroots(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = match a.opt_ident(0)? {
        Some(i) => Some(common::get(c, Named::Host, &i).await?.0),
        None => None,
    };
    let tag = match a.opt_ident(1)? {
        Some(i) => Some(common::get(c, Named::Tag, &i).await?.0),
        None => None,
    };
    let states: Option<Vec<i32>> = match a.val(2) {
        Value::Nil => None,
        Value::Int(s) => Some(vec![*s as i32]),
        Value::Array(v) => Some(
            v.iter()
                .filter_map(Value::as_i64)
                .map(|x| x as i32)
                .collect(),
        ),
        _ => {
            return Err(HubError::parameter(
                "state must be an int or a list of ints",
            ));
        }
    };
    let task = a.opt_i64(5)?;
    let br = a.opt_i64(6)?;
    let repo = a.opt_i64(7)?;
    let rows = sqlx::query(
        "SELECT b.id, b.host_id, h.name AS host_name, b.tag_id, t.name AS tag_name, b.repo_id, b.arch, \
                b.task_id, b.state, b.create_event, e.time AS create_time, b.retire_event, re.time AS retire_time \
         FROM buildroot b LEFT JOIN host h ON h.id = b.host_id LEFT JOIN tag t ON t.id = b.tag_id \
         JOIN events e ON e.id = b.create_event LEFT JOIN events re ON re.id = b.retire_event \
         WHERE ($1::int IS NULL OR b.host_id = $1) AND ($2::int IS NULL OR b.tag_id = $2) \
           AND ($3::int[] IS NULL OR b.state = ANY($3)) AND ($4::int IS NULL OR b.task_id = $4) \
           AND ($5::int IS NULL OR b.id = $5) AND ($6::int IS NULL OR b.repo_id = $6) ORDER BY b.id",
    )
    .bind(common::opt_i32(host))
    .bind(common::opt_i32(tag))
    .bind(states)
    .bind(common::opt_i32(task))
    .bind(common::opt_i32(br))
    .bind(common::opt_i32(repo))
    .fetch_all(c.db().await?)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let ct: DateTime<Utc> = r.try_get("create_time")?;
        let rt: Option<DateTime<Utc>> = r.try_get("retire_time")?;
        out.push(kstruct! {
            "id" => r.try_get::<i32, _>("id")?,
            "br_type" => 0,
            "arch" => r.try_get::<Option<String>, _>("arch")?,
            "container_arch" => r.try_get::<Option<String>, _>("arch")?,
            "host_id" => r.try_get::<Option<i32>, _>("host_id")?,
            "host_name" => r.try_get::<Option<String>, _>("host_name")?,
            "repo_id" => r.try_get::<Option<i32>, _>("repo_id")?,
            "tag_id" => r.try_get::<Option<i32>, _>("tag_id")?,
            "tag_name" => r.try_get::<Option<String>, _>("tag_name")?,
            "state" => r.try_get::<i32, _>("state")?,
            "task_id" => r.try_get::<Option<i32>, _>("task_id")?,
            "create_event_id" => r.try_get::<i64, _>("create_event")?,
            "create_event_time" => timefmt::iso(&ct),
            "create_ts" => timefmt::ts(&ct),
            "retire_event_id" => r.try_get::<Option<i64>, _>("retire_event")?,
            "retire_event_time" => timefmt::iso_value(rt.as_ref()),
            "retire_ts" => timefmt::ts_value(rt.as_ref()),
        });
    }
    let qo = common::QueryOpts::parse(a.val(8), &["id"])?;
    Ok(qo.apply(out))
}

#[cfg(test)]
mod tests {
    use super::shown_comment;

    #[test]
    fn builder_status_joins_the_admin_comment() {
        assert_eq!(shown_comment(None, Some("ready".into())), None);
        assert_eq!(
            shown_comment(Some("rack 3".into()), None).as_deref(),
            Some("rack 3")
        );
        assert_eq!(
            shown_comment(Some("rack 3".into()), Some("not ready: disk".into())).as_deref(),
            Some("rack 3 [builder: not ready: disk]")
        );
        assert_eq!(
            shown_comment(None, Some("not ready: disk".into())).as_deref(),
            Some("[builder: not ready: disk]")
        );
    }
}
