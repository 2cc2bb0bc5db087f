//! Builds and their RPMs: creation by builders (initBuild/completeBuild/failBuild), scratch
//! results, tagging, and the queries `download-build`, `latest-build`, `list-builds` and
//! `list-tagged` use.

use super::tags::{filters_pass, inheritance_order};
use super::tasks::assert_holds;
use super::{Named, get};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::rpmhdr::{self, RpmInfo};
use crate::storage::builds as store;
use crate::{safefs, topdir};
use std::path::{Path, PathBuf};

pub use crate::storage::builds::{
    BUILD_ORDER, Build, BuildFilter, ListedRpm, RPM_ORDER, Rpm, state,
};
use crate::storage::{Page, Paged};

/// How a caller names a build.
#[derive(Debug, Clone)]
pub enum BuildRef {
    Id(i32),
    /// name-version-release (the name may contain dashes).
    Nvr(String),
}

/// Split "name-version-release" (the name may contain dashes).
pub fn parse_nvr(s: &str) -> Option<(&str, &str, &str)> {
    let (rest, release) = s.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some((name, version, release))
}

/// The build named by `r`; an NVR that does not split is "invalid format".
pub async fn find(c: &mut Ctx, r: &BuildRef) -> HResult<Option<Build>> {
    match r {
        BuildRef::Id(id) => Ok(store::get(c.db().await?, *id).await?),
        BuildRef::Nvr(s) => {
            let Some((n, v, rel)) = parse_nvr(s) else {
                return Err(HubError::generic(format!("invalid format: {s}")));
            };
            Ok(store::by_nvr(c.db().await?, n, v, rel).await?)
        }
    }
}

/// listBuilds.
pub async fn list(c: &mut Ctx, f: &BuildFilter, page: &Page) -> HResult<Paged<Build>> {
    Ok(store::list(c.db().await?, f, page).await?)
}

/// cancelBuild: the owner or an admin cancels a BUILDING build and its task tree. False
/// when the build is not BUILDING (an error with `strict`).
pub async fn cancel(c: &mut Ctx, b: &Build, strict: bool) -> HResult<bool> {
    let me = c.assert_login()?.clone();
    if b.owner_id != me.user_id && !c.is_admin().await? {
        return Err(HubError::not_allowed("Cannot cancel build, not owner"));
    }
    if b.state != state::BUILDING {
        if strict {
            return Err(HubError::generic(format!(
                "Build {} is not in BUILDING state",
                b.nvr()
            )));
        }
        return Ok(false);
    }
    c.mark_write();
    store::finish(c.db().await?, b.id, None, state::CANCELED).await?;
    super::notifications::build_finished(c, b, state::CANCELED).await?;
    if let Some(t) = b.task_id {
        super::tasks::cancel(c, t, true).await?;
    }
    Ok(true)
}

/// What a builder starts a build with (`host.initBuild` data).
pub struct InitBuild {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    pub task_id: i32,
    pub source: Option<String>,
}

/// host.initBuild: a new BUILDING build owned by the task's owner (a failed or canceled
/// build of the same NVR is tried again under its id).
pub async fn init(c: &mut Ctx, host: i32, b: InitBuild) -> HResult<i32> {
    let task = assert_holds(c, host, b.task_id).await?;
    crate::names::check_internal(&b.name)?;
    crate::names::check_nvr(&b.name, &b.version, &b.release)?;
    let pkg = super::packages::ensure(c, &b.name).await?;
    let existing = store::id_and_state(c.db().await?, pkg, &b.version, &b.release).await?;
    let ev = c.event().await?;
    let db = c.db().await?;
    let id = match existing {
        Some((id, st)) if st == state::FAILED || st == state::CANCELED => {
            store::restart(db, id, b.task_id, task.owner, b.epoch, ev).await?;
            id
        }
        Some((id, st)) => {
            let sname = match st {
                state::BUILDING => "BUILDING",
                state::COMPLETE => "COMPLETE",
                _ => "DELETED",
            };
            return Err(HubError::generic(format!(
                "Build already exists (id={id}, state={sname}): {}-{}-{}",
                b.name, b.version, b.release
            )));
        }
        None => {
            store::insert(
                db,
                pkg,
                &b.version,
                &b.release,
                b.epoch,
                b.task_id,
                task.owner,
                ev,
                b.source.as_deref(),
            )
            .await?
        }
    };
    tracing::info!(build = id, nvr = %format!("{}-{}-{}", b.name, b.version, b.release), "build started");
    Ok(id)
}

