//! `INFO`.
use bytes::{Bytes, BytesMut};

use crate::conn::ClientState;
use crate::shared::Shared;

pub(crate) fn info(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    let _ = (shared, args);
    crate::local::write_text(out, b"# Server\r\n", state.proto);
}
