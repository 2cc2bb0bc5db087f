//! kkoji-mirror-sync against upstream repos served on loopback: full sync, no-op resync
//! (one request per repo), incremental sync, `--delete`, GPG, dnf installing from the
//! mirror, status/log, snapshots.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    www: PathBuf,
    server: Server,
    plain: Upstream,
    signed: Upstream,
    config: PathBuf,
}

fn setup(extra_plain: &str) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let up = root.join("upstream");
    let plain = Upstream::new(up.join("plain"), false);
    let signed = Upstream::new(up.join("signed"), true);
    plain.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);
    signed.set(&["alpha-1.0", "beta-1.0"]);
    let server = Server::start(&up);
    let www = root.join("www");
    let config = root.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            r#"www_dir = "{www}"
parallel = 4
retries = 0

[[repo]]
dist = "test"
repo = "plain"
releasever = "1"
arches = ["noarch"]
urls = ["{plain}"]
{extra_plain}

[[repo]]
dist = "test"
repo = "signed"
arches = ["noarch"]
urls = ["{signed}"]
gpg_keys = ["{key}"]
gpgcheck = true
"#,
            www = www.display(),
            plain = server.url("plain/"),
            signed = server.url("signed/"),
            key = rpms().key.display(),
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        root,
        www,
        server,
        plain,
        signed,
        config,
    }
}

fn dest(s: &Setup, repo: &str) -> PathBuf {
    s.www.join(format!("test-noarch/RPMS.{repo}"))
}

