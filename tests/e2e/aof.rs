//! The append-only log (kvd only: these tests restart servers on their own directories).
//!
//! * Crash tests run the real daemon (`kvd-under-test`, built from kvd's `main.rs`) as a child
//!   process, write from several clients, SIGKILL it at a random moment and restart it on the
//!   same directory: with `appendfsync always` every acknowledged write is there, with
//!   `everysec` at most about the last second is missing.
//! * A log truncated at random byte offsets loads exactly its prefix of complete commands and
//!   transactions (`aof-load-truncated yes`) and refuses to start with `no`.
//! * Every kind of effect (relative times, floats, random pops, blocking pops, moves between
//!   shards, flushes, expiry) replays to the same dataset, with another worker count too.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvd_tests::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvd-e2e-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pseudo-random number from the clock (the tests need variety, not reproducibility; the
/// chosen values are printed so a failure can be replayed by hand).
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut x = nanos ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % n.max(1)
}

/// The kvd daemon as a child process.
struct Daemon {
    child: Child,
    addr: SocketAddr,
}

impl Daemon {
    /// Starts the daemon on a free port of 127.0.0.1 with `dir` and `args`, and waits until it
    /// accepts connections; `Err` holds its log if it exits instead.
    fn spawn(dir: &Path, args: &[&str]) -> Result<Daemon, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvd-under-test"))
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kvd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        // Reads the log until the process ends, so the pipe never fills up.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("ready to accept connections")
                    && let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                        .and_then(|a| a.parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(20)) {
                return Ok(Daemon { child, addr });
            }
            if child.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                // The pipe is closed now: the reader ends once it has stored the last lines.
                let _ = reader.join();
                return Err(log.lock().unwrap().clone());
            }
        }
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection_with_timeout(REPLY_TIMEOUT)
            .unwrap()
    }

    /// SIGKILL: no chance to flush anything.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one writer saw acknowledged.
#[derive(Debug, Default)]
struct Acked {
    client: usize,
    /// `SET s:{client}:{n} v{n}`: every acknowledged `n`, with when.
    sets: Vec<(u64, Instant)>,
    /// The last number sent (acknowledged or not).
    last_sent: u64,
    /// The last acknowledged `INCR c:{client}` value.
    incr: i64,
    /// `MSET m:{client}:{n}:a x{n} m:{client}:{n}:b x{n}` acknowledged.
    msets: Vec<u64>,
}

/// Writes until the server goes away: a `SET` per step, an `INCR` every third and a
/// cross-shard `MSET` every fifth.
fn write_until_gone(addr: SocketAddr, client: usize, stop: Arc<AtomicBool>) -> Acked {
    let mut acked = Acked {
        client,
        ..Acked::default()
    };
    let Ok(mut con) = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection_with_timeout(REPLY_TIMEOUT)
    else {
        return acked;
    };
    for n in 1.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        acked.last_sent = n;
        let set: redis::RedisResult<String> = redis::cmd("SET")
            .arg(format!("s:{client}:{n}"))
            .arg(format!("v{n}"))
            .query(&mut con);
        match set {
            Ok(_) => acked.sets.push((n, Instant::now())),
            Err(_) => break,
        }
        if n % 3 == 0 {
            match redis::cmd("INCR")
                .arg(format!("c:{client}"))
                .query::<i64>(&mut con)
            {
                Ok(v) => acked.incr = v,
                Err(_) => break,
            }
        }
        if n % 5 == 0 {
            let x = format!("x{n}");
            let r: redis::RedisResult<String> = redis::cmd("MSET")
                .arg(format!("m:{client}:{n}:a"))
                .arg(&x)
                .arg(format!("m:{client}:{n}:b"))
                .arg(&x)
                .query(&mut con);
            match r {
                Ok(_) => acked.msets.push(n),
                Err(_) => break,
            }
        }
    }
    acked
}

