//! One client connection: its socket, buffers, pipeline of pending replies and session state.
use std::collections::VecDeque;
use std::net::TcpStream;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use resp_codec::{Protocol, RequestParser};
use worker_shard::Coordinator;

use crate::shared::ClientEntry;

/// `CLIENT REPLY` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
}

/// The session state local commands read and change.
#[derive(Debug)]
pub(crate) struct ClientState {
    pub(crate) entry: Arc<ClientEntry>,
    pub(crate) db: u16,
    pub(crate) proto: Protocol,
    /// False while a password is required and the client has not authenticated.
    pub(crate) authed: bool,
    pub(crate) reply: ReplyMode,
    /// Set by `CLIENT REPLY` so its own reply is not swallowed by the mode it changes.
    pub(crate) reply_cmd: bool,
    /// The last command's name, packed, published once per pass.
    pub(crate) last_cmd: [u64; 3],
    /// The ACL user, and the registry epoch it was looked up at (see `acl_cmd::gate`).
    pub(crate) user: Arc<crate::acl::User>,
    pub(crate) acl_epoch: u64,
    /// Set while the client is subscribed or blocked: Redis never closes such a client for
    /// being idle (`timeout`).
    pub(crate) no_idle_timeout: bool,
    /// Commands queued since `MULTI`; `None` outside a transaction.
    pub(crate) multi: Option<Vec<resp_codec::Request>>,
    /// A command failed to queue: `EXEC` answers `EXECABORT`.
    pub(crate) multi_error: bool,
    /// Keys this connection watches (database, key), until `EXEC`, `DISCARD` or `UNWATCH`.
    pub(crate) watches: Vec<(u16, Bytes)>,
}

/// A reply's place in a connection's pipeline.
pub(crate) enum Slot {
    /// Waiting for one shard's encoded reply.
    Waiting,
    /// Encoded, waiting for earlier replies.
    Ready(Bytes),
    /// A command spread over shards, waiting for its coordinator to finish.
    Fan {
        coord: Box<dyn Coordinator>,
        outstanding: usize,
        proto: Protocol,
        db: u16,
        barrier: bool,
        /// `INFO commandstats` slot and start time, recorded when the reply is complete.
        stat: Option<(usize, std::time::Instant)>,
        /// Set for pipelined commands run as one transaction (see [`Slot::Gather`]): the
        /// coordinator's reply holds one reply per command.
        squashed: Option<Squashed>,
    },
    /// Consecutive pipelined multi-key commands (`MSET`, `MGET`, `DEL`, ...) spanning shards,
    /// collected during one parse to run as one scheduled transaction: one hop to lock the
    /// keys and one to run instead of two per command (`event_loop/squash.rs`). Nothing of it
    /// has reached a shard yet.
    Gather(Box<Gather>),
}

/// Commands run as one transaction (see [`Slot::Gather`]), for their `INFO commandstats`.
pub(crate) struct Squashed {
    /// Each command's `INFO commandstats` slot.
    pub(crate) stats: Vec<Option<usize>>,
    pub(crate) started: std::time::Instant,
}

/// The commands of a [`Slot::Gather`].
pub(crate) struct Gather {
    /// The tag the coordinator's parts carry (this pending reply's place).
    pub(crate) tag: u64,
    pub(crate) reqs: Vec<worker_shard::Queued>,
    /// The first command's own coordinator, used as before while it is the only one.
    pub(crate) first: Option<Box<dyn Coordinator>>,
    /// Each command's `INFO commandstats` slot.
    pub(crate) stats: Vec<Option<usize>>,
    pub(crate) started: std::time::Instant,
    pub(crate) proto: Protocol,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Waiting => f.write_str("Waiting"),
            Slot::Ready(b) => write!(f, "Ready({} bytes)", b.len()),
            Slot::Fan { outstanding, .. } => write!(f, "Fan({outstanding} outstanding)"),
            Slot::Gather(g) => write!(f, "Gather({} commands)", g.reqs.len()),
        }
    }
}

/// One pending reply.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) slot: Slot,
    /// `CLIENT REPLY OFF/SKIP` was in effect: drop the reply when it arrives.
    pub(crate) discard: bool,
}

