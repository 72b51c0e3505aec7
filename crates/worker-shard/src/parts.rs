//! Execution of [`Part`]s on a shard.
use bytes::Bytes;

use crate::cmd_keys;
use crate::keyspace::Clock;
use crate::keyspace::Value;
use crate::notify::NotifyClass;
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
                    // MGET answers nil for keys of other types.
                    d.str_ref(k, clock)
                        .and_then(Result::ok)
                        .map(|s| s.with_bytes(Bytes::copy_from_slice))
                })
                .collect();
            let hits = values.iter().filter(|v| v.is_some()).count() as u64;
            shard.hits += hits;
            shard.misses += values.len() as u64 - hits;
            if shard.notifier.flags != 0 {
                for (key, _) in keys.iter().zip(&values).filter(|(_, v)| v.is_none()) {
                    shard.notify(db, NotifyClass::KEY_MISS, "keymiss", key);
                }
            }
            PartResult::Values(values)
        }
        PartKind::Del(keys) => {
            let mut n = 0;
            for key in &keys {
                if shard.dbs[db].remove(key, clock).is_some() {
                    n += 1;
                    shard.notify(db, NotifyClass::GENERIC, "del", key);
                }
            }
            PartResult::Count(n)
        }
        PartKind::Exists(keys) => {
            // Also the existence probe of MSETNX and RENAMENX, which Redis makes with write
            // lookups: no `keymiss` here.
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
            for pair in pairs.chunks_exact(2) {
                shard.dbs[db].insert_str(&pair[0], &pair[1], None, clock);
                shard.notify(db, NotifyClass::STRING, "set", &pair[0]);
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
            shard.flushed_all();
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
            PartResult::Moved(e.map(|e| (e.to_value(), e.expire_at())))
        }
        PartKind::SwapDb(a, b) => match cmd_keys::swap_dbs(shard, a, b) {
            Ok(()) => PartResult::Ok,
            Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
        },
        PartKind::Tx { .. } => {
            // Transaction hops are handled by the worker's scheduler; reaching here is a
            // wiring bug.
            PartResult::Error(Bytes::from_static(
                b"ERR transaction hop executed out of band",
            ))
        }
        PartKind::Gather { keys, probe } => {
            let d = &mut shard.dbs[db];
            PartResult::Gathered(
                keys.into_iter()
                    .map(|(i, k)| (i, crate::multi::gather(d, &k, probe.as_ref(), clock)))
                    .collect(),
            )
        }
        PartKind::PutColl { key, value, event } => {
            let existed = crate::coll::exists_if_notifying(shard, db, &key);
            let d = &mut shard.dbs[db];
            d.remove(&key, clock);
            let stored = value.is_some();
            if let Some(v) = value {
                d.insert(&key, v, None, clock);
            }
            let class = if event.starts_with('s') {
                NotifyClass::SET
            } else {
                NotifyClass::ZSET
            };
            crate::coll::notify_store(shard, db, class, event, &key, existed, stored as usize);
            PartResult::Ok
        }
        PartKind::SetMember { key, member, add } => {
            crate::multi::set_member(shard, db, &key, &member, add);
            PartResult::Ok
        }
        PartKind::ZPop { key, max, count } => {
            match crate::cmd_zset::pop_from(&mut shard.dbs[db], &key, max, count, clock) {
                Ok(p) => {
                    let p = p.unwrap_or_default();
                    if !p.is_empty() {
                        let event = if max { "zpopmax" } else { "zpopmin" };
                        crate::coll::notify_changed(shard, db, NotifyClass::ZSET, event, &key);
                    }
                    PartResult::ZPopped(p)
                }
                Err(e) => PartResult::Error(Bytes::from_static(e.as_bytes())),
            }
        }
        PartKind::Put {
            key,
            value,
            expire_at,
            db: target,
            replace,
            event,
        } => {
            let target = target.unwrap_or(db);
            match shard.dbs.get_mut(target) {
                None => PartResult::Error(Bytes::from_static(b"ERR DB index is out of range")),
                Some(d) => {
                    if !replace && d.contains(&key, clock) {
                        PartResult::Count(0)
                    } else {
                        put(d, &key, value, expire_at, clock);
                        shard.notify(target, NotifyClass::GENERIC, event, &key);
                        PartResult::Count(1)
                    }
                }
            }
        }
        PartKind::RenameFrom(key) => {
            let removed = shard.dbs[db].remove(&key, clock).is_some();
            if removed {
                shard.notify(db, NotifyClass::GENERIC, "rename_from", &key);
            }
            PartResult::Count(i64::from(removed))
        }
        PartKind::Watch { client, keys } => {
            let d = &mut shard.dbs[db];
            for key in &keys {
                // A key already expired is reclaimed first, so its removal does not count as
                // a change after WATCH (Redis 7.0: stale keys do not fail EXEC).
                let _ = d.peek(key, clock);
                d.watch(key, client);
            }
            PartResult::Ok
        }
        PartKind::Unwatch { client, keys } => {
            for (i, key) in &keys {
                if let Some(d) = shard.dbs.get_mut(*i as usize) {
                    d.unwatch(key, client);
                }
            }
            PartResult::Ok
        }
        PartKind::Populate(p) => {
            cmd_keys::populate(shard, db, &p);
            PartResult::Ok
        }
        PartKind::ListPush { key, elem, end } => {
            crate::blocking::list_push(shard, db, &key, &elem, end)
        }
        PartKind::ListCheck(key) => crate::blocking::list_check(shard, db, &key),
        PartKind::ListLen(key) => crate::blocking::list_len(shard, db, &key),
        PartKind::ListPeek { key, end } => crate::blocking::list_peek(shard, db, &key, end),
        PartKind::ListPop {
            key,
            end,
            count,
            woken,
        } => {
            let popped = crate::blocking::pop_for(
                shard,
                db,
                &key,
                &crate::blocking::PopKind::Mpop { end, count },
            );
            if let Some(waiter) = woken {
                shard.blocked.fulfil(db, &key, &waiter);
            }
            popped
        }
        PartKind::Block(_) => {
            // Blocking parts need their reply sink and are executed by the worker through
            // `blocking::block`; reaching here is a wiring bug.
            PartResult::Error(Bytes::from_static(
                b"ERR blocking part executed out of band",
            ))
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
