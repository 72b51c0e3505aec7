//! Lists: every command, option and error with Redis 7.0's exact replies, cross-shard moves
//! and pops, encodings and empty-key deletion.

use kvd_tests::*;
use partition_router::shard_for;

fn four_workers() -> TestServer {
    TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    })
}

/// Two keys with `prefix` on different shards of a 4-worker server.
fn split_keys(prefix: &str) -> (String, String) {
    let first = format!("{prefix}:0");
    let home = shard_for(first.as_bytes(), 4);
    let second = (1..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| shard_for(k.as_bytes(), 4) != home)
        .unwrap();
    (first, second)
}

#[test]
fn every_command_matches_redis_byte_for_byte() {
    // Generated against redis-server 7.0.15, in order.
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/lists_resp2.rs");
    let server = four_workers();
    let mut c = server.conn();
    for (args, want) in CASES {
        assert_reply!(c.cmd(args), want, "{args:?}");
    }
}

#[test]
fn resp3_nulls() {
    let server = TestServer::start();
    let mut c = server.conn();
    c.cmd(&["HELLO", "3"]);
    assert_reply!(c.cmd(&["LPOP", "nokey"]), b"_\r\n");
    assert_reply!(c.cmd(&["LPOP", "nokey", "2"]), b"_\r\n");
    assert_reply!(c.cmd(&["LMPOP", "1", "nokey", "LEFT"]), b"_\r\n");
    assert_reply!(c.cmd(&["LPOS", "nokey", "a"]), b"_\r\n");
    assert_reply!(c.cmd(&["LMOVE", "nokey", "x", "LEFT", "LEFT"]), b"_\r\n");
    assert_reply!(c.cmd(&["RPUSH", "k", "a"]), int(1));
    assert_reply!(c.cmd(&["LPOP", "k", "0"]), b"*0\r\n");
}

#[test]
fn type_encoding_and_emptied_key() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["RPUSH", "l", "a", "b"]), int(2));
    assert_reply!(c.cmd(&["TYPE", "l"]), b"+list\r\n");
    // Redis 7.0 reports every list as a quicklist, however small.
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    let big = "x".repeat(1000);
    for _ in 0..20 {
        c.cmd(&["RPUSH", "l", &big]);
    }
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    assert_reply!(c.cmd(&["LLEN", "l"]), int(22));
    assert_reply!(c.cmd(&["LINDEX", "l", "1"]), bulk("b"));
    assert_reply!(c.cmd(&["LTRIM", "l", "0", "1"]), OK);
    assert_reply!(c.cmd(&["LRANGE", "l", "0", "-1"]), bulk_array(&["a", "b"]));
    assert_reply!(c.cmd(&["RPOP", "l", "5"]), bulk_array(&["b", "a"]));
    assert_reply!(c.cmd(&["EXISTS", "l"]), int(0));
    assert_reply!(c.cmd(&["TYPE", "l"]), b"+none\r\n");
    assert_reply!(c.cmd(&["RPUSH", "l", "a"]), int(1));
    assert_reply!(c.cmd(&["LREM", "l", "0", "a"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "l"]), int(0));
}

#[test]
fn large_lists_keep_order_at_both_ends() {
    let server = TestServer::start();
    let mut c = server.conn();
    for i in 0..500 {
        c.cmd(&["RPUSH", "big", &format!("r{i:04}")]);
        c.cmd(&["LPUSH", "big", &format!("l{i:04}")]);
    }
    assert_reply!(c.cmd(&["LLEN", "big"]), int(1000));
    assert_reply!(c.cmd(&["LINDEX", "big", "0"]), bulk("l0499"));
    assert_reply!(c.cmd(&["LINDEX", "big", "-1"]), bulk("r0499"));
    assert_reply!(c.cmd(&["LINDEX", "big", "500"]), bulk("r0000"));
    assert_reply!(
        c.cmd(&["LRANGE", "big", "499", "500"]),
        bulk_array(&["l0000", "r0000"])
    );
    assert_reply!(c.cmd(&["LPOS", "big", "r0000"]), int(500));
    assert_reply!(c.cmd(&["LSET", "big", "500", "mid"]), OK);
    assert_reply!(
        c.cmd(&["LINSERT", "big", "BEFORE", "mid", "pre"]),
        int(1001)
    );
    assert_reply!(
        c.cmd(&["LRANGE", "big", "499", "501"]),
        bulk_array(&["l0000", "pre", "mid"])
    );
    assert_reply!(c.cmd(&["LPOP", "big"]), bulk("l0499"));
    assert_reply!(c.cmd(&["RPOP", "big"]), bulk("r0499"));
}

