//! The per-shard half of the transaction scheduler: intent locks, the queue of scheduled
//! transactions and the ops deferred behind them (see the crate docs for the design).
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use hashbrown::HashMap;
use resp_codec::{Protocol, Request};

use crate::message::{Op, ReplySink};
use crate::route::{PartKind, PartResult};

/// The global transaction sequence: a lower number is an older transaction, which every shard
/// orders first.
static SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh transaction number, larger than every number handed out before.
pub(crate) fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// One key a transaction locks on a shard: database and key.
pub(crate) type LockKey = (u16, Bytes);

/// One step a transaction runs on a shard while it holds its locks.
#[derive(Debug)]
pub(crate) enum TxItem {
    /// A whole command whose keys live on this shard; its reply comes back encoded.
    Command {
        db: u16,
        proto: Protocol,
        req: Request,
    },
    /// A primitive of a spread command.
    Part { db: u16, kind: PartKind },
    /// `EXEC`'s check of `WATCH`: `Count(1)` if a key the client watches in one of these
    /// databases was touched. Inside a run, a touched key skips every later item but
    /// [`TxItem::Unwatch`].
    WatchCheck { client: u64, dbs: Vec<u16> },
    /// Forgets the client's watched keys.
    Unwatch { client: u64, keys: Vec<LockKey> },
    /// Takes this shard's part of a snapshot at this point of the schedule (see
    /// `persist.rs`): the cut of an all-shard transaction.
    Snapshot(crate::persist::SnapshotWork),
}

/// The result of one [`TxItem`].
#[derive(Debug)]
pub(crate) enum TxOut {
    /// A command's reply, encoded in its protocol.
    Encoded(Bytes),
    /// A part's (or a check's) result.
    Part(PartResult),
    /// Not run: a watched key was touched.
    Skipped,
}

/// What a transaction asks of one shard.
#[derive(Debug)]
pub(crate) enum TxAction {
    /// Hop 1: queue the transaction and take its intent locks. The reply comes once the
    /// transaction heads the queue of every lock it takes here (which may be later): then
    /// `probe` runs and its result is the reply, [`PartResult::Ready`]. If `run` is set the
    /// transaction also runs those items and releases at once (a transaction on one shard
    /// needs no second hop), and the reply is [`PartResult::Ran`].
    Schedule {
        locks: Vec<LockKey>,
        whole: bool,
        probe: Option<TxItem>,
        run: Option<Vec<TxItem>>,
    },
    /// An intermediate hop of a transaction that needs more than two (a cross-shard `LMOVE`,
    /// an `EXEC` that moves data between shards): run these items and keep the locks. Blocked
    /// clients of this shard are served only after the final [`TxAction::Run`] (or a
    /// cancel), as after Redis's `EXEC`.
    Step(Vec<TxItem>),
    /// [`TxAction::Step`] that hands back the keyspace events of each item instead of
    /// publishing them: the coordinator publishes the events of a hop that ran on several
    /// shards in the order Redis would emit them, while every lock is still held. The count
    /// is 0 for an intermediate hop; for a transaction's last writing hop (a release without
    /// items follows) it is the append-only log's frame count (see [`TxAction::Run`]).
    Capture(Vec<TxItem>, u32),
    /// The last hop: run these items, then release the locks. The count is the number of
    /// (shard, hop) pairs of the whole transaction whose items may write: the append-only log
    /// replays the transaction only if that many frames of it are present.
    Run(Vec<TxItem>, u32),
    /// Release the locks without running anything.
    Cancel,
}

/// A scheduled transaction's state on one shard.
#[derive(Debug)]
struct TxState {
    locks: Vec<LockKey>,
    whole: bool,
    ready: bool,
    /// Ran a [`TxAction::Step`]: holds the shard's blocked clients until it releases.
    stepped: bool,
    /// Where the schedule reply goes once the transaction is ready, with what it then runs.
    waiter: Option<Waiter>,
}

