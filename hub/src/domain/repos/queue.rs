//! Repo requests (Koji 1.35+): they name a tag and the oldest event they accept, and are
//! turned into `newRepo` tasks by [`check_queue`] with a cap on how many run at once.

use super::events::last_change;
use super::{
    Opts, PRIO_DEFAULT, Repo, Request, opts_contain, opts_store, opts_value, repos, requests, state,
};
use crate::config::ReposConfig;
use crate::ctx::Ctx;
use crate::domain::tasks::{self, NewTask, TaskState};
use crate::error::{HResult, HubError};
use crate::storage::{calls, repo_queue as store, repos as repo_store, users};
use koji_protocol::{Limits, Struct, Value, decode_response, kstruct};

/// Transaction-scoped advisory lock key of the queue pass (one hub at a time).
const QUEUE_LOCK: i64 = 0x006b_6b6f_6a69_7261;

/// Koji's get_repo: the newest READY repo of the tag that has every asked option and no
/// custom option that was not asked for, created at `at_event` or at/after `min_event`.
pub async fn best_repo(
    c: &mut Ctx,
    tag: i32,
    min_event: Option<i64>,
    at_event: Option<i64>,
    opts: &Opts,
) -> HResult<Option<Repo>> {
    let candidates = repos(repo_store::ready_of_tag(c.db().await?, tag).await?);
    Ok(candidates.into_iter().find(|r| {
        opts_contain(&r.opts, opts)
            && opts_contain(opts, &r.custom_opts)
            && match (at_event, min_event) {
                (Some(a), _) => r.row.create_event == a,
                (None, Some(m)) => r.row.create_event >= m,
                (None, None) => true,
            }
    }))
}

/// What `repo.request` answers: a repo that already satisfies the request, or the
/// (possibly pre-existing) request.
pub struct RequestOutcome {
    pub repo: Option<Repo>,
    pub request: Option<Request>,
    pub duplicate: bool,
}

/// Koji's request_repo. `min_event` None means the tag's last change (kkoji has no repo lag:
/// a request always asks for the tag as it is now). A waiting request for the same options
/// and (at least) the same content is a duplicate: it is answered instead, its priority
/// raised if this one's is higher.
#[allow(clippy::too_many_arguments)]
pub async fn request_repo(
    c: &mut Ctx,
    tag: i32,
    min_event: Option<i64>,
    at_event: Option<i64>,
    opts: &Opts,
    priority: i64,
    force: bool,
    owner: Option<i32>,
) -> HResult<RequestOutcome> {
    let min_event = match (at_event, min_event) {
        (Some(_), _) => None,
        (None, Some(m)) => Some(m),
        (None, None) => Some(last_change(c, tag, None, true).await?.unwrap_or(0)),
    };
    if !force && let Some(r) = best_repo(c, tag, min_event, at_event, opts).await? {
        return Ok(RequestOutcome {
            repo: Some(r),
            request: None,
            duplicate: false,
        });
    }
    let priority = tasks::checked_priority(priority)?;
    let stored = opts_store(opts);
    let dups = requests(store::active_of_tag(c.db().await?, tag).await?);
    let dup = dups.into_iter().find(|q| {
        opts_store(&q.opts) == stored
            && match at_event {
                Some(a) => q.row.at_event == Some(a),
                None => q.row.min_event.is_some() && q.row.min_event >= min_event,
            }
    });
    if let Some(mut q) = dup {
        if q.row.priority > priority {
            c.mark_write();
            store::set_priority(c.db().await?, q.row.id, priority).await?;
            q.row.priority = priority;
        }
        return Ok(RequestOutcome {
            repo: None,
            request: Some(q),
            duplicate: true,
        });
    }
    c.mark_write();
    let db = c.db().await?;
    let id = store::insert(db, owner, priority, tag, at_event, min_event, &stored).await?;
    // the queue pass runs on task events: let it see the new request at once
    calls::notify_tasks(db).await?;
    tracing::info!(request = id, tag, ?min_event, ?at_event, "new repo request");
    let req = super::request(c, id).await?;
    Ok(RequestOutcome {
        repo: None,
        request: req,
        duplicate: false,
    })
}

/// The repo a finished newRepo task reported (its result is `[repo_id, event_id]`).
async fn repo_from_task(c: &mut Ctx, task: i32) -> HResult<Option<Repo>> {
    let Some(xml) = tasks::result_of(c, task).await? else {
        return Ok(None);
    };
    let Ok(Ok(v)) = decode_response(xml.as_bytes(), &Limits::default()) else {
        return Ok(None);
    };
    let Some(id) = v
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_i64)
        .and_then(|i| i32::try_from(i).ok())
    else {
        return Ok(None);
    };
    super::get(c, id).await
}

