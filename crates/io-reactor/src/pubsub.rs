//! Pub/Sub across IO threads: `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, their `UN` forms,
//! `PUBLISH`, `SPUBLISH`, `PUBSUB`, and delivery of keyspace notifications from the shards.
//!
//! # Design
//!
//! Every connection lives on one IO thread, so each loop keeps its own maps from channel (and
//! pattern, and shard channel) to the slots of its subscribed connections ([`LoopPubSub`]);
//! only the owning thread touches them. The [`Hub`] shared by all loops counts subscribers per
//! channel and per loop under one `RwLock`, written only by (un)subscriptions and read by
//! publishers. A publisher therefore knows, without asking any other thread:
//!
//! * the exact receiver count `PUBLISH` returns (as of the moment it holds the read lock), and
//! * which loops have receivers at all.
//!
//! Published messages are collected per loop pass in an outbox; at the end of the pass the
//! outbox goes, as one `Arc`, to each loop that has receivers for any of its messages (and is
//! delivered directly on the publishing loop). Each loop fans out to its own connections. One
//! channel per loop, filled in publish order, keeps the order of one publisher's messages for
//! every subscriber. Workers publish keyspace notifications the same way: one batch per worker
//! pass, through the [`worker_shard::EventSink`] the hub implements.
//!
//! Unsubscribing: a loop delivers a message by its own maps at delivery time, and
//! `UNSUBSCRIBE` updates them before its confirmation is written, so once a client has the
//! confirmation no further message of that channel (or pattern) reaches it, however
//! publishes race (`pubsub::no_message_arrives_after_the_unsubscribe_confirmation` in the e2e
//! suite). The price is in the count: a subscriber that unsubscribes while a message for it
//! is on its way does not receive it, although `PUBLISH` counted it — a window of one loop
//! pass that Redis, with one thread, does not have. Closing it would mean holding back the
//! confirmation (and the connection's later replies) until every loop has flushed the
//! messages it counted for the client.
//!
//! Output limits: a subscribed client whose unsent output exceeds the `pubsub` class of
//! `client-output-buffer-limit` (hard limit, or soft limit for longer than its seconds) is
//! disconnected when a message is delivered to it, as Redis does, instead of buffering without
//! bound.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use resp_codec::{
    Protocol, Request, write_array_len, write_bulk, write_error, write_integer, write_null,
    write_simple,
};
use worker_shard::{EventSink, Message, glob_match};

use crate::conn::Conn;
use crate::limits::{ClientLimits, OutputLimit};
use crate::shared::{Inbox, LoopHandle};

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One message on its way to subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// A shard channel message (`SPUBLISH`), which patterns never see.
    pub(crate) shard: bool,
    pub(crate) channel: Bytes,
    pub(crate) payload: Bytes,
}

/// Subscriber counts of one name: per loop and in total.
#[derive(Debug)]
struct Counts {
    per_loop: Box<[u32]>,
    total: u64,
}

#[derive(Debug, Default)]
struct Registry {
    channels: HashMap<Bytes, Counts>,
    patterns: HashMap<Bytes, Counts>,
    shard_channels: HashMap<Bytes, Counts>,
}

impl Registry {
    fn map(&self, kind: Kind) -> &HashMap<Bytes, Counts> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn map_mut(&mut self, kind: Kind) -> &mut HashMap<Bytes, Counts> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The receivers of `msg`, marking the loops that have any in `targets`.
    fn receivers(&self, msg: &Published, targets: &mut [bool]) -> u64 {
        let mut mark = |c: &Counts| {
            for (t, &n) in targets.iter_mut().zip(c.per_loop.iter()) {
                *t |= n > 0;
            }
            c.total
        };
        if msg.shard {
            return self.shard_channels.get(&msg.channel).map_or(0, &mut mark);
        }
        let mut n = self.channels.get(&msg.channel).map_or(0, &mut mark);
        for (pattern, counts) in &self.patterns {
            if glob_match(pattern, &msg.channel, false) {
                n += mark(counts);
            }
        }
        n
    }
}

/// The registry shared by every loop, and the way messages reach other loops.
#[derive(Debug)]
pub(crate) struct Hub {
    registry: RwLock<Registry>,
    loops: Vec<Arc<LoopHandle>>,
}

