//! Sorted set commands, with Redis 7.0's replies and error texts.
//!
//! The multi-key commands compute over borrowed sources ([`ZAlgebra::compute`]) so that the
//! cross-shard coordinator (see `multi.rs`) runs the same code over values copied from other
//! shards.
use bytes::Bytes;
use rand::Rng;
use resp_codec::Protocol;

use crate::coll::{self, parse_count, parse_scan_opts, scan_cursor, write_scan};
use crate::keyspace::{Clock, Db, Value};
use crate::notify::NotifyClass;
use crate::set::Set;
use crate::shard::{Out, Shard, err, parse_i64};
use crate::zset::{
    LexBound, ScoreBound, ZLimits, ZSet, parse_lex_bound, parse_score, parse_score_bound,
};

/// Members with their scores, in reply order.
pub(crate) type Elements = Vec<(Vec<u8>, f64)>;

const NAN_SCORE: &str = "ERR resulting score is not a number (NaN)";
const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// Writes `(member, score)` elements: members only, or with scores flat (RESP2) or as pairs
/// (RESP3), as Redis's range emitters do.
pub(crate) fn write_elements(out: &mut Out<'_>, elems: &[(Vec<u8>, f64)], withscores: bool) {
    let pairs = withscores && out.proto() == Protocol::Resp3;
    out.array_len(if withscores && !pairs {
        elems.len() * 2
    } else {
        elems.len()
    });
    for (m, s) in elems {
        if pairs {
            out.array_len(2);
        }
        out.bulk(m);
        if withscores {
            out.double(*s);
        }
    }
}

