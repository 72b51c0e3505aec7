//! What the hash, set and sorted set commands share: typed lookups, the bookkeeping after an
//! in-place change (memory, deleting an emptied key), the encoding limits and `*SCAN` options.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use crate::cmd_keys::parse_cursor;
use crate::hash::{HLimits, Hash};
use crate::keyspace::{Clock, Db, Value, glob_match};
use crate::list::LLimits;
use crate::notify::NotifyClass;
use crate::set::Set;
use crate::shard::{Out, Shard, err, parse_i64};
use crate::zset::{ZLimits, ZSet};

/// The compact-encoding thresholds of the collection types, as Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    /// `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`), 128.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value` (alias `hash-max-ziplist-value`), 64.
    pub hash_max_listpack_value: usize,
    /// `set-max-intset-entries`, 512.
    pub set_max_intset_entries: usize,
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`), 128.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value` (alias `zset-max-ziplist-value`), 64.
    pub zset_max_listpack_value: usize,
    /// `list-max-listpack-size` (alias `list-max-ziplist-size`), -2: the packed form of a list
    /// holds at most 4/8/16/32/64 KiB for -1..-5, or that many elements (within 8 KiB) if
    /// positive.
    pub list_max_listpack_size: i32,
}

impl Default for EncodingLimits {
    fn default() -> EncodingLimits {
        EncodingLimits {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

/// [`EncodingLimits`] shared by every worker of a pool, so `CONFIG SET` is a few stores.
#[derive(Debug, Default)]
pub(crate) struct SharedLimits([AtomicUsize; 7]);

impl SharedLimits {
    pub(crate) fn new(l: EncodingLimits) -> Arc<SharedLimits> {
        let s = Arc::new(SharedLimits::default());
        s.store(l);
        s
    }

    pub(crate) fn store(&self, l: EncodingLimits) {
        let list = LLimits::from_fill(l.list_max_listpack_size);
        let v = [
            l.hash_max_listpack_entries,
            l.hash_max_listpack_value,
            l.set_max_intset_entries,
            l.zset_max_listpack_entries,
            l.zset_max_listpack_value,
            list.bytes,
            list.entries,
        ];
        for (a, v) in self.0.iter().zip(v) {
            a.store(v, Ordering::Relaxed);
        }
    }

    fn at(&self, i: usize) -> usize {
        self.0[i].load(Ordering::Relaxed)
    }

    pub(crate) fn hash(&self) -> HLimits {
        HLimits {
            entries: self.at(0),
            value: self.at(1),
        }
    }

    pub(crate) fn intset(&self) -> usize {
        self.at(2)
    }

    pub(crate) fn list(&self) -> LLimits {
        LLimits {
            bytes: self.at(5),
            entries: self.at(6),
        }
    }

    pub(crate) fn zset(&self) -> ZLimits {
        ZLimits {
            entries: self.at(3),
            value: self.at(4),
        }
    }
}

/// Picks one type out of a value.
pub(crate) trait Pick: Sized {
    fn pick(v: &mut Value) -> Option<&mut Self>;
    fn len(&self) -> usize;
    fn mem(&self) -> usize;
}

macro_rules! pick {
    ($t:ty, $variant:ident) => {
        impl Pick for $t {
            fn pick(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn len(&self) -> usize {
                <$t>::len(self)
            }
            fn mem(&self) -> usize {
                <$t>::mem(self)
            }
        }
    };
}
pick!(Hash, Hash);
pick!(Set, Set);
pick!(ZSet, ZSet);

/// A collection for reading: `Ok(None)` if missing, `Err(WRONGTYPE)` if of another type.
/// Counts keyspace hits and misses.
pub(crate) fn read<'a, T: Pick>(
    shard: &'a mut Shard,
    db: usize,
    key: &[u8],
) -> Result<Option<&'a mut T>, &'static str> {
    let clock = shard.clock;
    match shard.dbs[db].value(key, clock) {
        None => {
            shard.misses += 1;
            Ok(None)
        }
        Some(v) => {
            shard.hits += 1;
            T::pick(v).map(Some).ok_or(err::WRONGTYPE)
        }
    }
}

/// A collection for writing, without counting hits.
pub(crate) fn write<'a, T: Pick>(
    d: &'a mut Db,
    key: &[u8],
    clock: Clock,
) -> Result<Option<&'a mut T>, &'static str> {
    match d.value(key, clock) {
        None => Ok(None),
        Some(v) => T::pick(v).map(Some).ok_or(err::WRONGTYPE),
    }
}

/// Applies `f` to the collection at `key` (created with `create` if missing), then keeps the
/// memory estimate right and deletes the key if `f` left it empty.
pub(crate) fn update<T: Pick, R>(
    d: &mut Db,
    key: &[u8],
    clock: Clock,
    create: impl FnOnce() -> Value,
    f: impl FnOnce(&mut T) -> R,
) -> Result<R, &'static str> {
    if write::<T>(d, key, clock)?.is_none() {
        d.insert(key, create(), None, clock);
    }
    let Some(t) = write::<T>(d, key, clock)? else {
        return Err(err::WRONGTYPE);
    };
    let old = t.mem();
    let r = f(t);
    let (new, empty) = (t.mem(), t.len() == 0);
    d.resized(old, new);
    if empty {
        d.remove(key, clock);
    }
    Ok(r)
}

/// Like [`update`] for an existing key only: `Ok(None)` if the key is missing.
pub(crate) fn update_existing<T: Pick, R>(
    d: &mut Db,
    key: &[u8],
    clock: Clock,
    f: impl FnOnce(&mut T) -> R,
) -> Result<Option<R>, &'static str> {
    let Some(t) = write::<T>(d, key, clock)? else {
        return Ok(None);
    };
    let old = t.mem();
    let r = f(t);
    let (new, empty) = (t.mem(), t.len() == 0);
    d.resized(old, new);
    if empty {
        d.remove(key, clock);
    }
    Ok(Some(r))
}

