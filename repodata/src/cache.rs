//! Per-package metadata cache.
//!
//! Regenerating a repo is dominated by reading (hashing) every RPM; with this cache a
//! regeneration after one package changed reads only that package:
//!
//! * `objects/<aa>/<sha256>-<limit>.v<format>`: the [`PackageMeta`] of one RPM content
//!   (in a compact binary form: loading 2000 of them is most of a warm regeneration),
//!   keyed by the file's SHA-256 (and the changelog limit it was read with). Identical
//!   packages at different paths (the same build in many tag repos) share it.
//! * `index.json`: path → (size, mtime with nanoseconds, device, inode) → SHA-256, so
//!   an unchanged file is recognised by one `stat` without being hashed again.
//!
//! Koji never rewrites a package in place (a rebuilt package is a new file, hence a new
//! inode or mtime), which is what makes the stat key safe. Entries are written atomically
//! (temporary file + rename), so concurrent users of one cache directory can only lose
//! index updates (costing a re-read), never read a torn entry.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::{Error, Result};
use crate::meta::PackageMeta;
use crate::rpmread::{ReadOptions, read_rpm_with};

/// Bumped whenever the cached representation or the reading rules change, so stale
/// entries from an older kkoji are ignored instead of misread.
/// 2: entries in the binary form of [`crate::codec`] instead of JSON.
const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    dev: u64,
    ino: u64,
    sha256: String,
}

impl Stamp {
    fn matches(&self, st: &fs::Metadata) -> bool {
        self.size == st.size()
            && self.mtime == st.mtime()
            && self.mtime_nsec == st.mtime_nsec()
            && self.dev == st.dev()
            && self.ino == st.ino()
    }
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    format: u32,
    entries: HashMap<String, Stamp>,
}

/// A directory of cached per-package metadata; see the module docs for the layout.
///
/// Safe to share between threads (`&MetaCache` is enough to read through it).
#[derive(Debug)]
pub struct MetaCache {
    dir: PathBuf,
    index: Mutex<HashMap<String, Stamp>>,
    dirty: AtomicBool,
    rpm_reads: AtomicU64,
    hits: AtomicU64,
}

