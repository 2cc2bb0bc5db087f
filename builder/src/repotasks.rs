//! Buildroot repos: the `newRepo` and `createrepo` task handlers, the `build` task's wait
//! for a current repo of its build tag, and the `buildArch` side (buildroot bookkeeping
//! and the BuildRequires check against the repo).
//!
//! The division of work follows Koji (see docs/repos-contract.md): the hub decides what
//! goes into a repo (`host.repoInit` writes per-arch `pkglist`/`blocklist`), builders turn
//! that into repodata (one `createrepo` task per arch, so arches are built in parallel,
//! possibly on different builders) and upload it, and `host.repoDone` publishes it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kkoji_repodata::{
    Groups, MergeInput, MergeMode, MetaCache, OnBadRpm, PackageMeta, ReadOptions,
    ReadPackagesOptions, RepoReadOptions, RpmFile, WriteOptions,
};
use koji_protocol::{Fault, Struct, Value};

use crate::deps::RepoIndex;
use crate::hub::OpenedTask;
use crate::hub::{get_i64, get_str};
use crate::probe::on_thread;
use crate::srpm::{SrpmInfo, canon_arch};
use crate::taskdir::TaskDir;
use crate::tasks::{
    TaskCtx, TaskError, TaskHandles, build_error, param, param_error, param_i64, param_str,
    upload_one, wait_children,
};

/// koji.REPO_STATES.
pub const REPO_INIT: i64 = 0;
pub const REPO_READY: i64 = 1;
pub const REPO_EXPIRED: i64 = 2;

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
/// Small file reads and directory listings in topdir (NFS) must not hang a task forever.
const FS_TIMEOUT: Duration = Duration::from_secs(120);
/// Reading a whole repo's metadata (filelists of thousands of packages) over NFS.
const REPODATA_READ_TIMEOUT: Duration = Duration::from_secs(600);

fn generic(msg: impl Into<String>) -> TaskError {
    TaskError::Fault(Fault::generic(msg))
}

fn repo_state_name(state: i64) -> &'static str {
    match state {
        0 => "INIT",
        1 => "READY",
        2 => "EXPIRED",
        3 => "DELETED",
        4 => "PROBLEM",
        _ => "UNKNOWN",
    }
}

/// A name that becomes one path component under topdir (tag names, arches): it must not
/// climb out of the repos tree whatever the hub or the task parameters say.
fn safe_component(what: &str, s: &str) -> Result<(), TaskError> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(param_error(format!("invalid {what}: {s:?}")));
    }
    Ok(())
}

/// `TOPDIR/repos/<tag_name>/<repo_id>`.
pub fn repo_dir(topdir: &Path, tag_name: &str, repo_id: i64) -> PathBuf {
    topdir
        .join("repos")
        .join(tag_name)
        .join(repo_id.to_string())
}

