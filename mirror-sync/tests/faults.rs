//! Faults: a download cut off mid-file (resumed on the next run), a package whose checksum
//! does not match, 404 on one mirror (failover) and on all, a truncated or badly signed
//! repomd.xml, an unreachable upstream, a full disk. Each time the previous published tree
//! stays intact and readable by dnf, the error names the repo and the file, and the other
//! repos still sync.

mod common;

use std::path::PathBuf;

use common::*;

struct Setup {
    _tmp: tempfile::TempDir,
    www: PathBuf,
    server: Server,
    plain: Upstream,
    signed: Upstream,
    config: PathBuf,
}

fn setup_with(www: Option<PathBuf>, plain_urls: &[String]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let up = root.join("upstream");
    let plain = Upstream::new(up.join("plain"), false);
    let signed = Upstream::new(up.join("signed"), true);
    plain.set(&["alpha-1.0", "beta-1.0"]);
    signed.set(&["alpha-1.0", "beta-1.0"]);
    std::os::unix::fs::symlink(up.join("plain"), up.join("mirror2")).unwrap();
    let server = Server::start(&up);
    let www = www.unwrap_or_else(|| root.join("www"));
    let urls: Vec<String> = if plain_urls.is_empty() {
        vec![server.url("plain/")]
    } else {
        plain_urls
            .iter()
            .map(|u| u.replace("SERVER/", &server.url("")))
            .collect()
    };
    let config = root.join("mirror.toml");
    std::fs::write(
        &config,
        format!(
            r#"www_dir = "{www}"
state_dir = "{www}/.state"
retries = 0
timeout_secs = 10

[[repo]]
dist = "test"
repo = "plain"
arches = ["noarch"]
urls = {urls:?}

[[repo]]
dist = "test"
repo = "signed"
arches = ["noarch"]
urls = ["{signed}"]
gpg_keys = ["{key}"]
gpgcheck = true
"#,
            www = www.display(),
            signed = server.url("signed/"),
            key = rpms().key.display(),
        ),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        www,
        server,
        plain,
        signed,
        config,
    }
}

fn setup() -> Setup {
    setup_with(None, &[])
}

fn plain_dest(s: &Setup) -> PathBuf {
    s.www.join("test-noarch/RPMS.plain")
}

/// Runs a sync that must fail for `label` only, and returns its combined output.
fn sync_fails(s: &Setup, label: &str) -> String {
    let o = mirror(&s.config, &["sync"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(3), "{t}");
    assert!(t.contains(&format!("{label}: FAILED")), "{t}");
    assert!(t.contains(&format!("repo(s) failed: {label}")), "{t}");
    t
}

const OLD: [&str; 2] = ["alpha-1.0-1.noarch", "beta-1.0-1.noarch"];

#[test]
fn cut_off_download_resumes_on_next_run() {
    let s = setup();
    mirror_ok(&s.config, &["sync"]);
    s.plain.set(&["alpha-1.0", "beta-1.0", "delta-1.0"]);
    let delta = "/plain/Packages/delta-1.0-1.noarch.rpm";
    s.server.fault(delta, Fault::CutAfter(100_000));
    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("Packages/delta-1.0-1.noarch.rpm"), "{t}");
    assert_eq!(repoquery(&plain_dest(&s)), OLD);

    s.server.clear_faults();
    s.server.take_requests();
    mirror_ok(&s.config, &["sync"]);
    let reqs = s.server.take_requests();
    let d: Vec<_> = reqs.iter().filter(|r| r.path == delta).collect();
    assert_eq!(d.len(), 1, "{reqs:?}");
    assert_eq!(d[0].range.as_deref(), Some("bytes=100000-"));
    assert_eq!(repoquery(&plain_dest(&s)).len(), 3);
}

