//! A real hub on a throwaway PostgreSQL database with its own CA, served in-process on a
//! loopback port (as the hub's own tests do), plus the daemon's user and helpers to make
//! tags, hosts and repos the way builders would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use kkoji_certs::{CaPaths, CertKind};
use kkoji_hub::config::HubConfig;
use kkoji_hub::run::{RunningHub, start_background};
use kkoji_pgcluster::TestCluster;
use kkoji_repo_regen::{Config, Daemon};
use koji_protocol::client::{ClientConfig, KojiClient};
use koji_protocol::{Struct, Value};
use tokio::sync::OnceCell;

static CLUSTER: OnceCell<TestCluster> = OnceCell::const_new();

pub struct Farm {
    pub hub: RunningHub,
    pub dir: tempfile::TempDir,
    pub ca: kkoji_certs::Ca,
    pub url: String,
}

pub fn kw(pairs: &[(&str, Value)]) -> Struct {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub fn int(v: &Value, k: &str) -> i64 {
    v.get(k)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{k} missing in {v:?}"))
}

impl Farm {
    pub async fn start() -> Farm {
        Self::start_with("").await
    }

    /// A hub with `extra` appended to its TOML config (e.g. a `[repos]` section).
    pub async fn start_with(extra: &str) -> Farm {
        let cluster = CLUSTER
            .get_or_init(|| async { TestCluster::start().await.expect("test cluster") })
            .await;
        let db = cluster.fresh_database().await.expect("fresh database");
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let ca = kkoji_certs::init_ca(&certs, "test CA", 30).expect("CA");
        let server = ca
            .issue_server("localhost", &["127.0.0.1".to_string()], 30)
            .expect("server cert");
        kkoji_certs::write_server_pair(&certs, "localhost", &server).expect("server pair");
        let paths = CaPaths::new(&certs);
        // parsed from TOML so hub config keys added later keep their defaults here
        let text = format!(
            "listen = \"127.0.0.1:0\"\nstate_dir = {state:?}\ndatabase_url = {db:?}\n\
             topdir = {top:?}\nbootstrap_admin = \"kojiadmin\"\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\n\
             [db]\nmax_connections = 4\n{extra}\n",
            state = dir.path().display().to_string(),
            top = dir.path().join("koji").display().to_string(),
            cert = paths.server_cert("localhost").display().to_string(),
            key = paths.server_dir.join("localhost.key").display().to_string(),
            ca = paths.ca_cert.display().to_string(),
        );
        let config = HubConfig::parse(Path::new("test-hub.toml"), &text).expect("hub config");
        let hub = start_background(config, &db).await.expect("hub");
        let url = format!("https://127.0.0.1:{}/kojihub", hub.addr.port());
        Farm { hub, dir, ca, url }
    }

    pub fn topdir(&self) -> PathBuf {
        self.dir.path().join("koji")
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca.cert_pem().as_bytes().to_vec()
    }

    /// The PEM bundle of `user` (issued on first use).
    pub fn user_bundle(&self, user: &str) -> PathBuf {
        let certs = self.dir.path().join("certs");
        let path = CaPaths::new(&certs).user_bundle(user);
        if !path.exists() {
            let issued = self.ca.issue_user(user, 30).expect("user cert");
            kkoji_certs::write_user_bundle(&certs, CertKind::User, user, &issued).expect("bundle");
        }
        path
    }

    pub fn client_with(&self, identity: Option<Vec<u8>>) -> KojiClient {
        let mut cfg = ClientConfig::new(self.url.clone());
        cfg.ca_pem = Some(self.ca_pem());
        cfg.identity_pem = identity;
        cfg.timeout = Duration::from_secs(30);
        KojiClient::new(cfg).expect("client")
    }

    pub fn user(&self, user: &str) -> KojiClient {
        let path = self.user_bundle(user);
        self.client_with(Some(std::fs::read(path).expect("bundle")))
    }

    pub async fn admin(&self) -> KojiClient {
        let c = self.user("kojiadmin");
        c.ssl_login().await.expect("admin login");
        c
    }

    /// The daemon's user `kojira` with the `repo` permission (created by its first login).
    pub async fn regen_user(&self, admin: &KojiClient) -> PathBuf {
        let c = self.user("kojira");
        c.ssl_login().await.expect("kojira login");
        c.logout().await.expect("logout");
        admin
            .call("grantPermission", vec!["kojira".into(), "repo".into()])
            .await
            .expect("grant repo");
        self.user_bundle("kojira")
    }

    /// The daemon's config text for `cert`, with `extra` keys appended.
    pub fn config_text(&self, cert: &Path, extra: &str) -> String {
        let ca = self.dir.path().join("certs/ca.crt");
        if !ca.exists() {
            std::fs::write(&ca, self.ca_pem()).expect("ca file");
        }
        format!(
            "hub = {url:?}\nca = {ca:?}\ncert = {cert:?}\ntopdir = {top:?}\n{extra}\n",
            url = self.url,
            ca = ca.display().to_string(),
            cert = cert.display().to_string(),
            top = self.topdir().display().to_string(),
        )
    }

    /// A daemon for one pass (`Daemon::run_once`) with `extra` config keys.
    pub fn daemon(&self, cert: &Path, extra: &str) -> Daemon {
        let text = self.config_text(cert, extra);
        let cfg = Config::parse(Path::new("repo-regen.toml"), &text).expect("config");
        Daemon::new(cfg).expect("daemon")
    }
}

/// A builder host (added by the admin, own certificate, exclusive session). It is in no
/// createrepo channel, so the hub never hands it the newRepo tasks of requests.
pub async fn host(farm: &Farm, admin: &KojiClient, name: &str) -> KojiClient {
    admin
        .call(
            "addHost",
            vec![name.into(), Value::Array(vec!["x86_64".into()])],
        )
        .await
        .expect("addHost");
    let certs = farm.dir.path().join("certs");
    let issued = farm.ca.issue_host(name, 30).expect("host cert");
    let path =
        kkoji_certs::write_user_bundle(&certs, CertKind::Host, name, &issued).expect("bundle");
    let c = farm.client_with(Some(std::fs::read(path).expect("bundle")));
    c.ssl_login().await.expect("host login");
    c.call("exclusiveSession", vec![]).await.expect("exclusive");
    c
}

/// A READY repo of `tag` made the way a newRepo task does (repoInit, then repoDone with
/// no repodata); returns its id.
pub async fn ready_repo(h: &KojiClient, tag: &str) -> i64 {
    let r = h
        .call("host.repoInit", vec![tag.into()])
        .await
        .expect("repoInit");
    let id = r
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_i64)
        .expect("repo id");
    h.call(
        "host.repoDone",
        vec![id.into(), Value::Struct(Struct::new())],
    )
    .await
    .expect("repoDone");
    id
}

