//! The IO layer against real workers over real sockets: exact reply bytes, pipelining,
//! ordering across shards, protocol errors and slow readers.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use io_reactor::{IoPool, ReactorConfig, ServerHooks};
use worker_shard::{ShardConfig, WorkerPool};

#[derive(Debug, Default)]
struct Hooks {
    password: Mutex<Option<String>>,
    shutdowns: Mutex<u32>,
}

impl ServerHooks for Hooks {
    fn config_get(&self, pattern: &str) -> Vec<(String, String)> {
        [("maxmemory", "0"), ("port", "0")]
            .iter()
            .filter(|(k, _)| pattern == "*" || pattern == *k)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
    fn config_set(&self, name: &str, value: &str) -> Result<(), String> {
        if name == "requirepass" {
            *self.password.lock().unwrap() = Some(value.to_string());
            return Ok(());
        }
        Err(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        ))
    }
    fn requirepass(&self) -> Option<String> {
        self.password.lock().unwrap().clone()
    }
    fn shutdown(&self) {
        *self.shutdowns.lock().unwrap() += 1;
    }
}

/// A server: real workers, an IO pool and an accept thread on 127.0.0.1:0.
struct Server {
    addr: SocketAddr,
    pool: Option<Arc<IoPool>>,
    workers: Option<WorkerPool>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    hooks: Arc<Hooks>,
}

impl Server {
    fn start(io_threads: usize, shards: usize) -> Server {
        Server::with_hooks(io_threads, shards, Hooks::default())
    }

    fn with_hooks(io_threads: usize, shards: usize, hooks: Hooks) -> Server {
        let workers = WorkerPool::spawn(shards, ShardConfig::default()).unwrap();
        let hooks = Arc::new(hooks);
        let config = ReactorConfig {
            io_threads,
            ..Default::default()
        };
        let pool =
            Arc::new(IoPool::start(config, workers.handles().to_vec(), hooks.clone()).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(stream) = conn {
                        let peer = stream.peer_addr().unwrap();
                        pool.register(stream, peer);
                    }
                }
            })
        };
        Server {
            addr,
            pool: Some(pool),
            workers: Some(workers),
            stop,
            acceptor: Some(acceptor),
            hooks,
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    fn pool(&self) -> &IoPool {
        self.pool.as_ref().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        if let Some(pool) = self.pool.take()
            && let Ok(pool) = Arc::try_unwrap(pool)
        {
            pool.shutdown();
        }
        if let Some(w) = self.workers.take() {
            w.shutdown();
        }
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

fn send_expect(s: &mut TcpStream, send: &str, expect: &str) {
    s.write_all(send.as_bytes()).unwrap();
    let got = read_n(s, expect.len());
    assert_eq!(String::from_utf8_lossy(&got), expect, "reply to {send:?}");
}

fn assert_closed(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    let n = s.read(&mut b).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "expected EOF, got {:?}",
        String::from_utf8_lossy(&b[..n])
    );
}

fn cmd(args: &[&str]) -> String {
    let mut s = format!("*{}\r\n", args.len());
    for a in args {
        s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

#[test]
fn ping_echo_inline_and_multibulk() {
    let server = Server::start(2, 2);
    let mut c = server.connect();
    send_expect(&mut c, "PING\r\n", "+PONG\r\n");
    send_expect(&mut c, &cmd(&["PING", "hi there"]), "$8\r\nhi there\r\n");
    send_expect(&mut c, &cmd(&["echo", ""]), "$0\r\n\r\n");
    send_expect(&mut c, "ping\r\nping\r\n", "+PONG\r\n+PONG\r\n");
}

#[test]
fn hello_3_switches_to_resp3_maps() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    send_expect(&mut c, "CLIENT ID\r\n", ":1\r\n");
    let map = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
               $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
               $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
    send_expect(&mut c, "HELLO 3\r\n", map);
    send_expect(&mut c, "GET missing\r\n", "_\r\n");
    send_expect(
        &mut c,
        "HELLO 4\r\n",
        "-NOPROTO unsupported protocol version\r\n",
    );
    send_expect(
        &mut c,
        "CONFIG GET maxmemory\r\n",
        "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    send_expect(&mut c, "RESET\r\n", "+RESET\r\n");
    send_expect(&mut c, "GET missing\r\n", "$-1\r\n");
}

#[test]
fn pipeline_of_10000_split_at_odd_boundaries_keeps_order_across_shards() {
    let server = Server::start(2, 3);
    let mut c = server.connect();
    let mut request = String::new();
    let mut expected = String::new();
    for i in 0..10_000 {
        match i % 4 {
            0 => {
                request.push_str(&cmd(&["SET", &format!("key:{i}"), &format!("v{i}")]));
                expected.push_str("+OK\r\n");
            }
            1 => {
                request.push_str(&cmd(&["GET", &format!("key:{}", i - 1)]));
                expected.push_str(&bulk(&format!("v{}", i - 1)));
            }
            2 => {
                request.push_str("PING\r\n");
                expected.push_str("+PONG\r\n");
            }
            _ => {
                request.push_str(&cmd(&["GET", &format!("nokey:{i}")]));
                expected.push_str("$-1\r\n");
            }
        }
    }
    let mut writer = c.try_clone().unwrap();
    let bytes = request.into_bytes();
    let sender = std::thread::spawn(move || {
        // Chunk sizes that cut headers, lengths and CRLFs in every possible place.
        let sizes = [1usize, 7, 13, 2, 31, 64, 3, 509];
        let mut pos = 0;
        let mut i = 0;
        while pos < bytes.len() {
            let end = (pos + sizes[i % sizes.len()]).min(bytes.len());
            writer.write_all(&bytes[pos..end]).unwrap();
            pos = end;
            i += 1;
        }
    });
    let got = read_n(&mut c, expected.len());
    sender.join().unwrap();
    assert!(got == expected.as_bytes(), "pipelined replies differ");
}

#[test]
fn protocol_error_is_sent_after_earlier_replies_then_the_connection_closes() {
    let server = Server::start(1, 2);
    let mut c = server.connect();
    c.write_all(b"SET a 1\r\nGET a\r\n*1\r\n$x\r\nPING\r\n")
        .unwrap();
    let expect = "+OK\r\n$1\r\n1\r\n-ERR Protocol error: invalid bulk length\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut c, expect.len())),
        expect
    );
    assert_closed(&mut c);
}

#[test]
fn quit_replies_ok_and_closes() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    c.write_all(b"PING\r\nQUIT\r\nPING\r\n").unwrap();
    let expect = "+PONG\r\n+OK\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut c, expect.len())),
        expect
    );
    assert_closed(&mut c);
}

