//! Channels as an admin changes them: addChannel, editChannel, enableChannel and
//! disableChannel (the reads and host membership are in `hosts`).

use crate::ctx::Ctx;
use crate::domain::channels::{self, ChannelEdit};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::registry::Registry;
use crate::signature::Args;
use koji_protocol::Value;

/// The channel methods, as one block of the method table.
pub fn register(r: &mut Registry) {
    r.add(
        "addChannel",
        "channel_name, description=None",
        "Add a channel; its id. [admin]",
        handler!(add_channel),
    );
    r.add(
        "editChannel",
        "channelInfo, **kw",
        "Change a channel's name, description or comment; false when nothing differs. [admin]",
        handler!(edit_channel),
    );
    r.add(
        "enableChannel",
        "channelname, comment=None",
        "Mark a channel as enabled. [host]",
        handler!(enable_channel),
    );
    r.add(
        "disableChannel",
        "channelname, comment=None",
        "Mark a channel as disabled: no task is assigned through it. [host]",
        handler!(disable_channel),
    );
}

/// addChannel(channel_name, description=None)
async fn add_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    let description = match a.val(1) {
        Value::Nil => None,
        Value::String(s) => Some(s.clone()),
        _ => return Err(HubError::parameter("Channel description must be a string")),
    };
    let id = channels::add(c, &name, description.as_deref()).await?;
    Ok(Value::Int(i64::from(id)))
}

/// A keyword's value for a text column: a string, or nil to clear it.
fn text_kw(a: &Args, key: &str) -> HResult<Option<Option<String>>> {
    match a.extra.get(key) {
        None => Ok(None),
        Some(Value::Nil) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(HubError::parameter(format!(
            "Invalid type for value '{key}'"
        ))),
    }
}

/// editChannel(channelInfo, **kw): name, description, comment.
async fn edit_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let ident = a.ident(0)?;
    let name = match text_kw(&a, "name")? {
        Some(Some(n)) => Some(n),
        Some(None) => return Err(HubError::parameter("Invalid type for value 'name'")),
        None => None,
    };
    let edit = ChannelEdit {
        name,
        description: text_kw(&a, "description")?,
        comment: text_kw(&a, "comment")?,
    };
    Ok(Value::Bool(channels::edit(c, &ident, edit).await?))
}

async fn set_enabled(c: &mut Ctx, a: Args, enabled: bool) -> HResult<Value> {
    c.assert_perm("host").await?;
    let ident = a.ident(0)?;
    let comment = a.opt_str(1)?.map(str::to_string);
    channels::set_enabled(c, &ident, enabled, comment.as_deref()).await?;
    Ok(Value::Nil)
}

/// enableChannel(channelname, comment=None)
async fn enable_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, true).await
}

/// disableChannel(channelname, comment=None)
async fn disable_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, false).await
}
