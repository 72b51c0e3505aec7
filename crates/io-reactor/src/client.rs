//! `CLIENT` and its subcommands.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use resp_codec::{write_bulk, write_error, write_integer, write_simple};

use crate::conn::{ClientState, ReplyMode};
use crate::local::{
    INVALID_NAME, client_line, null, parse_i64, set_last_cmd, valid_name, write_text,
};
use crate::shared::{ClientEntry, Shared, lock};

fn err(out: &mut BytesMut, text: &str) {
    write_error(out, text.as_bytes());
}

fn wrong_args(out: &mut BytesMut, name: &str) {
    err(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    );
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn client(shared: &Shared, state: &mut ClientState, args: &[Bytes], out: &mut BytesMut) {
    let Some(sub) = args.get(1) else {
        return wrong_args(out, "client");
    };
    let lower = sub.to_ascii_lowercase();
    set_last_cmd(state, "client", &lower);
    let argc = args.len();
    match lower.as_slice() {
        b"id" if argc == 2 => write_integer(out, state.entry.id as i64),
        b"getname" if argc == 2 => {
            let name = state.entry.names().name;
            if name.is_empty() {
                null(out, state.proto);
            } else {
                write_bulk(out, name.as_bytes());
            }
        }
        b"setname" if argc == 3 => {
            if !valid_name(&args[2]) {
                return err(out, INVALID_NAME);
            }
            lock(&state.entry.names).name = lossy(&args[2]);
            write_simple(out, b"OK");
        }
        b"setinfo" if argc == 4 => {
            let attr = args[2].to_ascii_lowercase();
            let value = &args[3];
            let field = match attr.as_slice() {
                b"lib-name" => "lib-name",
                b"lib-ver" => "lib-ver",
                _ => {
                    return err(
                        out,
                        &format!("ERR Unrecognized option '{}'", lossy(&args[2])),
                    );
                }
            };
            if !valid_name(value) {
                return err(
                    out,
                    &format!("ERR {field} cannot contain spaces, newlines or special characters."),
                );
            }
            let mut names = lock(&state.entry.names);
            if field == "lib-name" {
                names.lib_name = lossy(value);
            } else {
                names.lib_ver = lossy(value);
            }
            write_simple(out, b"OK");
        }
        b"info" if argc == 2 => {
            let mut line = String::with_capacity(320);
            client_line(shared, &state.entry, &mut line);
            line.push('\n');
            write_text(out, line.as_bytes(), state.proto);
        }
        b"list" => list(shared, state, args, out),
        b"kill" if argc >= 3 => kill(shared, state, args, out),
        b"reply" if argc == 3 => {
            state.reply_cmd = true;
            let mode = args[2].to_ascii_lowercase();
            match mode.as_slice() {
                b"on" => {
                    state.reply = ReplyMode::On;
                    write_simple(out, b"OK");
                }
                b"off" => state.reply = ReplyMode::Off,
                b"skip" => {
                    if state.reply == ReplyMode::On {
                        state.reply = ReplyMode::Skip;
                    }
                }
                _ => err(out, "ERR syntax error"),
            }
        }
        b"no-evict" | b"no-touch" if argc == 3 => {
            let on = if args[2].eq_ignore_ascii_case(b"on") {
                true
            } else if args[2].eq_ignore_ascii_case(b"off") {
                false
            } else {
                return err(out, "ERR syntax error");
            };
            let flag = if lower == b"no-evict" {
                &state.entry.no_evict
            } else {
                &state.entry.no_touch
            };
            flag.store(on, Ordering::Relaxed);
            write_simple(out, b"OK");
        }
        b"getredir" if argc == 2 => write_integer(out, -1),
        b"unblock" if argc == 3 || argc == 4 => unblock(shared, args, out),
        b"unpause" if argc == 2 => write_simple(out, b"OK"),
        b"pause" | b"tracking" | b"caching" | b"trackinginfo" => err(
            out,
            &format!(
                "ERR CLIENT {} is not supported by kvd",
                lossy(sub).to_uppercase()
            ),
        ),
        b"help" if argc == 2 => {
            resp_codec::write_array_len(out, crate::help::CLIENT_HELP.len());
            for l in crate::help::CLIENT_HELP {
                write_simple(out, l.as_bytes());
            }
        }
        b"id" | b"getname" | b"setname" | b"setinfo" | b"info" | b"kill" | b"reply"
        | b"no-evict" | b"no-touch" | b"getredir" | b"unblock" | b"unpause" | b"help" => {
            wrong_args(out, &format!("client|{}", lossy(&lower)))
        }
        _ => err(
            out,
            &format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", lossy(sub)),
        ),
    }
}

fn snapshot(shared: &Shared) -> Vec<Arc<ClientEntry>> {
    lock(&shared.clients).values().cloned().collect()
}

/// A `TYPE` filter of `CLIENT LIST`/`CLIENT KILL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Pubsub,
    /// Replicas and masters: kvd has none.
    Never,
}

