//! Creating, loading and signing with the CA.

use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::Path;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::inspect::{first_cert_der, parse_der};
use crate::store::{PUBLIC_MODE, SECRET_MODE, atomic_write, ensure_dir};
use crate::{CaPaths, CertError, CertKind, MAX_CN_LEN, validate_name};

/// CA lifetime when not told otherwise: ten years, because replacing a CA means re-issuing
/// every user and host certificate.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Leaf lifetime when not told otherwise: 825 days, the longest lifetime browsers and macOS
/// accept for TLS server certificates.
pub const DEFAULT_LEAF_DAYS: u32 = 825;

/// Backdating of `notBefore`, so a builder whose clock runs a few minutes slow does not reject
/// a certificate issued a moment ago.
pub(crate) const BACKDATE: Duration = Duration::minutes(5);

/// Organization in every subject, so kkoji certificates are recognisable in browser stores.
pub(crate) const ORG: &str = "kkoji";

/// A freshly issued certificate and its private key, both PEM (key is PKCS#8).
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    // Keeps private keys out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A loaded CA: its certificate and the key to sign with.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

pub(crate) fn gen_err(e: impl fmt::Display) -> CertError {
    CertError::Generate(e.to_string())
}

/// A random positive serial of 16 bytes (RFC 5280 allows up to 20). rcgen's default derives the
/// serial from the public key; random serials stay unique even if a key were ever reused, and
/// they make revocation entries unambiguous.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    // Positive and without a leading zero byte, so DER needs no padding.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

pub(crate) fn validity(days: u32) -> Result<(OffsetDateTime, OffsetDateTime), CertError> {
    if days == 0 {
        return Err(CertError::Generate(
            "validity must be at least 1 day".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    Ok((now - BACKDATE, now + Duration::days(i64::from(days))))
}

pub(crate) fn new_key() -> Result<KeyPair, CertError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)
}

/// Creates a new CA in `dir`: writes `ca.key` (0600) then `ca.crt`. Refuses with
/// [`CertError::Exists`] if either file is already there: overwriting a CA would silently
/// invalidate every certificate issued from it.
pub fn init_ca(dir: &Path, common_name: &str, days: u32) -> Result<Ca, CertError> {
    let common_name = common_name.trim();
    if common_name.is_empty() || common_name.len() > MAX_CN_LEN || common_name.contains('\n') {
        return Err(CertError::InvalidName(format!(
            "CA common name {common_name:?} must be 1..={MAX_CN_LEN} characters on one line"
        )));
    }
    let paths = CaPaths::new(dir);
    for p in [&paths.ca_cert, &paths.ca_key] {
        if p.exists() {
            return Err(CertError::Exists(p.clone()));
        }
    }
    let (not_before, not_after) = validity(days)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORG);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    // pathlen 0: this CA signs leaves only, never intermediates.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    params.not_before = not_before;
    params.not_after = not_after;
    let key = new_key()?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    let cert_pem = cert.pem();

    ensure_dir(dir)?;
    atomic_write(
        &paths.ca_key,
        key.serialize_pem().as_bytes(),
        SECRET_MODE,
        true,
    )?;
    atomic_write(&paths.ca_cert, cert_pem.as_bytes(), PUBLIC_MODE, true)?;
    tracing::info!(dir = %dir.display(), cn = common_name, "created CA");
    Ca::from_parts(cert_pem, key, &paths.ca_cert.display().to_string())
}

/// Loads `dir/ca.crt` and `dir/ca.key`. Every failure names the file at fault, including a key
/// that does not belong to the certificate (a classic after restoring from a mixed backup).
pub fn load_ca(dir: &Path) -> Result<Ca, CertError> {
    let paths = CaPaths::new(dir);
    load_ca_files(&paths.ca_cert, &paths.ca_key)
}

/// A CA from its certificate (the first one of the file) and key files; also used for the
/// archived CAs of earlier rotations, which still sign the CRL for what they issued.
pub(crate) fn load_ca_files(cert: &Path, key: &Path) -> Result<Ca, CertError> {
    let cert_pem = fs::read_to_string(cert).map_err(|e| CertError::io(cert, e))?;
    let key_pem = fs::read_to_string(key).map_err(|e| CertError::io(key, e))?;
    let key_what = key.display().to_string();
    warn_if_readable_by_others(key);
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| CertError::parse(&key_what, format!("not a usable private key: {e}")))?;
    Ca::from_parts(cert_pem, key, &cert.display().to_string())
}

/// A CA key readable by others lets anyone on the machine mint kkoji admins; say so loudly
/// (but keep working: refusing would take the hub down over a chmod).
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                "CA private key is readable by group/others; run chmod 600"
            );
        }
    }
}

