//! Mutual TLS for the hub.
//!
//! The stock client sends its certificate only after `sslLogin`, and anonymous calls carry
//! none, so a client certificate is requested but never required. A certificate that does
//! not verify (another CA, expired, revoked) must not end in a TLS alert either: the client
//! would report an opaque SSL error. Instead the handshake completes (the client still has
//! to prove it holds the key), the chain is verified right after, and the verdict travels
//! with every request of the connection, so `sslLogin` can answer with a clear AuthError.

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::ServerConfig;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// What the TLS layer learned about the client, for the whole connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    pub cert: ClientCert,
}

#[derive(Debug, Clone)]
pub enum ClientCert {
    /// No certificate was presented (anonymous calls).
    None,
    /// Verified against the farm CA: the subject, most specific attribute first. `dn` is
    /// for messages only; identity decisions compare `subject` (see [`dn_matches`]).
    Verified {
        dn: String,
        subject: Vec<(String, String)>,
    },
    /// Presented but rejected; the reason is shown to the client on login.
    Invalid(String),
}

impl ClientCert {
    pub fn component(&self, name: &str) -> Option<&str> {
        match self {
            ClientCert::Verified { subject, .. } => subject
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// Accepts every client certificate during the handshake (signatures are still checked)
/// and keeps the real verifier for [`TlsSetup::verify_peer`].
#[derive(Debug)]
struct DeferredVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

pub struct TlsSetup {
    pub server_config: Arc<ServerConfig>,
    verifier: Arc<dyn ClientCertVerifier>,
    /// For the reason and date of a revocation in the login fault.
    crl: Option<std::path::PathBuf>,
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSetup {
    pub fn load(
        cert: &Path,
        key: &Path,
        client_ca: &Path,
        crl: Option<&Path>,
    ) -> Result<TlsSetup, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| file_err(cert, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_err(cert, e))?;
        if chain.is_empty() {
            return Err(file_err(cert, "no certificate found"));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
        // The CA bundle and the CRL are re-read when they change (at most once a second, on
        // the next handshake): `kkoji-certs revoke` takes effect without a restart, and a
        // broken file keeps the last good one (logged).
        let verifier: Arc<dyn ClientCertVerifier> =
            kkoji_certs::crl::ReloadingClientVerifier::new(client_ca, crl, provider(), true)
                .map_err(|e| TlsError::Setup(e.to_string()))?;
        let deferred = Arc::new(DeferredVerifier {
            inner: verifier.clone(),
        });
        let mut sc = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_client_cert_verifier(deferred)
            .with_single_cert(chain, key_der)
            .map_err(|e| file_err(key, format!("does not match the certificate: {e}")))?;
        sc.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsSetup {
            server_config: Arc::new(sc),
            verifier,
            crl: crl.map(Path::to_path_buf),
        })
    }

    /// The real verdict on the client's chain, taken once per connection.
    pub fn verify_peer(&self, certs: Option<&[CertificateDer<'_>]>) -> ClientCert {
        let Some(certs) = certs.filter(|c| !c.is_empty()) else {
            return ClientCert::None;
        };
        if let Err(e) = self
            .verifier
            .verify_client_cert(&certs[0], &certs[1..], UnixTime::now())
        {
            let revoked = matches!(
                e,
                rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
            );
            if revoked
                && let Some(path) = &self.crl
                && let Ok(crls) = kkoji_certs::crl::load_crls(path)
                && let Some((reason, date)) = kkoji_certs::crl::revocation_of(&crls, &certs[0])
            {
                return ClientCert::Invalid(format!(
                    "certificate has been revoked ({reason}, {})",
                    date.date()
                ));
            }
            return ClientCert::Invalid(describe(&e));
        }
        match subject_of(&certs[0]) {
            Ok(subject) => {
                let dn = subject
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",");
                ClientCert::Verified { dn, subject }
            }
            Err(e) => ClientCert::Invalid(e),
        }
    }
}

fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::Expired) => "certificate has expired".into(),
        rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "certificate has expired".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet)
        | rustls::Error::InvalidCertificate(C::NotValidYetContext { .. }) => {
            "certificate is not valid yet".into()
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate is not signed by the farm CA (unknown issuer)".into()
        }
        rustls::Error::InvalidCertificate(C::Revoked) => "certificate has been revoked".into(),
        other => other.to_string(),
    }
}

