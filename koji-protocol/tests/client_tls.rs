//! The client over TLS with a client certificate (ring provider), against a
//! tokio-rustls + hyper server that requires client authentication.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use koji_protocol::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::CertificateDer;

struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_der: Vec<u8>,
    client_pem: String,
    client_der: Vec<u8>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&srv_key, &issuer)
        .unwrap();

    let cli_key = KeyPair::generate().unwrap();
    let mut cli_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    cli_params
        .distinguished_name
        .push(DnType::CommonName, "kojiadmin");
    let cli = cli_params.signed_by(&cli_key, &issuer).unwrap();

    Pki {
        ca_pem: ca_cert.pem(),
        server_chain: vec![srv.der().clone()],
        server_key_der: srv_key.serialize_der(),
        // koji's `cert =` layout: certificate and key in one file.
        client_pem: format!("{}{}", cli.pem(), cli_key.serialize_pem()),
        client_der: cli.der().to_vec(),
    }
}

type Peers = Arc<Mutex<Vec<Option<Vec<u8>>>>>;

async fn start_tls_hub(pki: &Pki) -> (SocketAddr, Peers, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let (ca, _) = rustls_pki_types::pem::PemObject::from_pem_slice(pki.ca_pem.as_bytes())
        .map(|c: CertificateDer<'static>| (c, ()))
        .unwrap();
    roots.add(ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki.server_chain.clone(),
            rustls_pki_types::PrivatePkcs8KeyDer::from(pki.server_key_der.clone()).into(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peers: Peers = Arc::default();
    let accepts = Arc::new(AtomicUsize::new(0));
    let (peers2, accepts2) = (peers.clone(), accepts.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            accepts2.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let peers = peers2.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = tls.get_ref().1.peer_certificates().map(|c| c[0].to_vec());
                peers.lock().unwrap().push(peer);
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let path = req.uri().path().to_owned();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let call = decode_call(&body, &Limits::default()).unwrap();
                    let v = match (path.as_str(), call.method.as_str()) {
                        ("/kojihub/ssllogin", "sslLogin") => {
                            kstruct! {"session-id" => 1, "session-key" => "1-k", "header-auth" => true}
                        }
                        _ => Value::from(call.method),
                    };
                    Ok::<_, std::convert::Infallible>(
                        Response::builder()
                            .header("Koji-Version", "1.36.1")
                            .body(Full::new(Bytes::from(encode_response(&v))))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (addr, peers, accepts)
}

fn cfg(addr: SocketAddr, pki: &Pki, identity: bool) -> ClientConfig {
    ClientConfig {
        server: format!("https://{addr}/kojihub"),
        ca_pem: Some(pki.ca_pem.clone().into_bytes()),
        identity_pem: identity.then(|| pki.client_pem.clone().into_bytes()),
        timeout: Duration::from_secs(10),
        max_retries: 2,
    }
}

#[tokio::test]
async fn ssl_login_with_client_certificate() {
    let pki = pki();
    let (addr, peers, _) = start_tls_hub(&pki).await;
    let c = KojiClient::new(cfg(addr, &pki, true)).unwrap();
    c.ssl_login().await.unwrap();
    assert_eq!(c.session(), Some((1, "1-k".to_owned())));
    assert_eq!(c.call("hello", vec![]).await.unwrap(), Value::from("hello"));
    assert_eq!(c.hub_version().as_deref(), Some("1.36.1"));
    let peers = peers.lock().unwrap();
    // One keep-alive connection carried both calls.
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].as_deref(), Some(&pki.client_der[..]));
}

#[tokio::test]
async fn missing_client_certificate_is_a_transport_error() {
    let pki = pki();
    let (addr, _, _) = start_tls_hub(&pki).await;
    let c = KojiClient::new(cfg(addr, &pki, false)).unwrap();
    match c.ssl_login().await {
        Err(ClientError::Transport(msg)) => assert!(!msg.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn untrusted_server_is_not_retried() {
    let pki = pki();
    let other = self::pki();
    let (addr, _, accepts) = start_tls_hub(&pki).await;
    // Trust roots from another CA: certificate verification must fail.
    let mut c = cfg(addr, &pki, true);
    c.ca_pem = Some(other.ca_pem.into_bytes());
    let c = KojiClient::new(c).unwrap();
    let r = c.call("hello", vec![]).await;
    assert!(matches!(r, Err(ClientError::Transport(_))));
    assert_eq!(
        accepts.load(Ordering::SeqCst),
        1,
        "TLS errors must not be retried"
    );
}
