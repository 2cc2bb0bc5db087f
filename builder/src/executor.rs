//! Runs one build (rpmbuild, or mock when configured) in a task directory and owns its
//! process tree.
//!
//! The build runs in its own process group so that a cancel reaches every process it
//! started (rpmbuild → sh → make → compilers, or a `sleep` in %build): the whole group
//! gets SIGTERM, and SIGKILL if anything is left after a grace period. Killing only the
//! direct child would leave orphans burning CPU that the load check would then count.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;

use crate::cancel::CancelToken;
use crate::taskdir::TaskDir;

/// How long a canceled build gets to exit after SIGTERM before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `rpmbuild --rebuild` directly on the host (no buildroot).
    Rpmbuild { program: String },
    /// `mock -r CONFIG --rebuild` (mock writes build.log, root.log, state.log itself).
    Mock { program: PathBuf, config: String },
}

#[derive(Debug, Clone)]
pub struct BuildJob {
    pub task_id: i64,
    /// The source RPM on local (or NFS) disk.
    pub srpm: PathBuf,
    /// Target arch, or `noarch`.
    pub arch: String,
    pub backend: Backend,
    /// What the build was checked against (the buildroot repo, which package met each
    /// BuildRequires), written to root.log so a user can see it next to the build.
    pub root_notes: Vec<String>,
}

/// What a successful build left in the task directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildProducts {
    pub rpms: Vec<PathBuf>,
    /// Source RPMs the build produced (mock writes one; rpmbuild --rebuild does not).
    pub srpms: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The build ran and failed; the text is the reason for the task's fault.
    #[error("{0}")]
    BuildFailed(String),
    #[error("build canceled")]
    Canceled,
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecError {
    let context = context.into();
    move |source| ExecError::Io { context, source }
}

/// The log files a build writes, as (local path, name on the hub), in upload order.
pub fn log_files(backend: &Backend, dir: &TaskDir) -> Vec<(PathBuf, String)> {
    match backend {
        Backend::Rpmbuild { .. } => ["build.log", "root.log", "state.log"]
            .iter()
            .map(|n| (dir.log(n), (*n).to_owned()))
            .collect(),
        Backend::Mock { .. } => {
            let mut v: Vec<(PathBuf, String)> = ["build.log", "root.log", "state.log"]
                .iter()
                .map(|n| (dir.result_dir().join(n), (*n).to_owned()))
                .collect();
            v.push((dir.log("mock_output.log"), "mock_output.log".into()));
            v
        }
    }
}

/// Looks `program` up in PATH (or takes it as a path when it contains a slash).
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.3f UTC")
        .to_string()
}

/// Appends timestamped state transitions to `state.log`.
struct StateLog {
    path: PathBuf,
}

impl StateLog {
    async fn note(&self, msg: &str) {
        let line = format!("{} - {msg}\n", timestamp());
        let r = async {
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            f.write_all(line.as_bytes()).await?;
            f.flush().await
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(path = %self.path.display(), "cannot write state.log: {e}");
        }
    }
}

/// The command line for the build.
pub fn build_command(job: &BuildJob, dir: &TaskDir) -> (String, Vec<String>) {
    match &job.backend {
        Backend::Rpmbuild { program } => {
            let mut args = vec![
                "--rebuild".to_owned(),
                // There is no chroot to install a buildroot into: the BuildRequires
                // are checked against the buildroot repo's metadata before the build
                // (tasks::build_arch), and checking them against the host's rpm
                // database would only fail builds.
                "--nodeps".to_owned(),
                "--define".to_owned(),
                format!("_topdir {}", dir.topdir().display()),
                "--define".to_owned(),
                format!("_tmppath {}", dir.tmp().display()),
            ];
            // rpmbuild builds a noarch package as noarch on any host; `--target noarch`
            // would mislabel an arch package instead.
            if job.arch != "noarch" {
                args.push("--target".into());
                args.push(job.arch.clone());
            }
            args.push(job.srpm.display().to_string());
            (program.clone(), args)
        }
        Backend::Mock { program, config } => {
            let mut args = vec![
                "-r".to_owned(),
                config.clone(),
                "--uniqueext".to_owned(),
                format!("kkoji{}", job.task_id),
                "--resultdir".to_owned(),
                dir.result_dir().display().to_string(),
            ];
            if job.arch != "noarch" {
                args.push("--target".into());
                args.push(job.arch.clone());
            }
            args.push("--rebuild".into());
            args.push(job.srpm.display().to_string());
            (program.display().to_string(), args)
        }
    }
}

