//! The server started in-process on 127.0.0.1:0: serving, CONFIG, and every way of stopping.
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kvd::{Config, Server};

/// Sends `request` and reads exactly `expected.len()` bytes back.
fn roundtrip(stream: &mut TcpStream, request: &[u8], expected: &[u8]) {
    stream.write_all(request).unwrap();
    let mut reply = vec![0u8; expected.len()];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(expected)
    );
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

fn assert_refused(addr: SocketAddr) {
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn serves_on_a_free_port_and_stops_on_shutdown() {
    let server = Server::start(Config::for_tests()).unwrap();
    let addr = server.local_addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(addr.port(), 0);
    let mut client = connect(addr);
    roundtrip(&mut client, b"PING\r\n", b"+PONG\r\n");
    roundtrip(
        &mut client,
        b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"+OK\r\n",
    );
    roundtrip(
        &mut client,
        b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
        b"$1\r\nb\r\n",
    );
    server.shutdown();
    assert_refused(addr);
    // Stopped is stopped: waiting again returns at once.
    server.wait().unwrap();
}

#[test]
fn config_get_reports_the_real_port_and_redis_defaults() {
    let server = Server::start(Config::for_tests()).unwrap();
    let port = server.local_addr().port().to_string();
    let mut client = connect(server.local_addr());
    let expected = format!("*2\r\n$4\r\nport\r\n${}\r\n{port}\r\n", port.len());
    roundtrip(
        &mut client,
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nport\r\n",
        expected.as_bytes(),
    );
    roundtrip(
        &mut client,
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n",
        b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n",
    );
    roundtrip(
        &mut client,
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$7\r\nworkers\r\n",
        b"*2\r\n$7\r\nworkers\r\n$1\r\n2\r\n",
    );
    roundtrip(
        &mut client,
        b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\ndatabases\r\n$1\r\n1\r\n",
        b"-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n",
    );
}

#[test]
fn requirepass_set_at_runtime_is_required() {
    let server = Server::start(Config::for_tests()).unwrap();
    let mut admin = connect(server.local_addr());
    roundtrip(
        &mut admin,
        b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n",
        b"+OK\r\n",
    );
    let mut client = connect(server.local_addr());
    roundtrip(
        &mut client,
        b"PING\r\n",
        b"-NOAUTH Authentication required.\r\n",
    );
    roundtrip(&mut client, b"AUTH pw\r\n", b"+OK\r\n");
    roundtrip(&mut client, b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn shutdown_command_stops_the_server() {
    let server = Server::start(Config::for_tests()).unwrap();
    let addr = server.local_addr();
    let mut client = connect(addr);
    client.write_all(b"SHUTDOWN\r\n").unwrap();
    server.wait().unwrap();
    // Redis closes the connection without a reply.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
    assert_refused(addr);
}

#[test]
fn a_taken_port_fails_with_its_address() {
    let first = Server::start(Config::for_tests()).unwrap();
    let addr = first.local_addr();
    let err = Server::start(Config {
        port: addr.port(),
        ..Config::for_tests()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), format!("address {addr} is already in use"));
    // The first server is unharmed.
    roundtrip(&mut connect(addr), b"PING\r\n", b"+PONG\r\n");
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let server = Server::start(Config::for_tests()).unwrap();
    let addr = server.local_addr();
    drop(server);
    assert_refused(addr);
}
