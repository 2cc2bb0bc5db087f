//! `createrepo_c DIR` ([`create_repo`]) and its incremental core [`create_repo_from`]:
//! with a metadata cache, regenerate a repo touching only what changed.
//!
//! The packages are identified first, without loading anything: a `stat` and the cache
//! index give each unchanged file's SHA-256; only new or changed files are read. The
//! packages are cut into chunks (see [`crate::chunks`]), and every chunk whose packages
//! (checksum, href, mtime, size) are the same as in an earlier run is copied from the
//! chunk records of that run, both its uncompressed XML (still hashed for
//! `open-checksum`) and its compressed member. Only chunks with a new or changed package
//! load their packages' metadata, render and compress.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::chunks::{self, IdStore, id_key};
use crate::error::{Error, Result};
use crate::meta::PackageMeta;
use crate::repomd::RepoMd;
use crate::scan::{ReadPackagesOptions, RpmFile, find_rpms, read_packages};
use crate::writer::{WriteOptions, sort_key, write_chunked, write_repo};

/// `createrepo_c DIR`: finds the RPMs under `dir`, reads them (through `cache`) and writes
/// `dir/repodata/`. With `OnBadRpm::Fail` a bad RPM aborts before anything is written.
/// With a metadata cache, only what changed since the last run is read, rendered and
/// compressed (see [`create_repo_from`]).
pub fn create_repo(
    dir: impl AsRef<Path>,
    read: &ReadPackagesOptions<'_>,
    write: &WriteOptions,
) -> Result<RepoMd> {
    let dir = dir.as_ref();
    let files = find_rpms(dir)?;
    create_repo_from(dir, &files, read, write)
}

struct Entry<'a> {
    path: &'a Path,
    href: String,
    sha: String,
    mtime: i64,
    size: u64,
    /// Already read in this run (new or changed file); taken when its chunk is loaded.
    meta: Mutex<Option<PackageMeta>>,
}

/// Writes `dir/repodata/` for `files` (which may live anywhere: their hrefs are what the
/// repo says). With a metadata cache in `read`, unchanged packages are neither loaded nor
/// rendered nor compressed again (see the module docs); the compressed chunks go to
/// `write.chunk_cache`, by default `<cache>/chunks`. Without a cache this is
/// [`read_packages`] + [`write_repo`]. The output is the same either way.
pub fn create_repo_from(
    dir: impl AsRef<Path>,
    files: &[RpmFile],
    read: &ReadPackagesOptions<'_>,
    write: &WriteOptions,
) -> Result<RepoMd> {
    let dir = dir.as_ref();
    let Some(cache) = read.cache else {
        let packages = read_packages(files, read)?;
        return write_repo(dir, &packages, write);
    };
    let chunk_dir = write
        .chunk_cache
        .clone()
        .unwrap_or_else(|| cache.dir().join("chunks"));

    let mut entries: Vec<Entry<'_>> = Vec::with_capacity(files.len());
    let mut unknown: Vec<RpmFile> = Vec::new();
    for f in files {
        match cache.peek(&f.path)? {
            Some((sha, mtime, size)) => entries.push(Entry {
                path: &f.path,
                href: f.location_href.clone(),
                sha,
                mtime,
                size,
                meta: Mutex::new(None),
            }),
            None => unknown.push(f.clone()),
        }
    }
    let known = entries.len();
    // read_packages leaves out bad RPMs when told to skip them, so match results by href
    let fresh = read_packages(&unknown, read)?;
    let mut by_href: std::collections::HashMap<&str, &Path> = files
        .iter()
        .map(|f| (f.location_href.as_str(), f.path.as_path()))
        .collect();
    for meta in fresh {
        let Some(path) = by_href.remove(meta.location_href.as_str()) else {
            continue;
        };
        entries.push(Entry {
            path,
            href: meta.location_href.clone(),
            sha: meta.checksum.clone(),
            mtime: meta.time_file,
            size: meta.size_package,
            meta: Mutex::new(Some(meta)),
        });
    }
    entries.sort_by(|a, b| sort_key(&a.href).cmp(&sort_key(&b.href)));

    let ranges = chunks::ranges(entries.iter().map(|e| e.href.as_str()));
    let context = cache.id_context(&read.read);
    let keys: Vec<String> = ranges
        .iter()
        .map(|r| {
            id_key(
                &context,
                entries[r.clone()]
                    .iter()
                    .map(|e| (e.sha.as_str(), e.href.as_str(), e.mtime, e.size)),
            )
        })
        .collect();
    let ids = IdStore::new(&chunk_dir);
    let c = write.compression;
    let loaded: Vec<Mutex<Option<Arc<Vec<PackageMeta>>>>> =
        ranges.iter().map(|_| Mutex::new(None)).collect();
    let rendered = std::sync::atomic::AtomicUsize::new(0);

    let poisoned = || Error::io(dir, std::io::Error::other("a chunk loader panicked"));
    // The packages of chunk `i`, loaded once for all three files (the other files' threads
    // wait for it rather than load it again).
    let load = |i: usize| -> Result<Arc<Vec<PackageMeta>>> {
        let mut slot = loaded[i].lock().map_err(|_| poisoned())?;
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let mut metas = Vec::with_capacity(ranges[i].len());
        for e in &entries[ranges[i].clone()] {
            let taken = e.meta.lock().map_err(|_| poisoned())?.take();
            let m = match taken {
                Some(m) => m,
                None => cache.read_rpm_counted(e.path, &e.href, &read.read, false)?,
            };
            if m.checksum != e.sha || m.time_file != e.mtime || m.size_package != e.size {
                return Err(Error::io(
                    e.path,
                    std::io::Error::other("the package changed while the repo was being written"),
                ));
            }
            metas.push(m);
        }
        let metas = Arc::new(metas);
        *slot = Some(metas.clone());
        rendered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(metas)
    };
    let chunk = |i: usize, kind: crate::writer::Kind, xml: &mut String, member: &mut Vec<u8>| {
        let key = keys.get(i).map(String::as_str).unwrap_or_default();
        if let Some((x, m)) = ids.get(key, kind.name(), c) {
            *xml = x;
            *member = m;
            return Ok(());
        }
        for p in load(i)?.iter() {
            kind.render(xml, p);
        }
        *member = chunks::compress(xml.as_bytes(), c).map_err(|e| Error::io(&chunk_dir, e))?;
        ids.put(key, kind.name(), c, xml, member);
        Ok(())
    };
    let md = write_chunked(dir, entries.len(), ranges.len(), &chunk, write)?;
    if let Err(e) = cache.save() {
        tracing::warn!(error = %e, "could not save the metadata cache index");
    }
    tracing::debug!(
        packages = entries.len(),
        unchanged = known,
        chunks = ranges.len(),
        chunks_rendered = rendered.into_inner(),
        "incremental write"
    );
    Ok(md)
}
