//! Bytes ↔ frames for the Redis protocol. No IO, no threads.
//!
//! (Crate docs to be completed by the codec work: purpose, main types, runnable example.)
#![deny(missing_docs)]

mod decode;
mod encode;
mod error;
mod frame;
mod int;
mod request;

pub use bytes::{Bytes, BytesMut};
pub use decode::decode_frame;
pub use encode::{
    Protocol, format_double, format_incrbyfloat, write_array_len, write_big_number,
    write_blob_error, write_bool, write_bulk, write_double, write_error, write_integer,
    write_map_len, write_null, write_null_array, write_push_len, write_set_len, write_simple,
    write_verbatim,
};
pub use error::ProtocolError;
pub use frame::Frame;
pub use request::{Limits, Request, RequestParser};
