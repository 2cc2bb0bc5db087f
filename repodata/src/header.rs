//! Reading an RPM's lead and headers (never its payload), the one place in kkoji that
//! does: [`crate::read_rpm`] builds repodata from them, and [`read_header`] /
//! [`read_header_file`] give the facts the hub (import, `build`) and the builder (SRPM
//! arches and BuildRequires) need.
//!
//! The headers come from outside (uploads, builders, mirrors), so the sizes they claim are
//! checked before anything is allocated from them, and a parser panic on a corrupt header
//! is reported as a bad RPM instead of taking the caller down.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use rpm::{IndexData, IndexSignatureTag, IndexTag, PackageMetadata};

use crate::error::{Error, Result};

const LEAD_SIZE: usize = 96;
const HEADER_INTRO: usize = 16;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// rpm refuses headers above 256 MiB (HEADER_MAX_BYTES); so do we, before allocating.
const MAX_HEADER_BYTES: u64 = 256 << 20;

/// The lead and both headers of an RPM, as read from the start of the file.
pub(crate) struct Head {
    /// Lead + signature header + padding + main header.
    pub bytes: Vec<u8>,
    /// Byte offset where the main header starts (after lead, signature and padding).
    pub header_start: u64,
    /// Byte offset just past the main header (where the payload starts).
    pub header_end: u64,
}

fn be32(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u64::from(u32::from_be_bytes(w))
}

/// Reads `n` more bytes into `buf`, turning a short file into a "truncated" BadRpm.
fn read_more(path: &Path, f: &mut impl Read, buf: &mut Vec<u8>, n: u64, what: &str) -> Result<()> {
    let got = f
        .by_ref()
        .take(n)
        .read_to_end(buf)
        .map_err(|e| Error::io(path, e))?;
    if (got as u64) < n {
        return Err(Error::bad_rpm(
            path,
            format!(
                "truncated: file ends inside the {what} (at byte {})",
                buf.len()
            ),
        ));
    }
    Ok(())
}

/// Reads lead and headers from the start of `f`, validating each size before anything is
/// allocated from it. `f` is left just past the main header, at the payload.
///
/// A file that does not start like an RPM is "not an RPM file (...)", whatever its length,
/// so a text file uploaded by mistake gets a plain answer.
pub(crate) fn read_head(path: &Path, f: &mut impl Read) -> Result<Head> {
    let mut head = Vec::with_capacity(64 * 1024);
    let lead = (LEAD_SIZE + HEADER_INTRO) as u64;
    f.by_ref()
        .take(lead)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    if head.is_empty() {
        return Err(Error::bad_rpm(path, "not an RPM file (empty file)"));
    }
    let n = head.len().min(LEAD_MAGIC.len());
    if head[..n] != LEAD_MAGIC[..n] {
        return Err(Error::bad_rpm(path, "not an RPM file (no RPM lead magic)"));
    }
    if (head.len() as u64) < lead {
        return Err(Error::bad_rpm(
            path,
            format!(
                "truncated: file ends inside the lead (at byte {})",
                head.len()
            ),
        ));
    }
    let sig = LEAD_SIZE;
    if head[sig..sig + 3] != HEADER_MAGIC {
        return Err(Error::bad_rpm(
            path,
            "no signature header after the RPM lead",
        ));
    }
    let sig_entries = be32(&head, sig + 8);
    let sig_data = be32(&head, sig + 12);
    let sig_size = sig_entries * 16 + sig_data;
    if sig_size > MAX_HEADER_BYTES {
        return Err(Error::bad_rpm(path, "signature header size is implausible"));
    }
    let pad = (8 - sig_data % 8) % 8;
    let header_start = lead + sig_size + pad;
    read_more(
        path,
        f,
        &mut head,
        sig_size + pad + HEADER_INTRO as u64,
        "signature header",
    )?;
    let hs = header_start as usize;
    if head[hs..hs + 3] != HEADER_MAGIC {
        return Err(Error::bad_rpm(
            path,
            "no main header after the signature header",
        ));
    }
    let hdr_entries = be32(&head, hs + 8);
    let hdr_data = be32(&head, hs + 12);
    let hdr_size = hdr_entries * 16 + hdr_data;
    if hdr_size > MAX_HEADER_BYTES {
        return Err(Error::bad_rpm(path, "main header size is implausible"));
    }
    read_more(path, f, &mut head, hdr_size, "main header")?;
    let header_end = header_start + HEADER_INTRO as u64 + hdr_size;
    Ok(Head {
        bytes: head,
        header_start,
        header_end,
    })
}

