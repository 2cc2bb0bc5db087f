//! Revocation, renewal, CA rotation and expiry checks, verified the way the hub verifies:
//! rustls' webpki client verifier over the CA bundle and the CRL, rebuilt from the files
//! when they change (kkoji_certs::crl::ReloadingClientVerifier), plus openssl as a second
//! opinion where it is installed.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{der_of, openssl};
use kkoji_certs::crl::{ReloadingClientVerifier, expiry_notices, load_crls, revocation_of};
use kkoji_certs::{CaPaths, CertKind, init_ca, load_ca, write_server_pair, write_user_bundle};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;

fn bin(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kkoji-certs"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "kkoji-certs {args:?} → {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = bin(dir, args);
    assert!(out.status.success(), "{args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_of(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from(der_of(&std::fs::read_to_string(path).unwrap()))
}

fn verify(v: &ReloadingClientVerifier, cert: &Path) -> Result<(), rustls::Error> {
    v.verify_client_cert(&cert_of(cert), &[], UnixTime::now())
        .map(|_| ())
}

/// Waits (generously) until `cond` holds; the verifier looks at its files once a second.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        if Instant::now() >= deadline {
            panic!("timed out waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn openssl_crl_verify(dir: &Path, cert: &Path) -> bool {
    let p = CaPaths::new(dir);
    Command::new("openssl")
        .args(["verify", "-crl_check", "-CAfile"])
        .arg(&p.ca_cert)
        .arg("-CRLfile")
        .arg(&p.crl)
        .arg(cert)
        .output()
        .unwrap()
        .status
        .success()
}

fn farm() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ca");
    ok(&dir, &["init", "--cn", "Farm CA"]);
    ok(&dir, &["issue-user", "alice"]);
    ok(&dir, &["issue-user", "bob"]);
    ok(&dir, &["crl"]);
    (t, dir)
}

#[test]
fn a_revoked_certificate_is_refused_without_a_restart() {
    let (_t, dir) = farm();
    let p = CaPaths::new(&dir);
    let v = ReloadingClientVerifier::new(&p.ca_cert, Some(&p.crl), provider(), true).unwrap();
    let (alice, bob) = (p.user_bundle("alice"), p.user_bundle("bob"));
    verify(&v, &alice).unwrap();
    verify(&v, &bob).unwrap();

    let out = ok(&dir, &["revoke", "alice", "--reason", "key-compromise"]);
    assert!(out.contains("revoked alice"), "{out}");
    eventually("alice refused", || {
        matches!(
            verify(&v, &alice),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked
            ))
        )
    });
    verify(&v, &bob).unwrap();
    let (reason, _) = revocation_of(&load_crls(&p.crl).unwrap(), &cert_of(&alice)).unwrap();
    assert!(reason.to_lowercase().contains("keycompromise"), "{reason}");
    assert!(revocation_of(&load_crls(&p.crl).unwrap(), &cert_of(&bob)).is_none());

    let list = ok(&dir, &["list"]);
    let line = list.lines().find(|l| l.contains("CN=alice")).unwrap();
    assert!(
        line.contains("REVOKED") && line.contains("key-compromise"),
        "{line}"
    );
    assert!(
        list.lines()
            .find(|l| l.contains("CN=bob"))
            .unwrap()
            .contains("valid")
    );

    // twice is an error; so is something unknown; a CA cannot be revoked
    assert_eq!(bin(&dir, &["revoke", "alice"]).status.code(), Some(2));
    assert_eq!(bin(&dir, &["revoke", "nobody"]).status.code(), Some(2));
    assert_eq!(
        bin(&dir, &["revoke", "bob", "--reason", "because"])
            .status
            .code(),
        Some(2)
    );

    // bob by serial (as `list` shows it, with colons too)
    let serial = list
        .lines()
        .find(|l| l.contains("CN=bob"))
        .unwrap()
        .split_whitespace()
        .skip_while(|w| *w != "CN=bob")
        .nth(1)
        .unwrap()
        .to_string();
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    ok(&dir, &["revoke", &colons.join(":")]);
    eventually("bob refused", || verify(&v, &bob).is_err());

    if openssl() {
        assert!(!openssl_crl_verify(&dir, &alice));
        ok(&dir, &["issue-user", "carol"]);
        assert!(openssl_crl_verify(&dir, &p.user_bundle("carol")));
    }
}

