//! Reading one RPM file into a [`PackageMeta`], following createrepo_c 0.17's
//! `cr_package_from_rpm` field by field, so that our primary/filelists/other match what
//! dnf and Koji's tooling are used to.
//!
//! The file is read exactly once: the lead and both headers are read into memory (they are
//! needed for parsing and are small), the payload is only streamed through SHA-256.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::header::{num, parse_metadata, read_head};
use crate::meta::{
    ChangelogEntry, DepFlag, Dependency, FileKind, PackageFile, PackageMeta, is_primary_file,
};

/// createrepo_c's default `--changelog-limit`: only the newest ten entries reach other.xml.
pub const DEFAULT_CHANGELOG_LIMIT: usize = 10;

/// Knobs of reading an RPM that change the resulting metadata (and therefore are part of
/// what the cache must match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Keep at most this many of the newest changelog entries; `None` keeps all of them.
    pub changelog_limit: Option<usize>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            changelog_limit: Some(DEFAULT_CHANGELOG_LIMIT),
        }
    }
}

// RPMSENSE bits used by createrepo_c.
const RPMSENSE_PREREQ: u32 = 1 << 6;
const RPMSENSE_SCRIPT_PRE: u32 = 1 << 9;
const RPMSENSE_SCRIPT_POST: u32 = 1 << 10;
const RPMSENSE_MISSINGOK: u32 = 1 << 19;
const RPMSENSE_STRONG: u32 = 1 << 27;
const RPMFILE_GHOST: u32 = 1 << 6;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

/// Reads `path` with default options (changelog limit 10, like createrepo_c).
///
/// `location_href` is where the package will appear relative to the repository root.
pub fn read_rpm(path: impl AsRef<Path>, location_href: &str) -> Result<PackageMeta> {
    read_rpm_with(path, location_href, &ReadOptions::default())
}

/// Reads `path` into a [`PackageMeta`]: SHA-256 of the whole file, header fields, header
/// byte range, dependencies, files and changelogs.
///
/// Fails with [`Error::BadRpm`] naming the file when it is not an RPM, is truncated (the
/// signature's size does not match the file), or contains characters XML cannot carry.
pub fn read_rpm_with(
    path: impl AsRef<Path>,
    location_href: &str,
    opts: &ReadOptions,
) -> Result<PackageMeta> {
    let path = path.as_ref();
    let raw = read_raw(path)?;
    let md = parse_metadata(path, &raw.head)?;
    let mut meta = extract(path, &md, opts)?;
    if let Some(expected) = signature_size(&md) {
        let actual = raw.file_size - raw.header_start;
        if expected != actual {
            return Err(Error::bad_rpm(
                path,
                format!(
                    "truncated or padded: header+payload should be {expected} bytes, file has {actual}"
                ),
            ));
        }
    }
    meta.checksum = raw.sha256;
    meta.checksum_type = "sha256".to_string();
    meta.time_file = raw.mtime;
    meta.size_package = raw.file_size;
    meta.location_href = location_href.to_string();
    meta.header_start = raw.header_start;
    meta.header_end = raw.header_end;
    check_control_chars(path, &meta)?;
    Ok(meta)
}

/// What one pass over the file yields before header parsing.
struct RawRpm {
    /// Lead + signature header + padding + main header.
    head: Vec<u8>,
    header_start: u64,
    header_end: u64,
    file_size: u64,
    mtime: i64,
    sha256: String,
}

