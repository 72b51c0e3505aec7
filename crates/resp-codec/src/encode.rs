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

/// Appends a line that must not contain CR or LF, turning any into spaces: a line break inside
/// a status or error would end it early and let the rest be read as further replies (the text
/// can carry client input, e.g. an unknown command's name). Redis maps them the same way in
/// `addReplyErrorFormat`.
fn put_safe_line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', body).is_none() {
        return put_line(out, prefix, body);
    }
    out.reserve(body.len() + 3);
    out.put_u8(prefix);
    out.extend(
        body.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.put_slice(b"\r\n");
}

/// Appends `+s\r\n` (CR and LF in `s` become spaces).
pub fn write_simple(out: &mut BytesMut, s: &[u8]) {
    put_safe_line(out, b'+', s);
}

/// Appends `-msg\r\n`; `msg` includes the error code, e.g. `ERR syntax error`. Like Redis's
/// `addReplyErrorFormat`, CR and LF at either end are trimmed and inner ones become spaces.
pub fn write_error(out: &mut BytesMut, msg: &[u8]) {
    let start = msg.iter().position(|&b| b != b'\r' && b != b'\n');
    let end = msg.iter().rposition(|&b| b != b'\r' && b != b'\n');
    let trimmed = match (start, end) {
        (Some(start), Some(end)) => &msg[start..=end],
        _ => &[],
    };
    put_safe_line(out, b'-', trimmed);
}

/// Appends a blob error: `!len\r\nmsg\r\n` in RESP3, a simple error in RESP2.
pub fn write_blob_error(out: &mut BytesMut, msg: &[u8], proto: Protocol) {
    match proto {
        Protocol::Resp2 => write_error(out, msg),
        Protocol::Resp3 => {
            out.reserve(msg.len() + 16);
            put_len(out, b'!', msg.len());
            out.put_slice(msg);
            out.put_slice(b"\r\n");
        }
    }
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

/// Formats a double the way Redis 7.0 replies with one: C's `%.17g`, with `inf` and `-inf` for
/// the infinities (and glibc's `nan`/`-nan`, which Redis never sends).
///
/// ```
/// use resp_codec::format_double;
/// assert_eq!(format_double(1.1), "1.1000000000000001");
/// assert_eq!(format_double(3.0), "3");
/// assert_eq!(format_double(1e20), "1e+20");
/// assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
/// assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
/// ```
pub fn format_double(d: f64) -> String {
    let mut buf = DoubleBuf::new();
    buf.write_g17(d);
    buf.as_str().to_owned()
}

/// Formats the result of `INCRBYFLOAT`/`HINCRBYFLOAT` the way Redis 7.0 stores and replies with
/// it: fixed notation, never an exponent, at most 17 decimals, trailing zeros and a trailing dot
/// removed, `-0` shown as `0`, and `inf`/`-inf` (callers reject those before storing, as Redis
/// does with "increment would produce NaN or Infinity").
///
/// Redis computes in 80-bit `long double` and prints `%.17Lf`, which Rust cannot reproduce (no
/// such type). This prints the shortest decimal that reads back as `value`, rounded to 17
/// decimals. It gives Redis's text for ordinary sums (`10.5 + 0.1` → `10.6`, `0 + 1e20` →
/// `100000000000000000000`, checked on redis-server 7.0.15), and differs in two cases:
/// where binary64 rounding shows (`0.1 + 0.2` is `0.30000000000000004` here, `0.3` in Redis),
/// and where the result has more significant digits than a `long double` holds exactly, as
/// Redis prints its binary noise (`0 + 123456789.123456789` is `123456789.12345678899873747`
/// in Redis, `123456789.12345679` here; `0 + 1e30` is `1000000000000000000024696061952` there).
///
/// ```
/// use resp_codec::format_incrbyfloat;
/// assert_eq!(format_incrbyfloat(10.5 + 0.1), "10.6");
/// assert_eq!(format_incrbyfloat(3.0), "3");
/// assert_eq!(format_incrbyfloat(5.0e3), "5000");
/// assert_eq!(format_incrbyfloat(1e20), "100000000000000000000");
/// assert_eq!(format_incrbyfloat(-0.0), "0");
/// assert_eq!(format_incrbyfloat(1e-20), "0");
/// ```
pub fn format_incrbyfloat(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    let shortest = value.to_string();
    let decimals = shortest.find('.').map_or(0, |dot| shortest.len() - dot - 1);
    let mut text = if decimals <= 17 {
        shortest
    } else {
        format!("{value:.17}")
    };
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text.remove(0);
    }
    text
}

