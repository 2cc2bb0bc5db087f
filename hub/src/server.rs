//! HTTPS serving: our own accept loop (so each request can see the client certificate of
//! its connection), axum routes for the hub endpoints, graceful shutdown.

use crate::dispatch::{KOJI_VERSION, handle_xmlrpc};
use crate::domain::sessions::SessionHeaders;
use crate::hub::Hub;
use crate::tls::{PeerInfo, TlsSetup};
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use koji_protocol::encode_fault;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub fn router(hub: Arc<Hub>) -> Router {
    let files = tower_http::services::ServeDir::new(&hub.config.topdir);
    Router::new()
        .nest_service("/kojifiles", files)
        .route("/kojihub", post(xmlrpc).fallback(not_allowed))
        .route("/kojihub/ssllogin", post(xmlrpc).fallback(not_allowed))
        .fallback(not_found)
        .layer(axum::middleware::map_response(add_version_header))
        .with_state(hub)
}

async fn add_version_header(mut r: Response) -> Response {
    r.headers_mut()
        .insert("Koji-Version", HeaderValue::from_static(KOJI_VERSION));
    r
}

async fn not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [
            (header::ALLOW, "POST"),
            (header::CONTENT_TYPE, "text/plain"),
        ],
        "Method Not Allowed: the hub takes XML-RPC over POST\n",
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain")],
        "Not Found\n",
    )
        .into_response()
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn session_headers(headers: &HeaderMap, query: Option<&str>) -> SessionHeaders {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut s = SessionHeaders {
        id: h("Koji-Session-Id"),
        key: h("Koji-Session-Key"),
        callnum: h("Koji-Session-Callnum").or_else(|| h("Koji-Callnum")),
    };
    if !s.present()
        && let Some(q) = query
    {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            match k.as_ref() {
                "session-id" => s.id = Some(v.into_owned()),
                "session-key" => s.key = Some(v.into_owned()),
                "callnum" => s.callnum = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    s
}

async fn xmlrpc(
    State(hub): State<Arc<Hub>>,
    Extension(peer): Extension<Arc<PeerInfo>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let sh = session_headers(&headers, query.as_deref());
    let is_upload = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let timeout = Duration::from_secs_f64(hub.config.limits.body_timeout_secs);
    if is_upload {
        // the session and the destination are checked before a byte of the body is read
        return match crate::uploads::handle_raw_upload(hub, peer, sh, query, body).await {
            Ok(text) => xml(text),
            Err(text) => closing(xml(text)),
        };
    }
    // the stock hub's MaxRequestLength holds for every caller (anonymous included, as in
    // Koji); memory is bounded by it, the read deadline and the per-address limit
    let limit = hub.config.limits.max_request_length;
    let bytes = match crate::body::read(body, limit, timeout).await {
        Ok(b) => b,
        Err(e) => {
            let f = e.error("request").into_fault();
            tracing::info!(peer = %peer.addr, fault = %f.string, "refused request body");
            return closing(xml(encode_fault(&f)));
        }
    };
    xml(handle_xmlrpc(hub, peer, sh, &bytes).await)
}

/// The body was not read to its end: the connection cannot carry another request.
fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Open connections per client address; a slot is given back when its guard drops.
#[derive(Clone, Default)]
struct PerAddr(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

struct Slot(PerAddr, std::net::IpAddr);

impl PerAddr {
    fn take(&self, ip: std::net::IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Accept TLS connections until `shutdown` resolves, then let open connections finish
/// (up to 10 s).
pub async fn serve(
    hub: Arc<Hub>,
    tls: Arc<TlsSetup>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls.server_config.clone());
    let per_addr_max = hub.config.limits.max_connections_per_addr;
    let per_addr = PerAddr::default();
    let app = router(hub);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = per_addr.take(addr.ip(), per_addr_max) else {
            tracing::warn!(peer = %addr, max = per_addr_max, "too many connections from one address; refused");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let stream =
                match tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %addr, "TLS handshake timed out");
                        return;
                    }
                };
            let cert = tls.verify_peer(stream.get_ref().1.peer_certificates());
            let peer = Arc::new(PeerInfo { addr, cert });
            let svc = hyper_util::service::TowerToHyperService::new(app.layer(Extension(peer)));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.keep_alive(true).timer(TokioTimer::new());
            builder.header_read_timeout(Duration::from_secs(120));
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(peer = %addr, error = %e, "connection ended with error");
            }
        });
    }
    tracing::info!("no longer accepting connections; waiting for open ones");
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

/// The topdir over plain HTTP (`topurl`): the stock client downloads task output and builds
/// with a plain `requests` session that trusts only the system CAs, not the farm CA.
pub async fn serve_files(
    topdir: std::path::PathBuf,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = Router::new()
        .nest_service("/kojifiles", tower_http::services::ServeDir::new(topdir))
        .fallback(not_found)
        .layer(axum::middleware::map_response(add_version_header));
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "file server failed");
    }
}
