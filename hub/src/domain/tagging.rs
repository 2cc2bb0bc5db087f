//! Builds between tags: tagging (through a `tagBuild` task a builder runs, as in Koji),
//! untagging, moves, tag snapshots (`clone-tag`), untagged builds and what still refers to
//! a build, and the tag notification records every tag operation leaves.
//!
//! The rules, in Koji's order:
//!
//! - **Access** to a tag (`check_tag_access`): a locked tag, or a tag that names a
//!   permission its user lacks, refuses everyone; `force` lets an admin through.
//! - **Package list**: the build's package must be listed in the destination tag (through
//!   inheritance) and not blocked there. An admin's `force` lists (or unblocks) it.
//! - **Policy `tag`**: Koji ships no default `tag` policy (anyone passes); kkoji has no
//!   policy language, so its `tag` policy is one fixed rule that an operator would write:
//!   admins, holders of the `tag` permission, the build's owner and the package's owner in
//!   the tag concerned may tag, move and untag. An admin's `force` overrides it.
//! - The build must be COMPLETE; a build already in the tag is only re-tagged with `force`.
//!
//! Each state change runs in the call's one transaction. Where Koji starts a new event
//! between steps (snapshots, mass tagging) so that the order of taggings stays readable,
//! this module does too, inside the same transaction.

use super::builds::{self, Build, BuildRef, TaggedBuild, state};
use super::groups;
use super::notifications::{self, TagEvent};
use super::packages::{self, ListAdd};
use super::tags::{self, NewTag, Tag, TagConfig, TagEdit};
use super::tasks::{self, NewTask};
use super::{Named, find, users};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::tagging as store;
use crate::storage::{Page, Paged, Stamp, builds as build_store};
use chrono::{DateTime, Utc};
use koji_protocol::{Struct, Value};
use std::collections::HashSet;

pub use crate::storage::tagging::{RefRpm, UNTAGGED_ORDER, Untagged};

/// Koji's name of a build state (`koji.BUILD_STATES`).
pub fn state_name(s: i32) -> String {
    match s {
        state::BUILDING => "BUILDING".into(),
        state::COMPLETE => "COMPLETE".into(),
        state::DELETED => "DELETED".into(),
        state::FAILED => "FAILED".into(),
        state::CANCELED => "CANCELED".into(),
        other => other.to_string(),
    }
}

/// The tag named by `ident` now; Koji's `get_tag(strict=True)` refusal quotes the caller's
/// value (`shown`).
pub async fn require_tag(c: &mut Ctx, ident: &Ident, shown: &str) -> HResult<Tag> {
    tags::get_tag(c, ident, None)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such tagInfo: {shown}")))
}

/// A tag named as Koji's `get_tag_id(strict=True)` names it ("No such entry in table tag").
pub async fn require_tag_entry(c: &mut Ctx, ident: &Ident) -> HResult<Tag> {
    match tags::get_tag(c, ident, None).await? {
        Some(t) => Ok(t),
        None => Err(HubError::generic(format!(
            "No such entry in table tag: {ident}"
        ))),
    }
}

/// (id, name) of a package named as Koji's `get_package_id(strict=True)` names it.
pub async fn require_package(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    find(c, Named::Package, ident)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such entry in table package: {ident}")))
}

/// The build named by `r`; "No such build: {shown}" otherwise.
pub async fn require_build(c: &mut Ctx, r: &BuildRef, shown: &str) -> HResult<Build> {
    builds::require(c, r, shown).await
}

/// The caller's user id; "Not logged in" otherwise.
fn me(c: &Ctx) -> HResult<i32> {
    Ok(c.assert_login()?.user_id)
}

/// Everything after this gets an event of its own (Koji's `_delete_event_id`): taggings
/// made one after the other keep their order in `listTagged` and the history.
fn next_event(c: &mut Ctx) {
    c.reset_event(None);
}

// ------------------------------------------------------------------ access and policy

/// Koji's `check_tag_access`: Err(reason) when `user` may not change the tag's content,
/// with whether `force` would let them through (admins only).
async fn access(c: &mut Ctx, tag: &Tag, user: i32) -> HResult<Result<(), (String, bool)>> {
    let perms = users::perms_of(c, user).await?;
    let admin = perms.iter().any(|p| p == "admin");
    if tag.locked {
        return Ok(Err(("tag is locked".into(), admin)));
    }
    if let Some(needed) = &tag.perm
        && !perms.iter().any(|p| p == needed)
    {
        return Ok(Err((format!("tag requires {needed} permission"), admin)));
    }
    Ok(Ok(()))
}

/// Koji's `assert_tag_access`: ActionNotAllowed with the reason, unless an admin forces.
pub async fn assert_access(c: &mut Ctx, tag: &Tag, user: i32, force: bool) -> HResult<()> {
    match access(c, tag, user).await? {
        Ok(()) => Ok(()),
        Err((_, true)) if force => {
            tracing::info!(tag = %tag.name, user, "tag access overridden by force");
            Ok(())
        }
        Err((reason, _)) => Err(HubError::not_allowed(reason)),
    }
}

/// What a tag operation is, as the `tag` policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Tag,
    Move,
    Untag,
}

