//! Issuing: subjects, extensions, validity and signature chains of every certificate kind.

mod common;

use std::fs;
use std::net::IpAddr;

use common::der_of;
use kkoji_certs::{CaPaths, CertError, CertKind, init_ca, inspect_pem, load_ca};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::{Duration, OffsetDateTime};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

fn first<'a>(it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>) -> String {
    let v: Vec<_> = it.map(|a| a.as_str().unwrap().to_string()).collect();
    assert_eq!(v.len(), 1, "expected exactly one attribute, got {v:?}");
    v[0].clone()
}

/// Checks the subject, EKU and key usage of a leaf certificate.
fn check_leaf(x: &X509Certificate<'_>, cn: &str, ou: &str, server: bool) {
    assert_eq!(first(x.subject().iter_common_name()), cn);
    assert_eq!(first(x.subject().iter_organizational_unit()), ou);
    assert_eq!(first(x.subject().iter_organization()), "kkoji");
    assert!(!x.is_ca());
    let eku = x.extended_key_usage().unwrap().unwrap().value;
    assert_eq!(eku.server_auth, server);
    assert_eq!(eku.client_auth, !server);
    assert!(!eku.any);
    let ku = x.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature());
    assert!(!ku.key_cert_sign());
}

/// Verifies `cert_pem` against `ca_pem` the way rustls does, at the current time.
fn webpki_verify(ca_pem: &str, cert_pem: &str, usage: KeyUsage) -> Result<(), webpki::Error> {
    let ca_der = CertificateDer::from(der_of(ca_pem));
    let anchor = anchor_from_trusted_cert(&ca_der).unwrap().to_owned();
    let leaf_der = CertificateDer::from(der_of(cert_pem));
    let leaf = EndEntityCert::try_from(&leaf_der).unwrap();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map(|_| ())
}

#[test]
fn ca_has_ca_flags() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "Test Farm CA", 100).unwrap();
    let on_disk = fs::read_to_string(CaPaths::new(d.path()).ca_cert).unwrap();
    assert_eq!(ca.cert_pem(), on_disk);
    let der = der_of(ca.cert_pem());
    let (_, x) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(first(x.subject().iter_common_name()), "Test Farm CA");
    assert_eq!(first(x.subject().iter_organization()), "kkoji");
    let bc = x.basic_constraints().unwrap().unwrap();
    assert!(bc.critical);
    assert!(bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = x.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    // self-signed
    x.verify_signature(None).unwrap();
    assert_eq!(x.subject(), x.issuer());
    let days = (x.validity().not_after.to_datetime() - OffsetDateTime::now_utc()).whole_days();
    assert!((99..=100).contains(&days), "{days}");
    let info = inspect_pem(ca.cert_pem()).unwrap();
    assert!(info.is_ca);
    assert_eq!(info.subject_cn.as_deref(), Some("Test Farm CA"));
}

