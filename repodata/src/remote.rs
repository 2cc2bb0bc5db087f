//! Fetching an external (upstream) repository's metadata, for merging it into a tag's
//! buildroot repo ([`Remote::read_repo`]), and its repomd.xml dates, for noticing that it
//! changed ([`Remote::repomd_timestamp`], kojira's check, used by kkoji-repo-regen).
//!
//! Only what a merge needs is downloaded: `repodata/repomd.xml` and the primary,
//! filelists and other files it lists. Each file goes to a temporary name in
//! `dest/repodata/` and is renamed into place only after its size and checksum matched
//! repomd.xml, and repomd.xml itself is written last, so `dest` always holds either the
//! previous complete copy or the new one. Files already present with the right checksum
//! (metadata file names carry their checksum, so an unchanged upstream keeps its names)
//! are not downloaded again. Every error names the URL and says what was wrong, because
//! it ends up as the reason of a failed Koji task.
//!
//! `file://` URLs and plain paths are read in place (no copy), with the same checks.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path};
use std::time::Duration;

use sha2::Digest;

use crate::error::{Error, Result};
use crate::meta::PackageMeta;
use crate::reader::read_repo;
use crate::repomd::{RepoMd, RepoMdRecord, parse_number};

/// repomd.xml is a few KiB; anything this large is not one.
const MAX_REPOMD: u64 = 16 << 20;

/// The metadata files a merge reads.
const KINDS: [&str; 3] = ["primary", "filelists", "other"];

enum Source<'a> {
    Local(&'a str),
    Http(&'a str),
}

fn source(base_url: &str) -> Result<Source<'_>> {
    if base_url.starts_with("http://") || base_url.starts_with("https://") {
        Ok(Source::Http(base_url))
    } else if let Some(rest) = base_url.strip_prefix("file://") {
        // file:///srv/x (empty host) or file://localhost/srv/x
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') {
            return Err(Error::remote(
                base_url,
                "a file:// URL needs an absolute path (file:///srv/repo)",
            ));
        }
        Ok(Source::Local(path))
    } else if base_url.contains("://") {
        Err(Error::remote(
            base_url,
            "unsupported URL scheme (http, https, file or a plain path)",
        ))
    } else {
        Ok(Source::Local(base_url))
    }
}

/// A client for upstream repositories: one HTTP agent (its connections are reused from
/// call to call), its timeout and the certificates it trusts for https.
#[derive(Clone)]
pub struct Remote {
    agent: ureq::Agent,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}

impl Remote {
    /// Trusts the usual web roots for https. `timeout` bounds connecting and every wait
    /// for data, not a whole (possibly large) download.
    pub fn new(timeout: Duration) -> Remote {
        Remote {
            agent: agent(timeout, None),
        }
    }

