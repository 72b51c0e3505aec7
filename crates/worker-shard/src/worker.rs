//! The worker thread and the handles IO handlers use to reach it.
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::ShardId;
use bytes::Bytes;

use crate::message::{Batch, Op, OpKind, Reply, ReplyBatch, ReplyBody, ReplySink};
use crate::notify::{EventSink, NotifyClass, NotifyShared};
use crate::route::{Part, PartKind, PartReply, PartResult};
use crate::sched::{Scheduled, Scheduler, TxAction, TxItem, TxOut, Waiter};
use crate::shard::{Out, Shard};
use crate::stats::ShardStats;
use crate::txn::OP_DB;

/// Settings shared by all shards.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Number of databases per shard (`databases`, 16 by default).
    pub databases: usize,
    /// Active-expiry cycles per second (`hz`, 10 by default).
    pub hz: u32,
    /// `notify-keyspace-events` at start (none by default).
    pub notify: NotifyClass,
    /// Thresholds of the compact collection encodings (Redis's defaults).
    pub encoding: crate::EncodingLimits,
    /// `maxmemory` and its eviction policy (no limit by default).
    pub eviction: crate::EvictionConfig,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            databases: 16,
            hz: 10,
            notify: NotifyClass::default(),
            encoding: crate::EncodingLimits::default(),
            eviction: crate::EvictionConfig::default(),
        }
    }
}

/// What arrives in a worker's inbox.
#[derive(Debug)]
enum Msg {
    Batch(Batch),
    /// Work on the shard's state outside the command protocol (snapshots, loading).
    Run(Task),
    Shutdown,
}

/// A closure run on a worker's thread with its shard.
pub(crate) struct Task(pub(crate) Box<dyn FnOnce(&mut Shard) + Send>);

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Task")
    }
}

/// Called after every send to a hosted shard, so the thread that hosts it wakes up.
type Waker = Arc<dyn Fn() + Send + Sync>;

/// Where a hosted shard's wake-up hook is installed once its host thread is known.
#[derive(Default)]
struct WakeSlot(OnceLock<Waker>);

impl std::fmt::Debug for WakeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeSlot")
            .field("installed", &self.0.get().is_some())
            .finish()
    }
}

/// A cheap, cloneable way to send batches to one worker.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    shard: ShardId,
    tx: flume::Sender<Msg>,
    stats: Arc<ShardStats>,
    /// Shared by every worker of the pool, so `CONFIG SET hz` is one store.
    hz: Arc<AtomicU32>,
    /// Keyspace notification flags and sink, shared by every worker of the pool.
    notify: Arc<NotifyShared>,
    /// Set for a shard hosted by another thread's loop ([`WorkerPool::spawn_hosted`]): the
    /// channel send alone does not wake that loop.
    wake: Arc<WakeSlot>,
    /// Shared by every worker of the pool, like `hz`.
    limits: Arc<crate::coll::SharedLimits>,
    /// `maxmemory` and eviction settings, shared by every worker of the pool.
    eviction: Arc<crate::evict::SharedEviction>,
    /// Persistence's interest in `FLUSHALL` (see `persist::FlushHook`).
    pub(crate) flush_hook: Arc<crate::persist::FlushHook>,
}

impl WorkerHandle {
    /// The shard this worker owns.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The shard's statistics, updated by the worker.
    pub fn stats(&self) -> &ShardStats {
        &self.stats
    }

    pub(crate) fn stats_arc(&self) -> &Arc<ShardStats> {
        &self.stats
    }

    /// Sets the active-expiry frequency (`hz`, clamped to 1..=500) of every worker in this
    /// handle's pool; it applies from each worker's next cycle.
    pub fn set_hz(&self, hz: u32) {
        self.hz.store(hz.clamp(1, 500), Ordering::Relaxed);
    }

    /// Sets `notify-keyspace-events` for every worker of this handle's pool; each worker
    /// picks it up with its next batch.
    pub fn set_notify_flags(&self, flags: NotifyClass) {
        self.notify.flags.store(flags.0, Ordering::Relaxed);
    }

    /// The pool's current `notify-keyspace-events`.
    pub fn notify_flags(&self) -> NotifyClass {
        NotifyClass(self.notify.flags.load(Ordering::Relaxed))
    }

    /// Installs where the pool's workers publish keyspace notifications (the IO layer's
    /// Pub/Sub). Only the first call counts; returns false if a sink was already installed.
    pub fn set_event_sink(&self, sink: Arc<dyn EventSink>) -> bool {
        self.notify.sink.set(sink).is_ok()
    }

    /// Sets the compact-encoding thresholds (`hash-max-listpack-entries`, ...) of every
    /// worker in this handle's pool; they apply from the next command.
    pub fn set_encoding_limits(&self, limits: crate::EncodingLimits) {
        self.limits.store(limits);
    }

