//! XML-RPC decoder. This is a trust boundary: the hub feeds it untrusted
//! request bodies, so it refuses DTDs and entity definitions outright (never
//! expands them), bounds input size and nesting depth, and never recurses on
//! input structure (nesting uses an explicit, bounded stack).

use std::borrow::Cow;

use base64::Engine as _;

use crate::fault::Fault;
use crate::value::{Struct, Value};

mod lexer;
use lexer::Lexer;

/// Input bounds. The byte default mirrors the stock hub's `MaxRequestLength`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    /// Maximum nesting of arrays/structs; a scalar param is depth 0.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4_194_304,
            max_depth: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    pub method: String,
    pub params: Vec<Value>,
}

/// A decoded `<methodResponse>`: the single param, or the fault.
pub type Response = Result<Value, Fault>;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("request too long: {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("values nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("forbidden XML construct: {0}")]
    Forbidden(String),
    #[error("malformed XML-RPC: {0}")]
    Malformed(String),
    #[error("invalid XML-RPC value: {0}")]
    InvalidValue(String),
}

type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Decodes a `<methodCall>`; a call without `<params>` has no parameters.
pub fn decode_call(body: &[u8], limits: &Limits) -> Result<MethodCall> {
    let src = prepare(body, limits)?;
    let mut p = Parser::new(src, limits);
    p.expect_root(Tag::MethodCall)?;
    p.expect_open(Tag::MethodName)?;
    let method = p.text_until_close(Tag::MethodName)?.into_owned();
    if method.is_empty() {
        return Err(DecodeError::Malformed("empty <methodName>".into()));
    }
    let params = match p.next_significant()? {
        Tok::Open(Tag::Params) => {
            let params = p.params()?;
            p.expect_close(Tag::MethodCall)?;
            params
        }
        Tok::Close(Tag::MethodCall) => Vec::new(),
        t => return Err(p.unexpected(&t, "<params> or </methodCall>")),
    };
    p.expect_end()?;
    Ok(MethodCall { method, params })
}

/// Decodes a `<methodResponse>`: exactly one param (anything else is what the
/// Python client would mis-handle, so we call it malformed) or a fault.
pub fn decode_response(body: &[u8], limits: &Limits) -> Result<Response> {
    let src = prepare(body, limits)?;
    let mut p = Parser::new(src, limits);
    p.expect_root(Tag::MethodResponse)?;
    let resp = match p.next_significant()? {
        Tok::Open(Tag::Params) => {
            let mut params = p.params()?;
            if params.len() != 1 {
                return Err(DecodeError::Malformed(format!(
                    "methodResponse must have exactly one param, found {}",
                    params.len()
                )));
            }
            Ok(params.remove(0))
        }
        Tok::Open(Tag::Fault) => {
            p.expect_open(Tag::Value)?;
            let v = p.parse_value()?;
            p.expect_close(Tag::Fault)?;
            Err(fault_from_value(v)?)
        }
        t => return Err(p.unexpected(&t, "<params> or <fault>")),
    };
    p.expect_close(Tag::MethodResponse)?;
    p.expect_end()?;
    Ok(resp)
}

fn fault_from_value(v: Value) -> Result<Fault> {
    let Value::Struct(mut s) = v else {
        return Err(DecodeError::Malformed(format!(
            "fault value must be a struct, not {}",
            v.type_name()
        )));
    };
    let code = match s.get("faultCode") {
        Some(Value::Int(i)) => i32::try_from(*i)
            .map_err(|_| DecodeError::InvalidValue(format!("faultCode {i} out of range")))?,
        Some(other) => {
            return Err(DecodeError::Malformed(format!(
                "faultCode must be an int, not {}",
                other.type_name()
            )));
        }
        None => return Err(DecodeError::Malformed("fault without faultCode".into())),
    };
    match s.swap_remove("faultString") {
        Some(Value::String(string)) => Ok(Fault { code, string }),
        Some(other) => Err(DecodeError::Malformed(format!(
            "faultString must be a string, not {}",
            other.type_name()
        ))),
        None => Err(DecodeError::Malformed("fault without faultString".into())),
    }
}

