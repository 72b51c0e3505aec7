//! The writer thread: appends the shards' chunks to the log file, fsyncs by policy, and
//! delivers the replies that waited for the disk (`appendfsync always`).
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::ShardId;
use crate::message::{Reply, ReplyBatch, ReplyBody, ReplySink};
use crate::route::PartReply;

use super::{AppendFsync as Fsync, WriteGate, lock};

/// One shard's records of one pass.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) first_db: u16,
    pub(crate) last_db: u16,
    pub(crate) bytes: Bytes,
    /// Parts of multi-shard transactions in `bytes`: `(seq, parts)`.
    pub(crate) txs: Vec<(u64, u32)>,
}

/// Replies a shard handed over, to deliver once its records are on disk.
pub(crate) type Held = (Arc<dyn ReplySink>, ReplyBatch);

#[derive(Debug)]
pub(crate) enum WriterMsg {
    Chunk {
        shard: ShardId,
        chunk: Option<Chunk>,
        replies: Vec<Held>,
    },
    /// `BGREWRITEAOF`'s cut: this shard's later chunks go to `file` (the new incremental
    /// file); once every shard has cut, the old file is closed.
    Cut {
        shard: ShardId,
        file: Arc<Mutex<Option<File>>>,
    },
    /// Writes and fsyncs everything received so far, then answers.
    Sync(flume::Sender<std::io::Result<()>>),
    /// Writes, fsyncs, delivers every reply still held and exits.
    Stop,
}

/// What the shards share with the writer.
#[derive(Debug)]
pub(crate) struct Inbox {
    pub(crate) tx: flume::Sender<WriterMsg>,
    /// `appendfsync always`: shards hand their replies to the writer.
    pub(crate) always: AtomicBool,
    /// Per shard: reply batches handed to the writer and not delivered yet.
    pub(crate) inflight: Vec<AtomicUsize>,
}

/// Counters and status for `INFO persistence` and `MISCONF`.
#[derive(Debug, Default)]
pub(crate) struct Status {
    pub(crate) write_ok: AtomicBool,
    pub(crate) last_error: Mutex<String>,
    /// Bytes of the current incremental file (the base is added by the caller).
    pub(crate) incr_size: AtomicU64,
    pub(crate) buffer_len: AtomicU64,
    /// `everysec` fsyncs that held the log's writes back for 2 s or more (Redis counts the
    /// writes it had to delay behind an fsync that old).
    pub(crate) delayed_fsync: AtomicU64,
    /// 1 while an `everysec` fsync runs (Redis's fsync job in its background thread).
    pub(crate) pending_fsync: AtomicU64,
    pub(crate) policy: AtomicU8,
}

/// Longest a reply waits for the other parts of a transaction before it goes out anyway
/// (only a bug could make parts go missing; a client must never hang on it).
const TX_PART_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a failed write is retried.
const RETRY_PERIOD: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    rx: flume::Receiver<WriterMsg>,
    inbox: Arc<Inbox>,
    status: Arc<Status>,
    gate: Arc<WriteGate>,
    file: File,
    size: u64,
    /// During a rewrite: the new incremental file and the shards already writing to it.
    next: Option<(File, Vec<bool>)>,
    next_buf: BytesMut,
    next_db: Option<u16>,
    next_size: u64,
    buf: BytesMut,
    file_db: Option<u16>,
    chunk_no: u64,
    /// Incomplete transactions: seq -> (first chunk, parts seen, parts, since).
    txs: HashMap<u64, (u64, u32, u32, Instant)>,
    /// During a rewrite: parts of transactions written to the old file, per seq, so a
    /// transaction split by the cut is known complete (see `KVDTXBASE` in `load.rs`).
    old_parts: HashMap<u64, (u32, u32)>,
    held: VecDeque<(u64, ShardId, Vec<Held>)>,
    last_fsync: Instant,
    unsynced: bool,
    failed: Option<Instant>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("size", &self.size).finish()
    }
}

fn select(buf: &mut BytesMut, db: u16) {
    let n = itoa::Buffer::new().format(db).to_owned();
    resp_codec::write_array_len(buf, 2);
    resp_codec::write_bulk(buf, b"SELECT");
    resp_codec::write_bulk(buf, n.as_bytes());
}

/// Redis's `strerror` text of an IO error (without Rust's `(os error N)`).
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