    /// Sets `maxmemory` (divided evenly among the shards), `maxmemory-policy`,
    /// `maxmemory-samples` and the LFU settings of every worker in this handle's pool; each
    /// worker picks them up with its next batch, and evicts down to a lowered limit within
    /// one timer cycle.
    pub fn set_eviction(&self, config: crate::EvictionConfig) {
        self.eviction.store(config);
    }

    /// Whether a shard of this handle's pool is over its share of `maxmemory` with nothing it
    /// may evict (as of its last pass): `denyoom` commands are then refused with `-OOM`.
    /// One relaxed load.
    pub fn out_of_memory(&self) -> bool {
        self.eviction.any_full()
    }

    /// The pool's current eviction settings.
    pub fn eviction(&self) -> crate::EvictionConfig {
        self.eviction.load()
    }

    /// Queues a batch; never blocks. Returns false if the worker has stopped.
    pub fn send(&self, batch: Batch) -> bool {
        let ok = self.tx.send(Msg::Batch(batch)).is_ok();
        self.wake_host(ok)
    }

    fn wake_host(&self, sent: bool) -> bool {
        if sent && let Some(wake) = self.wake.0.get() {
            wake();
        }
        sent
    }

    /// Queues `task` to run on the worker's thread, in order with batches. Returns false if
    /// the worker has stopped.
    pub(crate) fn run(&self, task: Box<dyn FnOnce(&mut Shard) + Send>) -> bool {
        let ok = self.tx.send(Msg::Run(Task(task))).is_ok();
        self.wake_host(ok)
    }
}

/// The running workers, one per shard.
#[derive(Debug)]
pub struct WorkerPool {
    handles: Vec<WorkerHandle>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `count` workers (at least one), each on a thread named `kvd-worker-N`.
    pub fn spawn(count: usize, config: ShardConfig) -> std::io::Result<WorkerPool> {
        Ok(Self::spawn_hosted(count, 0, config)?.0)
    }

    /// Makes `count` shards (at least one) of which the first `hosted` get no thread: their
    /// [`ShardExecutor`]s are returned, to be driven by threads of the caller's (an IO loop that
    /// also runs the shard's commands inline), which must install a wake-up hook with
    /// [`ShardExecutor::set_waker`] before any other thread sends to them. The other shards
    /// get worker threads as with [`WorkerPool::spawn`].
    pub fn spawn_hosted(
        count: usize,
        hosted: usize,
        config: ShardConfig,
    ) -> std::io::Result<(WorkerPool, Vec<ShardExecutor>)> {
        let count = count.max(1);
        let hz = Arc::new(AtomicU32::new(config.hz.clamp(1, 500)));
        let notify = Arc::new(NotifyShared::default());
        notify.flags.store(config.notify.0, Ordering::Relaxed);
        let limits = crate::coll::SharedLimits::new(config.encoding);
        let eviction = crate::evict::SharedEviction::new(config.eviction);
        let flush_hook = Arc::new(crate::persist::FlushHook::default());
        let mut pool = WorkerPool {
            handles: Vec::with_capacity(count),
            threads: Vec::new(),
        };
        let mut executors = Vec::new();
        for id in 0..count {
            // Unbounded: IO handlers must never block on a busy worker (that could deadlock
            // against a worker delivering to them); their batching bounds the queue in practice.
            let (tx, rx) = flume::unbounded();
            let stats = Arc::new(ShardStats::new(config.databases.max(1)));
            let mut shard = Shard::new(id, count, config.databases);
            shard.notifier.shared = Arc::clone(&notify);
            shard.tick();
            shard.limits = Arc::clone(&limits);
            shard.evictor.shared = Arc::clone(&eviction);
            shard.flush_hook = Arc::clone(&flush_hook);
            shard.tick();
            let wake = Arc::new(WakeSlot::default());
            let executor = ShardExecutor {
                shard,
                rx,
                stats: Arc::clone(&stats),
                hz: Arc::clone(&hz),
                sinks: Vec::new(),
                sched: Scheduler::default(),
                next_cycle: Instant::now() + period(&hz),
                snapshot_retry: None,
                last_slice: None,
                served: false,
                inline_ran: false,
            };
            pool.handles.push(WorkerHandle {
                shard: id,
                tx,
                stats,
                hz: Arc::clone(&hz),
                notify: Arc::clone(&notify),
                wake,
                limits: Arc::clone(&limits),
                eviction: Arc::clone(&eviction),
                flush_hook: Arc::clone(&flush_hook),
            });
            if id < hosted {
                executors.push(executor);
            } else if let Err(e) = pool.adopt(executor) {
                pool.shutdown();
                return Err(e);
            }
        }
        Ok((pool, executors))
    }

