//! Packages and tag package lists (owner, blocked, extra arches), inherited through tags.

use super::common::{self, Named, ver};
use super::tags::{filters_pass, inheritance_order, require_tag};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::signature::{Args, Ident};
use koji_protocol::{Value, kstruct};
use sqlx::Row;
use std::collections::HashSet;

/// getPackage(info, strict=False, create=False)
pub async fn get_package(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    if let Some((id, name)) = common::find(c, Named::Package, &ident).await? {
        return Ok(kstruct! { "id" => id, "name" => name });
    }
    if a.truthy(2) {
        let Ident::Name(n) = &ident else {
            return Err(common::no_such(Named::Package, &ident));
        };
        let id = ensure_package(c, n).await?;
        return Ok(kstruct! { "id" => id, "name" => n.clone() });
    }
    if a.truthy(1) {
        return Err(common::no_such(Named::Package, &ident));
    }
    Ok(Value::Nil)
}

/// getPackageID(name, strict=False)
pub async fn get_package_id(c: &mut Ctx, a: Args) -> HResult<Value> {
    let name = a.str(0)?.to_string();
    match common::find(c, Named::Package, &Ident::Name(name.clone())).await? {
        Some((id, _)) => Ok(Value::Int(id)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such package name: {name}"))),
        None => Ok(Value::Nil),
    }
}

pub async fn ensure_package_pub(c: &mut Ctx, name: &str) -> HResult<i64> {
    ensure_package(c, name).await
}

async fn ensure_package(c: &mut Ctx, name: &str) -> HResult<i64> {
    crate::names::check_internal(name)?;
    if let Some((id, _)) = common::find(c, Named::Package, &Ident::Name(name.to_string())).await? {
        return Ok(id);
    }
    c.mark_write();
    let id: i32 = sqlx::query_scalar("INSERT INTO package (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(c.db().await?)
        .await?;
    Ok(i64::from(id))
}

/// packageListAdd(taginfo, pkginfo, owner=None, block=None, extra_arches=None, force=False,
/// update=False)
pub async fn package_list_add(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let pkg_ident = a.ident(1)?;
    let owner = match a.val(2) {
        Value::Nil => None,
        v => {
            let ident = common::ident_of(v, "user")?;
            Some(common::get(c, Named::User, &ident).await?.0)
        }
    };
    let block = if a.is_nil(3) { None } else { Some(a.truthy(3)) };
    let extra_arches = match a.opt_str(4)? {
        Some(s) => Some(crate::names::parse_arches(s)?),
        None => None,
    };
    let update = a.truthy(6);
    let pkg_id = match &pkg_ident {
        Ident::Name(n) => ensure_package(c, n).await?,
        Ident::Id(_) => common::get(c, Named::Package, &pkg_ident).await?.0,
    };
    let pkg_name = common::get(c, Named::Package, &Ident::Id(pkg_id)).await?.1;
    let prev = sqlx::query(
        "SELECT p.blocked, p.extra_arches, o.owner FROM tag_packages p \
         LEFT JOIN tag_package_owners o ON o.tag_id = p.tag_id AND o.package_id = p.package_id AND o.active \
         WHERE p.tag_id = $1 AND p.package_id = $2 AND p.active",
    )
    .bind(tag_id as i32)
    .bind(pkg_id as i32)
    .fetch_optional(c.db().await?)
    .await?;
    let (blocked, arches, owner) = match prev {
        Some(r) => {
            if !update && owner.is_none() && block.is_none() && extra_arches.is_none() {
                return Err(HubError::generic(format!(
                    "Package {pkg_name} already exists in tag {tag_name}"
                )));
            }
            let old_blocked: bool = r.try_get("blocked")?;
            let old_arches: Option<String> = r.try_get("extra_arches")?;
            let old_owner: Option<i32> = r.try_get("owner")?;
            let new = (
                block.unwrap_or(old_blocked),
                extra_arches.clone().or(old_arches.clone()),
                owner.or(old_owner.map(i64::from)),
            );
            if new == (old_blocked, old_arches, old_owner.map(i64::from)) {
                return Ok(Value::Nil);
            }
            new
        }
        None => {
            let Some(o) = owner else {
                return Err(HubError::generic("owner not specified"));
            };
            (block.unwrap_or(false), extra_arches, Some(o))
        }
    };
    common::revoke(
        c,
        "tag_packages",
        "tag_id = $2 AND package_id = $3",
        &[tag_id, pkg_id],
    )
    .await?;
    common::revoke(
        c,
        "tag_package_owners",
        "tag_id = $2 AND package_id = $3",
        &[tag_id, pkg_id],
    )
    .await?;
    let ev = c.event().await?;
    let me = c.user_id().map(|x| x as i32);
    sqlx::query(
        "INSERT INTO tag_packages (package_id, tag_id, blocked, extra_arches, create_event, creator_id) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(pkg_id as i32)
    .bind(tag_id as i32)
    .bind(blocked)
    .bind(&arches)
    .bind(ev)
    .bind(me)
    .execute(c.db().await?)
    .await?;
    if let Some(o) = owner {
        sqlx::query(
            "INSERT INTO tag_package_owners (package_id, tag_id, owner, create_event, creator_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(pkg_id as i32)
        .bind(tag_id as i32)
        .bind(o as i32)
        .bind(ev)
        .bind(me)
        .execute(c.db().await?)
        .await?;
    }
    Ok(Value::Nil)
}

/// packageListRemove(taginfo, pkginfo, force=False)
pub async fn package_list_remove(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (pkg_id, pkg_name) = common::get(c, Named::Package, &a.ident(1)?).await?;
    let n = common::revoke(
        c,
        "tag_packages",
        "tag_id = $2 AND package_id = $3",
        &[tag_id, pkg_id],
    )
    .await?;
    common::revoke(
        c,
        "tag_package_owners",
        "tag_id = $2 AND package_id = $3",
        &[tag_id, pkg_id],
    )
    .await?;
    if n == 0 {
        return Err(HubError::generic(format!(
            "Package {pkg_name} is not in tag listing for {tag_name}"
        )));
    }
    Ok(Value::Nil)
}

struct PkgRow {
    package_id: i64,
    package_name: String,
    tag_id: i64,
    tag_name: String,
    owner_id: Option<i64>,
    owner_name: Option<String>,
    extra_arches: Option<String>,
    blocked: bool,
}

async fn tag_listing(c: &mut Ctx, tag_id: Option<i64>, event: Option<i64>) -> HResult<Vec<PkgRow>> {
    let sql = format!(
        "SELECT p.package_id, pk.name AS package_name, p.tag_id, t.name AS tag_name, o.owner, u.name AS owner_name, \
                p.extra_arches, p.blocked \
         FROM tag_packages p JOIN package pk ON pk.id = p.package_id JOIN tag t ON t.id = p.tag_id \
         LEFT JOIN tag_package_owners o ON o.tag_id = p.tag_id AND o.package_id = p.package_id AND {} \
         LEFT JOIN users u ON u.id = o.owner \
         WHERE {} AND ($1::int IS NULL OR p.tag_id = $1) ORDER BY pk.name, t.name",
        ver("o", event),
        ver("p", event)
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(common::opt_i32(tag_id))
        .fetch_all(c.db().await?)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(PkgRow {
            package_id: i64::from(r.try_get::<i32, _>("package_id")?),
            package_name: r.try_get("package_name")?,
            tag_id: i64::from(r.try_get::<i32, _>("tag_id")?),
            tag_name: r.try_get("tag_name")?,
            owner_id: r.try_get::<Option<i32>, _>("owner")?.map(i64::from),
            owner_name: r.try_get("owner_name")?,
            extra_arches: r.try_get("extra_arches")?,
            blocked: r.try_get("blocked")?,
        });
    }
    Ok(out)
}

fn row_value(r: &PkgRow) -> Value {
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
        Some(i) => Some(common::get(c, Named::Tag, &i).await?.0),
        None => None,
    };
    let user = match a.opt_ident(1)? {
        Some(i) => Some(common::get(c, Named::User, &i).await?.0),
        None => None,
    };
    let pkg = match a.opt_ident(2)? {
        Some(i) => match common::find(c, Named::Package, &i).await? {
            Some((id, _)) => Some(id),
            None => return Ok(Value::Array(vec![])),
        },
        None => None,
    };
    let prefix = a.opt_str(3)?.map(str::to_string);
    let inherited = a.truthy(4);
    let with_dups = a.truthy(5);
    let event = a.opt_i64(6)?;
    let qo = common::QueryOpts::parse(
        a.val(7),
        &[
            "package_id",
            "package_name",
            "tag_id",
            "tag_name",
            "owner_name",
        ],
    )?;
    let with_blocked = a.truthy(9);
    if tag.is_none() && user.is_none() && pkg.is_none() {
        // plain list of package names
        let rows: Vec<(i32, String)> = sqlx::query_as(
            "SELECT id, name FROM package WHERE ($1::text IS NULL OR name LIKE $1 || '%') ORDER BY name",
        )
        .bind(prefix.as_deref().map(common::glob_to_like))
        .fetch_all(c.db().await?)
        .await?;
        let out = rows
            .into_iter()
            .map(|(id, name)| kstruct! { "package_id" => id, "package_name" => name })
            .collect();
        return Ok(qo.apply(out));
    }
    let mut rows: Vec<PkgRow> = Vec::new();
    match tag {
        Some(t) => {
            // the tag itself first, then its ancestors in inheritance order
            let order = if inherited {
                inheritance_order(c, t, event).await?
            } else {
                vec![(t, Vec::new())]
            };
            let mut seen = HashSet::new();
            for (tid, filt) in order {
                for r in tag_listing(c, Some(tid), event).await? {
                    if !filters_pass(&filt, &r.package_name) {
                        continue;
                    }
                    if !with_dups && !seen.insert(r.package_id) {
                        continue;
                    }
                    rows.push(r);
                }
            }
        }
        None => rows = tag_listing(c, None, event).await?,
    }
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
        .map(row_value)
        .collect();
    Ok(qo.apply(out))
}

/// getPackageConfig(tag, pkg, event=None): the package's list entry in the tag, through
/// inheritance (the nearest tag that lists it wins), or None.
pub async fn get_package_config(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let pkg = match common::find(c, Named::Package, &a.ident(1)?).await? {
        Some((id, _)) => id,
        None => return Ok(Value::Nil),
    };
    let event = a.opt_i64(2)?;
    let order = inheritance_order(c, tag_id, event).await?;
    for (tid, filt) in order {
        if let Some(r) = tag_listing(c, Some(tid), event)
            .await?
            .into_iter()
            .find(|r| r.package_id == pkg)
        {
            if !filters_pass(&filt, &r.package_name) {
                return Ok(Value::Nil);
            }
            return Ok(row_value(&r));
        }
    }
    Ok(Value::Nil)
}

/// packageListAdd with the given arguments, bound as a client call would be.
async fn add_with(c: &mut Ctx, pos: Vec<Value>, kw: koji_protocol::Struct) -> HResult<Value> {
    let args = match super::registry().get("packageListAdd") {
        Some(m) => m.sig.bind("packageListAdd", pos, kw)?,
        None => return Err(HubError::generic("packageListAdd is not registered")),
    };
    package_list_add(c, args).await
}

/// The package's nearest listing for the tag (itself or inherited): (blocked, owner).
async fn listing(c: &mut Ctx, tag_id: i64, pkg_id: i64) -> HResult<Option<(bool, Option<i64>)>> {
    for (tid, filt) in inheritance_order(c, tag_id, None).await? {
        for r in tag_listing(c, Some(tid), None).await? {
            if r.package_id == pkg_id && filters_pass(&filt, &r.package_name) {
                return Ok(Some((r.blocked, r.owner_id)));
            }
        }
    }
    Ok(None)
}

/// packageListAdd(tag, pkg, owner=<inherited owner>, block=BLOCK, force=FORCE): a tag
/// without its own entry takes the owner of the inherited one, as Koji does.
async fn set_blocked(
    c: &mut Ctx,
    tag_id: i64,
    pkg_id: i64,
    owner: Option<i64>,
    block: bool,
    force: &Value,
) -> HResult<Value> {
    let mut kw = koji_protocol::Struct::new();
    kw.insert("block".into(), Value::Bool(block));
    kw.insert("force".into(), force.clone());
    if let Some(o) = owner {
        kw.insert("owner".into(), Value::Int(o));
    }
    add_with(c, vec![Value::Int(tag_id), Value::Int(pkg_id)], kw).await
}
/// packageListBlock(taginfo, pkginfo, force=False): the package stays listed but no build
/// of it is in the tag's repos (or inherited by its children).
pub async fn package_list_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (pkg_id, pkg_name) = common::get(c, Named::Package, &a.ident(1)?).await?;
    let Some((false, owner)) = listing(c, tag_id, pkg_id).await? else {
        return Err(HubError::generic(format!(
            "Package {pkg_name} is not included in tag listing of {tag_name} or is already blocked"
        )));
    };
    set_blocked(c, tag_id, pkg_id, owner, true, a.val(2)).await
}

/// packageListUnblock(taginfo, pkginfo, force=False): the tag lists the package unblocked
/// (an entry of its own, which also overrides a block inherited from a parent).
pub async fn package_list_unblock(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let (pkg_id, pkg_name) = common::get(c, Named::Package, &a.ident(1)?).await?;
    let Some((true, owner)) = listing(c, tag_id, pkg_id).await? else {
        return Err(HubError::generic(format!(
            "Package {pkg_name} is not blocked in tag {tag_name}"
        )));
    };
    set_blocked(c, tag_id, pkg_id, owner, false, a.val(2)).await
}
