//! Proxy login (`sslLogin(proxyuser=…)`) is for the configured DNs only, compared as parsed
//! subjects: a certificate whose single CN holds the text `kojiweb,O=kkoji` is not
//! `CN=kojiweb,O=kkoji`. Certificates here are
//! signed by the farm CA itself (any CA that signs user-chosen subjects could issue them).

mod common;

use common::Farm;
use koji_protocol::client::{ClientConfig, ClientError, KojiClient};
use koji_protocol::{Struct, Value, codes};
use rcgen::{CertificateParams, DistinguishedName, DnType, Issuer, KeyPair};

const PROXY_DN: &str = "CN=kojiweb,O=kkoji";

/// A client certificate from the farm CA with exactly `subject` (attribute order as given).
fn client_with_subject(farm: &Farm, subject: &[(DnType, &str)]) -> KojiClient {
    let certs = farm.dir.path().join("certs");
    let ca_pem = std::fs::read_to_string(certs.join("ca.crt")).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(certs.join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (t, v) in subject {
        dn.push(t.clone(), *v);
    }
    params.distinguished_name = dn;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let mut cfg = ClientConfig::new(farm.url.clone());
    cfg.ca_pem = Some(farm.ca_pem());
    cfg.identity_pem = Some(format!("{}{}", cert.pem(), key.serialize_pem()).into_bytes());
    KojiClient::new(cfg).unwrap()
}

async fn proxy_login(c: &KojiClient, as_user: &str) -> Result<Value, ClientError> {
    let mut kw = Struct::new();
    kw.insert("proxyuser".into(), as_user.into());
    c.call_kw("sslLogin", vec![], kw).await
}

fn auth_fault(r: Result<Value, ClientError>) -> String {
    match r {
        Err(ClientError::Fault(f)) => {
            assert_eq!(f.code, codes::AUTH, "{}", f.string);
            f.string
        }
        other => panic!("expected an AuthError, got {other:?}"),
    }
}

#[tokio::test]
async fn only_the_configured_subject_may_log_in_for_others() {
    let farm = Farm::start_with(|c| c.auth.proxy_dns = vec![PROXY_DN.to_string()]).await;
    let admin = farm.admin().await;
    let before = admin.call("listUsers", vec![]).await.unwrap();

    // the one-attribute forgery of the configured DN
    let forged = client_with_subject(&farm, &[(DnType::CommonName, "kojiweb,O=kkoji")]);
    let msg = auth_fault(proxy_login(&forged, "kojiadmin").await);
    assert!(msg.contains("not authorized to login other users"), "{msg}");
    // nothing was created by the refused logins
    assert_eq!(admin.call("listUsers", vec![]).await.unwrap(), before);

    // the real proxy (O=kkoji, CN=kojiweb) may
    let proxy = client_with_subject(
        &farm,
        &[
            (DnType::OrganizationName, "kkoji"),
            (DnType::CommonName, "kojiweb"),
        ],
    );
    let s = proxy_login(&proxy, "alice").await.unwrap();
    assert!(s.get("session-id").is_some(), "{s:?}");
}

/// Two CNs name two users (mod_ssl would take the first, a reader of the last another):
/// such a certificate logs in as nobody, neither directly nor as a proxy, and creates no user.
#[tokio::test]
async fn a_subject_with_two_common_names_logs_in_as_nobody() {
    let farm = Farm::start_with(|c| c.auth.proxy_dns = vec![PROXY_DN.to_string()]).await;
    let admin = farm.admin().await;
    let before = admin.call("listUsers", vec![]).await.unwrap();
    // rcgen keys its DN by attribute type, so the second CN goes in under CN's raw OID
    let second_cn = DnType::CustomDnType(vec![2, 5, 4, 3]);
    let two = client_with_subject(
        &farm,
        &[
            (DnType::OrganizationName, "kkoji"),
            (DnType::CommonName, "kojiweb"),
            (second_cn.clone(), "mallory"),
        ],
    );
    let msg = auth_fault(two.call("sslLogin", vec![]).await);
    assert!(msg.contains("more than one CN"), "{msg}");
    let msg = auth_fault(proxy_login(&two, "kojiadmin").await);
    assert!(msg.contains("more than one CN"), "{msg}");
    // the other order is refused too
    let swapped = client_with_subject(
        &farm,
        &[(second_cn, "kojiadmin"), (DnType::CommonName, "alice")],
    );
    let msg = auth_fault(swapped.call("sslLogin", vec![]).await);
    assert!(msg.contains("more than one CN"), "{msg}");
    assert_eq!(admin.call("listUsers", vec![]).await.unwrap(), before);
}
