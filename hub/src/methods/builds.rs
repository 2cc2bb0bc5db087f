//! Builds and their RPMs: creation by builders (initBuild/completeBuild/failBuild), scratch
//! results, tagging, and the queries `download-build`, `latest-build`, `list-builds` and
//! `list-tagged` use.

use super::common::{QueryOpts, build_ref, opt_time_arg, paged_value, require_tag};
use super::host_api::verify;
use crate::ctx::Ctx;
use crate::domain::builds::{
    self, BUILD_ORDER, Build, BuildFiles, BuildFilter, BuildRef, InitBuild, ListedRpm, RPM_ORDER,
    Rpm, RpmRef, TaggedBuild,
};
use crate::domain::tagging;
use crate::domain::{Named, find, glob_to_like};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id};
use crate::timefmt;
use chrono::Utc;
use koji_protocol::{Struct, Value, kstruct};

/// A build as `getBuild` shows it.
pub fn build_value(b: &Build) -> Value {
    kstruct! {
        "id" => b.id,
        "build_id" => b.id,
        "package_id" => b.package_id,
        "package_name" => b.name.clone(),
        "name" => b.name.clone(),
        "version" => b.version.clone(),
        "release" => b.release.clone(),
        "epoch" => b.epoch,
        "nvr" => b.nvr(),
        "draft" => b.draft,
        "state" => b.state,
        "task_id" => b.task_id,
        "owner_id" => b.owner_id,
        "owner_name" => b.owner_name.clone(),
        "volume_id" => b.volume_id,
        "volume_name" => b.volume_name.clone(),
        "creation_event_id" => b.create_event,
        "creation_time" => timefmt::iso(&b.creation_time),
        "creation_ts" => timefmt::ts(&b.creation_time),
        "start_time" => timefmt::iso(&b.start_time),
        "start_ts" => timefmt::ts(&b.start_time),
        "completion_time" => timefmt::iso_value(b.completion_time.as_ref()),
        "completion_ts" => timefmt::ts_value(b.completion_time.as_ref()),
        "promotion_time" => Value::Nil,
        "promotion_ts" => Value::Nil,
        "promoter_id" => Value::Nil,
        "promoter_name" => Value::Nil,
        "source" => b.source.clone(),
        "extra" => b.extra.clone(),
        "cg_id" => Value::Nil,
        "cg_name" => Value::Nil,
    }
}

/// A tagged build: the build with the tag it was found in.
fn tagged_value(t: &TaggedBuild) -> Value {
    let mut v = build_value(&t.build);
    if let Value::Struct(m) = &mut v {
        m.insert("tag_id".into(), Value::Int(i64::from(t.tag_id)));
        m.insert("tag_name".into(), Value::String(t.tag_name.clone()));
    }
    v
}

/// An RPM as `getRPM` shows it.
pub fn rpm_value(r: &Rpm) -> Value {
    kstruct! {
        "id" => r.id,
        "name" => r.name.clone(),
        "version" => r.version.clone(),
        "release" => r.release.clone(),
        "nvr" => format!("{}-{}-{}", r.name, r.version, r.release),
        "arch" => r.arch.clone(),
        "epoch" => r.epoch,
        "draft" => false,
        "payloadhash" => r.payloadhash.clone(),
        "size" => r.size,
        "buildtime" => r.buildtime,
        "build_id" => r.build_id,
        "buildroot_id" => r.buildroot_id,
        "external_repo_id" => r.external_repo_id,
        "external_repo_name" => "INTERNAL",
        "metadata_only" => r.metadata_only,
        "extra" => Value::Nil,
    }
}

/// The build named by `v`, if any.
async fn find_build(c: &mut Ctx, v: &Value) -> HResult<Option<Build>> {
    let r = build_ref(v)?;
    builds::find(c, &r).await
}

/// The build named by `v`; "No such build: {repr}" otherwise.
async fn require_build(c: &mut Ctx, v: &Value) -> HResult<Build> {
    let r = build_ref(v)?;
    builds::require(c, &r, &crate::pyrepr::repr(v)).await
}