#[test]
fn moves_and_pops_across_shards() {
    let server = four_workers();
    let mut c = server.conn();
    let (src, dst) = split_keys("mv");
    assert_reply!(c.cmd(&["RPUSH", &src, "a", "b", "c"]), int(3));
    assert_reply!(c.cmd(&["LMOVE", &src, &dst, "LEFT", "RIGHT"]), bulk("a"));
    assert_reply!(c.cmd(&["RPOPLPUSH", &src, &dst]), bulk("c"));
    assert_reply!(c.cmd(&["LRANGE", &dst, "0", "-1"]), bulk_array(&["c", "a"]));
    assert_reply!(c.cmd(&["LRANGE", &src, "0", "-1"]), bulk_array(&["b"]));
    assert_reply!(c.cmd(&["LMOVE", "nokey", &dst, "LEFT", "LEFT"]), NIL);
    // The destination's type is checked before anything is popped.
    let (src2, s) = split_keys("wt");
    assert_reply!(c.cmd(&["SET", &s, "str"]), OK);
    assert_reply!(c.cmd(&["RPUSH", &src2, "x"]), int(1));
    assert_reply!(
        c.cmd(&["LMOVE", &src2, &s, "LEFT", "LEFT"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_reply!(c.cmd(&["LRANGE", &src2, "0", "-1"]), bulk_array(&["x"]));
    assert_reply!(
        c.cmd(&["LMOVE", &src2, &dst, "UP", "LEFT"]),
        err("ERR syntax error")
    );
    // LMPOP takes keys in order across shards.
    assert_reply!(
        c.cmd(&["LMPOP", "3", "nokey", &dst, &src, "RIGHT", "COUNT", "5"]),
        lmpop_reply(&dst, &["a", "c"])
    );
    assert_reply!(
        c.cmd(&["LMPOP", "2", "nokey", &src, "LEFT"]),
        lmpop_reply(&src, &["b"])
    );
    assert_reply!(c.cmd(&["LMPOP", "2", &src, &dst, "LEFT"]), b"*-1\r\n");
    assert_reply!(
        c.cmd(&["LMPOP", "2", "nokey", &s, "LEFT"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
}

fn lmpop_reply(key: &str, elems: &[&str]) -> Vec<u8> {
    let mut r = format!("*2\r\n${}\r\n{key}\r\n*{}\r\n", key.len(), elems.len()).into_bytes();
    for e in elems {
        r.extend(bulk(e));
    }
    r
}

#[test]
fn keyspace_notifications_for_list_commands() {
    let server = TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Elg"]),
        OK
    );
    sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let cmds: &[&[&str]] = &[
        &["RPUSH", "{n}l", "a", "b", "c"],
        &["LPUSHX", "{n}nokey", "x"],
        &["LPOP", "{n}l"],
        &["LSET", "{n}l", "0", "B"],
        &["LINSERT", "{n}l", "AFTER", "B", "x"],
        &["LREM", "{n}l", "1", "x"],
        &["LMOVE", "{n}l", "{n}l2", "LEFT", "RIGHT"],
        &["LTRIM", "{n}l", "0", "-1"],
        &["RPOP", "{n}l"],
        &["LMPOP", "1", "{n}l2", "LEFT"],
    ];
    for cmd in cmds {
        c.cmd(cmd);
    }
    let want = [
        ("rpush", "{n}l"),
        ("lpop", "{n}l"),
        ("lset", "{n}l"),
        ("linsert", "{n}l"),
        ("lrem", "{n}l"),
        ("rpush", "{n}l2"),
        ("lpop", "{n}l"),
        ("ltrim", "{n}l"),
        ("rpop", "{n}l"),
        ("del", "{n}l"),
        ("lpop", "{n}l2"),
        ("del", "{n}l2"),
    ];
    for (event, key) in want {
        let msg = bulk_items(&sub.read_reply());
        assert_eq!(
            (
                String::from_utf8_lossy(&msg[2]).into_owned(),
                String::from_utf8_lossy(&msg[3]).into_owned()
            ),
            (format!("__keyevent@0__:{event}"), key.to_string())
        );
    }
}

#[test]
fn list_max_listpack_size_changes_live_and_lists_keep_working() {
    let server = four_workers();
    let mut c = server.conn();
    for name in ["list-max-listpack-size", "list-max-ziplist-size"] {
        assert_reply!(c.cmd(&["CONFIG", "GET", name]), bulk_array(&[name, "-2"]));
    }
    let (k1, k2) = split_keys("lmls");
    let mut model: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let keys = [k1.as_str(), k2.as_str()];
    let check = |c: &mut RawConn, model: &[Vec<String>; 2]| {
        for (k, m) in keys.iter().zip(model) {
            let got: Vec<String> = bulk_items(&c.cmd(&["LRANGE", k, "0", "-1"]))
                .into_iter()
                .map(|b| String::from_utf8(b).unwrap())
                .collect();
            assert_eq!(&got, m, "{k}");
            assert_reply!(c.cmd(&["LLEN", k]), int(m.len() as i64));
            if !m.is_empty() {
                assert_reply!(c.cmd(&["OBJECT", "ENCODING", k]), bulk("quicklist"));
            }
        }
    };
    // A list past the default 8 KiB node, then the setting changes under it.
    for i in 0..120 {
        let e = format!("{i:03}{}", "x".repeat(97));
        assert_reply!(c.cmd(&["RPUSH", keys[0], &e]), int(i + 1));
        model[0].push(e);
    }
    check(&mut c, &model);
    for (setting, value) in [
        ("list-max-listpack-size", "4"),
        ("list-max-ziplist-size", "-5"),
        ("list-max-listpack-size", "0"),
        ("list-max-listpack-size", "-1"),
        ("list-max-ziplist-size", "1000"),
    ] {
        assert_reply!(c.cmd(&["CONFIG", "SET", setting, value]), OK);
        for name in ["list-max-listpack-size", "list-max-ziplist-size"] {
            assert_reply!(c.cmd(&["CONFIG", "GET", name]), bulk_array(&[name, value]));
        }
        // Grow the second list past the new limit, shrink it below half, edit both.
        for i in 0..10 {
            let e = format!("{value}-{i}");
            c.cmd(&["LPUSH", keys[1], &e]);
            model[1].insert(0, e);
        }
        let big = "b".repeat(5000);
        c.cmd(&["RPUSH", keys[1], &big]);
        model[1].push(big);
        check(&mut c, &model);
        assert_reply!(c.cmd(&["LSET", keys[1], "1", "set"]), OK);
        model[1][1] = "set".into();
        assert_reply!(
            c.cmd(&["LINSERT", keys[1], "BEFORE", "set", "ins"]),
            int(model[1].len() as i64 + 1)
        );
        model[1].insert(1, "ins".into());
        assert_reply!(c.cmd(&["RPOP", keys[1]]), bulk(model[1].pop().unwrap()));
        // Moves between shards, both ways.
        let moved = model[0].remove(0);
        assert_reply!(
            c.cmd(&["LMOVE", keys[0], keys[1], "LEFT", "RIGHT"]),
            bulk(&moved)
        );
        model[1].push(moved);
        let back = model[1].pop().unwrap();
        assert_reply!(c.cmd(&["RPOPLPUSH", keys[1], keys[0]]), bulk(&back));
        model[0].insert(0, back);
        check(&mut c, &model);
        assert_reply!(c.cmd(&["LTRIM", keys[1], "0", "1"]), OK);
        model[1].truncate(2);
        assert_reply!(c.cmd(&["LREM", keys[0], "1", &model[0][5].clone()]), int(1));
        model[0].remove(5);
        check(&mut c, &model);
    }
    // Redis's texts for values that are not an int.
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "list-max-listpack-size", "2147483648"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'list-max-listpack-size') - argument must be between -2147483648 and 2147483647 inclusive"
        )
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "list-max-ziplist-size", "8kb"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'list-max-ziplist-size') - argument couldn't be parsed into an integer"
        )
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "list-max-listpack-size", "-2"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "list-max-ziplist-size"]),
        bulk_array(&["list-max-ziplist-size", "-2"])
    );
    check(&mut c, &model);
}