impl Writer {
    pub(crate) fn new(
        rx: flume::Receiver<WriterMsg>,
        inbox: Arc<Inbox>,
        status: Arc<Status>,
        gate: Arc<WriteGate>,
        file: File,
        size: u64,
    ) -> Writer {
        Writer {
            rx,
            inbox,
            status,
            gate,
            file,
            size,
            next: None,
            next_buf: BytesMut::new(),
            next_db: None,
            next_size: 0,
            buf: BytesMut::new(),
            file_db: None,
            chunk_no: 0,
            txs: HashMap::new(),
            old_parts: HashMap::new(),
            held: VecDeque::new(),
            last_fsync: Instant::now(),
            unsynced: false,
            failed: None,
        }
    }

    fn policy(&self) -> Fsync {
        Fsync::from_u8(self.status.policy.load(Ordering::Relaxed))
    }

    pub(crate) fn run(mut self) {
        loop {
            let timeout = if self.failed.is_some() {
                RETRY_PERIOD
            } else {
                Duration::from_millis(100)
            };
            let mut stop = false;
            match self.rx.recv_timeout(timeout) {
                Ok(msg) => stop = self.handle(msg),
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => stop = true,
            }
            // Group commit: everything queued meanwhile shares this write and fsync.
            for _ in 0..4096 {
                if stop {
                    break;
                }
                match self.rx.try_recv() {
                    Ok(msg) => stop = self.handle(msg),
                    Err(_) => break,
                }
            }
            self.flush(stop);
            self.release(stop);
            if stop {
                return;
            }
        }
    }

    /// Takes one message; true if it says to stop.
    fn handle(&mut self, msg: WriterMsg) -> bool {
        match msg {
            WriterMsg::Chunk {
                shard,
                chunk,
                replies,
            } => {
                let mut no = self.chunk_no;
                if let Some(c) = chunk {
                    no = self.chunk_no;
                    self.chunk_no += 1;
                    let to_next = self.next.as_ref().is_some_and(|(_, cut)| cut[shard]);
                    let (buf, db) = if to_next {
                        (&mut self.next_buf, &mut self.next_db)
                    } else {
                        (&mut self.buf, &mut self.file_db)
                    };
                    if *db != Some(c.first_db) {
                        select(buf, c.first_db);
                    }
                    buf.extend_from_slice(&c.bytes);
                    *db = Some(c.last_db);
                    for (seq, parts) in c.txs {
                        if self.next.is_some() && !to_next {
                            self.old_parts.entry(seq).or_insert((0, parts)).0 += 1;
                        }
                        let e = self
                            .txs
                            .entry(seq)
                            .or_insert((no, 0, parts, Instant::now()));
                        e.1 += 1;
                        // Intermediate hops' frames say 0; the last hop's say how many.
                        e.2 = e.2.max(parts);
                        if e.2 > 0 && e.1 >= e.2 {
                            self.txs.remove(&seq);
                        }
                    }
                }
                if !replies.is_empty() {
                    self.held.push_back((no, shard, replies));
                }
                let pending = (self.buf.len() + self.next_buf.len()) as u64;
                self.status.buffer_len.store(pending, Ordering::Relaxed);
            }
            WriterMsg::Cut { shard, file } => {
                if self.next.is_none()
                    && let Some(f) = lock(&file).take()
                {
                    let n = self.inbox.inflight.len();
                    self.next = Some((f, vec![false; n]));
                    self.next_size = 0;
                    self.next_db = None;
                    // Parts of incomplete transactions already in the old file.
                    self.old_parts = self.txs.iter().map(|(seq, t)| (*seq, (t.1, t.2))).collect();
                }
                if let Some((_, cut)) = &mut self.next {
                    cut[shard] = true;
                }
                if self
                    .next
                    .as_ref()
                    .is_some_and(|(_, cut)| cut.iter().all(|c| *c))
                {
                    // Every shard writes to the new file now: the old one is complete. A
                    // transaction with parts on both sides has its old parts in the base.
                    for (seq, (old, parts)) in std::mem::take(&mut self.old_parts) {
                        if old < parts {
                            let (s, o) = (seq.to_string(), old.to_string());
                            resp_codec::write_array_len(&mut self.next_buf, 3);
                            for a in [b"KVDTXBASE".as_slice(), s.as_bytes(), o.as_bytes()] {
                                resp_codec::write_bulk(&mut self.next_buf, a);
                            }
                        }
                    }
                    self.flush(true);
                    if let Some((f, _)) = self.next.take() {
                        self.file = f;
                        self.size = self.next_size;
                        self.buf = std::mem::take(&mut self.next_buf);
                        self.file_db = self.next_db.take();
                        self.status.incr_size.store(self.size, Ordering::Relaxed);
                    }
                }
            }
            WriterMsg::Sync(reply) => {
                self.flush(true);
                let result = match self.failed {
                    Some(_) => Err(std::io::Error::other(lock(&self.status.last_error).clone())),
                    None => Ok(()),
                };
                let _ = reply.send(result);
            }
            WriterMsg::Stop => return true,
        }
        false
    }

