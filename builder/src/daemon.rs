//! The builder daemon's main loop: log in (exclusive), then repeatedly
//! 1. compare local tasks with the hub's view (`host.getHostTasks`): free OPEN tasks this
//!    process does not run (left from a crash), stop tasks the hub canceled or took back;
//! 2. measure readiness (enabled, load average, task load, jobs, free space, volumes) and
//!    check in (`host.updateHost`) with a plain `status` sentence;
//! 3. long-poll for assignments (`host.waitTasks`), re-check readiness for each one, and
//!    open it or refuse it with the reason.
//!
//! A `restart` task (`koji restart-hosts`) makes it stop taking tasks; once none runs it
//! logs out and returns [`Exit::Restart`], and the binary re-executes itself (`reexec.rs`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use koji_protocol::{Struct, Value, codes};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::executor::{Backend, clean_stale_tasks, find_program};
use crate::hub::{AssignedTask, HostInfo, Hub, HubError, TASK_ASSIGNED, client_config};
use crate::mounts::VolumeChecker;
use crate::readiness::{Facts, Verdict, host_verdict, read_loadavg, take_verdict};
use crate::tasks::context::{RestartState, TaskCtx, TaskHandles};
use crate::tasks::runner::run_task;
use crate::tasks::table;

/// Check in at least this often even when nothing changed (the hub marks a host not ready
/// after 180 s of silence).
const CHECKIN_INTERVAL: Duration = Duration::from_secs(30);
/// Poll length while tasks run: cancels must be noticed within seconds.
const BUSY_POLL: Duration = Duration::from_secs(3);
/// Poll length while not ready: assignments made before we said so get refused quickly.
const NOT_READY_POLL: Duration = Duration::from_secs(5);
/// A builder that stays not ready says so again this often.
const REPEAT_NOT_READY: Duration = Duration::from_secs(600);
/// How long shutdown waits for canceled builds to stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "another builder is already logged in with this host certificate (the hub said: {0}); \
         stop it first, or give each builder its own certificate; if the other builder died \
         without logging out, start this one with --force-lock"
    )]
    AlreadyRunning(String),
    #[error(
        "the hub does not accept this certificate as a build host ({0}); add the host with \
         `koji add-host NAME ARCHES` where NAME is the certificate's CN"
    )]
    NotAHost(String),
    #[error("cannot log in to the hub: {0}")]
    Login(HubError),
    #[error("{0}")]
    Setup(String),
}

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Shutdown was asked for (a signal).
    Stopped,
    /// A `restart` task asked for a graceful restart and no task runs any more: the
    /// caller re-executes the program, so the new daemon starts afresh (new start time,
    /// new login).
    Restart,
}

struct Running {
    method: String,
    weight: f64,
    waiting: bool,
    opened_at: Instant,
    handles: TaskHandles,
    reporting: Arc<AtomicBool>,
    stopping: bool,
    join: JoinHandle<()>,
}

pub struct Daemon {
    cfg: Arc<Config>,
    hub: Arc<Hub>,
    host: HostInfo,
    volumes: VolumeChecker,
    backend: Backend,
    running: HashMap<i64, Running>,
    last_status: Option<String>,
    last_logged: Option<Instant>,
    last_checkin: Option<(Instant, String, u64)>,
    /// Rung by runners when they finish, so an idle wait ends early.
    finished: Arc<Notify>,
    /// The hub has no `host.waitTasks` (a stock Koji hub): poll `host.getTasks`.
    legacy_poll: bool,
    restart: Arc<RestartState>,
}

