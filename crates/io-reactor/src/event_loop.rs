//! One IO thread: an epoll loop over its connections.
//!
//! See the crate docs for the shape of a loop pass and the batching rules.
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use resp_codec::{Protocol, Request, RequestParser};
use worker_shard::{
    Batch, Op, OpKind, Part, ReplyBatch, ReplyBody, ReplySink, Route, ShardExecutor, ShardId, Step,
};

use crate::conn::{ClientState, Conn, Pending, ReplyMode, Slot};
use crate::local::{self, Action};
use crate::poller::Ready;
use crate::pubsub::{self, LoopPubSub};
use crate::shared::{ClientEntry, ClientNames, Inbox, LoopHandle, LoopSink, Shared, Stats, lock};

mod limits_loop;
mod squash;

/// Bytes asked of the socket per `read` call while the buffer is small.
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes read from one connection in one pass, so one busy client cannot starve the rest.
const READ_BUDGET: usize = 1024 * 1024;
/// A connection whose unsent output exceeds this stops being read until the client catches up.
/// This is backpressure, not a limit: one reply may be larger (see the limits issue).
pub(crate) const OUTPUT_HIGH_WATER: usize = 8 * 1024 * 1024;
/// Most replies in flight per connection before its reading pauses.
const MAX_PENDING: usize = 64 * 1024;
/// While parsing is held (barrier, backpressure) reading stops once this much is buffered.
const HELD_INPUT_CAP: usize = 1024 * 1024;
/// Most rounds of "run the hosted shard, take its replies, send what coordinators asked next"
/// in one pass; a multi-round command that needs more continues in the next pass.
const INLINE_ROUNDS: usize = 8;
/// How long shutdown waits for replies already computed before closing connections anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

const SLOT_BITS: u32 = 20;
const GEN_BITS: u32 = 12;
const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// Most commands of a pipeline whose keys are looked up ahead at once (see
/// [`EventLoop::warm_keys`]); their data stays well within the first-level cache.
const WARM_AHEAD: usize = 32;
/// Fewer bytes than this cannot hold two commands with a key.
const MIN_WARM_BYTES: usize = 40;

/// Whether `name` may be one of the commands [`EventLoop::transaction`] handles outside
/// `MULTI` (`EXEC`, `QUIT`, `MULTI`, `WATCH`, `RESET`, `DISCARD`, `UNWATCH`): by length and
/// first letter, so the common commands (`GET`, `PING`, `INCR`, `LPUSH`, `HSET`, ...) pay two
/// comparisons.
fn may_be_transaction(name: &[u8]) -> bool {
    let first = name.first().map_or(0, |b| b.to_ascii_lowercase());
    matches!(
        (name.len(), first),
        (4, b'e' | b'q') | (5, b'm' | b'w' | b'r') | (7, b'd' | b'u')
    )
}

/// Tag layout: slot (20 bits) | generation (12 bits) | sequence (32 bits). The generation makes
/// replies for a closed connection miss a new connection in the same slot; the sequence is the
/// reply's place in the pipeline.
fn make_tag(slot: usize, generation: u32, seq: u32) -> u64 {
    ((slot as u64) << 44) | (u64::from(generation & ((1 << GEN_BITS) - 1)) << 32) | u64::from(seq)
}

fn split_tag(tag: u64) -> (usize, u32, u32) {
    (
        (tag >> 44) as usize,
        ((tag >> 32) as u32) & ((1 << GEN_BITS) - 1),
        tag as u32,
    )
}

/// Reads up to `chunk` bytes onto the end of `rbuf`. Small reads go through `scratch` so the
/// common case (a few commands) copies only what arrived instead of zero-filling a whole chunk
/// of `rbuf` first; reads into a buffer already holding part of a large bulk go straight in.
fn read_some(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    scratch: &mut [u8],
    chunk: usize,
) -> io::Result<usize> {
    if chunk <= scratch.len() {
        let n = stream.read(&mut scratch[..chunk])?;
        rbuf.extend_from_slice(&scratch[..n]);
        return Ok(n);
    }
    let start = rbuf.len();
    rbuf.resize(start + chunk, 0);
    let result = stream.read(&mut rbuf[start..]);
    rbuf.truncate(start + *result.as_ref().unwrap_or(&0));
    result
}

