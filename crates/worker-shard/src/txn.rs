//! The coordinator half of the transaction scheduler: [`Scheduled`] drives one transaction
//! through its hops, and its bodies say what the transaction does: [`KeyCmd`] for the
//! multi-key commands (`MGET`, `MSET`, `RENAME`, ...), [`Exec`] for `MULTI`/`EXEC`.
use bytes::Bytes;
use partition_router::shard_for;
use resp_codec::{Frame, Protocol, Request};

use std::sync::Arc;

use crate::ShardId;
use crate::coord::{group_keys, group_pairs};
use crate::keyspace::Value;
use crate::notify::{EventSink, Message};
use crate::route::{Coordinator, Part, PartKind, PartReply, PartResult, Route, Step};
use crate::sched::{LockKey, TxAction, TxItem, TxOut, next_seq};

/// Stands for "the op's database" in locks and items of commands that do not know which
/// database their connection selected; the shard substitutes the op's.
pub(crate) const OP_DB: u16 = u16::MAX;

/// What one shard does in a transaction's scheduling hop.
#[derive(Debug)]
pub(crate) struct ShardPlan {
    pub(crate) shard: ShardId,
    pub(crate) locks: Vec<LockKey>,
    pub(crate) whole: bool,
    pub(crate) probe: Option<TxItem>,
}

/// What a scheduled transaction does once it holds its locks everywhere.
pub(crate) trait TxBody: Send + std::fmt::Debug {
    /// The shards, their locks and probes (one entry per shard).
    fn plan(&mut self) -> Vec<ShardPlan>;
    /// For a transaction on one shard: the items to run as soon as it is ready, so it needs a
    /// single hop. `None` if it needs its probe results first.
    fn single(&mut self) -> Option<Vec<TxItem>> {
        None
    }
    /// Given the probes' results (per shard, in plan order), the items each shard runs.
    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)>;
    /// Whether the items [`TxBody::run`] or [`TxBody::step`] just returned are an
    /// intermediate hop: they run while the transaction keeps every lock, and their results
    /// go to [`TxBody::step`]. The last hop (the default) releases.
    fn more(&self) -> bool {
        false
    }
    /// The results of an intermediate hop (shards that had items only); returns the next
    /// hop's items.
    fn step(&mut self, _results: Vec<(ShardId, Vec<TxOut>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        Vec::new()
    }
    /// The reply, from every shard's run results.
    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame;
    /// The keyspace events of a hop that ran on several shards, per shard and item, in the
    /// order Redis would emit them. The default puts the shards in plan order (`shards`),
    /// which is the order of the commands' first keys: `RENAME`'s `rename_from` before
    /// `rename_to`, `MSET`'s events by shard of first appearance.
    fn order_events(&self, shards: &[ShardId], captured: Vec<(ShardId, Events)>) -> Vec<Message> {
        let mut captured = captured;
        captured.sort_by_key(|(s, _)| shards.iter().position(|x| x == s));
        captured
            .into_iter()
            .flat_map(|(_, e)| e)
            .flatten()
            .collect()
    }
    /// The connection's protocol (see [`Coordinator::set_protocol`]).
    fn set_protocol(&mut self, _proto: Protocol) {}
}

/// The keyspace events of one hop on one shard, per item (see [`TxAction::Capture`]).
pub(crate) type Events = Vec<Vec<Message>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Schedule,
    Cancel,
    /// An intermediate hop (or a last one whose events are captured): locks held everywhere.
    Step,
    Run,
    /// Releasing after a captured last hop; the reply is ready.
    Release,
}

/// Drives a [`TxBody`]: hop 1 schedules on every shard (the reply comes when the transaction
/// heads its queues there), hop 2 runs and releases. A shard that rejects the transaction makes
/// it cancel everywhere and start over with a new number.
#[derive(Debug)]
pub(crate) struct Scheduled<B: TxBody> {
    body: B,
    seq: u64,
    phase: Phase,
    shards: Vec<ShardId>,
    probes: Vec<Option<Option<PartResult>>>,
    rejected: bool,
    pending: usize,
    results: Vec<(ShardId, Vec<TxOut>)>,
    error: Option<Bytes>,
    /// Frames the append-only log gets from the intermediate hops sent so far: one per
    /// (shard, hop) whose items may write.
    frames: u32,
    /// A shard publishes keyspace notifications: hops on several shards capture their events
    /// and this coordinator publishes them in order, before any lock is released.
    notifying: bool,
    /// The hop in flight is the last one, run as a captured step; a release follows.
    last_captured: bool,
    captured: Vec<(ShardId, Events)>,
    sink: Option<Arc<dyn EventSink>>,
    /// Every shard answered the scheduling hop: the transaction holds all its locks.
    locked: bool,
}

impl<B: TxBody> Scheduled<B> {
    pub(crate) fn new(body: B) -> Scheduled<B> {
        Scheduled {
            body,
            seq: 0,
            phase: Phase::Schedule,
            shards: Vec::new(),
            probes: Vec::new(),
            rejected: false,
            pending: 0,
            results: Vec::new(),
            error: None,
            frames: 0,
            notifying: false,
            last_captured: false,
            captured: Vec::new(),
            sink: None,
            locked: false,
        }
    }

    /// Publishes the events a captured hop handed back, in the body's order.
    fn publish_captured(&mut self) {
        let captured = std::mem::take(&mut self.captured);
        if captured.is_empty() {
            return;
        }
        let events = self.body.order_events(&self.shards, captured);
        if let Some(sink) = &self.sink
            && !events.is_empty()
        {
            sink.publish(events);
        }
    }

    /// The transaction's body, e.g. to take what its run produced besides the reply.
    pub(crate) fn body_mut(&mut self) -> &mut B {
        &mut self.body
    }

    fn attempt(&mut self) -> Vec<(ShardId, Part)> {
        self.seq = next_seq();
        self.frames = 0;
        self.rejected = false;
        self.notifying = false;
        self.last_captured = false;
        self.locked = false;
        self.results.clear();
        let plan = self.body.plan();
        self.shards = plan.iter().map(|p| p.shard).collect();
        self.probes = plan.iter().map(|_| None).collect();
        self.pending = plan.len();
        let single = if plan.len() == 1 {
            self.body.single()
        } else {
            None
        };
        self.phase = if single.is_some() {
            Phase::Run
        } else {
            Phase::Schedule
        };
        let seq = self.seq;
        let mut single = single;
        plan.into_iter()
            .map(|p| {
                let action = TxAction::Schedule {
                    locks: p.locks,
                    whole: p.whole,
                    probe: p.probe,
                    run: single.take(),
                };
                (
                    p.shard,
                    Part(PartKind::Tx {
                        seq,
                        action: Box::new(action),
                    }),
                )
            })
            .collect()
    }

