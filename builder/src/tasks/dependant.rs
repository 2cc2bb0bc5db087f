//! `dependantTask(wait_list, task_list)`: waits until every task of `wait_list` (not its
//! children) has finished, fails if one of them failed or was canceled, then runs
//! `task_list` (`[method, arglist, kwargs]` entries) as its subtasks and waits for them.
//! The hub's `moveAllBuilds` chains these so that a package's builds move in order; the
//! stock kojid runs the same task.

use std::time::Duration;

use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_i64};
use crate::tasks::context::{
    TaskCtx, TaskError, TaskHandles, generic, opt_param, param, param_error,
};
use crate::tasks::subtasks::wait_children;

/// How often the awaited tasks are looked at (they are not children: no wake-up comes).
const POLL: Duration = Duration::from_secs(2);

/// Koji's task states that end a dependency badly.
const CANCELED: i64 = 3;
const FAILED: i64 = 5;

pub(crate) async fn run(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let waits: Vec<i64> = match param(task, 0, "wait_list")? {
        Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
        Value::Nil => Vec::new(),
        _ => return Err(param_error("dependantTask: wait_list must be a list")),
    };
    let list = match opt_param(task, 1, "task_list") {
        Value::Array(a) => a,
        Value::Nil => Vec::new(),
        _ => return Err(param_error("dependantTask: task_list must be a list")),
    };
    let mut pending = Vec::new();
    for id in waits {
        // kojid drops ids that name no task
        match ctx.hub.call("getTaskInfo", vec![Value::Int(id)]).await? {
            Value::Nil => tracing::debug!(task = task.id, id, "no such task to wait for"),
            _ => pending.push(id),
        }
    }
    if !pending.is_empty() {
        // a task that only waits holds no slot of this builder (nor counts on the hub), or
        // a chain of these could fill the builder and starve the subtasks they wait for
        ctx.hub.task_set_wait(task.id, &[]).await?;
    }
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let done = ctx
                .hub
                .call("taskFinished", vec![Value::Int(id)])
                .await?
                .is_truthy();
            if !done {
                still.push(id);
                continue;
            }
            let info = ctx.hub.call("getTaskInfo", vec![Value::Int(id)]).await?;
            if matches!(get_i64(&info, "state"), Some(CANCELED | FAILED)) {
                return Err(generic(format!("Dependency {id} failed to complete.")));
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = h.cancel.cancelled() => return Err(TaskError::Canceled),
        }
    }
    let mut children = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let (method, args, kw) = match entry.as_array() {
            Some([Value::String(m), Value::Array(a)]) => (m, a.clone(), Struct::new()),
            Some([Value::String(m), Value::Array(a), Value::Struct(k)]) => {
                (m, a.clone(), k.clone())
            }
            Some([Value::String(m), Value::Array(a), Value::Nil]) => (m, a.clone(), Struct::new()),
            _ => {
                return Err(param_error(format!(
                    "dependantTask: task_list entry {i} is not [method, arglist, opts]"
                )));
            }
        };
        let mut opts = kw;
        // one child per entry, found again if this task is restarted
        opts.entry("label".to_string())
            .or_insert_with(|| Value::from(format!("{i}")));
        let id = ctx
            .hub
            .call_kw(
                "host.subtask",
                vec![
                    Value::from(method.as_str()),
                    Value::Array(args),
                    Value::Int(task.id),
                ],
                opts,
            )
            .await?;
        let id = id
            .as_i64()
            .ok_or_else(|| generic("host.subtask answered no task id"))?;
        children.push(id);
    }
    if !children.is_empty() {
        wait_children(ctx, task.id, h, &children).await?;
    }
    Ok(Value::Nil)
}
