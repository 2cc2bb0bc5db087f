//! Task methods for users: submitting builds, watching, cancelling, resubmitting, output.

use super::common::QueryOpts;
use crate::ctx::Ctx;
use crate::domain::Paged;
use crate::domain::tasks::{
    self, NewTask, PRIO_DEFAULT, TASK_ORDER, Task, TaskCond, TaskState, TimeBound,
};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id, value_ident};
use crate::{timefmt, topdir};
use base64::Engine;
use koji_protocol::{Limits, Struct, Value, decode_response, kstruct};

/// The task record as `getTaskInfo` returns it (plus `request` when asked).
pub fn task_value(t: &Task, with_request: bool) -> Value {
    let mut v = kstruct! {
        "id" => t.id,
        "state" => t.state.code(),
        "create_time" => timefmt::iso(&t.create_time),
        "create_ts" => timefmt::ts(&t.create_time),
        "start_time" => timefmt::iso_value(t.start_time.as_ref()),
        "start_ts" => timefmt::ts_value(t.start_time.as_ref()),
        "completion_time" => timefmt::iso_value(t.completion_time.as_ref()),
        "completion_ts" => timefmt::ts_value(t.completion_time.as_ref()),
        "channel_id" => t.channel_id,
        "host_id" => t.host_id,
        "parent" => t.parent,
        "label" => t.label.clone(),
        "waiting" => t.waiting,
        "awaited" => t.awaited,
        "owner" => t.owner,
        "method" => t.method.clone(),
        "arch" => t.arch.clone(),
        "priority" => t.priority,
        "weight" => t.weight,
    };
    if with_request && let Value::Struct(m) = &mut v {
        m.insert(
            "request".into(),
            Value::Array(tasks::decode_params(&t.request)),
        );
    }
    v
}

/// build(src, target, opts=None, priority=None, channel=None)
pub async fn build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let me = c.assert_login()?.clone();
    let src = a.str(0)?.to_string();
    let target = a.val(1).clone();
    let mut opts = a.opt_struct(2)?.cloned().unwrap_or_default();
    let scratch = opts.get("scratch").is_some_and(Value::is_truthy);
    let priority = match a.opt_i64(3)? {
        Some(p) if p < 0 && !c.is_admin().await? => {
            return Err(HubError::not_allowed(
                "only admins may create high-priority tasks",
            ));
        }
        Some(p) => i64::from(tasks::checked_priority(PRIO_DEFAULT.saturating_add(p))?),
        None => PRIO_DEFAULT,
    };
    if src.contains("://") {
        return Err(HubError::not_allowed(
            "policy violation (build_from_scm): building from SCM is not enabled on this hub",
        ));
    }
    // the target must exist (unless a repo id is given, which needs admin as in Koji)
    if target.is_nil() {
        return Err(HubError::generic("No build target given"));
    }
    let tident = value_ident(&target, "build target")?;
    if crate::domain::targets::find_target(c, &tident)
        .await?
        .is_none()
    {
        return Err(HubError::generic(format!("No such build target: {tident}")));
    }
    // the source must be a completely uploaded source RPM
    let tree = crate::safefs::Tree::open(&c.hub().config.topdir)?;
    let input = tree.upload_input(&src)?;
    let shown = src.clone();
    let info = tokio::task::spawn_blocking(move || crate::rpmhdr::read_file(&input.file, &shown))
        .await
        .map_err(|e| HubError::generic(format!("header reader failed: {e}")))?
        .map_err(|e| HubError::generic(format!("{src}: {}", e.msg)))?;
    if !info.is_source {
        return Err(HubError::generic(format!("{src} is not a source rpm")));
    }
    // policy build_from_srpm: non-scratch builds from an SRPM need admin or `build`
    if !scratch && !c.is_admin().await? && !c.has_perm("build").await? {
        return Err(HubError::not_allowed(format!(
            "policy violation (build_from_srpm): non-scratch builds from an SRPM require the build permission (logged in as {})",
            me.user_name
        )));
    }
    opts.shift_remove("__starstar");
    let channel = match a.opt_str(4)? {
        Some(ch) => tasks::channel_id(c, ch).await?,
        None => tasks::channel_id(c, "default").await?,
    };
    let id = tasks::create(
        c,
        NewTask {
            method: "build",
            params: vec![Value::String(src), target, Value::Struct(opts)],
            owner: me.user_id,
            arch: "noarch",
            channel_id: channel,
            priority,
            parent: None,
            label: None,
        },
    )
    .await?;
    Ok(Value::Int(i64::from(id)))
}

