//! Blocking pops (`BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`, `BLMPOP`, and the sorted sets'
//! `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`) and the cross-shard forms of `LMOVE`, `RPOPLPUSH` and
//! `LMPOP`.
//!
//! # Design
//!
//! A blocking command is always driven by a [`BlockingCmd`] coordinator on the IO side, even
//! when its keys share a shard: the coordinator is a barrier (the connection's later commands
//! wait, as a blocked Redis client processes nothing), it tells the IO layer when the client is
//! blocked (`INFO clients`, `CLIENT LIST`) and it ends the wait for `CLIENT UNBLOCK`.
//!
//! The coordinator visits the shards of its keys one at a time, in the order their first key
//! appears, with a [`BlockPart`]. A shard pops at once if one of its keys holds a non-empty
//! list (keys in argument order); otherwise it parks the part in a FIFO queue per key and
//! answers `Blocked`, and the coordinator goes on to the next shard. Nothing ever waits inside
//! a worker: a parked part is an entry in [`Blocked`], and the worker goes on serving others.
//!
//! Every part of one command shares one [`Waiter`], a claim token: a shard pops for the client
//! only after winning the token with a compare-and-swap, so however many shards hold the
//! client's parts and however their pushes race, exactly one element (or one timeout) is
//! produced for it. Losing shards drop their stale entry when they next meet it, or at the
//! next sweep (every `1000 / hz` ms), so a disconnected or served client leaves nothing behind.
//!
//! # Wake-up and fairness
//!
//! After every command that names a key with waiters (a push, `LMOVE` into it, `RENAME` onto
//! it, ...) and after every cross-shard part, the shard serves the waiters of the keys that
//! became non-empty lists, in the order they blocked, one element each, for as long as the list
//! has elements, exactly as Redis's ready-keys processing does after each command. A client
//! blocked on keys of several shards is in the FIFO queue of each; it is served by whichever
//! shard first has an element for it, and on that shard it keeps its place among the others.
//! The guarantee is therefore FIFO per key among the clients still waiting; between two
//! shards, order follows which shard's key was filled first.
//!
//! # Timeouts
//!
//! Timeouts are driven by the workers: each shard keeps its parked parts in deadline order and
//! its loop sleeps at most until the nearest deadline, so a timeout fires within about a
//! millisecond of its time. Every shard of a command holds the same deadline; the first to reach
//! it claims the token and answers the timeout.
//!
//! # Moves across shards
//!
//! `LMOVE`/`RPOPLPUSH` with source and destination on different shards, and `LMPOP` over keys
//! on several shards, are scheduled transactions ([`ListMove`], [`ListMpop`]; see `txn.rs`):
//! every key is locked, checked under the locks in Redis's order, and the element moves in
//! intermediate hops while both keys stay locked, so no client sees it in neither list or in
//! both. A `BLMOVE` that finds an element at once runs the same way.
//!
//! A `BLMOVE`/`BRPOPLPUSH` that blocked and is served later runs the same way when its
//! destination is on another shard: a shard serves a waiter by itself and cannot wait for
//! another's lock, so the source shard does not pop for it. It claims the client's token and
//! answers [`PartResult::Wake`] instead, promising it one element of the list; the coordinator
//! then runs the scheduled [`ListMove`], which locks both keys in its scheduling hop. The
//! element is thus never in neither list nor in both, and the destination's type is checked
//! under the locks (WRONGTYPE, as Redis answers a served `BLMOVE` whose destination has the
//! wrong type).
//!
//! The promise lasts until the move's pop, however many hops and retries the move takes: while
//! a list holds no more elements than are promised, blocked clients behind the woken ones wait
//! (a shard serves nobody else from them, and a blocking pop that arrives finds nothing). Only
//! a non-blocking command can take a promised element (in Redis the woken client would have
//! had it before that command ran); the move then finds the source empty, and the client
//! blocks again with its original deadline at the head of the source's queue, where it was
//! when woken. Its promise ends only once it is there, so an element pushed meanwhile is still
//! its own. A promise whose move ends without a pop (an error, or the client went away) is
//! freed at the shard's next sweep.
//!
//! Deviation from Redis: a woken client is not blocked (`CLIENT UNBLOCK` does not reach it,
//! `blocked_clients` does not count it) for the round trip its move takes, and two clients
//! re-blocking from one push may swap places at the head of the queue.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use partition_router::shard_for;
use resp_codec::Frame;

use crate::ShardId;
use crate::cmd_list::{self, Mpop, modify, parse_mpop};
use crate::cmd_zset::{self, Elements, Zmpop, parse_zmpop};
use crate::keyspace::Value;
use crate::list::End;
use crate::message::{Reply, ReplyBody, ReplySink};
use crate::notify::NotifyClass;
use crate::route::{Coordinator, Part, PartKind, PartReply, PartResult, Route, Step};
use crate::sched::{TxItem, TxOut};
use crate::shard::{Out, Shard, err};
use crate::txn::{OP_DB, Scheduled, ShardPlan, TxBody};

/// How a blocked command was ended early by `CLIENT UNBLOCK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unblock {
    /// `CLIENT UNBLOCK id` / `TIMEOUT`: reply as if the timeout had passed.
    Timeout,
    /// `CLIENT UNBLOCK id ERROR`: reply `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

const WAITING: u8 = 0;
const CLAIMED: u8 = 1;
const CANCELLED: u8 = 2;
/// Woken for a cross-shard move ([`PartResult::Wake`]): the source shard keeps one element
/// promised to the client until its move takes it, it blocks again, or it goes away.
const WOKEN: u8 = 3;

/// The claim token shared by every part of one blocking command.
#[derive(Debug)]
pub(crate) struct Waiter {
    state: AtomicU8,
    deadline: Option<Instant>,
}