/// The work directories a host's task may name files in: its own and its subtasks' (a
/// build task imports what its buildArch subtasks uploaded), relative to work/.
async fn task_dirs(c: &mut Ctx, task: i32) -> HResult<Vec<PathBuf>> {
    let children = super::tasks::child_ids(c, task).await?;
    let mut out = vec![topdir::task_rel(i64::from(task))];
    out.extend(children.into_iter().map(|t| topdir::task_rel(i64::from(t))));
    Ok(out)
}

/// A file a builder produced in its task's work dir, opened without following symlinks and
/// read for import.
fn work_input(
    tree: &safefs::Tree,
    dirs: &[PathBuf],
    rel: &str,
) -> HResult<(safefs::Input, RpmInfo)> {
    let input = tree.host_input(rel, dirs)?;
    let info = rpmhdr::read_file(&input.file, rel)
        .map_err(|e| HubError::import(format!("{rel}: {}", e.msg)))?;
    Ok((input, info))
}

/// The logs a host names: arch keys are arch names, files inside the task's dirs.
fn log_inputs(
    tree: &safefs::Tree,
    dirs: &[PathBuf],
    logs: &[(String, Vec<String>)],
) -> HResult<Vec<(String, safefs::Input)>> {
    let mut out = Vec::new();
    for (arch, list) in logs {
        if arch.is_empty() || !arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(HubError::parameter(format!("Invalid log arch: {arch:?}")));
        }
        for rel in list {
            out.push((arch.clone(), tree.host_input(rel, dirs)?));
        }
    }
    Ok(out)
}

fn base_name(i: &safefs::Input) -> PathBuf {
    PathBuf::from(i.rel.file_name().unwrap_or_default())
}

/// The files of a finished build as a builder reports them: paths under work/.
pub struct BuildFiles {
    pub srpm: String,
    pub rpms: Vec<String>,
    /// (arch, log paths)
    pub logs: Vec<(String, Vec<String>)>,
}

/// host.completeBuild: checks every file (in the task's work dirs, the right source RPM,
/// binaries of the same version-release), records the RPMs, marks the build COMPLETE and
/// moves the files under packages/ (database first, files last).
pub async fn complete(c: &mut Ctx, host: i32, task: i32, build: i32, f: BuildFiles) -> HResult<()> {
    assert_holds(c, host, task).await?;
    let b = require(c, &BuildRef::Id(build), &build.to_string()).await?;
    if b.state != state::BUILDING || b.task_id != Some(task) {
        return Err(HubError::generic(format!(
            "Build {} is not BUILDING for task {task}",
            b.nvr()
        )));
    }
    let topdir = c.hub().config.topdir.clone();
    let tree = safefs::Tree::open(&topdir)?;
    let dirs = task_dirs(c, task).await?;
    let (srpm_path, srpm_info) = work_input(&tree, &dirs, &f.srpm)?;
    let (n, v, r) = (b.name.as_str(), b.version.as_str(), b.release.as_str());
    if !srpm_info.is_source
        || (
            srpm_info.name.as_str(),
            srpm_info.version.as_str(),
            srpm_info.release.as_str(),
        ) != (n, v, r)
    {
        return Err(HubError::import(format!(
            "{} is not the source rpm of {n}-{v}-{r}",
            f.srpm
        )));
    }
    let mut files = vec![(srpm_path, srpm_info)];
    for rel in &f.rpms {
        let (p, info) = work_input(&tree, &dirs, rel)?;
        if info.is_source {
            return Err(HubError::import(format!("{rel} is a source rpm")));
        }
        if (info.version.as_str(), info.release.as_str()) != (v, r) {
            return Err(HubError::import(format!(
                "{rel} does not belong to {n}-{v}-{r}"
            )));
        }
        files.push((p, info));
    }
    let logs = log_inputs(&tree, &dirs, &f.logs)?;
    let dir = Path::new("packages").join(n).join(v).join(r);
    c.mark_write();
    for (_, info) in &files {
        let row = store::NewRpm {
            name: &info.name,
            version: &info.version,
            release: &info.release,
            epoch: info.epoch,
            arch: &info.arch,
            payloadhash: &info.payloadhash,
            size: info.size,
            buildtime: info.buildtime,
        };
        store::insert_build_rpm(c.db().await?, b.id, &row)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    HubError::import(format!("rpm {} already imported", info.filename()))
                }
                _ => HubError::Db(e),
            })?;
    }
    store::complete(c.db().await?, b.id).await?;
    super::notifications::build_finished(c, &b, state::COMPLETE).await?;
    // files last: the database part above can still fail and roll back
    for (input, info) in &files {
        tree.move_and_link(input, &dir.join(&info.arch).join(info.filename()))?;
    }
    for (arch, input) in &logs {
        tree.move_and_link(
            input,
            &dir.join("data/logs").join(arch).join(base_name(input)),
        )?;
    }
    tracing::info!(build = b.id, nvr = %b.nvr(), rpms = files.len(), "build imported");
    Ok(())
}

