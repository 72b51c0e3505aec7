//! Coordinators: commands whose keys span shards, or that cover the whole keyspace.
//!
//! Every coordinator waits for all the parts it sent before it answers, so the IO layer never
//! receives a part reply for a finished command.
use bytes::Bytes;
use partition_router::shard_for;
use rand::Rng;
use resp_codec::Frame;

use crate::ShardId;
use crate::cmd_keys::{self, ScanArgs};
use crate::cmd_string::{self, LcsOpts};
use crate::command::CommandSpec;
use crate::keyspace::Value;
use crate::route::{Coordinator, Part, PartKind, PartReply, PartResult, Route, Step};

fn err_bytes(msg: impl Into<String>) -> Bytes {
    Bytes::from(msg.into())
}

/// Decides the route of a keyspace command among `n > 1` shards.
pub(crate) fn plan(
    name: &str,
    spec: &'static CommandSpec,
    args: &[Bytes],
    n: usize,
) -> Result<Route, Bytes> {
    let all = || (0..n).collect::<Vec<ShardId>>();
    let coordinator: Box<dyn Coordinator> = match name {
        "mget" | "del" | "unlink" | "exists" | "touch" => {
            let keys = &args[1..];
            if let Some(shard) = single_shard(keys.iter(), n) {
                return Ok(Route::Shard(shard));
            }
            Box::new(Multi::new(name, keys, n))
        }
        "mset" | "msetnx" => {
            if args.len().is_multiple_of(2) {
                return Err(err_bytes(format!(
                    "ERR wrong number of arguments for '{name}' command"
                )));
            }
            if let Some(shard) = single_shard(args[1..].iter().step_by(2), n) {
                return Ok(Route::Shard(shard));
            }
            Box::new(Mset::new(name == "msetnx", &args[1..], n))
        }
        "rename" | "renamenx" | "copy" | "lcs" => {
            let (src, dst) = (&args[1], &args[2]);
            let (s, d) = (shard_for(src, n), shard_for(dst, n));
            if s == d {
                return Ok(Route::Shard(s));
            }
            match name {
                "lcs" => {
                    let opts = cmd_string::parse_lcs_opts(&args[3..]).map_err(err_bytes)?;
                    Box::new(Lcs {
                        keys: [src.clone(), dst.clone()],
                        shards: [s, d],
                        opts,
                        got: [None, None],
                        pending: 0,
                        error: None,
                    })
                }
                _ => {
                    // `COPY` needs the database count to check `DB n`; the shard checks the
                    // upper bound, so any non-negative index is accepted here.
                    let opts = if name == "copy" {
                        cmd_keys::parse_copy(&args[3..], usize::MAX).map_err(err_bytes)?
                    } else {
                        cmd_keys::CopyOpts {
                            db: None,
                            replace: true,
                        }
                    };
                    Box::new(Move::new(name, src.clone(), dst.clone(), s, d, opts))
                }
            }
        }
        "dbsize" => Box::new(Multi::whole("dbsize", all(), || PartKind::Dbsize)),
        "flushdb" | "flushall" => {
            cmd_keys::parse_flush(&args[1..]).map_err(err_bytes)?;
            if name == "flushdb" {
                Box::new(Multi::whole("flushdb", all(), || PartKind::FlushDb))
            } else {
                Box::new(Multi::whole("flushall", all(), || PartKind::FlushAll))
            }
        }
        "keys" => {
            let pattern = args[1].clone();
            Box::new(Multi::whole("keys", all(), move || {
                PartKind::Keys(pattern.clone())
            }))
        }
        "debug" => {
            let p = cmd_keys::parse_populate(args).map_err(err_bytes)?;
            Box::new(Multi::whole("debug", all(), move || {
                PartKind::Populate(p.clone())
            }))
        }
        "swapdb" => {
            let (a, b) = cmd_keys::parse_swapdb(args).map_err(err_bytes)?;
            Box::new(Multi::whole("swapdb", all(), move || {
                PartKind::SwapDb(a, b)
            }))
        }
        "scan" => {
            let scan = cmd_keys::parse_scan(&args[1..]).map_err(err_bytes)?;
            Box::new(Scan::new(scan, n))
        }
        "randomkey" => Box::new(RandomKey {
            shards: n,
            pending: 0,
            found: Vec::new(),
        }),
        _ => {
            // Single-key commands: every key position names the same shard.
            let mut keys = spec.key_positions(args.len()).filter_map(|i| args.get(i));
            let shard = single_shard(&mut keys, n).unwrap_or(0);
            return Ok(Route::Shard(shard));
        }
    };
    Ok(Route::FanOut(coordinator))
}

