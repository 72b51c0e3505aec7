//! Set and sorted set commands whose keys live on several shards: `SINTER`, `SUNION`,
//! `SDIFF` (and `STORE`), `SINTERCARD`, `SMOVE`, `ZUNION`, `ZINTER`, `ZDIFF` (and `STORE`),
//! `ZINTERCARD`, `ZRANGESTORE` and `ZMPOP`.
//!
//! Each is a scheduled transaction (see `txn.rs`), so it is atomic and isolated like the
//! single-shard form:
//! 1. hop 1 locks every key involved (sources and destination) on its shard and, once the
//!    transaction heads those locks, gathers the sources: a copy of each value, or for
//!    `SMOVE`/`ZMPOP` only its type, length and membership;
//! 2. the coordinator computes the result (the same code as the single-shard commands, over
//!    the gathered values);
//! 3. hop 2 writes: the `STORE` destination, `SMOVE`'s removal and addition, `ZMPOP`'s pop,
//!    and releases the locks.
//!
//! The price is copying the source values to the IO thread, proportional to their size; keys
//! that share a hash tag (`{user}:a`, `{user}:b`) stay on one shard and run as a plain command.
use bytes::Bytes;
use partition_router::shard_for;
use resp_codec::{Frame, Protocol};

use crate::ShardId;
use crate::cmd_set::{self, SetOp};
use crate::cmd_zset::{self, RangeSpec, ZAlgebra, ZOp, Zmpop};
use crate::coll;
use crate::keyspace::{Clock, Db, Value};
use crate::route::{PartKind, PartResult, Route};
use crate::sched::{TxItem, TxOut};
use crate::set::Set;
use crate::shard::{Shard, err};
use crate::txn::{OP_DB, Scheduled, ShardPlan, TxBody};
use crate::zset::ZSet;

/// Members with their scores, in order.
type Elements = Vec<(Vec<u8>, f64)>;

/// Per shard: the keys it locks and the keys it gathers (with their index in the command).
type ShardKeys = Vec<(ShardId, Vec<Bytes>, Vec<(usize, Bytes)>)>;

fn slot_of(plan: &mut ShardKeys, s: ShardId) -> usize {
    match plan.iter().position(|p| p.0 == s) {
        Some(i) => i,
        None => {
            plan.push((s, Vec::new(), Vec::new()));
            plan.len() - 1
        }
    }
}

/// What a shard gathers for one key.
#[derive(Debug)]
pub(crate) enum Gathered {
    /// A copy of the value (`None`: no such key).
    Value(Option<Value>),
    /// The key's type name (`None`: no such key), length, and whether it holds the probed
    /// member.
    Probe {
        ty: Option<&'static str>,
        len: usize,
        has: bool,
    },
}

/// What a spread set or sorted set command computes.
#[derive(Debug)]
enum Job {
    Set {
        op: SetOp,
        store: Option<Bytes>,
        /// `SINTERCARD`'s limit (0 = none): reply with the count only.
        card: Option<usize>,
    },
    Z {
        alg: ZAlgebra,
        store: Option<Bytes>,
    },
    RangeStore {
        spec: RangeSpec,
        dst: Bytes,
    },
    Move {
        src: Bytes,
        dst: Bytes,
        member: Bytes,
    },
    Mpop(Zmpop),
}

/// Whether `name` is planned here.
pub(crate) fn is_multi(name: &str) -> bool {
    matches!(
        name,
        "sinter"
            | "sunion"
            | "sdiff"
            | "sinterstore"
            | "sunionstore"
            | "sdiffstore"
            | "sintercard"
            | "smove"
            | "zunion"
            | "zinter"
            | "zdiff"
            | "zunionstore"
            | "zinterstore"
            | "zdiffstore"
            | "zintercard"
            | "zrangestore"
            | "zmpop"
    )
}

/// Parses a spread command and routes it among `n` shards: to one shard when all its keys
/// live there, else as a scheduled transaction.
pub(crate) fn plan(name: &str, args: &[Bytes], n: usize) -> Result<Route, String> {
    Ok(match planned(name, args, n)? {
        Ok(shard) => Route::Shard(shard),
        Err(body) => Route::FanOut(Box::new(Scheduled::new(body))),
    })
}

