//! Byte-exact compatibility with Python's `xmlrpc.client` (the stock koji CLI
//! parses our output with it and sends us what it produces).

#[path = "data/python_outputs.rs"]
mod python_outputs;

use koji_protocol::*;
use python_outputs::*;

fn resp(v: &Value) -> String {
    encode_response(v)
}

#[test]
fn encodes_like_python() {
    let s = kstruct! {
        "id" => 1,
        "name" => "foo & <bar>",
        "owner" => Value::Nil,
        "active" => true,
        "ratio" => 0.5,
        "create_ts" => 1795353927.685249,
        "tags" => vec![Value::from("a"), Value::from(2), Value::from(false)],
        "nested" => kstruct! { "x" => kstruct! {} },
        "empty" => Vec::<Value>::new(),
    };
    assert_eq!(resp(&s), RESP_STRUCT);
    let bin =
        b"\x00\x01binary data that is long enough to wrap the base64 line at seventy six chars\xff";
    assert_eq!(resp(&Value::Base64(bin.to_vec())), RESP_BINARY);
    assert_eq!(resp(&Value::Base64(vec![])), RESP_EMPTY_BINARY);
    assert_eq!(
        resp(&Value::DateTime("20250101T10:00:00".into())),
        RESP_DATETIME
    );
    assert_eq!(resp(&Value::Double(1e16)), RESP_BIGFLOAT);
    assert_eq!(resp(&Value::Double(4.0)), RESP_FLOAT4);
    assert_eq!(resp(&"it's \"quoted\" \t\n tab".into()), RESP_STRING_QUOTES);
    assert_eq!(resp(&"žluťoučký kůň 🐴".into()), RESP_UNICODE);
    assert_eq!(resp(&Value::Nil), RESP_NIL);
    assert_eq!(resp(&"".into()), RESP_EMPTY_STRING);
}

fn build_params() -> Vec<Value> {
    vec![
        "cli-build/1795351145.1675758.TtqclEgM/foo-1-1.src.rpm".into(),
        "tgt".into(),
        kstruct! {
            "scratch" => true,
            "wait_builds" => Vec::<Value>::new(),
            "custom_user_metadata" => kstruct! {},
        },
        kstruct! { "priority" => Value::Nil, "__starstar" => true },
    ]
}

fn echo_params() -> Vec<Value> {
    vec![
        1.into(),
        (-5).into(),
        2.5.into(),
        Value::Base64(b"hi".to_vec()),
        vec![Value::Nil, "x".into()].into(),
        "a&b<c>".into(),
    ]
}

#[test]
fn calls_encode_like_python() {
    assert_eq!(encode_call("build", &build_params()), CALL_BUILD);
    assert_eq!(encode_call("echo", &echo_params()), CALL_ECHO);
    assert_eq!(encode_call("getAPIVersion", &[]), CALL_NOARGS);
}

#[test]
fn fault_encodes_like_python() {
    let f = Fault::parameter(
        "RootExports.listPackages() got an unexpected keyword argument 'with_owners'",
    );
    assert_eq!(encode_fault(&f), FAULT_PARAM);
}

#[test]
fn decodes_python_calls() {
    let l = Limits::default();
    let c = decode_call(CALL_BUILD.as_bytes(), &l).unwrap();
    assert_eq!(c.method, "build");
    assert_eq!(c.params, build_params());
    let (pos, kw) = split_kwargs(c.params);
    assert_eq!(pos.len(), 3);
    assert_eq!(kw.get("priority"), Some(&Value::Nil));

    let c = decode_call(CALL_ECHO.as_bytes(), &l).unwrap();
    assert_eq!(c.method, "echo");
    assert_eq!(c.params, echo_params());

    let c = decode_call(CALL_NOARGS.as_bytes(), &l).unwrap();
    assert_eq!(c.method, "getAPIVersion");
    assert!(c.params.is_empty());
}

#[test]
fn decodes_python_responses() {
    let l = Limits::default();
    let v = decode_response(RESP_STRUCT.as_bytes(), &l)
        .unwrap()
        .unwrap();
    assert_eq!(v.get("create_ts"), Some(&Value::Double(1795353927.685249)));
    assert_eq!(v.get("owner"), Some(&Value::Nil));
    let keys: Vec<_> = v.as_struct().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "owner",
            "active",
            "ratio",
            "create_ts",
            "tags",
            "nested",
            "empty"
        ]
    );
    assert_eq!(
        decode_response(RESP_EMPTY_STRING.as_bytes(), &l).unwrap(),
        Ok(Value::String(String::new()))
    );
    assert_eq!(
        decode_response(FAULT_PARAM.as_bytes(), &l).unwrap(),
        Err(Fault::parameter(
            "RootExports.listPackages() got an unexpected keyword argument 'with_owners'"
        ))
    );
}

