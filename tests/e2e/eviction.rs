//! `maxmemory` and eviction: every policy keeps `used_memory` within the limit while clients
//! write ten times as much, the policies pick the keys they should, `noeviction` refuses
//! writes with Redis's error and loses nothing, `evicted` events, `OBJECT FREQ`/`IDLETIME`,
//! `MEMORY USAGE`/`STATS`.
//!
//! All of it passes against redis-server 7.0.15 too, except that Redis may overshoot the
//! limit by what one command adds (it evicts before a command, never after), so the strict
//! bound is asserted for kvd only.

use std::thread;

use kvd_tests::*;

const MAXMEMORY: u64 = 4 * 1024 * 1024;
const VALUE: usize = 1000;

fn private_server() -> TestServer {
    TestServer::with(ServerOptions {
        private: true,
        ..ServerOptions::default()
    })
}

/// `used_memory` from `INFO memory`.
fn used_memory(c: &mut RawConn) -> u64 {
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "memory"]))).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory in INFO memory")
}

/// A field of `INFO stats`.
fn stat(c: &mut RawConn, name: &str) -> u64 {
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "stats"]))).unwrap();
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .expect("field in INFO stats")
}

fn configure(c: &mut RawConn, policy: &str) {
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]), OK);
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory", &MAXMEMORY.to_string()]),
        OK
    );
}

/// Sends `SET` for every key in `keys` (with `EX ttl` if given) pipelined in batches of 100,
/// returning the replies.
fn set_all(c: &mut RawConn, keys: &[String], ttl: Option<u64>) -> Vec<Vec<u8>> {
    let value = "v".repeat(VALUE);
    let ttl = ttl.map(|t| t.to_string());
    let mut replies = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let mut buf = Vec::new();
        for k in chunk {
            let mut args = vec!["SET", k.as_str(), value.as_str()];
            if let Some(t) = &ttl {
                args.extend(["EX", t.as_str()]);
            }
            buf.extend(encode_command(&args));
        }
        c.send(&buf);
        for _ in chunk {
            replies.push(c.read_reply());
        }
    }
    replies
}

/// How many of `keys` exist (one pipelined `EXISTS` per key).
fn count_existing(c: &mut RawConn, keys: &[String]) -> usize {
    let mut n = 0;
    for chunk in keys.chunks(100) {
        let mut buf = Vec::new();
        for k in chunk {
            buf.extend(encode_command(&["EXISTS", k.as_str()]));
        }
        c.send(&buf);
        for _ in chunk {
            n += as_int(&c.read_reply()) as usize;
        }
    }
    n
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

/// Four clients write ten times `maxmemory` while a fifth watches `used_memory`; returns the
/// highest figure seen and the replies' count of `OK`.
fn write_ten_times(server: &TestServer, ttl: Option<u64>) -> u64 {
    let per_client = (MAXMEMORY as usize * 10 / VALUE).div_ceil(4);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = server.conn();
            thread::spawn(move || {
                let replies = set_all(&mut c, &keys(&format!("w{w}"), per_client), ttl);
                for r in replies {
                    assert_reply!(r, OK);
                }
            })
        })
        .collect();
    let mut watcher = server.conn();
    let mut highest = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        highest = highest.max(used_memory(&mut watcher));
    }
    for w in writers {
        w.join().expect("writer");
    }
    highest.max(used_memory(&mut watcher))
}

fn check_bound(server: &TestServer, highest: u64) {
    if server.is_kvd() {
        assert!(
            highest <= MAXMEMORY,
            "used_memory reached {highest} > maxmemory {MAXMEMORY}"
        );
    } else {
        // Redis evicts before each command only: one command's worth of overshoot.
        assert!(highest <= MAXMEMORY + 64 * 1024, "{highest}");
    }
}

#[test]
fn allkeys_policies_stay_within_maxmemory_under_four_writers() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let server = private_server();
        let mut c = server.conn();
        configure(&mut c, policy);
        let highest = write_ten_times(&server, None);
        check_bound(&server, highest);
        let evicted = stat(&mut c, "evicted_keys");
        let kept = as_int(&c.cmd(&["DBSIZE"])) as u64;
        assert!(
            evicted > 0 && kept > 0,
            "{policy}: {evicted} evicted, {kept} kept"
        );
        assert_eq!(
            evicted + kept,
            (MAXMEMORY * 10 / VALUE as u64).div_ceil(4) * 4,
            "{policy}: every key written is either kept or evicted"
        );
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let server = private_server();
        let mut c = server.conn();
        let persistent = keys("keep", 300);
        configure(&mut c, policy);
        for r in set_all(&mut c, &persistent, None) {
            assert_reply!(r, OK);
        }
        let highest = write_ten_times(&server, Some(10_000));
        check_bound(&server, highest);
        assert_eq!(
            count_existing(&mut c, &persistent),
            persistent.len(),
            "{policy} evicted a key without a TTL"
        );
        assert!(stat(&mut c, "evicted_keys") > 0, "{policy}");
    }
}

