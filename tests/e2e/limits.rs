//! Client limits: `maxclients`, idle `timeout`, `client-query-buffer-limit`,
//! `proto-max-bulk-len`, `client-output-buffer-limit`, protected mode, and fairness between a
//! client pipelining a flood of commands and a client doing one round trip.
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use kvd_tests::{
    REPLY_TIMEOUT, ServerOptions, TestServer, as_int, assert_reply, bulk_payload, encode_command,
    poll_until, run_tool,
};

/// A server whose settings this test may change without leaking into other tests.
fn private() -> TestServer {
    TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    })
}

/// Number of clients `CLIENT LIST` shows.
fn client_count(conn: &mut kvd_tests::RawConn) -> usize {
    let list = bulk_payload(&conn.cmd(&["CLIENT", "LIST"]));
    list.iter().filter(|&&b| b == b'\n').count()
}

/// Reads and discards until the server closes the connection (or resets it), failing after
/// [`REPLY_TIMEOUT`]; returns how many bytes arrived first.
fn read_until_closed(stream: &mut TcpStream) -> usize {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut total = 0;
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the server did not close the connection");
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read error: {e}"),
        }
    }
}

#[test]
fn maxclients_refuses_the_next_connection_with_redis_error() {
    let server = private();
    let mut admin = server.conn();
    assert_reply!(admin.cmd(&["CONFIG", "SET", "maxclients", "2"]), b"+OK\r\n");
    assert_reply!(
        admin.cmd(&["CONFIG", "GET", "maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n"
    );
    let mut second = server.conn();
    assert_reply!(second.cmd(&["PING"]), b"+PONG\r\n");
    let mut third = TcpStream::connect(server.addr()).unwrap();
    let mut got = Vec::new();
    third.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let _ = third.read_to_end(&mut got);
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR max number of clients reached\r\n"
    );
    // Live: raising the limit lets the next client in.
    drop(second);
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "maxclients", "10000"]),
        b"+OK\r\n"
    );
    let mut fourth = server.conn();
    assert_reply!(fourth.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn idle_timeout_closes_an_idle_client() {
    let server = private();
    let mut admin = server.conn();
    let mut idle = server.conn();
    assert_reply!(idle.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(admin.cmd(&["CONFIG", "SET", "timeout", "1"]), b"+OK\r\n");
    // Redis closes an idle client without a word; polled, bounded by REPLY_TIMEOUT.
    idle.expect_closed();
    // The admin connection was idle as long, so it may be gone too: use a fresh one.
    drop(admin);
    let mut admin = server.conn();
    assert_reply!(admin.cmd(&["CONFIG", "SET", "timeout", "0"]), b"+OK\r\n");
    assert_reply!(admin.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = private();
    let mut admin = server.conn();
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        b"+OK\r\n"
    );
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    // A 3 MB argument whose body never completes: the partial request outgrows the limit.
    let _ = stream.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..32 {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(read_until_closed(&mut stream), 0, "closed without a reply");
    assert_reply!(admin.cmd(&["EXISTS", "k"]), b":0\r\n");
}

#[test]
fn proto_max_bulk_len_changes_live() {
    let server = private();
    let mut admin = server.conn();
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        b"+OK\r\n"
    );
    assert_reply!(
        admin.cmd(&["CONFIG", "GET", "proto-max-bulk-len"]),
        b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n"
    );
    let mut conn = server.conn();
    conn.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
    assert_reply!(
        conn.read_reply(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    conn.expect_closed();
    // The connection that changed the limit is bound by it too, from its next request.
    admin.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n");
    admin.send(&vec![b'v'; 1048576]);
    admin.send(b"\r\n");
    assert_reply!(admin.read_reply(), b"+OK\r\n");
}

#[test]
fn a_client_that_stops_reading_is_cut_off_at_the_output_limit() {
    let server = private();
    let mut admin = server.conn();
    let value = "v".repeat(1024 * 1024);
    assert_reply!(admin.cmd(&["SET", "big", value.as_str()]), b"+OK\r\n");
    assert_reply!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 2mb 1mb 1"
        ]),
        b"+OK\r\n"
    );
    // 64 replies of 1 MB that the client never reads: far beyond any socket buffer.
    let mut reader = server.conn();
    let mut pipeline = Vec::new();
    for _ in 0..64 {
        pipeline.extend_from_slice(&encode_command(&["GET", "big"]));
    }
    reader.send(&pipeline);
    poll_until(|| (client_count(&mut admin) == 1).then_some(()));
    // The server is still fine, and the limit is what CONFIG GET shows.
    assert_reply!(
        admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        b"*2\r\n$26\r\nclient-output-buffer-limit\r\n$79\r\nnormal 2097152 1048576 1 slave 268435456 67108864 60 pubsub 33554432 8388608 60\r\n"
    );
    assert_reply!(admin.cmd(&["STRLEN", "big"]), b":1048576\r\n");
}

#[test]
fn without_an_output_limit_a_slow_reader_gets_everything() {
    // The default `normal 0 0 0`: no limit, the client just reads slowly.
    let server = TestServer::start();
    let mut conn = server.conn();
    let value = "v".repeat(256 * 1024);
    assert_reply!(conn.cmd(&["SET", "big", value.as_str()]), b"+OK\r\n");
    let mut pipeline = Vec::new();
    for _ in 0..40 {
        pipeline.extend_from_slice(&encode_command(&["GET", "big"]));
    }
    conn.send(&pipeline);
    for _ in 0..40 {
        assert_eq!(conn.read_reply().len(), 256 * 1024 + 11);
    }
}

#[test]
fn one_client_pipelining_a_flood_does_not_stall_another() {
    let server = TestServer::start();
    let mut flood = server.conn();
    let mut writer = flood.try_clone_for_write();
    const COMMANDS: usize = 1_000_000;
    let sender = std::thread::spawn(move || {
        let one = encode_command(&["INCR", "flood"]);
        let batch: Vec<u8> = one.repeat(10_000);
        for _ in 0..COMMANDS / 10_000 {
            writer.send(&batch);
        }
    });
    let drainer = std::thread::spawn(move || {
        for _ in 0..COMMANDS {
            flood.read_reply();
        }
    });
    let mut other = server.conn();
    // Once the flood is under way, another client's round trips are answered while it runs.
    poll_until(|| {
        let n = other.cmd(&["GET", "flood"]);
        (n != b"$-1\r\n").then_some(())
    });
    let started = Instant::now();
    for _ in 0..5 {
        assert_reply!(other.cmd(&["PING"]), b"+PONG\r\n");
    }
    let during = bulk_payload(&other.cmd(&["GET", "flood"]));
    let during: usize = String::from_utf8_lossy(&during).parse().unwrap();
    assert!(
        during < COMMANDS,
        "the other client waited for the whole flood ({:?})",
        started.elapsed()
    );
    sender.join().unwrap();
    drainer.join().unwrap();
    assert_eq!(
        as_int(&other.cmd(&["INCRBY", "flood", "0"])),
        COMMANDS as i64
    );
}

/// The `omem` (reply bytes waiting in the server) of the client whose last command is `cmd`,
/// from `CLIENT LIST`.
fn pending_output_of(conn: &mut kvd_tests::RawConn, cmd: &str) -> Option<u64> {
    let list = String::from_utf8(bulk_payload(&conn.cmd(&["CLIENT", "LIST"]))).unwrap();
    let tag = format!(" cmd={cmd} ");
    let line = list.lines().find(|l| l.contains(&tag))?;
    let omem = line.split(' ').find_map(|f| f.strip_prefix("omem="))?;
    omem.parse().ok()
}

#[test]
fn one_huge_mget_does_not_stall_another_client() {
    let server = TestServer::start();
    let mut setup = server.conn();
    const KEYS: usize = 30_000;
    let value = "v".repeat(300);
    let names: Vec<String> = (0..KEYS).map(|i| format!("hugemget:{i}")).collect();
    for chunk in names.chunks(10_000) {
        let mut args = vec!["MSET"];
        for n in chunk {
            args.push(n);
            args.push(&value);
        }
        assert_reply!(setup.cmd(&args), b"+OK\r\n");
    }
    // One MGET of every key, whose 9 MB reply its client does not read yet.
    let mut big = server.conn();
    let mut mget = vec!["MGET"];
    mget.extend(names.iter().map(String::as_str));
    big.send(&encode_command(&mget));
    // Once the reply is being held in the server for the slow reader, other clients are
    // served: local commands, and keys on every shard.
    let mut other = server.conn();
    poll_until(|| pending_output_of(&mut other, "mget").filter(|&n| n > 0));
    assert_reply!(other.cmd(&["PING"]), b"+PONG\r\n");
    let strlen = format!(":{}\r\n", value.len());
    for n in names.iter().step_by(KEYS / 16) {
        assert_reply!(other.cmd(&["STRLEN", n.as_str()]), strlen.as_bytes());
    }
    assert!(pending_output_of(&mut other, "mget").is_some_and(|n| n > 0));
    // The MGET's reply is complete and in order.
    let reply = big.read_reply();
    let item = format!("$300\r\n{value}\r\n");
    assert_eq!(
        reply.len(),
        format!("*{KEYS}\r\n").len() + KEYS * item.len()
    );
    assert!(reply.ends_with(item.as_bytes()));
    assert_reply!(setup.cmd(&["UNLINK", "hugemget:0"]), b":1\r\n");
}

#[test]
fn tcp_keepalive_defaults_to_300_and_changes_live() {
    let server = private();
    let mut conn = server.conn();
    assert_reply!(
        conn.cmd(&["CONFIG", "GET", "tcp-keepalive"]),
        b"*2\r\n$13\r\ntcp-keepalive\r\n$3\r\n300\r\n"
    );
    assert_reply!(
        conn.cmd(&["CONFIG", "SET", "tcp-keepalive", "60"]),
        b"+OK\r\n"
    );
    assert_reply!(
        conn.cmd(&["CONFIG", "GET", "tcp-keepalive"]),
        b"*2\r\n$13\r\ntcp-keepalive\r\n$2\r\n60\r\n"
    );
    let mut after = server.conn();
    assert_reply!(after.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(
        conn.cmd(&["CONFIG", "SET", "tcp-keepalive", "300"]),
        b"+OK\r\n"
    );
}

/// A fresh connection after one PING round trip (so its socket is idle and its keepalive
/// timer, if any, is armed).
fn idle_client(server: &TestServer) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.write_all(b"PING\r\n").unwrap();
    s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut pong = [0u8; 7];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    s
}

/// Seconds left on the keepalive timer of the server's side of `client`, as `ss -o` shows it
/// (`timer:(keepalive,4min59sec,0)`), or `None` if the accepted socket has no keepalive.
fn server_keepalive_secs(server: &TestServer, client: &TcpStream) -> Option<u64> {
    let filter = format!(
        "( sport = :{} and dport = :{} )",
        server.port(),
        client.local_addr().unwrap().port()
    );
    let (ok, out, errs) = run_tool("ss", &["-tnoH", "state", "established", &filter]);
    assert!(ok, "ss failed: {errs}");
    assert_eq!(
        out.lines().count(),
        1,
        "one server-side socket expected: {out}"
    );
    let timer = out.split("timer:(keepalive,").nth(1)?;
    let text = &timer[..timer.find(',')?];
    let (mut secs, mut rest) = (0, text);
    if let Some((m, r)) = rest.split_once("min") {
        secs += m.parse::<u64>().unwrap() * 60;
        rest = r;
    }
    if let Some((s, _)) = rest.split_once("sec") {
        secs += s.parse::<u64>().unwrap();
    }
    Some(secs)
}

/// `tcp-keepalive` is set on the server's accepted sockets (read back from the kernel with
/// `ss`): the default 300 s, a new value for connections accepted after `CONFIG SET`, none at 0.
#[test]
fn tcp_keepalive_is_set_on_accepted_sockets() {
    let server = private();
    let mut admin = server.conn();
    let default = idle_client(&server);
    let left = server_keepalive_secs(&server, &default).expect("keepalive on by default");
    assert!((250..=300).contains(&left), "{left} s");
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "tcp-keepalive", "60"]),
        b"+OK\r\n"
    );
    let sixty = idle_client(&server);
    let left = server_keepalive_secs(&server, &sixty).expect("keepalive at 60 s");
    assert!((10..=60).contains(&left), "{left} s");
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "tcp-keepalive", "0"]),
        b"+OK\r\n"
    );
    let off = idle_client(&server);
    assert_eq!(server_keepalive_secs(&server, &off), None);
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "tcp-keepalive", "300"]),
        b"+OK\r\n"
    );
}

