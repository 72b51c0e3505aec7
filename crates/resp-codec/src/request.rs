use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;

use crate::error::ProtocolError;
use crate::int::parse_i64_strict;

/// Protocol limits, with Redis's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, 512 MiB).
    pub max_bulk_len: usize,
    /// Most elements in one request array (1,048,576). Redis 7.0 itself accepts counts up to
    /// `INT_MAX`; kvd keeps the older 1 Mi cap by default because every argument costs a
    /// handle even when empty, so a count this large is an attack, not a command.
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
    args: Args,
}

/// Arguments held in place up to this many: GET and SET (the common commands) parse and run
/// without allocating a list for their arguments.
const INLINE_ARGS: usize = 3;

/// A request's arguments.
type Args = SmallVec<[Bytes; INLINE_ARGS]>;

impl Request {
    /// A request from already-split arguments (tests, internal commands, clients).
    pub fn new(args: Vec<Bytes>) -> Request {
        Request {
            args: SmallVec::from_vec(args),
        }
    }

    /// All arguments, the command name first.
    pub fn args(&self) -> &[Bytes] {
        &self.args
    }

    /// Consumes the request, returning its arguments.
    pub fn into_args(self) -> Vec<Bytes> {
        self.args.into_vec()
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
/// front and keeps its place inside a partial one, so bytes already checked are not scanned again:
/// a pipeline split at arbitrary byte boundaries is parsed in time linear in its length.
///
/// It may consume the bytes of a partial request (the array header and the arguments already
/// complete move into the parser), so between calls the caller must only append to the buffer.
///
/// Acceptance rules follow Redis 7.0's `processMultibulkBuffer` and `processInlineBuffer` to the
/// byte, quirks included: the byte after a header's `\r` and the two bytes after a bulk string's
/// body are skipped unchecked, and a NUL byte before the end of a header or inline line hides the
/// line end (Redis looks for it with `strchr`), so such a request only ends in
/// [`ProtocolError::TooBigInlineRequest`] (or the header variants) once the limit is passed.
///
/// After an error the parser's state is meaningless: the server must write the error
/// ([`ProtocolError::write_reply`]) and close the connection, as Redis does.
#[derive(Debug, Default)]
pub struct RequestParser {
    limits: Limits,
    /// Arguments still to read in the current array request; zero between requests.
    pending: usize,
    /// Length of the bulk string whose `$len` header was consumed but whose body is incomplete.
    bulk_len: Option<usize>,
    /// Arguments of the current array request read so far.
    args: Args,
    /// Bytes at the front of the buffer already searched for the current line's end; a partial
    /// line is never scanned twice.
    scanned: usize,
    /// A NUL byte was found before the current line's end: like Redis, never see that line end.
    blocked: bool,
    /// The client has not authenticated on a server that requires it.
    auth_required: bool,
}

/// Redis grows `argv` as arguments arrive rather than trusting the announced count; this is the
/// most capacity reserved up front, so a huge `*count` costs nothing until data follows.
const MAX_PREALLOCATED_ARGS: usize = 1024;

/// Largest array count and bulk length Redis accepts before a client has authenticated, so an
/// anonymous peer cannot make the server buffer much.
const UNAUTHENTICATED_MAX_MULTIBULK: i64 = 10;
const UNAUTHENTICATED_MAX_BULK: usize = 16 * 1024;

impl RequestParser {
    /// A parser enforcing `limits`.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            ..RequestParser::default()
        }
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Tells the parser whether the client still has to authenticate (the server has a password
    /// and the client has not sent a successful `AUTH`/`HELLO ... AUTH`). While it does, as in
    /// Redis, an array count over 10 is [`ProtocolError::UnauthenticatedMultibulkLength`] and a
    /// bulk length over 16384 is [`ProtocolError::UnauthenticatedBulkLength`]. Off by default.
    ///
    /// Redis runs each command before parsing the next, so a request pipelined after a
    /// successful `AUTH` is parsed as authenticated: update this before parsing further.
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// Whether the parser holds part of a request (a partial array, or a bulk header awaiting
    /// its body); useful to tell a clean end of stream from a truncated request.
    pub fn is_mid_request(&self) -> bool {
        self.pending != 0
    }

    /// Parses the next request from the front of `buf`, consuming its bytes.
    ///
    /// `Ok(None)` means more bytes are needed. Empty requests (`*0`, `*-1`, blank inline lines)
    /// are skipped. After an error the parser and connection should be discarded.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        if let Some(req) = self.parse_whole(buf) {
            return Ok(Some(req));
        }
        loop {
            if self.pending == 0 {
                match buf.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        if !self.parse_multibulk_header(buf)? {
                            return Ok(None);
                        }
                        if self.pending == 0 {
                            // `*0` and negative counts are empty requests: skip them.
                            continue;
                        }
                    }
                    Some(_) => match self.parse_inline(buf)? {
                        None => return Ok(None),
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(Request { args })),
                    },
                }
            }
            return self.parse_bulks(buf);
        }
    }

    /// The common case in one pass and without touching the parser's state: a request of at
    /// most 9 arguments, every header canonical, wholly in `buf`. Anything else (a partial
    /// request, a request already begun, an odd header) returns `None` with `buf` untouched,
    /// and the general path decides, so the outcome is the same byte for byte.
    #[inline]
    fn parse_whole(&mut self, buf: &mut BytesMut) -> Option<Request> {
        if self.pending != 0 || self.blocked {
            return None;
        }
        let count = short_array_header(buf).filter(|&n| n <= self.limits.max_multibulk_len)?;
        let mut spans = [(0usize, 0usize); SHORT_ARRAY_MAX];
        let mut pos = 4;
        for span in &mut spans[..count] {
            let (len, used) = self.quick_bulk_header(&buf[pos..])?;
            let start = pos + used;
            // The body and the two unchecked bytes after it.
            let end = start.checked_add(len)?.checked_add(2)?;
            if end > buf.len() {
                return None;
            }
            *span = (start, len);
            pos = end;
        }
        // Each argument is split off the buffer on its own: one reference count increment
        // apiece, where freezing the whole request and slicing it costs one more pair (fewer
        // instructions, but atomic ones cost more: 4 % more GETs per second).
        self.scanned = 0;
        let mut args = Args::new();
        let mut at = 0;
        for &(start, len) in &spans[..count] {
            buf.advance(start - at);
            args.push(buf.split_to(len).freeze());
            at = start + len;
        }
        buf.advance(pos - at);
        Some(Request { args })
    }

    /// Reads the `*count` line. Returns false if it is incomplete.
    fn parse_multibulk_header(&mut self, buf: &mut BytesMut) -> Result<bool, ProtocolError> {
        let Some(cr) = self.header_end(buf, ProtocolError::TooBigMultibulkCount)? else {
            return Ok(false);
        };
        let count = parse_i64_strict(&buf[1..cr])
            .filter(|&n| n <= 0 || n as u64 <= self.limits.max_multibulk_len as u64)
            .ok_or(ProtocolError::InvalidMultibulkLength)?;
        if self.auth_required && count > UNAUTHENTICATED_MAX_MULTIBULK {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        if count > 0 {
            let count = count as usize;
            self.pending = count;
            self.args = Args::with_capacity(count.min(MAX_PREALLOCATED_ARGS));
        }
        Ok(true)
    }

    /// Reads the remaining `$len\r\nbytes\r\n` arguments of the current array request.
    fn parse_bulks(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        while self.pending > 0 {
            // if-let match guards are newer than the workspace's rust-version, hence the nesting.
            let quick = match self.bulk_len {
                Some(_) => None,
                None => self.quick_bulk_header(buf),
            };
            let len = match (self.bulk_len, quick) {
                (Some(len), _) => len,
                (None, Some((len, used))) => {
                    buf.advance(used);
                    self.scanned = 0;
                    self.bulk_len = Some(len);
                    len
                }
                (None, None) => {
                    let Some(cr) = self.header_end(buf, ProtocolError::TooBigBulkCount)? else {
                        return Ok(None);
                    };
                    if buf[0] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[0]));
                    }
                    let len = parse_i64_strict(&buf[1..cr])
                        .filter(|&n| n >= 0 && n as u64 <= self.limits.max_bulk_len as u64)
                        .ok_or(ProtocolError::InvalidBulkLength)?
                        as usize;
                    if self.auth_required && len > UNAUTHENTICATED_MAX_BULK {
                        return Err(ProtocolError::UnauthenticatedBulkLength);
                    }
                    buf.advance(cr + 2);
                    self.scanned = 0;
                    self.bulk_len = Some(len);
                    len
                }
            };
            // Redis skips the two bytes after the body without checking they are CRLF.
            if buf.len() < len.saturating_add(2) {
                return Ok(None);
            }
            self.args.push(buf.split_to(len).freeze());
            buf.advance(2);
            self.bulk_len = None;
            self.pending -= 1;
        }
        Ok(Some(Request {
            args: std::mem::take(&mut self.args),
        }))
    }

    /// The common case of a complete, canonical `$len\r?` header within the limits, read in one
    /// pass: returns the length and the header's size. Anything else (partial, malformed, too
    /// long) returns `None` and takes the general path, which produces Redis's exact outcome.
    #[inline]
    fn quick_bulk_header(&self, buf: &[u8]) -> Option<(usize, usize)> {
        canonical_bulk_header(buf).filter(|&(len, _)| {
            len <= self.limits.max_bulk_len
                && !(self.auth_required && len > UNAUTHENTICATED_MAX_BULK)
        })
    }

    /// Finds the `\r` ending the header line at the front of `buf`, as Redis does: the line is
    /// complete once one more byte follows the `\r` (which Redis skips without checking).
    fn header_end(
        &mut self,
        buf: &[u8],
        too_big: ProtocolError,
    ) -> Result<Option<usize>, ProtocolError> {
        match self.find_line_end(buf, b'\r') {
            Some(cr) if cr + 1 < buf.len() => Ok(Some(cr)),
            // The `\r` is the last byte: wait for one more, with no size check (as Redis).
            Some(_) => Ok(None),
            None if buf.len() > self.limits.max_inline_len => Err(too_big),
            None => Ok(None),
        }
    }

    /// Reads one inline command line. `Some(empty)` is a blank line, to be skipped.
    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Option<Args>, ProtocolError> {
        let Some(nl) = self.find_line_end(buf, b'\n') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(None);
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let line = buf.split_to(nl + 1).freeze();
        self.scanned = 0;
        split_inline(&line, end).map(Some)
    }

    /// Finds `term` in `buf`, resuming where the last search of this line stopped. Like Redis's
    /// `strchr`, a NUL byte before `term` hides it, for good.
    fn find_line_end(&mut self, buf: &[u8], term: u8) -> Option<usize> {
        if self.blocked {
            return None;
        }
        let from = self.scanned.min(buf.len());
        // Header lines are a few bytes long; a plain loop beats memchr's setup cost there.
        let quick = buf.len().min(from + 24);
        let found = match buf[from..quick].iter().position(|&b| b == term || b == 0) {
            Some(i) => Some(from + i),
            None => memchr::memchr2(term, 0, &buf[quick..]).map(|i| quick + i),
        };
        match found {
            Some(at) if buf[at] == 0 => {
                self.blocked = true;
                None
            }
            Some(at) => {
                self.scanned = at;
                Some(at)
            }
            None => {
                self.scanned = buf.len();
                None
            }
        }
    }
}