    /// Sends the next hop: intermediate hops (while the body says [`TxBody::more`]) go only
    /// to the shards with items; the last goes to every shard, to release.
    fn hop(&mut self, mut runs: Vec<(ShardId, Vec<TxItem>)>) -> Step {
        let seq = self.seq;
        self.results.clear();
        self.captured.clear();
        loop {
            let more = self.body.more();
            let busy = runs
                .iter()
                .filter(|(s, items)| !items.is_empty() && self.shards.contains(s))
                .count();
            // Events of one shard go out in order by themselves (a shard publishes before it
            // answers); a hop on several shards hands them to this coordinator to order.
            let capture = self.notifying && busy > 1;
            if !more && !capture {
                break;
            }
            let hop: Vec<(ShardId, Vec<TxItem>)> = runs
                .into_iter()
                .filter(|(s, items)| !items.is_empty() && self.shards.contains(s))
                .collect();
            self.frames += hop
                .iter()
                .filter(|(_, items)| crate::aof::items_may_write(items))
                .count() as u32;
            // A captured last hop carries the log's frame count: the release after it
            // writes nothing.
            let total = if more { 0 } else { self.frames };
            let parts: Vec<(ShardId, Part)> = hop
                .into_iter()
                .map(|(s, items)| {
                    let action = Box::new(if capture {
                        TxAction::Capture(items, total)
                    } else {
                        TxAction::Step(items)
                    });
                    (s, Part(PartKind::Tx { seq, action }))
                })
                .collect();
            if !parts.is_empty() {
                self.phase = Phase::Step;
                self.last_captured = !more;
                self.pending = parts.len();
                return Step::Send(parts);
            }
            runs = self.body.step(Vec::new());
        }
        let last: Vec<(ShardId, Vec<TxItem>)> = self
            .shards
            .iter()
            .map(|&s| {
                let items = runs
                    .iter_mut()
                    .find(|(r, _)| *r == s)
                    .map(|(_, items)| std::mem::take(items))
                    .unwrap_or_default();
                (s, items)
            })
            .collect();
        // Every hop's writing shards log a frame; replay needs all of them.
        let frames = self.frames
            + last
                .iter()
                .filter(|(_, items)| crate::aof::items_may_write(items))
                .count() as u32;
        let parts: Vec<(ShardId, Part)> = last
            .into_iter()
            .map(|(s, items)| {
                let action = Box::new(TxAction::Run(items, frames));
                (s, Part(PartKind::Tx { seq, action }))
            })
            .collect();
        self.phase = Phase::Run;
        self.pending = parts.len();
        Step::Send(parts)
    }

    fn to_all(&self, action: impl Fn() -> TxAction) -> Vec<(ShardId, Part)> {
        self.shards
            .iter()
            .map(|&s| {
                (
                    s,
                    Part(PartKind::Tx {
                        seq: self.seq,
                        action: Box::new(action()),
                    }),
                )
            })
            .collect()
    }
}

impl<B: TxBody> Coordinator for Scheduled<B> {
    fn set_protocol(&mut self, proto: Protocol) {
        self.body.set_protocol(proto);
    }

    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.attempt()
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        let notifying = matches!(reply.0, PartResult::ReadyNotifying(_));
        match (self.phase, reply.0) {
            (Phase::Schedule, PartResult::Ready(probe) | PartResult::ReadyNotifying(probe)) => {
                self.notifying |= notifying;
                if let Some(i) = self.shards.iter().position(|s| *s == shard) {
                    self.probes[i] = Some(probe.map(|b| *b));
                }
            }
            (Phase::Step, PartResult::Captured { outs, events, sink }) => {
                self.results.push((shard, outs));
                self.captured.push((shard, events));
                if sink.is_some() {
                    self.sink = sink;
                }
            }
            (Phase::Schedule | Phase::Run, PartResult::Rejected) => self.rejected = true,
            (Phase::Run | Phase::Step, PartResult::Run(outs) | PartResult::Ran(outs)) => {
                self.results.push((shard, outs))
            }
            (_, PartResult::Error(e)) => {
                self.error.get_or_insert(e);
            }
            _ => {}
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        if let Some(e) = self.error.take() {
            // Only a wiring bug gets here (e.g. a database index out of range); whatever
            // still holds locks is released before the error is reported.
            if self.phase == Phase::Schedule {
                let held: Vec<ShardId> = self
                    .shards
                    .iter()
                    .zip(&self.probes)
                    .filter(|(_, p)| p.is_some())
                    .map(|(s, _)| *s)
                    .collect();
                self.shards = held;
                self.phase = Phase::Cancel;
                self.error = Some(e);
                self.pending = self.shards.len();
                if self.pending > 0 {
                    return Step::Send(self.to_all(|| TxAction::Cancel));
                }
                return Step::Done(Frame::Error(self.error.take().unwrap_or_default()));
            }
            if self.phase == Phase::Step {
                // Every shard still holds the transaction: release them all first.
                self.phase = Phase::Cancel;
                self.error = Some(e);
                self.pending = self.shards.len();
                return Step::Send(self.to_all(|| TxAction::Cancel));
            }
            return Step::Done(Frame::Error(e));
        }
        match self.phase {
            Phase::Schedule if self.rejected => {
                // Release the shards that accepted; the retry starts once they have.
                let held: Vec<ShardId> = self
                    .shards
                    .iter()
                    .zip(&self.probes)
                    .filter(|(_, p)| p.is_some())
                    .map(|(s, _)| *s)
                    .collect();
                if held.is_empty() {
                    return Step::Send(self.attempt());
                }
                self.shards = held;
                self.phase = Phase::Cancel;
                self.pending = self.shards.len();
                Step::Send(self.to_all(|| TxAction::Cancel))
            }
            Phase::Schedule => {
                let probes = self
                    .shards
                    .iter()
                    .zip(self.probes.iter_mut())
                    .map(|(s, p)| (*s, p.take().flatten()))
                    .collect();
                self.locked = true;
                let runs = self.body.run(probes);
                self.hop(runs)
            }
            Phase::Step => {
                self.publish_captured();
                let results = std::mem::take(&mut self.results);
                if self.last_captured {
                    // The last items ran and their events are out: release everywhere.
                    self.results = results;
                    self.phase = Phase::Release;
                    self.pending = self.shards.len();
                    let frames = self.frames;
                    return Step::Send(self.to_all(|| TxAction::Run(Vec::new(), frames)));
                }
                let runs = self.body.step(results);
                self.hop(runs)
            }
            Phase::Release => {
                let results = std::mem::take(&mut self.results);
                Step::Done(self.body.finish(results))
            }
            Phase::Cancel => match self.error.take() {
                Some(e) => Step::Done(Frame::Error(e)),
                None => Step::Send(self.attempt()),
            },
            Phase::Run if self.rejected => Step::Send(self.attempt()),
            Phase::Run => {
                let results = std::mem::take(&mut self.results);
                Step::Done(self.body.finish(results))
            }
        }
    }

    /// Always: the next command of the connection must see the transaction's effects...
    fn is_barrier(&self) -> bool {
        true
    }

    /// ... which it does once the transaction holds every lock (no retry can reorder it any
    /// more) and its next hop is on its way (see [`Coordinator::barrier_lifted`]).
    fn barrier_lifted(&self) -> bool {
        self.locked && matches!(self.phase, Phase::Step | Phase::Run | Phase::Release)
    }

    fn abandon(&mut self) -> Vec<(ShardId, Part)> {
        // The scheduling hop and intermediate hops leave locks behind that no later message
        // releases: a run releases by itself, and so does a cancel.
        if matches!(self.phase, Phase::Schedule | Phase::Step) {
            self.to_all(|| TxAction::Cancel)
        } else {
            Vec::new()
        }
    }
}

fn op_locks(keys: impl IntoIterator<Item = Bytes>) -> Vec<LockKey> {
    keys.into_iter().map(|k| (OP_DB, k)).collect()
}

/// The plan of a command that only reads or writes keys grouped by shard: each shard locks
/// its keys, with no probe.
fn lock_groups(groups: &[(ShardId, Vec<Bytes>)]) -> Vec<ShardPlan> {
    groups
        .iter()
        .map(|(s, keys)| ShardPlan {
            shard: *s,
            locks: op_locks(keys.iter().cloned()),
            whole: false,
            probe: None,
        })
        .collect()
}

fn part(kind: PartKind) -> TxItem {
    TxItem::Part { db: OP_DB, kind }
}

fn count_of(r: &PartResult) -> i64 {
    match r {
        PartResult::Count(c) => *c,
        _ => 0,
    }
}

