//! Tasks: creation (every path that makes one ends in [`create`]), the moves builders make
//! (open, subtasks, waiting, close, fail, refuse, free), and cancellation. Every state
//! change is a guarded update (`WHERE state = …`), so a task is never opened twice.
//!
//! A task's parameters and result are stored as XML-RPC documents (a methodCall and a
//! methodResponse), as Koji stores them: the builder gets them back verbatim.

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::{calls, tasks as store};
use koji_protocol::{Limits, Value, decode_call, encode_call};

pub use crate::storage::tasks::{
    ListedTask, Offer, TASK_ORDER, Task, TaskCond, TaskState, TimeBound,
};
use crate::storage::{Page, Paged};

/// Koji's default priority; lower numbers run first.
pub const PRIO_DEFAULT: i64 = 20;

/// The priorities a task may have. Koji sets no bound; kkoji does, so that no number from
/// the wire wraps when stored (a huge "low" priority once came out negative and jumped the
/// queue).
pub const PRIO_RANGE: std::ops::RangeInclusive<i64> = -1000..=1000;

/// A task priority from the wire, checked against [`PRIO_RANGE`].
pub fn checked_priority(p: i64) -> HResult<i32> {
    if PRIO_RANGE.contains(&p)
        && let Ok(p) = i32::try_from(p)
    {
        Ok(p)
    } else {
        Err(HubError::parameter(format!(
            "priority {p} is out of range ({}..={})",
            PRIO_RANGE.start(),
            PRIO_RANGE.end()
        )))
    }
}

/// Weights a task starts with (the builder may adjust them with setTaskWeight): the
/// shared table's, which the builders weigh tasks with too.
pub use kkoji_task_kinds::default_weight;

/// The parameters of a stored request (an unreadable one shows as empty, never fails a
/// listing).
pub fn decode_params(xml: &str) -> Vec<Value> {
    match decode_call(xml.as_bytes(), &Limits::default()) {
        Ok(c) => c.params,
        Err(e) => {
            tracing::warn!(error = %e, "stored task request does not decode");
            Vec::new()
        }
    }
}

pub async fn get(c: &mut Ctx, id: i32) -> HResult<Option<Task>> {
    Ok(store::get(c.db().await?, id).await?)
}

/// The task; "No such task: {id}" otherwise.
pub async fn require(c: &mut Ctx, id: i32) -> HResult<Task> {
    get(c, id)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such task: {id}")))
}

/// The subtasks of a task, by id.
pub async fn children(c: &mut Ctx, parent: i32) -> HResult<Vec<Task>> {
    Ok(store::children(c.db().await?, parent).await?)
}

/// The ids of a task's subtasks.
pub async fn child_ids(c: &mut Ctx, parent: i32) -> HResult<Vec<i32>> {
    Ok(store::child_ids(c.db().await?, parent).await?)
}

/// What a new task is.
pub struct NewTask<'a> {
    pub method: &'a str,
    pub params: Vec<Value>,
    pub owner: i32,
    pub arch: &'a str,
    pub channel_id: i32,
    pub priority: i64,
    pub parent: Option<i32>,
    pub label: Option<String>,
}

/// Create a FREE task and tell every hub (LISTEN/NOTIFY, delivered at commit) so waiting
/// builders hear of it at once.
pub async fn create(c: &mut Ctx, t: NewTask<'_>) -> HResult<i32> {
    c.mark_write();
    // every path that makes a task ends here: no priority can wrap on its way to the row
    let priority = checked_priority(t.priority)?;
    let request = encode_call(t.method, &t.params);
    let db = c.db().await?;
    let id = store::insert(
        db,
        &store::NewTask {
            method: t.method,
            request: &request,
            owner: t.owner,
            arch: t.arch,
            channel_id: t.channel_id,
            priority,
            weight: default_weight(t.method),
            parent: t.parent,
            label: t.label.as_deref(),
        },
    )
    .await?;
    calls::notify_tasks(db).await?;
    tracing::info!(
        task = id,
        method = t.method,
        owner = t.owner,
        "task created"
    );
    Ok(id)
}

/// Wake long-polling builders and the scheduler on every hub of this database (at commit).
pub async fn notify(c: &mut Ctx) -> HResult<()> {
    calls::notify_tasks(c.db().await?).await?;
    Ok(())
}

/// The id of a channel by name; "No such channel" otherwise.
pub async fn channel_id(c: &mut Ctx, name: &str) -> HResult<i32> {
    store::channel_id(c.db().await?, name)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such channel: {name}")))
}

/// A channel id that must exist.
pub async fn require_channel(c: &mut Ctx, id: i32) -> HResult<i32> {
    if store::channel_exists(c.db().await?, id).await? {
        Ok(id)
    } else {
        Err(HubError::generic(format!("No such channel: {id}")))
    }
}