/// # Format
/// `ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]`
pub(crate) fn zadd(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut j = 2;
    while j < args.len() {
        let a = &args[j][..];
        let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
        if is(b"nx") {
            nx = true;
        } else if is(b"xx") {
            xx = true;
        } else if is(b"gt") {
            gt = true;
        } else if is(b"lt") {
            lt = true;
        } else if is(b"ch") {
            ch = true;
        } else if is(b"incr") {
            incr = true;
        } else {
            break;
        }
        j += 1;
    }
    let rest = &args[j..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return out.error(err::SYNTAX);
    }
    if nx && xx {
        return out.error("ERR XX and NX options at the same time are not compatible");
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return out.error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && rest.len() > 2 {
        return out.error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        let Some(score) = parse_score(&p[0]) else {
            return out.error(err::NOT_FLOAT);
        };
        pairs.push((score, &p[1]));
    }
    let flags = ZaddFlags {
        nx,
        xx,
        gt,
        lt,
        incr,
    };
    zadd_apply(shard, db, &args[1], &pairs, flags, ch, out);
}

#[derive(Clone, Copy)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

fn zadd_apply(
    shard: &mut Shard,
    db: usize,
    key: &[u8],
    pairs: &[(f64, &Bytes)],
    f: ZaddFlags,
    ch: bool,
    out: &mut Out<'_>,
) {
    let limits = shard.limits.zset();
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let exists = match coll::write::<ZSet>(d, key, clock) {
        Ok(z) => z.is_some(),
        Err(e) => return out.error(e),
    };
    if !exists && f.xx {
        return if f.incr { out.null() } else { out.int(0) };
    }
    let longest = pairs.iter().map(|p| p.1.len()).max().unwrap_or(0);
    let create = move || Value::ZSet(Box::new(ZSet::with_hint(pairs.len(), longest, limits)));
    let r = coll::update(d, key, clock, create, |z: &mut ZSet| {
        let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
        let mut last = 0.0;
        for &(score, member) in pairs {
            match z.score(member) {
                Some(cur) => {
                    if f.nx {
                        continue;
                    }
                    let score = if f.incr { cur + score } else { score };
                    if score.is_nan() {
                        return Err(NAN_SCORE);
                    }
                    if (f.lt && score >= cur) || (f.gt && score <= cur) {
                        continue;
                    }
                    last = score;
                    processed += 1;
                    if score != cur {
                        z.set(member, score, limits);
                        updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    if score.is_nan() {
                        return Err(NAN_SCORE);
                    }
                    z.set(member, score, limits);
                    last = score;
                    added += 1;
                    processed += 1;
                }
            }
        }
        Ok((added, updated, processed, last))
    });
    let r = r.and_then(|r| r);
    if let Ok((added, updated, _, _)) = r {
        out.count_changes((added + updated) as u64);
    }
    if let Ok((added, updated, _, _)) = r
        && added + updated > 0
    {
        let event = if f.incr { "zincr" } else { "zadd" };
        shard.notify(db, NotifyClass::ZSET, event, key);
    }
    match r {
        Err(e) => out.error(e),
        Ok((_, _, processed, last)) if f.incr => {
            if processed > 0 {
                out.double(last)
            } else {
                out.null()
            }
        }
        Ok((added, updated, _, _)) => out.int(if ch { added + updated } else { added }),
    }
}

/// # Format
/// `ZINCRBY key increment member`
pub(crate) fn zincrby(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(by) = parse_score(&args[2]) else {
        return out.error(err::NOT_FLOAT);
    };
    let flags = ZaddFlags {
        nx: false,
        xx: false,
        gt: false,
        lt: false,
        incr: true,
    };
    zadd_apply(shard, db, &args[1], &[(by, &args[3])], flags, false, out);
}

/// # Format
/// `ZREM key member [member ...]`
pub(crate) fn zrem(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let r = coll::update_existing(&mut shard.dbs[db], &args[1], clock, |z: &mut ZSet| {
        args[2..].iter().filter(|m| z.remove(m).is_some()).count()
    });
    if matches!(r, Ok(Some(n)) if n > 0) {
        coll::notify_changed(shard, db, NotifyClass::ZSET, "zrem", &args[1]);
    }
    match r {
        Ok(n) => out.int(n.unwrap_or(0) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZCARD key`
pub(crate) fn zcard(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => out.int(z.map_or(0, |z| z.len()) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZSCORE key member`
pub(crate) fn zscore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => match z.and_then(|z| z.score(&args[2])) {
            Some(s) => out.double(s),
            None => out.null(),
        },
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZMSCORE key member [member ...]`
pub(crate) fn zmscore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => {
            out.array_len(args.len() - 2);
            for m in &args[2..] {
                match z.as_ref().and_then(|z| z.score(m)) {
                    Some(s) => out.double(s),
                    None => out.null(),
                }
            }
        }
        Err(e) => out.error(e),
    }
}

fn zrank_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, rev: bool) {
    let withscore = match args.get(3) {
        None => false,
        Some(a) if a.eq_ignore_ascii_case(b"withscore") && args.len() == 4 => true,
        Some(_) => return out.error(err::SYNTAX),
    };
    let miss = |out: &mut Out<'_>| {
        if withscore {
            out.null_array()
        } else {
            out.null()
        }
    };
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(Some(z)) => match z.rank(&args[2]) {
            Some((rank, score)) => {
                let rank = if rev { z.len() - 1 - rank } else { rank };
                if withscore {
                    out.array_len(2);
                }
                out.int(rank as i64);
                if withscore {
                    out.double(score);
                }
            }
            None => miss(out),
        },
        Ok(None) => miss(out),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZRANK key member [WITHSCORE]`
pub(crate) fn zrank(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrank_generic(shard, db, args, out, false);
}

/// # Format
/// `ZREVRANK key member [WITHSCORE]`
pub(crate) fn zrevrank(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrank_generic(shard, db, args, out, true);
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), &'static str> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(NOT_FLOAT_RANGE),
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), &'static str> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(NOT_LEX_RANGE),
    }
}

/// # Format
/// `ZCOUNT key min max`
pub(crate) fn zcount(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (min, max) = match score_range(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => out.int(z.map_or(0, |z| {
            let (lo, hi) = z.score_range(min, max);
            hi - lo
        }) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZLEXCOUNT key min max`
pub(crate) fn zlexcount(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (min, max) = match lex_range(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return out.error(e),
    };
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => out.int(z.map_or(0, |z| {
            let (lo, hi) = z.lex_range(&min, &max);
            hi - lo
        }) as i64),
        Err(e) => out.error(e),
    }
}

/// How a range is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// A parsed `ZRANGE`-family request.
#[derive(Debug, Clone)]
pub(crate) struct RangeSpec {
    by: RangeBy,
    rev: bool,
    /// Offset and count of `LIMIT` (count < 0: all).
    limit: Option<(i64, i64)>,
    pub(crate) withscores: bool,
    start: i64,
    stop: i64,
    score: (ScoreBound, ScoreBound),
    lex: (LexBound, LexBound),
}

/// Parses `min max [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` as Redis's
/// `zrangeGenericCommand`: `args` starts at `min`; `by`/`rev` are preset by the older
/// commands; `store` refuses `WITHSCORES`.
pub(crate) fn parse_range(
    args: &[Bytes],
    by: Option<RangeBy>,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeSpec, &'static str> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let mut withscores = false;
    let mut limit: Option<(i64, i64)> = None;
    let mut j = 2;
    while j < args.len() {
        let a = &args[j][..];
        let left = args.len() - j - 1;
        let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
        if !store && is(b"withscores") {
            withscores = true;
        } else if is(b"limit") && left >= 2 {
            let off = parse_i64(&args[j + 1]).ok_or(err::NOT_INT)?;
            let cnt = parse_i64(&args[j + 2]).ok_or(err::NOT_INT)?;
            limit = Some((off, cnt));
            j += 2;
        } else if rev_opt.is_none() && is(b"rev") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && is(b"bylex") {
            by_opt = Some(RangeBy::Lex);
        } else if by_opt.is_none() && is(b"byscore") {
            by_opt = Some(RangeBy::Score);
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(RangeBy::Rank);
    let rev = rev_opt.unwrap_or(false);
    if limit.is_some() && by == RangeBy::Rank {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && by == RangeBy::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (a, b) = if rev && by != RangeBy::Rank {
        (&args[1], &args[0])
    } else {
        (&args[0], &args[1])
    };
    let mut spec = RangeSpec {
        by,
        rev,
        limit,
        withscores,
        start: 0,
        stop: 0,
        score: (
            ScoreBound {
                value: 0.0,
                exclusive: false,
            },
            ScoreBound {
                value: 0.0,
                exclusive: false,
            },
        ),
        lex: (LexBound::Min, LexBound::Min),
    };
    match by {
        RangeBy::Rank => {
            spec.start = parse_i64(a).ok_or(err::NOT_INT)?;
            spec.stop = parse_i64(b).ok_or(err::NOT_INT)?;
        }
        RangeBy::Score => spec.score = score_range(a, b)?,
        RangeBy::Lex => spec.lex = lex_range(a, b)?,
    }
    Ok(spec)
}

/// Ascending rank range `lo..hi` of a rank request, clamped as Redis does.
fn rank_window(start: i64, stop: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return (0, 0);
    }
    if end >= len {
        end = len - 1;
    }
    (start as usize, end as usize + 1)
}

impl RangeSpec {
    /// The selected elements, in reply order.
    pub(crate) fn select(&self, z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        let len = z.len();
        let (lo, hi) = match self.by {
            RangeBy::Rank => {
                let (s, e) = rank_window(self.start, self.stop, len);
                if self.rev {
                    // Ranks count from the highest score.
                    (len - e.min(len), len - s.min(len))
                } else {
                    (s, e)
                }
            }
            RangeBy::Score => z.score_range(self.score.0, self.score.1),
            RangeBy::Lex => z.lex_range(&self.lex.0, &self.lex.1),
        };
        let (lo, hi) = match self.limit {
            None => (lo, hi),
            Some((off, _)) if off < 0 => (lo, lo),
            Some((off, cnt)) => {
                let n = hi - lo;
                let off = (off as usize).min(n);
                let take = if cnt < 0 {
                    n - off
                } else {
                    (cnt as usize).min(n - off)
                };
                if self.rev {
                    (hi - off - take, hi - off)
                } else {
                    (lo + off, lo + off + take)
                }
            }
        };
        z.range(lo, hi, self.rev)
    }
}

fn zrange_generic(
    shard: &mut Shard,
    db: usize,
    args: &[Bytes],
    out: &mut Out<'_>,
    by: Option<RangeBy>,
    rev: Option<bool>,
) {
    let spec = match parse_range(&args[2..], by, rev, false) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(Some(z)) => write_elements(out, &spec.select(z), spec.withscores),
        Ok(None) => out.array_len(0),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
pub(crate) fn zrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, None, None);
}

/// # Format
/// `ZREVRANGE key start stop [WITHSCORES]`
pub(crate) fn zrevrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, Some(RangeBy::Rank), Some(true));
}

/// # Format
/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrangebyscore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, Some(RangeBy::Score), Some(false));
}

/// # Format
/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
pub(crate) fn zrevrangebyscore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, Some(RangeBy::Score), Some(true));
}

/// # Format
/// `ZRANGEBYLEX key min max [LIMIT offset count]`
pub(crate) fn zrangebylex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, Some(RangeBy::Lex), Some(false));
}

/// # Format
/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
pub(crate) fn zrevrangebylex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zrange_generic(shard, db, args, out, Some(RangeBy::Lex), Some(true));
}

/// Stores `elems` as a sorted set at `key` (deleting it when empty), in the encoding Redis
/// gives computed results; returns the count.
pub(crate) fn store_zset(
    d: &mut Db,
    key: &[u8],
    elems: &[(Vec<u8>, f64)],
    limits: ZLimits,
    clock: Clock,
) -> usize {
    d.remove(key, clock);
    if elems.is_empty() {
        return 0;
    }
    let longest = elems.iter().map(|e| e.0.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(elems.len(), longest, limits);
    for (m, s) in elems {
        z.set(m, *s, limits);
    }
    d.insert(key, Value::ZSet(Box::new(z)), None, clock);
    elems.len()
}

/// # Format
/// `ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]`
pub(crate) fn zrangestore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let spec = match parse_range(&args[3..], None, None, true) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    let limits = shard.limits.zset();
    let clock = shard.clock;
    let elems = match coll::read::<ZSet>(shard, db, &args[2]) {
        Ok(Some(z)) => spec.select(z),
        Ok(None) => Vec::new(),
        Err(e) => return out.error(e),
    };
    let existed = coll::exists_if_notifying(shard, db, &args[1]);
    let n = store_zset(&mut shard.dbs[db], &args[1], &elems, limits, clock);
    coll::notify_store(
        shard,
        db,
        NotifyClass::ZSET,
        "zrangestore",
        &args[1],
        existed,
        n,
    );
    out.int(n as i64);
}

fn zremrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, by: RangeBy) {
    let spec = match by {
        RangeBy::Rank => match (parse_i64(&args[2]), parse_i64(&args[3])) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => return out.error(err::NOT_INT),
        },
        _ => Err(()),
    };
    let score = if by == RangeBy::Score {
        match score_range(&args[2], &args[3]) {
            Ok(r) => Some(r),
            Err(e) => return out.error(e),
        }
    } else {
        None
    };
    let lex = if by == RangeBy::Lex {
        match lex_range(&args[2], &args[3]) {
            Ok(r) => Some(r),
            Err(e) => return out.error(e),
        }
    } else {
        None
    };
    let clock = shard.clock;
    let r = coll::update_existing(&mut shard.dbs[db], &args[1], clock, |z: &mut ZSet| {
        let (lo, hi) = match (&spec, &score, &lex) {
            (Ok((a, b)), _, _) => rank_window(*a, *b, z.len()),
            (_, Some((a, b)), _) => z.score_range(*a, *b),
            (_, _, Some((a, b))) => z.lex_range(a, b),
            _ => (0, 0),
        };
        let doomed = z.range(lo, hi, false);
        for (m, _) in &doomed {
            z.remove(m);
        }
        doomed.len()
    });
    if matches!(r, Ok(Some(n)) if n > 0) {
        let event = match by {
            RangeBy::Rank => "zremrangebyrank",
            RangeBy::Score => "zremrangebyscore",
            RangeBy::Lex => "zremrangebylex",
        };
        coll::notify_changed(shard, db, NotifyClass::ZSET, event, &args[1]);
    }
    match r {
        Ok(n) => out.int(n.unwrap_or(0) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZREMRANGEBYRANK key start stop`
pub(crate) fn zremrangebyrank(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zremrange(shard, db, args, out, RangeBy::Rank);
}

/// # Format
/// `ZREMRANGEBYSCORE key min max`
pub(crate) fn zremrangebyscore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zremrange(shard, db, args, out, RangeBy::Score);
}

/// # Format
/// `ZREMRANGEBYLEX key min max`
pub(crate) fn zremrangebylex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zremrange(shard, db, args, out, RangeBy::Lex);
}

/// Pops up to `count` elements from the sorted set at `key` (lowest scores first, highest if
/// `max`), deleting the key when emptied. `Ok(None)`: no such key. This is the primitive
/// `ZPOPMIN`, `ZPOPMAX`, `ZMPOP` and the blocking pops share.
pub(crate) fn pop_from(
    d: &mut Db,
    key: &[u8],
    max: bool,
    count: usize,
    clock: Clock,
) -> Result<Option<Elements>, &'static str> {
    coll::update_existing(d, key, clock, |z: &mut ZSet| z.pop(max, count))
}

fn zpop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, max: bool) {
    let count = match args.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            None => return out.error(err::NOT_INT),
            Some(n) if n < 0 => return out.error(err::MUST_BE_POSITIVE),
            Some(n) => Some(n as usize),
        },
    };
    if args.len() > 3 {
        return out.error(err::SYNTAX);
    }
    let clock = shard.clock;
    let popped = match pop_from(&mut shard.dbs[db], &args[1], max, count.unwrap_or(1), clock) {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return out.error(e),
    };
    if !popped.is_empty() {
        let event = if max { "zpopmax" } else { "zpopmin" };
        coll::notify_changed(shard, db, NotifyClass::ZSET, event, &args[1]);
    }
    // A single pop is a flat pair even in RESP3; with a count RESP3 nests pairs.
    if count.is_none() {
        out.array_len(popped.len() * 2);
        for (m, s) in &popped {
            out.bulk(m);
            out.double(*s);
        }
    } else {
        write_elements(out, &popped, true);
    }
}