#[test]
fn a_broken_crl_keeps_the_last_good_one() {
    let (_t, dir) = farm();
    let p = CaPaths::new(&dir);
    ok(&dir, &["revoke", "alice"]);
    let v = ReloadingClientVerifier::new(&p.ca_cert, Some(&p.crl), provider(), true).unwrap();
    assert!(verify(&v, &p.user_bundle("alice")).is_err());
    std::fs::write(&p.crl, "garbage").unwrap();
    assert!(v.reload_if_changed().is_err());
    assert!(
        verify(&v, &p.user_bundle("alice")).is_err(),
        "revoked cert let in"
    );
    verify(&v, &p.user_bundle("bob")).unwrap();
    ok(&dir, &["crl"]);
    assert!(v.reload_if_changed().unwrap());
    assert!(verify(&v, &p.user_bundle("alice")).is_err());
}

#[test]
fn a_renewed_certificate_logs_in_with_a_new_or_the_same_key() {
    let (_t, dir) = farm();
    let p = CaPaths::new(&dir);
    ok(
        &dir,
        &[
            "issue-server",
            "hub.example",
            "--san",
            "127.0.0.1",
            "--san",
            "koji",
        ],
    );
    let v = ReloadingClientVerifier::new(&p.ca_cert, Some(&p.crl), provider(), true).unwrap();
    let alice = p.user_bundle("alice");
    let before = std::fs::read_to_string(&alice).unwrap();
    let key_of = |text: &str| {
        text.split("-----BEGIN PRIVATE KEY-----")
            .nth(1)
            .unwrap()
            .to_string()
    };

    ok(&dir, &["renew", "alice", "--keep-key"]);
    let kept = std::fs::read_to_string(&alice).unwrap();
    assert_eq!(key_of(&kept), key_of(&before));
    assert_ne!(der_of(&kept), der_of(&before));
    verify(&v, &alice).unwrap();

    ok(&dir, &["renew", "alice", "--revoke-old"]);
    let fresh = std::fs::read_to_string(&alice).unwrap();
    assert_ne!(key_of(&fresh), key_of(&kept));
    verify(&v, &alice).unwrap();
    let info = kkoji_certs::inspect_pem(&fresh).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("alice"));
    assert!(info.subject.contains("OU=users"), "{}", info.subject);

    // both replaced certificates are listed as archived; the second one is revoked
    let list = ok(&dir, &["list"]);
    let archived: Vec<&str> = list.lines().filter(|l| l.starts_with("archived")).collect();
    assert_eq!(archived.len(), 2, "{list}");
    assert_eq!(archived.iter().filter(|l| l.contains("REVOKED")).count(), 1);
    let old = CertificateDer::from(der_of(&kept));
    eventually("superseded cert refused", || {
        v.verify_client_cert(&old, &[], UnixTime::now()).is_err()
    });

    // a server certificate keeps its SANs
    ok(&dir, &["renew", "hub.example"]);
    let crt = std::fs::read_to_string(p.server_cert("hub.example")).unwrap();
    let der = der_of(&crt);
    let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
    let sans = format!("{:?}", x.subject_alternative_name().unwrap().unwrap().value);
    for s in ["hub.example", "koji", "127.0.0.1"] {
        assert!(
            sans.contains(s) || sans.contains("127, 0, 0, 1"),
            "{s} missing: {sans}"
        );
    }
    assert_eq!(bin(&dir, &["renew", "nobody"]).status.code(), Some(2));
}