#[test]
fn issue_each_kind() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let ca_der = der_of(ca.cert_pem());
    let (_, ca_x) = X509Certificate::from_der(&ca_der).unwrap();

    let user = ca.issue_user("alice", 825).unwrap();
    assert!(user.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let der = der_of(&user.cert_pem);
    let (_, x) = X509Certificate::from_der(&der).unwrap();
    check_leaf(&x, "alice", "users", false);
    assert!(x.subject_alternative_name().unwrap().is_none());
    assert_eq!(x.issuer(), ca_x.subject());
    x.verify_signature(Some(ca_x.public_key())).unwrap();
    let now = OffsetDateTime::now_utc();
    let nb = x.validity().not_before.to_datetime();
    let na = x.validity().not_after.to_datetime();
    assert!(
        nb <= now && now - nb < Duration::minutes(10),
        "not_before {nb}"
    );
    let days = (na - now).whole_days();
    assert!((824..=825).contains(&days), "{days}");

    let host = ca.issue_host("builder-01.example.com", 30).unwrap();
    let der = der_of(&host.cert_pem);
    let (_, x) = X509Certificate::from_der(&der).unwrap();
    check_leaf(&x, "builder-01.example.com", "hosts", false);
    x.verify_signature(Some(ca_x.public_key())).unwrap();

    let sans = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
        "hub.example".to_string(), // duplicate of the hostname: emitted once
    ];
    let server = ca.issue_server("hub.example", &sans, 825).unwrap();
    let der = der_of(&server.cert_pem);
    let (_, x) = X509Certificate::from_der(&der).unwrap();
    check_leaf(&x, "hub.example", "server", true);
    x.verify_signature(Some(ca_x.public_key())).unwrap();
    let san = x.subject_alternative_name().unwrap().unwrap().value;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in &san.general_names {
        match n {
            GeneralName::DNSName(s) => dns.push(s.to_string()),
            GeneralName::IPAddress(b) => ips.push(match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                n => panic!("IP SAN of {n} bytes"),
            }),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(dns, vec!["hub.example", "localhost"]);
    assert_eq!(
        ips,
        vec![
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        ]
    );

    // every certificate has its own random serial
    let serials: Vec<Vec<u8>> = [
        &ca.cert_pem().to_string(),
        &user.cert_pem,
        &host.cert_pem,
        &server.cert_pem,
    ]
    .iter()
    .map(|p| {
        let der = der_of(p);
        let (_, x) = X509Certificate::from_der(&der).unwrap();
        x.raw_serial().to_vec()
    })
    .collect();
    for (i, a) in serials.iter().enumerate() {
        assert!(a.len() >= 16);
        for b in &serials[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn chain_verification_with_webpki() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(&d.path().join("a"), "CA A", 3650).unwrap();
    let other = init_ca(&d.path().join("b"), "CA B", 3650).unwrap();

    let user = ca.issue_user("alice", 825).unwrap();
    let host = ca.issue_host("b1", 825).unwrap();
    let server = ca
        .issue_server("hub.example", &["127.0.0.1".into()], 825)
        .unwrap();
    webpki_verify(ca.cert_pem(), &user.cert_pem, KeyUsage::client_auth()).unwrap();
    webpki_verify(ca.cert_pem(), &host.cert_pem, KeyUsage::client_auth()).unwrap();
    webpki_verify(ca.cert_pem(), &server.cert_pem, KeyUsage::server_auth()).unwrap();

    // The server certificate is valid for its DNS name and IP SAN, not for others.
    let leaf_der = CertificateDer::from(der_of(&server.cert_pem));
    let leaf = EndEntityCert::try_from(&leaf_der).unwrap();
    for ok in ["hub.example", "127.0.0.1"] {
        leaf.verify_is_valid_for_subject_name(&ServerName::try_from(ok).unwrap())
            .unwrap();
    }
    assert!(
        leaf.verify_is_valid_for_subject_name(&ServerName::try_from("evil.example").unwrap())
            .is_err()
    );

    // EKU is enforced: a user certificate cannot serve TLS, a server one cannot log in.
    assert!(webpki_verify(ca.cert_pem(), &user.cert_pem, KeyUsage::server_auth()).is_err());
    assert!(webpki_verify(ca.cert_pem(), &server.cert_pem, KeyUsage::client_auth()).is_err());

    // A certificate from another CA does not verify.
    let foreign = other.issue_user("alice", 825).unwrap();
    assert!(matches!(
        webpki_verify(ca.cert_pem(), &foreign.cert_pem, KeyUsage::client_auth()),
        Err(webpki::Error::UnknownIssuer)
    ));
    // …and neither does its signature against our CA key (x509-parser check).
    let ca_der = der_of(ca.cert_pem());
    let (_, ca_x) = X509Certificate::from_der(&ca_der).unwrap();
    let f_der = der_of(&foreign.cert_pem);
    let (_, f_x) = X509Certificate::from_der(&f_der).unwrap();
    assert!(f_x.verify_signature(Some(ca_x.public_key())).is_err());
}

#[test]
fn expired_certificate_is_rejected_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let now = OffsetDateTime::now_utc();
    let old = ca
        .issue_with_validity(
            CertKind::User,
            "old",
            now - Duration::days(400),
            now - Duration::days(35),
        )
        .unwrap();
    assert!(matches!(
        webpki_verify(ca.cert_pem(), &old.cert_pem, KeyUsage::client_auth()),
        Err(webpki::Error::CertExpired { .. })
    ));
    let info = inspect_pem(&format!("{}{}", old.cert_pem, old.key_pem)).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("old"));
    assert!(info.is_expired());
    assert!((-36..=-35).contains(&info.days_left), "{}", info.days_left);
    assert!(!info.is_ca);

    // Inverted dates are refused.
    assert!(matches!(
        ca.issue_with_validity(CertKind::Host, "h", now, now - Duration::days(1)),
        Err(CertError::Generate(_))
    ));
    // Zero-day validity is refused.
    assert!(ca.issue_user("alice", 0).is_err());
}

