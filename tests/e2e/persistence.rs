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

    /// `SHUTDOWN SAVE` on the IO thread that also drives another client's cross-shard
    /// transactions: the save's cut waits for the transaction in flight, which needs that
    /// very thread, so the thread must keep serving while it saves (a blocking save waited 30
    /// s for the cut, then failed). The server stops within the reply timeout, and the file
    /// holds whole transactions only.
    #[test]
    fn shutdown_saves_while_its_thread_drives_transactions() {
        use std::io::{Read, Write};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let dir = temp_dir("shutdown-busy");
        let workers = 3;
        let start_one = |dir: &Path| {
            kvd::Server::start(kvd::Config {
                dir: dir.to_owned(),
                workers,
                io_threads: 1,
                save: Vec::new(),
                ..kvd::Config::for_tests()
            })
            .expect("kvd starts")
        };
        // Two keys on different shards.
        let a = "a".to_owned();
        let b = (0..)
            .map(|i| format!("b{i}"))
            .find(|k| {
                partition_router::shard_for(k.as_bytes(), workers)
                    != partition_router::shard_for(a.as_bytes(), workers)
            })
            .unwrap();
        let server = start_one(&dir);
        let addr = server.local_addr();
        let mut batch = Vec::new();
        for _ in 0..20 {
            batch.extend(encode_command(&["MULTI"]));
            batch.extend(encode_command(&["INCRBY", &a, "1"]));
            batch.extend(encode_command(&["INCRBY", &b, "1"]));
            batch.extend(encode_command(&["EXEC"]));
        }
        let running = Arc::new(AtomicBool::new(false));
        let flood = {
            let running = Arc::clone(&running);
            std::thread::spawn(move || {
                // Pipelined transactions until the server goes away (a plain socket: the
                // close is the expected end, not a failure).
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 64 * 1024];
                loop {
                    if s.write_all(&batch).is_err() {
                        return;
                    }
                    let mut replies = 0;
                    while replies < 80 {
                        match frame_len(&buf) {
                            Ok(Some(len)) => {
                                buf.drain(..len);
                                replies += 1;
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => panic!("{e}"),
                        }
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    running.store(true, Ordering::Relaxed);
                }
            })
        };
        poll_until(|| running.load(Ordering::Relaxed).then_some(()));
        let mut c = RawConn::connect(addr);
        c.send_cmd(&["SHUTDOWN", "SAVE"]);
        c.expect_closed();
        server.wait().unwrap();
        flood.join().unwrap();
        // The file holds whole transactions: both counters moved together.
        let server = start_one(&dir);
        let mut c = RawConn::connect(server.local_addr());
        let got_a = c.cmd(&["GET", &a]);
        assert_ne!(got_a, b"$-1\r\n");
        assert_reply!(c.cmd(&["GET", &b]), got_a);
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

    /// With save points set, `FLUSHALL` saves the emptied dataset at once (the flushed keys
    /// do not come back at the next start) and counting restarts at 0, as in Redis 7.0.15;
    /// without, it only counts the keys it removed.
    #[test]
    fn flushall_saves_when_save_points_are_set() {
        let dir = temp_dir("flushall");
        let file = dir.join("dump.rdb");
        let server = start(&dir, 3, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), OK);
        assert_reply!(c.cmd(&["FLUSHALL"]), OK);
        assert!(!file.exists());
        assert!(info(&mut c).contains("rdb_changes_since_last_save:6\r\n"));
        drop(c);
        server.shutdown();

        let server = start(&dir, 3, &[(3600, 1)]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), OK);
        assert_reply!(c.cmd(&["SAVE"]), OK);
        assert_reply!(c.cmd(&["SET", "d", "4"]), OK);
        assert_reply!(c.cmd(&["FLUSHALL"]), OK);
        let info_now = info(&mut c);
        assert!(
            info_now.contains("rdb_changes_since_last_save:0\r\n"),
            "{info_now}"
        );
        // Only SAVE and BGSAVE count as saves.
        assert!(info_now.contains("rdb_saves:1\r\n"), "{info_now}");
        assert_reply!(c.cmd(&["SET", "e", "5"]), OK);
        assert!(info(&mut c).contains("rdb_changes_since_last_save:1\r\n"));
        // The file is the empty dataset: a server started on a copy has no keys.
        let copy = dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(&file, copy.join("dump.rdb")).unwrap();
        let other = start(&copy, 2, &[]);
        let mut o = RawConn::connect(other.local_addr());
        assert_reply!(o.cmd(&["DBSIZE"]), int(0));
        drop(o);
        other.shutdown();
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
    /// A background save streams slices from every shard and database in any order
    /// (`SELECTDB` before each run of another database's entries): `redis-check-rdb` accepts
    /// the file and counts every key.
    #[test]
    fn a_streamed_background_save_passes_redis_check_rdb() {
        if std::process::Command::new("redis-check-rdb")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("redis-check-rdb is not installed; skipping");
            return;
        }
        let dir = temp_dir("streamed");
        let server = start(&dir, 3, &[]);
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "30000", "k", "20"]), OK);
        assert_reply!(c.cmd(&["SET", "ttl", "v", "PXAT", "4102444800000"]), OK);
        assert_reply!(c.cmd(&["SELECT", "3"]), OK);
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "20000", "j", "20"]), OK);
        assert_reply!(c.cmd(&["RPUSH", "list", "a", "b"]), int(2));
        assert_reply!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
        poll_until(|| {
            let i = info(&mut c);
            i.contains("rdb_bgsave_in_progress:0\r\n").then_some(i)
        });
        assert!(info(&mut c).contains("rdb_last_bgsave_status:ok\r\n"));
        let file = dir.join("dump.rdb");
        let (ok, out, err) = run_tool("redis-check-rdb", &[file.to_str().unwrap()]);
        assert!(ok, "{out}{err}");
        assert!(out.contains("RDB looks OK"), "{out}");
        assert!(out.contains("50002 keys read"), "{out}");
        assert!(out.contains("1 expires"), "{out}");
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

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

