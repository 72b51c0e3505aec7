//! The append-only log (`appendonly yes`): every change, in RESP, in one file shared by all
//! shards, written by one writer thread; replayed at start; compacted by `BGREWRITEAOF`.
//!
//! # One log for all shards
//!
//! kvd keeps **one** log, written by a dedicated writer thread that the workers feed with one
//! channel message per worker pass (a [`writer::Chunk`]: the RESP records of everything that
//! pass changed). Per-shard logs would avoid the channel hop, but they make replay with a
//! different worker count, and every command over the whole keyspace (`FLUSHALL`, `SWAPDB`
//! run as one part per shard, not atomically across shards), depend on merging files whose
//! relative order is lost; with one file, the order of records is an order the shards really
//! executed them in, per key. The writer costs no lock on the shards' path (a channel send
//! per pass, only when the pass wrote), and it is the natural place for group commit.
//!
//! * **Records.** After a write command succeeded and changed something, the shard appends its
//!   effect (`record.rs`): the command itself when replaying it reproduces it, otherwise what
//!   it did, as Redis propagates: `EXPIRE`/`SETEX`/`SET EX`/`GETEX` with absolute times
//!   (`PEXPIREAT`, `SET ... PXAT`), `RESTORE ... ABSTTL`, `INCRBYFLOAT` as `SET ... KEEPTTL`,
//!   `SPOP` as `SREM`, blocking pops and cross-shard moves as the pops and pushes they made,
//!   values moved between shards (`RENAME`, `COPY`, the `STORE` commands) as `RESTORE`.
//!   Keys that expire are logged as `DEL`, so replay never expires anything by itself (as
//!   Redis's loader, the shards' clock stands still while loading). `SELECT` precedes a record
//!   whose database differs from the previous one in the file.
//! * **Transactions.** A transaction on one shard (`MULTI`/`EXEC` on hash-tagged keys) is
//!   logged between `MULTI` and `EXEC`, as Redis does. A transaction over several shards (a
//!   cross-shard `MSET`, `DEL`, `RENAME`, or `EXEC`) is logged by each shard that writes in
//!   it as `KVDTX <seq> <parts>`, its records, `EXEC`: `seq` is the scheduler's global
//!   transaction number and `parts` the number of shards that write in it (the coordinator
//!   counts them when it sends the run hop). Replay applies a transaction only if all its
//!   parts are in the file; the first incomplete one is where a crash cut the log, and the
//!   file is truncated there as for a partial record. Since each part is written where its
//!   shard executed it, per-key order holds for every record.
//! * **Whole-keyspace parts.** `FLUSHALL`, `FLUSHDB`, `SWAPDB`, `DEBUG POPULATE` spread over
//!   shards are logged per shard as `KVDSCOPE <shard> <shards> <command>`: replay applies each
//!   to the keys that shard owned (directly on that shard when the worker count is the same).
//! * **Group commit.** The writer drains everything queued, writes it with one `write`, and
//!   under `appendfsync always` fsyncs once for all of it. With `always` a worker hands the
//!   replies of a pass that wrote (and of any later pass while earlier ones wait) to the
//!   writer instead of delivering them: the writer delivers them after the fsync that covers
//!   their records, and once every transaction part written before them is complete (so an
//!   acknowledged write never depends on a transaction a crash could drop). No worker or IO
//!   thread ever waits for the disk. `everysec` fsyncs once a second from the writer, `no`
//!   leaves it to the kernel.
//! * **Errors.** A failed write or fsync removes any partial record (truncating the file back),
//!   keeps the data buffered and retries every second; meanwhile `aof_last_write_status` is
//!   `err` and writes are refused with `MISCONF Errors writing to the AOF file: <error>`, and
//!   with `always` the replies waiting for that fsync become that error.
//!
//! # Files
//!
//! As Redis 7: in `dir/appenddirname`, a manifest (`appendonly.aof.manifest`) lists a base
//! (`appendonly.aof.N.base.rdb`, an RDB snapshot) and incremental logs
//! (`appendonly.aof.N.incr.aof`). `BGREWRITEAOF` opens a new incremental log at the instant
//! of a background snapshot (each shard switches at the snapshot's gate, see `persist.rs`),
//! lists it in the manifest, writes the snapshot as the new base, and then replaces the
//! manifest with the new base and log and deletes the old files.
//!
//! At start, with `appendonly yes` and a manifest, the base and logs are loaded (the RDB file
//! is not); keys are routed by the current worker count. A log that ends in the middle of a
//! record (or of a transaction) is loaded up to its last complete one and truncated there
//! with a warning when `aof-load-truncated` is `yes`; with `no` the server refuses to start.
//! Bytes that are not a record refuse the start as Redis does.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