/// The arch directories of a repo: those with a `pkglist` (as kojid finds them), sorted.
pub fn list_repo_arches(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for ent in std::fs::read_dir(dir)? {
        let ent = ent?;
        let Some(name) = ent.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name != "groups" && ent.path().join("pkglist").is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

// ----- newRepo -----

/// How the task names its tag.
#[derive(Debug, Clone, PartialEq)]
pub enum TagRef {
    Id(i64),
    Name(String),
    /// The repo queue's `{'id': .., 'name': ..}`: no lookup needed.
    Info {
        id: i64,
        name: String,
    },
}

impl TagRef {
    fn to_value(&self) -> Value {
        match self {
            TagRef::Id(i) | TagRef::Info { id: i, .. } => Value::Int(*i),
            TagRef::Name(n) => Value::from(n.as_str()),
        }
    }
}

/// The parameters of a `newRepo` task, from either call form.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRepoArgs {
    pub tag: TagRef,
    pub event: Option<i64>,
    /// `Nil` (the hub's defaults) or a struct of repo options.
    pub opts: Value,
}

/// Parses `newRepo(tag, event=None, src=None, debuginfo=None, separate_src=None,
/// opts=None)`: the legacy form of `koji regen-repo` / the `newRepo` API (flags) and the
/// repo queue's form (`tagspec, opts={...}, event=N`, kwargs in `__starstar`). As kojid,
/// legacy flags become `opts` and cannot be combined with it.
pub fn parse_new_repo_args(params: &[Value], kwargs: &Struct) -> Result<NewRepoArgs, String> {
    const NAMES: [&str; 6] = ["tag", "event", "src", "debuginfo", "separate_src", "opts"];
    if params.len() > NAMES.len() {
        return Err(format!(
            "newRepo takes at most {} arguments ({} given)",
            NAMES.len(),
            params.len()
        ));
    }
    for k in kwargs.keys() {
        match NAMES.iter().position(|n| n == k) {
            None => return Err(format!("newRepo got an unexpected keyword argument '{k}'")),
            Some(i) if i < params.len() => {
                return Err(format!("newRepo got multiple values for argument '{k}'"));
            }
            Some(_) => {}
        }
    }
    let get = |i: usize| -> Option<&Value> {
        params
            .get(i)
            .or_else(|| kwargs.get(NAMES[i]))
            .filter(|v| !v.is_nil())
    };
    let tag = match get(0) {
        None => return Err("newRepo: missing parameter tag".into()),
        Some(Value::String(s)) => TagRef::Name(s.clone()),
        Some(v @ Value::Struct(_)) => {
            let id = get_i64(v, "id");
            let name = get_str(v, "name").map(str::to_owned);
            match (id, name) {
                (Some(id), Some(name)) => TagRef::Info { id, name },
                (Some(id), None) => TagRef::Id(id),
                (None, Some(name)) => TagRef::Name(name),
                (None, None) => return Err("newRepo: the tag has neither id nor name".into()),
            }
        }
        Some(v) => match v.as_i64() {
            Some(i) => TagRef::Id(i),
            None => return Err(format!("newRepo: invalid tag: {}", v.type_name())),
        },
    };
    let event = match get(1) {
        None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| format!("newRepo: event must be an int, not {}", v.type_name()))?,
        ),
    };
    let mut legacy = Struct::new();
    for (i, key) in [(2, "src"), (3, "debuginfo"), (4, "separate_src")] {
        if let Some(v) = get(i) {
            legacy.insert(key.to_owned(), Value::Bool(v.is_truthy()));
        }
    }
    let opts = match get(5) {
        None => Value::Nil,
        Some(v @ Value::Struct(_)) => v.clone(),
        Some(v) => {
            return Err(format!(
                "newRepo: opts must be a dict, not {}",
                v.type_name()
            ));
        }
    };
    let opts = match (legacy.is_empty(), opts.is_nil()) {
        (true, _) => opts,
        (false, true) => Value::Struct(legacy),
        (false, false) => {
            return Err("opts parameter cannot be combined with legacy options".into());
        }
    };
    Ok(NewRepoArgs { tag, event, opts })
}

