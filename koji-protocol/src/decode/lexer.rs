//! The XML tokenizer under the XML-RPC decoder.
//!
//! XML-RPC uses a small corner of XML: elements, character data, the five predefined entities,
//! character references, comments, CDATA and an optional declaration. This tokenizer reads
//! exactly that corner from a borrowed UTF-8 string and refuses the rest (DTDs, entity and
//! other declarations, processing instructions) without ever expanding anything. It exists
//! because a general XML reader spent most of a client's time on a big answer (a 1,000-row
//! `queryHistory` is 1.3 MB and some 250,000 tokens): this one borrows every name and every
//! run of text without references, and matches end tags against a stack of borrowed names.
//!
//! Well-formedness checks kept: names where names belong, attribute syntax (values are
//! skipped: XML-RPC has no attributes), end tags matching their start tags, closed comments,
//! CDATA sections, tags and references, the declaration only at the very start, XML's line-end
//! normalisation (CR LF and lone CR read as LF), and character references only to characters
//! XML allows.

use std::borrow::Cow;

use super::{DecodeError, Result, Tag, Tok, is_xml_char};

pub(super) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    /// Names of the elements open now, innermost last.
    open: Vec<&'a str>,
    /// The close token owed for an empty element (`<nil/>`), sent before reading on.
    pending: Option<Tag>,
    /// Name of the most recent unknown element, only for error messages.
    pub(super) other: String,
}