/// An int or a list of ints (the second part: whether it was a list).
fn ids_arg(v: &Value) -> HResult<Option<(Vec<i32>, bool)>> {
    match v {
        Value::Int(i) => Ok(Some((vec![checked_id("task_id", *i)?], false))),
        Value::Array(a) => {
            let Some(ids) = a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>() else {
                return Ok(None);
            };
            let ids = ids
                .into_iter()
                .map(|i| checked_id("task_id", i))
                .collect::<HResult<_>>()?;
            Ok(Some((ids, true)))
        }
        _ => Ok(None),
    }
}

/// getTaskInfo(task_id, request=False, strict=False)
pub async fn get_task_info(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (ids, many) = ids_arg(a.val(0))?
        .ok_or_else(|| HubError::parameter("task_id must be an int or a list of ints"))?;
    let with_req = a.truthy(1);
    let mut out = Vec::new();
    for id in ids {
        match tasks::get(c, id).await? {
            Some(t) => out.push(task_value(&t, with_req)),
            None if a.truthy(2) => {
                return Err(HubError::generic(format!("No such task: {id}")));
            }
            None => out.push(Value::Nil),
        }
    }
    Ok(if many {
        Value::Array(out)
    } else {
        out.pop().unwrap_or(Value::Nil)
    })
}

/// getTaskChildren(task_id, request=False, strict=False)
pub async fn get_task_children(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    if a.truthy(2) {
        tasks::require(c, id).await?;
    }
    let with_req = a.truthy(1);
    Ok(Value::Array(
        tasks::children(c, id)
            .await?
            .iter()
            .map(|t| task_value(t, with_req))
            .collect(),
    ))
}

/// getTaskRequest(taskId)
pub async fn get_task_request(c: &mut Ctx, a: Args) -> HResult<Value> {
    let t = tasks::require(c, a.id(0)?).await?;
    Ok(Value::Array(tasks::decode_params(&t.request)))
}

/// getTaskResult(taskId, raise_fault=True): a FAILED task's stored fault is raised again.
pub async fn get_task_result(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    let t = tasks::require(c, id).await?;
    match t.state {
        TaskState::Closed | TaskState::Failed => {
            let Some(xml) = t.result else {
                return Ok(Value::Nil);
            };
            match decode_response(xml.as_bytes(), &Limits::default()) {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(f)) if a.truthy(1) => Err(HubError::Recorded(f)),
                Ok(Err(f)) => Ok(f.to_value()),
                Err(e) => Err(HubError::generic(format!(
                    "stored result of task {id} is unreadable: {e}"
                ))),
            }
        }
        TaskState::Canceled => Err(HubError::generic(format!("Task {id} is canceled"))),
        _ => Err(HubError::generic(format!("Task {id} is not finished"))),
    }
}

/// A time bound of `listTasks`: a Unix time, or timestamp text (digits and " -:.+T" only).
fn time_bound(v: &Value) -> Option<TimeBound> {
    match v {
        // NaN and infinities are no time
        Value::Double(f) if f.is_finite() => Some(TimeBound::Unix(*f)),
        Value::Int(i) => Some(TimeBound::Unix(*i as f64)),
        Value::String(s)
            if s.chars()
                .all(|c| c.is_ascii_digit() || " -:.+T".contains(c)) =>
        {
            Some(TimeBound::Text(s.clone()))
        }
        _ => None,
    }
}