/// The transaction body of a spread command whose keys span shards (`None`: one shard).
pub(crate) fn body(name: &str, args: &[Bytes], n: usize) -> Result<Option<SpreadCmd>, String> {
    Ok(planned(name, args, n)?.err())
}

/// Parses a spread command: `Ok(shard)` if all its keys live on one shard, else its body.
fn planned(name: &str, args: &[Bytes], n: usize) -> Result<Result<ShardId, SpreadCmd>, String> {
    let store_of = |name: &str| name.ends_with("store");
    // Source keys (gathered in this order), the destination if any, the job, the probe.
    let (keys, dst, job, probe): (Vec<Bytes>, Option<Bytes>, Job, Option<Bytes>) = match name {
        "sinter" | "sunion" | "sdiff" | "sinterstore" | "sunionstore" | "sdiffstore" => {
            let op = match &name[1..3] {
                "in" => SetOp::Inter,
                "un" => SetOp::Union,
                _ => SetOp::Diff,
            };
            let store = store_of(name).then(|| args[1].clone());
            let from = if store.is_some() { 2 } else { 1 };
            let job = Job::Set {
                op,
                store: store.clone(),
                card: None,
            };
            (args[from..].to_vec(), store, job, None)
        }
        "sintercard" => {
            let (keys, limit) = cmd_set::parse_intercard(args)?;
            let job = Job::Set {
                op: SetOp::Inter,
                store: None,
                card: Some(limit),
            };
            (keys.to_vec(), None, job, None)
        }
        "smove" => {
            let job = Job::Move {
                src: args[1].clone(),
                dst: args[2].clone(),
                member: args[3].clone(),
            };
            let keys = vec![args[1].clone(), args[2].clone()];
            (keys, None, job, Some(args[3].clone()))
        }
        "zunion" | "zinter" | "zdiff" | "zunionstore" | "zinterstore" | "zdiffstore" => {
            let op = match &name[1..3] {
                "un" => ZOp::Union,
                "in" => ZOp::Inter,
                _ => ZOp::Diff,
            };
            let store = store_of(name).then(|| args[1].clone());
            let from = if store.is_some() { 2 } else { 1 };
            let alg = cmd_zset::parse_algebra(&args[from..], op, name, store.is_some())?;
            let keys = alg.keys.clone();
            let job = Job::Z {
                alg,
                store: store.clone(),
            };
            (keys, store, job, None)
        }
        "zintercard" => {
            let alg = cmd_zset::parse_zintercard(&args[1..])?;
            let keys = alg.keys.clone();
            (keys, None, Job::Z { alg, store: None }, None)
        }
        "zrangestore" => {
            let spec = cmd_zset::parse_range(&args[3..], None, None, true)?;
            let job = Job::RangeStore {
                spec,
                dst: args[1].clone(),
            };
            (vec![args[2].clone()], Some(args[1].clone()), job, None)
        }
        "zmpop" => {
            let p = cmd_zset::parse_zmpop(&args[1..])?;
            let keys = p.keys.clone();
            (keys, None, Job::Mpop(p), Some(Bytes::new()))
        }
        // The blocking pops inside `MULTI` (see `txn.rs`), which never block there.
        "bzmpop" => {
            let p = cmd_zset::parse_zmpop(&args[2..])?;
            let keys = p.keys.clone();
            (keys, None, Job::Mpop(p), Some(Bytes::new()))
        }
        "bzpopmin" | "bzpopmax" => {
            let keys = args[1..args.len() - 1].to_vec();
            let p = Zmpop {
                keys: keys.clone(),
                max: name == "bzpopmax",
                count: 1,
            };
            (keys, None, Job::Mpop(p), Some(Bytes::new()))
        }
        _ => return Err(format!("ERR '{name}' is not a spread command")),
    };
    let mut shards: Vec<ShardId> = keys.iter().map(|k| shard_for(k, n)).collect();
    if let Some(d) = &dst {
        shards.push(shard_for(d, n));
    }
    if shards.iter().all(|&s| s == shards[0]) {
        return Ok(Ok(shards[0]));
    }
    // Per shard: its locked keys and the keys it gathers (by index).
    let mut plan: ShardKeys = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let at = slot_of(&mut plan, shard_for(k, n));
        plan[at].1.push(k.clone());
        plan[at].2.push((i, k.clone()));
    }
    if let Some(d) = &dst {
        let at = slot_of(&mut plan, shard_for(d, n));
        plan[at].1.push(d.clone());
    }
    let body = SpreadCmd {
        job,
        probe,
        plan,
        proto: Protocol::Resp2,
        outcome: None,
        popped_key: None,
        flat: matches!(name, "bzpopmin" | "bzpopmax"),
        n,
    };
    Ok(Err(body))
}

