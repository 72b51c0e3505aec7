//! Snapshots of every shard into one RDB file, loading it at start, and the save schedule.
//!
//! A snapshot is an *all-shard transaction* of the scheduler (see the crate docs): it takes
//! a whole-shard lock on every shard under a number from the global sequence, so on each
//! shard it becomes ready only after every older transaction there has run and released,
//! and no younger one runs there before it released. Its run hop is the *cut*: each shard
//! marks (`BGSAVE`) or serializes (`SAVE`) its partition at that point of the schedule.
//! Every multi-shard transaction (`MSET`, `EXEC`, ...) is therefore wholly before or wholly
//! after the cut, on all its shards. While the snapshot is ready on a shard nothing else
//! runs there, and the run hops go out only once it is ready on every shard, so the cut is
//! also one instant for plain commands: whatever a client did after seeing one shard's cut
//! lands after every other shard's cut too.
//!
//! For `SAVE` each shard serializes its whole partition in the run hop, in parallel with the
//! others (as Redis's `SAVE` blocks). For `BGSAVE` (and the schedule) a shard only marks the
//! instant, then serializes in slices between batches (1 ms while idle; while busy, a third
//! of the time it served since the last slice, so clients keep three quarters of the shard),
//! with copy-before-write:
//! before it modifies, removes or creates a key in a slot not yet serialized, it serializes
//! that key's state at the snapshot instant first (see `keyspace::Snapshot`). Each slice's
//! bytes go to the writer thread through a bounded channel; a shard whose slice finds the
//! channel full skips that slice (it never blocks), so the memory the snapshot holds is the
//! queue's few slices plus the copies of entries written before the walk reached them.
//!
//! The snapshot transaction is driven like any other coordinator: by a thread of its own
//! (`BGSAVE`, the schedule, `SHUTDOWN`), or for the `SAVE` command by the connection's IO
//! thread ([`Persistence::save_command`]), which must not block while it drives other
//! clients' transactions that the snapshot may be queued behind.
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use resp_codec::{Frame, Protocol};

use crate::keyspace::Db;
use crate::message::{Batch, Op, OpKind, ReplyBatch, ReplyBody, ReplySink};
use crate::rdb::{self, RdbWriter};
use crate::route::{Coordinator, Part, PartReply, PartResult, Step};
use crate::sched::{TxItem, TxOut};
use crate::shard::Shard;
use crate::txn::{Scheduled, ShardPlan, TxBody};
use crate::{Error, ShardId, WorkerHandle};

/// Where snapshots go and when they are taken automatically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistConfig {
    /// Directory of the RDB file (`dir`).
    pub dir: PathBuf,
    /// File name of the RDB file (`dbfilename`).
    pub dbfilename: String,
    /// `save` points: a snapshot is taken when at least `changes` writes happened within
    /// `seconds` since the last successful save. Empty: no automatic snapshots.
    pub save_points: Vec<(u64, u64)>,
}

impl PersistConfig {
    /// The RDB file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.dbfilename)
    }
}

/// How a finished load went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadSummary {
    /// Keys loaded.
    pub keys_loaded: u64,
    /// Keys skipped because their time to live had passed.
    pub keys_expired: u64,
}

/// Delay before an automatic save is retried after a failure, as Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`.
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// How long a snapshot may wait to be ready on every shard before it gives up (only a stuck
/// transaction, e.g. of a thread blocked in `SHUTDOWN` itself, makes it wait that long).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Slices a background snapshot may have queued for the writer before shards skip theirs.
const SLICE_QUEUE: usize = 16;

#[derive(Debug)]
struct SaveState {
    /// An RDB save (`SAVE`, `BGSAVE`, the schedule) is running.
    in_progress: bool,
    /// An append-only log rewrite holds the snapshot machinery. `SAVE` may run beside it
    /// (its cut serializes in place); `BGSAVE` may not, as Redis refuses a second child.
    rewriting: bool,
    /// `BGSAVE SCHEDULE` during a rewrite: the save schedule starts it once the rewrite ends.
    bgsave_scheduled: bool,
    /// Unix seconds of the last successful save (or of the start).
    lastsave: i64,
    last_status_ok: bool,
    last_bgsave_secs: i64,
    bgsave_started: Option<Instant>,
    last_attempt: Option<Instant>,
    saves: u64,
    /// The sum of the shards' change counters when the last successful snapshot was taken.
    dirty_at_save: u64,
    /// Bumped by every save after `FLUSHALL`: a background save that started before one
    /// must not replace its (empty) file with older data (Redis kills that child).
    flushes: u64,
    load: LoadSummary,
}

/// The persistence of one server: snapshots (`SAVE`, `BGSAVE`, the `save` schedule),
/// `LASTSAVE`, `INFO persistence` and loading at start. Shared by the IO threads through the
/// server hooks.
#[derive(Debug)]
pub struct Persistence {
    pub(crate) workers: Vec<WorkerHandle>,
    pub(crate) databases: usize,
    config: Arc<Mutex<PersistConfig>>,
    state: Arc<Mutex<SaveState>>,
    finished: Condvar,
    /// Set once the final snapshot at shutdown is decided, so it is not taken twice.
    shutdown_handled: AtomicBool,
    /// Raised while writes must be refused (`MISCONF`); see [`Persistence::writes_blocked`].
    pub(crate) gate: Arc<crate::aof::WriteGate>,
    /// The append-only log (see `aof/`).
    pub(crate) aof: crate::aof::Aof,
}

fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One database of one shard, serialized.
#[derive(Debug, Default)]
pub(crate) struct DbChunk {
    keys: u64,
    expires: u64,
    bytes: Vec<u8>,
}

/// What the shards of a background snapshot send the writer.
#[derive(Debug)]
pub(crate) enum Slice {
    /// Serialized entries, per database index.
    Bytes(Vec<(usize, Vec<u8>)>),
    /// The shard has sent all of its part.
    Done,
}

/// Where a shard streams its part of a background snapshot.
pub(crate) type SnapshotSink = flume::Sender<Slice>;

