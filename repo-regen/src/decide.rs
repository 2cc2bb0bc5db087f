//! The daemon's decisions as pure functions over plain data (repos, tags, requests, the
//! current time), so every rule — the newest repo is never expired or deleted, a
//! referenced repo is never deleted, lifetimes, back-off — is unit-tested without a hub.
//! Time is seconds since the epoch as `f64`, like the hub's `*_ts` fields.

use std::collections::{HashMap, HashSet};

use crate::model::{ExternalLink, Repo, RepoRequest, RepoState, TagRef};

// ---------------------------------------------------------------------------------------
// Which repos are "the newest of their tag"

/// Orders repos of one tag: the later create_event wins, then the higher id (two repos
/// of the same event: the later one is the one `latest` points at).
fn newer(a: &Repo, b: &Repo) -> bool {
    (a.create_event, a.id) > (b.create_event, b.id)
}

/// The newest READY non-dist repo with default options per tag: the repo builds use,
/// so the one whose age decides whether the tag needs a new repo.
pub fn current_repos(repos: &[Repo]) -> HashMap<i64, &Repo> {
    let mut out: HashMap<i64, &Repo> = HashMap::new();
    for r in repos
        .iter()
        .filter(|r| r.state == RepoState::Ready && !r.dist && !r.custom_opts)
    {
        match out.get(&r.tag_id) {
            Some(cur) if !newer(r, cur) => {}
            _ => {
                out.insert(r.tag_id, r);
            }
        }
    }
    out
}

