//! Generic key commands (`DEL`, `EXPIRE`, `SCAN`, ...) and server commands that touch the
//! keyspace (`DBSIZE`, `FLUSHDB`, `DEBUG POPULATE`).
use bytes::Bytes;

use crate::keyspace::glob_match;
use crate::notify::NotifyClass;
use crate::shard::{Out, Shard, err, parse_i64};

/// # Format
/// `DEL key [key ...]` (and `UNLINK`)
pub(crate) fn del(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let mut n = 0;
    for key in &args[1..] {
        if shard.dbs[db].remove(key, clock).is_some() {
            n += 1;
            shard.notify(db, NotifyClass::GENERIC, "del", key);
        }
    }
    out.int(n as i64);
}

/// # Format
/// `EXISTS key [key ...]` (a key given twice counts twice)
pub(crate) fn exists(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let mut n = 0;
    for key in &args[1..] {
        if shard.dbs[db].peek(key, clock).is_some() {
            n += 1;
        } else {
            shard.notify(db, NotifyClass::KEY_MISS, "keymiss", key);
        }
    }
    out.int(n as i64);
}

/// # Format
/// `TOUCH key [key ...]`
pub(crate) fn touch(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let n = args[1..]
        .iter()
        .filter(|k| d.entry_mut(k, clock).is_some())
        .count();
    out.int(n as i64);
}

/// # Format
/// `TYPE key`
pub(crate) fn type_(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    match shard.dbs[db].peek(&args[1], clock) {
        Some(e) => out.simple(e.type_name()),
        None => out.simple("none"),
    }
}

/// Conditions of `EXPIRE ... [NX | XX | GT | LT]`.
#[derive(Debug, Default, Clone, Copy)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(args: &[Bytes]) -> Result<ExpireFlags, String> {
    let mut f = ExpireFlags::default();
    for opt in args {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            _ => {
                return Err(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ));
            }
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if f.gt && f.lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    Ok(f)
}

/// Redis's `expireGenericCommand`.
fn expire_generic(
    shard: &mut Shard,
    db: usize,
    args: &[Bytes],
    out: &mut Out<'_>,
    seconds: bool,
    relative: bool,
    name: &str,
) {
    let flags = match parse_expire_flags(&args[3..]) {
        Ok(f) => f,
        Err(e) => return out.error(&e),
    };
    let Some(mut when) = parse_i64(&args[2]) else {
        return out.error(err::NOT_INT);
    };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return out.error(&invalid);
        }
        when *= 1000;
    }
    let base = if relative { shard.clock.now_ms } else { 0 };
    let Some(when) = when.checked_add(base) else {
        return out.error(&invalid);
    };
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let Some(entry) = d.peek(&args[1], clock) else {
        return out.int(0);
    };
    let current = entry.expire_at();
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|c| when <= c))
        || (flags.lt && current.is_some_and(|c| when >= c));
    if refused {
        return out.int(0);
    }
    let event = if when <= clock.now_ms {
        d.remove(&args[1], clock);
        "del"
    } else {
        d.set_expire(&args[1], Some(when), clock);
        "expire"
    };
    shard.notify(db, NotifyClass::GENERIC, event, &args[1]);
    out.int(1);
}

/// # Format
/// `EXPIRE key seconds [NX | XX | GT | LT]`
pub(crate) fn expire(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    expire_generic(shard, db, args, out, true, true, "expire")
}

/// # Format
/// `PEXPIRE key milliseconds [NX | XX | GT | LT]`
pub(crate) fn pexpire(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    expire_generic(shard, db, args, out, false, true, "pexpire")
}

/// # Format
/// `EXPIREAT key unix-time-seconds [NX | XX | GT | LT]`
pub(crate) fn expireat(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    expire_generic(shard, db, args, out, true, false, "expireat")
}

/// # Format
/// `PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]`
pub(crate) fn pexpireat(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    expire_generic(shard, db, args, out, false, false, "pexpireat")
}