/// The first part result of each shard's run, in shard order of `results`.
fn first_results(results: Vec<(ShardId, Vec<TxOut>)>) -> Vec<(ShardId, PartResult)> {
    results
        .into_iter()
        .filter_map(|(s, outs)| match outs.into_iter().next() {
            Some(TxOut::Part(r)) => Some((s, r)),
            _ => None,
        })
        .collect()
}

fn first_error(results: &[(ShardId, PartResult)]) -> Option<Frame> {
    results.iter().find_map(|(_, r)| match r {
        PartResult::Error(e) => Some(Frame::Error(e.clone())),
        _ => None,
    })
}

/// A multi-key command spread over shards, applied atomically through the scheduler.
#[derive(Debug)]
pub(crate) enum KeyCmd {
    /// `MGET`, `DEL`, `UNLINK`, `EXISTS`, `TOUCH`: one primitive per shard.
    Keys {
        name: &'static str,
        groups: Vec<(ShardId, Vec<Bytes>)>,
        positions: Vec<Vec<usize>>,
        keys: usize,
    },
    /// `MSET` (and `MSETNX`, which probes for existing keys first).
    Mset {
        nx: bool,
        groups: Vec<(ShardId, Vec<Bytes>)>,
        set: bool,
    },
    /// `RENAME`, `RENAMENX`, `COPY`: the source is read while locked, then removed (not for
    /// `COPY`) and written to the destination in the same hop.
    Move {
        kind: MoveKind,
        src: (ShardId, Bytes),
        dst: (ShardId, Bytes),
        outcome: Option<Frame>,
    },
    /// `DBSIZE`, `KEYS`, `RANDOMKEY`, `FLUSHDB`, `FLUSHALL`: every shard, whole-shard locks,
    /// so the command sees (or makes) one state of the whole keyspace.
    Whole { shards: usize, kind: WholeKind },
}

/// The whole-keyspace command a [`KeyCmd::Whole`] runs.
#[derive(Debug, Clone)]
pub(crate) enum WholeKind {
    Dbsize,
    Keys(Bytes),
    RandomKey,
    FlushDb,
    FlushAll,
    SwapDb(i64, i64),
}

impl WholeKind {
    fn part(&self) -> PartKind {
        match self {
            WholeKind::Dbsize => PartKind::Dbsize,
            WholeKind::Keys(pattern) => PartKind::Keys(pattern.clone()),
            WholeKind::RandomKey => PartKind::RandomKey,
            WholeKind::FlushDb => PartKind::FlushDb,
            WholeKind::FlushAll => PartKind::FlushAll,
            WholeKind::SwapDb(a, b) => PartKind::SwapDb(*a, *b),
        }
    }
}

/// Which of the moving commands a [`KeyCmd::Move`] is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MoveKind {
    Rename,
    RenameNx,
    Copy { db: Option<usize>, replace: bool },
}

impl TxBody for KeyCmd {
    fn plan(&mut self) -> Vec<ShardPlan> {
        match self {
            KeyCmd::Keys { groups, .. } => lock_groups(groups),
            KeyCmd::Mset { nx, groups, .. } => groups
                .iter()
                .map(|(s, kv)| ShardPlan {
                    shard: *s,
                    locks: op_locks(kv.iter().step_by(2).cloned()),
                    whole: false,
                    probe: nx
                        .then(|| part(PartKind::Exists(kv.iter().step_by(2).cloned().collect()))),
                })
                .collect(),
            KeyCmd::Move { kind, src, dst, .. } => {
                let dst_db = match kind {
                    MoveKind::Copy { db: Some(db), .. } => (*db).min(OP_DB as usize - 1) as u16,
                    _ => OP_DB,
                };
                vec![
                    ShardPlan {
                        shard: src.0,
                        locks: op_locks([src.1.clone()]),
                        whole: false,
                        probe: Some(part(PartKind::Read(src.1.clone()))),
                    },
                    ShardPlan {
                        shard: dst.0,
                        locks: vec![(dst_db, dst.1.clone())],
                        whole: false,
                        probe: matches!(kind, MoveKind::RenameNx)
                            .then(|| part(PartKind::Exists(vec![dst.1.clone()]))),
                    },
                ]
            }
            KeyCmd::Whole { shards, .. } => (0..*shards)
                .map(|s| ShardPlan {
                    shard: s,
                    locks: Vec::new(),
                    whole: true,
                    probe: None,
                })
                .collect(),
        }
    }

    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        match self {
            KeyCmd::Keys { name, groups, .. } => groups
                .iter()
                .map(|(s, keys)| {
                    let keys = keys.clone();
                    let kind = match *name {
                        "mget" => PartKind::Mget(keys),
                        "exists" => PartKind::Exists(keys),
                        "touch" => PartKind::Touch(keys),
                        _ => PartKind::Del(keys),
                    };
                    (*s, vec![part(kind)])
                })
                .collect(),
            KeyCmd::Mset { nx, groups, set } => {
                *set = !*nx
                    || probes
                        .iter()
                        .all(|(_, p)| p.as_ref().is_none_or(|r| count_of(r) == 0));
                if !*set {
                    return Vec::new();
                }
                groups
                    .iter()
                    .map(|(s, kv)| (*s, vec![part(PartKind::Mset(kv.clone()))]))
                    .collect()
            }
            KeyCmd::Move {
                kind,
                src,
                dst,
                outcome,
            } => {
                let mut moved = None;
                let mut dst_exists = false;
                let mut error = None;
                for (s, p) in probes {
                    match p {
                        Some(PartResult::Moved(m)) if s == src.0 => moved = m,
                        Some(PartResult::Count(c)) => dst_exists = c > 0,
                        Some(PartResult::Error(e)) => error = Some(e),
                        _ => {}
                    }
                }
                if let Some(e) = error {
                    *outcome = Some(Frame::Error(e));
                    return Vec::new();
                }
                let Some((value, at)) = moved else {
                    *outcome = Some(match kind {
                        MoveKind::Copy { .. } => Frame::Integer(0),
                        _ => Frame::error("ERR no such key"),
                    });
                    return Vec::new();
                };
                if dst_exists {
                    *outcome = Some(Frame::Integer(0));
                    return Vec::new();
                }
                let (db, replace) = match *kind {
                    MoveKind::Copy { db, replace } => (db, replace),
                    _ => (None, true),
                };
                let event = match kind {
                    MoveKind::Copy { .. } => "copy_to",
                    _ => "rename_to",
                };
                let put = part(put_kind(dst.1.clone(), value, at, db, replace, event));
                match kind {
                    MoveKind::Copy { .. } => vec![(dst.0, vec![put])],
                    _ => {
                        *outcome = Some(match kind {
                            MoveKind::RenameNx => Frame::Integer(1),
                            _ => Frame::simple("OK"),
                        });
                        vec![
                            (src.0, vec![part(PartKind::RenameFrom(src.1.clone()))]),
                            (dst.0, vec![put]),
                        ]
                    }
                }
            }
            KeyCmd::Whole { shards, kind } => {
                (0..*shards).map(|s| (s, vec![part(kind.part())])).collect()
            }
        }
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        let results = first_results(results);
        if let Some(e) = first_error(&results) {
            return e;
        }
        match self {
            KeyCmd::Keys {
                name,
                groups,
                positions,
                keys,
            } => {
                if *name != "mget" {
                    return Frame::Integer(results.iter().map(|(_, r)| count_of(r)).sum());
                }
                let mut out = vec![Frame::Null; *keys];
                for (shard, result) in results {
                    let Some(i) = groups.iter().position(|(s, _)| *s == shard) else {
                        continue;
                    };
                    if let PartResult::Values(values) = result {
                        for (&at, v) in positions[i].iter().zip(values) {
                            if let (Some(slot), Some(v)) = (out.get_mut(at), v) {
                                *slot = Frame::Bulk(v);
                            }
                        }
                    }
                }
                Frame::Array(out)
            }
            KeyCmd::Mset { nx, set, .. } => {
                if *nx {
                    Frame::Integer(*set as i64)
                } else {
                    Frame::simple("OK")
                }
            }
            KeyCmd::Move { kind, outcome, .. } => match (kind, outcome.take()) {
                (MoveKind::Copy { .. }, None) => {
                    Frame::Integer(results.first().map_or(0, |(_, r)| count_of(r)))
                }
                (_, Some(frame)) => frame,
                (_, None) => Frame::simple("OK"),
            },
            KeyCmd::Whole { kind, .. } => match kind {
                WholeKind::Dbsize => Frame::Integer(results.iter().map(|(_, r)| count_of(r)).sum()),
                WholeKind::Keys(_) => Frame::Array(
                    results
                        .into_iter()
                        .flat_map(|(_, r)| match r {
                            PartResult::Keys(k) => k,
                            _ => Vec::new(),
                        })
                        .map(Frame::Bulk)
                        .collect(),
                ),
                WholeKind::RandomKey => random_pick(results),
                WholeKind::FlushDb | WholeKind::FlushAll | WholeKind::SwapDb(..) => {
                    Frame::simple("OK")
                }
            },
        }
    }
}

