//! One database of one shard: keys, values and times to live.
//!
//! Keys live in 16384 slot maps, the slot being Redis Cluster's key slot (CRC16-XMODEM of the
//! key's hash tag, modulo 16384). The slots make SCAN cheap and exact: a cursor is a slot index,
//! and since a key never changes slot, every key present for a whole scan is returned even while
//! the maps grow. They also let active expiry skip slots without volatile keys, and will later
//! give `CLUSTER GETKEYSINSLOT` and slot migration for free.
//!
//! Each slot is a `hashbrown::HashTable<Entry>` whose [`Entry`] is 16 bytes: a string key is a
//! single allocation holding flags, access time, key, expiry (only if it has one) and the string
//! itself, as Redis's `embstr` does for the value alone; other values live behind one pointer
//! with their key (see [`Entry`]). A 16-byte key with a 16-byte value thus costs one 40-byte
//! allocation and a 17-byte bucket, where a `HashMap<Box<[u8]>, {Value, expiry, atime}>` took a
//! 65-byte bucket and two more allocations. Commands read strings in place through
//! [`Entry::str_ref`]; [`Db::value`] hands out `&mut Value` for modification.
//!
//! `used_memory` is the sum of the entries' allocations and the tables' allocation sizes, kept
//! up to date on every change.
use std::borrow::Cow;
use std::hash::BuildHasher;
use std::time::Instant;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use rand::Rng;

/// Number of key slots, as in Redis Cluster.
pub(crate) const SLOTS: usize = 16384;

/// Redis Cluster's key slot of `key`.
pub(crate) fn keyslot(key: &[u8]) -> usize {
    crc16(partition_router::hash_tag(key)) as usize & (SLOTS - 1)
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// A value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A string.
    Str(Str),
    /// A list.
    List(crate::list::List),
    /// A hash (boxed: collections are rarer than strings and this keeps `Value` small).
    Hash(Box<crate::hash::Hash>),
    /// A set.
    Set(Box<crate::set::Set>),
    /// A sorted set.
    ZSet(Box<crate::zset::ZSet>),
}

/// A string value, in the encoding Redis would use for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Str {
    /// A string that is the canonical decimal form of an `i64` (Redis's `int` encoding).
    Int(i64),
    /// Any other string. `raw` records that it was modified in place (APPEND, SETRANGE), which
    /// Redis reports as the `raw` encoding even when short.
    Bytes { data: Vec<u8>, raw: bool },
}

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

impl Str {
    /// A string from client bytes, integer-encoded when Redis would do so.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Str {
        match parse_canonical_i64(bytes) {
            Some(n) => Str::Int(n),
            None => Str::Bytes {
                data: bytes.to_vec(),
                raw: false,
            },
        }
    }

    /// Calls `f` with the string's bytes (formatting integers on the stack).
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Str::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Str::Bytes { data, .. } => f(data),
        }
    }

    /// The string's bytes, copied.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// Takes the bytes out for in-place modification; the result is `raw`-encoded.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Str::Bytes { data, .. } => data,
        }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(*n).len(),
            Str::Bytes { data, .. } => data.len(),
        }
    }

    /// Redis's name for the encoding (`OBJECT ENCODING`).
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Bytes { data, raw } if !raw && data.len() <= EMBSTR_MAX => "embstr",
            Str::Bytes { .. } => "raw",
        }
    }
}

impl Value {
    /// Redis's type name (`TYPE`).
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            // Redis 7.0 stores every list as a quicklist, however short.
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// Rough heap bytes of the value, for `used_memory`.
    pub(crate) fn mem(&self) -> usize {
        match self {
            Value::Str(Str::Int(_)) => 0,
            Value::Str(Str::Bytes { data, .. }) => data.capacity(),
            Value::List(l) => l.mem(),
            Value::Hash(h) => h.mem(),
            Value::Set(s) => s.mem(),
            Value::ZSet(z) => z.mem(),
        }
    }
}

/// Parses `bytes` as an `i64` only if it is exactly the canonical decimal form (no sign on zero,
/// no leading zeros or spaces), like Redis's `string2ll`, so that formatting it back gives the
/// same bytes.
pub(crate) fn parse_canonical_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let (neg, digits) = match bytes[0] {
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = (d - b'0') as i64;
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

/// Sentinel for "no time to live" in a boxed entry.
const NO_EXPIRE: i64 = i64::MIN;

/// A string value borrowed from the keyspace, for commands that only read it (GET, MGET,
/// GETRANGE, ...), so reading never copies or re-encodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum StrRef<'a> {
    /// An integer held as a number (formatted on the stack when read as bytes).
    Int(i64),
    /// The string's bytes.
    Bytes(&'a [u8]),
}

impl StrRef<'_> {
    /// Calls `f` with the string's bytes.
    pub(crate) fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrRef::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            StrRef::Bytes(b) => f(b),
        }
    }

    /// Length in bytes.
    pub(crate) fn len(self) -> usize {
        self.with_bytes(<[u8]>::len)
    }

    /// The string's bytes, copied.
    pub(crate) fn to_vec(self) -> Vec<u8> {
        self.with_bytes(<[u8]>::to_vec)
    }
}

impl Str {
    /// The string, borrowed.
    pub(crate) fn as_str_ref(&self) -> StrRef<'_> {
        match self {
            Str::Int(n) => StrRef::Int(*n),
            Str::Bytes { data, .. } => StrRef::Bytes(data),
        }
    }
}

/// Strings longer than this that arrive as a [`Value`] stay in their own buffer (boxed form)
/// instead of being copied next to the key: for big values the saved allocation is noise and
/// the copy is not.
const INLINE_COPY_MAX: usize = 4096;

// Layout of an inline entry, one allocation holding everything a string key needs:
//
//   [flags: u8][atime: u32 LE][key len: u8][key][expire_at: i64 LE, if volatile][string]
//
// A key of 255 bytes or more has 255 in the length byte and the real length as a u32 LE after
// it. For a 16-byte key and a 16-byte value this is 38 bytes, inside the allocator's 40-byte
// size class, where the previous layout (a table entry with a `Vec` and a boxed key) took a
// 64-byte bucket and two more allocations.
const F_VOLATILE: u8 = 1;
/// The string is the canonical decimal form of an `i64` (`OBJECT ENCODING` says `int`).
const F_INT: u8 = 2;
/// The string was modified in place once (`OBJECT ENCODING` says `raw` even when short).
const F_RAW: u8 = 4;
const H_ATIME: usize = 1;
const H_KEY_LEN: usize = 5;
const H_KEY: usize = 6;
const LONG_KEY: u8 = u8::MAX;

/// One key with its value and metadata, as stored in the table: 16 bytes.
///
/// Strings (the common case) are one boxed slice holding flags, access time, key, optional
/// expiry and the string itself, so a small string key costs one allocation and a 16-byte
/// table bucket. Other values, and strings being modified in place (APPEND, SETRANGE), use the
/// boxed form: the key, a [`Value`] and the metadata behind one pointer, so that
/// [`Db::value`] can hand out `&mut Value`.
#[derive(Debug)]
pub(crate) struct Entry(Repr);

