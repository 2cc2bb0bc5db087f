//! Daemon configuration (TOML). Unknown keys are errors and every error names the file
//! and the key: a misspelled `repo_lifetime_secs` silently falling back to its default
//! would expire or delete repos on a schedule the operator never chose.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hub XML-RPC URL, e.g. `https://hub.example.com/kojihub`.
    pub hub: String,
    /// The farm CA (required for an `https://` hub).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Certificate and key in one PEM (a user or host bundle); its user needs the `repo`
    /// (or `admin`) permission.
    pub cert: PathBuf,
    /// Koji's top directory; repos live in `<topdir>/repos/<tag>/<id>`.
    #[serde(default = "default_topdir")]
    pub topdir: PathBuf,
    /// Pause between passes.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// How long a superseded READY repo stays READY before it is expired.
    #[serde(default = "default_repo_lifetime")]
    pub repo_lifetime_secs: u64,
    /// How long an EXPIRED or PROBLEM repo stays before it is deleted.
    #[serde(default = "default_deleted_lifetime")]
    pub deleted_repo_lifetime_secs: u64,
    /// Stray repo directories younger than this are left alone (a repo being created may
    /// have its directory before the daemon sees its row).
    #[serde(default = "default_prune_grace")]
    pub prune_grace_secs: u64,
    /// Each external repo's `repomd.xml` is fetched at most this often.
    #[serde(default = "default_external_check")]
    pub external_check_secs: u64,
    /// Deadline for one hub call and for one external `repomd.xml` fetch.
    #[serde(default = "default_http_timeout")]
    pub http_timeout_secs: u64,
    /// No new repo requests while this many repo requests have a running task.
    #[serde(default = "default_max_repo_tasks")]
    pub max_repo_tasks: u32,
    /// Longest wait before re-requesting a repo whose last request failed for the same
    /// tag event (the wait doubles from `interval_secs` up to this).
    #[serde(default = "default_max_backoff")]
    pub request_backoff_max_secs: u64,
    /// Trust anchors (PEM bundle) for `https://` external repos, e.g. the system bundle
    /// `/etc/pki/tls/certs/ca-bundle.crt`; unset means the built-in public web roots.
    #[serde(default)]
    pub external_ca: Option<PathBuf>,
}

