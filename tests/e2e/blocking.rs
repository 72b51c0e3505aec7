//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP and the sorted sets' BZPOPMIN,
//! BZPOPMAX, BZMPOP — timeouts, wake-ups, FIFO fairness, keys on several shards, disconnects
//! and CLIENT UNBLOCK.
//!
//! A client is known to be blocked by polling `INFO clients`' `blocked_clients`, never by
//! sleeping.

use std::time::{Duration, Instant};

use kvd_tests::*;
use partition_router::shard_for;

const WORKERS: usize = 4;

fn server() -> TestServer {
    TestServer::with(ServerOptions {
        workers: WORKERS,
        ..ServerOptions::default()
    })
}

/// Two keys with `prefix` on different shards.
fn split_keys(prefix: &str) -> (String, String) {
    let first = format!("{prefix}:0");
    let home = shard_for(first.as_bytes(), WORKERS);
    let second = (1..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| shard_for(k.as_bytes(), WORKERS) != home)
        .unwrap();
    (first, second)
}

fn blocked_clients(c: &mut RawConn) -> i64 {
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "clients"]))).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap()
}

/// Waits until exactly `n` clients are blocked.
fn wait_blocked(c: &mut RawConn, n: i64) {
    poll_until(|| (blocked_clients(c) == n).then_some(()));
}

