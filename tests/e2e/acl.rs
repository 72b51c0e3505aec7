//! Access control: ACL users and rules, AUTH/HELLO as a user, NOPERM texts, ACL LOG, the
//! `default` user tied to `requirepass`, the ACL file, and `rename-command`.
use kvd_tests::{
    RawConn, ServerOptions, TestServer, as_int, assert_reply, bulk, bulk_array, bulk_items,
    bulk_payload, err, int,
};

const P1_HASH: &str = "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a";
const NOPERM_KEYS: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";

/// ACL changes must not leak into other tests sharing an external server.
fn private() -> TestServer {
    TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    })
}

fn ok() -> Vec<u8> {
    b"+OK\r\n".to_vec()
}

fn noperm_cmd(name: &str) -> Vec<u8> {
    err(&format!(
        "NOPERM this user has no permissions to run the '{name}' command"
    ))
}

/// A connection authenticated as `user`.
fn login(server: &TestServer, user: &str, pass: &str) -> RawConn {
    let mut c = server.conn();
    assert_reply!(c.cmd(&["AUTH", user, pass]), ok());
    c
}

fn setuser(c: &mut RawConn, rules: &[&str]) {
    let mut args = vec!["ACL", "SETUSER"];
    args.extend_from_slice(rules);
    assert_reply!(c.cmd(&args), ok());
}

#[test]
fn the_default_user_out_of_the_box() {
    let server = private();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["ACL", "LIST"]),
        bulk_array(&["user default on nopass ~* &* +@all"])
    );
    assert_reply!(c.cmd(&["ACL", "USERS"]), bulk_array(&["default"]));
    assert_reply!(c.cmd(&["ACL", "WHOAMI"]), bulk("default"));
    let mut want = b"*12\r\n".to_vec();
    for item in [
        &b"$5\r\nflags\r\n*2\r\n$2\r\non\r\n$6\r\nnopass\r\n"[..],
        b"$9\r\npasswords\r\n*0\r\n",
        b"$8\r\ncommands\r\n$5\r\n+@all\r\n",
        b"$4\r\nkeys\r\n$2\r\n~*\r\n",
        b"$8\r\nchannels\r\n$2\r\n&*\r\n",
        b"$9\r\nselectors\r\n*0\r\n",
    ] {
        want.extend_from_slice(item);
    }
    assert_reply!(c.cmd(&["ACL", "GETUSER", "default"]), want);
    assert_reply!(c.cmd(&["ACL", "GETUSER", "nosuch"]), b"$-1\r\n");
    let list = bulk_payload(&c.cmd(&["CLIENT", "INFO"]));
    assert!(
        String::from_utf8_lossy(&list).contains(" user=default "),
        "{list:?}"
    );
}