/// A schedule reply not sent yet.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) sink: Arc<dyn ReplySink>,
    pub(crate) tag: u64,
    /// The database of the scheduling op, for items naming "the op's".
    pub(crate) db: u16,
    pub(crate) probe: Option<TxItem>,
    pub(crate) run: Option<Vec<TxItem>>,
}

/// How scheduling went.
#[derive(Debug)]
pub(crate) enum Scheduled {
    /// Heads every queue it joined: run the probe and reply now.
    Ready(Waiter),
    /// Queued behind older transactions; the reply comes when it is ready.
    Queued,
    /// A younger conflicting transaction is already ready here: the coordinator must cancel
    /// and retry with a new number (see the crate docs on ordering).
    Rejected,
}

/// The intent locks and transaction queue of one shard.
#[derive(Default)]
pub(crate) struct Scheduler {
    txs: BTreeMap<u64, TxState>,
    /// Per database and key, the numbers of the transactions holding an intent, oldest first.
    locks: HashMap<u16, HashMap<Bytes, Vec<u64>>>,
    /// Transactions that lock the whole shard (`FLUSHALL`, `KEYS`, ... inside `EXEC`).
    wholes: BTreeSet<u64>,
    /// Ready transactions: they hold their locks and no other op may touch their keys.
    ready: usize,
    /// Ops that touched a key held by a ready transaction, in arrival order.
    pub(crate) deferred: VecDeque<(Arc<dyn ReplySink>, Op)>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("txs", &self.txs.len())
            .field("ready", &self.ready)
            .field("deferred", &self.deferred.len())
            .finish()
    }
}

impl Scheduler {
    /// Whether any transaction holds locks here: the single fast check on the path of every
    /// plain command.
    pub(crate) fn has_ready(&self) -> bool {
        self.ready > 0
    }

    /// Whether an op on `keys` of `db` must wait for a ready transaction. `keys == None` means
    /// the op covers the whole shard.
    pub(crate) fn blocks(&self, db: u16, keys: Option<&mut dyn Iterator<Item = &[u8]>>) -> bool {
        if self.ready == 0 {
            return false;
        }
        if self.wholes.iter().any(|s| self.is_ready_tx(*s)) {
            return true;
        }
        let Some(keys) = keys else {
            return true;
        };
        let Some(map) = self.locks.get(&db) else {
            return false;
        };
        for k in keys {
            if map
                .get(k)
                .and_then(|q| q.first())
                .is_some_and(|s| self.is_ready_tx(*s))
            {
                return true;
            }
        }
        false
    }

    fn is_ready_tx(&self, seq: u64) -> bool {
        self.txs.get(&seq).is_some_and(|t| t.ready)
    }

    /// Hop 1 of transaction `seq` on this shard.
    pub(crate) fn schedule(
        &mut self,
        seq: u64,
        locks: Vec<LockKey>,
        whole: bool,
        waiter: Waiter,
    ) -> Scheduled {
        if self.txs.contains_key(&seq) || self.conflicts_with_younger_ready(seq, &locks, whole) {
            return Scheduled::Rejected;
        }
        for (db, key) in &locks {
            let queue = self
                .locks
                .entry(*db)
                .or_default()
                .entry(key.clone())
                .or_default();
            let at = queue.partition_point(|s| *s < seq);
            // A transaction may name a key twice; one intent is enough.
            if queue.get(at) != Some(&seq) {
                queue.insert(at, seq);
            }
        }
        if whole {
            self.wholes.insert(seq);
        }
        self.txs.insert(
            seq,
            TxState {
                locks,
                whole,
                ready: false,
                stepped: false,
                waiter: None,
            },
        );
        if self.check_ready(seq) {
            self.mark_ready(seq);
            Scheduled::Ready(waiter)
        } else {
            if let Some(t) = self.txs.get_mut(&seq) {
                t.waiter = Some(waiter);
            }
            Scheduled::Queued
        }
    }

