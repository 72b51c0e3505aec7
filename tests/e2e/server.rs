//! INFO, DBSIZE, FLUSHDB/FLUSHALL, TIME, CONFIG, COMMAND, DEBUG and SHUTDOWN.

use std::time::{SystemTime, UNIX_EPOCH};

use kvd_tests::*;

fn info(c: &mut RawConn, args: &[&str]) -> String {
    let mut cmd = vec!["INFO"];
    cmd.extend_from_slice(args);
    String::from_utf8(bulk_payload(&c.cmd(&cmd))).unwrap()
}

/// The `name:` field names of one INFO text, in order, by section header.
fn field_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(':').expect("name:value line").0.to_string())
        .collect()
}

#[test]
fn info_sections_and_fields() {
    let server = TestServer::start();
    let mut c = server.conn();

    let text = info(&mut c, &["server"]);
    // INFO uses CRLF line ends; a single section has no blank line after it (the blank
    // line only separates sections).
    assert!(text.starts_with("# Server\r\n"), "{text:?}");
    assert!(
        text.ends_with("\r\n") && !text.ends_with("\r\n\r\n"),
        "{text:?}"
    );
    assert_eq!(
        text.matches("# ").count(),
        1,
        "only the server section: {text:?}"
    );
    let names = field_names(&text);
    for required in [
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "multiplexing_api",
        "process_id",
        "run_id",
        "tcp_port",
        "server_time_usec",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "executable",
        "config_file",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing {required} in {text:?}"
        );
    }
    assert!(text.contains("\r\nredis_mode:standalone\r\n"), "{text:?}");
    assert!(
        text.contains(&format!("\r\ntcp_port:{}\r\n", server.port())),
        "{text:?}"
    );
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap();
    // Clients parse redis_version as major.minor.patch; kvd claims 7.0 semantics.
    assert!(version.starts_with("7.0."), "{version}");

    let clients = info(&mut c, &["clients"]);
    assert!(clients.starts_with("# Clients\r\n"), "{clients:?}");
    // Connections closed just before (by the harness) may not be reaped yet: poll.
    poll_until(|| {
        info(&mut c, &["clients"])
            .contains("\r\nconnected_clients:1\r\n")
            .then_some(())
    });
    let _second = server.conn();
    // The second connection is counted once it is accepted; poll, because accepting is
    // asynchronous to our connect().
    poll_until(|| {
        info(&mut c, &["clients"])
            .contains("\r\nconnected_clients:2\r\n")
            .then_some(())
    });

    let stats = info(&mut c, &["stats"]);
    assert!(stats.starts_with("# Stats\r\n"), "{stats:?}");
    for required in [
        "total_connections_received",
        "total_commands_processed",
        "expired_keys",
        "keyspace_hits",
        "keyspace_misses",
    ] {
        assert!(
            field_names(&stats).iter().any(|n| n == required),
            "missing {required} in {stats:?}"
        );
    }

    let memory = info(&mut c, &["memory"]);
    assert!(memory.starts_with("# Memory\r\n"), "{memory:?}");
    assert!(field_names(&memory).iter().any(|n| n == "used_memory"));

    // An empty keyspace section is just its header.
    assert_reply!(info(&mut c, &["keyspace"]), "# Keyspace\r\n");
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["SET", "b", "2", "EX", "100"]), OK);
    c.cmd(&["SELECT", "5"]);
    assert_reply!(c.cmd(&["SET", "c", "3"]), OK);
    let keyspace = info(&mut c, &["keyspace"]);
    let lines: Vec<String> = keyspace
        .lines()
        .map(|l| match l.split_once(",avg_ttl=") {
            // avg_ttl is a sampled estimate (0 until the expire cycle has sampled), so it
            // is exact only for a database without volatile keys.
            Some((head, _)) if !head.ends_with(",expires=0") => format!("{head},avg_ttl=<n>"),
            _ => l.to_string(),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "# Keyspace",
            "db0:keys=2,expires=1,avg_ttl=<n>",
            "db5:keys=1,expires=0,avg_ttl=0"
        ],
        "{keyspace:?}"
    );

    // An unknown section yields an empty bulk string, not an error.
    assert_reply!(c.cmd(&["INFO", "nosuchsection"]), bulk(""));
    // Several sections at once, in the server's order.
    let both = info(&mut c, &["keyspace", "server"]);
    let server_at = both.find("# Server").unwrap();
    let keyspace_at = both.find("# Keyspace").unwrap();
    assert!(server_at < keyspace_at, "{both:?}");
    // Plain INFO has at least these sections.
    let all = info(&mut c, &[]);
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(all.contains(section), "missing {section}");
    }
}