#[test]
fn slow_reader_does_not_block_other_clients() {
    let server = Server::start(1, 1);
    let mut slow = server.connect();
    let value = "x".repeat(256 * 1024);
    send_expect(&mut slow, &cmd(&["SET", "big", &value]), "+OK\r\n");
    // Ask for far more than the socket buffers hold and read none of it.
    let gets = cmd(&["GET", "big"]).repeat(200);
    slow.write_all(gets.as_bytes()).unwrap();
    let mut fast = server.connect();
    for _ in 0..50 {
        send_expect(&mut fast, "PING\r\n", "+PONG\r\n");
    }
    // The slow reader still gets every byte once it reads.
    let one = bulk(&value);
    for _ in 0..200 {
        assert!(read_n(&mut slow, one.len()) == one.as_bytes());
    }
}

#[test]
fn connections_on_all_io_threads_are_listed_and_killable() {
    let server = Server::start(3, 1);
    let mut clients: Vec<TcpStream> = (0..4).map(|_| server.connect()).collect();
    let mut ids = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        send_expect(c, &format!("CLIENT SETNAME c{i}\r\n"), "+OK\r\n");
        c.write_all(b"CLIENT ID\r\n").unwrap();
        let line = read_line(c);
        ids.push(line[1..].trim_end().parse::<u64>().unwrap());
    }
    assert_eq!(server.pool().client_count(), 4);
    let mut c0 = clients.remove(0);
    c0.write_all(b"CLIENT LIST\r\n").unwrap();
    let header = read_line(&mut c0);
    let len: usize = header[1..].trim_end().parse().unwrap();
    let body = String::from_utf8(read_n(&mut c0, len + 2)).unwrap();
    let lines: Vec<&str> = body.trim_end_matches("\r\n").lines().collect();
    assert_eq!(lines.len(), 4, "{body}");
    let mut sorted = ids.clone();
    sorted.sort();
    for (line, id) in lines.iter().zip(&sorted) {
        assert!(
            line.starts_with(&format!("id={id} addr=127.0.0.1:")),
            "{line}"
        );
        let i = ids.iter().position(|x| x == id).unwrap();
        assert!(line.contains(&format!(" name=c{i} age=")), "{line}");
        assert!(line.ends_with(" user=default redir=-1 resp=2"), "{line}");
    }
    let mine = lines.iter().find(|l| l.contains(" name=c0 ")).unwrap();
    assert!(
        mine.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 "),
        "{mine}"
    );
    assert!(
        mine.contains(" events=r cmd=client|list user=default"),
        "{mine}"
    );

    // Kill clients (each on another IO thread than c0) by id and by address in the old form.
    send_expect(&mut c0, &format!("CLIENT KILL ID {}\r\n", ids[1]), ":1\r\n");
    assert_closed(&mut clients[0]);
    let addr = clients[1].local_addr().unwrap();
    send_expect(&mut c0, &format!("CLIENT KILL {addr}\r\n"), "+OK\r\n");
    assert_closed(&mut clients[1]);
    send_expect(
        &mut c0,
        "CLIENT KILL 1.2.3.4:5\r\n",
        "-ERR No such client\r\n",
    );
    send_expect(&mut c0, &format!("CLIENT KILL ID {}\r\n", ids[0]), ":0\r\n");
    send_expect(
        &mut c0,
        &format!("CLIENT KILL ID {} SKIPME no\r\n", ids[0]),
        ":1\r\n",
    );
    assert_closed(&mut c0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.pool().client_count() != 1 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(server.pool().client_count(), 1);
}

