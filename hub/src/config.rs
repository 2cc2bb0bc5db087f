//! Hub configuration (TOML). Unknown keys are errors, and every error names the file and
//! the key, because a typo in a farm's config must not silently fall back to a default.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// Address the HTTPS listener binds.
    pub listen: SocketAddr,
    /// Where the embedded PostgreSQL cluster lives when `database_url` is unset.
    pub state_dir: PathBuf,
    /// A real PostgreSQL server; unset means the embedded cluster under `state_dir`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Plain-HTTP listener serving the top directory at /kojifiles (the clients' `topurl`).
    #[serde(default)]
    pub files_listen: Option<SocketAddr>,
    /// The Koji top directory (`/mnt/koji`): packages/, repos/, work/, scratch/.
    #[serde(default = "default_topdir")]
    pub topdir: PathBuf,
    /// A user made admin at start-up (created if missing), so a new farm has someone who
    /// can grant permissions. Its certificate is issued with `kkoji-certs issue-user`.
    #[serde(default)]
    pub bootstrap_admin: Option<String>,
    /// Builder hosts created at start-up if missing (quickstart's local builder).
    #[serde(default)]
    pub bootstrap_hosts: Vec<BootstrapHost>,
    pub tls: TlsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub db: DbConfig,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub repos: ReposConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
}

/// A host the hub creates at start-up if it does not exist yet.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapHost {
    pub name: String,
    pub arches: Vec<String>,
    pub capacity: f64,
    /// Channels besides `default`.
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The farm CA that signs user and host certificates.
    pub client_ca: PathBuf,
    #[serde(default)]
    pub crl: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Subject attribute holding the user name: CN (default), UID, emailAddress, O, OU.
    pub dn_username_component: String,
    pub login_creates_user: bool,
    pub check_client_ip: bool,
    /// Minutes after which a session must be renewed; 0 disables expiry.
    pub session_renewal_timeout: u64,
    /// Full subject DNs allowed to log in on behalf of other users.
    pub proxy_dns: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            dn_username_component: "CN".into(),
            login_creates_user: true,
            check_client_ip: true,
            session_renewal_timeout: 1440,
            proxy_dns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest XML-RPC request body (Koji's MaxRequestLength).
    pub max_request_length: usize,
    /// Deepest array/struct nesting accepted in a request.
    pub max_xml_depth: usize,
    /// Largest raw upload chunk (the stock client and kkoji-builder send 1 MiB).
    pub max_upload_chunk: usize,
    /// Largest file one upload may grow to.
    pub max_upload_size: u64,
    /// How long a request body may take to arrive before the connection is closed (a
    /// client dribbling bytes would otherwise hold memory and a task forever).
    pub body_timeout_secs: f64,
    /// Open connections one client address may hold at once.
    pub max_connections_per_addr: usize,
    /// Most rows one list call answers (limit/offset applied in SQL below this).
    pub max_list_rows: i64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_length: 4_194_304,
            max_xml_depth: 64,
            max_upload_chunk: 16 << 20,
            max_upload_size: 64 << 30,
            body_timeout_secs: 60.0,
            max_connections_per_addr: 512,
            max_list_rows: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    pub max_connections: u32,
    /// How long a call waits for a free connection before it answers ServerOffline (which
    /// the stock kojid retries) instead of queueing without end.
    pub acquire_timeout_secs: f64,
}

impl Default for DbConfig {
    fn default() -> Self {
        DbConfig {
            max_connections: 16,
            acquire_timeout_secs: 10.0,
        }
    }
}

impl DbConfig {
    pub fn acquire_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.acquire_timeout_secs)
    }
}