impl Operation {
    pub fn parse(s: &str) -> Option<Operation> {
        match s {
            "tag" => Some(Operation::Tag),
            "move" => Some(Operation::Move),
            "untag" => Some(Operation::Untag),
            _ => None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Operation::Tag => "tagging",
            Operation::Move => "moving",
            Operation::Untag => "untagging",
        }
    }
}

/// A tag operation for the `tag` policy: the destination (`tag`), the source
/// (`fromtag`), the build.
#[derive(Debug, Clone, Copy)]
pub struct TagOp {
    pub operation: Operation,
    pub tag: Option<i32>,
    pub fromtag: Option<i32>,
    pub build: Option<i32>,
}

/// kkoji's `tag` policy for `user`: Err(reason) when it denies.
pub async fn policy_rule(c: &mut Ctx, user: i32, op: &TagOp) -> HResult<Result<(), String>> {
    let perms = users::perms_of(c, user).await?;
    if perms.iter().any(|p| p == "admin" || p == "tag") {
        return Ok(Ok(()));
    }
    let build = match op.build {
        Some(id) => builds::find(c, &BuildRef::Id(id)).await?,
        None => None,
    };
    if let Some(b) = &build {
        if b.owner_id == user {
            return Ok(Ok(()));
        }
        let concerned = match op.operation {
            Operation::Untag => op.fromtag,
            Operation::Tag | Operation::Move => op.tag,
        };
        if let Some(t) = concerned
            && let Some(l) = packages::config(c, t, b.package_id, None).await?
            && l.owner_id == Some(user)
        {
            return Ok(Ok(()));
        }
    }
    Ok(Err(format!(
        "{} a build needs the tag permission, or to own the build or its package in the tag",
        op.operation.verb()
    )))
}

/// The `tag` policy from the data a builder sends to `host.checkPolicy`: ids or names of
/// tags, a build id, NVR or dict; None when the data names no operation kkoji knows.
pub async fn policy_rule_for_data(
    c: &mut Ctx,
    user: i32,
    data: &Struct,
) -> HResult<Option<Result<(), String>>> {
    let Some(operation) = data
        .get("operation")
        .and_then(Value::as_str)
        .and_then(Operation::parse)
    else {
        return Ok(None);
    };
    let mut tag_ids = [None, None];
    for (slot, key) in tag_ids.iter_mut().zip(["tag", "fromtag"]) {
        if let Some(ident) = data.get(key).and_then(ident_in) {
            *slot = find(c, Named::Tag, &ident).await?.map(|(id, _)| id);
        }
    }
    let build = match data.get("build") {
        Some(Value::Int(id)) => i32::try_from(*id).ok(),
        Some(Value::String(nvr)) => builds::find(c, &BuildRef::Nvr(nvr.clone()))
            .await
            .ok()
            .flatten()
            .map(|b| b.id),
        Some(Value::Struct(s)) => s
            .get("id")
            .and_then(Value::as_i64)
            .and_then(|i| i32::try_from(i).ok()),
        _ => None,
    };
    let op = TagOp {
        operation,
        tag: tag_ids[0],
        fromtag: tag_ids[1],
        build,
    };
    Ok(Some(policy_rule(c, user, &op).await?))
}