#[derive(Debug)]
enum Repr {
    Inline(Box<[u8]>),
    Boxed(Box<Boxed>),
}

#[derive(Debug)]
struct Boxed {
    key: Box<[u8]>,
    value: Value,
    /// Absolute unix time in milliseconds when the key expires, or [`NO_EXPIRE`].
    expire_at: i64,
    /// Last access, in [`Clock::ticks`].
    atime: u32,
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn read_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

/// Where the key of an inline entry starts and ends.
fn inline_key(b: &[u8]) -> (usize, usize) {
    match b[H_KEY_LEN] {
        LONG_KEY => (H_KEY + 4, H_KEY + 4 + read_u32(b, H_KEY) as usize),
        n => (H_KEY, H_KEY + n as usize),
    }
}

/// Where the string of an inline entry starts.
fn inline_payload(b: &[u8]) -> usize {
    let (_, end) = inline_key(b);
    if b[0] & F_VOLATILE != 0 { end + 8 } else { end }
}

fn encode_inline(
    key: &[u8],
    string: &[u8],
    flags: u8,
    expire_at: Option<i64>,
    atime: u32,
) -> Box<[u8]> {
    let long = key.len() >= LONG_KEY as usize;
    let len = H_KEY
        + if long { 4 } else { 0 }
        + key.len()
        + if expire_at.is_some() { 8 } else { 0 }
        + string.len();
    let mut b = Vec::with_capacity(len);
    b.push(flags & !F_VOLATILE | if expire_at.is_some() { F_VOLATILE } else { 0 });
    b.extend_from_slice(&atime.to_le_bytes());
    if long {
        b.push(LONG_KEY);
        b.extend_from_slice(&(key.len() as u32).to_le_bytes());
    } else {
        b.push(key.len() as u8);
    }
    b.extend_from_slice(key);
    if let Some(at) = expire_at {
        b.extend_from_slice(&at.to_le_bytes());
    }
    b.extend_from_slice(string);
    // Capacity is exact, so this does not reallocate.
    b.into_boxed_slice()
}

/// Heap bytes of an allocation of `n` bytes: small size classes are 8 bytes apart.
fn alloc_size(n: usize) -> usize {
    n.next_multiple_of(8)
}

impl Entry {
    /// A string entry from client bytes, integer-encoded when Redis would do so.
    fn from_bytes(key: &[u8], string: &[u8], expire_at: Option<i64>, atime: u32) -> Entry {
        let flags = if parse_canonical_i64(string).is_some() {
            F_INT
        } else {
            0
        };
        Entry(Repr::Inline(encode_inline(
            key, string, flags, expire_at, atime,
        )))
    }

    fn new(key: &[u8], value: Value, expire_at: Option<i64>, atime: u32) -> Entry {
        let inline = |string: &[u8], flags| {
            Entry(Repr::Inline(encode_inline(
                key, string, flags, expire_at, atime,
            )))
        };
        match value {
            Value::Str(Str::Int(n)) => inline(itoa::Buffer::new().format(n).as_bytes(), F_INT),
            Value::Str(Str::Bytes { data, raw }) if data.len() <= INLINE_COPY_MAX => {
                inline(&data, if raw { F_RAW } else { 0 })
            }
            value => Entry(Repr::Boxed(Box::new(Boxed {
                key: key.into(),
                value,
                expire_at: expire_at.unwrap_or(NO_EXPIRE),
                atime,
            }))),
        }
    }

    /// The key.
    pub(crate) fn key(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(b) => {
                let (start, end) = inline_key(b);
                &b[start..end]
            }
            Repr::Boxed(e) => &e.key,
        }
    }

    /// The absolute expiry time in unix milliseconds, if the key has one.
    pub(crate) fn expire_at(&self) -> Option<i64> {
        match &self.0 {
            Repr::Inline(b) if b[0] & F_VOLATILE != 0 => Some(read_i64(b, inline_key(b).1)),
            Repr::Inline(_) => None,
            Repr::Boxed(e) => (e.expire_at != NO_EXPIRE).then_some(e.expire_at),
        }
    }

    fn is_volatile(&self) -> bool {
        match &self.0 {
            Repr::Inline(b) => b[0] & F_VOLATILE != 0,
            Repr::Boxed(e) => e.expire_at != NO_EXPIRE,
        }
    }

    fn is_expired(&self, now: i64) -> bool {
        self.expire_at().is_some_and(|at| at <= now)
    }

    /// The access word: the last access in [`Clock::ticks`], or under an LFU policy Redis's
    /// LFU word (minutes of the last decrement above an 8-bit counter), as Redis reuses its
    /// `lru` field.
    pub(crate) fn access_word(&self) -> u32 {
        self.atime()
    }

    fn atime(&self) -> u32 {
        match &self.0 {
            Repr::Inline(b) => read_u32(b, H_ATIME),
            Repr::Boxed(e) => e.atime,
        }
    }

    pub(crate) fn touch(&mut self, ticks: u32) {
        match &mut self.0 {
            Repr::Inline(b) => b[H_ATIME..H_ATIME + 4].copy_from_slice(&ticks.to_le_bytes()),
            Repr::Boxed(e) => e.atime = ticks,
        }
    }

    /// Seconds since the last access (`OBJECT IDLETIME`), given the current clock.
    pub(crate) fn idle_secs(&self, clock: Clock) -> u32 {
        clock.ticks.saturating_sub(self.atime()) / 10
    }

    /// Sets the last access `secs` seconds back (`RESTORE ... IDLETIME`).
    pub(crate) fn set_idle_secs(&mut self, secs: i64, clock: Clock) {
        let ticks = secs.saturating_mul(10).clamp(0, u32::MAX as i64) as u32;
        self.touch(clock.ticks.saturating_sub(ticks));
    }

