//! `buildArch`: one rpmbuild for one arch. Registers a buildroot on the repo the parent
//! chose, checks the SRPM's BuildRequires against that repo, builds in the task
//! directory, uploads logs as they grow and then the RPMs.

use std::path::PathBuf;
use std::time::Duration;

use koji_protocol::{Fault, Struct, Value};

use crate::executor::{self, BuildJob, ExecError};
use crate::hub::{Hub, OpenedTask};
use crate::taskdir::TaskDir;
use crate::tasks::buildroot::{check_build_requires, expire_buildroot, open_buildroot};
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles, build_error, opt_param, param_str};
use crate::tasks::files::{read_work_srpm, upload_one};
use crate::uploads::LogTail;

/// How often logs are re-uploaded while a build runs.
const LOG_UPLOAD_INTERVAL: Duration = Duration::from_secs(2);

pub(crate) async fn run(
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
    let br = open_buildroot(ctx, id, repo_id, &arch).await?;
    let outcome = async {
        let notes = check_build_requires(ctx, id, &br, &info).await?;
        build_in_task_dir(ctx, id, h, srpm_path, arch, keep_srpm, notes, Some(br.id)).await
    }
    .await;
    expire_buildroot(ctx, id, &br).await;
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
