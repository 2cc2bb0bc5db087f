//! External repo change detection: fetch an upstream's `repodata/repomd.xml` and take its
//! newest `<timestamp>` (or a numeric `<revision>`). The hub turns a changed value into a
//! tag change of every tag using the repo, so their build repos get regenerated with the
//! new upstream content.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use quick_xml::events::Event;

/// repomd.xml is a few KiB; anything this large is not one.
pub const MAX_REPOMD_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{url}: not a usable repomd.xml: {message}")]
    Parse { url: String, message: String },
    #[error("{path}: cannot read the external CA bundle: {message}")]
    Ca { path: PathBuf, message: String },
}

/// Fetches repomd.xml files over HTTP(S), from `file://` URLs and from plain paths.
#[derive(Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// `ca`: trust anchors for https (a PEM bundle); `None` uses the built-in web roots.
    pub fn new(timeout: Duration, ca: Option<&Path>) -> Result<Fetcher, ExternalError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = ca {
            let ca_err = |message: String| ExternalError::Ca {
                path: path.to_path_buf(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item.map_err(|e| ca_err(e.to_string()))? {
                    ureq::tls::PemItem::Certificate(c) => certs.push(c),
                    _ => continue,
                }
            }
            if certs.is_empty() {
                return Err(ca_err("no certificate in it".into()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(true)
            .tls_config(tls.build())
            .build();
        Ok(Fetcher {
            agent: ureq::Agent::new_with_config(config),
            timeout,
        })
    }

    /// Fetches `url` (a repomd.xml location) on a blocking thread.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, ExternalError> {
        let this = self.clone();
        let owned = url.to_owned();
        tokio::task::spawn_blocking(move || this.fetch_blocking(&owned))
            .await
            .map_err(|e| ExternalError::Fetch {
                url: url.to_owned(),
                message: format!("fetch thread failed: {e}"),
            })?
    }

    fn fetch_blocking(&self, url: &str) -> Result<Vec<u8>, ExternalError> {
        let err = |message: String| ExternalError::Fetch {
            url: url.to_owned(),
            message,
        };
        if url.starts_with("http://") || url.starts_with("https://") {
            let mut resp = self.agent.get(url).call().map_err(|e| err(e.to_string()))?;
            return resp
                .body_mut()
                .with_config()
                .limit(MAX_REPOMD_BYTES)
                .read_to_vec()
                .map_err(|e| err(e.to_string()));
        }
        let path = if let Some(rest) = url.strip_prefix("file://") {
            // file:///srv/x (empty host) or file://localhost/srv/x
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            if !rest.starts_with('/') {
                return Err(err("a file:// URL needs an absolute path".into()));
            }
            PathBuf::from(rest)
        } else if url.starts_with('/') {
            PathBuf::from(url)
        } else {
            return Err(err(
                "unsupported URL (http://, https://, file:// or an absolute path)".into(),
            ));
        };
        let meta = std::fs::metadata(&path).map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_REPOMD_BYTES {
            return Err(err(format!("larger than {MAX_REPOMD_BYTES} bytes")));
        }
        std::fs::read(&path).map_err(|e| err(e.to_string()))
    }
}

/// The newest `<timestamp>` of a repomd.xml (rounded, as createrepo writes floats
/// sometimes), or its `<revision>` when that is numeric and there are no timestamps.
/// A document that does not end with `</repomd>` is refused as truncated: a half-fetched
/// file must not look like an upstream change.
pub fn repomd_max_ts(xml: &[u8]) -> Result<i64, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut max_ts: Option<i64> = None;
    let mut revision: Option<String> = None;
    let mut closed_root = false;
    loop {
        buf.clear();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                let name = local(e.name().as_ref()).to_vec();
                if stack.is_empty() && name != b"repomd" {
                    return Err(format!(
                        "root element is <{}>, not <repomd>",
                        String::from_utf8_lossy(&name)
                    ));
                }
                if closed_root {
                    return Err("content after </repomd>".into());
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(e) if stack.is_empty() => {
                return Err(format!(
                    "root element is <{}/>, not <repomd>",
                    String::from_utf8_lossy(local(e.name().as_ref()))
                ));
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| format!("bad text: {e}"))?;
                text.push_str(&s);
            }
            Event::End(_) => {
                let Some(name) = stack.pop() else {
                    return Err("unbalanced end tag".into());
                };
                match name.as_slice() {
                    b"timestamp" => {
                        let v = parse_number(text.trim())
                            .ok_or_else(|| format!("bad <timestamp> {:?}", text.trim()))?;
                        max_ts = Some(max_ts.map_or(v, |m| m.max(v)));
                    }
                    b"revision" if stack.len() == 1 => revision = Some(text.trim().to_owned()),
                    b"repomd" if stack.is_empty() => closed_root = true,
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !closed_root {
        return Err(if stack.is_empty() {
            "no <repomd> element".into()
        } else {
            "truncated: no closing </repomd>".into()
        });
    }
    if let Some(ts) = max_ts {
        return Ok(ts);
    }
    revision
        .as_deref()
        .and_then(parse_number)
        .ok_or_else(|| "no <timestamp> and no numeric <revision>".into())
}

fn local(name: &[u8]) -> &[u8] {
    name.iter()
        .rposition(|&b| b == b':')
        .map_or(name, |i| &name[i + 1..])
}

fn parse_number(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    let f = s.parse::<f64>().ok()?;
    (f.is_finite() && f.abs() < 9.0e15).then(|| f.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000100</revision>
  <data type="primary">
    <checksum type="sha256">aa</checksum>
    <location href="repodata/aa-primary.xml.gz"/>
    <timestamp>1700000000</timestamp>
    <size>10</size>
  </data>
  <data type="filelists">
    <location href="repodata/bb-filelists.xml.gz"/>
    <timestamp>1700000050.6</timestamp>
  </data>
</repomd>
"#;

    #[test]
    fn max_timestamp_wins() {
        assert_eq!(repomd_max_ts(REPOMD.as_bytes()), Ok(1_700_000_051));
    }

    #[test]
    fn revision_when_no_timestamps() {
        let xml = "<repomd><revision>42</revision></repomd>";
        assert_eq!(repomd_max_ts(xml.as_bytes()), Ok(42));
        let xml = "<repomd><revision>abc</revision></repomd>";
        assert!(repomd_max_ts(xml.as_bytes()).is_err());
    }

    #[test]
    fn truncated_and_foreign_documents_are_refused() {
        let cut = &REPOMD[..REPOMD.len() / 2];
        let e = repomd_max_ts(cut.as_bytes()).unwrap_err();
        assert!(e.contains("truncated") || e.contains("XML error"), "{e}");
        let cut = REPOMD.trim_end().trim_end_matches("</repomd>");
        let e = repomd_max_ts(cut.as_bytes()).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let e = repomd_max_ts(b"<html><body>404</body></html>").unwrap_err();
        assert!(e.contains("<html>"), "{e}");
        assert!(repomd_max_ts(b"").is_err());
        let e =
            repomd_max_ts(b"<repomd><data><timestamp>x</timestamp></data></repomd>").unwrap_err();
        assert!(e.contains("timestamp"), "{e}");
    }

    #[tokio::test]
    async fn fetches_files_and_plain_paths() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("repodata");
        std::fs::create_dir_all(&md).unwrap();
        std::fs::write(md.join("repomd.xml"), REPOMD).unwrap();
        let f = Fetcher::new(Duration::from_secs(5), None).unwrap();
        let base = dir.path().display().to_string();
        let url = crate::decide::repomd_url(&base);
        assert_eq!(f.fetch(&url).await.unwrap(), REPOMD.as_bytes());
        let url = crate::decide::repomd_url(&format!("file://{base}/"));
        assert_eq!(f.fetch(&url).await.unwrap(), REPOMD.as_bytes());
        let e = f.fetch("ftp://x/repomd.xml").await.unwrap_err().to_string();
        assert!(e.starts_with("ftp://x/repomd.xml: unsupported"), "{e}");
        let e = f
            .fetch("/nonexistent/repomd.xml")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/repomd.xml:"), "{e}");
        // nothing listens on port 9 of loopback: a fetch error naming the URL
        let e = f
            .fetch("http://127.0.0.1:9/repodata/repomd.xml")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("http://127.0.0.1:9/repodata/repomd.xml:"),
            "{e}"
        );
        let e = Fetcher::new(Duration::from_secs(5), Some(&md.join("repomd.xml")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no certificate"), "{e}");
    }
}