/// A spread set or sorted set command as a scheduled transaction.
#[derive(Debug)]
pub(crate) struct SpreadCmd {
    job: Job,
    probe: Option<Bytes>,
    plan: ShardKeys,
    proto: Protocol,
    /// The reply, once computed (`None` for `ZMPOP`, whose reply is the pop's result).
    outcome: Option<Frame>,
    /// The key `ZMPOP` pops from.
    popped_key: Option<Bytes>,
    /// `BZPOPMIN`/`BZPOPMAX`'s `[key, member, score]` instead of `[key, [[member, score]]]`.
    flat: bool,
    n: usize,
}

/// Gathers one key on its shard.
pub(crate) fn gather(d: &mut Db, key: &[u8], probe: Option<&Bytes>, clock: Clock) -> Gathered {
    let v = d.value(key, clock);
    match probe {
        None => Gathered::Value(v.map(|v| v.clone())),
        Some(member) => match v {
            None => Gathered::Probe {
                ty: None,
                len: 0,
                has: false,
            },
            Some(v) => {
                let (len, has) = match v {
                    Value::Set(s) => (s.len(), s.contains(member)),
                    Value::ZSet(z) => (z.len(), false),
                    _ => (1, false),
                };
                Gathered::Probe {
                    ty: Some(v.type_name()),
                    len,
                    has,
                }
            }
        },
    }
}

/// Adds (creating the set) or removes (deleting an emptied set) one member.
pub(crate) fn set_member(shard: &mut Shard, db: usize, key: &[u8], member: &[u8], add: bool) {
    let clock = shard.clock;
    let max = shard.limits.intset();
    let d = &mut shard.dbs[db];
    if add {
        let m = member.to_vec();
        let added = coll::update(
            d,
            key,
            clock,
            move || Value::Set(Box::new(Set::for_member(&m))),
            |s: &mut Set| s.add(member, max),
        );
        if added == Ok(true) {
            shard.notify(db, crate::notify::NotifyClass::SET, "sadd", key);
        }
    } else {
        let removed = coll::update_existing(d, key, clock, |s: &mut Set| s.remove(member));
        if removed == Ok(Some(true)) {
            coll::notify_changed(shard, db, crate::notify::NotifyClass::SET, "srem", key);
        }
    }
}

/// The elements of a sorted-set reply as a frame for `proto`.
fn elements_frame(elems: Elements, withscores: bool, proto: Protocol) -> Frame {
    let mut out = Vec::with_capacity(elems.len() * if withscores { 2 } else { 1 });
    for (m, s) in elems {
        let m = Frame::Bulk(Bytes::from(m));
        match (withscores, proto) {
            (false, _) => out.push(m),
            (true, Protocol::Resp3) => out.push(Frame::Array(vec![m, Frame::Double(s)])),
            (true, _) => {
                out.push(m);
                out.push(Frame::Double(s));
            }
        }
    }
    Frame::Array(out)
}

fn wrongtype() -> Frame {
    Frame::error(err::WRONGTYPE)
}

fn part(kind: PartKind) -> TxItem {
    TxItem::Part { db: OP_DB, kind }
}

