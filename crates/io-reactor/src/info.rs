//! `INFO [section ...]`: Redis's section headers and field names, filled from the IO layer's
//! counters, the shards' statistics and the server's configuration.
use std::fmt::Display;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::conn::ClientState;
use crate::local::REDIS_VERSION;
use crate::shared::{Shared, Stats, lock, unix_now};

/// Sections in Redis's order, and whether `INFO` without arguments (`default`) includes them.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("errorstats", true),
    ("cluster", true),
    ("keyspace", true),
    ("commandstats", false),
    ("latencystats", false),
];

pub(crate) fn info(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    let mut wanted = [false; SECTIONS.len()];
    if args.len() == 1 {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w = *default;
        }
    }
    for arg in &args[1..] {
        let arg = arg.to_ascii_lowercase();
        match arg.as_slice() {
            b"default" => {
                for (w, (_, d)) in wanted.iter_mut().zip(SECTIONS) {
                    *w |= *d;
                }
            }
            // `all` is everything but the modules' own sections, of which kvd has none.
            b"all" | b"everything" => wanted = [true; SECTIONS.len()],
            name => {
                if let Some(i) = SECTIONS.iter().position(|(s, _)| s.as_bytes() == name) {
                    wanted[i] = true;
                }
            }
        }
    }
    let mut text = Vec::with_capacity(4096);
    for (i, (name, _)) in SECTIONS.iter().enumerate() {
        if !wanted[i] {
            continue;
        }
        if !text.is_empty() {
            text.extend_from_slice(b"\r\n");
        }
        section(shared, name, &mut text);
    }
    crate::local::write_text(out, &text, state.proto);
}

fn line(out: &mut Vec<u8>, key: &str, value: impl Display) {
    let _ = write!(out, "{key}:{value}\r\n");
}