#[test]
fn volatile_policy_without_volatile_keys_refuses_writes() {
    let server = private_server();
    let mut c = server.conn();
    configure(&mut c, "volatile-lru");
    let replies = set_all(&mut c, &keys("k", 8000), None);
    let oom = err("OOM command not allowed when used memory > 'maxmemory'.");
    let stored = replies.iter().take_while(|r| r.as_slice() == OK).count();
    assert!(stored > 0 && stored < 8000, "{stored}");
    assert_reply!(replies[stored], oom);
    assert_eq!(stat(&mut c, "evicted_keys"), 0);
}

#[test]
fn noeviction_refuses_writes_and_loses_nothing() {
    let server = private_server();
    let mut c = server.conn();
    configure(&mut c, "noeviction");
    let all = keys("k", 8000);
    let replies = set_all(&mut c, &all, None);
    let oom = err("OOM command not allowed when used memory > 'maxmemory'.");
    let stored: Vec<String> = all
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.as_slice() == OK)
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!stored.is_empty() && stored.len() < all.len());
    assert!(replies.iter().all(|r| r.as_slice() == OK || *r == oom));
    // Every acknowledged write is still there, byte for byte.
    assert_eq!(count_existing(&mut c, &stored), stored.len());
    assert_reply!(c.cmd(&["DBSIZE"]), int(stored.len() as i64));
    assert_reply!(c.cmd(&["STRLEN", &stored[0]]), int(VALUE as i64));
    // Reads and deletions still work; other denyoom commands are refused too.
    assert_reply!(c.cmd(&["GET", &stored[1]]), bulk("v".repeat(VALUE)));
    assert_reply!(c.cmd(&["RPUSH", "list", "x"]), oom);
    assert_reply!(c.cmd(&["INCR", "counter"]), oom);
    assert_reply!(c.cmd(&["EXPIRE", &stored[2], "100"]), int(1));
    // Writes spanning shards, and anything queued in MULTI, are refused as well (and the
    // transaction is discarded).
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2"]), oom);
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SET", "a", "1"]), oom);
    assert_reply!(c.cmd(&["GET", "a"]), oom);
    assert_reply!(
        c.cmd(&["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_reply!(c.cmd(&["SETNX", "a", "1"]), oom);
    assert_reply!(c.cmd(&["DEL", &stored[0]]), int(1));
    assert_eq!(stat(&mut c, "evicted_keys"), 0);
    // Raising the limit lets writes through again.
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), OK);
    assert_reply!(c.cmd(&["RPUSH", "list", "x"]), int(1));
}

#[test]
fn exec_is_refused_when_memory_filled_after_queueing() {
    let server = private_server();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
        OK
    );
    assert_reply!(c.cmd(&["SET", "seen", "1"]), OK);
    let (mut writer, mut reader) = (server.conn(), server.conn());
    assert_reply!(writer.cmd(&["WATCH", "seen"]), OK);
    assert_reply!(writer.cmd(&["MULTI"]), OK);
    assert_reply!(writer.cmd(&["SET", "a", "1"]), b"+QUEUED\r\n");
    assert_reply!(writer.cmd(&["GET", "a"]), b"+QUEUED\r\n");
    assert_reply!(reader.cmd(&["MULTI"]), OK);
    assert_reply!(reader.cmd(&["GET", "seen"]), b"+QUEUED\r\n");
    // Memory fills up after the commands were queued.
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "1"]), OK);
    let oom = err("OOM command not allowed when used memory > 'maxmemory'.");
    poll_until(|| (c.cmd(&["SET", "b", "1"]) == oom).then_some(()));
    // Redis refuses EXEC as a whole and discards the transaction (and its watches).
    assert_reply!(
        writer.cmd(&["EXEC"]),
        err(
            "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'."
        )
    );
    assert_reply!(writer.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_reply!(writer.cmd(&["GET", "a"]), NIL);
    // A transaction of reads still runs.
    assert_reply!(reader.cmd(&["EXEC"]), b"*1\r\n$1\r\n1\r\n");
    // Once there is room again, every queued write runs.
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "0"]), OK);
    assert_reply!(writer.cmd(&["MULTI"]), OK);
    assert_reply!(writer.cmd(&["SET", "a", "1"]), b"+QUEUED\r\n");
    assert_reply!(writer.cmd(&["INCR", "n"]), b"+QUEUED\r\n");
    assert_reply!(writer.cmd(&["EXEC"]), b"*2\r\n+OK\r\n:1\r\n");
}