impl SpreadCmd {
    /// Computes the reply and the writes from what the shards gathered (in key order).
    fn compute(&mut self, mut gathered: Vec<(usize, Gathered)>) -> Vec<(ShardId, TxItem)> {
        gathered.sort_by_key(|g| g.0);
        let n = self.n;
        let mut values: Vec<Option<Value>> = gathered
            .iter_mut()
            .map(|(_, g)| match g {
                Gathered::Value(v) => v.take(),
                Gathered::Probe { .. } => None,
            })
            .collect();
        let store_at = |key: &Bytes, value: Option<Value>, event: &'static str| {
            let kind = PartKind::PutColl {
                key: key.clone(),
                value,
                event,
            };
            vec![(shard_for(key, n), part(kind))]
        };
        match &self.job {
            Job::Set { op, store, card } => {
                let mut sets: Vec<Option<&Set>> = Vec::with_capacity(values.len());
                for v in &values {
                    match v {
                        None => sets.push(None),
                        Some(Value::Set(s)) => sets.push(Some(s)),
                        Some(_) => {
                            self.outcome = Some(wrongtype());
                            return Vec::new();
                        }
                    }
                }
                let members = op.compute(&sets, card.unwrap_or(0));
                if card.is_some() {
                    self.outcome = Some(Frame::Integer(members.len() as i64));
                    Vec::new()
                } else if let Some(dst) = store {
                    self.outcome = Some(Frame::Integer(members.len() as i64));
                    let value = members.first().map(|first| {
                        let mut set = Set::for_member(first);
                        // The shard's own threshold is unknown here; Redis's default applies.
                        let max = crate::EncodingLimits::default().set_max_intset_entries;
                        for m in &members {
                            set.add(m, max);
                        }
                        Value::Set(Box::new(set))
                    });
                    let event = match op {
                        SetOp::Inter => "sinterstore",
                        SetOp::Union => "sunionstore",
                        SetOp::Diff => "sdiffstore",
                    };
                    store_at(dst, value, event)
                } else {
                    self.outcome = Some(Frame::Set(
                        members
                            .into_iter()
                            .map(|m| Frame::Bulk(Bytes::from(m)))
                            .collect(),
                    ));
                    Vec::new()
                }
            }
            Job::Z { alg, store } => {
                let mut srcs = Vec::with_capacity(values.len());
                for v in &values {
                    match v {
                        None => srcs.push(None),
                        Some(v) => match cmd_zset::source_of(v) {
                            Ok(s) => srcs.push(Some(s)),
                            Err(_) => {
                                self.outcome = Some(wrongtype());
                                return Vec::new();
                            }
                        },
                    }
                }
                let elems = alg.compute(&srcs);
                if alg.card_limit.is_some() {
                    self.outcome = Some(Frame::Integer(elems.len() as i64));
                    Vec::new()
                } else if let Some(dst) = store {
                    self.outcome = Some(Frame::Integer(elems.len() as i64));
                    let event = match alg.op {
                        cmd_zset::ZOp::Union => "zunionstore",
                        cmd_zset::ZOp::Inter => "zinterstore",
                        cmd_zset::ZOp::Diff => "zdiffstore",
                    };
                    store_at(dst, zset_value(&elems), event)
                } else {
                    self.outcome = Some(elements_frame(elems, alg.withscores, self.proto));
                    Vec::new()
                }
            }
            Job::RangeStore { spec, dst } => {
                let elems = match values.first_mut().and_then(Option::take) {
                    Some(Value::ZSet(z)) => spec.select(&z),
                    Some(_) => {
                        self.outcome = Some(wrongtype());
                        return Vec::new();
                    }
                    None => Vec::new(),
                };
                self.outcome = Some(Frame::Integer(elems.len() as i64));
                store_at(dst, zset_value(&elems), "zrangestore")
            }
            Job::Move { src, dst, member } => {
                let probe = |i: usize| match gathered.get(i) {
                    Some((_, Gathered::Probe { ty, has, .. })) => (*ty, *has),
                    _ => (None, false),
                };
                let ((src_ty, has), (dst_ty, _)) = (probe(0), probe(1));
                let (outcome, moves) = match (src_ty, dst_ty) {
                    (None, _) => (Frame::Integer(0), false),
                    (Some(t), _) if t != "set" => (wrongtype(), false),
                    (_, Some(t)) if t != "set" => (wrongtype(), false),
                    _ => (Frame::Integer(has as i64), has),
                };
                self.outcome = Some(outcome);
                if !moves {
                    return Vec::new();
                }
                let item = |key: &Bytes, add| {
                    let kind = PartKind::SetMember {
                        key: key.clone(),
                        member: member.clone(),
                        add,
                    };
                    (shard_for(key, n), part(kind))
                };
                vec![item(src, false), item(dst, true)]
            }
            Job::Mpop(p) => {
                for (i, key) in p.keys.iter().enumerate() {
                    if let Some((
                        _,
                        Gathered::Probe {
                            ty: Some(t), len, ..
                        },
                    )) = gathered.get(i)
                    {
                        if *t != "zset" {
                            self.outcome = Some(wrongtype());
                            return Vec::new();
                        }
                        if *len > 0 {
                            self.popped_key = Some(key.clone());
                            let kind = PartKind::ZPop {
                                key: key.clone(),
                                max: p.max,
                                count: p.count,
                            };
                            return vec![(shard_for(key, n), part(kind))];
                        }
                    }
                }
                self.outcome = Some(Frame::NullArray);
                Vec::new()
            }
        }
    }
}