/// Sends an INFO command and returns the bulk reply's text.
fn info(c: &mut TcpStream, command: &str) -> String {
    c.write_all(command.as_bytes()).unwrap();
    let header = read_line(c);
    let len: usize = header[1..].trim_end().parse().unwrap();
    String::from_utf8(read_n(c, len + 2)).unwrap()
}

fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn requirepass_gates_everything_but_auth_hello_quit_reset() {
    let hooks = Hooks {
        password: Mutex::new(Some("sec".into())),
        ..Default::default()
    };
    let server = Server::with_hooks(1, 1, hooks);
    let mut c = server.connect();
    send_expect(&mut c, "GET a\r\n", "-NOAUTH Authentication required.\r\n");
    send_expect(&mut c, "PING\r\n", "-NOAUTH Authentication required.\r\n");
    send_expect(
        &mut c,
        "AUTH nope\r\n",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    send_expect(&mut c, "AUTH sec\r\n", "+OK\r\n");
    send_expect(&mut c, "PING\r\n", "+PONG\r\n");
    send_expect(&mut c, "RESET\r\n", "+RESET\r\n");
    send_expect(&mut c, "PING\r\n", "-NOAUTH Authentication required.\r\n");
    send_expect(&mut c, "AUTH default sec\r\n", "+OK\r\n");
    send_expect(&mut c, "PING\r\n", "+PONG\r\n");
    // Once authenticated, requests may be large again, even pipelined right after AUTH.
    let big = "x".repeat(20_000);
    send_expect(
        &mut c,
        &format!("RESET\r\nAUTH sec\r\n{}", cmd(&["ECHO", &big])),
        &format!("+RESET\r\n+OK\r\n{}", bulk(&big)),
    );

    // Before AUTH, Redis limits request sizes; over them is a protocol error.
    let mut stranger = server.connect();
    stranger.write_all(b"*11\r\n").unwrap();
    let expect = "-ERR Protocol error: unauthenticated multibulk length\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut stranger, expect.len())),
        expect
    );
    assert_closed(&mut stranger);
    let mut stranger = server.connect();
    stranger
        .write_all(b"*2\r\n$4\r\nECHO\r\n$16385\r\n")
        .unwrap();
    let expect = "-ERR Protocol error: unauthenticated bulk length\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut stranger, expect.len())),
        expect
    );
    assert_closed(&mut stranger);
}

