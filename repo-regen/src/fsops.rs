//! The repos tree on disk: scanning `<topdir>/repos/<tag>/` and removing repo directories
//! safely. Two rules hold everywhere here:
//! - no symlink below `<topdir>/repos` is ever followed (a repo's `toplink` points at the
//!   whole topdir; following it while removing would delete the farm's packages), and
//! - a directory is first renamed to a hidden `.deleting-<id>` name in the same
//!   directory, then removed: a half-removed repo never looks like a repo, and a removal
//!   interrupted by a crash is finished by the next prune.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::decide::{DELETING_PREFIX, EntryKind};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {op}: {err}")]
pub struct FsError {
    pub path: PathBuf,
    pub op: &'static str,
    pub err: std::io::Error,
}

fn fs_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |err| FsError {
        path: path.to_path_buf(),
        op,
        err,
    }
}

/// One entry of a tag directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
    /// Modification time, seconds since the epoch.
    pub mtime: f64,
}

/// One tag directory of the repos tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDir {
    pub name: String,
    pub path: PathBuf,
    /// Where `latest` points, when it is a plain relative name.
    pub latest_target: Option<String>,
    pub entries: Vec<Entry>,
}

fn kind_of(meta: &std::fs::Metadata) -> EntryKind {
    let ft = meta.file_type();
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::Other
    }
}

fn mtime_of(meta: &std::fs::Metadata) -> f64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Lists the tag directories of `repos_dir` and their entries, without following any
/// symlink below it. Symlinked or non-directory tag entries are reported in `skipped`.
/// A missing `repos_dir` is an empty tree (no repo was ever made).
pub fn scan(repos_dir: &Path) -> Result<(Vec<TagDir>, Vec<String>), FsError> {
    let mut tags = Vec::new();
    let mut skipped = Vec::new();
    let rd = match std::fs::read_dir(repos_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((tags, skipped)),
        Err(e) => return Err(fs_err(repos_dir, "read_dir")(e)),
    };
    for ent in rd {
        let ent = ent.map_err(fs_err(repos_dir, "read_dir"))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let path = ent.path();
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(fs_err(&path, "lstat")(e)),
        };
        if kind_of(&meta) != EntryKind::Dir {
            skipped.push(name);
            continue;
        }
        tags.push(scan_tag(&path, name)?);
    }
    tags.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((tags, skipped))
}

fn scan_tag(path: &Path, name: String) -> Result<TagDir, FsError> {
    let latest_target = std::fs::read_link(path.join("latest"))
        .ok()
        .and_then(|t| t.to_str().map(str::to_owned))
        .filter(|t| !t.contains('/'));
    let mut entries = Vec::new();
    let rd = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        // removed since the parent was listed
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(TagDir {
                name,
                path: path.to_path_buf(),
                latest_target,
                entries,
            });
        }
        Err(e) => return Err(fs_err(path, "read_dir")(e)),
    };
    for ent in rd {
        let ent = ent.map_err(fs_err(path, "read_dir"))?;
        let p = ent.path();
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(fs_err(&p, "lstat")(e)),
        };
        entries.push(Entry {
            name: ent.file_name().to_string_lossy().into_owned(),
            kind: kind_of(&meta),
            mtime: mtime_of(&meta),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(TagDir {
        name,
        path: path.to_path_buf(),
        latest_target,
        entries,
    })
}

/// `<repos_dir>/<tag_name>` if the tag name is a plain relative path and no component of
/// it is a symlink; `Ok(None)` when it does not exist. Tag names may contain `/`.
pub fn tag_dir(repos_dir: &Path, tag_name: &str) -> Result<Option<PathBuf>, FsError> {
    let rel = Path::new(tag_name);
    if tag_name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(FsError {
            path: repos_dir.join(tag_name),
            op: "resolve",
            err: std::io::Error::new(ErrorKind::InvalidInput, "not a plain tag name"),
        });
    }
    let mut cur = repos_dir.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(FsError {
                    path: cur,
                    op: "resolve",
                    err: std::io::Error::new(
                        ErrorKind::InvalidInput,
                        "a symlink or file where a directory was expected",
                    ),
                });
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fs_err(&cur, "lstat")(e)),
        }
    }
    Ok(Some(cur))
}

/// What a removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Removed,
    /// Nothing there (already removed, or never created).
    Absent,
}

/// Removes `<tag_dir>/<name>` (a real directory, never a symlink) by renaming it to
/// `.deleting-<name>` first. A leftover `.deleting-<name>` from an earlier crash is
/// removed before the rename.
pub fn remove_repo_dir(tag_dir: &Path, name: &str) -> Result<Removed, FsError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(FsError {
            path: tag_dir.join(name),
            op: "remove",
            err: std::io::Error::new(ErrorKind::InvalidInput, "not a repo directory name"),
        });
    }
    let path = tag_dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_dir() => {}
        Ok(_) => {
            return Err(FsError {
                path,
                op: "remove",
                err: std::io::Error::new(ErrorKind::InvalidInput, "not a directory; left alone"),
            });
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Removed::Absent),
        Err(e) => return Err(fs_err(&path, "lstat")(e)),
    }
    let hidden = tag_dir.join(format!("{DELETING_PREFIX}{name}"));
    remove_leftover(&hidden)?;
    match std::fs::rename(&path, &hidden) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Removed::Absent),
        Err(e) => return Err(fs_err(&path, "rename")(e)),
    }
    remove_leftover(&hidden)?;
    Ok(Removed::Removed)
}