#[test]
fn dbsize_and_flush() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(3));
    c.cmd(&["SELECT", "1"]);
    assert_reply!(c.cmd(&["SET", "x", "1"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(1));
    // FLUSHDB clears only the selected database.
    assert_reply!(c.cmd(&["FLUSHDB"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));
    c.cmd(&["SELECT", "0"]);
    assert_reply!(c.cmd(&["DBSIZE"]), int(3));
    assert_reply!(c.cmd(&["FLUSHDB", "SYNC"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));

    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    c.cmd(&["SELECT", "2"]);
    assert_reply!(c.cmd(&["SET", "b", "1"]), OK);
    assert_reply!(c.cmd(&["FLUSHALL", "ASYNC"]), OK);
    // ASYNC frees memory in the background, but the keys are gone for the next command.
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));
    c.cmd(&["SELECT", "0"]);
    assert_reply!(c.cmd(&["GET", "a"]), NIL);
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["FLUSHALL", "SYNC"]), OK);
    assert_reply!(c.cmd(&["EXISTS", "a"]), int(0));
    assert_reply!(c.cmd(&["FLUSHALL"]), OK);

    assert_reply!(c.cmd(&["FLUSHALL", "FOO"]), err("ERR syntax error"));
    assert_reply!(c.cmd(&["FLUSHDB", "x", "y"]), err("ERR syntax error"));
    assert_reply!(
        c.cmd(&["DBSIZE", "x"]),
        err("ERR wrong number of arguments for 'dbsize' command")
    );
}

#[test]
fn dbsize_counts_keys_on_every_shard() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    for i in 0..100 {
        assert_reply!(c.cmd(&["SET", &format!("k{i}"), "v"]), OK);
    }
    assert_reply!(c.cmd(&["DBSIZE"]), int(100));
    assert_reply!(c.cmd(&["FLUSHDB"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));
}

#[test]
fn time_is_now() {
    let server = TestServer::start();
    let mut c = server.conn();
    let items = bulk_items(&c.cmd(&["TIME"]));
    assert_eq!(items.len(), 2);
    let secs: u64 = String::from_utf8(items[0].clone())
        .unwrap()
        .parse()
        .unwrap();
    let micros: u64 = String::from_utf8(items[1].clone())
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2, "{secs} vs {now}");
    assert!(micros < 1_000_000);
    assert_reply!(
        c.cmd(&["TIME", "x"]),
        err("ERR wrong number of arguments for 'time' command")
    );
}

#[test]
fn config_get_and_set() {
    // CONFIG SET changes server-wide state, so this test gets a server of its own.
    let server = TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "port"]),
        bulk_array(&["port", &server.port().to_string()])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "databases"]),
        bulk_array(&["databases", "16"])
    );
    // Unknown parameters are simply absent.
    assert_reply!(c.cmd(&["CONFIG", "GET", "nosuchparam"]), b"*0\r\n");
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "foo", "bar"]),
        err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET"]),
        err("ERR wrong number of arguments for 'config|get' command")
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET"]),
        err("ERR wrong number of arguments for 'config|set' command")
    );
    // Glob patterns match several parameters, returned as flat name/value pairs.
    let pairs = bulk_items(&c.cmd(&["CONFIG", "GET", "maxmemory*"]));
    assert_eq!(pairs.len() % 2, 0);
    let names: Vec<&[u8]> = pairs.iter().step_by(2).map(|v| v.as_slice()).collect();
    assert!(names.contains(&&b"maxmemory"[..]));
    assert!(names.contains(&&b"maxmemory-policy"[..]));

    // requirepass applies at once to new connections; the current one stays authenticated.
    assert_reply!(c.cmd(&["CONFIG", "SET", "requirepass", "pw"]), OK);
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "requirepass"]),
        bulk_array(&["requirepass", "pw"])
    );
    let mut other = server.conn();
    assert_reply!(
        other.cmd(&["GET", "k"]),
        err("NOAUTH Authentication required.")
    );
    assert_reply!(other.cmd(&["AUTH", "pw"]), OK);
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(c.cmd(&["CONFIG", "SET", "requirepass", ""]), OK);
    assert_reply!(server.conn().cmd(&["GET", "k"]), NIL);

    // hz is a live setting in Redis.
    assert_reply!(c.cmd(&["CONFIG", "SET", "hz", "20"]), OK);
    assert_reply!(c.cmd(&["CONFIG", "GET", "hz"]), bulk_array(&["hz", "20"]));
    // Parameter names are case-insensitive, and Redis 7.0 echoes a non-glob name as given.
    assert_reply!(c.cmd(&["CONFIG", "GET", "HZ"]), bulk_array(&["HZ", "20"]));
}

