//! What the hub needs from the CA directory at run time: the trusted CAs and the CRL,
//! re-read when their files change (a revocation takes effect without a restart, a
//! rotated CA is trusted at once), and warnings before its own certificate, the CA or the
//! CRL runs out.
//!
//! The hub builds its client-certificate verifier with [`ReloadingClientVerifier::new`]
//! instead of `WebPkiClientVerifier::builder_with_provider(..).with_crls(..).build()`, and
//! calls [`expiry_notices`] at start-up and once a day.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::CertError;

/// Every CRL in a PEM file (`crl.pem` holds one per CA).
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, CertError> {
    let crls: Vec<_> = CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| CertError::parse(path.display(), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::parse(path.display(), e))?;
    if crls.is_empty() {
        return Err(CertError::parse(path.display(), "no X509 CRL block"));
    }
    Ok(crls)
}

/// Every certificate in a PEM file (the CA bundle).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| CertError::parse(path.display(), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::parse(path.display(), e))?;
    if certs.is_empty() {
        return Err(CertError::parse(path.display(), "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// Identity of a file's current content, cheap to take: a rename (how kkoji-certs writes)
/// changes the inode, an in-place edit the size or mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<(u64, u64, u64, SystemTime)>);

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp(std::fs::metadata(path).ok().map(|m| {
        (
            m.dev(),
            m.ino(),
            m.len(),
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        )
    }))
}

/// Tells when a file changed since the last look.
#[derive(Debug)]
pub struct FileWatch {
    path: PathBuf,
    last: Stamp,
}

impl FileWatch {
    /// Starts watching; the current content counts as seen.
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            path: path.to_path_buf(),
            last: stamp(path),
        }
    }

    /// True (once) when the file was replaced, changed or removed since the last call.
    pub fn changed(&mut self) -> bool {
        let now = stamp(&self.path);
        if now == self.last {
            return false;
        }
        self.last = now;
        true
    }
}

/// Re-reads a CRL file when it changes: for a hub that builds its own verifier.
#[derive(Debug)]
pub struct CrlWatcher {
    watch: FileWatch,
}

impl CrlWatcher {
    /// Loads the CRLs now (an error if the file is unusable) and starts watching.
    pub fn new(
        path: &Path,
    ) -> Result<(CrlWatcher, Vec<CertificateRevocationListDer<'static>>), CertError> {
        let watch = FileWatch::new(path);
        let crls = load_crls(path)?;
        Ok((CrlWatcher { watch }, crls))
    }

    /// `Some(new CRLs)` when the file changed since the last call; `Err` if it changed into
    /// something unusable (keep the previous CRLs then, and say so).
    pub fn poll(
        &mut self,
    ) -> Result<Option<Vec<CertificateRevocationListDer<'static>>>, CertError> {
        if !self.watch.changed() {
            return Ok(None);
        }
        load_crls(&self.watch.path).map(Some)
    }
}

struct Current {
    verifier: Arc<dyn ClientCertVerifier>,
    ca: FileWatch,
    crl: Option<FileWatch>,
    checked: Instant,
}

/// A client-certificate verifier (rustls webpki, CA bundle + CRLs) that rebuilds itself when
/// the CA bundle or the CRL file changes, looked at no more than once per `interval` (1 s by
/// default) from the verification path itself. If a changed file cannot be used, the last
/// good verifier stays in force and the error is logged (a half-edited CRL must not lock
/// every user out, nor let revoked ones in once it is fixed).
///
/// Root hints are not sent (the hint list would change under the handshake); koji clients
/// send their configured certificate anyway.
pub struct ReloadingClientVerifier {
    ca_path: PathBuf,
    crl_path: Option<PathBuf>,
    provider: Arc<CryptoProvider>,
    allow_unauthenticated: bool,
    interval: Duration,
    current: RwLock<Arc<dyn ClientCertVerifier>>,
    state: Mutex<Current>,
}

