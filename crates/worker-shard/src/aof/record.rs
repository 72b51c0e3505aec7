//! The shard side of the append-only log: each command's effect, in RESP, gathered per pass.
//!
//! A shard appends the effect of every write that changed something to its [`AofLog`]; at the
//! end of the pass the worker hands the whole buffer to the writer thread as one [`Chunk`]
//! (see `writer.rs`). Commands whose replay would not reproduce their effect are logged as
//! that effect, as Redis's propagation does: relative times become absolute (`SET ... PXAT`,
//! `PEXPIREAT`, `RESTORE ... ABSTTL`), `INCRBYFLOAT` becomes `SET ... KEEPTTL`, `SPOP`
//! becomes `SREM`, and blocking pops are logged as the pop they did.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::writer::{Chunk, Held, Inbox, WriterMsg};
use crate::ShardId;
use crate::route::{PartKind, PartResult};
use crate::sched::TxItem;
use crate::shard::Shard;

/// The records one shard produced since its last delivery.
#[derive(Debug)]
pub(crate) struct AofLog {
    shard: ShardId,
    shards: usize,
    buf: BytesMut,
    /// The database of the first record of this chunk, and of the last one.
    first_db: Option<u16>,
    last_db: u16,
    /// Transaction parts of this chunk that the writer must see complete: `(seq, parts)`.
    txs: Vec<(u64, u32)>,
    /// Where the open transaction's header starts, to drop an empty `MULTI`/`EXEC`.
    tx_start: Option<(usize, bool)>,
    /// Transactions with intermediate-hop frames here whose last hop has not run yet.
    stepped: std::collections::HashSet<u64>,
    /// Records went to the writer without replies (at a snapshot's cut, after active
    /// expiry): with `always`, the next replies must wait for the writer too.
    owed: bool,
    inbox: Arc<Inbox>,
}

impl AofLog {
    pub(crate) fn new(shard: ShardId, shards: usize, inbox: Arc<Inbox>) -> AofLog {
        AofLog {
            shard,
            shards,
            buf: BytesMut::with_capacity(4096),
            first_db: None,
            last_db: 0,
            txs: Vec::new(),
            tx_start: None,
            owed: false,
            stepped: Default::default(),
            inbox,
        }
    }

    fn select(&mut self, db: usize) {
        let db = db as u16;
        match self.first_db {
            None => self.first_db = Some(db),
            Some(_) if self.last_db != db => {
                let n = itoa::Buffer::new().format(db).to_owned();
                encode(&mut self.buf, &[b"SELECT".as_slice(), n.as_bytes()]);
            }
            Some(_) => {}
        }
        self.last_db = db;
    }