    /// Redis's type name (`TYPE`).
    pub(crate) fn type_name(&self) -> &'static str {
        match &self.0 {
            Repr::Inline(_) => "string",
            Repr::Boxed(e) => e.value.type_name(),
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub(crate) fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Inline(b) if b[0] & F_INT != 0 => "int",
            Repr::Inline(b) if b[0] & F_RAW == 0 && b.len() - inline_payload(b) <= EMBSTR_MAX => {
                "embstr"
            }
            Repr::Inline(_) => "raw",
            Repr::Boxed(e) => e.value.encoding(),
        }
    }

    /// The value if it is a string, borrowed; `None` for other types.
    pub(crate) fn str_ref(&self) -> Option<StrRef<'_>> {
        match &self.0 {
            Repr::Inline(b) => Some(StrRef::Bytes(&b[inline_payload(b)..])),
            Repr::Boxed(e) => match &e.value {
                Value::Str(s) => Some(s.as_str_ref()),
                #[allow(unreachable_patterns)]
                _ => None,
            },
        }
    }

    /// The value if it is an integer-encoded string.
    pub(crate) fn as_int(&self) -> Option<i64> {
        match &self.0 {
            Repr::Inline(b) if b[0] & F_INT != 0 => parse_canonical_i64(&b[inline_payload(b)..]),
            Repr::Inline(_) => None,
            Repr::Boxed(e) => match &e.value {
                Value::Str(Str::Int(n)) => Some(*n),
                _ => None,
            },
        }
    }

    /// The value, borrowed when it is stored as a [`Value`] and rebuilt (copied) when it is an
    /// inline string. Hot paths read strings through [`Entry::str_ref`] instead.
    pub(crate) fn as_value(&self) -> Cow<'_, Value> {
        match &self.0 {
            Repr::Inline(b) => Cow::Owned(Value::Str(inline_str(b))),
            Repr::Boxed(e) => Cow::Borrowed(&e.value),
        }
    }

    /// The value, copied.
    pub(crate) fn to_value(&self) -> Value {
        self.as_value().into_owned()
    }

    /// The value, taken out.
    pub(crate) fn into_value(self) -> Value {
        match self.0 {
            Repr::Inline(b) => Value::Str(inline_str(&b)),
            Repr::Boxed(e) => e.value,
        }
    }

    /// Heap bytes this entry owns (its table bucket is counted with the table).
    pub(crate) fn mem(&self) -> usize {
        match &self.0 {
            Repr::Inline(b) => alloc_size(b.len()),
            Repr::Boxed(e) => {
                alloc_size(std::mem::size_of::<Boxed>()) + alloc_size(e.key.len()) + e.value.mem()
            }
        }
    }

    /// Sets or clears the expiry, rewriting an inline entry only when its size changes.
    fn set_expire_at(&mut self, expire_at: Option<i64>) {
        match (&mut self.0, expire_at) {
            (Repr::Inline(b), Some(at)) if b[0] & F_VOLATILE != 0 => {
                let (_, end) = inline_key(b);
                b[end..end + 8].copy_from_slice(&at.to_le_bytes());
            }
            (Repr::Inline(b), _) => {
                let (start, end) = inline_key(b);
                let payload = inline_payload(b);
                *b = encode_inline(
                    &b[start..end],
                    &b[payload..],
                    b[0],
                    expire_at,
                    read_u32(b, H_ATIME),
                );
            }
            (Repr::Boxed(e), at) => e.expire_at = at.unwrap_or(NO_EXPIRE),
        }
    }

    /// The value as a mutable [`Value`], moving an inline string to the boxed form first.
    fn promote(&mut self) -> &mut Value {
        if let Repr::Inline(b) = &self.0 {
            let (start, end) = inline_key(b);
            let boxed = Boxed {
                key: b[start..end].into(),
                value: Value::Str(inline_str(b)),
                expire_at: self.expire_at().unwrap_or(NO_EXPIRE),
                atime: read_u32(b, H_ATIME),
            };
            self.0 = Repr::Boxed(Box::new(boxed));
        }
        match &mut self.0 {
            Repr::Boxed(e) => &mut e.value,
            Repr::Inline(_) => unreachable!("promoted just above"),
        }
    }
}

/// The string of an inline entry as a [`Str`].
fn inline_str(b: &[u8]) -> Str {
    let data = &b[inline_payload(b)..];
    match parse_canonical_i64(data) {
        Some(n) if b[0] & F_INT != 0 => Str::Int(n),
        _ => Str::Bytes {
            data: data.to_vec(),
            raw: b[0] & F_RAW != 0,
        },
    }
}

/// One key slot's table.
#[derive(Debug, Default)]
struct Slot {
    table: HashTable<Entry>,
    /// Keys in `table` with a time to live, so active expiry can skip this slot.
    volatile: u32,
}

/// Databases with more keys than this are freed off the worker thread.
const LAZY_FREE_THRESHOLD: usize = 64 * 1024;

/// Counts kept up to date on every change, apart from the slots so that a borrowed entry and
/// the counts can be updated together.
#[derive(Debug, Default)]
struct Counts {
    keys: usize,
    expires: usize,
    /// Heap bytes of the entries ([`Entry::mem`]).
    mem: usize,
    /// Heap bytes of the slot tables.
    table_mem: usize,
    /// Keys removed because their time to live passed, since the last [`Db::take_expired`].
    expired: u64,
    /// Sum of the expiry times of volatile keys, for the exact average time to live.
    expire_sum: i128,
}

impl Counts {
    fn linked(&mut self, e: &Entry) {
        self.keys += 1;
        self.mem += e.mem();
        if let Some(at) = e.expire_at() {
            self.expires += 1;
            self.expire_sum += at as i128;
        }
    }

    fn unlinked(&mut self, e: &Entry) {
        self.keys -= 1;
        self.mem = self.mem.saturating_sub(e.mem());
        if let Some(at) = e.expire_at() {
            self.expires -= 1;
            self.expire_sum -= at as i128;
        }
    }
}

/// Keyspace events `(event, key)` waiting to be published.
pub(crate) type EventLog = Vec<(&'static str, Box<[u8]>)>;

/// One database of one shard.
#[derive(Debug, Default)]
pub(crate) struct Db {
    /// Empty until the first write, then exactly [`SLOTS`] long.
    slots: Vec<Slot>,
    counts: Counts,
    /// Where active expiry resumes.
    expire_cursor: usize,
    /// Seeded per database, so that clients cannot aim keys at one bucket chain.
    hasher: DefaultHashBuilder,
    /// Keyspace events to log for notifications (`expired`, `new`): empty when notifications
    /// for them are off, so the fast path only tests a boolean.
    pub(crate) log_expired: bool,
    pub(crate) log_new: bool,
    /// Logged `(event, key)` pairs, drained by the shard after each command.
    pub(crate) events: EventLog,
    /// `WATCH`: who watches which key, and who saw a watched key touched.
    watches: Watches,
    /// The background snapshot being taken of this database, if any.
    snap: Option<Box<Snapshot>>,
    /// Set under an LFU `maxmemory-policy`: accesses then update the LFU counter in the
    /// entries' access word instead of the access time.
    pub(crate) lfu: Option<crate::evict::Lfu>,
}

/// A point-in-time serialization of one database, made in slices between batches.
///
/// Slots below `next_slot` are serialized. Before an entry in a later slot is modified,
/// removed or created, [`Db::preserve`] serializes its state at the snapshot instant (or
/// notes that it did not exist then) and records the key in `early`, so the walk skips it.
/// Memory grows only by the entries touched during the snapshot.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    next_slot: usize,
    /// Unix milliseconds of the snapshot instant: keys expired then are left out.
    now: i64,
    /// Keys of unwalked slots already handled by [`Db::preserve`].
    early: hashbrown::HashSet<Box<[u8]>>,
    /// The serialized entries (RDB entry format).
    pub(crate) bytes: Vec<u8>,
    pub(crate) keys: u64,
    pub(crate) expires: u64,
}

