//! RPMs built elsewhere (`koji import`): empty builds made by an admin (createEmptyBuild)
//! and uploaded RPMs filed under them (importRPM), with the signature they came with.

use crate::ctx::Ctx;
use crate::domain::builds::{self, Build, BuildRef, Rpm, RpmRef, parse_nvr, state};
use crate::domain::signatures;
use crate::error::{HResult, HubError};
use crate::rpmhdr;
use crate::safefs;
use crate::storage::builds as build_store;
use crate::storage::imports as store;

fn state_name(s: i32) -> &'static str {
    match s {
        state::BUILDING => "BUILDING",
        state::COMPLETE => "COMPLETE",
        state::DELETED => "DELETED",
        state::FAILED => "FAILED",
        _ => "CANCELED",
    }
}

/// createEmptyBuild: a COMPLETE build without files, owned by `owner` (the caller when
/// None). A FAILED or CANCELED build of the same NVR is taken over, as Koji does.
pub async fn create_empty_build(
    c: &mut Ctx,
    name: &str,
    version: &str,
    release: &str,
    epoch: Option<i32>,
    owner: Option<i32>,
) -> HResult<i32> {
    crate::names::check_internal(name)?;
    crate::names::check_nvr(name, version, release)?;
    let owner = match owner.or(c.user_id()) {
        Some(o) => o,
        None => return Err(HubError::auth("No user logged in")),
    };
    let pkg = super::packages::ensure(c, name).await?;
    let existing = build_store::id_and_state(c.db().await?, pkg, version, release).await?;
    let ev = c.event().await?;
    c.mark_write();
    let db = c.db().await?;
    let id = match existing {
        Some((id, st)) if st == state::FAILED || st == state::CANCELED => {
            store::recycle_complete(db, id, owner, epoch, ev).await?;
            id
        }
        Some((id, st)) => {
            return Err(HubError::generic(format!(
                "Build already exists (id={id}, state={}): {name}-{version}-{release}",
                state_name(st)
            )));
        }
        None => store::insert_complete(db, pkg, version, release, epoch, owner, ev).await?,
    };
    tracing::info!(build = id, nvr = %format!("{name}-{version}-{release}"), "empty build created");
    Ok(id)
}

/// importRPM: the uploaded `work/<dir>/<basename>` filed under its build (a source RPM
/// makes its build when there is none; a binary one needs its source RPM's build), rows
/// first, file moved last, then the signature it carries recorded.
/// With `sigkey`, the signature the file carries is filed under that key id.
pub async fn import_rpm(
    c: &mut Ctx,
    dir: &str,
    basename: &str,
    sigkey: Option<&str>,
) -> HResult<(Rpm, Build)> {
    crate::domain::uploads::check_filename(basename)?;
    let label = sigkey.map(signatures::check_key).transpose()?;
    let rel = format!("{}/{basename}", dir.trim_end_matches('/'));
    let tree = safefs::Tree::open(&c.hub().config.topdir)?;
    let input = tree.upload_input(&rel)?;
    let info = rpmhdr::read_file(&input.file, basename)
        .map_err(|e| HubError::generic(format!("{basename}: {}", e.msg)))?;
    let own_sig = signatures::own_signature(&input.file, basename)?;
    let expected = info.filename();
    if basename != expected {
        return Err(HubError::generic(format!(
            "bad filename: {basename} (expected {expected})"
        )));
    }
    let b = if info.is_source {
        match builds::find(c, &BuildRef::Nvr(info.nvr())).await? {
            Some(b) => b,
            None => {
                let id = create_empty_build(
                    c,
                    &info.name,
                    &info.version,
                    &info.release,
                    info.epoch,
                    None,
                )
                .await?;
                builds::require(c, &BuildRef::Id(id), &id.to_string()).await?
            }
        }
    } else {
        let src = info.sourcerpm.clone().unwrap_or_default();
        let nvr = src
            .strip_suffix(".src.rpm")
            .filter(|n| parse_nvr(n).is_some())
            .ok_or_else(|| HubError::generic(format!("{basename}: bad SOURCERPM {src:?}")))?;
        builds::find(c, &BuildRef::Nvr(nvr.to_string()))
            .await?
            .ok_or_else(|| HubError::generic("No such build"))?
    };
    if matches!(b.state, state::FAILED | state::CANCELED | state::DELETED) {
        return Err(HubError::generic(format!(
            "Build is {}: {}",
            state_name(b.state),
            b.nvr()
        )));
    }
    let row = build_store::NewRpm {
        name: &info.name,
        version: &info.version,
        release: &info.release,
        epoch: info.epoch,
        arch: &info.arch,
        payloadhash: &info.payloadhash,
        size: info.size,
        buildtime: info.buildtime,
    };
    c.mark_write();
    build_store::insert_build_rpm(c.db().await?, b.id, &row)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                HubError::generic(format!("rpm {expected} already imported"))
            }
            _ => HubError::Db(e),
        })?;
    let rpm = builds::find_rpm(
        c,
        &RpmRef::Nvra(format!(
            "{}-{}-{}.{}",
            info.name, info.version, info.release, info.arch
        )),
    )
    .await?
    .ok_or_else(|| HubError::generic(format!("No such rpm: {expected}")))?;
    tree.move_and_link(&input, &signatures::rpm_rel(&b, &rpm))?;
    if let Some((key, sighdr)) = own_sig {
        let key = label.unwrap_or(key);
        signatures::add_own(c, &b, &rpm, &key, &sighdr).await?;
    }
    tracing::info!(build = b.id, rpm = %expected, "rpm imported");
    Ok((rpm, b))
}
