//! Event loops (IO handlers) that own client connections: they read and parse commands, route
//! each to the shard worker owning its keys, answer connection and server commands themselves,
//! and write the replies back in request order.
//!
//! # Layout
//!
//! - [`IoPool`] starts `io_threads` event loops (threads `kvd-io-N`), hands accepted connections
//!   to them round-robin ([`IoPool::register`]) and stops them ([`IoPool::shutdown`]).
//! - [`ServerHooks`] is what the server around the pool provides: `CONFIG GET/SET`, the
//!   password, and `SHUTDOWN`.
//! - [`ReactorConfig`] holds the pool's settings, among them the live [`ClientLimits`]
//!   (`maxclients`, `timeout`, `tcp-keepalive`, buffer limits, protected mode) and the [`Acl`]
//!   users, both shared with the server's `CONFIG SET`.
//! - `acl`/`acl_cmd`: ACL users and `ACL`; every command passes `acl_cmd::gate`, which for an
//!   unrestricted user (the `default` user out of the box) is one atomic load and a flag test.
//! - `limits` and `event_loop::limits_loop`: the client limits and their enforcement (refusals
//!   at accept, buffer limits after reads and writes, a sweep for idle clients).
//! - `rename`: `rename-command`, applied to each request's name before anything else.
//! - Inside: `event_loop` (the loop pass), `conn` (a connection's buffers and pipeline), `local`,
//!   `client`, `commands` and `info` (commands answered here), `pubsub` (Pub/Sub across loops
//!   and keyspace notifications; its docs describe the design), `shared` (counters and the client
//!   registry shared by all loops, touched on connect/disconnect and by `CLIENT`/`INFO`, never
//!   per command), `poller` (the epoll set: one `epoll_wait` per sleep, an edge-triggered
//!   eventfd to wake it).
//!
//! # The loop pass
//!
//! Each loop waits on epoll (level-triggered), then in one pass:
//!
//! 1. drains its inbox: new connections, and [`worker_shard::ReplyBatch`]es that workers
//!    delivered through the loop's [`worker_shard::ReplySink`] (a channel send plus a coalesced
//!    `Poller::notify`, so a burst of deliveries costs one wake-up);
//! 2. reads every readable connection until the socket is drained or a per-connection budget
//!    (1 MiB) is spent, and parses every complete command (`resp_codec::RequestParser`);
//! 3. routes each command with [`worker_shard::route`]: an error is answered at once, `Local`
//!    commands are answered here, `Shard(id)` commands become an [`worker_shard::Op`] appended to
//!    that shard's batch for this pass, `FanOut` coordinators append their parts to the same
//!    per-shard batches (so each shard sees one connection's commands in order);
//! 4. sends **one [`worker_shard::Batch`] per shard** that has ops, and the messages `PUBLISH`ed
//!    in the pass as one batch to every loop with subscribers for them;
//! 5. writes every connection with output **once** (one `write` per connection per pass; if the
//!    socket takes less, the loop asks for writability and stops reading that client while its
//!    output is above 8 MiB).
//!
//! Replies keep request order with a per-connection queue of pending reply slots: an op's tag
//! carries the connection's slot, a generation (so replies for a closed connection are dropped)
//! and a sequence number; finished replies at the front of the queue are copied into the output
//! buffer. Coordinators whose `is_barrier()` is true hold the connection's later commands until
//! they complete, or until `barrier_lifted()` says the later commands can no longer overtake
//! them (a scheduled transaction holding all its locks), which lets a client pipeline
//! transactions.
//!
//! Limits: a request is bounded by the codec's [`resp_codec::Limits`] (and by Redis's pre-AUTH
//! limits while a password is required and not yet given); a connection stops being
//! read while its unsent output exceeds 8 MiB or it has 65,536 replies in flight (backpressure
//! rather than a disconnect: a single reply may still be larger). Protocol errors are answered
//! with Redis's error after the replies already due, then the connection closes. `DEBUG SLEEP`
//! blocks the IO thread that runs it (and only that thread) for the duration.
//!
//! `HELLO` and `INFO` report `redis_version` 7.0.15 — the Redis behaviour kvd implements and is
//! tested against, which clients use to pick features; kvd's own version is `kvd_version`.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::sync::Arc;
//!
//! use io_reactor::{IoPool, ReactorConfig, ServerHooks};
//! use worker_shard::{ShardConfig, WorkerPool};
//!
//! struct Hooks;
//! impl ServerHooks for Hooks {
//!     fn config_get(&self, _pattern: &str) -> Vec<(String, String)> { Vec::new() }
//!     fn config_set(&self, name: &str, _value: &str) -> Result<(), String> {
//!         Err(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"))
//!     }
//!     fn requirepass(&self) -> Option<String> { None }
//!     fn shutdown(&self) {}
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let workers = WorkerPool::spawn(2, ShardConfig::default())?;
//! let config = ReactorConfig { io_threads: 2, ..Default::default() };
//! let pool = IoPool::start(config, workers.handles().to_vec(), Arc::new(Hooks))?;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let mut client = TcpStream::connect(listener.local_addr()?)?;
//! let (stream, peer) = listener.accept()?;
//! pool.register(stream, peer);
//!
//! client.write_all(b"SET greeting hello\r\nGET greeting\r\nPING\r\n")?;
//! let mut reply = [0u8; 23];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"+OK\r\n$5\r\nhello\r\n+PONG\r\n");
//!
//! pool.shutdown();
//! workers.shutdown();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod acl;
mod acl_cmd;
mod client;
mod commands;
mod config;
mod conn;
mod event_loop;
mod help;
mod info;
mod limits;
mod local;
mod memory;
mod poller;
mod pubsub;
mod rename;
mod shared;
mod stats;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use worker_shard::{ShardExecutor, WorkerHandle};