mod load;
mod record;
mod writer;

pub(crate) use record::{
    AofLog, PartLog, Pop, after_command, drain_expired, items_may_write, log_del, log_pop,
};

use crate::Error;

/// What a shard runs at a snapshot's cut (see `Persistence::background_snapshot_with`).
#[derive(Clone)]
pub(crate) struct CutHook(pub(crate) Arc<dyn Fn(&mut crate::shard::Shard) + Send + Sync>);

impl std::fmt::Debug for CutHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CutHook")
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `appendfsync`: when the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppendFsync {
    /// After every write, before its reply (group commit per writer pass).
    Always = 0,
    /// Once a second.
    #[default]
    Everysec = 1,
    /// Never explicitly: the kernel decides.
    No = 2,
}

impl AppendFsync {
    /// Parses Redis's value (`always`, `everysec`, `no`), ignoring case.
    pub fn parse(value: &str) -> Option<AppendFsync> {
        match value.to_ascii_lowercase().as_str() {
            "always" => Some(AppendFsync::Always),
            "everysec" => Some(AppendFsync::Everysec),
            "no" => Some(AppendFsync::No),
            _ => None,
        }
    }

    /// Redis's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
            AppendFsync::No => "no",
        }
    }

    fn as_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> AppendFsync {
        match v {
            0 => AppendFsync::Always,
            1 => AppendFsync::Everysec,
            _ => AppendFsync::No,
        }
    }
}

/// The append-only log's settings, with Redis's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofConfig {
    /// `appendonly`.
    pub enabled: bool,
    /// `appendfsync`.
    pub fsync: AppendFsync,
    /// `appendfilename`: the prefix of the files in the directory.
    pub filename: String,
    /// `appenddirname`: the directory, inside `dir`.
    pub dirname: String,
    /// `aof-load-truncated`.
    pub load_truncated: bool,
    /// `auto-aof-rewrite-percentage` (0: off).
    pub auto_rewrite_percentage: u64,
    /// `auto-aof-rewrite-min-size`, bytes.
    pub auto_rewrite_min_size: u64,
}

impl Default for AofConfig {
    fn default() -> AofConfig {
        AofConfig {
            enabled: false,
            fsync: AppendFsync::Everysec,
            filename: "appendonly.aof".to_owned(),
            dirname: "appendonlydir".to_owned(),
            load_truncated: true,
            auto_rewrite_percentage: 100,
            auto_rewrite_min_size: 64 * 1024 * 1024,
        }
    }
}

/// The `MISCONF` flag the IO layer reads, raised by a failed snapshot or a failed log write.
#[derive(Debug, Default)]
pub(crate) struct WriteGate {
    rdb: AtomicBool,
    aof: AtomicBool,
    pub(crate) flag: Arc<AtomicBool>,
}

impl WriteGate {
    pub(crate) fn set_rdb(&self, blocked: bool) {
        self.rdb.store(blocked, Ordering::Relaxed);
        self.update();
    }

    pub(crate) fn set_aof(&self, blocked: bool) {
        self.aof.store(blocked, Ordering::Relaxed);
        self.update();
    }

    pub(crate) fn rdb_blocked(&self) -> bool {
        self.rdb.load(Ordering::Relaxed)
    }

    pub(crate) fn aof_blocked(&self) -> bool {
        self.aof.load(Ordering::Relaxed)
    }

    fn update(&self) {
        let blocked = self.rdb.load(Ordering::Relaxed) || self.aof.load(Ordering::Relaxed);
        self.flag.store(blocked, Ordering::Relaxed);
    }
}

/// One entry of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManifestFile {
    pub(crate) name: String,
    pub(crate) seq: u64,
    pub(crate) base: bool,
}

/// The manifest: a base (optional) and the incremental logs, in replay order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) files: Vec<ManifestFile>,
}

