//! The shared state of a running hub.

use crate::config::HubConfig;
use crate::registry::Registry;
use sqlx::PgPool;

pub struct Hub {
    pub pool: PgPool,
    pub config: HubConfig,
    pub registry: Registry,
    /// Bumped whenever tasks change (on this or another hub, via LISTEN/NOTIFY): wakes
    /// long-polling builders.
    pub task_events: tokio::sync::watch::Sender<u64>,
    pub sessions: crate::session::SessionCache,
    /// Bumped by every committed change (here, or on another hub via NOTIFY kkoji_changes):
    /// cached read results from an older generation are not used.
    pub generation: std::sync::atomic::AtomicU64,
    /// Current tag records by id and by name (see `generation`).
    pub tag_cache: std::sync::Mutex<
        std::collections::HashMap<crate::signature::Ident, (u64, koji_protocol::Value)>,
    >,
}

impl Hub {
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn bump_generation(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Hub {
    pub fn new(pool: PgPool, config: HubConfig) -> Hub {
        Hub {
            pool,
            config,
            registry: crate::methods::registry(),
            task_events: tokio::sync::watch::Sender::new(0),
            sessions: crate::session::SessionCache::new(),
            generation: std::sync::atomic::AtomicU64::new(0),
            tag_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

/// Background work of a hub: hear task notifications from every hub on the database, and run
/// the scheduler periodically so timeouts (dead hosts, unopened assignments) are enforced even
/// when no builder asks.
pub fn spawn_background(hub: std::sync::Arc<Hub>) -> Vec<tokio::task::JoinHandle<()>> {
    let listener_hub = hub.clone();
    let listen = tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect_with(&listener_hub.pool).await {
                Ok(mut l) => {
                    if let Err(e) = l.listen_all(["kkoji_tasks", "kkoji_changes"]).await {
                        tracing::warn!(error = %e, "LISTEN failed");
                    } else {
                        loop {
                            match l.recv().await {
                                Ok(n) if n.channel() == "kkoji_changes" => {
                                    listener_hub.bump_generation();
                                }
                                Ok(_) => {
                                    listener_hub
                                        .task_events
                                        .send_modify(|n| *n = n.wrapping_add(1));
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "task notification listener lost its connection");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot connect the task notification listener")
                }
            }
            // wake waiters and drop cached reads: what happened meanwhile was not heard
            listener_hub
                .task_events
                .send_modify(|n| *n = n.wrapping_add(1));
            listener_hub.bump_generation();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let sched = tokio::spawn(async move {
        let every = std::time::Duration::from_secs(hub.config.scheduler.interval.max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = crate::scheduler::run(&hub.pool, &hub.config.scheduler).await {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
        }
    });
    vec![listen, sched]
}