/// listTasks(opts=None, queryOpts=None)
pub async fn list_tasks(c: &mut Ctx, a: Args) -> HResult<Value> {
    let opts = a.opt_struct(0)?.cloned().unwrap_or_default();
    let qo = QueryOpts::parse(a.val(1), TASK_ORDER)?;
    let mut conds: Vec<TaskCond> = Vec::new();
    for (key, col) in [
        ("state", "state"),
        ("owner", "owner"),
        ("host_id", "host_id"),
        ("channel_id", "channel_id"),
        ("id", "id"),
    ] {
        if let Some(v) = opts.get(key).filter(|v| !v.is_nil()) {
            let list: Option<Vec<i64>> = match v {
                Value::Int(i) => Some(vec![*i]),
                Value::Array(a) => a.iter().map(Value::as_i64).collect(),
                _ => None,
            };
            let list = list.ok_or_else(|| {
                HubError::parameter(format!("listTasks: {key} must be int or list of ints"))
            })?;
            let list = list
                .into_iter()
                .map(|n| checked_id(key, n))
                .collect::<HResult<_>>()?;
            conds.push(TaskCond::IntIn(col, list));
        }
    }
    if let Some(v) = opts.get("parent") {
        match v {
            Value::Nil => conds.push(TaskCond::Parent(None)),
            Value::Int(p) => conds.push(TaskCond::Parent(Some(checked_id("parent", *p)?))),
            _ => {
                return Err(HubError::parameter(
                    "listTasks: parent must be an int or None",
                ));
            }
        }
    }
    for (key, col) in [("method", "method"), ("arch", "arch")] {
        if let Some(v) = opts.get(key).filter(|v| !v.is_nil()) {
            let list: Vec<String> = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => {
                    return Err(HubError::parameter(format!(
                        "listTasks: {key} must be str or list"
                    )));
                }
            };
            conds.push(TaskCond::TextIn(col, list));
        }
    }
    for (key, col, op) in [
        ("createdBefore", "create_time", "<"),
        ("createdAfter", "create_time", ">"),
        ("startedBefore", "start_time", "<"),
        ("startedAfter", "start_time", ">"),
        ("completeBefore", "completion_time", "<"),
        ("completeAfter", "completion_time", ">"),
    ] {
        if let Some(v) = opts.get(key).filter(|v| !v.is_nil()) {
            let ts = time_bound(v)
                .ok_or_else(|| HubError::parameter(format!("listTasks: bad {key}")))?;
            conds.push(TaskCond::Time(col, op, ts));
        }
    }
    // limit and offset in SQL, capped: the answer is never built from the whole table
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = match tasks::list(c, &conds, &page).await? {
        Paged::Count(n) => return Ok(Value::Int(n)),
        Paged::Rows(r) => r,
    };
    let decode = opts.get("decode").is_some_and(Value::is_truthy);
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut v = task_value(&r.task, false);
        if let Value::Struct(m) = &mut v {
            if decode {
                m.insert(
                    "request".into(),
                    Value::Array(tasks::decode_params(&r.task.request)),
                );
                m.insert(
                    "result".into(),
                    match &r.task.result {
                        Some(x) => match decode_response(x.as_bytes(), &Limits::default()) {
                            Ok(Ok(v)) => v,
                            Ok(Err(f)) => f.to_value(),
                            Err(_) => Value::Nil,
                        },
                        None => Value::Nil,
                    },
                );
            } else {
                m.insert("request".into(), Value::String(r.task.request.clone()));
                m.insert("result".into(), r.task.result.clone().into());
            }
            m.insert("owner_name".into(), Value::String(r.owner_name));
            m.insert("owner_type".into(), Value::Int(i64::from(r.owner_type)));
        }
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// cancelTask(task_id, recurse=True)
pub async fn cancel_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    tasks::assert_can_cancel(c, id).await?;
    tasks::cancel(c, id, a.truthy(1)).await?;
    Ok(Value::Nil)
}

/// cancelTaskFull(task_id, strict=True): cancel the whole tree from the top. [admin]
pub async fn cancel_task_full(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let mut id = a.id(0)?;
    loop {
        match tasks::require(c, id).await?.parent {
            Some(p) if a.truthy(1) => {
                return Err(HubError::generic(format!(
                    "Task {id} is not top-level (parent={p})"
                )));
            }
            Some(p) => id = p,
            None => break,
        }
    }
    tasks::cancel(c, id, true).await?;
    Ok(Value::Nil)
}

/// cancelTaskChildren(task_id)
pub async fn cancel_task_children(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    tasks::assert_can_cancel(c, id).await?;
    for k in tasks::child_ids(c, id).await? {
        tasks::cancel(c, k, true).await?;
    }
    Ok(Value::Nil)
}

