//! One pass of the daemon: end events, repo requests, external repos, expiry, deletion,
//! pruning — in that order. Each step logs its decisions (info for actions and for a
//! decision that changed since the last pass, debug for repeats and no-ops) and a failing
//! step is a warning, not the end of the pass: a hub hiccup while checking an external
//! repo must not stop old repos from being cleaned up.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use kkoji_repodata::Remote;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::decide::{
    self, BackoffBook, DeleteDecision, EntryClass, ExpiryDecision, PruneDecision, RequestDecision,
    RequestLimits, TagView,
};
use crate::fsops::{self, Removed};
use crate::hub::{HubError, RegenHub};
use crate::model::{Repo, TagConfig, TagRef};

/// The numbers a pass needs, from [`Config`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub repos_dir: PathBuf,
    pub interval: f64,
    pub repo_lifetime: f64,
    pub deleted_repo_lifetime: f64,
    pub prune_grace: f64,
    pub external_check: f64,
    pub max_repo_tasks: usize,
    pub max_backoff: f64,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        Settings {
            repos_dir: c.repos_dir(),
            interval: c.interval_secs as f64,
            repo_lifetime: c.repo_lifetime_secs as f64,
            deleted_repo_lifetime: c.deleted_repo_lifetime_secs as f64,
            prune_grace: c.prune_grace_secs as f64,
            external_check: c.external_check_secs as f64,
            max_repo_tasks: usize::try_from(c.max_repo_tasks).unwrap_or(usize::MAX),
            max_backoff: c.request_backoff_max_secs as f64,
        }
    }
}

/// Remembers each recurring decision (back-off, rate limit, kept because referenced) so
/// it is logged at info when it starts or changes and at debug while it repeats.
#[derive(Debug, Default)]
pub struct Journal {
    last: HashMap<String, (String, u64)>,
    generation: u64,
}

impl Journal {
    /// True when `decision` for `key` differs from the previous pass's.
    pub fn changed(&mut self, key: String, decision: &str) -> bool {
        let generation = self.generation;
        match self.last.insert(key, (decision.to_owned(), generation)) {
            Some((prev, _)) => prev != decision,
            None => true,
        }
    }

    /// Ends a pass: decisions not seen in it are forgotten, so one that comes back later
    /// is logged at info again.
    fn end_pass(&mut self) {
        let generation = self.generation;
        self.last.retain(|_, (_, g)| *g == generation);
        self.generation += 1;
    }
}

/// What the daemon keeps between passes.
#[derive(Debug, Default)]
pub struct RegenState {
    pub backoff: BackoffBook,
    /// When each external repo was last checked.
    pub external_checked: HashMap<i64, f64>,
    pub journal: Journal,
}

/// What one pass did (for `--once`, tests and the end-of-pass summary).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PassReport {
    /// Tags a repo was requested for.
    pub requested: Vec<String>,
    pub backing_off: Vec<String>,
    pub rate_limited: Vec<String>,
    /// (external repo id, new max_ts).
    pub external_updated: Vec<(i64, i64)>,
    pub expired: Vec<i64>,
    pub deleted: Vec<i64>,
    pub kept_referenced: Vec<i64>,
    /// Directories removed by the prune step.
    pub pruned: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

impl PassReport {
    fn warn(&mut self, msg: String) {
        warn!("{msg}");
        self.warnings.push(msg);
    }
}

/// Seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs one pass at time `now`.
pub async fn run_pass<H: RegenHub>(
    hub: &H,
    remote: &Remote,
    s: &Settings,
    st: &mut RegenState,
    now: f64,
) -> PassReport {
    let mut rep = PassReport::default();

    // 1. end events first, so the repo list below knows which repos are superseded
    match hub.update_end_events().await {
        Ok(()) => debug!("repo.updateEndEvents done"),
        Err(e) => rep.warn(format!("repo.updateEndEvents failed: {e}")),
    }

    let managed = managed_tags(hub, &mut rep).await;
    let repos = match hub.live_repos().await {
        Ok(r) => Some(r),
        Err(e) => {
            rep.warn(format!(
                "cannot list repos ({e}); skipping requests, expiry and deletion this pass"
            ));
            None
        }
    };

    // 2. requests
    if let (Some((tags, _)), Some(repos)) = (&managed, &repos) {
        requests(hub, s, st, tags, repos, now, &mut rep).await;
    }

    // 3. external repos
    if let Some((tags, configs)) = &managed {
        external(hub, remote, s, st, tags, configs, now, &mut rep).await;
    }

    // 4. + 5. expiry and deletion
    if let Some(repos) = &repos {
        let protected = decide::protected_repos(repos);
        expiry(hub, s, repos, &protected, now, &mut rep).await;
        deletion(hub, s, st, repos, &protected, now, &mut rep).await;
    }

    // 6. prune
    prune(hub, s, repos.as_deref(), now, &mut rep).await;

    st.journal.end_pass();
    info!(
        requested = rep.requested.len(),
        expired = rep.expired.len(),
        deleted = rep.deleted.len(),
        pruned = rep.pruned.len(),
        external_updated = rep.external_updated.len(),
        warnings = rep.warnings.len(),
        "pass done"
    );
    rep
}

