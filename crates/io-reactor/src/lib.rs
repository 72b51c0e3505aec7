//! Event loops (IO handlers) that own client connections.
//!
//! (Crate docs to be completed: layout, the loop pass, batching, a runnable example.)
#![deny(missing_docs)]

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use worker_shard::{WorkerHandle};

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
    fn shutdown(&self);
}

/// Settings of the IO layer.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Number of IO threads (event loops).
    pub io_threads: usize,
    /// Number of databases (`SELECT` accepts `0..databases`).
    pub databases: usize,
    /// Protocol limits for parsing.
    pub limits: resp_codec::Limits,
}

/// The running IO threads.
#[derive(Debug)]
pub struct IoPool {
    _private: (),
}

impl IoPool {
    /// Starts `config.io_threads` event loops that route commands to `workers`.
    pub fn start(
        config: ReactorConfig,
        workers: Vec<WorkerHandle>,
        hooks: Arc<dyn ServerHooks>,
    ) -> std::io::Result<IoPool> {
        let _ = (config, workers, hooks);
        unimplemented!()
    }

    /// Hands a freshly accepted connection to one of the IO threads.
    pub fn register(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = (stream, peer);
        unimplemented!()
    }

    /// Stops the loops after flushing replies already computed, and joins the threads.
    pub fn shutdown(self) {}
}
