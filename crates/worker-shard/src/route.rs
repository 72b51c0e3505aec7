//! Deciding where a command runs, and combining the parts of commands that span shards.
use std::fmt;

use bytes::Bytes;
use resp_codec::{Frame, Request};

use crate::ShardId;
use crate::cmd_keys::{Populate, ScanArgs};
use crate::command::{CommandSpec, lookup_index};
use crate::coord::RouteKind;
use crate::keyspace::Value;

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
    /// For a barrier, asked after each [`Step::Send`]: whether the connection's later commands
    /// may go ahead although this one is not done. True for a scheduled transaction that holds
    /// its locks on every shard and has sent its next hop: whatever the connection sends next
    /// reaches each shard after that hop, and waits there for the transaction's locks, so it
    /// still sees all of the transaction's effects. Lets one connection pipeline transactions.
    fn barrier_lifted(&self) -> bool {
        false
    }
    /// The connection went away before the command finished: the parts that release what the
    /// command still holds on shards (a scheduled transaction's locks). Their replies can be
    /// dropped. Most coordinators hold nothing.
    fn abandon(&mut self) -> Vec<(ShardId, Part)> {
        Vec::new()
    }
    /// Whether the command is parked in a shard's wait queue (a blocking pop waiting for an
    /// element): the IO layer counts the client in `blocked_clients` and lets `CLIENT UNBLOCK`
    /// reach it.
    fn is_blocked(&self) -> bool {
        false
    }
    /// Ends a blocked command early (`CLIENT UNBLOCK`): its reply if it was still waiting, or
    /// `None` if a shard already served it (its reply is on the way).
    fn unblock(&mut self, _how: crate::Unblock) -> Option<Frame> {
        None
    }
    /// The protocol of the connection, told before [`Coordinator::start`], for replies whose
    /// shape differs between RESP2 and RESP3 beyond what [`Frame`] encodes (`ZUNION ...
    /// WITHSCORES` nests pairs in RESP3 only). Most coordinators ignore it.
    fn set_protocol(&mut self, _proto: resp_codec::Protocol) {}
    /// Asked once the command is done: whether the connection closes without sending the
    /// reply (a `SHUTDOWN` whose save succeeded: Redis exits without answering).
    fn closes_connection(&self) -> bool {
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
pub struct Part(pub(crate) PartKind);

/// A shard's result for a [`Part`]. Opaque outside this crate.
#[derive(Debug)]
pub struct PartReply(pub(crate) PartResult);

impl PartReply {
    pub(crate) fn error(msg: &str) -> PartReply {
        PartReply(PartResult::Error(Bytes::copy_from_slice(msg.as_bytes())))
    }
}

/// What a [`Part`] asks of a shard. Each kind is one primitive that a coordinator combines; a
/// later transaction scheduler can lock the keys of a whole multi-round coordinator because
/// every kind names its keys explicitly.
#[derive(Debug)]
pub(crate) enum PartKind {
    /// `MGET` of these keys: one value (or nil) per key.
    Mget(Vec<Bytes>),
    /// `DEL`/`UNLINK` of these keys: count removed.
    Del(Vec<Bytes>),
    /// `EXISTS` of these keys: count present (duplicates count twice).
    Exists(Vec<Bytes>),
    /// `TOUCH` of these keys: count present.
    Touch(Vec<Bytes>),
    /// Set these key/value pairs (flattened), clearing times to live: `MSET`, `MSETNX`'s second
    /// round.
    Mset(Vec<Bytes>),
    /// Keys in the op's database.
    Dbsize,
    /// Empty the op's database.
    FlushDb,
    /// Empty every database.
    FlushAll,
    /// Keys matching a pattern.
    Keys(Bytes),
    /// One SCAN step from a slot cursor.
    Scan(ScanArgs),
    /// A random key, with the shard's key count so the coordinator can weigh shards.
    RandomKey,
    /// Return a copy of a key's value and expiry (`LCS`).
    Read(Bytes),
    /// Swap two databases (`SWAPDB`), on every shard.
    SwapDb(i64, i64),
    /// One hop of a scheduled transaction (see `sched.rs` and the crate docs).
    Tx {
        seq: u64,
        action: Box<crate::sched::TxAction>,
    },
    /// Write a value moved from another shard: `RENAME` and `COPY`'s destination. Counts 1 if
    /// written, 0 if the key exists and `replace` is false.
    /// Set and sorted set commands (see `multi.rs`): gather these keys, by their index in
    /// the command (copies of the values, or for `probe` just type, length and membership).
    Gather {
        keys: Vec<(usize, Bytes)>,
        probe: Option<Bytes>,
    },
    /// Replace `key` with this collection (or delete it): the `STORE` commands; `event` is
    /// the keyspace event of a stored result (`sinterstore`, `zunionstore`, ...).
    PutColl {
        key: Bytes,
        value: Option<Value>,
        event: &'static str,
    },
    /// Add (creating the set) or remove (deleting an emptied set) one member: `SMOVE`.
    SetMember {
        key: Bytes,
        member: Bytes,
        add: bool,
    },
    /// Pop from a sorted set: `ZMPOP`.
    ZPop { key: Bytes, max: bool, count: usize },
    Put {
        key: Bytes,
        value: Value,
        expire_at: Option<i64>,
        /// `COPY ... DB n`: the target database instead of the op's.
        db: Option<usize>,
        replace: bool,
        /// The keyspace event of the write: `rename_to` or `copy_to`.
        event: &'static str,
    },
    /// Remove the source of a `RENAME` whose value moved to another shard (`rename_from`).
    RenameFrom(Bytes),
    /// `WATCH` these keys of the op's database for this client.
    Watch { client: u64, keys: Vec<Bytes> },
    /// Forget what this client watches here.
    Unwatch {
        client: u64,
        keys: Vec<crate::sched::LockKey>,
    },
    /// The `DEBUG POPULATE` keys that route to this shard.
    Populate(Populate),
    /// A blocking pop (or a cross-shard `LMPOP`/`LMOVE`) on this shard's keys.
    Block(Box<crate::blocking::BlockPart>),
    /// Push an element that moved from another shard's list.
    ListPush {
        key: Bytes,
        elem: Bytes,
        end: crate::list::End,
    },
    /// Check that a key is a list or missing (a move's destination).
    ListCheck(Bytes),
    /// The length of a list (0 if missing), or WRONGTYPE (a move's source).
    ListLen(Bytes),
    /// The element at one end of a list, without removing it (none if missing), or
    /// WRONGTYPE: a cross-shard `LMOVE`'s source, read under its lock.
    ListPeek { key: Bytes, end: crate::list::End },
    /// Pop up to `count` elements from one end of a list, with the pop's keyspace events:
    /// a cross-shard `LMOVE`'s and `LMPOP`'s last hop.
    ListPop {
        key: Bytes,
        end: crate::list::End,
        count: usize,
        /// The blocked client this pop serves (a woken `BLMOVE`): the element promised to it
        /// is settled.
        woken: Option<std::sync::Arc<crate::blocking::Waiter>>,
    },
}

/// The result of a [`PartKind`].
#[derive(Debug)]
pub(crate) enum PartResult {
    /// One value per key (`Mget`).
    Values(Vec<Option<Bytes>>),
    /// A count.
    Count(i64),
    /// Done.
    Ok,
    /// Keys (`Keys`).
    Keys(Vec<Bytes>),
    /// Next slot cursor (0 = this shard is done) and the keys found.
    ScanPage(u64, Vec<Bytes>),
    /// A random key (if any) and the shard's key count.
    RandomKey(Option<Bytes>, usize),
    /// A value and its expiry (`Read`), or nothing if the key does not exist.
    Moved(Option<(Value, Option<i64>)>),
    /// What a shard gathered (`Gather`).
    Gathered(Vec<(usize, crate::multi::Gathered)>),
    /// Popped members and scores (`ZPop`).
    ZPopped(Vec<(Vec<u8>, f64)>),
    /// An error reply (the full text, e.g. `ERR ...`).
    Error(Bytes),
    /// A transaction heads every queue it joined on the shard; the probe's result if it had
    /// one.
    Ready(Option<Box<PartResult>>),
    /// [`PartResult::Ready`] from a shard that publishes keyspace notifications: the
    /// coordinator then orders the events of hops that run on several shards (see
    /// [`PartResult::Captured`]).
    ReadyNotifying(Option<Box<PartResult>>),
    /// A [`crate::sched::TxAction::Capture`] hop ran: one result per item, the keyspace
    /// events each item caused (not published yet), and where to publish them.
    Captured {
        outs: Vec<crate::sched::TxOut>,
        events: Vec<Vec<crate::notify::Message>>,
        sink: Option<std::sync::Arc<dyn crate::notify::EventSink>>,
    },
    /// A transaction on one shard ran at once: one result per item.
    Ran(Vec<crate::sched::TxOut>),
    /// The run items' results.
    Run(Vec<crate::sched::TxOut>),
    /// The shard rejected the transaction (a younger conflicting one went ahead there): cancel
    /// it everywhere and schedule it again under a new number.
    Rejected,
    /// The transaction's locks were released without running it.
    Cancelled,
    /// Elements popped from a list for a [`PartKind::Block`].
    Popped(Bytes, Vec<Bytes>),
    /// Members and scores popped from the sorted set at the key for a [`PartKind::Block`].
    ZPoppedFrom(Bytes, Vec<(Vec<u8>, f64)>),
    /// The [`PartKind::Block`] was parked; its outcome comes later as another reply.
    Blocked,
    /// A parked [`PartKind::Block`] reached its deadline.
    TimedOut,
    /// Nothing to pop here (non-blocking [`PartKind::Block`]).
    Empty,
    /// Another shard already answered for the command: ignore.
    Lost,
    /// A blocked `BLMOVE`/`BRPOPLPUSH` whose destination is on another shard claimed its
    /// source's element without popping it: the coordinator now moves it as a scheduled
    /// transaction (so it is never in neither list), or blocks again if someone else took it.
    Wake,
    /// This shard's part of a `SAVE`: one serialized chunk per database.
    Snapshot(Vec<crate::persist::DbChunk>),
}

/// Checks the command name and arity (of the subcommand, for containers such as `CONFIG`).
///
/// Returns the command's spec (the subcommand's for containers) or the exact Redis error text.
/// Also returns the index of the top-level command in [`crate::command_table`].
pub(crate) fn validate(args: &[Bytes]) -> Result<(usize, &'static CommandSpec), Bytes> {
    let Some(index) = args.first().and_then(|name| lookup_index(name)) else {
        return Err(unknown_command(args));
    };
    let spec = &crate::command_table()[index];
    if !spec.accepts_argc(args.len()) {
        return Err(arity_error(spec.name));
    }
    if spec.subcommands.is_empty() {
        return Ok((index, spec));
    }
    // `COMMAND` (arity -1) is a container that also runs without a subcommand.
    let Some(sub_name) = args.get(1) else {
        return Ok((index, spec));
    };
    let Some(sub) = spec.subcommand(sub_name) else {
        return Err(Bytes::from(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            sanitize(truncate(sub_name, 128)),
            spec.name.to_ascii_uppercase()
        )));
    };
    if !sub.accepts_argc(args.len()) {
        return Err(arity_error(sub.name));
    }
    Ok((index, sub))
}