    /// Appends one command run in database `db`.
    pub(crate) fn command<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        self.select(db);
        encode(&mut self.buf, args);
    }

    /// A command over the whole keyspace of this shard (`FLUSHALL`, `SWAPDB`, ... run as one
    /// part per shard): replay applies it to the keys this shard owned only.
    fn scoped<A: AsRef<[u8]>>(&mut self, db: usize, args: &[A]) {
        self.select(db);
        let (i, n) = (
            itoa::Buffer::new().format(self.shard).to_owned(),
            itoa::Buffer::new().format(self.shards).to_owned(),
        );
        resp_codec::write_array_len(&mut self.buf, args.len() + 3);
        for a in [b"KVDSCOPE".as_slice(), i.as_bytes(), n.as_bytes()] {
            resp_codec::write_bulk(&mut self.buf, a);
        }
        for a in args {
            resp_codec::write_bulk(&mut self.buf, a.as_ref());
        }
    }

    /// Opens the frame of a transaction's items on this shard: `MULTI` when it runs on this
    /// shard in one hop (`parts` is `None`), else `KVDTX seq parts` (replay applies it only if
    /// that many frames are present; an intermediate hop's frame says 0).
    pub(crate) fn begin_tx(&mut self, seq: u64, parts: Option<u32>) {
        let single = parts.is_none();
        match parts {
            Some(0) => {
                self.stepped.insert(seq);
            }
            Some(_) => {
                self.stepped.remove(&seq);
            }
            None => {}
        }
        if let Some(parts) = parts {
            let (s, p) = (seq.to_string(), parts.to_string());
            encode(
                &mut self.buf,
                &[b"KVDTX".as_slice(), s.as_bytes(), p.as_bytes()],
            );
            self.txs.push((seq, parts));
        } else {
            encode(&mut self.buf, &[b"MULTI"]);
        }
        self.tx_start = Some((self.buf.len(), single));
    }

    /// A transaction was cancelled after intermediate hops that wrote here (only after an
    /// error): what they did stays, so replay applies its frames as they are.
    pub(crate) fn cancel_tx(&mut self, seq: u64) {
        if self.stepped.remove(&seq) {
            let s = seq.to_string();
            encode(&mut self.buf, &[b"KVDTXEND".as_slice(), s.as_bytes()]);
        }
    }

    pub(crate) fn end_tx(&mut self) {
        if let Some((body, single)) = self.tx_start.take()
            && single
            && body == self.buf.len()
        {
            // A transaction on one shard that changed nothing leaves no trace.
            self.buf.truncate(body - b"*1\r\n$5\r\nMULTI\r\n".len());
            return;
        }
        encode(&mut self.buf, &[b"EXEC"]);
    }

    /// Whether replies wait for the writer at all (`appendfsync always`).
    pub(crate) fn fsyncs_before_replies(&self) -> bool {
        self.inbox.always.load(Ordering::Relaxed)
    }

    /// Whether the replies of this pass must wait for the writer: with `appendfsync always`
    /// when this pass logged something or earlier replies still wait (they keep their order).
    fn holds_replies(&self, has_chunk: bool) -> bool {
        self.inbox.always.load(Ordering::Relaxed)
            && (has_chunk
                || self.owed
                || self.inbox.inflight[self.shard].load(Ordering::Acquire) > 0)
    }

    fn take_chunk(&mut self) -> Option<Chunk> {
        if self.buf.is_empty() {
            return None;
        }
        let first_db = self.first_db.take().unwrap_or(self.last_db);
        Some(Chunk {
            first_db,
            last_db: self.last_db,
            bytes: self.buf.split().freeze(),
            txs: std::mem::take(&mut self.txs),
        })
    }

    /// End of a pass: sends this pass's records to the writer. Returns the replies back if
    /// they can be delivered now; `None` if the writer took them, to deliver once the records
    /// are on disk.
    pub(crate) fn flush(&mut self, replies: Vec<Held>) -> Option<Vec<Held>> {
        let chunk = self.take_chunk();
        let hold = self.holds_replies(chunk.is_some()) && !replies.is_empty();
        if chunk.is_none() && !hold {
            return Some(replies);
        }
        // Replies sent behind records are delivered after them; records sent alone leave a
        // debt for the next replies.
        self.owed = if hold {
            false
        } else {
            self.owed || chunk.is_some()
        };
        let (replies, back) = if hold {
            self.inbox.inflight[self.shard].fetch_add(1, Ordering::AcqRel);
            (replies, None)
        } else {
            (Vec::new(), Some(replies))
        };
        let msg = WriterMsg::Chunk {
            shard: self.shard,
            chunk,
            replies,
        };
        if let Err(flume::SendError(WriterMsg::Chunk { replies, .. })) = self.inbox.tx.send(msg) {
            // The writer is gone (the log is being turned off): replies must not be lost.
            if !replies.is_empty() {
                self.inbox.inflight[self.shard].fetch_sub(1, Ordering::AcqRel);
            }
            let mut back = back.unwrap_or_default();
            back.extend(replies);
            return Some(back);
        }
        back
    }
}

fn encode<A: AsRef<[u8]>>(buf: &mut BytesMut, args: &[A]) {
    resp_codec::write_array_len(buf, args.len());
    for a in args {
        resp_codec::write_bulk(buf, a.as_ref());
    }
}