#[test]
fn a_user_authenticates_and_is_limited_to_its_commands_and_keys() {
    let server = private();
    let mut admin = server.conn();
    // One command only: Redis lists single commands in its hash table's (random) order.
    setuser(&mut admin, &["alice", "on", ">p1", "~foo*", "+get"]);
    assert_reply!(
        admin.cmd(&["ACL", "LIST"]),
        bulk_array(&[
            format!("user alice on #{P1_HASH} ~foo* resetchannels -@all +get").as_str(),
            "user default on nopass ~* &* +@all",
        ])
    );
    let mut alice = login(&server, "alice", "p1");
    assert_reply!(alice.cmd(&["ACL", "WHOAMI"]), noperm_cmd("acl|whoami"));
    assert_reply!(admin.cmd(&["SET", "foo1", "v"]), ok());
    assert_reply!(alice.cmd(&["GET", "foo1"]), bulk("v"));
    assert_reply!(alice.cmd(&["SET", "foo1", "v"]), noperm_cmd("set"));
    assert_reply!(alice.cmd(&["GET", "bar"]), err(NOPERM_KEYS));
    assert_reply!(alice.cmd(&["DEL", "foo1"]), noperm_cmd("del"));
    // A wrong name or arity is reported before the permission problem, as Redis does.
    assert_reply!(
        alice.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_reply!(
        alice.cmd(&["NOSUCH"]),
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    let line = String::from_utf8_lossy(&bulk_payload(&admin.cmd(&["CLIENT", "LIST"]))).into_owned();
    assert!(line.contains(" user=alice "), "{line}");

    let mut other = server.conn();
    assert_reply!(
        other.cmd(&["AUTH", "alice", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_reply!(
        other.cmd(&["AUTH", "nosuch", "p1"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // HELLO AUTH switches user and protocol at once.
    let hello = other.cmd(&["HELLO", "3", "AUTH", "alice", "p1"]);
    assert!(hello.starts_with(b"%7\r\n"), "{hello:?}");
    assert_reply!(other.cmd(&["GET", "bar"]), err(NOPERM_KEYS));
}

#[test]
fn read_and_write_key_permissions() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &["u", "on", "nopass", "+@all", "%R~r*", "%W~w*", "~rw*"],
    );
    let mut u = login(&server, "u", "any");
    assert_reply!(u.cmd(&["GET", "r1"]), b"$-1\r\n");
    assert_reply!(u.cmd(&["SET", "r1", "v"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["SET", "w1", "v"]), ok());
    assert_reply!(u.cmd(&["GET", "w1"]), err(NOPERM_KEYS));
    // INCR reads and writes, SET ... GET too.
    assert_reply!(u.cmd(&["INCR", "w2"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["SET", "w1", "v", "GET"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["SET", "rw1", "v", "GET"]), b"$-1\r\n");
    assert_reply!(u.cmd(&["COPY", "r1", "w3"]), int(0));
    assert_reply!(u.cmd(&["EXISTS", "w1", "r1"]), int(1));
    assert_reply!(u.cmd(&["MGET", "r1", "rw1", "w1"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["GET", "other"]), err(NOPERM_KEYS));
    // Keys counted by a numkeys argument are checked too: the store key is written, the
    // sources read; ZMPOP and LMPOP read and write all theirs.
    assert_reply!(u.cmd(&["ZUNIONSTORE", "w4", "2", "r1", "rw5"]), int(0));
    assert_reply!(
        u.cmd(&["ZUNIONSTORE", "w4", "2", "r1", "w1"]),
        err(NOPERM_KEYS)
    );
    assert_reply!(u.cmd(&["ZDIFFSTORE", "r2", "1", "r1"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["SINTERCARD", "2", "r1", "rw5"]), int(0));
    assert_reply!(u.cmd(&["SINTERCARD", "2", "r1", "w1"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["ZMPOP", "2", "rw5", "rw6", "MIN"]), b"*-1\r\n");
    assert_reply!(u.cmd(&["ZMPOP", "2", "rw5", "r1", "MIN"]), err(NOPERM_KEYS));
    assert_reply!(u.cmd(&["LMPOP", "1", "w1", "LEFT"]), err(NOPERM_KEYS));
    assert_reply!(
        u.cmd(&["BLMPOP", "0", "2", "rw5", "other", "LEFT"]),
        err(NOPERM_KEYS)
    );
}

#[test]
fn categories_subcommands_and_their_description() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &[
            "c",
            "on",
            ">p1",
            "allkeys",
            "+@string",
            "-set",
            "+config|get",
            "+ping",
        ],
    );
    let mut c = login(&server, "c", "p1");
    assert_reply!(c.cmd(&["APPEND", "k", "v"]), int(1));
    assert_reply!(c.cmd(&["SET", "k", "v"]), noperm_cmd("set"));
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        bulk_array(&["maxclients", "10000"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxclients", "10"]),
        noperm_cmd("config|set")
    );
    assert_reply!(c.cmd(&["DEL", "k"]), noperm_cmd("del"));
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    setuser(&mut admin, &["c", "-@all", "+@all", "-@dangerous"]);
    assert_reply!(c.cmd(&["DEL", "k"]), int(1));
    assert_reply!(c.cmd(&["FLUSHALL"]), noperm_cmd("flushall"));
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[0]),
        format!("user c on #{P1_HASH} ~* resetchannels +@all -@dangerous")
    );
    setuser(&mut admin, &["c", "nocommands"]);
    assert_reply!(c.cmd(&["PING"]), noperm_cmd("ping"));
    setuser(&mut admin, &["c", "allcommands"]);
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn passwords_flags_and_resets() {
    let server = private();
    let mut admin = server.conn();
    setuser(&mut admin, &["p", "on", ">p1", ">p2", "+@all", "~*"]);
    login(&server, "p", "p2");
    setuser(&mut admin, &["p", "<p2"]);
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["AUTH", "p", "p2"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_reply!(c.cmd(&["AUTH", "p", "p1"]), ok());
    setuser(&mut admin, &["p", &format!("!{P1_HASH}")]);
    assert_reply!(
        admin.cmd(&["ACL", "SETUSER", "p", &format!("!{P1_HASH}")]),
        err(
            "ERR Error in ACL SETUSER modifier '!f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a': The password you are trying to remove from the user does not exist"
        )
    );
    setuser(&mut admin, &["p", &format!("#{P1_HASH}")]);
    login(&server, "p", "p1");
    setuser(&mut admin, &["p", "nopass"]);
    login(&server, "p", "whatever");
    setuser(&mut admin, &["p", "resetpass"]);
    assert_reply!(
        server.conn().cmd(&["AUTH", "p", "whatever"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // An existing connection of a disabled user keeps working; new logins are refused.
    setuser(&mut admin, &["p", ">p3"]);
    let mut still = login(&server, "p", "p3");
    setuser(&mut admin, &["p", "off"]);
    assert_reply!(still.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(
        server.conn().cmd(&["AUTH", "p", "p3"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    setuser(&mut admin, &["p", "reset"]);
    assert_reply!(
        admin.cmd(&["ACL", "LIST"]),
        bulk_array(&[
            "user default on nopass ~* &* +@all",
            "user p off sanitize-payload resetchannels -@all",
        ])
    );
    setuser(
        &mut admin,
        &["p", "allkeys", "allchannels", "resetkeys", "~a"],
    );
    assert_reply!(
        admin.cmd(&["ACL", "LIST"]),
        bulk_array(&[
            "user default on nopass ~* &* +@all",
            "user p off sanitize-payload ~a &* -@all",
        ])
    );
    setuser(&mut admin, &["p", "resetchannels", "&news.*"]);
    assert_reply!(
        admin.cmd(&["ACL", "LIST"]),
        bulk_array(&[
            "user default on nopass ~* &* +@all",
            "user p off sanitize-payload ~a resetchannels &news.* -@all",
        ])
    );
}

#[test]
fn setuser_errors_are_redis_texts_and_change_nothing() {
    let server = private();
    let mut c = server.conn();
    let modifier = |rule: &str, why: &str| {
        err(&format!(
            "ERR Error in ACL SETUSER modifier '{rule}': {why}"
        ))
    };
    for (rule, why) in [
        ("foo", "Syntax error"),
        ("+nosuch", "Unknown command or category name in ACL"),
        ("+@nosuch", "Unknown command or category name in ACL"),
        ("+config|nosuch", "Unknown command or category name in ACL"),
        ("%X~a", "Syntax error"),
        (
            "#abc",
            "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
        ),
        (
            "<nope",
            "The password you are trying to remove from the user does not exist",
        ),
    ] {
        assert_reply!(
            c.cmd(&["ACL", "SETUSER", "e", "on", rule]),
            modifier(rule, why)
        );
    }
    assert_reply!(
        c.cmd(&["ACL", "SETUSER", "e", "allkeys", "~x"]),
        modifier(
            "~x",
            "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
        )
    );
    assert_reply!(
        c.cmd(&["ACL", "SETUSER", "e", "allchannels", "&x"]),
        modifier(
            "&x",
            "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
        )
    );
    // A failed SETUSER creates nothing.
    assert_reply!(c.cmd(&["ACL", "USERS"]), bulk_array(&["default"]));
    assert_reply!(
        c.cmd(&["ACL", "SETUSER", "a b", "on"]),
        err("ERR Usernames can't contain spaces or null characters")
    );
    assert_reply!(
        c.cmd(&["ACL", "DELUSER", "nosuch", "default"]),
        err("ERR The 'default' user cannot be removed")
    );
    assert_reply!(
        c.cmd(&["ACL", "NOSUCH"]),
        err("ERR unknown subcommand 'NOSUCH'. Try ACL HELP.")
    );
    assert_reply!(
        c.cmd(&["ACL", "CAT", "nosuch"]),
        err("ERR Unknown category 'nosuch'")
    );
}

#[test]
fn deleting_a_user_disconnects_its_clients() {
    let server = private();
    let mut admin = server.conn();
    setuser(&mut admin, &["d", "on", ">pw", "+@all", "~*"]);
    setuser(&mut admin, &["e", "on", ">pw", "+@all", "~*"]);
    let mut d = login(&server, "d", "pw");
    assert_reply!(admin.cmd(&["ACL", "DELUSER", "d", "nosuch"]), int(1));
    d.expect_closed();
    assert_reply!(admin.cmd(&["ACL", "USERS"]), bulk_array(&["default", "e"]));
    assert_reply!(
        admin.cmd(&["CLIENT", "KILL", "USER", "nosuch"]),
        err("ERR No such user 'nosuch'")
    );
    let mut e = login(&server, "e", "pw");
    assert_reply!(admin.cmd(&["CLIENT", "KILL", "USER", "e"]), int(1));
    e.expect_closed();
}

#[test]
fn cat_dryrun_genpass_and_help() {
    let server = private();
    let mut c = server.conn();
    let cats = bulk_items(&c.cmd(&["ACL", "CAT"]));
    assert_eq!(cats.len(), 21);
    assert_eq!(cats[0], b"keyspace");
    assert_eq!(cats[20], b"scripting");
    let strings = bulk_items(&c.cmd(&["ACL", "CAT", "string"]));
    assert!(strings.iter().any(|s| s == b"get"));
    assert!(!strings.iter().any(|s| s == b"del"));
    let dangerous = bulk_items(&c.cmd(&["ACL", "CAT", "dangerous"]));
    assert!(dangerous.iter().any(|s| s == b"config|set"));

    setuser(&mut c, &["bob", "on", ">pw", "~k*", "+get", "+config|get"]);
    assert_reply!(c.cmd(&["ACL", "DRYRUN", "bob", "get", "k"]), ok());
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "bob", "get", "zzz"]),
        bulk("This user has no permissions to access the 'zzz' key")
    );
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "bob", "set", "k", "v"]),
        bulk("This user has no permissions to run the 'set' command")
    );
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "bob", "config", "set", "a", "b"]),
        bulk("This user has no permissions to run the 'config|set' command")
    );
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "nosuch", "get", "k"]),
        err("ERR User 'nosuch' not found")
    );
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "bob", "nosuch"]),
        err("ERR Command 'nosuch' not found")
    );

    let pass = bulk_payload(&c.cmd(&["ACL", "GENPASS"]));
    assert_eq!(pass.len(), 64);
    assert!(pass.iter().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(bulk_payload(&c.cmd(&["ACL", "GENPASS", "5"])).len(), 2);
    assert_reply!(
        c.cmd(&["ACL", "GENPASS", "0"]),
        err(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"
        )
    );
    let help = c.cmd(&["ACL", "HELP"]);
    assert!(help.starts_with(b"*29\r\n+ACL <subcommand>"), "{help:?}");
}

#[test]
fn acl_log_records_denials_and_failed_logins() {
    let server = private();
    let mut admin = server.conn();
    setuser(&mut admin, &["bob", "on", ">pw", "~k*", "+get"]);
    let mut bob = login(&server, "bob", "pw");
    assert_reply!(bob.cmd(&["GET", "zzz"]), err(NOPERM_KEYS));
    assert_reply!(bob.cmd(&["SET", "k", "v"]), noperm_cmd("set"));
    assert_reply!(
        server.conn().cmd(&["AUTH", "bob", "bad"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    let entries = bulk_items_of_log(&mut admin, &["ACL", "LOG"]);
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| (e[3].clone(), e[7].clone(), e[9].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("auth".into(), "AUTH".into(), "bob".into()),
            ("command".into(), "set".into(), "bob".into()),
            ("key".into(), "zzz".into(), "bob".into()),
        ]
    );
    assert_eq!(entries[0][0], "count");
    assert_eq!(entries[0][4], "context");
    assert_eq!(entries[0][5], "toplevel");
    assert_eq!(entries[0][12], "client-info");
    assert_eq!(bulk_items_of_log(&mut admin, &["ACL", "LOG", "1"]).len(), 1);
    // The same denial again is counted in its entry, which moves to the front.
    assert_reply!(bob.cmd(&["GET", "zzz"]), err(NOPERM_KEYS));
    let entries = bulk_items_of_log(&mut admin, &["ACL", "LOG"]);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        (entries[0][1].as_str(), entries[0][7].as_str()),
        ("2", "zzz")
    );
    assert_reply!(admin.cmd(&["ACL", "LOG", "RESET"]), ok());
    assert_reply!(admin.cmd(&["ACL", "LOG"]), b"*0\r\n");
}

/// `ACL LOG` entries as lists of text fields (integers and doubles as their digits).
fn bulk_items_of_log(c: &mut RawConn, cmd: &[&str]) -> Vec<Vec<String>> {
    let reply = c.cmd(cmd);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let mut lines = text.split("\r\n");
    let count: usize = lines.next().unwrap()[1..].parse().unwrap();
    let mut entries = Vec::new();
    for _ in 0..count {
        let fields: usize = lines.next().unwrap()[1..].parse().unwrap();
        let mut entry = Vec::new();
        for _ in 0..fields {
            let head = lines.next().unwrap();
            if let Some(n) = head.strip_prefix(':') {
                entry.push(n.to_owned());
            } else {
                entry.push(lines.next().unwrap().to_owned());
            }
        }
        entries.push(entry);
    }
    entries
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = private();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["AUTH", "x"]),
        err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        )
    );
    assert_reply!(c.cmd(&["CONFIG", "SET", "requirepass", "p1"]), ok());
    assert_reply!(
        c.cmd(&["ACL", "LIST"]),
        bulk_array(&[format!("user default on #{P1_HASH} ~* &* +@all").as_str()])
    );
    let mut late = server.conn();
    assert_reply!(late.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_reply!(late.cmd(&["AUTH", "default", "p1"]), ok());
    assert_reply!(late.cmd(&["PING"]), b"+PONG\r\n");
    // ACL SETUSER on the default user works too, and AUTH <pass> is AUTH default <pass>.
    assert_reply!(c.cmd(&["ACL", "SETUSER", "default", ">p2"]), ok());
    assert_reply!(server.conn().cmd(&["AUTH", "p2"]), ok());
    assert_reply!(c.cmd(&["CONFIG", "SET", "requirepass", ""]), ok());
    assert_reply!(
        c.cmd(&["ACL", "LIST"]),
        bulk_array(&["user default on nopass ~* &* +@all"])
    );
    assert_reply!(server.conn().cmd(&["PING"]), b"+PONG\r\n");
}

#[cfg(feature = "kvd")]
mod kvd_only {
    use super::*;

    #[test]
    fn acl_file_is_loaded_at_start_and_saved_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("kvd-acl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.acl");
        std::fs::write(
            &path,
            format!("user bob on #{P1_HASH} ~k* resetchannels -@all +get\n"),
        )
        .unwrap();
        let mut config = kvd::Config::for_tests();
        config.aclfile = Some(path.clone());
        let server = kvd::Server::start(config).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["ACL", "USERS"]), bulk_array(&["bob", "default"]));
        let mut bob = RawConn::connect(server.local_addr());
        assert_reply!(bob.cmd(&["AUTH", "bob", "p1"]), ok());
        assert_reply!(bob.cmd(&["GET", "k1"]), b"$-1\r\n");

        setuser(&mut c, &["carol", "on", "nopass", "+@all", "~*"]);
        assert_reply!(c.cmd(&["ACL", "SAVE"]), ok());
        let saved = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            saved,
            format!(
                "user bob on #{P1_HASH} ~k* resetchannels -@all +get\nuser carol on nopass ~* resetchannels +@all\nuser default on nopass ~* &* +@all\n"
            )
        );
        std::fs::write(&path, "user dave on nopass +@all ~*\n").unwrap();
        assert_reply!(c.cmd(&["ACL", "LOAD"]), ok());
        assert_reply!(c.cmd(&["ACL", "USERS"]), bulk_array(&["dave", "default"]));
        // Clients of replaced users are disconnected, as in Redis.
        bob.expect_closed();
        std::fs::write(&path, "user x +nosuch\n").unwrap();
        let reply = String::from_utf8_lossy(&c.cmd(&["ACL", "LOAD"])).into_owned();
        assert!(
            reply.ends_with(":1: Error in applying operation '+nosuch': Unknown command or category name in ACL. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"),
            "{reply}"
        );
        assert_reply!(c.cmd(&["ACL", "USERS"]), bulk_array(&["dave", "default"]));
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn acl_save_without_a_file_is_redis_error() {
        let server = private();
        let mut c = server.conn();
        let text = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
        assert_reply!(c.cmd(&["ACL", "SAVE"]), err(text));
        assert_reply!(c.cmd(&["ACL", "LOAD"]), err(text));
    }

    #[test]
    fn rename_command_disables_and_renames() {
        let mut config = kvd::Config::for_tests();
        config
            .apply_redis_conf("rename-command FLUSHALL \"\"\nrename-command CONFIG XYZ\n")
            .unwrap();
        let server = kvd::Server::start(config).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(
            c.cmd(&["FLUSHALL"]),
            err("ERR unknown command 'FLUSHALL', with args beginning with: ")
        );
        assert_reply!(
            c.cmd(&["CONFIG", "GET", "hz"]),
            err("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'hz' ")
        );
        assert_reply!(c.cmd(&["xyz", "GET", "hz"]), bulk_array(&["hz", "10"]));
        server.shutdown();
    }

    /// What Redis 7.0.15 shows of renamed commands: `COMMAND` and its subcommands take the
    /// names clients type now and describe a command under its real name; a disabled command
    /// is gone from the lists and the count; ACL rules keep the real names.
    #[test]
    fn command_introspection_follows_renames_as_redis_does() {
        let plain = kvd::Server::start(kvd::Config::for_tests()).unwrap();
        let full = as_int(&RawConn::connect(plain.local_addr()).cmd(&["COMMAND", "COUNT"]));
        plain.shutdown();
        let mut config = kvd::Config::for_tests();
        config
            .apply_redis_conf(
                "rename-command FLUSHALL \"\"\nrename-command CONFIG XYZ\nrename-command GET MYGET\n",
            )
            .unwrap();
        let server = kvd::Server::start(config).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["COMMAND", "COUNT"]), int(full - 1));
        let all = c.cmd(&["COMMAND"]);
        assert!(all.starts_with(format!("*{}\r\n", full - 1).as_bytes()));
        let list: Vec<String> = bulk_items(&c.cmd(&["COMMAND", "LIST"]))
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        assert!(!list.iter().any(|n| n == "flushall"));
        assert!(list.iter().any(|n| n == "get") && list.iter().any(|n| n == "config|get"));
        assert!(!list.iter().any(|n| n == "myget" || n == "xyz"));
        assert_reply!(
            c.cmd(&["COMMAND", "INFO", "get", "flushall", "config|get"]),
            b"*3\r\n$-1\r\n$-1\r\n$-1\r\n"
        );
        let info = c.cmd(&["COMMAND", "INFO", "myget", "xyz|get"]);
        assert!(
            info.starts_with(b"*2\r\n*10\r\n$3\r\nget\r\n:2\r\n"),
            "{}",
            String::from_utf8_lossy(&info)
        );
        assert!(String::from_utf8_lossy(&info).contains("\r\n$10\r\nconfig|get\r\n"));
        let docs = c.cmd(&["COMMAND", "DOCS", "myget", "get"]);
        assert!(docs.starts_with(b"*2\r\n$3\r\nget\r\n"));
        assert_reply!(
            c.cmd(&["COMMAND", "GETKEYS", "myget", "k"]),
            bulk_array(&["k"])
        );
        assert_reply!(
            c.cmd(&["COMMAND", "GETKEYS", "get", "k"]),
            err("ERR Invalid command specified")
        );
        assert_reply!(
            c.cmd(&["ACL", "SETUSER", "u", "+myget"]),
            err(
                "ERR Error in ACL SETUSER modifier '+myget': Unknown command or category name in ACL"
            )
        );
        assert_reply!(c.cmd(&["ACL", "SETUSER", "u", "+get", "+flushall"]), ok());
        assert_reply!(
            c.cmd(&["ACL", "DRYRUN", "u", "get", "k"]),
            err("ERR Command 'get' not found")
        );
        assert_reply!(
            c.cmd(&["ACL", "DRYRUN", "u", "myget", "k"]),
            bulk("This user has no permissions to access the 'k' key")
        );
        assert_reply!(
            c.cmd(&["ACL", "DRYRUN", "u", "xyz", "get", "hz"]),
            bulk("This user has no permissions to run the 'config|get' command")
        );
        server.shutdown();
    }
}

