//! The load generator: C connections spread over T client threads, each thread one `polling`
//! event loop over the connections it owns, every connection keeping P requests in flight.
//!
//! Requests are encoded once into a template per command and only the key digits are patched
//! per request, so issuing a request allocates nothing. Replies are parsed with
//! `resp_codec::decode_frame`. Each request's latency (time the batch holding it was written to
//! the time the read holding its reply returned, in µs) goes into the thread's HDR histogram;
//! the histograms are merged at the end.
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use polling::{Event, Events, PollMode, Poller};

/// Number of decimal digits in every key (`key:000000123456`), the format redis-benchmark
/// uses for `key:__rand_int__`, so both generators hit the same keys.
const KEY_DIGITS: usize = 12;
const KEY_PLACEHOLDER: &[u8] = b"key:000000000000";
/// Key families of the soak mix, one per type, so no command meets a key of another type.
const COUNTER_PLACEHOLDER: &[u8] = b"ctr:000000000000";
const LIST_PLACEHOLDER: &[u8] = b"lst:000000000000";
const HASH_PLACEHOLDER: &[u8] = b"hsh:000000000000";
const PLACEHOLDERS: [&[u8]; 4] = [
    KEY_PLACEHOLDER,
    COUNTER_PLACEHOLDER,
    LIST_PLACEHOLDER,
    HASH_PLACEHOLDER,
];
/// Longest a soak list gets: every LPUSH is followed by an LTRIM to this length, so memory
/// stays flat however long the run.
const SOAK_LIST_LEN: usize = 16;

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `SET key value`.
    Set,
    /// `GET key`.
    Get,
    /// `sets` SETs then `gets` GETs, repeating.
    Mix {
        /// SETs per cycle.
        sets: u32,
        /// GETs per cycle.
        gets: u32,
    },
    /// `MGET k1 .. kn`, counted as one request.
    Mget {
        /// Keys per MGET.
        keys: usize,
    },
    /// The soak mix, in turn: `SET`, `GET`, `INCR`, `LPUSH` then `LTRIM` of the same list (at
    /// most [`SOAK_LIST_LEN`] long), `HSET`, `MGET` of 4 keys; each type on its own key family.
    Soak,
}

/// How keys are drawn from the key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// Uniformly at random.
    Random,
    /// Each thread walks its own slice of the key space in order (used to load every key once).
    Sequential,
}

/// When a run stops issuing requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Limit {
    /// After this many requests in total.
    Requests(u64),
    /// After this long; requests in flight at the deadline still complete and count.
    Duration(Duration),
}

/// One load generator run.
#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub(crate) addr: SocketAddr,
    pub(crate) connections: usize,
    pub(crate) threads: usize,
    pub(crate) pipeline: usize,
    pub(crate) keyspace: u64,
    pub(crate) value_size: usize,
    pub(crate) op: Op,
    pub(crate) keys: KeyOrder,
    pub(crate) limit: Limit,
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct LoadResult {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    /// Per-request latency in µs.
    pub(crate) histogram: Histogram<u64>,
}

impl LoadResult {
    pub(crate) fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `w` to completion and returns the merged measurements.
pub(crate) fn run(w: &Workload) -> Result<LoadResult> {
    if w.connections == 0 || w.threads == 0 || w.pipeline == 0 || w.keyspace == 0 {
        bail!("connections, threads, pipeline and keyspace must all be at least 1");
    }
    let threads = w.threads.min(w.connections);
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let w = w.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::Builder::new()
                .name(format!("loadgen-{t}"))
                .spawn(move || ClientThread::connect(&w, t, threads)?.run(&barrier))
                .context("spawning a load generator thread")
        })
        .collect::<Result<_>>()?;
    let mut total = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        histogram: new_histogram(),
    };
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                total.requests += r.requests;
                total.errors += r.errors;
                total.elapsed = total.elapsed.max(r.elapsed);
                total
                    .histogram
                    .add(&r.histogram)
                    .context("merging histograms")?;
            }
            Ok(Err(e)) => first_err = first_err.or(Some(e)),
            Err(_) => first_err = first_err.or(Some(anyhow::anyhow!("a client thread panicked"))),
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 60 s at 3 significant digits; values beyond saturate rather than fail.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static histogram bounds are valid")
}

/// A request template: encoded bytes with the offsets of each key's digits.
#[derive(Debug)]
struct Template {
    bytes: Vec<u8>,
    key_digits: Vec<usize>,
}

