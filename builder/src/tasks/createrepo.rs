//! `createrepo`: the repodata of one arch of a repo. Reads the RPMs the pkglist names
//! (through the metadata cache), merges the tag's external repos by their merge mode,
//! writes the repodata and uploads it for `host.repoDone`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kkoji_repodata::{
    Groups, MergeInput, MergeMode, MetaCache, OnBadRpm, PackageMeta, ReadOptions,
    ReadPackagesOptions, RpmFile, WriteOptions,
};
use koji_protocol::{Struct, Value};

use crate::hub::{OpenedTask, get_i64, get_str};
use crate::probe::on_thread;
use crate::taskdir::TaskDir;
use crate::tasks::context::{
    TaskCtx, TaskError, TaskHandles, generic, param, param_i64, param_str,
};
use crate::tasks::files::upload_one;
use crate::tasks::repos::{FS_TIMEOUT, REPO_INIT, repo_dir, repo_state_name, safe_component};

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

pub(crate) async fn run(
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

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

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
}
