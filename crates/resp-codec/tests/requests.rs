//! Request parsing: exact arguments and exact Redis error texts (checked against Redis 7.0.15).
use resp_codec::{BytesMut, Limits, ProtocolError, RequestParser};

type Args = Vec<Vec<u8>>;

/// Parses `input` whole; returns the commands parsed before stopping and the error, if any.
fn parse_with(limits: Limits, input: &[u8]) -> (Vec<Args>, Option<ProtocolError>) {
    let mut parser = RequestParser::new(limits);
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match parser.parse(&mut buf) {
            Ok(Some(req)) => out.push(req.args().iter().map(|a| a.to_vec()).collect()),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn parse(input: &[u8]) -> (Vec<Args>, Option<ProtocolError>) {
    parse_with(Limits::default(), input)
}

fn ok(input: &[u8]) -> Vec<Args> {
    let (cmds, err) = parse(input);
    assert_eq!(err, None, "input {:?}", String::from_utf8_lossy(input));
    cmds
}

fn err_text(input: &[u8]) -> String {
    parse(input).1.expect("an error").reply_text()
}

fn cmd(args: &[&str]) -> Args {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_commands() {
    assert_eq!(
        ok(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n"),
        vec![cmd(&["SET", "k", "hello"]), cmd(&["PING"])]
    );
}

#[test]
fn binary_safe_arguments() {
    assert_eq!(
        ok(b"*2\r\n$4\r\nECHO\r\n$5\r\na\r\n\0b\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
        vec![
            vec![b"ECHO".to_vec(), b"a\r\n\0b".to_vec()],
            cmd(&["ECHO", ""])
        ]
    );
}

#[test]
fn empty_requests_are_skipped() {
    assert_eq!(
        ok(b"*0\r\n*-1\r\n*-5\r\n\r\n\n   \r\n\t\n*1\r\n$4\r\nPING\r\n"),
        vec![cmd(&["PING"])]
    );
}

#[test]
fn partial_input_waits() {
    for partial in [
        &b"*"[..],
        b"*2",
        b"*2\r",
        b"*2\r\n$3",
        b"*2\r\n$3\r",
        b"*2\r\n$3\r\nGET",
        b"*2\r\n$3\r\nGET\r",
        b"*2\r\n$3\r\nGET\r\n$1\r\nk",
        b"PING",
        b"SET a \"b",
        b"*1\r\nfoo",
    ] {
        assert_eq!(parse(partial), (vec![], None), "{partial:?}");
    }
}

#[test]
fn request_consumes_exactly_its_bytes() {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET"[..]);
    let req = parser.parse(&mut buf).unwrap().unwrap();
    assert_eq!(req.args(), &[&b"PING"[..]]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert!(parser.is_mid_request());
    buf.extend_from_slice(b"\r\n$1\r\nk\r\nPI");
    let req = parser.parse(&mut buf).unwrap().unwrap();
    assert_eq!(req.args(), &[&b"GET"[..], &b"k"[..]]);
    assert_eq!(parser.parse(&mut buf).unwrap(), None);
    assert!(!parser.is_mid_request());
    buf.extend_from_slice(b"NG\n");
    assert_eq!(parser.parse(&mut buf).unwrap().unwrap().name(), b"PING");
    assert!(buf.is_empty());
}

/// Redis skips the byte after a header's `\r` and the two bytes after a body unchecked.
#[test]
fn terminators_are_skipped_unchecked_like_redis() {
    assert_eq!(
        ok(b"*1\rX$4\rXPINGXY*1\r\n$4\r\nPING\r\n"),
        vec![cmd(&["PING"]), cmd(&["PING"])]
    );
}

#[test]
fn inline_commands() {
    assert_eq!(
        ok(b"PING\r\nSET a b\r\nGET a\n  ECHO   x  \r\n"),
        vec![
            cmd(&["PING"]),
            cmd(&["SET", "a", "b"]),
            cmd(&["GET", "a"]),
            cmd(&["ECHO", "x"])
        ]
    );
}

/// Every case here was sent to redis-server 7.0.15 with ECHO to see the argument it got.
#[test]
fn inline_quoting_matches_sdssplitargs() {
    let one = |line: &[u8]| -> Args { ok(line).remove(0) };
    assert_eq!(
        one(b"ECHO \"a\\x41\\n\\t\\q\\\\\"\r\n")[1],
        b"aA\n\tq\\".to_vec()
    );
    assert_eq!(one(b"ECHO 'a\\'b\\n'\r\n")[1], b"a'b\\n".to_vec());
    assert_eq!(one(b"ECHO \"\"\r\n")[1], b"".to_vec());
    assert_eq!(one(b"ECHO \"\\xZZ\\x4\"\r\n")[1], b"xZZx4".to_vec());
    assert_eq!(
        one(b"ECHO \"\\b\\a\\r\\\"\"\r\n")[1],
        b"\x08\x07\r\"".to_vec()
    );
    assert_eq!(one(b"ECHO '\\x41\\n'\r\n")[1], b"\\x41\\n".to_vec());
    // A quote opening mid-token joins the token; the closing quote may be followed by \v.
    assert_eq!(one(b"ECHO a\"b c\" d\r\n"), cmd(&["ECHO", "ab c", "d"]));
    assert_eq!(one(b"ECHO \"x\"\x0b\r\n"), cmd(&["ECHO", "x"]));
    // \v and \f separate only between tokens; CR inside a line splits.
    assert_eq!(one(b"ECHO\ta\x0bb\r\n"), cmd(&["ECHO", "a\x0bb"]));
    assert_eq!(one(b"ECHO \x0bab\r\n"), cmd(&["ECHO", "ab"]));
    assert_eq!(one(b"ECHO a\rb\r\n"), cmd(&["ECHO", "a", "b"]));
}

#[test]
fn unbalanced_quotes() {
    for line in [
        &b"ECHO \"a\"b\r\n"[..],
        b"ECHO 'a'b\r\n",
        b"ECHO \"abc\r\n",
        b"ECHO a\"b c\"d\r\n",
        b"ECHO \"a\\\"\r\n",
        b"ECHO \"a\\\r\n",
        b"ECHO 'a\\\r\n",
    ] {
        assert_eq!(
            err_text(line),
            "ERR Protocol error: unbalanced quotes in request",
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn invalid_multibulk_length() {
    for input in [
        &b"*abc\r\n"[..],
        b"*\r\n",
        b"*01\r\n",
        b"*+1\r\n",
        b"*2147483648\r\n",
        b"*1 \r\n",
    ] {
        assert_eq!(
            err_text(input),
            "ERR Protocol error: invalid multibulk length"
        );
    }
    // The default cap is 1,048,576 elements: that count waits for its arguments, one more is
    // refused.
    assert_eq!(parse(b"*1048576\r\n"), (vec![], None));
    assert_eq!(
        err_text(b"*1048577\r\n"),
        "ERR Protocol error: invalid multibulk length"
    );
    let unlimited = Limits {
        max_multibulk_len: i32::MAX as usize,
        ..Limits::default()
    };
    assert_eq!(parse_with(unlimited, b"*2147483647\r\n").1, None);
    let small = Limits {
        max_multibulk_len: 2,
        ..Limits::default()
    };
    assert_eq!(
        parse_with(small, b"*3\r\n").1,
        Some(ProtocolError::InvalidMultibulkLength)
    );
}

#[test]
fn invalid_bulk_length() {
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$04\r\nPING\r\n",
        b"*1\r\n$x\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$536870913\r\n",
    ] {
        assert_eq!(err_text(input), "ERR Protocol error: invalid bulk length");
    }
    // Exactly proto-max-bulk-len is fine: it waits for the body.
    assert_eq!(parse(b"*1\r\n$536870912\r\n"), (vec![], None));
}

#[test]
fn expected_dollar() {
    assert_eq!(
        err_text(b"*1\r\nfoo\r\n"),
        "ERR Protocol error: expected '$', got 'f'"
    );
    assert_eq!(
        err_text(b"*2\r\n$4\r\nECHO\r\n:1\r\n"),
        "ERR Protocol error: expected '$', got ':'"
    );
}

#[test]
fn too_big_inline_request() {
    let mut input = vec![b'a'; 64 * 1024];
    assert_eq!(parse(&input), (vec![], None));
    input.push(b'a');
    assert_eq!(
        err_text(&input),
        "ERR Protocol error: too big inline request"
    );
    // A long line is fine once its newline is there.
    let mut long = b"ECHO ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 70_000));
    long.extend_from_slice(b"\r\n");
    assert_eq!(ok(&long)[0][1].len(), 70_000);
}

#[test]
fn too_big_count_strings() {
    let mut mbulk = b"*".to_vec();
    mbulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
    assert_eq!(
        err_text(&mbulk),
        "ERR Protocol error: too big mbulk count string"
    );
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
    assert_eq!(
        err_text(&bulk),
        "ERR Protocol error: too big bulk count string"
    );
}

/// Redis finds line ends with `strchr`, which stops at a NUL: such a line never ends, and the
/// connection only fails once the inline limit is passed.
#[test]
fn nul_before_line_end_hides_it_like_redis() {
    assert_eq!(parse(b"PI\0NG\r\n"), (vec![], None));
    assert_eq!(parse(b"*1\0\r\n$4\r\nPING\r\n"), (vec![], None));
    assert_eq!(parse(b"*1\r\n$\x004\r\nPING\r\n"), (vec![], None));
    let mut input = b"PI\0NG\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'a', 70_000));
    assert_eq!(parse(&input).1, Some(ProtocolError::TooBigInlineRequest));
}

#[test]
fn error_display_is_lowercase_detail() {
    assert_eq!(
        ProtocolError::InvalidBulkLength.to_string(),
        "invalid bulk length"
    );
    assert_eq!(
        ProtocolError::ExpectedDollar(b'x').to_string(),
        "expected '$', got 'x'"
    );
}

/// Feeding one byte at a time must not rescan: this is quadratic (and takes minutes) if the
/// parser restarts its line search on every call.
#[test]
fn byte_at_a_time_is_linear() {
    let mut input = Vec::new();
    for _ in 0..2_000 {
        input.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
        input.extend_from_slice(b"GET key\r\n");
    }
    // One inline line just under the limit, fed a byte at a time.
    input.extend(std::iter::repeat_n(b'x', 60_000));
    input.extend_from_slice(b"\r\n");
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut count = 0;
    for &b in &input {
        buf.extend_from_slice(&[b]);
        while let Some(_req) = parser.parse(&mut buf).unwrap() {
            count += 1;
        }
    }
    assert_eq!(count, 4_001);
}

#[test]
fn arguments_share_the_read_buffer() {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let req = parser.parse(&mut buf).unwrap().unwrap();
    for arg in req.args() {
        let at = arg.as_ptr() as usize;
        assert!(at >= start && at < end, "argument was copied");
    }
}

/// Redis writes the offending byte raw with `%c`, and maps CR/LF to spaces (checked against
/// redis-server 7.0.15: `*1\r\n\r\n` gets `got ' '`, `*1\r\n\xe9x\r\n` gets the raw 0xE9 byte).
#[test]
fn expected_dollar_reply_bytes_are_exact() {
    let reply = |input: &[u8]| {
        let mut out = BytesMut::new();
        parse(input).1.expect("an error").write_reply(&mut out);
        out.to_vec()
    };
    assert_eq!(
        reply(b"*1\r\n\r\n"),
        b"-ERR Protocol error: expected '$', got ' '\r\n"
    );
    assert_eq!(
        reply(b"*1\r\n\nx\r\n"),
        b"-ERR Protocol error: expected '$', got ' '\r\n"
    );
    assert_eq!(
        reply(b"*1\r\n\xe9x\r\n"),
        b"-ERR Protocol error: expected '$', got '\xe9'\r\n"
    );
    assert_eq!(
        reply(b"*1\r\n\tx\r\n"),
        b"-ERR Protocol error: expected '$', got '\t'\r\n"
    );
    assert_eq!(
        reply(b"*1\r\n$-1\r\n"),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert_eq!(
        ProtocolError::ExpectedDollar(0xe9).to_string(),
        "expected '$', got '\\xe9'"
    );
    assert_eq!(
        ProtocolError::InvalidFrame("bad length").reply_text(),
        "ERR Protocol error: invalid frame: bad length"
    );
}

/// Checked against redis-server 7.0.15 with `requirepass` set, before AUTH.
#[test]
fn unauthenticated_limits() {
    let run = |input: &[u8]| {
        let mut parser = RequestParser::default();
        parser.set_auth_required(true);
        let mut buf = BytesMut::from(input);
        parser.parse(&mut buf).map(|r| r.map(|r| r.len()))
    };
    assert_eq!(
        run(b"*11\r\n").unwrap_err().reply_text(),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    assert_eq!(run(b"*10\r\n"), Ok(None));
    assert_eq!(
        run(b"*2\r\n$4\r\nECHO\r\n$16385\r\n")
            .unwrap_err()
            .reply_text(),
        "ERR Protocol error: unauthenticated bulk length"
    );
    assert_eq!(run(b"*2\r\n$4\r\nECHO\r\n$16384\r\n"), Ok(None));
    // Invalid lengths stay invalid: that check comes first.
    assert_eq!(run(b"*1\r\n$-1\r\n"), Err(ProtocolError::InvalidBulkLength));
    // Once authenticated, the normal limits apply.
    let mut parser = RequestParser::default();
    parser.set_auth_required(true);
    parser.set_auth_required(false);
    let mut buf = BytesMut::from(&b"*11\r\n"[..]);
    assert_eq!(parser.parse(&mut buf), Ok(None));
}

fn peeked(input: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    resp_codec::peek_first_arguments(input, max, |k| keys.push(k.to_vec()));
    keys
}

#[test]
fn peek_first_arguments_stops_where_the_parser_would_have_to_decide() {
    let two = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n";
    assert_eq!(peeked(two, 8), [b"k1".to_vec(), b"k2".to_vec()]);
    assert_eq!(peeked(two, 1), [b"k1".to_vec()]);
    // A command without arguments gives an empty slice; nothing is consumed or checked further.
    assert_eq!(peeked(b"*1\r\n$4\r\nPING\r\n", 8), [Vec::<u8>::new()]);
    // Incomplete, inline, non-canonical, and ten-argument requests end the look-ahead.
    assert!(peeked(&two[..two.len() - 1], 8).len() == 1);
    assert!(peeked(b"GET k\r\n", 8).is_empty());
    assert!(peeked(b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n", 8).is_empty());
    assert!(peeked(b"*2\r\n$3\r\nGET\r\n$-1\r\n", 8).is_empty());
    assert!(peeked(b"*10\r\n$3\r\nDEL\r\n", 8).is_empty());
    assert!(peeked(b"", 8).is_empty());
}
