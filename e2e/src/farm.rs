//! One kkoji farm (`kkoji-quickstart`: the hub, its local builder) with its state directory.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cli::{self, Output, command_timeout, run_with_timeout};
use crate::raw::{self, RawRequest, RawResponse};
use crate::xmlrpc;

static QUICKSTART_BIN: OnceLock<PathBuf> = OnceLock::new();

/// Tells the harness where the quickstart binary is; test binaries pass
/// `env!("CARGO_BIN_EXE_e2e-kkoji-quickstart")` (see [`crate::suite`]).
pub fn set_quickstart_bin(path: impl Into<PathBuf>) {
    let _ = QUICKSTART_BIN.set(path.into());
}

/// The quickstart binary: as set by [`set_quickstart_bin`], else `e2e-kkoji-quickstart` next
/// to the directory of the running test executable (`target/<profile>/deps/..`). The other
/// wrapped programs (`e2e-kkoji-hub`, `e2e-kkoji-builder`, …) are beside it.
pub fn quickstart_bin() -> PathBuf {
    if let Some(p) = QUICKSTART_BIN.get() {
        return p.clone();
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("e2e-kkoji-quickstart")
}

/// The hub binary quickstart runs (`e2e-kkoji-hub serve`).
pub fn hub_bin() -> PathBuf {
    quickstart_bin().with_file_name("e2e-kkoji-hub")
}

/// Seconds to wait for quickstart to print `ready` (the hub answers, the builder runs).
fn ready_timeout() -> Duration {
    let secs = std::env::var("KKOJI_E2E_READY_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    Duration::from_secs(secs)
}

/// How long a SIGTERM'd hub may take to stop (it stops its PostgreSQL first).
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// A running kkoji farm: one hub (with its embedded PostgreSQL) in a private temporary
/// directory, listening on a free port of 127.0.0.1.
///
/// Layout of the temporary root:
/// ```text
/// ROOT/state         --state-dir of quickstart (certs/, pgdata/, hub.toml, koji.conf, …)
/// ROOT/logs          quickstart's stdout/stderr, the hub's log included (appended across
///                    restarts)
/// ROOT/conf          koji configs of the extra test users
/// ROOT/extra-certs   farm-CA certificates kept out of the user directory (expired ones)
/// ROOT/evil-ca       a CA the farm does not trust, and its certificates
/// ROOT/home          $HOME of the koji CLI (so no ~/.koji/config interferes)
/// ROOT/raw           scratch files of raw HTTPS requests
/// ROOT/work          scratch directories of tests (SRPMs, downloads, extra builders)
/// ```
pub struct Farm {
    root: PathBuf,
    tempdir: Option<tempfile::TempDir>,
    port: u16,
    /// The `kkoji-quickstart` process (the hub and the local builder are its children).
    quickstart: Option<Child>,
    /// Process groups of every quickstart, hub and local builder started (each leads its
    /// own): cleaned up on drop, also after a SIGKILL.
    process_groups: Vec<i32>,
    users: Mutex<HashSet<String>>,
    /// Extra `quickstart` arguments (e.g. `--no-builder`), kept across restarts.
    extra_args: Vec<String>,
}

impl Farm {
    /// Creates a fresh farm and waits until the hub is ready. Panics (with the hub's log) if it
    /// does not come up.
    pub fn start() -> Farm {
        Farm::start_with(&[])
    }

    /// Like [`Farm::start`], with extra `quickstart` arguments (`--no-builder`,
    /// `--host-timeout SECS`, `--ready-timeout SECS`), also used by every restart.
    pub fn start_with(extra_args: &[&str]) -> Farm {
        let tempdir = tempfile::Builder::new()
            .prefix("kke2e-")
            .tempdir()
            .expect("create temporary farm directory");
        let root = tempdir.path().to_path_buf();
        // The embedded PostgreSQL runs as the `postgres` user when we are root: it must be
        // able to reach ROOT/state/pgdata.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod root");
        for d in [
            "state",
            "logs",
            "conf",
            "extra-certs",
            "home",
            "raw",
            "work",
        ] {
            fs::create_dir_all(root.join(d)).expect("create farm subdirectory");
        }
        fs::set_permissions(root.join("state"), fs::Permissions::from_mode(0o755))
            .expect("chmod state");
        let mut farm = Farm {
            root,
            tempdir: Some(tempdir),
            port: free_port(),
            quickstart: None,
            process_groups: Vec::new(),
            users: Mutex::new(HashSet::new()),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        farm.spawn_farm();
        farm
    }

    /// The hub's `--state-dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT/kojihub`
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}/kojihub", self.port)
    }

    /// The temporary root of the farm (see the layout above).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh scratch directory `ROOT/work/NAME` for a test (SRPMs, downloads); panics if it
    /// exists already, so two tests cannot share one by accident.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join("work").join(name);
        fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("create scratch directory {}: {e}", dir.display()));
        dir
    }

    /// Koji's top directory (`STATE/koji`), served as `topurl` on PORT+1.
    pub fn topdir(&self) -> PathBuf {
        self.state_dir().join("koji")
    }

    /// The local builder's log (`STATE/builder/builder.log`).
    pub fn builder_log(&self) -> PathBuf {
        self.state_dir().join("builder").join("builder.log")
    }

    /// The last `lines` lines of the local builder's log, without colour codes.
    pub fn builder_log_tail(&self, lines: usize) -> String {
        format!(
            "--- {} (tail) ---\n{}",
            self.builder_log().display(),
            log_tail(&self.builder_log(), lines)
        )
    }

    /// The hub-written client config (`STATE/koji.conf`).
    pub fn koji_conf(&self) -> PathBuf {
        self.state_dir().join("koji.conf")
    }

    /// The farm CA directory (`STATE/certs`).
    pub fn ca_dir(&self) -> PathBuf {
        self.state_dir().join("certs")
    }

    /// A value of the `[kkoji]` profile in the hub-written `koji.conf`.
    pub fn conf_value(&self, key: &str) -> Option<String> {
        let text = fs::read_to_string(self.koji_conf()).ok()?;
        ini_value(&text, crate::PROFILE, key)
    }

    /// The admin's certificate bundle as named in `koji.conf` (`cert = …`).
    pub fn admin_cert(&self) -> PathBuf {
        self.conf_value("cert")
            .map(|c| PathBuf::from(expand_home(&c)))
            .unwrap_or_else(|| self.ca_dir().join("users").join("kojiadmin.pem"))
    }

    /// The CA the client verifies the server with (`serverca = …`).
    pub fn ca_cert(&self) -> PathBuf {
        self.conf_value("serverca")
            .map(|c| PathBuf::from(expand_home(&c)))
            .unwrap_or_else(|| self.ca_dir().join("ca.crt"))
    }

    /// PID of the hub process (`kkoji-hub serve`, a child of quickstart), if running.
    pub fn hub_pid(&self) -> Option<u32> {
        let qs = i32::try_from(self.quickstart.as_ref()?.id()).ok()?;
        let pid = fs::read_to_string(self.state_dir().join("hub.pid"))
            .ok()?
            .trim()
            .parse::<i32>()
            .ok()?;
        // the pid file may be a stale one: only the hub this quickstart runs counts
        (parent_pid(pid) == Some(qs) && pid_alive(pid))
            .then(|| u32::try_from(pid).ok())
            .flatten()
    }

    /// PID of the `kkoji-quickstart` process, if running.
    pub fn quickstart_pid(&self) -> Option<u32> {
        self.quickstart.as_ref().map(Child::id)
    }

    // ---------------------------------------------------------------- koji CLI

    /// Runs the stock CLI as the admin: `koji -c STATE/koji.conf -p kkoji ARGS…`.
    pub fn koji(&self, args: &[&str]) -> Output {
        self.koji_with_conf(&self.koji_conf(), args)
    }

    /// Runs the stock CLI as `user` (a farm-CA certificate is issued on first use; the hub
    /// creates the user at its first login).
    pub fn koji_as(&self, user: &str, args: &[&str]) -> Output {
        let conf = self.user_conf(user);
        self.koji_with_conf(&conf, args)
    }

    /// Runs the stock CLI as the admin in the directory `cwd` (where `download-task`,
    /// `download-build` and `download-logs` write their files).
    pub fn koji_in(&self, cwd: &Path, args: &[&str]) -> Output {
        self.koji_in_with_conf(&self.koji_conf(), cwd, command_timeout(), args)
    }

    /// Like [`Farm::koji_in`] with its own timeout instead of the per-command default (for
    /// `build --wait`, `watch-task`).
    pub fn koji_in_for(&self, cwd: &Path, timeout: Duration, args: &[&str]) -> Output {
        self.koji_in_with_conf(&self.koji_conf(), cwd, timeout, args)
    }

    /// Runs the stock CLI with the `kkoji` profile of the given config file.
    pub fn koji_with_conf(&self, conf: &Path, args: &[&str]) -> Output {
        self.koji_in_with_conf(conf, &self.root.join("home"), command_timeout(), args)
    }

    fn koji_in_with_conf(
        &self,
        conf: &Path,
        cwd: &Path,
        timeout: Duration,
        args: &[&str],
    ) -> Output {
        let mut cmd = Command::new(cli::koji_bin());
        cmd.arg("-c")
            .arg(conf)
            .arg("-p")
            .arg(crate::PROFILE)
            .args(args)
            .env("HOME", self.root.join("home"))
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(cwd);
        run_with_timeout(cmd, timeout)
    }

    /// `koji call --json-output METHOD ARGS…` as the admin; asserts success and returns the
    /// parsed result.
    #[track_caller]
    pub fn call_json(&self, method_and_args: &[&str]) -> serde_json::Value {
        let mut args = vec!["call", "--json-output"];
        args.extend_from_slice(method_and_args);
        self.koji(&args).ok().json()
    }

    /// The koji config of `user`: a copy of the hub-written profile whose `cert` is the user's
    /// bundle `STATE/certs/users/USER.pem` (issued by the farm CA on first use, valid 30 days).
    pub fn user_conf(&self, user: &str) -> PathBuf {
        let conf = self.root.join("conf").join(format!("{user}.conf"));
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if !users.contains(user) {
            let ca = kkoji_certs::load_ca(&self.ca_dir()).unwrap_or_else(|e| {
                panic!("load the farm CA from {}: {e}", self.ca_dir().display())
            });
            let issued = ca
                .issue_user(user, 30)
                .unwrap_or_else(|e| panic!("issue a certificate for {user}: {e}"));
            let cert = kkoji_certs::write_user_bundle(
                &self.ca_dir(),
                kkoji_certs::CertKind::User,
                user,
                &issued,
            )
            .unwrap_or_else(|e| panic!("write the certificate of {user}: {e}"));
            self.write_conf_with_cert(&conf, &cert);
            users.insert(user.to_string());
        }
        conf
    }

    /// A path for an extra koji config, `ROOT/conf/NAME`.
    pub fn conf_path(&self, name: &str) -> PathBuf {
        self.root.join("conf").join(name)
    }

    /// Writes a koji config that is the hub-written one with `cert` replaced.
    pub fn write_conf_with_cert(&self, conf: &Path, cert: &Path) {
        let text = fs::read_to_string(self.koji_conf()).expect("read the hub-written koji.conf");
        let mut out = String::new();
        let mut replaced = false;
        for line in text.lines() {
            if ini_key(line) == Some("cert") {
                out.push_str(&format!("cert = {}\n", cert.display()));
                replaced = true;
            } else {
                out.push_str(line);
                out.push('\n');
            }
        }
        assert!(
            replaced,
            "the hub-written koji.conf has no `cert =` line:\n{text}"
        );
        fs::write(conf, out).expect("write koji config");
    }

    /// A certificate for `name` from the farm CA whose validity ended yesterday, written to
    /// `ROOT/extra-certs/users/NAME.pem`.
    pub fn expired_cert(&self, name: &str) -> PathBuf {
        let ca = kkoji_certs::load_ca(&self.ca_dir()).expect("load the farm CA");
        let now = time::OffsetDateTime::now_utc();
        let issued = ca
            .issue_with_validity(
                kkoji_certs::CertKind::User,
                name,
                now - time::Duration::days(30),
                now - time::Duration::days(1),
            )
            .expect("issue an expired certificate");
        kkoji_certs::write_user_bundle(
            &self.root.join("extra-certs"),
            kkoji_certs::CertKind::User,
            name,
            &issued,
        )
        .expect("write the expired certificate")
    }

    /// A valid-looking certificate for `name` from a different CA ("evil CA") that the farm
    /// does not trust, written to `ROOT/evil-ca/users/NAME.pem`.
    pub fn foreign_cert(&self, name: &str) -> PathBuf {
        let dir = self.root.join("evil-ca");
        let ca = if dir.join("ca.crt").exists() {
            kkoji_certs::load_ca(&dir).expect("load the foreign CA")
        } else {
            kkoji_certs::init_ca(&dir, "evil CA", 30).expect("create a foreign CA")
        };
        let issued = ca
            .issue_user(name, 30)
            .expect("issue a foreign certificate");
        kkoji_certs::write_user_bundle(&dir, kkoji_certs::CertKind::User, name, &issued)
            .expect("write the foreign certificate")
    }

    // ---------------------------------------------------------------- raw HTTPS

    /// Sends a hand-made request (see [`RawRequest`]).
    pub fn raw(&self, req: &RawRequest<'_>) -> RawResponse {
        raw::send(self.port, &self.ca_cert(), &self.root.join("raw"), req)
    }

    /// POSTs `body` to `path` without a client certificate.
    pub fn raw_post(&self, path: &str, body: &[u8]) -> RawResponse {
        self.raw(&RawRequest::post(path, body))
    }

    /// An anonymous XML-RPC call to `/kojihub`.
    pub fn raw_call(&self, method: &str, params: &[String]) -> RawResponse {
        let body = xmlrpc::method_call(method, params);
        self.raw_post("/kojihub", body.as_bytes())
    }

    // ---------------------------------------------------------------- lifecycle

    /// Stops the farm with SIGTERM to quickstart (which stops the builder, then the hub and
    /// its PostgreSQL; SIGKILL after a timeout) and returns how quickstart exited. Does not
    /// clean up after it: see [`Farm::running_postmasters`].
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.quickstart.take()?;
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    eprintln!(
                        "kkoji-e2e: quickstart (pid {}) ignored SIGTERM for {:?}; sending SIGKILL",
                        child.id(),
                        STOP_TIMEOUT
                    );
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }

    /// SIGTERM restart on the same state directory and port; returns how the old hub exited.
    pub fn restart(&mut self) -> Option<ExitStatus> {
        let st = self.stop();
        self.spawn_farm();
        st
    }

    /// Kills the hub and quickstart with SIGKILL (the hub's PostgreSQL is left as a crash would
    /// leave it; the local builder gets SIGTERM from the kernel when quickstart dies).
    pub fn kill9(&mut self) {
        // the hub first: killed after quickstart it would get SIGTERM (its parent-death
        // signal) and might stop PostgreSQL cleanly, which is not what a crash does
        if let Some(hub) = self.hub_pid() {
            signal(hub, libc::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(10);
            while pid_alive(hub as i32) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(mut child) = self.quickstart.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the hub again on the same state directory and port (after [`Farm::stop`] or
    /// [`Farm::kill9`]).
    pub fn start_again(&mut self) {
        assert!(self.quickstart.is_none(), "the farm is still running");
        self.spawn_farm();
    }

    /// PIDs of live postmasters whose data directory is inside the state directory.
    pub fn running_postmasters(&self) -> Vec<(PathBuf, i32)> {
        let mut found = Vec::new();
        for data_dir in find_postmaster_pids(&self.state_dir(), 3) {
            let pid = fs::read_to_string(data_dir.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
            if let Some(pid) = pid
                && is_postgres(pid)
            {
                found.push((data_dir, pid));
            }
        }
        found
    }

    /// Live processes whose command line mentions the state directory (the hub, its
    /// PostgreSQL, a local builder, …), as (pid, command line).
    pub fn processes_using_state_dir(&self) -> Vec<(i32, String)> {
        let needle = self.state_dir().display().to_string();
        let mut found = Vec::new();
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&needle) && pid_alive(pid) {
                found.push((pid, cmdline.trim_end().to_string()));
            }
        }
        found
    }

    /// Stops any PostgreSQL still running on this farm's data directory (after a SIGKILL of
    /// the hub): `pg_ctl stop -m immediate` as the directory's owner, then SIGKILL.
    pub fn stop_stray_postgres(&self) {
        for (data_dir, pid) in self.running_postmasters() {
            eprintln!(
                "kkoji-e2e: stopping stray PostgreSQL (pid {pid}) on {}",
                data_dir.display()
            );
            let mut cmd = Command::new(pg_ctl());
            cmd.args(["stop", "-m", "immediate", "-w", "-t", "20", "-D"])
                .arg(&data_dir)
                .current_dir("/");
            if let Ok(meta) = fs::metadata(&data_dir)
                && unsafe { libc::geteuid() } == 0
                && meta.uid() != 0
            {
                cmd.uid(meta.uid()).gid(meta.gid());
            }
            let _ = run_with_timeout(cmd, Duration::from_secs(30));
            let deadline = Instant::now() + Duration::from_secs(10);
            while is_postgres(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if is_postgres(pid) {
                signal(pid as u32, libc::SIGKILL);
            }
        }
    }

    /// Terminates whatever is left in the hubs' process groups (children orphaned by a
    /// SIGKILLed hub): SIGTERM, a moment's grace, SIGKILL.
    fn kill_process_groups(&mut self) {
        // SAFETY: kill(2) on process groups this farm created (each led by a hub we spawned).
        let alive: Vec<i32> = self
            .process_groups
            .drain(..)
            .filter(|&g| unsafe { libc::kill(-g, 0) } == 0)
            .collect();
        if alive.is_empty() {
            return;
        }
        for &g in &alive {
            unsafe { libc::kill(-g, libc::SIGTERM) };
        }
        std::thread::sleep(Duration::from_millis(500));
        for &g in &alive {
            unsafe { libc::kill(-g, libc::SIGKILL) };
        }
    }

    fn spawn_farm(&mut self) {
        let logs = self.root.join("logs");
        let stderr_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join("hub.stderr.log"))
            .expect("open hub stderr log");
        let mut cmd = Command::new(quickstart_bin());
        cmd.arg("--state-dir")
            .arg(self.state_dir())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--hub-bin")
            .arg(hub_bin())
            .arg("--builder-bin")
            .arg(quickstart_bin().with_file_name("e2e-kkoji-builder"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr_log);
        // SAFETY: prctl and setpgid are async-signal-safe. PDEATHSIG asks the kernel to
        // SIGTERM quickstart when the spawning thread dies, so a crashed or interrupted test
        // run leaves no farm behind (quickstart's children get the same from it).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", quickstart_bin().display()));
        let stdout = child.stdout.take().expect("piped quickstart stdout");
        self.process_groups.push(child.id() as i32);
        self.quickstart = Some(child);

        let (tx, rx) = mpsc::channel::<()>();
        let stdout_log = logs.join("hub.stdout.log");
        std::thread::spawn(move || {
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(stdout_log)
                .ok();
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(l) = log.as_mut() {
                    let _ = writeln!(l, "{line}");
                }
                if !sent && line.contains("ready") {
                    sent = tx.send(()).is_ok();
                }
            }
        });

        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let exited = self
                        .quickstart
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    if let Some(st) = exited {
                        self.quickstart = None;
                        panic!(
                            "quickstart exited ({st}) before printing `ready`\n{}",
                            self.hub_logs()
                        );
                    }
                    if started.elapsed() > ready_timeout() {
                        panic!(
                            "quickstart did not print `ready` within {:?}\n{}",
                            ready_timeout(),
                            self.hub_logs()
                        );
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed without `ready`: give the exit status a moment to appear.
                    std::thread::sleep(Duration::from_millis(500));
                    let st = self
                        .quickstart
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten())
                        .map_or_else(|| "still running".to_string(), |s| s.to_string());
                    panic!(
                        "quickstart closed stdout without printing `ready` ({st})\n{}",
                        self.hub_logs()
                    );
                }
            }
        }
        // `ready` means the hub accepts connections; double-check the port and the config.
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_ok(),
            "quickstart printed `ready` but 127.0.0.1:{} refuses connections\n{}",
            self.port,
            self.hub_logs()
        );
        assert!(
            self.koji_conf().is_file(),
            "quickstart printed `ready` but did not write {}\n{}",
            self.koji_conf().display(),
            self.hub_logs()
        );
        // the daemons lead process groups of their own: clean those up on drop too
        for pidfile in ["hub.pid", "builder/builder.pid"] {
            if let Some(pid) = fs::read_to_string(self.state_dir().join(pidfile))
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .filter(|&p| p > 1)
            {
                self.process_groups.push(pid);
            }
        }
    }

    /// The hub's whole stderr log (its tracing output, across restarts), without colour codes.
    pub fn hub_log_text(&self) -> String {
        strip_ansi(
            &fs::read_to_string(self.root.join("logs").join("hub.stderr.log")).unwrap_or_default(),
        )
    }

    /// The tails of the hub's stdout and stderr logs, for failure messages.
    pub fn hub_logs(&self) -> String {
        let tail = |name: &str| {
            let text = fs::read_to_string(self.root.join("logs").join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        format!(
            "--- hub stdout (tail) ---\n{}\n--- hub stderr (tail) ---\n{}",
            tail("hub.stdout.log"),
            tail("hub.stderr.log")
        )
    }
}

impl Drop for Farm {
    fn drop(&mut self) {
        let status = self.stop();
        self.stop_stray_postgres();
        self.kill_process_groups();
        // Builds run in process groups of their own: whatever still works inside the farm
        // (an orphaned rpmbuild of a killed builder) goes too.
        kill_processes_under(&self.root);
        if std::env::var_os("KKOJI_E2E_KEEP").is_some() {
            if let Some(td) = self.tempdir.take() {
                let kept = td.keep();
                eprintln!(
                    "kkoji-e2e: kept farm directory {} (hub exit: {status:?})",
                    kept.display()
                );
            }
        } else if let Some(td) = self.tempdir.take() {
            let _ = td.close();
        }
    }
}

/// The last `lines` lines of a log file, without ANSI colour codes.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    strip_ansi(&all[all.len().saturating_sub(lines)..].join("\n"))
}

