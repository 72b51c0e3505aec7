//! `cargo xtask`: kvd's task runner.
fn main() {}
