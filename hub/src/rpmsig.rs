//! RPM signature headers: cutting one out of an RPM, reading what it says (digests, the
//! signing key's id) and splicing a stored one into a copy of the RPM.
//!
//! A signature header travels alone (`import-sig` sends it, the hub keeps it under
//! `data/sigcache/`), but the `rpm` crate only parses whole packages, so a header is read
//! the way Koji reads it: spliced between the lead and the main header of the RPM it claims
//! to belong to. Only the framing (sizes, magic) is checked here by hand; tags come from
//! the `rpm` crate and the OpenPGP packet from the `pgp` crate.

use rpm::{IndexSignatureTag as Sig, PackageMetadata};
use std::io::{Read, Write};

const LEAD_SIZE: usize = 96;
const INTRO: usize = 16;
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// rpm's own ceiling for a header (HEADER_MAX_BYTES); nothing larger is allocated.
const MAX_HEADER_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SigError {
    /// The bytes are not what they claim to be; the text is for the caller's fault.
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn bad(msg: impl Into<String>) -> SigError {
    SigError::Bad(msg.into())
}

/// The size of the header whose 16-byte intro is `intro` (intro included), and the
/// padding rpm puts after a signature header.
fn framed_len(intro: &[u8], what: &str) -> Result<(u64, u64), SigError> {
    if intro.len() < INTRO || intro[..3] != HEADER_MAGIC {
        return Err(bad(format!("{what}: no header magic")));
    }
    let be = |at: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&intro[at..at + 4]);
        u64::from(u32::from_be_bytes(w))
    };
    let (il, dl) = (be(8), be(12));
    let size = il * 16 + dl;
    if size > MAX_HEADER_BYTES {
        return Err(bad(format!("{what}: implausible header size")));
    }
    Ok((INTRO as u64 + size, (8 - dl % 8) % 8))
}

/// The three parts of an RPM before its payload, as bytes.
pub struct Parts {
    pub lead: Vec<u8>,
    /// The signature header with its padding, exactly as Koji's `rip_rpm_sighdr` cuts it.
    pub sighdr: Vec<u8>,
    pub header: Vec<u8>,
}

fn read_exact_vec(f: &mut impl Read, n: u64, what: &str) -> Result<Vec<u8>, SigError> {
    let mut out = Vec::new();
    f.by_ref().take(n).read_to_end(&mut out)?;
    if (out.len() as u64) < n {
        return Err(bad(format!("truncated inside the {what}")));
    }
    Ok(out)
}

/// Lead, signature header and main header of the RPM read from `f` (at its start).
pub fn read_parts(f: &mut impl Read) -> Result<Parts, SigError> {
    let lead = read_exact_vec(f, LEAD_SIZE as u64, "lead")?;
    if lead[..4] != LEAD_MAGIC {
        return Err(bad("not an RPM file (no RPM lead magic)"));
    }
    let mut sighdr = read_exact_vec(f, INTRO as u64, "signature header")?;
    let (len, pad) = framed_len(&sighdr, "signature header")?;
    sighdr.extend(read_exact_vec(
        f,
        len + pad - INTRO as u64,
        "signature header",
    )?);
    let mut header = read_exact_vec(f, INTRO as u64, "main header")?;
    let (hlen, _) = framed_len(&header, "main header")?;
    header.extend(read_exact_vec(f, hlen - INTRO as u64, "main header")?);
    Ok(Parts {
        lead,
        sighdr,
        header,
    })
}

/// What a signature header says about its package and its signer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigFacts {
    /// MD5 of main header + payload (Koji's payloadhash), lower-case hex.
    pub md5: Option<String>,
    /// SHA-1 and SHA-256 of the main header, as stored (hex).
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// The signing key's id as Koji records it (hex of its last 4 bytes), when signed.
    pub key: Option<String>,
    /// The OpenPGP signature packets by rpm's query names (`siggpg`, `sigpgp`,
    /// `dsaheader`, `rsaheader`), in Koji's order of preference.
    pub packets: Vec<(&'static str, Vec<u8>)>,
    /// The raw MD5 digest (rpm's `sigmd5`).
    pub md5_raw: Option<Vec<u8>>,
}

/// Reads a standalone signature header (as `rip_rpm_sighdr` cut it: padding included) by
/// splicing it into `rpm`'s lead and main header and parsing the result.
pub fn facts(rpm: &Parts, sighdr: &[u8]) -> Result<SigFacts, SigError> {
    let (len, pad) = framed_len(sighdr, "signature header")?;
    if sighdr.len() as u64 != len + pad {
        return Err(bad(format!(
            "signature header is {} bytes, its index says {}",
            sighdr.len(),
            len + pad
        )));
    }
    let mut whole = Vec::with_capacity(rpm.lead.len() + sighdr.len() + rpm.header.len());
    whole.extend_from_slice(&rpm.lead);
    whole.extend_from_slice(sighdr);
    whole.extend_from_slice(&rpm.header);
    // the crate indexes into the data store with offsets from the bytes: a corrupt header
    // must be a refusal, not a panic in the hub
    let parsed = std::panic::catch_unwind(|| {
        let mut input = whole.as_slice();
        PackageMetadata::parse(&mut input)
    });
    let md = match parsed {
        Ok(Ok(md)) => md,
        Ok(Err(e)) => return Err(bad(format!("malformed signature header: {e}"))),
        Err(_) => return Err(bad("malformed signature header")),
    };
    let s = &md.signature;
    let text = |t: Sig| {
        s.get_entry_data_as_string(t)
            .ok()
            .map(str::to_ascii_lowercase)
    };
    let md5_raw = s
        .get_entry_data_as_binary(Sig::RPMSIGTAG_MD5)
        .ok()
        .map(<[u8]>::to_vec);
    // Koji's order of preference: header+payload signatures first, then header-only
    let packets: Vec<(&'static str, Vec<u8>)> = [
        ("siggpg", Sig::RPMSIGTAG_GPG),
        ("sigpgp", Sig::RPMSIGTAG_PGP),
        ("dsaheader", Sig::RPMSIGTAG_DSA),
        ("rsaheader", Sig::RPMSIGTAG_RSA),
    ]
    .into_iter()
    .filter_map(|(n, t)| {
        s.get_entry_data_as_binary(t)
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| (n, p.to_vec()))
    })
    .collect();
    let packet = packets.first().map(|(_, p)| p.as_slice());
    let key = packet.map(key_id).transpose()?;
    Ok(SigFacts {
        md5: md5_raw.as_ref().map(hex::encode),
        sha1: text(Sig::RPMSIGTAG_SHA1),
        sha256: text(Sig::RPMSIGTAG_SHA256),
        key,
        packets,
        md5_raw,
    })
}