#[test]
fn local_command_errors_match_redis() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    send_expect(
        &mut c,
        "AUTH x\r\n",
        "-ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?\r\n",
    );
    send_expect(
        &mut c,
        "SELECT x\r\n",
        "-ERR value is not an integer or out of range\r\n",
    );
    send_expect(&mut c, "SELECT 16\r\n", "-ERR DB index is out of range\r\n");
    send_expect(
        &mut c,
        "CLIENT SETNAME \"a b\"\r\n",
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    send_expect(
        &mut c,
        "CLIENT NOPE\r\n",
        "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n",
    );
    send_expect(
        &mut c,
        "HELLO x\r\n",
        "-ERR Protocol version is not an integer or out of range\r\n",
    );
    send_expect(&mut c, "WAIT 0 0\r\n", ":0\r\n");
    send_expect(
        &mut c,
        "SHUTDOWN ABORT\r\n",
        "-ERR No shutdown in progress.\r\n",
    );
}

#[test]
fn select_routes_with_the_connection_database() {
    let server = Server::start(1, 2);
    let mut c = server.connect();
    send_expect(
        &mut c,
        "SET k zero\r\nSELECT 1\r\nGET k\r\nSET k one\r\n",
        "+OK\r\n+OK\r\n$-1\r\n+OK\r\n",
    );
    send_expect(&mut c, "SELECT 0\r\nGET k\r\n", "+OK\r\n$4\r\nzero\r\n");
}

#[test]
fn client_reply_off_and_skip_swallow_replies() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    c.write_all(b"CLIENT REPLY OFF\r\nSET a 1\r\nPING\r\nCLIENT REPLY ON\r\nGET a\r\n")
        .unwrap();
    let expect = "+OK\r\n$1\r\n1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut c, expect.len())),
        expect
    );
    send_expect(
        &mut c,
        "CLIENT REPLY SKIP\r\nPING\r\nPING x\r\n",
        "$1\r\nx\r\n",
    );
    // RESET turns replies back on and answers.
    send_expect(
        &mut c,
        "CLIENT REPLY OFF\r\nPING\r\nRESET\r\nPING\r\n",
        "+RESET\r\n+PONG\r\n",
    );
}

#[test]
fn shutdown_flushes_and_joins() {
    let server = Server::start(2, 2);
    let mut c = server.connect();
    send_expect(&mut c, "SET a 1\r\n", "+OK\r\n");
    drop(server);
    assert_closed(&mut c);
}

#[test]
fn fan_out_commands_keep_pipeline_order_across_shards() {
    let server = Server::start(2, 4);
    let mut c = server.connect();
    let mut request = String::new();
    let mut expected = String::new();
    for i in 0..200 {
        let k = |name: &str| format!("{name}{i}");
        let (a, b, c2, d, x, y, p, q, r) = (
            k("a"),
            k("b"),
            k("c"),
            k("d"),
            k("x"),
            k("y"),
            k("p"),
            k("q"),
            k("r"),
        );
        request.push_str(&cmd(&["MSET", &a, "1", &b, "2", &c2, "3", &d, "4"]));
        expected.push_str("+OK\r\n");
        request.push_str(&cmd(&["MGET", &a, &b, &c2, &d, "nokey"]));
        expected.push_str("*5\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$-1\r\n");
        request.push_str(&cmd(&["DEL", &a, &b]));
        expected.push_str(":2\r\n");
        request.push_str(&cmd(&["EXISTS", &a, &b, &c2, &d, &c2]));
        expected.push_str(":3\r\n");
        request.push_str(&cmd(&["SET", &x, "1"]));
        expected.push_str("+OK\r\n");
        request.push_str(&cmd(&["RENAME", &x, &y]));
        expected.push_str("+OK\r\n");
        request.push_str(&cmd(&["GET", &y]));
        expected.push_str("$1\r\n1\r\n");
        // MSETNX spans shards in two rounds: a barrier that later commands must wait for.
        request.push_str(&cmd(&["MSETNX", &p, "1", &q, "2"]));
        expected.push_str(":1\r\n");
        request.push_str(&cmd(&["MSETNX", &q, "3", &r, "4"]));
        expected.push_str(":0\r\n");
        request.push_str(&cmd(&["MGET", &p, &q, &r]));
        expected.push_str("*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
        request.push_str("PING\r\n");
        expected.push_str("+PONG\r\n");
    }
    let mut writer = c.try_clone().unwrap();
    let bytes = request.into_bytes();
    let sender = std::thread::spawn(move || {
        for chunk in bytes.chunks(333) {
            writer.write_all(chunk).unwrap();
        }
    });
    let got = read_n(&mut c, expected.len());
    sender.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expected);
    send_expect(&mut c, "DBSIZE\r\n", ":1000\r\n");
}