/// Reads lead and headers (validated before anything is allocated from their sizes), then
/// streams the rest of the file through SHA-256.
fn read_raw(path: &Path) -> Result<RawRpm> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let st = f.metadata().map_err(|e| Error::io(path, e))?;
    if !st.is_file() {
        return Err(Error::bad_rpm(path, "not a regular file"));
    }
    let head = read_head(path, &mut f)?;
    let mut hasher = Sha256::new();
    hasher.update(&head.bytes);
    let mut total = head.bytes.len() as u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok(RawRpm {
        head: head.bytes,
        header_start: head.header_start,
        header_end: head.header_end,
        file_size: total,
        mtime: st.mtime(),
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Header + payload size recorded in the signature, if any; used to detect truncation.
fn signature_size(md: &PackageMetadata) -> Option<u64> {
    let sig = &md.signature;
    if let Ok(v) = sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE) {
        return Some(v);
    }
    sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
        .ok()
        .map(u64::from)
}

fn string(h: &rpm::Header<IndexTag>, tag: IndexTag) -> String {
    h.get_entry_data_as_string(tag)
        .map(str::to_string)
        .unwrap_or_default()
}

fn i18n(h: &rpm::Header<IndexTag>, tag: IndexTag) -> String {
    h.get_entry_data_as_i18n_string(tag)
        .map(str::to_string)
        .unwrap_or_default()
}

fn strings(h: &rpm::Header<IndexTag>, tag: IndexTag) -> Option<Vec<&str>> {
    h.get_entry_data_as_string_array(tag).ok()
}

/// A u32 array tag; INT16 arrays (file modes) are widened.
fn u32s(h: &rpm::Header<IndexTag>, tag: IndexTag) -> Option<Vec<u32>> {
    if let Ok(v) = h.get_entry_data_as_u32_array(tag) {
        return Some(v);
    }
    h.get_entry_data_as_u16_array(tag)
        .ok()
        .map(|v| v.into_iter().map(u32::from).collect())
}

fn extract(path: &Path, md: &PackageMetadata, opts: &ReadOptions) -> Result<PackageMeta> {
    let h = &md.header;
    let name = h
        .get_entry_data_as_string(IndexTag::RPMTAG_NAME)
        .map_err(|e| Error::bad_rpm(path, format!("header has no name: {e}")))?
        .to_string();
    let is_source = num(h, IndexTag::RPMTAG_SOURCEPACKAGE).unwrap_or(0) != 0;
    let arch = if is_source {
        "src".to_string()
    } else {
        string(h, IndexTag::RPMTAG_ARCH)
    };
    let epoch = num(h, IndexTag::RPMTAG_EPOCH).unwrap_or(0).to_string();
    let s = &md.signature;
    // rpm merges the signature's size tags into the header when it reads a package; the
    // 64-bit variant wins over the 32-bit one (headerGet with HEADERGET_EXT).
    let size_archive = num(h, IndexTag::RPMTAG_LONGARCHIVESIZE)
        .or_else(|| num(s, IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE))
        .or_else(|| num(h, IndexTag::RPMTAG_ARCHIVESIZE))
        .or_else(|| num(s, IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE))
        .unwrap_or(0);
    let size_installed = num(h, IndexTag::RPMTAG_LONGSIZE)
        .or_else(|| num(h, IndexTag::RPMTAG_SIZE))
        .unwrap_or(0);

    let mut meta = PackageMeta {
        name,
        arch,
        epoch,
        version: string(h, IndexTag::RPMTAG_VERSION),
        release: string(h, IndexTag::RPMTAG_RELEASE),
        checksum: String::new(),
        checksum_type: String::new(),
        summary: i18n(h, IndexTag::RPMTAG_SUMMARY),
        description: i18n(h, IndexTag::RPMTAG_DESCRIPTION),
        packager: string(h, IndexTag::RPMTAG_PACKAGER),
        url: string(h, IndexTag::RPMTAG_URL),
        time_file: 0,
        time_build: num(h, IndexTag::RPMTAG_BUILDTIME).unwrap_or(0) as i64,
        size_package: 0,
        size_installed,
        size_archive,
        location_href: String::new(),
        location_base: None,
        license: string(h, IndexTag::RPMTAG_LICENSE),
        vendor: string(h, IndexTag::RPMTAG_VENDOR),
        group: i18n(h, IndexTag::RPMTAG_GROUP),
        buildhost: string(h, IndexTag::RPMTAG_BUILDHOST),
        sourcerpm: string(h, IndexTag::RPMTAG_SOURCERPM),
        header_start: 0,
        header_end: 0,
        provides: Vec::new(),
        requires: Vec::new(),
        conflicts: Vec::new(),
        obsoletes: Vec::new(),
        suggests: Vec::new(),
        enhances: Vec::new(),
        recommends: Vec::new(),
        supplements: Vec::new(),
        files: files(h),
        changelogs: changelogs(h, opts.changelog_limit),
    };
    dependencies(h, &mut meta);
    Ok(meta)
}

/// Files in header order, typed dir/ghost/file like createrepo_c (a directory wins over
/// the ghost flag).
fn files(h: &rpm::Header<IndexTag>) -> Vec<PackageFile> {
    let (Some(flags), Some(modes)) = (
        u32s(h, IndexTag::RPMTAG_FILEFLAGS),
        u32s(h, IndexTag::RPMTAG_FILEMODES),
    ) else {
        return Vec::new();
    };
    let paths: Vec<String> = match (
        strings(h, IndexTag::RPMTAG_BASENAMES),
        strings(h, IndexTag::RPMTAG_DIRNAMES),
        u32s(h, IndexTag::RPMTAG_DIRINDEXES),
    ) {
        (Some(base), Some(dirs), Some(idx)) => base
            .iter()
            .zip(idx.iter())
            .map(|(b, i)| {
                let d = dirs.get(*i as usize).copied().unwrap_or("");
                format!("{d}{b}")
            })
            .collect(),
        // Very old packages list full paths; rpm converts them on read, so do we.
        _ => match strings(h, IndexTag::RPMTAG_OLDFILENAMES) {
            Some(v) => v.into_iter().map(str::to_string).collect(),
            None => return Vec::new(),
        },
    };
    paths
        .into_iter()
        .zip(flags.iter().zip(modes.iter()))
        .map(|(path, (fl, mode))| {
            let kind = if mode & S_IFMT == S_IFDIR {
                FileKind::Dir
            } else if fl & RPMFILE_GHOST != 0 {
                FileKind::Ghost
            } else {
                FileKind::File
            };
            PackageFile { path, kind }
        })
        .collect()
}

/// createrepo_c's `cr_str_to_evr`: `[epoch:]version[-release]`, epoch defaulting to "0".
/// Returns `None` for a non-numeric epoch (createrepo_c drops such a dependency).
fn parse_evr(s: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
    if s.is_empty() {
        return Some((None, None, None));
    }
    let (epoch, rest) = match s.find(':') {
        Some(colon) => {
            let e = &s[..colon];
            // strtol accepts leading blanks and a sign; createrepo_c only checks that the
            // number ends right at the colon.
            let digits = e.trim_start().trim_start_matches(['+', '-']);
            if !e.is_empty() && (digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit())) {
                return None;
            }
            let epoch = if e.is_empty() { "0" } else { e };
            (epoch.to_string(), &s[colon + 1..])
        }
        None => ("0".to_string(), s),
    };
    let (ver, rel) = match rest.find('-') {
        Some(dash) => {
            let r = &rest[dash + 1..];
            (
                Some(rest[..dash].to_string()),
                (!r.is_empty()).then(|| r.to_string()),
            )
        }
        None => (Some(rest.to_string()), None),
    };
    Some((Some(epoch), ver, rel))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Provides,
    Conflicts,
    Obsoletes,
    Requires,
    Suggests,
    Enhances,
    Recommends,
    Supplements,
    OldSuggests,
    OldEnhances,
}