/// # Format
/// `ZPOPMIN key [count]`
pub(crate) fn zpopmin(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zpop(shard, db, args, out, false);
}

/// # Format
/// `ZPOPMAX key [count]`
pub(crate) fn zpopmax(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zpop(shard, db, args, out, true);
}

/// Parsed `ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]` (args from `numkeys`).
#[derive(Debug, Clone)]
pub(crate) struct Zmpop {
    pub(crate) keys: Vec<Bytes>,
    pub(crate) max: bool,
    pub(crate) count: usize,
}

/// Parses the arguments of `ZMPOP` from `numkeys` on (also `BZMPOP` after its timeout).
pub(crate) fn parse_zmpop(args: &[Bytes]) -> Result<Zmpop, &'static str> {
    let numkeys = match parse_i64(&args[0]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err("ERR numkeys should be greater than 0"),
    };
    if numkeys >= args.len() {
        return Err(err::SYNTAX);
    }
    let keys = args[1..1 + numkeys].to_vec();
    let mut j = 1 + numkeys;
    let max = match args.get(j) {
        Some(a) if a.eq_ignore_ascii_case(b"min") => false,
        Some(a) if a.eq_ignore_ascii_case(b"max") => true,
        _ => return Err(err::SYNTAX),
    };
    j += 1;
    let mut count = None;
    while j < args.len() {
        if count.is_none() && args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err("ERR count should be greater than 0"),
            }
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok(Zmpop {
        keys,
        max,
        count: count.unwrap_or(1),
    })
}