/// A tag named in policy data: an id, a name, or a dict with either.
fn ident_in(v: &Value) -> Option<Ident> {
    match v {
        Value::Int(i) => i32::try_from(*i).ok().map(Ident::Id),
        Value::String(s) => Some(Ident::Name(s.clone())),
        Value::Struct(s) => match (s.get("id"), s.get("name")) {
            (Some(Value::Int(i)), _) => i32::try_from(*i).ok().map(Ident::Id),
            (_, Some(Value::String(n))) => Some(Ident::Name(n.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// Koji's `assert_policy('tag', …, force)`: ActionNotAllowed "policy violation (tag): …"
/// unless the rule allows, or `user` is an admin and forces.
async fn assert_policy(c: &mut Ctx, user: i32, op: &TagOp, force: bool) -> HResult<()> {
    match policy_rule(c, user, op).await? {
        Ok(()) => Ok(()),
        Err(_) if force && users::is_admin(c, user).await? => {
            tracing::info!(user, ?op, "policy tag overridden by force");
            Ok(())
        }
        Err(reason) => Err(HubError::not_allowed(format!(
            "policy violation (tag): {reason}"
        ))),
    }
}

/// Before tagging: the build's package must be listed in the tag (through inheritance) and
/// not blocked. With `admin_force` it is listed (or unblocked) instead. `in_tag` is how
/// the message names the tag ("f40" or "tag f40", as Koji's calls differ).
async fn check_listed(
    c: &mut Ctx,
    tag: &Tag,
    pkg: (i32, &str),
    admin_force: bool,
    in_tag: &str,
) -> HResult<()> {
    let listing = packages::config(c, tag.id, pkg.0, None).await?;
    let problem = match &listing {
        None => format!("Package {} not in list for {in_tag}", pkg.1),
        Some(l) if l.blocked => format!("Package {} blocked in {in_tag}", pkg.1),
        Some(_) => return Ok(()),
    };
    if !admin_force {
        return Err(HubError::tag(problem));
    }
    let owner = match listing.and_then(|l| l.owner_id).or(c.user_id()) {
        Some(o) => o,
        None => return Err(HubError::tag(problem)),
    };
    packages::list_add(
        c,
        (tag.id, &tag.name),
        &Ident::Id(pkg.0),
        ListAdd {
            owner: Some(owner),
            block: Some(false),
            extra_arches: None,
            update: true,
        },
    )
    .await?;
    tracing::info!(tag = %tag.name, package = pkg.1, "package list overridden by force");
    Ok(())
}

// ------------------------------------------------------------------ the writes

/// Koji's `_direct_tag_build`: the build goes into the tag as `user` (no access check). A
/// build already there is re-tagged (moved to the top) only with `force`.
async fn direct_tag(c: &mut Ctx, tag: &Tag, b: &Build, user: i32, force: bool) -> HResult<()> {
    if b.state != state::COMPLETE {
        return Err(HubError::tag(format!(
            "build {} not complete: state {}",
            b.nvr(),
            state_name(b.state)
        )));
    }
    let already = || HubError::tag(format!("build {} already tagged ({})", b.nvr(), tag.name));
    let s = Stamp {
        event: c.event().await?,
        user: Some(user),
    };
    let db = c.db().await?;
    if build_store::is_tagged(db, b.id, tag.id).await? {
        if !force {
            return Err(already());
        }
        build_store::untag(db, b.id, tag.id, s).await?;
    }
    build_store::tag(db, b.id, tag.id, s)
        .await
        .map_err(|e| match &e {
            // another call tagged it meanwhile
            sqlx::Error::Database(d) if d.is_unique_violation() => already(),
            _ => HubError::Db(e),
        })?;
    tracing::info!(build = %b.nvr(), tag = %tag.name, user, "build tagged");
    Ok(())
}

/// Koji's `_direct_untag_build`: the build leaves the tag as `user` (no access check);
/// with `strict`, a build not in the tag is a TagError. Whether it was there.
async fn direct_untag(c: &mut Ctx, tag: &Tag, b: &Build, user: i32, strict: bool) -> HResult<bool> {
    let s = Stamp {
        event: c.event().await?,
        user: Some(user),
    };
    let n = build_store::untag(c.db().await?, b.id, tag.id, s).await?;
    if n == 0 && strict {
        return Err(HubError::tag(format!(
            "build {} not in tag {}",
            b.nvr(),
            tag.name
        )));
    }
    if n > 0 {
        tracing::info!(build = %b.nvr(), tag = %tag.name, user, "build untagged");
    }
    Ok(n > 0)
}

/// A tag operation's outcome as a notification record.
pub struct Notice<'a> {
    pub ok: bool,
    pub tag: Option<i32>,
    pub from: Option<i32>,
    pub build: i32,
    pub user: i32,
    pub msg: &'a str,
    pub host: Option<i32>,
    pub ignore_success: bool,
}

/// Record a tag notification (who follows the build or the tags is told later, by the
/// notification feature; nothing is sent here).
pub async fn record_notification(c: &mut Ctx, n: Notice<'_>) -> HResult<()> {
    c.mark_write();
    let row = store::Notification {
        ok: n.ok,
        tag: n.tag,
        from: n.from,
        build: n.build,
        user: n.user,
        msg: n.msg,
        host: n.host,
        ignore_success: n.ignore_success,
    };
    store::insert_notification(c.db().await?, &row)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                HubError::generic("tagNotification names an unknown build or user")
            }
            _ => HubError::Db(e),
        })?;
    tracing::debug!(build = n.build, ok = n.ok, "tag notification recorded");
    let Some(b) = builds::find(c, &BuildRef::Id(n.build)).await? else {
        return Ok(());
    };
    let mut named = Vec::new();
    for t in [n.tag, n.from] {
        named.push(match t {
            Some(id) => find(c, Named::Tag, &Ident::Id(id)).await?,
            None => None,
        });
    }
    let user_name = users::name_of(c, n.user).await?.unwrap_or_default();
    let event = TagEvent {
        ok: n.ok,
        tag: named[0].clone(),
        from: named[1].clone(),
        user_name: &user_name,
        failure: n.msg,
        ignore_success: n.ignore_success,
    };
    notifications::tag_operation(c, &b, event).await
}

// ------------------------------------------------------------------ tagBuild & co.

/// `tagBuild` (and `moveBuild` with `from`): the quick checks of Koji's hub, then a
/// `tagBuild` task (priority 10) that a builder runs through `host.tagBuild`, where the
/// checks are made again as the task's owner. Returns the task id.
pub async fn request_tag(
    c: &mut Ctx,
    tag: &Tag,
    b: &Build,
    force: bool,
    from: Option<&Tag>,
) -> HResult<i32> {
    let user = me(c)?;
    if b.state != state::COMPLETE {
        return Err(HubError::tag(format!(
            "build {} not complete: state {}",
            b.nvr(),
            state_name(b.state)
        )));
    }
    assert_access(c, tag, user, force).await?;
    if let Some(f) = from {
        assert_access(c, f, user, force).await?;
    }
    let admin_force = force && c.is_admin().await?;
    check_listed(c, tag, (b.package_id, &b.name), admin_force, &tag.name).await?;
    let op = TagOp {
        operation: if from.is_some() {
            Operation::Move
        } else {
            Operation::Tag
        },
        tag: Some(tag.id),
        fromtag: from.map(|f| f.id),
        build: Some(b.id),
    };
    assert_policy(c, user, &op, force).await?;
    let channel = tasks::channel_id(c, kkoji_task_kinds::TAG_BUILD.channel).await?;
    let params = vec![
        Value::Int(i64::from(tag.id)),
        Value::Int(i64::from(b.id)),
        Value::Bool(force),
        from.map_or(Value::Nil, |f| Value::Int(i64::from(f.id))),
    ];
    tasks::create(
        c,
        NewTask {
            method: kkoji_task_kinds::TAG_BUILD.method,
            params,
            owner: user,
            arch: "noarch",
            channel_id: channel,
            priority: 10,
            parent: None,
            label: None,
        },
    )
    .await
}

/// `host.tagBuild`: the builder holding task `task_owner`'s `tagBuild` task does the work,
/// as the task's owner: policy, package list, then (a move) the untag from `from` and the
/// tag, each with its access check, in the call's one transaction.
pub async fn host_tag(
    c: &mut Ctx,
    owner: i32,
    tag: &Tag,
    b: &Build,
    force: bool,
    from: Option<&Tag>,
) -> HResult<()> {
    let op = TagOp {
        operation: if from.is_some() {
            Operation::Move
        } else {
            Operation::Tag
        },
        tag: Some(tag.id),
        fromtag: from.map(|f| f.id),
        build: Some(b.id),
    };
    assert_policy(c, owner, &op, force).await?;
    // Koji counts the admin permission of the calling session (the host's) here
    let admin_force = force && c.is_admin().await?;
    check_listed(c, tag, (b.package_id, &b.name), admin_force, &tag.name).await?;
    if let Some(f) = from {
        assert_access(c, f, owner, force).await?;
        direct_untag(c, f, b, owner, true).await?;
    }
    assert_access(c, tag, owner, force).await?;
    direct_tag(c, tag, b, owner, force).await
}

/// `untagBuild`: the caller takes the build out of the tag (no task, as in Koji), and a
/// notification is recorded.
pub async fn untag(c: &mut Ctx, tag: &Tag, b: &Build, strict: bool, force: bool) -> HResult<()> {
    let user = me(c)?;
    let op = TagOp {
        operation: Operation::Untag,
        tag: None,
        fromtag: Some(tag.id),
        build: Some(b.id),
    };
    assert_policy(c, user, &op, force).await?;
    assert_access(c, tag, user, force).await?;
    direct_untag(c, tag, b, user, strict).await?;
    record_notification(
        c,
        Notice {
            ok: true,
            tag: None,
            from: Some(tag.id),
            build: b.id,
            user,
            msg: "",
            host: None,
            ignore_success: false,
        },
    )
    .await
}

/// `tagBuildBypass`: for imports and syncs, by holders of the `tag` permission: no task;
/// policy and access as the caller; with `notify`, a notification.
pub async fn tag_bypass(
    c: &mut Ctx,
    tag: &Tag,
    b: &Build,
    force: bool,
    notify: bool,
) -> HResult<()> {
    c.assert_perm("tag").await?;
    let user = me(c)?;
    let op = TagOp {
        operation: Operation::Tag,
        tag: Some(tag.id),
        fromtag: None,
        build: Some(b.id),
    };
    assert_policy(c, user, &op, force).await?;
    assert_access(c, tag, user, force).await?;
    direct_tag(c, tag, b, user, force).await?;
    if notify {
        record_notification(
            c,
            Notice {
                ok: true,
                tag: Some(tag.id),
                from: None,
                build: b.id,
                user,
                msg: "",
                host: None,
                ignore_success: false,
            },
        )
        .await?;
    }
    Ok(())
}

/// `untagBuildBypass`: the untagging counterpart of [`tag_bypass`].
pub async fn untag_bypass(
    c: &mut Ctx,
    tag: &Tag,
    b: &Build,
    strict: bool,
    force: bool,
    notify: bool,
) -> HResult<()> {
    c.assert_perm("tag").await?;
    let user = me(c)?;
    let op = TagOp {
        operation: Operation::Untag,
        tag: None,
        fromtag: Some(tag.id),
        build: Some(b.id),
    };
    assert_policy(c, user, &op, force).await?;
    assert_access(c, tag, user, force).await?;
    direct_untag(c, tag, b, user, strict).await?;
    if notify {
        record_notification(
            c,
            Notice {
                ok: true,
                tag: None,
                from: Some(tag.id),
                build: b.id,
                user,
                msg: "",
                host: None,
                ignore_success: false,
            },
        )
        .await?;
    }
    Ok(())
}

/// `massTag`: holders of the `tag` permission tag many builds at once, in the order given
/// (each its own event), bypassing access checks and policy; builds already in the tag
/// are re-tagged.
pub async fn mass_tag(c: &mut Ctx, tag: &Tag, list: &[Build]) -> HResult<()> {
    c.assert_perm("tag").await?;
    let user = me(c)?;
    for b in list {
        direct_tag(c, tag, b, user, true).await?;
        next_event(c);
    }
    tracing::info!(tag = %tag.name, builds = list.len(), "mass tagging done");
    Ok(())
}

/// `moveAllBuilds`: every build of the package in `from` (oldest tagging first) moves to
/// `to`, each through a `tagBuild` subtask of a `dependantTask` that waits for the one
/// before, so the order is kept. Returns the dependantTask ids.
pub async fn move_all(
    c: &mut Ctx,
    from: &Tag,
    to: &Tag,
    pkg: (i32, &str),
    force: bool,
) -> HResult<Vec<i32>> {
    let user = me(c)?;
    let admin_force = force && c.is_admin().await?;
    check_listed(c, to, pkg, admin_force, &format!("tag {}", to.name)).await?;
    assert_access(c, from, user, force).await?;
    assert_access(c, to, user, force).await?;
    let mut list = builds::tagged(c, from.id, None, false, Some(pkg.1), false).await?;
    list.reverse();
    for t in &list {
        let op = TagOp {
            operation: Operation::Move,
            tag: Some(to.id),
            fromtag: Some(from.id),
            build: Some(t.build.id),
        };
        // as Koji: no force here (the task checks again, with force)
        assert_policy(c, user, &op, false).await?;
    }
    let channel = tasks::channel_id(c, kkoji_task_kinds::DEPENDANT_TASK.channel).await?;
    let mut wait_on: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for t in &list {
        let mut kw = Struct::new();
        kw.insert("priority".into(), Value::Int(15));
        let sub = Value::Array(vec![
            Value::String(kkoji_task_kinds::TAG_BUILD.method.into()),
            Value::Array(vec![
                Value::Int(i64::from(to.id)),
                Value::Int(i64::from(t.build.id)),
                Value::Bool(force),
                Value::Int(i64::from(from.id)),
            ]),
            Value::Struct(kw),
        ]);
        let id = tasks::create(
            c,
            NewTask {
                method: kkoji_task_kinds::DEPENDANT_TASK.method,
                params: vec![Value::Array(wait_on), Value::Array(vec![sub])],
                owner: user,
                arch: "noarch",
                channel_id: channel,
                priority: tasks::PRIO_DEFAULT,
                parent: None,
                label: None,
            },
        )
        .await?;
        wait_on = vec![Value::Int(i64::from(id))];
        out.push(id);
    }
    Ok(out)
}

// ------------------------------------------------------------------ reading

/// `untaggedBuilds`: COMPLETE builds in no tag, ordered and paged as the caller asked.
pub async fn untagged(
    c: &mut Ctx,
    name: Option<&str>,
    draft: Option<bool>,
    page: &Page,
) -> HResult<Paged<Untagged>> {
    Ok(store::untagged(c.db().await?, name, draft, page).await?)
}

/// What refers to a build (Koji's `buildReferences`), as far as the lazy search went.
pub struct References {
    pub tags: Vec<(i32, String)>,
    /// None: a lazy search stopped at the tags.
    pub rpms: Option<Vec<RefRpm>>,
    /// None: a lazy search stopped at the RPMs; else when a buildroot last held the build.
    pub last_used: Option<Option<DateTime<Utc>>>,
}

/// `buildReferences`: the tags holding the build, RPMs built in buildroots that held it
/// (at most `limit`), and when a buildroot last did. kkoji builds no archives or images,
/// so nothing else can refer to a build. `lazy` stops at the first kind found.
pub async fn references(
    c: &mut Ctx,
    b: &Build,
    limit: Option<i64>,
    lazy: bool,
) -> HResult<References> {
    let tags = store::tags_of_build(c.db().await?, b.id).await?;
    if lazy && !tags.is_empty() {
        return Ok(References {
            tags,
            rpms: None,
            last_used: None,
        });
    }
    let rpms = store::rpms_built_with(c.db().await?, b.id, limit).await?;
    if lazy && !rpms.is_empty() {
        return Ok(References {
            tags,
            rpms: Some(rpms),
            last_used: None,
        });
    }
    let last = store::last_used(c.db().await?, b.id).await?;
    Ok(References {
        tags,
        rpms: Some(rpms),
        last_used: Some(last),
    })
}

// ------------------------------------------------------------------ snapshots

/// What `snapshotTag` / `snapshotTagModify` copy.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub config: bool,
    pub pkgs: bool,
    pub builds: bool,
    pub groups: bool,
    pub latest_only: bool,
    pub inherit_builds: bool,
    pub event: Option<i64>,
    pub force: bool,
    /// snapshotTagModify: untag what the source does not have.
    pub remove: bool,
}

