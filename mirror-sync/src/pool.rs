//! The content-addressed pool: every verified file once, named by its checksum
//! (`pool/<kind>/<aa>/<hex>`). Published trees and snapshots are hard links into it, so the
//! same package in two repos, two generations of a tree or a snapshot costs no extra disk,
//! and a package that is already here is never downloaded again.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::Digest;

/// A checksum as upstream metadata gives it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Sum {
    /// `sha256`, `sha512`, `sha1` (`sha` is taken as sha1, as yum does).
    pub kind: String,
    pub hex: String,
}

impl Sum {
    pub fn new(kind: &str, hex: &str) -> Self {
        let kind = match kind {
            "sha" => "sha1",
            k => k,
        };
        Sum {
            kind: kind.to_ascii_lowercase(),
            hex: hex.to_ascii_lowercase(),
        }
    }

    /// Only hex digests of the kinds we can compute may name a pool file.
    pub fn is_supported(&self) -> bool {
        let len = match self.kind.as_str() {
            "sha1" => 40,
            "sha256" => 64,
            "sha512" => 128,
            _ => return false,
        };
        self.hex.len() == len && self.hex.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl std::fmt::Display for Sum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind, self.hex)
    }
}

enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

/// The digest of a file in the kind of `like`.
pub fn hash_file(path: &Path, kind: &str) -> std::io::Result<String> {
    let mut h = match kind {
        "sha1" => Hasher::Sha1(sha1::Sha1::new()),
        "sha512" => Hasher::Sha512(sha2::Sha512::new()),
        "sha256" => Hasher::Sha256(sha2::Sha256::new()),
        k => {
            return Err(std::io::Error::other(format!(
                "checksum type {k} is not supported"
            )));
        }
    };
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        match &mut h {
            Hasher::Sha1(x) => x.update(chunk),
            Hasher::Sha256(x) => x.update(chunk),
            Hasher::Sha512(x) => x.update(chunk),
        }
    }
    Ok(match h {
        Hasher::Sha1(x) => hex::encode(x.finalize()),
        Hasher::Sha256(x) => hex::encode(x.finalize()),
        Hasher::Sha512(x) => hex::encode(x.finalize()),
    })
}

/// sha256 of bytes in memory (repomd.xml).
pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// The pool and its partial downloads.
#[derive(Debug, Clone)]
pub struct Pool {
    root: PathBuf,
}

impl Pool {
    pub fn new(state_dir: &Path) -> Self {
        Pool {
            root: state_dir.join("pool"),
        }
    }

    /// Where a verified file with this checksum lives (whether or not it is there yet).
    pub fn path(&self, sum: &Sum) -> PathBuf {
        let prefix = sum.hex.get(..2).unwrap_or("00");
        self.root.join(&sum.kind).join(prefix).join(&sum.hex)
    }

    pub fn has(&self, sum: &Sum) -> bool {
        self.path(sum).is_file()
    }

    /// Where a download in progress is kept between runs (resumed from its length).
    pub fn partial(&self, sum: &Sum) -> PathBuf {
        self.root
            .join("partial")
            .join(format!("{}-{}.part", sum.kind, sum.hex))
    }

    /// Moves a verified partial file into the pool.
    pub fn adopt(&self, part: &Path, sum: &Sum) -> std::io::Result<PathBuf> {
        let dst = self.path(sum);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(part, &dst)?;
        Ok(dst)
    }

    /// Takes a file that is already on this filesystem (an mrepo tree being migrated, a
    /// previous tree) into the pool by hard link, if its content matches `sum`.
    pub fn adopt_existing(&self, file: &Path, sum: &Sum, size: Option<u64>) -> bool {
        let Ok(meta) = std::fs::metadata(file) else {
            return false;
        };
        if !meta.is_file() || size.is_some_and(|s| s != meta.len()) {
            return false;
        }
        match hash_file(file, &sum.kind) {
            Ok(h) if h == sum.hex => {}
            _ => return false,
        }
        let dst = self.path(sum);
        if let Some(parent) = dst.parent()
            && std::fs::create_dir_all(parent).is_err()
        {
            return false;
        }
        std::fs::hard_link(file, &dst).is_ok() || dst.is_file()
    }

    /// Removes pool files that nothing links to any more (no tree, no snapshot).
    pub fn remove_if_unlinked(&self, sum: &Sum) -> std::io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let p = self.path(sum);
        match std::fs::metadata(&p) {
            Ok(m) if m.nlink() == 1 => {
                std::fs::remove_file(&p)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_paths() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        let h = hash_file(&f, "sha256").unwrap();
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_file(&f, "sha1").unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert!(hash_file(&f, "md5").is_err());
        let pool = Pool::new(d.path());
        let sum = Sum::new("sha256", &h);
        assert!(sum.is_supported());
        assert!(!Sum::new("sha256", "../../etc").is_supported());
        assert!(pool.adopt_existing(&f, &sum, Some(3)));
        assert!(pool.has(&sum));
        assert!(!pool.adopt_existing(&f, &Sum::new("sha256", &"0".repeat(64)), None));
        // the original still links to it
        assert!(!pool.remove_if_unlinked(&sum).unwrap());
        std::fs::remove_file(&f).unwrap();
        assert!(pool.remove_if_unlinked(&sum).unwrap());
        assert!(!pool.has(&sum));
    }
}
