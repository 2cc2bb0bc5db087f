//! Buildroots: a host's build environment on a repo, and what it contained. The stock
//! kojid reports the packages mock installed (`host.setBuildRootList` once the buildroot is
//! populated, `host.updateBuildRootList` for later additions), and `koji list-buildroot N`
//! reads them back through `listRPMs(componentBuildrootID=N)`. Packages from external
//! repos are recorded as external RPMs of the repo they came from, as Koji does.

use super::tasks::assert_holds;
use super::{Named, get};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::buildroots as store;
use crate::storage::builds::{self as rpms, NewRpm};

pub use crate::storage::buildroots::{BUILDROOT_ORDER, Buildroot, BuildrootFilter, state};
use crate::storage::{Page, Paged};

/// Most packages one report may name (a full Fedora buildroot has about 400).
pub const MAX_LIST: usize = 20_000;

/// listBuildroots.
pub async fn list(c: &mut Ctx, f: &BuildrootFilter, page: &Page) -> HResult<Paged<Buildroot>> {
    Ok(store::list(c.db().await?, f, page).await?)
}

/// host.newBuildRoot: a buildroot of the host on a repo that is not deleted (with
/// `task`, one the host holds). The buildroot marks the repo as in use until it expires.
pub async fn create(
    c: &mut Ctx,
    host: i32,
    repo: i32,
    arch: &str,
    task: Option<i32>,
) -> HResult<i32> {
    if let Some(t) = task {
        assert_holds(c, host, t).await?;
    }
    let Some(r) = super::repos::get(c, repo).await? else {
        return Err(HubError::generic(format!("No such repo: {repo}")));
    };
    if r.row.state == super::repos::state::DELETED {
        return Err(HubError::generic(format!("Repo {repo} is deleted")));
    }
    let ev = c.event().await?;
    Ok(store::insert(c.db().await?, host, r.row.tag_id, repo, arch, task, ev).await?)
}

/// host.setBuildRootState: INIT=0 WAITING=1 BUILDING=2 EXPIRED=3 (EXPIRED retires it).
pub async fn set_state(c: &mut Ctx, host: i32, id: i32, st: i32) -> HResult<()> {
    if !(state::INIT..=state::EXPIRED).contains(&st) {
        return Err(HubError::parameter(format!(
            "Invalid buildroot state: {st}"
        )));
    }
    let ev = c.event().await?;
    if !store::set_state(c.db().await?, id, host, st, ev).await? {
        return Err(HubError::generic(format!(
            "No such buildroot on this host: {id}"
        )));
    }
    Ok(())
}

/// The buildroot must be the calling host's, and with `task` the task must be open on
/// the host and be the buildroot's task (Koji's `assertHost`/`assertTask`). Returns its
/// state.
async fn owned(c: &mut Ctx, host: i32, br: i32, task: Option<i32>) -> HResult<i32> {
    if let Some(t) = task {
        assert_holds(c, host, t).await?;
    }
    let Some((br_host, br_task, st)) = store::owner(c.db().await?, br).await? else {
        return Err(HubError::generic(format!("No such buildroot: {br}")));
    };
    if br_host != Some(host) {
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

/// One package a buildroot reports: an RPM built here, or (with `location`, the external
/// repo's name) one from outside.
pub struct ReportedRpm {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub location: Option<String>,
    /// What recording a new external RPM needs; as reported, it matters (and its
    /// problems are reported) only then.
    pub details: HResult<RpmDetails>,
}

pub struct RpmDetails {
    pub epoch: Option<i32>,
    /// Hex, at most 128 digits.
    pub payloadhash: String,
    pub size: i64,
    pub buildtime: i64,
}

/// The rpminfo id of one reported package: an internal RPM must be known; an external one
/// is added when it is new.
async fn rpm_id_of(c: &mut Ctx, r: ReportedRpm) -> HResult<i32> {
    let nvra = format!("{}-{}-{}.{}", r.name, r.version, r.release, r.arch);
    let repo_id = match &r.location {
        None => 0,
        Some(loc) => {
            get(c, Named::ExternalRepo, &Ident::Name(loc.clone()))
                .await?
                .0
        }
    };
    let found = rpms::rpm_id(
        c.db().await?,
        &r.name,
        &r.version,
        &r.release,
        &r.arch,
        repo_id,
    )
    .await?;
    if let Some(id) = found {
        return Ok(id);
    }
    if repo_id == 0 {
        return Err(HubError::generic(format!("No such rpm: {nvra}")));
    }
    let d = r.details?;
    c.mark_write();
    let row = NewRpm {
        name: &r.name,
        version: &r.version,
        release: &r.release,
        epoch: d.epoch,
        arch: &r.arch,
        payloadhash: &d.payloadhash,
        size: d.size,
        buildtime: d.buildtime,
    };
    Ok(rpms::insert_external_rpm(c.db().await?, repo_id, &row).await?)
}

/// The host may report packages of the buildroot: its own (with `task`, that task's),
/// INIT for the first list, BUILDING for additions (`update`).
pub async fn check_listable(
    c: &mut Ctx,
    host: i32,
    br: i32,
    task: Option<i32>,
    update: bool,
) -> HResult<()> {
    let st = owned(c, host, br, task).await?;
    let want = if update { state::BUILDING } else { state::INIT };
    if st != want {
        return Err(HubError::generic(format!(
            "buildroot {br} in wrong state {st}"
        )));
    }
    Ok(())
}

/// host.setBuildRootList (`update` false: the populated INIT buildroot) and
/// host.updateBuildRootList (`update` true: additions while BUILDING).
pub async fn record_list(
    c: &mut Ctx,
    host: i32,
    br: i32,
    task: Option<i32>,
    list: Vec<ReportedRpm>,
    update: bool,
) -> HResult<()> {
    check_listable(c, host, br, task, update).await?;
    let mut ids = Vec::with_capacity(list.len());
    for r in list {
        ids.push(rpm_id_of(c, r).await?);
    }
    // sorted: concurrent reports lock rows in one order
    ids.sort_unstable();
    ids.dedup();
    c.mark_write();
    store::add_listing(c.db().await?, br, &ids, update).await?;
    Ok(())
}
