//! Binding the listener group and running one accept loop per listener.
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use polling::{Event, Events, Poller};
use socket2::{Domain, Protocol, Socket, Type};

use crate::ListenError;
use crate::registration::register;

/// The `listen(2)` backlog: Redis's `tcp-backlog` default. The kernel caps it at
/// `net.core.somaxconn`.
pub const BACKLOG: i32 = 511;

/// How long an accept loop pauses after an error that retrying at once would only repeat
/// (`EMFILE`, `ENFILE`, `ENOBUFS`...). The pending connection stays in the backlog, so the
/// listener stays readable and an immediate retry would spin a core at 100%.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The poller key of the listener; the notifier has its own internal key.
const LISTENER_KEY: usize = 0;

/// `count` TCP listeners bound to one address with `SO_REUSEPORT`, not yet accepting.
///
/// The kernel spreads incoming connections over the listeners by a hash of the connection's
/// addresses, so several accept threads share the work without sharing a lock.
#[derive(Debug)]
pub struct ListenerSet {
    listeners: Vec<TcpListener>,
    local_addr: SocketAddr,
}

impl ListenerSet {
    /// Binds `count` listeners to `addr`, IPv4 or IPv6.
    ///
    /// Port 0 asks the kernel for a free port: the first listener takes it and the others join
    /// it, so `local_addr()` reports the one port they share.
    pub fn bind(addr: SocketAddr, count: usize) -> Result<ListenerSet, ListenError> {
        if count == 0 {
            return Err(ListenError::NoListeners);
        }
        if addr.port() != 0 {
            ensure_not_listening(addr)?;
        }
        let first = bind_one(addr)?;
        let local_addr = first.local_addr().map_err(|source| ListenError::Io {
            op: "read the address of",
            addr,
            source,
        })?;
        let mut listeners = Vec::with_capacity(count);
        listeners.push(first);
        for _ in 1..count {
            listeners.push(bind_one(local_addr)?);
        }
        Ok(ListenerSet {
            listeners,
            local_addr,
        })
    }

    /// The address the listeners are bound to, with the real port when 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many listeners the set holds.
    pub fn len(&self) -> usize {
        self.listeners.len()
    }

    /// Always false: a set holds at least one listener.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Starts one accept thread per listener, named `kvd-accept-N`.
    ///
    /// Each accepted connection is made non-blocking and passed with its peer address to
    /// `handler`, on the accept thread, so the handler should only hand it on.
    pub fn serve<H>(self, handler: H) -> Result<AcceptLoops, ListenError>
    where
        H: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let stop = Arc::new(AtomicBool::new(false));
        let mut loops = AcceptLoops {
            local_addr: self.local_addr,
            stop: Arc::clone(&stop),
            threads: Vec::with_capacity(self.listeners.len()),
        };
        for (index, listener) in self.listeners.into_iter().enumerate() {
            // On an early return `loops` is dropped, which stops the threads already started.
            let poller = Arc::new(Poller::new().map_err(|source| ListenError::Spawn { source })?);
            register(&poller, &listener, LISTENER_KEY)
                .map_err(|source| ListenError::Spawn { source })?;
            let accept = AcceptLoop {
                listener,
                poller: Arc::clone(&poller),
                stop: Arc::clone(&stop),
                handler: Arc::clone(&handler),
            };
            let thread = std::thread::Builder::new()
                .name(format!("kvd-accept-{index}"))
                .spawn(move || accept.run());
            match thread {
                Ok(thread) => loops.threads.push((poller, thread)),
                Err(source) => {
                    // The closure (and with it the listener) was dropped without a delete;
                    // closing the descriptor removes it from epoll, and the poller dies too.
                    return Err(ListenError::Spawn { source });
                }
            }
        }
        Ok(loops)
    }
}

/// The running accept threads. Dropping it stops them too.
#[derive(Debug)]
pub struct AcceptLoops {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<(Arc<Poller>, JoinHandle<()>)>,
}

impl AcceptLoops {
    /// The address the listeners are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting: wakes every accept thread, joins it and closes its listener.
    ///
    /// Connections already handed to the handler are not touched. When this returns, new
    /// connection attempts are refused.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        for (poller, _) in &self.threads {
            if let Err(err) = poller.notify() {
                tracing::error!(%err, "cannot wake an accept thread");
            }
        }
        for (_, thread) in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an accept thread panicked");
            }
        }
    }
}

