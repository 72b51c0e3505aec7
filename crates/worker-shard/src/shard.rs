//! The state a worker owns, and the execution of commands and parts against it.
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use resp_codec::{Protocol, Request};

use crate::ShardId;
use crate::command::{self, CommandId, CommandSpec};
use crate::keyspace::{Clock, Db};
use crate::notify::{Notifier, NotifyClass};
use crate::route::{Part, PartReply};
use crate::{cmd_dump, cmd_hash, cmd_keys, cmd_list, cmd_set, cmd_string, cmd_zset};

/// Writes one command's reply in the connection's protocol, straight into the batch buffer.
#[derive(Debug)]
pub(crate) struct Out<'a> {
    buf: &'a mut BytesMut,
    proto: Protocol,
    /// Whether the reply is an error (for `failed_calls`).
    pub(crate) failed: bool,
    /// What the command counted itself toward Redis's `server.dirty`, when its reply and
    /// arguments do not tell (see `changes_of`).
    changes: Option<u64>,
}

impl<'a> Out<'a> {
    pub(crate) fn new(buf: &'a mut BytesMut, proto: Protocol) -> Out<'a> {
        Out {
            buf,
            proto,
            failed: false,
            changes: None,
        }
    }

    /// Counts `n` changes toward `rdb_changes_since_last_save`, as the command's Redis
    /// implementation adds to `server.dirty` (`ZADD`: added plus updated members, ...).
    pub(crate) fn count_changes(&mut self, n: u64) {
        self.changes = Some(n);
    }

    pub(crate) fn proto(&self) -> Protocol {
        self.proto
    }

    pub(crate) fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub(crate) fn simple(&mut self, s: &str) {
        resp_codec::write_simple(self.buf, s.as_bytes());
    }

    /// An error; `msg` includes the code, e.g. `ERR syntax error`.
    pub(crate) fn error(&mut self, msg: &str) {
        self.failed = true;
        resp_codec::write_error(self.buf, msg.as_bytes());
    }

    pub(crate) fn int(&mut self, n: i64) {
        resp_codec::write_integer(self.buf, n);
    }

    pub(crate) fn bulk(&mut self, b: &[u8]) {
        resp_codec::write_bulk(self.buf, b);
    }

    pub(crate) fn null(&mut self) {
        resp_codec::write_null(self.buf, self.proto);
    }

    /// A null array: `*-1` in RESP2, `_` in RESP3.
    pub(crate) fn null_array(&mut self) {
        resp_codec::write_null_array(self.buf, self.proto);
    }

    pub(crate) fn array_len(&mut self, n: usize) {
        resp_codec::write_array_len(self.buf, n);
    }

    /// A map header (a flat array of `2n` in RESP2).
    pub(crate) fn map_len(&mut self, n: usize) {
        resp_codec::write_map_len(self.buf, n, self.proto);
    }

    /// A set header (an array in RESP2).
    pub(crate) fn set_len(&mut self, n: usize) {
        resp_codec::write_set_len(self.buf, n, self.proto);
    }

    /// A double (a bulk string in RESP2), printed as Redis's `%.17g`.
    pub(crate) fn double(&mut self, d: f64) {
        resp_codec::write_double(self.buf, d, self.proto);
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes written so far (where the next reply starts).
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// What was written since `start` (the reply of the command that just ran).
    pub(crate) fn since(&self, start: usize) -> &[u8] {
        self.buf.get(start..).unwrap_or_default()
    }
}

/// Redis's common error texts.
pub(crate) mod err {
    pub(crate) const SYNTAX: &str = "ERR syntax error";
    pub(crate) const NOT_INT: &str = "ERR value is not an integer or out of range";
    pub(crate) const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub(crate) const WRONGTYPE: &str =
        "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub(crate) const DB_RANGE: &str = "ERR DB index is out of range";
    pub(crate) const NO_SUCH_KEY: &str = "ERR no such key";
    pub(crate) const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub(crate) const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
}

/// A command implementation: `(shard, db index, arguments incl. name, reply writer)`.
pub(crate) type Handler = fn(&mut Shard, usize, &[Bytes], &mut Out<'_>);

/// Per-command counters kept by the worker and published once per pass.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocalStat {
    pub(crate) calls: u64,
    /// Nanoseconds, converted to microseconds when published (the remainder carries over, so
    /// sub-microsecond commands still add up).
    pub(crate) nanos: u64,
    pub(crate) failed: u64,
    pub(crate) rejected: u64,
}

/// Everything one worker owns.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) id: ShardId,
    pub(crate) shard_count: usize,
    pub(crate) dbs: Vec<Db>,
    pub(crate) clock: Clock,
    started: Instant,
    /// When the previous command finished (or the pass started), for per-command timing.
    last: Instant,
    pub(crate) rng: SmallRng,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) processed: u64,
    /// Writes since the last publish: successful write commands and write parts (Redis
    /// counts changed keys; kvd counts commands, which only matters for `save` points).
    pub(crate) dirty: u64,
    /// Where a background snapshot in progress delivers this shard's part when complete.
    pub(crate) snapshot_to: Option<crate::persist::SnapshotSink>,
    /// Indexed by [`CommandId`].
    pub(crate) cmd_stats: Vec<LocalStat>,
    /// Ids with non-zero `cmd_stats`, so publishing touches only those.
    pub(crate) cmd_dirty: Vec<CommandId>,
    /// Keyspace notifications: the flags of this batch and the events of this pass.
    pub(crate) notifier: Notifier,
    /// Clients blocked on this shard's keys.
    pub(crate) blocked: crate::blocking::Blocked,
    /// Compact-encoding thresholds, shared with the pool for `CONFIG SET`.
    pub(crate) limits: std::sync::Arc<crate::coll::SharedLimits>,
    /// `maxmemory` and eviction.
    pub(crate) evictor: crate::evict::Evictor,
    /// The append-only log's records of this pass, while `appendonly` is on.
    pub(crate) aof: Option<Box<crate::aof::AofLog>>,
    /// While the log is replayed at start: the clock stands still, so nothing expires.
    pub(crate) loading: bool,
    /// While a transaction's commands run: Redis checked memory once, for `EXEC` as a whole
    /// (the IO layer refuses it when full), so none of them gets `-OOM` on its own.
    pub(crate) in_exec: bool,
    /// Persistence's interest in `FLUSHALL`, shared with the pool.
    pub(crate) flush_hook: std::sync::Arc<crate::persist::FlushHook>,
}