impl MetaCache {
    /// Opens (creating if needed) a cache directory. An unreadable or outdated index is
    /// treated as empty: the cache is an optimisation, never a source of truth.
    pub fn open(dir: impl AsRef<Path>) -> Result<MetaCache> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(dir.join("objects")).map_err(|e| Error::io(&dir, e))?;
        let index_path = dir.join("index.json");
        let index = match fs::read(&index_path) {
            Ok(bytes) => match serde_json::from_slice::<IndexFile>(&bytes) {
                Ok(f) if f.format == FORMAT => f.entries,
                Ok(_) => HashMap::new(),
                Err(e) => {
                    tracing::warn!(path = %index_path.display(), error = %e, "ignoring unreadable cache index");
                    HashMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(Error::io(&index_path, e)),
        };
        Ok(MetaCache {
            dir,
            index: Mutex::new(index),
            dirty: AtomicBool::new(false),
            rpm_reads: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many RPM files were actually opened and read (hashed and parsed) through this
    /// cache since it was opened.
    pub fn rpm_reads(&self) -> u64 {
        self.rpm_reads.load(Ordering::Relaxed)
    }

    /// How many packages were answered from the cache without reading the RPM.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// What the index knows about `path` when the file is unchanged since it was read:
    /// (SHA-256, mtime, size). Nothing else is loaded: this is how an incremental run
    /// learns which packages it need not look at.
    pub(crate) fn peek(&self, path: &Path) -> Result<Option<(String, i64, u64)>> {
        let st = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let key = std::path::absolute(path)
            .map_err(|e| Error::io(path, e))?
            .to_string_lossy()
            .into_owned();
        let known = self.index.lock().ok().and_then(|idx| {
            idx.get(&key)
                .filter(|s| s.matches(&st))
                .map(|s| (s.sha256.clone(), st.mtime(), st.size()))
        });
        if known.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(known)
    }

    /// What, besides a package's checksum, decides the metadata read for it: the cache
    /// format and the changelog limit. Part of the keys of whole-chunk records.
    pub(crate) fn id_context(&self, opts: &ReadOptions) -> String {
        let limit = opts
            .changelog_limit
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        format!("meta-v{FORMAT}-{limit}")
    }

    /// Like [`crate::read_rpm_with`], but answers from the cache when the file is
    /// unchanged (same size, mtime, device and inode as when it was last read).
    ///
    /// `location_href`, `time_file` and `size_package` always describe the file at `path`
    /// now, even when the rest comes from an entry recorded for another path.
    pub fn read_rpm(
        &self,
        path: impl AsRef<Path>,
        location_href: &str,
        opts: &ReadOptions,
    ) -> Result<PackageMeta> {
        self.read_rpm_counted(path.as_ref(), location_href, opts, true)
    }

    /// [`MetaCache::read_rpm`]; `count_hit` is false when the package was already counted
    /// as a hit by [`MetaCache::peek`] in the same run.
    pub(crate) fn read_rpm_counted(
        &self,
        path: &Path,
        location_href: &str,
        opts: &ReadOptions,
        count_hit: bool,
    ) -> Result<PackageMeta> {
        let st = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let key = std::path::absolute(path)
            .map_err(|e| Error::io(path, e))?
            .to_string_lossy()
            .into_owned();
        let known = self
            .index
            .lock()
            .ok()
            .and_then(|idx| idx.get(&key).filter(|s| s.matches(&st)).cloned());
        if let Some(stamp) = known
            && let Some(mut meta) = self.load(&stamp.sha256, opts)
        {
            if count_hit {
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
            meta.location_href = location_href.to_string();
            meta.time_file = st.mtime();
            meta.size_package = st.size();
            return Ok(meta);
        }

        self.rpm_reads.fetch_add(1, Ordering::Relaxed);
        let meta = read_rpm_with(path, location_href, opts)?;
        if let Err(e) = self.store(&meta, opts) {
            tracing::warn!(error = %e, "could not write a metadata cache entry");
        }
        // The stamp is the one taken before reading: if the file changed meanwhile, the
        // next lookup will not match and the file is simply read again.
        let stamp = Stamp {
            size: st.size(),
            mtime: st.mtime(),
            mtime_nsec: st.mtime_nsec(),
            dev: st.dev(),
            ino: st.ino(),
            sha256: meta.checksum.clone(),
        };
        if let Ok(mut idx) = self.index.lock() {
            idx.insert(key, stamp);
            self.dirty.store(true, Ordering::Relaxed);
        }
        Ok(meta)
    }

    /// Writes the path index if it changed. [`crate::read_packages`] calls this after a
    /// run; callers using [`MetaCache::read_rpm`] directly should call it when done.
    pub fn save(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let entries = match self.index.lock() {
            Ok(idx) => idx.clone(),
            Err(_) => return Ok(()),
        };
        let bytes = serde_json::to_vec(&IndexFile {
            format: FORMAT,
            entries,
        })
        .map_err(|e| Error::io(&self.dir, std::io::Error::other(e)))?;
        write_atomic(&self.dir, &self.dir.join("index.json"), &bytes)
    }

    fn entry_path(&self, sha: &str, opts: &ReadOptions) -> PathBuf {
        let limit = opts
            .changelog_limit
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        let shard = sha.get(..2).unwrap_or("xx");
        self.dir
            .join("objects")
            .join(shard)
            .join(format!("{sha}-{limit}.v{FORMAT}"))
    }

    fn load(&self, sha: &str, opts: &ReadOptions) -> Option<PackageMeta> {
        let path = self.entry_path(sha, opts);
        let bytes = fs::read(&path).ok()?;
        match codec::decode(&bytes) {
            Some(meta) if meta.checksum == sha => Some(meta),
            _ => {
                tracing::warn!(path = %path.display(), "ignoring unreadable cache entry");
                None
            }
        }
    }

    fn store(&self, meta: &PackageMeta, opts: &ReadOptions) -> Result<()> {
        let path = self.entry_path(&meta.checksum, opts);
        if path.exists() {
            return Ok(());
        }
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        write_atomic(&parent, &path, &codec::encode(meta))
    }
}

/// Writes a file via a temporary sibling and rename, so readers never see it half written.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
