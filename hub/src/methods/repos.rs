//! Repo methods: `repoInfo`, `getRepo`, `newRepo`, `repoExpire`/`repoDelete`/`repoProblem`,
//! `tagLastChangeEvent`, the `repo.*` namespace of Koji 1.35+ and the builders'
//! `host.repoInit`/`host.repoDone`/buildroot calls. The rules are in
//! [`crate::domain::repos`].

use std::cmp::Ordering;

use koji_protocol::{Struct, Value, kstruct};

use super::host_api::verify;
use crate::ctx::Ctx;
use crate::domain::repos::publish::ArchUpload;
use crate::domain::repos::{self, Opts, Repo, Request, events, external, queue, state};
use crate::domain::tasks::{self, NewTask};
use crate::domain::{Named, buildroots, get};
use crate::error::{HResult, HubError};
use crate::signature::{Args, checked_id, value_ident};
use crate::timefmt;

/// A repo as `repoInfo` shows it.
fn repo_value(r: &Repo) -> Struct {
    let row = &r.row;
    let v = kstruct! {
        "id" => row.id,
        "tag_id" => row.tag_id,
        "tag_name" => row.tag_name.clone(),
        "creation_time" => timefmt::iso(&row.creation_time),
        "creation_ts" => timefmt::ts(&row.creation_time),
        "state_time" => timefmt::iso(&row.state_time),
        "state_ts" => timefmt::ts(&row.state_time),
        "create_event" => row.create_event,
        "create_ts" => timefmt::ts(&row.create_time),
        "begin_event" => row.begin_event,
        "begin_ts" => timefmt::ts_value(row.begin_time.as_ref()),
        "end_event" => row.end_event,
        "end_ts" => timefmt::ts_value(row.end_time.as_ref()),
        "state" => row.state,
        "dist" => row.dist,
        "opts" => repos::opts_value(&r.opts),
        "custom_opts" => repos::opts_value(&r.custom_opts),
        "task_id" => row.task_id,
        "task_state" => row.task_state.map(|s| s.code()),
        "problem" => row.problem.clone(),
    };
    v.into_struct().unwrap_or_default()
}

/// A repo request as `repo.checkRequest` shows it.
fn request_value(q: &Request) -> Struct {
    let row = &q.row;
    let v = kstruct! {
        "id" => row.id,
        "owner" => row.owner,
        "owner_name" => row.owner_name.clone(),
        "priority" => row.priority,
        "tag_id" => row.tag_id,
        "tag_name" => row.tag_name.clone(),
        "at_event" => row.at_event,
        "min_event" => row.min_event,
        "opts" => repos::opts_value(&q.opts),
        "create_time" => timefmt::iso(&row.create_time),
        "create_ts" => timefmt::ts(&row.create_time),
        "update_time" => timefmt::iso(&row.update_time),
        "update_ts" => timefmt::ts(&row.update_time),
        "active" => row.active,
        "task_id" => row.task_id,
        "task_state" => row.task_state.map(|s| s.code()),
        "tries" => row.tries,
        "repo_id" => row.repo_id,
    };
    v.into_struct().unwrap_or_default()
}

fn repo_or_nil(r: Option<Repo>) -> Value {
    r.map(|r| Value::Struct(repo_value(&r)))
        .unwrap_or(Value::Nil)
}

async fn tag_id(c: &mut Ctx, v: &Value) -> HResult<(i32, String)> {
    let ident = value_ident(v, "tag")?;
    get(c, Named::Tag, &ident).await
}

fn opt_event(v: &Value, what: &str) -> HResult<Option<i64>> {
    match v {
        Value::Nil => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        Value::String(s) => s
            .parse()
            .map(Some)
            .map_err(|_| HubError::parameter(format!("Invalid {what}: {s}"))),
        other => Err(HubError::parameter(format!(
            "Invalid {what}: {}",
            crate::pyrepr::repr(other)
        ))),
    }
}

/// An id argument: Koji's convert_value(int) accepts numeric strings, which the CLI passes
/// straight from its command line (`koji repoinfo 5`).
fn id_arg(a: &Args, i: usize) -> HResult<i32> {
    match a.val(i) {
        Value::String(s) => {
            let n: i64 = s.trim().parse().map_err(|_| {
                HubError::parameter(format!("Invalid value for {}: {s:?}", a.name(i)))
            })?;
            checked_id(a.name(i), n)
        }
        _ => a.id(i),
    }
}

