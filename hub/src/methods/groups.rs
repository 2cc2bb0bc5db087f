//! Comps groups of tags: groupList*, groupPackageList*, groupReqList* (the `tag`
//! permission, or admin, as Koji asks) and getTagGroups (anyone). Also `mavenEnabled`,
//! which `koji taginfo` asks beside getTagGroups: kkoji builds no Maven artifacts.

use super::common::require_tag;
use crate::ctx::Ctx;
use crate::domain::groups::{self, GroupOpts, PackageOpts, ReqOpts, TagGroup};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::{Struct, Value, kstruct};

/// The group methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "groupListAdd",
        "taginfo, grpinfo, block=False, force=False, **opts",
        "Add a comps group to a tag (or change its entry): display_name, description, is_default, uservisible, exported, langonly, biarchonly. [tag]",
        handler!(group_list_add),
    );
    r.add(
        "groupListRemove",
        "taginfo, grpinfo, force=False",
        "Remove the tag's own entry for a group (an inherited one stays). [tag]",
        handler!(group_list_remove),
    );
    r.add(
        "groupListBlock",
        "taginfo, grpinfo",
        "Block a group in a tag and the tags inheriting from it. [tag]",
        handler!(group_list_block),
    );
    r.add(
        "groupListUnblock",
        "taginfo, grpinfo",
        "Remove the tag's own block of a group. [tag]",
        handler!(group_list_unblock),
    );
    r.add(
        "groupPackageListAdd",
        "taginfo, grpinfo, pkg_name, block=False, force=False, **opts",
        "Add a package to a tag's group (or change its entry): type, basearchonly, requires. [tag]",
        handler!(group_package_list_add),
    );
    r.add(
        "groupPackageListRemove",
        "taginfo, grpinfo, pkg_name",
        "Remove the tag's own entry for a package of a group. [tag]",
        handler!(group_package_list_remove),
    );
    r.add(
        "groupPackageListBlock",
        "taginfo, grpinfo, pkg_name",
        "Block a package of a group in a tag and the tags inheriting from it. [tag]",
        handler!(group_package_list_block),
    );
    r.add(
        "groupPackageListUnblock",
        "taginfo, grpinfo, pkg_name",
        "Remove the tag's own block of a package of a group. [tag]",
        handler!(group_package_list_unblock),
    );
    r.add(
        "groupReqListAdd",
        "taginfo, grpinfo, reqinfo, block=False, force=False, **opts",
        "Make a tag's group require another group (or change the entry): type, is_metapkg. [tag]",
        handler!(group_req_list_add),
    );
    r.add(
        "groupReqListRemove",
        "taginfo, grpinfo, reqinfo, force=None",
        "Remove the tag's own entry for a group's requirement. [tag]",
        handler!(group_req_list_remove),
    );
    r.add(
        "groupReqListBlock",
        "taginfo, grpinfo, reqinfo",
        "Block a group's requirement in a tag and the tags inheriting from it. [tag]",
        handler!(group_req_list_block),
    );
    r.add(
        "groupReqListUnblock",
        "taginfo, grpinfo, reqinfo",
        "Remove the tag's own block of a group's requirement. [tag]",
        handler!(group_req_list_unblock),
    );
    r.add(
        "getTagGroups",
        "tag, event=None, inherit=True, incl_pkgs=True, incl_reqs=True, incl_blocked=False",
        "The comps groups of a tag (through inheritance), with packages and requirements.",
        handler!(get_tag_groups),
    );
    r.add(
        "mavenEnabled",
        "",
        "False: kkoji builds no Maven artifacts.",
        handler!(maven_enabled),
    );
}

/// A keyword option that is a flag: bool, 0/1, or None (SQL NULL).
fn opt_bool(opts: &Struct, key: &str) -> HResult<Option<Option<bool>>> {
    match opts.get(key) {
        None => Ok(None),
        Some(Value::Nil) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(Value::Int(0)) => Ok(Some(Some(false))),
        Some(Value::Int(1)) => Ok(Some(Some(true))),
        Some(v) => Err(HubError::parameter(format!(
            "Invalid value for {key}: expected a bool, got {}",
            crate::pyrepr::repr(v)
        ))),
    }
}

/// A keyword option that is text or None (SQL NULL).
fn opt_text(opts: &Struct, key: &str) -> HResult<Option<Option<String>>> {
    match opts.get(key) {
        None => Ok(None),
        Some(Value::Nil) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(v) => Err(HubError::parameter(format!(
            "Invalid value for {key}: expected a str, got {}",
            crate::pyrepr::repr(v)
        ))),
    }
}