    /// Gives a hosted shard a worker thread of its own, e.g. when the loop that hosted it
    /// stops before the pool does (a save at shutdown still needs every shard).
    pub fn adopt(&mut self, executor: ShardExecutor) -> std::io::Result<()> {
        let id = executor.shard.id;
        let thread = std::thread::Builder::new()
            .name(format!("kvd-worker-{id}"))
            .spawn(move || executor.run())?;
        self.threads.push(thread);
        Ok(())
    }

    /// Handles to every worker, indexed by shard.
    pub fn handles(&self) -> &[WorkerHandle] {
        &self.handles
    }

    /// Stops every worker after it has finished the batches it already received, and joins them.
    pub fn shutdown(self) {
        for h in &self.handles {
            let _ = h.tx.send(Msg::Shutdown);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Replies gathered for one sink during one pass.
#[derive(Debug)]
struct Pending {
    sink: Arc<dyn ReplySink>,
    buf: BytesMut,
    replies: Vec<Reply>,
}

/// Most batches drained in one pass, so replies of a busy shard still flow out regularly.
const MAX_BATCHES_PER_PASS: usize = 256;

/// Time one active-expiry cycle may take, so it never stalls the shard noticeably.
const EXPIRE_BUDGET: Duration = Duration::from_millis(1);

/// Time one slice of a background snapshot may take between batches.
const SNAPSHOT_SLICE: Duration = Duration::from_millis(1);

/// The shortest slice a busy shard gives a snapshot.
const SNAPSHOT_MIN_SLICE: Duration = Duration::from_micros(50);

/// Pause before the next slice when the snapshot writer's queue was full (the writer drains
/// a slice in well under this), so a shard waiting for it does not spin.
const SNAPSHOT_BACKOFF: Duration = Duration::from_micros(500);

/// Interval between cycles while the previous one ran out of time with work left.
const FAST_CYCLE_PERIOD: Duration = Duration::from_millis(2);

fn period(hz: &AtomicU32) -> Duration {
    Duration::from_millis(1000 / u64::from(hz.load(Ordering::Relaxed).max(1)))
}

/// One shard and its inbox: what a worker thread runs, usable as a library by a thread that
/// hosts the shard itself (see [`WorkerPool::spawn_hosted`]).
///
/// A host calls [`ShardExecutor::pass`] whenever it has a batch of its own for the shard or
/// [`ShardExecutor::has_work`] says other threads sent some, and [`ShardExecutor::timer`]
/// when [`ShardExecutor::next_timer`] is due. Replies go out through each batch's
/// [`ReplySink`], the host's own included, once per pass.
pub struct ShardExecutor {
    shard: Shard,
    rx: flume::Receiver<Msg>,
    stats: Arc<ShardStats>,
    hz: Arc<AtomicU32>,
    /// Reused between passes to avoid reallocating.
    sinks: Vec<Pending>,
    /// Intent locks, scheduled transactions and the ops waiting for them.
    sched: Scheduler,
    /// When the next active-expiry cycle is due.
    next_cycle: Instant,
    /// While the snapshot writer's queue is full: when to try the next slice.
    snapshot_retry: Option<Instant>,
    /// When the last snapshot slice ended, and whether the shard served batches since.
    last_slice: Option<Instant>,
    served: bool,
    /// Commands ran through [`ShardExecutor::execute_inline`] since the last pass, which owes
    /// them its end-of-pass work.
    inline_ran: bool,
}

impl std::fmt::Debug for ShardExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardExecutor")
            .field("shard", &self.shard.id)
            .finish_non_exhaustive()
    }
}

impl ShardExecutor {
    /// The shard this executor owns.
    pub fn shard(&self) -> ShardId {
        self.shard.id
    }

    /// Installs the hook every [`WorkerHandle::send`] to this shard calls after queueing, so
    /// the hosting thread wakes up. Only the first call has an effect; call it before the
    /// shard's handles are used.
    pub fn set_waker(&self, handle: &WorkerHandle, wake: impl Fn() + Send + Sync + 'static) {
        let _ = handle.wake.0.set(Arc::new(wake));
    }

    /// True when other threads have queued messages this executor has not run yet.
    pub fn has_work(&self) -> bool {
        !self.rx.is_empty()
    }

    /// When [`ShardExecutor::timer`] should run next: the next active-expiry cycle or the
    /// nearest timeout of a client blocked on this shard.
    pub fn next_timer(&self) -> Instant {
        // While a background snapshot runs, the shard does not sleep: it serializes a slice
        // whenever its inbox is empty, or, while the writer's queue is full, looks again soon.
        if self.shard.snapshot_to.is_some() {
            return self.snapshot_retry.unwrap_or_else(Instant::now);
        }
        self.shard
            .blocked
            .next_deadline()
            .map_or(self.next_cycle, |d| d.min(self.next_cycle))
    }