/// Checks only a request's command name and arity (of the subcommand, for containers), with
/// Redis's exact error texts; returns the command's spec (the subcommand's for containers).
///
/// This is what Redis checks before authentication; [`route`] checks more (for example a
/// `SCAN` cursor) for commands that fan out.
pub fn check_command(req: &Request) -> Result<&'static CommandSpec, Bytes> {
    validate(req.args()).map(|(_, spec)| spec)
}

fn arity_error(name: &str) -> Bytes {
    Bytes::from(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Bytes up to the first NUL (C's `%s` stops there) and at most `max` bytes (`%.128s`).
fn truncate(b: &[u8], max: usize) -> &[u8] {
    let b = b.split(|&c| c == 0).next().unwrap_or(b);
    &b[..b.len().min(max)]
}

/// Replaces CR and LF with spaces so an error stays one protocol line, as Redis does.
fn sanitize(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// Redis's `unknown command` error: the name (at most 128 bytes) and the first arguments, each
/// quoted and followed by a space, until 128 bytes of arguments have been written.
fn unknown_command(args: &[Bytes]) -> Bytes {
    let name = args.first().map_or(&[][..], |n| truncate(n, 128));
    let mut list: Vec<u8> = Vec::new();
    for arg in args.iter().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(truncate(arg, room));
        list.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(name);
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&list);
    for c in &mut msg {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    Bytes::from(msg)
}

/// Checks the command name and arity and decides where `req` runs among `shard_count` shards.
///
/// An `Err` is the complete Redis error text to send to the client, e.g.
/// `ERR unknown command 'foo', with args beginning with: 'a' ` or
/// `ERR wrong number of arguments for 'get' command`. Commands that fan out also have their
/// arguments checked here (e.g. `ERR invalid cursor` for `SCAN`), since a coordinator cannot
/// fail before its first round.
///
/// Commands the IO layer answers itself ([`Route::Local`]): `PING`, `ECHO`, `QUIT`, `HELLO`,
/// `AUTH`, `SELECT`, `RESET`, `CLIENT`, `COMMAND`, `INFO`, `CONFIG`, `TIME`, `SHUTDOWN`,
/// `LASTSAVE`, `WAIT`, the Pub/Sub commands (`SUBSCRIBE`, `PUBLISH`, `PUBSUB`, ...), and `DEBUG`
/// other than `DEBUG POPULATE`. `SWAPDB` is not local: the
/// databases live in the shards, so it fans out to every shard like `FLUSHALL`.
pub fn route(req: &Request, shard_count: usize) -> Result<Route, Bytes> {
    route_resolved(req, shard_count).map(|(route, _)| route)
}

/// A command's place in the command table, as [`route_resolved`] found it: handing it to
/// [`crate::ShardExecutor::execute_inline`] spares the shard a second lookup of the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved(usize);

/// [`route`], also returning the command it resolved.
pub fn route_resolved(req: &Request, shard_count: usize) -> Result<(Route, Resolved), Bytes> {
    let (index, spec) = validate(req.args())?;
    let route = route_validated(req.args(), index, spec, shard_count)?;
    Ok((route, Resolved(index)))
}

impl Resolved {
    /// The index in [`crate::command_table`].
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

fn route_validated(
    args: &[Bytes],
    index: usize,
    spec: &'static CommandSpec,
    shard_count: usize,
) -> Result<Route, Bytes> {
    let kind = crate::coord::route_kind(index);
    match kind {
        RouteKind::Local => return Ok(Route::Local),
        RouteKind::Debug if !args[1].eq_ignore_ascii_case(b"populate") => return Ok(Route::Local),
        RouteKind::Memory if !args[1].eq_ignore_ascii_case(b"usage") => return Ok(Route::Local),
        _ => {}
    }
    if kind == RouteKind::Blocking {
        return crate::blocking::plan_blocking(spec.name, args, shard_count);
    }
    if kind == RouteKind::Spread
        && args.len() > crate::txn::MGET_SLICE + 1
        && crate::command_table()[index].name == "mget"
    {
        // A huge MGET reads its keys slice by slice under its locks, even on one shard, so
        // the shard serves other clients in between (small ones keep the fast path below).
        return Ok(Route::FanOut(crate::txn::sliced_mget(args, shard_count)));
    }
    if shard_count <= 1 {
        return Ok(Route::Shard(0));
    }
    if kind == RouteKind::Keyed || kind == RouteKind::Memory {
        // The fast path of single-key commands: no name comparisons.
        let mut keys = spec.key_positions(args.len()).filter_map(|i| args.get(i));
        return Ok(Route::Shard(
            crate::coord::single_shard(&mut keys, shard_count).unwrap_or(0),
        ));
    }
    let top = crate::command_table()[index].name;
    crate::coord::plan(top, spec, args, shard_count)
}
