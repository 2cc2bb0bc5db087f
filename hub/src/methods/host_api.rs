//! `host.*`: what builders call. Every method needs the caller to be a host user with an
//! exclusive session (a subsession of one counts), as in Koji.

use crate::ctx::Ctx;
use crate::domain::hosts;
use crate::domain::tasks::{self, Offer, SubtaskOpts, TaskState};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::signature::{Args, checked_id};
use crate::timefmt;
use koji_protocol::{Limits, Struct, Value, decode_response, kstruct};
use std::time::Duration;

/// The calling host's id, after Koji's `Host().verify()` checks. Any call of a host is a
/// sign of life (a builder busy with tasks calls every few seconds but checks in less
/// often), so this also keeps its host timeout from firing, at most once a second.
pub async fn verify(c: &mut Ctx) -> HResult<i32> {
    hosts::verify(c, true).await
}

/// host.getID()
pub async fn get_id(c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Int(i64::from(verify(c).await?)))
}

/// host.getHost()
pub async fn get_host(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let id = verify(c).await?;
    Ok(hosts::get_host(c, &Ident::Id(id), None)
        .await?
        .map_or(Value::Nil, |h| super::hosts::host_value(&h)))
}

/// host.isEnabled()
pub async fn is_enabled(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let id = verify(c).await?;
    let h = hosts::get_host(c, &Ident::Id(id), None).await?;
    Ok(Value::Bool(h.is_some_and(|h| h.enabled)))
}

/// host.updateHost(task_load, ready, data=None): the builder's check-in. `data` may carry
/// `maxjobs`, `methods` and `status` (why it is or is not ready, shown to admins).
pub async fn update_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    // the check-in records the sign of life itself
    let id = hosts::verify(c, false).await?;
    // no negative (or -0.0) loads: the CLI prints them as "-0.0"
    let load = a
        .opt_f64(0)?
        .filter(|l| l.is_finite() && *l > 0.0)
        .unwrap_or(0.0);
    let ready = a.truthy(1);
    let data = a.opt_struct(2)?.cloned();
    let status = data
        .as_ref()
        .and_then(|d| d.get("status"))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(500).collect::<String>());
    let data = data.map(Value::Struct);
    hosts::check_in(c, id, load, ready, data.as_ref(), status).await?;
    Ok(Value::Nil)
}

fn offer_value(t: &Offer) -> Value {
    kstruct! {
        "id" => t.id,
        "state" => t.state.code(),
        "channel_id" => t.channel_id,
        "host_id" => t.host_id,
        "arch" => t.arch.clone(),
        "method" => t.method.clone(),
        "priority" => t.priority,
        "create_ts" => timefmt::ts(&t.create_time),
        "weight" => t.weight,
    }
}

async fn assigned(c: &mut Ctx, host: i32) -> HResult<Vec<Value>> {
    Ok(tasks::assigned_to(c, host)
        .await?
        .iter()
        .map(offer_value)
        .collect())
}

/// host.getTasks(): my ASSIGNED tasks. Nothing is scheduled inline: with none assigned the
/// background scheduler is woken (at most a few times a second for all hosts together), and
/// the stock kojid finds its task at its next poll. 200 polling builders cost 200 indexed
/// reads, not 200 serialised scheduler passes.
pub async fn get_tasks(c: &mut Ctx, _a: Args) -> HResult<Value> {
    // read-only (no transaction): two indexed reads; the stock kojid calls this right after
    // host.updateHost, which recorded the sign of life
    let host = hosts::verify(c, false).await?;
    let t = assigned(c, host).await?;
    if t.is_empty() {
        c.hub().wake_scheduler_for_poll();
    }
    Ok(Value::Array(t))
}

/// host.waitTasks(timeout=30.0): kkoji's long-poll. Answers as soon as a task is assigned to
/// this host, or with [] after `timeout` seconds, so pickup takes milliseconds instead of a
/// polling interval.
pub async fn wait_tasks(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    // do not hold the call's transaction (and its pool connection) while waiting
    c.commit_open().await?;
    let timeout = a.opt_f64(0)?.unwrap_or(30.0).clamp(0.0, 300.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(timeout);
    // woken only when a scheduler pass gives this host work (not by every task event)
    let mut rx = c.hub().host_watch(i64::from(host));
    // a builder that starts waiting may be exactly what a queued task needs
    c.hub().wake_scheduler();
    loop {
        rx.borrow_and_update();
        let t = assigned(c, host).await?;
        // each look is its own short transaction: nothing is held while waiting
        c.commit_open().await?;
        if !t.is_empty() {
            return Ok(Value::Array(t));
        }
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return Ok(Value::Array(vec![]));
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(Value::Array(vec![])),
        }
    }
}