fn satisfies(req: &Request, repo: &Repo) -> bool {
    repo.row.tag_id == req.row.tag_id
        && repo.row.state == state::READY
        && match (req.row.at_event, req.row.min_event) {
            (Some(a), _) => repo.row.create_event == a,
            (None, Some(m)) => repo.row.create_event >= m,
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
    let db = c.db().await?;
    if wait {
        // an explicit call (repo.checkQueue) does the work, after any pass in progress
        calls::lock(db, QUEUE_LOCK).await?;
    } else if !calls::try_lock(db, QUEUE_LOCK).await? {
        return Ok(0);
    }
    let waiting = requests(store::waiting(c.db().await?).await?);
    let mut running = 0i64;
    let mut changed = false;
    let mut needs_task = Vec::new();
    for req in &waiting {
        let Some(task_id) = req.row.task_id else {
            needs_task.push(req.clone());
            continue;
        };
        let retry = match req.row.task_state {
            Some(TaskState::Closed) => match repo_from_task(c, task_id).await? {
                Some(repo) if satisfies(req, &repo) => {
                    settle(c, req.row.id, Some(repo.row.id), false, Some(task_id)).await?;
                    changed = true;
                    false
                }
                _ => {
                    tracing::warn!(
                        request = req.row.id,
                        task = task_id,
                        "repo task did not produce a usable repo"
                    );
                    true
                }
            },
            Some(TaskState::Failed) | Some(TaskState::Canceled) => {
                tracing::warn!(
                    request = req.row.id,
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
            if i64::from(req.row.tries) > cfg.retries {
                tracing::error!(request = req.row.id, tag = %req.row.tag_name, tries = req.row.tries, "retries exhausted for repo request");
                settle(c, req.row.id, None, false, req.row.task_id).await?;
            } else {
                settle(c, req.row.id, None, true, None).await?;
                let mut again = req.clone();
                again.row.task_id = None;
                needs_task.push(again);
            }
        }
    }
    let mut made = 0;
    needs_task.sort_by_key(|r| (r.row.priority, r.row.id));
    for req in needs_task {
        if running >= cfg.max_tasks {
            tracing::debug!(max_tasks = cfg.max_tasks, "repo task limit reached");
            break;
        }
        let task_id = queue_task(c, &req, cfg).await?;
        c.mark_write();
        store::set_task(c.db().await?, req.row.id, task_id).await?;
        tracing::info!(request = req.row.id, task = task_id, tag = %req.row.tag_name, "created newRepo task for repo request");
        running += 1;
        made += 1;
    }
    if made == 0 && !changed {
        return Ok(0);
    }
    // finished requests stay readable for a while, then go
    store::delete_finished(c.db().await?, cfg.request_clean_secs as f64).await?;
    Ok(made)
}

async fn settle(
    c: &mut Ctx,
    id: i32,
    repo: Option<i32>,
    active: bool,
    task: Option<i32>,
) -> HResult<()> {
    c.mark_write();
    store::settle(c.db().await?, id, repo, active, task).await?;
    Ok(())
}

async fn queue_task(c: &mut Ctx, req: &Request, cfg: &ReposConfig) -> HResult<i32> {
    let mut kw = Struct::new();
    kw.insert("__starstar".into(), Value::Bool(true));
    kw.insert("opts".into(), opts_value(&req.opts));
    if let Some(e) = req.row.at_event {
        kw.insert("event".into(), Value::Int(e));
    }
    let tagspec = kstruct! { "id" => req.row.tag_id, "name" => req.row.tag_name.clone() };
    let owner = match req.row.owner {
        Some(o) => o,
        None => users::first(c.db().await?).await?,
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
pub async fn fulfil_requests(c: &mut Ctx, repo: &Repo) -> HResult<()> {
    let reqs = requests(store::waiting_of_tag(c.db().await?, repo.row.tag_id).await?);
    let mut ready = repo.clone();
    ready.row.state = state::READY;
    for q in reqs {
        if satisfies(&q, &ready) {
            settle(c, q.row.id, Some(repo.row.id), false, q.row.task_id).await?;
            tracing::info!(
                request = q.row.id,
                repo = repo.row.id,
                "repo request fulfilled"
            );
        }
    }
    Ok(())
}

/// Koji's do_auto_requests, plus (kkoji) the build tags of every target: a request for each
/// such tag whose newest repo is older than its last change. A tag whose request failed
/// for its current content is left alone for an hour (retrying an unchanged broken tag
/// every pass only churns tasks).
pub async fn auto_requests(c: &mut Ctx, owner: Option<i32>) -> HResult<usize> {
    let mut tags = crate::domain::targets::build_tags(c).await?;
    for t in crate::domain::tags::with_truthy_extra(c, "repo.auto").await? {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let mut made = 0;
    for tag in tags {
        let Some(last) = last_change(c, tag, None, true).await? else {
            continue;
        };
        if store::failed_recently(c.db().await?, tag, last).await? {
            tracing::debug!(
                tag,
                "auto request skipped: failed recently for this content"
            );
            continue;
        }
        let out = request_repo(
            c,
            tag,
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

/// The priority of a request from its wire value (relative to Koji's default; below it
/// only for admins).
pub fn priority_from(v: Option<i64>, is_admin: bool) -> HResult<i64> {
    match v {
        None => Ok(PRIO_DEFAULT),
        Some(p) if p < 0 && !is_admin => Err(HubError::not_allowed(
            "only admins may create high-priority requests",
        )),
        Some(p) => tasks::checked_priority(PRIO_DEFAULT.saturating_add(p)).map(i64::from),
    }
}

/// repo.setRequestPriority.
pub async fn set_request_priority(c: &mut Ctx, id: i32, priority: i64) -> HResult<()> {
    c.mark_write();
    let p = tasks::checked_priority(priority)?;
    store::set_priority(c.db().await?, id, p).await?;
    Ok(())
}