fn build_env(dir: &TaskDir) -> Vec<(String, String)> {
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into());
    vec![
        ("HOME".into(), dir.home().display().to_string()),
        ("PATH".into(), path),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("TMPDIR".into(), dir.tmp().display().to_string()),
        (
            "USER".into(),
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
        ),
        (
            "LOGNAME".into(),
            std::env::var("USER").unwrap_or_else(|_| "root".into()),
        ),
    ]
}

/// `rpmbuild --version` (or mock's), for root.log.
async fn program_version(program: &Path) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    match out {
        Ok(Ok(o)) => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(Err(e)) => format!("unknown ({e})"),
        Err(_) => "unknown (no answer)".into(),
    }
}

/// root.log for the rpmbuild backend: there is no chroot, so it describes what the build
/// ran with instead — which rpmbuild, its macros, the environment.
async fn write_root_log(
    job: &BuildJob,
    dir: &TaskDir,
    program: &Path,
    args: &[String],
    env: &[(String, String)],
) -> Result<(), ExecError> {
    let uts = nix::sys::utsname::uname().ok();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    let mut s = String::new();
    s.push_str(&format!(
        "{} - buildroot for task {}\n",
        timestamp(),
        job.task_id
    ));
    if job.root_notes.is_empty() {
        s.push_str(&format!(
            "kkoji-builder {}: no buildroot repo; plain rpmbuild on the host\n",
            env!("CARGO_PKG_VERSION")
        ));
    } else {
        s.push_str(&format!(
            "kkoji-builder {}: plain rpmbuild on the host (--nodeps), BuildRequires checked against the buildroot repo\n",
            env!("CARGO_PKG_VERSION")
        ));
        for n in &job.root_notes {
            s.push_str(n);
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "host: {host} ({} {} {})\n",
        uts.as_ref()
            .map(|u| u.sysname().to_string_lossy().into_owned())
            .unwrap_or_default(),
        uts.as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        uts.as_ref()
            .map(|u| u.machine().to_string_lossy().into_owned())
            .unwrap_or_default(),
    ));
    s.push_str(&format!(
        "program: {} ({})\n",
        program.display(),
        program_version(program).await
    ));
    s.push_str(&format!("source: {}\n", job.srpm.display()));
    s.push_str(&format!("target arch: {}\n", job.arch));
    s.push_str("command:");
    for a in std::iter::once(program.display().to_string()).chain(args.iter().cloned()) {
        if a.contains(' ') {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push_str(&format!(" {a}"));
        }
    }
    s.push_str("\nmacros:\n");
    s.push_str(&format!("  %_topdir {}\n", dir.topdir().display()));
    s.push_str(&format!("  %_tmppath {}\n", dir.tmp().display()));
    s.push_str("environment (nothing else is inherited):\n");
    for (k, v) in env {
        s.push_str(&format!("  {k}={v}\n"));
    }
    tokio::fs::write(dir.log("root.log"), s)
        .await
        .map_err(io_err("writing root.log"))
}

