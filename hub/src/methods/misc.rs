//! Introspection, version and event calls.

use super::KOJI_VERSION;
use crate::ctx::Ctx;
use crate::domain::events;
use crate::error::{HResult, HubError};
use crate::signature::Args;
use crate::timefmt;
use chrono::{DateTime, Utc};
use koji_protocol::{Struct, Value, kstruct};

pub async fn get_api_version(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::Int(1))
}

pub async fn get_koji_version(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::String(KOJI_VERSION.into()))
}

pub async fn hello(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    Ok(Value::String("Hello World".into()))
}

pub async fn echo(_c: &mut Ctx, a: Args) -> HResult<Value> {
    Ok(Value::Array(a.rest))
}

pub async fn list_methods(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    let mut names: Vec<Value> = super::registry().names().map(Value::from).collect();
    names.push("multiCall".into());
    names.push("system.multicall".into());
    Ok(Value::Array(names))
}

pub async fn method_help(_c: &mut Ctx, a: Args) -> HResult<Value> {
    let name = a.str(0)?;
    Ok(match super::registry().get(name) {
        Some(m) => Value::String(format!(
            "{}({})\ndescription: {}",
            m.name, m.sig.text, m.doc
        )),
        None => Value::String(String::new()),
    })
}

/// `_listapi`: what `koji list-api` prints, from the same signatures the binder uses.
pub async fn list_api(_c: &mut Ctx, _a: Args) -> HResult<Value> {
    let mut out = Vec::new();
    for name in super::registry().names() {
        let Some(m) = super::registry().get(name) else {
            continue;
        };
        let args: Vec<Value> = m
            .sig
            .params
            .iter()
            .map(|p| match &p.default {
                None => Value::String(p.name.into()),
                Some(d) => Value::Array(vec![Value::String(p.name.into()), d.clone()]),
            })
            .collect();
        let names: Vec<Value> = m.sig.params.iter().map(|p| Value::from(p.name)).collect();
        let defaults: Vec<Value> = m
            .sig
            .params
            .iter()
            .filter_map(|p| p.default.clone())
            .collect();
        out.push(kstruct! {
            "name" => m.name,
            "doc" => m.doc,
            "argspec" => Value::Array(vec![
                Value::Array(names),
                m.sig.varargs.into(),
                m.sig.varkw.into(),
                if defaults.is_empty() { Value::Nil } else { Value::Array(defaults) },
                Value::Array(vec![]),
                Value::Nil,
                Value::Struct(Struct::new()),
            ]),
            "argdesc" => format!("({})", m.sig.text),
            "args" => Value::Array(args),
        });
    }
    Ok(Value::Array(out))
}

fn event_value(id: i64, t: &DateTime<Utc>) -> Value {
    kstruct! { "id" => id, "ts" => timefmt::ts(t) }
}

/// getLastEvent(before=None, strict=True)
pub async fn get_last_event(c: &mut Ctx, a: Args) -> HResult<Value> {
    let before = a.opt_f64(0)?;
    match events::last(c, before).await? {
        Some((id, t)) => Ok(event_value(id, &t)),
        None if a.truthy(1) => Err(HubError::generic("No event found")),
        None => Ok(Value::Nil),
    }
}

/// getEvent(id, strict=False)
pub async fn get_event(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = a.i64(0)?;
    match events::get(c, id).await? {
        Some((id, t)) => Ok(event_value(id, &t)),
        None if a.truthy(1) => Err(HubError::generic(format!("No such event: {id}"))),
        None => Ok(Value::Nil),
    }
}
