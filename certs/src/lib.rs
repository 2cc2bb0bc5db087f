//! kkoji's private certificate authority.
//!
//! The stock `koji` CLI authenticates to the hub with `authtype = ssl`: a client certificate
//! whose CN is the Koji user (or builder host) name, checked against a CA the hub trusts. This
//! crate creates and keeps that CA on disk, issues user, host and server certificates, writes
//! the files in the formats koji and browsers expect, and warns before anything expires (the
//! farm kkoji replaces ran for months on an expired CA that nobody noticed).
//!
//! Layout of a CA directory `DIR` (see [`CaPaths`]):
//!
//! ```text
//! DIR/ca.crt                 CA certificate (PEM)
//! DIR/ca.key                 CA private key (PKCS#8 PEM, 0600)
//! DIR/users/NAME.pem         user certificate + key in one file (koji `cert =`), 0600
//! DIR/hosts/NAME.pem         builder host certificate + key, 0600
//! DIR/server/HOST.crt        hub server certificate
//! DIR/server/HOST.key        hub server key, 0600
//! DIR/crl.pem                certificate revocation list (optional, later)
//! ```
//!
//! Keys are ECDSA P-256: rcgen on ring cannot generate RSA keys, and koji (Python `ssl`),
//! rustls, openssl and browsers all accept P-256.

mod ca;
pub mod crl;
mod inspect;
mod koji_config;
pub mod lifecycle;
mod p12;
mod store;

use std::path::{Path, PathBuf};

pub use ca::{Ca, DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS, Issued, init_ca, load_ca};
pub use inspect::{CertInfo, ExpiryWarning, check_expiry, inspect_pem, scan_certs};
pub use koji_config::{KojiProfile, write_koji_config};
pub use p12::export_p12;
pub use store::{read_bundle, write_secret_file, write_server_pair, write_user_bundle};

/// Everything that can go wrong in this crate. File errors always carry the path, because the
/// operator's next step is nearly always "look at that file".
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading, writing or renaming a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Refusing to overwrite something that must never be overwritten (the CA).
    #[error("{} already exists; refusing to overwrite it", .0.display())]
    Exists(PathBuf),
    /// A certificate, key or PEM block could not be parsed; `what` names the file or input.
    #[error("{what}: {msg}")]
    Parse { what: String, msg: String },
    /// Key generation, signing or encoding failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// A name (user, host, hostname, SAN, config value) is not acceptable.
    #[error("invalid name: {0}")]
    InvalidName(String),
}

impl CertError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CertError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parse(what: impl std::fmt::Display, msg: impl std::fmt::Display) -> Self {
        CertError::Parse {
            what: what.to_string(),
            msg: msg.to_string(),
        }
    }
}

/// Which kind of certificate to issue; decides the subject OU, the extended key usage and where
/// the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// A person using the koji CLI or the web UI: OU=users, clientAuth.
    User,
    /// A builder host (kojid): OU=hosts, clientAuth.
    Host,
    /// The hub's TLS server certificate: serverAuth, with SANs.
    Server,
}

impl CertKind {
    /// The subject OU, which also lets the hub tell users from hosts by certificate alone.
    pub fn ou(self) -> &'static str {
        match self {
            CertKind::User => "users",
            CertKind::Host => "hosts",
            CertKind::Server => "server",
        }
    }
}

/// The file layout of a CA directory. Kept in one place so the hub, the CLI and the tests agree
/// on where everything lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub users_dir: PathBuf,
    pub hosts_dir: PathBuf,
    pub server_dir: PathBuf,
    pub crl: PathBuf,
}

impl CaPaths {
    pub fn new(dir: &Path) -> Self {
        CaPaths {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            users_dir: dir.join("users"),
            hosts_dir: dir.join("hosts"),
            server_dir: dir.join("server"),
            crl: dir.join("crl.pem"),
        }
    }

    /// `users/NAME.pem` or `hosts/NAME.pem`; server certificates have a cert/key pair instead
    /// (see [`CaPaths::server_cert`]), so `Server` maps to `server/NAME.pem` only for lookups.
    pub fn bundle(&self, kind: CertKind, name: &str) -> PathBuf {
        let dir = match kind {
            CertKind::User => &self.users_dir,
            CertKind::Host => &self.hosts_dir,
            CertKind::Server => &self.server_dir,
        };
        dir.join(format!("{name}.pem"))
    }

    pub fn user_bundle(&self, name: &str) -> PathBuf {
        self.bundle(CertKind::User, name)
    }

    pub fn host_bundle(&self, name: &str) -> PathBuf {
        self.bundle(CertKind::Host, name)
    }

    pub fn server_cert(&self, hostname: &str) -> PathBuf {
        self.server_dir.join(format!("{hostname}.crt"))
    }

    pub fn server_key(&self, hostname: &str) -> PathBuf {
        self.server_dir.join(format!("{hostname}.key"))
    }
}

/// X.520 upper bound for a CommonName; longer names would make certificates some parsers reject.
pub(crate) const MAX_CN_LEN: usize = 64;

/// Checks a user, host or server name. These names become both the certificate CN (which the
/// hub maps to a Koji user or host) and a file name under the CA directory, so anything that
/// could escape the directory (`/`, `..`, a leading dot) or confuse a shell is refused.
pub fn validate_name(name: &str) -> Result<(), CertError> {
    if name.is_empty() {
        return Err(CertError::InvalidName("name is empty".into()));
    }
    if name.len() > MAX_CN_LEN {
        return Err(CertError::InvalidName(format!(
            "{name:?} is longer than {MAX_CN_LEN} characters"
        )));
    }
    if name.starts_with('.') {
        return Err(CertError::InvalidName(format!(
            "{name:?} starts with a dot"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')))
    {
        return Err(CertError::InvalidName(format!(
            "{name:?} contains {bad:?}; allowed are A-Z a-z 0-9 _ . @ -"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_typical_names() {
        for n in [
            "alice",
            "kojiadmin",
            "builder-01.example.com",
            "a_b@REALM",
            "x",
        ] {
            validate_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_path_tricks_and_junk() {
        for n in [
            "", ".", "..", ".hidden", "a/b", "../etc", "a b", "a\nb", "é", "a\\b", "a:b",
        ] {
            assert!(
                matches!(validate_name(n), Err(CertError::InvalidName(_))),
                "{n:?} accepted"
            );
        }
        let long = "a".repeat(65);
        assert!(validate_name(&long).is_err());
        validate_name(&"a".repeat(64)).unwrap();
    }

    #[test]
    fn paths_follow_layout() {
        let p = CaPaths::new(Path::new("/ca"));
        assert_eq!(p.ca_cert, Path::new("/ca/ca.crt"));
        assert_eq!(p.user_bundle("bob"), Path::new("/ca/users/bob.pem"));
        assert_eq!(p.host_bundle("b1"), Path::new("/ca/hosts/b1.pem"));
        assert_eq!(p.server_cert("hub"), Path::new("/ca/server/hub.crt"));
        assert_eq!(p.server_key("hub"), Path::new("/ca/server/hub.key"));
    }
}
