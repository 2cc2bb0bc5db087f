//! The certificate lifecycle after issuing: listing everything the CA ever issued,
//! revoking (a CRL per CA, re-signed on every change), renewing under the same name, and
//! replacing the CA itself without locking anybody out.
//!
//! Files besides the basic layout (see the crate docs):
//!
//! ```text
//! DIR/revoked.txt               one revocation per line: serial issuer-serial unix-time reason name
//! DIR/crlnumber                 the last CRL number (CRLs must carry increasing numbers)
//! DIR/crl.pem                   one CRL per CA (the current one and every archived one)
//! DIR/archive/SERIAL.pem        certificates replaced by `renew` (still revocable by serial)
//! DIR/old-cas/SERIAL/ca.crt     a CA replaced by `rotate-ca`, its key (ca.key) and the
//! DIR/old-cas/SERIAL/cross.crt  cross-certificate: its subject and key, signed by the new CA
//! DIR/ca-cross.crt              the newest cross-certificate
//! ```
//!
//! After `rotate-ca`, `ca.crt` holds the new CA first, then the earlier ones: the hub trusts
//! the whole file, so certificates of the old CA keep logging in until they are renewed.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{GeneralName, X509Certificate};

use crate::ca::{BACKDATE, gen_err, load_ca_files, new_key, random_serial};
use crate::inspect::{CertInfo, first_cert_der, info_of_der, parse_der};
use crate::store::{PUBLIC_MODE, SECRET_MODE, atomic_write, pem_blocks};
use crate::{Ca, CaPaths, CertError, CertKind, DEFAULT_CA_DAYS, read_bundle, validate_name};

/// How long a CRL is valid when not told otherwise. Re-signing it (any `revoke`, or
/// `kkoji-certs crl`) restarts the period; `check` warns before it runs out.
pub const DEFAULT_CRL_DAYS: u32 = 180;

/// Where a certificate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The current CA (first certificate of `ca.crt`).
    Ca,
    /// A CA replaced by `rotate-ca` (still trusted until its certificates are renewed).
    OldCa,
    /// A user, host or server certificate in use.
    Current(CertKind),
    /// Replaced by `renew`; kept so it can still be revoked by serial.
    Archived,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Ca => "ca",
            Origin::OldCa => "old-ca",
            Origin::Current(CertKind::User) => "user",
            Origin::Current(CertKind::Host) => "host",
            Origin::Current(CertKind::Server) => "server",
            Origin::Archived => "archived",
        })
    }
}

/// One certificate the CA knows about.
#[derive(Debug, Clone)]
pub struct Known {
    pub path: PathBuf,
    pub origin: Origin,
    /// Lower-case hex, no separators.
    pub serial: String,
    /// Serial of the CA that issued it (`None`: self-signed or an unknown issuer).
    pub issuer_serial: Option<String>,
    pub info: CertInfo,
    pub revoked: Option<Revocation>,
}

/// One line of `revoked.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub serial: String,
    pub issuer_serial: String,
    pub revoked_at: OffsetDateTime,
    pub reason: Reason,
    /// The certificate's CN at the time (for people reading the list).
    pub name: String,
}

/// The CRL reasons an operator picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "key-compromise",
            Reason::AffiliationChanged => "affiliation-changed",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessation-of-operation",
        }
    }

    fn rcgen(self) -> RevocationReason {
        match self {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
        }
    }
}

impl std::str::FromStr for Reason {
    type Err = CertError;
    fn from_str(s: &str) -> Result<Reason, CertError> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                CertError::InvalidName(format!(
                    "unknown revocation reason {s:?}; one of: {}",
                    Reason::ALL.map(Reason::as_str).join(", ")
                ))
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // DER may pad a serial with a leading zero byte; the number is the same
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

/// `AA:bb:01` or `aabb01` → `aabb01` (leading zeros dropped); `None` if not hex.
pub fn normalize_serial(s: &str) -> Option<String> {
    let h: String = s
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let t = h.trim_start_matches('0');
    Some(if t.is_empty() { "0".into() } else { t.into() })
}

fn from_hex(s: &str) -> Result<Vec<u8>, CertError> {
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| CertError::parse("serial", format!("{s:?} is not hex")))
        })
        .collect()
}