impl fmt::Debug for ReloadingClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingClientVerifier")
            .field("ca_path", &self.ca_path)
            .field("crl_path", &self.crl_path)
            .finish_non_exhaustive()
    }
}

fn build(
    ca: &Path,
    crl: Option<&Path>,
    provider: &Arc<CryptoProvider>,
    allow_unauthenticated: bool,
) -> Result<Arc<dyn ClientCertVerifier>, CertError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| CertError::parse(ca.display(), e))?;
    }
    let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if allow_unauthenticated {
        b = b.allow_unauthenticated();
    }
    if let Some(crl) = crl {
        b = b.with_crls(load_crls(crl)?);
    }
    b.build()
        .map_err(|e| CertError::parse(ca.display(), format!("client verifier: {e}")))
}

impl ReloadingClientVerifier {
    /// Loads `ca` (every certificate of the file is trusted) and `crl` now; errors name the
    /// file. `allow_unauthenticated` as in rustls (the hub: true, anonymous calls work).
    pub fn new(
        ca: &Path,
        crl: Option<&Path>,
        provider: Arc<CryptoProvider>,
        allow_unauthenticated: bool,
    ) -> Result<Arc<ReloadingClientVerifier>, CertError> {
        let ca_watch = FileWatch::new(ca);
        let crl_watch = crl.map(FileWatch::new);
        let verifier = build(ca, crl, &provider, allow_unauthenticated)?;
        Ok(Arc::new(ReloadingClientVerifier {
            ca_path: ca.to_path_buf(),
            crl_path: crl.map(Path::to_path_buf),
            provider,
            allow_unauthenticated,
            interval: Duration::from_secs(1),
            current: RwLock::new(verifier.clone()),
            state: Mutex::new(Current {
                verifier,
                ca: ca_watch,
                crl: crl_watch,
                checked: Instant::now(),
            }),
        }))
    }

    /// Looks at the files now (not waiting for the interval); `Ok(true)` when the
    /// verifier was rebuilt. On error the previous verifier stays.
    pub fn reload_if_changed(&self) -> Result<bool, CertError> {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.checked = Instant::now();
        let ca_changed = st.ca.changed();
        let crl_changed = st.crl.as_mut().is_some_and(FileWatch::changed);
        if !(ca_changed || crl_changed) {
            return Ok(false);
        }
        let v = build(
            &self.ca_path,
            self.crl_path.as_deref(),
            &self.provider,
            self.allow_unauthenticated,
        )
        .inspect_err(|e| {
            // forget the stamps so the next look tries again
            st.ca = FileWatch {
                path: self.ca_path.clone(),
                last: Stamp(None),
            };
            if let Some(p) = &self.crl_path {
                st.crl = Some(FileWatch {
                    path: p.clone(),
                    last: Stamp(None),
                });
            }
            tracing::error!(error = %e, "client CA/CRL changed but cannot be loaded; keeping the previous ones");
        })?;
        st.verifier = v.clone();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = v;
        tracing::info!(ca = %self.ca_path.display(), crl = ?self.crl_path, "client CA/CRL reloaded");
        Ok(true)
    }

    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let due = self
            .state
            .lock()
            .map(|s| s.checked.elapsed() >= self.interval)
            .unwrap_or(true);
        if due {
            // errors are logged inside; the previous verifier stays
            let _ = self.reload_if_changed();
        }
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ClientCertVerifier for ReloadingClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        !self.allow_unauthenticated
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a certificate is on a CRL: `(reason, revocation date)` if `cert` (DER) is listed
/// by one of `crls` from its issuer. For a clearer AuthError than "revoked".
pub fn revocation_of(
    crls: &[CertificateRevocationListDer<'_>],
    cert: &CertificateDer<'_>,
) -> Option<(String, OffsetDateTime)> {
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).ok()?;
    for c in crls {
        let Ok((_, crl)) = CertificateRevocationList::from_der(c.as_ref()) else {
            continue;
        };
        if crl.issuer().as_raw() != x.issuer().as_raw() {
            continue;
        }
        for r in crl.iter_revoked_certificates() {
            if r.raw_serial() == x.raw_serial() {
                let reason = r
                    .reason_code()
                    .map(|(_, rc)| format!("{rc}"))
                    .unwrap_or_else(|| "unspecified".into());
                return Some((reason, r.revocation_date.to_datetime()));
            }
        }
    }
    None
}

/// Something the hub depends on that runs out soon (or has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryNotice {
    /// "server certificate", "CA certificate" or "CRL".
    pub what: &'static str,
    pub path: PathBuf,
    pub subject: String,
    pub at: OffsetDateTime,
    /// Whole days left, negative once past.
    pub days_left: i64,
}

