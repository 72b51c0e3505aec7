//! Set commands: every option, exact replies and exact errors.
//!
//! The replay tests run a script recorded from redis-server 7.0.15 (RESP2, then the same
//! script after `HELLO 3`) and compare every reply byte for byte.

use kvd_tests::*;

#[test]
fn replies_match_redis_resp2() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/sets_resp2.rs");
    replay(&server, CASES, false);
}

#[test]
fn replies_match_redis_resp3() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] =
        include!("../../crates/worker-shard/tests/fixtures/replies/sets_resp3.rs");
    replay(&server, CASES, true);
}

#[test]
fn wrongtype_and_emptied_sets() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "str", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for args in [
        &["SADD", "str", "m"][..],
        &["SREM", "str", "m"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "m"],
        &["SMISMEMBER", "str", "m"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SRANDMEMBER", "str"],
        &["SINTER", "str"],
        &["SUNION", "str"],
        &["SDIFF", "str"],
        &["SINTERCARD", "1", "str"],
        &["SSCAN", "str", "0"],
    ] {
        assert_reply!(c.cmd(args), wrong, "{args:?}");
    }
    assert_reply!(c.cmd(&["SADD", "s", "a"]), int(1));
    assert_reply!(c.cmd(&["TYPE", "s"]), b"+set\r\n".to_vec());
    assert_reply!(c.cmd(&["SPOP", "s"]), bulk("a"));
    assert_reply!(c.cmd(&["EXISTS", "s"]), int(0));
}

#[test]
fn multi_key_commands_across_shards() {
    // The server runs several shards: keys named differently land on different ones.
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SADD", "k1", "1", "2", "3", "x"]), int(4));
    assert_reply!(c.cmd(&["SADD", "k2", "2", "3", "4"]), int(3));
    assert_reply!(c.cmd(&["SADD", "k3", "3", "9"]), int(2));
    assert_reply!(c.cmd(&["SINTER", "k1", "k2", "k3"]), bulk_array(&["3"]));
    assert_reply!(c.cmd(&["SINTERSTORE", "k4", "k1", "k2"]), int(2));
    assert_reply!(c.cmd(&["SMEMBERS", "k4"]), bulk_array(&["2", "3"]));
    assert_reply!(c.cmd(&["SDIFFSTORE", "k5", "k2", "k1"]), int(1));
    assert_reply!(c.cmd(&["SMEMBERS", "k5"]), bulk_array(&["4"]));
    assert_reply!(c.cmd(&["SUNIONSTORE", "k6", "k2", "k3"]), int(4));
    assert_reply!(
        c.cmd(&["SMEMBERS", "k6"]),
        bulk_array(&["2", "3", "4", "9"])
    );
    assert_reply!(c.cmd(&["SINTERCARD", "3", "k1", "k2", "k6"]), int(2));
    assert_reply!(
        c.cmd(&["SINTERCARD", "3", "k1", "k2", "k6", "LIMIT", "1"]),
        int(1)
    );
    assert_reply!(c.cmd(&["SMOVE", "k1", "k7", "x"]), int(1));
    assert_reply!(c.cmd(&["SMEMBERS", "k7"]), bulk_array(&["x"]));
    assert_reply!(c.cmd(&["SISMEMBER", "k1", "x"]), int(0));
    assert_reply!(c.cmd(&["SMOVE", "k7", "k8", "x"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "k7"]), int(0));
    assert_reply!(c.cmd(&["SET", "k9", "str"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_reply!(c.cmd(&["SMOVE", "k8", "k9", "x"]), wrong);
    assert_reply!(c.cmd(&["SUNION", "k8", "k9"]), wrong);
    assert_reply!(c.cmd(&["SMEMBERS", "k8"]), bulk_array(&["x"]));
    // An empty result deletes the destination.
    assert_reply!(c.cmd(&["SINTERSTORE", "k6", "k1", "nosuch"]), int(0));
    assert_reply!(c.cmd(&["EXISTS", "k6"]), int(0));
}

#[test]
fn intsets_convert_at_the_threshold() {
    let server = TestServer::start();
    let mut c = server.conn();
    let mut args = vec!["SADD".to_string(), "s".into()];
    args.extend((1..=512).map(|i| i.to_string()));
    assert_reply!(c.cmd(&args), int(512));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "s"]), bulk("intset"));
    assert_reply!(c.cmd(&["SADD", "s", "513"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
    assert_reply!(c.cmd(&["SADD", "t", "a"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "t"]), bulk("hashtable"));
    assert_reply!(c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "1"]), OK);
    assert_reply!(c.cmd(&["SADD", "u", "1", "2"]), int(2));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "u"]), bulk("hashtable"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "512"]),
        OK
    );
    // SSCAN walks a large set completely; SPOP with a count empties it.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply =
            String::from_utf8_lossy(&c.cmd(&["SSCAN", "s", &cursor, "COUNT", "100"])).into_owned();
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        seen.extend(
            lines[4..]
                .chunks(2)
                .filter(|p| p.len() == 2)
                .map(|p| p[1].to_string()),
        );
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 513);
    assert_eq!(
        bulk_items(&c.cmd(&["SRANDMEMBER", "s", "-1000"])).len(),
        1000
    );
    assert_eq!(bulk_items(&c.cmd(&["SPOP", "s", "600"])).len(), 513);
    assert_reply!(c.cmd(&["EXISTS", "s"]), int(0));
}