#[test]
fn a_refused_command_inside_multi_aborts_exec() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &["m", "on", ">pw", "~*", "+get", "+multi", "+exec"],
    );
    let mut m = login(&server, "m", "pw");
    assert_reply!(m.cmd(&["MULTI"]), ok());
    assert_reply!(m.cmd(&["SET", "k", "v"]), noperm_cmd("set"));
    assert_reply!(m.cmd(&["GET", "k"]), b"+QUEUED\r\n");
    assert_reply!(
        m.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_reply!(m.cmd(&["MULTI"]), ok());
    assert_reply!(m.cmd(&["GET", "k"]), b"+QUEUED\r\n");
    assert_reply!(m.cmd(&["EXEC"]), b"*1\r\n$-1\r\n");
    let entries = bulk_items_of_log(&mut admin, &["ACL", "LOG"]);
    assert_eq!(entries[0][5], "multi");
    assert_eq!(entries[0][7], "set");
}

#[cfg(feature = "kvd")]
#[test]
fn users_declared_in_the_configuration() {
    let mut config = kvd::Config::for_tests();
    config
        .apply_redis_conf("user alice on >p1 ~cache:* +@read\n")
        .unwrap();
    let server = kvd::Server::start(config).unwrap();
    let mut alice = RawConn::connect(server.local_addr());
    assert_reply!(alice.cmd(&["AUTH", "alice", "p1"]), ok());
    assert_reply!(alice.cmd(&["GET", "cache:1"]), b"$-1\r\n");
    assert_reply!(alice.cmd(&["GET", "other"]), err(NOPERM_KEYS));
    assert_reply!(alice.cmd(&["SET", "cache:1", "v"]), noperm_cmd("set"));
    server.shutdown();

    let mut bad = kvd::Config::for_tests();
    bad.apply_redis_conf("user bob +nosuch\n").unwrap();
    let e = kvd::Server::start(bad).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "error in user declaration 'user bob +nosuch': Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
    );
}