fn no_such_build(v: &Value) -> HubError {
    HubError::generic(format!("No such build: {}", crate::pyrepr::repr(v)))
}

/// getBuild(buildInfo, strict=False)
pub async fn get_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    match find_build(c, a.val(0)).await? {
        Some(b) => Ok(build_value(&b)),
        None if a.truthy(1) => Err(no_such_build(a.val(0))),
        None => Ok(Value::Nil),
    }
}

/// listBuilds(packageID=None, userID=None, taskID=None, prefix=None, state=None,
/// volumeID=None, source=None, createdBefore=None, createdAfter=None, completeBefore=None,
/// completeAfter=None, type=None, typeInfo=None, queryOpts=None, pattern=None, cgID=None,
/// draft=None, promotedBefore=None, promotedAfter=None, promoter=None). An unknown package,
/// user or content generator matches nothing (as on Koji); every build here is an RPM build
/// that is neither a draft nor promoted, so filters for other kinds match nothing either.
pub async fn list_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    let mut f = BuildFilter::default();
    let qo = QueryOpts::parse(a.val(13), BUILD_ORDER)?;
    if let Some(i) = a.opt_ident(0)? {
        match find(c, Named::Package, &i).await? {
            Some((id, _)) => f.package = Some(id),
            None => f.none = true,
        }
    }
    if let Some(i) = a.opt_ident(1)? {
        match find(c, Named::User, &i).await? {
            Some((id, _)) => f.owner = Some(id),
            None => f.none = true,
        }
    }
    f.task = match a.opt_i64(2)? {
        Some(-1) => Some(-1),
        Some(n) => Some(checked_id("taskID", n)?),
        None => None,
    };
    f.like = match a.opt_str(3)? {
        Some(p) if !p.is_empty() => Some(format!("{}%", glob_to_like(p))),
        _ => None,
    };
    f.state = a.opt_id(4)?;
    f.volume = a.opt_id(5)?;
    f.source = a.opt_str(6)?.map(glob_to_like);
    f.created_before = opt_time_arg("createdBefore", a.val(7))?;
    f.created_after = opt_time_arg("createdAfter", a.val(8))?;
    f.complete_before = opt_time_arg("completeBefore", a.val(9))?;
    f.complete_after = opt_time_arg("completeAfter", a.val(10))?;
    match a.opt_str(11)? {
        None | Some("rpm") => {}
        Some("maven" | "win" | "image") => f.none = true,
        Some(t) => return Err(HubError::generic(format!("unsupported build type: {t}"))),
    }
    f.nvr = match a.opt_str(14)? {
        Some(p) if !p.is_empty() => Some(glob_to_like(p)),
        _ => None,
    };
    // no content generators, drafts or promotions here
    if a.truthy(15) || a.truthy(16) || a.truthy(17) || a.truthy(18) || !a.is_nil(19) {
        f.none = true;
    }
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = builds::list(c, &f, &page).await?;
    Ok(paged_value(rows, |b| build_value(&b)))
}

/// listRPMs(buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
/// hostID=None, arches=None, queryOpts=None, draft=None)
pub async fn list_rpms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let build = a.opt_id(0)?;
    let br = a.opt_id(1)?;
    let component_br = a.opt_id(3)?;
    let arches = a.opt_str_list(5)?;
    let qo = QueryOpts::parse(a.val(6), RPM_ORDER)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = builds::list_rpms(c, build, br, arches.as_deref(), component_br, &page).await?;
    Ok(paged_value(
        rows,
        |ListedRpm {
             rpm,
             external_repo_name,
             is_update,
         }| {
            let mut v = rpm_value(&rpm);
            if let Value::Struct(m) = &mut v {
                m.insert(
                    "external_repo_name".into(),
                    Value::String(external_repo_name),
                );
                // Koji adds is_update when listing a buildroot's components
                if component_br.is_some() {
                    m.insert("is_update".into(), Value::Bool(is_update.unwrap_or(false)));
                }
            }
            v
        },
    ))
}