fn extra_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (
        dir.join("revoked.txt"),
        dir.join("crlnumber"),
        dir.join("archive"),
        dir.join("old-cas"),
    )
}

/// The revocations recorded so far (none if the file does not exist).
pub fn read_revocations(dir: &Path) -> Result<Vec<Revocation>, CertError> {
    let (path, ..) = extra_paths(dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CertError::io(&path, e)),
    };
    let what = path.display().to_string();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| CertError::parse(format!("{what}:{}", n + 1), m);
        let f: Vec<&str> = line.splitn(5, ' ').collect();
        let [serial, issuer, at, reason, name] = f[..] else {
            return Err(bad("expected: serial issuer-serial unix-time reason name"));
        };
        let serial = normalize_serial(serial).ok_or_else(|| bad("bad serial"))?;
        let issuer_serial = normalize_serial(issuer).ok_or_else(|| bad("bad issuer serial"))?;
        let at: i64 = at.parse().map_err(|_| bad("bad time"))?;
        let revoked_at =
            OffsetDateTime::from_unix_timestamp(at).map_err(|_| bad("time out of range"))?;
        let reason = reason.parse().map_err(|_| bad("bad reason"))?;
        out.push(Revocation {
            serial,
            issuer_serial,
            revoked_at,
            reason,
            name: name.to_string(),
        });
    }
    Ok(out)
}

fn write_revocations(dir: &Path, list: &[Revocation]) -> Result<(), CertError> {
    let (path, ..) = extra_paths(dir);
    let mut text =
        String::from("# serial issuer-serial unix-time reason name (kkoji-certs revoke)\n");
    for r in list {
        text.push_str(&format!(
            "{} {} {} {} {}\n",
            r.serial,
            r.issuer_serial,
            r.revoked_at.unix_timestamp(),
            r.reason.as_str(),
            r.name
        ));
    }
    atomic_write(&path, text.as_bytes(), PUBLIC_MODE, false)
}

/// A CA that can sign: the current one or an archived one.
struct Signer {
    serial: String,
    subject_raw: Vec<u8>,
    ca: Ca,
}

fn signer_from(cert: &Path, key: &Path) -> Result<Signer, CertError> {
    let ca = load_ca_files(cert, key)?;
    let what = cert.display().to_string();
    let der = first_cert_der(ca.cert_pem(), &what)?;
    let x = parse_der(&der, &what)?;
    Ok(Signer {
        serial: hex(x.raw_serial()),
        subject_raw: x.subject().as_raw().to_vec(),
        ca,
    })
}

/// The current CA and every archived one, current first.
fn signers(dir: &Path) -> Result<Vec<Signer>, CertError> {
    let paths = CaPaths::new(dir);
    let mut out = vec![signer_from(&paths.ca_cert, &paths.ca_key)?];
    let (.., old) = extra_paths(dir);
    for d in sorted_entries(&old)? {
        if d.is_dir() {
            out.push(signer_from(&d.join("ca.crt"), &d.join("ca.key"))?);
        }
    }
    Ok(out)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CertError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CertError::io(dir, e)),
    };
    let mut v = Vec::new();
    for e in rd {
        let p = e.map_err(|e| CertError::io(dir, e))?.path();
        if !p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

fn files_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, CertError> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect())
}