impl Waiter {
    fn new(deadline: Option<Instant>) -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicU8::new(WAITING),
            deadline,
        })
    }

    /// Takes the right to answer for the client (pop, time out or fail); true for exactly one
    /// caller.
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Withdraws the command (`CLIENT UNBLOCK`); false if a shard claimed it first.
    fn cancel(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Claims the client for a cross-shard move that runs next (see [`WOKEN`]).
    fn wake(&self) -> bool {
        self.state
            .compare_exchange(WAITING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The promise of an element to a woken client is settled: its move took the element, or
    /// it found none and the client waits again.
    fn fulfil(&self) {
        let _ = self
            .state
            .compare_exchange(WOKEN, CLAIMED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The client went away: nothing may be popped for it, and an element promised to it is
    /// free again.
    fn withdraw(&self) {
        let _ =
            self.state
                .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
        let _ = self
            .state
            .compare_exchange(WOKEN, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
    }

    fn is_settled(&self) -> bool {
        self.state.load(Ordering::Acquire) != WAITING
    }

    fn is_woken(&self) -> bool {
        self.state.load(Ordering::Acquire) == WOKEN
    }
}

/// What a blocked client pops. New blocking types (sorted sets' `BZPOPMIN`, `BZPOPMAX`,
/// `BZMPOP`) add a variant here and an arm in [`pop_for`] and [`ready_len`]; the queues,
/// timeouts, claims and the coordinator are shared.
#[derive(Debug, Clone)]
pub(crate) enum PopKind {
    /// `BLPOP`/`BRPOP`: one element, answered `[key, element]`.
    Pop(End),
    /// `BLMPOP`/`LMPOP`: up to `count` elements, answered `[key, [elements...]]`.
    Mpop { end: End, count: usize },
    /// `BLMOVE`/`BRPOPLPUSH`/`LMOVE`: one element moved to `dst` when `dst_here`, answered
    /// with the element; else the client is woken ([`PartResult::Wake`]) to move it as a
    /// scheduled transaction.
    Move {
        from: End,
        to: End,
        dst: Bytes,
        dst_here: bool,
    },
    /// `BZPOPMIN`/`BZPOPMAX` (`count` 1) and `BZMPOP`: members of a sorted set with the lowest
    /// (highest if `max`) scores.
    ZPop { max: bool, count: usize },
}

impl PopKind {
    /// Whether this pops from sorted sets (else from lists): a key of the other type is
    /// WRONGTYPE for a new command and never ready for a parked one.
    fn is_zset(&self) -> bool {
        matches!(self, PopKind::ZPop { .. })
    }
}

/// One shard's share of a blocking command.
#[derive(Debug)]
pub(crate) struct BlockPart {
    waiter: Arc<Waiter>,
    /// This shard's keys, in argument order.
    keys: Vec<Bytes>,
    kind: PopKind,
    /// False for the non-blocking cross-shard commands: answer `Empty` instead of parking.
    block: bool,
    /// Park at the head of the key's queue: a woken cross-shard move whose element was taken
    /// by someone else before its transaction ran waits again in the place it had.
    front: bool,
    /// The token of that woken move: the element promised to it is released once this part
    /// has taken the client's place again.
    replaces: Option<Arc<Waiter>>,
}

/// A part parked on a shard.
#[derive(Debug)]
struct Parked {
    waiter: Arc<Waiter>,
    sink: Arc<dyn ReplySink>,
    tag: u64,
    kind: PopKind,
}

/// The wait queues of one shard.
#[derive(Debug, Default)]
pub(crate) struct Blocked {
    queues: HashMap<(usize, Bytes), VecDeque<Arc<Parked>>>,
    timers: BTreeMap<(Instant, u64), Arc<Parked>>,
    seq: u64,
    ready: VecDeque<(usize, Bytes)>,
    /// Replies for parked parts that were served or timed out, for the worker to deliver.
    pub(crate) outbox: Vec<(Arc<dyn ReplySink>, Reply)>,
    /// Non-zero while a transaction runs: keys are signalled but served only at its end.
    held: u32,
    /// Per key, the clients woken for a cross-shard move from it whose move has not taken its
    /// element yet: as many elements stay reserved, and the clients behind them wait.
    promised: HashMap<(usize, Bytes), Vec<Arc<Waiter>>>,
}

impl Blocked {
    /// Whether no part is parked here (the common case, checked after every command).
    pub(crate) fn is_idle(&self) -> bool {
        self.queues.is_empty()
    }

    /// Whether waiters may be served now (no transaction is running).
    pub(crate) fn may_serve(&self) -> bool {
        self.held == 0 && !self.queues.is_empty()
    }

    /// A transaction starts: serve nobody until [`Blocked::release`].
    pub(crate) fn hold(&mut self) {
        self.held += 1;
    }

    /// A transaction ended; true if waiters may be served now.
    pub(crate) fn release(&mut self) -> bool {
        self.held = self.held.saturating_sub(1);
        self.may_serve()
    }

    /// Notes that `key` may have become a non-empty list.
    pub(crate) fn signal(&mut self, db: usize, key: &Bytes) {
        if self.queues.contains_key(&(db, key.clone())) {
            self.ready.push_back((db, key.clone()));
        }
    }

    /// Notes that any waited-on key of `db` may have changed (a part touched several keys).
    pub(crate) fn signal_db(&mut self, db: usize) {
        let keys: Vec<(usize, Bytes)> = self
            .queues
            .keys()
            .filter(|(d, _)| *d == db)
            .cloned()
            .collect();
        self.ready.extend(keys);
    }

    /// Notes that every waited-on key may have changed (`SWAPDB`, `FLUSHALL`).
    pub(crate) fn signal_all(&mut self) {
        let keys: Vec<(usize, Bytes)> = self.queues.keys().cloned().collect();
        self.ready.extend(keys);
    }

    /// The nearest deadline of a parked part.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    /// Answers every parked part whose deadline passed (unless another shard claimed it).
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let parked = entry.remove();
            if parked.waiter.claim() {
                self.answer(&parked, PartResult::TimedOut);
            }
        }
    }

    /// Drops entries whose command was served elsewhere, timed out or withdrawn. Elements
    /// promised to woken clients that went away are free again: their keys are signalled, and
    /// the caller serves them.
    pub(crate) fn sweep(&mut self) {
        self.queues.retain(|_, q| {
            q.retain(|p| !p.waiter.is_settled());
            !q.is_empty()
        });
        self.timers.retain(|_, p| !p.waiter.is_settled());
        let mut freed = Vec::new();
        self.promised.retain(|key, ws| {
            let before = ws.len();
            ws.retain(|w| w.is_woken());
            if ws.len() < before {
                freed.push(key.clone());
            }
            !ws.is_empty()
        });
        for (db, key) in freed {
            self.signal(db, &key);
        }
    }

    /// Whether a key signalled ready is waiting to be served (see [`Blocked::sweep`]).
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Reserves one element of `key` for `waiter`, just woken for a cross-shard move.
    fn promise(&mut self, db: usize, key: &Bytes, waiter: &Arc<Waiter>) {
        self.promised
            .entry((db, key.clone()))
            .or_default()
            .push(Arc::clone(waiter));
    }

    /// Elements of `key` still promised to woken clients (forgetting clients gone since).
    fn promised_count(&mut self, db: usize, key: &Bytes) -> usize {
        if self.promised.is_empty() {
            return 0;
        }
        let k = (db, key.clone());
        let Some(ws) = self.promised.get_mut(&k) else {
            return 0;
        };
        ws.retain(|w| w.is_woken());
        let n = ws.len();
        if n == 0 {
            self.promised.remove(&k);
        }
        n
    }

    /// Settles the promise of an element of `key` to `waiter` (see [`Waiter::fulfil`]); the
    /// key is signalled, as the clients behind may be served now.
    pub(crate) fn fulfil(&mut self, db: usize, key: &Bytes, waiter: &Arc<Waiter>) {
        waiter.fulfil();
        let k = (db, key.clone());
        if let Some(ws) = self.promised.get_mut(&k) {
            ws.retain(|w| !Arc::ptr_eq(w, waiter));
            if ws.is_empty() {
                self.promised.remove(&k);
            }
        }
        self.signal(db, key);
    }

    /// Number of parts parked here and still waiting (for tests and statistics).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        let mut seen: Vec<*const Parked> = self
            .queues
            .values()
            .flatten()
            .filter(|p| !p.waiter.is_settled())
            .map(Arc::as_ptr)
            .collect();
        seen.sort();
        seen.dedup();
        seen.len()
    }

    fn answer(&mut self, parked: &Parked, result: PartResult) {
        self.outbox.push((
            Arc::clone(&parked.sink),
            Reply {
                tag: parked.tag,
                body: ReplyBody::Part(PartReply(result)),
            },
        ));
    }

    fn park(&mut self, db: usize, keys: Vec<Bytes>, parked: Parked, front: bool) {
        let parked = Arc::new(parked);
        for key in keys {
            let q = self.queues.entry((db, key)).or_default();
            if front {
                q.push_front(Arc::clone(&parked));
            } else if !q.back().is_some_and(|p| Arc::ptr_eq(p, &parked)) {
                // The same key twice (`BLPOP k k 0`) waits once.
                q.push_back(Arc::clone(&parked));
            }
        }
        if let Some(at) = parked.waiter.deadline {
            self.seq += 1;
            self.timers.insert((at, self.seq), parked);
        }
    }
}

/// What trying to serve a client found.
enum Served {
    /// Answered (popped, or an error such as WRONGTYPE): the token was claimed.
    Done(PartResult),
    /// Another shard claimed the token first.
    Lost,
    /// Nothing to pop.
    Nothing,
}

/// Length of `key` if it holds what `kind` pops (a list, or a sorted set; 0 if missing), or
/// `None` for another type.
fn ready_len(shard: &mut Shard, db: usize, key: &[u8], kind: &PopKind) -> Option<usize> {
    let clock = shard.clock;
    match (shard.dbs[db].value(key, clock), kind.is_zset()) {
        (None, _) => Some(0),
        (Some(Value::List(l)), false) => Some(l.len()),
        (Some(Value::ZSet(z)), true) => Some(z.len()),
        (Some(_), _) => None,
    }
}

/// Tries `keys` in order for `kind`, claiming `waiter` before changing anything.
fn try_serve(
    shard: &mut Shard,
    db: usize,
    keys: &[Bytes],
    kind: &PopKind,
    waiter: &Arc<Waiter>,
) -> Served {
    if waiter.is_settled() {
        return Served::Lost;
    }
    for key in keys {
        match ready_len(shard, db, key, kind) {
            // Empty, or every element is promised to clients woken before.
            Some(n) if n <= shard.blocked.promised_count(db, key) => continue,
            None => {
                return claimed(waiter, || {
                    PartResult::Error(Bytes::from_static(err::WRONGTYPE.as_bytes()))
                });
            }
            Some(_) => {}
        }
        match kind {
            PopKind::Move {
                dst,
                dst_here: true,
                ..
            } if cmd_list::is_wrong_type(shard, db, dst) => {
                return claimed(waiter, || {
                    PartResult::Error(Bytes::from_static(err::WRONGTYPE.as_bytes()))
                });
            }
            // The destination is another shard's: popping here would leave the element in
            // neither list for a round trip, so the coordinator moves it as a transaction,
            // and one element stays promised to the client until then.
            PopKind::Move {
                dst_here: false, ..
            } => {
                if !waiter.wake() {
                    return Served::Lost;
                }
                shard.blocked.promise(db, key, waiter);
                return Served::Done(PartResult::Wake);
            }
            _ => {}
        }
        if !waiter.claim() {
            return Served::Lost;
        }
        return Served::Done(pop_for(shard, db, key, kind));
    }
    Served::Nothing
}

fn claimed(waiter: &Waiter, result: impl FnOnce() -> PartResult) -> Served {
    if waiter.claim() {
        Served::Done(result())
    } else {
        Served::Lost
    }
}

/// Pops for `kind` from the non-empty list or sorted set at `key`.
pub(crate) fn pop_for(shard: &mut Shard, db: usize, key: &Bytes, kind: &PopKind) -> PartResult {
    let (end, count) = match kind {
        PopKind::Pop(end) => (*end, 1),
        PopKind::Mpop { end, count } => (*end, *count),
        PopKind::Move { from, .. } => (*from, 1),
        PopKind::ZPop { max, count } => return zpop_for(shard, db, key, *max, *count),
    };
    let limits = shard.limits.list();
    let popped = modify(shard, db, key, false, |l| {
        let n = count.min(l.len());
        (0..n)
            .filter_map(|_| l.pop(end, limits))
            .collect::<Vec<_>>()
    });
    let elems: Vec<Bytes> = match popped {
        Ok(Some(elems)) => elems.into_iter().map(Bytes::from).collect(),
        Ok(None) => Vec::new(),
        Err(e) => return PartResult::Error(Bytes::from_static(e.as_bytes())),
    };
    let moved_here = matches!(kind, PopKind::Move { dst_here: true, .. });
    if shard.aof.is_some() && !elems.is_empty() {
        let what = match kind {
            PopKind::Move {
                from,
                to,
                dst,
                dst_here: true,
            } => crate::aof::Pop::Move(*from, *to, dst),
            _ => crate::aof::Pop::List(end),
        };
        crate::aof::log_pop(shard, db, key, what, elems.len());
    }
    if !moved_here {
        cmd_list::notify_list(shard, db, cmd_list::pop_event(end), key);
    }
    if let PopKind::Move {
        to,
        dst,
        dst_here: true,
        ..
    } = kind
    {
        for e in &elems {
            if let Err(e) = modify(shard, db, dst, true, |l| l.push(*to, e, limits)) {
                return PartResult::Error(Bytes::from_static(e.as_bytes()));
            }
        }
        cmd_list::notify_list(shard, db, cmd_list::push_event(*to), dst);
        cmd_list::notify_list(shard, db, cmd_list::pop_event(end), key);
        shard.blocked.signal(db, dst);
    }
    // Redis's `server.dirty`: one per element popped (a move counts once).
    shard.dirty += elems.len() as u64;
    PartResult::Popped(key.clone(), elems)
}

/// Pops up to `count` members from the non-empty sorted set at `key`.
fn zpop_for(shard: &mut Shard, db: usize, key: &Bytes, max: bool, count: usize) -> PartResult {
    let clock = shard.clock;
    match cmd_zset::pop_from(&mut shard.dbs[db], key, max, count, clock) {
        Ok(popped) => {
            let popped = popped.unwrap_or_default();
            if shard.aof.is_some() && !popped.is_empty() {
                crate::aof::log_pop(shard, db, key, crate::aof::Pop::ZSet(max), popped.len());
            }
            shard.dirty += popped.len() as u64;
            let event = if max { "zpopmax" } else { "zpopmin" };
            if shard.observed(db) {
                shard.notify(db, NotifyClass::ZSET, event, key);
                if shard.dbs[db].peek(key, clock).is_none() {
                    shard.notify(db, NotifyClass::GENERIC, "del", key);
                }
            }
            PartResult::ZPoppedFrom(key.clone(), popped)
        }
        Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
    }
}

/// Executes a [`BlockPart`]: pops now, or parks it and answers `Blocked`.
pub(crate) fn block(
    shard: &mut Shard,
    db: usize,
    part: BlockPart,
    sink: &Arc<dyn ReplySink>,
    tag: u64,
) -> PartReply {
    if let Some(old) = &part.replaces {
        // The client woken for a move waits again: its place is taken back first (the
        // element promised to it, if one came since, is then its own again below).
        for key in &part.keys {
            shard.blocked.fulfil(db, key, old);
        }
    }
    let result = match try_serve(shard, db, &part.keys, &part.kind, &part.waiter) {
        Served::Done(result) => result,
        Served::Lost => PartResult::Lost,
        Served::Nothing if !part.block => PartResult::Empty,
        Served::Nothing => {
            if part.waiter.deadline.is_some_and(|at| at <= Instant::now()) {
                if part.waiter.claim() {
                    PartResult::TimedOut
                } else {
                    PartResult::Lost
                }
            } else {
                let parked = Parked {
                    waiter: part.waiter,
                    sink: Arc::clone(sink),
                    tag,
                    kind: part.kind,
                };
                shard.blocked.park(db, part.keys, parked, part.front);
                PartResult::Blocked
            }
        }
    };
    if shard.blocked.may_serve() {
        // A move onto a waited-on key of this shard may have made it ready.
        serve_ready(shard);
    }
    PartReply(result)
}

/// Serves the waiters of every key signalled ready, in the order they blocked, while the
/// keys hold elements.
pub(crate) fn serve_ready(shard: &mut Shard) {
    while let Some((db, key)) = shard.blocked.ready.pop_front() {
        // Elements promised to woken cross-shard moves (still in the list until their
        // transactions run): one per woken client, so the clients behind them wait.
        let mut woken = shard.blocked.promised_count(db, &key);
        loop {
            let Some(parked) = shard
                .blocked
                .queues
                .get(&(db, key.clone()))
                .and_then(|q| q.front().cloned())
            else {
                break;
            };
            if parked.waiter.is_settled() {
                pop_front(shard, db, &key);
                continue;
            }
            // The first waiter for the key's type: list and sorted-set waiters of one key
            // keep their own order, as Redis serves only the clients blocked for the type.
            let parked = match ready_len(shard, db, &key, &parked.kind) {
                Some(n) if n > woken => parked,
                Some(_) => break,
                None => match first_of_type(shard, db, &key) {
                    Some(p) => p,
                    None => break,
                },
            };
            remove_parked(shard, db, &key, &parked);
            match try_serve(
                shard,
                db,
                std::slice::from_ref(&key),
                &parked.kind,
                &parked.waiter,
            ) {
                Served::Done(PartResult::Wake) => {
                    woken += 1;
                    shard.blocked.answer(&parked, PartResult::Wake);
                }
                Served::Done(result) => shard.blocked.answer(&parked, result),
                Served::Lost | Served::Nothing => {}
            }
        }
    }
}

/// The first live waiter of `key` whose kind pops the key's current (non-empty) value.
fn first_of_type(shard: &mut Shard, db: usize, key: &Bytes) -> Option<Arc<Parked>> {
    let candidates: Vec<Arc<Parked>> = shard
        .blocked
        .queues
        .get(&(db, key.clone()))?
        .iter()
        .filter(|p| !p.waiter.is_settled())
        .cloned()
        .collect();
    candidates
        .into_iter()
        .find(|p| ready_len(shard, db, key, &p.kind).is_some_and(|n| n > 0))
}

/// Takes `parked` out of the queue of `key` (it is usually the front).
fn remove_parked(shard: &mut Shard, db: usize, key: &Bytes, parked: &Arc<Parked>) {
    let k = (db, key.clone());
    if let Some(q) = shard.blocked.queues.get_mut(&k) {
        if let Some(i) = q.iter().position(|p| Arc::ptr_eq(p, parked)) {
            q.remove(i);
        }
        if q.is_empty() {
            shard.blocked.queues.remove(&k);
        }
    }
}

fn pop_front(shard: &mut Shard, db: usize, key: &Bytes) {
    let k = (db, key.clone());
    if let Some(q) = shard.blocked.queues.get_mut(&k) {
        q.pop_front();
        if q.is_empty() {
            shard.blocked.queues.remove(&k);
        }
    }
}

/// Parses a blocking timeout in seconds as Redis 7.0's `getTimeoutFromObjectOrReply`:
/// `strtold`, times 1000, truncated to whole milliseconds (so `0.0001` means forever, and
/// values too large for a `long long` come out negative). `None` means forever.
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, &'static str> {
    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    const NEGATIVE: &str = "ERR timeout is negative";
    let parsed = crate::longdouble::parse(arg).ok_or(NOT_FLOAT)?;
    if matches!(parsed, crate::longdouble::Parsed::Infinite) {
        return Err(NEGATIVE);
    }
    let secs: f64 = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(NOT_FLOAT)?;
    let ms = secs * 1000.0;
    // x86's conversion of an out-of-range value to `long long` gives `LLONG_MIN`.
    if !ms.is_finite() || ms >= 9.223_372_036_854_776e18 || ms <= -9.223_372_036_854_776e18 {
        return Err(NEGATIVE);
    }
    let ms = ms.trunc() as i64;
    if ms < 0 {
        return Err(NEGATIVE);
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// How the final reply is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `[key, element]`; nothing is a null array.
    KeyElem,
    /// `[key, [elements...]]`; nothing is a null array.
    KeyElems,
    /// The element; nothing (without waiting) is a null bulk string, a timeout a null array.
    Elem,
    /// `BZPOPMIN`/`BZPOPMAX`: `[key, member, score]`; nothing is a null array.
    KeyMemberScore,
    /// `BZMPOP`: `[key, [[member, score]...]]`; nothing is a null array.
    KeyPairs,
}

impl Shape {
    fn nothing(self) -> Frame {
        match self {
            Shape::Elem => Frame::Null,
            _ => Frame::NullArray,
        }
    }

    fn frame(self, key: Bytes, mut elems: Vec<Bytes>) -> Frame {
        match self {
            Shape::KeyElem => Frame::Array(vec![
                Frame::Bulk(key),
                Frame::Bulk(elems.pop().unwrap_or_default()),
            ]),
            Shape::KeyElems => Frame::Array(vec![
                Frame::Bulk(key),
                Frame::Array(elems.into_iter().map(Frame::Bulk).collect()),
            ]),
            Shape::Elem => Frame::Bulk(elems.pop().unwrap_or_default()),
            // Sorted-set shapes never get list elements.
            Shape::KeyMemberScore | Shape::KeyPairs => self.zframe(key, Vec::new()),
        }
    }

    /// The reply of a sorted-set pop; scores are doubles (bulk strings in RESP2).
    fn zframe(self, key: Bytes, popped: Elements) -> Frame {
        match self {
            Shape::KeyPairs => Frame::Array(vec![
                Frame::Bulk(key),
                Frame::Array(
                    popped
                        .into_iter()
                        .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m.into()), Frame::Double(s)]))
                        .collect(),
                ),
            ]),
            _ => match popped.into_iter().next() {
                Some((m, s)) => Frame::Array(vec![
                    Frame::Bulk(key),
                    Frame::Bulk(m.into()),
                    Frame::Double(s),
                ]),
                None => Frame::NullArray,
            },
        }
    }
}

