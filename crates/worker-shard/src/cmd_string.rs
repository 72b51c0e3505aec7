//! String commands, with Redis 7.0's options, replies and error texts.
use bytes::Bytes;

use crate::keyspace::{Str, StrRef, Value};
use crate::longdouble::{self, F80, Parsed};
use crate::notify::NotifyClass;
use crate::shard::{Out, Shard, err, parse_i64};

/// Largest string Redis allows (`proto-max-bulk-len`, 512 MiB).
pub(crate) const MAX_STRING: usize = 512 * 1024 * 1024;

/// Writes a string value as a bulk string.
pub(crate) fn write_str(out: &mut Out<'_>, s: StrRef<'_>) {
    s.with_bytes(|b| out.bulk(b));
}

/// Looks up a string for reading: `Ok(None)` if missing, `Err` if another type.
fn read_str<'a>(
    shard: &'a mut Shard,
    db: usize,
    key: &[u8],
) -> Result<Option<StrRef<'a>>, &'static str> {
    let clock = shard.clock;
    if shard.notifier.flags != 0 && !shard.dbs[db].contains(key, clock) {
        // Only with notifications on: the extra lookup reports `keymiss` (class `m`).
        shard.misses += 1;
        shard.notify(db, NotifyClass::KEY_MISS, "keymiss", key);
        return Ok(None);
    }
    match shard.dbs[db].str_ref(key, clock) {
        None => {
            shard.misses += 1;
            Ok(None)
        }
        Some(found) => {
            shard.hits += 1;
            found.map(Some).map_err(|()| err::WRONGTYPE)
        }
    }
}

/// # Format
/// `GET key`
pub(crate) fn get(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => write_str(out, s),
        Ok(None) => out.null(),
        Err(e) => out.error(e),
    }
}

/// Time unit of an expiry argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unit {
    Seconds,
    Millis,
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry in unix ms, or the error text.
pub(crate) fn expire_ms(
    arg: &[u8],
    unit: Unit,
    relative: bool,
    now: i64,
    cmd: &str,
) -> Result<i64, String> {
    let n = parse_i64(arg).ok_or_else(|| err::NOT_INT.to_string())?;
    let invalid = || format!("ERR invalid expire time in '{cmd}' command");
    if n <= 0 || (unit == Unit::Seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if unit == Unit::Seconds { n * 1000 } else { n };
    let ms = if relative {
        ms.checked_add(now).ok_or_else(invalid)?
    } else {
        ms
    };
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms)
}

/// How `SET`/`GETEX` change the time to live.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ttl {
    /// Remove any time to live (plain `SET`).
    Clear,
    /// Keep the existing one (`KEEPTTL`, plain `GETEX`).
    Keep,
    /// Remove it (`GETEX PERSIST`).
    Persist,
    /// Expire at this unix time in ms.
    At(i64),
}

/// # Format
/// `SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | KEEPTTL]`
pub(crate) fn set(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
    let mut expire: Option<(&[u8], Unit, bool)> = None;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1);
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("nx") && !xx {
            nx = true;
        } else if is("xx") && !nx {
            xx = true;
        } else if is("get") {
            get = true;
        } else if is("keepttl") && expire.is_none() {
            keepttl = true;
        } else if let (Some(next), false) = (next, keepttl) {
            let (unit, relative) = if is("ex") {
                (Unit::Seconds, true)
            } else if is("px") {
                (Unit::Millis, true)
            } else if is("exat") {
                (Unit::Seconds, false)
            } else if is("pxat") {
                (Unit::Millis, false)
            } else {
                return out.error(err::SYNTAX);
            };
            // Redis accepts the same unit twice (the last wins) but not two different ones.
            if matches!(expire, Some((_, u, r)) if (u, r) != (unit, relative)) {
                return out.error(err::SYNTAX);
            }
            expire = Some((next, unit, relative));
            j += 1;
        } else {
            return out.error(err::SYNTAX);
        }
        j += 1;
    }
    let ttl = match expire {
        Some((arg, unit, relative)) => {
            match expire_ms(arg, unit, relative, shard.clock.now_ms, "set") {
                Ok(ms) => Ttl::At(ms),
                Err(e) => return out.error(&e),
            }
        }
        None if keepttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let key = &args[1][..];
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    // A plain SET needs no lookup before the insert, which replaces whatever is there.
    let old = if get || nx || xx {
        d.str_ref(key, clock)
    } else {
        None
    };
    let found = old.is_some();
    if get {
        match old {
            Some(Ok(s)) => write_str(out, s),
            Some(Err(())) => return out.error(err::WRONGTYPE),
            None => out.null(),
        }
    }
    // Counted here rather than guessed from the reply afterwards (SET is the commonest write).
    if (nx && found) || (xx && !found) {
        out.count_changes(0);
        if !get {
            out.null();
        }
        return;
    }
    out.count_changes(1);
    let value = &args[2][..];
    match ttl {
        Ttl::Keep | Ttl::Persist => {
            let at = d.peek(key, clock).and_then(|e| e.expire_at());
            d.insert_str(key, value, at, clock);
        }
        Ttl::Clear => {
            d.insert_str(key, value, None, clock);
        }
        Ttl::At(ms) => {
            d.insert_str(key, value, Some(ms), clock);
            if ms <= clock.now_ms {
                d.remove(key, clock);
            }
        }
    }
    shard.notify(db, NotifyClass::STRING, "set", key);
    if let Ttl::At(_) = ttl {
        shard.notify(db, NotifyClass::GENERIC, "expire", key);
    }
    if !get {
        out.ok();
    }
}

