//! Settings of the IO layer.

/// Settings of the IO layer.
///
/// Build it with struct update syntax (`ReactorConfig { io_threads: 4, ..Default::default() }`)
/// so that fields added later do not break callers.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Number of IO threads (event loops).
    pub io_threads: usize,
    /// Number of databases (`SELECT` accepts `0..databases`).
    pub databases: usize,
    /// Protocol limits for parsing.
    pub limits: resp_codec::Limits,
}

impl Default for ReactorConfig {
    /// One IO thread, Redis's 16 databases and Redis's protocol limits.
    fn default() -> Self {
        ReactorConfig {
            io_threads: 1,
            databases: 16,
            limits: resp_codec::Limits::default(),
        }
    }
}
