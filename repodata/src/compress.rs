//! Compression of written metadata (gzip or zstd) and decompression of upstream metadata
//! (gzip, zstd, xz or plain, recognised by magic bytes rather than by file name, because
//! mirrors do not always name files truthfully), plus the hashing adapters that compute
//! both checksums repomd.xml needs in the same pass.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};

/// How the XML metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// `.xml.gz`, level 6 like createrepo_c; readable by every yum/dnf and by Koji's tools.
    #[default]
    Gzip,
    /// `.xml.zst`, level 10 like createrepo_c ≥ 1.0; dnf 4 reads it, yum 3 does not.
    Zstd,
}

impl Compression {
    /// File name suffix including the dot.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }

    /// Suffix of the compressed comps record type (`group_gz`, `group_zst`).
    pub(crate) fn record_suffix(self) -> &'static str {
        match self {
            Compression::Gzip => "_gz",
            Compression::Zstd => "_zst",
        }
    }
}

/// A `Write` that feeds everything through SHA-256 and counts it.
pub(crate) struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// (inner writer, hex digest, byte count)
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The compressing stage of a metadata file.
pub(crate) enum Encoder<W: Write> {
    Gz(flate2::write::GzEncoder<W>),
    Zst(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(inner: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            // GzEncoder writes mtime 0 and no file name into the gzip header, so the same
            // content always compresses to the same bytes (and checksum).
            Compression::Gzip => Encoder::Gz(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(6),
            )),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(inner, 10)?;
                e.include_checksum(true)?;
                Encoder::Zst(e)
            }
        })
    }

    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gz(e) => e.finish(),
            Encoder::Zst(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gz(e) => e.write(buf),
            Encoder::Zst(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gz(e) => e.flush(),
            Encoder::Zst(e) => e.flush(),
        }
    }
}

/// Hex digest of a whole file for repomd.xml's checksum `kind`; `None` when this crate
/// does not know the digest (then the file is not verified).
pub(crate) fn file_digest(path: &Path, kind: &str) -> Result<Option<String>> {
    fn run<D: Digest + Write>(path: &Path, mut d: D) -> Result<String> {
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        io::copy(&mut f, &mut d).map_err(|e| Error::io(path, e))?;
        Ok(hex::encode(d.finalize()))
    }
    Ok(Some(match kind {
        "sha" | "sha1" => run(path, sha1::Sha1::new())?,
        "sha256" => run(path, Sha256::new())?,
        "sha512" => run(path, Sha512::new())?,
        _ => return Ok(None),
    }))
}

/// Opens a (possibly compressed) metadata file for reading, recognising gzip, zstd and xz
/// by their magic bytes; anything else is read as plain XML.
pub(crate) fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut raw = BufReader::with_capacity(256 * 1024, f);
    let magic = raw.fill_buf().map_err(|e| Error::io(path, e))?;
    let reader: Box<dyn BufRead + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| Error::io(path, e))?;
        Box::new(BufReader::with_capacity(256 * 1024, d))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        // lzma-rs decodes into a writer, not as a reader: decode into memory.
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut raw, &mut out)
            .map_err(|e| Error::bad_md(path, format!("xz: {e}")))?;
        Box::new(io::Cursor::new(out))
    } else if magic.starts_with(b"BZh") {
        return Err(Error::bad_md(
            path,
            "bzip2-compressed metadata is not supported",
        ));
    } else {
        Box::new(raw)
    };
    Ok(reader)
}