/// `RANDOMKEY` over every shard's pick, weighted by the shards' key counts so every key is
/// about equally likely.
fn random_pick(results: Vec<(ShardId, PartResult)>) -> Frame {
    use rand::Rng;
    let found: Vec<(Bytes, usize)> = results
        .into_iter()
        .filter_map(|(_, r)| match r {
            PartResult::RandomKey(Some(key), count) => Some((key, count.max(1))),
            _ => None,
        })
        .collect();
    let total: usize = found.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return Frame::Null;
    }
    let mut pick = rand::thread_rng().gen_range(0..total);
    for (key, count) in found {
        if pick < count {
            return Frame::Bulk(key);
        }
        pick -= count;
    }
    Frame::Null
}

fn put_kind(
    key: Bytes,
    value: Value,
    at: Option<i64>,
    db: Option<usize>,
    replace: bool,
    event: &'static str,
) -> PartKind {
    PartKind::Put {
        key,
        value,
        expire_at: at,
        db,
        replace,
        event,
    }
}

/// The scheduled coordinator of a spread multi-key command, or `None` for other commands.
pub(crate) fn key_command(
    name: &str,
    args: &[Bytes],
    n: usize,
) -> Result<Option<Box<dyn Coordinator>>, Bytes> {
    Ok(key_body(name, args, n)?.map(|body| Box::new(Scheduled::new(body)) as Box<dyn Coordinator>))
}

/// The transaction body of a spread multi-key command, or `None` for other commands.
fn key_body(name: &str, args: &[Bytes], n: usize) -> Result<Option<KeyCmd>, Bytes> {
    let body = match name {
        "mget" | "del" | "unlink" | "exists" | "touch" => {
            let (groups, positions) = group_keys(&args[1..], n);
            KeyCmd::Keys {
                name: match name {
                    "mget" => "mget",
                    "exists" => "exists",
                    "touch" => "touch",
                    _ => "del",
                },
                groups,
                positions,
                keys: args.len() - 1,
            }
        }
        "mset" | "msetnx" => KeyCmd::Mset {
            nx: name == "msetnx",
            groups: group_pairs(&args[1..], n),
            set: false,
        },
        "rename" | "renamenx" | "copy" => {
            let kind = match name {
                "rename" => MoveKind::Rename,
                "renamenx" => MoveKind::RenameNx,
                _ => {
                    let opts = crate::cmd_keys::parse_copy(&args[3..], usize::MAX)
                        .map_err(|e| Bytes::from_static(e.as_bytes()))?;
                    MoveKind::Copy {
                        db: opts.db,
                        replace: opts.replace,
                    }
                }
            };
            KeyCmd::Move {
                kind,
                src: (shard_for(&args[1], n), args[1].clone()),
                dst: (shard_for(&args[2], n), args[2].clone()),
                outcome: None,
            }
        }
        "dbsize" | "keys" | "randomkey" | "flushdb" | "flushall" | "swapdb" => KeyCmd::Whole {
            shards: n,
            kind: match name {
                "swapdb" => {
                    let (a, b) = crate::cmd_keys::parse_swapdb(args)
                        .map_err(|e| Bytes::from_static(e.as_bytes()))?;
                    WholeKind::SwapDb(a, b)
                }
                "dbsize" => WholeKind::Dbsize,
                "keys" => WholeKind::Keys(args[1].clone()),
                "randomkey" => WholeKind::RandomKey,
                "flushdb" => WholeKind::FlushDb,
                _ => WholeKind::FlushAll,
            },
        },
        _ => return Ok(None),
    };
    Ok(Some(body))
}

/// The transaction body of a command that moves data between shards, queued in `MULTI`
/// with its keys on several shards: the same body its standalone form runs (`RENAME`,
/// `RENAMENX`, `COPY`, `MSETNX`, `LCS`, the set and sorted-set multi-key commands, `LMOVE`,
/// `RPOPLPUSH`, `LMPOP`, and the blocking pops, which never block inside `MULTI`).
fn sub_body(name: &str, args: &[Bytes], n: usize) -> Result<Option<Box<dyn TxBody>>, Bytes> {
    Ok(match name {
        "rename" | "renamenx" | "copy" | "msetnx" | "randomkey" => {
            key_body(name, args, n)?.map(|b| Box::new(b) as Box<dyn TxBody>)
        }
        "bzpopmin" | "bzpopmax" | "bzmpop" => crate::multi::body(name, args, n)
            .map_err(Bytes::from)?
            .map(|b| Box::new(b) as Box<dyn TxBody>),
        "lcs" => crate::coord::lcs_body(args, n)?.map(|b| Box::new(b) as Box<dyn TxBody>),
        name if crate::multi::is_multi(name) => crate::multi::body(name, args, n)
            .map_err(Bytes::from)?
            .map(|b| Box::new(b) as Box<dyn TxBody>),
        _ => crate::blocking::queued_body(name, args, n)?,
    })
}

/// One command queued by `MULTI`, as the connection layer hands it to [`exec`].
#[derive(Debug)]
pub enum Queued {
    /// A command the connection layer already answered (`PING`, `SELECT`, ...): its reply,
    /// encoded in the connection's protocol.
    Reply(Bytes),
    /// A command for the shards, with the database selected when it runs.
    Command {
        /// The database.
        db: u16,
        /// The command.
        req: Request,
    },
}

/// Where one queued command's reply comes from, as planned.
#[derive(Debug)]
enum Source {
    Local(Bytes),
    /// Staged item `pos` (see [`Exec::push`]) on `shard`.
    One(ShardId, usize),
    /// A spread command split into one primitive per shard (staged items).
    Split {
        name: &'static str,
        parts: Vec<(ShardId, usize)>,
        positions: Vec<Vec<usize>>,
        keys: usize,
    },
    /// A command that moves data between shards (`RENAME`, `SUNIONSTORE`, `LMOVE`, ...):
    /// the body of its standalone scheduled transaction, run in hops inside `EXEC`'s.
    Sub {
        body: Box<dyn TxBody>,
        db: u16,
    },
    Error(Bytes),
}