/// How [`crate::route`] treats a top-level command, decided once per table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// Answered by the IO layer.
    Local,
    /// `DEBUG`: local except `DEBUG POPULATE`.
    Debug,
    /// Runs on the shard of its keys (which must share one).
    Keyed,
    /// May span shards or covers the whole keyspace: see [`plan`].
    Spread,
}

/// The [`RouteKind`] of the command at `index` in [`crate::command_table`].
pub(crate) fn route_kind(index: usize) -> RouteKind {
    static KINDS: std::sync::LazyLock<Vec<RouteKind>> = std::sync::LazyLock::new(|| {
        crate::command_table()
            .iter()
            .map(|spec| match spec.name {
                "debug" => RouteKind::Debug,
                "mget" | "del" | "unlink" | "exists" | "touch" | "mset" | "msetnx" | "rename"
                | "renamenx" | "copy" | "lcs" | "dbsize" | "flushdb" | "flushall" | "keys"
                | "scan" | "randomkey" | "swapdb" => RouteKind::Spread,
                name if crate::shard::is_shard_command(name) => RouteKind::Keyed,
                _ => RouteKind::Local,
            })
            .collect()
    });
    KINDS.get(index).copied().unwrap_or(RouteKind::Local)
}

/// The shard of all `keys`, if they share one (or there are none: shard 0).
pub(crate) fn single_shard<'a>(
    mut keys: impl Iterator<Item = &'a Bytes>,
    n: usize,
) -> Option<ShardId> {
    let Some(first) = keys.next() else {
        return Some(0);
    };
    let shard = shard_for(first, n);
    keys.all(|k| shard_for(k, n) == shard).then_some(shard)
}

/// The SCAN cursor layout: the slot cursor shifted left by this many bits, or'ed with the
/// shard index.
pub(crate) fn shard_bits(n: usize) -> u32 {
    usize::BITS - (n.max(1) - 1).leading_zeros()
}

/// What a [`Multi`] does with its parts' results.
#[derive(Debug)]
enum Merge {
    /// `MGET`: values placed back at their original positions.
    Gather(Vec<Option<Bytes>>),
    /// `DEL`, `UNLINK`, `EXISTS`, `TOUCH`, `DBSIZE`: sum of counts.
    Sum(i64),
    /// `KEYS`: concatenation.
    Concat(Vec<Bytes>),
    /// `FLUSHDB`, `FLUSHALL`, `DEBUG POPULATE`: `OK` when all succeeded.
    AllOk,
}

/// A single-round fan-out: one part per shard, merged when all have answered.
#[derive(Debug)]
struct Multi {
    parts: Vec<(ShardId, Part)>,
    /// For `Gather`: original key positions per shard, in the order sent.
    positions: Vec<(ShardId, Vec<usize>)>,
    pending: usize,
    merge: Merge,
    error: Option<Bytes>,
}

impl Multi {
    fn new(name: &str, keys: &[Bytes], n: usize) -> Multi {
        let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let shard = shard_for(key, n);
            match groups.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((shard, vec![i])),
            }
        }
        let parts = groups
            .iter()
            .map(|(shard, idx)| {
                let ks: Vec<Bytes> = idx.iter().map(|&i| keys[i].clone()).collect();
                let kind = match name {
                    "mget" => PartKind::Mget(ks),
                    "exists" => PartKind::Exists(ks),
                    "touch" => PartKind::Touch(ks),
                    _ => PartKind::Del(ks),
                };
                (*shard, Part(kind))
            })
            .collect();
        let merge = if name == "mget" {
            Merge::Gather(vec![None; keys.len()])
        } else {
            Merge::Sum(0)
        };
        Multi {
            parts,
            positions: groups,
            pending: 0,
            merge,
            error: None,
        }
    }

    fn whole(name: &str, shards: Vec<ShardId>, kind: impl Fn() -> PartKind) -> Multi {
        let merge = match name {
            "dbsize" => Merge::Sum(0),
            "keys" => Merge::Concat(Vec::new()),
            _ => Merge::AllOk,
        };
        let parts = shards.into_iter().map(|s| (s, Part(kind()))).collect();
        Multi {
            parts,
            positions: Vec::new(),
            pending: 0,
            merge,
            error: None,
        }
    }
}

