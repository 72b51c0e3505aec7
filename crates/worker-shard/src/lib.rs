//! A worker thread that alone owns one partition (shard) of the keyspace.
//!
//! (Crate docs to be completed: layout map, the message protocol, a runnable example.)
#![deny(missing_docs)]

mod command;
mod message;
mod route;
mod stats;
mod worker;

pub use command::{CommandSpec, command_table, lookup_command};
pub use message::{Batch, Op, OpKind, Reply, ReplyBatch, ReplyBody, ReplySink};
pub use partition_router::ShardId;
pub use route::{Coordinator, Part, PartReply, Route, Step, route};
pub use stats::{CommandStat, ShardStats};
pub use worker::{ShardConfig, WorkerHandle, WorkerPool};
