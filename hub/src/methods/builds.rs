//! Builds and their RPMs: creation by builders (initBuild/completeBuild/failBuild), scratch
//! results, tagging, and the queries `download-build`, `latest-build`, `list-builds` and
//! `list-tagged` use.

use super::common::{self, Named, ver};
use super::host_api::{assert_holds, verify};
use super::tags::{filters_pass, full_inheritance, inheritance_order, require_tag};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::rpmhdr::{self, RpmInfo};
use crate::signature::{Args, Ident};
use crate::tasks;
use crate::{safefs, timefmt, topdir};
use chrono::{DateTime, Utc};
use koji_protocol::{Struct, Value, kstruct};
use sqlx::Row;
use std::path::{Path, PathBuf};

pub mod bstate {
    pub const BUILDING: i32 = 0;
    pub const COMPLETE: i32 = 1;
    pub const FAILED: i32 = 3;
    pub const CANCELED: i32 = 4;
}

const BUILD_SELECT: &str = "SELECT b.id, b.pkg_id, p.name, b.version, b.release, b.epoch, b.draft, b.state, \
    b.task_id, b.owner, u.name AS owner_name, b.create_event, e.time AS creation_time, b.start_time, \
    b.completion_time, b.source, b.extra FROM build b JOIN package p ON p.id = b.pkg_id \
    JOIN users u ON u.id = b.owner JOIN events e ON e.id = b.create_event";

fn build_value(r: &sqlx::postgres::PgRow) -> HResult<Value> {
    let name: String = r.try_get("name")?;
    let version: String = r.try_get("version")?;
    let release: String = r.try_get("release")?;
    let ct: DateTime<Utc> = r.try_get("creation_time")?;
    let st: DateTime<Utc> = r.try_get("start_time")?;
    let done: Option<DateTime<Utc>> = r.try_get("completion_time")?;
    let extra: Option<String> = r.try_get("extra")?;
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "build_id" => r.try_get::<i32, _>("id")?,
        "package_id" => r.try_get::<i32, _>("pkg_id")?,
        "package_name" => name.clone(),
        "name" => name.clone(),
        "version" => version.clone(),
        "release" => release.clone(),
        "epoch" => r.try_get::<Option<i32>, _>("epoch")?,
        "nvr" => format!("{name}-{version}-{release}"),
        "draft" => r.try_get::<bool, _>("draft")?,
        "state" => r.try_get::<i32, _>("state")?,
        "task_id" => r.try_get::<Option<i32>, _>("task_id")?,
        "owner_id" => r.try_get::<i32, _>("owner")?,
        "owner_name" => r.try_get::<String, _>("owner_name")?,
        "volume_id" => 0,
        "volume_name" => "DEFAULT",
        "creation_event_id" => r.try_get::<i64, _>("create_event")?,
        "creation_time" => timefmt::iso(&ct),
        "creation_ts" => timefmt::ts(&ct),
        "start_time" => timefmt::iso(&st),
        "start_ts" => timefmt::ts(&st),
        "completion_time" => timefmt::iso_value(done.as_ref()),
        "completion_ts" => timefmt::ts_value(done.as_ref()),
        "promotion_time" => Value::Nil,
        "promotion_ts" => Value::Nil,
        "promoter_id" => Value::Nil,
        "promoter_name" => Value::Nil,
        "source" => r.try_get::<Option<String>, _>("source")?,
        "extra" => extra.as_deref().map(common::load_value).unwrap_or(Value::Nil),
        "cg_id" => Value::Nil,
        "cg_name" => Value::Nil,
    })
}

/// Split "name-version-release" (the name may contain dashes).
fn parse_nvr(s: &str) -> Option<(&str, &str, &str)> {
    let (rest, release) = s.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some((name, version, release))
}

