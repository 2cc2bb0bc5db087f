//! Files on disk: bundles and modes, koji config merging, .p12 export, expiry scanning, and
//! interop with openssl.

mod common;

use std::fs;
use std::process::Command;

use common::{mode, openssl, openssl_verify};
use kkoji_certs::{
    CaPaths, CertError, CertKind, KojiProfile, check_expiry, export_p12, init_ca, read_bundle,
    scan_certs, write_koji_config, write_server_pair, write_user_bundle,
};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use time::{Duration, OffsetDateTime};

#[test]
fn bundles_and_key_modes() {
    let d = tempfile::tempdir().unwrap();
    let paths = CaPaths::new(d.path());
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    assert_eq!(mode(&paths.ca_key), 0o600);
    assert_eq!(mode(&paths.ca_cert), 0o644);

    let u = ca.issue_user("alice", 825).unwrap();
    let p = write_user_bundle(d.path(), CertKind::User, "alice", &u).unwrap();
    assert_eq!(p, paths.user_bundle("alice"));
    assert_eq!(mode(&p), 0o600);
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(text.contains("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(read_bundle(&p).unwrap(), u);

    let h = ca.issue_host("b1", 825).unwrap();
    let p = write_user_bundle(d.path(), CertKind::Host, "b1", &h).unwrap();
    assert_eq!(p, paths.host_bundle("b1"));
    assert_eq!(mode(&p), 0o600);

    // Re-issuing replaces the bundle (renewal) and keeps the mode.
    let u2 = ca.issue_user("alice", 825).unwrap();
    write_user_bundle(d.path(), CertKind::User, "alice", &u2).unwrap();
    assert_eq!(read_bundle(&paths.user_bundle("alice")).unwrap(), u2);
    assert_eq!(mode(&paths.user_bundle("alice")), 0o600);

    let s = ca.issue_server("hub", &[], 825).unwrap();
    let (crt, key) = write_server_pair(d.path(), "hub", &s).unwrap();
    assert_eq!(crt, paths.server_cert("hub"));
    assert_eq!(key, paths.server_key("hub"));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(fs::read_to_string(&crt).unwrap(), s.cert_pem);
    assert_eq!(fs::read_to_string(&key).unwrap(), s.key_pem);

    // Names become file names: nothing escapes the directory.
    assert!(matches!(
        write_user_bundle(d.path(), CertKind::User, "../evil", &u),
        Err(CertError::InvalidName(_))
    ));
    assert!(matches!(
        write_user_bundle(d.path(), CertKind::Server, "hub", &s),
        Err(CertError::InvalidName(_))
    ));
    assert!(!d.path().join("evil.pem").exists());
}

#[test]
fn koji_config_keeps_other_sections() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("config");
    let original = "# my koji profiles\n[koji]\nserver = https://koji.fedoraproject.org/kojihub\n\
                    authtype = kerberos\n\n[kkoji]\nserver = https://stale/kojihub\n\n[stream]\n\
                    server = https://kojihub.stream.centos.org/kojihub\n";
    fs::write(&cfg, original).unwrap();
    let profile = KojiProfile {
        profile: "kkoji".into(),
        server: "https://hub.example:8443/kojihub".into(),
        weburl: "https://hub.example:8443/koji".into(),
        topurl: "https://hub.example:8443/kojifiles".into(),
        cert: "/etc/kkoji/ca/users/alice.pem".into(),
        serverca: "/etc/kkoji/ca/ca.crt".into(),
    };
    write_koji_config(&cfg, &profile).unwrap();
    let got = fs::read_to_string(&cfg).unwrap();
    let ours = "[kkoji]\nserver = https://hub.example:8443/kojihub\n\
                weburl = https://hub.example:8443/koji\ntopurl = https://hub.example:8443/kojifiles\n\
                authtype = ssl\ncert = /etc/kkoji/ca/users/alice.pem\nserverca = /etc/kkoji/ca/ca.crt\n";
    assert_eq!(
        got,
        format!(
            "# my koji profiles\n[koji]\nserver = https://koji.fedoraproject.org/kojihub\n\
             authtype = kerberos\n\n{ours}\n[stream]\n\
             server = https://kojihub.stream.centos.org/kojihub\n"
        )
    );
    assert!(!got.contains("stale"));
    // Writing again changes nothing.
    write_koji_config(&cfg, &profile).unwrap();
    assert_eq!(fs::read_to_string(&cfg).unwrap(), got);

    // A new file holds just our section.
    let fresh = d.path().join("sub/new.conf");
    write_koji_config(&fresh, &profile).unwrap();
    assert_eq!(fs::read_to_string(&fresh).unwrap(), ours);
}

#[test]
fn p12_export_reads_back() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let u = ca.issue_user("alice", 825).unwrap();
    let p12 = export_p12(&u.cert_pem, &u.key_pem, ca.cert_pem(), "s3cret", "alice").unwrap();

    // Read back with p12-keystore: the key and both certificates are there.
    let ks = KeyStore::from_pkcs12(&p12, "s3cret", Pkcs12ImportPolicy::default()).unwrap();
    let (alias, chain) = ks.private_key_chain().unwrap();
    assert_eq!(alias, "alice");
    assert_eq!(chain.certs().len(), 2);
    assert_eq!(chain.certs()[0].as_der(), common::der_of(&u.cert_pem));
    assert_eq!(chain.certs()[1].as_der(), common::der_of(ca.cert_pem()));
    assert!(KeyStore::from_pkcs12(&p12, "wrong", Pkcs12ImportPolicy::default()).is_err());

    // A key that does not belong to the certificate is refused.
    let other = ca.issue_user("bob", 825).unwrap();
    assert!(export_p12(&u.cert_pem, &other.key_pem, ca.cert_pem(), "x", "alice").is_err());

    if openssl() {
        let f = d.path().join("alice.p12");
        fs::write(&f, &p12).unwrap();
        let out = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&f)
            .args(["-passin", "pass:s3cret", "-nokeys"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "openssl pkcs12 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.matches("-----BEGIN CERTIFICATE-----").count(), 2);
        assert!(
            stdout.contains("CN = alice") || stdout.contains("CN=alice"),
            "{stdout}"
        );
        let bad = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&f)
            .args(["-passin", "pass:nope", "-nokeys"])
            .output()
            .unwrap();
        assert!(!bad.status.success());
    }
}

