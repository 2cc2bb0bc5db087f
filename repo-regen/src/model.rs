//! Plain data the decisions work on, parsed from the hub's answers. Kept free of the
//! client so the decision functions can be tested on hand-made values.

use koji_protocol::Value;

/// koji.REPO_STATES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepoState {
    Init,
    Ready,
    Expired,
    Deleted,
    Problem,
    /// A state this daemon does not know: such a repo is never touched.
    Other(i64),
}

impl RepoState {
    pub fn from_code(code: i64) -> RepoState {
        match code {
            0 => RepoState::Init,
            1 => RepoState::Ready,
            2 => RepoState::Expired,
            3 => RepoState::Deleted,
            4 => RepoState::Problem,
            n => RepoState::Other(n),
        }
    }

    pub fn code(self) -> i64 {
        match self {
            RepoState::Init => 0,
            RepoState::Ready => 1,
            RepoState::Expired => 2,
            RepoState::Deleted => 3,
            RepoState::Problem => 4,
            RepoState::Other(n) => n,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RepoState::Init => "INIT",
            RepoState::Ready => "READY",
            RepoState::Expired => "EXPIRED",
            RepoState::Deleted => "DELETED",
            RepoState::Problem => "PROBLEM",
            RepoState::Other(_) => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for RepoState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// koji.TASK_STATES that mean "a task is (about to be) running".
pub const TASK_FREE: i64 = 0;
pub const TASK_OPEN: i64 = 1;
pub const TASK_ASSIGNED: i64 = 4;

/// One repo row (`repoInfo` / `repo.query`).
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub state: RepoState,
    pub dist: bool,
    pub create_event: i64,
    /// Set once the tag changed after `create_event` (`repo.updateEndEvents`).
    pub end_event: Option<i64>,
    pub state_ts: Option<f64>,
    pub end_ts: Option<f64>,
    pub creation_ts: Option<f64>,
    pub task_id: Option<i64>,
    /// Built with non-default options (debuginfo, src, ...).
    pub custom_opts: bool,
    /// (kkoji) Why a PROBLEM repo failed.
    pub problem: Option<String>,
}

/// One repo request (`repo.queryQueue`).
#[derive(Debug, Clone, PartialEq)]
pub struct RepoRequest {
    pub id: i64,
    pub tag_id: i64,
    pub min_event: Option<i64>,
    pub active: bool,
    pub task_id: Option<i64>,
    pub task_state: Option<i64>,
    pub repo_id: Option<i64>,
    pub update_ts: Option<f64>,
    pub tries: Option<i64>,
}

impl RepoRequest {
    /// Has a newRepo task that is waiting or running.
    pub fn has_running_task(&self) -> bool {
        self.active
            && self.task_id.is_some()
            && matches!(self.task_state, Some(TASK_FREE | TASK_OPEN | TASK_ASSIGNED))
    }

    /// Ended without producing a repo: its task failed (after the hub's retries) or was
    /// canceled.
    pub fn failed(&self) -> bool {
        !self.active && self.repo_id.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagRef {
    pub id: i64,
    pub name: String,
}

/// `getBuildConfig(tag)`: the tag with inherited arches and extra.
#[derive(Debug, Clone, PartialEq)]
pub struct TagConfig {
    pub tag: TagRef,
    pub arches: Vec<String>,
    /// extra `repo.auto` is true.
    pub auto: bool,
}

/// One entry of `getExternalRepoList(tag)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalLink {
    pub tag_id: i64,
    pub erepo_id: i64,
    pub erepo_name: String,
    pub url: String,
    /// The link's own arch restriction (empty: the tag's arches).
    pub arches: Vec<String>,
}

/// What `repo.request` answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestOutcome {
    pub request_id: Option<i64>,
    pub repo_id: Option<i64>,
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn need_int(v: &Value, key: &str, what: &str) -> Result<i64, ShapeError> {
    int(v, key).ok_or_else(|| ShapeError(format!("{what} without integer `{key}`")))
}

fn float(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Arch lists travel space-separated (Koji's convention), sometimes as a list.
pub fn split_arches(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Tag extra values are set from the CLI as strings as often as as booleans.
pub fn extra_flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Int(i)) => *i != 0,
        Some(Value::String(s)) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        ),
        _ => false,
    }
}

impl Repo {
    pub fn from_value(v: &Value) -> Result<Repo, ShapeError> {
        let id = need_int(v, "id", "repo")?;
        let what = format!("repo {id}");
        Ok(Repo {
            id,
            tag_id: need_int(v, "tag_id", &what)?,
            tag_name: string(v, "tag_name")
                .ok_or_else(|| ShapeError(format!("{what} without `tag_name`")))?,
            state: RepoState::from_code(need_int(v, "state", &what)?),
            dist: v.get("dist").is_some_and(Value::is_truthy),
            create_event: need_int(v, "create_event", &what)?,
            end_event: int(v, "end_event"),
            state_ts: float(v, "state_ts"),
            end_ts: float(v, "end_ts"),
            creation_ts: float(v, "creation_ts").or_else(|| float(v, "create_ts")),
            task_id: int(v, "task_id"),
            custom_opts: v.get("custom_opts").is_some_and(Value::is_truthy),
            problem: string(v, "problem"),
        })
    }
}

impl RepoRequest {
    pub fn from_value(v: &Value) -> Result<RepoRequest, ShapeError> {
        let id = need_int(v, "id", "repo request")?;
        Ok(RepoRequest {
            id,
            tag_id: need_int(v, "tag_id", &format!("repo request {id}"))?,
            min_event: int(v, "min_event"),
            active: v.get("active").is_some_and(Value::is_truthy),
            task_id: int(v, "task_id"),
            task_state: int(v, "task_state"),
            repo_id: int(v, "repo_id"),
            update_ts: float(v, "update_ts"),
            tries: int(v, "tries"),
        })
    }
}

impl TagConfig {
    pub fn from_value(v: &Value) -> Result<TagConfig, ShapeError> {
        let id = need_int(v, "id", "build config")?;
        Ok(TagConfig {
            tag: TagRef {
                id,
                name: string(v, "name")
                    .ok_or_else(|| ShapeError(format!("build config {id} without `name`")))?,
            },
            arches: split_arches(v.get("arches")),
            auto: extra_flag(v.get("extra").and_then(|e| e.get("repo.auto"))),
        })
    }
}

impl ExternalLink {
    pub fn from_value(tag_id: i64, v: &Value) -> Result<ExternalLink, ShapeError> {
        let erepo_id = int(v, "external_repo_id")
            .or_else(|| int(v, "id"))
            .ok_or_else(|| ShapeError("external repo link without `external_repo_id`".into()))?;
        Ok(ExternalLink {
            tag_id,
            erepo_id,
            erepo_name: string(v, "external_repo_name")
                .or_else(|| string(v, "name"))
                .unwrap_or_else(|| erepo_id.to_string()),
            url: string(v, "url").ok_or_else(|| {
                ShapeError(format!("external repo {erepo_id} link without `url`"))
            })?,
            arches: split_arches(v.get("arches")),
        })
    }
}

impl RequestOutcome {
    pub fn from_value(v: &Value) -> RequestOutcome {
        let nested_id = |key: &str| v.get(key).and_then(|r| int(r, "id"));
        RequestOutcome {
            request_id: nested_id("request"),
            repo_id: nested_id("repo"),
            duplicate: v.get("duplicate").is_some_and(Value::is_truthy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    #[test]
    fn repo_parses_and_missing_fields_are_errors() {
        let v = kstruct! {
            "id" => 7, "tag_id" => 2, "tag_name" => "f40-build", "state" => 1,
            "dist" => false, "create_event" => 100, "end_event" => Value::Nil,
            "state_ts" => 1_700_000_000.5, "end_ts" => Value::Nil, "creation_ts" => 1_699_999_000.0,
            "task_id" => 9, "custom_opts" => kstruct! {}, "problem" => Value::Nil,
        };
        let r = Repo::from_value(&v).unwrap();
        assert_eq!(r.state, RepoState::Ready);
        assert_eq!(r.end_event, None);
        assert_eq!(r.state_ts, Some(1_700_000_000.5));
        assert!(!r.custom_opts);
        let v = kstruct! { "id" => 7, "tag_id" => 2, "state" => 1, "create_event" => 1 };
        let e = Repo::from_value(&v).unwrap_err();
        assert!(e.0.contains("repo 7") && e.0.contains("tag_name"), "{e}");
    }

    #[test]
    fn request_flags() {
        let v = kstruct! {
            "id" => 3, "tag_id" => 2, "min_event" => 50, "active" => true,
            "task_id" => 11, "task_state" => 1, "repo_id" => Value::Nil,
        };
        let r = RepoRequest::from_value(&v).unwrap();
        assert!(r.has_running_task());
        assert!(!r.failed());
        let r = RepoRequest {
            active: false,
            task_state: Some(5),
            ..r
        };
        assert!(!r.has_running_task());
        assert!(r.failed());
        assert!(
            !RepoRequest {
                repo_id: Some(4),
                ..r
            }
            .failed()
        );
    }

    #[test]
    fn tag_config_auto_and_arches() {
        let v = kstruct! {
            "id" => 2, "name" => "t", "arches" => "x86_64  aarch64",
            "extra" => kstruct! { "repo.auto" => "True" },
        };
        let c = TagConfig::from_value(&v).unwrap();
        assert!(c.auto);
        assert_eq!(c.arches, vec!["x86_64", "aarch64"]);
        let v =
            kstruct! { "id" => 2, "name" => "t", "arches" => Value::Nil, "extra" => kstruct! {} };
        let c = TagConfig::from_value(&v).unwrap();
        assert!(!c.auto);
        assert!(c.arches.is_empty());
        assert!(!extra_flag(Some(&Value::from("false"))));
        assert!(extra_flag(Some(&Value::Bool(true))));
        assert!(extra_flag(Some(&Value::Int(1))));
    }

    #[test]
    fn request_outcome() {
        let v = kstruct! {
            "repo" => Value::Nil, "request" => kstruct! { "id" => 5 }, "duplicate" => true,
        };
        assert_eq!(
            RequestOutcome::from_value(&v),
            RequestOutcome {
                request_id: Some(5),
                repo_id: None,
                duplicate: true
            }
        );
    }
}