/// Repos that are never expired or deleted, whatever their age: per tag the newest READY
/// repo (with default options, and the newest READY of any options), or — for a tag that
/// has no READY repo — its newest EXPIRED one. A tag must always keep the repo `latest`
/// points at and that a build could still fall back to; a PROBLEM repo is never
/// "the newest" because nothing can use it.
pub fn protected_repos(repos: &[Repo]) -> HashSet<i64> {
    fn keep_newest<'a>(map: &mut HashMap<i64, &'a Repo>, r: &'a Repo) {
        match map.get(&r.tag_id) {
            Some(cur) if !newer(r, cur) => {}
            _ => {
                map.insert(r.tag_id, r);
            }
        }
    }
    let mut ready_any: HashMap<i64, &Repo> = HashMap::new();
    let mut expired: HashMap<i64, &Repo> = HashMap::new();
    for r in repos.iter().filter(|r| !r.dist) {
        match r.state {
            RepoState::Ready => keep_newest(&mut ready_any, r),
            RepoState::Expired => keep_newest(&mut expired, r),
            _ => {}
        }
    }
    let mut out: HashSet<i64> = current_repos(repos).values().map(|r| r.id).collect();
    out.extend(ready_any.values().map(|r| r.id));
    for (tag, r) in &expired {
        if !ready_any.contains_key(tag) {
            out.insert(r.id);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Repo requests

/// A tag the daemon keeps a current repo for, with what the hub says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct TagView {
    pub tag: TagRef,
    /// `tagLastChangeEvent(tag)`.
    pub last_change: i64,
    /// The tag's current repo: (id, create_event).
    pub repo: Option<(i64, i64)>,
}

impl TagView {
    /// Builds the view from the repo list.
    pub fn new(tag: TagRef, last_change: i64, current: &HashMap<i64, &Repo>) -> TagView {
        let repo = current.get(&tag.id).map(|r| (r.id, r.create_event));
        TagView {
            tag,
            last_change,
            repo,
        }
    }

    /// The tag changed after its newest READY repo was made, or it has none.
    pub fn is_stale(&self) -> bool {
        match self.repo {
            Some((_, event)) => event < self.last_change,
            None => true,
        }
    }
}

/// Failed requests per tag, so a tag whose newRepo keeps failing is not re-requested
/// every pass (each request burns a task and a builder slot for nothing).
#[derive(Debug, Clone, Default)]
pub struct BackoffBook {
    entries: HashMap<i64, Backoff>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The tag event the failed requests were for.
    pub event: i64,
    /// Failed requests seen for that event.
    pub failures: u32,
    /// The last failed request counted (each is counted once).
    pub last_request: i64,
    /// When it failed (its update_ts).
    pub failed_at: f64,
}

/// The wait after `failures` failed requests: `interval`, doubling, at most `max`.
pub fn backoff_delay(failures: u32, interval: f64, max: f64) -> f64 {
    let doublings = failures.saturating_sub(1).min(40);
    (interval * f64::from(1u32 << doublings.min(31))).min(max)
}

impl BackoffBook {
    /// Takes in the tag's most recent inactive request. A failed one for the tag's current
    /// change event counts (once); anything else — the tag changed since, or the last
    /// request produced a repo — clears the tag's record.
    pub fn observe(
        &mut self,
        tag_id: i64,
        last_change: i64,
        last_inactive: Option<&RepoRequest>,
        now: f64,
    ) {
        let failed = last_inactive
            .filter(|r| r.failed())
            .filter(|r| r.min_event.is_some_and(|e| e >= last_change));
        let Some(req) = failed else {
            self.entries.remove(&tag_id);
            return;
        };
        let failed_at = req.update_ts.unwrap_or(now);
        match self.entries.get_mut(&tag_id) {
            Some(b) if b.event == last_change => {
                if b.last_request != req.id {
                    b.failures = b.failures.saturating_add(1);
                    b.last_request = req.id;
                    b.failed_at = failed_at;
                }
            }
            _ => {
                self.entries.insert(
                    tag_id,
                    Backoff {
                        event: last_change,
                        failures: 1,
                        last_request: req.id,
                        failed_at,
                    },
                );
            }
        }
    }

    /// Forgets a tag that is current again (or no longer managed).
    pub fn clear(&mut self, tag_id: i64) {
        self.entries.remove(&tag_id);
    }

    pub fn get(&self, tag_id: i64) -> Option<&Backoff> {
        self.entries.get(&tag_id)
    }

    /// Until when a new request for the tag at `last_change` must wait, if it must.
    pub fn blocked_until(
        &self,
        tag_id: i64,
        last_change: i64,
        now: f64,
        interval: f64,
        max: f64,
    ) -> Option<(f64, u32)> {
        let b = self.entries.get(&tag_id)?;
        if b.event != last_change {
            return None;
        }
        let until = b.failed_at + backoff_delay(b.failures, interval, max);
        (now < until).then_some((until, b.failures))
    }

    /// Drops tags no longer managed, so the book does not grow forever.
    pub fn retain_tags(&mut self, tags: &HashSet<i64>) {
        self.entries.retain(|t, _| tags.contains(t));
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RequestDecision {
    /// The newest READY repo is at least as new as the tag's last change.
    Current,
    /// A request for the tag is already queued or running.
    Active { request_id: i64 },
    /// The last request for this very tag event failed; waiting.
    BackingOff { failures: u32, until: f64 },
    /// Too many repo tasks running already.
    RateLimited { running: usize, max: usize },
    /// Ask the hub for a repo.
    Request,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    pub view: TagView,
    pub decision: RequestDecision,
}

/// Request-time settings.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_tasks: usize,
    pub interval: f64,
    pub max_backoff: f64,
}

/// Decides, per managed tag, whether to request a repo. Stale tags are considered most
/// stale first (no repo at all, then the oldest repo), so under rate limiting the tags
/// that waited longest get their repos first. New requests count against `max_tasks`
/// (each will get a task on the hub's next checkQueue).
pub fn plan_requests(
    views: &[TagView],
    active: &[RepoRequest],
    book: &BackoffBook,
    limits: RequestLimits,
    now: f64,
) -> Vec<RequestPlan> {
    let mut running = active.iter().filter(|r| r.has_running_task()).count();
    let active_by_tag: HashMap<i64, i64> = active
        .iter()
        .filter(|r| r.active)
        .map(|r| (r.tag_id, r.id))
        .collect();
    let mut order: Vec<&TagView> = views.iter().collect();
    order.sort_by_key(|v| (!v.is_stale(), v.repo.map(|(_, e)| e), v.tag.id));
    let mut out = Vec::with_capacity(views.len());
    for v in order {
        let decision = if !v.is_stale() {
            RequestDecision::Current
        } else if let Some(&request_id) = active_by_tag.get(&v.tag.id) {
            RequestDecision::Active { request_id }
        } else if let Some((until, failures)) = book.blocked_until(
            v.tag.id,
            v.last_change,
            now,
            limits.interval,
            limits.max_backoff,
        ) {
            RequestDecision::BackingOff { failures, until }
        } else if running >= limits.max_tasks {
            RequestDecision::RateLimited {
                running,
                max: limits.max_tasks,
            }
        } else {
            running += 1;
            RequestDecision::Request
        };
        out.push(RequestPlan {
            view: v.clone(),
            decision,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------
// Expiry and deletion

#[derive(Debug, Clone, PartialEq)]
pub enum ExpiryDecision {
    Expire {
        age: f64,
    },
    /// The tag has not changed since this repo (no end_event).
    Current,
    /// Superseded, but the newest READY repo of its tag.
    Newest,
    /// Superseded for less than the lifetime.
    Young {
        age: f64,
    },
    /// No timestamp to measure the age by.
    NoTimestamp,
}

/// Age since the repo was superseded: end_ts, or failing that state_ts / creation_ts.
fn superseded_age(r: &Repo, now: f64) -> Option<f64> {
    r.end_ts.or(r.state_ts).or(r.creation_ts).map(|ts| now - ts)
}

/// For every READY non-dist repo: expire it once its tag has moved on (end_event set) for
/// longer than `lifetime`, unless it is protected (see [`protected_repos`]).
pub fn plan_expiry<'a>(
    repos: &'a [Repo],
    protected: &HashSet<i64>,
    now: f64,
    lifetime: f64,
) -> Vec<(&'a Repo, ExpiryDecision)> {
    repos
        .iter()
        .filter(|r| r.state == RepoState::Ready && !r.dist)
        .map(|r| {
            let d = if r.end_event.is_none() {
                ExpiryDecision::Current
            } else if protected.contains(&r.id) {
                ExpiryDecision::Newest
            } else {
                match superseded_age(r, now) {
                    None => ExpiryDecision::NoTimestamp,
                    Some(age) if age > lifetime => ExpiryDecision::Expire { age },
                    Some(age) => ExpiryDecision::Young { age },
                }
            };
            (r, d)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeleteDecision {
    /// Old enough: check references, then repoDelete.
    Candidate {
        age: f64,
    },
    Newest,
    Young {
        age: f64,
    },
    NoTimestamp,
    /// Dist repos live elsewhere and are not this daemon's.
    Dist,
}

/// For every EXPIRED or PROBLEM repo: a deletion candidate once it has been in that state
/// longer than `lifetime`, unless protected. References are checked by the caller (they
/// need the hub) right before deleting: see [`reference_verdict`].
pub fn plan_deletion<'a>(
    repos: &'a [Repo],
    protected: &HashSet<i64>,
    now: f64,
    lifetime: f64,
) -> Vec<(&'a Repo, DeleteDecision)> {
    repos
        .iter()
        .filter(|r| matches!(r.state, RepoState::Expired | RepoState::Problem))
        .map(|r| {
            let d = if r.dist {
                DeleteDecision::Dist
            } else if protected.contains(&r.id) {
                DeleteDecision::Newest
            } else {
                match r.state_ts.or(r.creation_ts) {
                    None => DeleteDecision::NoTimestamp,
                    Some(ts) if now - ts > lifetime => DeleteDecision::Candidate { age: now - ts },
                    Some(ts) => DeleteDecision::Young { age: now - ts },
                }
            };
            (r, d)
        })
        .collect()
}

/// A candidate is deleted only when no buildroot references it.
pub fn reference_verdict(references: usize) -> bool {
    references == 0
}

// ---------------------------------------------------------------------------------------
// Pruning the repos directory

/// What an entry of `<topdir>/repos/<tag>/` is, by name and type alone.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryClass {
    /// A numeric directory: a repo the hub should know.
    Repo(i64),
    /// A `.deleting-*` directory left by an interrupted removal.
    Leftover,
    /// Left alone: symlinks (`latest`), files, other names.
    Ignore(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    Symlink,
    Other,
}

pub const DELETING_PREFIX: &str = ".deleting-";

pub fn classify_entry(name: &str, kind: EntryKind, latest_target: Option<&str>) -> EntryClass {
    match kind {
        EntryKind::Symlink => return EntryClass::Ignore("symlink"),
        EntryKind::Other => return EntryClass::Ignore("not a directory"),
        EntryKind::Dir => {}
    }
    if name.starts_with(DELETING_PREFIX) {
        return EntryClass::Leftover;
    }
    if !name.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return EntryClass::Ignore("not a repo id");
    }
    if latest_target == Some(name) {
        return EntryClass::Ignore("target of latest");
    }
    match name.parse::<i64>() {
        Ok(id) if id > 0 => EntryClass::Repo(id),
        _ => EntryClass::Ignore("not a repo id"),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PruneDecision {
    /// The hub has never heard of this repo.
    RemoveUnknown { age: f64 },
    /// The hub marked it DELETED; its directory stayed behind.
    RemoveDeleted { age: f64 },
    /// A live repo (any state but DELETED): not ours to remove here.
    Known(RepoState),
    /// Unknown or deleted, but modified recently.
    Young { age: f64 },
}

/// A numeric directory is removed when the hub does not know the repo or has it DELETED,
/// and the directory was not modified for `grace` seconds (a repo being initialized may
/// have its directory before its row is visible).
pub fn plan_prune(info: Option<&Repo>, mtime: f64, now: f64, grace: f64) -> PruneDecision {
    let age = now - mtime;
    match info {
        Some(r) if r.state != RepoState::Deleted => PruneDecision::Known(r.state),
        _ if age < grace => PruneDecision::Young { age },
        Some(_) => PruneDecision::RemoveDeleted { age },
        None => PruneDecision::RemoveUnknown { age },
    }
}

// ---------------------------------------------------------------------------------------
// External repos

/// One external repo to check: every `repomd.xml` URL it has for the arches of the tags
/// that use it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalCheck {
    pub erepo_id: i64,
    pub name: String,
    pub base_urls: Vec<String>,
}

/// Groups tag links by external repo and expands `$arch` with the link's arches, or the
/// tag's arches when the link has none. An `$arch` URL with no arch to expand cannot be
/// checked: returned separately so the caller can warn.
pub fn external_checks(
    links: &[ExternalLink],
    tag_arches: &HashMap<i64, Vec<String>>,
) -> (Vec<ExternalCheck>, Vec<ExternalLink>) {
    let mut by_repo: Vec<ExternalCheck> = Vec::new();
    let mut unexpandable = Vec::new();
    for l in links {
        let urls: Vec<String> = if l.url.contains("$arch") {
            let arches = if l.arches.is_empty() {
                tag_arches.get(&l.tag_id).cloned().unwrap_or_default()
            } else {
                l.arches.clone()
            };
            if arches.is_empty() {
                unexpandable.push(l.clone());
                continue;
            }
            arches.iter().map(|a| l.url.replace("$arch", a)).collect()
        } else {
            vec![l.url.clone()]
        };
        let entry = match by_repo.iter_mut().position(|c| c.erepo_id == l.erepo_id) {
            Some(i) => &mut by_repo[i],
            None => {
                by_repo.push(ExternalCheck {
                    erepo_id: l.erepo_id,
                    name: l.erepo_name.clone(),
                    base_urls: Vec::new(),
                });
                let last = by_repo.len() - 1;
                &mut by_repo[last]
            }
        };
        for u in urls {
            if !entry.base_urls.contains(&u) {
                entry.base_urls.push(u);
            }
        }
    }
    by_repo.sort_by_key(|c| c.erepo_id);
    (by_repo, unexpandable)
}

/// `<base>/repodata/repomd.xml`.
pub fn repomd_url(base: &str) -> String {
    format!("{}/repodata/repomd.xml", base.trim_end_matches('/'))
}

/// The value to store, when the upstream timestamp differs from the stored one (a
/// rollback upstream changes the repo contents as much as an update does).
pub fn external_update(fetched: i64, stored: Option<i64>) -> Option<i64> {
    (stored != Some(fetched)).then_some(fetched)
}

/// Whether an external repo is due for a check.
pub fn external_due(last_checked: Option<f64>, now: f64, every: f64) -> bool {
    last_checked.is_none_or(|t| now - t >= every)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_000_000.0;

    fn repo(id: i64, tag: i64, state: RepoState, event: i64) -> Repo {
        Repo {
            id,
            tag_id: tag,
            tag_name: format!("tag{tag}"),
            state,
            dist: false,
            create_event: event,
            end_event: None,
            state_ts: Some(NOW - 10.0),
            end_ts: None,
            creation_ts: Some(NOW - 20.0),
            task_id: None,
            custom_opts: false,
            problem: None,
        }
    }

    fn superseded(mut r: Repo, end_event: i64, end_age: f64) -> Repo {
        r.end_event = Some(end_event);
        r.end_ts = Some(NOW - end_age);
        r
    }

    fn aged(mut r: Repo, state_age: f64) -> Repo {
        r.state_ts = Some(NOW - state_age);
        r
    }

    fn request(id: i64, tag: i64, active: bool, min_event: i64) -> RepoRequest {
        RepoRequest {
            id,
            tag_id: tag,
            min_event: Some(min_event),
            active,
            task_id: None,
            task_state: None,
            repo_id: None,
            update_ts: Some(NOW - 5.0),
            tries: None,
        }
    }

    fn view(tag: i64, last_change: i64, repo: Option<(i64, i64)>) -> TagView {
        TagView {
            tag: TagRef {
                id: tag,
                name: format!("tag{tag}"),
            },
            last_change,
            repo,
        }
    }

    const LIMITS: RequestLimits = RequestLimits {
        max_tasks: 10,
        interval: 10.0,
        max_backoff: 3600.0,
    };

    #[test]
    fn newest_ready_is_protected_per_tag() {
        let repos = vec![
            repo(1, 1, RepoState::Ready, 10),
            repo(2, 1, RepoState::Ready, 20),
            repo(3, 1, RepoState::Expired, 30),
            repo(4, 2, RepoState::Expired, 5),
            repo(5, 2, RepoState::Expired, 6),
            repo(6, 2, RepoState::Problem, 7),
            repo(7, 3, RepoState::Problem, 1),
        ];
        let p = protected_repos(&repos);
        // tag 1: newest READY (not the newer EXPIRED one); tag 2: no READY, so the newest
        // EXPIRED; tag 3: PROBLEM only, nothing to protect
        assert_eq!(p, HashSet::from([2, 5]));
        let cur = current_repos(&repos);
        assert_eq!(cur.get(&1).map(|r| r.id), Some(2));
        assert!(!cur.contains_key(&2));
    }

    #[test]
    fn custom_opts_repo_does_not_count_as_current_but_is_protected() {
        let mut custom = repo(3, 1, RepoState::Ready, 30);
        custom.custom_opts = true;
        let repos = vec![repo(2, 1, RepoState::Ready, 20), custom];
        assert_eq!(current_repos(&repos).get(&1).map(|r| r.id), Some(2));
        assert_eq!(protected_repos(&repos), HashSet::from([2, 3]));
        // same event: the higher id is the newer one
        let repos = vec![
            repo(9, 1, RepoState::Ready, 20),
            repo(8, 1, RepoState::Ready, 20),
        ];
        assert_eq!(current_repos(&repos).get(&1).map(|r| r.id), Some(9));
    }

    #[test]
    fn expiry_respects_lifetime_and_never_expires_the_newest() {
        let repos = vec![
            superseded(repo(1, 1, RepoState::Ready, 10), 15, 500.0),
            superseded(repo(2, 1, RepoState::Ready, 20), 25, 50.0),
            superseded(repo(3, 1, RepoState::Ready, 30), 35, 5000.0), // newest
            repo(4, 2, RepoState::Ready, 30),                         // current
            superseded(repo(5, 3, RepoState::Ready, 1), 2, 5000.0),   // only repo of tag 3
        ];
        let p = protected_repos(&repos);
        let plan = plan_expiry(&repos, &p, NOW, 100.0);
        let d: HashMap<i64, ExpiryDecision> = plan.into_iter().map(|(r, d)| (r.id, d)).collect();
        assert_eq!(d[&1], ExpiryDecision::Expire { age: 500.0 });
        assert_eq!(d[&2], ExpiryDecision::Young { age: 50.0 });
        assert_eq!(d[&3], ExpiryDecision::Newest);
        assert_eq!(d[&4], ExpiryDecision::Current);
        assert_eq!(d[&5], ExpiryDecision::Newest);
        // end_ts missing: the state change time stands in
        let mut r = superseded(repo(1, 1, RepoState::Ready, 10), 15, 0.0);
        r.end_ts = None;
        r.state_ts = Some(NOW - 1000.0);
        let repos = vec![r, repo(2, 1, RepoState::Ready, 20)];
        let plan = plan_expiry(&repos, &protected_repos(&repos), NOW, 100.0);
        assert_eq!(plan[0].1, ExpiryDecision::Expire { age: 1000.0 });
        // dist repos and other states are not considered
        let mut dist = superseded(repo(1, 1, RepoState::Ready, 10), 15, 500.0);
        dist.dist = true;
        assert!(plan_expiry(&[dist], &HashSet::new(), NOW, 100.0).is_empty());
    }

    #[test]
    fn deletion_respects_lifetime_newest_and_states() {
        let repos = vec![
            aged(repo(1, 1, RepoState::Expired, 10), 900.0),
            aged(repo(2, 1, RepoState::Problem, 40), 900.0),
            aged(repo(3, 1, RepoState::Expired, 11), 50.0),
            repo(4, 1, RepoState::Ready, 30),
            aged(repo(5, 2, RepoState::Expired, 5), 900.0), // newest of tag 2 (no READY)
            aged(repo(6, 2, RepoState::Expired, 4), 900.0),
            aged(repo(7, 3, RepoState::Init, 4), 900.0),
        ];
        let p = protected_repos(&repos);
        let plan = plan_deletion(&repos, &p, NOW, 100.0);
        let d: HashMap<i64, DeleteDecision> = plan.into_iter().map(|(r, d)| (r.id, d)).collect();
        assert_eq!(d[&1], DeleteDecision::Candidate { age: 900.0 });
        assert_eq!(d[&2], DeleteDecision::Candidate { age: 900.0 });
        assert_eq!(d[&3], DeleteDecision::Young { age: 50.0 });
        assert_eq!(d[&5], DeleteDecision::Newest);
        assert_eq!(d[&6], DeleteDecision::Candidate { age: 900.0 });
        assert!(!d.contains_key(&4) && !d.contains_key(&7));
        // referenced repos are never deleted
        assert!(!reference_verdict(1));
        assert!(reference_verdict(0));
    }

    #[test]
    fn stale_tags_are_requested_once() {
        let views = vec![
            view(1, 50, Some((7, 50))), // current
            view(2, 60, Some((8, 50))), // stale
            view(3, 60, None),          // no repo yet
            view(4, 60, Some((9, 10))), // stale, active request
        ];
        let active = vec![request(100, 4, true, 60)];
        let plan = plan_requests(&views, &active, &BackoffBook::default(), LIMITS, NOW);
        let d: Vec<(i64, RequestDecision)> = plan
            .iter()
            .map(|p| (p.view.tag.id, p.decision.clone()))
            .collect();
        // no repo first, then the oldest repo
        assert_eq!(
            d,
            vec![
                (3, RequestDecision::Request),
                (4, RequestDecision::Active { request_id: 100 }),
                (2, RequestDecision::Request),
                (1, RequestDecision::Current),
            ]
        );
    }

    #[test]
    fn rate_limit_counts_running_tasks_and_new_requests() {
        let views = vec![view(1, 60, None), view(2, 60, None), view(3, 60, None)];
        let mut running = request(100, 9, true, 1);
        running.task_id = Some(5);
        running.task_state = Some(1);
        let mut waiting = request(101, 8, true, 1); // no task yet: does not count
        waiting.task_id = None;
        let limits = RequestLimits {
            max_tasks: 2,
            ..LIMITS
        };
        let plan = plan_requests(
            &views,
            &[running, waiting],
            &BackoffBook::default(),
            limits,
            NOW,
        );
        let d: Vec<RequestDecision> = plan.into_iter().map(|p| p.decision).collect();
        assert_eq!(
            d,
            vec![
                RequestDecision::Request,
                RequestDecision::RateLimited { running: 2, max: 2 },
                RequestDecision::RateLimited { running: 2, max: 2 },
            ]
        );
    }

    #[test]
    fn backoff_doubles_and_resets_when_the_tag_changes() {
        assert_eq!(backoff_delay(1, 10.0, 3600.0), 10.0);
        assert_eq!(backoff_delay(2, 10.0, 3600.0), 20.0);
        assert_eq!(backoff_delay(4, 10.0, 3600.0), 80.0);
        assert_eq!(backoff_delay(20, 10.0, 3600.0), 3600.0);
        assert_eq!(backoff_delay(u32::MAX, 10.0, 3600.0), 3600.0);

        let mut book = BackoffBook::default();
        let v = [view(1, 60, Some((7, 50)))];
        // the request for event 60 failed 5 s ago
        let failed = request(100, 1, false, 60);
        book.observe(1, 60, Some(&failed), NOW);
        let plan = plan_requests(&v, &[], &book, LIMITS, NOW);
        assert_eq!(
            plan[0].decision,
            RequestDecision::BackingOff {
                failures: 1,
                until: NOW + 5.0
            }
        );
        // the same failure seen again does not count twice
        book.observe(1, 60, Some(&failed), NOW);
        assert_eq!(book.get(1).map(|b| b.failures), Some(1));
        // after the delay: request again
        let plan = plan_requests(&v, &[], &book, LIMITS, NOW + 6.0);
        assert_eq!(plan[0].decision, RequestDecision::Request);
        // the retry failed too: twice the wait
        let mut again = request(101, 1, false, 60);
        again.update_ts = Some(NOW + 30.0);
        book.observe(1, 60, Some(&again), NOW + 31.0);
        assert_eq!(
            book.blocked_until(1, 60, NOW + 31.0, 10.0, 3600.0),
            Some((NOW + 50.0, 2))
        );
        // the tag changed (event 70): no back-off for the new event
        let v2 = [view(1, 70, Some((7, 50)))];
        let plan = plan_requests(&v2, &[], &book, LIMITS, NOW + 31.0);
        assert_eq!(plan[0].decision, RequestDecision::Request);
        book.observe(1, 70, Some(&again), NOW + 31.0);
        assert!(book.get(1).is_none());
        // a successful last request clears the record
        book.observe(1, 60, Some(&failed), NOW);
        let mut ok = request(102, 1, false, 60);
        ok.repo_id = Some(12);
        book.observe(1, 60, Some(&ok), NOW);
        assert!(book.get(1).is_none());
        // no failures known: nothing blocks
        book.observe(1, 60, None, NOW);
        assert!(book.blocked_until(1, 60, NOW, 10.0, 3600.0).is_none());
        // retain drops unmanaged tags
        book.observe(1, 60, Some(&failed), NOW);
        book.retain_tags(&HashSet::from([2]));
        assert!(book.get(1).is_none());
    }

    #[test]
    fn prune_classification_and_decisions() {
        assert_eq!(
            classify_entry("12", EntryKind::Dir, Some("13")),
            EntryClass::Repo(12)
        );
        assert_eq!(
            classify_entry("13", EntryKind::Dir, Some("13")),
            EntryClass::Ignore("target of latest")
        );
        assert_eq!(
            classify_entry("latest", EntryKind::Symlink, None),
            EntryClass::Ignore("symlink")
        );
        assert_eq!(
            classify_entry("12", EntryKind::Symlink, None),
            EntryClass::Ignore("symlink")
        );
        assert_eq!(
            classify_entry("notes", EntryKind::Dir, None),
            EntryClass::Ignore("not a repo id")
        );
        assert_eq!(
            classify_entry("12", EntryKind::Other, None),
            EntryClass::Ignore("not a directory")
        );
        assert_eq!(
            classify_entry(".deleting-12", EntryKind::Dir, None),
            EntryClass::Leftover
        );
        assert_eq!(
            classify_entry("0", EntryKind::Dir, None),
            EntryClass::Ignore("not a repo id")
        );
        assert_eq!(
            classify_entry("99999999999999999999999", EntryKind::Dir, None),
            EntryClass::Ignore("not a repo id")
        );

        let live = repo(1, 1, RepoState::Expired, 1);
        let gone = repo(1, 1, RepoState::Deleted, 1);
        assert_eq!(
            plan_prune(Some(&live), NOW - 9999.0, NOW, 100.0),
            PruneDecision::Known(RepoState::Expired)
        );
        assert_eq!(
            plan_prune(Some(&gone), NOW - 500.0, NOW, 100.0),
            PruneDecision::RemoveDeleted { age: 500.0 }
        );
        assert_eq!(
            plan_prune(None, NOW - 500.0, NOW, 100.0),
            PruneDecision::RemoveUnknown { age: 500.0 }
        );
        assert_eq!(
            plan_prune(None, NOW - 50.0, NOW, 100.0),
            PruneDecision::Young { age: 50.0 }
        );
    }

    #[test]
    fn external_checks_expand_arches_and_group() {
        let link = |tag: i64, id: i64, url: &str, arches: &[&str]| ExternalLink {
            tag_id: tag,
            erepo_id: id,
            erepo_name: format!("ext{id}"),
            url: url.into(),
            arches: arches.iter().map(|a| (*a).to_owned()).collect(),
        };
        let links = vec![
            link(1, 5, "http://m/f40/$arch/", &[]),
            link(2, 5, "http://m/f40/$arch/", &[]),
            link(2, 6, "http://m/epel/", &[]),
            link(3, 7, "http://m/x/$arch", &["ppc64le"]),
            link(4, 8, "http://m/y/$arch", &[]),
        ];
        let arches = HashMap::from([
            (1, vec!["x86_64".to_owned()]),
            (2, vec!["x86_64".to_owned(), "aarch64".to_owned()]),
            (3, vec!["x86_64".to_owned()]),
        ]);
        let (checks, bad) = external_checks(&links, &arches);
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].erepo_id, 5);
        assert_eq!(
            checks[0].base_urls,
            vec!["http://m/f40/x86_64/", "http://m/f40/aarch64/"]
        );
        assert_eq!(checks[1].base_urls, vec!["http://m/epel/"]);
        assert_eq!(checks[2].base_urls, vec!["http://m/x/ppc64le"]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].erepo_id, 8);

        assert_eq!(
            repomd_url("http://m/f40/"),
            "http://m/f40/repodata/repomd.xml"
        );
        assert_eq!(repomd_url("/srv/r"), "/srv/r/repodata/repomd.xml");
        assert_eq!(external_update(5, Some(5)), None);
        assert_eq!(external_update(6, Some(5)), Some(6));
        assert_eq!(external_update(4, Some(5)), Some(4));
        assert_eq!(external_update(4, None), Some(4));
        assert!(external_due(None, NOW, 300.0));
        assert!(!external_due(Some(NOW - 10.0), NOW, 300.0));
        assert!(external_due(Some(NOW - 300.0), NOW, 300.0));
    }
}