/// Shared body of `TTL`, `PTTL`, `EXPIRETIME` and `PEXPIRETIME`.
fn ttl_generic(shard: &mut Shard, db: usize, key: &[u8], out: &mut Out<'_>, ms: bool, abs: bool) {
    let clock = shard.clock;
    let Some(entry) = shard.dbs[db].peek(key, clock) else {
        return out.int(-2);
    };
    let Some(at) = entry.expire_at() else {
        return out.int(-1);
    };
    let n = match (abs, ms) {
        (true, true) => at,
        (true, false) => at / 1000,
        (false, true) => (at - clock.now_ms).max(0),
        (false, false) => ((at - clock.now_ms).max(0) + 500) / 1000,
    };
    out.int(n);
}

/// # Format
/// `TTL key`
pub(crate) fn ttl(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    ttl_generic(shard, db, &args[1], out, false, false)
}

/// # Format
/// `PTTL key`
pub(crate) fn pttl(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    ttl_generic(shard, db, &args[1], out, true, false)
}

/// # Format
/// `EXPIRETIME key`
pub(crate) fn expiretime(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    ttl_generic(shard, db, &args[1], out, false, true)
}

/// # Format
/// `PEXPIRETIME key`
pub(crate) fn pexpiretime(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    ttl_generic(shard, db, &args[1], out, true, true)
}

/// # Format
/// `PERSIST key`
pub(crate) fn persist(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    let has_ttl = d
        .peek(&args[1], clock)
        .and_then(|e| e.expire_at())
        .is_some();
    if has_ttl {
        d.set_expire(&args[1], None, clock);
        shard.notify(db, NotifyClass::GENERIC, "persist", &args[1]);
    }
    out.int(has_ttl as i64);
}

/// Every live key of `db` matching `pattern`.
pub(crate) fn matching_keys(shard: &Shard, db: usize, pattern: &[u8]) -> Vec<Bytes> {
    let all = pattern == b"*";
    let mut keys = Vec::new();
    shard.dbs[db].for_each_key(shard.clock.now_ms, |k, _| {
        if all || glob_match(pattern, k, false) {
            keys.push(Bytes::copy_from_slice(k));
        }
    });
    keys
}

/// # Format
/// `KEYS pattern`
pub(crate) fn keys(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let keys = matching_keys(shard, db, &args[1]);
    out.array_len(keys.len());
    for k in &keys {
        out.bulk(k);
    }
}

/// Parsed `SCAN` arguments.
#[derive(Debug, Clone)]
pub(crate) struct ScanArgs {
    pub(crate) cursor: u64,
    pub(crate) pattern: Option<Bytes>,
    pub(crate) count: usize,
    pub(crate) type_name: Option<Bytes>,
}

/// Parses `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]` (the arguments after the name).
pub(crate) fn parse_scan(args: &[Bytes]) -> Result<ScanArgs, &'static str> {
    let cursor = parse_cursor(&args[0]).ok_or("ERR invalid cursor")?;
    let mut scan = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut j = 1;
    while j < args.len() {
        let opt = args[j].to_ascii_lowercase();
        let Some(value) = args.get(j + 1) else {
            return Err(err::SYNTAX);
        };
        match opt.as_slice() {
            b"count" => {
                let n = parse_i64(value).ok_or(err::NOT_INT)?;
                if n < 1 {
                    return Err(err::SYNTAX);
                }
                scan.count = n as usize;
            }
            b"match" => scan.pattern = Some(value.clone()),
            b"type" => scan.type_name = Some(value.clone()),
            _ => return Err(err::SYNTAX),
        }
        j += 2;
    }
    Ok(scan)
}

