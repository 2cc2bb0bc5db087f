//! Repos (a tag's content at one event) and what tells when a tag's content changed.

use super::tasks::TaskState;
use super::{Conn, Result, ver};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Repo states (Koji's REPO_STATES).
pub mod state {
    pub const INIT: i32 = 0;
    pub const READY: i32 = 1;
    pub const EXPIRED: i32 = 2;
    pub const DELETED: i32 = 3;
    pub const PROBLEM: i32 = 4;
}

/// A repo row with its tag's name, its events' times and its task's state.
#[derive(Debug, Clone)]
pub struct RepoRow {
    pub id: i32,
    pub tag_id: i32,
    pub tag_name: String,
    pub creation_time: DateTime<Utc>,
    pub state_time: DateTime<Utc>,
    pub create_event: i64,
    pub create_time: DateTime<Utc>,
    pub begin_event: Option<i64>,
    pub begin_time: Option<DateTime<Utc>>,
    pub end_event: Option<i64>,
    pub end_time: Option<DateTime<Utc>>,
    pub state: i32,
    pub dist: bool,
    /// Stored options (see `store_value`).
    pub opts: String,
    pub custom_opts: String,
    pub task_id: Option<i32>,
    pub task_state: Option<TaskState>,
    pub problem: Option<String>,
}

const REPO_SELECT: &str = "SELECT r.id, r.tag_id, t.name AS tag_name, r.creation_time, r.state_time, \
       r.create_event, ce.time AS create_time, r.begin_event, be.time AS begin_time, r.end_event, \
       ee.time AS end_time, r.state, r.dist, r.opts, r.custom_opts, r.task_id, tk.state AS task_state, r.problem \
     FROM repo r JOIN tag t ON t.id = r.tag_id JOIN events ce ON ce.id = r.create_event \
     LEFT JOIN events be ON be.id = r.begin_event LEFT JOIN events ee ON ee.id = r.end_event \
     LEFT JOIN task tk ON tk.id = r.task_id";

fn repo(r: &sqlx::postgres::PgRow) -> Result<RepoRow> {
    Ok(RepoRow {
        id: r.try_get("id")?,
        tag_id: r.try_get("tag_id")?,
        tag_name: r.try_get("tag_name")?,
        creation_time: r.try_get("creation_time")?,
        state_time: r.try_get("state_time")?,
        create_event: r.try_get("create_event")?,
        create_time: r.try_get("create_time")?,
        begin_event: r.try_get("begin_event")?,
        begin_time: r.try_get("begin_time")?,
        end_event: r.try_get("end_event")?,
        end_time: r.try_get("end_time")?,
        state: r.try_get("state")?,
        dist: r.try_get("dist")?,
        opts: r.try_get("opts")?,
        custom_opts: r.try_get("custom_opts")?,
        task_id: r.try_get("task_id")?,
        task_state: r.try_get("task_state")?,
        problem: r.try_get("problem")?,
    })
}

async fn select(db: &mut Conn, cond: &str, binds: &[i64]) -> Result<Vec<RepoRow>> {
    let sql = format!("{REPO_SELECT} {cond}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q.fetch_all(db).await?;
    rows.iter().map(repo).collect()
}

pub async fn get(db: &mut Conn, id: i32) -> Result<Option<RepoRow>> {
    Ok(select(db, "WHERE r.id = $1", &[i64::from(id)]).await?.pop())
}

/// Every repo, by id.
pub async fn all(db: &mut Conn) -> Result<Vec<RepoRow>> {
    select(db, "ORDER BY r.id", &[]).await
}

/// Repos that are not DELETED, by id.
pub async fn not_deleted(db: &mut Conn) -> Result<Vec<RepoRow>> {
    select(
        db,
        "WHERE r.state <> $1 ORDER BY r.id",
        &[i64::from(state::DELETED)],
    )
    .await
}

/// READY non-dist repos of a tag, newest first.
pub async fn ready_of_tag(db: &mut Conn, tag: i32) -> Result<Vec<RepoRow>> {
    select(
        db,
        "WHERE r.tag_id = $1 AND r.state = $2 AND NOT r.dist ORDER BY r.create_event DESC, r.id DESC",
        &[i64::from(tag), i64::from(state::READY)],
    )
    .await
}

/// READY non-dist repos whose end is not known yet, by id (a dist repo is a published
/// snapshot: it does not go stale with its tag).
pub async fn ready_without_end(db: &mut Conn) -> Result<Vec<RepoRow>> {
    select(
        db,
        "WHERE r.end_event IS NULL AND r.state = $1 AND NOT r.dist ORDER BY r.id",
        &[i64::from(state::READY)],
    )
    .await
}

/// The newest repo of a tag (dist or not): created at or before `event` in any state, or
/// (without `event`) in `state`; created at or after `min_event` if given.
pub async fn newest(
    db: &mut Conn,
    tag: i32,
    dist: bool,
    event: Option<i64>,
    state: i64,
    min_event: Option<i64>,
) -> Result<Option<RepoRow>> {
    // dist is a boolean column: compared through an int cast so every bind is an i64
    let mut cond = String::from("WHERE r.tag_id = $1 AND r.dist::int = $2");
    let mut binds = vec![i64::from(tag), i64::from(dist)];
    if let Some(e) = event {
        cond.push_str(" AND r.create_event <= $3");
        binds.push(e);
    } else {
        cond.push_str(" AND r.state = $3");
        binds.push(state);
    }
    if let Some(m) = min_event {
        cond.push_str(&format!(" AND r.create_event >= ${}", binds.len() + 1));
        binds.push(m);
    }
    cond.push_str(" ORDER BY r.creation_time DESC, r.id DESC LIMIT 1");
    Ok(select(db, &cond, &binds).await?.pop())
}

/// A new INIT repo; returns its id.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: &mut Conn,
    event: i64,
    tag: i32,
    opts: &str,
    custom_opts: &str,
    task: Option<i32>,
    begin_event: Option<i64>,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO repo (create_event, tag_id, state, opts, custom_opts, task_id, begin_event) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(event)
    .bind(tag)
    .bind(state::INIT)
    .bind(opts)
    .bind(custom_opts)
    .bind(task)
    .bind(begin_event)
    .fetch_one(db)
    .await
}

/// A new INIT dist repo (`koji dist-repo`); returns its id. Its options are empty: what
/// it holds is in its task's options.
pub async fn insert_dist(db: &mut Conn, event: i64, tag: i32) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO repo (create_event, tag_id, state, dist, opts, custom_opts) \
         VALUES ($1, $2, $3, TRUE, $4, $4) RETURNING id",
    )
    .bind(event)
    .bind(tag)
    .bind(state::INIT)
    .bind(crate::storage::store_value(&koji_protocol::Value::Struct(
        koji_protocol::Struct::new(),
    )))
    .fetch_one(db)
    .await
}