impl Template {
    fn new(args: &[&[u8]]) -> Template {
        let mut out = resp_codec::BytesMut::new();
        let req = resp_codec::Request::new(
            args.iter()
                .map(|a| resp_codec::Bytes::copy_from_slice(a))
                .collect(),
        );
        req.encode(&mut out);
        let bytes = out.to_vec();
        let key_digits = bytes
            .windows(KEY_PLACEHOLDER.len())
            .enumerate()
            .filter(|(_, w)| PLACEHOLDERS.contains(w))
            .map(|(i, _)| i + KEY_PLACEHOLDER.len() - KEY_DIGITS)
            .collect();
        Template { bytes, key_digits }
    }
}

/// Writes `n` as exactly [`KEY_DIGITS`] zero-padded decimal digits.
fn write_key_digits(dst: &mut [u8], mut n: u64) {
    for d in dst[..KEY_DIGITS].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The templates for one [`Op`] and the cycle through them.
#[derive(Debug)]
struct Requests {
    set: Template,
    get: Template,
    mget: Template,
    /// The soak mix: each template, and whether it reuses the previous request's key.
    soak: Vec<(Template, bool)>,
    last_key: u64,
    op: Op,
    cycle: u64,
}

impl Requests {
    fn new(op: Op, value_size: usize) -> Requests {
        let value = vec![b'x'; value_size];
        let mget_keys = match op {
            Op::Mget { keys } => keys.max(1),
            _ => 1,
        };
        let mut mget_args: Vec<&[u8]> = vec![b"MGET"];
        mget_args.extend(std::iter::repeat_n(KEY_PLACEHOLDER, mget_keys));
        let trim_stop = (SOAK_LIST_LEN - 1).to_string();
        let soak = match op {
            Op::Soak => vec![
                (Template::new(&[b"SET", KEY_PLACEHOLDER, &value]), false),
                (Template::new(&[b"GET", KEY_PLACEHOLDER]), false),
                (Template::new(&[b"INCR", COUNTER_PLACEHOLDER]), false),
                (Template::new(&[b"LPUSH", LIST_PLACEHOLDER, &value]), false),
                (
                    Template::new(&[b"LTRIM", LIST_PLACEHOLDER, b"0", trim_stop.as_bytes()]),
                    true,
                ),
                (
                    Template::new(&[b"HSET", HASH_PLACEHOLDER, b"f", &value]),
                    false,
                ),
                (
                    Template::new(&[
                        b"MGET",
                        KEY_PLACEHOLDER,
                        KEY_PLACEHOLDER,
                        KEY_PLACEHOLDER,
                        KEY_PLACEHOLDER,
                    ]),
                    false,
                ),
            ],
            _ => Vec::new(),
        };
        Requests {
            set: Template::new(&[b"SET", KEY_PLACEHOLDER, &value]),
            get: Template::new(&[b"GET", KEY_PLACEHOLDER]),
            mget: Template::new(&mget_args),
            soak,
            last_key: 0,
            op,
            cycle: 0,
        }
    }

    /// Appends the next request to `out`, drawing its keys from `keys`.
    fn encode_next(&mut self, out: &mut Vec<u8>, keys: &mut KeyGen) {
        if self.op == Op::Soak {
            let (t, reuse) = &self.soak[(self.cycle % self.soak.len() as u64) as usize];
            self.cycle += 1;
            let start = out.len();
            out.extend_from_slice(&t.bytes);
            for &at in &t.key_digits {
                if !reuse {
                    self.last_key = keys.next_key();
                }
                write_key_digits(&mut out[start + at..], self.last_key);
            }
            return;
        }
        let t = match self.op {
            Op::Set => &self.set,
            Op::Get => &self.get,
            Op::Mget { .. } | Op::Soak => &self.mget,
            Op::Mix { sets, gets } => {
                let i = self.cycle % u64::from(sets + gets).max(1);
                self.cycle += 1;
                if i < u64::from(sets) {
                    &self.set
                } else {
                    &self.get
                }
            }
        };
        let start = out.len();
        out.extend_from_slice(&t.bytes);
        for &at in &t.key_digits {
            write_key_digits(&mut out[start + at..], keys.next_key());
        }
    }
}

/// Key source for one client thread.
#[derive(Debug)]
struct KeyGen {
    order: KeyOrder,
    keyspace: u64,
    state: u64,
    /// The thread's own slice of the key space, for [`KeyOrder::Sequential`].
    lo: u64,
    hi: u64,
    next: u64,
}

impl KeyGen {
    fn new(order: KeyOrder, keyspace: u64, thread: usize, threads: usize) -> KeyGen {
        let (t, n) = (thread as u64, threads as u64);
        let lo = keyspace * t / n;
        let hi = (keyspace * (t + 1) / n).max(lo + 1);
        KeyGen {
            order,
            keyspace,
            // Any non-zero seed works for xorshift; distinct per thread so threads differ.
            state: 0x9E37_79B9_7F4A_7C15 ^ (t + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            lo,
            hi,
            next: lo,
        }
    }

    fn next_key(&mut self) -> u64 {
        match self.order {
            KeyOrder::Sequential => {
                let k = self.next;
                self.next = if k + 1 >= self.hi { self.lo } else { k + 1 };
                k
            }
            KeyOrder::Random => {
                // xorshift64*: plenty for picking keys, and costs a few cycles.
                let mut x = self.state;
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                self.state = x;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) % self.keyspace
            }
        }
    }
}

/// One connection: its socket, unsent bytes, unparsed reply bytes, and when each request in
/// flight was sent.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    out_pos: usize,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    sent_at: VecDeque<Instant>,
    /// Whether the poller also watches for writability (only while `out` has unsent bytes).
    watch_write: bool,
    closed: bool,
}