fn config_value(shared: &Shared, name: &str) -> Option<String> {
    shared
        .hooks
        .config_get(name)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Redis's `bytesToHuman`.
fn human(n: u64) -> String {
    let n = n as f64;
    let units = [
        (1024f64.powi(5), "P"),
        (1024f64.powi(4), "T"),
        (1024f64.powi(3), "G"),
        (1024f64.powi(2), "M"),
        (1024.0, "K"),
    ];
    for (size, unit) in units {
        if n >= size {
            return format!("{:.2}{unit}", n / size);
        }
    }
    format!("{}B", n as u64)
}

pub(crate) fn rss_bytes() -> u64 {
    // The second field of /proc/self/statm is the resident set size in pages; Linux's x86_64 and
    // aarch64 page size is 4 KiB.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn cpu_seconds() -> (f64, f64) {
    // Fields 14 and 15 of /proc/self/stat are user and system time in clock ticks (100 Hz).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(12), ticks(11))
}

/// `instantaneous_ops_per_sec`: commands per second since the previous `INFO` that was at least
/// 100 ms ago (Redis samples every 100 ms; sampling on demand keeps the loops free of timers).
fn ops_per_sec(shared: &Shared) -> u64 {
    let now = Instant::now();
    let total = Stats::load(&shared.stats.total_commands);
    let mut sample = lock(&shared.ops_sample);
    match *sample {
        Some((at, count, rate)) => {
            let secs = now.duration_since(at).as_secs_f64();
            if secs < 0.1 {
                return rate;
            }
            let rate = (total.saturating_sub(count) as f64 / secs) as u64;
            *sample = Some((now, total, rate));
            rate
        }
        None => {
            *sample = Some((now, total, 0));
            0
        }
    }
}

fn section(shared: &Shared, name: &str, out: &mut Vec<u8>) {
    let stats = &shared.stats;
    let workers = &shared.workers;
    match name {
        "server" => {
            out.extend_from_slice(b"# Server\r\n");
            line(out, "redis_version", REDIS_VERSION);
            line(out, "kvd_version", env!("CARGO_PKG_VERSION"));
            line(out, "redis_git_sha1", "00000000");
            line(out, "redis_git_dirty", 0);
            line(out, "redis_build_id", "0");
            line(out, "redis_mode", "standalone");
            line(
                out,
                "os",
                format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            line(out, "arch_bits", usize::BITS);
            line(out, "monotonic_clock", "POSIX clock_gettime");
            line(out, "multiplexing_api", "epoll");
            line(out, "atomicvar_api", "c11-builtin");
            line(out, "process_id", std::process::id());
            line(out, "process_supervised", "no");
            line(out, "run_id", run_id(shared));
            line(
                out,
                "tcp_port",
                config_value(shared, "port").unwrap_or_else(|| "0".into()),
            );
            let (secs, micros) = unix_now();
            line(
                out,
                "server_time_usec",
                secs * 1_000_000 + u64::from(micros),
            );
            let up = shared.started.elapsed().as_secs();
            line(out, "uptime_in_seconds", up);
            line(out, "uptime_in_days", up / 86_400);
            let hz = config_value(shared, "hz").unwrap_or_else(|| "10".into());
            line(out, "hz", &hz);
            line(out, "configured_hz", &hz);
            line(out, "lru_clock", secs & ((1 << 24) - 1));
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            line(out, "executable", exe);
            line(
                out,
                "config_file",
                config_value(shared, "config_file").unwrap_or_default(),
            );
            line(out, "io_threads_active", u8::from(shared.loops.len() > 1));
            line(out, "io_threads", shared.loops.len());
            line(out, "shards", workers.len());
        }
        "clients" => {
            out.extend_from_slice(b"# Clients\r\n");
            line(
                out,
                "connected_clients",
                Stats::load(&stats.connected_clients),
            );
            line(out, "cluster_connections", 0);
            line(
                out,
                "maxclients",
                config_value(shared, "maxclients").unwrap_or_else(|| "10000".into()),
            );
            line(out, "client_recent_max_input_buffer", 0);
            line(out, "client_recent_max_output_buffer", 0);
            line(out, "blocked_clients", Stats::load(&stats.blocked_clients));
            line(out, "tracking_clients", 0);
            line(out, "clients_in_timeout_table", 0);
        }
        "memory" => {
            out.extend_from_slice(b"# Memory\r\n");
            let data: u64 = workers.iter().map(|w| w.stats().used_memory()).sum();
            let rss = rss_bytes();
            let used = data.max(1);
            let peak = shared
                .memory_peak
                .fetch_max(used, Ordering::Relaxed)
                .max(used);
            line(out, "used_memory", used);
            line(out, "used_memory_human", human(used));
            line(out, "used_memory_rss", rss);
            line(out, "used_memory_rss_human", human(rss));
            line(out, "used_memory_peak", peak);
            line(out, "used_memory_peak_human", human(peak));
            line(
                out,
                "used_memory_peak_perc",
                format!("{:.2}%", used as f64 * 100.0 / peak as f64),
            );
            // Redis's overhead is its tables and buffers; kvd's used_memory counts the data
            // and its tables only, so the tables are the overhead and nothing is startup.
            let databases = workers.first().map_or(0, |w| w.stats().databases());
            let overhead: u64 = (0..databases)
                .flat_map(|db| workers.iter().map(move |w| w.stats().overhead(db)))
                .sum();
            let dataset = used.saturating_sub(overhead);
            line(out, "used_memory_overhead", overhead);
            line(out, "used_memory_startup", 0);
            line(out, "used_memory_dataset", dataset);
            line(
                out,
                "used_memory_dataset_perc",
                format!("{:.2}%", dataset as f64 * 100.0 / used as f64),
            );
            let maxmemory = config_value(shared, "maxmemory")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            line(out, "maxmemory", maxmemory);
            line(out, "maxmemory_human", human(maxmemory));
            line(
                out,
                "maxmemory_policy",
                config_value(shared, "maxmemory-policy").unwrap_or_else(|| "noeviction".into()),
            );
            line(
                out,
                "mem_fragmentation_ratio",
                format!("{:.2}", rss as f64 / used as f64),
            );
            line(out, "mem_fragmentation_bytes", rss as i64 - used as i64);
            line(out, "mem_not_counted_for_evict", 0);
            line(out, "mem_allocator", "libc");
            line(out, "lazyfree_pending_objects", 0);
        }
        "persistence" => {
            out.extend_from_slice(b"# Persistence\r\n");
            if let Some(fields) = shared.hooks.persistence_info() {
                for (k, v) in fields {
                    line(out, k, v);
                }
                return;
            }
            line(out, "loading", 0);
            line(out, "async_loading", 0);
            line(out, "rdb_changes_since_last_save", 0);
            line(out, "rdb_bgsave_in_progress", 0);
            line(out, "rdb_last_save_time", shared.started_unix);
            line(out, "rdb_last_bgsave_status", "ok");
            line(out, "rdb_saves", 0);
            line(out, "aof_enabled", 0);
            line(out, "aof_rewrite_in_progress", 0);
            line(out, "aof_last_write_status", "ok");
        }
        "stats" => {
            out.extend_from_slice(b"# Stats\r\n");
            let sum = |f: fn(&worker_shard::ShardStats) -> u64| -> u64 {
                workers.iter().map(|w| f(w.stats())).sum()
            };
            line(
                out,
                "total_connections_received",
                Stats::load(&stats.total_connections),
            );
            line(
                out,
                "total_commands_processed",
                Stats::load(&stats.total_commands),
            );
            line(out, "instantaneous_ops_per_sec", ops_per_sec(shared));
            line(
                out,
                "total_net_input_bytes",
                Stats::load(&stats.net_input_bytes),
            );
            line(
                out,
                "total_net_output_bytes",
                Stats::load(&stats.net_output_bytes),
            );
            line(out, "instantaneous_input_kbps", "0.00");
            line(out, "instantaneous_output_kbps", "0.00");
            line(
                out,
                "rejected_connections",
                Stats::load(&stats.rejected_connections),
            );
            line(out, "expired_keys", sum(|s| s.expired_keys()));
            line(out, "evicted_keys", sum(|s| s.evicted_keys()));
            line(out, "keyspace_hits", sum(|s| s.keyspace_hits()));
            line(out, "keyspace_misses", sum(|s| s.keyspace_misses()));
            let (channels, patterns, shard_channels) = shared.pubsub.sizes();
            line(out, "pubsub_channels", channels);
            line(out, "pubsub_patterns", patterns);
            line(out, "pubsubshard_channels", shard_channels);
            line(out, "total_forks", 0);
        }
        "replication" => {
            out.extend_from_slice(b"# Replication\r\n");
            line(out, "role", "master");
            line(out, "connected_slaves", 0);
            line(out, "master_failover_state", "no-failover");
            line(out, "master_replid", run_id(shared));
            line(out, "master_replid2", "0".repeat(40));
            line(out, "master_repl_offset", 0);
            line(out, "second_repl_offset", -1);
            line(out, "repl_backlog_active", 0);
            line(out, "repl_backlog_size", 1_048_576);
            line(out, "repl_backlog_first_byte_offset", 0);
            line(out, "repl_backlog_histlen", 0);
        }
        "cpu" => {
            out.extend_from_slice(b"# CPU\r\n");
            let (sys, user) = cpu_seconds();
            line(out, "used_cpu_sys", format!("{sys:.6}"));
            line(out, "used_cpu_user", format!("{user:.6}"));
            line(out, "used_cpu_sys_children", "0.000000");
            line(out, "used_cpu_user_children", "0.000000");
        }
        "modules" => out.extend_from_slice(b"# Modules\r\n"),
        "errorstats" => out.extend_from_slice(b"# Errorstats\r\n"),
        "cluster" => {
            out.extend_from_slice(b"# Cluster\r\n");
            line(out, "cluster_enabled", 0);
        }
        "keyspace" => {
            out.extend_from_slice(b"# Keyspace\r\n");
            for db in 0..shared.config.databases {
                let (mut keys, mut expires, mut ttl_weighted) = (0u64, 0u64, 0u128);
                for w in workers {
                    let s = w.stats();
                    let e = s.expires(db);
                    keys += s.keys(db);
                    expires += e;
                    // Each shard reports its own average; weigh it by its keys with a TTL.
                    ttl_weighted += u128::from(s.avg_ttl(db)) * u128::from(e);
                }
                if keys > 0 {
                    let avg_ttl = if expires == 0 {
                        0
                    } else {
                        ttl_weighted / u128::from(expires)
                    };
                    line(
                        out,
                        &format!("db{db}"),
                        format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
                    );
                }
            }
        }
        "commandstats" => {
            out.extend_from_slice(b"# Commandstats\r\n");
            // Merge the shards' tables (a command runs on several shards) with local commands.
            let mut merged: Vec<(&str, u64, u64, u64, u64)> = Vec::new();
            let mut add = |name: &'static str,
                           calls: u64,
                           usec: u64,
                           rejected: u64,
                           failed: u64| {
                match merged.iter_mut().find(|m| m.0 == name) {
                    Some(m) => {
                        m.1 += calls;
                        m.2 += usec;
                        m.3 += rejected;
                        m.4 += failed;
                    }
                    None => merged.push((name, calls, usec, rejected, failed)),
                }
            };
            for w in workers {
                for s in w.stats().command_stats() {
                    add(s.name, s.calls, s.usec, s.rejected_calls, s.failed_calls);
                }
            }
            for (name, calls, usec, failed) in shared.command_stats.snapshot() {
                add(name, calls, usec, 0, failed);
            }
            for (name, calls, usec, rejected, failed) in merged {
                let per_call = if calls == 0 {
                    0.0
                } else {
                    usec as f64 / calls as f64
                };
                line(
                    out,
                    &format!("cmdstat_{name}"),
                    format!(
                        "calls={calls},usec={usec},usec_per_call={per_call:.2},\
                         rejected_calls={rejected},failed_calls={failed}"
                    ),
                );
            }
        }
        "latencystats" => out.extend_from_slice(b"# Latencystats\r\n"),
        _ => {}
    }
}

/// A 40-hex-digit id for this process, stable for its lifetime.
fn run_id(shared: &Shared) -> String {
    let seed = shared.started_unix ^ (u64::from(std::process::id()) << 32);
    let mut x = seed | 1;
    let mut s = String::with_capacity(40);
    while s.len() < 40 {
        // xorshift64: enough to make ids differ between runs.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s.truncate(40);
    s
}
