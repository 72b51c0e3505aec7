//! One database of one shard: keys, values and times to live.
//!
//! Keys live in 16384 slot maps, the slot being Redis Cluster's key slot (CRC16-XMODEM of the
//! key's hash tag, modulo 16384). The slots make SCAN cheap and exact: a cursor is a slot index,
//! and since a key never changes slot, every key present for a whole scan is returned even while
//! the maps grow. They also let active expiry skip slots without volatile keys, and will later
//! give `CLUSTER GETKEYSINSLOT` and slot migration for free.
//!
//! Each slot is a `hashbrown::HashTable<u32>` of handles into the database's [`Store`], so a
//! bucket is 5 bytes (4 + a control byte). A string key is a record there holding flags,
//! access time, key, expiry (only if it has one) and the string itself, as Redis's `embstr`
//! does for the value alone; records live in 32 KiB chunks of one size class each (8-byte
//! steps), so a record costs its length rounded up to 8 bytes with no allocator header, and
//! freed records are reused first. A 16-byte key with a 16-byte value thus costs a 40-byte
//! record and about 9 bytes of table (at 1,000,000 keys, ~61 per slot in 128 buckets) — about
//! 53 bytes of RSS per key, where a 16-byte `Box<[u8]>` bucket and a malloc'd 38-byte entry
//! took 81. Other values (and strings being modified in place, long keys, long strings) are
//! [`Boxed`] entries: key, [`Value`] and metadata behind one pointer in a slab. Commands read
//! entries through [`EntryRef`] (strings in place with [`EntryRef::str_ref`]); [`Db::value`]
//! hands out `&mut Value`.
//!
//! `used_memory` is the sum of the live entries' sizes (records as stored, boxed entries as
//! allocated), the tables' allocation sizes and the store's arrays, kept up to date on every
//! change. Freed records stay in the store for reuse, as freed memory stays with an allocator.
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

