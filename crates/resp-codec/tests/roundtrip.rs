//! Property tests: frames survive encode → decode, and request parsing does not depend on how
//! the bytes are split into reads.
use proptest::prelude::*;
use resp_codec::{Bytes, BytesMut, Frame, Protocol, RequestParser, decode_frame};

fn line_text() -> impl Strategy<Value = Bytes> {
    // Status and error lines cannot contain CR or LF.
    proptest::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    )
    .prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn leaf() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_text().prop_map(Frame::Simple),
        line_text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob().prop_map(Frame::Bulk),
        Just(Frame::Null),
        any::<f64>()
            .prop_filter("NaN never equals itself", |d| !d.is_nan())
            .prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        ("[a-z]{3}", blob()).prop_map(|(f, text)| Frame::Verbatim {
            format: f.as_bytes().try_into().unwrap(),
            text
        }),
        blob().prop_map(Frame::BlobError),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let pairs = proptest::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            (pairs, inner).prop_map(|(attrs, data)| Frame::Attribute {
                attrs,
                data: Box::new(data)
            }),
        ]
    })
}

/// How one command is written on the wire.
#[derive(Debug, Clone)]
enum Wire {
    Multibulk,
    /// Inline; arguments outside a plain charset are double-quoted with `\xHH` escapes.
    Inline {
        crlf: bool,
    },
}

fn command() -> impl Strategy<Value = (Vec<Vec<u8>>, Wire)> {
    let arg = prop_oneof![
        "[A-Za-z0-9_:.-]{1,8}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..10),
    ];
    let wire = prop_oneof![
        Just(Wire::Multibulk),
        any::<bool>().prop_map(|crlf| Wire::Inline { crlf })
    ];
    (proptest::collection::vec(arg, 1..5), wire)
}

fn is_plain(arg: &[u8]) -> bool {
    !arg.is_empty()
        && arg
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_:.-".contains(b))
}

fn write_command(out: &mut Vec<u8>, args: &[Vec<u8>], wire: &Wire) {
    match wire {
        Wire::Multibulk => {
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                out.extend_from_slice(arg);
                out.extend_from_slice(b"\r\n");
            }
        }
        Wire::Inline { crlf } => {
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                if is_plain(arg) {
                    out.extend_from_slice(arg);
                } else {
                    out.push(b'"');
                    for b in arg {
                        out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                    }
                    out.push(b'"');
                }
            }
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
    }
}

fn parse_chunks(input: &[u8], cuts: &[usize]) -> Vec<Vec<Vec<u8>>> {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(input.len());
    for cut in cuts {
        buf.extend_from_slice(&input[at..cut.max(at)]);
        at = cut.max(at);
        while let Some(req) = parser.parse(&mut buf).expect("valid pipeline") {
            out.push(req.args().iter().map(|a| a.to_vec()).collect());
        }
    }
    assert!(buf.is_empty() && !parser.is_mid_request());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn resp3_frames_round_trip(frame in frame()) {
        let mut out = BytesMut::new();
        frame.encode(Protocol::Resp3, &mut out);
        let decoded = decode_frame(&out).unwrap();
        prop_assert_eq!(decoded, Some((frame, out.len())));
    }

    #[test]
    fn resp2_frames_decode_completely(frame in frame()) {
        let mut out = BytesMut::new();
        frame.encode(Protocol::Resp2, &mut out);
        let (_, used) = decode_frame(&out).unwrap().unwrap();
        prop_assert_eq!(used, out.len());
    }

    #[test]
    fn any_split_parses_like_the_whole(
        commands in proptest::collection::vec((command(), 0..4u8), 1..24),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for ((args, wire), empty) in &commands {
            // Sprinkle the empty requests Redis skips between commands.
            match empty {
                1 => input.extend_from_slice(b"*0\r\n"),
                2 => input.extend_from_slice(b"\r\n"),
                3 => input.extend_from_slice(b"*-1\r\n"),
                _ => {}
            }
            write_command(&mut input, args, wire);
            expected.push(args.clone());
        }
        prop_assert_eq!(&parse_chunks(&input, &[]), &expected);
        prop_assert_eq!(&parse_chunks(&input, &cuts), &expected);
    }

    /// The look-ahead sees the first arguments of the leading array requests, in order, and
    /// never anything else, wherever the buffer is cut.
    #[test]
    fn peeked_arguments_are_those_the_parser_returns(
        commands in proptest::collection::vec(command(), 1..24),
        cut in any::<usize>(),
    ) {
        let mut input = Vec::new();
        for (args, wire) in &commands {
            write_command(&mut input, args, wire);
        }
        let input = &input[..cut % (input.len() + 1)];
        let mut peeked = Vec::new();
        resp_codec::peek_first_arguments(input, 64, |a| peeked.push(a.to_vec()));
        let mut parsed = Vec::new();
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(input);
        while let Ok(Some(req)) = parser.parse(&mut buf) {
            parsed.push(req.args().get(1).map_or_else(Vec::new, |a| a.to_vec()));
        }
        // Up to the first inline command or the cut, the look-ahead sees every request (the
        // generated ones have at most 9 arguments and canonical lengths).
        let leading = commands
            .iter()
            .take_while(|(_, wire)| matches!(wire, Wire::Multibulk))
            .count();
        prop_assert_eq!(peeked.len(), leading.min(parsed.len()));
        prop_assert_eq!(&peeked[..], &parsed[..peeked.len()]);
    }
}
