//! `host.*`: what builders call. Every method needs the caller to be a host user with an
//! exclusive session (a subsession of one counts), as in Koji.

use super::hosts::host_row;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::Args;
use crate::tasks::{self, NewTask, state};
use crate::{timefmt, topdir};
use chrono::{DateTime, Utc};
use koji_protocol::{Limits, Struct, Value, decode_response, kstruct};
use sqlx::Row;
use std::time::Duration;

/// The calling host's id, after Koji's `Host().verify()` checks. Any call of a host is a
/// sign of life (a builder busy with tasks calls every few seconds but checks in less
/// often), so this also keeps its host timeout from firing, at most once a second.
pub async fn verify(c: &mut Ctx) -> HResult<i64> {
    verify_with(c, true).await
}

/// `bump`: record the sign of life, in the same statement as the lookup (on the call's own
/// connection: a second one per call would let a crowd of builders starve the pool). Calls
/// that record it themselves (`host.updateHost`) or run without a transaction
/// (`host.getTasks`, which the stock kojid calls right after `host.updateHost`) pass false.
async fn verify_with(c: &mut Ctx, bump: bool) -> HResult<i64> {
    let s = c.assert_login()?.clone();
    let uid = i32::try_from(s.user_id).map_err(|_| HubError::parameter("user id out of range"))?;
    let sql = if bump {
        "WITH h AS (SELECT id FROM host WHERE user_id = $1), \
              alive AS (UPDATE host SET update_time = clock_timestamp() \
                        WHERE id = (SELECT id FROM h) \
                          AND update_time < clock_timestamp() - interval '1 second' RETURNING 1) \
         SELECT id FROM h"
    } else {
        "SELECT id FROM host WHERE user_id = $1"
    };
    let host: Option<i32> = sqlx::query_scalar(sql)
        .bind(uid)
        .fetch_optional(c.db().await?)
        .await?;
    let Some(host) = host else {
        return Err(HubError::auth(format!("User {} is not a host", s.user_id)));
    };
    let exclusive = s.exclusive
        || match s.master {
            Some(m) => sqlx::query_scalar::<_, Option<bool>>(
                "SELECT exclusive FROM sessions WHERE id = $1",
            )
            .bind(m)
            .fetch_optional(c.db().await?)
            .await?
            .flatten()
            .unwrap_or(false),
            None => false,
        };
    if !exclusive {
        return Err(HubError::auth("This method requires an exclusive session"));
    }
    Ok(i64::from(host))
}

/// host.getID()
pub async fn get_id(c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Int(verify(c).await?))
}

/// host.getHost()
pub async fn get_host(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let id = verify(c).await?;
    Ok(host_row(c, &Value::Int(id), None)
        .await?
        .unwrap_or(Value::Nil))
}

/// host.isEnabled()
pub async fn is_enabled(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let id = verify(c).await?;
    let h = host_row(c, &Value::Int(id), None)
        .await?
        .unwrap_or(Value::Nil);
    Ok(Value::Bool(h.get("enabled").is_some_and(Value::is_truthy)))
}

/// host.updateHost(task_load, ready, data=None): the builder's check-in. `data` may carry
/// `maxjobs`, `methods` and `status` (why it is or is not ready, shown to admins).
pub async fn update_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = verify_with(c, false).await?;
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
    let stored = data.map(|d| super::common::store_value(&Value::Struct(d)));
    c.mark_checkin_write();
    c.checkin_only_commit().await?;
    let id = i32::try_from(id).map_err(|_| HubError::parameter("host id out of range"))?;
    // the row as it was, to know whether the host just became ready
    let was_ready: Option<bool> = sqlx::query_scalar(
        "WITH old AS (SELECT ready FROM host WHERE id = $5 FOR UPDATE) \
         UPDATE host SET task_load = $1, ready = $2, update_time = clock_timestamp(), \
                data = COALESCE($3, data), status = $4 FROM old WHERE id = $5 RETURNING old.ready",
    )
    .bind(load)
    .bind(ready)
    .bind(stored)
    .bind(status)
    .bind(id)
    .fetch_optional(c.db().await?)
    .await?;
    // A host that just became ready may be what a queued task waits for. One that stays
    // ready needs no pass per check-in: new tasks and finished ones wake the scheduler, and
    // its periodic pass covers the rest.
    if ready && was_ready == Some(false) {
        tasks::notify_tasks(c).await?;
    }
    Ok(Value::Nil)
}

