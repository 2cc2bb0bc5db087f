//! Packages and tag package lists (owner, blocked, extra arches), inherited through tags.

use super::common::{QueryOpts, paged_value, require_tag};
use crate::ctx::Ctx;
use crate::domain::packages::{self, ListAdd, Listing, PACKAGE_ORDER};
use crate::domain::{Named, find, get, glob_to_like, no_such};
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::signature::{Args, value_ident};
use koji_protocol::{Value, kstruct};

/// getPackage(info, strict=False, create=False)
pub async fn get_package(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    if let Some((id, name)) = find(c, Named::Package, &ident).await? {
        return Ok(kstruct! { "id" => id, "name" => name });
    }
    if a.truthy(2) {
        let (id, name) = packages::get_or_create(c, &ident).await?;
        return Ok(kstruct! { "id" => id, "name" => name });
    }
    if a.truthy(1) {
        return Err(no_such(Named::Package, &ident));
    }
    Ok(Value::Nil)
}

/// getPackageID(name, strict=False)
pub async fn get_package_id(c: &mut Ctx, a: Args) -> HResult<Value> {
    let name = a.str(0)?.to_string();
    match find(c, Named::Package, &Ident::Name(name.clone())).await? {
        Some((id, _)) => Ok(Value::Int(i64::from(id))),
        None if a.truthy(1) => Err(HubError::generic(format!("No such package name: {name}"))),
        None => Ok(Value::Nil),
    }
}

/// packageListAdd(taginfo, pkginfo, owner=None, block=None, extra_arches=None, force=False,
/// update=False)
pub async fn package_list_add(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let pkg = a.ident(1)?;
    let owner = match a.val(2) {
        Value::Nil => None,
        v => Some(get(c, Named::User, &value_ident(v, "user")?).await?.0),
    };
    let block = if a.is_nil(3) { None } else { Some(a.truthy(3)) };
    let extra_arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => None,
    };
    let add = ListAdd {
        owner,
        block,
        extra_arches,
        update: a.truthy(6),
    };
    packages::list_add(c, (tag_id, &tag_name), &pkg, add).await?;
    Ok(Value::Nil)
}

/// packageListSetOwner(taginfo, pkginfo, owner, force=False)
pub async fn package_list_set_owner(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let pkg = a.ident(1)?;
    let owner = get(c, Named::User, &value_ident(a.val(2), "user")?)
        .await?
        .0;
    let set = ListAdd {
        owner: Some(owner),
        block: None,
        extra_arches: None,
        update: true,
    };
    packages::list_update(c, (tag_id, &tag_name), &pkg, set).await?;
    Ok(Value::Nil)
}

/// packageListSetArches(taginfo, pkginfo, arches, force=False): the extra arches of the
/// package in the tag ("" clears them).
pub async fn package_list_set_arches(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let pkg = a.ident(1)?;
    let arches = match a.val(2) {
        Value::String(s) => crate::names::parse_arches(s)?,
        Value::Array(items) => {
            let mut words = Vec::new();
            for v in items {
                match v.as_str() {
                    Some(s) => words.push(s.to_string()),
                    None => return Err(HubError::parameter("arches must be strings")),
                }
            }
            crate::names::parse_arches(&words.join(" "))?
        }
        _ => return Err(HubError::parameter("arches must be a string")),
    };
    let set = ListAdd {
        owner: None,
        block: None,
        extra_arches: Some(arches),
        update: true,
    };
    packages::list_update(c, (tag_id, &tag_name), &pkg, set).await?;
    Ok(Value::Nil)
}

/// packageListRemove(taginfo, pkginfo, force=False)
pub async fn package_list_remove(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (pkg_id, pkg_name) = get(c, Named::Package, &a.ident(1)?).await?;
    packages::list_remove(c, (tag_id, &tag_name), (pkg_id, &pkg_name)).await?;
    Ok(Value::Nil)
}

