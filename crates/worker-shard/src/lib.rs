//! The shard workers of kvd: each worker thread alone owns one partition (shard) of the
//! keyspace and executes the commands IO handlers send it, in batches.
//!
//! # Layout
//!
//! * `command.rs` ([`command_table`], [`lookup_command`], [`CommandSpec`]), data in `table.rs`:
//!   every command kvd knows, with Redis 7.0.15's arity, flags, key positions, ACL categories,
//!   group, summary, since, complexity and syntax.
//! * `route.rs` ([`route`], [`check_command`], [`Route`], [`Coordinator`], [`Step`], [`Part`],
//!   [`PartReply`]): validates a request with Redis's exact error texts and decides where it
//!   runs: [`Route::Local`] (the IO layer answers), [`Route::Shard`] (all keys on one shard) or
//!   [`Route::FanOut`].
//! * `coord.rs`: the coordinators of spread commands (MGET, MSET, MSETNX, DEL, UNLINK, EXISTS,
//!   TOUCH, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, RENAME, RENAMENX, COPY,
//!   LCS, DEBUG POPULATE); `parts.rs` executes their parts on a shard.
//! * `txn.rs` ([`exec`], [`watch`], [`unwatch_parts`], [`Queued`]) and `sched.rs`: the
//!   transaction scheduler that makes the multi-key commands and `MULTI`/`EXEC` atomic across
//!   shards (see below).
//! * `worker.rs` ([`WorkerPool`], [`WorkerHandle`], [`ShardConfig`]): one thread per shard, its
//!   inbox and its loop; `message.rs`: the [`Batch`]/[`ReplyBatch`] protocol.
//! * `shard.rs`: the state a worker owns and command dispatch; `cmd_string.rs` and
//!   `cmd_keys.rs`: the commands, one function per command with its `# Format`;
//!   `longdouble.rs`: x87 `long double` emulation so `INCRBYFLOAT` prints Redis's digits.
//! * `keyspace.rs`: one database — 16384 slot maps keyed by Redis Cluster's key slot (which makes
//!   SCAN complete under growth), values, times to live, lazy and active expiry, glob matching.
//! * `notify.rs` ([`NotifyClass`], [`EventSink`]): keyspace notifications (see below).
//! * `stats.rs` ([`ShardStats`], [`CommandStat`]): counters published once per worker pass, for
//!   `INFO` (keyspace with `avg_ttl`, memory, hits and misses, expired keys, commandstats, and
//!   the count of writes behind `rdb_changes_since_last_save`).
//! * `rdb/`: Redis's RDB format as Redis 7.0 writes it (`REDIS0010`, CRC64 trailer) and reads
//!   every older encoding; `cmd_dump.rs`: `DUMP` and `RESTORE` with the same encoder.
//! * `persist.rs` ([`Persistence`], [`PersistConfig`], [`Error`]): snapshots of all shards at
//!   one instant into one RDB file (`SAVE`, `BGSAVE`, the `save` schedule, the final save at
//!   shutdown), written atomically, and loading at start. A snapshot is an all-shard
//!   transaction of the scheduler (see *Snapshots* below); a background one streams its
//!   slices to the writer thread through a bounded queue.
//! * `aof/` ([`AofConfig`], [`AppendFsync`]): the append-only log: effects of writes in RESP,
//!   one file for all shards written by a writer thread with group commit, all-or-nothing
//!   replay of transactions over several shards, loading at start, `BGREWRITEAOF`; its module
//!   docs explain the design and why there is one log rather than one per shard.
//!
//! # The message protocol
//!
//! 1. The IO handler calls [`route`] for each parsed request.
//! 2. For [`Route::Shard`], it adds an [`Op`] with [`OpKind::Command`] to the [`Batch`] it is
//!    building for that shard; for [`Route::FanOut`] it adds the coordinator's
//!    [`Coordinator::start`] parts as [`OpKind::Part`] ops to the batches of their shards.
//! 3. At the end of its loop pass it sends each batch with [`WorkerHandle::send`].
//! 4. The worker executes every op in order and delivers, once per pass and per
//!    [`ReplySink`], one [`ReplyBatch`]: command replies are already RESP-encoded (in the op's
//!    protocol) into [`ReplyBatch::buf`]; part results come back as [`ReplyBody::Part`], to be
//!    fed to [`Coordinator::on_reply`] until it says [`Step::Done`].
//!
//! A worker's loop blocks on its inbox with a timeout of `1000 / hz` ms (an idle shard costs
//! nothing but that wake-up), drains up to 256 queued batches per pass, refreshes its clock once
//! per pass, publishes its [`ShardStats`], then delivers the replies. Between passes it runs
//! active expiry: at most 1 ms per cycle, every `1000 / hz` ms, or every 2 ms while expired
//! keys are plentiful. A panic inside a command is caught and answered with `ERR internal
//! error`; the worker carries on.
//!
//! # Transactions across shards
//!
//! `MSET`, `MSETNX`, `MGET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`, `RENAME`, `RENAMENX` and
//! `COPY` over keys on several shards, the whole-keyspace commands `DBSIZE`, `KEYS`,
//! `RANDOMKEY`, `FLUSHDB`, `FLUSHALL` and `SWAPDB`, snapshots, and every `EXEC` (even on one
//! shard), run as *scheduled transactions*, after Dragonfly's VLL-based design: a global sequence, per-shard
//! intent locks, one scheduling hop and one execution hop. The IO thread drives them as
//! ordinary [`Coordinator`]s; a worker never waits for another shard.
//!
//! * **Sequence.** A transaction takes a number from one global `AtomicU64`: lower is older.
//! * **Hop 1, schedule.** Every involved shard gets the transaction's locks: per key (database
//!   and key) a queue of transaction numbers kept in number order, or the whole shard for
//!   `FLUSHALL`, `KEYS`, `DBSIZE` ... inside `EXEC`. The transaction is *ready* on a shard
//!   when it heads every queue it joined (and no older whole-shard transaction is queued).
//!   The shard answers the scheduling part only then, after running the transaction's probe
//!   under the locks (`EXEC`'s `WATCH` check, `MSETNX`'s existence check, the value `RENAME`
//!   and `COPY` move). Meanwhile it keeps serving everything else.
//! * **Hop 2, run.** Once every shard answered, the coordinator sends each its items (commands,
//!   primitives, the moved value) in one part; the shard runs them and releases the locks in
//!   the same step, which may make the next queued transactions ready. A transaction that
//!   touches one shard (an `EXEC` on hash-tagged keys) sends its items with the schedule and
//!   needs a single hop.
//! * **Pipelining.** A transaction holds its connection's later commands only until every
//!   shard answered its scheduling hop ([`Coordinator::barrier_lifted`]): from then on it can
//!   no longer be rejected and renumbered, its next hop is queued ahead of whatever the
//!   connection sends next, and a later command on its keys waits for its release on each
//!   shard (a later transaction queues behind it by number). So a client's pipelined
//!   `MSET`s across shards overlap: one round trip each instead of two.
//! * **Isolation.** While a transaction is ready, any other command or part that touches one
//!   of its keys (or, for a whole-shard lock, anything) is deferred in a per-shard FIFO and
//!   runs right after the release, so no client observes a state between a transaction's
//!   first and last effect. Commands on other keys run as usual; when no transaction is
//!   ready on a shard, the only cost on the single-key path is one integer test.
//!
//! **Ordering.** On each shard, conflicting transactions become ready in number order: a
//! queue is ordered by number, and a transaction arriving at a shard where a *younger*
//! conflicting transaction is already ready is rejected (it cancels everywhere and retries
//! with a new, larger number). So every pair of conflicting transactions runs in the same
//! order on every shard they share, and each runs with all its locks held on all its shards:
//! the execution is equivalent to running them one after the other (serializable). Plain
//! commands are ordered against a transaction by the moment they reach the shard: before it
//! is ready, or after its release.
//!
//! **No deadlock.** A transaction that is not ready on a shard waits only for transactions
//! with smaller numbers that head its queues there; a ready transaction waits for nothing on
//! that shard. Every wait therefore points from a larger number to a smaller one, so there is
//! no cycle, and the oldest scheduled transaction is ready everywhere it was accepted. The
//! rejection rule is what keeps this true: without it a transaction could queue behind a
//! younger one that already went ahead on one shard while being ahead of it on another.
//! Workers never block; the only waiting is a transaction's coordinator, on an IO thread,
//! collecting replies. A client that disconnects mid-transaction has its scheduling hop
//! cancelled ([`Coordinator::abandon`]); a run hop releases by itself.
//!
//! **More hops.** A transaction may need more than two hops, all under its locks: after the
//! scheduling hop the coordinator may send *intermediate* hops (`TxAction::Step` in `sched.rs`),
//! which run items and keep every lock, before the last hop runs and releases. A cross-shard
//! `LMOVE` reads the element under the locks, pushes it onto the destination in one hop and
//! pops it from the source in the last; nothing else can touch either key in between. The
//! ordering and deadlock arguments are unchanged: a transaction takes all its locks in the
//! scheduling hop and waits for nothing once ready everywhere. Blocked clients of a shard
//! are served only after the last hop, as after Redis's `EXEC`.
//!
//! **Huge `MGET`s.** An `MGET` of more than 1024 keys (`MGET_SLICE` in `txn.rs`), even on one
//! shard, is a scheduled transaction that takes the locks of all its keys in its scheduling
//! hop and then reads at most 1024 keys per shard per hop, the last hop releasing: the shard
//! serves other connections' batches between the slices, commands on its keys wait, and the
//! reply is one snapshot. A smaller `MGET` pays one length comparison on its route.
//!
//! Inside `EXEC`, a spread command is split into one primitive per shard (`MGET`, `MSET`,
//! `DEL`, `UNLINK`, `EXISTS`, `TOUCH`, and `DBSIZE`, `KEYS`, `FLUSHDB`, `FLUSHALL`, `SWAPDB`
//! with whole-shard locks). A command that moves data between shards (`RENAME`, `RENAMENX`,
//! `COPY`, `MSETNX`, `LCS`, the set and sorted-set multi-key commands, `LMOVE`, `RPOPLPUSH`,
//! `LMPOP`, `RANDOMKEY`, and the blocking pops, which never block inside `MULTI`) runs the
//! very body of its standalone transaction inside `EXEC`'s: the queued commands before it run
//! in one hop, its probes at the end of that hop; its own items follow in the next hops, then
//! the commands queued after it. Still refused inside `EXEC` on several shards: `SCAN` (a
//! cursor walk shard by shard).
//!
//! **All-shard transactions.** `DBSIZE`, `KEYS`, `RANDOMKEY`, `FLUSHDB`, `FLUSHALL`,
//! `SWAPDB` and snapshots take a whole-shard lock on *every* shard. On each shard such a
//! transaction becomes ready only once it is the oldest transaction queued there (every
//! older one has run and released), and while it is ready nothing else runs there. So it is
//! ordered like any transaction: a multi-shard `MSET` or `EXEC` is wholly before it (older:
//! released everywhere before it is ready anywhere it is queued behind) or wholly after it
//! (younger: not ready on any shard until it released there); a younger one already ready
//! on a shard when it arrives makes it retry with a new number. `KEYS` and `DBSIZE` thus
//! count a concurrent cross-shard `MSET` wholly or not at all, and `FLUSHALL` never leaves
//! half of one behind. Deadlock freedom is the general argument above: a whole-shard lock
//! is one more queue entry ordered by number, so every wait still points from a larger
//! number to a smaller one.
//!
//! **Snapshots.** `SAVE`, `BGSAVE` and the save schedule are all-shard transactions whose
//! run hop is the *cut*: each shard serializes (`SAVE`) or marks (`BGSAVE`, then slices with
//! copy-before-write) its partition there. The cut is consistent for transactions by the
//! ordering above. It is also one instant for plain commands: the run hops go out only once
//! the snapshot is ready on every shard, and from the moment it is ready on a shard until
//! its cut there nothing runs on that shard; so a command that runs after some shard's cut
//! (even one caused by what a client saw after that cut) runs after every shard's cut. The
//! coordinator of a snapshot never runs on a thread that could be blocked by it: `BGSAVE`,
//! the schedule and the save at shutdown drive it from their own thread, and `SAVE` is a
//! coordinator of its connection's IO thread, which keeps driving the other transactions
//! the snapshot may be queued behind (a thread blocked in `SAVE` could not send their run
//! hops, and the snapshot would wait for them forever). A snapshot driven by a thread that
//! cannot get ready
//! within 30 s (a stuck peer) is cancelled and that save fails instead of hanging.
//!
//! **WATCH.** Each database keeps, for watched keys only, the clients watching them; every
//! insert, removal, expiry change, lazy or active expiry, `FLUSHALL`/`FLUSHDB`/`SWAPDB` of a
//! watched key marks its watchers, and so does every change in place, through the same hook
//! that reports keyspace notifications (Redis's `signalModifiedKey` sits next to its
//! `notifyKeyspaceEvent`): a command that changes nothing (`DEL` of a missing key, a failed
//! `SET NX`, `SREM` of a missing member) does not fail a watcher's `EXEC`.
//! `EXEC` checks the marks under its locks, in its scheduling hop, before any shard runs.
//!
//! # Keyspace notifications
//!
//! `notify-keyspace-events` is one flags word shared by the pool
//! ([`WorkerHandle::set_notify_flags`]); each worker loads it once per batch, so with
//! notifications off a command pays one comparison of a plain field. A command reports what it
//! did through the hook
//!
//! ```text
//! shard.notify(db, NotifyClass::LIST, "lpush", key);
//! ```
//!
//! with Redis's class and event name (`notifyKeyspaceEvent(NOTIFY_LIST, "lpush", key, db)` in
//! Redis's source), called after the change. The database itself logs `expired` (lazy and
//! active expiry) and `new` (a key created), and the shard turns those into events before the
//! event of the command that caused them. Events are buffered per shard and published through
//! the pool's [`EventSink`] (installed by the IO layer with [`WorkerHandle::set_event_sink`])
//! as one batch per worker pass, before that pass's replies.
//!
//! **Order.** What a subscriber sees:
//! * The events of one key arrive in commit order: they all come from the key's shard, in
//!   the order it ran the commands, and the shard publishes a pass's events before it
//!   answers (so before any later hop of a transaction).
//! * The events of one command or `EXEC` whose keys span shards arrive in Redis's order
//!   when the command runs its effects hop by hop on one shard at a time (`LMOVE`: push,
//!   then pop). A hop that runs on several shards at once, with notifications on, runs as a
//!   `TxAction::Capture`: each shard hands its events back per item instead of publishing,
//!   and the coordinator publishes them in order (commands in queue order; within one
//!   command, shards in the order of its first keys: `RENAME`'s `rename_from` before
//!   `rename_to`, `MSET a b`'s `set a` before `set b`) while every lock is held, then
//!   releases. That costs one more hop, only with notifications on. Not exact: a command
//!   whose keys alternate between shards (`MSET a b c` with `a` and `c` on one shard) reports
//!   each shard's events together (`a`, `c`, `b`).
//! * Events of unrelated commands on different shards are not ordered with each other.
//!
//! Covered today: the string and key commands (`set`, `setrange`, `append`, `incrby`,
//! `incrbyfloat`, `del`, `expire`, `persist`, `rename_from`/`rename_to`, `copy_to`, ...),
//! `expired`, `new`, and `keymiss` for string reads and `EXISTS`. Data-type commands call the
//! hook with their own events; eviction, once it exists, reports
//! `shard.notify(db, NotifyClass::EVICTED, "evicted", key)` for each evicted key.
//!
//! # Memory limit and eviction
//!
//! `evict.rs` ([`EvictionConfig`], [`EvictionPolicy`], [`WorkerHandle::set_eviction`]).
//! `maxmemory` is split evenly: each shard may hold `maxmemory / shards` bytes of data (its
//! databases' [`ShardStats::used_memory`]), and evicts only its own keys. The alternative, a
//! global atomic sum with each shard evicting while the total is over, was rejected: every
//! write would touch a shared cache line, a shard would see the others' figures a pass late
//! (so the total could overshoot by what all shards write in one pass), and a shard whose
//! keys are all recent would be made to evict them for a shard holding stale ones. Keys hash
//! evenly over shards (only hash tags skew them), so the even split costs little, keeps the
//! write path shard-local, and makes the bound exact: `used_memory` (the sum) never exceeds
//! `maxmemory` when the shards publish it.
//!
//! As Redis's `performEvictions`, a shard makes room *before* every `denyoom` command (and
//! part of a spread write); with `noeviction`, or a `volatile-*` policy and no key with a
//! time to live, a `denyoom` command gets `-OOM command not allowed when used memory >
//! 'maxmemory'.` while reads, `DEL` and the like still run. Unlike Redis it also evicts
//! after the pass, before publishing statistics, so a command that added more than it made
//! room for (Redis's accepted overshoot) is taken back at once, and on its timer, so a
//! lowered `maxmemory` is reached without further writes. One run stops after 500 µs, as
//! Redis's default `maxmemory-eviction-tenacity` does; the next command carries on.
//!
//! Victims are chosen as Redis does: `maxmemory-samples` random keys per database (only keys
//! with a time to live for `volatile-*`) feed a pool of the 16 best candidates kept between
//! runs; the best still-present candidate is evicted (re-ranked if it was used since it was
//! sampled). LRU ranks by idle time (the entry's access word, in tenths of a second), LFU by
//! Redis's 8-bit logarithmic counter (`lfu-log-factor`, decayed every `lfu-decay-time`
//! minutes), stored where Redis stores it: in the access word, which under an LFU policy
//! holds the minute of the last decrement above the counter, so `OBJECT IDLETIME` is refused
//! under LFU and `OBJECT FREQ` otherwise, with Redis's texts. `volatile-ttl` ranks by nearest
//! expiry, the random policies pick one random key. Evictions count in `evicted_keys` and
//! publish `evicted` keyspace events (class `e`); watchers of an evicted key see it touched.
//!
//! `used_memory` is the sum of every entry's allocation (as the allocator rounds it), the
//! tables' buckets and slot arrays; `MEMORY USAGE key` is the key's share of it (its
//! allocation plus its bucket). `alloc.rs` models glibc's malloc for everything outside the
//! record store (boxed entries, collections): chunk rounding, the 32-byte minimum, and for
//! mapped blocks only the pages filled, since an untouched page is not resident. Large
//! hashes, sets and lists keep the exact sum of their elements' allocations beside them.
//! `cargo xtask memcheck` measures the result against the resident set.
//!
//! # Append-only log
//!
//! One log for all shards, not one per shard. Each worker appends the effects of its pass's
//! writes (RESP, as Redis propagates them: absolute times, results of floats and random pops)
//! to a per-shard buffer and hands it to a writer thread with one channel send per pass; the
//! writer writes everything queued with one `write` and, under `appendfsync always`, one
//! fsync, then delivers the replies that waited for it (group commit: no worker or IO thread
//! ever waits for the disk, and no command pays an fsync of its own). Per-shard logs would
//! spare the channel hop but lose the order between shards that replay needs when the worker
//! count changes and for whole-keyspace commands; one writer keeps a real execution order per
//! key at the cost of one thread. A transaction over several shards is logged by each writing
//! shard as a frame `KVDTX <seq> <frames>` ... `EXEC` (the scheduler's global number, and the
//! count of frames the whole transaction writes, known to its coordinator at the last hop);
//! replay applies it only if every frame is there, the writer holds `always` replies until
//! every frame written before them is complete, and a log whose tail lacks a frame is cut
//! before it. See `aof/mod.rs` for the record forms, the files and the rewrite.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use worker_shard::{Batch, Op, OpKind, ReplyBatch, ReplyBody, ReplySink, ShardConfig, WorkerPool};
//! use resp_codec::{Bytes, Protocol, Request};
//!
//! /// A sink that hands reply batches to a channel (a real IO handler also wakes its loop).
//! #[derive(Debug)]
//! struct ChannelSink(flume::Sender<ReplyBatch>);
//!
//! impl ReplySink for ChannelSink {
//!     fn deliver(&self, batch: ReplyBatch) {
//!         let _ = self.0.send(batch);
//!     }
//! }
//!
//! let pool = WorkerPool::spawn(1, ShardConfig::default())?;
//! let (tx, rx) = flume::unbounded();
//! let sink: Arc<dyn ReplySink> = Arc::new(ChannelSink(tx));
//! let cmd = |tag, args: &[&'static str]| Op {
//!     tag,
//!     db: 0,
//!     proto: Protocol::Resp2,
//!     kind: OpKind::Command(Request::new(args.iter().map(|a| Bytes::from_static(a.as_bytes())).collect())),
//! };
//! let ops = vec![cmd(1, &["SET", "greeting", "hello"]), cmd(2, &["GET", "greeting"])];
//! assert!(pool.handles()[0].send(Batch { reply_to: sink, ops }));
//!
//! let batch = rx.recv().expect("the worker replies");
//! assert_eq!(&batch.buf[..], b"+OK\r\n$5\r\nhello\r\n");
//! let ReplyBody::Encoded(range) = &batch.replies[1].body else { unreachable!() };
//! assert_eq!(batch.replies[1].tag, 2);
//! assert_eq!(&batch.buf[range.clone()], b"$5\r\nhello\r\n");
//! pool.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod alloc;
mod aof;
mod blocking;
mod cmd_dump;
mod cmd_hash;
mod cmd_keys;
mod cmd_list;
mod cmd_set;
mod cmd_string;
mod cmd_zset;
mod coll;
mod command;
mod coord;
mod error;
mod evict;
mod hash;
mod keyspace;
mod list;
mod longdouble;
mod message;
mod multi;
mod notify;
mod pack;
mod parts;
mod persist;
mod rdb;
mod route;
mod sched;
mod set;
mod shard;
mod stats;
mod table;
mod txn;
mod worker;
mod zset;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_types;

