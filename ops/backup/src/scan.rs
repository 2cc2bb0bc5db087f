//! The walk of the scratch tree a run starts with: every entry (not following symlinks) in
//! manifest order — pre-order, names sorted — with its metadata, excludes applied, hard links
//! found by inode; what cannot be read is reported and left out, sockets and FIFOs noted.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::manifest::{self, Entry, Kind};

/// The scratch tree itself cannot be read: nothing to back up.
#[derive(Debug, thiserror::Error)]
#[error("scratch tree {}: {source}", path.display())]
pub struct ScanError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

pub struct ScanItem {
    pub entry: Entry,
    pub abs: PathBuf,
    /// (device, inode) of a file with more than one name.
    link_key: Option<(u64, u64)>,
}

pub struct Scan {
    pub items: Vec<ScanItem>,
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

/// Walks the scratch tree (not following symlinks), pre-order, names sorted.
pub fn scan_tree(s: &Settings) -> Result<Scan, ScanError> {
    let root = &s.scratch_tree;
    let meta = fs::symlink_metadata(root).map_err(|source| ScanError {
        path: root.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ScanError {
            path: root.clone(),
            source: io::Error::other("not a directory"),
        });
    }
    let mut scan = Scan {
        items: Vec::new(),
        notes: Vec::new(),
        errors: Vec::new(),
    };
    scan.items.push(ScanItem {
        entry: entry_of(".", &meta, Kind::Dir),
        abs: root.clone(),
        link_key: None,
    });
    // Pre-order, names sorted: manifest order as it is walked (a directory, then its
    // contents, then its next sibling).
    scan_dir(s, root, "", &mut scan);
    debug_assert!(
        scan.items
            .is_sorted_by(|a, b| manifest::component_order(&a.entry.path, &b.entry.path).is_le())
    );
    // Hard links: the first name (in manifest order) holds the content, later ones point to it.
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    for item in &mut scan.items {
        let Some(key) = item.link_key else { continue };
        match links.get(&key) {
            Some(first) => {
                item.entry.kind = Kind::Hardlink;
                item.entry.size = 0;
                item.entry.target = Some(first.clone());
            }
            None => {
                links.insert(key, item.entry.path.clone());
            }
        }
    }
    Ok(scan)
}

/// Adds the entries of `dir` (relative path `rel`, "" for the root) and, right after each
/// subdirectory, that subdirectory's entries.
fn scan_dir(s: &Settings, dir: &Path, rel: &str, scan: &mut Scan) {
    // The directory's entries are stat'ed through its open handle (no path walk each).
    let mut names: Vec<(std::ffi::OsString, fs::DirEntry)> = match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for ent in rd {
                match ent {
                    Ok(e) => v.push((e.file_name(), e)),
                    Err(e) => scan.errors.push(format!("{}: {e}", dir.display())),
                }
            }
            v
        }
        Err(e) => {
            scan.errors.push(format!(
                "{}: {e}; its contents are not backed up",
                dir.display()
            ));
            return;
        }
    };
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, dirent) in names {
        let abs = dir.join(&name);
        let Some(name) = name.to_str() else {
            scan.errors.push(format!(
                "{}: the name is not UTF-8; not backed up",
                abs.display()
            ));
            continue;
        };
        let path = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        if s.exclude_set.is_match(&path) {
            continue;
        }
        // Like lstat: a symlink is not followed.
        let meta = match dirent.metadata() {
            Ok(m) => m,
            Err(e) => {
                scan.errors
                    .push(format!("{}: {e}; not backed up", abs.display()));
                continue;
            }
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            scan.items.push(ScanItem {
                entry: entry_of(&path, &meta, Kind::Dir),
                abs: abs.clone(),
                link_key: None,
            });
            scan_dir(s, &abs, &path, scan);
        } else if ft.is_symlink() {
            let target = match fs::read_link(&abs) {
                Ok(t) => t,
                Err(e) => {
                    scan.errors
                        .push(format!("{}: {e}; not backed up", abs.display()));
                    continue;
                }
            };
            let Some(target) = target.to_str().map(str::to_owned) else {
                scan.errors.push(format!(
                    "{}: the link target is not UTF-8; not backed up",
                    abs.display()
                ));
                continue;
            };
            let mut e = entry_of(&path, &meta, Kind::Symlink);
            e.target = Some(target);
            scan.items.push(ScanItem {
                entry: e,
                abs,
                link_key: None,
            });
        } else if ft.is_file() {
            let link_key = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
            scan.items.push(ScanItem {
                entry: entry_of(&path, &meta, Kind::File),
                abs,
                link_key,
            });
        } else {
            let what = if ft.is_socket() {
                "socket"
            } else if ft.is_fifo() {
                "FIFO"
            } else {
                "device node"
            };
            tracing::info!(path = %abs.display(), "skipping a {what}");
            scan.notes
                .push(format!("{}: a {what}; skipped", abs.display()));
        }
    }
}

fn entry_of(path: &str, m: &fs::Metadata, kind: Kind) -> Entry {
    Entry {
        path: path.to_owned(),
        kind,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: m.mtime(),
        mtime_nsec: u32::try_from(m.mtime_nsec()).unwrap_or(0),
        size: if kind == Kind::File { m.size() } else { 0 },
        blake3: None,
        stored_in: None,
        target: None,
        parts: Vec::new(),
        ctime: m.ctime(),
        ctime_nsec: u32::try_from(m.ctime_nsec()).unwrap_or(0),
        ino: m.ino(),
    }
}