async fn assigned_tasks(c: &mut Ctx, host: i64) -> HResult<Vec<Value>> {
    let host = i32::try_from(host).map_err(|_| HubError::parameter("host id out of range"))?;
    let rows = sqlx::query(
        "SELECT id, state, channel_id, host_id, arch, method, priority, create_time, weight FROM task \
         WHERE host_id = $1 AND state = $2 ORDER BY priority, create_time, id",
    )
    .bind(host)
    .bind(state::ASSIGNED)
    .fetch_all(c.db().await?)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let ct: DateTime<Utc> = r.try_get("create_time")?;
        out.push(kstruct! {
            "id" => r.try_get::<i32, _>("id")?,
            "state" => r.try_get::<i32, _>("state")?,
            "channel_id" => r.try_get::<i32, _>("channel_id")?,
            "host_id" => r.try_get::<Option<i32>, _>("host_id")?,
            "arch" => r.try_get::<String, _>("arch")?,
            "method" => r.try_get::<String, _>("method")?,
            "priority" => r.try_get::<i32, _>("priority")?,
            "create_ts" => timefmt::ts(&ct),
            "weight" => r.try_get::<f64, _>("weight")?,
        });
    }
    Ok(out)
}

/// host.getTasks(): my ASSIGNED tasks. Nothing is scheduled inline: with none assigned the
/// background scheduler is woken (at most a few times a second for all hosts together), and
/// the stock kojid finds its task at its next poll. 200 polling builders cost 200 indexed
/// reads, not 200 serialised scheduler passes.
pub async fn get_tasks(c: &mut Ctx, _a: Args) -> HResult<Value> {
    // read-only (no transaction): two indexed reads
    let host = verify_with(c, false).await?;
    let t = assigned_tasks(c, host).await?;
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
    let mut rx = c.hub().host_watch(host);
    // a builder that starts waiting may be exactly what a queued task needs
    c.hub().wake_scheduler();
    loop {
        rx.borrow_and_update();
        let t = assigned_tasks(c, host).await?;
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
    let host = i32::try_from(host).map_err(|_| HubError::parameter("host id out of range"))?;
    let rows: Vec<(i32, Option<bool>, f64, bool)> = sqlx::query_as(
        "SELECT t.id, t.waiting, t.weight, \
                (t.waiting IS TRUE AND EXISTS (SELECT 1 FROM task s WHERE s.parent = t.id \
                   AND s.awaited IS TRUE AND s.state IN ($3, $4, $5))) AS alert \
         FROM task t WHERE t.host_id = $1 AND t.state = $2 ORDER BY t.id",
    )
    .bind(host)
    .bind(state::OPEN)
    .bind(state::CLOSED)
    .bind(state::CANCELED)
    .bind(state::FAILED)
    .fetch_all(c.db().await?)
    .await?;
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
    let id = a.i64(0)?;
    c.mark_write();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE task t SET state = 1, host_id = $2, start_time = clock_timestamp() \
         WHERE t.id = $1 AND (t.state = 0 OR (t.state = 4 AND t.host_id = $2)) RETURNING {}",
        tasks::TASK_COLUMNS
    )))
    .bind(id as i32)
    .bind(host as i32)
    .fetch_optional(c.db().await?)
    .await?;
    let Some(r) = row else {
        return Ok(Value::Nil);
    };
    let mut v = tasks::task_value(&r, false)?;
    if let Value::Struct(m) = &mut v {
        m.insert("request".into(), Value::String(r.try_get("request")?));
    }
    tracing::info!(task = id, host, "task opened");
    Ok(v)
}

