//! Several TCP listeners on one address with `SO_REUSEPORT`.
//!
//! (Crate docs to be completed: binding, port 0, accept threads, shutdown, example.)
#![deny(missing_docs)]
