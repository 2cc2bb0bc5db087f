//! Builds between tags: `tagBuild`, `untagBuild`, `moveBuild`, `moveAllBuilds`, the
//! bypass calls for imports, `massTag`, `snapshotTag`/`snapshotTagModify` (what `koji
//! clone-tag` calls), `untaggedBuilds` and `buildReferences` (`queryHistory` is history.rs).

use super::common::{QueryOpts, build_ref, paged_value};
use crate::ctx::Ctx;
use crate::domain::builds::Build;
use crate::domain::tagging::{self, Snapshot, UNTAGGED_ORDER};
use crate::domain::tags::Tag;
use crate::error::{HResult, HubError};
use crate::handler;
use crate::pyrepr::repr;
use crate::registry::Registry;
use crate::signature::{Args, value_ident};
use crate::timefmt;
use koji_protocol::{Struct, Value, kstruct};

/// Registers this module's methods.
pub fn register(r: &mut Registry) {
    r.add(
        "tagBuild",
        "tag, build, force=False, fromtag=None",
        "Request that a build be tagged (a tagBuild task; with fromtag, a move). Returns the task id.",
        handler!(tag_build),
    );
    r.add(
        "untagBuild",
        "tag, build, strict=True, force=False",
        "Untag a build (no task).",
        handler!(untag_build),
    );
    r.add(
        "moveBuild",
        "tag1, tag2, build, force=False",
        "Move a build from tag1 to tag2. Returns the task id.",
        handler!(move_build),
    );
    r.add(
        "moveAllBuilds",
        "tag1, tag2, package, force=False",
        "Move every build of a package from tag1 to tag2, in order. Returns the task ids.",
        handler!(move_all_builds),
    );
    r.add(
        "tagBuildBypass",
        "tag, build, force=False, notify=False",
        "Tag a build without a task (tag permission).",
        handler!(tag_build_bypass),
    );
    r.add(
        "untagBuildBypass",
        "tag, build, strict=True, force=False, notify=False",
        "Untag a build without the usual notification (tag permission).",
        handler!(untag_build_bypass),
    );
    r.add(
        "massTag",
        "tag, builds",
        "Tag many builds, in order, bypassing checks (tag permission).",
        handler!(mass_tag),
    );
    r.add(
        "snapshotTag",
        "src, dst, config=True, pkgs=True, builds=True, groups=True, latest_only=True, inherit_builds=True, event=None, force=False",
        "Copy a tag (as of an event) to a new tag. [tag]",
        handler!(snapshot_tag),
    );
    r.add(
        "snapshotTagModify",
        "src, dst, config=True, pkgs=True, builds=True, groups=True, latest_only=True, inherit_builds=True, event=None, force=False, remove=False",
        "Make an existing tag a copy of another (as of an event). [tag]",
        handler!(snapshot_tag_modify),
    );
    r.add(
        "untaggedBuilds",
        "name=None, queryOpts=None, draft=None",
        "COMPLETE builds that are in no tag.",
        handler!(untagged_builds),
    );
    r.add(
        "buildReferences",
        "build, limit=None, lazy=False",
        "What refers to a build: tags, RPMs built with it, when a buildroot last used it.",
        handler!(build_references),
    );
}

/// The tag named by argument `i`, as Koji's `get_tag(strict=True)` finds it.
async fn tag_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<Tag> {
    let ident = value_ident(a.val(i), "tag")?;
    tagging::require_tag(c, &ident, &repr(a.val(i))).await
}

/// The tag named by argument `i`, as Koji's `get_tag_id(strict=True)` finds it.
async fn tag_entry_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<Tag> {
    let ident = value_ident(a.val(i), "tag")?;
    tagging::require_tag_entry(c, &ident).await
}

/// The build named by argument `i`; "No such build: {repr}" otherwise.
async fn build_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<Build> {
    let r = build_ref(a.val(i))?;
    tagging::require_build(c, &r, &repr(a.val(i))).await
}

/// tagBuild(tag, build, force=False, fromtag=None) -> task id
pub async fn tag_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let b = build_arg(c, &a, 1).await?;
    let tag = tag_arg(c, &a, 0).await?;
    let from = match a.val(3) {
        v if !v.is_truthy() => None,
        _ => Some(tag_entry_arg(c, &a, 3).await?),
    };
    let id = tagging::request_tag(c, &tag, &b, a.truthy(2), from.as_ref()).await?;
    Ok(Value::Int(i64::from(id)))
}

/// moveBuild(tag1, tag2, build, force=False) -> task id: tagBuild(tag2, build, force,
/// fromtag=tag1).
pub async fn move_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let b = build_arg(c, &a, 2).await?;
    let to = tag_arg(c, &a, 1).await?;
    let from = tag_entry_arg(c, &a, 0).await?;
    let id = tagging::request_tag(c, &to, &b, a.truthy(3), Some(&from)).await?;
    Ok(Value::Int(i64::from(id)))
}

/// untagBuild(tag, build, strict=True, force=False)
pub async fn untag_build(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let tag = tag_arg(c, &a, 0).await?;
    let b = build_arg(c, &a, 1).await?;
    tagging::untag(c, &tag, &b, a.truthy(2), a.truthy(3)).await?;
    Ok(Value::Nil)
}