/// Parses the in-memory headers with the `rpm` crate. Its parser indexes into the data
/// store using offsets from the file; a corrupt file could make it panic, which must not
/// take down a repo regeneration or a hub call, so a panic is reported as a bad RPM.
pub(crate) fn parse_metadata(path: &Path, head: &[u8]) -> Result<PackageMetadata> {
    let parsed = std::panic::catch_unwind(|| {
        let mut input = head;
        PackageMetadata::parse(&mut input)
    });
    match parsed {
        Ok(Ok(md)) => Ok(md),
        Ok(Err(e)) => Err(Error::bad_rpm(path, format!("malformed header: {e}"))),
        Err(_) => Err(Error::bad_rpm(path, "malformed header (parser panicked)")),
    }
}

/// First number of a numeric tag of any integer width.
pub(crate) fn num<T: rpm::Tag>(h: &rpm::Header<T>, tag: T) -> Option<u64> {
    match h.entry(tag).ok()? {
        IndexData::Int8(v) | IndexData::Char(v) => v.first().map(|x| u64::from(*x)),
        IndexData::Int16(v) => v.first().map(|x| u64::from(*x)),
        IndexData::Int32(v) => v.first().map(|x| u64::from(*x)),
        IndexData::Int64(v) => v.first().copied(),
        _ => None,
    }
}

/// A dependency exactly as the header lists it (nothing filtered, unlike the requires of
/// [`crate::PackageMeta`], which follow createrepo_c's rules for repodata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderDependency {
    pub name: String,
    /// The RPMSENSE bits.
    pub flags: u32,
    /// `[epoch:]version[-release]`, empty when unversioned.
    pub version: String,
}

/// One changelog entry as the header stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderChangelogEntry {
    pub author: String,
    /// Seconds since the epoch (rpm stores the day of the entry, at noon UTC).
    pub time: i64,
    pub text: String,
}

/// Descriptive tags as the header stores them, `None` when absent: what Koji's
/// `getRPMHeaders` answers from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderStrings {
    /// ARCH as stored: for a source package the arch it was built on, not `src`.
    pub arch: Option<String>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub url: Option<String>,
    pub vcs: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    pub group: Option<String>,
    pub buildhost: Option<String>,
    pub sourcerpm: Option<String>,
}

/// What the hub and the builder need from an RPM header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub version: String,
    pub release: String,
    /// `None` when the header has no EPOCH (Koji then stores NULL, not 0).
    pub epoch: Option<u32>,
    /// `src` for source packages (as Koji and createrepo_c record them), otherwise the
    /// header's ARCH.
    pub arch: String,
    /// rpm's rule: SOURCEPACKAGE present, or no SOURCERPM.
    pub is_source: bool,
    /// The signature header's MD5 of header+payload (SIGMD5), lower-case hex.
    pub sigmd5: Option<String>,
    /// The signature header's SHA-256 of the main header, as stored (hex).
    pub header_sha256: Option<String>,
    /// BUILDTIME in seconds; 0 when absent.
    pub buildtime: i64,
    /// The size of the whole file.
    pub file_size: u64,
    /// BuildArch, ExclusiveArch and ExcludeArch of a source package.
    pub build_archs: Vec<String>,
    pub exclusive_arch: Vec<String>,
    pub exclude_arch: Vec<String>,
    /// Every requirement, `rpmlib(...)` features included; for a source package these
    /// are its BuildRequires.
    pub requires: Vec<HeaderDependency>,
    pub strings: HeaderStrings,
    /// The changelog as stored: newest first, every entry, nothing adjusted (unlike
    /// [`crate::PackageMeta`]'s, which follow createrepo_c's rules for other.xml). Empty
    /// when the header has none or its changelog tags do not line up.
    pub changelog: Vec<HeaderChangelogEntry>,
}

