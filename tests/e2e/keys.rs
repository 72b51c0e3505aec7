//! Generic key commands: DEL, EXISTS, TYPE, the EXPIRE family, KEYS, SCAN, RENAME, COPY.

use std::collections::HashSet;

use kvd_tests::*;

const NOT_INT: &str = "ERR value is not an integer or out of range";

fn four_workers() -> TestServer {
    TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    })
}

#[test]
fn del_unlink_exists_touch_type() {
    let server = four_workers();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), OK);
    // Counts are per distinct key that existed; keys span shards.
    assert_reply!(c.cmd(&["DEL", "a", "b", "nope"]), int(2));
    assert_reply!(c.cmd(&["DEL", "a"]), int(0));
    assert_reply!(c.cmd(&["UNLINK", "c", "nope"]), int(1));
    assert_reply!(
        c.cmd(&["DEL"]),
        err("ERR wrong number of arguments for 'del' command")
    );
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2"]), OK);
    // EXISTS counts a repeated key each time it is named.
    assert_reply!(c.cmd(&["EXISTS", "a", "a", "b", "nope"]), int(3));
    assert_reply!(c.cmd(&["EXISTS", "nope"]), int(0));
    assert_reply!(c.cmd(&["TOUCH", "a", "b", "nope"]), int(2));
    assert_reply!(c.cmd(&["TYPE", "a"]), b"+string\r\n");
    assert_reply!(c.cmd(&["TYPE", "nope"]), b"+none\r\n");

    // A key named twice is deleted once (DEL/UNLINK count removed keys) but counted twice by
    // EXISTS and TOUCH (they count arguments).
    assert_reply!(c.cmd(&["DEL", "a", "a"]), int(1));
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["UNLINK", "a", "a", "b", "b"]), int(2));
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["TOUCH", "a", "a"]), int(2));
    // MSETNX with a repeated new key succeeds and the last value wins.
    assert_reply!(c.cmd(&["MSETNX", "n", "1", "n", "2"]), int(1));
    assert_reply!(c.cmd(&["GET", "n"]), bulk("2"));
}

#[test]
fn rename_is_atomic_across_shards() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    let [a, b] = <[String; 2]>::try_from(keys_on_different_shards("mv", 2, workers)).unwrap();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", &a, "v"]), OK);
    let addr = server.addr();
    let (ma, mb) = (a.clone(), b.clone());
    let mover = std::thread::spawn(move || {
        let mut m = RawConn::connect(addr);
        for _ in 0..300 {
            assert_reply!(m.cmd(&["RENAME", &ma, &mb]), OK);
            assert_reply!(m.cmd(&["RENAME", &mb, &ma]), OK);
        }
    });
    // RENAME is atomic: at every moment exactly one of the two names exists, so a multi-key
    // EXISTS (and DBSIZE) never sees zero or two.
    let mut reads = 0;
    while !mover.is_finished() || reads < 100 {
        assert_reply!(c.cmd(&["EXISTS", &a, &b]), int(1), "after {reads} reads");
        assert_reply!(c.cmd(&["DBSIZE"]), int(1), "after {reads} reads");
        reads += 1;
    }
    mover.join().unwrap();
}

