//! Hostile and broken request bodies: each must map to the right
//! `DecodeError` variant and never panic.

use koji_protocol::*;

fn call(body: &str) -> Result<MethodCall, DecodeError> {
    decode_call(body.as_bytes(), &Limits::default())
}

fn wrap(value: &str) -> String {
    format!(
        "<?xml version='1.0'?>\n<methodCall><methodName>m</methodName><params><param>{value}</param></params></methodCall>"
    )
}

fn nested_arrays(depth: usize) -> String {
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str("<value><array><data>");
    }
    s.push_str("<value><int>1</int></value>");
    for _ in 0..depth {
        s.push_str("</data></array></value>");
    }
    wrap(&s)
}

fn nested_structs(depth: usize) -> String {
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str("<value><struct><member><name>k</name>");
    }
    s.push_str("<value>x</value>");
    for _ in 0..depth {
        s.push_str("</member></struct></value>");
    }
    wrap(&s)
}

#[test]
fn oversized_body() {
    let limits = Limits {
        max_bytes: 100,
        max_depth: 64,
    };
    let body = wrap(&format!("<value>{}</value>", "a".repeat(200)));
    let err = decode_call(body.as_bytes(), &limits).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooLarge { limit: 100, .. }),
        "{err}"
    );
    let err = decode_response(body.as_bytes(), &limits).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
}

#[test]
fn depth_limit() {
    assert!(call(&nested_arrays(64)).is_ok());
    assert!(call(&nested_structs(64)).is_ok());
    assert!(matches!(
        call(&nested_arrays(65)),
        Err(DecodeError::TooDeep { limit: 64 })
    ));
    assert!(matches!(
        call(&nested_structs(65)),
        Err(DecodeError::TooDeep { limit: 64 })
    ));
    // Very deep input must fail cleanly, not overflow the stack.
    let limits = Limits {
        max_bytes: usize::MAX,
        max_depth: usize::MAX,
    };
    let deep = nested_arrays(200_000);
    let v = decode_call(deep.as_bytes(), &limits).unwrap();
    assert_eq!(v.params.len(), 1);
    // Dropping that value recursively is the caller's business; leak it so
    // the test does not depend on the default drop's stack use.
    std::mem::forget(v);
    let limits = Limits {
        max_bytes: usize::MAX,
        max_depth: 64,
    };
    let err = decode_call(deep.as_bytes(), &limits).unwrap_err();
    assert!(matches!(err, DecodeError::TooDeep { limit: 64 }), "{err}");
}

#[test]
fn billion_laughs_is_refused() {
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodCall><methodName>m</methodName><params><param><value>&lol3;</value></param></params></methodCall>"#;
    assert!(matches!(call(body), Err(DecodeError::Forbidden(_))));
}

#[test]
fn external_entity_is_refused() {
    let body = r#"<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<methodCall><methodName>m</methodName><params><param><value>&xxe;</value></param></params></methodCall>"#;
    assert!(matches!(call(body), Err(DecodeError::Forbidden(_))));
    let body = r#"<!DOCTYPE methodCall SYSTEM "http://evil/x.dtd"><methodCall><methodName>m</methodName></methodCall>"#;
    assert!(matches!(call(body), Err(DecodeError::Forbidden(_))));
}

#[test]
fn entity_declaration_outside_doctype_is_refused() {
    let body = r#"<!ENTITY x "y"><methodCall><methodName>m</methodName></methodCall>"#;
    assert!(
        matches!(call(body), Err(DecodeError::Forbidden(_))),
        "{:?}",
        call(body)
    );
}

#[test]
fn unknown_entity_ref_is_refused() {
    let err = call(&wrap("<value>&foo;</value>")).unwrap_err();
    assert!(
        matches!(err, DecodeError::Forbidden(ref m) if m.contains("&foo;")),
        "{err}"
    );
    let err = call(&wrap("<value><string>a&nbsp;b</string></value>")).unwrap_err();
    assert!(matches!(err, DecodeError::Forbidden(_)), "{err}");
}

#[test]
fn processing_instruction_is_refused() {
    let body = "<?xml version='1.0'?><?xml-stylesheet href='x'?><methodCall><methodName>m</methodName></methodCall>";
    assert!(matches!(call(body), Err(DecodeError::Forbidden(_))));
    let body = wrap("<?php echo 1; ?><value>x</value>");
    assert!(matches!(call(&body), Err(DecodeError::Forbidden(_))));
}