/// host.failBuild: the task's BUILDING build is FAILED.
pub async fn fail(c: &mut Ctx, host: i32, task: i32, build: i32) -> HResult<()> {
    assert_holds(c, host, task).await?;
    c.mark_write();
    if !store::finish(c.db().await?, build, Some(task), state::FAILED).await? {
        return Err(HubError::generic(format!(
            "Build {build} is not BUILDING for task {task}"
        )));
    }
    if let Some(b) = find(c, &BuildRef::Id(build)).await? {
        super::notifications::build_finished(c, &b, state::FAILED).await?;
    }
    Ok(())
}

/// host.moveBuildToScratch: the task's files go to scratch/<owner>/task_<id>/.
pub async fn move_to_scratch(
    c: &mut Ctx,
    host: i32,
    task: i32,
    srpm: String,
    rpms: Vec<String>,
    logs: Vec<(String, Vec<String>)>,
) -> HResult<()> {
    let t = assert_holds(c, host, task).await?;
    let owner = super::users::name_of(c, t.owner)
        .await?
        .unwrap_or_else(|| "unknown".into());
    let topdir = c.hub().config.topdir.clone();
    let mut all = vec![srpm];
    all.extend(rpms);
    let tree = safefs::Tree::open(&topdir)?;
    let dirs = task_dirs(c, task).await?;
    let mut files = Vec::new();
    for rel in &all {
        files.push(work_input(&tree, &dirs, rel)?);
    }
    let logs = log_inputs(&tree, &dirs, &logs)?;
    crate::names::check_user(&owner)?;
    let dest = Path::new("scratch")
        .join(&owner)
        .join(format!("task_{task}"));
    for (input, info) in &files {
        tree.move_and_link(input, &dest.join(info.filename()))?;
    }
    for (arch, input) in &logs {
        tree.move_and_link(input, &dest.join("logs").join(arch).join(base_name(input)))?;
    }
    tracing::info!(task, dest = %dest.display(), "scratch build stored");
    Ok(())
}

/// The build named by `r`; "No such build: {shown}" otherwise.
pub async fn require(c: &mut Ctx, r: &BuildRef, shown: &str) -> HResult<Build> {
    find(c, r)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such build: {shown}")))
}

/// A build tagged in a tag (reached through inheritance, possibly).
#[derive(Debug, Clone)]
pub struct TaggedBuild {
    pub build: Build,
    pub tag_id: i32,
    pub tag_name: String,
}

/// Tagged builds of a tag as of `event` (optionally through inheritance, of one package,
/// only the latest of each package), newest tagging first. As Koji's `readTaggedBuilds`,
/// a build whose package the tag does not list (through inheritance), or blocks, is left
/// out: the package list wins over a stray tagging.
pub async fn tagged(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    inherit: bool,
    package: Option<&str>,
    latest: bool,
) -> HResult<Vec<TaggedBuild>> {
    let order = if inherit {
        inheritance_order(c, tag, event).await?
    } else {
        vec![(tag, Vec::new())]
    };
    let listed: std::collections::HashMap<i32, bool> =
        super::packages::of_tag(c, tag, event, true, false)
            .await?
            .into_iter()
            .map(|l| (l.package_id, l.blocked))
            .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (t, filters) in order {
        let tag_name = get(c, Named::Tag, &Ident::Id(t)).await?.1;
        for b in store::tagged(c.db().await?, t, event, package).await? {
            if !filters_pass(&filters, &b.name) || listed.get(&b.package_id) != Some(&false) {
                continue;
            }
            if latest && !seen.insert(b.name.clone()) {
                continue;
            }
            out.push(TaggedBuild {
                build: b,
                tag_id: t,
                tag_name: tag_name.clone(),
            });
        }
    }
    Ok(out)
}

/// RPMs of a build, of a buildroot, or in a buildroot's package list.
pub async fn list_rpms(
    c: &mut Ctx,
    build: Option<i32>,
    buildroot: Option<i32>,
    arches: Option<&[String]>,
    component_of: Option<i32>,
    page: &Page,
) -> HResult<Paged<ListedRpm>> {
    Ok(store::list_rpms(c.db().await?, build, buildroot, arches, component_of, page).await?)
}

/// RPMs of these builds (with some arches), by id.
pub async fn rpms_of(c: &mut Ctx, builds: &[i32], arches: Option<&[String]>) -> HResult<Vec<Rpm>> {
    Ok(store::rpms_of_builds(c.db().await?, builds, arches).await?)
}

/// How a caller names an RPM.
pub enum RpmRef {
    Id(i32),
    /// name-version-release.arch
    Nvra(String),
}