impl Snapshot {
    fn put(&mut self, key: &[u8], e: &Entry) {
        if e.is_expired(self.now) {
            return;
        }
        self.keys += 1;
        self.expires += e.is_volatile() as u64;
        crate::rdb::put_value_entry(&mut self.bytes, key, &e.as_value(), e.expire_at());
    }
}

/// The `WATCH` registry of one database: clients watching each key, and the clients whose
/// transaction must fail because one of their keys was touched (changed, deleted, expired).
#[derive(Debug, Default)]
pub(crate) struct Watches {
    by_key: HashMap<Box<[u8]>, Vec<u64>>,
    dirty: std::collections::HashSet<u64>,
}

impl Watches {
    fn touch(&mut self, key: &[u8]) {
        if !self.by_key.is_empty()
            && let Some(clients) = self.by_key.get(key)
        {
            self.dirty.extend(clients.iter().copied());
        }
    }
}

/// Time context of one command: `now` for expiry and the coarse clock for access times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Unix time in milliseconds.
    pub(crate) now_ms: i64,
    /// Tenths of a second since the shard started, plus [`TICKS_BASE`]: access times need no
    /// more, and a `u32` of them lasts 10 years.
    pub(crate) ticks: u32,
}

/// Where [`Clock::ticks`] starts, so that an access time can lie before the shard started
/// (`RESTORE ... IDLETIME` up to 3.4 years).
pub(crate) const TICKS_BASE: u32 = 1 << 30;

/// The access word of an entry after an access: the time, or the updated LFU counter.
fn accessed(lfu: Option<crate::evict::Lfu>, word: u32, clock: Clock) -> u32 {
    match lfu {
        None => clock.ticks,
        Some(l) => crate::evict::lfu_touch(word, clock.now_ms, l, rand::random::<f64>()),
    }
}

/// Finds the live entry of `key` in `slots`, reclaiming it if it has expired and touching its
/// access time if asked. A free function over the parts of a [`Db`], so that callers can
/// still update `counts` while holding the entry.
fn lookup<'a>(
    slots: &'a mut [Slot],
    counts: &mut Counts,
    watches: &mut Watches,
    expired_log: Option<&mut EventLog>,
    hash: u64,
    key: &[u8],
    clock: Clock,
) -> Option<&'a mut Entry> {
    let slot = slots.get_mut(keyslot(key))?;
    match slot.table.find_entry(hash, |e| e.key() == key) {
        Err(_) => None,
        Ok(o) if o.get().is_expired(clock.now_ms) => {
            let (e, _) = o.remove();
            watches.touch(key);
            if let Some(log) = expired_log {
                log.push(("expired", key.into()));
            }
            slot.volatile -= 1;
            counts.unlinked(&e);
            counts.expired += 1;
            None
        }
        Ok(o) => Some(o.into_mut()),
    }
}

impl Db {
    /// Whether `key` is held and not expired at `now`, without reclaiming it.
    fn holds_live(&self, key: &[u8], now: i64) -> bool {
        self.slots
            .get(keyslot(key))
            .and_then(|s| s.table.find(self.hash(key), |e| e.key() == key))
            .is_some_and(|e| !e.is_expired(now))
    }

    /// `WATCH`: `client` watches `key`.
    pub(crate) fn watch(&mut self, key: &[u8], client: u64) {
        let clients = self.watches.by_key.entry(key.into()).or_default();
        if !clients.contains(&client) {
            clients.push(client);
        }
    }

    /// `client` stops watching `key` (and forgets that a key it watched was touched).
    pub(crate) fn unwatch(&mut self, key: &[u8], client: u64) {
        if let Some(clients) = self.watches.by_key.get_mut(key) {
            clients.retain(|c| *c != client);
            if clients.is_empty() {
                self.watches.by_key.remove(key);
            }
        }
        self.watches.dirty.remove(&client);
    }

    /// After `SWAPDB` swapped the contents of `a` and `b`: puts the watch registries back with
    /// their database indexes and, as Redis 7.0 does, touches every watched key that is live in
    /// the database's old or new contents.
    pub(crate) fn swapped(a: &mut Db, b: &mut Db) {
        std::mem::swap(&mut a.watches, &mut b.watches);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let hits = |this: &Db, other: &Db| -> Vec<Box<[u8]>> {
            this.watches
                .by_key
                .keys()
                .filter(|k| this.holds_live(k, now) || other.holds_live(k, now))
                .cloned()
                .collect()
        };
        let (in_a, in_b) = (hits(a, b), hits(b, a));
        in_a.iter().for_each(|k| a.watches.touch(k));
        in_b.iter().for_each(|k| b.watches.touch(k));
    }

    /// Marks `key` touched for its watchers (a command changed it in place).
    pub(crate) fn touch_watched(&mut self, key: &[u8]) {
        self.watches.touch(key);
    }

    /// Whether anyone watches a key of this database (the cheap check before touching).
    pub(crate) fn has_watches(&self) -> bool {
        !self.watches.by_key.is_empty()
    }

    /// Whether a key `client` watches here was touched. A watched key that expired since is
    /// reclaimed first, which touches it, as Redis 7.0 fails `EXEC` on a watched key that
    /// expired.
    pub(crate) fn watch_touched(&mut self, client: u64, clock: Clock) -> bool {
        let mine: Vec<Box<[u8]>> = self
            .watches
            .by_key
            .iter()
            .filter(|(_, c)| c.contains(&client))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &mine {
            let _ = self.peek(k, clock);
        }
        self.watches.dirty.contains(&client)
    }

    /// Number of keys (including expired ones not yet reclaimed).
    pub(crate) fn len(&self) -> usize {
        self.counts.keys
    }

    /// Number of keys with a time to live.
    pub(crate) fn expires_len(&self) -> usize {
        self.counts.expires
    }

    /// Average remaining time to live of volatile keys in milliseconds (0 if none), for
    /// `INFO keyspace`'s `avg_ttl`.
    pub(crate) fn avg_ttl(&self, now: i64) -> u64 {
        if self.counts.expires == 0 {
            return 0;
        }
        let avg = self.counts.expire_sum / self.counts.expires as i128 - now as i128;
        avg.clamp(0, u64::MAX as i128) as u64
    }

    /// Bytes used: entries, tables and the slot array, as allocated (up to the allocator's
    /// rounding), for `used_memory`.
    pub(crate) fn mem(&self) -> usize {
        self.counts.mem + self.counts.table_mem + self.slots.capacity() * size_of::<Slot>()
    }

    /// Bytes of the tables alone (buckets and the slot array), Redis's
    /// `overhead.hashtable.main`.
    pub(crate) fn overhead(&self) -> usize {
        self.counts.table_mem + self.slots.capacity() * size_of::<Slot>()
    }

