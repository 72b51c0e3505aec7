//! Hash commands: every option, exact replies and exact errors.
//!
//! The replay tests run a script recorded from redis-server 7.0.15 (RESP2, then the same
//! script after `HELLO 3`) and compare every reply byte for byte.

use kvd_tests::*;

#[test]
fn replies_match_redis_resp2() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/hashes_resp2.rs");
    replay(&server, CASES, false);
}

#[test]
fn replies_match_redis_resp3() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/hashes_resp3.rs");
    replay(&server, CASES, true);
}

#[test]
fn wrongtype_and_emptied_hashes() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "s", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for args in [
        &["HSET", "s", "f", "v"][..],
        &["HSETNX", "s", "f", "v"],
        &["HGET", "s", "f"],
        &["HMGET", "s", "f"],
        &["HMSET", "s", "f", "v"],
        &["HDEL", "s", "f"],
        &["HEXISTS", "s", "f"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "f"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HGETALL", "s"],
        &["HINCRBY", "s", "f", "1"],
        &["HINCRBYFLOAT", "s", "f", "1"],
        &["HRANDFIELD", "s"],
        &["HSCAN", "s", "0"],
    ] {
        assert_reply!(c.cmd(args), wrong, "{args:?}");
    }
    assert_reply!(c.cmd(&["HSET", "h", "a", "1"]), int(1));
    assert_reply!(c.cmd(&["GET", "h"]), wrong);
    assert_reply!(c.cmd(&["TYPE", "h"]), b"+hash\r\n".to_vec());
    assert_reply!(c.cmd(&["HDEL", "h", "a"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "h"]), int(0));
}

#[test]
fn large_hashes_scan_and_pick_randomly() {
    let server = TestServer::start();
    let mut c = server.conn();
    let mut args = vec!["HSET".to_string(), "h".into()];
    for i in 0..1000 {
        args.extend([format!("f{i}"), format!("v{i}")]);
    }
    assert_reply!(c.cmd(&args), int(1000));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    // HSCAN returns every field once the cursor is back at 0.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let items = bulk_items_nested(&c.cmd(&["HSCAN", "h", &cursor, "COUNT", "50"]));
        cursor = items.0;
        for pair in items.1.chunks(2) {
            assert_eq!(pair[1], pair[0].replace('f', "v"));
            seen.insert(pair[0].clone());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 1000);
    // A positive count gives distinct fields, a negative one may repeat.
    let picked = bulk_items(&c.cmd(&["HRANDFIELD", "h", "20"]));
    let distinct: std::collections::HashSet<_> = picked.iter().collect();
    assert_eq!((picked.len(), distinct.len()), (20, 20));
    assert_eq!(
        bulk_items(&c.cmd(&["HRANDFIELD", "h", "-2000"])).len(),
        2000
    );
    let with = bulk_items(&c.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]));
    assert_eq!(with.len(), 10);
    assert_reply!(c.cmd(&["HLEN", "h"]), int(1000));
    assert_reply!(c.cmd(&["HGET", "h", "f999"]), bulk("v999"));
}

/// The cursor and the flat items of a `*SCAN` reply.
fn bulk_items_nested(reply: &[u8]) -> (String, Vec<String>) {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    // *2, $n, cursor, *m, then $len/value pairs.
    let cursor = lines[2].to_string();
    let items = lines[4..]
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| c[1].to_string())
        .collect();
    (cursor, items)
}

#[test]
fn encoding_thresholds_are_settings() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "hash-max-listpack-entries"]),
        bulk_array(&["hash-max-listpack-entries", "128"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "2"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "hash-max-listpack-entries"]),
        bulk_array(&["hash-max-listpack-entries", "2"])
    );
    assert_reply!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "h"]), bulk("listpack"));
    assert_reply!(c.cmd(&["HSET", "h", "c", "3"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "3"]),
        OK
    );
    assert_reply!(c.cmd(&["HSET", "h2", "abcd", "1"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "h2"]), bulk("hashtable"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "64"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "128"]),
        OK
    );
    // SCAN's TYPE filter knows hashes.
    assert_reply!(c.cmd(&["SET", "s", "x"]), OK);
    let keys = bulk_items_nested(&c.cmd(&["SCAN", "0", "TYPE", "hash", "COUNT", "1000"])).1;
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort();
    assert_eq!(keys, ["h", "h2"]);
}