    /// Runs the shard's timed work that is due: a slice of a background snapshot, blocked
    /// clients' timeouts, active expiry.
    pub fn timer(&mut self) {
        if self.shard.snapshot_to.is_some()
            && self.snapshot_retry.is_none_or(|t| t <= Instant::now())
        {
            // A busy shard gives the snapshot a third of the time it spent serving since the
            // last slice (a quarter of its time), an idle one whole slices: clients keep most
            // of the shard while it saves, and an idle shard saves at full speed.
            let now = Instant::now();
            let budget = match self.last_slice.take() {
                Some(end) if self.served => (now.saturating_duration_since(end) / 3)
                    .clamp(SNAPSHOT_MIN_SLICE, SNAPSHOT_SLICE),
                _ => SNAPSHOT_SLICE,
            };
            let worked = crate::persist::snapshot_slice(&mut self.shard, budget);
            self.snapshot_retry = (!worked).then(|| Instant::now() + SNAPSHOT_BACKOFF);
            self.served = false;
            self.last_slice = Some(Instant::now());
        }
        if self
            .shard
            .blocked
            .next_deadline()
            .is_some_and(|d| d <= Instant::now())
        {
            self.shard.tick();
            self.shard.blocked.expire(Instant::now());
            self.flush_outbox();
            self.deliver();
        }
        if Instant::now() >= self.next_cycle {
            // Entries of clients served by another shard, timed out or gone.
            self.shard.blocked.sweep();
            if self.shard.blocked.has_ready() && self.shard.blocked.may_serve() {
                // Elements promised to woken clients that went away.
                self.shard.tick();
                crate::blocking::serve_ready(&mut self.shard);
                self.flush_outbox();
                self.deliver();
            }
            // A lowered `maxmemory` is reached here even when no write comes (Redis evicts
            // from a timer too).
            self.shard.tick();
            let full =
                crate::evict::perform_evictions(&mut self.shard) == crate::evict::Outcome::Fail;
            self.shard.evictor.set_full(full);
            let more = self.shard.active_expire(EXPIRE_BUDGET);
            self.shard.notifier.flush();
            self.publish();
            if let Some(log) = self.shard.aof.as_mut() {
                // The expiries of this cycle go to the log now, not with the next pass.
                let _ = log.flush(Vec::new());
            }
            // While expired keys are plentiful, cycles come every 2 ms (at most a third of
            // the shard's time, never more than 1 ms at once) instead of every 1000/hz ms.
            self.next_cycle = Instant::now()
                + if more {
                    FAST_CYCLE_PERIOD
                } else {
                    period(&self.hz)
                };
        }
    }

    /// Blocks for at most `timeout` until a message arrives, then runs a pass. For a thread
    /// that drives the shard for a while without a loop of its own.
    pub fn serve_once(&mut self, timeout: Duration) {
        match self.rx.recv_timeout(timeout) {
            Ok(Msg::Batch(batch)) => {
                self.pass(Some(batch));
            }
            Ok(Msg::Run(task)) => self.run_task(task),
            Ok(Msg::Shutdown) | Err(_) => {}
        }
        self.timer();
    }

    fn run(mut self) {
        loop {
            let timeout = self.next_timer().saturating_duration_since(Instant::now());
            let mut stop = false;
            let msg = self.rx.recv_timeout(timeout);
            match msg {
                Ok(Msg::Batch(batch)) => {
                    stop = self.pass(Some(batch));
                }
                Ok(Msg::Run(task)) => self.run_task(task),
                Ok(Msg::Shutdown) => stop = true,
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => stop = true,
            }
            self.timer();
            if stop {
                self.publish();
                return;
            }
        }
    }

    /// Runs one command of the hosting thread at once, appending its reply (in `proto`) to
    /// `out`, when nothing this shard holds must run before it; returns false, with `out`
    /// untouched, when the command must be queued in a batch as usual (a transaction holds
    /// keys here, ops wait behind one, or the append-only log fsyncs before replies go out:
    /// with `appendfsync always` a pass's replies wait for its records). With the log on
    /// otherwise, the command's record goes to the writer at the end of the pass, before the
    /// host writes `out`, as a batch's would.
    ///
    /// The command's keys must all live on this shard: [`crate::route_resolved`] answered
    /// [`crate::Route::Shard`] with this shard, and `command`. The work that follows a batch
    /// (replies to clients the command woke, evictions, keyspace notifications, statistics) is
    /// done by the next [`ShardExecutor::pass`], which the host must run before it sends `out`
    /// to its client.
    pub fn execute_inline(
        &mut self,
        command: crate::Resolved,
        db: u16,
        proto: resp_codec::Protocol,
        req: &resp_codec::Request,
        out: &mut BytesMut,
    ) -> bool {
        if self.sched.has_ready()
            || !self.sched.deferred.is_empty()
            || self
                .shard
                .aof
                .as_ref()
                .is_some_and(|log| log.fsyncs_before_replies())
        {
            return false;
        }
        if !self.inline_ran {
            self.shard.tick();
            self.inline_ran = true;
        }
        execute_guarded(&mut self.shard, Some(command), db, proto, req, out);
        self.flush_outbox();
        true
    }

