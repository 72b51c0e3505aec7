//! Blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP — timeouts, wake-ups, FIFO
//! fairness, keys on several shards, disconnects and CLIENT UNBLOCK.
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
