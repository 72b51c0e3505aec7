//! Sorted set commands: every option, exact replies and exact errors.
//!
//! The replay tests run a script recorded from redis-server 7.0.15 (RESP2, then the same
//! script after `HELLO 3`) and compare every reply byte for byte.

use kvd_tests::*;

#[test]
fn replies_match_redis_resp2() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/zsets_resp2.rs");
    replay(&server, CASES, false);
}

#[test]
fn replies_match_redis_resp3() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/zsets_resp3.rs");
    replay(&server, CASES, true);
}

#[test]
fn wrongtype_and_emptied_sorted_sets() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "str", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for args in [
        &["ZADD", "str", "1", "m"][..],
        &["ZINCRBY", "str", "1", "m"],
        &["ZREM", "str", "m"],
        &["ZCARD", "str"],
        &["ZSCORE", "str", "m"],
        &["ZMSCORE", "str", "m"],
        &["ZRANK", "str", "m"],
        &["ZREVRANK", "str", "m"],
        &["ZCOUNT", "str", "0", "1"],
        &["ZLEXCOUNT", "str", "-", "+"],
        &["ZRANGE", "str", "0", "1"],
        &["ZRANGEBYSCORE", "str", "0", "1"],
        &["ZREVRANGE", "str", "0", "1"],
        &["ZREVRANGEBYSCORE", "str", "1", "0"],
        &["ZRANGEBYLEX", "str", "-", "+"],
        &["ZREVRANGEBYLEX", "str", "+", "-"],
        &["ZRANGESTORE", "d", "str", "0", "1"],
        &["ZREMRANGEBYRANK", "str", "0", "1"],
        &["ZREMRANGEBYSCORE", "str", "0", "1"],
        &["ZREMRANGEBYLEX", "str", "-", "+"],
        &["ZPOPMIN", "str"],
        &["ZPOPMAX", "str"],
        &["ZMPOP", "1", "str", "MIN"],
        &["ZRANDMEMBER", "str"],
        &["ZUNION", "1", "str"],
        &["ZINTER", "1", "str"],
        &["ZDIFF", "1", "str"],
        &["ZINTERCARD", "1", "str"],
        &["ZSCAN", "str", "0"],
    ] {
        assert_reply!(c.cmd(args), wrong, "{args:?}");
    }
    assert_reply!(c.cmd(&["ZADD", "z", "1", "a"]), int(1));
    assert_reply!(c.cmd(&["TYPE", "z"]), b"+zset\r\n".to_vec());
    assert_reply!(c.cmd(&["ZREM", "z", "a"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "z"]), int(0));
}

#[test]
fn zrank_withscore_as_redis_7_2() {
    let server = TestServer::start();
    if !server.is_kvd() {
        // WITHSCORE arrived in Redis 7.2; 7.0 refuses the extra argument.
        return;
    }
    let mut c = server.conn();
    assert_reply!(c.cmd(&["ZADD", "z", "1.5", "a", "2", "b"]), int(2));
    assert_reply!(
        c.cmd(&["ZRANK", "z", "b", "WITHSCORE"]),
        b"*2\r\n:1\r\n$1\r\n2\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZREVRANK", "z", "b", "WITHSCORE"]),
        b"*2\r\n:0\r\n$1\r\n2\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZRANK", "z", "x", "WITHSCORE"]),
        b"*-1\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZRANK", "z", "a", "WITHSCORES"]),
        err("ERR syntax error")
    );
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["ZRANK", "z", "a", "WITHSCORE"]),
        b"*2\r\n:0\r\n,1.5\r\n".to_vec()
    );
    assert_reply!(c.cmd(&["ZRANK", "z", "x", "WITHSCORE"]), b"_\r\n".to_vec());
}

