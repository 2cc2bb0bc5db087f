//! A builder daemon (the real one, in-process) against the fake hub, with a topdir and
//! work dir in a temporary directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kkoji_builder::Config;
use kkoji_builder::daemon::{self, DaemonError};
use koji_protocol::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::fakehub::{Call, FakeHub, write_host_cert};
use super::{Spec, make_srpm};

pub const LONG: Duration = Duration::from_secs(120);

pub struct Farm {
    pub tmp: tempfile::TempDir,
    pub hub: Arc<FakeHub>,
    pub cfg: Config,
    pub stop: Option<oneshot::Sender<()>>,
    pub daemon: Option<JoinHandle<Result<(), DaemonError>>>,
}

impl Farm {
    pub async fn new(extra: &str) -> Farm {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("kkoji_builder=debug")
            .with_test_writer()
            .try_init();
        let tmp = tempfile::tempdir().unwrap();
        let topdir = tmp.path().join("topdir");
        std::fs::create_dir_all(topdir.join("work")).unwrap();
        let hub = FakeHub::start(&topdir).await;
        let cert = write_host_cert(tmp.path());
        let text = format!(
            "hub = \"{url}\"\nhost_cert = \"{cert}\"\ntopdir = \"{top}\"\nwork_dir = \"{work}\"\n\
minspace_mb = 1\nload_check = false\npoll_timeout_secs = 5\nmount_timeout_secs = 2\n{extra}\n\
[[mounts]]\npath = \"{top}\"\nkind = \"dir\"\n",
            url = hub.url(),
            cert = cert.display(),
            top = topdir.display(),
            work = tmp.path().join("work").display(),
        );
        let cfg = Config::parse(Path::new("test.toml"), &text).unwrap();
        // a current, empty repo of the build tag, so builds start at once
        hub.make_ready_repo();
        Farm {
            tmp,
            hub,
            cfg,
            stop: None,
            daemon: None,
        }
    }

    /// Builds an SRPM and puts it where the CLI's upload would be; returns the path
    /// relative to `work/`.
    pub fn upload_srpm(&self, spec: &Spec) -> String {
        let srpm = make_srpm(&self.tmp.path().join(format!("src-{}", spec.name)), spec);
        let rel = format!(
            "cli-build/1795351145.1675758.TtqclEgM/{}",
            srpm.file_name().unwrap().to_string_lossy()
        );
        let dst = self.cfg.topdir.join("work").join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&srpm, &dst).unwrap();
        rel
    }

    pub fn start(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        let cfg = self.cfg.clone();
        self.stop = Some(tx);
        self.daemon = Some(tokio::spawn(async move {
            daemon::run(cfg, async {
                let _ = rx.await;
            })
            .await
        }));
    }

    pub async fn stop(&mut self) -> Result<(), DaemonError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let h = self.daemon.take().expect("daemon started");
        tokio::time::timeout(Duration::from_secs(40), h)
            .await
            .expect("daemon did not stop within 40 s")
            .unwrap()
    }

    pub fn work_file(&self, rel: &str) -> PathBuf {
        self.cfg.topdir.join("work").join(rel)
    }
}

pub fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// Every call but the long-poll holds the session lock from prepare to answer, so the
/// hub sees callnums strictly increasing.
pub fn assert_callnums_increase(calls: &[Call]) {
    let mut last = -1;
    for c in calls.iter().filter(|c| c.method != "host.waitTasks") {
        if let Some(n) = c.callnum {
            assert!(n > last, "callnum {n} of {} after {last}", c.method);
            last = n;
        }
    }
}

pub fn noarch_spec(name: &str) -> Spec<'_> {
    Spec {
        name,
        arch_line: "BuildArch: noarch",
        build: "echo building",
    }
}
