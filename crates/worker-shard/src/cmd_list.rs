//! List commands, with Redis 7.0's options, replies, error texts and the order in which Redis
//! checks arguments and keys (which decides the error a bad request gets).
use bytes::Bytes;

use crate::keyspace::Value;
use crate::list::{End, List};
use crate::notify::NotifyClass;
use crate::shard::{Out, Shard, err, parse_i64};

/// Looks up a list for reading: `Ok(None)` if missing, `Err` if another type.
pub(crate) fn read_list<'a>(
    shard: &'a mut Shard,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a List>, &'static str> {
    let clock = shard.clock;
    match shard.dbs[db].value(key, clock) {
        None => {
            shard.misses += 1;
            Ok(None)
        }
        Some(Value::List(l)) => {
            shard.hits += 1;
            Ok(Some(l))
        }
        Some(_) => {
            shard.hits += 1;
            Err(err::WRONGTYPE)
        }
    }
}

/// Whether `key` holds another type than a list (a missing key is fine).
pub(crate) fn is_wrong_type(shard: &mut Shard, db: usize, key: &[u8]) -> bool {
    let clock = shard.clock;
    matches!(shard.dbs[db].value(key, clock), Some(v) if !matches!(v, Value::List(_)))
}

/// Applies `f` to the list at `key` (created empty first if missing and `create`), keeping the
/// memory estimate right and deleting the key if the list ends up empty. `Ok(None)` if the key
/// is missing and not created.
pub(crate) fn modify<R>(
    shard: &mut Shard,
    db: usize,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut List) -> R,
) -> Result<Option<R>, &'static str> {
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    match d.value(key, clock) {
        Some(Value::List(l)) => {
            let before = l.mem();
            let r = f(l);
            let (after, empty) = (l.mem(), l.is_empty());
            d.resized(before, after);
            if empty {
                d.remove(key, clock);
            }
            Ok(Some(r))
        }
        Some(_) => Err(err::WRONGTYPE),
        None if create => {
            let mut l = List::default();
            let r = f(&mut l);
            if !l.is_empty() {
                d.insert(key, Value::List(l), None, clock);
            }
            Ok(Some(r))
        }
        None => Ok(None),
    }
}

/// Keyspace notification of a list command on `key`, followed by `del` if the command emptied
/// (and so deleted) the list, as Redis does.
pub(crate) fn notify_list(shard: &mut Shard, db: usize, event: &str, key: &[u8]) {
    if !shard.observed(db) {
        return;
    }
    shard.notify(db, NotifyClass::LIST, event, key);
    let clock = shard.clock;
    if shard.dbs[db].peek(key, clock).is_none() {
        shard.notify(db, NotifyClass::GENERIC, "del", key);
    }
}

/// The push event of `end`.
pub(crate) fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// The pop event of `end`.
pub(crate) fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// Redis's index normalisation: negative counts from the end.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// Clamps `start..=stop` as LRANGE/LTRIM do; `None` for an empty range.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