/// # Format
/// `SETNX key value`
pub(crate) fn setnx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    if d.contains(&args[1], clock) {
        return out.int(0);
    }
    d.insert_str(&args[1], &args[2], None, clock);
    shard.notify(db, NotifyClass::STRING, "set", &args[1]);
    out.int(1);
}

fn setex_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, unit: Unit) {
    let name = if unit == Unit::Seconds {
        "setex"
    } else {
        "psetex"
    };
    let ms = match expire_ms(&args[2], unit, true, shard.clock.now_ms, name) {
        Ok(ms) => ms,
        Err(e) => return out.error(&e),
    };
    let clock = shard.clock;
    shard.dbs[db].insert_str(&args[1], &args[3], Some(ms), clock);
    shard.notify(db, NotifyClass::STRING, "set", &args[1]);
    shard.notify(db, NotifyClass::GENERIC, "expire", &args[1]);
    out.ok();
}

/// # Format
/// `SETEX key seconds value`
pub(crate) fn setex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    setex_generic(shard, db, args, out, Unit::Seconds)
}

/// # Format
/// `PSETEX key milliseconds value`
pub(crate) fn psetex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    setex_generic(shard, db, args, out, Unit::Millis)
}

/// # Format
/// `GETSET key value`
pub(crate) fn getset(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => write_str(out, s),
        Ok(None) => out.null(),
        Err(e) => return out.error(e),
    }
    let clock = shard.clock;
    shard.dbs[db].insert_str(&args[1], &args[2], None, clock);
    shard.notify(db, NotifyClass::STRING, "set", &args[1]);
}

/// # Format
/// `GETDEL key`
pub(crate) fn getdel(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => write_str(out, s),
        Ok(None) => return out.null(),
        Err(e) => return out.error(e),
    }
    let clock = shard.clock;
    shard.dbs[db].remove(&args[1], clock);
    shard.notify(db, NotifyClass::GENERIC, "del", &args[1]);
}

/// # Format
/// `GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]`
pub(crate) fn getex(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let mut ttl = Ttl::Keep;
    let mut expire: Option<(&[u8], Unit, bool)> = None;
    let mut persist = false;
    let mut j = 2;
    while j < args.len() {
        let opt = &args[j][..];
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("persist") && expire.is_none() {
            persist = true;
        } else if let (Some(next), false) = (args.get(j + 1), persist) {
            let (unit, relative) = if is("ex") {
                (Unit::Seconds, true)
            } else if is("px") {
                (Unit::Millis, true)
            } else if is("exat") {
                (Unit::Seconds, false)
            } else if is("pxat") {
                (Unit::Millis, false)
            } else {
                return out.error(err::SYNTAX);
            };
            if matches!(expire, Some((_, u, r)) if (u, r) != (unit, relative)) {
                return out.error(err::SYNTAX);
            }
            expire = Some((next, unit, relative));
            j += 1;
        } else {
            return out.error(err::SYNTAX);
        }
        j += 1;
    }
    if let Some((arg, unit, relative)) = expire {
        match expire_ms(arg, unit, relative, shard.clock.now_ms, "getex") {
            Ok(ms) => ttl = Ttl::At(ms),
            Err(e) => return out.error(&e),
        }
    } else if persist {
        ttl = Ttl::Persist;
    }
    match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => write_str(out, s),
        Ok(None) => return out.null(),
        Err(e) => return out.error(e),
    }
    // Redis counts a change only when the time to live changed (below).
    out.count_changes(0);
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let event = match ttl {
        Ttl::At(ms) if ms <= clock.now_ms => {
            d.remove(&args[1], clock);
            "del"
        }
        Ttl::At(ms) => {
            d.set_expire(&args[1], Some(ms), clock);
            "expire"
        }
        Ttl::Persist => {
            let had = d
                .peek(&args[1], clock)
                .and_then(|e| e.expire_at())
                .is_some();
            if !had {
                return;
            }
            d.set_expire(&args[1], None, clock);
            "persist"
        }
        Ttl::Keep | Ttl::Clear => return,
    };
    out.count_changes(1);
    shard.notify(db, NotifyClass::GENERIC, event, &args[1]);
}