/// Records whether a connection waits in a blocking command (`blocked_clients`, flag `b`).
fn set_blocked(conn: &mut Conn, on: bool, stats: &Stats) {
    if conn.blocked == on {
        return;
    }
    conn.blocked = on;
    conn.state.entry.blocked.store(on, Ordering::Release);
    if on {
        Stats::add(&stats.blocked_clients, 1);
    } else {
        stats.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Local commands that block the calling thread until every shard has run a task (a snapshot;
/// `CONFIG SET appendonly` switching the append-only log).
fn waits_for_shards(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"save")
        || name.eq_ignore_ascii_case(b"shutdown")
        || name.eq_ignore_ascii_case(b"config")
}

/// Runs a command the IO layer answers. When it waits for every shard and this loop hosts
/// one, the shard is lent to a helper thread for the duration: this thread, blocked in the
/// command, could not run its shard's part of the wait.
fn run_local(
    shared: &Arc<Shared>,
    hosted: &mut Option<ShardExecutor>,
    state: &mut crate::conn::ClientState,
    req: &Request,
    out: &mut BytesMut,
) -> Action {
    let Some(shard) = hosted.as_mut().filter(|_| waits_for_shards(req.name())) else {
        return local::execute(shared, state, req, out);
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let helper = scope.spawn(|| {
            while !done.load(Ordering::Acquire) {
                shard.serve_once(Duration::from_millis(5));
            }
        });
        let action = local::execute(shared, state, req, out);
        done.store(true, Ordering::Release);
        let _ = helper.join();
        action
    })
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// The per-thread state of one event loop.
pub(crate) struct EventLoop {
    index: usize,
    shared: Arc<Shared>,
    handle: Arc<LoopHandle>,
    rx: flume::Receiver<Inbox>,
    sink: Arc<dyn ReplySink>,
    conns: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free: Vec<usize>,
    live: usize,
    /// This pass's ops, one list per shard; sent as one `Batch` per shard at the end of the pass.
    ops: Vec<Vec<Op>>,
    dirty: Vec<usize>,
    resume: Vec<usize>,
    /// Connections found disconnected while blocked during reply processing.
    gone: Vec<usize>,
    scratch: BytesMut,
    read_scratch: Box<[u8]>,
    commands: u64,
    net_in: u64,
    net_out: u64,
    shutdown_deadline: Option<Instant>,
    /// When the limits sweep (idle timeout, soft output limit) last ran.
    last_sweep: Instant,
    /// This loop's subscribers and the messages published here this pass.
    pubsub: LoopPubSub,
    /// The shard this loop hosts, if any (the `shared` thread layout): its commands run inline.
    hosted: Option<ShardExecutor>,
    /// Set once this loop has flushed its connections during shutdown.
    flushed: bool,
}

impl EventLoop {
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        handle: Arc<LoopHandle>,
        rx: flume::Receiver<Inbox>,
        hosted: Option<ShardExecutor>,
    ) -> EventLoop {
        let shards = shared.workers.len();
        let sink: Arc<dyn ReplySink> = Arc::new(LoopSink(handle.clone()));
        let pubsub = LoopPubSub::new(
            index,
            Arc::clone(&shared.pubsub),
            Arc::clone(&shared.config.client_limits),
        );
        EventLoop {
            pubsub,
            index,
            shared,
            handle,
            rx,
            sink,
            conns: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            ops: (0..shards).map(|_| Vec::new()).collect(),
            dirty: Vec::new(),
            resume: Vec::new(),
            gone: Vec::new(),
            scratch: BytesMut::with_capacity(4096),
            read_scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            commands: 0,
            net_in: 0,
            net_out: 0,
            shutdown_deadline: None,
            last_sweep: Instant::now(),
            hosted,
            flushed: false,
        }
    }

    /// Runs passes until shutdown has flushed (or given up on) every connection.
    pub(crate) fn run(mut self) {
        // Room for this many events per `epoll_wait`; more ready connections wait one pass.
        let mut buf = Vec::with_capacity(1024);
        let mut events = Vec::with_capacity(1024);
        loop {
            // Shutdown and `CLIENT KILL` set their flags before waking the loop; a flag set
            // after the last pass looked is caught here.
            let flagged = (self.shutdown_deadline.is_none()
                && self.shared.shutting_down.load(Ordering::Acquire))
                || self.handle.kill_pending.load(Ordering::Acquire);
            // Announce the sleep before the last look at the inboxes; senders check the flag
            // after queueing (see `LoopHandle::wake`), so no message can be missed.
            self.handle.sleeping.store(true, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            let busy = flagged
                || !self.resume.is_empty()
                || !self.rx.is_empty()
                || self.hosted.as_ref().is_some_and(ShardExecutor::has_work);
            let mut timeout = if busy {
                Some(Duration::ZERO)
            } else if self.shutdown_deadline.is_some() {
                Some(Duration::from_millis(20))
            } else {
                // Bounded, so a `timeout` or soft output limit set by `CONFIG SET` on another
                // thread starts being enforced here within a second.
                Some(limits_loop::sweep_interval(&self.shared))
            };
            if let Some(shard) = &self.hosted {
                let due = shard.next_timer().saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(due, |t| t.min(due)));
            }
            let waited = self.handle.poller.wait(&mut buf, &mut events, timeout);
            self.handle.sleeping.store(false, Ordering::SeqCst);
            if let Err(e) = waited {
                tracing::error!(error = %e, "io thread poller failed");
                break;
            }
            // Cleared before draining the inbox: a delivery that finds the flag still set was
            // queued before this point and is drained below.
            self.handle.woken.swap(false, Ordering::AcqRel);
            if self.pass(&events) {
                break;
            }
        }
        self.close_all();
        // What the closed connections still held on shards (a transaction's locks) is
        // released now: a save at shutdown needs every shard free.
        self.flush_ops();
        // The shard outlives the loop: a save at shutdown still needs it (see
        // `IoPool::shutdown_returning_shards`).
        if let Some(shard) = self.hosted.take() {
            lock(&self.shared.returned_shards).push(shard);
        }
    }

    /// One loop pass; returns true when the loop should stop.
    fn pass(&mut self, events: &[Ready]) -> bool {
        // Replies and new connections first: replies free pipeline slots and may complete
        // barriers before this pass parses more.
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Inbox::Connection(stream, peer, id) => self.accept(stream, peer, id),
                Inbox::Replies(batch) => self.on_replies(batch),
                Inbox::Messages(batch) => {
                    self.pubsub
                        .deliver(&batch, &mut self.conns, &mut self.dirty);
                }
            }
        }
        self.close_over_limit();
        while let Some(slot) = self.gone.pop() {
            self.drop_if_gone(slot);
        }
        if self.handle.kill_pending.swap(false, Ordering::AcqRel) {
            self.apply_kills();
        }
        if self.shutdown_deadline.is_none() && self.shared.shutting_down.load(Ordering::Acquire) {
            self.begin_shutdown();
        }

        for ev in events {
            let slot = ev.key;
            if ev.readable {
                self.read_and_parse(slot);
            }
            if ev.writable {
                self.mark_dirty(slot);
            }
        }
        // The lists are taken and handed back (cleared) so their capacity is reused every pass.
        let mut resume = std::mem::take(&mut self.resume);
        for &slot in &resume {
            if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                conn.stalled = false;
                self.parse(slot);
                self.finish_eof(slot);
            }
        }
        resume.clear();
        if self.resume.is_empty() {
            self.resume = resume;
        }
        // Messages published in this pass: one batch to every other loop with receivers, and
        // this loop's own subscribers served right here.
        if let Some(mine) = self.pubsub.flush() {
            self.pubsub.deliver(&mine, &mut self.conns, &mut self.dirty);
            self.close_over_limit();
        }
        self.flush_ops();
        self.write_dirty();
        if self.last_sweep.elapsed() >= limits_loop::SWEEP_EVERY {
            self.last_sweep = Instant::now();
            self.sweep_limits();
        }

        Stats::add(
            &self.shared.stats.total_commands,
            std::mem::take(&mut self.commands),
        );
        Stats::add(
            &self.shared.stats.net_input_bytes,
            std::mem::take(&mut self.net_in),
        );
        Stats::add(
            &self.shared.stats.net_output_bytes,
            std::mem::take(&mut self.net_out),
        );

        if let Some(deadline) = self.shutdown_deadline {
            let idle: Vec<usize> = (0..self.conns.len())
                .filter(|&s| {
                    self.conns[s]
                        .as_ref()
                        .is_some_and(|c| c.pending.is_empty() && c.out.is_empty())
                })
                .collect();
            idle.into_iter().for_each(|s| self.close(s));
            if !self.flushed && (self.live == 0 || Instant::now() >= deadline) {
                self.flushed = true;
                self.shared.loops_flushed.fetch_add(1, Ordering::AcqRel);
            }
            if !self.flushed {
                return false;
            }
            // A hosted shard keeps serving until every loop is done with its replies.
            let all = self.shared.loops_flushed.load(Ordering::Acquire) >= self.shared.loops.len();
            return self.hosted.is_none() || all || Instant::now() >= deadline + SHUTDOWN_GRACE;
        }
        false
    }

    /// Sends this pass's ops to the shards that other threads run and runs the hosted shard's
    /// share inline, together with the batches other loops queued for it. The hosted shard's
    /// replies come back through this loop's own inbox (a channel push, no wake-up: the loop is
    /// awake) and are taken at once, so a command on the local shard is answered in the pass
    /// that read it; coordinators may ask for another round, hence the loop.
    fn flush_ops(&mut self) {
        for _ in 0..INLINE_ROUNDS {
            let local = self.send_batches();
            let Some(shard) = self.hosted.as_mut() else {
                return;
            };
            shard.timer();
            shard.pass(local);
            let mut replies = false;
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    Inbox::Connection(stream, peer, id) => self.accept(stream, peer, id),
                    Inbox::Replies(batch) => {
                        replies = true;
                        self.on_replies(batch);
                    }
                    Inbox::Messages(batch) => {
                        self.pubsub
                            .deliver(&batch, &mut self.conns, &mut self.dirty);
                        self.close_over_limit();
                    }
                }
            }
            if !replies || self.ops.iter().all(Vec::is_empty) {
                return;
            }
        }
        // Rounds left over go out to the other shards now; the local share waits for the next
        // pass, which `busy` makes immediate.
        if let Some(local) = self.send_batches()
            && let Some(shard) = self.hosted.as_ref()
        {
            let _ = self.shared.workers[shard.shard()].send(local);
        }
    }

    fn accept(&mut self, stream: TcpStream, peer: SocketAddr, id: u64) {
        if self.shutdown_deadline.is_some() || self.live >= MAX_SLOTS {
            Stats::add(&self.shared.stats.rejected_connections, 1);
            return;
        }
        if let Some(refusal) = self.refusal(peer) {
            // Like Redis: tell the client why, then close. The socket is still blocking and
            // its send buffer empty, so this short write completes at once.
            let mut stream = stream;
            let _ = stream.write_all(refusal);
            Stats::add(&self.shared.stats.rejected_connections, 1);
            return;
        }
        let keepalive = self.shared.config.client_limits.tcp_keepalive_secs();
        if keepalive > 0 {
            let _ = crate::limits::set_keepalive(&stream, keepalive);
        }
        if stream.set_nonblocking(true).is_err() {
            return;
        }
        // Replies are already batched per pass, so Nagle's delay would only add latency.
        let _ = stream.set_nodelay(true);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.generations.push(0);
                self.conns.len() - 1
            }
        };
        if let Err(e) = self.handle.poller.add(&stream, slot, true) {
            tracing::warn!(error = %e, "cannot register connection");
            self.free.push(slot);
            return;
        }
        let shared = &self.shared;
        let entry = Arc::new(ClientEntry {
            id,
            addr: peer,
            laddr: stream.local_addr().ok(),
            fd: stream.as_raw_fd(),
            created: Instant::now(),
            loop_index: self.index,
            last_active_ms: AtomicU64::new(shared.now_ms()),
            db: AtomicU16::new(0),
            resp: AtomicU8::new(2),
            last_cmd: Default::default(),
            kill: AtomicBool::new(false),
            recheck_channels: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            authenticated: AtomicBool::new(false),
            names: std::sync::Mutex::new(ClientNames {
                user: "default".to_owned(),
                ..ClientNames::default()
            }),
            no_evict: AtomicBool::new(false),
            no_touch: AtomicBool::new(false),
            buffers: Default::default(),
            subs: Default::default(),
        });
        lock(&shared.clients).insert(id, entry.clone());
        Stats::add(&shared.stats.connected_clients, 1);
        Stats::add(&shared.stats.total_connections, 1);
        shared.sync_requirepass();
        let user = shared.config.acl.default_user();
        let acl_epoch = shared.config.acl.epoch();
        let authed = user.auto_auth();
        let limits = &shared.config.client_limits;
        let parser_epoch = limits.parser_epoch();
        let mut parser = RequestParser::new(limits.parser_limits(shared.config.limits));
        // Before AUTH, requests are limited as in Redis, so a stranger cannot make us buffer
        // large requests.
        parser.set_auth_required(!authed);
        self.conns[slot] = Some(Conn {
            stream,
            parser,
            rbuf: BytesMut::new(),
            out: BytesMut::new(),
            pending: VecDeque::new(),
            unstarted: 0,
            front_seq: 0,
            state: ClientState {
                entry,
                db: 0,
                proto: Protocol::Resp2,
                authed,
                reply: ReplyMode::On,
                reply_cmd: false,
                last_cmd: [0; 3],
                no_idle_timeout: false,
                multi: None,
                multi_error: false,
                watches: Vec::new(),
                user,
                acl_epoch,
            },
            held: false,
            closing: false,
            eof: false,
            want_write: false,
            interest: (true, false),
            dirty: false,
            stalled: false,
            parser_epoch,
            over_soft_since: None,
            subs: Default::default(),
            blocked: false,
            reply_avg: 0,
            out_dead: false,
        });
        self.live += 1;
    }

    /// Subscribers that passed their output buffer limit are closed at once, dropping what
    /// they have not read, as Redis does.
    fn close_over_limit(&mut self) {
        while let Some(slot) = self.pubsub.over_limit.pop() {
            self.close(slot);
        }
    }

    fn close(&mut self, slot: usize) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        // What the connection still holds on shards (a transaction's locks, watched keys) is
        // released; the replies come back under this generation and are dropped.
        let tag = make_tag(slot, self.generations[slot], 0);
        let shards = self.shared.workers.len();
        for p in conn.pending.iter_mut() {
            if let Slot::Fan { coord, .. } = &mut p.slot {
                let parts = coord.abandon();
                Self::queue_parts(&mut self.ops, tag, 0, Protocol::Resp2, parts);
            }
        }
        if !conn.state.watches.is_empty() {
            let parts =
                worker_shard::unwatch_parts(conn.state.entry.id, &conn.state.watches, shards);
            Self::queue_parts(&mut self.ops, tag, 0, Protocol::Resp2, parts);
        }
        self.pubsub.forget(slot, &mut conn);
        // The poller must forget the socket before it is closed (see `Poller::add`).
        let _ = self.handle.poller.delete(&conn.stream);
        let mut conn = conn;
        set_blocked(&mut conn, false, &self.shared.stats);
        lock(&self.shared.clients).remove(&conn.state.entry.id);
        self.shared
            .stats
            .connected_clients
            .fetch_sub(1, Ordering::Relaxed);
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    fn close_all(&mut self) {
        for slot in 0..self.conns.len() {
            self.close(slot);
        }
    }

    fn begin_shutdown(&mut self) {
        self.shutdown_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
        for slot in 0..self.conns.len() {
            if let Some(conn) = self.conns[slot].as_mut() {
                conn.closing = true;
                self.mark_dirty(slot);
            }
        }
    }

    fn apply_kills(&mut self) {
        for slot in 0..self.conns.len() {
            self.apply_unblock(slot);
            self.recheck_channels(slot);
            if let Some(conn) = self.conns[slot].as_mut()
                && conn.state.entry.kill.load(Ordering::Acquire)
            {
                // Like Redis, replies not yet computed are dropped; what is already in the
                // output buffer (e.g. the reply to a self-kill) still goes out.
                conn.closing = true;
                conn.pending.clear();
                conn.unstarted = 0;
                conn.rbuf.clear();
                self.mark_dirty(slot);
            }
        }
    }

    /// After `ACL SETUSER` took channels from the connection's user: closes the connection if
    /// one of its subscriptions is no longer allowed (by any selector), as Redis does.
    fn recheck_channels(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if !conn
            .state
            .entry
            .recheck_channels
            .swap(false, Ordering::AcqRel)
        {
            return;
        }
        let allowed = match self.shared.config.acl.user(&conn.state.user.name) {
            Some(user) => conn
                .subs
                .all_allowed(|name, pattern| user.channel_allowed(name, pattern)),
            None => false,
        };
        if !allowed {
            conn.state.entry.kill.store(true, Ordering::Release);
        }
    }

    /// `CLIENT UNBLOCK`: ends the connection's blocked command if it is still waiting.
    fn apply_unblock(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let how = match conn.state.entry.unblock.swap(0, Ordering::AcqRel) {
            0 => return,
            2 => worker_shard::Unblock::Error,
            _ => worker_shard::Unblock::Timeout,
        };
        let mut resumed = false;
        for p in conn.pending.iter_mut() {
            let Slot::Fan {
                coord,
                proto,
                barrier,
                ..
            } = &mut p.slot
            else {
                continue;
            };
            if let Some(frame) = coord.unblock(how) {
                let mut bytes = BytesMut::new();
                frame.encode(*proto, &mut bytes);
                resumed |= *barrier;
                p.slot = Slot::Ready(bytes.freeze());
            }
        }
        set_blocked(conn, false, &self.shared.stats);
        if resumed {
            conn.held = false;
            self.resume.push(slot);
        }
        conn.drain_ready();
        self.mark_dirty(slot);
    }

    /// A blocked client that went away (EOF) is dropped at once, as Redis frees it: dropping
    /// its coordinator withdraws it from every wait queue, so nothing is popped for it.
    fn drop_if_gone(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut)
            && conn.eof
            && conn.blocked
        {
            // `close` releases what earlier pipelined commands hold and drops the rest.
            self.close(slot);
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut)
            && !conn.dirty
        {
            conn.dirty = true;
            self.dirty.push(slot);
        }
    }

    /// Reads what the socket has (bounded by the pass budget), then parses.
    fn read_and_parse(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut budget = READ_BUDGET;
        let mut eof = false;
        let mut failed = false;
        while budget > 0 && !conn.closing && !conn.eof {
            if (conn.held || conn.stalled) && conn.rbuf.len() >= HELD_INPUT_CAP {
                break;
            }
            // Grow the chunk with the buffer so a large bulk string needs few reads.
            let chunk = conn.rbuf.len().clamp(READ_CHUNK, READ_BUDGET).min(budget);
            match read_some(
                &mut conn.stream,
                &mut conn.rbuf,
                &mut self.read_scratch,
                chunk,
            ) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    self.net_in += n as u64;
                    budget = budget.saturating_sub(n);
                    if n < chunk {
                        // A short read means the socket is drained; skip the WouldBlock syscall.
                        break;
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed || self.over_query_limit(slot) {
            self.close(slot);
            return;
        }
        self.parse(slot);
        if let Some(conn) = self.conns.get(slot).and_then(Option::as_ref)
            && budget < READ_BUDGET
            && !conn.rbuf.is_empty()
        {
            // Part of a command arrived: the client is not idle (`timeout`), as in Redis,
            // where any read counts as an interaction.
            conn.state
                .entry
                .last_active_ms
                .store(self.shared.now_ms(), Ordering::Relaxed);
        }
        if eof && let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
            conn.eof = true;
            self.finish_eof(slot);
            self.drop_if_gone(slot);
        }
    }

    /// After the peer stopped sending: once every complete command it sent has been parsed
    /// (parsing may be paused by a barrier or backpressure), answer them, then close.
    fn finish_eof(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut)
            && conn.eof
            && !conn.stalled
            && !conn.held
        {
            // What is left is an incomplete command that can never complete.
            conn.closing = true;
            conn.rbuf.clear();
            self.mark_dirty(slot);
        }
    }

    /// Parses and dispatches every complete command the connection may run now.
    fn parse(&mut self, slot: usize) {
        let shards = self.shared.workers.len();
        let mut dispatched = false;
        self.refresh_parser(slot);
        self.warm_keys(slot);
        loop {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            if conn.closing {
                break;
            }
            if conn.held
                || conn.out.len() >= OUTPUT_HIGH_WATER
                || (!conn.pending.is_empty() && conn.pending.len() >= conn.window(MAX_PENDING))
            {
                conn.stalled = !conn.rbuf.is_empty();
                break;
            }
            if self.start_gather_before_next(slot) {
                // The group went out first; the next request waits for its first hop.
                continue;
            }
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            match conn.parser.parse(&mut conn.rbuf) {
                Ok(Some(req)) => {
                    dispatched = true;
                    self.commands += 1;
                    self.dispatch(slot, req, shards);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut line = BytesMut::with_capacity(64);
                    e.write_reply(&mut line);
                    conn.push_ready(&line, false);
                    conn.closing = true;
                    conn.rbuf.clear();
                    break;
                }
            }
        }
        // A group still open when parsing stops starts now, in this pass.
        self.start_gather(slot);
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut)
            && dispatched
        {
            let entry = &conn.state.entry;
            entry.set_last_cmd(conn.state.last_cmd);
            entry
                .last_active_ms
                .store(self.shared.now_ms(), Ordering::Relaxed);
        }
        self.mark_dirty(slot);
    }

    /// Before a pipeline runs on the hosted shard: looks up the keys of its next commands
    /// back to back, so their cache misses overlap instead of each command waiting for its
    /// own. Only for two commands or more; one alone gains nothing from it.
    fn warm_keys(&mut self, slot: usize) {
        let (Some(shard), Some(conn)) = (
            self.hosted.as_ref(),
            self.conns.get(slot).and_then(Option::as_ref),
        ) else {
            return;
        };
        if conn.parser.is_mid_request() || conn.rbuf.len() < MIN_WARM_BYTES {
            return;
        }
        let mut keys: [&[u8]; WARM_AHEAD] = [&[]; WARM_AHEAD];
        let mut found = 0;
        resp_codec::peek_first_arguments(&conn.rbuf, WARM_AHEAD, |key| {
            // Commands without arguments (PING) have nothing to look up.
            if !key.is_empty() {
                keys[found] = key;
                found += 1;
            }
        });
        if found < 2 {
            return;
        }
        let db = conn.state.db;
        let seen = keys[..found]
            .iter()
            .fold(0, |acc, key| acc ^ shard.warm(db, key));
        std::hint::black_box(seen);
    }

    /// Runs, routes or answers one command.
    fn dispatch(&mut self, slot: usize, mut req: Request, shards: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        // The checks below test before they call, so the common command is not moved in and
        // out of functions that leave it alone (it is a hundred bytes).
        if !self.shared.renames.is_empty() {
            match self.shared.renames.apply(req) {
                crate::rename::Renamed::Run(renamed) => req = renamed,
                crate::rename::Renamed::Unknown(req) => {
                    self.scratch.clear();
                    local::unknown_command(&mut self.scratch, &req);
                    conn.push_ready(&self.scratch, conn.state.reply != ReplyMode::On);
                    return;
                }
            }
        }
        conn.state.last_cmd = crate::shared::pack_name(req.name());
        let mode = conn.state.reply;
        if mode == ReplyMode::Skip {
            conn.state.reply = ReplyMode::On;
        }
        let discard = mode != ReplyMode::On;

        if !conn.state.authed && !local::auth_exempt(req.name()) {
            // Redis checks the command's existence and arity before authentication.
            if let Err(text) = worker_shard::route(&req, shards) {
                self.scratch.clear();
                resp_codec::write_error(&mut self.scratch, &text);
            } else {
                self.scratch.clear();
                resp_codec::write_error(&mut self.scratch, b"NOAUTH Authentication required.");
            }
            conn.push_ready(&self.scratch, discard);
            return;
        }

        match crate::acl_cmd::gate(&self.shared, &mut conn.state, req.args()) {
            crate::acl_cmd::Gate::Allowed => {}
            crate::acl_cmd::Gate::Denied(text) => {
                // Redis reports a wrong name or arity before a permission problem.
                self.scratch.clear();
                match worker_shard::check_command(&req) {
                    Err(text) => resp_codec::write_error(&mut self.scratch, &text),
                    Ok(_) => resp_codec::write_error(&mut self.scratch, text.as_bytes()),
                }
                conn.push_ready(&self.scratch, discard);
                // Like Redis, a refused command inside MULTI makes EXEC fail.
                if conn.state.multi.is_some() {
                    conn.state.multi_error = true;
                }
                return;
            }
            crate::acl_cmd::Gate::Gone => {
                conn.closing = true;
                conn.rbuf.clear();
                return;
            }
        }

        if conn.subs.active()
            && conn.state.proto == Protocol::Resp2
            && !pubsub::allowed_while_subscribed(req.name())
            && let Ok(spec) = worker_shard::check_command(&req)
        {
            // After the name and arity checks, before MULTI queues anything, as in Redis.
            self.scratch.clear();
            let text = pubsub::subscribed_mode_error(spec.name);
            resp_codec::write_error(&mut self.scratch, text.as_bytes());
            conn.push_ready(&self.scratch, discard);
            return;
        }

        if self
            .shared
            .writes_blocked
            .as_ref()
            .is_some_and(|b| b.load(Ordering::Relaxed))
            && refused_while_blocked(&req)
        {
            self.scratch.clear();
            let text = self.shared.hooks.misconf_error();
            let text = text.as_deref().unwrap_or(MISCONF);
            resp_codec::write_error(&mut self.scratch, text.as_bytes());
            conn.push_ready(&self.scratch, discard);
            // Like other refusals, one inside MULTI makes EXEC fail.
            if conn.state.multi.is_some() {
                conn.state.multi_error = true;
            }
            return;
        }

        if self
            .shared
            .workers
            .first()
            .is_some_and(|w| w.out_of_memory())
            && refused_when_full(&req, conn.state.multi.is_some())
        {
            // Redis's processCommand refuses a command that may grow memory while memory is
            // full; shards refuse their own commands, this covers spread ones and MULTI.
            self.scratch.clear();
            resp_codec::write_error(
                &mut self.scratch,
                b"OOM command not allowed when used memory > 'maxmemory'.",
            );
            conn.push_ready(&self.scratch, discard);
            if conn.state.multi.is_some() {
                conn.state.multi_error = true;
            }
            return;
        }

        if conn.state.multi.is_some() || may_be_transaction(req.name()) {
            match self.transaction(slot, req, shards, discard) {
                Some(runs) => req = runs,
                None => return,
            }
        }
        let generation = self.generations[slot];
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (route, command) = match worker_shard::route_resolved(&req, shards) {
            Ok(routed) => routed,
            Err(text) => {
                self.scratch.clear();
                resp_codec::write_error(&mut self.scratch, &text);
                conn.push_ready(&self.scratch, discard);
                return;
            }
        };
        // Pipelined multi-key commands across shards go into one transaction (squash.rs). While
        // a group waits to start, nothing may reach a shard ahead of it: a command for the
        // shards joins it (the loop starts a group before any request that does not qualify,
        // so only one whose keys share a shard gets here).
        let gathers = shards > 1
            && !discard
            && conn.state.multi.is_none()
            && self.shared.renames.is_empty()
            && squash::squashable_request(&req);
        let gather_open = conn.unstarted > 0;
        match route {
            Route::FanOut(coord) if gathers || gather_open => {
                self.gather(slot, req, Some(coord), discard)
            }
            Route::Shard(_) if gather_open => self.gather(slot, req, None, discard),
            Route::Local => {
                self.scratch.clear();
                if self.pubsub.execute(slot, conn, &req, &mut self.scratch) {
                    if let Some(stat) = self.shared.command_stats.slot(req.args()) {
                        let failed = self.scratch.first() == Some(&b'-');
                        self.shared.command_stats.record(stat, 0, failed);
                    }
                    conn.push_ready(&self.scratch, discard);
                    return;
                }
                if req.name().eq_ignore_ascii_case(b"reset") {
                    // RESET leaves Pub/Sub mode without unsubscribe replies.
                    self.pubsub.forget(slot, conn);
                }
                if req.name().eq_ignore_ascii_case(b"save")
                    && req.args().len() == 1
                    && let Some(save) = self.shared.hooks.save_command()
                {
                    match save {
                        Ok(coord) => self.fan_out(slot, coord, &req, discard),
                        Err(text) => {
                            resp_codec::write_error(&mut self.scratch, text.as_bytes());
                            conn.push_ready(&self.scratch, discard);
                        }
                    }
                    return;
                }
                // SHUTDOWN's save too: the thread goes on driving the transactions it waits for.
                if req.name().eq_ignore_ascii_case(b"shutdown")
                    && let Some(save) = crate::local::shutdown_save_option(req.args())
                    && let Some(cmd) = self.shared.hooks.shutdown_command(save)
                {
                    match cmd {
                        Ok(coord) => self.fan_out(slot, coord, &req, discard),
                        Err(text) => {
                            resp_codec::write_error(&mut self.scratch, text.as_bytes());
                            conn.push_ready(&self.scratch, discard);
                        }
                    }
                    return;
                }
                conn.state.reply_cmd = false;
                let action = run_local(
                    &self.shared,
                    &mut self.hosted,
                    &mut conn.state,
                    &req,
                    &mut self.scratch,
                );
                let discard = discard && !conn.state.reply_cmd;
                // AUTH, HELLO and RESET change authentication; the next request is parsed with
                // the matching limits.
                conn.parser.set_auth_required(!conn.state.authed);
                conn.push_ready(&self.scratch, discard);
                match action {
                    Action::Continue => {}
                    Action::Close => {
                        conn.closing = true;
                        conn.rbuf.clear();
                    }
                }
            }
            Route::Shard(shard) => {
                // The shard this thread hosts runs the command now, straight into the output,
                // when no earlier reply of the connection is outstanding.
                if conn.pending.is_empty()
                    && let Some(hosted) = self.hosted.as_mut().filter(|h| h.shard() == shard)
                {
                    let before = conn.out.len();
                    if hosted.execute_inline(
                        command,
                        conn.state.db,
                        conn.state.proto,
                        &req,
                        &mut conn.out,
                    ) {
                        conn.note_reply_len(conn.out.len() - before);
                        if discard {
                            conn.out.truncate(before);
                        }
                        return;
                    }
                }
                let tag = make_tag(slot, generation, conn.next_seq());
                conn.pending.push_back(Pending {
                    slot: Slot::Waiting,
                    discard,
                });
                let op = Op {
                    tag,
                    db: conn.state.db,
                    proto: conn.state.proto,
                    kind: OpKind::Command(req),
                };
                match self.ops.get_mut(shard) {
                    Some(list) => list.push(op),
                    None => Self::fail_op(conn),
                }
            }
            Route::FanOut(coord) => self.fan_out(slot, coord, &req, discard),
        }
    }

    /// Starts a coordinator for the connection in `slot`: its reply takes the next place in
    /// the pipeline.
    fn fan_out(
        &mut self,
        slot: usize,
        coord: Box<dyn worker_shard::Coordinator>,
        req: &Request,
        discard: bool,
    ) {
        let generation = self.generations[slot];
        let stat = self
            .shared
            .command_stats
            .slot(req.args())
            .map(|s| (s, Instant::now()));
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let tag = make_tag(slot, generation, conn.next_seq());
        conn.pending.push_back(Pending {
            slot: Slot::Waiting,
            discard,
        });
        let at = conn.pending.len() - 1;
        self.launch(slot, at, tag, coord, stat, None);
    }

    /// Starts `coord` as the connection's pending reply `at` (see [`EventLoop::fan_out`]).
    fn launch(
        &mut self,
        slot: usize,
        at: usize,
        tag: u64,
        mut coord: Box<dyn worker_shard::Coordinator>,
        stat: Option<(usize, Instant)>,
        squashed: Option<crate::conn::Squashed>,
    ) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        coord.set_protocol(conn.state.proto);
        let parts = coord.start();
        let barrier = coord.is_barrier();
        let (db, proto) = (conn.state.db, conn.state.proto);
        let Some(pending) = conn.pending.get_mut(at) else {
            return;
        };
        pending.slot = Slot::Fan {
            coord,
            outstanding: parts.len(),
            proto,
            db,
            barrier,
            stat,
            squashed,
        };
        conn.held = barrier;
        if !Self::queue_parts(&mut self.ops, tag, db, proto, parts) {
            Self::fail_op(conn);
        }
    }

    /// `MULTI`, `EXEC`, `DISCARD`, `WATCH`, `UNWATCH`, and queuing inside a transaction.
    /// Returns the request if it is none of these and runs normally. The caller calls it only
    /// inside `MULTI` or for a name [`may_be_transaction`] lets through.
    fn transaction(
        &mut self,
        slot: usize,
        req: Request,
        shards: usize,
        discard: bool,
    ) -> Option<Request> {
        let conn = self.conns.get_mut(slot).and_then(Option::as_mut)?;
        let name = req.name();
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        self.scratch.clear();
        let out = &mut self.scratch;
        let state = &mut conn.state;
        let in_multi = state.multi.is_some();
        if is("multi") {
            if in_multi {
                resp_codec::write_error(out, b"ERR MULTI calls can not be nested");
            } else if req.args().len() != 1 {
                resp_codec::write_error(out, b"ERR wrong number of arguments for 'multi' command");
            } else {
                state.multi = Some(Vec::new());
                state.multi_error = false;
                out.extend_from_slice(b"+OK\r\n");
            }
        } else if is("discard") || is("unwatch") {
            let discard_cmd = is("discard");
            if !discard_cmd && in_multi {
                return self.queue(slot, req, discard);
            }
            if req.args().len() != 1 {
                let msg = format!(
                    "ERR wrong number of arguments for '{}' command",
                    if discard_cmd { "discard" } else { "unwatch" }
                );
                resp_codec::write_error(out, msg.as_bytes());
                if in_multi {
                    state.multi_error = true;
                }
            } else if discard_cmd && !in_multi {
                resp_codec::write_error(out, b"ERR DISCARD without MULTI");
            } else {
                state.multi = None;
                out.extend_from_slice(b"+OK\r\n");
                let watches = std::mem::take(&mut state.watches);
                let parts = worker_shard::unwatch_parts(state.entry.id, &watches, shards);
                Self::unanswered(&mut self.ops, slot, self.generations[slot], conn, parts);
            }
        } else if is("watch") {
            if in_multi {
                resp_codec::write_error(out, b"ERR WATCH inside MULTI is not allowed");
            } else if req.args().len() < 2 {
                resp_codec::write_error(out, b"ERR wrong number of arguments for 'watch' command");
            } else {
                let keys = &req.args()[1..];
                let db = state.db;
                for k in keys {
                    if !state.watches.iter().any(|(d, w)| *d == db && w == k) {
                        state.watches.push((db, k.clone()));
                    }
                }
                let coord = worker_shard::watch(state.entry.id, keys, shards);
                self.fan_out(slot, coord, &req, discard);
                return None;
            }
        } else if is("exec") {
            if !in_multi {
                resp_codec::write_error(out, b"ERR EXEC without MULTI");
            } else if req.args().len() != 1 {
                resp_codec::write_error(out, b"ERR wrong number of arguments for 'exec' command");
                state.multi_error = true;
            } else {
                return self.exec(slot, req, shards, discard);
            }
        } else if is("reset") {
            // RESET runs at once, in a transaction or not, and also ends it and unwatches.
            state.multi = None;
            let watches = std::mem::take(&mut state.watches);
            let parts = worker_shard::unwatch_parts(state.entry.id, &watches, shards);
            Self::unanswered(&mut self.ops, slot, self.generations[slot], conn, parts);
            return Some(req);
        } else if in_multi {
            if is("quit") {
                return Some(req);
            }
            return self.queue(slot, req, discard);
        } else {
            return Some(req);
        }
        conn.push_ready(&self.scratch, discard);
        None
    }

    /// Queues a command inside `MULTI` (`+QUEUED`), or flags the transaction if the command
    /// does not exist or has the wrong arity, as Redis checks before queuing.
    fn queue(&mut self, slot: usize, req: Request, discard: bool) -> Option<Request> {
        let conn = self.conns.get_mut(slot).and_then(Option::as_mut)?;
        self.scratch.clear();
        match worker_shard::check_command(&req) {
            Err(text) => {
                resp_codec::write_error(&mut self.scratch, &text);
                conn.state.multi_error = true;
            }
            Ok(_) => {
                if let Some(q) = conn.state.multi.as_mut() {
                    q.push(req);
                }
                self.scratch.extend_from_slice(b"+QUEUED\r\n");
            }
        }
        conn.push_ready(&self.scratch, discard);
        None
    }

    /// `EXEC`: local commands answer now, in order; the rest runs as one scheduled
    /// transaction across the shards it touches.
    fn exec(&mut self, slot: usize, req: Request, shards: usize, discard: bool) -> Option<Request> {
        let conn = self.conns.get_mut(slot).and_then(Option::as_mut)?;
        let queued = conn.state.multi.take().unwrap_or_default();
        let watches = std::mem::take(&mut conn.state.watches);
        let id = conn.state.entry.id;
        if std::mem::take(&mut conn.state.multi_error) {
            let parts = worker_shard::unwatch_parts(id, &watches, shards);
            Self::unanswered(&mut self.ops, slot, self.generations[slot], conn, parts);
            self.scratch.clear();
            resp_codec::write_error(
                &mut self.scratch,
                b"EXECABORT Transaction discarded because of previous errors.",
            );
            conn.push_ready(&self.scratch, discard);
            return None;
        }
        // Memory filled up after the commands were queued: Redis's processCommand refuses
        // EXEC itself if it holds a `denyoom` command, and discards the transaction.
        if self
            .shared
            .workers
            .first()
            .is_some_and(|w| w.out_of_memory())
            && queued.iter().any(|q| refused_when_full(q, false))
        {
            let parts = worker_shard::unwatch_parts(id, &watches, shards);
            Self::unanswered(&mut self.ops, slot, self.generations[slot], conn, parts);
            self.scratch.clear();
            resp_codec::write_error(
                &mut self.scratch,
                b"EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.",
            );
            conn.push_ready(&self.scratch, discard);
            return None;
        }
        let mut items = Vec::with_capacity(queued.len());
        for q in queued {
            if let Some(text) = crate::acl_cmd::recheck_queued(&self.shared, &conn.state, q.args())
            {
                self.scratch.clear();
                resp_codec::write_error(&mut self.scratch, text.as_bytes());
                items.push(worker_shard::Queued::Reply(self.scratch.split().freeze()));
                continue;
            }
            match worker_shard::route(&q, shards) {
                Ok(Route::Local) => {
                    self.scratch.clear();
                    // PUBLISH and the (un)subscribe commands may be queued too.
                    if !self.pubsub.execute(slot, conn, &q, &mut self.scratch) {
                        let _ = run_local(
                            &self.shared,
                            &mut self.hosted,
                            &mut conn.state,
                            &q,
                            &mut self.scratch,
                        );
                    }
                    items.push(worker_shard::Queued::Reply(self.scratch.split().freeze()));
                }
                _ => items.push(worker_shard::Queued::Command {
                    db: conn.state.db,
                    req: q,
                }),
            }
        }
        let proto = conn.state.proto;
        match worker_shard::exec(id, proto, items, &watches, shards) {
            Ok(coord) => self.fan_out(slot, coord, &req, discard),
            Err(frame) => {
                self.scratch.clear();
                frame.encode(proto, &mut self.scratch);
                conn.push_ready(&self.scratch, discard);
            }
        }
        None
    }

    /// Sends parts whose replies nobody waits for (`UNWATCH`): their tag sits just behind the
    /// pipeline's front, so the reply matches no pending place and is dropped.
    fn unanswered(
        ops: &mut [Vec<Op>],
        slot: usize,
        generation: u32,
        conn: &Conn,
        parts: Vec<(ShardId, Part)>,
    ) {
        let tag = make_tag(slot, generation, conn.front_seq.wrapping_sub(1));
        Self::queue_parts(ops, tag, conn.state.db, conn.state.proto, parts);
    }

    /// Appends a coordinator's parts to this pass's per-shard batches.
    fn queue_parts(
        ops: &mut [Vec<Op>],
        tag: u64,
        db: u16,
        proto: Protocol,
        parts: Vec<(ShardId, Part)>,
    ) -> bool {
        let mut ok = true;
        for (shard, part) in parts {
            match ops.get_mut(shard) {
                Some(list) => list.push(Op {
                    tag,
                    db,
                    proto,
                    kind: OpKind::Part(part),
                }),
                None => ok = false,
            }
        }
        ok
    }

    /// A reply that can never come (no such shard, worker stopped): the pipeline cannot be kept
    /// in order any more, so the connection is closed after what is already due.
    fn fail_op(conn: &mut Conn) {
        tracing::error!("a command was routed to a shard that cannot answer; closing the client");
        conn.closing = true;
        conn.rbuf.clear();
        conn.pending.clear();
        conn.unstarted = 0;
    }

    /// Sends one batch per shard that has ops, except the hosted shard's, which is returned.
    fn send_batches(&mut self) -> Option<Batch> {
        let hosted = self.hosted.as_ref().map(ShardExecutor::shard);
        let mut local = None;
        for shard in 0..self.ops.len() {
            if self.ops[shard].is_empty() {
                continue;
            }
            let cap = self.ops[shard].len();
            let ops = std::mem::replace(&mut self.ops[shard], Vec::with_capacity(cap));
            let batch = Batch {
                reply_to: self.sink.clone(),
                ops,
            };
            if hosted == Some(shard) {
                local = Some(batch);
            } else if !self.shared.workers[shard].send(batch) {
                tracing::error!(shard, "worker stopped; its replies will never arrive");
            }
        }
        local
    }

    fn on_replies(&mut self, batch: ReplyBatch) {
        let ReplyBatch {
            shard,
            buf,
            replies,
        } = batch;
        for reply in replies {
            let (slot, generation, seq) = split_tag(reply.tag);
            let live_gen = self
                .generations
                .get(slot)
                .map(|g| g & ((1 << GEN_BITS) - 1));
            if live_gen != Some(generation) {
                // The connection this reply was for is gone (its slot may be reused).
                continue;
            }
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let idx = seq.wrapping_sub(conn.front_seq) as usize;
            if idx >= conn.pending.len() {
                continue;
            }
            match reply.body {
                ReplyBody::Encoded(range) => {
                    let Some(bytes) = buf.get(range.clone()) else {
                        continue;
                    };
                    if !matches!(conn.pending[idx].slot, Slot::Waiting) {
                        continue;
                    }
                    if idx == 0 {
                        if !conn.pending[0].discard {
                            conn.out.extend_from_slice(bytes);
                        }
                        conn.pending.pop_front();
                        conn.front_seq = conn.front_seq.wrapping_add(1);
                    } else {
                        conn.pending[idx].slot = Slot::Ready(buf.slice(range));
                    }
                }
                ReplyBody::Part(part) => {
                    let Slot::Fan { coord, .. } = &mut conn.pending[idx].slot else {
                        continue;
                    };
                    let step = coord.on_reply(shard, part);
                    let lifted = matches!(step, Step::Send(_)) && coord.barrier_lifted();
                    let closes = matches!(step, Step::Done(_)) && coord.closes_connection();
                    let now_blocked = !matches!(step, Step::Done(_)) && coord.is_blocked();
                    if now_blocked != conn.blocked {
                        set_blocked(conn, now_blocked, &self.shared.stats);
                        if now_blocked && conn.eof {
                            self.gone.push(slot);
                        }
                    }
                    let Slot::Fan {
                        outstanding,
                        proto,
                        db,
                        barrier,
                        stat,
                        squashed,
                        ..
                    } = &mut conn.pending[idx].slot
                    else {
                        continue;
                    };
                    *outstanding = outstanding.saturating_sub(1);
                    match step {
                        Step::Wait => {}
                        Step::Send(parts) => {
                            *outstanding += parts.len();
                            let (db, proto) = (*db, *proto);
                            if lifted && *barrier {
                                // The next hop is queued (below) ahead of anything the
                                // connection sends next, which is parsed later.
                                *barrier = false;
                                conn.held = false;
                                self.resume.push(slot);
                            }
                            if !Self::queue_parts(&mut self.ops, reply.tag, db, proto, parts) {
                                Self::fail_op(conn);
                            }
                        }
                        Step::Done(frame) => {
                            let was_barrier = *barrier;
                            if let Some((slot, started)) = *stat {
                                let failed = matches!(frame, resp_codec::Frame::Error(_));
                                let usec = started.elapsed().as_micros() as u64;
                                self.shared.command_stats.record(slot, usec, failed);
                            }
                            let mut bytes = BytesMut::new();
                            if closes {
                                // No reply; what the connection sent after it is dropped.
                                conn.closing = true;
                                conn.rbuf.clear();
                            } else if let Some(squashed) = squashed {
                                squash::encode_replies(
                                    frame,
                                    squashed,
                                    *proto,
                                    &self.shared.command_stats,
                                    &mut bytes,
                                );
                            } else {
                                frame.encode(*proto, &mut bytes);
                            }
                            conn.pending[idx].slot = Slot::Ready(bytes.freeze());
                            if was_barrier {
                                conn.held = false;
                                self.resume.push(slot);
                            }
                        }
                    }
                }
            }
            conn.drain_ready();
            self.mark_dirty(slot);
        }
    }

    /// Writes every connection with output once, then updates interests and closes finished
    /// connections.
    fn write_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for slot in dirty.drain(..) {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            conn.dirty = false;
            if limits_loop::over_output_limit(&self.shared, conn) {
                self.close(slot);
                continue;
            }
            if conn.out_dead {
                conn.out.clear();
            }
            if !conn.out.is_empty() {
                // One write per pass: a short write means the socket buffer is full, so a second
                // attempt would only return WouldBlock.
                let peer_gone = match conn.stream.write(&conn.out) {
                    Ok(0) => true,
                    Ok(n) => {
                        self.net_out += n as u64;
                        conn.out.advance(n);
                        conn.want_write = !conn.out.is_empty();
                        false
                    }
                    Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => {
                        conn.want_write = true;
                        false
                    }
                    Err(_) => true,
                };
                if peer_gone {
                    if conn.pending.is_empty() && conn.rbuf.is_empty() {
                        self.close(slot);
                        continue;
                    }
                    // Commands already received still run; their replies go nowhere.
                    // As after an end-of-file (`finish_eof`): what is parsed still runs, what
                    // is left once parsing may go on is an incomplete command.
                    conn.out_dead = true;
                    conn.eof = true;
                    conn.out.clear();
                    conn.want_write = false;
                    if !conn.stalled && !conn.held {
                        conn.closing = true;
                        conn.rbuf.clear();
                    }
                }
                if conn.out.is_empty() && conn.out.capacity() > OUTPUT_HIGH_WATER {
                    // Give a burst's memory back instead of keeping it for the connection's life.
                    conn.out = BytesMut::new();
                }
            } else {
                conn.want_write = false;
            }
            if conn.closing && conn.pending.is_empty() && conn.out.is_empty() {
                self.close(slot);
                continue;
            }
            let blocked = conn.held
                || conn.out.len() >= OUTPUT_HIGH_WATER
                || conn.pending.len() >= conn.window(MAX_PENDING);
            if conn.stalled && !blocked {
                self.resume.push(slot);
            }
            let sizes = &conn.state.entry.buffers;
            sizes.query.store(conn.rbuf.len() as u64, Ordering::Relaxed);
            let free = conn.rbuf.capacity() - conn.rbuf.len();
            sizes.query_free.store(free as u64, Ordering::Relaxed);
            sizes.output.store(conn.out.len() as u64, Ordering::Relaxed);
            sizes.writing.store(conn.want_write, Ordering::Relaxed);
            // A blocked client is still read (up to the held-input cap) so that its
            // disconnect is seen and its wait withdrawn.
            let read = !conn.closing
                && !conn.eof
                && (!blocked || (conn.blocked && conn.rbuf.len() < HELD_INPUT_CAP));
            let want = (read, conn.want_write);
            if want != conn.interest {
                if self
                    .handle
                    .poller
                    .modify(&conn.stream, slot, want.0, want.1)
                    .is_err()
                {
                    self.close(slot);
                    continue;
                }
                conn.interest = want;
            }
        }
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }
}

