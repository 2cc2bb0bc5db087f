//! Builder configuration (TOML). Unknown keys are errors and every error names the file
//! and the key: a typo in a builder's config must not silently fall back to a default
//! (e.g. a misspelled `minspace_mb` would let a builder fill its disk).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// NFS options from the runbook: a hard mount (a dead server blocks instead of corrupting
/// results), NFSv3, 32 KiB transfers.
pub const NFS_DEFAULT_OPTIONS: &str = "rw,hard,intr,rsize=32768,wsize=32768,vers=3";
/// Local scratch disks (ephemeral NVMe, ext4/xfs): access-time updates are pure overhead
/// for build trees.
pub const LOCAL_DEFAULT_OPTIONS: &str = "noatime,nodiratime";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hub XML-RPC URL, e.g. `https://hub.example.com/kojihub`.
    pub hub: String,
    /// Host certificate and key in one PEM; the certificate's CN is the host name.
    pub host_cert: PathBuf,
    /// The farm CA (required for an `https://` hub).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Koji's top directory as this builder sees it (read access to `work/`).
    #[serde(default = "default_topdir")]
    pub topdir: PathBuf,
    /// Local scratch space: one directory per task under `tasks/`.
    #[serde(default = "default_work_dir")]
    pub work_dir: PathBuf,
    /// Most tasks run at once (kojid's `maxjobs`); also sent to the hub's scheduler.
    #[serde(default = "default_maxjobs")]
    pub maxjobs: u32,
    /// Free space (MiB) required at `work_dir` before taking a task.
    #[serde(default = "default_minspace")]
    pub minspace_mb: u64,
    /// Compare the 1-minute load average with the host's capacity.
    #[serde(default = "default_true")]
    pub load_check: bool,
    /// How long a mount may take to answer a stat before it counts as dead.
    #[serde(default = "default_mount_timeout")]
    pub mount_timeout_secs: u64,
    /// Length of the `host.waitTasks` long-poll when idle.
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_secs: u64,
    /// rpmbuild program (a name looked up in PATH, or a path).
    #[serde(default = "default_rpmbuild")]
    pub rpmbuild: String,
    /// Build with mock using this mock config (name or path) when mock is installed;
    /// unset means plain rpmbuild.
    #[serde(default)]
    pub mock_config: Option<String>,
    /// Take the exclusive session even if another session holds it (kojid's
    /// `--force-lock`): for restarting after a crash that left the old session behind.
    #[serde(default)]
    pub force_lock: bool,
    /// Compression of the repodata `createrepo` tasks write: `gzip` (readable by every
    /// yum/dnf) or `zstd` (smaller, dnf 4+ only).
    #[serde(default)]
    pub repo_compression: RepoCompression,
    /// How long a `build` waits for its build tag's repo to be regenerated before it
    /// fails (a broken repo queue must not leave builds waiting forever).
    #[serde(default = "default_repo_wait")]
    pub repo_wait_timeout_secs: u64,
    /// How long a `createrepo` task may take to fetch one external repo's metadata.
    #[serde(default = "default_external_repo_timeout")]
    pub external_repo_timeout_secs: u64,
    /// Volumes that must be present and answering before the builder takes work.
    #[serde(default)]
    pub mounts: Vec<MountSpec>,
    /// Host preparation for `kkoji-builder prepare` (scratch disk, tree, swap).
    #[serde(default)]
    pub prepare: Option<PrepareSpec>,
}

/// The `repo_compression` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoCompression {
    #[default]
    Gzip,
    Zstd,
}

impl RepoCompression {
    pub fn to_repodata(self) -> kkoji_repodata::Compression {
        match self {
            RepoCompression::Gzip => kkoji_repodata::Compression::Gzip,
            RepoCompression::Zstd => kkoji_repodata::Compression::Zstd,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Nfs,
    Ext4,
    Xfs,
    Tmpfs,
    Bind,
    /// Not a mount point: the path only has to exist and answer.
    Dir,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Nfs => "nfs",
            MountKind::Ext4 => "ext4",
            MountKind::Xfs => "xfs",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Bind => "bind",
            MountKind::Dir => "dir",
        }
    }