/// The tags this daemon keeps repos current for: build tags of build targets and tags
/// whose (inherited) extra has `repo.auto` true; with every tag's build config (arches).
async fn managed_tags<H: RegenHub>(
    hub: &H,
    rep: &mut PassReport,
) -> Option<(Vec<TagRef>, HashMap<i64, TagConfig>)> {
    let build_tags = match hub.build_tags().await {
        Ok(t) => t,
        Err(e) => {
            rep.warn(format!(
                "cannot list build targets ({e}); skipping requests and external repos"
            ));
            return None;
        }
    };
    let all = match hub.list_tags().await {
        Ok(t) => t,
        Err(e) => {
            rep.warn(format!(
                "cannot list tags ({e}); skipping requests and external repos"
            ));
            return None;
        }
    };
    let ids: Vec<i64> = all.iter().map(|t| t.id).collect();
    let configs = match hub.build_configs(&ids).await {
        Ok(c) => c,
        Err(e) => {
            rep.warn(format!(
                "cannot read tag configs ({e}); skipping requests and external repos"
            ));
            return None;
        }
    };
    let mut by_id = HashMap::new();
    for (t, c) in all.iter().zip(configs) {
        match c {
            Ok(c) => {
                by_id.insert(t.id, c);
            }
            // deleted since listTags: nothing to manage
            Err(e) => debug!(tag = %t.name, "no build config: {e}"),
        }
    }
    let mut tags: Vec<TagRef> = build_tags;
    for c in by_id.values().filter(|c| c.auto) {
        if !tags.iter().any(|t| t.id == c.tag.id) {
            tags.push(c.tag.clone());
        }
    }
    tags.sort_by_key(|t| t.id);
    debug!(count = tags.len(), "managed tags");
    Some((tags, by_id))
}