#[test]
fn checksum_mismatch_fails_one_repo_others_sync() {
    let s = setup();
    mirror_ok(&s.config, &["sync"]);
    s.plain.set(&["alpha-1.0", "beta-1.0", "delta-1.0"]);
    // same size, different bytes than the metadata says
    let f = s.plain.dir.join(Upstream::href("delta-1.0"));
    let mut data = std::fs::read(&f).unwrap();
    let n = data.len();
    data[n - 10] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    s.signed.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);

    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("Packages/delta-1.0-1.noarch.rpm"), "{t}");
    assert!(t.contains("checksum mismatch"), "{t}");
    assert_eq!(repoquery(&plain_dest(&s)), OLD);
    // the other repo went on
    assert_eq!(
        repoquery(&s.www.join("test-noarch/RPMS.signed")).len(),
        3,
        "{t}"
    );
    let st = mirror_ok(&s.config, &["status"]);
    assert!(st.contains("LAST ATTEMPT FAILED"), "{st}");
}

#[test]
fn not_found_fails_over_to_the_next_mirror_and_fails_when_all_miss() {
    let s = setup_with(
        None,
        &["SERVER/plain/".to_string(), "SERVER/mirror2/".to_string()],
    );
    mirror_ok(&s.config, &["sync"]);
    s.plain.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);
    s.server
        .fault("/plain/Packages/gamma-1.0-1.noarch.rpm", Fault::Status(404));
    s.server.take_requests();
    mirror_ok(&s.config, &["sync"]);
    let got: Vec<String> = s
        .server
        .take_requests()
        .into_iter()
        .filter(|r| r.path.ends_with("gamma-1.0-1.noarch.rpm"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        got,
        [
            "/plain/Packages/gamma-1.0-1.noarch.rpm",
            "/mirror2/Packages/gamma-1.0-1.noarch.rpm"
        ]
    );
    assert_eq!(repoquery(&plain_dest(&s)).len(), 3);

    s.plain
        .set(&["alpha-1.0", "beta-1.0", "gamma-1.0", "delta-1.0"]);
    for m in ["plain", "mirror2"] {
        s.server.fault(
            &format!("/{m}/Packages/delta-1.0-1.noarch.rpm"),
            Fault::Status(404),
        );
    }
    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("Packages/delta-1.0-1.noarch.rpm"), "{t}");
    assert!(t.contains("404"), "{t}");
    assert_eq!(repoquery(&plain_dest(&s)).len(), 3);
}

#[test]
fn truncated_or_badly_signed_repomd_keeps_the_tree() {
    let s = setup();
    mirror_ok(&s.config, &["sync"]);
    s.plain.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);
    s.server
        .fault("/plain/repodata/repomd.xml", Fault::Truncate(200));
    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("repomd.xml"), "{t}");
    assert!(t.contains("truncated") || t.contains("invalid"), "{t}");
    assert_eq!(repoquery(&plain_dest(&s)), OLD);
    s.server.clear_faults();

    // signed by a key we do not trust
    s.signed.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);
    s.signed.sign_repomd(&rpms().other_gnupg);
    let t = sync_fails(&s, "test-noarch-signed");
    assert!(t.contains("repomd.xml"), "{t}");
    assert!(t.contains("signature does not verify"), "{t}");
    let signed_dest = s.www.join("test-noarch/RPMS.signed");
    assert_eq!(repoquery(&signed_dest), OLD);

    // repomd.xml changed after it was signed
    s.signed.sign_repomd(&rpms().gnupg);
    let md = s.signed.dir.join("repodata/repomd.xml");
    let text_md = std::fs::read_to_string(&md).unwrap();
    std::fs::write(&md, text_md.replacen("<revision>", "<revision>9", 1)).unwrap();
    let t = sync_fails(&s, "test-noarch-signed");
    assert!(t.contains("signature does not verify"), "{t}");
    assert_eq!(repoquery(&signed_dest), OLD);

    // no signature at all
    s.signed.set(&["alpha-1.0", "beta-1.0", "gamma-1.0"]);
    std::fs::remove_file(s.signed.dir.join("repodata/repomd.xml.asc")).unwrap();
    let t = sync_fails(&s, "test-noarch-signed");
    assert!(t.contains("repomd.xml.asc"), "{t}");
    assert_eq!(repoquery(&signed_dest), OLD);

    // a signed repomd.xml, but one package without a signature (gpgcheck = true)
    std::fs::copy(
        &rpms().files["gamma-1.0"],
        s.signed.dir.join(Upstream::href("gamma-1.0")),
    )
    .unwrap();
    s.signed.createrepo();
    let t = sync_fails(&s, "test-noarch-signed");
    assert!(
        t.contains("gamma-1.0-1.noarch.rpm: package signature"),
        "{t}"
    );
    assert!(t.contains("not signed"), "{t}");
    assert_eq!(repoquery(&signed_dest), OLD);
}