fn check_snapshot_args(o: &Snapshot) -> HResult<()> {
    if o.builds && !o.pkgs {
        return Err(HubError::parameter(
            "builds can't be used without pkgs in snapshotTag",
        ));
    }
    Ok(())
}

/// The source tag of a snapshot, as of its event.
async fn snapshot_source(
    c: &mut Ctx,
    src: &Ident,
    shown: &str,
    event: Option<i64>,
) -> HResult<Tag> {
    tags::get_tag(c, src, event)
        .await?
        .ok_or_else(|| HubError::generic(format!("No such tagInfo: {shown}")))
}

/// `snapshotTag`: a new tag `dst` with the source's config, package list, builds (latest
/// only, inherited ones too, as asked) as of `event`. No inheritance, no external repos.
pub async fn snapshot(
    c: &mut Ctx,
    src: &Ident,
    src_shown: &str,
    dst: &str,
    o: Snapshot,
) -> HResult<()> {
    c.assert_perm("tag").await?;
    let user = me(c)?;
    check_snapshot_args(&o)?;
    if tags::get_tag(c, &Ident::Name(dst.to_string()), None)
        .await?
        .is_some()
    {
        return Err(HubError::generic("Target tag already exists"));
    }
    let src = snapshot_source(c, src, src_shown, o.event).await?;
    if src.locked && !o.force {
        return Err(HubError::generic("Source tag is locked, use force to copy"));
    }
    let new = if o.config {
        NewTag {
            name: dst.to_string(),
            parent: None,
            arches: src.arches.clone(),
            perm_id: src.perm_id,
            locked: src.locked,
            maven_support: src.maven_support,
            maven_include_all: src.maven_include_all,
            extra: src.extra.clone(),
        }
    } else {
        NewTag {
            name: dst.to_string(),
            parent: None,
            arches: String::new(),
            perm_id: None,
            locked: false,
            maven_support: false,
            maven_include_all: false,
            extra: Struct::new(),
        }
    };
    let dst_id = tags::create(c, new).await?;
    next_event(c);
    let dst = require_tag_entry(c, &Ident::Id(dst_id)).await?;
    tracing::info!(src = %src.name, dst = %dst.name, "cloning tag");
    if o.pkgs {
        for l in packages::of_tag(c, src.id, o.event, true, false).await? {
            packages::list_add(
                c,
                (dst.id, &dst.name),
                &Ident::Id(l.package_id),
                ListAdd {
                    owner: l.owner_id.or(Some(user)),
                    block: Some(l.blocked),
                    extra_arches: l.extra_arches.clone(),
                    update: false,
                },
            )
            .await?;
            next_event(c);
        }
    }
    if o.builds {
        let mut list =
            builds::tagged(c, src.id, o.event, o.inherit_builds, None, o.latest_only).await?;
        list.reverse();
        let list: Vec<Build> = list.into_iter().map(|t| t.build).collect();
        for b in &list {
            direct_tag(c, &dst, b, user, true).await?;
            next_event(c);
        }
    }
    if o.groups {
        copy_groups(c, &src, &dst, &o).await?;
    }
    Ok(())
}