/// One queued command of an `EXEC`, ready to run.
#[derive(Debug)]
enum Entry {
    /// Answered already (by the connection layer, or an error found while planning).
    Reply,
    /// A command on one shard.
    One {
        shard: ShardId,
        item: Option<TxItem>,
    },
    /// A spread command split into one primitive per shard.
    Split {
        name: &'static str,
        items: Vec<(ShardId, TxItem)>,
        positions: Vec<Vec<usize>>,
        keys: usize,
    },
    /// A transaction body of its own (see [`Source::Sub`]).
    Sub { body: Box<dyn TxBody>, db: u16 },
}

/// Where the results of a command placed in the hop in flight are, and what they feed.
#[derive(Debug)]
enum Wait {
    One {
        entry: usize,
        at: (ShardId, usize),
    },
    Split {
        entry: usize,
        name: &'static str,
        at: Vec<(ShardId, usize)>,
        positions: Vec<Vec<usize>>,
        keys: usize,
    },
    /// A sub-transaction's probes, per shard of its plan (in plan order).
    Probes {
        entry: usize,
        at: Vec<(ShardId, Option<usize>)>,
    },
    /// A sub-transaction's intermediate hop ([`TxBody::step`]).
    Step {
        entry: usize,
        at: Vec<(ShardId, Vec<usize>)>,
    },
    /// A sub-transaction's last items ([`TxBody::finish`]).
    Finish {
        entry: usize,
        at: Vec<(ShardId, Vec<usize>)>,
    },
}

/// `EXEC`: the queued commands run atomically on every shard they touch.
///
/// The commands are placed, in order, into hops: each shard runs its items of a hop in order,
/// and commands on different shards touch different keys, so a hop runs them as one client
/// would one after the other. A command that moves data between shards (a [`Source::Sub`])
/// ends the hop after its probes; its items then run in its own intermediate hops, and its
/// last items open the next hop, followed by the commands queued after it. Every hop runs
/// while the transaction holds all its locks (see [`TxBody::more`]), so no other client sees
/// anything between the first and the last.
#[derive(Debug)]
struct Exec {
    client: u64,
    proto: Protocol,
    /// Per shard: locks and whole.
    shards: Vec<ShardWork>,
    /// Items of the command being planned (see [`Exec::push`]).
    staging: Vec<Option<TxItem>>,
    entries: Vec<Entry>,
    replies: Vec<Option<Frame>>,
    watches: Vec<(ShardId, LockKey)>,
    aborted: bool,
    /// The next entry to place.
    cursor: usize,
    /// The hop being built.
    hop: Vec<(ShardId, Vec<TxItem>)>,
    /// What the hop in flight answers.
    waits: Vec<Wait>,
    /// Whether the hop in flight is an intermediate one.
    more: bool,
    /// Runs on one shard in one hop, the `WATCH` check first (see [`TxBody::single`]).
    single: bool,
}

#[derive(Debug, Default)]
struct ShardWork {
    shard: ShardId,
    locks: Vec<LockKey>,
    whole: bool,
}

/// The items of one hop, per shard.
type Hop = Vec<(ShardId, Vec<TxItem>)>;

/// `item` with "the op's database" replaced by `db` (a queued command's).
fn with_db(item: TxItem, db: u16) -> TxItem {
    match item {
        TxItem::Part { db: OP_DB, kind } => TxItem::Part { db, kind },
        TxItem::Command {
            db: OP_DB,
            proto,
            req,
        } => TxItem::Command { db, proto, req },
        other => other,
    }
}

impl Exec {
    fn work(&mut self, shard: ShardId) -> &mut ShardWork {
        let i = match self.shards.iter().position(|w| w.shard == shard) {
            Some(i) => i,
            None => {
                self.shards.push(ShardWork {
                    shard,
                    ..ShardWork::default()
                });
                self.shards.len() - 1
            }
        };
        &mut self.shards[i]
    }

    /// Stages an item of the command being planned for `shard`; returns its index among the
    /// staged items.
    fn push(&mut self, shard: ShardId, item: TxItem) -> usize {
        self.work(shard);
        self.staging.push(Some(item));
        self.staging.len() - 1
    }

    /// Turns a planned command into an entry (and its reply, if it has one already).
    fn add(&mut self, source: Source) {
        let mut staged = std::mem::take(&mut self.staging);
        let mut take = |i: usize| staged.get_mut(i).and_then(Option::take);
        let (entry, reply) = match source {
            Source::Local(bytes) => (Entry::Reply, Some(decode(&bytes))),
            Source::Error(e) => (Entry::Reply, Some(Frame::Error(e))),
            Source::One(shard, i) => (
                Entry::One {
                    shard,
                    item: take(i),
                },
                None,
            ),
            Source::Split {
                name,
                parts,
                positions,
                keys,
            } => {
                let items = parts
                    .into_iter()
                    .filter_map(|(s, i)| take(i).map(|item| (s, item)))
                    .collect();
                let entry = Entry::Split {
                    name,
                    items,
                    positions,
                    keys,
                };
                (entry, None)
            }
            Source::Sub { mut body, db } => {
                body.set_protocol(self.proto);
                for p in body.plan() {
                    let w = self.work(p.shard);
                    w.whole |= p.whole;
                    w.locks.extend(
                        p.locks
                            .into_iter()
                            .map(|(d, k)| (if d == OP_DB { db } else { d }, k)),
                    );
                }
                (Entry::Sub { body, db }, None)
            }
        };
        self.entries.push(entry);
        self.replies.push(reply);
    }

    /// Appends `item` to `shard`'s items of the hop being built; returns its position.
    fn place(&mut self, shard: ShardId, item: TxItem) -> usize {
        let i = match self.hop.iter().position(|(s, _)| *s == shard) {
            Some(i) => i,
            None => {
                self.hop.push((shard, Vec::new()));
                self.hop.len() - 1
            }
        };
        self.hop[i].1.push(item);
        self.hop[i].1.len() - 1
    }

    fn has_subs(&self) -> bool {
        self.entries.iter().any(|e| matches!(e, Entry::Sub { .. }))
    }

    /// Places queued commands, from the cursor on, into the hop being built. Returns true if
    /// a sub-transaction's probes end it (an intermediate hop), false if every command is
    /// placed (the last hop, which also forgets the watched keys).
    fn fill(&mut self) -> bool {
        while self.cursor < self.entries.len() {
            let i = self.cursor;
            self.cursor += 1;
            match &mut self.entries[i] {
                Entry::Reply => {}
                Entry::One { shard, item } => {
                    let (shard, item) = (*shard, item.take());
                    if let Some(item) = item {
                        let at = (shard, self.place(shard, item));
                        self.waits.push(Wait::One { entry: i, at });
                    }
                }
                Entry::Split {
                    name,
                    items,
                    positions,
                    keys,
                } => {
                    let (name, keys) = (*name, *keys);
                    let (items, positions) = (std::mem::take(items), std::mem::take(positions));
                    let at = items
                        .into_iter()
                        .map(|(s, item)| (s, self.place(s, item)))
                        .collect();
                    self.waits.push(Wait::Split {
                        entry: i,
                        name,
                        at,
                        positions,
                        keys,
                    });
                }
                Entry::Sub { body, db } => {
                    let db = *db;
                    let plans = body.plan();
                    let mut at = Vec::with_capacity(plans.len());
                    for p in plans {
                        let pos = p.probe.map(|item| self.place(p.shard, with_db(item, db)));
                        at.push((p.shard, pos));
                    }
                    if at.iter().any(|(_, p)| p.is_some()) {
                        self.waits.push(Wait::Probes { entry: i, at });
                        return true;
                    }
                    // No probe to wait for: on to its items at once.
                    let probes = at.into_iter().map(|(s, _)| (s, None)).collect();
                    let items = self.body(i).map(|b| b.run(probes)).unwrap_or_default();
                    if self.sub_items(i, items) {
                        return true;
                    }
                }
            }
        }
        let unwatch: Vec<(ShardId, TxItem)> = self
            .shards
            .iter()
            .filter_map(|w| self.unwatch_item(w.shard).map(|item| (w.shard, item)))
            .collect();
        for (s, item) in unwatch {
            self.place(s, item);
        }
        false
    }