/// CRC16-XMODEM tables for eight bytes at a time ("slicing by 8"): `CRC16_TABLES[0]` is the
/// classic byte table, and `CRC16_TABLES[k][b]` is the checksum of byte `b` followed by `k`
/// zero bytes. The checksum is linear over XOR, so eight bytes cost eight lookups, not eight
/// dependent steps: about half the instructions for a 16-byte key.
const CRC16_TABLES: [[u16; 256]; 8] = {
    let mut tables = [[0u16; 256]; 8];
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
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
};

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    let t = &CRC16_TABLES;
    let mut crc = 0u16;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let [hi, lo] = crc.to_be_bytes();
        crc = t[7][usize::from(c[0] ^ hi)]
            ^ t[6][usize::from(c[1] ^ lo)]
            ^ t[5][usize::from(c[2])]
            ^ t[4][usize::from(c[3])]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    chunks.remainder().iter().fold(crc, |crc, &b| {
        (crc << 8) ^ t[0][usize::from((crc >> 8) as u8 ^ b)]
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
            Value::Str(Str::Bytes { data, .. }) => crate::alloc::heap_size(data.capacity()),
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
// Layout of a record, everything a string key needs in one place:
//
//   [flags: u8][atime: u32 LE][key len: u8][string len: u16 LE][key][expire_at: i64 LE, if volatile][string]
//
// For a 16-byte key and a 16-byte value this is 40 bytes, exactly five 8-byte units of a
// [`Store`] chunk, with no allocator header. Keys of 256 bytes or more and records longer than
// [`RECORD_MAX`] use the boxed form.
const F_VOLATILE: u8 = 1;
/// The string is the canonical decimal form of an `i64` (`OBJECT ENCODING` says `int`).
const F_INT: u8 = 2;
/// The string was modified in place once (`OBJECT ENCODING` says `raw` even when short).
const F_RAW: u8 = 4;
const H_ATIME: usize = 1;
const H_KEY_LEN: usize = 5;
const H_STR_LEN: usize = 6;
const H_KEY: usize = 8;

/// Longest record kept in a [`Store`] chunk. Longer strings stay in their own buffer (boxed
/// form): for big values the saved allocation is noise, and 64 size classes of 8 bytes cover
/// the rest.
const RECORD_MAX: usize = 512;
/// Records are made of 8-byte units (the size classes are 8 bytes apart).
const UNIT: usize = 8;
/// Bytes of one chunk of a [`Store`]; all records of a chunk have one size.
const CHUNK: usize = 32 * 1024;
/// `log2(CHUNK / UNIT)`: a record's handle is its chunk index and unit offset.
const CHUNK_SHIFT: u32 = 12;
/// Size classes: class `c` holds records of `(c + 1) * UNIT` bytes.
const CLASSES: usize = RECORD_MAX / UNIT;
/// Handles with this bit index [`Store::boxed`]; the others address records.
const BOXED: u32 = 1 << 31;
/// End of a free list.
const NIL: u32 = u32::MAX;

/// Length of the record of a string, or `None` if it must use the boxed form.
fn record_len(key_len: usize, volatile: bool, str_len: usize) -> Option<usize> {
    let len = H_KEY + key_len + if volatile { 8 } else { 0 } + str_len;
    (key_len <= u8::MAX as usize && len <= RECORD_MAX).then_some(len)
}

/// Writes a record into `dst`, which is at least [`record_len`] long.
fn write_record(
    dst: &mut [u8],
    key: &[u8],
    string: &[u8],
    flags: u8,
    expire_at: Option<i64>,
    atime: u32,
) {
    dst[0] = flags & !F_VOLATILE | if expire_at.is_some() { F_VOLATILE } else { 0 };
    dst[H_ATIME..H_KEY_LEN].copy_from_slice(&atime.to_le_bytes());
    dst[H_KEY_LEN] = key.len() as u8;
    dst[H_STR_LEN..H_KEY].copy_from_slice(&(string.len() as u16).to_le_bytes());
    let mut at = H_KEY + key.len();
    dst[H_KEY..at].copy_from_slice(key);
    if let Some(t) = expire_at {
        dst[at..at + 8].copy_from_slice(&t.to_le_bytes());
        at += 8;
    }
    dst[at..at + string.len()].copy_from_slice(string);
}

/// Length of the record starting `b`, from its header.
fn stored_len(b: &[u8]) -> usize {
    let str_len = u16::from_le_bytes([b[H_STR_LEN], b[H_STR_LEN + 1]]) as usize;
    H_KEY + b[H_KEY_LEN] as usize + if b[0] & F_VOLATILE != 0 { 8 } else { 0 } + str_len
}

/// Where the key of a record ends.
fn record_key_end(b: &[u8]) -> usize {
    H_KEY + b[H_KEY_LEN] as usize
}

/// Where the string of a record starts.
fn record_payload(b: &[u8]) -> usize {
    let end = record_key_end(b);
    if b[0] & F_VOLATILE != 0 { end + 8 } else { end }
}

/// A value that is not a small string (or a string being modified in place), with its key and
/// metadata, so that [`Db::value`] can hand out `&mut Value`.
#[derive(Debug)]
pub(crate) struct Boxed {
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

/// A new entry's value, before it is stored.
enum NewValue<'a> {
    /// String bytes with their [`F_INT`] / [`F_RAW`] flags.
    Str(&'a [u8], u8),
    /// Any value.
    Value(Value),
}

/// The entries of one database: the slot tables hold 4-byte handles into it.
///
/// Strings that fit [`RECORD_MAX`] are records in 32 KiB chunks, each chunk holding records of
/// one size class (8-byte steps), so a record costs its length rounded up to 8 bytes and no
/// allocator header; freed records are kept on a free list per class (the list's links live in
/// the free records) and reused first. Everything else is a [`Boxed`] entry in a slab.
///
/// A handle is 4 bytes where a pointer to a variable-length allocation is 16 (or 8 with a
/// length header inside the allocation), which keeps the slot tables' buckets at 5 bytes.
#[derive(Debug)]
struct Store {
    chunks: Vec<Vec<u8>>,
    /// Per size class: the chunk being filled, or [`NIL`].
    filling: [u32; CLASSES],
    /// Per size class: the first free record, or [`NIL`]; a free record holds the next one
    /// in its first 4 bytes.
    free: [u32; CLASSES],
    boxed: Vec<Option<Box<Boxed>>>,
    boxed_free: Vec<u32>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            chunks: Vec::new(),
            filling: [NIL; CLASSES],
            free: [NIL; CLASSES],
            boxed: Vec::new(),
            boxed_free: Vec::new(),
        }
    }
}

impl Store {
    /// Chunk index and byte offset of a record handle.
    fn locate(h: u32) -> (usize, usize) {
        (
            (h >> CHUNK_SHIFT) as usize,
            (h & ((1 << CHUNK_SHIFT) - 1)) as usize * UNIT,
        )
    }

    /// The bytes of the record `h` (exactly its length).
    fn record(&self, h: u32) -> &[u8] {
        let (c, at) = Self::locate(h);
        let b = &self.chunks[c][at..];
        &b[..stored_len(b)]
    }

    /// `units` bytes of the record `h`, for writing.
    fn record_mut(&mut self, h: u32, units: usize) -> &mut [u8] {
        let (c, at) = Self::locate(h);
        &mut self.chunks[c][at..at + units * UNIT]
    }

    /// A record of `units` units: a free one of that size, or a new one. `None` once the
    /// handle space (16 GiB of records per database) is used up.
    fn alloc(&mut self, units: usize) -> Option<u32> {
        let class = units - 1;
        let head = self.free[class];
        if head != NIL {
            let (c, at) = Self::locate(head);
            self.free[class] = read_u32(&self.chunks[c], at);
            return Some(head);
        }
        let size = units * UNIT;
        let filling = self.filling[class];
        let c = if filling != NIL && self.chunks[filling as usize].len() + size <= CHUNK {
            filling as usize
        } else {
            let c = self.chunks.len();
            if (c + 1) << CHUNK_SHIFT > BOXED as usize {
                return None;
            }
            // Chunks are filled by growing within their capacity, never reallocated, so
            // their untouched tail costs no resident memory.
            self.chunks.push(Vec::with_capacity(CHUNK));
            self.filling[class] = c as u32;
            c
        };
        let chunk = &mut self.chunks[c];
        let at = chunk.len();
        chunk.resize(at + size, 0);
        Some(((c as u32) << CHUNK_SHIFT) | (at / UNIT) as u32)
    }

    /// Stores a new entry; returns its handle.
    fn put(&mut self, key: &[u8], value: NewValue<'_>, expire_at: Option<i64>, atime: u32) -> u32 {
        let mut digits = itoa::Buffer::new();
        let (string, flags) = match value {
            NewValue::Str(s, flags) => (s, flags),
            NewValue::Value(Value::Str(Str::Int(n))) => (digits.format(n).as_bytes(), F_INT),
            NewValue::Value(Value::Str(Str::Bytes { data, raw }))
                if record_len(key.len(), expire_at.is_some(), data.len()).is_some() =>
            {
                return self.put(
                    key,
                    NewValue::Str(&data, if raw { F_RAW } else { 0 }),
                    expire_at,
                    atime,
                );
            }
            NewValue::Value(value) => return self.put_boxed(key, value, expire_at, atime),
        };
        let Some(len) = record_len(key.len(), expire_at.is_some(), string.len()) else {
            return self.put_boxed(key, str_value(string, flags), expire_at, atime);
        };
        let units = len.div_ceil(UNIT);
        let Some(h) = self.alloc(units) else {
            return self.put_boxed(key, str_value(string, flags), expire_at, atime);
        };
        write_record(
            self.record_mut(h, units),
            key,
            string,
            flags,
            expire_at,
            atime,
        );
        h
    }

    fn put_boxed(&mut self, key: &[u8], value: Value, expire_at: Option<i64>, atime: u32) -> u32 {
        let boxed = Box::new(Boxed {
            key: key.into(),
            value,
            expire_at: expire_at.unwrap_or(NO_EXPIRE),
            atime,
        });
        match self.boxed_free.pop() {
            Some(i) => {
                self.boxed[i as usize] = Some(boxed);
                i | BOXED
            }
            None => {
                self.boxed.push(Some(boxed));
                (self.boxed.len() - 1) as u32 | BOXED
            }
        }
    }

    fn boxed(&self, h: u32) -> &Boxed {
        self.boxed[(h & !BOXED) as usize]
            .as_deref()
            .expect("a live handle")
    }

    fn boxed_mut(&mut self, h: u32) -> &mut Boxed {
        self.boxed[(h & !BOXED) as usize]
            .as_deref_mut()
            .expect("a live handle")
    }

    /// The entry `h`, borrowed.
    fn entry(&self, h: u32) -> EntryRef<'_> {
        if h & BOXED != 0 {
            EntryRef::Boxed(self.boxed(h))
        } else {
            EntryRef::Record(self.record(h))
        }
    }

    /// The key of the entry `h`.
    fn key(&self, h: u32) -> &[u8] {
        if h & BOXED != 0 {
            &self.boxed(h).key
        } else {
            let (c, at) = Self::locate(h);
            let b = &self.chunks[c][at..];
            &b[H_KEY..record_key_end(b)]
        }
    }

    /// Frees the entry `h`.
    fn release(&mut self, h: u32) {
        if h & BOXED != 0 {
            self.boxed[(h & !BOXED) as usize] = None;
            self.boxed_free.push(h & !BOXED);
        } else {
            let units = self.record(h).len().div_ceil(UNIT);
            let class = units - 1;
            let next = self.free[class];
            self.record_mut(h, 1)[..4].copy_from_slice(&next.to_le_bytes());
            self.free[class] = h;
        }
    }

    /// Frees the entry `h` and returns it as an owned [`Entry`].
    fn take(&mut self, h: u32) -> Entry {
        if h & BOXED != 0 {
            let e = self.boxed[(h & !BOXED) as usize]
                .take()
                .expect("a live handle");
            self.boxed_free.push(h & !BOXED);
            Entry(Repr::Boxed(e))
        } else {
            let e = Entry(Repr::Record(self.record(h).into()));
            self.release(h);
            e
        }
    }

    /// Whether the entry `h` has expired at `now` (the lookup's check, reading only the flags
    /// of a record without an expiry).
    fn is_expired(&self, h: u32, now: i64) -> bool {
        if h & BOXED != 0 {
            let e = self.boxed(h);
            e.expire_at != NO_EXPIRE && e.expire_at <= now
        } else {
            let (c, at) = Self::locate(h);
            let b = &self.chunks[c][at..];
            b[0] & F_VOLATILE != 0 && read_i64(b, record_key_end(b)) <= now
        }
    }

    /// Touches the entry `h` and returns it.
    fn touch_entry(&mut self, h: u32, ticks: u32) -> EntryRef<'_> {
        if h & BOXED != 0 {
            let e = self.boxed_mut(h);
            e.atime = ticks;
            EntryRef::Boxed(e)
        } else {
            let (c, at) = Self::locate(h);
            let b = &mut self.chunks[c][at..];
            b[H_ATIME..H_KEY_LEN].copy_from_slice(&ticks.to_le_bytes());
            let len = stored_len(b);
            EntryRef::Record(&b[..len])
        }
    }

    fn touch(&mut self, h: u32, ticks: u32) {
        if h & BOXED != 0 {
            self.boxed_mut(h).atime = ticks;
        } else {
            self.record_mut(h, 1)[H_ATIME..H_KEY_LEN].copy_from_slice(&ticks.to_le_bytes());
        }
    }

    /// Sets or clears the expiry of `h`, rewriting a record (and updating `h`) only when its
    /// size changes.
    fn set_expire_at(&mut self, h: &mut u32, expire_at: Option<i64>) {
        if *h & BOXED != 0 {
            self.boxed_mut(*h).expire_at = expire_at.unwrap_or(NO_EXPIRE);
            return;
        }
        let b = self.record(*h);
        let volatile = b[0] & F_VOLATILE != 0;
        match (volatile, expire_at) {
            (true, Some(at)) => {
                let (end, units) = (record_key_end(b), b.len().div_ceil(UNIT));
                self.record_mut(*h, units)[end..end + 8].copy_from_slice(&at.to_le_bytes());
            }
            (false, None) => {}
            _ => {
                let mut copy = [0u8; RECORD_MAX];
                let len = b.len();
                copy[..len].copy_from_slice(b);
                let b = &copy[..len];
                self.release(*h);
                *h = self.put(
                    &b[H_KEY..record_key_end(b)],
                    NewValue::Str(&b[record_payload(b)..], b[0]),
                    expire_at,
                    read_u32(b, H_ATIME),
                );
            }
        }
    }

    /// Moves the record `h` to the boxed form (updating `h`) and returns its value, so that it
    /// can be modified in place.
    fn promote(&mut self, h: &mut u32) -> &mut Value {
        if *h & BOXED == 0 {
            let e = self.entry(*h);
            let (key, expire_at, atime) = (e.key().into(), e.expire_at(), e.atime());
            let value = e.to_value();
            self.release(*h);
            *h = self.put_boxed(&[], value, expire_at, atime);
            self.boxed_mut(*h).key = key;
        }
        &mut self.boxed_mut(*h).value
    }

    /// Bytes the store itself uses beyond its live entries: the chunk and slab arrays.
    fn overhead(&self) -> usize {
        self.chunks.capacity() * size_of::<Vec<u8>>()
            + self.boxed.capacity() * size_of::<Option<Box<Boxed>>>()
            + self.boxed_free.capacity() * size_of::<u32>()
    }
}