/// The RPM named by `r`; an NVRA that does not split is "invalid format".
pub async fn find_rpm(c: &mut Ctx, r: &RpmRef) -> HResult<Option<Rpm>> {
    match r {
        RpmRef::Id(id) => Ok(store::rpm_by_id(c.db().await?, *id).await?),
        RpmRef::Nvra(s) => {
            let parsed = s
                .rsplit_once('.')
                .and_then(|(nvr, arch)| parse_nvr(nvr).map(|x| (x, arch)));
            match parsed {
                Some(((n, v, r), arch)) => {
                    Ok(store::rpm_by_nvra(c.db().await?, n, v, r, arch).await?)
                }
                None => Err(HubError::generic(format!("invalid format: {s}"))),
            }
        }
    }
}

/// Where an imported RPM of a build lies under the topdir.
pub fn rpm_path(topdir: &Path, b: &Build, r: &Rpm) -> PathBuf {
    topdir::build_dir(topdir, &b.name, &b.version, &b.release)
        .join(&r.arch)
        .join(format!(
            "{}-{}-{}.{}.rpm",
            r.name, r.version, r.release, r.arch
        ))
}

/// The build's source RPM under the topdir.
pub fn srpm_path(topdir: &Path, b: &Build) -> PathBuf {
    topdir::build_dir(topdir, &b.name, &b.version, &b.release)
        .join("src")
        .join(format!("{}-{}-{}.src.rpm", b.name, b.version, b.release))
}

/// The log files of a build: (path relative to its data/logs dir, path relative to topdir).
pub fn logs(topdir: &Path, b: &Build) -> Vec<(String, PathBuf)> {
    let rel = PathBuf::from("packages")
        .join(&b.name)
        .join(&b.version)
        .join(&b.release)
        .join("data/logs");
    topdir::list_files(&topdir.join(&rel))
        .into_iter()
        .map(|f| {
            let full = rel.join(&f);
            (f, full)
        })
        .collect()
}

/// Mean seconds from creation to completion of a package's completed builds that had a
/// task (imports would skew it), over the last `months` months if given.
pub async fn average_duration(
    c: &mut Ctx,
    package: i32,
    months: Option<i32>,
) -> HResult<Option<f64>> {
    Ok(store::average_duration(c.db().await?, package, months).await?)
}

/// The release after `release` (Koji's rules): "" -> incr, "7" -> "8", "7.el9" -> "8.el9",
/// "20240101.nightly.3" -> "20240101.nightly.4"; anything else is not incrementable.
pub fn next_release(release: Option<&str>, incr: i64) -> Option<String> {
    let bump = |n: &str| -> Option<String> {
        let v: i64 = n.parse().ok()?;
        Some(v.checked_add(incr)?.to_string())
    };
    let digits = |p: &str| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_digit());
    let Some(r) = release.filter(|r| !r.is_empty()) else {
        return Some(incr.to_string());
    };
    let parts: Vec<&str> = r.split('.').collect();
    match parts.as_slice() {
        [n] if digits(n) => bump(n),
        [n, dist] if digits(n) => Some(format!("{}.{dist}", bump(n)?)),
        [a, b, n] if digits(n) => Some(format!("{a}.{b}.{}", bump(n)?)),
        _ => None,
    }
}

/// getNextRelease: the release after the newest building, completed or deleted build of
/// name-version.
pub async fn next_release_of(c: &mut Ctx, name: &str, version: &str, incr: i64) -> HResult<String> {
    let release = store::latest_release(c.db().await?, name, version).await?;
    next_release(release.as_deref(), incr).ok_or_else(|| {
        HubError::Build(format!(
            "Unable to increment release value: {}",
            release.unwrap_or_default()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::{next_release, parse_nvr};

    #[test]
    fn nvr_split_keeps_dashes_in_names() {
        assert_eq!(
            parse_nvr("foo-bar-1.0-1.fc40"),
            Some(("foo-bar", "1.0", "1.fc40"))
        );
        assert_eq!(parse_nvr("foo-1"), None);
    }

    #[test]
    fn releases_increment_as_koji_does() {
        assert_eq!(next_release(None, 1).as_deref(), Some("1"));
        assert_eq!(next_release(Some("123"), 1).as_deref(), Some("124"));
        assert_eq!(next_release(Some("123.el8"), 2).as_deref(), Some("125.el8"));
        assert_eq!(
            next_release(Some("123.snapshot.456"), 1).as_deref(),
            Some("123.snapshot.457")
        );
        assert_eq!(next_release(Some("1.2.3.4"), 1), None);
        assert_eq!(next_release(Some("abc"), 1), None);
        assert_eq!(next_release(Some("99999999999999999999"), 1), None);
    }
}