fn key_elem(key: &str, elem: &str) -> Vec<u8> {
    [b"*2\r\n".to_vec(), bulk(key), bulk(elem)].concat()
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn immediate_pops_and_argument_errors() {
    let server = server();
    let mut c = server.conn();
    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    assert_reply!(c.cmd(&["BLPOP", "nokey", "l", "0"]), key_elem("l", "a"));
    assert_reply!(c.cmd(&["BRPOP", "l", "0"]), key_elem("l", "c"));
    assert_reply!(c.cmd(&["BRPOPLPUSH", "l", "dst", "0"]), bulk("b"));
    assert_reply!(
        c.cmd(&["BLMOVE", "dst", "l", "LEFT", "RIGHT", "0"]),
        bulk("b")
    );
    c.cmd(&["RPUSH", "l", "x", "y"]);
    assert_reply!(
        c.cmd(&["BLMPOP", "0", "2", "nokey", "l", "LEFT", "COUNT", "5"]),
        [b"*2\r\n".to_vec(), bulk("l"), bulk_array(&["b", "x", "y"])].concat()
    );
    assert_reply!(c.cmd(&["BLPOP", "l", "-1"]), err("ERR timeout is negative"));
    assert_reply!(
        c.cmd(&["BLPOP", "l", "inf"]),
        err("ERR timeout is negative")
    );
    assert_reply!(
        c.cmd(&["BLPOP", "l", "1e400"]),
        err("ERR timeout is negative")
    );
    assert_reply!(
        c.cmd(&["BLPOP", "l", "x"]),
        err("ERR timeout is not a float or out of range")
    );
    assert_reply!(
        c.cmd(&["BLMPOP", "x", "1", "l", "LEFT"]),
        err("ERR timeout is not a float or out of range")
    );
    assert_reply!(
        c.cmd(&["BLMPOP", "0", "0", "l", "LEFT"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_reply!(
        c.cmd(&["BLMPOP", "0", "1", "l", "LEFT", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
    assert_reply!(
        c.cmd(&["BLMOVE", "l", "d", "UP", "LEFT", "0"]),
        err("ERR syntax error")
    );
    assert_reply!(
        c.cmd(&["BLPOP", "l"]),
        err("ERR wrong number of arguments for 'blpop' command")
    );
    c.cmd(&["SET", "s", "v"]);
    assert_reply!(c.cmd(&["BLPOP", "nokey", "s", "0"]), err(WRONGTYPE));
    c.cmd(&["RPUSH", "l", "z"]);
    assert_reply!(
        c.cmd(&["BLMOVE", "l", "s", "LEFT", "LEFT", "0"]),
        err(WRONGTYPE)
    );
    assert_reply!(c.cmd(&["LLEN", "l"]), int(1));
}

#[test]
fn timeouts_have_sub_second_precision() {
    let server = server();
    let mut c = server.conn();
    // Every timed-out list pop answers a null array, BRPOPLPUSH and BLMOVE included.
    for (cmd, want) in [
        (&["BLPOP", "nokey", "0.2"][..], &b"*-1\r\n"[..]),
        (&["BRPOPLPUSH", "nokey", "d", "0.1"], b"*-1\r\n"),
        (&["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.1"], b"*-1\r\n"),
        (&["BLMPOP", "0.1", "1", "nokey", "LEFT"], b"*-1\r\n"),
    ] {
        let started = Instant::now();
        assert_reply!(c.cmd(cmd), want, "{cmd:?}");
        let took = started.elapsed();
        let asked = if cmd.contains(&"0.2") { 200 } else { 100 };
        assert!(
            took >= Duration::from_millis(asked) && took < Duration::from_millis(asked + 900),
            "{cmd:?} took {took:?}"
        );
    }
    c.cmd(&["HELLO", "3"]);
    assert_reply!(c.cmd(&["BLPOP", "nokey", "0.05"]), b"_\r\n");
    assert_reply!(
        c.cmd(&["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.05"]),
        b"_\r\n"
    );
}

#[test]
fn a_push_wakes_the_blocked_client_and_later_commands_wait_for_it() {
    let server = server();
    let mut admin = server.conn();
    let mut waiter = server.conn();
    // The PING is sent right behind BLPOP and must be answered after it.
    waiter.send(
        &[
            encode_command(&["BLPOP", "q", "0"]),
            encode_command(&["PING"]),
        ]
        .concat(),
    );
    wait_blocked(&mut admin, 1);
    let list = String::from_utf8(bulk_payload(&admin.cmd(&["CLIENT", "LIST"]))).unwrap();
    assert!(list.contains("flags=b "), "{list}");
    assert!(list.contains("cmd=blpop"), "{list}");
    assert_reply!(admin.cmd(&["RPUSH", "q", "job"]), int(1));
    assert_reply!(waiter.read_reply(), key_elem("q", "job"));
    assert_reply!(waiter.read_reply(), b"+PONG\r\n");
    assert_reply!(admin.cmd(&["EXISTS", "q"]), int(0));
    wait_blocked(&mut admin, 0);
}

#[test]
fn clients_are_served_in_the_order_they_blocked() {
    let server = server();
    let mut admin = server.conn();
    let mut clients: Vec<RawConn> = (0..3).map(|_| server.conn()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_cmd(&["BRPOP", "fifo", "0"]);
        wait_blocked(&mut admin, i as i64 + 1);
    }
    // One push of two elements serves the two longest-waiting clients.
    assert_reply!(admin.cmd(&["RPUSH", "fifo", "a", "b"]), int(2));
    // BRPOP pops from the tail: the first client gets the last element pushed.
    assert_reply!(clients[0].read_reply(), key_elem("fifo", "b"));
    assert_reply!(clients[1].read_reply(), key_elem("fifo", "a"));
    wait_blocked(&mut admin, 1);
    clients[2].expect_silence(Duration::from_millis(50));
    assert_reply!(admin.cmd(&["LPUSH", "fifo", "c"]), int(1));
    assert_reply!(clients[2].read_reply(), key_elem("fifo", "c"));
    assert_reply!(admin.cmd(&["EXISTS", "fifo"]), int(0));
}

#[test]
fn keys_on_several_shards_pop_exactly_one_element() {
    let server = server();
    let mut admin = server.conn();
    let (k1, k2) = split_keys("multi");
    let mut w = server.conn();
    w.send_cmd(&["BLPOP", &k1, &k2, "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["RPUSH", &k2, "x"]), int(1));
    assert_reply!(w.read_reply(), key_elem(&k2, "x"));
    wait_blocked(&mut admin, 0);

    // Two clients on both keys, both keys filled at once by MSET-like pushes from two
    // connections: each client gets exactly one element, none is lost or duplicated.
    let mut a = server.conn();
    let mut b = server.conn();
    a.send_cmd(&["BLPOP", &k1, &k2, "0"]);
    wait_blocked(&mut admin, 1);
    b.send_cmd(&["BLPOP", &k1, &k2, "0"]);
    wait_blocked(&mut admin, 2);
    let mut p1 = server.conn();
    let mut p2 = server.conn();
    p1.send_cmd(&["RPUSH", &k1, "one"]);
    p2.send_cmd(&["RPUSH", &k2, "two"]);
    assert_reply!(p1.read_reply(), int(1));
    assert_reply!(p2.read_reply(), int(1));
    let mut got = vec![a.read_reply(), b.read_reply()];
    got.sort();
    let mut want = vec![key_elem(&k1, "one"), key_elem(&k2, "two")];
    want.sort();
    assert_eq!(got, want);
    assert_reply!(admin.cmd(&["EXISTS", &k1, &k2]), int(0));
    wait_blocked(&mut admin, 0);

    // With data on both, the first key in argument order wins, as in Redis.
    admin.cmd(&["RPUSH", &k1, "first"]);
    admin.cmd(&["RPUSH", &k2, "second"]);
    assert_reply!(
        admin.cmd(&["BLPOP", &k2, &k1, "0"]),
        key_elem(&k2, "second")
    );
    assert_reply!(admin.cmd(&["BLMPOP", "0", "2", "nokey", &k1, "LEFT"]), {
        [b"*2\r\n".to_vec(), bulk(&k1), bulk_array(&["first"])].concat()
    });
}

#[test]
fn timeout_across_shards_answers_once() {
    let server = server();
    let mut c = server.conn();
    let (k1, k2) = split_keys("to");
    assert_reply!(c.cmd(&["BLPOP", &k1, &k2, "0.1"]), b"*-1\r\n");
    // The connection is still in step: the next reply is the next command's.
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    c.cmd(&["RPUSH", &k1, "a"]);
    assert_reply!(c.cmd(&["LLEN", &k1]), int(1));
}

#[test]
fn blmove_across_shards_moves_when_it_fires() {
    let server = server();
    let mut admin = server.conn();
    let (src, dst) = split_keys("bm");
    let mut w = server.conn();
    w.send_cmd(&["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", &dst, "old"]);
    assert_reply!(admin.cmd(&["RPUSH", &src, "a", "b"]), int(2));
    assert_reply!(w.read_reply(), bulk("b"));
    poll_until(|| (admin.cmd(&["LLEN", &dst]) == int(2)).then_some(()));
    assert_reply!(
        admin.cmd(&["LRANGE", &dst, "0", "-1"]),
        bulk_array(&["b", "old"])
    );
    assert_reply!(admin.cmd(&["LRANGE", &src, "0", "-1"]), bulk_array(&["a"]));

    // A client blocked on the destination of an LMOVE is woken by it.
    let mut w2 = server.conn();
    w2.send_cmd(&["BRPOPLPUSH", "chain:b", "chain:c", "0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", "chain:a", "v"]);
    assert_reply!(
        admin.cmd(&["LMOVE", "chain:a", "chain:b", "LEFT", "LEFT"]),
        bulk("v")
    );
    assert_reply!(w2.read_reply(), bulk("v"));
    poll_until(|| {
        (admin.cmd(&["LRANGE", "chain:c", "0", "-1"]) == bulk_array(&["v"])).then_some(())
    });
    assert_reply!(admin.cmd(&["EXISTS", "chain:a", "chain:b"]), int(0));
}

#[test]
fn a_disconnected_client_leaves_the_queue() {
    let server = server();
    let mut admin = server.conn();
    let (k1, k2) = split_keys("gone");
    let mut w = server.conn();
    w.send_cmd(&["BLPOP", &k1, &k2, "0"]);
    wait_blocked(&mut admin, 1);
    w.close();
    wait_blocked(&mut admin, 0);
    // Nothing is popped on behalf of the vanished client.
    assert_reply!(admin.cmd(&["RPUSH", &k1, "a"]), int(1));
    assert_reply!(admin.cmd(&["RPUSH", &k2, "b"]), int(1));
    assert_reply!(admin.cmd(&["LLEN", &k1]), int(1));
    assert_reply!(admin.cmd(&["LLEN", &k2]), int(1));
    // A later waiter is served normally.
    admin.cmd(&["DEL", &k1, &k2]);
    let mut w2 = server.conn();
    w2.send_cmd(&["BLPOP", &k1, "0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&["RPUSH", &k1, "c"]);
    assert_reply!(w2.read_reply(), key_elem(&k1, "c"));
}

#[test]
fn client_unblock() {
    let server = server();
    let mut admin = server.conn();
    let mut w = server.conn();
    let id = as_int(&w.cmd(&["CLIENT", "ID"]));
    let id = id.to_string();
    assert_reply!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), int(0));
    assert_reply!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "FOO"]),
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    assert_reply!(
        admin.cmd(&["CLIENT", "UNBLOCK", "x"]),
        err("ERR value is not an integer or out of range")
    );

    w.send_cmd(&["BLPOP", "ub", "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), int(1));
    assert_reply!(w.read_reply(), b"*-1\r\n");
    wait_blocked(&mut admin, 0);

    w.send_cmd(&["BLMOVE", "ub", "ub2", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), int(1));
    // Like a timeout: a null array even for BLMOVE.
    assert_reply!(w.read_reply(), b"*-1\r\n");

    w.send_cmd(&["BRPOP", "ub", "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_reply!(
        w.read_reply(),
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    wait_blocked(&mut admin, 0);
    // The unblocked client is no longer queued: a push stays in the list.
    admin.cmd(&["RPUSH", "ub", "x"]);
    assert_reply!(admin.cmd(&["LLEN", "ub"]), int(1));
    assert_reply!(w.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn transactions_never_block_and_serve_waiters_after_exec() {
    let server = server();
    let mut admin = server.conn();
    // Inside MULTI a blocking pop answers at once, as in Redis.
    assert_reply!(admin.cmd(&["MULTI"]), OK);
    assert_reply!(admin.cmd(&["BLPOP", "tq", "0"]), b"+QUEUED\r\n");
    assert_reply!(
        admin.cmd(&["BLMOVE", "tq", "{tq}2", "LEFT", "LEFT", "0"]),
        b"+QUEUED\r\n"
    );
    assert_reply!(admin.cmd(&["EXEC"]), b"*2\r\n*-1\r\n$-1\r\n");

    let mut w = server.conn();
    w.send_cmd(&["BLPOP", "tq", "0"]);
    wait_blocked(&mut admin, 1);
    // The transaction runs whole before the waiter is served: its own LPOP gets the element.
    assert_reply!(admin.cmd(&["MULTI"]), OK);
    admin.cmd(&["RPUSH", "tq", "a"]);
    admin.cmd(&["LPOP", "tq"]);
    assert_reply!(
        admin.cmd(&["EXEC"]),
        [b"*2\r\n:1\r\n".to_vec(), bulk("a")].concat()
    );
    wait_blocked(&mut admin, 1);
    // A transaction that leaves the list non-empty wakes the waiter.
    assert_reply!(admin.cmd(&["MULTI"]), OK);
    admin.cmd(&["RPUSH", "tq", "b", "c"]);
    admin.cmd(&["LLEN", "tq"]);
    assert_reply!(admin.cmd(&["EXEC"]), b"*2\r\n:2\r\n:2\r\n");
    assert_reply!(w.read_reply(), key_elem("tq", "b"));
    assert_reply!(admin.cmd(&["LRANGE", "tq", "0", "-1"]), bulk_array(&["c"]));
}

/// A `BZPOPMIN`/`BZPOPMAX` reply in RESP2: `[key, member, score]`.
fn key_member_score(key: &str, member: &str, score: &str) -> Vec<u8> {
    [b"*3\r\n".to_vec(), bulk(key), bulk(member), bulk(score)].concat()
}

/// A `BZMPOP` reply in RESP2: `[key, [[member, score]...]]`.
fn key_pairs(key: &str, pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = [b"*2\r\n".to_vec(), bulk(key)].concat();
    out.extend(format!("*{}\r\n", pairs.len()).bytes());
    for (m, s) in pairs {
        out.extend([b"*2\r\n".to_vec(), bulk(m), bulk(s)].concat());
    }
    out
}

#[test]
fn sorted_set_pops_answer_at_once_with_redis_replies() {
    let server = server();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1.5", "a", "2", "b", "3", "c", "inf", "d"]);
    assert_reply!(
        c.cmd(&["BZPOPMIN", "nokey", "z", "0"]),
        key_member_score("z", "a", "1.5")
    );
    assert_reply!(
        c.cmd(&["BZPOPMAX", "z", "0"]),
        key_member_score("z", "d", "inf")
    );
    assert_reply!(
        c.cmd(&["BZMPOP", "0", "2", "nokey", "z", "MIN", "COUNT", "5"]),
        key_pairs("z", &[("b", "2"), ("c", "3")])
    );
    assert_reply!(c.cmd(&["EXISTS", "z"]), int(0));
    c.cmd(&["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]);
    assert_reply!(
        c.cmd(&["BZMPOP", "0", "1", "z", "MAX"]),
        key_pairs("z", &[("c", "3")])
    );
    // RESP3: scores are doubles, a timeout is a null.
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["BZPOPMAX", "z", "0"]),
        [b"*3\r\n".to_vec(), bulk("z"), bulk("b"), b",2\r\n".to_vec()].concat()
    );
    assert_reply!(
        c.cmd(&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "9"]),
        [
            b"*2\r\n".to_vec(),
            bulk("z"),
            b"*1\r\n*2\r\n".to_vec(),
            bulk("a"),
            b",1.5\r\n".to_vec()
        ]
        .concat()
    );
    assert_reply!(c.cmd(&["BZPOPMIN", "z", "0.01"]), b"_\r\n");
    assert_reply!(c.cmd(&["BZMPOP", "0.01", "1", "z", "MAX"]), b"_\r\n");
    c.cmd(&["HELLO", "2"]);

    c.cmd(&["SET", "s", "v"]);
    c.cmd(&["RPUSH", "l", "v"]);
    assert_reply!(c.cmd(&["BZPOPMIN", "nokey", "s", "0"]), err(WRONGTYPE));
    assert_reply!(c.cmd(&["BZMPOP", "0", "1", "l", "MIN"]), err(WRONGTYPE));
    c.cmd(&["ZADD", "zz", "1", "m"]);
    assert_reply!(c.cmd(&["BLPOP", "zz", "0"]), err(WRONGTYPE));
    for (cmd, want) in [
        (
            &["BZPOPMIN", "s", "x"][..],
            "ERR timeout is not a float or out of range",
        ),
        (&["BZPOPMAX", "s", "-1"], "ERR timeout is negative"),
        (
            &["BZMPOP", "x", "0", "s", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["BZMPOP", "x", "1", "s", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (&["BZMPOP", "x", "1", "s", "FOO"], "ERR syntax error"),
        (&["BZMPOP", "0", "2", "s", "MIN"], "ERR syntax error"),
        (
            &["BZMPOP", "0", "1", "s", "MIN", "COUNT", "1", "COUNT", "2"],
            "ERR syntax error",
        ),
        (
            &["BZMPOP", "-1", "1", "s", "MIN"],
            "ERR timeout is negative",
        ),
        (
            &["BLMPOP", "x", "0", "s", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["BZPOPMIN", "z"],
            "ERR wrong number of arguments for 'bzpopmin' command",
        ),
        (
            &["BZMPOP", "0", "1", "z"],
            "ERR wrong number of arguments for 'bzmpop' command",
        ),
    ] {
        assert_reply!(c.cmd(cmd), err(want), "{cmd:?}");
    }
}

#[test]
fn sorted_set_pops_time_out() {
    let server = server();
    let mut c = server.conn();
    let (k1, k2) = split_keys("zto");
    for cmd in [
        &["BZPOPMIN", "nokey", "0.1"][..],
        &["BZPOPMAX", &k1, &k2, "0.1"],
        &["BZMPOP", "0.1", "2", &k1, &k2, "MIN", "COUNT", "2"],
    ] {
        let started = Instant::now();
        assert_reply!(c.cmd(cmd), b"*-1\r\n", "{cmd:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(1000),
            "{cmd:?} took {took:?}"
        );
    }
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn zadd_and_stores_wake_sorted_set_waiters_in_fifo_order() {
    let server = server();
    let mut admin = server.conn();
    let mut clients: Vec<RawConn> = (0..3).map(|_| server.conn()).collect();
    let cmds: [&[&str]; 3] = [
        &["BZPOPMIN", "zf", "0"],
        &["BZPOPMAX", "zf", "0"],
        &["BZMPOP", "0", "1", "zf", "MIN", "COUNT", "2"],
    ];
    for (i, (c, cmd)) in clients.iter_mut().zip(cmds).enumerate() {
        c.send_cmd(cmd);
        wait_blocked(&mut admin, i as i64 + 1);
    }
    // One ZADD serves every waiter in the order they blocked, while members remain.
    assert_reply!(
        admin.cmd(&["ZADD", "zf", "1", "a", "2", "b", "3", "c", "4", "d"]),
        int(4)
    );
    assert_reply!(clients[0].read_reply(), key_member_score("zf", "a", "1"));
    assert_reply!(clients[1].read_reply(), key_member_score("zf", "d", "4"));
    assert_reply!(
        clients[2].read_reply(),
        key_pairs("zf", &[("b", "2"), ("c", "3")])
    );
    assert_reply!(admin.cmd(&["EXISTS", "zf"]), int(0));
    wait_blocked(&mut admin, 0);

    // Two waiters, one member at a time: the first to block is served first.
    clients[1].send_cmd(&["BZPOPMIN", "zf", "0"]);
    wait_blocked(&mut admin, 1);
    clients[0].send_cmd(&["BZPOPMIN", "zf", "0"]);
    wait_blocked(&mut admin, 2);
    assert_reply!(admin.cmd(&["ZINCRBY", "zf", "2.5", "x"]), bulk("2.5"));
    assert_reply!(clients[1].read_reply(), key_member_score("zf", "x", "2.5"));
    clients[0].expect_silence(Duration::from_millis(50));
    // A store onto the waited-on key wakes the other one.
    admin.cmd(&["ZADD", "{zf}src", "7", "s"]);
    assert_reply!(admin.cmd(&["ZUNIONSTORE", "zf", "1", "{zf}src"]), int(1));
    assert_reply!(clients[0].read_reply(), key_member_score("zf", "s", "7"));
    wait_blocked(&mut admin, 0);

    // A list push on the key does not serve a sorted-set waiter.
    clients[2].send_cmd(&["BZPOPMAX", "zl", "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["RPUSH", "zl", "e"]), int(1));
    clients[2].expect_silence(Duration::from_millis(50));
    admin.cmd(&["DEL", "zl"]);
    admin.cmd(&["ZADD", "zl", "5", "m"]);
    assert_reply!(clients[2].read_reply(), key_member_score("zl", "m", "5"));
}

#[test]
fn sorted_set_pops_on_keys_of_several_shards() {
    let server = server();
    let mut admin = server.conn();
    let (k1, k2) = split_keys("zs");
    let mut w = server.conn();
    w.send_cmd(&["BZPOPMIN", &k1, &k2, "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["ZADD", &k2, "1", "x", "2", "y"]), int(2));
    assert_reply!(w.read_reply(), key_member_score(&k2, "x", "1"));
    wait_blocked(&mut admin, 0);
    assert_reply!(admin.cmd(&["ZCARD", &k2]), int(1));

    w.send_cmd(&["BZMPOP", "0", "2", &k1, "nokey", "MAX", "COUNT", "10"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["ZADD", &k1, "1", "p", "2", "q"]), int(2));
    assert_reply!(w.read_reply(), key_pairs(&k1, &[("q", "2"), ("p", "1")]));
    wait_blocked(&mut admin, 0);

    // With members on both, the first key in argument order wins.
    admin.cmd(&["ZADD", &k1, "3", "r"]);
    assert_reply!(
        admin.cmd(&["BZPOPMAX", &k2, &k1, "0"]),
        key_member_score(&k2, "y", "2")
    );
    assert_reply!(
        admin.cmd(&["BZMPOP", "0", "2", &k2, &k1, "MIN"]),
        key_pairs(&k1, &[("r", "3")])
    );
}

#[test]
fn sorted_set_pops_in_transactions_never_block() {
    let server = server();
    let mut admin = server.conn();
    assert_reply!(admin.cmd(&["MULTI"]), OK);
    assert_reply!(admin.cmd(&["BZPOPMIN", "tz", "0"]), b"+QUEUED\r\n");
    assert_reply!(
        admin.cmd(&["BZMPOP", "0", "1", "tz", "MIN"]),
        b"+QUEUED\r\n"
    );
    assert_reply!(admin.cmd(&["EXEC"]), b"*2\r\n*-1\r\n*-1\r\n");
    admin.cmd(&["ZADD", "tz", "1", "a"]);
    assert_reply!(admin.cmd(&["MULTI"]), OK);
    admin.cmd(&["BZPOPMAX", "tz", "0"]);
    assert_reply!(
        admin.cmd(&["EXEC"]),
        [b"*1\r\n".to_vec(), key_member_score("tz", "a", "1")].concat()
    );

    let mut w = server.conn();
    let id = as_int(&w.cmd(&["CLIENT", "ID"])).to_string();
    w.send_cmd(&["BZPOPMIN", "tz", "0"]);
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), int(1));
    assert_reply!(w.read_reply(), b"*-1\r\n");
    wait_blocked(&mut admin, 0);
}

/// A `BLMOVE` served after blocking, with source and destination on different shards, moves
/// atomically: transactions reading both lists and the count of pushes always find every
/// pushed element in exactly one of them, never in neither (nor in both).
#[test]
fn blmove_served_later_across_shards_is_atomic() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const ELEMENTS: usize = 400;
    const MOVERS: usize = 4;
    let server = server();
    let (src, dst) = split_keys("atomic-bm");
    let pushed = "atomic-bm:pushed";
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let movers: Vec<_> = (0..MOVERS)
            .map(|_| {
                let mut c = server.conn();
                let (src, dst) = (&src, &dst);
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let elem =
                            bulk_payload(&c.cmd(&["BLMOVE", src, dst, "RIGHT", "LEFT", "0"]));
                        if elem == b"stop" {
                            return got;
                        }
                        got.push(elem);
                    }
                })
            })
            .collect();
        let observers: Vec<_> = (0..2)
            .map(|_| {
                let mut c = server.conn();
                let (src, dst, done) = (&src, &dst, &done);
                s.spawn(move || {
                    let mut checks = 0;
                    while !done.load(Ordering::Acquire) {
                        assert_reply!(c.cmd(&["MULTI"]), b"+OK\r\n");
                        for cmd in [["LLEN", src.as_str()], ["LLEN", dst], ["GET", pushed]] {
                            assert_reply!(c.cmd(&cmd), b"+QUEUED\r\n");
                        }
                        let reply = c.cmd(&["EXEC"]);
                        let text = String::from_utf8_lossy(&reply).into_owned();
                        let nums: Vec<i64> = text
                            .split("\r\n")
                            .filter_map(|l| {
                                l.strip_prefix(':').or_else(|| {
                                    (!l.starts_with(['*', '$']) && !l.is_empty()).then_some(l)
                                })
                            })
                            .map(|v| v.parse().unwrap())
                            .collect();
                        let total = if nums.len() == 3 { nums[2] } else { 0 };
                        assert_eq!(
                            nums[0] + nums[1],
                            total,
                            "an element is in neither list or in both: {}",
                            escape(&reply)
                        );
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        let mut p = server.conn();
        let mut admin = server.conn();
        let items = (0..ELEMENTS)
            .map(|i| format!("e{i}"))
            .chain((0..MOVERS).map(|_| "stop".to_string()));
        for (i, item) in items.enumerate() {
            // Every few pushes, let the movers block first, so that most moves are served
            // after blocking (the path under test), not found at once.
            if i % 4 == 0 {
                poll_until(|| (blocked_clients(&mut admin) >= 1).then_some(()));
            }
            assert_reply!(p.cmd(&["MULTI"]), b"+OK\r\n");
            assert_reply!(p.cmd(&["LPUSH", &src, &item]), b"+QUEUED\r\n");
            assert_reply!(p.cmd(&["INCR", pushed]), b"+QUEUED\r\n");
            let reply = p.cmd(&["EXEC"]);
            assert!(reply.starts_with(b"*2\r\n:"), "{}", escape(&reply));
        }
        let mut all: Vec<Vec<u8>> = movers.into_iter().flat_map(|m| m.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        for o in observers {
            assert!(o.join().unwrap() > 0);
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), ELEMENTS);
        assert_reply!(admin.cmd(&["LLEN", &src]), int(0));
        assert_reply!(admin.cmd(&["LLEN", &dst]), int((ELEMENTS + MOVERS) as i64));
    });
}

/// A client woken for a cross-shard `BLMOVE` whose element another client takes before the
/// move runs (a pipelined `LPOP` right behind the push) blocks again at the head of the queue:
/// the next element is still its own, then the next client's.
#[test]
fn blmove_across_shards_keeps_its_place_when_its_element_is_taken() {
    let server = server();
    let mut admin = server.conn();
    let (src, dst) = split_keys("place");
    let mut a = server.conn();
    let mut b = server.conn();
    a.send_cmd(&["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    b.send_cmd(&["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut admin, 2);
    let mut p = server.conn();
    p.send(
        &[
            encode_command(&["RPUSH", &src, "x"]),
            encode_command(&["LPOP", &src]),
        ]
        .concat(),
    );
    assert_reply!(p.read_reply(), int(1));
    let popped = p.read_reply();
    let (first_for_a, for_b) = if popped == bulk("x") {
        // The LPOP won: A is waiting again, still first.
        wait_blocked(&mut admin, 2);
        assert_reply!(admin.cmd(&["RPUSH", &src, "y"]), int(1));
        ("y", "z")
    } else {
        // A's move ran first (always so in Redis).
        assert_reply!(popped, b"$-1\r\n");
        ("x", "y")
    };
    assert_reply!(a.read_reply(), bulk(first_for_a));
    assert_reply!(admin.cmd(&["RPUSH", &src, for_b]), int(1));
    assert_reply!(b.read_reply(), bulk(for_b));
    wait_blocked(&mut admin, 0);
    assert_reply!(admin.cmd(&["LLEN", &src]), int(0));
    assert_reply!(
        admin.cmd(&["LRANGE", &dst, "0", "-1"]),
        bulk_array(&[for_b, first_for_a])
    );
}

/// A cross-shard `BLMOVE` woken by a push reads the element under its transaction's lock and
/// moves it; a `BLPOP` client behind it on the same key must not get that element too (the
/// shard once served it while the move held the key, and both clients had it).
#[test]
fn blmove_across_shards_element_goes_to_one_client_only() {
    let server = server();
    let mut admin = server.conn();
    let (src, dst) = split_keys("once");
    let mut a = server.conn();
    let mut b = server.conn();
    a.send_cmd(&["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut admin, 1);
    b.send_cmd(&["BLPOP", &src, "0"]);
    wait_blocked(&mut admin, 2);
    assert_reply!(admin.cmd(&["RPUSH", &src, "x"]), int(1));
    assert_reply!(a.read_reply(), bulk("x"));
    assert_reply!(admin.cmd(&["LRANGE", &dst, "0", "-1"]), bulk_array(&["x"]));
    assert_reply!(admin.cmd(&["EXISTS", &src]), int(0));
    wait_blocked(&mut admin, 1);
    assert_reply!(admin.cmd(&["RPUSH", &src, "y"]), int(1));
    assert_reply!(b.read_reply(), key_elem(&src, "y"));
    assert_reply!(admin.cmd(&["EXISTS", &src]), int(0));
}

/// A race for `ITEMS` items between six consumer connections and a producer.
///
/// The producer adds item `i` with `add(i)`, and every `every`-th time pipelines `take` right
/// behind it (a non-blocking pop, read with `taken`); every eighth add waits until two
/// consumers are blocked, so most are served after blocking. Consumer `c` runs `consume(c,
/// conn)` (a pop with a short timeout) until the items are all out (`left` is 0) and its pop
/// times out (`None`). Returns every item taken by a consumer or the producer.
struct Race<'a> {
    consume: &'a Consume<'a>,
    add: &'a dyn Fn(usize) -> Vec<u8>,
    every: usize,
    take: Vec<u8>,
    taken: fn(&[u8]) -> Vec<Vec<u8>>,
    left: &'a dyn Fn(&mut RawConn) -> i64,
}

const ITEMS: usize = 600;

/// A consumer's pop: the items it took, or `None` if it timed out.
type Consume<'a> = dyn Fn(usize, &mut RawConn) -> Option<Vec<Vec<u8>>> + Sync + 'a;

fn race(server: &TestServer, r: Race<'_>) -> Vec<Vec<u8>> {
    use std::sync::atomic::{AtomicBool, Ordering};

    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let consumers: Vec<_> = (0..6)
            .map(|i| {
                let mut c = server.conn();
                let (done, consume) = (&done, r.consume);
                s.spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match consume(i, &mut c) {
                            Some(items) => got.extend(items),
                            None if done.load(Ordering::Acquire) => return got,
                            None => {}
                        }
                    }
                })
            })
            .collect();
        let mut p = server.conn();
        let mut admin = server.conn();
        let mut got = Vec::new();
        for i in 0..ITEMS {
            if i % 8 == 0 {
                poll_until(|| (blocked_clients(&mut admin) >= 2).then_some(()));
            }
            if i % r.every == 0 {
                p.send(&[(r.add)(i), r.take.clone()].concat());
                p.read_reply();
                let reply = p.read_reply();
                if reply != NIL && reply != b"*-1\r\n" {
                    got.extend((r.taken)(&reply));
                }
            } else {
                p.send(&(r.add)(i));
                p.read_reply();
            }
        }
        poll_until(|| ((r.left)(&mut admin) == 0).then_some(()));
        done.store(true, Ordering::Release);
        for c in consumers {
            got.extend(c.join().unwrap());
        }
        got
    })
}

/// Checks that `taken` holds `prefix0` .. `prefix{ITEMS - 1}`, each exactly once.
fn assert_each_once(mut taken: Vec<Vec<u8>>, prefix: &str) {
    taken.sort();
    let mut expected: Vec<Vec<u8>> = (0..ITEMS)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect();
    expected.sort();
    assert_eq!(taken.len(), ITEMS, "an item was lost or taken twice");
    assert_eq!(taken, expected);
}

/// Every kind of consumer of one list at once, with the `BLMOVE` destination on another shard:
/// cross-shard movers, `BLPOP` poppers and non-blocking `RPOP`s pipelined behind pushes race
/// for the pushed elements. Each element comes out exactly once (in a reply, or moved to the
/// destination), and nothing is left behind.
#[test]
fn mixed_consumers_across_shards_take_each_element_once() {
    let server = server();
    let (src, dst) = split_keys("mixed");
    let mut taken = race(
        &server,
        Race {
            // Movers (even) leave their elements in the destination; poppers keep theirs.
            consume: &|i, c| {
                if i % 2 == 0 {
                    let reply = c.cmd(&["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0.05"]);
                    (reply != b"*-1\r\n").then(Vec::new)
                } else {
                    let reply = c.cmd(&["BLPOP", &src, "0.05"]);
                    (reply != b"*-1\r\n").then(|| vec![bulk_items(&reply).pop().unwrap()])
                }
            },
            add: &|i| encode_command(&["LPUSH", &src, &format!("e{i}")]),
            every: 3,
            take: encode_command(&["RPOP", &src]),
            taken: |reply| vec![bulk_payload(reply)],
            left: &|c| as_int(&c.cmd(&["LLEN", &src])),
        },
    );
    let mut admin = server.conn();
    taken.extend(bulk_items(&admin.cmd(&["LRANGE", &dst, "0", "-1"])));
    assert_each_once(taken, "e");
    assert_reply!(admin.cmd(&["EXISTS", &src]), int(0));
}

/// Blocking pops over keys on two shards at once, racing for elements pushed to both: `BLMPOP`
/// and `BLPOP` over both keys, `BRPOP` on one, `LMPOP` across shards pipelined behind pushes.
/// Each element comes out exactly once, and nothing is left behind.
#[test]
fn multi_key_pops_across_shards_take_each_element_once() {
    let server = server();
    let (k1, k2) = split_keys("multi");
    let taken = race(
        &server,
        Race {
            consume: &|i, c| {
                let reply = match i % 3 {
                    0 => c.cmd(&["BLMPOP", "0.05", "2", &k1, &k2, "LEFT", "COUNT", "2"]),
                    1 => c.cmd(&["BLPOP", &k1, &k2, "0.05"]),
                    _ => c.cmd(&["BRPOP", &k2, "0.05"]),
                };
                if reply == b"*-1\r\n" {
                    None
                } else if i % 3 == 0 {
                    Some(mpop_elements(&reply))
                } else {
                    Some(vec![bulk_items(&reply).pop().unwrap()])
                }
            },
            add: &|i| {
                let key = if i % 2 == 0 { &k1 } else { &k2 };
                encode_command(&["RPUSH", key, &format!("e{i}")])
            },
            every: 5,
            take: encode_command(&["LMPOP", "2", &k1, &k2, "RIGHT"]),
            taken: mpop_elements,
            left: &|c| as_int(&c.cmd(&["LLEN", &k1])) + as_int(&c.cmd(&["LLEN", &k2])),
        },
    );
    assert_each_once(taken, "e");
}

/// The elements of an `LMPOP`/`BLMPOP` reply, `[key, [elem...]]`.
fn mpop_elements(reply: &[u8]) -> Vec<Vec<u8>> {
    let rest = reply.strip_prefix(b"*2\r\n$").expect("not an LMPOP reply");
    let digits = rest.iter().position(|&b| b == b'\r').unwrap();
    let len: usize = std::str::from_utf8(&rest[..digits])
        .unwrap()
        .parse()
        .unwrap();
    bulk_items(&rest[digits + 2 + len + 2..])
}

/// The sorted-set form of the races above: `BZMPOP` and `BZPOPMIN` over keys on two shards,
/// `BZPOPMAX` on one, `ZMPOP` across shards pipelined behind adds. Each member comes out
/// exactly once, and nothing is left behind.
#[test]
fn sorted_set_pops_across_shards_take_each_member_once() {
    let server = server();
    let (z1, z2) = split_keys("zmulti");
    let taken = race(
        &server,
        Race {
            consume: &|i, c| {
                let reply = match i % 3 {
                    0 => c.cmd(&["BZMPOP", "0.05", "2", &z1, &z2, "MIN", "COUNT", "2"]),
                    1 => c.cmd(&["BZPOPMIN", &z1, &z2, "0.05"]),
                    _ => c.cmd(&["BZPOPMAX", &z2, "0.05"]),
                };
                (reply != b"*-1\r\n").then(|| popped_members(&reply))
            },
            add: &|i| {
                let key = if i % 2 == 0 { &z1 } else { &z2 };
                encode_command(&["ZADD", key, &i.to_string(), &format!("m{i}")])
            },
            every: 5,
            take: encode_command(&["ZMPOP", "2", &z1, &z2, "MAX"]),
            taken: popped_members,
            left: &|c| as_int(&c.cmd(&["ZCARD", &z1])) + as_int(&c.cmd(&["ZCARD", &z2])),
        },
    );
    assert_each_once(taken, "m");
}

/// The members of a `BZPOPMIN` (`[key, member, score]`) or `BZMPOP` (`[key, [[member,
/// score]...]]`) reply in RESP2: every other bulk string after the key.
fn popped_members(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut bulks = Vec::new();
    let mut rest = reply;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..line_end];
        rest = &rest[line_end + 2..];
        if let Some(len) = line.strip_prefix(b"$") {
            let len: usize = std::str::from_utf8(len).unwrap().parse().unwrap();
            bulks.push(rest[..len].to_vec());
            rest = &rest[len + 2..];
        }
    }
    bulks.into_iter().skip(1).step_by(2).collect()
}
