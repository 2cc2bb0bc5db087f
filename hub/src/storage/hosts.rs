//! Builder hosts (their versioned config and check-ins) and channels.

use super::{Conn, Page, Paged, Result, Stamp, ver};
use crate::ident::Ident;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A host with its config as of some event.
#[derive(Debug, Clone)]
pub struct Host {
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub update_time: Option<DateTime<Utc>>,
    pub ready: bool,
    pub task_load: f64,
    pub arches: Option<String>,
    pub capacity: f64,
    pub description: Option<String>,
    /// The admin's comment.
    pub comment: Option<String>,
    /// What the builder last said about itself.
    pub status: Option<String>,
    pub enabled: bool,
}

const HOST_SELECT: &str = "SELECT h.id, h.user_id, h.name, h.update_time, h.ready, h.task_load, h.status, \
    c.arches, c.capacity, c.description, c.comment, c.enabled \
    FROM host h JOIN host_config c ON c.host_id = h.id";

fn host(r: &sqlx::postgres::PgRow) -> Result<Host> {
    Ok(Host {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        update_time: r.try_get("update_time")?,
        ready: r.try_get("ready")?,
        task_load: r.try_get("task_load")?,
        arches: r.try_get("arches")?,
        capacity: r.try_get("capacity")?,
        description: r.try_get("description")?,
        comment: r.try_get("comment")?,
        status: r.try_get("status")?,
        enabled: r.try_get("enabled")?,
    })
}

/// The host named by `ident`, with its config as of `event` (None = now).
pub async fn get(db: &mut Conn, ident: &Ident, event: Option<i64>) -> Result<Option<Host>> {
    let cond = match ident {
        Ident::Id(_) => "h.id = $1",
        Ident::Name(_) => "h.name = $1",
    };
    let sql = format!("{HOST_SELECT} AND {} WHERE {cond}", ver("c", event));
    let q = sqlx::query(sqlx::AssertSqlSafe(sql));
    let q = match ident {
        Ident::Id(i) => q.bind(*i),
        Ident::Name(n) => q.bind(n.clone()),
    };
    q.fetch_optional(db).await?.as_ref().map(host).transpose()
}

/// What `listHosts` filters on.
pub struct HostFilter {
    pub channel: Option<i32>,
    pub ready: Option<bool>,
    pub enabled: Option<bool>,
    pub user: Option<i32>,
    pub arches: Option<Vec<String>>,
}

/// What `listHosts` may be ordered by.
pub const HOST_ORDER: &[(&str, &str)] = &[
    ("id", "h.id"),
    ("name", "h.name"),
    ("user_id", "h.user_id"),
    ("ready", "h.ready"),
    ("task_load", "h.task_load"),
    ("capacity", "c.capacity"),
    ("enabled", "c.enabled"),
];

/// Hosts matching `f`, one page.
pub async fn list(db: &mut Conn, f: &HostFilter, page: &Page) -> Result<Paged<Host>> {
    let base = format!(
        "{HOST_SELECT} AND c.active WHERE ($1::int IS NULL OR EXISTS (SELECT 1 FROM host_channels hc \
           WHERE hc.host_id = h.id AND hc.channel_id = $1 AND hc.active)) \
         AND ($2::bool IS NULL OR h.ready = $2) AND ($3::bool IS NULL OR c.enabled = $3) \
         AND ($4::int IS NULL OR h.user_id = $4) \
         AND ($5::text[] IS NULL OR string_to_array(COALESCE(c.arches, ''), ' ') && $5)"
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(page.sql(&base, "h.id")))
        .bind(f.channel)
        .bind(f.ready)
        .bind(f.enabled)
        .bind(f.user)
        .bind(f.arches.clone());
    page.fetch(db, q, host).await
}

/// A configured builder host at start-up, unless a host of that name exists: its user
/// (made a host user if it exists), the host, its config and channels (`default` and
/// `channels`), under one new event. True when it was added.
pub async fn bootstrap(
    db: &mut Conn,
    name: &str,
    arches: &str,
    capacity: f64,
    channels: &[String],
) -> Result<bool> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT id FROM host WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *db)
        .await?;
    if exists.is_some() {
        return Ok(false);
    }
    let uid: i32 = sqlx::query_scalar(
        "INSERT INTO users (name, status, usertype) VALUES ($1, 0, 1) \
         ON CONFLICT (name) DO UPDATE SET usertype = 1 RETURNING id",
    )
    .bind(name)
    .fetch_one(&mut *db)
    .await?;
    let ev: i64 = sqlx::query_scalar("INSERT INTO events DEFAULT VALUES RETURNING id")
        .fetch_one(&mut *db)
        .await?;
    let hid = insert(&mut *db, uid, name).await?;
    sqlx::query(
        "INSERT INTO host_config (host_id, arches, capacity, create_event) VALUES ($1, $2, $3, $4)",
    )
    .bind(hid)
    .bind(arches)
    .bind(capacity)
    .bind(ev)
    .execute(&mut *db)
    .await?;
    let mut chans = vec!["default".to_string()];
    chans.extend(channels.iter().cloned());
    sqlx::query(
        "INSERT INTO host_channels (host_id, channel_id, create_event) \
         SELECT $1, id, $2 FROM channels WHERE name = ANY($3)",
    )
    .bind(hid)
    .bind(ev)
    .bind(&chans)
    .execute(&mut *db)
    .await?;
    Ok(true)
}

