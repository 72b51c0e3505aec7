//! `DUMP` and `RESTORE`: a value in Redis's serialization, the same encoder as RDB files.
use bytes::Bytes;

use crate::rdb;
use crate::shard::{Out, Shard, err, parse_i64};

/// # Format
///
/// `DUMP key`: the value's serialization, the RDB version (2 bytes) and a CRC64 (8 bytes);
/// nil if the key does not exist.
pub(crate) fn dump(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let clock = shard.clock;
    match shard.dbs[db].entry_mut(&args[1], clock) {
        None => out.null(),
        Some(e) => out.bulk(&rdb::encode_dump(&rdb::from_value(&e.as_value()))),
    }
}

/// # Format
///
/// `RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`:
/// creates `key` from a `DUMP` payload; `ttl` is milliseconds from now (or a unix time in
/// milliseconds with `ABSTTL`), 0 for none. Checks are made in Redis's order.
pub(crate) fn restore(shard: &mut Shard, db: usize, args: &[Bytes], out: &mut Out<'_>) {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None::<i64>, None::<i64>);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        let a = &args[j];
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && more >= 1 && freq.is_none() {
            let Some(n) = parse_i64(&args[j + 1]) else {
                return out.error(err::NOT_INT);
            };
            if n < 0 {
                return out.error("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(n);
            j += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && more >= 1 && idle.is_none() {
            let Some(n) = parse_i64(&args[j + 1]) else {
                return out.error(err::NOT_INT);
            };
            if !(0..=255).contains(&n) {
                return out.error("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(n);
            j += 1;
        } else {
            return out.error(err::SYNTAX);
        }
        j += 1;
    }
    let clock = shard.clock;
    let key = &args[1];
    if !replace && shard.dbs[db].peek(key, clock).is_some() {
        return out.error("BUSYKEY Target key name already exists.");
    }
    let Some(ttl) = parse_i64(&args[2]) else {
        return out.error(err::NOT_INT);
    };
    if ttl < 0 {
        return out.error("ERR Invalid TTL value, must be >= 0");
    }
    let value = match rdb::decode_dump(&args[3]) {
        Err(None) => return out.error("ERR DUMP payload version or checksum are wrong"),
        Err(Some(_)) => return out.error("ERR Bad data format"),
        Ok(v) => v,
    };
    // A type kvd does not hold yet is refused like a payload Redis cannot load.
    let Ok(value) = rdb::into_value(value) else {
        return out.error("ERR Bad data format");
    };
    let d = &mut shard.dbs[db];
    if replace {
        d.remove(key, clock);
    }
    let expire_at = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(t.saturating_add(clock.now_ms)),
    };
    if expire_at.is_some_and(|at| at <= clock.now_ms) {
        // Already expired: Redis answers OK and leaves the key deleted.
        return out.ok();
    }
    d.insert(key, value, expire_at, clock);
    // As Redis's objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME otherwise.
    let lfu = shard.evictor.config.policy.is_lfu();
    let d = &mut shard.dbs[db];
    match (idle, freq) {
        (Some(secs), _) if !lfu => {
            d.set_idle_secs(key, secs, clock);
        }
        (_, Some(freq)) if lfu => {
            let word = crate::evict::lfu_with_counter(clock.now_ms, freq as u8);
            d.set_access_word(key, word, clock);
        }
        _ => {}
    }
    out.ok();
}
