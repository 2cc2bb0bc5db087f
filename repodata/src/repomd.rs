//! `repodata/repomd.xml`: the index that names each metadata file with its checksums,
//! both of the compressed file (what a client downloads) and of its content (what it
//! caches after decompressing).

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::Path;

use quick_xml::events::Event;

use crate::error::{Error, Result};
use crate::xmlread::{attr_value, local, text_of};
use crate::xmlwrite::{NS_REPO, NS_RPM, XML_DECL, attr, text};

/// A digest as repomd.xml writes it: `<checksum type="sha256">hex</checksum>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// `sha256`, `sha1`, `sha512`, …
    pub kind: String,
    /// Lower-case hex digest.
    pub hex: String,
}

/// One `<data type="…">` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoMdRecord {
    /// `primary`, `filelists`, `other`, `group`, `group_gz`, `updateinfo`, …
    pub kind: String,
    /// Checksum of the file as stored (compressed).
    pub checksum: Checksum,
    /// Checksum of the uncompressed content (absent for uncompressed files).
    pub open_checksum: Option<Checksum>,
    /// Path relative to the repository root, e.g. `repodata/<sha>-primary.xml.zst`.
    pub location_href: String,
    pub timestamp: i64,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
}

/// The parsed or written repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoMd {
    pub revision: String,
    pub records: Vec<RepoMdRecord>,
}

impl RepoMd {
    /// The record of a type (`primary`, …), if present.
    pub fn record(&self, kind: &str) -> Option<&RepoMdRecord> {
        self.records.iter().find(|r| r.kind == kind)
    }