/// Whether a transaction's items on one shard may write (then it logs a frame).
pub(crate) fn items_may_write(items: &[TxItem]) -> bool {
    items.iter().any(|item| match item {
        TxItem::Command { req, .. } => crate::lookup_command(req.name())
            .is_some_and(|s| s.flags.contains(&"write") || s.name == "debug"),
        TxItem::Part { kind, .. } => part_writes(kind),
        TxItem::WatchCheck { .. } | TxItem::Unwatch { .. } | TxItem::Snapshot(_) => false,
    })
}

fn part_writes(kind: &PartKind) -> bool {
    matches!(
        kind,
        PartKind::Del(_)
            | PartKind::Mset(_)
            | PartKind::FlushDb
            | PartKind::FlushAll
            | PartKind::SwapDb(..)
            | PartKind::Populate(_)
            | PartKind::Put { .. }
            | PartKind::RenameFrom(_)
            | PartKind::PutColl { .. }
            | PartKind::SetMember { .. }
            | PartKind::ZPop { .. }
            | PartKind::ListPop { .. }
            | PartKind::ListPush { .. }
    )
}

/// Turns the expiries the databases logged into `DEL` records (before the effect of the
/// command that found them expired, as Redis propagates them).
pub(crate) fn log_expired(shard: &mut Shard, log: &mut AofLog) {
    for (db, d) in shard.dbs.iter_mut().enumerate() {
        if d.events.is_empty() {
            continue;
        }
        for (event, key) in &d.events {
            if *event == "expired" {
                log.command(db, &[b"DEL".as_slice(), key]);
            }
        }
        if shard.notifier.flags == 0 {
            d.events.clear();
        }
    }
}

/// Logs `DEL key` (an evicted key), if the log is on.
pub(crate) fn log_del(shard: &mut Shard, db: usize, key: &[u8]) {
    if let Some(log) = shard.aof.as_mut() {
        log.command(db, &[b"DEL".as_slice(), key]);
    }
}

/// Logs the expiries the databases recorded, if the log is on.
pub(crate) fn drain_expired(shard: &mut Shard) {
    if let Some(mut log) = shard.aof.take() {
        log_expired(shard, &mut log);
        shard.aof = Some(log);
    }
}

/// After a command ran on the shard: its expiries, then its effect if it changed something.
pub(crate) fn after_command(
    shard: &mut Shard,
    db: usize,
    name: &str,
    args: &[Bytes],
    reply: &[u8],
    changed: bool,
) {
    if changed {
        log_command(shard, db, name, args, reply);
    } else {
        drain_expired(shard);
    }
}

/// What a part needs logged, taken before the part runs (it consumes its arguments).
#[derive(Debug)]
pub(crate) enum PartLog {
    Del(Vec<Bytes>),
    Mset(Vec<Bytes>),
    Scoped(Vec<Bytes>),
    /// The final state of this key (in this database, if not the op's).
    State(Bytes, Option<usize>),
    SetMember(Bytes, Bytes, bool),
    ZPop(Bytes, bool, usize),
    ListPush(Bytes, Bytes, crate::list::End),
}