    /// Brings the data of `key` in `db` into the cache, changing nothing, ahead of a command
    /// on it (see [`resp_codec::peek_first_arguments`]): lookups of the next few commands done
    /// back to back overlap their cache misses, where each command alone would wait for its
    /// own. A key this shard does not own, or a database out of range, is ignored. The
    /// result only keeps the reads from being optimized away.
    pub fn warm(&self, db: u16, key: &[u8]) -> u64 {
        if self.shard.shard_count > 1
            && partition_router::shard_for(key, self.shard.shard_count) != self.shard.id
        {
            return 0;
        }
        self.shard
            .dbs
            .get(usize::from(db))
            .map_or(0, |d| d.warm(key))
    }

    /// Executes `first` (the host's own batch, run inline) and whatever other threads queued
    /// (bounded), then delivers one reply batch per sink. Returns true if a shutdown was
    /// received.
    pub fn pass(&mut self, first: Option<Batch>) -> bool {
        let mut drained = 0;
        if let Some(first) = first {
            self.shard.tick();
            self.execute(first);
            drained = 1;
        }
        let mut stop = false;
        while drained < MAX_BATCHES_PER_PASS {
            let Ok(msg) = self.rx.try_recv() else {
                break;
            };
            if drained == 0 {
                self.shard.tick();
            }
            drained += 1;
            match msg {
                Msg::Batch(batch) => self.execute(batch),
                // Replies gathered so far go out first: a task may block the shard for a while.
                Msg::Run(task) => {
                    self.deliver();
                    self.run_task(task);
                }
                Msg::Shutdown => {
                    stop = true;
                    break;
                }
            }
        }
        if drained > 0 || std::mem::take(&mut self.inline_ran) {
            self.served = true;
            self.deliver();
        }
        stop
    }

    /// Publishes statistics, then hands every pending reply batch to its sink.
    fn deliver(&mut self) {
        // Back within the budget before `used_memory` is published: a command may add more
        // than it evicted for (Redis allows that overshoot; kvd takes it back at once).
        let full = crate::evict::perform_evictions(&mut self.shard) == crate::evict::Outcome::Fail;
        self.shard.evictor.set_full(full);
        // Notifications before replies, as Redis publishes them before it answers.
        self.shard.notifier.flush();
        // Statistics first, so that whoever receives a reply also sees it counted.
        self.publish();
        if self.shard.aof.is_some() {
            return self.deliver_logged();
        }
        for p in self.sinks.drain(..) {
            p.sink.deliver(ReplyBatch {
                shard: self.shard.id,
                buf: p.buf.freeze(),
                replies: p.replies,
            });
        }
    }

    /// With the append-only log on: this pass's records go to the writer, and the replies too
    /// when they must wait for the fsync (`appendfsync always`).
    fn deliver_logged(&mut self) {
        let id = self.shard.id;
        let replies = self
            .sinks
            .drain(..)
            .map(|p| {
                let batch = ReplyBatch {
                    shard: id,
                    buf: p.buf.freeze(),
                    replies: p.replies,
                };
                (p.sink, batch)
            })
            .collect();
        let back = match self.shard.aof.as_mut() {
            Some(log) => log.flush(replies),
            None => Some(replies),
        };
        for (sink, batch) in back.into_iter().flatten() {
            sink.deliver(batch);
        }
    }

    fn run_task(&mut self, task: Task) {
        let shard = &mut self.shard;
        if catch_unwind(AssertUnwindSafe(|| (task.0)(shard))).is_err() {
            tracing::error!(shard = self.shard.id, "shard task panicked");
        }
        self.publish();
    }

    fn execute(&mut self, batch: Batch) {
        let idx = self.sink_index(&batch.reply_to);
        // One allocation of the right size instead of doubling from 16 as the replies come.
        self.sinks[idx].replies.reserve(batch.ops.len());
        for op in batch.ops {
            self.run_op(idx, op);
        }
        self.flush_outbox();
    }

    /// Moves the replies of blocked clients served or timed out into this pass's replies.
    #[inline]
    fn flush_outbox(&mut self) {
        if self.shard.blocked.outbox.is_empty() {
            return;
        }
        for (sink, reply) in std::mem::take(&mut self.shard.blocked.outbox) {
            let idx = self.sink_index(&sink);
            self.sinks[idx].replies.push(reply);
        }
    }

