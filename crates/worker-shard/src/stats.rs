//! Counters a worker publishes for `INFO` and `DBSIZE`-style reads from other threads.
//!
//! Workers update them with relaxed atomics at most once per batch (not per command), so the
//! fast path pays nothing measurable; readers get values that are at most one batch old.
use std::sync::atomic::{AtomicU64, Ordering};

use crate::command::ALL_SPECS;
use crate::shard::Shard;

/// Statistics of one shard, shared with the IO layer through [`crate::WorkerHandle::stats`].
#[derive(Debug)]
pub struct ShardStats {
    keys: Box<[AtomicU64]>,
    expires: Box<[AtomicU64]>,
    avg_ttl: Box<[AtomicU64]>,
    overhead: Box<[AtomicU64]>,
    used_memory: AtomicU64,
    expired_keys: AtomicU64,
    evicted_keys: AtomicU64,
    keyspace_hits: AtomicU64,
    keyspace_misses: AtomicU64,
    commands_processed: AtomicU64,
    /// Writes executed since start (never reset), for `rdb_changes_since_last_save`.
    dirty: AtomicU64,
    /// Indexed by the command's position in the flattened command table.
    commands: Box<[CommandCounters]>,
}

#[derive(Debug, Default)]
struct CommandCounters {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected_calls: AtomicU64,
    failed_calls: AtomicU64,
}

/// Calls and time of one command on one shard, for `INFO commandstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStat {
    /// Lowercase command name (`config|get` style for subcommands).
    pub name: &'static str,
    /// Times it ran.
    pub calls: u64,
    /// Total microseconds spent running it.
    pub usec: u64,
    /// Times it was rejected before running (e.g. arity).
    pub rejected_calls: u64,
    /// Times it ran and replied with an error.
    pub failed_calls: u64,
}

impl ShardStats {
    /// Zeroed statistics for a shard with `databases` databases.
    pub fn new(databases: usize) -> ShardStats {
        let zeros = || (0..databases).map(|_| AtomicU64::new(0)).collect();
        ShardStats {
            keys: zeros(),
            expires: zeros(),
            avg_ttl: zeros(),
            overhead: zeros(),
            used_memory: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            evicted_keys: AtomicU64::new(0),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            dirty: AtomicU64::new(0),
            commands: (0..ALL_SPECS.len())
                .map(|_| CommandCounters::default())
                .collect(),
        }
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.keys.len()
    }

    /// Keys in database `db` on this shard.
    pub fn keys(&self, db: usize) -> u64 {
        self.keys.get(db).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Keys with a time to live in database `db` on this shard.
    pub fn expires(&self, db: usize) -> u64 {
        self.expires
            .get(db)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Average remaining time to live, in milliseconds, of the keys with one in database `db`
    /// on this shard (0 if none). To combine shards, weigh each by [`ShardStats::expires`].
    pub fn avg_ttl(&self, db: usize) -> u64 {
        self.avg_ttl
            .get(db)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Bytes of database `db`'s tables on this shard (included in [`ShardStats::used_memory`]),
    /// for `MEMORY STATS`.
    pub fn overhead(&self, db: usize) -> u64 {
        self.overhead
            .get(db)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Estimated bytes used by this shard's data.
    pub fn used_memory(&self) -> u64 {
        self.used_memory.load(Ordering::Relaxed)
    }

    /// Keys removed because their time to live passed.
    pub fn expired_keys(&self) -> u64 {
        self.expired_keys.load(Ordering::Relaxed)
    }

    /// Keys evicted for `maxmemory`.
    pub fn evicted_keys(&self) -> u64 {
        self.evicted_keys.load(Ordering::Relaxed)
    }

    /// Successful key lookups.
    pub fn keyspace_hits(&self) -> u64 {
        self.keyspace_hits.load(Ordering::Relaxed)
    }

    /// Failed key lookups.
    pub fn keyspace_misses(&self) -> u64 {
        self.keyspace_misses.load(Ordering::Relaxed)
    }

    /// Commands (and parts) executed.
    pub fn commands_processed(&self) -> u64 {
        self.commands_processed.load(Ordering::Relaxed)
    }

    /// Writes executed since the shard started (Redis's `server.dirty`; never reset).
    pub fn dirty(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Per-command statistics, for commands that ran (or were rejected) at least once.
    pub fn command_stats(&self) -> Vec<CommandStat> {
        self.commands
            .iter()
            .zip(ALL_SPECS.iter())
            .filter_map(|(c, spec)| {
                let stat = CommandStat {
                    name: spec.name,
                    calls: c.calls.load(Ordering::Relaxed),
                    usec: c.usec.load(Ordering::Relaxed),
                    rejected_calls: c.rejected_calls.load(Ordering::Relaxed),
                    failed_calls: c.failed_calls.load(Ordering::Relaxed),
                };
                (stat.calls + stat.rejected_calls > 0).then_some(stat)
            })
            .collect()
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets: hits, misses, expired keys, commands
    /// processed and per-command statistics (not key counts or memory).
    pub fn reset(&self) {
        for a in [
            &self.expired_keys,
            &self.evicted_keys,
            &self.keyspace_hits,
            &self.keyspace_misses,
            &self.commands_processed,
        ] {
            a.store(0, Ordering::Relaxed);
        }
        for c in self.commands.iter() {
            for a in [&c.calls, &c.usec, &c.rejected_calls, &c.failed_calls] {
                a.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Publishes the worker's counters: gauges are stored, event counts are added as deltas
    /// (so a concurrent [`ShardStats::reset`] is not undone), and the worker's local counts are
    /// zeroed.
    pub(crate) fn publish(&self, shard: &mut Shard) {
        let mut mem = 0;
        let now = shard.clock.now_ms;
        let mut expired = 0;
        for (i, db) in shard.dbs.iter_mut().enumerate() {
            if let (Some(k), Some(e)) = (self.keys.get(i), self.expires.get(i)) {
                k.store(db.len() as u64, Ordering::Relaxed);
                e.store(db.expires_len() as u64, Ordering::Relaxed);
            }
            if let Some(a) = self.avg_ttl.get(i) {
                a.store(db.avg_ttl(now), Ordering::Relaxed);
            }
            if let Some(a) = self.overhead.get(i) {
                a.store(db.overhead() as u64, Ordering::Relaxed);
            }
            mem += db.mem() as u64;
            expired += db.take_expired();
        }
        self.used_memory.store(mem, Ordering::Relaxed);
        let add = |a: &AtomicU64, n: u64| {
            if n > 0 {
                a.fetch_add(n, Ordering::Relaxed);
            }
        };
        add(&self.expired_keys, expired);
        add(
            &self.evicted_keys,
            std::mem::take(&mut shard.evictor.evicted),
        );
        add(&self.keyspace_hits, std::mem::take(&mut shard.hits));
        add(&self.keyspace_misses, std::mem::take(&mut shard.misses));
        add(
            &self.commands_processed,
            std::mem::take(&mut shard.processed),
        );
        add(&self.dirty, std::mem::take(&mut shard.dirty));
        for id in shard.cmd_dirty.drain(..) {
            let (Some(local), Some(c)) = (shard.cmd_stats.get_mut(id), self.commands.get(id))
            else {
                continue;
            };
            let l = std::mem::take(local);
            local.nanos = l.nanos % 1000;
            add(&c.calls, l.calls);
            add(&c.usec, l.nanos / 1000);
            add(&c.rejected_calls, l.rejected);
            add(&c.failed_calls, l.failed);
        }
    }
}