/// Every certificate of the CA directory: the CA, earlier CAs, certificates in use and
/// archived ones, each with its revocation (if any).
pub fn known_certs(dir: &Path) -> Result<Vec<Known>, CertError> {
    let paths = CaPaths::new(dir);
    let (.., archive, old) = extra_paths(dir);
    let signers = signers(dir)?;
    let revs = read_revocations(dir)?;
    let mut files: Vec<(PathBuf, Origin)> = vec![(paths.ca_cert.clone(), Origin::Ca)];
    for d in sorted_entries(&old)? {
        files.push((d.join("ca.crt"), Origin::OldCa));
    }
    for (kind, d, ext) in [
        (CertKind::User, &paths.users_dir, "pem"),
        (CertKind::Host, &paths.hosts_dir, "pem"),
        (CertKind::Server, &paths.server_dir, "crt"),
    ] {
        for f in files_ext(d, ext)? {
            files.push((f, Origin::Current(kind)));
        }
    }
    for f in files_ext(&archive, "pem")? {
        files.push((f, Origin::Archived));
    }
    let mut out = Vec::new();
    for (path, origin) in files {
        let what = path.display().to_string();
        let text = fs::read_to_string(&path).map_err(|e| CertError::io(&path, e))?;
        let der = first_cert_der(&text, &what)?;
        let x = parse_der(&der, &what)?;
        let serial = hex(x.raw_serial());
        let self_signed = x.issuer().as_raw() == x.subject().as_raw();
        let issuer_serial = (!self_signed)
            .then(|| {
                signers
                    .iter()
                    .find(|s| s.subject_raw == x.issuer().as_raw())
                    .map(|s| s.serial.clone())
            })
            .flatten();
        let revoked = revs
            .iter()
            .find(|r| r.serial == serial && Some(&r.issuer_serial) == issuer_serial.as_ref())
            .cloned();
        out.push(Known {
            path,
            origin,
            serial,
            issuer_serial,
            info: info_of_der(&der, &what)?,
            revoked,
        });
    }
    Ok(out)
}

