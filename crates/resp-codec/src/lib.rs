//! Bytes ↔ frames for the Redis protocol (RESP2 and RESP3), byte-compatible with Redis 7.0.
//! No IO, no threads: a connection owner feeds bytes in and takes bytes out.
//!
//! # Main types
//!
//! - [`RequestParser`] turns a connection's read buffer into [`Request`]s: RESP arrays of bulk
//!   strings and inline commands (`PING\r\n`, `SET a "b c"\r\n`). It is incremental (a partial
//!   request costs nothing to resume; every byte is examined once), zero-copy (arguments are
//!   [`Bytes`] slices of the read buffer) and enforces [`Limits`] with Redis's exact errors.
//! - [`ProtocolError`] is a protocol violation; [`ProtocolError::reply_text`] is the exact line
//!   Redis replies with before closing the connection, which the caller must then do.
//! - [`Frame`] is any RESP2/RESP3 value. [`Frame::encode`] writes it for a connection's
//!   [`Protocol`], downgrading RESP3 types for RESP2 exactly as Redis does (maps flatten,
//!   doubles become bulk strings, booleans integers, attributes vanish, ...).
//! - The `write_*` functions ([`write_bulk`], [`write_integer`], [`write_array_len`], ...) append
//!   one element without building a `Frame`: the server's hot path.
//! - [`format_double`] is Redis's `%.17g` for doubles; [`format_incrbyfloat`] is its
//!   human-friendly form for `INCRBYFLOAT` results.
//! - [`decode_frame`] reads any reply frame (the client side: tests, benchmarks, tools).
//!
//! # Example
//!
//! ```
//! use resp_codec::{BytesMut, Frame, Protocol, RequestParser, write_bulk};
//!
//! let mut parser = RequestParser::default();
//! // A pipeline as one read delivered it: an array request, then an inline one cut short.
//! let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nhi\r\nGET k"[..]);
//!
//! let set = parser.parse(&mut buf)?.expect("a complete request");
//! assert_eq!(set.args(), &[&b"SET"[..], &b"k"[..], &b"hi"[..]]);
//! assert_eq!(parser.parse(&mut buf)?, None); // `GET k` has no newline yet
//!
//! buf.extend_from_slice(b"\r\n"); // the next read
//! let get = parser.parse(&mut buf)?.expect("a complete request");
//! assert_eq!(get.name(), b"GET");
//!
//! // Replies: write straight into the output buffer, or encode a Frame.
//! let mut out = BytesMut::new();
//! Frame::simple("OK").encode(Protocol::Resp2, &mut out);
//! write_bulk(&mut out, b"hi");
//! Frame::Map(vec![(Frame::bulk("a"), Frame::Double(1.5))]).encode(Protocol::Resp2, &mut out);
//! assert_eq!(&out[..], b"+OK\r\n$2\r\nhi\r\n*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
//! # Ok::<(), resp_codec::ProtocolError>(())
//! ```
//!
//! On a protocol error, reply with `-` + [`ProtocolError::reply_text`] + CRLF and close:
//!
//! ```
//! use resp_codec::{BytesMut, RequestParser};
//!
//! let mut buf = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
//! let err = RequestParser::default().parse(&mut buf).unwrap_err();
//! assert_eq!(err.reply_text(), "ERR Protocol error: invalid bulk length");
//! ```
//!
//! # Layout
//!
//! `request` (client requests), `frame` (the value type), `encode` (writers, downgrade rules,
//! double formatting), `decode` (reply decoding), `error`, and `int` (Redis's strict `string2ll`).
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
pub use request::{Limits, Request, RequestParser, peek_first_arguments};