/// The first argument after the command name of each complete request at the front of `buf`,
/// up to `max` requests, without consuming anything; a request without one gives an empty
/// slice. It stops at the first request that is incomplete or not a canonical array of bulk
/// strings (the parser decides what those are).
///
/// A look-ahead for servers that prepare the keys of the commands about to run: fetching them
/// from memory together, before running the commands one by one, overlaps the cache misses.
///
/// ```
/// let buf = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n*2\r\n$3";
/// let mut keys = Vec::new();
/// resp_codec::peek_first_arguments(buf, 8, |key| keys.push(key.to_vec()));
/// assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
/// ```
pub fn peek_first_arguments<'a>(buf: &'a [u8], max: usize, mut f: impl FnMut(&'a [u8])) {
    let mut pos = 0;
    for _ in 0..max {
        let Some(count) = short_array_header(&buf[pos..]) else {
            return;
        };
        pos += 4;
        let mut first = &buf[..0];
        for i in 0..count {
            let Some((len, used)) = canonical_bulk_header(&buf[pos..]) else {
                return;
            };
            let start = pos + used;
            let Some(end) = start.checked_add(len).filter(|&e| e + 2 <= buf.len()) else {
                return;
            };
            if i == 1 {
                first = &buf[start..end];
            }
            pos = end + 2;
        }
        f(first);
    }
}

