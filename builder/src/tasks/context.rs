//! What a task handler gets and gives back: the context it runs in (hub session, config,
//! host, build backend), its handles (cancel flag, wake-ups), the error that fails a task,
//! and the reading of its parameters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use koji_protocol::{Fault, Value, codes};
use tokio::sync::Notify;

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::executor::Backend;
use crate::hub::{HostInfo, Hub, HubError, OpenedTask};

/// What a runner needs besides its task.
pub struct TaskCtx {
    pub hub: Arc<Hub>,
    pub cfg: Arc<Config>,
    pub host: HostInfo,
    pub backend: Backend,
    pub restart: Arc<RestartState>,
}

/// This daemon process's part in `koji restart-hosts`: when it started (a re-executed
/// daemon is a new process with a new start time, which `restartVerify` checks) and
/// whether a `restart` task asked it to re-execute itself once it is idle.
#[derive(Debug)]
pub struct RestartState {
    /// Seconds since the epoch, as the hub's `completion_ts`.
    started_at: f64,
    pending: AtomicBool,
}

impl RestartState {
    /// The state of a daemon starting now.
    pub fn starting_now() -> Self {
        let started_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self::started_at(started_at)
    }

    pub fn started_at(started_at: f64) -> Self {
        Self {
            started_at,
            pending: AtomicBool::new(false),
        }
    }

    pub fn start_time(&self) -> f64 {
        self.started_at
    }

    /// Set by a `restart` task; the daemon stops taking tasks and re-executes itself
    /// once none runs.
    pub fn request(&self) {
        self.pending.store(true, Ordering::SeqCst);
    }

    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }
}

/// Why a handler stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Fail the task with this fault.
    #[error("{0}")]
    Fault(Fault),
    /// The hub canceled or took back the task: report nothing.
    #[error("canceled")]
    Canceled,
    /// Give the task back to the hub (`host.freeTasks`) without a result: kojid's
    /// `ServerRestart`, raised by a `restartHosts` waiting on its own host's restart,
    /// which would otherwise keep that restart from happening. It runs again later.
    #[error("freed for a restart")]
    Free,
}

impl From<HubError> for TaskError {
    /// A fault from the hub is passed on unchanged, as kojid re-raises it: a child's
    /// BuildError becomes the parent's BuildError with the same text.
    fn from(e: HubError) -> Self {
        match e.fault() {
            Some(f) => TaskError::Fault(f.clone()),
            None => TaskError::Fault(Fault::generic(e.to_string())),
        }
    }
}

pub(crate) fn build_error(msg: impl Into<String>) -> TaskError {
    TaskError::Fault(Fault::new(codes::BUILD, msg))
}

pub(crate) fn param_error(msg: impl Into<String>) -> TaskError {
    TaskError::Fault(Fault::new(codes::PARAMETER, msg))
}

/// A GenericError fault: what kojid raises for a failure that is not the build's.
pub(crate) fn generic(msg: impl Into<String>) -> TaskError {
    TaskError::Fault(Fault::generic(msg))
}

/// The task's own handles: cancel flag and the wake-up the main loop rings on `alert`.
#[derive(Clone)]
pub struct TaskHandles {
    pub cancel: CancelToken,
    pub wake: Arc<Notify>,
    /// Set once the runner starts reporting its result: from then on the hub no longer
    /// listing the task as OPEN is the runner's own doing, not a cancel.
    pub reporting: Arc<std::sync::atomic::AtomicBool>,
    /// Rung whenever any local task finishes: on a small farm a waiting parent's
    /// children usually run on the same builder, so this wakes it without waiting for
    /// the next poll.
    pub local_task_done: Arc<Notify>,
}

pub(crate) fn param<'a>(
    task: &'a OpenedTask,
    i: usize,
    name: &str,
) -> Result<&'a Value, TaskError> {
    task.params
        .get(i)
        .or_else(|| task.kwargs.get(name))
        .ok_or_else(|| param_error(format!("{}: missing parameter {name}", task.method)))
}

pub(crate) fn param_str<'a>(
    task: &'a OpenedTask,
    i: usize,
    name: &str,
) -> Result<&'a str, TaskError> {
    param(task, i, name)?
        .as_str()
        .ok_or_else(|| param_error(format!("{}: {name} must be a string", task.method)))
}

pub(crate) fn param_i64(task: &OpenedTask, i: usize, name: &str) -> Result<i64, TaskError> {
    param(task, i, name)?
        .as_i64()
        .ok_or_else(|| param_error(format!("{}: {name} must be an int", task.method)))
}

pub(crate) fn opt_param(task: &OpenedTask, i: usize, name: &str) -> Value {
    task.params
        .get(i)
        .or_else(|| task.kwargs.get(name))
        .cloned()
        .unwrap_or(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_faults_pass_through() {
        let e: TaskError =
            HubError::Client(koji_protocol::ClientError::Fault(Fault::new(1005, "boom"))).into();
        match e {
            TaskError::Fault(f) => assert_eq!((f.code, f.string.as_str()), (1005, "boom")),
            TaskError::Canceled | TaskError::Free => panic!("fault expected"),
        }
    }
}
