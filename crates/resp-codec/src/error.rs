use std::fmt;

use bytes::{BufMut, BytesMut};

/// A violation of the protocol. After one, the connection's stream can no longer be trusted, so a
/// server replies with [`ProtocolError::reply_text`] and closes the connection (as Redis does).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A bulk length that is not a number, negative, or over the configured maximum.
    InvalidBulkLength,
    /// A multibulk (array) count that is not a number or over the configured maximum.
    InvalidMultibulkLength,
    /// An inline request longer than the inline limit with no newline yet.
    TooBigInlineRequest,
    /// A `*count` header line longer than the inline limit with no newline yet.
    TooBigMultibulkCount,
    /// A `$len` header line longer than the inline limit with no newline yet.
    TooBigBulkCount,
    /// Something other than `$` where a bulk string header belongs; carries the byte found.
    ExpectedDollar(u8),
    /// An inline request whose quotes do not balance.
    UnbalancedQuotes,
    /// A multibulk count over 10 from a client that has not authenticated yet (Redis's guard
    /// against memory use before `AUTH`; see [`crate::RequestParser::set_auth_required`]).
    UnauthenticatedMultibulkLength,
    /// A bulk length over 16384 from a client that has not authenticated yet.
    UnauthenticatedBulkLength,
    /// A reply frame that cannot be decoded (client side); carries a short description.
    InvalidFrame(&'static str),
}

impl ProtocolError {
    /// The exact error line Redis sends for this violation, without the leading `-` and the
    /// trailing CRLF, e.g. `ERR Protocol error: invalid bulk length`.
    ///
    /// For [`ProtocolError::ExpectedDollar`] with a byte outside ASCII, Redis sends that raw
    /// byte, which a `String` cannot hold (it becomes U+FFFD here); [`ProtocolError::write_reply`]
    /// writes the exact bytes.
    pub fn reply_text(&self) -> String {
        String::from_utf8_lossy(&self.reply_line()).into_owned()
    }

    /// Appends the complete error reply Redis sends, byte for byte: `-ERR Protocol error: ...`
    /// and CRLF. The same in RESP2 and RESP3. Close the connection after writing it.
    pub fn write_reply(&self, out: &mut BytesMut) {
        out.put_u8(b'-');
        out.put_slice(&self.reply_line());
        out.put_slice(b"\r\n");
    }

    fn reply_line(&self) -> Vec<u8> {
        let mut line = b"ERR Protocol error: ".to_vec();
        match self {
            ProtocolError::ExpectedDollar(b) => {
                // Redis formats the byte with `%c`, then turns CR and LF into spaces so that the
                // reply stays one line.
                let shown = if matches!(b, b'\r' | b'\n') { b' ' } else { *b };
                line.extend_from_slice(b"expected '$', got '");
                line.push(shown);
                line.push(b'\'');
            }
            ProtocolError::InvalidFrame(what) => {
                line.extend_from_slice(b"invalid frame: ");
                line.extend_from_slice(what.as_bytes());
            }
            other => line.extend_from_slice(other.static_detail().as_bytes()),
        }
        line
    }

    fn static_detail(&self) -> &'static str {
        match self {
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::TooBigInlineRequest => "too big inline request",
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            // Never reached: the callers format these two themselves.
            ProtocolError::ExpectedDollar(_) | ProtocolError::InvalidFrame(_) => "invalid frame",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ExpectedDollar(b) => {
                write!(f, "expected '$', got '{}'", b.escape_ascii())
            }
            ProtocolError::InvalidFrame(what) => write!(f, "invalid frame: {what}"),
            other => f.write_str(other.static_detail()),
        }
    }
}

impl std::error::Error for ProtocolError {}
