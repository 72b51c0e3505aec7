//! Coordinators: commands whose keys span shards, or that cover the whole keyspace.
//!
//! Every coordinator waits for all the parts it sent before it answers, so the IO layer never
//! receives a part reply for a finished command. Key commands spread over shards are scheduled
//! transactions (see `txn.rs`), and so are `DBSIZE`, `KEYS`, `RANDOMKEY`, `FLUSHDB`,
//! `FLUSHALL` and `SWAPDB` (whole-shard locks on every shard). `SCAN` ([`Scan`]) visits one
//! shard per step, which keeps Redis's guarantees (a key present for the whole walk is
//! returned) without locking; `DEBUG POPULATE` uses [`Multi`].
use bytes::Bytes;
use partition_router::shard_for;
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
            return Ok(Route::FanOut(atomic_or_bug(name, args, n)?));
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
            return Ok(Route::FanOut(atomic_or_bug(name, args, n)?));
        }
        "rename" | "renamenx" | "copy" | "lcs" => {
            let (src, dst) = (&args[1], &args[2]);
            let (s, d) = (shard_for(src, n), shard_for(dst, n));
            if s == d {
                return Ok(Route::Shard(s));
            }
            match name {
                "lcs" => match lcs_body(args, n)? {
                    Some(body) => Box::new(crate::txn::Scheduled::new(body)),
                    None => return Ok(Route::Shard(s)),
                },
                // `COPY`'s `DB n` upper bound is checked by the destination shard.
                _ => return Ok(Route::FanOut(atomic_or_bug(name, args, n)?)),
            }
        }
        "dbsize" => return Ok(Route::FanOut(atomic_or_bug(name, args, n)?)),
        "lmove" | "rpoplpush" | "lmpop" => {
            return crate::blocking::plan_list_spread(name, args, n);
        }
        "flushdb" | "flushall" => {
            cmd_keys::parse_flush(&args[1..]).map_err(err_bytes)?;
            return Ok(Route::FanOut(atomic_or_bug(name, args, n)?));
        }
        "keys" | "randomkey" => return Ok(Route::FanOut(atomic_or_bug(name, args, n)?)),
        "debug" => {
            let p = cmd_keys::parse_populate(args).map_err(err_bytes)?;
            Box::new(Multi::whole("debug", all(), move || {
                PartKind::Populate(p.clone())
            }))
        }
        "swapdb" => {
            cmd_keys::parse_swapdb(args).map_err(err_bytes)?;
            return Ok(Route::FanOut(atomic_or_bug(name, args, n)?));
        }
        "scan" => {
            let scan = cmd_keys::parse_scan(&args[1..]).map_err(err_bytes)?;
            Box::new(Scan::new(scan, n))
        }
        name if crate::multi::is_multi(name) => {
            return crate::multi::plan(name, args, n).map_err(err_bytes);
        }
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
    /// `MEMORY`: local except `MEMORY USAGE key`, which runs on the key's shard.
    Memory,
    /// Runs on the shard of its keys (which must share one).
    Keyed,
    /// May span shards or covers the whole keyspace: see [`plan`].
    Spread,
    /// A blocking pop: always a coordinator (see `blocking.rs`).
    Blocking,
}

