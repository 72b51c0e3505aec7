//! Settings of the IO layer.
use std::sync::Arc;

use crate::acl::Acl;
use crate::limits::ClientLimits;

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
    /// Protocol limits for parsing (`proto-max-bulk-len` comes from `client_limits`).
    pub limits: resp_codec::Limits,
    /// Live client limits (`maxclients`, `timeout`, buffer limits, protected mode), shared
    /// with the settings that change them.
    pub client_limits: Arc<ClientLimits>,
    /// ACL users (`requirepass` is the `default` user's password), shared with the settings.
    pub acl: Arc<Acl>,
    /// `rename-command OLD NEW` pairs applied at start; an empty `NEW` disables `OLD`.
    pub renamed_commands: Vec<(String, String)>,
}

impl Default for ReactorConfig {
    /// One IO thread, Redis's 16 databases and Redis's protocol limits.
    fn default() -> Self {
        ReactorConfig {
            io_threads: 1,
            databases: 16,
            limits: resp_codec::Limits::default(),
            client_limits: Arc::default(),
            acl: Arc::default(),
            renamed_commands: Vec::new(),
        }
    }
}
