//! `MULTI`/`EXEC`/`DISCARD`/`WATCH`/`UNWATCH`, and atomicity across shards under concurrency.
//!
//! The stress tests fail on any partial state a client could observe: a transaction or a
//! multi-key command half applied on one shard and not yet on another.

use std::thread;

use kvd_tests::*;

const WORKERS: usize = 4;

fn server() -> TestServer {
    TestServer::with(ServerOptions {
        workers: WORKERS,
        io_threads: 2,
        ..ServerOptions::default()
    })
}

const QUEUED: &[u8] = b"+QUEUED\r\n";
const NULL_ARRAY: &[u8] = b"*-1\r\n";

#[test]
fn exec_returns_every_reply_in_order_across_shards() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("tx", 3, WORKERS);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", &k[0], "1"]), QUEUED);
    assert_reply!(c.cmd(&["INCR", &k[1]]), QUEUED);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["MSET", &k[0], "x", &k[2], "y"]), QUEUED);
    assert_reply!(c.cmd(&["MGET", &k[0], &k[1], &k[2], "nokey"]), QUEUED);
    assert_reply!(c.cmd(&["DEL", &k[0], &k[1], &k[2]]), QUEUED);
    assert_reply!(c.cmd(&["ECHO", "hi"]), QUEUED);
    assert_reply!(
        c.cmd(&["EXEC"]),
        b"*7\r\n+OK\r\n:1\r\n+PONG\r\n+OK\r\n*4\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$-1\r\n:3\r\n$2\r\nhi\r\n"
    );
    // The connection is back to normal.
    assert_reply!(c.cmd(&["GET", &k[0]]), b"$-1\r\n");
}

#[test]
fn empty_transaction_and_local_only_transaction() {
    let server = server();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["EXEC"]), b"*0\r\n");
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING", "x"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n$1\r\nx\r\n");
}