/// Where a cross-shard coordinator is.
#[derive(Debug)]
enum Phase {
    /// Checking the type of a move's destination on its shard.
    CheckDst,
    /// The destination has the wrong type (this error): Redis reports it only if the source
    /// has elements, so the source is looked at first.
    CheckSrc(Bytes),
    /// Visiting the key shards.
    Trying,
    Done,
}

/// The IO-side coordinator of blocking commands and cross-shard list pops (see the module
/// docs).
#[derive(Debug)]
pub(crate) struct BlockingCmd {
    waiter: Arc<Waiter>,
    groups: Vec<(ShardId, Vec<Bytes>)>,
    next: usize,
    kind: PopKind,
    /// A move's destination shard and key when it differs from the source's shard.
    remote_dst: Option<(ShardId, Bytes)>,
    block: bool,
    /// The parts park at the head of their queues (see [`BlockingCmd::rearm`]).
    front: bool,
    /// The token before [`BlockingCmd::rearm`], woken for a move that found no element.
    replaces: Option<Arc<Waiter>>,
    shape: Shape,
    phase: Phase,
    registered: bool,
}

impl BlockingCmd {
    fn new(
        keys: &[Bytes],
        n: usize,
        kind: PopKind,
        shape: Shape,
        timeout: Option<Option<Duration>>,
    ) -> BlockingCmd {
        let mut groups: Vec<(ShardId, Vec<Bytes>)> = Vec::new();
        for key in keys {
            let s = shard_for(key, n);
            match groups.iter_mut().find(|(g, _)| *g == s) {
                Some((_, ks)) => ks.push(key.clone()),
                None => groups.push((s, vec![key.clone()])),
            }
        }
        let mut kind = kind;
        let mut remote_dst = None;
        if let PopKind::Move { dst, dst_here, .. } = &mut kind {
            let d = shard_for(dst, n);
            *dst_here = groups.first().is_some_and(|(s, _)| *s == d);
            if !*dst_here {
                remote_dst = Some((d, dst.clone()));
            }
        }
        let deadline = timeout.flatten().map(|t| Instant::now() + t);
        BlockingCmd {
            waiter: Waiter::new(deadline),
            groups,
            next: 0,
            kind,
            remote_dst,
            block: timeout.is_some(),
            front: false,
            replaces: None,
            shape,
            phase: Phase::Trying,
            registered: false,
        }
    }