    /// The index in `sinks` of this pass's replies for `sink`.
    fn sink_index(&mut self, sink: &Arc<dyn ReplySink>) -> usize {
        // Compare data pointers only: the same sink may be seen through different vtables.
        let key = Arc::as_ptr(sink) as *const ();
        match self
            .sinks
            .iter()
            .position(|p| Arc::as_ptr(&p.sink) as *const () == key)
        {
            Some(i) => i,
            None => {
                self.sinks.push(Pending {
                    sink: Arc::clone(sink),
                    buf: BytesMut::with_capacity(4096),
                    replies: Vec::with_capacity(16),
                });
                self.sinks.len() - 1
            }
        }
    }

    fn run_op(&mut self, idx: usize, op: Op) {
        if self.sched.has_ready() && must_defer(&self.sched, &op) {
            // A ready transaction holds a key this op touches: the op runs once it released.
            let sink = Arc::clone(&self.sinks[idx].sink);
            self.sched.deferred.push_back((sink, op));
            return;
        }
        let shard = &mut self.shard;
        let body = match op.kind {
            OpKind::Command(req) => {
                let pending = &mut self.sinks[idx];
                let start = pending.buf.len();
                execute_guarded(shard, None, op.db, op.proto, &req, &mut pending.buf);
                ReplyBody::Encoded(start..pending.buf.len())
            }
            OpKind::Part(Part(PartKind::Block(part))) => {
                let (db, sink) = (op.db as usize, &self.sinks[idx].sink);
                let reply = catch_unwind(AssertUnwindSafe(|| {
                    if db >= shard.dbs.len() {
                        PartReply::error("ERR DB index is out of range")
                    } else {
                        crate::blocking::block(shard, db, *part, sink, op.tag)
                    }
                }));
                ReplyBody::Part(reply.unwrap_or_else(|_| {
                    tracing::error!(shard = shard.id, "blocking part panicked");
                    PartReply::error("ERR internal error")
                }))
            }
            OpKind::Part(Part(PartKind::Tx { seq, action })) => {
                match self.tx_hop(idx, op.tag, op.db, seq, *action) {
                    Some(reply) => ReplyBody::Part(reply),
                    None => return,
                }
            }
            OpKind::Part(part) => {
                let reply = catch_unwind(AssertUnwindSafe(|| shard.execute_part(op.db, part)));
                ReplyBody::Part(reply.unwrap_or_else(|_| {
                    tracing::error!(shard = shard.id, "part panicked");
                    PartReply::error("ERR internal error")
                }))
            }
        };
        self.sinks[idx].replies.push(Reply { tag: op.tag, body });
    }

    /// One hop of a scheduled transaction. Returns the reply, or `None` when it comes later
    /// (the transaction is queued behind older ones).
    fn tx_hop(
        &mut self,
        idx: usize,
        tag: u64,
        op_db: u16,
        seq: u64,
        action: TxAction,
    ) -> Option<PartReply> {
        let reply = match action {
            TxAction::Schedule {
                locks,
                whole,
                probe,
                run,
            } => {
                let locks = locks
                    .into_iter()
                    .map(|(db, k)| (resolve_db(db, op_db), k))
                    .collect();
                let waiter = Waiter {
                    sink: Arc::clone(&self.sinks[idx].sink),
                    tag,
                    db: op_db,
                    probe,
                    run,
                };
                match self.sched.schedule(seq, locks, whole, waiter) {
                    Scheduled::Rejected => PartResult::Rejected,
                    Scheduled::Queued => return None,
                    Scheduled::Ready(w) => {
                        let reply = self.on_ready(seq, w);
                        // A transaction that ran and released at once may have let others go.
                        self.after_release();
                        reply
                    }
                }
            }
            TxAction::Step(items) => {
                if !self.sched.is_ready(seq) {
                    PartResult::Error(Bytes::from_static(b"ERR transaction is not scheduled"))
                } else {
                    if self.sched.mark_stepped(seq) {
                        self.shard.blocked.hold();
                    }
                    // A frame with no count: the last hop's frames say how many there are.
                    PartResult::Run(self.run_tx(op_db, items, seq, Some(0)))
                }
            }
            TxAction::Capture(items, frames) => {
                if !self.sched.is_ready(seq) {
                    PartResult::Error(Bytes::from_static(b"ERR transaction is not scheduled"))
                } else {
                    if self.sched.mark_stepped(seq) {
                        self.shard.blocked.hold();
                    }
                    // One frame for the append-only log, as for a step.
                    let framed = self.shard.aof.is_some() && crate::aof::items_may_write(&items);
                    if framed && let Some(log) = self.shard.aof.as_mut() {
                        log.begin_tx(seq, Some(frames));
                    }
                    let mut outs = Vec::with_capacity(items.len());
                    let mut events = Vec::with_capacity(items.len());
                    for item in items {
                        let before = self.shard.notifier.events.len();
                        outs.extend(self.run_items(op_db, vec![item]));
                        events.push(self.shard.notifier.events.split_off(before));
                    }
                    if framed && let Some(log) = self.shard.aof.as_mut() {
                        log.end_tx();
                    }
                    let sink = self.shard.notifier.shared.sink.get().cloned();
                    PartResult::Captured { outs, events, sink }
                }
            }
            TxAction::Run(items, frames) => {
                if !self.sched.is_ready(seq) {
                    PartResult::Error(Bytes::from_static(b"ERR transaction is not scheduled"))
                } else {
                    let outs = self.run_tx(op_db, items, seq, Some(frames));
                    self.unhold_stepped(seq);
                    let (_, now_ready) = self.sched.release(seq);
                    self.wake(now_ready);
                    self.after_release();
                    PartResult::Run(outs)
                }
            }
            TxAction::Cancel => {
                if let Some(log) = self.shard.aof.as_mut() {
                    log.cancel_tx(seq);
                }
                self.unhold_stepped(seq);
                let (_, now_ready) = self.sched.release(seq);
                self.wake(now_ready);
                self.after_release();
                PartResult::Cancelled
            }
        };
        Some(PartReply(reply))
    }