/// # Format
/// `MGET key [key ...]`
pub(crate) fn mget(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    out.array_len(args.len() - 1);
    for key in &args[1..] {
        // MGET answers nil for keys of other types instead of failing.
        match read_str(shard, db, key) {
            Ok(Some(s)) => write_str(out, s),
            _ => out.null(),
        }
    }
}

/// # Format
/// `MSET key value [key value ...]`
pub(crate) fn mset(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    if args.len().is_multiple_of(2) {
        return out.error("ERR wrong number of arguments for 'mset' command");
    }
    let clock = shard.clock;
    for pair in args[1..].chunks_exact(2) {
        shard.dbs[db].insert_str(&pair[0], &pair[1], None, clock);
        shard.notify(db, NotifyClass::STRING, "set", &pair[0]);
    }
    out.ok();
}

/// # Format
/// `MSETNX key value [key value ...]`
pub(crate) fn msetnx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    if args.len().is_multiple_of(2) {
        return out.error("ERR wrong number of arguments for 'msetnx' command");
    }
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    if args[1..]
        .chunks_exact(2)
        .any(|pair| d.contains(&pair[0], clock))
    {
        return out.int(0);
    }
    for pair in args[1..].chunks_exact(2) {
        shard.dbs[db].insert_str(&pair[0], &pair[1], None, clock);
        shard.notify(db, NotifyClass::STRING, "set", &pair[0]);
    }
    out.int(1);
}

fn incr_generic(shard: &mut Shard, db: usize, key: &[u8], by: i64, out: &mut Out<'_>) {
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let (current, ttl) = match d.entry_mut(key, clock) {
        None => (0, None),
        Some(e) => {
            let n = match (e.as_int(), e.str_ref()) {
                (Some(n), _) => n,
                (None, Some(s)) => match s.with_bytes(parse_i64) {
                    Some(n) => n,
                    None => return out.error(err::NOT_INT),
                },
                (None, None) => return out.error(err::WRONGTYPE),
            };
            (n, e.expire_at())
        }
    };
    let Some(new) = current.checked_add(by) else {
        return out.error("ERR increment or decrement would overflow");
    };
    // The new number replaces the entry (one allocation, as the old `Str` had), keeping the
    // time to live.
    d.insert_str(key, itoa::Buffer::new().format(new).as_bytes(), ttl, clock);
    shard.notify(db, NotifyClass::STRING, "incrby", key);
    out.int(new);
}

/// # Format
/// `INCR key`
pub(crate) fn incr(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    incr_generic(shard, db, &args[1], 1, out)
}

/// # Format
/// `DECR key`
pub(crate) fn decr(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    incr_generic(shard, db, &args[1], -1, out)
}

/// # Format
/// `INCRBY key increment`
pub(crate) fn incrby(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match parse_i64(&args[2]) {
        Some(by) => incr_generic(shard, db, &args[1], by, out),
        None => out.error(err::NOT_INT),
    }
}

/// # Format
/// `DECRBY key decrement`
pub(crate) fn decrby(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match parse_i64(&args[2]) {
        Some(i64::MIN) => out.error("ERR decrement would overflow"),
        Some(by) => incr_generic(shard, db, &args[1], -by, out),
        None => out.error(err::NOT_INT),
    }
}

