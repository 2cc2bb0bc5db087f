//! Getting bytes from an upstream URL: http(s) through hyper on rustls, `file://` from the
//! local filesystem, `rsync://` through the system rsync. Everything here is one attempt
//! against one URL; retries, mirror failover and verification are [`crate::download`]'s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// One failed attempt, with the URL it was about.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
    /// A 404/403/410 or a missing local file: retrying the same URL will not help.
    pub permanent: bool,
}

impl FetchError {
    fn new(url: &str, reason: impl Into<String>) -> Self {
        FetchError {
            url: url.to_owned(),
            reason: reason.into(),
            permanent: false,
        }
    }
    fn permanent(url: &str, reason: impl Into<String>) -> Self {
        FetchError {
            url: url.to_owned(),
            reason: reason.into(),
            permanent: true,
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// A token bucket shared by all downloads of one repo: `rate` bytes per second, with a
/// burst of one second.
pub struct Limiter {
    rate: u64,
    state: Mutex<(Instant, f64)>,
}

impl Limiter {
    pub fn new(rate: u64) -> Self {
        Limiter {
            rate,
            state: Mutex::new((Instant::now(), 0.0)),
        }
    }

    /// Waits until `n` bytes may pass.
    async fn take(&self, n: usize) {
        let wait = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            let rate = self.rate as f64;
            // refill, capped at one second's worth
            let elapsed = now.duration_since(s.0).as_secs_f64();
            s.1 = (s.1 + elapsed * rate).min(rate);
            s.0 = now;
            s.1 -= n as f64;
            if s.1 < 0.0 {
                Duration::from_secs_f64(-s.1 / rate)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// How one repo talks to its upstreams.
#[derive(Clone)]
pub struct Transport {
    client: HttpsClient,
    timeout: Duration,
    limiter: Option<Arc<Limiter>>,
}

/// Outcome of [`Transport::fetch_to_file`].
#[derive(Debug, Clone, Copy)]
pub struct Fetched {
    /// Bytes now in the file (including a resumed prefix).
    pub len: u64,
    /// Whether an existing prefix was kept (the server honoured the Range).
    pub resumed: bool,
}

impl Transport {
    /// `extra_ca`: PEM certificates trusted besides the public web roots.
    pub fn new(
        timeout: Duration,
        extra_ca: Option<&Path>,
        rate: Option<u64>,
    ) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(p) = extra_ca {
            use rustls_pki_types::pem::PemObject;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(p)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            for c in certs {
                let c = c.map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                roots
                    .add(c)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Transport {
            client,
            timeout,
            limiter: rate.map(|r| Arc::new(Limiter::new(r))),
        })
    }

    /// A copy sharing the connection pool, with this repo's bandwidth limit.
    pub fn with_rate(&self, rate: Option<u64>) -> Self {
        Transport {
            client: self.client.clone(),
            timeout: self.timeout,
            limiter: rate.map(|r| Arc::new(Limiter::new(r))),
        }
    }

    async fn get(
        &self,
        url: &str,
        range_from: u64,
    ) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| FetchError::permanent(url, format!("bad URL: {e}")))?;
        let mut req = hyper::Request::get(uri).header("User-Agent", "kkoji-mirror-sync");
        if range_from > 0 {
            req = req.header("Range", format!("bytes={range_from}-"));
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| FetchError::permanent(url, e.to_string()))?;
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(FetchError::new(url, "unreachable: timed out")),
            Ok(Err(e)) => {
                let mut reason = e.to_string();
                let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&e);
                while let Some(s) = src {
                    reason = format!("{reason}: {s}");
                    src = s.source();
                }
                Err(FetchError::new(url, format!("unreachable: {reason}")))
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    fn status_error(url: &str, status: hyper::StatusCode) -> FetchError {
        let reason = format!("HTTP status {status}");
        if matches!(status.as_u16(), 403 | 404 | 410) {
            FetchError::permanent(url, reason)
        } else {
            FetchError::new(url, reason)
        }
    }

    /// A whole small file (repomd.xml, its signature, a mirror list), at most `max` bytes.
    pub async fn fetch_bytes(&self, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        if let Some(path) = url.strip_prefix("file://") {
            let data = tokio::fs::read(path).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    FetchError::permanent(url, "not found")
                } else {
                    FetchError::new(url, e.to_string())
                }
            })?;
            if data.len() > max {
                return Err(FetchError::permanent(
                    url,
                    format!("larger than {max} bytes"),
                ));
            }
            return Ok(data);
        }
        if url.starts_with("rsync://") {
            let tmp = tempfile_in_tmp()?;
            self.rsync(url, &tmp.0).await?;
            let data = tokio::fs::read(&tmp.0)
                .await
                .map_err(|e| FetchError::new(url, e.to_string()))?;
            return Ok(data);
        }
        let resp = self.get(url, 0).await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(url, resp.status()));
        }
        let mut body = resp.into_body();
        let mut out = Vec::new();
        loop {
            let frame = match tokio::time::timeout(self.timeout, body.frame()).await {
                Err(_) => return Err(FetchError::new(url, "timed out waiting for data")),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(FetchError::new(url, format!("connection broken: {e}")));
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > max {
                    return Err(FetchError::permanent(
                        url,
                        format!("larger than {max} bytes"),
                    ));
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    }

    /// Downloads `url` into `part`, continuing after the `part`'s current length when the
    /// server allows (HTTP Range). `progress` is told about every chunk written.
    pub async fn fetch_to_file(
        &self,
        url: &str,
        part: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Fetched, FetchError> {
        let io = |e: std::io::Error| FetchError::new(url, format!("{}: {e}", part.display()));
        let existing = match tokio::fs::metadata(part).await {
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        if url.starts_with("rsync://") {
            self.rsync(url, part).await?;
            let len = tokio::fs::metadata(part).await.map_err(io)?.len();
            progress(len.saturating_sub(existing));
            return Ok(Fetched {
                len,
                resumed: existing > 0,
            });
        }
        if let Some(path) = url.strip_prefix("file://") {
            let mut src = tokio::fs::File::open(path).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    FetchError::permanent(url, "not found")
                } else {
                    FetchError::new(url, e.to_string())
                }
            })?;
            let mut dst = tokio::fs::File::create(part).await.map_err(io)?;
            let n = tokio::io::copy(&mut src, &mut dst).await.map_err(io)?;
            dst.sync_all().await.map_err(io)?;
            progress(n);
            return Ok(Fetched {
                len: n,
                resumed: false,
            });
        }
        let resp = self.get(url, existing).await?;
        let status = resp.status();
        let (mut file, mut len, resumed) = if existing > 0 && status.as_u16() == 206 {
            let f = tokio::fs::OpenOptions::new()
                .append(true)
                .open(part)
                .await
                .map_err(io)?;
            (f, existing, true)
        } else if status.is_success() {
            let f = tokio::fs::File::create(part).await.map_err(io)?;
            (f, 0, false)
        } else if status.as_u16() == 416 {
            // the partial file is already whole (or longer): let the caller verify it
            return Ok(Fetched {
                len: existing,
                resumed: true,
            });
        } else {
            return Err(Self::status_error(url, status));
        };
        let mut body = resp.into_body();
        loop {
            let frame = match tokio::time::timeout(self.timeout, body.frame()).await {
                Err(_) => {
                    file.flush().await.map_err(io)?;
                    return Err(FetchError::new(
                        url,
                        format!("timed out waiting for data after {len} bytes"),
                    ));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    // keep what arrived: the next attempt resumes after it
                    file.flush().await.map_err(io)?;
                    return Err(FetchError::new(
                        url,
                        format!("connection broken after {len} bytes: {e}"),
                    ));
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                if let Some(l) = &self.limiter {
                    l.take(data.len()).await;
                }
                file.write_all(&data).await.map_err(io)?;
                len += data.len() as u64;
                progress(data.len() as u64);
            }
        }
        file.sync_all().await.map_err(io)?;
        Ok(Fetched { len, resumed })
    }

    async fn rsync(&self, url: &str, dest: &Path) -> Result<(), FetchError> {
        let mut cmd = tokio::process::Command::new("rsync");
        cmd.arg("-q")
            .arg("--partial")
            .arg("--append-verify")
            .arg(format!("--timeout={}", self.timeout.as_secs().max(1)));
        if let Some(l) = &self.limiter {
            cmd.arg(format!("--bwlimit={}", (l.rate / 1024).max(1)));
        }
        let out = cmd
            .arg(url)
            .arg(dest)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| FetchError::new(url, format!("cannot run rsync: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            // rsync exit 23 = "some files could not be transferred", usually missing
            if out.status.code() == Some(23) {
                Err(FetchError::permanent(url, format!("rsync: {err}")))
            } else {
                Err(FetchError::new(url, format!("rsync: {err}")))
            }
        }
    }
}

/// A private temporary file path for rsync'ed small files, removed on drop.
struct TmpPath(PathBuf);

impl Drop for TmpPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_in_tmp() -> Result<TmpPath, FetchError> {
    let n: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok(TmpPath(
        std::env::temp_dir().join(format!("kkoji-mirror-{}-{n}", std::process::id())),
    ))
}

/// Joins a base URL and a relative href.
pub fn join(base: &str, href: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{href}")
    } else {
        format!("{base}/{href}")
    }
}
