//! Writing `repodata/` for a set of packages.
//!
//! Everything is written into a fresh hidden directory next to `repodata/` and only then
//! swapped in with one atomic `renameat2(RENAME_EXCHANGE)`, so a client (or a Koji
//! builder) never sees a half-written repodata, and a failure at any point leaves the
//! previous repodata exactly as it was.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::chunks::{self, ChunkStore};
use crate::compress::{Compression, Encoder, HashWriter};
use crate::error::{Error, Result};
use crate::meta::PackageMeta;
use crate::repomd::{Checksum, RepoMd, RepoMdRecord};
use crate::xmlwrite;

/// Where the comps (groups) file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// Read from this file when the repo is written.
    File(PathBuf),
    /// These bytes (a complete comps.xml document).
    Bytes(Vec<u8>),
}

/// How to write a repository's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compression of primary/filelists/other and of the compressed comps copy.
    pub compression: Compression,
    /// Optional comps.xml, published as `group` (plain, which is what Koji's and dnf's
    /// group code reads) and `group_gz`/`group_zst` (compressed).
    pub groups: Option<Groups>,
    /// `<revision>`; defaults to the current Unix time, as createrepo_c does.
    pub revision: Option<String>,
    /// Directory of compressed chunks from earlier runs (see "Incremental regeneration"
    /// in the crate docs); with it, only the chunks whose XML changed are compressed again. [`crate::create_repo`]
    /// uses `<metadata cache>/chunks` when it has a [`crate::MetaCache`] and this is None.
    pub chunk_cache: Option<PathBuf>,
}

/// Writes `dir/repodata/` for `packages` and returns what repomd.xml says.
///
/// Packages are written in createrepo_c's order (by file name, then directory of
/// `location_href`), so output does not depend on the order of `packages`. File names
/// carry their checksum (`<sha256>-primary.xml.gz`) so that caches and mirrors never mix
/// files of two generations. The content is deterministic: the same packages give
/// byte-identical primary/filelists/other files (only repomd.xml's timestamps change).
pub fn write_repo(
    dir: impl AsRef<Path>,
    packages: &[PackageMeta],
    opts: &WriteOptions,
) -> Result<RepoMd> {
    let dir = dir.as_ref();
    let mut order: Vec<&PackageMeta> = packages.iter().collect();
    order.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);

    // Dropping `tmp` on any error below removes the partial output.
    let tmp = tempfile::Builder::new()
        .prefix(".repodata.tmp-")
        .tempdir_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let tmp_path = tmp.path().to_path_buf();
    let c = opts.compression;
    let ranges = chunks::ranges(&order);
    let store = opts.chunk_cache.as_deref().map(ChunkStore::new);

    // primary, filelists and other are independent streams: write them concurrently.
    let (primary, filelists, other) = std::thread::scope(|s| {
        let order = &order;
        let tmp_path = &tmp_path;
        let ranges = &ranges;
        let store = store.as_ref();
        let p = s.spawn(move || {
            write_md(
                tmp_path,
                "primary",
                order,
                ranges,
                store,
                &xmlwrite::primary_head(order.len()),
                xmlwrite::primary_package,
                "</metadata>",
                c,
                now,
            )
        });
        let f = s.spawn(move || {
            write_md(
                tmp_path,
                "filelists",
                order,
                ranges,
                store,
                &xmlwrite::filelists_head(order.len()),
                xmlwrite::filelists_package,
                "</filelists>",
                c,
                now,
            )
        });
        let o = write_md(
            tmp_path,
            "other",
            order,
            ranges,
            store,
            &xmlwrite::other_head(order.len()),
            xmlwrite::other_package,
            "</otherdata>",
            c,
            now,
        );
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<RepoMdRecord>>| {
            h.join().unwrap_or_else(|_| {
                Err(Error::io(
                    tmp_path,
                    std::io::Error::other("metadata writer thread panicked"),
                ))
            })
        };
        (join(p), join(f), o)
    });
    let mut records = vec![primary?, filelists?, other?];

    if let Some(groups) = &opts.groups {
        let bytes = match groups {
            Groups::File(p) => fs::read(p).map_err(|e| Error::io(p, e))?,
            Groups::Bytes(b) => b.clone(),
        };
        records.extend(write_groups(&tmp_path, &bytes, c, now)?);
    }

    let repomd = RepoMd {
        revision: opts.revision.clone().unwrap_or_else(|| now.to_string()),
        records,
    };
    let repomd_path = tmp_path.join("repomd.xml");
    write_synced(&repomd_path, repomd.to_xml().as_bytes())?;
    sync_dir(&tmp_path)?;
    swap_into_place(dir, tmp)?;
    let (reused, compressed) = store.as_ref().map_or((0, 0), ChunkStore::stats);
    tracing::info!(
        dir = %dir.display(),
        packages = packages.len(),
        revision = %repomd.revision,
        chunks_reused = reused,
        chunks_compressed = compressed,
        "wrote repodata"
    );
    Ok(repomd)
}

/// createrepo_c's package order: file name, then directory.
fn sort_key(p: &PackageMeta) -> (&str, &str) {
    let href = p.location_href.as_str();
    match href.rfind('/') {
        Some(i) => (&href[i + 1..], &href[..i]),
        None => (href, ""),
    }
}

