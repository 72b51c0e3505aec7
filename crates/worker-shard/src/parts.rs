//! Execution of [`Part`]s on a shard.
use bytes::Bytes;

use crate::atomic::{Arrival, AtomicOp, AtomicStep};
use crate::cmd_keys;
use crate::keyspace::Clock;
use crate::keyspace::{Str, Value};
use crate::route::{Part, PartKind, PartReply, PartResult};
use crate::shard::Shard;

pub(crate) fn execute(shard: &mut Shard, db: usize, part: Part) -> PartReply {
    let clock = shard.clock;
    let result = match part.0 {
        PartKind::Mget(keys) => {
            let d = &mut shard.dbs[db];
            let values: Vec<Option<Bytes>> = keys
                .iter()
                .map(|k| {
                    d.value(k, clock)
                        .map(|Value::Str(s)| s.with_bytes(Bytes::copy_from_slice))
                })
                .collect();
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            shard.hits += hits;
            shard.misses += values.len() as u64 - hits;
            PartResult::Values(values)
        }
        PartKind::Del(keys) => {
            let d = &mut shard.dbs[db];
            PartResult::Count(keys.iter().filter(|k| d.remove(k, clock).is_some()).count() as i64)
        }
        PartKind::Exists(keys) => {
            let d = &mut shard.dbs[db];
            PartResult::Count(keys.iter().filter(|k| d.peek(k, clock).is_some()).count() as i64)
        }
        PartKind::Touch(keys) => {
            let d = &mut shard.dbs[db];
            PartResult::Count(
                keys.iter()
                    .filter(|k| d.entry_mut(k, clock).is_some())
                    .count() as i64,
            )
        }
        PartKind::Mset(pairs) => {
            let d = &mut shard.dbs[db];
            for pair in pairs.chunks_exact(2) {
                d.insert(&pair[0], Value::Str(Str::from_bytes(&pair[1])), None, clock);
            }
            PartResult::Ok
        }
        PartKind::Dbsize => PartResult::Count(shard.dbs[db].len() as i64),
        PartKind::FlushDb => {
            shard.dbs[db].clear();
            PartResult::Ok
        }
        PartKind::FlushAll => {
            shard.dbs.iter_mut().for_each(|d| d.clear());
            PartResult::Ok
        }
        PartKind::Keys(pattern) => PartResult::Keys(cmd_keys::matching_keys(shard, db, &pattern)),
        PartKind::Scan(scan) => {
            let (next, keys) = cmd_keys::scan_step(shard, db, &scan);
            PartResult::ScanPage(next, keys)
        }
        PartKind::RandomKey => {
            let key = shard.dbs[db].random_key(&mut shard.rng, clock);
            PartResult::RandomKey(key.map(Bytes::from), shard.dbs[db].len())
        }
        PartKind::Read(key) => {
            let e = shard.dbs[db].peek(&key, clock);
            PartResult::Moved(e.map(|e| (e.value.clone(), e.expire_at())))
        }
        PartKind::SwapDb(a, b) => match cmd_keys::swap_dbs(shard, a, b) {
            Ok(()) => PartResult::Ok,
            Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
        },
        PartKind::Atomic { .. } => {
            // Atomic parts are executed through `execute_atomic` once the worker has waited
            // for the other shards; reaching here is a wiring bug.
            PartResult::Error(Bytes::from_static(b"ERR atomic part executed out of band"))
        }
        PartKind::Populate(p) => {
            cmd_keys::populate(shard, db, &p);
            PartResult::Ok
        }
    };
    PartReply(result)
}

