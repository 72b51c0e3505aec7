//! Helpers for kvd's end-to-end tests: start a server, talk raw RESP or `redis`-crate to it.
//!
//! The suite (`tests/e2e`) runs against one of two targets:
//!
//! * **kvd in-process** (the default, what CI runs): every [`TestServer::start`] starts a fresh
//!   `kvd::Server` on `127.0.0.1:0`, so tests share nothing and run in parallel.
//! * **an external server** named by `KVD_TEST_ADDR=127.0.0.1:7123`, normally a real Redis 7.0
//!   (`redis-server --port 7123 --save '' --appendonly no`). This proves that the expected values
//!   in the suite are Redis's own replies. Tests then take turns on that one server (a process-wide
//!   lock) and each starts with `FLUSHALL`. Tests that need a server of their own configuration
//!   (`requirepass`, `SHUTDOWN`) get a private `redis-server` child on a free port instead.
//!
//! Building with `--no-default-features` drops the dependency on `kvd::Server`; without
//! `KVD_TEST_ADDR` every test then gets its own `redis-server` child (parallel, like kvd).
//!
//! ```text
//! cargo test -p kvd-tests                                      # kvd in-process (CI)
//! KVD_TEST_ADDR=127.0.0.1:7123 cargo test -p kvd-tests         # a running Redis 7.0
//! cargo test -p kvd-tests --no-default-features                # a redis-server per test
//! ```
//!
//! Helpers: [`RawConn`] writes arbitrary bytes and reads exactly one reply frame at a time
//! with [`REPLY_TIMEOUT`] (its reader, [`frame_len`], is independent of kvd's codec);
//! [`assert_reply!`] compares replies and prints them escaped; [`poll_until`] replaces sleeps.
//!
//! # Example
//!
//! ```no_run
//! use kvd_tests::TestServer;
//!
//! let server = TestServer::start();
//! let mut conn = server.conn();
//! assert_eq!(conn.cmd(&["PING"]), b"+PONG\r\n");
//! ```
#![deny(missing_docs)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a test waits for any single reply or condition before failing. Generous, because
/// the machine running the suite may be busy building other crates.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings a test may ask for; the defaults match `kvd::Config::for_tests` (two
/// workers, two IO threads, two listeners), so cross-thread paths are always exercised.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Number of shard workers (keyspace partitions).
    pub workers: usize,
    /// Number of IO reactor threads.
    pub io_threads: usize,
    /// Number of SO_REUSEPORT listeners.
    pub listeners: usize,
    /// Password required by `AUTH`, if any.
    pub requirepass: Option<String>,
    /// Number of logical databases (`SELECT` range).
    pub databases: usize,
    /// Whether the test needs a server of its own even in external mode (e.g. it sends
    /// `SHUTDOWN`, or changes settings that must not leak into other tests).
    pub private: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 2,
            io_threads: 2,
            listeners: 2,
            requirepass: None,
            databases: 16,
            private: false,
        }
    }
}

/// Which kind of server a [`TestServer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// kvd, started in this process.
    Kvd,
    /// A server outside this process (normally Redis), shared or spawned privately.
    External,
}

/// A running server for one test. Dropping it stops an in-process or spawned server, or
/// releases the shared external one for the next test.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    options: ServerOptions,
    inner: Inner,
}

enum Inner {
    #[cfg(feature = "kvd")]
    Kvd(Option<kvd::ServerHandle>),
    /// Holds the shared external server for this test until dropped.
    Shared {
        _turn: MutexGuard<'static, ()>,
    },
    Spawned(Child),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "kvd")]
            Inner::Kvd(_) => f.write_str("Kvd"),
            Inner::Shared { .. } => f.write_str("Shared"),
            Inner::Spawned(child) => write!(f, "Spawned({})", child.id()),
        }
    }
}

/// Serialises tests on a shared external server: they flush it, so they must take turns.
static SHARED: Mutex<()> = Mutex::new(());

/// The external server's address, if `KVD_TEST_ADDR` is set.
pub fn external_addr() -> Option<SocketAddr> {
    let value = std::env::var("KVD_TEST_ADDR").ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("KVD_TEST_ADDR={value:?} is not an address: {e}")),
    )
}