/// A string value from record bytes and flags.
fn str_value(string: &[u8], flags: u8) -> Value {
    Value::Str(match parse_canonical_i64(string) {
        Some(n) if flags & F_INT != 0 => Str::Int(n),
        _ => Str::Bytes {
            data: string.to_vec(),
            raw: flags & F_RAW != 0,
        },
    })
}

/// One key with its value and metadata, borrowed from the keyspace: a record or a boxed entry
/// (see [`Store`]). Commands read strings in place through [`EntryRef::str_ref`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryRef<'a> {
    Record(&'a [u8]),
    Boxed(&'a Boxed),
}

/// An entry taken out of the keyspace ([`Db::remove`]).
#[derive(Debug)]
pub(crate) struct Entry(Repr);

#[derive(Debug)]
enum Repr {
    Record(Box<[u8]>),
    Boxed(Box<Boxed>),
}

impl Entry {
    /// The entry, borrowed.
    pub(crate) fn as_ref(&self) -> EntryRef<'_> {
        match &self.0 {
            Repr::Record(b) => EntryRef::Record(b),
            Repr::Boxed(e) => EntryRef::Boxed(e),
        }
    }

    /// The absolute expiry time in unix milliseconds, if the key has one.
    pub(crate) fn expire_at(&self) -> Option<i64> {
        self.as_ref().expire_at()
    }

    /// The value, taken out.
    pub(crate) fn into_value(self) -> Value {
        match self.0 {
            Repr::Record(b) => EntryRef::Record(&b).to_value(),
            Repr::Boxed(e) => e.value,
        }
    }
}

