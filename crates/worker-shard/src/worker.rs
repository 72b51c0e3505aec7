//! The worker thread and the handles IO handlers use to reach it.
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::ShardId;
use crate::atomic::{self, Arrival, AtomicOp};
use crate::message::{Batch, OpKind, Reply, ReplyBatch, ReplyBody, ReplySink};
use crate::route::{Part, PartKind, PartReply};
use crate::shard::{Out, Shard};
use crate::stats::ShardStats;

/// Settings shared by all shards.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Number of databases per shard (`databases`, 16 by default).
    pub databases: usize,
    /// Active-expiry cycles per second (`hz`, 10 by default).
    pub hz: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            databases: 16,
            hz: 10,
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

/// A cheap, cloneable way to send batches to one worker.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    shard: ShardId,
    tx: flume::Sender<Msg>,
    stats: Arc<ShardStats>,
    /// Shared by every worker of the pool, so `CONFIG SET hz` is one store.
    hz: Arc<AtomicU32>,
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

    /// Sets the active-expiry frequency (`hz`, clamped to 1..=500) of every worker in this
    /// handle's pool; it applies from each worker's next cycle.
    pub fn set_hz(&self, hz: u32) {
        self.hz.store(hz.clamp(1, 500), Ordering::Relaxed);
    }

    /// Queues a batch; never blocks. Returns false if the worker has stopped.
    pub fn send(&self, batch: Batch) -> bool {
        self.tx.send(Msg::Batch(batch)).is_ok()
    }

    /// Queues `task` to run on the worker's thread, in order with batches. Returns false if
    /// the worker has stopped.
    pub(crate) fn run(&self, task: Box<dyn FnOnce(&mut Shard) + Send>) -> bool {
        self.tx.send(Msg::Run(Task(task))).is_ok()
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
        let count = count.max(1);
        let hz = Arc::new(AtomicU32::new(config.hz.clamp(1, 500)));
        let mut pool = WorkerPool {
            handles: Vec::with_capacity(count),
            threads: Vec::new(),
        };
        for id in 0..count {
            // Unbounded: IO handlers must never block on a busy worker (that could deadlock
            // against a worker delivering to them); their batching bounds the queue in practice.
            let (tx, rx) = flume::unbounded();
            let stats = Arc::new(ShardStats::new(config.databases.max(1)));
            let worker = Worker {
                shard: Shard::new(id, count, config.databases),
                rx,
                stats: Arc::clone(&stats),
                hz: Arc::clone(&hz),
                sinks: Vec::new(),
                buffer: VecDeque::new(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("kvd-worker-{id}"))
                .spawn(move || worker.run());
            match thread {
                Ok(t) => pool.threads.push(t),
                Err(e) => {
                    pool.shutdown();
                    return Err(e);
                }
            }
            pool.handles.push(WorkerHandle {
                shard: id,
                tx,
                stats,
                hz: Arc::clone(&hz),
            });
        }
        Ok(pool)
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

/// Interval between cycles while the previous one ran out of time with work left.
const FAST_CYCLE_PERIOD: Duration = Duration::from_millis(2);

struct Worker {
    shard: Shard,
    rx: flume::Receiver<Msg>,
    stats: Arc<ShardStats>,
    hz: Arc<AtomicU32>,
    /// Reused between passes to avoid reallocating.
    sinks: Vec<Pending>,
    /// Messages taken from the inbox while waiting for an atomic op, processed before it.
    buffer: VecDeque<Msg>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("shard", &self.shard.id)
            .finish()
    }
}

impl Worker {
    fn run(mut self) {
        let period = |hz: &AtomicU32| {
            Duration::from_millis(1000 / u64::from(hz.load(Ordering::Relaxed).max(1)))
        };
        let mut next_cycle = Instant::now() + period(&self.hz);
        loop {
            let timeout = next_cycle.saturating_duration_since(Instant::now());
            let mut stop = false;
            let msg = match self.buffer.pop_front() {
                Some(msg) => Ok(msg),
                None => self.rx.recv_timeout(timeout),
            };
            match msg {
                Ok(Msg::Batch(batch)) => {
                    stop = self.pass(batch);
                }
                Ok(Msg::Run(task)) => self.run_task(task),
                Ok(Msg::Shutdown) => stop = true,
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => stop = true,
            }
            if Instant::now() >= next_cycle {
                let more = self.shard.active_expire(EXPIRE_BUDGET);
                self.publish();
                // While expired keys are plentiful, cycles come every 2 ms (at most a third of
                // the shard's time, never more than 1 ms at once) instead of every 1000/hz ms.
                next_cycle = Instant::now()
                    + if more {
                        FAST_CYCLE_PERIOD
                    } else {
                        period(&self.hz)
                    };
            }
            if stop {
                self.publish();
                return;
            }
        }
    }

    /// Executes `first` and whatever else is queued (bounded), then delivers one reply batch
    /// per sink. Returns true if a shutdown was received.
    fn pass(&mut self, first: Batch) -> bool {
        self.shard.tick();
        self.execute(first);
        let mut stop = false;
        for _ in 1..MAX_BATCHES_PER_PASS {
            let msg = match self.buffer.pop_front() {
                Some(msg) => Ok(msg),
                None => self.rx.try_recv(),
            };
            match msg {
                Ok(Msg::Batch(batch)) => self.execute(batch),
                // Replies gathered so far go out first: a task may block the shard for a while.
                Ok(Msg::Run(task)) => {
                    self.deliver();
                    self.run_task(task);
                }
                Ok(Msg::Shutdown) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        self.deliver();
        stop
    }

    /// Publishes statistics, then hands every pending reply batch to its sink.
    fn deliver(&mut self) {
        // Statistics first, so that whoever receives a reply also sees it counted.
        self.publish();
        for p in self.sinks.drain(..) {
            p.sink.deliver(ReplyBatch {
                shard: self.shard.id,
                buf: p.buf.freeze(),
                replies: p.replies,
            });
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
        // Compare data pointers only: the same sink may be seen through different vtables.
        let key = Arc::as_ptr(&batch.reply_to) as *const ();
        let idx = match self
            .sinks
            .iter()
            .position(|p| Arc::as_ptr(&p.sink) as *const () == key)
        {
            Some(i) => i,
            None => {
                self.sinks.push(Pending {
                    sink: batch.reply_to,
                    buf: BytesMut::with_capacity(4096),
                    replies: Vec::with_capacity(batch.ops.len()),
                });
                self.sinks.len() - 1
            }
        };
        let shard = &mut self.shard;
        let pending = &mut self.sinks[idx];
        let (rx, buffer) = (&self.rx, &mut self.buffer);
        for op in batch.ops {
            let body = match op.kind {
                OpKind::Command(req) => {
                    let start = pending.buf.len();
                    let ok = catch_unwind(AssertUnwindSafe(|| {
                        let mut out = Out::new(&mut pending.buf, op.proto);
                        shard.execute(op.db, &req, &mut out);
                    }));
                    if ok.is_err() {
                        // A bug in a command must not kill the shard: drop the partial reply
                        // and answer with an error instead.
                        tracing::error!(
                            shard = shard.id,
                            command = %String::from_utf8_lossy(req.name()),
                            "command panicked"
                        );
                        pending.buf.truncate(start);
                        resp_codec::write_error(&mut pending.buf, b"ERR internal error");
                    }
                    ReplyBody::Encoded(start..pending.buf.len())
                }
                OpKind::Part(Part(PartKind::Atomic { op: atomic, step })) => {
                    let arrival = match atomic.arrive() {
                        Some(arrival) => arrival,
                        None => wait_atomic(&atomic, rx, buffer),
                    };
                    let db = op.db;
                    let reply = catch_unwind(AssertUnwindSafe(|| {
                        shard.execute_atomic(db, &atomic, step, arrival)
                    }));
                    ReplyBody::Part(reply.unwrap_or_else(|_| {
                        tracing::error!(shard = shard.id, "atomic part panicked");
                        PartReply::error("ERR internal error")
                    }))
                }
                OpKind::Part(part) => {
                    let reply = catch_unwind(AssertUnwindSafe(|| shard.execute_part(op.db, part)));
                    ReplyBody::Part(reply.unwrap_or_else(|_| {
                        tracing::error!(shard = shard.id, "part panicked");
                        PartReply::error("ERR internal error")
                    }))
                }
            };
            pending.replies.push(Reply { tag: op.tag, body });
        }
    }

    fn publish(&mut self) {
        self.stats.publish(&mut self.shard);
    }
}

/// How often a shard waiting for an atomic op looks at its inbox for an older op.
const ATOMIC_POLL: Duration = Duration::from_micros(200);

/// Waits until every shard of `op` has arrived, while watching the inbox (moved into
/// `buffer`, to be processed afterwards in order) for an older atomic op that this shard
/// must reach first: then `op`, the younger, is aborted (wait-die; see `atomic.rs`).
fn wait_atomic(op: &AtomicOp, rx: &flume::Receiver<Msg>, buffer: &mut VecDeque<Msg>) -> Arrival {
    let deadline = atomic::deadline();
    loop {
        if let Some(arrival) = op.wait_first(ATOMIC_POLL) {
            return arrival;
        }
        buffer.extend(rx.try_iter());
        let older = buffer.iter().any(|msg| match msg {
            Msg::Batch(batch) => batch.ops.iter().any(|o| match &o.kind {
                OpKind::Part(Part(PartKind::Atomic { op: other, .. })) => {
                    atomic::older_op_waiting(op.ticket(), other)
                }
                _ => false,
            }),
            // A snapshot is waiting for every shard: let it go first, as an older op would.
            Msg::Run(_) => true,
            Msg::Shutdown => false,
        });
        if older || Instant::now() >= deadline {
            return op.try_abort();
        }
    }
}