/// The target the suite runs against in this process.
pub fn target() -> Target {
    if external_addr().is_some() || !cfg!(feature = "kvd") {
        Target::External
    } else {
        Target::Kvd
    }
}

impl TestServer {
    /// A fresh server with default options.
    pub fn start() -> TestServer {
        TestServer::with(ServerOptions::default())
    }

    /// A fresh server with `options`.
    pub fn with(options: ServerOptions) -> TestServer {
        match target() {
            Target::Kvd => start_kvd(options),
            Target::External => {
                let needs_own = options.private
                    || options.requirepass.is_some()
                    || options.databases != ServerOptions::default().databases;
                match external_addr() {
                    Some(addr) if !needs_own => {
                        // A test that panicked while holding the lock poisons it; the server is
                        // flushed below anyway, so the next test may proceed.
                        let guard = SHARED.lock().unwrap_or_else(|e| e.into_inner());
                        let server = TestServer {
                            addr,
                            options,
                            inner: Inner::Shared { _turn: guard },
                        };
                        let mut conn = server.conn();
                        assert_eq!(conn.cmd(&["FLUSHALL"]), b"+OK\r\n");
                        // Connections left by earlier tests (closed, but perhaps not yet
                        // reaped) would show up in CLIENT LIST and connected_clients.
                        conn.cmd(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
                        poll_until(|| {
                            let list = bulk_payload(&conn.cmd(&["CLIENT", "LIST"]));
                            (list.iter().filter(|&&b| b == b'\n').count() == 1).then_some(())
                        });
                        server
                    }
                    _ => spawn_redis(options),
                }
            }
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TCP port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The options this server was started with.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// Whether this is kvd running in-process (as opposed to an external server).
    pub fn is_kvd(&self) -> bool {
        #[cfg(feature = "kvd")]
        if let Inner::Kvd(_) = self.inner {
            return true;
        }
        false
    }

    /// A new raw connection.
    pub fn conn(&self) -> RawConn {
        RawConn::connect(self.addr)
    }

    /// A new `redis`-crate synchronous connection.
    pub fn client(&self) -> redis::Connection {
        let url = match &self.options.requirepass {
            Some(pass) => format!("redis://:{pass}@{}/", self.addr),
            None => format!("redis://{}/", self.addr),
        };
        let client = redis::Client::open(url).expect("redis client");
        client
            .get_connection_with_timeout(REPLY_TIMEOUT)
            .expect("redis connection")
    }

    /// Waits until the server has stopped on its own (after `SHUTDOWN`), failing after
    /// [`REPLY_TIMEOUT`].
    pub fn wait_stopped(&mut self) {
        match &mut self.inner {
            #[cfg(feature = "kvd")]
            Inner::Kvd(handle) => {
                let handle = handle.take().expect("server already stopped");
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    let _ = tx.send(handle.wait());
                });
                let result = rx
                    .recv_timeout(REPLY_TIMEOUT)
                    .expect("kvd did not stop after SHUTDOWN");
                result.expect("kvd stopped with an error");
            }
            Inner::Shared { .. } => panic!("a shared external server cannot be stopped by a test"),
            Inner::Spawned(child) => {
                let status = poll_until(|| child.try_wait().expect("try_wait"));
                assert!(status.success(), "redis-server exited with {status}");
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match &mut self.inner {
            #[cfg(feature = "kvd")]
            Inner::Kvd(handle) => {
                if let Some(handle) = handle.take() {
                    handle.shutdown();
                    let _ = handle.wait();
                }
            }
            Inner::Shared { .. } => {}
            Inner::Spawned(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

#[cfg(feature = "kvd")]
fn start_kvd(options: ServerOptions) -> TestServer {
    let mut config = kvd::Config::for_tests();
    config.port = 0;
    config.bind = "127.0.0.1".parse().expect("bind address");
    config.workers = options.workers;
    config.io_threads = options.io_threads;
    config.listeners = options.listeners;
    config.requirepass = options.requirepass.clone();
    config.databases = options.databases;
    let handle = kvd::Server::start(config).expect("kvd starts");
    TestServer {
        addr: handle.local_addr(),
        options,
        inner: Inner::Kvd(Some(handle)),
    }
}

#[cfg(not(feature = "kvd"))]
fn start_kvd(_options: ServerOptions) -> TestServer {
    unreachable!("target() is External without the kvd feature")
}

/// Starts a private `redis-server` on a free port and waits until it answers.
fn spawn_redis(options: ServerOptions) -> TestServer {
    // Ask the OS for a free port, then hand it to redis-server. Another process could take the
    // port in between; on this dedicated test machine that race has not been worth more code.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--enable-debug-command", "yes"])
        .args(["--databases", &options.databases.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(pass) = &options.requirepass {
        cmd.args(["--requirepass", pass]);
    }
    let child = cmd.spawn().expect("spawn redis-server");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = TestServer {
        addr,
        options,
        inner: Inner::Spawned(child),
    };
    poll_until(|| TcpStream::connect(addr).ok());
    server
}

/// Calls `probe` until it returns `Some`, failing the test after [`REPLY_TIMEOUT`].
pub fn poll_until<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {REPLY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Encodes `args` as a RESP array of bulk strings, the way clients send commands.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Returns the length of the first complete RESP2/RESP3 reply frame in `buf`, `Ok(None)` if
/// more bytes are needed, or an error describing bytes that are not a reply at all.
///
/// This is deliberately independent of `resp-codec`: the suite must be able to judge the
/// server's bytes without trusting the server's own decoder.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
        let rel = buf[from..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[from..from + rel], from + rel + 2))
    }
    fn number(text: &[u8]) -> Result<i64, String> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(text)))
    }
    fn at(buf: &[u8], from: usize) -> Result<Option<usize>, String> {
        let Some(&kind) = buf.get(from) else {
            return Ok(None);
        };
        let Some((header, next)) = line(buf, from + 1) else {
            return Ok(None);
        };
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(next)),
            b'$' | b'!' | b'=' => {
                let len = number(header)?;
                if len < 0 {
                    return Ok(Some(next));
                }
                let end = next + len as usize + 2;
                if buf.len() < end {
                    return Ok(None);
                }
                if &buf[end - 2..end] != b"\r\n" {
                    return Err("bulk string not followed by CRLF".into());
                }
                Ok(Some(end))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let len = number(header)?;
                if len < 0 {
                    return Ok(Some(next));
                }
                let items = if matches!(kind, b'%' | b'|') {
                    len * 2
                } else {
                    len
                };
                let mut pos = next;
                for _ in 0..items {
                    match at(buf, pos)? {
                        Some(end) => pos = end,
                        None => return Ok(None),
                    }
                }
                // An attribute (`|`) precedes the reply it annotates.
                if kind == b'|' {
                    at(buf, pos)
                } else {
                    Ok(Some(pos))
                }
            }
            other => Err(format!("unknown reply type byte {:?}", other as char)),
        }
    }
    at(buf, 0)
}

/// `count` keys named `prefix:N`, each on a different one of `workers` shards (as kvd routes
/// them), so a command or transaction over them has to cross shards.
pub fn keys_on_different_shards(prefix: &str, count: usize, workers: usize) -> Vec<String> {
    assert!(count <= workers, "only {workers} shards");
    let mut keys: Vec<String> = Vec::new();
    let mut shards = Vec::new();
    for i in 0.. {
        let k = format!("{prefix}:{i}");
        let s = partition_router::shard_for(k.as_bytes(), workers);
        if !shards.contains(&s) {
            shards.push(s);
            keys.push(k);
            if keys.len() == count {
                break;
            }
        }
    }
    keys
}

/// Splits the top level of an array reply into the raw bytes of each element.
pub fn array_elements(reply: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(reply.first(), Some(&b'*'), "not an array");
    let header_end = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    let count: usize = std::str::from_utf8(&reply[1..header_end])
        .unwrap()
        .parse()
        .unwrap();
    let mut rest = &reply[header_end + 2..];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = frame_len(rest).unwrap().expect("complete element");
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    assert!(rest.is_empty(), "bytes after the array");
    out
}

/// A raw client connection: write any bytes, read exact reply frames.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// A second handle on the same socket, for writing from another thread while this one
    /// reads (large pipelines would otherwise deadlock on full socket buffers).
    pub fn try_clone_for_write(&self) -> RawConn {
        RawConn {
            stream: self.stream.try_clone().expect("clone socket"),
            buf: Vec::new(),
        }
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Writes one command as a RESP array of bulk strings.
    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let bytes = encode_command(args);
        self.send(&bytes);
    }

    /// Sends one command and returns its reply frame.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Sends one command and returns its reply as (lossy) text, for readable assertions.
    pub fn cmd_str<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        String::from_utf8_lossy(&self.cmd(args)).into_owned()
    }