    /// Renders repomd.xml in createrepo_c's layout.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str(XML_DECL);
        let _ = writeln!(out, "<repomd xmlns=\"{NS_REPO}\" xmlns:rpm=\"{NS_RPM}\">");
        out.push_str("  <revision>");
        text(&mut out, &self.revision);
        out.push_str("</revision>\n");
        for r in &self.records {
            out.push_str("  <data type=\"");
            attr(&mut out, &r.kind);
            out.push_str("\">\n");
            for (elem, c) in [
                ("checksum", Some(&r.checksum)),
                ("open-checksum", r.open_checksum.as_ref()),
            ] {
                if let Some(c) = c {
                    let _ = write!(out, "    <{elem} type=\"");
                    attr(&mut out, &c.kind);
                    out.push_str("\">");
                    text(&mut out, &c.hex);
                    let _ = writeln!(out, "</{elem}>");
                }
            }
            out.push_str("    <location href=\"");
            attr(&mut out, &r.location_href);
            out.push_str("\"/>\n");
            let _ = writeln!(out, "    <timestamp>{}</timestamp>", r.timestamp);
            if let Some(s) = r.size {
                let _ = writeln!(out, "    <size>{s}</size>");
            }
            if let Some(s) = r.open_size {
                let _ = writeln!(out, "    <open-size>{s}</open-size>");
            }
            out.push_str("  </data>\n");
        }
        out.push_str("</repomd>\n");
        out
    }

    /// Parses repomd.xml; `path` is only used in error messages.
    pub fn parse(input: impl BufRead, path: &Path) -> Result<RepoMd> {
        Self::parse_inner(input, path, true)
    }

    /// Parses repomd.xml for its dates only (revision and record timestamps), as kojira
    /// reads an upstream's: a record without a location still dates the repo. A
    /// truncated or foreign document is refused all the same.
    pub(crate) fn parse_dates(input: impl BufRead, path: &Path) -> Result<RepoMd> {
        Self::parse_inner(input, path, false)
    }

    fn parse_inner(input: impl BufRead, path: &Path, need_locations: bool) -> Result<RepoMd> {
        let mut reader = quick_xml::Reader::from_reader(input);
        let mut buf = Vec::new();
        let mut md = RepoMd::default();
        let mut cur: Option<RepoMdRecord> = None;
        let mut saw_root = false;
        let mut closed_root = false;
        let bad = |e: String| Error::bad_md(path, e);
        loop {
            buf.clear();
            let ev = reader.read_event_into(&mut buf).map_err(|e| {
                bad(format!(
                    "XML error at byte {}: {e}",
                    reader.error_position()
                ))
            })?;
            match ev {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let has_body = matches!(ev, Event::Start(_));
                    let name = local(e.name().as_ref()).to_vec();
                    let body = |reader: &mut quick_xml::Reader<_>| -> Result<String> {
                        if has_body {
                            text_of(reader, path)
                        } else {
                            Ok(String::new())
                        }
                    };
                    if !saw_root && name != b"repomd" {
                        // an error page or some other document served in its place
                        return Err(bad(format!(
                            "root element is <{}>, not <repomd>",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    match name.as_slice() {
                        b"repomd" => {
                            saw_root = true;
                            closed_root |= !has_body;
                        }
                        b"revision" if cur.is_none() => {
                            md.revision = body(&mut reader)?;
                        }
                        b"data" => {
                            let kind = attr_value(e, b"type", path)?.unwrap_or_default();
                            cur = Some(RepoMdRecord {
                                kind,
                                checksum: Checksum {
                                    kind: String::new(),
                                    hex: String::new(),
                                },
                                open_checksum: None,
                                location_href: String::new(),
                                timestamp: 0,
                                size: None,
                                open_size: None,
                            });
                        }
                        b"checksum" | b"open-checksum" => {
                            if let Some(r) = cur.as_mut() {
                                let kind = attr_value(e, b"type", path)?.unwrap_or_default();
                                let hex = body(&mut reader)?.trim().to_ascii_lowercase();
                                let c = Checksum { kind, hex };
                                if name == b"checksum" {
                                    r.checksum = c;
                                } else {
                                    r.open_checksum = Some(c);
                                }
                            }
                        }
                        b"location" => {
                            if let Some(r) = cur.as_mut() {
                                r.location_href = attr_value(e, b"href", path)?.unwrap_or_default();
                            }
                        }
                        b"timestamp" | b"size" | b"open-size" => {
                            if let Some(r) = cur.as_mut() {
                                let t = body(&mut reader)?;
                                let t = t.trim();
                                let v = parse_number(t).ok_or_else(|| {
                                    bad(format!(
                                        "bad number {t:?} in <{}>",
                                        String::from_utf8_lossy(&name)
                                    ))
                                })?;
                                match name.as_slice() {
                                    b"timestamp" => r.timestamp = v,
                                    b"size" => r.size = u64::try_from(v).ok(),
                                    _ => r.open_size = u64::try_from(v).ok(),
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Event::End(e) => {
                    if local(e.name().as_ref()) == b"repomd" {
                        closed_root = true;
                    }
                    if local(e.name().as_ref()) == b"data"
                        && let Some(r) = cur.take()
                    {
                        if need_locations && r.location_href.is_empty() {
                            return Err(bad(format!("<data type=\"{}\"> has no location", r.kind)));
                        }
                        md.records.push(r);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(bad("no <repomd> element".to_string()));
        }
        // quick-xml reports the end of input inside open elements as a normal end, so a
        // download cut short would otherwise pass as a repo with fewer records.
        if !closed_root {
            return Err(bad("truncated: no closing </repomd>".to_string()));
        }
        Ok(md)
    }
}

/// A repomd.xml number: an integer, or a decimal fraction (old tools write timestamps
/// like `1700000050.6`), rounded half away from zero.
pub(crate) fn parse_number(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    let (int, frac) = s.split_once('.')?;
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let negative = int.starts_with('-');
    let whole: i64 = match int {
        "" | "+" => 0,
        "-" => 0,
        i => i.parse().ok()?,
    };
    if frac.as_bytes()[0] < b'5' {
        return Some(whole);
    }
    if negative {
        whole.checked_sub(1)
    } else {
        whole.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_number("1700000050.6"), Some(1_700_000_051));
        assert_eq!(parse_number("1700000050.49"), Some(1_700_000_050));
        assert_eq!(parse_number("-2.5"), Some(-3));
        assert_eq!(parse_number(".7"), Some(1));
        for bad in ["", "x", "1.", "1.2.3", "1.x", "1e9", "99999999999999999999"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn documents_other_than_repomd_are_named() {
        let e =
            RepoMd::parse(&b"<html><body>404</body></html>"[..], Path::new("r.xml")).unwrap_err();
        assert!(e.to_string().contains("root element is <html>"), "{e}");
        let e = RepoMd::parse(&b""[..], Path::new("r.xml")).unwrap_err();
        assert!(e.to_string().contains("no <repomd> element"), "{e}");
    }
}
