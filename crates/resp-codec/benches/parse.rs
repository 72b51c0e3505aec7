//! Parse throughput of a pipeline of SET/GET commands, next to the speed of one plain `memchr`
//! pass over the same bytes: the floor for any parser that has to find line ends.
//!
//! Run: `cargo bench -p resp-codec -- --warm-up-time 1 --measurement-time 3`
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use resp_codec::{BytesMut, Request, RequestParser};
use std::hint::black_box;

const COMMANDS: usize = 10_000;

/// Half SET with a `value_len`-byte value, half GET, keys like `key:001234` (the shape
/// redis-benchmark sends).
fn pipeline(value_len: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    for i in 0..COMMANDS {
        let key = format!("key:{i:06}");
        let req = if i % 2 == 0 {
            Request::new(vec!["SET".into(), key.into(), vec![b'v'; value_len].into()])
        } else {
            Request::new(vec!["GET".into(), key.into()])
        };
        req.encode(&mut out);
    }
    out.to_vec()
}

fn inline_pipeline() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..COMMANDS {
        if i % 2 == 0 {
            out.extend_from_slice(format!("SET key:{i:06} {}\r\n", "v".repeat(32)).as_bytes());
        } else {
            out.extend_from_slice(format!("GET key:{i:06}\r\n").as_bytes());
        }
    }
    out
}

fn parse_all(parser: &mut RequestParser, buf: &mut BytesMut) -> usize {
    let mut n = 0;
    while let Some(req) = parser.parse(buf).expect("valid pipeline") {
        black_box(&req);
        n += 1;
    }
    n
}

/// Feeds `input` in `chunk`-byte reads, as a connection would see it.
fn parse_chunked(input: &[u8], chunk: usize) -> usize {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::with_capacity(chunk * 2);
    let mut n = 0;
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        n += parse_all(&mut parser, &mut buf);
    }
    n
}

fn bench(c: &mut Criterion) {
    let input = pipeline(32);
    let big = pipeline(1024);
    let inline = inline_pipeline();

    let mut by_commands = c.benchmark_group("commands");
    by_commands.throughput(Throughput::Elements(COMMANDS as u64));
    by_commands.bench_function("multibulk_whole", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                let n = parse_all(&mut RequestParser::default(), &mut buf);
                assert_eq!(n, COMMANDS);
            },
            BatchSize::LargeInput,
        )
    });
    by_commands.bench_function("multibulk_16k_reads", |b| {
        b.iter(|| assert_eq!(parse_chunked(&input, 16 * 1024), COMMANDS))
    });
    by_commands.bench_function("inline_whole", |b| {
        b.iter_batched(
            || BytesMut::from(&inline[..]),
            |mut buf| {
                let n = parse_all(&mut RequestParser::default(), &mut buf);
                assert_eq!(n, COMMANDS);
            },
            BatchSize::LargeInput,
        )
    });
    by_commands.finish();

    let mut by_bytes = c.benchmark_group("bytes");
    by_bytes.throughput(Throughput::Bytes(input.len() as u64));
    by_bytes.bench_function("multibulk_whole", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| parse_all(&mut RequestParser::default(), &mut buf),
            BatchSize::LargeInput,
        )
    });
    // The baseline: one pass finding every `\n`, doing nothing with them.
    by_bytes.bench_function("memchr_newline_scan", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&input)).count())
    });
    by_bytes.finish();

    // Bulk bodies are skipped, not scanned: with 1 KiB values the cost per byte falls, and the
    // same one-pass memchr baseline shows how far a byte-scanning parser would be behind.
    let mut big_values = c.benchmark_group("bytes_1k_values");
    big_values.throughput(Throughput::Bytes(big.len() as u64));
    big_values.bench_function("multibulk_16k_reads", |b| {
        b.iter(|| assert_eq!(parse_chunked(&big, 16 * 1024), COMMANDS))
    });
    big_values.bench_function("memchr_newline_scan", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&big)).count())
    });
    big_values.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