/// The task must be OPEN on the calling host (Koji's `Task.assertHost`): a host acts only
/// on tasks it holds.
pub async fn assert_holds(c: &mut Ctx, host: i64, id: i64) -> HResult<sqlx::postgres::PgRow> {
    let r = tasks::require(c, id).await?;
    let st: i32 = r.try_get("state")?;
    let h: Option<i32> = r.try_get("host_id")?;
    if st != state::OPEN || h.map(i64::from) != Some(host) {
        return Err(HubError::not_allowed(format!(
            "host {host} does not hold task {id}"
        )));
    }
    Ok(r)
}

async fn finish(c: &mut Ctx, a: Args, new_state: i32) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.i64(0)?;
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
    let row = assert_holds(c, host, id).await?;
    let method: String = row.try_get("method")?;
    c.mark_write();
    sqlx::query(
        "UPDATE task SET state = $2, result = $3, completion_time = clock_timestamp(), waiting = NULL WHERE id = $1",
    )
    .bind(id as i32)
    .bind(new_state)
    .bind(&result)
    .execute(c.db().await?)
    .await?;
    if new_state == state::FAILED && method == "newRepo" {
        let why = fault_text.unwrap_or_else(|| "newRepo task failed".into());
        crate::repos::task_failed(c, id, &format!("task {id} failed: {why}")).await?;
    }
    // the host declares its output complete by closing the task
    let dir = topdir::task_dir(&c.hub().config.topdir, id);
    clear_upload_markers(&dir);
    tasks::notify_tasks(c).await?;
    tracing::info!(task = id, host, state = new_state, "task finished");
    Ok(Value::Nil)
}

fn clear_upload_markers(dir: &std::path::Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else if name.starts_with('.') && name.ends_with(".uploading") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// host.closeTask(task_id, response)
pub async fn close_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    finish(c, a, state::CLOSED).await
}

/// host.failTask(task_id, response)
pub async fn fail_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    finish(c, a, state::FAILED).await
}

/// host.freeTasks(tasks): my OPEN tasks among `tasks` go back to FREE.
pub async fn free_tasks(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let ids: Vec<i32> = match a.val(0) {
        Value::Array(v) => v
            .iter()
            .filter_map(Value::as_i64)
            .map(|x| x as i32)
            .collect(),
        Value::Int(i) => vec![*i as i32],
        _ => return Err(HubError::parameter("tasks must be a list of task ids")),
    };
    c.mark_write();
    sqlx::query(
        "UPDATE task SET state = 0, host_id = NULL, start_time = NULL, assign_time = NULL \
         WHERE id = ANY($1) AND host_id = $2 AND state = 1",
    )
    .bind(&ids)
    .bind(host as i32)
    .execute(c.db().await?)
    .await?;
    tasks::notify_tasks(c).await?;
    Ok(Value::Nil)
}

/// host.refuseTask(task_id, soft=True, msg='')
pub async fn refuse_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.i64(0)?;
    let soft = a.truthy(1);
    let msg = a.opt_str(2)?.unwrap_or("").to_string();
    let r = tasks::require(c, id).await?;
    if r.try_get::<Option<i32>, _>("host_id")?.map(i64::from) != Some(host) {
        return Ok(Value::Nil);
    }
    c.mark_write();
    sqlx::query(
        "INSERT INTO task_refusals (task_id, host_id, soft, msg) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (task_id, host_id) DO UPDATE SET soft = $3, msg = $4, time = clock_timestamp()",
    )
    .bind(id as i32)
    .bind(host as i32)
    .bind(soft)
    .bind(&msg)
    .execute(c.db().await?)
    .await?;
    sqlx::query(
        "UPDATE task SET state = 0, host_id = NULL, start_time = NULL, assign_time = NULL \
         WHERE id = $1 AND host_id = $2 AND state IN (1, 4)",
    )
    .bind(id as i32)
    .bind(host as i32)
    .execute(c.db().await?)
    .await?;
    tasks::notify_tasks(c).await?;
    tracing::info!(task = id, host, soft, %msg, "task refused");
    Ok(Value::Nil)
}