#[test]
fn after_rotate_ca_old_and_new_certificates_both_log_in() {
    let (_t, dir) = farm();
    let p = CaPaths::new(&dir);
    ok(&dir, &["issue-host", "builder01"]);
    let v = ReloadingClientVerifier::new(&p.ca_cert, Some(&p.crl), provider(), true).unwrap();
    let old_ca_pem = std::fs::read_to_string(&p.ca_cert).unwrap();

    ok(&dir, &["rotate-ca", "--cn", "Farm CA 2"]);
    ok(&dir, &["issue-user", "dave"]);
    ok(&dir, &["issue-host", "builder02"]);
    let dave = p.user_bundle("dave");
    assert!(
        kkoji_certs::inspect_pem(&std::fs::read_to_string(&p.ca_cert).unwrap())
            .unwrap()
            .subject
            .contains("Farm CA 2")
    );
    // the running verifier picks up the new bundle by itself
    eventually("new CA trusted", || verify(&v, &dave).is_ok());
    for c in [
        p.user_bundle("alice"),
        p.host_bundle("builder01"),
        p.host_bundle("builder02"),
    ] {
        verify(&v, &c).unwrap();
    }

    // the cross-certificate: with only the NEW root trusted, an old certificate still
    // verifies through it (webpki, as a client that dropped the old root would)
    let new_root = der_of(&std::fs::read_to_string(&p.ca_cert).unwrap());
    let anchor = webpki::anchor_from_trusted_cert(&rustls_pki_types::CertificateDer::from(
        new_root.as_slice(),
    ))
    .unwrap()
    .to_owned();
    let cross = der_of(&std::fs::read_to_string(dir.join("ca-cross.crt")).unwrap());
    let alice_der = der_of(&std::fs::read_to_string(p.user_bundle("alice")).unwrap());
    let alice_cert = rustls_pki_types::CertificateDer::from(alice_der.as_slice());
    let ee = webpki::EndEntityCert::try_from(&alice_cert).unwrap();
    let cross_der = rustls_pki_types::CertificateDer::from(cross.as_slice());
    let chain = |inter: &[rustls_pki_types::CertificateDer<'_>]| {
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            std::slice::from_ref(&anchor),
            inter,
            rustls_pki_types::UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
    };
    chain(std::slice::from_ref(&cross_der)).expect("old cert via the cross-certificate");
    assert!(
        chain(&[]).is_err(),
        "old cert verified without the cross-certificate"
    );

    // revocation works for both generations (each CA signs its own CRL)
    ok(&dir, &["revoke", "alice"]);
    ok(&dir, &["revoke", "builder02"]);
    eventually("both refused", || {
        verify(&v, &p.user_bundle("alice")).is_err()
            && verify(&v, &p.host_bundle("builder02")).is_err()
    });
    verify(&v, &p.host_bundle("builder01")).unwrap();
    verify(&v, &dave).unwrap();

    // renewing moves a certificate to the new CA
    ok(&dir, &["renew", "builder01"]);
    let b1 = std::fs::read_to_string(p.host_bundle("builder01")).unwrap();
    let b1_der = der_of(&b1);
    let (_, x) = x509_parser::parse_x509_certificate(&b1_der).unwrap();
    assert!(x.issuer().to_string().contains("Farm CA 2"));
    verify(&v, &p.host_bundle("builder01")).unwrap();

    if openssl() {
        assert!(openssl_crl_verify(&dir, &dave));
        assert!(openssl_crl_verify(&dir, &p.host_bundle("builder01")));
        assert!(!openssl_crl_verify(&dir, &p.user_bundle("alice")));
    }
    // the old CA is still in the bundle, after the new one
    assert!(
        std::fs::read_to_string(&p.ca_cert)
            .unwrap()
            .ends_with(&old_ca_pem)
    );
    let list = ok(&dir, &["list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("old-ca") && l.contains("Farm CA"))
    );
}

#[test]
fn check_warns_for_soon_expiring_certificates_and_an_expired_ca() {
    let t = tempfile::tempdir().unwrap();
    // a CA with 10 days left: check --warn-days 30 fails and names it
    let dir = t.path().join("soon");
    init_ca(&dir, "Short CA", 10).unwrap();
    let out = bin(&dir, &["check", "--warn-days", "30"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Short CA"));
    assert_eq!(
        bin(&dir, &["check", "--warn-days", "5"]).status.code(),
        Some(0)
    );

    // a user certificate with 5 days left
    let dir = t.path().join("user");
    init_ca(&dir, "Farm CA", 3650).unwrap();
    let ca = load_ca(&dir).unwrap();
    let soon = ca.issue_user("eve", 5).unwrap();
    write_user_bundle(&dir, CertKind::User, "eve", &soon).unwrap();
    let out = bin(&dir, &["check", "--warn-days", "30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eve") && err.contains("expires in 4 days"),
        "{err}"
    );
    assert_eq!(
        bin(&dir, &["check", "--warn-days", "3"]).status.code(),
        Some(0)
    );
    // once revoked, its expiry no longer matters
    ok(&dir, &["revoke", "eve"]);
    assert_eq!(
        bin(&dir, &["check", "--warn-days", "30"]).status.code(),
        Some(0)
    );
    // a CRL about to need re-signing is reported too
    ok(&dir, &["crl", "--days", "2"]);
    let out = bin(&dir, &["check", "--warn-days", "30"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRL"));

    // an expired CA (the seed farm's situation)
    let dir = t.path().join("expired");
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Old Seed CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(400);
    params.not_after = now - time::Duration::days(3);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("ca.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("ca.key"), key.serialize_pem()).unwrap();
    let out = bin(&dir, &["check", "--warn-days", "30"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EXPIRED") && err.contains("Old Seed CA"),
        "{err}"
    );
}

#[test]
fn expiry_notices_cover_server_certificate_ca_and_crl() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ca");
    let ca = init_ca(&dir, "Farm CA", 20).unwrap();
    let server = ca.issue_server("hub", &[], 10).unwrap();
    let (crt, _) = write_server_pair(&dir, "hub", &server).unwrap();
    let crl = kkoji_certs::lifecycle::write_crl(&dir, 25).unwrap();
    let p = CaPaths::new(&dir);
    let n = expiry_notices(&crt, &p.ca_cert, Some(&crl), 30).unwrap();
    let whats: Vec<&str> = n.iter().map(|n| n.what).collect();
    assert_eq!(whats, ["server certificate", "CA certificate", "CRL"]);
    assert!(n[0].to_string().contains("expires in 9 days"), "{}", n[0]);
    assert!(
        expiry_notices(&crt, &p.ca_cert, Some(&crl), 5)
            .unwrap()
            .is_empty()
    );
    let e = expiry_notices(&t.path().join("missing.crt"), &p.ca_cert, None, 30).unwrap_err();
    assert!(e.to_string().contains("missing.crt"), "{e}");
    assert_eq!(
        kkoji_certs::crl::warn_expiring(&crt, &p.ca_cert, Some(&crl), 30),
        3
    );
    assert_eq!(
        kkoji_certs::crl::warn_expiring(&t.path().join("missing.crt"), &p.ca_cert, None, 30),
        1
    );
}

/// One TLS 1.3 handshake (plus a byte each way) with `server` over loopback, presenting the
/// client certificate bundle `client`; Ok when the server accepted it.
fn handshake(server: Arc<rustls::ServerConfig>, ca: &Path, client: &Path) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = std::thread::spawn(move || -> Result<(), String> {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        let conn = rustls::ServerConnection::new(server).map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let mut b = [0u8; 1];
        s.read_exact(&mut b).map_err(|e| e.to_string())?;
        s.write_all(&b).map_err(|e| e.to_string())?;
        s.flush().map_err(|e| e.to_string())
    });
    let mut roots = rustls::RootCertStore::empty();
    for c in kkoji_certs::crl::load_certs(ca).unwrap() {
        roots.add(c).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(client)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(client).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut c = rustls::StreamOwned::new(conn, tcp);
    let client_side = c
        .write_all(b"x")
        .and_then(|()| c.flush())
        .and_then(|()| {
            let mut b = [0u8; 1];
            c.read_exact(&mut b)
        })
        .map_err(|e| e.to_string());
    let server_side = srv.join().unwrap();
    client_side.and(server_side)
}

#[test]
fn a_running_tls_server_refuses_a_certificate_revoked_after_it_started() {
    let (_t, dir) = farm();
    let p = CaPaths::new(&dir);
    ok(&dir, &["issue-server", "localhost", "--san", "127.0.0.1"]);
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(p.server_cert("localhost"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(p.server_key("localhost")).unwrap();
    // client certificates required: a refused one ends the handshake
    let verifier =
        ReloadingClientVerifier::new(&p.ca_cert, Some(&p.crl), provider(), false).unwrap();
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    );
    handshake(server.clone(), &p.ca_cert, &p.user_bundle("alice")).unwrap();
    ok(&dir, &["revoke", "alice"]);
    // the same ServerConfig (no restart) refuses alice once the CRL is re-read
    eventually("alice refused by the running server", || {
        handshake(server.clone(), &p.ca_cert, &p.user_bundle("alice")).is_err()
    });
    handshake(server, &p.ca_cert, &p.user_bundle("bob")).unwrap();
}
