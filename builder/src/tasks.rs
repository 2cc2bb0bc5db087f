//! Task handlers: `build` (the parent that plans and collects), `buildArch` (one rpmbuild
//! per arch) and `tagBuild`; the repo tasks `newRepo` and `createrepo` live in
//! [`crate::repotasks`]. Each runs as a tokio task holding the task OPEN on the hub;
//! its outcome is reported with `host.closeTask`/`host.failTask` unless it was canceled,
//! in which case the hub already knows and nothing is reported.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use koji_protocol::{Fault, Struct, Value, codes};
use tokio::sync::Notify;

use crate::cancel::CancelToken;
use crate::config::Config;
use crate::executor::{self, Backend, BuildJob, ExecError};
use crate::hub::{HostInfo, Hub, HubError, OpenedTask, get_truthy};
use crate::probe::on_thread;
use crate::repotasks;
use crate::srpm::{self, SrpmInfo};
use crate::taskdir::TaskDir;
use crate::uploads::{LogTail, upload_file};

/// The methods this builder runs (sent to the hub as `methods`).
pub const HANDLED_METHODS: &[&str] = &["build", "buildArch", "tagBuild", "newRepo", "createrepo"];

/// How often a waiting parent asks the hub about its children (it is also woken at once
/// when the hub flags an `alert` for it).
const WAIT_POLL: Duration = Duration::from_secs(3);
/// How often logs are re-uploaded while a build runs.
const LOG_UPLOAD_INTERVAL: Duration = Duration::from_secs(2);
/// Reading an SRPM header from topdir (possibly NFS) must not hang a task forever.
const SRPM_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// kojid's `_taskWeight` values.
pub fn task_weight(method: &str) -> f64 {
    match method {
        "build" => 0.2,
        "buildArch" => 1.5,
        "tagBuild" => 1.0,
        "newRepo" => 0.1,
        "createrepo" => 1.5,
        _ => 1.0,
    }
}

