//! The task scheduler: assigns FREE tasks to ready, enabled hosts in the task's channel and
//! arch whose free capacity covers the task's weight, below their maxjobs, in priority
//! order, spreading work across hosts. One transaction under an advisory lock, so a task is
//! never assigned twice, also with several hubs on one database. It also takes the ready flag
//! from hosts that stopped checking in and frees tasks stuck on them.

use crate::config::SchedulerConfig;
use sqlx::{PgPool, Row};
use std::collections::{HashMap, HashSet};

/// Any constant works as long as every hub uses the same one.
const LOCK_KEY: i64 = 0x6b6b_6f6a_6953_6368;

#[derive(Debug)]
struct HostState {
    id: i32,
    arches: HashSet<String>,
    channels: HashSet<i32>,
    capacity: f64,
    load: f64,
    ntasks: i64,
    maxjobs: i64,
    assigned_now: i64,
}

impl HostState {
    /// Free capacity must cover the weight; an idle host may take a task heavier than its
    /// whole capacity (otherwise such a task could never run anywhere).
    fn fits(&self, weight: f64) -> bool {
        self.ntasks < self.maxjobs
            && (self.load <= 0.0 || self.capacity - self.load >= weight - 1e-9)
    }

    fn rank(&self) -> (i64, i64, i64) {
        // lowest relative load first, then fewest tasks, then fewest assignments this run
        (
            ((self.load / self.capacity.max(0.01)) * 1000.0) as i64,
            self.ntasks,
            self.assigned_now,
        )
    }
}