/// Dependencies, with createrepo_c's filtering of requires: no `rpmlib(…)`, none on the
/// package's own primary files, none that the package itself provides verbatim, no
/// duplicates, and only the highest `libc.so.6(…)` (moved to the end). Legacy weak
/// dependencies (SUSE/Mandriva style) are mapped the way Debian's createrepo_c (built with
/// LegacyWeakdeps) maps them.
fn dependencies(h: &rpm::Header<IndexTag>, meta: &mut PackageMeta) {
    use IndexTag as T;
    let kinds = [
        (
            DepKind::Provides,
            T::RPMTAG_PROVIDENAME,
            T::RPMTAG_PROVIDEFLAGS,
            T::RPMTAG_PROVIDEVERSION,
        ),
        (
            DepKind::Conflicts,
            T::RPMTAG_CONFLICTNAME,
            T::RPMTAG_CONFLICTFLAGS,
            T::RPMTAG_CONFLICTVERSION,
        ),
        (
            DepKind::Obsoletes,
            T::RPMTAG_OBSOLETENAME,
            T::RPMTAG_OBSOLETEFLAGS,
            T::RPMTAG_OBSOLETEVERSION,
        ),
        (
            DepKind::Requires,
            T::RPMTAG_REQUIRENAME,
            T::RPMTAG_REQUIREFLAGS,
            T::RPMTAG_REQUIREVERSION,
        ),
        (
            DepKind::Suggests,
            T::RPMTAG_SUGGESTNAME,
            T::RPMTAG_SUGGESTFLAGS,
            T::RPMTAG_SUGGESTVERSION,
        ),
        (
            DepKind::Enhances,
            T::RPMTAG_ENHANCENAME,
            T::RPMTAG_ENHANCEFLAGS,
            T::RPMTAG_ENHANCEVERSION,
        ),
        (
            DepKind::Recommends,
            T::RPMTAG_RECOMMENDNAME,
            T::RPMTAG_RECOMMENDFLAGS,
            T::RPMTAG_RECOMMENDVERSION,
        ),
        (
            DepKind::Supplements,
            T::RPMTAG_SUPPLEMENTNAME,
            T::RPMTAG_SUPPLEMENTFLAGS,
            T::RPMTAG_SUPPLEMENTVERSION,
        ),
        (
            DepKind::OldSuggests,
            T::RPMTAG_OLDSUGGESTSNAME,
            T::RPMTAG_OLDSUGGESTSFLAGS,
            T::RPMTAG_OLDSUGGESTSVERSION,
        ),
        (
            DepKind::OldEnhances,
            T::RPMTAG_OLDENHANCESNAME,
            T::RPMTAG_OLDENHANCESFLAGS,
            T::RPMTAG_OLDENHANCESVERSION,
        ),
    ];
    let own_files: HashSet<&str> = meta.files.iter().map(|f| f.path.as_str()).collect();
    let mut provided: HashSet<String> = HashSet::new();
    // name -> (flags, version, pre) of the last require written under that name
    let mut seen_requires: HashMap<String, (Option<DepFlag>, String, bool)> = HashMap::new();
    let mut out: [Vec<Dependency>; 8] = Default::default();
    const PROV: usize = 0;
    const CONF: usize = 1;
    const OBS: usize = 2;
    const REQ: usize = 3;
    const SUG: usize = 4;
    const ENH: usize = 5;
    const REC: usize = 6;
    const SUP: usize = 7;

    for (kind, name_tag, flags_tag, ver_tag) in kinds {
        let (Some(names), Some(flags), Some(versions)) = (
            strings(h, name_tag),
            u32s(h, flags_tag),
            strings(h, ver_tag),
        ) else {
            continue;
        };
        let mut libc_highest: Option<Dependency> = None;
        for ((name, bits), full_version) in names.iter().zip(flags.iter()).zip(versions.iter()) {
            let bits = *bits;
            let flag = DepFlag::from_rpmsense(bits);
            let nfv = format!(
                "{name}{}{full_version}",
                flag.map(DepFlag::as_str).unwrap_or("")
            );
            let mut pre = false;
            if kind == DepKind::Requires {
                if name.starts_with("rpmlib(") {
                    continue;
                }
                if name.starts_with('/') && own_files.contains(name) && is_primary_file(name) {
                    continue;
                }
                if provided.contains(&nfv) {
                    continue;
                }
                pre = bits & (RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE | RPMSENSE_SCRIPT_POST) != 0;
                if let Some((f, v, p)) = seen_requires.get(*name)
                    && *f == flag
                    && v == full_version
                    && *p == pre
                {
                    continue;
                }
            }
            let Some((epoch, ver, rel)) = parse_evr(full_version) else {
                tracing::warn!(
                    package = %meta.nevra(),
                    dependency = %name,
                    version = %full_version,
                    "bad epoch in dependency version; skipping the dependency like createrepo_c"
                );
                continue;
            };
            let mut dep = Dependency {
                name: name.to_string(),
                flags: flag,
                epoch,
                ver,
                rel,
                pre: false,
            };
            match kind {
                DepKind::Provides => {
                    provided.insert(nfv);
                    out[PROV].push(dep);
                }
                DepKind::Conflicts => out[CONF].push(dep),
                DepKind::Obsoletes => out[OBS].push(dep),
                DepKind::Requires => {
                    if bits & RPMSENSE_MISSINGOK != 0 {
                        out[REC].push(dep);
                        continue;
                    }
                    dep.pre = pre;
                    if dep.name.starts_with("libc.so.6") {
                        match &libc_highest {
                            Some(cur) if !libc_dep_greater(&dep.name, &cur.name) => {}
                            _ => libc_highest = Some(dep),
                        }
                        continue;
                    }
                    seen_requires
                        .insert(dep.name.clone(), (flag, full_version.to_string(), dep.pre));
                    out[REQ].push(dep);
                }
                DepKind::Suggests => out[SUG].push(dep),
                DepKind::Enhances => out[ENH].push(dep),
                DepKind::Recommends => out[REC].push(dep),
                DepKind::Supplements => out[SUP].push(dep),
                DepKind::OldSuggests => {
                    let i = if bits & RPMSENSE_STRONG != 0 {
                        REC
                    } else {
                        SUG
                    };
                    out[i].push(dep);
                }
                DepKind::OldEnhances => {
                    let i = if bits & RPMSENSE_STRONG != 0 {
                        SUP
                    } else {
                        ENH
                    };
                    out[i].push(dep);
                }
            }
        }
        if let Some(libc) = libc_highest {
            out[REQ].push(libc);
        }
    }
    let [prov, conf, obs, req, sug, enh, rec, sup] = out;
    meta.provides = prov;
    meta.conflicts = conf;
    meta.obsoletes = obs;
    meta.requires = req;
    meta.suggests = sug;
    meta.enhances = enh;
    meta.recommends = rec;
    meta.supplements = sup;
}