/// Runs the build to completion, failure or cancel. Creates the task tree if needed;
/// writes build.log (the build's stdout and stderr), root.log and state.log.
pub async fn run_build(
    job: &BuildJob,
    dir: &TaskDir,
    cancel: &CancelToken,
) -> Result<BuildProducts, ExecError> {
    for d in [
        dir.home(),
        dir.topdir(),
        dir.tmp(),
        dir.result_dir(),
        dir.logs_dir(),
    ] {
        tokio::fs::create_dir_all(&d)
            .await
            .map_err(io_err(format!("creating {}", d.display())))?;
    }
    let state = StateLog {
        path: dir.log("state.log"),
    };
    state
        .note(&format!(
            "task {}: build {} for {}",
            job.task_id,
            job.srpm.display(),
            job.arch
        ))
        .await;
    if !tokio::fs::try_exists(&job.srpm).await.unwrap_or(false) {
        state.note("failed: source RPM missing").await;
        return Err(ExecError::BuildFailed(format!(
            "SRPM file missing: {}",
            job.srpm.display()
        )));
    }
    let (program, args) = build_command(job, dir);
    let Some(program_path) = find_program(&program) else {
        let msg = format!("{program} is not installed (not found in PATH)");
        state.note(&format!("failed: {msg}")).await;
        return Err(ExecError::BuildFailed(msg));
    };
    let env = build_env(dir);
    if matches!(job.backend, Backend::Rpmbuild { .. }) {
        write_root_log(job, dir, &program_path, &args, &env).await?;
    }
    let out_name = match job.backend {
        Backend::Rpmbuild { .. } => "build.log",
        Backend::Mock { .. } => "mock_output.log",
    };
    let out_path = dir.log(out_name);
    let out = std::fs::File::create(&out_path)
        .map_err(io_err(format!("creating {}", out_path.display())))?;
    let err = out
        .try_clone()
        .map_err(io_err(format!("opening {}", out_path.display())))?;
    let mut cmd = tokio::process::Command::new(&program_path);
    cmd.args(&args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(dir.root())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("starting {}", program_path.display())))?;
    let Some(pid) = child.id() else {
        return Err(ExecError::BuildFailed(format!(
            "{} exited before it could be watched",
            program_path.display()
        )));
    };
    let pgid = Pid::from_raw(pid as i32);
    tracing::info!(task = job.task_id, pid, arch = %job.arch, "build started: {program} {}", args.join(" "));
    state.note(&format!("building (pid {pid})")).await;

    let status = tokio::select! {
        s = child.wait() => s.map_err(io_err("waiting for the build"))?,
        _ = cancel.cancelled() => {
            state.note("canceled: stopping the build's processes").await;
            tracing::info!(task = job.task_id, pid, "canceling build: killing process group");
            kill_tree(pgid, &mut child).await;
            state.note("canceled").await;
            return Err(ExecError::Canceled);
        }
    };
    // Whatever the build left running in its group (daemons started by a test suite)
    // must not outlive it.
    if group_alive(pgid) {
        tracing::warn!(
            task = job.task_id,
            "build left processes behind; killing them"
        );
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    let took = started.elapsed().as_secs_f64();
    if !status.success() {
        let what = match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!(
                "signal {}",
                Signal::try_from(s).map(|s| s.as_str()).unwrap_or("unknown")
            ),
            _ => "unknown status".into(),
        };
        state
            .note(&format!(
                "failed: {program} ended with {what} after {took:.1}s"
            ))
            .await;
        let log = match job.backend {
            Backend::Rpmbuild { .. } => dir.log("build.log"),
            Backend::Mock { .. } => dir.result_dir().join("build.log"),
        };
        let tail = read_tail(&log, 64 * 1024).await;
        let reason = failure_reason(&tail).unwrap_or_else(|| {
            format!(
                "{} failed with {what} (see {})",
                program_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(program.clone()),
                log.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )
        });
        return Err(ExecError::BuildFailed(reason));
    }
    let (rpms, srpms) = match job.backend {
        Backend::Rpmbuild { .. } => {
            let mut rpms = find_rpms(&dir.topdir().join("RPMS"))?;
            rpms.sort();
            let mut srpms = find_rpms(&dir.topdir().join("SRPMS"))?;
            srpms.sort();
            (rpms, srpms)
        }
        Backend::Mock { .. } => {
            let all = find_rpms(&dir.result_dir())?;
            let (mut s, mut r): (Vec<_>, Vec<_>) = all
                .into_iter()
                .partition(|p| p.to_string_lossy().ends_with(".src.rpm"));
            r.sort();
            s.sort();
            (r, s)
        }
    };
    if rpms.is_empty() {
        state.note("failed: the build produced no RPMs").await;
        return Err(ExecError::BuildFailed(
            "the build succeeded but produced no binary RPMs".into(),
        ));
    }
    state
        .note(&format!(
            "done after {took:.1}s: {} RPM(s)",
            rpms.len() + srpms.len()
        ))
        .await;
    let logs = log_files(&job.backend, dir)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.exists())
        .collect();
    Ok(BuildProducts { rpms, srpms, logs })
}