/// The build named by id, NVR or dict.
pub async fn find_build(c: &mut Ctx, v: &Value) -> HResult<Option<Value>> {
    let row = match v {
        Value::Int(id) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BUILD_SELECT} WHERE b.id = $1"
            )))
            .bind(common::opt_i32(Some(*id)).unwrap_or(-1))
            .fetch_optional(c.db().await?)
            .await?
        }
        Value::String(s) => {
            let Some((n, ver, rel)) = parse_nvr(s) else {
                return Err(HubError::generic(format!("invalid format: {s}")));
            };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{BUILD_SELECT} WHERE p.name = $1 AND b.version = $2 AND b.release = $3"
            )))
            .bind(n)
            .bind(ver)
            .bind(rel)
            .fetch_optional(c.db().await?)
            .await?
        }
        Value::Struct(s) => {
            if let Some(id) = s.get("id").and_then(Value::as_i64) {
                return Box::pin(find_build(c, &Value::Int(id))).await;
            }
            match (s.get("name"), s.get("version"), s.get("release")) {
                (Some(Value::String(n)), Some(Value::String(ver)), Some(Value::String(rel))) => {
                    return Box::pin(find_build(c, &Value::String(format!("{n}-{ver}-{rel}"))))
                        .await;
                }
                _ => {
                    return Err(HubError::generic(
                        "Invalid build info: need id or name/version/release",
                    ));
                }
            }
        }
        other => {
            return Err(HubError::parameter(format!(
                "Invalid build value: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    row.as_ref().map(build_value).transpose()
}

async fn require_build(c: &mut Ctx, v: &Value) -> HResult<Value> {
    find_build(c, v)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such build: {}", crate::pyrepr::repr(v))))
}

fn field_i64(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn field_str<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// getBuild(buildInfo, strict=False)
pub async fn get_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    match find_build(c, a.val(0)).await? {
        Some(b) => Ok(b),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No such build: {}",
            crate::pyrepr::repr(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// listBuilds(packageID=None, userID=None, taskID=None, prefix=None, state=None, ...,
/// queryOpts=None)
pub async fn list_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    let pkg = match a.opt_ident(0)? {
        Some(i) => match common::find(c, Named::Package, &i).await? {
            Some((id, _)) => Some(id),
            None => return Ok(Value::Array(vec![])),
        },
        None => None,
    };
    let user = match a.opt_ident(1)? {
        Some(i) => Some(common::get(c, Named::User, &i).await?.0),
        None => None,
    };
    let task = a.opt_i64(2)?;
    let prefix = a
        .opt_str(3)?
        .map(|p| format!("{}%", common::glob_to_like(p)));
    let st = a.opt_i64(4)?;
    let qo = common::QueryOpts::parse(
        &a.extra.get("queryOpts").cloned().unwrap_or(Value::Nil),
        &["id", "build_id", "nvr", "completion_time", "creation_time"],
    )?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BUILD_SELECT} WHERE ($1::int IS NULL OR b.pkg_id = $1) AND ($2::int IS NULL OR b.owner = $2) \
         AND ($3::int IS NULL OR b.task_id = $3) AND ($4::text IS NULL OR p.name LIKE $4) \
         AND ($5::int IS NULL OR b.state = $5) ORDER BY b.id"
    )))
    .bind(common::opt_i32(pkg))
    .bind(common::opt_i32(user))
    .bind(common::opt_i32(task))
    .bind(prefix)
    .bind(common::opt_i32(st))
    .fetch_all(c.db().await?)
    .await?;
    let out = rows.iter().map(build_value).collect::<HResult<Vec<_>>>()?;
    Ok(qo.apply(out))
}

fn rpm_value(r: &sqlx::postgres::PgRow) -> HResult<Value> {
    let name: String = r.try_get("name")?;
    let version: String = r.try_get("version")?;
    let release: String = r.try_get("release")?;
    Ok(kstruct! {
        "id" => r.try_get::<i32, _>("id")?,
        "name" => name.clone(),
        "version" => version.clone(),
        "release" => release.clone(),
        "nvr" => format!("{name}-{version}-{release}"),
        "arch" => r.try_get::<String, _>("arch")?,
        "epoch" => r.try_get::<Option<i32>, _>("epoch")?,
        "draft" => false,
        "payloadhash" => r.try_get::<String, _>("payloadhash")?,
        "size" => r.try_get::<i64, _>("size")?,
        "buildtime" => r.try_get::<i64, _>("buildtime")?,
        "build_id" => r.try_get::<Option<i32>, _>("build_id")?,
        "buildroot_id" => r.try_get::<Option<i32>, _>("buildroot_id")?,
        "external_repo_id" => r.try_get::<i32, _>("external_repo_id")?,
        "external_repo_name" => "INTERNAL",
        "metadata_only" => r.try_get::<bool, _>("metadata_only")?,
        "extra" => Value::Nil,
    })
}

/// listRPMs(buildID=None, buildrootID=None, imageID=None, componentBuildrootID=None,
/// hostID=None, arches=None, queryOpts=None, draft=None)
pub async fn list_rpms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let build = a.opt_id(0)?;
    let br = a.opt_id(1)?;
    let component_br = a.opt_id(3)?;
    let arches = a.opt_str_list(5)?;
    let qo = common::QueryOpts::parse(a.val(6), &["id", "name", "arch", "nvr"])?;
    let rows = sqlx::query(
        "SELECT r.id, r.name, r.version, r.release, r.epoch, r.arch, r.payloadhash, r.size, r.buildtime, \
                r.build_id, r.buildroot_id, r.external_repo_id, r.metadata_only, \
                COALESCE(er.name, 'INTERNAL') AS external_repo_name, bl.is_update \
         FROM rpminfo r LEFT JOIN external_repo er ON er.id = r.external_repo_id \
         LEFT JOIN buildroot_listing bl ON bl.rpm_id = r.id AND bl.buildroot_id = $4 \
         WHERE ($1::int IS NULL OR r.build_id = $1) AND ($2::int IS NULL OR r.buildroot_id = $2) \
           AND ($3::text[] IS NULL OR r.arch = ANY($3)) \
           AND ($4::int IS NULL OR bl.buildroot_id IS NOT NULL) ORDER BY r.id",
    )
    .bind(build)
    .bind(br)
    .bind(arches)
    .bind(component_br)
    .fetch_all(c.db().await?)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = rpm_value(r)?;
        if let Value::Struct(m) = &mut v {
            m.insert(
                "external_repo_name".into(),
                Value::String(r.try_get("external_repo_name")?),
            );
            // Koji adds is_update when listing a buildroot's components
            if component_br.is_some() {
                m.insert(
                    "is_update".into(),
                    Value::Bool(r.try_get::<Option<bool>, _>("is_update")?.unwrap_or(false)),
                );
            }
        }
        out.push(v);
    }
    Ok(qo.apply(out))
}