/// Cheap whole-body checks done before any parsing, so oversized or
/// non-UTF-8 input costs nothing more than one scan.
fn prepare<'a>(body: &'a [u8], limits: &Limits) -> Result<&'a str> {
    if body.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            size: body.len(),
            limit: limits.max_bytes,
        });
    }
    if body.is_empty() {
        return Err(DecodeError::Malformed("empty body".into()));
    }
    let s = std::str::from_utf8(body).map_err(|e| {
        DecodeError::Malformed(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    // expat rejects these too; refusing them keeps decode→encode lossless.
    if let Some(i) = find_illegal_char(s.as_bytes()) {
        return Err(DecodeError::Malformed(format!(
            "character not allowed in XML at byte {i}"
        )));
    }
    Ok(s.strip_prefix('\u{FEFF}').unwrap_or(s))
}

/// Position of a C0 control other than tab/LF/CR, or of U+FFFE/U+FFFF.
/// Scans 64-byte blocks with a branch-free fold (vectorisable) and only
/// looks closer at blocks that contain a suspicious byte.
fn find_illegal_char(bytes: &[u8]) -> Option<usize> {
    let suspicious = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) | (b == 0xEF);
    for (n, block) in bytes.chunks(64).enumerate() {
        if !block.iter().fold(false, |acc, &b| acc | suspicious(b)) {
            continue;
        }
        let base = n * 64;
        for (j, &b) in block.iter().enumerate() {
            let i = base + j;
            let bad = match b {
                0xEF => {
                    bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
                }
                _ => suspicious(b),
            };
            if bad {
                return Some(i);
            }
        }
    }
    None
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_ws(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    MethodCall,
    MethodName,
    MethodResponse,
    Params,
    Param,
    Fault,
    Value,
    Array,
    Data,
    Struct,
    Member,
    Name,
    Int,
    Boolean,
    Double,
    String,
    Nil,
    Base64,
    DateTime,
    Other,
}

impl Tag {
    /// Namespace prefixes are dropped (`<ex:nil/>`), as Python's parser does.
    fn from_local(name: &[u8]) -> Tag {
        match name {
            b"methodCall" => Tag::MethodCall,
            b"methodName" => Tag::MethodName,
            b"methodResponse" => Tag::MethodResponse,
            b"params" => Tag::Params,
            b"param" => Tag::Param,
            b"fault" => Tag::Fault,
            b"value" => Tag::Value,
            b"array" => Tag::Array,
            b"data" => Tag::Data,
            b"struct" => Tag::Struct,
            b"member" => Tag::Member,
            b"name" => Tag::Name,
            b"int" | b"i4" | b"i8" | b"i1" | b"i2" | b"biginteger" => Tag::Int,
            b"boolean" => Tag::Boolean,
            b"double" | b"float" => Tag::Double,
            b"string" => Tag::String,
            b"nil" => Tag::Nil,
            b"base64" => Tag::Base64,
            b"dateTime.iso8601" => Tag::DateTime,
            _ => Tag::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tag::MethodCall => "methodCall",
            Tag::MethodName => "methodName",
            Tag::MethodResponse => "methodResponse",
            Tag::Params => "params",
            Tag::Param => "param",
            Tag::Fault => "fault",
            Tag::Value => "value",
            Tag::Array => "array",
            Tag::Data => "data",
            Tag::Struct => "struct",
            Tag::Member => "member",
            Tag::Name => "name",
            Tag::Int => "int",
            Tag::Boolean => "boolean",
            Tag::Double => "double",
            Tag::String => "string",
            Tag::Nil => "nil",
            Tag::Base64 => "base64",
            Tag::DateTime => "dateTime.iso8601",
            Tag::Other => "(unknown)",
        }
    }
}

#[derive(Debug)]
enum Tok<'a> {
    Open(Tag),
    Close(Tag),
    Text(Cow<'a, str>),
    Eof,
}

/// An open container. A struct's members so far wait on the parser's shared member stack
/// (from `start`) and become one map, of exactly their number, when the struct closes: a map
/// grown member by member reallocates and rehashes several times per struct.
enum Frame {
    Array(Vec<Value>),
    Struct { start: usize, name: String },
}

struct Parser<'a> {
    lx: Lexer<'a>,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, limits: &Limits) -> Self {
        Parser {
            lx: Lexer::new(src),
            max_depth: limits.max_depth,
        }
    }

    fn describe(&self, t: &Tok<'_>) -> String {
        match t {
            Tok::Open(Tag::Other) => format!("<{}>", self.lx.other),
            Tok::Close(Tag::Other) => format!("</{}>", self.lx.other),
            Tok::Open(tag) => format!("<{}>", tag.name()),
            Tok::Close(tag) => format!("</{}>", tag.name()),
            Tok::Text(_) => "text".to_owned(),
            Tok::Eof => "end of document".to_owned(),
        }
    }

    fn unexpected(&self, t: &Tok<'_>, expected: &str) -> DecodeError {
        DecodeError::Malformed(format!(
            "expected {expected}, found {} (near byte {})",
            self.describe(t),
            self.lx.pos()
        ))
    }

    /// Next token that is not inter-element whitespace.
    fn next_significant(&mut self) -> Result<Tok<'a>> {
        loop {
            match self.lx.next()? {
                Tok::Text(t) if is_ws(&t) => {}
                t => return Ok(t),
            }
        }
    }

    fn expect_root(&mut self, tag: Tag) -> Result<()> {
        match self.next_significant()? {
            Tok::Open(t) if t == tag => Ok(()),
            t => Err(self.unexpected(&t, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_open(&mut self, tag: Tag) -> Result<()> {
        match self.next_significant()? {
            Tok::Open(t) if t == tag => Ok(()),
            t => Err(self.unexpected(&t, &format!("<{}>", tag.name()))),
        }
    }

    fn expect_close(&mut self, tag: Tag) -> Result<()> {
        match self.next_significant()? {
            Tok::Close(t) if t == tag => Ok(()),
            t => Err(self.unexpected(&t, &format!("</{}>", tag.name()))),
        }
    }

    /// After the root element only whitespace and comments may follow.
    fn expect_end(&mut self) -> Result<()> {
        match self.next_significant()? {
            Tok::Eof => Ok(()),
            t => Err(DecodeError::Malformed(format!(
                "trailing data after the root element: {} (near byte {})",
                self.describe(&t),
                self.lx.pos()
            ))),
        }
    }

    /// Collects character data (possibly split by references, comments or
    /// CDATA sections) up to the closing tag.
    fn text_until_close(&mut self, tag: Tag) -> Result<Cow<'a, str>> {
        let mut text: Cow<'a, str> = Cow::Borrowed("");
        loop {
            match self.lx.next()? {
                Tok::Text(t) => append(&mut text, t),
                Tok::Close(t) if t == tag => return Ok(text),
                t => return Err(self.unexpected(&t, &format!("text or </{}>", tag.name()))),
            }
        }
    }

    /// Parses `<param><value>…</value></param>` items up to `</params>`.
    fn params(&mut self) -> Result<Vec<Value>> {
        let mut params = Vec::new();
        loop {
            match self.next_significant()? {
                Tok::Open(Tag::Param) => {
                    self.expect_open(Tag::Value)?;
                    params.push(self.parse_value()?);
                    self.expect_close(Tag::Param)?;
                }
                Tok::Close(Tag::Params) => return Ok(params),
                t => return Err(self.unexpected(&t, "<param> or </params>")),
            }
        }
    }

    /// Parses a value whose `<value>` start tag was just consumed, through
    /// its `</value>`. Containers are tracked on an explicit stack so hostile
    /// nesting can only hit `TooDeep`, never the thread's stack limit.
    fn parse_value(&mut self) -> Result<Value> {
        let mut stack: Vec<Frame> = Vec::new();
        let mut members: Vec<(String, Value)> = Vec::new();
        'descend: loop {
            let mut v = match self.value_content()? {
                Content::Scalar(v) => v,
                Content::Array => {
                    self.push(&mut stack, Frame::Array(Vec::new()))?;
                    if self.array_next()? {
                        continue 'descend;
                    }
                    stack.pop();
                    Value::Array(Vec::new())
                }
                Content::Struct => match self.struct_next()? {
                    Some(name) => {
                        let start = members.len();
                        self.push(&mut stack, Frame::Struct { start, name })?;
                        continue 'descend;
                    }
                    None => Value::Struct(Struct::new()),
                },
            };
            loop {
                match stack.last_mut() {
                    None => return Ok(v),
                    Some(Frame::Array(items)) => {
                        items.push(v);
                        if self.array_next()? {
                            continue 'descend;
                        }
                        let Some(Frame::Array(items)) = stack.pop() else {
                            unreachable!("top frame is an array");
                        };
                        v = Value::Array(items);
                    }
                    Some(Frame::Struct { start, name }) => {
                        members.push((std::mem::take(name), v));
                        self.expect_close(Tag::Member)?;
                        if let Some(next) = self.struct_next()? {
                            *name = next;
                            continue 'descend;
                        }
                        let start = *start;
                        stack.pop();
                        // a repeated name keeps its first place and its last value, as
                        // inserting one by one would
                        let mut map = Struct::with_capacity(members.len() - start);
                        map.extend(members.drain(start..));
                        v = Value::Struct(map);
                    }
                }
            }
        }
    }

    fn push(&self, stack: &mut Vec<Frame>, f: Frame) -> Result<()> {
        if stack.len() >= self.max_depth {
            return Err(DecodeError::TooDeep {
                limit: self.max_depth,
            });
        }
        stack.push(f);
        Ok(())
    }

    /// Inside `<data>`: `true` if another `<value>` was opened, `false` once
    /// `</data></array></value>` has been consumed.
    fn array_next(&mut self) -> Result<bool> {
        match self.next_significant()? {
            Tok::Open(Tag::Value) => Ok(true),
            Tok::Close(Tag::Data) => {
                self.expect_close(Tag::Array)?;
                self.expect_close(Tag::Value)?;
                Ok(false)
            }
            t => Err(self.unexpected(&t, "<value> or </data>")),
        }
    }

    /// Inside `<struct>`: the next member's name with its `<value>` opened,
    /// or `None` once `</struct></value>` has been consumed.
    fn struct_next(&mut self) -> Result<Option<String>> {
        match self.next_significant()? {
            Tok::Open(Tag::Member) => {
                self.expect_open(Tag::Name)?;
                let name = self.text_until_close(Tag::Name)?.into_owned();
                self.expect_open(Tag::Value)?;
                Ok(Some(name))
            }
            Tok::Close(Tag::Struct) => {
                self.expect_close(Tag::Value)?;
                Ok(None)
            }
            t => Err(self.unexpected(&t, "<member> or </struct>")),
        }
    }

    /// Content of a `<value>`: scalars are consumed through `</value>`;
    /// for containers only the opening tags are consumed.
    fn value_content(&mut self) -> Result<Content> {
        let mut text: Cow<'a, str> = Cow::Borrowed("");
        loop {
            match self.lx.next()? {
                Tok::Text(t) => append(&mut text, t),
                // Untyped value: a string, as in Python (`<value></value>` is "").
                Tok::Close(Tag::Value) => {
                    return Ok(Content::Scalar(Value::String(text.into_owned())));
                }
                Tok::Open(tag) => {
                    if !is_ws(&text) {
                        return Err(DecodeError::Malformed(format!(
                            "text mixed with <{}> inside <value> (near byte {})",
                            tag.name(),
                            self.lx.pos()
                        )));
                    }
                    return match tag {
                        Tag::Array => {
                            self.expect_open(Tag::Data)?;
                            Ok(Content::Array)
                        }
                        Tag::Struct => Ok(Content::Struct),
                        Tag::Int
                        | Tag::Boolean
                        | Tag::Double
                        | Tag::String
                        | Tag::Nil
                        | Tag::Base64
                        | Tag::DateTime => {
                            let raw = self.text_until_close(tag)?;
                            let v = scalar(tag, raw)?;
                            self.expect_close(Tag::Value)?;
                            Ok(Content::Scalar(v))
                        }
                        Tag::Other => Err(DecodeError::Malformed(format!(
                            "unknown value type <{}>",
                            self.lx.other
                        ))),
                        _ => Err(self.unexpected(&Tok::Open(tag), "a value type")),
                    };
                }
                t => return Err(self.unexpected(&t, "value content or </value>")),
            }
        }
    }
}

enum Content {
    Scalar(Value),
    Array,
    Struct,
}

fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

fn scalar(tag: Tag, raw: Cow<'_, str>) -> Result<Value> {
    Ok(match tag {
        Tag::String => Value::String(raw.into_owned()),
        Tag::DateTime => Value::DateTime(raw.into_owned()),
        Tag::Int => Value::Int(parse_int(&raw)?),
        // Python accepts exactly "0" and "1", nothing else.
        Tag::Boolean => match &*raw {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            other => {
                return Err(DecodeError::InvalidValue(format!(
                    "bad boolean value {other:?}"
                )));
            }
        },
        Tag::Double => {
            let t = trim_ws(&raw);
            match t.parse::<f64>() {
                Ok(d) if !d.is_nan() => Value::Double(d),
                _ => return Err(DecodeError::InvalidValue(format!("bad double value {t:?}"))),
            }
        }
        Tag::Nil => {
            if !is_ws(&raw) {
                return Err(DecodeError::InvalidValue("<nil> must be empty".into()));
            }
            Value::Nil
        }
        Tag::Base64 => Value::Base64(parse_base64(&raw)?),
        _ => {
            return Err(DecodeError::Malformed(format!(
                "<{}> is not a scalar",
                tag.name()
            )));
        }
    })
}

fn parse_int(raw: &str) -> Result<i64> {
    let t = trim_ws(raw);
    t.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            DecodeError::InvalidValue(format!("integer {t} does not fit in 64 bits"))
        }
        _ => DecodeError::InvalidValue(format!("bad integer value {t:?}")),
    })
}

fn parse_base64(raw: &str) -> Result<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    // Lenient like Python's `base64.decodebytes`: line breaks anywhere,
    // padding optional.
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let compact: Cow<'_, [u8]> = if raw
        .bytes()
        .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        Cow::Owned(
            raw.bytes()
                .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .collect(),
        )
    } else {
        Cow::Borrowed(raw.as_bytes())
    };
    ENGINE
        .decode(&compact)
        .map_err(|e| DecodeError::InvalidValue(format!("bad base64 data: {e}")))
}