/// Fills most of the memory with `old` keys, makes half of them "hot" with `touch`, then
/// writes enough `new` keys to evict fewer keys than there are cold ones. Returns the
/// survivors among the hot and the cold keys.
fn hot_and_cold(
    server: &TestServer,
    policy: &str,
    touch: impl Fn(&mut RawConn, &[String]),
) -> (usize, usize) {
    let mut c = server.conn();
    configure(&mut c, policy);
    let old = keys("old", 2000);
    for r in set_all(&mut c, &old, None) {
        assert_reply!(r, OK);
    }
    let (hot, cold) = old.split_at(1000);
    touch(&mut c, hot);
    set_all(&mut c, &keys("new", 1200), None);
    assert!(stat(&mut c, "evicted_keys") > 0);
    (count_existing(&mut c, hot), count_existing(&mut c, cold))
}

fn get_all(c: &mut RawConn, keys: &[String], times: usize) {
    for _ in 0..times {
        for chunk in keys.chunks(100) {
            let mut buf = Vec::new();
            for k in chunk {
                buf.extend(encode_command(&["GET", k.as_str()]));
            }
            c.send(&buf);
            for _ in chunk {
                c.read_reply();
            }
        }
    }
}

#[test]
fn lru_keeps_recently_read_keys() {
    let server = private_server();
    // Sampling picks the idlest of a few random keys: near the end, when few cold keys are
    // left, 5 samples often hold none and a hot key goes instead. With 5 samples about 65 of
    // 1000 hot keys went, and about 115 when the writes were spread out in time (as on a
    // loaded machine; about 45 more keys get evicted then), against a bound of about 137.
    // 10 samples, as Redis advises for a closer LRU, lose about 25 (about 42 spread out), and
    // the bound below still holds the policy to "mostly cold".
    assert_reply!(
        server
            .conn()
            .cmd(&["CONFIG", "SET", "maxmemory-samples", "10"]),
        OK
    );
    let (hot, cold) = hot_and_cold(&server, "allkeys-lru", |c, hot| {
        // The access clock must move on (Redis's ticks in seconds) before the reads count.
        poll_until(|| (as_int(&c.cmd(&["OBJECT", "IDLETIME", "old:1999"])) >= 1).then_some(()));
        get_all(c, hot, 1);
    });
    assert_mostly_cold_evicted(hot, cold);
}

/// Sampling only approximates the policy: most, not all, of the evicted keys are cold ones.
fn assert_mostly_cold_evicted(hot: usize, cold: usize) {
    let (hot_lost, cold_lost) = (1000 - hot, 1000 - cold);
    assert!(
        cold_lost >= 100 && cold_lost >= 5 * hot_lost,
        "hot kept {hot}, cold kept {cold}"
    );
}

#[test]
fn lfu_keeps_frequently_read_keys() {
    let server = private_server();
    let (hot, cold) = hot_and_cold(&server, "allkeys-lfu", |c, hot| get_all(c, hot, 3));
    assert_mostly_cold_evicted(hot, cold);
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let server = private_server();
    let mut c = server.conn();
    configure(&mut c, "volatile-ttl");
    let (soon, late) = (keys("soon", 1000), keys("late", 1000));
    set_all(&mut c, &soon, Some(1_000));
    set_all(&mut c, &late, Some(100_000));
    set_all(&mut c, &keys("new", 1200), Some(50_000));
    let (soon, late) = (count_existing(&mut c, &soon), count_existing(&mut c, &late));
    assert_mostly_cold_evicted(late, soon);
}

