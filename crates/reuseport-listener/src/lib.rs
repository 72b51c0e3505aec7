//! Several TCP listeners bound to one address with `SO_REUSEPORT`, each accepting on its own
//! thread.
//!
//! One accept thread can become the bottleneck of a server that sees many new connections.
//! With `SO_REUSEPORT` several sockets bind the same address and the kernel spreads incoming
//! connections over them, so several threads accept in parallel without sharing a lock. This
//! crate only binds and accepts: what happens to a connection is up to the handler the caller
//! supplies (kvd's hands it to an IO thread).
//!
//! # Types
//!
//! - [`ListenerSet`]: the bound listeners. [`ListenerSet::bind`] takes an IPv4 or IPv6 address
//!   and a count; port 0 picks a free port that all listeners share
//!   ([`ListenerSet::local_addr`] tells which). A port already listened on is
//!   [`ListenError::AddrInUse`], even when the other listener also uses `SO_REUSEPORT`.
//! - [`AcceptLoops`]: the running accept threads (`kvd-accept-0`, `kvd-accept-1`...), started by
//!   [`ListenerSet::serve`]. Each waits on its listener with an epoll-backed poller, accepts
//!   until `WouldBlock`, and passes each connection, already non-blocking, to the handler.
//!   Accept errors never end a thread: transient ones such as running out of file descriptors
//!   (`EMFILE`) are logged and retried after a short pause. [`AcceptLoops::shutdown`] wakes
//!   every thread, joins it and closes the listeners.
//! - [`ListenError`]: why binding failed.
//!
//! The listen backlog is [`BACKLOG`] (511, Redis's `tcp-backlog` default).
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use reuseport_listener::ListenerSet;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Two listeners on one free port of the loopback interface.
//! let listeners = ListenerSet::bind("127.0.0.1:0".parse()?, 2)?;
//! let addr = listeners.local_addr();
//!
//! // A handler that greets each client; a server would hand the stream to an IO thread.
//! let loops = listeners.serve(|mut stream, _peer| {
//!     stream.set_nonblocking(false).unwrap();
//!     stream.write_all(b"+hello\r\n").unwrap();
//! })?;
//!
//! let mut client = TcpStream::connect(addr)?;
//! let mut greeting = String::new();
//! client.read_to_string(&mut greeting)?;
//! assert_eq!(greeting, "+hello\r\n");
//!
//! loops.shutdown();
//! assert!(TcpStream::connect(addr).is_err());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod listener;
mod registration;

pub use error::ListenError;
pub use listener::{AcceptLoops, BACKLOG, ListenerSet};