    fn next_part(&mut self) -> Option<(ShardId, Part)> {
        let (shard, keys) = self.groups.get(self.next)?.clone();
        self.next += 1;
        let part = BlockPart {
            waiter: Arc::clone(&self.waiter),
            keys,
            kind: self.kind.clone(),
            block: self.block,
            front: self.front,
            replaces: self.replaces.clone(),
        };
        Some((shard, Part(PartKind::Block(Box::new(part)))))
    }

    /// Blocks again, with the same deadline, after a woken cross-shard move found its source
    /// emptied by another client: a new token (the old one was claimed), and the parts go to
    /// the head of their queues, where the client was when it was woken. The element promised
    /// to the old token stays reserved until the part is there (see [`Waiter::fulfil`]).
    fn rearm(&mut self) -> Step {
        let fresh = Waiter::new(self.waiter.deadline);
        self.replaces = Some(std::mem::replace(&mut self.waiter, fresh));
        self.next = 0;
        self.front = true;
        self.phase = Phase::Trying;
        self.registered = false;
        self.advance()
    }

    fn done(&mut self, frame: Frame) -> Step {
        self.phase = Phase::Done;
        Step::Done(frame)
    }

    /// Visits the next shard, or finishes when none is left.
    fn advance(&mut self) -> Step {
        match self.next_part() {
            Some(part) => Step::Send(vec![part]),
            None if self.block => Step::Wait,
            None => {
                let nothing = self.shape.nothing();
                self.done(nothing)
            }
        }
    }
}

impl Coordinator for BlockingCmd {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        if let Some((shard, dst)) = &self.remote_dst {
            self.phase = Phase::CheckDst;
            return vec![(*shard, Part(PartKind::ListCheck(dst.clone())))];
        }
        self.next_part().into_iter().collect()
    }

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        let phase = std::mem::replace(&mut self.phase, Phase::Trying);
        match (phase, reply.0) {
            (Phase::Done, _) => {
                self.phase = Phase::Done;
                Step::Wait
            }
            (Phase::CheckDst, PartResult::Error(e)) => {
                let (shard, keys) = self.groups.first().cloned().unwrap_or_default();
                self.phase = Phase::CheckSrc(e);
                let src = keys.first().cloned().unwrap_or_default();
                Step::Send(vec![(shard, Part(PartKind::ListLen(src)))])
            }
            (Phase::CheckDst, _) => self.advance(),
            (Phase::CheckSrc(_), PartResult::Error(e)) => self.done(Frame::Error(e)),
            (Phase::CheckSrc(e), PartResult::Count(n)) if n > 0 => self.done(Frame::Error(e)),
            // An empty source: nothing to move, or (blocking) wait for one; if the destination
            // still has the wrong type then, the client gets WRONGTYPE as in Redis.
            (Phase::CheckSrc(_), _) => self.advance(),
            (Phase::Trying, PartResult::Popped(key, elems)) => {
                let frame = self.shape.frame(key, elems);
                self.done(frame)
            }
            (Phase::Trying, PartResult::ZPoppedFrom(key, popped)) => {
                let frame = self.shape.zframe(key, popped);
                self.done(frame)
            }
            (Phase::Trying, PartResult::Blocked) => {
                self.registered = true;
                self.advance()
            }
            (Phase::Trying, PartResult::Empty) => self.advance(),
            // Redis answers every timed-out list pop, BLMOVE included, with a null array.
            (Phase::Trying, PartResult::TimedOut) => self.done(Frame::NullArray),
            (Phase::Trying, PartResult::Error(e)) => self.done(Frame::Error(e)),
            (Phase::Trying, _) => Step::Wait,
        }
    }

    fn is_barrier(&self) -> bool {
        true
    }

    fn is_blocked(&self) -> bool {
        self.registered && !self.waiter.is_settled()
    }

    fn unblock(&mut self, how: Unblock) -> Option<Frame> {
        if !self.block || !self.waiter.cancel() {
            return None;
        }
        self.phase = Phase::Done;
        Some(match how {
            Unblock::Timeout => Frame::NullArray,
            Unblock::Error => Frame::Error(Bytes::from_static(
                b"UNBLOCKED client unblocked via CLIENT UNBLOCK",
            )),
        })
    }
}

impl Drop for BlockingCmd {
    /// A coordinator dropped while waiting (its client disconnected or was killed) withdraws
    /// its parts, so no shard pops for it, and frees an element promised to it; the shards
    /// drop the entries at their next sweep.
    fn drop(&mut self) {
        self.waiter.withdraw();
        if let Some(old) = &self.replaces {
            old.withdraw();
        }
    }
}

/// `BLMOVE`/`BRPOPLPUSH` across shards: first the scheduled, atomic move (see [`ListMove`]);
/// only if the source is empty (nil) does the client block as usual. When its source shard
/// later has an element for it, that shard claims the client without popping
/// ([`PartResult::Wake`]) and the move runs again as the same scheduled transaction; if another
/// client took the element first (nil again), the client blocks again, with its deadline, at
/// the head of the source's queue.
#[derive(Debug)]
struct MoveThenBlock {
    /// The move to run (a fresh copy each time).
    body: ListMove,
    first: Option<Scheduled<ListMove>>,
    then: BlockingCmd,
    /// `then` has blocked once: a nil from the move re-blocks (instead of starting it).
    blocked_once: bool,
}

impl Coordinator for MoveThenBlock {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        match &mut self.first {
            Some(first) => first.start(),
            None => self.then.start(),
        }
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        let Some(first) = &mut self.first else {
            if matches!(reply.0, PartResult::Wake) {
                let mut body = self.body.clone();
                body.woken = Some(Arc::clone(&self.then.waiter));
                let first = self.first.insert(Scheduled::new(body));
                return Step::Send(first.start());
            }
            return self.then.on_reply(shard, reply);
        };
        match first.on_reply(shard, reply) {
            Step::Done(Frame::Null) => {
                self.first = None;
                if std::mem::replace(&mut self.blocked_once, true) {
                    return self.then.rearm();
                }
                let parts = self.then.start();
                if parts.is_empty() {
                    return Step::Wait;
                }
                Step::Send(parts)
            }
            step => step,
        }
    }

    fn is_barrier(&self) -> bool {
        true
    }

    fn abandon(&mut self) -> Vec<(ShardId, Part)> {
        match &mut self.first {
            Some(first) => first.abandon(),
            None => self.then.abandon(),
        }
    }

    fn is_blocked(&self) -> bool {
        self.first.is_none() && self.then.is_blocked()
    }

    fn unblock(&mut self, how: Unblock) -> Option<Frame> {
        if self.first.is_some() {
            return None;
        }
        self.then.unblock(how)
    }
}