impl Shard {
    pub(crate) fn new(id: ShardId, shard_count: usize, databases: usize) -> Shard {
        let mut shard = Shard {
            id,
            shard_count: shard_count.max(1),
            dbs: (0..databases.max(1)).map(|_| Db::default()).collect(),
            clock: Clock {
                now_ms: 0,
                ticks: crate::keyspace::TICKS_BASE,
            },
            started: Instant::now(),
            last: Instant::now(),
            rng: SmallRng::from_entropy(),
            hits: 0,
            misses: 0,
            processed: 0,
            dirty: 0,
            snapshot_to: None,
            cmd_stats: vec![LocalStat::default(); command::ALL_SPECS.len()],
            cmd_dirty: Vec::new(),
            notifier: Notifier::default(),
            blocked: Default::default(),
            limits: crate::coll::SharedLimits::new(Default::default()),
            flush_hook: Default::default(),
            evictor: Default::default(),
            aof: None,
            loading: false,
            in_exec: false,
        };
        shard.tick();
        shard
    }

    /// Refreshes the cached time; called once per batch, as Redis caches `mstime` per command.
    pub(crate) fn tick(&mut self) {
        let now_ms = if self.loading {
            // Replaying the log: as Redis's loader, expire nothing (expiries are logged).
            1
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        };
        self.last = Instant::now();
        let elapsed = self.last.duration_since(self.started).as_millis() / 100;
        let ticks = (elapsed + crate::keyspace::TICKS_BASE as u128).min(u32::MAX as u128) as u32;
        self.clock = Clock { now_ms, ticks };
        if let Some(lfu) = self.evictor.refresh(self.shard_count) {
            for db in &mut self.dbs {
                db.lfu = lfu;
            }
        }
        if self.notifier.refresh() {
            let expired = self.notifier.wants(NotifyClass::EXPIRED);
            let new = self.notifier.wants(NotifyClass::NEW);
            let logged = self.aof.is_some();
            for db in &mut self.dbs {
                db.log_expired = expired || logged;
                db.log_new = new;
            }
        }
    }

