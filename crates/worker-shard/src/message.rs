//! The messages between IO handlers and workers.
//!
//! An IO handler collects every op it read in one event-loop pass for a shard into one [`Batch`];
//! the worker executes the ops in order and answers with one [`ReplyBatch`] per IO handler per
//! pass over its inbox, delivered through that handler's [`ReplySink`] (which also wakes it).
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use resp_codec::{Protocol, Request};

use crate::ShardId;
use crate::route::{Part, PartReply};

/// Where a worker delivers replies: implemented by the IO layer (a channel send plus a wake-up).
pub trait ReplySink: Send + Sync + fmt::Debug {
    /// Hands a batch of replies to the IO handler and wakes it.
    fn deliver(&self, batch: ReplyBatch);
}

/// All ops one IO handler sends to one shard in one event-loop pass.
#[derive(Debug)]
pub struct Batch {
    /// Where the replies go.
    pub reply_to: Arc<dyn ReplySink>,
    /// The ops, executed in order.
    pub ops: Vec<Op>,
}

/// One unit of work for a shard.
#[derive(Debug)]
pub struct Op {
    /// Opaque to the worker; returned with the reply so the IO handler can find the connection
    /// and the reply's place in its pipeline.
    pub tag: u64,
    /// The database (`SELECT`) the connection had when it sent the command.
    pub db: u16,
    /// The protocol the reply of an [`OpKind::Command`] must be encoded in.
    pub proto: Protocol,
    /// What to do.
    pub kind: OpKind,
}

/// What an [`Op`] asks of the shard.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpKind {
    /// A whole command whose keys all live on the receiving shard; the reply comes back
    /// encoded, as [`ReplyBody::Encoded`].
    Command(Request),
    /// One shard's part of a command spread over several shards, made by a [`crate::Coordinator`];
    /// the reply comes back as [`ReplyBody::Part`] for the same coordinator.
    Part(Part),
}

/// The replies of one or more [`Batch`]es from one IO handler, in the order the ops arrived.
#[derive(Debug)]
pub struct ReplyBatch {
    /// The shard that executed the ops.
    pub shard: ShardId,
    /// The encoded replies of [`OpKind::Command`] ops, back to back.
    pub buf: Bytes,
    /// One entry per op, in op order.
    pub replies: Vec<Reply>,
}

/// The reply to one [`Op`].
#[derive(Debug)]
pub struct Reply {
    /// The op's tag.
    pub tag: u64,
    /// The reply itself.
    pub body: ReplyBody,
}

/// The body of a [`Reply`].
#[derive(Debug)]
pub enum ReplyBody {
    /// The encoded reply of a command: this range of [`ReplyBatch::buf`].
    Encoded(Range<usize>),
    /// The result of a [`Part`], for its coordinator.
    Part(PartReply),
}