/// A keyword option the schema keeps NOT NULL: None is refused.
fn required<T>(v: Option<Option<T>>, key: &str) -> HResult<Option<T>> {
    match v {
        None => Ok(None),
        Some(Some(x)) => Ok(Some(x)),
        Some(None) => Err(HubError::parameter(format!("{key} may not be None"))),
    }
}

fn group_opts(opts: &Struct) -> HResult<GroupOpts> {
    Ok(GroupOpts {
        exported: opt_bool(opts, "exported")?,
        display_name: required(opt_text(opts, "display_name")?, "display_name")?,
        is_default: opt_bool(opts, "is_default")?,
        uservisible: opt_bool(opts, "uservisible")?,
        description: opt_text(opts, "description")?,
        langonly: opt_text(opts, "langonly")?,
        biarchonly: opt_bool(opts, "biarchonly")?,
    })
}

/// The tag (first argument) and the existing group (second argument), after the
/// permission check.
async fn tag_and_group(c: &mut Ctx, a: &Args) -> HResult<((i32, String), (i32, String))> {
    c.assert_perm("tag").await?;
    let tag = require_tag(c, a.val(0)).await?;
    let group = groups::require(c, &a.ident(1)?).await?;
    Ok((tag, group))
}

/// groupListAdd(taginfo, grpinfo, block=False, force=False, **opts)
pub async fn group_list_add(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let group = a.ident(1)?;
    let opts = group_opts(&a.extra)?;
    groups::list_add(
        c,
        (tag_id, &tag_name),
        &group,
        a.truthy(2),
        a.truthy(3),
        opts,
    )
    .await?;
    Ok(Value::Nil)
}

/// groupListBlock(taginfo, grpinfo)
pub async fn group_list_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let (tag_id, tag_name) = require_tag(c, a.val(0)).await?;
    let group = a.ident(1)?;
    groups::list_add(
        c,
        (tag_id, &tag_name),
        &group,
        true,
        false,
        GroupOpts::default(),
    )
    .await?;
    Ok(Value::Nil)
}

/// groupListRemove(taginfo, grpinfo, force=False)
pub async fn group_list_remove(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    groups::list_remove(c, (tag_id, &tag_name), (group_id, &group_name), a.truthy(2)).await?;
    Ok(Value::Nil)
}

/// groupListUnblock(taginfo, grpinfo)
pub async fn group_list_unblock(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    groups::list_unblock(c, (tag_id, &tag_name), (group_id, &group_name)).await?;
    Ok(Value::Nil)
}

fn package_opts(opts: &Struct) -> HResult<PackageOpts> {
    Ok(PackageOpts {
        kind: required(opt_text(opts, "type")?, "type")?,
        basearchonly: opt_bool(opts, "basearchonly")?,
        requires: opt_text(opts, "requires")?,
    })
}

/// groupPackageListAdd(taginfo, grpinfo, pkg_name, block=False, force=False, **opts)
pub async fn group_package_list_add(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    let package = a.str(2)?.to_string();
    let opts = package_opts(&a.extra)?;
    groups::package_add(
        c,
        (tag_id, &tag_name),
        (group_id, &group_name),
        &package,
        a.truthy(3),
        a.truthy(4),
        opts,
    )
    .await?;
    Ok(Value::Nil)
}

/// groupPackageListBlock(taginfo, grpinfo, pkg_name)
pub async fn group_package_list_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    let package = a.str(2)?.to_string();
    groups::package_add(
        c,
        (tag_id, &tag_name),
        (group_id, &group_name),
        &package,
        true,
        false,
        PackageOpts::default(),
    )
    .await?;
    Ok(Value::Nil)
}

/// groupPackageListRemove(taginfo, grpinfo, pkg_name)
pub async fn group_package_list_remove(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    let package = a.str(2)?.to_string();
    groups::package_remove(c, (tag_id, &tag_name), (group_id, &group_name), &package).await?;
    Ok(Value::Nil)
}

/// groupPackageListUnblock(taginfo, grpinfo, pkg_name)
pub async fn group_package_list_unblock(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ((tag_id, tag_name), (group_id, group_name)) = tag_and_group(c, &a).await?;
    let package = a.str(2)?.to_string();
    groups::package_unblock(c, (tag_id, &tag_name), (group_id, &group_name), &package).await?;
    Ok(Value::Nil)
}

fn req_opts(opts: &Struct) -> HResult<ReqOpts> {
    Ok(ReqOpts {
        kind: opt_text(opts, "type")?,
        is_metapkg: required(opt_bool(opts, "is_metapkg")?, "is_metapkg")?,
    })
}

