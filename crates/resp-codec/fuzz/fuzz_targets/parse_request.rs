//! Fuzzes the request parser: no panic on any input, and splitting the input into reads at a
//! fuzzer-chosen point never changes the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp_codec::{BytesMut, Limits, ProtocolError, RequestParser};

type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

fn run(limits: Limits, auth_required: bool, chunks: &[&[u8]]) -> Outcome {
    let mut parser = RequestParser::new(limits);
    parser.set_auth_required(auth_required);
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(req)) => {
                    assert!(!req.is_empty(), "empty requests must be skipped");
                    commands.push(req.args().iter().map(|a| a.to_vec()).collect());
                }
                Ok(None) => break,
                Err(e) => return (commands, Some(e)),
            }
        }
    }
    (commands, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    // Small limits so the fuzzer reaches the "too big" paths quickly.
    let limits = Limits {
        max_bulk_len: 1 << 16,
        max_multibulk_len: 1 << 10,
        max_inline_len: 256,
    };
    // The low bit of the split byte also turns on the pre-AUTH limits.
    let auth_required = split & 1 == 1;
    let whole = run(limits, auth_required, &[input]);
    let at = usize::from(split) * input.len() / 256;
    let (a, b) = input.split_at(at);
    let split_result = run(limits, auth_required, &[a, b]);
    // An error may surface at a different command only if it is the too-big kind, which
    // depends on how much is buffered when the check runs (Redis behaves the same way).
    if whole.1.is_none() && split_result.1.is_none() {
        assert_eq!(whole, split_result);
    }
});
