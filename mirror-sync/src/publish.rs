//! Publishing a repo atomically. The directory readers use (`RPMS.os`) is a symlink to one
//! complete tree of hard links (`.RPMS.os.trees/g<N>/`); a new generation is built beside
//! it and the symlink is replaced by one `rename`. A reader therefore sees the old tree or
//! the new one, never a mix, and the new tree also carries the previous generation's
//! metadata files, so a reader that fetched the old repomd.xml a moment before the switch
//! still finds every file it names.
//!
//! A repo that mrepo published as a real directory is switched the same way
//! (`renameat2(RENAME_EXCHANGE)`), and the old directory is kept as
//! `.RPMS.os.trees/mrepo-<time>/` for the operator to remove.

use std::path::{Path, PathBuf};

use kkoji_repodata::{Compression, Groups, PackageMeta, WriteOptions, write_repo};

/// How the new tree gets its metadata.
pub enum Metadata {
    /// Upstream's own files, byte for byte (the signature still applies): repomd.xml, its
    /// optional `.asc`, and each record's (href, pool file).
    Verbatim {
        repomd: Vec<u8>,
        asc: Option<Vec<u8>>,
        files: Vec<(String, PathBuf)>,
    },
    /// Written by us for exactly the packages published (filters, retained packages).
    Rewrite {
        packages: Vec<PackageMeta>,
        groups: Option<PathBuf>,
    },
}

/// Paths that belong to one published repo.
pub struct Layout {
    pub dest: PathBuf,
    pub parent: PathBuf,
    pub name: String,
}

impl Layout {
    pub fn new(dest: &Path) -> Result<Layout, String> {
        let parent = dest
            .parent()
            .ok_or_else(|| format!("{}: no parent directory", dest.display()))?
            .to_path_buf();
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: no file name", dest.display()))?;
        Ok(Layout {
            dest: dest.to_path_buf(),
            parent,
            name,
        })
    }

    pub fn trees(&self) -> PathBuf {
        self.parent.join(format!(".{}.trees", self.name))
    }

    pub fn tree(&self, generation: u64) -> PathBuf {
        self.trees().join(format!("g{generation}"))
    }

    /// Where snapshots of this repo go: `RPMS.os.snapshots/<date>-<name>/`.
    pub fn snapshots(&self) -> PathBuf {
        self.parent.join(format!("{}.snapshots", self.name))
    }

    /// The tree readers currently see, if any.
    pub fn current(&self) -> Option<PathBuf> {
        let meta = std::fs::symlink_metadata(&self.dest).ok()?;
        if meta.file_type().is_symlink() {
            std::fs::canonicalize(&self.dest).ok()
        } else if meta.is_dir() {
            Some(self.dest.clone())
        } else {
            None
        }
    }
}

fn io(p: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", p.display())
}

/// A relative href that stays inside the tree.
pub fn safe_href(href: &str) -> bool {
    let p = Path::new(href);
    !href.is_empty()
        && p.is_relative()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn link_into(tree: &Path, href: &str, src: &Path) -> Result<(), String> {
    if !safe_href(href) {
        return Err(format!("{href}: not a relative path inside the repo"));
    }
    let dst = tree.join(href);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    match std::fs::hard_link(src, &dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "{}: cannot hard-link from {} (pool and tree must be on one filesystem): {e}",
            dst.display(),
            src.display()
        )),
    }
}

/// Builds generation `generation` from `packages` (href, pool file) and `metadata`, then
/// switches `layout.dest` to it. On error the new tree is removed and readers still see
/// the previous one.
pub fn publish(
    layout: &Layout,
    generation: u64,
    packages: &[(String, PathBuf)],
    metadata: Metadata,
) -> Result<PathBuf, String> {
    let tree = layout.tree(generation);
    if tree.exists() {
        std::fs::remove_dir_all(&tree).map_err(|e| io(&tree, e))?;
    }
    std::fs::create_dir_all(&tree).map_err(|e| io(&tree, e))?;
    let built = build(layout, &tree, packages, metadata);
    let res = built.and_then(|()| switch(layout, &tree));
    if res.is_err() {
        let _ = std::fs::remove_dir_all(&tree);
    }
    res.map(|()| tree)
}

