//! The farm's certificates: CA (created once), a CRL from the first start (so
//! `kkoji-certs revoke` works on a running farm), the hub's server certificate for the
//! address it listens on, the admin's and the local builder's certificates. What exists is
//! kept, so restarting never invalidates certificates handed out.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use kkoji_certs::{CaPaths, CertKind};

use crate::layout::{ADMIN, LOCAL_BUILDER, Layout, SERVER_NAME};

/// Certificate files the configs name.
#[derive(Debug, Clone)]
pub struct FarmCerts {
    pub ca_cert: PathBuf,
    pub crl: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin_bundle: PathBuf,
    /// The local builder's host bundle, when there is a local builder.
    pub builder_bundle: Option<PathBuf>,
}

pub fn ensure(layout: &Layout, listen: SocketAddr, builder: bool) -> anyhow::Result<FarmCerts> {
    let cert_dir = layout.cert_dir();
    let paths = CaPaths::new(&cert_dir);
    let ca = if paths.ca_cert.exists() {
        kkoji_certs::load_ca(&cert_dir)?
    } else {
        println!("creating the farm CA in {}", cert_dir.display());
        kkoji_certs::init_ca(&cert_dir, "kkoji quickstart CA", 3650)?
    };
    let crl = kkoji_certs::lifecycle::ensure_crl(&cert_dir, 30)?;
    let server_cert = paths.server_cert(SERVER_NAME);
    let ip = listen.ip().to_string();
    let need_server = !server_cert.exists()
        || !std::fs::read_to_string(layout.server_ip()).is_ok_and(|s| s.trim() == ip);
    if need_server {
        let sans = vec![ip.clone(), "127.0.0.1".into(), "::1".into()];
        let issued = ca.issue_server(SERVER_NAME, &sans, 825)?;
        kkoji_certs::write_server_pair(&cert_dir, SERVER_NAME, &issued)?;
        crate::fsutil::write_atomic(&layout.server_ip(), ip.as_bytes())?;
    }
    let admin_bundle = paths.user_bundle(ADMIN);
    if !admin_bundle.exists() {
        let issued = ca.issue_user(ADMIN, 825)?;
        kkoji_certs::write_user_bundle(&cert_dir, CertKind::User, ADMIN, &issued)?;
    }
    let builder_bundle = if builder {
        let bundle = paths.host_bundle(LOCAL_BUILDER);
        if !bundle.exists() {
            let issued = ca.issue_host(LOCAL_BUILDER, 825)?;
            kkoji_certs::write_user_bundle(&cert_dir, CertKind::Host, LOCAL_BUILDER, &issued)
                .with_context(|| format!("the {LOCAL_BUILDER} certificate"))?;
        }
        Some(bundle)
    } else {
        None
    };
    Ok(FarmCerts {
        ca_cert: paths.ca_cert.clone(),
        crl,
        server_key: paths.server_key(SERVER_NAME),
        server_cert,
        admin_bundle,
        builder_bundle,
    })
}
