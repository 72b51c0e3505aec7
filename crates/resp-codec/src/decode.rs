use crate::error::ProtocolError;
use crate::frame::Frame;

/// Decodes one complete frame (any RESP2 or RESP3 type) from the front of `buf`.
///
/// Returns the frame and the number of bytes it used, or `Ok(None)` if `buf` holds only part of
/// a frame. This is the client side of the codec (tests, benchmarks, reuse as a client).
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let _ = buf;
    unimplemented!("frame decoding lands with the codec work")
}