    /// Options used when the config gives none.
    pub fn default_options(self) -> &'static str {
        match self {
            MountKind::Nfs => NFS_DEFAULT_OPTIONS,
            MountKind::Ext4 | MountKind::Xfs => LOCAL_DEFAULT_OPTIONS,
            MountKind::Tmpfs | MountKind::Bind | MountKind::Dir => "",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MountSpec {
    pub path: PathBuf,
    pub kind: MountKind,
    /// What to mount: `server:/export` for NFS, a device for ext4/xfs, a directory for bind.
    #[serde(default)]
    pub source: Option<String>,
    /// Mount it when it is absent.
    #[serde(default)]
    pub automount: bool,
    /// Mount options; defaults per kind (see [`MountKind::default_options`]).
    #[serde(default)]
    pub options: Option<String>,
}

impl MountSpec {
    pub fn options(&self) -> &str {
        self.options
            .as_deref()
            .unwrap_or_else(|| self.kind.default_options())
    }
}

fn default_topdir() -> PathBuf {
    PathBuf::from("/mnt/koji")
}
fn default_work_dir() -> PathBuf {
    PathBuf::from("/var/tmp/kkoji")
}
fn default_maxjobs() -> u32 {
    10
}
fn default_minspace() -> u64 {
    8192
}
fn default_true() -> bool {
    true
}
fn default_mount_timeout() -> u64 {
    5
}
fn default_poll_timeout() -> u64 {
    30
}
fn default_repo_wait() -> u64 {
    1800
}
fn default_external_repo_timeout() -> u64 {
    300
}
fn default_rpmbuild() -> String {
    "rpmbuild".into()
}

pub use kkoji_toml_config::ConfigError;

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        kkoji_toml_config::load_checked(path, Config::validate)
    }

    /// Parses and validates; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        kkoji_toml_config::parse_checked(path, text, Config::validate)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, msg: &str| Err((key.to_owned(), msg.to_owned()));
        if !(self.hub.starts_with("https://") || self.hub.starts_with("http://")) {
            return bad("hub", "must start with https:// or http://");
        }
        if self.hub.starts_with("https://") && self.ca.is_none() {
            return bad("ca", "is required for an https:// hub");
        }
        if self.maxjobs == 0 {
            return bad("maxjobs", "must be at least 1");
        }
        if self.mount_timeout_secs == 0 || self.mount_timeout_secs > 300 {
            return bad("mount_timeout_secs", "must be between 1 and 300");
        }
        if self.poll_timeout_secs == 0 || self.poll_timeout_secs > 300 {
            return bad("poll_timeout_secs", "must be between 1 and 300");
        }
        if !self.topdir.is_absolute() {
            return bad("topdir", "must be an absolute path");
        }
        if !self.work_dir.is_absolute() {
            return bad("work_dir", "must be an absolute path");
        }
        // the daemon owns everything below work_dir/tasks (it kills and removes leftovers)
        if self.work_dir.parent().is_none() {
            return bad("work_dir", "must not be /");
        }
        if self.repo_wait_timeout_secs == 0 {
            return bad("repo_wait_timeout_secs", "must be at least 1");
        }
        if self.external_repo_timeout_secs == 0 {
            return bad("external_repo_timeout_secs", "must be at least 1");
        }
        if self.rpmbuild.trim().is_empty() {
            return bad("rpmbuild", "must not be empty");
        }
        if let Some(p) = &self.prepare {
            p.validate()?;
        }
        for (i, m) in self.mounts.iter().enumerate() {
            let key = |k: &str| format!("mounts[{i}].{k}");
            if !m.path.is_absolute() {
                return Err((key("path"), "must be an absolute path".into()));
            }
            if m.automount {
                match m.kind {
                    MountKind::Dir => {
                        return Err((
                            key("automount"),
                            "a `dir` is not a mount and cannot be automounted".into(),
                        ));
                    }
                    MountKind::Nfs | MountKind::Ext4 | MountKind::Xfs | MountKind::Bind
                        if m.source.as_deref().is_none_or(|s| s.trim().is_empty()) =>
                    {
                        return Err((
                            key("source"),
                            format!("is required to automount a {} mount", m.kind.as_str()),
                        ));
                    }
                    _ => {}
                }
            }
            if m.kind == MountKind::Nfs
                && let Some(src) = &m.source
                && !src.contains(':')
            {
                return Err((
                    key("source"),
                    "an NFS source looks like `server:/export`".into(),
                ));
            }
            if let Err(e) = crate::mountopts::parse_options(m.options()) {
                return Err((key("options"), e.to_string()));
            }
        }
        Ok(())
    }
}