/// What a shard does at the cut of a snapshot (the run hop of the snapshot transaction).
#[derive(Debug)]
pub(crate) enum SnapshotWork {
    /// `SAVE`: serialize the whole partition now; the chunks are the reply.
    Save,
    /// `BGSAVE`: mark the instant, then stream slices between batches; the hook runs first
    /// (`BGREWRITEAOF`'s switch to a new log file).
    Background(SnapshotSink, Option<crate::aof::CutHook>),
}

/// The cut on one shard.
pub(crate) fn cut(shard: &mut Shard, work: SnapshotWork) -> PartResult {
    match work {
        SnapshotWork::Save => PartResult::Snapshot(shard.serialize()),
        SnapshotWork::Background(to, at_cut) => {
            if let Some(f) = at_cut {
                (f.0)(shard);
            }
            abandon_snapshot(shard);
            shard.tick();
            let now = shard.clock.now_ms;
            for db in &mut shard.dbs {
                db.begin_snapshot(now);
            }
            shard.snapshot_to = Some(to);
            PartResult::Ok
        }
    }
}

/// Drops a background snapshot in progress (its writer went away).
fn abandon_snapshot(shard: &mut Shard) {
    for db in &mut shard.dbs {
        db.take_snapshot();
    }
    shard.snapshot_to = None;
}

/// One slice of a background snapshot: unless the writer's queue is full, serializes slots
/// for about `budget` and ships what was serialized (with the copies made before writes);
/// once every database is walked and shipped, tells the writer this shard is done. Returns
/// false if it skipped the slice because the queue was full.
pub(crate) fn snapshot_slice(shard: &mut Shard, budget: Duration) -> bool {
    /// Slots walked between clock reads: a few microseconds of work for typical slots.
    const SLOTS_PER_STEP: usize = 32;
    let Some(to) = shard.snapshot_to.as_ref() else {
        return true;
    };
    if to.is_disconnected() {
        abandon_snapshot(shard);
        return true;
    }
    // Back-pressure: the writer is behind, so this shard does not serialize more now. It
    // never blocks; the next timer tries again.
    if to.is_full() {
        return false;
    }
    let deadline = Instant::now() + budget;
    let mut done = true;
    for db in &mut shard.dbs {
        while !db.snapshot_step(SLOTS_PER_STEP) {
            if Instant::now() >= deadline {
                done = false;
                break;
            }
        }
        if !done {
            break;
        }
    }
    let parts: Vec<(usize, Vec<u8>)> = shard
        .dbs
        .iter_mut()
        .enumerate()
        .map(|(i, db)| (i, db.take_snapshot_bytes()))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    if !parts.is_empty() {
        match to.try_send(Slice::Bytes(parts)) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(Slice::Bytes(parts))) => {
                for (i, bytes) in parts {
                    shard.dbs[i].restore_snapshot_bytes(bytes);
                }
                return false;
            }
            Err(_) => {
                abandon_snapshot(shard);
                return true;
            }
        }
    }
    if !done {
        return true;
    }
    match to.try_send(Slice::Done) {
        Ok(()) => {
            for db in &mut shard.dbs {
                db.take_snapshot();
            }
            shard.snapshot_to = None;
        }
        // Said on the next slice, which finds nothing left to serialize.
        Err(flume::TrySendError::Full(_)) => return false,
        Err(_) => abandon_snapshot(shard),
    }
    true
}

impl Shard {
    /// Serializes every live key of every database, in RDB entry format.
    fn serialize(&mut self) -> Vec<DbChunk> {
        self.tick();
        let now = self.clock.now_ms;
        self.dbs
            .iter()
            .map(|db: &Db| {
                let mut chunk = DbChunk {
                    bytes: Vec::with_capacity(db.len() * 32),
                    ..DbChunk::default()
                };
                db.for_each_key(now, |k, e| {
                    chunk.keys += 1;
                    chunk.expires += e.expire_at().is_some() as u64;
                    rdb::put_value_entry(&mut chunk.bytes, k, &e.as_value(), e.expire_at());
                });
                chunk
            })
            .collect()
    }
}

/// The snapshot as an all-shard transaction: a whole-shard lock on every shard, and the cut
/// as its run hop.
#[derive(Debug)]
pub(crate) struct SnapshotBody {
    shards: usize,
    /// For a background snapshot, where the shards stream their slices.
    background: Option<SnapshotSink>,
    /// Set when the run hop went out: from then on the snapshot no longer waits for anyone.
    committed: bool,
    /// `SAVE`: each shard's chunks, by shard.
    chunks: Vec<Vec<DbChunk>>,
    /// Run on each shard at the cut, before it marks its snapshot.
    at_cut: Option<crate::aof::CutHook>,
}

impl SnapshotBody {
    fn new(shards: usize, background: Option<SnapshotSink>) -> SnapshotBody {
        SnapshotBody {
            shards,
            background,
            committed: false,
            chunks: (0..shards).map(|_| Vec::new()).collect(),
            at_cut: None,
        }
    }
}

impl TxBody for SnapshotBody {
    fn plan(&mut self) -> Vec<ShardPlan> {
        (0..self.shards)
            .map(|shard| ShardPlan {
                shard,
                locks: Vec::new(),
                whole: true,
                probe: None,
            })
            .collect()
    }

    fn run(&mut self, _probes: Vec<(ShardId, Option<PartResult>)>) -> Vec<(ShardId, Vec<TxItem>)> {
        self.committed = true;
        // Only the shards keep senders, so the writer sees the end if they all go away.
        let background = self.background.take();
        (0..self.shards)
            .map(|s| {
                let work = match &background {
                    Some(to) => SnapshotWork::Background(to.clone(), self.at_cut.clone()),
                    None => SnapshotWork::Save,
                };
                (s, vec![TxItem::Snapshot(work)])
            })
            .collect()
    }

