//! Loading the log at start: the base snapshot, then the incremental logs replayed through
//! the ordinary routing (so keys land on the shards of the current worker count).
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use resp_codec::{Protocol, Request};

use super::Manifest;
use crate::message::{Batch, Op, OpKind, ReplyBatch, ReplyBody, ReplySink};
use crate::route::{Route, Step};
use crate::shard::Shard;
use crate::{Error, LoadSummary, WorkerHandle};

/// One command of a log file and where it starts.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) args: Vec<Bytes>,
    pub(crate) start: usize,
}

/// How the parse of a file ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum End {
    Complete,
    /// The file ends inside a command; everything before `valid` is complete.
    Truncated {
        valid: usize,
    },
    /// Bytes at `at` are not a command.
    Corrupt {
        at: usize,
    },
}

/// Splits a log into commands (`*N` then `N` bulk strings each).
pub(crate) fn parse(data: &Bytes) -> (Vec<Command>, End) {
    let mut cmds = Vec::new();
    let mut pos = 0;
    let bytes = &data[..];
    // A number line at `at` after `prefix`: the value and the index after its CRLF.
    let number = |at: usize, prefix: u8| -> Result<Option<(i64, usize)>, ()> {
        if at >= bytes.len() {
            return Ok(None);
        }
        if bytes[at] != prefix {
            return Err(());
        }
        let Some(nl) = bytes[at..].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let line = &bytes[at + 1..at + nl];
        let line = line.strip_suffix(b"\r").ok_or(())?;
        let n: i64 = std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(())?;
        Ok(Some((n, at + nl + 1)))
    };
    while pos < bytes.len() {
        let start = pos;
        let (argc, mut at) = match number(pos, b'*') {
            Ok(Some((n, at))) if n >= 1 => (n as usize, at),
            Ok(Some(_)) | Err(()) => return (cmds, End::Corrupt { at: start }),
            Ok(None) => return (cmds, End::Truncated { valid: start }),
        };
        let mut args = Vec::with_capacity(argc.min(1024));
        for _ in 0..argc {
            let (len, after) = match number(at, b'$') {
                Ok(Some((n, after))) if n >= 0 => (n as usize, after),
                Ok(Some(_)) | Err(()) => return (cmds, End::Corrupt { at: start }),
                Ok(None) => return (cmds, End::Truncated { valid: start }),
            };
            if after + len + 2 > bytes.len() {
                return (cmds, End::Truncated { valid: start });
            }
            if &bytes[after + len..after + len + 2] != b"\r\n" {
                return (cmds, End::Corrupt { at: start });
            }
            args.push(data.slice(after..after + len));
            at = after + len + 2;
        }
        cmds.push(Command { args, start });
        pos = at;
    }
    (cmds, End::Complete)
}

fn is(arg: &Bytes, name: &[u8]) -> bool {
    arg.eq_ignore_ascii_case(name)
}