#[test]
fn accepts_dialect_variants() {
    let l = Limits::default();
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">
  <methodName>x</methodName>
  <params>
    <param><value>untyped &amp; raw</value></param>
    <param><value></value></param>
    <param><value><string/></value></param>
    <param><value><i4> 42 </i4></value></param>
    <param><value><i8>-9223372036854775808</i8></value></param>
    <param><value><i1>1</i1></value></param>
    <param><value><i2>2</i2></value></param>
    <param><value><biginteger>9223372036854775807</biginteger></value></param>
    <param><value><ex:nil/></value></param>
    <param><value><nil/></value></param>
    <param><value><base64>
aGVs
bG8=
</base64></value></param>
    <param><value><double>1e3</double></value></param>
    <param><value><double>-inf</double></value></param>
    <param><value><dateTime.iso8601>20250101T10:00:00</dateTime.iso8601></value></param>
    <param><value><string>&#65;&#x42;&lt;&gt;&quot;&apos;<![CDATA[<c>]]><!-- comment --></string></value></param>
    <param><value><array><data/></array></value></param>
    <param><value><struct/></value></param>
    <param><value><struct><member><name>k</name><value><boolean>0</boolean></value></member></struct></value></param>
  </params>
</methodCall>
"#;
    let c = decode_call(body.as_bytes(), &l).unwrap();
    assert_eq!(
        c.params,
        vec![
            Value::from("untyped & raw"),
            Value::from(""),
            Value::from(""),
            Value::Int(42),
            Value::Int(i64::MIN),
            Value::Int(1),
            Value::Int(2),
            Value::Int(i64::MAX),
            Value::Nil,
            Value::Nil,
            Value::Base64(b"hello".to_vec()),
            Value::Double(1000.0),
            Value::Double(f64::NEG_INFINITY),
            Value::DateTime("20250101T10:00:00".into()),
            Value::from("AB<>\"'<c>"),
            Value::Array(vec![]),
            kstruct! {},
            kstruct! { "k" => false },
        ]
    );
    // No <params> at all, and single-quoted declaration without newline.
    let c = decode_call(
        b"<?xml version='1.0'?><methodCall><methodName>hello</methodName></methodCall>",
        &l,
    )
    .unwrap();
    assert_eq!(
        c,
        MethodCall {
            method: "hello".into(),
            params: vec![]
        }
    );
    // No declaration; UTF-8 BOM.
    let c = decode_call(
        "\u{FEFF}<methodCall><methodName>a.b</methodName><params/></methodCall>".as_bytes(),
        &l,
    )
    .unwrap();
    assert_eq!(c.method, "a.b");
}

#[test]
fn carriage_returns_survive_round_trip() {
    // XML normalises raw CR/CRLF to LF (as expat does); we emit &#13; so a
    // CR we send comes back intact.
    let l = Limits::default();
    let raw =
        "<methodResponse><params><param><value>a\r\nb\rc</value></param></params></methodResponse>";
    assert_eq!(
        decode_response(raw.as_bytes(), &l).unwrap(),
        Ok("a\nb\nc".into())
    );
    let v = Value::from("x\r\ny");
    let enc = encode_response(&v);
    assert!(enc.contains("x&#13;\ny"));
    assert_eq!(decode_response(enc.as_bytes(), &l).unwrap(), Ok(v));
}

#[test]
fn illegal_chars_become_replacement_char() {
    let l = Limits::default();
    let v = kstruct! { "bad\u{1}key" => "nul\u{0}esc\u{1b}ff\u{c}nc\u{FFFE}\u{FFFF}ok\t\n" };
    let enc = encode_response(&v);
    let back = decode_response(enc.as_bytes(), &l).unwrap().unwrap();
    assert_eq!(
        back,
        kstruct! { "bad\u{FFFD}key" => "nul\u{FFFD}esc\u{FFFD}ff\u{FFFD}nc\u{FFFD}\u{FFFD}ok\t\n" }
    );
}

#[test]
fn big_ints_use_i8_like_koji() {
    let l = Limits::default();
    for i in [i64::MIN, -2147483649, 2147483648, i64::MAX] {
        let enc = encode_response(&Value::Int(i));
        assert!(enc.contains(&format!("<i8>{i}</i8>")));
        assert_eq!(
            decode_response(enc.as_bytes(), &l).unwrap(),
            Ok(Value::Int(i))
        );
    }
}

/// A name given twice keeps its first place and its last value, as Python's dict does; nested
/// structs keep their own members.
#[test]
fn repeated_member_names_keep_first_place_and_last_value() {
    let member = |k: &str, v: &str| format!("<member><name>{k}</name><value>{v}</value></member>");
    let inner = format!(
        "<struct>{}{}</struct>",
        member("x", "<int>7</int>"),
        member("x", "<int>8</int>")
    );
    let body = format!(
        "<methodResponse><params><param><value><struct>{}{}{}{}</struct></value></param></params></methodResponse>",
        member("a", "<int>1</int>"),
        member("in", &inner),
        member("b", "<int>2</int>"),
        member("a", "<int>3</int>")
    );
    let v = decode_response(body.as_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    let s = v.as_struct().unwrap();
    assert_eq!(s.keys().collect::<Vec<_>>(), ["a", "in", "b"]);
    assert_eq!(s["a"], Value::Int(3));
    let inner = s["in"].as_struct().unwrap();
    assert_eq!(inner.len(), 1);
    assert_eq!(inner["x"], Value::Int(8));
}
