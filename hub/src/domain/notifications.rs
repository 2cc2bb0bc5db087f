//! Who hears of what: users subscribe to a package, a tag or both (`add-notification`) and
//! opt out the same way (`block-notification`). A build that completes, fails or is
//! canceled, and a tag operation (tag, untag, move, done or failed), queue one mail per
//! recipient in the change's own transaction; the hub's mailer sends them later through the
//! configured relay (see `background::mailer`). Recipients follow Koji: the matching
//! subscriptions of active users, the build's owner (on failures, or always with
//! `notify_on_success`), and the package's owner in the tag, less anyone who opted out.

use super::tags;
use super::{Named, find};
use crate::config::NotificationsConfig;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::mail::Relay;
use crate::storage::Conn;
use crate::storage::builds::{Build, state};
use crate::storage::notifications::{self as store, NewMail, Recipient};
use crate::storage::users::{STATUS_NORMAL, USER_NORMAL};
use std::collections::BTreeSet;

pub use crate::storage::notifications::{Block, Subscription};

/// The user a notification call is about: the named one, or the caller.
pub async fn subject_user(c: &mut Ctx, named: Option<i32>) -> HResult<i32> {
    match named {
        Some(id) => Ok(id),
        None => c
            .user_id()
            .ok_or_else(|| HubError::generic("No user specified and not logged in")),
    }
}

/// The caller may change `owner`'s notifications: their own, or anyone's as admin.
async fn assert_may_change(c: &mut Ctx, owner: i32, what: &str) -> HResult<i32> {
    let me = c.assert_login()?.user_id;
    if me != owner && !c.is_admin().await? {
        return Err(HubError::generic(format!(
            "user {me} cannot {what} for user {owner}"
        )));
    }
    Ok(me)
}

/// The caller may make `what` for `user`: their own, or anyone's as admin (Koji's texts
/// name both users). Returns the user's name.
async fn assert_may_create(c: &mut Ctx, user: i32, what: &str) -> HResult<String> {
    let (me, my_name) = {
        let s = c.assert_login()?;
        (s.user_id, s.user_name.clone())
    };
    let name = crate::storage::users::get(c.db().await?, user)
        .await?
        .map(|u| u.name)
        .ok_or_else(|| HubError::generic(format!("No such user ID: {user}")))?;
    if me != user && !c.is_admin().await? {
        return Err(HubError::generic(format!(
            "user {my_name} cannot create {what} for user {name}"
        )));
    }
    Ok(name)
}

pub async fn subscriptions(c: &mut Ctx, user: i32) -> HResult<Vec<Subscription>> {
    Ok(store::subscriptions_of(c.db().await?, user).await?)
}

pub async fn subscription(c: &mut Ctx, id: i32) -> HResult<Option<Subscription>> {
    Ok(store::subscription(c.db().await?, id).await?)
}

pub async fn require_subscription(c: &mut Ctx, id: i32) -> HResult<Subscription> {
    subscription(c, id)
        .await?
        .ok_or_else(|| HubError::generic(format!("No notification with ID {id} found")))
}

pub async fn blocks(c: &mut Ctx, user: i32) -> HResult<Vec<Block>> {
    Ok(store::blocks_of(c.db().await?, user).await?)
}

pub async fn block(c: &mut Ctx, id: i32) -> HResult<Option<Block>> {
    Ok(store::block(c.db().await?, id).await?)
}

pub async fn require_block(c: &mut Ctx, id: i32) -> HResult<Block> {
    block(c, id)
        .await?
        .ok_or_else(|| HubError::generic(format!("No notification block with ID {id} found")))
}

/// A package named by id or name; "No such package" otherwise.
pub async fn package_id(c: &mut Ctx, ident: &Ident) -> HResult<i32> {
    match find(c, Named::Package, ident).await? {
        Some((id, _)) => Ok(id),
        None => Err(HubError::generic(format!("No such package: {ident}"))),
    }
}