/// getBuildLogs(buildinfo) → [{name, dir, path}] with paths relative to topdir.
pub async fn get_build_logs(c: &mut Ctx, a: Args) -> HResult<Value> {
    let b = require_build(c, a.val(0)).await?;
    let mut out = Vec::new();
    for (f, full) in builds::logs(&c.hub().config.topdir, &b) {
        let p = std::path::Path::new(&f);
        let dir = p
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(kstruct! { "name" => name, "dir" => dir, "path" => full.to_string_lossy().into_owned() });
    }
    Ok(Value::Array(out))
}

/// cancelBuild(buildID, strict=False): owner or admin; a BUILDING build and its task.
pub async fn cancel_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let Some(b) = find_build(c, a.val(0)).await? else {
        if a.truthy(1) {
            return Err(no_such_build(a.val(0)));
        }
        return Ok(Value::Bool(false));
    };
    Ok(Value::Bool(builds::cancel(c, &b, a.truthy(1)).await?))
}

/// host.initBuild(data): a new BUILDING build owned by the task's owner.
pub async fn init_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let data = a
        .opt_struct(0)?
        .cloned()
        .ok_or_else(|| HubError::parameter("data must be a dict"))?;
    let s = |k: &str| -> HResult<String> {
        data.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| HubError::parameter(format!("initBuild: {k} missing")))
    };
    let (name, version, release) = (s("name")?, s("version")?, s("release")?);
    let epoch = match data.get("epoch") {
        None | Some(Value::Nil) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(|e| i32::try_from(e).ok())
                .filter(|e| *e >= 0)
                .ok_or_else(|| HubError::parameter("initBuild: epoch must be a small int"))?,
        ),
    };
    let task_id = data
        .get("task_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| HubError::parameter("initBuild: task_id missing"))?;
    let b = InitBuild {
        name,
        version,
        release,
        epoch,
        task_id: checked_id("task_id", task_id)?,
        source: data
            .get("source")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok(Value::Int(i64::from(builds::init(c, host, b).await?)))
}

fn paths(v: &Value, what: &str) -> HResult<Vec<String>> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| HubError::parameter(format!("{what} must be a list of paths"))),
        _ => Err(HubError::parameter(format!(
            "{what} must be a list of paths"
        ))),
    }
}

fn logs_map(v: &Value) -> HResult<Vec<(String, Vec<String>)>> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Struct(m) => m
            .iter()
            .map(|(arch, files)| Ok((arch.clone(), paths(files, "logs")?)))
            .collect(),
        _ => Err(HubError::parameter("logs must be a dict {arch: [paths]}")),
    }
}

/// host.completeBuild(task_id, build_id, srpm, rpms, brmap=None, logs=None)
pub async fn complete_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task = a.id(0)?;
    let build = a.id(1)?;
    let files = BuildFiles {
        srpm: a.str(2)?.to_string(),
        rpms: paths(a.val(3), "rpms")?,
        logs: logs_map(a.val(5))?,
    };
    builds::complete(c, host, task, build, files).await?;
    Ok(Value::Nil)
}

/// host.failBuild(task_id, build_id)
pub async fn fail_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task = a.id(0)?;
    let build = a.id(1)?;
    builds::fail(c, host, task, build).await?;
    Ok(Value::Nil)
}

/// host.moveBuildToScratch(task_id, srpm, rpms, logs=None)
pub async fn move_build_to_scratch(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task = a.id(0)?;
    let srpm = a.str(1)?.to_string();
    let rpms = paths(a.val(2), "rpms")?;
    let logs = logs_map(a.val(3))?;
    builds::move_to_scratch(c, host, task, srpm, rpms, logs).await?;
    Ok(Value::Nil)
}

