//! The kvd server: wires the listener, IO reactor and shard workers together from a configuration.
//!
//! (Docs to be completed: `Config`, `Server::start`, example.)
#![deny(missing_docs)]