/// What a runner needs besides its task.
pub struct TaskCtx {
    pub hub: Arc<Hub>,
    pub cfg: Arc<Config>,
    pub host: HostInfo,
    pub backend: Backend,
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

/// Runs a task's handler and reports its outcome. Never panics on bad input: a malformed
/// request fails the task with a ParameterError.
pub async fn run_task(ctx: Arc<TaskCtx>, task: OpenedTask, h: TaskHandles) {
    let id = task.id;
    let method = task.method.clone();
    tracing::info!(task = id, method = %method, "task started");
    if let Err(e) = ctx.hub.set_task_weight(id, task_weight(&method)).await {
        tracing::warn!(task = id, "cannot set the task weight: {e}");
    }
    let result = match method.as_str() {
        "build" => handle_build(&ctx, &task, &h).await,
        "buildArch" => handle_build_arch(&ctx, &task, &h).await,
        "tagBuild" => handle_tag_build(&ctx, &task).await,
        "newRepo" => repotasks::handle_new_repo(&ctx, &task, &h).await,
        "createrepo" => repotasks::handle_createrepo(&ctx, &task, &h).await,
        m => Err(TaskError::Fault(Fault::generic(format!(
            "kkoji-builder has no handler for method {m}"
        )))),
    };
    if h.cancel.is_cancelled() {
        tracing::info!(task = id, method = %method, "task canceled; not reporting");
        return;
    }
    h.reporting.store(true, std::sync::atomic::Ordering::SeqCst);
    match result {
        Ok(v) => {
            tracing::info!(task = id, method = %method, "task succeeded");
            report(&ctx.hub, id, &Ok(v)).await;
        }
        Err(TaskError::Fault(f)) => {
            // A parent whose task was canceled under it fails on its next host call
            // ("host N does not hold task M"): that is a cancel, not a failure to report.
            if !still_held(&ctx.hub, id).await {
                tracing::info!(task = id, method = %method, "task is no longer open on this host ({f}); not reporting");
                return;
            }
            tracing::warn!(task = id, method = %method, "task failed: {f}");
            report(&ctx.hub, id, &Err(f)).await;
        }
        Err(TaskError::Canceled) => {
            tracing::info!(task = id, method = %method, "task canceled; not reporting");
        }
    }
}

/// Reports a result, retrying transport errors for a while: a finished build must not be
/// lost because the hub restarted at that moment.
async fn report(hub: &Hub, id: i64, outcome: &Result<Value, Fault>) {
    let mut delay = Duration::from_secs(2);
    for attempt in 1..=10 {
        let r = match outcome {
            Ok(v) => hub.close_task(id, v).await,
            Err(f) => hub.fail_task(id, f).await,
        };
        match r {
            Ok(()) => return,
            Err(e) if e.fault_code() == Some(codes::ACTION_NOT_ALLOWED) => {
                tracing::info!(task = id, "the task is no longer ours (canceled?): {e}");
                return;
            }
            Err(e) if e.fault().is_some() => {
                tracing::error!(task = id, "the hub refused the task's result: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(task = id, attempt, "cannot report the task's result: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
    tracing::error!(
        task = id,
        "giving up reporting the task's result; the hub will free it"
    );
}

/// Is the task still OPEN on this host? (When the hub cannot be asked, assume yes and
/// let the report itself find out.)
async fn still_held(hub: &Hub, id: i64) -> bool {
    match hub.get_host_tasks().await {
        Ok(rows) => rows.iter().any(|r| r.id == id),
        Err(_) => true,
    }
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

/// Reads an SRPM header from `<topdir>/work/<rel>` on a thread that may hang (NFS).
async fn read_work_srpm(cfg: &Config, rel: &str) -> Result<(PathBuf, SrpmInfo), TaskError> {
    if rel.split('/').any(|c| c == "..") || rel.starts_with('/') {
        return Err(build_error(format!("invalid SRPM path: {rel}")));
    }
    let path = cfg.topdir.join("work").join(rel);
    let p = path.clone();
    let info = on_thread("read srpm", SRPM_READ_TIMEOUT, move || {
        if !p.exists() {
            return Err(format!("SRPM file missing: {}", p.display()));
        }
        srpm::read_srpm(&p).map_err(|e| e.to_string())
    })
    .await
    .map_err(build_error)?;
    if !info.is_source {
        return Err(build_error(format!("{rel} is not a source package")));
    }
    Ok((path, info))
}

// ----- build -----

async fn handle_build(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let src = param_str(task, 0, "src")?;
    let target = param_str(task, 1, "target")?;
    let opts = opt_param(task, 2, "opts");
    let scratch = get_truthy(&opts, "scratch");
    let skip_tag = get_truthy(&opts, "skip_tag");
    let arch_override = opts
        .get("arch_override")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if arch_override
        .as_deref()
        .is_some_and(|a| !a.trim().is_empty())
        && !scratch
    {
        return Err(build_error(
            "arch_override is only allowed for scratch builds",
        ));
    }
    if src.contains("://") || src.starts_with("git+") {
        return Err(build_error(format!(
            "kkoji-builder cannot build from SCM yet, only from an uploaded SRPM: {src}"
        )));
    }
    let tinfo = ctx
        .hub
        .call("getBuildTarget", vec![Value::from(target)])
        .await?;
    if tinfo.is_nil() {
        return Err(TaskError::Fault(Fault::generic(format!(
            "unknown build target: {target}"
        ))));
    }
    let build_tag = tinfo
        .get("build_tag")
        .and_then(Value::as_i64)
        .ok_or_else(|| build_error(format!("target {target} has no build tag")))?;
    let dest_tag = tinfo.get("dest_tag").and_then(Value::as_i64);
    let (_, info) = read_work_srpm(&ctx.cfg, src).await?;
    tracing::info!(task = id, nvr = %info.nvr(), target, scratch, "build");

    let bcfg = ctx
        .hub
        .call("getBuildConfig", vec![Value::Int(build_tag)])
        .await?;
    let tag_name = bcfg.get("name").and_then(Value::as_str).unwrap_or("?");
    let tag_arches = bcfg.get("arches").and_then(Value::as_str).unwrap_or("");
    if tag_arches.trim().is_empty() {
        return Err(build_error(format!(
            "No arches for tag {tag_name} [{build_tag}]"
        )));
    }
    let arches = srpm::select_arches(&info, tag_arches, arch_override.as_deref())
        .map_err(|e| build_error(e.to_string()))?;
    tracing::info!(task = id, ?arches, "arches to build");

    if !scratch && !skip_tag {
        check_package_listed(ctx, dest_tag, &tinfo, &info.name).await?;
    }
    // Build against a repo that has everything tagged into the build tag so far (a
    // build of B right after A was tagged must see A), as kojid's getRepo does.
    let repo_id = repotasks::buildroot_repo(ctx, id, h, build_tag, tag_name, &opts).await?;

    let build_id = if scratch {
        None
    } else {
        let mut data = Struct::new();
        data.insert("name".into(), Value::from(info.name.as_str()));
        data.insert("version".into(), Value::from(info.version.as_str()));
        data.insert("release".into(), Value::from(info.release.as_str()));
        data.insert("epoch".into(), Value::from(info.epoch));
        data.insert("task_id".into(), Value::Int(id));
        let v = ctx
            .hub
            .call("host.initBuild", vec![Value::Struct(data)])
            .await?;
        Some(
            v.as_i64()
                .ok_or_else(|| TaskError::Fault(Fault::generic("host.initBuild returned no id")))?,
        )
    };

    let outcome = run_arch_builds(
        ctx, task, h, src, build_tag, repo_id, &arches, scratch, build_id,
    )
    .await;
    if let (Err(TaskError::Fault(_)), Some(bid)) = (&outcome, build_id)
        && !h.cancel.is_cancelled()
        && let Err(e) = ctx
            .hub
            .call("host.failBuild", vec![Value::Int(id), Value::Int(bid)])
            .await
    {
        tracing::warn!(task = id, build = bid, "host.failBuild: {e}");
    }
    outcome?;

    if let (Some(bid), Some(dest)) = (build_id, dest_tag)
        && !skip_tag
    {
        let tid = ctx
            .hub
            .subtask(
                "tagBuild",
                vec![
                    Value::Int(dest),
                    Value::Int(bid),
                    Value::Bool(false),
                    Value::Nil,
                    Value::Bool(true),
                ],
                id,
                "tag",
                "noarch",
            )
            .await?;
        wait_children(ctx, id, h, &[tid]).await?;
    }
    Ok(Value::Nil)
}

/// kojid's check before a non-scratch build: the package must be listed (and not
/// blocked) in the destination tag, or the build would be imported and then fail to tag.
/// A hub without `getPackageConfig` skips the check (tagging still enforces it).
async fn check_package_listed(
    ctx: &TaskCtx,
    dest_tag: Option<i64>,
    target: &Value,
    name: &str,
) -> Result<(), TaskError> {
    let Some(dest) = dest_tag else {
        return Ok(());
    };
    let tag_name = target
        .get("dest_tag_name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| dest.to_string());
    match ctx
        .hub
        .call(
            "getPackageConfig",
            vec![Value::Int(dest), Value::from(name)],
        )
        .await
    {
        Ok(Value::Nil) => Err(build_error(format!(
            "package {name} not in list for tag {tag_name}"
        ))),
        Ok(cfg) if get_truthy(&cfg, "blocked") => Err(build_error(format!(
            "package {name} is blocked for tag {tag_name}"
        ))),
        Ok(_) => Ok(()),
        Err(e)
            if e.fault()
                .is_some_and(|f| f.string.contains("Invalid method")) =>
        {
            tracing::debug!("the hub has no getPackageConfig; tagging will check the package list");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_arch_builds(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
    src: &str,
    build_tag: i64,
    repo_id: i64,
    arches: &[String],
    scratch: bool,
    build_id: Option<i64>,
) -> Result<(), TaskError> {
    let id = task.id;
    let mut children = Vec::with_capacity(arches.len());
    let mut keep_srpm = true;
    for arch in arches {
        let task_arch = if arch == "noarch" {
            "noarch"
        } else {
            srpm::canon_arch(arch)
        };
        let child = ctx
            .hub
            .subtask(
                "buildArch",
                vec![
                    Value::from(src),
                    Value::Int(build_tag),
                    Value::from(arch.as_str()),
                    Value::Bool(keep_srpm),
                    Value::Struct(
                        [("repo_id".to_owned(), Value::Int(repo_id))]
                            .into_iter()
                            .collect(),
                    ),
                ],
                id,
                arch,
                task_arch,
            )
            .await?;
        tracing::info!(task = id, child, arch = %arch, "buildArch subtask");
        children.push((arch.clone(), child));
        keep_srpm = false;
    }
    let ids: Vec<i64> = children.iter().map(|c| c.1).collect();
    let results = wait_children(ctx, id, h, &ids).await?;

    let mut rpms = Vec::new();
    let mut logs = Struct::new();
    let mut srpm: Option<Value> = None;
    // file → buildroot id, for the hub to record which buildroot made each RPM
    let mut brmap = Struct::new();
    for (arch, child) in &children {
        let Some((_, r)) = results.iter().find(|(i, _)| i == child) else {
            return Err(build_error(format!(
                "no result from buildArch task {child}"
            )));
        };
        let list = |k: &str| -> Vec<Value> {
            r.get(k)
                .and_then(Value::as_array)
                .map(<[Value]>::to_vec)
                .unwrap_or_default()
        };
        let brootid = r.get("brootid").and_then(Value::as_i64);
        for f in list("rpms").iter().chain(list("srpms").first()) {
            if let (Some(b), Some(path)) = (brootid, f.as_str()) {
                brmap.insert(path.to_owned(), Value::Int(b));
            }
        }
        rpms.extend(list("rpms"));
        logs.insert(arch.clone(), Value::Array(list("logs")));
        let s = list("srpms");
        if let Some(first) = s.into_iter().next() {
            if srpm.is_some() {
                return Err(build_error(format!(
                    "multiple builds returned a srpm.  task {id}"
                )));
            }
            srpm = Some(first);
        }
    }
    let Some(srpm) = srpm else {
        return Err(build_error("could not find a built srpm"));
    };
    let mut kw = Struct::new();
    kw.insert("logs".into(), Value::Struct(logs));
    match build_id {
        None => {
            ctx.hub
                .call_kw(
                    "host.moveBuildToScratch",
                    vec![Value::Int(id), srpm, Value::Array(rpms)],
                    kw,
                )
                .await?;
        }
        Some(bid) => {
            ctx.hub
                .call_kw(
                    "host.completeBuild",
                    vec![
                        Value::Int(id),
                        Value::Int(bid),
                        srpm,
                        Value::Array(rpms),
                        if brmap.is_empty() {
                            Value::Nil
                        } else {
                            Value::Struct(brmap)
                        },
                    ],
                    kw,
                )
                .await?;
        }
    }
    if scratch {
        tracing::info!(task = id, "scratch build moved to scratch/");
    }
    Ok(())
}

/// kojid's `wait(subtasks, all=True, failany=True)`: waits for every child; the first
/// failed (or canceled) child cancels its siblings and fails the parent with its fault.
pub(crate) async fn wait_children(
    ctx: &TaskCtx,
    parent: i64,
    h: &TaskHandles,
    ids: &[i64],
) -> Result<Vec<(i64, Value)>, TaskError> {
    ctx.hub.task_set_wait(parent, ids).await?;
    let mut checked: HashSet<i64> = HashSet::new();
    loop {
        if h.cancel.is_cancelled() {
            return Err(TaskError::Canceled);
        }
        // Listen before asking, so a child finishing during the call is not missed.
        let local_done = h.local_task_done.notified();
        tokio::pin!(local_done);
        local_done.as_mut().enable();
        let (finished, unfinished) = ctx.hub.task_wait(parent).await?;
        for t in finished.iter().filter(|t| ids.contains(t)) {
            if !checked.insert(*t) {
                continue;
            }
            if let Err(e) = ctx.hub.get_task_result(*t).await {
                if e.fault().is_some() {
                    tracing::info!(
                        task = parent,
                        child = t,
                        "subtask failed; canceling the others"
                    );
                    if let Err(ce) = ctx.hub.cancel_task_children(parent).await {
                        tracing::warn!(task = parent, "cancelTaskChildren: {ce}");
                    }
                }
                return Err(e.into());
            }
        }
        if !unfinished.iter().any(|t| ids.contains(t)) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(WAIT_POLL) => {}
            _ = h.wake.notified() => {}
            _ = &mut local_done => {}
            _ = h.cancel.cancelled() => return Err(TaskError::Canceled),
        }
    }
    Ok(ctx.hub.task_wait_results(parent, ids).await?)
}

// ----- buildArch -----

async fn handle_build_arch(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let pkg = param_str(task, 0, "pkg")?;
    let arch = param_str(task, 2, "arch")?.to_owned();
    let keep_srpm = opt_param(task, 3, "keep_srpm").is_truthy();
    let opts = opt_param(task, 4, "opts");
    let (srpm_path, info) = read_work_srpm(&ctx.cfg, pkg).await?;
    tracing::info!(task = id, nvr = %info.nvr(), arch = %arch, "buildArch");

    let Some(repo_id) = opts.get("repo_id").and_then(Value::as_i64) else {
        // An older parent (or a hand-made task) without a repo: build as before.
        tracing::info!(
            task = id,
            "buildArch without a repo_id: BuildRequires are not checked"
        );
        return build_in_task_dir(ctx, id, h, srpm_path, arch, keep_srpm, Vec::new(), None).await;
    };
    // The buildroot exists on the hub from here until the build ends, whatever its
    // outcome: while it is BUILDING, the repo counts as in use and is not deleted.
    let br = repotasks::open_buildroot(ctx, id, repo_id, &arch).await?;
    let outcome = async {
        let notes = repotasks::check_build_requires(ctx, id, &br, &info).await?;
        build_in_task_dir(ctx, id, h, srpm_path, arch, keep_srpm, notes, Some(br.id)).await
    }
    .await;
    repotasks::expire_buildroot(ctx, id, &br).await;
    outcome
}

/// The build proper: rpmbuild in the task directory, logs uploaded as they grow, then
/// the RPMs. `brootid` is reported in the result (Koji's `brootid`).
#[allow(clippy::too_many_arguments)]
async fn build_in_task_dir(
    ctx: &TaskCtx,
    id: i64,
    h: &TaskHandles,
    srpm_path: PathBuf,
    arch: String,
    keep_srpm: bool,
    root_notes: Vec<String>,
    brootid: Option<i64>,
) -> Result<Value, TaskError> {
    let dir = TaskDir::new(&ctx.cfg.work_dir, id);
    let d2 = dir.clone();
    tokio::task::spawn_blocking(move || d2.prepare())
        .await
        .map_err(|e| TaskError::Fault(Fault::generic(format!("preparing the task dir: {e}"))))?
        .map_err(|e| {
            TaskError::Fault(Fault::generic(format!(
                "preparing {}: {e}",
                dir.root().display()
            )))
        })?;
    let upload_path = dir.upload_path();
    let job = BuildJob {
        task_id: id,
        srpm: srpm_path.clone(),
        arch,
        backend: ctx.backend.clone(),
        root_notes,
    };
    let log_list = executor::log_files(&job.backend, &dir);
    let mut tails: Vec<LogTail> = log_list
        .iter()
        .map(|(p, n)| LogTail::new(p.clone(), n.clone()))
        .collect();

    let result = {
        let build = executor::run_build(&job, &dir, &h.cancel);
        tokio::pin!(build);
        let mut tick = tokio::time::interval(LOG_UPLOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = &mut build => break r,
                _ = tick.tick() => sync_logs(&ctx.hub, &mut tails, &upload_path, id).await,
            }
        }
    };
    if matches!(result, Err(ExecError::Canceled)) || h.cancel.is_cancelled() {
        let _ = dir.remove();
        return Err(TaskError::Canceled);
    }
    sync_logs(&ctx.hub, &mut tails, &upload_path, id).await;
    let products = match result {
        Ok(p) => p,
        Err(ExecError::BuildFailed(reason)) => return Err(build_error(reason)),
        Err(ExecError::Canceled) => return Err(TaskError::Canceled),
        Err(e @ ExecError::Io { .. }) => {
            return Err(TaskError::Fault(Fault::generic(e.to_string())));
        }
    };

    let mut rpms = Vec::new();
    for p in &products.rpms {
        rpms.push(upload_one(ctx, &upload_path, p).await?);
    }
    let mut srpms = Vec::new();
    if keep_srpm {
        // rpmbuild --rebuild writes no SRPM: the source RPM is the build's SRPM.
        let src = products.srpms.first().unwrap_or(&srpm_path);
        srpms.push(upload_one(ctx, &upload_path, src).await?);
    }
    let logs: Vec<Value> = tails
        .iter()
        // only what is really on the hub: the import refuses missing files
        .filter(|t| t.uploaded())
        .map(|t| Value::String(format!("{upload_path}/{}", t.name())))
        .collect();
    let d2 = dir.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || d2.remove()).await {
        tracing::warn!(task = id, "cannot remove {}: {e}", dir.root().display());
    }
    let mut r = Struct::new();
    r.insert("rpms".into(), Value::Array(rpms));
    r.insert("srpms".into(), Value::Array(srpms));
    r.insert("logs".into(), Value::Array(logs));
    r.insert("brootid".into(), brootid.map_or(Value::Nil, Value::Int));
    Ok(Value::Struct(r))
}

async fn sync_logs(hub: &Hub, tails: &mut [LogTail], upload_path: &str, id: i64) {
    for t in tails.iter_mut() {
        if let Err(e) = t.sync(hub, upload_path).await {
            tracing::warn!(task = id, log = t.name(), "log upload: {e}");
        }
    }
}

pub(crate) async fn upload_one(
    ctx: &TaskCtx,
    upload_path: &str,
    p: &std::path::Path,
) -> Result<Value, TaskError> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            TaskError::Fault(Fault::generic(format!("bad file name {}", p.display())))
        })?;
    upload_file(ctx.hub.as_ref(), upload_path, p, &name)
        .await
        .map_err(|e| TaskError::Fault(Fault::generic(format!("upload failed: {e}"))))?;
    Ok(Value::String(format!("{upload_path}/{name}")))
}

// ----- tagBuild -----

async fn handle_tag_build(ctx: &TaskCtx, task: &OpenedTask) -> Result<Value, TaskError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(task_weight("build"), 0.2);
        assert_eq!(task_weight("buildArch"), 1.5);
        assert_eq!(task_weight("tagBuild"), 1.0);
        assert_eq!(task_weight("newRepo"), 0.1);
        assert_eq!(task_weight("createrepo"), 1.5);
        assert_eq!(task_weight("other"), 1.0);
    }

    #[test]
    fn hub_faults_pass_through() {
        let e: TaskError =
            HubError::Client(koji_protocol::ClientError::Fault(Fault::new(1005, "boom"))).into();
        match e {
            TaskError::Fault(f) => assert_eq!((f.code, f.string.as_str()), (1005, "boom")),
            TaskError::Canceled => panic!("fault expected"),
        }
    }
}
