//! Renders the per-package XML fragments of primary/filelists/other byte for byte the way
//! createrepo_c (through libxml2's `xmlNodeDump`) does: two-space indentation, text escaped
//! with `&amp; &lt; &gt;` (and `&#13;`), attributes additionally escaping `"`, tab and
//! newlines and writing every non-ASCII character as a hexadecimal character reference.
//!
//! Any change to the output here must bump `chunks::KEY_VERSION`, or incremental runs
//! would keep reusing chunks rendered the old way.
//!
//! Writing by hand instead of through an XML writer is deliberate: it is what lets our
//! output be compared byte for byte with createrepo_c's, and it is the fastest way to
//! produce the (large) filelists.

use std::fmt::Write as _;

use crate::meta::{Dependency, FileKind, PackageMeta, is_primary_file};

pub(crate) const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
pub(crate) const NS_COMMON: &str = "http://linux.duke.edu/metadata/common";
pub(crate) const NS_RPM: &str = "http://linux.duke.edu/metadata/rpm";
pub(crate) const NS_FILELISTS: &str = "http://linux.duke.edu/metadata/filelists";
pub(crate) const NS_OTHER: &str = "http://linux.duke.edu/metadata/other";
pub(crate) const NS_REPO: &str = "http://linux.duke.edu/metadata/repo";

