//! An in-memory hub speaking the host side of the protocol over plain HTTP, just enough
//! to drive the daemon through real builds: sessions and callnums, the task table with
//! parent/child waits, uploads into a topdir, buildroot repos (requests that queue a
//! `newRepo` task, repoInit/repoDone with the contract's directory layout, buildroots),
//! and a record of every call.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use koji_protocol::{
    Fault, Limits, Struct, Value, decode_call, decode_response, encode_call, encode_fault,
    encode_response, kstruct, split_kwargs,
};
use tokio::sync::Notify;

pub const FREE: i64 = 0;
pub const OPEN: i64 = 1;
pub const CLOSED: i64 = 2;
pub const CANCELED: i64 = 3;
pub const ASSIGNED: i64 = 4;
pub const FAILED: i64 = 5;
pub const HOST_ID: i64 = 1;

#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub parent: Option<i64>,
    pub label: Option<String>,
    pub method: String,
    pub params: Vec<Value>,
    pub arch: String,
    pub state: i64,
    pub host_id: Option<i64>,
    pub waiting: bool,
    pub awaited: bool,
    pub weight: f64,
    pub result: Option<Result<Value, Fault>>,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
    pub kwargs: Struct,
    pub callnum: Option<i64>,
}

/// One repo row.
#[derive(Debug, Clone)]
pub struct Repo {
    pub id: i64,
    pub tag_id: i64,
    pub tag_name: String,
    pub state: i64,
    pub create_event: i64,
    pub task_id: Option<i64>,
    pub opts: Value,
}

/// One repo request (`repo.request`).
#[derive(Debug, Clone)]
pub struct RepoRequest {
    pub id: i64,
    pub tag_id: i64,
    pub min_event: i64,
    pub active: bool,
    pub task_id: Option<i64>,
    pub repo_id: Option<i64>,
}

/// One buildroot (`host.newBuildRoot`).
#[derive(Debug, Clone, PartialEq)]
pub struct Buildroot {
    pub id: i64,
    pub repo_id: i64,
    pub arch: String,
    pub task_id: Option<i64>,
    /// Every state it was set to, in order (0 = INIT at creation).
    pub states: Vec<i64>,
}

pub const REPO_INIT: i64 = 0;
pub const REPO_READY: i64 = 1;
pub const BUILD_TAG: i64 = 10;
pub const BUILD_TAG_NAME: &str = "tb";

#[derive(Debug, Default)]
pub struct State {
    pub enabled: bool,
    pub capacity: f64,
    pub tasks: BTreeMap<i64, Task>,
    pub next_id: i64,
    pub calls: Vec<Call>,
    /// `exclusiveSession` answers AuthLockError (another builder holds the lock).
    pub lock_taken: bool,
    pub logged_in: bool,
    /// The next call (other than a login) fails with AuthExpired.
    pub expire_next: bool,
    /// `sslLogin(renew=True)` is refused.
    pub refuse_renew: bool,
    /// The build tag's arches (`getBuildConfig`/`getTag`).
    pub tag_arches: String,
    pub repos: BTreeMap<i64, Repo>,
    pub next_repo: i64,
    pub requests: BTreeMap<i64, RepoRequest>,
    pub buildroots: BTreeMap<i64, Buildroot>,
    /// The event counter (repoInit takes the next one).
    pub event: i64,
    /// tagLastChangeEvent of the build tag: repos older than this are not current.
    pub last_change: i64,
    /// What repoInit writes into every arch's pkglist / blocklist.
    pub pkglist: Vec<String>,
    pub blocklist: Vec<String>,
    /// `getExternalRepoList` of the build tag.
    pub external_repos: Vec<Value>,
    /// Queued newRepo tasks stay FREE (no builder gets them), so builds keep waiting.
    pub hold_repo_tasks: bool,
}

pub struct FakeHub {
    pub state: Mutex<State>,
    changed: Notify,
    pub topdir: PathBuf,
    pub addr: SocketAddr,
}

