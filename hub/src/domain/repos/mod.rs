//! Buildroot repos and the repo request queue, as Koji 1.35+ has them: a repo is the
//! content of a tag at one event, written under `repos/<tag>/<id>/<arch>`; requests name a
//! tag and the oldest event they accept, and are turned into `newRepo` tasks by
//! [`check_queue`] with a cap on how many run at once.
//!
//! Why the queue lives in the hub: builds wait for repos and `koji regen-repo` asks for them;
//! both must work without an extra daemon. `kkoji-repo-regen` only adds what needs a view
//! of the whole farm over time (expiry, deletion, pruning, upstream change detection).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use koji_protocol::{Limits, Struct, Value, decode_response, kstruct};
use sqlx::Row;

use crate::config::ReposConfig;
use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::methods::common::{self, Named, ver};
use crate::methods::tags::{full_inheritance, inheritance_order, tag_record};
use crate::signature::Ident;
use crate::tasks::{self, NewTask};
use crate::{timefmt, topdir};

pub mod state {
    pub const INIT: i32 = 0;
    pub const READY: i32 = 1;
    pub const EXPIRED: i32 = 2;
    pub const DELETED: i32 = 3;
    pub const PROBLEM: i32 = 4;

    pub fn name(s: i32) -> &'static str {
        match s {
            INIT => "INIT",
            READY => "READY",
            EXPIRED => "EXPIRED",
            DELETED => "DELETED",
            PROBLEM => "PROBLEM",
            _ => "UNKNOWN",
        }
    }
}

/// Koji's default task priority; request priorities are relative to it.
const PRIO_DEFAULT: i64 = 20;
/// Transaction-scoped advisory lock key of the queue pass (one hub at a time).
const QUEUE_LOCK: i64 = 0x006b_6b6f_6a69_7261;
/// Repo options Koji knows; all are booleans.
const OPT_KEYS: &[&str] = &["src", "debuginfo", "separate_src", "maven"];

pub type Opts = BTreeMap<String, bool>;

/// Koji's `convert_repo_opts`: a dict of known boolean options (None values dropped).
pub fn convert_opts(v: &Value, strict: bool) -> HResult<Opts> {
    let mut out = Opts::new();
    let s = match v {
        Value::Nil => return Ok(out),
        Value::Struct(s) => s,
        _ if strict => return Err(HubError::parameter("Repo opts must be a dictionary")),
        _ => return Ok(out),
    };
    for (k, val) in s {
        if !OPT_KEYS.contains(&k.as_str()) {
            if strict {
                return Err(HubError::parameter(format!("Invalid repo option: {k}")));
            }
            continue;
        }
        if val.is_nil() {
            continue;
        }
        out.insert(k.clone(), val.is_truthy());
    }
    Ok(out)
}

pub fn opts_value(o: &Opts) -> Value {
    Value::Struct(
        o.iter()
            .map(|(k, v)| (k.clone(), Value::Bool(*v)))
            .collect::<Struct>(),
    )
}

fn opts_store(o: &Opts) -> String {
    common::store_value(&opts_value(o))
}

fn opts_load(s: &str) -> Opts {
    convert_opts(&common::load_value(s), false).unwrap_or_default()
}

/// `a` has every option of `b` with the same value.
fn opts_contain(a: &Opts, b: &Opts) -> bool {
    b.iter().all(|(k, v)| a.get(k) == Some(v))
}

/// The tag's repo options and the overrides that differ from them (Koji's get_repo_opts).
async fn repo_opts_for(c: &mut Ctx, tag_id: i64, over: Option<&Opts>) -> HResult<(Opts, Opts)> {
    let mut opts: Opts = OPT_KEYS.iter().map(|k| (k.to_string(), false)).collect();
    if let Some(t) = tag_record(c, &Ident::Id(tag_id), None).await?
        && let Some(Value::Struct(extra)) = t.get("extra")
    {
        if let Some(v) = extra.get("repo.opts") {
            opts.extend(convert_opts(v, false)?);
        } else if let Some(v) = extra.get("with_debuginfo") {
            opts.insert("debuginfo".into(), v.is_truthy());
        }
    }
    // kkoji builds no Maven artifacts
    opts.insert("maven".into(), false);
    let mut custom = Opts::new();
    if let Some(o) = over {
        for (k, v) in o {
            if opts.get(k) != Some(v) {
                custom.insert(k.clone(), *v);
            }
        }
        opts.extend(custom.clone());
    }
    Ok((opts, custom))
}

const REPO_SELECT: &str = "SELECT r.id, r.tag_id, t.name AS tag_name, r.creation_time, r.state_time, \
       r.create_event, ce.time AS create_time, r.begin_event, be.time AS begin_time, r.end_event, \
       ee.time AS end_time, r.state, r.dist, r.opts, r.custom_opts, r.task_id, tk.state AS task_state, r.problem \
     FROM repo r JOIN tag t ON t.id = r.tag_id JOIN events ce ON ce.id = r.create_event \
     LEFT JOIN events be ON be.id = r.begin_event LEFT JOIN events ee ON ee.id = r.end_event \
     LEFT JOIN task tk ON tk.id = r.task_id";

/// One repo in Koji's field names (`repoInfo`, `repo.query` with all fields).
#[derive(Debug, Clone)]
pub struct Repo {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub state: i32,
    pub create_event: i64,
    pub end_event: Option<i64>,
    pub opts: Opts,
    pub custom_opts: Opts,
    pub dist: bool,
    pub task_id: Option<i64>,
    pub value: Struct,
}

