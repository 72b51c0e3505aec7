//! `COMMAND` and its subcommands, built from `worker_shard::command_table()`.
use bytes::{Bytes, BytesMut};

use crate::conn::ClientState;

pub(crate) fn command(state: &mut ClientState, args: &[Bytes], out: &mut BytesMut) {
    let _ = (state, args);
    resp_codec::write_array_len(out, 0);
}