#[test]
fn channel_patterns_gate_publish_and_subscribe() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &["ch", "on", ">pw", "+@all", "~*", "resetchannels", "&news.*"],
    );
    let mut c = login(&server, "ch", "pw");
    let noperm_channels =
        err("NOPERM this user has no permissions to access one of the channels used as arguments");
    assert_reply!(c.cmd(&["PUBLISH", "sport", "x"]), noperm_channels.clone());
    assert_reply!(c.cmd(&["PUBLISH", "news.a", "x"]), int(0));
    assert_reply!(
        c.cmd(&["SUBSCRIBE", "news.a", "sport"]),
        noperm_channels.clone()
    );
    // PSUBSCRIBE patterns must be allowed literally.
    assert_reply!(c.cmd(&["PSUBSCRIBE", "news.x*"]), noperm_channels);
    assert_reply!(
        c.cmd(&["ACL", "DRYRUN", "ch", "PUBLISH", "sport", "x"]),
        bulk("This user has no permissions to access the 'sport' channel")
    );
    // Shard channels are gated the same way.
    let noperm_channels =
        err("NOPERM this user has no permissions to access one of the channels used as arguments");
    assert_reply!(c.cmd(&["SPUBLISH", "sport", "x"]), noperm_channels.clone());
    assert_reply!(c.cmd(&["SPUBLISH", "news.a", "x"]), int(0));
    assert_reply!(
        c.cmd(&["SSUBSCRIBE", "news.a", "sport"]),
        noperm_channels.clone()
    );
    let log = bulk_items_of_log(&mut admin, &["ACL", "LOG", "1"]);
    assert_eq!(
        (
            log[0][1].as_str(),
            log[0][3].as_str(),
            log[0][5].as_str(),
            log[0][7].as_str()
        ),
        ("4", "channel", "toplevel", "sport")
    );
    assert_reply!(
        c.cmd(&["SUBSCRIBE", "news.a"]),
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n"
    );
    assert_reply!(
        c.cmd(&["SSUBSCRIBE", "news.b"]),
        b"*3\r\n$10\r\nssubscribe\r\n$6\r\nnews.b\r\n:1\r\n"
    );
}