fn repo_from_row(r: &sqlx::postgres::PgRow) -> HResult<Repo> {
    let creation: DateTime<Utc> = r.try_get("creation_time")?;
    let st: DateTime<Utc> = r.try_get("state_time")?;
    let ct: DateTime<Utc> = r.try_get("create_time")?;
    let bt: Option<DateTime<Utc>> = r.try_get("begin_time")?;
    let et: Option<DateTime<Utc>> = r.try_get("end_time")?;
    let id = i64::from(r.try_get::<i32, _>("id")?);
    let tag_id = i64::from(r.try_get::<i32, _>("tag_id")?);
    let tag_name: String = r.try_get("tag_name")?;
    let state: i32 = r.try_get("state")?;
    let create_event: i64 = r.try_get("create_event")?;
    let begin_event: Option<i64> = r.try_get("begin_event")?;
    let end_event: Option<i64> = r.try_get("end_event")?;
    let dist: bool = r.try_get("dist")?;
    let opts = opts_load(&r.try_get::<String, _>("opts")?);
    let custom_opts = opts_load(&r.try_get::<String, _>("custom_opts")?);
    let task_id = r.try_get::<Option<i32>, _>("task_id")?.map(i64::from);
    let task_state: Option<i32> = r.try_get("task_state")?;
    let problem: Option<String> = r.try_get("problem")?;
    let v = kstruct! {
        "id" => id,
        "tag_id" => tag_id,
        "tag_name" => tag_name.clone(),
        "creation_time" => timefmt::iso(&creation),
        "creation_ts" => timefmt::ts(&creation),
        "state_time" => timefmt::iso(&st),
        "state_ts" => timefmt::ts(&st),
        "create_event" => create_event,
        "create_ts" => timefmt::ts(&ct),
        "begin_event" => begin_event,
        "begin_ts" => timefmt::ts_value(bt.as_ref()),
        "end_event" => end_event,
        "end_ts" => timefmt::ts_value(et.as_ref()),
        "state" => state,
        "dist" => dist,
        "opts" => opts_value(&opts),
        "custom_opts" => opts_value(&custom_opts),
        "task_id" => task_id,
        "task_state" => task_state.map(i64::from),
        "problem" => problem,
    };
    Ok(Repo {
        id,
        tag_id,
        tag_name,
        state,
        create_event,
        end_event,
        opts,
        custom_opts,
        dist,
        task_id,
        value: v.into_struct().unwrap_or_default(),
    })
}

/// Repos matching a WHERE clause over `r` (the repo table) with i64 binds.
pub async fn fetch_repos(c: &mut Ctx, cond: &str, binds: &[i64]) -> HResult<Vec<Repo>> {
    let sql = format!("{REPO_SELECT} {cond}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q.fetch_all(c.db().await?).await?;
    rows.iter().map(repo_from_row).collect()
}

pub async fn repo_info(c: &mut Ctx, id: i64) -> HResult<Option<Repo>> {
    Ok(fetch_repos(c, "WHERE r.id = $1", &[id]).await?.pop())
}

/// Koji's get_repo: the newest READY repo of the tag that has every asked option and no
/// custom option that was not asked for.
pub async fn get_repo(
    c: &mut Ctx,
    tag_id: i64,
    min_event: Option<i64>,
    at_event: Option<i64>,
    opts: &Opts,
) -> HResult<Option<Repo>> {
    let repos = fetch_repos(
        c,
        "WHERE r.tag_id = $1 AND r.state = 1 AND NOT r.dist ORDER BY r.create_event DESC, r.id DESC",
        &[tag_id],
    )
    .await?;
    Ok(repos.into_iter().find(|r| {
        opts_contain(&r.opts, opts)
            && opts_contain(opts, &r.custom_opts)
            && match (at_event, min_event) {
                (Some(a), _) => r.create_event == a,
                (None, Some(m)) => r.create_event >= m,
                (None, None) => true,
            }
    }))
}

/// The tags whose content makes up `tag_id`'s repo (the tag and its inheritance) and the
/// external repos they use, as of `event`.
async fn content_sources(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
    inherit: bool,
) -> HResult<(Vec<i32>, Vec<i32>)> {
    let tags: Vec<i32> = if inherit {
        inheritance_order(c, tag_id, event)
            .await?
            .into_iter()
            .map(|(t, _)| t as i32)
            .collect()
    } else {
        vec![tag_id as i32]
    };
    let erepos: Vec<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT l.external_repo_id FROM tag_external_repos l WHERE l.tag_id = ANY($1) AND {}",
        ver("l", event)
    )))
    .bind(&tags)
    .fetch_all(c.db().await?)
    .await?;
    Ok((tags, erepos))
}

/// The versioned tables whose rows change a tag's repo content, keyed by tag or external repo.
const TAG_TABLES: &[&str] = &[
    "tag_listing",
    "tag_inheritance",
    "tag_packages",
    "tag_config",
    "tag_extra",
    "tag_external_repos",
];
const EREPO_TABLES: &[&str] = &["external_repo_config", "external_repo_data"];

fn change_events_sql() -> String {
    let mut parts = Vec::new();
    for t in TAG_TABLES {
        parts.push(format!(
            "SELECT create_event AS e FROM {t} WHERE tag_id = ANY($1)"
        ));
        parts.push(format!(
            "SELECT revoke_event AS e FROM {t} WHERE tag_id = ANY($1) AND revoke_event IS NOT NULL"
        ));
    }
    for t in EREPO_TABLES {
        parts.push(format!(
            "SELECT create_event AS e FROM {t} WHERE external_repo_id = ANY($2)"
        ));
        parts.push(format!(
            "SELECT revoke_event AS e FROM {t} WHERE external_repo_id = ANY($2) AND revoke_event IS NOT NULL"
        ));
    }
    parts.join(" UNION ALL ")
}

/// Koji's tag_last_change_event: the last event (at or before `event`) that changed what a
/// repo of the tag would contain, through inheritance and the tag's external repos.
pub async fn tag_last_change_event(
    c: &mut Ctx,
    tag_id: i64,
    event: Option<i64>,
    inherit: bool,
) -> HResult<Option<i64>> {
    let (tags, erepos) = content_sources(c, tag_id, event, inherit).await?;
    let sql = format!(
        "SELECT max(e) FROM ({}) x WHERE ($3::bigint IS NULL OR e <= $3)",
        change_events_sql()
    );
    let v: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(&tags)
        .bind(&erepos)
        .bind(event)
        .fetch_one(c.db().await?)
        .await?;
    Ok(v)
}