/// host.getHostTasks(): my OPEN tasks. A waiting task with an awaited subtask that has
/// finished carries `alert: True`: the stock kojid wakes the task's process on it (SIGUSR2),
/// without which a parent such as newRepo would sleep forever after its createrepo finished.
pub async fn get_host_tasks(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let rows = tasks::open_on(c, host).await?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|(id, w, wt, alert)| {
                let mut v = kstruct! { "id" => id, "waiting" => w, "weight" => wt };
                if alert && let Value::Struct(m) = &mut v {
                    m.insert("alert".into(), Value::Bool(true));
                }
                v
            })
            .collect(),
    ))
}

/// host.openTask(task_id): FREE or ASSIGNED-to-me → OPEN on me; else None.
pub async fn open_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let Some(t) = tasks::open(c, host, id).await? else {
        return Ok(Value::Nil);
    };
    let mut v = super::tasks::task_value(&t, false);
    if let Value::Struct(m) = &mut v {
        m.insert("request".into(), Value::String(t.request));
    }
    Ok(v)
}

async fn finish(c: &mut Ctx, a: Args, new_state: TaskState) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let result = a.str(1)?.to_string();
    // the stored result must be something getTaskResult can give back
    let fault_text = match decode_response(result.as_bytes(), &Limits::default()) {
        Ok(Err(f)) => Some(f.to_string()),
        Ok(Ok(_)) => None,
        Err(e) => {
            return Err(HubError::parameter(format!(
                "task result is not an XML-RPC response: {e}"
            )));
        }
    };
    tasks::finish(c, host, id, new_state, &result, fault_text).await?;
    Ok(Value::Nil)
}

/// host.closeTask(task_id, response)
pub async fn close_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    finish(c, a, TaskState::Closed).await
}

/// host.failTask(task_id, response)
pub async fn fail_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    finish(c, a, TaskState::Failed).await
}

/// host.freeTasks(tasks): my OPEN tasks among `tasks` go back to FREE.
pub async fn free_tasks(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let ids: Vec<i32> = match a.val(0) {
        Value::Array(v) => v
            .iter()
            .filter_map(Value::as_i64)
            .map(|x| checked_id("task id", x))
            .collect::<HResult<_>>()?,
        Value::Int(i) => vec![checked_id("task id", *i)?],
        _ => return Err(HubError::parameter("tasks must be a list of task ids")),
    };
    tasks::free(c, host, &ids).await?;
    Ok(Value::Nil)
}

/// host.refuseTask(task_id, soft=True, msg='')
pub async fn refuse_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let soft = a.truthy(1);
    let msg = a.opt_str(2)?.unwrap_or("").to_string();
    tasks::refuse(c, host, id, soft, &msg).await?;
    Ok(Value::Nil)
}

/// host.setTaskWeight(task_id, weight)
pub async fn set_task_weight(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let w = a
        .opt_f64(1)?
        .ok_or_else(|| HubError::parameter("weight must be a number"))?;
    tasks::set_weight(c, host, id, w).await?;
    Ok(Value::Nil)
}