    /// Reports a keyspace event, as Redis's `notifyKeyspaceEvent(class, event, key, db)`:
    /// published on `__keyspace@<db>__:<key>` and/or `__keyevent@<db>__:<event>` when
    /// `notify-keyspace-events` enables `class`. Costs one comparison when notifications are
    /// off. Call it after the change, with Redis's event name (`"lpush"`, `"hset"`, ...).
    ///
    /// The hook also marks `key` touched for `WATCH`, like Redis's `signalModifiedKey`, which
    /// Redis calls exactly where it notifies: a command that changed nothing (`DEL` of a
    /// missing key, `SREM` of a missing member, `SET NX` that failed, ...) notifies nothing
    /// and leaves watchers alone. Inserts and removals also touch in the database itself.
    pub(crate) fn notify(&mut self, db: usize, class: NotifyClass, event: &str, key: &[u8]) {
        if class != NotifyClass::KEY_MISS
            && let Some(d) = self.dbs.get_mut(db)
            && d.has_watches()
        {
            d.touch_watched(key);
        }
        if self.notifier.flags == 0 {
            return;
        }
        self.drain_logged(db);
        if self.notifier.wants(class) {
            self.notifier.push(db, event, key);
        }
    }

    /// Whether anyone observes changes to keys of `db`: keyspace notifications are on, or a
    /// client watches a key there. Helpers that must look at the keyspace again to report a
    /// change (`del` after emptying a collection) skip that work otherwise.
    pub(crate) fn observed(&self, db: usize) -> bool {
        self.notifier.flags != 0 || self.dbs.get(db).is_some_and(|d| d.has_watches())
    }

    /// Turns the `expired`/`new` events the database logged into notifications, so they come
    /// before the event of the command that caused them, as in Redis.
    fn drain_logged(&mut self, db: usize) {
        let Some(d) = self.dbs.get_mut(db) else {
            return;
        };
        if d.events.is_empty() {
            return;
        }
        let class = |event: &str| {
            if event == "new" {
                NotifyClass::NEW
            } else {
                NotifyClass::EXPIRED
            }
        };
        for (event, key) in std::mem::take(&mut d.events) {
            if self.notifier.wants(class(event)) {
                self.notifier.push(db, event, &key);
            }
        }
    }

    /// After a command, part or expiry cycle: drains what the databases logged.
    pub(crate) fn drain_all_logged(&mut self) {
        if self.notifier.flags == 0 {
            return;
        }
        for db in 0..self.dbs.len() {
            self.drain_logged(db);
        }
    }

    /// Executes one command whose keys all live here, writing its reply into `out`.
    pub(crate) fn execute(&mut self, db: u16, req: &Request, out: &mut Out<'_>) {
        self.execute_resolved(resolve(req.args()), db, req, out);
    }

    /// [`Shard::execute`] for a command already looked up in the command table.
    pub(crate) fn execute_at(&mut self, index: usize, db: u16, req: &Request, out: &mut Out<'_>) {
        self.execute_resolved(resolve_at(index, req.args()), db, req, out);
    }

