//! Builder hosts and channels.

use super::common::{QueryOpts, paged_value};
use crate::ctx::Ctx;
use crate::domain::hosts::{self, Channel, HOST_ORDER, Host, HostEdit, HostFilter};
use crate::domain::{Named, get};
use crate::error::{HResult, HubError};
use crate::signature::{Args, value_ident};
use crate::timefmt;
use koji_protocol::{Value, kstruct};

/// The admin's comment, followed by what the builder last said about itself when that is
/// not simply "ready" (so `koji hostinfo` and `list-hosts --comment` show why a builder
/// takes no work, without overwriting what the admin wrote).
fn shown_comment(admin: Option<String>, status: Option<String>) -> Option<String> {
    match (admin, status.filter(|s| !s.is_empty() && s != "ready")) {
        (Some(a), Some(s)) => Some(format!("{a} [builder: {s}]")),
        (None, Some(s)) => Some(format!("[builder: {s}]")),
        (a, None) => a,
    }
}

/// A host as `getHost` shows it.
pub fn host_value(h: &Host) -> Value {
    kstruct! {
        "id" => h.id,
        "user_id" => h.user_id,
        "name" => h.name.clone(),
        "update_ts" => timefmt::ts_value(h.update_time.as_ref()),
        "ready" => h.ready,
        "task_load" => h.task_load,
        "arches" => h.arches.clone().unwrap_or_default(),
        "capacity" => h.capacity,
        "description" => h.description.clone(),
        "comment" => shown_comment(h.comment.clone(), h.status.clone()),
        "enabled" => h.enabled,
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => crate::pyrepr::repr(other),
    }
}

/// The current host named by `v`; "No such host" otherwise.
async fn require_host(c: &mut Ctx, v: &Value) -> HResult<Host> {
    let ident = value_ident(v, "host")?;
    hosts::require_host(c, &ident, &display(v)).await
}

/// getHost(hostInfo, strict=False, event=None)
pub async fn get_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    let event = a.opt_i64(2)?;
    let ident = value_ident(a.val(0), "host")?;
    match hosts::get_host(c, &ident, event).await? {
        Some(h) => Ok(host_value(&h)),
        None if a.truthy(1) => Err(HubError::generic(format!(
            "Invalid hostInfo: {}",
            display(a.val(0))
        ))),
        None => Ok(Value::Nil),
    }
}

/// addHost(hostname, arches, krb_principal=None, force=False)
pub async fn add_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let arches = match a.val(1) {
        Value::String(s) => crate::names::parse_arches(s)?,
        Value::Array(v) => {
            let parts: Option<Vec<&str>> = v.iter().map(Value::as_str).collect();
            let parts =
                parts.ok_or_else(|| HubError::parameter("arches must be a list of strings"))?;
            crate::names::parse_arches(&parts.join(" "))?
        }
        other => {
            return Err(HubError::parameter(format!(
                "Invalid type for arches in addHost(): expected list, got {}",
                other.type_name()
            )));
        }
    };
    let force = a.truthy(3);
    let principal = a.opt_str(2)?.map(str::to_string);
    let id = hosts::add(c, &name, &arches, principal.as_deref(), force).await?;
    Ok(Value::Int(i64::from(id)))
}

/// Koji's wording for a value of the wrong type in editHost.
fn type_error(v: &Value) -> HubError {
    HubError::parameter(format!(
        "Invalid type for value '{}': <class '{}'>, expected type <class 'str'>",
        crate::pyrepr::repr(v).trim_matches('\''),
        v.type_name()
    ))
}

/// A text field that may be cleared with None but must otherwise be a string.
fn opt_text(v: &Value) -> HResult<Option<String>> {
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(type_error(other)),
    }
}

/// editHost(hostInfo, **kw): arches, capacity, description, comment, name. True if
/// anything changed.
pub async fn edit_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let host = require_host(c, a.val(0)).await?;
    let mut e = HostEdit::default();
    for (k, v) in &a.extra {
        match k.as_str() {
            "arches" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| HubError::parameter("arches must be a string"))?;
                e.arches = Some(crate::names::parse_arches(s)?);
            }
            "capacity" => {
                let cap = v
                    .as_f64()
                    .ok_or_else(|| HubError::parameter("capacity must be a number"))?;
                if !(cap.is_finite() && cap > 0.0) {
                    return Err(HubError::parameter(format!(
                        "capacity must be a positive number, got {cap}"
                    )));
                }
                e.capacity = Some(cap);
            }
            "description" => e.description = Some(opt_text(v)?),
            "comment" => e.comment = Some(opt_text(v)?),
            "name" => {
                let n = v
                    .as_str()
                    .ok_or_else(|| HubError::parameter("name must be a string"))?;
                crate::names::check_internal(n)?;
                e.name = Some(n.to_string());
            }
            other => {
                return Err(HubError::parameter(format!(
                    "editHost() got an unexpected keyword argument '{other}'"
                )));
            }
        }
    }
    Ok(Value::Bool(hosts::edit(c, host.id, e).await?))
}

