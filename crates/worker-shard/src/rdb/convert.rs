//! Between kvd's in-memory values and the RDB representation.
//!
//! Strings and lists exist in the keyspace so far; the other [`RdbValue`] kinds map here as soon
//! as their `Value` variants land, and until then a file holding one is refused by name
//! rather than loaded partially.
use super::{RdbValue, opcodes, types, writer};
use crate::Error;
use crate::keyspace::{Str, Value};

/// The RDB form of a value.
pub(crate) fn from_value(value: &Value) -> RdbValue {
    match value {
        Value::Str(s) => RdbValue::String(s.to_vec()),
        Value::List(l) => RdbValue::List(l.iter().map(<[u8]>::to_vec).collect()),
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
        RdbValue::List(items) => Ok(Value::List(crate::list::List::from_items(items))),
        RdbValue::Set(_) => Err(Error::Unsupported("set values (not yet in kvd)".into())),
        RdbValue::SortedSet(_) => Err(Error::Unsupported(
            "sorted set values (not yet in kvd)".into(),
        )),
        RdbValue::Hash(_) => Err(Error::Unsupported("hash values (not yet in kvd)".into())),
    }
}