/// host.setTaskWeight(task_id, weight)
pub async fn set_task_weight(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.i64(0)?;
    let w = a
        .opt_f64(1)?
        .ok_or_else(|| HubError::parameter("weight must be a number"))?;
    if !(w.is_finite() && w >= 0.0) {
        return Err(HubError::parameter(format!("invalid weight {w}")));
    }
    assert_holds(c, host, id).await?;
    c.mark_write();
    sqlx::query("UPDATE task SET weight = $2 WHERE id = $1")
        .bind(id as i32)
        .bind(w)
        .execute(c.db().await?)
        .await?;
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
    let parent = a.i64(2)?;
    let opts = a.extra.clone();
    if opts.contains_key("owner") {
        return Err(HubError::not_allowed("subtasks cannot change their owner"));
    }
    let p = assert_holds(c, host, parent).await?;
    let label = opts
        .get("label")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(l) = &label {
        let existing: Option<i32> =
            sqlx::query_scalar("SELECT id FROM task WHERE parent = $1 AND label = $2")
                .bind(parent as i32)
                .bind(l)
                .fetch_optional(c.db().await?)
                .await?;
        if let Some(e) = existing {
            return Ok(Value::Int(i64::from(e)));
        }
    }
    if let Some(Value::Struct(kw)) = opts.get("kwargs")
        && !kw.is_empty()
    {
        let mut kw: Struct = kw.clone();
        kw.insert("__starstar".into(), Value::Bool(true));
        params.push(Value::Struct(kw));
    }
    let arch = match opts.get("arch").and_then(Value::as_str) {
        Some(a) => crate::names::parse_arches(a)?,
        None => p.try_get::<String, _>("arch")?,
    };
    let channel = match opts.get("channel").and_then(Value::as_str) {
        Some(ch) => tasks::channel_id(c, ch).await?,
        None => i64::from(p.try_get::<i32, _>("channel_id")?),
    };
    let priority = match opts.get("priority") {
        Some(Value::Int(x)) => tasks::checked_priority(*x)?,
        _ => i64::from(p.try_get::<i32, _>("priority")?),
    };
    let id = tasks::create(
        c,
        NewTask {
            method: &method,
            params,
            owner: i64::from(p.try_get::<i32, _>("owner")?),
            arch: &arch,
            channel_id: channel,
            priority,
            parent: Some(parent),
            label,
        },
    )
    .await?;
    // A parent that makes subtasks is about to wait for them: from now on it does not
    // count against its host's capacity and maxjobs, or a host full of parents could never
    // take their children (the child may be offered before the parent's taskSetWait).
    sqlx::query("UPDATE task SET waiting = TRUE WHERE id = $1")
        .bind(parent as i32)
        .execute(c.db().await?)
        .await?;
    Ok(Value::Int(id))
}

fn id_list(v: &Value) -> HResult<Option<Vec<i32>>> {
    match v {
        Value::Nil => Ok(None),
        Value::Array(a) => Ok(Some(
            a.iter()
                .filter_map(Value::as_i64)
                .map(|x| x as i32)
                .collect(),
        )),
        _ => Err(HubError::parameter("tasks must be a list of ids or None")),
    }
}

/// host.taskSetWait(parent, tasks): the parent waits (its weight stops counting) on the
/// given children (None = all).
pub async fn task_set_wait(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.i64(0)?;
    assert_holds(c, host, parent).await?;
    let ids = id_list(a.val(1))?;
    c.mark_write();
    sqlx::query("UPDATE task SET waiting = TRUE WHERE id = $1")
        .bind(parent as i32)
        .execute(c.db().await?)
        .await?;
    sqlx::query("UPDATE task SET awaited = ($2::int[] IS NULL OR id = ANY($2)) WHERE parent = $1")
        .bind(parent as i32)
        .bind(ids)
        .execute(c.db().await?)
        .await?;
    Ok(Value::Nil)
}

