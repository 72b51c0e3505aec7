//! Round trips of every type and encoding, and files written by redis-server 7.0.15.
use std::collections::BTreeMap;

use super::reader::{RdbEntry, listpack_items, ziplist_items};
use super::*;

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

/// Every value kind, with strings that hit each string encoding.
fn dataset() -> Vec<(Vec<u8>, RdbValue, Option<i64>)> {
    let long = vec![b'x'; 5000];
    let mut varied: Vec<u8> = (0..3000u32).map(|i| (i * 31 % 253) as u8).collect();
    varied.extend_from_slice(b"tail");
    vec![
        (s("plain"), RdbValue::String(s("hello")), None),
        (s("empty"), RdbValue::String(Vec::new()), None),
        (s("i8"), RdbValue::String(s("-128")), None),
        (s("i16"), RdbValue::String(s("32767")), None),
        (s("i32"), RdbValue::String(s("-2147483648")), None),
        (s("i64"), RdbValue::String(s("9223372036854775807")), None),
        (s("not-canonical"), RdbValue::String(s("007")), None),
        (
            s("compressed"),
            RdbValue::String(long.clone()),
            Some(4102444800000),
        ),
        (s("binary"), RdbValue::String(varied.clone()), None),
        (s("len14"), RdbValue::String(vec![b'q'; 100]), None),
        (
            s("list"),
            RdbValue::List(vec![s("a"), s("1"), long.clone(), s(""), vec![b'z'; 70]]),
            Some(4102444800001),
        ),
        (
            s("biglist"),
            RdbValue::List(
                (0..1000)
                    .map(|i| format!("item-{i}").into_bytes())
                    .collect(),
            ),
            None,
        ),
        (
            s("set"),
            RdbValue::Set(vec![s("x"), s("-5"), long.clone()]),
            None,
        ),
        (
            s("zset"),
            RdbValue::SortedSet(vec![
                (s("lo"), f64::NEG_INFINITY),
                (s("a"), -1.5),
                (s("b"), 0.1),
                (s("hi"), f64::INFINITY),
            ]),
            None,
        ),
        (
            s("hash"),
            RdbValue::Hash(vec![(s("f"), s("v")), (s("n"), s("12")), (s("big"), long)]),
            None,
        ),
    ]
}

fn write_file(entries: &[(Vec<u8>, RdbValue, Option<i64>)], db: usize) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), 1_700_000_000, 1 << 20).unwrap();
    let expires = entries.iter().filter(|e| e.2.is_some()).count() as u64;
    w.select_db(db, entries.len() as u64, expires).unwrap();
    for (k, v, e) in entries {
        w.entry(k, v, *e).unwrap();
    }
    w.finish().unwrap()
}

#[test]
fn every_type_round_trips_through_a_file() {
    let data = dataset();
    let file = write_file(&data, 3);
    assert_eq!(&file[..9], b"REDIS0010");
    let read = read_rdb(&file).unwrap();
    assert_eq!(read.len(), data.len());
    for (entry, (k, v, e)) in read.iter().zip(&data) {
        assert_eq!(entry.db, 3);
        assert_eq!(&entry.key, k);
        assert_eq!(&entry.value, v, "{}", String::from_utf8_lossy(k));
        assert_eq!(&entry.expire_at, e);
    }
}

#[test]
fn strings_use_redis_encodings() {
    let enc = |v: &str| {
        let mut buf = Vec::new();
        writer::put_string(&mut buf, v.as_bytes());
        buf
    };
    assert_eq!(enc("-128"), [0xc0, 0x80]);
    assert_eq!(enc("300"), [0xc1, 0x2c, 0x01]);
    assert_eq!(enc("70000"), [0xc2, 0x70, 0x11, 0x01, 0x00]);
    assert_eq!(enc("9999999999"), b"\x0a9999999999");
    assert_eq!(enc("abc"), b"\x03abc");
    let long = enc(&"a".repeat(300));
    assert_eq!(long[0], 0xc3, "compressed");
    let mut buf = vec![0u8; 0];
    writer::put_len(&mut buf, 100);
    writer::put_len(&mut buf, 20000);
    assert_eq!(buf, [0x40, 100, 0x80, 0, 0, 0x4e, 0x20]);
}