impl Manifest {
    pub(crate) fn parse(text: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            let mut name = None;
            let mut seq = None;
            let mut kind = None;
            for pair in words.chunks(2) {
                match pair {
                    ["file", v] => name = Some(v.to_string()),
                    ["seq", v] => seq = v.parse().ok(),
                    ["type", v] => kind = Some(v.to_string()),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".to_owned());
            };
            match kind.as_str() {
                "b" => files.insert(
                    0,
                    ManifestFile {
                        name,
                        seq,
                        base: true,
                    },
                ),
                "i" => files.push(ManifestFile {
                    name,
                    seq,
                    base: false,
                }),
                // History files (being deleted) are not loaded.
                _ => {}
            }
        }
        Ok(Manifest { files })
    }

    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            let kind = if f.base { "b" } else { "i" };
            s.push_str(&format!("file {} seq {} type {kind}\n", f.name, f.seq));
        }
        s
    }

    fn last_seq(&self) -> u64 {
        self.files.iter().map(|f| f.seq).max().unwrap_or(0)
    }
}

/// Writes `text` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
pub(crate) fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        "temp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A running log: the writer thread and what the shards send it through.
#[derive(Debug)]
struct Running {
    inbox: Arc<writer::Inbox>,
    thread: Option<std::thread::JoinHandle<()>>,
    manifest: Manifest,
}

#[derive(Debug, Default)]
struct RewriteState {
    in_progress: bool,
    scheduled: bool,
    started: Option<Instant>,
    last_secs: i64,
    last_ok: bool,
    rewrites: u64,
    failures: u64,
}

/// The append-only log of a server: settings, the writer, loading, rewriting, `INFO`.
#[derive(Debug)]
pub(crate) struct Aof {
    config: Mutex<AofConfig>,
    status: Arc<writer::Status>,
    running: Mutex<Option<Running>>,
    rewrite: Mutex<RewriteState>,
    base_size: AtomicU64,
    /// Size of the log (base included) after the last rewrite or start, for the automatic
    /// rewrite's growth test.
    size_at_rewrite: AtomicU64,
}

impl Default for Aof {
    fn default() -> Aof {
        let status = writer::Status::default();
        status.write_ok.store(true, Ordering::Relaxed);
        status
            .policy
            .store(AppendFsync::Everysec.as_u8(), Ordering::Relaxed);
        Aof {
            config: Mutex::new(AofConfig::default()),
            status: Arc::new(status),
            running: Mutex::new(None),
            rewrite: Mutex::new(RewriteState {
                last_secs: -1,
                last_ok: true,
                ..RewriteState::default()
            }),
            base_size: AtomicU64::new(0),
            size_at_rewrite: AtomicU64::new(0),
        }
    }
}

impl Aof {
    pub(crate) fn config(&self) -> AofConfig {
        lock(&self.config).clone()
    }

    pub(crate) fn set_config(&self, config: AofConfig) {
        self.status
            .policy
            .store(config.fsync.as_u8(), Ordering::Relaxed);
        if let Some(r) = lock(&self.running).as_ref() {
            r.inbox
                .always
                .store(config.fsync == AppendFsync::Always, Ordering::Relaxed);
        }
        *lock(&self.config) = config;
    }

    pub(crate) fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// The text of `MISCONF` for a failed log write, if writes are refused because of one.
    pub(crate) fn write_error(&self) -> Option<String> {
        (!self.status.write_ok.load(Ordering::Relaxed)).then(|| {
            format!(
                "MISCONF Errors writing to the AOF file: {}",
                lock(&self.status.last_error)
            )
        })
    }

    fn current_size(&self) -> u64 {
        self.base_size.load(Ordering::Relaxed) + self.status.incr_size.load(Ordering::Relaxed)
    }