    fn body(&mut self, entry: usize) -> Option<&mut Box<dyn TxBody>> {
        match self.entries.get_mut(entry) {
            Some(Entry::Sub { body, .. }) => Some(body),
            _ => None,
        }
    }

    /// Places the items a sub-transaction produced (by `run` or `step`): alone in an
    /// intermediate hop if it wants more (returns true), else as the start of the next hop
    /// ([`TxBody::finish`] gets their results).
    fn sub_items(&mut self, entry: usize, mut items: Vec<(ShardId, Vec<TxItem>)>) -> bool {
        let db = match self.entries.get(entry) {
            Some(Entry::Sub { db, .. }) => *db,
            _ => OP_DB,
        };
        loop {
            let more = self.body(entry).is_some_and(|b| b.more());
            if more && items.iter().all(|(_, i)| i.is_empty()) {
                items = self
                    .body(entry)
                    .map(|b| b.step(Vec::new()))
                    .unwrap_or_default();
                continue;
            }
            let at = items
                .into_iter()
                .map(|(s, list)| {
                    let pos = list
                        .into_iter()
                        .map(|item| self.place(s, with_db(item, db)))
                        .collect();
                    (s, pos)
                })
                .collect();
            if more {
                self.waits.push(Wait::Step { entry, at });
                return true;
            }
            self.waits.push(Wait::Finish { entry, at });
            return false;
        }
    }

    /// Takes the results of the hop in flight to the commands waiting for them. Returns the
    /// items a sub-transaction produced for the next hop, if one was waiting for its probes
    /// or an intermediate hop.
    fn resolve(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Option<(usize, Hop)> {
        let mut outs: Vec<(ShardId, Vec<Option<TxOut>>)> = results
            .into_iter()
            .map(|(s, o)| (s, o.into_iter().map(Some).collect()))
            .collect();
        let mut take = |shard: ShardId, pos: usize| -> Option<TxOut> {
            outs.iter_mut()
                .find(|(s, _)| *s == shard)
                .and_then(|(_, o)| o.get_mut(pos))
                .and_then(Option::take)
        };
        let mut next = None;
        for wait in std::mem::take(&mut self.waits) {
            match wait {
                Wait::One { entry, at } => {
                    self.replies[entry] = Some(match take(at.0, at.1) {
                        Some(TxOut::Encoded(bytes)) => decode(&bytes),
                        Some(TxOut::Part(PartResult::Error(e))) => Frame::Error(e),
                        _ => Frame::error("ERR internal error"),
                    });
                }
                Wait::Split {
                    entry,
                    name,
                    at,
                    positions,
                    keys,
                } => {
                    let results: Vec<(ShardId, PartResult)> = at
                        .iter()
                        .filter_map(|&(s, pos)| match take(s, pos) {
                            Some(TxOut::Part(r)) => Some((s, r)),
                            _ => None,
                        })
                        .collect();
                    self.replies[entry] = Some(merge_split(name, results, &at, &positions, keys));
                }
                Wait::Probes { entry, at } => {
                    let probes = at
                        .into_iter()
                        .map(|(s, pos)| {
                            let r = pos.and_then(|p| match take(s, p) {
                                Some(TxOut::Part(r)) => Some(r),
                                _ => None,
                            });
                            (s, r)
                        })
                        .collect();
                    let items = self.body(entry).map(|b| b.run(probes));
                    next = Some((entry, items.unwrap_or_default()));
                }
                Wait::Step { entry, at } => {
                    let results = at
                        .into_iter()
                        .map(|(s, pos)| (s, pos.into_iter().filter_map(|p| take(s, p)).collect()))
                        .collect();
                    let items = self.body(entry).map(|b| b.step(results));
                    next = Some((entry, items.unwrap_or_default()));
                }
                Wait::Finish { entry, at } => {
                    let results = at
                        .into_iter()
                        .map(|(s, pos)| (s, pos.into_iter().filter_map(|p| take(s, p)).collect()))
                        .collect();
                    self.replies[entry] = self.body(entry).map(|b| b.finish(results));
                }
            }
        }
        next
    }

    fn watch_dbs(&self, shard: ShardId) -> Vec<u16> {
        let mut dbs: Vec<u16> = self
            .watches
            .iter()
            .filter(|(s, _)| *s == shard)
            .map(|(_, (db, _))| *db)
            .collect();
        dbs.sort_unstable();
        dbs.dedup();
        dbs
    }

    fn unwatch_item(&self, shard: ShardId) -> Option<TxItem> {
        let keys: Vec<LockKey> = self
            .watches
            .iter()
            .filter(|(s, _)| *s == shard)
            .map(|(_, k)| k.clone())
            .collect();
        (!keys.is_empty()).then_some(TxItem::Unwatch {
            client: self.client,
            keys,
        })
    }

    /// The `EXEC` reply from every command's reply.
    fn replies(&mut self) -> Frame {
        Frame::Array(
            std::mem::take(&mut self.replies)
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Frame::error("ERR internal error")))
                .collect(),
        )
    }
}

impl TxBody for Exec {
    fn plan(&mut self) -> Vec<ShardPlan> {
        let shards: Vec<(ShardId, Vec<LockKey>, bool)> = self
            .shards
            .iter()
            .map(|w| (w.shard, w.locks.clone(), w.whole))
            .collect();
        shards
            .into_iter()
            .map(|(shard, locks, whole)| {
                let dbs = self.watch_dbs(shard);
                ShardPlan {
                    shard,
                    locks,
                    whole,
                    probe: (!dbs.is_empty()).then_some(TxItem::WatchCheck {
                        client: self.client,
                        dbs,
                    }),
                }
            })
            .collect()
    }

    fn single(&mut self) -> Option<Vec<TxItem>> {
        if self.has_subs() {
            return None;
        }
        let shard = self.shards.first()?.shard;
        self.single = true;
        let dbs = self.watch_dbs(shard);
        // The check first: a touched key skips every later item (see `TxItem::WatchCheck`).
        self.place(
            shard,
            TxItem::WatchCheck {
                client: self.client,
                dbs,
            },
        );
        self.more = self.fill();
        let items = std::mem::take(&mut self.hop)
            .into_iter()
            .find(|(s, _)| *s == shard)
            .map(|(_, items)| items);
        Some(items.unwrap_or_default())
    }

    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        self.aborted = probes
            .iter()
            .any(|(_, p)| p.as_ref().is_some_and(|r| count_of(r) > 0));
        self.hop.clear();
        if self.aborted {
            self.cursor = self.entries.len();
            self.more = self.fill();
        } else {
            self.more = self.fill();
        }
        std::mem::take(&mut self.hop)
    }

    fn more(&self) -> bool {
        self.more
    }

    fn step(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        if let Some((entry, items)) = self.resolve(results) {
            self.more = self.sub_items(entry, items) || self.fill();
        } else {
            self.more = self.fill();
        }
        std::mem::take(&mut self.hop)
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        let touched = self.single_shard_touched(&results);
        if self.aborted || touched {
            return Frame::NullArray;
        }
        self.resolve(results);
        self.replies()
    }

    fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }

    /// Events in command order; within one command spread over shards, by shard in the order
    /// of its first keys (so a command's events on one shard stay together).
    fn order_events(&self, _shards: &[ShardId], captured: Vec<(ShardId, Events)>) -> Vec<Message> {
        // (entry, rank of the shard within the entry, position) of each placed item.
        let mut rank: Vec<(ShardId, usize, usize, usize)> = Vec::new();
        for wait in &self.waits {
            match wait {
                Wait::One { entry, at } => rank.push((at.0, at.1, *entry, 0)),
                Wait::Split { entry, at, .. } => {
                    for (r, (s, pos)) in at.iter().enumerate() {
                        rank.push((*s, *pos, *entry, r));
                    }
                }
                Wait::Probes { entry, at } => {
                    for (r, (s, pos)) in at.iter().enumerate() {
                        if let Some(pos) = pos {
                            rank.push((*s, *pos, *entry, r));
                        }
                    }
                }
                Wait::Step { entry, at } | Wait::Finish { entry, at } => {
                    for (r, (s, positions)) in at.iter().enumerate() {
                        for pos in positions {
                            rank.push((*s, *pos, *entry, r));
                        }
                    }
                }
            }
        }
        let mut items: Vec<((usize, usize, usize), Vec<Message>)> = Vec::new();
        for (shard, per_item) in captured {
            for (pos, events) in per_item.into_iter().enumerate() {
                if events.is_empty() {
                    continue;
                }
                let key = rank
                    .iter()
                    .find(|(s, p, _, _)| *s == shard && *p == pos)
                    .map_or((usize::MAX, 0, pos), |(_, _, e, r)| (*e, *r, pos));
                items.push((key, events));
            }
        }
        items.sort_by_key(|(key, _)| *key);
        items.into_iter().flat_map(|(_, e)| e).collect()
    }
}