#[test]
fn a_flipped_byte_fails_the_checksum() {
    let mut file = write_file(&dataset(), 0);
    let at = file.len() / 2;
    file[at] ^= 0x40;
    assert!(read_rdb(&file).is_err());
    // A zero checksum means "not computed" and is accepted, as by Redis.
    let mut file = write_file(&dataset(), 0);
    let n = file.len();
    file[n - 8..].fill(0);
    assert_eq!(read_rdb(&file).unwrap().len(), dataset().len());
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let file = write_file(&dataset(), 0);
    // Every cut near the start and end, and a sample in between, keeps the test fast.
    let n = file.len();
    let cuts = (0..n.min(300))
        .chain((300..n).step_by(97))
        .chain(n.saturating_sub(300)..n);
    for cut in cuts {
        assert!(read_rdb(&file[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn dump_payloads_round_trip_and_check() {
    for (_, v, _) in dataset() {
        let payload = encode_dump(&v);
        assert_eq!(decode_dump(&payload).unwrap(), v);
        let mut bad = payload.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(matches!(decode_dump(&bad), Err(None)));
    }
    assert!(matches!(decode_dump(b"short"), Err(None)));
}

#[test]
fn dump_of_a_string_is_byte_for_byte_redis() {
    // `DUMP str` on redis-server 7.0.15 after `SET str hello`.
    assert_eq!(
        encode_dump(&RdbValue::String(s("hello"))),
        b"\x00\x05hello\n\x00cr\xdfve4 \n"
    );
}

#[test]
fn redis_dump_payloads_decode() {
    let list = include_bytes!("../../tests/fixtures/dump-list.bin");
    assert_eq!(
        decode_dump(list).unwrap(),
        RdbValue::List(["a", "b", "c", "1", "2", "300", "-5"].map(s).to_vec())
    );
    let long = include_bytes!("../../tests/fixtures/dump-long.bin");
    assert_eq!(
        decode_dump(long).unwrap(),
        RdbValue::String(vec![b'a'; 300])
    );
    let zset = include_bytes!("../../tests/fixtures/dump-zset.bin");
    assert_eq!(
        decode_dump(zset).unwrap(),
        RdbValue::SortedSet(vec![
            (s("c"), f64::NEG_INFINITY),
            (s("a"), 1.0),
            (s("b"), 2.5)
        ])
    );
}

/// Sorted, so files from Redis (whose set and hash order is its hash tables') compare.
fn normalized(entries: Vec<RdbEntry>) -> BTreeMap<(usize, Vec<u8>), (String, Option<i64>)> {
    entries
        .into_iter()
        .map(|e| {
            let v = match e.value {
                RdbValue::Set(mut m) => {
                    m.sort();
                    format!("{:?}", RdbValue::Set(m))
                }
                RdbValue::Hash(mut p) => {
                    p.sort();
                    format!("{:?}", RdbValue::Hash(p))
                }
                v => format!("{v:?}"),
            };
            ((e.db, e.key), (v, e.expire_at))
        })
        .collect()
}

fn expected_fixture() -> BTreeMap<(usize, Vec<u8>), (String, Option<i64>)> {
    let mut set = ["x", "y", "z"].map(s).to_vec();
    set.sort();
    let mut intset = ["1", "2", "3", "-100", "70000"].map(s).to_vec();
    intset.sort();
    let entries = vec![
        (0, "str", RdbValue::String(s("hello")), None),
        (0, "int", RdbValue::String(s("12345")), None),
        (0, "neg", RdbValue::String(s("-7")), None),
        (0, "big", RdbValue::String(s("9999999999")), None),
        (0, "long", RdbValue::String(vec![b'a'; 300]), None),
        (0, "ttl", RdbValue::String(s("v")), Some(4102444800000)),
        (
            0,
            "list",
            RdbValue::List(["a", "b", "c", "1", "2", "300", "-5"].map(s).to_vec()),
            None,
        ),
        (0, "intset", RdbValue::Set(intset), None),
        (0, "set", RdbValue::Set(set), None),
        (
            0,
            "zset",
            RdbValue::SortedSet(vec![
                (s("c"), f64::NEG_INFINITY),
                (s("a"), 1.0),
                (s("b"), 2.5),
            ]),
            None,
        ),
        (
            0,
            "hash",
            RdbValue::Hash(vec![(s("f1"), s("v1")), (s("f2"), s("2"))]),
            None,
        ),
        (2, "indb2", RdbValue::String(s("x")), Some(4102444800000)),
    ];
    entries
        .into_iter()
        .map(|(db, k, v, e)| ((db, s(k)), (format!("{v:?}"), e)))
        .collect()
}

#[test]
fn reads_redis_7_files_in_compact_encodings() {
    // Written by redis-server 7.0.15 with default settings: listpacks, intsets, quicklist 2.
    let file = include_bytes!("../../tests/fixtures/small.rdb");
    assert_eq!(normalized(read_rdb(file).unwrap()), expected_fixture());
}

#[test]
fn reads_redis_7_files_in_plain_encodings() {
    // Written with hash/zset/set compact encodings disabled and 2-element list nodes.
    let file = include_bytes!("../../tests/fixtures/plain.rdb");
    assert_eq!(normalized(read_rdb(file).unwrap()), expected_fixture());
}

/// A ziplist as Redis before 7.0 wrote it (test-only encoder).
fn ziplist(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    for item in items {
        let start = body.len();
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xfe);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match std::str::from_utf8(item)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
        {
            Some(n @ 0..=12) => body.push(0xf1 + n as u8),
            Some(n) if i8::try_from(n).is_ok() => body.extend_from_slice(&[0xfe, n as u8]),
            Some(n) if i16::try_from(n).is_ok() => {
                body.push(0xc0);
                body.extend_from_slice(&(n as i16).to_le_bytes());
            }
            Some(n) if (-(1 << 23)..(1 << 23)).contains(&n) => {
                body.push(0xf0);
                body.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
            }
            Some(n) if i32::try_from(n).is_ok() => {
                body.push(0xd0);
                body.extend_from_slice(&(n as i32).to_le_bytes());
            }
            Some(n) => {
                body.push(0xe0);
                body.extend_from_slice(&n.to_le_bytes());
            }
            None if item.len() < 64 => {
                body.push(item.len() as u8);
                body.extend_from_slice(item);
            }
            None if item.len() < 16384 => {
                body.push(0x40 | (item.len() >> 8) as u8);
                body.push(item.len() as u8);
                body.extend_from_slice(item);
            }
            None => {
                body.push(0x80);
                body.extend_from_slice(&(item.len() as u32).to_be_bytes());
                body.extend_from_slice(item);
            }
        }
        prev = body.len() - start;
    }
    let mut zl = Vec::new();
    zl.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
    zl.extend_from_slice(&[0; 4]);
    zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xff);
    zl
}

#[test]
fn reads_ziplists_of_every_entry_encoding() {
    let long = vec![b'L'; 300];
    let huge = vec![b'H'; 20000];
    let items: Vec<&[u8]> = vec![
        b"7",
        b"-3",
        b"1000",
        b"-100000",
        b"2000000000",
        b"-9000000000",
        b"str",
        &long,
        &huge,
    ];
    assert_eq!(
        ziplist_items(&ziplist(&items)).unwrap(),
        items.iter().map(|i| i.to_vec()).collect::<Vec<_>>()
    );
}

/// A file with one key of type `t` whose value is the string `payload`.
fn file_with(t: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = b"REDIS0009".to_vec();
    body.push(t);
    writer::put_string(&mut body, b"k");
    writer::put_string(&mut body, payload);
    body.push(opcodes::EOF);
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn only_value(file: &[u8]) -> RdbValue {
    read_rdb(file).unwrap().remove(0).value
}

#[test]
fn reads_pre_7_encodings() {
    let zl = ziplist(&[b"a", b"1", b"b", b"2.5"]);
    assert_eq!(
        only_value(&file_with(types::ZSET_ZIPLIST, &zl)),
        RdbValue::SortedSet(vec![(s("a"), 1.0), (s("b"), 2.5)])
    );
    assert_eq!(
        only_value(&file_with(types::HASH_ZIPLIST, &zl)),
        RdbValue::Hash(vec![(s("a"), s("1")), (s("b"), s("2.5"))])
    );
    assert_eq!(
        only_value(&file_with(types::LIST_ZIPLIST, &zl)),
        RdbValue::List(["a", "1", "b", "2.5"].map(s).to_vec())
    );
    // Intset of 16-bit members.
    let mut is = vec![2, 0, 0, 0, 2, 0, 0, 0];
    is.extend_from_slice(&(-2i16).to_le_bytes());
    is.extend_from_slice(&300i16.to_le_bytes());
    assert_eq!(
        only_value(&file_with(types::SET_INTSET, &is)),
        RdbValue::Set(vec![s("-2"), s("300")])
    );
    // Zipmap {"f": "vv"} with one free byte after the value.
    let zm = [1, 1, b'f', 2, 1, b'v', b'v', 0, 0xff];
    assert_eq!(
        only_value(&file_with(types::HASH_ZIPMAP, &zm)),
        RdbValue::Hash(vec![(s("f"), s("vv"))])
    );
    // Quicklist (v1) of two ziplists.
    let mut body = b"REDIS0009".to_vec();
    body.push(types::LIST_QUICKLIST);
    writer::put_string(&mut body, b"k");
    writer::put_len(&mut body, 2);
    writer::put_string(&mut body, &ziplist(&[b"a", b"b"]));
    writer::put_string(&mut body, &ziplist(&[b"-1"]));
    // ZSET v1 with text scores, and an expiry in seconds.
    body.push(opcodes::EXPIRETIME);
    body.extend_from_slice(&2_000_000_000i32.to_le_bytes());
    body.push(types::ZSET);
    writer::put_string(&mut body, b"z");
    writer::put_len(&mut body, 2);
    writer::put_string(&mut body, b"hi");
    body.push(254);
    writer::put_string(&mut body, b"x");
    body.extend_from_slice(b"\x031.5");
    body.push(opcodes::EOF);
    let crc = crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    let read = read_rdb(&body).unwrap();
    assert_eq!(
        read[0].value,
        RdbValue::List(["a", "b", "-1"].map(s).to_vec())
    );
    assert_eq!(
        read[1].value,
        RdbValue::SortedSet(vec![(s("x"), 1.5), (s("hi"), f64::INFINITY)])
    );
    assert_eq!(read[1].expire_at, Some(2_000_000_000_000));
}

#[test]
fn reads_listpack_integer_encodings() {
    // 7-bit, 13-bit, 16/24/32/64-bit integers and a 12-bit string, as Redis 7 writes them.
    let mut lp = vec![0u8; 6];
    let push = |lp: &mut Vec<u8>, enc: &[u8]| {
        lp.extend_from_slice(enc);
        lp.push(enc.len() as u8);
    };
    push(&mut lp, &[5]);
    push(&mut lp, &[0xc0 | 0x1f, 0xff]); // -1 in 13 bits
    push(&mut lp, &[0xf1, 0x00, 0x80]); // -32768
    push(&mut lp, &[0xf2, 0xff, 0xff, 0x7f]); // 8388607
    push(&mut lp, &[0xf3, 0, 0, 0, 0x80]); // i32::MIN
    push(
        &mut lp,
        &[0xf4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    );
    // A 12-bit string header: 0xe0 | (len >> 8), then len & 0xff.
    let mut s12 = vec![0xe0, 100];
    s12.extend(std::iter::repeat_n(b'w', 100));
    lp.extend_from_slice(&s12);
    lp.push(102);
    lp.push(0xff);
    let n = lp.len() as u32;
    lp[..4].copy_from_slice(&n.to_le_bytes());
    assert_eq!(
        listpack_items(&lp).unwrap(),
        vec![
            s("5"),
            s("-1"),
            s("-32768"),
            s("8388607"),
            s("-2147483648"),
            s("9223372036854775807"),
            vec![b'w'; 100]
        ]
    );
}

/// `redis-check-rdb` (installed with redis-server, and in CI) accepts kvd's files.
#[test]
fn redis_check_rdb_accepts_kvd_files() {
    let Ok(status) = std::process::Command::new("redis-check-rdb")
        .arg("--version")
        .output()
    else {
        eprintln!("redis-check-rdb is not installed; skipping");
        return;
    };
    assert!(status.status.success() || !status.stdout.is_empty());
    let dir = std::env::temp_dir().join(format!("kvd-rdb-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kvd.rdb");
    std::fs::write(&path, write_file(&dataset(), 1)).unwrap();
    let out = std::process::Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("RDB looks OK!"), "{text}");
    assert!(
        text.contains("keys read: 15") || text.contains("15 keys read"),
        "{text}"
    );
}

/// Reads one RESP bulk reply (`$n\r\n...\r\n` or `$-1\r\n`).
fn read_bulk(r: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let n: i64 = line
        .trim_end()
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    if n < 0 {
        return None;
    }
    let mut buf = vec![0u8; n as usize + 2];
    r.read_exact(&mut buf).unwrap();
    buf.truncate(n as usize);
    Some(buf)
}

/// A file kvd writes loads in redis-server 7 with identical contents: every key's `DUMP` from
/// Redis decodes to the value kvd wrote, and its `PEXPIRETIME` is the one kvd wrote.
#[test]
fn redis_server_loads_kvd_files() {
    use std::io::{BufReader, Write};
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("redis-server is not installed; skipping");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kvd-rdb-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dataset();
    std::fs::write(dir.join("kvd.rdb"), write_file(&data, 0)).unwrap();
    let sock = dir.join("redis.sock");
    let mut child = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dbfilename",
            "kvd.rdb",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--unixsocket")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let stream = loop {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(s) => break s,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => {
                let _ = child.kill();
                panic!("redis-server did not start: {e}");
            }
        }
    };
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut failures = Vec::new();
    for (k, v, e) in &data {
        let cmd = |name: &str| {
            let mut c = format!("*2\r\n${}\r\n{name}\r\n${}\r\n", name.len(), k.len()).into_bytes();
            c.extend_from_slice(k);
            c.extend_from_slice(b"\r\n");
            c
        };
        w.write_all(&cmd("DUMP")).unwrap();
        let payload = read_bulk(&mut r);
        let got = payload.and_then(|p| decode_dump(&p).ok());
        let normal = |v: Option<RdbValue>| match v {
            Some(RdbValue::Set(mut m)) => {
                m.sort();
                Some(RdbValue::Set(m))
            }
            Some(RdbValue::Hash(mut p)) => {
                p.sort();
                Some(RdbValue::Hash(p))
            }
            v => v,
        };
        if normal(got.clone()) != normal(Some(v.clone())) {
            failures.push(format!("{}: {got:?}", String::from_utf8_lossy(k)));
        }
        w.write_all(&cmd("PEXPIRETIME")).unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut r, &mut line).unwrap();
        let want = match e {
            Some(at) => format!(":{at}\r\n"),
            None => ":-1\r\n".to_owned(),
        };
        if line != want {
            failures.push(format!(
                "{} pexpiretime {line:?}",
                String::from_utf8_lossy(k)
            ));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}
