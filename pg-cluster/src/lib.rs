//! A private PostgreSQL cluster driven through the stock `initdb`/`pg_ctl`
//! binaries.
//!
//! Two users:
//!
//! * `kkoji-hub` with no database URL configured runs its *embedded* cluster
//!   under its state directory ([`ClusterConfig::under_state_dir`]): it
//!   listens only on a Unix socket (`listen_addresses = ''`), trusts local
//!   connections, and is stopped when the hub shuts down. [`Cluster::start`]
//!   copes with a previous hub that was `kill -9`ed: a postmaster that is
//!   still running is reused, a stale `postmaster.pid` is left to
//!   `pg_ctl`/`postgres` to detect and replace.
//! * Tests use [`TestCluster`]: one throwaway cluster per test binary with a
//!   fresh database per test.
//!
//! # Running as root
//!
//! `initdb` and `postgres` refuse to run as root. When the effective uid is 0
//! every PostgreSQL binary is run as the `postgres` system user (uid/gid set
//! on the child; the standard library also drops all supplementary groups
//! when a uid is set), and the data and socket directories we create are
//! chowned to that user. Every *ancestor* of those directories must be
//! traversable by that user (e.g. a state directory under `/root`, mode
//! 0700, is not); this is checked before anything is started and reported as
//! a [`ClusterError::Io`] with kind `PermissionDenied`.
//!
//! # Security
//!
//! Authentication is `trust`: anyone who can reach the socket is superuser.
//! The socket directory is therefore created with mode 0700, so only its
//! owner (and root) can connect.

use std::fmt::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{debug, info, warn};

/// Longest Unix socket path the kernel accepts (`sizeof(sun_path) - 1`);
/// PostgreSQL refuses longer ones at startup with a less helpful message.
pub const MAX_SOCKET_PATH: usize = 107;

/// The binaries this crate runs; all must be present in the chosen bin dir.
const REQUIRED_BINARIES: [&str; 4] = ["initdb", "pg_ctl", "postgres", "psql"];

/// The file (inside the data dir) holding our settings. It is included from
/// `postgresql.conf` and rewritten before every start so that a changed
/// socket dir or port in the hub configuration takes effect.
const KKOJI_CONF: &str = "kkoji.conf";

/// Upper bound for any single PostgreSQL command (initdb, pg_ctl, psql);
/// `pg_ctl` has its own `-t 60` below this.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors from managing the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The PostgreSQL server binaries could not be located; the message lists
    /// where we looked.
    #[error("PostgreSQL binaries not found: {0}")]
    BinariesNotFound(String),
    /// A filesystem operation (or spawning a process) failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL command ran but failed; `output` holds its stderr/stdout
    /// and, for start failures, the tail of the server log.
    #[error("`{cmd}` failed ({status}):\n{output}")]
    Command {
        cmd: String,
        status: String,
        output: String,
    },
    /// `<socket_dir>/.s.PGSQL.<port>` does not fit in a Unix socket address.
    #[error(
        "Unix socket path {0} is longer than {MAX_SOCKET_PATH} bytes; choose a shorter socket directory"
    )]
    SocketPathTooLong(PathBuf),
    /// A command or the server did not finish in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

fn io_err(path: impl Into<PathBuf>, source: std::io::Error) -> ClusterError {
    ClusterError::Io {
        path: path.into(),
        source,
    }
}

/// Where and how the cluster lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// PGDATA. Created (mode 0700) if missing.
    pub data_dir: PathBuf,
    /// Directory holding the Unix socket. Created (mode 0700) if missing.
    pub socket_dir: PathBuf,
    /// Only names the socket file `.s.PGSQL.<port>`: the server listens on no
    /// TCP address, so distinct socket dirs never conflict even on one port.
    pub port: u16,
    /// Directory with `initdb`, `pg_ctl`, `postgres`, `psql`. `None`: the
    /// newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`, else
    /// `$PATH`.
    pub bin_dir: Option<PathBuf>,
    /// Name of the bootstrap superuser (the role our URLs connect as).
    pub superuser: String,
}