impl<'a> EntryRef<'a> {
    /// The key.
    pub(crate) fn key(self) -> &'a [u8] {
        match self {
            EntryRef::Record(b) => &b[H_KEY..record_key_end(b)],
            EntryRef::Boxed(e) => &e.key,
        }
    }

    /// The absolute expiry time in unix milliseconds, if the key has one.
    pub(crate) fn expire_at(self) -> Option<i64> {
        match self {
            EntryRef::Record(b) if b[0] & F_VOLATILE != 0 => Some(read_i64(b, record_key_end(b))),
            EntryRef::Record(_) => None,
            EntryRef::Boxed(e) => (e.expire_at != NO_EXPIRE).then_some(e.expire_at),
        }
    }

    fn is_volatile(self) -> bool {
        match self {
            EntryRef::Record(b) => b[0] & F_VOLATILE != 0,
            EntryRef::Boxed(e) => e.expire_at != NO_EXPIRE,
        }
    }

    fn is_expired(self, now: i64) -> bool {
        self.expire_at().is_some_and(|at| at <= now)
    }

    /// The access word: the last access in [`Clock::ticks`], or under an LFU policy Redis's
    /// LFU word (minutes of the last decrement above an 8-bit counter), as Redis reuses its
    /// `lru` field.
    pub(crate) fn access_word(self) -> u32 {
        self.atime()
    }

    /// Last access, in [`Clock::ticks`] (or the LFU word, see [`EntryRef::access_word`]).
    fn atime(self) -> u32 {
        match self {
            EntryRef::Record(b) => read_u32(b, H_ATIME),
            EntryRef::Boxed(e) => e.atime,
        }
    }

    /// Seconds since the last access (`OBJECT IDLETIME`), given the current clock.
    pub(crate) fn idle_secs(self, clock: Clock) -> u32 {
        clock.ticks.saturating_sub(self.atime()) / 10
    }

    /// Redis's type name (`TYPE`).
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            EntryRef::Record(_) => "string",
            EntryRef::Boxed(e) => e.value.type_name(),
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub(crate) fn encoding(self) -> &'static str {
        match self {
            EntryRef::Record(b) if b[0] & F_INT != 0 => "int",
            EntryRef::Record(b)
                if b[0] & F_RAW == 0 && b.len() - record_payload(b) <= EMBSTR_MAX =>
            {
                "embstr"
            }
            EntryRef::Record(_) => "raw",
            EntryRef::Boxed(e) => e.value.encoding(),
        }
    }

    /// The value if it is a string, borrowed; `None` for other types.
    pub(crate) fn str_ref(self) -> Option<StrRef<'a>> {
        match self {
            EntryRef::Record(b) => Some(StrRef::Bytes(&b[record_payload(b)..])),
            EntryRef::Boxed(e) => match &e.value {
                Value::Str(s) => Some(s.as_str_ref()),
                _ => None,
            },
        }
    }

    /// The value if it is an integer-encoded string.
    pub(crate) fn as_int(self) -> Option<i64> {
        match self {
            EntryRef::Record(b) if b[0] & F_INT != 0 => {
                parse_canonical_i64(&b[record_payload(b)..])
            }
            EntryRef::Record(_) => None,
            EntryRef::Boxed(e) => match &e.value {
                Value::Str(Str::Int(n)) => Some(*n),
                _ => None,
            },
        }
    }

    /// The value, borrowed when it is stored as a [`Value`] and rebuilt (copied) when it is a
    /// record. Hot paths read strings through [`EntryRef::str_ref`] instead.
    pub(crate) fn as_value(self) -> Cow<'a, Value> {
        match self {
            EntryRef::Record(b) => Cow::Owned(str_value(&b[record_payload(b)..], b[0])),
            EntryRef::Boxed(e) => Cow::Borrowed(&e.value),
        }
    }

    /// The value, copied.
    pub(crate) fn to_value(self) -> Value {
        self.as_value().into_owned()
    }

    /// Heap bytes this entry owns (its table bucket is counted with the table).
    pub(crate) fn mem(self) -> usize {
        match self {
            EntryRef::Record(b) => b.len().next_multiple_of(UNIT),
            // Boxed entries and their keys come from the system allocator.
            EntryRef::Boxed(e) => {
                crate::alloc::heap_size(size_of::<Boxed>())
                    + size_of::<Option<Box<Boxed>>>()
                    + crate::alloc::heap_size(e.key.len())
                    + e.value.mem()
            }
        }
    }
}

