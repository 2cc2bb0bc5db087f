//! Running one task: its handler from the [task table](crate::tasks::table), then its
//! outcome reported with `host.closeTask`/`host.failTask` unless it was canceled, in which
//! case the hub already knows and nothing is reported. Each task runs as a tokio task
//! holding the task OPEN on the hub.

use std::sync::Arc;
use std::time::Duration;

use koji_protocol::{Fault, Value, codes};

use crate::hub::{Hub, OpenedTask};
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles};
use crate::tasks::table;

/// Runs a task's handler and reports its outcome. Never panics on bad input: a malformed
/// request fails the task with a ParameterError.
pub async fn run_task(ctx: Arc<TaskCtx>, task: OpenedTask, h: TaskHandles) {
    let id = task.id;
    let method = task.method.clone();
    tracing::info!(task = id, method = %method, "task started");
    if let Err(e) = ctx.hub.set_task_weight(id, table::weight(&method)).await {
        tracing::warn!(task = id, "cannot set the task weight: {e}");
    }
    let result = match table::find(&method) {
        Some(handler) => handler.run(&ctx, &task, &h).await,
        None => Err(TaskError::Fault(Fault::generic(format!(
            "kkoji-builder has no handler for method {method}"
        )))),
    };
    if h.cancel.is_cancelled() {
        tracing::info!(task = id, method = %method, "task canceled; not reporting");
        return;
    }
    h.reporting.store(true, std::sync::atomic::Ordering::SeqCst);
    match result {
        Ok(v) => {
            tracing::info!(task = id, method = %method, "task succeeded");
            report(&ctx.hub, id, &Ok(v)).await;
        }
        Err(TaskError::Fault(f)) => {
            // A parent whose task was canceled under it fails on its next host call
            // ("host N does not hold task M"): that is a cancel, not a failure to report.
            if !still_held(&ctx.hub, id).await {
                tracing::info!(task = id, method = %method, "task is no longer open on this host ({f}); not reporting");
                return;
            }
            tracing::warn!(task = id, method = %method, "task failed: {f}");
            report(&ctx.hub, id, &Err(f)).await;
        }
        Err(TaskError::Canceled) => {
            tracing::info!(task = id, method = %method, "task canceled; not reporting");
        }
        Err(TaskError::Free) => {
            tracing::info!(task = id, method = %method, "giving the task back to the hub until after the restart");
            if let Err(e) = ctx.hub.free_tasks(&[id]).await {
                tracing::warn!(task = id, "host.freeTasks: {e}");
            }
        }
    }
}

/// Reports a result, retrying transport errors for a while: a finished build must not be
/// lost because the hub restarted at that moment.
async fn report(hub: &Hub, id: i64, outcome: &Result<Value, Fault>) {
    let mut delay = Duration::from_secs(2);
    for attempt in 1..=10 {
        let r = match outcome {
            Ok(v) => hub.close_task(id, v).await,
            Err(f) => hub.fail_task(id, f).await,
        };
        match r {
            Ok(()) => return,
            Err(e) if e.fault_code() == Some(codes::ACTION_NOT_ALLOWED) => {
                tracing::info!(task = id, "the task is no longer ours (canceled?): {e}");
                return;
            }
            Err(e) if e.fault().is_some() => {
                tracing::error!(task = id, "the hub refused the task's result: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(task = id, attempt, "cannot report the task's result: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
    tracing::error!(
        task = id,
        "giving up reporting the task's result; the hub will free it"
    );
}

/// Is the task still OPEN on this host? (When the hub cannot be asked, assume yes and
/// let the report itself find out.)
async fn still_held(hub: &Hub, id: i64) -> bool {
    match hub.get_host_tasks().await {
        Ok(rows) => rows.iter().any(|r| r.id == id),
        Err(_) => true,
    }
}
