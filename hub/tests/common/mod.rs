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
        let config = HubConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            state_dir: dir.path().to_path_buf(),
            database_url: Some(db.clone()),
            topdir: dir.path().join("koji"),
            bootstrap_admin: Some("kojiadmin".into()),
            tls: TlsConfig {
                cert: paths.server_cert("localhost"),
                key: paths.server_dir.join("localhost.key"),
                client_ca: paths.ca_cert.clone(),
                crl: None,
            },
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            db: DbConfig { max_connections: 4 },
            scheduler: Default::default(),
        };
        let hub = start_background(config, &db).await.expect("hub");
        let url = format!("https://127.0.0.1:{}/kojihub", hub.addr.port());
        Farm { hub, dir, ca, url }
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
