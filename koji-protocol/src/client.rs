//! Async Koji client for the builder daemon and the benchmark. It follows the
//! stock `koji.ClientSession` wire behaviour: `User-Agent: koji/1`, session
//! headers after `sslLogin`, one callnum per prepared request (a transport
//! retry re-sends the same callnum), faults mapped to `ClientError::Fault`.
//!
//! Callnums are handed out in call order; the hub rejects a callnum lower
//! than the last one it committed, so callers sharing one logged-in client
//! across tasks must not expect out-of-order writes to succeed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::decode::{DecodeError, Limits, Response, decode_response};
use crate::encode::encode_call;
use crate::fault::{Fault, codes};
use crate::kwargs::join_kwargs;
use crate::multicall::parse_multicall_result;
use crate::value::{Struct, Value};

/// Responses can legitimately be large (long listings), but a broken or
/// hostile hub must not make a builder buffer without bound.
const MAX_RESPONSE_BYTES: usize = 256 << 20;
/// Enough of an error body to diagnose a non-200 answer.
const MAX_ERROR_BODY: usize = 4096;
/// The first retry is immediate (like koji's); later ones wait this long.
/// Much shorter than koji's 20 s because our callers set small retry counts.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct ClientConfig {
    /// Hub URL, e.g. `https://127.0.0.1:8443/kojihub`.
    pub server: String,
    /// Trust roots (PEM). Required for `https://`; `None` is only valid for
    /// plain `http://` servers.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate chain and private key in one PEM, as koji's
    /// `cert =` file (PKCS#8, PKCS#1 or SEC1 key).
    pub identity_pem: Option<Vec<u8>>,
    /// Whole-request deadline (connect, send, receive the full body).
    pub timeout: Duration,
    /// Re-sends of the same request (same callnum) after transport errors.
    pub max_retries: u32,
}

/// Hand-written so the private key in `identity_pem` never reaches logs.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server", &self.server)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field(
                "identity_pem",
                &self.identity_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

impl ClientConfig {
    pub fn new(server: impl Into<String>) -> Self {
        ClientConfig {
            server: server.into(),
            ca_pem: None,
            identity_pem: None,
            timeout: Duration::from_secs(60),
            max_retries: 0,
        }
    }

    /// A daemon's client (builder, repo-regen): identity and CA read from PEM files as
    /// koji's `cert =` and `serverca =`, and a dropped keep-alive connection re-sent once or
    /// twice with the same callnum, as koji does.
    pub fn for_daemon(
        server: impl Into<String>,
        identity: &std::path::Path,
        ca: Option<&std::path::Path>,
        timeout: Duration,
    ) -> Result<Self, PemFileError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|err| PemFileError {
                path: p.to_path_buf(),
                err,
            })
        };
        let mut c = ClientConfig::new(server);
        c.identity_pem = Some(read(identity)?);
        c.ca_pem = ca.map(read).transpose()?;
        c.timeout = timeout;
        c.max_retries = 2;
        Ok(c)
    }
}

