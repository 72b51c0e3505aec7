//! Reading replies (the client side): every RESP2 and RESP3 type, strictly.
use bytes::Bytes;

use crate::error::ProtocolError;
use crate::frame::Frame;
use crate::int::parse_i64_strict;

/// Deepest nesting of aggregates accepted; deeper input is rejected rather than risking the
/// stack on hostile data. Redis replies nest a handful of levels at most.
const MAX_DEPTH: usize = 256;

/// Why decoding stopped: more bytes are needed, or the bytes are not RESP.
enum Stop {
    Incomplete,
    Invalid(&'static str),
}

type Step<T> = Result<T, Stop>;

/// Decodes one complete frame (any RESP2 or RESP3 type) from the front of `buf`.
///
/// Returns the frame and the number of bytes it used, or `Ok(None)` if `buf` holds only part of
/// a frame. This is the client side of the codec (tests, benchmarks, reuse as a client).
///
/// Decoding is strict: lines must end in CRLF, lengths must be canonical integers, and only
/// `$-1` and `*-1` may be negative (they decode as [`Frame::Null`] and [`Frame::NullArray`]).
/// Anything else is [`ProtocolError::InvalidFrame`]. It copies the payload out of `buf`, and
/// rescans from the start on every call, which is fine for replies in tests and tools.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let mut decoder = Decoder { buf, pos: 0 };
    match decoder.frame(0) {
        Ok(frame) => Ok(Some((frame, decoder.pos))),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Invalid(what)) => Err(ProtocolError::InvalidFrame(what)),
    }
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn frame(&mut self, depth: usize) -> Step<Frame> {
        if depth > MAX_DEPTH {
            return Err(Stop::Invalid("nesting too deep"));
        }
        let Some(&kind) = self.buf.get(self.pos) else {
            return Err(Stop::Incomplete);
        };
        if !b"+-:$*~>%|_,#(!=".contains(&kind) {
            return Err(Stop::Invalid("unknown type byte"));
        }
        self.pos += 1;
        let line = self.line()?;
        Ok(match kind {
            b'+' => Frame::Simple(Bytes::copy_from_slice(line)),
            b'-' => Frame::Error(Bytes::copy_from_slice(line)),
            b':' => Frame::Integer(parse_integer(line).ok_or(Stop::Invalid("bad integer"))?),
            b'$' => match length(line, true)? {
                None => Frame::Null,
                Some(len) => Frame::Bulk(Bytes::copy_from_slice(self.blob(len)?)),
            },
            b'*' => match length(line, true)? {
                None => Frame::NullArray,
                Some(n) => Frame::Array(self.frames(n, depth)?),
            },
            b'~' => Frame::Set(self.frames(length(line, false)?.unwrap_or(0), depth)?),
            b'>' => Frame::Push(self.frames(length(line, false)?.unwrap_or(0), depth)?),
            b'%' => Frame::Map(self.pairs(length(line, false)?.unwrap_or(0), depth)?),
            b'|' => {
                let attrs = self.pairs(length(line, false)?.unwrap_or(0), depth)?;
                let data = Box::new(self.frame(depth + 1)?);
                Frame::Attribute { attrs, data }
            }
            b'_' if line.is_empty() => Frame::Null,
            b'_' => return Err(Stop::Invalid("bad null")),
            b',' => Frame::Double(parse_double(line).ok_or(Stop::Invalid("bad double"))?),
            b'#' => match line {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return Err(Stop::Invalid("bad boolean")),
            },
            b'(' if is_big_number(line) => Frame::BigNumber(Bytes::copy_from_slice(line)),
            b'(' => return Err(Stop::Invalid("bad big number")),
            b'!' => {
                let len = length(line, false)?.unwrap_or(0);
                Frame::BlobError(Bytes::copy_from_slice(self.blob(len)?))
            }
            b'=' => {
                let len = length(line, false)?.unwrap_or(0);
                match self.blob(len)? {
                    [a, b, c, b':', text @ ..] => Frame::Verbatim {
                        format: [*a, *b, *c],
                        text: Bytes::copy_from_slice(text),
                    },
                    _ => return Err(Stop::Invalid("bad verbatim string")),
                }
            }
            _ => return Err(Stop::Invalid("unknown type byte")),
        })
    }

    /// The rest of the current line, without its CRLF; the cursor moves past the CRLF.
    fn line(&mut self) -> Step<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let cr = memchr::memchr(b'\r', rest).ok_or(Stop::Incomplete)?;
        match rest.get(cr + 1) {
            None => Err(Stop::Incomplete),
            Some(b'\n') => {
                self.pos += cr + 2;
                Ok(&rest[..cr])
            }
            Some(_) => Err(Stop::Invalid("expected CRLF")),
        }
    }

    /// `len` bytes of payload followed by CRLF.
    fn blob(&mut self, len: usize) -> Step<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        if rest.len() < len.saturating_add(2) {
            return Err(Stop::Incomplete);
        }
        if &rest[len..len + 2] != b"\r\n" {
            return Err(Stop::Invalid("expected CRLF"));
        }
        self.pos += len + 2;
        Ok(&rest[..len])
    }

    fn frames(&mut self, n: usize, depth: usize) -> Step<Vec<Frame>> {
        // The count is untrusted: every element takes at least three bytes, so reserve no more
        // than the buffer could hold.
        let mut items = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 3));
        for _ in 0..n {
            items.push(self.frame(depth + 1)?);
        }
        Ok(items)
    }

    fn pairs(&mut self, n: usize, depth: usize) -> Step<Vec<(Frame, Frame)>> {
        let mut pairs = Vec::with_capacity(n.min((self.buf.len() - self.pos) / 6));
        for _ in 0..n {
            let key = self.frame(depth + 1)?;
            let value = self.frame(depth + 1)?;
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

/// A length or count: `Some(n)`, or `None` for `-1` where `allow_null` (RESP2 nulls).
fn length(line: &[u8], allow_null: bool) -> Step<Option<usize>> {
    match parse_i64_strict(line) {
        Some(-1) if allow_null => Ok(None),
        Some(n) if n >= 0 => usize::try_from(n)
            .map(Some)
            .map_err(|_| Stop::Invalid("length too large")),
        _ => Err(Stop::Invalid("bad length")),
    }
}

/// An integer reply: optional sign, then at least one digit.
fn parse_integer(line: &[u8]) -> Option<i64> {
    let digits = line
        .strip_prefix(b"-")
        .or(line.strip_prefix(b"+"))
        .unwrap_or(line);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(line).ok()?.parse().ok()
}

/// A RESP3 double: decimal or exponent notation, `inf`, `-inf` or `nan`.
fn parse_double(line: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(line).ok()?;
    match text {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        // Rust's parser also takes words like "infinity"; RESP allows only digits here.
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && text.bytes().any(|b| b.is_ascii_digit()) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

fn is_big_number(line: &[u8]) -> bool {
    let digits = line.strip_prefix(b"-").unwrap_or(line);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}