/// `text` without ANSI escape sequences (`ESC [ … letter`), as the tracing logs colour them.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A live process as /proc shows it.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    pub pid: i32,
    pub pgid: i32,
    /// Arguments joined by single spaces.
    pub cmdline: String,
    /// Working directory (empty when unreadable).
    pub cwd: PathBuf,
}

/// Live (not zombie) processes, as /proc shows them now.
pub fn processes() -> Vec<ProcInfo> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) S ppid pgrp ...": fields after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.len() < 3 || fields[0] == "Z" || fields[0] == "X" {
            continue;
        }
        let pgid = fields[2].parse().unwrap_or(0);
        let cmdline = fs::read(entry.path().join("cmdline"))
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let cwd = fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        out.push(ProcInfo {
            pid,
            pgid,
            cmdline,
            cwd,
        });
    }
    out
}

/// Live processes whose working directory is `dir` or below it.
pub fn processes_under(dir: &Path) -> Vec<ProcInfo> {
    processes()
        .into_iter()
        .filter(|p| p.cwd.starts_with(dir))
        .collect()
}

/// SIGKILLs every process working below `dir`, with its process group when that group is
/// not the caller's own (a build's group: rpmbuild and its shell children).
pub fn kill_processes_under(dir: &Path) {
    // SAFETY: getpgrp and kill(2) on processes working inside a directory this test owns.
    let own_group = unsafe { libc::getpgrp() };
    for p in processes_under(dir) {
        unsafe {
            if p.pgid > 1 && p.pgid != own_group {
                libc::kill(-p.pgid, libc::SIGKILL);
            }
            libc::kill(p.pid, libc::SIGKILL);
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on a pid we own (the hub) or a postmaster we verified by name.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// The parent of `pid`, as /proc shows it now.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": fields after the last ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `pid` is a live (not zombie) process.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn is_postgres(pid: i32) -> bool {
    pid_alive(pid)
        && fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().starts_with("postgres"))
            .unwrap_or(false)
}

/// Directories (at most `depth` levels below `dir`) that contain a `postmaster.pid`.
fn find_postmaster_pids(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if dir.join("postmaster.pid").is_file() {
        out.push(dir.to_path_buf());
    }
    if depth == 0 {
        return out;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(find_postmaster_pids(&e.path(), depth - 1));
            }
        }
    }
    out
}