/// A certificate or CA file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {err}", path.display())]
pub struct PemFileError {
    pub path: std::path::PathBuf,
    pub err: std::io::Error,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Fault(#[from] Fault),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("bad response: {0}")]
    Decode(#[from] DecodeError),
    #[error("client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// The fault code if this is a fault, for `match`-free fallbacks such as
    /// "retry without the new kwarg on ParameterError".
    pub fn fault_code(&self) -> Option<i32> {
        match self {
            ClientError::Fault(f) => Some(f.code),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    session: Option<(i64, String)>,
    callnum: i64,
    hub_version: Option<String>,
}

struct Inner {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    server: String,
    xmlrpc_uri: Uri,
    login_uri: Uri,
    timeout: Duration,
    max_retries: u32,
    state: Mutex<State>,
}

/// Cheap to clone; clones share connections and the session.
#[derive(Clone)]
pub struct KojiClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KojiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KojiClient")
            .field("server", &self.inner.server)
            .finish_non_exhaustive()
    }
}

/// One prepared request: everything needed to (re-)send it identically.
struct Prepared {
    uri: Uri,
    content_type: &'static str,
    body: Bytes,
    session: Option<(HeaderValue, HeaderValue, HeaderValue)>,
}

impl KojiClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, ClientError> {
        let server = cfg.server.trim_end_matches('/').to_owned();
        let xmlrpc_uri: Uri = server
            .parse()
            .map_err(|e| ClientError::Config(format!("bad server URL {server:?}: {e}")))?;
        let login_uri: Uri = format!("{server}/ssllogin")
            .parse()
            .map_err(|e| ClientError::Config(format!("bad server URL {server:?}: {e}")))?;
        let https = match xmlrpc_uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(ClientError::Config(format!(
                    "server URL {server:?} must start with http:// or https://"
                )));
            }
        };
        if https && cfg.ca_pem.is_none() {
            return Err(ClientError::Config(
                "ca_pem is required for an https:// server".into(),
            ));
        }
        let tls = tls_config(cfg.ca_pem.as_deref(), cfg.identity_pem.as_deref())?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(cfg.timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(KojiClient {
            inner: Arc::new(Inner {
                http,
                server,
                xmlrpc_uri,
                login_uri,
                timeout: cfg.timeout,
                max_retries: cfg.max_retries,
                state: Mutex::new(State::default()),
            }),
        })
    }

    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, ClientError> {
        let body = encode_call(method, &params);
        let req = self.prepare(self.inner.xmlrpc_uri.clone(), "text/xml", body.into())?;
        self.send(req).await
    }

    pub async fn call_kw(
        &self,
        method: &str,
        params: Vec<Value>,
        kwargs: Struct,
    ) -> Result<Value, ClientError> {
        self.call(method, join_kwargs(params, kwargs)).await
    }

    /// `sslLogin(proxyuser=None)` at `<server>/ssllogin`; identity comes from
    /// the TLS client certificate. A fresh login carries no session headers.
    pub async fn ssl_login(&self) -> Result<(), ClientError> {
        let mut kw = Struct::new();
        kw.insert("proxyuser".into(), Value::Nil);
        let body = encode_call("sslLogin", &join_kwargs(Vec::new(), kw));
        let req = Prepared {
            uri: self.inner.login_uri.clone(),
            content_type: "text/xml",
            body: body.into(),
            session: None,
        };
        let v = self.send(req).await?;
        let id = v.get("session-id").and_then(Value::as_i64);
        let key = v.get("session-key").and_then(Value::as_str);
        let (Some(id), Some(key)) = (id, key) else {
            return Err(DecodeError::Malformed(format!(
                "sslLogin returned no session-id/session-key ({})",
                v.type_name()
            ))
            .into());
        };
        self.set_session(Some((id, key.to_owned())));
        Ok(())
    }

    /// `logout(session_id=None)`; the session is forgotten whatever the
    /// outcome, as koji does. AuthExpired counts as logged out.
    pub async fn logout(&self) -> Result<(), ClientError> {
        if self.session().is_none() {
            return Ok(());
        }
        let mut kw = Struct::new();
        kw.insert("session_id".into(), Value::Nil);
        let mut res = self.call_kw("logout", Vec::new(), kw).await;
        // Hubs predating the kwarg answer ParameterError; koji re-sends bare.
        if matches!(&res, Err(e) if e.fault_code() == Some(codes::PARAMETER)) {
            res = self.call("logout", Vec::new()).await;
        }
        self.set_session(None);
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.fault_code() == Some(codes::AUTH_EXPIRED) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One `multiCall` POST. Each entry's params must already carry any
    /// kwargs (see [`join_kwargs`]). An empty batch sends nothing.
    pub async fn multicall(
        &self,
        calls: Vec<(String, Vec<Value>)>,
    ) -> Result<Vec<Response>, ClientError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let n = calls.len();
        let entries = calls
            .into_iter()
            .map(|(name, params)| {
                let mut s = Struct::with_capacity(2);
                s.insert("methodName".into(), Value::String(name));
                s.insert("params".into(), Value::Array(params));
                Value::Struct(s)
            })
            .collect();
        let v = self.call("multiCall", vec![Value::Array(entries)]).await?;
        let results = parse_multicall_result(v)?;
        if results.len() != n {
            return Err(DecodeError::Malformed(format!(
                "multiCall returned {} results for {n} calls",
                results.len()
            ))
            .into());
        }
        Ok(results)
    }