/// Executes one shard's step of an atomic command once the first phase has settled.
pub(crate) fn execute_atomic(
    shard: &mut Shard,
    db: usize,
    op: &AtomicOp,
    step: AtomicStep,
    arrival: Arrival,
) -> PartReply {
    if arrival == Arrival::Aborted {
        return PartReply(PartResult::Aborted);
    }
    let plain = |shard: &mut Shard, kind| execute(shard, db, Part(kind));
    let clock = shard.clock;
    let no_such_key = || PartResult::Error(Bytes::from_static(b"ERR no such key"));
    let result = match step {
        AtomicStep::Mget(keys) => return plain(shard, PartKind::Mget(keys)),
        AtomicStep::Mset(kv) => return plain(shard, PartKind::Mset(kv)),
        AtomicStep::Del(keys) => return plain(shard, PartKind::Del(keys)),
        AtomicStep::Exists(keys) => return plain(shard, PartKind::Exists(keys)),
        AtomicStep::Touch(keys) => return plain(shard, PartKind::Touch(keys)),
        AtomicStep::Dbsize => return plain(shard, PartKind::Dbsize),
        AtomicStep::MsetNx(kv) => {
            let d = &mut shard.dbs[db];
            if kv.iter().step_by(2).any(|k| d.contains(k, clock)) {
                op.with_scratch(|s| s.veto = true);
            }
            op.barrier();
            if op.with_scratch(|s| s.veto) {
                PartResult::Count(0)
            } else {
                return plain(shard, PartKind::Mset(kv)).map_ok(PartResult::Count(1));
            }
        }
        AtomicStep::RenameSrc { key, nx } => {
            let d = &mut shard.dbs[db];
            if nx {
                let exists = d.contains(&key, clock);
                op.with_scratch(|s| s.src_exists = exists);
                op.barrier();
                let (src, dst) = op.with_scratch(|s| (s.src_exists, s.dst_exists));
                if !src {
                    no_such_key()
                } else if dst {
                    PartResult::Count(0)
                } else {
                    let taken = d.remove(&key, clock).map(|e| {
                        let at = e.expire_at();
                        (e.value, at)
                    });
                    op.with_scratch(|s| s.moved = taken);
                    op.barrier();
                    PartResult::Count(1)
                }
            } else {
                let taken = d.remove(&key, clock).map(|e| {
                    let at = e.expire_at();
                    (e.value, at)
                });
                let found = taken.is_some();
                op.with_scratch(|s| s.moved = taken);
                op.barrier();
                if found { PartResult::Ok } else { no_such_key() }
            }
        }
        AtomicStep::RenameDst { key, nx } => {
            let d = &mut shard.dbs[db];
            if nx {
                let exists = d.contains(&key, clock);
                op.with_scratch(|s| s.dst_exists = exists);
                op.barrier();
                let (src, dst) = op.with_scratch(|s| (s.src_exists, s.dst_exists));
                if !src {
                    no_such_key()
                } else if dst {
                    PartResult::Count(0)
                } else {
                    op.barrier();
                    if let Some((value, at)) = op.with_scratch(|s| s.moved.take()) {
                        put(d, &key, value, at, clock);
                    }
                    PartResult::Count(1)
                }
            } else {
                op.barrier();
                match op.with_scratch(|s| s.moved.take()) {
                    Some((value, at)) => {
                        put(d, &key, value, at, clock);
                        PartResult::Ok
                    }
                    None => no_such_key(),
                }
            }
        }
        AtomicStep::CopySrc { key } => {
            let copy = shard.dbs[db]
                .peek(&key, clock)
                .map(|e| (e.value.clone(), e.expire_at()));
            op.with_scratch(|s| s.moved = copy);
            op.barrier();
            PartResult::Ok
        }
        AtomicStep::CopyDst {
            key,
            db: target,
            replace,
        } => {
            op.barrier();
            let moved = op.with_scratch(|s| s.moved.take());
            match (moved, shard.dbs.get_mut(target.unwrap_or(db))) {
                (_, None) => PartResult::Error(Bytes::from_static(b"ERR DB index is out of range")),
                (None, _) => PartResult::Count(0),
                (Some((value, at)), Some(d)) => {
                    if !replace && d.contains(&key, clock) {
                        PartResult::Count(0)
                    } else {
                        put(d, &key, value, at, clock);
                        PartResult::Count(1)
                    }
                }
            }
        }
    };
    PartReply(result)
}

/// Writes a value that moved between shards, dropping it at once if its time already passed.
fn put(d: &mut crate::keyspace::Db, key: &[u8], value: Value, at: Option<i64>, clock: Clock) {
    d.insert(key, value, at, clock);
    if at.is_some_and(|at| at <= clock.now_ms) {
        d.remove(key, clock);
    }
}

impl PartReply {
    /// `replacement` unless this reply is an error.
    fn map_ok(self, replacement: PartResult) -> PartReply {
        match self.0 {
            PartResult::Error(e) => PartReply(PartResult::Error(e)),
            _ => PartReply(replacement),
        }
    }
}
