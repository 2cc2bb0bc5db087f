//! Writing certificate files: atomically (temp file in the same directory, then rename) so a
//! crash or a full disk never leaves a half-written key that koji or the hub would choke on, and
//! with 0600 on anything holding a private key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{CaPaths, CertError, CertKind, Issued, validate_name};

/// File mode for anything containing a private key.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// File mode for certificates and configs: public material that other users/daemons read.
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// Creates `dir` (and parents) if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(|e| CertError::io(dir, e))
}

/// Writes `contents` to `path` atomically with the given mode. With `no_clobber`, an existing
/// `path` is reported as [`CertError::Exists`] instead of being replaced (used for the CA).
pub(crate) fn atomic_write(
    path: &Path,
    contents: &[u8],
    mode: u32,
    no_clobber: bool,
) -> Result<(), CertError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    ensure_dir(parent)?;
    // NamedTempFile is created 0600, so a key is never readable by others, not even briefly.
    let mut tmp = tempfile::Builder::new()
        .prefix(".kkoji-tmp-")
        .tempfile_in(parent)
        .map_err(|e| CertError::io(parent, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| CertError::io(tmp.path(), e))?;
    if mode != SECRET_MODE {
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| CertError::io(tmp.path(), e))?;
    }
    if no_clobber {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                CertError::Exists(path.to_path_buf())
            } else {
                CertError::io(path, e.error)
            }
        })?;
    } else {
        tmp.persist(path)
            .map_err(|e| CertError::io(path, e.error))?;
    }
    Ok(())
}

/// Writes a file holding secret material (e.g. an exported `.p12`) atomically with mode 0600.
pub fn write_secret_file(path: &Path, data: &[u8]) -> Result<(), CertError> {
    atomic_write(path, data, SECRET_MODE, false)
}

/// Joins a certificate and a key PEM into the single-file form koji's `cert =` expects
/// (certificate first, then key; each block newline-terminated).
fn bundle_text(issued: &Issued) -> String {
    let mut s = String::with_capacity(issued.cert_pem.len() + issued.key_pem.len() + 2);
    for part in [&issued.cert_pem, &issued.key_pem] {
        s.push_str(part);
        if !part.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

/// Writes `DIR/users/NAME.pem` or `DIR/hosts/NAME.pem` (certificate + key, 0600) and returns
/// its path. Re-issuing replaces the old bundle, which is how a user's certificate is renewed.
pub fn write_user_bundle(
    dir: &Path,
    kind: CertKind,
    name: &str,
    issued: &Issued,
) -> Result<PathBuf, CertError> {
    validate_name(name)?;
    if kind == CertKind::Server {
        return Err(CertError::InvalidName(format!(
            "{name}: server certificates are written with write_server_pair, not as a bundle"
        )));
    }
    let path = CaPaths::new(dir).bundle(kind, name);
    atomic_write(&path, bundle_text(issued).as_bytes(), SECRET_MODE, false)?;
    Ok(path)
}

/// Writes `DIR/server/HOST.crt` (0644) and `DIR/server/HOST.key` (0600); returns (cert, key).
/// Separate files because that is what TLS servers (and the hub's config) conventionally take.
pub fn write_server_pair(
    dir: &Path,
    hostname: &str,
    issued: &Issued,
) -> Result<(PathBuf, PathBuf), CertError> {
    validate_name(hostname)?;
    let paths = CaPaths::new(dir);
    let crt = paths.server_cert(hostname);
    let key = paths.server_key(hostname);
    // Key first: a new cert next to an old key would be a pair that cannot work.
    atomic_write(&key, issued.key_pem.as_bytes(), SECRET_MODE, false)?;
    atomic_write(&crt, issued.cert_pem.as_bytes(), PUBLIC_MODE, false)?;
    Ok((crt, key))
}

/// One `-----BEGIN X-----` … `-----END X-----` block, kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PemBlock {
    pub label: String,
    pub text: String,
}

/// Splits PEM text into its blocks, ignoring anything outside them (openssl-style comments,
/// "Bag Attributes" headers). Unterminated blocks are an error rather than silently dropped.
pub(crate) fn pem_blocks(text: &str, what: &str) -> Result<Vec<PemBlock>, CertError> {
    let mut blocks = Vec::new();
    let mut current: Option<PemBlock> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(block) = current.as_mut() {
            block.text.push_str(line);
            block.text.push('\n');
            if let Some(label) = line
                .strip_prefix("-----END ")
                .and_then(|l| l.strip_suffix("-----"))
            {
                if label != block.label {
                    return Err(CertError::parse(
                        what,
                        format!("PEM block BEGIN {} ends with END {label}", block.label),
                    ));
                }
                if let Some(done) = current.take() {
                    blocks.push(done);
                }
            }
        } else if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some(PemBlock {
                label: label.to_string(),
                text: format!("{line}\n"),
            });
        }
    }
    if let Some(block) = current {
        return Err(CertError::parse(
            what,
            format!("PEM block {} is not terminated", block.label),
        ));
    }
    Ok(blocks)
}

/// Reads a `users/NAME.pem`-style bundle back into its certificate and key (e.g. to export a
/// `.p12`). The first CERTIFICATE block is the leaf; the key may be PKCS#8, SEC1 or PKCS#1.
pub fn read_bundle(path: &Path) -> Result<Issued, CertError> {
    let text = fs::read_to_string(path).map_err(|e| CertError::io(path, e))?;
    let what = path.display().to_string();
    let blocks = pem_blocks(&text, &what)?;
    let cert = blocks
        .iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| CertError::parse(&what, "no CERTIFICATE block"))?;
    let key = blocks
        .iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| CertError::parse(&what, "no PRIVATE KEY block"))?;
    Ok(Issued {
        cert_pem: cert.text.clone(),
        key_pem: key.text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_blocks_and_ignores_noise() {
        let text = "Bag Attributes\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    junk\n-----BEGIN PRIVATE KEY-----\r\nBBBB\r\n-----END PRIVATE KEY-----";
        let b = pem_blocks(text, "t").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "CERTIFICATE");
        assert_eq!(
            b[0].text,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(b[1].label, "PRIVATE KEY");
        assert!(b[1].text.ends_with("-----END PRIVATE KEY-----\n"));
    }

    #[test]
    fn unterminated_or_mismatched_blocks_fail() {
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAAAA\n", "t").is_err());
        assert!(
            pem_blocks(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn bundle_text_terminates_parts() {
        let i = Issued {
            cert_pem: "C".into(),
            key_pem: "K\n".into(),
        };
        assert_eq!(bundle_text(&i), "C\nK\n");
    }

    #[test]
    fn atomic_write_modes_and_noclobber() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f");
        atomic_write(&p, b"one", SECRET_MODE, false).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        atomic_write(&p, b"two", PUBLIC_MODE, false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert!(matches!(
            atomic_write(&p, b"three", PUBLIC_MODE, true),
            Err(CertError::Exists(_))
        ));
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // no temp files left behind
        let names: Vec<_> = fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }
}