impl ClusterConfig {
    /// Config with defaults (port 5432, binaries auto-located, superuser
    /// `kkoji`).
    pub fn new(data_dir: impl Into<PathBuf>, socket_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            socket_dir: socket_dir.into(),
            port: 5432,
            bin_dir: None,
            superuser: "kkoji".to_owned(),
        }
    }

    /// The hub's embedded layout: `STATE/pgdata` and `STATE/pgsocket`.
    pub fn under_state_dir(state_dir: &Path) -> Self {
        Self::new(state_dir.join("pgdata"), state_dir.join("pgsocket"))
    }

    /// Full path of the socket file the server will create.
    pub fn socket_path(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{}", self.port))
    }
}

/// The identity PostgreSQL binaries run as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// Handle on one cluster. Holds no connections or runtime resources, so it
/// may be shared across tokio runtimes (e.g. in a `static`).
#[derive(Debug)]
pub struct Cluster {
    cfg: ClusterConfig,
    bin_dir: PathBuf,
    run_as: Option<RunAs>,
    /// `false` only for throwaway test clusters: fsync off for speed.
    durable: bool,
}

impl Cluster {
    /// Validates the config and locates the binaries; touches nothing on
    /// disk, so it is cheap and safe to call before deciding anything.
    pub fn new(cfg: ClusterConfig) -> Result<Self, ClusterError> {
        let mut cfg = cfg;
        cfg.data_dir = absolute(&cfg.data_dir)?;
        cfg.socket_dir = absolute(&cfg.socket_dir)?;
        let socket_path = cfg.socket_path();
        if socket_path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::SocketPathTooLong(socket_path));
        }
        let bin_dir = find_bin_dir(cfg.bin_dir.as_deref())?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .map_err(|e| io_err("/etc/passwd", std::io::Error::from(e)))?
                .ok_or_else(|| {
                    io_err(
                        "/etc/passwd",
                        std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "running as root, but there is no `postgres` system user to run \
                             PostgreSQL as (initdb/postgres refuse to run as root)",
                        ),
                    )
                })?;
            Some(RunAs {
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            })
        } else {
            None
        };
        debug!(bin_dir = %bin_dir.display(), ?run_as, "located PostgreSQL binaries");
        Ok(Self {
            cfg,
            bin_dir,
            run_as,
            durable: true,
        })
    }

    /// The effective config (paths made absolute).
    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// The directory the PostgreSQL binaries are run from.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Whether `initdb` has completed here (`PG_VERSION` exists).
    pub fn initialized(&self) -> bool {
        self.cfg.data_dir.join("PG_VERSION").is_file()
    }

    /// The postmaster pid recorded in `postmaster.pid`, if the file exists
    /// (it may be stale).
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.cfg.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Runs `initdb` and writes our settings. Fails if the data dir is
    /// already initialized or not empty (initdb's own check).
    pub async fn init(&self) -> Result<(), ClusterError> {
        self.prepare_dirs()?;
        info!(data_dir = %self.cfg.data_dir.display(), "initializing PostgreSQL cluster");
        // C.UTF-8 gives Unicode-aware upper()/lower() with byte-order
        // collation; fall back to C where the libc lacks it. initdb
        // validates the locale before creating any file, so retrying is safe.
        let mut last = None;
        for locale in ["C.UTF-8", "C"] {
            let mut cmd = self.pg_command("initdb");
            cmd.arg("-D")
                .arg(&self.cfg.data_dir)
                .arg("--auth=trust")
                .arg(format!("--username={}", self.cfg.superuser))
                .arg("--encoding=UTF8")
                .arg(format!("--locale={locale}"));
            if !self.durable {
                cmd.arg("--no-sync");
            }
            match run(cmd, "initdb", COMMAND_TIMEOUT).await {
                Ok(_) => {
                    last = None;
                    break;
                }
                Err(ClusterError::Command {
                    output,
                    cmd,
                    status,
                }) if output.contains("locale") && !self.initialized() => {
                    warn!(locale, "initdb rejected locale, retrying: {output}");
                    last = Some(ClusterError::Command {
                        cmd,
                        status,
                        output,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        let conf = self.cfg.data_dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(|e| io_err(&conf, e))?;
        text.push_str(&format!(
            "\n# Settings managed by kkoji (rewritten on every start).\ninclude_if_exists = '{KKOJI_CONF}'\n"
        ));
        self.write_file(&conf, &text)?;
        self.write_settings()
    }

    /// Initializes if needed and starts the server, waiting until it accepts
    /// connections. A server already running on this data dir is reused
    /// (restarted only if it listens on a different socket than
    /// configured); a stale `postmaster.pid` left by a killed postmaster is
    /// handled by `pg_ctl`/`postgres` themselves.
    pub async fn start(&self) -> Result<(), ClusterError> {
        if !self.initialized() {
            self.init().await?;
        } else {
            self.prepare_dirs()?;
        }
        if self.is_running().await? {
            if self.pid_file_matches_config() {
                info!(data_dir = %self.cfg.data_dir.display(), "PostgreSQL already running; reusing it");
                return Ok(());
            }
            warn!(
                data_dir = %self.cfg.data_dir.display(),
                "running PostgreSQL listens on a different socket than configured; restarting it"
            );
            self.stop().await?;
        }
        self.write_settings()?;
        let log = self.cfg.data_dir.join("startup.log");
        // After a kill -9 of the postmaster its children linger for a moment
        // and postgres refuses to start while they still hold the shared
        // memory segment; retry briefly in that case.
        let mut attempt = 0;
        loop {
            attempt += 1;
            info!(data_dir = %self.cfg.data_dir.display(), attempt, "starting PostgreSQL");
            let mut cmd = self.pg_command("pg_ctl");
            cmd.arg("start")
                .arg("-w")
                .arg("-t")
                .arg("60")
                .arg("-D")
                .arg(&self.cfg.data_dir)
                .arg("-l")
                .arg(&log);
            match run(cmd, "pg_ctl start", COMMAND_TIMEOUT).await {
                Ok(_) => return Ok(()),
                Err(ClusterError::Command {
                    cmd,
                    status,
                    mut output,
                }) => {
                    output.push_str(&self.log_tail());
                    if attempt < 20 && output.contains("pre-existing shared memory block") {
                        debug!("old server processes still hold shared memory; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                    if output.contains("did not start in time") {
                        return Err(ClusterError::Timeout(format!(
                            "PostgreSQL did not start within 60s:\n{output}"
                        )));
                    }
                    return Err(ClusterError::Command {
                        cmd,
                        status,
                        output,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fast shutdown (rolls back open transactions, then checkpoints);
    /// succeeds if the server is not running.
    pub async fn stop(&self) -> Result<(), ClusterError> {
        if !self.is_running().await? {
            debug!(data_dir = %self.cfg.data_dir.display(), "PostgreSQL not running; nothing to stop");
            return Ok(());
        }
        info!(data_dir = %self.cfg.data_dir.display(), "stopping PostgreSQL");
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("stop")
            .arg("-m")
            .arg("fast")
            .arg("-w")
            .arg("-t")
            .arg("60")
            .arg("-D")
            .arg(&self.cfg.data_dir);
        match run(cmd, "pg_ctl stop", COMMAND_TIMEOUT).await {
            Ok(_) => Ok(()),
            // Raced with the server exiting on its own.
            Err(_) if !self.is_running().await? => Ok(()),
            Err(ClusterError::Command { output, .. }) if output.contains("did not shut down") => {
                Err(ClusterError::Timeout(format!(
                    "PostgreSQL did not stop within 60s:\n{output}"
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Immediate shutdown (no checkpoint; crash recovery on next start),
    /// blocking. For `Drop` impls and emergency paths where no async runtime
    /// is available; never panics.
    pub fn stop_immediate_blocking(&self) -> Result<(), ClusterError> {
        let mut cmd = self.std_command("pg_ctl");
        cmd.arg("stop")
            .arg("-m")
            .arg("immediate")
            .arg("-w")
            .arg("-t")
            .arg("30")
            .arg("-D")
            .arg(&self.cfg.data_dir)
            .stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|e| io_err(self.bin_dir.join("pg_ctl"), e))?;
        if out.status.success() || self.postmaster_pid().is_none() {
            Ok(())
        } else {
            Err(command_error("pg_ctl stop -m immediate", &out))
        }
    }

    /// `pg_ctl status`: whether a live postmaster owns this data dir.
    pub async fn is_running(&self) -> Result<bool, ClusterError> {
        if !self.cfg.data_dir.join("postmaster.pid").exists() {
            return Ok(false);
        }
        let mut cmd = self.pg_command("pg_ctl");
        cmd.arg("status").arg("-D").arg(&self.cfg.data_dir);
        let out = output(cmd, "pg_ctl status", COMMAND_TIMEOUT).await?;
        // 0: running, 3: not running, 4: no accessible data directory.
        match out.status.code() {
            Some(0) => Ok(true),
            Some(3) | Some(4) => Ok(false),
            _ => Err(command_error("pg_ctl status", &out)),
        }
    }

    /// A URL for `database` that sqlx (and libpq) use to connect over the
    /// Unix socket as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@localhost/{}?host={}&port={}",
            pct_encode(&self.cfg.superuser, false),
            pct_encode(database, false),
            pct_encode(&self.cfg.socket_dir.to_string_lossy(), true),
            self.cfg.port
        )
    }

    /// Creates `name` (owned by the superuser); succeeds if it already
    /// exists, including when a concurrent caller created it first.
    pub async fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        if self.database_exists(name).await? {
            return Ok(());
        }
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        match self.psql(&sql).await {
            Ok(_) => {
                info!(database = name, "created database");
                Ok(())
            }
            Err(e) => {
                if self.database_exists(name).await? {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Drops `name`, disconnecting its sessions; succeeds if it does not
    /// exist.
    pub async fn drop_database(&self, name: &str) -> Result<(), ClusterError> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        self.psql(&sql).await.map(|_| ())
    }

    /// Whether a database called `name` exists.
    pub async fn database_exists(&self, name: &str) -> Result<bool, ClusterError> {
        let sql = format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            quote_literal(name)
        );
        Ok(self.psql(&sql).await?.trim() == "1")
    }

    /// Runs one SQL statement in the `postgres` database; returns unaligned,
    /// tuples-only stdout.
    async fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        let mut cmd = self.pg_command("psql");
        cmd.arg("-X")
            .arg("-q")
            .arg("-A")
            .arg("-t")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .arg("-h")
            .arg(&self.cfg.socket_dir)
            .arg("-p")
            .arg(self.cfg.port.to_string())
            .arg("-U")
            .arg(&self.cfg.superuser)
            .arg("-d")
            .arg("postgres")
            .arg("-c")
            .arg(sql)
            .env("PGCONNECT_TIMEOUT", "10");
        let out = run(cmd, &format!("psql -c {sql:?}"), COMMAND_TIMEOUT).await?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `std` command for a PostgreSQL binary: run as `postgres` when we are
    /// root, from `/` (the caller's cwd may not be readable by that user),
    /// with a predictable environment (no inherited `PG*` variables, C
    /// messages so errors can be matched).
    fn std_command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bin_dir.join(program));
        cmd.current_dir("/");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.env("LC_ALL", "C").env_remove("LANG");
        if let Some(ru) = self.run_as {
            // std also calls setgroups(0) when a uid is set, dropping root's
            // supplementary groups.
            cmd.uid(ru.uid).gid(ru.gid);
        }
        cmd
    }

    fn pg_command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.std_command(program));
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Creates the data and socket dirs (0700, owned by the run-as user when
    /// we created them or they are empty) and checks that the run-as user
    /// can actually reach them.
    fn prepare_dirs(&self) -> Result<(), ClusterError> {
        for dir in [&self.cfg.data_dir, &self.cfg.socket_dir] {
            let fresh = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
                    true
                }
                Err(e) => return Err(io_err(dir, e)),
            };
            if fresh {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| io_err(dir, e))?;
                self.chown(dir)?;
            }
            if self.run_as.is_some() {
                self.check_reachable(dir)?;
            }
        }
        Ok(())
    }

    fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some(ru) = self.run_as {
            nix::unistd::chown(
                path,
                Some(nix::unistd::Uid::from_raw(ru.uid)),
                Some(nix::unistd::Gid::from_raw(ru.gid)),
            )
            .map_err(|e| io_err(path, std::io::Error::from(e)))?;
        }
        Ok(())
    }

    /// Asks the run-as user itself (rather than interpreting mode bits and
    /// ACLs) whether it can enter and write `dir`.
    fn check_reachable(&self, dir: &Path) -> Result<(), ClusterError> {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"cd -- "$1" && test -w ."#)
            .arg("sh")
            .arg(dir)
            .current_dir("/")
            .stdin(Stdio::null());
        if let Some(ru) = self.run_as {
            cmd.uid(ru.uid).gid(ru.gid);
        }
        let out = cmd.output().map_err(|e| io_err("/bin/sh", e))?;
        if out.status.success() {
            return Ok(());
        }
        let blocking = dir
            .ancestors()
            .skip(1)
            .find(|a| {
                std::fs::metadata(a)
                    .map(|m| m.mode() & 0o001 == 0 && m.uid() != self.run_as.map_or(0, |r| r.uid))
                    .unwrap_or(false)
            })
            .map(|a| format!(" (e.g. {} is not world-traversable)", a.display()))
            .unwrap_or_default();
        Err(io_err(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the `postgres` user cannot enter/write this directory{blocking}; PostgreSQL \
                     runs as `postgres` when kkoji runs as root, so every parent directory must be \
                     traversable by it: choose a state directory outside 0700 directories such as \
                     /root, or chmod o+x the parents ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
        ))
    }

    /// Writes `kkoji.conf` from the current config.
    fn write_settings(&self) -> Result<(), ClusterError> {
        let mut s = String::from("# Managed by kkoji-pgcluster; rewritten on every start.\n");
        let _ = writeln!(s, "listen_addresses = ''");
        let _ = writeln!(
            s,
            "unix_socket_directories = {}",
            quote_literal(&self.cfg.socket_dir.to_string_lossy())
        );
        let _ = writeln!(s, "unix_socket_permissions = 0700");
        let _ = writeln!(s, "port = {}", self.cfg.port);
        let _ = writeln!(s, "max_connections = 100");
        let _ = writeln!(s, "shared_buffers = 128MB");
        let _ = writeln!(s, "logging_collector = on");
        let _ = writeln!(s, "log_directory = 'log'");
        if self.durable {
            let _ = writeln!(s, "fsync = on");
        } else {
            // Throwaway test data: skip fsync (the costly part). Commits
            // still reach the kernel, so data survives a kill -9 of the
            // server (only an OS crash loses it). synchronous_commit stays
            // on: with it off, commits sit in shared memory for up to
            // 200ms and a killed postmaster loses them.
            s.push_str("fsync = off\nfull_page_writes = off\n");
        }
        self.write_file(&self.cfg.data_dir.join(KKOJI_CONF), &s)
    }

    fn write_file(&self, path: &Path, text: &str) -> Result<(), ClusterError> {
        std::fs::write(path, text).map_err(|e| io_err(path, e))?;
        self.chown(path)
    }

    /// Whether `postmaster.pid` says the server listens where we expect
    /// (line 4: port, line 5: first socket directory).
    fn pid_file_matches_config(&self) -> bool {
        let Ok(text) = std::fs::read_to_string(self.cfg.data_dir.join("postmaster.pid")) else {
            return true;
        };
        let lines: Vec<&str> = text.lines().collect();
        let port_ok = lines
            .get(3)
            .is_none_or(|p| p.trim() == self.cfg.port.to_string());
        let sock_ok = lines
            .get(4)
            .is_none_or(|d| Path::new(d.trim()) == self.cfg.socket_dir);
        port_ok && sock_ok
    }

    /// The last lines of the startup log and of the newest server log, for
    /// error messages.
    fn log_tail(&self) -> String {
        let mut files = vec![self.cfg.data_dir.join("startup.log")];
        if let Ok(entries) = std::fs::read_dir(self.cfg.data_dir.join("log")) {
            let newest = entries
                .filter_map(Result::ok)
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .max();
            if let Some((_, p)) = newest {
                files.push(p);
            }
        }
        let mut out = String::new();
        for f in files {
            if let Ok(text) = std::fs::read_to_string(&f) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(20)..];
                let _ = write!(
                    out,
                    "\n--- tail of {} ---\n{}",
                    f.display(),
                    tail.join("\n")
                );
            }
        }
        out
    }
}

/// Runs a command with a timeout and fails on a non-zero exit.
async fn run(
    cmd: tokio::process::Command,
    what: &str,
    limit: Duration,
) -> Result<Output, ClusterError> {
    let out = output(cmd, what, limit).await?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(command_error(what, &out))
    }
}

async fn output(
    mut cmd: tokio::process::Command,
    what: &str,
    limit: Duration,
) -> Result<Output, ClusterError> {
    let program = PathBuf::from(cmd.as_std().get_program());
    debug!(command = what, "running");
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(res) => res.map_err(|e| io_err(program, e)),
        Err(_) => Err(ClusterError::Timeout(format!(
            "`{what}` did not finish within {}s",
            limit.as_secs()
        ))),
    }
}

fn command_error(what: &str, out: &Output) -> ClusterError {
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stdout.trim());
    }
    ClusterError::Command {
        cmd: what.to_owned(),
        status: out.status.to_string(),
        output: text,
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    std::path::absolute(path).map_err(|e| io_err(path, e))
}

/// Picks the bin dir: explicit, else newest `/usr/lib/postgresql/*/bin`,
/// else `pg_config --bindir`, else `$PATH`.
fn find_bin_dir(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let has_all = |dir: &Path| REQUIRED_BINARIES.iter().all(|b| dir.join(b).is_file());
    if let Some(dir) = explicit {
        if has_all(dir) {
            return Ok(dir.to_path_buf());
        }
        let missing: Vec<&str> = REQUIRED_BINARIES
            .iter()
            .copied()
            .filter(|b| !dir.join(b).is_file())
            .collect();
        return Err(ClusterError::BinariesNotFound(format!(
            "configured bin_dir {} lacks {} (needs {}; install the PostgreSQL server package, \
             e.g. `apt install postgresql`)",
            dir.display(),
            missing.join(", "),
            REQUIRED_BINARIES.join(", ")
        )));
    }
    let mut looked = Vec::new();
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.split('.').filter_map(|p| p.parse().ok()).collect();
            (version, e.path().join("bin"))
        })
        .collect();
    versioned.sort();
    for (_, dir) in versioned.into_iter().rev() {
        if has_all(&dir) {
            return Ok(dir);
        }
        looked.push(dir.display().to_string());
    }
    if looked.is_empty() {
        looked.push("/usr/lib/postgresql/*/bin".to_owned());
    }
    match std::process::Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_all(&dir) {
                return Ok(dir);
            }
            looked.push(format!("{} (pg_config --bindir)", dir.display()));
        }
        _ => looked.push("pg_config --bindir (not available)".to_owned()),
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_all(&dir) {
                return Ok(dir);
            }
        }
    }
    looked.push("$PATH".to_owned());
    Err(ClusterError::BinariesNotFound(format!(
        "need {} in one directory; looked in: {}. Install the PostgreSQL server package \
         (e.g. `apt install postgresql`) or set bin_dir",
        REQUIRED_BINARIES.join(", "),
        looked.join(", ")
    )))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`, for readable socket paths).
fn pct_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A throwaway cluster for tests: a tempdir, a free port, started; stopped
/// and removed on `Drop`.
///
/// Intended use is one cluster per test binary, shared by all its tests:
///
/// ```no_run
/// use kkoji_pgcluster::TestCluster;
/// static CLUSTER: tokio::sync::OnceCell<TestCluster> = tokio::sync::OnceCell::const_new();
///
/// async fn db_url() -> String {
///     let cluster = CLUSTER
///         .get_or_try_init(TestCluster::start)
///         .await
///         .expect("start test cluster");
///     cluster.fresh_database().await.expect("create database")
/// }
/// ```
///
/// Each `#[tokio::test]` has its own runtime; that is fine because the
/// cluster holds no runtime resources (open a new pool per test from the URL).
///
/// A `static` is never dropped, so cleanup cannot rely on `Drop` alone:
/// `start` first spawns a tiny watchdog (`/bin/sh`, in its own process group
/// so Ctrl-C does not reach it) whose stdin is a pipe held by this process.
/// When the test process exits for any reason — normal exit, panic, SIGKILL —
/// the kernel closes the pipe, the watchdog sees EOF, sends SIGQUIT
/// (immediate shutdown) to the postmaster named in `postmaster.pid`, waits
/// for it, and deletes the tempdir. (`PR_SET_PDEATHSIG` is not usable: it
/// fires when the *thread* that spawned the child exits, and tokio test
/// runtimes' threads die with each test; besides, `pg_ctl` daemonizes the
/// postmaster.) Concurrent test binaries do not interfere: each has its own
/// tempdir, data dir and socket dir (the server listens on no TCP port, and
/// the port is also picked free).
#[derive(Debug)]
pub struct TestCluster {
    cluster: Cluster,
    /// Held so the watchdog sees EOF when this process dies.
    watchdog: Option<std::process::ChildStdin>,
    dir: Option<tempfile::TempDir>,
}