/// Where the first incomplete transaction starts, as `(file, offset)`: a `MULTI` or
/// `KVDTX` part without its `EXEC`, or a `KVDTX` whose other parts are missing.
pub(crate) fn first_incomplete(files: &[Vec<Command>]) -> Option<(usize, usize)> {
    let mut cut: Option<(usize, usize)> = None;
    loop {
        let mut seen: HashMap<u64, (u32, u32, (usize, usize))> = HashMap::new();
        let mut based = std::collections::HashSet::new();
        let mut open: Option<(usize, usize, Option<u64>)> = None;
        let mut incomplete: Option<(usize, usize)> = None;
        'files: for (fi, cmds) in files.iter().enumerate() {
            for c in cmds {
                if cut.is_some_and(|cut| (fi, c.start) >= cut) {
                    break 'files;
                }
                let name = &c.args[0];
                if is(name, b"multi") || is(name, b"kvdtx") {
                    let seq = if is(name, b"kvdtx") {
                        let num = |i: usize| {
                            c.args
                                .get(i)
                                .and_then(|a| std::str::from_utf8(a).ok())
                                .and_then(|s| s.parse::<u64>().ok())
                        };
                        let (Some(seq), Some(parts)) = (num(1), num(2)) else {
                            continue;
                        };
                        let e = seen.entry(seq).or_insert((0, 0, (fi, c.start)));
                        e.0 += 1;
                        // Intermediate hops' frames say 0; the last hop's say how many.
                        e.1 = e.1.max(parts as u32);
                        e.2 = e.2.min((fi, c.start));
                        Some(seq)
                    } else {
                        None
                    };
                    open = Some((fi, c.start, seq));
                } else if is(name, b"exec") {
                    open = None;
                } else if is(name, b"kvdtxend") {
                    if let Some(seq) = c
                        .args
                        .get(1)
                        .and_then(|a| std::str::from_utf8(a).ok())
                        .and_then(|s| s.parse::<u64>().ok())
                    {
                        based.insert(seq);
                    }
                } else if is(name, b"kvdtxbase") {
                    // Parts of a transaction that a rewrite's snapshot holds (the cut fell
                    // between its parts): they count as present.
                    let num = |i: usize| {
                        c.args
                            .get(i)
                            .and_then(|a| std::str::from_utf8(a).ok())
                            .and_then(|s| s.parse::<u64>().ok())
                    };
                    if let (Some(seq), Some(n)) = (num(1), num(2)) {
                        let e = seen.entry(seq).or_insert((0, 0, (fi, c.start)));
                        e.0 += n as u32;
                        based.insert(seq);
                    }
                }
            }
        }
        if let Some((fi, at, _)) = open {
            incomplete = Some((fi, at));
        }
        for (seq, (count, parts, at)) in &seen {
            // No count: the last hop's frames are missing (unless a rewrite's base holds
            // every frame seen: nothing to apply then).
            let unknown = *parts == 0 && !based.contains(seq);
            let short = *parts > 0 && count < parts && !based.contains(seq);
            if (unknown || short) && incomplete.is_none_or(|i| *at < i) {
                incomplete = Some(*at);
            }
        }
        match incomplete {
            None => return cut,
            Some(i) => cut = Some(i),
        }
    }
}

/// Collects reply batches for the replay.
#[derive(Debug)]
struct Collect(flume::Sender<ReplyBatch>);

impl ReplySink for Collect {
    fn deliver(&self, batch: ReplyBatch) {
        let _ = self.0.send(batch);
    }
}

/// Feeds commands to the shards, pipelined per shard; waits only where order across shards
/// matters (a command spread over shards, a whole-keyspace record).
struct Replayer<'a> {
    workers: &'a [WorkerHandle],
    sink: Arc<dyn ReplySink>,
    rx: flume::Receiver<ReplyBatch>,
    pending: Vec<Vec<Op>>,
    outstanding: usize,
    errors: u64,
    commands: u64,
    file: String,
}

/// Most ops in flight before the replay waits for the shards (bounds the memory of replies).
const MAX_OUTSTANDING: usize = 1 << 16;

