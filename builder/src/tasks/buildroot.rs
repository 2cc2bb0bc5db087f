//! Buildroots: the repo a `build` builds against (the one the user named, or a current
//! repo of the build tag, requested and waited for), and for each `buildArch` the
//! buildroot registered on that repo (which keeps the repo from being deleted while it
//! builds) and the check of the SRPM's BuildRequires against the repo's metadata.

use std::time::{Duration, Instant};

use kkoji_repodata::RepoReadOptions;
use koji_protocol::{Struct, Value};

use crate::deps::RepoIndex;
use crate::hub::{get_i64, get_str};
use crate::probe::on_thread;
use crate::srpm::{SrpmInfo, canon_arch};
use crate::tasks::context::{TaskCtx, TaskError, TaskHandles, build_error, generic};
use crate::tasks::repos::{
    FS_TIMEOUT, REPO_EXPIRED, REPO_READY, list_repo_arches, repo_dir, repo_state_name,
    safe_component,
};

/// koji.BR_STATES used by buildArch.
pub const BR_BUILDING: i64 = 2;
pub const BR_EXPIRED: i64 = 3;

/// koji.TASK_STATES used when explaining a failed repo request.
const TASK_CANCELED: i64 = 3;
const TASK_FAILED: i64 = 5;

/// How often a build asks whether its repo request is done: soon at first (a small
/// tag's repo takes seconds), then every few seconds.
const REPO_POLLS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
];
/// Reading a whole repo's metadata (filelists of thousands of packages) over NFS.
const REPODATA_READ_TIMEOUT: Duration = Duration::from_secs(600);

