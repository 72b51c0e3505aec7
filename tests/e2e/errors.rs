//! Command errors (unknown command, arity, types) and protocol errors that close the connection.

use kvd_tests::*;

#[test]
fn unknown_command_quotes_its_arguments() {
    let server = TestServer::start();
    let mut c = server.conn();
    // The trailing space after the (possibly empty) argument list is part of Redis's text.
    assert_reply!(
        c.cmd(&["FOO"]),
        err("ERR unknown command 'FOO', with args beginning with: ")
    );
    assert_reply!(
        c.cmd(&["foo", "a b", "c"]),
        err("ERR unknown command 'foo', with args beginning with: 'a b' 'c' ")
    );
    // The connection stays usable after command errors.
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn wrong_arity_names_the_command_in_lowercase() {
    let server = TestServer::start();
    let mut c = server.conn();
    for (cmd, name) in [
        (vec!["GeT"], "get"),
        (vec!["SET", "k"], "set"),
        (vec!["incr"], "incr"),
        (vec!["EXPIRE", "k"], "expire"),
        (vec!["MGET"], "mget"),
        (vec!["getrange", "k", "0"], "getrange"),
    ] {
        assert_reply!(
            c.cmd(&cmd),
            err(&format!(
                "ERR wrong number of arguments for '{name}' command"
            )),
            "{cmd:?}"
        );
    }
}

#[test]
fn non_integer_arguments() {
    let server = TestServer::start();
    let mut c = server.conn();
    let not_int = err("ERR value is not an integer or out of range");
    assert_reply!(c.cmd(&["EXPIRE", "k", "1.5"]), not_int);
    assert_reply!(c.cmd(&["INCRBY", "k", "x"]), not_int);
    assert_reply!(c.cmd(&["SELECT", "one"]), not_int);
    // One past i64::MAX is out of range.
    assert_reply!(c.cmd(&["INCRBY", "k", "9223372036854775808"]), not_int);
}

/// Sends `bytes` on a fresh connection and asserts the server answers exactly `replies`, then
/// the protocol error `text`, then closes the connection.
fn assert_protocol_error(server: &TestServer, bytes: &[u8], replies: &[&[u8]], text: &str) {
    let mut c = server.conn();
    c.send(bytes);
    for reply in replies {
        assert_reply!(c.read_reply(), *reply);
    }
    assert_reply!(
        c.read_reply(),
        err(&format!("ERR Protocol error: {text}")),
        "for input {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
    );
    c.expect_closed();
}

#[test]
fn protocol_errors_reply_then_close() {
    let server = TestServer::start();
    // Commands before the bad bytes are answered first.
    assert_protocol_error(
        &server,
        b"*1\r\n$4\r\nPING\r\n*abc\r\n",
        &[b"+PONG\r\n"],
        "invalid multibulk length",
    );
    assert_protocol_error(
        &server,
        b"*2\r\n$3\r\nGET\r\n$abc\r\n",
        &[],
        "invalid bulk length",
    );
    assert_protocol_error(&server, b"*2\r\n$-1\r\n", &[], "invalid bulk length");
    // Counts beyond i32::MAX are invalid outright.
    assert_protocol_error(&server, b"*2147483648\r\n", &[], "invalid multibulk length");
    if server.is_kvd() {
        // kvd caps a request at 1,048,576 arguments (Redis 7.0 waits for up to INT_MAX).
        assert_protocol_error(&server, b"*1048577\r\n", &[], "invalid multibulk length");
    }
    // Larger than proto-max-bulk-len (512 MiB).
    assert_protocol_error(&server, b"*2\r\n$536870913\r\n", &[], "invalid bulk length");
    assert_protocol_error(
        &server,
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        &[],
        "expected '$', got ':'",
    );
    assert_protocol_error(
        &server,
        b"ECHO \"abc\r\n",
        &[],
        "unbalanced quotes in request",
    );
    // 64 KiB without a newline: an inline request that is too big.
    assert_protocol_error(&server, &[b'a'; 70_000], &[], "too big inline request");
    let mut huge_count = b"*".to_vec();
    huge_count.extend_from_slice(&[b'1'; 70_000]);
    assert_protocol_error(&server, &huge_count, &[], "too big mbulk count string");
    let mut huge_bulk = b"*1\r\n$".to_vec();
    huge_bulk.extend_from_slice(&[b'1'; 70_000]);
    assert_protocol_error(&server, &huge_bulk, &[], "too big bulk count string");
    // The server still serves new connections.
    assert_reply!(server.conn().cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn inline_and_empty_requests() {
    let server = TestServer::start();
    let mut c = server.conn();
    // Inline commands split on spaces and honour quotes; empty lines and empty arrays are
    // skipped without a reply, and a null array is ignored.
    c.send(b"\r\n\r\n*0\r\n*-1\r\nSET a \"x y\"\r\nGET a\r\nECHO 'q'\r\nPING\n");
    assert_reply!(c.read_reply(), OK);
    assert_reply!(c.read_reply(), bulk("x y"));
    assert_reply!(c.read_reply(), bulk("q"));
    assert_reply!(c.read_reply(), b"+PONG\r\n");
    // Escapes in double quotes.
    c.send(b"ECHO \"a\\tb\\x41\"\r\n");
    assert_reply!(c.read_reply(), bulk("a\tbA"));
}

#[test]
fn protocol_error_after_a_multi_shard_command() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]), OK);
    // The MGET fans out to several shards; its reply must still come out, whole and before
    // the protocol error that follows it in the same write.
    let mut input = encode_command(&["MGET", "a", "b", "c", "d", "e"]);
    input.extend_from_slice(b"*1\r\n$x\r\n");
    c.send(&input);
    assert_reply!(
        c.read_reply(),
        b"*5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$-1\r\n"
    );
    assert_reply!(
        c.read_reply(),
        err("ERR Protocol error: invalid bulk length")
    );
    c.expect_closed();
}
