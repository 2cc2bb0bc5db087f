//! External repos: downloading a createrepo_c-made repo from a loopback HTTP server (and
//! the ways that fails), merging it like Koji does (compared with mergerepo_c itself),
//! and dnf resolving the merged repo's `xml:base` locations.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kkoji_repodata::{
    Error, MergeInput, MergeMode, PackageMeta, RepoMd, WriteOptions, merge_repos, read_remote_repo,
    read_repo, read_repomd, remote_repomd_timestamp, write_repo,
};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the test server answers for one path instead of the file.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    /// Declares `declared` bytes of Content-Length but sends only `body`, then closes.
    CutShort {
        body: Vec<u8>,
        declared: usize,
    },
}

/// A tiny HTTP/1.1 file server on loopback (one thread, one request per connection).
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    overrides: Arc<Mutex<HashMap<String, Reply>>>,
}

impl Server {
    fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let overrides: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let (root, l, o) = (root.to_path_buf(), log.clone(), overrides.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = handle(stream, &root, &l, &o);
            }
        });
        Server {
            port,
            log,
            overrides,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn set(&self, path: &str, reply: Reply) {
        self.overrides
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
    }

    fn clear(&self) {
        self.overrides.lock().unwrap().clear();
        self.log.lock().unwrap().clear();
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn handle(
    stream: TcpStream,
    root: &Path,
    log: &Mutex<Vec<String>>,
    overrides: &Mutex<HashMap<String, Reply>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = first
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    log.lock().unwrap().push(path.clone());
    let reply = overrides.lock().unwrap().get(&path).cloned();
    let mut out = stream;
    let (status, body, declared) = match reply {
        Some(Reply::Body(b)) => ("200 OK", b.clone(), b.len()),
        Some(Reply::CutShort { body, declared }) => ("200 OK", body, declared),
        None => match std::fs::read(root.join(&path)) {
            Ok(b) => {
                let n = b.len();
                ("200 OK", b, n)
            }
            Err(_) => ("404 Not Found", b"not found".to_vec(), 9),
        },
    };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
    )?;
    out.write_all(&body)?;
    out.flush()
}

/// The fixture RPMs with createrepo_c's repodata, under `root/ext/`.
fn createrepo_c_repo(root: &Path) -> PathBuf {
    let dir = root.join("ext");
    std::fs::create_dir_all(&dir).unwrap();
    link_tree(fixture_rpms(), &dir);
    createrepo_c(&dir, &dir, &[]);
    dir
}

fn record_path(md: &RepoMd, kind: &str) -> String {
    md.record(kind).unwrap().location_href.clone()
}

#[test]
fn reads_a_createrepo_c_repo_over_http_and_reports_failures() {
    let root = tmpdir();
    let ext = createrepo_c_repo(root.path());
    let server = Server::start(root.path());
    let base = server.url("ext");
    let dest = tmpdir();

    let expected = read_repo(&ext).unwrap();
    let got = read_remote_repo(&base, dest.path(), TIMEOUT).unwrap();
    assert_eq!(got, expected);
    assert_eq!(got.len(), 5);
    assert!(got.iter().any(|p| !p.changelogs.is_empty()));
    assert!(
        got.iter().any(|p| p
            .files
            .iter()
            .any(|f| f.path == "/usr/share/alpha/data.txt")),
        "filelists were read"
    );
    assert_eq!(
        server.requests().len(),
        4,
        "repomd + primary, filelists, other: {:?}",
        server.requests()
    );

    // unchanged upstream: only repomd.xml is fetched again
    server.clear();
    assert_eq!(
        read_remote_repo(&base, dest.path(), TIMEOUT).unwrap(),
        expected
    );
    assert_eq!(server.requests(), vec!["ext/repodata/repomd.xml"]);

    // the timestamp the regen daemon compares
    let md = read_repomd(&ext).unwrap();
    let newest = md.records.iter().map(|r| r.timestamp).max().unwrap();
    assert_eq!(remote_repomd_timestamp(&base, TIMEOUT).unwrap(), newest);
    assert_eq!(
        remote_repomd_timestamp(&format!("file://{}", ext.display()), TIMEOUT).unwrap(),
        newest
    );

    // file:// and plain paths are read in place
    let empty = tmpdir();
    assert_eq!(
        read_remote_repo(&format!("file://{}", ext.display()), empty.path(), TIMEOUT).unwrap(),
        expected
    );
    assert_eq!(
        read_remote_repo(ext.to_str().unwrap(), empty.path(), TIMEOUT).unwrap(),
        expected
    );

    let fresh = || tmpdir();
    let repomd_url = format!("{base}/repodata/repomd.xml");
    let repomd = std::fs::read(ext.join("repodata/repomd.xml")).unwrap();

    // a truncated repomd.xml (complete HTTP response, half a document)
    server.set(
        "ext/repodata/repomd.xml",
        Reply::Body(repomd[..repomd.len() / 2].to_vec()),
    );
    let err = read_remote_repo(&base, fresh().path(), TIMEOUT).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Remote { .. }), "{msg}");
    assert!(
        msg.starts_with(&repomd_url) && msg.contains("invalid repomd.xml"),
        "{msg}"
    );
    // ... and one whose connection closes before Content-Length bytes arrived
    server.set(
        "ext/repodata/repomd.xml",
        Reply::CutShort {
            body: repomd[..100].to_vec(),
            declared: repomd.len(),
        },
    );
    let msg = read_remote_repo(&base, fresh().path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with(&repomd_url), "{msg}");
    // not XML at all
    server.set(
        "ext/repodata/repomd.xml",
        Reply::Body(b"<html>oops".to_vec()),
    );
    let msg = read_remote_repo(&base, fresh().path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("invalid repomd.xml"), "{msg}");
    server.clear();

    // a metadata file whose content does not match repomd.xml (same size)
    let primary = record_path(&md, "primary");
    let mut bytes = std::fs::read(ext.join(&primary)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    server.set(&format!("ext/{primary}"), Reply::Body(bytes.clone()));
    let d = fresh();
    let msg = read_remote_repo(&base, d.path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(&format!("{base}/{primary}")) && msg.contains("checksum mismatch"),
        "{msg}"
    );
    assert!(
        !d.path().join("repodata/repomd.xml").exists(),
        "nothing published after a failed download"
    );
    // a metadata file cut short
    bytes.truncate(mid);
    server.set(&format!("ext/{primary}"), Reply::Body(bytes));
    let msg = read_remote_repo(&base, fresh().path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("truncated"), "{msg}");
    server.clear();

    // the previous good copy in `dest` survives a failed refresh
    server.set(&format!("ext/{primary}"), Reply::Body(b"garbage".to_vec()));
    std::fs::remove_file(dest.path().join(&primary)).unwrap();
    assert!(read_remote_repo(&base, dest.path(), TIMEOUT).is_err());
    server.clear();

    // wrong path: the HTTP status is named
    let msg = read_remote_repo(&server.url("nope"), fresh().path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/nope/repodata/repomd.xml") && msg.contains("HTTP status 404"),
        "{msg}"
    );

    // nobody listening
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/repo");
    let msg = read_remote_repo(&url, fresh().path(), TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(&format!("{url}/repodata/repomd.xml")) && msg.contains("unreachable"),
        "{msg}"
    );
    let msg = remote_repomd_timestamp(&url, TIMEOUT)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unreachable"), "{msg}");
}

