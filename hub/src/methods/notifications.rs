//! Build notifications as `add-notification`, `edit-notification`, `remove-notification`,
//! `block-notification`, `unblock-notification` and `list-notifications` call them, and
//! `getTagID` (which those commands use to name a tag).

use crate::ctx::Ctx;
use crate::domain::notifications::{self as notes, Block, Subscription};
use crate::domain::users::{self, UserRef};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::{Args, value_ident};
use koji_protocol::{Value, kstruct};

/// The notification methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "getBuildNotifications",
        "userID=None",
        "A user's notification subscriptions (the caller's by default).",
        handler!(get_build_notifications),
    );
    r.add(
        "getBuildNotification",
        "id, strict=False",
        "One notification subscription.",
        handler!(get_build_notification),
    );
    r.add(
        "getBuildNotificationBlocks",
        "userID=None",
        "A user's notification blocks (the caller's by default).",
        handler!(get_build_notification_blocks),
    );
    r.add(
        "getBuildNotificationBlock",
        "id, strict=False",
        "One notification block.",
        handler!(get_build_notification_block),
    );
    r.add(
        "createNotification",
        "user_id, package_id, tag_id, success_only",
        "Subscribe a user to a package and/or tag (another user's: admin).",
        handler!(create_notification),
    );
    r.add(
        "updateNotification",
        "id, package_id, tag_id, success_only",
        "Change a subscription (another user's: admin).",
        handler!(update_notification),
    );
    r.add(
        "deleteNotification",
        "id",
        "Remove a subscription (another user's: admin).",
        handler!(delete_notification),
    );
    r.add(
        "createNotificationBlock",
        "user_id, package_id=None, tag_id=None",
        "Stop all mail about a package and/or tag to a user (another user's: admin).",
        handler!(create_notification_block),
    );
    r.add(
        "deleteNotificationBlock",
        "id",
        "Remove a notification block (another user's: admin).",
        handler!(delete_notification_block),
    );
    r.add(
        "getTagID",
        "info, strict=False, create=False",
        "The id of a tag named by id or name.",
        handler!(get_tag_id),
    );
}

fn opt_int(v: Option<i32>) -> Value {
    v.map_or(Value::Nil, |i| Value::Int(i64::from(i)))
}

fn subscription_value(n: &Subscription) -> Value {
    kstruct! {
        "id" => n.id,
        "user_id" => n.user_id,
        "package_id" => opt_int(n.package_id),
        "tag_id" => opt_int(n.tag_id),
        "success_only" => n.success_only,
        "email" => n.email.clone(),
    }
}

fn block_value(b: &Block) -> Value {
    kstruct! {
        "id" => b.id,
        "user_id" => b.user_id,
        "package_id" => opt_int(b.package_id),
        "tag_id" => opt_int(b.tag_id),
    }
}

/// The user named by argument `i` (nil: the caller); "No such user" otherwise.
async fn user_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<i32> {
    if a.is_nil(i) {
        return notes::subject_user(c, None).await;
    }
    let r = UserRef::Ident(value_ident(a.val(i), "user")?);
    users::require_user(c, &r, &crate::pyrepr::repr(a.val(i))).await
}

/// The `user_id` argument of the create calls (login first, as Koji checks it first).
async fn subscriber_arg(c: &mut Ctx, a: &Args) -> HResult<i32> {
    c.assert_login()?;
    let r = UserRef::Ident(value_ident(a.val(0), "user")?);
    users::find_user(c, &r).await?.ok_or_else(|| {
        HubError::generic(format!(
            "No such user ID: {}",
            crate::pyrepr::repr(a.val(0))
        ))
    })
}

/// A package argument: nil (any package), an id or a name.
async fn package_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<Option<i32>> {
    if a.is_nil(i) {
        return Ok(None);
    }
    let ident = value_ident(a.val(i), "package")?;
    Ok(Some(notes::package_id(c, &ident).await?))
}

/// A tag argument: nil (any tag), an id or a name.
async fn tag_arg(c: &mut Ctx, a: &Args, i: usize) -> HResult<Option<i32>> {
    if a.is_nil(i) {
        return Ok(None);
    }
    let ident = value_ident(a.val(i), "tag")?;
    Ok(Some(notes::tag_id(c, &ident).await?))
}

/// getBuildNotifications(userID=None)
async fn get_build_notifications(c: &mut Ctx, a: Args) -> HResult<Value> {
    let user = user_arg(c, &a, 0).await?;
    let rows = notes::subscriptions(c, user).await?;
    Ok(Value::Array(rows.iter().map(subscription_value).collect()))
}

/// getBuildNotification(id, strict=False)
async fn get_build_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    match notes::subscription(c, id).await? {
        Some(n) => Ok(subscription_value(&n)),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No notification with ID {id} found"
        ))),
        None => Ok(Value::Nil),
    }
}

/// getBuildNotificationBlocks(userID=None)
async fn get_build_notification_blocks(c: &mut Ctx, a: Args) -> HResult<Value> {
    let user = user_arg(c, &a, 0).await?;
    let rows = notes::blocks(c, user).await?;
    Ok(Value::Array(rows.iter().map(block_value).collect()))
}

/// getBuildNotificationBlock(id, strict=False)
async fn get_build_notification_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.id(0)?;
    match notes::block(c, id).await? {
        Some(b) => Ok(block_value(&b)),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "No notification block with ID {id} found"
        ))),
        None => Ok(Value::Nil),
    }
}

/// createNotification(user_id, package_id, tag_id, success_only)
async fn create_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    let user = subscriber_arg(c, &a).await?;
    let package = package_arg(c, &a, 1).await?;
    let tag = tag_arg(c, &a, 2).await?;
    notes::create(c, user, package, tag, a.truthy(3)).await?;
    Ok(Value::Nil)
}

/// updateNotification(id, package_id, tag_id, success_only)
async fn update_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_login()?;
    let id = a.id(0)?;
    let package = package_arg(c, &a, 1).await?;
    let tag = tag_arg(c, &a, 2).await?;
    notes::update(c, id, package, tag, a.truthy(3)).await?;
    Ok(Value::Nil)
}

/// deleteNotification(id)
async fn delete_notification(c: &mut Ctx, a: Args) -> HResult<Value> {
    notes::delete(c, a.id(0)?).await?;
    Ok(Value::Nil)
}

/// createNotificationBlock(user_id, package_id=None, tag_id=None)
async fn create_notification_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    let user = subscriber_arg(c, &a).await?;
    let package = package_arg(c, &a, 1).await?;
    let tag = tag_arg(c, &a, 2).await?;
    notes::create_block(c, user, package, tag).await?;
    Ok(Value::Nil)
}

/// deleteNotificationBlock(id)
async fn delete_notification_block(c: &mut Ctx, a: Args) -> HResult<Value> {
    notes::delete_block(c, a.id(0)?).await?;
    Ok(Value::Nil)
}

/// getTagID(info, strict=False, create=False). Koji's `create` makes a bare tag row for
/// anyone who asks; here tags are made by `createTag` (admin) only, so it is refused.
async fn get_tag_id(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    if let Some((id, _)) = crate::domain::find(c, crate::domain::Named::Tag, &ident).await? {
        return Ok(Value::Int(i64::from(id)));
    }
    if a.truthy(2) {
        return Err(HubError::generic(
            "getTagID does not create tags in kkoji: use createTag (add-tag)",
        ));
    }
    if a.truthy(1) {
        return Err(HubError::generic(format!("No such tag: {ident}")));
    }
    Ok(Value::Nil)
}