/// getBuildLogs(buildinfo) → [{name, dir, path}] with paths relative to topdir.
pub async fn get_build_logs(c: &mut Ctx, a: Args) -> HResult<Value> {
    let b = require_build(c, a.val(0)).await?;
    let rel = PathBuf::from("packages")
        .join(field_str(&b, "name"))
        .join(field_str(&b, "version"))
        .join(field_str(&b, "release"))
        .join("data/logs");
    let base = c.hub().config.topdir.join(&rel);
    let mut out = Vec::new();
    for f in topdir::list_files(&base) {
        let p = Path::new(&f);
        let dir = p
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(kstruct! { "name" => name, "dir" => dir, "path" => rel.join(&f).to_string_lossy().into_owned() });
    }
    Ok(Value::Array(out))
}

/// cancelBuild(buildID, strict=False): owner or admin; a BUILDING build and its task.
pub async fn cancel_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let me = c.assert_login()?.clone();
    let Some(b) = find_build(c, a.val(0)).await? else {
        if a.truthy(1) {
            return Err(HubError::generic(format!(
                "No such build: {}",
                crate::pyrepr::repr(a.val(0))
            )));
        }
        return Ok(Value::Bool(false));
    };
    if field_i64(&b, "owner_id") != me.user_id && !c.is_admin().await? {
        return Err(HubError::not_allowed("Cannot cancel build, not owner"));
    }
    if field_i64(&b, "state") != i64::from(bstate::BUILDING) {
        if a.truthy(1) {
            return Err(HubError::generic(format!(
                "Build {} is not in BUILDING state",
                field_str(&b, "nvr")
            )));
        }
        return Ok(Value::Bool(false));
    }
    c.mark_write();
    sqlx::query("UPDATE build SET state = 4, completion_time = clock_timestamp() WHERE id = $1 AND state = 0")
        .bind(field_i64(&b, "id") as i32)
        .execute(c.db().await?)
        .await?;
    if let Some(t) = b.get("task_id").and_then(Value::as_i64) {
        tasks::cancel(c, t, true).await?;
    }
    Ok(Value::Bool(true))
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
    let task = assert_holds(c, host, task_id).await?;
    let owner: i32 = task.try_get("owner")?;
    crate::names::check_internal(&name)?;
    crate::names::check_nvr(&name, &version, &release)?;
    let pkg = super::packages::ensure_package_pub(c, &name).await?;
    let existing: Option<(i32, i32)> = sqlx::query_as(
        "SELECT id, state FROM build WHERE pkg_id = $1 AND version = $2 AND release = $3",
    )
    .bind(pkg as i32)
    .bind(&version)
    .bind(&release)
    .fetch_optional(c.db().await?)
    .await?;
    let ev = c.event().await?;
    let id = match existing {
        Some((id, st)) if st == bstate::FAILED || st == bstate::CANCELED => {
            // a failed or canceled build may be tried again under the same NVR
            sqlx::query(
                "UPDATE build SET state = 0, task_id = $2, owner = $3, epoch = $4, create_event = $5, \
                 start_time = clock_timestamp(), completion_time = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(task_id as i32)
            .bind(owner)
            .bind(epoch)
            .bind(ev)
            .execute(c.db().await?)
            .await?;
            sqlx::query("DELETE FROM rpminfo WHERE build_id = $1")
                .bind(id)
                .execute(c.db().await?)
                .await?;
            id
        }
        Some((id, st)) => {
            let sname = match st {
                bstate::BUILDING => "BUILDING",
                bstate::COMPLETE => "COMPLETE",
                _ => "DELETED",
            };
            return Err(HubError::generic(format!(
                "Build already exists (id={id}, state={sname}): {name}-{version}-{release}"
            )));
        }
        None => sqlx::query_scalar(
            "INSERT INTO build (pkg_id, version, release, epoch, state, task_id, owner, create_event, source) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8) RETURNING id",
        )
        .bind(pkg as i32)
        .bind(&version)
        .bind(&release)
        .bind(epoch)
        .bind(task_id as i32)
        .bind(owner)
        .bind(ev)
        .bind(data.get("source").and_then(Value::as_str))
        .fetch_one(c.db().await?)
        .await?,
    };
    tracing::info!(build = id, nvr = %format!("{name}-{version}-{release}"), "build started");
    Ok(Value::Int(i64::from(id)))
}