/// Parses a cursor as Redis does with `strtoul`: an optional sign (a negative value wraps), no
/// leading space, nothing after the digits, no overflow; the empty string is cursor 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        None => return Some(0),
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Parses `SWAPDB index1 index2` with Redis's errors; the range is checked by the shard.
pub(crate) fn parse_swapdb(args: &[Bytes]) -> Result<(i64, i64), &'static str> {
    let a = parse_i64(&args[1]).ok_or("ERR invalid first DB index")?;
    let b = parse_i64(&args[2]).ok_or("ERR invalid second DB index")?;
    Ok((a, b))
}

/// Swaps two databases of this shard.
pub(crate) fn swap_dbs(shard: &mut Shard, a: i64, b: i64) -> Result<(), &'static str> {
    let n = shard.dbs.len() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(err::DB_RANGE);
    }
    let (a, b) = (a as usize, b as usize);
    if a != b {
        // A background snapshot must record each database under the index it had at the
        // snapshot instant: complete both, swap the data, keep the snapshots in place.
        shard.dbs[a].finish_snapshot();
        shard.dbs[b].finish_snapshot();
        shard.dbs.swap(a, b);
        let (lo, hi) = shard.dbs.split_at_mut(a.max(b));
        crate::keyspace::Db::swapped(&mut lo[a.min(b)], &mut hi[0]);
        crate::keyspace::Db::swap_snapshots(&mut lo[a.min(b)], &mut hi[0]);
    }
    Ok(())
}

/// # Format
/// `SWAPDB index1 index2`
pub(crate) fn swapdb(shard: &mut Shard, _db: usize, args: &[Bytes], out: &mut Out<'_>) {
    match parse_swapdb(args).and_then(|(a, b)| swap_dbs(shard, a, b)) {
        Ok(()) => out.ok(),
        Err(e) => out.error(e),
    }
}

/// One SCAN step on this shard: `(next slot cursor, keys)`.
pub(crate) fn scan_step(shard: &mut Shard, db: usize, scan: &ScanArgs) -> (u64, Vec<Bytes>) {
    let mut keys = Vec::new();
    let pattern = scan.pattern.as_deref().filter(|p| *p != b"*");
    let type_name = scan.type_name.as_deref();
    let clock = shard.clock;
    let next = shard.dbs[db].scan(scan.cursor, scan.count, clock, |k, e| {
        let type_ok = type_name.is_none_or(|t| t.eq_ignore_ascii_case(e.type_name().as_bytes()));
        if type_ok && pattern.is_none_or(|p| glob_match(p, k, false)) {
            keys.push(Bytes::copy_from_slice(k));
        }
    });
    (next, keys)
}

