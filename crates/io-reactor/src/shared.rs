//! State shared by every IO thread: counters for `INFO`, the client registry for `CLIENT LIST`
//! and `CLIENT KILL`, and the handles that wake each loop.
//!
//! Nothing here is touched per command: counters are added once per loop pass, the registry
//! lock is taken only on connect, disconnect, `CLIENT SETNAME`/`SETINFO` and by the `CLIENT`
//! commands that read it.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::poller::Poller;
use worker_shard::{ReplyBatch, ReplySink, WorkerHandle};

use crate::ServerHooks;
use crate::config::ReactorConfig;

/// Counters shared by all IO threads, read by `INFO`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) connected_clients: AtomicU64,
    pub(crate) total_connections: AtomicU64,
    pub(crate) rejected_connections: AtomicU64,
    /// Connections waiting in a blocking command (`blocked_clients`).
    pub(crate) blocked_clients: AtomicU64,
    pub(crate) total_commands: AtomicU64,
    pub(crate) net_input_bytes: AtomicU64,
    pub(crate) net_output_bytes: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn load(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Packs a short lowercase command name into a word, so the last command of a connection can be
/// published with one relaxed store per pass.
pub(crate) fn pack_name(name: &[u8]) -> [u64; 3] {
    let mut raw = [0u8; 24];
    for (dst, src) in raw.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    [word(0), word(1), word(2)]
}

/// What `CLIENT LIST` shows about one connection. Owned jointly by the connection's loop and
/// the registry; fields that change after connect are atomics or behind the registry lock.
#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub(crate) id: u64,
    pub(crate) addr: SocketAddr,
    pub(crate) laddr: Option<SocketAddr>,
    pub(crate) fd: i32,
    pub(crate) created: Instant,
    pub(crate) loop_index: usize,
    /// Milliseconds since the pool started, at the connection's last command.
    pub(crate) last_active_ms: AtomicU64,
    pub(crate) db: AtomicU16,
    pub(crate) resp: AtomicU8,
    pub(crate) last_cmd: [AtomicU64; 3],
    pub(crate) kill: AtomicBool,
    /// Set by `ACL SETUSER` when the client's user lost channel permissions: its loop checks
    /// the client's subscriptions and closes it if one is no longer allowed, as Redis does.
    pub(crate) recheck_channels: AtomicBool,
    /// The connection waits in a blocking command (`CLIENT LIST` flag `b`, `CLIENT UNBLOCK`).
    pub(crate) blocked: AtomicBool,
    /// Set by `CLIENT UNBLOCK`: 1 to time out, 2 to fail the blocking command.
    pub(crate) unblock: AtomicU8,
    /// Set once the connection authenticated while a password was required.
    pub(crate) authenticated: AtomicBool,
    /// Name, library name and version (`CLIENT SETNAME`/`SETINFO`): behind the registry lock.
    pub(crate) names: Mutex<ClientNames>,
    pub(crate) no_evict: AtomicBool,
    pub(crate) no_touch: AtomicBool,
    /// Buffer sizes for `CLIENT LIST`, published once per pass by the owning loop.
    pub(crate) buffers: BufferSizes,
    /// Channels, patterns and shard channels subscribed (`sub=`, `psub=`, `ssub=`).
    pub(crate) subs: [AtomicU32; 3],
}

/// Sizes of a connection's buffers as last published by its loop.
#[derive(Debug, Default)]
pub(crate) struct BufferSizes {
    pub(crate) query: AtomicU64,
    pub(crate) query_free: AtomicU64,
    pub(crate) output: AtomicU64,
    pub(crate) writing: AtomicBool,
}

/// Text fields of a client, set rarely.
#[derive(Debug, Default, Clone)]
pub(crate) struct ClientNames {
    /// The ACL user the client is authenticated as (`CLIENT LIST`'s `user=`).
    pub(crate) user: String,
    pub(crate) name: String,
    pub(crate) lib_name: String,
    pub(crate) lib_ver: String,
}

impl ClientEntry {
    /// Whether the client has a subscription (Redis's `CLIENT_PUBSUB`, client type `pubsub`).
    pub(crate) fn is_pubsub(&self) -> bool {
        self.subs.iter().any(|c| c.load(Ordering::Relaxed) > 0)
    }

