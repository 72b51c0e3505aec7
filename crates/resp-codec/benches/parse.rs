//! Parse throughput of a pipeline of SET/GET commands (filled in by the codec work).
fn main() {}
