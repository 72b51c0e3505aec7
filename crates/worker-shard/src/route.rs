//! Deciding where a command runs, and combining the parts of commands that span shards.
use std::fmt;

use bytes::Bytes;
use resp_codec::{Frame, Request};

use crate::ShardId;

/// Where a command runs.
#[derive(Debug)]
pub enum Route {
    /// Answered by the connection layer itself: the command touches no key (`PING`, `HELLO`,
    /// `CLIENT`, `CONFIG`, `INFO`, ...).
    Local,
    /// All of the command's keys live on this shard: send it as [`crate::OpKind::Command`].
    Shard(ShardId),
    /// The command spans several shards (or all of them): drive this coordinator.
    FanOut(Box<dyn Coordinator>),
}

/// Splits a command over shards and merges the parts' results into the client's reply.
///
/// The IO layer sends every `(shard, part)` it is given as [`crate::OpKind::Part`] ops (in the
/// same loop pass as the connection's other commands, so per-shard order is kept), feeds each
/// [`PartReply`] back through [`Coordinator::on_reply`], and encodes the final [`Frame`] in the
/// connection's protocol.
pub trait Coordinator: Send + fmt::Debug {
    /// The parts to send first.
    fn start(&mut self) -> Vec<(ShardId, Part)>;
    /// One part's result arrived.
    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step;
    /// Whether later commands of the same connection must wait until this one is done. True for
    /// coordinators that send parts in several rounds (a later command could otherwise overtake
    /// a round); false for single-round fan-outs such as `MGET`.
    fn is_barrier(&self) -> bool {
        false
    }
}

/// What a coordinator wants after a part's result.
#[derive(Debug)]
pub enum Step {
    /// Waiting for more results.
    Wait,
    /// Send these parts next.
    Send(Vec<(ShardId, Part)>),
    /// The command is complete; this is its reply.
    Done(Frame),
}

/// One shard's share of a spread command. Opaque outside this crate.
#[derive(Debug)]
pub struct Part(pub(crate) Request);

/// A shard's result for a [`Part`]. Opaque outside this crate.
#[derive(Debug)]
pub struct PartReply(pub(crate) Frame);

/// Checks the command name and arity and decides where `req` runs among `shard_count` shards.
///
/// An `Err` is the complete Redis error text to send to the client, e.g.
/// `ERR unknown command 'foo', with args beginning with: 'a' ` or
/// `ERR wrong number of arguments for 'get' command`.
pub fn route(req: &Request, shard_count: usize) -> Result<Route, Bytes> {
    let _ = (req, shard_count);
    unimplemented!("routing lands with the worker-shard work")
}