/// # Format
/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
pub(crate) fn scan(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let scan = match parse_scan(&args[1..]) {
        Ok(s) => s,
        Err(e) => return out.error(e),
    };
    let (next, keys) = scan_step(shard, db, &scan);
    out.array_len(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array_len(keys.len());
    for k in &keys {
        out.bulk(k);
    }
}

/// # Format
/// `RANDOMKEY`
pub(crate) fn randomkey(shard: &mut Shard, db: usize, _args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    match shard.dbs[db].random_key(&mut shard.rng, clock) {
        Some(k) => out.bulk(&k),
        None => out.null(),
    }
}

/// # Format
/// `RENAME key newkey`
pub(crate) fn rename(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    rename_generic(shard, db, args, out, false)
}

/// # Format
/// `RENAMENX key newkey`
pub(crate) fn renamenx(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    rename_generic(shard, db, args, out, true)
}

fn rename_generic(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>, nx: bool) {
    let (src, dst) = (&args[1][..], &args[2][..]);
    let clock = shard.clock;
    let d = &mut shard.dbs[db];
    if !d.contains(src, clock) {
        return out.error(err::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { out.int(0) } else { out.ok() };
    }
    if nx && d.contains(dst, clock) {
        return out.int(0);
    }
    if let Some(e) = d.remove(src, clock) {
        let at = e.expire_at();
        d.insert(dst, e.into_value(), at, clock);
        shard.notify(db, NotifyClass::GENERIC, "rename_from", src);
        shard.notify(db, NotifyClass::GENERIC, "rename_to", dst);
    }
    if nx { out.int(1) } else { out.ok() }
}

/// # Format
/// `COPY source destination [DB destination-db] [REPLACE]`
pub(crate) fn copy(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let opts = match parse_copy(&args[3..], shard.dbs.len()) {
        Ok(o) => o,
        Err(e) => return out.error(e),
    };
    let dst_db = opts.db.unwrap_or(db);
    let (src, dst) = (&args[1][..], &args[2][..]);
    if src == dst && dst_db == db {
        return out.error(err::SAME_OBJECT);
    }
    let clock = shard.clock;
    let Some(e) = shard.dbs[db].peek(src, clock) else {
        return out.int(0);
    };
    let (value, at) = (e.to_value(), e.expire_at());
    let target = &mut shard.dbs[dst_db];
    if !opts.replace && target.contains(dst, clock) {
        return out.int(0);
    }
    target.insert(dst, value, at, clock);
    shard.notify(dst_db, NotifyClass::GENERIC, "copy_to", dst);
    out.int(1);
}

/// Parsed `COPY` options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopyOpts {
    pub(crate) db: Option<usize>,
    pub(crate) replace: bool,
}

/// Parses `[DB destination-db] [REPLACE]`.
pub(crate) fn parse_copy(args: &[Bytes], databases: usize) -> Result<CopyOpts, &'static str> {
    let mut o = CopyOpts {
        db: None,
        replace: false,
    };
    let mut j = 0;
    while j < args.len() {
        let opt = args[j].to_ascii_lowercase();
        if opt == b"replace" {
            o.replace = true;
        } else if opt == b"db" && j + 1 < args.len() {
            let n = parse_i64(&args[j + 1])
                .filter(|n| i32::try_from(*n).is_ok())
                .ok_or(err::NOT_INT)?;
            if n < 0 || n as usize >= databases {
                return Err(err::DB_RANGE);
            }
            o.db = Some(n as usize);
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    Ok(o)
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Redis shares integer objects below this value, which `OBJECT REFCOUNT` reports as
/// `OBJ_SHARED_REFCOUNT`.
const SHARED_INTEGERS: i64 = 10_000;

/// # Format
/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`, `OBJECT HELP`
pub(crate) fn object(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let sub = args[1].to_ascii_lowercase();
    if sub == b"help" && args.len() == 2 {
        out.array_len(OBJECT_HELP.len());
        for line in OBJECT_HELP {
            out.simple(line);
        }
        return;
    }
    let known = matches!(
        sub.as_slice(),
        b"encoding" | b"freq" | b"idletime" | b"refcount"
    );
    if !known || args.len() != 3 {
        return out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try OBJECT HELP.",
            String::from_utf8_lossy(&args[1])
        ));
    }
    let clock = shard.clock;
    let Some(e) = shard.dbs[db].peek(&args[2], clock) else {
        return out.null();
    };
    let eviction = shard.evictor.config;
    let lfu = eviction.policy.is_lfu();
    match sub.as_slice() {
        b"encoding" => out.bulk(e.encoding().as_bytes()),
        b"idletime" if lfu => out.error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. \
             Please note that when switching between policies at runtime LRU and LFU data \
             will take some time to adjust.",
        ),
        b"idletime" => out.int(e.idle_secs(clock) as i64),
        b"refcount" => match e.as_int() {
            Some(n) if (0..SHARED_INTEGERS).contains(&n) => out.int(i32::MAX as i64),
            _ => out.int(1),
        },
        _ if lfu => out.int(i64::from(crate::evict::lfu_counter(
            e.access_word(),
            clock.now_ms,
            eviction.lfu_decay_time,
        ))),
        _ => out.error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
             Please note that when switching between policies at runtime LRU and LFU data \
             will take some time to adjust.",
        ),
    }
}

/// # Format
/// `DBSIZE`
pub(crate) fn dbsize(shard: &mut Shard, db: usize, _args: &[Bytes], out: &mut Out<'_>) {
    out.int(shard.dbs[db].len() as i64);
}

/// Checks `FLUSHDB`/`FLUSHALL`'s optional `ASYNC | SYNC` argument.
pub(crate) fn parse_flush(args: &[Bytes]) -> Result<(), &'static str> {
    match args {
        [] => Ok(()),
        [mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {
            Ok(())
        }
        _ => Err(err::SYNTAX),
    }
}

/// # Format
/// `FLUSHDB [ASYNC | SYNC]`
pub(crate) fn flushdb(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    if let Err(e) = parse_flush(&args[1..]) {
        return out.error(e);
    }
    shard.dbs[db].clear();
    out.ok();
}

/// # Format
/// `FLUSHALL [ASYNC | SYNC]`
pub(crate) fn flushall(shard: &mut Shard, _db: usize, args: &[Bytes], out: &mut Out<'_>) {
    if let Err(e) = parse_flush(&args[1..]) {
        return out.error(e);
    }
    shard.dbs.iter_mut().for_each(|d| d.clear());
    if shard.flushed_all() {
        // The save that follows absorbs the change, as in Redis.
        out.count_changes(0);
    }
    out.ok();
}

/// Parsed `DEBUG POPULATE count [prefix] [size]`.
#[derive(Debug, Clone)]
pub(crate) struct Populate {
    pub(crate) count: u64,
    pub(crate) prefix: Bytes,
    pub(crate) size: usize,
}

/// Redis's reply to a `DEBUG` subcommand it does not know or with a wrong argument count.
pub(crate) fn debug_unknown(sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(sub)
    )
}

/// Parses `DEBUG POPULATE ...` (the whole request).
pub(crate) fn parse_populate(args: &[Bytes]) -> Result<Populate, String> {
    if !(3..=5).contains(&args.len()) {
        return Err(debug_unknown(&args[1]));
    }
    let positive = |a: &[u8]| {
        parse_i64(a)
            .filter(|n| *n >= 0)
            .ok_or_else(|| err::MUST_BE_POSITIVE.to_string())
    };
    let count = positive(&args[2])? as u64;
    let prefix = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| Bytes::from_static(b"key"));
    let size = match args.get(4) {
        Some(s) => positive(s)? as usize,
        None => 0,
    };
    Ok(Populate {
        count,
        prefix,
        size,
    })
}

/// Creates the `DEBUG POPULATE` keys that live on this shard, skipping existing ones.
pub(crate) fn populate(shard: &mut Shard, db: usize, p: &Populate) {
    let clock = shard.clock;
    let (id, n) = (shard.id, shard.shard_count);
    let mut key = Vec::with_capacity(p.prefix.len() + 21);
    let mut val = Vec::new();
    for j in 0..p.count {
        key.clear();
        key.extend_from_slice(&p.prefix);
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        if n > 1 && partition_router::shard_for(&key, n) != id {
            continue;
        }
        let d = &mut shard.dbs[db];
        if d.contains(&key, clock) {
            continue;
        }
        val.clear();
        val.extend_from_slice(b"value:");
        val.extend_from_slice(itoa::Buffer::new().format(j).as_bytes());
        if p.size > 0 {
            val.resize(p.size, 0);
        }
        d.insert_str(&key, &val, None, clock);
    }
}

/// # Format
/// `DEBUG POPULATE count [prefix] [size]` (other subcommands are answered by the IO layer)
pub(crate) fn debug(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    if !args[1].eq_ignore_ascii_case(b"populate") {
        return out.error(&debug_unknown(&args[1]));
    }
    match parse_populate(args) {
        Ok(p) => {
            populate(shard, db, &p);
            out.ok();
        }
        Err(e) => out.error(&e),
    }
}