impl RpmHeader {
    pub fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }

    /// `name-version-release.arch.rpm`, the name Koji files the package under.
    pub fn filename(&self) -> String {
        format!("{}.{}.rpm", self.nvr(), self.arch)
    }

    /// Koji's `payloadhash`: the hex SIGMD5, or `sha256::<hex>` for a package signed
    /// without MD5 (FIPS builds); `None` when the header has neither.
    pub fn payloadhash(&self) -> Option<String> {
        self.sigmd5
            .clone()
            .or_else(|| self.header_sha256.as_ref().map(|h| format!("sha256::{h}")))
    }
}

/// Reads the headers of the RPM at `path` (the payload is never read). Errors name the
/// path; see [`read_header_file`].
pub fn read_header(path: impl AsRef<Path>) -> Result<RpmHeader> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    header_of(&file, path)
}

/// Reads the headers of an already opened RPM (opened by the caller without following
/// symlinks, say), from its current position (the start, for a file just opened). `what`
/// names the file in errors instead of a path, so a caller that must not show absolute
/// paths can pass the name its client used; [`Error::detail`] gives the message without it.
///
/// Errors: [`Error::Io`] when the file cannot be read; [`Error::BadRpm`] when it is not a
/// regular file, not an RPM ("not an RPM file (...)", also for empty files), truncated
/// inside its headers, has implausible header sizes or a malformed header, or lacks the
/// name, version, release or (for a binary package) arch.
pub fn read_header_file(file: &File, what: &str) -> Result<RpmHeader> {
    header_of(file, Path::new(what))
}