    /// Returns and zeroes the count of keys expired since the last call.
    pub(crate) fn take_expired(&mut self) -> u64 {
        std::mem::take(&mut self.counts.expired)
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Starts a background snapshot of this database as of `now`.
    pub(crate) fn begin_snapshot(&mut self, now: i64) {
        // The bytes are shipped slice by slice (`take_snapshot_bytes`), so they start small.
        self.snap = Some(Box::new(Snapshot {
            now,
            ..Snapshot::default()
        }));
    }

    /// Takes the bytes serialized so far (walked slots and copies before writes), leaving
    /// the snapshot running.
    pub(crate) fn take_snapshot_bytes(&mut self) -> Vec<u8> {
        self.snap
            .as_mut()
            .map(|s| std::mem::take(&mut s.bytes))
            .unwrap_or_default()
    }

    /// Puts back bytes [`Db::take_snapshot_bytes`] took and that could not be shipped.
    pub(crate) fn restore_snapshot_bytes(&mut self, bytes: Vec<u8>) {
        if let Some(s) = self.snap.as_mut() {
            let later = std::mem::replace(&mut s.bytes, bytes);
            s.bytes.extend_from_slice(&later);
        }
    }

    /// Serializes up to `max_slots` more slots of the snapshot; true once it is complete (or
    /// there is none).
    pub(crate) fn snapshot_step(&mut self, max_slots: usize) -> bool {
        let Some(snap) = self.snap.as_mut() else {
            return true;
        };
        let end = if self.slots.is_empty() {
            SLOTS
        } else {
            (snap.next_slot + max_slots).min(SLOTS)
        };
        for i in snap.next_slot..end {
            let Some(slot) = self.slots.get(i) else { break };
            for e in &slot.table {
                if !snap.early.contains(e.key()) {
                    snap.put(e.key(), e);
                }
            }
        }
        snap.next_slot = end;
        if end == SLOTS {
            // The early keys are needed only while their slots are unwalked.
            snap.early = Default::default();
        }
        end == SLOTS
    }

    /// Completes the snapshot at once (before the database is emptied or swapped).
    pub(crate) fn finish_snapshot(&mut self) {
        self.snapshot_step(SLOTS);
    }

    /// Takes the finished snapshot out.
    pub(crate) fn take_snapshot(&mut self) -> Option<Box<Snapshot>> {
        self.snap.take()
    }

    /// Whether a snapshot is in progress on this database.
    pub(crate) fn snapshot_active(&self) -> bool {
        self.snap.as_ref().is_some_and(|s| s.next_slot < SLOTS)
    }

    /// Exchanges the snapshots of two databases, so that after `SWAPDB` each snapshot stays
    /// with the index it was taken for.
    pub(crate) fn swap_snapshots(a: &mut Db, b: &mut Db) {
        std::mem::swap(&mut a.snap, &mut b.snap);
    }

    /// Copy-before-write: serializes `key` as it was at the snapshot instant before anything
    /// changes it (see [`Snapshot`]). Cheap when no snapshot runs: one branch.
    #[inline]
    fn preserve(&mut self, key: &[u8]) {
        if self.snap.is_none() {
            return;
        }
        let hash = self.hash(key);
        let Some(snap) = self.snap.as_mut() else {
            return;
        };
        let slot = keyslot(key);
        if slot < snap.next_slot || snap.early.contains(key) {
            return;
        }
        snap.early.insert(key.into());
        if let Some(e) = self
            .slots
            .get(slot)
            .and_then(|s| s.table.find(hash, |e| e.key() == key))
        {
            snap.put(key, e);
        }
    }

    /// The live entry of `key`, removing it first if it has expired, and touching its access
    /// time.
    pub(crate) fn entry_mut(&mut self, key: &[u8], clock: Clock) -> Option<&mut Entry> {
        // Reads come through here too (to touch the access time); they are preserved as well,
        // because the caller may modify the entry through the returned reference.
        self.preserve(key);
        let hash = self.hash(key);
        let e = lookup(
            &mut self.slots,
            &mut self.counts,
            &mut self.watches,
            self.log_expired.then_some(&mut self.events),
            hash,
            key,
            clock,
        )?;
        e.touch(accessed(self.lfu, e.atime(), clock));
        Some(e)
    }

    /// The live entry of `key` without touching its access time (`OBJECT IDLETIME`, `TTL`);
    /// an expired key is still reclaimed.
    pub(crate) fn peek(&mut self, key: &[u8], clock: Clock) -> Option<&Entry> {
        // Even a peek may reclaim an expired key, which the snapshot must see first.
        self.preserve(key);
        let hash = self.hash(key);
        lookup(
            &mut self.slots,
            &mut self.counts,
            &mut self.watches,
            self.log_expired.then_some(&mut self.events),
            hash,
            key,
            clock,
        )
        .map(|e| &*e)
    }

    /// The live string of `key`, touching it: `Some(Ok(..))` for a string, `Some(Err(()))`
    /// for another type, `None` if missing.
    pub(crate) fn str_ref(&mut self, key: &[u8], clock: Clock) -> Option<Result<StrRef<'_>, ()>> {
        self.entry_mut(key, clock).map(|e| e.str_ref().ok_or(()))
    }

    /// The live value of `key`, for modification in place. An inline string is moved to the
    /// boxed form first (as Redis turns an `embstr` into a `raw` string when it is modified),
    /// so commands that only read strings use [`Db::str_ref`] or [`Entry::str_ref`].
    pub(crate) fn value(&mut self, key: &[u8], clock: Clock) -> Option<&mut Value> {
        self.preserve(key);
        let hash = self.hash(key);
        let Db {
            slots,
            counts,
            watches,
            events,
            log_expired,
            lfu,
            ..
        } = self;
        let log = log_expired.then_some(events);
        let e = lookup(slots, counts, watches, log, hash, key, clock)?;
        e.touch(accessed(*lfu, e.atime(), clock));
        if let Repr::Inline(_) = e.0 {
            let before = e.mem();
            e.promote();
            counts.mem = (counts.mem + e.mem()).saturating_sub(before);
        }
        Some(e.promote())
    }

    /// The value of `key` without reclaiming or touching it, for reading several values at
    /// once; callers look each key up with [`Db::value`] first, which reclaims expired keys.
    pub(crate) fn get_ref(&self, key: &[u8]) -> Option<&Value> {
        let slot = self.slots.get(keyslot(key))?;
        let e = slot.table.find(self.hash(key), |e| e.key() == key)?;
        match &e.0 {
            Repr::Boxed(b) => Some(&b.value),
            // Only strings are inline, and callers read collections.
            Repr::Inline(_) => None,
        }
    }

    /// Whether `key` exists (and is not expired).
    pub(crate) fn contains(&mut self, key: &[u8], clock: Clock) -> bool {
        self.entry_mut(key, clock).is_some()
    }

