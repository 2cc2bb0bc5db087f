//! Test fixtures: RPMs made with rpmbuild (and signed with rpmsign and a throwaway GPG
//! key), upstream repos made with createrepo_c, a loopback HTTP server that counts
//! requests and injects faults, and the kkoji-mirror-sync binary.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kkoji-mirror-sync")
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Built once per test binary: `name-version` → RPM path, plus the signing key.
pub struct Rpms {
    pub dir: PathBuf,
    pub files: BTreeMap<String, PathBuf>,
    pub signed: BTreeMap<String, PathBuf>,
    pub gnupg: PathBuf,
    pub key: PathBuf,
    pub other_gnupg: PathBuf,
    _tmp: tempfile::TempDir,
}

/// Packages: (name, version, payload KiB).
pub const PKGS: &[(&str, &str, usize)] = &[
    ("alpha", "1.0", 8),
    ("alpha", "1.1", 8),
    ("beta", "1.0", 8),
    ("gamma", "1.0", 8),
    ("delta", "1.0", 256),
];

fn spec(name: &str, version: &str, kib: usize) -> String {
    format!(
        "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name} for mirror tests\n\
         License: MIT\nBuildArch: noarch\n\n%description\n{name} test package.\n\n\
         %install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
         head -c {bytes} /dev/urandom > %{{buildroot}}/usr/share/{name}/data\n\n\
         %files\n/usr/share/{name}/data\n\n%changelog\n* Mon Jan 01 2024 Test <t@example.com> - {version}-1\n- build\n",
        bytes = kib * 1024
    )
}

fn gen_key(home: &Path, uid: &str) {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    run_ok(Command::new("gpg").env("GNUPGHOME", home).args([
        "--batch",
        "--passphrase",
        "",
        "--quick-gen-key",
        uid,
        "rsa2048",
        "sign",
        "never",
    ]));
}

pub fn rpms() -> &'static Rpms {
    static R: OnceLock<Rpms> = OnceLock::new();
    R.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("rpmbuild");
        let specs = tmp.path().join("specs");
        std::fs::create_dir_all(&specs).unwrap();
        let mut paths = Vec::new();
        for (n, v, k) in PKGS {
            let p = specs.join(format!("{n}-{v}.spec"));
            std::fs::write(&p, spec(n, v, *k)).unwrap();
            paths.push(p);
        }
        run_ok(
            Command::new("rpmbuild")
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .arg("--quiet")
                .arg("-bb")
                .args(&paths),
        );
        let mut files = BTreeMap::new();
        for (n, v, _) in PKGS {
            let f = top.join(format!("RPMS/noarch/{n}-{v}-1.noarch.rpm"));
            assert!(f.is_file(), "{}", f.display());
            files.insert(format!("{n}-{v}"), f);
        }
        let gnupg = tmp.path().join("gnupg");
        gen_key(&gnupg, "kkoji mirror test <mirror@example.com>");
        let other_gnupg = tmp.path().join("gnupg-other");
        gen_key(&other_gnupg, "somebody else <else@example.com>");
        let key = tmp.path().join("RPM-GPG-KEY-test");
        let out = run_ok(Command::new("gpg").env("GNUPGHOME", &gnupg).args([
            "--armor",
            "--export",
            "mirror@example.com",
        ]));
        std::fs::write(&key, out.stdout).unwrap();
        let sdir = tmp.path().join("signed");
        std::fs::create_dir_all(&sdir).unwrap();
        let mut signed = BTreeMap::new();
        for (k, f) in &files {
            let d = sdir.join(f.file_name().unwrap());
            std::fs::copy(f, &d).unwrap();
            signed.insert(k.clone(), d);
        }
        run_ok(
            Command::new("rpmsign")
                .env("GNUPGHOME", &gnupg)
                .arg("--define")
                .arg("_gpg_name mirror@example.com")
                .arg("--define")
                .arg("__gpg /usr/bin/gpg")
                .arg("--addsign")
                .args(signed.values()),
        );
        Rpms {
            dir: tmp.path().to_path_buf(),
            files,
            signed,
            gnupg,
            key,
            other_gnupg,
            _tmp: tmp,
        }
    })
}

/// An upstream repo directory: put packages in, run createrepo_c, optionally sign.
pub struct Upstream {
    pub dir: PathBuf,
    pub signed: bool,
}

impl Upstream {
    pub fn new(dir: PathBuf, signed: bool) -> Upstream {
        std::fs::create_dir_all(dir.join("Packages")).unwrap();
        Upstream { dir, signed }
    }

    pub fn href(pkg: &str) -> String {
        format!("Packages/{pkg}-1.noarch.rpm")
    }

    /// Makes the repo contain exactly `pkgs` (`name-version`) and regenerates metadata.
    pub fn set(&self, pkgs: &[&str]) {
        let r = rpms();
        for e in std::fs::read_dir(self.dir.join("Packages")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        for p in pkgs {
            let src = if self.signed {
                &r.signed[*p]
            } else {
                &r.files[*p]
            };
            std::fs::copy(src, self.dir.join(Self::href(p))).unwrap();
        }
        self.createrepo();
    }

    pub fn createrepo(&self) {
        run_ok(
            Command::new("createrepo_c")
                .arg("-q")
                .arg("--no-database")
                .arg(&self.dir),
        );
        if self.signed {
            self.sign_repomd(&rpms().gnupg);
        }
    }

    pub fn sign_repomd(&self, gnupg: &Path) {
        let md = self.dir.join("repodata/repomd.xml");
        let asc = self.dir.join("repodata/repomd.xml.asc");
        let _ = std::fs::remove_file(&asc);
        run_ok(
            Command::new("gpg")
                .env("GNUPGHOME", gnupg)
                .args(["--batch", "--yes", "--armor", "--detach-sign", "-o"])
                .arg(&asc)
                .arg(&md),
        );
    }
}

/// What the server does to one path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Sends the headers for the whole file, then only this many bytes, then closes.
    CutAfter(usize),
    /// Answers with this status.
    Status(u16),
    /// Serves only the first N bytes, with a matching Content-Length.
    Truncate(usize),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub range: Option<String>,
}

