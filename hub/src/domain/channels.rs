//! What an admin may do to a channel: add, edit (rename, description, comment), enable and
//! disable. Host membership is in `hosts`.

use super::hosts;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::ident::Ident;
use crate::storage::channels as store;

pub use crate::storage::channels::ChannelEdit;

fn exists(name: &str, id: i32) -> HubError {
    HubError::generic(format!("channel {name} already exists (id={id})"))
}

/// addChannel: a new, enabled channel; its id.
pub async fn add(c: &mut Ctx, name: &str, description: Option<&str>) -> HResult<i32> {
    crate::names::check_internal(name)?;
    if let Some(ch) = hosts::get_channel(c, &Ident::Name(name.to_string())).await? {
        return Err(exists(&ch.name, ch.id));
    }
    c.mark_write();
    Ok(crate::storage::hosts::insert_channel(c.db().await?, name, description).await?)
}

/// editChannel: apply the fields that differ from what is stored; false when none does.
pub async fn edit(c: &mut Ctx, ident: &Ident, mut e: ChannelEdit) -> HResult<bool> {
    let Some(ch) = hosts::get_channel(c, ident).await? else {
        return Err(HubError::generic(format!("No such channel: {ident}")));
    };
    if e.name.as_deref() == Some(ch.name.as_str()) {
        e.name = None;
    }
    if e.description.as_ref() == Some(&ch.description) {
        e.description = None;
    }
    if e.comment.as_ref() == Some(&ch.comment) {
        e.comment = None;
    }
    if e.name.is_none() && e.description.is_none() && e.comment.is_none() {
        return Ok(false);
    }
    if let Some(n) = &e.name {
        crate::names::check_internal(n)?;
        if let Some(dup) = hosts::get_channel(c, &Ident::Name(n.clone())).await? {
            return Err(exists(&dup.name, dup.id));
        }
    }
    c.mark_write();
    store::update(c.db().await?, ch.id, &e).await?;
    Ok(true)
}

/// enableChannel / disableChannel (the comment replaces the stored one when given).
pub async fn set_enabled(
    c: &mut Ctx,
    name: &Ident,
    enabled: bool,
    comment: Option<&str>,
) -> HResult<()> {
    let Some(ch) = hosts::get_channel(c, name).await? else {
        return Err(HubError::generic(format!("No such channel: {name}")));
    };
    c.mark_write();
    store::set_enabled(c.db().await?, ch.id, enabled, comment).await?;
    Ok(())
}
