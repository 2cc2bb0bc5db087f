//! Storage volumes: extra file systems mounted (or made) at `<topdir>/vol/<name>/`, to which
//! an admin moves builds' files. A build moved off DEFAULT keeps a symlink at its usual
//! `packages/…` path, so clients and builders still find it where they always did.

use crate::ctx::Ctx;
use crate::domain::builds::{self, Build, BuildRef};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::safefs::Tree;
use crate::storage::builds::state;
use crate::storage::volumes as store;
use std::path::PathBuf;

pub use crate::storage::volumes::{DEFAULT_ID, DEFAULT_NAME, Volume};

pub async fn list(c: &mut Ctx) -> HResult<Vec<Volume>> {
    Ok(store::list(c.db().await?).await?)
}

pub async fn find(c: &mut Ctx, ident: &Ident) -> HResult<Option<Volume>> {
    Ok(store::find(c.db().await?, ident).await?)
}

/// The volume named by `ident`; "No such volume: …" otherwise.
pub async fn require(c: &mut Ctx, ident: &Ident) -> HResult<Volume> {
    find(c, ident)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such volume: {ident}")))
}

/// A volume's directory relative to the topdir (DEFAULT is the topdir itself).
fn volume_rel(name: &str) -> PathBuf {
    if name == DEFAULT_NAME {
        PathBuf::new()
    } else {
        PathBuf::from("vol").join(name)
    }
}

/// A build's directory on a volume, relative to the topdir.
fn build_rel(b: &Build, volume: &str) -> PathBuf {
    volume_rel(volume)
        .join("packages")
        .join(&b.name)
        .join(&b.version)
        .join(&b.release)
}

fn tree(c: &Ctx) -> HResult<Tree> {
    Tree::open(&c.hub().config.topdir)
}

/// addVolume: the directory must already exist (an admin mounts or makes it); its
/// `toplink` back to the topdir is checked, or made when missing.
/// Without `strict`, an existing volume of that name is answered as it is.
pub async fn add(c: &mut Ctx, name: &str, strict: bool) -> HResult<Volume> {
    crate::names::check_internal(name)?;
    let rel = volume_rel(name);
    let t = tree(c)?;
    if name == DEFAULT_NAME || !t.is_dir(&rel) {
        return Err(HubError::generic(
            "please create the volume directory first",
        ));
    }
    match t.ensure_toplink(&rel) {
        Ok(None) => {}
        Ok(Some(why)) => return Err(HubError::generic(why)),
        Err(e) => {
            tracing::error!(volume = name, error = %e, "cannot check the volume's toplink");
            return Err(HubError::generic(format!(
                "cannot check the toplink of volume {name}: {e}"
            )));
        }
    }
    if let Some(v) = find(c, &Ident::Name(name.to_string())).await? {
        if strict {
            return Err(HubError::generic(format!("volume {name} already exists")));
        }
        return Ok(v);
    }
    c.mark_write();
    let id = store::insert(c.db().await?, name).await?;
    tracing::info!(volume = name, id, "volume added");
    Ok((id, name.to_string()))
}

/// changeBuildVolume: move a COMPLETE or DELETED build's directory to another volume. The
/// row changes first (in the call's transaction); the move is the last step, so a refused
/// or failed move leaves both the files and the row as they were.
pub async fn change_build_volume(
    c: &mut Ctx,
    build: &BuildRef,
    shown: &str,
    volume: &Ident,
    strict: bool,
) -> HResult<()> {
    let (vid, vname) = require(c, volume).await?;
    let b = builds::require(c, build, shown).await?;
    if b.volume_id == vid && !strict {
        return Ok(());
    }
    if b.volume_id == vid {
        return Err(HubError::generic(format!(
            "Build {} already on volume {}",
            b.nvr(),
            b.volume_name
        )));
    }
    if b.state != state::COMPLETE && b.state != state::DELETED {
        let s = match b.state {
            state::BUILDING => "BUILDING",
            state::FAILED => "FAILED",
            state::CANCELED => "CANCELED",
            _ => "UNKNOWN",
        };
        return Err(HubError::generic(format!("Build {} is {s}", b.nvr())));
    }
    let t = tree(c)?;
    if !t.is_dir(&volume_rel(&vname)) {
        return Err(HubError::generic(format!(
            "Directory entry missing for volume {vname}"
        )));
    }
    let from = build_rel(&b, &b.volume_name);
    let to = build_rel(&b, &vname);
    if !t.is_dir(&from) {
        return Err(HubError::generic(format!(
            "Build directory missing: {}",
            t.top().join(&from).display()
        )));
    }
    let base = build_rel(&b, DEFAULT_NAME);
    let link = (vname != DEFAULT_NAME).then_some(base.as_path());
    c.mark_write();
    store::set_build_volume(c.db().await?, b.id, vid).await?;
    t.move_dir(&from, &to, link).map_err(|e| {
        tracing::error!(build = %b.nvr(), from = %from.display(), to = %to.display(), error = %e,
            "cannot move the build's files");
        match e {
            nix::errno::Errno::EEXIST => HubError::generic(format!(
                "Destination directory exists: {}",
                t.top().join(&to).display()
            )),
            e => HubError::generic(format!("cannot move {} to volume {vname}: {e}", b.nvr())),
        }
    })?;
    tracing::info!(build = %b.nvr(), from = %b.volume_name, to = %vname, "build moved to another volume");
    Ok(())
}