static TEST_DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestCluster {
    /// Creates, initializes and starts a cluster in a fresh tempdir.
    pub async fn start() -> Result<Self, ClusterError> {
        let tc = Self::unstarted()?;
        tc.cluster.start().await?;
        info!(
            socket_dir = %tc.cluster.cfg.socket_dir.display(),
            port = tc.cluster.cfg.port,
            "test cluster started"
        );
        Ok(tc)
    }

    /// Like [`TestCluster::start`] but leaves `init`/`start` to the caller,
    /// for tests of the lifecycle itself that still want the cleanup
    /// guarantees.
    pub fn unstarted() -> Result<Self, ClusterError> {
        let tmp_root = std::env::temp_dir();
        let mut dir = make_tempdir(&tmp_root)?;
        let port = free_port();
        let mut cfg = ClusterConfig::new(dir.path().join("data"), dir.path().join("sock"));
        cfg.port = port;
        if cfg.socket_path().as_os_str().len() > MAX_SOCKET_PATH && tmp_root != Path::new("/tmp") {
            // $TMPDIR is too deep for a socket path; /tmp always fits.
            dir = make_tempdir(Path::new("/tmp"))?;
            cfg = ClusterConfig::new(dir.path().join("data"), dir.path().join("sock"));
            cfg.port = port;
        }
        let mut cluster = Cluster::new(cfg)?;
        cluster.durable = false;
        // Hand the tempdir to the server user (under a restrictive umask it
        // would otherwise be unreachable for it when we are root).
        cluster.chown(dir.path())?;
        let watchdog = spawn_watchdog(&cluster.cfg.data_dir, dir.path())?;
        Ok(Self {
            cluster,
            watchdog: Some(watchdog),
            dir: Some(dir),
        })
    }

    /// The underlying cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Creates a database with a name unique within this cluster and returns
    /// its URL.
    pub async fn fresh_database(&self) -> Result<String, ClusterError> {
        let n = TEST_DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("kkoji_test_{n}");
        self.cluster.create_database(&name).await?;
        Ok(self.cluster.url(&name))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = self.cluster.stop_immediate_blocking() {
            warn!("stopping test cluster: {e}");
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                warn!(path = %path.display(), "removing test cluster dir: {e}");
            }
        }
        // Closing the pipe lets the watchdog exit (it finds nothing left).
        self.watchdog.take();
    }
}

