//! A minimal kvd: real shard workers behind an IO pool, on `127.0.0.1:PORT` (default 7379).
//!
//! `cargo run -p io-reactor --example serve -- 7379`, then `redis-cli -p 7379`.
use std::net::TcpListener;
use std::sync::Arc;

use io_reactor::{IoPool, ReactorConfig, ServerHooks};
use worker_shard::{ShardConfig, WorkerPool};

#[derive(Debug)]
struct Hooks;

impl ServerHooks for Hooks {
    fn config_get(&self, _pattern: &str) -> Vec<(String, String)> {
        Vec::new()
    }
    fn config_set(&self, name: &str, _value: &str) -> Result<(), String> {
        Err(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ))
    }
    fn requirepass(&self) -> Option<String> {
        None
    }
    fn shutdown(&self) {
        std::process::exit(0);
    }
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7379);
    let workers = WorkerPool::spawn(2, ShardConfig::default())?;
    let config = ReactorConfig {
        io_threads: 2,
        ..Default::default()
    };
    let pool = IoPool::start(config, workers.handles().to_vec(), Arc::new(Hooks))?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    for stream in listener.incoming() {
        let stream = stream?;
        let peer = stream.peer_addr()?;
        pool.register(stream, peer);
    }
    pool.shutdown();
    workers.shutdown();
    Ok(())
}
