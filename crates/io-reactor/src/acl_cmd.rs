//! `ACL` and its subcommands, the per-command permission gate, and `AUTH`'s user lookup.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use resp_codec::{
    Protocol, write_array_len, write_bulk, write_double, write_error, write_integer, write_map_len,
    write_set_len, write_simple,
};

use crate::acl::{CATEGORIES, Denied, User, category_commands, random_bytes, valid_username};
use crate::conn::ClientState;
use crate::local::{client_line, null, parse_i64, set_last_cmd};
use crate::shared::{Shared, lock};

fn err(out: &mut BytesMut, text: &str) {
    write_error(out, text.as_bytes());
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the gate decided about a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    Allowed,
    /// Refused: the full error text to send.
    Denied(String),
    /// The connection's user was deleted: close it, as Redis does.
    Gone,
}

/// Checks a command against the connection's user. The fast path (the user has not changed
/// and may do anything) is one atomic load and one flag test.
pub(crate) fn gate(shared: &Shared, state: &mut ClientState, args: &[Bytes]) -> Gate {
    let epoch = shared.config.acl.epoch();
    if state.acl_epoch != epoch {
        state.acl_epoch = epoch;
        match shared.config.acl.user(&state.user.name) {
            Some(user) => state.user = user,
            None => return Gate::Gone,
        }
    }
    if state.user.unrestricted {
        return Gate::Allowed;
    }
    match state.user.check(args) {
        Ok(()) => Gate::Allowed,
        Err(denied) => {
            let (reason, object) = log_object(&denied, args);
            let context = if state.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            let mut info = String::new();
            client_line(shared, &state.entry, &mut info);
            shared
                .config
                .acl
                .log((reason, context), object, &state.user.name, info);
            Gate::Denied(noperm(&denied, args))
        }
    }
}

/// Checks a queued command again when `EXEC` runs it, as Redis does: the user's rules may have
/// changed since it was queued. A refusal is logged (context `multi`) and its error text
/// returned, to stand in the `EXEC` reply in place of the command's.
pub(crate) fn recheck_queued(
    shared: &Shared,
    state: &ClientState,
    args: &[Bytes],
) -> Option<String> {
    if state.user.unrestricted {
        return None;
    }
    let denied = state.user.check(args).err()?;
    let (reason, object) = log_object(&denied, args);
    let mut info = String::new();
    client_line(shared, &state.entry, &mut info);
    shared
        .config
        .acl
        .log((reason, "multi"), object, &state.user.name, info);
    let why = match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    };
    Some(format!(
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {why}"
    ))
}

/// The full name Redis reports for a command: `get`, or `config|get` for a subcommand.
fn full_name(args: &[Bytes]) -> String {
    let Some(spec) = args.first().and_then(|n| worker_shard::lookup_command(n)) else {
        return lossy(args.first().map_or(&[][..], |a| a)).to_ascii_lowercase();
    };
    match (spec.subcommands.is_empty(), args.get(1)) {
        (false, Some(sub)) => spec
            .subcommand(sub)
            .map_or_else(|| spec.name.to_owned(), |s| s.name.to_owned()),
        _ => spec.name.to_owned(),
    }
}

fn log_object(denied: &Denied, args: &[Bytes]) -> (&'static str, String) {
    match *denied {
        Denied::Command => ("command", full_name(args)),
        Denied::Key(i) => ("key", lossy(&args[i])),
        Denied::Channel(i) => ("channel", lossy(&args[i])),
    }
}

fn noperm(denied: &Denied, args: &[Bytes]) -> String {
    match denied {
        Denied::Command => format!(
            "NOPERM this user has no permissions to run the '{}' command",
            full_name(args)
        ),
        Denied::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_owned()
        }
        Denied::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_owned()
        }
    }
}

/// `ACL DRYRUN`'s text for a refusal.
fn dryrun_text(denied: &Denied, args: &[Bytes]) -> String {
    match *denied {
        Denied::Command => format!(
            "This user has no permissions to run the '{}' command",
            full_name(args)
        ),
        Denied::Key(i) => format!(
            "This user has no permissions to access the '{}' key",
            lossy(&args[i])
        ),
        Denied::Channel(i) => format!(
            "This user has no permissions to access the '{}' channel",
            lossy(&args[i])
        ),
    }
}