/// The work directories a host's task may name files in: its own and its subtasks' (a
/// build task imports what its buildArch subtasks uploaded), relative to work/.
async fn task_dirs(c: &mut Ctx, task_id: i64) -> HResult<Vec<PathBuf>> {
    let task_id32 = i32::try_from(task_id)
        .map_err(|_| HubError::parameter(format!("task id out of range: {task_id}")))?;
    let children: Vec<i32> = sqlx::query_scalar("SELECT id FROM task WHERE parent = $1")
        .bind(task_id32)
        .fetch_all(c.db().await?)
        .await?;
    let mut out = vec![topdir::task_rel(task_id)];
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
    let task_id = i64::from(a.id(0)?);
    assert_holds(c, host, task_id).await?;
    let build = require_build(c, &Value::Int(i64::from(a.id(1)?))).await?;
    if field_i64(&build, "state") != i64::from(bstate::BUILDING)
        || field_i64(&build, "task_id") != task_id
    {
        return Err(HubError::generic(format!(
            "Build {} is not BUILDING for task {task_id}",
            field_str(&build, "nvr")
        )));
    }
    let topdir = c.hub().config.topdir.clone();
    let srpm = a.str(2)?.to_string();
    let tree = safefs::Tree::open(&topdir)?;
    let dirs = task_dirs(c, task_id).await?;
    let (srpm_path, srpm_info) = work_input(&tree, &dirs, &srpm)?;
    let (n, v, r) = (
        field_str(&build, "name"),
        field_str(&build, "version"),
        field_str(&build, "release"),
    );
    if !srpm_info.is_source
        || (
            srpm_info.name.as_str(),
            srpm_info.version.as_str(),
            srpm_info.release.as_str(),
        ) != (n, v, r)
    {
        return Err(HubError::import(format!(
            "{srpm} is not the source rpm of {n}-{v}-{r}"
        )));
    }
    let mut files = vec![(srpm_path, srpm_info)];
    for rel in paths(a.val(3), "rpms")? {
        let (p, info) = work_input(&tree, &dirs, &rel)?;
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
    let logs = log_inputs(&tree, &dirs, &logs_map(a.val(5))?)?;
    let build_id = field_i64(&build, "id");
    let dir = Path::new("packages").join(n).join(v).join(r);
    c.mark_write();
    for (_, info) in &files {
        sqlx::query(
            "INSERT INTO rpminfo (build_id, name, version, release, epoch, arch, payloadhash, size, buildtime) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(build_id as i32)
        .bind(&info.name)
        .bind(&info.version)
        .bind(&info.release)
        .bind(info.epoch)
        .bind(&info.arch)
        .bind(&info.payloadhash)
        .bind(info.size)
        .bind(info.buildtime)
        .execute(c.db().await?)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                HubError::import(format!("rpm {} already imported", info.filename()))
            }
            _ => crate::error::HubError::Db(e),
        })?;
    }
    sqlx::query("UPDATE build SET state = 1, completion_time = clock_timestamp() WHERE id = $1")
        .bind(build_id as i32)
        .execute(c.db().await?)
        .await?;
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
    tracing::info!(build = build_id, nvr = %format!("{n}-{v}-{r}"), rpms = files.len(), "build imported");
    Ok(Value::Nil)
}

/// host.failBuild(task_id, build_id)
pub async fn fail_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task_id = i64::from(a.id(0)?);
    let build_id = i64::from(a.id(1)?);
    assert_holds(c, host, task_id).await?;
    c.mark_write();
    let n = sqlx::query(
        "UPDATE build SET state = 3, completion_time = clock_timestamp() WHERE id = $1 AND task_id = $2 AND state = 0",
    )
    .bind(build_id as i32)
    .bind(task_id as i32)
    .execute(c.db().await?)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(HubError::generic(format!(
            "Build {build_id} is not BUILDING for task {task_id}"
        )));
    }
    Ok(Value::Nil)
}

/// host.moveBuildToScratch(task_id, srpm, rpms, logs=None)
pub async fn move_build_to_scratch(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task_id = i64::from(a.id(0)?);
    let t = assert_holds(c, host, task_id).await?;
    let owner = common::user_name_of(c, i64::from(t.try_get::<i32, _>("owner")?))
        .await?
        .unwrap_or_else(|| "unknown".into());
    let topdir = c.hub().config.topdir.clone();
    let mut all = vec![a.str(1)?.to_string()];
    all.extend(paths(a.val(2), "rpms")?);
    let tree = safefs::Tree::open(&topdir)?;
    let dirs = task_dirs(c, task_id).await?;
    let mut files = Vec::new();
    for rel in &all {
        files.push(work_input(&tree, &dirs, rel)?);
    }
    let logs = log_inputs(&tree, &dirs, &logs_map(a.val(3))?)?;
    crate::names::check_user(&owner)?;
    let dest = Path::new("scratch")
        .join(&owner)
        .join(format!("task_{task_id}"));
    for (input, info) in &files {
        tree.move_and_link(input, &dest.join(info.filename()))?;
    }
    for (arch, input) in &logs {
        tree.move_and_link(input, &dest.join("logs").join(arch).join(base_name(input)))?;
    }
    tracing::info!(task = task_id, dest = %dest.display(), "scratch build stored");
    Ok(Value::Nil)
}

