//! `tagBuild`: tags a finished build into the destination tag. The hub does the work
//! (`host.tagBuild`, acting as the task's owner); the task exists so that the tagging is
//! a step of the build that can fail on its own, as in Koji.

use koji_protocol::{Struct, Value};

use crate::hub::OpenedTask;
use crate::tasks::context::{TaskCtx, TaskError, opt_param, param_i64};

pub(crate) async fn run(ctx: &TaskCtx, task: &OpenedTask) -> Result<Value, TaskError> {
    let tag_id = param_i64(task, 0, "tag_id")?;
    let build_id = param_i64(task, 1, "build_id")?;
    let force = opt_param(task, 2, "force").is_truthy();
    let fromtag = opt_param(task, 3, "fromtag");
    let mut kw = Struct::new();
    kw.insert("force".into(), Value::Bool(force));
    kw.insert("fromtag".into(), fromtag);
    ctx.hub
        .call_kw(
            "host.tagBuild",
            vec![
                Value::Int(task.id),
                Value::Int(tag_id),
                Value::Int(build_id),
            ],
            kw,
        )
        .await?;
    tracing::info!(task = task.id, tag_id, build_id, "build tagged");
    Ok(Value::Nil)
}