/// The route of a blocking command (always a coordinator, see the module docs).
pub(crate) fn plan_blocking(name: &str, args: &[Bytes], n: usize) -> Result<Route, Bytes> {
    let e = |s: &'static str| Bytes::from_static(s.as_bytes());
    let n = n.max(1);
    let cmd = match name {
        "blpop" | "brpop" => {
            let timeout = parse_timeout(&args[args.len() - 1]).map_err(e)?;
            let end = if name == "blpop" {
                End::Left
            } else {
                End::Right
            };
            BlockingCmd::new(
                &args[1..args.len() - 1],
                n,
                PopKind::Pop(end),
                Shape::KeyElem,
                Some(timeout),
            )
        }
        "brpoplpush" | "blmove" => {
            let (from, to, t) = if name == "blmove" {
                let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
                    return Err(e(err::SYNTAX));
                };
                (from, to, &args[5])
            } else {
                (End::Right, End::Left, &args[3])
            };
            let timeout = parse_timeout(t).map_err(e)?;
            let kind = PopKind::Move {
                from,
                to,
                dst: args[2].clone(),
                dst_here: true,
            };
            let cmd = BlockingCmd::new(&args[1..2], n, kind.clone(), Shape::Elem, Some(timeout));
            if cmd.remote_dst.is_some()
                && let Some(ListSpread::Move(body)) = spread_body(kind, vec![args[1].clone()], n)
            {
                return Ok(Route::FanOut(Box::new(MoveThenBlock {
                    first: Some(Scheduled::new(body.clone())),
                    body,
                    then: cmd,
                    blocked_once: false,
                })));
            }
            cmd
        }
        "blmpop" => {
            // Redis checks numkeys, the end and COUNT before the timeout.
            let Mpop { keys, end, count } = parse_mpop(&args[2..]).map_err(e)?;
            let timeout = parse_timeout(&args[1]).map_err(e)?;
            BlockingCmd::new(
                &keys,
                n,
                PopKind::Mpop { end, count },
                Shape::KeyElems,
                Some(timeout),
            )
        }
        "bzpopmin" | "bzpopmax" => {
            let timeout = parse_timeout(&args[args.len() - 1]).map_err(e)?;
            let kind = PopKind::ZPop {
                max: name == "bzpopmax",
                count: 1,
            };
            BlockingCmd::new(
                &args[1..args.len() - 1],
                n,
                kind,
                Shape::KeyMemberScore,
                Some(timeout),
            )
        }
        "bzmpop" => {
            let Zmpop { keys, max, count } = parse_zmpop(&args[2..]).map_err(e)?;
            let timeout = parse_timeout(&args[1]).map_err(e)?;
            BlockingCmd::new(
                &keys,
                n,
                PopKind::ZPop { max, count },
                Shape::KeyPairs,
                Some(timeout),
            )
        }
        _ => {
            return Err(Bytes::from(format!(
                "ERR '{name}' is not a blocking command"
            )));
        }
    };
    Ok(Route::FanOut(Box::new(cmd)))
}

/// The shard of a blocking command queued in a transaction, if all its keys (a move's
/// destination included) live on one; it then runs there without blocking.
pub(crate) fn queued_shard(req: &resp_codec::Request, n: usize) -> Option<ShardId> {
    let args = req.args();
    let name = std::str::from_utf8(req.name()).ok()?.to_ascii_lowercase();
    let (keys, _, _) = plan_local(&name, args)?;
    let mut all = keys;
    if matches!(name.as_str(), "blmove" | "brpoplpush") {
        all.push(args[2].clone());
    }
    crate::coord::single_shard(all.iter(), n.max(1))
}

/// The route of `LMOVE`, `RPOPLPUSH` and `LMPOP` when their keys span shards.
pub(crate) fn plan_list_spread(name: &str, args: &[Bytes], n: usize) -> Result<Route, Bytes> {
    let e = |s: &'static str| Bytes::from_static(s.as_bytes());
    let (keys, kind) = parse_list_spread(name, args)?;
    if let Some(shard) = crate::coord::single_shard(keys.iter(), n)
        && !matches!(&kind, PopKind::Move { dst, .. } if shard_for(dst, n) != shard)
    {
        return Ok(Route::Shard(shard));
    }
    Ok(Route::FanOut(match spread_body(kind, keys, n) {
        Some(ListSpread::Move(b)) => Box::new(Scheduled::new(b)),
        Some(ListSpread::Mpop(b)) => Box::new(Scheduled::new(b)),
        None => return Err(e("ERR internal error")),
    }))
}

/// The body of a list command queued in `MULTI` with its keys on several shards: `LMOVE`,
/// `RPOPLPUSH`, `LMPOP`, and the blocking list pops, which inside `MULTI` never block (Redis
/// runs them as their non-blocking forms). `None` for other commands.
pub(crate) fn queued_body(
    name: &str,
    args: &[Bytes],
    n: usize,
) -> Result<Option<Box<dyn TxBody>>, Bytes> {
    let e = |s: &'static str| Bytes::from_static(s.as_bytes());
    let (keys, kind) = match name {
        "lmove" | "rpoplpush" | "lmpop" => parse_list_spread(name, args)?,
        "blmove" => parse_list_spread("lmove", &args[..5])?,
        "brpoplpush" => parse_list_spread("rpoplpush", &args[..3])?,
        "blmpop" => {
            let Mpop { keys, end, count } = parse_mpop(&args[2..]).map_err(e)?;
            (keys, PopKind::Mpop { end, count })
        }
        "blpop" | "brpop" => {
            let end = if name == "blpop" {
                End::Left
            } else {
                End::Right
            };
            let keys = args[1..args.len() - 1].to_vec();
            let body = ListMpop {
                keys: keys.into_iter().map(|k| (shard_for(&k, n), k)).collect(),
                end,
                count: 1,
                shape: Shape::KeyElem,
                popped: None,
                outcome: None,
            };
            return Ok(Some(Box::new(body)));
        }
        _ => return Ok(None),
    };
    Ok(match spread_body(kind, keys, n) {
        Some(ListSpread::Move(b)) => Some(Box::new(b)),
        Some(ListSpread::Mpop(b)) => Some(Box::new(b)),
        None => None,
    })
}

/// The keys and pop of `LMOVE`, `RPOPLPUSH` or `LMPOP` (a move's source only).
pub(crate) fn parse_list_spread(
    name: &str,
    args: &[Bytes],
) -> Result<(Vec<Bytes>, PopKind), Bytes> {
    let e = |s: &'static str| Bytes::from_static(s.as_bytes());
    Ok(match name {
        "lmpop" => {
            let Mpop { keys, end, count } = parse_mpop(&args[1..]).map_err(e)?;
            (keys, PopKind::Mpop { end, count })
        }
        _ => {
            let (from, to) = if name == "lmove" {
                match (End::parse(&args[3]), End::parse(&args[4])) {
                    (Some(from), Some(to)) => (from, to),
                    _ => return Err(e(err::SYNTAX)),
                }
            } else {
                (End::Right, End::Left)
            };
            let kind = PopKind::Move {
                from,
                to,
                dst: args[2].clone(),
                dst_here: true,
            };
            (vec![args[1].clone()], kind)
        }
    })
}

/// The scheduled-transaction body of a cross-shard `LMOVE`/`RPOPLPUSH` or `LMPOP`.
pub(crate) enum ListSpread {
    Move(ListMove),
    Mpop(ListMpop),
}

/// The body for `kind` over `keys` (a move's source, or `LMPOP`'s keys); `None` for other
/// kinds.
pub(crate) fn spread_body(kind: PopKind, keys: Vec<Bytes>, n: usize) -> Option<ListSpread> {
    match kind {
        PopKind::Move { from, to, dst, .. } => {
            let src = keys.into_iter().next().unwrap_or_default();
            Some(ListSpread::Move(ListMove {
                src: (shard_for(&src, n), src),
                dst: (shard_for(&dst, n), dst),
                from,
                to,
                elem: None,
                outcome: None,
                stage: 0,
                woken: None,
            }))
        }
        PopKind::Mpop { end, count } => Some(ListSpread::Mpop(ListMpop {
            keys: keys.into_iter().map(|k| (shard_for(&k, n), k)).collect(),
            end,
            count,
            shape: Shape::KeyElems,
            popped: None,
            outcome: None,
        })),
        // Only list moves and multi-pops are planned here.
        PopKind::Pop(_) | PopKind::ZPop { .. } => None,
    }
}

fn tx_part(kind: PartKind) -> TxItem {
    TxItem::Part { db: OP_DB, kind }
}

/// `LMOVE`/`RPOPLPUSH` (and a `BLMOVE` that finds an element at once) between lists on two
/// shards, as a scheduled transaction of three hops, so that no client ever sees the element
/// in neither list or in both:
/// 1. lock both keys; read the source's end element (WRONGTYPE or none) and check the
///    destination's type, both under the locks;
/// 2. push onto the destination (its `lpush`/`rpush` event goes out first, as in Redis);
/// 3. pop from the source (`lpop`/`rpop`, then `del` if emptied) and release both.
#[derive(Debug, Clone)]
pub(crate) struct ListMove {
    src: (ShardId, Bytes),
    dst: (ShardId, Bytes),
    from: End,
    to: End,
    elem: Option<Bytes>,
    outcome: Option<Frame>,
    /// 1 after the push was sent (an intermediate hop follows).
    stage: u8,
    /// The token of the blocked client this move serves, woken by the source shard: the pop
    /// settles the element promised to it.
    woken: Option<Arc<Waiter>>,
}