/// `ACL SETUSER` with Redis 7 selectors: `ACL LIST`/`GETUSER` show them as Redis 7.0.15 does,
/// and a command is allowed if one selector allows all of it.
#[test]
fn selectors_are_listed_and_any_one_of_them_allows_a_command() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &[
            "s", "on", ">p1", "~a*", "&ch*", "+get", "(~b*", "+set)", "(%R~c*", "&x", "+@read",
            "-get)",
        ],
    );
    let line = format!(
        "user s on #{P1_HASH} ~a* resetchannels &ch* -@all +get (~b* resetchannels -@all +set) (%R~c* resetchannels &x -@all +@read -get)"
    );
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(String::from_utf8_lossy(&list[1]), line);
    let getuser = format!(
        "*12\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$9\r\npasswords\r\n*1\r\n$64\r\n{P1_HASH}\r\n$8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$3\r\n~a*\r\n$8\r\nchannels\r\n$4\r\n&ch*\r\n$9\r\nselectors\r\n*2\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$3\r\n~b*\r\n$8\r\nchannels\r\n$0\r\n\r\n*6\r\n$8\r\ncommands\r\n$17\r\n-@all +@read -get\r\n$4\r\nkeys\r\n$5\r\n%R~c*\r\n$8\r\nchannels\r\n$2\r\n&x\r\n"
    );
    assert_reply!(admin.cmd(&["ACL", "GETUSER", "s"]), getuser.as_bytes());

    let mut s = login(&server, "s", "p1");
    assert_reply!(s.cmd(&["GET", "a1"]), b"$-1\r\n");
    assert_reply!(s.cmd(&["SET", "b1", "v"]), ok());
    assert_reply!(s.cmd(&["STRLEN", "c1"]), int(0));
    // No selector allows it all: a key refusal is reported before a command refusal.
    assert_reply!(s.cmd(&["GET", "b1"]), err(NOPERM_KEYS));
    assert_reply!(s.cmd(&["SET", "a1", "v"]), err(NOPERM_KEYS));
    assert_reply!(s.cmd(&["LPUSH", "a1", "v"]), noperm_cmd("lpush"));
    assert_reply!(
        admin.cmd(&["ACL", "DRYRUN", "s", "GET", "b1"]),
        bulk("This user has no permissions to access the 'b1' key")
    );
    assert_reply!(admin.cmd(&["ACL", "DRYRUN", "s", "SET", "b2", "v"]), ok());
    assert_reply!(admin.cmd(&["ACL", "DRYRUN", "s", "STRLEN", "c2"]), ok());
    assert_reply!(
        admin.cmd(&["ACL", "DRYRUN", "s", "SET", "c2", "v"]),
        bulk("This user has no permissions to access the 'c2' key")
    );
    assert_reply!(
        admin.cmd(&["ACL", "DRYRUN", "s", "HSET", "b2", "f", "v"]),
        bulk("This user has no permissions to run the 'hset' command")
    );

    // clearselectors drops them, the root rules stay.
    setuser(&mut admin, &["s", "clearselectors"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        format!("user s on #{P1_HASH} ~a* resetchannels &ch* -@all +get")
    );
    assert_reply!(s.cmd(&["SET", "b1", "v"]), noperm_cmd("set"));
    // reset drops them too; empty selectors are kept as Redis keeps them.
    setuser(&mut admin, &["s", "(~x", "~y)", "(", ")", "()"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        format!(
            "user s on #{P1_HASH} ~a* resetchannels &ch* -@all +get (~x ~y resetchannels -@all) (resetchannels -@all) (resetchannels -@all)"
        )
    );
    setuser(&mut admin, &["s", "reset"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        "user s off sanitize-payload resetchannels -@all"
    );
}

#[test]
fn selector_errors_are_redis_texts_and_change_nothing() {
    let server = private();
    let mut admin = server.conn();
    setuser(&mut admin, &["t", "~k"]);
    for (rules, text) in [
        (
            &["(~x"][..],
            "ERR Unmatched parenthesis in acl selector starting at '(~x'.",
        ),
        (
            &["on", "(~x", "(~y"][..],
            "ERR Unmatched parenthesis in acl selector starting at '(~y'.",
        ),
        (
            &["(~x +nosuch)"][..],
            "ERR Error in ACL SETUSER modifier '(~x +nosuch)': Unknown command or category name in ACL",
        ),
        (
            &["(on)"][..],
            "ERR Error in ACL SETUSER modifier '(on)': Syntax error",
        ),
        (
            &["(>pw)"][..],
            "ERR Error in ACL SETUSER modifier '(>pw)': Syntax error",
        ),
        (
            &["(reset)"][..],
            "ERR Error in ACL SETUSER modifier '(reset)': Syntax error",
        ),
        (
            &["(allkeys", "~x)"][..],
            "ERR Error in ACL SETUSER modifier '(allkeys ~x)': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
        ),
    ] {
        let mut args = vec!["ACL", "SETUSER", "t"];
        args.extend_from_slice(rules);
        assert_reply!(admin.cmd(&args), err(text));
    }
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        "user t off ~k resetchannels -@all"
    );
}

/// Redis checks each queued command again at `EXEC`: rules changed since `MULTI` refuse it in
/// the `EXEC` reply (the others still run) and log it with context `multi`.
#[test]
fn exec_checks_queued_commands_against_the_rules_in_force_at_exec() {
    let server = private();
    let mut admin = server.conn();
    setuser(&mut admin, &["m", "on", ">pw", "~*", "&*", "+@all"]);
    let mut m = login(&server, "m", "pw");
    assert_reply!(m.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SET", "k", "v"][..],
        &["GET", "k"],
        &["PUBLISH", "ch", "x"],
        &["INCR", "k2"],
        &["CONFIG", "GET", "hz"],
        &["GET", "zz"],
    ] {
        assert_reply!(m.cmd(cmd), b"+QUEUED\r\n");
    }
    setuser(
        &mut admin,
        &[
            "m",
            "resetchannels",
            "-set",
            "resetkeys",
            "%R~k*",
            "~zz",
            "-config|get",
        ],
    );
    let changed = "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: ";
    let want = format!(
        "*6\r\n{changed}no permission to execute the command or subcommand\r\n$-1\r\n{changed}no permission to access one of the channels used as arguments\r\n{changed}no permission to touch the specified keys\r\n{changed}no permission to execute the command or subcommand\r\n$-1\r\n"
    );
    assert_reply!(m.cmd(&["EXEC"]), want.as_bytes());
    let entries = bulk_items_of_log(&mut admin, &["ACL", "LOG"]);
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e[3].as_str(), e[5].as_str(), e[7].as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("command", "multi", "config|get"),
            ("key", "multi", "k2"),
            ("channel", "multi", "ch"),
            ("command", "multi", "set"),
        ]
    );
    // A user deleted between MULTI and EXEC is disconnected before it can run EXEC.
    assert_reply!(m.cmd(&["MULTI"]), ok());
    assert_reply!(m.cmd(&["GET", "zz"]), b"+QUEUED\r\n");
    assert_reply!(admin.cmd(&["ACL", "DELUSER", "m"]), int(1));
    m.expect_closed();
}