impl Drop for AcceptLoops {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// One listener's loop: wait for readiness, accept until `WouldBlock`, re-arm.
struct AcceptLoop<H> {
    listener: TcpListener,
    poller: Arc<Poller>,
    stop: Arc<AtomicBool>,
    handler: Arc<H>,
}

impl<H: Fn(TcpStream, SocketAddr)> AcceptLoop<H> {
    fn run(self) {
        let mut events = Events::new();
        // After an accept error the loop waits out the backoff instead of re-arming the
        // listener; the poller then only wakes for `notify()`, so shutdown stays prompt.
        let mut backoff: Option<Duration> = None;
        let mut failing = false;
        while !self.stop.load(Ordering::Acquire) {
            events.clear();
            if let Err(err) = self.poller.wait(&mut events, backoff) {
                if err.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(%err, "accept loop cannot wait for its listener");
                    backoff = Some(ACCEPT_BACKOFF);
                }
                continue;
            }
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            backoff = self.accept_ready(&mut failing);
            if backoff.is_none() {
                // polling registrations are one-shot: re-arm for the next connections.
                if let Err(err) = self
                    .poller
                    .modify(&self.listener, Event::readable(LISTENER_KEY))
                {
                    tracing::error!(%err, "cannot re-arm a listener");
                    backoff = Some(ACCEPT_BACKOFF);
                }
            }
        }
        if let Err(err) = self.poller.delete(&self.listener) {
            tracing::debug!(%err, "cannot deregister a listener");
        }
    }

    /// Accepts until the backlog is empty. Returns a backoff when an error says to pause.
    fn accept_ready(&self, failing: &mut bool) -> Option<Duration> {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    *failing = false;
                    if let Err(err) = stream.set_nonblocking(true) {
                        tracing::debug!(%err, %peer, "dropping a connection that cannot be made non-blocking");
                        continue;
                    }
                    // A panicking handler must not take the listener down with it: the
                    // socket would stay open and clients would queue on it forever.
                    let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        (self.handler)(stream, peer)
                    }));
                    if handled.is_err() {
                        tracing::error!(%peer, "the connection handler panicked");
                    }
                }
                Err(err) if would_block(&err) => return None,
                Err(err) if peer_gave_up(&err) => {
                    tracing::debug!(%err, "a client left before its connection was accepted");
                }
                Err(err) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM and friends: warn once per episode so
                    // a long shortage does not flood the log ten times a second.
                    if !*failing {
                        tracing::warn!(%err, "cannot accept connections, retrying every {ACCEPT_BACKOFF:?}");
                        *failing = true;
                    } else {
                        tracing::debug!(%err, "accept still failing");
                    }
                    return Some(ACCEPT_BACKOFF);
                }
            }
        }
    }
}

fn would_block(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Errors about one connection that already went away: skip it and accept the next.
fn peer_gave_up(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Fails with `AddrInUse` if any socket listens on `addr`.
///
/// `SO_REUSEPORT` lets every socket of the same user that also sets it join a port, so a
/// second kvd started on a busy port would bind without error and silently take half of the
/// first one's connections. A plain bind (with `SO_REUSEADDR`, which only tolerates sockets
/// in TIME_WAIT) conflicts with any listening socket, ours included, so it tells.
fn ensure_not_listening(addr: SocketAddr) -> Result<(), ListenError> {
    let socket = new_socket(addr)?;
    socket
        .bind(&addr.into())
        .map_err(|source| ListenError::from_bind(addr, source))
}

fn new_socket(addr: SocketAddr) -> Result<Socket, ListenError> {
    let io_err = |op| move |source| ListenError::Io { op, addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(io_err("create a socket for"))?;
    if addr.is_ipv6() {
        // Like Redis: `::` means IPv6 only; IPv4 needs its own bind address.
        socket
            .set_only_v6(true)
            .map_err(io_err("set IPV6_V6ONLY for"))?;
    }
    // Restarting right after a run must not fail on connections still in TIME_WAIT.
    socket
        .set_reuse_address(true)
        .map_err(io_err("set SO_REUSEADDR for"))?;
    Ok(socket)
}

fn bind_one(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    let io_err = |op| move |source| ListenError::Io { op, addr, source };
    let socket = new_socket(addr)?;
    socket
        .set_reuse_port(true)
        .map_err(io_err("set SO_REUSEPORT for"))?;
    socket
        .bind(&addr.into())
        .map_err(|source| ListenError::from_bind(addr, source))?;
    socket.listen(BACKLOG).map_err(io_err("listen on"))?;
    socket
        .set_nonblocking(true)
        .map_err(io_err("make non-blocking the listener on"))?;
    Ok(socket.into())
}
