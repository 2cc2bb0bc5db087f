//! The farm in a box: `quickstart` also runs one local builder as a child process, with a
//! host certificate, a host row and a builder config of its own under the state directory,
//! and optionally kkoji-repo-regen.

use anyhow::Context;
use kkoji_certs::{CaPaths, CertKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub use crate::config::BootstrapHost;

pub const LOCAL_BUILDER: &str = "local-builder";

/// Koji's name for this machine's architecture.
pub fn machine_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        other => other,
    }
}

pub fn local_host() -> BootstrapHost {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    BootstrapHost {
        name: LOCAL_BUILDER.into(),
        arches: vec![machine_arch().into(), "noarch".into()],
        // room for a few light tasks next to one build on small machines
        capacity: (2 * cpus).max(2) as f64,
        channels: vec!["createrepo".into()],
    }
}

/// Issue the builder's certificate (once) and write its config. Returns the config path.
pub fn prepare(state_dir: &Path, hub_url: &str, topdir: &Path) -> anyhow::Result<PathBuf> {
    let cert_dir = state_dir.join("certs");
    let paths = CaPaths::new(&cert_dir);
    let bundle = paths.host_bundle(LOCAL_BUILDER);
    if !bundle.exists() {
        let ca = kkoji_certs::load_ca(&cert_dir)?;
        let issued = ca.issue_host(LOCAL_BUILDER, 825)?;
        kkoji_certs::write_user_bundle(&cert_dir, CertKind::Host, LOCAL_BUILDER, &issued)?;
    }
    let dir = state_dir.join("builder");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let q = |p: &Path| toml_string(&p.display().to_string());
    let config = format!(
        "# written by kkoji-hub quickstart; edit freely, it is rewritten only if missing\n\
         hub = {}\nhost_cert = {}\nca = {}\ntopdir = {}\nwork_dir = {}\nmaxjobs = 4\nminspace_mb = 256\n\
         # a farm in a box shares its machine with everything else running there (compilers,\n\
         # the hub, PostgreSQL), so the machine's load average says little about this builder\n\
         load_check = false\nmount_timeout_secs = 5\npoll_timeout_secs = 30\n\n\
         [[mounts]]\npath = {}\nkind = \"dir\"\n",
        toml_string(hub_url),
        q(&bundle),
        q(&paths.ca_cert),
        q(topdir),
        q(&work),
        q(topdir),
    );
    let path = dir.join("builder.toml");
    if !path.exists() {
        let tmp = dir.join(".builder.toml.tmp");
        std::fs::write(&tmp, config).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The config of quickstart's kkoji-repo-regen (kojira's job), as the admin user: the farm
/// in a box has one operator. Written only if missing.
pub fn prepare_repo_regen(
    state_dir: &Path,
    hub_url: &str,
    topdir: &Path,
    admin_cert: &Path,
) -> anyhow::Result<PathBuf> {
    let cert_dir = state_dir.join("certs");
    let paths = CaPaths::new(&cert_dir);
    let dir = state_dir.join("repo-regen");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let q = |p: &Path| toml_string(&p.display().to_string());
    let config = format!(
        "# written by kkoji-hub quickstart; edit freely, it is rewritten only if missing\n\
         hub = {}\nca = {}\ncert = {}\ntopdir = {}\ninterval_secs = 10\n",
        toml_string(hub_url),
        q(&paths.ca_cert),
        q(admin_cert),
        q(topdir),
    );
    let path = dir.join("repo-regen.toml");
    if !path.exists() {
        let tmp = dir.join(".repo-regen.toml.tmp");
        std::fs::write(&tmp, config).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

/// A child left running by an earlier hub of this state directory (e.g. after kill -9; a
/// builder still holds the host's exclusive session): stop it before starting a new one.
fn stop_leftover(pidfile: &Path, config: &Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy());
    if !ours {
        return;
    }
    let p = nix::unistd::Pid::from_raw(pid);
    tracing::warn!(pid, "stopping a child left over from an earlier run");
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
}

/// A running child of quickstart (the local builder, kkoji-repo-regen); stopped (SIGTERM,
/// then SIGKILL after 15 s) when dropped.
pub struct LocalChild {
    what: &'static str,
    child: Child,
}

/// The local builder.
pub type LocalBuilder = LocalChild;

impl LocalChild {
    pub fn spawn(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<LocalChild> {
        Self::spawn_named("local builder", bin, config, log)
    }

    /// Runs `bin --config CONFIG` with its output appended to `log`; its pid is kept in
    /// CONFIG with the extension `.pid`.
    pub fn spawn_named(
        what: &'static str,
        bin: &Path,
        config: &Path,
        log: &Path,
    ) -> anyhow::Result<LocalChild> {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let errf = logf.try_clone()?;
        let pidfile = config.with_extension("pid");
        stop_leftover(&pidfile, config);
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(config).stdout(logf).stderr(errf);
        // the builder must not outlive a hub that was killed (kill -9 leaves no chance to
        // stop it): the kernel sends it SIGTERM when its parent dies
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start the {what} {}", bin.display()))?;
        if let Err(e) = std::fs::write(&pidfile, child.id().to_string()) {
            tracing::warn!(error = %e, path = %pidfile.display(), "cannot record the {what}'s pid");
        }
        tracing::info!(pid = child.id(), log = %log.display(), "{what} started");
        Ok(LocalChild { what, child })
    }
}

impl Drop for LocalChild {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                tracing::info!("{} stopped", self.what);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        tracing::warn!("{} did not stop in 15 s; killing it", self.what);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Create the bootstrap hosts that do not exist yet (user, host, config, channels), each in
/// its own transaction.
pub async fn ensure_hosts(pool: &sqlx::PgPool, hosts: &[BootstrapHost]) -> anyhow::Result<()> {
    for h in hosts {
        let mut tx = pool.begin().await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT id FROM host WHERE name = $1")
            .bind(&h.name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            continue;
        }
        let uid: i32 = match sqlx::query_scalar::<_, i32>("SELECT id FROM users WHERE name = $1")
            .bind(&h.name)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(u) => {
                sqlx::query("UPDATE users SET usertype = 1 WHERE id = $1")
                    .bind(u)
                    .execute(&mut *tx)
                    .await?;
                u
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO users (name, status, usertype) VALUES ($1, 0, 1) RETURNING id",
                )
                .bind(&h.name)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let ev: i64 = sqlx::query_scalar("INSERT INTO events DEFAULT VALUES RETURNING id")
            .fetch_one(&mut *tx)
            .await?;
        let hid: i32 =
            sqlx::query_scalar("INSERT INTO host (user_id, name) VALUES ($1, $2) RETURNING id")
                .bind(uid)
                .bind(&h.name)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("INSERT INTO host_config (host_id, arches, capacity, create_event) VALUES ($1, $2, $3, $4)")
            .bind(hid)
            .bind(h.arches.join(" "))
            .bind(h.capacity)
            .bind(ev)
            .execute(&mut *tx)
            .await?;
        let mut chans = vec!["default".to_string()];
        chans.extend(h.channels.iter().cloned());
        sqlx::query(
            "INSERT INTO host_channels (host_id, channel_id, create_event) \
             SELECT $1, id, $2 FROM channels WHERE name = ANY($3)",
        )
        .bind(hid)
        .bind(ev)
        .bind(&chans)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(host = %h.name, arches = %h.arches.join(" "), "bootstrap host added");
    }
    Ok(())
}
