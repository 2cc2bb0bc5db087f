//! Small helpers over quick-xml's streaming reader shared by the repomd and package
//! metadata parsers. quick-xml never expands external entities or DTDs, which matters
//! because upstream repodata comes from outside.

use std::io::BufRead;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::error::{Error, Result};

/// Element or attribute name without its namespace prefix (`rpm:entry` → `entry`).
pub(crate) fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|b| *b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The unescaped value of attribute `key` (matched with its prefix, e.g. `xml:base`).
pub(crate) fn attr_value(e: &BytesStart<'_>, key: &[u8], path: &Path) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(|err| Error::bad_md(path, format!("bad attribute: {err}")))?;
        if a.key.as_ref() == key {
            let v = a
                .unescape_value()
                .map_err(|err| Error::bad_md(path, format!("bad attribute value: {err}")))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Resolves `&name;` / `&#N;` into `out`.
pub(crate) fn push_ref(out: &mut String, r: &BytesRef<'_>, path: &Path) -> Result<()> {
    let bad = |e: String| Error::bad_md(path, e);
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| bad(format!("bad character reference: {e}")))?
    {
        out.push(c);
        return Ok(());
    }
    let name = r.decode().map_err(|e| bad(format!("bad entity: {e}")))?;
    match &*name {
        "amp" => out.push('&'),
        "lt" => out.push('<'),
        "gt" => out.push('>'),
        "quot" => out.push('"'),
        "apos" => out.push('\''),
        other => return Err(bad(format!("unknown entity &{other};"))),
    }
    Ok(())
}

/// Reads the text content up to the end of the element just opened (by a `Start` event),
/// resolving entity and character references.
pub(crate) fn text_of<R: BufRead>(reader: &mut Reader<R>, path: &Path) -> Result<String> {
    let mut out = String::new();
    let mut buf = Vec::new();
    let mut depth = 0usize;
    loop {
        buf.clear();
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            Error::bad_md(
                path,
                format!("XML error at byte {}: {e}", reader.error_position()),
            )
        })?;
        match ev {
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| Error::bad_md(path, format!("bad text: {e}")))?;
                out.push_str(&s);
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| Error::bad_md(path, format!("bad CDATA: {e}")))?;
                out.push_str(&s);
            }
            Event::GeneralRef(r) => push_ref(&mut out, &r, path)?,
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                if depth == 0 {
                    return Ok(out);
                }
                depth -= 1;
            }
            Event::Eof => {
                return Err(Error::bad_md(
                    path,
                    "unexpected end of file inside an element",
                ));
            }
            _ => {}
        }
    }
}