/// Cancel a task (and with `recurse` its unfinished descendants). Finished tasks are left
/// alone. Builds in BUILDING state created by a canceled task are canceled too; a canceled
/// newRepo task leaves its repo in PROBLEM.
pub async fn cancel(c: &mut Ctx, id: i32, recurse: bool) -> HResult<()> {
    let ids = if recurse {
        store::tree_ids(c.db().await?, id).await?
    } else {
        vec![id]
    };
    c.mark_write();
    let db = c.db().await?;
    let n = store::cancel(db, &ids).await?;
    crate::storage::builds::cancel_of_tasks(db, &ids).await?;
    let mut repo_tasks =
        store::with_method_in_state(db, &ids, "newRepo", TaskState::Canceled).await?;
    repo_tasks
        .extend(store::with_method_in_state(db, &ids, "distRepo", TaskState::Canceled).await?);
    for t in repo_tasks {
        super::repos::task_failed(c, t, &format!("task {t} was canceled")).await?;
    }
    if n > 0 {
        notify(c).await?;
    }
    Ok(())
}

/// The owner, the host running the task, or an admin may cancel it.
pub async fn assert_can_cancel(c: &mut Ctx, id: i32) -> HResult<()> {
    let t = require(c, id).await?;
    let Some(me) = c.session.clone() else {
        return Err(HubError::not_allowed("Cannot cancel task, not owner"));
    };
    if t.owner == me.user_id || c.is_admin().await? {
        return Ok(());
    }
    if let Some(h) = t.host_id
        && super::hosts::user_of(c, h).await? == Some(me.user_id)
    {
        return Ok(());
    }
    Err(HubError::not_allowed("Cannot cancel task, not owner"))
}

/// listTasks: one page of the tasks matching `conds`, ordered by `order` (columns of the
/// task table, checked by the caller).
pub async fn list(c: &mut Ctx, conds: &[TaskCond], page: &Page) -> HResult<Paged<ListedTask>> {
    Ok(store::list(c.db().await?, conds, page).await?)
}

/// The tasks assigned to a host, in the order it should take them.
pub async fn assigned_to(c: &mut Ctx, host: i32) -> HResult<Vec<Offer>> {
    Ok(store::assigned_to(c.db().await?, host).await?)
}

/// The OPEN tasks of a host: (id, waiting, weight, alert).
pub async fn open_on(c: &mut Ctx, host: i32) -> HResult<Vec<(i32, Option<bool>, f64, bool)>> {
    Ok(store::open_on(c.db().await?, host).await?)
}

/// host.openTask: FREE or ASSIGNED-to-me → OPEN on me; None when another host has it.
pub async fn open(c: &mut Ctx, host: i32, id: i32) -> HResult<Option<Task>> {
    c.mark_write();
    let t = store::open(c.db().await?, id, host).await?;
    if t.is_some() {
        tracing::info!(task = id, host, "task opened");
    }
    Ok(t)
}

/// The task must be OPEN on the calling host (Koji's `Task.assertHost`): a host acts only
/// on tasks it holds.
pub async fn assert_holds(c: &mut Ctx, host: i32, id: i32) -> HResult<Task> {
    let t = require(c, id).await?;
    if t.state != TaskState::Open || t.host_id != Some(host) {
        return Err(HubError::not_allowed(format!(
            "host {host} does not hold task {id}"
        )));
    }
    Ok(t)
}

/// host.closeTask / host.failTask: the host's task ends in `state` with `result` (an
/// XML-RPC methodResponse; `fault_text` says why, for a failure). A failed newRepo leaves
/// its repo in PROBLEM. Its upload markers go: closing declares the output complete.
pub async fn finish(
    c: &mut Ctx,
    host: i32,
    id: i32,
    state: TaskState,
    result: &str,
    fault_text: Option<String>,
) -> HResult<()> {
    let t = assert_holds(c, host, id).await?;
    c.mark_write();
    store::finish(c.db().await?, id, state, result).await?;
    if state == TaskState::Failed && (t.method == "newRepo" || t.method == "distRepo") {
        let why = fault_text.unwrap_or_else(|| format!("{} task failed", t.method));
        super::repos::task_failed(c, id, &format!("task {id} failed: {why}")).await?;
    }
    let rel = std::path::Path::new("work").join(crate::topdir::task_rel(i64::from(id)));
    super::uploads::clear_markers(&c.hub().config.topdir, &rel);
    notify(c).await?;
    tracing::info!(task = id, host, state = state.code(), "task finished");
    Ok(())
}

/// host.freeTasks: my OPEN tasks among `ids` go back to FREE.
pub async fn free(c: &mut Ctx, host: i32, ids: &[i32]) -> HResult<()> {
    c.mark_write();
    store::free_open(c.db().await?, ids, host).await?;
    notify(c).await?;
    Ok(())
}

/// host.refuseTask: a task assigned to or opened by me goes back to FREE, remembered as
/// refused by me (soft: only for a while).
pub async fn refuse(c: &mut Ctx, host: i32, id: i32, soft: bool, msg: &str) -> HResult<()> {
    let t = require(c, id).await?;
    if t.host_id != Some(host) {
        return Ok(());
    }
    c.mark_write();
    store::refuse(c.db().await?, id, host, soft, msg).await?;
    notify(c).await?;
    tracing::info!(task = id, host, soft, %msg, "task refused");
    Ok(())
}

