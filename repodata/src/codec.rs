//! The binary form of a cached [`PackageMeta`].
//!
//! A warm regeneration loads one cache entry per package; with JSON that parse was the
//! largest cost left (about 20 MB of JSON for 2000 packages, ~100 ms). This format is a
//! plain sequence of varints and length-prefixed UTF-8 strings in field order, several
//! times faster to decode. It is only ever read by the same code that wrote it (the cache
//! entry names carry the format number), so there is no versioning inside; a decode that
//! runs out of bytes, finds bad UTF-8 or leaves bytes over yields None and the RPM is read
//! again.

use crate::meta::{ChangelogEntry, DepFlag, Dependency, FileKind, PackageFile, PackageMeta};

const MAGIC: &[u8; 4] = b"KKPM";

struct Enc(Vec<u8>);

impl Enc {
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, s: &Option<String>) {
        match s {
            None => self.0.push(0),
            Some(s) => {
                self.0.push(1);
                self.str(s);
            }
        }
    }

    fn deps(&mut self, list: &[Dependency]) {
        self.uint(list.len() as u64);
        for d in list {
            self.str(&d.name);
            self.0.push(match d.flags {
                None => 0,
                Some(DepFlag::Lt) => 1,
                Some(DepFlag::Gt) => 2,
                Some(DepFlag::Eq) => 3,
                Some(DepFlag::Le) => 4,
                Some(DepFlag::Ge) => 5,
            });
            self.opt(&d.epoch);
            self.opt(&d.ver);
            self.opt(&d.rel);
            self.0.push(u8::from(d.pre));
        }
    }
}

/// Encodes `p` (every field: the destructuring makes a new field a compile error here).
pub(crate) fn encode(p: &PackageMeta) -> Vec<u8> {
    let PackageMeta {
        name,
        arch,
        epoch,
        version,
        release,
        checksum,
        checksum_type,
        summary,
        description,
        packager,
        url,
        time_file,
        time_build,
        size_package,
        size_installed,
        size_archive,
        location_href,
        location_base,
        license,
        vendor,
        group,
        buildhost,
        sourcerpm,
        header_start,
        header_end,
        provides,
        requires,
        conflicts,
        obsoletes,
        suggests,
        enhances,
        recommends,
        supplements,
        files,
        changelogs,
    } = p;
    let mut e = Enc(Vec::with_capacity(4096));
    e.0.extend_from_slice(MAGIC);
    for s in [
        name,
        arch,
        epoch,
        version,
        release,
        checksum,
        checksum_type,
        summary,
        description,
        packager,
        url,
    ] {
        e.str(s);
    }
    e.int(*time_file);
    e.int(*time_build);
    e.uint(*size_package);
    e.uint(*size_installed);
    e.uint(*size_archive);
    e.str(location_href);
    e.opt(location_base);
    for s in [license, vendor, group, buildhost, sourcerpm] {
        e.str(s);
    }
    e.uint(*header_start);
    e.uint(*header_end);
    for d in [
        provides,
        requires,
        conflicts,
        obsoletes,
        suggests,
        enhances,
        recommends,
        supplements,
    ] {
        e.deps(d);
    }
    e.uint(files.len() as u64);
    for f in files {
        e.str(&f.path);
        e.0.push(match f.kind {
            FileKind::File => 0,
            FileKind::Dir => 1,
            FileKind::Ghost => 2,
        });
    }
    e.uint(changelogs.len() as u64);
    for c in changelogs {
        e.str(&c.author);
        e.int(c.date);
        e.str(&c.text);
    }
    e.0
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn uint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn int(&mut self) -> Option<i64> {
        let u = self.uint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.uint()?).ok()?;
        // every element takes at least one byte: bounds allocations by the input size
        (n <= self.0.len()).then_some(n)
    }

    fn str(&mut self) -> Option<String> {
        let n = self.len()?;
        let (s, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }

    fn opt(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }

    fn deps(&mut self) -> Option<Vec<Dependency>> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?;
            let flags = match self.byte()? {
                0 => None,
                1 => Some(DepFlag::Lt),
                2 => Some(DepFlag::Gt),
                3 => Some(DepFlag::Eq),
                4 => Some(DepFlag::Le),
                5 => Some(DepFlag::Ge),
                _ => return None,
            };
            out.push(Dependency {
                name,
                flags,
                epoch: self.opt()?,
                ver: self.opt()?,
                rel: self.opt()?,
                pre: self.byte()? != 0,
            });
        }
        Some(out)
    }
}

