//! Writing the koji client configuration (`~/.koji/config` or `/etc/koji.conf.d/*.conf`).
//!
//! Those files often hold profiles for other Koji instances (Fedora, CentOS), so only our
//! section is replaced and everything else is kept byte for byte, comments included.

use std::fs;
use std::path::{Path, PathBuf};

use crate::CertError;
use crate::store::{PUBLIC_MODE, atomic_write};

/// One koji client profile using client-certificate (`authtype = ssl`) login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KojiProfile {
    /// Section name; `koji -p NAME` selects it. Conventionally `kkoji`.
    pub profile: String,
    /// XML-RPC endpoint, e.g. `https://koji.example.com:8443/kojihub`.
    pub server: String,
    pub weburl: String,
    pub topurl: String,
    /// The user's bundle (`DIR/users/NAME.pem`, certificate + key).
    pub cert: PathBuf,
    /// The CA the hub's server certificate must chain to (`DIR/ca.crt`).
    pub serverca: PathBuf,
}

/// A value must stay on its line: a newline would let it inject keys or whole sections.
fn one_line(key: &str, value: &str) -> Result<(), CertError> {
    if value.contains(['\n', '\r']) {
        return Err(CertError::InvalidName(format!(
            "koji config {key} must be a single line: {value:?}"
        )));
    }
    Ok(())
}

fn render_section(p: &KojiProfile) -> Result<String, CertError> {
    let profile = p.profile.trim();
    if profile.is_empty() || profile.contains([']', '[']) {
        return Err(CertError::InvalidName(format!(
            "koji profile name {:?}",
            p.profile
        )));
    }
    let cert = p.cert.display().to_string();
    let serverca = p.serverca.display().to_string();
    let pairs = [
        ("server", p.server.as_str()),
        ("weburl", p.weburl.as_str()),
        ("topurl", p.topurl.as_str()),
        ("authtype", "ssl"),
        ("cert", cert.as_str()),
        ("serverca", serverca.as_str()),
    ];
    one_line("profile", profile)?;
    let mut s = format!("[{profile}]\n");
    for (k, v) in pairs {
        one_line(k, v)?;
        s.push_str(&format!("{k} = {v}\n"));
    }
    Ok(s)
}

/// The section name if `line` is a section header (`[name]`, surrounding blanks allowed).
fn section_name(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .map(str::trim)
}

/// Replaces every `[profile]` section of `existing` with `section` (at the place of the first
/// one) or appends it; all other text is kept as it was.
fn merge(existing: &str, profile: &str, section: &str) -> String {
    let mut out = String::with_capacity(existing.len() + section.len() + 1);
    let mut in_ours = false;
    let mut placed = false;
    for line in existing.split_inclusive('\n') {
        if let Some(name) = section_name(line) {
            in_ours = name == profile.trim();
            if in_ours {
                if !placed {
                    out.push_str(section);
                    placed = true;
                }
                continue;
            }
            // Keep one blank line between our section and the next one.
            if placed && out.ends_with(section) {
                out.push('\n');
            }
        }
        if !in_ours {
            out.push_str(line);
        }
    }
    if !placed {
        if !out.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.ends_with("\n\n") {
                out.push('\n');
            }
        }
        out.push_str(section);
    }
    out
}

/// Writes (atomically) the profile into the INI file at `path`, creating it if needed and
/// replacing only the `[profile]` section if it already exists.
pub fn write_koji_config(path: &Path, profile: &KojiProfile) -> Result<(), CertError> {
    let section = render_section(profile)?;
    let existing = match fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(CertError::io(path, e)),
    };
    let merged = merge(&existing, &profile.profile, &section);
    atomic_write(path, merged.as_bytes(), PUBLIC_MODE, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> KojiProfile {
        KojiProfile {
            profile: "kkoji".into(),
            server: "https://hub:8443/kojihub".into(),
            weburl: "https://hub:8443/koji".into(),
            topurl: "https://hub:8443/kojifiles".into(),
            cert: "/ca/users/alice.pem".into(),
            serverca: "/ca/ca.crt".into(),
        }
    }

    const OURS: &str = "[kkoji]\nserver = https://hub:8443/kojihub\nweburl = https://hub:8443/koji\n\
                        topurl = https://hub:8443/kojifiles\nauthtype = ssl\n\
                        cert = /ca/users/alice.pem\nserverca = /ca/ca.crt\n";

    #[test]
    fn renders_exact_section() {
        assert_eq!(render_section(&profile()).unwrap(), OURS);
    }

    #[test]
    fn merge_into_empty_appends() {
        assert_eq!(merge("", "kkoji", OURS), OURS);
        assert_eq!(
            merge("[koji]\nserver = x", "kkoji", OURS),
            format!("[koji]\nserver = x\n\n{OURS}")
        );
    }

    #[test]
    fn merge_replaces_only_ours() {
        let before = "; comment\n[fedora]\nserver = https://koji.fedoraproject.org/kojihub\n\n\
                      [kkoji]\nserver = old\nauthtype = kerberos\n\n[other]\nx = 1\n";
        let after = merge(before, "kkoji", OURS);
        assert_eq!(
            after,
            format!(
                "; comment\n[fedora]\nserver = https://koji.fedoraproject.org/kojihub\n\n\
                 {OURS}\n[other]\nx = 1\n"
            )
        );
        // idempotent
        assert_eq!(merge(&after, "kkoji", OURS), after);
    }

    #[test]
    fn duplicate_sections_collapse() {
        let before = "[kkoji]\na = 1\n[x]\ny = 2\n[kkoji]\nb = 2\n";
        assert_eq!(
            merge(before, "kkoji", OURS),
            format!("{OURS}\n[x]\ny = 2\n")
        );
    }

    #[test]
    fn newlines_in_values_refused() {
        let mut p = profile();
        p.server = "https://x\n[evil]".into();
        assert!(matches!(render_section(&p), Err(CertError::InvalidName(_))));
    }
}
