//! Build targets: a name mapping to a build tag and a destination tag, versioned.

use super::{Named, find, no_such};
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::targets as store;

pub use crate::storage::targets::{TARGET_ORDER, Target};
use crate::storage::{Page, Paged};

/// Targets as of `event`: all, the one named by `ident`, or those with the given tags.
pub async fn list(
    c: &mut Ctx,
    ident: Option<&Ident>,
    event: Option<i64>,
    build_tag: Option<i32>,
    dest_tag: Option<i32>,
    page: &Page,
) -> HResult<Paged<Target>> {
    Ok(store::list(c.db().await?, ident, event, build_tag, dest_tag, page).await?)
}

/// The current target named by `ident`.
pub async fn find_target(c: &mut Ctx, ident: &Ident) -> HResult<Option<Target>> {
    Ok(list(c, Some(ident), None, None, None, &Page::default())
        .await?
        .into_rows()
        .pop())
}

/// createBuildTarget. A deleted target keeps its row (history): creating it again reuses
/// the id.
pub async fn create(c: &mut Ctx, name: &str, build_tag: i32, dest_tag: i32) -> HResult<()> {
    c.event().await?;
    let id = match find(c, Named::Target, &Ident::Name(name.to_string())).await? {
        Some((id, _)) => id,
        None => store::insert(c.db().await?, name).await?,
    };
    let s = c.stamp().await?;
    store::insert_config(c.db().await?, id, build_tag, dest_tag, s).await?;
    Ok(())
}

/// A target name that is free (no current target has it).
pub async fn check_free_name(c: &mut Ctx, name: &str) -> HResult<()> {
    if find_target(c, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!(
            "A build target with the name '{name}' already exists"
        )));
    }
    Ok(())
}

/// (id, name) of a current target; "No such build target" otherwise.
pub async fn require(c: &mut Ctx, ident: &Ident) -> HResult<(i32, String)> {
    let found = find(c, Named::Target, ident).await?;
    match found {
        Some(t) if find_target(c, ident).await?.is_some() => Ok(t),
        _ => Err(no_such(Named::Target, ident)),
    }
}

/// Rename a target (the new name must not be any target's, current or deleted).
pub async fn rename(c: &mut Ctx, target: i32, name: &str) -> HResult<()> {
    if find(c, Named::Target, &Ident::Name(name.to_string()))
        .await?
        .is_some()
    {
        return Err(HubError::generic(format!(
            "A build target with the name '{name}' already exists"
        )));
    }
    c.mark_write();
    store::rename(c.db().await?, target, name).await?;
    Ok(())
}

/// editBuildTarget's tags: a new version of the target's config.
pub async fn set_tags(c: &mut Ctx, target: i32, build_tag: i32, dest_tag: i32) -> HResult<()> {
    let s = c.stamp().await?;
    let db = c.db().await?;
    store::revoke_config(db, target, s).await?;
    store::insert_config(db, target, build_tag, dest_tag, s).await?;
    Ok(())
}

/// deleteBuildTarget.
pub async fn delete(c: &mut Ctx, target: i32) -> HResult<()> {
    let s = c.stamp().await?;
    store::revoke_config(c.db().await?, target, s).await?;
    Ok(())
}

/// The build tags of current targets, ascending.
pub async fn build_tags(c: &mut Ctx) -> HResult<Vec<i32>> {
    Ok(store::build_tags(c.db().await?).await?)
}
