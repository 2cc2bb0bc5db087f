//! The builder's one hub session, shared by the main loop and every task runner.
//!
//! Why calls are serialized: the hub refuses a callnum lower than the last one it
//! committed (SequenceError), and `KojiClient` takes the callnum when it *prepares* a
//! request. Two runners preparing 7 and 8 whose requests arrive as 8, 7 would make 7 fail.
//! So every call holds a fair (FIFO) lock from prepare to answer.
//!
//! Why the long-poll is special: `host.waitTasks` may sit on the hub for 30 s, and a
//! runner's log upload must not wait that long. The long-poll gives way: as soon as
//! another call queues up, the poll's request is dropped (it only reads; the hub may
//! still commit a scheduler assignment, which the next poll returns) and the lock passes
//! on. The dropped poll's callnum is below the next one, and if it reaches the hub late it
//! fails there with nobody listening.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use koji_protocol::{
    ClientConfig, ClientError, Fault, KojiClient, Struct, Value, codes, encode_fault,
    encode_response,
};
use tokio::sync::{Mutex, Notify};

use crate::uploads::{UploadError, Uploader};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("unexpected answer to {method}: {detail}")]
    Shape { method: String, detail: String },
    #[error("cannot read {path}: {err}")]
    ReadFile { path: String, err: std::io::Error },
}

impl HubError {
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            HubError::Client(ClientError::Fault(f)) => Some(f),
            _ => None,
        }
    }

    pub fn fault_code(&self) -> Option<i32> {
        self.fault().map(|f| f.code)
    }

    fn shape(method: &str, detail: impl Into<String>) -> Self {
        HubError::Shape {
            method: method.to_owned(),
            detail: detail.into(),
        }
    }
}

/// The host record fields the builder uses (`host.getHost`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub id: i64,
    pub name: String,
    pub arches: String,
    pub capacity: f64,
    pub enabled: bool,
}

/// One row of `host.getHostTasks()`: a task OPEN on this host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTask {
    pub id: i64,
    pub waiting: bool,
    pub weight: f64,
    /// A waiting task has a finished awaited child: wake it.
    pub alert: bool,
}

/// One row of `host.getTasks()`/`host.waitTasks()`: a task ASSIGNED to (some) host.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignedTask {
    pub id: i64,
    pub state: i64,
    pub host_id: Option<i64>,
    pub method: String,
    pub arch: String,
    pub weight: f64,
}

/// The answer of `host.openTask`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedTask {
    pub id: i64,
    pub method: String,
    /// Positional params (kwargs split off).
    pub params: Vec<Value>,
    pub kwargs: Struct,
}

pub const TASK_ASSIGNED: i64 = 4;

pub fn get_i64(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}
pub fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}
pub fn get_f64(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}
pub fn get_truthy(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(Value::is_truthy)
}

fn kw_force() -> Struct {
    kw(vec![("force", Value::Bool(true))])
}

