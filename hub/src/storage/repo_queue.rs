//! The repo request queue (Koji 1.35+): who asked for a repo of which tag, and how far the
//! request got.

use super::tasks::TaskState;
use super::{Conn, Result};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A request row with its tag's and owner's names and its task's state.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: i32,
    pub create_time: DateTime<Utc>,
    pub owner: Option<i32>,
    pub owner_name: Option<String>,
    pub priority: i32,
    pub tag_id: i32,
    pub tag_name: String,
    pub at_event: Option<i64>,
    pub min_event: Option<i64>,
    /// Stored options (see `store_value`).
    pub opts: String,
    pub update_time: DateTime<Utc>,
    pub active: bool,
    pub task_id: Option<i32>,
    pub task_state: Option<TaskState>,
    pub tries: i32,
    pub repo_id: Option<i32>,
}

const QUEUE_SELECT: &str = "SELECT q.id, q.create_time, q.owner, u.name AS owner_name, q.priority, q.tag_id, \
       t.name AS tag_name, q.at_event, q.min_event, q.opts, q.update_time, q.active, q.task_id, \
       tk.state AS task_state, q.tries, q.repo_id \
     FROM repo_queue q JOIN tag t ON t.id = q.tag_id LEFT JOIN users u ON u.id = q.owner \
     LEFT JOIN task tk ON tk.id = q.task_id";

fn request(r: &sqlx::postgres::PgRow) -> Result<RequestRow> {
    Ok(RequestRow {
        id: r.try_get("id")?,
        create_time: r.try_get("create_time")?,
        owner: r.try_get("owner")?,
        owner_name: r.try_get("owner_name")?,
        priority: r.try_get("priority")?,
        tag_id: r.try_get("tag_id")?,
        tag_name: r.try_get("tag_name")?,
        at_event: r.try_get("at_event")?,
        min_event: r.try_get("min_event")?,
        opts: r.try_get("opts")?,
        update_time: r.try_get("update_time")?,
        active: r.try_get("active")?,
        task_id: r.try_get("task_id")?,
        task_state: r.try_get("task_state")?,
        tries: r.try_get("tries")?,
        repo_id: r.try_get("repo_id")?,
    })
}

async fn select(db: &mut Conn, cond: &str, bind: Option<i32>) -> Result<Vec<RequestRow>> {
    let sql = format!("{QUEUE_SELECT} {cond}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(b) = bind {
        q = q.bind(b);
    }
    let rows = q.fetch_all(db).await?;
    rows.iter().map(request).collect()
}

pub async fn get(db: &mut Conn, id: i32) -> Result<Option<RequestRow>> {
    Ok(select(db, "WHERE q.id = $1", Some(id)).await?.pop())
}

/// Every request, by id.
pub async fn all(db: &mut Conn) -> Result<Vec<RequestRow>> {
    select(db, "ORDER BY q.id", None).await
}

/// Active requests of a tag, by priority then id.
pub async fn active_of_tag(db: &mut Conn, tag: i32) -> Result<Vec<RequestRow>> {
    select(
        db,
        "WHERE q.tag_id = $1 AND q.active ORDER BY q.priority, q.id",
        Some(tag),
    )
    .await
}

/// Active requests of a tag that no repo fulfilled yet.
pub async fn waiting_of_tag(db: &mut Conn, tag: i32) -> Result<Vec<RequestRow>> {
    select(
        db,
        "WHERE q.tag_id = $1 AND q.active AND q.repo_id IS NULL",
        Some(tag),
    )
    .await
}

/// Active requests no repo fulfilled yet, by priority then id.
pub async fn waiting(db: &mut Conn) -> Result<Vec<RequestRow>> {
    select(
        db,
        "WHERE q.repo_id IS NULL AND q.active ORDER BY q.priority, q.id",
        None,
    )
    .await
}

/// Whether any request waits (a cheap look before a queue pass).
pub async fn any_waiting(db: &mut Conn) -> Result<bool> {
    let w: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM repo_queue WHERE active AND repo_id IS NULL LIMIT 1")
            .fetch_optional(db)
            .await?;
    Ok(w.is_some())
}

/// A new request; returns its id.
pub async fn insert(
    db: &mut Conn,
    owner: Option<i32>,
    priority: i32,
    tag: i32,
    at_event: Option<i64>,
    min_event: Option<i64>,
    opts: &str,
) -> Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO repo_queue (owner, priority, tag_id, at_event, min_event, opts) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(owner)
    .bind(priority)
    .bind(tag)
    .bind(at_event)
    .bind(min_event)
    .bind(opts)
    .fetch_one(db)
    .await
}

pub async fn set_priority(db: &mut Conn, id: i32, priority: i32) -> Result<()> {
    sqlx::query("UPDATE repo_queue SET priority = $2 WHERE id = $1")
        .bind(id)
        .bind(priority)
        .execute(db)
        .await?;
    Ok(())
}

/// A request's outcome so far: the repo that fulfils it, whether it still waits, its task.
pub async fn settle(
    db: &mut Conn,
    id: i32,
    repo: Option<i32>,
    active: bool,
    task: Option<i32>,
) -> Result<()> {
    sqlx::query(
        "UPDATE repo_queue SET repo_id = $2, active = $3, task_id = $4, update_time = clock_timestamp() WHERE id = $1",
    )
    .bind(id)
    .bind(repo)
    .bind(active)
    .bind(task)
    .execute(db)
    .await?;
    Ok(())
}

/// A (new) task works on the request: one more try.
pub async fn set_task(db: &mut Conn, id: i32, task: i32) -> Result<()> {
    sqlx::query(
        "UPDATE repo_queue SET task_id = $2, tries = tries + 1, update_time = clock_timestamp() WHERE id = $1",
    )
    .bind(id)
    .bind(task)
    .execute(db)
    .await?;
    Ok(())
}

/// Finished requests older than `secs` go.
pub async fn delete_finished(db: &mut Conn, secs: f64) -> Result<()> {
    sqlx::query(
        "DELETE FROM repo_queue WHERE NOT active AND update_time < clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(secs)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a request of the tag for content at or after `min_event` failed within the last
/// hour.
pub async fn failed_recently(db: &mut Conn, tag: i32, min_event: i64) -> Result<bool> {
    let failed: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM repo_queue WHERE tag_id = $1 AND NOT active AND repo_id IS NULL \
         AND min_event >= $2 AND update_time > clock_timestamp() - interval '1 hour' LIMIT 1",
    )
    .bind(tag)
    .bind(min_event)
    .fetch_optional(db)
    .await?;
    Ok(failed.is_some())
}
