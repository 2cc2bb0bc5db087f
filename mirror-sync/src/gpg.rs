//! OpenPGP checks with rPGP (pure Rust, no gpg home directory, so a dry run writes
//! nothing): the detached `repomd.xml.asc`, and the header signature rpm puts in a signed
//! package (`RSAHEADER`/`DSAHEADER`, what `rpm -K` and dnf's gpgcheck verify).

use std::io::Read;
use std::path::{Path, PathBuf};

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::Signature;

/// The public keys of one repo.
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
    files: Vec<PathBuf>,
}

impl Keyring {
    /// Reads armored (or binary) public key files; each may hold several keys.
    pub fn load(paths: &[PathBuf]) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        for p in paths {
            let data = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let before = keys.len();
            if data.starts_with(b"-----BEGIN") {
                let iter = SignedPublicKey::from_armor_many(std::io::Cursor::new(data))
                    .map_err(|e| format!("{}: not an OpenPGP key: {e}", p.display()))?
                    .0;
                for k in iter {
                    keys.push(k.map_err(|e| format!("{}: bad OpenPGP key: {e}", p.display()))?);
                }
            } else {
                for k in SignedPublicKey::from_bytes_many(std::io::Cursor::new(data))
                    .map_err(|e| format!("{}: not an OpenPGP key: {e}", p.display()))?
                {
                    keys.push(k.map_err(|e| format!("{}: bad OpenPGP key: {e}", p.display()))?);
                }
            }
            if keys.len() == before {
                return Err(format!("{}: no OpenPGP public key in it", p.display()));
            }
        }
        Ok(Keyring {
            keys,
            files: paths.to_vec(),
        })
    }

    fn verify_sig(&self, sig: &Signature, data: &[u8]) -> Result<(), String> {
        let mut last = String::from("no key");
        for k in &self.keys {
            match sig.verify(k, data) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            for sk in &k.public_subkeys {
                match sig.verify(&sk.key, data) {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
            }
        }
        Err(format!(
            "signature does not verify with {} ({last})",
            self.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// Checks a detached signature (armored or binary) over `data`.
    pub fn verify_detached(&self, data: &[u8], sig: &[u8]) -> Result<(), String> {
        let parsed = if sig.starts_with(b"-----BEGIN") {
            DetachedSignature::from_armor_single(std::io::Cursor::new(sig)).map(|(s, _)| s)
        } else {
            DetachedSignature::from_bytes(std::io::Cursor::new(sig))
        }
        .map_err(|e| format!("not an OpenPGP signature: {e}"))?;
        self.verify_sig(&parsed.signature, data)
    }

    /// Checks a signed RPM's header signature against these keys.
    pub fn verify_rpm(&self, path: &Path) -> Result<(), String> {
        let (sig, header) = rpm_header_signature(path)?;
        let parsed = DetachedSignature::from_bytes(std::io::Cursor::new(sig))
            .map_err(|e| format!("bad OpenPGP signature in the RPM: {e}"))?;
        self.verify_sig(&parsed.signature, &header)
    }
}

const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
const LEAD_LEN: usize = 96;
/// Bounds before allocating anything an RPM's header claims.
const MAX_HEADER: usize = 64 << 20;
const TAG_DSAHEADER: u32 = 267;
const TAG_RSAHEADER: u32 = 268;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Reads a header structure at the start of `f`'s current position: (index, store).
fn read_header(f: &mut impl Read, path: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let bad = |m: &str| format!("{}: not a usable RPM: {m}", path.display());
    let mut intro = [0u8; 16];
    f.read_exact(&mut intro)
        .map_err(|_| bad("truncated header"))?;
    if intro[..4] != HEADER_MAGIC {
        return Err(bad("bad header magic"));
    }
    let n = usize::try_from(be32(&intro, 8).unwrap_or(0)).map_err(|_| bad("header size"))?;
    let size = usize::try_from(be32(&intro, 12).unwrap_or(0)).map_err(|_| bad("header size"))?;
    let index_len = n.checked_mul(16).ok_or_else(|| bad("header size"))?;
    if index_len > MAX_HEADER || size > MAX_HEADER {
        return Err(bad("implausible header size"));
    }
    let mut rest = vec![0u8; index_len + size];
    f.read_exact(&mut rest)
        .map_err(|_| bad("truncated header"))?;
    let mut all = intro.to_vec();
    all.extend_from_slice(&rest);
    Ok((all, rest.split_off(index_len)))
}

/// The OpenPGP header signature and the bytes of the main header it signs.
fn rpm_header_signature(path: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut f = std::io::BufReader::new(f);
    let mut lead = [0u8; LEAD_LEN];
    f.read_exact(&mut lead)
        .map_err(|_| format!("{}: not a usable RPM: truncated lead", path.display()))?;
    let (sig_all, sig_store) = read_header(&mut f, path)?;
    // the signature header is padded to a multiple of 8
    let pad = (8 - (sig_all.len() % 8)) % 8;
    let mut skip = vec![0u8; pad];
    f.read_exact(&mut skip)
        .map_err(|_| format!("{}: not a usable RPM: truncated", path.display()))?;
    let (main_all, _) = read_header(&mut f, path)?;

    let n = be32(&sig_all, 8).unwrap_or(0);
    let mut found = None;
    for i in 0..n {
        let Some(base) = usize::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(16)?.checked_add(16))
        else {
            break;
        };
        let (Some(tag), Some(off), Some(count)) = (
            be32(&sig_all, base),
            be32(&sig_all, base + 8),
            be32(&sig_all, base + 12),
        ) else {
            break;
        };
        if tag == TAG_RSAHEADER || (tag == TAG_DSAHEADER && found.is_none()) {
            let (Ok(off), Ok(count)) = (usize::try_from(off), usize::try_from(count)) else {
                continue;
            };
            if let Some(s) = off
                .checked_add(count)
                .and_then(|end| sig_store.get(off..end))
            {
                found = Some(s.to_vec());
            }
        }
    }
    match found {
        Some(s) => Ok((s, main_all)),
        None => Err(format!(
            "{}: the package is not signed (no header signature)",
            path.display()
        )),
    }
}
