//! Writing files so that a crash never leaves one that looks finished: every file is written
//! under a hidden temporary name (`.NAME.tmp`), fsynced, renamed, and its directory fsynced.
//! `list` and `verify` never look at hidden names, and the next run removes leftovers.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O error with the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct PathError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub fn perr(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> PathError {
    let path = path.into();
    move |source| PathError { path, source }
}

/// The temporary name a file is written under before it gets `final_path`.
pub fn temp_name(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}.tmp"))
}

/// A file being written; becomes visible under its final name only on [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<AtomicFile, PathError> {
        let temp = temp_name(target);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(perr(&temp))?;
        Ok(AtomicFile {
            file: Some(file),
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsync, rename into place, fsync the directory.
    pub fn commit(mut self) -> Result<(), PathError> {
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(perr(&self.temp))?;
        }
        fs::rename(&self.temp, &self.target).map_err(perr(&self.target))?;
        sync_dir(self.target.parent().unwrap_or(Path::new(".")))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Writes `data` to `target` atomically.
pub fn write_atomic(target: &Path, data: &[u8]) -> Result<(), PathError> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(data)
        .map_err(perr(f.temp_path().to_path_buf()))?;
    f.commit()
}

pub fn sync_dir(dir: &Path) -> Result<(), PathError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(perr(dir))
}

/// Creates `dir` (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), PathError> {
    fs::create_dir_all(dir).map_err(perr(dir))
}

/// Removes leftovers of interrupted writes (`.NAME.tmp`) in `dir`; returns their names.
pub fn remove_leftovers(dir: &Path) -> Result<Vec<PathBuf>, PathError> {
    let mut removed = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(perr(dir)(e)),
    };
    for ent in rd {
        let ent = ent.map_err(perr(dir))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let p = ent.path();
            fs::remove_file(&p).map_err(perr(&p))?;
            removed.push(p);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.dump");
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"half").unwrap();
            assert!(f.temp_path().exists());
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert!(!temp_name(&target).exists());
    }
}