/// Smallest free space a read gets; replies larger than the buffer grow it.
const READ_CHUNK: usize = 16 * 1024;

impl Conn {
    fn open(addr: SocketAddr, pipeline: usize) -> Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            out: Vec::with_capacity(4096),
            out_pos: 0,
            inbuf: vec![0; READ_CHUNK * 2],
            in_start: 0,
            in_end: 0,
            sent_at: VecDeque::with_capacity(pipeline),
            watch_write: false,
            closed: false,
        })
    }

    /// Reads what the socket has.
    fn fill(&mut self) -> Result<()> {
        loop {
            if self.in_start == self.in_end {
                self.in_start = 0;
                self.in_end = 0;
            }
            if self.inbuf.len() - self.in_end < READ_CHUNK {
                self.inbuf.copy_within(self.in_start..self.in_end, 0);
                self.in_end -= self.in_start;
                self.in_start = 0;
                if self.inbuf.len() - self.in_end < READ_CHUNK {
                    self.inbuf.resize(self.inbuf.len() * 2, 0);
                }
            }
            let room = self.inbuf.len() - self.in_end;
            match self.stream.read(&mut self.inbuf[self.in_end..]) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.in_end += n;
                    // A short read means the socket is drained; epoll is level-triggered and
                    // reports it again if more arrives, so skip the read that would only say
                    // WouldBlock (one syscall per reply saved at pipeline 1).
                    if n < room {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("reading replies"),
            }
        }
    }

    /// Writes unsent bytes until done or the socket would block.
    fn flush(&mut self) -> Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => bail!("server closed the connection"),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("sending requests"),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    fn pending_write(&self) -> bool {
        self.out_pos < self.out.len()
    }
}

/// One client thread: its connections, poller, key source and measurements.
#[derive(Debug)]
struct ClientThread {
    poller: Poller,
    conns: Vec<Conn>,
    requests: Requests,
    keys: KeyGen,
    pipeline: usize,
    /// Requests this thread may still issue (`u64::MAX` when the run is timed).
    budget: u64,
    duration: Option<Duration>,
    histogram: Histogram<u64>,
    done: u64,
    errors: u64,
}

impl ClientThread {
    fn connect(w: &Workload, thread: usize, threads: usize) -> Result<ClientThread> {
        let (t, n) = (thread, threads);
        let my_conns = w.connections * (t + 1) / n - w.connections * t / n;
        let keys = KeyGen::new(w.keys, w.keyspace, t, n);
        let (budget, duration) = match w.limit {
            Limit::Requests(total) => (
                total * (t as u64 + 1) / n as u64 - total * t as u64 / n as u64,
                None,
            ),
            Limit::Duration(d) => (u64::MAX, Some(d)),
        };
        let poller = Poller::new().context("creating a poller")?;
        let conns = (0..my_conns)
            .map(|_| Conn::open(w.addr, w.pipeline))
            .collect::<Result<Vec<_>>>()?;
        // Built before registering so that on any error the struct drops with the poller
        // (its first field) before the sockets, as `polling` requires.
        let thread = ClientThread {
            poller,
            conns,
            requests: Requests::new(w.op, w.value_size),
            keys,
            pipeline: w.pipeline,
            budget,
            duration,
            histogram: new_histogram(),
            done: 0,
            errors: 0,
        };
        for (i, c) in thread.conns.iter().enumerate() {
            sys::register(&thread.poller, &c.stream, i)?;
        }
        Ok(thread)
    }