/// Packages listed (and not blocked) in the tag or its ancestors.
async fn package_allowed(c: &mut Ctx, tag_id: i64, pkg: &str) -> HResult<bool> {
    let order: Vec<i64> = inheritance_order(c, tag_id, None)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for t in order {
        let blocked: Option<bool> = sqlx::query_scalar(
            "SELECT tp.blocked FROM tag_packages tp JOIN package p ON p.id = tp.package_id \
             WHERE tp.tag_id = $1 AND p.name = $2 AND tp.active",
        )
        .bind(t as i32)
        .bind(pkg)
        .fetch_optional(c.db().await?)
        .await?;
        if let Some(b) = blocked {
            return Ok(!b);
        }
    }
    Ok(false)
}

/// host.tagBuild(task_id, tag, build, force=False, fromtag=None)
pub async fn host_tag_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let task_id = i64::from(a.id(0)?);
    let t = assert_holds(c, host, task_id).await?;
    let (tag_id, tag_name) = require_tag(c, a.val(1)).await?;
    let b = require_build(c, a.val(2)).await?;
    // as Koji: the host acts for the task's owner, and `force` counts only when that owner
    // is an admin; the locked-tag and package-list rules apply to everyone else
    let owner: i32 = t.try_get("owner")?;
    let owner_admin: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM user_perms up JOIN permissions p ON p.id = up.perm_id \
         WHERE up.user_id = $1 AND up.active AND p.name = 'admin')",
    )
    .bind(owner)
    .fetch_one(c.db().await?)
    .await?;
    let force = a.truthy(3) && owner_admin;
    if field_i64(&b, "state") != i64::from(bstate::COMPLETE) {
        return Err(HubError::tag(format!(
            "build {} not complete: state {}",
            field_str(&b, "nvr"),
            field_i64(&b, "state")
        )));
    }
    let locked: bool =
        sqlx::query_scalar("SELECT locked FROM tag_config WHERE tag_id = $1 AND active")
            .bind(tag_id as i32)
            .fetch_one(c.db().await?)
            .await?;
    if locked && !force {
        return Err(HubError::tag(format!("tag {tag_name} is locked")));
    }
    let pkg = field_str(&b, "name").to_string();
    if !force && !package_allowed(c, tag_id, &pkg).await? {
        return Err(HubError::tag(format!(
            "package {pkg} not in list for tag {tag_name}"
        )));
    }
    let build_id = field_i64(&b, "id");
    let already: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tag_listing WHERE build_id = $1 AND tag_id = $2 AND active",
    )
    .bind(build_id as i32)
    .bind(tag_id as i32)
    .fetch_optional(c.db().await?)
    .await?;
    if already.is_some() {
        return Err(HubError::tag(format!(
            "build {} already tagged ({tag_name})",
            field_str(&b, "nvr")
        )));
    }
    if let Some(from) = a.opt_ident(4)? {
        let (from_id, _) = common::get(c, Named::Tag, &from).await?;
        common::revoke(
            c,
            "tag_listing",
            "build_id = $2 AND tag_id = $3",
            &[build_id, from_id],
        )
        .await?;
    }
    let ev = c.event().await?;
    let me = Some(owner);
    sqlx::query("INSERT INTO tag_listing (build_id, tag_id, create_event, creator_id) VALUES ($1, $2, $3, $4)")
        .bind(build_id as i32)
        .bind(tag_id as i32)
        .bind(ev)
        .bind(me)
        .execute(c.db().await?)
        .await?;
    tracing::info!(build = build_id, tag = %tag_name, "build tagged");
    Ok(Value::Nil)
}