#[test]
fn config_set_memory_values() {
    let server = TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        bulk_array(&["maxmemory", "0"])
    );
    // Redis's units: k/m/g are powers of ten, kb/mb/gb powers of two.
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "100mb"]), OK);
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        bulk_array(&["maxmemory", "104857600"])
    );
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "2M"]), OK);
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        bulk_array(&["maxmemory", "2000000"])
    );
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), OK);
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "abc"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must \
             be a memory value"
        )
    );
}

#[test]
fn command_introspection_shapes() {
    let server = TestServer::start();
    let mut c = server.conn();
    let count = as_int(&c.cmd(&["COMMAND", "COUNT"]));
    // COMMAND lists one entry per top-level command, so its length is COMMAND COUNT.
    let all = array_elements(&c.cmd(&["COMMAND"]));
    assert_eq!(all.len() as i64, count);
    assert!(count >= 50, "{count}");

    // The first seven fields of an entry, exactly as Redis 7.0 reports them in RESP2.
    let get = array_elements(&c.cmd(&["COMMAND", "INFO", "get"]));
    assert_eq!(get.len(), 1);
    let fields = array_elements(&get[0]);
    assert_eq!(
        fields.len(),
        10,
        "name arity flags first last step acl tips keyspecs subcommands"
    );
    assert_reply!(fields[0], bulk("get"));
    assert_reply!(fields[1], int(2));
    assert_reply!(fields[2], b"*2\r\n+readonly\r\n+fast\r\n");
    assert_reply!(fields[3], int(1));
    assert_reply!(fields[4], int(1));
    assert_reply!(fields[5], int(1));
    assert_reply!(fields[6], b"*3\r\n+@read\r\n+@string\r\n+@fast\r\n");

    let set = array_elements(&c.cmd(&["COMMAND", "INFO", "SET", "mset", "nosuchcommand"]));
    assert_eq!(set.len(), 3);
    let fields = array_elements(&set[0]);
    assert_reply!(fields[0], bulk("set"));
    assert_reply!(fields[1], int(-3));
    assert_reply!(fields[2], b"*2\r\n+write\r\n+denyoom\r\n");
    let mset = array_elements(&set[1]);
    assert_reply!(mset[0], bulk("mset"));
    assert_reply!(mset[1], int(-3));
    // MSET's keys are every second argument up to the last.
    assert_eq!(&mset[3..6], &[int(1), int(-1), int(2)]);
    // An unknown command is a null entry (a null bulk in RESP2).
    assert_reply!(set[2], NIL);

    // COMMAND LIST names every command (and, in 7.0, every subcommand as `parent|sub`).
    let list = bulk_items(&c.cmd(&["COMMAND", "LIST"]));
    for name in ["get", "set", "ping", "scan", "config|get", "client|id"] {
        assert!(list.iter().any(|n| n == name.as_bytes()), "missing {name}");
    }

    // COMMAND DOCS is a map from name to a doc map; an unknown name yields nothing.
    let docs = c.cmd(&["COMMAND", "DOCS", "get"]);
    let docs_items = array_elements(&docs);
    assert_eq!(docs_items.len(), 2);
    assert_reply!(docs_items[0], bulk("get"));
    let doc = array_elements(&docs_items[1]);
    assert_reply!(doc[0], bulk("summary"));
    assert_reply!(doc[1], bulk("Get the value of a key"));
    assert_reply!(doc[2], bulk("since"));
    assert_reply!(doc[3], bulk("1.0.0"));
    assert_reply!(doc[4], bulk("group"));
    assert_reply!(doc[5], bulk("string"));
    assert_reply!(c.cmd(&["COMMAND", "DOCS", "nosuchcommand"]), b"*0\r\n");

    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYS", "SET", "a", "b"]),
        bulk_array(&["a"])
    );
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        bulk_array(&["a", "b"])
    );
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYS", "PING", "x"]),
        err("ERR The command has no key arguments")
    );
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYS", "nosuch", "a"]),
        err("ERR Invalid command specified")
    );
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYS", "GET", "a", "b"]),
        err("ERR Invalid number of arguments specified for command")
    );
    assert_reply!(
        c.cmd(&["COMMAND", "FOO"]),
        err("ERR unknown subcommand 'FOO'. Try COMMAND HELP.")
    );
}