    fn run(mut self, barrier: &Barrier) -> Result<LoadResult> {
        // Every thread connects before any starts, so connection set-up is not measured.
        barrier.wait();
        let start = Instant::now();
        let deadline = self.duration.map(|d| start + d);
        for i in 0..self.conns.len() {
            self.top_up(i, start)?;
        }
        let mut events = Events::new();
        let mut in_flight: usize = self.conns.iter().map(|c| c.sent_at.len()).sum();
        while in_flight > 0 {
            events.clear();
            self.poller
                .wait(&mut events, Some(Duration::from_millis(100)))
                .context("waiting for events")?;
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.budget = 0;
            }
            for ev in events.iter() {
                let i = ev.key;
                let c = &mut self.conns[i];
                if ev.readable {
                    c.fill()?;
                    let (done, errors) = drain_replies(c, now, &mut self.histogram)?;
                    self.done += done;
                    self.errors += errors;
                    in_flight -= done as usize;
                    if c.closed && !c.sent_at.is_empty() {
                        bail!(
                            "server closed a connection with {} requests in flight",
                            c.sent_at.len()
                        );
                    }
                }
                let before = self.conns[i].sent_at.len();
                self.top_up(i, now)?;
                in_flight += self.conns[i].sent_at.len() - before;
            }
        }
        let elapsed = start.elapsed();
        for c in &self.conns {
            // Closing the socket without deleting it first would break the poller's contract.
            self.poller
                .delete(&c.stream)
                .context("deregistering a connection")?;
        }
        Ok(LoadResult {
            requests: self.done,
            errors: self.errors,
            elapsed,
            histogram: self.histogram,
        })
    }

    /// Issues requests on connection `i` until it has `pipeline` in flight or the budget is
    /// spent, writes them in one go, and watches for writability only while bytes remain.
    fn top_up(&mut self, i: usize, now: Instant) -> Result<()> {
        let c = &mut self.conns[i];
        while c.sent_at.len() < self.pipeline && self.budget > 0 {
            self.requests.encode_next(&mut c.out, &mut self.keys);
            c.sent_at.push_back(now);
            self.budget -= 1;
        }
        c.flush()?;
        let want = c.pending_write();
        if want != c.watch_write {
            let ev = if want {
                Event::all(i)
            } else {
                Event::readable(i)
            };
            self.poller
                .modify_with_mode(&c.stream, ev, PollMode::Level)
                .context("re-arming a connection")?;
            c.watch_write = want;
        }
        Ok(())
    }
}

/// Parses every complete reply in `c`'s buffer, recording each request's latency.
/// Returns how many replies, and how many of them were errors.
fn drain_replies(c: &mut Conn, now: Instant, hist: &mut Histogram<u64>) -> Result<(u64, u64)> {
    let (mut done, mut errors) = (0, 0);
    while c.in_start < c.in_end {
        let Some((is_error, used)) = reply::parse(&c.inbuf[c.in_start..c.in_end])? else {
            break;
        };
        c.in_start += used;
        let Some(sent) = c.sent_at.pop_front() else {
            bail!("server sent a reply nobody asked for");
        };
        hist.saturating_record((now - sent).as_micros().max(1) as u64);
        done += 1;
        errors += u64::from(is_error);
    }
    Ok((done, errors))
}

/// The one place this crate needs `unsafe`: `polling` requires a source to be deleted before it
/// is closed, which [`ClientThread::run`] does for every connection it registers.
mod sys {
    use super::*;

    #[allow(unsafe_code)]
    pub(super) fn register(poller: &Poller, stream: &TcpStream, key: usize) -> Result<()> {
        // SAFETY: `ClientThread::run` deletes every registered stream before the sockets are
        // dropped, and on an early error `ClientThread` drops its poller (its first field)
        // before its connections.
        unsafe { poller.add_with_mode(stream, Event::readable(key), PollMode::Level) }
            .context("registering a connection")
    }
}

/// Reply parsing with the codec's client side.
mod reply {
    use anyhow::{Result, anyhow};
    use resp_codec::Frame;