fn group_opts(cfg: &groups::GroupConfig) -> groups::GroupOpts {
    groups::GroupOpts {
        exported: Some(cfg.exported),
        display_name: Some(cfg.display_name.clone()),
        is_default: Some(cfg.is_default),
        uservisible: Some(cfg.uservisible),
        description: Some(cfg.description.clone()),
        langonly: Some(cfg.langonly.clone()),
        biarchonly: Some(cfg.biarchonly),
    }
}

fn package_opts(cfg: &groups::PackageConfig) -> groups::PackageOpts {
    groups::PackageOpts {
        kind: Some(cfg.kind.clone()),
        basearchonly: Some(cfg.basearchonly),
        requires: Some(cfg.requires.clone()),
    }
}

fn req_opts(cfg: &groups::ReqConfig) -> groups::ReqOpts {
    groups::ReqOpts {
        kind: Some(cfg.kind.clone()),
        is_metapkg: Some(cfg.is_metapkg),
    }
}

/// The source's comps groups as of the snapshot's event (through its inheritance, blocked
/// ones left out), with their packages and requirements: what a copy starts from.
async fn source_groups(c: &mut Ctx, src: &Tag, o: &Snapshot) -> HResult<Vec<groups::TagGroup>> {
    let all = groups::tag_groups(c, src.id, o.event, true, true, true).await?;
    Ok(groups::visible(all, false))
}