    /// Sets `key` to `value` with `expire_at` (unix ms), replacing any old entry; returns the old
    /// entry if it was live.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        clock: Clock,
    ) -> Option<Entry> {
        let word = self.fresh_word(clock);
        self.insert_entry(key, Entry::new(key, value, expire_at, word), clock)
    }

    /// Sets `key` to the string `bytes` (integer-encoded when canonical, as Redis's SET does)
    /// with `expire_at`, replacing any old entry; returns the old entry if it was live. The
    /// bytes are copied once, next to the key.
    pub(crate) fn insert_str(
        &mut self,
        key: &[u8],
        bytes: &[u8],
        expire_at: Option<i64>,
        clock: Clock,
    ) -> Option<Entry> {
        let word = self.fresh_word(clock);
        self.insert_entry(key, Entry::from_bytes(key, bytes, expire_at, word), clock)
    }

    /// The access word of a new entry: now, or a new LFU counter.
    fn fresh_word(&self, clock: Clock) -> u32 {
        match self.lfu {
            None => clock.ticks,
            Some(_) => crate::evict::lfu_new(clock.now_ms),
        }
    }

    /// Calls `f` with up to `n` entries picked at random (only those with a time to live if
    /// `volatile`), for eviction. A random slot, then the first one after it holding a
    /// candidate, then a random candidate in it: cheap, and close enough to uniform since
    /// keys spread evenly over slots.
    pub(crate) fn sample(
        &self,
        rng: &mut impl Rng,
        n: usize,
        volatile: bool,
        mut f: impl FnMut(&Entry),
    ) {
        let count = if volatile {
            self.counts.expires
        } else {
            self.counts.keys
        };
        if count == 0 || self.slots.len() != SLOTS {
            return;
        }
        for _ in 0..n {
            let start = rng.gen_range(0..SLOTS);
            let found = (0..SLOTS)
                .map(|i| &self.slots[(start + i) & (SLOTS - 1)])
                .find(|s| {
                    if volatile {
                        s.volatile > 0
                    } else {
                        !s.table.is_empty()
                    }
                });
            let Some(slot) = found else { return };
            let candidates = if volatile {
                slot.volatile as usize
            } else {
                slot.table.len()
            };
            let nth = rng.gen_range(0..candidates);
            let picked = slot
                .table
                .iter()
                .filter(|e| !volatile || e.is_volatile())
                .nth(nth);
            if let Some(e) = picked {
                f(e);
            }
        }
    }

    /// Heap bytes of `key`'s entry plus its table bucket (`MEMORY USAGE`), without touching it.
    pub(crate) fn usage(&mut self, key: &[u8], clock: Clock) -> Option<usize> {
        self.peek(key, clock)
            .map(|e| e.mem() + size_of::<Entry>() + 1)
    }

    fn insert_entry(&mut self, key: &[u8], entry: Entry, clock: Clock) -> Option<Entry> {
        self.preserve(key);
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        let hash = self.hasher.hash_one(key);
        let Db {
            slots,
            counts,
            hasher,
            watches,
            events,
            log_new,
            log_expired,
            lfu,
            ..
        } = self;
        watches.touch(key);
        let slot = &mut slots[keyslot(key)];
        if entry.is_volatile() {
            slot.volatile += 1;
        }
        counts.linked(&entry);
        let old = match slot.table.find_mut(hash, |e| e.key() == key) {
            Some(e) => {
                let mut entry = entry;
                if let Some(l) = *lfu {
                    // Redis keeps the counter of an overwritten key, after the access of the
                    // write's lookup.
                    let word = crate::evict::lfu_touch(e.atime(), clock.now_ms, l, rand::random());
                    entry.touch(word);
                }
                std::mem::replace(e, entry)
            }
            None => {
                let before = slot.table.allocation_size();
                slot.table
                    .insert_unique(hash, entry, |e| hasher.hash_one(e.key()));
                counts.table_mem =
                    (counts.table_mem + slot.table.allocation_size()).saturating_sub(before);
                if *log_new {
                    events.push(("new", key.into()));
                }
                return None;
            }
        };
        if old.is_volatile() {
            slot.volatile -= 1;
        }
        counts.unlinked(&old);
        if old.is_expired(clock.now_ms) {
            counts.expired += 1;
            if *log_expired {
                events.push(("expired", key.into()));
            }
            if *log_new {
                events.push(("new", key.into()));
            }
            None
        } else {
            Some(old)
        }
    }

    /// Replaces the value of `key`, keeping its time to live (or none if it did not exist).
    pub(crate) fn set_keep_ttl(&mut self, key: &[u8], value: Value, clock: Clock) {
        let ttl = self.entry_mut(key, clock).and_then(|e| e.expire_at());
        self.insert(key, value, ttl, clock);
    }

    /// Removes `key`; returns its entry if it was live.
    pub(crate) fn remove(&mut self, key: &[u8], clock: Clock) -> Option<Entry> {
        self.preserve(key);
        let hash = self.hash(key);
        let slot = self.slots.get_mut(keyslot(key))?;
        let (e, _) = slot
            .table
            .find_entry(hash, |e| e.key() == key)
            .ok()?
            .remove();
        self.watches.touch(key);
        if e.is_volatile() {
            slot.volatile -= 1;
        }
        self.counts.unlinked(&e);
        if e.is_expired(clock.now_ms) {
            self.counts.expired += 1;
            if self.log_expired {
                self.events.push(("expired", key.into()));
            }
            None
        } else {
            Some(e)
        }
    }

    /// Sets or clears the time to live of a live `key`; returns false if the key does not exist.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at: Option<i64>, clock: Clock) -> bool {
        self.preserve(key);
        let hash = self.hash(key);
        let Db {
            slots,
            counts,
            watches,
            events,
            log_expired,
            lfu,
            ..
        } = self;
        let log = log_expired.then_some(events);
        let Some(e) = lookup(slots, counts, watches, log, hash, key, clock) else {
            return false;
        };
        e.touch(accessed(*lfu, e.atime(), clock));
        watches.touch(key);
        let was = e.is_volatile();
        counts.unlinked(e);
        e.set_expire_at(expire_at);
        counts.linked(e);
        let is = e.is_volatile();
        let slot = &mut slots[keyslot(key)];
        match (was, is) {
            (false, true) => slot.volatile += 1,
            (true, false) => slot.volatile -= 1,
            _ => {}
        }
        true
    }

    /// Accounts for a value that grew or shrank in place from `old` to `new` bytes.
    pub(crate) fn resized(&mut self, old: usize, new: usize) {
        self.counts.mem = (self.counts.mem + new).saturating_sub(old);
    }

    /// Removes every key.
    pub(crate) fn clear(&mut self) {
        // A snapshot in progress is completed first: it must see the keys being dropped.
        self.finish_snapshot();
        // Like Redis 7.0, emptying a database touches the watched keys it held, and only those.
        let mut watches = std::mem::take(&mut self.watches);
        if !watches.by_key.is_empty() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let held: Vec<Box<[u8]>> = watches
                .by_key
                .keys()
                .filter(|k| self.holds_live(k, now))
                .cloned()
                .collect();
            held.iter().for_each(|k| watches.touch(k));
        }
        let events = std::mem::take(&mut self.events);
        let mut old = std::mem::replace(
            self,
            Db {
                counts: Counts {
                    expired: self.counts.expired,
                    ..Counts::default()
                },
                watches,
                log_expired: self.log_expired,
                log_new: self.log_new,
                lfu: self.lfu,
                events,
                ..Db::default()
            },
        );
        self.snap = old.snap.take();
        // Freeing millions of entries takes long enough to stall the shard, so big databases
        // are dropped on a short-lived thread, as Redis's lazy free does.
        // If the thread cannot be spawned, the data is simply freed here.
        if old.counts.keys > LAZY_FREE_THRESHOLD {
            let _ = std::thread::Builder::new()
                .name("kvd-lazy-free".into())
                .spawn(move || drop(old));
        }
    }

    /// Calls `f` for every live key (KEYS).
    pub(crate) fn for_each_key(&self, now: i64, mut f: impl FnMut(&[u8], &Entry)) {
        for slot in &self.slots {
            for e in &slot.table {
                if !e.is_expired(now) {
                    f(e.key(), e);
                }
            }
        }
    }

    /// One SCAN step from slot `cursor`: calls `f` with every live key of each visited slot,
    /// stopping once `count` keys were visited. Returns the next cursor, 0 when the walk is
    /// complete.
    ///
    /// Empty slots do not count: skipping one costs a load, and the whole array is read in
    /// tens of microseconds. A small database (which in Redis has a small table) is thus
    /// scanned in one call, as in Redis, rather than in 16384 / COUNT calls.
    pub(crate) fn scan(
        &mut self,
        cursor: u64,
        count: usize,
        clock: Clock,
        mut f: impl FnMut(&[u8], &Entry),
    ) -> u64 {
        let count = count.max(1);
        let mut slot = cursor as usize;
        if slot >= SLOTS || self.slots.is_empty() {
            return 0;
        }
        let mut visited = 0usize;
        while slot < SLOTS && visited < count {
            for e in &self.slots[slot].table {
                visited += 1;
                if !e.is_expired(clock.now_ms) {
                    f(e.key(), e);
                }
            }
            slot += 1;
        }
        if slot >= SLOTS { 0 } else { slot as u64 }
    }

    /// A random live key, or `None` if the database is empty.
    pub(crate) fn random_key(&mut self, rng: &mut impl Rng, clock: Clock) -> Option<Vec<u8>> {
        // Expired keys found on the way are reclaimed; the bound keeps a database full of
        // expired keys from stalling the shard, as in Redis's `dbRandomKey`.
        for _ in 0..100 {
            if self.counts.keys == 0 {
                return None;
            }
            let start = rng.gen_range(0..SLOTS);
            let slot = (0..SLOTS)
                .map(|i| (start + i) % SLOTS)
                .find(|&i| !self.slots[i].table.is_empty())?;
            let table = &self.slots[slot].table;
            let nth = rng.gen_range(0..table.len());
            let e = table.iter().nth(nth)?;
            let k = e.key().to_vec();
            if !e.is_expired(clock.now_ms) {
                return Some(k);
            }
            self.remove(&k, clock);
        }
        None
    }

    /// One active-expiry run: walks slots with volatile keys from where the last run stopped,
    /// reclaiming expired keys, and keeps going while more than a quarter of the sampled keys
    /// were expired, until `deadline`. Returns the number of keys reclaimed and whether the
    /// deadline cut the run short while expired keys were still plentiful.
    pub(crate) fn active_expire(&mut self, now: i64, deadline: Instant) -> (u64, bool) {
        let mut cut_short = false;
        // Removing keys behind the snapshot's back would lose keys that were live at its
        // instant; expiry resumes once it is complete (lazy expiry still applies).
        if self.snapshot_active() {
            return (0, false);
        }
        // Redis samples 20 keys per loop; whole slots are visited here, so "at least 20".
        const SAMPLE: usize = 20;
        let mut reclaimed = 0u64;
        let mut slots_left = SLOTS;
        while self.counts.expires > 0 && slots_left > 0 {
            let (mut sampled, mut expired) = (0usize, 0usize);
            while sampled < SAMPLE && slots_left > 0 {
                let i = self.expire_cursor;
                self.expire_cursor = (i + 1) % SLOTS;
                slots_left -= 1;
                let Db {
                    slots,
                    counts,
                    watches,
                    events,
                    log_expired,
                    ..
                } = self;
                let slot = &mut slots[i];
                if slot.volatile == 0 {
                    continue;
                }
                sampled += slot.volatile as usize;
                let before = slot.table.len();
                slot.table.retain(|e| {
                    let dead = e.is_expired(now);
                    if dead {
                        watches.touch(e.key());
                        counts.unlinked(e);
                        if *log_expired {
                            events.push(("expired", e.key().into()));
                        }
                    }
                    !dead
                });
                let n = before - slot.table.len();
                slot.volatile -= n as u32;
                expired += n;
            }
            reclaimed += expired as u64;
            if expired * 4 <= sampled {
                break;
            }
            if Instant::now() >= deadline {
                cut_short = true;
                break;
            }
        }
        self.counts.expired += reclaimed;
        (reclaimed, cut_short)
    }
}

