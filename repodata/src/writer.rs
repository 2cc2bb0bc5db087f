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
    order.sort_by(|a, b| sort_key(&a.location_href).cmp(&sort_key(&b.location_href)));
    let ranges = chunks::ranges(order.iter().map(|p| p.location_href.as_str()));
    let store = opts.chunk_cache.as_deref().map(ChunkStore::new);
    let c = opts.compression;
    let chunk = |i: usize, kind: Kind, xml: &mut String, member: &mut Vec<u8>| -> Result<()> {
        for p in ranges
            .get(i)
            .and_then(|r| order.get(r.clone()))
            .unwrap_or_default()
        {
            kind.render(xml, p);
        }
        let compressed = match &store {
            Some(st) => st.member(kind.name(), c, xml),
            None => chunks::compress(xml.as_bytes(), c),
        };
        compressed
            .map(|m| member.extend_from_slice(&m))
            .map_err(|e| Error::io(dir, e))
    };
    let md = write_chunked(dir, order.len(), ranges.len(), &chunk, opts)?;
    if let Some(st) = &store {
        let (reused, compressed) = st.stats();
        tracing::debug!(reused, compressed, "compressed chunks");
    }
    Ok(md)
}

/// The three metadata files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Primary,
    Filelists,
    Other,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
        }
    }

    /// Appends one package's XML.
    pub(crate) fn render(self, out: &mut String, p: &PackageMeta) {
        match self {
            Kind::Primary => xmlwrite::primary_package(out, p),
            Kind::Filelists => xmlwrite::filelists_package(out, p),
            Kind::Other => xmlwrite::other_package(out, p),
        }
    }

    fn head(self, n: usize) -> String {
        match self {
            Kind::Primary => xmlwrite::primary_head(n),
            Kind::Filelists => xmlwrite::filelists_head(n),
            Kind::Other => xmlwrite::other_head(n),
        }
    }

    fn footer(self) -> &'static str {
        match self {
            Kind::Primary => "</metadata>",
            Kind::Filelists => "</filelists>",
            Kind::Other => "</otherdata>",
        }
    }
}

/// Produces chunk `i` of a file: appends its uncompressed XML to the `String` and its
/// compressed member to the `Vec`.
pub(crate) type ChunkFn<'a> =
    dyn Fn(usize, Kind, &mut String, &mut Vec<u8>) -> Result<()> + Sync + 'a;

/// Writes `dir/repodata/` from `chunks` chunks of `packages` packages (the chunks in
/// output order, produced by `chunk`), plus groups, atomically.
pub(crate) fn write_chunked(
    dir: &Path,
    packages: usize,
    chunks: usize,
    chunk: &ChunkFn<'_>,
    opts: &WriteOptions,
) -> Result<RepoMd> {
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

    // primary, filelists and other are independent streams: write them concurrently.
    let results: Vec<Result<RepoMdRecord>> = std::thread::scope(|s| {
        let tmp_path = &tmp_path;
        let handles: Vec<_> = Kind::ALL
            .into_iter()
            .map(|kind| s.spawn(move || write_md(tmp_path, kind, packages, chunks, chunk, c, now)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::io(
                        tmp_path,
                        std::io::Error::other("metadata writer thread panicked"),
                    ))
                })
            })
            .collect()
    });
    let mut records = results.into_iter().collect::<Result<Vec<_>>>()?;

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
    tracing::info!(
        dir = %dir.display(),
        packages,
        revision = %repomd.revision,
        "wrote repodata"
    );
    Ok(repomd)
}

/// createrepo_c's package order: file name, then directory (of `location_href`).
pub(crate) fn sort_key(href: &str) -> (&str, &str) {
    match href.rfind('/') {
        Some(i) => (&href[i + 1..], &href[..i]),
        None => (href, ""),
    }
}

/// Writes one metadata file as a sequence of compressed members (head, one per chunk,
/// footer), hashing the uncompressed stream for `open-checksum` and the file for
/// `checksum`, then names it after its compressed checksum.
fn write_md(
    tmp: &Path,
    kind: Kind,
    packages: usize,
    chunks: usize,
    chunk: &ChunkFn<'_>,
    c: Compression,
    now: i64,
) -> Result<RepoMdRecord> {
    use sha2::Digest;
    let name = kind.name();
    let staging = tmp.join(format!("{name}.xml{}", c.suffix()));
    let io = |e| Error::io(&staging, e);
    let file = File::create(&staging).map_err(io)?;
    let mut out = HashWriter::new(BufWriter::with_capacity(256 * 1024, file));
    let mut open = sha2::Sha256::new();
    let mut open_size: u64 = 0;
    let mut xml = String::with_capacity(512 * 1024);
    let mut member = Vec::with_capacity(128 * 1024);
    for i in 0..chunks + 2 {
        xml.clear();
        member.clear();
        if i == 0 || i == chunks + 1 {
            xml.push_str(&if i == 0 {
                kind.head(packages)
            } else {
                kind.footer().to_string()
            });
            member = chunks::compress(xml.as_bytes(), c).map_err(io)?;
        } else {
            chunk(i - 1, kind, &mut xml, &mut member)?;
        }
        open.update(xml.as_bytes());
        open_size += xml.len() as u64;
        out.write_all(&member).map_err(io)?;
    }
    let open_sha = hex::encode(open.finalize());
    let (bufw, sha, size) = out.finish();
    let file = bufw.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let file_name = format!("{sha}-{name}.xml{}", c.suffix());
    let final_path = tmp.join(&file_name);
    fs::rename(&staging, &final_path).map_err(io)?;
    Ok(RepoMdRecord {
        kind: name.to_string(),
        checksum: sha256(sha),
        open_checksum: Some(sha256(open_sha)),
        location_href: format!("repodata/{file_name}"),
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