    /// A ready transaction younger than `seq` that conflicts with it. Such a transaction went
    /// ahead of `seq` here; letting `seq` queue behind it could close a wait cycle with a shard
    /// where `seq` is ahead of it, so `seq` is rejected instead.
    fn conflicts_with_younger_ready(&self, seq: u64, locks: &[LockKey], whole: bool) -> bool {
        let younger_ready = |s: &u64| *s > seq && self.is_ready_tx(*s);
        if whole {
            return self.txs.keys().any(younger_ready);
        }
        if self.wholes.iter().any(younger_ready) {
            return true;
        }
        locks.iter().any(|(db, key)| {
            self.locks
                .get(db)
                .and_then(|m| m.get(key))
                .and_then(|q| q.first())
                .is_some_and(younger_ready)
        })
    }

    /// Whether `seq` heads every queue it is in.
    fn check_ready(&self, seq: u64) -> bool {
        let Some(t) = self.txs.get(&seq) else {
            return false;
        };
        if t.whole {
            return self.txs.keys().next() == Some(&seq);
        }
        if self.wholes.range(..seq).next().is_some() {
            return false;
        }
        t.locks.iter().all(|(db, key)| {
            self.locks
                .get(db)
                .and_then(|m| m.get(key))
                .and_then(|q| q.first())
                == Some(&seq)
        })
    }

    fn mark_ready(&mut self, seq: u64) {
        if let Some(t) = self.txs.get_mut(&seq)
            && !t.ready
        {
            t.ready = true;
            self.ready += 1;
        }
    }

    /// Notes that `seq` ran an intermediate hop; true the first time.
    pub(crate) fn mark_stepped(&mut self, seq: u64) -> bool {
        match self.txs.get_mut(&seq) {
            Some(t) if !t.stepped => {
                t.stepped = true;
                true
            }
            _ => false,
        }
    }

    /// Whether `seq` ran an intermediate hop (see [`Scheduler::mark_stepped`]).
    pub(crate) fn is_stepped(&self, seq: u64) -> bool {
        self.txs.get(&seq).is_some_and(|t| t.stepped)
    }

    /// Whether `seq` is scheduled and ready here.
    pub(crate) fn is_ready(&self, seq: u64) -> bool {
        self.is_ready_tx(seq)
    }

