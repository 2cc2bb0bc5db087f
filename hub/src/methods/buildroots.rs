//! Buildroots: `listBuildroots`/`getBuildroot`, and the package lists builders report
//! (`host.setBuildRootList`, `host.updateBuildRootList`), which `koji list-buildroot N` reads
//! back through `listRPMs(componentBuildrootID=N)`.

use super::common::{QueryOpts, paged_value};
use super::host_api::verify;
use crate::ctx::Ctx;
use crate::domain::buildroots::{
    self, BUILDROOT_ORDER, Buildroot, BuildrootFilter, ReportedRpm, RpmDetails,
};
use crate::domain::{Named, Page, get};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id};
use crate::timefmt;
use koji_protocol::{Struct, Value, kstruct};

fn buildroot_value(b: &Buildroot) -> Value {
    kstruct! {
        "id" => b.id,
        "br_type" => 0,
        "arch" => b.arch.clone(),
        "container_arch" => b.arch.clone(),
        "host_id" => b.host_id,
        "host_name" => b.host_name.clone(),
        "repo_id" => b.repo_id,
        "tag_id" => b.tag_id,
        "tag_name" => b.tag_name.clone(),
        "state" => b.state,
        "task_id" => b.task_id,
        "create_event_id" => b.create_event,
        "create_event_time" => timefmt::iso(&b.create_time),
        "create_ts" => timefmt::ts(&b.create_time),
        "retire_event_id" => b.retire_event,
        "retire_event_time" => timefmt::iso_value(b.retire_time.as_ref()),
        "retire_ts" => timefmt::ts_value(b.retire_time.as_ref()),
    }
}

/// listBuildroots(hostID=None, tagID=None, state=None, rpmID=None, archiveID=None,
/// taskID=None, buildrootID=None, repoID=None, queryOpts=None)
pub async fn list_buildroots(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = match a.opt_ident(0)? {
        Some(i) => Some(get(c, Named::Host, &i).await?.0),
        None => None,
    };
    let tag = match a.opt_ident(1)? {
        Some(i) => Some(get(c, Named::Tag, &i).await?.0),
        None => None,
    };
    let states: Option<Vec<i32>> = match a.val(2) {
        Value::Nil => None,
        Value::Int(s) => Some(vec![checked_id("state", *s)?]),
        Value::Array(v) => Some(
            v.iter()
                .filter_map(Value::as_i64)
                .map(|x| checked_id("state", x))
                .collect::<HResult<_>>()?,
        ),
        _ => {
            return Err(HubError::parameter(
                "state must be an int or a list of ints",
            ));
        }
    };
    let f = BuildrootFilter {
        host,
        tag,
        states,
        task: a.opt_id(5)?,
        id: a.opt_id(6)?,
        repo: a.opt_id(7)?,
    };
    let qo = QueryOpts::parse(a.val(8), BUILDROOT_ORDER)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = buildroots::list(c, &f, &page).await?;
    Ok(paged_value(rows, |b| buildroot_value(&b)))
}

/// getBuildroot(buildrootID, strict=False)
pub async fn get_buildroot(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    let f = BuildrootFilter {
        host: None,
        tag: None,
        states: None,
        task: None,
        id: Some(id),
        repo: None,
    };
    match buildroots::list(c, &f, &Page::default())
        .await?
        .into_rows()
        .first()
    {
        Some(b) => Ok(buildroot_value(b)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such buildroot: {id}"))),
        None => Ok(Value::Nil),
    }
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

/// One reported package. What only a new external RPM needs is checked when (and only
/// if) it is recorded.
fn reported(r: &Struct) -> HResult<ReportedRpm> {
    let name = field_str(r, "name")?.to_string();
    let version = field_str(r, "version")?.to_string();
    let release = field_str(r, "release")?.to_string();
    let arch = field_str(r, "arch")?.to_string();
    let nvra = format!("{name}-{version}-{release}.{arch}");
    let location = match r.get("location") {
        None | Some(Value::Nil) => None,
        Some(Value::String(loc)) => Some(loc.clone()),
        Some(_) => return Err(HubError::parameter("buildroot rpm location must be a str")),
    };
    let details = (|| {
        let epoch = field_i64(r, "epoch")?
            .map(|e| i32::try_from(e).map_err(|_| HubError::parameter("epoch out of range")))
            .transpose()?;
        let payloadhash = match r.get("payloadhash") {
            Some(Value::String(h))
                if h.len() <= 128 && h.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                h.clone()
            }
            _ => {
                return Err(HubError::parameter(format!("{nvra}: invalid payloadhash")));
            }
        };
        Ok(RpmDetails {
            epoch,
            payloadhash,
            size: field_i64(r, "size")?.unwrap_or(0),
            buildtime: field_i64(r, "buildtime")?.unwrap_or(0),
        })
    })();
    Ok(ReportedRpm {
        name,
        version,
        release,
        arch,
        location,
        details,
    })
}

async fn set_list(c: &mut Ctx, a: Args, update: bool) -> HResult<Value> {
    let host = verify(c).await?;
    let br = a.id(0)?;
    let list = match a.val(1) {
        Value::Array(l) => l,
        _ => return Err(HubError::parameter("rpmlist must be a list")),
    };
    if list.len() > buildroots::MAX_LIST {
        return Err(HubError::parameter(format!(
            "rpmlist has more than {} entries",
            buildroots::MAX_LIST
        )));
    }
    let task = a.opt_id(2)?;
    // a host that may not write there learns nothing about its entries
    buildroots::check_listable(c, host, br, task, update).await?;
    let mut rpms = Vec::with_capacity(list.len());
    for entry in list {
        let Value::Struct(r) = entry else {
            return Err(HubError::parameter("rpmlist entries must be dicts"));
        };
        rpms.push(reported(r)?);
    }
    buildroots::record_list(c, host, br, task, rpms, update).await?;
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