/// # Format
/// `INCRBYFLOAT key increment`
pub(crate) fn incrbyfloat(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let key = &args[1][..];
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let current = match d.str_ref(key, clock) {
        None => Some(Parsed::Finite(F80::ZERO)),
        Some(Ok(s)) => s.with_bytes(longdouble::parse),
        Some(Err(())) => return out.error(err::WRONGTYPE),
    };
    let (Some(current), Some(by)) = (current, longdouble::parse(&args[2])) else {
        return out.error(err::NOT_FLOAT);
    };
    let sum = match (current, by) {
        (Parsed::Finite(a), Parsed::Finite(b)) => longdouble::add(a, b),
        _ => None,
    };
    let Some(sum) = sum else {
        return out.error("ERR increment would produce NaN or Infinity");
    };
    let text = longdouble::format(sum);
    out.bulk(text.as_bytes());
    // Redis stores the printed sum as a plain string, never int-encoded (`OBJECT ENCODING`
    // says embstr even for "3").
    let data = text.into_bytes();
    d.set_keep_ttl(key, Value::Str(Str::Bytes { data, raw: false }), clock);
    shard.notify(db, NotifyClass::STRING, "incrbyfloat", key);
}

/// # Format
/// `APPEND key value`
pub(crate) fn append(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let key = &args[1][..];
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    match d.value(key, clock) {
        None => {
            d.insert_str(key, &args[2], None, clock);
            out.int(args[2].len() as i64);
        }
        Some(Value::Str(s)) => {
            let total = s.len() + args[2].len();
            if total > MAX_STRING {
                return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let mut data = std::mem::replace(s, Str::Int(0)).into_vec();
            let old_cap = data.capacity();
            data.extend_from_slice(&args[2]);
            let new_cap = data.capacity();
            *s = Str::Bytes { data, raw: true };
            d.resized(old_cap, new_cap);
            out.int(total as i64);
        }
        Some(_) => out.error(err::WRONGTYPE),
    }
    shard.notify(db, NotifyClass::STRING, "append", key);
}

/// # Format
/// `STRLEN key`
pub(crate) fn strlen(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => out.int(s.len() as i64),
        Ok(None) => out.int(0),
        Err(e) => out.error(e),
    }
}

/// # Format
/// `GETRANGE key start end` (and `SUBSTR`)
pub(crate) fn getrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (Some(mut start), Some(mut end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return out.error(err::NOT_INT);
    };
    let s = match read_str(shard, db, &args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return out.bulk(b""),
        Err(e) => return out.error(e),
    };
    s.with_bytes(|b| {
        let len = b.len() as i64;
        if start < 0 && end < 0 && start > end {
            return out.bulk(b"");
        }
        if start < 0 {
            start += len;
        }
        if end < 0 {
            end += len;
        }
        start = start.max(0);
        end = end.max(0);
        if end >= len {
            end = len - 1;
        }
        if start > end || len == 0 {
            out.bulk(b"")
        } else {
            out.bulk(&b[start as usize..=end as usize])
        }
    })
}