impl TxBody for ListMove {
    fn plan(&mut self) -> Vec<ShardPlan> {
        self.stage = 0;
        self.elem = None;
        self.outcome = None;
        vec![
            ShardPlan {
                shard: self.src.0,
                locks: vec![(OP_DB, self.src.1.clone())],
                whole: false,
                probe: Some(tx_part(PartKind::ListPeek {
                    key: self.src.1.clone(),
                    end: self.from,
                })),
            },
            ShardPlan {
                shard: self.dst.0,
                locks: vec![(OP_DB, self.dst.1.clone())],
                whole: false,
                probe: Some(tx_part(PartKind::ListCheck(self.dst.1.clone()))),
            },
        ]
    }

    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        let (mut src, mut dst) = (None, None);
        for (s, p) in probes {
            if s == self.src.0 {
                src = p;
            } else {
                dst = p;
            }
        }
        // Redis's order: a missing source answers nil before any type check of the
        // destination; a source of another type is WRONGTYPE; then the destination's type.
        match src {
            Some(PartResult::Error(e)) => self.outcome = Some(Frame::Error(e)),
            Some(PartResult::Popped(_, mut elems)) if !elems.is_empty() => {
                self.elem = elems.pop();
            }
            _ => self.outcome = Some(Frame::Null),
        }
        if self.outcome.is_none()
            && let Some(PartResult::Error(e)) = dst
        {
            self.outcome = Some(Frame::Error(e));
        }
        let Some(elem) = self.elem.clone().filter(|_| self.outcome.is_none()) else {
            return Vec::new();
        };
        self.stage = 1;
        let push = PartKind::ListPush {
            key: self.dst.1.clone(),
            elem,
            end: self.to,
        };
        vec![(self.dst.0, vec![tx_part(push)])]
    }

    fn more(&self) -> bool {
        self.stage == 1
    }

    fn step(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        self.stage = 2;
        for (_, outs) in results {
            for out in outs {
                if let TxOut::Part(PartResult::Error(e)) = out {
                    // The type was checked under the lock: only a wiring bug gets here, and
                    // the source then keeps its element.
                    self.outcome = Some(Frame::Error(e));
                    return Vec::new();
                }
            }
        }
        let pop = PartKind::ListPop {
            key: self.src.1.clone(),
            end: self.from,
            count: 1,
            woken: self.woken.clone(),
        };
        vec![(self.src.0, vec![tx_part(pop)])]
    }

    fn finish(&mut self, _results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        match (self.outcome.take(), self.elem.take()) {
            (Some(frame), _) => frame,
            (None, Some(elem)) => Frame::Bulk(elem),
            (None, None) => Frame::Null,
        }
    }
}

/// `LMPOP` over lists on several shards, as a scheduled transaction: hop 1 locks every key
/// and reads each one's type and length under the locks; hop 2 pops from the first non-empty
/// list in argument order (WRONGTYPE if a key of another type comes before it), as Redis
/// scans them.
#[derive(Debug)]
pub(crate) struct ListMpop {
    keys: Vec<(ShardId, Bytes)>,
    end: End,
    count: usize,
    /// `LMPOP`'s `[key, [elements]]`, or `[key, element]` for a `BLPOP` inside `MULTI`.
    shape: Shape,
    popped: Option<Bytes>,
    outcome: Option<Frame>,
}

impl TxBody for ListMpop {
    fn plan(&mut self) -> Vec<ShardPlan> {
        self.popped = None;
        self.outcome = None;
        let mut plans: Vec<ShardPlan> = Vec::new();
        let mut gathers: Vec<Vec<(usize, Bytes)>> = Vec::new();
        for (i, (s, key)) in self.keys.iter().enumerate() {
            let at = match plans.iter().position(|p| p.shard == *s) {
                Some(at) => at,
                None => {
                    plans.push(ShardPlan {
                        shard: *s,
                        locks: Vec::new(),
                        whole: false,
                        probe: None,
                    });
                    gathers.push(Vec::new());
                    plans.len() - 1
                }
            };
            plans[at].locks.push((OP_DB, key.clone()));
            gathers[at].push((i, key.clone()));
        }
        for (p, keys) in plans.iter_mut().zip(gathers) {
            p.probe = Some(tx_part(PartKind::Gather {
                keys,
                probe: Some(Bytes::new()),
            }));
        }
        plans
    }

    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        let mut found: Vec<(usize, Option<&'static str>, usize)> = Vec::new();
        for (_, p) in probes {
            match p {
                Some(PartResult::Gathered(g)) => {
                    for (i, g) in g {
                        if let crate::multi::Gathered::Probe { ty, len, .. } = g {
                            found.push((i, ty, len));
                        }
                    }
                }
                Some(PartResult::Error(e)) => {
                    self.outcome = Some(Frame::Error(e));
                    return Vec::new();
                }
                _ => {}
            }
        }
        found.sort_by_key(|f| f.0);
        for (i, ty, len) in found {
            match ty {
                None => continue,
                Some("list") if len > 0 => {
                    let (shard, key) = self.keys[i].clone();
                    self.popped = Some(key.clone());
                    let pop = PartKind::ListPop {
                        key,
                        end: self.end,
                        count: self.count,
                        woken: None,
                    };
                    return vec![(shard, vec![tx_part(pop)])];
                }
                Some("list") => continue,
                Some(_) => {
                    self.outcome = Some(Frame::error(err::WRONGTYPE));
                    return Vec::new();
                }
            }
        }
        self.outcome = Some(self.shape.nothing());
        Vec::new()
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        if let Some(frame) = self.outcome.take() {
            return frame;
        }
        for (_, outs) in results {
            for out in outs {
                match out {
                    TxOut::Part(PartResult::Popped(key, elems)) => {
                        return self.shape.frame(key, elems);
                    }
                    TxOut::Part(PartResult::Error(e)) => return Frame::Error(e),
                    _ => {}
                }
            }
        }
        Frame::NullArray
    }
}

/// Executes a [`PartKind::ListPeek`]: the element at `end` of the list at `key`.
pub(crate) fn list_peek(shard: &mut Shard, db: usize, key: &Bytes, end: End) -> PartResult {
    match cmd_list::read_list(shard, db, key) {
        Ok(Some(l)) if !l.is_empty() => {
            let i = match end {
                End::Left => 0,
                End::Right => l.len() - 1,
            };
            let elems = l.get(i).map(Bytes::copy_from_slice).into_iter().collect();
            PartResult::Popped(key.clone(), elems)
        }
        Ok(_) => PartResult::Popped(key.clone(), Vec::new()),
        Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
    }
}

/// Executes a [`PartKind::ListPush`]: pushes a moved element (WRONGTYPE if `key` holds
/// another type).
pub(crate) fn list_push(
    shard: &mut Shard,
    db: usize,
    key: &Bytes,
    elem: &[u8],
    end: End,
) -> PartResult {
    let limits = shard.limits.list();
    match modify(shard, db, key, true, |l| l.push(end, elem, limits)) {
        Ok(_) => {
            cmd_list::notify_list(shard, db, cmd_list::push_event(end), key);
            shard.blocked.signal(db, key);
            PartResult::Ok
        }
        Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
    }
}

/// Executes a [`PartKind::ListLen`]: the list's length, or WRONGTYPE.
pub(crate) fn list_len(shard: &mut Shard, db: usize, key: &[u8]) -> PartResult {
    match ready_len(shard, db, key, &PopKind::Pop(End::Left)) {
        Some(n) => PartResult::Count(n as i64),
        None => PartResult::Error(Bytes::from_static(err::WRONGTYPE.as_bytes())),
    }
}

/// Executes a [`PartKind::ListCheck`]: WRONGTYPE if `key` holds another type than a list.
pub(crate) fn list_check(shard: &mut Shard, db: usize, key: &[u8]) -> PartResult {
    if cmd_list::is_wrong_type(shard, db, key) {
        PartResult::Error(Bytes::from_static(err::WRONGTYPE.as_bytes()))
    } else {
        PartResult::Ok
    }
}

fn write_nothing(out: &mut Out<'_>, shape: Shape) {
    match shape {
        Shape::Elem => out.null(),
        _ => out.null_array(),
    }
}

/// The blocking commands executed directly on a shard (never routed so by `route`, which
/// always gives them a coordinator; this is their behaviour where nothing may block, as inside
/// a transaction): pop now or answer as if the timeout had passed.
pub(crate) fn blocking_now(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let name = args[0].to_ascii_lowercase();
    let name = std::str::from_utf8(&name).unwrap_or("");
    let route = plan_blocking(name, args, 1);
    let cmd = match route {
        Err(e) => return out.error(&String::from_utf8_lossy(&e)),
        Ok(Route::FanOut(_)) => {
            // Re-derive the parts without the coordinator's IO-side machinery.
            match plan_local(name, args) {
                Some(c) => c,
                None => return out.error(err::SYNTAX),
            }
        }
        Ok(_) => return out.error(err::SYNTAX),
    };
    let (keys, kind, shape) = cmd;
    let waiter = Waiter::new(None);
    match try_serve(shard, db, &keys, &kind, &waiter) {
        Served::Done(PartResult::Popped(key, elems)) => {
            let frame = shape.frame(key, elems);
            let mut buf = bytes::BytesMut::new();
            frame.encode(out.proto(), &mut buf);
            out.raw(&buf);
        }
        Served::Done(PartResult::ZPoppedFrom(key, popped)) => {
            let frame = shape.zframe(key, popped);
            let mut buf = bytes::BytesMut::new();
            frame.encode(out.proto(), &mut buf);
            out.raw(&buf);
        }
        Served::Done(PartResult::Error(e)) => out.error(&String::from_utf8_lossy(&e)),
        _ => write_nothing(out, shape),
    }
    if shard.blocked.may_serve() {
        serve_ready(shard);
    }
}

