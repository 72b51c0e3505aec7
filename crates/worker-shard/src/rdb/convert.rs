//! Between kvd's in-memory values and the RDB representation.
//!
//! Strings, lists, hashes, sets and sorted sets map both ways.
use super::{RdbValue, opcodes, types, writer};
use crate::Error;
use crate::keyspace::{Str, Value};

/// The RDB form of a value.
pub(crate) fn from_value(value: &Value) -> RdbValue {
    match value {
        Value::Str(s) => RdbValue::String(s.to_vec()),
        Value::List(l) => RdbValue::List(l.iter().map(<[u8]>::to_vec).collect()),
        Value::Hash(h) => {
            let mut pairs = Vec::with_capacity(h.len());
            h.for_each(|f, v| pairs.push((f.to_vec(), v.to_vec())));
            RdbValue::Hash(pairs)
        }
        Value::Set(s) => {
            let mut members = Vec::with_capacity(s.len());
            s.for_each(|m| members.push(m.to_vec()));
            RdbValue::Set(members)
        }
        Value::ZSet(z) => {
            let mut pairs = Vec::with_capacity(z.len());
            z.walk(0, z.len(), &mut |s, m| pairs.push((m.to_vec(), s)));
            RdbValue::SortedSet(pairs)
        }
    }
}

/// Appends one key's record straight from the keyspace value, without an intermediate copy
/// of strings (the bulk of most datasets).
pub(crate) fn put_value_entry(
    buf: &mut Vec<u8>,
    key: &[u8],
    value: &Value,
    expire_at: Option<i64>,
) {
    match value {
        Value::Str(s) => {
            if let Some(at) = expire_at {
                buf.push(opcodes::EXPIRETIME_MS);
                buf.extend_from_slice(&at.to_le_bytes());
            }
            buf.push(types::STRING);
            writer::put_string(buf, key);
            s.with_bytes(|b| writer::put_string(buf, b));
        }
        other => {
            if let Some(at) = expire_at {
                buf.push(opcodes::EXPIRETIME_MS);
                buf.extend_from_slice(&at.to_le_bytes());
            }
            let type_at = buf.len();
            buf.push(0);
            writer::put_string(buf, key);
            buf[type_at] = writer::put_value(buf, &from_value(other));
        }
    }
}

/// The keyspace form of an RDB value, in the encoding Redis would pick after loading it.
pub(crate) fn into_value(value: RdbValue) -> Result<Value, Error> {
    match value {
        RdbValue::String(s) => Ok(Value::Str(Str::from_bytes(&s))),
        RdbValue::List(items) => {
            let fill = crate::EncodingLimits::default().list_max_listpack_size;
            let limits = crate::list::LLimits::from_fill(fill);
            Ok(Value::List(crate::list::List::from_items(items, limits)))
        }
        // Loaded collections take the encoding Redis's defaults give them.
        RdbValue::Set(members) => {
            let limits = crate::EncodingLimits::default();
            let mut set = members
                .first()
                .map_or(crate::set::Set::Ints(Vec::new()), |m| {
                    crate::set::Set::for_member(m)
                });
            for m in &members {
                set.add(m, limits.set_max_intset_entries);
            }
            Ok(Value::Set(Box::new(set)))
        }
        RdbValue::SortedSet(pairs) => {
            let limits = crate::EncodingLimits::default();
            let limits = crate::zset::ZLimits {
                entries: limits.zset_max_listpack_entries,
                value: limits.zset_max_listpack_value,
            };
            let longest = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
            let mut z = crate::zset::ZSet::with_hint(pairs.len(), longest, limits);
            for (m, s) in &pairs {
                z.set(m, *s, limits);
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        RdbValue::Hash(pairs) => {
            let limits = crate::EncodingLimits::default();
            let limits = crate::hash::HLimits {
                entries: limits.hash_max_listpack_entries,
                value: limits.hash_max_listpack_value,
            };
            let mut h = crate::hash::Hash::new(limits);
            for (f, v) in &pairs {
                h.set(f, v, limits);
            }
            Ok(Value::Hash(Box::new(h)))
        }
    }
}
