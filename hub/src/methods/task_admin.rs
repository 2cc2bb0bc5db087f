//! `koji assign-task`, `free-task`, `set-task-priority`, `scheduler-info` and
//! `scheduler-logs`: the admin's hand on the queue and the scheduler's own account of
//! itself (the `scheduler.*` calls of Koji 1.34+).

use super::common::{QueryOpts, paged_value};
use crate::ctx::Ctx;
use crate::domain::task_admin::{
    self as admin, Kind, LOG_MESSAGES, Op, TASK_REFUSALS, TASK_RUNS, Val,
};
use crate::domain::{Named, find, get};
use crate::error::{HResult, HubError};
use crate::handler;
use crate::ident::Ident;
use crate::registry::Registry;
use crate::signature::{Args, checked_id};
use koji_protocol::{Value, kstruct};

/// assignTask(task_id, host, force=False, override=False)
async fn assign_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    let task = a.id(0)?;
    let host = match a.val(1) {
        Value::Int(i) => Ident::Id(checked_id("host", *i)?),
        Value::String(s) => Ident::Name(s.clone()),
        _ => return Err(HubError::parameter("host must be a host name or id")),
    };
    let (host, _) = get(c, Named::Host, &host).await?;
    let ok = admin::assign(c, task, host, a.truthy(2), a.truthy(3)).await?;
    Ok(Value::Bool(ok))
}

/// freeTask(task_id)
async fn free_task(c: &mut Ctx, a: Args) -> HResult<Value> {
    admin::free(c, a.id(0)?).await?;
    Ok(Value::Nil)
}

/// setTaskPriority(task_id, priority, recurse=True)
async fn set_task_priority(c: &mut Ctx, a: Args) -> HResult<Value> {
    admin::set_priority(c, a.id(0)?, a.i64(1)?, a.truthy(2)).await?;
    Ok(Value::Nil)
}

fn op_of(s: &str) -> HResult<Op> {
    Ok(match s.trim().to_ascii_uppercase().as_str() {
        "=" | "==" => Op::Eq,
        "!=" | "<>" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "IN" => Op::In,
        "NOT IN" => Op::NotIn,
        other => return Err(HubError::parameter(format!("Invalid operator: {other}"))),
    })
}

/// One value of a field's kind. A host named by name where an id is asked (the stock
/// `scheduler-info --host NAME` sends the name) is looked up.
async fn value_of(c: &mut Ctx, field: &str, kind: Kind, v: &Value) -> HResult<Val> {
    let bad = || {
        HubError::parameter(format!(
            "Invalid value for {field}: {}",
            crate::pyrepr::repr(v)
        ))
    };
    Ok(match (kind, v) {
        (_, Value::Nil) => Val::Null,
        (Kind::Int, Value::Int(i)) => Val::Int(i64::from(checked_id(field, *i)?)),
        (Kind::Int, Value::String(s)) if field == "host_id" => match s.parse::<i64>() {
            Ok(i) => Val::Int(i64::from(checked_id(field, i)?)),
            Err(_) => Val::Int(i64::from(
                find(c, Named::Host, &Ident::Name(s.clone()))
                    .await?
                    .map_or(-1, |(id, _)| id),
            )),
        },
        (Kind::Text, Value::String(s)) => Val::Text(s.clone()),
        (Kind::Bool, Value::Bool(b)) => Val::Bool(*b),
        (Kind::Bool, Value::Int(i)) => Val::Bool(*i != 0),
        (Kind::Time, Value::Double(f)) if f.is_finite() => Val::Float(*f),
        (Kind::Time, Value::Int(i)) => Val::Float(*i as f64),
        _ => return Err(bad()),
    })
}

/// Koji's QueryView clauses: `[field, value]` or `[field, op, value]`, all of them ANDed.
async fn clauses_of(c: &mut Ctx, view: &admin::View, v: &Value) -> HResult<Vec<admin::Clause>> {
    let list = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(l) => l,
        _ => return Err(HubError::parameter("clauses must be a list")),
    };
    let mut out = Vec::with_capacity(list.len());
    for cl in list {
        let parts = cl
            .as_array()
            .ok_or_else(|| HubError::parameter("each clause must be a list"))?;
        let (name, op, val) = match parts {
            [f, v] => (f, Op::Eq, v),
            [f, Value::String(op), v] => (f, op_of(op)?, v),
            _ => {
                return Err(HubError::parameter(
                    "a clause is [field, value] or [field, op, value]",
                ));
            }
        };
        let name = name
            .as_str()
            .ok_or_else(|| HubError::parameter("a clause's field must be a string"))?;
        let field = view
            .field(name)
            .ok_or_else(|| HubError::parameter(format!("Invalid field for query: {name}")))?;
        let val = match (op, val) {
            (Op::In | Op::NotIn, Value::Array(items)) => {
                let mut vals = Vec::with_capacity(items.len());
                for i in items {
                    vals.push(value_of(c, name, field.kind, i).await?);
                }
                match field.kind {
                    Kind::Int => Val::Ints(
                        vals.into_iter()
                            .filter_map(|v| if let Val::Int(i) = v { Some(i) } else { None })
                            .collect(),
                    ),
                    Kind::Text => Val::Texts(
                        vals.into_iter()
                            .filter_map(|v| if let Val::Text(s) = v { Some(s) } else { None })
                            .collect(),
                    ),
                    _ => {
                        return Err(HubError::parameter(format!(
                            "IN is not supported for {name}"
                        )));
                    }
                }
            }
            (Op::In | Op::NotIn, _) => {
                return Err(HubError::parameter(format!("IN needs a list for {name}")));
            }
            (_, v) => value_of(c, name, field.kind, v).await?,
        };
        out.push(admin::Clause { field, op, val });
    }
    Ok(out)
}

