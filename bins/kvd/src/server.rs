//! Starting the threads in order and stopping them in the reverse order.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use io_reactor::{IoPool, ReactorConfig, ServerHooks};
use reuseport_listener::{AcceptLoops, ListenerSet};
use worker_shard::{Persistence, ShardConfig, ShardExecutor, WorkerPool};

use crate::hooks::KvdHooks;
use crate::{Config, ThreadLayout};

/// Entry point: `Server::start(config)` runs a kvd in the current process.
#[derive(Debug)]
pub struct Server {
    _private: (),
}

/// A running server. Dropping it shuts the server down too.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    lifecycle: Arc<Lifecycle>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

/// Stop requested / stopped flags, shared by the handle, the hooks and the supervisor.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    stop_requested: bool,
    stopped: bool,
    /// A thread panicked while stopping, so some work may not have been flushed.
    panicked: bool,
}

impl Lifecycle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the supervisor to stop the server; returns at once, so an IO thread running
    /// `SHUTDOWN` can call it without waiting on its own teardown.
    pub(crate) fn request_stop(&self) {
        self.state().stop_requested = true;
        self.changed.notify_all();
    }

    #[cfg(test)]
    pub(crate) fn stop_requested(&self) -> bool {
        self.state().stop_requested
    }

    fn wait_until(&self, done: impl Fn(&State) -> bool) {
        let mut state = self.state();
        while !done(&state) {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn mark_stopped(&self, panicked: bool) {
        let mut state = self.state();
        state.stopped = true;
        state.panicked |= panicked;
        drop(state);
        self.changed.notify_all();
    }
}

/// Marks the server stopped when the supervisor ends, even by a panic, so `wait()` returns.
struct StoppedGuard(Arc<Lifecycle>);

impl Drop for StoppedGuard {
    fn drop(&mut self) {
        self.0.mark_stopped(std::thread::panicking());
    }
}

impl Server {
    /// Binds the listeners, starts the workers, the IO threads and the accept threads, and
    /// returns once the server accepts connections.
    ///
    /// Listeners are bound first so a taken port fails before any thread starts.
    pub fn start(config: Config) -> anyhow::Result<ServerHandle> {
        config.validate()?;
        let listeners = ListenerSet::bind(config.addr(), config.listeners)?;
        let local_addr = listeners.local_addr();
        // In the shared layout IO thread `i` hosts shard `i`; shards beyond the IO threads (and
        // every shard in the separate layout) get worker threads.
        let hosted = match config.thread_layout {
            ThreadLayout::Shared => config.io_threads.min(config.workers),
            ThreadLayout::Separate => 0,
        };
        let (workers, mut shards) = WorkerPool::spawn_hosted(
            config.workers,
            hosted,
            ShardConfig {
                databases: config.databases,
                hz: config.hz,
                notify: config.notify_keyspace_events,
                encoding: config.encoding,
                eviction: config.eviction,
            },
        )
        .context("cannot start the shard workers")?;

        let persistence = Arc::new(Persistence::new(
            workers.handles().to_vec(),
            config.databases,
            crate::hooks::persist_config(&config),
        ));
        persistence.set_aof_config(config.aof.clone());
        let started = std::time::Instant::now();
        // Loading runs a task on every shard; hosted shards have no loop yet, so helpers run them.
        match serve_meanwhile(&mut shards, || persistence.load()) {
            Ok(Some(summary)) => tracing::info!(
                keys = summary.keys_loaded,
                expired = summary.keys_expired,
                elapsed = ?started.elapsed(),
                "DB loaded from disk"
            ),
            Ok(None) => {}
            Err(err) => {
                workers.shutdown();
                let path = persistence.config().path();
                return Err(err).with_context(|| format!("cannot load {}", path.display()));
            }
        }

        let lifecycle = Arc::new(Lifecycle::default());
        let client_limits = Arc::new(io_reactor::ClientLimits::default());
        client_limits.treat_as_remote(config.treat_as_remote);
        let acl = Arc::new(io_reactor::Acl::new());
        acl.set_pubsub_default(config.acl_pubsub_allchannels);
        if let Some(path) = &config.aclfile {
            acl.set_aclfile(Some(path.clone()));
            if let Err(e) = acl.load_file() {
                workers.shutdown();
                anyhow::bail!("{e}");
            }
        }
        for line in &config.users {
            if let Err(e) = acl.define_user(line) {
                workers.shutdown();
                anyhow::bail!("error in user declaration 'user {line}': {e}");
            }
        }
        if config.requirepass.is_some() {
            acl.set_default_password(config.requirepass.as_deref());
        }
        let live = Config {
            port: local_addr.port(),
            ..config.clone()
        };
        let hooks: Arc<dyn ServerHooks> = Arc::new(
            KvdHooks::new(
                live,
                Arc::clone(&lifecycle),
                workers.handles().to_vec(),
                Arc::clone(&client_limits),
                Arc::clone(&acl),
            )
            .with_persistence(Arc::clone(&persistence)),
        );
        let reactor = ReactorConfig {
            io_threads: config.io_threads,
            databases: config.databases,
            limits: resp_codec::Limits::default(),
            client_limits,
            acl,
            renamed_commands: config.rename_commands.clone(),
        };
        let io = match IoPool::start_hosting(reactor, workers.handles().to_vec(), shards, hooks) {
            Ok(io) => Arc::new(io),
            Err(err) => {
                workers.shutdown();
                return Err(err).context("cannot start the IO threads");
            }
        };

        let register = Arc::clone(&io);
        let accepting = match listeners.serve(move |stream, peer| {
            tracing::debug!(%peer, "accepted a connection");
            register.register(stream, peer);
        }) {
            Ok(accepting) => accepting,
            Err(err) => {
                stop_io(io);
                workers.shutdown();
                return Err(err.into());
            }
        };

        // The `save` schedule: checked ten times a second, like Redis's serverCron at hz 10.
        let cron_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cron = {
            let (p, stop) = (Arc::clone(&persistence), Arc::clone(&cron_stop));
            std::thread::Builder::new()
                .name("kvd-save-cron".to_owned())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        p.cron();
                    }
                })
                .context("cannot start the save schedule thread")?
        };

        let supervised = Arc::clone(&lifecycle);
        let supervisor = std::thread::Builder::new()
            .name("kvd-supervisor".to_owned())
            .spawn(move || {
                let _stopped = StoppedGuard(Arc::clone(&supervised));
                supervised.wait_until(|s| s.stop_requested);
                tracing::info!("shutting down");
                cron_stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = cron.join();
                stop(accepting, io, workers, &persistence);
                tracing::info!("stopped");
            })
            .context("cannot start the supervisor thread")?;

        Ok(ServerHandle {
            local_addr,
            lifecycle,
            supervisor: Mutex::new(Some(supervisor)),
        })
    }
}