/// Runs four writers against a daemon with `fsync`, kills it after a random 0.5..1.5 s and
/// restarts it on the same directory.
fn write_kill_restart(name: &str, fsync: &str) -> (Vec<Acked>, Instant, Daemon) {
    let dir = temp_dir(name);
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--workers",
        "2",
        "--io-threads",
        "2",
    ];
    let daemon = Daemon::spawn(&dir, &args).unwrap_or_else(|log| panic!("kvd: {log}"));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (addr, stop) = (daemon.addr, Arc::clone(&stop));
            std::thread::spawn(move || write_until_gone(addr, i, stop))
        })
        .collect();
    let after = Duration::from_millis(500 + random_below(1000));
    eprintln!("{name}: SIGKILL after {after:?}");
    // The point of the test is a kill at an arbitrary moment while writes flow.
    std::thread::sleep(after);
    let killed = Instant::now();
    daemon.kill();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<Acked> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let daemon = Daemon::spawn(&dir, &args).unwrap_or_else(|log| panic!("restart: {log}"));
    (acked, killed, daemon)
}

/// The `s:{client}:{n}` numbers present after the restart, up to `last_sent`.
fn present_sets(con: &mut redis::Connection, a: &Acked) -> Vec<u64> {
    let mut present = Vec::new();
    for chunk in (1..=a.last_sent + 1).collect::<Vec<_>>().chunks(500) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|n| format!("s:{}:{n}", a.client))
            .collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con).unwrap();
        for (n, v) in chunk.iter().zip(values) {
            if let Some(v) = v {
                assert_eq!(v, format!("v{n}"), "value of s:{}:{n}", a.client);
                present.push(*n);
            }
        }
    }
    present
}

/// Checks what must hold after any crash: values are right, cross-shard `MSET`s are whole,
/// the counter counts at most what was sent; with `durable` (`always`) every acknowledged
/// `MSET` is there.
fn check_common(con: &mut redis::Connection, a: &Acked, present: &[u64], durable: bool) {
    let c = a.client;
    // Each writer waits for each reply, so what is in the log is a prefix of what it sent.
    for (i, n) in present.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "client {c}: a hole before s:{c}:{n}");
    }
    assert!(
        present.len() as u64 <= a.last_sent,
        "client {c}: more than was sent"
    );
    let counter: Option<i64> = redis::cmd("GET").arg(format!("c:{c}")).query(con).unwrap();
    let counter = counter.unwrap_or(0);
    // At most the one in flight more (with `everysec` the last acknowledged ones may be lost).
    assert!(
        counter <= a.incr + 1,
        "client {c}: counter {counter}, acknowledged {}",
        a.incr
    );
    for n in (5..=a.last_sent).step_by(5) {
        let keys = [format!("m:{c}:{n}:a"), format!("m:{c}:{n}:b")];
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con).unwrap();
        assert!(
            values[0] == values[1],
            "client {c}: half an MSET {n}: {values:?}"
        );
        if durable && a.msets.contains(&n) {
            assert_eq!(values[0].as_deref(), Some(format!("x{n}").as_str()));
        }
    }
}

#[test]
fn always_keeps_every_acknowledged_write_across_sigkill() {
    if target() != Target::Kvd {
        return;
    }
    let (acked, _, daemon) = write_kill_restart("always", "always");
    let mut con = daemon.client();
    let total: usize = acked.iter().map(|a| a.sets.len()).sum();
    assert!(total > 20, "the writers made progress: {total}");
    for a in &acked {
        let present = present_sets(&mut con, a);
        // Every acknowledged write is there (plus perhaps the one in flight).
        let last_acked = a.sets.last().map_or(0, |s| s.0);
        assert!(
            present.len() as u64 >= last_acked,
            "client {}: {} present, {last_acked} acknowledged",
            a.client,
            present.len()
        );
        check_common(&mut con, a, &present, true);
        assert!(
            redis::cmd("GET")
                .arg(format!("c:{}", a.client))
                .query::<Option<i64>>(&mut con)
                .unwrap()
                .unwrap_or(0)
                >= a.incr
        );
    }
}

#[test]
fn everysec_loses_at_most_about_the_last_second() {
    if target() != Target::Kvd {
        return;
    }
    let (acked, killed, daemon) = write_kill_restart("everysec", "everysec");
    let mut con = daemon.client();
    for a in &acked {
        let present = present_sets(&mut con, a);
        check_common(&mut con, a, &present, false);
        let missing_old = a
            .sets
            .iter()
            .filter(|(n, at)| {
                killed.duration_since(*at) > Duration::from_millis(1100) && !present.contains(n)
            })
            .count();
        assert_eq!(
            missing_old, 0,
            "client {}: writes older than a second lost",
            a.client
        );
    }
}

#[cfg(feature = "kvd")]
mod in_process {
    use super::*;