    pub(crate) fn last_cmd(&self) -> String {
        let mut raw = [0u8; 24];
        for (i, w) in self.last_cmd.iter().enumerate() {
            raw[i * 8..i * 8 + 8].copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        if end == 0 {
            return "NULL".into();
        }
        String::from_utf8_lossy(&raw[..end]).into_owned()
    }

    pub(crate) fn set_last_cmd(&self, packed: [u64; 3]) {
        for (w, v) in self.last_cmd.iter().zip(packed) {
            w.store(v, Ordering::Relaxed);
        }
    }

    pub(crate) fn names(&self) -> ClientNames {
        lock(&self.names).clone()
    }
}

/// Takes a lock even if a panicking thread poisoned it: the data behind our locks stays
/// consistent at every await-free step, so the poison flag carries no information.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A message to an event loop.
#[derive(Debug)]
pub(crate) enum Inbox {
    /// A freshly accepted connection and its client id (given at registration, so ids follow
    /// the order connections were accepted in, whichever loop gets them).
    Connection(std::net::TcpStream, SocketAddr, u64),
    /// Replies from a worker.
    Replies(ReplyBatch),
    /// Pub/Sub messages for this loop's subscribers (see `pubsub`).
    Messages(Arc<Vec<crate::pubsub::Published>>),
}

/// How other threads reach one event loop.
#[derive(Debug)]
pub(crate) struct LoopHandle {
    pub(crate) poller: Poller,
    pub(crate) tx: flume::Sender<Inbox>,
    /// Set while a wake-up is outstanding, so a burst of deliveries costs one `notify`.
    pub(crate) woken: AtomicBool,
    /// Set by the loop just before it blocks in `epoll_wait` (and cleared when it returns), so
    /// senders skip the `notify` syscall, and the loop its extra wake-up, whenever the loop is
    /// busy and will look at its inbox anyway before sleeping again.
    pub(crate) sleeping: AtomicBool,
    /// Set when some connection of this loop was flagged by `CLIENT KILL` or `CLIENT UNBLOCK`.
    pub(crate) kill_pending: AtomicBool,
}

impl LoopHandle {
    pub(crate) fn wake(&self) {
        // Pairs with the fence in `EventLoop::run`: either the loop sees the message queued
        // before this point, or this load sees that it is (about to be) asleep.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) && !self.woken.swap(true, Ordering::AcqRel) {
            // A failed notify means the poller is gone, i.e. the loop already stopped.
            let _ = self.poller.notify();
        }
    }

    pub(crate) fn send(&self, msg: Inbox) -> bool {
        let ok = self.tx.send(msg).is_ok();
        if ok {
            self.wake();
        }
        ok
    }
}

/// The [`ReplySink`] workers deliver through: a channel send plus a coalesced wake-up.
#[derive(Debug)]
pub(crate) struct LoopSink(pub(crate) Arc<LoopHandle>);

impl ReplySink for LoopSink {
    fn deliver(&self, batch: ReplyBatch) {
        self.0.send(Inbox::Replies(batch));
    }
}

/// Everything the loops share.
pub(crate) struct Shared {
    pub(crate) config: ReactorConfig,
    /// `rename-command`s in effect.
    pub(crate) renames: crate::rename::Renames,
    /// The `requirepass` last copied into the `default` user (see `sync_requirepass`).
    pub(crate) requirepass_seen: Mutex<Option<String>>,
    pub(crate) workers: Vec<WorkerHandle>,
    pub(crate) hooks: Arc<dyn ServerHooks>,
    pub(crate) stats: Stats,
    pub(crate) clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
    pub(crate) next_client_id: AtomicU64,
    pub(crate) loops: Vec<Arc<LoopHandle>>,
    pub(crate) started: Instant,
    pub(crate) started_unix: u64,
    pub(crate) shutting_down: AtomicBool,
    /// Loops that have flushed their connections during shutdown; a loop hosting a shard keeps
    /// serving it until every loop has, since their last replies may need it.
    pub(crate) loops_flushed: AtomicUsize,
    /// Hosted shards handed back by loops that stopped.
    pub(crate) returned_shards: Mutex<Vec<worker_shard::ShardExecutor>>,
    /// The last `instantaneous_ops_per_sec` sample: when, the command count then, the rate.
    pub(crate) ops_sample: Mutex<Option<(Instant, u64, u64)>>,
    /// Highest `used_memory` `INFO memory` has reported.
    pub(crate) memory_peak: AtomicU64,
    /// Local and spread commands, for `INFO commandstats`.
    pub(crate) command_stats: crate::stats::CommandStats,
    /// The Pub/Sub registry shared by every loop.
    pub(crate) pubsub: Arc<crate::pubsub::Hub>,
    /// Raised while writes get `MISCONF` (see `ServerHooks::writes_blocked`).
    pub(crate) writes_blocked: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("workers", &self.workers.len())
            .field("loops", &self.loops.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Makes the `default` user's password follow [`ServerHooks::requirepass`] when it changed
    /// since the last look (called on connect and on `AUTH`/`HELLO`/`RESET`, never per
    /// command), so a server that only implements `requirepass` behaves as before ACLs.
    pub(crate) fn sync_requirepass(&self) {
        let current = self.hooks.requirepass();
        let mut seen = lock(&self.requirepass_seen);
        if *seen != current {
            self.config.acl.set_default_password(current.as_deref());
            *seen = current;
        }
    }

    /// Whether the `default` user needs no password (what protected mode looks at).
    pub(crate) fn default_user_nopass(&self) -> bool {
        self.config.acl.default_user().nopass()
    }
}

pub(crate) fn unix_now() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}