/// Most arguments of a request the one-pass paths take: the count is one digit.
const SHORT_ARRAY_MAX: usize = 9;

/// The count of a complete `*N\r?` header (4 bytes) at the front of `buf`, for `N` in
/// `1..=SHORT_ARRAY_MAX`.
#[inline]
fn short_array_header(buf: &[u8]) -> Option<usize> {
    // `*N\r` and the unchecked byte after it.
    let &[b'*', digit, b'\r', _, ..] = buf else {
        return None;
    };
    let count = usize::from(digit.wrapping_sub(b'0'));
    (1..=SHORT_ARRAY_MAX).contains(&count).then_some(count)
}

/// A complete `$len\r?` header at the front of `buf` with a canonical length (no sign, no
/// leading zero, at most 18 digits, so no overflow): the length and the header's size.
#[inline]
fn canonical_bulk_header(buf: &[u8]) -> Option<(usize, usize)> {
    let (&b'$', rest) = buf.split_first()? else {
        return None;
    };
    let (&first, _) = rest.split_first()?;
    let mut len = usize::from(first.wrapping_sub(b'0'));
    if len > 9 {
        return None;
    }
    let mut i = 1;
    while i < 18 && i < rest.len() && rest[i].is_ascii_digit() {
        // A leading 0 must stand alone.
        if len == 0 {
            return None;
        }
        len = len * 10 + usize::from(rest[i] - b'0');
        i += 1;
    }
    // The `\r` and the unchecked byte after it must both be there.
    if rest.get(i) != Some(&b'\r') || i + 1 >= rest.len() {
        return None;
    }
    Some((len, 1 + i + 2))
}