impl Exec {
    /// In a single-shard `EXEC` (one hop, the check first): whether a watched key was touched.
    fn single_shard_touched(&self, results: &[(ShardId, Vec<TxOut>)]) -> bool {
        if !self.single {
            return false;
        }
        results.iter().any(|(_, outs)| {
            matches!(outs.first(), Some(TxOut::Part(r)) if count_of(r) > 0)
                || outs.iter().any(|o| matches!(o, TxOut::Skipped))
        })
    }
}

fn merge_split(
    name: &str,
    results: Vec<(ShardId, PartResult)>,
    parts: &[(ShardId, usize)],
    positions: &[Vec<usize>],
    keys: usize,
) -> Frame {
    if let Some(e) = first_error(&results) {
        return e;
    }
    match name {
        "mget" => {
            let mut out = vec![Frame::Null; keys];
            for (shard, result) in results {
                let Some(i) = parts.iter().position(|(s, _)| *s == shard) else {
                    continue;
                };
                if let PartResult::Values(values) = result {
                    for (&at, v) in positions[i].iter().zip(values) {
                        if let (Some(slot), Some(v)) = (out.get_mut(at), v) {
                            *slot = Frame::Bulk(v);
                        }
                    }
                }
            }
            Frame::Array(out)
        }
        "keys" => Frame::Array(
            results
                .into_iter()
                .flat_map(|(_, r)| match r {
                    PartResult::Keys(k) => k,
                    _ => Vec::new(),
                })
                .map(Frame::Bulk)
                .collect(),
        ),
        "mset" | "flushdb" | "flushall" | "swapdb" => Frame::simple("OK"),
        _ => Frame::Integer(results.iter().map(|(_, r)| count_of(r)).sum()),
    }
}

/// A reply a shard (or the connection layer) encoded, back as a frame for the `EXEC` array.
fn decode(bytes: &[u8]) -> Frame {
    match resp_codec::decode_frame(bytes) {
        Ok(Some((frame, _))) => frame,
        _ => Frame::error("ERR internal error"),
    }
}

/// `EXEC` of the commands `MULTI` queued, for the client with id `client` speaking `proto`,
/// which watches `watches` (database and key). Commands run atomically across shards: no
/// other client sees any of their effects before all of them, and a watched key touched
/// since `WATCH` makes the reply a null array.
///
/// Returns the coordinator to drive, or `Err` with the complete reply when no shard is
/// involved (only commands the connection layer answered, nothing watched).
pub fn exec(
    client: u64,
    proto: Protocol,
    queued: Vec<Queued>,
    watches: &[(u16, Bytes)],
    n: usize,
) -> Result<Box<dyn Coordinator>, Frame> {
    let n = n.max(1);
    let mut exec = Exec {
        client,
        proto,
        shards: Vec::new(),
        staging: Vec::new(),
        entries: Vec::with_capacity(queued.len()),
        replies: Vec::with_capacity(queued.len()),
        watches: watches
            .iter()
            .map(|(db, k)| (shard_for(k, n), (*db, k.clone())))
            .collect(),
        aborted: false,
        cursor: 0,
        hop: Vec::new(),
        waits: Vec::new(),
        more: false,
        single: false,
    };
    for (shard, key) in exec.watches.clone() {
        exec.work(shard).locks.push(key);
    }
    for q in queued {
        let source = match q {
            Queued::Reply(bytes) => Source::Local(bytes),
            Queued::Command { db, req } => plan_queued(&mut exec, db, req, n),
        };
        exec.add(source);
    }
    if exec.shards.is_empty() {
        return Err(exec.replies());
    }
    Ok(Box::new(Scheduled::new(exec)))
}

fn plan_queued(exec: &mut Exec, db: u16, req: Request, n: usize) -> Source {
    let proto = exec.proto;
    // A blocking pop inside MULTI never blocks (see `blocking.rs`): with its keys on one
    // shard it runs there like any single-shard command.
    let route = match crate::route(&req, n) {
        Ok(Route::FanOut(c)) => match crate::blocking::queued_shard(&req, n) {
            Some(shard) => Ok(Route::Shard(shard)),
            None => Ok(Route::FanOut(c)),
        },
        other => other,
    };
    match route {
        Err(e) => Source::Error(e),
        Ok(Route::Local) => Source::Error(Bytes::from_static(b"ERR internal error")),
        Ok(Route::Shard(shard)) => {
            let w = exec.work(shard);
            let keys = command_keys(&req);
            match keys {
                Some(keys) => w.locks.extend(keys.into_iter().map(|k| (db, k))),
                None => w.whole = true,
            }
            Source::One(shard, exec.push(shard, TxItem::Command { db, proto, req }))
        }
        Ok(Route::FanOut(_)) => split_queued(exec, db, &req, n),
    }
}

/// The keys a single-shard command touches, or `None` for commands over the whole keyspace.
fn command_keys(req: &Request) -> Option<Vec<Bytes>> {
    let (_, spec) = crate::route::validate(req.args()).ok()?;
    if spec.first_key <= 0 {
        return None;
    }
    let args = req.args();
    Some(
        spec.key_positions(args.len())
            .filter_map(|i| args.get(i).cloned())
            .collect(),
    )
}