pub(crate) async fn handle_new_repo(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let args = parse_new_repo_args(&task.params, &task.kwargs).map_err(param_error)?;
    let (tag_id, tag_name) = match &args.tag {
        TagRef::Info { id, name } => (*id, name.clone()),
        other => {
            let mut kw = Struct::new();
            kw.insert("strict".into(), Value::Bool(true));
            if let Some(ev) = args.event {
                kw.insert("event".into(), Value::Int(ev));
            }
            let t = ctx
                .hub
                .call_kw("getTag", vec![other.to_value()], kw)
                .await?;
            let tid = get_i64(&t, "id").ok_or_else(|| generic("getTag returned no tag id"))?;
            let name = get_str(&t, "name")
                .ok_or_else(|| generic("getTag returned no tag name"))?
                .to_owned();
            (tid, name)
        }
    };
    safe_component("tag name", &tag_name)?;

    // As kojid: without the repos dir (a missing mount) nothing this task does can work.
    let repos_top = ctx.cfg.topdir.join("repos");
    let rt = repos_top.clone();
    let present = on_thread("stat repos dir", FS_TIMEOUT, move || Ok(rt.is_dir()))
        .await
        .map_err(generic)?;
    if !present {
        return Err(generic(format!(
            "No access to repos dir {}",
            repos_top.display()
        )));
    }

    let mut kw = Struct::new();
    kw.insert("task_id".into(), Value::Int(id));
    kw.insert("opts".into(), args.opts.clone());
    if let Some(ev) = args.event {
        kw.insert("event".into(), Value::Int(ev));
    }
    let init = ctx
        .hub
        .call_kw("host.repoInit", vec![Value::Int(tag_id)], kw)
        .await?;
    let (repo_id, event_id) = match init.as_array() {
        Some([r, e, ..]) => (r.as_i64(), e.as_i64()),
        _ => (None, None),
    };
    let (Some(repo_id), Some(event_id)) = (repo_id, event_id) else {
        return Err(generic("host.repoInit did not return [repo_id, event_id]"));
    };
    tracing::info!(task = id, tag = %tag_name, repo = repo_id, event = event_id, "repo initialized");

    let dir = repo_dir(&ctx.cfg.topdir, &tag_name, repo_id);
    let d = dir.clone();
    let arches = on_thread("list repo arches", FS_TIMEOUT, move || {
        if !d.is_dir() {
            return Err(format!("Repo directory missing: {}", d.display()));
        }
        list_repo_arches(&d).map_err(|e| format!("cannot list {}: {e}", d.display()))
    })
    .await
    .map_err(generic)?;

    let mut data = Struct::new();
    if arches.is_empty() {
        tracing::info!(
            task = id,
            repo = repo_id,
            "the tag has no arches: empty repo"
        );
    } else {
        // The previous repo, for createrepo to start from (Koji's --update); kkoji's
        // metadata cache makes it optional, but the argument keeps kojid's task shape.
        let oldrepo = ctx.hub.call("getRepo", vec![Value::Int(tag_id)]).await?;
        let mut children = Vec::with_capacity(arches.len());
        for arch in &arches {
            let child = ctx
                .hub
                .subtask(
                    "createrepo",
                    vec![
                        Value::Int(repo_id),
                        Value::from(arch.as_str()),
                        oldrepo.clone(),
                    ],
                    id,
                    arch,
                    "noarch",
                )
                .await?;
            tracing::info!(task = id, child, arch = %arch, "createrepo subtask");
            children.push((arch.clone(), child));
        }
        let ids: Vec<i64> = children.iter().map(|c| c.1).collect();
        let results = wait_children(ctx, id, h, &ids).await?;
        for (arch, child) in &children {
            let r = results
                .iter()
                .find(|(i, _)| i == child)
                .map(|(_, r)| r)
                .ok_or_else(|| generic(format!("no result from createrepo task {child}")))?;
            let ok = matches!(r.as_array(), Some([p, files])
                if p.as_str().is_some()
                    && files.as_array().is_some_and(|f| f.iter().all(|x| x.as_str().is_some())));
            if !ok {
                return Err(generic(format!(
                    "createrepo task {child} returned {} instead of [uploadpath, [files]]",
                    r.type_name()
                )));
            }
            data.insert(arch.clone(), r.clone());
        }
    }
    ctx.hub
        .call(
            "host.repoDone",
            vec![Value::Int(repo_id), Value::Struct(data)],
        )
        .await?;
    tracing::info!(task = id, tag = %tag_name, repo = repo_id, "repo done");
    Ok(Value::Array(vec![
        Value::Int(repo_id),
        Value::Int(event_id),
    ]))
}

// ----- createrepo -----

/// Where a pkglist line points: lines are `toplink/packages/...` relative to the arch
/// dir, and `toplink` is a symlink to topdir. The path through topdir itself is used for
/// reading, so the metadata cache recognises the same file in every repo of every tag.
fn pkglist_path(topdir: &Path, arch_dir: &Path, line: &str) -> Result<PathBuf, String> {
    if line.starts_with('/') || line.split('/').any(|c| c == "..") {
        return Err(format!("invalid pkglist entry: {line}"));
    }
    Ok(match line.strip_prefix("toplink/") {
        Some(rest) => topdir.join(rest),
        None => arch_dir.join(line),
    })
}