/// Markup declarations that only a DTD (or an attack) would carry.
const DECLARATIONS: [&str; 5] = ["DOCTYPE", "ENTITY", "ELEMENT", "ATTLIST", "NOTATION"];

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            open: Vec::new(),
            pending: None,
            other: String::new(),
        }
    }

    /// Byte offset of the next unread input, for messages.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn next(&mut self) -> Result<Tok<'a>> {
        if let Some(tag) = self.pending.take() {
            return Ok(Tok::Close(tag));
        }
        loop {
            let rest = self.src.get(self.pos..).unwrap_or("");
            if rest.is_empty() {
                return Ok(Tok::Eof);
            }
            if !rest.starts_with('<') {
                return self.text(rest);
            }
            if rest.starts_with("</") {
                return self.end_tag(rest);
            }
            if rest.starts_with("<?") {
                self.instruction(rest)?;
            } else if let Some(body) = rest.strip_prefix("<!--") {
                self.pos += 4 + self.find(body, "-->", "comment")? + 3;
            } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let len = self.find(body, "]]>", "CDATA section")?;
                self.pos += 9 + len + 3;
                if len > 0 {
                    return Ok(Tok::Text(normalize_line_ends(&body[..len])));
                }
            } else if let Some(decl) = rest.strip_prefix("<!") {
                return Err(match DECLARATIONS.iter().find(|kw| decl.starts_with(*kw)) {
                    Some(kw) => DecodeError::Forbidden(format!("{kw} declaration")),
                    None => self.malformed("unknown markup declaration"),
                });
            } else {
                return self.start_tag(rest);
            }
        }
    }

    fn malformed(&self, what: &str) -> DecodeError {
        DecodeError::Malformed(format!("{what} at byte {}", self.pos))
    }

    /// Offset of `end` in `s`, or the error for an unclosed `what`.
    fn find(&self, s: &str, end: &str, what: &str) -> Result<usize> {
        s.find(end)
            .ok_or_else(|| self.malformed(&format!("unclosed {what}")))
    }

    fn tag(&mut self, name: &str) -> Tag {
        let t = Tag::from_local(name.as_bytes());
        if t != Tag::Other {
            return t;
        }
        // A namespace prefix is dropped (`<ex:nil/>`), as Python's unmarshaller does.
        let local = name.rsplit(':').next().unwrap_or(name);
        let t = Tag::from_local(local.as_bytes());
        if t == Tag::Other {
            local.clone_into(&mut self.other);
        }
        t
    }

    /// Character data up to the next markup, references resolved.
    fn text(&mut self, rest: &'a str) -> Result<Tok<'a>> {
        let start = self.pos;
        let len = memchr::memchr(b'<', rest.as_bytes()).unwrap_or(rest.len());
        let raw = &rest[..len];
        let bytes = raw.as_bytes();
        if memchr::memchr2(b'&', b'\r', bytes).is_none() {
            self.pos += len;
            return Ok(Tok::Text(Cow::Borrowed(raw)));
        }
        let mut out = String::with_capacity(raw.len());
        let mut i = 0;
        while let Some(j) = memchr::memchr2(b'&', b'\r', &bytes[i..]) {
            let at = i + j;
            out.push_str(&raw[i..at]);
            i = at + 1;
            if bytes[at] == b'\r' {
                out.push('\n');
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                continue;
            }
            // messages about this reference name the `&`
            self.pos = start + at;
            let Some(semi) = raw[i..].find(';') else {
                return Err(self.malformed("unterminated reference"));
            };
            out.push_str(&self.reference(&raw[i..i + semi])?);
            i += semi + 1;
        }
        out.push_str(&raw[i..]);
        self.pos = start + len;
        Ok(Tok::Text(Cow::Owned(out)))
    }

    /// What `&name;` stands for: a predefined entity or a character reference. Any other
    /// entity could only come from a DTD, which is refused.
    fn reference(&self, name: &str) -> Result<Cow<'static, str>> {
        let s = match name {
            "amp" => "&",
            "lt" => "<",
            "gt" => ">",
            "quot" => "\"",
            "apos" => "'",
            _ => {
                let Some(num) = name.strip_prefix('#') else {
                    if name_end(name.as_bytes(), 0) != name.len() || !starts_name(name) {
                        return Err(self.malformed("bad entity reference"));
                    }
                    return Err(DecodeError::Forbidden(format!("entity reference &{name};")));
                };
                let code = match num.strip_prefix('x') {
                    Some(hex) => parse_digits(hex, 16),
                    None => parse_digits(num, 10),
                };
                let Some(code) = code else {
                    return Err(self.malformed(&format!("bad character reference &{name};")));
                };
                return match char::from_u32(code) {
                    Some(c) if is_xml_char(c) => Ok(Cow::Owned(c.to_string())),
                    _ => Err(self.malformed(&format!(
                        "character reference to U+{code:04X}, which XML does not allow"
                    ))),
                };
            }
        };
        Ok(Cow::Borrowed(s))
    }

    /// `<name attr="v" …>` or `<name …/>`.
    fn start_tag(&mut self, rest: &'a str) -> Result<Tok<'a>> {
        let bytes = rest.as_bytes();
        let end = name_end(bytes, 1);
        if end == 1 || !starts_name(&rest[1..end]) {
            return Err(self.malformed("expected an element name after <"));
        }
        let name = &rest[1..end];
        let (close, empty) = match bytes.get(end) {
            Some(b'>') => (end + 1, false),
            _ => self.attributes(rest, end, false)?,
        };
        self.pos += close;
        let tag = self.tag(name);
        if empty {
            self.pending = Some(tag);
        } else {
            self.open.push(name);
        }
        Ok(Tok::Open(tag))
    }

    /// Skips a tag's attributes from `i`; the offset after the tag's end (`>`, `/>`, or `?>`
    /// when `decl`) and whether it closed as an empty element. In a declaration the value of
    /// `encoding` is checked: only UTF-8 (and its subset ASCII) is read.
    fn attributes(&self, rest: &str, mut i: usize, decl: bool) -> Result<(usize, bool)> {
        let bytes = rest.as_bytes();
        loop {
            let after_ws = skip_ws(bytes, i);
            let spaced = after_ws > i;
            i = after_ws;
            match bytes.get(i) {
                None => return Err(self.malformed("unclosed tag")),
                Some(b'>') if !decl => return Ok((i + 1, false)),
                Some(b'/') if !decl && bytes.get(i + 1) == Some(&b'>') => {
                    return Ok((i + 2, true));
                }
                Some(b'?') if decl && bytes.get(i + 1) == Some(&b'>') => return Ok((i + 2, false)),
                Some(_) => {
                    let name_stop = name_end(bytes, i);
                    if !spaced || name_stop == i || !starts_name(&rest[i..name_stop]) {
                        return Err(self.malformed("bad attribute in tag"));
                    }
                    let attr = &rest[i..name_stop];
                    i = skip_ws(bytes, name_stop);
                    if bytes.get(i) != Some(&b'=') {
                        return Err(self.malformed(&format!("attribute {attr} without a value")));
                    }
                    i = skip_ws(bytes, i + 1);
                    let quote = match bytes.get(i) {
                        Some(&q @ (b'"' | b'\'')) => q,
                        _ => return Err(self.malformed(&format!("unquoted value of {attr}"))),
                    };
                    let Some(len) = memchr::memchr(quote, &bytes[i + 1..]) else {
                        return Err(self.malformed(&format!("unclosed value of {attr}")));
                    };
                    let value = &rest[i + 1..i + 1 + len];
                    if value.contains('<') {
                        return Err(self.malformed(&format!("< in the value of {attr}")));
                    }
                    if decl && attr == "encoding" {
                        let ok = ["utf-8", "utf8", "us-ascii", "ascii"]
                            .iter()
                            .any(|n| value.eq_ignore_ascii_case(n));
                        if !ok {
                            return Err(DecodeError::Malformed(format!(
                                "unsupported encoding {value:?}; only UTF-8 is accepted"
                            )));
                        }
                    }
                    i += 1 + len + 1;
                }
            }
        }
    }

    /// `</name>`, which must close the innermost open element.
    fn end_tag(&mut self, rest: &'a str) -> Result<Tok<'a>> {
        let bytes = rest.as_bytes();
        let end = name_end(bytes, 2);
        let name = &rest[2..end];
        if name.is_empty() {
            return Err(self.malformed("expected an element name after </"));
        }
        let close = skip_ws(bytes, end);
        if bytes.get(close) != Some(&b'>') {
            return Err(self.malformed(&format!("unclosed end tag </{name}>")));
        }
        match self.open.pop() {
            Some(open) if open == name => {}
            Some(open) => {
                return Err(self.malformed(&format!("</{name}> does not close <{open}>")));
            }
            None => return Err(self.malformed(&format!("</{name}> closes nothing"))),
        }
        self.pos += close + 1;
        Ok(Tok::Close(self.tag(name)))
    }

    /// `<?…?>`: the XML declaration at the very start is read (its encoding checked); any
    /// other processing instruction is refused.
    fn instruction(&mut self, rest: &str) -> Result<()> {
        self.find(&rest[2..], "?>", "processing instruction")?;
        let end = name_end(rest.as_bytes(), 2);
        if &rest[2..end] != "xml" {
            return Err(DecodeError::Forbidden(format!(
                "processing instruction at byte {}",
                self.pos
            )));
        }
        if self.pos != 0 {
            return Err(self.malformed("XML declaration not at start of document"));
        }
        let (close, _) = self.attributes(rest, end, true)?;
        self.pos += close;
        Ok(())
    }
}

/// Offset just past the run of name characters starting at `from`. Any non-ASCII byte counts
/// as a name character (XML allows most of Unicode in names), so the run ends on an ASCII byte
/// and both ends are character boundaries.
fn name_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(&b) = bytes.get(i) {
        if !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.') || b >= 0x80) {
            break;
        }
        i += 1;
    }
    i
}

