//! Storage volumes: addVolume, getVolume, listVolumes, changeBuildVolume.

use super::common::build_ref;
use crate::ctx::Ctx;
use crate::domain::volumes::{self, Volume};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::{Value, kstruct};

/// The volume methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "addVolume",
        "name, strict=True",
        "Add a storage volume; its directory <topdir>/vol/<name> must exist. [admin]",
        handler!(add_volume),
    );
    r.add(
        "getVolume",
        "volume, strict=False",
        "A storage volume by id or name.",
        handler!(get_volume),
    );
    r.add(
        "listVolumes",
        "",
        "Storage volumes.",
        handler!(list_volumes),
    );
    r.add(
        "changeBuildVolume",
        "build, volume, strict=True",
        "Move a build's files to another volume (a link stays at the usual path). [admin]",
        handler!(change_build_volume),
    );
}

fn volume_value(v: &Volume) -> Value {
    kstruct! { "id" => v.0, "name" => v.1.clone() }
}

/// addVolume(name, strict=True)
async fn add_volume(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    Ok(volume_value(&volumes::add(c, &name, a.truthy(1)).await?))
}

/// getVolume(volume, strict=False)
async fn get_volume(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    match volumes::find(c, &ident).await? {
        Some(v) => Ok(volume_value(&v)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such volume: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// listVolumes()
async fn list_volumes(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let rows = volumes::list(c).await?;
    Ok(Value::Array(rows.iter().map(volume_value).collect()))
}

/// changeBuildVolume(build, volume, strict=True)
async fn change_build_volume(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let volume = a.ident(1)?;
    let build = build_ref(a.val(0))?;
    let shown = crate::pyrepr::repr(a.val(0));
    volumes::change_build_volume(c, &build, &shown, &volume, a.truthy(2)).await?;
    Ok(Value::Nil)
}