/// Decodes what [`encode`] wrote; None for anything else.
pub(crate) fn decode(bytes: &[u8]) -> Option<PackageMeta> {
    let mut d = Dec(bytes.strip_prefix(MAGIC)?);
    let mut p = PackageMeta {
        name: d.str()?,
        arch: d.str()?,
        epoch: d.str()?,
        version: d.str()?,
        release: d.str()?,
        checksum: d.str()?,
        checksum_type: d.str()?,
        summary: d.str()?,
        description: d.str()?,
        packager: d.str()?,
        url: d.str()?,
        time_file: d.int()?,
        time_build: d.int()?,
        size_package: d.uint()?,
        size_installed: d.uint()?,
        size_archive: d.uint()?,
        location_href: d.str()?,
        location_base: d.opt()?,
        license: d.str()?,
        vendor: d.str()?,
        group: d.str()?,
        buildhost: d.str()?,
        sourcerpm: d.str()?,
        header_start: d.uint()?,
        header_end: d.uint()?,
        ..Default::default()
    };
    p.provides = d.deps()?;
    p.requires = d.deps()?;
    p.conflicts = d.deps()?;
    p.obsoletes = d.deps()?;
    p.suggests = d.deps()?;
    p.enhances = d.deps()?;
    p.recommends = d.deps()?;
    p.supplements = d.deps()?;
    let n = d.len()?;
    p.files = Vec::with_capacity(n);
    for _ in 0..n {
        let path = d.str()?;
        let kind = match d.byte()? {
            0 => FileKind::File,
            1 => FileKind::Dir,
            2 => FileKind::Ghost,
            _ => return None,
        };
        p.files.push(PackageFile { path, kind });
    }
    let n = d.len()?;
    p.changelogs = Vec::with_capacity(n);
    for _ in 0..n {
        p.changelogs.push(ChangelogEntry {
            author: d.str()?,
            date: d.int()?,
            text: d.str()?,
        });
    }
    d.0.is_empty().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PackageMeta {
        let dep = |name: &str, flags, pre| Dependency {
            name: name.into(),
            flags,
            epoch: flags.map(|_| "0".to_string()),
            ver: flags.map(|_| "1.2".to_string()),
            rel: None,
            pre,
        };
        PackageMeta {
            name: "pkg".into(),
            arch: "x86_64".into(),
            epoch: "2".into(),
            version: "1.0".into(),
            release: "3.fc40".into(),
            checksum: "ab".repeat(32),
            checksum_type: "sha256".into(),
            summary: "Ünïcödé ✓".into(),
            description: "multi\nline".into(),
            time_file: -5,
            time_build: 1_700_000_000,
            size_package: 1 << 40,
            location_href: "x86_64/pkg.rpm".into(),
            location_base: Some("http://x/".into()),
            header_end: 4242,
            provides: vec![dep("a", Some(DepFlag::Eq), false)],
            requires: vec![dep("b", None, true), dep("c", Some(DepFlag::Ge), false)],
            supplements: vec![dep("d", Some(DepFlag::Lt), false)],
            files: vec![
                PackageFile {
                    path: "/usr/bin/x".into(),
                    kind: FileKind::File,
                },
                PackageFile {
                    path: "/etc/x".into(),
                    kind: FileKind::Dir,
                },
                PackageFile {
                    path: "/var/log/x".into(),
                    kind: FileKind::Ghost,
                },
            ],
            changelogs: vec![ChangelogEntry {
                author: "A <a@b>".into(),
                date: 1_600_000_000,
                text: "- fix".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let p = sample();
        let bytes = encode(&p);
        assert_eq!(decode(&bytes), Some(p));
        for cut in [0, 3, 10, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(decode(&bad), None);
        assert_eq!(
            decode(&encode(&PackageMeta::default())),
            Some(PackageMeta::default())
        );
    }
}