fn build(
    layout: &Layout,
    tree: &Path,
    packages: &[(String, PathBuf)],
    metadata: Metadata,
) -> Result<(), String> {
    for (href, src) in packages {
        link_into(tree, href, src)?;
    }
    let repodata = tree.join("repodata");
    match metadata {
        Metadata::Verbatim { repomd, asc, files } => {
            for (href, src) in &files {
                link_into(tree, href, src)?;
            }
            std::fs::create_dir_all(&repodata).map_err(|e| io(&repodata, e))?;
            let p = repodata.join("repomd.xml");
            crate::state::write_atomic(&p, &repomd).map_err(|e| io(&p, e))?;
            if let Some(asc) = asc {
                let p = repodata.join("repomd.xml.asc");
                crate::state::write_atomic(&p, &asc).map_err(|e| io(&p, e))?;
            }
        }
        Metadata::Rewrite { packages, groups } => {
            let opts = WriteOptions {
                compression: Compression::Gzip,
                groups: groups.map(Groups::File),
                revision: None,
                chunk_cache: None,
            };
            write_repo(tree, &packages, &opts).map_err(|e| e.to_string())?;
        }
    }
    // the previous generation's metadata files stay readable for one more generation
    if let Some(cur) = layout.current()
        && let Ok(rd) = std::fs::read_dir(cur.join("repodata"))
    {
        for e in rd.flatten() {
            let name = e.file_name();
            let n = name.to_string_lossy();
            if n.starts_with("repomd.xml") || n.starts_with('.') {
                continue;
            }
            let dst = repodata.join(&name);
            if !dst.exists() {
                let _ = std::fs::hard_link(e.path(), &dst);
            }
        }
    }
    // the directory entries (hard links) reach the disk before readers can see them; the
    // files themselves were fsynced when they entered the pool (syncfs would flush the whole
    // filesystem, which on a busy mirror host costs seconds)
    fsync_dirs(tree)
}

fn fsync_dirs(dir: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            fsync_dirs(&e.path())?;
        }
    }
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}

fn switch(layout: &Layout, tree: &Path) -> Result<(), String> {
    let rel = Path::new(&format!(".{}.trees", layout.name)).join(
        tree.file_name()
            .ok_or_else(|| format!("{}: no file name", tree.display()))?,
    );
    let tmp = layout.parent.join(format!(".{}.new", layout.name));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&rel, &tmp).map_err(|e| io(&tmp, e))?;
    let is_real_dir = std::fs::symlink_metadata(&layout.dest)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if is_real_dir {
        // an mrepo-era directory: swap in one step, keep the old directory aside
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &tmp,
            nix::fcntl::AT_FDCWD,
            &layout.dest,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .map_err(|e| format!("{}: rename exchange: {e}", layout.dest.display()))?;
        let keep = layout.trees().join(format!(
            "mrepo-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ));
        std::fs::rename(&tmp, &keep).map_err(|e| io(&keep, e))?;
        tracing::warn!(
            "{}: the previous (mrepo) directory is kept as {}; remove it when satisfied",
            layout.dest.display(),
            keep.display()
        );
    } else {
        std::fs::rename(&tmp, &layout.dest).map_err(|e| io(&layout.dest, e))?;
    }
    let parent = std::fs::File::open(&layout.parent).map_err(|e| io(&layout.parent, e))?;
    parent.sync_all().map_err(|e| io(&layout.parent, e))?;
    Ok(())
}

/// Removes every generation but `keep` (mrepo leftovers stay).
pub fn remove_old_trees(layout: &Layout, keep: &Path) {
    let Ok(rd) = std::fs::read_dir(layout.trees()) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().into_owned();
        if p == keep || n.starts_with("mrepo-") {
            continue;
        }
        if let Err(err) = std::fs::remove_dir_all(&p) {
            tracing::warn!("{}: cannot remove an old tree: {err}", p.display());
        }
    }
}

/// Copies a tree as hard links (`snapshot`), into a temporary name renamed at the end.
pub fn link_tree(src: &Path, dst: &Path) -> Result<(), String> {
    let tmp = dst.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    fn walk(src: &Path, dst: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dst).map_err(|e| io(dst, e))?;
        for e in std::fs::read_dir(src).map_err(|e| io(src, e))? {
            let e = e.map_err(|e| io(src, e))?;
            let ft = e.file_type().map_err(|e| io(&e_path(src), e))?;
            let to = dst.join(e.file_name());
            if ft.is_dir() {
                walk(&e.path(), &to)?;
            } else if ft.is_file() {
                std::fs::hard_link(e.path(), &to).map_err(|err| io(&to, err))?;
            }
        }
        Ok(())
    }
    fn e_path(p: &Path) -> PathBuf {
        p.to_path_buf()
    }
    let res = walk(src, &tmp).and_then(|()| std::fs::rename(&tmp, dst).map_err(|e| io(dst, e)));
    if res.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    res
}