/// snapshotTag's groups: every group the source shows, with its packages and
/// requirements, becomes the new tag's own entry (one event per step, as the rest).
async fn copy_groups(c: &mut Ctx, src: &Tag, dst: &Tag, o: &Snapshot) -> HResult<()> {
    let dst_ref = (dst.id, dst.name.as_str());
    for g in source_groups(c, src, o).await? {
        let gid = Ident::Id(g.group_id);
        groups::list_add(c, dst_ref, &gid, g.cfg.blocked, true, group_opts(&g.cfg)).await?;
        next_event(c);
        let grp = (g.group_id, g.name.as_str());
        for p in g.packages.iter().flatten() {
            let opts = package_opts(&p.cfg);
            groups::package_add(c, dst_ref, grp, &p.package, p.cfg.blocked, true, opts).await?;
            next_event(c);
        }
        for r in g.reqs.iter().flatten() {
            let req = (r.req_id, r.req_name.as_str());
            groups::req_add(c, dst_ref, grp, req, r.cfg.blocked, true, req_opts(&r.cfg)).await?;
            next_event(c);
        }
    }
    Ok(())
}

/// snapshotTagModify's groups (Koji's walk): groups the destination lacks, or blocks
/// differently, are added; missing packages and requirements of shared groups are added;
/// with `remove`, what the source does not have goes (the destination's own entries are
/// removed, inherited ones blocked).
async fn sync_groups(c: &mut Ctx, src: &Tag, dst: &Tag, o: &Snapshot) -> HResult<()> {
    let dst_ref = (dst.id, dst.name.as_str());
    let srcg = groups::visible(
        groups::tag_groups(c, src.id, o.event, true, true, true).await?,
        true,
    );
    let dstg = groups::visible(
        groups::tag_groups(c, dst.id, None, true, true, true).await?,
        true,
    );
    let find = |list: &[groups::TagGroup], name: &str| list.iter().position(|g| g.name == name);
    for g in &srcg {
        let same = find(&dstg, &g.name).is_some_and(|i| dstg[i].cfg.blocked == g.cfg.blocked);
        if !same {
            let gid = Ident::Id(g.group_id);
            groups::list_add(c, dst_ref, &gid, g.cfg.blocked, o.force, group_opts(&g.cfg)).await?;
            next_event(c);
        }
    }
    if o.remove {
        for g in dstg.iter().filter(|g| find(&srcg, &g.name).is_none()) {
            if g.tag_id == dst.id {
                groups::list_remove(c, dst_ref, (g.group_id, &g.name), o.force).await?;
            } else {
                let gid = Ident::Id(g.group_id);
                groups::list_add(c, dst_ref, &gid, true, o.force, group_opts(&g.cfg)).await?;
            }
            next_event(c);
        }
    }
    for g in &srcg {
        let Some(i) = find(&dstg, &g.name) else {
            continue;
        };
        let d = &dstg[i];
        let grp = (g.group_id, g.name.as_str());
        let dpkgs = d.packages.clone().unwrap_or_default();
        let spkgs = g.packages.clone().unwrap_or_default();
        for p in spkgs
            .iter()
            .filter(|p| !dpkgs.iter().any(|x| x.package == p.package))
        {
            groups::package_add(
                c,
                dst_ref,
                grp,
                &p.package,
                false,
                o.force,
                package_opts(&p.cfg),
            )
            .await?;
            next_event(c);
        }
        let dreqs = d.reqs.clone().unwrap_or_default();
        let sreqs = g.reqs.clone().unwrap_or_default();
        for r in sreqs
            .iter()
            .filter(|r| !dreqs.iter().any(|x| x.req_id == r.req_id))
        {
            let req = (r.req_id, r.req_name.as_str());
            groups::req_add(
                c,
                dst_ref,
                grp,
                req,
                r.cfg.blocked,
                o.force,
                req_opts(&r.cfg),
            )
            .await?;
            next_event(c);
        }
        if !o.remove {
            continue;
        }
        for p in dpkgs.iter().filter(|p| !p.cfg.blocked) {
            let in_src = spkgs.iter().find(|x| x.package == p.package);
            if in_src.is_some_and(|x| x.cfg.blocked) {
                groups::package_add(
                    c,
                    dst_ref,
                    grp,
                    &p.package,
                    true,
                    o.force,
                    package_opts(&p.cfg),
                )
                .await?;
                next_event(c);
            } else if in_src.is_none() && p.tag_id == dst.id {
                groups::package_remove(c, dst_ref, grp, &p.package).await?;
                next_event(c);
            }
        }
        for r in dreqs.iter().filter(|r| !r.cfg.blocked) {
            let in_src = sreqs.iter().find(|x| x.req_id == r.req_id);
            let req = (r.req_id, r.req_name.as_str());
            if in_src.is_some_and(|x| x.cfg.blocked) {
                groups::req_add(c, dst_ref, grp, req, true, o.force, req_opts(&r.cfg)).await?;
                next_event(c);
            } else if in_src.is_none() && r.tag_id == dst.id {
                groups::req_remove(c, dst_ref, grp, req).await?;
                next_event(c);
            }
        }
    }
    Ok(())
}

