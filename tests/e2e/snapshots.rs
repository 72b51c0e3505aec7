//! Snapshots and whole-keyspace commands as all-shard transactions: a `SAVE`/`BGSAVE` cut,
//! `KEYS`, `DBSIZE`, `RANDOMKEY` and `FLUSHALL` never see half of a multi-shard `MSET` or
//! `MULTI`/`EXEC`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use kvd_tests::*;
use partition_router::shard_for;

const QUEUED: &[u8] = b"+QUEUED\r\n";
const NULL_ARRAY: &[u8] = b"*-1\r\n";
const NULL: &[u8] = b"$-1\r\n";

/// `MSET a i b i` (keys on different shards) against concurrent `KEYS`, `DBSIZE`,
/// `RANDOMKEY`, `EXISTS` and `FLUSHALL`: every reader sees both keys or neither.
#[test]
fn whole_keyspace_commands_never_see_half_an_mset() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        io_threads: 2,
        ..ServerOptions::default()
    });
    if server.is_kvd() {
        // The property is about shards; Redis has one, where it holds trivially.
        let pair = keys_on_different_shards("half", 2, workers);
        assert_ne!(
            shard_for(pair[0].as_bytes(), workers),
            shard_for(pair[1].as_bytes(), workers)
        );
    }
    let [a, b] = <[String; 2]>::try_from(keys_on_different_shards("half", 2, workers)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr();
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (a, b, stop) = (a.clone(), b.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v = format!("{t}-{i}");
                    assert_reply!(c.cmd(&["MSET", &a, &v, &b, &v]), OK);
                    if i.is_multiple_of(7) {
                        assert_reply!(c.cmd(&["FLUSHALL"]), OK);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut c = server.conn();
    let (mut both, mut none) = (0, 0);
    for round in 0..600 {
        match round % 4 {
            0 => {
                let mut keys = bulk_items(&c.cmd(&["KEYS", "half:*"]));
                keys.sort();
                match keys.len() {
                    0 => none += 1,
                    2 => both += 1,
                    _ => panic!("KEYS saw half an MSET: {keys:?}"),
                }
            }
            1 => match as_int(&c.cmd(&["DBSIZE"])) {
                0 => none += 1,
                2 => both += 1,
                n => panic!("DBSIZE saw half an MSET: {n}"),
            },
            2 => match as_int(&c.cmd(&["EXISTS", &a, &b])) {
                0 => none += 1,
                2 => both += 1,
                n => panic!("EXISTS saw half an MSET: {n}"),
            },
            _ => {
                let reply = c.cmd(&["RANDOMKEY"]);
                // A key exists at every instant but those right after a FLUSHALL.
                if reply != NULL {
                    let key = String::from_utf8(bulk_payload(&reply)).unwrap();
                    assert!(key == a || key == b, "{key}");
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert!(both > 0, "the readers saw the keys ({both} / {none})");
}

/// `FLUSHALL` touches every watched key that exists, on every shard.
#[test]
fn flushall_fails_exec_watching_keys_on_every_shard() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    let keys = keys_on_different_shards("w", workers, workers);
    let mut c = server.conn();
    let mut other = server.conn();
    for k in &keys {
        assert_reply!(c.cmd(&["SET", k, "1"]), OK);
    }
    let mut watch = vec!["WATCH"];
    watch.extend(keys.iter().map(String::as_str));
    assert_reply!(c.cmd(&watch), OK);
    assert_reply!(other.cmd(&["FLUSHALL"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", &keys[0], "2"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
    assert_reply!(c.cmd(&["DBSIZE"]), int(0));
    // One watched key on one shard is enough.
    assert_reply!(c.cmd(&["SET", &keys[workers - 1], "1"]), OK);
    assert_reply!(c.cmd(&watch), OK);
    assert_reply!(other.cmd(&["FLUSHDB"]), OK);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PING"]), QUEUED);
    assert_reply!(c.cmd(&["EXEC"]), NULL_ARRAY);
}

#[cfg(feature = "kvd")]
mod cut {
    use super::*;
    use std::path::{Path, PathBuf};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvd-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn start(dir: &Path, workers: usize, io_threads: usize) -> kvd::ServerHandle {
        kvd::Server::start(kvd::Config {
            dir: dir.to_owned(),
            workers,
            io_threads,
            save: Vec::new(),
            ..kvd::Config::for_tests()
        })
        .expect("kvd starts")
    }

    fn info(c: &mut RawConn) -> String {
        String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap()
    }

    /// Cross-shard transfers of a constant sum (`MULTI`/`DECRBY`/`INCRBY`/`EXEC`) and `MSET`s
    /// of one value to keys on every shard run while `BGSAVE` and `SAVE` repeat. Every
    /// snapshot, loaded into a fresh server, holds the constant sum and equal `MSET` keys:
    /// each transaction is wholly before or wholly after the cut.
    #[test]
    fn every_snapshot_holds_whole_transactions() {
        // Two IO threads: clients and the snapshot's coordinator on different threads. One:
        // `SAVE` is driven by the very thread that also drives the transactions it must wait
        // for (a thread blocked in `SAVE` would deadlock here).
        for io_threads in [2, 1] {
            snapshots_hold_whole_transactions(io_threads);
        }
    }

    fn snapshots_hold_whole_transactions(io_threads: usize) {
        let workers = 4;
        let dir = temp_dir(&format!("cut{io_threads}"));
        let server = start(&dir, workers, io_threads);
        let addr = server.local_addr();
        let accounts = keys_on_different_shards("acct", workers, workers);
        let same = keys_on_different_shards("same", workers, workers);
        let mut c = RawConn::connect(addr);
        for k in &accounts {
            assert_reply!(c.cmd(&["SET", k, "1000"]), OK);
        }
        let mut mset = vec!["MSET".to_owned()];
        for k in &same {
            mset.extend([k.clone(), "0".to_owned()]);
        }
        assert_reply!(c.cmd(&mset), OK);
        // Bulk, so each snapshot takes several slices.
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "8000", "fill", "32"]), OK);

        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..4usize {
            let (accounts, same, stop) = (accounts.clone(), same.clone(), Arc::clone(&stop));
            threads.push(thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    if t % 2 == 0 {
                        let from = &accounts[i % accounts.len()];
                        let to = &accounts[(i + 1 + t) % accounts.len()];
                        assert_reply!(c.cmd(&["MULTI"]), OK);
                        assert_reply!(c.cmd(&["DECRBY", from, "7"]), QUEUED);
                        assert_reply!(c.cmd(&["INCRBY", to, "7"]), QUEUED);
                        let reply = c.cmd(&["EXEC"]);
                        assert!(reply.starts_with(b"*2\r\n"), "{}", escape(&reply));
                    } else {
                        let v = format!("{t}-{i}");
                        let mut args = vec!["MSET"];
                        for k in &same {
                            args.extend([k.as_str(), v.as_str()]);
                        }
                        assert_reply!(c.cmd(&args), OK);
                    }
                    i += 1;
                }
            }));
        }
        let file = dir.join("dump.rdb");
        let mut copies = Vec::new();
        for round in 0..8 {
            if round % 2 == 0 {
                assert_reply!(c.cmd(&["BGSAVE"]), b"+Background saving started\r\n");
                poll_until(|| {
                    let info = info(&mut c);
                    info.contains("rdb_bgsave_in_progress:0\r\n").then_some(())
                });
                assert!(info(&mut c).contains("rdb_last_bgsave_status:ok\r\n"));
            } else {
                assert_reply!(c.cmd(&["SAVE"]), OK);
            }
            let copy = dir.join(format!("snap-{round}"));
            std::fs::create_dir_all(&copy).unwrap();
            std::fs::copy(&file, copy.join("dump.rdb")).unwrap();
            copies.push(copy);
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("client thread");
        }
        drop(c);
        server.shutdown();

        for copy in copies {
            let server = start(&copy, 3, 2);
            let mut c = RawConn::connect(server.local_addr());
            let mut args = vec!["MGET"];
            args.extend(accounts.iter().map(String::as_str));
            let sum: i64 = bulk_items(&c.cmd(&args))
                .iter()
                .map(|v| std::str::from_utf8(v).unwrap().parse::<i64>().unwrap())
                .sum();
            assert_eq!(sum, 1000 * workers as i64, "{}", copy.display());
            let mut args = vec!["MGET"];
            args.extend(same.iter().map(String::as_str));
            let values = bulk_items(&c.cmd(&args));
            assert!(
                values.iter().all(|v| *v == values[0]),
                "{}: {values:?}",
                copy.display()
            );
            assert_reply!(c.cmd(&["DBSIZE"]), int(8000 + 2 * workers as i64));
            drop(c);
            server.shutdown();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