    /// Parses one reply from the front of `buf`: whether it is an error, and its length.
    pub(super) fn parse(buf: &[u8]) -> Result<Option<(bool, usize)>> {
        match resp_codec::decode_frame(buf) {
            Ok(Some((frame, used))) => Ok(Some((
                matches!(frame, Frame::Error(_) | Frame::BlobError(_)),
                used,
            ))),
            Ok(None) => Ok(None),
            Err(e) => Err(anyhow!("bad reply from server: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_digits_are_zero_padded() {
        let mut buf = *b"key:000000000000";
        write_key_digits(&mut buf[4..], 1234567);
        assert_eq!(&buf, b"key:000001234567");
    }

    #[test]
    fn templates_patch_every_key() {
        let mut r = Requests::new(Op::Mget { keys: 2 }, 3);
        let mut keys = KeyGen::new(KeyOrder::Sequential, 10, 0, 1);
        let mut out = Vec::new();
        r.encode_next(&mut out, &mut keys);
        assert_eq!(
            out,
            b"*3\r\n$4\r\nMGET\r\n$16\r\nkey:000000000000\r\n$16\r\nkey:000000000001\r\n"
        );
        let mut r = Requests::new(Op::Mix { sets: 1, gets: 2 }, 2);
        out.clear();
        for _ in 0..3 {
            r.encode_next(&mut out, &mut keys);
        }
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000002\r\n$2\r\nxx\r\n\
              *2\r\n$3\r\nGET\r\n$16\r\nkey:000000000003\r\n\
              *2\r\n$3\r\nGET\r\n$16\r\nkey:000000000004\r\n"
        );
    }

    #[test]
    fn the_soak_mix_keeps_types_apart_and_trims_the_list_it_pushed() {
        let mut r = Requests::new(Op::Soak, 1);
        let mut keys = KeyGen::new(KeyOrder::Sequential, 100, 0, 1);
        let mut out = Vec::new();
        for _ in 0..7 {
            r.encode_next(&mut out, &mut keys);
        }
        let text = String::from_utf8(out).unwrap();
        let want = [
            "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000000\r\n$1\r\nx\r\n",
            "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n",
            "*2\r\n$4\r\nINCR\r\n$16\r\nctr:000000000002\r\n",
            "*3\r\n$5\r\nLPUSH\r\n$16\r\nlst:000000000003\r\n$1\r\nx\r\n",
            "*4\r\n$5\r\nLTRIM\r\n$16\r\nlst:000000000003\r\n$1\r\n0\r\n$2\r\n15\r\n",
            "*4\r\n$4\r\nHSET\r\n$16\r\nhsh:000000000004\r\n$1\r\nf\r\n$1\r\nx\r\n",
            "*5\r\n$4\r\nMGET\r\n$16\r\nkey:000000000005\r\n$16\r\nkey:000000000006\r\n$16\r\nkey:000000000007\r\n$16\r\nkey:000000000008\r\n",
        ]
        .concat();
        assert_eq!(text, want);
    }

    #[test]
    fn sequential_keys_split_the_keyspace_between_threads() {
        let mut a = KeyGen::new(KeyOrder::Sequential, 10, 0, 2);
        let mut b = KeyGen::new(KeyOrder::Sequential, 10, 1, 2);
        let xs: Vec<u64> = (0..6).map(|_| a.next_key()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_key()).collect();
        assert_eq!(xs, [0, 1, 2, 3, 4, 0]);
        assert_eq!(ys, [5, 6, 7, 8, 9]);
    }

    #[test]
    fn random_keys_stay_in_the_keyspace() {
        let mut g = KeyGen::new(KeyOrder::Random, 7, 1, 2);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[g.next_key() as usize] = true;
        }
        assert_eq!(seen, [true; 7]);
    }

    #[test]
    fn replies_are_delimited_and_errors_counted() {
        assert_eq!(reply::parse(b"+OK\r\n+O").unwrap(), Some((false, 5)));
        assert_eq!(reply::parse(b"-ERR x\r\n").unwrap(), Some((true, 8)));
        assert_eq!(reply::parse(b"$3\r\nabc\r\n").unwrap(), Some((false, 9)));
        assert_eq!(reply::parse(b"$3\r\nab").unwrap(), None);
        assert_eq!(reply::parse(b"$-1\r\n").unwrap(), Some((false, 5)));
        assert_eq!(
            reply::parse(b"*2\r\n$1\r\na\r\n$-1\r\n").unwrap(),
            Some((false, 16))
        );
        assert_eq!(reply::parse(b"*2\r\n$1\r\na\r\n").unwrap(), None);
        assert!(reply::parse(b"?\r\n").is_err());
    }
}