/// One package's builds in a tag, oldest tagging first, by NVR.
type PkgBuilds = Vec<(String, TaggedBuild)>;

/// Tagged builds grouped by package (packages in order of first appearance), oldest first.
fn by_package(mut list: Vec<TaggedBuild>) -> Vec<(String, PkgBuilds)> {
    list.reverse();
    let mut out: Vec<(String, PkgBuilds)> = Vec::new();
    for t in list {
        let nvr = t.build.nvr();
        let pkg = t.build.name.clone();
        match out.iter_mut().find(|(p, _)| *p == pkg) {
            Some((_, v)) => v.push((nvr, t)),
            None => out.push((pkg, vec![(nvr, t)])),
        }
    }
    out
}

/// `snapshotTagModify`: make the existing tag `dst` what the source is (as of `event`):
/// config, package list (the destination's extra packages get blocked), builds in the
/// source's order per package (with `remove`, extra builds are untagged; without, they are
/// kept, before the source's).
pub async fn snapshot_modify(
    c: &mut Ctx,
    src: &Ident,
    src_shown: &str,
    dst: &Ident,
    dst_shown: &str,
    o: Snapshot,
) -> HResult<()> {
    c.assert_perm("tag").await?;
    let user = me(c)?;
    check_snapshot_args(&o)?;
    let src = snapshot_source(c, src, src_shown, o.event).await?;
    let mut dst = require_tag(c, dst, dst_shown).await?;
    if (src.locked || dst.locked) && !o.force {
        return Err(HubError::generic(
            "Source or destination tag is locked, use force to copy",
        ));
    }
    if o.config {
        let remove_extra = dst
            .extra
            .keys()
            .filter(|k| !src.extra.contains_key(*k))
            .cloned()
            .collect();
        let edit = TagEdit {
            name: None,
            config: TagConfig {
                arches: Some(src.arches.clone()),
                perm_id: src.perm_id,
                locked: src.locked,
                maven_support: src.maven_support,
                maven_include_all: src.maven_include_all,
            },
            extra: src.extra.clone(),
            remove_extra,
            block_extra: Vec::new(),
        };
        let dst_name = dst.name.clone();
        tags::edit(c, dst.id, &dst_name, edit).await?;
        next_event(c);
        dst = require_tag_entry(c, &Ident::Id(dst.id)).await?;
    }
    if o.pkgs {
        let srcpkgs = packages::of_tag(c, src.id, o.event, true, false).await?;
        let dstpkgs = packages::of_tag(c, dst.id, None, true, false).await?;
        let src_names: HashSet<&str> = srcpkgs.iter().map(|l| l.package_name.as_str()).collect();
        let dst_names: HashSet<&str> = dstpkgs.iter().map(|l| l.package_name.as_str()).collect();
        for l in dstpkgs
            .iter()
            .filter(|l| !src_names.contains(l.package_name.as_str()))
        {
            if l.blocked {
                continue;
            }
            packages::list_add(
                c,
                (dst.id, &dst.name),
                &Ident::Id(l.package_id),
                ListAdd {
                    owner: l.owner_id.or(Some(user)),
                    block: Some(true),
                    extra_arches: l.extra_arches.clone(),
                    update: true,
                },
            )
            .await?;
            next_event(c);
        }
        for l in srcpkgs
            .iter()
            .filter(|l| !dst_names.contains(l.package_name.as_str()))
        {
            packages::list_add(
                c,
                (dst.id, &dst.name),
                &Ident::Id(l.package_id),
                ListAdd {
                    owner: l.owner_id.or(Some(user)),
                    block: Some(l.blocked),
                    extra_arches: l.extra_arches.clone(),
                    update: false,
                },
            )
            .await?;
            next_event(c);
        }
    }
    if o.builds {
        sync_builds(c, &src, &dst, user, &o).await?;
    }
    if o.groups {
        sync_groups(c, &src, &dst, &o).await?;
    }
    Ok(())
}

