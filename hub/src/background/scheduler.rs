//! The scheduler pass: one transaction under an advisory lock (one pass at a time, across
//! hubs), so a task is never assigned twice. It takes the ready flag from hosts that
//! stopped checking in, frees tasks stuck on them or never opened, loads the hosts and the
//! FREE tasks, lets [`crate::domain::scheduler::assign`] decide, and applies the result.
//! `NOTIFY kkoji_assigned` names the hosts that got work.

use crate::config::SchedulerConfig;
use crate::domain::scheduler::{self as decide, Active, Refusal, Settings, Wait};
use crate::hub::Hub;
use crate::storage::{calls, scheduler as store, scheduler_log};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why each waiting task waited at the last pass: a reason is logged when it changes, not
/// at every pass.
pub type Waits = HashMap<i32, Wait>;

/// Any constant works as long as every hub uses the same one.
const LOCK_KEY: i64 = 0x6b6b_6f6a_6953_6368;

/// One pass per burst of task events (not one per waiting builder), plus one every
/// `scheduler.interval` seconds so timeouts are enforced when nothing happens. Each pass
/// is followed by a repo queue pass.
pub async fn run(hub: Arc<Hub>) {
    let every = Duration::from_secs(hub.config.scheduler.interval.max(1));
    let mut events = hub.task_events.subscribe();
    let mut waits = Waits::new();
    let mut pruned = Instant::now();
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
            match pass(hub.pool(), &hub.config.scheduler, &mut waits).await {
                Ok(Some(_)) => break,
                Ok(None) => tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler pass failed");
                    break;
                }
            }
        }
        if pruned.elapsed() > Duration::from_secs(3600) {
            pruned = Instant::now();
            prune_log(&hub).await;
        }
        // waiting repo requests become newRepo tasks without anyone polling
        super::repo_queue::pass(hub.clone()).await;
    }
}

async fn prune_log(hub: &Hub) {
    let secs = hub.config.scheduler.log_retention_days as f64 * 86400.0;
    let done = async {
        let mut db = hub.pool().acquire().await?;
        scheduler_log::prune(&mut db, secs).await
    };
    match done.await {
        Ok(n) if n > 0 => tracing::info!(count = n, "old scheduler log messages pruned"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot prune the scheduler log"),
    }
}

/// One scheduling pass. Returns the number of tasks assigned, or `None` when another pass
/// (on this or another hub) holds the lock. What it decides goes to the scheduler log in
/// the same transaction: runs and assignments, timeouts, hosts marked not ready, and a
/// waiting task's reason when it differs from `waits` (the last pass's).
pub async fn pass(
    pool: &PgPool,
    cfg: &SchedulerConfig,
    waits: &mut Waits,
) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !calls::try_lock(&mut tx, LOCK_KEY).await? {
        return Ok(None);
    }
    let mut log: Vec<(Option<i32>, Option<i32>, String)> = Vec::new();
    for h in store::unready_silent_hosts(&mut tx, cfg.ready_timeout as f64).await? {
        log.push((None, Some(h), "Marking host not ready".into()));
    }
    let stale_assigned = store::free_unopened(&mut tx, cfg.assign_timeout as f64).await?;
    for (id, host) in &stale_assigned {
        log.push((Some(*id), *host, "Task assignment timeout".into()));
    }
    let lost = store::free_of_silent_hosts(&mut tx, cfg.host_timeout as f64).await?;
    for (id, host, name) in &lost {
        tracing::warn!(task = id, host = %name, "host stopped checking in; task freed");
        log.push((
            Some(*id),
            Some(*host),
            "Freeing task from unresponsive host".into(),
        ));
    }
    if !stale_assigned.is_empty() {
        tracing::info!(
            count = stale_assigned.len(),
            "assigned tasks not opened in time were freed"
        );
    }
    scheduler_log::log(&mut tx, &log).await?;
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
        scheduler_log::runs(&mut tx, *host, ids, "Assigning task").await?;
        count += ids.len();
    }
    let given: std::collections::HashSet<i32> = assigned.values().flatten().copied().collect();
    let reasons = waiting_reasons(&hosts, &tasks, &given, &settings);
    let changed: Vec<(Option<i32>, Option<i32>, String)> = reasons
        .iter()
        // a full farm is the queue working: only what an admin must fix is logged
        .filter(|(id, w)| **w != Wait::Busy && waits.get(id) != Some(w))
        .map(|(id, w)| (Some(*id), None, w.message().to_string()))
        .collect();
    scheduler_log::log(&mut tx, &changed).await?;
    if !assigned.is_empty() {
        // wake exactly the builders that got work, on every hub
        let hosts: Vec<String> = assigned.keys().map(i32::to_string).collect();
        calls::notify_assigned(&mut tx, &hosts.join(",")).await?;
    }
    if !lost.is_empty() || !stale_assigned.is_empty() {
        // freed tasks need another pass
        calls::notify_tasks(&mut tx).await?;
    }
    tx.commit().await?;
    *waits = reasons;
    if count > 0 {
        tracing::debug!(count, "tasks assigned");
    }
    Ok(Some(count))
}

/// Why each task the pass did not give out waits; tasks alike (channel, arch, no refusals)
/// are judged once.
fn waiting_reasons(
    hosts: &[decide::Host],
    tasks: &[decide::Task],
    given: &std::collections::HashSet<i32>,
    s: &Settings,
) -> Waits {
    let mut alike: HashMap<(i32, &str), Wait> = HashMap::new();
    let mut out = Waits::new();
    for t in tasks.iter().filter(|t| !given.contains(&t.id)) {
        let w = if t.refusals.is_empty() {
            *alike
                .entry((t.channel_id, t.arch.as_str()))
                .or_insert_with(|| decide::why_waiting(hosts, t, s))
        } else {
            decide::why_waiting(hosts, t, s)
        };
        out.insert(t.id, w);
    }
    out
}