/// A computed sorted set in the encoding Redis gives stored results (Redis's default
/// thresholds: the shard's own are not known on the coordinating thread).
fn zset_value(elems: &Elements) -> Option<Value> {
    if elems.is_empty() {
        return None;
    }
    let d = crate::EncodingLimits::default();
    let limits = crate::zset::ZLimits {
        entries: d.zset_max_listpack_entries,
        value: d.zset_max_listpack_value,
    };
    let longest = elems.iter().map(|e| e.0.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(elems.len(), longest, limits);
    for (m, s) in elems {
        z.set(m, *s, limits);
    }
    Some(Value::ZSet(Box::new(z)))
}

impl TxBody for SpreadCmd {
    fn plan(&mut self) -> Vec<ShardPlan> {
        self.outcome = None;
        self.plan
            .iter()
            .map(|(shard, locks, keys)| ShardPlan {
                shard: *shard,
                locks: locks.iter().map(|k| (OP_DB, k.clone())).collect(),
                whole: false,
                probe: (!keys.is_empty()).then(|| {
                    part(PartKind::Gather {
                        keys: keys.clone(),
                        probe: self.probe.clone(),
                    })
                }),
            })
            .collect()
    }

    fn run(&mut self, probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        let mut gathered = Vec::new();
        for (_, p) in probes {
            match p {
                Some(PartResult::Gathered(g)) => gathered.extend(g),
                Some(PartResult::Error(e)) => {
                    self.outcome = Some(Frame::Error(e));
                    return Vec::new();
                }
                _ => {}
            }
        }
        let mut runs: Vec<(ShardId, Vec<TxItem>)> = Vec::new();
        for (s, item) in self.compute(gathered) {
            match runs.iter_mut().find(|r| r.0 == s) {
                Some(r) => r.1.push(item),
                None => runs.push((s, vec![item])),
            }
        }
        runs
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        let mut popped = None;
        for (_, outs) in results {
            for out in outs {
                match out {
                    TxOut::Part(PartResult::Error(e)) => return Frame::Error(e),
                    TxOut::Part(PartResult::ZPopped(p)) => popped = Some(p),
                    _ => {}
                }
            }
        }
        if let (Some(key), Some(popped)) = (self.popped_key.take(), popped) {
            if self.flat {
                let mut out = vec![Frame::Bulk(key)];
                if let Some((m, s)) = popped.into_iter().next() {
                    out.push(Frame::Bulk(Bytes::from(m)));
                    out.push(Frame::Double(s));
                }
                return Frame::Array(out);
            }
            let pairs = popped
                .into_iter()
                .map(|(m, s)| Frame::Array(vec![Frame::Bulk(Bytes::from(m)), Frame::Double(s)]))
                .collect();
            return Frame::Array(vec![Frame::Bulk(key), Frame::Array(pairs)]);
        }
        self.outcome.take().unwrap_or(Frame::Null)
    }

    fn set_protocol(&mut self, proto: Protocol) {
        self.proto = proto;
    }
}