/// One key slot's table of handles into the database's [`Store`].
#[derive(Debug, Default)]
struct Slot {
    table: HashTable<u32>,
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
    /// Heap bytes of the entries ([`EntryRef::mem`]).
    mem: usize,
    /// Heap bytes of the slot tables.
    table_mem: usize,
    /// Keys removed because their time to live passed, since the last [`Db::take_expired`].
    expired: u64,
    /// Sum of the expiry times of volatile keys, for the exact average time to live.
    expire_sum: i128,
}

impl Counts {
    fn linked(&mut self, e: EntryRef<'_>) {
        self.keys += 1;
        self.mem += e.mem();
        if let Some(at) = e.expire_at() {
            self.expires += 1;
            self.expire_sum += at as i128;
        }
    }

    fn unlinked(&mut self, e: EntryRef<'_>) {
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
    /// The entries the slot tables point to.
    store: Store,
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
    fn put(&mut self, key: &[u8], e: EntryRef<'_>) {
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

/// The access word of the entry `h` after an access: the time, or the updated LFU counter.
fn accessed(store: &Store, h: u32, lfu: Option<crate::evict::Lfu>, clock: Clock) -> u32 {
    match lfu {
        None => clock.ticks,
        Some(l) => crate::evict::lfu_touch(
            store.entry(h).atime(),
            clock.now_ms,
            l,
            rand::random::<f64>(),
        ),
    }
}

/// Finds the live entry of `key` in `slots`, reclaiming it if it has expired; returns its
/// handle in the slot table. A free function over the parts of a [`Db`], so that callers can
/// still update `counts` and `store` while holding the handle.
#[allow(clippy::too_many_arguments)]
fn lookup<'a>(
    slots: &'a mut [Slot],
    store: &mut Store,
    counts: &mut Counts,
    watches: &mut Watches,
    expired_log: Option<&mut EventLog>,
    hash: u64,
    key: &[u8],
    clock: Clock,
) -> Option<&'a mut u32> {
    let slot = slots.get_mut(keyslot(key))?;
    match slot.table.find_entry(hash, |&h| store.key(h) == key) {
        Err(_) => None,
        Ok(o) if store.is_expired(*o.get(), clock.now_ms) => {
            let (h, _) = o.remove();
            watches.touch(key);
            if let Some(log) = expired_log {
                log.push(("expired", key.into()));
            }
            slot.volatile -= 1;
            counts.unlinked(store.entry(h));
            store.release(h);
            counts.expired += 1;
            None
        }
        Ok(o) => Some(o.into_mut()),
    }
}

impl Db {
    /// Looks `key` up and reads the far end of its record, changing nothing: a command about
    /// to run on it then finds what it needs in the cache. The result only keeps the reads
    /// from being optimized away.
    pub(crate) fn warm(&self, key: &[u8]) -> u64 {
        let Some(slot) = self.slots.get(keyslot(key)) else {
            return 0;
        };
        match slot
            .table
            .find(self.hash(key), |&h| self.store.key(h) == key)
        {
            Some(&h) if h & BOXED == 0 => {
                u64::from(self.store.record(h).last().copied().unwrap_or(0))
            }
            Some(&h) => u64::from(h),
            None => 0,
        }
    }