/// The `[prepare]` section of the builder config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrepareSpec {
    /// The ephemeral scratch disk, e.g. `/dev/nvme1n1`.
    pub device: String,
    #[serde(default = "default_fstype")]
    pub fstype: MountKind,
    /// Where it is mounted.
    #[serde(default = "default_mount")]
    pub mount: PathBuf,
    #[serde(default)]
    pub options: Option<String>,
    /// Label given by `--mkfs` (rc-local plans can then mount `LABEL=…`).
    #[serde(default = "default_label")]
    pub label: String,
    /// Directories to create (default: the runbook's tree under `mount`).
    #[serde(default)]
    pub dirs: Option<Vec<DirSpec>>,
    /// Symlinks to create (default: `/var/lib/mock` and `/var/cache/mock` onto the disk).
    #[serde(default)]
    pub links: Option<Vec<LinkSpec>>,
    /// A swap file to create and enable (0 MiB = none).
    #[serde(default)]
    pub swap_file: Option<PathBuf>,
    #[serde(default)]
    pub swap_mb: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    pub path: PathBuf,
    /// Octal, e.g. `"2775"`.
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub path: PathBuf,
    pub target: PathBuf,
}

fn default_fstype() -> MountKind {
    MountKind::Xfs
}
fn default_mount() -> PathBuf {
    PathBuf::from("/mnt/tmp")
}
fn default_label() -> String {
    "kkoji-scratch".into()
}
fn default_mode() -> String {
    "0755".into()
}

impl PrepareSpec {
    /// The runbook's tree: `var/{lib,tmp,cache}`, the mock dirs (setgid, for the mock
    /// group) and `external-repos`.
    pub fn dirs(&self) -> Vec<DirSpec> {
        if let Some(d) = &self.dirs {
            return d.clone();
        }
        let d = |rel: &str, mode: &str| DirSpec {
            path: self.mount.join(rel),
            mode: mode.into(),
            owner: None,
            group: None,
        };
        vec![
            d("var/lib", "0755"),
            d("var/tmp", "1777"),
            d("var/cache", "0755"),
            d("var/lib/mock", "2775"),
            d("var/cache/mock", "2775"),
            d("external-repos", "0755"),
        ]
    }

    pub fn links(&self) -> Vec<LinkSpec> {
        if let Some(l) = &self.links {
            return l.clone();
        }
        vec![
            LinkSpec {
                path: "/var/lib/mock".into(),
                target: self.mount.join("var/lib/mock"),
            },
            LinkSpec {
                path: "/var/cache/mock".into(),
                target: self.mount.join("var/cache/mock"),
            },
        ]
    }

    /// Checks of values that parsed; `(key, message)` for the first bad one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("prepare.{k}"), m.to_string()));
        if !matches!(self.fstype, MountKind::Ext4 | MountKind::Xfs) {
            return bad("fstype", "must be ext4 or xfs");
        }
        if self.device.trim().is_empty() {
            return bad("device", "must not be empty");
        }
        if !self.mount.is_absolute() || self.mount.parent().is_none() {
            return bad("mount", "must be an absolute path other than /");
        }
        if self.label.is_empty()
            || self.label.len() > 12
            || self.label.contains(char::is_whitespace)
        {
            return bad(
                "label",
                "must be 1-12 characters without spaces (xfs limit)",
            );
        }
        for (i, d) in self.dirs().iter().enumerate() {
            if !d.path.is_absolute() {
                return Err((format!("prepare.dirs[{i}].path"), "must be absolute".into()));
            }
            if parse_mode(&d.mode).is_none() {
                return Err((
                    format!("prepare.dirs[{i}].mode"),
                    "must be an octal mode such as \"2775\"".into(),
                ));
            }
        }
        for (i, l) in self.links().iter().enumerate() {
            if !l.path.is_absolute() || !l.target.is_absolute() {
                return Err((
                    format!("prepare.links[{i}]"),
                    "path and target must be absolute".into(),
                ));
            }
        }
        if self.swap_mb > 0 && self.swap_file.is_none() {
            return bad("swap_file", "is required when swap_mb is set");
        }
        if let Some(o) = &self.options
            && let Err(e) = crate::mountopts::parse_options(o)
        {
            return bad("options", &e.to_string());
        }
        Ok(())
    }
}

