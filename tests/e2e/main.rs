//! End-to-end tests of kvd over TCP, one module per area.
//!
//! Every expected value here is Redis 7.0's exact reply: the suite passes against a real
//! `redis-server` (`KVD_TEST_ADDR=127.0.0.1:PORT cargo test -p kvd-tests`), and CI runs it
//! against kvd started in-process. See `kvd_tests` for the harness.

mod acl;
mod aof;
mod bigmget;
mod blocking;
mod concurrency;
mod connection;
mod errors;
mod eviction;
mod expiry;
mod hashes;
mod keys;
mod limits;
mod lists;
mod persistence;
mod pipeline;
mod pubsub;
mod robustness;
mod server;
mod sets;
mod snapshots;
mod strings;
mod tools;
mod transactions;
mod zsets;