fn read_lines(p: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Does an external repo apply to `arch`? (Its `arches` field lists the arches it is for;
/// empty means all.)
pub fn external_repo_applies(erepo: &Value, arch: &str) -> bool {
    match get_str(erepo, "arches") {
        Some(a) if !a.trim().is_empty() => a.split_whitespace().any(|x| x == arch),
        _ => true,
    }
}

/// An external repo's URL for one arch (`$arch` expanded), ending in `/` so that it can
/// serve as the `xml:base` of its packages.
pub fn external_repo_url(url: &str, arch: &str) -> String {
    let mut u = url.replace("$arch", arch);
    if !u.ends_with('/') {
        u.push('/');
    }
    u
}

pub(crate) async fn handle_createrepo(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
) -> Result<Value, TaskError> {
    let id = task.id;
    let repo_id = param_i64(task, 0, "repo_id")?;
    let arch = param_str(task, 1, "arch")?.to_owned();
    safe_component("arch", &arch)?;
    let oldrepo = param(task, 2, "oldrepo")
        .map(|v| get_i64(v, "id"))
        .unwrap_or(None);

    let rinfo = ctx
        .hub
        .call("repoInfo", vec![Value::Int(repo_id), Value::Bool(true)])
        .await?;
    let state = get_i64(&rinfo, "state").unwrap_or(-1);
    if state != REPO_INIT {
        return Err(generic(format!(
            "Repo {repo_id} not in INIT state (got {})",
            repo_state_name(state)
        )));
    }
    let tag_name = get_str(&rinfo, "tag_name")
        .ok_or_else(|| generic(format!("repoInfo({repo_id}) has no tag_name")))?
        .to_owned();
    safe_component("tag name", &tag_name)?;
    let tag_id = get_i64(&rinfo, "tag_id")
        .ok_or_else(|| generic(format!("repoInfo({repo_id}) has no tag_id")))?;
    let create_event = get_i64(&rinfo, "create_event");
    tracing::info!(task = id, repo = repo_id, tag = %tag_name, arch = %arch, ?oldrepo, "createrepo");

    let top = repo_dir(&ctx.cfg.topdir, &tag_name, repo_id);
    let arch_dir = top.join(&arch);
    let topdir = ctx.cfg.topdir.clone();
    let (ad, tp) = (arch_dir.clone(), topdir.clone());
    let (files, blocked, comps) = on_thread("read pkglist", FS_TIMEOUT, move || {
        if !ad.is_dir() {
            return Err(format!("Repo directory missing: {}", ad.display()));
        }
        let mut files = Vec::new();
        for line in read_lines(&ad.join("pkglist"))? {
            files.push(RpmFile {
                path: pkglist_path(&tp, &ad, &line)?,
                location_href: line,
            });
        }
        let blocklist = ad.join("blocklist");
        let blocked: HashSet<String> = if blocklist.exists() {
            read_lines(&blocklist)?.into_iter().collect()
        } else {
            HashSet::new()
        };
        let comps = ad.parent().map(|p| p.join("groups").join("comps.xml"));
        Ok((files, blocked, comps.filter(|c| c.is_file())))
    })
    .await
    .map_err(generic)?;
    tracing::info!(
        task = id,
        packages = files.len(),
        blocked = blocked.len(),
        "pkglist read"
    );

    let dir = TaskDir::new(&ctx.cfg.work_dir, id);
    let outcome = build_arch_repodata(
        ctx,
        task,
        h,
        &dir,
        repo_id,
        &tag_name,
        tag_id,
        create_event,
        &arch,
        files,
        blocked,
        comps,
    )
    .await;
    let d2 = dir.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || d2.remove()).await {
        tracing::warn!(task = id, "cannot remove {}: {e}", dir.root().display());
    }
    outcome
}

/// Runs a blocking job on the blocking pool, giving up (and leaving it to finish in the
/// background) when the task is canceled.
async fn blocking<T: Send + 'static>(
    h: &TaskHandles,
    what: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, TaskError> {
    let job = tokio::task::spawn_blocking(f);
    tokio::select! {
        r = job => r.map_err(|e| generic(format!("{what}: {e}")))?.map_err(generic),
        _ = h.cancel.cancelled() => Err(TaskError::Canceled),
    }
}

#[allow(clippy::too_many_arguments)]
async fn build_arch_repodata(
    ctx: &TaskCtx,
    task: &OpenedTask,
    h: &TaskHandles,
    dir: &TaskDir,
    repo_id: i64,
    tag_name: &str,
    tag_id: i64,
    create_event: Option<i64>,
    arch: &str,
    files: Vec<RpmFile>,
    blocked: HashSet<String>,
    comps: Option<PathBuf>,
) -> Result<Value, TaskError> {
    let id = task.id;
    let root = dir.root().to_path_buf();
    let outdir = root.join("repo");
    let extdir = root.join("external");
    let cache_dir = ctx.cfg.work_dir.join("repodata-cache");
    // compressed chunks of earlier runs: only chunks whose packages changed are compressed
    let chunk_dir = cache_dir.join("chunks");
    let label = format!("repo {repo_id} ({tag_name} {arch})");

    // The tag's own packages, through the metadata cache: a regeneration after one new
    // build reads only that build's RPMs.
    let l = label.clone();
    let (od, ed) = (outdir.clone(), extdir.clone());
    let local = blocking(h, "reading the RPMs", move || {
        let _ = std::fs::remove_dir_all(&root);
        for d in [&od, &ed] {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        let cache = MetaCache::open(&cache_dir)
            .map_err(|e| format!("metadata cache {}: {e}", cache_dir.display()))?;
        let started = Instant::now();
        let opts = ReadPackagesOptions {
            cache: Some(&cache),
            read: ReadOptions::default(),
            on_bad_rpm: OnBadRpm::Fail,
            ..ReadPackagesOptions::default()
        };
        let pkgs = kkoji_repodata::read_packages(&files, &opts).map_err(|e| format!("{l}: {e}"))?;
        tracing::info!(
            packages = pkgs.len(),
            read = cache.rpm_reads(),
            cached = cache.hits(),
            secs = started.elapsed().as_secs_f64(),
            "{l}: RPM headers read"
        );
        Ok(pkgs)
    })
    .await?;

    // The tag's external repos at the repo's event, in priority order.
    let mut kw = Struct::new();
    if let Some(ev) = create_event {
        kw.insert("event".into(), Value::Int(ev));
    }
    let erepos = ctx
        .hub
        .call_kw("getExternalRepoList", vec![Value::Int(tag_id)], kw)
        .await?;
    let erepos: Vec<Value> = erepos.as_array().map(<[Value]>::to_vec).unwrap_or_default();
    let mut inputs = vec![MergeInput {
        packages: local,
        mode: MergeMode::Koji,
        location_base: None,
        name: tag_name.to_owned(),
    }];
    let timeout = Duration::from_secs(ctx.cfg.external_repo_timeout_secs);
    for (n, er) in erepos.iter().enumerate() {
        let name = get_str(er, "external_repo_name")
            .unwrap_or("external repo")
            .to_owned();
        if !external_repo_applies(er, arch) {
            tracing::info!(task = id, repo = %name, arch, "external repo is not for this arch; skipped");
            continue;
        }
        let raw = get_str(er, "url")
            .ok_or_else(|| generic(format!("external repo {name} has no url")))?;
        let url = external_repo_url(raw, arch);
        let mode: MergeMode = get_str(er, "merge_mode")
            .unwrap_or("koji")
            .parse()
            .map_err(|e| generic(format!("external repo {name}: {e}")))?;
        let dest = extdir.join(n.to_string());
        let (u, nm) = (url.clone(), name.clone());
        tracing::info!(task = id, repo = %name, url = %url, mode = %mode, "reading external repo");
        let packages = blocking(h, "reading an external repo", move || {
            kkoji_repodata::read_remote_repo(&u, &dest, timeout)
                .map_err(|e| format!("cannot read external repo {nm} at {u}: {e}"))
        })
        .await?;
        tracing::info!(task = id, repo = %name, packages = packages.len(), "external repo read");
        inputs.push(MergeInput {
            packages,
            mode,
            location_base: Some(url),
            name,
        });
    }
    kkoji_repodata::check_merge_modes(&inputs).map_err(|e| generic(e.to_string()))?;
    let external = inputs.len() > 1;

    let compression = ctx.cfg.repo_compression.to_repodata();
    let arch_owned = arch.to_owned();
    let od = outdir.clone();
    let l = label.clone();
    let names = blocking(h, "writing repodata", move || {
        let merged: Vec<PackageMeta> = kkoji_repodata::merge_repos(inputs, &blocked, &arch_owned);
        let opts = WriteOptions {
            compression,
            groups: comps.map(Groups::File),
            revision: None,
            chunk_cache: Some(chunk_dir),
        };
        kkoji_repodata::write_repo(&od, &merged, &opts)
            .map_err(|e| format!("{l}: writing repodata: {e}"))?;
        tracing::info!(packages = merged.len(), external, "{l}: repodata written");
        let datadir = od.join("repodata");
        let mut names = Vec::new();
        for ent in std::fs::read_dir(&datadir)
            .map_err(|e| format!("cannot list {}: {e}", datadir.display()))?
        {
            let ent = ent.map_err(|e| format!("cannot list {}: {e}", datadir.display()))?;
            if ent.path().is_file()
                && let Some(n) = ent.file_name().to_str()
            {
                names.push(n.to_owned());
            }
        }
        names.sort();
        Ok(names)
    })
    .await?;

    let upload_path = dir.upload_path();
    let datadir = outdir.join("repodata");
    for n in &names {
        if h.cancel.is_cancelled() {
            return Err(TaskError::Canceled);
        }
        upload_one(ctx, &upload_path, &datadir.join(n)).await?;
    }
    tracing::info!(task = id, files = names.len(), path = %upload_path, "repodata uploaded");
    Ok(Value::Array(vec![
        Value::from(upload_path.as_str()),
        Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect()),
    ]))
}

// ----- build: waiting for the buildroot repo -----

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

// ----- buildArch: buildroot and BuildRequires -----

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
    use koji_protocol::kstruct;

    fn kw(pairs: &[(&str, Value)]) -> Struct {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn new_repo_legacy_form() {
        let a = parse_new_repo_args(&[Value::from("f40-build")], &Struct::new()).unwrap();
        assert_eq!(
            a,
            NewRepoArgs {
                tag: TagRef::Name("f40-build".into()),
                event: None,
                opts: Value::Nil
            }
        );
        // koji regen-repo --debuginfo: positional tag, kwargs flags
        let a = parse_new_repo_args(
            &[Value::Int(7)],
            &kw(&[("debuginfo", Value::Bool(true)), ("event", Value::Int(99))]),
        )
        .unwrap();
        assert_eq!(a.tag, TagRef::Id(7));
        assert_eq!(a.event, Some(99));
        assert_eq!(a.opts, kstruct! {"debuginfo" => true});
        // all positional, with Nones
        let a = parse_new_repo_args(
            &[
                Value::from("t"),
                Value::Nil,
                Value::Bool(true),
                Value::Bool(false),
                Value::Nil,
            ],
            &Struct::new(),
        )
        .unwrap();
        assert_eq!(a.event, None);
        assert_eq!(a.opts, kstruct! {"src" => true, "debuginfo" => false});
    }

    #[test]
    fn new_repo_queue_form() {
        let a = parse_new_repo_args(
            &[kstruct! {"id" => 5, "name" => "f40-build"}],
            &kw(&[
                (
                    "opts",
                    kstruct! {"src" => false, "debuginfo" => false, "separate_src" => false},
                ),
                ("event", Value::Int(1234)),
            ]),
        )
        .unwrap();
        assert_eq!(
            a.tag,
            TagRef::Info {
                id: 5,
                name: "f40-build".into()
            }
        );
        assert_eq!(a.event, Some(1234));
        assert_eq!(a.opts.get("separate_src"), Some(&Value::Bool(false)));
        // a tagspec with only an id is looked up
        let a = parse_new_repo_args(&[kstruct! {"id" => 5}], &Struct::new()).unwrap();
        assert_eq!(a.tag, TagRef::Id(5));
    }

    #[test]
    fn new_repo_bad_calls() {
        let e = |p: &[Value], k: Struct| parse_new_repo_args(p, &k).unwrap_err();
        assert_eq!(
            e(
                &[Value::from("t")],
                kw(&[
                    ("src", Value::Bool(true)),
                    ("opts", kstruct! {"src" => true})
                ])
            ),
            "opts parameter cannot be combined with legacy options"
        );
        assert!(e(&[], Struct::new()).contains("missing parameter tag"));
        assert!(e(&[Value::from("t")], kw(&[("bogus", Value::Int(1))])).contains("'bogus'"));
        assert!(e(&[Value::from("t")], kw(&[("tag", Value::from("u"))])).contains("multiple"));
        assert!(e(&[Value::from("t"), Value::from("x")], Struct::new()).contains("event"));
        assert!(e(&[Value::from("t")], kw(&[("opts", Value::Int(1))])).contains("dict"));
        assert!(e(&[Value::Double(1.5)], Struct::new()).contains("invalid tag"));
    }

    #[test]
    fn pkglist_paths_go_through_topdir() {
        let top = Path::new("/mnt/koji");
        let ad = Path::new("/mnt/koji/repos/t/5/x86_64");
        assert_eq!(
            pkglist_path(
                top,
                ad,
                "toplink/packages/foo/1/1/noarch/foo-1-1.noarch.rpm"
            )
            .unwrap(),
            Path::new("/mnt/koji/packages/foo/1/1/noarch/foo-1-1.noarch.rpm")
        );
        assert_eq!(
            pkglist_path(top, ad, "local/x.rpm").unwrap(),
            Path::new("/mnt/koji/repos/t/5/x86_64/local/x.rpm")
        );
        assert!(pkglist_path(top, ad, "toplink/../../etc/passwd").is_err());
        assert!(pkglist_path(top, ad, "/etc/passwd").is_err());
    }

    #[test]
    fn external_repo_arches_and_urls() {
        assert!(external_repo_applies(
            &kstruct! {"arches" => None::<&str>},
            "x86_64"
        ));
        assert!(external_repo_applies(&kstruct! {"arches" => ""}, "x86_64"));
        assert!(external_repo_applies(
            &kstruct! {"arches" => "aarch64 x86_64"},
            "x86_64"
        ));
        assert!(!external_repo_applies(
            &kstruct! {"arches" => "aarch64"},
            "x86_64"
        ));
        assert_eq!(
            external_repo_url("https://m.example/f40/$arch/os", "x86_64"),
            "https://m.example/f40/x86_64/os/"
        );
        assert_eq!(external_repo_url("file:///r/", "x"), "file:///r/");
    }

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

    #[test]
    fn lists_arch_dirs_with_pkglist() {
        let tmp = tempfile::tempdir().unwrap();
        for a in ["x86_64", "aarch64", "groups"] {
            std::fs::create_dir_all(tmp.path().join(a)).unwrap();
            std::fs::write(tmp.path().join(a).join("pkglist"), "").unwrap();
        }
        std::fs::create_dir_all(tmp.path().join("noarch-without-pkglist")).unwrap();
        std::fs::write(tmp.path().join("repo.json"), "{}").unwrap();
        assert_eq!(
            list_repo_arches(tmp.path()).unwrap(),
            vec!["aarch64", "x86_64"]
        );
    }
}