/// Writes a `ZMPOP` reply: the key and its popped pairs (nested in both protocols).
pub(crate) fn write_mpop(out: &mut Out<'_>, key: &[u8], popped: &[(Vec<u8>, f64)]) {
    out.array_len(2);
    out.bulk(key);
    out.array_len(popped.len());
    for (m, s) in popped {
        out.array_len(2);
        out.bulk(m);
        out.double(*s);
    }
}

/// # Format
/// `ZMPOP numkeys key [key ...] MIN | MAX [COUNT count]`
pub(crate) fn zmpop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let p = match parse_zmpop(&args[1..]) {
        Ok(p) => p,
        Err(e) => return out.error(e),
    };
    let clock = shard.clock;
    for key in &p.keys {
        match pop_from(&mut shard.dbs[db], key, p.max, p.count, clock) {
            Err(e) => return out.error(e),
            Ok(None) => {}
            Ok(Some(popped)) => {
                let event = if p.max { "zpopmax" } else { "zpopmin" };
                coll::notify_changed(shard, db, NotifyClass::ZSET, event, key);
                return write_mpop(out, key, &popped);
            }
        }
    }
    out.null_array();
}

/// # Format
/// `ZRANDMEMBER key [count [WITHSCORES]]`
pub(crate) fn zrandmember(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let mut count = None;
    let mut withscores = false;
    if args.len() >= 3 {
        let n = match parse_count(&args[2]) {
            Ok(n) => n,
            Err(e) => return out.error(e),
        };
        if args.len() > 4 || (args.len() == 4 && !args[3].eq_ignore_ascii_case(b"withscores")) {
            return out.error(err::SYNTAX);
        }
        withscores = args.len() == 4;
        if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return out.error("ERR value is out of range");
        }
        count = Some(n);
    }
    let mut rng = shard.rng.clone();
    let z = match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(z) => z,
        Err(e) => return out.error(e),
    };
    match (z, count) {
        (None, None) => out.null(),
        (None, Some(_)) => out.array_len(0),
        (Some(z), None) => {
            let i = rng.gen_range(0..z.len());
            z.walk(i, i + 1, &mut |_, m| out.bulk(m));
        }
        (Some(z), Some(n)) => {
            let len = z.len();
            let picks: Vec<usize> = if n < 0 {
                (0..n.unsigned_abs())
                    .map(|_| rng.gen_range(0..len))
                    .collect()
            } else {
                rand::seq::index::sample(&mut rng, len, (n as usize).min(len)).into_vec()
            };
            let elems: Vec<(Vec<u8>, f64)> = picks
                .into_iter()
                .flat_map(|i| z.range(i, i + 1, false))
                .collect();
            write_elements(out, &elems, withscores);
        }
    }
    shard.rng = rng;
}