/// The [`RouteKind`] of the command at `index` in [`crate::command_table`].
pub(crate) fn route_kind(index: usize) -> RouteKind {
    static KINDS: std::sync::LazyLock<Vec<RouteKind>> = std::sync::LazyLock::new(|| {
        crate::command_table()
            .iter()
            .map(|spec| match spec.name {
                "debug" => RouteKind::Debug,
                "memory" => RouteKind::Memory,
                "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin"
                | "bzpopmax" | "bzmpop" => RouteKind::Blocking,
                "mget" | "del" | "unlink" | "exists" | "touch" | "mset" | "msetnx" | "rename"
                | "renamenx" | "copy" | "lcs" | "dbsize" | "flushdb" | "flushall" | "keys"
                | "scan" | "randomkey" | "swapdb" | "lmove" | "rpoplpush" | "lmpop" => {
                    RouteKind::Spread
                }
                name if crate::multi::is_multi(name) => RouteKind::Spread,
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
    pending: usize,
    merge: Merge,
    error: Option<Bytes>,
}

impl Multi {
    fn whole(name: &str, shards: Vec<ShardId>, kind: impl Fn() -> PartKind) -> Multi {
        let merge = match name {
            "dbsize" => Merge::Sum(0),
            "keys" => Merge::Concat(Vec::new()),
            _ => Merge::AllOk,
        };
        let parts = shards.into_iter().map(|s| (s, Part(kind()))).collect();
        Multi {
            parts,
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

    fn on_reply(&mut self, _shard: ShardId, reply: PartReply) -> Step {
        self.pending = self.pending.saturating_sub(1);
        match (reply.0, &mut self.merge) {
            (PartResult::Error(e), _) => {
                self.error.get_or_insert(e);
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
            Merge::Sum(n) => Frame::Integer(n),
            Merge::Concat(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
            Merge::AllOk => Frame::simple("OK"),
        })
    }
}

/// `LCS` of two keys on different shards, as a scheduled transaction: both values are read
/// under the locks (a consistent pair), the result is computed here, nothing is written.
#[derive(Debug)]
pub(crate) struct Lcs {
    keys: [Bytes; 2],
    shards: [ShardId; 2],
    opts: LcsOpts,
    outcome: Option<Frame>,
}

/// The body of `LCS key1 key2 ...` with its keys on different shards (`None`: one shard).
pub(crate) fn lcs_body(args: &[Bytes], n: usize) -> Result<Option<Lcs>, Bytes> {
    let (src, dst) = (&args[1], &args[2]);
    let (s, d) = (shard_for(src, n), shard_for(dst, n));
    if s == d {
        return Ok(None);
    }
    let opts = cmd_string::parse_lcs_opts(&args[3..]).map_err(err_bytes)?;
    Ok(Some(Lcs {
        keys: [src.clone(), dst.clone()],
        shards: [s, d],
        opts,
        outcome: None,
    }))
}

impl crate::txn::TxBody for Lcs {
    fn plan(&mut self) -> Vec<crate::txn::ShardPlan> {
        (0..2)
            .map(|i| crate::txn::ShardPlan {
                shard: self.shards[i],
                locks: vec![(crate::txn::OP_DB, self.keys[i].clone())],
                whole: false,
                probe: Some(crate::sched::TxItem::Part {
                    db: crate::txn::OP_DB,
                    kind: PartKind::Read(self.keys[i].clone()),
                }),
            })
            .collect()
    }

    fn run(
        &mut self,
        probes: Vec<(ShardId, Option<PartResult>)>,
    ) -> Vec<(ShardId, Vec<crate::sched::TxItem>)> {
        let mut got: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut error = None;
        for (shard, probe) in probes {
            let i = usize::from(shard != self.shards[0]);
            match probe {
                Some(PartResult::Moved(Some((Value::Str(s), _)))) => got[i] = s.to_vec(),
                Some(PartResult::Moved(Some(_))) => {
                    error.get_or_insert(Bytes::from_static(cmd_string::LCS_WRONGTYPE.as_bytes()));
                }
                Some(PartResult::Error(e)) => {
                    error.get_or_insert(e);
                }
                _ => {}
            }
        }
        self.outcome = Some(match error {
            Some(e) => Frame::Error(e),
            None => cmd_string::lcs_reply(&got[0], &got[1], self.opts),
        });
        Vec::new()
    }

    fn finish(&mut self, _results: Vec<(ShardId, Vec<crate::sched::TxOut>)>) -> Frame {
        self.outcome
            .take()
            .unwrap_or_else(|| Frame::error("ERR internal error"))
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

/// Keys grouped by shard: per shard its keys, and per group the keys' indexes in the input.
pub(crate) type KeyGroups = (Vec<(ShardId, Vec<Bytes>)>, Vec<Vec<usize>>);

/// Groups `keys` by shard.
pub(crate) fn group_keys(keys: &[Bytes], n: usize) -> KeyGroups {
    let mut groups: Vec<(ShardId, Vec<usize>)> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let shard = shard_for(key, n);
        match groups.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, idx)) => idx.push(i),
            None => groups.push((shard, vec![i])),
        }
    }
    let steps = groups
        .iter()
        .map(|(shard, idx)| (*shard, idx.iter().map(|&i| keys[i].clone()).collect()))
        .collect();
    (steps, groups.into_iter().map(|(_, idx)| idx).collect())
}

/// Groups key/value pairs by the shard of each key, flattened per shard.
pub(crate) fn group_pairs(pairs: &[Bytes], n: usize) -> Vec<(ShardId, Vec<Bytes>)> {
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
    groups
}

/// The scheduled coordinator of a spread key command (see `txn.rs`).
fn atomic_or_bug(name: &str, args: &[Bytes], n: usize) -> Result<Box<dyn Coordinator>, Bytes> {
    crate::txn::key_command(name, args, n)?
        .ok_or_else(|| err_bytes(format!("ERR '{name}' cannot be applied atomically")))
}