impl Replayer<'_> {
    fn op(db: u16, kind: OpKind) -> Op {
        Op {
            tag: 0,
            db,
            proto: Protocol::Resp2,
            kind,
        }
    }

    fn send(&mut self, shard: usize) -> Result<(), Error> {
        if self.pending[shard].is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.pending[shard]);
        self.outstanding += ops.len();
        let batch = Batch {
            reply_to: Arc::clone(&self.sink),
            ops,
        };
        if !self.workers[shard].send(batch) {
            return Err(Error::Stopped);
        }
        Ok(())
    }

    fn count_errors(&mut self, batch: &ReplyBatch) {
        for r in &batch.replies {
            if let ReplyBody::Encoded(range) = &r.body
                && batch.buf.get(range.start) == Some(&b'-')
            {
                if self.errors == 0 {
                    tracing::warn!(
                        "AOF replay: a command failed: {}",
                        String::from_utf8_lossy(&batch.buf[range.clone()]).trim_end()
                    );
                }
                self.errors += 1;
            }
        }
    }

    /// Sends everything pending and waits until every shard has run it.
    fn sync(&mut self) -> Result<(), Error> {
        for s in 0..self.workers.len() {
            self.send(s)?;
        }
        while self.outstanding > 0 {
            let batch = self.rx.recv().map_err(|_| Error::Stopped)?;
            self.outstanding = self.outstanding.saturating_sub(batch.replies.len());
            self.count_errors(&batch);
        }
        Ok(())
    }

    fn command(&mut self, db: u16, args: Vec<Bytes>) -> Result<(), Error> {
        self.commands += 1;
        let req = Request::new(args);
        let n = self.workers.len();
        match crate::route(&req, n) {
            Ok(Route::Shard(s)) => {
                self.pending[s].push(Self::op(db, OpKind::Command(req)));
                if self.pending[s].len() >= 1024 {
                    self.send(s)?;
                }
                if self.outstanding >= MAX_OUTSTANDING {
                    self.sync()?;
                }
                Ok(())
            }
            Ok(Route::FanOut(c)) => {
                self.sync()?;
                self.drive(db, c)
            }
            Ok(Route::Local) | Err(_) => Err(Error::Aof(format!(
                "Unknown command '{}' reading the append only file {}",
                String::from_utf8_lossy(req.name()),
                self.file
            ))),
        }
    }

    /// Runs a spread command to completion, as an IO thread would.
    fn drive(&mut self, db: u16, mut c: Box<dyn crate::Coordinator>) -> Result<(), Error> {
        c.set_protocol(Protocol::Resp2);
        let mut parts = c.start();
        let mut left = 0usize;
        loop {
            for (shard, part) in parts.drain(..) {
                left += 1;
                let batch = Batch {
                    reply_to: Arc::clone(&self.sink),
                    ops: vec![Self::op(db, OpKind::Part(part))],
                };
                if !self.workers[shard].send(batch) {
                    return Err(Error::Stopped);
                }
            }
            if left == 0 {
                return Ok(());
            }
            let batch = self.rx.recv().map_err(|_| Error::Stopped)?;
            let shard = batch.shard;
            for r in batch.replies {
                left = left.saturating_sub(1);
                if let ReplyBody::Part(p) = r.body {
                    match c.on_reply(shard, p) {
                        Step::Wait => {}
                        Step::Send(more) => parts.extend(more),
                        Step::Done(_) => return Ok(()),
                    }
                }
            }
        }
    }

    /// `KVDSCOPE shard shards command...`: a whole-keyspace command for the keys `shard` of
    /// `shards` owned.
    fn scoped(&mut self, db: u16, args: Vec<Bytes>) -> Result<(), Error> {
        let num = |a: Option<&Bytes>| {
            a.and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<usize>().ok())
        };
        let (Some(owner), Some(shards)) = (num(args.get(1)), num(args.get(2))) else {
            return Err(Error::Aof(format!(
                "Bad file format reading the append only file {}",
                self.file
            )));
        };
        let inner: Vec<Bytes> = args[3..].to_vec();
        let Some(name) = inner.first() else {
            return Ok(());
        };
        self.sync()?;
        if shards == self.workers.len() && owner < shards {
            self.pending[owner].push(Self::op(db, OpKind::Command(Request::new(inner))));
            return self.sync();
        }
        if is(name, b"debug") {
            // `DEBUG POPULATE` skips existing keys: the whole command once is close enough
            // when the worker count changed (documented).
            return if owner == 0 {
                self.command(db, inner)
            } else {
                Ok(())
            };
        }
        let scope = Scope::parse(&inner).ok_or_else(|| {
            Error::Aof(format!(
                "Unknown command '{}' reading the append only file {}",
                String::from_utf8_lossy(name),
                self.file
            ))
        })?;
        let (tx, rx) = flume::unbounded();
        for w in self.workers {
            let (tx, scope) = (tx.clone(), scope.clone());
            let sent = w.run(Box::new(move |shard: &mut Shard| {
                scope.apply(shard, db as usize, owner, shards);
                let _ = tx.send(());
            }));
            if !sent {
                return Err(Error::Stopped);
            }
        }
        drop(tx);
        for _ in self.workers {
            rx.recv().map_err(|_| Error::Stopped)?;
        }
        Ok(())
    }
}