#[test]
fn expire_family_with_conditions() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["EXPIRE", "nope", "10"]), int(0));
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2"]), OK);
    assert_reply!(c.cmd(&["TTL", "a"]), int(-1));
    assert_reply!(c.cmd(&["PTTL", "a"]), int(-1));
    assert_reply!(c.cmd(&["TTL", "nope"]), int(-2));
    assert_reply!(c.cmd(&["PTTL", "nope"]), int(-2));

    assert_reply!(c.cmd(&["EXPIRE", "a", "100"]), int(1));
    assert_reply!(c.cmd(&["EXPIRE", "a", "100", "NX"]), int(0));
    assert_reply!(c.cmd(&["EXPIRE", "a", "200", "XX"]), int(1));
    assert_reply!(c.cmd(&["EXPIRE", "a", "50", "GT"]), int(0));
    assert_reply!(c.cmd(&["EXPIRE", "a", "500", "gt"]), int(1));
    assert_reply!(c.cmd(&["TTL", "a"]), int(500));
    assert_reply!(c.cmd(&["EXPIRE", "a", "600", "LT"]), int(0));
    assert_reply!(c.cmd(&["EXPIRE", "a", "5", "LT"]), int(1));
    assert_reply!(c.cmd(&["TTL", "a"]), int(5));
    // A key without a TTL counts as an infinite TTL: GT never applies, LT always does.
    assert_reply!(c.cmd(&["EXPIRE", "b", "10", "XX"]), int(0));
    assert_reply!(c.cmd(&["EXPIRE", "b", "10", "GT"]), int(0));
    assert_reply!(c.cmd(&["TTL", "b"]), int(-1));
    assert_reply!(c.cmd(&["EXPIRE", "b", "10", "LT"]), int(1));
    assert_reply!(c.cmd(&["TTL", "b"]), int(10));
    assert_reply!(c.cmd(&["EXPIRE", "b", "100", "NX"]), int(0));

    assert_reply!(
        c.cmd(&["EXPIRE", "a", "10", "FOO"]),
        err("ERR Unsupported option FOO")
    );
    assert_reply!(
        c.cmd(&["EXPIRE", "a", "10", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_reply!(
        c.cmd(&["EXPIRE", "a", "10", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_reply!(
        c.cmd(&["EXPIRE", "a", "10", "NX", "GT"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_reply!(c.cmd(&["EXPIRE", "a", "abc"]), err(NOT_INT));
    assert_reply!(
        c.cmd(&["EXPIRE", "a", "9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_reply!(
        c.cmd(&["PEXPIRE", "a", "9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_reply!(
        c.cmd(&["EXPIREAT", "a", "9223372036854775807"]),
        err("ERR invalid expire time in 'expireat' command")
    );

    // TTL rounds the remaining milliseconds to the nearest second rather than truncating:
    // 1,950 ms (minus the round trip) is reported as 2 s, 100,950 ms as 101 s. The 450 ms
    // margin keeps this exact on a busy machine.
    assert_reply!(c.cmd(&["SET", "r", "v", "PX", "1950"]), OK);
    assert_reply!(c.cmd(&["TTL", "r"]), int(2));
    assert_reply!(c.cmd(&["PEXPIRE", "r", "100950"]), int(1));
    assert_reply!(c.cmd(&["TTL", "r"]), int(101));
    // Limits: an absolute time is fine up to i64::MAX milliseconds, but a relative one that
    // overflows when added to now, or any negative overflow, is invalid.
    assert_reply!(c.cmd(&["SET", "big", "v"]), OK);
    assert_reply!(c.cmd(&["EXPIREAT", "big", "9223372036854775"]), int(1));
    assert_reply!(c.cmd(&["PEXPIREAT", "big", "9223372036854775807"]), int(1));
    assert_reply!(c.cmd(&["PEXPIRETIME", "big"]), int(i64::MAX));
    assert_reply!(
        c.cmd(&["EXPIRE", "big", "9223372036854775"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_reply!(
        c.cmd(&["EXPIRE", "big", "-9223372036854775808"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_reply!(c.cmd(&["EXISTS", "big"]), int(1));
    assert_reply!(c.cmd(&["PEXPIRE", "a", "100000"]), int(1));
    let pttl = as_int(&c.cmd(&["PTTL", "a"]));
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_reply!(c.cmd(&["EXPIREAT", "a", "9999999999"]), int(1));
    assert_reply!(c.cmd(&["EXPIRETIME", "a"]), int(9_999_999_999));
    assert_reply!(c.cmd(&["PEXPIRETIME", "a"]), int(9_999_999_999_000));
    assert_reply!(c.cmd(&["PEXPIREAT", "a", "9999999999123"]), int(1));
    // EXPIRETIME truncates milliseconds.
    assert_reply!(c.cmd(&["EXPIRETIME", "a"]), int(9_999_999_999));
    assert_reply!(c.cmd(&["PEXPIRETIME", "a"]), int(9_999_999_999_123));
    assert_reply!(c.cmd(&["EXPIRETIME", "nope"]), int(-2));
    assert_reply!(c.cmd(&["PEXPIRETIME", "nope"]), int(-2));
    assert_reply!(c.cmd(&["SET", "p", "1"]), OK);
    assert_reply!(c.cmd(&["EXPIRETIME", "p"]), int(-1));
    assert_reply!(c.cmd(&["PEXPIRETIME", "p"]), int(-1));

    assert_reply!(c.cmd(&["PERSIST", "a"]), int(1));
    assert_reply!(c.cmd(&["PERSIST", "a"]), int(0));
    assert_reply!(c.cmd(&["PERSIST", "nope"]), int(0));
    assert_reply!(c.cmd(&["TTL", "a"]), int(-1));

    // A non-positive relative TTL or a past absolute time deletes the key at once, reply 1.
    assert_reply!(c.cmd(&["EXPIRE", "a", "-1"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "a"]), int(0));
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["EXPIREAT", "a", "1"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "a"]), int(0));
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["PEXPIRE", "a", "0"]), int(1));
    assert_reply!(c.cmd(&["GET", "a"]), NIL);
}

#[test]
fn keys_glob_patterns() {
    let server = four_workers();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["KEYS", "*"]), b"*0\r\n");
    assert_reply!(
        c.cmd(&[
            "MSET", "hello", "1", "hallo", "2", "hxllo", "3", "hllo", "4", "heeeello", "5",
            "h*llo", "6", "other", "7",
        ]),
        OK
    );
    // Order is unspecified: compare as sets.
    let keys = |c: &mut RawConn, pattern: &str| -> HashSet<String> {
        bulk_items(&c.cmd(&["KEYS", pattern]))
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect()
    };
    let set = |items: &[&str]| -> HashSet<String> { items.iter().map(|s| s.to_string()).collect() };
    assert_eq!(
        keys(&mut c, "h?llo"),
        set(&["hello", "hallo", "hxllo", "h*llo"])
    );
    assert_eq!(
        keys(&mut c, "h*llo"),
        set(&["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo"])
    );
    assert_eq!(keys(&mut c, "h[ae]llo"), set(&["hello", "hallo"]));
    assert_eq!(keys(&mut c, "h[^e]llo"), set(&["hallo", "hxllo", "h*llo"]));
    assert_eq!(keys(&mut c, "h[a-b]llo"), set(&["hallo"]));
    assert_eq!(keys(&mut c, "h\\*llo"), set(&["h*llo"]));
    assert_eq!(keys(&mut c, "*").len(), 7);
    assert_eq!(keys(&mut c, "nomatch*"), set(&[]));
}

/// Parses a SCAN reply into (next cursor, keys).
fn scan_reply(reply: &[u8]) -> (String, Vec<String>) {
    // *2\r\n $cursor \r\n *N ...
    let rest = &reply[4..];
    assert!(
        reply.starts_with(b"*2\r\n"),
        "{:?}",
        String::from_utf8_lossy(reply)
    );
    let cursor_len = frame_len(rest).unwrap().unwrap();
    let cursor = String::from_utf8(bulk_payload(&rest[..cursor_len])).unwrap();
    let keys = bulk_items(&rest[cursor_len..])
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    (cursor, keys)
}

#[test]
fn scan_returns_every_key_while_keys_are_added() {
    let server = four_workers();
    let mut c = server.conn();
    let mut writer = server.conn();
    for i in 0..1000 {
        writer.send_cmd(&["SET", &format!("old:{i}"), "v"]);
    }
    for _ in 0..1000 {
        assert_reply!(writer.read_reply(), OK);
    }
    // A few keys outside the "old:" set are deleted during the scan; they may or may not be
    // returned, but deleting them must not make the scan skip any key that stays.
    for i in 0..100 {
        writer.send_cmd(&["SET", &format!("doomed:{i}"), "v"]);
    }
    for _ in 0..100 {
        assert_reply!(writer.read_reply(), OK);
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        let (next, keys) = scan_reply(&c.cmd(&["SCAN", &cursor, "COUNT", "50"]));
        seen.extend(keys);
        // Keys added during the scan may or may not be returned; the old ones must be.
        for j in 0..20 {
            writer.send_cmd(&["SET", &format!("new:{round}:{j}"), "v"]);
        }
        writer.send_cmd(&["DEL", &format!("doomed:{round}")]);
        for _ in 0..20 {
            assert_reply!(writer.read_reply(), OK);
        }
        assert_reply!(writer.read_reply(), int(i64::from(round < 100)));
        round += 1;
        assert!(round < 10_000, "SCAN never returned cursor 0");
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    for i in 0..1000 {
        assert!(seen.contains(&format!("old:{i}")), "SCAN missed old:{i}");
    }
    assert!(
        seen.iter()
            .all(|k| k.starts_with("old:") || k.starts_with("new:") || k.starts_with("doomed:"))
    );
}

#[test]
fn scan_match_count_type() {
    let server = four_workers();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SCAN", "0"]), b"*2\r\n$1\r\n0\r\n*0\r\n");
    for i in 0..100 {
        c.cmd(&["SET", &format!("user:{i}"), "v"]);
        c.cmd(&["SET", &format!("item:{i}"), "v"]);
    }
    let walk = |c: &mut RawConn, extra: &[&str]| -> Vec<String> {
        let mut all = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let mut cmd = vec!["SCAN", cursor.as_str()];
            cmd.extend_from_slice(extra);
            let (next, keys) = scan_reply(&c.cmd(&cmd));
            all.extend(keys);
            cursor = next;
            if cursor == "0" {
                return all;
            }
        }
    };
    let users: HashSet<String> = walk(&mut c, &["MATCH", "user:*", "COUNT", "7"])
        .into_iter()
        .collect();
    assert_eq!(users, (0..100).map(|i| format!("user:{i}")).collect());
    let every: HashSet<String> = walk(&mut c, &["COUNT", "1000"]).into_iter().collect();
    assert_eq!(every.len(), 200);
    let strings: HashSet<String> = walk(&mut c, &["TYPE", "string", "MATCH", "item:1?"])
        .into_iter()
        .collect();
    assert_eq!(strings, (10..20).map(|i| format!("item:{i}")).collect());
    assert!(walk(&mut c, &["TYPE", "list"]).is_empty());

    assert_reply!(c.cmd(&["SCAN", "abc"]), err("ERR invalid cursor"));
    assert_reply!(c.cmd(&["SCAN", "0", "COUNT", "0"]), err("ERR syntax error"));
    assert_reply!(c.cmd(&["SCAN", "0", "COUNT", "x"]), err(NOT_INT));
    assert_reply!(c.cmd(&["SCAN", "0", "MATCH"]), err("ERR syntax error"));
    assert_reply!(c.cmd(&["SCAN", "0", "FOO", "1"]), err("ERR syntax error"));
}

#[test]
fn randomkey() {
    let server = four_workers();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["RANDOMKEY"]), NIL);
    assert_reply!(c.cmd(&["SET", "only", "1"]), OK);
    assert_reply!(c.cmd(&["RANDOMKEY"]), bulk("only"));
    for i in 0..20 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    // Every answer is an existing key.
    for _ in 0..50 {
        let key = bulk_payload(&c.cmd(&["RANDOMKEY"]));
        assert_reply!(c.cmd(&[&b"EXISTS"[..], &key]), int(1));
    }
}

#[test]
fn rename_and_renamenx_across_shards() {
    let server = four_workers();
    let mut c = server.conn();
    let [a, b] = <[String; 2]>::try_from(keys_on_different_shards("ren", 2, 4)).unwrap();
    assert_reply!(c.cmd(&["RENAME", "nope", "x"]), err("ERR no such key"));
    assert_reply!(c.cmd(&["SET", &a, "1", "EX", "100"]), OK);
    assert_reply!(c.cmd(&["RENAME", &a, &b]), OK);
    assert_reply!(c.cmd(&["EXISTS", &a]), int(0));
    assert_reply!(c.cmd(&["GET", &b]), bulk("1"));
    // The TTL moves with the value.
    assert_reply!(c.cmd(&["TTL", &b]), int(100));
    // Renaming onto itself is fine when the key exists.
    assert_reply!(c.cmd(&["RENAME", &b, &b]), OK);
    assert_reply!(c.cmd(&["GET", &b]), bulk("1"));
    // RENAME overwrites and drops the destination's TTL state.
    assert_reply!(c.cmd(&["SET", &a, "2"]), OK);
    assert_reply!(c.cmd(&["RENAME", &a, &b]), OK);
    assert_reply!(c.cmd(&["GET", &b]), bulk("2"));
    assert_reply!(c.cmd(&["TTL", &b]), int(-1));
    assert_reply!(c.cmd(&["DBSIZE"]), int(1));

    assert_reply!(c.cmd(&["SET", &a, "3"]), OK);
    assert_reply!(c.cmd(&["RENAMENX", &a, &b]), int(0));
    assert_reply!(c.cmd(&["GET", &a]), bulk("3"));
    assert_reply!(c.cmd(&["DEL", &b]), int(1));
    assert_reply!(c.cmd(&["RENAMENX", &a, &b]), int(1));
    assert_reply!(c.cmd(&["GET", &b]), bulk("3"));
    assert_reply!(c.cmd(&["EXISTS", &a]), int(0));
    assert_reply!(c.cmd(&["RENAMENX", &b, &b]), int(0));
    assert_reply!(c.cmd(&["RENAMENX", "nope", "x"]), err("ERR no such key"));
}

#[test]
fn copy_across_shards_and_databases() {
    let server = four_workers();
    let mut c = server.conn();
    let [src, dst] = <[String; 2]>::try_from(keys_on_different_shards("cp", 2, 4)).unwrap();
    assert_reply!(c.cmd(&["COPY", "nope", &dst]), int(0));
    assert_reply!(c.cmd(&["SET", &src, "v", "EX", "100"]), OK);
    assert_reply!(c.cmd(&["COPY", &src, &dst]), int(1));
    assert_reply!(c.cmd(&["GET", &dst]), bulk("v"));
    assert_reply!(c.cmd(&["GET", &src]), bulk("v"));
    // The copy carries the TTL.
    assert!(as_int(&c.cmd(&["TTL", &dst])) > 90);
    assert_reply!(c.cmd(&["SET", &src, "w"]), OK);
    assert_reply!(c.cmd(&["COPY", &src, &dst]), int(0));
    assert_reply!(c.cmd(&["GET", &dst]), bulk("v"));
    assert_reply!(c.cmd(&["COPY", &src, &dst, "REPLACE"]), int(1));
    assert_reply!(c.cmd(&["GET", &dst]), bulk("w"));
    assert_reply!(c.cmd(&["TTL", &dst]), int(-1));

    assert_reply!(c.cmd(&["COPY", &src, &dst, "DB", "1"]), int(1));
    c.cmd(&["SELECT", "1"]);
    assert_reply!(c.cmd(&["GET", &dst]), bulk("w"));
    c.cmd(&["SELECT", "0"]);

    assert_reply!(
        c.cmd(&["COPY", &src, &src]),
        err("ERR source and destination objects are the same")
    );
    assert_reply!(c.cmd(&["COPY", &src, &dst, "DB", "x"]), err(NOT_INT));
    assert_reply!(
        c.cmd(&["COPY", &src, &dst, "DB", "99"]),
        err("ERR DB index is out of range")
    );
    assert_reply!(c.cmd(&["COPY", &src, &dst, "FOO"]), err("ERR syntax error"));
}
