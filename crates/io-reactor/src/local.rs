//! Commands the IO layer answers itself (`route()` returned `Route::Local`): connection and
//! server commands that touch no key.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp_codec::{
    Protocol, Request, write_array_len, write_bulk, write_error, write_integer, write_map_len,
    write_null, write_simple, write_verbatim,
};

use crate::conn::{ClientState, ReplyMode};
use crate::shared::{ClientEntry, Shared, lock, pack_name, unix_now};

/// What the loop must do after a local command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Continue,
    /// Stop reading and close once the replies due are written (`QUIT`, `SHUTDOWN`).
    Close,
}

/// The version kvd reports as `redis_version` and in `HELLO`: clients and tools gate features
/// on it, and kvd implements Redis 7.0's behaviour, so it claims the version it is tested
/// against. kvd's own version is `kvd_version` in `INFO server`.
pub(crate) const REDIS_VERSION: &str = "7.0.15";

/// Commands an unauthenticated client may send.
pub(crate) fn auth_exempt(name: &[u8]) -> bool {
    [&b"auth"[..], b"hello", b"quit", b"reset"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

fn ok(out: &mut BytesMut) {
    write_simple(out, b"OK");
}

fn err(out: &mut BytesMut, text: &str) {
    write_error(out, text.as_bytes());
}

fn syntax_error(out: &mut BytesMut) {
    err(out, "ERR syntax error");
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses an integer as strictly as Redis's `string2ll`.
pub(crate) fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || !digits.bytes().all(|c| c.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
        || s == "-0"
    {
        return None;
    }
    s.parse().ok()
}

fn wrong_args(out: &mut BytesMut, name: &str) {
    err(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    );
}

fn unknown_subcommand(out: &mut BytesMut, sub: &[u8], cmd: &str) {
    err(
        out,
        &format!("ERR unknown subcommand '{}'. Try {cmd} HELP.", lossy(sub)),
    );
}

fn write_help(out: &mut BytesMut, lines: &[&str]) {
    write_array_len(out, lines.len());
    for l in lines {
        write_simple(out, l.as_bytes());
    }
}

/// Redis's reply to a command it does not know.
pub(crate) fn unknown_command(out: &mut BytesMut, req: &Request) {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        lossy(req.name())
    );
    for arg in req.args().iter().skip(1) {
        if text.len() >= 128 {
            break;
        }
        text.push_str(&format!("'{}' ", lossy(arg)));
    }
    err(out, &text);
}

/// Runs one local command, appending its reply to `out`.
pub(crate) fn execute(
    shared: &Shared,
    state: &mut ClientState,
    req: &Request,
    out: &mut BytesMut,
) -> Action {
    let started = Instant::now();
    let start_len = out.len();
    let action = run(shared, state, req, out);
    if let Some(slot) = shared.command_stats.slot(req.args()) {
        let failed = out.get(start_len) == Some(&b'-');
        shared
            .command_stats
            .record(slot, started.elapsed().as_micros() as u64, failed);
    }
    action
}

fn run(shared: &Shared, state: &mut ClientState, req: &Request, out: &mut BytesMut) -> Action {
    let args = req.args();
    // Lowercased on the stack: every name answered here is short (one that is not falls to
    // the unknown-command arm, as any name not matched below).
    let mut lower = [0u8; 24];
    let name = match lower.get_mut(..req.name().len()) {
        Some(name) => {
            name.copy_from_slice(req.name());
            name.make_ascii_lowercase();
            &*name
        }
        None => &[][..],
    };
    match name {
        b"ping" => ping(args, out),
        b"echo" => match args {
            [_, msg] => write_bulk(out, msg),
            _ => wrong_args(out, "echo"),
        },
        b"quit" => {
            ok(out);
            return Action::Close;
        }
        b"hello" => {
            shared.sync_requirepass();
            hello(shared, state, args, out)
        }
        b"auth" => {
            shared.sync_requirepass();
            auth(shared, state, args, out)
        }
        b"select" => select(shared, state, args, out),
        b"reset" => {
            shared.sync_requirepass();
            reset(shared, state);
            // RESET turns replies back on before it answers, as in Redis.
            state.reply_cmd = true;
            write_simple(out, b"RESET");
        }
        b"client" => crate::client::client(shared, state, args, out),
        b"acl" => crate::acl_cmd::acl(shared, state, args, out),
        b"config" => config(shared, state, args, out),
        b"command" => crate::commands::command(state, &shared.renames, args, out),
        b"info" => crate::info::info(shared, state, args, out),
        b"time" => {
            let (secs, micros) = unix_now();
            write_array_len(out, 2);
            write_bulk(out, itoa::Buffer::new().format(secs).as_bytes());
            write_bulk(out, itoa::Buffer::new().format(micros).as_bytes());
        }
        b"lastsave" => write_integer(
            out,
            shared
                .hooks
                .lastsave()
                .unwrap_or(shared.started_unix as i64),
        ),
        b"save" => match shared.hooks.save() {
            Ok(()) => ok(out),
            Err(text) => err(out, &text),
        },
        b"bgsave" => match args {
            [_] => bgsave(shared, false, out),
            [_, opt] if opt.eq_ignore_ascii_case(b"schedule") => bgsave(shared, true, out),
            _ => syntax_error(out),
        },
        b"bgrewriteaof" => match shared.hooks.bgrewriteaof() {
            Ok(status) => write_simple(out, status.as_bytes()),
            Err(text) => err(out, &text),
        },
        b"wait" => wait(args, out),
        b"swapdb" => err(
            out,
            "ERR SWAPDB is not supported: kvd's databases are split over shards",
        ),
        b"shutdown" => return shutdown(shared, args, out),
        b"debug" => debug(args, out),
        b"memory" => crate::memory::memory(shared, state, args, out),
        _ => unknown_command(out, req),
    }
    Action::Continue
}

fn bgsave(shared: &Shared, schedule: bool, out: &mut BytesMut) {
    match shared.hooks.bgsave(schedule) {
        Ok(status) => write_simple(out, status.as_bytes()),
        Err(text) => err(out, &text),
    }
}

fn ping(args: &[bytes::Bytes], out: &mut BytesMut) {
    match args {
        // A constant line: no scan for line breaks, as a status of arbitrary text needs.
        [_] => out.extend_from_slice(b"+PONG\r\n"),
        [_, msg] => write_bulk(out, msg),
        _ => wrong_args(out, "ping"),
    }
}

fn hello(shared: &Shared, state: &mut ClientState, args: &[bytes::Bytes], out: &mut BytesMut) {
    let mut proto = None;
    if let Some(ver) = args.get(1) {
        match parse_i64(ver) {
            None => {
                return err(
                    out,
                    "ERR Protocol version is not an integer or out of range",
                );
            }
            Some(2) => proto = Some(Protocol::Resp2),
            Some(3) => proto = Some(Protocol::Resp3),
            Some(_) => return err(out, "NOPROTO unsupported protocol version"),
        }
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            credentials = Some((&args[j + 1], &args[j + 2]));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(&args[j + 1]);
            j += 2;
        } else {
            return err(
                out,
                &format!("ERR Syntax error in HELLO option '{}'", lossy(opt)),
            );
        }
    }
    if let Some((user, pass)) = credentials
        && !crate::acl_cmd::authenticate(shared, state, user, pass)
    {
        return err(out, WRONGPASS);
    }
    if !state.authed {
        return err(
            out,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if !valid_name(name) {
            return err(out, INVALID_NAME);
        }
        lock(&state.entry.names).name = lossy(name);
    }
    if let Some(p) = proto {
        state.proto = p;
        state
            .entry
            .resp
            .store(if p == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
    let p = state.proto;
    write_map_len(out, 7, p);
    write_bulk(out, b"server");
    write_bulk(out, b"redis");
    write_bulk(out, b"version");
    write_bulk(out, REDIS_VERSION.as_bytes());
    write_bulk(out, b"proto");
    write_integer(out, if p == Protocol::Resp3 { 3 } else { 2 });
    write_bulk(out, b"id");
    write_integer(out, state.entry.id as i64);
    write_bulk(out, b"mode");
    write_bulk(out, b"standalone");
    write_bulk(out, b"role");
    write_bulk(out, b"master");
    write_bulk(out, b"modules");
    write_array_len(out, 0);
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub(crate) const INVALID_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// Whether `name` is a valid client name: printable ASCII without spaces (empty clears it).
pub(crate) fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn auth(shared: &Shared, state: &mut ClientState, args: &[bytes::Bytes], out: &mut BytesMut) {
    let (user, pass) = match args {
        [_, pass] => (None, pass),
        [_, user, pass] => (Some(user), pass),
        [_] => return wrong_args(out, "auth"),
        _ => return syntax_error(out),
    };
    if user.is_none() && shared.config.acl.default_user().nopass() {
        return err(
            out,
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
    }
    let user = user.map_or(&b"default"[..], |u| u);
    if crate::acl_cmd::authenticate(shared, state, user, pass) {
        ok(out);
    } else {
        err(out, WRONGPASS);
    }
}

fn select(shared: &Shared, state: &mut ClientState, args: &[bytes::Bytes], out: &mut BytesMut) {
    let [_, index] = args else {
        return wrong_args(out, "select");
    };
    let Some(index) = parse_i64(index).filter(|&i| i >= i32::MIN as i64 && i <= i32::MAX as i64)
    else {
        return err(out, "ERR value is not an integer or out of range");
    };
    if index < 0 || index as usize >= shared.config.databases || index > u16::MAX as i64 {
        return err(out, "ERR DB index is out of range");
    }
    state.db = index as u16;
    state.entry.db.store(state.db, Ordering::Relaxed);
    ok(out);
}

fn reset(shared: &Shared, state: &mut ClientState) {
    state.db = 0;
    state.proto = Protocol::Resp2;
    state.reply = ReplyMode::On;
    let user = shared.config.acl.default_user();
    state.authed = user.auto_auth();
    state.acl_epoch = shared.config.acl.epoch();
    crate::acl_cmd::set_user(state, user);
    let entry = &state.entry;
    entry.db.store(0, Ordering::Relaxed);
    entry.resp.store(2, Ordering::Relaxed);
    entry.authenticated.store(false, Ordering::Relaxed);
    entry.no_evict.store(false, Ordering::Relaxed);
    entry.no_touch.store(false, Ordering::Relaxed);
    lock(&entry.names).name.clear();
}

fn config(shared: &Shared, state: &mut ClientState, args: &[bytes::Bytes], out: &mut BytesMut) {
    let Some(sub) = args.get(1) else {
        return wrong_args(out, "config");
    };
    let lower = sub.to_ascii_lowercase();
    set_last_cmd(state, "config", &lower);
    match lower.as_slice() {
        b"get" => {
            if args.len() < 3 {
                return wrong_args(out, "config|get");
            }
            let mut pairs: Vec<(String, String)> = Vec::new();
            for pattern in &args[2..] {
                for (k, v) in shared.hooks.config_get(&lossy(pattern)) {
                    if !pairs.iter().any(|(seen, _)| *seen == k) {
                        pairs.push((k, v));
                    }
                }
            }
            write_map_len(out, pairs.len(), state.proto);
            for (k, v) in pairs {
                write_bulk(out, k.as_bytes());
                write_bulk(out, v.as_bytes());
            }
        }
        b"set" => {
            if args.len() < 4 {
                return wrong_args(out, "config|set");
            }
            if !args.len().is_multiple_of(2) {
                return err(out, "ERR syntax error");
            }
            for pair in args[2..].chunks(2) {
                if let Err(text) = shared.hooks.config_set(&lossy(&pair[0]), &lossy(&pair[1])) {
                    return err(out, &text);
                }
            }
            ok(out);
        }
        b"resetstat" => {
            if args.len() != 2 {
                return wrong_args(out, "config|resetstat");
            }
            let stats = &shared.stats;
            for c in [
                &stats.total_connections,
                &stats.rejected_connections,
                &stats.total_commands,
                &stats.net_input_bytes,
                &stats.net_output_bytes,
            ] {
                c.store(0, Ordering::Relaxed);
            }
            shared.command_stats.reset();
            shared.workers.iter().for_each(|w| w.stats().reset());
            ok(out);
        }
        b"rewrite" => err(out, "ERR The server is running without a config file"),
        b"help" => write_help(out, crate::help::CONFIG_HELP),
        _ => unknown_subcommand(out, sub, "CONFIG"),
    }
}

/// Shows container commands as `name|sub` in `CLIENT LIST`'s `cmd=`, as Redis does.
pub(crate) fn set_last_cmd(state: &mut ClientState, name: &str, sub: &[u8]) {
    let mut full = Vec::with_capacity(24);
    full.extend_from_slice(name.as_bytes());
    full.push(b'|');
    full.extend_from_slice(sub);
    state.last_cmd = pack_name(&full);
    state.entry.set_last_cmd(state.last_cmd);
}

fn wait(args: &[bytes::Bytes], out: &mut BytesMut) {
    let [_, replicas, timeout] = args else {
        return wrong_args(out, "wait");
    };
    if parse_i64(replicas).is_none() {
        return err(out, "ERR value is not an integer or out of range");
    }
    match parse_i64(timeout) {
        None => err(out, "ERR timeout is not an integer or out of range"),
        Some(t) if t < 0 => err(out, "ERR timeout is negative"),
        // There are no replicas, so no replica ever acknowledges anything.
        Some(_) => write_integer(out, 0),
    }
}

/// `SHUTDOWN`'s save option (`Some(true)` for `SAVE`, `Some(false)` for `NOSAVE`) when its
/// options are valid and it is not `SHUTDOWN ABORT`.
pub(crate) fn shutdown_save_option(args: &[bytes::Bytes]) -> Option<Option<bool>> {
    let mut save = None;
    for opt in &args[1..] {
        match opt.to_ascii_lowercase().as_slice() {
            b"nosave" => save = Some(false),
            b"save" => save = Some(true),
            b"now" | b"force" => {}
            _ => return None,
        }
    }
    Some(save)
}

fn shutdown(shared: &Shared, args: &[bytes::Bytes], out: &mut BytesMut) -> Action {
    let mut abort = false;
    let mut save = None;
    for opt in &args[1..] {
        let o = opt.to_ascii_lowercase();
        match o.as_slice() {
            b"nosave" => save = Some(false),
            b"save" => save = Some(true),
            b"now" | b"force" => {}
            b"abort" => abort = true,
            _ => {
                syntax_error(out);
                return Action::Continue;
            }
        }
    }
    if abort {
        if args.len() != 2 {
            syntax_error(out);
        } else {
            err(out, "ERR No shutdown in progress.");
        }
        return Action::Continue;
    }
    if let Err(text) = shared.hooks.prepare_shutdown(save) {
        err(out, &text);
        return Action::Continue;
    }
    // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
    shared.hooks.shutdown();
    Action::Close
}

fn debug(args: &[bytes::Bytes], out: &mut BytesMut) {
    let Some(sub) = args.get(1) else {
        return wrong_args(out, "debug");
    };
    if sub.eq_ignore_ascii_case(b"sleep") {
        let [_, _, secs] = args else {
            return wrong_args(out, "debug|sleep");
        };
        let secs = std::str::from_utf8(secs)
            .ok()
            .and_then(|s| s.parse::<f64>().ok());
        let Some(secs) = secs.filter(|s| s.is_finite() && *s >= 0.0) else {
            return err(out, "ERR value is not a valid float");
        };
        // This blocks the whole IO thread (and so its other clients) for the duration, like
        // Redis's DEBUG SLEEP blocks its single thread. Capped to keep a typo from wedging it.
        std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
        return ok(out);
    }
    unknown_subcommand(out, sub, "DEBUG");
}

/// The `CLIENT LIST` line of one client, without the trailing newline.
pub(crate) fn client_line(shared: &Shared, entry: &ClientEntry, out: &mut String) {
    use std::fmt::Write as _;
    let names = entry.names();
    let now_ms = shared.now_ms();
    let idle = now_ms.saturating_sub(entry.last_active_ms.load(Ordering::Relaxed)) / 1000;
    let mut flags = String::new();
    let subs = entry.subs.each_ref().map(|c| c.load(Ordering::Relaxed));
    if entry.is_pubsub() {
        flags.push('P');
    }
    if entry.blocked.load(Ordering::Relaxed) {
        flags.push('b');
    }
    if entry.no_evict.load(Ordering::Relaxed) {
        flags.push('e');
    }
    if entry.no_touch.load(Ordering::Relaxed) {
        flags.push('T');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let laddr = entry.laddr.map(|a| a.to_string()).unwrap_or_default();
    let b = &entry.buffers;
    let (qbuf, qbuf_free) = (
        b.query.load(Ordering::Relaxed),
        b.query_free.load(Ordering::Relaxed),
    );
    // Redis splits output into a 16 KiB static buffer (`obl`) and a reply list (`oll`, `omem`).
    let output = b.output.load(Ordering::Relaxed);
    let obl = output.min(16 * 1024);
    let omem = output - obl;
    let events = if b.writing.load(Ordering::Relaxed) {
        "rw"
    } else {
        "r"
    };
    let _ = write!(
        out,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
         multi=-1 qbuf={qbuf} qbuf-free={qbuf_free} argv-mem=0 multi-mem=0 rbs={} rbp={qbuf} \
         obl={obl} oll={} omem={omem} tot-mem={} events={events} cmd={} user={} redir=-1 \
         resp={}",
        entry.id,
        entry.addr,
        laddr,
        entry.fd,
        names.name,
        entry.created.elapsed().as_secs(),
        idle,
        flags,
        entry.db.load(Ordering::Relaxed),
        subs[0],
        subs[1],
        subs[2],
        qbuf + qbuf_free,
        u64::from(omem > 0),
        qbuf + qbuf_free + output + 20 * 1024,
        entry.last_cmd(),
        names.user,
        entry.resp.load(Ordering::Relaxed),
    );
    if !names.lib_name.is_empty() || !names.lib_ver.is_empty() {
        let _ = write!(
            out,
            " lib-name={} lib-ver={}",
            names.lib_name, names.lib_ver
        );
    }
}

/// Appends `text` as Redis sends "info-like" text: a verbatim string in RESP3, bulk in RESP2.
pub(crate) fn write_text(out: &mut BytesMut, text: &[u8], proto: Protocol) {
    write_verbatim(out, *b"txt", text, proto);
}

/// Appends a null bulk string.
pub(crate) fn null(out: &mut BytesMut, proto: Protocol) {
    write_null(out, proto);
}
