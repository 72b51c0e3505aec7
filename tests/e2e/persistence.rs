//! Persistence: DUMP/RESTORE (against any server), and SAVE, BGSAVE, LASTSAVE, the `save`
//! schedule, SHUTDOWN SAVE/NOSAVE and loading at start (kvd in-process, restarted on the same
//! directory), plus the round trip of an RDB file between kvd and redis-server.
use kvd_tests::*;

/// `DUMP` of the string "hello" on Redis 7.0.15: value, RDB version 10, CRC64.
const HELLO_DUMP: &[u8] = b"\x00\x05hello\n\x00cr\xdfve4 \n";

#[test]
fn dump_is_byte_for_byte_redis() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "s", "hello"]), OK);
    assert_reply!(c.cmd(&["DUMP", "s"]), bulk(HELLO_DUMP));
    assert_reply!(c.cmd(&["DUMP", "nosuch"]), b"$-1\r\n");
    assert_reply!(
        c.cmd(&["DUMP"]),
        err("ERR wrong number of arguments for 'dump' command")
    );
}

#[test]
fn restore_follows_redis() {
    let server = TestServer::start();
    let mut c = server.conn();
    let payload: &[u8] = HELLO_DUMP;
    let restore = |c: &mut RawConn, args: &[&[u8]]| {
        let mut all: Vec<&[u8]> = vec![b"RESTORE"];
        all.extend_from_slice(args);
        c.cmd(&all)
    };
    assert_reply!(restore(&mut c, &[b"k", b"0", payload]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("hello"));
    assert_reply!(c.cmd(&["PTTL", "k"]), int(-1));
    assert_reply!(
        restore(&mut c, &[b"k", b"0", payload]),
        err("BUSYKEY Target key name already exists.")
    );
    assert_reply!(restore(&mut c, &[b"k", b"100000", payload, b"REPLACE"]), OK);
    let pttl = as_int(&c.cmd(&["PTTL", "k"]));
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    // An absolute time in the past: OK, and the key is gone.
    assert_reply!(
        restore(&mut c, &[b"k", b"1000", payload, b"REPLACE", b"ABSTTL"]),
        OK
    );
    assert_reply!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_reply!(
        restore(&mut c, &[b"k", b"-1", payload]),
        err("ERR Invalid TTL value, must be >= 0")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"x", payload]),
        err("ERR value is not an integer or out of range")
    );
    let mut bad = payload.to_vec();
    *bad.last_mut().unwrap() ^= 1;
    assert_reply!(
        restore(&mut c, &[b"k", b"0", &bad]),
        err("ERR DUMP payload version or checksum are wrong")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"0", b"short"]),
        err("ERR DUMP payload version or checksum are wrong")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"0", payload, b"BOGUS"]),
        err("ERR syntax error")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"0", payload, b"IDLETIME", b"-1"]),
        err("ERR Invalid IDLETIME value, must be >= 0")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"0", payload, b"FREQ", b"256"]),
        err("ERR Invalid FREQ value, must be >= 0 and <= 255")
    );
    assert_reply!(
        restore(
            &mut c,
            &[b"k", b"0", payload, b"IDLETIME", b"5", b"FREQ", b"1"]
        ),
        err("ERR syntax error")
    );
    assert_reply!(
        restore(&mut c, &[b"k", b"0", payload, b"IDLETIME", b"1000"]),
        OK
    );
    let idle = as_int(&c.cmd(&["OBJECT", "IDLETIME", "k"]));
    assert!((1000..1010).contains(&idle), "{idle}");
    // The payload of an integer-encoded string restores to the same value.
    assert_reply!(c.cmd(&["SET", "n", "-12345"]), OK);
    let dumped = bulk_payload(&c.cmd(&["DUMP", "n"]));
    assert_reply!(restore(&mut c, &[b"n2", b"0", &dumped]), OK);
    assert_reply!(c.cmd(&["GET", "n2"]), bulk("-12345"));
}

#[test]
fn bgsave_and_save_reply_like_redis() {
    let server = TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
    assert_reply!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
    poll_until(|| {
        let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
        (info.contains("rdb_bgsave_in_progress:0") && info.contains("rdb_last_bgsave_status:ok"))
            .then_some(())
    });
    assert_reply!(c.cmd(&["SAVE"]), OK);
    assert_reply!(c.cmd(&["BGSAVE", "NOW"]), err("ERR syntax error"));
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:0\r\n"), "{info}");
    let lastsave = as_int(&c.cmd(&["LASTSAVE"]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - 5..=now).contains(&lastsave), "{lastsave} vs {now}");
}