    fn finish(&mut self, results: Vec<(ShardId, Vec<TxOut>)>) -> Frame {
        for (shard, outs) in results {
            for out in outs {
                match out {
                    TxOut::Part(PartResult::Snapshot(chunks)) => {
                        if let Some(slot) = self.chunks.get_mut(shard) {
                            *slot = chunks;
                        }
                    }
                    TxOut::Part(PartResult::Error(e)) => return Frame::Error(e),
                    _ => {}
                }
            }
        }
        Frame::simple("OK")
    }
}

/// Hands a driver thread the reply batches of the parts it sent.
#[derive(Debug)]
struct ChannelSink(flume::Sender<ReplyBatch>);

impl ReplySink for ChannelSink {
    fn deliver(&self, batch: ReplyBatch) {
        let _ = self.0.send(batch);
    }
}

fn send_parts(
    workers: &[WorkerHandle],
    sink: &Arc<dyn ReplySink>,
    parts: Vec<(ShardId, Part)>,
) -> Result<(), Error> {
    for (shard, part) in parts {
        let op = Op {
            tag: 0,
            db: 0,
            proto: Protocol::Resp2,
            kind: OpKind::Part(part),
        };
        let sent = workers.get(shard).is_some_and(|w| {
            w.send(Batch {
                reply_to: Arc::clone(sink),
                ops: vec![op],
            })
        });
        if !sent {
            return Err(Error::Stopped);
        }
    }
    Ok(())
}

/// Drives a snapshot transaction from the calling thread until its cut is done. Gives up
/// (cancelling it) if it is not ready on every shard within [`READY_TIMEOUT`].
fn drive(workers: &[WorkerHandle], tx: &mut Scheduled<SnapshotBody>) -> Result<(), Error> {
    let (reply_tx, replies) = flume::unbounded();
    let sink: Arc<dyn ReplySink> = Arc::new(ChannelSink(reply_tx));
    send_parts(workers, &sink, tx.start())?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let batch = if tx.body_mut().committed {
            replies.recv().map_err(|_| Error::Stopped)?
        } else {
            match replies.recv_deadline(deadline) {
                Ok(b) => b,
                Err(flume::RecvTimeoutError::Timeout) => {
                    let _ = send_parts(workers, &sink, tx.abandon());
                    return Err(Error::Io(std::io::Error::other(
                        "timed out waiting for the shards",
                    )));
                }
                Err(flume::RecvTimeoutError::Disconnected) => return Err(Error::Stopped),
            }
        };
        for reply in batch.replies {
            let ReplyBody::Part(r) = reply.body else {
                continue;
            };
            match tx.on_reply(batch.shard, r) {
                Step::Wait => {}
                Step::Send(parts) => send_parts(workers, &sink, parts)?,
                Step::Done(Frame::Error(e)) => {
                    return Err(Error::Io(std::io::Error::other(
                        String::from_utf8_lossy(&e).into_owned(),
                    )));
                }
                Step::Done(_) => return Ok(()),
            }
        }
    }
}

impl Persistence {
    /// Persistence for the shards of `workers`, each with `databases` databases.
    pub fn new(workers: Vec<WorkerHandle>, databases: usize, config: PersistConfig) -> Persistence {
        let config = Arc::new(Mutex::new(config));
        let state = Arc::new(Mutex::new(SaveState {
            in_progress: false,
            rewriting: false,
            bgsave_scheduled: false,
            lastsave: unix_now_ms() / 1000,
            last_status_ok: true,
            last_bgsave_secs: -1,
            bgsave_started: None,
            last_attempt: None,
            saves: 0,
            dirty_at_save: 0,
            flushes: 0,
            load: LoadSummary::default(),
        }));
        let gate: Arc<crate::aof::WriteGate> = Arc::default();
        if let Some(w) = workers.first() {
            let _ = w.flush_hook.0.set(Box::new(FlushSaver {
                config: Arc::clone(&config),
                state: Arc::clone(&state),
                stats: workers.iter().map(|w| Arc::clone(w.stats_arc())).collect(),
                gate: Arc::clone(&gate),
            }));
        }
        Persistence {
            workers,
            databases: databases.max(1),
            config,
            state,
            finished: Condvar::new(),
            shutdown_handled: AtomicBool::new(false),
            gate,
            aof: crate::aof::Aof::default(),
        }
    }

    /// The current settings.
    pub fn config(&self) -> PersistConfig {
        lock(&self.config).clone()
    }

    /// Changes the settings (`CONFIG SET dir|dbfilename|save`); applies from the next save.
    pub fn set_config(&self, config: PersistConfig) {
        *lock(&self.config) = config;
        self.update_write_gate();
    }

