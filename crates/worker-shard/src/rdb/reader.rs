//! Reading RDB files and `DUMP` payloads, every encoding Redis has written since RDB 1.
use super::{RDB_VERSION, RdbValue, crc64, lzf, opcodes, types};
use crate::Error;

/// One key read from a file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RdbEntry {
    /// Database index.
    pub(crate) db: usize,
    /// The key.
    pub(crate) key: Vec<u8>,
    /// The value.
    pub(crate) value: RdbValue,
    /// Absolute unix time in milliseconds, if the key has a time to live.
    pub(crate) expire_at: Option<i64>,
}

/// Highest RDB version this reader understands (Redis 7.2's; its additions are read too).
const MAX_VERSION: u32 = 11;

fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt(what.into())
}

/// A cursor over the bytes being parsed.
struct Input<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length or, for strings, one of the special encodings.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Input<'a> {
    fn new(buf: &'a [u8]) -> Input<'a> {
        Input { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| corrupt(format!("unexpected end of data at offset {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_or_enc(&mut self) -> Result<Len, Error> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as u64),
            1 => Len::Plain((((first & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match first {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(corrupt(format!("unknown length encoding {first:#x}"))),
            },
            _ => Len::Encoded(first & 0x3f),
        })
    }

    fn len(&mut self) -> Result<u64, Error> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(corrupt("an encoded string where a length was expected")),
        }
    }

    /// A length that counts items still to be read: bounded by the bytes left, so a corrupt
    /// count cannot make us reserve unbounded memory.
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.len()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(corrupt(format!("count {n} exceeds the remaining data")));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<Vec<u8>, Error> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(self
                .take(usize::try_from(n).map_err(|_| corrupt("huge"))?)?
                .to_vec()),
            Len::Encoded(0) => Ok(itoa_vec(self.u8()? as i8 as i64)),
            Len::Encoded(1) => Ok(itoa_vec(i16::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(2) => Ok(itoa_vec(i32::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(3) => {
                let clen = self.len()? as usize;
                let len = self.len()? as usize;
                let packed = self.take(clen)?;
                // LZF expands at most ~ 264 / 2 per input byte; a larger claim is corrupt.
                if len > clen.saturating_mul(132).saturating_add(64) {
                    return Err(corrupt("lzf length out of bounds"));
                }
                lzf::decompress(packed, len).ok_or_else(|| corrupt("invalid lzf data"))
            }
            Len::Encoded(e) => Err(corrupt(format!("unknown string encoding {e}"))),
        }
    }

    /// A `ZSET` (v1) score: a length-prefixed decimal, with 253/254/255 for NaN/+inf/-inf.
    fn text_double(&mut self) -> Result<f64, Error> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.take(n as usize)?;
                std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| corrupt("invalid score"))
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

/// Field/value pairs of a hash.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn itoa_vec(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// Splits a flat list of alternating fields and values into pairs.
fn pairs(flat: Vec<Vec<u8>>) -> Result<Pairs, Error> {
    if !flat.len().is_multiple_of(2) {
        return Err(corrupt("odd number of elements in a hash"));
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

fn scored(flat: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, f64)>, Error> {
    pairs(flat)?
        .into_iter()
        .map(|(m, s)| {
            let score = std::str::from_utf8(&s)
                .ok()
                .and_then(parse_score)
                .ok_or_else(|| corrupt("invalid score in a sorted set"))?;
            Ok((m, score))
        })
        .collect()
}

fn parse_score(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// The elements of a listpack.
pub(super) fn listpack_items(lp: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let bad = || corrupt("invalid listpack");
    if lp.len() < 7
        || u32::from_le_bytes(lp[0..4].try_into().map_err(|_| bad())?) as usize != lp.len()
    {
        return Err(bad());
    }
    let mut items = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp.get(p).ok_or_else(bad)?;
        if b == 0xff {
            break;
        }
        let get = |from: usize, n: usize| lp.get(from..from + n).ok_or_else(bad);
        let (item, size) = if b & 0x80 == 0 {
            (itoa_vec((b & 0x7f) as i64), 1)
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (get(p + 1, n)?.to_vec(), 1 + n)
        } else if b & 0xe0 == 0xc0 {
            let v = (((b & 0x1f) as u16) << 8 | *lp.get(p + 1).ok_or_else(bad)? as u16) as i64;
            // Sign-extend from 13 bits.
            let v = if v >= 1 << 12 { v - (1 << 13) } else { v };
            (itoa_vec(v), 2)
        } else if b & 0xf0 == 0xe0 {
            let n = (((b & 0x0f) as usize) << 8) | *lp.get(p + 1).ok_or_else(bad)? as usize;
            (get(p + 2, n)?.to_vec(), 2 + n)
        } else {
            match b {
                0xf0 => {
                    let n =
                        u32::from_le_bytes(get(p + 1, 4)?.try_into().map_err(|_| bad())?) as usize;
                    (get(p + 5, n)?.to_vec(), 5 + n)
                }
                0xf1 => (
                    itoa_vec(
                        i16::from_le_bytes(get(p + 1, 2)?.try_into().map_err(|_| bad())?) as i64,
                    ),
                    3,
                ),
                0xf2 => {
                    let s = get(p + 1, 3)?;
                    let v = (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64;
                    (itoa_vec(v), 4)
                }
                0xf3 => (
                    itoa_vec(
                        i32::from_le_bytes(get(p + 1, 4)?.try_into().map_err(|_| bad())?) as i64,
                    ),
                    5,
                ),
                0xf4 => (
                    itoa_vec(i64::from_le_bytes(
                        get(p + 1, 8)?.try_into().map_err(|_| bad())?,
                    )),
                    9,
                ),
                _ => return Err(bad()),
            }
        };
        let backlen = match size {
            0..=127 => 1,
            128..16383 => 2,
            16383..2097151 => 3,
            2097151..268435455 => 4,
            _ => 5,
        };
        p += size + backlen;
        items.push(item);
    }
    Ok(items)
}

/// The elements of a ziplist (Redis before 7.0).
pub(super) fn ziplist_items(zl: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let bad = || corrupt("invalid ziplist");
    if zl.len() < 11
        || u32::from_le_bytes(zl[0..4].try_into().map_err(|_| bad())?) as usize != zl.len()
    {
        return Err(bad());
    }
    let mut items = Vec::new();
    let mut p = 10;
    let get = |from: usize, n: usize| zl.get(from..from + n).ok_or_else(bad);
    loop {
        let b = *zl.get(p).ok_or_else(bad)?;
        if b == 0xff {
            break;
        }
        // The previous entry's length: 1 byte, or 0xfe and 4 bytes.
        p += if b == 0xfe { 5 } else { 1 };
        let enc = *zl.get(p).ok_or_else(bad)?;
        let (item, size) = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                (get(p + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (((enc & 0x3f) as usize) << 8) | *zl.get(p + 1).ok_or_else(bad)? as usize;
                (get(p + 2, n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(get(p + 1, 4)?.try_into().map_err(|_| bad())?) as usize;
                (get(p + 5, n)?.to_vec(), 5 + n)
            }
            _ => match enc {
                0xc0 => (
                    itoa_vec(
                        i16::from_le_bytes(get(p + 1, 2)?.try_into().map_err(|_| bad())?) as i64,
                    ),
                    3,
                ),
                0xd0 => (
                    itoa_vec(
                        i32::from_le_bytes(get(p + 1, 4)?.try_into().map_err(|_| bad())?) as i64,
                    ),
                    5,
                ),
                0xe0 => (
                    itoa_vec(i64::from_le_bytes(
                        get(p + 1, 8)?.try_into().map_err(|_| bad())?,
                    )),
                    9,
                ),
                0xf0 => {
                    let s = get(p + 1, 3)?;
                    (
                        itoa_vec((i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64),
                        4,
                    )
                }
                0xfe => (itoa_vec(*zl.get(p + 1).ok_or_else(bad)? as i8 as i64), 2),
                0xf1..=0xfd => (itoa_vec((enc & 0x0f) as i64 - 1), 1),
                _ => return Err(bad()),
            },
        };
        p += size;
        items.push(item);
    }
    Ok(items)
}

/// The members of an intset.
fn intset_items(is: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let bad = || corrupt("invalid intset");
    if is.len() < 8 {
        return Err(bad());
    }
    let width = u32::from_le_bytes(is[0..4].try_into().map_err(|_| bad())?) as usize;
    let n = u32::from_le_bytes(is[4..8].try_into().map_err(|_| bad())?) as usize;
    if !matches!(width, 2 | 4 | 8) || is.len() != 8 + width * n {
        return Err(bad());
    }
    Ok(is[8..]
        .chunks_exact(width)
        .map(|c| {
            let v = match width {
                2 => i16::from_le_bytes([c[0], c[1]]) as i64,
                4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
            };
            itoa_vec(v)
        })
        .collect())
}

/// The field/value pairs of a zipmap (hashes before Redis 2.6).
fn zipmap_pairs(zm: &[u8]) -> Result<Pairs, Error> {
    let bad = || corrupt("invalid zipmap");
    let mut p = 1;
    let mut flat = Vec::new();
    let len_at = |p: &mut usize| -> Result<Option<usize>, Error> {
        let b = *zm.get(*p).ok_or_else(bad)?;
        match b {
            0xff => Ok(None),
            0xfe => {
                let n = u32::from_le_bytes(
                    zm.get(*p + 1..*p + 5)
                        .ok_or_else(bad)?
                        .try_into()
                        .map_err(|_| bad())?,
                );
                *p += 5;
                Ok(Some(n as usize))
            }
            n => {
                *p += 1;
                Ok(Some(n as usize))
            }
        }
    };
    while let Some(klen) = len_at(&mut p)? {
        flat.push(zm.get(p..p + klen).ok_or_else(bad)?.to_vec());
        p += klen;
        let vlen = len_at(&mut p)?.ok_or_else(bad)?;
        let free = *zm.get(p).ok_or_else(bad)? as usize;
        p += 1;
        flat.push(zm.get(p..p + vlen).ok_or_else(bad)?.to_vec());
        p += vlen + free;
    }
    pairs(flat)
}

/// Reads one value of type `t`.
fn value(input: &mut Input<'_>, t: u8) -> Result<RdbValue, Error> {
    Ok(match t {
        types::STRING => RdbValue::String(input.string()?),
        types::LIST => {
            let n = input.count()?;
            RdbValue::List((0..n).map(|_| input.string()).collect::<Result<_, _>>()?)
        }
        types::SET => {
            let n = input.count()?;
            RdbValue::Set((0..n).map(|_| input.string()).collect::<Result<_, _>>()?)
        }
        types::ZSET | types::ZSET_2 => {
            let n = input.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = input.string()?;
                let s = if t == types::ZSET_2 {
                    input.binary_double()?
                } else {
                    input.text_double()?
                };
                if s.is_nan() {
                    return Err(corrupt("NaN score in a sorted set"));
                }
                pairs.push((m, s));
            }
            // Written highest score first; kvd's representation is lowest first.
            pairs.reverse();
            RdbValue::SortedSet(pairs)
        }
        types::HASH => {
            let n = input.count()?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((input.string()?, input.string()?));
            }
            RdbValue::Hash(pairs)
        }
        types::HASH_ZIPMAP => RdbValue::Hash(zipmap_pairs(&input.string()?)?),
        types::LIST_ZIPLIST => RdbValue::List(ziplist_items(&input.string()?)?),
        types::SET_INTSET => RdbValue::Set(intset_items(&input.string()?)?),
        types::SET_LISTPACK => RdbValue::Set(listpack_items(&input.string()?)?),
        types::ZSET_ZIPLIST => RdbValue::SortedSet(scored(ziplist_items(&input.string()?)?)?),
        types::ZSET_LISTPACK => RdbValue::SortedSet(scored(listpack_items(&input.string()?)?)?),
        types::HASH_ZIPLIST => RdbValue::Hash(pairs(ziplist_items(&input.string()?)?)?),
        types::HASH_LISTPACK => RdbValue::Hash(pairs(listpack_items(&input.string()?)?)?),
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = input.count()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                if t == types::LIST_QUICKLIST {
                    items.extend(ziplist_items(&input.string()?)?);
                    continue;
                }
                match input.len()? {
                    // A plain node: one (large) element.
                    1 => items.push(input.string()?),
                    2 => items.extend(listpack_items(&input.string()?)?),
                    c => return Err(corrupt(format!("unknown quicklist container {c}"))),
                }
            }
            RdbValue::List(items)
        }
        15 | 19 | 21 => return Err(Error::Unsupported("stream values".into())),
        6 | 7 => return Err(Error::Unsupported("module values".into())),
        t => return Err(corrupt(format!("unknown value type {t}"))),
    })
}

/// Parses a whole RDB file, checking its CRC64 trailer (unless it is 0, which means the
/// writer had checksums disabled, as Redis accepts).
pub(crate) fn read_rdb(data: &[u8]) -> Result<Vec<RdbEntry>, Error> {
    let mut input = Input::new(data);
    let magic = input.take(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(corrupt("wrong signature trying to load DB from file"));
    }
    let version: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("bad rdb version"))?;
    if !(1..=MAX_VERSION).contains(&version) {
        return Err(Error::Unsupported(format!("rdb version {version}")));
    }
    let mut entries = Vec::new();
    let mut db = 0usize;
    let mut expire_at: Option<i64> = None;
    loop {
        let t = input.u8()?;
        match t {
            opcodes::EXPIRETIME_MS => expire_at = Some(i64::from_le_bytes(input.array()?)),
            opcodes::EXPIRETIME => {
                expire_at = Some(i32::from_le_bytes(input.array()?) as i64 * 1000)
            }
            opcodes::FREQ => {
                input.u8()?;
            }
            opcodes::IDLE => {
                input.len()?;
            }
            opcodes::SELECTDB => {
                db = usize::try_from(input.len()?).map_err(|_| corrupt("db index"))?;
            }
            opcodes::RESIZEDB => {
                input.len()?;
                input.len()?;
            }
            opcodes::AUX => {
                input.string()?;
                input.string()?;
            }
            opcodes::FUNCTION2 => {
                // A function library's code: kvd has no functions; loading must not fail
                // because a Redis that has some wrote them.
                let code = input.string()?;
                tracing::warn!(
                    bytes = code.len(),
                    "skipping a function library found in the rdb file"
                );
            }
            opcodes::FUNCTION_PRE_GA | opcodes::MODULE_AUX => {
                return Err(Error::Unsupported("module or pre-GA function data".into()));
            }
            opcodes::EOF => break,
            t => {
                let key = input.string()?;
                let value = value(&mut input, t)?;
                entries.push(RdbEntry {
                    db,
                    key,
                    value,
                    expire_at: expire_at.take(),
                });
            }
        }
    }
    if version >= 5 {
        let end = input.pos;
        let stored = u64::from_le_bytes(input.array()?);
        if stored != 0 && stored != crc64(0, &data[..end]) {
            return Err(corrupt("wrong rdb checksum"));
        }
    }
    Ok(entries)
}

/// Parses a `DUMP` payload, checking its version and checksum. `Err(None)` is Redis's
/// `DUMP payload version or checksum are wrong`; `Err(Some(..))` a bad payload body.
pub(crate) fn decode_dump(payload: &[u8]) -> Result<RdbValue, Option<Error>> {
    if payload.len() < 10 {
        return Err(None);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..10].try_into().map_err(|_| None)?);
    if version > RDB_VERSION || crc != crc64(0, &payload[..payload.len() - 8]) {
        return Err(None);
    }
    let mut input = Input::new(body);
    let t = input.u8().map_err(Some)?;
    let v = value(&mut input, t).map_err(Some)?;
    if input.pos != body.len() {
        return Err(Some(corrupt("trailing bytes in the payload")));
    }
    Ok(v)
}
