//! Extra builders for a test: a host certificate from the farm CA, a host row (`koji
//! add-host`, also in the createrepo channel), a config under `ROOT/work/builder-NAME/`, and the `e2e-kkoji-builder` daemon
//! in a process group of its own, stopped when dropped.

use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Farm;
use crate::cli::{Output, run_with_timeout};
use crate::farm::{hub_bin, kill_processes_under, log_tail};

/// The builder program quickstart runs too (`e2e-kkoji-builder`).
pub fn builder_bin() -> PathBuf {
    hub_bin().with_file_name("e2e-kkoji-builder")
}

/// Settings of a test builder's `builder.toml` that tests vary.
#[derive(Debug, Clone)]
pub struct BuilderSettings {
    /// `load_check` (the local builder of quickstart has it off).
    pub load_check: bool,
    /// Extra `[[mounts]]` entries as (path, kind); the topdir is always a `dir` mount.
    pub mounts: Vec<(String, String)>,
    /// `poll_timeout_secs`.
    pub poll_timeout_secs: u64,
    /// `maxjobs`.
    pub maxjobs: u32,
}

impl Default for BuilderSettings {
    fn default() -> Self {
        BuilderSettings {
            load_check: false,
            mounts: Vec::new(),
            poll_timeout_secs: 10,
            maxjobs: 4,
        }
    }
}

/// One extra builder daemon of a farm.
pub struct TestBuilder {
    name: String,
    dir: PathBuf,
    child: Option<Child>,
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

impl TestBuilder {
    /// Adds host `name` (arches x86_64 noarch) to the hub, issues its certificate and writes
    /// its config. Not started yet: see [`TestBuilder::start`].
    pub fn new(farm: &Farm, name: &str, settings: &BuilderSettings) -> TestBuilder {
        farm.koji(&["add-host", name, "x86_64", "noarch"])
            .ok()
            .stdout_has(&format!("{name} added: id "));
        // builds wait for a buildroot repo, made by newRepo tasks of the createrepo channel
        farm.koji(&["add-host-to-channel", name, "createrepo"]).ok();
        let ca = kkoji_certs::load_ca(&farm.ca_dir()).expect("load the farm CA");
        let issued = ca
            .issue_host(name, 30)
            .unwrap_or_else(|e| panic!("issue a host certificate for {name}: {e}"));
        let cert = kkoji_certs::write_user_bundle(
            &farm.ca_dir(),
            kkoji_certs::CertKind::Host,
            name,
            &issued,
        )
        .unwrap_or_else(|e| panic!("write the host certificate of {name}: {e}"));
        let dir = farm.work_dir(&format!("builder-{name}"));
        let work = dir.join("work");
        fs::create_dir_all(&work).expect("create builder work_dir");
        let mut config = format!(
            "hub = {:?}\nhost_cert = {}\nca = {}\ntopdir = {}\nwork_dir = {}\n\
             maxjobs = {}\nminspace_mb = 64\nload_check = {}\nmount_timeout_secs = 5\n\
             poll_timeout_secs = {}\n\n[[mounts]]\npath = {}\nkind = \"dir\"\n",
            farm.server_url(),
            toml_str(&cert),
            toml_str(&farm.ca_cert()),
            toml_str(&farm.topdir()),
            toml_str(&work),
            settings.maxjobs,
            settings.load_check,
            settings.poll_timeout_secs,
            toml_str(&farm.topdir()),
        );
        for (path, kind) in &settings.mounts {
            config.push_str(&format!("\n[[mounts]]\npath = {path:?}\nkind = {kind:?}\n"));
        }
        fs::write(dir.join("builder.toml"), config).expect("write builder.toml");
        TestBuilder {
            name: name.to_string(),
            dir,
            child: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("builder.toml")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("builder.log")
    }

    /// `work_dir` of the config; task directories are `tasks/ID` below it.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of the builder's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- {} (tail) ---\n{}",
            self.log().display(),
            log_tail(&self.log(), lines)
        )
    }

    /// `e2e-kkoji-builder check --config FILE` (the readiness verdict, exit 1 when not ready).
    pub fn check(&self) -> Output {
        let mut cmd = Command::new(builder_bin());
        cmd.arg("check").arg("--config").arg(self.config());
        run_with_timeout(cmd, Duration::from_secs(60))
    }

    /// Starts the daemon (stdout and stderr to `builder.log`), in its own process group and
    /// with SIGTERM as its parent-death signal, so that nothing outlives the test.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "builder {} runs already", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("open builder log");
        let err = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(builder_bin());
        cmd.arg("--config")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        // SAFETY: prctl and setpgid are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", builder_bin().display()));
        self.child = Some(child);
    }

    /// Whether the daemon process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// A machine lost at once: SIGKILL to the daemon's process group and to every build it
    /// started (their own process groups, found by their working directory in `work/`).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group this builder leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
        }
        kill_processes_under(&self.work());
    }

    /// SIGTERM (the daemon frees its tasks and logs out), SIGKILL after 20 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = child.id() as i32;
        // SAFETY: kill(2) on the daemon we spawned.
        unsafe { libc::kill(pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: the process group this builder leads.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        kill_processes_under(&self.work());
    }
}

impl Drop for TestBuilder {
    fn drop(&mut self) {
        self.stop();
    }
}
