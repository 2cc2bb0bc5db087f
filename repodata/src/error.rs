//! Errors of this crate. Every variant names the file it is about, because a repo is made
//! of hundreds of files and "invalid header" alone does not tell an operator which one to
//! remove.

use std::path::{Path, PathBuf};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and with which file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the OS level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a (complete, well-formed) RPM package.
    #[error("{}: not a usable RPM: {reason}", path.display())]
    BadRpm { path: PathBuf, reason: String },
    /// Repository metadata (repomd.xml, primary.xml, …) is malformed, fails its checksum or
    /// uses something this crate does not read.
    #[error("{}: bad repodata: {reason}", path.display())]
    BadMetadata { path: PathBuf, reason: String },
    /// Fetching a repository over the network failed (unreachable, HTTP status, truncated
    /// or invalid repomd.xml, checksum mismatch, …). `url` is the file or repo it is about.
    #[error("{url}: {reason}")]
    Remote { url: String, reason: String },
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn bad_rpm(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::BadRpm {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_md(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::BadMetadata {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn remote(url: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Remote {
            url: url.into(),
            reason: reason.into(),
        }
    }

    /// What went wrong, without the file it is about: for messages that name the file
    /// their own way (the hub's faults quote the client's name for an upload and must not
    /// show an absolute path).
    pub fn detail(&self) -> String {
        match self {
            Error::Io { source, .. } => source.to_string(),
            Error::BadRpm { reason, .. }
            | Error::BadMetadata { reason, .. }
            | Error::Remote { reason, .. } => reason.clone(),
        }
    }

    /// The file this error is about (for [`Error::Remote`], the URL).
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::BadRpm { path, .. }
            | Error::BadMetadata { path, .. } => path,
            Error::Remote { url, .. } => Path::new(url.as_str()),
        }
    }
}
