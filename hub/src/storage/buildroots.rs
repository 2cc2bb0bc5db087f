//! Buildroots: a host's build environment on a repo, and the packages it contained.

use super::{Conn, Page, Paged, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Buildroot states (Koji's BR_STATES).
pub mod state {
    pub const INIT: i32 = 0;
    pub const WAITING: i32 = 1;
    pub const BUILDING: i32 = 2;
    pub const EXPIRED: i32 = 3;
}

/// A buildroot as `listBuildroots` shows it.
#[derive(Debug, Clone)]
pub struct Buildroot {
    pub id: i32,
    pub host_id: Option<i32>,
    pub host_name: Option<String>,
    pub tag_id: Option<i32>,
    pub tag_name: Option<String>,
    pub repo_id: Option<i32>,
    pub arch: Option<String>,
    pub task_id: Option<i32>,
    pub state: i32,
    pub create_event: i64,
    pub create_time: DateTime<Utc>,
    pub retire_event: Option<i64>,
    pub retire_time: Option<DateTime<Utc>>,
}

/// What `listBuildroots` filters on.
pub struct BuildrootFilter {
    pub host: Option<i32>,
    pub tag: Option<i32>,
    pub states: Option<Vec<i32>>,
    pub task: Option<i32>,
    pub id: Option<i32>,
    pub repo: Option<i32>,
}

/// What `listBuildroots` may be ordered by.
pub const BUILDROOT_ORDER: &[(&str, &str)] = &[
    ("id", "b.id"),
    ("create_event", "b.create_event"),
    ("state", "b.state"),
    ("host_id", "b.host_id"),
    ("tag_id", "b.tag_id"),
    ("repo_id", "b.repo_id"),
];

pub async fn list(db: &mut Conn, f: &BuildrootFilter, page: &Page) -> Result<Paged<Buildroot>> {
    let sql = page.sql(
        "SELECT b.id, b.host_id, h.name AS host_name, b.tag_id, t.name AS tag_name, b.repo_id, b.arch, \
                b.task_id, b.state, b.create_event, e.time AS create_time, b.retire_event, re.time AS retire_time \
         FROM buildroot b LEFT JOIN host h ON h.id = b.host_id LEFT JOIN tag t ON t.id = b.tag_id \
         JOIN events e ON e.id = b.create_event LEFT JOIN events re ON re.id = b.retire_event \
         WHERE ($1::int IS NULL OR b.host_id = $1) AND ($2::int IS NULL OR b.tag_id = $2) \
           AND ($3::int[] IS NULL OR b.state = ANY($3)) AND ($4::int IS NULL OR b.task_id = $4) \
           AND ($5::int IS NULL OR b.id = $5) AND ($6::int IS NULL OR b.repo_id = $6)",
        "b.id",
    );
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.host)
        .bind(f.tag)
        .bind(f.states.clone())
        .bind(f.task)
        .bind(f.id)
        .bind(f.repo);
    page.fetch(db, q, |r| {
        Ok(Buildroot {
            id: r.try_get("id")?,
            host_id: r.try_get("host_id")?,
            host_name: r.try_get("host_name")?,
            tag_id: r.try_get("tag_id")?,
            tag_name: r.try_get("tag_name")?,
            repo_id: r.try_get("repo_id")?,
            arch: r.try_get("arch")?,
            task_id: r.try_get("task_id")?,
            state: r.try_get("state")?,
            create_event: r.try_get("create_event")?,
            create_time: r.try_get("create_time")?,
            retire_event: r.try_get("retire_event")?,
            retire_time: r.try_get("retire_time")?,
        })
    })
    .await
}

/// A buildroot that uses a repo: (id, host, task, arch, state, create_event).
pub type Reference = (i32, Option<i32>, Option<i32>, Option<String>, i32, i64);

/// Buildroots still using the repo (not retired, not EXPIRED), by id.
pub async fn using_repo(db: &mut Conn, repo: i32) -> Result<Vec<Reference>> {
    sqlx::query_as(
        "SELECT id, host_id, task_id, arch, state, create_event FROM buildroot \
         WHERE repo_id = $1 AND retire_event IS NULL AND state < $2 ORDER BY id",
    )
    .bind(repo)
    .bind(state::EXPIRED)
    .fetch_all(db)
    .await
}

/// A new INIT buildroot of a host on a repo; returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: &mut Conn,
    host: i32,
    tag: i32,
    repo: i32,
    arch: &str,
    task: Option<i32>,
    event: i64,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO buildroot (host_id, tag_id, repo_id, arch, task_id, state, create_event) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(host)
    .bind(tag)
    .bind(repo)
    .bind(arch)
    .bind(task)
    .bind(state::INIT)
    .bind(event)
    .fetch_one(db)
    .await
}

/// Change the state of a host's buildroot (EXPIRED retires it at `event`); false when the
/// host has no such buildroot.
pub async fn set_state(db: &mut Conn, id: i32, host: i32, st: i32, event: i64) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE buildroot SET state = $3, retire_event = CASE WHEN $3 = $5 THEN $4 ELSE retire_event END \
         WHERE id = $1 AND host_id = $2",
    )
    .bind(id)
    .bind(host)
    .bind(st)
    .bind(event)
    .bind(state::EXPIRED)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// (host, task, state) of a buildroot.
pub async fn owner(db: &mut Conn, id: i32) -> Result<Option<(Option<i32>, Option<i32>, i32)>> {
    sqlx::query_as("SELECT host_id, task_id, state FROM buildroot WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Record packages of a buildroot (sorted ids: concurrent reports lock rows in one order).
pub async fn add_listing(db: &mut Conn, buildroot: i32, rpms: &[i32], update: bool) -> Result<()> {
    sqlx::query(
        "INSERT INTO buildroot_listing (buildroot_id, rpm_id, is_update) \
         SELECT $1, unnest($2::int[]), $3 ON CONFLICT (buildroot_id, rpm_id) DO NOTHING",
    )
    .bind(buildroot)
    .bind(rpms)
    .bind(update)
    .execute(db)
    .await?;
    Ok(())
}