#[test]
fn multi_key_commands_across_shards() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["ZADD", "k1", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_reply!(
        c.cmd(&["ZADD", "k2", "10", "b", "20", "c", "30", "d"]),
        int(3)
    );
    assert_reply!(c.cmd(&["SADD", "k3", "c", "d", "e"]), int(3));
    assert_reply!(
        c.cmd(&["ZUNION", "3", "k1", "k2", "k3", "WITHSCORES"]),
        bulk_array(&["a", "1", "e", "1", "b", "12", "c", "24", "d", "31"])
    );
    assert_reply!(
        c.cmd(&[
            "ZINTER",
            "2",
            "k1",
            "k2",
            "WEIGHTS",
            "2",
            "1",
            "AGGREGATE",
            "MIN",
            "WITHSCORES"
        ]),
        bulk_array(&["b", "4", "c", "6"])
    );
    assert_reply!(c.cmd(&["ZDIFF", "2", "k1", "k2"]), bulk_array(&["a"]));
    assert_reply!(c.cmd(&["ZUNIONSTORE", "k4", "2", "k1", "k2"]), int(4));
    assert_reply!(
        c.cmd(&["ZRANGE", "k4", "0", "-1", "WITHSCORES"]),
        bulk_array(&["a", "1", "b", "12", "c", "23", "d", "30"])
    );
    assert_reply!(c.cmd(&["ZINTERSTORE", "k5", "2", "k1", "k3"]), int(1));
    assert_reply!(
        c.cmd(&["ZRANGE", "k5", "0", "-1", "WITHSCORES"]),
        bulk_array(&["c", "4"])
    );
    assert_reply!(c.cmd(&["ZDIFFSTORE", "k5", "2", "k1", "k1"]), int(0));
    assert_reply!(c.cmd(&["EXISTS", "k5"]), int(0));
    assert_reply!(c.cmd(&["ZINTERCARD", "2", "k1", "k2"]), int(2));
    assert_reply!(
        c.cmd(&["ZRANGESTORE", "k6", "k2", "(10", "+inf", "BYSCORE"]),
        int(2)
    );
    assert_reply!(c.cmd(&["ZRANGE", "k6", "0", "-1"]), bulk_array(&["c", "d"]));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "k6"]), bulk("listpack"));
    assert_reply!(
        c.cmd(&["ZMPOP", "3", "nosuch", "k6", "k1", "MAX", "COUNT", "5"]),
        b"*2\r\n$2\r\nk6\r\n*2\r\n*2\r\n$1\r\nd\r\n$2\r\n30\r\n*2\r\n$1\r\nc\r\n$2\r\n20\r\n"
            .to_vec()
    );
    assert_reply!(c.cmd(&["EXISTS", "k6"]), int(0));
    assert_reply!(
        c.cmd(&["ZMPOP", "2", "k6", "nosuch", "MIN"]),
        b"*-1\r\n".to_vec()
    );
    assert_reply!(c.cmd(&["SET", "k7", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_reply!(c.cmd(&["ZMPOP", "2", "k7", "k1", "MIN"]), wrong);
    assert_reply!(c.cmd(&["ZUNION", "2", "k1", "k7"]), wrong);
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["ZINTER", "2", "k1", "k2", "WITHSCORES"]),
        b"*2\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n".to_vec()
    );
}

#[test]
fn listpack_converts_to_skiplist_at_the_thresholds() {
    let server = TestServer::start();
    let mut c = server.conn();
    let mut args = vec!["ZADD".to_string(), "z".into()];
    for i in 1..=128 {
        args.extend([i.to_string(), format!("m{i}")]);
    }
    assert_reply!(c.cmd(&args), int(128));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    assert_reply!(c.cmd(&["ZADD", "z", "129", "m129"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    assert_reply!(c.cmd(&["ZADD", "long", "1", &"x".repeat(65)]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "long"]), bulk("skiplist"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "zset-max-ziplist-entries", "0"]),
        OK
    );
    assert_reply!(c.cmd(&["ZADD", "tiny", "1", "a"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "tiny"]), bulk("skiplist"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "zset-max-ziplist-entries", "128"]),
        OK
    );
    // Rank and range operations on the large form.
    assert_reply!(c.cmd(&["ZRANK", "z", "m100"]), int(99));
    assert_reply!(c.cmd(&["ZREVRANK", "z", "m100"]), int(29));
    assert_reply!(c.cmd(&["ZCOUNT", "z", "(10", "20"]), int(10));
    assert_reply!(
        c.cmd(&["ZRANGE", "z", "(126", "+inf", "BYSCORE"]),
        bulk_array(&["m127", "m128", "m129"])
    );
    assert_reply!(
        c.cmd(&["ZRANGE", "z", "0", "1", "REV"]),
        bulk_array(&["m129", "m128"])
    );
    assert_reply!(c.cmd(&["ZREMRANGEBYSCORE", "z", "-inf", "100"]), int(100));
    assert_reply!(c.cmd(&["ZCARD", "z"]), int(29));
    // ZSCAN walks it completely.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply =
            String::from_utf8_lossy(&c.cmd(&["ZSCAN", "z", &cursor, "COUNT", "5"])).into_owned();
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        let items: Vec<&str> = lines[4..]
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| p[1])
            .collect();
        for pair in items.chunks(2) {
            assert_eq!(format!("m{}", pair[1]), pair[0]);
            seen.insert(pair[0].to_string());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 29);
}
