//! PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET and the CLIENT subcommands.

use kvd_tests::*;

#[test]
fn ping_and_echo() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    // PING with an argument answers a bulk string, not a simple string.
    assert_reply!(c.cmd(&["PING", "hi"]), bulk("hi"));
    assert_reply!(
        c.cmd(&["PING", "a", "b"]),
        err("ERR wrong number of arguments for 'ping' command")
    );
    assert_reply!(c.cmd(&["ECHO", "hello world"]), bulk("hello world"));
    assert_reply!(c.cmd(&["echo", ""]), bulk(""));
    assert_reply!(
        c.cmd(&["ECHO"]),
        err("ERR wrong number of arguments for 'echo' command")
    );
    assert_reply!(
        c.cmd(&["ECHO", "a", "b"]),
        err("ERR wrong number of arguments for 'echo' command")
    );
}

#[test]
fn quit_replies_ok_then_closes() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["QUIT"]), OK);
    c.expect_closed();
    // The server itself keeps serving.
    assert_reply!(server.conn().cmd(&["PING"]), b"+PONG\r\n");
}

/// The exact HELLO reply: seven fields, an array in RESP2 and a map in RESP3.
fn hello_reply(proto: u8, id: i64, version: &str) -> Vec<u8> {
    let header = if proto == 3 { "%7" } else { "*14" };
    let mut out = format!("{header}\r\n").into_bytes();
    for (k, v) in [
        ("server", bulk("redis")),
        ("version", bulk(version)),
        ("proto", int(proto as i64)),
        ("id", int(id)),
        ("mode", bulk("standalone")),
        ("role", bulk("master")),
        ("modules", b"*0\r\n".to_vec()),
    ] {
        out.extend(bulk(k));
        out.extend(v);
    }
    out
}

/// The `redis_version` field of INFO server, which HELLO must agree with.
fn server_version(c: &mut RawConn) -> String {
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "server"]))).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("redis_version in INFO server")
        .to_string()
}

#[test]
fn hello_switches_protocol_with_exact_bytes() {
    let server = TestServer::start();
    let mut c = server.conn();
    let id = as_int(&c.cmd(&["CLIENT", "ID"]));
    let version = server_version(&mut c);

    // HELLO without arguments reports the current protocol (2) and does not switch.
    assert_reply!(c.cmd(&["HELLO"]), hello_reply(2, id, &version));
    assert_reply!(c.cmd(&["GET", "missing"]), NIL);

    assert_reply!(c.cmd(&["HELLO", "3"]), hello_reply(3, id, &version));
    // RESP3 null, map and verbatim replies after HELLO 3.
    assert_reply!(c.cmd(&["GET", "missing"]), b"_\r\n");
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
    let info = c.cmd(&["CLIENT", "INFO"]);
    let text = String::from_utf8(info.clone()).unwrap();
    // CLIENT INFO is a verbatim string (`=len\r\ntxt:...`) in RESP3.
    let body = format!("txt:id={id} ");
    assert!(text.starts_with('=') && text.contains(&body), "{text:?}");
    assert!(text.ends_with(" resp=3\n\r\n"), "{text:?}");

    assert_reply!(c.cmd(&["HELLO", "2"]), hello_reply(2, id, &version));
    assert_reply!(c.cmd(&["GET", "missing"]), NIL);

    assert_reply!(
        c.cmd(&["HELLO", "4"]),
        err("NOPROTO unsupported protocol version")
    );
    assert_reply!(
        c.cmd(&["HELLO", "abc"]),
        err("ERR Protocol version is not an integer or out of range")
    );
    assert_reply!(
        c.cmd(&["HELLO", "2", "AUTH"]),
        err("ERR Syntax error in HELLO option 'AUTH'")
    );
    // HELLO SETNAME names the connection.
    assert_reply!(
        c.cmd(&["HELLO", "3", "SETNAME", "conn1"]),
        hello_reply(3, id, &version)
    );
    assert_reply!(c.cmd(&["CLIENT", "GETNAME"]), bulk("conn1"));
}

#[test]
fn config_get_is_a_map_in_resp3() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

