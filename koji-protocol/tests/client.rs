//! Client behaviour against a tiny in-process plain-HTTP hub.

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

#[derive(Debug, Clone)]
struct Seen {
    path_and_query: String,
    headers: hyper::HeaderMap,
    method: Option<String>,
    params: Vec<Value>,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn callnum(&self) -> Option<i64> {
        self.header("koji-session-callnum")
            .and_then(|v| v.parse().ok())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Fake hub: answers by method name; `drop_first` requests are answered by
/// killing the connection, to exercise transport retries.
async fn start_hub(drop_first: usize) -> (SocketAddr, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let dropped = Arc::new(AtomicUsize::new(0));
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log2.clone();
            let dropped = dropped.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    let dropped = dropped.clone();
                    async move {
                        let r = handle(req, &log).await;
                        if dropped.fetch_add(1, Ordering::SeqCst) < drop_first {
                            return Err("drop connection");
                        }
                        Ok::<_, &str>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, log)
}

async fn handle(req: Request<Incoming>, log: &Log) -> Response<Full<Bytes>> {
    let path_and_query = req.uri().path_and_query().unwrap().to_string();
    let headers = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let is_upload = headers.get("content-type").unwrap() == "application/octet-stream";
    let (method, params) = if is_upload {
        (None, vec![])
    } else {
        let c = decode_call(&body, &Limits::default()).unwrap();
        (Some(c.method), c.params)
    };
    let seen = Seen {
        path_and_query,
        headers,
        method: method.clone(),
        params: params.clone(),
        body,
    };
    log.lock().unwrap().push(seen);
    let (status, text) = match method.as_deref() {
        None => (
            200,
            encode_response(&kstruct! {"size" => 5, "hexdigest" => "05c801f0"}),
        ),
        Some("sslLogin") => (
            200,
            encode_response(
                &kstruct! {"session-id" => 7, "session-key" => "1-abc", "header-auth" => true},
            ),
        ),
        Some("echo") => (200, encode_response(&Value::Array(params))),
        Some("fail") => (
            200,
            encode_fault(&Fault::action_not_allowed("admin permission required")),
        ),
        Some("boom") => (500, "Internal Server Error".to_owned()),
        Some("multiCall") => {
            let calls = params[0].as_array().unwrap();
            let out = calls
                .iter()
                .map(|c| match c.get("methodName").and_then(Value::as_str) {
                    Some("hello") => multicall_ok("Hello World".into()),
                    other => multicall_fault(&Fault::generic(format!(
                        "Invalid method: {}",
                        other.unwrap()
                    ))),
                })
                .collect();
            (200, encode_response(&Value::Array(out)))
        }
        Some(_) => (200, encode_response(&Value::Nil)),
    };
    Response::builder()
        .status(status)
        .header("Content-Type", "text/xml")
        .header("Koji-Version", "1.36.1")
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}

fn client(addr: SocketAddr, retries: u32) -> KojiClient {
    KojiClient::new(ClientConfig {
        server: format!("http://{addr}/kojihub"),
        ca_pem: None,
        identity_pem: None,
        timeout: Duration::from_secs(10),
        max_retries: retries,
    })
    .unwrap()
}

#[tokio::test]
async fn anonymous_call_headers_and_version() {
    let (addr, log) = start_hub(0).await;
    let c = client(addr, 0);
    assert_eq!(c.hub_version(), None);
    let v = c
        .call("echo", vec![1.into(), "x".into(), Value::Nil])
        .await
        .unwrap();
    assert_eq!(v, Value::Array(vec![1.into(), "x".into(), Value::Nil]));
    assert_eq!(c.hub_version().as_deref(), Some("1.36.1"));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.path_and_query, "/kojihub");
    assert_eq!(seen.header("user-agent"), Some("koji/1"));
    assert_eq!(seen.header("content-type"), Some("text/xml"));
    assert_eq!(seen.header("koji-session-id"), None);
    assert_eq!(seen.callnum(), None);
    assert!(
        seen.body
            .starts_with(b"<?xml version='1.0'?>\n<methodCall>")
    );
}

#[tokio::test]
async fn session_flow_and_callnums() {
    let (addr, log) = start_hub(0).await;
    let c = client(addr, 0);
    c.ssl_login().await.unwrap();
    assert_eq!(c.session(), Some((7, "1-abc".to_owned())));
    c.call("getAPIVersion", vec![]).await.unwrap();
    let mut kw = Struct::new();
    kw.insert("strict".into(), true.into());
    c.call_kw("getLoggedInUser", vec![1.into()], kw)
        .await
        .unwrap();
    let r = c
        .multicall(vec![
            ("hello".into(), vec![]),
            ("nope".into(), vec![1.into()]),
        ])
        .await
        .unwrap();
    assert_eq!(r[0], Ok("Hello World".into()));
    assert_eq!(r[1], Err(Fault::generic("Invalid method: nope")));
    assert!(c.multicall(vec![]).await.unwrap().is_empty()); // sends nothing
    let up = c
        .raw_upload(
            "cli-build/1.a b",
            "foo-1-1.src.rpm",
            1048576,
            Bytes::from_static(b"hello"),
            true,
        )
        .await
        .unwrap();
    assert_eq!(up.get("size"), Some(&Value::Int(5)));
    c.raw_upload("p", "f", 0, Bytes::new(), false)
        .await
        .unwrap();
    c.logout().await.unwrap();
    assert_eq!(c.session(), None);
    c.call("hello", vec![]).await.unwrap();

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 8);
    let login = &log[0];
    assert_eq!(login.path_and_query, "/kojihub/ssllogin");
    assert_eq!(login.method.as_deref(), Some("sslLogin"));
    assert_eq!(
        login.params,
        vec![kstruct! {"proxyuser" => Value::Nil, "__starstar" => true}]
    );
    assert_eq!(login.callnum(), None);
    assert_eq!(log[1].header("koji-session-id"), Some("7"));
    assert_eq!(log[1].header("koji-session-key"), Some("1-abc"));
    let nums: Vec<_> = log[1..7].iter().map(Seen::callnum).collect();
    assert_eq!(nums, [Some(0), Some(1), Some(2), Some(3), Some(4), Some(5)]);
    assert_eq!(
        log[2].params,
        vec![1.into(), kstruct! {"strict" => true, "__starstar" => true}]
    );
    assert_eq!(log[3].method.as_deref(), Some("multiCall"));
    assert_eq!(
        log[3].params,
        vec![Value::Array(vec![
            kstruct! {"methodName" => "hello", "params" => Vec::<Value>::new()},
            kstruct! {"methodName" => "nope", "params" => vec![Value::Int(1)]},
        ])]
    );
    let upload = &log[4];
    assert_eq!(
        upload.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(upload.header("user-agent"), Some("koji/1"));
    assert_eq!(
        upload.path_and_query,
        "/kojihub?filename=foo-1-1.src.rpm&filepath=cli-build%2F1.a+b&fileverify=adler32&offset=1048576&overwrite=1"
    );
    assert_eq!(&upload.body[..], b"hello");
    assert_eq!(
        log[5].path_and_query,
        "/kojihub?filename=f&filepath=p&fileverify=adler32&offset=0"
    );
    assert_eq!(log[6].method.as_deref(), Some("logout"));
    assert_eq!(
        log[6].params,
        vec![kstruct! {"session_id" => Value::Nil, "__starstar" => true}]
    );
    assert_eq!(log[7].header("koji-session-id"), None);
    assert_eq!(log[7].callnum(), None);
}

#[tokio::test]
async fn faults_and_http_errors() {
    let (addr, _log) = start_hub(0).await;
    let c = client(addr, 3);
    match c.call("fail", vec![]).await {
        Err(ClientError::Fault(f)) => {
            assert_eq!(f.code, codes::ACTION_NOT_ALLOWED);
            assert_eq!(f.class_name(), "ActionNotAllowed");
        }
        other => panic!("{other:?}"),
    }
    match c.call("boom", vec![]).await {
        Err(ClientError::Http { status: 500, body }) => assert_eq!(body, "Internal Server Error"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn transport_retry_reuses_callnum() {
    let (addr, log) = start_hub(2).await;
    let c = client(addr, 2);
    c.set_session(Some((3, "3-key".into())));
    c.call("echo", vec![]).await.unwrap();
    c.call("echo", vec![]).await.unwrap();
    let nums: Vec<_> = log.lock().unwrap().iter().map(Seen::callnum).collect();
    assert_eq!(nums, [Some(0), Some(0), Some(0), Some(1)]);
}

#[tokio::test]
async fn transport_error_without_retries() {
    let (addr, log) = start_hub(1).await;
    let c = client(addr, 0);
    assert!(matches!(
        c.call("echo", vec![]).await,
        Err(ClientError::Transport(_))
    ));
    assert_eq!(log.lock().unwrap().len(), 1);
    // Nothing listening at all.
    let dead = client("127.0.0.1:1".parse().unwrap(), 1);
    assert!(matches!(
        dead.call("echo", vec![]).await,
        Err(ClientError::Transport(_))
    ));
}

#[tokio::test]
async fn concurrent_calls_share_the_client() {
    let (addr, log) = start_hub(0).await;
    let c = client(addr, 0);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.call("echo", vec![Value::Int(i)]).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(
            t.await.unwrap().unwrap(),
            Value::Array(vec![Value::Int(i as i64)])
        );
    }
    assert_eq!(log.lock().unwrap().len(), 16);
}