pub use aof::{AofConfig, AppendFsync};
pub use blocking::Unblock;
pub use coll::EncodingLimits;
pub use command::{
    CommandSpec, KeyNum, RequestKeys, command_table, lookup_command, lookup_command_index,
};
pub use error::Error;
pub use evict::{EvictionConfig, EvictionPolicy};
pub use keyspace::glob_match;
pub use message::{Batch, Op, OpKind, Reply, ReplyBatch, ReplyBody, ReplySink};
pub use notify::{EventSink, Message, NotifyClass};
pub use partition_router::ShardId;
pub use persist::{LoadSummary, PersistConfig, Persistence, parse_save_points};
pub use route::{
    Coordinator, Part, PartReply, Resolved, Route, Step, check_command, route, route_resolved,
};
pub use stats::{CommandStat, ShardStats};
pub use txn::{Queued, exec, unwatch_parts, watch};
pub use worker::{ShardConfig, ShardExecutor, WorkerHandle, WorkerPool};

/// Redis's `stringmatchlen`: the glob matching of `KEYS`/`SCAN MATCH` (`*`, `?`, `[a-z]`,
/// `[^...]`, `\` escapes), optionally ignoring ASCII case. Exported so that other layers (ACL
/// key and channel patterns) match exactly as the keyspace does.
pub fn string_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    keyspace::glob_match(pattern, text, nocase)
}