/// A tag named by id or name; "No such tag" otherwise.
pub async fn tag_id(c: &mut Ctx, ident: &Ident) -> HResult<i32> {
    Ok(tags::require(c, ident).await?.0)
}

/// createNotification: `user` follows the package and/or tag.
pub async fn create(
    c: &mut Ctx,
    user: i32,
    package: Option<i32>,
    tag: Option<i32>,
    success_only: bool,
) -> HResult<i32> {
    let name = assert_may_create(c, user, "notifications").await?;
    for n in subscriptions(c, user).await? {
        if (n.package_id, n.tag_id, n.success_only) == (package, tag, success_only) {
            return Err(HubError::generic("notification already exists"));
        }
    }
    let email = format!("{name}@{}", c.hub().config.notifications.email_domain);
    c.mark_write();
    Ok(store::insert_subscription(c.db().await?, user, package, tag, success_only, &email).await?)
}

/// updateNotification: new package, tag and success-only of an existing subscription.
pub async fn update(
    c: &mut Ctx,
    id: i32,
    package: Option<i32>,
    tag: Option<i32>,
    success_only: bool,
) -> HResult<()> {
    c.assert_login()?;
    let old = require_subscription(c, id).await?;
    assert_may_change(c, old.user_id, "update notifications").await?;
    for n in subscriptions(c, old.user_id).await? {
        if (n.package_id, n.tag_id, n.success_only) == (package, tag, success_only) {
            return Err(HubError::generic("notification already exists"));
        }
    }
    c.mark_write();
    store::update_subscription(c.db().await?, id, package, tag, success_only).await?;
    Ok(())
}

/// deleteNotification
pub async fn delete(c: &mut Ctx, id: i32) -> HResult<()> {
    let old = require_subscription(c, id).await?;
    c.assert_login()?;
    assert_may_change(c, old.user_id, "delete notifications").await?;
    c.mark_write();
    store::delete_subscription(c.db().await?, id).await?;
    Ok(())
}

/// createNotificationBlock: `user` hears nothing of the package and/or tag.
pub async fn create_block(
    c: &mut Ctx,
    user: i32,
    package: Option<i32>,
    tag: Option<i32>,
) -> HResult<i32> {
    assert_may_create(c, user, "notification blocks").await?;
    for b in blocks(c, user).await? {
        if (b.package_id, b.tag_id) == (package, tag) {
            return Err(HubError::generic("notification already exists"));
        }
    }
    c.mark_write();
    Ok(store::insert_block(c.db().await?, user, package, tag).await?)
}

/// deleteNotificationBlock
pub async fn delete_block(c: &mut Ctx, id: i32) -> HResult<()> {
    let old = require_block(c, id).await?;
    c.assert_login()?;
    assert_may_change(c, old.user_id, "delete notification blocks").await?;
    c.mark_write();
    store::delete_block(c.db().await?, id).await?;
    Ok(())
}

// ------------------------------------------------------------------ who hears of it