    /// Whether `key` is held and not expired at `now`, without reclaiming it.
    fn holds_live(&self, key: &[u8], now: i64) -> bool {
        self.slots
            .get(keyslot(key))
            .and_then(|s| s.table.find(self.hash(key), |&h| self.store.key(h) == key))
            .is_some_and(|&h| !self.store.entry(h).is_expired(now))
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
        self.counts.mem
            + self.counts.table_mem
            + self.slots.capacity() * size_of::<Slot>()
            + self.store.overhead()
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
            for &h in &slot.table {
                let e = self.store.entry(h);
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
        let store = &self.store;
        if let Some(&h) = self
            .slots
            .get(slot)
            .and_then(|s| s.table.find(hash, |&h| store.key(h) == key))
        {
            snap.put(key, store.entry(h));
        }
    }

    /// The live entry of `key`, removing it first if it has expired, and touching its access
    /// time.
    pub(crate) fn entry_mut(&mut self, key: &[u8], clock: Clock) -> Option<EntryRef<'_>> {
        // Reads come through here too (to touch the access time); they are preserved as well,
        // because the caller may go on to modify the entry.
        self.preserve(key);
        let hash = self.hash(key);
        let h = *lookup(
            &mut self.slots,
            &mut self.store,
            &mut self.counts,
            &mut self.watches,
            self.log_expired.then_some(&mut self.events),
            hash,
            key,
            clock,
        )?;
        let word = accessed(&self.store, h, self.lfu, clock);
        Some(self.store.touch_entry(h, word))
    }

    /// The live entry of `key` without touching its access time (`OBJECT IDLETIME`, `TTL`);
    /// an expired key is still reclaimed.
    pub(crate) fn peek(&mut self, key: &[u8], clock: Clock) -> Option<EntryRef<'_>> {
        // Even a peek may reclaim an expired key, which the snapshot must see first.
        self.preserve(key);
        let hash = self.hash(key);
        let h = *lookup(
            &mut self.slots,
            &mut self.store,
            &mut self.counts,
            &mut self.watches,
            self.log_expired.then_some(&mut self.events),
            hash,
            key,
            clock,
        )?;
        Some(self.store.entry(h))
    }

    /// Sets the last access of a live `key` `secs` seconds back (`RESTORE ... IDLETIME`);
    /// returns false if the key does not exist.
    pub(crate) fn set_idle_secs(&mut self, key: &[u8], secs: i64, clock: Clock) -> bool {
        let ticks = secs.saturating_mul(10).clamp(0, u32::MAX as i64) as u32;
        self.set_access_word(key, clock.ticks.saturating_sub(ticks), clock)
    }

    /// Sets the access word of a live `key` (`RESTORE ... FREQ`, see
    /// [`EntryRef::access_word`]); returns false if the key does not exist.
    pub(crate) fn set_access_word(&mut self, key: &[u8], word: u32, clock: Clock) -> bool {
        self.preserve(key);
        let hash = self.hash(key);
        let Some(&mut h) = lookup(
            &mut self.slots,
            &mut self.store,
            &mut self.counts,
            &mut self.watches,
            self.log_expired.then_some(&mut self.events),
            hash,
            key,
            clock,
        ) else {
            return false;
        };
        self.store.touch(h, word);
        true
    }