fn push_generic(
    shard: &mut Shard,
    db: usize,
    args: &[Bytes],
    out: &mut Out<'_>,
    end: End,
    x: bool,
) {
    let limits = shard.limits.list();
    let pushed = modify(shard, db, &args[1], !x, |l| {
        for elem in &args[2..] {
            l.push(end, elem, limits);
        }
        l.len()
    });
    match pushed {
        Ok(Some(n)) => {
            notify_list(shard, db, push_event(end), &args[1]);
            out.int(n as i64)
        }
        Ok(None) => out.int(0),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LPUSH key element [element ...]`
pub(crate) fn lpush(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    push_generic(shard, db, args, out, End::Left, false);
}

/// # Format
/// `RPUSH key element [element ...]`
pub(crate) fn rpush(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    push_generic(shard, db, args, out, End::Right, false);
}

/// # Format
/// `LPUSHX key element [element ...]`
pub(crate) fn lpushx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    push_generic(shard, db, args, out, End::Left, true);
}

/// # Format
/// `RPUSHX key element [element ...]`
pub(crate) fn rpushx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    push_generic(shard, db, args, out, End::Right, true);
}

fn pop_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, end: End) {
    if args.len() > 3 {
        return out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            if end == End::Left { "lpop" } else { "rpop" }
        ));
    }
    let count = match args.get(2) {
        None => None,
        Some(arg) => match parse_i64(arg) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return out.error(err::MUST_BE_POSITIVE),
        },
    };
    let limits = shard.limits.list();
    let popped = modify(shard, db, &args[1], false, |l| match count {
        None => vec![l.pop(end, limits).unwrap_or_default()],
        Some(n) => {
            let n = n.min(l.len());
            (0..n).filter_map(|_| l.pop(end, limits)).collect()
        }
    });
    if let Ok(Some(elems)) = &popped
        && !elems.is_empty()
    {
        notify_list(shard, db, pop_event(end), &args[1]);
    }
    match (popped, count) {
        (Err(e), _) => out.error(e),
        (Ok(None), None) => out.null(),
        (Ok(None), Some(_)) => out.null_array(),
        (Ok(Some(mut elems)), None) => out.bulk(&elems.pop().unwrap_or_default()),
        (Ok(Some(elems)), Some(_)) => {
            out.array_len(elems.len());
            for e in &elems {
                out.bulk(e);
            }
        }
    }
}

/// # Format
/// `LPOP key [count]`
pub(crate) fn lpop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    pop_generic(shard, db, args, out, End::Left);
}

/// # Format
/// `RPOP key [count]`
pub(crate) fn rpop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    pop_generic(shard, db, args, out, End::Right);
}

/// # Format
/// `LLEN key`
pub(crate) fn llen(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match read_list(shard, db, &args[1]) {
        Ok(l) => out.int(l.map_or(0, List::len) as i64),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LRANGE key start stop`
pub(crate) fn lrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(err::NOT_INT);
    };
    let l = match read_list(shard, db, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return out.array_len(0),
        Err(e) => return out.error(e),
    };
    let Some((start, stop)) = clamp_range(start, stop, l.len()) else {
        return out.array_len(0);
    };
    out.array_len(stop - start + 1);
    // Walk from the nearer end, as Redis does.
    if start > l.len() - 1 - stop {
        let elems: Vec<&[u8]> = l
            .iter()
            .rev()
            .skip(l.len() - 1 - stop)
            .take(stop - start + 1)
            .collect();
        for e in elems.into_iter().rev() {
            out.bulk(e);
        }
    } else {
        for e in l.iter().skip(start).take(stop - start + 1) {
            out.bulk(e);
        }
    }
}

/// # Format
/// `LINDEX key index`
pub(crate) fn lindex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let l = match read_list(shard, db, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return out.null(),
        Err(e) => return out.error(e),
    };
    let Some(index) = parse_i64(&args[2]) else {
        return out.error(err::NOT_INT);
    };
    match index_of(index, l.len()).and_then(|i| l.get(i)) {
        Some(e) => out.bulk(e),
        None => out.null(),
    }
}

