use bytes::{Bytes, BytesMut};

use crate::error::ProtocolError;

/// Protocol limits, with Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, 512 MiB).
    pub max_bulk_len: usize,
    /// Most elements in one request array (1,048,576).
    pub max_multibulk_len: usize,
    /// Longest inline request or header line without a newline (64 KiB).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// One client command: its arguments, each a zero-copy slice of the read buffer. Never empty:
/// the parser skips empty requests as Redis does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    args: Vec<Bytes>,
}

impl Request {
    /// A request from already-split arguments (tests, internal commands, clients).
    pub fn new(args: Vec<Bytes>) -> Request {
        Request { args }
    }

    /// All arguments, the command name first.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }

    /// Consumes the request, returning its arguments.
    pub fn into_args(self) -> Vec<Bytes> {
        self.args
    }

    /// The command name as sent (any case); empty only for a request built empty by hand.
    pub fn name(&self) -> &[u8] {
        self.args.first().map_or(&[], |a| a)
    }

    /// Number of arguments including the command name.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Appends this request to `out` as a RESP array of bulk strings (what clients send).
    pub fn encode(&self, out: &mut BytesMut) {
        crate::encode::write_array_len(out, self.args.len());
        for arg in &self.args {
            crate::encode::write_bulk(out, arg);
        }
    }
}

/// Incremental parser of client requests (RESP arrays of bulk strings, and inline commands).
///
/// Feed it the connection's read buffer after every read; it consumes complete requests from the
/// front and keeps its place inside a partial one, so bytes already checked are not scanned again.
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: Limits,
}

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser { limits }
    }

    /// Parses the next request from the front of `buf`, consuming its bytes.
    ///
    /// `Ok(None)` means more bytes are needed. Empty requests (`*0`, blank inline lines) are
    /// skipped. After an error the parser and connection should be discarded.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        let _ = (buf, self.limits);
        unimplemented!("request parsing lands with the codec work")
    }
}