/// Tagged builds of a tag (optionally through inheritance), newest tagging first.
pub async fn tagged_builds(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
    inherit: bool,
    package: Option<&str>,
    latest: bool,
) -> HResult<Vec<Value>> {
    let order = if inherit {
        inheritance_order(c, tag_id, event).await?
    } else {
        vec![(tag_id, Vec::new())]
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (t, filters) in order {
        let tag_name = common::get(c, Named::Tag, &Ident::Id(t)).await?.1;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{BUILD_SELECT} JOIN tag_listing tl ON tl.build_id = b.id JOIN tag tg ON tg.id = tl.tag_id \
             WHERE tl.tag_id = $1 AND {} AND ($2::text IS NULL OR p.name = $2) AND b.state = 1 \
             ORDER BY tl.create_event DESC, b.id DESC",
            ver("tl", event)
        )))
        .bind(t as i32)
        .bind(package)
        .fetch_all(c.db().await?)
        .await?;
        for r in &rows {
            let name: String = r.try_get("name")?;
            if !filters_pass(&filters, &name) {
                continue;
            }
            if latest && !seen.insert(name.clone()) {
                continue;
            }
            let mut v = build_value(r)?;
            if let Value::Struct(m) = &mut v {
                m.insert("tag_id".into(), Value::Int(t));
                m.insert("tag_name".into(), Value::String(tag_name.clone()));
            }
            out.push(v);
        }
    }
    Ok(out)
}

/// getLatestBuilds(tag, event=None, package=None, type=None, draft=None)
pub async fn get_latest_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = a.opt_str(2)?.map(str::to_string);
    Ok(Value::Array(
        tagged_builds(c, tag_id, a.opt_i64(1)?, true, pkg.as_deref(), true).await?,
    ))
}

/// listTagged(tag, event=None, inherit=False, prefix=None, latest=False, package=None,
/// owner=None, type=None, strict=True, extra=False, draft=None)
pub async fn list_tagged(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = a.opt_str(5)?.map(str::to_string);
    let prefix = a.opt_str(3)?.map(str::to_string);
    let owner = a.opt_str(6)?.map(str::to_string);
    let rows = tagged_builds(
        c,
        tag_id,
        a.opt_i64(1)?,
        a.truthy(2),
        pkg.as_deref(),
        a.truthy(4),
    )
    .await?;
    Ok(Value::Array(
        rows.into_iter()
            .filter(|r| {
                prefix
                    .as_deref()
                    .is_none_or(|p| field_str(r, "name").starts_with(p))
            })
            .filter(|r| {
                owner
                    .as_deref()
                    .is_none_or(|o| field_str(r, "owner_name") == o)
            })
            .collect(),
    ))
}