/// The tag, the group and the required group (third argument), all existing.
async fn tag_group_req(
    c: &mut Ctx,
    a: &Args,
) -> HResult<((i32, String), (i32, String), (i32, String))> {
    let (tag, group) = tag_and_group(c, a).await?;
    let req = groups::require(c, &a.ident(2)?).await?;
    Ok((tag, group, req))
}

/// groupReqListAdd(taginfo, grpinfo, reqinfo, block=False, force=False, **opts)
pub async fn group_req_list_add(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag, group, req) = tag_group_req(c, &a).await?;
    let opts = req_opts(&a.extra)?;
    groups::req_add(
        c,
        (tag.0, &tag.1),
        (group.0, &group.1),
        (req.0, &req.1),
        a.truthy(3),
        a.truthy(4),
        opts,
    )
    .await?;
    Ok(Value::Nil)
}

/// groupReqListBlock(taginfo, grpinfo, reqinfo)
pub async fn group_req_list_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag, group, req) = tag_group_req(c, &a).await?;
    groups::req_add(
        c,
        (tag.0, &tag.1),
        (group.0, &group.1),
        (req.0, &req.1),
        true,
        false,
        ReqOpts::default(),
    )
    .await?;
    Ok(Value::Nil)
}

/// groupReqListRemove(taginfo, grpinfo, reqinfo, force=None): `force` is accepted and has
/// no effect (deprecated in Koji).
pub async fn group_req_list_remove(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag, group, req) = tag_group_req(c, &a).await?;
    groups::req_remove(c, (tag.0, &tag.1), (group.0, &group.1), (req.0, &req.1)).await?;
    Ok(Value::Nil)
}

/// groupReqListUnblock(taginfo, grpinfo, reqinfo)
pub async fn group_req_list_unblock(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag, group, req) = tag_group_req(c, &a).await?;
    groups::req_unblock(c, (tag.0, &tag.1), (group.0, &group.1), (req.0, &req.1)).await?;
    Ok(Value::Nil)
}

/// A group as getTagGroups answers it: Koji's keys, `packagelist` / `grouplist` only
/// when asked for.
fn group_value(g: &TagGroup) -> Value {
    let mut v = kstruct! {
        "name" => g.name.clone(),
        "group_id" => g.group_id,
        "tag_id" => g.tag_id,
        "blocked" => g.cfg.blocked,
        "exported" => g.cfg.exported,
        "display_name" => g.cfg.display_name.clone(),
        "is_default" => g.cfg.is_default,
        "uservisible" => g.cfg.uservisible,
        "description" => g.cfg.description.clone(),
        "langonly" => g.cfg.langonly.clone(),
        "biarchonly" => g.cfg.biarchonly,
    };
    let Value::Struct(m) = &mut v else {
        return v;
    };
    if let Some(pkgs) = &g.packages {
        let list = pkgs
            .iter()
            .map(|p| {
                kstruct! {
                    "group_id" => p.group_id,
                    "tag_id" => p.tag_id,
                    "package" => p.package.clone(),
                    "blocked" => p.cfg.blocked,
                    "type" => p.cfg.kind.clone(),
                    "basearchonly" => p.cfg.basearchonly,
                    "requires" => p.cfg.requires.clone(),
                }
            })
            .collect();
        m.insert("packagelist".into(), Value::Array(list));
    }
    if let Some(reqs) = &g.reqs {
        let list = reqs
            .iter()
            .map(|r| {
                kstruct! {
                    "group_id" => r.group_id,
                    "tag_id" => r.tag_id,
                    "req_id" => r.req_id,
                    "blocked" => r.cfg.blocked,
                    "type" => r.cfg.kind.clone(),
                    "is_metapkg" => r.cfg.is_metapkg,
                    "name" => r.req_name.clone(),
                }
            })
            .collect();
        m.insert("grouplist".into(), Value::Array(list));
    }
    v
}

/// getTagGroups(tag, event=None, inherit=True, incl_pkgs=True, incl_reqs=True,
/// incl_blocked=False)
pub async fn get_tag_groups(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag_id, _) = require_tag(c, a.val(0)).await?;
    let event = a.opt_i64(1)?;
    let found = groups::tag_groups(c, tag_id, event, a.truthy(2), a.truthy(3), a.truthy(4)).await?;
    let shown = groups::visible(found, a.truthy(5));
    Ok(Value::Array(shown.iter().map(group_value).collect()))
}

/// mavenEnabled()
pub async fn maven_enabled(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Bool(false))
}