/// How `ZUNION`/`ZINTER` combine scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Which algebra a `ZUNION`/`ZINTER`/`ZDIFF` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZOp {
    Union,
    Inter,
    Diff,
}

/// A parsed `ZUNION`/`ZINTER`/`ZDIFF` (and their `STORE` forms, and `ZINTERCARD`).
#[derive(Debug, Clone)]
pub(crate) struct ZAlgebra {
    pub(crate) op: ZOp,
    pub(crate) keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    pub(crate) withscores: bool,
    /// `ZINTERCARD`'s limit (0 = none), when computing a cardinality only.
    pub(crate) card_limit: Option<usize>,
}

/// Parses `numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]` (`args` from
/// `numkeys`); `name` is the command for the error text.
pub(crate) fn parse_algebra(
    args: &[Bytes],
    op: ZOp,
    name: &str,
    store: bool,
) -> Result<ZAlgebra, String> {
    let numkeys = parse_i64(&args[0]).ok_or(err::NOT_INT)?;
    if numkeys < 1 {
        return Err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 1 {
        return Err(err::SYNTAX.into());
    }
    let keys = args[1..1 + numkeys].to_vec();
    let mut weights = vec![1.0; numkeys];
    let mut aggregate = Aggregate::Sum;
    let mut withscores = false;
    let mut j = 1 + numkeys;
    while j < args.len() {
        let a = &args[j][..];
        let left = args.len() - j - 1;
        let is = |s: &[u8]| a.eq_ignore_ascii_case(s);
        if op != ZOp::Diff && is(b"weights") && left >= numkeys {
            for (i, w) in args[j + 1..j + 1 + numkeys].iter().enumerate() {
                weights[i] = parse_score(w).ok_or("ERR weight value is not a float")?;
            }
            j += numkeys;
        } else if op != ZOp::Diff && is(b"aggregate") && left >= 1 {
            let v = &args[j + 1][..];
            aggregate = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(err::SYNTAX.into());
            };
            j += 1;
        } else if !store && is(b"withscores") {
            withscores = true;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(ZAlgebra {
        op,
        keys,
        weights,
        aggregate,
        withscores,
        card_limit: None,
    })
}

/// Parses `ZINTERCARD numkeys key [key ...] [LIMIT limit]` (`args` from `numkeys`).
pub(crate) fn parse_zintercard(args: &[Bytes]) -> Result<ZAlgebra, String> {
    let numkeys = parse_i64(&args[0]).ok_or(err::NOT_INT)?;
    if numkeys < 1 {
        return Err("ERR at least 1 input key is needed for 'zintercard' command".into());
    }
    let numkeys = numkeys as usize;
    if numkeys > args.len() - 1 {
        return Err(err::SYNTAX.into());
    }
    let mut limit = 0;
    let mut j = 1 + numkeys;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]) {
                Some(n) if n >= 0 => limit = n as usize,
                _ => return Err("ERR LIMIT can't be negative".into()),
            }
            j += 2;
        } else {
            return Err(err::SYNTAX.into());
        }
    }
    Ok(ZAlgebra {
        op: ZOp::Inter,
        keys: args[1..1 + numkeys].to_vec(),
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        withscores: false,
        card_limit: Some(limit),
    })
}