/// Everyone who hears of `b` in `tag` (or of no tag), success or not, less the opted out.
async fn recipients(
    c: &mut Ctx,
    cfg: &NotificationsConfig,
    b: &Build,
    tag: Option<i32>,
    success: bool,
) -> HResult<Vec<Recipient>> {
    let mut all = store::subscribers(c.db().await?, b.package_id, tag, success).await?;
    if cfg.notify_on_success || !success {
        if let Some(u) = crate::storage::users::get(c.db().await?, b.owner_id).await?
            && u.status == STATUS_NORMAL
        {
            all.push(Recipient {
                user_id: u.id,
                email: format!("{}@{}", u.name, cfg.email_domain),
            });
        }
        if let Some(t) = tag
            && let Some(l) = super::packages::config(c, t, b.package_id, None).await?
            && !l.blocked
            && let Some(owner) = l.owner_id
            && let Some(u) = crate::storage::users::get(c.db().await?, owner).await?
            && u.status == STATUS_NORMAL
            && u.usertype == USER_NORMAL
        {
            all.push(Recipient {
                user_id: u.id,
                email: format!("{}@{}", u.name, cfg.email_domain),
            });
        }
    }
    if all.is_empty() {
        return Ok(all);
    }
    let users: Vec<i32> = all
        .iter()
        .map(|r| r.user_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let out: BTreeSet<i32> = store::opted_out(c.db().await?, &users, b.package_id, tag)
        .await?
        .into_iter()
        .collect();
    all.retain(|r| !out.contains(&r.user_id));
    Ok(all)
}

fn unique_emails(rs: impl IntoIterator<Item = Recipient>) -> BTreeSet<String> {
    rs.into_iter().map(|r| r.email).collect()
}

/// Write one mail per address in the change's transaction.
async fn queue(
    c: &mut Ctx,
    kind: &str,
    b: &Build,
    to: &BTreeSet<String>,
    m: &Rendered,
) -> HResult<()> {
    if to.is_empty() {
        return Ok(());
    }
    let queued = if c.hub().config.notifications.relay.is_some() {
        "queued"
    } else {
        "unsent"
    };
    c.mark_write();
    for addr in to {
        let row = NewMail {
            kind,
            build: b.id,
            recipient: addr,
            subject: &m.subject,
            headers: &m.headers,
            body: &m.body,
            state: queued,
        };
        store::queue_mail(c.db().await?, &row).await?;
    }
    tracing::info!(
        build = b.id,
        kind,
        recipients = to.len(),
        "notification mail queued"
    );
    Ok(())
}

struct Rendered {
    subject: String,
    headers: String,
    body: String,
}

fn state_word(s: i32) -> &'static str {
    match s {
        state::COMPLETE => "complete",
        state::FAILED => "failed",
        state::CANCELED => "canceled",
        state::DELETED => "deleted",
        _ => "building",
    }
}

/// The build's destination tag: the target named by its `build` task, if it still exists.
async fn dest_tag(c: &mut Ctx, b: &Build) -> HResult<Option<(i32, String)>> {
    let Some(tid) = b.task_id else {
        return Ok(None);
    };
    let Some(t) = super::tasks::get(c, tid).await? else {
        return Ok(None);
    };
    if t.method != "build" {
        return Ok(None);
    }
    let params = super::tasks::decode_params(&t.request);
    let Some(target) = params.get(1).and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    Ok(
        super::targets::find_target(c, &Ident::Name(target.to_string()))
            .await?
            .map(|t| (t.dest_tag, t.dest_tag_name)),
    )
}

/// A build finished (`new_state`: COMPLETE, FAILED or CANCELED): queue its mail.
pub async fn build_finished(c: &mut Ctx, b: &Build, new_state: i32) -> HResult<()> {
    let cfg = c.hub().config.notifications.clone();
    if cfg.disabled {
        return Ok(());
    }
    let success = new_state == state::COMPLETE;
    let dest = dest_tag(c, b).await?;
    let to = unique_emails(recipients(c, &cfg, b, dest.as_ref().map(|d| d.0), success).await?);
    if to.is_empty() {
        return Ok(());
    }
    let nvr = b.nvr();
    let status = state_word(new_state);
    let tag_name = dest.map(|d| d.1).unwrap_or_else(|| "none".into());
    let web = cfg.web_url.trim_end_matches('/');
    let mut body = format!(
        "Package: {}\nNVR: {nvr}\nStatus: {status}\nOwner: {}\nDestination tag: {tag_name}\n\
         Build: {web}/buildinfo?buildID={}\n",
        b.name, b.owner_name, b.id
    );
    if let Some(t) = b.task_id {
        body.push_str(&format!("Task: {web}/taskinfo?taskID={t}\n"));
    }
    let m = Rendered {
        subject: format!(
            "Build {nvr} {status} (tag {tag_name}, owner {})",
            b.owner_name
        ),
        headers: format!(
            "X-Koji-Package: {}\nX-Koji-NVR: {nvr}\nX-Koji-Draft: {}\nX-Koji-Builder: {}\n\
             X-Koji-Status: {status}\nX-Koji-Tag: {tag_name}",
            b.name,
            if b.draft { "True" } else { "False" },
            b.owner_name
        ),
        body,
    };
    queue(c, "build", b, &to, &m).await
}

