//! Hash commands: every option, exact replies and exact errors.
//!
//! The replay tests run a script recorded from redis-server 7.0.15 (RESP2, then the same
//! script after `HELLO 3`) and compare every reply byte for byte.

use kvd_tests::*;

/// Runs `cases` in order on a fresh connection (after `HELLO 3` if `resp3`), collecting every
/// mismatch.
fn replay(server: &TestServer, cases: &[(&[&str], &[u8])], resp3: bool) {
    let mut c = server.conn();
    if resp3 {
        c.cmd(&["HELLO", "3"]);
    }
    let mut failures = Vec::new();
    for (args, want) in cases {
        let got = c.cmd(args);
        if got != *want {
            failures.push(format!("{args:?}: {}", describe_mismatch(&got, want)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn replies_match_redis_resp2() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] = &[
        (&["HSET", "h", "f1", "v1", "f2", "v2"], b":2\r\n"),
        (&["HSET", "h", "f1", "x"], b":0\r\n"),
        (&["HGET", "h", "f1"], b"$1\r\nx\r\n"),
        (&["HGET", "h", "nope"], b"$-1\r\n"),
        (&["HGET", "nokey", "f"], b"$-1\r\n"),
        (&["HMGET", "h", "f1", "nope", "f2"], b"*3\r\n$1\r\nx\r\n$-1\r\n$2\r\nv2\r\n"),
        (&["HSETNX", "h", "f1", "y"], b":0\r\n"),
        (&["HSETNX", "h", "f3", "v3"], b":1\r\n"),
        (&["HLEN", "h"], b":3\r\n"),
        (&["HSTRLEN", "h", "f2"], b":2\r\n"),
        (&["HSTRLEN", "h", "nope"], b":0\r\n"),
        (&["HEXISTS", "h", "f1"], b":1\r\n"),
        (&["HEXISTS", "h", "zz"], b":0\r\n"),
        (&["HKEYS", "h"], b"*3\r\n$2\r\nf1\r\n$2\r\nf2\r\n$2\r\nf3\r\n"),
        (&["HVALS", "h"], b"*3\r\n$1\r\nx\r\n$2\r\nv2\r\n$2\r\nv3\r\n"),
        (&["HGETALL", "h"], b"*6\r\n$2\r\nf1\r\n$1\r\nx\r\n$2\r\nf2\r\n$2\r\nv2\r\n$2\r\nf3\r\n$2\r\nv3\r\n"),
        (&["HGETALL", "nokey"], b"*0\r\n"),
        (&["HKEYS", "nokey"], b"*0\r\n"),
        (&["HDEL", "h", "f3", "nope"], b":1\r\n"),
        (&["HINCRBY", "h", "n", "5"], b":5\r\n"),
        (&["HINCRBY", "h", "n", "-10"], b":-5\r\n"),
        (&["HINCRBY", "h", "f1", "1"], b"-ERR hash value is not an integer\r\n"),
        (&["HINCRBY", "h", "n", "x"], b"-ERR value is not an integer or out of range\r\n"),
        (&["HINCRBY", "h", "n", "9223372036854775807"], b":9223372036854775802\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "10.5"], b"$4\r\n10.5\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "0.1"], b"$4\r\n10.6\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "5.0e3"], b"$22\r\n5010.60000000000000009\r\n"),
        (&["HINCRBYFLOAT", "h", "f1", "1"], b"-ERR hash value is not a float\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "abc"], b"-ERR value is not a valid float\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "inf"], b"-ERR value is NaN or Infinity\r\n"),
        (&["HMSET", "h", "a", "1", "b", "2"], b"+OK\r\n"),
        (&["HMSET", "h", "a"], b"-ERR wrong number of arguments for 'hmset' command\r\n"),
        (&["HSET", "h", "a"], b"-ERR wrong number of arguments for 'hset' command\r\n"),
        (&["HGETALL", "h"], b"*12\r\n$2\r\nf1\r\n$1\r\nx\r\n$2\r\nf2\r\n$2\r\nv2\r\n$1\r\nn\r\n$19\r\n9223372036854775802\r\n$2\r\nfl\r\n$22\r\n5010.60000000000000009\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        (&["OBJECT", "ENCODING", "h"], b"$8\r\nlistpack\r\n"),
        (&["TYPE", "h"], b"+hash\r\n"),
        (&["HSET", "h", "big", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], b":1\r\n"),
        (&["OBJECT", "ENCODING", "h"], b"$9\r\nhashtable\r\n"),
        (&["HSCAN", "nokey", "0", "COUNT", "x"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["HSCAN", "h", "x"], b"-ERR invalid cursor\r\n"),
        (&["HRANDFIELD", "nokey"], b"$-1\r\n"),
        (&["HRANDFIELD", "nokey", "5"], b"*0\r\n"),
        (&["HRANDFIELD", "h", "1", "foo"], b"-ERR syntax error\r\n"),
        (&["HRANDFIELD", "h", "-9223372036854775808"], b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"),
        (&["HRANDFIELD", "h", "0"], b"*0\r\n"),
        (&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"], b"-ERR value is out of range\r\n"),
        (&["HSET", "hs", "f", "v"], b":1\r\n"),
        (&["HRANDFIELD", "hs"], b"$1\r\nf\r\n"),
        (&["HRANDFIELD", "hs", "-3"], b"*3\r\n$1\r\nf\r\n$1\r\nf\r\n$1\r\nf\r\n"),
        (&["HRANDFIELD", "hs", "-2", "WITHVALUES"], b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HRANDFIELD", "hs", "5", "WITHVALUES"], b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0", "MATCH", "f*"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0", "MATCH", "x*"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["HSCAN", "hs", "0", "COUNT", "0"], b"-ERR syntax error\r\n"),
        (&["HSCAN", "hs", "0", "TYPE", "string"], b"-ERR syntax error\r\n"),
        (&["HDEL", "hs", "f"], b":1\r\n"),
        (&["EXISTS", "hs"], b":0\r\n"),
        (&["SET", "str", "x"], b"+OK\r\n"),
        (&["HGET", "str", "f"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["HSET", "str", "f", "v"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["HGETALL", "str"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ];
    replay(&server, CASES, false);
}

#[test]
fn replies_match_redis_resp3() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] = &[
        (&["HSET", "h", "f1", "v1", "f2", "v2"], b":2\r\n"),
        (&["HSET", "h", "f1", "x"], b":0\r\n"),
        (&["HGET", "h", "f1"], b"$1\r\nx\r\n"),
        (&["HGET", "h", "nope"], b"_\r\n"),
        (&["HGET", "nokey", "f"], b"_\r\n"),
        (&["HMGET", "h", "f1", "nope", "f2"], b"*3\r\n$1\r\nx\r\n_\r\n$2\r\nv2\r\n"),
        (&["HSETNX", "h", "f1", "y"], b":0\r\n"),
        (&["HSETNX", "h", "f3", "v3"], b":1\r\n"),
        (&["HLEN", "h"], b":3\r\n"),
        (&["HSTRLEN", "h", "f2"], b":2\r\n"),
        (&["HSTRLEN", "h", "nope"], b":0\r\n"),
        (&["HEXISTS", "h", "f1"], b":1\r\n"),
        (&["HEXISTS", "h", "zz"], b":0\r\n"),
        (&["HKEYS", "h"], b"*3\r\n$2\r\nf1\r\n$2\r\nf2\r\n$2\r\nf3\r\n"),
        (&["HVALS", "h"], b"*3\r\n$1\r\nx\r\n$2\r\nv2\r\n$2\r\nv3\r\n"),
        (&["HGETALL", "h"], b"%3\r\n$2\r\nf1\r\n$1\r\nx\r\n$2\r\nf2\r\n$2\r\nv2\r\n$2\r\nf3\r\n$2\r\nv3\r\n"),
        (&["HGETALL", "nokey"], b"%0\r\n"),
        (&["HKEYS", "nokey"], b"*0\r\n"),
        (&["HDEL", "h", "f3", "nope"], b":1\r\n"),
        (&["HINCRBY", "h", "n", "5"], b":5\r\n"),
        (&["HINCRBY", "h", "n", "-10"], b":-5\r\n"),
        (&["HINCRBY", "h", "f1", "1"], b"-ERR hash value is not an integer\r\n"),
        (&["HINCRBY", "h", "n", "x"], b"-ERR value is not an integer or out of range\r\n"),
        (&["HINCRBY", "h", "n", "9223372036854775807"], b":9223372036854775802\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "10.5"], b"$4\r\n10.5\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "0.1"], b"$4\r\n10.6\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "5.0e3"], b"$22\r\n5010.60000000000000009\r\n"),
        (&["HINCRBYFLOAT", "h", "f1", "1"], b"-ERR hash value is not a float\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "abc"], b"-ERR value is not a valid float\r\n"),
        (&["HINCRBYFLOAT", "h", "fl", "inf"], b"-ERR value is NaN or Infinity\r\n"),
        (&["HMSET", "h", "a", "1", "b", "2"], b"+OK\r\n"),
        (&["HMSET", "h", "a"], b"-ERR wrong number of arguments for 'hmset' command\r\n"),
        (&["HSET", "h", "a"], b"-ERR wrong number of arguments for 'hset' command\r\n"),
        (&["HGETALL", "h"], b"%6\r\n$2\r\nf1\r\n$1\r\nx\r\n$2\r\nf2\r\n$2\r\nv2\r\n$1\r\nn\r\n$19\r\n9223372036854775802\r\n$2\r\nfl\r\n$22\r\n5010.60000000000000009\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        (&["OBJECT", "ENCODING", "h"], b"$8\r\nlistpack\r\n"),
        (&["TYPE", "h"], b"+hash\r\n"),
        (&["HSET", "h", "big", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], b":1\r\n"),
        (&["OBJECT", "ENCODING", "h"], b"$9\r\nhashtable\r\n"),
        (&["HSCAN", "nokey", "0", "COUNT", "x"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["HSCAN", "h", "x"], b"-ERR invalid cursor\r\n"),
        (&["HRANDFIELD", "nokey"], b"_\r\n"),
        (&["HRANDFIELD", "nokey", "5"], b"*0\r\n"),
        (&["HRANDFIELD", "h", "1", "foo"], b"-ERR syntax error\r\n"),
        (&["HRANDFIELD", "h", "-9223372036854775808"], b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"),
        (&["HRANDFIELD", "h", "0"], b"*0\r\n"),
        (&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"], b"-ERR value is out of range\r\n"),
        (&["HSET", "hs", "f", "v"], b":1\r\n"),
        (&["HRANDFIELD", "hs"], b"$1\r\nf\r\n"),
        (&["HRANDFIELD", "hs", "-3"], b"*3\r\n$1\r\nf\r\n$1\r\nf\r\n$1\r\nf\r\n"),
        (&["HRANDFIELD", "hs", "-2", "WITHVALUES"], b"*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HRANDFIELD", "hs", "5", "WITHVALUES"], b"*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0", "MATCH", "f*"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        (&["HSCAN", "hs", "0", "MATCH", "x*"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["HSCAN", "hs", "0", "COUNT", "0"], b"-ERR syntax error\r\n"),
        (&["HSCAN", "hs", "0", "TYPE", "string"], b"-ERR syntax error\r\n"),
        (&["HDEL", "hs", "f"], b":1\r\n"),
        (&["EXISTS", "hs"], b":0\r\n"),
        (&["SET", "str", "x"], b"+OK\r\n"),
        (&["HGET", "str", "f"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["HSET", "str", "f", "v"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["HGETALL", "str"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ];
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
