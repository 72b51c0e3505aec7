//! `MEMORY DOCTOR|HELP|MALLOC-STATS|PURGE|STATS`, answered from the shards' published memory
//! figures. `MEMORY USAGE key` runs on the key's shard.
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use resp_codec::{
    write_array_len, write_bulk, write_double, write_error, write_integer, write_map_len,
    write_simple, write_verbatim,
};

use crate::conn::ClientState;
use crate::shared::Shared;

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Below this, Redis's doctor declines to judge.
const DOCTOR_MIN: u64 = 5 * 1024 * 1024;

/// `used_memory` as `INFO memory` reports it, and its peak (updated here as there).
pub(crate) fn used_and_peak(shared: &Shared) -> (u64, u64) {
    let used = shared
        .workers
        .iter()
        .map(|w| w.stats().used_memory())
        .sum::<u64>()
        .max(1);
    let peak = shared
        .memory_peak
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    (used, peak)
}

/// # Format
/// `MEMORY DOCTOR | HELP | MALLOC-STATS | PURGE | STATS` (arity checked by the router).
pub(crate) fn memory(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    let proto = state.proto;
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            write_array_len(out, HELP.len());
            for line in HELP {
                write_simple(out, line.as_bytes());
            }
        }
        b"doctor" => {
            let (used, _) = used_and_peak(shared);
            let text: &[u8] = if used < DOCTOR_MIN {
                b"Hi Sam, this instance is empty or is using very little memory, my issues \
                  detector can't be used in these conditions. Please, leave for your mission on \
                  Earth and fill it with some data. The new Sam and I will be back to our \
                  programming as soon as I finished rebooting.\n"
            } else {
                b"Hi Sam, I can't find any memory issue in your instance. I can only account for \
                  what occurs on this base.\n"
            };
            write_verbatim(out, *b"txt", text, proto);
        }
        // What Redis answers when built without jemalloc, as kvd is.
        b"malloc-stats" => write_bulk(out, b"Stats not supported for the current allocator"),
        b"purge" => write_simple(out, b"OK"),
        b"stats" => stats(shared, proto, out),
        _ => write_error(
            out,
            format!(
                "ERR unknown subcommand '{}'. Try MEMORY HELP.",
                String::from_utf8_lossy(&args[1])
            )
            .as_bytes(),
        ),
    }
}

/// `MEMORY STATS`: Redis's fields in Redis's order and types (ratios are C floats printed as
/// doubles). kvd's `used_memory` counts the data and its tables, so the startup figure is 0
/// and the allocator fields repeat `used_memory` and the resident set size.
fn stats(shared: &Shared, proto: resp_codec::Protocol, out: &mut BytesMut) {
    let workers = &shared.workers;
    let (used, peak) = used_and_peak(shared);
    let rss = crate::info::rss_bytes();
    let databases = workers.first().map_or(0, |w| w.stats().databases());
    let mut dbs = Vec::new();
    let (mut keys, mut overhead) = (0u64, 0u64);
    for db in 0..databases {
        let n: u64 = workers.iter().map(|w| w.stats().keys(db)).sum();
        let o: u64 = workers.iter().map(|w| w.stats().overhead(db)).sum();
        keys += n;
        overhead += o;
        if n > 0 {
            dbs.push((db, o));
        }
    }
    let dataset = used.saturating_sub(overhead);
    let int = |out: &mut BytesMut, name: &str, v: u64| {
        write_bulk(out, name.as_bytes());
        write_integer(out, v as i64);
    };
    let ratio = |out: &mut BytesMut, name: &str, v: f64| {
        write_bulk(out, name.as_bytes());
        write_double(out, f64::from(v as f32), proto);
    };
    write_map_len(out, 27 + dbs.len(), proto);
    int(out, "peak.allocated", peak);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", 0);
    for name in [
        "replication.backlog",
        "clients.slaves",
        "clients.normal",
        "cluster.links",
        "aof.buffer",
        "lua.caches",
        "functions.caches",
    ] {
        int(out, name, 0);
    }
    for (db, o) in dbs {
        write_bulk(out, format!("db.{db}").as_bytes());
        write_map_len(out, 3, proto);
        int(out, "overhead.hashtable.main", o);
        int(out, "overhead.hashtable.expires", 0);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys);
    int(
        out,
        "keys.bytes-per-key",
        used.checked_div(keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", dataset);
    ratio(
        out,
        "dataset.percentage",
        dataset as f64 * 100.0 / used as f64,
    );
    ratio(out, "peak.percentage", used as f64 * 100.0 / peak as f64);
    int(out, "allocator.allocated", used);
    int(out, "allocator.active", used);
    int(out, "allocator.resident", rss);
    ratio(out, "allocator-fragmentation.ratio", 1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    ratio(out, "allocator-rss.ratio", rss as f64 / used as f64);
    int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    ratio(out, "rss-overhead.ratio", 1.0);
    int(out, "rss-overhead.bytes", 0);
    ratio(out, "fragmentation", rss as f64 / used as f64);
    int(out, "fragmentation.bytes", rss.saturating_sub(used));
}