/// # Format
/// `SETRANGE key offset value`
pub(crate) fn setrange(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let key = &args[1][..];
    let value = &args[3][..];
    let offset = match parse_i64(&args[2]) {
        Some(n) if n < 0 => return out.error("ERR offset is out of range"),
        Some(n) => n as usize,
        None => return out.error(err::NOT_INT),
    };
    let too_big = |len: usize| len.saturating_add(offset) > MAX_STRING;
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    match d.value(key, clock) {
        None => {
            if value.is_empty() {
                return out.int(0);
            }
            if too_big(value.len()) {
                return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let mut data = vec![0u8; offset + value.len()];
            data[offset..].copy_from_slice(value);
            let len = data.len();
            d.insert(key, Value::Str(Str::Bytes { data, raw: true }), None, clock);
            out.int(len as i64);
        }
        Some(Value::Str(s)) => {
            if value.is_empty() {
                return out.int(s.len() as i64);
            }
            if too_big(value.len()) {
                return out.error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let mut data = std::mem::replace(s, Str::Int(0)).into_vec();
            let old_cap = data.capacity();
            if data.len() < offset + value.len() {
                data.resize(offset + value.len(), 0);
            }
            data[offset..offset + value.len()].copy_from_slice(value);
            let (len, new_cap) = (data.len(), data.capacity());
            *s = Str::Bytes { data, raw: true };
            d.resized(old_cap, new_cap);
            out.int(len as i64);
        }
        Some(_) => out.error(err::WRONGTYPE),
    }
    shard.notify(db, NotifyClass::STRING, "setrange", key);
}

/// Options of `LCS`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LcsOpts {
    pub(crate) len: bool,
    pub(crate) idx: bool,
    pub(crate) min_match_len: i64,
    pub(crate) with_match_len: bool,
}

/// Parses `LCS` options (arguments after the two keys).
pub(crate) fn parse_lcs_opts(args: &[Bytes]) -> Result<LcsOpts, &'static str> {
    let mut o = LcsOpts::default();
    let mut j = 0;
    while j < args.len() {
        let opt = &args[j][..];
        let is = |s: &str| opt.eq_ignore_ascii_case(s.as_bytes());
        if is("idx") {
            o.idx = true;
        } else if is("len") {
            o.len = true;
        } else if is("withmatchlen") {
            o.with_match_len = true;
        } else if is("minmatchlen") && j + 1 < args.len() {
            o.min_match_len = parse_i64(&args[j + 1]).ok_or(err::NOT_INT)?.max(0);
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    if o.len && o.idx {
        return Err("ERR If you want both the length and indexes, please just use IDX.");
    }
    Ok(o)
}

/// Redis's `LCS` reply for strings `a` and `b` (a transcription of `lcsCommand`).
pub(crate) fn lcs_reply(a: &[u8], b: &[u8], o: LcsOpts) -> resp_codec::Frame {
    use resp_codec::Frame;
    let (alen, blen) = (a.len(), b.len());
    // Redis refuses a table larger than `proto-max-bulk-len` rather than allocate it.
    let table = (alen as u128 + 1) * (blen as u128 + 1) * 4;
    if table > MAX_STRING as u128 {
        return Frame::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    let w = blen + 1;
    // The dynamic-programming table of LCS lengths of every prefix pair, as in Redis.
    let mut dp = vec![0u32; (alen + 1) * w];
    for i in 1..=alen {
        for j in 1..=blen {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let lcs = |i: usize, j: usize| dp[i * w + j];
    let total = lcs(alen, blen) as usize;
    if o.len && !o.idx {
        return Frame::Integer(total as i64);
    }
    let mut result = vec![0u8; total];
    let mut matches = Vec::new();
    let (mut idx, mut i, mut j) = (total, alen, blen);
    // `arange_start == alen` means no range is being tracked.
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit_range = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = j - 1;
                brange_end = j - 1;
            } else if arange_start == i && brange_start == j {
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit_range = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit_range = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if lcs(i - 1, j) > lcs(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if arange_start != alen {
                emit_range = true;
            }
        }
        if emit_range {
            let match_len = arange_end - arange_start + 1;
            if o.min_match_len == 0 || match_len as i64 >= o.min_match_len {
                matches.push((
                    arange_start,
                    arange_end,
                    brange_start,
                    brange_end,
                    match_len,
                ));
            }
            arange_start = alen;
        }
    }
    if !o.idx {
        return Frame::Bulk(result.into());
    }
    let range =
        |s: usize, e: usize| Frame::Array(vec![Frame::Integer(s as i64), Frame::Integer(e as i64)]);
    let list = matches
        .into_iter()
        .map(|(a_start, a_end, b_start, b_end, len)| {
            let mut m = vec![range(a_start, a_end), range(b_start, b_end)];
            if o.with_match_len {
                m.push(Frame::Integer(len as i64));
            }
            Frame::Array(m)
        })
        .collect();
    Frame::Map(vec![
        (
            Frame::bulk(Bytes::from_static(b"matches")),
            Frame::Array(list),
        ),
        (
            Frame::bulk(Bytes::from_static(b"len")),
            Frame::Integer(total as i64),
        ),
    ])
}

/// The bytes of a string value for `LCS`, which treats a missing key as empty.
pub(crate) fn lcs_input(shard: &mut Shard, db: usize, key: &[u8]) -> Result<Vec<u8>, &'static str> {
    match read_str(shard, db, key) {
        Ok(s) => Ok(s.map(|s| s.to_vec()).unwrap_or_default()),
        Err(_) => Err(LCS_WRONGTYPE),
    }
}

/// `LCS`'s own type error.
pub(crate) const LCS_WRONGTYPE: &str = "ERR The specified keys must contain string values";

/// # Format
/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
pub(crate) fn lcs(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    // Redis checks the key types before the options.
    let (a, b) = match (
        lcs_input(shard, db, &args[1]),
        lcs_input(shard, db, &args[2]),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return out.error(e),
    };
    let opts = match parse_lcs_opts(&args[3..]) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let frame = lcs_reply(&a, &b, opts);
    out.failed = matches!(frame, resp_codec::Frame::Error(_));
    let mut buf = bytes::BytesMut::new();
    frame.encode(out.proto(), &mut buf);
    out.raw(&buf);
}
