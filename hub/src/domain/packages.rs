//! Packages and tag package lists (owner, blocked, extra arches), inherited through tags.

use super::tags::{filters_pass, inheritance_order};
use super::{Named, find, get, no_such};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::packages as store;
use std::collections::HashSet;

pub use crate::storage::packages::{Listing, PACKAGE_ORDER};
use crate::storage::{Page, Paged};

/// The id of the package `name`, created if it does not exist yet.
pub async fn ensure(c: &mut Ctx, name: &str) -> HResult<i32> {
    crate::names::check_internal(name)?;
    if let Some((id, _)) = find(c, Named::Package, &Ident::Name(name.to_string())).await? {
        return Ok(id);
    }
    c.mark_write();
    Ok(store::insert(c.db().await?, name).await?)
}

/// getPackage(create=True): by name the package is created when missing; an id must exist.
pub async fn get_or_create(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    match ident {
        Ident::Name(n) => Ok((ensure(c, n).await?, n.clone())),
        Ident::Id(_) => Err(no_such(Named::Package, ident)),
    }
}

/// (id, name) of every package whose name is LIKE `like`, by name; one page.
pub async fn list_all(
    c: &mut Ctx,
    like: Option<&str>,
    page: &Page,
) -> HResult<Paged<(i32, String)>> {
    Ok(store::list(c.db().await?, like, page).await?)
}

/// The package list of one tag (or of every tag) as of `event`.
pub async fn listings(c: &mut Ctx, tag: Option<i32>, event: Option<i64>) -> HResult<Vec<Listing>> {
    Ok(store::listings(c.db().await?, tag, event).await?)
}

/// listPackages of a tag: its own list, with `inherited` also its ancestors' (in
/// inheritance order, their package filters applied; without `with_dups` the nearest entry
/// of a package only).
pub async fn of_tag(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    inherited: bool,
    with_dups: bool,
) -> HResult<Vec<Listing>> {
    let order = if inherited {
        inheritance_order(c, tag, event).await?
    } else {
        vec![(tag, Vec::new())]
    };
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (tid, filt) in order {
        for r in listings(c, Some(tid), event).await? {
            if !filters_pass(&filt, &r.package_name) {
                continue;
            }
            if !with_dups && !seen.insert(r.package_id) {
                continue;
            }
            rows.push(r);
        }
    }
    Ok(rows)
}