#[test]
fn init_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let paths = CaPaths::new(d.path());
    init_ca(d.path(), "first", 10).unwrap();
    let crt = fs::read(&paths.ca_cert).unwrap();
    let key = fs::read(&paths.ca_key).unwrap();
    match init_ca(d.path(), "second", 10) {
        Err(CertError::Exists(p)) => assert_eq!(p, paths.ca_cert),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(fs::read(&paths.ca_cert).unwrap(), crt);
    assert_eq!(fs::read(&paths.ca_key).unwrap(), key);

    // A lone ca.key (half-finished init, or a restored backup) is protected too.
    fs::remove_file(&paths.ca_cert).unwrap();
    match init_ca(d.path(), "third", 10) {
        Err(CertError::Exists(p)) => assert_eq!(p, paths.ca_key),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(fs::read(&paths.ca_key).unwrap(), key);
}

#[test]
fn load_ca_roundtrip_signs_for_the_same_ca() {
    let d = tempfile::tempdir().unwrap();
    let created = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let loaded = load_ca(d.path()).unwrap();
    assert_eq!(created.cert_pem(), loaded.cert_pem());
    let u = loaded.issue_user("bob", 10).unwrap();
    webpki_verify(created.cert_pem(), &u.cert_pem, KeyUsage::client_auth()).unwrap();
}

fn err_text(r: Result<kkoji_certs::Ca, CertError>) -> (CertError, String) {
    let e = r.expect_err("expected an error");
    let s = e.to_string();
    (e, s)
}

#[test]
fn load_ca_errors_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    let paths = CaPaths::new(d.path());

    // nothing there
    let (e, s) = err_text(load_ca(d.path()));
    assert!(
        matches!(e, CertError::Io { ref path, .. } if *path == paths.ca_cert),
        "{e:?}"
    );
    assert!(s.contains(&paths.ca_cert.display().to_string()), "{s}");

    init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let good_crt = fs::read_to_string(&paths.ca_cert).unwrap();
    let good_key = fs::read_to_string(&paths.ca_key).unwrap();

    // missing key
    fs::remove_file(&paths.ca_key).unwrap();
    let (e, s) = err_text(load_ca(d.path()));
    assert!(
        matches!(e, CertError::Io { ref path, .. } if *path == paths.ca_key),
        "{e:?}"
    );
    assert!(s.contains("ca.key"), "{s}");

    // corrupt key
    fs::write(
        &paths.ca_key,
        "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let (e, s) = err_text(load_ca(d.path()));
    assert!(matches!(e, CertError::Parse { .. }), "{e:?}");
    assert!(s.contains(&paths.ca_key.display().to_string()), "{s}");

    // corrupt certificate
    fs::write(&paths.ca_key, &good_key).unwrap();
    fs::write(&paths.ca_cert, "not a certificate at all\n").unwrap();
    let (e, s) = err_text(load_ca(d.path()));
    assert!(matches!(e, CertError::Parse { .. }), "{e:?}");
    assert!(s.contains(&paths.ca_cert.display().to_string()), "{s}");

    // truncated certificate
    fs::write(&paths.ca_cert, &good_crt[..good_crt.len() / 2]).unwrap();
    let (_, s) = err_text(load_ca(d.path()));
    assert!(s.contains("ca.crt"), "{s}");

    // key from a different CA
    fs::write(&paths.ca_cert, &good_crt).unwrap();
    let other = tempfile::tempdir().unwrap();
    init_ca(other.path(), "other", 10).unwrap();
    fs::copy(other.path().join("ca.key"), &paths.ca_key).unwrap();
    let (e, s) = err_text(load_ca(d.path()));
    assert!(matches!(e, CertError::Parse { .. }), "{e:?}");
    assert!(s.contains("does not match"), "{s}");

    // a leaf certificate posing as the CA
    fs::write(&paths.ca_key, &good_key).unwrap();
    let leaf = load_ca(d.path()).unwrap().issue_user("x", 10).unwrap();
    fs::write(&paths.ca_cert, &leaf.cert_pem).unwrap();
    let (_, s) = err_text(load_ca(d.path()));
    assert!(s.contains("not a CA"), "{s}");
}

#[test]
fn bad_names_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    for bad in ["", "../etc/passwd", "a/b", ".hidden", "with space"] {
        assert!(
            matches!(ca.issue_user(bad, 10), Err(CertError::InvalidName(_))),
            "{bad:?}"
        );
        assert!(matches!(
            ca.issue_host(bad, 10),
            Err(CertError::InvalidName(_))
        ));
    }
    assert!(matches!(
        ca.issue_server("hub", &["not a name".into()], 10),
        Err(CertError::InvalidName(_))
    ));
    assert!(matches!(
        init_ca(&d.path().join("x"), "", 10),
        Err(CertError::InvalidName(_))
    ));
}