/// All `*.rpm` below `dir` (one level of arch subdirectories, as rpmbuild writes them).
fn find_rpms(dir: &Path) -> Result<Vec<PathBuf>, ExecError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("listing {}", d.display()))(e)),
        };
        for ent in rd {
            let ent = ent.map_err(io_err(format!("listing {}", d.display())))?;
            let p = ent.path();
            let ft = ent
                .file_type()
                .map_err(io_err(format!("reading {}", p.display())))?;
            if ft.is_dir() && depth < 2 {
                stack.push((p, depth + 1));
            } else if ft.is_file() && p.extension().is_some_and(|e| e == "rpm") {
                out.push(p);
            }
        }
    }
    Ok(out)
}

async fn read_tail(path: &Path, max: u64) -> String {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return String::new();
    };
    let len = f.metadata().await.map(|m| m.len()).unwrap_or(0);
    if len > max && f.seek(std::io::SeekFrom::Start(len - max)).await.is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// The reason a build failed, from the end of its log: rpmbuild's `error:` lines (with
/// their indented continuation lines), the last three of them. This is what the packager
/// sees in `koji watch-task`, so it should be the line that explains the failure, e.g.
/// `error: Bad exit status from /var/tmp/rpm-tmp.X (%build)`.
pub fn failure_reason(log_tail: &str) -> Option<String> {
    let lines: Vec<&str> = log_tail.lines().collect();
    let mut errors: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end();
        if l.starts_with("error:") || l.starts_with("ERROR:") {
            let mut e = l.to_owned();
            let mut j = i + 1;
            while j < lines.len() && j - i <= 10 && lines[j].starts_with(['\t', ' ']) {
                e.push('\n');
                e.push_str(lines[j].trim_end());
                j += 1;
            }
            if !errors.contains(&e) {
                errors.push(e);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    if errors.is_empty() {
        return None;
    }
    let start = errors.len().saturating_sub(3);
    Some(errors[start..].join("\n"))
}

/// Is any live (non-zombie) process left in process group `pgid`?
pub fn group_alive(pgid: Pid) -> bool {
    if let Err(nix::errno::Errno::ESRCH) = killpg(pgid, None) {
        return false;
    }
    // killpg(0) also succeeds for zombies nobody has reaped yet (e.g. orphans of a
    // container init that does not reap): look at the states.
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return true;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(ent.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (Some(state), Some(_ppid), Some(pgrp)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if pgrp == pgid.as_raw().to_string() && state != "Z" && state != "X" {
            return true;
        }
    }
    false
}

/// Kills processes whose working directory is inside `tasks_root` (builds orphaned when
/// a previous daemon was killed: their process groups outlive it because each build runs
/// in a group of its own) and removes the stale task directories. Only for start-up,
/// when no build of this daemon runs. Returns the killed pids.
pub fn clean_stale_tasks(tasks_root: &Path) -> Vec<i32> {
    let mut killed = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for ent in rd.flatten() {
            let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cwd) = std::fs::read_link(ent.path().join("cwd")) else {
                continue;
            };
            if cwd.starts_with(tasks_root) && pid != std::process::id() as i32 {
                tracing::warn!(pid, cwd = %cwd.display(), "killing a build left over from a previous run");
                if nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                    killed.push(pid);
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(tasks_root) {
        for ent in rd.flatten() {
            if let Err(e) = std::fs::remove_dir_all(ent.path()) {
                tracing::warn!(path = %ent.path().display(), "cannot remove a stale task dir: {e}");
            }
        }
    }
    killed
}

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`]; returns when the direct child is
/// reaped and nothing alive is left in the group (or after a last SIGKILL round).
pub async fn kill_tree(pgid: Pid, child: &mut tokio::process::Child) {
    kill_tree_with_grace(pgid, child, KILL_GRACE).await
}

pub async fn kill_tree_with_grace(pgid: Pid, child: &mut tokio::process::Child, grace: Duration) {
    let _ = killpg(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    let mut reaped = false;
    while Instant::now() < deadline {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)) | Err(_));
        }
        if reaped && !group_alive(pgid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(
        pgid = pgid.as_raw(),
        "build ignored SIGTERM for {grace:?}; sending SIGKILL"
    );
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) && Instant::now() < deadline {
        let _ = killpg(pgid, Signal::SIGKILL);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_that_obeys_sigterm_is_not_waited_for() {
        let mut child = tokio::process::Command::new("sh")
            .args(["-c", "sleep 1000 & exec sleep 1000"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
        // a grace of an hour: coming back at all shows SIGTERM was enough and not waited out
        tokio::time::timeout(
            Duration::from_secs(60),
            kill_tree_with_grace(pgid, &mut child, Duration::from_secs(3600)),
        )
        .await
        .expect("waited for the grace although the group had exited");
        assert!(!group_alive(pgid));
    }

    #[test]
    fn reason_is_the_error_lines() {
        let log = "Executing(%build): /bin/sh -e /var/tmp/rpm-tmp.ObNbkj\n+ exit 1\n\
error: Bad exit status from /var/tmp/rpm-tmp.ObNbkj (%build)\n\nRPM build errors:\n    \
Bad exit status from /var/tmp/rpm-tmp.ObNbkj (%build)\n";
        assert_eq!(
            failure_reason(log).as_deref(),
            Some("error: Bad exit status from /var/tmp/rpm-tmp.ObNbkj (%build)")
        );
        let log = "error: Failed build dependencies:\n\tgcc is needed by x-1-1.x86_64\n\tmake is needed by x-1-1.x86_64\n";
        assert_eq!(
            failure_reason(log).as_deref(),
            Some(
                "error: Failed build dependencies:\n\tgcc is needed by x-1-1.x86_64\n\tmake is needed by x-1-1.x86_64"
            )
        );
        assert_eq!(failure_reason("all good\n"), None);
        let many = (0..6).map(|i| format!("error: e{i}\n")).collect::<String>();
        assert_eq!(
            failure_reason(&many).as_deref(),
            Some("error: e3\nerror: e4\nerror: e5")
        );
    }

    #[test]
    fn commands() {
        let dir = TaskDir::new(Path::new("/w"), 9);
        let job = BuildJob {
            task_id: 9,
            srpm: PathBuf::from("/mnt/koji/work/x/foo-1-1.src.rpm"),
            arch: "x86_64".into(),
            backend: Backend::Rpmbuild {
                program: "rpmbuild".into(),
            },
            root_notes: Vec::new(),
        };
        let (p, a) = build_command(&job, &dir);
        assert_eq!(p, "rpmbuild");
        assert_eq!(
            a,
            vec![
                "--rebuild",
                "--nodeps",
                "--define",
                "_topdir /w/tasks/9/rpmbuild",
                "--define",
                "_tmppath /w/tasks/9/tmp",
                "--target",
                "x86_64",
                "/mnt/koji/work/x/foo-1-1.src.rpm"
            ]
        );
        let noarch = BuildJob {
            arch: "noarch".into(),
            ..job.clone()
        };
        assert!(
            !build_command(&noarch, &dir)
                .1
                .contains(&"--target".to_owned())
        );
        let mock = BuildJob {
            backend: Backend::Mock {
                program: "/usr/bin/mock".into(),
                config: "fedora-40-x86_64".into(),
            },
            ..job
        };
        let (p, a) = build_command(&mock, &dir);
        assert_eq!(p, "/usr/bin/mock");
        assert_eq!(
            a.join(" "),
            "-r fedora-40-x86_64 --uniqueext kkoji9 --resultdir /w/tasks/9/result --target x86_64 --rebuild /mnt/koji/work/x/foo-1-1.src.rpm"
        );
        let names: Vec<String> = log_files(&mock.backend, &dir)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            names,
            ["build.log", "root.log", "state.log", "mock_output.log"]
        );
    }
}
