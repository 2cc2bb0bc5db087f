//! Files replaced whole: a crash while writing a config leaves the old one or the new
//! one, never half of each (a daemon would refuse a torn file at its next start).

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `data` to a temporary file beside `path`, fsyncs it, renames it over `path` and
/// fsyncs the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        write_atomic(&p, b"first = 1\nand_a_long_line = 2\n").unwrap();
        write_atomic(&p, b"x = 1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x = 1\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.toml"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no").join("a.toml");
        let e = format!("{:#}", write_atomic(&p, b"x").unwrap_err());
        assert!(e.contains(".a.toml.tmp"), "{e}");
        assert!(!p.exists());
    }
}