#[test]
fn auth_with_requirepass() {
    let server = TestServer::with(ServerOptions {
        requirepass: Some("s3cret".into()),
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    // Every command but AUTH/HELLO/QUIT/RESET is refused before authentication, even PING.
    assert_reply!(c.cmd(&["PING"]), err(NOAUTH));
    assert_reply!(c.cmd(&["GET", "k"]), err(NOAUTH));
    assert_reply!(c.cmd(&["CLIENT", "ID"]), err(NOAUTH));
    assert_reply!(
        c.cmd(&["HELLO", "3"]),
        err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time"
        )
    );
    // Unknown commands and wrong arity are reported before authentication is checked.
    assert_reply!(
        c.cmd(&["FOO"]),
        err("ERR unknown command 'FOO', with args beginning with: ")
    );
    assert_reply!(
        c.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_reply!(c.cmd(&["SELECT", "1"]), err(NOAUTH));
    assert_reply!(c.cmd(&["AUTH", "wrong"]), err(WRONGPASS));
    assert_reply!(c.cmd(&["AUTH", "default", "wrong"]), err(WRONGPASS));
    assert_reply!(
        c.cmd(&["HELLO", "2", "AUTH", "default", "wrong"]),
        err(WRONGPASS)
    );
    assert_reply!(c.cmd(&["AUTH", "a", "b", "c"]), err("ERR syntax error"));
    assert_reply!(c.cmd(&["AUTH", "s3cret"]), OK);
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(c.cmd(&["AUTH", "default", "s3cret"]), OK);

    // RESET de-authenticates the connection.
    assert_reply!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_reply!(c.cmd(&["GET", "k"]), err(NOAUTH));

    // HELLO AUTH authenticates and switches protocol in one step.
    let mut c2 = server.conn();
    let reply = c2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "x"]);
    assert!(reply.starts_with(b"%7\r\n$6\r\nserver\r\n"), "{reply:?}");
    assert_reply!(c2.cmd(&["GET", "k"]), b"_\r\n");
    assert_reply!(c2.cmd(&["CLIENT", "GETNAME"]), bulk("x"));

    // QUIT works unauthenticated.
    let mut c3 = server.conn();
    assert_reply!(c3.cmd(&["QUIT"]), OK);
    c3.expect_closed();

    // Before authentication Redis 7.0 limits requests to 10 arguments of 16 KiB each, so an
    // unauthenticated client cannot make the server buffer much.
    let mut big = server.conn();
    big.send(b"*20\r\n");
    assert_reply!(
        big.read_reply(),
        err("ERR Protocol error: unauthenticated multibulk length")
    );
    big.expect_closed();
    let mut big = server.conn();
    big.send(b"*2\r\n$20000\r\n");
    assert_reply!(
        big.read_reply(),
        err("ERR Protocol error: unauthenticated bulk length")
    );
    big.expect_closed();
    // Once authenticated, the same shapes are fine.
    let mut authed = server.conn();
    assert_reply!(authed.cmd(&["AUTH", "s3cret"]), OK);
    let value = "v".repeat(20_000);
    let mut args = vec!["MSET"];
    for _ in 0..10 {
        args.extend(["k", value.as_str()]);
    }
    assert_reply!(authed.cmd(&args), OK);
    assert_reply!(authed.cmd(&["STRLEN", "k"]), int(20_000));

    // The redis crate authenticates through the URL.
    let mut client = server.client();
    let pong: String = redis::cmd("PING").query(&mut client).unwrap();
    assert_reply!(pong, "PONG");
}

#[test]
fn auth_without_requirepass() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["AUTH", "x"]),
        err(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    // With two arguments the ACL path answers, and user "a" does not exist.
    assert_reply!(c.cmd(&["AUTH", "a", "b"]), err(WRONGPASS));
}

