//! Client limits that `CONFIG SET` changes while the server runs: `maxclients`, `timeout`,
//! `tcp-keepalive`, `client-query-buffer-limit`, `proto-max-bulk-len`,
//! `client-output-buffer-limit` and `protected-mode`.
//!
//! Every value is an atomic the loops read with relaxed loads: at accept, once per read, once
//! per write, and in the loop's once-a-tick sweep (idle clients, soft output limits). Nothing
//! here is read per command.
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One class's `client-output-buffer-limit`: hard bytes, soft bytes, soft seconds (0 = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    /// A client whose pending output reaches this many bytes is closed at once.
    pub hard: u64,
    /// A client whose pending output stays at or above this many bytes for `soft_secs`
    /// seconds is closed.
    pub soft: u64,
    /// How long the soft limit may be exceeded.
    pub soft_secs: u64,
}

/// The live client limits shared by the server's settings and every IO thread.
///
/// Defaults are Redis 7.0's: `maxclients 10000`, `timeout 0`, `tcp-keepalive 300`,
/// `client-query-buffer-limit 1gb`, `proto-max-bulk-len 512mb`,
/// `client-output-buffer-limit normal 0 0 0` (unlimited), `protected-mode yes`.
#[derive(Debug)]
pub struct ClientLimits {
    maxclients: AtomicU64,
    timeout_secs: AtomicU64,
    tcp_keepalive_secs: AtomicU64,
    query_buffer_limit: AtomicU64,
    proto_max_bulk_len: AtomicU64,
    /// Bumped when a parser limit changes, so loops rebuild their parsers lazily.
    parser_epoch: AtomicU64,
    normal_hard: AtomicU64,
    normal_soft: AtomicU64,
    normal_soft_secs: AtomicU64,
    pubsub_hard: AtomicU64,
    pubsub_soft: AtomicU64,
    pubsub_soft_secs: AtomicU64,
    protected_mode: AtomicBool,
    /// Tests only: an address protected mode treats as remote even though it is loopback.
    treat_as_remote: std::sync::Mutex<Option<IpAddr>>,
    treat_as_remote_set: AtomicBool,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            maxclients: AtomicU64::new(10_000),
            timeout_secs: AtomicU64::new(0),
            tcp_keepalive_secs: AtomicU64::new(300),
            query_buffer_limit: AtomicU64::new(1024 * 1024 * 1024),
            proto_max_bulk_len: AtomicU64::new(512 * 1024 * 1024),
            parser_epoch: AtomicU64::new(0),
            normal_hard: AtomicU64::new(0),
            normal_soft: AtomicU64::new(0),
            normal_soft_secs: AtomicU64::new(0),
            pubsub_hard: AtomicU64::new(32 * 1024 * 1024),
            pubsub_soft: AtomicU64::new(8 * 1024 * 1024),
            pubsub_soft_secs: AtomicU64::new(60),
            protected_mode: AtomicBool::new(true),
            treat_as_remote: std::sync::Mutex::new(None),
            treat_as_remote_set: AtomicBool::new(false),
        }
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn store(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

impl ClientLimits {
    /// `maxclients`: connections beyond it get `-ERR max number of clients reached`.
    pub fn maxclients(&self) -> u64 {
        load(&self.maxclients)
    }
    /// Sets `maxclients`.
    pub fn set_maxclients(&self, n: u64) {
        store(&self.maxclients, n);
    }
    /// `timeout`: seconds a client may stay idle (0 = forever).
    pub fn timeout_secs(&self) -> u64 {
        load(&self.timeout_secs)
    }
    /// Sets `timeout`.
    pub fn set_timeout_secs(&self, n: u64) {
        store(&self.timeout_secs, n);
    }
    /// `tcp-keepalive`: seconds between TCP keepalive probes on new connections (0 = off).
    pub fn tcp_keepalive_secs(&self) -> u64 {
        load(&self.tcp_keepalive_secs)
    }
    /// Sets `tcp-keepalive` (applies to connections accepted from now on, as in Redis).
    pub fn set_tcp_keepalive_secs(&self, n: u64) {
        store(&self.tcp_keepalive_secs, n);
    }
    /// `client-query-buffer-limit`: a client whose unparsed input exceeds it is closed.
    pub fn query_buffer_limit(&self) -> u64 {
        load(&self.query_buffer_limit)
    }
    /// Sets `client-query-buffer-limit`.
    pub fn set_query_buffer_limit(&self, n: u64) {
        store(&self.query_buffer_limit, n);
    }
    /// `proto-max-bulk-len`: the largest bulk string a request may carry.
    pub fn proto_max_bulk_len(&self) -> u64 {
        load(&self.proto_max_bulk_len)
    }
    /// Sets `proto-max-bulk-len`; parsers pick it up before their next request.
    pub fn set_proto_max_bulk_len(&self, n: u64) {
        store(&self.proto_max_bulk_len, n);
        self.parser_epoch.fetch_add(1, Ordering::Release);
    }
    pub(crate) fn parser_epoch(&self) -> u64 {
        self.parser_epoch.load(Ordering::Acquire)
    }
    /// The parser limits to use now, starting from `base`.
    pub(crate) fn parser_limits(&self, base: resp_codec::Limits) -> resp_codec::Limits {
        resp_codec::Limits {
            max_bulk_len: usize::try_from(self.proto_max_bulk_len()).unwrap_or(usize::MAX),
            ..base
        }
    }
    /// `client-output-buffer-limit` for normal clients.
    pub fn normal_output(&self) -> OutputLimit {
        OutputLimit {
            hard: load(&self.normal_hard),
            soft: load(&self.normal_soft),
            soft_secs: load(&self.normal_soft_secs),
        }
    }
    /// Sets the normal class's output limit.
    pub fn set_normal_output(&self, l: OutputLimit) {
        store(&self.normal_hard, l.hard);
        store(&self.normal_soft, l.soft);
        store(&self.normal_soft_secs, l.soft_secs);
    }
    /// `client-output-buffer-limit` for Pub/Sub clients (for the Pub/Sub layer to enforce).
    pub fn pubsub_output(&self) -> OutputLimit {
        OutputLimit {
            hard: load(&self.pubsub_hard),
            soft: load(&self.pubsub_soft),
            soft_secs: load(&self.pubsub_soft_secs),
        }
    }
    /// Sets the Pub/Sub class's output limit.
    pub fn set_pubsub_output(&self, l: OutputLimit) {
        store(&self.pubsub_hard, l.hard);
        store(&self.pubsub_soft, l.soft);
        store(&self.pubsub_soft_secs, l.soft_secs);
    }
    /// `protected-mode`.
    pub fn protected_mode(&self) -> bool {
        self.protected_mode.load(Ordering::Relaxed)
    }
    /// Sets `protected-mode`.
    pub fn set_protected_mode(&self, on: bool) {
        self.protected_mode.store(on, Ordering::Relaxed);
    }
    /// Tests only: makes protected mode treat clients from `addr` as remote, so the refusal
    /// can be tested on a machine with nothing but loopback (e.g. `127.0.0.2`).
    pub fn treat_as_remote(&self, addr: Option<IpAddr>) {
        *crate::shared::lock(&self.treat_as_remote) = addr;
        self.treat_as_remote_set
            .store(addr.is_some(), Ordering::Release);
    }

    /// Whether protected mode counts `peer` as local (Redis's `connIsLocal`).
    pub(crate) fn is_local(&self, peer: IpAddr) -> bool {
        if self.treat_as_remote_set.load(Ordering::Acquire)
            && *crate::shared::lock(&self.treat_as_remote) == Some(peer)
        {
            return false;
        }
        is_loopback(peer)
    }

    /// Whether the loops need a periodic sweep (idle timeout or a soft output limit is set).
    pub(crate) fn needs_sweep(&self) -> bool {
        self.timeout_secs() > 0 || (self.normal_output().soft > 0)
    }
}

/// Whether `ip` is a loopback address: all of `127.0.0.0/8`, `::1`, and IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Redis's reply to a remote client refused by protected mode, sent before closing.
pub(crate) const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's reply to a connection over `maxclients`, sent before closing.
pub(crate) const MAX_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

/// Turns on TCP keepalive the way Redis's `anetKeepAlive` does: first probe after `secs` of
/// silence, then every `secs / 3`, three probes before the peer is declared dead.
pub(crate) fn set_keepalive(stream: &std::net::TcpStream, secs: u64) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    let time = std::time::Duration::from_secs(secs);
    let ka = socket2::TcpKeepalive::new()
        .with_time(time)
        .with_interval(std::time::Duration::from_secs((secs / 3).max(1)))
        .with_retries(3);
    sock.set_tcp_keepalive(&ka)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn loopback_is_127_slash_8_and_ipv6_one() {
        assert!(is_loopback(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
        assert!(is_loopback(IpAddr::V4(Ipv4Addr::new(127, 255, 3, 9))));
        assert!(is_loopback(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
        assert!(!is_loopback(IpAddr::V4(Ipv4Addr::new(128, 0, 0, 1))));
        assert!(!is_loopback(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert!(!is_loopback("fe80::1".parse().unwrap()));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn the_test_knob_makes_one_loopback_address_remote() {
        let limits = ClientLimits::default();
        let two = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(limits.is_local(two));
        limits.treat_as_remote(Some(two));
        assert!(!limits.is_local(two));
        assert!(limits.is_local(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn keepalive_follows_redis_anet_keepalive() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        set_keepalive(&client, 300).unwrap();
        let sock = socket2::SockRef::from(&client);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.keepalive_time().unwrap().as_secs(), 300);
        assert_eq!(sock.keepalive_interval().unwrap().as_secs(), 100);
        assert_eq!(sock.keepalive_retries().unwrap(), 3);
    }

    #[test]
    fn parser_limits_follow_proto_max_bulk_len() {
        let limits = ClientLimits::default();
        let before = limits.parser_epoch();
        limits.set_proto_max_bulk_len(2 * 1024 * 1024);
        assert_ne!(limits.parser_epoch(), before);
        let l = limits.parser_limits(resp_codec::Limits::default());
        assert_eq!(l.max_bulk_len, 2 * 1024 * 1024);
    }
}
