//! The scheduler pass: one transaction under an advisory lock (one pass at a time, across
//! hubs), so a task is never assigned twice. It takes the ready flag from hosts that
//! stopped checking in, frees tasks stuck on them or never opened, loads the hosts and the
//! FREE tasks, lets [`crate::domain::scheduler::assign`] decide, and applies the result.
//! `NOTIFY kkoji_assigned` names the hosts that got work.

use crate::config::SchedulerConfig;
use crate::domain::scheduler::{self as decide, Active, Refusal, Settings};
use crate::hub::Hub;
use crate::storage::{calls, scheduler as store};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

/// Any constant works as long as every hub uses the same one.
const LOCK_KEY: i64 = 0x6b6b_6f6a_6953_6368;

/// One pass per burst of task events (not one per waiting builder), plus one every
/// `scheduler.interval` seconds so timeouts are enforced when nothing happens. Each pass
/// is followed by a repo queue pass.
pub async fn run(hub: Arc<Hub>) {
    let every = Duration::from_secs(hub.config.scheduler.interval.max(1));
    let mut events = hub.task_events.subscribe();
    loop {
        tokio::select! {
            r = events.changed() => {
                if r.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(every) => {}
        }
        events.borrow_and_update();
        // another hub's pass may hold the lock and have missed the newest task: retry
        for attempt in 0..20u64 {
            match pass(hub.pool(), &hub.config.scheduler).await {
                Ok(Some(_)) => break,
                Ok(None) => tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler pass failed");
                    break;
                }
            }
        }
        // waiting repo requests become newRepo tasks without anyone polling
        super::repo_queue::pass(hub.clone()).await;
    }
}

/// One scheduling pass. Returns the number of tasks assigned, or `None` when another pass
/// (on this or another hub) holds the lock.
pub async fn pass(pool: &PgPool, cfg: &SchedulerConfig) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !calls::try_lock(&mut tx, LOCK_KEY).await? {
        return Ok(None);
    }
    store::unready_silent_hosts(&mut tx, cfg.ready_timeout as f64).await?;
    let stale_assigned = store::free_unopened(&mut tx, cfg.assign_timeout as f64).await?;
    let lost = store::free_of_silent_hosts(&mut tx, cfg.host_timeout as f64).await?;
    for (id, host) in &lost {
        tracing::warn!(task = id, %host, "host stopped checking in; task freed");
    }
    if stale_assigned > 0 {
        tracing::info!(
            count = stale_assigned,
            "assigned tasks not opened in time were freed"
        );
    }
    let hosts: Vec<decide::Host> = store::hosts(&mut tx)
        .await?
        .into_iter()
        .map(|h| decide::Host {
            id: h.id,
            enabled: h.enabled,
            ready: h.ready,
            arches: h
                .arches
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            channels: h.channels,
            capacity: h.capacity,
            maxjobs: h.maxjobs.unwrap_or(cfg.max_jobs),
            active: h
                .weights
                .iter()
                .zip(&h.waiting)
                .map(|(w, waiting)| Active {
                    weight: *w,
                    waiting: *waiting,
                })
                .collect(),
        })
        .collect();
    if !hosts.iter().any(|h| h.enabled && h.ready) {
        tx.commit().await?;
        return Ok(Some(0));
    }
    let tasks: Vec<decide::Task> = store::free_tasks(&mut tx)
        .await?
        .into_iter()
        .map(|t| decide::Task {
            id: t.id,
            channel_id: t.channel_id,
            arch: t.arch,
            weight: t.weight,
            priority: t.priority,
            create_time: t.create_time,
            refusals: t
                .refused_by
                .iter()
                .zip(&t.refused_soft)
                .zip(&t.refused_age)
                .map(|((host, soft), age)| Refusal {
                    host: *host,
                    soft: *soft,
                    age: *age,
                })
                .collect(),
        })
        .collect();
    let settings = Settings {
        soft_refusal_timeout: cfg.soft_refusal_timeout as f64,
        soft_refusal_retry: cfg.soft_refusal_retry as f64,
    };
    let assigned = decide::assign(&hosts, &tasks, &settings);
    let mut count = 0;
    for (host, ids) in &assigned {
        store::assign(&mut tx, *host, ids).await?;
        count += ids.len();
    }
    if !assigned.is_empty() {
        // wake exactly the builders that got work, on every hub
        let hosts: Vec<String> = assigned.keys().map(i32::to_string).collect();
        calls::notify_assigned(&mut tx, &hosts.join(",")).await?;
    }
    if !lost.is_empty() || stale_assigned > 0 {
        // freed tasks need another pass
        calls::notify_tasks(&mut tx).await?;
    }
    tx.commit().await?;
    if count > 0 {
        tracing::debug!(count, "tasks assigned");
    }
    Ok(Some(count))
}
