//! When a tag's repo content changed: the versioned rows that make it up (through
//! inheritance) and its external repos' config and upstream data. A repo is current when
//! its create_event is at or after the tag's last change.

use super::{Repo, state};
use crate::ctx::Ctx;
use crate::domain::tags::inheritance_order;
use crate::error::HResult;
use crate::storage::repos as store;

/// The tags whose content makes up `tag`'s repo (the tag and, with `inherit`, its
/// inheritance) and the external repos they use, as of `event`.
async fn content_sources(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    inherit: bool,
) -> HResult<(Vec<i32>, Vec<i32>)> {
    let tags: Vec<i32> = if inherit {
        inheritance_order(c, tag, event)
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    } else {
        vec![tag]
    };
    let erepos = store::external_repos_of(c.db().await?, &tags, event).await?;
    Ok((tags, erepos))
}

/// Koji's tag_last_change_event: the last event (at or before `event`) that changed what a
/// repo of the tag would contain.
pub async fn last_change(
    c: &mut Ctx,
    tag: i32,
    event: Option<i64>,
    inherit: bool,
) -> HResult<Option<i64>> {
    let (tags, erepos) = content_sources(c, tag, event, inherit).await?;
    Ok(store::last_change(c.db().await?, &tags, &erepos, event).await?)
}

/// Koji's tag_first_change_event: the first change after `after` (or the very first).
pub async fn first_change(
    c: &mut Ctx,
    tag: i32,
    after: Option<i64>,
    inherit: bool,
) -> HResult<Option<i64>> {
    let (tags, erepos) = content_sources(c, tag, None, inherit).await?;
    Ok(store::first_change(c.db().await?, &tags, &erepos, after).await?)
}

/// Koji's update_end_events: READY repos learn the first change of their tag after them.
/// Returns how many did.
pub async fn update_end_events(c: &mut Ctx) -> HResult<usize> {
    let repos: Vec<Repo> = super::repos(store::ready_without_end(c.db().await?).await?);
    let mut n = 0;
    for r in repos {
        debug_assert_eq!(r.row.state, state::READY);
        if let Some(end) = first_change(c, r.row.tag_id, Some(r.row.create_event), true).await? {
            c.mark_write();
            store::set_end_event(c.db().await?, r.row.id, end).await?;
            n += 1;
        }
    }
    Ok(n)
}