fn kw(pairs: Vec<(&str, Value)>) -> Struct {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Reads the client certificate and CA for a `ClientConfig`.
pub fn client_config(
    hub: &str,
    host_cert: &Path,
    ca: Option<&Path>,
    timeout: Duration,
) -> Result<ClientConfig, HubError> {
    ClientConfig::for_daemon(hub, host_cert, ca, timeout).map_err(|e| HubError::ReadFile {
        path: e.path.display().to_string(),
        err: e.err,
    })
}

pub struct Hub {
    client: KojiClient,
    lock: Mutex<()>,
    /// Wakes a running long-poll so it gives way.
    preempt: Notify,
    /// Calls waiting for the lock.
    queued: AtomicUsize,
    /// Whether to re-take the exclusive session after a re-login.
    exclusive: std::sync::atomic::AtomicBool,
}

impl Hub {
    pub fn new(client: KojiClient) -> Self {
        Hub {
            client,
            lock: Mutex::new(()),
            preempt: Notify::new(),
            queued: AtomicUsize::new(0),
            exclusive: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn client(&self) -> &KojiClient {
        &self.client
    }

    async fn acquire(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.preempt.notify_waiters();
        let g = self.lock.lock().await;
        self.queued.fetch_sub(1, Ordering::SeqCst);
        g
    }

    /// `sslLogin` with the host certificate, then `exclusiveSession()` so that no second
    /// builder can run with the same certificate (that one gets AuthLockError 1006).
    /// `force` takes the lock from a session left behind by a builder that died without
    /// logging out (kojid's `--force-lock`).
    pub async fn login_exclusive(&self, force: bool) -> Result<(), HubError> {
        let _g = self.acquire().await;
        self.client.ssl_login().await?;
        let mut kw = Struct::new();
        if force {
            kw.insert("force".into(), Value::Bool(true));
        }
        self.client
            .call_kw("exclusiveSession", Vec::new(), kw)
            .await?;
        self.exclusive.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Renews an expired session, as koji's client does: `sslLogin(renew=True)` sent with
    /// the expired session's headers keeps the session (and its exclusive lock). A fresh
    /// login would find the lock still held by the expired session and fail with
    /// AuthLockError; so if renewal is refused, the fresh login takes the lock with
    /// `force` — the holder is our own expired session.
    async fn renew_locked(&self) -> Result<(), HubError> {
        let exclusive = self.exclusive.load(Ordering::SeqCst);
        let mut kw = Struct::new();
        kw.insert("proxyuser".into(), Value::Nil);
        kw.insert("renew".into(), Value::Bool(true));
        if exclusive {
            kw.insert("exclusive".into(), Value::Bool(true));
        }
        match self.client.call_kw("sslLogin", Vec::new(), kw).await {
            Ok(v) => {
                let id = get_i64(&v, "session-id");
                let key = get_str(&v, "session-key");
                if let (Some(id), Some(key)) = (id, key) {
                    self.client.set_session(Some((id, key.to_owned())));
                    tracing::info!(session = id, "hub session renewed");
                    return Ok(());
                }
                tracing::warn!("session renewal returned no session; logging in afresh");
            }
            Err(e) => tracing::warn!("session renewal refused ({e}); logging in afresh"),
        }
        self.client.set_session(None);
        self.client.ssl_login().await?;
        if exclusive {
            self.client
                .call_kw("exclusiveSession", Vec::new(), kw_force())
                .await?;
        }
        Ok(())
    }

    pub async fn logout(&self) -> Result<(), HubError> {
        let _g = self.acquire().await;
        Ok(self.client.logout().await?)
    }

    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, HubError> {
        self.call_kw(method, params, Struct::new()).await
    }

    /// One call; an expired session (AuthExpired 1007) is renewed once and the call
    /// re-sent, as koji's client does.
    pub async fn call_kw(
        &self,
        method: &str,
        params: Vec<Value>,
        kwargs: Struct,
    ) -> Result<Value, HubError> {
        let _g = self.acquire().await;
        tracing::trace!(method, "hub call");
        match self
            .client
            .call_kw(method, params.clone(), kwargs.clone())
            .await
        {
            Err(e) if e.fault_code() == Some(codes::AUTH_EXPIRED) => {
                tracing::warn!("hub session expired; renewing it");
                self.renew_locked().await?;
                Ok(self.client.call_kw(method, params, kwargs).await?)
            }
            r => Ok(r?),
        }
    }

    /// `host.waitTasks(timeout)`: tasks ASSIGNED to this host, as soon as there are any.
    /// `Ok(None)` when it gave way to another call before the hub answered.
    pub async fn wait_tasks(
        &self,
        timeout: Duration,
    ) -> Result<Option<Vec<AssignedTask>>, HubError> {
        let _g = self.lock.lock().await;
        let notified = self.preempt.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.queued.load(Ordering::SeqCst) > 0 {
            return Ok(None);
        }
        let call = self.client.call_kw(
            "host.waitTasks",
            Vec::new(),
            kw(vec![("timeout", Value::Double(timeout.as_secs_f64()))]),
        );
        tokio::select! {
            r = call => {
                let v = r?;
                Ok(Some(parse_assigned("host.waitTasks", &v)?))
            }
            _ = &mut notified => Ok(None),
        }
    }

    // ----- typed host.* calls -----

    pub async fn get_id(&self) -> Result<i64, HubError> {
        let v = self.call("host.getID", Vec::new()).await?;
        v.as_i64()
            .ok_or_else(|| HubError::shape("host.getID", v.type_name()))
    }

    pub async fn get_host(&self) -> Result<HostInfo, HubError> {
        let v = self.call("host.getHost", Vec::new()).await?;
        parse_host("host.getHost", &v)
    }

    /// Root `getHost(name)`: works without the exclusive session (for `check`).
    pub async fn get_host_by_name(&self, name: &str) -> Result<Option<HostInfo>, HubError> {
        let v = self.call("getHost", vec![Value::from(name)]).await?;
        if v.is_nil() {
            return Ok(None);
        }
        parse_host("getHost", &v).map(Some)
    }

    pub async fn update_host(
        &self,
        task_load: f64,
        ready: bool,
        data: Struct,
    ) -> Result<(), HubError> {
        self.call(
            "host.updateHost",
            vec![
                Value::Double(task_load),
                Value::Bool(ready),
                Value::Struct(data),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn get_tasks(&self) -> Result<Vec<AssignedTask>, HubError> {
        let v = self.call("host.getTasks", Vec::new()).await?;
        parse_assigned("host.getTasks", &v)
    }

    pub async fn get_host_tasks(&self) -> Result<Vec<HostTask>, HubError> {
        let v = self.call("host.getHostTasks", Vec::new()).await?;
        let rows = v
            .as_array()
            .ok_or_else(|| HubError::shape("host.getHostTasks", v.type_name()))?;
        rows.iter()
            .map(|r| {
                Ok(HostTask {
                    id: get_i64(r, "id")
                        .ok_or_else(|| HubError::shape("host.getHostTasks", "row without id"))?,
                    waiting: get_truthy(r, "waiting"),
                    weight: get_f64(r, "weight").unwrap_or(1.0),
                    alert: get_truthy(r, "alert"),
                })
            })
            .collect()
    }

    /// `host.openTask(id)`; `None` when another host got it first.
    pub async fn open_task(&self, id: i64) -> Result<Option<OpenedTask>, HubError> {
        const M: &str = "host.openTask";
        let v = self.call(M, vec![Value::Int(id)]).await?;
        if v.is_nil() {
            return Ok(None);
        }
        let method = get_str(&v, "method")
            .ok_or_else(|| HubError::shape(M, "no method"))?
            .to_owned();
        let request = get_str(&v, "request").ok_or_else(|| HubError::shape(M, "no request"))?;
        let call =
            koji_protocol::decode_call(request.as_bytes(), &koji_protocol::Limits::default())
                .map_err(|e| HubError::shape(M, format!("bad request XML: {e}")))?;
        let (params, kwargs) = koji_protocol::split_kwargs(call.params);
        Ok(Some(OpenedTask {
            id,
            method,
            params,
            kwargs,
        }))
    }

    pub async fn close_task(&self, id: i64, result: &Value) -> Result<(), HubError> {
        self.call(
            "host.closeTask",
            vec![Value::Int(id), Value::String(encode_response(result))],
        )
        .await?;
        Ok(())
    }

    pub async fn fail_task(&self, id: i64, fault: &Fault) -> Result<(), HubError> {
        self.call(
            "host.failTask",
            vec![Value::Int(id), Value::String(encode_fault(fault))],
        )
        .await?;
        Ok(())
    }

    pub async fn free_tasks(&self, ids: &[i64]) -> Result<(), HubError> {
        let ids = ids.iter().map(|i| Value::Int(*i)).collect();
        self.call("host.freeTasks", vec![Value::Array(ids)]).await?;
        Ok(())
    }

    pub async fn refuse_task(&self, id: i64, soft: bool, msg: &str) -> Result<(), HubError> {
        self.call_kw(
            "host.refuseTask",
            vec![Value::Int(id)],
            kw(vec![("soft", Value::Bool(soft)), ("msg", Value::from(msg))]),
        )
        .await?;
        Ok(())
    }

    pub async fn set_task_weight(&self, id: i64, weight: f64) -> Result<(), HubError> {
        self.call(
            "host.setTaskWeight",
            vec![Value::Int(id), Value::Double(weight)],
        )
        .await?;
        Ok(())
    }

    /// `host.subtask(method, arglist, parent, label=, arch=)`: idempotent per parent and
    /// label, so a restarted parent gets its existing children back.
    pub async fn subtask(
        &self,
        method: &str,
        args: Vec<Value>,
        parent: i64,
        label: &str,
        arch: &str,
    ) -> Result<i64, HubError> {
        let v = self
            .call_kw(
                "host.subtask",
                vec![Value::from(method), Value::Array(args), Value::Int(parent)],
                kw(vec![
                    ("label", Value::from(label)),
                    ("arch", Value::from(arch)),
                ]),
            )
            .await?;
        v.as_i64()
            .ok_or_else(|| HubError::shape("host.subtask", v.type_name()))
    }

    pub async fn task_set_wait(&self, parent: i64, ids: &[i64]) -> Result<(), HubError> {
        let ids = ids.iter().map(|i| Value::Int(*i)).collect();
        self.call(
            "host.taskSetWait",
            vec![Value::Int(parent), Value::Array(ids)],
        )
        .await?;
        Ok(())
    }

    /// `host.taskWait(parent)` → (finished, unfinished).
    pub async fn task_wait(&self, parent: i64) -> Result<(Vec<i64>, Vec<i64>), HubError> {
        const M: &str = "host.taskWait";
        let v = self.call(M, vec![Value::Int(parent)]).await?;
        let pair = v
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| HubError::shape(M, "expected [finished, unfinished]"))?;
        let ids = |x: &Value| -> Result<Vec<i64>, HubError> {
            x.as_array()
                .ok_or_else(|| HubError::shape(M, "expected a list of ids"))?
                .iter()
                .map(|i| i.as_i64().ok_or_else(|| HubError::shape(M, "non-int id")))
                .collect()
        };
        Ok((ids(&pair[0])?, ids(&pair[1])?))
    }

    /// `host.taskWaitResults(parent, ids)`; a failed child's fault is raised as the error.
    pub async fn task_wait_results(
        &self,
        parent: i64,
        ids: &[i64],
    ) -> Result<Vec<(i64, Value)>, HubError> {
        const M: &str = "host.taskWaitResults";
        let idv = ids.iter().map(|i| Value::Int(*i)).collect();
        let v = self
            .call(M, vec![Value::Int(parent), Value::Array(idv)])
            .await?;
        let rows = v
            .as_array()
            .ok_or_else(|| HubError::shape(M, v.type_name()))?;
        rows.iter()
            .map(|r| match r.as_array() {
                Some([id, val]) => Ok((
                    id.as_i64()
                        .ok_or_else(|| HubError::shape(M, "non-int id"))?,
                    val.clone(),
                )),
                _ => Err(HubError::shape(M, "expected [id, result] pairs")),
            })
            .collect()
    }

    /// `getTaskResult(id)`: the child's result, or its fault as the error.
    pub async fn get_task_result(&self, id: i64) -> Result<Value, HubError> {
        self.call("getTaskResult", vec![Value::Int(id)]).await
    }

    pub async fn cancel_task_children(&self, parent: i64) -> Result<(), HubError> {
        self.call("cancelTaskChildren", vec![Value::Int(parent)])
            .await?;
        Ok(())
    }
}

fn parse_host(method: &str, v: &Value) -> Result<HostInfo, HubError> {
    Ok(HostInfo {
        id: get_i64(v, "id").ok_or_else(|| HubError::shape(method, "host without id"))?,
        name: get_str(v, "name").unwrap_or_default().to_owned(),
        arches: get_str(v, "arches").unwrap_or_default().to_owned(),
        capacity: get_f64(v, "capacity").unwrap_or(2.0),
        enabled: v.get("enabled").is_none_or(Value::is_truthy),
    })
}

fn parse_assigned(method: &str, v: &Value) -> Result<Vec<AssignedTask>, HubError> {
    let rows = v
        .as_array()
        .ok_or_else(|| HubError::shape(method, v.type_name()))?;
    rows.iter()
        .map(|r| {
            Ok(AssignedTask {
                id: get_i64(r, "id").ok_or_else(|| HubError::shape(method, "row without id"))?,
                state: get_i64(r, "state").unwrap_or(TASK_ASSIGNED),
                host_id: get_i64(r, "host_id"),
                method: get_str(r, "method").unwrap_or_default().to_owned(),
                arch: get_str(r, "arch").unwrap_or_default().to_owned(),
                weight: get_f64(r, "weight").unwrap_or(1.0),
            })
        })
        .collect()
}

impl Uploader for Hub {
    async fn upload_chunk(
        &self,
        filepath: &str,
        filename: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<(), UploadError> {
        let err = |message: String| UploadError::Hub {
            name: filename.to_owned(),
            offset,
            message,
        };
        let off = i64::try_from(offset).map_err(|_| err("offset too large".into()))?;
        let len = data.len();
        let mut sum = adler2::Adler32::new();
        sum.write_slice(&data);
        let want = format!("{:08x}", sum.checksum());
        let v = {
            let _g = self.acquire().await;
            self.client
                .raw_upload(filepath, filename, off, data, true)
                .await
                .map_err(|e| err(e.to_string()))?
        };
        // The hub answers {size, hexdigest, offset}: a short write or a corrupted chunk
        // must fail the upload rather than leave a broken RPM on the hub.
        if let Some(size) = get_i64(&v, "size")
            && usize::try_from(size).ok() != Some(len)
        {
            return Err(err(format!("hub stored {size} bytes of {len}")));
        }
        if let Some(digest) = get_str(&v, "hexdigest")
            && !digest.eq_ignore_ascii_case(&want)
        {
            return Err(err(format!(
                "checksum mismatch: hub {digest}, local {want}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use koji_protocol::kstruct;

    #[test]
    fn rows_parse() {
        let v = Value::Array(vec![kstruct! {
            "id" => 7, "state" => 4, "host_id" => 1, "method" => "buildArch",
            "arch" => "x86_64", "weight" => 1.5, "priority" => 19, "channel_id" => 1,
        }]);
        let t = parse_assigned("host.getTasks", &v).unwrap();
        assert_eq!(
            t,
            vec![AssignedTask {
                id: 7,
                state: 4,
                host_id: Some(1),
                method: "buildArch".into(),
                arch: "x86_64".into(),
                weight: 1.5
            }]
        );
        assert!(parse_assigned("host.getTasks", &Value::Int(1)).is_err());

        let h = kstruct! {
            "id" => 3, "name" => "b1", "arches" => "x86_64 noarch", "capacity" => 4.0,
            "enabled" => true, "ready" => false, "task_load" => 0.0,
        };
        let h = parse_host("host.getHost", &h).unwrap();
        assert_eq!(h.name, "b1");
        assert_eq!(h.capacity, 4.0);
        assert!(h.enabled);
    }
}
