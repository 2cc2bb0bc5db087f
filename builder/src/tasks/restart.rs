//! `koji restart-hosts`: `restartHosts` gives every matching enabled host a `restart` and
//! a `restartVerify` subtask assigned to that host; `restart` marks this daemon for a
//! graceful restart (the daemon re-executes itself once no task runs, see `daemon.rs`);
//! `restartVerify` then runs in the new process and proves it is one: the daemon started
//! after the `restart` task closed.
//!
//! A `restartHosts` that runs on one of the hosts it restarts would keep that restart
//! from ever happening (the daemon waits for its tasks). So once its own host's `restart`
//! closed it gives itself back to the hub ([`TaskError::Free`], kojid's `ServerRestart`)
//! and runs again after the restart; the hub's `host.subtask` is idempotent per label, so
//! the second run finds the same children and waits for them.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_f64, get_i64, get_str};
use crate::tasks::context::{
    TaskCtx, TaskError, TaskHandles, generic, opt_param, param, param_error, param_i64,
};
use crate::tasks::subtasks::wait_children;

/// Koji's default: a day for every host to restart and verify.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const TASK_CLOSED: i64 = 2;

/// The options of a `restartHosts` task (`koji restart-hosts --channel/--arch/--timeout`).
#[derive(Debug, Clone, PartialEq)]
pub struct RestartOptions {
    pub channel: Option<String>,
    /// Passed to `listHosts` as given (a list of arch names).
    pub arches: Option<Value>,
    pub timeout: Duration,
}

pub fn parse_options(v: &Value) -> Result<RestartOptions, TaskError> {
    let empty = Struct::new();
    let o = match v {
        Value::Nil => &empty,
        Value::Struct(s) => s,
        other => {
            return Err(param_error(format!(
                "restartHosts: options must be a dict, not {}",
                other.type_name()
            )));
        }
    };
    let channel = match o.get("channel") {
        None | Some(Value::Nil) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Int(i)) => Some(i.to_string()),
        Some(other) => {
            return Err(param_error(format!(
                "restartHosts: channel must be a name, not {}",
                other.type_name()
            )));
        }
    };
    let arches = match o.get("arches") {
        None | Some(Value::Nil) => None,
        Some(a @ Value::Array(_)) => Some(a.clone()),
        Some(Value::String(s)) => Some(Value::Array(
            s.split([',', ' '])
                .filter(|a| !a.is_empty())
                .map(Value::from)
                .collect(),
        )),
        Some(other) => {
            return Err(param_error(format!(
                "restartHosts: arches must be a list, not {}",
                other.type_name()
            )));
        }
    };
    let timeout = match o.get("timeout") {
        None | Some(Value::Nil) => DEFAULT_TIMEOUT,
        Some(t) => {
            let secs = t.as_f64().filter(|s| s.is_finite() && *s > 0.0);
            match secs {
                Some(s) => Duration::from_secs_f64(s.min(1e9)),
                None => {
                    return Err(param_error(
                        "restartHosts: timeout must be a positive number of seconds",
                    ));
                }
            }
        }
    };
    Ok(RestartOptions {
        channel,
        arches,
        timeout,
    })
}

/// `listHosts(arches, channelID, ready, enabled)`: the enabled hosts of the channel (any
/// channel when none is named) with one of the arches (any when none).
pub fn list_hosts_params(arches: Option<&Value>, channel_id: Option<i64>) -> Vec<Value> {
    vec![
        arches.cloned().unwrap_or(Value::Nil),
        channel_id.map_or(Value::Nil, Value::Int),
        Value::Nil,
        Value::Bool(true),
    ]
}

/// Should a `restartHosts` running on a host it restarts give itself back now? Only when
/// this very process is the one due to restart and the verification has not run yet: a
/// `restartHosts` picked up again by the re-executed daemon just waits.
pub fn must_free(restart_pending: bool, verify_finished: bool) -> bool {
    restart_pending && !verify_finished
}

/// The host id a `restart`/`restartVerify` task names (the host record `listHosts` gave).
fn host_id(task: &OpenedTask, i: usize) -> Result<i64, TaskError> {
    let v = param(task, i, "host")?;
    v.as_i64()
        .or_else(|| get_i64(v, "id"))
        .ok_or_else(|| param_error(format!("{}: host must be a host record", task.method)))
}

