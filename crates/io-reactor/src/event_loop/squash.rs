//! Pipelined multi-key commands across shards, run as one transaction.
//!
//! A `MSET`, `MGET`, `DEL`, `UNLINK`, `EXISTS` or `TOUCH` whose keys span shards is a scheduled
//! transaction (worker-shard's `txn.rs`): one hop locks its keys on every shard, the next runs
//! it. Until the first hop is back, the connection's later commands wait, since they must not
//! overtake it; a pipeline of such commands used to take two round trips per command.
//!
//! Here the ones parsed back to back from one connection are collected into a
//! [`Slot::Gather`], which takes one place in the pipeline, and started as one `EXEC`-like
//! transaction ([`worker_shard::exec`]) when the next command is of another kind, the group is
//! full, or parsing stops: two hops for the whole group, and each command's reply in its place.
//! Nothing of a group reaches a shard before it starts, and it starts before anything the
//! connection sends after it, so the connection's order holds. Running the commands as one is
//! an order Redis could have produced too (no other client's command between them), as in
//! Dragonfly's pipeline squashing. A command alone in its group starts as before.
use std::time::Instant;

use bytes::BytesMut;
use resp_codec::{Frame, Protocol, Request};
use worker_shard::{Coordinator, Queued};

use super::{EventLoop, make_tag};
use crate::conn::{Gather, Pending, Slot, Squashed};
use crate::stats::CommandStats;

/// Most commands in one group: enough to cover a deep pipeline's round trip, few enough that
/// one group's replies do not wait long for its last command.
const GATHER_MAX: usize = 64;

/// The commands collected into a group (their spread forms are single-round and need nothing
/// but their keys' locks).
const SQUASHABLE: [&[u8]; 6] = [b"mset", b"mget", b"del", b"unlink", b"exists", b"touch"];

/// Most arguments of a command in a group: a larger `MGET` reads its keys slice by slice under
/// its locks (worker-shard's `sliced_mget`), serving other clients in between, and runs alone.
const MAX_ARGS: usize = 1 + 1024;

