//! Incremental compression: metadata files written as many compressed members, with the
//! members of unchanged packages reused from earlier runs.
//!
//! Regenerating a repo after one package changed used to be dominated by compressing
//! primary, filelists and other from scratch (tens of MB of XML at gzip level 6). Both
//! formats allow a file to be a concatenation of independent members (RFC 1952 gzip
//! members, zstd frames), and every reader of repodata decompresses such files as one
//! stream (zlib's gzread, Python's gzip, libzstd's streaming decoder): dnf, libsolv,
//! createrepo_c and yum. So each file is written as
//!
//! `member(head) member(chunk 1) … member(chunk n) member(footer)`
//!
//! where a chunk is a run of consecutive packages (in output order). Chunk boundaries fall
//! after packages whose *name* hashes to 0 mod [`AVG_CHUNK`] (at most [`MAX_CHUNK`]
//! packages per chunk), so they depend on the packages themselves, not on positions: a new
//! build of one package, or a package added or removed, changes only the chunk it is in.
//! The head (which holds the package count) and the footer are members of their own.
//!
//! A compressed chunk is stored under the SHA-256 of its uncompressed XML (and the
//! compression), so a hit is by construction the right bytes; the stored file also
//! carries the SHA-256 of the compressed bytes, checked before use. The uncompressed XML
//! is still rendered and hashed for every chunk (that is what `open-checksum` needs, and
//! it is cheap next to compressing), so the output stays byte-identical to createrepo_c's
//! once decompressed.

use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::compress::{Compression, Encoder};
use crate::meta::PackageMeta;

/// Average packages per chunk: a chunk ends after a package whose name hash is 0 mod
/// this. ~32 packages is a few hundred KB of filelists: large enough that per-member
/// overhead and the reset compression window cost well under 1 %, small enough that a
/// changed package costs milliseconds.
pub const AVG_CHUNK: u64 = 32;
/// Longest chunk, so that a run of unlucky names does not make one huge chunk.
pub const MAX_CHUNK: usize = 256;
/// Part of every key: bump when the rendering or the compression settings change.
const KEY_VERSION: &str = "kkoji-chunk-1";

/// FNV-1a: stable across runs and platforms (unlike std's RandomState).
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Splits packages (in output order) into chunks; see the module docs.
pub(crate) fn ranges(pkgs: &[&PackageMeta]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(pkgs.len() / AVG_CHUNK as usize + 1);
    let mut start = 0;
    for (i, p) in pkgs.iter().enumerate() {
        if name_hash(&p.name).is_multiple_of(AVG_CHUNK) || i + 1 - start >= MAX_CHUNK {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < pkgs.len() {
        out.push(start..pkgs.len());
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

    /// Writes the compressed member for `xml` to `out`: the stored one when there is a
    /// valid one, otherwise a freshly compressed one (which is then stored). Failing to
    /// store only costs a later recompression, so it is a warning, not an error.
    pub(crate) fn write_chunk(
        &self,
        out: &mut impl Write,
        kind: &str,
        c: Compression,
        xml: &str,
    ) -> io::Result<()> {
        let path = self.path(kind, c, xml);
        if let Ok(stored) = fs::read(&path) {
            if let Some((sum, body)) = stored.split_at_checked(32)
                && Sha256::digest(body)[..] == *sum
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return out.write_all(body);
            }
            tracing::warn!(path = %path.display(), "damaged compressed chunk; compressing again");
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let body = compress(xml.as_bytes(), c)?;
        if let Err(e) = store(&path, &body) {
            tracing::warn!(path = %path.display(), error = %e, "could not store a compressed chunk");
        }
        out.write_all(&body)
    }
}

/// Writes a chunk file atomically (temporary file + rename) so a reader never sees half
/// of one. Not fsynced: it is a cache, and a torn file fails its checksum.
fn store(path: &Path, body: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".chunk-")
        .tempfile_in(dir)?;
    tmp.write_all(&Sha256::digest(body))?;
    tmp.write_all(body)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pkg(name: &str) -> PackageMeta {
        PackageMeta {
            name: name.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn boundaries_depend_on_names_not_positions() {
        let names: Vec<String> = (0..2000).map(|i| format!("pkg{i}")).collect();
        let pkgs: Vec<PackageMeta> = names.iter().map(|n| pkg(n)).collect();
        let refs: Vec<&PackageMeta> = pkgs.iter().collect();
        let a = ranges(&refs);
        assert_eq!(a.first().map(|r| r.start), Some(0));
        assert_eq!(a.last().map(|r| r.end), Some(2000));
        assert!(a.windows(2).all(|w| w[0].end == w[1].start));
        assert!(a.len() > 2000 / 64 && a.len() < 2000 / 16, "{}", a.len());
        assert!(a.iter().all(|r| r.len() <= MAX_CHUNK));

        // insert one package early: every boundary after its chunk stays on the same name
        let extra = pkg("inserted");
        let mut refs2 = refs.clone();
        refs2.insert(10, &extra);
        let b = ranges(&refs2);
        let ends = |rs: &[Range<usize>], ps: &[&PackageMeta]| -> Vec<String> {
            rs.iter().map(|r| ps[r.end - 1].name.clone()).collect()
        };
        let (ea, eb) = (ends(&a, &refs), ends(&b, &refs2));
        let common = ea.iter().filter(|n| eb.contains(n)).count();
        assert!(common + 1 >= ea.len(), "{common} of {}", ea.len());
    }

    #[test]
    fn members_concatenate_and_the_store_reuses_them() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let store = ChunkStore::new(dir.path());
            let mut out = Vec::new();
            for part in ["<a>", "hello ", "world", "</a>"] {
                store.write_chunk(&mut out, "primary", c, part).unwrap();
            }
            let mut again = Vec::new();
            for part in ["<a>", "hello ", "world", "</a>"] {
                store.write_chunk(&mut again, "primary", c, part).unwrap();
            }
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
            let mut third = Vec::new();
            for part in ["<a>", "hello ", "world", "</a>"] {
                store.write_chunk(&mut third, "primary", c, part).unwrap();
            }
            assert_eq!(third, out);
            assert_eq!(store.stats(), (7, 5));
        }
    }
}