    /// Raw chunk upload: an octet-stream POST to `<server>` with the
    /// parameters in the query string, answered in XML-RPC.
    pub async fn raw_upload(
        &self,
        filepath: &str,
        filename: &str,
        offset: i64,
        data: Bytes,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let mut url = String::with_capacity(self.inner.server.len() + 96);
        url.push_str(&self.inner.server);
        url.push_str("?filename=");
        quote_plus_into(&mut url, filename);
        url.push_str("&filepath=");
        quote_plus_into(&mut url, filepath);
        url.push_str("&fileverify=adler32&offset=");
        url.push_str(&offset.to_string());
        if overwrite {
            url.push_str("&overwrite=1");
        }
        let uri: Uri = url
            .parse()
            .map_err(|e| ClientError::Config(format!("bad upload URL: {e}")))?;
        let req = self.prepare(uri, "application/octet-stream", data)?;
        self.send(req).await
    }

    pub fn session(&self) -> Option<(i64, String)> {
        self.lock().session.clone()
    }

    /// Adopts an existing session (e.g. a builder subsession) or drops it;
    /// the callnum restarts at 0 as after a login.
    pub fn set_session(&self, session: Option<(i64, String)>) {
        let mut st = self.lock();
        st.session = session;
        st.callnum = 0;
    }