/// An octal file mode as the config writes it (`"2775"`).
pub(crate) fn parse_mode(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4)
        .then(|| u32::from_str_radix(s, 8).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hub = "https://127.0.0.1:8443/kojihub"
host_cert = "/etc/kkoji/hosts/builder01.pem"
ca = "/etc/kkoji/ca.crt"
topdir = "/mnt/koji"
work_dir = "/var/tmp/kkoji"
maxjobs = 4
minspace_mb = 1024
load_check = false
mount_timeout_secs = 3
poll_timeout_secs = 20
[[mounts]]
path = "/mnt/koji"
kind = "nfs"
source = "hub:/mnt/koji"
automount = true
[[mounts]]
path = "/var/tmp/kkoji"
kind = "xfs"
source = "/dev/nvme1n1"
automount = true
[[mounts]]
path = "/srv/data"
kind = "dir"
"#;

    #[test]
    fn good_config_parses_with_defaults() {
        let c = Config::parse(Path::new("b.toml"), GOOD).unwrap();
        assert_eq!(c.maxjobs, 4);
        assert_eq!(c.minspace_mb, 1024);
        assert!(!c.load_check);
        assert_eq!(c.rpmbuild, "rpmbuild");
        assert_eq!(c.mounts.len(), 3);
        assert_eq!(c.mounts[0].kind, MountKind::Nfs);
        assert_eq!(c.mounts[0].options(), NFS_DEFAULT_OPTIONS);
        assert_eq!(c.mounts[1].options(), "noatime,nodiratime");
        assert_eq!(c.mounts[2].kind, MountKind::Dir);

        let min = "hub = \"http://h/kojihub\"\nhost_cert = \"/c.pem\"\n";
        let c = Config::parse(Path::new("b.toml"), min).unwrap();
        assert_eq!(c.maxjobs, 10);
        assert_eq!(c.minspace_mb, 8192);
        assert!(c.load_check);
        assert_eq!(c.mount_timeout_secs, 5);
        assert_eq!(c.poll_timeout_secs, 30);
        assert_eq!(c.work_dir, PathBuf::from("/var/tmp/kkoji"));
        assert_eq!(c.topdir, PathBuf::from("/mnt/koji"));
        assert!(c.mounts.is_empty());
        assert_eq!(c.repo_compression, RepoCompression::Gzip);
        assert_eq!(c.repo_wait_timeout_secs, 1800);
        assert_eq!(c.external_repo_timeout_secs, 300);

        let z = format!("{min}repo_compression = \"zstd\"\nrepo_wait_timeout_secs = 60\n");
        let c = Config::parse(Path::new("b.toml"), &z).unwrap();
        assert_eq!(c.repo_compression, RepoCompression::Zstd);
        assert_eq!(c.repo_wait_timeout_secs, 60);
        let bad = format!("{min}repo_compression = \"xz\"\n");
        let msg = Config::parse(Path::new("b.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `repo_compression`"), "{msg}");
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = GOOD.replace("maxjobs = 4", "maxjob = 4");
        let e = Config::parse(Path::new("/etc/kkoji/builder.toml"), &text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/etc/kkoji/builder.toml:"), "{msg}");
        assert!(msg.contains("maxjob"), "{msg}");

        let text = GOOD.replace("kind = \"dir\"", "kind = \"dir\"\nautomnt = true");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("automnt"), "{msg}");
        assert!(msg.contains("mounts[2]"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let text = GOOD.replace("maxjobs = 4", "maxjobs = \"many\"");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("b.toml:"), "{msg}");
        assert!(msg.contains("maxjobs"), "{msg}");

        let text = GOOD.replace("kind = \"xfs\"", "kind = \"zfs\"");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("mounts[1].kind"), "{msg}");
        assert!(msg.contains("zfs"), "{msg}");

        let text = GOOD.replace("maxjobs = 4", "maxjobs = 0");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `maxjobs`: must be at least 1"), "{msg}");

        let text = GOOD.replace("source = \"hub:/mnt/koji\"\n", "");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `mounts[0].source`"), "{msg}");

        let text = GOOD.replace("ca = \"/etc/kkoji/ca.crt\"\n", "");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key `ca`"), "{msg}");

        let text = GOOD.replace("kind = \"dir\"", "kind = \"dir\"\noptions = \"ro,=x\"");
        let msg = Config::parse(Path::new("b.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("mounts[2].options"), "{msg}");

        let msg = Config::parse(Path::new("b.toml"), "hub = [")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("b.toml:"), "{msg}");
    }
}