/// A whole-keyspace command limited to the keys of one former shard.
#[derive(Debug, Clone)]
enum Scope {
    FlushDb,
    FlushAll,
    SwapDb(usize, usize),
}

impl Scope {
    fn parse(args: &[Bytes]) -> Option<Scope> {
        let num = |i: usize| {
            args.get(i)
                .and_then(|a| std::str::from_utf8(a).ok())
                .and_then(|s| s.parse::<usize>().ok())
        };
        let name = args.first()?;
        if is(name, b"flushdb") {
            Some(Scope::FlushDb)
        } else if is(name, b"flushall") {
            Some(Scope::FlushAll)
        } else if is(name, b"swapdb") {
            Some(Scope::SwapDb(num(1)?, num(2)?))
        } else {
            None
        }
    }

    fn apply(&self, shard: &mut Shard, db: usize, owner: usize, shards: usize) {
        let clock = shard.clock;
        let owned = |k: &[u8]| partition_router::shard_for(k, shards) == owner;
        let keys_of = |shard: &Shard, db: usize| -> Vec<Vec<u8>> {
            let mut keys = Vec::new();
            if let Some(d) = shard.dbs.get(db) {
                d.for_each_key(i64::MIN, |k, _| {
                    if owned(k) {
                        keys.push(k.to_vec());
                    }
                });
            }
            keys
        };
        let dbs: Vec<usize> = match self {
            Scope::FlushDb => vec![db],
            Scope::FlushAll => (0..shard.dbs.len()).collect(),
            Scope::SwapDb(a, b) => {
                let (a, b) = (*a, *b);
                if a == b || a >= shard.dbs.len() || b >= shard.dbs.len() {
                    return;
                }
                let take = |shard: &mut Shard, db: usize| {
                    keys_of(shard, db)
                        .into_iter()
                        .filter_map(|k| {
                            let e = shard.dbs[db].remove(&k, clock)?;
                            let at = e.expire_at();
                            Some((k, e.into_value(), at))
                        })
                        .collect::<Vec<_>>()
                };
                let from_a = take(shard, a);
                let from_b = take(shard, b);
                for (k, v, at) in from_a {
                    shard.dbs[b].insert(&k, v, at, clock);
                }
                for (k, v, at) in from_b {
                    shard.dbs[a].insert(&k, v, at, clock);
                }
                return;
            }
        };
        for db in dbs {
            for k in keys_of(shard, db) {
                shard.dbs[db].remove(&k, clock);
            }
        }
    }
}