/// host.tagBuild(task_id, tag, build, force=False, fromtag=None): the builder holding a
/// `tagBuild` task tags (or moves) the build as the task's owner (domain/tagging.rs).
pub async fn host_tag_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task = a.id(0)?;
    let t = crate::domain::tasks::assert_holds(c, host, task).await?;
    let b = require_build(c, a.val(2)).await?;
    let tag_ident = crate::signature::value_ident(a.val(1), "tag")?;
    let tag = tagging::require_tag(c, &tag_ident, &crate::pyrepr::repr(a.val(1))).await?;
    let from = match a.opt_ident(4)? {
        Some(i) => Some(tagging::require_tag(c, &i, &crate::pyrepr::repr(a.val(4))).await?),
        None => None,
    };
    tagging::host_tag(c, t.owner, &tag, &b, a.truthy(3), from.as_ref()).await?;
    Ok(Value::Nil)
}

/// getLatestBuilds(tag, event=None, package=None, type=None, draft=None)
pub async fn get_latest_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = a.opt_str(2)?.map(str::to_string);
    let rows = builds::tagged(c, tag_id, a.opt_i64(1)?, true, pkg.as_deref(), true).await?;
    Ok(Value::Array(rows.iter().map(tagged_value).collect()))
}

/// listTagged(tag, event=None, inherit=False, prefix=None, latest=False, package=None,
/// owner=None, type=None, strict=True, extra=False, draft=None)
pub async fn list_tagged(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = a.opt_str(5)?.map(str::to_string);
    let prefix = a.opt_str(3)?.map(str::to_string);
    let owner = a.opt_str(6)?.map(str::to_string);
    let rows = builds::tagged(
        c,
        tag_id,
        a.opt_i64(1)?,
        a.truthy(2),
        pkg.as_deref(),
        a.truthy(4),
    )
    .await?;
    Ok(Value::Array(
        rows.iter()
            .filter(|r| {
                prefix
                    .as_deref()
                    .is_none_or(|p| r.build.name.starts_with(p))
            })
            .filter(|r| owner.as_deref().is_none_or(|o| r.build.owner_name == o))
            .map(tagged_value)
            .collect(),
    ))
}

/// getMavenBuild / getWinBuild / getImageBuild(buildInfo, strict=False): kkoji builds RPMs
/// only, so a build never has Maven, Windows or image information.
pub async fn no_typed_info(c: &mut Ctx, a: Args) -> HResult<Value> {
    let b = find_build(c, a.val(0)).await?;
    if b.is_none() && a.truthy(1) {
        return Err(no_such_build(a.val(0)));
    }
    Ok(Value::Nil)
}

/// listArchives(buildID=None, ..., **kwargs): no archive types exist in kkoji (RPMs are
/// listed by listRPMs), so the list is always empty.
pub async fn list_archives(_c: &mut Ctx, a: Args) -> HResult<Value> {
    if a.val(10).get("countOnly").is_some_and(Value::is_truthy) {
        return Ok(Value::Int(0));
    }
    Ok(Value::Array(vec![]))
}

/// getChangelogEntries(buildID=None, taskID=None, filepath=None, author=None, before=None,
/// after=None, queryOpts=None, strict=False): read from the build's source RPM.
pub async fn get_changelog_entries(c: &mut Ctx, a: Args) -> HResult<Value> {
    let Some(b) = (match a.val(0) {
        Value::Nil => None,
        v => find_build(c, v).await?,
    }) else {
        if a.truthy(7) {
            return Err(HubError::generic("No such build"));
        }
        return Ok(Value::Array(vec![]));
    };
    let path = builds::srpm_path(&c.hub().config.topdir, &b);
    let author = a.opt_str(3)?.map(str::to_string);
    let entries = tokio::task::spawn_blocking(move || {
        kkoji_repodata::read_header(&path)
            .map(|h| h.changelog)
            .unwrap_or_default()
    })
    .await
    .map_err(|e| HubError::generic(format!("reader failed: {e}")))?;
    let out = entries
        .into_iter()
        .filter(|e| author.as_deref().is_none_or(|x| e.author == x))
        .map(|e| {
            let t = chrono::DateTime::<Utc>::from_timestamp(e.time, 0).unwrap_or_default();
            kstruct! {
                "date" => timefmt::iso(&t),
                "date_ts" => e.time,
                "author" => e.author,
                "text" => e.text,
            }
        })
        .collect();
    Ok(Value::Array(out))
}

