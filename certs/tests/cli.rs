//! The `kkoji-certs` binary end to end, in a temporary directory.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{mode, openssl, openssl_verify};
use kkoji_certs::{CertKind, load_ca, write_user_bundle};
use time::{Duration, OffsetDateTime};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kkoji-certs"));
    c.env_remove("KKOJI_CERT_DIR");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let out = bin().arg("--dir").arg(dir).args(args).output().unwrap();
    eprintln!(
        "$ kkoji-certs {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "kkoji-certs {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("ca");

    let out = ok(&dir, &["init", "--cn", "Test CA", "--days", "365"]);
    assert!(
        out.contains(&dir.join("ca.crt").display().to_string()),
        "{out}"
    );
    assert_eq!(mode(&dir.join("ca.key")), 0o600);

    // A second init fails, names the file, and leaves the CA alone.
    let before = fs::read(dir.join("ca.crt")).unwrap();
    let out = run(&dir, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ca.crt") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(fs::read(dir.join("ca.crt")).unwrap(), before);

    let out = ok(&dir, &["issue-user", "alice", "--days", "90"]);
    let alice = dir.join("users/alice.pem");
    assert_eq!(out.trim(), alice.display().to_string());
    assert_eq!(mode(&alice), 0o600);

    let out = ok(&dir, &["issue-host", "builder-01"]);
    assert_eq!(
        out.trim(),
        dir.join("hosts/builder-01.pem").display().to_string()
    );
    assert_eq!(mode(&dir.join("hosts/builder-01.pem")), 0o600);

    let out = ok(
        &dir,
        &[
            "issue-server",
            "hub.example",
            "--san",
            "127.0.0.1",
            "--san",
            "::1",
            "--san",
            "localhost",
        ],
    );
    assert!(out.contains("server/hub.example.crt") && out.contains("server/hub.example.key"));
    assert_eq!(mode(&dir.join("server/hub.example.key")), 0o600);

    let out = ok(&dir, &["export-p12", "alice", "--password", "pw"]);
    let p12 = dir.join("users/alice.p12");
    assert_eq!(out.trim(), p12.display().to_string());
    assert_eq!(mode(&p12), 0o600);
    let pwfile = t.path().join("pw");
    fs::write(&pwfile, "filepw\n").unwrap();
    let host_p12 = t.path().join("b.p12");
    ok(
        &dir,
        &[
            "export-p12",
            "builder-01",
            "--host",
            "--password-file",
            pwfile.to_str().unwrap(),
            "--out",
            host_p12.to_str().unwrap(),
        ],
    );
    assert!(host_p12.is_file());

    let cfg = t.path().join("koji.conf");
    fs::write(&cfg, "[koji]\nserver = https://other/kojihub\n").unwrap();
    ok(
        &dir,
        &[
            "koji-config",
            "--out",
            cfg.to_str().unwrap(),
            "--server",
            "https://hub.example:8443/kojihub",
            "--user",
            "alice",
        ],
    );
    let text = fs::read_to_string(&cfg).unwrap();
    assert!(
        text.starts_with("[koji]\nserver = https://other/kojihub\n"),
        "{text}"
    );
    assert!(text.contains("[kkoji]\nserver = https://hub.example:8443/kojihub\n"));
    assert!(text.contains("weburl = https://hub.example:8443/koji\n"));
    assert!(text.contains("topurl = https://hub.example:8443/kojifiles\n"));
    assert!(text.contains("authtype = ssl\n"));
    assert!(text.contains(&format!("cert = {}\n", alice.display())));
    assert!(text.contains(&format!("serverca = {}\n", dir.join("ca.crt").display())));

    // koji-config for a user without a certificate fails clearly.
    let out = run(
        &dir,
        &[
            "koji-config",
            "--out",
            cfg.to_str().unwrap(),
            "--server",
            "https://x/kojihub",
            "--user",
            "nobody",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("users/nobody.pem"));

    // check: everything fine → 0, lists each certificate.
    let out = run(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for cn in ["CN=Test CA", "CN=alice", "CN=builder-01", "CN=hub.example"] {
        assert!(stdout.contains(cn), "{cn} missing from {stdout}");
    }
    // alice has 90 days: with --warn-days 100 that is a warning and exit 1 (for cron).
    let out = run(&dir, &["check", "--warn-days", "100"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alice"));

    // An expired certificate makes check exit 1.
    let ca = load_ca(&dir).unwrap();
    let now = OffsetDateTime::now_utc();
    let old = ca
        .issue_with_validity(
            CertKind::Host,
            "old-builder",
            now - Duration::days(30),
            now - Duration::days(2),
        )
        .unwrap();
    write_user_bundle(&dir, CertKind::Host, "old-builder", &old).unwrap();
    let out = run(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("EXPIRED"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("old-builder"));

    if openssl() {
        assert!(openssl_verify(&dir.join("ca.crt"), &alice));
        assert!(openssl_verify(
            &dir.join("ca.crt"),
            &dir.join("server/hub.example.crt")
        ));
        let out = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&p12)
            .args(["-passin", "pass:pw", "-nokeys"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

#[test]
fn dir_from_env_and_errors() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("envca");
    let out = bin()
        .env("KKOJI_CERT_DIR", &dir)
        .args(["init"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.join("ca.crt").is_file());

    // No directory at all.
    let out = bin().args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KKOJI_CERT_DIR"));

    // Issuing without a CA names the missing file.
    let empty = t.path().join("empty");
    let out = run(&empty, &["issue-user", "alice"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca.crt"));

    // Bad names are refused before anything is written.
    let out = run(&dir, &["issue-user", "../escape"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid name"));
    assert!(!t.path().join("escape.pem").exists());
}
