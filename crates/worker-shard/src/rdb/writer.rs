//! Writing RDB files and `DUMP` payloads.
use std::io::Write;

use super::{RDB_VERSION, RdbValue, crc64, lzf, opcodes, types};
use crate::keyspace::parse_canonical_i64;

/// Strings longer than this are LZF-compressed when that makes them smaller, as Redis does.
const COMPRESS_MIN: usize = 20;

/// Most elements per listpack node of a written list, and most bytes, matching Redis's
/// default `list-max-listpack-size -2` (8 KiB).
const NODE_MAX_ENTRIES: usize = 128;
const NODE_MAX_BYTES: usize = 8 * 1024;

/// Appends an RDB length (6-bit, 14-bit, 32-bit or 64-bit form).
pub(super) fn put_len(buf: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        buf.push(len as u8);
    } else if len < 1 << 14 {
        buf.push(0x40 | (len >> 8) as u8);
        buf.push(len as u8);
    } else if len <= u32::MAX as u64 {
        buf.push(0x80);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        buf.push(0x81);
        buf.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends a string, int-encoded or compressed where Redis would.
pub(super) fn put_string(buf: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11
        && let Some(n) = parse_canonical_i64(s)
    {
        if let Ok(n) = i8::try_from(n) {
            buf.extend_from_slice(&[0xc0, n as u8]);
            return;
        }
        if let Ok(n) = i16::try_from(n) {
            buf.push(0xc1);
            buf.extend_from_slice(&n.to_le_bytes());
            return;
        }
        if let Ok(n) = i32::try_from(n) {
            buf.push(0xc2);
            buf.extend_from_slice(&n.to_le_bytes());
            return;
        }
    }
    if s.len() > COMPRESS_MIN
        && let Some(packed) = lzf::compress(s)
        && packed.len() + 4 < s.len()
    {
        buf.push(0xc3);
        put_len(buf, packed.len() as u64);
        put_len(buf, s.len() as u64);
        buf.extend_from_slice(&packed);
        return;
    }
    put_len(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// Appends a score as `ZSET_2` stores it: the IEEE 754 double, little-endian.
fn put_binary_double(buf: &mut Vec<u8>, d: f64) {
    buf.extend_from_slice(&d.to_le_bytes());
}

/// Appends the listpack of `items` (strings only, which every Redis reads).
fn listpack<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut lp = vec![0u8; 6];
    let mut count = 0usize;
    for item in items {
        let start = lp.len();
        let len = item.len();
        if len < 64 {
            lp.push(0x80 | len as u8);
        } else if len < 4096 {
            lp.push(0xe0 | (len >> 8) as u8);
            lp.push(len as u8);
        } else {
            lp.push(0xf0);
            lp.extend_from_slice(&(len as u32).to_le_bytes());
        }
        lp.extend_from_slice(item);
        let entry_len = (lp.len() - start) as u64;
        put_backlen(&mut lp, entry_len);
        count += 1;
    }
    lp.push(0xff);
    let total = lp.len() as u32;
    lp[0..4].copy_from_slice(&total.to_le_bytes());
    // 65535 means "count them" to a reader.
    let count = u16::try_from(count).unwrap_or(u16::MAX);
    lp[4..6].copy_from_slice(&count.to_le_bytes());
    lp
}

/// Appends a listpack entry's back length: `l` in 7-bit groups, most significant first, every
/// group but the first flagged with the high bit (so it can be read backwards).
fn put_backlen(lp: &mut Vec<u8>, l: u64) {
    let groups = match l {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    };
    for g in (0..groups).rev() {
        let b = ((l >> (7 * g)) & 127) as u8;
        lp.push(if g == groups - 1 { b } else { b | 128 });
    }
}

/// Appends a value's serialization and returns its type byte.
pub(super) fn put_value(buf: &mut Vec<u8>, value: &RdbValue) -> u8 {
    match value {
        RdbValue::String(s) => {
            put_string(buf, s);
            types::STRING
        }
        RdbValue::List(items) => {
            let mut nodes: Vec<&[Vec<u8>]> = Vec::new();
            let mut rest = &items[..];
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && n < NODE_MAX_ENTRIES && (n == 0 || bytes < NODE_MAX_BYTES) {
                    bytes += rest[n].len() + 11;
                    n += 1;
                }
                nodes.push(&rest[..n]);
                rest = &rest[n..];
            }
            put_len(buf, nodes.len() as u64);
            for node in nodes {
                // Container 2 = packed (a listpack); 1 would be one plain element.
                put_len(buf, 2);
                let lp = listpack(node.iter().map(|v| &v[..]));
                put_string(buf, &lp);
            }
            types::LIST_QUICKLIST_2
        }
        RdbValue::Set(members) => {
            put_len(buf, members.len() as u64);
            for m in members {
                put_string(buf, m);
            }
            types::SET
        }
        RdbValue::SortedSet(pairs) => {
            put_len(buf, pairs.len() as u64);
            // Redis writes from the highest score down so that loading inserts at the head
            // of the skiplist; any order loads correctly.
            for (member, score) in pairs.iter().rev() {
                put_string(buf, member);
                put_binary_double(buf, *score);
            }
            types::ZSET_2
        }
        RdbValue::Hash(pairs) => {
            put_len(buf, pairs.len() as u64);
            for (field, value) in pairs {
                put_string(buf, field);
                put_string(buf, value);
            }
            types::HASH
        }
    }
}

/// Appends one key's record: expiry, type, key, value.
#[cfg(test)]
pub(crate) fn put_entry(buf: &mut Vec<u8>, key: &[u8], value: &RdbValue, expire_at: Option<i64>) {
    if let Some(at) = expire_at {
        buf.push(opcodes::EXPIRETIME_MS);
        buf.extend_from_slice(&at.to_le_bytes());
    }
    let type_at = buf.len();
    buf.push(0);
    put_string(buf, key);
    let t = put_value(buf, value);
    buf[type_at] = t;
}

/// The `DUMP` payload of a value: its serialization, the RDB version (2 bytes, little-endian)
/// and the CRC64 of everything before (8 bytes, little-endian).
pub(crate) fn encode_dump(value: &RdbValue) -> Vec<u8> {
    let mut buf = vec![0u8];
    buf[0] = put_value(&mut buf, value);
    buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, &buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// Streams an RDB file to `W`, keeping the running checksum.
#[derive(Debug)]
pub(crate) struct RdbWriter<W: Write> {
    out: W,
    crc: u64,
    scratch: Vec<u8>,
}

impl<W: Write> RdbWriter<W> {
    /// Writes the header and the AUX fields Redis 7.0 writes.
    pub(crate) fn new(out: W, ctime: i64, used_mem: u64) -> std::io::Result<RdbWriter<W>> {
        let mut w = RdbWriter {
            out,
            crc: 0,
            scratch: Vec::with_capacity(256),
        };
        w.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        let aux: [(&str, String); 5] = [
            ("redis-ver", "7.0.15".to_owned()),
            ("redis-bits", "64".to_owned()),
            ("ctime", ctime.to_string()),
            ("used-mem", used_mem.to_string()),
            ("aof-base", "0".to_owned()),
        ];
        for (k, v) in aux {
            let mut buf = std::mem::take(&mut w.scratch);
            buf.clear();
            buf.push(opcodes::AUX);
            put_string(&mut buf, k.as_bytes());
            put_string(&mut buf, v.as_bytes());
            w.raw(&buf)?;
            w.scratch = buf;
        }
        Ok(w)
    }

    /// Starts database `db`, announcing its key counts so the loader can size its tables.
    pub(crate) fn select_db(&mut self, db: usize, keys: u64, expires: u64) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.push(opcodes::SELECTDB);
        put_len(&mut buf, db as u64);
        buf.push(opcodes::RESIZEDB);
        put_len(&mut buf, keys);
        put_len(&mut buf, expires);
        let r = self.raw(&buf);
        self.scratch = buf;
        r
    }

    /// Switches to database `db` without announcing its size (a stream of slices from
    /// several shards may switch back and forth; loaders accept any number of these).
    pub(crate) fn select_db_only(&mut self, db: usize) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.push(opcodes::SELECTDB);
        put_len(&mut buf, db as u64);
        let r = self.raw(&buf);
        self.scratch = buf;
        r
    }

    /// Writes one key.
    #[cfg(test)]
    pub(crate) fn entry(
        &mut self,
        key: &[u8],
        value: &RdbValue,
        expire_at: Option<i64>,
    ) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        put_entry(&mut buf, key, value, expire_at);
        let r = self.raw(&buf);
        self.scratch = buf;
        r
    }

    /// Writes bytes already in the format (entries serialized elsewhere with `put_entry`).
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc64(self.crc, bytes);
        self.out.write_all(bytes)
    }

    /// Writes EOF and the checksum; returns the sink.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        self.raw(&[opcodes::EOF])?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}
