//! `queryHistory(tables=None, **kwargs)`: what `koji list-history` (and `untag-build`'s
//! check) reads: the versions of every versioned table, in Koji's row shapes.

use super::common::{QueryOpts, build_ref, time_arg};
use crate::ctx::Ctx;
use crate::domain::Paged;
use crate::domain::history::{self, Filter, Given, Query};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::pyrepr::repr;
use crate::registry::Registry;
use crate::signature::{Args, value_ident};
use koji_protocol::{Struct, Value};

pub fn register(r: &mut Registry) {
    r.add(
        "queryHistory",
        "tables=None, **kwargs",
        "History of the versioned tables (tags, tagging, packages, groups, targets, hosts, \
         permissions, external repos).",
        handler!(query_history),
    );
}

/// The keyword of each table-specific filter.
fn filter_of(key: &str) -> Option<Filter> {
    Some(match key {
        "tag" => Filter::Tag,
        "build" => Filter::Build,
        "package" => Filter::Package,
        "user" => Filter::User,
        "permission" => Filter::Permission,
        "host" => Filter::Host,
        "channel" => Filter::Channel,
        "external_repo" => Filter::ExternalRepo,
        "build_target" => Filter::BuildTarget,
        "group" => Filter::Group,
        "cg" => Filter::Cg,
        "xkey" => Filter::Xkey,
        _ => return None,
    })
}

/// Python's str() of a filter value, as Koji quotes it and compares text filters with.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        v => repr(v),
    }
}

/// An event id filter.
fn event_arg(name: &str, v: &Value) -> HResult<i64> {
    v.as_i64()
        .ok_or_else(|| HubError::parameter(format!("Invalid event for {name}: {}", repr(v))))
}

/// queryHistory: each table that every table-specific filter applies to answers its
/// versions (Koji leaves the others out); unknown keywords are ignored, as Koji does
/// (`koji list-history --utc` sends `utc`, `untag-build` sends `pkg`).
pub async fn query_history(c: &mut Ctx, a: Args) -> HResult<Value> {
    let names = a.opt_str_list(0)?;
    let tables = history::tables(names.as_deref())?;
    let mut filters: Vec<(Filter, Given)> = Vec::new();
    let mut q = Query::default();
    let mut opts = &Value::Nil;
    for (k, v) in &a.extra {
        if let Some(f) = filter_of(k) {
            let given = match f {
                Filter::Build => Given::Build(build_ref(v)?, repr(v)),
                Filter::Xkey => Given::Ident(crate::ident::Ident::Name(py_str(v)), py_str(v)),
                _ => {
                    let what = k.replace('_', " ");
                    Given::Ident(value_ident(v, &what)?, py_str(v))
                }
            };
            filters.push((f, given));
            continue;
        }
        match k.as_str() {
            "active" => {
                q.active = match v {
                    Value::Nil => None,
                    v => Some(v.is_truthy()),
                }
            }
            "editor" => {
                let ident = value_ident(v, "user")?;
                let r = crate::domain::users::UserRef::Ident(ident);
                q.editor = Some(crate::domain::users::require_user(c, &r, &repr(v)).await?);
            }
            "after" => q.after = Some(time_arg(k, v)?),
            "before" => q.before = Some(time_arg(k, v)?),
            "afterEvent" => q.after_event = Some(event_arg(k, v)?),
            "beforeEvent" => q.before_event = Some(event_arg(k, v)?),
            "queryOpts" => opts = v,
            _ => {}
        }
    }
    // a bad queryOpts is refused whatever tables answer (an order field per table, below)
    let mut unordered = opts.clone();
    if let Value::Struct(s) = &mut unordered {
        s.shift_remove("order");
    }
    QueryOpts::parse(&unordered, &[])?;
    let max = c.hub().config.limits.max_list_rows;
    // ordered, paged and capped by the database: a history has no natural bound
    let answers = history::query(c, &tables, &filters, &q, |t| {
        Ok(QueryOpts::parse(opts, &t.order_columns())?.page(max))
    })
    .await?;
    let mut out = Struct::new();
    for (name, rows) in answers {
        let v = match rows {
            Paged::Rows(r) => Value::Array(r.into_iter().map(Value::Struct).collect()),
            Paged::Count(n) => Value::Int(n),
        };
        out.insert(name.to_string(), v);
    }
    Ok(Value::Struct(out))
}