/// Authenticates `state` as `username` with `password`; on failure logs it as Redis does.
pub(crate) fn authenticate(
    shared: &Shared,
    state: &mut ClientState,
    username: &[u8],
    password: &[u8],
) -> bool {
    match shared.config.acl.authenticate(username, password) {
        Some(user) => {
            set_user(state, user);
            state.authed = true;
            state.entry.authenticated.store(true, Ordering::Relaxed);
            true
        }
        None => {
            let mut info = String::new();
            client_line(shared, &state.entry, &mut info);
            shared.config.acl.log(
                ("auth", "toplevel"),
                "AUTH".to_owned(),
                &lossy(username),
                info,
            );
            false
        }
    }
}

/// Makes `user` the connection's user (also what `CLIENT LIST` shows as `user=`).
pub(crate) fn set_user(state: &mut ClientState, user: Arc<User>) {
    if user.name != state.user.name {
        lock(&state.entry.names).user = user.name.clone();
    }
    state.user = user;
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

/// `ACL <subcommand>`. Name and arity were checked by routing.
pub(crate) fn acl(shared: &Shared, state: &mut ClientState, args: &[Bytes], out: &mut BytesMut) {
    let acl = &shared.config.acl;
    let sub = args[1].to_ascii_lowercase();
    set_last_cmd(state, "acl", &sub);
    match sub.as_slice() {
        b"setuser" => {
            if !valid_username(&args[2]) {
                return err(out, "ERR Usernames can't contain spaces or null characters");
            }
            let name = lossy(&args[2]);
            match acl.set_user(&name, &args[3..]) {
                Ok(narrowed) => {
                    if narrowed {
                        crate::client::recheck_subscribers(shared, &name);
                    }
                    write_simple(out, b"OK")
                }
                Err(text) => err(out, &text),
            }
        }
        b"deluser" => {
            let names: Vec<String> = args[2..].iter().map(|a| lossy(a)).collect();
            if names.iter().any(|n| n == "default") {
                return err(out, "ERR The 'default' user cannot be removed");
            }
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let removed = acl.delete(&refs);
            crate::client::kill_users(shared, &names);
            write_integer(out, removed as i64);
        }
        b"getuser" => match acl.user(&lossy(&args[2])) {
            None => null(out, state.proto),
            Some(user) => getuser(&user, state.proto, out),
        },
        b"list" => {
            let users = acl.users();
            write_array_len(out, users.len());
            for u in users {
                write_bulk(out, u.describe().as_bytes());
            }
        }
        b"users" => {
            let users = acl.users();
            write_array_len(out, users.len());
            for u in users {
                write_bulk(out, u.name.as_bytes());
            }
        }
        b"whoami" => write_bulk(out, state.user.name.as_bytes()),
        b"cat" => match args.get(2) {
            None => {
                write_array_len(out, CATEGORIES.len());
                for c in CATEGORIES {
                    write_bulk(out, c.as_bytes());
                }
            }
            Some(name) => match category_commands(&lossy(name)) {
                Some(list) => {
                    write_array_len(out, list.len());
                    for c in list {
                        write_bulk(out, c.as_bytes());
                    }
                }
                None => err(out, &format!("ERR Unknown category '{}'", lossy(name))),
            },
        },
        b"dryrun" => dryrun(shared, args, out),
        b"log" => log(shared, state, args, out),
        b"genpass" => genpass(args, out),
        b"load" => match acl.load_file() {
            Ok(()) => {
                // Like Redis, every client of a user other than `default` is disconnected:
                // the users it authenticated as were all replaced.
                crate::client::kill_users_except_default(shared);
                write_simple(out, b"OK");
            }
            Err(text) => err(out, &format!("ERR {text}")),
        },
        b"save" => match acl.save_file() {
            Ok(()) => write_simple(out, b"OK"),
            Err(text) => err(out, &format!("ERR {text}")),
        },
        b"help" => {
            write_array_len(out, ACL_HELP.len());
            for l in ACL_HELP {
                write_simple(out, l.as_bytes());
            }
        }
        _ => err(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try ACL HELP.",
                lossy(&args[1])
            ),
        ),
    }
}