fn squashable(name: &[u8]) -> bool {
    SQUASHABLE.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// Whether `req` may go into a group (see [`SQUASHABLE`] and [`MAX_ARGS`]).
pub(super) fn squashable_request(req: &Request) -> bool {
    req.args().len() <= MAX_ARGS && squashable(req.name())
}

/// Whether the next request in `buf` may join a group: a command of [`SQUASHABLE`] with at
/// most [`MAX_ARGS`] arguments (only the array header and the name need to be there; inline
/// requests never join).
fn next_is_squashable(buf: &[u8]) -> bool {
    let Some(rest) = buf.strip_prefix(b"*") else {
        return false;
    };
    let Some(line) = rest.iter().position(|&b| b == b'\r') else {
        return false;
    };
    let count = std::str::from_utf8(&rest[..line])
        .ok()
        .and_then(|d| d.parse::<usize>().ok());
    if count.is_none_or(|n| n > MAX_ARGS) {
        return false;
    }
    let Some(rest) = rest[line..].strip_prefix(b"\r\n$") else {
        return false;
    };
    let Some(digits) = rest.iter().position(|&b| b == b'\r') else {
        return false;
    };
    let Some(len) = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
    else {
        return false;
    };
    rest.get(digits + 2..digits + 2 + len)
        .is_some_and(squashable)
}

/// Writes one reply per command of a group from the transaction's reply, and counts each in
/// `INFO commandstats`.
pub(super) fn encode_replies(
    frame: Frame,
    squashed: &Squashed,
    proto: Protocol,
    stats: &CommandStats,
    out: &mut BytesMut,
) {
    let n = squashed.stats.len();
    // The group's time, shared out: each command is charged its part, not the whole.
    let usec = squashed.started.elapsed().as_micros() as u64 / n.max(1) as u64;
    let replies = match frame {
        Frame::Array(replies) if replies.len() == n => replies,
        // Only a wiring bug gets here: every command gets the error.
        Frame::Error(e) => vec![Frame::Error(e); n],
        _ => vec![Frame::error("ERR internal error"); n],
    };
    for (reply, stat) in replies.into_iter().zip(&squashed.stats) {
        if let Some(slot) = *stat {
            stats.record(slot, usec, matches!(reply, Frame::Error(_)));
        }
        reply.encode(proto, out);
    }
}

impl EventLoop {
    /// Adds `req` to the connection's group if it is the last pending reply, or opens a group
    /// with it (`coord` is its own coordinator, if it spans shards).
    pub(super) fn gather(
        &mut self,
        slot: usize,
        req: Request,
        coord: Option<Box<dyn Coordinator>>,
        discard: bool,
    ) {
        let generation = self.generations[slot];
        let stat = self.shared.command_stats.slot(req.args());
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let db = conn.state.db;
        if let Some(Pending {
            slot: Slot::Gather(g),
            discard: d,
        }) = conn.pending.back_mut()
            && g.reqs.len() < GATHER_MAX
            && *d == discard
        {
            g.first = None;
            g.reqs.push(Queued::Command { db, req });
            g.stats.push(stat);
            return;
        }
        // Behind another reply (an error answered in between) or a full group: a new group,
        // started after the one before it.
        let tag = make_tag(slot, generation, conn.next_seq());
        let proto = conn.state.proto;
        conn.pending.push_back(Pending {
            slot: Slot::Gather(Box::new(Gather {
                tag,
                reqs: vec![Queued::Command { db, req }],
                first: coord,
                stats: vec![stat],
                started: Instant::now(),
                proto,
            })),
            discard,
        });
        conn.unstarted += 1;
    }

    /// Before the next request is parsed: starts a group not started yet unless that request
    /// joins it. True if one was there (the connection then waits for its first hop).
    pub(super) fn start_gather_before_next(&mut self, slot: usize) -> bool {
        let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) else {
            return false;
        };
        if conn.unstarted == 0
            || (matches!(conn.pending.back(), Some(p) if matches!(p.slot, Slot::Gather(_)))
                && next_is_squashable(&conn.rbuf))
        {
            return false;
        }
        self.start_gather(slot);
        true
    }

    /// Starts the connection's first group not started yet, unless it waits behind an
    /// earlier barrier. The groups after it start when its first hop is back.
    pub(super) fn start_gather(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if conn.held || conn.unstarted == 0 {
            return;
        }
        // Groups not started are at the back: the first of them is the `unstarted`-th found
        // from there.
        let mut seen = 0;
        let Some(at) = conn.pending.iter().rposition(|p| {
            seen += matches!(p.slot, Slot::Gather(_)) as usize;
            seen == conn.unstarted
        }) else {
            return;
        };
        let Slot::Gather(g) = std::mem::replace(&mut conn.pending[at].slot, Slot::Waiting) else {
            return;
        };
        conn.unstarted -= 1;
        let Gather {
            tag,
            reqs,
            first,
            mut stats,
            started,
            proto,
        } = *g;
        if let Some(coord) = first {
            let stat = stats.pop().flatten().map(|s| (s, started));
            self.launch(slot, at, tag, coord, stat, None);
            return;
        }
        let client = conn.state.entry.id;
        let shards = self.shared.workers.len();
        let squashed = Squashed { stats, started };
        match worker_shard::exec(client, proto, reqs, &[], shards) {
            Ok(coord) => self.launch(slot, at, tag, coord, None, Some(squashed)),
            Err(frame) => {
                // No shard involved: cannot happen for these commands, answered all the same.
                let mut bytes = BytesMut::new();
                encode_replies(
                    frame,
                    &squashed,
                    proto,
                    &self.shared.command_stats,
                    &mut bytes,
                );
                if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                    conn.pending[at].slot = Slot::Ready(bytes.freeze());
                    conn.drain_ready();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_command_is_peeked_by_name() {
        assert!(next_is_squashable(b"*3\r\n$4\r\nMSET\r\n$1\r\na"));
        assert!(next_is_squashable(b"*12\r\n$4\r\nmget\r\n"));
        assert!(next_is_squashable(b"*2\r\n$3\r\nDeL\r\n$1\r\nk\r\n"));
        assert!(!next_is_squashable(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"));
        assert!(!next_is_squashable(b"*2\r\n$6\r\nMSETNX\r\n"));
        // Incomplete, inline or empty: never joins.
        assert!(!next_is_squashable(b"*3\r\n$4\r\nMS"));
        assert!(!next_is_squashable(b"MSET a 1 b 2\r\n"));
        assert!(!next_is_squashable(b""));
        assert!(!next_is_squashable(b"*3\r\n$x\r\nMSET\r\n"));
        // A huge MGET runs alone (sliced).
        assert!(next_is_squashable(b"*1025\r\n$4\r\nMGET\r\n"));
        assert!(!next_is_squashable(b"*1026\r\n$4\r\nMGET\r\n"));
    }
}