/// Something that changes the tag's content (and so its last change event).
pub async fn touch_tag(admin: &KojiClient, tag: &str, pkg: &str) {
    admin
        .call(
            "packageListAdd",
            vec![tag.into(), pkg.into(), "kojiadmin".into()],
        )
        .await
        .expect("packageListAdd");
}

pub async fn repo_state(c: &KojiClient, id: i64) -> i64 {
    let info = c.call("repoInfo", vec![id.into()]).await.expect("repoInfo");
    int(&info, "state")
}

/// Sets a directory's mtime `secs` into the past.
pub fn age_dir(p: &Path, secs: u64) {
    let t = std::time::SystemTime::now() - Duration::from_secs(secs);
    let f = std::fs::File::open(p).expect("open dir");
    f.set_times(std::fs::FileTimes::new().set_modified(t))
        .expect("set mtime");
}

/// A loopback HTTP server answering `GET <path>` with the current body (404 otherwise),
/// one connection at a time, until dropped.
pub struct Upstream {
    pub port: u16,
    body: std::sync::Arc<std::sync::Mutex<(String, Vec<u8>)>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    pub fn start(path: &str, body: &str) -> Upstream {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let body = std::sync::Arc::new(std::sync::Mutex::new((
            path.to_owned(),
            body.as_bytes().to_vec(),
        )));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b, s) = (body.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // bounded: at most 10 minutes, then the server stops by itself
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let mut conn = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let want = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (path, data) = b.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let (status, data) = if want == path {
                    ("200 OK", data)
                } else {
                    ("404 Not Found", b"not found".to_vec())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    data.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&data);
            }
        });
        Upstream {
            port,
            body,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set_body(&self, body: &str) {
        self.body.lock().unwrap_or_else(|e| e.into_inner()).1 = body.as_bytes().to_vec();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn repomd(ts: i64) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n  <revision>{ts}</revision>\n  \
         <data type=\"primary\">\n    <location href=\"repodata/p.xml.gz\"/>\n    \
         <timestamp>{ts}</timestamp>\n  </data>\n  <data type=\"filelists\">\n    \
         <location href=\"repodata/f.xml.gz\"/>\n    <timestamp>{}</timestamp>\n  </data>\n</repomd>\n",
        ts - 100
    )
}
