//! Redis's RDB format, as Redis 7.0 writes it (`REDIS0010`), and the `DUMP` payload.
//!
//! Values travel through an intermediate representation, [`RdbValue`], made of plain byte
//! vectors and `f64` scores, so that the format code does not depend on how kvd lays out its
//! values in memory; `convert.rs` maps it to and from the keyspace's [`crate::keyspace::Value`].
//!
//! * `writer.rs`: [`RdbWriter`] streams a file: header, AUX fields, `SELECTDB`/`RESIZEDB`,
//!   entries with `EXPIRETIME_MS`, EOF and the CRC64 trailer. Strings are written int-encoded
//!   when Redis would, LZF-compressed when longer than 20 bytes and compressible; lists as
//!   quicklist 2 of listpacks, sets, hashes and sorted sets in their plain encodings (`SET`,
//!   `HASH`, `ZSET_2`), which every Redis since 4.0 loads.
//! * `reader.rs`: [`read_rdb`] parses a whole file, including every older encoding a Redis
//!   file may contain (zipmap, ziplist, intset, quicklist of ziplists, listpack, `ZSET` v1,
//!   second-resolution expiry times).
//! * `crc64.rs`, `lzf.rs`: the checksum and the compression.
mod convert;
mod crc64;
mod lzf;
mod reader;
mod writer;

pub(crate) use convert::{from_value, into_value, put_value_entry};
pub(crate) use crc64::crc64;
pub(crate) use reader::{RdbEntry, decode_dump, read_rdb};
pub(crate) use writer::{RdbWriter, encode_dump};

/// The version kvd writes, that of Redis 7.0.
pub(crate) const RDB_VERSION: u16 = 10;

/// A value in the form the RDB format knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RdbValue {
    /// A string.
    String(Vec<u8>),
    /// A list, head first.
    List(Vec<Vec<u8>>),
    /// A set.
    Set(Vec<Vec<u8>>),
    /// A sorted set: members with their scores.
    SortedSet(Vec<(Vec<u8>, f64)>),
    /// A hash: fields with their values.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Object types (`RDB_TYPE_*`).
pub(crate) mod types {
    pub(crate) const STRING: u8 = 0;
    pub(crate) const LIST: u8 = 1;
    pub(crate) const SET: u8 = 2;
    pub(crate) const ZSET: u8 = 3;
    pub(crate) const HASH: u8 = 4;
    pub(crate) const ZSET_2: u8 = 5;
    pub(crate) const HASH_ZIPMAP: u8 = 9;
    pub(crate) const LIST_ZIPLIST: u8 = 10;
    pub(crate) const SET_INTSET: u8 = 11;
    pub(crate) const ZSET_ZIPLIST: u8 = 12;
    pub(crate) const HASH_ZIPLIST: u8 = 13;
    pub(crate) const LIST_QUICKLIST: u8 = 14;
    pub(crate) const HASH_LISTPACK: u8 = 16;
    pub(crate) const ZSET_LISTPACK: u8 = 17;
    pub(crate) const LIST_QUICKLIST_2: u8 = 18;
    /// Redis 7.2 (RDB 11); read for good measure, never written.
    pub(crate) const SET_LISTPACK: u8 = 20;
}

/// Special opcodes (`RDB_OPCODE_*`).
pub(crate) mod opcodes {
    pub(crate) const FUNCTION2: u8 = 245;
    pub(crate) const FUNCTION_PRE_GA: u8 = 246;
    pub(crate) const MODULE_AUX: u8 = 247;
    pub(crate) const IDLE: u8 = 248;
    pub(crate) const FREQ: u8 = 249;
    pub(crate) const AUX: u8 = 250;
    pub(crate) const RESIZEDB: u8 = 251;
    pub(crate) const EXPIRETIME_MS: u8 = 252;
    pub(crate) const EXPIRETIME: u8 = 253;
    pub(crate) const SELECTDB: u8 = 254;
    pub(crate) const EOF: u8 = 255;
}

#[cfg(test)]
mod tests;