/// The fields asked for (the view's defaults when none).
fn fields_of(view: &admin::View, v: &Value) -> HResult<Vec<&'static admin::Field>> {
    let names: Vec<&str> = match v {
        Value::Nil => view.defaults.to_vec(),
        Value::Array(l) => l
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| HubError::parameter("fields must be strings"))
            })
            .collect::<HResult<_>>()?,
        _ => return Err(HubError::parameter("fields must be a list")),
    };
    names
        .into_iter()
        .map(|n| {
            view.field(n)
                .ok_or_else(|| HubError::parameter(format!("Invalid field for query: {n}")))
        })
        .collect()
}

async fn view_query(c: &mut Ctx, a: &Args, view: &admin::View, with_opts: bool) -> HResult<Value> {
    let clauses = clauses_of(c, view, a.val(0)).await?;
    let fields = fields_of(view, a.val(1))?;
    let order: Vec<(&str, &'static str)> = view.fields.iter().map(|f| (f.name, f.expr)).collect();
    let qo = QueryOpts::parse(if with_opts { a.val(2) } else { &Value::Nil }, &order)?;
    let page = qo.page(c.hub().config.limits.max_list_rows);
    let rows = admin::query(c, view, &fields, &clauses, &page).await?;
    Ok(paged_value(rows, Value::Struct))
}

/// scheduler.getTaskRuns(clauses=None, fields=None, opts=None)
async fn get_task_runs(c: &mut Ctx, a: Args) -> HResult<Value> {
    view_query(c, &a, &TASK_RUNS, true).await
}

/// scheduler.getLogMessages(clauses=None, fields=None, opts=None)
async fn get_log_messages(c: &mut Ctx, a: Args) -> HResult<Value> {
    view_query(c, &a, &LOG_MESSAGES, true).await
}

/// scheduler.getTaskRefusals(clauses=None, fields=None)
async fn get_task_refusals(c: &mut Ctx, a: Args) -> HResult<Value> {
    view_query(c, &a, &TASK_REFUSALS, false).await
}

/// scheduler.getHostData(hostID=None)
async fn get_host_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = a.opt_id(0)?;
    let rows = admin::host_data(c, host).await?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|(id, data, status)| {
                let data = match (data, status) {
                    (Value::Struct(mut m), Some(s)) => {
                        m.insert("status".into(), Value::String(s));
                        Value::Struct(m)
                    }
                    (d, _) => d,
                };
                kstruct! { "host_id" => id, "data" => data }
            })
            .collect(),
    ))
}

/// scheduler.doRun(force=False): wake the scheduler (it runs at once on every hub).
async fn do_run(c: &mut Ctx, _a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    c.mark_write();
    crate::domain::tasks::notify(c).await?;
    Ok(Value::Bool(true))
}

pub fn register(r: &mut Registry) {
    r.add(
        "assignTask",
        "task_id, host, force=False, override=False",
        "Assign a task to a host now (admin). With force, a task that is not FREE is taken from its host.",
        handler!(assign_task),
    );
    r.add(
        "freeTask",
        "task_id",
        "Put an unfinished task back in the queue (admin).",
        handler!(free_task),
    );
    r.add(
        "setTaskPriority",
        "task_id, priority, recurse=True",
        "Set an unfinished task's priority, and its subtasks' with recurse (admin).",
        handler!(set_task_priority),
    );
    r.add(
        "scheduler.getTaskRuns",
        "clauses=None, fields=None, opts=None",
        "Each assignment of a task to a host. Clauses: [field, value] or [field, op, value].",
        handler!(get_task_runs),
    );
    r.add(
        "scheduler.getLogMessages",
        "clauses=None, fields=None, opts=None",
        "What the scheduler did and why a task waits.",
        handler!(get_log_messages),
    );
    r.add(
        "scheduler.getTaskRefusals",
        "clauses=None, fields=None",
        "Hosts' refusals of tasks.",
        handler!(get_task_refusals),
    );
    r.add(
        "scheduler.getHostData",
        "hostID=None",
        "What each builder reported at its last check-in.",
        handler!(get_host_data),
    );
    r.add(
        "scheduler.doRun",
        "force=False",
        "Run the scheduler now (admin).",
        handler!(do_run),
    );
}