    pub(crate) fn info(&self, out: &mut Vec<(&'static str, String)>) {
        let running = self.is_running();
        let enabled = lock(&self.config).enabled;
        let r = lock(&self.rewrite);
        let current = r.started.map_or(-1, |t| t.elapsed().as_secs() as i64);
        let ok = |b: bool| if b { "ok" } else { "err" }.to_owned();
        let fields = [
            ("aof_enabled", (enabled as u8).to_string()),
            ("aof_rewrite_in_progress", (r.in_progress as u8).to_string()),
            ("aof_rewrite_scheduled", (r.scheduled as u8).to_string()),
            ("aof_last_rewrite_time_sec", r.last_secs.to_string()),
            ("aof_current_rewrite_time_sec", current.to_string()),
            ("aof_last_bgrewrite_status", ok(r.last_ok)),
            ("aof_rewrites", r.rewrites.to_string()),
            ("aof_rewrites_consecutive_failures", r.failures.to_string()),
            (
                "aof_last_write_status",
                ok(self.status.write_ok.load(Ordering::Relaxed)),
            ),
            ("aof_last_cow_size", "0".to_owned()),
            ("module_fork_in_progress", "0".to_owned()),
            ("module_fork_last_cow_size", "0".to_owned()),
        ];
        drop(r);
        out.extend(fields);
        if enabled && running {
            out.extend([
                ("aof_current_size", self.current_size().to_string()),
                (
                    "aof_base_size",
                    self.base_size.load(Ordering::Relaxed).to_string(),
                ),
                ("aof_pending_rewrite", "0".to_owned()),
                (
                    "aof_buffer_length",
                    self.status.buffer_len.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "aof_pending_bio_fsync",
                    self.status
                        .pending_fsync
                        .load(Ordering::Relaxed)
                        .to_string(),
                ),
                (
                    "aof_delayed_fsync",
                    self.status
                        .delayed_fsync
                        .load(Ordering::Relaxed)
                        .to_string(),
                ),
            ]);
        }
    }
}

/// Where the log's files live.
pub(crate) fn dir_of(dir: &Path, config: &AofConfig) -> PathBuf {
    dir.join(&config.dirname)
}

fn manifest_path(dir: &Path, config: &AofConfig) -> PathBuf {
    dir_of(dir, config).join(format!("{}.manifest", config.filename))
}

impl crate::Persistence {
    /// The log's settings.
    pub fn aof_config(&self) -> AofConfig {
        self.aof.config()
    }

    /// Sets the log's settings before [`crate::Persistence::load`] (later changes of
    /// `appendonly` go through [`crate::Persistence::set_appendonly`]).
    pub fn set_aof_config(&self, config: AofConfig) {
        self.aof.set_config(config);
    }

    /// Changes `appendfsync` and `aof-load-truncated` and the rewrite thresholds live.
    pub fn update_aof_config(&self, config: AofConfig) {
        let mut merged = self.aof.config();
        merged.fsync = config.fsync;
        merged.load_truncated = config.load_truncated;
        merged.auto_rewrite_percentage = config.auto_rewrite_percentage;
        merged.auto_rewrite_min_size = config.auto_rewrite_min_size;
        self.aof.set_config(merged);
    }

    /// The `MISCONF` text of a failed log write while writes are refused because of it (a
    /// failed snapshot takes precedence, as in Redis).
    pub fn misconf_error(&self) -> Option<String> {
        if self.gate.rdb_blocked() || !self.gate.aof_blocked() {
            return None;
        }
        self.aof.write_error()
    }