/// getBuildConfig(tag, event=None): the tag with arches and extra filled from its
/// ancestors (links marked noconfig are skipped).
pub async fn get_build_config(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    let event = a.opt_i64(1)?;
    let Some(mut tag) = super::tags::tag_record(c, &ident, event).await? else {
        return Err(HubError::generic(format!("No such tagInfo: {ident}")));
    };
    let tag_id = field_i64(&tag, "id");
    let mut chain = Vec::new();
    for link in full_inheritance(c, tag_id, event, false).await? {
        if link.get("noconfig").is_some_and(Value::is_truthy) {
            continue;
        }
        if let Some(p) = link.get("parent_id").and_then(Value::as_i64)
            && let Some(t) = super::tags::tag_record(c, &Ident::Id(p), event).await?
        {
            chain.push(t);
        }
    }
    if let Value::Struct(m) = &mut tag {
        if m.get("arches")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(arches) = chain
                .iter()
                .filter_map(|t| t.get("arches").and_then(Value::as_str))
                .find(|a| !a.is_empty())
        {
            m.insert("arches".into(), Value::String(arches.to_string()));
        }
        let mut extra = Struct::new();
        for t in chain.iter().rev() {
            if let Some(Value::Struct(e)) = t.get("extra") {
                for (k, v) in e {
                    extra.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(Value::Struct(e)) = m.get("extra") {
            for (k, v) in e {
                extra.insert(k.clone(), v.clone());
            }
        }
        m.insert("extra".into(), Value::Struct(extra));
        m.insert(
            "config_inheritance".into(),
            kstruct! { "extra" => Value::Struct(Struct::new()), "arches" => Value::Nil },
        );
    }
    Ok(tag)
}

/// getMavenBuild / getWinBuild / getImageBuild(buildInfo, strict=False): kkoji builds RPMs
/// only, so a build never has Maven, Windows or image information.
pub async fn no_typed_info(c: &mut Ctx, a: Args) -> HResult<Value> {
    let b = find_build(c, a.val(0)).await?;
    if b.is_none() && a.truthy(1) {
        return Err(HubError::generic(format!(
            "No such build: {}",
            crate::pyrepr::repr(a.val(0))
        )));
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
    let (n, v, r) = (
        field_str(&b, "name"),
        field_str(&b, "version"),
        field_str(&b, "release"),
    );
    let path = topdir::build_dir(&c.hub().config.topdir, n, v, r)
        .join("src")
        .join(format!("{n}-{v}-{r}.src.rpm"));
    let author = a.opt_str(3)?.map(str::to_string);
    let entries = tokio::task::spawn_blocking(move || {
        rpm::PackageMetadata::open(&path)
            .and_then(|m| m.get_changelog_entries())
            .unwrap_or_default()
    })
    .await
    .map_err(|e| HubError::generic(format!("reader failed: {e}")))?;
    let out = entries
        .into_iter()
        .filter(|e| author.as_deref().is_none_or(|x| e.name == x))
        .map(|e| {
            let t =
                chrono::DateTime::<Utc>::from_timestamp(e.timestamp as i64, 0).unwrap_or_default();
            kstruct! {
                "date" => timefmt::iso(&t),
                "date_ts" => e.timestamp as i64,
                "author" => e.name,
                "text" => e.description,
            }
        })
        .collect();
    Ok(Value::Array(out))
}

/// getRPM(rpminfo, strict=False, multi=False): by id, "name-version-release.arch" or dict.
pub async fn get_rpm(c: &mut Ctx, a: Args) -> HResult<Value> {
    let base = "SELECT id, name, version, release, epoch, arch, payloadhash, size, buildtime, build_id, \
                buildroot_id, external_repo_id, metadata_only FROM rpminfo";
    let row = match a.val(0) {
        Value::Int(id) => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{base} WHERE id = $1")))
                .bind(common::opt_i32(Some(*id)).unwrap_or(-1))
                .fetch_optional(c.db().await?)
                .await?
        }
        Value::String(s) => {
            let parsed = s
                .rsplit_once('.')
                .and_then(|(nvr, arch)| parse_nvr(nvr).map(|x| (x, arch)));
            match parsed {
                Some(((n, v, r), arch)) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{base} WHERE name = $1 AND version = $2 AND release = $3 AND arch = $4"
                    )))
                    .bind(n)
                    .bind(v)
                    .bind(r)
                    .bind(arch)
                    .fetch_optional(c.db().await?)
                    .await?
                }
                None => return Err(HubError::generic(format!("invalid format: {s}"))),
            }
        }
        other => {
            return Err(HubError::parameter(format!(
                "Invalid rpm value: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    match row {
        Some(r) => rpm_value(&r),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No such rpm: {}",
            crate::pyrepr::repr(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// queryRPMSigs(rpm_id=None, sigkey=None, queryOpts=None): kkoji does not sign RPMs (yet),
/// so no signature is on record.
pub async fn query_rpm_sigs(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Array(vec![]))
}

/// getRPMHeaders(rpmID=None, taskID=None, filepath=None, headers=None, strict=False): the
/// named header fields of an imported RPM (absent fields are left out, as Koji does).
pub async fn get_rpm_headers(c: &mut Ctx, a: Args) -> HResult<Value> {
    let Some(rpm_id) = a.opt_i64(0)? else {
        return Err(HubError::parameter("getRPMHeaders needs rpmID"));
    };
    let row: Option<(String, String, String, String, Option<i32>)> = sqlx::query_as(
        "SELECT r.name, r.version, r.release, r.arch, r.build_id FROM rpminfo r WHERE r.id = $1",
    )
    .bind(common::opt_i32(Some(rpm_id)).unwrap_or(-1))
    .fetch_optional(c.db().await?)
    .await?;
    let Some((n, v, r, arch, Some(build_id))) = row else {
        if a.truthy(4) {
            return Err(HubError::generic(format!("No such rpm: {rpm_id}")));
        }
        return Ok(Value::Struct(Struct::new()));
    };
    let b = require_build(c, &Value::Int(i64::from(build_id))).await?;
    let path = topdir::build_dir(
        &c.hub().config.topdir,
        field_str(&b, "name"),
        field_str(&b, "version"),
        field_str(&b, "release"),
    )
    .join(&arch)
    .join(format!("{n}-{v}-{r}.{arch}.rpm"));
    let wanted: Vec<String> = a.opt_str_list(3)?.unwrap_or_default();
    let found = tokio::task::spawn_blocking(move || -> Struct {
        let mut out = Struct::new();
        let Ok(m) = rpm::PackageMetadata::open(&path) else {
            return out;
        };
        for h in wanted {
            let value = match h.to_ascii_lowercase().as_str() {
                "name" => m.get_name().ok().map(Value::from),
                "version" => m.get_version().ok().map(Value::from),
                "release" => m.get_release().ok().map(Value::from),
                "arch" => m.get_arch().ok().map(Value::from),
                "summary" => m.get_summary().ok().map(Value::from),
                "description" => m.get_description().ok().map(Value::from),
                "license" => m.get_license().ok().map(Value::from),
                "url" => m.get_url().ok().map(Value::from),
                "vcs" => m.get_vcs().ok().map(Value::from),
                "vendor" => m.get_vendor().ok().map(Value::from),
                "packager" => m.get_packager().ok().map(Value::from),
                "group" => m.get_group().ok().map(Value::from),
                "buildhost" => m.get_build_host().ok().map(Value::from),
                "sourcerpm" => m.get_source_rpm().ok().map(Value::from),
                "buildtime" => m.get_build_time().ok().map(|t| Value::Int(t as i64)),
                _ => None,
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

#[cfg(test)]
mod tests {
    use super::parse_nvr;

    #[test]
    fn nvr_split_keeps_dashes_in_names() {
        assert_eq!(
            parse_nvr("foo-bar-1.0-1.fc40"),
            Some(("foo-bar", "1.0", "1.fc40"))
        );
        assert_eq!(parse_nvr("foo-1"), None);
    }
}

/// getAverageBuildDuration(package, age=None): mean seconds from creation to completion of
/// the package's completed builds that had a task (imports would skew it); None without any.
pub async fn get_average_build_duration(c: &mut Ctx, a: Args) -> HResult<Value> {
    let Some((pkg, _)) = common::find(c, Named::Package, &a.ident(0)?).await? else {
        return Ok(Value::Nil);
    };
    let pkg = i32::try_from(pkg).map_err(|_| HubError::parameter("package id out of range"))?;
    let months = match a.opt_i64(1)? {
        None => None,
        Some(m) if (0..=1200).contains(&m) => i32::try_from(m).ok(),
        Some(m) => return Err(HubError::parameter(format!("age out of range: {m}"))),
    };
    let avg: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM avg(b.completion_time - e.time))::float8 FROM build b \
         JOIN events e ON e.id = b.create_event \
         WHERE b.pkg_id = $1 AND b.state = 1 AND b.task_id IS NOT NULL \
           AND ($2::int IS NULL OR b.completion_time > now() - make_interval(months => $2))",
    )
    .bind(pkg)
    .bind(months)
    .fetch_one(c.db().await?)
    .await?;
    Ok(avg.map_or(Value::Nil, Value::Double))
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
    let release: Option<String> = sqlx::query_scalar(
        "SELECT b.release FROM build b JOIN package p ON p.id = b.pkg_id \
         WHERE p.name = $1 AND b.version = $2 AND b.state IN (0, 1, 2) AND NOT b.draft \
         ORDER BY b.id DESC LIMIT 1",
    )
    .bind(name)
    .bind(version)
    .fetch_optional(c.db().await?)
    .await?;
    match next_release(release.as_deref(), incr) {
        Some(r) => Ok(Value::String(r)),
        None => Err(build_error(format!(
            "Unable to increment release value: {}",
            release.unwrap_or_default()
        ))),
    }
}

fn build_error(msg: String) -> crate::error::HubError {
    HubError::Build(msg)
}

/// listTaggedRPMS(tag, event=None, inherit=False, latest=False, package=None, arch=None, ...)
/// -> [rpms, builds]: the RPMs of the builds `listTagged` gives, each with its build's tag.
pub async fn list_tagged_rpms(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tag = match super::tags::tag_record(c, &a.ident(0)?, a.opt_i64(1)?).await? {
        Some(t) => t,
        None if !a.truthy(9) => return Ok(Value::Array(Vec::new())),
        None => {
            return Err(HubError::generic(format!(
                "No such tagInfo: {}",
                crate::pyrepr::repr(a.val(0))
            )));
        }
    };
    let tag_id = tag
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| HubError::generic("tag record without id"))?;
    let pkg = a.opt_str(4)?.map(str::to_string);
    let arches = a.opt_str_list(5)?;
    let owner = a.opt_str(7)?.map(str::to_string);
    let builds: Vec<Value> = tagged_builds(
        c,
        tag_id,
        a.opt_i64(1)?,
        a.truthy(2),
        pkg.as_deref(),
        a.truthy(3),
    )
    .await?
    .into_iter()
    .filter(|b| {
        owner
            .as_deref()
            .is_none_or(|o| field_str(b, "owner_name") == o)
    })
    .collect();
    let ids: Vec<i32> = builds
        .iter()
        .filter_map(|b| b.get("id").and_then(Value::as_i64))
        .filter_map(|i| i32::try_from(i).ok())
        .collect();
    let rows = sqlx::query(
        "SELECT id, name, version, release, epoch, arch, payloadhash, size, buildtime, build_id, \
                buildroot_id, external_repo_id, metadata_only FROM rpminfo \
         WHERE build_id = ANY($1) AND ($2::text[] IS NULL OR arch = ANY($2)) ORDER BY id",
    )
    .bind(&ids)
    .bind(arches)
    .fetch_all(c.db().await?)
    .await?;
    let by_build: std::collections::HashMap<i64, &Value> = builds
        .iter()
        .filter_map(|b| b.get("id").and_then(Value::as_i64).map(|i| (i, b)))
        .collect();
    let mut rpms = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = rpm_value(r)?;
        let bid = i64::from(r.try_get::<Option<i32>, _>("build_id")?.unwrap_or(0));
        if let (Value::Struct(m), Some(b)) = (&mut v, by_build.get(&bid)) {
            for k in ["tag_id", "tag_name"] {
                if let Some(x) = b.get(k) {
                    m.insert(k.into(), x.clone());
                }
            }
        }
        rpms.push(v);
    }
    Ok(Value::Array(vec![Value::Array(rpms), Value::Array(builds)]))
}

#[cfg(test)]
mod release_tests {
    use super::next_release;

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
