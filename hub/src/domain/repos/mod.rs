//! Buildroot repos, as Koji 1.35+ has them: a repo is the content of a tag at one event,
//! written under `repos/<tag>/<id>/<arch>`.
//!
//! - [`events`]: when a tag's repo content last changed (and when a repo went stale);
//! - [`queue`]: requests for repos and the pass that turns them into `newRepo` tasks;
//! - [`publish`]: a repo's files on disk (`host.repoInit`, `host.repoDone`);
//! - [`external`]: what was last seen of external repos upstream;
//! - [`dist`]: dist repos (`koji dist-repo`), published snapshots of a tag.
//!
//! Why the queue lives in the hub: builds wait for repos and `koji regen-repo` asks for
//! them; both must work without an extra daemon. `kkoji-repo-regen` only adds what needs a
//! view of the whole farm over time (expiry, deletion, pruning, upstream change detection).

pub mod dist;
pub mod events;
pub mod external;
pub mod publish;
pub mod queue;

use crate::ctx::Ctx;
use crate::error::{HResult, HubError};
use crate::storage::{buildroots, load_value, repo_queue, repos as store, store_value};
use koji_protocol::{Struct, Value};
use std::collections::BTreeMap;

pub use crate::storage::buildroots::Reference;
pub use crate::storage::repo_queue::RequestRow;
pub use crate::storage::repos::{RepoRow, state};

/// A state's name, for logs.
pub fn state_name(s: i32) -> &'static str {
    match s {
        state::INIT => "INIT",
        state::READY => "READY",
        state::EXPIRED => "EXPIRED",
        state::DELETED => "DELETED",
        state::PROBLEM => "PROBLEM",
        _ => "UNKNOWN",
    }
}

/// Koji's default task priority; request priorities are relative to it.
pub const PRIO_DEFAULT: i64 = 20;
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

/// Options as a dict value (task parameters, answers).
pub fn opts_value(o: &Opts) -> Value {
    Value::Struct(
        o.iter()
            .map(|(k, v)| (k.clone(), Value::Bool(*v)))
            .collect::<Struct>(),
    )
}

fn opts_store(o: &Opts) -> String {
    store_value(&opts_value(o))
}

fn opts_load(s: &str) -> Opts {
    convert_opts(&load_value(s), false).unwrap_or_default()
}

/// `a` has every option of `b` with the same value.
fn opts_contain(a: &Opts, b: &Opts) -> bool {
    b.iter().all(|(k, v)| a.get(k) == Some(v))
}

/// A repo with its options decoded.
#[derive(Debug, Clone)]
pub struct Repo {
    pub row: RepoRow,
    pub opts: Opts,
    pub custom_opts: Opts,
}

impl Repo {
    fn from_row(row: RepoRow) -> Repo {
        Repo {
            opts: opts_load(&row.opts),
            custom_opts: opts_load(&row.custom_opts),
            row,
        }
    }
}

fn repos(rows: Vec<RepoRow>) -> Vec<Repo> {
    rows.into_iter().map(Repo::from_row).collect()
}

/// A repo request with its options decoded.
#[derive(Debug, Clone)]
pub struct Request {
    pub row: RequestRow,
    pub opts: Opts,
}

impl Request {
    fn from_row(row: RequestRow) -> Request {
        Request {
            opts: opts_load(&row.opts),
            row,
        }
    }
}

fn requests(rows: Vec<RequestRow>) -> Vec<Request> {
    rows.into_iter().map(Request::from_row).collect()
}

pub async fn get(c: &mut Ctx, id: i32) -> HResult<Option<Repo>> {
    Ok(store::get(c.db().await?, id).await?.map(Repo::from_row))
}

/// Every repo, by id.
pub async fn all(c: &mut Ctx) -> HResult<Vec<Repo>> {
    Ok(repos(store::all(c.db().await?).await?))
}

/// Repos that are not deleted (kojira's old view of the world), by id.
pub async fn not_deleted(c: &mut Ctx) -> HResult<Vec<Repo>> {
    Ok(repos(store::not_deleted(c.db().await?).await?))
}

/// getRepo: the newest repo of a tag in `state` (READY by default); with `event`, the
/// newest created at or before it, any state.
pub async fn newest(
    c: &mut Ctx,
    tag: i32,
    dist: bool,
    event: Option<i64>,
    st: Option<i64>,
    min_event: Option<i64>,
) -> HResult<Option<Repo>> {
    let st = st.unwrap_or(i64::from(state::READY));
    Ok(
        store::newest(c.db().await?, tag, dist, event, st, min_event)
            .await?
            .map(Repo::from_row),
    )
}

pub async fn request(c: &mut Ctx, id: i32) -> HResult<Option<Request>> {
    Ok(repo_queue::get(c.db().await?, id)
        .await?
        .map(Request::from_row))
}

/// Every request, by id.
pub async fn all_requests(c: &mut Ctx) -> HResult<Vec<Request>> {
    Ok(requests(repo_queue::all(c.db().await?).await?))
}

/// Change a repo's state (and say why, for PROBLEM).
pub async fn set_state(c: &mut Ctx, repo: i32, st: i32, problem: Option<&str>) -> HResult<()> {
    if !(state::INIT..=state::PROBLEM).contains(&st) {
        return Err(HubError::parameter(format!("Invalid repo state: {st}")));
    }
    c.mark_write();
    if !store::set_state(c.db().await?, repo, st, problem).await? {
        return Err(HubError::generic(format!("No such repo: {repo}")));
    }
    tracing::info!(repo, state = state_name(st), ?problem, "repo state changed");
    Ok(())
}

/// A newRepo task failed or was canceled: its INIT repo goes to PROBLEM with the reason.
pub async fn task_failed(c: &mut Ctx, task: i32, reason: &str) -> HResult<()> {
    for id in store::init_of_task(c.db().await?, task).await? {
        set_state(c, id, state::PROBLEM, Some(reason)).await?;
    }
    Ok(())
}

/// Active buildroots using the repo (Koji's repo_references).
pub async fn references(c: &mut Ctx, repo: i32) -> HResult<Vec<Reference>> {
    Ok(buildroots::using_repo(c.db().await?, repo).await?)
}

/// repoDelete: the repo is DELETED unless buildroots still use it; returns how many do
/// (0 = deleted). Files are removed by kkoji-repo-regen, which owns the tree.
pub async fn delete(c: &mut Ctx, repo: i32) -> HResult<usize> {
    // row lock: a buildroot created meanwhile must see the repo still alive or not at all
    if !store::exists(c.db().await?, repo, true).await? {
        return Err(HubError::generic(format!("No such repo: {repo}")));
    }
    let refs = references(c, repo).await?;
    if refs.is_empty() {
        set_state(c, repo, state::DELETED, None).await?;
    } else {
        tracing::info!(repo, references = refs.len(), "repo not deleted: in use");
    }
    Ok(refs.len())
}

/// Whether a repo with this id exists.
pub async fn exists(c: &mut Ctx, repo: i32) -> HResult<bool> {
    Ok(store::exists(c.db().await?, repo, false).await?)
}