/// A small HTTP/1.1 file server on 127.0.0.1 with Range support, a request log and faults.
pub struct Server {
    pub port: u16,
    root: PathBuf,
    pub requests: Arc<Mutex<Vec<Request>>>,
    pub faults: Arc<Mutex<HashMap<String, Fault>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let faults: Arc<Mutex<HashMap<String, Fault>>> = Arc::new(Mutex::new(HashMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, f, s, rt) = (
            requests.clone(),
            faults.clone(),
            stop.clone(),
            root.to_path_buf(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, f, rt) = (r.clone(), f.clone(), rt.clone());
                std::thread::spawn(move || serve(conn, &rt, &r, &f));
            }
        });
        Server {
            port,
            root: root.to_path_buf(),
            requests,
            faults,
            stop,
        }
    }

    pub fn url(&self, sub: &str) -> String {
        format!("http://127.0.0.1:{}/{sub}", self.port)
    }

    pub fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    pub fn fault(&self, path: &str, f: Fault) {
        self.faults.lock().unwrap().insert(path.to_owned(), f);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    root: &Path,
    log: &Mutex<Vec<Request>>,
    faults: &Mutex<HashMap<String, Fault>>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let mut range = None;
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("range:") {
                range = Some(v.trim().to_owned());
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let path = path.split('?').next().unwrap_or("/").to_owned();
        log.lock().unwrap().push(Request {
            path: path.clone(),
            range: range.clone(),
        });
        let fault = faults.lock().unwrap().get(&path).cloned();
        let rel = path.trim_start_matches('/');
        let file = root.join(rel);
        let data = if rel.split('/').any(|c| c == "..") {
            None
        } else {
            std::fs::read(&file).ok().filter(|_| file.is_file())
        };
        if let Some(Fault::Status(code)) = fault {
            let _ = write!(w, "HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\n\r\n");
            continue;
        }
        let Some(mut data) = data else {
            let _ = write!(w, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        };
        if let Some(Fault::Truncate(n)) = fault {
            data.truncate(n);
        }
        let mut start = 0usize;
        let mut status = "200 OK";
        if let Some(r) = &range
            && let Some(from) = r.strip_prefix("bytes=").and_then(|s| s.strip_suffix('-'))
            && let Ok(from) = from.parse::<usize>()
        {
            if from >= data.len() {
                let _ = write!(
                    w,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\n\r\n"
                );
                continue;
            }
            start = from;
            status = "206 Partial Content";
        }
        let body = &data[start..];
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
            body.len()
        );
        if start > 0 {
            head.push_str(&format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                data.len() - 1,
                data.len()
            ));
        }
        head.push_str("\r\n");
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        if let Some(Fault::CutAfter(n)) = fault {
            let _ = w.write_all(&body[..n.min(body.len())]);
            let _ = w.flush();
            let _ = w.shutdown(std::net::Shutdown::Both);
            return;
        }
        if w.write_all(body).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// Runs the mirror binary with a config.
pub fn mirror(config: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("-c")
        .arg(config)
        .args(args)
        .env("KKOJI_LOG", "warn")
        .output()
        .expect("run kkoji-mirror-sync")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn mirror_ok(config: &Path, args: &[&str]) -> String {
    let o = mirror(config, args);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every path under `dir` with its type, symlink target or content hash, mode, size and
/// mtime: equal before and after means nothing was written.
pub fn tree_hash(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let desc = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(base, &p, out);
                format!(
                    "dir {:o} {}",
                    m.mode(),
                    m.mtime_nsec() + m.mtime() * 1_000_000_000
                )
            } else {
                let mut h = Vec::new();
                std::fs::File::open(&p)
                    .unwrap()
                    .read_to_end(&mut h)
                    .unwrap();
                use sha2::Digest;
                format!(
                    "file {:o} {} {} {}",
                    m.mode(),
                    m.len(),
                    m.mtime_nsec() + m.mtime() * 1_000_000_000,
                    hex::encode(sha2::Sha256::digest(&h))
                )
            };
            out.insert(rel, desc);
        }
    }
    out.insert(
        ".".into(),
        format!(
            "{:?}",
            std::fs::symlink_metadata(dir).map(|m| m.mtime_nsec()).ok()
        ),
    );
    walk(dir, dir, &mut out);
    out
}

/// `dnf repoquery` against a local directory: the NEVRAs it lists.
pub fn repoquery(dir: &Path) -> Vec<String> {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(
        Command::new("dnf")
            .arg("-q")
            .arg("--disablerepo=*")
            .arg(format!("--repofrompath=m,file://{}", dir.display()))
            .arg("--enablerepo=m")
            .arg("--setopt=reposdir=/nonexistent")
            .arg(format!("--setopt=cachedir={}", cache.path().display()))
            .arg("--releasever=1")
            .args(["repoquery", "--qf", "%{name}-%{version}-%{release}.%{arch}"]),
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Paths of package requests (`/…/Packages/x.rpm`) in a request log.
pub fn rpm_requests(reqs: &[Request]) -> Vec<String> {
    let mut v: Vec<String> = reqs
        .iter()
        .filter(|r| r.path.ends_with(".rpm"))
        .map(|r| r.path.rsplit('/').next().unwrap_or("").to_owned())
        .collect();
    v.sort();
    v
}