    fn execute_resolved(
        &mut self,
        resolved: Option<(&'static CommandSpec, CommandId, Handler)>,
        db: u16,
        req: &Request,
        out: &mut Out<'_>,
    ) {
        let args = req.args();
        let Some((spec, id, handler)) = resolved else {
            // The IO layer validated the command with `route`; anything else is a wiring bug,
            // which still gets a well-formed reply rather than a panic.
            match crate::route::validate(args).map(|(_, spec)| spec) {
                Err(msg) => out.error(&String::from_utf8_lossy(&msg)),
                Ok(_) => out.error(&format!(
                    "ERR command '{}' is not executed by shards",
                    String::from_utf8_lossy(req.name())
                )),
            }
            return;
        };
        if !spec.accepts_argc(args.len()) {
            out.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
            self.record(id, 0, false, true);
            return;
        }
        let db = db as usize;
        if db >= self.dbs.len() {
            out.error(err::DB_RANGE);
            return;
        }
        // As Redis's processCommand: make room before a command that may grow memory, and
        // refuse it when nothing can be evicted. One comparison when there is no limit.
        if self.evictor.budget != 0
            && !self.in_exec
            && is_denyoom(id)
            && crate::evict::perform_evictions(self) == crate::evict::Outcome::Fail
        {
            out.error(crate::evict::OOM);
            self.record(id, 0, false, true);
            return;
        }
        let reply_start = out.len();
        // The few writes whose count depends on the state before them.
        let before = if is_write(id) {
            self.changes_before(spec.name, db, args)
        } else {
            0
        };
        handler(self, db, args, out);
        if self.aof.is_some() {
            let changed = !out.failed && (is_write(id) || spec.name == "debug");
            crate::aof::after_command(self, db, spec.name, args, out.since(reply_start), changed);
        }
        if self.notifier.flags != 0 {
            self.drain_logged(db);
        }
        if !self.blocked.is_idle() {
            // Like Redis's ready keys: a command that filled a key some client waits on
            // serves that client before the next command runs.
            if spec.name == "swapdb" {
                self.blocked.signal_all();
            }
            for i in spec.key_positions(args.len()) {
                if let Some(key) = args.get(i) {
                    self.blocked.signal(db, key);
                }
            }
            if self.blocked.may_serve() {
                crate::blocking::serve_ready(self);
            }
        }
        // One clock read per command: the time since the previous command (or the start of
        // the pass) is this command's, which also charges it the few instructions of reply
        // bookkeeping in between.
        let now = Instant::now();
        let nanos = now.saturating_duration_since(self.last).as_nanos() as u64;
        self.last = now;
        if !out.failed && is_write(id) {
            self.dirty += out
                .changes
                .unwrap_or_else(|| changes_of(spec.name, args, out.since(reply_start), before));
        }
        self.record(id, nanos, out.failed, false);
    }

    fn record(&mut self, id: CommandId, nanos: u64, failed: bool, rejected: bool) {
        self.processed += 1;
        let Some(s) = self.cmd_stats.get_mut(id) else {
            return;
        };
        if s.calls == 0 && s.rejected == 0 {
            self.cmd_dirty.push(id);
        }
        if rejected {
            s.rejected += 1;
        } else {
            s.calls += 1;
            s.nanos += nanos;
            s.failed += failed as u64;
        }
    }

    /// What a write command whose count depends on the state before it needs to know (see
    /// `changes_of`): whether a `STORE` destination existed, the keys a flush removes.
    fn changes_before(&mut self, name: &str, db: usize, args: &[Bytes]) -> u64 {
        match name {
            "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore"
            | "zdiffstore" | "zrangestore" => {
                let clock = self.clock;
                self.dbs[db].peek(&args[1], clock).is_some() as u64
            }
            // The keys they remove.
            "flushdb" => self.dbs[db].len() as u64,
            "flushall" => self.dbs.iter().map(|d| d.len() as u64).sum(),
            _ => 0,
        }
    }

    /// After `FLUSHALL` emptied this shard: with save points set, Redis saves the (now empty)
    /// dataset at once and starts counting changes from zero. Shard 0 writes that file
    /// (every shard of a spread `FLUSHALL` gets here; the file is the same). Returns whether
    /// such a save absorbs the flush's changes.
    pub(crate) fn flushed_all(&mut self) -> bool {
        if !self.flush_hook.saves() {
            return false;
        }
        if self.id == 0 {
            self.flush_hook.flushed_all(self.dirty);
        }
        true
    }

    /// Executes one part of a spread command.
    pub(crate) fn execute_part(&mut self, db: u16, part: Part) -> PartReply {
        self.processed += 1;
        let db = db as usize;
        if db >= self.dbs.len() {
            return PartReply::error(err::DB_RANGE);
        }
        use crate::route::PartKind as K;
        if matches!(
            part.0,
            K::Del(_)
                | K::Mset(_)
                | K::FlushDb
                | K::FlushAll
                | K::SwapDb(..)
                | K::Populate(_)
                | K::Put { .. }
                | K::RenameFrom(_)
                | K::PutColl { .. }
                | K::SetMember { .. }
                | K::ZPop { .. }
                | K::ListPop { .. }
                | K::ListPush { .. }
        ) {
            // Redis's `server.dirty` for this shard's share of the command.
            self.dirty += match &part.0 {
                K::Mset(pairs) => pairs.len() as u64 / 2,
                K::FlushDb => self.dbs[db].len() as u64,
                // Absorbed by the save that follows when save points are set, as in Redis.
                K::FlushAll if self.flush_hook.saves() => 0,
                K::FlushAll => self.dbs.iter().map(|d| d.len() as u64).sum(),
                // Once for the whole command, which every shard runs.
                K::SwapDb(..) => (self.id == 0) as u64,
                K::SetMember { .. } => 1,
                K::PutColl { key, value, .. } => {
                    (value.is_some() || self.dbs[db].peek(key, self.clock).is_some()) as u64
                }
                // Counted from the reply below, or nothing (`DEBUG POPULATE`, the source
                // of a `RENAME`, counted once at the destination).
                _ => 0,
            };
            // Parts of spread writes make room like commands; they are not refused (the
            // command was accepted as a whole), so noeviction may overshoot by one of them.
            if self.evictor.budget != 0 {
                crate::evict::perform_evictions(self);
            }
        }
        let logged = match &self.aof {
            Some(_) => crate::aof::PartLog::of(&part.0),
            None => None,
        };
        let counted = matches!(&part.0, K::Del(_) | K::ZPop { .. } | K::Put { .. });
        let reply = crate::parts::execute(self, db, part);
        match logged {
            Some(log) => log.log(self, db, &reply.0),
            None => crate::aof::drain_expired(self),
        }
        if counted {
            // The number removed, popped or written.
            self.dirty += match &reply.0 {
                crate::route::PartResult::Count(n) => *n as u64,
                crate::route::PartResult::ZPopped(p) => p.len() as u64,
                _ => 0,
            };
        }
        self.drain_all_logged();
        if !self.blocked.is_idle() {
            self.blocked.signal_db(db);
            if self.blocked.may_serve() {
                crate::blocking::serve_ready(self);
            }
        }
        self.last = Instant::now();
        reply
    }

    /// One active-expiry cycle over every database, bounded by `budget`. Returns true if the
    /// budget ran out while many keys were still expired, so the caller can run the next cycle
    /// sooner (like Redis's fast cycle).
    pub(crate) fn active_expire(&mut self, budget: std::time::Duration) -> bool {
        self.tick();
        let deadline = Instant::now() + budget;
        let now = self.clock.now_ms;
        let mut more = false;
        for db in &mut self.dbs {
            if Instant::now() >= deadline {
                more |= db.expires_len() > 0;
                continue;
            }
            more |= db.active_expire(now, deadline).1;
        }
        crate::aof::drain_expired(self);
        self.drain_all_logged();
        more
    }
}

/// Whether the command with statistics id `id` may grow memory (its spec has `denyoom`).
fn is_denyoom(id: CommandId) -> bool {
    static DENYOOM: std::sync::LazyLock<Vec<bool>> = std::sync::LazyLock::new(|| {
        command::ALL_SPECS
            .iter()
            .map(|s| s.flags.contains(&"denyoom"))
            .collect()
    });
    DENYOOM.get(id).copied().unwrap_or(false)
}

/// Whether the command with statistics id `id` writes (its spec has the `write` flag).
/// How much a successful write command adds to Redis's `server.dirty` (behind
/// `rdb_changes_since_last_save` and the `save` points), from its name, arguments and reply,
/// as Redis 7.0 counts: one per key or element changed, nothing for a write that changed
/// nothing (`DEL` of a missing key, `SADD` of a member already there, `SET ... NX` that did
/// not set). `before` is what `Shard::changes_before` saw. Commands whose count neither
/// tells call [`Out::count_changes`].
fn changes_of(name: &str, args: &[Bytes], reply: &[u8], before: u64) -> u64 {
    let nil = matches!(reply, b"$-1\r\n" | b"*-1\r\n" | b"_\r\n");
    let int = || -> i64 {
        reply
            .strip_prefix(b":")
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .and_then(|t| t.trim_end().parse().ok())
            .unwrap_or(0)
    };
    let pairs = |from: usize| (args.len().saturating_sub(from) / 2) as u64;
    let pushed = args.len().saturating_sub(2) as u64;
    match name {
        "mset" => pairs(1),
        "msetnx" => pairs(1) * (int() > 0) as u64,
        "hset" | "hmset" => pairs(2),
        "lpush" | "rpush" => pushed,
        "lpushx" | "rpushx" => pushed * (int() > 0) as u64,
        "del" | "unlink" | "sadd" | "srem" | "hdel" | "zrem" | "zremrangebyscore"
        | "zremrangebyrank" | "zremrangebylex" | "lrem" => int().max(0) as u64,
        "setnx" | "hsetnx" | "renamenx" | "copy" | "expire" | "pexpire" | "expireat"
        | "pexpireat" | "persist" | "move" | "linsert" => (int() > 0) as u64,
        // The member leaves one set and joins the other; a move within one set is a no-op.
        "smove" => 2 * (int() > 0 && args[1] != args[2]) as u64,
        "getdel" | "lmove" | "rpoplpush" => (!nil) as u64,
        "lpop" | "rpop" | "spop" | "zpopmin" | "zpopmax" | "lmpop" | "zmpop" => popped(name, reply),
        // Blocking pops count where they pop (`blocking.rs`), whichever way they run;
        // `GETEX` counts itself when it changes the time to live.
        "blpop" | "brpop" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop" | "blmove"
        | "brpoplpush" | "getex" => 0,
        "flushdb" | "flushall" => before,
        // A result stored, or an empty one deleting a destination that existed.
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zrangestore" => (int() > 0) as u64 | before,
        _ => 1,
    }
}

/// The number of elements a pop command's reply holds.
fn popped(name: &str, reply: &[u8]) -> u64 {
    use resp_codec::Frame;
    let Ok(Some((frame, _))) = resp_codec::decode_frame(reply) else {
        return 0;
    };
    let len = |f: &Frame| match f {
        Frame::Array(items) => items.len() as u64,
        Frame::Null | Frame::NullArray => 0,
        _ => 1,
    };
    match (name, &frame) {
        (_, Frame::Null | Frame::NullArray) => 0,
        // `[key, elements]`.
        ("lmpop" | "zmpop", Frame::Array(items)) => items.get(1).map_or(0, len),
        // Flat `member score ...` (RESP2, or RESP3 without a count), or one pair per member.
        ("zpopmin" | "zpopmax", Frame::Array(items)) => match items.first() {
            Some(Frame::Array(_)) => items.len() as u64,
            _ => items.len() as u64 / 2,
        },
        (_, Frame::Array(items)) => items.len() as u64,
        _ => 1,
    }
}

fn is_write(id: CommandId) -> bool {
    static WRITE: std::sync::LazyLock<Vec<bool>> = std::sync::LazyLock::new(|| {
        command::ALL_SPECS
            .iter()
            .map(|s| s.flags.contains(&"write"))
            .collect()
    });
    WRITE.get(id).copied().unwrap_or(false)
}

/// The spec (subcommand spec for containers), statistics id and handler of a request.
fn resolve(args: &[Bytes]) -> Option<(&'static CommandSpec, CommandId, Handler)> {
    resolve_at(command::lookup_index(args.first()?)?, args)
}

/// [`resolve`] for the command at `index` of the command table.
fn resolve_at(index: usize, args: &[Bytes]) -> Option<(&'static CommandSpec, CommandId, Handler)> {
    let handler = HANDLERS.get(index).copied().flatten()?;
    let spec = &command::command_table()[index];
    let mut id = command::command_id(index);
    if spec.subcommands.is_empty() {
        return Some((spec, id, handler));
    }
    // Containers (`OBJECT`) count per subcommand, as `INFO commandstats` shows `object|encoding`.
    let pos = args.get(1).and_then(|name| {
        let prefix = spec.name.len() + 1;
        spec.subcommands
            .iter()
            .position(|s| s.name.as_bytes()[prefix..].eq_ignore_ascii_case(name))
    });
    match pos {
        Some(p) => {
            id += 1 + p;
            Some((&spec.subcommands[p], id, handler))
        }
        None => Some((spec, id, handler)),
    }
}

/// Handlers indexed like [`command::command_table`]; `None` for commands the IO layer answers.
static HANDLERS: std::sync::LazyLock<Vec<Option<Handler>>> = std::sync::LazyLock::new(|| {
    command::command_table()
        .iter()
        .map(|spec| handler_for(spec.name))
        .collect()
});

fn handler_for(name: &str) -> Option<Handler> {
    let h: Handler = match name {
        "get" => cmd_string::get,
        "set" => cmd_string::set,
        "setnx" => cmd_string::setnx,
        "setex" => cmd_string::setex,
        "psetex" => cmd_string::psetex,
        "getset" => cmd_string::getset,
        "getdel" => cmd_string::getdel,
        "getex" => cmd_string::getex,
        "mget" => cmd_string::mget,
        "mset" => cmd_string::mset,
        "msetnx" => cmd_string::msetnx,
        "incr" => cmd_string::incr,
        "decr" => cmd_string::decr,
        "incrby" => cmd_string::incrby,
        "decrby" => cmd_string::decrby,
        "incrbyfloat" => cmd_string::incrbyfloat,
        "append" => cmd_string::append,
        "strlen" => cmd_string::strlen,
        "getrange" | "substr" => cmd_string::getrange,
        "setrange" => cmd_string::setrange,
        "lcs" => cmd_string::lcs,
        "del" | "unlink" => cmd_keys::del,
        "exists" => cmd_keys::exists,
        "touch" => cmd_keys::touch,
        "type" => cmd_keys::type_,
        "expire" => cmd_keys::expire,
        "pexpire" => cmd_keys::pexpire,
        "expireat" => cmd_keys::expireat,
        "pexpireat" => cmd_keys::pexpireat,
        "ttl" => cmd_keys::ttl,
        "pttl" => cmd_keys::pttl,
        "expiretime" => cmd_keys::expiretime,
        "pexpiretime" => cmd_keys::pexpiretime,
        "persist" => cmd_keys::persist,
        "keys" => cmd_keys::keys,
        "scan" => cmd_keys::scan,
        "randomkey" => cmd_keys::randomkey,
        "rename" => cmd_keys::rename,
        "renamenx" => cmd_keys::renamenx,
        "copy" => cmd_keys::copy,
        "object" => cmd_keys::object,
        "memory" => crate::evict::memory_usage,
        "dbsize" => cmd_keys::dbsize,
        "flushdb" => cmd_keys::flushdb,
        "flushall" => cmd_keys::flushall,
        "debug" => cmd_keys::debug,
        "swapdb" => cmd_keys::swapdb,
        "dump" => cmd_dump::dump,
        "restore" => cmd_dump::restore,
        "lpush" => cmd_list::lpush,
        "rpush" => cmd_list::rpush,
        "lpushx" => cmd_list::lpushx,
        "rpushx" => cmd_list::rpushx,
        "lpop" => cmd_list::lpop,
        "rpop" => cmd_list::rpop,
        "llen" => cmd_list::llen,
        "lrange" => cmd_list::lrange,
        "lindex" => cmd_list::lindex,
        "lset" => cmd_list::lset,
        "linsert" => cmd_list::linsert,
        "lrem" => cmd_list::lrem,
        "ltrim" => cmd_list::ltrim,
        "lpos" => cmd_list::lpos,
        "lmove" => cmd_list::lmove,
        "rpoplpush" => cmd_list::rpoplpush,
        "lmpop" => cmd_list::lmpop,
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" => crate::blocking::blocking_now,
        "hset" => cmd_hash::hset,
        "hsetnx" => cmd_hash::hsetnx,
        "hget" => cmd_hash::hget,
        "hmget" => cmd_hash::hmget,
        "hmset" => cmd_hash::hmset,
        "hdel" => cmd_hash::hdel,
        "hexists" => cmd_hash::hexists,
        "hlen" => cmd_hash::hlen,
        "hstrlen" => cmd_hash::hstrlen,
        "hkeys" => cmd_hash::hkeys,
        "hvals" => cmd_hash::hvals,
        "hgetall" => cmd_hash::hgetall,
        "hincrby" => cmd_hash::hincrby,
        "hincrbyfloat" => cmd_hash::hincrbyfloat,
        "hrandfield" => cmd_hash::hrandfield,
        "hscan" => cmd_hash::hscan,
        "sadd" => cmd_set::sadd,
        "srem" => cmd_set::srem,
        "smembers" => cmd_set::smembers,
        "sismember" => cmd_set::sismember,
        "smismember" => cmd_set::smismember,
        "scard" => cmd_set::scard,
        "spop" => cmd_set::spop,
        "srandmember" => cmd_set::srandmember,
        "smove" => cmd_set::smove,
        "sinter" => cmd_set::sinter,
        "sunion" => cmd_set::sunion,
        "sdiff" => cmd_set::sdiff,
        "sinterstore" => cmd_set::sinterstore,
        "sunionstore" => cmd_set::sunionstore,
        "sdiffstore" => cmd_set::sdiffstore,
        "sintercard" => cmd_set::sintercard,
        "sscan" => cmd_set::sscan,
        "zadd" => cmd_zset::zadd,
        "zincrby" => cmd_zset::zincrby,
        "zrem" => cmd_zset::zrem,
        "zcard" => cmd_zset::zcard,
        "zscore" => cmd_zset::zscore,
        "zmscore" => cmd_zset::zmscore,
        "zrank" => cmd_zset::zrank,
        "zrevrank" => cmd_zset::zrevrank,
        "zcount" => cmd_zset::zcount,
        "zlexcount" => cmd_zset::zlexcount,
        "zrange" => cmd_zset::zrange,
        "zrangebyscore" => cmd_zset::zrangebyscore,
        "zrevrange" => cmd_zset::zrevrange,
        "zrevrangebyscore" => cmd_zset::zrevrangebyscore,
        "zrangebylex" => cmd_zset::zrangebylex,
        "zrevrangebylex" => cmd_zset::zrevrangebylex,
        "zrangestore" => cmd_zset::zrangestore,
        "zremrangebyrank" => cmd_zset::zremrangebyrank,
        "zremrangebyscore" => cmd_zset::zremrangebyscore,
        "zremrangebylex" => cmd_zset::zremrangebylex,
        "zpopmin" => cmd_zset::zpopmin,
        "zpopmax" => cmd_zset::zpopmax,
        "zmpop" => cmd_zset::zmpop,
        "zrandmember" => cmd_zset::zrandmember,
        "zunion" => cmd_zset::zunion,
        "zinter" => cmd_zset::zinter,
        "zdiff" => cmd_zset::zdiff,
        "zunionstore" => cmd_zset::zunion,
        "zinterstore" => cmd_zset::zinter,
        "zdiffstore" => cmd_zset::zdiff,
        "zintercard" => cmd_zset::zintercard,
        "zscan" => cmd_zset::zscan,
        _ => return None,
    };
    Some(h)
}

/// Whether a shard executes `name` (as opposed to the IO layer answering it).
pub(crate) fn is_shard_command(name: &str) -> bool {
    handler_for(name).is_some()
}

/// Parses an `i64` argument as Redis's `getLongLongFromObject` does.
pub(crate) fn parse_i64(arg: &[u8]) -> Option<i64> {
    crate::keyspace::parse_canonical_i64(arg)
}