/// Keys, pop kind and reply shape of a blocking command whose arguments are valid.
fn plan_local(name: &str, args: &[Bytes]) -> Option<(Vec<Bytes>, PopKind, Shape)> {
    Some(match name {
        "blpop" | "brpop" => (
            args[1..args.len() - 1].to_vec(),
            PopKind::Pop(if name == "blpop" {
                End::Left
            } else {
                End::Right
            }),
            Shape::KeyElem,
        ),
        "brpoplpush" | "blmove" => {
            let (from, to) = if name == "blmove" {
                (End::parse(&args[3])?, End::parse(&args[4])?)
            } else {
                (End::Right, End::Left)
            };
            let kind = PopKind::Move {
                from,
                to,
                dst: args[2].clone(),
                dst_here: true,
            };
            (vec![args[1].clone()], kind, Shape::Elem)
        }
        "blmpop" => {
            let Mpop { keys, end, count } = parse_mpop(&args[2..]).ok()?;
            (keys, PopKind::Mpop { end, count }, Shape::KeyElems)
        }
        "bzpopmin" | "bzpopmax" => (
            args[1..args.len() - 1].to_vec(),
            PopKind::ZPop {
                max: name == "bzpopmax",
                count: 1,
            },
            Shape::KeyMemberScore,
        ),
        "bzmpop" => {
            let Zmpop { keys, max, count } = parse_zmpop(&args[2..]).ok()?;
            (keys, PopKind::ZPop { max, count }, Shape::KeyPairs)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::BytesMut;
    use resp_codec::{Protocol, Request};

    /// A sink the tests never deliver to: served replies are read from the outbox.
    #[derive(Debug)]
    struct NoSink;

    impl ReplySink for NoSink {
        fn deliver(&self, _batch: crate::ReplyBatch) {}
    }

    fn run(shard: &mut Shard, args: &[&str]) -> Vec<u8> {
        let req = Request::new(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        );
        let mut buf = BytesMut::new();
        let mut out = Out::new(&mut buf, Protocol::Resp2);
        shard.tick();
        shard.execute(0, &req, &mut out);
        buf.to_vec()
    }

    fn part(waiter: &Arc<Waiter>, keys: &[&str], kind: PopKind) -> BlockPart {
        BlockPart {
            waiter: Arc::clone(waiter),
            keys: keys
                .iter()
                .map(|k| Bytes::copy_from_slice(k.as_bytes()))
                .collect(),
            kind,
            block: true,
            front: false,
            replaces: None,
        }
    }

    fn served(shard: &mut Shard) -> Vec<(u64, String)> {
        std::mem::take(&mut shard.blocked.outbox)
            .into_iter()
            .map(|(_, r)| {
                let text = match r.body {
                    ReplyBody::Part(PartReply(PartResult::Popped(k, e))) => format!(
                        "{}:{}",
                        String::from_utf8_lossy(&k),
                        e.iter()
                            .map(|e| String::from_utf8_lossy(e).into_owned())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    ReplyBody::Part(PartReply(PartResult::ZPoppedFrom(k, e))) => format!(
                        "{}:{}",
                        String::from_utf8_lossy(&k),
                        e.iter()
                            .map(|(m, s)| format!("{}={s}", String::from_utf8_lossy(m)))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    ReplyBody::Part(PartReply(PartResult::TimedOut)) => "timeout".into(),
                    ReplyBody::Part(PartReply(PartResult::Error(e))) => {
                        String::from_utf8_lossy(&e).into_owned()
                    }
                    other => format!("{other:?}"),
                };
                (r.tag, text)
            })
            .collect()
    }

    fn is_blocked(r: PartReply) -> bool {
        matches!(r.0, PartResult::Blocked)
    }

    #[test]
    fn waiters_are_served_fifo_one_element_each() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let waiters: Vec<Arc<Waiter>> = (0..3).map(|_| Waiter::new(None)).collect();
        for (tag, w) in waiters.iter().enumerate() {
            let p = part(w, &["q"], PopKind::Pop(End::Left));
            assert!(is_blocked(block(&mut shard, 0, p, &sink, tag as u64)));
        }
        assert_eq!(shard.blocked.waiting(), 3);
        assert_eq!(run(&mut shard, &["RPUSH", "q", "a", "b"]), b":2\r\n");
        assert_eq!(
            served(&mut shard),
            vec![(0, "q:a".to_string()), (1, "q:b".to_string())]
        );
        assert_eq!(run(&mut shard, &["EXISTS", "q"]), b":0\r\n");
        assert_eq!(run(&mut shard, &["LPUSH", "q", "c"]), b":1\r\n");
        assert_eq!(served(&mut shard), vec![(2, "q:c".to_string())]);
        shard.blocked.sweep();
        assert!(shard.blocked.is_idle());
    }

    #[test]
    fn one_token_on_two_shards_pops_once() {
        let (mut a, mut b) = (Shard::new(0, 2, 16), Shard::new(1, 2, 16));
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let w = Waiter::new(None);
        assert!(is_blocked(block(
            &mut a,
            0,
            part(&w, &["x"], PopKind::Pop(End::Left)),
            &sink,
            7
        )));
        assert!(is_blocked(block(
            &mut b,
            0,
            part(&w, &["y"], PopKind::Pop(End::Left)),
            &sink,
            7
        )));
        run(&mut b, &["RPUSH", "y", "1"]);
        run(&mut a, &["RPUSH", "x", "2"]);
        assert_eq!(served(&mut b), vec![(7, "y:1".to_string())]);
        assert!(served(&mut a).is_empty(), "the other shard must not pop");
        assert_eq!(run(&mut a, &["LLEN", "x"]), b":1\r\n");
        // The stale entry is gone after a sweep.
        a.blocked.sweep();
        assert!(a.blocked.is_idle());
    }

    /// The element promised to a client woken for a cross-shard move stays reserved until
    /// the move pops it, the client waits again in its place, or the client goes away.
    #[test]
    fn a_woken_move_keeps_its_element_until_settled() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let mover = || PopKind::Move {
            from: End::Right,
            to: End::Left,
            dst: Bytes::from_static(b"elsewhere"),
            dst_here: false,
        };
        let a = Waiter::new(None);
        let b = Waiter::new(None);
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&a, &["s"], mover()),
            &sink,
            1
        )));
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&b, &["s"], PopKind::Pop(End::Left)),
            &sink,
            2
        )));
        run(&mut shard, &["RPUSH", "s", "x"]);
        assert_eq!(
            served(&mut shard),
            vec![(1, "Part(PartReply(Wake))".to_string())]
        );
        // Another client takes x before A's move runs; y comes next and is A's.
        assert_eq!(run(&mut shard, &["LPOP", "s"]), b"$1\r\nx\r\n");
        run(&mut shard, &["RPUSH", "s", "y"]);
        assert!(served(&mut shard).is_empty(), "y is promised to A");
        // A's move found nothing and A waits again, at the head: y is its own again, and
        // it is woken for it at once.
        let a2 = Waiter::new(None);
        let mut again = part(&a2, &["s"], mover());
        again.front = true;
        again.replaces = Some(Arc::clone(&a));
        assert!(matches!(
            block(&mut shard, 0, again, &sink, 1).0,
            PartResult::Wake
        ));
        assert!(served(&mut shard).is_empty());
        // One of two elements is promised: B, behind A, gets the other.
        run(&mut shard, &["RPUSH", "s", "z"]);
        assert_eq!(served(&mut shard), vec![(2, "s:y".to_string())]);
        let pop = PartKind::ListPop {
            key: Bytes::from_static(b"s"),
            end: End::Right,
            count: 1,
            woken: Some(Arc::clone(&a2)),
        };
        assert!(matches!(
            shard.execute_part(0, Part(pop)).0,
            PartResult::Popped(_, e) if e == [Bytes::from_static(b"z")]
        ));
        assert!(
            shard.blocked.promised.is_empty(),
            "the move's pop settles the promise"
        );
        assert_eq!(run(&mut shard, &["EXISTS", "s"]), b":0\r\n");
        // A client woken and gone: its element is free at the next sweep.
        let c = Waiter::new(None);
        let d = Waiter::new(None);
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&c, &["s"], mover()),
            &sink,
            3
        )));
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&d, &["s"], PopKind::Pop(End::Left)),
            &sink,
            4
        )));
        run(&mut shard, &["RPUSH", "s", "w"]);
        assert_eq!(
            served(&mut shard),
            vec![(3, "Part(PartReply(Wake))".to_string())]
        );
        c.withdraw();
        shard.blocked.sweep();
        assert!(shard.blocked.has_ready());
        serve_ready(&mut shard);
        assert_eq!(served(&mut shard), vec![(4, "s:w".to_string())]);
    }

    #[test]
    fn cancelled_and_timed_out_waiters() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let gone = Waiter::new(None);
        let soon = Waiter::new(Some(Instant::now() + Duration::from_millis(5)));
        let later = Waiter::new(None);
        for (tag, w) in [&gone, &soon, &later].into_iter().enumerate() {
            let p = part(w, &["k"], PopKind::Pop(End::Right));
            assert!(is_blocked(block(&mut shard, 0, p, &sink, tag as u64)));
        }
        assert!(gone.cancel(), "a disconnect withdraws the waiter");
        let deadline = shard.blocked.next_deadline().unwrap();
        shard.blocked.expire(deadline);
        assert_eq!(served(&mut shard), vec![(1, "timeout".to_string())]);
        assert_eq!(shard.blocked.next_deadline(), None);
        run(&mut shard, &["RPUSH", "k", "v"]);
        assert_eq!(served(&mut shard), vec![(2, "k:v".to_string())]);
        // An already expired deadline answers at once.
        let past = Waiter::new(Some(Instant::now()));
        let r = block(
            &mut shard,
            0,
            part(&past, &["k"], PopKind::Pop(End::Left)),
            &sink,
            9,
        );
        assert!(matches!(r.0, PartResult::TimedOut));
    }

    #[test]
    fn moves_wake_waiters_on_the_destination() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let mover = Waiter::new(None);
        let kind = PopKind::Move {
            from: End::Left,
            to: End::Right,
            dst: Bytes::from_static(b"dst"),
            dst_here: true,
        };
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&mover, &["src"], kind),
            &sink,
            1
        )));
        let popper = Waiter::new(None);
        let p = part(
            &popper,
            &["dst"],
            PopKind::Mpop {
                end: End::Left,
                count: 5,
            },
        );
        assert!(is_blocked(block(&mut shard, 0, p, &sink, 2)));
        run(&mut shard, &["RPUSH", "src", "e"]);
        assert_eq!(
            served(&mut shard),
            vec![(1, "src:e".to_string()), (2, "dst:e".to_string())]
        );
        // A wrong-typed destination fails the waiter without popping.
        let w = Waiter::new(None);
        let kind = PopKind::Move {
            from: End::Left,
            to: End::Left,
            dst: Bytes::from_static(b"s"),
            dst_here: true,
        };
        run(&mut shard, &["SET", "s", "str"]);
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&w, &["src"], kind),
            &sink,
            3
        )));
        run(&mut shard, &["RPUSH", "src", "x"]);
        assert_eq!(served(&mut shard), vec![(3, err::WRONGTYPE.to_string())]);
        assert_eq!(run(&mut shard, &["LLEN", "src"]), b":1\r\n");
    }

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(None));
        assert_eq!(
            parse_timeout(b"0.0001"),
            Ok(None),
            "truncated to 0 ms: forever"
        );
        assert_eq!(parse_timeout(b"-0.0001"), Ok(None));
        assert_eq!(parse_timeout(b"1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_timeout(b"-1"), Err("ERR timeout is negative"));
        assert_eq!(parse_timeout(b"inf"), Err("ERR timeout is negative"));
        assert_eq!(parse_timeout(b"1e400"), Err("ERR timeout is negative"));
        for bad in [&b"x"[..], b"", b" 1", b"nan", b"1e5000"] {
            assert_eq!(
                parse_timeout(bad),
                Err("ERR timeout is not a float or out of range"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn blocking_commands_on_a_shard_never_wait() {
        let mut shard = Shard::new(0, 1, 16);
        assert_eq!(run(&mut shard, &["BLPOP", "q", "0"]), b"*-1\r\n");
        assert_eq!(
            run(&mut shard, &["BLMOVE", "q", "d", "LEFT", "LEFT", "0"]),
            b"$-1\r\n"
        );
        run(&mut shard, &["RPUSH", "q", "a", "b"]);
        assert_eq!(
            run(&mut shard, &["BRPOP", "q", "0"]),
            b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            run(&mut shard, &["BRPOPLPUSH", "q", "d", "0"]),
            b"$1\r\na\r\n"
        );
        assert_eq!(
            run(&mut shard, &["BLMPOP", "0", "1", "d", "LEFT", "COUNT", "3"]),
            b"*2\r\n$1\r\nd\r\n*1\r\n$1\r\na\r\n"
        );
        assert_eq!(
            run(&mut shard, &["BLPOP", "q", "x"]),
            b"-ERR timeout is not a float or out of range\r\n"
        );
    }

    #[test]
    fn sorted_set_waiters_are_served_fifo_by_zadd_and_stores() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let kinds = [
            PopKind::ZPop {
                max: false,
                count: 1,
            },
            PopKind::ZPop {
                max: true,
                count: 1,
            },
            PopKind::ZPop {
                max: false,
                count: 5,
            },
        ];
        for (tag, kind) in kinds.into_iter().enumerate() {
            let w = Waiter::new(None);
            assert!(is_blocked(block(
                &mut shard,
                0,
                part(&w, &["z"], kind),
                &sink,
                tag as u64
            )));
        }
        assert_eq!(
            run(
                &mut shard,
                &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]
            ),
            b":4\r\n"
        );
        assert_eq!(
            served(&mut shard),
            vec![
                (0, "z:a=1".to_string()),
                (1, "z:d=4".to_string()),
                (2, "z:b=2,c=3".to_string())
            ]
        );
        assert_eq!(run(&mut shard, &["EXISTS", "z"]), b":0\r\n");
        // A store onto a waited-on key wakes its waiter too.
        let w = Waiter::new(None);
        let kind = PopKind::ZPop {
            max: true,
            count: 1,
        };
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&w, &["dst"], kind),
            &sink,
            4
        )));
        run(&mut shard, &["ZADD", "src", "1.5", "x", "2.5", "y"]);
        assert!(served(&mut shard).is_empty());
        assert_eq!(
            run(&mut shard, &["ZUNIONSTORE", "dst", "1", "src"]),
            b":2\r\n"
        );
        assert_eq!(served(&mut shard), vec![(4, "dst:y=2.5".to_string())]);
        assert_eq!(run(&mut shard, &["ZCARD", "dst"]), b":1\r\n");
        shard.blocked.sweep();
        assert!(shard.blocked.is_idle());
    }

    #[test]
    fn list_and_sorted_set_waiters_of_one_key_wait_for_their_type() {
        let mut shard = Shard::new(0, 1, 16);
        let sink: Arc<dyn ReplySink> = Arc::new(NoSink);
        let list = Waiter::new(None);
        let zset = Waiter::new(None);
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&list, &["k"], PopKind::Pop(End::Left)),
            &sink,
            1
        )));
        let kind = PopKind::ZPop {
            max: false,
            count: 1,
        };
        assert!(is_blocked(block(
            &mut shard,
            0,
            part(&zset, &["k"], kind),
            &sink,
            2
        )));
        run(&mut shard, &["ZADD", "k", "7", "m"]);
        assert_eq!(served(&mut shard), vec![(2, "k:m=7".to_string())]);
        assert_eq!(shard.blocked.waiting(), 1);
        run(&mut shard, &["RPUSH", "k", "e"]);
        assert_eq!(served(&mut shard), vec![(1, "k:e".to_string())]);
        // A new pop on a key of the other type fails at once.
        run(&mut shard, &["RPUSH", "l", "e"]);
        let w = Waiter::new(None);
        let kind = PopKind::ZPop {
            max: false,
            count: 1,
        };
        let r = block(&mut shard, 0, part(&w, &["l"], kind), &sink, 3);
        assert!(matches!(r.0, PartResult::Error(e) if e == err::WRONGTYPE.as_bytes()));
    }

    #[test]
    fn sorted_set_blocking_commands_on_a_shard_never_wait() {
        let mut shard = Shard::new(0, 1, 16);
        assert_eq!(run(&mut shard, &["BZPOPMIN", "z", "0"]), b"*-1\r\n");
        assert_eq!(
            run(&mut shard, &["BZMPOP", "0", "1", "z", "MIN"]),
            b"*-1\r\n"
        );
        run(&mut shard, &["ZADD", "z", "1.5", "a", "2", "b", "3", "c"]);
        assert_eq!(
            run(&mut shard, &["BZPOPMIN", "nope", "z", "0"]),
            b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$3\r\n1.5\r\n"
        );
        assert_eq!(
            run(&mut shard, &["BZPOPMAX", "z", "0"]),
            b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            run(
                &mut shard,
                &["BZMPOP", "0", "2", "x", "z", "MAX", "COUNT", "5"]
            ),
            b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        run(&mut shard, &["SET", "s", "v"]);
        assert_eq!(
            run(&mut shard, &["BZPOPMIN", "s", "0"]),
            format!("-{}\r\n", err::WRONGTYPE).as_bytes()
        );
        for (args, reply) in [
            (
                &["BZMPOP", "x", "0", "s", "MIN"][..],
                &b"-ERR numkeys should be greater than 0\r\n"[..],
            ),
            (
                &["BZMPOP", "x", "1", "s", "MIN", "COUNT", "0"],
                b"-ERR count should be greater than 0\r\n",
            ),
            (&["BZMPOP", "0", "2", "s", "MIN"], b"-ERR syntax error\r\n"),
            (
                &["BZMPOP", "-1", "1", "s", "MIN"],
                b"-ERR timeout is negative\r\n",
            ),
            (
                &["BZPOPMIN", "s", "x"],
                b"-ERR timeout is not a float or out of range\r\n",
            ),
            (
                &["BLMPOP", "x", "0", "s", "LEFT"],
                b"-ERR numkeys should be greater than 0\r\n",
            ),
        ] {
            assert_eq!(run(&mut shard, args), reply, "{args:?}");
        }
    }
}
