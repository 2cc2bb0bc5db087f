//! What the daemon asks of the hub, as a small trait (so a pass can run against a fake in
//! unit tests) and its implementation over `koji_protocol::KojiClient`. Per-tag reads go
//! out as `multiCall` batches: one round trip for hundreds of tags instead of one each.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use koji_protocol::{ClientConfig, ClientError, KojiClient, Struct, Value, codes};

use crate::model::{
    ExternalLink, Repo, RepoRequest, RequestOutcome, ShapeError, TagConfig, TagRef,
};

/// Calls per `multiCall` POST: far below the hub's request size limit.
const MULTICALL_CHUNK: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("unexpected answer to {method}: {detail}")]
    Shape { method: String, detail: String },
    #[error("cannot read {path}: {err}")]
    ReadFile { path: String, err: std::io::Error },
    #[error("{0}")]
    Permission(String),
}

impl HubError {
    pub fn fault_code(&self) -> Option<i32> {
        match self {
            HubError::Client(e) => e.fault_code(),
            _ => None,
        }
    }

    /// The hub could not be reached or answered garbage (as opposed to refusing).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            HubError::Client(ClientError::Transport(_) | ClientError::Http { .. })
        )
    }

    fn shape(method: &str, detail: impl Into<String>) -> HubError {
        HubError::Shape {
            method: method.to_owned(),
            detail: detail.into(),
        }
    }
}

fn shaped<T>(method: &str, r: Result<T, ShapeError>) -> Result<T, HubError> {
    r.map_err(|e| HubError::shape(method, e.0))
}

/// Per-item answers of a batch: one tag deleted meanwhile must not hide the others.
pub type Each<T> = Vec<Result<T, HubError>>;

/// The hub calls one pass makes.
pub trait RegenHub: Sync {
    /// `repo.updateEndEvents()`.
    fn update_end_events(&self) -> impl Future<Output = Result<(), HubError>> + Send;
    /// Build tags of all build targets (`getBuildTargets`).
    fn build_tags(&self) -> impl Future<Output = Result<Vec<TagRef>, HubError>> + Send;
    /// All tags (`listTags`).
    fn list_tags(&self) -> impl Future<Output = Result<Vec<TagRef>, HubError>> + Send;
    /// `getBuildConfig(tag)` for each tag id.
    fn build_configs(
        &self,
        tags: &[i64],
    ) -> impl Future<Output = Result<Each<TagConfig>, HubError>> + Send;
    /// `tagLastChangeEvent(tag)` for each tag id.
    fn last_change_events(
        &self,
        tags: &[i64],
    ) -> impl Future<Output = Result<Each<i64>, HubError>> + Send;
    /// Every repo not DELETED (`repo.query`).
    fn live_repos(&self) -> impl Future<Output = Result<Vec<Repo>, HubError>> + Send;
    /// Every active repo request (`repo.queryQueue`).
    fn active_requests(&self) -> impl Future<Output = Result<Vec<RepoRequest>, HubError>> + Send;
    /// The most recent inactive request of each tag.
    fn last_inactive_requests(
        &self,
        tags: &[i64],
    ) -> impl Future<Output = Result<Each<Option<RepoRequest>>, HubError>> + Send;
    /// `repo.request(tag, min_event="last", priority=5)`.
    fn request_repo(
        &self,
        tag: i64,
    ) -> impl Future<Output = Result<RequestOutcome, HubError>> + Send;
    /// `repo.checkQueue()`.
    fn check_queue(&self) -> impl Future<Output = Result<(), HubError>> + Send;
    /// `getExternalRepoList(tag)` (with inheritance) for each tag id.
    fn external_repo_lists(
        &self,
        tags: &[i64],
    ) -> impl Future<Output = Result<Each<Vec<ExternalLink>>, HubError>> + Send;
    /// `repo.getExternalRepoData(erepo)['max_ts']`.
    fn external_max_ts(
        &self,
        erepo: i64,
    ) -> impl Future<Output = Result<Option<i64>, HubError>> + Send;
    /// `repo.setExternalRepoData(erepo, {'max_ts': ts})`.
    fn set_external_max_ts(
        &self,
        erepo: i64,
        ts: i64,
    ) -> impl Future<Output = Result<(), HubError>> + Send;
    /// `repoExpire(id)`.
    fn expire(&self, repo: i64) -> impl Future<Output = Result<(), HubError>> + Send;
    /// `repo.references(id)`: how many active buildroots use the repo.
    fn references(&self, repo: i64) -> impl Future<Output = Result<usize, HubError>> + Send;
    /// `repoDelete(id)`: the number of references (0 = now DELETED).
    fn delete(&self, repo: i64) -> impl Future<Output = Result<i64, HubError>> + Send;
    /// `repoInfo(id)` for each repo id.
    fn repo_infos(
        &self,
        ids: &[i64],
    ) -> impl Future<Output = Result<Each<Option<Repo>>, HubError>> + Send;
}