/// packageListBlock(taginfo, pkginfo, force=False): the package stays listed but no build
/// of it is in the tag's repos (or inherited by its children).
pub async fn package_list_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_blocked(c, a, true).await
}

/// packageListUnblock(taginfo, pkginfo, force=False): the tag lists the package unblocked
/// (an entry of its own, which also overrides a block inherited from a parent).
pub async fn package_list_unblock(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_blocked(c, a, false).await
}

async fn set_blocked(c: &mut Ctx, a: Args, block: bool) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (pkg_id, pkg_name) = get(c, Named::Package, &a.ident(1)?).await?;
    packages::set_blocked(c, (tag_id, &tag_name), (pkg_id, &pkg_name), block).await?;
    Ok(Value::Nil)
}

fn listing_value(r: &Listing) -> Value {
    kstruct! {
        "package_id" => r.package_id,
        "package_name" => r.package_name.clone(),
        "tag_id" => r.tag_id,
        "tag_name" => r.tag_name.clone(),
        "owner_id" => r.owner_id,
        "owner_name" => r.owner_name.clone(),
        "extra_arches" => r.extra_arches.clone(),
        "blocked" => r.blocked,
    }
}

/// listPackages(tagID=None, userID=None, pkgID=None, prefix=None, inherited=False,
/// with_dups=False, event=None, queryOpts=None, with_owners=True, with_blocked=True)
pub async fn list_packages(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tag = match a.opt_ident(0)? {
        Some(i) => Some(get(c, Named::Tag, &i).await?.0),
        None => None,
    };
    let user = match a.opt_ident(1)? {
        Some(i) => Some(get(c, Named::User, &i).await?.0),
        None => None,
    };
    let pkg = match a.opt_ident(2)? {
        Some(i) => match find(c, Named::Package, &i).await? {
            Some((id, _)) => Some(id),
            None => return Ok(Value::Array(vec![])),
        },
        None => None,
    };
    let prefix = a.opt_str(3)?.map(str::to_string);
    let inherited = a.truthy(4);
    let with_dups = a.truthy(5);
    let event = a.opt_i64(6)?;
    let qo = QueryOpts::parse(a.val(7), PACKAGE_ORDER)?;
    let max = c.hub().config.limits.max_list_rows;
    let with_blocked = a.truthy(9);
    if tag.is_none() && user.is_none() && pkg.is_none() {
        // plain list of package names
        let like = prefix.as_deref().map(glob_to_like);
        let rows = packages::list_all(c, like.as_deref(), &qo.page(max)).await?;
        return Ok(paged_value(
            rows,
            |(id, name)| kstruct! { "package_id" => id, "package_name" => name },
        ));
    }
    let rows = match tag {
        Some(t) => packages::of_tag(c, t, event, inherited, with_dups).await?,
        None => packages::listings(c, None, event).await?,
    };
    let out: Vec<Value> = rows
        .iter()
        .filter(|r| user.is_none() || r.owner_id == user)
        .filter(|r| pkg.is_none() || Some(r.package_id) == pkg)
        .filter(|r| {
            prefix
                .as_deref()
                .is_none_or(|p| r.package_name.starts_with(p))
        })
        .filter(|r| with_blocked || !r.blocked)
        .map(listing_value)
        .collect();
    // computed through inheritance, as Koji does; as large as the tag's list, not the farm
    Ok(qo.apply(out, max))
}

/// getPackageConfig(tag, pkg, event=None): the package's list entry in the tag, through
/// inheritance (the nearest tag that lists it wins), or None.
pub async fn get_package_config(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = match find(c, Named::Package, &a.ident(1)?).await? {
        Some((id, _)) => id,
        None => return Ok(Value::Nil),
    };
    let event = a.opt_i64(2)?;
    Ok(packages::config(c, tag_id, pkg, event)
        .await?
        .as_ref()
        .map_or(Value::Nil, listing_value))
}
