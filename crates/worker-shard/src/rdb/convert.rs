//! Between kvd's in-memory values and the RDB representation.
//!
//! Only strings exist in the keyspace so far; the other [`RdbValue`] kinds map here as soon
//! as their `Value` variants land, and until then a file holding one is refused by name
//! rather than loaded partially.
use super::RdbValue;
use crate::Error;
use crate::keyspace::{Str, Value};

/// The RDB form of a value.
pub(crate) fn from_value(value: &Value) -> RdbValue {
    match value {
        Value::Str(s) => RdbValue::String(s.to_vec()),
    }
}

/// The keyspace form of an RDB value, in the encoding Redis would pick after loading it.
pub(crate) fn into_value(value: RdbValue) -> Result<Value, Error> {
    match value {
        RdbValue::String(s) => Ok(Value::Str(Str::from_bytes(&s))),
        RdbValue::List(_) => Err(Error::Unsupported("list values (not yet in kvd)".into())),
        RdbValue::Set(_) => Err(Error::Unsupported("set values (not yet in kvd)".into())),
        RdbValue::SortedSet(_) => Err(Error::Unsupported(
            "sorted set values (not yet in kvd)".into(),
        )),
        RdbValue::Hash(_) => Err(Error::Unsupported("hash values (not yet in kvd)".into())),
    }
}