/// Koji's tag_first_change_event: the first change after `after` (or the very first).
pub async fn tag_first_change_event(
    c: &mut Ctx,
    tag_id: i64,
    after: Option<i64>,
    inherit: bool,
) -> HResult<Option<i64>> {
    let (tags, erepos) = content_sources(c, tag_id, None, inherit).await?;
    let sql = format!(
        "SELECT min(e) FROM ({}) x WHERE ($3::bigint IS NULL OR e > $3)",
        change_events_sql()
    );
    let v: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(&tags)
        .bind(&erepos)
        .bind(after)
        .fetch_one(c.db().await?)
        .await?;
    Ok(v)
}

const QUEUE_SELECT: &str = "SELECT q.id, q.create_time, q.owner, u.name AS owner_name, q.priority, q.tag_id, \
       t.name AS tag_name, q.at_event, q.min_event, q.opts, q.update_time, q.active, q.task_id, \
       tk.state AS task_state, q.tries, q.repo_id \
     FROM repo_queue q JOIN tag t ON t.id = q.tag_id LEFT JOIN users u ON u.id = q.owner \
     LEFT JOIN task tk ON tk.id = q.task_id";

/// One repo request in Koji's field names.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: i64,
    pub owner: Option<i64>,
    pub priority: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub at_event: Option<i64>,
    pub min_event: Option<i64>,
    pub opts: Opts,
    pub active: bool,
    pub task_id: Option<i64>,
    pub task_state: Option<i32>,
    pub tries: i64,
    pub repo_id: Option<i64>,
    pub value: Struct,
}

fn request_from_row(r: &sqlx::postgres::PgRow) -> HResult<Request> {
    let create: DateTime<Utc> = r.try_get("create_time")?;
    let update: DateTime<Utc> = r.try_get("update_time")?;
    let req = Request {
        id: i64::from(r.try_get::<i32, _>("id")?),
        owner: r.try_get::<Option<i32>, _>("owner")?.map(i64::from),
        priority: i64::from(r.try_get::<i32, _>("priority")?),
        tag_id: i64::from(r.try_get::<i32, _>("tag_id")?),
        tag_name: r.try_get("tag_name")?,
        at_event: r.try_get("at_event")?,
        min_event: r.try_get("min_event")?,
        opts: opts_load(&r.try_get::<String, _>("opts")?),
        active: r.try_get("active")?,
        task_id: r.try_get::<Option<i32>, _>("task_id")?.map(i64::from),
        task_state: r.try_get("task_state")?,
        tries: i64::from(r.try_get::<i32, _>("tries")?),
        repo_id: r.try_get::<Option<i32>, _>("repo_id")?.map(i64::from),
        value: Struct::new(),
    };
    let owner_name: Option<String> = r.try_get("owner_name")?;
    let v = kstruct! {
        "id" => req.id,
        "owner" => req.owner,
        "owner_name" => owner_name,
        "priority" => req.priority,
        "tag_id" => req.tag_id,
        "tag_name" => req.tag_name.clone(),
        "at_event" => req.at_event,
        "min_event" => req.min_event,
        "opts" => opts_value(&req.opts),
        "create_time" => timefmt::iso(&create),
        "create_ts" => timefmt::ts(&create),
        "update_time" => timefmt::iso(&update),
        "update_ts" => timefmt::ts(&update),
        "active" => req.active,
        "task_id" => req.task_id,
        "task_state" => req.task_state.map(i64::from),
        "tries" => req.tries,
        "repo_id" => req.repo_id,
    };
    Ok(Request {
        value: v.into_struct().unwrap_or_default(),
        ..req
    })
}