/// A stack buffer for one formatted double, so the reply path does not allocate.
struct DoubleBuf {
    bytes: [u8; 40],
    len: usize,
}

impl std::fmt::Write for DoubleBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl DoubleBuf {
    fn new() -> DoubleBuf {
        DoubleBuf {
            bytes: [0; 40],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    fn push(&mut self, b: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }

    /// C's `%.17g`. Rust's `{:.16e}` rounds exactly like glibc (to nearest, ties to even, on the
    /// exact binary value); what remains is `%g`'s choice of style and its trimming.
    fn write_g17(&mut self, d: f64) {
        use std::fmt::Write;
        if d.is_nan() {
            let text = if d.is_sign_negative() { "-nan" } else { "nan" };
            let _ = self.write_str(text);
            return;
        }
        if d.is_infinite() {
            let _ = self.write_str(if d > 0.0 { "inf" } else { "-inf" });
            return;
        }
        if d.fract() == 0.0 && d.abs() < 1e17 && !(d == 0.0 && d.is_sign_negative()) {
            // A whole number of at most 17 digits (the usual score) prints as itself in the
            // plain style: no exact float formatting needed.
            let mut buf = itoa::Buffer::new();
            let _ = self.write_str(buf.format(d as i64));
            return;
        }
        self.write_g17_exact(d);
    }

    /// [`DoubleBuf::write_g17`] for a finite `d`, through exact decimal formatting.
    fn write_g17_exact(&mut self, d: f64) {
        use std::fmt::Write;
        let mut sci = DoubleBuf::new();
        let _ = write!(sci, "{d:.16e}");
        let sci = sci.as_bytes();
        let (negative, sci) = match sci {
            [b'-', rest @ ..] => (true, rest),
            _ => (false, sci),
        };
        // `sci` is `D.DDDDDDDDDDDDDDDDe[-]X`: 17 significant digits and the exponent.
        let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
        let mut digits = [b'0'; 17];
        let mut n = 0;
        for &b in &sci[..e_at] {
            if b.is_ascii_digit() && n < 17 {
                digits[n] = b;
                n += 1;
            }
        }
        let exp: i32 = std::str::from_utf8(&sci[(e_at + 1).min(sci.len())..])
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        // `%g` drops trailing zeros of the significand, whichever style it picks.
        let mut sig = 17;
        while sig > 1 && digits[sig - 1] == b'0' {
            sig -= 1;
        }
        let digits = &digits[..sig];
        if negative {
            self.push(b'-');
        }
        if (-4..17).contains(&exp) {
            if exp >= 0 {
                let int_len = exp as usize + 1;
                for i in 0..int_len.max(digits.len()) {
                    if i == int_len {
                        self.push(b'.');
                    }
                    self.push(digits.get(i).copied().unwrap_or(b'0'));
                }
            } else {
                let _ = self.write_str("0.");
                for _ in 0..(-exp - 1) {
                    self.push(b'0');
                }
                digits.iter().for_each(|&b| self.push(b));
            }
        } else {
            self.push(digits[0]);
            if digits.len() > 1 {
                self.push(b'.');
                digits[1..].iter().for_each(|&b| self.push(b));
            }
            let _ = write!(self, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        }
    }
}

/// Appends a double: `,d\r\n` in RESP3, a bulk string in RESP2.
pub fn write_double(out: &mut BytesMut, d: f64, proto: Protocol) {
    let mut text = DoubleBuf::new();
    text.write_g17(d);
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
        Frame::BlobError(e) => write_blob_error(out, e, proto),
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

#[cfg(test)]
mod tests {
    use super::DoubleBuf;

    /// The shortcut for whole numbers prints what the exact path prints.
    #[test]
    fn whole_numbers_print_as_the_exact_path_does() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut cases: Vec<f64> = (0..17).map(|e| 10f64.powi(e)).collect();
        cases.extend([0.0, 1.0, -1.0, 9007199254740992.0, 99999999999999984.0]);
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 17 + 1) as u32;
            let n = (x >> 8) % 10u64.pow(digits);
            let sign = if x & 1 == 0 { 1.0 } else { -1.0 };
            cases.push(sign * n as f64);
        }
        for d in cases {
            if d == 0.0 && d.is_sign_negative() {
                continue;
            }
            let (mut fast, mut exact) = (DoubleBuf::new(), DoubleBuf::new());
            fast.write_g17(d);
            exact.write_g17_exact(d);
            assert_eq!(fast.as_bytes(), exact.as_bytes(), "{d}");
        }
    }
}