#[test]
fn evicted_keys_are_notified() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ee"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]),
        b"*3\r\n$9\r\nsubscribe\r\n$22\r\n__keyevent@0__:evicted\r\n:1\r\n"
    );
    configure(&mut c, "allkeys-random");
    set_all(&mut c, &keys("k", 6000), None);
    let evicted = stat(&mut c, "evicted_keys");
    assert!(evicted > 0);
    // One message per evicted key, naming it; the key is gone.
    for _ in 0..evicted {
        let msg = bulk_items(&sub.read_reply());
        assert_eq!(msg[0], b"message");
        assert_eq!(msg[1], b"__keyevent@0__:evicted");
        let key = String::from_utf8(msg[2].clone()).unwrap();
        assert!(key.starts_with("k:"), "{key}");
    }
    sub.expect_silence(std::time::Duration::from_millis(50));
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let server = private_server();
    let mut c = server.conn();
    let lfu_not_selected = err(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please \
         note that when switching between policies at runtime LRU and LFU data will take some \
         time to adjust.",
    );
    let lfu_selected = err(
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when \
         switching between policies at runtime LRU and LFU data will take some time to adjust.",
    );
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "k"]), lfu_not_selected);
    assert_reply!(c.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "volatile-lfu"]),
        OK
    );
    assert_reply!(c.cmd(&["OBJECT", "IDLETIME", "k"]), lfu_selected);
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "missing"]), NIL);
    // A new key starts at 5; the first access always counts, OBJECT FREQ does not.
    assert_reply!(c.cmd(&["SET", "n", "v"]), OK);
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "n"]), int(5));
    assert_reply!(c.cmd(&["GET", "n"]), bulk("v"));
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "n"]), int(6));
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "n"]), int(6));
    // With a log factor of 0 every access counts.
    assert_reply!(c.cmd(&["CONFIG", "SET", "lfu-log-factor", "0"]), OK);
    get_all(&mut c, &["n".to_owned()], 10);
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "n"]), int(16));
    // RESTORE takes FREQ under an LFU policy.
    let dump = bulk_payload(&c.cmd(&["DUMP", "n"]));
    assert_reply!(
        c.cmd(&[b"RESTORE".as_slice(), b"r", b"0", &dump, b"FREQ", b"100"]),
        OK
    );
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "r"]), int(100));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]),
        OK
    );
    assert_reply!(c.cmd(&["OBJECT", "FREQ", "n"]), lfu_not_selected);
}

#[test]
fn eviction_settings_in_config() {
    let server = private_server();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        bulk_array(&["maxmemory-policy", "noeviction"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory-samples"]),
        bulk_array(&["maxmemory-samples", "5"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "lfu-log-factor"]),
        bulk_array(&["lfu-log-factor", "10"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "lfu-decay-time"]),
        bulk_array(&["lfu-decay-time", "1"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LRU"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "maxmemory-policy"]),
        bulk_array(&["maxmemory-policy", "allkeys-lru"])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "lru"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - \
             argument(s) must be one of the following: volatile-lru, volatile-lfu, \
             volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        )
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-samples", "0"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - \
             argument must be between 1 and 2147483647 inclusive"
        )
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "lfu-decay-time", "-1"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'lfu-decay-time') - \
             argument must be between 0 and 2147483647 inclusive"
        )
    );
    assert_reply!(c.cmd(&["CONFIG", "SET", "maxmemory", "3mb"]), OK);
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "memory"]))).unwrap();
    assert!(info.contains("\r\nmaxmemory:3145728\r\n"), "{info}");
    assert!(info.contains("\r\nmaxmemory_human:3.00M\r\n"), "{info}");
    assert!(
        info.contains("\r\nmaxmemory_policy:allkeys-lru\r\n"),
        "{info}"
    );
}

#[test]
fn lowering_maxmemory_evicts_without_further_writes() {
    let server = private_server();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]),
        OK
    );
    set_all(&mut c, &keys("k", 3000), None);
    assert_reply!(c.cmd(&["DBSIZE"]), int(3000));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "maxmemory", &MAXMEMORY.to_string()]),
        OK
    );
    // Only reads from here on: the shards' timers bring memory under the new limit.
    poll_until(|| (used_memory(&mut c) <= MAXMEMORY).then_some(()));
    assert!(stat(&mut c, "evicted_keys") > 0);
}