fn make_tempdir(root: &Path) -> Result<tempfile::TempDir, ClusterError> {
    tempfile::Builder::new()
        .prefix("kkpg")
        .tempdir_in(root)
        .map_err(|e| io_err(root, e))
}

/// A port nothing listens on right now. With `listen_addresses = ''` the
/// port only names the socket file, so a race here is harmless.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(5432)
}

/// See [`TestCluster`]: kills the postmaster and removes `root` once our end
/// of its stdin pipe closes.
fn spawn_watchdog(data_dir: &Path, root: &Path) -> Result<std::process::ChildStdin, ClusterError> {
    const SCRIPT: &str = r#"
trap '' HUP INT
while read -r _line; do :; done
pidfile="$1/postmaster.pid"
if [ -r "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  case "$pid" in ''|*[!0-9]*) pid= ;; esac
  if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  fi
fi
rm -rf -- "$2"
"#;
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("kkoji-pg-watchdog")
        .arg(data_dir)
        .arg(root)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| io_err("/bin/sh", e))?;
    child.stdin.take().ok_or_else(|| {
        io_err(
            "/bin/sh",
            std::io::Error::other("watchdog spawned without a stdin pipe"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_socket_and_names() {
        let mut cfg = ClusterConfig::new("/d", "/tmp/a b/sock");
        cfg.bin_dir = None;
        let c = Cluster {
            cfg,
            bin_dir: PathBuf::from("/nonexistent"),
            run_as: None,
            durable: true,
        };
        assert_eq!(
            c.url("db"),
            "postgres://kkoji@localhost/db?host=/tmp/a%20b/sock&port=5432"
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn settings_durable_vs_test() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster {
            cfg: ClusterConfig::new(dir.path().join("d"), "/run/it's"),
            bin_dir: PathBuf::from("/nonexistent"),
            run_as: None,
            durable: true,
        };
        std::fs::create_dir(&c.cfg.data_dir).unwrap();
        let read = |c: &Cluster| {
            c.write_settings().unwrap();
            std::fs::read_to_string(c.cfg.data_dir.join(KKOJI_CONF)).unwrap()
        };
        let text = read(&c);
        assert!(text.contains("listen_addresses = ''\n"), "{text}");
        assert!(text.contains("unix_socket_directories = '/run/it''s'\n"));
        assert!(text.contains("fsync = on\n"));
        assert!(text.contains("logging_collector = on\n"));
        c.durable = false;
        assert!(read(&c).contains("fsync = off\n"));
    }

    #[test]
    fn state_dir_layout() {
        let cfg = ClusterConfig::under_state_dir(Path::new("/var/lib/kkoji"));
        assert_eq!(cfg.data_dir, Path::new("/var/lib/kkoji/pgdata"));
        assert_eq!(
            cfg.socket_path(),
            Path::new("/var/lib/kkoji/pgsocket/.s.PGSQL.5432")
        );
    }

    #[allow(dead_code)]
    fn _assert_send_sync() {
        fn f<T: Send + Sync>() {}
        f::<Cluster>();
        f::<TestCluster>();
    }
}