    /// Loads the log if `appendonly` is on and its manifest exists. `Ok(None)`: there is none.
    pub(crate) fn load_aof(&self) -> Result<Option<crate::LoadSummary>, Error> {
        let config = self.aof.config();
        if !config.enabled {
            return Ok(None);
        }
        let dir = self.config().dir;
        let path = manifest_path(&dir, &config);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(e)),
        };
        let manifest = Manifest::parse(&text).map_err(Error::Aof)?;
        let summary = load::load(
            &self.workers,
            self.databases,
            &dir_of(&dir, &config),
            &manifest,
            config.load_truncated,
        )?;
        Ok(Some(summary))
    }

    /// Starts the log after loading: opens the last incremental file of the manifest, or
    /// creates the files (a base from the data now in memory) when there is none.
    pub(crate) fn start_aof(&self) -> Result<(), Error> {
        let config = self.aof.config();
        if !config.enabled || self.aof.is_running() {
            return Ok(());
        }
        let dir = dir_of(&self.config().dir, &config);
        std::fs::create_dir_all(&dir)?;
        let mpath = manifest_path(&self.config().dir, &config);
        let manifest = match std::fs::read_to_string(&mpath) {
            Ok(text) => Manifest::parse(&text).map_err(Error::Aof)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(Error::Io(e)),
        };
        let manifest = if manifest.files.iter().any(|f| !f.base) {
            manifest
        } else {
            // No log yet: the data loaded (from the RDB file, if any) becomes the base.
            let seq = manifest.last_seq() + 1;
            let base = format!("{}.{seq}.base.rdb", config.filename);
            let shards = self.snapshot()?;
            self.write_file(&dir.join(&base), &shards)?;
            let incr = format!("{}.{seq}.incr.aof", config.filename);
            std::fs::File::create(dir.join(&incr))?.sync_all()?;
            let m = Manifest {
                files: vec![
                    ManifestFile {
                        name: base,
                        seq,
                        base: true,
                    },
                    ManifestFile {
                        name: incr,
                        seq,
                        base: false,
                    },
                ],
            };
            write_atomically(&mpath, m.render().as_bytes())?;
            m
        };
        let Some(incr) = manifest.files.iter().rev().find(|f| !f.base) else {
            return Err(Error::Aof(
                "the AOF manifest lists no incremental file".into(),
            ));
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(&incr.name))?;
        let size = file.metadata()?.len();
        let base_size = manifest
            .files
            .iter()
            .find(|f| f.base)
            .and_then(|f| std::fs::metadata(dir.join(&f.name)).ok())
            .map_or(0, |m| m.len());
        self.aof.base_size.store(base_size, Ordering::Relaxed);
        self.aof
            .size_at_rewrite
            .store(base_size + size, Ordering::Relaxed);
        let (inbox, thread) = self.spawn_writer(file, size, &config)?;
        self.enable_logging(&inbox)?;
        *lock(&self.aof.running) = Some(Running {
            inbox,
            thread: Some(thread),
            manifest,
        });
        Ok(())
    }

    fn spawn_writer(
        &self,
        file: std::fs::File,
        size: u64,
        config: &AofConfig,
    ) -> Result<(Arc<writer::Inbox>, std::thread::JoinHandle<()>), Error> {
        let (tx, rx) = flume::unbounded();
        let inbox = Arc::new(writer::Inbox {
            tx,
            always: AtomicBool::new(config.fsync == AppendFsync::Always),
            inflight: self
                .workers
                .iter()
                .map(|_| std::sync::atomic::AtomicUsize::new(0))
                .collect(),
        });
        self.aof.status.incr_size.store(size, Ordering::Relaxed);
        let w = writer::Writer::new(
            rx,
            Arc::clone(&inbox),
            Arc::clone(&self.aof.status),
            Arc::clone(&self.gate),
            file,
            size,
        );
        let thread = std::thread::Builder::new()
            .name("kvd-aof".into())
            .spawn(move || w.run())?;
        Ok((inbox, thread))
    }

    /// Makes every shard log its writes to `inbox` from its next command on.
    fn enable_logging(&self, inbox: &Arc<writer::Inbox>) -> Result<(), Error> {
        let n = self.workers.len();
        let inbox = Arc::clone(inbox);
        self.on_every_shard(move |shard| {
            shard.aof = Some(Box::new(AofLog::new(shard.id, n, Arc::clone(&inbox))));
            for db in &mut shard.dbs {
                db.log_expired = true;
            }
        })
    }

    /// Runs `f` on every shard and waits for all.
    pub(crate) fn on_every_shard(
        &self,
        f: impl Fn(&mut crate::shard::Shard) + Send + Sync + 'static,
    ) -> Result<(), Error> {
        let f = Arc::new(f);
        let (tx, rx) = flume::unbounded();
        for w in &self.workers {
            let (f, tx) = (Arc::clone(&f), tx.clone());
            if !w.run(Box::new(move |shard| {
                f(shard);
                let _ = tx.send(());
            })) {
                return Err(Error::Stopped);
            }
        }
        drop(tx);
        for _ in 0..self.workers.len() {
            rx.recv().map_err(|_| Error::Stopped)?;
        }
        Ok(())
    }

    /// Stops logging: the shards forget the log, the writer writes and fsyncs what it has
    /// and exits.
    pub(crate) fn stop_aof(&self) -> Result<(), Error> {
        let Some(mut running) = lock(&self.aof.running).take() else {
            return Ok(());
        };
        // Shards first, so nothing is sent to the writer after it stopped.
        let stopped = self.on_every_shard(|shard| {
            if let Some(mut log) = shard.aof.take() {
                // Whatever the shard logged since its last pass goes out first.
                let _ = log.flush(Vec::new());
            }
            let expired = shard.notifier.wants(crate::NotifyClass::EXPIRED);
            for db in &mut shard.dbs {
                db.log_expired = expired;
            }
        });
        let (tx, rx) = flume::bounded(1);
        let _ = running.inbox.tx.send(writer::WriterMsg::Sync(tx));
        let synced = rx.recv().unwrap_or(Ok(()));
        let _ = running.inbox.tx.send(writer::WriterMsg::Stop);
        let thread = running.thread.take();
        drop(running);
        if let Some(t) = thread {
            let _ = t.join();
        }
        stopped?;
        synced.map_err(Error::Io)
    }

    /// At shutdown, after the workers stopped: writes and fsyncs what is left.
    pub fn close_aof(&self) {
        let Some(mut running) = lock(&self.aof.running).take() else {
            return;
        };
        let (tx, rx) = flume::bounded(1);
        let _ = running.inbox.tx.send(writer::WriterMsg::Sync(tx));
        if let Ok(Err(e)) = rx.recv() {
            tracing::error!("error writing the AOF file at shutdown: {e}");
        }
        let _ = running.inbox.tx.send(writer::WriterMsg::Stop);
        let thread = running.thread.take();
        drop(running);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// `CONFIG SET appendonly yes|no`: turning it on writes a base of the current data in the
    /// background (a rewrite) and logs from that instant; off stops logging.
    pub fn set_appendonly(self: &Arc<Self>, on: bool) -> Result<(), Error> {
        let mut config = self.aof.config();
        if config.enabled == on {
            return Ok(());
        }
        config.enabled = on;
        if on {
            self.aof.set_config(config);
            self.bgrewriteaof().map(|_| ())
        } else {
            self.aof.set_config(config);
            self.stop_aof()
        }
    }

    /// `BGREWRITEAOF`: the status text (`Background append only file rewriting started`, or
    /// `... scheduled` while a background save runs). Works with `appendonly no` too (it
    /// then writes a base and a log that nothing appends to, as Redis does).
    pub fn bgrewriteaof(self: &Arc<Self>) -> Result<String, Error> {
        {
            let mut r = lock(&self.aof.rewrite);
            if r.in_progress {
                return Err(Error::Aof(
                    "ERR Background append only file rewriting already in progress".to_owned(),
                ));
            }
            // The snapshot machinery takes one snapshot at a time.
            if self.begin_rewrite().is_err() {
                r.scheduled = true;
                return Ok("Background append only file rewriting scheduled".to_owned());
            }
            r.in_progress = true;
            r.scheduled = false;
            r.started = Some(Instant::now());
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("kvd-aof-rewrite".into())
            .spawn(move || me.run_rewrite());
        if let Err(e) = spawned {
            lock(&self.aof.rewrite).in_progress = false;
            self.end_rewrite();
            return Err(Error::Io(e));
        }
        Ok("Background append only file rewriting started".to_owned())
    }

    fn run_rewrite(&self) {
        let started = Instant::now();
        let result = self.rewrite();
        self.end_rewrite();
        let mut r = lock(&self.aof.rewrite);
        r.in_progress = false;
        r.started = None;
        r.last_secs = started.elapsed().as_secs() as i64;
        match result {
            Ok(()) => {
                r.last_ok = true;
                r.rewrites += 1;
                r.failures = 0;
                tracing::info!(elapsed = ?started.elapsed(), "Background AOF rewrite finished successfully");
            }
            Err(e) => {
                r.last_ok = false;
                r.failures += 1;
                tracing::error!("Background AOF rewrite failed: {e}");
            }
        }
    }

    /// The rewrite: a new incremental file from the snapshot's instant on, the snapshot as
    /// the new base, then the manifest naming just those two.
    fn rewrite(&self) -> Result<(), Error> {
        let config = self.aof.config();
        let root = self.config().dir;
        let dir = dir_of(&root, &config);
        std::fs::create_dir_all(&dir)?;
        let mpath = manifest_path(&root, &config);
        let running = lock(&self.aof.running)
            .as_ref()
            .map(|r| (Arc::clone(&r.inbox), r.manifest.clone()));
        let old = match &running {
            Some((_, m)) => m.clone(),
            None => match std::fs::read_to_string(&mpath) {
                Ok(text) => Manifest::parse(&text).unwrap_or_default(),
                Err(_) => Manifest::default(),
            },
        };
        let seq = old.last_seq() + 1;
        let incr = ManifestFile {
            name: format!("{}.{seq}.incr.aof", config.filename),
            seq,
            base: false,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(dir.join(&incr.name))?;
        file.sync_all()?;
        let hook: CutHook = match &running {
            Some((inbox, m)) => {
                // Until the base is written, a restart loads the old files and the new log.
                let mut with_new = m.clone();
                with_new.files.push(incr.clone());
                write_atomically(&mpath, with_new.render().as_bytes())?;
                if let Some(r) = lock(&self.aof.running).as_mut() {
                    r.manifest = with_new;
                }
                let slot = Arc::new(Mutex::new(Some(file)));
                let inbox = Arc::clone(inbox);
                CutHook(Arc::new(move |shard: &mut crate::shard::Shard| {
                    // What the shard logged since its last pass belongs before the cut.
                    if let Some(log) = shard.aof.as_mut() {
                        let _ = log.flush(Vec::new());
                    }
                    let _ = inbox.tx.send(writer::WriterMsg::Cut {
                        shard: shard.id,
                        file: Arc::clone(&slot),
                    });
                }))
            }
            None if config.enabled => {
                // `CONFIG SET appendonly yes`: the log starts at the snapshot's instant.
                let (inbox, thread) = self.spawn_writer(file, 0, &config)?;
                *lock(&self.aof.running) = Some(Running {
                    inbox: Arc::clone(&inbox),
                    thread: Some(thread),
                    manifest: Manifest::default(),
                });
                let n = self.workers.len();
                CutHook(Arc::new(move |shard: &mut crate::shard::Shard| {
                    shard.aof = Some(Box::new(AofLog::new(shard.id, n, Arc::clone(&inbox))));
                    for db in &mut shard.dbs {
                        db.log_expired = true;
                    }
                }))
            }
            None => {
                drop(file);
                CutHook(Arc::new(|_: &mut crate::shard::Shard| {}))
            }
        };
        let base = ManifestFile {
            name: format!("{}.{seq}.base.rdb", config.filename),
            seq,
            base: true,
        };
        match self.background_snapshot_with(&dir.join(&base.name), Some(hook)) {
            Ok(()) => {}
            Err(e) => {
                if running.is_none() && config.enabled {
                    // Turning the log on failed: leave it off rather than half on.
                    let _ = self.stop_aof();
                    let mut c = self.aof.config();
                    c.enabled = false;
                    self.aof.set_config(c);
                }
                return Err(e);
            }
        }
        let new = Manifest {
            files: vec![base.clone(), incr],
        };
        write_atomically(&mpath, new.render().as_bytes())?;
        let base_size = std::fs::metadata(dir.join(&base.name)).map_or(0, |m| m.len());
        self.aof.base_size.store(base_size, Ordering::Relaxed);
        self.aof.size_at_rewrite.store(
            base_size + self.aof.status.incr_size.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if let Some(r) = lock(&self.aof.running).as_mut() {
            r.manifest = new.clone();
        }
        // The old files are history now.
        for f in old.files.iter().filter(|f| !new.files.contains(f)) {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
        Ok(())
    }

    /// Called by the save schedule about every 100 ms: a rewrite that was scheduled behind a
    /// background save, or one due by `auto-aof-rewrite-percentage`/`-min-size`.
    pub(crate) fn aof_cron(self: &Arc<Self>) {
        let (scheduled, in_progress) = {
            let r = lock(&self.aof.rewrite);
            (r.scheduled, r.in_progress)
        };
        if in_progress || self.in_progress() {
            return;
        }
        if scheduled {
            let _ = self.bgrewriteaof();
            return;
        }
        let config = self.aof.config();
        if !self.aof.is_running() || config.auto_rewrite_percentage == 0 {
            return;
        }
        let size = self.aof.current_size();
        let base = self.aof.size_at_rewrite.load(Ordering::Relaxed).max(1);
        let growth = size.saturating_sub(base) * 100 / base;
        if size > config.auto_rewrite_min_size && growth >= config.auto_rewrite_percentage {
            tracing::info!(
                growth,
                "Starting automatic rewriting of AOF on {growth}% growth"
            );
            let _ = self.bgrewriteaof();
        }
    }
}