/// Redis 7 disconnects a subscriber whose user loses the right to one of its subscriptions;
/// a subscriber whose channels are all still allowed stays.
#[test]
fn subscribers_that_lose_a_channel_are_disconnected() {
    let server = private();
    let mut admin = server.conn();
    setuser(
        &mut admin,
        &[
            "ps",
            "on",
            ">pw",
            "+@all",
            "~*",
            "resetchannels",
            "&news.*",
            "&sport",
        ],
    );
    let mut by_pattern = login(&server, "ps", "pw");
    assert_reply!(
        by_pattern.cmd(&["PSUBSCRIBE", "news.*"]),
        b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n"
    );
    let mut by_channel = login(&server, "ps", "pw");
    assert_reply!(
        by_channel.cmd(&["SUBSCRIBE", "news.a"]),
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nnews.a\r\n:1\r\n"
    );
    let mut sport = login(&server, "ps", "pw");
    assert_reply!(
        sport.cmd(&["SUBSCRIBE", "sport"]),
        b"*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:1\r\n"
    );
    // Adding a channel takes nothing away: everyone stays.
    setuser(&mut admin, &["ps", "&weather"]);
    assert_reply!(admin.cmd(&["PUBLISH", "sport", "1"]), int(1));
    assert_reply!(
        sport.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n$1\r\n1\r\n"
    );
    // `news.*` is replaced by `news.a`: the pattern subscriber goes (a pattern must be allowed
    // literally), the `news.a` subscriber stays, and so does `sport`.
    setuser(&mut admin, &["ps", "resetchannels", "&news.a", "&sport"]);
    by_pattern.expect_closed();
    assert_reply!(admin.cmd(&["PUBLISH", "news.a", "2"]), int(1));
    assert_reply!(
        by_channel.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$1\r\n2\r\n"
    );
    // A channel allowed only by a selector still counts.
    setuser(&mut admin, &["ps", "resetchannels", "(&sport)"]);
    by_channel.expect_closed();
    assert_reply!(admin.cmd(&["PUBLISH", "sport", "3"]), int(1));
    assert_reply!(
        sport.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n$1\r\n3\r\n"
    );
    // From every channel to a list that lacks the subscribed one.
    setuser(&mut admin, &["ps", "clearselectors", "allchannels"]);
    assert_reply!(admin.cmd(&["PUBLISH", "sport", "4"]), int(1));
    assert_reply!(
        sport.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n$1\r\n4\r\n"
    );
    setuser(&mut admin, &["ps", "resetchannels", "&bar"]);
    sport.expect_closed();
    assert_reply!(admin.cmd(&["PUBLISH", "sport", "5"]), int(0));
}