/// moveAllBuilds(tag1, tag2, package, force=False) -> [task ids]
pub async fn move_all_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let pkg = tagging::require_package(c, &value_ident(a.val(2), "package")?).await?;
    let from = tag_entry_arg(c, &a, 0).await?;
    let to = tag_entry_arg(c, &a, 1).await?;
    let ids = tagging::move_all(c, &from, &to, (pkg.0, &pkg.1), a.truthy(3)).await?;
    Ok(Value::Array(
        ids.into_iter().map(|i| Value::Int(i64::from(i))).collect(),
    ))
}

/// tagBuildBypass(tag, build, force=False, notify=False)
pub async fn tag_build_bypass(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let tag = tag_arg(c, &a, 0).await?;
    let b = build_arg(c, &a, 1).await?;
    tagging::tag_bypass(c, &tag, &b, a.truthy(2), a.truthy(3)).await?;
    Ok(Value::Nil)
}

/// untagBuildBypass(tag, build, strict=True, force=False, notify=False)
pub async fn untag_build_bypass(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let tag = tag_arg(c, &a, 0).await?;
    let b = build_arg(c, &a, 1).await?;
    tagging::untag_bypass(c, &tag, &b, a.truthy(2), a.truthy(3), a.truthy(4)).await?;
    Ok(Value::Nil)
}

/// massTag(tag, builds)
pub async fn mass_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("tag").await?;
    let tag = tag_arg(c, &a, 0).await?;
    let Value::Array(list) = a.val(1) else {
        return Err(HubError::parameter("builds must be a list"));
    };
    let mut found = Vec::with_capacity(list.len());
    for v in list {
        let r = build_ref(v)?;
        found.push(tagging::require_build(c, &r, &repr(v)).await?);
    }
    tagging::mass_tag(c, &tag, &found).await?;
    Ok(Value::Nil)
}

/// The flags of snapshotTag / snapshotTagModify.
fn snapshot_opts(a: &Args) -> HResult<Snapshot> {
    Ok(Snapshot {
        config: a.truthy(2),
        pkgs: a.truthy(3),
        builds: a.truthy(4),
        groups: a.truthy(5),
        latest_only: a.truthy(6),
        inherit_builds: a.truthy(7),
        event: a.opt_i64(8)?,
        force: a.truthy(9),
        remove: a.truthy(10),
    })
}

/// snapshotTag(src, dst, config=True, pkgs=True, builds=True, groups=True,
/// latest_only=True, inherit_builds=True, event=None, force=False)
pub async fn snapshot_tag(c: &mut Ctx, a: Args) -> HResult<Value> {
    let src = value_ident(a.val(0), "tag")?;
    let dst = match a.val(1) {
        Value::String(s) => s.clone(),
        other => {
            return Err(HubError::parameter(format!(
                "Invalid name for the new tag: {}",
                repr(other)
            )));
        }
    };
    let o = snapshot_opts(&a)?;
    tagging::snapshot(c, &src, &repr(a.val(0)), &dst, o).await?;
    Ok(Value::Nil)
}

/// snapshotTagModify(src, dst, …, remove=False)
pub async fn snapshot_tag_modify(c: &mut Ctx, a: Args) -> HResult<Value> {
    let src = value_ident(a.val(0), "tag")?;
    let dst = value_ident(a.val(1), "tag")?;
    let o = snapshot_opts(&a)?;
    tagging::snapshot_modify(c, &src, &repr(a.val(0)), &dst, &repr(a.val(1)), o).await?;
    Ok(Value::Nil)
}

/// untaggedBuilds(name=None, queryOpts=None, draft=None) -> [{id, name, version, release}]
pub async fn untagged_builds(c: &mut Ctx, a: Args) -> HResult<Value> {
    let name = a.opt_str(0)?.map(str::to_string);
    let q = QueryOpts::parse(a.val(1), UNTAGGED_ORDER)?;
    let draft = if a.is_nil(2) { None } else { Some(a.truthy(2)) };
    let page = q.page(c.hub().config.limits.max_list_rows);
    let rows = tagging::untagged(c, name.as_deref(), draft, &page).await?;
    Ok(paged_value(rows, |r| {
        kstruct! {
            "id" => r.id,
            "name" => r.name,
            "version" => r.version,
            "release" => r.release,
        }
    }))
}

/// buildReferences(build, limit=None, lazy=False)
pub async fn build_references(c: &mut Ctx, a: Args) -> HResult<Value> {
    let b = build_arg(c, &a, 0).await?;
    let limit = a.opt_i64(1)?.map(|l| l.max(0));
    let refs = tagging::references(c, &b, limit, a.truthy(2)).await?;
    let mut out = Struct::new();
    out.insert(
        "tags".into(),
        Value::Array(
            refs.tags
                .into_iter()
                .map(|(id, name)| kstruct! { "tag_id" => id, "name" => name })
                .collect(),
        ),
    );
    let Some(rpms) = refs.rpms else {
        return Ok(Value::Struct(out));
    };
    out.insert(
        "rpms".into(),
        Value::Array(
            rpms.into_iter()
                .map(|r| {
                    kstruct! {
                        "id" => r.id,
                        "name" => r.name,
                        "version" => r.version,
                        "release" => r.release,
                        "arch" => r.arch,
                        "build_id" => r.build_id,
                    }
                })
                .collect(),
        ),
    );
    let Some(last_used) = refs.last_used else {
        return Ok(Value::Struct(out));
    };
    out.insert("component_of".into(), Value::Array(Vec::new()));
    out.insert("archives".into(), Value::Array(Vec::new()));
    out.insert("last_used".into(), timefmt::ts_value(last_used.as_ref()));
    out.insert("images".into(), Value::Array(Vec::new()));
    Ok(Value::Struct(out))
}