impl Hub {
    pub(crate) fn new(loops: Vec<Arc<LoopHandle>>) -> Hub {
        Hub {
            registry: RwLock::default(),
            loops,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        // The registry is consistent after every statement, so a poisoned lock is still valid.
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds (or removes) one subscriber on `loop_index` to each of `names`.
    fn update(&self, kind: Kind, loop_index: usize, names: &[Bytes], add: bool) {
        if names.is_empty() {
            return;
        }
        let loops = self.loops.len();
        let mut reg = self.write();
        let map = reg.map_mut(kind);
        for name in names {
            if add {
                let c = map.entry(name.clone()).or_insert_with(|| Counts {
                    per_loop: vec![0; loops].into_boxed_slice(),
                    total: 0,
                });
                c.per_loop[loop_index] += 1;
                c.total += 1;
            } else if let Some(c) = map.get_mut(name) {
                c.per_loop[loop_index] = c.per_loop[loop_index].saturating_sub(1);
                c.total = c.total.saturating_sub(1);
                if c.total == 0 {
                    map.remove(name);
                }
            }
        }
    }

    /// `pubsub_channels`, `pubsub_patterns` and `pubsubshard_channels` of `INFO stats`.
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        let reg = self.read();
        (
            reg.channels.len(),
            reg.patterns.len(),
            reg.shard_channels.len(),
        )
    }

    /// Sends `batch` to every loop marked in `targets` except `skip`.
    fn send(&self, batch: &Arc<Vec<Published>>, targets: &[bool], skip: Option<usize>) {
        for (i, handle) in self.loops.iter().enumerate() {
            if targets.get(i) == Some(&true) && Some(i) != skip {
                handle.send(Inbox::Messages(Arc::clone(batch)));
            }
        }
    }
}

/// Keyspace notifications from the workers: one batch per worker pass, one `Arc` of it per
/// loop with subscribers.
impl EventSink for Hub {
    fn publish(&self, messages: Vec<Message>) {
        let mut targets = vec![false; self.loops.len()];
        let batch: Vec<Published> = messages
            .into_iter()
            .map(|(channel, payload)| Published {
                shard: false,
                channel,
                payload,
            })
            .collect();
        {
            let reg = self.read();
            for msg in &batch {
                reg.receivers(msg, &mut targets);
            }
        }
        if targets.iter().any(|&t| t) {
            self.send(&Arc::new(batch), &targets, None);
        }
    }
}

/// A connection's subscriptions.
#[derive(Debug, Default)]
pub(crate) struct Subs {
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
}

impl Subs {
    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Channels and patterns: the count `SUBSCRIBE`/`PSUBSCRIBE` and their `UN` forms report.
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    fn count_for(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.count(),
        }
    }

    /// Whether every subscription passes `allowed(name, is_pattern)`.
    pub(crate) fn all_allowed(&self, allowed: impl Fn(&[u8], bool) -> bool) -> bool {
        self.channels.iter().all(|c| allowed(c, false))
            && self.patterns.iter().all(|p| allowed(p, true))
            && self.shard.iter().all(|c| allowed(c, false))
    }

    /// Whether the client is in Pub/Sub mode (Redis's `CLIENT_PUBSUB`).
    pub(crate) fn active(&self) -> bool {
        self.count() + self.shard.len() > 0
    }
}

