//! Incremental compression: metadata files written as many compressed members, with the
//! members of unchanged packages reused from earlier runs.
//!
//! Regenerating a repo after one package changed used to be dominated by compressing
//! primary, filelists and other from scratch (tens of MB of XML at gzip level 6). Both
//! formats allow a file to be a concatenation of independent members (RFC 1952 gzip
//! members, zstd frames), and every reader of repodata decompresses such files as one
//! stream (zlib's gzread, Python's gzip, libzstd's streaming decoder): dnf, libsolv,
//! createrepo_c and mergerepo_c read them (tested). So each file is written as
//!
//! `member(head) member(chunk 1) … member(chunk n) member(footer)`
//!
//! where a chunk is a run of consecutive packages (in output order). Chunk boundaries fall
//! after packages whose *name* (taken from the file name) hashes to 0 mod [`AVG_CHUNK`]
//! (at most [`MAX_CHUNK`] packages per chunk), so they depend on the packages themselves,
//! not on positions: a new build of one package, or a package added or removed, changes
//! only the chunk it is in. The head (which holds the package count) and the footer are
//! members of their own. The uncompressed stream is exactly what createrepo_c writes.
//!
//! Two stores keep chunks between runs, both under one directory:
//!
//! * [`ChunkStore`] (`<dir>/<kind>/…`), for [`crate::write_repo`], which is handed the
//!   packages: a compressed member stored under the SHA-256 of its uncompressed XML (and
//!   the compression), so a hit is by construction the right bytes. The XML is still
//!   rendered and hashed, only compression is saved.
//! * [`IdStore`] (`<dir>/id/<kind>/…`), for [`crate::create_repo_from`]: the XML and the
//!   member of a chunk stored under the identity of its packages (content checksum, href,
//!   mtime, size), so an unchanged chunk is copied without loading its packages' metadata
//!   or rendering it; its XML is only hashed for `open-checksum`.
//!
//! Stored files carry checksums (the member's SHA-256, the XML's CRC-32) and are checked
//! before use; a damaged one is rebuilt. Nothing is evicted yet.

use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::compress::{Compression, Encoder};

/// Average packages per chunk: a chunk ends after a package whose name hash is 0 mod
/// this. ~32 packages is a few hundred KB of filelists: large enough that per-member
/// overhead and the reset compression window cost well under 1 %, small enough that a
/// changed package costs milliseconds.
pub const AVG_CHUNK: u64 = 32;
/// Longest chunk, so that a run of unlucky names does not make one huge chunk.
pub const MAX_CHUNK: usize = 256;
/// Part of every key. **Bump it whenever the rendered XML (xmlwrite.rs, the reading rules
/// behind [`crate::PackageMeta`]) or the compression settings change**: [`IdStore`]
/// records are keyed by package identity, not by their XML, and would otherwise be
/// reused with the old output.
const KEY_VERSION: &str = "kkoji-chunk-1";

/// FNV-1a: stable across runs and platforms (unlike std's RandomState).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The package name part of an RPM's file name (`foo-bar-1.0-1.fc40.x86_64.rpm` →
/// `foo-bar`): what chunk boundaries are keyed on, so that a new build of a package (new
/// version or release, same name) does not move them. Known from the href alone, so the
/// chunking can be decided before any package metadata is loaded.
fn boundary_name(href: &str) -> &str {
    let file = href.rsplit('/').next().unwrap_or(href);
    let mut parts = file.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(name)) => name,
        _ => file,
    }
}