/// host.subtask(method, arglist, parent, **opts): a child of an OPEN task of mine.
/// Idempotent per (parent, label), so a retried call returns the same child.
pub async fn subtask(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let method = a.str(0)?.to_string();
    let mut params = match a.val(1) {
        Value::Array(v) => v.clone(),
        _ => return Err(HubError::parameter("arglist must be a list")),
    };
    let parent = a.id(2)?;
    let opts = &a.extra;
    if opts.contains_key("owner") {
        return Err(HubError::not_allowed("subtasks cannot change their owner"));
    }
    if let Some(Value::Struct(kw)) = opts.get("kwargs")
        && !kw.is_empty()
    {
        let mut kw: Struct = kw.clone();
        kw.insert("__starstar".into(), Value::Bool(true));
        params.push(Value::Struct(kw));
    }
    let o = SubtaskOpts {
        label: opts
            .get("label")
            .and_then(Value::as_str)
            .map(str::to_string),
        arch: opts.get("arch").and_then(Value::as_str).map(str::to_string),
        channel: opts
            .get("channel")
            .and_then(Value::as_str)
            .map(str::to_string),
        priority: match opts.get("priority") {
            Some(Value::Int(x)) => Some(*x),
            _ => None,
        },
        assign: match opts.get("assign") {
            None | Some(Value::Nil) => None,
            Some(Value::Int(h)) => Some(checked_id("host id", *h)?),
            Some(_) => return Err(HubError::parameter("assign must be a host id")),
        },
    };
    let id = tasks::subtask(c, host, parent, &method, params, o).await?;
    Ok(Value::Int(i64::from(id)))
}

fn id_list(v: &Value) -> HResult<Option<Vec<i32>>> {
    match v {
        Value::Nil => Ok(None),
        Value::Array(a) => Ok(Some(
            a.iter()
                .filter_map(Value::as_i64)
                .map(|x| checked_id("task id", x))
                .collect::<HResult<_>>()?,
        )),
        _ => Err(HubError::parameter("tasks must be a list of ids or None")),
    }
}

/// host.taskSetWait(parent, tasks): the parent waits (its weight stops counting) on the
/// given children (None = all).
pub async fn task_set_wait(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.id(0)?;
    let ids = id_list(a.val(1))?;
    tasks::set_wait(c, host, parent, ids.as_deref()).await?;
    Ok(Value::Nil)
}

/// host.taskWait(parent) → [[finished], [unfinished]] among the awaited children.
pub async fn task_wait(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.id(0)?;
    let (done, open) = tasks::wait(c, host, parent).await?;
    Ok(Value::Array(vec![
        Value::Array(done.into_iter().map(Value::from).collect()),
        Value::Array(open.into_iter().map(Value::from).collect()),
    ]))
}

/// host.taskWaitResults(parent, tasks, canfail=None) → [[id, result], …]: a failed child's
/// fault is raised, unless the child is in `canfail` (then it is its result).
pub async fn task_wait_results(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.id(0)?;
    let ids = id_list(a.val(1))?;
    let canfail: Vec<i64> = match a.val(2) {
        Value::Array(v) => v.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    };
    let rows = tasks::wait_results(c, host, parent, ids.as_deref()).await?;
    let mut out = Vec::new();
    for (id, st, res) in rows {
        let value = match st {
            TaskState::Canceled => Err(HubError::generic(format!("Task {id} is canceled"))),
            _ => match res
                .as_deref()
                .map(|x| decode_response(x.as_bytes(), &Limits::default()))
            {
                Some(Ok(Ok(v))) => Ok(v),
                Some(Ok(Err(f))) => Err(HubError::Recorded(f)),
                Some(Err(e)) => Err(HubError::generic(format!(
                    "result of task {id} unreadable: {e}"
                ))),
                None => Ok(Value::Nil),
            },
        };
        let v = match value {
            Ok(v) => v,
            Err(e) if canfail.contains(&i64::from(id)) => e.into_fault().to_value(),
            Err(e) => return Err(e),
        };
        out.push(Value::Array(vec![Value::from(id), v]));
    }
    Ok(Value::Array(out))
}

/// host.tagNotification(is_successful, tag_id, from_id, build_id, user_id,
/// ignore_success=False, failure_msg=''): a builder reports how a tag operation it ran
/// ended. Koji turns this into notification mail; kkoji records it (domain/tagging.rs).
pub async fn tag_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let msg: String = a
        .opt_str(6)?
        .unwrap_or_default()
        .chars()
        .take(4000)
        .collect();
    let notice = crate::domain::tagging::Notice {
        ok: a.truthy(0),
        tag: a.opt_id(1)?,
        from: a.opt_id(2)?,
        build: a.id(3)?,
        user: a.id(4)?,
        msg: &msg,
        host: Some(host),
        ignore_success: a.truthy(5),
    };
    crate::domain::tagging::record_notification(c, notice).await?;
    Ok(Value::Nil)
}