/// The builds part of [`snapshot_modify`] (Koji's order-keeping walk): per package of the
/// source, the destination's builds are untagged where they are out of the source's order
/// and the missing ones tagged, so that the destination ends with the source's builds in
/// the source's order (with `remove`, nothing else; without, its extra builds first).
async fn sync_builds(c: &mut Ctx, src: &Tag, dst: &Tag, user: i32, o: &Snapshot) -> HResult<()> {
    let src_list =
        builds::tagged(c, src.id, o.event, o.inherit_builds, None, o.latest_only).await?;
    let dst_list = builds::tagged(c, dst.id, None, false, None, false).await?;
    let srcb = by_package(src_list);
    let mut dstb = by_package(dst_list);
    if o.remove {
        for (pkg, blds) in &dstb {
            if srcb.iter().any(|(p, _)| p == pkg) {
                continue;
            }
            for (_, t) in blds {
                if t.tag_id == dst.id {
                    direct_untag(c, dst, &t.build, user, false).await?;
                    next_event(c);
                }
            }
        }
    }
    for (pkg, srcblds) in &srcb {
        let idx = match dstb.iter().position(|(p, _)| p == pkg) {
            Some(i) => i,
            None => {
                dstb.push((pkg.clone(), Vec::new()));
                dstb.len() - 1
            }
        };
        let dstblds = &mut dstb[idx].1;
        let in_src = |nvr: &str| srcblds.iter().any(|(n, _)| n == nvr);
        let order: Vec<(String, TaggedBuild)> = if o.remove {
            let extra: Vec<(String, TaggedBuild)> = dstblds
                .iter()
                .filter(|(n, _)| !in_src(n))
                .cloned()
                .collect();
            for (_, t) in &extra {
                if t.tag_id == dst.id {
                    assert_access(c, dst, user, o.force).await?;
                    direct_untag(c, dst, &t.build, user, true).await?;
                    next_event(c);
                }
            }
            dstblds.retain(|(n, _)| in_src(n));
            srcblds.clone()
        } else {
            let mut v: Vec<(String, TaggedBuild)> = dstblds
                .iter()
                .filter(|(n, _)| !in_src(n))
                .cloned()
                .collect();
            v.extend(srcblds.iter().cloned());
            v
        };
        for (nvr, wanted) in order {
            let pos = dstblds.iter().position(|(n, _)| *n == nvr);
            let before: Vec<(String, TaggedBuild)> = match pos {
                Some(p) => dstblds.drain(..p).collect(),
                None => std::mem::take(dstblds),
            };
            for (_, t) in &before {
                if t.tag_id == dst.id {
                    assert_access(c, dst, user, o.force).await?;
                    direct_untag(c, dst, &t.build, user, true).await?;
                    next_event(c);
                }
            }
            if pos.is_some() {
                dstblds.remove(0);
            } else {
                direct_tag(c, dst, &wanted.build, user, o.force).await?;
                next_event(c);
            }
        }
    }
    Ok(())
}
