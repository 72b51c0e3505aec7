//! Hash commands, with Redis 7.0's replies and error texts.
use bytes::Bytes;
use rand::Rng;
use resp_codec::Protocol;

use crate::coll::{self, parse_count, parse_scan_opts, scan_cursor, write_scan};
use crate::hash::Hash;
use crate::keyspace::Value;
use crate::longdouble::{self, Parsed};
use crate::notify::NotifyClass;
use crate::shard::{Out, Shard, err, parse_i64};

fn new_hash(shard: &Shard) -> impl FnOnce() -> Value + use<> {
    let limits = shard.limits.hash();
    move || Value::Hash(Box::new(Hash::new(limits)))
}

fn hset_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, name: &str) {
    if args.len() % 2 == 1 {
        return out.error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let limits = shard.limits.hash();
    let create = new_hash(shard);
    let clock = shard.clock;
    let r = coll::update(
        &mut shard.dbs[db],
        &args[1],
        clock,
        create,
        |h: &mut Hash| {
            args[2..]
                .chunks_exact(2)
                .filter(|p| h.set(&p[0], &p[1], limits))
                .count()
        },
    );
    if r.is_ok() {
        shard.notify(db, NotifyClass::HASH, "hset", &args[1]);
    }
    match r {
        Ok(n) if name == "hset" => out.int(n as i64),
        Ok(_) => out.ok(),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HSET key field value [field value ...]`
pub(crate) fn hset(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    hset_generic(shard, db, args, out, "hset");
}

/// # Format
/// `HMSET key field value [field value ...]`
pub(crate) fn hmset(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    hset_generic(shard, db, args, out, "hmset");
}

/// # Format
/// `HSETNX key field value`
pub(crate) fn hsetnx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let limits = shard.limits.hash();
    let create = new_hash(shard);
    let clock = shard.clock;
    let r = coll::update(
        &mut shard.dbs[db],
        &args[1],
        clock,
        create,
        |h: &mut Hash| {
            if h.get(&args[2]).is_some() {
                false
            } else {
                h.set(&args[2], &args[3], limits)
            }
        },
    );
    if r == Ok(true) {
        shard.notify(db, NotifyClass::HASH, "hset", &args[1]);
    }
    match r {
        Ok(set) => out.int(set as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HGET key field`
pub(crate) fn hget(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(Some(h)) => match h.get(&args[2]) {
            Some(v) => out.bulk(v),
            None => out.null(),
        },
        Ok(None) => out.null(),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HMGET key field [field ...]`
pub(crate) fn hmget(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => {
            out.array_len(args.len() - 2);
            for f in &args[2..] {
                match h.as_ref().and_then(|h| h.get(f)) {
                    Some(v) => out.bulk(v),
                    None => out.null(),
                }
            }
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HDEL key field [field ...]`
pub(crate) fn hdel(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let r = coll::update_existing(&mut shard.dbs[db], &args[1], clock, |h: &mut Hash| {
        args[2..].iter().filter(|f| h.remove(f)).count()
    });
    if matches!(r, Ok(Some(n)) if n > 0) {
        coll::notify_changed(shard, db, NotifyClass::HASH, "hdel", &args[1]);
    }
    match r {
        Ok(n) => out.int(n.unwrap_or(0) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HEXISTS key field`
pub(crate) fn hexists(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => out.int(h.is_some_and(|h| h.get(&args[2]).is_some()) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HLEN key`
pub(crate) fn hlen(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => out.int(h.map_or(0, |h| h.len()) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HSTRLEN key field`
pub(crate) fn hstrlen(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => out.int(h.and_then(|h| h.get(&args[2])).map_or(0, |v| v.len()) as i64),
        Err(e) => out.error(e),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    All,
}

fn hgetall_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, what: Part) {
    let proto = out.proto();
    match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => {
            let len = h.as_ref().map_or(0, |h| h.len());
            if what == Part::All {
                out.map_len(len);
            } else {
                out.array_len(len);
            }
            let _ = proto;
            if let Some(h) = h {
                h.for_each(|f, v| {
                    if what != Part::Vals {
                        out.bulk(f);
                    }
                    if what != Part::Keys {
                        out.bulk(v);
                    }
                });
            }
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HKEYS key`
pub(crate) fn hkeys(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    hgetall_generic(shard, db, args, out, Part::Keys);
}

/// # Format
/// `HVALS key`
pub(crate) fn hvals(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    hgetall_generic(shard, db, args, out, Part::Vals);
}

/// # Format
/// `HGETALL key` (a map in RESP3)
pub(crate) fn hgetall(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    hgetall_generic(shard, db, args, out, Part::All);
}

/// # Format
/// `HINCRBY key field increment`
pub(crate) fn hincrby(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(by) = parse_i64(&args[3]) else {
        return out.error(err::NOT_INT);
    };
    let limits = shard.limits.hash();
    let create = new_hash(shard);
    let clock = shard.clock;
    let r = coll::update(
        &mut shard.dbs[db],
        &args[1],
        clock,
        create,
        |h: &mut Hash| {
            let cur = match h.get(&args[2]) {
                None => 0,
                Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
            };
            let n = cur
                .checked_add(by)
                .ok_or("ERR increment or decrement would overflow")?;
            h.set(&args[2], itoa::Buffer::new().format(n).as_bytes(), limits);
            Ok(n)
        },
    );
    match r.and_then(|r| r) {
        Ok(n) => {
            shard.notify(db, NotifyClass::HASH, "hincrby", &args[1]);
            out.int(n)
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HINCRBYFLOAT key field increment`
pub(crate) fn hincrbyfloat(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let by = match longdouble::parse(&args[3]) {
        None => return out.error(err::NOT_FLOAT),
        Some(Parsed::Finite(by)) => by,
        Some(_) => return out.error("ERR value is NaN or Infinity"),
    };
    let limits = shard.limits.hash();
    let create = new_hash(shard);
    let clock = shard.clock;
    let r = coll::update(
        &mut shard.dbs[db],
        &args[1],
        clock,
        create,
        |h: &mut Hash| {
            let cur = match h.get(&args[2]) {
                None => longdouble::F80::ZERO,
                Some(v) => match longdouble::parse(v) {
                    Some(Parsed::Finite(v)) => v,
                    _ => return Err("ERR hash value is not a float"),
                },
            };
            let sum =
                longdouble::add(cur, by).ok_or("ERR increment would produce NaN or Infinity")?;
            let text = longdouble::format(sum);
            h.set(&args[2], text.as_bytes(), limits);
            Ok(text)
        },
    );
    match r.and_then(|r| r) {
        Ok(text) => {
            shard.notify(db, NotifyClass::HASH, "hincrbyfloat", &args[1]);
            out.bulk(text.as_bytes())
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `HRANDFIELD key [count [WITHVALUES]]`
pub(crate) fn hrandfield(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let mut count = None;
    let mut withvalues = false;
    if args.len() >= 3 {
        let n = match parse_count(&args[2]) {
            Ok(n) => n,
            Err(e) => return out.error(e),
        };
        if args.len() > 4 || (args.len() == 4 && !args[3].eq_ignore_ascii_case(b"withvalues")) {
            return out.error(err::SYNTAX);
        }
        withvalues = args.len() == 4;
        if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return out.error("ERR value is out of range");
        }
        count = Some(n);
    }
    let proto = out.proto();
    let mut rng = shard.rng.clone();
    let h = match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(h) => h,
        Err(e) => return out.error(e),
    };
    let Some(count) = count else {
        match h {
            Some(h) => {
                let i = rng.gen_range(0..h.len());
                if let Some((f, _)) = h.nth(i) {
                    out.bulk(f);
                }
            }
            None => out.null(),
        }
        shard.rng = rng;
        return;
    };
    let Some(h) = h else {
        return out.array_len(0);
    };
    let emit = |out: &mut Out<'_>, f: &[u8], v: &[u8]| {
        if withvalues && proto == Protocol::Resp3 {
            out.array_len(2);
        }
        out.bulk(f);
        if withvalues {
            out.bulk(v);
        }
    };
    let per = if withvalues && proto == Protocol::Resp2 {
        2
    } else {
        1
    };
    let len = h.len();
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        out.array_len(n * per);
        for _ in 0..n {
            if let Some((f, v)) = h.nth(rng.gen_range(0..len)) {
                emit(out, f, v);
            }
        }
    } else {
        let n = (count as usize).min(len);
        out.array_len(n * per);
        for i in rand::seq::index::sample(&mut rng, len, n) {
            if let Some((f, v)) = h.nth(i) {
                emit(out, f, v);
            }
        }
    }
    shard.rng = rng;
}

/// # Format
/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
pub(crate) fn hscan(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(cursor) = scan_cursor(&args[2], out) else {
        return;
    };
    let h = match coll::read::<Hash>(shard, db, &args[1]) {
        Ok(Some(h)) => h,
        Ok(None) => return write_scan(out, 0, &[]),
        Err(e) => return out.error(e),
    };
    let opts = match parse_scan_opts(&args[3..]) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let mut items = Vec::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        if opts.matches(f) {
            items.push(f.to_vec());
            items.push(v.to_vec());
        }
    });
    write_scan(out, next, &items);
}
