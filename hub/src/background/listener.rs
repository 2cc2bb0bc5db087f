//! Notifications from every hub on the database (LISTEN/NOTIFY), on a connection of its
//! own: `kkoji_tasks` (tasks changed: wake the scheduler and long-polling builders),
//! `kkoji_assigned` (these hosts got work: wake exactly their `host.waitTasks`) and
//! `kkoji_changes` (committed changes: drop cached reads).

use crate::hub::Hub;
use std::sync::Arc;
use std::time::Duration;

/// Listen for good; after a lost connection, everything is woken and every cache dropped
/// (what happened meanwhile was not heard), then it reconnects.
pub async fn run(hub: Arc<Hub>) {
    // The listener keeps its connection for good: it gets a pool of its own, so the calls'
    // pool keeps every one of its `max_connections`.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*hub.pool().connect_options()).clone());
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut l) => {
                if let Err(e) = l
                    .listen_all(["kkoji_tasks", "kkoji_changes", "kkoji_assigned"])
                    .await
                {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    loop {
                        match l.recv().await {
                            Ok(n) if n.channel() == "kkoji_changes" => {
                                hub.bump_generation();
                                hub.wake_all_hosts();
                            }
                            Ok(n) if n.channel() == "kkoji_assigned" => {
                                hub.wake_hosts(n.payload());
                            }
                            Ok(_) => hub.wake_scheduler(),
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
        hub.wake_scheduler();
        hub.bump_generation();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