async fn requests<H: RegenHub>(
    hub: &H,
    s: &Settings,
    st: &mut RegenState,
    tags: &[TagRef],
    repos: &[Repo],
    now: f64,
    rep: &mut PassReport,
) {
    let ids: Vec<i64> = tags.iter().map(|t| t.id).collect();
    let events = match hub.last_change_events(&ids).await {
        Ok(e) => e,
        Err(e) => {
            rep.warn(format!(
                "tagLastChangeEvent failed ({e}); no requests this pass"
            ));
            return;
        }
    };
    let active = match hub.active_requests().await {
        Ok(a) => a,
        Err(e) => {
            rep.warn(format!(
                "repo.queryQueue failed ({e}); no requests this pass"
            ));
            return;
        }
    };
    let current = decide::current_repos(repos);
    let mut views = Vec::new();
    for (t, ev) in tags.iter().zip(events) {
        match ev {
            Ok(last) => views.push(TagView::new(t.clone(), last, &current)),
            Err(e) => rep.warn(format!("tagLastChangeEvent({}) failed: {e}", t.name)),
        }
    }
    let active_tags: HashSet<i64> = active
        .iter()
        .filter(|r| r.active)
        .map(|r| r.tag_id)
        .collect();
    // back-off bookkeeping: the last finished request of each stale tag without an active
    // one tells whether the last attempt for this tag event failed
    let waiting: Vec<&TagView> = views
        .iter()
        .filter(|v| v.is_stale() && !active_tags.contains(&v.tag.id))
        .collect();
    let waiting_ids: Vec<i64> = waiting.iter().map(|v| v.tag.id).collect();
    match hub.last_inactive_requests(&waiting_ids).await {
        Ok(last) => {
            for (v, r) in waiting.iter().zip(last) {
                match r {
                    Ok(r) => st.backoff.observe(v.tag.id, v.last_change, r.as_ref(), now),
                    Err(e) => rep.warn(format!(
                        "cannot read the request history of tag {}: {e}",
                        v.tag.name
                    )),
                }
            }
        }
        Err(e) => rep.warn(format!("repo.queryQueue (history) failed: {e}")),
    }
    for v in views.iter().filter(|v| !v.is_stale()) {
        st.backoff.clear(v.tag.id);
    }
    st.backoff.retain_tags(&ids.iter().copied().collect());

    let limits = RequestLimits {
        max_tasks: s.max_repo_tasks,
        interval: s.interval,
        max_backoff: s.max_backoff,
    };
    for p in decide::plan_requests(&views, &active, &st.backoff, limits, now) {
        let v = &p.view;
        let tag = v.tag.name.as_str();
        let repo_desc = match v.repo {
            Some((id, ev)) => format!("repo {id} at event {ev}"),
            None => "no READY repo".to_owned(),
        };
        let why = match v.repo {
            Some((id, ev)) => format!(
                "its newest READY repo {id} (event {ev}) predates the tag's last change (event {})",
                v.last_change
            ),
            None => format!(
                "no READY repo (the tag's last change is event {})",
                v.last_change
            ),
        };
        match p.decision {
            RequestDecision::Current => {
                debug!(tag, repo = ?v.repo, last_change = v.last_change, "repo is current");
            }
            RequestDecision::Active { request_id } => {
                debug!(
                    tag,
                    request = request_id,
                    "stale, a request is already active"
                );
            }
            RequestDecision::BackingOff { failures, until } => {
                let msg = format!(
                    "not requesting a repo for tag {tag}: {failures} request(s) for event {} \
                     failed; backing off until {:.0}s from now",
                    v.last_change,
                    (until - now).max(0.0)
                );
                let key = format!("backoff:{}", v.tag.id);
                if st
                    .journal
                    .changed(key, &format!("{}:{failures}", v.last_change))
                {
                    info!(tag, event = v.last_change, failures, "{msg}");
                } else {
                    debug!(tag, "{msg}");
                }
                rep.backing_off.push(tag.to_owned());
            }
            RequestDecision::RateLimited { running, max } => {
                let msg = format!(
                    "rate limited: tag {tag} is stale ({repo_desc} < last change {}) but \
                     {running} repo tasks are running (max_repo_tasks {max})",
                    v.last_change
                );
                if st
                    .journal
                    .changed(format!("ratelimit:{}", v.tag.id), "limited")
                {
                    info!(tag, "{msg}");
                } else {
                    debug!(tag, "{msg}");
                }
                rep.rate_limited.push(tag.to_owned());
            }
            RequestDecision::Request => {
                let retry = st
                    .backoff
                    .get(v.tag.id)
                    .map(|b| format!(", retrying after {} failed request(s)", b.failures))
                    .unwrap_or_default();
                match hub.request_repo(v.tag.id).await {
                    Ok(o) => {
                        info!(
                            tag,
                            request = ?o.request_id,
                            repo = ?o.repo_id,
                            duplicate = o.duplicate,
                            "requested a repo: {why}{retry}"
                        );
                        rep.requested.push(tag.to_owned());
                    }
                    Err(e) => rep.warn(format!("repo.request for tag {tag} failed: {e}")),
                }
            }
        }
    }
    match hub.check_queue().await {
        Ok(()) => debug!("repo.checkQueue done"),
        Err(e) => rep.warn(format!("repo.checkQueue failed: {e}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn external<H: RegenHub>(
    hub: &H,
    remote: &Remote,
    s: &Settings,
    st: &mut RegenState,
    tags: &[TagRef],
    configs: &HashMap<i64, TagConfig>,
    now: f64,
    rep: &mut PassReport,
) {
    let ids: Vec<i64> = tags.iter().map(|t| t.id).collect();
    let lists = match hub.external_repo_lists(&ids).await {
        Ok(l) => l,
        Err(e) => {
            rep.warn(format!("getExternalRepoList failed: {e}"));
            return;
        }
    };
    let mut links = Vec::new();
    for (t, l) in tags.iter().zip(lists) {
        match l {
            Ok(l) => links.extend(l),
            Err(e) => rep.warn(format!("getExternalRepoList({}) failed: {e}", t.name)),
        }
    }
    let arches: HashMap<i64, Vec<String>> = configs
        .iter()
        .map(|(id, c)| (*id, c.arches.clone()))
        .collect();
    let (checks, unexpandable) = decide::external_checks(&links, &arches);
    let in_use: HashSet<i64> = links.iter().map(|l| l.erepo_id).collect();
    st.external_checked.retain(|id, _| in_use.contains(id));
    for l in unexpandable {
        let key = format!("ext-noarch:{}:{}", l.erepo_id, l.tag_id);
        if st.journal.changed(key, "noarch") {
            rep.warn(format!(
                "external repo {} ({}) has $arch in its URL but tag {} has no arches; \
                 not checked for that tag",
                l.erepo_name, l.url, l.tag_id
            ));
        }
    }
    for c in checks {
        let last = st.external_checked.get(&c.erepo_id).copied();
        if !decide::external_due(last, now, s.external_check) {
            debug!(erepo = %c.name, "external repo checked recently");
            continue;
        }
        st.external_checked.insert(c.erepo_id, now);
        let mut newest: Option<i64> = None;
        let mut failed = false;
        for base in &c.base_urls {
            let url = decide::repomd_url(base);
            let (r, b) = (remote.clone(), base.clone());
            // errors name the repomd.xml URL (or file) themselves
            let ts = match tokio::task::spawn_blocking(move || r.repomd_timestamp(&b)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("{url}: check thread failed: {e}")),
            };
            match ts {
                Ok(ts) => {
                    debug!(erepo = %c.name, url, ts, "upstream timestamp");
                    newest = Some(newest.map_or(ts, |n| n.max(ts)));
                }
                Err(e) => {
                    rep.warn(format!(
                        "external repo {} (id {}): cannot read upstream {e}; unchanged",
                        c.name, c.erepo_id
                    ));
                    failed = true;
                }
            }
        }
        let Some(ts) = newest.filter(|_| !failed) else {
            continue;
        };
        let stored = match hub.external_max_ts(c.erepo_id).await {
            Ok(v) => v,
            Err(e) => {
                rep.warn(format!(
                    "repo.getExternalRepoData({}) failed: {e}",
                    c.erepo_id
                ));
                continue;
            }
        };
        match decide::external_update(ts, stored) {
            None => debug!(erepo = %c.name, ts, "external repo unchanged"),
            Some(new) => match hub.set_external_max_ts(c.erepo_id, new).await {
                Ok(()) => {
                    info!(
                        erepo = %c.name,
                        erepo_id = c.erepo_id,
                        old = ?stored,
                        new,
                        "external repo changed upstream; stored its new timestamp (tags \
                         using it become stale)"
                    );
                    rep.external_updated.push((c.erepo_id, new));
                }
                Err(e) => rep.warn(format!(
                    "repo.setExternalRepoData({}) failed: {e}",
                    c.erepo_id
                )),
            },
        }
    }
}

async fn expiry<H: RegenHub>(
    hub: &H,
    s: &Settings,
    repos: &[Repo],
    protected: &HashSet<i64>,
    now: f64,
    rep: &mut PassReport,
) {
    for (r, d) in decide::plan_expiry(repos, protected, now, s.repo_lifetime) {
        let (repo, tag) = (r.id, r.tag_name.as_str());
        match d {
            ExpiryDecision::Expire { age } => match hub.expire(repo).await {
                Ok(()) => {
                    info!(
                        repo,
                        tag,
                        end_event = ?r.end_event,
                        "expired repo: superseded {age:.0}s ago (repo_lifetime_secs {:.0})",
                        s.repo_lifetime
                    );
                    rep.expired.push(repo);
                }
                Err(e) => rep.warn(format!("repoExpire({repo}) for tag {tag} failed: {e}")),
            },
            ExpiryDecision::Newest => {
                debug!(
                    repo,
                    tag, "superseded but the newest READY repo of its tag; kept"
                );
            }
            ExpiryDecision::Current => debug!(repo, tag, "current repo"),
            ExpiryDecision::Young { age } => {
                debug!(repo, tag, "superseded {age:.0}s ago; not expired yet");
            }
            ExpiryDecision::NoTimestamp => debug!(repo, tag, "no timestamp; not expired"),
        }
    }
}

async fn deletion<H: RegenHub>(
    hub: &H,
    s: &Settings,
    st: &mut RegenState,
    repos: &[Repo],
    protected: &HashSet<i64>,
    now: f64,
    rep: &mut PassReport,
) {
    for (r, d) in decide::plan_deletion(repos, protected, now, s.deleted_repo_lifetime) {
        let (repo, tag, state) = (r.id, r.tag_name.as_str(), r.state);
        let age = match d {
            DeleteDecision::Candidate { age } => age,
            DeleteDecision::Newest => {
                debug!(repo, tag, %state, "newest repo of its tag; not deleted");
                continue;
            }
            DeleteDecision::Young { age } => {
                debug!(repo, tag, %state, "{state} for {age:.0}s; not deleted yet");
                continue;
            }
            DeleteDecision::NoTimestamp => {
                debug!(repo, tag, %state, "no timestamp; not deleted");
                continue;
            }
            DeleteDecision::Dist => {
                debug!(repo, tag, "dist repo; not managed here");
                continue;
            }
        };
        let refs = match hub.references(repo).await {
            Ok(n) => n,
            Err(e) => {
                rep.warn(format!("repo.references({repo}) failed: {e}"));
                continue;
            }
        };
        if !decide::reference_verdict(refs) {
            let msg = format!("{state} repo kept: {refs} active buildroot(s) still use it");
            if st
                .journal
                .changed(format!("refs:{repo}"), &refs.to_string())
            {
                info!(repo, tag, "{msg}");
            } else {
                debug!(repo, tag, "{msg}");
            }
            rep.kept_referenced.push(repo);
            continue;
        }
        match hub.delete(repo).await {
            Ok(0) => {
                info!(
                    repo,
                    tag,
                    %state,
                    "deleted repo: {state} for {age:.0}s (deleted_repo_lifetime_secs {:.0}), \
                     no references",
                    s.deleted_repo_lifetime
                );
                rep.deleted.push(repo);
                remove_dir(s, tag, repo, rep).await;
            }
            Ok(n) => {
                info!(
                    repo,
                    tag, "repoDelete refused: {n} reference(s) appeared; kept"
                );
                rep.kept_referenced.push(repo);
            }
            Err(e) => rep.warn(format!("repoDelete({repo}) for tag {tag} failed: {e}")),
        }
    }
}

/// Removes `<repos>/<tag>/<id>` after the hub marked the repo DELETED.
async fn remove_dir(s: &Settings, tag: &str, repo: i64, rep: &mut PassReport) {
    let repos_dir = s.repos_dir.clone();
    let tag_owned = tag.to_owned();
    let res = tokio::task::spawn_blocking(move || match fsops::tag_dir(&repos_dir, &tag_owned)? {
        None => Ok::<_, fsops::FsError>((repos_dir.join(&tag_owned), Removed::Absent)),
        Some(dir) => {
            let r = fsops::remove_repo_dir(&dir, &repo.to_string())?;
            Ok((dir, r))
        }
    })
    .await;
    match res {
        Ok(Ok((dir, Removed::Removed))) => {
            info!(repo, tag, dir = %dir.join(repo.to_string()).display(), "removed repo directory");
        }
        Ok(Ok((dir, Removed::Absent))) => {
            debug!(repo, tag, dir = %dir.display(), "repo had no directory");
        }
        Ok(Err(e)) => rep.warn(format!("repo {repo} of tag {tag}: cannot remove: {e}")),
        Err(e) => rep.warn(format!("repo {repo}: removal thread failed: {e}")),
    }
}

async fn prune<H: RegenHub>(
    hub: &H,
    s: &Settings,
    repos: Option<&[Repo]>,
    now: f64,
    rep: &mut PassReport,
) {
    let repos_dir = s.repos_dir.clone();
    let scanned = tokio::task::spawn_blocking(move || fsops::scan(&repos_dir)).await;
    let (tags, skipped) = match scanned {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            rep.warn(format!("cannot scan the repos directory: {e}"));
            return;
        }
        Err(e) => {
            rep.warn(format!("repos scan thread failed: {e}"));
            return;
        }
    };
    for name in skipped {
        debug!(entry = %name, "repos/ entry is not a real directory; left alone");
    }
    let known: HashSet<i64> = repos.unwrap_or_default().iter().map(|r| r.id).collect();
    let mut candidates: Vec<(PathBuf, String, i64, f64)> = Vec::new();
    for t in &tags {
        for e in &t.entries {
            match decide::classify_entry(&e.name, e.kind, t.latest_target.as_deref()) {
                EntryClass::Ignore(why) => {
                    debug!(tag = %t.name, entry = %e.name, "left alone: {why}");
                }
                EntryClass::Leftover => {
                    let path = t.path.join(&e.name);
                    let p2 = path.clone();
                    match tokio::task::spawn_blocking(move || fsops::remove_leftover(&p2)).await {
                        Ok(Ok(_)) => {
                            info!(path = %path.display(), "removed leftover of an interrupted removal");
                            rep.pruned.push(path);
                        }
                        Ok(Err(e)) => rep.warn(format!("cannot remove leftover: {e}")),
                        Err(e) => rep.warn(format!("removal thread failed: {e}")),
                    }
                }
                EntryClass::Repo(id) if known.contains(&id) => {
                    debug!(tag = %t.name, repo = id, "directory of a live repo");
                }
                EntryClass::Repo(id) => {
                    candidates.push((t.path.clone(), t.name.clone(), id, e.mtime));
                }
            }
        }
    }
    if candidates.is_empty() {
        return;
    }
    let ids: Vec<i64> = candidates.iter().map(|c| c.2).collect();
    let infos = match hub.repo_infos(&ids).await {
        Ok(i) => i,
        Err(e) => {
            rep.warn(format!("repoInfo failed ({e}); nothing pruned"));
            return;
        }
    };
    for ((tag_dir, tag, id, mtime), info) in candidates.into_iter().zip(infos) {
        let info: Option<Repo> = match info {
            Ok(i) => i,
            Err(e) => {
                rep.warn(format!("repoInfo({id}) failed: {e}; directory kept"));
                continue;
            }
        };
        let reason = match decide::plan_prune(info.as_ref(), mtime, now, s.prune_grace) {
            PruneDecision::Known(state) => {
                debug!(tag, repo = id, %state, "directory of a live repo");
                continue;
            }
            PruneDecision::Young { age } => {
                debug!(
                    tag,
                    repo = id,
                    "stray directory only {age:.0}s old; left for now"
                );
                continue;
            }
            PruneDecision::RemoveUnknown { age } => {
                format!("the hub does not know repo {id}; untouched for {age:.0}s")
            }
            PruneDecision::RemoveDeleted { age } => {
                format!("repo {id} is DELETED; untouched for {age:.0}s")
            }
        };
        let dir = tag_dir.clone();
        let res =
            tokio::task::spawn_blocking(move || fsops::remove_repo_dir(&dir, &id.to_string()))
                .await;
        let path = tag_dir.join(id.to_string());
        match res {
            Ok(Ok(Removed::Removed)) => {
                info!(tag, repo = id, path = %path.display(), "pruned stray repo directory: {reason}");
                rep.pruned.push(path);
            }
            Ok(Ok(Removed::Absent)) => debug!(tag, repo = id, "already gone"),
            Ok(Err(e)) => rep.warn(format!("cannot prune: {e}")),
            Err(e) => rep.warn(format!("prune thread failed: {e}")),
        }
    }
}

/// A hub error worth stopping the daemon for rather than retrying next pass.
pub fn is_fatal(e: &HubError) -> bool {
    matches!(e, HubError::Permission(_))
        || matches!(
            e.fault_code(),
            Some(koji_protocol::codes::AUTH | koji_protocol::codes::AUTH_LOCK)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExternalLink, RepoRequest, RepoState, RequestOutcome};
    use std::sync::Mutex;
    use std::time::{Duration, SystemTime};

    #[derive(Default)]
    struct Fake {
        targets: Vec<TagRef>,
        configs: Vec<TagConfig>,
        last_change: HashMap<i64, i64>,
        repos: Vec<Repo>,
        requests: Vec<RepoRequest>,
        refs: HashMap<i64, usize>,
        links: Vec<ExternalLink>,
        ext_data: HashMap<i64, i64>,
        calls: Vec<String>,
    }

    struct FakeHub(Mutex<Fake>);

    impl FakeHub {
        fn with<T>(&self, f: impl FnOnce(&mut Fake) -> T) -> T {
            let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut g)
        }
    }

    impl RegenHub for FakeHub {
        async fn update_end_events(&self) -> Result<(), HubError> {
            self.with(|f| f.calls.push("updateEndEvents".into()));
            Ok(())
        }
        async fn build_tags(&self) -> Result<Vec<TagRef>, HubError> {
            Ok(self.with(|f| f.targets.clone()))
        }
        async fn list_tags(&self) -> Result<Vec<TagRef>, HubError> {
            Ok(self.with(|f| f.configs.iter().map(|c| c.tag.clone()).collect()))
        }
        async fn build_configs(
            &self,
            tags: &[i64],
        ) -> Result<crate::hub::Each<TagConfig>, HubError> {
            Ok(self.with(|f| {
                tags.iter()
                    .map(|t| {
                        f.configs
                            .iter()
                            .find(|c| c.tag.id == *t)
                            .cloned()
                            .ok_or_else(|| HubError::Permission("no such tag".into()))
                    })
                    .collect()
            }))
        }
        async fn last_change_events(
            &self,
            tags: &[i64],
        ) -> Result<crate::hub::Each<i64>, HubError> {
            Ok(self.with(|f| tags.iter().map(|t| Ok(f.last_change[t])).collect()))
        }
        async fn live_repos(&self) -> Result<Vec<Repo>, HubError> {
            Ok(self.with(|f| {
                f.repos
                    .iter()
                    .filter(|r| r.state != RepoState::Deleted)
                    .cloned()
                    .collect()
            }))
        }
        async fn active_requests(&self) -> Result<Vec<RepoRequest>, HubError> {
            Ok(self.with(|f| f.requests.iter().filter(|r| r.active).cloned().collect()))
        }
        async fn last_inactive_requests(
            &self,
            tags: &[i64],
        ) -> Result<crate::hub::Each<Option<RepoRequest>>, HubError> {
            Ok(self.with(|f| {
                tags.iter()
                    .map(|t| {
                        Ok(f.requests
                            .iter()
                            .filter(|r| r.tag_id == *t && !r.active)
                            .max_by_key(|r| r.id)
                            .cloned())
                    })
                    .collect()
            }))
        }
        async fn request_repo(&self, tag: i64) -> Result<RequestOutcome, HubError> {
            Ok(self.with(|f| {
                let id = 1000 + f.requests.len() as i64;
                f.calls.push(format!("request {tag}"));
                f.requests.push(RepoRequest {
                    id,
                    tag_id: tag,
                    min_event: f.last_change.get(&tag).copied(),
                    active: true,
                    task_id: None,
                    task_state: None,
                    repo_id: None,
                    update_ts: None,
                    tries: None,
                });
                RequestOutcome {
                    request_id: Some(id),
                    repo_id: None,
                    duplicate: false,
                }
            }))
        }
        async fn check_queue(&self) -> Result<(), HubError> {
            self.with(|f| f.calls.push("checkQueue".into()));
            Ok(())
        }
        async fn external_repo_lists(
            &self,
            tags: &[i64],
        ) -> Result<crate::hub::Each<Vec<ExternalLink>>, HubError> {
            Ok(self.with(|f| {
                tags.iter()
                    .map(|t| Ok(f.links.iter().filter(|l| l.tag_id == *t).cloned().collect()))
                    .collect()
            }))
        }
        async fn external_max_ts(&self, erepo: i64) -> Result<Option<i64>, HubError> {
            Ok(self.with(|f| f.ext_data.get(&erepo).copied()))
        }
        async fn set_external_max_ts(&self, erepo: i64, ts: i64) -> Result<(), HubError> {
            self.with(|f| {
                f.calls.push(format!("setExternal {erepo} {ts}"));
                f.ext_data.insert(erepo, ts);
            });
            Ok(())
        }
        async fn expire(&self, repo: i64) -> Result<(), HubError> {
            self.with(|f| {
                f.calls.push(format!("expire {repo}"));
                if let Some(r) = f.repos.iter_mut().find(|r| r.id == repo) {
                    r.state = RepoState::Expired;
                    r.state_ts = Some(super::now());
                }
            });
            Ok(())
        }
        async fn references(&self, repo: i64) -> Result<usize, HubError> {
            Ok(self.with(|f| f.refs.get(&repo).copied().unwrap_or(0)))
        }
        async fn delete(&self, repo: i64) -> Result<i64, HubError> {
            Ok(self.with(|f| {
                f.calls.push(format!("delete {repo}"));
                if let Some(r) = f.repos.iter_mut().find(|r| r.id == repo) {
                    r.state = RepoState::Deleted;
                }
                0
            }))
        }
        async fn repo_infos(
            &self,
            ids: &[i64],
        ) -> Result<crate::hub::Each<Option<Repo>>, HubError> {
            Ok(self.with(|f| {
                ids.iter()
                    .map(|i| Ok(f.repos.iter().find(|r| r.id == *i).cloned()))
                    .collect()
            }))
        }
    }

    fn tag(id: i64, name: &str) -> TagRef {
        TagRef {
            id,
            name: name.into(),
        }
    }

    fn repo(id: i64, t: &TagRef, state: RepoState, event: i64, state_ts: f64) -> Repo {
        Repo {
            id,
            tag_id: t.id,
            tag_name: t.name.clone(),
            state,
            dist: false,
            create_event: event,
            end_event: None,
            state_ts: Some(state_ts),
            end_ts: None,
            creation_ts: Some(state_ts),
            task_id: None,
            custom_opts: false,
            problem: None,
        }
    }

    fn set_mtime(p: &std::path::Path, t: SystemTime) {
        let f = std::fs::File::open(p).unwrap();
        f.set_times(std::fs::FileTimes::new().set_modified(t))
            .unwrap();
    }

    #[tokio::test]
    async fn one_pass_applies_every_rule() {
        let top = tempfile::tempdir().unwrap();
        let repos_dir = top.path().join("repos");
        let now_st = SystemTime::now();
        let now = now_st
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let old = now - 100_000.0;
        let build = tag(1, "f40-build");
        let auto = tag(2, "f40-auto");
        let plain = tag(3, "plain");

        let mut r10 = repo(10, &build, RepoState::Ready, 5, old);
        r10.end_event = Some(6);
        r10.end_ts = Some(old);
        let mut r11 = repo(11, &build, RepoState::Ready, 6, old);
        r11.end_event = Some(8);
        r11.end_ts = Some(old);
        let r12 = repo(12, &build, RepoState::Expired, 4, old);
        let r13 = repo(13, &build, RepoState::Expired, 3, old);
        let r14 = repo(14, &build, RepoState::Problem, 7, old);
        let r15 = repo(15, &build, RepoState::Expired, 2, now - 5.0);
        let r20 = repo(20, &build, RepoState::Deleted, 1, old);
        let r30 = repo(30, &plain, RepoState::Ready, 1, old);

        // upstream repo for the external check
        let upstream = top.path().join("upstream/x86_64");
        std::fs::create_dir_all(upstream.join("repodata")).unwrap();
        std::fs::write(
            upstream.join("repodata/repomd.xml"),
            "<repomd><data type=\"primary\"><timestamp>1700000123</timestamp></data></repomd>",
        )
        .unwrap();
        let ext_url = format!("file://{}/$arch/", top.path().join("upstream").display());

        let fake = Fake {
            targets: vec![build.clone()],
            configs: vec![
                TagConfig {
                    tag: build.clone(),
                    arches: vec!["x86_64".into()],
                    auto: false,
                },
                TagConfig {
                    tag: auto.clone(),
                    arches: vec![],
                    auto: true,
                },
                TagConfig {
                    tag: plain.clone(),
                    arches: vec![],
                    auto: false,
                },
            ],
            last_change: HashMap::from([(1, 8), (2, 9), (3, 5)]),
            repos: vec![r10, r11, r12, r13, r14, r15, r20, r30],
            // tag 2's last request for event 9 failed just now: back off
            requests: vec![RepoRequest {
                id: 500,
                tag_id: 2,
                min_event: Some(9),
                active: false,
                task_id: Some(77),
                task_state: Some(5),
                repo_id: None,
                update_ts: Some(now - 1.0),
                tries: Some(3),
            }],
            refs: HashMap::from([(12, 2)]),
            links: vec![ExternalLink {
                tag_id: 1,
                erepo_id: 40,
                erepo_name: "fedora".into(),
                url: ext_url.clone(),
                arches: vec![],
            }],
            ..Default::default()
        };
        let hub = FakeHub(Mutex::new(fake));

        // the tree: live repos, a deleted repo's leftover dir, strays old and new
        let tagdir = repos_dir.join("f40-build");
        for d in ["11", "12", "13", "20", "98", "99", ".deleting-5/x", "notes"] {
            std::fs::create_dir_all(tagdir.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("11", tagdir.join("latest")).unwrap();
        // 13's toplink must not be followed by the removal
        std::os::unix::fs::symlink("../../..", tagdir.join("13/toplink")).unwrap();
        let old_st = now_st - Duration::from_secs(100_000);
        for d in ["20", "99"] {
            set_mtime(&tagdir.join(d), old_st);
        }

        let settings = Settings {
            repos_dir: repos_dir.clone(),
            interval: 10.0,
            repo_lifetime: 3600.0,
            deleted_repo_lifetime: 3600.0,
            prune_grace: 3600.0,
            external_check: 300.0,
            max_repo_tasks: 10,
            max_backoff: 3600.0,
        };
        let remote = Remote::new(Duration::from_secs(5));
        let mut st = RegenState::default();
        let rep = run_pass(&hub, &remote, &settings, &mut st, now).await;

        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        assert_eq!(rep.requested, vec!["f40-build"]);
        assert_eq!(rep.backing_off, vec!["f40-auto"]);
        assert_eq!(rep.expired, vec![10]);
        assert_eq!(rep.deleted, vec![13, 14]);
        assert_eq!(rep.kept_referenced, vec![12]);
        assert_eq!(rep.external_updated, vec![(40, 1_700_000_123)]);
        let mut pruned: Vec<String> = rep
            .pruned
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        pruned.sort();
        assert_eq!(pruned, vec![".deleting-5", "20", "99"]);
        for gone in ["13", "20", "99", ".deleting-5", ".deleting-13"] {
            assert!(!tagdir.join(gone).exists(), "{gone} still there");
        }
        for kept in ["11", "12", "98", "notes", "latest"] {
            assert!(
                tagdir.join(kept).symlink_metadata().is_ok(),
                "{kept} was removed"
            );
        }
        assert!(
            top.path()
                .join("upstream/x86_64/repodata/repomd.xml")
                .exists()
        );
        let calls = hub.with(|f| f.calls.clone());
        assert_eq!(calls.first().map(String::as_str), Some("updateEndEvents"));
        assert!(calls.contains(&"checkQueue".to_owned()));
        assert!(!calls.iter().any(|c| c == "request 3" || c == "request 2"));

        // second pass: the request is active, the back-off holds, the external repo is
        // not due, nothing else to do
        let rep = run_pass(&hub, &remote, &settings, &mut st, now + 2.0).await;
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        assert!(rep.requested.is_empty());
        assert_eq!(rep.backing_off, vec!["f40-auto"]);
        assert!(rep.expired.is_empty() && rep.deleted.is_empty() && rep.pruned.is_empty());
        assert!(rep.external_updated.is_empty());
        // after the back-off (10 s after the failure) tag 2 is requested again
        let rep = run_pass(&hub, &remote, &settings, &mut st, now + 20.0).await;
        assert_eq!(rep.requested, vec!["f40-auto"]);
    }

    #[test]
    fn journal_reports_changes_once() {
        let mut j = Journal::default();
        assert!(j.changed("a".into(), "x"));
        j.end_pass();
        assert!(!j.changed("a".into(), "x"));
        assert!(j.changed("a".into(), "y"));
        j.end_pass();
        j.end_pass(); // a pass without "a": forgotten
        assert!(j.changed("a".into(), "y"));
    }
}