/// A new host row for an existing host user; returns its id.
pub async fn insert(db: &mut Conn, user: i32, name: &str) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO host (user_id, name) VALUES ($1, $2) RETURNING id")
        .bind(user)
        .bind(name)
        .fetch_one(db)
        .await
}

/// The versioned part of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    pub arches: Option<String>,
    pub capacity: f64,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub enabled: bool,
}

pub async fn current_config(db: &mut Conn, host: i32) -> Result<HostConfig> {
    let r = sqlx::query(
        "SELECT arches, capacity, description, comment, enabled FROM host_config WHERE host_id = $1 AND active",
    )
    .bind(host)
    .fetch_one(db)
    .await?;
    Ok(HostConfig {
        arches: r.try_get("arches")?,
        capacity: r.try_get("capacity")?,
        description: r.try_get("description")?,
        comment: r.try_get("comment")?,
        enabled: r.try_get("enabled")?,
    })
}

/// The first config of a new host: its arches, everything else at the schema's defaults.
pub async fn insert_first_config(db: &mut Conn, host: i32, arches: &str, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO host_config (host_id, arches, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(host)
    .bind(arches)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// A new version of a host's config (the current one must be revoked first).
pub async fn insert_config(db: &mut Conn, host: i32, cfg: &HostConfig, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO host_config (host_id, arches, capacity, description, comment, enabled, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(host)
    .bind(&cfg.arches)
    .bind(cfg.capacity)
    .bind(&cfg.description)
    .bind(&cfg.comment)
    .bind(cfg.enabled)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// Revoke the host's config (before a new version is inserted).
pub async fn revoke_config(db: &mut Conn, host: i32, s: Stamp) -> Result<u64> {
    super::revoke(db, "host_config", "host_id = $3", &[host], s).await
}

/// The host leaves a channel; 0 when it was not in it.
pub async fn revoke_channel(db: &mut Conn, host: i32, channel: i32, s: Stamp) -> Result<u64> {
    super::revoke(
        db,
        "host_channels",
        "host_id = $3 AND channel_id = $4",
        &[host, channel],
        s,
    )
    .await
}

/// Rename a host and its user.
pub async fn rename(db: &mut Conn, host: i32, name: &str) -> Result<()> {
    sqlx::query("UPDATE host SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(host)
        .execute(&mut *db)
        .await?;
    sqlx::query("UPDATE users SET name = $1 WHERE id = (SELECT user_id FROM host WHERE id = $2)")
        .bind(name)
        .bind(host)
        .execute(&mut *db)
        .await?;
    Ok(())
}

pub async fn update_time(db: &mut Conn, host: i32) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT update_time FROM host WHERE id = $1")
        .bind(host)
        .fetch_one(db)
        .await
}

/// The host of a user; with `bump`, also its sign of life, in the same statement (at most
/// once a second).
pub async fn of_user(db: &mut Conn, user: i32, bump: bool) -> Result<Option<i32>> {
    let sql = if bump {
        "WITH h AS (SELECT id FROM host WHERE user_id = $1), \
              alive AS (UPDATE host SET update_time = clock_timestamp() \
                        WHERE id = (SELECT id FROM h) \
                          AND update_time < clock_timestamp() - interval '1 second' RETURNING 1) \
         SELECT id FROM h"
    } else {
        "SELECT id FROM host WHERE user_id = $1"
    };
    sqlx::query_scalar(sql).bind(user).fetch_optional(db).await
}

/// The user of a host.
pub async fn user_of(db: &mut Conn, host: i32) -> Result<Option<i32>> {
    sqlx::query_scalar("SELECT user_id FROM host WHERE id = $1")
        .bind(host)
        .fetch_optional(db)
        .await
}

/// A builder's check-in; returns whether it was ready before (None: no such host).
pub async fn check_in(
    db: &mut Conn,
    host: i32,
    load: f64,
    ready: bool,
    data: Option<String>,
    status: Option<String>,
) -> Result<Option<bool>> {
    sqlx::query_scalar(
        "WITH old AS (SELECT ready FROM host WHERE id = $5 FOR UPDATE) \
         UPDATE host SET task_load = $1, ready = $2, update_time = clock_timestamp(), \
                data = COALESCE($3, data), status = $4 FROM old WHERE id = $5 RETURNING old.ready",
    )
    .bind(load)
    .bind(ready)
    .bind(data)
    .bind(status)
    .bind(host)
    .fetch_optional(db)
    .await
}

/// A check-in that is the whole call, with the session's callnum, in one statement run in
/// PostgreSQL's implicit transaction and committed without waiting for its WAL flush
/// (`synchronous_commit` off for that transaction only). Answers whether the session took
/// the callnum (closed, expired or replayed: nothing was written) and whether the host was
/// ready before.
#[allow(clippy::too_many_arguments)]
pub async fn check_in_alone(
    db: &mut Conn,
    host: i32,
    load: f64,
    ready: bool,
    data: Option<String>,
    status: Option<String>,
    session: i64,
    callnum: Option<i64>,
) -> Result<(bool, Option<bool>)> {
    sqlx::query_as(
        "WITH lazy AS (SELECT set_config('synchronous_commit', 'off', true) AS v), \
              sess AS (UPDATE sessions SET callnum = COALESCE($6, callnum), \
                              update_time = clock_timestamp() \
                       WHERE id = $7 AND NOT closed AND NOT expired \
                         AND ($6::bigint IS NULL OR callnum IS NULL OR callnum < $6) \
                         AND (SELECT v FROM lazy) IS NOT NULL \
                       RETURNING id), \
              old AS (SELECT ready FROM host WHERE id = $5 FOR UPDATE), \
              upd AS (UPDATE host SET task_load = $1, ready = $2, update_time = clock_timestamp(), \
                             data = COALESCE($3, data), status = $4 \
                      FROM old WHERE id = $5 AND EXISTS (SELECT 1 FROM sess) RETURNING old.ready) \
         SELECT EXISTS (SELECT 1 FROM sess), (SELECT ready FROM upd)",
    )
    .bind(load)
    .bind(ready)
    .bind(data)
    .bind(status)
    .bind(host)
    .bind(callnum)
    .bind(session)
    .fetch_one(db)
    .await
}

/// A channel.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i32,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub comment: Option<String>,
}

fn channel_row(r: &sqlx::postgres::PgRow) -> Result<Channel> {
    Ok(Channel {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        enabled: r.try_get("enabled")?,
        comment: r.try_get("comment")?,
    })
}

pub async fn channel(db: &mut Conn, ident: &Ident) -> Result<Option<Channel>> {
    let base = "SELECT id, name, description, enabled, comment FROM channels";
    let r = match ident {
        Ident::Id(i) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} WHERE id = $1")))
                .bind(*i)
                .fetch_optional(db)
                .await?
        }
        Ident::Name(n) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} WHERE name = $1")))
                .bind(n.clone())
                .fetch_optional(db)
                .await?
        }
    };
    r.as_ref().map(channel_row).transpose()
}