#[test]
fn mirrorlist_metalink_and_rsync_upstreams() {
    let s = setup();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let up = s.plain.dir.parent().unwrap().to_path_buf();
    // a mirror list whose first mirror is down, and a metalink
    std::fs::write(
        up.join("mirrorlist"),
        format!(
            "# mirrors\nhttp://127.0.0.1:{closed}/plain/\n{}\n",
            s.server.url("plain/")
        ),
    )
    .unwrap();
    std::fs::write(
        up.join("metalink"),
        format!(
            "<?xml version=\"1.0\"?><metalink><files><file name=\"repomd.xml\"><resources>\
             <url protocol=\"http\">{}repodata/repomd.xml</url></resources></file></files></metalink>",
            s.server.url("mirror2/")
        ),
    )
    .unwrap();
    // rsync daemon on loopback serving the same upstream
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rconf = s.www.parent().unwrap().join("rsyncd.conf");
    std::fs::write(
        &rconf,
        format!(
            "use chroot = false\n[up]\npath = {}\nread only = true\n",
            up.display()
        ),
    )
    .unwrap();
    let mut daemon = std::process::Command::new("rsync")
        .args(["--daemon", "--no-detach", "--address=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--config={}", rconf.display()))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "rsync daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let config = s.www.parent().unwrap().join("lists.toml");
    std::fs::write(
        &config,
        format!(
            "www_dir = \"{www}\"\nretries = 0\n\n[[repo]]\ndist = \"ml\"\narches = [\"noarch\"]\nmirrorlist = \"{ml}\"\n\n\
             [[repo]]\ndist = \"mlk\"\narches = [\"noarch\"]\nmetalink = \"{mk}\"\n\n\
             [[repo]]\ndist = \"rs\"\narches = [\"noarch\"]\nurls = [\"rsync://127.0.0.1:{port}/up/plain/\"]\n",
            www = s.www.display(),
            ml = s.server.url("mirrorlist"),
            mk = s.server.url("metalink"),
        ),
    )
    .unwrap();
    let out = mirror(&config, &["sync"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(out.status.success(), "{}", text(&out));
    for d in ["ml", "mlk", "rs"] {
        assert_eq!(
            repoquery(&s.www.join(format!("{d}-noarch/RPMS.os"))),
            OLD,
            "{d}"
        );
    }
}

#[test]
fn unreachable_upstream_fails_that_repo_only() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let s = setup_with(None, &[format!("http://127.0.0.1:{closed}/plain/")]);
    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("unreachable"), "{t}");
    assert!(
        t.contains(&format!("127.0.0.1:{closed}/plain/repodata/repomd.xml")),
        "{t}"
    );
    assert_eq!(repoquery(&s.www.join("test-noarch/RPMS.signed")), OLD);
    assert!(!plain_dest(&s).exists());
}

/// A size-limited tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_keeps_the_tree() {
    let mnt_parent = tempfile::tempdir().unwrap();
    let mnt = mnt_parent.path().join("www");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=200k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    let _guard = Tmpfs(mnt.clone());
    let s = setup_with(Some(mnt.clone()), &[]);
    mirror_ok(&s.config, &["sync"]);
    s.plain.set(&["alpha-1.0", "beta-1.0", "delta-1.0"]);
    let t = sync_fails(&s, "test-noarch-plain");
    assert!(t.contains("delta-1.0-1.noarch.rpm"), "{t}");
    assert!(t.contains("No space left on device"), "{t}");
    assert_eq!(repoquery(&plain_dest(&s)), OLD);
    drop(s);
}
