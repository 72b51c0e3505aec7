//! The `kvd` process's memory while a client that never reads pipelines commands with large
//! replies: the output limit cuts the client off before the server has built more than a few
//! replies for it (its own process, so its peak RSS is its own).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The kvd process this test started, killed (by its PID) if the test fails before the
/// orderly shutdown.
struct Kvd(Child);

impl Drop for Kvd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// kvd on a free port, and its address from the startup line.
fn start() -> (Kvd, SocketAddr) {
    let mut kvd = Kvd(Command::new(env!("CARGO_BIN_EXE_kvd"))
        .env("RUST_LOG", "info")
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let mut log = BufReader::new(kvd.0.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert_ne!(log.read_line(&mut line).unwrap(), 0, "kvd exited early");
        if line.contains("ready to accept connections")
            && let Some(at) = line.find("addr=")
        {
            let rest = &line[at + "addr=".len()..];
            let end = rest.find(' ').unwrap_or(rest.len());
            let addr = rest[..end].trim().parse().unwrap();
            // The log pipe must keep draining or kvd would block on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
            return (kvd, addr);
        }
    }
}

/// `VmHWM` (peak RSS) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn command(conn: &mut TcpStream, bytes: &[u8], reply: &[u8]) {
    conn.write_all(bytes).unwrap();
    let mut got = vec![0u8; reply.len()];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(got, reply, "{}", String::from_utf8_lossy(&got));
}

fn clients(conn: &mut TcpStream) -> usize {
    conn.write_all(b"CLIENT LIST\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let len: usize = std::str::from_utf8(&head[1..head.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len + 2];
    conn.read_exact(&mut body).unwrap();
    body[..len].iter().filter(|&&b| b == b'\n').count()
}

/// Regression: kvd used to run every pipelined command of such a client before the limit could
/// act (300 replies of 1 MB: a 600 MB peak for a 2 MB limit).
#[test]
fn a_client_that_never_reads_large_replies_does_not_grow_the_server() {
    let (mut kvd, addr) = start();
    let pid = kvd.0.id();
    let mut admin = TcpStream::connect(addr).unwrap();
    admin
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let value = vec![b'v'; 1024 * 1024];
    let mut set = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    command(&mut admin, &set, b"+OK\r\n");
    command(
        &mut admin,
        b"CONFIG SET client-output-buffer-limit \"normal 2mb 1mb 10\"\r\n",
        b"+OK\r\n",
    );
    let before = peak_rss_kib(pid);

    let mut reader = TcpStream::connect(addr).unwrap();
    reader
        .write_all(&b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(300))
        .unwrap();
    // Polled: the reader is cut off at its limit (only the admin client is left).
    let deadline = Instant::now() + Duration::from_secs(10);
    while clients(&mut admin) != 1 {
        assert!(Instant::now() < deadline, "the reader was not cut off");
        std::thread::sleep(Duration::from_millis(10));
    }
    let grown_mib = (peak_rss_kib(pid).saturating_sub(before)) / 1024;
    // A few replies in flight at once, not 300.
    assert!(grown_mib < 64, "peak RSS grew by {grown_mib} MiB");

    command(&mut admin, b"SHUTDOWN NOSAVE\r\n", b"");
    drop(reader);
    assert!(kvd.0.wait().unwrap().success());
}