/// One scheduling pass. Returns the number of tasks assigned, or `None` when another pass
/// (on this or another hub) holds the lock.
pub async fn run(pool: &PgPool, cfg: &SchedulerConfig) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !got {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE host SET ready = FALSE WHERE ready AND (update_time IS NULL \
         OR update_time < clock_timestamp() - make_interval(secs => $1))",
    )
    .bind(cfg.ready_timeout as f64)
    .execute(&mut *tx)
    .await?;
    let stale_assigned = sqlx::query(
        "UPDATE task SET state = 0, host_id = NULL, assign_time = NULL \
         WHERE state = 4 AND assign_time < clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(cfg.assign_timeout as f64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let lost = sqlx::query(
        "UPDATE task t SET state = 0, host_id = NULL, start_time = NULL, assign_time = NULL \
         FROM host h WHERE t.host_id = h.id AND t.state IN (1, 4) \
           AND (h.update_time IS NULL OR h.update_time < clock_timestamp() - make_interval(secs => $1)) \
         RETURNING t.id, h.name",
    )
    .bind(cfg.host_timeout as f64)
    .fetch_all(&mut *tx)
    .await?;
    for r in &lost {
        let id: i32 = r.try_get("id")?;
        let host: String = r.try_get("name")?;
        tracing::warn!(task = id, %host, "host stopped checking in; task freed");
    }
    if stale_assigned > 0 {
        tracing::info!(
            count = stale_assigned,
            "assigned tasks not opened in time were freed"
        );
    }

    let host_rows = sqlx::query(
        "SELECT h.id, c.arches, c.capacity, h.data, \
           COALESCE((SELECT sum(t.weight) FROM task t WHERE t.host_id = h.id AND t.state IN (1, 4) \
                     AND NOT COALESCE(t.waiting, FALSE)), 0) AS load, \
           (SELECT count(*) FROM task t WHERE t.host_id = h.id AND t.state IN (1, 4) \
                     AND NOT COALESCE(t.waiting, FALSE)) AS ntasks, \
           ARRAY(SELECT hc.channel_id FROM host_channels hc JOIN channels ch ON ch.id = hc.channel_id \
                 WHERE hc.host_id = h.id AND hc.active AND ch.enabled) AS channels \
         FROM host h JOIN host_config c ON c.host_id = h.id AND c.active \
         WHERE c.enabled AND h.ready",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut hosts: Vec<HostState> = Vec::with_capacity(host_rows.len());
    for r in &host_rows {
        let arches: Option<String> = r.try_get("arches")?;
        let mut set: HashSet<String> = arches
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        set.insert("noarch".into());
        let data: Option<String> = r.try_get("data")?;
        let maxjobs = data
            .as_deref()
            .map(crate::methods::common::load_value)
            .and_then(|v| v.get("maxjobs").and_then(koji_protocol::Value::as_i64))
            .unwrap_or(cfg.max_jobs);
        hosts.push(HostState {
            id: r.try_get("id")?,
            arches: set,
            channels: r.try_get::<Vec<i32>, _>("channels")?.into_iter().collect(),
            capacity: r.try_get("capacity")?,
            load: r.try_get("load")?,
            ntasks: r.try_get("ntasks")?,
            maxjobs,
            assigned_now: 0,
        });
    }
    if hosts.is_empty() {
        tx.commit().await?;
        return Ok(Some(0));
    }
    let free = sqlx::query(
        "SELECT t.id, t.channel_id, t.arch, t.weight, \
           ARRAY(SELECT r.host_id FROM task_refusals r WHERE r.task_id = t.id \
                 AND (NOT r.soft OR r.time > clock_timestamp() - make_interval(secs => $2))) AS barred, \
           ARRAY(SELECT r.host_id FROM task_refusals r WHERE r.task_id = t.id \
                 AND r.soft AND r.time > clock_timestamp() - make_interval(secs => $1)) AS avoided \
         FROM task t WHERE t.state = 0 ORDER BY t.priority, t.create_time, t.id LIMIT 1000",
    )
    .bind(cfg.soft_refusal_timeout as f64)
    .bind(cfg.soft_refusal_retry.min(cfg.soft_refusal_timeout) as f64)
    .fetch_all(&mut *tx)
    .await?;
    let mut assigned: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut count = 0usize;
    for r in &free {
        let id: i32 = r.try_get("id")?;
        let channel: i32 = r.try_get("channel_id")?;
        let arch: String = r.try_get("arch")?;
        let weight: f64 = r.try_get("weight")?;
        let barred: HashSet<i32> = r.try_get::<Vec<i32>, _>("barred")?.into_iter().collect();
        let avoided: HashSet<i32> = r.try_get::<Vec<i32>, _>("avoided")?.into_iter().collect();
        // hosts that did not refuse first; a soft refuser only when nobody else can
        let best = hosts
            .iter_mut()
            .filter(|h| h.channels.contains(&channel) && h.arches.contains(&arch))
            .filter(|h| !barred.contains(&h.id) && h.fits(weight))
            .min_by_key(|h| (avoided.contains(&h.id), h.rank()));
        let Some(h) = best else { continue };
        h.load += weight;
        h.ntasks += 1;
        h.assigned_now += 1;
        assigned.entry(h.id).or_default().push(id);
        count += 1;
    }
    for (host, ids) in &assigned {
        sqlx::query(
            "UPDATE task SET state = 4, host_id = $1, assign_time = clock_timestamp() \
             WHERE id = ANY($2) AND state = 0",
        )
        .bind(host)
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    }
    if !assigned.is_empty() {
        // wake exactly the builders that got work, on every hub
        let hosts: Vec<String> = assigned.keys().map(i32::to_string).collect();
        sqlx::query("SELECT pg_notify('kkoji_assigned', $1)")
            .bind(hosts.join(","))
            .execute(&mut *tx)
            .await?;
    }
    if !lost.is_empty() || stale_assigned > 0 {
        // freed tasks need another pass
        sqlx::query("SELECT pg_notify('kkoji_tasks', '')")
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    if count > 0 {
        tracing::debug!(count, "tasks assigned");
    }
    Ok(Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(capacity: f64, load: f64, ntasks: i64) -> HostState {
        HostState {
            id: 1,
            arches: HashSet::new(),
            channels: HashSet::new(),
            capacity,
            load,
            ntasks,
            maxjobs: 2,
            assigned_now: 0,
        }
    }

    #[test]
    fn capacity_must_cover_weight() {
        // capacity 1.0 takes one 1.5 task when idle, never a second one
        assert!(host(1.0, 0.0, 0).fits(1.5));
        assert!(!host(1.0, 1.5, 1).fits(1.5));
        assert!(host(4.0, 1.5, 1).fits(1.5));
        assert!(!host(4.0, 3.0, 1).fits(1.5));
        // maxjobs
        assert!(!host(100.0, 0.5, 2).fits(0.1));
    }

    #[test]
    fn less_loaded_hosts_rank_first() {
        assert!(host(4.0, 1.0, 1).rank() < host(2.0, 1.0, 1).rank());
        assert!(host(4.0, 0.0, 0).rank() < host(4.0, 0.0, 1).rank());
    }
}
