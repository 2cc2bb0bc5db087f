//! The scheduler loop: one pass per burst of task events (not one per waiting builder),
//! plus one every `scheduler.interval` seconds so timeouts are enforced when nothing
//! happens. Each pass is followed by a repo queue pass.

use crate::hub::Hub;
use std::sync::Arc;
use std::time::Duration;

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
            match crate::scheduler::run(hub.pool(), &hub.config.scheduler).await {
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
