//! Atomic execution of commands that span shards (`MSET`, `MGET`, `RENAME`, ...).
//!
//! Every part of an atomic command carries the same [`AtomicOp`], a barrier for the shards it
//! involves. A shard that reaches its part stops (executing nothing else) until every involved
//! shard has reached its own part; then all of them apply their parts, with later phases
//! exchanging data (a moved value, a veto) through the op's scratch space. No shard can serve
//! any command between the moment all arrived and the moment it applied its part, so no client
//! ever observes the command half applied: it takes effect at the instant the last shard
//! arrives.
//!
//! Two atomic commands can reach two shards in opposite orders, each shard then waiting for
//! the other. This is broken with wait-die: every op has a ticket (its age, kept across
//! retries); a shard waiting for an op that finds an *older* atomic op queued behind it in its
//! inbox aborts the younger op it is waiting on. Nothing of an aborted op has been applied; its
//! coordinator sends it again. A part that never arrives (a lost connection) aborts the op
//! after a long timeout, so a shard can never hang.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::keyspace::Value;

/// Source of tickets: lower is older.
static TICKETS: AtomicU64 = AtomicU64::new(1);

/// A fresh ticket for a new atomic command.
pub(crate) fn new_ticket() -> u64 {
    TICKETS.fetch_add(1, Ordering::Relaxed)
}

/// Data the shards of one atomic op exchange between phases.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// A value (and expiry) moved from the source shard to the destination shard.
    pub(crate) moved: Option<(Value, Option<i64>)>,
    /// Some shard found a reason not to apply (`MSETNX`: a key exists).
    pub(crate) veto: bool,
    /// `RENAMENX`: the source exists.
    pub(crate) src_exists: bool,
    /// `RENAMENX`: the destination exists.
    pub(crate) dst_exists: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Shards waiting in the current phase.
    arrived: usize,
    /// Completed phases; 0 until every shard has arrived at its part.
    phase: u32,
    aborted: bool,
    scratch: Scratch,
}

/// The shared barrier of one attempt at an atomic command.
#[derive(Debug)]
pub(crate) struct AtomicOp {
    ticket: u64,
    parties: usize,
    state: Mutex<State>,
    cv: Condvar,
}

/// How waiting for the first phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Every shard arrived: apply the part.
    Complete,
    /// The op was aborted: apply nothing.
    Aborted,
}

/// Longest wait for the other shards before the op is given up (only a part that was never
/// sent can take this long).
pub(crate) const LOST_PART_TIMEOUT: Duration = Duration::from_secs(2);

impl AtomicOp {
    pub(crate) fn new(ticket: u64, parties: usize) -> Arc<AtomicOp> {
        Arc::new(AtomicOp {
            ticket,
            parties: parties.max(1),
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        })
    }

    /// The op's age: lower is older.
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a shard panicked inside an op; the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers this shard at the first phase. Returns `Some` if that settled the op.
    pub(crate) fn arrive(&self) -> Option<Arrival> {
        let mut s = self.lock();
        if s.aborted {
            return Some(Arrival::Aborted);
        }
        s.arrived += 1;
        if s.arrived == self.parties {
            s.arrived = 0;
            s.phase = 1;
            self.cv.notify_all();
            return Some(Arrival::Complete);
        }
        None
    }

    /// Waits up to `timeout` for the first phase to settle.
    pub(crate) fn wait_first(&self, timeout: Duration) -> Option<Arrival> {
        let s = self.lock();
        let (s, _) = self
            .cv
            .wait_timeout_while(s, timeout, |s| s.phase == 0 && !s.aborted)
            .unwrap_or_else(|e| e.into_inner());
        if s.phase > 0 {
            Some(Arrival::Complete)
        } else if s.aborted {
            Some(Arrival::Aborted)
        } else {
            None
        }
    }

    /// Aborts the op unless every shard already arrived; returns how it settled.
    pub(crate) fn try_abort(&self) -> Arrival {
        let mut s = self.lock();
        if s.phase > 0 {
            return Arrival::Complete;
        }
        s.aborted = true;
        self.cv.notify_all();
        Arrival::Aborted
    }

    /// Whether the first phase has settled (complete or aborted).
    pub(crate) fn is_settled(&self) -> bool {
        let s = self.lock();
        s.phase > 0 || s.aborted
    }

    /// A later phase: waits until every shard has called it. Only called once the first phase
    /// is complete, when every shard is executing this op, so it waits on nothing else; the
    /// timeout only guards against a shard that panicked inside the op (the others then carry
    /// on with what the scratch space holds rather than hang).
    pub(crate) fn barrier(&self) {
        let mut s = self.lock();
        let phase = s.phase;
        s.arrived += 1;
        if s.arrived == self.parties {
            s.arrived = 0;
            s.phase += 1;
            self.cv.notify_all();
            return;
        }
        let _guard = self
            .cv
            .wait_timeout_while(s, LOST_PART_TIMEOUT, |s| s.phase == phase)
            .unwrap_or_else(|e| e.into_inner());
    }

    /// The op's scratch space.
    pub(crate) fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        f(&mut self.lock().scratch)
    }
}

/// One shard's share of an atomic command.
#[derive(Debug, Clone)]
pub(crate) enum AtomicStep {
    /// Read or write these keys once every shard is there (`MGET`, `MSET`, `DEL`, `UNLINK`,
    /// `EXISTS`, `TOUCH`).
    Mget(Vec<Bytes>),
    Mset(Vec<Bytes>),
    Del(Vec<Bytes>),
    Exists(Vec<Bytes>),
    Touch(Vec<Bytes>),
    /// `DBSIZE` of the op's database.
    Dbsize,
    /// `MSETNX`: veto if any key exists here; set unless some shard vetoed.
    MsetNx(Vec<Bytes>),
    /// `RENAME`/`RENAMENX` source: take the value and hand it over.
    RenameSrc {
        key: Bytes,
        nx: bool,
    },
    /// `RENAME`/`RENAMENX` destination: receive the value.
    RenameDst {
        key: Bytes,
        nx: bool,
    },
    /// `COPY` source: hand a copy over.
    CopySrc {
        key: Bytes,
    },
    /// `COPY` destination.
    CopyDst {
        key: Bytes,
        db: Option<usize>,
        replace: bool,
    },
}

/// Whether a buffered message holds an atomic part older than `ticket` that is still waiting
/// for its shards: then the op with `ticket` must die so the older one can proceed.
pub(crate) fn older_op_waiting(ticket: u64, op: &AtomicOp) -> bool {
    op.ticket() < ticket && !op.is_settled()
}

/// Deadline helper for the wait loop.
pub(crate) fn deadline() -> Instant {
    Instant::now() + LOST_PART_TIMEOUT
}
