//! Volume probes that cannot hang the daemon.
//!
//! A `stat`/`statvfs` on a dead NFS hard mount blocks in the kernel, uninterruptibly and
//! possibly forever. Such a call must never run on the async runtime, and not on
//! `spawn_blocking` either: a blocking-pool thread that never returns is never given back,
//! and probing every few seconds would pile them up. So each probe runs on a dedicated
//! thread that we can abandon; the caller waits on a channel with a timeout. A probe still
//! hung from an earlier check is reported as not answering *without* starting another
//! thread, so a dead mount costs exactly one stuck thread, not one per check.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a successful probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeInfo {
    /// Bytes available to unprivileged users (`f_bavail * f_frsize`).
    pub free_bytes: u64,
}

/// The probe itself; injectable so tests can simulate a hung filesystem.
pub type ProbeFn = Arc<dyn Fn(&Path) -> Result<ProbeInfo, String> + Send + Sync>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Answered(ProbeInfo),
    Failed(String),
    /// No answer within the timeout. `since` is when the hung probe was started (it may
    /// be from an earlier check).
    NotAnswering {
        since: Instant,
    },
}

struct InFlight {
    rx: Receiver<Result<ProbeInfo, String>>,
    since: Instant,
}

pub struct Prober {
    probe: ProbeFn,
    inflight: Mutex<HashMap<PathBuf, InFlight>>,
    threads_started: AtomicUsize,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    /// A prober doing a real `stat` + `statvfs`.
    pub fn new() -> Self {
        Self::with_probe(Arc::new(stat_probe))
    }

    pub fn with_probe(probe: ProbeFn) -> Self {
        Prober {
            probe,
            inflight: Mutex::new(HashMap::new()),
            threads_started: AtomicUsize::new(0),
        }
    }

    /// How many probe threads were ever started (tests check there is no pile-up).
    pub fn threads_started(&self) -> usize {
        self.threads_started.load(Ordering::SeqCst)
    }

    /// Paths whose probe thread is still stuck.
    pub fn hung_paths(&self) -> Vec<PathBuf> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, InFlight>> {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Probes every path concurrently and returns within about `timeout` whatever the
    /// filesystems do. Blocks the calling thread for at most `timeout`: call it from
    /// `spawn_blocking` (that thread always comes back) or use [`Prober::probe_all_async`].
    pub fn probe_all(&self, paths: &[PathBuf], timeout: Duration) -> Vec<ProbeOutcome> {
        let mut inflight = self.lock();
        let start = Instant::now();
        let deadline = start + timeout;
        enum Slot {
            Done(ProbeOutcome),
            Waiting(Receiver<Result<ProbeInfo, String>>),
        }
        let mut slots = Vec::with_capacity(paths.len());
        for path in paths {
            if let Some(prev) = inflight.get(path) {
                match prev.rx.try_recv() {
                    Err(TryRecvError::Empty) => {
                        tracing::debug!(path = %path.display(), "probe still hung from an earlier check");
                        slots.push(Slot::Done(ProbeOutcome::NotAnswering { since: prev.since }));
                        continue;
                    }
                    // The old probe finally answered (or died): the mount may be back, so
                    // measure afresh rather than trust a stale answer.
                    Ok(_) | Err(TryRecvError::Disconnected) => {
                        tracing::info!(path = %path.display(), "hung probe came back");
                        inflight.remove(path);
                    }
                }
            }
            let (tx, rx) = mpsc::channel();
            let probe = Arc::clone(&self.probe);
            let p = path.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("probe {}", path.display()))
                .spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe(&p)))
                        .unwrap_or_else(|_| Err("probe panicked".to_owned()));
                    // The receiver is gone when nobody waits any more: nothing to do.
                    let _ = tx.send(r);
                });
            match spawned {
                Ok(_) => {
                    self.threads_started.fetch_add(1, Ordering::SeqCst);
                    slots.push(Slot::Waiting(rx));
                }
                Err(e) => slots.push(Slot::Done(ProbeOutcome::Failed(format!(
                    "cannot start a probe thread: {e}"
                )))),
            }
        }
        let mut out = Vec::with_capacity(paths.len());
        for (path, slot) in paths.iter().zip(slots) {
            let rx = match slot {
                Slot::Done(o) => {
                    out.push(o);
                    continue;
                }
                Slot::Waiting(rx) => rx,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(info)) => out.push(ProbeOutcome::Answered(info)),
                Ok(Err(e)) => out.push(ProbeOutcome::Failed(e)),
                Err(RecvTimeoutError::Timeout) => {
                    tracing::warn!(path = %path.display(), timeout = ?timeout, "volume not answering");
                    inflight.insert(path.clone(), InFlight { rx, since: start });
                    out.push(ProbeOutcome::NotAnswering { since: start });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    out.push(ProbeOutcome::Failed("probe thread died".to_owned()))
                }
            }
        }
        out
    }

    /// [`Prober::probe_all`] off the async runtime.
    pub async fn probe_all_async(
        self: &Arc<Self>,
        paths: Vec<PathBuf>,
        timeout: Duration,
    ) -> Vec<ProbeOutcome> {
        let me = Arc::clone(self);
        let n = paths.len();
        match tokio::task::spawn_blocking(move || me.probe_all(&paths, timeout)).await {
            Ok(v) => v,
            Err(e) => vec![ProbeOutcome::Failed(format!("probe task failed: {e}")); n],
        }
    }
}

/// Runs `f` on a dedicated, abandonable thread and waits at most `timeout` for it. For
/// file access that may touch a dead NFS mount (reading an SRPM header from topdir,
/// mounting), where a hung `spawn_blocking` thread would never come back.
pub async fn on_thread<T, F>(name: &str, timeout: Duration, f: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(format!("{name}: thread died")),
        Err(_) => Err(format!("{name}: no answer within {}s", timeout.as_secs())),
    }
}

/// The real probe: the path must exist and be a directory, and `statvfs` must answer.
pub fn stat_probe(path: &Path) -> Result<ProbeInfo, String> {
    let md = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "path does not exist".to_owned(),
        _ => e.to_string(),
    })?;
    if !md.is_dir() {
        return Err("not a directory".to_owned());
    }
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| format!("statvfs: {e}"))?;
    let free = st.blocks_available().saturating_mul(st.fragment_size());
    Ok(ProbeInfo { free_bytes: free })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_probe_of_tmp_and_missing_path() {
        let p = Prober::new();
        let dir = std::env::temp_dir();
        let missing = PathBuf::from("/nonexistent/kkoji-probe");
        let out = p.probe_all(&[dir, missing], Duration::from_secs(5));
        assert!(
            matches!(out[0], ProbeOutcome::Answered(ProbeInfo { free_bytes }) if free_bytes > 0)
        );
        assert_eq!(out[1], ProbeOutcome::Failed("path does not exist".into()));
        assert_eq!(p.threads_started(), 2);
        assert!(p.hung_paths().is_empty());
    }

    #[test]
    fn panicking_probe_is_a_failure() {
        let p = Prober::with_probe(Arc::new(|_: &Path| panic!("boom")));
        let out = p.probe_all(&[PathBuf::from("/x")], Duration::from_secs(5));
        assert_eq!(out, vec![ProbeOutcome::Failed("probe panicked".into())]);
    }
}