/// Reads the certificate bundle and CA for a `ClientConfig`.
pub fn client_config(
    hub: &str,
    cert: &Path,
    ca: Option<&Path>,
    timeout: Duration,
) -> Result<ClientConfig, HubError> {
    ClientConfig::for_daemon(hub, cert, ca, timeout).map_err(|e| HubError::ReadFile {
        path: e.path.display().to_string(),
        err: e.err,
    })
}

/// The real hub.
#[derive(Debug, Clone)]
pub struct KojiHub {
    client: KojiClient,
}

fn kw(pairs: Vec<(&str, Value)>) -> Struct {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn clause(field: &str, op: &str, value: Value) -> Value {
    Value::Array(vec![Value::from(field), Value::from(op), value])
}

fn rows<'a>(method: &str, v: &'a Value) -> Result<&'a [Value], HubError> {
    v.as_array()
        .ok_or_else(|| HubError::shape(method, format!("expected a list, got {}", v.type_name())))
}

fn ts_value(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Double(d) if d.is_finite() => Some(d.round() as i64),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl KojiHub {
    pub fn new(cfg: ClientConfig) -> Result<KojiHub, HubError> {
        Ok(KojiHub {
            client: KojiClient::new(cfg)?,
        })
    }

    pub fn client(&self) -> &KojiClient {
        &self.client
    }

    /// `sslLogin`, then makes sure the user may manage repos: better to stop at start-up
    /// with a clear message than to fail every expire and delete later.
    pub async fn login(&self) -> Result<String, HubError> {
        self.client.ssl_login().await?;
        let user = self.client.call("getLoggedInUser", Vec::new()).await?;
        let name = user
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        for perm in ["repo", "admin"] {
            let has = self.client.call("hasPerm", vec![Value::from(perm)]).await?;
            if has.is_truthy() {
                return Ok(name);
            }
        }
        Err(HubError::Permission(format!(
            "user {name} has neither the `repo` nor the `admin` permission"
        )))
    }

    pub async fn logout(&self) -> Result<(), HubError> {
        Ok(self.client.logout().await?)
    }

    /// One call; an expired session is replaced by a fresh login and the call re-sent.
    async fn call_kw(
        &self,
        method: &str,
        params: Vec<Value>,
        kwargs: Struct,
    ) -> Result<Value, HubError> {
        tracing::trace!(method, "hub call");
        match self
            .client
            .call_kw(method, params.clone(), kwargs.clone())
            .await
        {
            Err(e) if e.fault_code() == Some(codes::AUTH_EXPIRED) => {
                tracing::warn!("hub session expired; logging in again");
                self.client.set_session(None);
                self.client.ssl_login().await?;
                Ok(self.client.call_kw(method, params, kwargs).await?)
            }
            r => Ok(r?),
        }
    }

    async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, HubError> {
        self.call_kw(method, params, Struct::new()).await
    }

    /// The same method for many argument lists, in `multiCall` batches.
    async fn multi(&self, method: &str, calls: Vec<Vec<Value>>) -> Result<Each<Value>, HubError> {
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(MULTICALL_CHUNK) {
            let batch: Vec<(String, Vec<Value>)> = chunk
                .iter()
                .map(|p| (method.to_owned(), p.clone()))
                .collect();
            let res = match self.client.multicall(batch.clone()).await {
                Err(e) if e.fault_code() == Some(codes::AUTH_EXPIRED) => {
                    tracing::warn!("hub session expired; logging in again");
                    self.client.set_session(None);
                    self.client.ssl_login().await?;
                    self.client.multicall(batch).await?
                }
                r => r?,
            };
            out.extend(
                res.into_iter()
                    .map(|r| r.map_err(|f| HubError::Client(ClientError::Fault(f)))),
            );
        }
        Ok(out)
    }

    fn tag_refs(
        method: &str,
        v: &Value,
        id_key: &str,
        name_key: &str,
    ) -> Result<Vec<TagRef>, HubError> {
        let mut out: Vec<TagRef> = Vec::new();
        for r in rows(method, v)? {
            let id = r
                .get(id_key)
                .and_then(Value::as_i64)
                .ok_or_else(|| HubError::shape(method, format!("row without `{id_key}`")))?;
            let name = r
                .get(name_key)
                .and_then(Value::as_str)
                .ok_or_else(|| HubError::shape(method, format!("row without `{name_key}`")))?;
            let t = TagRef {
                id,
                name: name.to_owned(),
            };
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

impl RegenHub for KojiHub {
    async fn update_end_events(&self) -> Result<(), HubError> {
        self.call("repo.updateEndEvents", Vec::new()).await?;
        Ok(())
    }

    async fn build_tags(&self) -> Result<Vec<TagRef>, HubError> {
        const M: &str = "getBuildTargets";
        let v = self.call(M, Vec::new()).await?;
        Self::tag_refs(M, &v, "build_tag", "build_tag_name")
    }

    async fn list_tags(&self) -> Result<Vec<TagRef>, HubError> {
        const M: &str = "listTags";
        let v = self.call(M, Vec::new()).await?;
        Self::tag_refs(M, &v, "id", "name")
    }

    async fn build_configs(&self, tags: &[i64]) -> Result<Each<TagConfig>, HubError> {
        const M: &str = "getBuildConfig";
        let calls = tags.iter().map(|t| vec![Value::Int(*t)]).collect();
        Ok(self
            .multi(M, calls)
            .await?
            .into_iter()
            .map(|r| r.and_then(|v| shaped(M, TagConfig::from_value(&v))))
            .collect())
    }

    async fn last_change_events(&self, tags: &[i64]) -> Result<Each<i64>, HubError> {
        const M: &str = "tagLastChangeEvent";
        let calls = tags.iter().map(|t| vec![Value::Int(*t)]).collect();
        Ok(self
            .multi(M, calls)
            .await?
            .into_iter()
            .map(|r| {
                r.and_then(|v| {
                    // a tag with no recorded change at all: any repo is current
                    if v.is_nil() {
                        return Ok(0);
                    }
                    v.as_i64().ok_or_else(|| {
                        HubError::shape(M, format!("not an event id: {}", v.type_name()))
                    })
                })
            })
            .collect())
    }

    async fn live_repos(&self) -> Result<Vec<Repo>, HubError> {
        const M: &str = "repo.query";
        let clauses = Value::Array(vec![clause("state", "!=", Value::Int(3))]);
        let v = self.call(M, vec![clauses]).await?;
        rows(M, &v)?
            .iter()
            .map(|r| shaped(M, Repo::from_value(r)))
            .collect()
    }

    async fn active_requests(&self) -> Result<Vec<RepoRequest>, HubError> {
        const M: &str = "repo.queryQueue";
        let clauses = Value::Array(vec![clause("active", "=", Value::Bool(true))]);
        let v = self.call(M, vec![clauses]).await?;
        rows(M, &v)?
            .iter()
            .map(|r| shaped(M, RepoRequest::from_value(r)))
            .collect()
    }

    async fn last_inactive_requests(
        &self,
        tags: &[i64],
    ) -> Result<Each<Option<RepoRequest>>, HubError> {
        const M: &str = "repo.queryQueue";
        let calls = tags
            .iter()
            .map(|t| {
                let clauses = Value::Array(vec![
                    clause("tag_id", "=", Value::Int(*t)),
                    clause("active", "=", Value::Bool(false)),
                ]);
                let opts = kw(vec![
                    ("order", Value::from("-id")),
                    ("limit", Value::Int(1)),
                ]);
                vec![clauses, Value::Nil, Value::Struct(opts)]
            })
            .collect();
        Ok(self
            .multi(M, calls)
            .await?
            .into_iter()
            .map(|r| {
                r.and_then(|v| match rows(M, &v)?.first() {
                    None => Ok(None),
                    Some(row) => shaped(M, RepoRequest::from_value(row)).map(Some),
                })
            })
            .collect())
    }

    async fn request_repo(&self, tag: i64) -> Result<RequestOutcome, HubError> {
        let v = self
            .call_kw(
                "repo.request",
                vec![Value::Int(tag)],
                kw(vec![
                    ("min_event", Value::from("last")),
                    ("priority", Value::Int(5)),
                ]),
            )
            .await?;
        Ok(RequestOutcome::from_value(&v))
    }

    async fn check_queue(&self) -> Result<(), HubError> {
        self.call("repo.checkQueue", Vec::new()).await?;
        Ok(())
    }

    async fn external_repo_lists(&self, tags: &[i64]) -> Result<Each<Vec<ExternalLink>>, HubError> {
        const M: &str = "getExternalRepoList";
        let calls = tags.iter().map(|t| vec![Value::Int(*t)]).collect();
        let res = self.multi(M, calls).await?;
        Ok(tags
            .iter()
            .zip(res)
            .map(|(tag, r)| {
                r.and_then(|v| {
                    rows(M, &v)?
                        .iter()
                        .map(|l| shaped(M, ExternalLink::from_value(*tag, l)))
                        .collect()
                })
            })
            .collect())
    }

    async fn external_max_ts(&self, erepo: i64) -> Result<Option<i64>, HubError> {
        let v = self
            .call("repo.getExternalRepoData", vec![Value::Int(erepo)])
            .await?;
        Ok(v.get("max_ts").and_then(ts_value))
    }

    async fn set_external_max_ts(&self, erepo: i64, ts: i64) -> Result<(), HubError> {
        let data = Value::Struct(kw(vec![("max_ts", Value::Int(ts))]));
        self.call("repo.setExternalRepoData", vec![Value::Int(erepo), data])
            .await?;
        Ok(())
    }

    async fn expire(&self, repo: i64) -> Result<(), HubError> {
        self.call("repoExpire", vec![Value::Int(repo)]).await?;
        Ok(())
    }

    async fn references(&self, repo: i64) -> Result<usize, HubError> {
        const M: &str = "repo.references";
        let v = self.call(M, vec![Value::Int(repo)]).await?;
        Ok(rows(M, &v)?.len())
    }

    async fn delete(&self, repo: i64) -> Result<i64, HubError> {
        const M: &str = "repoDelete";
        let v = self.call(M, vec![Value::Int(repo)]).await?;
        match v {
            Value::Int(n) => Ok(n),
            // a hub answering None for "deleted" reads as no references
            Value::Nil => Ok(0),
            other => Err(HubError::shape(
                M,
                format!("expected a reference count, got {}", other.type_name()),
            )),
        }
    }

    async fn repo_infos(&self, ids: &[i64]) -> Result<Each<Option<Repo>>, HubError> {
        const M: &str = "repoInfo";
        let calls = ids.iter().map(|i| vec![Value::Int(*i)]).collect();
        Ok(self
            .multi(M, calls)
            .await?
            .into_iter()
            .map(|r| {
                r.and_then(|v| {
                    if v.is_nil() {
                        Ok(None)
                    } else {
                        shaped(M, Repo::from_value(&v)).map(Some)
                    }
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_accept_ints_floats_and_strings() {
        assert_eq!(ts_value(&Value::Int(5)), Some(5));
        assert_eq!(ts_value(&Value::Double(5.6)), Some(6));
        assert_eq!(ts_value(&Value::from("7")), Some(7));
        assert_eq!(ts_value(&Value::Nil), None);
    }

    #[test]
    fn tag_refs_dedupe_and_complain_about_shape() {
        let v = Value::Array(vec![
            koji_protocol::kstruct! { "build_tag" => 2, "build_tag_name" => "b" },
            koji_protocol::kstruct! { "build_tag" => 2, "build_tag_name" => "b" },
        ]);
        let t = KojiHub::tag_refs("getBuildTargets", &v, "build_tag", "build_tag_name").unwrap();
        assert_eq!(t.len(), 1);
        let e = KojiHub::tag_refs("getBuildTargets", &Value::Int(1), "id", "name").unwrap_err();
        assert!(e.to_string().contains("getBuildTargets"), "{e}");
    }
}
