//! Raw HTTPS requests through `curl`, for bodies and credentials the koji CLI never sends.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::cli::run_with_timeout;
use crate::xmlrpc::{self, Fault};

/// One raw request.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    pub method: &'a str,
    /// Path below `https://127.0.0.1:PORT`, e.g. `/kojihub` or `/kojihub/ssllogin`.
    pub path: &'a str,
    pub body: Option<&'a [u8]>,
    /// Client certificate + key bundle (PEM) to present, if any.
    pub cert: Option<&'a Path>,
    /// Extra request headers as `Name: value`.
    pub headers: Vec<String>,
}

impl<'a> RawRequest<'a> {
    /// A `POST` of an XML-RPC body (`Content-Type: text/xml`, as the CLI sends).
    pub fn post(path: &'a str, body: &'a [u8]) -> Self {
        RawRequest {
            method: "POST",
            path,
            body: Some(body),
            cert: None,
            headers: vec!["Content-Type: text/xml".into()],
        }
    }

    pub fn with_cert(mut self, cert: &'a Path) -> Self {
        self.cert = Some(cert);
        self
    }

    pub fn with_header(mut self, h: impl Into<String>) -> Self {
        self.headers.push(h.into());
        self
    }
}

/// The answer, or how the connection failed.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// curl's exit code: 0 when an HTTP answer was received; 35/56/58/… for TLS failures.
    pub curl_exit: Option<i32>,
    pub curl_stderr: String,
    /// HTTP status (0 when there was no HTTP answer).
    pub status: u16,
    /// Response headers of the final answer, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The request, for failure messages.
    pub request: String,
}

impl fmt::Display for RawResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "request: {}", self.request)?;
        writeln!(
            f,
            "curl exit {:?}: {}",
            self.curl_exit,
            self.curl_stderr.trim_end()
        )?;
        writeln!(f, "HTTP {}", self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {v}")?;
        }
        let body: String = self.body.chars().take(2000).collect();
        write!(f, "\n{body}")
    }
}

impl RawResponse {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The fault in the body, if the body is an XML-RPC fault.
    pub fn fault(&self) -> Option<Fault> {
        xmlrpc::parse_fault(&self.body)
    }

    /// The scalar result, if the body is a successful response with a scalar value.
    pub fn scalar(&self) -> Option<String> {
        xmlrpc::scalar_result(&self.body)
    }

    /// An HTTP answer arrived (TLS handshake and request went through).
    pub fn answered(&self) -> bool {
        self.curl_exit == Some(0) && self.status != 0
    }

    /// Asserts HTTP 200, `Koji-Version: 1.36.1`, and a fault body; returns the fault.
    #[track_caller]
    pub fn expect_fault(&self) -> Fault {
        assert!(self.answered(), "no HTTP answer:\n{self}");
        assert_eq!(self.status, 200, "expected HTTP 200:\n{self}");
        self.expect_version_header();
        match self.fault() {
            Some(f) => f,
            None => panic!("expected an XML-RPC fault:\n{self}"),
        }
    }

    /// Asserts the `Koji-Version: 1.36.1` header.
    #[track_caller]
    pub fn expect_version_header(&self) {
        assert_eq!(
            self.header("koji-version"),
            Some(crate::KOJI_VERSION),
            "every response must carry Koji-Version: {}:\n{self}",
            crate::KOJI_VERSION
        );
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Sends `req` to `https://127.0.0.1:port`, verifying the server with `ca`.
pub fn send(port: u16, ca: &Path, scratch: &Path, req: &RawRequest<'_>) -> RawResponse {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    std::fs::create_dir_all(scratch).expect("create raw scratch dir");
    let f = |what: &str| -> PathBuf { scratch.join(format!("{n}.{what}")) };
    let (req_file, hdr_file, body_file) = (f("request"), f("headers"), f("body"));
    let url = format!("https://127.0.0.1:{port}{}", req.path);
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--http1.1", "--max-time", "60", "--cacert"])
        .arg(ca)
        .args([
            "-X",
            req.method,
            "-H",
            "User-Agent: koji/1",
            "-H",
            "Expect:",
        ])
        .arg("-D")
        .arg(&hdr_file)
        .arg("-o")
        .arg(&body_file)
        .args(["-w", "%{http_code}"]);
    for h in &req.headers {
        cmd.arg("-H").arg(h);
    }
    if let Some(cert) = req.cert {
        cmd.arg("--cert").arg(cert);
    }
    if let Some(body) = req.body {
        std::fs::write(&req_file, body).expect("write request body");
        cmd.arg("--data-binary")
            .arg(format!("@{}", req_file.display()));
    }
    cmd.arg(&url);
    let out = run_with_timeout(cmd, Duration::from_secs(90));
    let headers_raw = std::fs::read_to_string(&hdr_file).unwrap_or_default();
    let body = std::fs::read(&body_file).unwrap_or_default();
    for p in [&req_file, &hdr_file, &body_file] {
        let _ = std::fs::remove_file(p);
    }
    RawResponse {
        curl_exit: out.status,
        curl_stderr: out.stderr,
        status: out.stdout.trim().parse().unwrap_or(0),
        headers: parse_headers(&headers_raw),
        body: String::from_utf8_lossy(&body).into_owned(),
        request: format!(
            "{} {url} ({} body bytes, cert {:?})",
            req.method,
            req.body.map_or(0, <[u8]>::len),
            req.cert
        ),
    }
}

/// Headers of the last response block in a `curl -D` dump (skips `100 Continue` blocks).
fn parse_headers(raw: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    for line in raw.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("HTTP/") {
            blocks.push(Vec::new());
        } else if let Some((k, v)) = line.split_once(':')
            && let Some(b) = blocks.last_mut()
        {
            b.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    blocks.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_last_header_block() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nKoji-Version: 1.36.1\r\n\
                   Content-Type: text/xml\r\n\r\n";
        let h = parse_headers(raw);
        assert_eq!(
            h,
            vec![
                ("koji-version".to_string(), "1.36.1".to_string()),
                ("content-type".to_string(), "text/xml".to_string())
            ]
        );
    }
}