/// createrepo_c's `cr_compare_dependency(cur, new) == 2`: is the version inside the first
/// parentheses of `new` (from its first digit) higher than that of `cur`?
/// `libc.so.6()` < `libc.so.6(GLIBC_2.3.4)(64bit)` < `libc.so.6(GLIBC_2.4)`.
/// Ported branch by branch, including its quirks with versionless parentheses.
fn libc_dep_greater(new: &str, cur: &str) -> bool {
    // 0: same, 1: cur bigger, 2: new bigger, -1: error (createrepo_c's return values)
    fn compare(d1: &str, d2: &str) -> i32 {
        let (b1, b2) = (d1.as_bytes(), d2.as_bytes());
        let (o1, o2) = match (d1.find('('), d2.find('(')) {
            (None, None) => return 0,
            (None, Some(_)) => return 2,
            (Some(_), None) => return 1,
            (Some(a), Some(b)) => (a, b),
        };
        let (e1, e2) = match (d1[o1..].find(')'), d2[o2..].find(')')) {
            (None, None) => return -1,
            (None, Some(_)) => return 2,
            (Some(_), None) => return 1,
            (Some(a), Some(b)) => (o1 + a, o2 + b),
        };
        let (mut s1, mut s2) = (o1 + 1, o2 + 1);
        if s1 == e1 && s2 == e2 {
            return 0;
        }
        if s1 == e1 {
            return 2;
        }
        if s2 == e2 {
            return 1;
        }
        while s1 < b1.len() && !b1[s1].is_ascii_digit() {
            s1 += 1;
        }
        while s2 < b2.len() && !b2[s2].is_ascii_digit() {
            s2 += 1;
        }
        if s1 > e1 && s2 > e2 {
            return 0;
        }
        if s1 > e1 {
            return 2;
        }
        if s2 > e2 {
            return 1;
        }
        match rpmvercmp(&d1[s1..e1], &d2[s2..e2]) {
            std::cmp::Ordering::Less => 2,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }
    }
    compare(cur, new) == 2
}