/// getPackageConfig: the package's entry in the tag through inheritance (the nearest tag
/// that lists it decides; filtered out there means none).
pub async fn config(
    c: &mut Ctx,
    tag: i32,
    package: i32,
    event: Option<i64>,
) -> HResult<Option<Listing>> {
    for (tid, filt) in inheritance_order(c, tag, event).await? {
        if let Some(r) = listings(c, Some(tid), event)
            .await?
            .into_iter()
            .find(|r| r.package_id == package)
        {
            if !filters_pass(&filt, &r.package_name) {
                return Ok(None);
            }
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// What `packageListAdd` sets; None keeps what the tag's entry has.
pub struct ListAdd {
    pub owner: Option<i32>,
    pub block: Option<bool>,
    /// Checked and space-joined.
    pub extra_arches: Option<String>,
    pub update: bool,
}

/// packageListAdd: a new version of the tag's own entry for the package (named by id, or
/// by name, created if missing). Nothing is written when nothing changes.
pub async fn list_add(c: &mut Ctx, tag: (i32, &str), pkg: &Ident, add: ListAdd) -> HResult<()> {
    let (tag_id, tag_name) = tag;
    let pkg_id = match pkg {
        Ident::Name(n) => ensure(c, n).await?,
        Ident::Id(_) => get(c, Named::Package, pkg).await?.0,
    };
    let pkg_name = get(c, Named::Package, &Ident::Id(pkg_id)).await?.1;
    let prev = store::own_entry(c.db().await?, tag_id, pkg_id).await?;
    let (blocked, arches, owner) = match prev {
        Some((old_blocked, old_arches, old_owner)) => {
            if !add.update
                && add.owner.is_none()
                && add.block.is_none()
                && add.extra_arches.is_none()
            {
                return Err(HubError::generic(format!(
                    "Package {pkg_name} already exists in tag {tag_name}"
                )));
            }
            let new = (
                add.block.unwrap_or(old_blocked),
                add.extra_arches.clone().or(old_arches.clone()),
                add.owner.or(old_owner),
            );
            if new == (old_blocked, old_arches, old_owner) {
                return Ok(());
            }
            new
        }
        None => {
            let Some(o) = add.owner else {
                return Err(HubError::generic("owner not specified"));
            };
            (add.block.unwrap_or(false), add.extra_arches, Some(o))
        }
    };
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_entry(db, tag_id, pkg_id, s).await?;
    store::revoke_owner(db, tag_id, pkg_id, s).await?;
    store::insert_entry(db, tag_id, pkg_id, blocked, arches.as_deref(), s).await?;
    if let Some(o) = owner {
        store::insert_owner(db, tag_id, pkg_id, o, s).await?;
    }
    Ok(())
}

/// packageListSetOwner / packageListSetArches: change an entry the tag has, its own or
/// inherited (which then becomes its own, with the inherited owner unless a new one is
/// given). A package the tag has no entry for is an error, not a new entry.
pub async fn list_update(
    c: &mut Ctx,
    tag: (i32, &str),
    pkg: &Ident,
    mut add: ListAdd,
) -> HResult<()> {
    let (pkg_id, pkg_name) = match find(c, Named::Package, pkg).await? {
        Some(p) => p,
        None => return Err(HubError::generic(format!("No such package: {pkg}"))),
    };
    let Some(entry) = config(c, tag.0, pkg_id, None).await? else {
        return Err(HubError::generic(format!(
            "cannot update: tag {} has no data for package {pkg_name}",
            tag.1
        )));
    };
    if add.owner.is_none() {
        add.owner = entry.owner_id;
    }
    add.update = true;
    list_add(c, tag, &Ident::Id(pkg_id), add).await
}

/// packageListRemove: the tag's own entry goes (an inherited one stays).
pub async fn list_remove(c: &mut Ctx, tag: (i32, &str), pkg: (i32, &str)) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    let n = store::revoke_entry(db, tag.0, pkg.0, s).await?;
    store::revoke_owner(db, tag.0, pkg.0, s).await?;
    if n == 0 {
        return Err(HubError::generic(format!(
            "Package {} is not in tag listing for {}",
            pkg.1, tag.1
        )));
    }
    Ok(())
}

/// The package's nearest listing for the tag (itself or inherited): (blocked, owner).
async fn nearest(c: &mut Ctx, tag: i32, pkg: i32) -> HResult<Option<(bool, Option<i32>)>> {
    for (tid, filt) in inheritance_order(c, tag, None).await? {
        for r in listings(c, Some(tid), None).await? {
            if r.package_id == pkg && filters_pass(&filt, &r.package_name) {
                return Ok(Some((r.blocked, r.owner_id)));
            }
        }
    }
    Ok(None)
}

/// packageListBlock / packageListUnblock: the tag gets an entry of its own with `block`
/// (a tag without one takes the owner of the inherited entry, as Koji does). The package
/// must be listed and not blocked (to block) or blocked (to unblock).
pub async fn set_blocked(
    c: &mut Ctx,
    tag: (i32, &str),
    pkg: (i32, &str),
    block: bool,
) -> HResult<()> {
    let owner = match nearest(c, tag.0, pkg.0).await? {
        Some((blocked, owner)) if blocked != block => owner,
        _ if block => {
            return Err(HubError::generic(format!(
                "Package {} is not included in tag listing of {} or is already blocked",
                pkg.1, tag.1
            )));
        }
        _ => {
            return Err(HubError::generic(format!(
                "Package {} is not blocked in tag {}",
                pkg.1, tag.1
            )));
        }
    };
    list_add(
        c,
        tag,
        &Ident::Id(pkg.0),
        ListAdd {
            owner,
            block: Some(block),
            extra_arches: None,
            update: false,
        },
    )
    .await
}

/// Whether the package is listed (and not blocked) in the tag or its ancestors: the
/// nearest tag that lists it decides.
pub async fn allowed(c: &mut Ctx, tag: i32, pkg: &str) -> HResult<bool> {
    let order: Vec<i32> = inheritance_order(c, tag, None)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    for t in order {
        if let Some(b) = store::blocked_by_name(c.db().await?, t, pkg).await? {
            return Ok(!b);
        }
    }
    Ok(false)
}

/// Names of packages blocked in the tag as of `event` (the nearest listing through
/// inheritance decides).
pub async fn blocked_names(c: &mut Ctx, tag: i32, event: Option<i64>) -> HResult<HashSet<String>> {
    let mut seen = HashSet::new();
    let mut blocked = HashSet::new();
    for (t, filters) in inheritance_order(c, tag, event).await? {
        for (name, b) in store::names_and_blocks(c.db().await?, t, event).await? {
            if !filters_pass(&filters, &name) {
                continue;
            }
            if seen.insert(name.clone()) && b {
                blocked.insert(name);
            }
        }
    }
    Ok(blocked)
}