/// `[scheduler]`: timeouts of the scheduler pass and defaults for hosts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// A ready host that has not checked in for this long loses its ready flag.
    pub ready_timeout: u64,
    /// An ASSIGNED task not opened within this long goes back to FREE.
    pub assign_timeout: u64,
    /// OPEN tasks of a host silent for this long go back to FREE (the host is presumed dead).
    pub host_timeout: u64,
    /// How long a soft refusal keeps a task away from the refusing host while another host
    /// could take it.
    pub soft_refusal_timeout: u64,
    /// After this long a softly refused task may go back to the refusing host when no other
    /// host can take it (a soft refusal says "not now": on a one-builder farm waiting the
    /// whole timeout would stall the task for nothing).
    pub soft_refusal_retry: u64,
    /// maxjobs of hosts that did not report their own.
    pub max_jobs: i64,
    /// Seconds between background runs (timeouts are enforced then).
    pub interval: u64,
    /// Scheduler log messages (`koji scheduler-logs`) older than this many days are pruned.
    pub log_retention_days: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            ready_timeout: 180,
            assign_timeout: 300,
            host_timeout: 900,
            soft_refusal_timeout: 900,
            soft_refusal_retry: 30,
            max_jobs: 15,
            interval: 10,
            log_retention_days: 14,
        }
    }
}

/// `[repos]` of the hub config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReposConfig {
    /// At most this many repo tasks (newRepo) run at once; more requests wait.
    pub max_tasks: i64,
    /// A request whose task failed is retried this many times before it is given up.
    pub retries: i64,
    /// Finished requests stay visible (checkRequest) this long.
    pub request_clean_secs: i64,
    /// Builders that take no `createrepo` channel never see repo tasks; this is only the
    /// priority of those tasks.
    pub task_priority: i64,
}

impl Default for ReposConfig {
    fn default() -> Self {
        ReposConfig {
            max_tasks: 10,
            retries: 3,
            request_clean_secs: 3600,
            task_priority: 15,
        }
    }
}

/// `[notifications]` of the hub config: who hears of builds and tag operations, and how mail
/// leaves the hub. Without `relay` the mails are still recorded (state `unsent`), so turning
/// mail on later does not flood anyone with old news, and nothing fails for want of a relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Koji's DisableNotifications: no mail is queued at all.
    pub disabled: bool,
    /// Addresses are `<user>@<email_domain>` (fixed when a subscription is made).
    pub email_domain: String,
    /// Koji's NotifyOnSuccess: the build's owner hears of successes too, not only failures.
    pub notify_on_success: bool,
    /// The web UI's base URL, for links in the mails.
    pub web_url: String,
    /// The From: address.
    pub from: String,
    /// The SMTP relay as a URL: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465`; `user:password@` for AUTH. Server certificates are
    /// checked against the system's roots.
    pub relay: Option<String>,
    /// How often the mailer looks for due mail.
    pub poll_secs: f64,
    /// A mail that failed this many times is marked failed and left alone.
    pub max_attempts: i32,
    /// Seconds before a failed mail is tried again.
    pub retry_secs: f64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            disabled: false,
            email_domain: "localhost".into(),
            notify_on_success: true,
            web_url: "http://localhost/koji".into(),
            from: "kkoji@localhost".into(),
            relay: None,
            poll_secs: 10.0,
            max_attempts: 5,
            retry_secs: 300.0,
        }
    }
}