    /// The last `Koji-Version` header seen from the hub.
    pub fn hub_version(&self) -> Option<String> {
        self.lock().hub_version.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next callnum when logged in.
    fn prepare(
        &self,
        uri: Uri,
        content_type: &'static str,
        body: Bytes,
    ) -> Result<Prepared, ClientError> {
        let session = {
            let mut st = self.lock();
            match &st.session {
                Some((id, key)) => {
                    let (id, key) = (*id, key.clone());
                    let callnum = st.callnum;
                    st.callnum += 1;
                    Some((id, key, callnum))
                }
                None => None,
            }
        };
        let session = match session {
            Some((id, key, callnum)) => Some((
                HeaderValue::from(id),
                HeaderValue::from_str(&key)
                    .map_err(|_| ClientError::Config("session key is not a valid header".into()))?,
                HeaderValue::from(callnum),
            )),
            None => None,
        };
        Ok(Prepared {
            uri,
            content_type,
            body,
            session,
        })
    }

    async fn send(&self, req: Prepared) -> Result<Value, ClientError> {
        let mut attempt = 0u32;
        loop {
            match tokio::time::timeout(self.inner.timeout, self.send_once(&req)).await {
                Ok(Ok(body)) => {
                    let resp = decode_response(
                        &body,
                        &Limits {
                            max_bytes: MAX_RESPONSE_BYTES,
                            ..Limits::default()
                        },
                    )?;
                    return resp.map_err(ClientError::Fault);
                }
                Ok(Err(SendError::Fatal(e))) => return Err(e),
                Ok(Err(SendError::Retryable(msg))) => {
                    if attempt >= self.inner.max_retries {
                        return Err(ClientError::Transport(msg));
                    }
                }
                Err(_) => {
                    if attempt >= self.inner.max_retries {
                        return Err(ClientError::Transport(format!(
                            "request timed out after {:?}",
                            self.inner.timeout
                        )));
                    }
                }
            }
            if attempt > 0 {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Prepared) -> Result<Bytes, SendError> {
        let mut r = Request::builder()
            .method(Method::POST)
            .uri(req.uri.clone())
            .body(Full::new(req.body.clone()))
            .map_err(|e| SendError::Fatal(ClientError::Config(e.to_string())))?;
        let h: &mut HeaderMap = r.headers_mut();
        h.insert(USER_AGENT, HeaderValue::from_static("koji/1"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static(req.content_type));
        if let Some((id, key, callnum)) = &req.session {
            h.insert(HeaderName::from_static("koji-session-id"), id.clone());
            h.insert(HeaderName::from_static("koji-session-key"), key.clone());
            h.insert(
                HeaderName::from_static("koji-session-callnum"),
                callnum.clone(),
            );
        }
        let resp = self.inner.http.request(r).await.map_err(|e| classify(&e))?;
        let status = resp.status();
        if let Some(v) = resp.headers().get("koji-version")
            && let Ok(v) = v.to_str()
        {
            self.lock().hub_version = Some(v.to_owned());
        }
        let limit = if status == StatusCode::OK {
            MAX_RESPONSE_BYTES
        } else {
            MAX_ERROR_BODY * 4
        };
        let body = Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(|e| SendError::Retryable(format!("reading response: {e}")))?
            .to_bytes();
        if status != StatusCode::OK {
            let mut text = String::from_utf8_lossy(&body).into_owned();
            if text.len() > MAX_ERROR_BODY {
                let mut cut = MAX_ERROR_BODY;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            return Err(SendError::Fatal(ClientError::Http {
                status: status.as_u16(),
                body: text,
            }));
        }
        Ok(body)
    }
}

enum SendError {
    Retryable(String),
    Fatal(ClientError),
}

/// TLS failures (bad certificates) are not retried, as in koji: re-sending
/// cannot fix them. Everything else at the transport level may be.
fn classify(e: &hyper_util::client::legacy::Error) -> SendError {
    let mut msg = e.to_string();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    if caused_by_tls(e) {
        SendError::Fatal(ClientError::Transport(msg))
    } else {
        SendError::Retryable(msg)
    }
}

/// Looks through the cause chain, including `io::Error` wrappers (whose
/// `source()` skips the wrapped error), for a rustls error.
fn caused_by_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    for _ in 0..32 {
        let Some(x) = cur else { break };
        if x.is::<rustls::Error>() {
            return true;
        }
        cur = match x
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => x.source(),
        };
    }
    false
}

fn tls_config(
    ca_pem: Option<&[u8]>,
    identity_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| ClientError::Config(format!("ca_pem: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Config(format!("ca_pem: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ClientError::Config("ca_pem contains no certificate".into()));
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    match identity_pem {
        None => Ok(builder.with_no_client_auth()),
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::Config(format!("identity_pem: {e}")))?;
            if certs.is_empty() {
                return Err(ClientError::Config(
                    "identity_pem contains no certificate".into(),
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| ClientError::Config(format!("identity_pem private key: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| ClientError::Config(format!("identity_pem: {e}")))
        }
    }
}

/// `urllib.parse.quote_plus` as used by koji's `urlencode` for upload
/// parameters: unreserved characters stay, space becomes `+`, the rest
/// (including `/`) is percent-encoded.
fn quote_plus_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_plus_matches_python() {
        // urllib.parse.quote_plus('cli-build/1.2.Ab x/ž&=+')
        let mut s = String::new();
        quote_plus_into(&mut s, "cli-build/1.2.Ab x/ž&=+~");
        assert_eq!(s, "cli-build%2F1.2.Ab+x%2F%C5%BE%26%3D%2B~");
    }

    #[test]
    fn config_errors() {
        let e = KojiClient::new(ClientConfig::new("https://h/kojihub")).unwrap_err();
        assert!(matches!(e, ClientError::Config(_)));
        let e = KojiClient::new(ClientConfig::new("ftp://h/kojihub")).unwrap_err();
        assert!(matches!(e, ClientError::Config(_)));
        let mut cfg = ClientConfig::new("https://h/kojihub");
        cfg.ca_pem = Some(b"not pem".to_vec());
        assert!(matches!(KojiClient::new(cfg), Err(ClientError::Config(_))));
        assert!(KojiClient::new(ClientConfig::new("http://127.0.0.1:1/kojihub")).is_ok());
        let mut cfg = ClientConfig::new("http://h/kojihub");
        cfg.identity_pem = Some(b"-----BEGIN PRIVATE KEY-----secret".to_vec());
        assert!(!format!("{cfg:?}").contains("secret"));
    }
}
