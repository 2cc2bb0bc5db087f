//! `/etc/kkoji/ops.toml`. Unknown keys are errors naming the file and the key: a typo in
//! `threshold_percent` must not silently fall back to the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use kkoji_toml_config::ConfigError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    #[serde(default)]
    pub check_disk: DiskConfig,
    /// Where reports go; without it, checks only print and set the exit status.
    #[serde(default)]
    pub mail: Option<MailConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// A volume above this much used space (percent, as `df` counts it) is reported.
    #[serde(default = "default_threshold")]
    pub threshold_percent: u8,
    /// The same for inodes (a tree of small files fills those first).
    #[serde(default = "default_threshold")]
    pub inode_threshold_percent: u8,
    #[serde(default = "default_volumes")]
    pub volumes: Vec<PathBuf>,
    /// How long one volume may take to answer (a dead NFS mount never does).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            threshold_percent: default_threshold(),
            inode_threshold_percent: default_threshold(),
            volumes: default_volumes(),
            timeout_secs: default_timeout(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain SMTP (a relay on the same host or network).
    #[default]
    None,
    Starttls,
    /// SMTP over TLS (port 465).
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub relay: String,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: Tls,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// First line is the password (kept out of the config file).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Prefix of every subject.
    #[serde(default = "default_subject")]
    pub subject_prefix: String,
}

impl MailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            Tls::None => 25,
            Tls::Starttls => 587,
            Tls::Tls => 465,
        })
    }
}

fn default_threshold() -> u8 {
    90
}
fn default_volumes() -> Vec<PathBuf> {
    vec![PathBuf::from("/"), PathBuf::from("/mnt/koji")]
}
fn default_timeout() -> u64 {
    10
}
fn default_subject() -> String {
    "[kkoji]".into()
}

impl OpsConfig {
    pub fn load(path: &Path) -> Result<OpsConfig, ConfigError> {
        kkoji_toml_config::load_checked(path, OpsConfig::validate)
    }

    pub fn parse(path: &Path, text: &str) -> Result<OpsConfig, ConfigError> {
        kkoji_toml_config::parse_checked(path, text, OpsConfig::validate)
    }

    pub fn validate(&self) -> Result<(), (String, String)> {
        let d = &self.check_disk;
        if !(1..=100).contains(&d.threshold_percent) {
            return Err((
                "check_disk.threshold_percent".into(),
                "must be 1..100".into(),
            ));
        }
        if !(1..=100).contains(&d.inode_threshold_percent) {
            return Err((
                "check_disk.inode_threshold_percent".into(),
                "must be 1..100".into(),
            ));
        }
        if d.timeout_secs == 0 {
            return Err((
                "check_disk.timeout_secs".into(),
                "must be at least 1".into(),
            ));
        }
        for (i, v) in d.volumes.iter().enumerate() {
            if !v.is_absolute() {
                return Err((
                    format!("check_disk.volumes[{i}]"),
                    "must be an absolute path".into(),
                ));
            }
        }
        if let Some(m) = &self.mail {
            if m.relay.trim().is_empty() {
                return Err(("mail.relay".into(), "must name a host".into()));
            }
            if m.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err((
                    "mail.from".into(),
                    format!("{:?} is not a mail address", m.from),
                ));
            }
            if m.to.is_empty() {
                return Err(("mail.to".into(), "needs at least one address".into()));
            }
            for (i, t) in m.to.iter().enumerate() {
                if t.parse::<lettre::message::Mailbox>().is_err() {
                    return Err((
                        format!("mail.to[{i}]"),
                        format!("{t:?} is not a mail address"),
                    ));
                }
            }
            if m.username.is_some() != m.password_file.is_some() {
                return Err((
                    "mail.password_file".into(),
                    "username and password_file go together".into(),
                ));
            }
            if m.timeout_secs == 0 {
                return Err(("mail.timeout_secs".into(), "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let c = OpsConfig::parse(Path::new("ops.toml"), "").unwrap();
        assert_eq!(c.check_disk.threshold_percent, 90);
        assert!(c.mail.is_none());
        let c = OpsConfig::parse(
            Path::new("ops.toml"),
            "[mail]\nrelay = \"localhost\"\nfrom = \"koji@example.com\"\nto = [\"ops@example.com\"]\ntls = \"starttls\"\n",
        )
        .unwrap();
        assert_eq!(c.mail.unwrap().port(), 587);
        for (text, key) in [
            (
                "[check_disk]\nthreshold_percent = 0\n",
                "check_disk.threshold_percent",
            ),
            ("[check_disk]\nthreshold = 80\n", "threshold"),
            (
                "[check_disk]\nvolumes = [\"mnt\"]\n",
                "check_disk.volumes[0]",
            ),
            (
                "[mail]\nrelay = \"h\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]\n",
                "mail.from",
            ),
            (
                "[mail]\nrelay = \"h\"\nfrom = \"a@b.c\"\nto = []\n",
                "mail.to",
            ),
            (
                "[mail]\nrelay = \"h\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = \"ssl\"\n",
                "mail.tls",
            ),
        ] {
            let e = OpsConfig::parse(Path::new("/etc/kkoji/ops.toml"), text)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("/etc/kkoji/ops.toml"), "{e}");
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