#[test]
fn acl_pubsub_default_decides_what_new_users_and_selectors_start_with() {
    let server = private();
    let mut admin = server.conn();
    assert_reply!(
        admin.cmd(&["CONFIG", "GET", "acl-pubsub-default"]),
        bulk_array(&["acl-pubsub-default", "resetchannels"])
    );
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "acl-pubsub-default", "foo"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'acl-pubsub-default') - argument(s) must be one of the following: allchannels, resetchannels"
        )
    );
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "acl-pubsub-default", "allchannels"]),
        ok()
    );
    setuser(&mut admin, &["np", "(~x)"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        "user np off &* -@all (~x &* -@all)"
    );
    setuser(&mut admin, &["np", "reset"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        "user np off sanitize-payload &* -@all"
    );
    assert_reply!(
        admin.cmd(&["CONFIG", "SET", "acl-pubsub-default", "resetchannels"]),
        ok()
    );
    setuser(&mut admin, &["np", "reset"]);
    setuser(&mut admin, &["np2"]);
    let list = bulk_items(&admin.cmd(&["ACL", "LIST"]));
    assert_eq!(
        String::from_utf8_lossy(&list[1]),
        "user np off sanitize-payload resetchannels -@all"
    );
    assert_eq!(
        String::from_utf8_lossy(&list[2]),
        "user np2 off resetchannels -@all"
    );
}

#[test]
fn getuser_in_resp3_has_a_flag_set_and_selector_maps() {
    let server = private();
    let mut c = server.conn();
    setuser(&mut c, &["r3", "on", "~a", "(~b +get)"]);
    let hello = c.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with(b"%7\r\n"));
    assert_reply!(
        c.cmd(&["ACL", "GETUSER", "r3"]),
        b"%6\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$9\r\npasswords\r\n*0\r\n$8\r\ncommands\r\n$5\r\n-@all\r\n$4\r\nkeys\r\n$2\r\n~a\r\n$8\r\nchannels\r\n$0\r\n\r\n$9\r\nselectors\r\n*1\r\n%3\r\n$8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$2\r\n~b\r\n$8\r\nchannels\r\n$0\r\n\r\n"
    );
}