/// host.taskWait(parent) → [[finished], [unfinished]] among the awaited children.
pub async fn task_wait(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.i64(0)?;
    assert_holds(c, host, parent).await?;
    let rows: Vec<(i32, i32)> =
        sqlx::query_as("SELECT id, state FROM task WHERE parent = $1 AND awaited ORDER BY id")
            .bind(parent as i32)
            .fetch_all(c.db().await?)
            .await?;
    let (done, open): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, s)| state::is_final(*s));
    let done_ids: Vec<i32> = done.iter().map(|x| x.0).collect();
    if !done_ids.is_empty() {
        c.mark_write();
        sqlx::query("UPDATE task SET awaited = FALSE WHERE id = ANY($1)")
            .bind(&done_ids)
            .execute(c.db().await?)
            .await?;
    }
    Ok(Value::Array(vec![
        Value::Array(done_ids.into_iter().map(Value::from).collect()),
        Value::Array(open.into_iter().map(|x| Value::from(x.0)).collect()),
    ]))
}

/// host.taskWaitResults(parent, tasks, canfail=None) → [[id, result], …]
pub async fn task_wait_results(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let parent = a.i64(0)?;
    assert_holds(c, host, parent).await?;
    let ids = id_list(a.val(1))?;
    let canfail: Vec<i64> = match a.val(2) {
        Value::Array(v) => v.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    };
    c.mark_write();
    sqlx::query("UPDATE task SET waiting = FALSE WHERE id = $1")
        .bind(parent as i32)
        .execute(c.db().await?)
        .await?;
    let rows: Vec<(i32, i32, Option<String>)> = sqlx::query_as(
        "SELECT id, state, result FROM task WHERE parent = $1 AND state IN (2, 3, 5) \
         AND ($2::int[] IS NULL OR id = ANY($2)) ORDER BY id",
    )
    .bind(parent as i32)
    .bind(ids)
    .fetch_all(c.db().await?)
    .await?;
    sqlx::query("UPDATE task SET awaited = FALSE WHERE parent = $1")
        .bind(parent as i32)
        .execute(c.db().await?)
        .await?;
    let mut out = Vec::new();
    for (id, st, res) in rows {
        let value = match st {
            state::CANCELED => Err(HubError::generic(format!("Task {id} is canceled"))),
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
/// ended. Koji turns this into notification mail; kkoji records it (no mail is sent).
pub async fn tag_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let ok = a.truthy(0);
    if ok && a.truthy(5) {
        return Ok(Value::Nil);
    }
    let msg: String = a
        .opt_str(6)?
        .unwrap_or_default()
        .chars()
        .take(4000)
        .collect();
    c.mark_write();
    sqlx::query(
        "INSERT INTO tag_notification (is_successful, tag_id, from_id, build_id, user_id, failure_msg, host_id) \
         VALUES ($1, (SELECT id FROM tag WHERE id = $2), (SELECT id FROM tag WHERE id = $3), $4, $5, $6, $7)",
    )
    .bind(ok)
    .bind(a.opt_id(1)?)
    .bind(a.opt_id(2)?)
    .bind(a.id(3)?)
    .bind(a.id(4)?)
    .bind(&msg)
    .bind(i32::try_from(host).map_err(|_| HubError::parameter("host id out of range"))?)
    .execute(c.db().await?)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            HubError::generic("tagNotification names an unknown build or user")
        }
        _ => crate::error::HubError::Db(e),
    })?;
    tracing::info!(host, ok, "tag notification recorded");
    Ok(Value::Nil)
}

/// host.distRepoMove(repo_id, uploadpath, arch): moves one arch of a dist repo into place.
/// kkoji makes no dist repos yet (`koji dist-repo` is not served), so every repo it knows is
/// refused as Koji refuses a repo that is not a dist repo.
pub async fn dist_repo_move(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let id = a.id(0)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT id FROM repo WHERE id = $1")
        .bind(id)
        .fetch_optional(c.db().await?)
        .await?;
    match exists {
        None => Err(HubError::generic(format!("No such repo: {id}"))),
        Some(_) => Err(HubError::generic(format!("Repo {id} is not a dist repo"))),
    }
}