#[test]
fn openssl_verifies_the_chain() {
    if !openssl() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let paths = CaPaths::new(d.path());
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let u = ca.issue_user("alice", 825).unwrap();
    let user = write_user_bundle(d.path(), CertKind::User, "alice", &u).unwrap();
    let h = ca.issue_host("b1", 825).unwrap();
    let host = write_user_bundle(d.path(), CertKind::Host, "b1", &h).unwrap();
    let s = ca.issue_server("hub", &["127.0.0.1".into()], 825).unwrap();
    let (crt, _) = write_server_pair(d.path(), "hub", &s).unwrap();
    assert!(openssl_verify(&paths.ca_cert, &user));
    assert!(openssl_verify(&paths.ca_cert, &host));
    assert!(openssl_verify(&paths.ca_cert, &crt));

    // Against another CA it fails.
    let other = tempfile::tempdir().unwrap();
    init_ca(other.path(), "kkoji CA", 3650).unwrap();
    assert!(!openssl_verify(&other.path().join("ca.crt"), &user));

    // openssl can also read the bundle's key (the format koji's `cert =` loads).
    let out = Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&user)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn expiry_scan() {
    let d = tempfile::tempdir().unwrap();
    let ca = init_ca(d.path(), "kkoji CA", 3650).unwrap();
    let u = ca.issue_user("alice", 825).unwrap();
    write_user_bundle(d.path(), CertKind::User, "alice", &u).unwrap();
    let s = ca.issue_server("hub", &[], 825).unwrap();
    write_server_pair(d.path(), "hub", &s).unwrap();
    assert!(check_expiry(d.path(), 30).unwrap().is_empty());
    assert_eq!(scan_certs(d.path()).unwrap().len(), 3);

    let soon = ca.issue_host("b1", 10).unwrap();
    write_user_bundle(d.path(), CertKind::Host, "b1", &soon).unwrap();
    let now = OffsetDateTime::now_utc();
    let old = ca
        .issue_with_validity(
            CertKind::User,
            "old",
            now - Duration::days(100),
            now - Duration::days(1),
        )
        .unwrap();
    write_user_bundle(d.path(), CertKind::User, "old", &old).unwrap();
    // Non-certificate files are ignored.
    fs::write(d.path().join("users/notes.txt"), "hello").unwrap();

    let w = check_expiry(d.path(), 30).unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    let b1 = w
        .iter()
        .find(|w| w.subject_cn.as_deref() == Some("b1"))
        .unwrap();
    assert!(!b1.expired);
    assert!((9..=10).contains(&b1.days_left));
    assert!(b1.path.ends_with("hosts/b1.pem"));
    let o = w
        .iter()
        .find(|w| w.subject_cn.as_deref() == Some("old"))
        .unwrap();
    assert!(o.expired);
    assert!(o.days_left < 0);
    // With warn_days 0 only the expired one is listed.
    assert_eq!(check_expiry(d.path(), 0).unwrap().len(), 1);

    // An expired server certificate is reported too.
    let d2 = tempfile::tempdir().unwrap();
    let ca2 = init_ca(d2.path(), "kkoji CA", 3650).unwrap();
    let old_server = ca2
        .issue_with_validity(
            CertKind::Server,
            "hub",
            now - Duration::days(9),
            now - Duration::days(2),
        )
        .unwrap();
    write_server_pair(d2.path(), "hub", &old_server).unwrap();
    let w = check_expiry(d2.path(), 30).unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].expired);

    // A corrupt certificate is an error naming the file, not silently skipped.
    fs::write(d.path().join("hosts/broken.pem"), "garbage").unwrap();
    let e = check_expiry(d.path(), 30).unwrap_err();
    assert!(e.to_string().contains("broken.pem"), "{e}");
}
