//! The `kvd` daemon.
fn main() {}