impl ClientType {
    fn matches(self, entry: &ClientEntry) -> bool {
        match self {
            ClientType::Normal => !entry.is_pubsub(),
            ClientType::Pubsub => entry.is_pubsub(),
            ClientType::Never => false,
        }
    }
}

fn valid_type(t: &[u8]) -> Option<ClientType> {
    let t = t.to_ascii_lowercase();
    match t.as_slice() {
        b"normal" => Some(ClientType::Normal),
        b"pubsub" => Some(ClientType::Pubsub),
        b"master" | b"replica" | b"slave" => Some(ClientType::Never),
        _ => None,
    }
}

fn list(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    let mut ids: Option<Vec<u64>> = None;
    let mut filter = None;
    match args.len() {
        2 => {}
        4 if args[2].eq_ignore_ascii_case(b"type") => match valid_type(&args[3]) {
            Some(t) => filter = Some(t),
            None => {
                return err(
                    out,
                    &format!("ERR Unknown client type '{}'", lossy(&args[3])),
                );
            }
        },
        n if n > 3 && args[2].eq_ignore_ascii_case(b"id") => {
            let mut list = Vec::new();
            for a in &args[3..] {
                match parse_i64(a) {
                    Some(id) if id > 0 => list.push(id as u64),
                    _ => return err(out, "ERR Invalid client ID"),
                }
            }
            ids = Some(list);
        }
        _ => return err(out, "ERR syntax error"),
    }
    let mut text = String::new();
    for entry in snapshot(shared) {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&entry.id))
            || filter.is_some_and(|t| !t.matches(&entry))
        {
            continue;
        }
        client_line(shared, &entry, &mut text);
        text.push('\n');
    }
    crate::local::write_text(out, text.as_bytes(), state.proto);
}