fn default_topdir() -> PathBuf {
    PathBuf::from("/mnt/koji")
}
fn default_interval() -> u64 {
    10
}
fn default_repo_lifetime() -> u64 {
    86_400
}
fn default_deleted_lifetime() -> u64 {
    604_800
}
fn default_prune_grace() -> u64 {
    3_600
}
fn default_external_check() -> u64 {
    300
}
fn default_http_timeout() -> u64 {
    60
}
fn default_max_repo_tasks() -> u32 {
    10
}
fn default_max_backoff() -> u64 {
    3_600
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

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let bad = |key: &'static str, msg: &str| Err((key, msg.to_owned()));
        if !(self.hub.starts_with("https://") || self.hub.starts_with("http://")) {
            return bad("hub", "must start with https:// or http://");
        }
        if self.hub.starts_with("https://") && self.ca.is_none() {
            return bad("ca", "is required for an https:// hub");
        }
        if !self.topdir.is_absolute() {
            return bad("topdir", "must be an absolute path");
        }
        if self.interval_secs == 0 || self.interval_secs > 3_600 {
            return bad("interval_secs", "must be between 1 and 3600");
        }
        if self.http_timeout_secs == 0 || self.http_timeout_secs > 3_600 {
            return bad("http_timeout_secs", "must be between 1 and 3600");
        }
        if self.max_repo_tasks == 0 {
            return bad("max_repo_tasks", "must be at least 1");
        }
        if self.request_backoff_max_secs < self.interval_secs {
            return bad("request_backoff_max_secs", "must be at least interval_secs");
        }
        // Lifetimes of 0 are allowed (tests, aggressive cleanup); absurd ones are typos.
        const TEN_YEARS: u64 = 10 * 365 * 86_400;
        for (key, v) in [
            ("repo_lifetime_secs", self.repo_lifetime_secs),
            (
                "deleted_repo_lifetime_secs",
                self.deleted_repo_lifetime_secs,
            ),
            ("prune_grace_secs", self.prune_grace_secs),
            ("external_check_secs", self.external_check_secs),
        ] {
            if v > TEN_YEARS {
                return Err((key, "must be at most ten years".into()));
            }
        }
        Ok(())
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    pub fn http_timeout(&self) -> Duration {
        Duration::from_secs(self.http_timeout_secs)
    }

    /// `<topdir>/repos`: the only tree the daemon ever removes anything from.
    pub fn repos_dir(&self) -> PathBuf {
        self.topdir.join("repos")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hub = "https://127.0.0.1:8443/kojihub"
ca = "/etc/kkoji/ca.crt"
cert = "/etc/kkoji/users/kojira.pem"
topdir = "/mnt/koji"
interval_secs = 5
repo_lifetime_secs = 3600
deleted_repo_lifetime_secs = 7200
prune_grace_secs = 600
external_check_secs = 120
http_timeout_secs = 20
max_repo_tasks = 4
request_backoff_max_secs = 900
external_ca = "/etc/pki/tls/certs/ca-bundle.crt"
"#;

    #[test]
    fn good_config_parses_and_defaults_apply() {
        let c = Config::parse(Path::new("r.toml"), GOOD).unwrap();
        assert_eq!(c.interval_secs, 5);
        assert_eq!(c.repo_lifetime_secs, 3600);
        assert_eq!(c.deleted_repo_lifetime_secs, 7200);
        assert_eq!(c.prune_grace_secs, 600);
        assert_eq!(c.external_check_secs, 120);
        assert_eq!(c.max_repo_tasks, 4);
        assert_eq!(c.repos_dir(), PathBuf::from("/mnt/koji/repos"));

        let min = "hub = \"http://h/kojihub\"\ncert = \"/c.pem\"\n";
        let c = Config::parse(Path::new("r.toml"), min).unwrap();
        assert_eq!(c.interval_secs, 10);
        assert_eq!(c.repo_lifetime_secs, 86_400);
        assert_eq!(c.deleted_repo_lifetime_secs, 604_800);
        assert_eq!(c.prune_grace_secs, 3_600);
        assert_eq!(c.external_check_secs, 300);
        assert_eq!(c.max_repo_tasks, 10);
        assert_eq!(c.request_backoff_max_secs, 3_600);
        assert_eq!(c.topdir, PathBuf::from("/mnt/koji"));
        assert!(c.ca.is_none() && c.external_ca.is_none());
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = GOOD.replace("repo_lifetime_secs = 3600", "repo_lifetime = 3600");
        let msg = Config::parse(Path::new("/etc/kkoji/repo-regen.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/etc/kkoji/repo-regen.toml:"), "{msg}");
        assert!(msg.contains("repo_lifetime"), "{msg}");

        let text = format!("{GOOD}\n[[tags]]\nname = \"x\"\n");
        let msg = Config::parse(Path::new("r.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("tags"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                "interval_secs = 5",
                "interval_secs = \"often\"",
                "interval_secs",
            ),
            (
                "interval_secs = 5",
                "interval_secs = 0",
                "key `interval_secs`",
            ),
            (
                "max_repo_tasks = 4",
                "max_repo_tasks = 0",
                "key `max_repo_tasks`",
            ),
            (
                "max_repo_tasks = 4",
                "max_repo_tasks = -1",
                "max_repo_tasks",
            ),
            ("topdir = \"/mnt/koji\"", "topdir = \"mnt\"", "key `topdir`"),
            ("ca = \"/etc/kkoji/ca.crt\"\n", "", "key `ca`"),
            (
                "hub = \"https://127.0.0.1:8443/kojihub\"",
                "hub = \"ftp://x\"",
                "key `hub`",
            ),
            (
                "request_backoff_max_secs = 900",
                "request_backoff_max_secs = 1",
                "key `request_backoff_max_secs`",
            ),
            (
                "prune_grace_secs = 600",
                "prune_grace_secs = 99999999999",
                "key `prune_grace_secs`",
            ),
        ];
        for (from, to, want) in cases {
            let text = GOOD.replace(from, to);
            let msg = Config::parse(Path::new("r.toml"), &text)
                .unwrap_err()
                .to_string();
            assert!(msg.starts_with("r.toml:"), "{msg}");
            assert!(msg.contains(want), "{to}: {msg}");
        }
        let text = GOOD.replace("cert = \"/etc/kkoji/users/kojira.pem\"\n", "");
        let msg = Config::parse(Path::new("r.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("cert"), "{msg}");
        let msg = Config::parse(Path::new("r.toml"), "hub = [")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("r.toml:"), "{msg}");
        let msg = Config::load(Path::new("/nonexistent/r.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("/nonexistent/r.toml: cannot read"), "{msg}");
    }
}