/// C's `isspace` in the "C" locale, which Redis's `sdssplitargs` uses between arguments.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line[..end]` into arguments exactly as Redis's `sdssplitargs` does. Unquoted arguments
/// are zero-copy slices of `line`; quoted ones are unescaped into fresh buffers.
///
/// The line holds no NUL byte (the caller's line search stops at one), which is what lets this
/// treat the end of the slice as the end of the C string.
fn split_inline(line: &Bytes, end: usize) -> Result<Args, ProtocolError> {
    let s = &line[..end];
    let mut args = Args::new();
    let mut p = 0;
    loop {
        while p < s.len() && is_c_space(s[p]) {
            p += 1;
        }
        if p == s.len() {
            return Ok(args);
        }
        let start = p;
        // Unquoted run: ends at a space, tab, CR, LF or end of line (not at \v or \f, which
        // sdssplitargs only skips between arguments).
        while p < s.len() && !matches!(s[p], b' ' | b'\n' | b'\r' | b'\t' | b'"' | b'\'') {
            p += 1;
        }
        if p == s.len() || !matches!(s[p], b'"' | b'\'') {
            args.push(line.slice(start..p));
            p = (p + 1).min(s.len());
            continue;
        }
        let mut arg = s[start..p].to_vec();
        p = quoted_token(s, p, &mut arg)?;
        args.push(Bytes::from(arg));
    }
}

/// Continues a token at the opening quote `s[p]`, appending its bytes to `arg`; returns the index
/// just past the token. Mirrors the three states of `sdssplitargs`.
fn quoted_token(s: &[u8], mut p: usize, arg: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    #[derive(PartialEq)]
    enum Mode {
        Plain,
        Double,
        Single,
    }
    let mut mode = Mode::Plain;
    loop {
        let at = |i: usize| s.get(i).copied();
        match mode {
            Mode::Double => match (at(p), at(p + 1)) {
                (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                (Some(b'\\'), Some(b'x'))
                    if at(p + 2).and_then(hex_value).is_some()
                        && at(p + 3).and_then(hex_value).is_some() =>
                {
                    let hi = hex_value(s[p + 2]).unwrap_or(0);
                    let lo = hex_value(s[p + 3]).unwrap_or(0);
                    arg.push(hi * 16 + lo);
                    p += 4;
                }
                (Some(b'\\'), Some(c)) => {
                    arg.push(match c {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    p += 2;
                }
                (Some(b'"'), next) => {
                    // A closing quote must be followed by a space or nothing at all.
                    if next.is_some_and(|c| !is_c_space(c)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    return Ok(p + 1);
                }
                (Some(c), _) => {
                    arg.push(c);
                    p += 1;
                }
            },
            Mode::Single => match (at(p), at(p + 1)) {
                (None, _) => return Err(ProtocolError::UnbalancedQuotes),
                (Some(b'\\'), Some(b'\'')) => {
                    arg.push(b'\'');
                    p += 2;
                }
                (Some(b'\''), next) => {
                    if next.is_some_and(|c| !is_c_space(c)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    return Ok(p + 1);
                }
                (Some(c), _) => {
                    arg.push(c);
                    p += 1;
                }
            },
            Mode::Plain => match at(p) {
                None => return Ok(p),
                Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok(p + 1),
                Some(b'"') => {
                    mode = Mode::Double;
                    p += 1;
                }
                Some(b'\'') => {
                    mode = Mode::Single;
                    p += 1;
                }
                Some(c) => {
                    arg.push(c);
                    p += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(req) = parser.parse(&mut buf)? {
            out.push(req.args().iter().map(|a| a.to_vec()).collect());
        }
        Ok(out)
    }

    fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.to_vec()).collect()
    }

    #[test]
    fn parses_multibulk_and_inline() {
        assert_eq!(
            parse_all(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\nPING\r\nGET a\n").unwrap(),
            vec![
                cmd(&[b"SET", b"a", b"b"]),
                cmd(&[b"PING"]),
                cmd(&[b"GET", b"a"])
            ]
        );
    }

    #[test]
    fn skips_empty_requests() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\n\r\n\n   \r\n*1\r\n$4\r\nPING\r\n").unwrap(),
            vec![cmd(&[b"PING"])]
        );
    }
}