/// Loads the base and replays the logs of `manifest` from `dir` into the (empty) shards.
pub(crate) fn load(
    workers: &[WorkerHandle],
    databases: usize,
    dir: &Path,
    manifest: &Manifest,
    load_truncated: bool,
) -> Result<LoadSummary, Error> {
    let mut summary = LoadSummary::default();
    set_loading(workers, true)?;
    let result = (|| {
        for f in manifest.files.iter().filter(|f| f.base) {
            summary.keys_loaded += load_base(workers, databases, &dir.join(&f.name))?;
        }
        let incrs: Vec<&super::ManifestFile> = manifest.files.iter().filter(|f| !f.base).collect();
        let mut parsed = Vec::with_capacity(incrs.len());
        let last = incrs.len().saturating_sub(1);
        let mut truncate_at: Option<usize> = None;
        for (i, f) in incrs.iter().enumerate() {
            let path = dir.join(&f.name);
            let data = match std::fs::read(&path) {
                Ok(d) => Bytes::from(d),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Bytes::new(),
                Err(e) => return Err(Error::Io(e)),
            };
            let (cmds, end) = parse(&data);
            match end {
                End::Complete => {}
                End::Corrupt { at } => {
                    return Err(Error::Aof(format!(
                        "Bad file format reading the append only file {} (at offset {at}): \
                         make a backup of your AOF file, then use ./redis-check-aof --fix \
                         <filename.manifest>",
                        f.name
                    )));
                }
                End::Truncated { valid } => {
                    if i != last || !load_truncated {
                        return Err(Error::Aof(format!(
                            "Unexpected end of file reading the append only file {}. You can: \
                             1) Make a backup of your AOF file, then use ./redis-check-aof \
                             --fix <filename.manifest>. 2) Alternatively you can set the \
                             'aof-load-truncated' configuration option to yes and restart the \
                             server.",
                            f.name
                        )));
                    }
                    tracing::warn!(
                        "!!! Warning: short read while loading the AOF file {}!!!",
                        f.name
                    );
                    truncate_at = Some(valid);
                }
            }
            parsed.push(cmds);
        }
        if let Some((fi, at)) = first_incomplete(&parsed) {
            if fi != last || !load_truncated {
                return Err(Error::Aof(format!(
                    "Unexpected end of file reading the append only file {} (an incomplete \
                     transaction at offset {at}). You can: 1) Make a backup of your AOF file, \
                     then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively \
                     you can set the 'aof-load-truncated' configuration option to yes and \
                     restart the server.",
                    incrs[fi].name
                )));
            }
            tracing::warn!(
                "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                incrs[fi].name
            );
            parsed[fi].retain(|c| c.start < at);
            truncate_at = Some(truncate_at.map_or(at, |t| t.min(at)));
        }
        if let (Some(at), Some(f)) = (truncate_at, incrs.last()) {
            let path = dir.join(&f.name);
            tracing::warn!("!!! Truncating the AOF {} at offset {at} !!!", f.name);
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            file.set_len(at as u64)?;
            file.sync_all()?;
            tracing::warn!(
                "AOF {} loaded anyway because aof-load-truncated is enabled",
                f.name
            );
        }
        let (tx, rx) = flume::unbounded();
        let mut r = Replayer {
            workers,
            sink: Arc::new(Collect(tx)),
            rx,
            pending: workers.iter().map(|_| Vec::new()).collect(),
            outstanding: 0,
            errors: 0,
            commands: 0,
            file: String::new(),
        };
        for (f, cmds) in incrs.iter().zip(parsed) {
            r.file = f.name.clone();
            let mut db = 0u16;
            for c in cmds {
                let name = &c.args[0];
                if is(name, b"select") {
                    db = c
                        .args
                        .get(1)
                        .and_then(|a| std::str::from_utf8(a).ok())
                        .and_then(|s| s.parse().ok())
                        .filter(|&d: &u16| (d as usize) < databases)
                        .ok_or_else(|| {
                            Error::Aof(format!(
                                "Bad file format reading the append only file {}",
                                f.name
                            ))
                        })?;
                } else if is(name, b"multi")
                    || is(name, b"exec")
                    || is(name, b"kvdtx")
                    || is(name, b"kvdtxbase")
                    || is(name, b"kvdtxend")
                {
                    // Complete transactions only are left; nothing runs concurrently.
                } else if is(name, b"kvdscope") {
                    r.scoped(db, c.args)?;
                } else {
                    r.command(db, c.args)?;
                }
            }
        }
        r.sync()?;
        if r.errors > 0 {
            tracing::warn!(errors = r.errors, "AOF replay: some commands failed");
        }
        tracing::info!(commands = r.commands, "AOF loaded");
        Ok(())
    })();
    set_loading(workers, false)?;
    result?;
    // The keys there are now (the shards publish their counts after every pass).
    summary.keys_loaded = workers
        .iter()
        .map(|w| (0..databases).map(|db| w.stats().keys(db)).sum::<u64>())
        .sum();
    Ok(summary)
}

/// Freezes (or restarts) the shards' clock: nothing expires while the log replays.
fn set_loading(workers: &[WorkerHandle], on: bool) -> Result<(), Error> {
    let (tx, rx) = flume::unbounded();
    for w in workers {
        let tx = tx.clone();
        if !w.run(Box::new(move |shard: &mut Shard| {
            shard.loading = on;
            shard.tick();
            let _ = tx.send(());
        })) {
            return Err(Error::Stopped);
        }
    }
    drop(tx);
    for _ in workers {
        rx.recv().map_err(|_| Error::Stopped)?;
    }
    Ok(())
}