/// Removes a hidden `.deleting-*` entry; `std::fs::remove_dir_all` removes symlinks inside
/// it as links and never follows them.
pub fn remove_leftover(path: &Path) -> Result<Removed, FsError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => match std::fs::remove_dir_all(path) {
            Ok(()) => Ok(Removed::Removed),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Removed::Absent),
            Err(e) => Err(fs_err(path, "remove_dir_all")(e)),
        },
        Ok(_) => match std::fs::remove_file(path) {
            Ok(()) => Ok(Removed::Removed),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Removed::Absent),
            Err(e) => Err(fs_err(path, "remove")(e)),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Removed::Absent),
        Err(e) => Err(fs_err(path, "lstat")(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A repo dir as the hub lays it out, with the `toplink` back to topdir.
    fn make_repo(topdir: &Path, tag: &str, id: i64) -> PathBuf {
        let dir = topdir.join("repos").join(tag).join(id.to_string());
        std::fs::create_dir_all(dir.join("x86_64/repodata")).unwrap();
        std::fs::write(dir.join("repo.json"), "{}").unwrap();
        std::fs::write(dir.join("x86_64/pkglist"), "").unwrap();
        symlink("../../../..", dir.join("x86_64/toplink")).unwrap();
        dir
    }

    #[test]
    fn removal_never_follows_toplink() {
        let top = tempfile::tempdir().unwrap();
        let pkg = top.path().join("packages/foo/1/1/x86_64/foo.rpm");
        std::fs::create_dir_all(pkg.parent().unwrap()).unwrap();
        std::fs::write(&pkg, "rpm").unwrap();
        let dir = make_repo(top.path(), "f40-build", 5);
        let tagdir = dir.parent().unwrap().to_path_buf();
        assert_eq!(remove_repo_dir(&tagdir, "5").unwrap(), Removed::Removed);
        assert!(!dir.exists());
        assert!(!tagdir.join(".deleting-5").exists());
        assert!(pkg.exists(), "toplink was followed");
        assert_eq!(remove_repo_dir(&tagdir, "5").unwrap(), Removed::Absent);
        assert!(remove_repo_dir(&tagdir, "../x").is_err());
        assert!(remove_repo_dir(&tagdir, ".deleting-5").is_err());
    }

    #[test]
    fn symlinked_repo_dirs_are_left_alone() {
        let top = tempfile::tempdir().unwrap();
        let outside = top.path().join("outside");
        std::fs::create_dir_all(outside.join("keep")).unwrap();
        let tagdir = top.path().join("repos/t");
        std::fs::create_dir_all(&tagdir).unwrap();
        symlink(&outside, tagdir.join("7")).unwrap();
        let e = remove_repo_dir(&tagdir, "7").unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        assert!(outside.join("keep").exists());
        // a symlinked tag dir is not resolved through
        symlink(&outside, top.path().join("repos/evil")).unwrap();
        assert!(tag_dir(&top.path().join("repos"), "evil").is_err());
        assert!(tag_dir(&top.path().join("repos"), "../x").is_err());
        assert_eq!(
            tag_dir(&top.path().join("repos"), "t").unwrap(),
            Some(tagdir.clone())
        );
        assert_eq!(tag_dir(&top.path().join("repos"), "nope").unwrap(), None);
    }

    #[test]
    fn leftover_is_replaced_and_scan_reports_kinds() {
        let top = tempfile::tempdir().unwrap();
        let dir = make_repo(top.path(), "t", 3);
        make_repo(top.path(), "t", 4);
        let tagdir = dir.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(tagdir.join(".deleting-3/junk")).unwrap();
        std::fs::create_dir_all(tagdir.join("notes")).unwrap();
        std::fs::write(tagdir.join("README"), "").unwrap();
        symlink("4", tagdir.join("latest")).unwrap();
        symlink(top.path(), top.path().join("repos/link-tag")).unwrap();
        std::fs::write(top.path().join("repos/file"), "").unwrap();

        let (tags, skipped) = scan(&top.path().join("repos")).unwrap();
        assert_eq!(tags.len(), 1);
        assert_eq!(skipped.len(), 2);
        let t = &tags[0];
        assert_eq!(t.latest_target.as_deref(), Some("4"));
        let kinds: Vec<(&str, EntryKind)> = t
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (".deleting-3", EntryKind::Dir),
                ("3", EntryKind::Dir),
                ("4", EntryKind::Dir),
                ("README", EntryKind::Other),
                ("latest", EntryKind::Symlink),
                ("notes", EntryKind::Dir),
            ]
        );
        assert!(t.entries.iter().all(|e| e.mtime > 0.0));

        assert_eq!(remove_repo_dir(&tagdir, "3").unwrap(), Removed::Removed);
        assert!(!tagdir.join(".deleting-3").exists());
        assert!(tagdir.join("4").exists());
        let (empty, _) = scan(&top.path().join("nothing")).unwrap();
        assert!(empty.is_empty());
    }
}