/// repoInfo(repo_id, strict=False)
pub async fn repo_info(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = id_arg(&a, 0)?;
    match repos::get(c, id).await? {
        Some(r) => Ok(Value::Struct(repo_value(&r))),
        None if a.truthy(1) => Err(HubError::generic(format!("No such repo: {id}"))),
        None => Ok(Value::Nil),
    }
}

/// getRepo(tag, state=None, event=None, dist=False, min_event=None): the newest repo in
/// `state` (READY by default); with `event`, the newest created at or before it, any state.
pub async fn get_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tag, _) = tag_id(c, a.val(0)).await?;
    let st = a.opt_i64(1)?;
    let event = a.opt_i64(2)?;
    let dist = a.truthy(3);
    let min_event = a.opt_i64(4)?;
    Ok(repo_or_nil(
        repos::newest(c, tag, dist, event, st, min_event).await?,
    ))
}

/// getActiveRepos(): repos that are not deleted (kojira's old view of the world).
pub async fn get_active_repos(c: &mut Ctx, _a: Args) -> HResult<Value> {
    let rows = repos::not_deleted(c).await?;
    Ok(Value::Array(
        rows.iter().map(|r| Value::Struct(repo_value(r))).collect(),
    ))
}

async fn set_state_checked(c: &mut Ctx, a: &Args, st: i32) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let id = id_arg(a, 0)?;
    repos::set_state(c, id, st, None).await?;
    Ok(Value::Nil)
}

/// repoExpire(repo_id)
pub async fn repo_expire(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_state_checked(c, &a, state::EXPIRED).await
}

/// repoProblem(repo_id)
pub async fn repo_problem(c: &mut Ctx, a: Args) -> HResult<Value> {
    set_state_checked(c, &a, state::PROBLEM).await
}

/// repoDelete(repo_id): marks the repo DELETED unless buildroots still use it; returns how
/// many do (0 = deleted). Files are removed by kkoji-repo-regen, which owns the tree.
pub async fn repo_delete(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let id = id_arg(&a, 0)?;
    let users = repos::delete(c, id).await?;
    Ok(Value::Int(i64::try_from(users).unwrap_or(i64::MAX)))
}

/// repo.setState(repo_id, state)
pub async fn set_state(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let st = a.i64(1)?;
    let st =
        i32::try_from(st).map_err(|_| HubError::parameter(format!("Invalid repo state: {st}")))?;
    repos::set_state(c, id_arg(&a, 0)?, st, None).await?;
    Ok(Value::Nil)
}

/// repo.references(repo_id)
pub async fn references(c: &mut Ctx, a: Args) -> HResult<Value> {
    let rows = repos::references(c, id_arg(&a, 0)?).await?;
    Ok(Value::Array(
        rows.into_iter()
            .map(|(id, host, task, arch, st, ev)| {
                kstruct! {
                    "id" => id,
                    "host_id" => host,
                    "task_id" => task,
                    "arch" => arch,
                    "state" => st,
                    "create_event" => ev,
                }
            })
            .collect(),
    ))
}

/// newRepo(tag, event=None, src=False, debuginfo=False, separate_src=False): a newRepo
/// task made directly (`koji regen-repo --make-task`).
pub async fn new_repo(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let (tid, name) = tag_id(c, a.val(0)).await?;
    let event = a.opt_i64(1)?;
    if let Some(e) = event {
        crate::domain::events::require(c, e).await?;
    }
    let mut opts = Opts::new();
    for (i, k) in [(2, "src"), (3, "debuginfo"), (4, "separate_src")] {
        if a.truthy(i) {
            opts.insert(k.into(), true);
        }
    }
    let mut kw = Struct::new();
    kw.insert("__starstar".into(), Value::Bool(true));
    kw.insert("opts".into(), repos::opts_value(&opts));
    if let Some(e) = event {
        kw.insert("event".into(), Value::Int(e));
    }
    let owner = c.assert_login()?.user_id;
    let channel_id = tasks::channel_id(c, "createrepo").await?;
    let id = tasks::create(
        c,
        NewTask {
            method: "newRepo",
            params: vec![Value::String(name), Value::Struct(kw)],
            owner,
            arch: "noarch",
            channel_id,
            priority: c.hub().config.repos.task_priority,
            parent: None,
            label: None,
        },
    )
    .await?;
    tracing::info!(task = id, tag = tid, "newRepo task created");
    Ok(Value::Int(i64::from(id)))
}