fn header_of(mut file: &File, path: &Path) -> Result<RpmHeader> {
    let st = file.metadata().map_err(|e| Error::io(path, e))?;
    if !st.is_file() {
        return Err(Error::bad_rpm(path, "not a regular file"));
    }
    let head = read_head(path, &mut file)?;
    let md = parse_metadata(path, &head.bytes)?;
    let h = &md.header;
    let required = |tag: IndexTag, what: &str| -> Result<String> {
        h.get_entry_data_as_string(tag)
            .map(str::to_string)
            .map_err(|e| Error::bad_rpm(path, format!("header has no {what}: {e}")))
    };
    let string_array = |tag: IndexTag| -> Vec<String> {
        h.get_entry_data_as_string_array(tag)
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let is_source = md.is_source_package();
    let requires = md
        .get_requires()
        .map_err(|e| Error::bad_rpm(path, format!("malformed requires: {e}")))?
        .into_iter()
        .map(|d| HeaderDependency {
            name: d.name,
            flags: d.flags.bits(),
            version: d.version,
        })
        .collect();
    let text = |tag: IndexTag| h.get_entry_data_as_string(tag).ok().map(str::to_string);
    let i18n = |tag: IndexTag| {
        h.get_entry_data_as_i18n_string(tag)
            .ok()
            .map(str::to_string)
    };
    let strings = HeaderStrings {
        arch: text(IndexTag::RPMTAG_ARCH),
        summary: i18n(IndexTag::RPMTAG_SUMMARY),
        description: i18n(IndexTag::RPMTAG_DESCRIPTION),
        license: text(IndexTag::RPMTAG_LICENSE),
        url: text(IndexTag::RPMTAG_URL),
        vcs: text(IndexTag::RPMTAG_VCS),
        vendor: text(IndexTag::RPMTAG_VENDOR),
        packager: text(IndexTag::RPMTAG_PACKAGER),
        group: i18n(IndexTag::RPMTAG_GROUP),
        buildhost: text(IndexTag::RPMTAG_BUILDHOST),
        sourcerpm: text(IndexTag::RPMTAG_SOURCERPM),
    };
    let changelog = md
        .get_changelog_entries()
        .unwrap_or_default()
        .into_iter()
        .map(|e| HeaderChangelogEntry {
            author: e.name,
            time: i64::try_from(e.timestamp).unwrap_or(i64::MAX),
            text: e.description,
        })
        .collect();
    let sig = &md.signature;
    Ok(RpmHeader {
        name: required(IndexTag::RPMTAG_NAME, "name")?,
        version: required(IndexTag::RPMTAG_VERSION, "version")?,
        release: required(IndexTag::RPMTAG_RELEASE, "release")?,
        epoch: num(h, IndexTag::RPMTAG_EPOCH).and_then(|e| u32::try_from(e).ok()),
        arch: if is_source {
            "src".to_string()
        } else {
            required(IndexTag::RPMTAG_ARCH, "arch")?
        },
        is_source,
        sigmd5: sig
            .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5)
            .ok()
            .map(hex::encode),
        header_sha256: sig
            .get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
            .ok()
            .map(str::to_string),
        buildtime: num(h, IndexTag::RPMTAG_BUILDTIME)
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0),
        file_size: st.len(),
        build_archs: string_array(IndexTag::RPMTAG_BUILDARCHS),
        exclusive_arch: string_array(IndexTag::RPMTAG_EXCLUSIVEARCH),
        exclude_arch: string_array(IndexTag::RPMTAG_EXCLUDEARCH),
        requires,
        strings,
        changelog,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(bytes: &[u8]) -> Error {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.src.rpm");
        std::fs::write(&p, bytes).unwrap();
        read_header(&p).unwrap_err()
    }

    #[test]
    fn text_files_and_short_files_are_not_rpms() {
        for input in [&b"hello\n"[..], b"x", &[b'n'; 5000][..]] {
            let e = bad(input);
            assert!(matches!(e, Error::BadRpm { .. }), "{e}");
            assert_eq!(e.detail(), "not an RPM file (no RPM lead magic)");
        }
        assert_eq!(bad(b"").detail(), "not an RPM file (empty file)");
        // the magic, then nothing
        let e = bad(&LEAD_MAGIC);
        assert!(
            e.detail()
                .starts_with("truncated: file ends inside the lead"),
            "{e}"
        );
        // a lead claiming a 4 GiB signature header is refused before allocating it
        let mut lead = vec![0u8; LEAD_SIZE + HEADER_INTRO];
        lead[..4].copy_from_slice(&LEAD_MAGIC);
        lead[LEAD_SIZE..LEAD_SIZE + 3].copy_from_slice(&HEADER_MAGIC);
        lead[LEAD_SIZE + 8..LEAD_SIZE + 12].copy_from_slice(&[0xff; 4]);
        assert_eq!(bad(&lead).detail(), "signature header size is implausible");
    }

    #[test]
    fn opened_files_are_named_as_the_caller_says() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes.txt");
        std::fs::write(&p, "not an rpm").unwrap();
        let f = File::open(&p).unwrap();
        let e = read_header_file(&f, "cli-build/1.abc/notes.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cli-build/1.abc/notes.txt: not a usable RPM: not an RPM file (no RPM lead magic)"
        );
        assert!(!e.to_string().contains(&dir.path().display().to_string()));
        let d = File::open(dir.path()).unwrap();
        assert_eq!(
            read_header_file(&d, "dir").unwrap_err().detail(),
            "not a regular file"
        );
    }

    #[test]
    fn payloadhash_prefers_md5() {
        let mut h = RpmHeader {
            name: "a".into(),
            version: "1".into(),
            release: "1".into(),
            epoch: None,
            arch: "noarch".into(),
            is_source: false,
            sigmd5: Some("00ff".into()),
            header_sha256: Some("abcd".into()),
            buildtime: 0,
            file_size: 0,
            build_archs: vec![],
            exclusive_arch: vec![],
            exclude_arch: vec![],
            requires: vec![],
            strings: HeaderStrings::default(),
            changelog: vec![],
        };
        assert_eq!(h.payloadhash().as_deref(), Some("00ff"));
        assert_eq!(h.filename(), "a-1-1.noarch.rpm");
        h.sigmd5 = None;
        assert_eq!(h.payloadhash().as_deref(), Some("sha256::abcd"));
        h.header_sha256 = None;
        assert_eq!(h.payloadhash(), None);
    }
}