/// The repo a build uses: the one the user named (`--repo-id`, checked as kojid does) or
/// a current repo of the build tag, requested with `repo.request(min_event="last")` and
/// waited for (the hub's repo queue regenerates it) up to `repo_wait_timeout_secs`.
pub(crate) async fn buildroot_repo(
    ctx: &TaskCtx,
    task_id: i64,
    h: &TaskHandles,
    build_tag: i64,
    tag_name: &str,
    opts: &Value,
) -> Result<i64, TaskError> {
    if let Some(rid) = opts.get("repo_id").and_then(Value::as_i64) {
        let info = ctx.hub.call("repoInfo", vec![Value::Int(rid)]).await?;
        if info.is_nil() {
            return Err(build_error(format!("No such repo: {rid}")));
        }
        let state = get_i64(&info, "state").unwrap_or(-1);
        if state != REPO_READY && state != REPO_EXPIRED {
            return Err(build_error(format!(
                "Bad repo: {rid} ({})",
                repo_state_name(state)
            )));
        }
        if get_i64(&info, "tag_id") != Some(build_tag) {
            return Err(build_error(format!(
                "Repo/Target mismatch: {}/{tag_name}",
                get_str(&info, "tag_name").unwrap_or("?")
            )));
        }
        return Ok(rid);
    }
    // A waiting task's weight and slot do not count against the host's capacity and
    // maxjobs (on the hub and in our own readiness check), so the newRepo/createrepo tasks
    // this build may wait for can run here even when several builds wait at once (kojid
    // waits in a subtask). Set before asking: the newRepo task can reach this builder
    // before repo.request has even returned.
    ctx.hub.task_set_wait(task_id, &[]).await?;
    let mut kw = Struct::new();
    kw.insert("min_event".into(), Value::from("last"));
    let r = ctx
        .hub
        .call_kw("repo.request", vec![Value::Int(build_tag)], kw)
        .await?;
    if let Some(rid) = r.get("repo").and_then(|v| get_i64(v, "id")) {
        tracing::info!(
            task = task_id,
            tag = tag_name,
            repo = rid,
            "buildroot repo is current"
        );
        return Ok(rid);
    }
    let req_id = r
        .get("request")
        .and_then(|v| get_i64(v, "id"))
        .ok_or_else(|| {
            build_error(format!(
                "no repo for {tag_name}: repo.request returned neither a repo nor a request"
            ))
        })?;
    let timeout = Duration::from_secs(ctx.cfg.repo_wait_timeout_secs);
    tracing::info!(
        task = task_id,
        tag = tag_name,
        request = req_id,
        "waiting for a current buildroot repo"
    );
    let started = Instant::now();
    let mut last_note = Instant::now();
    let mut polls = REPO_POLLS.iter().copied();
    let mut poll = Duration::from_secs(1);
    loop {
        poll = polls.next().unwrap_or(poll);
        if started.elapsed() >= timeout {
            return Err(build_error(format!(
                "no repo for {tag_name}: still not ready after {}s (repo request {req_id})",
                timeout.as_secs()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = h.cancel.cancelled() => return Err(TaskError::Canceled),
        }
        let c = ctx
            .hub
            .call("repo.checkRequest", vec![Value::Int(req_id)])
            .await?;
        if let Some(rid) = c.get("repo").and_then(|v| get_i64(v, "id")) {
            tracing::info!(
                task = task_id,
                tag = tag_name,
                repo = rid,
                request = req_id,
                "buildroot repo ready"
            );
            return Ok(rid);
        }
        let req = c.get("request").cloned().unwrap_or(Value::Nil);
        if req.get("active").is_some_and(|a| !a.is_truthy()) {
            let reason = inactive_reason(ctx, req_id, &req, c.get("task")).await;
            return Err(build_error(format!("no repo for {tag_name}: {reason}")));
        }
        if last_note.elapsed() >= Duration::from_secs(60) {
            last_note = Instant::now();
            tracing::info!(
                task = task_id,
                tag = tag_name,
                request = req_id,
                repo_task = ?get_i64(&req, "task_id"),
                "still waiting for the buildroot repo"
            );
        }
    }
}

/// Why a repo request ended without a repo, in words: the failed newRepo task's own
/// fault text when there is one.
async fn inactive_reason(ctx: &TaskCtx, req_id: i64, req: &Value, task: Option<&Value>) -> String {
    let task_id = get_i64(req, "task_id").or_else(|| task.and_then(|t| get_i64(t, "id")));
    let state = get_i64(req, "task_state").or_else(|| task.and_then(|t| get_i64(t, "state")));
    match (task_id, state) {
        (Some(t), Some(TASK_FAILED)) => match ctx.hub.get_task_result(t).await {
            Err(e) => match e.fault() {
                Some(f) => format!("newRepo task {t} failed: {}", f.string),
                None => format!("newRepo task {t} failed"),
            },
            Ok(_) => format!("newRepo task {t} failed"),
        },
        (Some(t), Some(TASK_CANCELED)) => format!("newRepo task {t} was canceled"),
        (Some(t), _) => format!("repo request {req_id} is no longer active (newRepo task {t})"),
        (None, _) => format!("repo request {req_id} is no longer active"),
    }
}

/// The arch directory of the repo a buildArch for `arch` uses: the arch itself, or a
/// repo arch of the same family; for `noarch`, a repo arch this host can build for
/// (preferring the host's own arches, as kojid's `find_arch`).
pub fn choose_repo_arch(repo_arches: &[String], arch: &str, host_arches: &str) -> Option<String> {
    if arch != "noarch" {
        if repo_arches.iter().any(|a| a == arch) {
            return Some(arch.to_owned());
        }
        return repo_arches
            .iter()
            .find(|a| canon_arch(a) == canon_arch(arch))
            .cloned();
    }
    let host: Vec<&str> = host_arches
        .split_whitespace()
        .filter(|a| *a != "noarch")
        .map(canon_arch)
        .collect();
    repo_arches
        .iter()
        .find(|a| host.contains(&canon_arch(a)))
        .or_else(|| repo_arches.first())
        .cloned()
}

/// A buildroot registered on the hub for one buildArch.
pub(crate) struct Buildroot {
    pub id: i64,
    pub repo_id: i64,
    pub repo_arch: String,
    pub tag_name: String,
}

/// `host.newBuildRoot` + BUILDING: from now on the repo counts as referenced (the repo
/// cleaner keeps it) until [`expire_buildroot`].
pub(crate) async fn open_buildroot(
    ctx: &TaskCtx,
    task_id: i64,
    repo_id: i64,
    arch: &str,
) -> Result<Buildroot, TaskError> {
    let info = ctx
        .hub
        .call("repoInfo", vec![Value::Int(repo_id), Value::Bool(true)])
        .await?;
    let state = get_i64(&info, "state").unwrap_or(-1);
    if state != REPO_READY && state != REPO_EXPIRED {
        return Err(build_error(format!(
            "Requested repo ({repo_id}) is {}",
            repo_state_name(state)
        )));
    }
    let tag_name = get_str(&info, "tag_name")
        .ok_or_else(|| generic(format!("repoInfo({repo_id}) has no tag_name")))?
        .to_owned();
    safe_component("tag name", &tag_name)?;
    let dir = repo_dir(&ctx.cfg.topdir, &tag_name, repo_id);
    let d = dir.clone();
    let arches = on_thread("list repo arches", FS_TIMEOUT, move || {
        list_repo_arches(&d).map_err(|e| format!("cannot list repo {}: {e}", d.display()))
    })
    .await
    .map_err(generic)?;
    let repo_arch = choose_repo_arch(&arches, arch, &ctx.host.arches).ok_or_else(|| {
        build_error(format!(
            "repo {repo_id} of {tag_name} has no repodata for {arch} (arches: {})",
            if arches.is_empty() {
                "none".to_owned()
            } else {
                arches.join(" ")
            }
        ))
    })?;
    let mut kw = Struct::new();
    kw.insert("task_id".into(), Value::Int(task_id));
    let v = ctx
        .hub
        .call_kw(
            "host.newBuildRoot",
            vec![Value::Int(repo_id), Value::from(repo_arch.as_str())],
            kw,
        )
        .await?;
    let id = v
        .as_i64()
        .ok_or_else(|| generic("host.newBuildRoot returned no id"))?;
    ctx.hub
        .call(
            "host.setBuildRootState",
            vec![Value::Int(id), Value::Int(BR_BUILDING)],
        )
        .await?;
    tracing::info!(task = task_id, buildroot = id, repo = repo_id, arch = %repo_arch, "buildroot open");
    Ok(Buildroot {
        id,
        repo_id,
        repo_arch,
        tag_name,
    })
}

/// Marks the buildroot EXPIRED so the repo is no longer referenced by it. Never fails the
/// task: the build's own outcome is what counts; a leftover is logged.
pub(crate) async fn expire_buildroot(ctx: &TaskCtx, task_id: i64, br: &Buildroot) {
    if let Err(e) = ctx
        .hub
        .call(
            "host.setBuildRootState",
            vec![Value::Int(br.id), Value::Int(BR_EXPIRED)],
        )
        .await
    {
        tracing::warn!(
            task = task_id,
            buildroot = br.id,
            "cannot expire the buildroot: {e}"
        );
    }
}

/// Checks the SRPM's BuildRequires against the buildroot repo's metadata. Returns the
/// lines for root.log; unmet requirements fail the build with
/// `nothing provides <dep> needed by <nvr>.src (repo <id>)`, one clause per requirement.
pub(crate) async fn check_build_requires(
    ctx: &TaskCtx,
    task_id: i64,
    br: &Buildroot,
    info: &SrpmInfo,
) -> Result<Vec<String>, TaskError> {
    let repo = repo_dir(&ctx.cfg.topdir, &br.tag_name, br.repo_id).join(&br.repo_arch);
    let r = repo.clone();
    let pkgs = on_thread(
        "read buildroot repodata",
        REPODATA_READ_TIMEOUT,
        move || {
            kkoji_repodata::read_repo_with(
                &r,
                &RepoReadOptions {
                    filelists: true,
                    other: false,
                },
            )
            .map_err(|e| format!("cannot read the metadata of repo at {}: {e}", r.display()))
        },
    )
    .await
    .map_err(generic)?;
    let index = RepoIndex::new(&pkgs);
    let report = index.check(&info.requires);
    let src = format!("{}.src", info.nvr());
    let mut notes = vec![format!(
        "buildroot repo {} ({} {}), {} packages: {}",
        br.repo_id,
        br.tag_name,
        br.repo_arch,
        pkgs.len(),
        repo.display()
    )];
    for (req, by) in &report.met {
        tracing::debug!(task = task_id, requirement = %req, package = %by, "BuildRequires met");
        notes.push(format!("  BuildRequires {req}: {by}"));
    }
    for req in &report.skipped {
        notes.push(format!("  BuildRequires {req}: rpm feature, not checked"));
    }
    if !report.unmet.is_empty() {
        let msg = report
            .unmet
            .iter()
            .map(|d| format!("nothing provides {d} needed by {src} (repo {})", br.repo_id))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(build_error(msg));
    }
    tracing::info!(
        task = task_id,
        repo = br.repo_id,
        met = report.met.len(),
        "all BuildRequires are in the buildroot repo"
    );
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_arch_choice() {
        let arches = vec!["aarch64".to_owned(), "i686".to_owned(), "x86_64".to_owned()];
        assert_eq!(
            choose_repo_arch(&arches, "x86_64", "x86_64").as_deref(),
            Some("x86_64")
        );
        assert_eq!(
            choose_repo_arch(&arches, "i586", "x86_64").as_deref(),
            Some("i686")
        );
        assert_eq!(choose_repo_arch(&arches, "s390x", "x86_64"), None);
        // noarch: an arch the host builds, else the first
        assert_eq!(
            choose_repo_arch(&arches, "noarch", "x86_64 noarch").as_deref(),
            Some("x86_64")
        );
        assert_eq!(
            choose_repo_arch(&arches, "noarch", "ppc64le").as_deref(),
            Some("aarch64")
        );
        assert_eq!(choose_repo_arch(&[], "noarch", "x86_64"), None);
    }
}