    /// Trusts only the certificates of the PEM bundle `ca` for https (a farm whose
    /// upstreams are internal mirrors with their own CA). Fails naming the file when it
    /// cannot be read or holds no certificate.
    pub fn with_ca(timeout: Duration, ca: &Path) -> Result<Remote> {
        let bad = |msg: String| Error::io(ca, io::Error::new(io::ErrorKind::InvalidData, msg));
        let pem = fs::read(ca).map_err(|e| Error::io(ca, e))?;
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item.map_err(|e| bad(format!("not a PEM bundle: {e}")))? {
                ureq::tls::PemItem::Certificate(c) => certs.push(c),
                _ => continue,
            }
        }
        if certs.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
            .build();
        Ok(Remote {
            agent: agent(timeout, Some(tls)),
        })
    }

    /// Reads the packages (primary, filelists, other) of the repository at `base_url`.
    ///
    /// `http(s)://` repositories are downloaded into `dest` first (see the module docs);
    /// `file://` URLs and plain paths are read where they are and `dest` is not used.
    pub fn read_repo(&self, base_url: &str, dest: &Path) -> Result<Vec<PackageMeta>> {
        match source(base_url)? {
            Source::Local(path) => read_repo(path),
            Source::Http(base) => {
                download_repo(&self.agent, base, dest)?;
                read_repo(dest).map_err(|e| match e {
                    e @ Error::Remote { .. } => e,
                    e => Error::remote(base, format!("downloaded metadata unusable: {e}")),
                })
            }
        }
    }

    /// The newest `<timestamp>` of repomd.xml at `base_url` (its numeric `<revision>`
    /// when no record has one), which tells whether an external repo changed since a
    /// repo was made. A repomd.xml cut short, or another document in its place, is an
    /// error naming its URL, never a change.
    pub fn repomd_timestamp(&self, base_url: &str) -> Result<i64> {
        let (md, url) = match source(base_url)? {
            Source::Local(path) => {
                let file = Path::new(path).join("repodata").join("repomd.xml");
                let f = fs::File::open(&file).map_err(|e| Error::io(&file, e))?;
                let md = RepoMd::parse_dates(io::BufReader::new(f), &file)?;
                (md, file.display().to_string())
            }
            Source::Http(base) => {
                let url = join(base, "repodata/repomd.xml");
                let bytes = fetch_repomd_bytes(&self.agent, &url)?;
                let md = RepoMd::parse_dates(&bytes[..], Path::new(&url))
                    .map_err(|e| invalid_repomd(&url, e))?;
                (md, url)
            }
        };
        // a record without <timestamp> reads as 0: it says nothing about the repo's age
        if let Some(t) = md
            .records
            .iter()
            .map(|r| r.timestamp)
            .filter(|t| *t > 0)
            .max()
        {
            return Ok(t);
        }
        parse_number(md.revision.trim()).ok_or_else(|| {
            Error::remote(
                url,
                "repomd.xml has neither record timestamps nor a numeric revision",
            )
        })
    }
}

/// Reads the packages (primary, filelists, other) of the repository at `base_url`
/// ([`Remote::read_repo`] with the web roots).
pub fn read_remote_repo(
    base_url: &str,
    dest: &Path,
    timeout: Duration,
) -> Result<Vec<PackageMeta>> {
    Remote::new(timeout).read_repo(base_url, dest)
}

/// The newest `<timestamp>` of repomd.xml at `base_url` ([`Remote::repomd_timestamp`]
/// with the web roots).
pub fn remote_repomd_timestamp(base_url: &str, timeout: Duration) -> Result<i64> {
    Remote::new(timeout).repomd_timestamp(base_url)
}

fn agent(timeout: Duration, tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .timeout_resolve(Some(timeout))
        .timeout_connect(Some(timeout))
        .timeout_send_request(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("kkoji-repodata/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}

fn join(base: &str, href: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), href)
}

/// Words for a failed request that an operator can act on.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused => "unreachable: connection refused".into(),
            io::ErrorKind::TimedOut => "unreachable: timed out".into(),
            _ => format!("unreachable: {io}"),
        },
        ureq::Error::HostNotFound => "unreachable: host not found".into(),
        ureq::Error::ConnectionFailed => "unreachable: connection failed".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

fn get(agent: &ureq::Agent, url: &str) -> Result<ureq::Body> {
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| Error::remote(url, describe(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::remote(url, format!("HTTP status {status}")));
    }
    Ok(resp.into_body())
}