/// Options of `HSCAN`/`SSCAN`/`ZSCAN` after the cursor.
#[derive(Debug)]
pub(crate) struct ScanOpts<'a> {
    pub(crate) pattern: Option<&'a [u8]>,
    pub(crate) count: usize,
}

/// Parses `[MATCH pattern] [COUNT count]`.
/// Reports `event` on `key` and, if the command emptied it (so it was deleted), `del`, as
/// Redis's collection commands do.
pub(crate) fn notify_changed(
    shard: &mut Shard,
    db: usize,
    class: NotifyClass,
    event: &str,
    key: &[u8],
) {
    if !shard.observed(db) {
        return;
    }
    shard.notify(db, class, event, key);
    let clock = shard.clock;
    if shard.dbs[db].peek(key, clock).is_none() {
        shard.notify(db, NotifyClass::GENERIC, "del", key);
    }
}

/// Reports a store command (`SINTERSTORE`, `ZUNIONSTORE`, ...) as Redis does: `event` on the
/// destination if the result was stored, `del` if an empty result deleted an existing key.
pub(crate) fn notify_store(
    shard: &mut Shard,
    db: usize,
    class: NotifyClass,
    event: &str,
    key: &[u8],
    existed: bool,
    stored: usize,
) {
    if stored > 0 {
        shard.notify(db, class, event, key);
    } else if existed {
        shard.notify(db, NotifyClass::GENERIC, "del", key);
    }
}

/// Whether `key` exists, checked only when notifications are on (for [`notify_store`]).
pub(crate) fn exists_if_notifying(shard: &mut Shard, db: usize, key: &[u8]) -> bool {
    if shard.notifier.flags == 0 {
        return false;
    }
    let clock = shard.clock;
    shard.dbs[db].peek(key, clock).is_some()
}

pub(crate) fn parse_scan_opts(args: &[Bytes]) -> Result<ScanOpts<'_>, &'static str> {
    let mut opts = ScanOpts {
        pattern: None,
        count: 10,
    };
    let mut j = 0;
    while j < args.len() {
        let Some(value) = args.get(j + 1) else {
            return Err(err::SYNTAX);
        };
        let opt = &args[j][..];
        if opt.eq_ignore_ascii_case(b"count") {
            let n = parse_i64(value).ok_or(err::NOT_INT)?;
            if n < 1 {
                return Err(err::SYNTAX);
            }
            opts.count = n as usize;
        } else if opt.eq_ignore_ascii_case(b"match") {
            opts.pattern = Some(value);
        } else {
            return Err(err::SYNTAX);
        }
        j += 2;
    }
    Ok(opts)
}

impl ScanOpts<'_> {
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        match self.pattern {
            None => true,
            Some(p) if p == b"*" => true,
            Some(p) => glob_match(p, s, false),
        }
    }
}

/// The parsed cursor of a `*SCAN` command, or its error already written.
pub(crate) fn scan_cursor(arg: &[u8], out: &mut Out<'_>) -> Option<u64> {
    let c = parse_cursor(arg);
    if c.is_none() {
        out.error("ERR invalid cursor");
    }
    c
}

/// Writes a `*SCAN` reply: the cursor and a flat array of strings.
pub(crate) fn write_scan(out: &mut Out<'_>, cursor: u64, items: &[Vec<u8>]) {
    out.array_len(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array_len(items.len());
    for i in items {
        out.bulk(i);
    }
}

/// Parses a count argument as Redis's `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`.
pub(crate) fn parse_count(arg: &[u8]) -> Result<i64, &'static str> {
    match parse_i64(arg) {
        None => Err(err::NOT_INT),
        Some(i64::MIN) => Err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ),
        Some(n) => Ok(n),
    }
}
