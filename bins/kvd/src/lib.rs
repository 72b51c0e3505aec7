//! The kvd server: wires the listeners, IO threads and shard workers together from a
//! configuration.
//!
//! kvd is a Redis-compatible in-memory key-value server built shared-nothing: each shard
//! worker alone owns one partition of the keyspace, so no lock guards the data. This crate only
//! wires the other crates and holds the configuration:
//!
//! - [`Config`]: every setting, from `kvd.toml` (see `kvd.example.toml`), a redis.conf-style
//!   file, or the command line ([`config_from_args`]), each by its Redis name too.
//! - [`Server::start`]: binds the `SO_REUSEPORT` listeners (`reuseport-listener`), starts the
//!   shard workers (`worker-shard`) and the IO threads (`io-reactor`), and returns a
//!   [`ServerHandle`] once connections are accepted.
//! - [`ServerHandle`]: the running server's address, [`ServerHandle::wait`] (until `SHUTDOWN`)
//!   and [`ServerHandle::shutdown`], which stops accepting, lets the IO threads flush replies
//!   already computed, then stops the workers.
//!
//! `CONFIG GET`/`CONFIG SET` answer from the same settings table as the files and flags, with
//! Redis's names, values and error texts.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//!
//! # fn main() -> anyhow::Result<()> {
//! // A server on a free port of 127.0.0.1, as the end-to-end tests start it.
//! let server = kvd::Server::start(kvd::Config::for_tests())?;
//! let mut client = TcpStream::connect(server.local_addr())?;
//! client.write_all(b"PING\r\n")?;
//! let mut reply = [0u8; 7];
//! client.read_exact(&mut reply)?;
//! assert_eq!(&reply, b"+PONG\r\n");
//! server.shutdown();
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cli;
mod config;
mod hooks;
mod server;
mod settings;

pub use cli::config_from_args;
pub use config::{Config, ThreadLayout};
pub use server::{Server, ServerHandle};
pub use worker_shard::{AofConfig, AppendFsync};