fn getuser(user: &User, proto: Protocol, out: &mut BytesMut) {
    write_map_len(out, 6, proto);
    write_bulk(out, b"flags");
    let flags = user.flags();
    // A set in RESP3, as Redis replies it.
    write_set_len(out, flags.len(), proto);
    for f in flags {
        write_bulk(out, f.as_bytes());
    }
    write_bulk(out, b"passwords");
    let hashes = user.password_hashes();
    write_array_len(out, hashes.len());
    for h in hashes {
        write_bulk(out, h.as_bytes());
    }
    write_bulk(out, b"commands");
    write_bulk(out, user.describe_commands().as_bytes());
    write_bulk(out, b"keys");
    write_bulk(out, user.describe_keys().as_bytes());
    write_bulk(out, b"channels");
    write_bulk(out, user.describe_channels().as_bytes());
    write_bulk(out, b"selectors");
    let selectors = user.describe_selectors();
    write_array_len(out, selectors.len());
    for [commands, keys, channels] in selectors {
        write_map_len(out, 3, proto);
        write_bulk(out, b"commands");
        write_bulk(out, commands.as_bytes());
        write_bulk(out, b"keys");
        write_bulk(out, keys.as_bytes());
        write_bulk(out, b"channels");
        write_bulk(out, channels.as_bytes());
    }
}

fn dryrun(shared: &Shared, args: &[Bytes], out: &mut BytesMut) {
    let Some(user) = shared.config.acl.user(&lossy(&args[2])) else {
        return err(out, &format!("ERR User '{}' not found", lossy(&args[2])));
    };
    // The command is named as clients type it: a renamed command by its new name.
    let Some(real) = shared.renames.resolve(&args[3]) else {
        return err(out, &format!("ERR Command '{}' not found", lossy(&args[3])));
    };
    let mut cmd = args[3..].to_vec();
    cmd[0] = Bytes::copy_from_slice(real);
    let cmd = &cmd[..];
    let Some(spec) = worker_shard::lookup_command(&cmd[0]) else {
        return err(out, &format!("ERR Command '{}' not found", lossy(&cmd[0])));
    };
    let spec = match (spec.subcommands.is_empty(), cmd.get(1)) {
        (false, Some(sub)) => spec.subcommand(sub).unwrap_or(spec),
        _ => spec,
    };
    if !spec.accepts_argc(cmd.len()) {
        return err(
            out,
            &format!("ERR wrong number of arguments for '{}' command", spec.name),
        );
    }
    match user.check(cmd) {
        Ok(()) => write_simple(out, b"OK"),
        Err(denied) => write_bulk(out, dryrun_text(&denied, cmd).as_bytes()),
    }
}

fn log(shared: &Shared, state: &ClientState, args: &[Bytes], out: &mut BytesMut) {
    let acl = &shared.config.acl;
    let count = match args.get(2) {
        None => 10,
        Some(a) if a.eq_ignore_ascii_case(b"reset") => {
            acl.reset_log();
            return write_simple(out, b"OK");
        }
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => n as usize,
            _ => return err(out, "ERR value is not an integer or out of range"),
        },
    };
    if args.len() > 3 {
        return err(out, "ERR syntax error");
    }
    let entries = acl.log_entries(count);
    write_array_len(out, entries.len());
    for e in entries {
        write_map_len(out, 7, state.proto);
        write_bulk(out, b"count");
        write_integer(out, e.count as i64);
        write_bulk(out, b"reason");
        write_bulk(out, e.reason.as_bytes());
        write_bulk(out, b"context");
        write_bulk(out, e.context.as_bytes());
        write_bulk(out, b"object");
        write_bulk(out, e.object.as_bytes());
        write_bulk(out, b"username");
        write_bulk(out, e.username.as_bytes());
        write_bulk(out, b"age-seconds");
        write_double(out, e.created.elapsed().as_secs_f64(), state.proto);
        write_bulk(out, b"client-info");
        write_bulk(out, e.client_info.as_bytes());
    }
}

fn genpass(args: &[Bytes], out: &mut BytesMut) {
    let bits = match args.get(2) {
        None => 256,
        Some(a) => match parse_i64(a) {
            Some(n) if (1..=4096).contains(&n) => n as usize,
            _ => {
                return err(
                    out,
                    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
                );
            }
        },
    };
    let chars = bits.div_ceil(4);
    let mut raw = vec![0u8; chars.div_ceil(2)];
    if random_bytes(&mut raw).is_err() {
        return err(out, "ERR cannot read random bytes");
    }
    let mut text = String::with_capacity(chars + 1);
    for b in raw {
        text.push_str(&format!("{b:02x}"));
    }
    text.truncate(chars);
    write_bulk(out, text.as_bytes());
}