#[test]
fn select_switches_database() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "db0"]), OK);
    assert_reply!(c.cmd(&["SELECT", "1"]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), NIL);
    assert_reply!(c.cmd(&["SET", "k", "db1"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(1));
    assert_reply!(c.cmd(&["SELECT", "15"]), OK);
    assert_reply!(c.cmd(&["SELECT", "0"]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("db0"));
    // Another connection starts in db 0.
    let mut other = server.conn();
    other.cmd(&["SELECT", "1"]);
    assert_reply!(other.cmd(&["GET", "k"]), bulk("db1"));

    assert_reply!(
        c.cmd(&["SELECT", "16"]),
        err("ERR DB index is out of range")
    );
    assert_reply!(
        c.cmd(&["SELECT", "-1"]),
        err("ERR DB index is out of range")
    );
    assert_reply!(
        c.cmd(&["SELECT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_reply!(
        c.cmd(&["SELECT", "0", "1"]),
        err("ERR wrong number of arguments for 'select' command")
    );
}

#[test]
fn databases_setting_bounds_select() {
    let server = TestServer::with(ServerOptions {
        databases: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SELECT", "3"]), OK);
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["SELECT", "4"]), err("ERR DB index is out of range"));
    assert_reply!(
        c.cmd(&["COPY", "k", "k2", "DB", "4"]),
        err("ERR DB index is out of range")
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "databases"]),
        bulk_array(&["databases", "4"])
    );
    let keyspace = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "keyspace"]))).unwrap();
    assert_eq!(keyspace, "# Keyspace\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n");
}

#[test]
fn reset_restores_connection_defaults() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    c.cmd(&["HELLO", "3"]);
    assert_reply!(c.cmd(&["SELECT", "2"]), OK);
    assert_reply!(c.cmd(&["CLIENT", "SETNAME", "before"]), OK);
    assert_reply!(c.cmd(&["RESET"]), b"+RESET\r\n");
    // Back to RESP2, db 0 and no name.
    assert_reply!(c.cmd(&["GET", "missing"]), NIL);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["CLIENT", "GETNAME"]), NIL);
}

#[test]
fn client_id_and_names() {
    let server = TestServer::start();
    let mut a = server.conn();
    let ida = as_int(&a.cmd(&["CLIENT", "ID"]));
    // CLIENT ID is documented as monotonically increasing: a connection established after
    // another (here: after `a` has been served) has a greater ID.
    let mut b = server.conn();
    let idb = as_int(&b.cmd(&["CLIENT", "ID"]));
    assert!(ida > 0 && idb > ida, "{ida} {idb}");
    assert_reply!(a.cmd(&["CLIENT", "ID"]), int(ida));

    assert_reply!(a.cmd(&["CLIENT", "GETNAME"]), NIL);
    assert_reply!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), OK);
    assert_reply!(a.cmd(&["CLIENT", "GETNAME"]), bulk("alpha"));
    assert_reply!(b.cmd(&["CLIENT", "GETNAME"]), NIL);
    assert_reply!(
        a.cmd(&["CLIENT", "SETNAME", "a b"]),
        err("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_reply!(
        a.cmd(&["CLIENT", "SETNAME", "a", "b"]),
        err("ERR wrong number of arguments for 'client|setname' command")
    );
    // An empty name clears it.
    assert_reply!(a.cmd(&["CLIENT", "SETNAME", ""]), OK);
    assert_reply!(a.cmd(&["CLIENT", "GETNAME"]), NIL);
    assert_reply!(
        a.cmd(&["CLIENT", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try CLIENT HELP.")
    );
}

/// Parses one CLIENT LIST / CLIENT INFO line into its `key=value` fields.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or_else(|| panic!("field {f:?}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn client_list_and_info() {
    let server = TestServer::start();
    let mut a = server.conn();
    let mut b = server.conn();
    let ida = as_int(&a.cmd(&["CLIENT", "ID"]));
    let idb = as_int(&b.cmd(&["CLIENT", "ID"]));
    b.cmd(&["CLIENT", "SETNAME", "bee"]);
    b.cmd(&["SELECT", "3"]);

    let info = String::from_utf8(bulk_payload(&a.cmd(&["CLIENT", "INFO"]))).unwrap();
    assert!(
        info.ends_with('\n') && info.matches('\n').count() == 1,
        "{info:?}"
    );
    let f = fields(info.trim_end());
    let names: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    // The field order of Redis 7.0's client line; tools parse it positionally.
    assert_eq!(
        names,
        [
            "id",
            "addr",
            "laddr",
            "fd",
            "name",
            "age",
            "idle",
            "flags",
            "db",
            "sub",
            "psub",
            "ssub",
            "multi",
            "qbuf",
            "qbuf-free",
            "argv-mem",
            "multi-mem",
            "rbs",
            "rbp",
            "obl",
            "oll",
            "omem",
            "tot-mem",
            "events",
            "cmd",
            "user",
            "redir",
            "resp"
        ]
    );
    let get = |k: &str| f.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_reply!(get("id"), ida.to_string());
    assert!(get("addr").starts_with("127.0.0.1:"));
    assert_reply!(get("laddr"), server.addr().to_string());
    assert_reply!(get("cmd"), "client|info");
    assert_reply!(get("db"), "0");
    assert_reply!(get("user"), "default");
    assert_reply!(get("resp"), "2");

    let list = String::from_utf8(bulk_payload(&a.cmd(&["CLIENT", "LIST"]))).unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list:?}");
    let line_b = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={idb} ")))
        .expect("b listed");
    assert!(line_b.contains(" name=bee "), "{line_b}");
    assert!(line_b.contains(" db=3 "), "{line_b}");
    assert!(line_b.contains(" cmd=select "), "{line_b}");

    let only_b = String::from_utf8(bulk_payload(&a.cmd(&[
        "CLIENT",
        "LIST",
        "ID",
        &idb.to_string(),
    ])))
    .unwrap();
    assert_eq!(only_b.lines().count(), 1);
    assert!(only_b.starts_with(&format!("id={idb} ")));
    // An unknown id lists nothing: an empty bulk string.
    assert_reply!(a.cmd(&["CLIENT", "LIST", "ID", "999999"]), bulk(""));
}