async fn set_enabled(c: &mut Ctx, a: Args, enabled: bool) -> HResult<Value> {
    c.assert_perm("host").await?;
    let host = require_host(c, a.val(0)).await?;
    hosts::set_enabled(c, host.id, enabled).await?;
    Ok(Value::Nil)
}

/// enableHost(hostname)
pub async fn enable_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, true).await
}

/// disableHost(hostname)
pub async fn disable_host(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_enabled(c, a, false).await
}

/// listHosts(arches=None, channelID=None, ready=None, enabled=None, userID=None, queryOpts=None)
pub async fn list_hosts(c: &mut Ctx, a: Args) -> HResult<Value> {
    let arches = a.opt_str_list(0)?;
    let channel = match a.opt_ident(1)? {
        Some(i) => Some(get(c, Named::Channel, &i).await?.0),
        None => None,
    };
    let ready = if a.is_nil(2) { None } else { Some(a.truthy(2)) };
    let enabled = if a.is_nil(3) { None } else { Some(a.truthy(3)) };
    let user = a.opt_id(4)?;
    let qo = QueryOpts::parse(a.val(5), HOST_ORDER)?;
    let f = HostFilter {
        channel,
        ready,
        enabled,
        user,
        arches,
    };
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = hosts::list(c, &f, &page).await?;
    Ok(paged_value(rows, |h| host_value(&h)))
}

/// getLastHostUpdate(hostID, ts=False)
pub async fn get_last_host_update(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = require_host(c, a.val(0)).await?;
    let t = hosts::last_update(c, host.id).await?;
    Ok(if a.truthy(1) {
        timefmt::ts_value(t.as_ref())
    } else {
        timefmt::iso_value(t.as_ref())
    })
}

fn channel_value(ch: &Channel) -> Value {
    kstruct! {
        "id" => ch.id,
        "name" => ch.name.clone(),
        "description" => ch.description.clone(),
        "enabled" => ch.enabled,
        "comment" => ch.comment.clone(),
    }
}

/// getChannel(channelInfo, strict=False)
pub async fn get_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    let ident = a.ident(0)?;
    match hosts::get_channel(c, &ident).await? {
        Some(ch) => Ok(channel_value(&ch)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such channel: {ident}"))),
        None => Ok(Value::Nil),
    }
}

/// listChannels(hostID=None, event=None, enabled=None)
pub async fn list_channels(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = match a.opt_ident(0)? {
        Some(i) => Some(get(c, Named::Host, &i).await?.0),
        None => None,
    };
    let event = a.opt_i64(1)?;
    let enabled = if a.is_nil(2) { None } else { Some(a.truthy(2)) };
    let rows = hosts::channels(c, host, event, enabled).await?;
    Ok(Value::Array(rows.iter().map(channel_value).collect()))
}

/// createChannel(channel_name, description=None)
pub async fn create_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    let name = a.str(0)?.to_string();
    crate::names::check_internal(&name)?;
    let description = a.opt_str(1)?.map(str::to_string);
    let id = hosts::create_channel(c, &name, description.as_deref()).await?;
    Ok(Value::Int(i64::from(id)))
}

/// addHostToChannel(hostname, channel_name, create=False, force=False)
pub async fn add_host_to_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let host = require_host(c, a.val(0)).await?;
    let chan = a.ident(1)?;
    hosts::add_to_channel(c, &host, &chan, a.truthy(2), a.truthy(3)).await?;
    Ok(Value::Nil)
}

/// removeHostFromChannel(hostname, channel_name)
pub async fn remove_host_from_channel(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("host").await?;
    let host = require_host(c, a.val(0)).await?;
    let chan = a.ident(1)?;
    hosts::remove_from_channel(c, &host, &chan).await?;
    Ok(Value::Nil)
}

#[cfg(test)]
mod tests {
    use super::shown_comment;

    #[test]
    fn builder_status_joins_the_admin_comment() {
        assert_eq!(shown_comment(None, Some("ready".into())), None);
        assert_eq!(
            shown_comment(Some("rack 3".into()), None).as_deref(),
            Some("rack 3")
        );
        assert_eq!(
            shown_comment(Some("rack 3".into()), Some("not ready: disk".into())).as_deref(),
            Some("rack 3 [builder: not ready: disk]")
        );
        assert_eq!(
            shown_comment(None, Some("not ready: disk".into())).as_deref(),
            Some("[builder: not ready: disk]")
        );
    }
}