/// Writes one metadata file as a sequence of compressed members (head, one per chunk of
/// packages, footer), hashing the uncompressed stream for `open-checksum` and the file for
/// `checksum`, then names it after its compressed checksum. Chunks found in `store` (same
/// XML, same compression) are copied instead of compressed again.
#[allow(clippy::too_many_arguments)]
fn write_md(
    tmp: &Path,
    kind: &str,
    pkgs: &[&PackageMeta],
    ranges: &[std::ops::Range<usize>],
    store: Option<&ChunkStore>,
    head: &str,
    render: fn(&mut String, &PackageMeta),
    footer: &str,
    c: Compression,
    now: i64,
) -> Result<RepoMdRecord> {
    use sha2::Digest;
    let staging = tmp.join(format!("{kind}.xml{}", c.suffix()));
    let io = |e| Error::io(&staging, e);
    let file = File::create(&staging).map_err(io)?;
    let mut out = HashWriter::new(BufWriter::with_capacity(256 * 1024, file));
    let mut open = sha2::Sha256::new();
    let mut open_size: u64 = 0;
    let mut member = |out: &mut HashWriter<_>, xml: &str, cache: bool| -> Result<()> {
        open.update(xml.as_bytes());
        open_size += xml.len() as u64;
        match store.filter(|_| cache) {
            Some(st) => st.write_chunk(out, kind, c, xml).map_err(io),
            None => out
                .write_all(&chunks::compress(xml.as_bytes(), c).map_err(io)?)
                .map_err(io),
        }
    };
    member(&mut out, head, false)?;
    let mut buf = String::with_capacity(256 * 1024);
    for r in ranges {
        buf.clear();
        for p in pkgs.get(r.clone()).unwrap_or_default() {
            render(&mut buf, p);
        }
        member(&mut out, &buf, true)?;
    }
    member(&mut out, footer, false)?;
    let open_sha = hex::encode(open.finalize());
    let (bufw, sha, size) = out.finish();
    let file = bufw.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let name = format!("{sha}-{kind}.xml{}", c.suffix());
    let final_path = tmp.join(&name);
    fs::rename(&staging, &final_path).map_err(io)?;
    Ok(RepoMdRecord {
        kind: kind.to_string(),
        checksum: sha256(sha),
        open_checksum: Some(sha256(open_sha)),
        location_href: format!("repodata/{name}"),
        timestamp: now,
        size: Some(size),
        open_size: Some(open_size),
    })
}

fn sha256(hex: String) -> Checksum {
    Checksum {
        kind: "sha256".to_string(),
        hex,
    }
}

/// comps.xml as createrepo_c publishes it: the plain file (`group`) and a compressed copy
/// (`group_gz` / `group_zst`).
fn write_groups(tmp: &Path, bytes: &[u8], c: Compression, now: i64) -> Result<Vec<RepoMdRecord>> {
    use sha2::Digest;
    let plain_sha = hex::encode(sha2::Sha256::digest(bytes));
    let plain_name = format!("{plain_sha}-comps.xml");
    write_synced(&tmp.join(&plain_name), bytes)?;

    let staging = tmp.join(format!("comps.xml{}", c.suffix()));
    let io = |e| Error::io(&staging, e);
    let file = File::create(&staging).map_err(io)?;
    let mut enc = Encoder::new(HashWriter::new(BufWriter::new(file)), c).map_err(io)?;
    enc.write_all(bytes).map_err(io)?;
    let (bufw, sha, size) = enc.finish().map_err(io)?.finish();
    let file = bufw.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let name = format!("{sha}-comps.xml{}", c.suffix());
    fs::rename(&staging, tmp.join(&name)).map_err(io)?;
    Ok(vec![
        RepoMdRecord {
            kind: "group".to_string(),
            checksum: sha256(plain_sha.clone()),
            open_checksum: None,
            location_href: format!("repodata/{plain_name}"),
            timestamp: now,
            size: Some(bytes.len() as u64),
            open_size: None,
        },
        RepoMdRecord {
            kind: format!("group{}", c.record_suffix()),
            checksum: sha256(sha),
            open_checksum: Some(sha256(plain_sha)),
            location_href: format!("repodata/{name}"),
            timestamp: now,
            size: Some(size),
            open_size: Some(bytes.len() as u64),
        },
    ])
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut f = File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Puts the finished temporary directory in place of `dir/repodata`.
///
/// With an existing repodata the two directories are exchanged atomically, so there is no
/// instant without a complete `repodata/`; the old one (now at the temporary name) is then
/// removed. Filesystems without RENAME_EXCHANGE get two renames (a short window without
/// `repodata/`, never a mixed one).
fn swap_into_place(dir: &Path, tmp: tempfile::TempDir) -> Result<()> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let target = dir.join("repodata");
    let tmp_path = tmp.path().to_path_buf();
    match fs::symlink_metadata(&target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::rename(&tmp_path, &target).map_err(|e| Error::io(&target, e))?;
            // the directory now lives at `target`: nothing left to clean up
            let _kept = tmp.keep();
        }
        Err(e) => return Err(Error::io(&target, e)),
        Ok(_) => {
            match renameat2(
                AT_FDCWD,
                &tmp_path,
                AT_FDCWD,
                &target,
                RenameFlags::RENAME_EXCHANGE,
            ) {
                Ok(()) => {}
                Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS) => {
                    let old = dir.join(format!(
                        ".repodata.old-{}",
                        tmp_path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ));
                    fs::rename(&target, &old).map_err(|e| Error::io(&target, e))?;
                    if let Err(e) = fs::rename(&tmp_path, &target) {
                        // put the old one back rather than leave no repodata at all
                        let _ = fs::rename(&old, &target);
                        return Err(Error::io(&target, e));
                    }
                    fs::rename(&old, &tmp_path).map_err(|e| Error::io(&old, e))?;
                }
                Err(errno) => return Err(Error::io(&target, std::io::Error::from(errno))),
            }
            // `tmp` now holds the previous repodata
            if let Err(e) = tmp.close() {
                tracing::warn!(dir = %dir.display(), error = %e, "could not remove the previous repodata");
            }
        }
    }
    sync_dir(dir)
}