#[cfg(feature = "kvd")]
mod restart {
    use super::*;
    use std::path::{Path, PathBuf};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvd-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn start(dir: &Path, workers: usize, save: &[(u64, u64)]) -> kvd::ServerHandle {
        kvd::Server::start(kvd::Config {
            dir: dir.to_owned(),
            workers,
            save: save.to_vec(),
            ..kvd::Config::for_tests()
        })
        .expect("kvd starts")
    }

    fn info(c: &mut RawConn) -> String {
        String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap()
    }

    #[test]
    fn save_then_restart_keeps_every_key_and_ttl() {
        let dir = temp_dir("restart");
        let server = start(&dir, 3, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "3000", "key", "10"]), OK);
        assert_reply!(c.cmd(&["SET", "ttl", "v", "PXAT", "4102444800000"]), OK);
        assert_reply!(c.cmd(&["SET", "gone", "v", "PX", "1"]), OK);
        assert_reply!(c.cmd(&["SET", "big", &"z".repeat(100_000)]), OK);
        assert_reply!(c.cmd(&["SELECT", "7"]), OK);
        assert_reply!(c.cmd(&["SET", "n", "-42"]), OK);
        assert_reply!(c.cmd(&["SAVE"]), OK);
        assert!(info(&mut c).contains("rdb_saves:1\r\n"));
        drop(c);
        server.shutdown();
        // A different shard count: keys are routed again on load.
        let server = start(&dir, 2, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DBSIZE"]), int(3002));
        assert_reply!(c.cmd(&["GET", "key:2999"]), bulk("value:2999"));
        assert_reply!(c.cmd(&["PEXPIRETIME", "ttl"]), int(4102444800000));
        assert_reply!(c.cmd(&["EXISTS", "gone"]), int(0));
        assert_reply!(c.cmd(&["STRLEN", "big"]), int(100_000));
        assert_reply!(c.cmd(&["SELECT", "7"]), OK);
        assert_reply!(c.cmd(&["OBJECT", "ENCODING", "n"]), bulk("int"));
        assert!(info(&mut c).contains("rdb_last_load_keys_loaded:3003\r\n"));
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shutdown_saves_unless_nosave() {
        let dir = temp_dir("shutdown");
        let file = dir.join("dump.rdb");
        let server = start(&dir, 2, &[(3600, 1)]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
        c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
        c.expect_closed();
        server.wait().unwrap();
        assert!(!file.exists());
        // With save points, a plain SHUTDOWN saves.
        let server = start(&dir, 2, &[(3600, 1)]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
        c.send_cmd(&["SHUTDOWN"]);
        c.expect_closed();
        server.wait().unwrap();
        assert!(file.exists());
        // Without save points, SHUTDOWN SAVE saves anyway.
        let server = start(&dir, 2, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["GET", "a"]), bulk("1"));
        assert_reply!(c.cmd(&["SET", "a", "2"]), OK);
        c.send_cmd(&["SHUTDOWN", "SAVE"]);
        c.expect_closed();
        server.wait().unwrap();
        let server = start(&dir, 2, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["GET", "a"]), bulk("2"));
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_points_trigger_a_background_save() {
        let dir = temp_dir("schedule");
        let server = start(&dir, 2, &[(1, 2)]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
        assert!(info(&mut c).contains("rdb_changes_since_last_save:1\r\n"));
        assert_reply!(c.cmd(&["SET", "b", "1"]), OK);
        poll_until(|| info(&mut c).contains("rdb_saves:1\r\n").then_some(()));
        assert!(dir.join("dump.rdb").exists());
        assert!(info(&mut c).contains("rdb_changes_since_last_save:0\r\n"));
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_save_is_reported_not_lost() {
        let dir = temp_dir("failing");
        let server = start(&dir, 2, &[]);
        // `dir` becomes a regular file: nothing can be created under it.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, b"").unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
        assert_reply!(c.cmd(&["SAVE"]), err("ERR"));
        // As in Redis, only a failed BGSAVE sets the status (and so refuses writes).
        assert!(info(&mut c).contains("rdb_last_bgsave_status:ok\r\n"));
        assert!(info(&mut c).contains("rdb_changes_since_last_save:1\r\n"));
        assert_reply!(
            c.cmd(&["SHUTDOWN", "SAVE"]),
            err("ERR Errors trying to SHUTDOWN. Check logs.")
        );
        assert_reply!(c.cmd(&["GET", "a"]), bulk("1"));
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_file(&dir);
    }

    /// With save points configured, a failed background save makes writes (and PING) fail
    /// with MISCONF until a save succeeds; reads go on.
    #[test]
    fn writes_fail_with_misconf_after_a_failed_save() {
        let dir = temp_dir("misconf");
        let server = start(&dir, 2, &[(3600, 1)]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "a", "1"]), OK);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::write(&dir, b"").unwrap();
        assert_reply!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
        poll_until(|| {
            info(&mut c)
                .contains("rdb_last_bgsave_status:err")
                .then_some(())
        });
        let misconf = err(
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to \
             persist to disk. Commands that may modify the data set are disabled, because this \
             instance is configured to report errors during writes if RDB snapshotting fails \
             (stop-writes-on-bgsave-error option). Please check the Redis logs for details \
             about the RDB error.",
        );
        assert_reply!(c.cmd(&["SET", "a", "2"]), misconf);
        assert_reply!(c.cmd(&["DEL", "a"]), misconf);
        assert_reply!(c.cmd(&["PING"]), misconf);
        assert_reply!(c.cmd(&["GET", "a"]), bulk("1"));
        // The disk comes back: the next save succeeds and writes flow again.
        std::fs::remove_file(&dir).unwrap();
        assert_reply!(c.cmd(&["SAVE"]), OK);
        assert_reply!(c.cmd(&["SET", "a", "3"]), OK);
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupt_file_stops_the_start() {
        let dir = temp_dir("corrupt");
        std::fs::write(dir.join("dump.rdb"), b"REDIS0010\xfe").unwrap();
        let err = kvd::Server::start(kvd::Config {
            dir: dir.clone(),
            ..kvd::Config::for_tests()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("corrupt rdb data"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// kvd → redis-server → kvd: a file kvd saves loads in Redis 7 with the same contents, and
    /// the file Redis then saves loads back in kvd.
    #[test]
    fn round_trip_through_redis_server() {
        let installed = |tool: &str| {
            std::process::Command::new(tool)
                .arg("--version")
                .output()
                .is_ok()
        };
        if !installed("redis-server") || !installed("redis-cli") {
            eprintln!("redis-server is not installed; skipping");
            return;
        }
        let dir = temp_dir("redis-trip");
        let server = start(&dir, 2, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "500", "k"]), OK);
        assert_reply!(c.cmd(&["SET", "ttl", "v", "PXAT", "4102444800000"]), OK);
        assert_reply!(c.cmd(&["SET", "long", &"ab".repeat(5000)]), OK);
        assert_reply!(c.cmd(&["SELECT", "3"]), OK);
        assert_reply!(c.cmd(&["SET", "int", "123456789"]), OK);
        assert_reply!(c.cmd(&["SAVE"]), OK);
        drop(c);
        server.shutdown();

        let sock = dir.join("redis.sock");
        let mut redis = std::process::Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--unixsocket")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let cli = |args: &[&str]| {
            let mut all = vec!["-s", sock.to_str().unwrap()];
            all.extend_from_slice(args);
            let (ok, out, err) = run_tool("redis-cli", &all);
            assert!(ok, "{err}");
            out.trim_end().to_owned()
        };
        poll_until(|| {
            (sock.exists()
                && run_tool("redis-cli", &["-s", sock.to_str().unwrap(), "PING"])
                    .1
                    .contains("PONG"))
            .then_some(())
        });
        let checks = || {
            assert_eq!(cli(&["DBSIZE"]), "502");
            assert_eq!(cli(&["GET", "k:499"]), "value:499");
            assert_eq!(cli(&["PEXPIRETIME", "ttl"]), "4102444800000");
            assert_eq!(cli(&["STRLEN", "long"]), "10000");
            assert_eq!(cli(&["-n", "3", "GET", "int"]), "123456789");
        };
        checks();
        assert_eq!(cli(&["SET", "from-redis", "yes"]), "OK");
        assert_eq!(cli(&["SAVE"]), "OK");
        let _ = redis.kill();
        let _ = redis.wait();

        let server = start(&dir, 3, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DBSIZE"]), int(503));
        assert_reply!(c.cmd(&["GET", "from-redis"]), bulk("yes"));
        assert_reply!(c.cmd(&["GET", "k:7"]), bulk("value:7"));
        assert_reply!(c.cmd(&["PEXPIRETIME", "ttl"]), int(4102444800000));
        assert_reply!(c.cmd(&["STRLEN", "long"]), int(10000));
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