pub use acl::Acl;
pub use config::ReactorConfig;
pub use limits::{ClientLimits, OutputLimit, is_loopback};

use shared::{Inbox, LoopHandle, Shared, Stats};

/// What the connection layer needs from the server around it: configuration and lifecycle.
/// Implemented by the `kvd` binary crate.
pub trait ServerHooks: Send + Sync + 'static {
    /// `CONFIG GET`: every `(name, value)` whose name matches the glob `pattern`.
    fn config_get(&self, pattern: &str) -> Vec<(String, String)>;
    /// `CONFIG SET name value`; an `Err` is the full Redis error text.
    fn config_set(&self, name: &str, value: &str) -> Result<(), String>;
    /// The password clients must `AUTH` with, if any (read on every `AUTH`/`HELLO`).
    fn requirepass(&self) -> Option<String>;
    /// `SHUTDOWN`: ask the server to stop (stop accepting, finish replies, exit).
    ///
    /// Called on an IO thread: it must not block on the IO pool (e.g. by calling
    /// [`IoPool::shutdown`] itself); signal the thread that owns the pool instead.
    fn shutdown(&self);
    /// Before `SHUTDOWN` stops the server: the final snapshot, `Some(true)` for `SHUTDOWN
    /// SAVE`, `Some(false)` for `NOSAVE`, `None` for the configured default. An `Err` (the full
    /// error text) cancels the shutdown, as Redis does when the save fails.
    fn prepare_shutdown(&self, save: Option<bool>) -> Result<(), String> {
        let _ = save;
        Ok(())
    }
    /// `SAVE`; an `Err` is the full Redis error text.
    fn save(&self) -> Result<(), String> {
        Err("ERR kvd was started without persistence".to_owned())
    }
    /// `SAVE` on an IO thread: a coordinator the thread drives like a spread command's (so
    /// it keeps serving the transactions the snapshot may wait for), or `None` to run
    /// [`Hooks::save`] in place. `Err` is the full Redis error text.
    fn save_command(&self) -> Option<Result<Box<dyn worker_shard::Coordinator>, String>> {
        None
    }
    /// `SHUTDOWN` on an IO thread when it must save first: a coordinator the thread drives
    /// like `SAVE`'s, which stops the server once the file is written and then asks for the
    /// connection to close ([`worker_shard::Coordinator::closes_connection`]). `None`: no
    /// save is needed, [`ServerHooks::prepare_shutdown`] and [`ServerHooks::shutdown`] run
    /// in place. `Err` is the full Redis error text.
    fn shutdown_command(
        &self,
        save: Option<bool>,
    ) -> Option<Result<Box<dyn worker_shard::Coordinator>, String>> {
        let _ = save;
        None
    }
    /// `BGSAVE [SCHEDULE]`: `Ok` is the status reply (`Background saving started`).
    fn bgsave(&self, schedule: bool) -> Result<String, String> {
        let _ = schedule;
        Err("ERR kvd was started without persistence".to_owned())
    }
    /// `BGREWRITEAOF`: `Ok` is the status reply (`Background append only file rewriting
    /// started`).
    fn bgrewriteaof(&self) -> Result<String, String> {
        Err("ERR kvd was started without persistence".to_owned())
    }
    /// The `MISCONF` text while writes are refused because the append-only log cannot be
    /// written (`None`: the snapshot's text applies). Called only while the flag of
    /// [`ServerHooks::writes_blocked`] is up.
    fn misconf_error(&self) -> Option<String> {
        None
    }
    /// `LASTSAVE`: unix seconds of the last successful save, if persistence is wired.
    fn lastsave(&self) -> Option<i64> {
        None
    }
    /// The `INFO persistence` fields, if persistence is wired.
    fn persistence_info(&self) -> Option<Vec<(&'static str, String)>> {
        None
    }
    /// A flag the server raises while writes must be refused with `MISCONF` (the last
    /// snapshot failed and save points are configured). Read once at start; the IO threads
    /// load it for every command, so it must be a plain atomic.
    fn writes_blocked(&self) -> Option<Arc<AtomicBool>> {
        None
    }
}

/// The running IO threads.
#[derive(Debug)]
pub struct IoPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
}

