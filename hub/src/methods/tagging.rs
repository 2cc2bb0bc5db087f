//! Builds between tags: `tagBuild`, `untagBuild`, `moveBuild`, `moveAllBuilds`, the
//! bypass calls for imports, `massTag`, `snapshotTag`/`snapshotTagModify` (what `koji
//! clone-tag` calls), `untaggedBuilds`, `buildReferences`, and `queryHistory` of tagging.

use super::common::{QueryOpts, build_ref, paged_value};
use crate::ctx::Ctx;
use crate::domain::builds::Build;
use crate::domain::tagging::{
    self, HISTORY_ORDER, ListingFilter, ListingRow, Snapshot, UNTAGGED_ORDER,
};
use crate::domain::tags::Tag;
use crate::error::{HResult, HubError};
use crate::handler;
use crate::pyrepr::repr;
use crate::registry::Registry;
use crate::signature::{Args, value_ident};
use crate::timefmt;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
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
    r.add(
        "queryHistory",
        "tables=None, **kwargs",
        "History of versioned tables (kkoji: tag_listing).",
        handler!(query_history),
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

/// The history tables Koji knows (queryHistory refuses any other name).
const HISTORY_TABLES: &[&str] = &[
    "build_target_config",
    "cg_users",
    "external_repo_config",
    "external_repo_data",
    "group_config",
    "group_package_listing",
    "group_req_listing",
    "host_channels",
    "host_config",
    "tag_config",
    "tag_external_repos",
    "tag_extra",
    "tag_inheritance",
    "tag_listing",
    "tag_package_owners",
    "tag_packages",
    "user_groups",
    "user_perms",
];

/// Filters of queryHistory that do not apply to tag_listing (Koji then leaves the table
/// out of the answer).
const NOT_FOR_TAG_LISTING: &[&str] = &[
    "host",
    "channel",
    "user",
    "permission",
    "cg",
    "external_repo",
    "build_target",
    "group",
    "xkey",
];

/// A time filter of queryHistory: seconds since the epoch, or a date/time string.
fn time_arg(name: &str, v: &Value) -> HResult<DateTime<Utc>> {
    let bad = || {
        HubError::parameter(format!(
            "Invalid time for {name}: {} (seconds since the epoch or YYYY-MM-DD[ HH:MM:SS])",
            repr(v)
        ))
    };
    match v {
        Value::Int(_) | Value::Double(_) => {
            let secs = v.as_f64().ok_or_else(bad)?;
            let d = std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
            let d = chrono::Duration::from_std(d).map_err(|_| bad())?;
            DateTime::UNIX_EPOCH.checked_add_signed(d).ok_or_else(bad)
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Ok(t.with_timezone(&Utc));
            }
            for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
                    return Ok(t.and_utc());
                }
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
                .ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// An event id filter of queryHistory.
fn event_arg(name: &str, v: &Value) -> HResult<i64> {
    v.as_i64()
        .ok_or_else(|| HubError::parameter(format!("Invalid event for {name}: {}", repr(v))))
}

/// One tag_listing version as Koji's queryHistory shows it (keys in Koji's order).
fn listing_value(r: &ListingRow, f: &ListingFilter) -> Value {
    let mut v = kstruct! {
        "active" => r.active,
        "create_event" => r.create_event,
        "revoke_event" => r.revoke_event,
        "creator_id" => r.creator_id,
        "revoker_id" => r.revoker_id,
        "creator_name" => r.creator_name.clone(),
        "revoker_name" => r.revoker_name.clone(),
        "create_ts" => timefmt::ts(&r.create_time),
        "revoke_ts" => timefmt::ts_value(r.revoke_time.as_ref()),
        "build_id" => r.build_id,
        "name" => r.name.clone(),
        "version" => r.version.clone(),
        "release" => r.release.clone(),
        "epoch" => r.epoch,
        "build.state" => r.build_state,
        "tag_id" => r.tag_id,
        "tag.name" => r.tag_name.clone(),
    };
    let Value::Struct(m) = &mut v else {
        return v;
    };
    let mut flag = |k: &str, b: Option<bool>| {
        m.insert(k.into(), b.map_or(Value::Nil, Value::Bool));
    };
    if let Some(e) = f.editor {
        flag("_created_by", r.creator_id.map(|x| x == e));
        flag("_revoked_by", r.revoker_id.map(|x| x == e));
    }
    if let Some(t) = f.after {
        flag("_created_after", Some(r.create_time > t));
        flag("_revoked_after", r.revoke_time.map(|x| x > t));
    }
    if let Some(ev) = f.after_event {
        flag("_created_after_event", Some(r.create_event > ev));
        flag("_revoked_after_event", r.revoke_event.map(|x| x > ev));
    }
    if let Some(t) = f.before {
        flag("_created_before", Some(r.create_time < t));
        flag("_revoked_before", r.revoke_time.map(|x| x < t));
    }
    if let Some(ev) = f.before_event {
        flag("_created_before_event", Some(r.create_event < ev));
        flag("_revoked_before_event", r.revoke_event.map(|x| x < ev));
    }
    v
}

/// queryHistory(tables=None, **kwargs): kkoji answers for `tag_listing` (what `koji
/// untag-build` and the tagging lines of `list-history` read); the other versioned tables
/// are left out of the answer until their history is served.
pub async fn query_history(c: &mut Ctx, a: Args) -> HResult<Value> {
    let tables = a.opt_str_list(0)?;
    if let Some(t) = &tables
        && let Some(bad) = t.iter().find(|t| !HISTORY_TABLES.contains(&t.as_str()))
    {
        return Err(HubError::generic(format!("No such history table: {bad}")));
    }
    let mut out = Struct::new();
    let wanted = tables
        .as_ref()
        .is_none_or(|t| t.iter().any(|x| x == "tag_listing"));
    if !wanted
        || a.extra
            .keys()
            .any(|k| NOT_FOR_TAG_LISTING.contains(&k.as_str()))
    {
        return Ok(Value::Struct(out));
    }
    let mut f = ListingFilter::default();
    let mut opts = QueryOpts::parse(&Value::Nil, &[])?;
    for (k, v) in &a.extra {
        match k.as_str() {
            "tag" => {
                let ident = value_ident(v, "tag")?;
                f.tag = Some(tagging::require_tag_entry(c, &ident).await?.id);
            }
            "build" => {
                let r = build_ref(v)?;
                f.build = Some(tagging::require_build(c, &r, &repr(v)).await?.id);
            }
            "package" => {
                let ident = value_ident(v, "package")?;
                f.package = Some(tagging::require_package(c, &ident).await?.0);
            }
            "active" => {
                f.active = match v {
                    Value::Nil => None,
                    v => Some(v.is_truthy()),
                }
            }
            "editor" => {
                let ident = value_ident(v, "user")?;
                let r = crate::domain::users::UserRef::Ident(ident);
                f.editor = Some(crate::domain::users::require_user(c, &r, &repr(v)).await?);
            }
            "after" => f.after = Some(time_arg(k, v)?),
            "before" => f.before = Some(time_arg(k, v)?),
            "afterEvent" => f.after_event = Some(event_arg(k, v)?),
            "beforeEvent" => f.before_event = Some(event_arg(k, v)?),
            "queryOpts" => {
                opts = QueryOpts::parse(v, HISTORY_ORDER)?;
            }
            // Koji ignores keywords it does not know (`koji untag-build` passes `pkg`)
            _ => {}
        }
    }
    // ordered, paged and capped by the database: a history has no natural bound
    let page = opts.page(c.hub().config.limits.max_list_rows);
    let rows = tagging::listing_history(c, &f, &page).await?;
    out.insert(
        "tag_listing".into(),
        paged_value(rows, |r| listing_value(&r, &f)),
    );
    Ok(Value::Struct(out))
}