/// Runs `f` while helper threads drive `shards` (hosted shards whose IO threads are not
/// running), for work that needs every shard.
fn serve_meanwhile<R>(shards: &mut [ShardExecutor], f: impl FnOnce() -> R) -> R {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for shard in shards.iter_mut() {
            let done = &done;
            scope.spawn(move || {
                while !done.load(Ordering::Acquire) {
                    shard.serve_once(Duration::from_millis(5));
                }
            });
        }
        let result = f();
        done.store(true, Ordering::Release);
        result
    })
}

/// The shutdown order: no new connections, then the IO threads flush the replies already
/// computed and exit, then the workers finish what they received and exit.
fn stop(
    accepting: AcceptLoops,
    io: Arc<IoPool>,
    mut workers: WorkerPool,
    persistence: &Persistence,
) {
    accepting.shutdown();
    // Shards the IO threads hosted get worker threads, so the save below reaches every shard.
    for shard in stop_io(io) {
        if let Err(err) = workers.adopt(shard) {
            tracing::error!("cannot start a thread for a hosted shard at shutdown: {err}");
        }
    }
    // A stop by signal or by `ServerHandle::shutdown` saves as `SHUTDOWN` without options
    // does (when save points are configured); after a `SHUTDOWN` this does nothing.
    if let Err(err) = persistence.save_on_shutdown(None) {
        tracing::error!("error saving the DB at shutdown: {err}");
    }
    workers.shutdown();
    // After the last worker pass: what the log still buffers is written and fsynced.
    persistence.close_aof();
}

fn stop_io(io: Arc<IoPool>) -> Vec<ShardExecutor> {
    // The accept threads held the only other reference and have been joined.
    match Arc::try_unwrap(io) {
        Ok(io) => io.shutdown_returning_shards(),
        Err(_) => {
            tracing::error!("IO threads still referenced at shutdown; leaving them running");
            Vec::new()
        }
    }
}

impl ServerHandle {
    /// The address the server listens on, with the real port when 0 was configured.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server (like `SHUTDOWN`) and returns once every thread has exited. Errors
    /// are logged and reported by [`ServerHandle::wait`].
    pub fn shutdown(&self) {
        self.lifecycle.request_stop();
        if let Err(err) = self.wait() {
            tracing::error!("{err:#}");
        }
    }

    /// Blocks until the server has stopped, after a `SHUTDOWN` command or a `shutdown()` call
    /// from another thread. An error means a thread panicked while stopping.
    pub fn wait(&self) -> anyhow::Result<()> {
        self.lifecycle.wait_until(|s| s.stopped);
        let supervisor = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(supervisor) = supervisor {
            // The thread has marked the server stopped; this join only reaps it.
            let _ = supervisor.join();
        }
        if self.lifecycle.state().panicked {
            anyhow::bail!("a kvd thread panicked while stopping");
        }
        Ok(())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