#[cfg(feature = "kvd")]
mod protected {
    use super::*;

    const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

    /// kvd bound to every address, with 127.0.0.2 standing in for a remote network (the test
    /// knob: this machine may have nothing but loopback).
    fn remote_server() -> kvd::ServerHandle {
        let mut config = kvd::Config::for_tests();
        config.bind = "0.0.0.0".parse().unwrap();
        config.treat_as_remote = Some("127.0.0.2".parse().unwrap());
        kvd::Server::start(config).unwrap()
    }

    fn connect_from_remote(port: u16) -> TcpStream {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let from: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
        socket.bind(&from.into()).unwrap();
        let to: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        socket.connect(&to.into()).unwrap();
        let stream: TcpStream = socket.into();
        assert_eq!(stream.local_addr().unwrap().ip().to_string(), "127.0.0.2");
        stream
    }

    fn read_all(stream: &mut TcpStream) -> String {
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        let mut got = Vec::new();
        let _ = stream.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn protected_mode_refuses_a_remote_client_without_a_password() {
        let server = remote_server();
        let port = server.local_addr().port();
        let mut remote = connect_from_remote(port);
        assert_eq!(read_all(&mut remote), DENIED);

        // Loopback clients are served, and can lift the restriction.
        let mut local = kvd_tests::RawConn::connect(([127, 0, 0, 1], port).into());
        assert_reply!(local.cmd(&["PING"]), b"+PONG\r\n");
        assert_reply!(
            local.cmd(&["CONFIG", "GET", "protected-mode"]),
            b"*2\r\n$14\r\nprotected-mode\r\n$3\r\nyes\r\n"
        );
        // A password for the default user lets remote clients in (to AUTH).
        assert_reply!(
            local.cmd(&["CONFIG", "SET", "requirepass", "pw"]),
            b"+OK\r\n"
        );
        let mut remote = connect_from_remote(port);
        remote.write_all(b"PING\r\n").unwrap();
        remote.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        let mut line = [0u8; 64];
        let n = remote.read(&mut line).unwrap();
        assert_eq!(&line[..n], b"-NOAUTH Authentication required.\r\n");
        // So does turning protected mode off.
        assert_reply!(local.cmd(&["CONFIG", "SET", "requirepass", ""]), b"+OK\r\n");
        assert_reply!(
            local.cmd(&["CONFIG", "SET", "protected-mode", "no"]),
            b"+OK\r\n"
        );
        let mut remote = connect_from_remote(port);
        remote.write_all(b"PING\r\n").unwrap();
        let n = remote.read(&mut line).unwrap();
        assert_eq!(&line[..n], b"+PONG\r\n");
        server.shutdown();
    }
}

#[test]
fn a_client_still_sending_a_command_is_not_idle() {
    let server = private();
    let mut admin = server.conn();
    assert_reply!(admin.cmd(&["CONFIG", "SET", "timeout", "1"]), b"+OK\r\n");
    let mut slow = server.conn();
    slow.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n");
    // Ten bytes over 2.5 s: longer than the timeout in total, never idle for a second. The
    // pauses are the behaviour under test (a slow sender), not a wait for a condition.
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        slow.send(b"v");
    }
    slow.send(b"\r\n");
    assert_reply!(slow.read_reply(), b"+OK\r\n");
}

/// Regression: with the in-flight window, the first replies could reach a client that had
/// already hung up; the failed write closed the connection and the rest of its pipeline, fully
/// received, never ran. Redis runs everything that arrived before the end-of-file.
#[test]
fn a_pipeline_sent_before_hanging_up_runs_to_the_end() {
    let server = TestServer::start();
    let mut other = server.conn();
    for trial in 0..20 {
        let mut c = server.conn();
        let mut input = Vec::new();
        for i in 0..500 {
            input.extend(encode_command(&[
                "RPUSH",
                &format!("hangup:{trial}"),
                &i.to_string(),
            ]));
        }
        c.send(&input);
        c.close();
        let key = format!("hangup:{trial}");
        poll_until(|| (other.cmd(&["LLEN", key.as_str()]) == b":500\r\n").then_some(()));
        assert_reply!(other.cmd(&["UNLINK", key.as_str()]), b":1\r\n");
    }
}