/// A tag operation on a build, as its notice records it.
pub struct TagEvent<'a> {
    pub ok: bool,
    /// (id, name) of the tag the build went into.
    pub tag: Option<(i32, String)>,
    /// (id, name) of the tag the build left.
    pub from: Option<(i32, String)>,
    pub user_name: &'a str,
    pub failure: &'a str,
    pub ignore_success: bool,
}

/// A tag operation happened (or failed): queue its mail.
pub async fn tag_operation(c: &mut Ctx, b: &Build, e: TagEvent<'_>) -> HResult<()> {
    let cfg = c.hub().config.notifications.clone();
    if cfg.disabled || (e.ok && e.ignore_success) {
        return Ok(());
    }
    let mut to = BTreeSet::new();
    for t in [&e.tag, &e.from].into_iter().flatten() {
        to.extend(unique_emails(
            recipients(c, &cfg, b, Some(t.0), e.ok).await?,
        ));
    }
    if to.is_empty() {
        return Ok(());
    }
    let nvr = b.nvr();
    let action = match (&e.tag, &e.from) {
        (Some(t), Some(f)) => format!("moved from {} to {}", f.1, t.1),
        (Some(t), None) => format!("tagged into {}", t.1),
        (None, Some(f)) => format!("untagged from {}", f.1),
        (None, None) => "tag operation".into(),
    };
    let (result, status) = if e.ok {
        ("", "complete")
    } else {
        ("failed: ", "failed")
    };
    let mut body = format!(
        "Package: {}\nNVR: {nvr}\nUser: {}\nStatus: {status}\nOperation: {action}\n",
        b.name, e.user_name
    );
    if !e.ok && !e.failure.is_empty() {
        body.push_str(&format!("Failure: {}\n", e.failure));
    }
    let mut headers = format!(
        "X-Koji-Package: {}\nX-Koji-NVR: {nvr}\nX-Koji-Draft: {}\nX-Koji-User: {}\nX-Koji-Status: {status}",
        b.name,
        if b.draft { "True" } else { "False" },
        e.user_name
    );
    for t in [&e.from, &e.tag].into_iter().flatten() {
        headers.push_str(&format!("\nX-Koji-Tag: {}", t.1));
    }
    let m = Rendered {
        subject: format!("{result}{nvr} {action} by {}", e.user_name),
        headers,
        body,
    };
    queue(c, "tag", b, &to, &m).await
}

// ------------------------------------------------------------------ sending

/// Send what is due through `relay`, a batch at a time, on a connection of the mailer's
/// own. Each mail is claimed (its next try leased ahead) before it is sent and marked after,
/// so a hub that dies mid-send leaves it to be tried again, never lost. Returns how many
/// were sent.
pub async fn send_due(
    db: &mut Conn,
    relay: &Relay,
    cfg: &NotificationsConfig,
) -> Result<usize, sqlx::Error> {
    let mut sent = 0;
    loop {
        let batch = store::claim_due(db, 20, 120.0).await?;
        if batch.is_empty() {
            return Ok(sent);
        }
        for m in batch {
            match relay
                .send(&m.recipient, &m.subject, &m.headers, &m.body)
                .await
            {
                Ok(()) => {
                    store::mark_sent(db, m.id).await?;
                    sent += 1;
                    tracing::info!(mail = m.id, to = %m.recipient, "notification sent");
                }
                Err(e) => {
                    let give_up = m.attempts >= cfg.max_attempts;
                    tracing::warn!(mail = m.id, to = %m.recipient, attempt = m.attempts, give_up, error = %e, "notification not sent");
                    store::mark_failed(db, m.id, &e.to_string(), give_up, cfg.retry_secs).await?;
                }
            }
        }
    }
}