/// Redis's refusal of writes after a failed snapshot.
const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently \
unable to persist to disk. Commands that may modify the data set are disabled, because this \
instance is configured to report errors during writes if RDB snapshotting fails \
(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Whether `MISCONF` refuses `req`: write commands, and `PING`, as in Redis's
/// `processCommand`.
/// Whether memory being full refuses `req`: a `denyoom` command, or inside `MULTI` anything
/// but `EXEC`, `DISCARD`, `QUIT` and `RESET` (queuing grows memory too), as in Redis.
fn refused_when_full(req: &Request, in_multi: bool) -> bool {
    let name = req.name();
    if in_multi {
        return !["exec", "discard", "quit", "reset"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n.as_bytes()));
    }
    worker_shard::lookup_command(name).is_some_and(|s| s.flags.contains(&"denyoom"))
}

fn refused_while_blocked(req: &Request) -> bool {
    req.name().eq_ignore_ascii_case(b"ping")
        || worker_shard::lookup_command(req.name()).is_some_and(|s| s.flags.contains(&"write"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_generations_wrap_within_their_bits() {
        let tag = make_tag(MAX_SLOTS - 1, 4097, u32::MAX);
        assert_eq!(split_tag(tag), (MAX_SLOTS - 1, 1, u32::MAX));
        assert_eq!(split_tag(make_tag(0, 0, 0)), (0, 0, 0));
        assert_eq!(split_tag(make_tag(7, 3, 12345)), (7, 3, 12345));
    }

    /// Regression: a first cut of the pre-check left out `RESET`, which then ran without
    /// ending the transaction.
    #[test]
    fn every_command_the_transaction_step_handles_passes_its_pre_check() {
        for name in [
            "exec", "QUIT", "Multi", "watch", "reset", "DISCARD", "unwatch",
        ] {
            assert!(may_be_transaction(name.as_bytes()), "{name}");
        }
        for name in [
            "get", "SET", "ping", "incr", "lpush", "hset", "mget", "", "x",
        ] {
            assert!(!may_be_transaction(name.as_bytes()), "{name}");
        }
    }
}