/// resubmitTask(taskID): a failed or canceled top-level task runs again, as a new task.
pub async fn resubmit_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    let t = tasks::require(c, id).await?;
    if t.parent.is_some() {
        return Err(HubError::generic("Only top-level tasks can be resubmitted"));
    }
    if t.state != TaskState::Failed && t.state != TaskState::Canceled {
        return Err(HubError::generic(
            "Only canceled or failed tasks can be resubmitted",
        ));
    }
    let me = c.assert_login()?.clone();
    if t.owner != me.user_id && !c.is_admin().await? {
        return Err(HubError::not_allowed("Unable to resubmit task: not owner"));
    }
    let id = tasks::create(
        c,
        NewTask {
            method: &t.method,
            params: tasks::decode_params(&t.request),
            owner: t.owner,
            arch: &t.arch,
            channel_id: t.channel_id,
            priority: i64::from(t.priority),
            parent: None,
            label: None,
        },
    )
    .await?;
    Ok(Value::Int(i64::from(id)))
}

/// listTaskOutput(taskID, stat=False, all_volumes=False, strict=False)
pub async fn list_task_output(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    if a.truthy(3) {
        tasks::require(c, id).await?;
    }
    let dir = topdir::task_dir(&c.hub().config.topdir, i64::from(id));
    let files = topdir::list_files(&dir);
    let (stat, all) = (a.truthy(1), a.truthy(2));
    if !stat && !all {
        return Ok(Value::Array(files.into_iter().map(Value::from).collect()));
    }
    let mut out = Struct::new();
    for f in files {
        let v = if stat {
            let md = std::fs::metadata(dir.join(&f)).ok();
            let t = |x: Option<std::time::SystemTime>| {
                x.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok())
                    .unwrap_or(0)
            };
            let s = kstruct! {
                "st_size" => md.as_ref().map(|m| m.len()).unwrap_or(0).to_string(),
                "st_atime" => t(md.as_ref().and_then(|m| m.accessed().ok())),
                "st_mtime" => t(md.as_ref().and_then(|m| m.modified().ok())),
                "st_ctime" => t(md.as_ref().and_then(|m| m.modified().ok())),
            };
            if all {
                kstruct! { "DEFAULT" => s }
            } else {
                s
            }
        } else {
            Value::Array(vec![Value::from("DEFAULT")])
        };
        out.insert(f, v);
    }
    Ok(Value::Struct(out))
}

/// downloadTaskOutput(taskID, fileName, offset=0, size=-1, volume=None)
pub async fn download_task_output(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    let name = a.str(1)?;
    let rel = topdir::clean_relative(name)?;
    if rel
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    {
        return Err(HubError::generic(format!("No such file: {name}")));
    }
    if let Some(v) = a.opt_str(4)?
        && v != "DEFAULT"
    {
        return Err(HubError::generic(format!("No such volume: {v}")));
    }
    let offset = u64::try_from(a.opt_i64(2)?.unwrap_or(0).max(0)).unwrap_or(0);
    let size = a.opt_i64(3)?.unwrap_or(-1);
    const MAX: usize = 16 << 20;
    let size = usize::try_from(size).map_or(MAX, |s| s.min(MAX));
    let path = topdir::task_dir(&c.hub().config.topdir, i64::from(id)).join(rel);
    let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(size.min(1 << 20));
        f.take(size as u64).read_to_end(&mut buf)?;
        Ok(buf)
    })
    .await
    .map_err(|e| HubError::generic(format!("reader failed: {e}")))?
    .map_err(|_| HubError::generic(format!("No such file: {name} in task {id}")))?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(data),
    ))
}

