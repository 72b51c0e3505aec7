//! The shard workers of kvd: each worker thread alone owns one partition (shard) of the
//! keyspace and executes the commands IO handlers send it, in batches.
//!
//! # Layout
//!
//! * [`command_table`] / [`lookup_command`] (`command.rs`, data in `table.rs`): every command
//!   kvd knows, with Redis 7.0's arity, flags, key positions, ACL categories and docs.
//! * [`route`] (`route.rs`): validates a request's name and arity with Redis's exact errors and
//!   decides where it runs: [`Route::Local`] (the IO layer answers), [`Route::Shard`] (all keys
//!   on one shard) or [`Route::FanOut`] with a [`Coordinator`] (`coord.rs`) that splits it into
//!   [`Part`]s and merges their [`PartReply`]s.
//! * [`WorkerPool`] / [`WorkerHandle`] (`worker.rs`): one thread per shard, its inbox and loop.
//! * `shard.rs`, `cmd_string.rs`, `cmd_keys.rs`, `parts.rs`: command execution.
//! * `keyspace.rs`: a database — 16384 slot maps keyed by Redis Cluster's key slot, values,
//!   times to live, lazy and active expiry, glob matching.
//! * [`ShardStats`] (`stats.rs`): counters published once per worker pass for `INFO`.
//!
//! # The message protocol
//!
//! 1. The IO handler calls [`route`] for each parsed request.
//! 2. For [`Route::Shard`], it adds an [`Op`] with [`OpKind::Command`] to the [`Batch`] it is
//!    building for that shard; for [`Route::FanOut`] it adds the coordinator's
//!    [`Coordinator::start`] parts as [`OpKind::Part`] ops to the batches of their shards.
//! 3. At the end of its loop pass it sends each batch with [`WorkerHandle::send`].
//! 4. The worker executes every op in order and delivers, once per pass and per
//!    [`ReplySink`], one [`ReplyBatch`]: command replies are already RESP-encoded (in the op's
//!    protocol) into [`ReplyBatch::buf`]; part results come back as [`ReplyBody::Part`], to be
//!    fed to [`Coordinator::on_reply`] until it says [`Step::Done`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use worker_shard::{Batch, Op, OpKind, ReplyBatch, ReplyBody, ReplySink, ShardConfig, WorkerPool};
//! use resp_codec::{Bytes, Protocol, Request};
//!
//! /// A sink that hands reply batches to a channel (a real IO handler also wakes its loop).
//! #[derive(Debug)]
//! struct ChannelSink(flume::Sender<ReplyBatch>);
//!
//! impl ReplySink for ChannelSink {
//!     fn deliver(&self, batch: ReplyBatch) {
//!         let _ = self.0.send(batch);
//!     }
//! }
//!
//! let pool = WorkerPool::spawn(1, ShardConfig::default())?;
//! let (tx, rx) = flume::unbounded();
//! let sink: Arc<dyn ReplySink> = Arc::new(ChannelSink(tx));
//! let cmd = |tag, args: &[&'static str]| Op {
//!     tag,
//!     db: 0,
//!     proto: Protocol::Resp2,
//!     kind: OpKind::Command(Request::new(args.iter().map(|a| Bytes::from_static(a.as_bytes())).collect())),
//! };
//! let ops = vec![cmd(1, &["SET", "greeting", "hello"]), cmd(2, &["GET", "greeting"])];
//! assert!(pool.handles()[0].send(Batch { reply_to: sink, ops }));
//!
//! let batch = rx.recv().expect("the worker replies");
//! assert_eq!(&batch.buf[..], b"+OK\r\n$5\r\nhello\r\n");
//! let ReplyBody::Encoded(range) = &batch.replies[1].body else { unreachable!() };
//! assert_eq!(batch.replies[1].tag, 2);
//! assert_eq!(&batch.buf[range.clone()], b"$5\r\nhello\r\n");
//! pool.shutdown();
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod cmd_keys;
mod cmd_string;
mod command;
mod coord;
mod keyspace;
mod longdouble;
mod message;
mod parts;
mod route;
mod shard;
mod stats;
mod table;
mod worker;

#[cfg(test)]
mod tests;

pub use command::{CommandSpec, command_table, lookup_command};
pub use message::{Batch, Op, OpKind, Reply, ReplyBatch, ReplyBody, ReplySink};
pub use partition_router::ShardId;
pub use route::{Coordinator, Part, PartReply, Route, Step, check_command, route};
pub use stats::{CommandStat, ShardStats};
pub use worker::{ShardConfig, WorkerHandle, WorkerPool};