pub fn is_final(state: i64) -> bool {
    matches!(state, CLOSED | CANCELED | FAILED)
}

impl FakeHub {
    pub async fn start(topdir: &Path) -> Arc<FakeHub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = Arc::new(FakeHub {
            state: Mutex::new(State {
                enabled: true,
                capacity: 4.0,
                next_id: 1,
                tag_arches: "x86_64 noarch".into(),
                next_repo: 1,
                event: 1000,
                ..State::default()
            }),
            changed: Notify::new(),
            topdir: topdir.to_path_buf(),
            addr,
        });
        let h = Arc::clone(&hub);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let h = Arc::clone(&h);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let h = Arc::clone(&h);
                        async move { Ok::<_, Infallible>(h.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        hub
    }

    pub fn url(&self) -> String {
        format!("http://{}/kojihub", self.addr)
    }

    pub fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Adds a top-level task ASSIGNED to our host (or in `state`).
    pub fn add_task(&self, method: &str, params: Vec<Value>, state: i64) -> i64 {
        let mut st = self.state.lock().unwrap();
        let id = st.next_id;
        st.next_id += 1;
        st.tasks.insert(
            id,
            Task {
                id,
                parent: None,
                label: None,
                method: method.into(),
                params,
                arch: "noarch".into(),
                state,
                host_id: (state != FREE).then_some(HOST_ID),
                waiting: false,
                awaited: false,
                weight: 1.0,
                result: None,
            },
        );
        drop(st);
        self.notify();
        id
    }

    pub fn task(&self, id: i64) -> Option<Task> {
        self.state.lock().unwrap().tasks.get(&id).cloned()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Cancels a task (and its unfinished children), as `koji cancel` does.
    pub fn cancel(&self, id: i64) {
        let mut st = self.state.lock().unwrap();
        let ids: Vec<i64> = st
            .tasks
            .values()
            .filter(|t| (t.id == id || t.parent == Some(id)) && !is_final(t.state))
            .map(|t| t.id)
            .collect();
        for i in ids {
            if let Some(t) = st.tasks.get_mut(&i) {
                t.state = CANCELED;
            }
        }
        drop(st);
        self.notify();
    }

    /// Marks the build tag changed: its existing repos are no longer current, so the next
    /// `repo.request` queues a `newRepo` task.
    pub fn tag_changed(&self) {
        let mut st = self.state.lock().unwrap();
        st.event += 1;
        st.last_change = st.event;
    }

    /// Creates a READY repo of the build tag the way repoInit + createrepo + repoDone
    /// would (layout, pkglist, repodata of the given packages); returns its id.
    pub fn make_ready_repo(&self) -> i64 {
        let (id, dir, arches, lines) = {
            let mut st = self.state.lock().unwrap();
            let (id, _) = Self::init_repo(&mut st, &self.topdir, None, Value::Nil);
            if let Some(r) = st.repos.get_mut(&id) {
                r.state = REPO_READY;
            }
            (
                id,
                repo_dir(&self.topdir, id),
                repo_arches(&st.tag_arches),
                st.pkglist.clone(),
            )
        };
        for a in arches {
            let ad = dir.join(&a);
            let files: Vec<kkoji_repodata::RpmFile> = lines
                .iter()
                .map(|l| kkoji_repodata::RpmFile {
                    path: ad.join(l),
                    location_href: l.clone(),
                })
                .collect();
            let pkgs = kkoji_repodata::read_packages(&files, &Default::default()).unwrap();
            kkoji_repodata::write_repo(&ad, &pkgs, &Default::default()).unwrap();
        }
        id
    }

    /// Creates the repo row and its directory (the contract's layout); returns
    /// (repo_id, event_id).
    fn init_repo(st: &mut State, topdir: &Path, task_id: Option<i64>, opts: Value) -> (i64, i64) {
        let id = st.next_repo;
        st.next_repo += 1;
        st.event += 1;
        let event = st.event;
        st.repos.insert(
            id,
            Repo {
                id,
                tag_id: BUILD_TAG,
                tag_name: BUILD_TAG_NAME.into(),
                state: REPO_INIT,
                create_event: event,
                task_id,
                opts,
            },
        );
        let dir = repo_dir(topdir, id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("repo.json"), format!("{{\"id\": {id}}}")).unwrap();
        for a in repo_arches(&st.tag_arches) {
            let ad = dir.join(&a);
            std::fs::create_dir_all(&ad).unwrap();
            std::os::unix::fs::symlink("../../../..", ad.join("toplink")).unwrap();
            let mut text = st.pkglist.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(ad.join("pkglist"), text).unwrap();
            let mut text = st.blocklist.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            std::fs::write(ad.join("blocklist"), text).unwrap();
        }
        (id, event)
    }

    fn repo_struct(r: &Repo) -> Value {
        kstruct! {
            "id" => r.id, "state" => r.state, "tag_id" => r.tag_id,
            "tag_name" => r.tag_name.as_str(), "create_event" => r.create_event,
            "task_id" => r.task_id, "opts" => r.opts.clone(), "dist" => false,
            "problem" => None::<&str>,
        }
    }

    fn request_struct(st: &State, r: &RepoRequest) -> Value {
        let task_state = r.task_id.and_then(|t| st.tasks.get(&t)).map(|t| t.state);
        kstruct! {
            "id" => r.id, "tag_id" => r.tag_id, "tag_name" => BUILD_TAG_NAME,
            "min_event" => r.min_event, "active" => r.active, "task_id" => r.task_id,
            "task_state" => task_state, "repo_id" => r.repo_id, "tries" => 1,
        }
    }

    /// Waits until `f` holds (polling), panicking with `what` after `timeout`.
    pub async fn wait_for(&self, what: &str, timeout: Duration, f: impl Fn(&State) -> bool) {
        let t0 = Instant::now();
        loop {
            if f(&self.state.lock().unwrap()) {
                return;
            }
            if t0.elapsed() > timeout {
                let st = self.state.lock().unwrap();
                let methods: Vec<&str> = st.calls.iter().map(|c| c.method.as_str()).collect();
                panic!(
                    "timed out waiting for {what}; tasks: {:#?}; calls: {methods:?}",
                    st.tasks
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let callnum = req
            .headers()
            .get("koji-session-callnum")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let query = req.uri().query().map(str::to_owned);
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let out = match query {
            Some(q) if q.contains("filename=") => {
                self.record("rawUpload", Vec::new(), Struct::new(), callnum);
                self.upload(&q, &body)
            }
            _ => match decode_call(&body, &Limits::default()) {
                Ok(call) => {
                    let (params, kwargs) = split_kwargs(call.params);
                    self.record(&call.method, params.clone(), kwargs.clone(), callnum);
                    self.dispatch(&call.method, params, kwargs).await
                }
                Err(e) => Err(Fault::generic(format!("bad request: {e}"))),
            },
        };
        let text = match out {
            Ok(v) => encode_response(&v),
            Err(f) => encode_fault(&f),
        };
        Response::builder()
            .header("Koji-Version", "1.36.1")
            .header("Content-Type", "text/xml")
            .body(Full::new(Bytes::from(text)))
            .unwrap()
    }

    fn record(&self, method: &str, params: Vec<Value>, kwargs: Struct, callnum: Option<i64>) {
        self.state.lock().unwrap().calls.push(Call {
            method: method.into(),
            params,
            kwargs,
            callnum,
        });
    }

    fn upload(&self, query: &str, body: &[u8]) -> Result<Value, Fault> {
        let mut filename = String::new();
        let mut filepath = String::new();
        let mut offset = 0u64;
        let mut overwrite = false;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = unquote(v);
            match k {
                "filename" => filename = v,
                "filepath" => filepath = v,
                "offset" => offset = v.parse().map_err(|_| Fault::generic("bad offset"))?,
                "overwrite" => overwrite = v == "1",
                _ => {}
            }
        }
        assert!(overwrite, "the builder always uploads with overwrite");
        assert!(body.len() <= 1 << 20, "chunk larger than 1 MiB");
        let dir = self.topdir.join("work").join(&filepath);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(&filename);
        let mut data = std::fs::read(&path).unwrap_or_default();
        data.truncate(offset as usize);
        assert_eq!(data.len() as u64, offset, "upload gap in {filename}");
        data.extend_from_slice(body);
        std::fs::write(&path, &data).unwrap();
        let mut a = adler2::Adler32::new();
        a.write_slice(body);
        Ok(kstruct! {
            "size" => body.len(),
            "hexdigest" => format!("{:08x}", a.checksum()),
            "offset" => offset as i64,
            "fileverify" => "adler32",
        })
    }

    fn host_struct(st: &State) -> Value {
        kstruct! {
            "id" => HOST_ID, "user_id" => 2, "name" => "builder01", "arches" => "x86_64 noarch",
            "capacity" => st.capacity, "enabled" => st.enabled, "ready" => false,
            "task_load" => 0.0, "description" => None::<&str>, "comment" => None::<&str>,
        }
    }

    fn row(t: &Task) -> Value {
        kstruct! {
            "id" => t.id, "state" => t.state, "channel_id" => 1, "host_id" => t.host_id,
            "arch" => t.arch.as_str(), "method" => t.method.as_str(), "priority" => 20,
            "create_ts" => 1.0, "weight" => t.weight,
        }
    }

    fn assigned(st: &State) -> Vec<Value> {
        st.tasks
            .values()
            .filter(|t| t.state == ASSIGNED && t.host_id == Some(HOST_ID))
            .map(Self::row)
            .collect()
    }

    async fn dispatch(
        self: &Arc<Self>,
        method: &str,
        p: Vec<Value>,
        kw: Struct,
    ) -> Result<Value, Fault> {
        let int = |i: usize| -> Result<i64, Fault> {
            p.get(i)
                .and_then(Value::as_i64)
                .ok_or_else(|| Fault::new(1019, format!("{method}: param {i} must be an int")))
        };
        if method == "host.waitTasks" {
            let timeout = kw.get("timeout").and_then(Value::as_f64).unwrap_or(30.0);
            let deadline = Instant::now() + Duration::from_secs_f64(timeout);
            loop {
                let n = self.changed.notified();
                tokio::pin!(n);
                n.as_mut().enable();
                {
                    let st = self.state.lock().unwrap();
                    let rows = Self::assigned(&st);
                    if !rows.is_empty() {
                        return Ok(Value::Array(rows));
                    }
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Value::Array(Vec::new()));
                }
                let _ = tokio::time::timeout(left, n).await;
            }
        }
        let mut st = self.state.lock().unwrap();
        if st.expire_next && method != "sslLogin" {
            st.expire_next = false;
            return Err(Fault::new(1007, "session \"1\" has expired"));
        }
        if method == "sslLogin" && kw.get("renew").is_some_and(Value::is_truthy) && st.refuse_renew
        {
            return Err(Fault::new(1002, "renewal refused"));
        }
        // like the real hub: these need the task OPEN on this host
        if matches!(
            method,
            "host.taskWait" | "host.taskSetWait" | "host.taskWaitResults" | "host.setTaskWeight"
        ) {
            let id = int(0)?;
            let held = st
                .tasks
                .get(&id)
                .is_some_and(|t| t.state == OPEN && t.host_id == Some(HOST_ID));
            if !held {
                return Err(Fault::new(
                    1004,
                    format!("host {HOST_ID} does not hold task {id}"),
                ));
            }
        }
        let r = match method {
            "sslLogin" => {
                st.logged_in = true;
                Ok(kstruct! {"session-id" => 1, "session-key" => "1-abc", "header-auth" => true})
            }
            "exclusiveSession" if st.lock_taken => {
                Err(Fault::new(1006, "User locked by another session"))
            }
            "exclusiveSession" | "host.setTaskWeight" | "host.updateHost" | "host.tagBuild"
            | "host.failBuild" => {
                if method == "host.setTaskWeight" {
                    let id = int(0)?;
                    if let Some(t) = st.tasks.get_mut(&id) {
                        t.weight = p.get(1).and_then(Value::as_f64).unwrap_or(1.0);
                    }
                }
                Ok(Value::Nil)
            }
            "logout" => {
                st.logged_in = false;
                Ok(Value::Nil)
            }
            "host.getID" => Ok(Value::Int(HOST_ID)),
            "host.getHost" => Ok(Self::host_struct(&st)),
            "host.getTasks" => Ok(Value::Array(Self::assigned(&st))),
            "host.getHostTasks" => Ok(Value::Array(
                st.tasks
                    .values()
                    .filter(|t| t.state == OPEN && t.host_id == Some(HOST_ID))
                    .map(|t| kstruct! {"id" => t.id, "waiting" => t.waiting, "weight" => t.weight})
                    .collect(),
            )),
            "host.openTask" => {
                let id = int(0)?;
                match st.tasks.get_mut(&id) {
                    Some(t)
                        if t.state == FREE
                            || (t.state == ASSIGNED && t.host_id == Some(HOST_ID)) =>
                    {
                        t.state = OPEN;
                        t.host_id = Some(HOST_ID);
                        Ok(kstruct! {
                            "id" => t.id, "method" => t.method.as_str(), "state" => OPEN,
                            "arch" => t.arch.as_str(),
                            "request" => encode_call(&t.method, &t.params),
                        })
                    }
                    _ => Ok(Value::Nil),
                }
            }
            "host.closeTask" | "host.failTask" => {
                let id = int(0)?;
                let xml = p.get(1).and_then(Value::as_str).unwrap_or_default();
                let resp = decode_response(xml.as_bytes(), &Limits::default())
                    .map_err(|e| Fault::generic(format!("bad result XML: {e}")))?;
                match st.tasks.get_mut(&id) {
                    Some(t) if t.state == OPEN => {
                        t.state = if method == "host.closeTask" {
                            CLOSED
                        } else {
                            FAILED
                        };
                        t.result = Some(resp);
                        Ok(Value::Nil)
                    }
                    _ => Err(Fault::new(1004, format!("task {id} is not open"))),
                }
            }
            "host.freeTasks" => {
                for id in p
                    .first()
                    .and_then(Value::as_array)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_i64)
                {
                    if let Some(t) = st.tasks.get_mut(&id)
                        && t.state == OPEN
                    {
                        t.state = FREE;
                        t.host_id = None;
                    }
                }
                Ok(Value::Nil)
            }
            "host.refuseTask" => {
                let id = int(0)?;
                if let Some(t) = st.tasks.get_mut(&id)
                    && t.host_id == Some(HOST_ID)
                {
                    t.state = FREE;
                    t.host_id = None;
                }
                Ok(Value::Nil)
            }
            "host.subtask" => {
                let child_method = p
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let args = p
                    .get(1)
                    .and_then(Value::as_array)
                    .unwrap_or_default()
                    .to_vec();
                let parent = int(2)?;
                let label = kw.get("label").and_then(Value::as_str).map(str::to_owned);
                let arch = kw
                    .get("arch")
                    .and_then(Value::as_str)
                    .unwrap_or("noarch")
                    .to_owned();
                if st.tasks.get(&parent).map(|t| t.state) != Some(OPEN) {
                    return Err(Fault::generic(format!(
                        "Parent task (id {parent}) is not open"
                    )));
                }
                if let Some(t) = st
                    .tasks
                    .values()
                    .find(|t| t.parent == Some(parent) && t.label == label)
                {
                    return Ok(Value::Int(t.id));
                }
                let id = st.next_id;
                st.next_id += 1;
                st.tasks.insert(
                    id,
                    Task {
                        id,
                        parent: Some(parent),
                        label,
                        method: child_method,
                        params: args,
                        arch,
                        // the scheduler assigns it to us at once
                        state: ASSIGNED,
                        host_id: Some(HOST_ID),
                        waiting: false,
                        awaited: false,
                        weight: 1.0,
                        result: None,
                    },
                );
                Ok(Value::Int(id))
            }
            "host.taskSetWait" => {
                let parent = int(0)?;
                let ids: Vec<i64> = p
                    .get(1)
                    .and_then(Value::as_array)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect();
                if let Some(t) = st.tasks.get_mut(&parent) {
                    t.waiting = true;
                }
                for t in st.tasks.values_mut() {
                    if t.parent == Some(parent) {
                        t.awaited = ids.contains(&t.id);
                    }
                }
                Ok(Value::Nil)
            }
            "host.taskWait" => {
                let parent = int(0)?;
                let mut finished = Vec::new();
                let mut unfinished = Vec::new();
                for t in st.tasks.values_mut() {
                    if t.parent == Some(parent) && t.awaited {
                        if is_final(t.state) {
                            t.awaited = false;
                            finished.push(Value::Int(t.id));
                        } else {
                            unfinished.push(Value::Int(t.id));
                        }
                    }
                }
                Ok(Value::Array(vec![
                    Value::Array(finished),
                    Value::Array(unfinished),
                ]))
            }
            "host.taskWaitResults" => {
                let parent = int(0)?;
                if let Some(t) = st.tasks.get_mut(&parent) {
                    t.waiting = false;
                }
                let ids: Vec<i64> = p
                    .get(1)
                    .and_then(Value::as_array)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect();
                let mut out = Vec::new();
                for id in ids {
                    let t = st
                        .tasks
                        .get(&id)
                        .ok_or_else(|| Fault::generic("no such task"))?;
                    match &t.result {
                        Some(Ok(v)) => out.push(Value::Array(vec![Value::Int(id), v.clone()])),
                        Some(Err(f)) => return Err(f.clone()),
                        None => return Err(Fault::generic(format!("Task {id} is not finished"))),
                    }
                }
                Ok(Value::Array(out))
            }
            "getTaskResult" => {
                let id = int(0)?;
                let t = st
                    .tasks
                    .get(&id)
                    .ok_or_else(|| Fault::generic("no such task"))?;
                match (&t.result, t.state) {
                    (_, CANCELED) => Err(Fault::generic(format!("Task {id} is canceled"))),
                    (Some(Ok(v)), _) => Ok(v.clone()),
                    (Some(Err(f)), _) => Err(f.clone()),
                    (None, _) => Err(Fault::generic(format!("Task {id} is not finished"))),
                }
            }
            "cancelTaskChildren" => {
                let parent = int(0)?;
                for t in st.tasks.values_mut() {
                    if t.parent == Some(parent) && !is_final(t.state) {
                        t.state = CANCELED;
                    }
                }
                Ok(Value::Nil)
            }
            "getBuildTarget" => match p.first().and_then(Value::as_str) {
                Some("tgt") => Ok(kstruct! {
                    "id" => 1, "name" => "tgt", "build_tag" => 10, "build_tag_name" => "tb",
                    "dest_tag" => 11, "dest_tag_name" => "td",
                }),
                _ => Ok(Value::Nil),
            },
            "getBuildConfig" | "getTag" => Ok(kstruct! {
                "id" => BUILD_TAG, "name" => BUILD_TAG_NAME, "arches" => st.tag_arches.as_str(),
                "extra" => Struct::new(),
            }),
            "getPackageConfig" => match p.get(1).and_then(Value::as_str) {
                Some(n) if n.starts_with("kkojitest-unlisted") => Ok(Value::Nil),
                Some(n) => Ok(kstruct! {
                    "package_name" => n, "tag_id" => 11, "tag_name" => "td", "blocked" => false,
                    "extra_arches" => None::<&str>,
                }),
                None => Err(Fault::new(1019, "pkg required")),
            },
            "host.initBuild" => Ok(Value::Int(77)),
            "host.moveBuildToScratch" | "host.completeBuild" => {
                // the hub checks that every file is there
                let (srpm_i, rpms_i) = if method == "host.completeBuild" {
                    (2, 3)
                } else {
                    (1, 2)
                };
                let mut files = vec![p.get(srpm_i).cloned().unwrap_or(Value::Nil)];
                files.extend(
                    p.get(rpms_i)
                        .and_then(Value::as_array)
                        .unwrap_or_default()
                        .iter()
                        .cloned(),
                );
                for f in files {
                    let rel = f.as_str().ok_or_else(|| Fault::generic("path expected"))?;
                    if !self.topdir.join("work").join(rel).is_file() {
                        return Err(Fault::generic(format!("missing file: {rel}")));
                    }
                }
                Ok(Value::Nil)
            }
            "repo.request" => {
                let tag = int(0)?;
                let current = st
                    .repos
                    .values()
                    .filter(|r| {
                        r.tag_id == tag && r.state == REPO_READY && r.create_event >= st.last_change
                    })
                    .max_by_key(|r| r.id)
                    .cloned();
                if let Some(r) = current {
                    return Ok(kstruct! {
                        "repo" => Self::repo_struct(&r), "request" => None::<&str>,
                        "duplicate" => false,
                    });
                }
                if let Some(r) = st.requests.values().find(|r| r.active && r.tag_id == tag) {
                    return Ok(kstruct! {
                        "repo" => None::<&str>, "request" => Self::request_struct(&st, r),
                        "duplicate" => true,
                    });
                }
                // the hub's queue: a newRepo task in the repo queue's call form
                let rid = st.requests.len() as i64 + 1;
                let tid = st.next_id;
                st.next_id += 1;
                let mut kwargs = Struct::new();
                kwargs.insert(
                    "opts".into(),
                    kstruct! {"src" => false, "debuginfo" => false, "separate_src" => false},
                );
                kwargs.insert("event".into(), Value::Int(st.event));
                let params = koji_protocol::join_kwargs(
                    vec![kstruct! {"id" => tag, "name" => BUILD_TAG_NAME}],
                    kwargs,
                );
                let hold = st.hold_repo_tasks;
                st.tasks.insert(
                    tid,
                    Task {
                        id: tid,
                        parent: None,
                        label: None,
                        method: "newRepo".into(),
                        params,
                        arch: "noarch".into(),
                        state: if hold { FREE } else { ASSIGNED },
                        host_id: (!hold).then_some(HOST_ID),
                        waiting: false,
                        awaited: false,
                        weight: 0.1,
                        result: None,
                    },
                );
                let req = RepoRequest {
                    id: rid,
                    tag_id: tag,
                    min_event: st.last_change,
                    active: true,
                    task_id: Some(tid),
                    repo_id: None,
                };
                let v = kstruct! {
                    "repo" => None::<&str>, "request" => Self::request_struct(&st, &req),
                    "duplicate" => false,
                };
                st.requests.insert(rid, req);
                Ok(v)
            }
            "repo.checkRequest" => {
                let rid = int(0)?;
                let Some(mut req) = st.requests.get(&rid).cloned() else {
                    return Err(Fault::generic(format!("No such repo request: {rid}")));
                };
                if req.active
                    && let Some(t) = req.task_id.and_then(|t| st.tasks.get(&t))
                    && matches!(t.state, FAILED | CANCELED)
                {
                    req.active = false;
                    st.requests.insert(rid, req.clone());
                }
                let repo = req
                    .repo_id
                    .and_then(|r| st.repos.get(&r))
                    .map(Self::repo_struct)
                    .unwrap_or(Value::Nil);
                Ok(kstruct! {"repo" => repo, "request" => Self::request_struct(&st, &req)})
            }
            "repoInfo" => {
                let rid = int(0)?;
                match st.repos.get(&rid) {
                    Some(r) => Ok(Self::repo_struct(r)),
                    None if p.get(1).is_some_and(Value::is_truthy) => {
                        Err(Fault::generic(format!("No such repo: {rid}")))
                    }
                    None => Ok(Value::Nil),
                }
            }
            "getRepo" => Ok(st
                .repos
                .values()
                .filter(|r| r.state == REPO_READY)
                .max_by_key(|r| r.id)
                .map(Self::repo_struct)
                .unwrap_or(Value::Nil)),
            "getExternalRepoList" => Ok(Value::Array(st.external_repos.clone())),
            "host.repoInit" => {
                let task_id = kw.get("task_id").and_then(Value::as_i64);
                let opts = kw.get("opts").cloned().unwrap_or(Value::Nil);
                let (id, event) = Self::init_repo(&mut st, &self.topdir, task_id, opts);
                Ok(Value::Array(vec![Value::Int(id), Value::Int(event)]))
            }
            "host.repoDone" => {
                let rid = int(0)?;
                let data = p
                    .get(1)
                    .and_then(Value::as_struct)
                    .cloned()
                    .unwrap_or_default();
                let dir = repo_dir(&self.topdir, rid);
                for (arch, v) in &data {
                    let (Some(up), Some(files)) = (
                        v.as_array().and_then(|a| a.first()).and_then(Value::as_str),
                        v.as_array()
                            .and_then(|a| a.get(1))
                            .and_then(Value::as_array),
                    ) else {
                        return Err(Fault::generic(format!("bad repoDone data for {arch}")));
                    };
                    let rd = dir.join(arch).join("repodata");
                    std::fs::create_dir_all(&rd).unwrap();
                    for f in files.iter().filter_map(Value::as_str) {
                        let src = self.topdir.join("work").join(up).join(f);
                        std::fs::rename(&src, rd.join(f)).map_err(|e| {
                            Fault::generic(format!("cannot move {}: {e}", src.display()))
                        })?;
                    }
                }
                let task_id = match st.repos.get_mut(&rid) {
                    Some(r) if r.state == REPO_INIT => {
                        r.state = REPO_READY;
                        r.task_id
                    }
                    _ => return Err(Fault::generic(format!("repo {rid} is not INIT"))),
                };
                for req in st.requests.values_mut() {
                    if req.active && req.task_id.is_some() && req.task_id == task_id {
                        req.active = false;
                        req.repo_id = Some(rid);
                    }
                }
                Ok(Value::Nil)
            }
            "host.newBuildRoot" => {
                let repo_id = int(0)?;
                let arch = p
                    .get(1)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let id = st.buildroots.len() as i64 + 1;
                st.buildroots.insert(
                    id,
                    Buildroot {
                        id,
                        repo_id,
                        arch,
                        task_id: kw.get("task_id").and_then(Value::as_i64),
                        states: vec![0],
                    },
                );
                Ok(Value::Int(id))
            }
            "host.setBuildRootState" => {
                let id = int(0)?;
                let state = int(1)?;
                match st.buildroots.get_mut(&id) {
                    Some(b) => {
                        b.states.push(state);
                        Ok(Value::Nil)
                    }
                    None => Err(Fault::generic(format!("No such buildroot: {id}"))),
                }
            }
            m => Err(Fault::generic(format!("Invalid method: {m}"))),
        };
        drop(st);
        self.notify();
        r
    }
}

/// `TOPDIR/repos/tb/<id>`.
pub fn repo_dir(topdir: &Path, id: i64) -> PathBuf {
    topdir
        .join("repos")
        .join(BUILD_TAG_NAME)
        .join(id.to_string())
}

/// The hub's repo arches for tag arches: canonical, without noarch.
pub fn repo_arches(tag_arches: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in tag_arches.split_whitespace() {
        let a = kkoji_builder::srpm::canon_arch(a);
        if a != "noarch" && a != "src" && !out.iter().any(|x| x == a) {
            out.push(a.to_owned());
        }
    }
    out
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 3 <= b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A self-signed certificate + key PEM to log in with (the fake hub ignores it).
pub fn write_host_cert(dir: &Path) -> PathBuf {
    let ck = rcgen::generate_simple_self_signed(vec!["builder01".to_owned()]).unwrap();
    let pem = format!("{}{}", ck.cert.pem(), ck.signing_key.serialize_pem());
    let p = dir.join("builder01.pem");
    std::fs::write(&p, pem).unwrap();
    p
}