/// Redis's `stringmatchlen`: glob-style matching with `*`, `?`, `[...]` (with `^` negation and
/// `a-z` ranges) and `\` escapes, optionally ignoring ASCII case.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    glob_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn glob_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    // Redis bounds recursion on `*` to protect the stack from hostile patterns.
    if nesting > 1000 {
        return false;
    }
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if glob_impl(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        let mut c = s[0];
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p = &p[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if eq(p[0], s[0]) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                // Redis leaves `p` on the closing `]` (or past the end when unterminated, in
                // which case it steps back so the final increment lands on the end).
                if p.is_empty() {
                    let matched = if not { !matched } else { matched };
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    continue;
                }
                let matched = if not { !matched } else { matched };
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0]) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0]) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(now_ms: i64, ticks: u32) -> Clock {
        Clock { now_ms, ticks }
    }

    fn string_of(db: &mut Db, key: &[u8], c: Clock) -> Option<Vec<u8>> {
        db.str_ref(key, c).map(|s| s.unwrap().to_vec())
    }

    #[test]
    fn entries_are_two_words_and_small_strings_one_allocation() {
        assert_eq!(size_of::<Entry>(), 16);
        let e = Entry::from_bytes(b"key:000000123456", b"xxxxxxxxxxxxxxxx", None, 7);
        // Header 6 + key 16 + value 16: the 40-byte size class.
        assert!(matches!(&e.0, Repr::Inline(b) if b.len() == 38));
        assert_eq!(e.mem(), 40);
    }

    #[test]
    fn strings_round_trip_exactly() {
        let c = clock(1_000, 5);
        let mut db = Db::default();
        let long_key = vec![b'k'; 300];
        let big = vec![b'v'; 10_000];
        let cases: Vec<(&[u8], &[u8], &str)> = vec![
            (b"a", b"", "embstr"),
            (b"", b"empty key", "embstr"),
            (b"n", b"12345", "int"),
            (b"neg", b"-9223372036854775808", "int"),
            (b"zero-sign", b"-0", "embstr"),
            (b"lead", b"007", "embstr"),
            (b"bin", b"\x00\xff\r\n", "embstr"),
            (b"s44", &[b'x'; 44], "embstr"),
            (b"s45", &[b'x'; 45], "raw"),
            (&long_key, b"long key", "embstr"),
            (b"big", &big, "raw"),
        ];
        for (k, v, _) in &cases {
            db.insert_str(k, v, None, c);
        }
        assert_eq!(db.len(), cases.len());
        for (k, v, enc) in &cases {
            assert_eq!(string_of(&mut db, k, c).as_deref(), Some(*v), "{k:?}");
            let e = db.peek(k, c).unwrap();
            assert_eq!(e.key(), *k);
            assert_eq!(e.encoding(), *enc, "{k:?}");
            assert_eq!(e.type_name(), "string");
            assert_eq!(e.expire_at(), None);
            assert_eq!(e.idle_secs(clock(1_000, 25)), 2);
        }
        // Values given as `Value` keep their `Str` form, whichever way they are stored.
        let values = [
            Value::Str(Str::Int(-42)),
            Value::Str(Str::Bytes {
                data: b"3".to_vec(),
                raw: false,
            }),
            Value::Str(Str::Bytes {
                data: b"ab".to_vec(),
                raw: true,
            }),
            Value::Str(Str::Bytes {
                data: big.clone(),
                raw: false,
            }),
        ];
        for (i, v) in values.iter().enumerate() {
            let key = format!("v{i}");
            db.insert(key.as_bytes(), v.clone(), Some(5_000), c);
            let e = db.peek(key.as_bytes(), c).unwrap();
            assert_eq!(&e.to_value(), v);
            assert_eq!(e.encoding(), v.encoding());
            assert_eq!(e.expire_at(), Some(5_000));
            assert_eq!(db.remove(key.as_bytes(), c).unwrap().into_value(), *v);
        }
        assert_eq!(db.peek(b"n", c).unwrap().as_int(), Some(12345));
        assert_eq!(db.peek(b"lead", c).unwrap().as_int(), None);
    }

    #[test]
    fn expiry_lives_in_the_entry_only_for_volatile_keys() {
        let c = clock(1_000, 0);
        let mut db = Db::default();
        db.insert_str(b"k", b"value", None, c);
        let plain = db.peek(b"k", c).unwrap().mem();
        assert!(db.set_expire(b"k", Some(9_000), c));
        let e = db.peek(b"k", c).unwrap();
        assert_eq!((e.expire_at(), e.mem()), (Some(9_000), plain + 8));
        assert_eq!(string_of(&mut db, b"k", c).as_deref(), Some(&b"value"[..]));
        assert_eq!((db.expires_len(), db.avg_ttl(1_000)), (1, 8_000));
        // Moving the expiry rewrites it in place.
        assert!(db.set_expire(b"k", Some(2_000), c));
        assert_eq!(db.peek(b"k", c).unwrap().expire_at(), Some(2_000));
        assert!(db.set_expire(b"k", None, c));
        let e = db.peek(b"k", c).unwrap();
        assert_eq!((e.expire_at(), e.mem()), (None, plain));
        assert_eq!(db.expires_len(), 0);
        assert!(!db.set_expire(b"missing", Some(1), c));
        // Expired keys disappear on access and are counted once.
        db.insert_str(b"t", b"1", Some(1_500), c);
        assert_eq!(string_of(&mut db, b"t", c).as_deref(), Some(&b"1"[..]));
        assert_eq!(string_of(&mut db, b"t", clock(1_500, 0)), None);
        assert_eq!((db.len(), db.expires_len(), db.take_expired()), (1, 0, 1));
    }

    #[test]
    fn modifying_a_string_moves_it_to_the_boxed_form_with_its_metadata() {
        let c = clock(1_000, 3);
        let mut db = Db::default();
        db.insert_str(b"k", b"abc", Some(7_000), c);
        let Some(Value::Str(s)) = db.value(b"k", clock(1_000, 9)) else {
            panic!("a string");
        };
        let mut data = std::mem::replace(s, Str::Int(0)).into_vec();
        data.extend_from_slice(b"def");
        *s = Str::Bytes { data, raw: true };
        let e = db.peek(b"k", c).unwrap();
        assert!(matches!(e.0, Repr::Boxed(_)));
        assert_eq!(e.str_ref(), Some(StrRef::Bytes(b"abcdef")));
        assert_eq!((e.encoding(), e.expire_at()), ("raw", Some(7_000)));
        assert_eq!(e.idle_secs(clock(1_000, 19)), 1);
        assert_eq!(db.expires_len(), 1);
    }

    #[test]
    fn memory_counts_return_to_the_empty_figure() {
        let c = clock(0, 0);
        let mut db = Db::default();
        for i in 0..5_000 {
            let key = format!("key:{i:012}");
            db.insert_str(
                key.as_bytes(),
                b"0123456789abcdef",
                (i % 3 == 0).then_some(10),
                c,
            );
        }
        let _ = db.value(b"key:000000000001", c);
        assert!(db.counts.mem >= 5_000 * 40, "{}", db.counts.mem);
        assert!(db.counts.table_mem > 5_000 * 16, "{}", db.counts.table_mem);
        for i in 0..5_000 {
            let key = format!("key:{i:012}");
            assert!(db.remove(key.as_bytes(), c).is_some());
        }
        assert_eq!((db.len(), db.expires_len(), db.counts.mem), (0, 0, 0));
        assert!(db.slots.iter().all(|s| s.volatile == 0));
    }

    #[test]
    fn scan_returns_every_key_present_throughout_while_tables_grow() {
        let c = clock(0, 0);
        let mut db = Db::default();
        let original: Vec<Vec<u8>> = (0..2_000).map(|i| format!("a:{i}").into_bytes()).collect();
        for k in &original {
            db.insert_str(k, b"v", None, c);
        }
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut added) = (0, 0);
        loop {
            cursor = db.scan(cursor, 10, c, |k, _| {
                seen.insert(k.to_vec());
            });
            // Every step adds keys, so that slot tables grow (and rehash) under the cursor.
            for _ in 0..50 {
                db.insert_str(format!("b:{added}").as_bytes(), b"v", None, c);
                added += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(original.iter().all(|k| seen.contains(k)));
    }

    #[test]
    fn keyslot_matches_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(keyslot(b"foo"), 12182);
        assert_eq!(keyslot(b"bar"), 5061);
        assert_eq!(keyslot(b"{user1000}.following"), keyslot(b"user1000"));
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"123"), Some(123));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        for bad in [&b"-0"[..], b"01", b" 1", b"1 ", b"+1", b"", b"-", b"1a"] {
            assert_eq!(parse_canonical_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn glob_follows_stringmatchlen() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes(), false);
        assert!(
            !m("*", ""),
            "as in Redis, the loop never runs on an empty string"
        );
        assert!(m("*", "abc"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbb"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hallo"));
        assert!(m("[\\]]", "]"));
        assert!(m("a[bc", "ab"), "an unterminated class still matches");
        assert!(m("**a", "a"));
        assert!(m("a*", "a"));
        assert!(!m("", "a"));
        assert!(glob_match(b"H*", b"hello", true));
    }
}
