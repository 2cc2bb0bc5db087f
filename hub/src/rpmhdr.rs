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

/// Reads an already opened file (opened without following symlinks by the caller). The
/// name, version, release and arch are checked against Koji's rules: they become paths.
pub fn read_file(file: &std::fs::File, what: &str) -> Result<RpmInfo, RpmError> {
    let err = |msg: String| RpmError {
        path: what.to_string(),
        msg,
    };
    let size = file.metadata().map_err(|e| err(e.to_string()))?.len();
    let mut reader = std::io::BufReader::new(file);
    // the rpm crate's messages can quote the whole input: say it plainly instead
    let meta = rpm::PackageMetadata::parse(&mut reader).map_err(|e| {
        tracing::debug!(path = %what, error = %e, "unreadable RPM");
        let why = match e {
            rpm::Error::Io(_) => "it is truncated or unreadable",
            _ => "it has no valid RPM lead and header",
        };
        err(format!("not an RPM file ({why})"))
    })?;
    let s = |r: Result<&str, rpm::Error>, what: &str| {
        r.map(str::to_string)
            .map_err(|e| err(format!("no {what} in header: {e}")))
    };
    let is_source = meta.is_source_package();
    let epoch = if meta.header.entry_is_present(rpm::IndexTag::RPMTAG_EPOCH) {
        meta.get_epoch().ok().and_then(|e| i32::try_from(e).ok())
    } else {
        None
    };
    let payloadhash = match meta
        .signature
        .get_entry_data_as_binary(rpm::IndexSignatureTag::RPMSIGTAG_MD5)
    {
        Ok(md5) => md5.iter().map(|b| format!("{b:02x}")).collect(),
        Err(_) => match meta
            .signature
            .get_entry_data_as_string(rpm::IndexSignatureTag::RPMSIGTAG_SHA256)
        {
            Ok(h) => format!("sha256::{h}"),
            Err(_) => return Err(err("header has neither SIGMD5 nor SHA256 digest".into())),
        },
    };
    let info = RpmInfo {
        name: s(meta.get_name(), "name")?,
        version: s(meta.get_version(), "version")?,
        release: s(meta.get_release(), "release")?,
        epoch,
        arch: if is_source {
            "src".to_string()
        } else {
            s(meta.get_arch(), "arch")?
        },
        is_source,
        payloadhash,
        size: i64::try_from(size).unwrap_or(i64::MAX),
        buildtime: meta
            .get_build_time()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0),
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