/// Channels (of a host as of `event`), by id.
pub async fn channels(
    db: &mut Conn,
    host: Option<i32>,
    event: Option<i64>,
    enabled: Option<bool>,
) -> Result<Vec<Channel>> {
    let sql = format!(
        "SELECT id, name, description, enabled, comment FROM channels ch \
         WHERE ($1::int IS NULL OR EXISTS (SELECT 1 FROM host_channels hc WHERE hc.channel_id = ch.id \
               AND hc.host_id = $1 AND {})) AND ($2::bool IS NULL OR ch.enabled = $2) ORDER BY id",
        ver("hc", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(host)
        .bind(enabled)
        .fetch_all(db)
        .await?;
    rows.iter().map(channel_row).collect()
}

/// A new channel; returns its id.
pub async fn insert_channel(db: &mut Conn, name: &str, description: Option<&str>) -> Result<i32> {
    sqlx::query_scalar("INSERT INTO channels (name, description) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(description)
        .fetch_one(db)
        .await
}

/// Whether a channel is enabled (None: no such channel).
pub async fn channel_enabled(db: &mut Conn, channel: i32) -> Result<Option<bool>> {
    sqlx::query_scalar("SELECT enabled FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_optional(db)
        .await
}

pub async fn in_channel(db: &mut Conn, host: i32, channel: i32) -> Result<bool> {
    let member: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM host_channels WHERE host_id = $1 AND channel_id = $2 AND active",
    )
    .bind(host)
    .bind(channel)
    .fetch_optional(db)
    .await?;
    Ok(member.is_some())
}

pub async fn add_to_channel(db: &mut Conn, host: i32, channel: i32, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO host_channels (host_id, channel_id, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(host)
    .bind(channel)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}

/// A new host joins the `default` channel.
pub async fn add_to_default_channel(db: &mut Conn, host: i32, s: Stamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO host_channels (host_id, channel_id, create_event, creator_id) \
         SELECT $1, id, $2, $3 FROM channels WHERE name = 'default'",
    )
    .bind(host)
    .bind(s.event)
    .bind(s.user)
    .execute(db)
    .await?;
    Ok(())
}