/// Escapes element text like libxml2's `xmlEscapeContent`.
pub(crate) fn text(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Escapes an attribute value like libxml2's `xmlBufAttrSerializeTxtContent` for a node
/// without a document encoding: non-ASCII characters become `&#xHEX;`.
pub(crate) fn attr(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| b.is_ascii() && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\n' | b'\r' | b'\t'))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if !c.is_ascii() => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn text_elem(out: &mut String, indent: &str, name: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

fn version_elem(out: &mut String, p: &PackageMeta) {
    out.push_str("  <version epoch=\"");
    attr(out, &p.epoch);
    out.push_str("\" ver=\"");
    attr(out, &p.version);
    out.push_str("\" rel=\"");
    attr(out, &p.release);
    out.push_str("\"/>\n");
}

/// `location_base` as createrepo_c writes it: a bare absolute path gets `file://`.
fn location_base(base: &str) -> String {
    if base.starts_with('/') {
        format!("file://{base}")
    } else {
        base.to_string()
    }
}

fn deps(out: &mut String, elem: &str, list: &[Dependency], requires: bool) {
    if list.is_empty() {
        return;
    }
    let entries: Vec<&Dependency> = list.iter().filter(|d| !d.name.is_empty()).collect();
    if entries.is_empty() {
        let _ = writeln!(out, "    <{elem}/>");
        return;
    }
    let _ = writeln!(out, "    <{elem}>");
    for d in entries {
        out.push_str("      <rpm:entry name=\"");
        attr(out, &d.name);
        out.push('"');
        if let Some(f) = d.flags {
            out.push_str(" flags=\"");
            out.push_str(f.as_str());
            out.push('"');
            for (k, v) in [("epoch", &d.epoch), ("ver", &d.ver), ("rel", &d.rel)] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    out.push(' ');
                    out.push_str(k);
                    out.push_str("=\"");
                    attr(out, v);
                    out.push('"');
                }
            }
        }
        if requires && d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </{elem}>");
}

fn file_elem(out: &mut String, indent: &str, path: &str, kind: FileKind) {
    out.push_str(indent);
    match kind {
        FileKind::File => out.push_str("<file>"),
        FileKind::Dir => out.push_str("<file type=\"dir\">"),
        FileKind::Ghost => out.push_str("<file type=\"ghost\">"),
    }
    text(out, path);
    out.push_str("</file>\n");
}

/// One `<package type="rpm">…</package>\n` of primary.xml.
pub(crate) fn primary_package(out: &mut String, p: &PackageMeta) {
    out.push_str("<package type=\"rpm\">\n");
    text_elem(out, "  ", "name", &p.name);
    text_elem(out, "  ", "arch", &p.arch);
    version_elem(out, p);
    out.push_str("  <checksum type=\"");
    attr(out, &p.checksum_type);
    out.push_str("\" pkgid=\"YES\">");
    text(out, &p.checksum);
    out.push_str("</checksum>\n");
    text_elem(out, "  ", "summary", &p.summary);
    text_elem(out, "  ", "description", &p.description);
    text_elem(out, "  ", "packager", &p.packager);
    text_elem(out, "  ", "url", &p.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        p.time_file, p.time_build
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        p.size_package, p.size_installed, p.size_archive
    );
    out.push_str("  <location ");
    if let Some(base) = p.location_base.as_deref().filter(|b| !b.is_empty()) {
        out.push_str("xml:base=\"");
        attr(out, &location_base(base));
        out.push_str("\" ");
    }
    out.push_str("href=\"");
    attr(out, &p.location_href);
    out.push_str("\"/>\n");
    out.push_str("  <format>\n");
    text_elem(out, "    ", "rpm:license", &p.license);
    text_elem(out, "    ", "rpm:vendor", &p.vendor);
    text_elem(out, "    ", "rpm:group", &p.group);
    text_elem(out, "    ", "rpm:buildhost", &p.buildhost);
    text_elem(out, "    ", "rpm:sourcerpm", &p.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        p.header_start, p.header_end
    );
    deps(out, "rpm:provides", &p.provides, false);
    deps(out, "rpm:requires", &p.requires, true);
    deps(out, "rpm:conflicts", &p.conflicts, false);
    deps(out, "rpm:obsoletes", &p.obsoletes, false);
    deps(out, "rpm:suggests", &p.suggests, false);
    deps(out, "rpm:enhances", &p.enhances, false);
    deps(out, "rpm:recommends", &p.recommends, false);
    deps(out, "rpm:supplements", &p.supplements, false);
    for f in p.files.iter().filter(|f| is_primary_file(&f.path)) {
        file_elem(out, "    ", &f.path, f.kind);
    }
    out.push_str("  </format>\n</package>\n");
}

fn pkgid_open(out: &mut String, p: &PackageMeta) {
    out.push_str("<package pkgid=\"");
    attr(out, &p.checksum);
    out.push_str("\" name=\"");
    attr(out, &p.name);
    out.push_str("\" arch=\"");
    attr(out, &p.arch);
    out.push_str("\">\n");
}

/// One `<package pkgid=…>…</package>\n` of filelists.xml.
pub(crate) fn filelists_package(out: &mut String, p: &PackageMeta) {
    pkgid_open(out, p);
    version_elem(out, p);
    for f in &p.files {
        file_elem(out, "  ", &f.path, f.kind);
    }
    out.push_str("</package>\n");
}

/// One `<package pkgid=…>…</package>\n` of other.xml.
pub(crate) fn other_package(out: &mut String, p: &PackageMeta) {
    pkgid_open(out, p);
    version_elem(out, p);
    for c in &p.changelogs {
        out.push_str("  <changelog author=\"");
        attr(out, &c.author);
        let _ = write!(out, "\" date=\"{}\">", c.date);
        text(out, &c.text);
        out.push_str("</changelog>\n");
    }
    out.push_str("</package>\n");
}

/// Opening lines of primary.xml for `n` packages.
pub(crate) fn primary_head(n: usize) -> String {
    format!("{XML_DECL}<metadata xmlns=\"{NS_COMMON}\" xmlns:rpm=\"{NS_RPM}\" packages=\"{n}\">\n")
}

pub(crate) fn filelists_head(n: usize) -> String {
    format!("{XML_DECL}<filelists xmlns=\"{NS_FILELISTS}\" packages=\"{n}\">\n")
}

pub(crate) fn other_head(n: usize) -> String {
    format!("{XML_DECL}<otherdata xmlns=\"{NS_OTHER}\" packages=\"{n}\">\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_libxml2() {
        let mut s = String::new();
        text(&mut s, "a & <b> \"q\" é\r");
        assert_eq!(s, "a &amp; &lt;b&gt; \"q\" é&#13;");
        let mut s = String::new();
        attr(&mut s, "Tomáš <t@x> \"q\"\t\n");
        assert_eq!(s, "Tom&#xE1;&#x161; &lt;t@x&gt; &quot;q&quot;&#9;&#10;");
    }
}