#[test]
fn client_kill_closes_the_other_connection() {
    let server = TestServer::start();
    let mut a = server.conn();
    let mut b = server.conn();
    let mut c = server.conn();
    let idb = as_int(&b.cmd(&["CLIENT", "ID"]));
    // New-style CLIENT KILL answers the number killed.
    assert_reply!(a.cmd(&["CLIENT", "KILL", "ID", &idb.to_string()]), int(1));
    b.expect_closed();
    assert_reply!(a.cmd(&["CLIENT", "KILL", "ID", "999999"]), int(0));

    // Old-style CLIENT KILL addr answers +OK or an error.
    let info = String::from_utf8(bulk_payload(&c.cmd(&["CLIENT", "INFO"]))).unwrap();
    let addr = fields(info.trim_end())
        .into_iter()
        .find(|(k, _)| k == "addr")
        .unwrap()
        .1;
    assert_reply!(a.cmd(&["CLIENT", "KILL", &addr]), OK);
    c.expect_closed();
    assert_reply!(
        a.cmd(&["CLIENT", "KILL", "127.0.0.1:1"]),
        err("ERR No such client")
    );
    assert_reply!(
        a.cmd(&["CLIENT", "KILL", "NOPE", "1"]),
        err("ERR syntax error")
    );
    assert_reply!(a.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn client_no_evict_setinfo_no_touch() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["CLIENT", "NO-EVICT", "on"]), OK);
    assert_reply!(c.cmd(&["CLIENT", "NO-EVICT", "off"]), OK);
    assert_reply!(
        c.cmd(&["CLIENT", "NO-EVICT", "maybe"]),
        err("ERR syntax error")
    );
    assert_reply!(
        c.cmd(&["CLIENT", "NO-EVICT"]),
        err("ERR wrong number of arguments for 'client|no-evict' command")
    );
    if server.is_kvd() {
        // kvd accepts Redis 7.2's CLIENT SETINFO and NO-TOUCH: current client libraries send
        // SETINFO on every connect.
        assert_reply!(c.cmd(&["CLIENT", "SETINFO", "lib-name", "x"]), OK);
        assert_reply!(c.cmd(&["CLIENT", "SETINFO", "LIB-VER", "1.0"]), OK);
        assert_reply!(
            c.cmd(&["CLIENT", "SETINFO", "lib-foo", "x"]),
            err("ERR Unrecognized option 'lib-foo'")
        );
        assert_reply!(
            c.cmd(&["CLIENT", "SETINFO", "lib-name", "a b"]),
            err("ERR lib-name cannot contain spaces, newlines or special characters.")
        );
        let info = c.cmd_str(&["CLIENT", "INFO"]);
        assert!(info.contains(" lib-name=x lib-ver=1.0"), "{info}");
        assert_reply!(c.cmd(&["CLIENT", "NO-TOUCH", "on"]), OK);
        assert_reply!(c.cmd(&["CLIENT", "NO-TOUCH", "off"]), OK);
        assert_reply!(c.cmd(&["CLIENT", "NO-TOUCH", "x"]), err("ERR syntax error"));
    } else {
        // Redis 7.0 does not know them yet (they arrived in 7.2).
        assert_reply!(
            c.cmd(&["CLIENT", "SETINFO", "lib-name", "x"]),
            err("ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.")
        );
        assert_reply!(
            c.cmd(&["CLIENT", "NO-TOUCH", "on"]),
            err("ERR unknown subcommand 'NO-TOUCH'. Try CLIENT HELP.")
        );
    }
    // The redis crate's connection setup copes with that reply.
    let mut client = server.client();
    let pong: String = redis::cmd("PING").query(&mut client).unwrap();
    assert_reply!(pong, "PONG");
}

