//! The boot plan (TOML). Unknown keys are errors naming the file and the key: a typo in
//! `requires` must not let postgresql start on an empty mount point.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use kkoji_toml_config::ConfigError;

/// `systemctl start NAME`: what the seed's rc.local did by hand.
pub const DEFAULT_START: &[&str] = &["systemctl", "start", "{name}"];
/// `systemctl is-active --quiet NAME`: a running service is left alone, so a second run
/// changes nothing.
pub const DEFAULT_IS_ACTIVE: &[&str] = &["systemctl", "is-active", "--quiet", "{name}"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Set when it differs (the respun VM comes up with a cloud default name).
    #[serde(default)]
    pub hostname: Option<String>,
    /// How long one mount, swapon, probe or service command may take before it is
    /// abandoned and reported (a dead NFS server must never hang the boot).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// How long a `UUID=`/`LABEL=` device that is not there yet is waited for.
    #[serde(default = "default_device_wait")]
    pub device_wait_secs: u64,
    /// Command that starts a service; `{name}` is replaced by the service name.
    #[serde(default = "default_start")]
    pub start_command: Vec<String>,
    /// Command that exits 0 when a service already runs; an empty list means "always start".
    #[serde(default = "default_is_active")]
    pub is_active_command: Vec<String>,
    #[serde(default)]
    pub swap: Vec<SwapSpec>,
    #[serde(default)]
    pub mount: Vec<MountSpec>,
    #[serde(default)]
    pub symlink: Vec<SymlinkSpec>,
    #[serde(default)]
    pub service: Vec<ServiceSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapSpec {
    /// A block device, `UUID=…`, `LABEL=…`, or a swap file.
    pub device: String,
    /// A missing swap device makes the run fail only when required (default: no; a host
    /// without swap still boots).
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountSpec {
    pub path: PathBuf,
    /// A block device, `UUID=…`, `LABEL=…`; `server:/export` for nfs; the source directory
    /// for `bind`; anything (or nothing) for tmpfs.
    #[serde(default)]
    pub device: Option<String>,
    /// ext4, xfs, tmpfs, nfs, bind, … (passed to mount(8) as `-t`, `bind` as `--bind`).
    pub fstype: String,
    #[serde(default)]
    pub options: Option<String>,
    #[serde(default = "default_true")]
    pub required: bool,
    /// Overrides the plan's `timeout_secs` for this mount.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Mounts of this plan that must be usable first, e.g. the data volume under a bind
    /// mount (binding the empty mount point instead would hide the missing volume).
    #[serde(default)]
    pub requires: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkSpec {
    /// The link to create, e.g. `/var/cache/mrepo`.
    pub path: PathBuf,
    /// Where it points, e.g. `/mnt/tmp/cache/mrepo`.
    pub target: PathBuf,
    /// Create the target directory (it lives on a freshly formatted scratch disk).
    #[serde(default)]
    pub create_target: bool,
    /// Mount points that must be present first (the target's volume).
    #[serde(default)]
    pub requires: Vec<PathBuf>,
    #[serde(default = "default_true")]
    pub required: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    /// Services start in ascending order (ties keep the file's order).
    #[serde(default)]
    pub order: i64,
    /// Mount points of this plan that must be mounted and answering.
    #[serde(default)]
    pub requires: Vec<PathBuf>,
    /// Overrides the plan's `start_command`.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default = "default_true")]
    pub required: bool,
}

fn default_timeout() -> u64 {
    20
}
fn default_device_wait() -> u64 {
    10
}
fn default_true() -> bool {
    true
}
fn default_start() -> Vec<String> {
    DEFAULT_START.iter().map(|s| s.to_string()).collect()
}
fn default_is_active() -> Vec<String> {
    DEFAULT_IS_ACTIVE.iter().map(|s| s.to_string()).collect()
}

/// Mount types that need a device (block, network or bind source).
fn needs_device(fstype: &str) -> bool {
    !matches!(fstype, "tmpfs" | "proc" | "sysfs" | "devtmpfs" | "ramfs")
}

impl MountSpec {
    pub fn timeout(&self, plan: &Plan) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(plan.timeout_secs))
    }
}

impl Plan {
    pub fn load(path: &Path) -> Result<Plan, ConfigError> {
        kkoji_toml_config::load_checked(path, Plan::validate)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Plan, ConfigError> {
        kkoji_toml_config::parse_checked(path, text, Plan::validate)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    pub fn device_wait(&self) -> Duration {
        Duration::from_secs(self.device_wait_secs)
    }

    /// The plan's mount for exactly this path.
    pub fn mount_for(&self, path: &Path) -> Option<&MountSpec> {
        let want = normalize(path);
        self.mount.iter().find(|m| normalize(&m.path) == want)
    }

    /// Services in start order.
    pub fn services_in_order(&self) -> Vec<&ServiceSpec> {
        let mut s: Vec<&ServiceSpec> = self.service.iter().collect();
        s.sort_by_key(|s| s.order);
        s
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let err = |k: String, m: &str| Err((k, m.to_owned()));
        if let Some(h) = &self.hostname
            && (h.is_empty()
                || h.len() > 64
                || !h
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        {
            return err(
                "hostname".into(),
                "must be 1-64 characters of A-Z a-z 0-9 - .",
            );
        }
        if self.timeout_secs == 0 || self.timeout_secs > 3600 {
            return err("timeout_secs".into(), "must be between 1 and 3600");
        }
        if self.device_wait_secs > 3600 {
            return err("device_wait_secs".into(), "must be at most 3600");
        }
        if self.start_command.is_empty() {
            return err("start_command".into(), "must name a program");
        }
        for (i, s) in self.swap.iter().enumerate() {
            if s.device.trim().is_empty() {
                return err(format!("swap[{i}].device"), "must not be empty");
            }
        }
        for (i, m) in self.mount.iter().enumerate() {
            let k = |f: &str| format!("mount[{i}].{f}");
            if !m.path.is_absolute() || m.path.parent().is_none() {
                return err(k("path"), "must be an absolute path other than /");
            }
            if m.fstype.trim().is_empty() || m.fstype.contains([' ', ',']) {
                return err(k("fstype"), "must be a filesystem type such as ext4");
            }
            if needs_device(&m.fstype) && m.device.as_deref().is_none_or(|d| d.trim().is_empty()) {
                return err(k("device"), "is required for this fstype");
            }
            if m.fstype.starts_with("nfs")
                && let Some(d) = &m.device
                && !d.contains(':')
            {
                return err(k("device"), "an NFS device looks like `server:/export`");
            }
            if m.timeout_secs == Some(0) {
                return err(k("timeout_secs"), "must be at least 1");
            }
            if let Some(o) = &m.options
                && (o.contains(' ') || o.split(',').any(str::is_empty))
            {
                return err(
                    k("options"),
                    "must be comma-separated options without spaces",
                );
            }
            if self.mount[..i]
                .iter()
                .any(|p| normalize(&p.path) == normalize(&m.path))
            {
                return err(k("path"), "is listed twice");
            }
            for r in &m.requires {
                if !self.mount[..i]
                    .iter()
                    .any(|p| normalize(&p.path) == normalize(r))
                {
                    return Err((
                        k("requires"),
                        format!("{} is no mount listed before this one", r.display()),
                    ));
                }
            }
        }
        for (i, l) in self.symlink.iter().enumerate() {
            let k = |f: &str| format!("symlink[{i}].{f}");
            if !l.path.is_absolute() {
                return err(k("path"), "must be an absolute path");
            }
            if !l.target.is_absolute() {
                return err(k("target"), "must be an absolute path");
            }
            for r in &l.requires {
                if self.mount_for(r).is_none() {
                    return err(k("requires"), "names a path that is no mount of this plan");
                }
            }
        }
        for (i, s) in self.service.iter().enumerate() {
            let k = |f: &str| format!("service[{i}].{f}");
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c))
            {
                return err(k("name"), "must be a unit name (A-Z a-z 0-9 - _ . @ :)");
            }
            if s.command.as_ref().is_some_and(Vec::is_empty) {
                return err(k("command"), "must name a program");
            }
            for r in &s.requires {
                if self.mount_for(r).is_none() {
                    return Err((
                        k("requires"),
                        format!("{} is no mount of this plan", r.display()),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Trailing slashes and `.` removed, without touching the filesystem (a stat could hang).
pub use kkoji_mountinfo::normalize;

/// `{name}` replaced in each argument.
pub fn expand(cmd: &[String], name: &str) -> Vec<String> {
    cmd.iter().map(|a| a.replace("{name}", name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hostname = "koji.example.com"
timeout_secs = 5
[[swap]]
device = "/dev/nvme0n1p2"
[[mount]]
path = "/mnt/koji"
device = "LABEL=kojidata"
fstype = "xfs"
options = "noatime"
[[mount]]
path = "/mnt/tmp"
device = "UUID=0b1c"
fstype = "ext4"
[[symlink]]
path = "/var/cache/mrepo"
target = "/mnt/tmp/cache/mrepo"
create_target = true
requires = ["/mnt/tmp"]
[[service]]
name = "kojid"
order = 30
requires = ["/mnt/koji", "/mnt/tmp/"]
[[service]]
name = "postgresql"
order = 10
requires = ["/mnt/koji"]
"#;

    #[test]
    fn good_plan_parses_and_orders_services() {
        let p = Plan::parse(Path::new("hub.toml"), GOOD).unwrap();
        assert_eq!(p.timeout(), Duration::from_secs(5));
        assert_eq!(p.start_command, ["systemctl", "start", "{name}"]);
        let names: Vec<_> = p.services_in_order().iter().map(|s| &s.name).collect();
        assert_eq!(names, ["postgresql", "kojid"]);
        assert!(p.mount[0].required);
        assert!(!p.swap[0].required);
        assert!(p.mount_for(Path::new("/mnt/tmp/")).is_some());
        assert_eq!(
            expand(&p.start_command, "kojid"),
            ["systemctl", "start", "kojid"]
        );
    }

    fn msg(text: &str) -> String {
        Plan::parse(Path::new("/etc/kkoji/boot.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_plans_name_file_and_key() {
        let m = msg(&GOOD.replace(
            "requires = [\"/mnt/koji\"]\n",
            "requires = [\"/mnt/kojj\"]\n",
        ));
        assert!(m.starts_with("/etc/kkoji/boot.toml:"), "{m}");
        assert!(m.contains("service[1].requires"), "{m}");
        let m = msg(&GOOD.replace("fstype = \"ext4\"", "fstype = \"ext4\"\nopts = \"x\""));
        assert!(m.contains("opts"), "{m}");
        let m = msg(&GOOD.replace("device = \"UUID=0b1c\"\n", ""));
        assert!(m.contains("mount[1].device"), "{m}");
        let m = msg(&GOOD.replace("timeout_secs = 5", "timeout_secs = 0"));
        assert!(m.contains("timeout_secs"), "{m}");
        let m = msg(&GOOD.replace("path = \"/mnt/tmp\"", "path = \"/mnt/koji/\""));
        assert!(m.contains("mount[1].path") && m.contains("twice"), "{m}");
        let m = msg(&GOOD.replace("name = \"kojid\"", "name = \"kojid; rm -rf /\""));
        assert!(m.contains("service[0].name"), "{m}");
        let m = msg(&GOOD.replace("order = 30", "order = \"late\""));
        assert!(m.contains("service[0].order"), "{m}");
        let m = msg("[[mount]]\npath = \"/x\"\nfstype = \"nfs\"\ndevice = \"hub\"\n");
        assert!(m.contains("mount[0].device"), "{m}");
    }
}