/// Whether a run of name characters may start a name (not a digit, `-` or `.`).
fn starts_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| !(b.is_ascii_digit() || matches!(b, b'-' | b'.')))
}

fn skip_ws(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// A character reference's number: digits only (no sign, no spaces), at most U+10FFFF's worth.
fn parse_digits(s: &str, radix: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(s, radix).ok()
}

/// XML's end-of-line handling: CR LF and a lone CR are read as LF.
fn normalize_line_ends(s: &str) -> Cow<'_, str> {
    if !s.contains('\r') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Result<Vec<String>> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            match lx.next()? {
                Tok::Open(t) => out.push(format!("<{}>", t.name())),
                Tok::Close(t) => out.push(format!("</{}>", t.name())),
                Tok::Text(s) => out.push(format!("{s:?}")),
                Tok::Eof => return Ok(out),
            }
        }
    }

    /// Every one of `srcs` fails with the error `want` accepts.
    fn all_refused(srcs: &[&str], want: fn(&DecodeError) -> bool) {
        for src in srcs {
            let got = tokens(src);
            assert!(got.as_ref().is_err_and(want), "{src}: {got:?}");
        }
    }

    fn malformed(e: &DecodeError) -> bool {
        matches!(e, DecodeError::Malformed(_))
    }

    #[test]
    fn empty_elements_attributes_and_prefixes() {
        let t = tokens(r#"<value a="1" b = '2'><ex:nil/><int >5</int ></value>"#).unwrap();
        assert_eq!(
            t,
            [
                "<value>", "<nil>", "</nil>", "<int>", "\"5\"", "</int>", "</value>"
            ]
        );
    }

    #[test]
    fn references_cdata_comments_and_line_ends() {
        let t = tokens("<string>a&amp;b&#x41;&#66;\r\nc\rd<!-- x --><![CDATA[<&e\r\n]]></string>")
            .unwrap();
        assert_eq!(
            t,
            ["<string>", "\"a&bAB\\nc\\nd\"", "\"<&e\\n\"", "</string>"]
        );
    }

    #[test]
    fn mismatched_and_stray_end_tags_are_malformed() {
        all_refused(
            &[
                "<int>1</i4>",
                "</value>",
                "<a><b></a></b>",
                "<value></value >x</value>",
            ],
            malformed,
        );
    }

    #[test]
    fn bad_tags_and_references_are_malformed() {
        all_refused(
            &[
                "<1a>",
                "< a>",
                "<a b>",
                "<a b=c>",
                "<a b='<'>",
                "<a b='x'c='y'>",
                "<a b='x",
                "<a",
                "<a>&#;</a>",
                "<a>&#x;</a>",
                "<a>&#-1;</a>",
                "<a>&#x110000;</a>",
                "<a>&#99999999999;</a>",
                "<a>& b;</a>",
                "<a>&amp</a>",
                "<!-- open",
                "<![CDATA[ open",
                "<!BOGUS>",
                "<a/ >",
            ],
            malformed,
        );
    }

    #[test]
    fn dtd_constructs_and_instructions_are_forbidden() {
        all_refused(
            &[
                "<!DOCTYPE x>",
                "<!ENTITY x 'y'>",
                "<!ATTLIST a b CDATA #IMPLIED>",
                "<?php x ?>",
                "<?xml-stylesheet href='x'?>",
                "<a>&nbsp;</a>",
            ],
            |e| matches!(e, DecodeError::Forbidden(_)),
        );
    }

    #[test]
    fn declaration_only_first_and_only_utf8() {
        assert!(tokens("<?xml version='1.0' encoding=\"UTF-8\"?><a></a>").is_ok());
        assert!(tokens("<?xml version='1.0'?>").is_ok());
        all_refused(
            &[
                " <?xml version='1.0'?>",
                "<a></a><?xml version='1.0'?>",
                "<?xml version='1.0' encoding='latin-1'?>",
                "<?xml version='1.0'",
            ],
            malformed,
        );
    }

    #[test]
    fn positions_name_the_offending_byte() {
        let Err(DecodeError::Malformed(m)) = tokens("<a>xy&bad b;</a>") else {
            panic!("expected a malformed reference");
        };
        assert!(m.ends_with("at byte 5"), "{m}");
    }
}