/// A source of `ZUNION` and friends: a sorted set or a plain set (scores 1).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    Z(&'a ZSet),
    S(&'a Set),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Z(z) => z.len(),
            Source::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Source::Z(z) => z.score(m),
            Source::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn for_each(&self, f: &mut dyn FnMut(&[u8], f64)) {
        match self {
            Source::Z(z) => z.walk(0, z.len(), &mut |s, m| f(m, s)),
            Source::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
}

/// The source view of a value, or WRONGTYPE.
pub(crate) fn source_of(v: &Value) -> Result<Source<'_>, &'static str> {
    match v {
        Value::ZSet(z) => Ok(Source::Z(z)),
        Value::Set(s) => Ok(Source::S(s)),
        _ => Err(err::WRONGTYPE),
    }
}

fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() { 0.0 } else { v }
}

fn combine(agg: Aggregate, acc: f64, v: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let s = acc + v;
            if s.is_nan() { 0.0 } else { s }
        }
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    }
}

impl ZAlgebra {
    /// The result in score order (`None` sources are missing keys).
    pub(crate) fn compute(&self, srcs: &[Option<Source<'_>>]) -> Vec<(Vec<u8>, f64)> {
        let mut acc: indexmap::IndexMap<Vec<u8>, f64, hashbrown::DefaultHashBuilder> =
            Default::default();
        match self.op {
            ZOp::Union => {
                for (src, &w) in srcs.iter().zip(&self.weights) {
                    let Some(src) = src else { continue };
                    src.for_each(&mut |m, s| {
                        let v = weighted(s, w);
                        match acc.get_mut(m) {
                            Some(a) => *a = combine(self.aggregate, *a, v),
                            None => {
                                acc.insert(m.to_vec(), v);
                            }
                        }
                    });
                }
            }
            ZOp::Inter => {
                if srcs.iter().any(|s| s.is_none_or(|s| s.len() == 0)) {
                    return Vec::new();
                }
                let mut order: Vec<usize> = (0..srcs.len()).collect();
                order.sort_by_key(|&i| srcs[i].map_or(0, |s| s.len()));
                let first = order[0];
                let limit = self.card_limit.unwrap_or(0);
                if let Some(src) = srcs[first] {
                    src.for_each(&mut |m, s| {
                        if limit > 0 && acc.len() >= limit {
                            return;
                        }
                        let mut v = weighted(s, self.weights[first]);
                        for &i in &order[1..] {
                            match srcs[i].and_then(|o| o.score(m)) {
                                Some(o) => {
                                    v = combine(self.aggregate, v, weighted(o, self.weights[i]))
                                }
                                None => return,
                            }
                        }
                        acc.insert(m.to_vec(), v);
                    });
                }
            }
            ZOp::Diff => {
                if let Some(Some(first)) = srcs.first() {
                    first.for_each(&mut |m, s| {
                        if !srcs[1..].iter().flatten().any(|o| o.score(m).is_some()) {
                            acc.insert(m.to_vec(), s);
                        }
                    });
                }
            }
        }
        let mut out: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
        if self.card_limit.is_none() {
            out.sort_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            });
        }
        out
    }
}

