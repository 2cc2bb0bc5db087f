//! Starting and (always) stopping a farm in a box (`kkoji-quickstart --no-builder`, which
//! runs the hub as its child) for the benchmark. For hub builds older than
//! `kkoji-quickstart` (no such program beside the hub), `kkoji-hub quickstart` instead.
//!
//! Quickstart runs in its own process group, so a Ctrl-C at the terminal reaches only the
//! benchmark, which then stops it: SIGTERM (quickstart stops the hub, which stops its
//! embedded PostgreSQL), up to [`STOP_GRACE`], then SIGKILL to the process groups of
//! quickstart and of the hub. `pg_ctl` detaches the postmaster into its own session, so a
//! postmaster that outlives the hub is stopped separately (SIGQUIT: immediate shutdown,
//! then SIGKILL). `Drop` does the same, so an error or panic in the benchmark leaves
//! nothing running.

use crate::procfs;
use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the hub may take to print its `ready` line (first start runs initdb).
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the hub gets to stop after SIGTERM before its process group is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(15);
/// How long a left-over postmaster gets after SIGQUIT before SIGKILL.
const PG_GRACE: Duration = Duration::from_secs(10);

pub struct HubProcess {
    /// `kkoji-quickstart` (or an old `kkoji-hub quickstart`).
    child: Child,
    child_pid: i32,
    /// The hub itself, whose RSS and CPU time are measured (`pid` for an old hub).
    hub_pid: i32,
    /// What was started, for the report.
    pub launcher: String,
    pub state_dir: PathBuf,
    pub url: String,
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub log_path: PathBuf,
    stopped: bool,
    /// Declared last: removed only after the hub (and its PostgreSQL) are stopped.
    tmp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for HubProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubProcess")
            .field("pid", &self.child_pid)
            .field("hub_pid", &self.hub_pid)
            .field("url", &self.url)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

/// The `kkoji-hub` next to `exe` (both live in `target/release`).
pub fn default_hub_bin(exe: &Path) -> PathBuf {
    exe.with_file_name("kkoji-hub")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .context("cannot bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

impl HubProcess {
    /// Starts the hub `bin` through `kkoji-quickstart` (beside `bin`) in `state_dir` (or a
    /// fresh temporary directory) on `127.0.0.1:port` (or a free port) and waits until it
    /// prints `ready`.
    pub fn start(
        bin: &Path,
        state_dir: Option<PathBuf>,
        port: Option<u16>,
        interrupted: &AtomicBool,
    ) -> anyhow::Result<HubProcess> {
        if !bin.is_file() {
            bail!(
                "hub binary {} not found: build it with `cargo build --release -p kkoji-hub` \
                 or pass --hub-bin",
                bin.display()
            );
        }
        let (tmp, state_dir, log_path) = match state_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("{}", dir.display()))?;
                let log = dir.join("kkoji-bench-hub.log");
                (None, dir, log)
            }
            None => {
                // Under /tmp: the embedded PostgreSQL's socket path must stay short.
                let tmp = tempfile::Builder::new()
                    .prefix("kkoji-bench-")
                    .tempdir_in("/tmp")
                    .context("cannot create a temporary directory")?;
                // As root the hub runs PostgreSQL as `postgres`, which must be able to
                // traverse (not list) the directory above the state dir.
                std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711))
                    .with_context(|| format!("cannot chmod {}", tmp.path().display()))?;
                let state = tmp.path().join("state");
                let log = tmp.path().join("hub.log");
                (Some(tmp), state, log)
            }
        };
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        tracing::info!(
            bin = %bin.display(),
            state_dir = %state_dir.display(),
            %listen,
            log = %log_path.display(),
            "starting the hub"
        );
        let quickstart = bin.with_file_name("kkoji-quickstart");
        let separate = quickstart.is_file();
        let (mut cmd, launcher) = if separate {
            let mut cmd = Command::new(&quickstart);
            cmd.arg("--hub-bin").arg(bin);
            let launcher = format!("{} (via {})", bin.display(), quickstart.display());
            (cmd, launcher)
        } else {
            let mut cmd = Command::new(bin);
            cmd.arg("quickstart");
            (cmd, format!("{} quickstart", bin.display()))
        };
        cmd.arg("--state-dir")
            .arg(&state_dir)
            .arg("--listen")
            .arg(listen.to_string());
        // The benchmark measures the hub alone: a quickstart that would also run a local
        // builder (polling the hub, running tasks) is told not to.
        if separate || quickstart_has_flag(bin, "--no-builder") {
            cmd.arg("--no-builder");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let pid = i32::try_from(child.id()).context("hub pid out of range")?;
        let (tx, rx) = mpsc::channel::<String>();
        if let Some(out) = child.stdout.take() {
            // Keeps draining stdout for the hub's whole life so it never blocks on it.
            let reader = std::thread::Builder::new()
                .name("hub-stdout".into())
                .spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        tracing::debug!(target: "hub", "{line}");
                        if line.contains("ready") {
                            // The receiver may be gone already; keep draining regardless.
                            let _ = tx.send(line);
                        }
                    }
                });
            if let Err(e) = reader {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = child.wait();
                return Err(e).context("cannot start the hub's stdout reader");
            }
        }
        let certs = state_dir.join("certs");
        let mut hub = HubProcess {
            child,
            child_pid: pid,
            hub_pid: pid,
            launcher,
            state_dir,
            url: format!("https://127.0.0.1:{port}/kojihub"),
            ca_pem: certs.join("ca.crt"),
            cert_pem: certs.join("users").join("kojiadmin.pem"),
            log_path,
            stopped: false,
            tmp_dir: tmp,
        };
        // From here on `Drop` stops the hub if waiting fails.
        hub.wait_ready(&rx, interrupted)?;
        if separate {
            hub.hub_pid = hub.read_hub_pid()?;
        }
        Ok(hub)
    }

    fn wait_ready(
        &mut self,
        rx: &mpsc::Receiver<String>,
        interrupted: &AtomicBool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    tracing::info!(pid = self.child_pid, "hub: {line}");
                    break;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: the hub is exiting. Give it a moment to be reaped.
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
            if let Some(status) = self.child.try_wait().context("waiting for the hub")? {
                // `Drop` (via `stop`) cleans up whatever it left behind.
                bail!(
                    "the hub exited before it was ready ({status}); its log ends with:\n{}",
                    self.log_tail(4000)
                );
            }
            if interrupted.load(Ordering::Relaxed) {
                bail!("interrupted while waiting for the hub to start");
            }
            if Instant::now() >= deadline {
                bail!(
                    "the hub did not print `ready` within {}s; its log ends with:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log_tail(4000)
                );
            }
        }
        for f in [&self.ca_pem, &self.cert_pem] {
            if !f.is_file() {
                bail!("the hub is ready but {} does not exist", f.display());
            }
        }
        Ok(())
    }

    /// The hub process (for RSS and CPU figures).
    pub fn pid(&self) -> i32 {
        self.hub_pid
    }

    /// The hub's pid as quickstart records it (`STATE/hub.pid`), checked to be its child.
    fn read_hub_pid(&self) -> anyhow::Result<i32> {
        let path = self.state_dir.join("hub.pid");
        let pid: i32 = std::fs::read_to_string(&path)
            .with_context(|| format!("quickstart is ready but {} is missing", path.display()))?
            .trim()
            .parse()
            .with_context(|| format!("{}", path.display()))?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "pid (comm) S ppid ...": the parent follows the state after the last ')'
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid != Some(self.child_pid) {
            bail!(
                "{} names pid {pid}, which is not quickstart's hub",
                path.display()
            );
        }
        Ok(pid)
    }

    pub fn pgdata(&self) -> PathBuf {
        self.state_dir.join("pgdata")
    }

    /// The last `max` bytes of the hub's log.
    pub fn log_tail(&self, max: u64) -> String {
        let read = || -> std::io::Result<String> {
            let mut f = std::fs::File::open(&self.log_path)?;
            let len = f.metadata()?.len();
            f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        read().unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log_path.display()))
    }

    /// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL the process group; finally make
    /// sure no postmaster of this state directory is left. Idempotent.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let started = Instant::now();
        let mut result = Ok(());
        match self.child.try_wait() {
            Ok(Some(status)) => {
                tracing::error!(%status, "the hub had already exited");
                result = Err(anyhow::anyhow!(
                    "the hub exited on its own before the end ({status}); {}",
                    self.preserve_log()
                ));
            }
            _ => {
                tracing::info!(pid = self.child_pid, "stopping the hub (SIGTERM)");
                if let Err(e) = kill(Pid::from_raw(self.child_pid), Signal::SIGTERM) {
                    tracing::warn!(error = %e, "SIGTERM to the hub failed");
                }
                match wait_child(&mut self.child, STOP_GRACE) {
                    Some(status) if status.success() => {
                        tracing::info!(
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "hub stopped"
                        );
                    }
                    Some(status) => {
                        tracing::warn!(%status, "hub exited with an error status");
                        result = Err(anyhow::anyhow!(
                            "the hub exited with {status}; {}",
                            self.preserve_log()
                        ));
                    }
                    None => {
                        tracing::warn!(
                            "the hub did not stop within {}s; killing its process group",
                            STOP_GRACE.as_secs()
                        );
                        let _ = killpg(Pid::from_raw(self.child_pid), Signal::SIGKILL);
                        let _ = wait_child(&mut self.child, Duration::from_secs(5));
                        result = Err(anyhow::anyhow!(
                            "the hub ignored SIGTERM for {}s and was killed",
                            STOP_GRACE.as_secs()
                        ));
                    }
                }
            }
        }
        // Whatever the hub did, kill anything left in its process group (pg_ctl helpers).
        let _ = killpg(Pid::from_raw(self.child_pid), Signal::SIGKILL);
        if self.hub_pid != self.child_pid {
            let _ = killpg(Pid::from_raw(self.hub_pid), Signal::SIGKILL);
        }
        if self.stop_leftover_postmaster() && result.is_ok() {
            result = Err(anyhow::anyhow!(
                "the hub exited but left its PostgreSQL running (stopped it)"
            ));
        }
        // Remove our temporary directory now, and say so if that fails (a silent `Drop`
        // would leave a PostgreSQL data directory behind unnoticed).
        if let Some(tmp) = self.tmp_dir.take() {
            let path = tmp.path().to_path_buf();
            if let Err(e) = tmp.close() {
                tracing::warn!(dir = %path.display(), error = %e, "cannot remove the temporary directory");
            }
        }
        result
    }

    /// Copies the hub's log out of the temporary directory (which is about to go) and says
    /// where it is.
    fn preserve_log(&self) -> String {
        if self.tmp_dir.is_none() {
            return format!("its log is {}", self.log_path.display());
        }
        let keep = std::env::temp_dir().join(format!("kkoji-bench-hub-{}.log", self.child_pid));
        match std::fs::copy(&self.log_path, &keep) {
            Ok(_) => format!("its log is kept in {}", keep.display()),
            Err(e) => format!(
                "its log could not be kept ({e}); it ended with:\n{}",
                self.log_tail(2000)
            ),
        }
    }

    /// Stops a postmaster still running on our data directory. Returns whether one was.
    fn stop_leftover_postmaster(&self) -> bool {
        let pgdata = self.pgdata();
        let Some(pm) = procfs::postmaster_pid(&pgdata) else {
            return false;
        };
        if !procfs::alive(pm) || !is_postgres(pm) {
            return false;
        }
        tracing::warn!(
            pid = pm,
            "PostgreSQL still running; immediate shutdown (SIGQUIT)"
        );
        let _ = kill(Pid::from_raw(pm), Signal::SIGQUIT);
        let deadline = Instant::now() + PG_GRACE;
        while procfs::alive(pm) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if procfs::alive(pm) {
            tracing::warn!(
                pid = pm,
                "PostgreSQL ignored SIGQUIT; killing its processes"
            );
            if let Ok(tree) = procfs::process_tree(pm) {
                for p in tree.into_iter().rev() {
                    let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                }
            }
        }
        true
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %format!("{e:#}"), "stopping the hub");
        }
    }
}

/// Whether `bin quickstart --help` mentions `flag` (hubs differ in what quickstart runs).
fn quickstart_has_flag(bin: &Path, flag: &str) -> bool {
    let out = std::env::temp_dir().join(format!("kkoji-bench-help-{}.txt", std::process::id()));
    let Ok(file) = std::fs::File::create(&out) else {
        return false;
    };
    let child = Command::new(bin)
        .args(["quickstart", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .spawn();
    let found = match child {
        Ok(mut c) => {
            if wait_child(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
            std::fs::read_to_string(&out).is_ok_and(|t| t.contains(flag))
        }
        Err(_) => false,
    };
    let _ = std::fs::remove_file(&out);
    found
}

/// Polls `child` until it exits or `timeout` passes.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the hub");
                return None;
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` runs a PostgreSQL binary (guards against a recycled pid).
fn is_postgres(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("postgres"))
        .unwrap_or(false)
}
