//! What the hub needs from an RPM file: identity, source-or-binary, and the fields Koji
//! records (payloadhash = hex SIGMD5, size, buildtime). Reads headers only, never payloads.

use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct RpmInfo {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i32>,
    /// `src` for source packages, as Koji records them.
    pub arch: String,
    pub is_source: bool,
    pub payloadhash: String,
    pub size: i64,
    pub buildtime: i64,
    /// SOURCERPM of a binary package (the build it belongs to, for `koji import`).
    pub sourcerpm: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct RpmError {
    pub path: String,
    pub msg: String,
}

pub fn read(path: &Path) -> Result<RpmInfo, RpmError> {
    let file = std::fs::File::open(path).map_err(|e| RpmError {
        path: path.display().to_string(),
        msg: e.to_string(),
    })?;
    read_file(&file, &path.display().to_string())
}

/// Reads an already opened file (opened without following symlinks by the caller) with
/// kkoji-repodata's header reader. The name, version, release and arch are checked
/// against Koji's rules: they become paths.
pub fn read_file(file: &std::fs::File, what: &str) -> Result<RpmInfo, RpmError> {
    let err = |msg: String| RpmError {
        path: what.to_string(),
        msg,
    };
    let h = kkoji_repodata::read_header_file(file, what).map_err(|e| {
        tracing::debug!(path = %what, error = %e, "unreadable RPM");
        err(e.detail())
    })?;
    let payloadhash = h
        .payloadhash()
        .ok_or_else(|| err("header has neither SIGMD5 nor SHA256 digest".into()))?;
    let info = RpmInfo {
        epoch: h.epoch.and_then(|e| i32::try_from(e).ok()),
        is_source: h.is_source,
        payloadhash,
        size: i64::try_from(h.file_size).unwrap_or(i64::MAX),
        buildtime: h.buildtime,
        sourcerpm: h.strings.sourcerpm.clone(),
        name: h.name,
        version: h.version,
        release: h.release,
        arch: h.arch,
    };
    if let Some(p) =
        crate::names::nvra_problem(&info.name, &info.version, &info.release, &info.arch)
    {
        return Err(err(format!("refused header: {p}")));
    }
    Ok(info)
}

impl RpmInfo {
    pub fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }

    pub fn filename(&self) -> String {
        format!("{}.{}.rpm", self.nvr(), self.arch)
    }
}