#[test]
fn resp3_reply_types() {
    let server = TestServer::start();
    let mut c = server.conn();
    c.cmd(&["HELLO", "3"]);
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    // Nulls inside arrays and in place of bulk strings are `_` in RESP3.
    assert_reply!(c.cmd(&["MGET", "a", "nope"]), b"*2\r\n$1\r\n1\r\n_\r\n");
    assert_reply!(c.cmd(&["SET", "k", "v", "GET"]), b"_\r\n");
    assert_reply!(c.cmd(&["GETEX", "nope"]), b"_\r\n");
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "nope"]), b"_\r\n");
    assert_reply!(c.cmd(&["COMMAND", "INFO", "nope"]), b"*1\r\n_\r\n");
    // Maps for CONFIG GET and COMMAND DOCS, even when empty.
    assert_reply!(c.cmd(&["CONFIG", "GET", "nope"]), b"%0\r\n");
    assert_reply!(c.cmd(&["COMMAND", "DOCS", "nope"]), b"%0\r\n");
    // INFO and CLIENT LIST are verbatim strings of format txt.
    assert_reply!(
        c.cmd(&["INFO", "keyspace"]),
        b"=48\r\ntxt:# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n\r\n"
    );
    assert_reply!(
        c.cmd(&["CLIENT", "LIST", "ID", "999999"]),
        b"=4\r\ntxt:\r\n"
    );
    // Integers, simple strings and errors are unchanged.
    assert_reply!(c.cmd(&["EXISTS", "a"]), int(1));
    assert_reply!(c.cmd(&["TYPE", "a"]), b"+string\r\n");
    assert_reply!(
        c.cmd(&["INCR", "k"]),
        err("ERR value is not an integer or out of range")
    );
    // INCRBYFLOAT still answers a bulk string, not a RESP3 double.
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f", "1.5"]), bulk("1.5"));
}

#[test]
fn protocol_switch_inside_a_pipeline() {
    let server = TestServer::start();
    let mut c = server.conn();
    let id = as_int(&c.cmd(&["CLIENT", "ID"]));
    let version = server_version(&mut c);
    // Each reply is encoded in the protocol in force when its command ran, even though all
    // of them arrive in one read.
    let mut input = Vec::new();
    for cmd in [
        &["GET", "nope"][..],
        &["HELLO", "3"],
        &["GET", "nope"],
        &["MGET", "nope"],
        &["HELLO", "2"],
        &["GET", "nope"],
        &["MGET", "nope"],
    ] {
        input.extend(encode_command(cmd));
    }
    c.send(&input);
    assert_reply!(c.read_reply(), NIL);
    assert_reply!(c.read_reply(), hello_reply(3, id, &version));
    assert_reply!(c.read_reply(), b"_\r\n");
    assert_reply!(c.read_reply(), b"*1\r\n_\r\n");
    assert_reply!(c.read_reply(), hello_reply(2, id, &version));
    assert_reply!(c.read_reply(), NIL);
    assert_reply!(c.read_reply(), b"*1\r\n$-1\r\n");
}

#[test]
fn quit_inside_a_pipeline_drops_what_follows() {
    let server = TestServer::start();
    let mut c = server.conn();
    c.send(b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n");
    assert_reply!(c.read_reply(), b"+PONG\r\n");
    assert_reply!(c.read_reply(), OK);
    assert_reply!(c.read_reply(), OK);
    c.expect_closed();
    let mut other = server.conn();
    assert_reply!(other.cmd(&["EXISTS", "a"]), int(1));
    // Commands after QUIT are never executed.
    assert_reply!(other.cmd(&["EXISTS", "b"]), int(0));
}