pub async fn fetch_requests(c: &mut Ctx, cond: &str, binds: &[i64]) -> HResult<Vec<Request>> {
    let sql = format!("{QUEUE_SELECT} {cond}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q.fetch_all(c.db().await?).await?;
    rows.iter().map(request_from_row).collect()
}

/// What `repo.request` answers: a repo that already satisfies the request, or the
/// (possibly pre-existing) request.
pub struct RequestOutcome {
    pub repo: Option<Repo>,
    pub request: Option<Request>,
    pub duplicate: bool,
}

/// Koji's request_repo. `min_event` None means the tag's last change (kkoji has no repo lag:
/// a request always asks for the tag as it is now).
#[allow(clippy::too_many_arguments)]
pub async fn request_repo(
    c: &mut Ctx,
    tag_id: i64,
    min_event: Option<i64>,
    at_event: Option<i64>,
    opts: &Opts,
    priority: i64,
    force: bool,
    owner: Option<i64>,
) -> HResult<RequestOutcome> {
    let min_event = match (at_event, min_event) {
        (Some(_), _) => None,
        (None, Some(m)) => Some(m),
        (None, None) => Some(
            tag_last_change_event(c, tag_id, None, true)
                .await?
                .unwrap_or(0),
        ),
    };
    if !force && let Some(r) = get_repo(c, tag_id, min_event, at_event, opts).await? {
        return Ok(RequestOutcome {
            repo: Some(r),
            request: None,
            duplicate: false,
        });
    }
    let store = opts_store(opts);
    let dups = fetch_requests(
        c,
        "WHERE q.tag_id = $1 AND q.active ORDER BY q.priority, q.id",
        &[tag_id],
    )
    .await?;
    let dup = dups.into_iter().find(|q| {
        opts_store(&q.opts) == store
            && match at_event {
                Some(a) => q.at_event == Some(a),
                None => q.min_event.is_some() && q.min_event >= min_event,
            }
    });
    if let Some(mut q) = dup {
        if q.priority > priority {
            c.mark_write();
            sqlx::query("UPDATE repo_queue SET priority = $2 WHERE id = $1")
                .bind(q.id as i32)
                .bind(priority as i32)
                .execute(c.db().await?)
                .await?;
            q.priority = priority;
            q.value.insert("priority".into(), Value::Int(priority));
        }
        return Ok(RequestOutcome {
            repo: None,
            request: Some(q),
            duplicate: true,
        });
    }
    c.mark_write();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO repo_queue (owner, priority, tag_id, at_event, min_event, opts) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(owner.map(|o| o as i32))
    .bind(priority as i32)
    .bind(tag_id as i32)
    .bind(at_event)
    .bind(min_event)
    .bind(&store)
    .fetch_one(c.db().await?)
    .await?;
    // the queue pass runs on task events: let it see the new request at once
    tasks::notify_tasks(c).await?;
    tracing::info!(
        request = id,
        tag = tag_id,
        ?min_event,
        ?at_event,
        "new repo request"
    );
    let req = fetch_requests(c, "WHERE q.id = $1", &[i64::from(id)])
        .await?
        .pop();
    Ok(RequestOutcome {
        repo: None,
        request: req,
        duplicate: false,
    })
}

pub fn priority_from(v: Option<i64>, is_admin: bool) -> HResult<i64> {
    match v {
        None => Ok(PRIO_DEFAULT),
        Some(p) if p < 0 && !is_admin => Err(HubError::not_allowed(
            "only admins may create high-priority requests",
        )),
        Some(p) => crate::tasks::checked_priority(PRIO_DEFAULT.saturating_add(p)),
    }
}

/// The repo a finished newRepo task reported (its result is `[repo_id, event_id]`).
async fn repo_from_task(c: &mut Ctx, task_id: i64) -> HResult<Option<Repo>> {
    let result: Option<String> = sqlx::query_scalar("SELECT result FROM task WHERE id = $1")
        .bind(task_id as i32)
        .fetch_optional(c.db().await?)
        .await?
        .flatten();
    let Some(xml) = result else { return Ok(None) };
    let Ok(Ok(v)) = decode_response(xml.as_bytes(), &Limits::default()) else {
        return Ok(None);
    };
    let Some(id) = v.as_array().and_then(|a| a.first()).and_then(Value::as_i64) else {
        return Ok(None);
    };
    repo_info(c, id).await
}

fn satisfies(req: &Request, repo: &Repo) -> bool {
    repo.tag_id == req.tag_id
        && repo.state == state::READY
        && match (req.at_event, req.min_event) {
            (Some(a), _) => repo.create_event == a,
            (None, Some(m)) => repo.create_event >= m,
            (None, None) => true,
        }
        && opts_contain(&repo.opts, &req.opts)
        && opts_contain(&req.opts, &repo.custom_opts)
}

/// Koji's check_repo_queue: settle requests whose task finished, retry failed ones, and
/// start newRepo tasks for waiting requests while fewer than `max_tasks` run. Returns the
/// number of tasks created. One pass at a time (advisory lock): with `wait` it runs after
/// a pass in progress, without it (background passes) it leaves the work to that pass.
pub async fn check_queue(c: &mut Ctx, cfg: &ReposConfig, wait: bool) -> HResult<usize> {
    if wait {
        // an explicit call (repo.checkQueue) does the work, after any pass in progress
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(QUEUE_LOCK)
            .execute(c.db().await?)
            .await?;
    } else {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(QUEUE_LOCK)
            .fetch_one(c.db().await?)
            .await?;
        if !got {
            return Ok(0);
        }
    }
    let waiting = fetch_requests(
        c,
        "WHERE q.repo_id IS NULL AND q.active ORDER BY q.priority, q.id",
        &[],
    )
    .await?;
    let mut running = 0i64;
    let mut changed = false;
    let mut needs_task = Vec::new();
    for req in &waiting {
        let Some(task_id) = req.task_id else {
            needs_task.push(req.clone());
            continue;
        };
        let retry = match req.task_state {
            Some(tasks::state::CLOSED) => match repo_from_task(c, task_id).await? {
                Some(repo) if satisfies(req, &repo) => {
                    set_request(c, req.id, Some(repo.id), false, Some(task_id)).await?;
                    changed = true;
                    false
                }
                _ => {
                    tracing::warn!(
                        request = req.id,
                        task = task_id,
                        "repo task did not produce a usable repo"
                    );
                    true
                }
            },
            Some(tasks::state::FAILED) | Some(tasks::state::CANCELED) => {
                tracing::warn!(
                    request = req.id,
                    task = task_id,
                    "repo task did not complete"
                );
                true
            }
            _ => {
                running += 1;
                false
            }
        };
        if retry {
            changed = true;
            if req.tries > cfg.retries {
                tracing::error!(request = req.id, tag = %req.tag_name, tries = req.tries, "retries exhausted for repo request");
                set_request(c, req.id, None, false, req.task_id).await?;
            } else {
                set_request(c, req.id, None, true, None).await?;
                needs_task.push(Request {
                    task_id: None,
                    ..req.clone()
                });
            }
        }
    }
    let mut made = 0;
    needs_task.sort_by_key(|r| (r.priority, r.id));
    for req in needs_task {
        if running >= cfg.max_tasks {
            tracing::debug!(max_tasks = cfg.max_tasks, "repo task limit reached");
            break;
        }
        let task_id = queue_task(c, &req, cfg).await?;
        c.mark_write();
        sqlx::query(
            "UPDATE repo_queue SET task_id = $2, tries = tries + 1, update_time = clock_timestamp() WHERE id = $1",
        )
        .bind(req.id as i32)
        .bind(task_id as i32)
        .execute(c.db().await?)
        .await?;
        tracing::info!(request = req.id, task = task_id, tag = %req.tag_name, "created newRepo task for repo request");
        running += 1;
        made += 1;
    }
    if made == 0 && !changed {
        return Ok(0);
    }
    // finished requests stay readable for a while, then go
    sqlx::query(
        "DELETE FROM repo_queue WHERE NOT active AND update_time < clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(cfg.request_clean_secs as f64)
    .execute(c.db().await?)
    .await?;
    Ok(made)
}

async fn set_request(
    c: &mut Ctx,
    id: i64,
    repo_id: Option<i64>,
    active: bool,
    task_id: Option<i64>,
) -> HResult<()> {
    c.mark_write();
    sqlx::query(
        "UPDATE repo_queue SET repo_id = $2, active = $3, task_id = $4, update_time = clock_timestamp() WHERE id = $1",
    )
    .bind(id as i32)
    .bind(repo_id.map(|r| r as i32))
    .bind(active)
    .bind(task_id.map(|t| t as i32))
    .execute(c.db().await?)
    .await?;
    Ok(())
}

async fn queue_task(c: &mut Ctx, req: &Request, cfg: &ReposConfig) -> HResult<i64> {
    let mut kw = Struct::new();
    kw.insert("__starstar".into(), Value::Bool(true));
    kw.insert("opts".into(), opts_value(&req.opts));
    if let Some(e) = req.at_event {
        kw.insert("event".into(), Value::Int(e));
    }
    let tagspec = kstruct! { "id" => req.tag_id, "name" => req.tag_name.clone() };
    let owner = match req.owner {
        Some(o) => o,
        None => sqlx::query_scalar::<_, i32>("SELECT id FROM users ORDER BY id LIMIT 1")
            .fetch_one(c.db().await?)
            .await?
            .into(),
    };
    let channel_id = tasks::channel_id(c, "createrepo").await?;
    tasks::create(
        c,
        NewTask {
            method: "newRepo",
            params: vec![tagspec, Value::Struct(kw)],
            owner,
            arch: "noarch",
            channel_id,
            priority: cfg.task_priority,
            parent: None,
            label: None,
        },
    )
    .await
}

/// Koji's repo_done_hook: a repo that just became READY fulfils the waiting requests it
/// satisfies.
async fn fulfil_requests(c: &mut Ctx, repo: &Repo) -> HResult<()> {
    let reqs = fetch_requests(
        c,
        "WHERE q.tag_id = $1 AND q.active AND q.repo_id IS NULL",
        &[repo.tag_id],
    )
    .await?;
    for q in reqs {
        let ready = Repo {
            state: state::READY,
            ..repo.clone()
        };
        if satisfies(&q, &ready) {
            set_request(c, q.id, Some(repo.id), false, q.task_id).await?;
            tracing::info!(request = q.id, repo = repo.id, "repo request fulfilled");
        }
    }
    Ok(())
}

/// The repo's directory: `repos/<tag>/<id>`.
pub fn repo_dir(topdir: &Path, tag_name: &str, id: i64) -> PathBuf {
    topdir.join("repos").join(tag_name).join(id.to_string())
}

/// The repo arches of a tag: its own arch list, else the first non-empty one up its
/// inheritance (as getBuildConfig), without noarch/src which are not repo arches.
pub async fn tag_arches(c: &mut Ctx, tag_id: i64, event: Option<i64>) -> HResult<Vec<String>> {
    let mut arches = tag_record(c, &Ident::Id(tag_id), event)
        .await?
        .and_then(|t| t.get("arches").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if arches.trim().is_empty() {
        for link in full_inheritance(c, tag_id, event, false).await? {
            if link.get("noconfig").is_some_and(Value::is_truthy) {
                continue;
            }
            if let Some(p) = link.get("parent_id").and_then(Value::as_i64)
                && let Some(t) = tag_record(c, &Ident::Id(p), event).await?
                && let Some(a) = t.get("arches").and_then(Value::as_str)
                && !a.trim().is_empty()
            {
                arches = a.to_string();
                break;
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    for a in arches.split_whitespace() {
        let a = canon_arch(a);
        if a != "noarch" && a != "src" && !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// The repo arch an RPM arch belongs to (the 32-bit x86 family shares one repo).
pub fn canon_arch(a: &str) -> &str {
    match a {
        "i486" | "i586" | "i686" | "athlon" | "geode" => "i386",
        other => other,
    }
}

fn is_debuginfo(name: &str) -> bool {
    name.ends_with("-debuginfo") || name.ends_with("-debugsource") || name.contains("-debuginfo-")
}

/// Names of packages blocked in the tag (the nearest listing through inheritance decides).
async fn blocked_names(c: &mut Ctx, tag_id: i64, event: Option<i64>) -> HResult<HashSet<String>> {
    let mut seen = HashSet::new();
    let mut blocked = HashSet::new();
    for (t, filters) in inheritance_order(c, tag_id, event).await? {
        let rows: Vec<(String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT p.name, tp.blocked FROM tag_packages tp JOIN package p ON p.id = tp.package_id \
             WHERE tp.tag_id = $1 AND {}",
            ver("tp", event)
        )))
        .bind(t as i32)
        .fetch_all(c.db().await?)
        .await?;
        for (name, b) in rows {
            if !crate::methods::tags::filters_pass(&filters, &name) {
                continue;
            }
            if seen.insert(name.clone()) && b {
                blocked.insert(name);
            }
        }
    }
    Ok(blocked)
}

/// One RPM of a repo: where it sits under topdir and which arches list it.
struct RepoRpm {
    href: String,
    arch: String,
}

/// The RPMs of the latest builds of the tag at `event` (inheritance, filters, blocked
/// packages left out).
async fn repo_rpms(
    c: &mut Ctx,
    tag_id: i64,
    event: i64,
    opts: &Opts,
    blocked: &HashSet<String>,
) -> HResult<Vec<RepoRpm>> {
    let builds =
        crate::methods::builds::tagged_builds(c, tag_id, Some(event), true, None, true).await?;
    let mut ids = Vec::new();
    let mut nvr = BTreeMap::new();
    for b in &builds {
        let name = b
            .get("package_name")
            .or_else(|| b.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if blocked.contains(name) {
            continue;
        }
        if let Some(id) = b
            .get("build_id")
            .or_else(|| b.get("id"))
            .and_then(Value::as_i64)
        {
            ids.push(id as i32);
            nvr.insert(
                id,
                (
                    b.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    b.get("version")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    b.get("release")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ),
            );
        }
    }
    let rows: Vec<(i32, String, String, String, String)> = sqlx::query_as(
        "SELECT build_id, name, version, release, arch FROM rpminfo WHERE build_id = ANY($1) \
         AND external_repo_id = 0 ORDER BY name, arch",
    )
    .bind(&ids)
    .fetch_all(c.db().await?)
    .await?;
    let with_src = opts.get("src").copied().unwrap_or(false);
    let with_debug = opts.get("debuginfo").copied().unwrap_or(false);
    let mut out = Vec::new();
    for (bid, name, version, release, arch) in rows {
        if arch == "src" && !with_src {
            continue;
        }
        if is_debuginfo(&name) && !with_debug {
            continue;
        }
        let Some((bn, bv, br)) = nvr.get(&i64::from(bid)) else {
            continue;
        };
        let href =
            format!("toplink/packages/{bn}/{bv}/{br}/{arch}/{name}-{version}-{release}.{arch}.rpm");
        out.push(RepoRpm { href, arch });
    }
    Ok(out)
}

/// Write a file atomically (temp file in the same directory, then rename).
fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The detail (with its absolute path) goes to the log; the caller learns what failed.
fn io_fault(what: &str, path: &Path, e: std::io::Error) -> crate::error::HubError {
    tracing::error!(path = %path.display(), error = %e, "cannot {what} a repo file");
    HubError::generic(format!("cannot {what} a repo file: {}", e.kind()))
}

/// Koji's repo_init: the repo row (INIT) at `event` (default: now) and its directory with
/// per-arch package lists for the createrepo tasks. Returns (repo id, event).
pub async fn repo_init(
    c: &mut Ctx,
    tag: &Ident,
    task_id: Option<i64>,
    event: Option<i64>,
    over: Option<&Opts>,
) -> HResult<(i64, i64)> {
    let (tag_id, tag_name) = common::get(c, Named::Tag, tag).await?;
    // the name becomes a directory under repos/: one plain component, nothing else
    if tag_name.contains('/') || tag_name == "." || tag_name == ".." {
        return Err(HubError::generic(format!(
            "tag name {tag_name:?} cannot be a repo directory name"
        )));
    }
    let event = match event {
        Some(e) => e,
        None => c.event().await?,
    };
    let (opts, custom) = repo_opts_for(c, tag_id, over).await?;
    let begin = tag_last_change_event(c, tag_id, Some(event), true).await?;
    c.mark_write();
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO repo (create_event, tag_id, state, opts, custom_opts, task_id, begin_event) \
         VALUES ($1, $2, 0, $3, $4, $5, $6) RETURNING id",
    )
    .bind(event)
    .bind(tag_id as i32)
    .bind(opts_store(&opts))
    .bind(opts_store(&custom))
    .bind(task_id.map(|t| t as i32))
    .bind(begin)
    .fetch_one(c.db().await?)
    .await?;
    let id = i64::from(id);
    let arches = tag_arches(c, tag_id, Some(event)).await?;
    let blocked = blocked_names(c, tag_id, Some(event)).await?;
    let rpms = repo_rpms(c, tag_id, event, &opts, &blocked).await?;
    let dir = repo_dir(&c.hub().config.topdir, &tag_name, id);
    let mut lists: BTreeMap<&str, Vec<&str>> =
        arches.iter().map(|a| (a.as_str(), Vec::new())).collect();
    for r in &rpms {
        let target = canon_arch(&r.arch);
        for (a, list) in lists.iter_mut() {
            if r.arch == "noarch" || r.arch == "src" || *a == target {
                list.push(&r.href);
            }
        }
    }
    let mut blocked_sorted: Vec<&String> = blocked.iter().collect();
    blocked_sorted.sort();
    let blocklist: String = blocked_sorted.iter().map(|b| format!("{b}\n")).collect();
    for (arch, list) in &lists {
        let adir = dir.join(arch);
        std::fs::create_dir_all(&adir).map_err(|e| io_fault("create", &adir, e))?;
        let link = adir.join("toplink");
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("../../../..", &link)
                .map_err(|e| io_fault("create", &link, e))?;
        }
        let body: String = list.iter().map(|l| format!("{l}\n")).collect();
        let p = adir.join("pkglist");
        write_atomic(&p, body.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
        let p = adir.join("blocklist");
        write_atomic(&p, blocklist.as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_fault("create", &dir, e))?;
    let json = serde_json::json!({
        "id": id,
        "tag": tag_name,
        "tag_id": tag_id,
        "task_id": task_id,
        "event_id": event,
        "opts": opts,
        "custom_opts": custom,
        "arches": arches,
    });
    let p = dir.join("repo.json");
    write_atomic(&p, json.to_string().as_bytes()).map_err(|e| io_fault("write", &p, e))?;
    tracing::info!(repo = id, tag = %tag_name, event, rpms = rpms.len(), arches = ?arches, "repo initialized");
    Ok((id, event))
}

/// Koji's repo_done: moves each arch's uploaded repodata into place (all or nothing per
/// arch: assembled beside it, then renamed), marks the repo READY (or EXPIRED), moves the
/// tag's `latest` link when this is its newest repo, and fulfils waiting requests.
pub async fn repo_done(c: &mut Ctx, repo_id: i64, data: &Struct, expire: bool) -> HResult<()> {
    let Some(repo) = repo_info(c, repo_id).await? else {
        return Err(HubError::generic(format!("No such repo: {repo_id}")));
    };
    if repo.state != state::INIT {
        return Err(HubError::generic(format!(
            "Repo {repo_id} not in INIT state"
        )));
    }
    let topdir = c.hub().config.topdir.clone();
    let tree = crate::safefs::Tree::open(&topdir)?;
    let own_arches = tag_arches(c, repo.tag_id, Some(repo.create_event)).await?;
    let repo_rel = Path::new("repos")
        .join(&repo.tag_name)
        .join(repo_id.to_string());
    // everything is checked before anything is touched: one bad arch changes nothing
    let mut plan = Vec::new();
    for (arch, v) in data {
        if !own_arches.iter().any(|a| a == arch) {
            return Err(HubError::generic(format!(
                "Repo {repo_id} has no arch {arch:?} (its arches: {})",
                own_arches.join(" ")
            )));
        }
        let parts = v.as_array().unwrap_or(&[]);
        let (Some(upath), Some(files)) = (
            parts.first().and_then(Value::as_str),
            parts.get(1).and_then(Value::as_array),
        ) else {
            return Err(HubError::parameter(format!(
                "repoDone data for {arch} must be [uploadpath, [files]]"
            )));
        };
        let up = topdir::clean_relative(upath)?;
        let mut inputs = Vec::new();
        for f in files {
            let Some(name) = f.as_str() else {
                return Err(HubError::parameter("repoDone file names must be strings"));
            };
            let name_clean = topdir::clean_relative(name)?;
            let rel = up.join(&name_clean);
            let input = tree.host_input(&rel.to_string_lossy(), std::slice::from_ref(&up))?;
            if input.moved_to.is_some() {
                return Err(HubError::generic(format!("Not a regular file: {name}")));
            }
            inputs.push((name_clean, input));
        }
        plan.push((repo_rel.join(arch), inputs));
    }
    for (adir, inputs) in plan {
        let adir_fd = tree
            .dir(Some(&adir))
            .map_err(|e| io_fault("open", &adir, e.into()))?;
        let _ = std::fs::remove_dir_all(topdir.join(&adir).join(".repodata.new"));
        let staging = adir.join(".repodata.new");
        for (name, input) in &inputs {
            let dst = staging.join(name);
            let (dparent, dname) = (
                dst.parent().unwrap_or(&staging),
                dst.file_name().unwrap_or_default(),
            );
            let dfd = tree
                .mkdirs(dparent)
                .map_err(|e| io_fault("create", dparent, e.into()))?;
            // linked, not moved: if anything below fails (a full disk, the commit), the
            // uploads are still there for the task's retry of repoDone
            let (sparent, sname) = (
                input.rel.parent().unwrap_or(Path::new(".")),
                input.rel.file_name().unwrap_or_default(),
            );
            let sfd = tree
                .dir(Some(sparent))
                .map_err(|e| io_fault("open", sparent, e.into()))?;
            if nix::unistd::linkat(&sfd, sname, &dfd, dname, nix::fcntl::AtFlags::empty()).is_err()
            {
                let mut out = nix::fcntl::openat(
                    &dfd,
                    dname,
                    nix::fcntl::OFlag::O_WRONLY
                        | nix::fcntl::OFlag::O_CREAT
                        | nix::fcntl::OFlag::O_EXCL
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::from_bits_truncate(0o644),
                )
                .map(std::fs::File::from)
                .map_err(|e| io_fault("copy", &dst, e.into()))?;
                let mut src = &input.file;
                std::io::copy(&mut src, &mut out).map_err(|e| io_fault("copy", &dst, e))?;
            }
        }
        nix::sys::stat::mkdirat(
            &adir_fd,
            ".repodata.new",
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        )
        .or_else(|e| {
            if e == nix::errno::Errno::EEXIST {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| io_fault("create", &staging, e.into()))?;
        let final_dir = topdir.join(&adir).join("repodata");
        if std::fs::symlink_metadata(&final_dir).is_ok() {
            let old = topdir.join(&adir).join(".repodata.old");
            let _ = std::fs::remove_dir_all(&old);
            nix::fcntl::renameat(&adir_fd, "repodata", &adir_fd, ".repodata.old")
                .map_err(|e| io_fault("replace", &final_dir, e.into()))?;
            let _ = std::fs::remove_dir_all(&old);
        }
        nix::fcntl::renameat(&adir_fd, ".repodata.new", &adir_fd, "repodata")
            .map_err(|e| io_fault("rename", &staging, e.into()))?;
    }
    let new_state = if expire { state::EXPIRED } else { state::READY };
    set_state(c, repo_id, new_state, None).await?;
    if !expire {
        let newer: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM repo WHERE tag_id = $1 AND state = 1 AND NOT dist AND create_event > $2 LIMIT 1",
        )
        .bind(repo.tag_id as i32)
        .bind(repo.create_event)
        .fetch_optional(c.db().await?)
        .await?;
        if newer.is_none() && repo.custom_opts.is_empty() {
            let tagdir = topdir.join("repos").join(&repo.tag_name);
            let tmp = tagdir.join(format!(".latest-{repo_id}"));
            let _ = std::fs::remove_file(&tmp);
            if let Err(e) = std::os::unix::fs::symlink(repo_id.to_string(), &tmp)
                .and_then(|()| std::fs::rename(&tmp, tagdir.join("latest")))
            {
                // the link is a convenience for humans and mirrors; the repo is usable anyway
                tracing::warn!(repo = repo_id, error = %e, "cannot update the latest link");
            }
        }
        fulfil_requests(c, &repo).await?;
    }
    tracing::info!(repo = repo_id, tag = %repo.tag_name, state = state::name(new_state), "repo done");
    Ok(())
}

/// Change a repo's state (and say why, for PROBLEM).
pub async fn set_state(c: &mut Ctx, repo_id: i64, st: i32, problem: Option<&str>) -> HResult<()> {
    if !(state::INIT..=state::PROBLEM).contains(&st) {
        return Err(HubError::parameter(format!("Invalid repo state: {st}")));
    }
    c.mark_write();
    let n = sqlx::query(
        "UPDATE repo SET state = $2, state_time = clock_timestamp(), problem = COALESCE($3, problem) WHERE id = $1",
    )
    .bind(repo_id as i32)
    .bind(st)
    .bind(problem)
    .execute(c.db().await?)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(HubError::generic(format!("No such repo: {repo_id}")));
    }
    tracing::info!(
        repo = repo_id,
        state = state::name(st),
        ?problem,
        "repo state changed"
    );
    Ok(())
}

/// id, host, task, arch, state, create_event
type BuildrootRow = (i32, Option<i32>, Option<i32>, Option<String>, i32, i64);

/// Active buildroots using the repo (Koji's repo_references).
pub async fn references(c: &mut Ctx, repo_id: i64) -> HResult<Vec<Value>> {
    let rows: Vec<BuildrootRow> = sqlx::query_as(
        "SELECT id, host_id, task_id, arch, state, create_event FROM buildroot \
         WHERE repo_id = $1 AND retire_event IS NULL AND state < 3 ORDER BY id",
    )
    .bind(repo_id as i32)
    .fetch_all(c.db().await?)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, host, task, arch, st, ev)| {
            kstruct! {
                "id" => id,
                "host_id" => host.map(i64::from),
                "task_id" => task.map(i64::from),
                "arch" => arch,
                "state" => st,
                "create_event" => ev,
            }
        })
        .collect())
}

/// Koji's update_end_events: READY repos learn the first change of their tag after them.
pub async fn update_end_events(c: &mut Ctx) -> HResult<usize> {
    let repos = fetch_repos(
        c,
        "WHERE r.end_event IS NULL AND r.state = 1 ORDER BY r.id",
        &[],
    )
    .await?;
    let mut n = 0;
    for r in repos {
        if let Some(end) = tag_first_change_event(c, r.tag_id, Some(r.create_event), true).await? {
            c.mark_write();
            sqlx::query("UPDATE repo SET end_event = $2 WHERE id = $1")
                .bind(r.id as i32)
                .bind(end)
                .execute(c.db().await?)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Koji's do_auto_requests, plus (kkoji) the build tags of every target: a request for each
/// such tag whose newest repo is older than its last change. A tag whose request failed
/// for its current content is left alone for an hour (retrying an unchanged broken tag
/// every pass only churns tasks).
pub async fn auto_requests(c: &mut Ctx, owner: Option<i64>) -> HResult<usize> {
    let mut tags: Vec<i32> = sqlx::query_scalar(
        "SELECT DISTINCT build_tag FROM build_target_config WHERE active ORDER BY build_tag",
    )
    .fetch_all(c.db().await?)
    .await?;
    let extra: Vec<(i32, String)> =
        sqlx::query_as("SELECT tag_id, value FROM tag_extra WHERE active AND key = 'repo.auto'")
            .fetch_all(c.db().await?)
            .await?;
    for (t, v) in extra {
        if common::load_value(&v).is_truthy() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    let mut made = 0;
    for t in tags {
        let tag_id = i64::from(t);
        let Some(last) = tag_last_change_event(c, tag_id, None, true).await? else {
            continue;
        };
        let failed: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM repo_queue WHERE tag_id = $1 AND NOT active AND repo_id IS NULL \
             AND min_event >= $2 AND update_time > clock_timestamp() - interval '1 hour' LIMIT 1",
        )
        .bind(t)
        .bind(last)
        .fetch_optional(c.db().await?)
        .await?;
        if failed.is_some() {
            tracing::debug!(
                tag = tag_id,
                "auto request skipped: failed recently for this content"
            );
            continue;
        }
        let out = request_repo(
            c,
            tag_id,
            Some(last),
            None,
            &Opts::new(),
            PRIO_DEFAULT + 5,
            false,
            owner,
        )
        .await?;
        if out.request.is_some() && !out.duplicate {
            made += 1;
        }
    }
    Ok(made)
}

/// A newRepo task failed or was canceled: its INIT repo goes to PROBLEM with the reason.
pub async fn task_failed(c: &mut Ctx, task_id: i64, reason: &str) -> HResult<()> {
    let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM repo WHERE task_id = $1 AND state = 0")
        .bind(task_id as i32)
        .fetch_all(c.db().await?)
        .await?;
    for id in ids {
        set_state(c, i64::from(id), state::PROBLEM, Some(reason)).await?;
    }
    Ok(())
}

/// The external repo's tracking data (what repo-regen last saw upstream).
pub async fn get_external_repo_data(c: &mut Ctx, erepo: i64) -> HResult<Value> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT data FROM external_repo_data WHERE external_repo_id = $1 AND active",
    )
    .bind(erepo as i32)
    .fetch_optional(c.db().await?)
    .await?;
    Ok(v.map(|s| common::load_value(&s)).unwrap_or(Value::Nil))
}

pub async fn set_external_repo_data(c: &mut Ctx, erepo: i64, data: &Value) -> HResult<()> {
    if !matches!(data, Value::Struct(_)) {
        return Err(HubError::parameter(
            "external repo data must be a dictionary",
        ));
    }
    common::revoke(c, "external_repo_data", "external_repo_id = $2", &[erepo]).await?;
    let ev = c.event().await?;
    sqlx::query(
        "INSERT INTO external_repo_data (external_repo_id, data, create_event, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(erepo as i32)
    .bind(common::store_value(data))
    .bind(ev)
    .bind(c.user_id().map(|u| u as i32))
    .execute(c.db().await?)
    .await?;
    Ok(())
}
