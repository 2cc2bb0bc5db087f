//! PKCS#12 export, so a user can import their certificate into a browser and use the web UI
//! with the same identity as the koji CLI.

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::KeyPair;

use crate::CertError;
use crate::inspect::{first_cert_der, parse_der};

/// Builds a password-protected `.p12` holding the key, the certificate and the CA (as the chain
/// root, so browsers can show where the identity comes from). Encryption is the crate default:
/// PBES2/AES-256 with an HMAC-SHA256 MAC, which current Firefox, Chrome and openssl 3 read.
/// `friendly_name` is the label browsers show in their certificate lists.
pub fn export_p12(
    issued_cert_pem: &str,
    key_pem: &str,
    ca_pem: &str,
    password: &str,
    friendly_name: &str,
) -> Result<Vec<u8>, CertError> {
    let cert_der = first_cert_der(issued_cert_pem, "certificate")?;
    let ca_der = first_cert_der(ca_pem, "CA certificate")?;
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| CertError::parse("private key", format!("not a usable key: {e}")))?;
    let leaf = parse_der(&cert_der, "certificate")?;
    // A mismatched pair would import fine and then fail every TLS handshake; catch it here.
    if leaf.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(CertError::parse(
            "private key",
            "does not belong to the certificate",
        ));
    }
    let p12_err = |what: &str, e: p12_keystore::error::Error| CertError::parse(what, e);
    let leaf_cert = Certificate::from_der(&cert_der).map_err(|e| p12_err("certificate", e))?;
    let ca_cert = Certificate::from_der(&ca_der).map_err(|e| p12_err("CA certificate", e))?;
    let p12_key =
        PrivateKey::from_der(&key.serialize_der()).map_err(|e| p12_err("private key", e))?;
    // The local key id ties the key bag to its certificate bag; the serial is unique per CA.
    let local_key_id = leaf.raw_serial().to_vec();
    let chain = PrivateKeyChain::new(local_key_id, p12_key, [leaf_cert, ca_cert]);
    let mut store = KeyStore::new();
    store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .write()
        .map_err(|e| CertError::Generate(format!("writing PKCS#12: {e}")))
}