/// Re-signs `crl.pem`: one CRL per CA (the current and every archived one), each listing
/// what that CA issued and was revoked, valid for `days`. The hub needs a CRL from every CA
/// it trusts (a certificate whose issuer has no CRL would have an unknown status).
pub fn write_crl(dir: &Path, days: u32) -> Result<PathBuf, CertError> {
    if days == 0 {
        return Err(CertError::Generate(
            "CRL validity must be at least 1 day".into(),
        ));
    }
    let paths = CaPaths::new(dir);
    let (_, numfile, ..) = extra_paths(dir);
    let last: u64 = match fs::read_to_string(&numfile) {
        Ok(t) => t
            .trim()
            .parse()
            .map_err(|_| CertError::parse(numfile.display(), "not a number; fix or remove it"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(CertError::io(&numfile, e)),
    };
    let number = last + 1;
    let revs = read_revocations(dir)?;
    let now = OffsetDateTime::now_utc();
    let mut pem = String::new();
    for s in signers(dir)? {
        let params = CertificateRevocationListParams {
            this_update: now - BACKDATE,
            next_update: now + Duration::days(i64::from(days)),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revs
                .iter()
                .filter(|r| r.issuer_serial == s.serial)
                .map(|r| {
                    Ok(RevokedCertParams {
                        serial_number: SerialNumber::from_slice(&from_hex(&r.serial)?),
                        revocation_time: r.revoked_at,
                        reason_code: Some(r.reason.rcgen()),
                        invalidity_date: None,
                    })
                })
                .collect::<Result<_, CertError>>()?,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(s.ca.issuer()).map_err(gen_err)?;
        pem.push_str(&crl.pem().map_err(gen_err)?);
    }
    // number first: a CRL must never reuse a number, even after a crash in between
    atomic_write(
        &numfile,
        format!("{number}\n").as_bytes(),
        PUBLIC_MODE,
        false,
    )?;
    atomic_write(&paths.crl, pem.as_bytes(), PUBLIC_MODE, false)?;
    tracing::info!(crl = %paths.crl.display(), number, "CRL written");
    Ok(paths.crl)
}

/// Makes sure `crl.pem` exists and stays valid for at least `min_days` more days,
/// re-signing it (valid [`DEFAULT_CRL_DAYS`]) when it is missing, unreadable or due; returns
/// its path. For the hub's quickstart at every start.
pub fn ensure_crl(dir: &Path, min_days: i64) -> Result<PathBuf, CertError> {
    let paths = CaPaths::new(dir);
    let fresh = paths.crl.exists()
        && crate::crl::expiry_notices(&paths.ca_cert, &paths.ca_cert, Some(&paths.crl), min_days)
            .map(|n| !n.iter().any(|n| n.what == "CRL"))
            .unwrap_or(false)
        && crate::crl::load_crls(&paths.crl).is_ok_and(|c| {
            // one CRL per CA: a CA added since (rotate-ca by hand?) needs a new file
            signers(dir).is_ok_and(|s| s.len() == c.len())
        });
    if fresh {
        return Ok(paths.crl);
    }
    write_crl(dir, DEFAULT_CRL_DAYS)
}

/// Finds what `target` names: a serial (hex, colons allowed) of any known certificate, or a
/// user/host/server name (`kind` settles a name used for several kinds).
pub fn find(dir: &Path, target: &str, kind: Option<CertKind>) -> Result<Known, CertError> {
    let all = known_certs(dir)?;
    let by_name: Vec<&Known> = all
        .iter()
        .filter(|k| match k.origin {
            Origin::Current(k2) => {
                kind.is_none_or(|want| want == k2)
                    && k.path.file_stem().and_then(|s| s.to_str()) == Some(target)
            }
            _ => false,
        })
        .collect();
    match by_name.len() {
        1 => return Ok(by_name[0].clone()),
        0 => {}
        _ => {
            return Err(CertError::InvalidName(format!(
                "{target:?} is both a {}; say which with --kind",
                by_name
                    .iter()
                    .map(|k| k.origin.to_string())
                    .collect::<Vec<_>>()
                    .join(" and a ")
            )));
        }
    }
    if let Some(serial) = normalize_serial(target) {
        let hits: Vec<&Known> = all.iter().filter(|k| k.serial == serial).collect();
        if let [one] = hits[..] {
            return Ok(one.clone());
        }
    }
    Err(CertError::InvalidName(format!(
        "no certificate named or numbered {target:?} (see `kkoji-certs list`)"
    )))
}

/// Revokes a certificate (by name or serial) and re-signs the CRL. Revoking a CA is
/// refused: that is `rotate-ca` followed by renewing everything.
pub fn revoke(
    dir: &Path,
    target: &str,
    kind: Option<CertKind>,
    reason: Reason,
    crl_days: u32,
) -> Result<Revocation, CertError> {
    let k = find(dir, target, kind)?;
    if matches!(k.origin, Origin::Ca | Origin::OldCa) {
        return Err(CertError::InvalidName(format!(
            "{target:?} is a CA certificate; replace the CA with `rotate-ca` instead"
        )));
    }
    if let Some(r) = &k.revoked {
        return Err(CertError::InvalidName(format!(
            "{} (serial {}) was already revoked on {}",
            r.name,
            r.serial,
            r.revoked_at.date()
        )));
    }
    let Some(issuer_serial) = k.issuer_serial.clone() else {
        return Err(CertError::InvalidName(format!(
            "{}: not issued by this CA or one of its predecessors",
            k.path.display()
        )));
    };
    let rev = Revocation {
        serial: k.serial.clone(),
        issuer_serial,
        revoked_at: OffsetDateTime::now_utc(),
        reason,
        name: k
            .info
            .subject_cn
            .clone()
            .unwrap_or_else(|| "-".into())
            .replace(char::is_whitespace, "_"),
    };
    let mut all = read_revocations(dir)?;
    all.push(rev.clone());
    write_revocations(dir, &all)?;
    write_crl(dir, crl_days)?;
    tracing::info!(serial = %rev.serial, name = %rev.name, "revoked");
    Ok(rev)
}

/// What `renew` did.
#[derive(Debug, Clone)]
pub struct Renewed {
    pub path: PathBuf,
    pub old_serial: String,
    pub new_serial: String,
    /// Where the replaced certificate was archived.
    pub archived: PathBuf,
    pub old_revoked: bool,
}

/// SAN entries of a server certificate, as `issue-server --san` takes them.
fn sans_of(x: &X509Certificate<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => out.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        out.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Issues a new certificate for the same name (and SANs) from the current CA, with a new
/// key unless `keep_key`; the replaced one goes to `archive/` and, with `revoke_old`, on
/// the CRL (reason superseded).
pub fn renew(
    dir: &Path,
    name: &str,
    kind: Option<CertKind>,
    days: u32,
    keep_key: bool,
    revoke_old: bool,
) -> Result<Renewed, CertError> {
    validate_name(name)?;
    let k = find(dir, name, kind)?;
    let Origin::Current(kind) = k.origin else {
        return Err(CertError::InvalidName(format!(
            "{name:?} is no user, host or server certificate"
        )));
    };
    let paths = CaPaths::new(dir);
    let what = k.path.display().to_string();
    let (old_cert_pem, old_key_pem) = match kind {
        CertKind::Server => {
            let cert = fs::read_to_string(&k.path).map_err(|e| CertError::io(&k.path, e))?;
            let kp = paths.server_key(name);
            let key = fs::read_to_string(&kp).map_err(|e| CertError::io(&kp, e))?;
            (cert, key)
        }
        _ => {
            let b = read_bundle(&k.path)?;
            (b.cert_pem, b.key_pem)
        }
    };
    let der = first_cert_der(&old_cert_pem, &what)?;
    let x = parse_der(&der, &what)?;
    let sans: Vec<String> = if kind == CertKind::Server {
        sans_of(&x).into_iter().filter(|s| s != name).collect()
    } else {
        Vec::new()
    };
    let key = if keep_key {
        Some(
            KeyPair::from_pem(&old_key_pem)
                .map_err(|e| CertError::parse(&what, format!("cannot keep the key: {e}")))?,
        )
    } else {
        None
    };
    let ca = crate::load_ca(dir)?;
    let issued = ca.reissue(kind, name, &sans, days, key)?;
    // archive first: the old certificate must stay findable (and revocable) by serial
    let (.., archive, _) = extra_paths(dir);
    let archived = archive.join(format!("{}.pem", k.serial));
    let cert_only = pem_blocks(&old_cert_pem, &what)?
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .map(|b| b.text)
        .unwrap_or_default();
    atomic_write(&archived, cert_only.as_bytes(), PUBLIC_MODE, false)?;
    let path = match kind {
        CertKind::Server => crate::write_server_pair(dir, name, &issued)?.0,
        _ => crate::write_user_bundle(dir, kind, name, &issued)?,
    };
    let new_der = first_cert_der(&issued.cert_pem, "renewed certificate")?;
    let new_serial = hex(parse_der(&new_der, "renewed certificate")?.raw_serial());
    if revoke_old {
        revoke(dir, &k.serial, None, Reason::Superseded, DEFAULT_CRL_DAYS)?;
    }
    Ok(Renewed {
        path,
        old_serial: k.serial,
        new_serial,
        archived,
        old_revoked: revoke_old,
    })
}

/// What `rotate-ca` did.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub old_serial: String,
    pub new_serial: String,
    /// The old CA's subject and key, certified by the new CA.
    pub cross_cert: PathBuf,
    pub archived: PathBuf,
}

fn subject_dn(x: &X509Certificate<'_>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for rdn in x.subject().iter_rdn() {
        for a in rdn.iter() {
            let Ok(v) = a.as_str() else { continue };
            match a.attr_type().to_id_string().as_str() {
                "2.5.4.10" => dn.push(DnType::OrganizationName, v),
                "2.5.4.11" => dn.push(DnType::OrganizationalUnitName, v),
                "2.5.4.3" => dn.push(DnType::CommonName, v),
                "2.5.4.6" => dn.push(DnType::CountryName, v),
                _ => {}
            }
        }
    }
    dn
}

/// Replaces the CA: a new key and certificate (valid `days`), the old CA archived under
/// `old-cas/SERIAL/`, a cross-certificate (the old CA's subject and key signed by the new
/// CA, so chains of old certificates also lead to the new root), `ca.crt` = new CA followed
/// by the earlier ones (what the hub and clients trust), and a CRL for each. Certificates
/// issued from now on come from the new CA; old ones keep working until renewed.
pub fn rotate_ca(dir: &Path, common_name: Option<&str>, days: u32) -> Result<Rotated, CertError> {
    let paths = CaPaths::new(dir);
    let old_bundle =
        fs::read_to_string(&paths.ca_cert).map_err(|e| CertError::io(&paths.ca_cert, e))?;
    let old_key_pem =
        fs::read_to_string(&paths.ca_key).map_err(|e| CertError::io(&paths.ca_key, e))?;
    let old = crate::load_ca(dir)?;
    let what = paths.ca_cert.display().to_string();
    let old_der = first_cert_der(&old_bundle, &what)?;
    let old_x = parse_der(&old_der, &what)?;
    let old_serial = hex(old_x.raw_serial());
    let old_cn = old_x
        .subject()
        .iter_common_name()
        .next()
        .and_then(|c| c.as_str().ok())
        .unwrap_or("kkoji CA")
        .to_string();
    let now = OffsetDateTime::now_utc();
    let cn = match common_name {
        Some(c) => c.trim().to_string(),
        None => {
            let base: String = old_cn
                .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == ' ')
                .chars()
                .take(40)
                .collect();
            format!(
                "{} {}",
                base.trim(),
                now.format(&time::macros::format_description!(
                    "[year]-[month]-[day] [hour][minute][second]"
                ))
                .map_err(gen_err)?
            )
        }
    };
    if cn.is_empty() || cn.len() > crate::MAX_CN_LEN || cn == old_cn {
        return Err(CertError::InvalidName(format!(
            "new CA common name {cn:?} must be 1..={} characters and differ from the old one",
            crate::MAX_CN_LEN
        )));
    }
    if days == 0 {
        return Err(CertError::Generate(
            "validity must be at least 1 day".into(),
        ));
    }
    let not_after = now + Duration::days(i64::from(days));

    // the new CA: pathlen 1, so the cross-certified old CA may sit below it
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, crate::ca::ORG);
    dn.push(DnType::CommonName, cn.as_str());
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    params.not_before = now - BACKDATE;
    params.not_after = not_after;
    let new_key = new_key()?;
    let new_cert = params.self_signed(&new_key).map_err(gen_err)?;
    let new_issuer = Issuer::new(params, &new_key);

    // the cross-certificate: old subject, old key, issued by the new CA
    let old_key =
        KeyPair::from_pem(&old_key_pem).map_err(|e| CertError::parse(paths.ca_key.display(), e))?;
    let mut cross = CertificateParams::default();
    cross.distinguished_name = subject_dn(&old_x);
    cross.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    cross.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    cross.use_authority_key_identifier_extension = true;
    cross.serial_number = Some(random_serial());
    cross.not_before = now - BACKDATE;
    cross.not_after = not_after;
    let cross_cert = cross.signed_by(&old_key, &new_issuer).map_err(gen_err)?;
    drop(old);

    // archive the old CA before anything is replaced
    let (.., old_dir) = extra_paths(dir);
    let arch = old_dir.join(&old_serial);
    if arch.exists() {
        return Err(CertError::Exists(arch));
    }
    let old_first = pem_blocks(&old_bundle, &what)?
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .map(|b| b.text)
        .unwrap_or_default();
    atomic_write(
        &arch.join("ca.key"),
        old_key_pem.as_bytes(),
        SECRET_MODE,
        true,
    )?;
    atomic_write(
        &arch.join("ca.crt"),
        old_first.as_bytes(),
        PUBLIC_MODE,
        true,
    )?;
    atomic_write(
        &arch.join("cross.crt"),
        cross_cert.pem().as_bytes(),
        PUBLIC_MODE,
        true,
    )?;
    let cross_path = dir.join("ca-cross.crt");
    atomic_write(&cross_path, cross_cert.pem().as_bytes(), PUBLIC_MODE, false)?;

    // the new CA first (what signs from now on), then every CA trusted before
    let mut bundle = new_cert.pem();
    for b in pem_blocks(&old_bundle, &what)? {
        if b.label == "CERTIFICATE" {
            bundle.push_str(&b.text);
        }
    }
    atomic_write(
        &paths.ca_key,
        new_key.serialize_pem().as_bytes(),
        SECRET_MODE,
        false,
    )?;
    atomic_write(&paths.ca_cert, bundle.as_bytes(), PUBLIC_MODE, false)?;
    write_crl(dir, DEFAULT_CRL_DAYS)?;
    let new_der = first_cert_der(&new_cert.pem(), "new CA")?;
    let new_serial = hex(parse_der(&new_der, "new CA")?.raw_serial());
    tracing::info!(old = %old_serial, new = %new_serial, cn, "CA rotated");
    Ok(Rotated {
        old_serial,
        new_serial,
        cross_cert: cross_path,
        archived: arch,
    })
}