/// The id Koji files a signature under: the last 4 bytes of the issuer's key id, in
/// lower-case hex, from a v3 signature's issuer field or a v4 signature's issuer
/// subpacket (hashed or not; the fingerprint's tail when only that is given).
pub fn key_id(packet: &[u8]) -> Result<String, SigError> {
    use pgp::composed::{Deserializable, DetachedSignature};
    let sig = DetachedSignature::from_bytes(std::io::Cursor::new(packet))
        .map_err(|e| bad(format!("unreadable OpenPGP signature packet: {e}")))?
        .signature;
    let mut ids: Vec<Vec<u8>> = sig
        .issuer_key_id()
        .into_iter()
        .map(|k| AsRef::<[u8]>::as_ref(k).to_vec())
        .collect();
    if ids.is_empty() {
        ids = sig
            .issuer_fingerprint()
            .into_iter()
            .map(|f| f.as_bytes().to_vec())
            .collect();
    }
    ids.dedup();
    match ids.as_slice() {
        [one] if one.len() >= 4 => Ok(hex::encode(&one[one.len() - 4..])),
        [] => Err(bad("signature packet names no issuer key")),
        _ => Err(bad(format!(
            "signature packet names {} issuer keys",
            ids.len()
        ))),
    }
}

/// Whether the signature header `new` was made for the package whose own signature header
/// says `own`: every digest both carry must agree, and they must share at least one.
pub fn check_same_package(own: &SigFacts, new: &SigFacts) -> Result<(), String> {
    let mut shared = 0;
    for (what, a, b) in [
        ("md5 of header and payload", &own.md5, &new.md5),
        ("sha1 of the header", &own.sha1, &new.sha1),
        ("sha256 of the header", &own.sha256, &new.sha256),
    ] {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                return Err(format!("{what} is {b}, the rpm's is {a}"));
            }
            shared += 1;
        }
    }
    if shared == 0 {
        return Err("the signature header carries none of the rpm's digests".into());
    }
    Ok(())
}

/// Copies the RPM read from `src` (at its start) to `dst` with its signature header
/// replaced by `sighdr` (Koji's `splice_rpm_sighdr`).
pub fn splice(src: &mut impl Read, sighdr: &[u8], dst: &mut impl Write) -> Result<(), SigError> {
    let lead = read_exact_vec(src, LEAD_SIZE as u64, "lead")?;
    if lead[..4] != LEAD_MAGIC {
        return Err(bad("not an RPM file (no RPM lead magic)"));
    }
    let intro = read_exact_vec(src, INTRO as u64, "signature header")?;
    let (len, pad) = framed_len(&intro, "signature header")?;
    let skip = len + pad - INTRO as u64;
    let skipped = std::io::copy(&mut src.by_ref().take(skip), &mut std::io::sink())?;
    if skipped < skip {
        return Err(bad("truncated inside the signature header"));
    }
    dst.write_all(&lead)?;
    dst.write_all(sighdr)?;
    std::io::copy(src, dst)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_and_v4_packets_give_the_last_four_bytes_of_the_issuer() {
        // v3 RSA signature packet (old-format header, tag 2, one-byte length)
        let body: Vec<u8> = [
            vec![0x03, 5, 0x00, 0, 0, 0, 1],
            vec![1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef],
            vec![1, 8, 0xab, 0xcd, 0x00, 0x08, 0xff],
        ]
        .concat();
        let mut v3 = vec![0x88, u8::try_from(body.len()).unwrap()];
        v3.extend(&body);
        assert_eq!(key_id(&v3).unwrap(), "deadbeef");
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert!(key_id(b"\x00\x01\x02").is_err());
        assert!(key_id(b"").is_err());
        let rpm = Parts {
            lead: vec![0; 96],
            sighdr: vec![],
            header: vec![],
        };
        assert!(facts(&rpm, b"\x8e\xad\xe8\x01\0\0\0\0\xff\xff\xff\xff\0\0\0\0").is_err());
    }

    #[test]
    fn digests_must_agree_and_overlap() {
        let own = SigFacts {
            md5: Some("aa".into()),
            sha256: Some("bb".into()),
            ..SigFacts::default()
        };
        let same = SigFacts {
            md5: Some("aa".into()),
            key: Some("k".into()),
            ..SigFacts::default()
        };
        assert!(check_same_package(&own, &same).is_ok());
        let other = SigFacts {
            md5: Some("cc".into()),
            ..SigFacts::default()
        };
        assert!(
            check_same_package(&own, &other)
                .unwrap_err()
                .contains("md5")
        );
        assert!(check_same_package(&own, &SigFacts::default()).is_err());
    }
}