#[test]
fn memory_usage_and_its_arguments() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "big", &"x".repeat(VALUE)]), OK);
    let usage = as_int(&c.cmd(&["MEMORY", "USAGE", "big"]));
    // The value, its key and metadata, rounded up to the allocator's size class (Redis
    // says 1072 for this key).
    assert!(
        (VALUE as i64..VALUE as i64 * 5 / 4).contains(&usage),
        "{usage}"
    );
    assert_reply!(
        c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "0"]),
        int(usage)
    );
    assert_reply!(c.cmd(&["MEMORY", "USAGE", "missing"]), NIL);
    assert_reply!(
        c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "-1"]),
        err("ERR syntax error")
    );
    assert_reply!(
        c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_reply!(
        c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES"]),
        err("ERR syntax error")
    );
    assert_reply!(
        c.cmd(&["MEMORY", "USAGE"]),
        err("ERR wrong number of arguments for 'memory|usage' command")
    );
    assert_reply!(
        c.cmd(&["MEMORY"]),
        err("ERR wrong number of arguments for 'memory' command")
    );
    assert_reply!(
        c.cmd(&["MEMORY", "foo"]),
        err("ERR unknown subcommand 'foo'. Try MEMORY HELP.")
    );
    // A hash of 1000 fields costs at least its fields and values.
    let mut buf = Vec::new();
    for i in 0..1000 {
        buf.extend(encode_command(&[
            "HSET",
            "h",
            &format!("field:{i}"),
            "value",
        ]));
    }
    c.send(&buf);
    for _ in 0..1000 {
        c.read_reply();
    }
    let usage = as_int(&c.cmd(&["MEMORY", "USAGE", "h"]));
    assert!((1000 * 14..1000 * 200).contains(&usage), "{usage}");
}

#[test]
fn memory_help_doctor_purge_and_stats() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(
        c.cmd(&["MEMORY", "HELP"]),
        b"*14\r\n+MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
          +DOCTOR\r\n+    Return memory problems reports.\r\n+MALLOC-STATS\r\n\
          +    Return internal statistics report from the memory allocator.\r\n+PURGE\r\n\
          +    Attempt to purge dirty pages for reclamation by the allocator.\r\n+STATS\r\n\
          +    Return information about the memory usage of the server.\r\n\
          +USAGE <key> [SAMPLES <count>]\r\n\
          +    Return memory in bytes used by <key> and its value. Nested values are\r\n\
          +    sampled up to <count> times (default: 5, 0 means sample all).\r\n\
          +HELP\r\n+    Prints this help.\r\n"
    );
    assert_reply!(c.cmd(&["MEMORY", "PURGE"]), OK);
    assert_reply!(
        c.cmd(&["MEMORY", "DOCTOR"]),
        bulk(
            "Hi Sam, this instance is empty or is using very little memory, my issues detector \
             can't be used in these conditions. Please, leave for your mission on Earth and \
             fill it with some data. The new Sam and I will be back to our programming as soon \
             as I finished rebooting.\n"
        )
    );
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    let stats = c.cmd(&["MEMORY", "STATS"]);
    let items = array_elements(&stats);
    let names: Vec<String> = items
        .iter()
        .step_by(2)
        .map(|i| String::from_utf8(bulk_payload(i)).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "peak.allocated",
            "total.allocated",
            "startup.allocated",
            "replication.backlog",
            "clients.slaves",
            "clients.normal",
            "cluster.links",
            "aof.buffer",
            "lua.caches",
            "functions.caches",
            "db.0",
            "overhead.total",
            "keys.count",
            "keys.bytes-per-key",
            "dataset.bytes",
            "dataset.percentage",
            "peak.percentage",
            "allocator.allocated",
            "allocator.active",
            "allocator.resident",
            "allocator-fragmentation.ratio",
            "allocator-fragmentation.bytes",
            "allocator-rss.ratio",
            "allocator-rss.bytes",
            "rss-overhead.ratio",
            "rss-overhead.bytes",
            "fragmentation",
            "fragmentation.bytes",
        ]
    );
    assert_reply!(items[25], int(1));
    // INFO memory splits used_memory into overhead and dataset, as Redis does.
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "memory"]))).unwrap();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {info}"))
    };
    assert_eq!(
        field("used_memory"),
        field("used_memory_overhead") + field("used_memory_dataset")
    );
    for name in [
        "used_memory_human",
        "used_memory_peak_perc",
        "used_memory_dataset_perc",
        "maxmemory_human",
        "maxmemory_policy",
        "mem_fragmentation_ratio",
        "mem_fragmentation_bytes",
    ] {
        assert!(info.contains(&format!("\r\n{name}:")), "{name} in {info}");
    }
    let db0 = &items[21];
    assert!(db0.starts_with(b"*6\r\n$23\r\noverhead.hashtable.main\r\n:"));
}
