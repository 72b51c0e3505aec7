//! Event loops (IO handlers) that own client connections.
#![deny(missing_docs)]

mod client;
mod commands;
mod config;
mod conn;
mod event_loop;
mod help;
mod info;
mod local;
mod shared;
mod stats;
mod sys;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use worker_shard::WorkerHandle;

pub use config::ReactorConfig;

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
        let count = config.io_threads.max(1);
        if workers.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the io pool needs at least one worker",
            ));
        }
        let mut handles = Vec::with_capacity(count);
        let mut receivers = Vec::with_capacity(count);
        for _ in 0..count {
            let (tx, rx) = flume::unbounded();
            handles.push(Arc::new(LoopHandle {
                poller: polling::Poller::new()?,
                tx,
                woken: AtomicBool::new(false),
                kill_pending: AtomicBool::new(false),
            }));
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
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
            memory_peak: AtomicU64::new(0),
            command_stats: Default::default(),
        });
        let mut threads = Vec::with_capacity(count);
        for (index, (handle, rx)) in handles.into_iter().zip(receivers).enumerate() {
            let ev = event_loop::EventLoop::new(index, shared.clone(), handle, rx);
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
        self.shared.loops[i].send(Inbox::Connection(stream, peer));
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
        self.shared.shutting_down.store(true, Ordering::Release);
        for handle in &self.shared.loops {
            handle.wake();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}