/// Keys given by a count argument (Redis's `keynum` key specs), as Redis 7.0.15 reports them.
#[test]
fn command_keynum_key_specs() {
    let server = TestServer::start();
    let mut c = server.conn();
    let getkeys = |c: &mut RawConn, args: &[&str]| {
        let mut full = vec!["COMMAND", "GETKEYS"];
        full.extend_from_slice(args);
        c.cmd(&full)
    };
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"],
            &["dst", "a", "b"],
        ),
        (
            &["ZINTERSTORE", "d", "2", "a", "b", "AGGREGATE", "MAX"],
            &["d", "a", "b"],
        ),
        (&["ZDIFFSTORE", "d", "1", "a"], &["d", "a"]),
        (&["BLMPOP", "0", "2", "a", "b", "LEFT"], &["a", "b"]),
        (&["LMPOP", "1", "a", "LEFT"], &["a"]),
        (&["ZMPOP", "2", "a", "b", "MIN"], &["a", "b"]),
        // Redis takes numkeys keys, even a word after them.
        (&["ZMPOP", "2", "a", "MIN"], &["a", "MIN"]),
        (&["BZMPOP", "1", "1", "a", "MAX", "COUNT", "2"], &["a"]),
        (&["SINTERCARD", "2", "a", "b", "LIMIT", "1"], &["a", "b"]),
        (&["ZINTERCARD", "1", "a"], &["a"]),
        (&["ZUNION", "2", "a", "b", "WITHSCORES"], &["a", "b"]),
        (&["ZINTER", "1", "a"], &["a"]),
        (&["ZDIFF", "2", "a", "b"], &["a", "b"]),
        // Not an integer for the key spec, but C's atoi reads 1 (Redis's getkeys fallback,
        // which puts the store key last).
        (&["ZMPOP", " 1", "a", "MIN"], &["a"]),
        (&["ZUNIONSTORE", "d", "1x", "a", "b"], &["a", "d"]),
    ];
    for (args, keys) in cases {
        assert_reply!(getkeys(&mut c, args), bulk_array(keys));
    }
    for bad in [
        &["ZMPOP", "0", "a", "MIN"][..],
        &["ZMPOP", "3", "a", "MIN"],
        &["ZMPOP", "x", "a", "MIN"],
        &["ZMPOP", "-1", "a", "MIN"],
        &["ZDIFFSTORE", "d", "0", "a"],
        &["ZDIFFSTORE", "d", "5", "a"],
    ] {
        assert_reply!(
            getkeys(&mut c, bad),
            err("ERR Invalid arguments specified for command")
        );
    }
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"]),
        b"*3\r\n*2\r\n$3\r\ndst\r\n*2\r\n+OW\r\n+update\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n\
          *2\r\n$1\r\nb\r\n*2\r\n+RO\r\n+access\r\n"
    );
    let rw_access_delete = b"*2\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n\
          *2\r\n$1\r\nb\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n";
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "ZMPOP", "2", "a", "b", "MIN"]),
        rw_access_delete
    );
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "BZPOPMIN", "a", "b", "0"]),
        rw_access_delete
    );
    // Keys found by the fallback parse carry no flags.
    assert_reply!(
        c.cmd(&["COMMAND", "GETKEYSANDFLAGS", "ZUNIONSTORE", "d", " 1", "a"]),
        b"*2\r\n*2\r\n$1\r\na\r\n*0\r\n*2\r\n$1\r\nd\r\n*0\r\n"
    );

    // Key specs in COMMAND INFO: a range spec for the store key, a keynum spec for the rest.
    let range_spec = |flags: &str, index: i64, lastkey: i64| {
        format!(
            "*6\r\n$5\r\nflags\r\n{flags}$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n\
             $4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:{index}\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n\
             $5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:{lastkey}\r\n$7\r\nkeystep\r\n:1\r\n\
             $5\r\nlimit\r\n:0\r\n"
        )
    };
    let keynum_spec = |flags: &str, index: i64| {
        format!(
            "*6\r\n$5\r\nflags\r\n{flags}$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n\
             $4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:{index}\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n\
             $6\r\nkeynum\r\n$4\r\nspec\r\n*6\r\n$9\r\nkeynumidx\r\n:0\r\n$8\r\nfirstkey\r\n:1\r\n\
             $7\r\nkeystep\r\n:1\r\n"
        )
    };
    let (rw, ro, ow) = (
        "*3\r\n+RW\r\n+access\r\n+delete\r\n",
        "*2\r\n+RO\r\n+access\r\n",
        "*2\r\n+OW\r\n+update\r\n",
    );
    let specs = [
        ("zmpop", format!("*1\r\n{}", keynum_spec(rw, 1))),
        ("bzmpop", format!("*1\r\n{}", keynum_spec(rw, 2))),
        ("lmpop", format!("*1\r\n{}", keynum_spec(rw, 1))),
        ("blmpop", format!("*1\r\n{}", keynum_spec(rw, 2))),
        ("sintercard", format!("*1\r\n{}", keynum_spec(ro, 1))),
        ("zintercard", format!("*1\r\n{}", keynum_spec(ro, 1))),
        ("zunion", format!("*1\r\n{}", keynum_spec(ro, 1))),
        ("zinter", format!("*1\r\n{}", keynum_spec(ro, 1))),
        ("zdiff", format!("*1\r\n{}", keynum_spec(ro, 1))),
        ("bzpopmin", format!("*1\r\n{}", range_spec(rw, 1, -2))),
        ("bzpopmax", format!("*1\r\n{}", range_spec(rw, 1, -2))),
    ];
    let store = |name| {
        (
            name,
            format!("*2\r\n{}{}", range_spec(ow, 1, 0), keynum_spec(ro, 2)),
        )
    };
    for (name, want) in specs
        .into_iter()
        .chain(["zunionstore", "zinterstore", "zdiffstore"].map(store))
    {
        let info = array_elements(&c.cmd(&["COMMAND", "INFO", name]));
        let fields = array_elements(&info[0]);
        assert_reply!(fields[0], bulk(name));
        assert_reply!(fields[8], want.as_bytes(), "key specs of {name}");
    }
}

