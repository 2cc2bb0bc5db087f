//! What a buildroot contained: the stock kojid reports the packages mock installed
//! (`host.setBuildRootList` once the buildroot is populated, `host.updateBuildRootList` for
//! later additions), and `koji list-buildroot N` reads them back through
//! `listRPMs(componentBuildrootID=N)`. Packages from external repos are recorded as external
//! RPMs of the repo they came from, as Koji does.

use super::common::{self, Named};
use super::host_api::{assert_holds, verify};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Struct, Value};

/// Buildroot states (Koji's BR_STATES).
pub mod br_state {
    pub const INIT: i32 = 0;
    pub const BUILDING: i32 = 2;
}

/// Most packages one report may name (a full Fedora buildroot has about 400).
const MAX_LIST: usize = 20_000;

/// The buildroot must be the calling host's, and with `task_id` the task must be open on
/// the host and be the buildroot's task (Koji's `assertHost`/`assertTask`). Returns its
/// state.
async fn owned_buildroot(c: &mut Ctx, host: i64, br: i32, task: Option<i32>) -> HResult<i32> {
    if let Some(t) = task {
        assert_holds(c, host, i64::from(t)).await?;
    }
    let row: Option<(Option<i32>, Option<i32>, i32)> =
        sqlx::query_as("SELECT host_id, task_id, state FROM buildroot WHERE id = $1")
            .bind(br)
            .fetch_optional(c.db().await?)
            .await?;
    let Some((br_host, br_task, st)) = row else {
        return Err(HubError::generic(format!("No such buildroot: {br}")));
    };
    if br_host.map(i64::from) != Some(host) {
        return Err(HubError::not_allowed(format!(
            "Host {host} not owner of buildroot {br}"
        )));
    }
    if let Some(t) = task
        && br_task != Some(t)
    {
        return Err(HubError::not_allowed(format!(
            "Task {t} does not have buildroot {br}"
        )));
    }
    Ok(st)
}

fn field_str<'a>(r: &'a Struct, key: &str) -> HResult<&'a str> {
    match r.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Ok(s),
        _ => Err(HubError::parameter(format!(
            "buildroot rpm entry lacks a valid {key}"
        ))),
    }
}

fn field_i64(r: &Struct, key: &str) -> HResult<Option<i64>> {
    match r.get(key) {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Int(n)) if *n >= 0 => Ok(Some(*n)),
        _ => Err(HubError::parameter(format!(
            "buildroot rpm entry has an invalid {key}"
        ))),
    }
}

/// The rpminfo id of one reported package: an internal RPM must be known; an external one
/// (with `location`, the external repo's name) is added when it is new.
async fn rpm_id_of(c: &mut Ctx, r: &Struct) -> HResult<i32> {
    let name = field_str(r, "name")?;
    let version = field_str(r, "version")?;
    let release = field_str(r, "release")?;
    let arch = field_str(r, "arch")?;
    let nvra = format!("{name}-{version}-{release}.{arch}");
    let repo_id = match r.get("location") {
        None | Some(Value::Nil) => 0,
        Some(Value::String(loc)) => {
            let (id, _) = common::get(c, Named::ExternalRepo, &Ident::Name(loc.clone())).await?;
            i32::try_from(id).map_err(|_| HubError::parameter("external repo id out of range"))?
        }
        Some(_) => return Err(HubError::parameter("buildroot rpm location must be a str")),
    };
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT id FROM rpminfo WHERE name = $1 AND version = $2 AND release = $3 AND arch = $4 \
         AND external_repo_id = $5",
    )
    .bind(name)
    .bind(version)
    .bind(release)
    .bind(arch)
    .bind(repo_id)
    .fetch_optional(c.db().await?)
    .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    if repo_id == 0 {
        return Err(HubError::generic(format!("No such rpm: {nvra}")));
    }
    let epoch = field_i64(r, "epoch")?
        .map(|e| i32::try_from(e).map_err(|_| HubError::parameter("epoch out of range")))
        .transpose()?;
    let payloadhash = match r.get("payloadhash") {
        Some(Value::String(h)) if h.len() <= 128 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
            h.clone()
        }
        _ => return Err(HubError::parameter(format!("{nvra}: invalid payloadhash"))),
    };
    c.mark_write();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO rpminfo (name, version, release, epoch, arch, external_repo_id, payloadhash, size, buildtime) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(name)
    .bind(version)
    .bind(release)
    .bind(epoch)
    .bind(arch)
    .bind(repo_id)
    .bind(payloadhash)
    .bind(field_i64(r, "size")?.unwrap_or(0))
    .bind(field_i64(r, "buildtime")?.unwrap_or(0))
    .fetch_one(c.db().await?)
    .await?;
    Ok(id)
}

async fn set_list(c: &mut Ctx, a: Args, update: bool) -> HResult<Value> {
    let host = verify(c).await?;
    let br = a.id(0)?;
    let list = match a.val(1) {
        Value::Array(l) => l,
        _ => return Err(HubError::parameter("rpmlist must be a list")),
    };
    if list.len() > MAX_LIST {
        return Err(HubError::parameter(format!(
            "rpmlist has more than {MAX_LIST} entries"
        )));
    }
    let st = owned_buildroot(c, host, br, a.opt_id(2)?).await?;
    let want = if update {
        br_state::BUILDING
    } else {
        br_state::INIT
    };
    if st != want {
        return Err(HubError::generic(format!(
            "buildroot {br} in wrong state {st}"
        )));
    }
    let mut ids = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Struct(r) = entry else {
            return Err(HubError::parameter("rpmlist entries must be dicts"));
        };
        ids.push(rpm_id_of(c, r).await?);
    }
    // sorted: concurrent reports lock rows in one order
    ids.sort_unstable();
    ids.dedup();
    c.mark_write();
    sqlx::query(
        "INSERT INTO buildroot_listing (buildroot_id, rpm_id, is_update) \
         SELECT $1, unnest($2::int[]), $3 ON CONFLICT (buildroot_id, rpm_id) DO NOTHING",
    )
    .bind(br)
    .bind(&ids)
    .bind(update)
    .execute(c.db().await?)
    .await?;
    Ok(Value::Nil)
}

/// host.setBuildRootList(brootid, rpmlist, task_id=None)
pub async fn host_set_list(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_list(c, a, false).await
}

/// host.updateBuildRootList(brootid, rpmlist, task_id=None)
pub async fn host_update_list(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_list(c, a, true).await
}

/// getBuildroot(buildrootID, strict=False)
pub async fn get_buildroot(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    let strict = a.truthy(1);
    let mut kw = Struct::new();
    kw.insert("buildrootID".into(), Value::Int(i64::from(id)));
    let m = super::registry()
        .get("listBuildroots")
        .ok_or_else(|| HubError::generic("listBuildroots is not registered"))?;
    let args = m.sig.bind(m.name, Vec::new(), kw)?;
    let found = super::hosts::list_buildroots(c, args).await?;
    match found.as_array().and_then(|l| l.first()) {
        Some(v) => Ok(v.clone()),
        None if strict => Err(HubError::generic(format!("No such buildroot: {id}"))),
        None => Ok(Value::Nil),
    }
}