/// The task that makes a repo (set once the task exists, after the row).
pub async fn set_task(db: &mut Conn, id: i32, task: i32) -> Result<()> {
    sqlx::query("UPDATE repo SET task_id = $2 WHERE id = $1")
        .bind(id)
        .bind(task)
        .execute(db)
        .await?;
    Ok(())
}

/// Whether the tag has a READY dist repo newer than repo `id` (created at `event`).
pub async fn newer_ready_dist_exists(db: &mut Conn, tag: i32, id: i32, event: i64) -> Result<bool> {
    let newer: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM repo WHERE tag_id = $1 AND state = $3 AND dist \
         AND (create_event > $2 OR (create_event = $2 AND id > $4)) LIMIT 1",
    )
    .bind(tag)
    .bind(event)
    .bind(state::READY)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(newer.is_some())
}

/// Change a repo's state (and record why, when given); false when there is no such repo.
pub async fn set_state(db: &mut Conn, id: i32, st: i32, problem: Option<&str>) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE repo SET state = $2, state_time = clock_timestamp(), problem = COALESCE($3, problem) WHERE id = $1",
    )
    .bind(id)
    .bind(st)
    .bind(problem)
    .execute(db)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Whether the tag has a READY non-dist repo newer than `event`.
pub async fn newer_ready_exists(db: &mut Conn, tag: i32, event: i64) -> Result<bool> {
    let newer: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM repo WHERE tag_id = $1 AND state = $3 AND NOT dist AND create_event > $2 LIMIT 1",
    )
    .bind(tag)
    .bind(event)
    .bind(state::READY)
    .fetch_optional(db)
    .await?;
    Ok(newer.is_some())
}