/// A verdict sentence without its numbers: what decides whether the verdict "changed".
pub fn verdict_key(status: &str) -> String {
    status
        .split(' ')
        .map(|w| {
            let core = w.trim_end_matches([';', ',']);
            if !core.is_empty() && core.parse::<f64>().is_ok() {
                w.replacen(core, "#", 1)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Picks mock when a mock config is set and mock is installed, else rpmbuild.
pub fn choose_backend(cfg: &Config) -> Backend {
    if let Some(conf) = &cfg.mock_config {
        if let Some(p) = find_program("mock") {
            return Backend::Mock {
                program: p,
                config: conf.clone(),
            };
        }
        tracing::warn!("mock_config is set but mock is not installed; building with rpmbuild");
    }
    Backend::Rpmbuild {
        program: cfg.rpmbuild.clone(),
    }
}

/// Client timeout: the long-poll plus a margin.
fn client_timeout(cfg: &Config) -> Duration {
    Duration::from_secs(cfg.poll_timeout_secs + 60)
}

/// Connects and logs in with the exclusive host session.
pub async fn connect(cfg: &Config) -> Result<(Arc<Hub>, HostInfo), DaemonError> {
    let cc = client_config(
        &cfg.hub,
        &cfg.host_cert,
        cfg.ca.as_deref(),
        client_timeout(cfg),
    )
    .map_err(|e| DaemonError::Setup(e.to_string()))?;
    let client =
        koji_protocol::KojiClient::new(cc).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let hub = Arc::new(Hub::new(client));
    hub.login_exclusive(cfg.force_lock)
        .await
        .map_err(|e| match e.fault_code() {
            Some(codes::AUTH_LOCK) => DaemonError::AlreadyRunning(e.to_string()),
            _ => DaemonError::Login(e),
        })?;
    let id = hub.get_id().await.map_err(|e| match e.fault_code() {
        Some(codes::AUTH) | Some(codes::ACTION_NOT_ALLOWED) => DaemonError::NotAHost(e.to_string()),
        _ => DaemonError::Login(e),
    })?;
    let host = hub.get_host().await.map_err(DaemonError::Login)?;
    if host.id != id {
        return Err(DaemonError::Setup(format!(
            "host.getID() said {id} but host.getHost() returned host {}",
            host.id
        )));
    }
    tracing::info!("logged in as host {} (id {})", host.name, host.id);
    Ok((hub, host))
}

/// Runs the daemon until `shutdown` completes (SIGTERM/SIGINT), then stops running
/// builds, gives their tasks back and logs out. A restart asked for by a `restart` task
/// ends it too (this in-process form cannot re-execute itself; see [`run_daemon`]).
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    run_daemon(cfg, shutdown).await.map(|_| ())
}

/// [`run`], telling why it stopped: on [`Exit::Restart`] the caller re-executes the
/// program.
pub async fn run_daemon(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Exit, DaemonError> {
    // before the login: `restartVerify` compares this with the restart task's completion
    let restart = Arc::new(RestartState::starting_now());
    let cfg = Arc::new(cfg);
    if let Err(e) = std::fs::create_dir_all(&cfg.work_dir) {
        // not fatal: the readiness check reports the work dir's state
        tracing::warn!("cannot create {}: {e}", cfg.work_dir.display());
    }
    tokio::pin!(shutdown);
    // A hub that is not up yet (boot order, restart) is waited for; a hub that answers
    // with a fault (bad certificate, not a host, lock taken) is a configuration problem.
    let mut backoff = Duration::from_secs(1);
    let (hub, host) = loop {
        let attempt = tokio::select! {
            r = connect(&cfg) => r,
            _ = &mut shutdown => return Ok(Exit::Stopped),
        };
        match attempt {
            Ok(x) => break x,
            // TLS trouble (wrong CA, expired certificate) does not fix itself: exit.
            Err(DaemonError::Login(e))
                if e.fault().is_none() && !e.to_string().contains("certificate") =>
            {
                tracing::warn!("cannot reach the hub ({e}); retrying in {backoff:?}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => return Ok(Exit::Stopped),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e),
        }
    };
    // Nothing runs yet: whatever is in the task dirs is left from a previous run. Done
    // after login, so a second daemon refused by the hub cannot kill the first one's builds.
    let tasks_root = cfg.work_dir.join("tasks");
    if let Ok(killed) = tokio::task::spawn_blocking(move || clean_stale_tasks(&tasks_root)).await
        && !killed.is_empty()
    {
        tracing::warn!(pids = ?killed, "killed builds left over from a previous run");
    }
    let backend = choose_backend(&cfg);
    tracing::info!(?backend, "build backend");
    let mut d = Daemon {
        volumes: VolumeChecker::new(
            cfg.mounts.clone(),
            cfg.work_dir.clone(),
            Duration::from_secs(cfg.mount_timeout_secs),
        ),
        cfg,
        hub,
        host,
        backend,
        running: HashMap::new(),
        last_status: None,
        last_logged: None,
        last_checkin: None,
        finished: Arc::new(Notify::new()),
        legacy_poll: false,
        restart,
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        if d.restart.is_pending() && d.idle() {
            tracing::warn!("restart pending and no task running: restarting");
            d.shutdown("not ready: builder restarting").await;
            return Ok(Exit::Restart);
        }
        let round = tokio::select! {
            r = d.round() => r,
            _ = &mut shutdown => break,
        };
        match round {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => {
                if let Some(fatal) = d.handle_hub_error(e).await {
                    d.shutdown("not ready: builder stopped").await;
                    return Err(fatal);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
    tracing::info!("shutting down");
    d.shutdown("not ready: builder stopped").await;
    Ok(Exit::Stopped)
}

impl Daemon {
    /// Decides what a failed round means; `Some` is fatal.
    async fn handle_hub_error(&mut self, e: HubError) -> Option<DaemonError> {
        match e.fault_code() {
            Some(codes::AUTH_LOCK) => Some(DaemonError::AlreadyRunning(e.to_string())),
            Some(codes::AUTH) | Some(codes::SEQUENCE) | Some(codes::RETRY) => {
                tracing::warn!("hub session problem ({e}); logging in again");
                // never forced here: if the lock is gone, another builder took it
                match self.hub.login_exclusive(false).await {
                    Ok(()) => None,
                    Err(le) if le.fault_code() == Some(codes::AUTH_LOCK) => {
                        Some(DaemonError::AlreadyRunning(le.to_string()))
                    }
                    Err(le) => {
                        tracing::warn!("login failed: {le}");
                        None
                    }
                }
            }
            _ => {
                tracing::warn!("hub call failed: {e}; retrying");
                None
            }
        }
    }

    /// One pass of the main loop.
    async fn round(&mut self) -> Result<(), HubError> {
        let started = Instant::now();
        self.reap();
        self.update_tasks().await?;
        let host = self.hub.get_host().await?;
        self.host = host;
        let facts = self.facts().await;
        let verdict = host_verdict(&facts);
        self.note_verdict(&verdict);
        self.check_in(&facts, &verdict).await?;

        if self.restart.is_pending() {
            // Nothing is taken until the restart (assigned tasks stay ASSIGNED, see
            // `take_tasks`), so no long-poll either: it would answer at once with them.
            // Look again when a task finishes or after a short while.
            tokio::select! {
                _ = tokio::time::sleep(BUSY_POLL) => {}
                _ = self.finished.notified() => {}
            }
            return Ok(());
        }
        let poll = if !verdict.is_ready() {
            NOT_READY_POLL
        } else if self.running.is_empty() {
            Duration::from_secs(self.cfg.poll_timeout_secs)
        } else {
            BUSY_POLL
        };
        let deadline = started + poll;
        let rows = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Vec::new();
            }
            if self.legacy_poll {
                let rows = self.hub.get_tasks().await?;
                if !rows.is_empty() {
                    break rows;
                }
                tokio::select! {
                    _ = tokio::time::sleep(left.min(Duration::from_secs(15))) => {}
                    _ = self.finished.notified() => {}
                }
                break Vec::new();
            }
            match self.hub.wait_tasks(left).await {
                Ok(Some(rows)) => break rows,
                // gave way to a runner's call: poll again for the rest of the round,
                // unless a task finished (then look at the hub's view again)
                Ok(None) => {
                    if self.running.values().any(|r| r.join.is_finished()) {
                        break Vec::new();
                    }
                }
                Err(e)
                    if e.fault().is_some_and(|f| {
                        f.code == codes::GENERIC && f.string.contains("Invalid method")
                    }) =>
                {
                    tracing::warn!(
                        "the hub has no host.waitTasks; polling host.getTasks (pickup is slower)"
                    );
                    self.legacy_poll = true;
                }
                Err(e) => return Err(e),
            }
        };
        // Our running tasks' waiting flags may have changed since the last round (a parent
        // build waits on the very buildArch just assigned to us): refresh them, or its
        // weight is counted against the new task and the task is refused for nothing.
        if !self.running.is_empty() && rows.iter().any(|r| r.state == TASK_ASSIGNED) {
            self.update_tasks().await?;
        }
        self.take_tasks(rows, &verdict).await
    }

    /// No task runner is left (finished ones are not yet reaped).
    fn idle(&self) -> bool {
        self.running.values().all(|r| r.join.is_finished())
    }

    fn reap(&mut self) {
        self.running.retain(|id, r| {
            if r.join.is_finished() {
                tracing::debug!(task = id, method = %r.method, "task runner finished");
                false
            } else {
                true
            }
        });
    }

    /// Reconciles local tasks with the hub's list of tasks OPEN on this host.
    async fn update_tasks(&mut self) -> Result<(), HubError> {
        let fetched_at = Instant::now();
        let rows = self.hub.get_host_tasks().await?;
        let open: HashSet<i64> = rows.iter().map(|r| r.id).collect();
        let unknown: Vec<i64> = rows
            .iter()
            .filter(|r| !self.running.contains_key(&r.id))
            .map(|r| r.id)
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                tasks = ?unknown,
                "the hub shows tasks open on this host that this builder is not running (left from a restart or crash); freeing them"
            );
            self.hub.free_tasks(&unknown).await?;
        }
        for (id, r) in self.running.iter_mut() {
            if r.stopping
                || r.join.is_finished()
                || r.opened_at >= fetched_at
                || r.reporting.load(Ordering::SeqCst)
                || open.contains(id)
            {
                continue;
            }
            tracing::info!(
                task = id,
                method = %r.method,
                "task is no longer open on this host (canceled or reassigned); stopping it"
            );
            r.stopping = true;
            r.handles.cancel.cancel();
        }
        for row in &rows {
            if let Some(r) = self.running.get_mut(&row.id) {
                r.waiting = row.waiting;
                r.weight = row.weight;
                if row.alert {
                    r.handles.wake.notify_one();
                }
            }
        }
        Ok(())
    }

    fn task_load(&self) -> f64 {
        self.running
            .values()
            .filter(|r| !r.waiting && !r.stopping && !r.join.is_finished())
            // fold from +0.0: an empty f64 sum is -0.0, which koji shows as "-0.0"
            .fold(0.0, |acc, r| acc + r.weight)
    }

    async fn facts(&self) -> Facts {
        let report = self.volumes.check().await;
        let load_avg = if self.cfg.load_check {
            match read_loadavg() {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            }
        } else {
            None
        };
        Facts {
            enabled: self.host.enabled,
            capacity: self.host.capacity,
            load_avg,
            task_load: self.task_load(),
            // a parent waiting for its subtasks holds no slot: a builder whose slots were all
            // taken by waiting parents could never run their children
            jobs: self
                .running
                .values()
                .filter(|r| !r.waiting && !r.join.is_finished())
                .count(),
            maxjobs: self.cfg.maxjobs,
            work_dir: self.cfg.work_dir.clone(),
            free_mb: report.work_free_mb,
            minspace_mb: self.cfg.minspace_mb,
            volumes: report.volumes,
            restart_pending: self.restart.is_pending(),
        }
    }

    /// Logs the verdict when it changes (not every round: a builder not ready for an hour
    /// should say so once, not 700 times). A change of numbers only (the load average
    /// moving from 5.20 to 5.31) is not a change; a still-not-ready builder repeats itself
    /// every [`REPEAT_NOT_READY`].
    fn note_verdict(&mut self, v: &Verdict) {
        let s = v.status();
        let key = verdict_key(&s);
        let repeat = !v.is_ready()
            && self
                .last_logged
                .is_some_and(|t| t.elapsed() >= REPEAT_NOT_READY);
        if self.last_status.as_deref() != Some(key.as_str()) || repeat {
            if v.is_ready() {
                tracing::info!("{s}");
            } else {
                tracing::warn!("{s}");
            }
            self.last_status = Some(key);
            self.last_logged = Some(Instant::now());
        }
    }

    fn host_data(&self, status: &str) -> Struct {
        let mut data = Struct::new();
        data.insert("status".into(), Value::from(status));
        data.insert("maxjobs".into(), Value::Int(i64::from(self.cfg.maxjobs)));
        data.insert(
            "methods".into(),
            Value::Array(table::methods().map(Value::from).collect()),
        );
        data
    }

    async fn check_in(&mut self, facts: &Facts, v: &Verdict) -> Result<(), HubError> {
        let status = v.status();
        // A new reason or a change in task load is a reason to check in now; numbers that
        // drift (load average, free space) wait for the next regular check-in.
        let key = verdict_key(&status);
        let load_key = (facts.task_load * 100.0).round() as u64;
        if let Some((at, s, l)) = &self.last_checkin
            && at.elapsed() < CHECKIN_INTERVAL
            && *s == key
            && *l == load_key
        {
            return Ok(());
        }
        self.hub
            .update_host(facts.task_load, v.is_ready(), self.host_data(&status))
            .await?;
        self.last_checkin = Some((Instant::now(), key, load_key));
        Ok(())
    }

    async fn take_tasks(
        &mut self,
        mut rows: Vec<AssignedTask>,
        verdict: &Verdict,
    ) -> Result<(), HubError> {
        // Foreground tasks first: a `restart` must take effect before this round takes
        // anything else (the `restartVerify` beside it belongs to the next process).
        rows.sort_by_key(|r| !table::foreground(&r.method));
        for row in rows {
            if self.restart.is_pending() {
                // Left ASSIGNED, not refused: a `restartVerify` assigned to this host must
                // run here, in the daemon that comes after the restart.
                tracing::debug!(
                    task = row.id,
                    method = %row.method,
                    "restart pending: leaving the assigned task for after it"
                );
                continue;
            }
            if row.state != TASK_ASSIGNED
                || row.host_id.is_some_and(|h| h != self.host.id)
                || self.running.contains_key(&row.id)
            {
                continue;
            }
            if table::find(&row.method).is_none() {
                let msg = format!("no handler for method {}", row.method);
                tracing::warn!(task = row.id, "refusing task: {msg}");
                self.hub.refuse_task(row.id, false, &msg).await?;
                continue;
            }
            if !verdict.is_ready() {
                let msg = verdict.status();
                tracing::info!(task = row.id, method = %row.method, "refusing task: {msg}");
                self.hub.refuse_task(row.id, true, &msg).await?;
                continue;
            }
            // Measure again right before taking it: the last check may be 30 s old and
            // this task adds its weight.
            let weight = table::weight(&row.method);
            let facts = self.facts().await;
            let v = take_verdict(&facts, &row.method, weight);
            if !v.is_ready() {
                let msg = v.status();
                tracing::info!(task = row.id, method = %row.method, "refusing task: {msg}");
                self.hub.refuse_task(row.id, true, &msg).await?;
                self.note_verdict(&host_verdict(&facts));
                continue;
            }
            let Some(opened) = self.hub.open_task(row.id).await? else {
                tracing::info!(task = row.id, "task was taken by another host");
                continue;
            };
            let handles = TaskHandles {
                cancel: CancelToken::new(),
                wake: Arc::new(Notify::new()),
                reporting: Arc::new(AtomicBool::new(false)),
                local_task_done: Arc::clone(&self.finished),
            };
            let ctx = Arc::new(TaskCtx {
                hub: Arc::clone(&self.hub),
                cfg: Arc::clone(&self.cfg),
                host: self.host.clone(),
                backend: self.backend.clone(),
                restart: Arc::clone(&self.restart),
            });
            if table::foreground(&row.method) {
                // run to its end before anything else is taken, as kojid's Foreground
                tracing::info!(task = row.id, method = %row.method, "running task in the foreground");
                run_task(ctx, opened, handles).await;
                self.finished.notify_waiters();
                continue;
            }
            let finished = Arc::clone(&self.finished);
            let h2 = handles.clone();
            let join = tokio::spawn(async move {
                run_task(ctx, opened, h2).await;
                finished.notify_waiters();
            });
            tracing::info!(task = row.id, method = %row.method, arch = %row.arch, "took task");
            self.running.insert(
                row.id,
                Running {
                    method: row.method.clone(),
                    weight,
                    waiting: false,
                    opened_at: Instant::now(),
                    reporting: Arc::clone(&handles.reporting),
                    handles,
                    stopping: false,
                    join,
                },
            );
        }
        Ok(())
    }

    /// Stops every build, frees their tasks, says goodbye. Best effort: the hub frees
    /// the tasks of a host that stopped checking in anyway.
    async fn shutdown(&mut self, status: &str) {
        // Tasks whose runner already reports (or reported) its result are left to finish;
        // the others are stopped and given back.
        let ids: Vec<i64> = self
            .running
            .iter()
            .filter(|(_, r)| !r.join.is_finished() && !r.reporting.load(Ordering::SeqCst))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(r) = self.running.get(id) {
                r.handles.cancel.cancel();
            }
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        for (id, r) in self.running.drain() {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, r.join).await.is_err() {
                tracing::warn!(task = id, "task did not stop in time");
            }
        }
        if !ids.is_empty() {
            tracing::info!(tasks = ?ids, "giving tasks back to the hub");
            if let Err(e) = self.hub.free_tasks(&ids).await {
                tracing::warn!("host.freeTasks: {e}");
            }
        }
        let data = self.host_data(status);
        if let Err(e) = self.hub.update_host(0.0, false, data).await {
            tracing::warn!("host.updateHost: {e}");
        }
        if let Err(e) = self.hub.logout().await {
            tracing::warn!("logout: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_key_ignores_drifting_numbers_only() {
        let a = verdict_key("not ready: load average 5.20 > capacity 4.0; host is disabled");
        let b = verdict_key("not ready: load average 5.31 > capacity 4.0; host is disabled");
        assert_eq!(a, b);
        assert_eq!(
            a,
            "not ready: load average # > capacity #; host is disabled"
        );
        assert_ne!(
            verdict_key("not ready: mount /mnt/disk1 not answering within 5s"),
            verdict_key("not ready: mount /mnt/disk2 not answering within 5s")
        );
        assert_ne!(
            verdict_key("ready"),
            verdict_key("not ready: host is disabled")
        );
    }
}