#[test]
fn merged_repo_points_dnf_at_the_external_urls() {
    let root = tmpdir();
    createrepo_c_repo(root.path());
    let server = Server::start(root.path());
    let base = server.url("ext");
    let external = read_remote_repo(&base, tmpdir().path(), TIMEOUT).unwrap();

    // the tag builds beta itself: its own beta wins over the external one (koji mode)
    let local_dir = tmpdir();
    let beta = find_rpms_named(fixture_rpms(), "beta-");
    std::fs::create_dir_all(local_dir.path().join("noarch")).unwrap();
    std::fs::hard_link(&beta, local_dir.path().join("noarch/beta-1.0-1.noarch.rpm")).unwrap();
    let local = kkoji_repodata::read_packages(
        &kkoji_repodata::find_rpms(local_dir.path()).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let arch = std::env::consts::ARCH;
    let merged = merge_repos(
        vec![
            MergeInput {
                packages: local,
                mode: MergeMode::Koji,
                location_base: None,
                name: "tag".into(),
            },
            MergeInput {
                packages: external,
                mode: MergeMode::Koji,
                location_base: Some(format!("{base}/")),
                name: "ext".into(),
            },
        ],
        &HashSet::from(["uni".to_string()]),
        arch,
    );
    write_repo(local_dir.path(), &merged, &WriteOptions::default()).unwrap();
    // dnf 4.14's `repoquery --location` ignores xml:base (for mergerepo_c's output too),
    // so check what libsolv read, and that dnf really downloads from there.
    let bases = dnf_repoquery(
        local_dir.path(),
        &["--qf", "%{name} %{baseurl} %{location}"],
    );
    assert_eq!(
        bases,
        vec![
            format!("alpha {base} {arch}/alpha-1.2-3.{arch}.rpm"),
            "beta (none) noarch/beta-1.0-1.noarch.rpm".to_string(),
            format!("gamma {base} noarch/gamma-0.9-2.fc40.noarch.rpm"),
        ],
        "blocked uni and the external src RPM are left out"
    );
    server.clear();
    let dl = tmpdir();
    dnf_download(local_dir.path(), "gamma", dl.path());
    assert_eq!(
        server.requests(),
        vec!["ext/noarch/gamma-0.9-2.fc40.noarch.rpm"]
    );
    assert_eq!(
        std::fs::read(dl.path().join("gamma-0.9-2.fc40.noarch.rpm")).unwrap(),
        std::fs::read(root.path().join("ext/noarch/gamma-0.9-2.fc40.noarch.rpm")).unwrap()
    );
}

/// `dnf install --downloadonly` of one package from the repo at `repo` into `dest`.
fn dnf_download(repo: &Path, package: &str, dest: &Path) {
    require_tool("dnf", "dnf");
    let root = tmpdir();
    let conf = root.path().join("dnf.conf");
    std::fs::write(&conf, "[main]\n").unwrap();
    let out = Command::new("dnf")
        .args(["-q", "-y"])
        .arg(format!("--config={}", conf.display()))
        .arg("--setopt=reposdir=/dev/null")
        .arg(format!("--installroot={}", root.path().display()))
        .args(["--releasever=1", "--disableplugin=*"])
        .arg(format!("--repofrompath=t,file://{}", repo.display()))
        .args([
            "--repo=t",
            "--setopt=t.gpgcheck=0",
            "install",
            "--downloadonly",
        ])
        .arg(format!("--destdir={}", dest.display()))
        .arg(package)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dnf download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn find_rpms_named(dir: &Path, prefix: &str) -> PathBuf {
    kkoji_repodata::find_rpms(dir)
        .unwrap()
        .into_iter()
        .find(|f| {
            f.location_href
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap()
        .path
}

/// A metadata-only package (no RPM file behind it: neither the merge nor mergerepo_c
/// nor dnf's repoquery opens the packages).
fn meta(repo: &str, name: &str, evr: &str, arch: &str, srpm: &str) -> PackageMeta {
    use sha2::Digest;
    let (epoch, vr) = evr.split_once(':').unwrap_or(("0", evr));
    let (version, release) = vr.split_once('-').unwrap();
    let checksum = hex::encode(sha2::Sha256::digest(format!("{repo}/{name}-{evr}.{arch}")));
    PackageMeta {
        name: name.into(),
        arch: arch.into(),
        epoch: epoch.into(),
        version: version.into(),
        release: release.into(),
        checksum,
        checksum_type: "sha256".into(),
        summary: format!("{name} summary"),
        description: format!("{name} description"),
        sourcerpm: srpm.into(),
        location_href: format!("Packages/{name}-{version}-{release}.{arch}.rpm"),
        license: "MIT".into(),
        time_file: 1_700_000_000,
        time_build: 1_700_000_000,
        ..Default::default()
    }
}

/// (name-epoch:version-release.arch, xml:base) of every package of a repo.
fn identities(pkgs: &[PackageMeta]) -> BTreeSet<(String, String)> {
    pkgs.iter()
        .map(|p| {
            (
                p.nevra(),
                p.location_base
                    .clone()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn merge_modes_match_mergerepo_c() {
    require_tool("mergerepo_c", "createrepo-c");
    let root = tmpdir();
    let local = vec![
        meta("l", "foo", "2.0-1", "x86_64", "foo-2.0-1.src.rpm"),
        meta("l", "foo-libs", "2.0-1", "i686", "foo-2.0-1.src.rpm"),
        meta("l", "common", "1-1", "noarch", "common-1-1.src.rpm"),
    ];
    let ext1 = vec![
        meta("e1", "foo", "3.0-1", "x86_64", "foo-3.0-1.src.rpm"),
        meta("e1", "foo-extras", "3.0-1", "x86_64", "foo-3.0-1.src.rpm"),
        meta("e1", "bar", "1-1", "i686", "bar-1-1.src.rpm"),
        meta("e1", "bar", "1-1", "x86_64", "bar-1-1.src.rpm"),
        meta("e1", "bar", "1-1", "aarch64", "bar-1-1.src.rpm"),
        meta("e1", "bar", "1-1", "src", ""),
        meta("e1", "baz", "1.9-1", "noarch", "baz-1.9-1.src.rpm"),
        meta("e1", "baz", "1.10-1", "noarch", "baz-1.10-1.src.rpm"),
        meta("e1", "evil", "1-1", "noarch", "evil-1-1.src.rpm"),
        meta("e1", "dup", "1-1", "noarch", "dup-1-1.src.rpm"),
        meta("e1", "old", "1:1-1", "x86_64", "old-1-1.src.rpm"),
    ];
    let ext2 = vec![
        meta("e2", "bar", "2-1", "x86_64", "bar-2-1.src.rpm"),
        meta("e2", "qux", "1-1", "athlon", "qux-1-1.src.rpm"),
        meta("e2", "dup", "1-1", "noarch", "dup-1-1.src.rpm"),
        meta("e2", "old", "2:1-1", "x86_64", "old-1-1.src.rpm"),
        meta("e2", "common", "1-1", "noarch", "common-1-1.src.rpm"),
    ];
    let mut dirs = Vec::new();
    for (name, pkgs) in [("local", &local), ("ext1", &ext1), ("ext2", &ext2)] {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_repo(&dir, pkgs, &WriteOptions::default()).unwrap();
        dirs.push(dir);
    }
    let blocklist = root.path().join("blocklist");
    std::fs::write(&blocklist, "evil\n").unwrap();
    let blocked = HashSet::from(["evil".to_string()]);

    for (mode, flags) in [
        (MergeMode::Koji, &["--koji"][..]),
        (MergeMode::Simple, &["--koji", "--simple"][..]),
        (MergeMode::Bare, &["--pkgorigins", "--all"][..]),
    ] {
        let out = root.path().join(format!("out-{mode}"));
        let mut cmd = Command::new("mergerepo_c");
        cmd.args(flags);
        if mode != MergeMode::Bare {
            cmd.arg("-b").arg(&blocklist);
        }
        cmd.args(["-a", "x86_64", "--arch-expand", "--no-database", "-o"])
            .arg(&out);
        for d in &dirs {
            cmd.arg("-r").arg(format!("file://{}/", d.display()));
        }
        let res = cmd.output().unwrap();
        assert!(
            res.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        let theirs = identities(&read_repo(&out).unwrap());

        let inputs = [("local", &local), ("ext1", &ext1), ("ext2", &ext2)]
            .iter()
            .zip(&dirs)
            .enumerate()
            .map(|(i, ((name, pkgs), dir))| MergeInput {
                packages: pkgs.to_vec(),
                mode,
                location_base: (i > 0).then(|| format!("file://{}/", dir.display())),
                name: name.to_string(),
            })
            .collect();
        let ours = identities(&merge_repos(inputs, &blocked, "x86_64"));
        assert_eq!(ours, theirs, "{mode}");
        assert!(ours.len() > 6, "{mode}: {ours:?}");
    }
}
