//! Misbehaving clients must not affect anyone else.

use std::time::Duration;

use kvd_tests::*;

#[test]
fn half_sent_command_then_vanish() {
    let server = TestServer::start();
    let mut good = server.conn();
    assert_reply!(good.cmd(&["SET", "a", "before"]), OK);

    let mut bad = server.conn();
    bad.send(b"*3\r\n$3\r\nSET\r\n$1\r\na");
    // A partial command is not executed and not answered.
    bad.expect_silence(Duration::from_millis(100));
    assert_reply!(good.cmd(&["GET", "a"]), bulk("before"));
    bad.close();

    assert_reply!(good.cmd(&["GET", "a"]), bulk("before"));
    assert_reply!(good.cmd(&["PING"]), b"+PONG\r\n");
    // The vanished client is eventually dropped from the client list.
    poll_until(|| {
        let list = String::from_utf8(bulk_payload(&good.cmd(&["CLIENT", "LIST"]))).unwrap();
        (list.lines().count() == 1).then_some(())
    });
}

#[test]
fn garbage_does_not_disturb_other_clients() {
    let server = TestServer::start();
    let mut good = server.conn();
    let mut garbage = server.conn();
    assert_reply!(good.cmd(&["SET", "k", "v"]), OK);
    // Binary noise: the server answers with errors or a protocol error and a close, but it
    // must not crash, hang, or touch other connections.
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    garbage.send(&noise);
    // The noise may leave the parser waiting for more (inside a bulk, say); ending our side
    // makes the outcome deterministic: error replies, if any, then the server closes.
    garbage.shutdown_write();
    loop {
        match garbage.try_read_reply(REPLY_TIMEOUT) {
            Ok(Some(reply)) => assert!(reply.starts_with(b"-"), "{reply:?}"),
            Ok(None) => break,
            Err(e) => panic!("server neither answered nor closed: {e}"),
        }
    }
    assert_reply!(good.cmd(&["GET", "k"]), bulk("v"));
    // A protocol error mid-pipeline closes only that connection.
    let mut mixed = server.conn();
    mixed.send(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$x\r\n*1\r\n$4\r\nPING\r\n");
    assert_reply!(mixed.read_reply(), b"+PONG\r\n");
    assert_reply!(
        mixed.read_reply(),
        err("ERR Protocol error: invalid bulk length")
    );
    mixed.expect_closed();
    assert_reply!(good.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_that_never_reads_does_not_block_others() {
    let server = TestServer::start();
    let mut good = server.conn();
    let mut lazy = server.conn();
    assert_reply!(good.cmd(&["SET", "big", &"x".repeat(100_000)]), OK);
    // Queue ~10 MB of replies that this client never reads.
    let mut writer = lazy.try_clone_for_write();
    let handle = std::thread::spawn(move || {
        let get = encode_command(&["GET", "big"]);
        for _ in 0..100 {
            writer.send(&get);
        }
    });
    for i in 0..100 {
        assert_reply!(good.cmd(&["ECHO", &i.to_string()]), bulk(i.to_string()));
    }
    // Drain so the writer thread finishes.
    for _ in 0..100 {
        assert_eq!(lazy.read_reply().len(), bulk("x".repeat(100_000)).len());
    }
    handle.join().unwrap();
}

#[test]
fn many_connections_open_and_close() {
    let server = TestServer::start();
    for _ in 0..200 {
        let c = server.conn();
        c.close();
    }
    let mut c = server.conn();
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    poll_until(|| {
        let list = String::from_utf8(bulk_payload(&c.cmd(&["CLIENT", "LIST"]))).unwrap();
        (list.lines().count() == 1).then_some(())
    });
}

#[test]
fn commands_sent_before_a_client_vanishes_still_run() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let mut input = Vec::new();
    for i in 0..100 {
        input.extend(encode_command(&["SET", &format!("gone:{i}"), "v"]));
    }
    c.send(&input);
    // The client hangs up without reading a single reply. Redis reads and executes everything
    // that arrived before the end-of-file; only the replies are lost.
    c.close();
    let mut other = server.conn();
    poll_until(|| (other.cmd(&["DBSIZE"]) == int(100)).then_some(()));
    assert_reply!(other.cmd(&["GET", "gone:99"]), bulk("v"));
}