/// rpm's `rpmvercmp`: segments of digits compare numerically, letters lexically, a
/// numeric segment is newer than an alphabetic one, `~` sorts before everything and `^`
/// after the base version.
pub fn rpmvercmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if a == b {
        return Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while let Some(&c) = a.first()
            && sep(c)
        {
            a = &a[1..];
        }
        while let Some(&c) = b.first()
            && sep(c)
        {
            b = &b[1..];
        }
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Less,
            (_, Some(b'~')) => return Greater,
            _ => {}
        }
        match (a.first(), b.first()) {
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Greater,
            (None, Some(b'^')) => return Less,
            (Some(b'^'), _) => return Less,
            (_, Some(b'^')) => return Greater,
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (na, nb) = (take(a), take(b));
        if nb == 0 {
            return if numeric { Greater } else { Less };
        }
        let (mut sa, mut sb) = (&a[..na], &b[..nb]);
        a = &a[na..];
        b = &b[nb..];
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Equal => {}
                o => return o,
            }
        }
        match sa.cmp(sb) {
            Equal => {}
            o => return o,
        }
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => Less,
        _ => Greater,
    }
}

/// Changelogs as createrepo_c builds them: the newest `limit` entries of the header
/// (which lists newest first), output oldest first, trailing blanks stripped from the
/// author, and runs of equal timestamps made distinct by bumping the older ones.
fn changelogs(h: &rpm::Header<IndexTag>, limit: Option<usize>) -> Vec<ChangelogEntry> {
    let (Some(times), Some(names), Some(texts)) = (
        u32s(h, IndexTag::RPMTAG_CHANGELOGTIME),
        strings(h, IndexTag::RPMTAG_CHANGELOGNAME),
        strings(h, IndexTag::RPMTAG_CHANGELOGTEXT),
    ) else {
        return Vec::new();
    };
    let take = limit.unwrap_or(usize::MAX);
    // Built newest-first, like createrepo_c's prepend-only list, then reversed.
    let mut list: Vec<ChangelogEntry> = Vec::new();
    let mut last_time: i64 = 0;
    for ((t, name), text) in times.iter().zip(names.iter()).zip(texts.iter()).take(take) {
        let time = i64::from(*t);
        let mut author = name.to_string();
        // createrepo_c strips trailing spaces but never the first character.
        while author.len() > 1 && author.ends_with(' ') {
            author.pop();
        }
        // `list` is in header order (newest first); createrepo_c walks from the entry just
        // before this one backwards while the dates equal the running time.
        if !list.is_empty() && last_time == time {
            for (expected, prev) in (time..).zip(list.iter_mut().rev()) {
                if prev.date != expected {
                    break;
                }
                prev.date += 1;
            }
        } else {
            last_time = time;
        }
        list.push(ChangelogEntry {
            author,
            date: time,
            text: text.to_string(),
        });
    }
    list.reverse();
    list
}

