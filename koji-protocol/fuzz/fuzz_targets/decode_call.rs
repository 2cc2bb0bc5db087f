#![no_main]
//! Feeds arbitrary bytes to both decoders; whatever decodes must re-encode
//! and decode to the same value (no panics, no lossy round trips).

use koji_protocol::{
    Limits, decode_call, decode_response, encode_call, encode_fault, encode_response,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(call) = decode_call(data, &limits) {
        let again = encode_call(&call.method, &call.params);
        let back = decode_call(again.as_bytes(), &limits).expect("re-encoded call decodes");
        assert_eq!(back, call);
    }
    if let Ok(resp) = decode_response(data, &limits) {
        let again = match &resp {
            Ok(v) => encode_response(v),
            Err(f) => encode_fault(f),
        };
        let back = decode_response(again.as_bytes(), &limits).expect("re-encoded response decodes");
        assert_eq!(back, resp);
    }
});