pub async fn set_end_event(db: &mut Conn, id: i32, end: i64) -> Result<()> {
    sqlx::query("UPDATE repo SET end_event = $2 WHERE id = $1")
        .bind(id)
        .bind(end)
        .execute(db)
        .await?;
    Ok(())
}

/// The INIT repos a task made.
pub async fn init_of_task(db: &mut Conn, task: i32) -> Result<Vec<i32>> {
    sqlx::query_scalar("SELECT id FROM repo WHERE task_id = $1 AND state = $2")
        .bind(task)
        .bind(state::INIT)
        .fetch_all(db)
        .await
}

/// Whether the repo exists; with `lock`, its row is locked until the transaction ends (a
/// buildroot created meanwhile sees it alive or not at all).
pub async fn exists(db: &mut Conn, id: i32, lock: bool) -> Result<bool> {
    let sql = if lock {
        "SELECT id FROM repo WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT id FROM repo WHERE id = $1"
    };
    let found: Option<i32> = sqlx::query_scalar(sql).bind(id).fetch_optional(db).await?;
    Ok(found.is_some())
}

/// The external repos linked to any of `tags` as of `event`.
pub async fn external_repos_of(
    db: &mut Conn,
    tags: &[i32],
    event: Option<i64>,
) -> Result<Vec<i32>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT l.external_repo_id FROM tag_external_repos l WHERE l.tag_id = ANY($1) AND {}",
        ver("l", event)
    )))
    .bind(tags)
    .fetch_all(db)
    .await
}

/// The versioned tables whose rows change a tag's repo content, keyed by tag or external repo.
const TAG_TABLES: &[&str] = &[
    "tag_listing",
    "tag_inheritance",
    "tag_packages",
    "tag_config",
    "tag_extra",
    "tag_external_repos",
    "group_config",
    "group_req_listing",
    "group_package_listing",
];
const EREPO_TABLES: &[&str] = &["external_repo_config", "external_repo_data"];

fn change_events_sql() -> String {
    let mut parts = Vec::new();
    for t in TAG_TABLES {
        parts.push(format!(
            "SELECT create_event AS e FROM {t} WHERE tag_id = ANY($1)"
        ));
        parts.push(format!(
            "SELECT revoke_event AS e FROM {t} WHERE tag_id = ANY($1) AND revoke_event IS NOT NULL"
        ));
    }
    for t in EREPO_TABLES {
        parts.push(format!(
            "SELECT create_event AS e FROM {t} WHERE external_repo_id = ANY($2)"
        ));
        parts.push(format!(
            "SELECT revoke_event AS e FROM {t} WHERE external_repo_id = ANY($2) AND revoke_event IS NOT NULL"
        ));
    }
    parts.join(" UNION ALL ")
}

/// The last event at or before `at` (None: ever) that changed a row of these tags or
/// external repos.
pub async fn last_change(
    db: &mut Conn,
    tags: &[i32],
    erepos: &[i32],
    at: Option<i64>,
) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT max(e) FROM ({}) x WHERE ($3::bigint IS NULL OR e <= $3)",
        change_events_sql()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tags)
        .bind(erepos)
        .bind(at)
        .fetch_one(db)
        .await
}

/// The first event after `after` (None: the very first) that changed a row of these tags
/// or external repos.
pub async fn first_change(
    db: &mut Conn,
    tags: &[i32],
    erepos: &[i32],
    after: Option<i64>,
) -> Result<Option<i64>> {
    let sql = format!(
        "SELECT min(e) FROM ({}) x WHERE ($3::bigint IS NULL OR e > $3)",
        change_events_sql()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tags)
        .bind(erepos)
        .bind(after)
        .fetch_one(db)
        .await
}