    /// Before `seq` releases: if it ran intermediate hops, the blocked clients it held back
    /// are served now.
    fn unhold_stepped(&mut self, seq: u64) {
        if self.sched.is_stepped(seq) && self.shard.blocked.release() {
            crate::blocking::serve_ready(&mut self.shard);
        }
    }

    /// A transaction became ready: runs its probe (the reply is [`PartResult::Ready`]) or, for
    /// a transaction on this shard only, its items, releasing it at once.
    fn on_ready(&mut self, seq: u64, w: Waiter) -> PartResult {
        match w.run {
            Some(items) => {
                let outs = self.run_tx(w.db, items, seq, None);
                let (_, now_ready) = self.sched.release(seq);
                self.wake(now_ready);
                PartResult::Ran(outs)
            }
            None => {
                let probe = w.probe.map(|item| {
                    let out = self.run_items(w.db, vec![item]).pop();
                    Box::new(match out {
                        Some(TxOut::Part(r)) => r,
                        _ => PartResult::Ok,
                    })
                });
                if self.shard.notifier.flags != 0 {
                    PartResult::ReadyNotifying(probe)
                } else {
                    PartResult::Ready(probe)
                }
            }
        }
    }

    /// Replies to transactions that just became ready, in sequence order.
    fn wake(&mut self, waiters: Vec<(u64, Waiter)>) {
        let mut queue: VecDeque<(u64, Waiter)> = waiters.into();
        while let Some((seq, w)) = queue.pop_front() {
            let (sink, tag) = (Arc::clone(&w.sink), w.tag);
            let ran = w.run.is_some();
            let reply = if ran {
                // Runs and releases, which may make more transactions ready.
                let items = w.run;
                let outs = self.run_tx(w.db, items.unwrap_or_default(), seq, None);
                let (_, more) = self.sched.release(seq);
                queue.extend(more);
                PartResult::Ran(outs)
            } else {
                self.on_ready(seq, w)
            };
            let idx = self.sink_index(&sink);
            self.sinks[idx].replies.push(Reply {
                tag,
                body: ReplyBody::Part(PartReply(reply)),
            });
        }
    }

    /// Runs the ops deferred behind transactions that have released their keys, in arrival
    /// order; ops still blocked stay queued.
    fn after_release(&mut self) {
        if self.sched.deferred.is_empty() {
            return;
        }
        let deferred = std::mem::take(&mut self.sched.deferred);
        for (sink, op) in deferred {
            let idx = self.sink_index(&sink);
            // `run_op` defers the op again if it is still blocked, keeping the order.
            self.run_op(idx, op);
        }
    }

    fn run_items(&mut self, op_db: u16, items: Vec<TxItem>) -> Vec<TxOut> {
        run_items(&mut self.shard, op_db, items)
    }

    /// Runs a transaction's items; with the append-only log on, framed so that replay applies
    /// all of the transaction or none: `None` for a transaction on this shard only (`MULTI`),
    /// else the number of frames the whole transaction logs (0 for an intermediate hop).
    fn run_tx(
        &mut self,
        op_db: u16,
        items: Vec<TxItem>,
        seq: u64,
        parts: Option<u32>,
    ) -> Vec<TxOut> {
        let framed = self.shard.aof.is_some() && crate::aof::items_may_write(&items);
        if framed && let Some(log) = self.shard.aof.as_mut() {
            log.begin_tx(seq, parts);
        }
        let outs = run_items(&mut self.shard, op_db, items);
        if framed && let Some(log) = self.shard.aof.as_mut() {
            log.end_tx();
        }
        outs
    }