/// Subject attributes in mod_ssl's order (most specific first), named as mod_ssl names
/// them (CN, OU, O, emailAddress, UID …), so `SSL_CLIENT_S_DN_<X>` habits carry over.
fn subject_of(der: &CertificateDer<'_>) -> Result<Vec<(String, String)>, String> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| format!("bad certificate: {e}"))?;
    let mut out = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let name = match oid.to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.5" => "serialNumber".to_string(),
                "1.2.840.113549.1.9.1" => "emailAddress".to_string(),
                "0.9.2342.19200300.100.1.1" => "UID".to_string(),
                other => other.to_string(),
            };
            let value = attr
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(attr.as_slice()).into_owned());
            out.push((name, value));
        }
    }
    out.reverse();
    // mod_ssl takes the first CN, this hub the most specific: with two they could disagree
    // on who the user is, so such a subject names nobody
    if out.iter().filter(|(k, _)| k == "CN").count() > 1 {
        return Err("certificate subject has more than one CN".into());
    }
    Ok(out)
}

/// A DN as written in the config (`CN=kojiweb,O=kkoji`, RFC 4514 escapes such as `\,`
/// honoured), as (attribute, value) pairs. None when it does not parse.
pub fn parse_dn(text: &str) -> Option<Vec<(String, String)>> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => cur.push(chars.next()?),
            ',' => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            let k = k.trim();
            if k.is_empty() {
                return None;
            }
            Some((canonical_attr(k), v.trim().to_string()))
        })
        .collect()
}

fn canonical_attr(k: &str) -> String {
    match k.to_ascii_uppercase().as_str() {
        "CN" | "2.5.4.3" => "CN".into(),
        "OU" | "2.5.4.11" => "OU".into(),
        "O" | "2.5.4.10" => "O".into(),
        "C" | "2.5.4.6" => "C".into(),
        "L" | "2.5.4.7" => "L".into(),
        "ST" | "2.5.4.8" => "ST".into(),
        "SERIALNUMBER" | "2.5.4.5" => "serialNumber".into(),
        "EMAILADDRESS" | "E" | "1.2.840.113549.1.9.1" => "emailAddress".into(),
        "UID" | "0.9.2342.19200300.100.1.1" => "UID".into(),
        _ => k.to_string(),
    }
}

/// Whether a verified subject (most specific attribute first) is the DN `configured`. The
/// comparison is of parsed attribute/value sequences, in either written order, never of
/// formatted text: a CN whose value is `kojiweb,O=kkoji` is not `CN=kojiweb,O=kkoji`.
pub fn dn_matches(subject: &[(String, String)], configured: &str) -> bool {
    let Some(want) = parse_dn(configured) else {
        return false;
    };
    let same = |a: &[(String, String)], b: &mut dyn Iterator<Item = &(String, String)>| {
        let b: Vec<&(String, String)> = b.collect();
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((ka, va), (kb, vb))| ka.eq_ignore_ascii_case(kb) && va == vb)
    };
    same(subject, &mut want.iter()) || same(subject, &mut want.iter().rev())
}

#[cfg(test)]
mod dn_tests {
    use super::*;

    fn subj(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_cn_holding_a_comma_is_not_a_longer_dn() {
        let proxy = subj(&[("CN", "kojiweb"), ("O", "kkoji")]);
        assert!(dn_matches(&proxy, "CN=kojiweb,O=kkoji"));
        assert!(dn_matches(&proxy, "O=kkoji, CN=kojiweb"));
        assert!(dn_matches(&proxy, "cn=kojiweb,o=kkoji"));
        let forged = subj(&[("CN", "kojiweb,O=kkoji")]);
        assert!(!dn_matches(&forged, "CN=kojiweb,O=kkoji"));
        // an escaped comma in the config is part of the value
        assert!(dn_matches(&forged, "CN=kojiweb\\,O=kkoji"));
        assert!(!dn_matches(&proxy, "CN=kojiweb"));
        assert!(!dn_matches(&proxy, "garbage"));
    }
}