    pub(super) fn start(
        dir: &Path,
        workers: usize,
        load_truncated: bool,
    ) -> Result<kvd::ServerHandle, String> {
        kvd::Server::start(kvd::Config {
            dir: dir.to_owned(),
            workers,
            aof: worker_shard_aof(load_truncated),
            ..kvd::Config::for_tests()
        })
        .map_err(|e| format!("{e:#}"))
    }

    fn worker_shard_aof(load_truncated: bool) -> kvd::AofConfig {
        kvd::AofConfig {
            enabled: true,
            fsync: kvd::AppendFsync::Always,
            load_truncated,
            ..kvd::AofConfig::default()
        }
    }

    fn incr_file(dir: &Path) -> PathBuf {
        let logs = dir.join("appendonlydir");
        let manifest = std::fs::read_to_string(logs.join("appendonly.aof.manifest")).unwrap();
        let name = manifest
            .lines()
            .filter(|l| l.ends_with("type i"))
            .filter_map(|l| l.split_whitespace().nth(1))
            .next_back()
            .unwrap()
            .to_owned();
        logs.join(name)
    }

    fn copy_dir(from: &Path, to: &Path) {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to.join("appendonlydir")).unwrap();
        for e in std::fs::read_dir(from.join("appendonlydir")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join("appendonlydir").join(e.file_name())).unwrap();
        }
    }

    /// Every key of database 0 with its value (strings only in these tests).
    fn strings(addr: SocketAddr) -> BTreeMap<String, String> {
        let mut c = RawConn::connect(addr);
        let keys: Vec<String> = bulk_items(&c.cmd(&["KEYS", "*"]))
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        keys.into_iter()
            .map(|k| {
                let v = String::from_utf8(bulk_payload(&c.cmd(&["GET", &k]))).unwrap();
                (k, v)
            })
            .collect()
    }

    /// A command of the log and the byte range it takes.
    struct Record {
        args: Vec<String>,
        start: usize,
        end: usize,
    }

    /// The commands of a log (an independent reader of the format: `*N`, `$len`, bytes).
    fn records(log: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut pos = 0;
        let line = |at: usize| {
            let nl = log[at..].windows(2).position(|w| w == b"\r\n").unwrap() + at;
            let n: usize = std::str::from_utf8(&log[at + 1..nl])
                .unwrap()
                .parse()
                .unwrap();
            (n, nl + 2)
        };
        while pos < log.len() {
            let (argc, mut at) = line(pos);
            let mut args = Vec::new();
            for _ in 0..argc {
                let (len, data) = line(at);
                args.push(String::from_utf8_lossy(&log[data..data + len]).into_owned());
                at = data + len + 2;
            }
            out.push(Record {
                args,
                start: pos,
                end: at,
            });
            pos = at;
        }
        out
    }

    /// What loading the first `len` bytes must give: the strings set by the complete
    /// records before the first incomplete one (a partial record, a transaction without
    /// its `EXEC`, or a cross-shard transaction with a part missing), and that offset.
    fn expected(log: &[Record], len: usize) -> (BTreeMap<String, String>, usize) {
        let mut cut = log.iter().find(|r| r.end > len).map_or(len, |r| r.start);
        loop {
            let complete: Vec<&Record> = log.iter().filter(|r| r.end <= cut).collect();
            let mut parts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
            let mut open: Option<usize> = None;
            for r in &complete {
                match r.args[0].as_str() {
                    "MULTI" => open = Some(r.start),
                    "KVDTX" => {
                        open = Some(r.start);
                        let e = parts.entry(r.args[1].clone()).or_insert((
                            0,
                            r.args[2].parse().unwrap(),
                            r.start,
                        ));
                        e.0 += 1;
                    }
                    "EXEC" => open = None,
                    _ => {}
                }
            }
            let mut first = open;
            for (seen, want, at) in parts.values() {
                if seen < want && first.is_none_or(|f| *at < f) {
                    first = Some(*at);
                }
            }
            match first {
                Some(f) if f < cut => cut = f,
                _ => break,
            }
        }
        let mut data = BTreeMap::new();
        for r in log.iter().filter(|r| r.end <= cut) {
            match r.args[0].as_str() {
                "SET" => {
                    data.insert(r.args[1].clone(), r.args[2].clone());
                }
                "MSET" => {
                    for kv in r.args[1..].chunks(2) {
                        data.insert(kv[0].clone(), kv[1].clone());
                    }
                }
                "SELECT" | "MULTI" | "EXEC" | "KVDTX" => {}
                other => panic!("unexpected record {other}"),
            }
        }
        (data, cut)
    }

    /// Keys named `{prefix}{i}` on shard 0 and shard 1 of two.
    fn on_each_shard(prefix: &str, i: usize) -> (String, String) {
        let mut found = (None, None);
        for j in 0.. {
            let k = format!("{prefix}{i}-{j}");
            match partition_router::shard_for(k.as_bytes(), 2) {
                0 if found.0.is_none() => found.0 = Some(k),
                1 if found.1.is_none() => found.1 = Some(k),
                _ => {}
            }
            if let (Some(a), Some(b)) = &found {
                return (a.clone(), b.clone());
            }
        }
        unreachable!()
    }

    /// Writes a log of `SET`s, cross-shard `MSET`s and `MULTI`/`EXEC`s over both shards.
    fn write_sample_log(dir: &Path) -> Vec<u8> {
        let server = start(dir, 2, true).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        for i in 0..12 {
            assert_reply!(c.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]), OK);
            if i % 3 == 1 {
                let (a, b) = on_each_shard("m", i);
                assert_reply!(c.cmd(&["MSET", &a, "x", &b, "y"]), OK);
            }
            if i % 4 == 2 {
                let (a, b) = on_each_shard("t", i);
                assert_reply!(c.cmd(&["MULTI"]), OK);
                assert_reply!(c.cmd(&["SET", &a, "1"]), b"+QUEUED\r\n");
                assert_reply!(c.cmd(&["SET", &b, "2"]), b"+QUEUED\r\n");
                assert_reply!(c.cmd(&["EXEC"]), b"*2\r\n+OK\r\n+OK\r\n");
            }
        }
        drop(c);
        server.shutdown();
        std::fs::read(incr_file(dir)).unwrap()
    }

    #[test]
    fn a_truncated_log_loads_exactly_its_complete_prefix() {
        let dir = temp_dir("truncate");
        let log = write_sample_log(&dir);
        let recs = records(&log);
        assert!(
            recs.iter().any(|r| r.args[0] == "KVDTX"),
            "cross-shard parts logged"
        );
        let (all, _) = expected(&recs, log.len());
        assert_eq!(all.len(), 12 + 4 * 2 + 3 * 2, "{all:?}");
        // Random offsets, and every offset around the first cross-shard transaction.
        let first_tx = recs.iter().find(|r| r.args[0] == "KVDTX").unwrap().start;
        let mut offsets: Vec<usize> = (0..25)
            .map(|_| random_below(log.len() as u64) as usize)
            .collect();
        offsets.extend(first_tx.saturating_sub(3)..(first_tx + 60).min(log.len()));
        offsets.extend([0, log.len()]);
        let work = temp_dir("truncate-work");
        for len in offsets {
            copy_dir(&dir, &work);
            let path = incr_file(&work);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len as u64)
                .unwrap();
            let (want, cut) = expected(&recs, len);
            let server = start(&work, 3, true).unwrap_or_else(|e| panic!("at {len}: {e}"));
            assert_eq!(strings(server.local_addr()), want, "log cut at {len}");
            // The file was truncated to what loaded.
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                cut as u64,
                "at {len}"
            );
            server.shutdown();
        }
        let _ = std::fs::remove_dir_all(&work);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn with_aof_load_truncated_no_a_cut_log_refuses_to_start() {
        let dir = temp_dir("truncate-no");
        let log = write_sample_log(&dir);
        let path = incr_file(&dir);
        // A whole log loads either way.
        start(&dir, 2, false).unwrap().shutdown();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(log.len() as u64 - 3)
            .unwrap();
        let err = start(&dir, 2, false).unwrap_err();
        assert!(
            err.contains(
                "Unexpected end of file reading the append only file appendonly.aof.1.incr.aof"
            ) && err.contains("'aof-load-truncated'"),
            "{err}"
        );
        // Garbage in the middle refuses to start whatever the setting.
        let mut bad = log.clone();
        bad[recs_second_start(&log)] = b'?';
        std::fs::write(&path, &bad).unwrap();
        let err = start(&dir, 2, true).unwrap_err();
        assert!(
            err.contains("Bad file format reading the append only file appendonly.aof.1.incr.aof"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn recs_second_start(log: &[u8]) -> usize {
        records(log)[1].start
    }

    /// The full state of the first databases: per key its type, value (as `DUMP`) and exact
    /// expiry time.
    /// Per database and key: the `DUMP` and `PEXPIRETIME` replies.
    type Dataset = BTreeMap<(u8, Vec<u8>), (Vec<u8>, Vec<u8>)>;

    fn dataset(addr: SocketAddr) -> Dataset {
        let mut c = RawConn::connect(addr);
        let mut out = BTreeMap::new();
        for db in 0..3u8 {
            assert_reply!(c.cmd(&["SELECT", &db.to_string()]), OK);
            for key in bulk_items(&c.cmd(&["KEYS", "*"])) {
                let dump = c.cmd(&[b"DUMP".as_slice(), &key]);
                let at = c.cmd(&[b"PEXPIRETIME".as_slice(), &key]);
                out.insert((db, key), (dump, at));
            }
        }
        out
    }

    #[test]
    fn every_kind_of_effect_replays_to_the_same_data() {
        let dir = temp_dir("effects");
        let server = start(&dir, 3, true).unwrap();
        let addr = server.local_addr();
        let mut c = RawConn::connect(addr);
        let mut blocked = RawConn::connect(addr);
        // A blocked pop served later by a push on another connection.
        blocked.send_cmd(&["BLPOP", "queue", "0"]);
        for args in [
            &["SET", "s", "1", "EX", "1000"][..],
            &["SETEX", "s2", "500", "x"],
            &["PSETEX", "s3", "500000", "x"],
            &["SET", "s4", "v", "PX", "1"],
            &["SET", "keep", "v"],
            &["EXPIRE", "keep", "3000"],
            &["SET", "g", "v"],
            &["GETEX", "g", "EX", "100"],
            &["SET", "p", "v", "EX", "100"],
            &["GETEX", "p", "PERSIST"],
            &["INCRBYFLOAT", "f", "1.1"],
            &["INCRBYFLOAT", "f", "2.25"],
            &["HINCRBYFLOAT", "h", "fld", "0.5"],
            &["SADD", "set", "a", "b", "c", "d", "e"],
            &["SPOP", "set"],
            &["SPOP", "set", "2"],
            &["RPUSH", "list", "a", "b", "c"],
            &["LMOVE", "list", "other", "LEFT", "RIGHT"],
            &["RPUSH", "queue", "job1", "job2"],
            &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
            &["ZPOPMIN", "z"],
            &["ZUNIONSTORE", "zu", "2", "z", "zz"],
            &["SADD", "s1", "x", "y"],
            &["SADD", "s2set", "y", "z"],
            &["SUNIONSTORE", "su", "s1", "s2set"],
            &["SMOVE", "s1", "s2set", "x"],
            &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"],
            &["RENAME", "a", "renamed"],
            &["COPY", "b", "copied"],
            &["DEL", "c", "d", "nothing"],
            &["SET", "n", "10"],
            &["INCR", "n"],
            &["SELECT", "1"],
            &["SET", "in1", "v"],
            &["DEBUG", "POPULATE", "20", "pop"],
            &["FLUSHDB"],
            &["SET", "after-flush", "v"],
            &["SWAPDB", "1", "2"],
            &["SELECT", "0"],
            &["SET", "tmp", "v", "PX", "30"],
        ] {
            let reply = c.cmd(args);
            assert!(!reply.starts_with(b"-"), "{args:?}: {}", escape(&reply));
        }
        assert_reply!(blocked.read_reply(), bulk_array(&["queue", "job1"]));
        // A key that expires (actively or lazily) is logged as deleted.
        poll_until(|| (c.cmd(&["EXISTS", "tmp"]) == int(0)).then_some(()));
        let before = dataset(addr);
        assert!(before.len() > 20, "{}", before.len());
        drop((c, blocked));
        server.shutdown();
        // With a different worker count, keys land on other shards.
        for workers in [3, 1, 4] {
            let server = start(&dir, workers, true).unwrap();
            assert_eq!(dataset(server.local_addr()), before, "{workers} workers");
            server.shutdown();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settings_and_info() {
        let dir = temp_dir("info");
        let server = start(&dir, 2, true).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(
            c.cmd(&["CONFIG", "GET", "append*"]),
            bulk_array(&[
                "appendonly",
                "yes",
                "appendfsync",
                "always",
                "appendfilename",
                "appendonly.aof",
                "appenddirname",
                "appendonlydir"
            ])
        );
        assert_reply!(c.cmd(&["CONFIG", "SET", "appendfsync", "everysec"]), OK);
        assert_reply!(
            c.cmd(&["CONFIG", "GET", "appendfsync"]),
            bulk_array(&["appendfsync", "everysec"])
        );
        assert_reply!(
            c.cmd(&["CONFIG", "SET", "appendfsync", "sometimes"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) \
                 must be one of the following: everysec, always, no"
            )
        );
        assert_reply!(
            c.cmd(&["CONFIG", "SET", "appendfilename", "x.aof"]),
            err(
                "ERR CONFIG SET failed (possibly related to argument 'appendfilename') - can't \
                 set immutable config"
            )
        );
        assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
        let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
        let fields: Vec<&str> = info
            .lines()
            .skip_while(|l| !l.starts_with("aof_enabled"))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "aof_enabled",
                "aof_rewrite_in_progress",
                "aof_rewrite_scheduled",
                "aof_last_rewrite_time_sec",
                "aof_current_rewrite_time_sec",
                "aof_last_bgrewrite_status",
                "aof_rewrites",
                "aof_rewrites_consecutive_failures",
                "aof_last_write_status",
                "aof_last_cow_size",
                "module_fork_in_progress",
                "module_fork_last_cow_size",
                "aof_current_size",
                "aof_base_size",
                "aof_pending_rewrite",
                "aof_buffer_length",
                "aof_pending_bio_fsync",
                "aof_delayed_fsync",
            ]
        );
        assert!(info.contains("aof_enabled:1\r\n"), "{info}");
        assert!(info.contains("aof_last_write_status:ok\r\n"), "{info}");
        let size = |info: &str, name: &str| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let base = size(&info, "aof_base_size:");
        // The base of an empty dataset, and `SELECT 0` + `SET k v` in the log.
        assert!(base > 0);
        poll_until(|| {
            let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
            (size(&info, "aof_current_size:") == base + 23 + 27).then_some(())
        });
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn get_int(c: &mut RawConn, key: &str) -> i64 {
        let reply = c.cmd(&["GET", key]);
        if reply == b"$-1\r\n" {
            return 0;
        }
        String::from_utf8(bulk_payload(&reply))
            .unwrap()
            .parse()
            .unwrap()
    }

    fn aof_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn info_field(c: &mut RawConn, name: &str) -> String {
        let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "persistence"]))).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .unwrap_or_else(|| panic!("{name} in {info}"))
            .to_owned()
    }

    /// `BGREWRITEAOF` while clients write: the server keeps serving, the files become one
    /// base and one new log, and a restart gives exactly the data that was there.
    #[test]
    fn bgrewriteaof_while_clients_write_keeps_every_write() {
        let dir = temp_dir("rewrite");
        let server = start(&dir, 3, true).unwrap();
        let addr = server.local_addr();
        let mut c = RawConn::connect(addr);
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "5000", "base", "20"]), OK);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|i| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut c = RawConn::connect(addr);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        assert_reply!(
                            c.cmd(&["SET", &format!("w{i}:{}", n % 500), &n.to_string()]),
                            OK
                        );
                        assert_eq!(c.cmd(&["INCR", &format!("n{i}")]), int(n as i64));
                        let (a, b) = on_each_shard("x", n as usize % 50);
                        assert_reply!(c.cmd(&["MSET", &a, &n.to_string(), &b, &n.to_string()]), OK);
                    }
                    n
                })
            })
            .collect();
        poll_until(|| (get_int(&mut c, "n0") > 50).then_some(()));
        assert_reply!(
            c.cmd(&["BGREWRITEAOF"]),
            b"+Background append only file rewriting started\r\n"
        );
        let again = c.cmd(&["BGREWRITEAOF"]);
        assert!(
            again == err("ERR Background append only file rewriting already in progress")
                || again == b"+Background append only file rewriting started\r\n",
            "{}",
            escape(&again)
        );
        poll_until(|| (info_field(&mut c, "aof_rewrite_in_progress") == "0").then_some(()));
        let rewrites: u64 = info_field(&mut c, "aof_rewrites").parse().unwrap();
        assert!(rewrites >= 1);
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        // Writes went on during the rewrite and after it.
        let seen = get_int(&mut c, "n0");
        poll_until(|| (get_int(&mut c, "n0") > seen + 20).then_some(()));
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let seq = rewrites + 1;
        assert_eq!(
            aof_files(&dir),
            [
                format!("appendonly.aof.{seq}.base.rdb"),
                format!("appendonly.aof.{seq}.incr.aof"),
                "appendonly.aof.manifest".to_owned()
            ]
        );
        let before = dataset(addr);
        drop(c);
        server.shutdown();
        let server = start(&dir, 2, true).unwrap();
        assert_eq!(dataset(server.local_addr()), before);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Saves during a rewrite answer as Redis 7.0.15 does: `BGSAVE` refuses with its own
    /// text, `BGSAVE SCHEDULE` is queued behind the rewrite and then runs, `SAVE` saves beside
    /// it; and `BGREWRITEAOF` during a `BGSAVE` is scheduled. The commands go in one write
    /// right behind `BGREWRITEAOF`, so the rewrite of 100,000 keys (a cut, a base file, two
    /// fsyncs) is still running when they are read.
    #[test]
    fn saves_during_a_rewrite_answer_as_redis() {
        let dir = temp_dir("save-during-rewrite");
        let server = start(&dir, 3, true).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["DEBUG", "POPULATE", "100000", "k", "10"]), OK);
        let mut batch = Vec::new();
        for cmd in [
            &["BGREWRITEAOF"][..],
            &["BGSAVE"],
            &["BGSAVE", "SCHEDULE"],
            &["BGREWRITEAOF"],
            &["SAVE"],
        ] {
            batch.extend(encode_command(cmd));
        }
        c.send(&batch);
        assert_reply!(
            c.read_reply(),
            b"+Background append only file rewriting started\r\n"
        );
        assert_reply!(
            c.read_reply(),
            err(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use \
                 BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
            )
        );
        assert_reply!(c.read_reply(), b"+Background saving scheduled\r\n");
        assert_reply!(
            c.read_reply(),
            err("ERR Background append only file rewriting already in progress")
        );
        assert_reply!(c.read_reply(), OK);
        // The scheduled BGSAVE runs once the rewrite has ended: SAVE and it make two saves.
        poll_until(|| {
            (info_field(&mut c, "aof_rewrite_in_progress") == "0"
                && info_field(&mut c, "rdb_bgsave_in_progress") == "0"
                && info_field(&mut c, "rdb_saves") == "2")
                .then_some(())
        });
        assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        // The other way round: a rewrite asked for during a BGSAVE waits for it.
        c.send(
            &[
                encode_command(&["BGSAVE"]),
                encode_command(&["BGREWRITEAOF"]),
            ]
            .concat(),
        );
        assert_reply!(c.read_reply(), b"+Background saving started\r\n");
        assert_reply!(
            c.read_reply(),
            b"+Background append only file rewriting scheduled\r\n"
        );
        poll_until(|| {
            (info_field(&mut c, "aof_rewrites") == "2"
                && info_field(&mut c, "aof_rewrite_scheduled") == "0"
                && info_field(&mut c, "aof_rewrite_in_progress") == "0")
                .then_some(())
        });
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `CONFIG SET appendonly yes` writes a base of what is there and logs from then on; `no`
    /// stops logging.
    #[test]
    fn config_set_appendonly_turns_the_log_on_and_off() {
        let dir = temp_dir("config-on");
        let server = kvd::Server::start(kvd::Config {
            dir: dir.clone(),
            ..kvd::Config::for_tests()
        })
        .unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(c.cmd(&["SET", "before", "1"]), OK);
        assert_eq!(info_field(&mut c, "aof_enabled"), "0");
        assert_reply!(c.cmd(&["CONFIG", "SET", "appendonly", "yes"]), OK);
        poll_until(|| (info_field(&mut c, "aof_rewrites") == "1").then_some(()));
        assert_eq!(info_field(&mut c, "aof_enabled"), "1");
        assert_reply!(c.cmd(&["SET", "after", "2"]), OK);
        assert_reply!(c.cmd(&["CONFIG", "SET", "appendonly", "no"]), OK);
        assert_reply!(c.cmd(&["SET", "unlogged", "3"]), OK);
        drop(c);
        server.shutdown();
        let server = start(&dir, 2, true).unwrap();
        let mut c = RawConn::connect(server.local_addr());
        assert_reply!(
            c.cmd(&["MGET", "before", "after", "unlogged"]),
            b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
        );
        drop(c);
        server.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