fn kill(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    if args.len() == 3 {
        // The old form: CLIENT KILL ip:port, +OK or an error, may kill the caller itself.
        let addr = lossy(&args[2]);
        let found = snapshot(shared)
            .into_iter()
            .find(|e| e.addr.to_string() == addr);
        match found {
            Some(entry) => {
                flag_kill(shared, &entry);
                write_simple(out, b"OK");
            }
            None => err(out, "ERR No such client"),
        }
        return;
    }
    if !args.len().is_multiple_of(2) {
        return err(out, "ERR syntax error");
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<String> = None;
    let mut laddr: Option<String> = None;
    let mut filters: Vec<ClientType> = Vec::new();
    let mut skipme = true;
    let mut maxage: Option<u64> = None;
    let mut user: Option<String> = None;
    for pair in args[2..].chunks(2) {
        let (opt, val) = (pair[0].to_ascii_lowercase(), &pair[1]);
        match opt.as_slice() {
            b"id" => match parse_i64(val) {
                Some(v) if v > 0 => id = Some(v as u64),
                _ => return err(out, "ERR client-id should be greater than 0"),
            },
            b"type" => match valid_type(val) {
                Some(t) => filters.push(t),
                None => return err(out, &format!("ERR Unknown client type '{}'", lossy(val))),
            },
            b"addr" => addr = Some(lossy(val)),
            b"laddr" => laddr = Some(lossy(val)),
            b"user" => {
                if shared.config.acl.user(&lossy(val)).is_none() {
                    return err(out, &format!("ERR No such user '{}'", lossy(val)));
                }
                user = Some(lossy(val));
            }
            b"skipme" => {
                if val.eq_ignore_ascii_case(b"yes") {
                    skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    skipme = false;
                } else {
                    return err(out, "ERR syntax error");
                }
            }
            b"maxage" => match parse_i64(val) {
                Some(v) if v >= 0 => maxage = Some(v as u64),
                _ => return err(out, "ERR syntax error"),
            },
            _ => return err(out, "ERR syntax error"),
        }
    }
    let mut killed = 0;
    for entry in snapshot(shared) {
        let matches = filters.iter().all(|t| t.matches(&entry))
            && id.is_none_or(|i| i == entry.id)
            && addr.as_ref().is_none_or(|a| *a == entry.addr.to_string())
            && laddr
                .as_ref()
                .is_none_or(|a| Some(a.as_str()) == fmt_addr(entry.laddr).as_deref())
            && maxage.is_none_or(|m| entry.created.elapsed().as_secs() >= m)
            && user.as_ref().is_none_or(|u| *u == lock(&entry.names).user)
            && !(skipme && entry.id == state.entry.id);
        if matches {
            flag_kill(shared, &entry);
            killed += 1;
        }
    }
    write_integer(out, killed);
}

fn fmt_addr(a: Option<SocketAddr>) -> Option<String> {
    a.map(|a| a.to_string())
}

/// Closes every client authenticated as one of `names` (`ACL DELUSER`).
pub(crate) fn kill_users(shared: &Shared, names: &[String]) {
    for entry in snapshot(shared) {
        let user = lock(&entry.names).user.clone();
        if names.contains(&user) {
            flag_kill(shared, &entry);
        }
    }
}

/// Has the loops check the subscriptions of every Pub/Sub client of user `name` (after
/// `ACL SETUSER` took channels away); those no longer allowed are closed.
pub(crate) fn recheck_subscribers(shared: &Shared, name: &str) {
    for entry in snapshot(shared) {
        if entry.is_pubsub() && lock(&entry.names).user == name {
            entry.recheck_channels.store(true, Ordering::Release);
            if let Some(handle) = shared.loops.get(entry.loop_index) {
                handle.kill_pending.store(true, Ordering::Release);
                handle.wake();
            }
        }
    }
}

/// Closes every client not authenticated as `default` (`ACL LOAD`).
pub(crate) fn kill_users_except_default(shared: &Shared) {
    for entry in snapshot(shared) {
        if lock(&entry.names).user != "default" {
            flag_kill(shared, &entry);
        }
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT | ERROR]`: flags a blocked client and wakes its loop, which
/// ends the wait on its next pass. The reply says whether the client was blocked; if a shard
/// serves it in the meantime, it gets its element instead.
fn unblock(shared: &Shared, args: &[Bytes], out: &mut BytesMut) {
    let how = match args.get(3) {
        None => 1,
        Some(r) if r.eq_ignore_ascii_case(b"timeout") => 1,
        Some(r) if r.eq_ignore_ascii_case(b"error") => 2,
        Some(_) => return err(out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Some(id) = parse_i64(&args[2]) else {
        return err(out, "ERR value is not an integer or out of range");
    };
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| lock(&shared.clients).get(&id).cloned());
    match target {
        Some(entry) if entry.blocked.load(Ordering::Acquire) => {
            entry.unblock.store(how, Ordering::Release);
            if let Some(handle) = shared.loops.get(entry.loop_index) {
                handle.kill_pending.store(true, Ordering::Release);
                handle.wake();
            }
            write_integer(out, 1);
        }
        _ => write_integer(out, 0),
    }
}

/// Marks a client for closing and wakes its loop, which closes it on its next pass.
fn flag_kill(shared: &Shared, entry: &ClientEntry) {
    entry.kill.store(true, Ordering::Release);
    if let Some(handle) = shared.loops.get(entry.loop_index) {
        handle.kill_pending.store(true, Ordering::Release);
        handle.wake();
    }
}