/// # Format
/// `LSET key index element`
pub(crate) fn lset(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let len = match read_list(shard, db, &args[1]) {
        Ok(Some(l)) => l.len(),
        Ok(None) => return out.error(err::NO_SUCH_KEY),
        Err(e) => return out.error(e),
    };
    let Some(index) = parse_i64(&args[2]) else {
        return out.error(err::NOT_INT);
    };
    let Some(i) = index_of(index, len) else {
        return out.error("ERR index out of range");
    };
    let limits = shard.limits.list();
    match modify(shard, db, &args[1], false, |l| l.set(i, &args[3], limits)) {
        Ok(_) => {
            notify_list(shard, db, "lset", &args[1]);
            out.ok()
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LINSERT key <BEFORE | AFTER> pivot element`
pub(crate) fn linsert(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return out.error(err::SYNTAX);
    };
    let limits = shard.limits.list();
    let r = modify(shard, db, &args[1], false, |l| {
        if l.insert(&args[3], &args[4], after, limits) {
            l.len() as i64
        } else {
            -1
        }
    });
    match r {
        Ok(n) => {
            if n.is_some_and(|n| n > 0) {
                notify_list(shard, db, "linsert", &args[1]);
            }
            out.int(n.unwrap_or(0))
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LREM key count element`
pub(crate) fn lrem(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let Some(count) = parse_i64(&args[2]) else {
        return out.error(err::NOT_INT);
    };
    let limits = shard.limits.list();
    match modify(shard, db, &args[1], false, |l| {
        l.remove(&args[3], count, limits)
    }) {
        Ok(n) => {
            if n.is_some_and(|n| n > 0) {
                notify_list(shard, db, "lrem", &args[1]);
            }
            out.int(n.unwrap_or(0) as i64)
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LTRIM key start stop`
pub(crate) fn ltrim(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (Some(start), Some(stop)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(err::NOT_INT);
    };
    let limits = shard.limits.list();
    let r = modify(shard, db, &args[1], false, |l| {
        let len = l.len();
        match clamp_range(start, stop, l.len()) {
            Some((a, b)) => l.retain_range(a, b, limits),
            None => *l = List::default(),
        }
        len - l.len()
    });
    match r {
        Ok(found) => {
            if found.is_some() {
                notify_list(shard, db, "ltrim", &args[1]);
            }
            // Redis counts the elements removed.
            out.count_changes(found.unwrap_or(0) as u64);
            out.ok()
        }
        Err(e) => out.error(e),
    }
}

/// # Format
/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
pub(crate) fn lpos(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let known = [&b"rank"[..], b"count", b"maxlen"]
            .iter()
            .any(|o| opt.eq_ignore_ascii_case(o));
        let (true, Some(arg)) = (known, args.get(j + 1)) else {
            return out.error(err::SYNTAX);
        };
        let Some(n) = parse_i64(arg) else {
            return out.error(err::NOT_INT);
        };
        if opt.eq_ignore_ascii_case(b"rank") {
            if n == 0 {
                return out.error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
            rank = n;
        } else if opt.eq_ignore_ascii_case(b"count") {
            if n < 0 {
                return out.error("ERR COUNT can't be negative");
            }
            count = Some(n);
        } else if opt.eq_ignore_ascii_case(b"maxlen") {
            if n < 0 {
                return out.error("ERR MAXLEN can't be negative");
            }
            maxlen = n;
        } else {
            return out.error(err::SYNTAX);
        }
        j += 2;
    }
    let l = match read_list(shard, db, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) if count.is_some() => return out.array_len(0),
        Ok(None) => return out.null(),
        Err(e) => return out.error(e),
    };
    // Redis negates the rank in a C `long`, so `i64::MIN` stays negative and then matches
    // from the first match on; the wrapping arithmetic below reproduces that.
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let len = l.len();
    let elems: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
        Box::new(l.iter().rev())
    } else {
        Box::new(l.iter())
    };
    let mut found = Vec::new();
    let mut matches = 0i64;
    for (index, e) in elems.enumerate() {
        if maxlen != 0 && index as i64 >= maxlen {
            break;
        }
        if e != &args[2][..] {
            continue;
        }
        matches += 1;
        if matches >= rank {
            found.push(if from_tail { len - 1 - index } else { index });
            match count {
                None => break,
                Some(c) if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c => break,
                Some(_) => {}
            }
        }
    }
    match count {
        Some(_) => {
            out.array_len(found.len());
            for i in found {
                out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => out.int(i as i64),
            None => out.null(),
        },
    }
}

/// Moves one element between lists on this shard: `Ok(None)` if the source is missing or
/// empty. The destination's type is checked before anything is popped, as in Redis.
pub(crate) fn move_local(
    shard: &mut Shard,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Vec<u8>>, &'static str> {
    match read_list(shard, db, src)? {
        None => return Ok(None),
        Some(l) if l.is_empty() => return Ok(None),
        Some(_) => {}
    }
    if is_wrong_type(shard, db, dst) {
        return Err(err::WRONGTYPE);
    }
    let limits = shard.limits.list();
    let Some(Some(elem)) = modify(shard, db, src, false, |l| l.pop(from, limits))? else {
        return Ok(None);
    };
    modify(shard, db, dst, true, |l| l.push(to, &elem, limits))?;
    // As in Redis: the push on the destination, then the pop (and `del`) on the source.
    notify_list(shard, db, push_event(to), dst);
    notify_list(shard, db, pop_event(from), src);
    Ok(Some(elem))
}

/// # Format
/// `LMOVE source destination <LEFT | RIGHT> <LEFT | RIGHT>`
pub(crate) fn lmove(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
        return out.error(err::SYNTAX);
    };
    move_reply(move_local(shard, db, &args[1], &args[2], from, to), out);
}

/// # Format
/// `RPOPLPUSH source destination`
pub(crate) fn rpoplpush(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    move_reply(
        move_local(shard, db, &args[1], &args[2], End::Right, End::Left),
        out,
    );
}

fn move_reply(r: Result<Option<Vec<u8>>, &'static str>, out: &mut Out<'_>) {
    match r {
        Ok(Some(e)) => out.bulk(&e),
        Ok(None) => out.null(),
        Err(e) => out.error(e),
    }
}

/// Parsed `numkeys key [key ...] <LEFT | RIGHT> [COUNT count]` of LMPOP/BLMPOP.
#[derive(Debug, Clone)]
pub(crate) struct Mpop {
    pub(crate) keys: Vec<Bytes>,
    pub(crate) end: End,
    pub(crate) count: usize,
}

/// Parses LMPOP's arguments from `numkeys` on, with Redis's error texts.
pub(crate) fn parse_mpop(args: &[Bytes]) -> Result<Mpop, &'static str> {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match parse_i64(&args[0]) {
        Some(n) if n > 0 => n as usize,
        _ => return Err(NUMKEYS),
    };
    if numkeys > args.len().saturating_sub(2) {
        return Err(err::SYNTAX);
    }
    let keys = args[1..=numkeys].to_vec();
    let end = End::parse(&args[numkeys + 1]).ok_or(err::SYNTAX)?;
    let mut count = None;
    let mut j = numkeys + 2;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() && count.is_none() {
            match parse_i64(&args[j + 1]) {
                Some(n) if n > 0 => count = Some(n as usize),
                _ => return Err("ERR count should be greater than 0"),
            }
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok(Mpop {
        keys,
        end,
        count: count.unwrap_or(1),
    })
}

/// A key and the elements popped from it.
pub(crate) type Popped = (Bytes, Vec<Vec<u8>>);

/// Pops up to `count` elements from the first non-empty list of `keys` (in order):
/// `Ok(None)` if all are empty; WRONGTYPE if a key before the first non-empty list holds
/// another type.
pub(crate) fn mpop_local(
    shard: &mut Shard,
    db: usize,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<Popped>, &'static str> {
    let limits = shard.limits.list();
    for key in keys {
        let popped = modify(shard, db, key, false, |l| {
            let n = count.min(l.len());
            (0..n)
                .filter_map(|_| l.pop(end, limits))
                .collect::<Vec<_>>()
        })?;
        if let Some(elems) = popped
            && !elems.is_empty()
        {
            notify_list(shard, db, pop_event(end), key);
            return Ok(Some((key.clone(), elems)));
        }
    }
    Ok(None)
}

/// Writes `[key, [elements...]]`.
pub(crate) fn write_key_elems(out: &mut Out<'_>, key: &[u8], elems: &[Vec<u8>]) {
    out.array_len(2);
    out.bulk(key);
    out.array_len(elems.len());
    for e in elems {
        out.bulk(e);
    }
}

/// # Format
/// `LMPOP numkeys key [key ...] <LEFT | RIGHT> [COUNT count]`
pub(crate) fn lmpop(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let m = match parse_mpop(&args[1..]) {
        Ok(m) => m,
        Err(e) => return out.error(e),
    };
    match mpop_local(shard, db, &m.keys, m.end, m.count) {
        Ok(Some((key, elems))) => write_key_elems(out, &key, &elems),
        Ok(None) => out.null_array(),
        Err(e) => out.error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::BytesMut;
    use resp_codec::{Protocol, Request};

    use crate::route::route;

    /// Runs `cases` in order on a fresh shard; arity errors come from `route`, as in the
    /// server.
    pub(crate) fn run_cases(cases: &[(&[&str], &[u8])], proto: Protocol) {
        let mut shard = Shard::new(0, 1, 16);
        let show = |b: &[u8]| String::from_utf8_lossy(b).replace("\r\n", "\\r\\n");
        let mut failures = Vec::new();
        for (args, expected) in cases {
            let req = Request::new(
                args.iter()
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect(),
            );
            let got = match route(&req, 1) {
                Err(e) => [b"-".as_slice(), &e, b"\r\n"].concat(),
                Ok(_) => {
                    let mut buf = BytesMut::new();
                    let mut out = Out::new(&mut buf, proto);
                    shard.tick();
                    shard.execute(0, &req, &mut out);
                    buf.to_vec()
                }
            };
            if got != *expected {
                failures.push(format!(
                    "{args:?}: got {} want {}",
                    show(&got),
                    show(expected)
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} mismatches:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn replies_match_redis_byte_for_byte() {
        // Generated by running each command against redis-server 7.0.15, in order.
        const CASES: &[(&[&str], &[u8])] = include!("../tests/fixtures/replies/lists_resp2.rs");
        run_cases(CASES, Protocol::Resp2);
    }

    #[test]
    fn resp3_nulls_match_redis() {
        const CASES: &[(&[&str], &[u8])] = &[
            (&["LPOP", "nokey"], b"_\r\n"),
            (&["LPOP", "nokey", "2"], b"_\r\n"),
            (&["LMPOP", "1", "nokey", "LEFT"], b"_\r\n"),
            (&["LPOS", "nokey", "a"], b"_\r\n"),
            (&["LINDEX", "nokey", "0"], b"_\r\n"),
            (&["RPUSH", "k", "a"], b":1\r\n"),
            (&["LPOP", "k", "0"], b"*0\r\n"),
            (&["LMOVE", "nokey", "x", "left", "left"], b"_\r\n"),
        ];
        run_cases(CASES, Protocol::Resp3);
    }

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(-1, -1, 3), Some((2, 2)));
        assert_eq!(clamp_range(0, -4, 3), None);
        assert_eq!(index_of(-1, 3), Some(2));
        assert_eq!(index_of(-4, 3), None);
        assert_eq!(index_of(i64::MIN, 3), None);
        assert_eq!(index_of(3, 3), None);
    }

    #[test]
    fn list_max_listpack_size_is_live() {
        fn run(shard: &mut Shard, args: &[&str]) -> Vec<u8> {
            let req = Request::new(
                args.iter()
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect(),
            );
            let mut buf = BytesMut::new();
            shard.tick();
            shard.execute(0, &req, &mut Out::new(&mut buf, Protocol::Resp2));
            buf.to_vec()
        }
        fn packed(shard: &mut Shard, key: &str) -> bool {
            let clock = shard.clock;
            match shard.dbs[0].value(key.as_bytes(), clock) {
                Some(Value::List(l)) => matches!(l, List::Packed { .. }),
                _ => panic!("{key} is not a list"),
            }
        }
        let mut shard = Shard::new(0, 1, 16);
        run(&mut shard, &["RPUSH", "l", "a", "b", "c"]);
        assert!(packed(&mut shard, "l"));
        shard.limits.store(crate::EncodingLimits {
            list_max_listpack_size: 3,
            ..Default::default()
        });
        assert_eq!(run(&mut shard, &["LPUSH", "l", "z"]), b":4\r\n");
        assert!(!packed(&mut shard, "l"));
        assert_eq!(run(&mut shard, &["LTRIM", "l", "0", "0"]), b"+OK\r\n");
        assert!(packed(&mut shard, "l"));
        // -1: a 4 KiB node; 5000 bytes do not fit, and RPOPLPUSH/LMOVE follow it too.
        shard.limits.store(crate::EncodingLimits {
            list_max_listpack_size: -1,
            ..Default::default()
        });
        let big = "x".repeat(5000);
        run(&mut shard, &["RPUSH", "b", &big]);
        assert!(!packed(&mut shard, "b"));
        run(&mut shard, &["RPOPLPUSH", "b", "m"]);
        assert!(!packed(&mut shard, "m"));
        assert_eq!(run(&mut shard, &["LLEN", "m"]), b":1\r\n");
        shard.limits.store(crate::EncodingLimits::default());
        run(&mut shard, &["RPUSH", "d", &big]);
        assert!(packed(&mut shard, "d"));
    }
}