/// tagLastChangeEvent(tag, event=None, inherit=True)
pub async fn tag_last_change_event(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tid, _) = tag_id(c, a.val(0)).await?;
    let inherit = a.is_nil(2) || a.truthy(2);
    Ok(events::last_change(c, tid, a.opt_i64(1)?, inherit)
        .await?
        .into())
}

/// tagFirstChangeEvent(tag, after=None, inherit=True)
pub async fn tag_first_change_event(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tid, _) = tag_id(c, a.val(0)).await?;
    let inherit = a.is_nil(2) || a.truthy(2);
    Ok(events::first_change(c, tid, a.opt_i64(1)?, inherit)
        .await?
        .into())
}

/// repo.get(tag, min_event=None, at_event=None, opts=None)
pub async fn repo_get(c: &mut Ctx, a: Args) -> HResult<Value> {
    let (tid, _) = tag_id(c, a.val(0)).await?;
    let opts = repos::convert_opts(a.val(3), true)?;
    let min = opt_event(a.val(1), "min_event")?;
    let at = opt_event(a.val(2), "at_event")?;
    Ok(repo_or_nil(queue::best_repo(c, tid, min, at, &opts).await?))
}

/// repo.request(tag, min_event=None, at_event=None, opts=None, priority=None, force=False)
pub async fn repo_request(c: &mut Ctx, a: Args) -> HResult<Value> {
    let owner = c.assert_login()?.user_id;
    let (tid, _) = tag_id(c, a.val(0)).await?;
    let opts = repos::convert_opts(a.val(3), true)?;
    if opts.get("maven").copied().unwrap_or(false) {
        return Err(HubError::generic("Maven support not enabled"));
    }
    let at = match opt_event(a.val(2), "at_event")? {
        Some(e) => {
            if !a.is_nil(1) {
                return Err(HubError::parameter(
                    "The min_event and at_event options conflict",
                ));
            }
            Some(crate::domain::events::require(c, e).await?)
        }
        None => None,
    };
    let min = match a.val(1) {
        Value::String(s) if s == "last" => {
            Some(events::last_change(c, tid, None, true).await?.unwrap_or(0))
        }
        v => match opt_event(v, "min_event")? {
            Some(e) => Some(crate::domain::events::require(c, e).await?),
            None => None,
        },
    };
    let admin = c.is_admin().await?;
    let prio = queue::priority_from(a.opt_i64(4)?, admin)?;
    let out = queue::request_repo(c, tid, min, at, &opts, prio, a.truthy(5), Some(owner)).await?;
    Ok(kstruct! {
        "repo" => repo_or_nil(out.repo),
        "request" => out.request.map(|r| Value::Struct(request_value(&r))).unwrap_or(Value::Nil),
        "duplicate" => out.duplicate,
    })
}

/// repo.checkRequest(req_id)
pub async fn check_request(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = id_arg(&a, 0)?;
    let Some(req) = repos::request(c, id).await? else {
        return Err(HubError::generic("No such request"));
    };
    let mut out = Struct::new();
    let repo = match req.row.repo_id {
        Some(r) => repo_or_nil(repos::get(c, r).await?),
        None => Value::Nil,
    };
    out.insert("repo".into(), repo);
    if req.row.repo_id.is_none()
        && let Some(t) = req.row.task_id
        && let Some(task) = tasks::get(c, t).await?
    {
        out.insert("task".into(), super::tasks::task_value(&task, false));
    }
    out.insert("request".into(), Value::Struct(request_value(&req)));
    Ok(Value::Struct(out))
}

/// repo.setRequestPriority(req_id, priority)
pub async fn set_request_priority(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("admin").await?;
    queue::set_request_priority(c, a.id(0)?, a.i64(1)?).await?;
    Ok(Value::Nil)
}

async fn erepo_id(c: &mut Ctx, v: &Value) -> HResult<i32> {
    let ident = value_ident(v, "external repo")?;
    Ok(get(c, Named::ExternalRepo, &ident).await?.0)
}

/// repo.getExternalRepoData(erepo)
pub async fn get_external_repo_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    let id = erepo_id(c, a.val(0)).await?;
    external::data(c, id).await
}

/// repo.setExternalRepoData(external_repo_id, data)
pub async fn set_external_repo_data(c: &mut Ctx, a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let id = erepo_id(c, a.val(0)).await?;
    external::set_data(c, id, a.val(1)).await?;
    tracing::info!(external_repo = id, data = %crate::pyrepr::repr(a.val(1)), "external repo changed upstream");
    Ok(Value::Nil)
}

