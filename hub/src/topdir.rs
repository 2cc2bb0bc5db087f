//! The Koji file tree (`topdir`): where uploads, task output, builds and scratch builds
//! live, and the path rules that keep callers inside it.

use crate::error::{HResult, HubError};
use std::path::{Component, Path, PathBuf};

/// A relative path made only of normal components (no `..`, no root, no `.` tricks).
pub fn clean_relative(p: &str) -> HResult<PathBuf> {
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(HubError::generic(format!("Invalid path (absolute): {p}")));
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            _ => return Err(HubError::generic(format!("Invalid path: {p}"))),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(HubError::generic(format!("Invalid path: {p:?}")));
    }
    Ok(out)
}

/// The top-level directories builders and tools expect (kojid refuses repo tasks when
/// `repos/` is missing, taking it for an absent mount).
pub fn ensure_layout(topdir: &Path) -> std::io::Result<()> {
    for d in ["packages", "repos", "work", "scratch"] {
        let p = topdir.join(d);
        std::fs::create_dir_all(&p).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", p.display()))
        })?;
    }
    Ok(())
}

pub fn work(topdir: &Path) -> PathBuf {
    topdir.join("work")
}

/// `work/tasks/<id % 10000>/<id>` relative to work/.
pub fn task_rel(task_id: i64) -> PathBuf {
    PathBuf::from(format!("tasks/{}/{}", task_id % 10000, task_id))
}

pub fn task_dir(topdir: &Path, task_id: i64) -> PathBuf {
    work(topdir).join(task_rel(task_id))
}

pub fn build_dir(topdir: &Path, name: &str, version: &str, release: &str) -> PathBuf {
    topdir
        .join("packages")
        .join(name)
        .join(version)
        .join(release)
}

pub fn scratch_dir(topdir: &Path, owner: &str, task_id: i64) -> PathBuf {
    topdir
        .join("scratch")
        .join(owner)
        .join(format!("task_{task_id}"))
}

/// Marker that an upload has started but was not confirmed by `checkUpload`: a file with
/// a marker is never taken as a complete input.
pub fn upload_marker(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.uploading"))
}

/// Relative names of the files below `dir` (dot files are internal and hidden).
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let r = rel.join(&name);
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(r),
                Ok(_) => out.push(r.to_string_lossy().into_owned()),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(
            clean_relative("cli-build/a/b.rpm").unwrap(),
            PathBuf::from("cli-build/a/b.rpm")
        );
        assert!(clean_relative("../etc/passwd").is_err());
        assert!(clean_relative("a/../../b").is_err());
        assert!(clean_relative("/etc/passwd").is_err());
        assert!(clean_relative("").is_err());
        assert_eq!(clean_relative("./a").unwrap(), PathBuf::from("a"));
    }

    #[test]
    fn task_dirs_follow_koji() {
        assert_eq!(task_rel(12345), PathBuf::from("tasks/2345/12345"));
        assert_eq!(task_rel(7), PathBuf::from("tasks/7/7"));
    }

    #[test]
    fn markers_are_hidden() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.log"), "x").unwrap();
        std::fs::write(upload_marker(&d.path().join("a.log")), "").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b.rpm"), "x").unwrap();
        assert_eq!(
            list_files(d.path()),
            vec!["a.log".to_string(), "sub/b.rpm".to_string()]
        );
    }
}