/// A spread command inside `EXEC`: split into one primitive per shard.
fn split_queued(exec: &mut Exec, db: u16, req: &Request, n: usize) -> Source {
    let args = req.args();
    let name = req.name().to_ascii_lowercase();
    let whole = |exec: &mut Exec, name: &'static str, kind: &dyn Fn() -> PartKind| {
        let parts = (0..n)
            .map(|s| {
                exec.work(s).whole = true;
                (s, exec.push(s, TxItem::Part { db, kind: kind() }))
            })
            .collect();
        Source::Split {
            name,
            parts,
            positions: Vec::new(),
            keys: 0,
        }
    };
    match name.as_slice() {
        b"mget" | b"del" | b"unlink" | b"exists" | b"touch" => {
            let (groups, positions) = group_keys(&args[1..], n);
            let name: &'static str = match name.as_slice() {
                b"mget" => "mget",
                b"exists" => "exists",
                b"touch" => "touch",
                _ => "del",
            };
            let parts = groups
                .into_iter()
                .map(|(s, keys)| {
                    exec.work(s)
                        .locks
                        .extend(keys.iter().map(|k| (db, k.clone())));
                    let kind = match name {
                        "mget" => PartKind::Mget(keys),
                        "exists" => PartKind::Exists(keys),
                        "touch" => PartKind::Touch(keys),
                        _ => PartKind::Del(keys),
                    };
                    (s, exec.push(s, TxItem::Part { db, kind }))
                })
                .collect();
            Source::Split {
                name,
                parts,
                positions,
                keys: args.len() - 1,
            }
        }
        b"mset" => {
            let parts = group_pairs(&args[1..], n)
                .into_iter()
                .map(|(s, kv)| {
                    let locks: Vec<LockKey> =
                        kv.iter().step_by(2).map(|k| (db, k.clone())).collect();
                    exec.work(s).locks.extend(locks);
                    (
                        s,
                        exec.push(
                            s,
                            TxItem::Part {
                                db,
                                kind: PartKind::Mset(kv),
                            },
                        ),
                    )
                })
                .collect();
            Source::Split {
                name: "mset",
                parts,
                positions: Vec::new(),
                keys: 0,
            }
        }
        b"dbsize" => whole(exec, "dbsize", &|| PartKind::Dbsize),
        b"flushdb" => whole(exec, "flushdb", &|| PartKind::FlushDb),
        b"flushall" => whole(exec, "flushall", &|| PartKind::FlushAll),
        b"keys" => {
            let pattern = args[1].clone();
            whole(exec, "keys", &|| PartKind::Keys(pattern.clone()))
        }
        b"swapdb" => match crate::cmd_keys::parse_swapdb(args) {
            Ok((a, b)) => whole(exec, "swapdb", &|| PartKind::SwapDb(a, b)),
            Err(e) => Source::Error(Bytes::from_static(e.as_bytes())),
        },
        _ => {
            let name = String::from_utf8_lossy(&name);
            match sub_body(&name, args, n) {
                Ok(Some(body)) => Source::Sub { body, db },
                Ok(None) => Source::Error(Bytes::from(format!(
                    "ERR '{name}' with keys on different shards is not supported inside MULTI"
                ))),
                Err(e) => Source::Error(e),
            }
        }
    }
}

/// `WATCH` of `keys` in database `db` for client `client`: registers the keys on their shards.
/// The reply is `+OK`.
pub fn watch(client: u64, keys: &[Bytes], n: usize) -> Box<dyn Coordinator> {
    let n = n.max(1);
    let (groups, _) = group_keys(keys, n);
    Box::new(WatchCoord {
        parts: groups
            .into_iter()
            .map(|(s, keys)| (s, Part(PartKind::Watch { client, keys })))
            .collect(),
        pending: 0,
    })
}

/// The parts that make the shards forget what `client` watches (`UNWATCH`, `DISCARD`, a
/// closed connection); their replies carry nothing and may be ignored.
pub fn unwatch_parts(client: u64, watches: &[(u16, Bytes)], n: usize) -> Vec<(ShardId, Part)> {
    let n = n.max(1);
    let mut out: Vec<(ShardId, Vec<LockKey>)> = Vec::new();
    for (db, key) in watches {
        let s = shard_for(key, n);
        match out.iter_mut().find(|(x, _)| *x == s) {
            Some((_, keys)) => keys.push((*db, key.clone())),
            None => out.push((s, vec![(*db, key.clone())])),
        }
    }
    out.into_iter()
        .map(|(s, keys)| (s, Part(PartKind::Unwatch { client, keys })))
        .collect()
}

#[derive(Debug)]
struct WatchCoord {
    parts: Vec<(ShardId, Part)>,
    pending: usize,
}

impl Coordinator for WatchCoord {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.pending = self.parts.len();
        std::mem::take(&mut self.parts)
    }

    fn on_reply(&mut self, _shard: ShardId, _reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        if self.pending > 0 {
            Step::Wait
        } else {
            Step::Done(Frame::simple("OK"))
        }
    }
}

/// The most keys an `MGET` reads on one shard in one hop. A bigger `MGET` runs as a
/// [`SlicedMget`] transaction, so the shard serves other connections between its slices.
pub(crate) const MGET_SLICE: usize = 1024;

/// An `MGET` of more than [`MGET_SLICE`] keys: every shard takes the locks of all its keys in
/// the scheduling hop, then reads them at most [`MGET_SLICE`] per hop (intermediate hops keep
/// every lock; the last releases). Commands on other keys run between the slices; commands
/// on its keys wait for the release, so the reply is still one snapshot.
#[derive(Debug)]
pub(crate) struct SlicedMget {
    groups: Vec<(ShardId, Vec<Bytes>)>,
    positions: Vec<Vec<usize>>,
    /// Per group: the keys already sent to the shard.
    next: Vec<usize>,
    /// Per group: the range of keys of the hop in flight.
    sent: Vec<(usize, usize)>,
    out: Vec<Frame>,
}

/// The coordinator of an `MGET` of more than [`MGET_SLICE`] keys (on any number of shards).
pub(crate) fn sliced_mget(args: &[Bytes], n: usize) -> Box<dyn Coordinator> {
    let (groups, positions) = group_keys(&args[1..], n.max(1));
    let count = groups.len();
    Box::new(Scheduled::new(SlicedMget {
        groups,
        positions,
        next: vec![0; count],
        sent: vec![(0, 0); count],
        out: vec![Frame::Null; args.len() - 1],
    }))
}

impl SlicedMget {
    /// The next slice of every shard that has keys left.
    fn slices(&mut self) -> Vec<(ShardId, Vec<TxItem>)> {
        let mut hop = Vec::new();
        for (i, (shard, keys)) in self.groups.iter().enumerate() {
            let start = self.next[i];
            let end = (start + MGET_SLICE).min(keys.len());
            self.sent[i] = (start, end);
            self.next[i] = end;
            if start < end {
                hop.push((
                    *shard,
                    vec![part(PartKind::Mget(keys[start..end].to_vec()))],
                ));
            }
        }
        hop
    }

    /// Places a hop's values at their keys' positions in the reply.
    fn absorb(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) {
        for (shard, outs) in results {
            let Some(i) = self.groups.iter().position(|(s, _)| *s == shard) else {
                continue;
            };
            let (start, end) = self.sent[i];
            let Some(TxOut::Part(PartResult::Values(values))) = outs.into_iter().next() else {
                continue;
            };
            for (&at, v) in self.positions[i][start..end].iter().zip(values) {
                if let (Some(slot), Some(v)) = (self.out.get_mut(at), v) {
                    *slot = Frame::Bulk(v);
                }
            }
        }
    }
}

impl TxBody for SlicedMget {
    fn plan(&mut self) -> Vec<ShardPlan> {
        // A retry (rejected scheduling hop) starts the reads over.
        self.next.iter_mut().for_each(|n| *n = 0);
        self.out.iter_mut().for_each(|f| *f = Frame::Null);
        lock_groups(&self.groups)
    }

    fn run(&mut self, _probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        self.slices()
    }

    fn more(&self) -> bool {
        self.groups
            .iter()
            .zip(&self.next)
            .any(|((_, keys), &n)| n < keys.len())
    }

    fn step(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        self.absorb(results);
        self.slices()
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        if let Some(e) = first_part_error(&results) {
            return e;
        }
        self.absorb(results);
        Frame::Array(std::mem::take(&mut self.out))
    }
}

fn first_part_error(results: &[(ShardId, Vec<TxOut>)]) -> Option<Frame> {
    results.iter().find_map(|(_, outs)| match outs.first() {
        Some(TxOut::Part(PartResult::Error(e))) => Some(Frame::Error(e.clone())),
        _ => None,
    })
}