impl PartLog {
    pub(crate) fn of(kind: &PartKind) -> Option<PartLog> {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        Some(match kind {
            PartKind::Del(keys) => PartLog::Del(keys.clone()),
            PartKind::Mset(pairs) => PartLog::Mset(pairs.clone()),
            PartKind::FlushDb => PartLog::Scoped(vec![b("FLUSHDB")]),
            PartKind::FlushAll => PartLog::Scoped(vec![b("FLUSHALL")]),
            PartKind::SwapDb(x, y) => PartLog::Scoped(vec![
                b("SWAPDB"),
                Bytes::from(x.to_string()),
                Bytes::from(y.to_string()),
            ]),
            PartKind::Populate(p) => PartLog::Scoped(vec![
                b("DEBUG"),
                b("POPULATE"),
                Bytes::from(p.count.to_string()),
                p.prefix.clone(),
                Bytes::from(p.size.to_string()),
            ]),
            PartKind::Put { key, db, .. } => PartLog::State(key.clone(), *db),
            PartKind::PutColl { key, .. } => PartLog::State(key.clone(), None),
            PartKind::RenameFrom(key) => PartLog::Del(vec![key.clone()]),
            PartKind::SetMember { key, member, add } => {
                PartLog::SetMember(key.clone(), member.clone(), *add)
            }
            PartKind::ZPop { key, max, count } => PartLog::ZPop(key.clone(), *max, *count),
            PartKind::ListPush { key, elem, end } => {
                PartLog::ListPush(key.clone(), elem.clone(), *end)
            }
            _ => return None,
        })
    }

    /// Logs the part's effect given its result.
    pub(crate) fn log(self, shard: &mut Shard, db: usize, result: &PartResult) {
        let Some(mut log) = shard.aof.take() else {
            return;
        };
        log_expired(shard, &mut log);
        let failed = matches!(result, PartResult::Error(_));
        match self {
            _ if failed => {}
            PartLog::Del(keys) => {
                if !matches!(result, PartResult::Count(0)) {
                    let mut args = vec![Bytes::from_static(b"DEL")];
                    args.extend(keys);
                    log.command(db, &args);
                }
            }
            PartLog::Mset(pairs) => {
                let mut args = vec![Bytes::from_static(b"MSET")];
                args.extend(pairs);
                log.command(db, &args);
            }
            PartLog::Scoped(args) => log.scoped(db, &args),
            PartLog::State(key, target) => {
                if !matches!(result, PartResult::Count(0)) {
                    log_state(shard, &mut log, target.unwrap_or(db), &key);
                }
            }
            PartLog::SetMember(key, member, add) => {
                let name: &[u8] = if add { b"SADD" } else { b"SREM" };
                log.command(db, &[name, &key, &member]);
            }
            PartLog::ZPop(key, max, count) => {
                if matches!(result, PartResult::ZPopped(p) if !p.is_empty()) {
                    let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                    log.command(db, &[name, &key, count.to_string().as_bytes()]);
                }
            }
            PartLog::ListPush(key, elem, end) => {
                let name: &[u8] = match end {
                    crate::list::End::Left => b"LPUSH",
                    crate::list::End::Right => b"RPUSH",
                };
                log.command(db, &[name, &key, &elem]);
            }
        }
        shard.aof = Some(log);
    }
}

/// Logs the current state of `key`: `RESTORE key at payload REPLACE ABSTTL`, or `DEL key`.
fn log_state(shard: &mut Shard, log: &mut AofLog, db: usize, key: &[u8]) {
    let clock = shard.clock;
    let Some(d) = shard.dbs.get_mut(db) else {
        return;
    };
    match d.peek(key, clock) {
        Some(e) => {
            let payload = crate::rdb::encode_dump(&crate::rdb::from_value(&e.as_value()));
            let at = e.expire_at().unwrap_or(0).to_string();
            log.command(
                db,
                &[
                    b"RESTORE".as_slice(),
                    key,
                    at.as_bytes(),
                    &payload,
                    b"REPLACE",
                    b"ABSTTL",
                ],
            );
        }
        None => log.command(db, &[b"DEL".as_slice(), key]),
    }
}