fn default_topdir() -> PathBuf {
    PathBuf::from("/mnt/koji")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl HubConfig {
    pub fn load(path: &Path) -> Result<HubConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<HubConfig, ConfigError> {
        let cfg: HubConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: format!("key `{key}`: {msg}"),
        };
        const COMPONENTS: [&str; 6] = ["CN", "UID", "emailAddress", "O", "OU", "serialNumber"];
        if !COMPONENTS.contains(&self.auth.dn_username_component.as_str()) {
            return Err(bad(
                "auth.dn_username_component",
                &format!("must be one of {}", COMPONENTS.join(", ")),
            ));
        }
        if self.limits.max_request_length < 1024 {
            return Err(bad("limits.max_request_length", "must be at least 1024"));
        }
        if self.limits.max_xml_depth < 4 {
            return Err(bad("limits.max_xml_depth", "must be at least 4"));
        }
        if self.limits.max_upload_chunk < 4096 {
            return Err(bad("limits.max_upload_chunk", "must be at least 4096"));
        }
        if self.limits.max_upload_size < self.limits.max_upload_chunk as u64 {
            return Err(bad(
                "limits.max_upload_size",
                "must be at least limits.max_upload_chunk",
            ));
        }
        if !(self.limits.body_timeout_secs.is_finite() && self.limits.body_timeout_secs > 0.0) {
            return Err(bad("limits.body_timeout_secs", "must be a positive number"));
        }
        if self.limits.max_connections_per_addr == 0 {
            return Err(bad("limits.max_connections_per_addr", "must be at least 1"));
        }
        if self.limits.max_list_rows < 1 {
            return Err(bad("limits.max_list_rows", "must be at least 1"));
        }
        let n = &self.notifications;
        if n.email_domain.is_empty() || n.email_domain.contains(['@', ' ', '<', '>']) {
            return Err(bad(
                "notifications.email_domain",
                "must be a mail domain such as example.com",
            ));
        }
        if n.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad("notifications.from", "must be a mail address"));
        }
        if let Some(relay) = &n.relay
            && let Err(e) = crate::mail::check_relay_url(relay)
        {
            return Err(bad("notifications.relay", &e));
        }
        if !(n.poll_secs.is_finite() && (0.1..=3600.0).contains(&n.poll_secs)) {
            return Err(bad(
                "notifications.poll_secs",
                "must be between 0.1 and 3600 seconds",
            ));
        }
        if n.max_attempts < 1 {
            return Err(bad("notifications.max_attempts", "must be at least 1"));
        }
        if !(n.retry_secs.is_finite() && (1.0..=86400.0).contains(&n.retry_secs)) {
            return Err(bad(
                "notifications.retry_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        if self.db.max_connections == 0 {
            return Err(bad("db.max_connections", "must be at least 1"));
        }
        if !(self.db.acquire_timeout_secs.is_finite()
            && (0.05..=600.0).contains(&self.db.acquire_timeout_secs))
        {
            return Err(bad(
                "db.acquire_timeout_secs",
                "must be between 0.05 and 600 seconds",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
listen = "127.0.0.1:8443"
state_dir = "/var/lib/kkoji"
[tls]
cert = "s.crt"
key = "s.key"
client_ca = "ca.crt"
"#;

    #[test]
    fn minimal_config_gets_koji_defaults() {
        let c = HubConfig::parse(Path::new("hub.toml"), MIN).unwrap();
        assert_eq!(c.auth.dn_username_component, "CN");
        assert!(c.auth.login_creates_user);
        assert_eq!(c.limits.max_request_length, 4_194_304);
        assert_eq!(c.topdir, PathBuf::from("/mnt/koji"));
    }

    #[test]
    fn bad_notification_settings_name_their_key() {
        for (extra, key) in [
            ("relay = \"http://mail:25\"", "notifications.relay"),
            ("from = \"not an address\"", "notifications.from"),
            ("email_domain = \"a@b\"", "notifications.email_domain"),
            ("max_attempts = 0", "notifications.max_attempts"),
        ] {
            let text = format!("{MIN}\n[notifications]\n{extra}\n");
            let e = HubConfig::parse(Path::new("/etc/kkoji/hub.toml"), &text).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("/etc/kkoji/hub.toml:"), "{msg}");
            assert!(msg.contains(key), "{extra}: {msg}");
        }
        let ok = format!(
            "{MIN}\n[notifications]\nrelay = \"smtp://127.0.0.1:2525\"\nemail_domain = \"example.com\"\n"
        );
        let c = HubConfig::parse(Path::new("hub.toml"), &ok).unwrap();
        assert_eq!(
            c.notifications.relay.as_deref(),
            Some("smtp://127.0.0.1:2525")
        );
        assert!(c.notifications.notify_on_success);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = format!("{MIN}\n[auth]\nlogin_creates_usr = false\n");
        let e = HubConfig::parse(Path::new("/etc/kkoji/hub.toml"), &text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("/etc/kkoji/hub.toml:"), "{msg}");
        assert!(msg.contains("login_creates_usr"), "{msg}");
    }

    #[test]
    fn bad_value_names_key() {
        let text = format!("{MIN}\n[auth]\ndn_username_component = \"XX\"\n");
        let e = HubConfig::parse(Path::new("hub.toml"), &text).unwrap_err();
        assert!(e.to_string().contains("auth.dn_username_component"), "{e}");
        let text = MIN.replace("127.0.0.1:8443", "nonsense");
        let e = HubConfig::parse(Path::new("hub.toml"), &text).unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
    }
}
