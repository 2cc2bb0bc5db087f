//! What an admin does to the queue by hand (`koji assign-task`, `free-task`,
//! `set-task-priority`) and what the scheduler tells about itself (`koji scheduler-info`,
//! `scheduler-logs`): Koji's rules, kkoji's scheduler log.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::calls;
use crate::storage::scheduler_log as log;
use crate::storage::task_admin as store;
use crate::storage::{Page, Paged};
use koji_protocol::Struct;

pub use crate::storage::scheduler_log::{
    Clause, Field, Kind, LOG_MESSAGES, Op, TASK_REFUSALS, TASK_RUNS, Val, View,
};

/// assignTask: the task goes to `host` now (a FREE task; with `force` any unfinished
/// one, taken from the host that had it). False when the task is not in a state that
/// allows it, as Koji answers. Both hosts are woken.
pub async fn assign(
    c: &mut Ctx,
    task: i32,
    host: i32,
    force: bool,
    override_: bool,
) -> HResult<bool> {
    c.assert_perm("admin").await?;
    super::tasks::require(c, task).await?;
    c.mark_write();
    let Some(previous) = store::assign(c.db().await?, task, host, force, override_).await? else {
        return Ok(false);
    };
    let mut wake = host.to_string();
    if let Some(p) = previous.filter(|p| *p != host) {
        // the host that had it finds out at its next poll that the task is gone
        wake.push_str(&format!(",{p}"));
    }
    calls::notify_assigned(c.db().await?, &wake).await?;
    tracing::info!(task, host, force, "task assigned by an admin");
    Ok(true)
}

/// freeTask: an unfinished task goes back to the queue.
pub async fn free(c: &mut Ctx, task: i32) -> HResult<()> {
    c.assert_perm("admin").await?;
    let t = super::tasks::require(c, task).await?;
    c.mark_write();
    if store::free(c.db().await?, task).await?.is_none() {
        return Err(HubError::generic(format!(
            "Cannot free task {task}, state is {}",
            t.state.name()
        )));
    }
    super::tasks::notify(c).await?;
    tracing::info!(task, "task freed by an admin");
    Ok(())
}

/// setTaskPriority: an unfinished task's priority (and its subtasks' with `recurse`).
pub async fn set_priority(c: &mut Ctx, task: i32, priority: i64, recurse: bool) -> HResult<()> {
    c.assert_perm("admin").await?;
    let priority = super::tasks::checked_priority(priority)?;
    let t = super::tasks::require(c, task).await?;
    if t.state.is_final() {
        return Err(HubError::generic(
            "Finished task's priority can't be updated",
        ));
    }
    c.mark_write();
    let n = store::set_priority(c.db().await?, task, priority, recurse).await?;
    super::tasks::notify(c).await?;
    tracing::info!(task, priority, changed = n, "task priority set by an admin");
    Ok(())
}

/// Rows of a `scheduler.*` view.
pub async fn query(
    c: &mut Ctx,
    view: &View,
    fields: &[&'static Field],
    clauses: &[Clause],
    page: &Page,
) -> HResult<Paged<Struct>> {
    Ok(log::query(c.db().await?, view, fields, clauses, page).await?)
}

/// scheduler.getHostData: what each builder reported at its last check-in.
pub async fn host_data(
    c: &mut Ctx,
    host: Option<i32>,
) -> HResult<Vec<(i32, koji_protocol::Value, Option<String>)>> {
    Ok(log::host_data(c.db().await?, host).await?)
}
