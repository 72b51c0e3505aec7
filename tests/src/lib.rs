//! Helpers for kvd's end-to-end tests: start a server in-process, talk raw RESP to it.
#![deny(missing_docs)]