#[test]
fn info_reports_clients_commands_and_keyspace() {
    let server = Server::start(2, 2);
    let mut c = server.connect();
    send_expect(&mut c, "MSET a 1 b 2 c 3\r\n", "+OK\r\n");
    // Shards publish their counters after answering a batch, so poll until they catch up.
    let expected = "# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n\r\n";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = info(&mut c, "INFO keyspace\r\n");
        if body == expected || Instant::now() >= deadline {
            assert_eq!(body, expected);
            break;
        }
    }

    let body = info(&mut c, "INFO\r\n");
    assert!(
        body.starts_with("# Server\r\nredis_version:7.0.15\r\n"),
        "{body}"
    );
    assert!(
        body.contains("\r\n\r\n# Clients\r\nconnected_clients:1\r\n"),
        "{body}"
    );
    assert!(body.contains("\r\ntotal_commands_processed:"), "{body}");
    assert!(
        body.contains("\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"),
        "{body}"
    );
    assert!(!body.contains("# Commandstats"), "{body}");

    let body = info(&mut c, "INFO commandstats\r\n");
    assert!(body.starts_with("# Commandstats\r\n"), "{body}");
    assert!(body.contains("\r\ncmdstat_info:calls="), "{body}");
    assert!(body.contains("\r\ncmdstat_mset:calls=1,usec="), "{body}");
    send_expect(&mut c, "INFO nosuchsection\r\n", "$0\r\n\r\n");
}

#[test]
fn command_docs_and_info_have_redis_shapes() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    send_expect(
        &mut c,
        "COMMAND INFO get nosuch\r\n",
        "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
         *3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n\
         +access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n\
         *2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n\
         $4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n\
         *0\r\n$-1\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND DOCS get\r\n",
        "*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n\
         $5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n\
         $4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*6\r\n$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n\
         $3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n",
    );
    send_expect(&mut c, "COMMAND GETKEYS set a b\r\n", "*1\r\n$1\r\na\r\n");
    send_expect(
        &mut c,
        "COMMAND GETKEYS zunionstore d 2 a b WEIGHTS 1 2\r\n",
        "*3\r\n$1\r\nd\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND GETKEYSANDFLAGS lmpop 1 a LEFT\r\n",
        "*1\r\n*2\r\n$1\r\na\r\n*3\r\n+RW\r\n+access\r\n+delete\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND GETKEYS zmpop 0 a MIN\r\n",
        "-ERR Invalid arguments specified for command\r\n",
    );
    // COMMAND LIST names subcommands too, as `parent|sub`.
    send_expect(
        &mut c,
        "COMMAND LIST FILTERBY PATTERN config|g*\r\n",
        "*1\r\n$10\r\nconfig|get\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND GETKEYS ping x\r\n",
        "-ERR The command has no key arguments\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND GETKEYS nosuch x\r\n",
        "-ERR Invalid command specified\r\n",
    );
    send_expect(
        &mut c,
        "COMMAND GETKEYS get a b\r\n",
        "-ERR Invalid number of arguments specified for command\r\n",
    );
}

#[test]
fn a_client_that_vanishes_mid_pipeline_is_cleaned_up() {
    let server = Server::start(1, 2);
    {
        let mut gone = server.connect();
        let burst = cmd(&["SET", "k", "v"]).repeat(5000);
        gone.write_all(burst.as_bytes()).unwrap();
        gone.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk").unwrap();
    }
    let mut c = server.connect();
    send_expect(&mut c, "GET k\r\n", "$1\r\nv\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.pool().client_count() != 1 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(server.pool().client_count(), 1);
}

#[test]
fn shutdown_command_asks_the_server_to_stop_and_closes_without_a_reply() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    send_expect(&mut c, "SHUTDOWN FOO\r\n", "-ERR syntax error\r\n");
    c.write_all(b"SHUTDOWN NOSAVE\r\n").unwrap();
    assert_closed(&mut c);
    assert_eq!(*server.hooks.shutdowns.lock().unwrap(), 1);
}