/// repo.autoRequests()
pub async fn auto_requests(c: &mut Ctx, _a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let owner = c.user_id();
    queue::auto_requests(c, owner).await?;
    Ok(Value::Nil)
}

/// repo.checkQueue()
pub async fn check_queue(c: &mut Ctx, _a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    let cfg = c.hub().config.repos.clone();
    queue::check_queue(c, &cfg, true).await?;
    Ok(Value::Nil)
}

/// repo.updateEndEvents()
pub async fn update_end_events(c: &mut Ctx, _a: Args) -> HResult<Value> {
    c.assert_perm("repo").await?;
    events::update_end_events(c).await?;
    Ok(Value::Nil)
}

const REPO_FIELDS: &[&str] = &[
    "id",
    "tag_id",
    "tag_name",
    "creation_time",
    "creation_ts",
    "state_time",
    "state_ts",
    "create_event",
    "create_ts",
    "begin_event",
    "begin_ts",
    "end_event",
    "end_ts",
    "state",
    "dist",
    "opts",
    "custom_opts",
    "task_id",
    "task_state",
    "problem",
];

const QUEUE_FIELDS: &[&str] = &[
    "id",
    "owner",
    "owner_name",
    "priority",
    "tag_id",
    "tag_name",
    "at_event",
    "min_event",
    "opts",
    "create_time",
    "create_ts",
    "update_time",
    "update_ts",
    "active",
    "task_id",
    "task_state",
    "tries",
    "repo_id",
];

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Double(_), Value::Int(_) | Value::Double(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Nil, Value::Nil) => Some(Ordering::Equal),
        (Value::Struct(_), Value::Struct(_)) => (a == b).then_some(Ordering::Equal),
        _ => None,
    }
}

/// One `[field, op, value]` clause of Koji's QueryView.
struct Clause {
    field: String,
    op: String,
    value: Value,
}

