//! One database of one shard: keys, values and times to live.
//!
//! Keys live in 16384 slot maps, the slot being Redis Cluster's key slot (CRC16-XMODEM of the
//! key's hash tag, modulo 16384). The slots make SCAN cheap and exact: a cursor is a slot index,
//! and since a key never changes slot, every key present for a whole scan is returned even while
//! the maps grow. They also let active expiry skip slots without volatile keys, and will later
//! give `CLUSTER GETKEYSINSLOT` and slot migration for free.
//!
//! Everything about the representation of entries stays behind [`Db`] and [`Entry`], so that a
//! later, more compact layout changes this file only.
use std::time::Instant;

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;
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

/// A value. Only strings exist so far; lists, hashes, sets and sorted sets come next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A string.
    Str(Str),
    /// A list.
    List(crate::list::List),
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
        }
    }

    /// Redis's encoding name (`OBJECT ENCODING`).
    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            // Redis 7.0 stores every list as a quicklist, however short.
            Value::List(_) => "quicklist",
        }
    }

    /// Rough heap bytes of the value, for `used_memory`.
    pub(crate) fn mem(&self) -> usize {
        match self {
            Value::Str(Str::Int(_)) => 0,
            Value::Str(Str::Bytes { data, .. }) => data.capacity(),
            Value::List(l) => l.mem(),
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

/// Sentinel for "no time to live" in [`Entry::expire_at`].
const NO_EXPIRE: i64 = i64::MIN;

/// A value with its metadata.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The value.
    pub(crate) value: Value,
    /// Absolute unix time in milliseconds when the key expires, or [`NO_EXPIRE`].
    expire_at: i64,
    /// Last access, in [`Clock::ticks`] (`OBJECT IDLETIME`).
    atime: u32,
}

impl Entry {
    /// The absolute expiry time in unix milliseconds, if the key has one.
    pub(crate) fn expire_at(&self) -> Option<i64> {
        (self.expire_at != NO_EXPIRE).then_some(self.expire_at)
    }

    /// Seconds since the last access (`OBJECT IDLETIME`), given the current clock.
    pub(crate) fn idle_secs(&self, clock: Clock) -> u32 {
        clock.ticks.saturating_sub(self.atime) / 10
    }

    /// Sets the last access `secs` seconds back (`RESTORE ... IDLETIME`).
    pub(crate) fn set_idle_secs(&mut self, secs: i64, clock: Clock) {
        let ticks = secs.saturating_mul(10).clamp(0, u32::MAX as i64) as u32;
        self.atime = clock.ticks.saturating_sub(ticks);
    }

    fn is_expired(&self, now: i64) -> bool {
        self.expire_at != NO_EXPIRE && self.expire_at <= now
    }
}

#[derive(Debug, Default)]
struct Slot {
    map: HashMap<Box<[u8]>, Entry>,
    /// Keys in `map` with a time to live, so active expiry can skip this slot.
    volatile: u32,
}

/// Databases with more keys than this are freed off the worker thread.
const LAZY_FREE_THRESHOLD: usize = 64 * 1024;

/// Fixed overhead per key in the memory estimate: table slot, entry and box header.
const ENTRY_OVERHEAD: usize = 56;

/// One database of one shard.
#[derive(Debug, Default)]
pub(crate) struct Db {
    /// Empty until the first write, then exactly [`SLOTS`] long.
    slots: Vec<Slot>,
    keys: usize,
    expires: usize,
    mem: usize,
    /// Keys removed because their time to live passed, since the last [`Db::take_expired`].
    expired: u64,
    /// Where active expiry resumes.
    expire_cursor: usize,
    /// Sum of the expiry times of volatile keys, for the exact average time to live.
    expire_sum: i128,
    /// Keyspace events to log for notifications (`expired`, `new`): empty when notifications
    /// for them are off, so the fast path only tests a boolean.
    pub(crate) log_expired: bool,
    pub(crate) log_new: bool,
    /// Logged `(event, key)` pairs, drained by the shard after each command.
    pub(crate) events: Vec<(&'static str, Box<[u8]>)>,
    /// `WATCH`: who watches which key, and who saw a watched key touched.
    watches: Watches,
    /// The background snapshot being taken of this database, if any.
    snap: Option<Box<Snapshot>>,
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
        self.expires += (e.expire_at != NO_EXPIRE) as u64;
        crate::rdb::put_value_entry(&mut self.bytes, key, &e.value, e.expire_at());
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

impl Db {
    /// Whether `key` is held and not expired at `now`, without reclaiming it.
    fn holds_live(&self, key: &[u8], now: i64) -> bool {
        self.slots
            .get(keyslot(key))
            .and_then(|s| s.map.get(key))
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
            let _ = self.lookup(k, clock, false);
        }
        self.watches.dirty.contains(&client)
    }

    /// Number of keys (including expired ones not yet reclaimed).
    pub(crate) fn len(&self) -> usize {
        self.keys
    }

    /// Number of keys with a time to live.
    pub(crate) fn expires_len(&self) -> usize {
        self.expires
    }

    /// Average remaining time to live of volatile keys in milliseconds (0 if none), for
    /// `INFO keyspace`'s `avg_ttl`.
    pub(crate) fn avg_ttl(&self, now: i64) -> u64 {
        if self.expires == 0 {
            return 0;
        }
        let avg = self.expire_sum / self.expires as i128 - now as i128;
        avg.clamp(0, u64::MAX as i128) as u64
    }

    /// Estimated bytes used.
    pub(crate) fn mem(&self) -> usize {
        self.mem
            + if self.slots.is_empty() {
                0
            } else {
                SLOTS * std::mem::size_of::<Slot>()
            }
    }

    /// Returns and zeroes the count of keys expired since the last call.
    pub(crate) fn take_expired(&mut self) -> u64 {
        std::mem::take(&mut self.expired)
    }

    fn slots_mut(&mut self) -> &mut Vec<Slot> {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        &mut self.slots
    }

    /// The live entry of `key`, removing it first if it has expired, and touching its access
    /// time.
    pub(crate) fn entry_mut(&mut self, key: &[u8], clock: Clock) -> Option<&mut Entry> {
        self.lookup(key, clock, true)
    }

    /// The live entry of `key` without touching its access time (`OBJECT IDLETIME`, `TTL`);
    /// an expired key is still reclaimed.
    pub(crate) fn peek(&mut self, key: &[u8], clock: Clock) -> Option<&Entry> {
        self.lookup(key, clock, false).map(|e| &*e)
    }

    /// Starts a background snapshot of this database as of `now`.
    pub(crate) fn begin_snapshot(&mut self, now: i64) {
        self.snap = Some(Box::new(Snapshot {
            now,
            bytes: Vec::with_capacity(self.keys.min(1 << 20) * 32),
            ..Snapshot::default()
        }));
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
            for (k, e) in &slot.map {
                if !snap.early.contains(k) {
                    snap.put(k, e);
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
        let Some(snap) = self.snap.as_mut() else {
            return;
        };
        let slot = keyslot(key);
        if slot < snap.next_slot || snap.early.contains(key) {
            return;
        }
        snap.early.insert(key.into());
        if let Some(e) = self.slots.get(slot).and_then(|s| s.map.get(key)) {
            snap.put(key, e);
        }
    }

    fn lookup(&mut self, key: &[u8], clock: Clock, touch: bool) -> Option<&mut Entry> {
        // Reads come through here too (to touch the access time); they are preserved as well,
        // because the caller may modify the entry through the returned reference.
        self.preserve(key);
        let slot = self.slots.get_mut(keyslot(key))?;
        match slot.map.entry_ref(key) {
            EntryRef::Vacant(_) => None,
            EntryRef::Occupied(o) if o.get().is_expired(clock.now_ms) => {
                let (k, e) = o.remove_entry();
                self.watches.touch(&k);
                slot.volatile -= 1;
                self.keys -= 1;
                self.expires -= 1;
                self.expire_sum -= e.expire_at as i128;
                self.expired += 1;
                self.mem = self.mem.saturating_sub(entry_mem(&k, &e));
                if self.log_expired {
                    self.events.push(("expired", k));
                }
                None
            }
            EntryRef::Occupied(o) => {
                let e = o.into_mut();
                if touch {
                    e.atime = clock.ticks;
                }
                Some(e)
            }
        }
    }

    /// The live value of `key`.
    pub(crate) fn value(&mut self, key: &[u8], clock: Clock) -> Option<&mut Value> {
        self.entry_mut(key, clock).map(|e| &mut e.value)
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
        self.preserve(key);
        let entry = Entry {
            value,
            expire_at: expire_at.unwrap_or(NO_EXPIRE),
            atime: clock.ticks,
        };
        let new_mem = key.len() + ENTRY_OVERHEAD + entry.value.mem();
        let volatile = entry.expire_at != NO_EXPIRE;
        let new_at = entry.expire_at;
        self.watches.touch(key);
        let slot = &mut self.slots_mut()[keyslot(key)];
        let old = match slot.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), entry)),
            EntryRef::Vacant(v) => {
                v.insert(entry);
                None
            }
        };
        if volatile {
            slot.volatile += 1;
        }
        if old.is_none() && self.log_new {
            self.events.push(("new", key.into()));
        }
        self.mem += new_mem;
        if volatile {
            self.expires += 1;
            self.expire_sum += new_at as i128;
        }
        match old {
            None => {
                self.keys += 1;
                None
            }
            Some(old) => {
                self.mem = self
                    .mem
                    .saturating_sub(key.len() + ENTRY_OVERHEAD + old.value.mem());
                if old.expire_at != NO_EXPIRE {
                    self.expires -= 1;
                    self.expire_sum -= old.expire_at as i128;
                    self.slots[keyslot(key)].volatile -= 1;
                }
                if old.is_expired(clock.now_ms) {
                    self.expired += 1;
                    if self.log_expired {
                        self.events.push(("expired", key.into()));
                    }
                    if self.log_new {
                        self.events.push(("new", key.into()));
                    }
                    None
                } else {
                    Some(old)
                }
            }
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
        let slot = self.slots.get_mut(keyslot(key))?;
        let (k, e) = slot.map.remove_entry(key)?;
        self.watches.touch(&k);
        if e.expire_at != NO_EXPIRE {
            slot.volatile -= 1;
            self.expires -= 1;
            self.expire_sum -= e.expire_at as i128;
        }
        self.keys -= 1;
        self.mem = self.mem.saturating_sub(entry_mem(&k, &e));
        if e.is_expired(clock.now_ms) {
            self.expired += 1;
            if self.log_expired {
                self.events.push(("expired", k));
            }
            None
        } else {
            Some(e)
        }
    }

    /// Sets or clears the time to live of a live `key`; returns false if the key does not exist.
    pub(crate) fn set_expire(&mut self, key: &[u8], expire_at: Option<i64>, clock: Clock) -> bool {
        let Some(e) = self.entry_mut(key, clock) else {
            return false;
        };
        let (old_at, new_at) = (e.expire_at, expire_at.unwrap_or(NO_EXPIRE));
        e.expire_at = new_at;
        self.watches.touch(key);
        let (was, is) = (old_at != NO_EXPIRE, new_at != NO_EXPIRE);
        if was {
            self.expire_sum -= old_at as i128;
        }
        if is {
            self.expire_sum += new_at as i128;
        }
        let slot = &mut self.slots[keyslot(key)];
        match (was, is) {
            (false, true) => {
                slot.volatile += 1;
                self.expires += 1;
            }
            (true, false) => {
                slot.volatile -= 1;
                self.expires -= 1;
            }
            _ => {}
        }
        true
    }

    /// Accounts for a value that grew or shrank in place by `delta` bytes.
    pub(crate) fn resized(&mut self, old: usize, new: usize) {
        self.mem = (self.mem + new).saturating_sub(old);
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
        let old = std::mem::replace(
            self,
            Db {
                expired: self.expired,
                watches,
                log_expired: self.log_expired,
                log_new: self.log_new,
                events,
                ..Db::default()
            },
        );
        let mut old = old;
        self.snap = old.snap.take();
        // Freeing millions of entries takes long enough to stall the shard, so big databases
        // are dropped on a short-lived thread, as Redis's lazy free does.
        // If the thread cannot be spawned, the data is simply freed here.
        if old.keys > LAZY_FREE_THRESHOLD {
            let _ = std::thread::Builder::new()
                .name("kvd-lazy-free".into())
                .spawn(move || drop(old));
        }
    }

    /// Calls `f` for every live key (KEYS).
    pub(crate) fn for_each_key(&self, now: i64, mut f: impl FnMut(&[u8], &Entry)) {
        for slot in &self.slots {
            for (k, e) in &slot.map {
                if !e.is_expired(now) {
                    f(k, e);
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
            for (k, e) in &self.slots[slot].map {
                visited += 1;
                if !e.is_expired(clock.now_ms) {
                    f(k, e);
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
            if self.keys == 0 {
                return None;
            }
            let start = rng.gen_range(0..SLOTS);
            let slot = (0..SLOTS)
                .map(|i| (start + i) % SLOTS)
                .find(|&i| !self.slots[i].map.is_empty())?;
            let map = &self.slots[slot].map;
            let nth = rng.gen_range(0..map.len());
            let (k, e) = map.iter().nth(nth)?;
            if !e.is_expired(clock.now_ms) {
                return Some(k.to_vec());
            }
            let k = k.to_vec();
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
        while self.expires > 0 && slots_left > 0 {
            let (mut sampled, mut expired) = (0usize, 0usize);
            while sampled < SAMPLE && slots_left > 0 {
                let i = self.expire_cursor;
                self.expire_cursor = (i + 1) % SLOTS;
                slots_left -= 1;
                let (log, events) = (self.log_expired, &mut self.events);
                let slot = &mut self.slots[i];
                if slot.volatile == 0 {
                    continue;
                }
                sampled += slot.volatile as usize;
                let (mut freed_mem, mut freed_at) = (0, 0i128);
                let before = slot.map.len();
                let watches = &mut self.watches;
                slot.map.retain(|k, e| {
                    let dead = e.is_expired(now);
                    if dead {
                        watches.touch(k);
                        freed_mem += entry_mem(k, e);
                        freed_at += e.expire_at as i128;
                        if log {
                            events.push(("expired", k.clone()));
                        }
                    }
                    !dead
                });
                let n = before - slot.map.len();
                slot.volatile -= n as u32;
                expired += n;
                self.keys -= n;
                self.expires -= n;
                self.expire_sum -= freed_at;
                self.mem = self.mem.saturating_sub(freed_mem);
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
        self.expired += reclaimed;
        (reclaimed, cut_short)
    }
}

fn entry_mem(key: &[u8], e: &Entry) -> usize {
    key.len() + ENTRY_OVERHEAD + e.value.mem()
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
