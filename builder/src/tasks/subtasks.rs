//! Waiting for subtasks, as kojid's `wait(subtasks, all=True, failany=True)`.

use std::collections::HashSet;
use std::time::Duration;

use koji_protocol::Value;

use crate::tasks::context::{TaskCtx, TaskError, TaskHandles};

/// How often a waiting parent asks the hub about its children (it is also woken at once
/// when the hub flags an `alert` for it).
const WAIT_POLL: Duration = Duration::from_secs(3);

/// kojid's `wait(subtasks, all=True, failany=True)`: waits for every child; the first
/// failed (or canceled) child cancels its siblings and fails the parent with its fault.
pub(crate) async fn wait_children(
    ctx: &TaskCtx,
    parent: i64,
    h: &TaskHandles,
    ids: &[i64],
) -> Result<Vec<(i64, Value)>, TaskError> {
    ctx.hub.task_set_wait(parent, ids).await?;
    let mut checked: HashSet<i64> = HashSet::new();
    loop {
        if h.cancel.is_cancelled() {
            return Err(TaskError::Canceled);
        }
        // Listen before asking, so a child finishing during the call is not missed.
        let local_done = h.local_task_done.notified();
        tokio::pin!(local_done);
        local_done.as_mut().enable();
        let (finished, unfinished) = ctx.hub.task_wait(parent).await?;
        for t in finished.iter().filter(|t| ids.contains(t)) {
            if !checked.insert(*t) {
                continue;
            }
            if let Err(e) = ctx.hub.get_task_result(*t).await {
                if e.fault().is_some() {
                    tracing::info!(
                        task = parent,
                        child = t,
                        "subtask failed; canceling the others"
                    );
                    if let Err(ce) = ctx.hub.cancel_task_children(parent).await {
                        tracing::warn!(task = parent, "cancelTaskChildren: {ce}");
                    }
                }
                return Err(e.into());
            }
        }
        if !unfinished.iter().any(|t| ids.contains(t)) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(WAIT_POLL) => {}
            _ = h.wake.notified() => {}
            _ = &mut local_done => {}
            _ = h.cancel.cancelled() => return Err(TaskError::Canceled),
        }
    }
    Ok(ctx.hub.task_wait_results(parent, ids).await?)
}
