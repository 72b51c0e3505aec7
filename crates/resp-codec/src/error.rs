use std::fmt;

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
    /// A reply frame that cannot be decoded (client side); carries a short description.
    InvalidFrame(&'static str),
}

impl ProtocolError {
    /// The exact error line Redis sends for this violation, without the leading `-` and the
    /// trailing CRLF, e.g. `ERR Protocol error: invalid bulk length`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.redis_detail())
    }

    fn redis_detail(&self) -> String {
        match self {
            ProtocolError::InvalidBulkLength => "invalid bulk length".into(),
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".into(),
            ProtocolError::TooBigInlineRequest => "too big inline request".into(),
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string".into(),
            ProtocolError::TooBigBulkCount => "too big bulk count string".into(),
            ProtocolError::ExpectedDollar(b) => format!("expected '$', got '{}'", *b as char),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".into(),
            ProtocolError::InvalidFrame(what) => format!("invalid frame: {what}"),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redis_detail())
    }
}

impl std::error::Error for ProtocolError {}