/// createrepo_c refuses packages whose strings contain control characters other than
/// tab, newline and carriage return: XML 1.0 cannot represent them.
fn check_control_chars(path: &Path, m: &PackageMeta) -> Result<()> {
    let bad = |s: &str| s.bytes().any(|b| b < 32 && b != 9 && b != 10 && b != 13);
    let scalars = [
        &m.name,
        &m.arch,
        &m.version,
        &m.epoch,
        &m.release,
        &m.summary,
        &m.description,
        &m.url,
        &m.license,
        &m.vendor,
        &m.group,
        &m.buildhost,
        &m.sourcerpm,
        &m.packager,
        &m.location_href,
    ];
    let mut field = scalars.iter().find(|s| bad(s)).map(|_| "a header string");
    let deps = [
        &m.provides,
        &m.requires,
        &m.conflicts,
        &m.obsoletes,
        &m.suggests,
        &m.enhances,
        &m.recommends,
        &m.supplements,
    ];
    if field.is_none()
        && deps.iter().any(|l| {
            l.iter().any(|d| {
                bad(&d.name)
                    || [&d.epoch, &d.ver, &d.rel]
                        .iter()
                        .any(|o| o.as_deref().is_some_and(bad))
            })
        })
    {
        field = Some("a dependency");
    }
    if field.is_none() && m.files.iter().any(|f| bad(&f.path)) {
        field = Some("a file name");
    }
    if field.is_none() && m.changelogs.iter().any(|c| bad(&c.author) || bad(&c.text)) {
        field = Some("a changelog entry");
    }
    match field {
        Some(what) => Err(Error::bad_rpm(
            path,
            format!("{what} contains control characters that XML cannot carry"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn vercmp_basics() {
        assert_eq!(rpmvercmp("1.0", "1.0"), Equal);
        assert_eq!(rpmvercmp("1.0", "1.1"), Less);
        assert_eq!(rpmvercmp("2.4", "2.3.4"), Greater);
        assert_eq!(rpmvercmp("1.0a", "1.0"), Greater);
        assert_eq!(rpmvercmp("1.0~rc1", "1.0"), Less);
        assert_eq!(rpmvercmp("1.0^git1", "1.0"), Greater);
        assert_eq!(rpmvercmp("10", "9"), Greater);
        assert_eq!(rpmvercmp("a", "1"), Less);
        assert_eq!(rpmvercmp("1.01", "1.1"), Equal);
    }

    #[test]
    fn libc_highest() {
        assert!(libc_dep_greater(
            "libc.so.6(GLIBC_2.4)",
            "libc.so.6(GLIBC_2.3.4)(64bit)"
        ));
        assert!(libc_dep_greater(
            "libc.so.6(GLIBC_2.3.4)(64bit)",
            "libc.so.6()(64bit)"
        ));
        assert!(!libc_dep_greater(
            "libc.so.6()(64bit)",
            "libc.so.6(GLIBC_2.2.5)(64bit)"
        ));
        assert!(libc_dep_greater("libc.so.6()", "libc.so.6"));
    }

    #[test]
    fn evr_parsing() {
        let s = |x: &str| Some(x.to_string());
        assert_eq!(parse_evr("1.0-1"), Some((s("0"), s("1.0"), s("1"))));
        assert_eq!(parse_evr("2:1.0"), Some((s("2"), s("1.0"), None)));
        assert_eq!(parse_evr(""), Some((None, None, None)));
        assert_eq!(parse_evr("x:1"), None);
        assert_eq!(parse_evr(":1-2-3"), Some((s("0"), s("1"), s("2-3"))));
    }

    #[test]
    fn primary_filter() {
        assert!(is_primary_file("/etc/foo"));
        assert!(is_primary_file("/usr/bin/x"));
        assert!(is_primary_file("/opt/x/sbin/y"));
        assert!(is_primary_file("/usr/lib/sendmail"));
        assert!(!is_primary_file("/usr/share/doc/x"));
        assert!(!is_primary_file("/etc"));
    }

    #[test]
    fn not_an_rpm() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.rpm");
        std::fs::write(&p, b"hello, this is not an rpm at all; it is long enough to have a lead, yes indeed it is, very long text").unwrap();
        let e = read_rpm(&p, "x.rpm").unwrap_err();
        assert!(matches!(e, Error::BadRpm { .. }), "{e}");
        assert!(e.to_string().contains("x.rpm"), "{e}");
        std::fs::write(&p, b"").unwrap();
        let e = read_rpm(&p, "x.rpm").unwrap_err();
        assert!(e.to_string().contains("empty file"), "{e}");
    }
}