/// Type-checks every key, then computes over borrowed sources.
pub(crate) fn with_zsources<R>(
    d: &mut Db,
    keys: &[Bytes],
    clock: Clock,
    f: impl FnOnce(&[Option<Source<'_>>]) -> R,
) -> Result<R, &'static str> {
    for k in keys {
        if let Some(v) = d.value(k, clock) {
            source_of(v)?;
        }
    }
    let srcs: Vec<Option<Source<'_>>> = keys
        .iter()
        .map(|k| d.get_ref(k).and_then(|v| source_of(v).ok()))
        .collect();
    Ok(f(&srcs))
}

fn zalgebra_cmd(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, op: ZOp) {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let store = name.ends_with("store");
    let from = if store { 2 } else { 1 };
    let alg = match parse_algebra(&args[from..], op, &name, store) {
        Ok(a) => a,
        Err(e) => return out.error(&e),
    };
    let limits = shard.limits.zset();
    let clock = shard.clock;
    let existed = store && coll::exists_if_notifying(shard, db, &args[1]);
    let d = &mut shard.dbs[db];
    let elems = match with_zsources(d, &alg.keys, clock, |s| alg.compute(s)) {
        Ok(e) => e,
        Err(e) => return out.error(e),
    };
    if store {
        let n = store_zset(d, &args[1], &elems, limits, clock);
        coll::notify_store(shard, db, NotifyClass::ZSET, &name, &args[1], existed, n);
        out.int(n as i64);
    } else {
        write_elements(out, &elems, alg.withscores);
    }
}

/// # Format
/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zunion(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zalgebra_cmd(shard, db, args, out, ZOp::Union);
}

/// # Format
/// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
pub(crate) fn zinter(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zalgebra_cmd(shard, db, args, out, ZOp::Inter);
}

/// # Format
/// `ZDIFF numkeys key [key ...] [WITHSCORES]`
pub(crate) fn zdiff(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    zalgebra_cmd(shard, db, args, out, ZOp::Diff);
}

/// # Format
/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
pub(crate) fn zintercard(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let alg = match parse_zintercard(&args[1..]) {
        Ok(a) => a,
        Err(e) => return out.error(&e),
    };
    let clock = shard.clock;
    match with_zsources(&mut shard.dbs[db], &alg.keys, clock, |s| {
        alg.compute(s).len()
    }) {
        Ok(n) => out.int(n as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
pub(crate) fn zscan(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(cursor) = scan_cursor(&args[2], out) else {
        return;
    };
    let z = match coll::read::<ZSet>(shard, db, &args[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return write_scan(out, 0, &[]),
        Err(e) => return out.error(e),
    };
    let opts = match parse_scan_opts(&args[3..]) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let mut items = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            items.push(m.to_vec());
            items.push(resp_codec::format_double(s).into_bytes());
        }
    });
    write_scan(out, next, &items);
}