/// A client connection owned by one event loop.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) parser: RequestParser,
    pub(crate) rbuf: BytesMut,
    pub(crate) out: BytesMut,
    pub(crate) pending: VecDeque<Pending>,
    /// How many entries of `pending` are [`Slot::Gather`] groups not started yet.
    pub(crate) unstarted: usize,
    /// Sequence number of `pending[0]`.
    pub(crate) front_seq: u32,
    pub(crate) state: ClientState,
    /// A barrier command (see `Coordinator::is_barrier`) is in flight: later commands wait.
    pub(crate) held: bool,
    /// Close once every pending reply is written (QUIT, protocol error, EOF, kill, shutdown).
    pub(crate) closing: bool,
    /// The peer closed its side: nothing more to read, but commands already buffered still run.
    pub(crate) eof: bool,
    /// The last write did not take everything: wait for writability.
    pub(crate) want_write: bool,
    /// Interest currently registered with the poller: (readable, writable).
    pub(crate) interest: (bool, bool),
    /// Already in this pass's list of connections to write.
    pub(crate) dirty: bool,
    /// Parsing stopped with bytes left in `rbuf` (held, backpressure); parse again once free.
    pub(crate) stalled: bool,
    /// The `proto-max-bulk-len` generation the parser was built with.
    pub(crate) parser_epoch: u64,
    /// Since when the output has been at or above the soft output limit.
    pub(crate) over_soft_since: Option<std::time::Instant>,
    /// Pub/Sub subscriptions.
    pub(crate) subs: crate::pubsub::Subs,
    /// A blocking command of this connection is parked in a shard's wait queue.
    pub(crate) blocked: bool,
    /// Running average size of the replies the workers sent for this connection, in bytes
    /// (0 until the first one); sizes its in-flight window (see [`Conn::window`]).
    pub(crate) reply_avg: u64,
    /// Writing failed (the peer is gone): replies are dropped, but the complete commands it
    /// sent before going still run, as in Redis, which runs a whole query buffer at once.
    pub(crate) out_dead: bool,
}

/// Replies in flight for a connection whose reply sizes are not known yet.
const INITIAL_WINDOW: usize = 16;
/// Reply bytes a connection may have in flight at its average reply size.
const WINDOW_BYTES: u64 = 4 * 1024 * 1024;

impl Conn {
    /// The sequence number the next pending reply gets.
    pub(crate) fn next_seq(&self) -> u32 {
        self.front_seq.wrapping_add(self.pending.len() as u32)
    }

    /// Most replies this connection may have in flight (at most `max`): as many as fit in
    /// [`WINDOW_BYTES`] at its average reply size, and [`INITIAL_WINDOW`] before it has one.
    /// Workers compute a whole batch of replies before the output limits can look at them, so
    /// without this a client pipelining thousands of commands with huge replies, and reading
    /// none, would make the server build all of them at once (Redis, one reply at a time, cuts
    /// such a client off at its output limit). Small replies keep a window of `max`.
    pub(crate) fn window(&self, max: usize) -> usize {
        if self.reply_avg == 0 {
            return INITIAL_WINDOW.min(max);
        }
        usize::try_from(WINDOW_BYTES / self.reply_avg).map_or(max, |w| w.clamp(1, max))
    }

    /// Moves every finished reply at the front of the pipeline into the output buffer.
    pub(crate) fn drain_ready(&mut self) {
        while let Some(front) = self.pending.front() {
            match &front.slot {
                Slot::Ready(bytes) => {
                    let len = bytes.len();
                    if !front.discard {
                        self.out.extend_from_slice(bytes);
                    }
                    self.note_reply_len(len);
                }
                _ => break,
            }
            self.pending.pop_front();
            self.front_seq = self.front_seq.wrapping_add(1);
        }
    }

    /// Counts a reply of `len` bytes into the average that sizes the window: an average over
    /// the last few replies, so one big reply among small ones narrows the window for a few
    /// round trips only.
    pub(crate) fn note_reply_len(&mut self, len: usize) {
        let len = len as u64;
        self.reply_avg = if self.reply_avg == 0 {
            len.max(1)
        } else {
            ((self.reply_avg * 7 + len) / 8).max(1)
        };
    }

    /// Adds a reply computed here: straight to the output if nothing is pending before it.
    pub(crate) fn push_ready(&mut self, bytes: &[u8], discard: bool) {
        if self.pending.is_empty() {
            if !discard {
                self.out.extend_from_slice(bytes);
            }
        } else {
            self.pending.push_back(Pending {
                slot: Slot::Ready(Bytes::copy_from_slice(bytes)),
                discard,
            });
        }
    }
}