fn fetch_repomd_bytes(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>> {
    get(agent, url)?
        .with_config()
        .limit(MAX_REPOMD)
        .read_to_vec()
        .map_err(|e| Error::remote(url, format!("download of repomd.xml broke off: {e}")))
}

/// A repomd.xml problem as an error about its URL.
fn invalid_repomd(url: &str, e: Error) -> Error {
    match e {
        Error::BadMetadata { reason, .. } => {
            Error::remote(url, format!("invalid repomd.xml: {reason}"))
        }
        e => Error::remote(url, e.to_string()),
    }
}

fn fetch_repomd(agent: &ureq::Agent, url: &str) -> Result<(RepoMd, Vec<u8>)> {
    let bytes = fetch_repomd_bytes(agent, url)?;
    let md = RepoMd::parse(&bytes[..], Path::new(url)).map_err(|e| invalid_repomd(url, e))?;
    Ok((md, bytes))
}

/// Downloads repomd.xml and the files of [`KINDS`] into `dest/repodata/`.
fn download_repo(agent: &ureq::Agent, base: &str, dest: &Path) -> Result<()> {
    let repomd_url = join(base, "repodata/repomd.xml");
    let (md, repomd_bytes) = fetch_repomd(agent, &repomd_url)?;
    if md.record("primary").is_none() {
        return Err(Error::remote(
            &repomd_url,
            "invalid repomd.xml: no primary metadata",
        ));
    }
    let datadir = dest.join("repodata");
    fs::create_dir_all(&datadir).map_err(|e| Error::io(&datadir, e))?;
    let mut keep = vec!["repomd.xml".to_string()];
    for rec in md
        .records
        .iter()
        .filter(|r| KINDS.contains(&r.kind.as_str()))
    {
        let url = join(base, &rec.location_href);
        let rel = Path::new(&rec.location_href);
        let inside = rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        let in_datadir = rel.parent().is_some_and(|p| p == Path::new("repodata"));
        if !inside || !in_datadir {
            return Err(Error::remote(
                &repomd_url,
                format!(
                    "invalid repomd.xml: {} location {:?} is not a file in repodata/",
                    rec.kind, rec.location_href
                ),
            ));
        }
        let target = dest.join(rel);
        if let Some(name) = rel.file_name() {
            keep.push(name.to_string_lossy().into_owned());
        }
        fetch_file(agent, &url, &target, rec)?;
    }
    write_atomic(&datadir, &datadir.join("repomd.xml"), &repomd_bytes)?;
    // Files of earlier generations are no longer listed: remove them (hidden ones may be
    // another process's downloads in progress).
    if let Ok(rd) = fs::read_dir(&datadir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !keep.contains(&name) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// A digest named by repomd.xml's checksum `type`.
enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Unknown,
}

impl Hasher {
    fn new(kind: &str) -> Hasher {
        match kind {
            "sha" | "sha1" => Hasher::Sha1(sha1::Sha1::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            _ => Hasher::Unknown,
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(b),
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
            Hasher::Unknown => {}
        }
    }

    fn finish(self) -> Option<String> {
        Some(match self {
            Hasher::Sha1(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
            Hasher::Unknown => return None,
        })
    }
}

/// Digest of a local file, or None when it cannot be read.
fn digest_of(path: &Path, kind: &str) -> Option<String> {
    let mut f = fs::File::open(path).ok()?;
    let mut h = Hasher::new(kind);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finish()
}

/// Downloads one metadata file to `target` (temporary file + rename), checking its size
/// and checksum against the repomd.xml record first. A file already at `target` with the
/// right checksum is kept.
fn fetch_file(agent: &ureq::Agent, url: &str, target: &Path, rec: &RepoMdRecord) -> Result<()> {
    let want = &rec.checksum;
    if target.exists() && digest_of(target, &want.kind).as_deref() == Some(want.hex.as_str()) {
        tracing::debug!(url, "metadata file unchanged; not downloaded again");
        return Ok(());
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let mut body = get(agent, url)?;
    let mut reader = body.as_reader();
    let mut hasher = Hasher::new(&want.kind);
    let mut got: u64 = 0;
    let limit = rec.size;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| {
            Error::remote(url, format!("download broke off after {got} bytes: {e}"))
        })?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if let Some(size) = limit
            && got > size
        {
            return Err(Error::remote(
                url,
                format!("longer than the {size} bytes repomd.xml gives"),
            ));
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| Error::io(tmp.path(), e))?;
    }
    if let Some(size) = limit
        && got != size
    {
        return Err(Error::remote(
            url,
            format!("truncated: got {got} bytes, repomd.xml gives {size}"),
        ));
    }
    match hasher.finish() {
        Some(hex) if hex != want.hex => {
            return Err(Error::remote(
                url,
                format!(
                    "checksum mismatch: {} of the download is {hex}, repomd.xml says {}",
                    want.kind, want.hex
                ),
            ));
        }
        Some(_) => {}
        None => {
            tracing::warn!(url, kind = %want.kind, "unknown checksum type; download not verified")
        }
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(target)
        .map_err(|e| Error::io(target, e.error))?;
    Ok(())
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(matches!(source("http://x/y"), Ok(Source::Http(_))));
        assert!(matches!(source("https://x/y"), Ok(Source::Http(_))));
        assert!(matches!(
            source("file:///srv/r"),
            Ok(Source::Local("/srv/r"))
        ));
        assert!(matches!(source("/srv/r"), Ok(Source::Local("/srv/r"))));
        let e = source("ftp://x/")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("ftp://x/: unsupported URL scheme"), "{e}");
        assert_eq!(join("http://a/b/", "repodata/x"), "http://a/b/repodata/x");
        assert_eq!(join("http://a/b", "repodata/x"), "http://a/b/repodata/x");
        assert!(matches!(
            source("file://localhost/srv/r"),
            Ok(Source::Local("/srv/r"))
        ));
        let e = source("file://srv/r").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("absolute path")));
    }

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
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

    /// A local repo whose repodata/repomd.xml is `xml`.
    fn repo(xml: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("repodata");
        fs::create_dir_all(&md).unwrap();
        fs::write(md.join("repomd.xml"), xml).unwrap();
        dir
    }

    fn ts(xml: &[u8]) -> Result<i64> {
        let dir = repo(xml);
        Remote::new(Duration::from_secs(5)).repomd_timestamp(&dir.path().display().to_string())
    }

    // (moved here with the upstream check from kkoji-repo-regen's external.rs)
    #[test]
    fn max_timestamp_wins() {
        assert_eq!(ts(REPOMD.as_bytes()).unwrap(), 1_700_000_051);
        // records without a location still date the repo (kojira reads only the dates)
        let bare =
            b"<repomd><data type=\"primary\"><timestamp>1700000123</timestamp></data></repomd>";
        assert_eq!(ts(bare).unwrap(), 1_700_000_123);
        let e = RepoMd::parse(&bare[..], Path::new("r")).unwrap_err();
        assert!(e.to_string().contains("has no location"), "{e}");
    }

    #[test]
    fn revision_when_no_timestamps() {
        assert_eq!(ts(b"<repomd><revision>42</revision></repomd>").unwrap(), 42);
        assert!(ts(b"<repomd><revision>abc</revision></repomd>").is_err());
    }

    #[test]
    fn truncated_and_foreign_documents_are_refused() {
        let cut = &REPOMD[..REPOMD.len() / 2];
        let e = ts(cut.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("truncated") || e.contains("XML error"), "{e}");
        let cut = REPOMD.trim_end().trim_end_matches("</repomd>");
        let e = ts(cut.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = ts(b"<html><body>404</body></html>")
            .unwrap_err()
            .to_string();
        assert!(e.contains("<html>"), "{e}");
        assert!(ts(b"").is_err());
        let e = ts(b"<repomd><data><location href=\"x\"/><timestamp>x</timestamp></data></repomd>")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timestamp"), "{e}");
    }

    #[test]
    fn reads_files_and_plain_paths_and_names_what_failed() {
        let dir = repo(REPOMD.as_bytes());
        let r = Remote::new(Duration::from_secs(5));
        let base = dir.path().display().to_string();
        assert_eq!(r.repomd_timestamp(&base).unwrap(), 1_700_000_051);
        assert_eq!(
            r.repomd_timestamp(&format!("file://{base}/")).unwrap(),
            1_700_000_051
        );
        let e = r.repomd_timestamp("ftp://x/").unwrap_err().to_string();
        assert!(e.starts_with("ftp://x/: unsupported"), "{e}");
        let e = r.repomd_timestamp("/nonexistent").unwrap_err().to_string();
        assert!(e.starts_with("/nonexistent/repodata/repomd.xml:"), "{e}");
        // nothing listens on port 9 of loopback: an error naming the URL
        let e = r
            .repomd_timestamp("http://127.0.0.1:9/")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("http://127.0.0.1:9/repodata/repomd.xml:"),
            "{e}"
        );
        let e = Remote::with_ca(
            Duration::from_secs(5),
            &dir.path().join("repodata/repomd.xml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no certificate"), "{e}");
        let e = Remote::with_ca(Duration::from_secs(5), &dir.path().join("none.pem"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.pem"), "{e}");
    }
}
