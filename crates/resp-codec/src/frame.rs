use bytes::{Bytes, BytesMut};

use crate::encode::Protocol;

/// One RESP2 or RESP3 value, as a server sends it (or a client receives it).
///
/// `Null` and `NullArray` are distinct only so that a RESP2 connection gets `$-1` or `*-1`
/// exactly where Redis sends each; in RESP3 both encode as `_`.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-CODE message` (the bytes include the code, e.g. `ERR syntax error`).
    Error(Bytes),
    /// `:123`
    Integer(i64),
    /// `$len\r\nbytes`
    Bulk(Bytes),
    /// Null bulk string: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// Null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n`
    Array(Vec<Frame>),
    /// RESP3 `%n`; a flat array of 2n elements in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~n`; an array in RESP2.
    Set(Vec<Frame>),
    /// RESP3 `,1.5`; a bulk string in RESP2.
    Double(f64),
    /// RESP3 `#t`/`#f`; the integer 1 or 0 in RESP2.
    Boolean(bool),
    /// RESP3 `(12345678901234567890`; a bulk string in RESP2.
    BigNumber(Bytes),
    /// RESP3 `=len\r\ntxt:...`; a bulk string of the text in RESP2.
    Verbatim {
        /// Three-byte format, e.g. `txt` or `mkd`.
        format: [u8; 3],
        /// The text after the `xxx:` prefix.
        text: Bytes,
    },
    /// RESP3 blob error `!len\r\n...`; a simple error in RESP2.
    BlobError(Bytes),
    /// RESP3 `>n` out-of-band data (Pub/Sub); an array in RESP2.
    Push(Vec<Frame>),
    /// RESP3 `|n` attributes followed by the frame they describe; RESP2 drops the attributes.
    Attribute {
        /// The attribute map.
        attrs: Vec<(Frame, Frame)>,
        /// The frame the attributes belong to.
        data: Box<Frame>,
    },
}

impl Frame {
    /// Appends this frame to `out` as a connection speaking `proto` expects it.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        crate::encode::encode_frame(self, proto, out)
    }

    /// Shorthand for a simple string from static text.
    pub fn simple(s: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// Shorthand for an error from text that includes its code, e.g. `ERR syntax error`.
    pub fn error(s: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(s.into()))
    }

    /// Shorthand for a bulk string.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }
}