/// Logs a pop made by a blocking command (or a cross-shard `LMOVE`/`LMPOP` part): `LPOP key
/// n`, `LMOVE src dst from to`, `ZPOPMIN key n`.
pub(crate) fn log_pop(shard: &mut Shard, db: usize, key: &[u8], what: Pop<'_>, n: usize) {
    let Some(mut log) = shard.aof.take() else {
        return;
    };
    log_expired(shard, &mut log);
    let count = n.to_string();
    let side = |end: crate::list::End| -> &'static [u8] {
        match end {
            crate::list::End::Left => b"LEFT",
            crate::list::End::Right => b"RIGHT",
        }
    };
    match what {
        Pop::List(end) => {
            let name: &[u8] = match end {
                crate::list::End::Left => b"LPOP",
                crate::list::End::Right => b"RPOP",
            };
            log.command(db, &[name, key, count.as_bytes()]);
        }
        Pop::Move(from, to, dst) => {
            log.command(db, &[b"LMOVE".as_slice(), key, dst, side(from), side(to)]);
        }
        Pop::ZSet(max) => {
            let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            log.command(db, &[name, key, count.as_bytes()]);
        }
    }
    shard.aof = Some(log);
}

/// What a blocking pop did, for [`log_pop`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pop<'a> {
    List(crate::list::End),
    Move(crate::list::End, crate::list::End, &'a [u8]),
    ZSet(bool),
}

fn is_zero(reply: &[u8]) -> bool {
    reply == b":0\r\n"
}

fn is_nil(reply: &[u8]) -> bool {
    matches!(reply, b"$-1\r\n" | b"*-1\r\n" | b"_\r\n")
}

fn is_empty_array(reply: &[u8]) -> bool {
    matches!(reply, b"*0\r\n" | b"~0\r\n")
}