impl fmt::Display for ExpiryNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.what == "CRL" {
            "next update is due"
        } else {
            "expires"
        };
        if self.days_left < 0 {
            let past = if self.what == "CRL" {
                "was due"
            } else {
                "EXPIRED"
            };
            write!(
                f,
                "{} {} ({}) {past} on {}; run kkoji-certs check",
                self.what,
                self.path.display(),
                self.subject,
                self.at.date()
            )
        } else {
            write!(
                f,
                "{} {} ({}) {verb} in {} days, on {}",
                self.what,
                self.path.display(),
                self.subject,
                self.days_left,
                self.at.date()
            )
        }
    }
}

/// Logs every [`expiry_notices`] entry as a warning (an error when already past) and returns
/// how many there were; a file that cannot be read is logged too. What the hub calls at
/// start-up and once a day.
pub fn warn_expiring(server_cert: &Path, ca: &Path, crl: Option<&Path>, within_days: i64) -> usize {
    match expiry_notices(server_cert, ca, crl, within_days) {
        Ok(notices) => {
            for n in &notices {
                if n.days_left < 0 {
                    tracing::error!("{n}");
                } else {
                    tracing::warn!("{n}");
                }
            }
            notices.len()
        }
        Err(e) => {
            tracing::warn!("cannot check certificate expiry: {e}");
            1
        }
    }
}

fn days_left(at: OffsetDateTime) -> i64 {
    (at - OffsetDateTime::now_utc())
        .whole_seconds()
        .div_euclid(86_400)
}

/// The hub's own server certificate, every CA it trusts and the CRL's next update, for
/// those within `within_days` days (or past). Log each as a warning at start-up and daily.
pub fn expiry_notices(
    server_cert: &Path,
    ca: &Path,
    crl: Option<&Path>,
    within_days: i64,
) -> Result<Vec<ExpiryNotice>, CertError> {
    let mut out = Vec::new();
    for (what, path) in [("server certificate", server_cert), ("CA certificate", ca)] {
        let certs = load_certs(path)?;
        // the server file may carry its chain: only the leaf is the hub's own
        let n = if what == "server certificate" {
            1
        } else {
            certs.len()
        };
        for c in certs.iter().take(n) {
            let (_, x) = x509_parser::certificate::X509Certificate::from_der(c.as_ref())
                .map_err(|e| CertError::parse(path.display(), e))?;
            let at = x.validity().not_after.to_datetime();
            out.push(ExpiryNotice {
                what,
                path: path.to_path_buf(),
                subject: x.subject().to_string(),
                at,
                days_left: days_left(at),
            });
        }
    }
    if let Some(crl) = crl {
        for c in load_crls(crl)? {
            let (_, x) = CertificateRevocationList::from_der(c.as_ref())
                .map_err(|e| CertError::parse(crl.display(), e))?;
            if let Some(next) = x.next_update() {
                let at = next.to_datetime();
                out.push(ExpiryNotice {
                    what: "CRL",
                    path: crl.to_path_buf(),
                    subject: x.issuer().to_string(),
                    at,
                    days_left: days_left(at),
                });
            }
        }
    }
    out.retain(|n| n.days_left < within_days);
    Ok(out)
}
