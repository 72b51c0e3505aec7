//! Accepting when the process is out of file descriptors (`EMFILE`): the loop must neither die
//! nor spin, and must accept the waiting connection once descriptors are free again.
//!
//! Its own test binary because it lowers the whole process's descriptor limit.
use std::fs::File;
use std::io::{Read, Seek};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reuseport_listener::ListenerSet;

/// User plus system CPU time this process has used, in clock ticks, from `/proc/self/stat`
/// opened beforehand (there is no descriptor to spare for opening it while measuring).
fn cpu_ticks(proc_stat: &mut File) -> u64 {
    let mut stat = String::new();
    proc_stat.rewind().unwrap();
    proc_stat.read_to_string(&mut stat).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn emfile_backs_off_and_recovers() {
    let set = ListenerSet::bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let addr = set.local_addr();
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let tx = std::sync::Mutex::new(tx);
    let loops = set
        .serve(move |_stream, peer| tx.lock().unwrap().send(peer).unwrap())
        .unwrap();

    let mut proc_stat = File::open("/proc/self/stat").unwrap();
    // Leave room for what the test itself needs, then use up every other descriptor.
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let limit = open_now + 16;
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status();
    let Ok(status) = status else {
        // No prlimit (util-linux) on this machine: nothing to check.
        return;
    };
    assert!(status.success());
    let mut hoard = Vec::new();
    while let Ok(file) = File::open("/dev/null") {
        hoard.push(file);
    }
    // One descriptor for the client's socket; the server's accept then finds none.
    hoard.pop();
    let client = TcpStream::connect(addr).unwrap();

    // The connection waits in the backlog while accept fails with EMFILE. A loop that
    // retried at once would burn a whole core; the back-off keeps it near idle. Measuring
    // needs an interval, so this one test sleeps.
    let ticks_per_second = 100; // USER_HZ on Linux.
    let (start_ticks, started) = (cpu_ticks(&mut proc_stat), Instant::now());
    std::thread::sleep(Duration::from_millis(500));
    let used = (cpu_ticks(&mut proc_stat) - start_ticks) as f64 / ticks_per_second as f64;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        used < elapsed / 4.0,
        "accept loop spun: {used:.2}s CPU in {elapsed:.2}s"
    );
    assert!(rx.try_recv().is_err(), "accepted without a free descriptor");

    // Free descriptors: the next retry accepts the waiting client.
    drop(hoard);
    let peer = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    loops.shutdown();
}