/// host.setTaskWeight.
pub async fn set_weight(c: &mut Ctx, host: i32, id: i32, weight: f64) -> HResult<()> {
    if !(weight.is_finite() && weight >= 0.0) {
        return Err(HubError::parameter(format!("invalid weight {weight}")));
    }
    assert_holds(c, host, id).await?;
    c.mark_write();
    store::set_weight(c.db().await?, id, weight).await?;
    Ok(())
}

/// What a subtask may differ in from its parent.
pub struct SubtaskOpts {
    pub label: Option<String>,
    /// As given (checked here, after the label: a retried call gets its child back).
    pub arch: Option<String>,
    pub channel: Option<String>,
    pub priority: Option<i64>,
    /// Straight to this host (kojid's restartHosts gives each host its own restart tasks
    /// this way, as in Koji), whatever its channels and arches.
    pub assign: Option<i32>,
}

/// host.subtask: a child of an OPEN task of mine, with the parent's owner, arch, channel
/// and priority unless given. Idempotent per (parent, label), so a retried call returns
/// the same child.
pub async fn subtask(
    c: &mut Ctx,
    host: i32,
    parent: i32,
    method: &str,
    params: Vec<Value>,
    o: SubtaskOpts,
) -> HResult<i32> {
    let p = assert_holds(c, host, parent).await?;
    if let Some(l) = &o.label
        && let Some(existing) = store::child_by_label(c.db().await?, parent, l).await?
    {
        return Ok(existing);
    }
    let arch = match &o.arch {
        Some(a) => crate::names::parse_arches(a)?,
        None => p.arch.clone(),
    };
    let channel = match o.channel {
        Some(ch) => channel_id(c, &ch).await?,
        None => p.channel_id,
    };
    let priority = o.priority.unwrap_or(i64::from(p.priority));
    if let Some(h) = o.assign
        && crate::storage::hosts::user_of(c.db().await?, h)
            .await?
            .is_none()
    {
        return Err(HubError::generic(format!("No such host: {h}")));
    }
    let id = create(
        c,
        NewTask {
            method,
            params,
            owner: p.owner,
            arch: &arch,
            channel_id: channel,
            priority,
            parent: Some(parent),
            label: o.label,
        },
    )
    .await?;
    // A parent that makes subtasks is about to wait for them: from now on it does not
    // count against its host's capacity and maxjobs, or a host full of parents could never
    // take their children (the child may be offered before the parent's taskSetWait).
    store::set_waiting(c.db().await?, parent, true).await?;
    if let Some(h) = o.assign {
        store::assign_new(c.db().await?, id, h).await?;
        // wake that builder's long-poll on every hub
        calls::notify_assigned(c.db().await?, &h.to_string()).await?;
    }
    Ok(id)
}

/// host.taskSetWait: the parent waits (its weight stops counting) on the given children
/// (None = all).
pub async fn set_wait(c: &mut Ctx, host: i32, parent: i32, ids: Option<&[i32]>) -> HResult<()> {
    assert_holds(c, host, parent).await?;
    c.mark_write();
    let db = c.db().await?;
    store::set_waiting(db, parent, true).await?;
    store::set_awaited(db, parent, ids).await?;
    Ok(())
}

/// host.taskWait: (finished, unfinished) among the awaited children; the finished ones
/// are awaited no more.
pub async fn wait(c: &mut Ctx, host: i32, parent: i32) -> HResult<(Vec<i32>, Vec<i32>)> {
    assert_holds(c, host, parent).await?;
    let rows = store::awaited(c.db().await?, parent).await?;
    let (done, open): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, s)| s.is_final());
    let done: Vec<i32> = done.into_iter().map(|x| x.0).collect();
    if !done.is_empty() {
        c.mark_write();
        store::unawait(c.db().await?, &done).await?;
    }
    Ok((done, open.into_iter().map(|x| x.0).collect()))
}

/// host.taskWaitResults: the parent stops waiting; (id, state, stored result) of its
/// finished children (among `ids`, if given).
pub async fn wait_results(
    c: &mut Ctx,
    host: i32,
    parent: i32,
    ids: Option<&[i32]>,
) -> HResult<Vec<(i32, TaskState, Option<String>)>> {
    assert_holds(c, host, parent).await?;
    c.mark_write();
    let db = c.db().await?;
    store::set_waiting(db, parent, false).await?;
    let rows = store::finished_children(db, parent, ids).await?;
    store::unawait_children(db, parent).await?;
    Ok(rows)
}

/// The stored result of a task.
pub async fn result_of(c: &mut Ctx, id: i32) -> HResult<Option<String>> {
    Ok(store::result_of(c.db().await?, id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_bounded() {
        assert_eq!(checked_priority(20).ok(), Some(20));
        assert_eq!(checked_priority(-1000).ok(), Some(-1000));
        assert!(checked_priority(1001).is_err());
        assert!(checked_priority(i64::from(i32::MAX) + 1).is_err());
    }
}