/// Commands allowed in RESP2 while subscribed.
pub(crate) fn allowed_while_subscribed(name: &[u8]) -> bool {
    [
        &b"subscribe"[..],
        b"psubscribe",
        b"ssubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"sunsubscribe",
        b"ping",
        b"quit",
        b"reset",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// Redis 7.0's refusal of other commands in RESP2 subscribed mode; `fullname` is the command's
/// table name (`config|get` for subcommands).
pub(crate) fn subscribed_mode_error(fullname: &str) -> String {
    format!(
        "ERR Can't execute '{fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    )
}

/// Writes an array header, or a push header in RESP3.
fn push_len(out: &mut BytesMut, n: usize, proto: Protocol) {
    if proto == Protocol::Resp3 {
        out.extend_from_slice(b">");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        write_array_len(out, n);
    }
}

/// A loop's Pub/Sub state: its subscribers and this pass's outgoing messages.
#[derive(Debug)]
pub(crate) struct LoopPubSub {
    index: usize,
    hub: Arc<Hub>,
    /// The `pubsub` class of `client-output-buffer-limit` lives here.
    limits: Arc<ClientLimits>,
    channels: HashMap<Bytes, Vec<usize>>,
    patterns: HashMap<Bytes, Vec<usize>>,
    shard_channels: HashMap<Bytes, Vec<usize>>,
    /// Messages published on this loop in this pass.
    outbox: Vec<Published>,
    /// Loops with receivers for some message of the outbox.
    targets: Vec<bool>,
    /// Names (un)subscribed by the current command, applied to the hub under one lock.
    changed: Vec<Bytes>,
    enc: BytesMut,
    /// Connections that passed their output limit while messages were delivered.
    pub(crate) over_limit: Vec<usize>,
}

impl LoopPubSub {
    pub(crate) fn new(index: usize, hub: Arc<Hub>, limits: Arc<ClientLimits>) -> LoopPubSub {
        let loops = hub.loops.len();
        LoopPubSub {
            index,
            hub,
            limits,
            channels: HashMap::new(),
            patterns: HashMap::new(),
            shard_channels: HashMap::new(),
            outbox: Vec::new(),
            targets: vec![false; loops],
            changed: Vec::new(),
            enc: BytesMut::new(),
            over_limit: Vec::new(),
        }
    }

    fn local(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<usize>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Runs a Pub/Sub command if `req` is one (returns false otherwise), writing its replies
    /// to `out` in the connection's protocol.
    pub(crate) fn execute(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        req: &Request,
        out: &mut BytesMut,
    ) -> bool {
        let args = req.args();
        let name = req.name();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("subscribe") {
            self.subscribe(Kind::Channel, slot, conn, &args[1..], out);
        } else if is("psubscribe") {
            self.subscribe(Kind::Pattern, slot, conn, &args[1..], out);
        } else if is("ssubscribe") {
            self.subscribe(Kind::Shard, slot, conn, &args[1..], out);
        } else if is("unsubscribe") {
            self.unsubscribe(Kind::Channel, slot, conn, &args[1..], out);
        } else if is("punsubscribe") {
            self.unsubscribe(Kind::Pattern, slot, conn, &args[1..], out);
        } else if is("sunsubscribe") {
            self.unsubscribe(Kind::Shard, slot, conn, &args[1..], out);
        } else if is("publish") || is("spublish") {
            let msg = Published {
                shard: is("spublish"),
                channel: args[1].clone(),
                payload: args[2].clone(),
            };
            let n = self.hub.read().receivers(&msg, &mut self.targets);
            if n > 0 {
                self.outbox.push(msg);
            }
            write_integer(out, n as i64);
        } else if is("pubsub") {
            self.introspect(args, out);
        } else if is("ping") && conn.state.proto == Protocol::Resp2 && conn.subs.active() {
            // In RESP2 subscribed mode a reply must look like a message: Redis sends an array.
            write_array_len(out, 2);
            write_bulk(out, b"pong");
            write_bulk(out, args.get(1).map_or(&b""[..], |m| &m[..]));
        } else {
            return false;
        }
        true
    }

    fn subscribe(
        &mut self,
        kind: Kind,
        slot: usize,
        conn: &mut Conn,
        names: &[Bytes],
        out: &mut BytesMut,
    ) {
        let proto = conn.state.proto;
        for name in names {
            if conn.subs.set(kind).insert(name.clone()) {
                self.local(kind).entry(name.clone()).or_default().push(slot);
                self.changed.push(name.clone());
            }
            push_len(out, 3, proto);
            write_bulk(out, kind.subscribe_name());
            write_bulk(out, name);
            write_integer(out, conn.subs.count_for(kind) as i64);
        }
        self.hub
            .update(kind, self.index, &std::mem::take(&mut self.changed), true);
        self.publish_counts(conn);
    }

    fn unsubscribe(
        &mut self,
        kind: Kind,
        slot: usize,
        conn: &mut Conn,
        names: &[Bytes],
        out: &mut BytesMut,
    ) {
        let proto = conn.state.proto;
        let all: Vec<Bytes>;
        let names = if names.is_empty() {
            all = conn.subs.set(kind).iter().cloned().collect();
            if all.is_empty() {
                push_len(out, 3, proto);
                write_bulk(out, kind.unsubscribe_name());
                write_null(out, proto);
                write_integer(out, conn.subs.count_for(kind) as i64);
                return;
            }
            &all[..]
        } else {
            names
        };
        for name in names {
            if conn.subs.set(kind).remove(name) {
                self.forget_local(kind, name, slot);
                self.changed.push(name.clone());
            }
            push_len(out, 3, proto);
            write_bulk(out, kind.unsubscribe_name());
            write_bulk(out, name);
            write_integer(out, conn.subs.count_for(kind) as i64);
        }
        self.hub
            .update(kind, self.index, &std::mem::take(&mut self.changed), false);
        self.publish_counts(conn);
    }

    fn forget_local(&mut self, kind: Kind, name: &Bytes, slot: usize) {
        let map = self.local(kind);
        if let Some(slots) = map.get_mut(name) {
            if let Some(i) = slots.iter().position(|&s| s == slot) {
                slots.swap_remove(i);
            }
            if slots.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Drops every subscription of a connection (on close and `RESET`), without replies.
    pub(crate) fn forget(&mut self, slot: usize, conn: &mut Conn) {
        if !conn.subs.active() {
            return;
        }
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names: Vec<Bytes> = conn.subs.set(kind).drain().collect();
            for name in &names {
                self.forget_local(kind, name, slot);
            }
            self.hub.update(kind, self.index, &names, false);
        }
        self.publish_counts(conn);
    }

    /// `sub=`, `psub=`, `ssub=` and flag `P` of `CLIENT LIST`.
    fn publish_counts(&self, conn: &Conn) {
        let c = &conn.state.entry.subs;
        c[0].store(conn.subs.channels.len() as u32, Ordering::Relaxed);
        c[1].store(conn.subs.patterns.len() as u32, Ordering::Relaxed);
        c[2].store(conn.subs.shard.len() as u32, Ordering::Relaxed);
    }

    fn introspect(&self, args: &[Bytes], out: &mut BytesMut) {
        let sub = args[1].to_ascii_lowercase();
        let reg = self.hub.read();
        match (sub.as_slice(), args.len()) {
            (b"channels", 2 | 3) | (b"shardchannels", 2 | 3) => {
                let kind = if sub == b"channels" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let pattern = args.get(2);
                let names: Vec<&Bytes> = reg
                    .map(kind)
                    .keys()
                    .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
                    .collect();
                write_array_len(out, names.len());
                for n in names {
                    write_bulk(out, n);
                }
            }
            (b"numsub", _) | (b"shardnumsub", _) => {
                let kind = if sub == b"numsub" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let map = reg.map(kind);
                write_array_len(out, (args.len() - 2) * 2);
                for name in &args[2..] {
                    write_bulk(out, name);
                    write_integer(out, map.get(name).map_or(0, |c| c.total) as i64);
                }
            }
            (b"numpat", 2) => write_integer(out, reg.patterns.len() as i64),
            (b"help", 2) => {
                write_array_len(out, HELP.len());
                for l in HELP {
                    write_simple(out, l.as_bytes());
                }
            }
            _ => {
                write_error(
                    out,
                    format!(
                        "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                        String::from_utf8_lossy(&args[1])
                    )
                    .as_bytes(),
                );
            }
        }
    }

    /// Ends the pass's publishing: sends the outbox to the other loops with receivers and
    /// returns the messages for this loop's own subscribers, if any.
    pub(crate) fn flush(&mut self) -> Option<Arc<Vec<Published>>> {
        if self.outbox.is_empty() {
            return None;
        }
        let batch = Arc::new(std::mem::take(&mut self.outbox));
        self.hub.send(&batch, &self.targets, Some(self.index));
        let mine = self.targets[self.index];
        self.targets.iter_mut().for_each(|t| *t = false);
        mine.then_some(batch)
    }

    /// Delivers messages to this loop's subscribers, adding the connections that got output
    /// to `touched` (the loop's list of connections to write).
    pub(crate) fn deliver(
        &mut self,
        batch: &[Published],
        conns: &mut [Option<Conn>],
        touched: &mut Vec<usize>,
    ) {
        if self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty() {
            return;
        }
        let now = Instant::now();
        let limits = self.limits.pubsub_output();
        for msg in batch {
            // Shard channels (SPUBLISH) reach only their own subscribers, never patterns.
            let (subscribers, kind): (_, &[u8]) = if msg.shard {
                (&self.shard_channels, b"smessage")
            } else {
                (&self.channels, b"message")
            };
            if let Some(slots) = subscribers.get(&msg.channel) {
                self.enc.clear();
                write_array_len(&mut self.enc, 3);
                write_bulk(&mut self.enc, kind);
                write_bulk(&mut self.enc, &msg.channel);
                write_bulk(&mut self.enc, &msg.payload);
                for &slot in slots {
                    send_to(
                        conns,
                        slot,
                        &self.enc,
                        limits,
                        now,
                        touched,
                        &mut self.over_limit,
                    );
                }
            }
            if msg.shard {
                continue;
            }
            for (pattern, slots) in &self.patterns {
                if !glob_match(pattern, &msg.channel, false) {
                    continue;
                }
                self.enc.clear();
                write_array_len(&mut self.enc, 4);
                write_bulk(&mut self.enc, b"pmessage");
                write_bulk(&mut self.enc, pattern);
                write_bulk(&mut self.enc, &msg.channel);
                write_bulk(&mut self.enc, &msg.payload);
                for &slot in slots {
                    send_to(
                        conns,
                        slot,
                        &self.enc,
                        limits,
                        now,
                        touched,
                        &mut self.over_limit,
                    );
                }
            }
        }
    }
}

/// Appends one encoded message (`*N...`) to a subscriber, as a push frame in RESP3, after the
/// replies it already has due, and checks its output limit.
fn send_to(
    conns: &mut [Option<Conn>],
    slot: usize,
    frame: &[u8],
    limit: OutputLimit,
    now: Instant,
    touched: &mut Vec<usize>,
    over_limit: &mut Vec<usize>,
) {
    let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
        return;
    };
    if conn.closing {
        return;
    }
    if conn.state.proto == Protocol::Resp3 {
        let mut push = BytesMut::with_capacity(frame.len());
        push.extend_from_slice(b">");
        push.extend_from_slice(&frame[1..]);
        conn.push_ready(&push, false);
    } else {
        conn.push_ready(frame, false);
    }
    let used = conn.out.len() as u64;
    let over_hard = limit.hard > 0 && used >= limit.hard;
    let mut over_soft = false;
    if limit.soft > 0 && used >= limit.soft {
        let since = *conn.over_soft_since.get_or_insert(now);
        over_soft = now.duration_since(since).as_secs() > limit.soft_secs;
    } else {
        conn.over_soft_since = None;
    }
    if over_hard || over_soft {
        tracing::warn!(
            client = conn.state.entry.id,
            bytes = used,
            "closing a subscriber over its pubsub output buffer limit"
        );
        conn.closing = true;
        over_limit.push(slot);
    }
    if !conn.dirty {
        conn.dirty = true;
        touched.push(slot);
    }
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_count_channels_and_every_matching_pattern() {
        let hub = Hub::new(Vec::new());
        {
            let mut reg = hub.write();
            let counts = |a: u32, b: u32| Counts {
                per_loop: vec![a, b].into_boxed_slice(),
                total: u64::from(a + b),
            };
            reg.channels
                .insert(Bytes::from_static(b"news"), counts(1, 0));
            reg.patterns.insert(Bytes::from_static(b"n*"), counts(0, 2));
            reg.patterns.insert(Bytes::from_static(b"x*"), counts(1, 1));
            reg.shard_channels
                .insert(Bytes::from_static(b"news"), counts(0, 1));
        }
        let msg = |shard| Published {
            shard,
            channel: Bytes::from_static(b"news"),
            payload: Bytes::new(),
        };
        let mut targets = [false, false];
        assert_eq!(hub.read().receivers(&msg(false), &mut targets), 3);
        assert_eq!(targets, [true, true]);
        let mut targets = [false, false];
        assert_eq!(hub.read().receivers(&msg(true), &mut targets), 1);
        assert_eq!(targets, [false, true]);
    }
}