/// getRPM(rpminfo, strict=False, multi=False): by id, "name-version-release.arch" or dict.
pub async fn get_rpm(c: &mut Ctx, a: Args) -> HResult<Value> {
    let r = super::common::rpm_ref(a.val(0))?;
    match builds::find_rpm(c, &r).await? {
        Some(r) => Ok(rpm_value(&r)),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No such rpm: {}",
            crate::pyrepr::repr(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// getRPMHeaders(rpmID=None, taskID=None, filepath=None, headers=None, strict=False,
/// sigkey=None): the named header fields of an imported RPM (absent fields are left out, as
/// Koji does). Signature fields (`sigmd5`, `siggpg`, `sigpgp`, `dsaheader`, `rsaheader`,
/// `sha1header`, `sha256header`) come from the file's own signature header, or with
/// `sigkey` from the header stored for that key (none on record: `{}`, or a fault when
/// strict).
pub async fn get_rpm_headers(c: &mut Ctx, a: Args) -> HResult<Value> {
    let Some(rpm_id) = a.opt_id(0)? else {
        return Err(HubError::generic(
            "either rpmID or taskID and filepath must be specified",
        ));
    };
    let strict = a.truthy(4);
    let found = builds::find_rpm(c, &RpmRef::Id(rpm_id)).await?;
    let Some((r, Some(build_id))) = found.map(|r| {
        let b = r.build_id.filter(|_| r.external_repo_id == 0);
        (r, b)
    }) else {
        if strict {
            return Err(HubError::generic(format!("No such rpm: {rpm_id}")));
        }
        return Ok(Value::Struct(Struct::new()));
    };
    let b = builds::require(c, &BuildRef::Id(build_id), &build_id.to_string()).await?;
    let wanted: Vec<String> = a.opt_str_list(3)?.unwrap_or_default();
    let sigkey = a.opt_str(5)?.map(str::to_string);
    let sig_wanted = wanted.iter().any(|h| is_sig_field(h));
    let sig = if sig_wanted || sigkey.is_some() {
        match crate::domain::signatures::header_facts(c, &b, &r, sigkey.as_deref()).await {
            Ok(Some(f)) => Some(f),
            Ok(None) if strict => {
                return Err(HubError::generic(format!(
                    "No cached signature for package {}-{}-{}.{}, key {}",
                    r.name,
                    r.version,
                    r.release,
                    r.arch,
                    sigkey.unwrap_or_default()
                )));
            }
            Ok(None) => return Ok(Value::Struct(Struct::new())),
            Err(e) if strict => return Err(e),
            Err(_) => return Ok(Value::Struct(Struct::new())),
        }
    } else {
        None
    };
    let path = builds::rpm_path(&c.hub().config.topdir, &b, &r);
    let found = tokio::task::spawn_blocking(move || -> Struct {
        let mut out = Struct::new();
        let Ok(m) = kkoji_repodata::read_header(&path) else {
            return out;
        };
        let t = &m.strings;
        for h in wanted {
            let text = |v: &Option<String>| v.as_deref().map(Value::from);
            let lower = h.to_ascii_lowercase();
            let value = match lower.as_str() {
                "name" => Some(Value::from(m.name.as_str())),
                "version" => Some(Value::from(m.version.as_str())),
                "release" => Some(Value::from(m.release.as_str())),
                "arch" => text(&t.arch),
                "summary" => text(&t.summary),
                "description" => text(&t.description),
                "license" => text(&t.license),
                "url" => text(&t.url),
                "vcs" => text(&t.vcs),
                "vendor" => text(&t.vendor),
                "packager" => text(&t.packager),
                "group" => text(&t.group),
                "buildhost" => text(&t.buildhost),
                "sourcerpm" => text(&t.sourcerpm),
                "buildtime" => Some(Value::Int(m.buildtime)),
                f => sig.as_ref().and_then(|s| sig_field(s, f)),
            };
            if let Some(v) = value {
                out.insert(h, v);
            }
        }
        out
    })
    .await
    .map_err(|e| HubError::generic(format!("reader failed: {e}")))?;
    Ok(Value::Struct(found))
}

fn is_sig_field(h: &str) -> bool {
    matches!(
        h.to_ascii_lowercase().as_str(),
        "sigmd5" | "siggpg" | "sigpgp" | "dsaheader" | "rsaheader" | "sha1header" | "sha256header"
    )
}

/// A signature header field as rpm's query names it (bytes as XML-RPC base64).
fn sig_field(s: &crate::rpmsig::SigFacts, f: &str) -> Option<Value> {
    match f {
        "sigmd5" => s.md5_raw.clone().map(Value::Base64),
        "sha1header" => s.sha1.clone().map(Value::String),
        "sha256header" => s.sha256.clone().map(Value::String),
        _ => s
            .packets
            .iter()
            .find(|(n, _)| *n == f)
            .map(|(_, p)| Value::Base64(p.clone())),
    }
}

/// getAverageBuildDuration(package, age=None): mean seconds from creation to completion of
/// the package's completed builds that had a task (imports would skew it); None without any.
pub async fn get_average_build_duration(c: &mut Ctx, a: Args) -> HResult<Value> {
    let Some((pkg, _)) = find(c, Named::Package, &a.ident(0)?).await? else {
        return Ok(Value::Nil);
    };
    let months = match a.opt_i64(1)? {
        None => None,
        Some(m) if (0..=1200).contains(&m) => i32::try_from(m).ok(),
        Some(m) => return Err(HubError::parameter(format!("age out of range: {m}"))),
    };
    let avg = builds::average_duration(c, pkg, months).await?;
    Ok(avg.map_or(Value::Nil, Value::Double))
}

/// getNextRelease(build_info, incr=1): the next release of `name`-`version` after its newest
/// building, completed or deleted build.
pub async fn get_next_release(c: &mut Ctx, a: Args) -> HResult<Value> {
    let info = a
        .opt_struct(0)?
        .ok_or_else(|| HubError::parameter("build_info must be a dict with name and version"))?;
    let (Some(Value::String(name)), Some(Value::String(version))) =
        (info.get("name"), info.get("version"))
    else {
        return Err(HubError::parameter(
            "build_info must be a dict with name and version",
        ));
    };
    let incr = a.opt_i64(1)?.unwrap_or(1);
    if !(1..=1_000_000).contains(&incr) {
        return Err(HubError::parameter(
            "incr parameter must be a positive integer",
        ));
    }
    let (name, version) = (name.clone(), version.clone());
    Ok(Value::String(
        builds::next_release_of(c, &name, &version, incr).await?,
    ))
}

/// What `listTaggedRPMS` and `getLatestRPMS` select.
struct TaggedRpms {
    event: Option<i64>,
    inherit: bool,
    latest: bool,
    package: Option<String>,
    arches: Option<Vec<String>>,
    rpmsigs: bool,
    owner: Option<String>,
}

/// listTaggedRPMS(tag, event=None, inherit=False, latest=False, package=None, arch=None, ...)
/// -> [rpms, builds]: the RPMs of the builds `listTagged` gives, each with its build's tag.
pub async fn list_tagged_rpms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tag = match crate::domain::tags::get_tag(c, &a.ident(0)?, a.opt_i64(1)?).await? {
        Some(t) => t,
        None if !a.truthy(9) => return Ok(Value::Array(Vec::new())),
        None => {
            return Err(HubError::generic(format!(
                "No such tagInfo: {}",
                crate::pyrepr::repr(a.val(0))
            )));
        }
    };
    let q = TaggedRpms {
        event: a.opt_i64(1)?,
        inherit: a.truthy(2),
        latest: a.truthy(3),
        package: a.opt_str(4)?.map(str::to_string),
        arches: a.opt_str_list(5)?,
        rpmsigs: a.truthy(6),
        owner: a.opt_str(7)?.map(str::to_string),
    };
    tagged_rpms(c, tag.id, q).await
}

/// getLatestRPMS(tag, package=None, arch=None, event=None, rpmsigs=False, type=None,
/// draft=None): listTaggedRPMS through inheritance, latest builds only (`latest-build
/// --arch`, `--paths`). The tag must exist.
pub async fn get_latest_rpms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let event = a.opt_i64(3)?;
    let Some(tag) = crate::domain::tags::get_tag(c, &a.ident(0)?, event).await? else {
        return Err(HubError::generic(format!(
            "No such tagInfo: {}",
            crate::pyrepr::repr(a.val(0))
        )));
    };
    let empty = match a.opt_str(5)? {
        None | Some("rpm") => a.truthy(6),
        Some(_) => true,
    };
    if empty {
        // no maven/win/image builds and no drafts here
        return Ok(Value::Array(vec![
            Value::Array(vec![]),
            Value::Array(vec![]),
        ]));
    }
    let q = TaggedRpms {
        event,
        inherit: true,
        latest: true,
        package: a.opt_str(1)?.map(str::to_string),
        arches: a.opt_str_list(2)?,
        rpmsigs: a.truthy(4),
        owner: None,
    };
    tagged_rpms(c, tag.id, q).await
}

async fn tagged_rpms(c: &mut Ctx, tag: i32, q: TaggedRpms) -> HResult<Value> {
    let tagged: Vec<TaggedBuild> =
        builds::tagged(c, tag, q.event, q.inherit, q.package.as_deref(), q.latest)
            .await?
            .into_iter()
            .filter(|b| q.owner.as_deref().is_none_or(|o| b.build.owner_name == o))
            .collect();
    let ids: Vec<i32> = tagged.iter().map(|b| b.build.id).collect();
    let rows = builds::rpms_of(c, &ids, q.arches.as_deref()).await?;
    let by_build: std::collections::HashMap<i32, &TaggedBuild> =
        tagged.iter().map(|b| (b.build.id, b)).collect();
    // rpmsigs: one record per (rpm, signature key), sigkey None for an unsigned RPM (Koji's
    // outer join)
    let sigs: Option<std::collections::HashMap<i32, Vec<String>>> = if q.rpmsigs {
        let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
        let mut m: std::collections::HashMap<i32, Vec<String>> = std::collections::HashMap::new();
        for (rpm, key) in crate::domain::repos::dist::sigkeys_of(c, &ids).await? {
            m.entry(rpm).or_default().push(key);
        }
        Some(m)
    } else {
        None
    };
    let mut rpms = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = rpm_value(r);
        if let (Value::Struct(m), Some(b)) = (&mut v, by_build.get(&r.build_id.unwrap_or(0))) {
            m.insert("tag_id".into(), Value::Int(i64::from(b.tag_id)));
            m.insert("tag_name".into(), Value::String(b.tag_name.clone()));
        }
        match sigs.as_ref().map(|s| s.get(&r.id)) {
            None => rpms.push(v),
            Some(None) => {
                if let Value::Struct(m) = &mut v {
                    m.insert("sigkey".into(), Value::Nil);
                }
                rpms.push(v);
            }
            Some(Some(keys)) => {
                for k in keys {
                    let mut one = v.clone();
                    if let Value::Struct(m) = &mut one {
                        m.insert("sigkey".into(), Value::String(k.clone()));
                    }
                    rpms.push(one);
                }
            }
        }
    }
    Ok(Value::Array(vec![
        Value::Array(rpms),
        Value::Array(tagged.iter().map(tagged_value).collect()),
    ]))
}