/// makeTask(method, arglist, channel=None, priority=None, arch=None): [admin] create any task
/// (`koji make-task`). The owner is always the caller, as in Koji.
pub async fn make_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let me = c.assert_login()?.user_id;
    let mut opts = a.extra.clone();
    opts.shift_remove("__starstar");
    let mut rest = a.rest.iter();
    let method = match rest.next().or_else(|| opts.get("method")) {
        Some(Value::String(m)) => m.clone(),
        _ => return Err(HubError::parameter("makeTask needs a method name (a str)")),
    };
    if method.is_empty()
        || method.len() > 64
        || !method
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        return Err(HubError::parameter(format!(
            "Invalid task method: {method}"
        )));
    }
    let arglist = match rest.next().or_else(|| opts.get("arglist")) {
        Some(Value::Array(l)) => l.clone(),
        None | Some(Value::Nil) => Vec::new(),
        Some(_) => return Err(HubError::parameter("makeTask arglist must be a list")),
    };
    if rest.next().is_some() {
        return Err(HubError::parameter(
            "makeTask takes (method, arglist) and options",
        ));
    }
    for k in opts.keys() {
        match k.as_str() {
            "method" | "arglist" | "channel" | "priority" | "arch" => {}
            "owner" => {
                return Err(HubError::not_allowed(
                    "The owner option is not allowed here",
                ));
            }
            other => {
                return Err(HubError::parameter(format!(
                    "makeTask option {other} is not supported"
                )));
            }
        }
    }
    // the CLI sends --priority as text
    let priority = match opts.get("priority") {
        None | Some(Value::Nil) => PRIO_DEFAULT,
        Some(Value::Int(p)) => i64::from(tasks::checked_priority(*p)?),
        Some(Value::String(s)) => {
            i64::from(tasks::checked_priority(s.trim().parse::<i64>().map_err(
                |_| HubError::parameter(format!("Invalid priority: {s}")),
            )?)?)
        }
        Some(_) => return Err(HubError::parameter("priority must be an int")),
    };
    let arch = match opts.get("arch") {
        None | Some(Value::Nil) => "noarch".to_string(),
        Some(Value::String(s)) => {
            let parsed = crate::names::parse_arches(s)?;
            if parsed.is_empty() {
                "noarch".to_string()
            } else {
                parsed
            }
        }
        Some(_) => return Err(HubError::parameter("arch must be a str")),
    };
    let channel_id = match opts.get("channel") {
        None | Some(Value::Nil) => tasks::channel_id(c, "default").await?,
        Some(Value::String(name)) => tasks::channel_id(c, name).await?,
        Some(Value::Int(id)) => {
            let id =
                i32::try_from(*id).map_err(|_| HubError::parameter("channel id out of range"))?;
            tasks::require_channel(c, id).await?
        }
        Some(_) => {
            return Err(HubError::parameter("channel must be a name or an id"));
        }
    };
    if crate::domain::hosts::channel_enabled(c, channel_id).await? == Some(false) {
        return Err(HubError::generic(format!(
            "Channel {channel_id} is disabled."
        )));
    }
    let id = tasks::create(
        c,
        NewTask {
            method: &method,
            params: arglist,
            owner: me,
            arch: &arch,
            channel_id,
            priority,
            parent: None,
            label: None,
        },
    )
    .await?;
    Ok(Value::Int(i64::from(id)))
}

/// restartHosts(priority=5, options=None): a restartHosts task; the builder that takes it
/// gives every matching enabled host a `restart` and a `restartVerify` subtask
/// (options: channel, arches, timeout).
pub async fn restart_hosts(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let me = c.assert_login()?.user_id;
    let priority = match a.val(0) {
        Value::Nil => 5,
        Value::Int(p) => i64::from(tasks::checked_priority(*p)?),
        _ => return Err(HubError::parameter("priority must be an int")),
    };
    let params = match a.val(1) {
        Value::Nil => Vec::new(),
        Value::Struct(o) => {
            for k in o.keys() {
                if !matches!(k.as_str(), "channel" | "arches" | "timeout") {
                    return Err(HubError::parameter(format!(
                        "restartHosts option {k} is not supported"
                    )));
                }
            }
            vec![Value::Struct(o.clone())]
        }
        _ => return Err(HubError::parameter("Invalid type of options: not a dict")),
    };
    let channel_id = tasks::channel_id(c, "default").await?;
    let id = tasks::create(
        c,
        NewTask {
            method: "restartHosts",
            params,
            owner: me,
            arch: "noarch",
            channel_id,
            priority,
            parent: None,
            label: None,
        },
    )
    .await?;
    Ok(Value::Int(i64::from(id)))
}

/// taskFinished(taskId) -> True when the task is CLOSED, CANCELED or FAILED.
pub async fn task_finished(c: &mut Ctx, a: Args) -> HResult<Value> {
    let t = tasks::require(c, a.id(0)?).await?;
    Ok(Value::Bool(t.state.is_final()))
}