    /// Reads exactly one reply frame, failing after [`REPLY_TIMEOUT`].
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply(REPLY_TIMEOUT) {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!(
                "connection closed while waiting for a reply; had {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("{e}"),
        }
    }

    /// Reads one reply frame: `Ok(None)` if the server closed the connection first, `Err` on a
    /// timeout or on bytes that are not a reply.
    pub fn try_read_reply(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(len) = frame_len(&self.buf)? {
                return Ok(Some(self.buf.drain(..len).collect()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no complete reply within {timeout:?}; had {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A reset means the server closed on us with unread data; that is a close.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(format!("read error: {e}")),
            }
        }
    }

    /// Asserts that the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        match self.try_read_reply(REPLY_TIMEOUT) {
            Ok(None) => assert!(
                self.buf.is_empty(),
                "partial bytes before close: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(Some(frame)) => panic!(
                "expected the connection to close, got {:?}",
                String::from_utf8_lossy(&frame)
            ),
            Err(e) => panic!("expected the connection to close: {e}"),
        }
    }

    /// Asserts that no reply arrives within `wait` (used only where absence is the behaviour
    /// under test, e.g. a half-sent command must not be answered).
    pub fn expect_silence(&mut self, wait: Duration) {
        match self.try_read_reply(wait) {
            Err(_) if self.buf.is_empty() => {}
            other => panic!(
                "expected no reply, got {other:?} with buffered {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Closes our sending side (the server reads end-of-file), keeping the read side open.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Shuts the connection down in both directions.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Renders bytes for a failure message: printable ASCII as is, CR/LF as `\r`/`\n`, the rest
/// as `\xNN`, so that a mismatched reply reads like the protocol text it is.
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}
/// Runs a recorded script: `cases` in order on a fresh connection (after `HELLO 3` if
/// `resp3`), comparing every reply byte for byte and reporting every mismatch at once.
pub fn replay(server: &TestServer, cases: &[(&[&str], &[u8])], resp3: bool) {
    let mut c = server.conn();
    if resp3 {
        c.cmd(&["HELLO", "3"]);
    }
    let mut failures = Vec::new();
    for (args, want) in cases {
        let got = c.cmd(args);
        if got != *want {
            failures.push(format!("{args:?}: {}", describe_mismatch(&got, want)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Describes how `got` differs from `want`: both in full when short, otherwise the lengths
/// and a window around the first differing byte.
pub fn describe_mismatch(got: &[u8], want: &[u8]) -> String {
    if got.len() + want.len() <= 400 {
        return format!("  got: {}\n want: {}", escape(got), escape(want));
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(80);
    let window = |b: &[u8]| escape(&b[from.min(b.len())..(at + 80).min(b.len())]);
    format!(
        "  lengths: got {} want {}; first difference at byte {at}\n  got[{from}..]: {}\n want[{from}..]: {}",
        got.len(),
        want.len(),
        window(got),
        window(want)
    )
}

/// Asserts that two byte strings (replies, usually) are equal, printing both escaped.
///
/// ```
/// kvd_tests::assert_reply!(b"+OK\r\n".to_vec(), kvd_tests::OK);
/// ```
#[macro_export]
macro_rules! assert_reply {
    ($got:expr, $want:expr $(,)?) => {
        $crate::assert_reply!($got, $want, "")
    };
    ($got:expr, $want:expr, $($msg:tt)+) => {{
        let got = &$got;
        let want = &$want;
        let got: &[u8] = ::core::convert::AsRef::<[u8]>::as_ref(got);
        let want: &[u8] = ::core::convert::AsRef::<[u8]>::as_ref(want);
        if got != want {
            panic!(
                "reply mismatch {}\n{}",
                format_args!($($msg)+),
                $crate::describe_mismatch(got, want)
            );
        }
    }};
}

/// Parses a RESP2 integer reply `:N\r\n`.
pub fn as_int(reply: &[u8]) -> i64 {
    let text = std::str::from_utf8(reply).expect("utf8 reply");
    text.strip_prefix(':')
        .and_then(|s| s.strip_suffix("\r\n"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {text:?}"))
}

/// Builds the bytes of a RESP bulk string reply.
pub fn bulk(s: impl AsRef<[u8]>) -> Vec<u8> {
    let s = s.as_ref();
    let mut out = format!("${}\r\n", s.len()).into_bytes();
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
    out
}

/// Builds the bytes of a RESP array of bulk strings.
pub fn bulk_array<A: AsRef<[u8]>>(items: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend(bulk(item));
    }
    out
}

/// Builds the bytes of a RESP error reply from its text.
pub fn err(text: &str) -> Vec<u8> {
    format!("-{text}\r\n").into_bytes()
}

/// Builds the bytes of a RESP integer reply.
pub fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";
/// The RESP2 null bulk string.
pub const NIL: &[u8] = b"$-1\r\n";

/// Splits an array-of-bulks reply into its items (flat arrays only).
pub fn bulk_items(reply: &[u8]) -> Vec<Vec<u8>> {
    let (header, mut rest) = split_line(reply);
    assert!(
        header.starts_with(b"*"),
        "not an array: {:?}",
        String::from_utf8_lossy(reply)
    );
    let count: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let (h, r) = split_line(rest);
        assert!(
            h.starts_with(b"$"),
            "not a bulk: {:?}",
            String::from_utf8_lossy(rest)
        );
        let len: usize = std::str::from_utf8(&h[1..]).unwrap().parse().unwrap();
        items.push(r[..len].to_vec());
        rest = &r[len + 2..];
    }
    assert!(rest.is_empty(), "trailing bytes after array");
    items
}

/// Returns the bulk string payload of `reply`.
pub fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let (header, rest) = split_line(reply);
    assert!(
        header.starts_with(b"$") || header.starts_with(b"="),
        "not a bulk: {:?}",
        String::from_utf8_lossy(reply)
    );
    let len: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
    rest[..len].to_vec()
}

fn split_line(buf: &[u8]) -> (&[u8], &[u8]) {
    let pos = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("line without CRLF");
    (&buf[..pos], &buf[pos + 2..])
}

/// Runs `redis-cli` (or another tool) with `args` and returns (status ok, stdout, stderr).
pub fn run_tool(program: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_handles_every_reply_type() {
        assert_eq!(frame_len(b"+OK\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"+OK\r"), Ok(None));
        assert_eq!(frame_len(b"$3\r\nabc\r\n+"), Ok(Some(9)));
        assert_eq!(frame_len(b"$3\r\nab"), Ok(None));
        assert_eq!(frame_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n$1\r\nx\r\n"), Ok(Some(15)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(frame_len(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(12)));
        assert_eq!(frame_len(b"_\r\n"), Ok(Some(3)));
        assert!(frame_len(b"?\r\n").is_err());
        assert!(frame_len(b"$1\r\nab\r\n").is_err());
    }

    #[test]
    fn frame_len_agrees_with_the_codec() {
        // Two independent readers of the same bytes: if they disagree, one of them is wrong.
        for frame in [
            &b"+OK\r\n"[..],
            b"-ERR x\r\n",
            b":-12\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*3\r\n$1\r\na\r\n*1\r\n:1\r\n_\r\n",
            b"%1\r\n$1\r\nk\r\n~2\r\n#t\r\n,1.5\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"(123\r\n",
        ] {
            let (_, codec_len) = resp_codec::decode_frame(frame)
                .expect("valid frame")
                .expect("complete frame");
            assert_eq!(frame_len(frame), Ok(Some(codec_len)), "{}", escape(frame));
            assert_eq!(codec_len, frame.len());
        }
    }

    #[test]
    fn bulk_items_splits_arrays() {
        assert_eq!(
            bulk_items(b"*2\r\n$1\r\na\r\n$0\r\n\r\n"),
            vec![b"a".to_vec(), b"".to_vec()]
        );
    }
}