#[test]
fn debug_sleep_and_populate() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["DEBUG", "SLEEP", "0"]), OK);
    assert_reply!(c.cmd(&["DEBUG", "POPULATE", "3"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(3));
    // Default names are key:N with values value:N.
    assert_reply!(c.cmd(&["GET", "key:0"]), bulk("value:0"));
    assert_reply!(c.cmd(&["GET", "key:2"]), bulk("value:2"));
    // With a prefix and a size, the value is "value:N" padded with NULs or truncated to size.
    assert_reply!(c.cmd(&["DEBUG", "POPULATE", "2", "pfx", "5"]), OK);
    assert_reply!(c.cmd(&["GET", "pfx:1"]), bulk("value"));
    assert_reply!(c.cmd(&["DEBUG", "POPULATE", "1", "pad", "10"]), OK);
    assert_reply!(c.cmd(&["GET", "pad:0"]), bulk(b"value:0\0\0\0"));
    // Existing keys are left alone.
    assert_reply!(c.cmd(&["SET", "key:0", "mine"]), OK);
    assert_reply!(c.cmd(&["DEBUG", "POPULATE", "3"]), OK);
    assert_reply!(c.cmd(&["GET", "key:0"]), bulk("mine"));
    assert_reply!(c.cmd(&["DBSIZE"]), int(6));
    assert_reply!(
        c.cmd(&["DEBUG", "POPULATE", "x"]),
        err("ERR value is out of range, must be positive")
    );
}

#[test]
fn debug_populate_fills_every_shard() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(c.cmd(&["DEBUG", "POPULATE", "1000"]), OK);
    assert_reply!(c.cmd(&["DBSIZE"]), int(1000));
    // Each key is readable, so each landed on the shard that owns it.
    for i in [0, 1, 2, 3, 500, 999] {
        assert_reply!(
            c.cmd(&["GET", &format!("key:{i}")]),
            bulk(format!("value:{i}"))
        );
    }
}

#[test]
fn shutdown_stops_the_server() {
    let mut server = TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let mut bystander = server.conn();
    assert_reply!(bystander.cmd(&["PING"]), b"+PONG\r\n");
    // A successful SHUTDOWN sends no reply: the connection just closes.
    c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    c.expect_closed();
    bystander.expect_closed();
    server.wait_stopped();
    // Nobody listens any more.
    assert!(std::net::TcpStream::connect(server.addr()).is_err());
}