#[test]
fn state_errors_have_redis_texts() {
    let server = server();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_reply!(c.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    // Neither of these flags the transaction.
    assert_reply!(c.cmd(&["MULTI"]), err("ERR MULTI calls can not be nested"));
    assert_reply!(
        c.cmd(&["WATCH", "x"]),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert_reply!(c.cmd(&["SET", "a", "b"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n+OK\r\n");
}

#[test]
fn queuing_errors_abort_the_transaction() {
    let server = server();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "a", "old"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", "a", "new"]), QUEUED);
    assert_reply!(
        c.cmd(&["FOO", "bar"]),
        err("ERR unknown command 'FOO', with args beginning with: 'bar' ")
    );
    assert_reply!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_reply!(c.cmd(&["GET", "a"]), bulk("old"));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(
        c.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_reply!(c.cmd(&["SET", "a", "new"]), QUEUED);
    assert_reply!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_reply!(c.cmd(&["GET", "a"]), bulk("old"));
    // EXECABORT ended the transaction.
    assert_reply!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
}

#[test]
fn runtime_errors_do_not_abort_the_rest() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("rt", 2, WORKERS);
    assert_reply!(c.cmd(&["SET", &k[0], "notanumber"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["INCR", &k[0]]), QUEUED);
    assert_reply!(c.cmd(&["SET", &k[1], "1"]), QUEUED);
    // Arity -3 passes when queued; the odd pair count fails when it runs.
    assert_reply!(c.cmd(&["MSET", &k[0], "1", &k[1]]), QUEUED);
    assert_reply!(c.cmd(&["INCR", &k[1]]), QUEUED);
    assert_reply!(
        c.cmd(&["EXEC"]),
        b"*4\r\n-ERR value is not an integer or out of range\r\n+OK\r\n-ERR wrong number of arguments for 'mset' command\r\n:2\r\n"
    );
}

#[test]
fn discard_drops_the_queue_and_unwatches() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    assert_reply!(c.cmd(&["WATCH", "w"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", "d", "1"]), QUEUED);
    assert_reply!(c.cmd(&["DISCARD"]), OK);
    assert_reply!(c.cmd(&["GET", "d"]), b"$-1\r\n");
    assert_reply!(other.cmd(&["SET", "w", "changed"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n+PONG\r\n");
}

#[test]
fn select_inside_multi_applies_to_later_commands() {
    let server = server();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SELECT", "1"]), QUEUED);
    assert_reply!(c.cmd(&["SET", "in1", "v"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*2\r\n+OK\r\n+OK\r\n");
    assert_reply!(c.cmd(&["GET", "in1"]), bulk("v"));
    assert_reply!(c.cmd(&["SELECT", "0"]), OK);
    assert_reply!(c.cmd(&["GET", "in1"]), b"$-1\r\n");
}

#[test]
fn watch_fails_exec_when_another_client_changes_a_key_on_any_shard() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    let k = keys_on_different_shards("w", 3, WORKERS);
    assert_reply!(c.cmd(&["SET", &k[0], "0"]), OK);
    assert_reply!(c.cmd(&["WATCH", &k[0], &k[1]]), OK);
    assert_reply!(other.cmd(&["SET", &k[1], "1"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", &k[2], "x"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
    assert_reply!(c.cmd(&["GET", &k[2]]), b"$-1\r\n");
    // EXEC unwatched everything, failed or not.
    assert_reply!(other.cmd(&["SET", &k[1], "2"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", &k[2], "x"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n+OK\r\n");
    // Deletion counts as a change.
    assert_reply!(c.cmd(&["WATCH", &k[0]]), OK);
    assert_reply!(other.cmd(&["DEL", &k[0]]), int(1));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
    // So does a change by the watching client itself, and an in-place change.
    assert_reply!(c.cmd(&["SET", &k[0], "s"]), OK);
    assert_reply!(c.cmd(&["WATCH", &k[0]]), OK);
    assert_reply!(c.cmd(&["APPEND", &k[0], "t"]), int(2));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
}

#[test]
fn watch_untouched_keys_let_exec_run() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    let k = keys_on_different_shards("u", 2, WORKERS);
    assert_reply!(c.cmd(&["WATCH", &k[0], &k[1]]), OK);
    assert_reply!(other.cmd(&["SET", "unrelated", "1"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", &k[0], "a"]), QUEUED);
    assert_reply!(c.cmd(&["SET", &k[1], "b"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*2\r\n+OK\r\n+OK\r\n");
    // UNWATCH forgets the keys.
    assert_reply!(c.cmd(&["WATCH", &k[0]]), OK);
    assert_reply!(c.cmd(&["UNWATCH"]), OK);
    assert_reply!(other.cmd(&["SET", &k[0], "z"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["GET", &k[0]]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n$1\r\nz\r\n");
    assert_reply!(c.cmd(&["UNWATCH"]), OK);
}

#[test]
fn watch_fails_exec_after_the_key_expired() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    // The key must still live when WATCH registers it: like Redis 7.0, a key already expired
    // at WATCH time does not fail EXEC by expiring. On a busy machine 100 ms can pass between
    // two commands, so the set is retried until the watch surely came first.
    poll_until(|| {
        assert_reply!(c.cmd(&["SET", "exp", "v", "PX", "100"]), OK);
        assert_reply!(c.cmd(&["WATCH", "exp"]), OK);
        if as_int(&c.cmd(&["PTTL", "exp"])) > 0 {
            return Some(());
        }
        assert_reply!(c.cmd(&["UNWATCH"]), OK);
        None
    });
    // Another client sees the key gone once its time has passed.
    poll_until(|| (other.cmd(&["EXISTS", "exp"]) == int(0)).then_some(()));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
}

#[test]
fn flushall_touches_watched_keys_that_exist_only() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    assert_reply!(c.cmd(&["SET", "fx", "30"]), OK);
    assert_reply!(c.cmd(&["WATCH", "fx"]), OK);
    assert_reply!(other.cmd(&["FLUSHALL"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);

    assert_reply!(c.cmd(&["WATCH", "fy"]), OK);
    assert_reply!(other.cmd(&["FLUSHALL"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n+PONG\r\n");

    assert_reply!(c.cmd(&["SET", "fz", "1"]), OK);
    assert_reply!(c.cmd(&["WATCH", "fz"]), OK);
    assert_reply!(other.cmd(&["FLUSHDB"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
}

#[test]
fn failed_exec_is_a_null_in_resp3() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    c.cmd(&["HELLO", "3"]);
    assert_reply!(c.cmd(&["WATCH", "r3"]), OK);
    assert_reply!(other.cmd(&["SET", "r3", "1"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"_\r\n");
}

#[test]
fn queued_replies_are_pipelined_in_order() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("p", 2, WORKERS);
    for args in [
        vec!["MULTI"],
        vec!["SET", &k[0], "1"],
        vec!["SET", &k[1], "2"],
        vec!["EXEC"],
        vec!["MGET", &k[0], &k[1]],
    ] {
        c.send_cmd(&args);
    }
    assert_reply!(c.read_reply(), OK);
    assert_reply!(c.read_reply(), QUEUED);
    assert_reply!(c.read_reply(), QUEUED);
    assert_reply!(c.read_reply(), b"*2\r\n+OK\r\n+OK\r\n");
    assert_reply!(c.read_reply(), bulk_array(&["1", "2"]));
}

/// (1) Transfers between two keys on different shards inside `MULTI`, while readers `MGET`
/// both keys: the sum never changes.
#[test]
fn transfers_in_transactions_keep_the_sum() {
    let server = server();
    let addr = server.addr();
    let k = keys_on_different_shards("acct", 2, WORKERS);
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", &k[0], "1000", &k[1], "1000"]), OK);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (k, stop) = (k.clone(), stop.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    let items = bulk_items(&c.cmd(&["MGET", &k[0], &k[1]]));
                    let sum: i64 = items
                        .iter()
                        .map(|v| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap())
                        .sum();
                    assert_eq!(sum, 2000, "partial transfer observed: {items:?}");
                    reads += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let k = k.clone();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..100 {
                    let amount = ((t * 7 + i) % 13 + 1).to_string();
                    let (from, to) = if (t + i) % 2 == 0 {
                        (&k[0], &k[1])
                    } else {
                        (&k[1], &k[0])
                    };
                    c.send_cmd(&["MULTI"]);
                    c.send_cmd(&["DECRBY", from, &amount]);
                    c.send_cmd(&["INCRBY", to, &amount]);
                    c.send_cmd(&["EXEC"]);
                    assert_reply!(c.read_reply(), OK);
                    assert_reply!(c.read_reply(), QUEUED);
                    assert_reply!(c.read_reply(), QUEUED);
                    let exec = c.read_reply();
                    assert!(exec.starts_with(b"*2\r\n:"), "{}", escape(&exec));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let items = bulk_items(&c.cmd(&["MGET", &k[0], &k[1]]));
    let sum: i64 = items
        .iter()
        .map(|v| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(sum, 2000);
}

/// (2) `MSET` of keys on different shards against concurrent `MGET`: a read never mixes two
/// writes.
#[test]
fn mset_across_shards_is_never_seen_half_applied() {
    let server = server();
    let addr = server.addr();
    let k = keys_on_different_shards("pair", 3, WORKERS);
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["MSET", &k[0], "init", &k[1], "init", &k[2], "init"]),
        OK
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (k, stop) = (k.clone(), stop.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    let items = bulk_items(&c.cmd(&["MGET", &k[0], &k[1], &k[2]]));
                    assert!(
                        items.iter().all(|v| *v == items[0]),
                        "mixed writes observed: {items:?}"
                    );
                    reads += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..5)
        .map(|t| {
            let k = k.clone();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..150 {
                    let v = format!("w{t}-{i}");
                    assert_reply!(c.cmd(&["MSET", &k[0], &v, &k[1], &v, &k[2], &v]), OK);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
}

/// (3) Optimistic increments with `WATCH` from 8 clients, each also counting in a key on
/// another shard: both end at the exact total.
#[test]
fn watch_based_increments_reach_the_exact_total() {
    let server = server();
    let addr = server.addr();
    let k = keys_on_different_shards("opt", 2, WORKERS);
    const CLIENTS: usize = 8;
    const EACH: usize = 40;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let k = k.clone();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut done = 0;
                let mut attempts = 0;
                while done < EACH {
                    attempts += 1;
                    assert!(attempts < 100_000, "no progress");
                    assert_reply!(c.cmd(&["WATCH", &k[0]]), OK);
                    let current = c.cmd(&["GET", &k[0]]);
                    let v: i64 = if current == b"$-1\r\n" {
                        0
                    } else {
                        std::str::from_utf8(&bulk_payload(&current))
                            .unwrap()
                            .parse()
                            .unwrap()
                    };
                    let next = (v + 1).to_string();
                    c.send_cmd(&["MULTI"]);
                    c.send_cmd(&["SET", &k[0], &next]);
                    c.send_cmd(&["INCR", &k[1]]);
                    c.send_cmd(&["EXEC"]);
                    assert_reply!(c.read_reply(), OK);
                    assert_reply!(c.read_reply(), QUEUED);
                    assert_reply!(c.read_reply(), QUEUED);
                    let exec = c.read_reply();
                    if exec != NULL_ARRAY {
                        assert!(exec.starts_with(b"*2\r\n+OK\r\n:"), "{}", escape(&exec));
                        done += 1;
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    let mut c = server.conn();
    let total = (CLIENTS * EACH).to_string();
    assert_reply!(
        c.cmd(&["MGET", &k[0], &k[1]]),
        bulk_array(&[total.as_str(), total.as_str()])
    );
}

/// Multi-key commands across shards stay atomic: `RENAME`, `RENAMENX`, `COPY`, `MSETNX`.
#[test]
fn moving_commands_across_shards() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("mv", 2, WORKERS);
    assert_reply!(c.cmd(&["SET", &k[0], "v", "EX", "100"]), OK);
    assert_reply!(c.cmd(&["RENAME", &k[0], &k[1]]), OK);
    assert_reply!(c.cmd(&["GET", &k[1]]), bulk("v"));
    assert_reply!(c.cmd(&["EXISTS", &k[0], &k[1]]), int(1));
    assert!(as_int(&c.cmd(&["TTL", &k[1]])) > 0);
    assert_reply!(c.cmd(&["RENAME", &k[0], &k[1]]), err("ERR no such key"));
    assert_reply!(c.cmd(&["COPY", &k[1], &k[0]]), int(1));
    assert_reply!(c.cmd(&["COPY", &k[1], &k[0]]), int(0));
    assert_reply!(c.cmd(&["RENAMENX", &k[1], &k[0]]), int(0));
    assert_reply!(c.cmd(&["DEL", &k[0]]), int(1));
    assert_reply!(c.cmd(&["RENAMENX", &k[1], &k[0]]), int(1));
    assert_reply!(c.cmd(&["MSETNX", &k[0], "a", &k[1], "b"]), int(0));
    assert_reply!(c.cmd(&["MSETNX", &k[1], "a", "{other}", "b"]), int(1));
    assert_reply!(c.cmd(&["MGET", &k[0], &k[1]]), bulk_array(&["v", "a"]));
}

#[test]
fn reset_ends_the_transaction_and_unwatches() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", "rs", "1"]), QUEUED);
    assert_reply!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_reply!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_reply!(c.cmd(&["GET", "rs"]), b"$-1\r\n");
    assert_reply!(c.cmd(&["WATCH", "rs"]), OK);
    assert_reply!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_reply!(other.cmd(&["SET", "rs", "2"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), b"*1\r\n+PONG\r\n");
}

/// A client that sends a transaction and disconnects at once must not leave keys locked: the
/// next client's commands on the same keys still complete.
#[test]
fn a_vanished_client_leaves_no_locks_behind() {
    let server = server();
    let k = keys_on_different_shards("gone", 2, WORKERS);
    for _ in 0..20 {
        let mut c = server.conn();
        c.send_cmd(&["MULTI"]);
        c.send_cmd(&["INCR", &k[0]]);
        c.send_cmd(&["INCR", &k[1]]);
        c.send_cmd(&["EXEC"]);
        c.send_cmd(&["MSET", &k[0], "1", &k[1], "1"]);
        c.close();
    }
    // The vanished clients' commands may still be running (on another IO thread); whatever
    // ran, each key pair moved together, and nothing is stuck.
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", &k[0], "5", &k[1], "5"]), OK);
    let items = bulk_items(&c.cmd(&["MGET", &k[0], &k[1]]));
    assert_eq!(items[0], items[1], "{items:?}");
}

/// Which commands invalidate `WATCH`: only a real change of the watched key `k`, as Redis's
/// `signalModifiedKey` (recorded from redis-server 7.0.15: `true` = `EXEC` answers null).
/// Each case: setup commands, the other client's command, whether `EXEC` fails.
#[allow(clippy::type_complexity)]
const WATCH_CASES: &[(&str, &[&[&str]], &[&str], bool)] = &[
    ("del-missing", &[], &["del", "k"], false),
    ("del-existing", &[&["set", "k", "v"]], &["del", "k"], true),
    ("unlink-missing", &[], &["unlink", "k"], false),
    ("getdel-missing", &[], &["getdel", "k"], false),
    (
        "srem-missing-member",
        &[&["sadd", "k", "a"]],
        &["srem", "k", "b"],
        false,
    ),
    ("srem-missing-key", &[], &["srem", "k", "b"], false),
    (
        "srem-hit",
        &[&["sadd", "k", "a", "b"]],
        &["srem", "k", "a"],
        true,
    ),
    (
        "sadd-existing",
        &[&["sadd", "k", "a"]],
        &["sadd", "k", "a"],
        false,
    ),
    ("expire-missing", &[], &["expire", "k", "10"], false),
    (
        "expire-nx-has-ttl",
        &[&["set", "k", "v", "ex", "100"]],
        &["expire", "k", "10", "nx"],
        false,
    ),
    (
        "expire-gt-lower",
        &[&["set", "k", "v", "ex", "100"]],
        &["expire", "k", "10", "gt"],
        false,
    ),
    (
        "expire-hit",
        &[&["set", "k", "v"]],
        &["expire", "k", "10"],
        true,
    ),
    (
        "persist-no-ttl",
        &[&["set", "k", "v"]],
        &["persist", "k"],
        false,
    ),
    (
        "persist-ttl",
        &[&["set", "k", "v", "ex", "100"]],
        &["persist", "k"],
        true,
    ),
    (
        "setnx-fails",
        &[&["set", "k", "v"]],
        &["set", "k", "w", "nx"],
        false,
    ),
    (
        "setnx-cmd-fails",
        &[&["set", "k", "v"]],
        &["setnx", "k", "w"],
        false,
    ),
    ("set-xx-missing", &[], &["set", "k", "w", "xx"], false),
    ("set-same", &[&["set", "k", "v"]], &["set", "k", "v"], true),
    (
        "setrange-empty",
        &[&["set", "k", "v"]],
        &["setrange", "k", "0", ""],
        false,
    ),
    (
        "append-empty",
        &[&["set", "k", "v"]],
        &["append", "k", ""],
        true,
    ),
    (
        "incrby-0",
        &[&["set", "k", "1"]],
        &["incrby", "k", "0"],
        true,
    ),
    (
        "hdel-missing",
        &[&["hset", "k", "f", "v"]],
        &["hdel", "k", "g"],
        false,
    ),
    (
        "hsetnx-existing",
        &[&["hset", "k", "f", "v"]],
        &["hsetnx", "k", "f", "w"],
        false,
    ),
    (
        "hset-same",
        &[&["hset", "k", "f", "v"]],
        &["hset", "k", "f", "v"],
        true,
    ),
    (
        "zrem-missing",
        &[&["zadd", "k", "1", "a"]],
        &["zrem", "k", "b"],
        false,
    ),
    (
        "zadd-same",
        &[&["zadd", "k", "1", "a"]],
        &["zadd", "k", "1", "a"],
        false,
    ),
    (
        "zadd-xx-missing",
        &[&["zadd", "k", "1", "a"]],
        &["zadd", "k", "xx", "1", "b"],
        false,
    ),
    (
        "zadd-nx-existing",
        &[&["zadd", "k", "1", "a"]],
        &["zadd", "k", "nx", "2", "a"],
        false,
    ),
    (
        "lrem-nomatch",
        &[&["rpush", "k", "a"]],
        &["lrem", "k", "0", "b"],
        false,
    ),
    ("lpushx-missing", &[], &["lpushx", "k", "a"], false),
    (
        "ltrim-full",
        &[&["rpush", "k", "a", "b"]],
        &["ltrim", "k", "0", "-1"],
        true,
    ),
    ("lpop-missing", &[], &["lpop", "k"], false),
    ("spop-missing", &[], &["spop", "k"], false),
    (
        "smove-nomember",
        &[&["sadd", "k", "a"]],
        &["smove", "k", "other", "b"],
        false,
    ),
    (
        "smove-into-k-existing",
        &[&["sadd", "other", "a"], &["sadd", "k", "a"]],
        &["smove", "other", "k", "a"],
        false,
    ),
    (
        "rename-same",
        &[&["set", "k", "v"]],
        &["rename", "k", "k"],
        false,
    ),
    (
        "sinterstore-empty-missing",
        &[],
        &["sinterstore", "k", "nokey1", "nokey2"],
        false,
    ),
    (
        "sinterstore-empty-existing",
        &[&["set", "k", "v"]],
        &["sinterstore", "k", "nokey1", "nokey2"],
        true,
    ),
    ("getex-plain", &[&["set", "k", "v"]], &["getex", "k"], false),
    (
        "getex-persist-nottl",
        &[&["set", "k", "v"]],
        &["getex", "k", "persist"],
        false,
    ),
    (
        "hincrby-0",
        &[&["hset", "k", "f", "1"]],
        &["hincrby", "k", "f", "0"],
        true,
    ),
    (
        "linsert-nopivot",
        &[&["rpush", "k", "a"]],
        &["linsert", "k", "before", "zz", "b"],
        false,
    ),
    (
        "lset",
        &[&["rpush", "k", "a"]],
        &["lset", "k", "0", "a"],
        true,
    ),
    (
        "zincrby-0",
        &[&["zadd", "k", "1", "a"]],
        &["zincrby", "k", "0", "a"],
        false,
    ),
    (
        "zremrangebyscore-none",
        &[&["zadd", "k", "1", "a"]],
        &["zremrangebyscore", "k", "5", "6"],
        false,
    ),
    (
        "sdiffstore-same",
        &[&["sadd", "k", "a"]],
        &["sdiffstore", "k", "k"],
        true,
    ),
    (
        "copy-onto-existing-noreplace",
        &[&["set", "k", "v"], &["set", "s", "w"]],
        &["copy", "s", "k"],
        false,
    ),
    (
        "copy-onto-missing",
        &[&["set", "s", "w"]],
        &["copy", "s", "k"],
        true,
    ),
    (
        "renamenx-onto-existing",
        &[&["set", "k", "v"], &["set", "s", "w"]],
        &["renamenx", "s", "k"],
        false,
    ),
    (
        "msetnx-fails",
        &[&["set", "k", "v"]],
        &["msetnx", "k", "w", "z", "y"],
        false,
    ),
    (
        "expire-past",
        &[&["set", "k", "v"]],
        &["expire", "k", "-1"],
        true,
    ),
    ("pexpireat-missing", &[], &["pexpireat", "k", "1"], false),
    (
        "hdel-last",
        &[&["hset", "k", "f", "v"]],
        &["hdel", "k", "f"],
        true,
    ),
    (
        "lmove-empty-src",
        &[],
        &["lmove", "nosrc", "k", "left", "left"],
        false,
    ),
    (
        "rpoplpush-into",
        &[&["rpush", "s", "a"]],
        &["rpoplpush", "s", "k"],
        true,
    ),
    (
        "setbit-same",
        &[&["setbit", "k", "0", "0"]],
        &["setbit", "k", "0", "0"],
        false,
    ),
    (
        "decrby-0",
        &[&["set", "k", "5"]],
        &["decrby", "k", "0"],
        true,
    ),
    (
        "incrbyfloat-0",
        &[&["set", "k", "5"]],
        &["incrbyfloat", "k", "0"],
        true,
    ),
    ("zpopmin-missing", &[], &["zpopmin", "k"], false),
    (
        "zrangestore-empty-missing",
        &[&["zadd", "src", "1", "a"]],
        &["zrangestore", "k", "src", "5", "6"],
        false,
    ),
    ("rpush-new", &[], &["rpush", "k", "a"], true),
    (
        "lpush-existing",
        &[&["rpush", "k", "a"]],
        &["lpush", "k", "b"],
        true,
    ),
    (
        "linsert-hit",
        &[&["rpush", "k", "a"]],
        &["linsert", "k", "before", "a", "b"],
        true,
    ),
    (
        "lrem-hit",
        &[&["rpush", "k", "a", "b"]],
        &["lrem", "k", "0", "a"],
        true,
    ),
    (
        "rpop-hit",
        &[&["rpush", "k", "a", "b"]],
        &["rpop", "k"],
        true,
    ),
    (
        "hmset",
        &[&["hset", "k", "f", "v"]],
        &["hmset", "k", "g", "w"],
        true,
    ),
    (
        "hincrbyfloat",
        &[&["hset", "k", "f", "1"]],
        &["hincrbyfloat", "k", "f", "1.5"],
        true,
    ),
    (
        "hsetnx-new",
        &[&["hset", "k", "f", "v"]],
        &["hsetnx", "k", "g", "w"],
        true,
    ),
    (
        "zadd-new",
        &[&["zadd", "k", "1", "a"]],
        &["zadd", "k", "2", "b"],
        true,
    ),
    (
        "zincrby-1",
        &[&["zadd", "k", "1", "a"]],
        &["zincrby", "k", "1", "a"],
        true,
    ),
    (
        "zremrangebyrank-hit",
        &[&["zadd", "k", "1", "a", "2", "b"]],
        &["zremrangebyrank", "k", "0", "0"],
        true,
    ),
    (
        "zpopmax-hit",
        &[&["zadd", "k", "1", "a", "2", "b"]],
        &["zpopmax", "k"],
        true,
    ),
    (
        "spop-hit",
        &[&["sadd", "k", "a", "b"]],
        &["spop", "k"],
        true,
    ),
    (
        "sadd-new",
        &[&["sadd", "k", "a"]],
        &["sadd", "k", "b"],
        true,
    ),
    (
        "setrange-hit",
        &[&["set", "k", "v"]],
        &["setrange", "k", "1", "x"],
        true,
    ),
    (
        "append-hit",
        &[&["set", "k", "v"]],
        &["append", "k", "x"],
        true,
    ),
    ("incr", &[&["set", "k", "1"]], &["incr", "k"], true),
    ("getset", &[&["set", "k", "v"]], &["getset", "k", "w"], true),
    (
        "setex",
        &[&["set", "k", "v"]],
        &["setex", "k", "100", "w"],
        true,
    ),
    (
        "rename-onto",
        &[&["set", "s", "v"]],
        &["rename", "s", "k"],
        true,
    ),
    (
        "rename-from",
        &[&["set", "k", "v"]],
        &["rename", "k", "s"],
        true,
    ),
    (
        "lmove-from",
        &[&["rpush", "k", "a"]],
        &["lmove", "k", "s", "left", "right"],
        true,
    ),
    (
        "smove-from",
        &[&["sadd", "k", "a"]],
        &["smove", "k", "s", "a"],
        true,
    ),
    (
        "zunionstore-into",
        &[&["zadd", "s", "1", "a"]],
        &["zunionstore", "k", "1", "s"],
        true,
    ),
    (
        "mset",
        &[&["set", "k", "v"]],
        &["mset", "k", "w", "z", "y"],
        true,
    ),
    ("msetnx-ok", &[], &["msetnx", "k", "w", "z", "y"], true),
    (
        "expire-missing-nx",
        &[],
        &["expire", "k", "10", "nx"],
        false,
    ),
    (
        "zrangestore-into",
        &[&["zadd", "src", "1", "a"]],
        &["zrangestore", "k", "src", "0", "-1"],
        true,
    ),
    (
        "sunionstore-into",
        &[&["sadd", "s", "a"]],
        &["sunionstore", "k", "s"],
        true,
    ),
];

#[test]
fn watch_is_invalidated_only_by_real_changes() {
    let server = server();
    let mut c = server.conn();
    let mut other = server.conn();
    for (name, setup, cmd, aborts) in WATCH_CASES {
        assert_reply!(other.cmd(&["FLUSHALL"]), OK);
        for s in *setup {
            other.cmd(s);
        }
        assert_reply!(c.cmd(&["WATCH", "k"]), OK);
        other.cmd(cmd);
        assert_reply!(c.cmd(&["MULTI"]), OK);
        assert_reply!(c.cmd(&["PING"]), QUEUED);
        let exec = c.cmd(&["EXEC"]);
        let expected: &[u8] = if *aborts {
            NULL_ARRAY
        } else {
            b"*1\r\n+PONG\r\n"
        };
        assert_eq!(exec, expected, "{name}: {}", escape(&exec));
    }
}

/// Runs four movers (`mover(thread, keys, conn)`) over `keys` while two readers sum
/// `size` (`LLEN`, `SCARD`) over every key inside `MULTI`: each sum must be `total`, as a
/// cross-shard move is a scheduled transaction (never in neither key, nor in both).
fn moves_keep_the_total(
    server: &TestServer,
    keys: &[String],
    size: &'static str,
    total: i64,
    mover: impl Fn(usize, &[String], &mut RawConn) + Send + Copy + 'static,
) {
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (keys, stop) = (keys.to_vec(), stop.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    c.send_cmd(&["MULTI"]);
                    for key in &keys {
                        c.send_cmd(&[size, key]);
                    }
                    c.send_cmd(&["EXEC"]);
                    assert_reply!(c.read_reply(), OK);
                    for _ in &keys {
                        assert_reply!(c.read_reply(), QUEUED);
                    }
                    let exec = c.read_reply();
                    let sum: i64 = String::from_utf8_lossy(&exec)
                        .split("\r\n")
                        .filter_map(|l| l.strip_prefix(':'))
                        .map(|n| n.parse::<i64>().unwrap())
                        .sum();
                    assert_eq!(sum, total, "partial move observed: {}", escape(&exec));
                    reads += 1;
                }
            })
        })
        .collect();
    let movers: Vec<_> = (0..4)
        .map(|t| {
            let keys = keys.to_vec();
            thread::spawn(move || mover(t, &keys, &mut RawConn::connect(addr)))
        })
        .collect();
    for m in movers {
        m.join().expect("mover");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
}

/// Cross-shard `LMOVE`/`RPOPLPUSH` are scheduled transactions: while elements circulate
/// between two lists on different shards, a transaction reading both lengths always sees the
/// same total (an element is never in neither list, nor in both).
#[test]
fn list_moves_across_shards_never_show_an_element_twice_or_not_at_all() {
    let server = server();
    let k = keys_on_different_shards("circ", 2, WORKERS);
    const ELEMENTS: i64 = 10;
    let mut c = server.conn();
    let init: Vec<String> = (0..ELEMENTS).map(|i| i.to_string()).collect();
    let mut push = vec!["RPUSH", k[0].as_str()];
    push.extend(init.iter().map(String::as_str));
    assert_reply!(c.cmd(&push), int(ELEMENTS));
    moves_keep_the_total(&server, &k, "LLEN", ELEMENTS, |t, keys, c| {
        for i in 0..150 {
            let (from, to) = if (t + i) % 2 == 0 {
                (&keys[0], &keys[1])
            } else {
                (&keys[1], &keys[0])
            };
            let reply = if i % 3 == 0 {
                c.cmd(&["RPOPLPUSH", from, to])
            } else {
                c.cmd(&["LMOVE", from, to, "LEFT", "RIGHT"])
            };
            // An element, or nil when the source happened to be empty.
            assert!(
                reply.starts_with(b"$") && reply != b"$0\r\n\r\n",
                "{}",
                escape(&reply)
            );
        }
    });
    let mut all: Vec<Vec<u8>> = bulk_items(&c.cmd(&["LRANGE", &k[0], "0", "-1"]));
    all.extend(bulk_items(&c.cmd(&["LRANGE", &k[1], "0", "-1"])));
    all.sort_by_key(|v| String::from_utf8_lossy(v).parse::<i64>().unwrap());
    let want: Vec<Vec<u8>> = init.iter().map(|s| s.as_bytes().to_vec()).collect();
    assert_eq!(all, want);
}

/// Cross-shard `SMOVE` is a scheduled transaction too: while members circulate between three
/// sets on different shards, a transaction reading every cardinality always sees the same
/// total, and at the end every member is in exactly one set.
#[test]
fn set_moves_across_shards_never_show_a_member_twice_or_not_at_all() {
    let server = server();
    let k = keys_on_different_shards("smv", 3, WORKERS);
    const MEMBERS: i64 = 12;
    let mut c = server.conn();
    let init: Vec<String> = (0..MEMBERS).map(|i| i.to_string()).collect();
    let mut add = vec!["SADD", k[0].as_str()];
    add.extend(init.iter().map(String::as_str));
    assert_reply!(c.cmd(&add), int(MEMBERS));
    moves_keep_the_total(&server, &k, "SCARD", MEMBERS, |t, keys, c| {
        for i in 0..150usize {
            let (from, to) = (&keys[(t + i) % 3], &keys[(t + i + 1) % 3]);
            let member = ((t * 7 + i) % MEMBERS as usize).to_string();
            let reply = c.cmd(&["SMOVE", from, to, &member]);
            // Moved, or the member was elsewhere.
            assert!(
                reply == b":1\r\n" || reply == b":0\r\n",
                "{}",
                escape(&reply)
            );
        }
    });
    let mut all: Vec<Vec<u8>> = Vec::new();
    for key in &k {
        all.extend(bulk_items(&c.cmd(&["SMEMBERS", key])));
    }
    all.sort_by_key(|v| String::from_utf8_lossy(v).parse::<i64>().unwrap());
    let want: Vec<Vec<u8>> = init.iter().map(|s| s.as_bytes().to_vec()).collect();
    assert_eq!(all, want);
}

/// The replies of cross-shard `LMOVE`, `RPOPLPUSH` and `LMPOP`, as redis-server 7.0.15 gives
/// them (missing source before a wrong-typed destination, WRONGTYPE order, `LMPOP`'s first
/// non-empty key in argument order).
#[test]
fn list_moves_across_shards_reply_like_redis() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("lm", 4, WORKERS);
    assert_reply!(c.cmd(&["RPUSH", &k[0], "1", "2", "3"]), int(3));
    assert_reply!(c.cmd(&["LMOVE", &k[0], &k[1], "LEFT", "RIGHT"]), bulk("1"));
    assert_reply!(c.cmd(&["LMOVE", &k[0], &k[1], "RIGHT", "LEFT"]), bulk("3"));
    assert_reply!(
        c.cmd(&["LRANGE", &k[1], "0", "-1"]),
        bulk_array(&["3", "1"])
    );
    assert_reply!(c.cmd(&["SET", &k[2], "str"]), OK);
    assert_reply!(c.cmd(&["LMOVE", &k[3], &k[2], "LEFT", "LEFT"]), b"$-1\r\n");
    assert_reply!(
        c.cmd(&["LMOVE", &k[0], &k[2], "LEFT", "LEFT"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_reply!(
        c.cmd(&["LMOVE", &k[2], &k[0], "LEFT", "LEFT"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_reply!(c.cmd(&["RPOPLPUSH", &k[0], &k[3]]), bulk("2"));
    assert_reply!(c.cmd(&["EXISTS", &k[0]]), int(0));
    assert_reply!(c.cmd(&["RPOPLPUSH", &k[0], &k[3]]), b"$-1\r\n");
    assert_reply!(
        c.cmd(&["LMPOP", "3", &k[0], &k[1], &k[3], "RIGHT", "COUNT", "5"]),
        b"*2\r\n"
            .iter()
            .copied()
            .chain(bulk(&k[1]))
            .chain(bulk_array(&["1", "3"]))
            .collect::<Vec<u8>>()
    );
    assert_reply!(
        c.cmd(&["LMPOP", "2", &k[2], &k[3], "LEFT"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_reply!(c.cmd(&["LMPOP", "2", &k[0], &k[1], "LEFT"]), NULL_ARRAY);
}

/// Commands that move data between shards run inside `EXEC` exactly as on their own, each
/// seeing the effects of the commands queued before it (replies recorded from redis-server
/// 7.0.15; every pair of keys here lives on two different shards).
#[test]
fn moving_commands_across_shards_inside_multi() {
    let server = server();
    let mut c = server.conn();
    let k = keys_on_different_shards("mx", 4, WORKERS);
    let (a, b, d, e) = (&k[0], &k[1], &k[2], &k[3]);
    let queue: &[&[&str]] = &[
        &["SET", a, "1"],
        &["RENAME", a, b],
        &["INCR", b],
        &["RENAMENX", b, d],
        &["SET", e, "x"],
        &["COPY", d, e],
        &["COPY", d, e, "REPLACE"],
        &["MGET", a, b, d, e],
        &["MSETNX", a, "1", b, "2"],
        &["MSETNX", a, "1", d, "2"],
        &["DEL", a, b, d, e],
        &["SADD", a, "m", "n"],
        &["SADD", b, "n", "o"],
        &["SINTERSTORE", d, a, b],
        &["SMEMBERS", d],
        &["SMOVE", a, b, "m"],
        &["SMOVE", a, b, "zz"],
        &["SCARD", b],
        &["SINTERCARD", "2", a, b],
        &["DEL", a, b, d],
        &["ZADD", a, "1", "p", "2", "q"],
        &["ZADD", b, "3", "q", "4", "r"],
        &["ZUNIONSTORE", d, "2", a, b],
        &["ZRANGE", d, "0", "-1", "WITHSCORES"],
        &["ZINTER", "2", a, b, "WITHSCORES"],
        &["ZRANGESTORE", e, d, "0", "1"],
        &["ZRANGE", e, "0", "-1"],
        &["ZMPOP", "2", "nokey", d, "MAX", "COUNT", "2"],
        &["DEL", a, b, d, e],
        &["RPUSH", a, "1", "2", "3"],
        &["LMOVE", a, b, "LEFT", "RIGHT"],
        &["RPOPLPUSH", a, b],
        &["LRANGE", b, "0", "-1"],
        &["BLMOVE", a, d, "LEFT", "LEFT", "0"],
        &["BRPOPLPUSH", a, d, "0"],
        &["LMPOP", "2", a, b, "LEFT", "COUNT", "5"],
        &["BLPOP", a, d, "0"],
        &["BLMPOP", "0", "2", a, d, "RIGHT"],
        &["SET", a, "ohmytext"],
        &["SET", b, "mynewtext"],
        &["LCS", a, b],
        &["LCS", a, b, "LEN"],
        &["RENAME", d, e],
        &["LMOVE", e, a, "LEFT", "LEFT"],
        &["SUNIONSTORE", d, a, b],
        &["GET", a],
    ];
    assert_reply!(c.cmd(&["MULTI"]), OK);
    for cmd in queue {
        assert_reply!(c.cmd(cmd), QUEUED);
    }
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let want = [
        "+OK\r\n".to_string(),
        "+OK\r\n".into(),
        ":2\r\n".into(),
        ":1\r\n".into(),
        "+OK\r\n".into(),
        ":0\r\n".into(),
        ":1\r\n".into(),
        "*4\r\n$-1\r\n$-1\r\n$1\r\n2\r\n$1\r\n2\r\n".into(),
        ":1\r\n".into(),
        ":0\r\n".into(),
        ":4\r\n".into(),
        ":2\r\n".into(),
        ":2\r\n".into(),
        ":1\r\n".into(),
        "*1\r\n$1\r\nn\r\n".into(),
        ":1\r\n".into(),
        ":0\r\n".into(),
        ":3\r\n".into(),
        ":1\r\n".into(),
        ":3\r\n".into(),
        ":2\r\n".into(),
        ":2\r\n".into(),
        ":3\r\n".into(),
        "*6\r\n$1\r\np\r\n$1\r\n1\r\n$1\r\nr\r\n$1\r\n4\r\n$1\r\nq\r\n$1\r\n5\r\n".into(),
        "*2\r\n$1\r\nq\r\n$1\r\n5\r\n".into(),
        ":2\r\n".into(),
        "*2\r\n$1\r\np\r\n$1\r\nr\r\n".into(),
        format!(
            "*2\r\n${}\r\n{d}\r\n*2\r\n*2\r\n$1\r\nq\r\n$1\r\n5\r\n*2\r\n$1\r\nr\r\n$1\r\n4\r\n",
            d.len()
        ),
        ":4\r\n".into(),
        ":3\r\n".into(),
        "$1\r\n1\r\n".into(),
        "$1\r\n3\r\n".into(),
        "*2\r\n$1\r\n3\r\n$1\r\n1\r\n".into(),
        "$1\r\n2\r\n".into(),
        "$-1\r\n".into(),
        format!("*2\r\n${}\r\n{b}\r\n*2\r\n$1\r\n3\r\n$1\r\n1\r\n", b.len()),
        format!("*2\r\n${}\r\n{d}\r\n$1\r\n2\r\n", d.len()),
        "*-1\r\n".into(),
        "+OK\r\n".into(),
        "+OK\r\n".into(),
        "$6\r\nmytext\r\n".into(),
        ":6\r\n".into(),
        "-ERR no such key\r\n".into(),
        "$-1\r\n".into(),
        wrongtype.into(),
        "$8\r\nohmytext\r\n".into(),
    ];
    let want = format!("*{}\r\n{}", want.len(), want.concat());
    assert_reply!(c.cmd(&["EXEC"]), want.as_bytes());
}

/// A transaction that moves a key to another shard and back, incrementing it on the way:
/// concurrent readers of both keys never see it in neither place, in both, or half-changed.
#[test]
fn multi_hop_transactions_are_isolated() {
    let server = server();
    let addr = server.addr();
    let k = keys_on_different_shards("hop", 2, WORKERS);
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", &k[0], "0"]), OK);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (k, stop) = (k.clone(), stop.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut reads = 0;
                let mut last = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    let reply = c.cmd(&["MGET", &k[0], &k[1]]);
                    // `*2`, the first key's value, then nil for the second.
                    let text = String::from_utf8_lossy(&reply).to_string();
                    let lines: Vec<&str> = text.split("\r\n").collect();
                    assert!(
                        lines.len() == 5 && lines[0] == "*2" && lines[3] == "$-1",
                        "partial transaction observed: {}",
                        escape(&reply)
                    );
                    let v: i64 = lines[2].parse().unwrap();
                    assert!(v >= last, "went back from {last} to {v}");
                    // A plain command on one of the keys waits for the transaction too.
                    let one = c.cmd(&["GET", &k[0]]);
                    assert!(
                        one.starts_with(b"$") && one != b"$-1\r\n",
                        "{}",
                        escape(&one)
                    );
                    let w: i64 = String::from_utf8_lossy(&bulk_payload(&one))
                        .parse()
                        .unwrap();
                    assert_eq!(w % 2, 0, "half of a transaction observed: {w}");
                    assert_eq!(v % 2, 0, "half of a transaction observed: {v}");
                    last = v;
                    reads += 1;
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let k = k.clone();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for _ in 0..60 {
                    c.send_cmd(&["MULTI"]);
                    c.send_cmd(&["RENAME", &k[0], &k[1]]);
                    c.send_cmd(&["INCR", &k[1]]);
                    c.send_cmd(&["RENAME", &k[1], &k[0]]);
                    c.send_cmd(&["INCR", &k[0]]);
                    c.send_cmd(&["EXEC"]);
                    assert_reply!(c.read_reply(), OK);
                    for _ in 0..4 {
                        assert_reply!(c.read_reply(), QUEUED);
                    }
                    let exec = c.read_reply();
                    assert!(exec.starts_with(b"*4\r\n+OK\r\n:"), "{}", escape(&exec));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    assert_reply!(
        c.cmd(&["MGET", &k[0], &k[1]]),
        b"*2\r\n$3\r\n360\r\n$-1\r\n"
    );
}

/// The blocking sorted-set pops and `RANDOMKEY` inside `MULTI` with keys on several shards:
/// they never block there and reply as Redis 7.0.15 does, in RESP2 and RESP3.
#[test]
fn blocking_zset_pops_and_randomkey_across_shards_inside_multi() {
    let server = server();
    let k = keys_on_different_shards("bz", 2, WORKERS);
    for resp3 in [false, true] {
        let mut c = server.conn();
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        c.cmd(&["DEL", &k[0], &k[1]]);
        assert_reply!(
            c.cmd(&["ZADD", &k[1], "1", "a", "2", "b", "3", "c"]),
            int(3)
        );
        assert_reply!(c.cmd(&["MULTI"]), OK);
        for cmd in [
            vec!["BZPOPMIN", &k[0], &k[1], "0"],
            vec!["BZPOPMAX", &k[0], &k[1], "0"],
            vec!["BZMPOP", "0", "2", &k[0], &k[1], "MIN", "COUNT", "5"],
            vec!["BZPOPMIN", &k[0], &k[1], "0"],
            vec!["BZMPOP", "0", "2", &k[0], &k[1], "MIN"],
            vec!["RANDOMKEY"],
        ] {
            assert_reply!(c.cmd(&cmd), QUEUED);
        }
        let key = format!("${}\r\n{}\r\n", k[1].len(), k[1]);
        let score = |s: &str| {
            if resp3 {
                format!(",{s}\r\n")
            } else {
                format!("${}\r\n{s}\r\n", s.len())
            }
        };
        let (nil, pair) = if resp3 {
            ("_\r\n", "*2\r\n")
        } else {
            ("*-1\r\n", "*2\r\n")
        };
        let want = format!(
            "*6\r\n*3\r\n{key}$1\r\na\r\n{}*3\r\n{key}$1\r\nc\r\n{}*2\r\n{key}*1\r\n{pair}$1\r\nb\r\n{}{nil}{nil}{}",
            score("1"),
            score("3"),
            score("2"),
            if resp3 { "_\r\n" } else { "$-1\r\n" },
        );
        assert_reply!(c.cmd(&["EXEC"]), want.as_bytes());
    }
}

/// One connection pipelines transactions across shards with plain commands in between: each
/// command sees every earlier one's effects (a transaction lets the next command go once it
/// holds all its locks), and a `WATCH` right behind a transaction does not see it as a change.
#[test]
fn pipelined_transactions_keep_program_order() {
    let server = server();
    let k = keys_on_different_shards("pipe", 3, WORKERS);
    let (a, b, c) = (&k[0], &k[1], &k[2]);
    let mut conn = server.conn();
    let mut expected: Vec<Vec<u8>> = Vec::new();
    for i in 0..40 {
        let v = i.to_string();
        let next = (i + 1).to_string();
        let cmds: Vec<(Vec<&str>, Vec<u8>)> = vec![
            (vec!["MSET", a, &v, b, &v], b"+OK\r\n".to_vec()),
            (vec!["GET", a], bulk(&v)),
            (vec!["INCR", b], int(i + 1)),
            (vec!["RENAME", a, c], b"+OK\r\n".to_vec()),
            (vec!["GET", c], bulk(&v)),
            (vec!["EXISTS", a], int(0)),
            (vec!["RENAME", c, a], b"+OK\r\n".to_vec()),
            (vec!["WATCH", a, b], b"+OK\r\n".to_vec()),
            (vec!["MULTI"], b"+OK\r\n".to_vec()),
            (vec!["MGET", a, b], QUEUED.to_vec()),
            (
                vec!["EXEC"],
                [b"*1\r\n".to_vec(), bulk_array(&[v.as_str(), next.as_str()])].concat(),
            ),
            (vec!["DEL", a, b, c], int(2)),
        ];
        for (cmd, reply) in cmds {
            conn.send_cmd(&cmd);
            expected.push(reply);
        }
    }
    for want in expected {
        assert_reply!(conn.read_reply(), want);
    }
}