pub async fn run_restart_hosts(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let opts = parse_options(&opt_param(task, 0, "options"))?;
    let channel_id = match &opts.channel {
        Some(name) => {
            let ch = ctx
                .hub
                .call(
                    "getChannel",
                    vec![Value::from(name.as_str()), Value::Bool(true)],
                )
                .await?;
            Some(get_i64(&ch, "id").ok_or_else(|| generic(format!("No such channel: {name}")))?)
        }
        None => None,
    };
    let hosts = ctx
        .hub
        .call(
            "listHosts",
            list_hosts_params(opts.arches.as_ref(), channel_id),
        )
        .await?;
    let hosts = hosts.as_array().map(<[Value]>::to_vec).unwrap_or_default();
    if hosts.is_empty() {
        return Err(generic("No matching hosts"));
    }
    let mut children = Vec::new();
    let mut mine = None;
    for host in &hosts {
        let hid = get_i64(host, "id")
            .ok_or_else(|| generic("listHosts returned a host without an id"))?;
        let restart = subtask(ctx, id, "restart", vec![host.clone()], hid, "restart").await?;
        let verify = subtask(
            ctx,
            id,
            "restartVerify",
            vec![Value::Int(restart), host.clone()],
            hid,
            "sleep",
        )
        .await?;
        tracing::info!(
            task = id,
            host = get_str(host, "name").unwrap_or("?"),
            restart,
            verify,
            "restart subtasks"
        );
        children.push(restart);
        children.push(verify);
        if hid == ctx.host.id {
            mine = Some((restart, verify));
        }
    }
    let wait = async {
        if let Some((restart, verify)) = mine {
            wait_children(ctx, id, h, &[restart]).await?;
            let finished = ctx
                .hub
                .call("taskFinished", vec![Value::Int(verify)])
                .await?
                .is_truthy();
            if must_free(ctx.restart.is_pending(), finished) {
                return Err(TaskError::Free);
            }
        }
        wait_children(ctx, id, h, &children).await
    };
    match tokio::time::timeout(opts.timeout, wait).await {
        Ok(r) => {
            r?;
            Ok(Value::Nil)
        }
        Err(_) => {
            if let Err(e) = ctx.hub.cancel_task_children(id).await {
                tracing::warn!(task = id, "cancelTaskChildren: {e}");
            }
            Err(generic(format!(
                "Subtasks timed out after {} seconds",
                opts.timeout.as_secs()
            )))
        }
    }
}

/// `host.subtask` assigned to one host; labelled per host so that a `restartHosts` run
/// again after its own restart gets the same children back.
async fn subtask(
    ctx: &TaskCtx,
    parent: i64,
    method: &str,
    args: Vec<Value>,
    host: i64,
    label: &str,
) -> Result<i64, TaskError> {
    let kwargs: Struct = [
        ("assign".to_owned(), Value::Int(host)),
        ("label".to_owned(), Value::from(format!("{label} {host}"))),
    ]
    .into_iter()
    .collect();
    let v = ctx
        .hub
        .call_kw(
            "host.subtask",
            vec![Value::from(method), Value::Array(args), Value::Int(parent)],
            kwargs,
        )
        .await?;
    v.as_i64()
        .ok_or_else(|| generic(format!("host.subtask returned {}", v.type_name())))
}

/// Refuses a host that is not this builder, as kojid does.
pub fn check_host(named: i64, me: i64) -> Result<(), TaskError> {
    if named == me {
        Ok(())
    } else {
        Err(generic("Host mismatch"))
    }
}

pub async fn run_restart(ctx: &TaskCtx, task: &OpenedTask) -> Result<Value, TaskError> {
    check_host(host_id(task, 0)?, ctx.host.id)?;
    ctx.restart.request();
    tracing::warn!(
        task = task.id,
        "graceful restart requested: taking no more tasks; re-executing once idle"
    );
    Ok(Value::from("graceful restart initiated"))
}

/// The state of the `restart` task and this daemon's start time against its completion.
pub fn verify(
    state: i64,
    completion_ts: Option<f64>,
    named_host: i64,
    me: i64,
    started_at: f64,
) -> Result<(), TaskError> {
    if state != TASK_CLOSED {
        return Err(generic(format!(
            "Stage one restart task is {}",
            state_name(state)
        )));
    }
    check_host(named_host, me)?;
    if completion_ts.is_some_and(|done| started_at < done) {
        return Err(generic(format!(
            "Restart failed - start time is {}",
            asctime(started_at)
        )));
    }
    Ok(())
}

pub async fn run_restart_verify(ctx: &TaskCtx, task: &OpenedTask) -> Result<Value, TaskError> {
    let restart = param_i64(task, 0, "task_id")?;
    let named = host_id(task, 1)?;
    let info = ctx
        .hub
        .call("getTaskInfo", vec![Value::Int(restart)])
        .await?;
    let state =
        get_i64(&info, "state").ok_or_else(|| generic(format!("no such task: {restart}")))?;
    verify(
        state,
        get_f64(&info, "completion_ts"),
        named,
        ctx.host.id,
        ctx.restart.start_time(),
    )?;
    tracing::info!(task = task.id, restart, "restart verified");
    Ok(Value::Nil)
}