#[test]
fn time_lastsave_debug_sleep_and_config_set() {
    let server = Server::start(1, 1);
    let mut c = server.connect();
    c.write_all(b"TIME\r\n").unwrap();
    assert_eq!(read_line(&mut c), "*2\r\n");
    let secs_len = read_line(&mut c);
    let secs: u64 = String::from_utf8(read_n(&mut c, secs_len[1..].trim_end().parse().unwrap()))
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs > 1_600_000_000);
    read_line(&mut c);
    let _micros = read_line(&mut c);
    read_line(&mut c);
    c.write_all(b"LASTSAVE\r\n").unwrap();
    let lastsave: u64 = read_line(&mut c)[1..].trim_end().parse().unwrap();
    assert!(lastsave <= secs + 1 && lastsave + 3600 > secs);
    send_expect(&mut c, "DEBUG SLEEP 0\r\n", "+OK\r\n");
    send_expect(
        &mut c,
        "DEBUG FOO\r\n",
        "-ERR unknown subcommand 'FOO'. Try DEBUG HELP.\r\n",
    );
    send_expect(&mut c, "CONFIG SET a b c\r\n", "-ERR syntax error\r\n");
    send_expect(
        &mut c,
        "CONFIG SET foo bar\r\n",
        "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n",
    );
    send_expect(
        &mut c,
        "CONFIG GET maxmemory\r\n",
        "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
    );
    // A password set at runtime applies to connections made afterwards, as in Redis.
    send_expect(&mut c, "CONFIG SET requirepass pw\r\n", "+OK\r\n");
    send_expect(&mut c, "PING\r\n", "+PONG\r\n");
    let mut late = server.connect();
    send_expect(
        &mut late,
        "PING\r\n",
        "-NOAUTH Authentication required.\r\n",
    );
    send_expect(
        &mut late,
        "HELLO 2 AUTH default pw SETNAME late\r\n",
        "*14\r\n",
    );
}

#[test]
fn large_bulk_strings_in_and_out() {
    let server = Server::start(1, 2);
    let mut c = server.connect();
    let value: String = (0..3 * 1024 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let mut writer = c.try_clone().unwrap();
    let set = cmd(&["SET", "big", &value]) + &cmd(&["GET", "big"]) + "PING\r\n";
    let sender = std::thread::spawn(move || {
        for chunk in set.as_bytes().chunks(100_003) {
            writer.write_all(chunk).unwrap();
        }
    });
    let expected = format!("+OK\r\n{}+PONG\r\n", bulk(&value));
    let got = read_n(&mut c, expected.len());
    sender.join().unwrap();
    assert!(got == expected.as_bytes());
    // A bulk length over proto-max-bulk-len is a protocol error, not an allocation.
    c.write_all(b"*2\r\n$3\r\nGET\r\n$999999999999\r\n")
        .unwrap();
    let expect = "-ERR Protocol error: invalid bulk length\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut c, expect.len())),
        expect
    );
    assert_closed(&mut c);
}

#[test]
fn random_garbage_never_takes_a_loop_down() {
    let server = Server::start(2, 2);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"*$+-:\r\n 0123456789abcdefgGETSETPINGCLIENTHELLO\"'\\";
    for _ in 0..40 {
        let mut c = server.connect();
        let len = 1 + (next() % 2000) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        // The server may close the connection part way (protocol error); that is fine.
        let _ = c.write_all(&bytes);
        let _ = c.write_all(b"\r\nQUIT\r\n");
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
    }
    let mut c = server.connect();
    send_expect(&mut c, "PING\r\n", "+PONG\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.pool().client_count() != 1 && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(server.pool().client_count(), 1);
}

#[test]
fn a_half_closed_client_gets_every_reply_even_past_backpressure() {
    let server = Server::start(1, 2);
    let mut c = server.connect();
    send_expect(&mut c, "SET k v\r\n", "+OK\r\n");
    // More commands than a connection may have in flight, so parsing pauses part way, and
    // must resume after the client has stopped sending.
    let n = 100_000;
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        writer.write_all("GET k\r\n".repeat(n).as_bytes()).unwrap();
        writer.write_all(b"PING\r\n").unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let expected = "$1\r\nv\r\n".repeat(n) + "+PONG\r\n";
    assert!(read_n(&mut c, expected.len()) == expected.as_bytes());
    sender.join().unwrap();
    assert_closed(&mut c);
}
