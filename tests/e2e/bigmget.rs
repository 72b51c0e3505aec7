//! A huge `MGET` reads its keys slice by slice under its locks: other clients of the same
//! shard are served between the slices, writes to its keys wait, and the reply is the same
//! snapshot, byte for byte, as a small `MGET`'s.
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use kvd_tests::{
    REPLY_TIMEOUT, ServerOptions, TestServer, assert_reply, bulk_payload, encode_command,
    poll_until,
};

fn server(workers: usize) -> TestServer {
    TestServer::with(ServerOptions {
        workers,
        io_threads: 1,
        ..ServerOptions::default()
    })
}

/// Stores `count` keys `{m}k:i` (one shard, by the hash tag) with the value `v`.
fn fill(conn: &mut kvd_tests::RawConn, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("{{m}}k:{i}")).collect();
    for chunk in names.chunks(10_000) {
        let mut args = vec!["MSET"];
        for n in chunk {
            args.push(n);
            args.push("v");
        }
        assert_reply!(conn.cmd(&args), b"+OK\r\n");
    }
    names
}

/// Whether the client whose last command is `MGET` has reply bytes waiting in the server.
fn mget_output_pending(conn: &mut kvd_tests::RawConn) -> bool {
    let list = String::from_utf8(bulk_payload(&conn.cmd(&["CLIENT", "LIST"]))).unwrap();
    let line = list
        .lines()
        .find(|l| l.contains(" cmd=mget "))
        .expect("the MGET client is listed");
    ["obl=0", "omem=0"]
        .iter()
        .any(|f| !line.split(' ').any(|x| x == *f))
}

/// Whether any reply byte has reached `stream` (without waiting).
fn has_data(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let got = match stream.peek(&mut [0u8; 1]) {
        Ok(n) => n > 0,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("peek: {e}"),
    };
    stream.set_nonblocking(false).unwrap();
    got
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf).expect("the whole MGET reply");
    buf
}

/// One attempt: client A sends a huge MGET and does not read; client B, once the server has
/// dispatched it, sets a key of the same shard that the MGET does not read. Returns whether
/// B's `SET` was answered while A's reply did not exist yet (in the server or on A's
/// socket): the shard served B between the MGET's slices. Either way, B then sets a key the
/// MGET reads, and the MGET's reply must not show it (its locks were taken first).
fn attempt(server: &TestServer, names: &[String]) -> bool {
    let mut a = TcpStream::connect(server.addr()).unwrap();
    let mut mget = vec!["MGET"];
    mget.extend(names.iter().map(String::as_str));
    a.write_all(&encode_command(&mget)).unwrap();
    let mut b = server.conn();
    // The MGET was parsed and routed (its scheduling hop is on its way to the shard).
    poll_until(|| {
        let list = bulk_payload(&b.cmd(&["CLIENT", "LIST"]));
        String::from_utf8_lossy(&list)
            .contains(" cmd=mget ")
            .then_some(())
    });
    assert_reply!(b.cmd(&["SET", "{m}other", "x"]), b"+OK\r\n");
    // Ordering, not timing: the CLIENT LIST below runs after B's SET was answered, and a
    // reply already written to A would be on A's socket by the time it answers.
    let interleaved = !mget_output_pending(&mut b) && !has_data(&a);
    let last = names.last().unwrap();
    b.send_cmd(&["SET", last, "new"]);
    let mut want = format!("*{}\r\n", names.len()).into_bytes();
    want.extend(b"$1\r\nv\r\n".repeat(names.len()));
    let reply = read_exactly(&mut a, want.len());
    assert!(reply == want, "the MGET's reply is not its snapshot");
    assert!(!has_data(&a), "the MGET's reply is longer than expected");
    assert_reply!(b.read_reply(), b"+OK\r\n");
    assert_reply!(b.cmd(&["GET", last]), b"$3\r\nnew\r\n");
    assert_reply!(b.cmd(&["SET", last, "v"]), b"+OK\r\n");
    interleaved
}

fn huge_mget_interleaves(workers: usize) {
    let server = server(workers);
    if !server.is_kvd() {
        // Redis runs a command in one go: nothing to observe.
        return;
    }
    let mut setup = server.conn();
    let names = fill(&mut setup, 200_000);
    // Each attempt fails deterministically if the MGET runs in one go on its shard; it may
    // miss when the MGET finishes before B's SET reaches the server (a busy machine), so a
    // few attempts are allowed.
    let interleaved = (0..5).any(|_| attempt(&server, &names));
    assert!(
        interleaved,
        "another client's SET on the same shard waited for the whole MGET"
    );
}

#[test]
fn huge_mget_lets_other_clients_of_its_shard_in_one_shard() {
    huge_mget_interleaves(1);
}

#[test]
fn huge_mget_lets_other_clients_of_its_shard_in_two_shards() {
    huge_mget_interleaves(2);
}

/// A big MGET (above the slice size, over both shards) with missing keys, keys of other
/// types (nil, as Redis) and repeated keys: the exact bytes of Redis's reply, in RESP2 and
/// RESP3.
fn big_mget_exact(workers: usize) {
    let server = server(workers);
    let mut conn = server.conn();
    const KEYS: usize = 5_000;
    let mut args = vec!["MSET".to_string()];
    for i in (0..KEYS).step_by(3) {
        args.push(format!("big:{i}"));
        args.push(format!("value-{i}"));
    }
    assert_reply!(conn.cmd(&args), b"+OK\r\n");
    for i in (1..KEYS).step_by(21) {
        assert_reply!(conn.cmd(&["RPUSH", &format!("big:{i}"), "x"]), b":1\r\n");
    }
    assert_reply!(conn.cmd(&["HSET", "big:2", "f", "v"]), b":1\r\n");
    let mut keys: Vec<String> = (0..KEYS).map(|i| format!("big:{i}")).collect();
    keys.extend(["big:0", "missing", "big:3"].map(String::from));
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    for (null, hello) in [("$-1\r\n", None), ("_\r\n", Some("3"))] {
        if let Some(v) = hello {
            conn.cmd(&["HELLO", v]);
        }
        let mut want = format!("*{}\r\n", keys.len());
        for k in &keys {
            let i: Option<usize> = k.strip_prefix("big:").and_then(|i| i.parse().ok());
            match i {
                Some(i) if i % 3 == 0 => {
                    let v = format!("value-{i}");
                    want.push_str(&format!("${}\r\n{v}\r\n", v.len()));
                }
                _ => want.push_str(null),
            }
        }
        assert_reply!(conn.cmd(&mget), want.as_bytes());
    }
}

#[test]
fn big_mget_reply_is_exact_in_one_shard() {
    big_mget_exact(1);
}

#[test]
fn big_mget_reply_is_exact_in_two_shards() {
    big_mget_exact(2);
}