/// `rdb_changes_since_last_save` counts as Redis's `server.dirty`: one per key or element
/// changed, nothing for a write that changed nothing. Recorded from redis-server 7.0.15;
/// keys spread over four shards, so the cross-shard forms count the same. `-1`: setup.
#[test]
fn changes_count_like_redis_dirty() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let changes = |c: &mut RawConn| -> i64 {
        let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .expect("the field");
        line.trim().parse().unwrap()
    };
    let cases: &[(i64, &[&str])] = &[
        (-1, &["FLUSHALL"][..]),
        (1, &["SET", "a", "1"][..]),
        (0, &["SET", "a", "1", "NX"][..]),
        (1, &["SET", "a", "2", "XX"][..]),
        (0, &["SET", "nx", "2", "XX"][..]),
        (1, &["SET", "a", "3", "GET"][..]),
        (0, &["SETNX", "a", "1"][..]),
        (1, &["SETNX", "b", "1"][..]),
        (1, &["SETEX", "c", "100", "v"][..]),
        (1, &["PSETEX", "c", "100000", "v"][..]),
        (1, &["GETSET", "a", "9"][..]),
        (1, &["GETDEL", "a"][..]),
        (0, &["GETDEL", "a"][..]),
        (-1, &["SET", "a", "1"][..]),
        (0, &["GETEX", "a"][..]),
        (1, &["GETEX", "a", "EX", "100"][..]),
        (1, &["GETEX", "a", "PERSIST"][..]),
        (0, &["GETEX", "a", "PERSIST"][..]),
        (0, &["GETEX", "missing", "EX", "10"][..]),
        (1, &["APPEND", "a", "xyz"][..]),
        (1, &["SETRANGE", "a", "0", "zz"][..]),
        (1, &["SETRANGE", "newr", "3", "x"][..]),
        (1, &["INCR", "n"][..]),
        (1, &["INCRBY", "n", "5"][..]),
        (1, &["DECR", "n"][..]),
        (1, &["DECRBY", "n", "2"][..]),
        (1, &["INCRBYFLOAT", "f", "1.5"][..]),
        (3, &["MSET", "m1", "1", "m2", "2", "m3", "3"][..]),
        (2, &["MSET", "m1", "1", "m1", "2"][..]),
        (0, &["MSETNX", "m1", "1", "q1", "2"][..]),
        (3, &["MSETNX", "q1", "1", "q2", "2", "q3", "3"][..]),
        (2, &["DEL", "m1", "m2", "zz"][..]),
        (0, &["DEL", "zz"][..]),
        (2, &["UNLINK", "m3", "q1"][..]),
        (1, &["EXPIRE", "q2", "100"][..]),
        (0, &["EXPIRE", "nokey", "100"][..]),
        (0, &["EXPIRE", "q2", "100", "NX"][..]),
        (1, &["PEXPIRE", "q2", "100000"][..]),
        (1, &["EXPIREAT", "q2", "4102444800"][..]),
        (1, &["PEXPIREAT", "q2", "4102444800000"][..]),
        (1, &["PERSIST", "q2"][..]),
        (0, &["PERSIST", "q2"][..]),
        (-1, &["SET", "e", "1"][..]),
        (1, &["EXPIRE", "e", "0"][..]),
        (-1, &["SET", "e", "1"][..]),
        (1, &["EXPIRE", "e", "-1"][..]),
        (1, &["RENAME", "q3", "q4"][..]),
        (0, &["RENAMENX", "q4", "n"][..]),
        (1, &["RENAMENX", "q4", "q5"][..]),
        (1, &["COPY", "q5", "q6"][..]),
        (0, &["COPY", "q5", "q6"][..]),
        (1, &["COPY", "q5", "q6", "REPLACE"][..]),
        (0, &["TOUCH", "q5", "n"][..]),
        (-1, &["DEL", "l"][..]),
        (3, &["LPUSH", "l", "a", "b", "c"][..]),
        (1, &["RPUSH", "l", "d"][..]),
        (2, &["LPUSHX", "l", "x", "y"][..]),
        (0, &["LPUSHX", "nol", "x"][..]),
        (0, &["RPUSHX", "nol", "x"][..]),
        (1, &["LPOP", "l"][..]),
        (2, &["LPOP", "l", "2"][..]),
        (1, &["RPOP", "l"][..]),
        (0, &["LPOP", "nol"][..]),
        (1, &["LSET", "l", "0", "v"][..]),
        (1, &["LINSERT", "l", "BEFORE", "v", "w"][..]),
        (0, &["LINSERT", "l", "BEFORE", "nothere", "w"][..]),
        (-1, &["RPUSH", "l", "a", "a", "a", "b"][..]),
        (4, &["LREM", "l", "0", "a"][..]),
        (0, &["LREM", "l", "0", "zzz"][..]),
        (2, &["LTRIM", "l", "0", "0"][..]),
        (0, &["LTRIM", "l", "0", "-1"][..]),
        (-1, &["RPUSH", "l2", "1", "2", "3", "4", "5"][..]),
        (3, &["LTRIM", "l2", "1", "2"][..]),
        (1, &["LMOVE", "l2", "l3", "LEFT", "RIGHT"][..]),
        (1, &["RPOPLPUSH", "l2", "l3"][..]),
        (0, &["RPOPLPUSH", "nol", "l3"][..]),
        (2, &["LMPOP", "1", "l3", "LEFT", "COUNT", "5"][..]),
        (-1, &["DEL", "h"][..]),
        (2, &["HSET", "h", "f1", "v1", "f2", "v2"][..]),
        (2, &["HSET", "h", "f1", "v1", "f3", "v3"][..]),
        (1, &["HMSET", "h", "f1", "x"][..]),
        (0, &["HSETNX", "h", "f1", "x"][..]),
        (1, &["HSETNX", "h", "f9", "x"][..]),
        (2, &["HDEL", "h", "f1", "f2", "zz"][..]),
        (0, &["HDEL", "h", "zz"][..]),
        (1, &["HINCRBY", "h", "n", "1"][..]),
        (1, &["HINCRBYFLOAT", "h", "fl", "1.5"][..]),
        (-1, &["DEL", "s"][..]),
        (3, &["SADD", "s", "a", "b", "c"][..]),
        (1, &["SADD", "s", "a", "d"][..]),
        (0, &["SADD", "s", "a"][..]),
        (1, &["SREM", "s", "a", "zz"][..]),
        (0, &["SREM", "s", "zz"][..]),
        (1, &["SPOP", "s"][..]),
        (2, &["SPOP", "s", "5"][..]),
        (0, &["SPOP", "nos"][..]),
        (-1, &["SADD", "s", "a", "b", "c"][..]),
        (2, &["SMOVE", "s", "s2", "a"][..]),
        (0, &["SMOVE", "s", "s2", "zz"][..]),
        (-1, &["SADD", "s3", "1", "2", "3"][..]),
        (0, &["SINTERSTORE", "d1", "s3", "s2"][..]),
        (1, &["SUNIONSTORE", "d1", "s3", "s2"][..]),
        (1, &["SDIFFSTORE", "d1", "s3", "s2"][..]),
        (0, &["SINTERSTORE", "d2", "nos", "nos2"][..]),
        (-1, &["DEL", "z"][..]),
        (2, &["ZADD", "z", "1", "a", "2", "b"][..]),
        (2, &["ZADD", "z", "1", "a", "3", "b", "4", "c"][..]),
        (0, &["ZADD", "z", "1", "a"][..]),
        (1, &["ZADD", "z", "CH", "5", "a"][..]),
        (0, &["ZADD", "z", "NX", "9", "a"][..]),
        (1, &["ZADD", "z", "INCR", "1", "a"][..]),
        (1, &["ZINCRBY", "z", "1", "b"][..]),
        (0, &["ZINCRBY", "z", "0", "b"][..]),
        (1, &["ZREM", "z", "a", "zz"][..]),
        (0, &["ZREM", "z", "zz"][..]),
        (
            -1,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"][..],
        ),
        (1, &["ZREMRANGEBYSCORE", "z", "0", "1"][..]),
        (1, &["ZREMRANGEBYRANK", "z", "0", "0"][..]),
        (2, &["ZREMRANGEBYLEX", "z", "-", "+"][..]),
        (
            -1,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"][..],
        ),
        (1, &["ZPOPMIN", "z"][..]),
        (2, &["ZPOPMAX", "z", "2"][..]),
        (0, &["ZPOPMIN", "noz"][..]),
        (1, &["ZMPOP", "1", "z", "MIN", "COUNT", "3"][..]),
        (
            -1,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"][..],
        ),
        (1, &["ZUNIONSTORE", "zd", "1", "z"][..]),
        (1, &["ZINTERSTORE", "zd", "1", "noz"][..]),
        (1, &["ZRANGESTORE", "zd", "z", "0", "1"][..]),
        (1, &["ZDIFFSTORE", "zd", "1", "z"][..]),
        (-1, &["SET", "bit", "0"][..]),
        (1, &["SWAPDB", "0", "1"][..]),
        (1, &["SWAPDB", "0", "1"][..]),
        (-1, &["SET", "x", "1"][..]),
        (-1, &["SET", "y", "1"][..]),
        (20, &["FLUSHDB"][..]),
    ];
    for (want, cmd) in cases {
        let before = changes(&mut c);
        let reply = c.cmd(cmd);
        assert!(!reply.starts_with(b"-"), "{cmd:?}: {}", escape(&reply));
        if *want >= 0 {
            assert_eq!(changes(&mut c) - before, *want, "{cmd:?}");
        }
    }
    // MULTI/EXEC counts what its commands count.
    let before = changes(&mut c);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    for cmd in [
        &["MSET", "t1", "1", "t2", "2"][..],
        &["DEL", "t1", "t9"],
        &["SADD", "ts", "a", "b"],
    ] {
        assert_reply!(c.cmd(cmd), b"+QUEUED\r\n");
    }
    c.cmd(&["EXEC"]);
    assert_eq!(changes(&mut c) - before, 2 + 1 + 2);
}