fn dnf_install(repo: &Path, key: &Path, pkg: &str, root: &Path) {
    let out = Command::new("dnf")
        .arg("-y")
        .arg("-q")
        .arg(format!("--installroot={}", root.display()))
        .arg("--disablerepo=*")
        .arg("--setopt=reposdir=/nonexistent")
        .arg(format!("--repofrompath=m,file://{}", repo.display()))
        .arg("--enablerepo=m")
        .arg("--setopt=m.gpgcheck=1")
        .arg(format!("--setopt=m.gpgkey=file://{}", key.display()))
        .arg("--releasever=1")
        .args(["install", pkg])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dnf install {pkg}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn full_noop_incremental_delete_and_history() {
    let s = setup("");
    // 1. first sync mirrors everything
    let out = mirror_ok(&s.config, &["sync"]);
    assert!(
        out.contains("test-noarch-plain: downloaded 3 packages"),
        "{out}"
    );
    assert!(
        out.contains("test-noarch-signed: downloaded 2 packages"),
        "{out}"
    );
    assert_eq!(
        repoquery(&dest(&s, "plain")),
        [
            "alpha-1.0-1.noarch",
            "beta-1.0-1.noarch",
            "gamma-1.0-1.noarch"
        ]
    );
    // the signed repo keeps upstream's signed metadata byte for byte
    assert_eq!(
        std::fs::read(dest(&s, "signed").join("repodata/repomd.xml.asc")).unwrap(),
        std::fs::read(s.signed.dir.join("repodata/repomd.xml.asc")).unwrap()
    );
    // dnf with gpgcheck=1 installs from the mirror
    let inst = s.root.join("installroot");
    dnf_install(&dest(&s, "signed"), &rpms().key, "beta", &inst);
    assert!(inst.join("usr/share/beta/data").is_file());

    // 2. nothing changed: one request per repo, no package
    s.server.take_requests();
    let out = mirror_ok(&s.config, &["sync"]);
    assert!(out.contains("test-noarch-plain: unchanged"), "{out}");
    let reqs = s.server.take_requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/plain/repodata/repomd.xml", "/signed/repodata/repomd.xml"]
    );

    // 3. upstream updates alpha, adds delta, removes gamma
    s.plain.set(&["alpha-1.1", "beta-1.0", "delta-1.0"]);
    let out = mirror_ok(&s.config, &["sync", "test-noarch-plain"]);
    let reqs = s.server.take_requests();
    assert_eq!(
        rpm_requests(&reqs),
        ["alpha-1.1-1.noarch.rpm", "delta-1.0-1.noarch.rpm"],
        "{out}"
    );
    // removed upstream but kept without --delete; metadata lists what is there
    assert_eq!(
        repoquery(&dest(&s, "plain")),
        [
            "alpha-1.0-1.noarch",
            "alpha-1.1-1.noarch",
            "beta-1.0-1.noarch",
            "delta-1.0-1.noarch",
            "gamma-1.0-1.noarch"
        ]
    );
    assert!(
        dest(&s, "plain")
            .join(Upstream::href("gamma-1.0"))
            .is_file()
    );

    // a snapshot freezes this state
    let snap = mirror_ok(
        &s.config,
        &["snapshot", "test-noarch-plain", "before-delete"],
    );
    let snap_dir = PathBuf::from(snap.trim().trim_start_matches("file://"));
    assert!(snap_dir.join("repodata/repomd.xml").is_file(), "{snap}");
    // hard links: the snapshot costs no space for packages
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(snap_dir.join(Upstream::href("gamma-1.0"))).unwrap();
    let b = std::fs::metadata(dest(&s, "plain").join(Upstream::href("gamma-1.0"))).unwrap();
    assert_eq!(a.ino(), b.ino());

    // 4. --delete removes what left upstream
    let out = mirror_ok(&s.config, &["sync", "--delete", "test-noarch-plain"]);
    assert!(out.contains("- gamma-1.0-1.noarch"), "{out}");
    assert!(rpm_requests(&s.server.take_requests()).is_empty());
    assert_eq!(
        repoquery(&dest(&s, "plain")),
        [
            "alpha-1.1-1.noarch",
            "beta-1.0-1.noarch",
            "delta-1.0-1.noarch"
        ]
    );
    assert!(!dest(&s, "plain").join(Upstream::href("gamma-1.0")).exists());
    // the snapshot still has everything
    assert_eq!(repoquery(&snap_dir).len(), 5);

    // 5. status and log tell what happened, also as JSON
    let st: serde_json::Value =
        serde_json::from_str(&mirror_ok(&s.config, &["status", "--json"])).unwrap();
    let rows = st.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert!(r["last_good"].is_string(), "{r}");
        assert!(r["last_error"].is_null(), "{r}");
    }
    let log: serde_json::Value = serde_json::from_str(&mirror_ok(
        &s.config,
        &["log", "test-noarch-plain", "--json"],
    ))
    .unwrap();
    let log = log.as_array().unwrap();
    let entries: Vec<&serde_json::Value> = log.iter().filter(|e| e["snapshot"].is_null()).collect();
    assert_eq!(entries.len(), 4, "{log:?}");
    assert_eq!(entries[1]["unchanged"], true);
    assert_eq!(
        entries[2]["added"],
        serde_json::json!(["delta-1.0-1.noarch"])
    );
    assert_eq!(
        entries[2]["updated"],
        serde_json::json!(["alpha-1.0-1.noarch -> alpha-1.1-1.noarch"])
    );
    assert_eq!(
        entries[3]["removed"],
        serde_json::json!(["gamma-1.0-1.noarch"])
    );
    let human = mirror_ok(&s.config, &["log", "test-noarch-plain"]);
    assert!(human.contains("+ delta-1.0-1.noarch"), "{human}");
}

#[test]
fn include_exclude_newest_only_rewrite_metadata() {
    let s = setup("exclude = [\"gamma*\"]\nnewest_only = true");
    s.plain
        .set(&["alpha-1.0", "alpha-1.1", "beta-1.0", "gamma-1.0"]);
    mirror_ok(&s.config, &["sync", "test-noarch-plain"]);
    let reqs = s.server.take_requests();
    assert_eq!(
        rpm_requests(&reqs),
        ["alpha-1.1-1.noarch.rpm", "beta-1.0-1.noarch.rpm"]
    );
    // our own metadata names exactly what is published
    assert_eq!(
        repoquery(&dest(&s, "plain")),
        ["alpha-1.1-1.noarch", "beta-1.0-1.noarch"]
    );

    // the filters change, upstream does not: the next sync applies them all the same
    let text = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, text.replace("exclude = [\"gamma*\"]\n", "")).unwrap();
    mirror_ok(&s.config, &["sync", "test-noarch-plain"]);
    assert_eq!(
        rpm_requests(&s.server.take_requests()),
        ["gamma-1.0-1.noarch.rpm"]
    );
    assert_eq!(
        repoquery(&dest(&s, "plain")),
        [
            "alpha-1.1-1.noarch",
            "beta-1.0-1.noarch",
            "gamma-1.0-1.noarch"
        ]
    );
}