    fn publish(&mut self) {
        self.stats.publish(&mut self.shard);
    }
}

/// The database an item or lock names: [`OP_DB`] stands for the op's.
fn resolve_db(db: u16, op_db: u16) -> u16 {
    if db == OP_DB { op_db } else { db }
}

/// Whether `op` touches what a ready transaction holds. Transaction hops and `UNWATCH` never
/// wait; a command or `WATCH` waits if one of its keys is held (or, for a command over the
/// whole keyspace, if anything is); other parts are whole-keyspace commands.
/// Runs one command (`command`: already looked up, when the caller has it), appending its
/// reply to `buf`. A bug in a command must not kill the shard: a panic drops the partial reply
/// and answers with an error instead.
fn execute_guarded(
    shard: &mut Shard,
    command: Option<crate::Resolved>,
    db: u16,
    proto: resp_codec::Protocol,
    req: &resp_codec::Request,
    buf: &mut BytesMut,
) {
    let start = buf.len();
    let ok = catch_unwind(AssertUnwindSafe(|| {
        let mut out = Out::new(buf, proto);
        match command {
            Some(command) => shard.execute_at(command.index(), db, req, &mut out),
            None => shard.execute(db, req, &mut out),
        }
    }));
    if ok.is_err() {
        tracing::error!(
            shard = shard.id,
            command = %String::from_utf8_lossy(req.name()),
            "command panicked"
        );
        buf.truncate(start);
        resp_codec::write_error(buf, b"ERR internal error");
    }
}

fn must_defer(sched: &Scheduler, op: &Op) -> bool {
    match &op.kind {
        OpKind::Command(req) => {
            let args = req.args();
            match crate::route::validate(args) {
                Ok((_, spec)) if spec.first_key > 0 => {
                    let mut keys = spec
                        .key_positions(args.len())
                        .filter_map(|i| args.get(i))
                        .map(|k| &k[..]);
                    sched.blocks(op.db, Some(&mut keys))
                }
                _ => sched.blocks(op.db, None),
            }
        }
        OpKind::Part(Part(PartKind::Tx { .. } | PartKind::Unwatch { .. })) => false,
        // A `WATCH` pipelined behind a transaction of the same connection must not see the
        // transaction's later hops as changes.
        OpKind::Part(Part(PartKind::Watch { keys, .. })) => {
            let mut keys = keys.iter().map(|k| &k[..]);
            sched.blocks(op.db, Some(&mut keys))
        }
        OpKind::Part(_) => sched.blocks(op.db, None),
    }
}

/// Runs a transaction's items in order against this shard.
pub(crate) fn run_items(shard: &mut Shard, op_db: u16, items: Vec<TxItem>) -> Vec<TxOut> {
    // Blocked clients are served once the whole transaction has run, as after Redis's EXEC.
    shard.blocked.hold();
    let outs = run_items_held(shard, op_db, items);
    if shard.blocked.release() {
        crate::blocking::serve_ready(shard);
    }
    outs
}

fn run_items_held(shard: &mut Shard, op_db: u16, items: Vec<TxItem>) -> Vec<TxOut> {
    let mut skip = false;
    let mut outs = Vec::with_capacity(items.len());
    shard.in_exec = true;
    for item in items {
        let out = match item {
            TxItem::Command { .. } | TxItem::Part { .. } if skip => TxOut::Skipped,
            TxItem::Command { db, proto, req } => {
                let mut buf = BytesMut::new();
                let db = resolve_db(db, op_db);
                let ok = catch_unwind(AssertUnwindSafe(|| {
                    let mut out = Out::new(&mut buf, proto);
                    shard.execute(db, &req, &mut out);
                }));
                if ok.is_err() {
                    buf.clear();
                    resp_codec::write_error(&mut buf, b"ERR internal error");
                }
                TxOut::Encoded(buf.freeze())
            }
            TxItem::Part { db, kind } => {
                let db = resolve_db(db, op_db);
                let reply = catch_unwind(AssertUnwindSafe(|| shard.execute_part(db, Part(kind))));
                TxOut::Part(
                    reply
                        .unwrap_or_else(|_| PartReply::error("ERR internal error"))
                        .0,
                )
            }
            TxItem::WatchCheck { client, dbs } => {
                let clock = shard.clock;
                let touched = dbs.iter().any(|&db| {
                    shard
                        .dbs
                        .get_mut(resolve_db(db, op_db) as usize)
                        .is_some_and(|d| d.watch_touched(client, clock))
                });
                skip |= touched;
                TxOut::Part(PartResult::Count(touched as i64))
            }
            TxItem::Unwatch { client, keys } => {
                for (db, key) in &keys {
                    if let Some(d) = shard.dbs.get_mut(resolve_db(*db, op_db) as usize) {
                        d.unwatch(key, client);
                    }
                }
                TxOut::Part(PartResult::Ok)
            }
            TxItem::Snapshot(work) => TxOut::Part(crate::persist::cut(shard, work)),
        };
        outs.push(out);
    }
    shard.in_exec = false;
    outs
}
