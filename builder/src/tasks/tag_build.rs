//! `tagBuild`: tags a finished build into the destination tag (with `fromtag`, moves it).
//! The hub does the work (`host.tagBuild`, acting as the task's owner); the task exists so
//! that the tagging is a step that can fail on its own, as in Koji. Its outcome is then
//! reported with `host.tagNotification`, as kojid does (the hub records it; a build's own
//! tagBuild subtask asks that a success be ignored).

use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_i64};
use crate::tasks::context::{TaskCtx, TaskError, opt_param, param_i64};

pub(crate) async fn run(ctx: &TaskCtx, task: &OpenedTask) -> Result<Value, TaskError> {
    let tag_id = param_i64(task, 0, "tag_id")?;
    let build_id = param_i64(task, 1, "build_id")?;
    let force = opt_param(task, 2, "force").is_truthy();
    let fromtag = opt_param(task, 3, "fromtag");
    let ignore_success = opt_param(task, 4, "ignore_success").is_truthy();
    let mut kw = Struct::new();
    kw.insert("force".into(), Value::Bool(force));
    kw.insert("fromtag".into(), fromtag.clone());
    let outcome = ctx
        .hub
        .call_kw(
            "host.tagBuild",
            vec![
                Value::Int(task.id),
                Value::Int(tag_id),
                Value::Int(build_id),
            ],
            kw,
        )
        .await;
    let failure = match &outcome {
        Ok(_) => String::new(),
        Err(e) => match e.fault() {
            Some(f) => f.to_string(),
            None => e.to_string(),
        },
    };
    notify(
        ctx,
        task,
        (tag_id, fromtag, build_id),
        outcome.is_ok(),
        ignore_success,
        &failure,
    )
    .await;
    outcome?;
    tracing::info!(task = task.id, tag_id, build_id, "build tagged");
    Ok(Value::Nil)
}

/// `host.tagNotification(ok, tag, fromtag, build, owner, ignore_success, msg)`. A report
/// that cannot be made is logged, never fails the task (the tagging itself is done or
/// failed already).
async fn notify(
    ctx: &TaskCtx,
    task: &OpenedTask,
    (tag_id, fromtag, build_id): (i64, Value, i64),
    ok: bool,
    ignore_success: bool,
    failure: &str,
) {
    let owner = match ctx.hub.call("getTaskInfo", vec![Value::Int(task.id)]).await {
        Ok(info) => get_i64(&info, "owner"),
        Err(e) => {
            tracing::warn!(task = task.id, "getTaskInfo: {e}");
            None
        }
    };
    let Some(owner) = owner else {
        return;
    };
    let r = ctx
        .hub
        .call(
            "host.tagNotification",
            vec![
                Value::Bool(ok),
                Value::Int(tag_id),
                fromtag,
                Value::Int(build_id),
                Value::Int(owner),
                Value::Bool(ignore_success),
                Value::from(failure),
            ],
        )
        .await;
    if let Err(e) = r {
        tracing::warn!(task = task.id, "host.tagNotification: {e}");
    }
}
