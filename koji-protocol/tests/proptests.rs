//! Property tests: every value survives encode→decode, and the decoder
//! never panics on arbitrary or mutated input.

use koji_protocol::*;
use proptest::prelude::*;

fn xml_legal(c: &char) -> bool {
    matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn legal_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..24)
        .prop_map(|cs| cs.into_iter().filter(xml_legal).collect())
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<i32>().prop_map(|i| Value::Int(i.into())),
        any::<f64>()
            .prop_filter("finite", |d| d.is_finite())
            .prop_map(Value::Double),
        legal_string().prop_map(Value::String),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..150).prop_map(Value::Base64),
        legal_string().prop_map(Value::DateTime),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((legal_string(), inner), 0..8)
                .prop_map(|kv| Value::Struct(kv.into_iter().collect())),
        ]
    })
}

fn any_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..24).prop_map(|cs| cs.into_iter().collect())
}

/// What the receiver must see for a string we send: illegal characters
/// replaced by U+FFFD, everything else intact.
fn sanitized(s: &str) -> String {
    s.chars()
        .map(|c| if xml_legal(&c) { c } else { '\u{FFFD}' })
        .collect()
}

fn check_reencode_call(mc: &MethodCall) {
    let again = encode_call(&mc.method, &mc.params);
    let back = decode_call(again.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(&back, mc);
}

fn check_reencode_response(r: &Response) {
    let again = match r {
        Ok(v) => encode_response(v),
        Err(f) => encode_fault(f),
    };
    let back = decode_response(again.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(&back, r);
}

/// Fragments that steer mutations towards interesting parser states.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "/",
    "&",
    ";",
    "&amp;",
    "&#x41;",
    "&#0;",
    "&bogus;",
    "<value>",
    "</value>",
    "<array>",
    "<data>",
    "</data>",
    "<struct>",
    "<member>",
    "<name>",
    "</name>",
    "<int>",
    "</int>",
    "<nil/>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version='1.0'?>",
    "<!DOCTYPE x>",
    "<!ENTITY a 'b'>",
    "\u{0}",
    "\u{FFFF}",
    "\r",
    "ÿ",
    "<ex:nil/>",
    "<boolean>",
    "<base64>",
    "<double>",
    "1e308",
];

fn mutate(doc: &str, ops: &[(u8, usize, usize)]) -> Vec<u8> {
    let mut b = doc.as_bytes().to_vec();
    for &(kind, pos, tok) in ops {
        let pos = if b.is_empty() { 0 } else { pos % (b.len() + 1) };
        match kind % 4 {
            0 => {
                let t = TOKENS[tok % TOKENS.len()].as_bytes();
                b.splice(pos..pos, t.iter().copied());
            }
            1 => {
                let end = (pos + tok % 16).min(b.len());
                b.drain(pos..end);
            }
            2 => {
                if pos < b.len() {
                    b[pos] = tok as u8;
                }
            }
            _ => b.truncate(pos),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn response_round_trip(v in value()) {
        let enc = encode_response(&v);
        let back = decode_response(enc.as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(back, Ok(v));
    }

    #[test]
    fn call_round_trip(method in "[A-Za-z_][A-Za-z0-9_.]{0,20}", params in prop::collection::vec(value(), 0..5)) {
        let enc = encode_call(&method, &params);
        let back = decode_call(enc.as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(back, MethodCall { method, params });
    }

    #[test]
    fn fault_round_trip(code in any::<i32>(), s in legal_string()) {
        let f = Fault::new(code, s);
        let back = decode_response(encode_fault(&f).as_bytes(), &Limits::default()).unwrap();
        prop_assert_eq!(back, Err(f));
    }

    #[test]
    fn illegal_chars_become_fffd(s in any_string(), k in any_string()) {
        let mut st = Struct::new();
        st.insert(k.clone(), Value::String(s.clone()));
        let enc = encode_response(&Value::Struct(st));
        let back = decode_response(enc.as_bytes(), &Limits::default()).unwrap().unwrap();
        let mut want = Struct::new();
        want.insert(sanitized(&k), Value::String(sanitized(&s)));
        prop_assert_eq!(back, Value::Struct(want));
    }

    #[test]
    fn kwargs_round_trip(params in prop::collection::vec(value(), 0..4),
                         kw in prop::collection::vec(("[a-z_]{1,8}", value()), 0..4)) {
        let kw: Struct = kw.into_iter().filter(|(k, _)| k != "__starstar").collect();
        // A trailing positional struct carrying a truthy `__starstar` would be
        // taken for kwargs by design; keep the generated positionals clear of it.
        prop_assume!(!matches!(params.last(), Some(Value::Struct(s)) if s.contains_key("__starstar")));
        let joined = join_kwargs(params.clone(), kw.clone());
        prop_assert_eq!(split_kwargs(joined), (params, kw));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn decoder_survives_random_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let l = Limits::default();
        if let Ok(mc) = decode_call(&body, &l) { check_reencode_call(&mc); }
        if let Ok(r) = decode_response(&body, &l) { check_reencode_response(&r); }
    }

    #[test]
    fn decoder_survives_mutations(
        v in value(),
        ops in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let l = Limits { max_bytes: 1 << 20, max_depth: 8 };
        let call = mutate(&encode_call("m", std::slice::from_ref(&v)), &ops);
        if let Ok(mc) = decode_call(&call, &l) { check_reencode_call(&mc); }
        let resp = mutate(&encode_response(&v), &ops);
        if let Ok(r) = decode_response(&resp, &l) { check_reencode_response(&r); }
    }
}
