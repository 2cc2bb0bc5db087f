//! What a scheduler pass reads and writes, all in the pass's own transaction: the timeouts
//! it enforces, the hosts that may take work and the FREE tasks, and the assignments.

use super::tasks::TaskState;
use super::{Conn, Result, load_value};
use chrono::{DateTime, Utc};
use koji_protocol::Value;
use sqlx::Row;

/// Ready hosts that have not checked in for `secs` lose their ready flag; returns their ids.
pub async fn unready_silent_hosts(db: &mut Conn, secs: f64) -> Result<Vec<i32>> {
    sqlx::query_scalar(
        "UPDATE host SET ready = FALSE WHERE ready AND (update_time IS NULL \
         OR update_time < clock_timestamp() - make_interval(secs => $1)) RETURNING id",
    )
    .bind(secs)
    .fetch_all(db)
    .await
}

/// ASSIGNED tasks not opened within `secs` go back to FREE; returns (task, host it was
/// assigned to) of each.
pub async fn free_unopened(db: &mut Conn, secs: f64) -> Result<Vec<(i32, Option<i32>)>> {
    sqlx::query_as(
        "UPDATE task t SET state = $2, host_id = NULL, assign_time = NULL \
         FROM (SELECT id, host_id FROM task WHERE state = $3 \
                 AND assign_time < clock_timestamp() - make_interval(secs => $1) FOR UPDATE) o \
         WHERE t.id = o.id RETURNING t.id, o.host_id",
    )
    .bind(secs)
    .bind(TaskState::Free)
    .bind(TaskState::Assigned)
    .fetch_all(db)
    .await
}

/// OPEN and ASSIGNED tasks of hosts silent for `secs` go back to FREE; returns (task, host,
/// host name) of each.
pub async fn free_of_silent_hosts(db: &mut Conn, secs: f64) -> Result<Vec<(i32, i32, String)>> {
    sqlx::query_as(
        "UPDATE task t SET state = $2, host_id = NULL, start_time = NULL, assign_time = NULL \
         FROM host h WHERE t.host_id = h.id AND t.state = ANY($3) \
           AND (h.update_time IS NULL OR h.update_time < clock_timestamp() - make_interval(secs => $1)) \
         RETURNING t.id, h.id, h.name",
    )
    .bind(secs)
    .bind(TaskState::Free)
    .bind(TaskState::ACTIVE)
    .fetch_all(db)
    .await
}

/// A host with its current config and what it holds now.
#[derive(Debug, Clone)]
pub struct HostRow {
    pub id: i32,
    pub enabled: bool,
    pub ready: bool,
    /// Space-separated.
    pub arches: Option<String>,
    pub capacity: f64,
    /// What the builder reported (`host.updateHost` data), if anything.
    pub maxjobs: Option<i64>,
    /// Weights of its OPEN and ASSIGNED tasks, and whether each waits for subtasks.
    pub weights: Vec<f64>,
    pub waiting: Vec<bool>,
    /// Its enabled channels.
    pub channels: Vec<i32>,
}

/// Every host with a current config.
pub async fn hosts(db: &mut Conn) -> Result<Vec<HostRow>> {
    let rows = sqlx::query(
        "SELECT h.id, c.enabled, h.ready, c.arches, c.capacity, h.data, \
           ARRAY(SELECT t.weight FROM task t WHERE t.host_id = h.id AND t.state = ANY($1) \
                 ORDER BY t.id) AS weights, \
           ARRAY(SELECT COALESCE(t.waiting, FALSE) FROM task t WHERE t.host_id = h.id \
                 AND t.state = ANY($1) ORDER BY t.id) AS waiting, \
           ARRAY(SELECT hc.channel_id FROM host_channels hc JOIN channels ch ON ch.id = hc.channel_id \
                 WHERE hc.host_id = h.id AND hc.active AND ch.enabled) AS channels \
         FROM host h JOIN host_config c ON c.host_id = h.id AND c.active",
    )
    .bind(TaskState::ACTIVE)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let data: Option<String> = r.try_get("data")?;
            Ok(HostRow {
                id: r.try_get("id")?,
                enabled: r.try_get("enabled")?,
                ready: r.try_get("ready")?,
                arches: r.try_get("arches")?,
                capacity: r.try_get("capacity")?,
                maxjobs: data
                    .as_deref()
                    .map(load_value)
                    .and_then(|v| v.get("maxjobs").and_then(Value::as_i64)),
                weights: r.try_get("weights")?,
                waiting: r.try_get("waiting")?,
                channels: r.try_get("channels")?,
            })
        })
        .collect()
}

/// A FREE task with the hosts that refused it.
#[derive(Debug, Clone)]
pub struct FreeRow {
    pub id: i32,
    pub channel_id: i32,
    pub arch: String,
    pub weight: f64,
    pub priority: i32,
    pub create_time: DateTime<Utc>,
    /// Refusals: host, soft or not, seconds since.
    pub refused_by: Vec<i32>,
    pub refused_soft: Vec<bool>,
    pub refused_age: Vec<f64>,
}

/// The first 1000 FREE tasks in priority order, oldest first.
pub async fn free_tasks(db: &mut Conn) -> Result<Vec<FreeRow>> {
    let rows = sqlx::query(
        "SELECT t.id, t.channel_id, t.arch, t.weight, t.priority, t.create_time, \
           ARRAY(SELECT r.host_id FROM task_refusals r WHERE r.task_id = t.id ORDER BY r.host_id) AS refused_by, \
           ARRAY(SELECT r.soft FROM task_refusals r WHERE r.task_id = t.id ORDER BY r.host_id) AS refused_soft, \
           ARRAY(SELECT extract(epoch FROM clock_timestamp() - r.time)::float8 FROM task_refusals r \
                 WHERE r.task_id = t.id ORDER BY r.host_id) AS refused_age \
         FROM task t WHERE t.state = $1 ORDER BY t.priority, t.create_time, t.id LIMIT 1000",
    )
    .bind(TaskState::Free)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(FreeRow {
                id: r.try_get("id")?,
                channel_id: r.try_get("channel_id")?,
                arch: r.try_get("arch")?,
                weight: r.try_get("weight")?,
                priority: r.try_get("priority")?,
                create_time: r.try_get("create_time")?,
                refused_by: r.try_get("refused_by")?,
                refused_soft: r.try_get("refused_soft")?,
                refused_age: r.try_get("refused_age")?,
            })
        })
        .collect()
}

/// FREE tasks among `ids` become ASSIGNED to `host`.
pub async fn assign(db: &mut Conn, host: i32, ids: &[i32]) -> Result<()> {
    sqlx::query(
        "UPDATE task SET state = $3, host_id = $1, assign_time = clock_timestamp() \
         WHERE id = ANY($2) AND state = $4",
    )
    .bind(host)
    .bind(ids)
    .bind(TaskState::Assigned)
    .bind(TaskState::Free)
    .execute(db)
    .await?;
    Ok(())
}
