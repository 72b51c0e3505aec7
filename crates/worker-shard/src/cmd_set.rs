//! Set commands, with Redis 7.0's replies and error texts.
//!
//! The multi-key commands compute over borrowed sets ([`SetOp::compute`]) so that the
//! cross-shard coordinator (see `multi.rs`) runs the same code over sets copied from other
//! shards.
use bytes::Bytes;
use rand::Rng;

use crate::coll::{self, parse_count, parse_scan_opts, scan_cursor, write_scan};
use crate::keyspace::{Db, Value};
use crate::notify::NotifyClass;
use crate::set::Set;
use crate::shard::{Out, Shard, err, parse_i64};

/// # Format
/// `SADD key member [member ...]`
pub(crate) fn sadd(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let max = shard.limits.intset();
    let clock = shard.clock;
    let first = args[2].clone();
    let r = coll::update(
        &mut shard.dbs[db],
        &args[1],
        clock,
        move || Value::Set(Box::new(Set::for_member(&first))),
        |s: &mut Set| args[2..].iter().filter(|m| s.add(m, max)).count(),
    );
    if matches!(r, Ok(n) if n > 0) {
        shard.notify(db, NotifyClass::SET, "sadd", &args[1]);
    }
    match r {
        Ok(n) => out.int(n as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SREM key member [member ...]`
pub(crate) fn srem(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let r = coll::update_existing(&mut shard.dbs[db], &args[1], clock, |s: &mut Set| {
        args[2..].iter().filter(|m| s.remove(m)).count()
    });
    if matches!(r, Ok(Some(n)) if n > 0) {
        coll::notify_changed(shard, db, NotifyClass::SET, "srem", &args[1]);
    }
    match r {
        Ok(n) => out.int(n.unwrap_or(0) as i64),
        Err(e) => out.error(e),
    }
}

fn write_members(out: &mut Out<'_>, members: &[Vec<u8>]) {
    out.set_len(members.len());
    for m in members {
        out.bulk(m);
    }
}

/// # Format
/// `SMEMBERS key` (a set in RESP3)
pub(crate) fn smembers(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Set>(shard, db, &args[1]) {
        Ok(Some(s)) => {
            out.set_len(s.len());
            s.for_each(|m| out.bulk(m));
        }
        Ok(None) => out.set_len(0),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SISMEMBER key member`
pub(crate) fn sismember(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Set>(shard, db, &args[1]) {
        Ok(s) => out.int(s.is_some_and(|s| s.contains(&args[2])) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SMISMEMBER key member [member ...]`
pub(crate) fn smismember(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Set>(shard, db, &args[1]) {
        Ok(s) => {
            out.array_len(args.len() - 2);
            for m in &args[2..] {
                out.int(s.as_ref().is_some_and(|s| s.contains(m)) as i64);
            }
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SCARD key`
pub(crate) fn scard(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Set>(shard, db, &args[1]) {
        Ok(s) => out.int(s.map_or(0, |s| s.len()) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SPOP key [count]`
pub(crate) fn spop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let count = match args.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return out.error(err::MUST_BE_POSITIVE),
        },
    };
    if args.len() > 3 {
        return out.error(err::SYNTAX);
    }
    let clock = shard.clock;
    let mut rng = shard.rng.clone();
    let r = coll::update_existing(&mut shard.dbs[db], &args[1], clock, |s: &mut Set| {
        let n = count.unwrap_or(1).min(s.len());
        let mut popped = Vec::with_capacity(n);
        for _ in 0..n {
            let i = rng.gen_range(0..s.len());
            if let Some(m) = s.nth(i) {
                s.remove(&m);
                popped.push(m);
            }
        }
        popped
    });
    shard.rng = rng;
    if matches!(&r, Ok(Some(p)) if !p.is_empty()) {
        coll::notify_changed(shard, db, NotifyClass::SET, "spop", &args[1]);
    }
    match (r, count) {
        (Err(e), _) => out.error(e),
        (Ok(None), None) => out.null(),
        (Ok(None), Some(_)) => out.set_len(0),
        (Ok(Some(p)), None) => match p.first() {
            Some(m) => out.bulk(m),
            None => out.null(),
        },
        (Ok(Some(p)), Some(_)) => write_members(out, &p),
    }
}

/// # Format
/// `SRANDMEMBER key [count]`
pub(crate) fn srandmember(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let count = match args.get(2) {
        None => None,
        Some(a) => match parse_count(a) {
            Ok(n) => Some(n),
            Err(e) => return out.error(e),
        },
    };
    if args.len() > 3 {
        return out.error(err::SYNTAX);
    }
    let mut rng = shard.rng.clone();
    let s = match coll::read::<Set>(shard, db, &args[1]) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    match (s, count) {
        (None, None) => out.null(),
        (None, Some(_)) => out.array_len(0),
        (Some(s), None) => match s.nth(rng.gen_range(0..s.len())) {
            Some(m) => out.bulk(&m),
            None => out.null(),
        },
        (Some(s), Some(n)) if n < 0 => {
            let n = n.unsigned_abs() as usize;
            out.array_len(n);
            for _ in 0..n {
                if let Some(m) = s.nth(rng.gen_range(0..s.len())) {
                    out.bulk(&m);
                }
            }
        }
        (Some(s), Some(n)) => {
            let n = (n as usize).min(s.len());
            out.array_len(n);
            for i in rand::seq::index::sample(&mut rng, s.len(), n) {
                if let Some(m) = s.nth(i) {
                    out.bulk(&m);
                }
            }
        }
    }
    shard.rng = rng;
}

/// # Format
/// `SMOVE source destination member`
pub(crate) fn smove(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let max = shard.limits.intset();
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let has = match coll::write::<Set>(d, src, clock) {
        Err(e) => return out.error(e),
        Ok(None) => return out.int(0),
        Ok(Some(s)) => s.contains(member),
    };
    if let Err(e) = coll::write::<Set>(d, dst, clock) {
        return out.error(e);
    }
    if src == dst || !has {
        return out.int(has as i64);
    }
    let _ = coll::update_existing(d, src, clock, |s: &mut Set| s.remove(member));
    let m = member.clone();
    let added = coll::update(
        d,
        dst,
        clock,
        move || Value::Set(Box::new(Set::for_member(&m))),
        |s: &mut Set| s.add(member, max),
    );
    coll::notify_changed(shard, db, NotifyClass::SET, "srem", src);
    if added == Ok(true) {
        shard.notify(db, NotifyClass::SET, "sadd", dst);
    }
    out.int(1);
}

/// Which set algebra a multi-key command computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetOp {
    Inter,
    Union,
    Diff,
}

impl SetOp {
    /// The members of the result (`None` sources are missing keys), stopping at `limit`
    /// members for `SINTERCARD` (0 = no limit). They come out in the order of a set built from
    /// them, as in Redis (sorted when they are all integers).
    pub(crate) fn compute(self, sets: &[Option<&Set>], limit: usize) -> Vec<Vec<u8>> {
        let members = self.compute_raw(sets, limit);
        if limit > 0 || members.is_empty() {
            return members;
        }
        let mut set = Set::for_member(&members[0]);
        for m in &members {
            set.add(m, usize::MAX);
        }
        let mut out = Vec::with_capacity(members.len());
        set.for_each(|m| out.push(m.to_vec()));
        out
    }

    fn compute_raw(self, sets: &[Option<&Set>], limit: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            SetOp::Inter => {
                if sets.iter().any(|s| s.is_none_or(|s| s.len() == 0)) {
                    return out;
                }
                let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
                sets.sort_by_key(|s| s.len());
                sets[0].for_each(|m| {
                    if (limit == 0 || out.len() < limit) && sets[1..].iter().all(|s| s.contains(m))
                    {
                        out.push(m.to_vec());
                    }
                });
            }
            SetOp::Union => {
                let mut seen = crate::set::SetTable::default();
                for s in sets.iter().flatten() {
                    s.for_each(|m| {
                        seen.insert(m.into());
                    });
                }
                out = seen.into_iter().map(Vec::from).collect();
            }
            SetOp::Diff => {
                if let Some(Some(first)) = sets.first() {
                    first.for_each(|m| {
                        if !sets[1..].iter().flatten().any(|s| s.contains(m)) {
                            out.push(m.to_vec());
                        }
                    });
                }
            }
        }
        out
    }
}

/// Checks that every source is a set (or missing); then computes with borrowed sets.
pub(crate) fn with_sources<R>(
    d: &mut Db,
    keys: &[Bytes],
    clock: crate::keyspace::Clock,
    f: impl FnOnce(&[Option<&Set>]) -> R,
) -> Result<R, &'static str> {
    for k in keys {
        coll::write::<Set>(d, k, clock)?;
    }
    let sets: Vec<Option<&Set>> = keys
        .iter()
        .map(|k| {
            d.get_ref(k).and_then(|v| match v {
                Value::Set(s) => Some(&**s),
                _ => None,
            })
        })
        .collect();
    Ok(f(&sets))
}

/// Stores `members` as a set at `key` (deleting it when empty); returns the count.
pub(crate) fn store_set(
    d: &mut Db,
    key: &[u8],
    members: &[Vec<u8>],
    max_ints: usize,
    clock: crate::keyspace::Clock,
) -> usize {
    d.remove(key, clock);
    if members.is_empty() {
        return 0;
    }
    let mut set = Set::for_member(&members[0]);
    for m in members {
        set.add(m, max_ints);
    }
    d.insert(key, Value::Set(Box::new(set)), None, clock);
    members.len()
}

fn set_op(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, op: SetOp, store: bool) {
    let max = shard.limits.intset();
    let clock = shard.clock;
    let existed = store && coll::exists_if_notifying(shard, db, &args[1]);
    let d = &mut shard.dbs[db];
    let keys = if store { &args[2..] } else { &args[1..] };
    let members = match with_sources(d, keys, clock, |sets| op.compute(sets, 0)) {
        Ok(m) => m,
        Err(e) => return out.error(e),
    };
    if store {
        let n = store_set(d, &args[1], &members, max, clock);
        let event = match op {
            SetOp::Inter => "sinterstore",
            SetOp::Union => "sunionstore",
            SetOp::Diff => "sdiffstore",
        };
        coll::notify_store(shard, db, NotifyClass::SET, event, &args[1], existed, n);
        out.int(n as i64);
    } else {
        write_members(out, &members);
    }
}

/// # Format
/// `SINTER key [key ...]`
pub(crate) fn sinter(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Inter, false);
}

/// # Format
/// `SUNION key [key ...]`
pub(crate) fn sunion(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Union, false);
}

/// # Format
/// `SDIFF key [key ...]`
pub(crate) fn sdiff(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Diff, false);
}

/// # Format
/// `SINTERSTORE destination key [key ...]`
pub(crate) fn sinterstore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Inter, true);
}

/// # Format
/// `SUNIONSTORE destination key [key ...]`
pub(crate) fn sunionstore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Union, true);
}

/// # Format
/// `SDIFFSTORE destination key [key ...]`
pub(crate) fn sdiffstore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    set_op(shard, db, args, out, SetOp::Diff, true);
}

/// Parses `numkeys key [key ...] [LIMIT limit]` (`SINTERCARD`, `ZINTERCARD`): the keys and
/// the limit (0 = none).
pub(crate) fn parse_intercard(args: &[Bytes]) -> Result<(&[Bytes], usize), &'static str> {
    let numkeys = match parse_i64(&args[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    let keys = &args[2..2 + numkeys];
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Err("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok((keys, limit))
}

/// # Format
/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
pub(crate) fn sintercard(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (keys, limit) = match parse_intercard(args) {
        Ok(k) => k,
        Err(e) => return out.error(e),
    };
    let clock = shard.clock;
    match with_sources(&mut shard.dbs[db], keys, clock, |sets| {
        SetOp::Inter.compute(sets, limit).len()
    }) {
        Ok(n) => out.int(n as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
pub(crate) fn sscan(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(cursor) = scan_cursor(&args[2], out) else {
        return;
    };
    let s = match coll::read::<Set>(shard, db, &args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return write_scan(out, 0, &[]),
        Err(e) => return out.error(e),
    };
    let opts = match parse_scan_opts(&args[3..]) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let mut items = Vec::new();
    let next = s.scan(cursor, opts.count, |m| {
        if opts.matches(m) {
            items.push(m.to_vec());
        }
    });
    write_scan(out, next, &items);
}