    /// The flag raised while writes must fail with `MISCONF`: save points are configured and
    /// the last snapshot failed (Redis's `stop-writes-on-bgsave-error yes`). The IO layer
    /// loads it per command; it falls as soon as a snapshot succeeds or `save` is cleared.
    pub fn writes_blocked(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.gate.flag)
    }

    fn update_write_gate(&self) {
        self.gate.set_rdb(!self.writes_allowed());
    }

    fn dirty(&self) -> u64 {
        self.workers.iter().map(|w| w.stats().dirty()).sum()
    }

    /// Writes since the last successful save (`rdb_changes_since_last_save`).
    pub fn changes_since_save(&self) -> u64 {
        self.dirty().saturating_sub(lock(&self.state).dirty_at_save)
    }

    /// Unix time in seconds of the last successful save (`LASTSAVE`).
    pub fn lastsave(&self) -> i64 {
        lock(&self.state).lastsave
    }

    /// Whether writes are accepted: not when `save` points are configured and the last
    /// snapshot failed (Redis's `stop-writes-on-bgsave-error yes`: `MISCONF`).
    pub fn writes_allowed(&self) -> bool {
        let ok = lock(&self.state).last_status_ok;
        ok || lock(&self.config).save_points.is_empty()
    }

    /// Loads the RDB file, if there is one, into the (empty) shards. Keys whose time to live
    /// has passed are skipped, as a Redis master does.
    ///
    /// With `appendonly yes`, the append-only log is loaded instead when it exists (as Redis
    /// does), and then started (see `aof/`).
    pub fn load(&self) -> Result<Option<LoadSummary>, Error> {
        let loaded = match self.load_aof()? {
            Some(summary) => Some(summary),
            None => self.load_rdb()?,
        };
        self.start_aof()?;
        Ok(loaded)
    }

    fn load_rdb(&self) -> Result<Option<LoadSummary>, Error> {
        let path = self.config().path();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(e)),
        };
        let entries = rdb::read_rdb(&data)?;
        drop(data);
        let summary = load_entries(&self.workers, self.databases, entries, Some(unix_now_ms()))?;
        lock(&self.state).load = summary;
        Ok(Some(summary))
    }

    /// Serializes every shard at one cut of the schedule (`SAVE`), driven from this thread.
    pub(crate) fn snapshot(&self) -> Result<Vec<Vec<DbChunk>>, Error> {
        let mut tx = Scheduled::new(SnapshotBody::new(self.workers.len(), None));
        drive(&self.workers, &mut tx)?;
        Ok(std::mem::take(&mut tx.body_mut().chunks))
    }

    /// A background snapshot: drives the cut from this thread, then writes the slices the
    /// shards stream meanwhile into `path`, atomically.
    fn background_snapshot(&self, path: &Path) -> Result<(), Error> {
        self.background_snapshot_with(path, None)
    }

    /// [`Persistence::background_snapshot`], running `at_cut` on each shard at the cut
    /// (`BGREWRITEAOF` switches the append-only log to a new file there).
    pub(crate) fn background_snapshot_with(
        &self,
        path: &Path,
        at_cut: Option<crate::aof::CutHook>,
    ) -> Result<(), Error> {
        let n = self.workers.len();
        let (to, slices) = flume::bounded(SLICE_QUEUE);
        let flushes = lock(&self.state).flushes;
        let mut body = SnapshotBody::new(n, Some(to));
        body.at_cut = at_cut;
        let mut tx = Scheduled::new(body);
        drive(&self.workers, &mut tx)?;
        drop(tx);
        let used = self.used_memory();
        let superseded = || lock(&self.state).flushes != flushes;
        write_atomically(path, used, &superseded, |w| {
            let mut db = None;
            let mut done = 0;
            while done < n {
                match slices.recv() {
                    Ok(Slice::Bytes(parts)) => {
                        for (i, bytes) in parts {
                            if db != Some(i) {
                                w.select_db_only(i)?;
                                db = Some(i);
                            }
                            w.raw(&bytes)?;
                        }
                    }
                    Ok(Slice::Done) => done += 1,
                    Err(_) => return Err(Error::Stopped),
                }
            }
            Ok(())
        })
        // On an error `slices` is dropped here: the shards see it and drop their snapshots.
    }

    /// Writes the snapshot to `path` atomically (see `write_atomically`).
    pub(crate) fn write_file(&self, path: &Path, shards: &[Vec<DbChunk>]) -> Result<(), Error> {
        self.write_file_unless_flushed(path, shards, None)
    }

    /// [`Persistence::write_file`], unless a `FLUSHALL` saved since `flushes` was read
    /// (before the cut): its file holds a newer state.
    fn write_file_unless_flushed(
        &self,
        path: &Path,
        shards: &[Vec<DbChunk>],
        flushes: Option<u64>,
    ) -> Result<(), Error> {
        let superseded = || flushes.is_some_and(|f| lock(&self.state).flushes != f);
        write_atomically(path, self.used_memory(), &superseded, |w| {
            for db in 0..self.databases {
                let chunks = shards.iter().filter_map(|s| s.get(db));
                let (keys, expires) = chunks
                    .clone()
                    .fold((0, 0), |(k, e), c| (k + c.keys, e + c.expires));
                if keys == 0 {
                    continue;
                }
                w.select_db(db, keys, expires)?;
                for c in chunks {
                    w.raw(&c.bytes)?;
                }
            }
            Ok(())
        })
    }

    fn used_memory(&self) -> u64 {
        self.workers.iter().map(|w| w.stats().used_memory()).sum()
    }

    /// Starts a save; `Err(InProgress)` if one is running, `Err(RewriteInProgress)` for a
    /// background save while an append-only log rewrite runs.
    pub(crate) fn begin(&self, background: bool) -> Result<(), Error> {
        let mut s = lock(&self.state);
        if s.in_progress {
            return Err(Error::InProgress);
        }
        if background && s.rewriting {
            return Err(Error::RewriteInProgress);
        }
        s.in_progress = true;
        s.last_attempt = Some(Instant::now());
        if background {
            s.bgsave_started = Some(Instant::now());
        }
        Ok(())
    }

    fn ensure_dir(path: &Path) -> Result<(), Error> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        Ok(())
    }

    fn run_save(&self, background: bool) -> Result<(), Error> {
        let path = self.config().path();
        let dirty = self.dirty();
        let started = Instant::now();
        let result = Self::ensure_dir(&path).and_then(|()| {
            if background {
                self.background_snapshot(&path)
            } else {
                let flushes = lock(&self.state).flushes;
                let shards = self.snapshot()?;
                self.write_file_unless_flushed(&path, &shards, Some(flushes))
            }
        });
        self.end_save(background, &path, dirty, started, &result);
        match result {
            // A `SAVE` superseded by a `FLUSHALL`'s save: the file holds a newer state.
            Err(Error::Aborted) if !background => Ok(()),
            r => r,
        }
    }

    /// The bookkeeping of a finished save (every outcome goes through here, which also ends
    /// the save). As in Redis, only a background save's failure counts as
    /// `rdb_last_bgsave_status:err` (and so refuses writes); a failed `SAVE` only answers an
    /// error, while any success sets the status back to ok.
    fn end_save(
        &self,
        background: bool,
        path: &Path,
        dirty: u64,
        started: Instant,
        result: &Result<(), Error>,
    ) {
        let mut s = lock(&self.state);
        s.in_progress = false;
        s.saves += 1;
        if background {
            s.bgsave_started = None;
            s.last_bgsave_secs = started.elapsed().as_secs() as i64;
        }
        match result {
            // Superseded by a FLUSHALL's save: neither a success nor a failure.
            Err(Error::Aborted) => {
                tracing::info!("background saving terminated: superseded by FLUSHALL");
            }
            Ok(()) => {
                s.last_status_ok = true;
                s.lastsave = unix_now_ms() / 1000;
                s.dirty_at_save = dirty;
                tracing::info!(path = %path.display(), elapsed = ?started.elapsed(), "DB saved on disk");
            }
            Err(e) => {
                if background {
                    s.last_status_ok = false;
                }
                tracing::error!(path = %path.display(), "error saving DB on disk: {e}");
            }
        }
        drop(s);
        self.update_write_gate();
        self.finished.notify_all();
    }

    /// `SAVE` from a thread that may block: snapshots now and returns when the file is on
    /// disk. An IO thread uses [`Persistence::save_command`] instead.
    pub fn save(&self) -> Result<(), Error> {
        self.begin(false)?;
        self.run_save(false)
    }

    /// `SAVE` for an IO thread: the coordinator to drive like a spread command's. Its reply is
    /// `+OK` once the file is on disk, or Redis's `-ERR`. The thread keeps driving its other
    /// clients' transactions meanwhile, which the snapshot may have to wait for; it writes
    /// the file itself when the shards have answered (as Redis's `SAVE` blocks the server).
    pub fn save_command(self: &Arc<Self>) -> Result<Box<dyn Coordinator>, Error> {
        self.begin(false)?;
        Ok(Box::new(SaveCommand {
            flushes: lock(&self.state).flushes,
            persistence: Arc::clone(self),
            tx: Scheduled::new(SnapshotBody::new(self.workers.len(), None)),
            dirty: self.dirty(),
            started: Instant::now(),
            ended: false,
        }))
    }

    /// `BGSAVE`: starts a snapshot on a background thread and returns at once.
    pub fn bgsave(self: &Arc<Self>) -> Result<(), Error> {
        self.begin(true)?;
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("kvd-bgsave".into())
            .spawn(move || {
                let _ = me.run_save(true);
            });
        if let Err(e) = spawned {
            let mut s = lock(&self.state);
            s.in_progress = false;
            s.bgsave_started = None;
            s.last_status_ok = false;
            return Err(Error::Io(e));
        }
        Ok(())
    }

    /// Starts an append-only log rewrite's snapshot; `Err(InProgress)` while a save or
    /// another rewrite runs.
    pub(crate) fn begin_rewrite(&self) -> Result<(), Error> {
        let mut s = lock(&self.state);
        if s.in_progress || s.rewriting {
            return Err(Error::InProgress);
        }
        s.rewriting = true;
        Ok(())
    }

    /// Ends what [`Persistence::begin_rewrite`] began.
    pub(crate) fn end_rewrite(&self) {
        lock(&self.state).rewriting = false;
        self.finished.notify_all();
    }

    /// `BGSAVE [SCHEDULE]`: Redis's status text, `Background saving started`, or with
    /// `schedule` while an append-only log rewrite runs, `Background saving scheduled` (the
    /// save schedule starts it when the rewrite has ended).
    pub fn bgsave_command(self: &Arc<Self>, schedule: bool) -> Result<&'static str, Error> {
        match self.bgsave() {
            Ok(()) => Ok("Background saving started"),
            Err(Error::RewriteInProgress) if schedule => {
                lock(&self.state).bgsave_scheduled = true;
                Ok("Background saving scheduled")
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a save or an append-only log rewrite is running.
    pub fn in_progress(&self) -> bool {
        let s = lock(&self.state);
        s.in_progress || s.rewriting
    }

    /// Waits until no save or rewrite is running.
    pub fn wait_idle(&self) {
        let mut s = lock(&self.state);
        while s.in_progress || s.rewriting {
            s = self
                .finished
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The `save` schedule, called about every 100 ms: starts a background save when a save
    /// point is reached (after a failure, only once the retry delay has passed).
    pub fn cron(self: &Arc<Self>) {
        self.aof_cron();
        let scheduled = {
            let mut s = lock(&self.state);
            let due = s.bgsave_scheduled && !s.in_progress && !s.rewriting;
            if due {
                s.bgsave_scheduled = false;
            }
            due
        };
        if scheduled {
            let _ = self.bgsave();
            return;
        }
        let points = lock(&self.config).save_points.clone();
        if points.is_empty() {
            return;
        }
        let changes = self.changes_since_save();
        let (since_save, retry_ok) = {
            let s = lock(&self.state);
            if s.in_progress || s.rewriting {
                return;
            }
            let since = unix_now_ms() / 1000 - s.lastsave;
            let retry_ok =
                s.last_status_ok || s.last_attempt.is_none_or(|t| t.elapsed() >= RETRY_DELAY);
            (since, retry_ok)
        };
        let due = points
            .iter()
            .any(|&(secs, n)| changes >= n && since_save >= secs as i64);
        if due && retry_ok {
            tracing::info!(changes, "save point reached, saving");
            let _ = self.bgsave();
        }
    }

    /// The final snapshot at shutdown: taken when `save` is `Some(true)` (`SHUTDOWN SAVE`),
    /// or when it is `None` and save points are configured; never with `Some(false)`
    /// (`NOSAVE`). Runs at most once.
    pub fn save_on_shutdown(&self, save: Option<bool>) -> Result<(), Error> {
        if self.shutdown_handled.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let wanted = save.unwrap_or_else(|| !lock(&self.config).save_points.is_empty());
        if !wanted {
            return Ok(());
        }
        // A background save in flight is superseded: wait for it, then save the final state.
        self.wait_idle();
        let result = self.save();
        if result.is_err() {
            // Let a later attempt (another SHUTDOWN) try again.
            self.shutdown_handled.store(false, Ordering::SeqCst);
        }
        result
    }

    /// `SHUTDOWN` on an IO thread: when a final snapshot is wanted (as
    /// [`Persistence::save_on_shutdown`] decides), the coordinator of its save, driven like
    /// `SAVE`'s (so the thread keeps serving the transactions the cut may wait for). Once the
    /// file is on disk it runs `on_saved` (which stops the server) and closes the connection
    /// without a reply; a failed save answers Redis's `SHUTDOWN` error and the server goes
    /// on. `None`: there is nothing to save (or it was saved already), stop at once.
    pub fn shutdown_command(
        self: &Arc<Self>,
        save: Option<bool>,
        on_saved: Box<dyn FnOnce() + Send>,
    ) -> Result<Option<Box<dyn Coordinator>>, Error> {
        let wanted = save.unwrap_or_else(|| !lock(&self.config).save_points.is_empty());
        if !wanted || self.shutdown_handled.load(Ordering::SeqCst) {
            return Ok(None);
        }
        // A background save in flight is superseded: wait for it, then save the final state.
        self.wait_idle();
        if self.shutdown_handled.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        match self.save_command() {
            Ok(save) => Ok(Some(Box::new(ShutdownSave {
                save,
                persistence: Arc::clone(self),
                on_saved: Some(on_saved),
                saved: false,
            }))),
            Err(e) => {
                self.shutdown_handled.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// The `INFO persistence` fields, with Redis 7.0's names, in its order.
    pub fn info(&self) -> Vec<(&'static str, String)> {
        let changes = self.changes_since_save();
        let s = lock(&self.state);
        let current = s
            .bgsave_started
            .map_or(-1, |t| t.elapsed().as_secs() as i64);
        let status = if s.last_status_ok { "ok" } else { "err" };
        let mut fields = vec![
            ("loading", "0".into()),
            ("async_loading", "0".into()),
            ("current_cow_peak", "0".into()),
            ("current_cow_size", "0".into()),
            ("current_cow_size_age", "0".into()),
            ("current_fork_perc", "0.00".into()),
            ("current_save_keys_processed", "0".into()),
            ("current_save_keys_total", "0".into()),
            ("rdb_changes_since_last_save", changes.to_string()),
            (
                "rdb_bgsave_in_progress",
                (s.bgsave_started.is_some() as u8).to_string(),
            ),
            ("rdb_last_save_time", s.lastsave.to_string()),
            ("rdb_last_bgsave_status", status.into()),
            ("rdb_last_bgsave_time_sec", s.last_bgsave_secs.to_string()),
            ("rdb_current_bgsave_time_sec", current.to_string()),
            ("rdb_saves", s.saves.to_string()),
            ("rdb_last_cow_size", "0".into()),
            (
                "rdb_last_load_keys_expired",
                s.load.keys_expired.to_string(),
            ),
            ("rdb_last_load_keys_loaded", s.load.keys_loaded.to_string()),
        ];
        drop(s);
        self.aof.info(&mut fields);
        fields
    }
}

/// Writes an RDB file whose body `body` writes, atomically: a temporary file in the same
/// directory, fsync, rename over the old file (unless `superseded` says otherwise by then),
/// fsync of the directory. `used` is the `used-mem` the header announces.
fn write_atomically(
    path: &Path,
    used: u64,
    superseded: &dyn Fn() -> bool,
    body: impl FnOnce(&mut RdbWriter<BufWriter<File>>) -> Result<(), Error>,
) -> Result<(), Error> {
    static TEMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    // Unique per write: a FLUSHALL's save may run beside a background save.
    let tmp = dir.join(format!(
        "temp-{}-{}-kvd.rdb",
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<(), Error> {
        let file = File::create(&tmp)?;
        let mut w = RdbWriter::new(
            BufWriter::with_capacity(1 << 20, file),
            unix_now_ms() / 1000,
            used,
        )?;
        body(&mut w)?;
        let mut out = w.finish()?;
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if superseded() {
            return Err(Error::Aborted);
        }
        std::fs::rename(&tmp, path)?;
        // The rename is durable only once the directory entry is.
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What the shards call after `FLUSHALL` (see `Shard::flushed_all`); installed by
/// [`Persistence::new`], shared by the pool.
#[derive(Default)]
pub(crate) struct FlushHook(pub(crate) OnceLock<Box<FlushSaver>>);

impl std::fmt::Debug for FlushHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushHook")
            .field("installed", &self.0.get().is_some())
            .finish()
    }
}

impl FlushHook {
    /// Whether a `FLUSHALL` is followed by a save (save points are set).
    pub(crate) fn saves(&self) -> bool {
        self.0
            .get()
            .is_some_and(|s| !lock(&s.config).save_points.is_empty())
    }

    /// Saves the empty dataset after `FLUSHALL`, as Redis's `flushallCommand` does when save
    /// points are set (`rdbSave` of what is now an empty keyspace): the file no longer brings
    /// the flushed keys back at the next start. `pending` is the calling shard's changes not
    /// yet published.
    pub(crate) fn flushed_all(&self, pending: u64) {
        if let Some(s) = self.0.get() {
            s.save_empty(pending);
        }
    }
}

/// The state a `FLUSHALL`'s save needs, shared with [`Persistence`]. It holds the shards'
/// statistics, not their handles, so the pool does not keep itself alive.
pub(crate) struct FlushSaver {
    config: Arc<Mutex<PersistConfig>>,
    state: Arc<Mutex<SaveState>>,
    stats: Vec<Arc<crate::stats::ShardStats>>,
    gate: Arc<crate::aof::WriteGate>,
}

impl FlushSaver {
    fn save_empty(&self, pending: u64) {
        let config = lock(&self.config).clone();
        let path = config.path();
        let used = self.stats.iter().map(|s| s.used_memory()).sum();
        let result = Persistence::ensure_dir(&path)
            .and_then(|()| write_atomically(&path, used, &|| false, |_| Ok(())));
        let mut s = lock(&self.state);
        // A background save in flight holds older data: it must not replace this file.
        s.flushes += 1;
        match result {
            Ok(()) => {
                // Every shard of the transaction has published its changes before it ran
                // (the flush's own changes are not counted): from here on, counting restarts.
                s.dirty_at_save = self.stats.iter().map(|st| st.dirty()).sum::<u64>() + pending;
                s.lastsave = unix_now_ms() / 1000;
                s.last_status_ok = true;
                tracing::info!(path = %path.display(), "DB saved on disk");
            }
            // As in Redis, FLUSHALL still succeeds; the error is only logged.
            Err(e) => tracing::error!(path = %path.display(), "error saving DB on disk: {e}"),
        }
        let blocked = !s.last_status_ok && !config.save_points.is_empty();
        self.gate.set_rdb(blocked);
    }
}

/// The `SAVE` command driven by an IO thread (see [`Persistence::save_command`]).
#[derive(Debug)]
struct SaveCommand {
    persistence: Arc<Persistence>,
    /// `SaveState::flushes` before the cut.
    flushes: u64,
    tx: Scheduled<SnapshotBody>,
    dirty: u64,
    started: Instant,
    ended: bool,
}

impl SaveCommand {
    fn end(&mut self, result: Result<(), Error>) -> Frame {
        self.ended = true;
        let path = self.persistence.config().path();
        self.persistence
            .end_save(false, &path, self.dirty, self.started, &result);
        match result {
            // Superseded by a later FLUSHALL's save: the file already holds a newer state.
            Ok(()) | Err(Error::Aborted) => Frame::simple("OK"),
            Err(_) => Frame::error("ERR"),
        }
    }
}

impl Coordinator for SaveCommand {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.tx.start()
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        match self.tx.on_reply(shard, reply) {
            Step::Done(Frame::Error(e)) => Step::Done(self.end(Err(Error::Io(
                std::io::Error::other(String::from_utf8_lossy(&e).into_owned()),
            )))),
            Step::Done(_) => {
                let chunks = std::mem::take(&mut self.tx.body_mut().chunks);
                let path = self.persistence.config().path();
                let result = Persistence::ensure_dir(&path).and_then(|()| {
                    self.persistence
                        .write_file_unless_flushed(&path, &chunks, Some(self.flushes))
                });
                drop(chunks);
                Step::Done(self.end(result))
            }
            step => step,
        }
    }

    fn is_barrier(&self) -> bool {
        true
    }

    fn abandon(&mut self) -> Vec<(ShardId, Part)> {
        let parts = self.tx.abandon();
        if !self.ended {
            // The client went away: the save ends without a file.
            self.end(Err(Error::Stopped));
        }
        parts
    }
}

/// `SHUTDOWN`'s final save driven by an IO thread (see [`Persistence::shutdown_command`]).
struct ShutdownSave {
    save: Box<dyn Coordinator>,
    persistence: Arc<Persistence>,
    on_saved: Option<Box<dyn FnOnce() + Send>>,
    saved: bool,
}

impl std::fmt::Debug for ShutdownSave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownSave")
            .field("save", &self.save)
            .field("saved", &self.saved)
            .finish()
    }
}

impl Coordinator for ShutdownSave {
    fn start(&mut self) -> Vec<(ShardId, Part)> {
        self.save.start()
    }

    fn on_reply(&mut self, shard: ShardId, reply: PartReply) -> Step {
        match self.save.on_reply(shard, reply) {
            Step::Done(Frame::Error(_)) => {
                // Let a later attempt (another SHUTDOWN) try again.
                self.persistence
                    .shutdown_handled
                    .store(false, Ordering::SeqCst);
                tracing::warn!("error trying to save the DB, can't exit");
                Step::Done(Frame::error("ERR Errors trying to SHUTDOWN. Check logs."))
            }
            Step::Done(frame) => {
                self.saved = true;
                if let Some(stop) = self.on_saved.take() {
                    stop();
                }
                Step::Done(frame)
            }
            step => step,
        }
    }

    fn is_barrier(&self) -> bool {
        true
    }

    fn closes_connection(&self) -> bool {
        self.saved
    }

    fn abandon(&mut self) -> Vec<(ShardId, Part)> {
        if !self.saved {
            // The client went away before the file was written: no shutdown after all.
            self.persistence
                .shutdown_handled
                .store(false, Ordering::SeqCst);
        }
        self.save.abandon()
    }
}

/// Parses Redis's `save` value: pairs of seconds and changes (`"3600 1 300 100"`), or empty.
pub fn parse_save_points(value: &str) -> Option<Vec<(u64, u64)>> {
    let v = value.trim();
    if v.is_empty() || v == "\"\"" {
        return Some(Vec::new());
    }
    let nums: Vec<u64> = v
        .split_ascii_whitespace()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if !nums.len().is_multiple_of(2) {
        return None;
    }
    Some(nums.chunks(2).map(|c| (c[0], c[1])).collect())
}

/// Loads the entries of an RDB file into the shards that own their keys (routed by the current
/// worker count), one message per shard, and waits until every shard has them. With `now`,
/// keys whose time to live had passed by then are skipped and counted as expired, as Redis's
/// loader does for a snapshot; the append-only log's base keeps them, since the log replayed
/// after it says when they went.
pub(crate) fn load_entries(
    workers: &[WorkerHandle],
    databases: usize,
    entries: Vec<rdb::RdbEntry>,
    now: Option<i64>,
) -> Result<LoadSummary, Error> {
    let n = workers.len();
    let mut per_shard: Vec<Vec<_>> = (0..n).map(|_| Vec::new()).collect();
    let mut summary = LoadSummary::default();
    for e in entries {
        if e.db >= databases {
            return Err(Error::Corrupt(format!(
                "the file uses database {} but only {databases} are configured",
                e.db
            )));
        }
        let value = rdb::into_value(e.value)?;
        if now.is_some_and(|now| e.expire_at.is_some_and(|at| at <= now)) {
            summary.keys_expired += 1;
            continue;
        }
        summary.keys_loaded += 1;
        let shard = partition_router::shard_for(&e.key, n);
        per_shard[shard].push((e.db, e.key, value, e.expire_at));
    }
    let (tx, rx) = flume::unbounded();
    for (w, entries) in workers.iter().zip(per_shard) {
        let tx = tx.clone();
        let sent = w.run(Box::new(move |shard: &mut Shard| {
            shard.tick();
            let clock = shard.clock;
            for (db, key, value, expire_at) in entries {
                shard.dbs[db].insert(&key, value, expire_at, clock);
            }
            let _ = tx.send(());
        }));
        if !sent {
            return Err(Error::Stopped);
        }
    }
    drop(tx);
    for _ in workers {
        rx.recv().map_err(|_| Error::Stopped)?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use crate::keyspace::{Clock, Db, Str, Value};
    use crate::rdb::{self, RdbValue};
    use std::time::Duration;

    fn clock() -> Clock {
        Clock {
            now_ms: 1_000_000,
            ticks: crate::keyspace::TICKS_BASE,
        }
    }

    fn s(v: &str) -> Value {
        Value::Str(Str::from_bytes(v.as_bytes()))
    }

    /// The keys and string values a snapshot's bytes hold.
    fn contents(bytes: &[u8]) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        let mut file = b"REDIS0010\xfe\x00".to_vec();
        file.extend_from_slice(bytes);
        file.push(0xff);
        file.extend_from_slice(&[0; 8]);
        rdb::read_rdb(&file)
            .unwrap()
            .into_iter()
            .map(|e| match e.value {
                RdbValue::String(v) => (e.key, v),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// Copy-before-write: whatever happens during a background snapshot, it holds exactly
    /// the state of the instant it began.
    #[test]
    fn background_snapshot_is_a_point_in_time() {
        let c = clock();
        let mut db = Db::default();
        for i in 0..2000 {
            db.insert(format!("k{i}").as_bytes(), s(&format!("v{i}")), None, c);
        }
        db.insert(b"dies", s("x"), Some(c.now_ms + 10), c);
        let mut expected: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = (0..2000)
            .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
            .collect();
        expected.insert(b"dies".to_vec(), b"x".to_vec());
        db.begin_snapshot(c.now_ms);
        let mut step = 0;
        let mut i = 0;
        loop {
            // Writes of every kind between slices: overwrite, delete, create, expire, read.
            for _ in 0..7 {
                let k = format!("k{}", i % 2000);
                match i % 5 {
                    0 => {
                        db.insert(k.as_bytes(), s("changed"), None, c);
                    }
                    1 => {
                        db.remove(k.as_bytes(), c);
                    }
                    2 => {
                        db.insert(format!("new{i}").as_bytes(), s("new"), None, c);
                    }
                    3 => {
                        db.set_expire(k.as_bytes(), Some(c.now_ms + 5), c);
                    }
                    _ => {
                        db.entry_mut(k.as_bytes(), c);
                    }
                }
                i += 1;
            }
            let later = Clock {
                now_ms: c.now_ms + 20,
                ..c
            };
            // The key that expires after the snapshot instant is reclaimed lazily.
            db.entry_mut(b"dies", later);
            step += 1;
            if db.snapshot_step(200) {
                break;
            }
        }
        assert!(step > 10, "the walk took several slices");
        let snap = db.take_snapshot().unwrap();
        assert_eq!(snap.keys, expected.len() as u64);
        assert_eq!(snap.expires, 1);
        assert_eq!(contents(&snap.bytes), expected);
    }

    #[test]
    fn flush_completes_the_snapshot_first() {
        let c = clock();
        let mut db = Db::default();
        db.insert(b"a", s("1"), None, c);
        db.begin_snapshot(c.now_ms);
        db.clear();
        db.insert(b"b", s("2"), None, c);
        assert!(db.snapshot_step(1));
        let snap = db.take_snapshot().unwrap();
        assert_eq!(
            contents(&snap.bytes),
            [(b"a".to_vec(), b"1".to_vec())].into_iter().collect()
        );
    }

    /// A background snapshot streamed through a queue of one slice: a shard whose slice finds
    /// the queue full skips it (and says so) without losing anything, and the slices, in
    /// whatever order and interleaved with writes, add up to the state of the cut.
    #[test]
    fn streamed_slices_hold_the_cut_under_back_pressure() {
        use super::{Slice, SnapshotWork, cut, snapshot_slice};
        let mut shard = crate::shard::Shard::new(0, 1, 2);
        shard.tick();
        let c = shard.clock;
        let mut expected = std::collections::BTreeMap::new();
        for i in 0..5000 {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            shard.dbs[i % 2].insert(k.as_bytes(), s(&v), None, c);
            expected.insert((i % 2, k.into_bytes()), v.into_bytes());
        }
        let (to, slices) = flume::bounded(1);
        assert!(matches!(
            cut(&mut shard, SnapshotWork::Background(to, None)),
            crate::route::PartResult::Ok
        ));
        let mut got = std::collections::BTreeMap::new();
        let mut skipped = 0;
        let mut done = false;
        let mut i = 0;
        while !done {
            // Writes of every kind between slices.
            for _ in 0..5 {
                let k = format!("k{}", i % 5000);
                let db = (i % 5000) % 2;
                let clock = shard.clock;
                match i % 3 {
                    0 => {
                        shard.dbs[db].insert(k.as_bytes(), s("changed"), None, clock);
                    }
                    1 => {
                        shard.dbs[db].remove(k.as_bytes(), clock);
                    }
                    _ => {
                        shard.dbs[db].insert(format!("new{i}").as_bytes(), s("n"), None, clock);
                    }
                }
                i += 1;
            }
            // A tiny budget, so the walk takes many slices.
            if !snapshot_slice(&mut shard, Duration::from_micros(20)) {
                skipped += 1;
            }
            // The writer drains only every other round: the queue is often full.
            if i % 10 == 0 {
                while let Ok(slice) = slices.try_recv() {
                    match slice {
                        Slice::Bytes(parts) => {
                            for (db, bytes) in parts {
                                for (k, v) in contents(&bytes) {
                                    assert!(got.insert((db, k), v).is_none(), "twice");
                                }
                            }
                        }
                        Slice::Done => done = true,
                    }
                }
            }
        }
        assert!(skipped > 0, "the queue was full at times");
        assert!(shard.snapshot_to.is_none());
        assert_eq!(got, expected);
    }
}