/// Splits packages (their hrefs, in output order) into chunks; see the module docs.
pub(crate) fn ranges<'a>(hrefs: impl ExactSizeIterator<Item = &'a str>) -> Vec<Range<usize>> {
    let n = hrefs.len();
    let mut out = Vec::with_capacity(n / AVG_CHUNK as usize + 1);
    let mut start = 0;
    for (i, href) in hrefs.enumerate() {
        if fnv1a(boundary_name(href)).is_multiple_of(AVG_CHUNK) || i + 1 - start >= MAX_CHUNK {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// One complete compressed member (gzip member / zstd frame) of `data`.
pub(crate) fn compress(data: &[u8], c: Compression) -> io::Result<Vec<u8>> {
    let mut e = Encoder::new(Vec::with_capacity(data.len() / 4 + 64), c)?;
    e.write_all(data)?;
    e.finish()
}

/// A directory of compressed chunks: `<dir>/<kind>/<aa>/<sha256>.gz|.zst`, each file
/// being the SHA-256 of the compressed bytes (32 bytes) followed by them.
#[derive(Debug)]
pub(crate) struct ChunkStore {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ChunkStore {
    pub(crate) fn new(dir: &Path) -> ChunkStore {
        ChunkStore {
            dir: dir.to_path_buf(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (reused, compressed) chunks so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn path(&self, kind: &str, c: Compression, xml: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(KEY_VERSION.as_bytes());
        h.update([0]);
        h.update(kind.as_bytes());
        h.update(c.suffix().as_bytes());
        h.update([0]);
        h.update(xml.as_bytes());
        let key = hex::encode(h.finalize());
        let shard = key.get(..2).unwrap_or("xx").to_string();
        self.dir
            .join(kind)
            .join(shard)
            .join(format!("{key}{}", c.suffix()))
    }

    /// The compressed member for `xml`: the stored one when there is a valid one,
    /// otherwise a freshly compressed one (which is then stored). Failing to store only
    /// costs a later recompression, so it is a warning, not an error.
    pub(crate) fn member(&self, kind: &str, c: Compression, xml: &str) -> io::Result<Vec<u8>> {
        let path = self.path(kind, c, xml);
        if let Ok(mut stored) = fs::read(&path) {
            if stored.len() >= 32 && Sha256::digest(&stored[32..])[..] == stored[..32] {
                self.hits.fetch_add(1, Ordering::Relaxed);
                stored.drain(..32);
                return Ok(stored);
            }
            tracing::warn!(path = %path.display(), "damaged compressed chunk; compressing again");
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let body = compress(xml.as_bytes(), c)?;
        let sum = Sha256::digest(&body);
        if let Err(e) = store(&path, &[&sum[..], &body]) {
            tracing::warn!(path = %path.display(), error = %e, "could not store a compressed chunk");
        }
        Ok(body)
    }
}

/// Writes a chunk file (the concatenation of `parts`) atomically (temporary file +
/// rename) so a reader never sees half of one. Not fsynced: it is a cache, and a torn file
/// fails its check.
fn store(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".chunk-")
        .tempfile_in(dir)?;
    for p in parts {
        tmp.write_all(p)?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Whole chunks (uncompressed XML and compressed member) stored under a key that names
/// the packages in them rather than their XML, so that [`crate::create_repo_from`] can
/// reuse a chunk without loading the packages' metadata or rendering anything:
/// `<dir>/id/<kind>/<aa>/<key>.gz|.zst`, holding the XML's length (8 bytes, LE), the
/// CRC-32 of the XML (4), the SHA-256 of the member (32), the XML and the member.
///
/// The key must change whenever the XML could: it covers each package's content checksum
/// (which fixes everything read from the RPM, given the cache format and changelog limit)
/// and the fields that come from the file (href, mtime, size), plus [`KEY_VERSION`].
#[derive(Debug)]
pub(crate) struct IdStore {
    dir: PathBuf,
}

impl IdStore {
    pub(crate) fn new(chunk_dir: &Path) -> IdStore {
        IdStore {
            dir: chunk_dir.join("id"),
        }
    }

    fn path(&self, key: &str, kind: &str, c: Compression) -> PathBuf {
        let shard = key.get(..2).unwrap_or("xx");
        self.dir
            .join(kind)
            .join(shard)
            .join(format!("{key}{}", c.suffix()))
    }

    /// The stored (XML, member) of a chunk, if there is an intact one.
    pub(crate) fn get(&self, key: &str, kind: &str, c: Compression) -> Option<(String, Vec<u8>)> {
        let path = self.path(key, kind, c);
        let bytes = fs::read(&path).ok()?;
        let parsed = parse_record(&bytes);
        if parsed.is_none() {
            tracing::warn!(path = %path.display(), "damaged chunk record; rendering it again");
        }
        parsed
    }

    /// Stores a chunk; failures are warnings (it is a cache).
    pub(crate) fn put(&self, key: &str, kind: &str, c: Compression, xml: &str, member: &[u8]) {
        let path = self.path(key, kind, c);
        let mut crc = flate2::Crc::new();
        crc.update(xml.as_bytes());
        let r = store(
            &path,
            &[
                &(xml.len() as u64).to_le_bytes(),
                &crc.sum().to_le_bytes(),
                &Sha256::digest(member)[..],
                xml.as_bytes(),
                member,
            ],
        );
        if let Err(e) = r {
            tracing::warn!(path = %path.display(), error = %e, "could not store a chunk record");
        }
    }
}

/// (XML, member) of an [`IdStore`] record whose checks pass.
fn parse_record(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let len = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let crc = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    let sum = bytes.get(12..44)?;
    let end = 44usize.checked_add(len)?;
    let xml = bytes.get(44..end)?;
    let member = bytes.get(end..)?;
    let mut c = flate2::Crc::new();
    c.update(xml);
    if c.sum() != crc || Sha256::digest(member)[..] != *sum {
        return None;
    }
    Some((String::from_utf8(xml.to_vec()).ok()?, member.to_vec()))
}

/// Key of a chunk for [`IdStore`]: `context` names the reading rules, `parts` are the
/// packages' (checksum, href, mtime, size) in order.
pub(crate) fn id_key<'a>(
    context: &str,
    parts: impl Iterator<Item = (&'a str, &'a str, i64, u64)>,
) -> String {
    let mut h = Sha256::new();
    h.update(KEY_VERSION.as_bytes());
    h.update([0]);
    h.update(context.as_bytes());
    for (sha, href, mtime, size) in parts {
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([0]);
        h.update(href.as_bytes());
        h.update(mtime.to_le_bytes());
        h.update(size.to_le_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::PackageMeta;
    use std::io::Read;

    fn pkg(name: &str) -> PackageMeta {
        PackageMeta {
            name: name.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn boundaries_depend_on_names_not_positions() {
        let names: Vec<String> = (0..2000)
            .map(|i| format!("x86_64/pkg{i}-1.0-1.x86_64.rpm"))
            .collect();
        let pkgs: Vec<PackageMeta> = names.iter().map(|n| pkg(n)).collect();
        let refs: Vec<&PackageMeta> = pkgs.iter().collect();
        let hrefs = |ps: &[&PackageMeta]| ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        let a = ranges(hrefs(&refs).iter().map(String::as_str));
        assert_eq!(a.first().map(|r| r.start), Some(0));
        assert_eq!(a.last().map(|r| r.end), Some(2000));
        assert!(a.windows(2).all(|w| w[0].end == w[1].start));
        assert!(a.len() > 2000 / 64 && a.len() < 2000 / 16, "{}", a.len());
        assert!(a.iter().all(|r| r.len() <= MAX_CHUNK));

        // insert one package early: every boundary after its chunk stays on the same name
        let extra = pkg("noarch/inserted-2-1.noarch.rpm");
        let mut refs2 = refs.clone();
        refs2.insert(10, &extra);
        let b = ranges(hrefs(&refs2).iter().map(String::as_str));
        let ends = |rs: &[Range<usize>], ps: &[&PackageMeta]| -> Vec<String> {
            rs.iter().map(|r| ps[r.end - 1].name.clone()).collect()
        };
        let (ea, eb) = (ends(&a, &refs), ends(&b, &refs2));
        let common = ea.iter().filter(|n| eb.contains(n)).count();
        assert!(common + 1 >= ea.len(), "{common} of {}", ea.len());
        assert_eq!(boundary_name("a/foo-bar-1.0-1.fc40.x86_64.rpm"), "foo-bar");
        assert_eq!(boundary_name("odd.rpm"), "odd.rpm");
    }

    #[test]
    fn members_concatenate_and_the_store_reuses_them() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let store = ChunkStore::new(dir.path());
            let run = || {
                let mut out = Vec::new();
                for part in ["<a>", "hello ", "world", "</a>"] {
                    out.extend(store.member("primary", c, part).unwrap());
                }
                out
            };
            let out = run();
            let again = run();
            assert_eq!(out, again);
            assert_eq!(store.stats(), (4, 4));
            let mut text = String::new();
            match c {
                Compression::Gzip => {
                    flate2::read::MultiGzDecoder::new(&out[..])
                        .read_to_string(&mut text)
                        .unwrap();
                }
                Compression::Zstd => {
                    text = String::from_utf8(zstd::decode_all(&out[..]).unwrap()).unwrap();
                }
            }
            assert_eq!(text, "<a>hello world</a>");

            // a damaged stored chunk is detected and replaced
            let path = store.path("primary", c, "world");
            let mut bytes = fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            fs::write(&path, bytes).unwrap();
            assert_eq!(run(), out);
            assert_eq!(store.stats(), (7, 5));

            // whole-chunk records: round trip, damage detected
            let ids = IdStore::new(dir.path());
            let key = id_key("ctx", [("ab", "x.rpm", 1, 2)].into_iter());
            assert!(ids.get(&key, "other", c).is_none());
            ids.put(&key, "other", c, "<x/>", b"member");
            assert_eq!(
                ids.get(&key, "other", c),
                Some(("<x/>".to_string(), b"member".to_vec()))
            );
            let p = ids.path(&key, "other", c);
            let mut bytes = fs::read(&p).unwrap();
            bytes[45] ^= 1;
            fs::write(&p, bytes).unwrap();
            assert!(ids.get(&key, "other", c).is_none());
            assert_ne!(key, id_key("ctx", [("ab", "x.rpm", 1, 3)].into_iter()));
        }
    }
}
