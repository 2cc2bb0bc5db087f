//! Where everything of a farm in a box lives under its state directory. One place, so the
//! setup, the supervisor, the tests and the docs agree.
//!
//! ```text
//! STATE/quickstart.lock       held (flock) while a kkoji-quickstart runs on STATE
//! STATE/hub.toml, hub.pid     the hub's config (rewritten at every start) and pid
//! STATE/koji.conf             the [kkoji] client profile (admin certificate)
//! STATE/certs/                the farm CA (kkoji-certs layout)
//! STATE/pgdata/               the hub's embedded PostgreSQL
//! STATE/koji/                 Koji's top directory
//! STATE/builder/              builder.toml, builder.pid, builder.log, work/
//! STATE/repo-regen/           repo-regen.toml, repo-regen.pid, repo-regen.log
//! ```

use std::path::{Path, PathBuf};

/// The admin user: the farm in a box has one operator.
pub const ADMIN: &str = "kojiadmin";

/// The local builder's host name (and certificate CN).
pub const LOCAL_BUILDER: &str = "local-builder";

/// The server certificate's name under `certs/server/`.
pub const SERVER_NAME: &str = "localhost";

#[derive(Debug, Clone)]
pub struct Layout {
    state_dir: PathBuf,
}

impl Layout {
    /// `state_dir` should be absolute: it ends up in configs read by other processes.
    pub fn new(state_dir: &Path) -> Layout {
        Layout {
            state_dir: state_dir.to_path_buf(),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn lock(&self) -> PathBuf {
        self.state_dir.join("quickstart.lock")
    }

    pub fn cert_dir(&self) -> PathBuf {
        self.state_dir.join("certs")
    }

    /// The listen address the server certificate was issued for.
    pub fn server_ip(&self) -> PathBuf {
        self.state_dir.join("server-ip")
    }

    pub fn koji_conf(&self) -> PathBuf {
        self.state_dir.join("koji.conf")
    }

    pub fn topdir(&self) -> PathBuf {
        self.state_dir.join("koji")
    }

    pub fn hub_config(&self) -> PathBuf {
        self.state_dir.join("hub.toml")
    }

    pub fn builder_dir(&self) -> PathBuf {
        self.state_dir.join("builder")
    }

    pub fn builder_config(&self) -> PathBuf {
        self.builder_dir().join("builder.toml")
    }

    pub fn builder_work(&self) -> PathBuf {
        self.builder_dir().join("work")
    }

    pub fn builder_log(&self) -> PathBuf {
        self.builder_dir().join("builder.log")
    }

    pub fn regen_dir(&self) -> PathBuf {
        self.state_dir.join("repo-regen")
    }

    pub fn regen_config(&self) -> PathBuf {
        self.regen_dir().join("repo-regen.toml")
    }

    pub fn regen_log(&self) -> PathBuf {
        self.regen_dir().join("repo-regen.log")
    }
}

/// Where a daemon started with `config` keeps its pid (`hub.toml` → `hub.pid`).
pub fn pidfile(config: &Path) -> PathBuf {
    config.with_extension("pid")
}
