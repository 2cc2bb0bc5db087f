//! Just enough XML-RPC to hand-craft requests and read the answers of the raw tests. The CLI
//! tests never need this: they go through the stock client.

/// Escapes text for an XML element body (what Python's marshaller escapes: `& < >`).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<value><string>s</string></value>`
pub fn string(s: &str) -> String {
    format!("<value><string>{}</string></value>", escape(s))
}

/// `<value><int>n</int></value>`
pub fn int(n: i32) -> String {
    format!("<value><int>{n}</int></value>")
}

/// `<value><nil/></value>`
pub fn nil() -> String {
    "<value><nil/></value>".to_string()
}

/// `<value><boolean>0|1</boolean></value>`
pub fn boolean(b: bool) -> String {
    format!("<value><boolean>{}</boolean></value>", u8::from(b))
}

/// An array of already rendered values.
pub fn array(values: &[String]) -> String {
    format!(
        "<value><array><data>{}</data></array></value>",
        values.concat()
    )
}

/// A struct of already rendered values.
pub fn structure(members: &[(&str, String)]) -> String {
    let m: String = members
        .iter()
        .map(|(k, v)| format!("<member><name>{}</name>{v}</member>", escape(k)))
        .collect();
    format!("<value><struct>{m}</struct></value>")
}

/// The trailing keyword-argument struct the koji client appends (`__starstar: true`).
pub fn kwargs(members: &[(&str, String)]) -> String {
    let mut all: Vec<(&str, String)> = members.to_vec();
    all.push(("__starstar", boolean(true)));
    structure(&all)
}

/// A complete request body in the shape Python's `xmlrpc.client.dumps` produces.
pub fn method_call(method: &str, params: &[String]) -> String {
    let mut s = format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>{}</methodName>\n<params>\n",
        escape(method)
    );
    for p in params {
        s.push_str("<param>\n");
        s.push_str(p);
        s.push_str("\n</param>\n");
    }
    s.push_str("</params>\n</methodCall>\n");
    s
}

/// What the CLI sends to `/ssllogin`: `sslLogin(proxyuser=None)`.
pub fn ssl_login_body() -> String {
    method_call("sslLogin", &[kwargs(&[("proxyuser", nil())])])
}

/// A parsed fault: `faultCode` and `faultString`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: i64,
    pub string: String,
}

/// If `body` is a `<methodResponse><fault>`, its code and string.
pub fn parse_fault(body: &str) -> Option<Fault> {
    let start = body.find("<fault>")?;
    let f = &body[start..];
    let code = member_text(f, "faultCode")?;
    let code = code.trim().parse().ok()?;
    let string = member_text(f, "faultString").unwrap_or_default();
    Some(Fault {
        code,
        string: unescape(&string),
    })
}

/// The text inside the (scalar) value of struct member `name`: `<int>1002</int>` → `1002`,
/// `<string>x</string>` or `<value>x</value>` → `x`.
pub fn member_text(xml: &str, name: &str) -> Option<String> {
    let key = format!("<name>{name}</name>");
    let after = &xml[xml.find(&key)? + key.len()..];
    let v = &after[after.find("<value>")? + "<value>".len()..];
    let v = v.trim_start();
    if let Some(rest) = v.strip_prefix('<') {
        // typed: <int>…</int>, <i4>, <i8>, <string>, <boolean>, <double>
        let tag_end = rest.find('>')?;
        let tag = &rest[..tag_end];
        if tag.ends_with('/') {
            return Some(String::new());
        }
        let body = &rest[tag_end + 1..];
        let close = format!("</{tag}>");
        Some(body[..body.find(&close)?].to_string())
    } else {
        Some(v[..v.find("</value>")?].to_string())
    }
}

/// The text of the single response param if it is a scalar (`<string>Hello World</string>` →
/// `Hello World`); `None` for faults and non-scalars.
pub fn scalar_result(body: &str) -> Option<String> {
    if body.contains("<fault>") {
        return None;
    }
    let p = &body[body.find("<param>")?..];
    let v = &p[p.find("<value>")? + "<value>".len()..];
    let v = v.trim_start();
    if let Some(rest) = v.strip_prefix('<') {
        let tag_end = rest.find('>')?;
        let tag = &rest[..tag_end];
        if matches!(tag, "array" | "struct") || tag.ends_with('/') {
            return None;
        }
        let body = &rest[tag_end + 1..];
        let close = format!("</{tag}>");
        Some(unescape(&body[..body.find(&close)?]))
    } else {
        Some(unescape(&v[..v.find("</value>")?]))
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_python_style_fault() {
        let body = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
            <member>\n<name>faultCode</name>\n<value><int>1002</int></value>\n</member>\n\
            <member>\n<name>faultString</name>\n<value><string>could not verify client: \
            NONE &amp; &lt;x&gt;</string></value>\n</member>\n</struct></value>\n</fault>\n\
            </methodResponse>\n";
        assert_eq!(
            parse_fault(body),
            Some(Fault {
                code: 1002,
                string: "could not verify client: NONE & <x>".into()
            })
        );
        assert_eq!(scalar_result(body), None);
    }

    #[test]
    fn reads_scalar_results() {
        let body = "<methodResponse><params><param><value><string>Hello World</string>\
            </value></param></params></methodResponse>";
        assert_eq!(scalar_result(body).as_deref(), Some("Hello World"));
        let body = "<methodResponse><params><param><value><int>1</int></value></param>\
            </params></methodResponse>";
        assert_eq!(scalar_result(body).as_deref(), Some("1"));
        assert_eq!(parse_fault(body), None);
    }

    #[test]
    fn builds_kwargs_calls() {
        let b = ssl_login_body();
        assert!(b.starts_with("<?xml version='1.0'?>\n<methodCall>"));
        assert!(b.contains("<name>proxyuser</name><value><nil/></value>"));
        assert!(b.contains("<name>__starstar</name><value><boolean>1</boolean></value>"));
    }
}