#[test]
fn malformed_and_truncated() {
    let good = wrap(
        "<value><struct><member><name>a</name><value><int>1</int></value></member></struct></value>",
    );
    assert!(call(&good).is_ok());
    for cut in 1..good.len() {
        match call(&good[..cut]) {
            Err(DecodeError::Malformed(_)) => {}
            other => panic!("truncated at {cut}: {other:?}"),
        }
    }
    let cases = [
        "<methodCall><methodName>m</methodName><params><param></param></params></methodCall>",
        "<methodCall><params/></methodCall>",
        "<methodCall><methodName></methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</int></value></param></params></methodCal>",
        "<methodResponse><params/></methodResponse>",
        "<foo/>",
        "just text",
        "<methodCall><methodName>m</methodName><params><param><value><bogus>1</bogus></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>x<int>1</int></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><array><value>1</value></array></value></param></params></methodCall>",
        "<methodCall><methodName>m<x/></methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><int>1</int></value><value><int>2</int></value></param></params></methodCall>",
        "<methodCall><methodName>a & b</methodName></methodCall>",
        "<methodCall><methodName>m</methodName></methodCall><?xml version='1.0'?>",
        "<methodCall><methodName>m</methodName><params><param><value>&#0;</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&#1;</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&#xFFFE;</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>&#xD800;</value></param></params></methodCall>",
        "<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>m</methodName></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>a\u{1}b</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>a\u{FFFF}b</value></param></params></methodCall>",
    ];
    for body in cases {
        match call(body) {
            Err(DecodeError::Malformed(_)) => {}
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn struct_member_without_name_or_value() {
    let no_name = wrap("<value><struct><member><value>1</value></member></struct></value>");
    assert!(matches!(call(&no_name), Err(DecodeError::Malformed(_))));
    let no_value = wrap("<value><struct><member><name>a</name></member></struct></value>");
    assert!(matches!(call(&no_value), Err(DecodeError::Malformed(_))));
}

#[test]
fn bad_scalars() {
    for v in [
        "<boolean>2</boolean>",
        "<boolean>true</boolean>",
        "<boolean> 1</boolean>",
        "<int>9223372036854775808</int>",
        "<i8>-9223372036854775809</i8>",
        "<int>12a</int>",
        "<int></int>",
        "<double>abc</double>",
        "<double>nan</double>",
        "<double></double>",
        "<base64>!!!!</base64>",
        "<base64>aGVsbG8=x</base64>",
        "<nil>x</nil>",
    ] {
        match call(&wrap(&format!("<value>{v}</value>"))) {
            Err(DecodeError::InvalidValue(_)) => {}
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn trailing_garbage() {
    for tail in ["x", "<methodCall/>", "<a>", "&amp;"] {
        let body = format!("<methodCall><methodName>m</methodName></methodCall>{tail}");
        assert!(
            matches!(call(&body), Err(DecodeError::Malformed(_))),
            "{tail}"
        );
    }
    // Whitespace and comments after the root are fine.
    assert!(call("<methodCall><methodName>m</methodName></methodCall>\n<!-- bye -->\n").is_ok());
}

#[test]
fn empty_and_non_utf8() {
    assert!(matches!(call(""), Err(DecodeError::Malformed(_))));
    assert!(matches!(call("   \n"), Err(DecodeError::Malformed(_))));
    let mut body = wrap("<value>X</value>").into_bytes();
    let pos = body.iter().position(|&b| b == b'X').unwrap();
    body[pos] = 0xff;
    let err = decode_call(&body, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, DecodeError::Malformed(ref m) if m.contains("UTF-8")),
        "{err}"
    );
    let latin1 = b"<methodCall><methodName>caf\xe9</methodName></methodCall>";
    assert!(matches!(
        decode_call(latin1, &Limits::default()),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn response_shapes() {
    let l = Limits::default();
    let two = "<methodResponse><params><param><value>a</value></param><param><value>b</value></param></params></methodResponse>";
    assert!(matches!(
        decode_response(two.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
    let zero = "<methodResponse><params></params></methodResponse>";
    assert!(matches!(
        decode_response(zero.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
    let bad_fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member></struct></value></fault></methodResponse>";
    assert!(matches!(
        decode_response(bad_fault.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
    let big_code = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><i8>99999999999</i8></value></member><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>";
    assert!(matches!(
        decode_response(big_code.as_bytes(), &l),
        Err(DecodeError::InvalidValue(_))
    ));
    let str_fault = "<methodResponse><fault><value>oops</value></fault></methodResponse>";
    assert!(matches!(
        decode_response(str_fault.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
    // A call is not a response and vice versa.
    let c = "<methodCall><methodName>m</methodName></methodCall>";
    assert!(matches!(
        decode_response(c.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
    let r = "<methodResponse><params><param><value>a</value></param></params></methodResponse>";
    assert!(matches!(
        decode_call(r.as_bytes(), &l),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn error_messages_are_useful() {
    let err = call(
        "<methodCall><methodName>m</methodName><params><value>1</value></params></methodCall>",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("expected <param>"), "{msg}");
    assert!(msg.contains("found <value>"), "{msg}");
    assert!(msg.contains("byte"), "{msg}");
}
