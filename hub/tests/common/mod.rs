//! A hub on a throwaway PostgreSQL database with its own CA, served in-process on a free
//! loopback port, and clients that talk to it over real TLS.
#![allow(dead_code)]

use kkoji_certs::{CaPaths, CertKind};
use kkoji_hub::config::{AuthConfig, DbConfig, HubConfig, LimitsConfig, TlsConfig};
use kkoji_hub::run::{RunningHub, start_background};
use kkoji_pgcluster::TestCluster;
use koji_protocol::client::{ClientConfig, KojiClient};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::OnceCell;

static CLUSTER: OnceCell<TestCluster> = OnceCell::const_new();

pub struct Farm {
    pub hub: RunningHub,
    pub dir: tempfile::TempDir,
    pub ca: kkoji_certs::Ca,
    pub url: String,
}

impl Farm {
    pub async fn start() -> Farm {
        Farm::start_with(|_| {}).await
    }

    /// Like [`Farm::start`], with the hub config adjusted by `tweak` first.
    pub async fn start_with(tweak: impl FnOnce(&mut HubConfig)) -> Farm {
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
        let mut config = HubConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            state_dir: dir.path().to_path_buf(),
            database_url: Some(db.clone()),
            files_listen: None,
            topdir: dir.path().join("koji"),
            bootstrap_admin: Some("kojiadmin".into()),
            bootstrap_hosts: Vec::new(),
            tls: TlsConfig {
                cert: paths.server_cert("localhost"),
                key: paths.server_dir.join("localhost.key"),
                client_ca: paths.ca_cert.clone(),
                crl: None,
            },
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            db: DbConfig {
                max_connections: 4,
                ..DbConfig::default()
            },
            scheduler: Default::default(),
            repos: Default::default(),
            notifications: Default::default(),
        };
        tweak(&mut config);
        let hub = start_background(config, &db).await.expect("hub");
        let url = format!("https://127.0.0.1:{}/kojihub", hub.addr.port());
        Farm { hub, dir, ca, url }
    }

    /// A second hub on the same database (as behind a load balancer); returns its URL.
    pub async fn second_hub(&self) -> (RunningHub, String) {
        let mut config = self.hub.hub.config.clone();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        let db = config.database_url.clone().expect("database url");
        let hub = start_background(config, &db).await.expect("second hub");
        let url = format!("https://127.0.0.1:{}/kojihub", hub.addr.port());
        (hub, url)
    }

    /// A client of `url` with `user`'s certificate.
    pub fn user_at(&self, url: &str, user: &str) -> KojiClient {
        let c = self.user(user);
        drop(c);
        let path = CaPaths::new(&self.dir.path().join("certs")).user_bundle(user);
        let mut cfg = ClientConfig::new(url.to_string());
        cfg.ca_pem = Some(self.ca_pem());
        cfg.identity_pem = Some(std::fs::read(path).expect("bundle"));
        KojiClient::new(cfg).expect("client")
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca.cert_pem().as_bytes().to_vec()
    }

    /// A client with no certificate (anonymous calls).
    pub fn anon(&self) -> KojiClient {
        self.client_with(None)
    }

    /// A client with a certificate for `user` issued by the farm CA.
    pub fn user(&self, user: &str) -> KojiClient {
        let certs = self.dir.path().join("certs");
        let path = CaPaths::new(&certs).user_bundle(user);
        if !path.exists() {
            let issued = self.ca.issue_user(user, 30).expect("user cert");
            kkoji_certs::write_user_bundle(&certs, CertKind::User, user, &issued).expect("bundle");
        }
        self.client_with(Some(std::fs::read(path).expect("bundle")))
    }

    pub fn client_with(&self, identity: Option<Vec<u8>>) -> KojiClient {
        let mut cfg = ClientConfig::new(self.url.clone());
        cfg.ca_pem = Some(self.ca_pem());
        cfg.identity_pem = identity;
        cfg.timeout = Duration::from_secs(30);
        KojiClient::new(cfg).expect("client")
    }

    pub async fn admin(&self) -> KojiClient {
        let c = self.user("kojiadmin");
        c.ssl_login().await.expect("admin login");
        c
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

/// Build `name-1.0-1` with rpmbuild in `dir`; returns (srpm, binary rpms).
pub fn rpmbuild(
    dir: &std::path::Path,
    name: &str,
    noarch: bool,
    build_script: &str,
) -> (PathBuf, Vec<PathBuf>) {
    let top = dir.join(format!("rpmbuild-{name}"));
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "BUILDROOT"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    let arch_line = if noarch { "BuildArch: noarch\n" } else { "" };
    let spec = format!(
        "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: test package\nLicense: MIT\n{arch_line}\n\
         %description\ntest\n\n%build\n{build_script}\n\n%install\nmkdir -p %{{buildroot}}/usr/share/{name}\n\
         echo hi > %{{buildroot}}/usr/share/{name}/hello\n\n%files\n/usr/share/{name}/hello\n"
    );
    let spec_path = top.join("SPECS").join(format!("{name}.spec"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = std::process::Command::new("rpmbuild")
        .arg("-ba")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg(&spec_path)
        .output()
        .expect("rpmbuild (install the rpm package)");
    assert!(
        out.status.success(),
        "rpmbuild failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let srpm = std::fs::read_dir(top.join("SRPMS"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut rpms = Vec::new();
    for arch in std::fs::read_dir(top.join("RPMS")).unwrap() {
        for f in std::fs::read_dir(arch.unwrap().path()).unwrap() {
            rpms.push(f.unwrap().path());
        }
    }
    (srpm, rpms)
}

/// Upload a file the way the stock client does: 1 MiB raw chunks, then checkUpload.
pub async fn upload(c: &KojiClient, dir: &str, file: &std::path::Path) -> String {
    let data = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut off = 0usize;
    loop {
        let end = (off + (1 << 20)).min(data.len());
        let chunk = bytes::Bytes::copy_from_slice(&data[off..end]);
        let r = c
            .raw_upload(dir, &name, off as i64, chunk, true)
            .await
            .unwrap();
        assert_eq!(
            r.get("size").and_then(koji_protocol::Value::as_i64),
            Some((end - off) as i64)
        );
        off = end;
        if off >= data.len() {
            break;
        }
    }
    let chk = c
        .call("checkUpload", vec![dir.into(), name.as_str().into()])
        .await
        .unwrap();
    assert_eq!(
        chk.get("size").and_then(koji_protocol::Value::as_i64),
        Some(data.len() as i64)
    );
    format!("{dir}/{name}")
}

/// A builder host: added by the admin, with its own certificate, logged in exclusively.
pub async fn host(
    farm: &Farm,
    admin: &KojiClient,
    name: &str,
    arches: &[&str],
    capacity: f64,
) -> KojiClient {
    host_at(farm, admin, &farm.url, name, arches, capacity).await
}

/// Like [`host`], logged in through the hub at `url`.
pub async fn host_at(
    farm: &Farm,
    admin: &KojiClient,
    url: &str,
    name: &str,
    arches: &[&str],
    capacity: f64,
) -> KojiClient {
    let arches: Vec<koji_protocol::Value> = arches.iter().map(|a| (*a).into()).collect();
    admin
        .call(
            "addHost",
            vec![name.into(), koji_protocol::Value::Array(arches)],
        )
        .await
        .unwrap();
    let mut kw = koji_protocol::Struct::new();
    kw.insert("capacity".into(), capacity.into());
    admin
        .call_kw("editHost", vec![name.into()], kw)
        .await
        .unwrap();
    let certs = farm.dir.path().join("certs");
    let issued = farm.ca.issue_host(name, 30).unwrap();
    let path = kkoji_certs::write_user_bundle(&certs, CertKind::Host, name, &issued).unwrap();
    let mut cfg = ClientConfig::new(url.to_string());
    cfg.ca_pem = Some(farm.ca_pem());
    cfg.identity_pem = Some(std::fs::read(path).unwrap());
    let c = KojiClient::new(cfg).unwrap();
    c.ssl_login().await.unwrap();
    c.call("exclusiveSession", vec![]).await.unwrap();
    c
}

/// The (code, text) of a fault; panics on success or a transport error.
pub fn fault<T: std::fmt::Debug>(
    r: Result<T, koji_protocol::client::ClientError>,
) -> (i32, String) {
    match r {
        Err(koji_protocol::client::ClientError::Fault(f)) => (f.code, f.string),
        other => panic!("expected a fault, got {other:?}"),
    }
}

/// Keyword arguments from pairs.
pub fn kw(pairs: &[(&str, koji_protocol::Value)]) -> koji_protocol::Struct {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// An int field of a struct answer; panics when it is missing.
pub fn int(v: &koji_protocol::Value, k: &str) -> i64 {
    v.get(k)
        .and_then(koji_protocol::Value::as_i64)
        .unwrap_or_else(|| panic!("{k} missing in {v:?}"))
}