fn state_name(state: i64) -> String {
    match state {
        0 => "FREE".into(),
        1 => "OPEN".into(),
        2 => "CLOSED".into(),
        3 => "CANCELED".into(),
        4 => "ASSIGNED".into(),
        5 => "FAILED".into(),
        other => format!("in state {other}"),
    }
}

/// A start time as `Thu Dec  3 19:33:30 2026 UTC` (kojid's `time.asctime`, in UTC).
fn asctime(ts: f64) -> String {
    let secs = ts.floor();
    // a start time is a few billion seconds: i64 holds it exactly
    let whole = if secs.is_finite() && secs.abs() < 1e15 {
        secs as i64
    } else {
        0
    };
    match Utc.timestamp_opt(whole, 0).single() {
        Some(t) => t.format("%a %b %e %H:%M:%S %Y UTC").to_string(),
        None => format!("{ts}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Value)]) -> Value {
        Value::Struct(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn fault_text(e: TaskError) -> String {
        match e {
            TaskError::Fault(f) => f.string,
            other => panic!("fault expected, got {other:?}"),
        }
    }

    #[test]
    fn options_default_to_every_channel_and_a_day() {
        let o = parse_options(&Value::Nil).expect("no options");
        assert_eq!(
            o,
            RestartOptions {
                channel: None,
                arches: None,
                timeout: Duration::from_secs(86400)
            }
        );
        let o = parse_options(&opts(&[
            ("channel", Value::from("createrepo")),
            ("arches", Value::Array(vec![Value::from("x86_64")])),
            ("timeout", Value::Int(600)),
        ]))
        .expect("options");
        assert_eq!(o.channel.as_deref(), Some("createrepo"));
        assert_eq!(o.arches, Some(Value::Array(vec![Value::from("x86_64")])));
        assert_eq!(o.timeout, Duration::from_secs(600));
    }

    #[test]
    fn bad_options_are_parameter_errors() {
        for bad in [
            Value::from("everything"),
            opts(&[("timeout", Value::Int(-5))]),
            opts(&[("timeout", Value::from("soon"))]),
            opts(&[("channel", Value::Bool(true))]),
            opts(&[("arches", Value::Int(3))]),
        ] {
            match parse_options(&bad) {
                Err(TaskError::Fault(f)) => {
                    assert_eq!(f.code, koji_protocol::codes::PARAMETER, "{bad:?}");
                    assert!(f.string.starts_with("restartHosts: "), "{}", f.string);
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn hosts_are_listed_enabled_in_the_channel() {
        let arches = Value::Array(vec![Value::from("x86_64")]);
        assert_eq!(
            list_hosts_params(Some(&arches), Some(3)),
            vec![arches.clone(), Value::Int(3), Value::Nil, Value::Bool(true)]
        );
        assert_eq!(
            list_hosts_params(None, None),
            vec![Value::Nil, Value::Nil, Value::Nil, Value::Bool(true)]
        );
    }

    #[test]
    fn only_the_process_due_to_restart_frees_its_parent() {
        assert!(must_free(true, false));
        assert!(!must_free(true, true));
        // the re-executed daemon (nothing pending) waits for the verification instead
        assert!(!must_free(false, false));
        assert!(!must_free(false, true));
    }

    #[test]
    fn restart_refuses_another_host() {
        assert!(check_host(4, 4).is_ok());
        assert_eq!(fault_text(check_host(5, 4).unwrap_err()), "Host mismatch");
    }

    #[test]
    fn verify_wants_a_closed_restart_an_own_host_and_a_later_start() {
        let done = 1_796_300_000.5;
        assert!(verify(2, Some(done), 4, 4, done + 1.0).is_ok());
        assert_eq!(
            fault_text(verify(1, None, 4, 4, done + 1.0).unwrap_err()),
            "Stage one restart task is OPEN"
        );
        assert_eq!(
            fault_text(verify(5, Some(done), 4, 4, done + 1.0).unwrap_err()),
            "Stage one restart task is FAILED"
        );
        assert_eq!(
            fault_text(verify(2, Some(done), 5, 4, done + 1.0).unwrap_err()),
            "Host mismatch"
        );
        // the same process that ran the restart task: started before it closed
        let text = fault_text(verify(2, Some(done), 4, 4, 1_796_299_000.0).unwrap_err());
        assert_eq!(
            text,
            "Restart failed - start time is Thu Dec  3 11:56:40 2026 UTC"
        );
    }
}
