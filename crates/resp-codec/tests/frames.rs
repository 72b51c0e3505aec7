//! Frames: exact bytes for every type in both protocols, and strict decoding.
use resp_codec::{
    Bytes, BytesMut, Frame, Protocol, ProtocolError, decode_frame, format_double,
    format_incrbyfloat, write_blob_error, write_error, write_simple,
};

fn encode(frame: &Frame, proto: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame.encode(proto, &mut out);
    out.to_vec()
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Each frame with its RESP3 and RESP2 encodings (Redis's downgrade rules).
fn table() -> Vec<(Frame, &'static [u8], &'static [u8])> {
    vec![
        (Frame::simple("OK"), b"+OK\r\n", b"+OK\r\n"),
        (
            Frame::error("ERR syntax error"),
            b"-ERR syntax error\r\n",
            b"-ERR syntax error\r\n",
        ),
        (Frame::Integer(-42), b":-42\r\n", b":-42\r\n"),
        (Frame::bulk("hi"), b"$2\r\nhi\r\n", b"$2\r\nhi\r\n"),
        (Frame::bulk(""), b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (Frame::Null, b"_\r\n", b"$-1\r\n"),
        (Frame::NullArray, b"_\r\n", b"*-1\r\n"),
        (
            Frame::Array(vec![Frame::Integer(1), Frame::bulk("a")]),
            b"*2\r\n:1\r\n$1\r\na\r\n",
            b"*2\r\n:1\r\n$1\r\na\r\n",
        ),
        (Frame::Array(vec![]), b"*0\r\n", b"*0\r\n"),
        (
            Frame::Map(vec![(Frame::bulk("k"), Frame::Integer(1))]),
            b"%1\r\n$1\r\nk\r\n:1\r\n",
            b"*2\r\n$1\r\nk\r\n:1\r\n",
        ),
        (
            Frame::Set(vec![Frame::bulk("m")]),
            b"~1\r\n$1\r\nm\r\n",
            b"*1\r\n$1\r\nm\r\n",
        ),
        (Frame::Double(1.5), b",1.5\r\n", b"$3\r\n1.5\r\n"),
        (
            Frame::Double(1.1),
            b",1.1000000000000001\r\n",
            b"$18\r\n1.1000000000000001\r\n",
        ),
        (Frame::Double(f64::INFINITY), b",inf\r\n", b"$3\r\ninf\r\n"),
        (
            Frame::Double(f64::NEG_INFINITY),
            b",-inf\r\n",
            b"$4\r\n-inf\r\n",
        ),
        (Frame::Boolean(true), b"#t\r\n", b":1\r\n"),
        (Frame::Boolean(false), b"#f\r\n", b":0\r\n"),
        (
            Frame::BigNumber(b("-1234567890123456789012")),
            b"(-1234567890123456789012\r\n",
            b"$23\r\n-1234567890123456789012\r\n",
        ),
        (
            Frame::Verbatim {
                format: *b"txt",
                text: b("hello"),
            },
            b"=9\r\ntxt:hello\r\n",
            b"$5\r\nhello\r\n",
        ),
        (
            Frame::BlobError(b("SYNTAX bad")),
            b"!10\r\nSYNTAX bad\r\n",
            b"-SYNTAX bad\r\n",
        ),
        (
            Frame::Push(vec![Frame::bulk("message"), Frame::bulk("ch")]),
            b">2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",
            b"*2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",
        ),
        (
            Frame::Attribute {
                attrs: vec![(Frame::simple("ttl"), Frame::Integer(3))],
                data: Box::new(Frame::bulk("v")),
            },
            b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
            b"$1\r\nv\r\n",
        ),
    ]
}

#[test]
fn encodes_every_type_in_both_protocols() {
    for (frame, resp3, resp2) in table() {
        assert_eq!(encode(&frame, Protocol::Resp3), resp3, "{frame:?} in RESP3");
        assert_eq!(encode(&frame, Protocol::Resp2), resp2, "{frame:?} in RESP2");
    }
}

#[test]
fn decodes_every_type() {
    for (frame, resp3, _) in table() {
        let decoded = decode_frame(resp3).unwrap().unwrap();
        // RESP3 `_` is one null; it decodes as the bulk kind.
        let expected = if frame == Frame::NullArray {
            Frame::Null
        } else {
            frame
        };
        assert_eq!(decoded, (expected, resp3.len()));
    }
    assert_eq!(decode_frame(b"$-1\r\n").unwrap(), Some((Frame::Null, 5)));
    assert_eq!(
        decode_frame(b"*-1\r\n").unwrap(),
        Some((Frame::NullArray, 5))
    );
    assert_eq!(
        decode_frame(b":+7\r\n").unwrap(),
        Some((Frame::Integer(7), 5))
    );
    assert_eq!(
        decode_frame(b",-1.5e3\r\n").unwrap(),
        Some((Frame::Double(-1500.0), 9))
    );
    match decode_frame(b",nan\r\n").unwrap() {
        Some((Frame::Double(d), 6)) => assert!(d.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decode_reports_only_the_first_frame() {
    assert_eq!(
        decode_frame(b"+OK\r\n:1\r\n").unwrap(),
        Some((Frame::simple("OK"), 5))
    );
}

#[test]
fn decode_waits_on_every_prefix() {
    for (_, resp3, resp2) in table() {
        for bytes in [resp3, resp2] {
            for cut in 0..bytes.len() {
                assert_eq!(
                    decode_frame(&bytes[..cut]),
                    Ok(None),
                    "prefix {:?}",
                    String::from_utf8_lossy(&bytes[..cut])
                );
            }
        }
    }
}

#[test]
fn decode_rejects_garbage() {
    for bad in [
        &b"x\r\n"[..],
        b"?",
        b"+OK\rX",
        b":\r\n",
        b":12a\r\n",
        b"$-2\r\n",
        b"$01\r\na\r\n",
        b"$1\r\nab\r\n",
        b"*-2\r\n",
        b"%-1\r\n",
        b"~x\r\n",
        b"_x\r\n",
        b",\r\n",
        b",infinity\r\n",
        b",1.5x\r\n",
        b"#x\r\n",
        b"(12a\r\n",
        b"(\r\n",
        b"=3\r\ntxt\r\n",
        b"=5\r\ntxt-x\r\n",
        b"!1\r\nab\r\n",
        b"*1\r\nx\r\n",
    ] {
        assert!(
            matches!(decode_frame(bad), Err(ProtocolError::InvalidFrame(_))),
            "{:?} gave {:?}",
            String::from_utf8_lossy(bad),
            decode_frame(bad)
        );
    }
}

#[test]
fn decode_refuses_deep_nesting_without_overflowing() {
    let deep = b"*1\r\n".repeat(100_000);
    assert_eq!(
        decode_frame(&deep),
        Err(ProtocolError::InvalidFrame("nesting too deep"))
    );
}

#[test]
fn decode_does_not_trust_counts() {
    assert_eq!(decode_frame(b"*2147483647\r\n:1\r\n"), Ok(None));
}

#[test]
fn status_and_error_lines_cannot_break_the_stream() {
    let mut out = BytesMut::new();
    write_simple(&mut out, b"a\r\nb");
    write_error(&mut out, b"\r\nERR bad\ncommand\r\n");
    write_blob_error(&mut out, b"ERR x", Protocol::Resp2);
    assert_eq!(&out[..], b"+a  b\r\n-ERR bad command\r\n-ERR x\r\n");
}

/// Expected strings are C's `printf("%.17g")`, which is what Redis 7.0's addReplyDouble sends
/// (checked with ZADD/ZSCORE on redis-server 7.0.15).
#[test]
fn format_double_is_printf_g17() {
    for (d, text) in [
        (1.1, "1.1000000000000001"),
        (3.0, "3"),
        (1e20, "1e+20"),
        (0.0001, "0.0001"),
        (1e-5, "1.0000000000000001e-05"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (1e16, "10000000000000000"),
        (-123456.0, "-123456"),
        (99999999999999984.0, "99999999999999984"),
        (9007199254740993.0, "9007199254740992"),
        (1e17, "1e+17"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        // 1 + 2^-17 = 1.00000762939453125 ties at the 17th digit: to even, as glibc does.
        (1.0 + 2f64.powi(-17), "1.0000076293945312"),
        (5e-324, "4.9406564584124654e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
    ] {
        assert_eq!(format_double(d), text, "{d:e}");
    }
}

/// Expected strings are what INCRBYFLOAT replies in redis-server 7.0.15 for the same sums
/// (`-1.25` and `inf` are the documented formatting rules; Redis refuses to store infinity).
#[test]
fn format_incrbyfloat_matches_redis_for_plain_sums() {
    assert_eq!(format_incrbyfloat(10.5 + 0.1), "10.6");
    assert_eq!(format_incrbyfloat(0.0 + 1e20), "100000000000000000000");
    assert_eq!(format_incrbyfloat(1e20 - 1e20), "0");
    assert_eq!(format_incrbyfloat(5.0e3), "5000");
    assert_eq!(format_incrbyfloat(5000.0 + 1e-20), "5000");
    assert_eq!(format_incrbyfloat(-1.25), "-1.25");
    assert_eq!(format_incrbyfloat(f64::INFINITY), "inf");
}
