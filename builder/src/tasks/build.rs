//! `build`: the parent task of a build. Reads the SRPM, picks the arches, waits for a
//! current buildroot repo, spawns one `buildArch` per arch, waits for them, then imports
//! (`host.completeBuild`, or `host.moveBuildToScratch` for a scratch build) and tags the
//! build with a `tagBuild` subtask.

use koji_protocol::{Fault, Struct, Value};

use crate::hub::{OpenedTask, get_truthy};
use crate::srpm;
use crate::tasks::buildroot::buildroot_repo;
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles, build_error, opt_param, param_str};
use crate::tasks::files::read_work_srpm;
use crate::tasks::subtasks::wait_children;

pub(crate) async fn run(
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
    let repo_id = buildroot_repo(ctx, id, h, build_tag, tag_name, &opts).await?;

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