/// Default CA lifetime for `rotate-ca`.
pub const DEFAULT_ROTATE_DAYS: u32 = DEFAULT_CA_DAYS;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_crl_writes_once_and_renews_when_due() {
        let d = tempfile::tempdir().unwrap();
        crate::init_ca(d.path(), "T", 30).unwrap();
        let p = ensure_crl(d.path(), 30).unwrap();
        let first = fs::read(&p).unwrap();
        assert_eq!(ensure_crl(d.path(), 30).unwrap(), p);
        assert_eq!(fs::read(&p).unwrap(), first, "a fresh CRL was re-signed");
        write_crl(d.path(), 5).unwrap();
        let due = fs::read(&p).unwrap();
        ensure_crl(d.path(), 30).unwrap();
        assert_ne!(fs::read(&p).unwrap(), due, "a CRL due in 5 days was kept");
    }

    #[test]
    fn serials_normalize() {
        assert_eq!(normalize_serial("0A:bC:01").as_deref(), Some("abc01"));
        assert_eq!(normalize_serial("00").as_deref(), Some("0"));
        assert_eq!(normalize_serial("alice"), None);
        assert_eq!(normalize_serial(""), None);
        assert_eq!(hex(&[0, 0x7f, 0x01]), "7f01");
        assert_eq!(from_hex("abc").unwrap(), vec![0x0a, 0xbc]);
    }

    #[test]
    fn reasons_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        }
        assert!("because".parse::<Reason>().is_err());
    }

    #[test]
    fn revocation_file_round_trips_and_bad_lines_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let r = Revocation {
            serial: "abc".into(),
            issuer_serial: "def".into(),
            revoked_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            reason: Reason::KeyCompromise,
            name: "alice".into(),
        };
        write_revocations(d.path(), std::slice::from_ref(&r)).unwrap();
        assert_eq!(read_revocations(d.path()).unwrap(), vec![r]);
        fs::write(
            d.path().join("revoked.txt"),
            "abc def x key-compromise alice\n",
        )
        .unwrap();
        let e = read_revocations(d.path()).unwrap_err().to_string();
        assert!(e.contains("revoked.txt:1"), "{e}");
    }
}