impl Ca {
    /// Checks the certificate (parses, is a CA, matches the key) and builds the signer.
    fn from_parts(cert_pem: String, key: KeyPair, what: &str) -> Result<Ca, CertError> {
        let der = first_cert_der(&cert_pem, what)?;
        let x509 = parse_der(&der, what)?;
        if !x509.is_ca() {
            return Err(CertError::parse(
                what,
                "certificate is not a CA (basicConstraints CA:FALSE)",
            ));
        }
        if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CertError::parse(
                what,
                "certificate does not match the CA private key (ca.key)",
            ));
        }
        let not_after = x509.validity().not_after.to_datetime();
        if not_after < OffsetDateTime::now_utc() {
            tracing::warn!(file = what, %not_after, "CA certificate has EXPIRED");
        }
        let issuer = Issuer::from_ca_cert_der(&der.as_slice().into(), key)
            .map_err(|e| CertError::parse(what, format!("cannot sign with it: {e}")))?;
        Ok(Ca {
            cert_pem,
            issuer,
            not_after,
        })
    }

    /// The CA certificate as PEM (what the hub trusts and koji's `serverca =` points at).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// When the CA itself expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Client certificate for a koji user: CN=name, OU=users, O=kkoji.
    pub fn issue_user(&self, name: &str, days: u32) -> Result<Issued, CertError> {
        let (nb, na) = validity(days)?;
        self.issue_with_validity(CertKind::User, name, nb, na)
    }

    /// Client certificate for a builder host: CN=name, OU=hosts, O=kkoji.
    pub fn issue_host(&self, name: &str, days: u32) -> Result<Issued, CertError> {
        let (nb, na) = validity(days)?;
        self.issue_with_validity(CertKind::Host, name, nb, na)
    }

    /// TLS server certificate for the hub. SANs are `hostname` plus `sans`; entries that parse
    /// as IP addresses (`127.0.0.1`, `::1`) become IP SANs, because clients match an IP URL
    /// only against IP SANs.
    pub fn issue_server(
        &self,
        hostname: &str,
        sans: &[String],
        days: u32,
    ) -> Result<Issued, CertError> {
        let (nb, na) = validity(days)?;
        self.issue_inner(CertKind::Server, hostname, sans, nb, na, None)
    }

    /// Issues with explicit dates, e.g. an already expired certificate for tests of expiry
    /// handling. Server certificates get only `name` as SAN.
    pub fn issue_with_validity(
        &self,
        kind: CertKind,
        name: &str,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, CertError> {
        self.issue_inner(kind, name, &[], not_before, not_after, None)
    }

    /// Renewal: the same kind, name and SANs, fresh dates and serial; `key` keeps the
    /// holder's key (e.g. a key in a hardware token), `None` makes a new one.
    pub fn reissue(
        &self,
        kind: CertKind,
        name: &str,
        sans: &[String],
        days: u32,
        key: Option<KeyPair>,
    ) -> Result<Issued, CertError> {
        let (nb, na) = validity(days)?;
        self.issue_inner(kind, name, sans, nb, na, key)
    }

    /// The signer, for CRLs and cross-certificates.
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    fn issue_inner(
        &self,
        kind: CertKind,
        name: &str,
        extra_sans: &[String],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        key: Option<KeyPair>,
    ) -> Result<Issued, CertError> {
        validate_name(name)?;
        if not_after <= not_before {
            return Err(CertError::Generate(format!(
                "notAfter {not_after} is not after notBefore {not_before}"
            )));
        }
        if not_after > self.not_after {
            // Allowed (openssl and rustls check each certificate's own dates), but the leaf
            // becomes useless when the CA expires, so say so.
            tracing::warn!(
                name,
                %not_after,
                ca_not_after = %self.not_after,
                "certificate outlives the CA; it stops working when the CA expires"
            );
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, ORG);
        dn.push(DnType::OrganizationalUnitName, kind.ou());
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match kind {
            CertKind::User | CertKind::Host => ExtendedKeyUsagePurpose::ClientAuth,
            CertKind::Server => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        if kind == CertKind::Server {
            let mut sans = Vec::new();
            for s in std::iter::once(name).chain(extra_sans.iter().map(String::as_str)) {
                let san = san_for(s)?;
                if !sans.contains(&san) {
                    sans.push(san);
                }
            }
            params.subject_alt_names = sans;
        }
        // AKI lets openssl and browsers pick the right CA when several share a name.
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = not_before;
        params.not_after = not_after;
        let key = match key {
            Some(k) => k,
            None => new_key()?,
        };
        let cert = params.signed_by(&key, &self.issuer).map_err(gen_err)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// One SAN entry: an IP SAN if `s` parses as an address (also `[::1]`), else a DNS SAN.
fn san_for(s: &str) -> Result<SanType, CertError> {
    let s = s.trim();
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid_dns = !s.is_empty()
        && s.len() <= 253
        && s.split('.').enumerate().all(|(i, label)| {
            // A leading "*." wildcard label is allowed, nothing else fancy.
            (i == 0 && label == "*")
                || (!label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
    if !valid_dns {
        return Err(CertError::InvalidName(format!(
            "{s:?} is neither an IP address nor a DNS name"
        )));
    }
    let dns = s
        .to_string()
        .try_into()
        .map_err(|e| CertError::InvalidName(format!("{s:?}: {e}")))?;
    Ok(SanType::DnsName(dns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn san_detection() {
        assert_eq!(
            san_for("127.0.0.1").unwrap(),
            SanType::IpAddress("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            san_for("::1").unwrap(),
            SanType::IpAddress("::1".parse().unwrap())
        );
        assert_eq!(
            san_for("[::1]").unwrap(),
            SanType::IpAddress("::1".parse().unwrap())
        );
        assert!(matches!(
            san_for("koji.example.com").unwrap(),
            SanType::DnsName(_)
        ));
        assert!(matches!(
            san_for("*.example.com").unwrap(),
            SanType::DnsName(_)
        ));
        for bad in ["", "a..b", "-a.b", "a b", "exa*mple.com", "a.*.b"] {
            assert!(san_for(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serials_are_positive_and_distinct() {
        let a = random_serial();
        let b = random_serial();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.to_bytes()[0] & 0x80 == 0 && a.to_bytes()[0] != 0);
    }

    #[test]
    fn zero_days_rejected() {
        assert!(validity(0).is_err());
        let (nb, na) = validity(1).unwrap();
        assert!(na - nb > Duration::hours(24));
    }

    #[test]
    fn issued_debug_hides_key() {
        let i = Issued {
            cert_pem: "C".into(),
            key_pem: "SECRET".into(),
        };
        assert!(!format!("{i:?}").contains("SECRET"));
    }
}