/// Loads a base snapshot (every key, expired or not: the log that follows may refer to it).
fn load_base(workers: &[WorkerHandle], databases: usize, path: &Path) -> Result<u64, Error> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::Io(e)),
    };
    if data.is_empty() {
        return Ok(0);
    }
    let entries = crate::rdb::read_rdb(&data)?;
    drop(data);
    Ok(crate::persist::load_entries(workers, databases, entries, None)?.keys_loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(text: &[u8]) -> (Vec<Vec<String>>, End) {
        let (c, end) = parse(&Bytes::copy_from_slice(text));
        (
            c.into_iter()
                .map(|c| {
                    c.args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect()
                })
                .collect(),
            end,
        )
    }

    #[test]
    fn parses_commands_and_finds_a_truncated_tail() {
        let log = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let (c, end) = cmds(log);
        assert_eq!(end, End::Complete);
        assert_eq!(c, vec![vec!["SELECT", "0"], vec!["SET", "k", "v"]]);
        for cut in 1..log.len() {
            let (c, end) = cmds(&log[..cut]);
            let valid = if cut < 23 { 0 } else { 23 };
            if cut == 23 {
                assert_eq!(end, End::Complete);
            } else {
                assert_eq!(end, End::Truncated { valid }, "cut at {cut}");
            }
            assert_eq!(c.len(), usize::from(cut >= 23));
        }
        assert_eq!(cmds(b"*1\r\n$1\r\nx\r\nGARBAGE").1, End::Corrupt { at: 11 });
        assert_eq!(cmds(b"*1\r\n$1\r\nxy\r\n").1, End::Corrupt { at: 0 });
    }

    fn command(args: &[&str], start: usize) -> Command {
        Command {
            args: args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
            start,
        }
    }

    #[test]
    fn transactions_count_only_when_every_part_is_there() {
        let complete = vec![
            command(&["KVDTX", "7", "2"], 0),
            command(&["SET", "a", "1"], 10),
            command(&["EXEC"], 20),
            command(&["SET", "x", "1"], 30),
            command(&["KVDTX", "7", "2"], 40),
            command(&["SET", "b", "1"], 50),
            command(&["EXEC"], 60),
        ];
        assert_eq!(first_incomplete(&[complete]), None);
        // The second part is missing: the cut is at the first.
        let missing = vec![
            command(&["SET", "x", "1"], 0),
            command(&["KVDTX", "7", "2"], 10),
            command(&["SET", "a", "1"], 20),
            command(&["EXEC"], 30),
            command(&["SET", "y", "1"], 40),
        ];
        assert_eq!(first_incomplete(&[missing]), Some((0, 10)));
        // A MULTI without EXEC at the end.
        let open = vec![
            command(&["SET", "x", "1"], 0),
            command(&["MULTI"], 10),
            command(&["SET", "a", "1"], 20),
        ];
        assert_eq!(first_incomplete(&[open]), Some((0, 10)));
        // Cutting at an incomplete transaction can make an earlier one incomplete.
        let chained = vec![
            command(&["KVDTX", "1", "2"], 0),
            command(&["EXEC"], 5),
            command(&["KVDTX", "2", "2"], 10),
            command(&["EXEC"], 15),
            command(&["KVDTX", "1", "2"], 20),
            command(&["EXEC"], 25),
        ];
        assert_eq!(first_incomplete(&[chained]), Some((0, 0)));
        // A transaction in several hops: intermediate frames say 0, the last ones the total.
        let hops = |last: bool, ended: bool| {
            let mut log = vec![
                command(&["KVDTX", "9", "0"], 0),
                command(&["RPUSH", "dst", "x"], 5),
                command(&["EXEC"], 10),
            ];
            if last {
                log.extend([
                    command(&["KVDTX", "9", "2"], 20),
                    command(&["LPOP", "src", "1"], 25),
                    command(&["EXEC"], 30),
                ]);
            }
            if ended {
                log.push(command(&["KVDTXEND", "9"], 40));
            }
            log
        };
        assert_eq!(first_incomplete(&[hops(true, false)]), None);
        assert_eq!(first_incomplete(&[hops(false, false)]), Some((0, 0)));
        // Cancelled after its intermediate hop: what it did stays.
        assert_eq!(first_incomplete(&[hops(false, true)]), None);
    }
}