    /// The live string of `key`, touching it: `Some(Ok(..))` for a string, `Some(Err(()))`
    /// for another type, `None` if missing.
    pub(crate) fn str_ref(&mut self, key: &[u8], clock: Clock) -> Option<Result<StrRef<'_>, ()>> {
        self.entry_mut(key, clock).map(|e| e.str_ref().ok_or(()))
    }

    /// The live value of `key`, for modification in place. A string record is moved to the
    /// boxed form first (as Redis turns an `embstr` into a `raw` string when it is modified),
    /// so commands that only read strings use [`Db::str_ref`] or [`EntryRef::str_ref`].
    pub(crate) fn value(&mut self, key: &[u8], clock: Clock) -> Option<&mut Value> {
        self.preserve(key);
        let hash = self.hash(key);
        let Db {
            slots,
            store,
            counts,
            watches,
            events,
            log_expired,
            lfu,
            ..
        } = self;
        let log = log_expired.then_some(events);
        let h = lookup(slots, store, counts, watches, log, hash, key, clock)?;
        store.touch(*h, accessed(store, *h, *lfu, clock));
        if *h & BOXED == 0 {
            let before = store.entry(*h).mem();
            store.promote(h);
            counts.mem = (counts.mem + store.entry(*h).mem()).saturating_sub(before);
        }
        Some(store.promote(h))
    }

    /// The value of `key` without reclaiming or touching it, for reading several values at
    /// once; callers look each key up with [`Db::value`] first, which reclaims expired keys.
    pub(crate) fn get_ref(&self, key: &[u8]) -> Option<&Value> {
        let slot = self.slots.get(keyslot(key))?;
        let &h = slot
            .table
            .find(self.hash(key), |&h| self.store.key(h) == key)?;
        // Only strings are records, and callers read collections.
        (h & BOXED != 0).then(|| &self.store.boxed(h).value)
    }

    /// Whether `key` exists (and is not expired).
    pub(crate) fn contains(&mut self, key: &[u8], clock: Clock) -> bool {
        self.entry_mut(key, clock).is_some()
    }

    /// Sets `key` to `value` with `expire_at` (unix ms), replacing any old entry; returns
    /// whether a live entry was replaced.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        clock: Clock,
    ) -> bool {
        let word = self.fresh_word(clock);
        self.insert_entry(key, NewValue::Value(value), expire_at, word, clock)
    }

    /// Sets `key` to the string `bytes` (integer-encoded when canonical, as Redis's SET does)
    /// with `expire_at`, replacing any old entry; returns whether a live entry was replaced.
    /// The bytes are copied once, next to the key.
    pub(crate) fn insert_str(
        &mut self,
        key: &[u8],
        bytes: &[u8],
        expire_at: Option<i64>,
        clock: Clock,
    ) -> bool {
        let flags = if parse_canonical_i64(bytes).is_some() {
            F_INT
        } else {
            0
        };
        let word = self.fresh_word(clock);
        self.insert_entry(key, NewValue::Str(bytes, flags), expire_at, word, clock)
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
        mut f: impl FnMut(EntryRef<'_>),
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
                .map(|&h| self.store.entry(h))
                .filter(|e| !volatile || e.is_volatile())
                .nth(nth);
            if let Some(e) = picked {
                f(e);
            }
        }
    }

    /// Heap bytes of `key`'s entry plus its table bucket (`MEMORY USAGE`), without touching it.
    /// As Redis's `MEMORY USAGE` (a plain dictionary find), an expired key not yet
    /// reclaimed still counts, and is left in place.
    pub(crate) fn usage(&self, key: &[u8]) -> Option<usize> {
        let &h = self
            .slots
            .get(keyslot(key))?
            .table
            .find(self.hash(key), |&h| self.store.key(h) == key)?;
        Some(self.store.entry(h).mem() + size_of::<u32>() + 1)
    }

    fn insert_entry(
        &mut self,
        key: &[u8],
        value: NewValue<'_>,
        expire_at: Option<i64>,
        word: u32,
        clock: Clock,
    ) -> bool {
        self.preserve(key);
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        let hash = self.hasher.hash_one(key);
        let Db {
            slots,
            store,
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
        if expire_at.is_some() {
            slot.volatile += 1;
        }
        let Some(bucket) = slot.table.find_mut(hash, |&h| store.key(h) == key) else {
            let h = store.put(key, value, expire_at, word);
            counts.linked(store.entry(h));
            let before = slot.table.allocation_size();
            slot.table
                .insert_unique(hash, h, |&h| hasher.hash_one(store.key(h)));
            counts.table_mem =
                (counts.table_mem + slot.table.allocation_size()).saturating_sub(before);
            if *log_new {
                events.push(("new", key.into()));
            }
            return false;
        };
        let old = store.entry(*bucket);
        if old.is_volatile() {
            slot.volatile -= 1;
        }
        let expired = old.is_expired(clock.now_ms);
        counts.unlinked(old);
        // Redis keeps the LFU counter of an overwritten key, after the access of the write's
        // lookup.
        let word = match *lfu {
            Some(_) => accessed(store, *bucket, *lfu, clock),
            None => word,
        };
        // Freed first, so that a record of the same size is rewritten in place.
        store.release(*bucket);
        *bucket = store.put(key, value, expire_at, word);
        counts.linked(store.entry(*bucket));
        if expired {
            counts.expired += 1;
            if *log_expired {
                events.push(("expired", key.into()));
            }
            if *log_new {
                events.push(("new", key.into()));
            }
        }
        !expired
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
        let store = &mut self.store;
        let (h, _) = slot
            .table
            .find_entry(hash, |&h| store.key(h) == key)
            .ok()?
            .remove();
        self.watches.touch(key);
        let e = store.entry(h);
        if e.is_volatile() {
            slot.volatile -= 1;
        }
        self.counts.unlinked(e);
        if e.is_expired(clock.now_ms) {
            store.release(h);
            self.counts.expired += 1;
            if self.log_expired {
                self.events.push(("expired", key.into()));
            }
            None
        } else {
            Some(store.take(h))
        }
    }

    /// Sets or clears the time to live of a live `key`; returns false if the key does not exist.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at: Option<i64>, clock: Clock) -> bool {
        self.preserve(key);
        let hash = self.hash(key);
        let Db {
            slots,
            store,
            counts,
            watches,
            events,
            log_expired,
            lfu,
            ..
        } = self;
        let log = log_expired.then_some(events);
        let Some(h) = lookup(slots, store, counts, watches, log, hash, key, clock) else {
            return false;
        };
        store.touch(*h, accessed(store, *h, *lfu, clock));
        watches.touch(key);
        let was = store.entry(*h).is_volatile();
        counts.unlinked(store.entry(*h));
        store.set_expire_at(h, expire_at);
        counts.linked(store.entry(*h));
        let is = store.entry(*h).is_volatile();
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
    pub(crate) fn for_each_key(&self, now: i64, mut f: impl FnMut(&[u8], EntryRef<'_>)) {
        for slot in &self.slots {
            for &h in &slot.table {
                let e = self.store.entry(h);
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
        mut f: impl FnMut(&[u8], EntryRef<'_>),
    ) -> u64 {
        let count = count.max(1);
        let mut slot = cursor as usize;
        if slot >= SLOTS || self.slots.is_empty() {
            return 0;
        }
        let mut visited = 0usize;
        while slot < SLOTS && visited < count {
            for &h in &self.slots[slot].table {
                let e = self.store.entry(h);
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
            let e = self.store.entry(*table.iter().nth(nth)?);
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
                    store,
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
                slot.table.retain(|&mut h| {
                    let e = store.entry(h);
                    let dead = e.is_expired(now);
                    if dead {
                        watches.touch(e.key());
                        counts.unlinked(e);
                        if *log_expired {
                            events.push(("expired", e.key().into()));
                        }
                        store.release(h);
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
    fn small_strings_are_records_of_their_length_rounded_to_8_bytes() {
        let c = clock(0, 7);
        let mut db = Db::default();
        db.insert_str(b"key:000000123456", b"xxxxxxxxxxxxxxxx", None, c);
        let e = db.peek(b"key:000000123456", c).unwrap();
        // Header 8 + key 16 + value 16: five units, with no allocator header.
        assert!(matches!(e, EntryRef::Record(b) if b.len() == 40));
        assert_eq!(e.mem(), 40);
        db.insert_str(b"k", b"v", None, c);
        assert_eq!(db.peek(b"k", c).unwrap().mem(), 16);
        assert_eq!(db.store.chunks.len(), 2, "one chunk per size class in use");
    }

    #[test]
    fn freed_records_are_reused_and_big_strings_are_boxed() {
        let c = clock(0, 0);
        let mut db = Db::default();
        let key = |i: usize| format!("key:{i:06}").into_bytes();
        for i in 0..20_000 {
            db.insert_str(&key(i), b"value", None, c);
        }
        let chunks = db.store.chunks.len();
        let mem = db.counts.mem;
        for i in (0..20_000).step_by(2) {
            assert!(db.remove(&key(i), c).is_some());
        }
        assert_eq!(db.counts.mem, mem / 2);
        // New keys of the same size fill the freed records; overwrites of the same size are
        // made in place.
        for i in 20_000..30_000 {
            db.insert_str(&key(i), b"other", None, c);
        }
        for i in (1..20_000).step_by(2) {
            assert!(db.insert_str(&key(i), b"again", None, c));
        }
        assert_eq!((db.store.chunks.len(), db.counts.mem), (chunks, mem));
        for i in 20_000..30_000 {
            assert_eq!(
                string_of(&mut db, &key(i), c).as_deref(),
                Some(&b"other"[..])
            );
        }
        // Adding an expiry grows the record to the next class; removing it shrinks it back.
        assert!(db.set_expire(&key(1), Some(5), c));
        assert_eq!(db.peek(&key(1), c).unwrap().mem(), 32);
        assert!(db.set_expire(&key(1), None, c));
        assert_eq!(db.peek(&key(1), c).unwrap().mem(), 24);
        // Long keys and long strings keep the boxed form.
        let long_key = vec![b'k'; 256];
        db.insert_str(&long_key, b"v", Some(9), c);
        assert!(matches!(db.peek(&long_key, c), Some(EntryRef::Boxed(_))));
        db.insert_str(b"big", &[b'x'; RECORD_MAX], None, c);
        assert!(matches!(db.peek(b"big", c), Some(EntryRef::Boxed(_))));
        let fits = vec![b'x'; RECORD_MAX - H_KEY - 3];
        db.insert_str(b"fit", &fits, None, c);
        assert!(matches!(db.peek(b"fit", c), Some(EntryRef::Record(b)) if b.len() == RECORD_MAX));
        // With an expiry it no longer fits: it moves to the boxed form and back.
        assert!(db.set_expire(b"fit", Some(9), c));
        assert!(matches!(db.peek(b"fit", c), Some(EntryRef::Boxed(_))));
        assert_eq!(string_of(&mut db, b"fit", c), Some(fits.clone()));
        assert_eq!(db.peek(b"fit", c).unwrap().encoding(), "raw");
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
    fn warming_a_key_changes_nothing() {
        let c = clock(1_000, 0);
        let mut db = Db::default();
        db.insert_str(b"k", b"value", None, c);
        db.insert_str(b"t", b"1", Some(1_500), c);
        let later = clock(2_000, 7);
        // The last byte of the record (the value's) was read; an expired key is left in place
        // for the command itself to reclaim and count.
        assert_eq!(db.warm(b"k"), u64::from(b'e'));
        assert_eq!(db.warm(b"t"), u64::from(b'1'));
        assert_eq!(db.warm(b"missing"), 0);
        assert_eq!((db.len(), db.expires_len(), db.take_expired()), (2, 1, 0));
        assert_eq!(db.peek(b"k", later).unwrap().atime(), c.ticks);
        assert_eq!(string_of(&mut db, b"t", later), None);
        assert_eq!(db.take_expired(), 1);
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
        assert!(matches!(e, EntryRef::Boxed(_)));
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
    fn crc16_by_eight_matches_the_bitwise_definition() {
        fn bitwise(bytes: &[u8]) -> u16 {
            let mut crc = 0u16;
            for &b in bytes {
                crc ^= u16::from(b) << 8;
                for _ in 0..8 {
                    crc = if crc & 0x8000 != 0 {
                        (crc << 1) ^ 0x1021
                    } else {
                        crc << 1
                    };
                }
            }
            crc
        }
        let data: Vec<u8> = (0..100u32).map(|i| (i * 151 + 7) as u8).collect();
        for len in 0..data.len() {
            assert_eq!(crc16(&data[..len]), bitwise(&data[..len]), "length {len}");
        }
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