/// The bulk strings of a bulk, array or set reply.
fn bulks(reply: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = reply;
    let line = |r: &[u8]| -> Option<(i64, usize)> {
        let end = r.iter().position(|&b| b == b'\r')?;
        let n = std::str::from_utf8(&r[1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    };
    if matches!(rest.first(), Some(b'*' | b'~')) {
        let Some((_, used)) = line(rest) else {
            return out;
        };
        rest = &rest[used..];
    }
    while rest.first() == Some(&b'$') {
        let Some((n, used)) = line(rest) else {
            break;
        };
        if n < 0 {
            rest = &rest[used..];
            continue;
        }
        let n = n as usize;
        if rest.len() < used + n + 2 {
            break;
        }
        out.push(&rest[used..used + n]);
        rest = &rest[used + n + 2..];
    }
    out
}

/// Logs the effect of a command that ran successfully on this shard. `reply` is its encoded
/// reply (RESP2 or RESP3).
fn log_command(shard: &mut Shard, db: usize, name: &str, args: &[Bytes], reply: &[u8]) {
    let Some(mut log) = shard.aof.take() else {
        return;
    };
    log_expired(shard, &mut log);
    let key = || args.get(1).map_or(&[][..], |k| &k[..]);
    match name {
        // Their pops are logged where they happen (`blocking::pop_for`).
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" => {}
        // The common case: no options, replay reproduces it (and clears a TTL, as it did).
        "set" if args.len() == 3 => log.command(db, args),
        "set" | "setex" | "psetex" => {
            let value = if name == "set" { &args[2] } else { &args[3] };
            if name != "set" || did_set(args, reply) {
                log_string(shard, &mut log, db, key(), value);
            }
        }
        "getex" => {
            if args.len() > 2 && !is_nil(reply) {
                log_ttl(shard, &mut log, db, key(), true);
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if !is_zero(reply) {
                log_ttl(shard, &mut log, db, key(), false);
            }
        }
        "restore" => log_state(shard, &mut log, db, key()),
        "incrbyfloat" => {
            if let Some(v) = bulks(reply).first() {
                log.command(db, &[b"SET".as_slice(), key(), v, b"KEEPTTL"]);
            }
        }
        "hincrbyfloat" => {
            if let Some(v) = bulks(reply).first() {
                log.command(db, &[b"HSET".as_slice(), key(), &args[2], v]);
            }
        }
        "spop" => {
            let members = bulks(reply);
            if !members.is_empty() {
                let mut cmd: Vec<&[u8]> = vec![b"SREM", key()];
                cmd.extend(members);
                log.command(db, &cmd);
            }
        }
        "del" | "unlink" | "persist" | "sadd" | "srem" | "hdel" | "zrem" | "setnx" | "hsetnx"
        | "msetnx" | "renamenx" | "smove" | "lpushx" | "rpushx" | "lrem" | "zremrangebyscore"
        | "zremrangebyrank" | "zremrangebylex" | "copy" | "linsert"
            if is_zero(reply) || reply == b":-1\r\n" => {}
        "lpop" | "rpop" | "zpopmin" | "zpopmax" | "lmpop" | "zmpop" | "lmove" | "rpoplpush"
        | "getdel"
            if is_nil(reply) || is_empty_array(reply) => {}
        "debug"
            if !args
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"populate")) => {}
        _ => log.command(db, args),
    }
    shard.aof = Some(log);
}

/// Whether a successful `SET` stored its value (`NX`/`XX` may refuse; with `GET` the reply is
/// the old value).
fn did_set(args: &[Bytes], reply: &[u8]) -> bool {
    let has = |w: &[u8]| args[3..].iter().any(|a| a.eq_ignore_ascii_case(w));
    let (nx, xx, get) = (has(b"nx"), has(b"xx"), has(b"get"));
    match (nx, xx, get) {
        (false, false, _) => true,
        (_, _, false) => !is_nil(reply),
        (true, _, true) => is_nil(reply),
        (false, true, true) => !is_nil(reply),
    }
}

/// `SET key value [PXAT at]` from the key's state after the command, or `DEL key` if it is
/// already gone (a time in the past).
fn log_string(shard: &mut Shard, log: &mut AofLog, db: usize, key: &[u8], value: &[u8]) {
    let clock = shard.clock;
    match shard.dbs[db].peek(key, clock).map(|e| e.expire_at()) {
        Some(Some(at)) => {
            let at = at.to_string();
            log.command(db, &[b"SET".as_slice(), key, value, b"PXAT", at.as_bytes()]);
        }
        Some(None) => log.command(db, &[b"SET".as_slice(), key, value]),
        None => log.command(db, &[b"DEL".as_slice(), key]),
    }
}

/// `PEXPIREAT key at` (or `PERSIST key` when `persist` allows it) from the key's state after
/// the command, or `DEL key` if it is gone.
fn log_ttl(shard: &mut Shard, log: &mut AofLog, db: usize, key: &[u8], persist: bool) {
    let clock = shard.clock;
    match shard.dbs[db].peek(key, clock).map(|e| e.expire_at()) {
        Some(Some(at)) => {
            let at = at.to_string();
            log.command(db, &[b"PEXPIREAT".as_slice(), key, at.as_bytes()]);
        }
        Some(None) if persist => log.command(db, &[b"PERSIST".as_slice(), key]),
        Some(None) => {}
        None => log.command(db, &[b"DEL".as_slice(), key]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulks_of_replies() {
        assert_eq!(bulks(b"$3\r\nabc\r\n"), vec![b"abc".as_slice()]);
        assert_eq!(
            bulks(b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"),
            vec![b"a".as_slice(), b"bc"]
        );
        assert_eq!(bulks(b"~1\r\n$1\r\nz\r\n"), vec![b"z".as_slice()]);
        assert!(bulks(b"$-1\r\n").is_empty());
    }

    #[test]
    fn set_flags_decide_whether_it_stored() {
        let args = |a: &[&str]| -> Vec<Bytes> {
            a.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        assert!(did_set(&args(&["set", "k", "v"]), b"+OK\r\n"));
        assert!(!did_set(&args(&["set", "k", "v", "NX"]), b"$-1\r\n"));
        assert!(did_set(&args(&["set", "k", "v", "nx", "get"]), b"$-1\r\n"));
        assert!(!did_set(
            &args(&["set", "k", "v", "nx", "get"]),
            b"$1\r\nx\r\n"
        ));
        assert!(did_set(
            &args(&["set", "k", "v", "xx", "get"]),
            b"$1\r\nx\r\n"
        ));
        assert!(did_set(&args(&["set", "k", "v", "get"]), b"$-1\r\n"));
    }
}
