//! XML-RPC encoder producing the exact bytes Python's `xmlrpc.client` (with
//! Koji's `<i8>` extension) produces, so the stock `koji` CLI parses our
//! output with no surprises and byte-level tests can compare against Python.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::fault::Fault;
use crate::value::Value;

const XML_DECL: &str = "<?xml version='1.0'?>\n";

/// Encodes a request the way `xmlrpc.client.dumps(params, method)` does.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out =
        String::with_capacity(96 + method.len() + params.iter().map(estimate).sum::<usize>());
    out.push_str(XML_DECL);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(&mut out, p);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// Encodes a successful response with exactly one param, which is what the
/// client unwraps (it would hand a whole tuple to the caller otherwise).
pub fn encode_response(v: &Value) -> String {
    let mut out = String::with_capacity(96 + estimate(v));
    out.push_str(XML_DECL);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, v);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out
}

pub fn encode_fault(f: &Fault) -> String {
    let mut out = String::with_capacity(200 + f.string.len());
    out.push_str(XML_DECL);
    out.push_str("<methodResponse>\n<fault>\n");
    write_value(&mut out, &f.to_value());
    out.push_str("</fault>\n</methodResponse>\n");
    out
}

/// Appends one `<value>…</value>` element. Public because Koji stores some
/// results pre-serialized (e.g. task results) and the hub embeds them.
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("<value><nil/></value>"), // no newline: Python's quirk
        Value::Bool(b) => out.push_str(if *b {
            "<value><boolean>1</boolean></value>\n"
        } else {
            "<value><boolean>0</boolean></value>\n"
        }),
        Value::Int(i) => {
            // Koji's marshaller switches to <i8> outside 32 bits where plain
            // Python would raise OverflowError.
            let tag = if i32::try_from(*i).is_ok() {
                "int"
            } else {
                "i8"
            };
            let _ = writeln!(out, "<value><{tag}>{i}</{tag}></value>");
        }
        Value::Double(d) => {
            out.push_str("<value><double>");
            write_python_float(out, *d);
            out.push_str("</double></value>\n");
        }
        Value::String(s) => {
            out.push_str("<value><string>");
            escape_into(out, s);
            out.push_str("</string></value>\n");
        }
        Value::Base64(b) => {
            out.push_str("<value><base64>\n");
            write_base64_lines(out, b);
            out.push_str("</base64></value>\n");
        }
        Value::DateTime(s) => {
            out.push_str("<value><dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            for (k, v) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, k);
                out.push_str("</name>\n");
                write_value(out, v);
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
    }
}

/// A cheap upper-ish bound of the encoded size so the output buffer is
/// allocated once for typical responses.
fn estimate(v: &Value) -> usize {
    match v {
        Value::Nil | Value::Bool(_) | Value::Int(_) | Value::Double(_) => 48,
        Value::String(s) | Value::DateTime(s) => 40 + s.len() + s.len() / 8,
        Value::Base64(b) => 40 + b.len() * 4 / 3 + b.len() / 57 + 2,
        Value::Array(a) => 40 + a.iter().map(estimate).sum::<usize>(),
        Value::Struct(s) => {
            40 + s
                .iter()
                .map(|(k, v)| 34 + k.len() + estimate(v))
                .sum::<usize>()
        }
    }
}

/// `base64.encodebytes` layout: 76-char lines, each ending in a newline.
fn write_base64_lines(out: &mut String, data: &[u8]) {
    let engine = base64::engine::general_purpose::STANDARD;
    for chunk in data.chunks(57) {
        engine.encode_string(chunk, out);
        out.push('\n');
    }
}

/// XML-escapes text like Python's `xmlrpc.client.escape` (only `& < >`),
/// with two deliberate extras:
///
/// * characters that are illegal in XML 1.0 (C0 controls other than tab/LF/CR,
///   U+FFFE, U+FFFF) become U+FFFD. Emitting them raw would make the client's
///   expat parser fail, and the koji client treats a parse error like a
///   dropped connection and re-sends the call for minutes — a poisoned string
///   in one row must not wedge every client that reads it;
/// * `\r` is written as `&#13;` because XML end-of-line normalisation would
///   otherwise silently turn it into `\n` on the receiving side.
pub fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (rep, skip): (&str, usize) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\r' => ("&#13;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f => ("\u{FFFD}", 1),
            // U+FFFE / U+FFFF are EF BF BE / EF BF BF in UTF-8.
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                ("\u{FFFD}", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        i += skip;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Writes `repr(float)` as Python 3 does: shortest round-trip digits, fixed
/// notation for exponents in [-4, 16), otherwise `1.5e+16` / `1e-05` style.
pub fn write_python_float(out: &mut String, d: f64) {
    if d.is_nan() {
        out.push_str("nan");
        return;
    }
    if d.is_infinite() {
        out.push_str(if d < 0.0 { "-inf" } else { "inf" });
        return;
    }
    // `{:e}` yields the shortest round-trip digits as `-d.ddde±x`.
    let mut buf = StackBuf::default();
    let _ = write!(buf, "{d:e}");
    let sci = buf.as_str();
    let (neg, sci) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (first, rest) = mant.split_at(1);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            let digits_len = 1 + rest.len();
            out.push_str(first);
            if digits_len <= int_len {
                out.push_str(rest);
                for _ in digits_len..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&rest[..int_len - 1]);
                out.push('.');
                out.push_str(&rest[int_len - 1..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(first);
            out.push_str(rest);
        }
    } else {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
}

/// Fixed buffer so float formatting does not allocate per value.
#[derive(Default)]
struct StackBuf {
    buf: [u8; 32],
    len: usize,
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0e0")
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(d: f64) -> String {
        let mut s = String::new();
        write_python_float(&mut s, d);
        s
    }

    #[test]
    fn floats_match_python_repr() {
        // Expected strings from Python 3.11 `repr()`.
        let cases: &[(f64, &str)] = &[
            (4.0, "4.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1795353927.685249, "1795353927.685249"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (100.0, "100.0"),
            (1234.5, "1234.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (d, want) in cases {
            assert_eq!(float(*d), *want, "{d:e}");
        }
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_into(
            &mut s,
            "a&b<c>d\"e'f\tg\nh\ri\u{0}j\u{1b}k\u{FFFE}l\u{FFFF}m\u{FFFD}né",
        );
        assert_eq!(
            s,
            "a&amp;b&lt;c&gt;d\"e'f\tg\nh&#13;i\u{FFFD}j\u{FFFD}k\u{FFFD}l\u{FFFD}m\u{FFFD}né"
        );
    }

    #[test]
    fn ints_switch_to_i8() {
        let mut s = String::new();
        write_value(&mut s, &Value::Int(2147483647));
        write_value(&mut s, &Value::Int(2147483648));
        write_value(&mut s, &Value::Int(-2147483649));
        assert_eq!(
            s,
            "<value><int>2147483647</int></value>\n<value><i8>2147483648</i8></value>\n<value><i8>-2147483649</i8></value>\n"
        );
    }
}