    /// Removes transaction `seq` and its locks. Returns its pending schedule reply, if it never
    /// became ready, and the waiters of the transactions that are ready now, oldest first.
    pub(crate) fn release(&mut self, seq: u64) -> (Option<Waiter>, Vec<(u64, Waiter)>) {
        let Some(t) = self.txs.remove(&seq) else {
            return (None, Vec::new());
        };
        if t.ready {
            self.ready -= 1;
        }
        if t.whole {
            self.wholes.remove(&seq);
        }
        for (db, key) in &t.locks {
            if let Some(map) = self.locks.get_mut(db) {
                if let Some(queue) = map.get_mut(key) {
                    queue.retain(|s| *s != seq);
                    if queue.is_empty() {
                        map.remove(key);
                    }
                }
                if map.is_empty() {
                    self.locks.remove(db);
                }
            }
        }
        // Every waiting transaction is checked again, oldest first: few are queued at once.
        let waiting: Vec<u64> = self
            .txs
            .iter()
            .filter(|(_, t)| !t.ready)
            .map(|(s, _)| *s)
            .collect();
        let mut now_ready = Vec::new();
        for s in waiting {
            if self.check_ready(s) {
                self.mark_ready(s);
                if let Some(w) = self.txs.get_mut(&s).and_then(|t| t.waiter.take()) {
                    now_ready.push((s, w));
                }
            }
        }
        (t.waiter, now_ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ReplyBatch;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[derive(Debug)]
    struct NoSink;

    impl ReplySink for NoSink {
        fn deliver(&self, _batch: ReplyBatch) {}
    }

    fn waiter(tag: u64) -> Waiter {
        Waiter {
            sink: Arc::new(NoSink),
            tag,
            db: 0,
            probe: None,
            run: None,
        }
    }

    fn locks(keys: &[&str]) -> Vec<LockKey> {
        keys.iter()
            .map(|k| (0, Bytes::copy_from_slice(k.as_bytes())))
            .collect()
    }

    fn is_ready(s: Scheduled) -> bool {
        matches!(s, Scheduled::Ready(_))
    }

    #[test]
    fn conflicting_transactions_become_ready_in_sequence_order() {
        let mut s = Scheduler::default();
        assert!(is_ready(s.schedule(
            1,
            locks(&["a", "b"]),
            false,
            waiter(1)
        )));
        assert!(matches!(
            s.schedule(2, locks(&["b"]), false, waiter(2)),
            Scheduled::Queued
        ));
        // No conflict: ready at once, next to 1.
        assert!(is_ready(s.schedule(3, locks(&["c"]), false, waiter(3))));
        assert!(s.blocks(0, Some(&mut [&b"a"[..]].into_iter())));
        assert!(!s.blocks(0, Some(&mut [&b"z"[..]].into_iter())));
        assert!(!s.blocks(1, Some(&mut [&b"a"[..]].into_iter())));
        assert!(s.blocks(0, None));
        let (own, woken) = s.release(1);
        assert!(own.is_none());
        assert_eq!(woken.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [2]);
        assert!(s.is_ready(2));
        s.release(2);
        s.release(3);
        assert!(!s.has_ready());
        assert!(!s.blocks(0, None));
    }

    #[test]
    fn an_older_transaction_behind_a_younger_ready_one_is_rejected() {
        let mut s = Scheduler::default();
        assert!(is_ready(s.schedule(7, locks(&["k"]), false, waiter(7))));
        assert!(matches!(
            s.schedule(5, locks(&["k"]), false, waiter(5)),
            Scheduled::Rejected
        ));
        // Nothing of the rejected transaction stays behind.
        assert!(is_ready(s.schedule(5, locks(&["j"]), false, waiter(5))));
        // An older one may still go ahead of a younger one that is only queued.
        assert!(matches!(
            s.schedule(9, locks(&["j"]), false, waiter(9)),
            Scheduled::Queued
        ));
        assert!(matches!(
            s.schedule(8, locks(&["j", "x"]), false, waiter(8)),
            Scheduled::Queued
        ));
        let (_, woken) = s.release(5);
        assert_eq!(woken.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [8]);
    }

    #[test]
    fn whole_shard_transactions_wait_for_older_and_hold_back_younger() {
        let mut s = Scheduler::default();
        assert!(is_ready(s.schedule(1, locks(&["a"]), false, waiter(1))));
        assert!(matches!(
            s.schedule(2, Vec::new(), true, waiter(2)),
            Scheduled::Queued
        ));
        assert!(matches!(
            s.schedule(3, locks(&["b"]), false, waiter(3)),
            Scheduled::Queued
        ));
        let (_, woken) = s.release(1);
        assert_eq!(woken.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [2]);
        assert!(s.blocks(0, Some(&mut [&b"q"[..]].into_iter())));
        let (_, woken) = s.release(2);
        assert_eq!(woken.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3]);
    }

    /// Many transactions over a few keys on three shards, messages delivered in random order,
    /// rejected ones retried under new numbers: every transaction completes (no deadlock), and
    /// each runs only while it is ready, i.e. holds its locks, on every shard it touches.
    #[test]
    fn random_schedules_never_deadlock_and_agree_on_order() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum St {
            Scheduling,
            Cancelling,
            Done,
        }
        struct Tx {
            shards: Vec<(usize, Vec<LockKey>)>,
            seq: u64,
            st: St,
            ready: usize,
            replies: usize,
            rejected: bool,
        }
        enum Msg {
            Schedule(usize, u64),
            Cancel(u64),
        }
        for seed in 0..200u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let shards = 3;
            let mut scheds: Vec<Scheduler> = (0..shards).map(|_| Scheduler::default()).collect();
            let keys = ["a", "b", "c", "d"];
            let mut txs: Vec<Tx> = (0..12)
                .map(|_| {
                    let mut on: Vec<(usize, Vec<LockKey>)> = Vec::new();
                    for s in 0..shards {
                        if rng.gen_bool(0.6) {
                            let k = keys[rng.gen_range(0..keys.len())];
                            on.push((s, locks(&[k])));
                        }
                    }
                    if on.is_empty() {
                        on.push((0, locks(&["a"])));
                    }
                    Tx {
                        shards: on,
                        seq: 0,
                        st: St::Done,
                        ready: 0,
                        replies: 0,
                        rejected: false,
                    }
                })
                .collect();
            let mut next = 1u64;
            // In flight: (shard, message).
            let mut inbox: Vec<(usize, Msg)> = Vec::new();
            let start = |i: usize, tx: &mut Tx, next: &mut u64, inbox: &mut Vec<(usize, Msg)>| {
                tx.seq = *next;
                *next += 1;
                tx.st = St::Scheduling;
                tx.ready = 0;
                tx.replies = 0;
                tx.rejected = false;
                for (s, _) in &tx.shards {
                    inbox.push((*s, Msg::Schedule(i, tx.seq)));
                }
            };
            for (i, tx) in txs.iter_mut().enumerate() {
                start(i, tx, &mut next, &mut inbox);
            }
            // Per shard and key: the transactions in the order they ran there.
            let mut ran: Vec<HashMap<Bytes, Vec<usize>>> = vec![HashMap::new(); shards];
            let mut steps = 0;
            while !inbox.is_empty() {
                steps += 1;
                assert!(steps < 100_000, "seed {seed}: no progress");
                let (shard, msg) = inbox.swap_remove(rng.gen_range(0..inbox.len()));
                // Replies to coordinators: (tx, was it ready or rejected).
                let mut replies: Vec<(usize, bool)> = Vec::new();
                match msg {
                    Msg::Schedule(i, seq) => {
                        if seq != txs[i].seq {
                            continue;
                        }
                        let l = txs[i]
                            .shards
                            .iter()
                            .find(|(s, _)| *s == shard)
                            .map(|(_, l)| l.clone())
                            .unwrap_or_default();
                        match scheds[shard].schedule(seq, l, false, waiter(i as u64)) {
                            Scheduled::Ready(_) => replies.push((i, true)),
                            Scheduled::Rejected => replies.push((i, false)),
                            Scheduled::Queued => {}
                        }
                    }
                    Msg::Cancel(seq) => {
                        let (_, woken) = scheds[shard].release(seq);
                        replies.extend(woken.into_iter().map(|(_, w)| (w.tag as usize, true)));
                    }
                }
                for (i, ok) in replies {
                    let tx = &mut txs[i];
                    tx.replies += 1;
                    if ok {
                        tx.ready += 1;
                    } else {
                        tx.rejected = true;
                    }
                    if tx.replies < tx.shards.len() {
                        continue;
                    }
                    if tx.rejected {
                        tx.st = St::Cancelling;
                        for (s, _) in &tx.shards {
                            inbox.push((*s, Msg::Cancel(tx.seq)));
                        }
                        // The retry goes out once the cancels are in (modelled as queued
                        // behind them on the same shards).
                        let seq = next;
                        next += 1;
                        tx.seq = seq;
                        tx.ready = 0;
                        tx.replies = 0;
                        tx.rejected = false;
                        tx.st = St::Scheduling;
                        for (s, _) in &tx.shards {
                            inbox.push((*s, Msg::Schedule(i, seq)));
                        }
                    } else {
                        // Ready everywhere: run (record the order) and release at once.
                        for (s, l) in &tx.shards {
                            for (_, k) in l {
                                ran[*s].entry(k.clone()).or_default().push(i);
                            }
                            assert!(scheds[*s].is_ready(tx.seq), "seed {seed}");
                        }
                        tx.st = St::Done;
                        let (seq, on): (u64, Vec<usize>) =
                            (tx.seq, tx.shards.iter().map(|(s, _)| *s).collect());
                        for s in on {
                            inbox.push((s, Msg::Cancel(seq)));
                        }
                    }
                }
            }
            assert!(
                txs.iter().all(|t| t.st == St::Done),
                "seed {seed}: a transaction never completed"
            );
            // Every key saw each of its transactions run exactly once.
            for queue in ran.iter().flat_map(|m| m.values()) {
                let mut sorted = queue.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), queue.len(), "seed {seed}: ran twice");
            }
        }
    }
}