    fn fail(&mut self, e: &std::io::Error, what: &str) {
        let text = strerror(e);
        if self.failed.is_none() {
            tracing::error!("error {what} the AOF file: {text}");
        }
        *lock(&self.status.last_error) = text;
        self.failed = Some(Instant::now());
        self.status.write_ok.store(false, Ordering::Relaxed);
        self.gate.set_aof(true);
    }

    fn recovered(&mut self) {
        if self.failed.take().is_some() {
            tracing::warn!("AOF write error looks solved, Redis can write again.");
            self.status.write_ok.store(true, Ordering::Relaxed);
            self.gate.set_aof(false);
        }
    }

    /// Writes what is buffered, then fsyncs as the policy says (`force`: always).
    fn flush(&mut self, force: bool) {
        if self
            .failed
            .is_some_and(|t| t.elapsed() < RETRY_PERIOD && !force)
        {
            return;
        }
        if !self.next_buf.is_empty()
            && let Some((f, _)) = &mut self.next
        {
            match f.write_all(&self.next_buf) {
                Ok(()) => {
                    self.next_size += self.next_buf.len() as u64;
                    self.next_buf.clear();
                    self.unsynced = true;
                }
                Err(e) => {
                    let _ = f.set_len(self.next_size);
                    self.fail(&e, "writing");
                    return;
                }
            }
        }
        if !self.buf.is_empty() {
            match self.file.write_all(&self.buf) {
                Ok(()) => {
                    self.size += self.buf.len() as u64;
                    self.buf.clear();
                    self.unsynced = true;
                    self.status.incr_size.store(self.size, Ordering::Relaxed);
                }
                Err(e) => {
                    // Like Redis: remove a partial record so the file stays loadable.
                    let _ = self.file.set_len(self.size);
                    self.fail(&e, "writing");
                    return;
                }
            }
        }
        self.status.buffer_len.store(0, Ordering::Relaxed);
        let due = match self.policy() {
            Fsync::Always => true,
            Fsync::Everysec => self.last_fsync.elapsed() >= Duration::from_secs(1),
            Fsync::No => false,
        };
        if self.unsynced && (due || force) {
            // Redis runs this fsync in a background thread; here the writer does, and what
            // the shards send meanwhile waits in its queue.
            let background = !force && self.policy() == Fsync::Everysec;
            let started = Instant::now();
            if background {
                self.status.pending_fsync.store(1, Ordering::Relaxed);
            }
            let mut result = self.file.sync_data();
            if result.is_ok()
                && let Some((f, _)) = &self.next
            {
                result = f.sync_data();
            }
            if background {
                self.status.pending_fsync.store(0, Ordering::Relaxed);
                if started.elapsed() >= Duration::from_secs(2) {
                    self.status.delayed_fsync.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        elapsed = ?started.elapsed(),
                        "AOF fsync is taking too long (disk is busy?); log writes waited for it"
                    );
                }
            }
            match result {
                Ok(()) => {
                    self.unsynced = false;
                    self.last_fsync = Instant::now();
                }
                Err(e) => {
                    self.fail(&e, "fsyncing");
                    return;
                }
            }
        }
        self.recovered();
    }

    /// Delivers the replies whose records are on disk (as the policy requires) and whose
    /// transactions are complete.
    fn release(&mut self, all: bool) {
        if self.held.is_empty() {
            return;
        }
        let now = Instant::now();
        self.txs.retain(|seq, (_, seen, parts, since)| {
            let keep = now.duration_since(*since) < TX_PART_TIMEOUT;
            // Frames of intermediate hops alone (count 0) belong to a transaction cancelled
            // after them; anything else missing is a bug.
            if !keep && *parts > 0 {
                tracing::error!(seq, seen, parts, "AOF: transaction parts missing; going on");
            }
            keep
        });
        // Only transactions whose last hop ran hold replies back: the replies of an
        // intermediate hop are what its coordinator waits for to send the last one.
        let watermark = self
            .txs
            .values()
            .filter(|t| t.2 > 0)
            .map(|t| t.0)
            .min()
            .unwrap_or(u64::MAX);
        let durable = !self.unsynced || self.policy() != Fsync::Always;
        let error = self.failed.map(|_| {
            format!(
                "MISCONF Errors writing to the AOF file: {}",
                lock(&self.status.last_error)
            )
        });
        if !durable && error.is_none() && !all {
            return;
        }
        while let Some((no, _, _)) = self.held.front() {
            if *no >= watermark && !all {
                break;
            }
            let Some((_, shard, replies)) = self.held.pop_front() else {
                break;
            };
            for (sink, batch) in replies {
                let batch = match &error {
                    Some(msg) => failed_batch(batch, msg),
                    None => batch,
                };
                sink.deliver(batch);
            }
            self.inbox.inflight[shard].fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The batch with every reply replaced by the error `msg`: its writes are not on disk.
fn failed_batch(batch: ReplyBatch, msg: &str) -> ReplyBatch {
    let mut buf = BytesMut::new();
    let replies = batch
        .replies
        .into_iter()
        .map(|r| Reply {
            tag: r.tag,
            body: match r.body {
                ReplyBody::Encoded(_) => {
                    let start = buf.len();
                    resp_codec::write_error(&mut buf, msg.as_bytes());
                    ReplyBody::Encoded(start..buf.len())
                }
                ReplyBody::Part(_) => ReplyBody::Part(PartReply::error(msg)),
            },
        })
        .collect();
    ReplyBatch {
        shard: batch.shard,
        buf: buf.freeze(),
        replies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Sink(flume::Sender<ReplyBatch>);

    impl ReplySink for Sink {
        fn deliver(&self, batch: ReplyBatch) {
            let _ = self.0.send(batch);
        }
    }

    /// A disk that refuses writes (`/dev/full`: every write fails with ENOSPC): with
    /// `always`, the replies that waited for the write become Redis's `MISCONF` error, the
    /// status says `err` and the gate refuses further writes. Never a silent loss.
    #[test]
    fn a_failing_disk_turns_waiting_replies_into_misconf() {
        let Ok(file) = std::fs::OpenOptions::new().append(true).open("/dev/full") else {
            return;
        };
        let (tx, rx) = flume::unbounded();
        let inbox = Arc::new(Inbox {
            tx: tx.clone(),
            always: AtomicBool::new(true),
            inflight: vec![AtomicUsize::new(1)],
        });
        let status = Arc::new(Status::default());
        status.write_ok.store(true, Ordering::Relaxed);
        status.policy.store(Fsync::Always as u8, Ordering::Relaxed);
        let gate = Arc::new(WriteGate::default());
        let writer = Writer::new(rx, inbox, Arc::clone(&status), Arc::clone(&gate), file, 0);
        let thread = std::thread::spawn(move || writer.run());
        let (to, replies) = flume::unbounded();
        let sink: Arc<dyn ReplySink> = Arc::new(Sink(to));
        let batch = ReplyBatch {
            shard: 0,
            buf: Bytes::from_static(b"+OK\r\n"),
            replies: vec![Reply {
                tag: 7,
                body: ReplyBody::Encoded(0..5),
            }],
        };
        let chunk = Chunk {
            first_db: 0,
            last_db: 0,
            bytes: Bytes::from_static(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
            txs: Vec::new(),
        };
        tx.send(WriterMsg::Chunk {
            shard: 0,
            chunk: Some(chunk),
            replies: vec![(sink, batch)],
        })
        .unwrap();
        let got = replies.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got.replies[0].tag, 7);
        assert_eq!(
            &got.buf[..],
            b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
        );
        assert!(!status.write_ok.load(Ordering::Relaxed));
        assert!(gate.flag.load(Ordering::Relaxed));
        tx.send(WriterMsg::Stop).unwrap();
        thread.join().unwrap();
    }
}