fn parse_clauses(v: &Value, fields: &[&str]) -> HResult<Vec<Clause>> {
    let mut out = Vec::new();
    let list = match v {
        Value::Nil => return Ok(out),
        Value::Array(a) => a,
        other => {
            return Err(HubError::parameter(format!(
                "Invalid clauses: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    for c in list {
        let parts = c.as_array().unwrap_or(&[]);
        let (Some(f), Some(op), Some(val)) = (
            parts.first().and_then(Value::as_str),
            parts.get(1).and_then(Value::as_str),
            parts.get(2),
        ) else {
            return Err(HubError::parameter(format!(
                "Invalid query clause: {}",
                crate::pyrepr::repr(c)
            )));
        };
        if !fields.contains(&f) {
            return Err(HubError::parameter(format!("Invalid field for query: {f}")));
        }
        let op = op.to_ascii_uppercase();
        if ![
            "=", "!=", "<>", "<", ">", "<=", ">=", "IN", "NOT IN", "IS", "IS NOT", "@>", "<@",
        ]
        .contains(&op.as_str())
        {
            return Err(HubError::parameter(format!("Invalid operator: {op}")));
        }
        out.push(Clause {
            field: f.to_string(),
            op,
            value: val.clone(),
        });
    }
    Ok(out)
}

fn matches(row: &Struct, clauses: &[Clause]) -> bool {
    clauses.iter().all(|cl| {
        let v = row.get(&cl.field).unwrap_or(&Value::Nil);
        let ord = compare(v, &cl.value);
        match cl.op.as_str() {
            "=" | "IS" => v == &cl.value || ord == Some(Ordering::Equal),
            "!=" | "<>" | "IS NOT" => !(v == &cl.value || ord == Some(Ordering::Equal)),
            "<" => ord == Some(Ordering::Less),
            ">" => ord == Some(Ordering::Greater),
            "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
            ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            "IN" | "NOT IN" => {
                let found = cl
                    .value
                    .as_array()
                    .unwrap_or(&[])
                    .iter()
                    .any(|x| x == v || compare(v, x) == Some(Ordering::Equal));
                found == (cl.op == "IN")
            }
            // opts containment, as Koji's JSON operators
            "@>" | "<@" => {
                let (Some(a), Some(b)) = (v.as_struct(), cl.value.as_struct()) else {
                    return false;
                };
                let (big, small) = if cl.op == "@>" { (a, b) } else { (b, a) };
                small.iter().all(|(k, x)| big.get(k) == Some(x))
            }
            _ => false,
        }
    })
}

/// QueryView's fields/opts: projection, `order` ('-field' descending), `limit`, `offset`,
/// `countOnly`.
fn finish_query(rows: Vec<Struct>, fields: &Value, opts: &Value, all: &[&str]) -> HResult<Value> {
    let mut rows = rows;
    if let Some(order) = opts.get("order").and_then(Value::as_str) {
        let keys: Vec<(String, bool)> = order
            .split(',')
            .map(|k| {
                let k = k.trim();
                match k.strip_prefix('-') {
                    Some(k) => (k.to_string(), true),
                    None => (k.to_string(), false),
                }
            })
            .collect();
        for (k, _) in &keys {
            if !all.contains(&k.as_str()) {
                return Err(HubError::parameter(format!("Invalid order field: {k}")));
            }
        }
        rows.sort_by(|a, b| {
            for (k, desc) in &keys {
                let o = compare(
                    a.get(k).unwrap_or(&Value::Nil),
                    b.get(k).unwrap_or(&Value::Nil),
                )
                .unwrap_or(Ordering::Equal);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    if opts.get("countOnly").is_some_and(Value::is_truthy) {
        return Ok(Value::Int(rows.len() as i64));
    }
    let offset = opts
        .get("offset")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as usize;
    let limit = opts.get("limit").and_then(Value::as_i64);
    let rows = rows.into_iter().skip(offset);
    let rows: Vec<Struct> = match limit {
        Some(l) => rows.take(l.max(0) as usize).collect(),
        None => rows.collect(),
    };
    let want: Option<Vec<String>> = match fields {
        Value::Nil => None,
        Value::String(s) if s == "*" || s == "**" => None,
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => {
            let mut out = Vec::new();
            for f in a {
                match f.as_str() {
                    Some("*") | Some("**") => return finish_all(rows),
                    Some(f) if all.contains(&f) => out.push(f.to_string()),
                    _ => {
                        return Err(HubError::parameter(format!(
                            "Invalid field: {}",
                            crate::pyrepr::repr(f)
                        )));
                    }
                }
            }
            Some(out)
        }
        other => {
            return Err(HubError::parameter(format!(
                "Invalid fields: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    Ok(Value::Array(
        rows.into_iter()
            .map(|r| match &want {
                None => Value::Struct(r),
                Some(w) => Value::Struct(
                    w.iter()
                        .map(|f| (f.clone(), r.get(f).cloned().unwrap_or(Value::Nil)))
                        .collect(),
                ),
            })
            .collect(),
    ))
}

fn finish_all(rows: Vec<Struct>) -> HResult<Value> {
    Ok(Value::Array(rows.into_iter().map(Value::Struct).collect()))
}

/// repo.query(clauses, fields=None, opts=None). Repos are few (hundreds), so the clauses are
/// applied to the rows in memory with Koji's operators instead of building SQL from input.
pub async fn query(c: &mut Ctx, a: Args) -> HResult<Value> {
    let clauses = parse_clauses(a.val(0), REPO_FIELDS)?;
    let rows: Vec<Struct> = repos::all(c)
        .await?
        .iter()
        .map(repo_value)
        .filter(|r| matches(r, &clauses))
        .collect();
    finish_query(rows, a.val(1), a.val(2), REPO_FIELDS)
}

/// repo.queryQueue(clauses=None, fields=None, opts=None)
pub async fn query_queue(c: &mut Ctx, a: Args) -> HResult<Value> {
    let clauses = parse_clauses(a.val(0), QUEUE_FIELDS)?;
    let rows: Vec<Struct> = repos::all_requests(c)
        .await?
        .iter()
        .map(request_value)
        .filter(|r| matches(r, &clauses))
        .collect();
    finish_query(rows, a.val(1), a.val(2), QUEUE_FIELDS)
}

/// host.repoInit(tag, task_id=None, event=None, opts=None) -> [repo_id, event_id]
pub async fn host_repo_init(c: &mut Ctx, a: Args) -> HResult<Value> {
    verify(c).await?;
    let ident = a.ident(0)?;
    let over = match a.val(3) {
        Value::Nil => None,
        v => Some(repos::convert_opts(v, true)?),
    };
    let event = match a.opt_i64(2)? {
        Some(e) => Some(crate::domain::events::require(c, e).await?),
        None => None,
    };
    let (id, ev) = repos::publish::init(c, &ident, a.opt_id(1)?, event, over.as_ref()).await?;
    Ok(Value::Array(vec![
        Value::Int(i64::from(id)),
        Value::Int(ev),
    ]))
}

/// host.repoDone(repo_id, data, expire=False, repo_json_updates=None)
pub async fn host_repo_done(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let data = a.opt_struct(1)?.cloned().unwrap_or_default();
    if let Some(r) = repos::get(c, id).await?
        && r.row.state != state::INIT
    {
        return Err(HubError::generic(format!("Repo {id} not in INIT state")));
    }
    for v in data.values() {
        let upath = v
            .as_array()
            .and_then(|p| p.first())
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert_upload_dir_held(c, host, upath).await?;
    }
    let mut uploads = Vec::with_capacity(data.len());
    for (arch, v) in &data {
        let parts = v.as_array().unwrap_or(&[]);
        let (Some(upath), Some(files)) = (
            parts.first().and_then(Value::as_str),
            parts.get(1).and_then(Value::as_array),
        ) else {
            return Err(HubError::parameter(format!(
                "repoDone data for {arch} must be [uploadpath, [files]]"
            )));
        };
        let files = files
            .iter()
            .map(|f| f.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| HubError::parameter("repoDone file names must be strings"))?;
        uploads.push(ArchUpload {
            arch: arch.clone(),
            upload_path: upath.to_string(),
            files,
        });
    }
    repos::publish::done(c, id, &uploads, a.truthy(2)).await?;
    Ok(Value::Nil)
}

/// An upload path (relative to work/) that is a task's work dir, the task (or its parent,
/// for the createrepo/createdistrepo subtasks) held by this host; returned cleaned.
pub(crate) async fn assert_upload_dir_held(
    c: &mut Ctx,
    host: i32,
    upath: &str,
) -> HResult<std::path::PathBuf> {
    let task = upload_task(upath)
        .ok_or_else(|| HubError::not_allowed(format!("{upath} is not a task's work directory")))?;
    if tasks::assert_holds(c, host, task).await.is_err() {
        match tasks::require(c, task).await?.parent {
            Some(p) => {
                tasks::assert_holds(c, host, p).await?;
            }
            None => {
                return Err(HubError::not_allowed(format!(
                    "host {host} does not hold task {task}"
                )));
            }
        }
    }
    crate::topdir::clean_relative(upath)
}

/// The task whose work dir `tasks/<bucket>/<id>` is (exactly that form, nothing below).
fn upload_task(upath: &str) -> Option<i32> {
    let clean = crate::topdir::clean_relative(upath).ok()?;
    let parts: Vec<&str> = clean.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        ["tasks", _, id] => {
            let id: i32 = id.parse().ok()?;
            (crate::topdir::task_rel(i64::from(id)) == clean).then_some(id)
        }
        _ => None,
    }
}

/// host.newBuildRoot(repo, arch, task_id=None, ctype='chroot') -> buildroot id. The
/// buildroot marks the repo as in use until its state becomes EXPIRED.
pub async fn host_new_buildroot(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let repo = a.id(0)?;
    let arch = a.str(1)?.to_string();
    let task = a.opt_id(2)?;
    let id = buildroots::create(c, host, repo, &arch, task).await?;
    Ok(Value::Int(i64::from(id)))
}

/// host.setBuildRootState(brootid, state, task_id=None): INIT=0 WAITING=1 BUILDING=2
/// EXPIRED=3 (EXPIRED retires it).
pub async fn host_set_buildroot_state(c: &mut Ctx, a: Args) -> HResult<Value> {
    let host = verify(c).await?;
    let id = a.id(0)?;
    let st = match a.val(1) {
        Value::Int(i) => *i,
        Value::String(s) => match s.as_str() {
            "INIT" => 0,
            "WAITING" => 1,
            "BUILDING" => 2,
            "EXPIRED" => 3,
            _ => {
                return Err(HubError::parameter(format!("Invalid buildroot state: {s}")));
            }
        },
        other => {
            return Err(HubError::parameter(format!(
                "Invalid buildroot state: {}",
                crate::pyrepr::repr(other)
            )));
        }
    };
    let st = i32::try_from(st)
        .map_err(|_| HubError::parameter(format!("Invalid buildroot state: {st}")))?;
    buildroots::set_state(c, host, id, st).await?;
    Ok(Value::Nil)
}