impl Coordinator for Multi {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.pending = self.parts.len();
        std::mem::take(&mut self.parts)
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        match (reply.0, &mut self.merge) {
            (PartResult::Error(e), _) => {
                self.error.get_or_insert(e);
            }
            (PartResult::Values(values), Merge::Gather(out)) => {
                if let Some(pos) = self.positions.iter().position(|(s, _)| *s == shard) {
                    let (_, idx) = self.positions.swap_remove(pos);
                    for (i, v) in idx.into_iter().zip(values) {
                        if let Some(slot) = out.get_mut(i) {
                            *slot = v;
                        }
                    }
                }
            }
            (PartResult::Count(c), Merge::Sum(sum)) => *sum += c,
            (PartResult::Keys(keys), Merge::Concat(all)) => all.extend(keys),
            _ => {}
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        if let Some(e) = self.error.take() {
            return Step::Done(Frame::Error(e));
        }
        Step::Done(match std::mem::replace(&mut self.merge, Merge::AllOk) {
            Merge::Gather(values) => Frame::Array(
                values
                    .into_iter()
                    .map(|v| v.map_or(Frame::Null, Frame::Bulk))
                    .collect(),
            ),
            Merge::Sum(n) => Frame::Integer(n),
            Merge::Concat(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
            Merge::AllOk => Frame::simple("OK"),
        })
    }
}

/// `MSET` (one round) and `MSETNX` (check every shard, then set if no key exists).
///
/// `MSETNX` is not atomic across shards yet: another client may create a key between the two
/// rounds. Both rounds name all their keys, so a transaction scheduler can later lock them.
#[derive(Debug)]
struct Mset {
    nx: bool,
    /// Flattened pairs per shard.
    groups: Vec<(ShardId, Vec<Bytes>)>,
    pending: usize,
    existing: i64,
    setting: bool,
    error: Option<Bytes>,
}

impl Mset {
    fn new(nx: bool, pairs: &[Bytes], n: usize) -> Mset {
        let mut groups: Vec<(ShardId, Vec<Bytes>)> = Vec::new();
        for pair in pairs.chunks_exact(2) {
            let shard = shard_for(&pair[0], n);
            let i = match groups.iter().position(|(s, _)| *s == shard) {
                Some(i) => i,
                None => {
                    groups.push((shard, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[i].1.extend_from_slice(pair);
        }
        Mset {
            nx,
            groups,
            pending: 0,
            existing: 0,
            setting: false,
            error: None,
        }
    }

    fn set_round(&mut self) -> Vec<(ShardId, Part)> {
        self.setting = true;
        self.pending = self.groups.len();
        std::mem::take(&mut self.groups)
            .into_iter()
            .map(|(s, kv)| (s, Part(PartKind::Mset(kv))))
            .collect()
    }
}

impl Coordinator for Mset {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        if !self.nx {
            return self.set_round();
        }
        self.pending = self.groups.len();
        self.groups
            .iter()
            .map(|(s, kv)| {
                let keys = kv.iter().step_by(2).cloned().collect();
                (*s, Part(PartKind::CountExisting(keys)))
            })
            .collect()
    }

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        match reply.0 {
            PartResult::Count(c) => self.existing += c,
            PartResult::Error(e) => {
                self.error.get_or_insert(e);
            }
            _ => {}
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        if let Some(e) = self.error.take() {
            return Step::Done(Frame::Error(e));
        }
        match (self.nx, self.setting) {
            (false, _) => Step::Done(Frame::simple("OK")),
            (true, true) => Step::Done(Frame::Integer(1)),
            (true, false) if self.existing > 0 => Step::Done(Frame::Integer(0)),
            (true, false) => Step::Send(self.set_round()),
        }
    }

    fn is_barrier(&self) -> bool {
        self.nx
    }
}

/// `RENAME`, `RENAMENX` and `COPY` between shards: read (or take) the source, then write the
/// destination.
#[derive(Debug)]
struct Move {
    kind: MoveKind,
    src: Bytes,
    dst: Bytes,
    src_shard: ShardId,
    dst_shard: ShardId,
    opts: cmd_keys::CopyOpts,
    pending: usize,
    round: u8,
    value: Option<(Value, Option<i64>)>,
    dst_exists: bool,
    reply: Option<Frame>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum MoveKind {
    Rename,
    RenameNx,
    Copy,
}

impl Move {
    fn new(
        name: &str,
        src: Bytes,
        dst: Bytes,
        src_shard: ShardId,
        dst_shard: ShardId,
        opts: cmd_keys::CopyOpts,
    ) -> Move {
        let kind = match name {
            "rename" => MoveKind::Rename,
            "renamenx" => MoveKind::RenameNx,
            _ => MoveKind::Copy,
        };
        Move {
            kind,
            src,
            dst,
            src_shard,
            dst_shard,
            opts,
            pending: 0,
            round: 0,
            value: None,
            dst_exists: false,
            reply: None,
        }
    }
}

impl Coordinator for Move {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.round = 1;
        match self.kind {
            // RENAME takes the source at once: the destination is overwritten regardless.
            MoveKind::Rename => {
                self.pending = 1;
                vec![(self.src_shard, Part(PartKind::Take(self.src.clone())))]
            }
            // RENAMENX must not remove the source when the destination exists, so it reads
            // both first.
            MoveKind::RenameNx => {
                self.pending = 2;
                vec![
                    (self.src_shard, Part(PartKind::Read(self.src.clone()))),
                    (
                        self.dst_shard,
                        Part(PartKind::Exists(vec![self.dst.clone()])),
                    ),
                ]
            }
            MoveKind::Copy => {
                self.pending = 1;
                vec![(self.src_shard, Part(PartKind::Read(self.src.clone())))]
            }
        }
    }

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        match reply.0 {
            PartResult::Moved(v) => self.value = v,
            PartResult::Count(c) if self.round == 1 => self.dst_exists = c > 0,
            PartResult::Count(c) if self.reply.is_none() => {
                self.reply = Some(match self.kind {
                    MoveKind::Rename => Frame::simple("OK"),
                    _ => Frame::Integer(c),
                });
            }
            PartResult::Error(e) => self.reply = Some(Frame::Error(e)),
            _ => {}
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        if self.round >= 2 || self.reply.is_some() {
            return Step::Done(self.reply.take().unwrap_or(Frame::simple("OK")));
        }
        let Some((value, expire_at)) = self.value.take() else {
            return Step::Done(match self.kind {
                MoveKind::Copy => Frame::Integer(0),
                _ => Frame::error("ERR no such key"),
            });
        };
        if self.kind == MoveKind::RenameNx && self.dst_exists {
            return Step::Done(Frame::Integer(0));
        }
        self.round = 2;
        let put = Part(PartKind::Put {
            key: self.dst.clone(),
            db: self.opts.db,
            value,
            expire_at,
            replace: self.opts.replace || self.kind != MoveKind::Copy,
        });
        let mut parts = vec![(self.dst_shard, put)];
        if self.kind == MoveKind::RenameNx {
            parts.push((self.src_shard, Part(PartKind::Del(vec![self.src.clone()]))));
        }
        self.pending = parts.len();
        Step::Send(parts)
    }

    fn is_barrier(&self) -> bool {
        true
    }
}

/// `LCS` of two keys on different shards: read both, compute here.
#[derive(Debug)]
struct Lcs {
    keys: [Bytes; 2],
    shards: [ShardId; 2],
    opts: LcsOpts,
    got: [Option<Vec<u8>>; 2],
    pending: usize,
    error: Option<Bytes>,
}

impl Coordinator for Lcs {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.pending = 2;
        (0..2)
            .map(|i| (self.shards[i], Part(PartKind::Read(self.keys[i].clone()))))
            .collect()
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        let i = if shard == self.shards[0] && self.got[0].is_none() {
            0
        } else {
            1
        };
        match reply.0 {
            PartResult::Moved(None) => self.got[i] = Some(Vec::new()),
            PartResult::Moved(Some((Value::Str(s), _))) => self.got[i] = Some(s.to_vec()),
            PartResult::Error(e) => {
                self.error.get_or_insert(e);
            }
            _ => {}
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        if let Some(e) = self.error.take() {
            return Step::Done(Frame::Error(e));
        }
        let a = self.got[0].take().unwrap_or_default();
        let b = self.got[1].take().unwrap_or_default();
        Step::Done(cmd_string::lcs_reply(&a, &b, self.opts))
    }
}

/// `SCAN` across shards: the cursor is `(slot cursor << shard_bits) | shard`; shards are walked
/// in order, and the walk moves on to the next shard in the same call when a shard finishes
/// before `COUNT` keys were found.
#[derive(Debug)]
struct Scan {
    scan: ScanArgs,
    shards: usize,
    shard: ShardId,
    keys: Vec<Bytes>,
}

impl Scan {
    fn new(scan: ScanArgs, shards: usize) -> Scan {
        let bits = shard_bits(shards);
        let shard = (scan.cursor & ((1u64 << bits) - 1)) as usize;
        let slot = scan.cursor >> bits;
        Scan {
            scan: ScanArgs {
                cursor: slot,
                ..scan
            },
            shards,
            shard,
            keys: Vec::new(),
        }
    }

    fn done(&mut self, cursor: u64) -> Step {
        let keys = std::mem::take(&mut self.keys);
        Step::Done(Frame::Array(vec![
            Frame::Bulk(Bytes::from(cursor.to_string())),
            Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
        ]))
    }
}

impl Coordinator for Scan {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        if self.shard >= self.shards {
            // A cursor naming a shard that does not exist: the walk is over.
            self.shard = self.shards;
            return vec![(0, Part(PartKind::Dbsize))];
        }
        vec![(self.shard, Part(PartKind::Scan(self.scan.clone())))]
    }

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        let next = match reply.0 {
            PartResult::ScanPage(next, keys) => {
                self.keys.extend(keys);
                next
            }
            PartResult::Error(e) => return Step::Done(Frame::Error(e)),
            _ => return self.done(0),
        };
        if next != 0 {
            return self.done((next << shard_bits(self.shards)) | self.shard as u64);
        }
        self.shard += 1;
        if self.shard >= self.shards {
            return self.done(0);
        }
        if self.keys.len() >= self.scan.count {
            // Resume at slot 0 of the next shard, whose cursor is just its index.
            return self.done(self.shard as u64);
        }
        self.scan.cursor = 0;
        Step::Send(vec![(self.shard, Part(PartKind::Scan(self.scan.clone())))])
    }

    fn is_barrier(&self) -> bool {
        true
    }
}

/// `RANDOMKEY`: ask every shard, pick one answer weighted by the shards' key counts.
#[derive(Debug)]
struct RandomKey {
    shards: usize,
    pending: usize,
    found: Vec<(Bytes, usize)>,
}

impl Coordinator for RandomKey {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.pending = self.shards;
        (0..self.shards)
            .map(|s| (s, Part(PartKind::RandomKey)))
            .collect()
    }

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        if let PartResult::RandomKey(Some(key), count) = reply.0 {
            self.found.push((key, count.max(1)));
        }
        if self.pending > 0 {
            return Step::Wait;
        }
        let total: usize = self.found.iter().map(|(_, c)| c).sum();
        if total == 0 {
            return Step::Done(Frame::Null);
        }
        let mut pick = rand::thread_rng().gen_range(0..total);
        for (key, count) in std::mem::take(&mut self.found) {
            if pick < count {
                return Step::Done(Frame::Bulk(key));
            }
            pick -= count;
        }
        Step::Done(Frame::Null)
    }
}