/// `pg_ctl` of the newest PostgreSQL under /usr/lib/postgresql, else from PATH.
fn pg_ctl() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let p = e.path().join("bin").join("pg_ctl");
            p.is_file().then_some((v, p))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| PathBuf::from("pg_ctl"))
}

/// A port P on 127.0.0.1 with P and P+1 free (the hub serves `topurl` on the next port),
/// picked below the kernel's ephemeral range so that client connections do not take it.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let bindable = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut seed = h.finish();
    for _ in 0..500 {
        // xorshift: cheap randomness without a dependency
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = 20000 + (seed % 12000) as u16;
        if bindable(p) && bindable(p + 1) {
            return p;
        }
    }
    panic!("no two consecutive free ports found on 127.0.0.1");
}

fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_string(),
    }
}

/// The key of an INI `key = value` line.
fn ini_key(line: &str) -> Option<&str> {
    let line = line.trim_start();
    if line.starts_with(['#', ';', '[']) {
        return None;
    }
    let (k, _) = line.split_once(['=', ':'])?;
    Some(k.trim())
}

/// `key` of section `[section]` in INI text.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            in_section = name.trim() == section;
            continue;
        }
        if in_section
            && ini_key(t) == Some(key)
            && let Some((_, v)) = t.split_once(['=', ':'])
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profile_values() {
        let text = "[other]\ncert = /x\n\n[kkoji]\nserver = https://127.0.0.1:1/kojihub\n\
                    cert = /s/certs/users/kojiadmin.pem\nserverca=/s/certs/ca.crt\n";
        assert_eq!(
            ini_value(text, "kkoji", "cert").as_deref(),
            Some("/s/certs/users/kojiadmin.pem")
        );
        assert_eq!(
            ini_value(text, "kkoji", "serverca").as_deref(),
            Some("/s/certs/ca.crt")
        );
        assert_eq!(ini_value(text, "kkoji", "topurl"), None);
        assert_eq!(ini_key("  cert = y"), Some("cert"));
        assert_eq!(ini_key("# cert = y"), None);
    }
}
