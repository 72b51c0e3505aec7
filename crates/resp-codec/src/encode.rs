//! Writing replies. The `write_*` functions append one element to a buffer and are what a server
//! uses on its hot path (no intermediate [`Frame`]); [`Frame::encode`] is built on them.
use bytes::{BufMut, BytesMut};

use crate::frame::Frame;

/// The protocol version a connection speaks: RESP2 until the client sends `HELLO 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

fn put_line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn put_len(out: &mut BytesMut, prefix: u8, len: usize) {
    let mut buf = itoa::Buffer::new();
    put_line(out, prefix, buf.format(len).as_bytes());
}

/// Appends `+s\r\n`.
pub fn write_simple(out: &mut BytesMut, s: &[u8]) {
    put_line(out, b'+', s);
}

/// Appends `-msg\r\n`; `msg` includes the error code, e.g. `ERR syntax error`.
pub fn write_error(out: &mut BytesMut, msg: &[u8]) {
    put_line(out, b'-', msg);
}

/// Appends `:n\r\n`.
pub fn write_integer(out: &mut BytesMut, n: i64) {
    let mut buf = itoa::Buffer::new();
    put_line(out, b':', buf.format(n).as_bytes());
}

/// Appends `$len\r\nbytes\r\n`.
pub fn write_bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    put_len(out, b'$', bytes.len());
    out.put_slice(bytes);
    out.put_slice(b"\r\n");
}

/// Appends a null bulk string: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
pub fn write_null(out: &mut BytesMut, proto: Protocol) {
    out.put_slice(match proto {
        Protocol::Resp2 => b"$-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// Appends a null array: `*-1\r\n` in RESP2, `_\r\n` in RESP3.
pub fn write_null_array(out: &mut BytesMut, proto: Protocol) {
    out.put_slice(match proto {
        Protocol::Resp2 => b"*-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// Appends an array header for `len` elements.
pub fn write_array_len(out: &mut BytesMut, len: usize) {
    put_len(out, b'*', len);
}

/// Appends a map header for `len` key/value pairs (`*2len` in RESP2).
pub fn write_map_len(out: &mut BytesMut, len: usize, proto: Protocol) {
    match proto {
        Protocol::Resp2 => put_len(out, b'*', len * 2),
        Protocol::Resp3 => put_len(out, b'%', len),
    }
}

/// Appends a set header for `len` elements (an array header in RESP2).
pub fn write_set_len(out: &mut BytesMut, len: usize, proto: Protocol) {
    match proto {
        Protocol::Resp2 => put_len(out, b'*', len),
        Protocol::Resp3 => put_len(out, b'~', len),
    }
}

/// Appends a push header for `len` elements (an array header in RESP2).
pub fn write_push_len(out: &mut BytesMut, len: usize, proto: Protocol) {
    match proto {
        Protocol::Resp2 => put_len(out, b'*', len),
        Protocol::Resp3 => put_len(out, b'>', len),
    }
}

/// Formats a double the way Redis 7.0 replies with one (`%.17g`; `inf`, `-inf`, `nan`).
pub fn format_double(d: f64) -> String {
    // Placeholder until the codec work lands Redis's exact `%.17g` formatting.
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{d}")
}

/// Appends a double: `,d\r\n` in RESP3, a bulk string in RESP2.
pub fn write_double(out: &mut BytesMut, d: f64, proto: Protocol) {
    let text = format_double(d);
    match proto {
        Protocol::Resp2 => write_bulk(out, text.as_bytes()),
        Protocol::Resp3 => put_line(out, b',', text.as_bytes()),
    }
}

/// Appends a boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
pub fn write_bool(out: &mut BytesMut, b: bool, proto: Protocol) {
    match proto {
        Protocol::Resp2 => write_integer(out, b as i64),
        Protocol::Resp3 => out.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
    }
}

/// Appends a big number: `(digits\r\n` in RESP3, a bulk string in RESP2.
pub fn write_big_number(out: &mut BytesMut, digits: &[u8], proto: Protocol) {
    match proto {
        Protocol::Resp2 => write_bulk(out, digits),
        Protocol::Resp3 => put_line(out, b'(', digits),
    }
}

/// Appends a verbatim string: `=len\r\nfmt:text\r\n` in RESP3, a bulk string of `text` in RESP2.
pub fn write_verbatim(out: &mut BytesMut, format: [u8; 3], text: &[u8], proto: Protocol) {
    match proto {
        Protocol::Resp2 => write_bulk(out, text),
        Protocol::Resp3 => {
            put_len(out, b'=', text.len() + 4);
            out.put_slice(&format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
    }
}

pub(crate) fn encode_frame(frame: &Frame, proto: Protocol, out: &mut BytesMut) {
    match frame {
        Frame::Simple(s) => write_simple(out, s),
        Frame::Error(e) => write_error(out, e),
        Frame::Integer(n) => write_integer(out, *n),
        Frame::Bulk(b) => write_bulk(out, b),
        Frame::Null => write_null(out, proto),
        Frame::NullArray => write_null_array(out, proto),
        Frame::Array(items) => {
            write_array_len(out, items.len());
            items.iter().for_each(|f| encode_frame(f, proto, out));
        }
        Frame::Map(pairs) => {
            write_map_len(out, pairs.len(), proto);
            for (k, v) in pairs {
                encode_frame(k, proto, out);
                encode_frame(v, proto, out);
            }
        }
        Frame::Set(items) => {
            write_set_len(out, items.len(), proto);
            items.iter().for_each(|f| encode_frame(f, proto, out));
        }
        Frame::Double(d) => write_double(out, *d, proto),
        Frame::Boolean(b) => write_bool(out, *b, proto),
        Frame::BigNumber(n) => write_big_number(out, n, proto),
        Frame::Verbatim { format, text } => write_verbatim(out, *format, text, proto),
        Frame::BlobError(e) => match proto {
            Protocol::Resp2 => write_error(out, e),
            Protocol::Resp3 => {
                put_len(out, b'!', e.len());
                out.put_slice(e);
                out.put_slice(b"\r\n");
            }
        },
        Frame::Push(items) => {
            write_push_len(out, items.len(), proto);
            items.iter().for_each(|f| encode_frame(f, proto, out));
        }
        Frame::Attribute { attrs, data } => {
            if proto == Protocol::Resp3 {
                put_len(out, b'|', attrs.len());
                for (k, v) in attrs {
                    encode_frame(k, proto, out);
                    encode_frame(v, proto, out);
                }
            }
            encode_frame(data, proto, out);
        }
    }
}