impl IoPool {
    /// Starts `config.io_threads` event loops that route commands to `workers`.
    pub fn start(
        config: ReactorConfig,
        workers: Vec<WorkerHandle>,
        hooks: Arc<dyn ServerHooks>,
    ) -> std::io::Result<IoPool> {
        Self::start_hosting(config, workers, Vec::new(), hooks)
    }

    /// Starts `config.io_threads` event loops that route commands to `workers`, loop `i`
    /// hosting `shards[i]` (made by [`worker_shard::WorkerPool::spawn_hosted`]): it runs that
    /// shard's commands inline in its own pass, and the batches other loops send it, instead of
    /// handing them to a worker thread. At most one shard per loop.
    pub fn start_hosting(
        config: ReactorConfig,
        workers: Vec<WorkerHandle>,
        shards: Vec<ShardExecutor>,
        hooks: Arc<dyn ServerHooks>,
    ) -> std::io::Result<IoPool> {
        let count = config.io_threads.max(1);
        if workers.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the io pool needs at least one worker",
            ));
        }
        if shards.len() > count {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "each io thread can host at most one shard",
            ));
        }
        let mut handles = Vec::with_capacity(count);
        let mut receivers = Vec::with_capacity(count);
        for _ in 0..count {
            let (tx, rx) = flume::unbounded();
            handles.push(Arc::new(LoopHandle {
                poller: poller::Poller::new()?,
                tx,
                woken: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
                kill_pending: AtomicBool::new(false),
            }));
            receivers.push(rx);
        }
        let renames = rename::Renames::new(&config.renamed_commands);
        let hub = Arc::new(pubsub::Hub::new(handles.clone()));
        let hooks_writes_blocked = hooks.writes_blocked();
        let shared = Arc::new(Shared {
            renames,
            requirepass_seen: Mutex::new(None),
            config,
            workers,
            hooks,
            stats: Stats::default(),
            clients: Mutex::new(Default::default()),
            next_client_id: AtomicU64::new(1),
            loops: handles.clone(),
            started: Instant::now(),
            started_unix: shared::unix_now().0,
            shutting_down: AtomicBool::new(false),
            loops_flushed: AtomicUsize::new(0),
            returned_shards: Mutex::new(Vec::new()),
            ops_sample: Mutex::new(None),
            memory_peak: AtomicU64::new(0),
            command_stats: Default::default(),
            pubsub: Arc::clone(&hub),
            writes_blocked: hooks_writes_blocked,
        });
        shared.sync_requirepass();
        // Keyspace notifications from every shard reach subscribers through the hub.
        shared.workers[0].set_event_sink(hub);
        let mut threads = Vec::with_capacity(count);
        let mut shards = shards.into_iter();
        for (index, (handle, rx)) in handles.into_iter().zip(receivers).enumerate() {
            let hosted = shards.next();
            if let Some(shard) = &hosted {
                let waker = Arc::clone(&handle);
                shard.set_waker(&shared.workers[shard.shard()], move || waker.wake());
            }
            let ev = event_loop::EventLoop::new(index, shared.clone(), handle, rx, hosted);
            let spawned = std::thread::Builder::new()
                .name(format!("kvd-io-{index}"))
                .spawn(move || ev.run());
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    let pool = IoPool {
                        shared,
                        threads,
                        next: AtomicUsize::new(0),
                    };
                    pool.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(IoPool {
            shared,
            threads,
            next: AtomicUsize::new(0),
        })
    }

    /// Hands a freshly accepted connection to one of the IO threads.
    ///
    /// Threads are chosen round-robin. After [`IoPool::shutdown`] has begun the connection is
    /// dropped (closed).
    pub fn register(&self, stream: TcpStream, peer: SocketAddr) {
        if self.shared.shutting_down.load(Ordering::Acquire) {
            Stats::add(&self.shared.stats.rejected_connections, 1);
            return;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.shared.loops.len();
        let id = self.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        self.shared.loops[i].send(Inbox::Connection(stream, peer, id));
    }

    /// Number of connected clients over all IO threads.
    pub fn client_count(&self) -> usize {
        Stats::load(&self.shared.stats.connected_clients) as usize
    }

    /// Stops the loops after flushing replies already computed, and joins the threads.
    ///
    /// New registrations are refused from the moment this is called; connections stop being
    /// read; replies already due are written for at most two seconds; then every connection is
    /// closed and the threads are joined.
    pub fn shutdown(self) {
        drop(self.shutdown_returning_shards());
    }

    /// [`IoPool::shutdown`], returning the shards the loops hosted (with what other threads
    /// queued for them still in their inboxes), e.g. for [`worker_shard::WorkerPool::adopt`]
    /// so a final save can still reach every shard.
    pub fn shutdown_returning_shards(self) -> Vec<ShardExecutor> {
        self.shared.shutting_down.store(true, Ordering::Release);
        for handle in &self.shared.loops {
            handle.wake();
        }
        for t in self.threads {
            let _ = t.join();
        }
        std::mem::take(&mut *shared::lock(&self.shared.returned_shards))
    }
}
