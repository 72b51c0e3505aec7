//! Binding, sharing a port, accepting on every listener, errors and shutdown, over real sockets.
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reuseport_listener::{ListenError, ListenerSet};

fn loopback_v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// What the test handler reports for each connection: the accept thread's name, the peer
/// address, and whether the stream came non-blocking.
type Accepted = (String, SocketAddr, bool);

fn recording_handler(
    tx: mpsc::Sender<Accepted>,
) -> impl Fn(TcpStream, SocketAddr) + Send + Sync + 'static {
    let tx = std::sync::Mutex::new(tx);
    move |mut stream, peer| {
        let thread = std::thread::current().name().unwrap_or("").to_owned();
        let mut byte = [0u8; 1];
        let nonblocking =
            matches!(stream.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        tx.lock()
            .unwrap()
            .send((thread, peer, nonblocking))
            .unwrap();
    }
}

#[test]
fn port_zero_picks_one_port_for_all_listeners() {
    let set = ListenerSet::bind(loopback_v4(), 3).unwrap();
    assert_eq!(set.len(), 3);
    assert_ne!(set.local_addr().port(), 0);
    assert_eq!(set.local_addr().ip().to_string(), "127.0.0.1");
}

#[test]
fn zero_listeners_is_an_error() {
    let err = ListenerSet::bind(loopback_v4(), 0).unwrap_err();
    assert!(matches!(err, ListenError::NoListeners));
    assert_eq!(err.to_string(), "at least one listener is needed");
}

#[test]
fn every_listener_accepts_and_hands_over_nonblocking_streams() {
    let set = ListenerSet::bind(loopback_v4(), 4).unwrap();
    let addr = set.local_addr();
    let (tx, rx) = mpsc::channel();
    let loops = set.serve(recording_handler(tx)).unwrap();
    assert_eq!(loops.local_addr(), addr);

    // The kernel picks a listener by hashing each connection's addresses; with 200 distinct
    // client ports the chance that one of 4 listeners gets none is about 1e-25.
    let mut clients = Vec::new();
    let mut client_addrs = BTreeSet::new();
    for _ in 0..200 {
        let client = TcpStream::connect(addr).unwrap();
        client_addrs.insert(client.local_addr().unwrap());
        clients.push(client);
    }
    let mut threads = BTreeSet::new();
    let mut peers = BTreeSet::new();
    for _ in 0..200 {
        let (thread, peer, nonblocking) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(nonblocking, "stream from {thread} is blocking");
        threads.insert(thread);
        peers.insert(peer);
    }
    assert_eq!(peers, client_addrs);
    let expected: BTreeSet<String> = (0..4).map(|i| format!("kvd-accept-{i}")).collect();
    assert_eq!(threads, expected);
    loops.shutdown();
}

#[test]
fn a_port_with_a_plain_listener_is_in_use() {
    let other = TcpListener::bind(loopback_v4()).unwrap();
    let addr = other.local_addr().unwrap();
    let err = ListenerSet::bind(addr, 2).unwrap_err();
    assert!(matches!(err, ListenError::AddrInUse { addr: a } if a == addr));
    assert_eq!(err.to_string(), format!("address {addr} is already in use"));
}

/// Regression: `SO_REUSEPORT` let a second set bind a port the first already served, so two
/// servers would silently split the connections between them.
#[test]
fn a_port_served_by_another_set_is_in_use() {
    let first = ListenerSet::bind(loopback_v4(), 2).unwrap();
    let addr = first.local_addr();
    let err = ListenerSet::bind(addr, 2).unwrap_err();
    assert_eq!(err.to_string(), format!("address {addr} is already in use"));

    // Once the first set is gone the port is free again, even with clients in TIME_WAIT.
    let loops = first.serve(|_, _| {}).unwrap();
    drop(TcpStream::connect(addr).unwrap());
    loops.shutdown();
    let again = ListenerSet::bind(addr, 2).unwrap();
    assert_eq!(again.local_addr(), addr);
}

#[test]
fn an_address_not_on_this_machine_is_not_available() {
    // 192.0.2.0/24 is TEST-NET-1, reserved for documentation and never assigned to a host.
    let addr: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let err = ListenerSet::bind(addr, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 192.0.2.1:0 is not available on this machine"
    );
}

#[test]
fn ipv6_loopback_when_the_machine_has_it() {
    if TcpListener::bind("[::1]:0").is_err() {
        // No IPv6 on this machine (some containers): nothing to check.
        return;
    }
    let set = ListenerSet::bind("[::1]:0".parse().unwrap(), 2).unwrap();
    let addr = set.local_addr();
    assert!(addr.is_ipv6());
    assert_ne!(addr.port(), 0);
    let (tx, rx) = mpsc::channel();
    let loops = set.serve(recording_handler(tx)).unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let (_, peer, _) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    loops.shutdown();
}

#[test]
fn shutdown_joins_promptly_and_closes_the_port() {
    let set = ListenerSet::bind(loopback_v4(), 3).unwrap();
    let addr = set.local_addr();
    let (tx, rx) = mpsc::channel();
    let loops = set.serve(recording_handler(tx)).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();

    // The threads sleep in epoll_wait with no timeout; only the notifier can end them. The
    // bound is generous for a loaded CI machine: a missed wake-up would hang, not be slow.
    let started = Instant::now();
    loops.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn dropping_the_loops_stops_them() {
    let set = ListenerSet::bind(loopback_v4(), 2).unwrap();
    let addr = set.local_addr();
    drop(set.serve(|_, _| {}).unwrap());
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_panicking_handler_does_not_stop_the_loop() {
    let set = ListenerSet::bind(loopback_v4(), 1).unwrap();
    let addr = set.local_addr();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let loops = set
        .serve(move |_stream, peer| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                panic!("first connection");
            }
            tx.lock().unwrap().send(peer).unwrap();
        })
        .unwrap();
    let _first = TcpStream::connect(addr).unwrap();
    let second = TcpStream::connect(addr).unwrap();
    let peer = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(peer, second.local_addr().unwrap());
    loops.shutdown();
}
