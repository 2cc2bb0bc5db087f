//! Reading certificates back: subject and dates for `check`, for the hub's login path and for
//! expiry warnings.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::store::pem_blocks;
use crate::{CaPaths, CertError};

/// What `check` and the hub need to know about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject CN: the Koji user or host name for client certificates.
    pub subject_cn: Option<String>,
    /// The full subject in RFC 4514-ish form (e.g. `O=kkoji, OU=users, CN=alice`), for display.
    pub subject: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Whole days until `not_after`, rounded down: negative once expired (even by a second),
    /// so `days_left < 0` means expired.
    pub days_left: i64,
    pub is_ca: bool,
}

impl CertInfo {
    /// True once `not_after` has passed.
    pub fn is_expired(&self) -> bool {
        self.days_left < 0
    }
}

/// Decodes the first CERTIFICATE block of `pem` to DER; `what` names the source in errors.
pub(crate) fn first_cert_der(pem: &str, what: &str) -> Result<Vec<u8>, CertError> {
    let blocks = pem_blocks(pem, what)?;
    let block = blocks
        .iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| CertError::parse(what, "no CERTIFICATE block"))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(block.text.as_bytes())
        .map_err(|e| CertError::parse(what, format!("bad PEM: {e}")))?;
    Ok(pem.contents)
}

pub(crate) fn parse_der<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, CertError> {
    let (_, x509) = X509Certificate::from_der(der)
        .map_err(|e| CertError::parse(what, format!("bad certificate: {e}")))?;
    Ok(x509)
}

fn days_left(not_after: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (not_after - now).whole_seconds().div_euclid(86_400)
}

fn info_from(x509: &X509Certificate<'_>, now: OffsetDateTime) -> CertInfo {
    let subject_cn = x509
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let not_after = x509.validity().not_after.to_datetime();
    CertInfo {
        subject_cn,
        subject: x509.subject().to_string(),
        not_before: x509.validity().not_before.to_datetime(),
        not_after,
        days_left: days_left(not_after, now),
        is_ca: x509.is_ca(),
    }
}

/// [`CertInfo`] of a DER certificate; `what` names it in errors.
pub(crate) fn info_of_der(der: &[u8], what: &str) -> Result<CertInfo, CertError> {
    Ok(info_from(&parse_der(der, what)?, OffsetDateTime::now_utc()))
}

fn inspect_named(pem: &str, what: &str) -> Result<CertInfo, CertError> {
    let der = first_cert_der(pem, what)?;
    let x509 = parse_der(&der, what)?;
    Ok(info_from(&x509, OffsetDateTime::now_utc()))
}

/// Subject, dates and CA flag of the first certificate in `pem` (a bundle's key is ignored).
pub fn inspect_pem(pem: &str) -> Result<CertInfo, CertError> {
    inspect_named(pem, "PEM input")
}

/// A certificate that has expired or will within the warning window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryWarning {
    pub path: PathBuf,
    pub subject_cn: Option<String>,
    pub not_after: OffsetDateTime,
    pub days_left: i64,
    pub expired: bool,
}

/// Files in `dir` with the given extension, sorted for stable output; a missing directory is
/// simply empty (a fresh CA has no hosts yet).
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, CertError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CertError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let path = entry.map_err(|e| CertError::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden && path.is_file() && path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Every certificate of the CA directory: `ca.crt` (required), then `users/*.pem`,
/// `hosts/*.pem`, `server/*.crt`. An unreadable or corrupt file is an error naming it, since a
/// certificate nobody can parse is one nobody is watching.
pub fn scan_certs(dir: &Path) -> Result<Vec<(PathBuf, CertInfo)>, CertError> {
    let paths = CaPaths::new(dir);
    let mut files = vec![paths.ca_cert.clone()];
    files.extend(files_with_ext(&paths.users_dir, "pem")?);
    files.extend(files_with_ext(&paths.hosts_dir, "pem")?);
    files.extend(files_with_ext(&paths.server_dir, "crt")?);
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let text = fs::read_to_string(&f).map_err(|e| CertError::io(&f, e))?;
        let info = inspect_named(&text, &f.display().to_string())?;
        out.push((f, info));
    }
    Ok(out)
}

/// Certificates under `dir` that have expired or expire within `warn_days` days, CA included:
/// an expired CA breaks every login at once, so it must never go unnoticed.
pub fn check_expiry(dir: &Path, warn_days: i64) -> Result<Vec<ExpiryWarning>, CertError> {
    Ok(scan_certs(dir)?
        .into_iter()
        .filter(|(_, info)| info.days_left < warn_days)
        .map(|(path, info)| ExpiryWarning {
            path,
            expired: info.is_expired(),
            subject_cn: info.subject_cn,
            not_after: info.not_after,
            days_left: info.days_left,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn days_left_rounds_down() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(days_left(now + Duration::hours(36), now), 1);
        assert_eq!(days_left(now + Duration::hours(12), now), 0);
        assert_eq!(days_left(now - Duration::seconds(1), now), -1);
        assert_eq!(days_left(now - Duration::hours(36), now), -2);
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(inspect_pem("hello"), Err(CertError::Parse { .. })));
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(inspect_pem(bad), Err(CertError::Parse { .. })));
    }
}
