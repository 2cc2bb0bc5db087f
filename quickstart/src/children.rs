//! The farm's processes: the hub, the local builder, kkoji-repo-regen. Each runs in a process
//! group of its own, so a Ctrl-C at the terminal reaches only quickstart, which then stops
//! them in order (builder and repo-regen while the hub still answers them, the hub last,
//! which stops its PostgreSQL); and each gets SIGTERM from the kernel when quickstart dies
//! without that chance (kill -9), so nothing of a farm outlives it for long.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::layout::pidfile;

/// A running daemon of the farm; its pid is kept beside its config (`X.toml` → `X.pid`) so
/// the next start can stop it if quickstart died without doing so.
pub struct Daemon {
    what: &'static str,
    child: tokio::process::Child,
    pid: Pid,
    pidfile: PathBuf,
    status: Option<ExitStatus>,
}

/// How a daemon is started.
pub struct Launch<'a> {
    /// For messages: "hub", "local builder", "repo regenerator".
    pub what: &'static str,
    pub program: &'a Path,
    /// Arguments before `--config CONFIG`.
    pub args: &'a [&'a str],
    pub config: &'a Path,
    /// Working directory (the state directory: nothing relative is used, but it keeps the
    /// daemons findable as "processes working in this farm").
    pub cwd: &'a Path,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

impl Daemon {
    /// Starts `program ARGS --config CONFIG`. Call it from the thread that lives as long as
    /// quickstart (the kernel's parent-death signal follows the spawning thread).
    pub fn spawn(l: Launch<'_>) -> anyhow::Result<Daemon> {
        let pidfile = pidfile(l.config);
        let mut cmd = std::process::Command::new(l.program);
        cmd.args(l.args)
            .arg("--config")
            .arg(l.config)
            .current_dir(l.cwd)
            .stdin(Stdio::null())
            .stdout(l.stdout)
            .stderr(l.stderr);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let parent = nix::unistd::getpid();
        // SAFETY: prctl and getppid are async-signal-safe; nothing is allocated.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
                // quickstart died between fork and prctl: nobody would ever stop this child
                if nix::unistd::getppid() != parent {
                    return Err(std::io::Error::other("quickstart exited"));
                }
                Ok(())
            });
        }
        let child = tokio::process::Command::from(cmd)
            .spawn()
            .with_context(|| format!("cannot start the {} {}", l.what, l.program.display()))?;
        let raw = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .with_context(|| format!("the {} has no pid", l.what))?;
        if let Err(e) = std::fs::write(&pidfile, raw.to_string()) {
            tracing::warn!(error = %e, path = %pidfile.display(), "cannot record the {}'s pid", l.what);
        }
        tracing::info!(pid = raw, "{} started", l.what);
        Ok(Daemon {
            what: l.what,
            child,
            pid: Pid::from_raw(raw),
            pidfile,
            status: None,
        })
    }

    pub fn what(&self) -> &'static str {
        self.what
    }

    pub fn take_stdout(&mut self) -> Option<tokio::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Resolves when the daemon has exited (at once if it had already). Cancel-safe.
    pub async fn exited(&mut self) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        let st = match self.child.wait().await {
            Ok(st) => st,
            Err(e) => {
                // only possible if the child was reaped behind our back; treat as gone
                tracing::error!(error = %e, "cannot wait for the {}", self.what);
                std::os::unix::process::ExitStatusExt::from_raw(0)
            }
        };
        self.gone(st);
        st
    }

    fn gone(&mut self, st: ExitStatus) {
        self.status = Some(st);
        let _ = std::fs::remove_file(&self.pidfile);
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> ExitStatus {
        if let Some(st) = self.status {
            return st;
        }
        if let Ok(Some(st)) = self.child.try_wait() {
            self.gone(st);
            return st;
        }
        tracing::info!(pid = self.pid.as_raw(), "stopping the {}", self.what);
        let _ = kill(self.pid, Signal::SIGTERM);
        match tokio::time::timeout(grace, self.exited()).await {
            Ok(st) => {
                tracing::info!(status = %st, "{} stopped", self.what);
                st
            }
            Err(_) => {
                tracing::warn!(
                    "the {} did not stop within {grace:?}; killing it",
                    self.what
                );
                let _ = self.child.start_kill();
                self.exited().await
            }
        }
    }
}

impl Drop for Daemon {
    /// A backstop for error paths: the daemon is told to stop even if nobody awaited it.
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(self.pid, Signal::SIGTERM);
        }
    }
}

/// Stops a daemon left running by an earlier quickstart of this state directory (one that
/// was killed before its children got their parent-death signal, or a hub still shutting
/// down): the one named by the pid file, and only if its command line names `config`.
pub fn stop_leftover(what: &str, config: &Path) {
    let pidfile = pidfile(config);
    let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&p| p > 1)
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = config.as_os_str().as_encoded_bytes();
    let ours = cmdline.split(|&b| b == 0).any(|arg| arg == needle);
    if !ours {
        let _ = std::fs::remove_file(&pidfile);
        return;
    }
    let p = Pid::from_raw(pid);
    tracing::warn!(pid, "stopping a {what} left over from an earlier run");
    let _ = kill(p, Signal::SIGTERM);
    // generous: a hub stops its PostgreSQL on the way
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        tracing::warn!(pid, "the leftover {what} ignored SIGTERM; killing it");
        let _ = kill(p, Signal::SIGKILL);
    }
    let _ = std::fs::remove_file(&pidfile);
}
