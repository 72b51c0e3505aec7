//! `COMMAND` and its subcommands, built from `worker_shard::command_table()`.
//!
//! `COMMAND DOCS` arguments are derived from each command's docs `syntax` string (e.g.
//! `key value [NX | XX] [GET]`), which is what redis-cli 7.0 turns into its typing hints.
use bytes::{Bytes, BytesMut};
use resp_codec::{
    Protocol, write_array_len, write_bulk, write_error, write_integer, write_map_len,
    write_set_len, write_simple,
};
use worker_shard::{CommandSpec, KeyNum, command_table, lookup_command};

use crate::conn::ClientState;
use crate::local::{null, set_last_cmd};
use crate::rename::Renames;

fn err(out: &mut BytesMut, text: &str) {
    write_error(out, text.as_bytes());
}

/// `COMMAND` and its subcommands. With `rename-command` in effect they behave as Redis 7.0's:
/// command names given as arguments are the names clients type now (a renamed command is
/// found under its new name and described under its real one; its old name is unknown), and
/// disabled commands are missing from the lists and the count.
pub(crate) fn command(
    state: &mut ClientState,
    renames: &Renames,
    args: &[Bytes],
    out: &mut BytesMut,
) {
    let proto = state.proto;
    let table = || command_table().iter().filter(|s| renames.reachable(s.name));
    let Some(sub) = args.get(1) else {
        write_array_len(out, table().count());
        for spec in table() {
            write_info(spec, proto, out);
        }
        return;
    };
    let lower = sub.to_ascii_lowercase();
    set_last_cmd(state, "command", &lower);
    match lower.as_slice() {
        b"count" => write_integer(out, table().count() as i64),
        b"info" => {
            if args.len() == 2 {
                write_array_len(out, table().count());
                table().for_each(|s| write_info(s, proto, out));
                return;
            }
            write_array_len(out, args.len() - 2);
            for name in &args[2..] {
                match find(renames, name) {
                    Some(spec) => write_info(spec, proto, out),
                    None => null(out, proto),
                }
            }
        }
        b"docs" => {
            let specs: Vec<&CommandSpec> = if args.len() == 2 {
                table().collect()
            } else {
                args[2..].iter().filter_map(|n| find(renames, n)).collect()
            };
            write_map_len(out, specs.len(), proto);
            for spec in specs {
                write_bulk(out, spec.name.as_bytes());
                write_docs(spec, proto, out);
            }
        }
        b"list" => list(renames, args, out),
        b"getkeys" | b"getkeysandflags" => {
            getkeys(renames, args, lower == b"getkeysandflags", proto, out)
        }
        b"help" => {
            write_array_len(out, crate::help::COMMAND_HELP.len());
            for l in crate::help::COMMAND_HELP {
                write_simple(out, l.as_bytes());
            }
        }
        _ => err(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                String::from_utf8_lossy(sub)
            ),
        ),
    }
}

/// Every command that can still be run, followed by its subcommands.
fn all_specs(renames: &Renames) -> impl Iterator<Item = &'static CommandSpec> {
    command_table()
        .iter()
        .filter(|s| renames.reachable(s.name))
        .flat_map(|s| std::iter::once(s).chain(s.subcommands))
}

/// A command by the name clients type, or a subcommand as `container|sub`.
fn find(renames: &Renames, name: &[u8]) -> Option<&'static CommandSpec> {
    match name.iter().position(|&b| b == b'|') {
        None => lookup_command(renames.resolve(name)?),
        Some(i) => lookup_command(renames.resolve(&name[..i])?)?.subcommand(&name[i + 1..]),
    }
}

fn write_info(spec: &CommandSpec, proto: Protocol, out: &mut BytesMut) {
    write_array_len(out, 10);
    write_bulk(out, spec.name.as_bytes());
    write_integer(out, i64::from(spec.arity));
    write_set_len(out, spec.flags.len(), proto);
    spec.flags
        .iter()
        .for_each(|f| write_simple(out, f.as_bytes()));
    write_integer(out, i64::from(spec.first_key));
    write_integer(out, i64::from(spec.last_key));
    write_integer(out, i64::from(spec.step));
    write_set_len(out, spec.acl_categories.len(), proto);
    spec.acl_categories
        .iter()
        .for_each(|c| write_simple(out, c.as_bytes()));
    write_set_len(out, 0, proto); // tips
    let range = usize::from(spec.first_key > 0);
    write_set_len(out, range + usize::from(spec.keynum.is_some()), proto);
    if range > 0 {
        write_key_spec(spec, proto, out);
    }
    if let Some(kn) = &spec.keynum {
        write_keynum_spec(kn, proto, out);
    }
    write_set_len(out, spec.subcommands.len(), proto);
    spec.subcommands
        .iter()
        .for_each(|s| write_info(s, proto, out));
}

/// Key spec flags of the first/last/step keys.
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if matches!(spec.name, "zunionstore" | "zinterstore" | "zdiffstore") {
        &["OW", "update"]
    } else if matches!(spec.name, "bzpopmin" | "bzpopmax") {
        &["RW", "access", "delete"]
    } else if spec.name == "memory|usage" {
        // It reads no value, only its size.
        &["RO"]
    } else if spec.flags.contains(&"write") {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    }
}

/// One key spec from the legacy first/last/step triple, as Redis derives them.
fn write_key_spec(spec: &CommandSpec, proto: Protocol, out: &mut BytesMut) {
    write_map_len(out, 3, proto);
    write_bulk(out, b"flags");
    let flags = key_flags(spec);
    write_set_len(out, flags.len(), proto);
    flags.iter().for_each(|f| write_simple(out, f.as_bytes()));
    write_bulk(out, b"begin_search");
    write_map_len(out, 2, proto);
    write_bulk(out, b"type");
    write_bulk(out, b"index");
    write_bulk(out, b"spec");
    write_map_len(out, 1, proto);
    write_bulk(out, b"index");
    write_integer(out, i64::from(spec.first_key));
    write_bulk(out, b"find_keys");
    write_map_len(out, 2, proto);
    write_bulk(out, b"type");
    write_bulk(out, b"range");
    write_bulk(out, b"spec");
    write_map_len(out, 3, proto);
    write_bulk(out, b"lastkey");
    let last = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    write_integer(out, i64::from(last));
    write_bulk(out, b"keystep");
    write_integer(out, i64::from(spec.step));
    write_bulk(out, b"limit");
    write_integer(out, 0);
}

fn write_flag_set(flags: &[&str], proto: Protocol, out: &mut BytesMut) {
    write_set_len(out, flags.len(), proto);
    flags.iter().for_each(|f| write_simple(out, f.as_bytes()));
}

/// A `keynum` key spec, as Redis 7.0 shows it.
fn write_keynum_spec(kn: &KeyNum, proto: Protocol, out: &mut BytesMut) {
    write_map_len(out, 3, proto);
    write_bulk(out, b"flags");
    write_flag_set(kn.flags, proto, out);
    write_bulk(out, b"begin_search");
    write_map_len(out, 2, proto);
    write_bulk(out, b"type");
    write_bulk(out, b"index");
    write_bulk(out, b"spec");
    write_map_len(out, 1, proto);
    write_bulk(out, b"index");
    write_integer(out, kn.numkeys as i64);
    write_bulk(out, b"find_keys");
    write_map_len(out, 2, proto);
    write_bulk(out, b"type");
    write_bulk(out, b"keynum");
    write_bulk(out, b"spec");
    write_map_len(out, 3, proto);
    write_bulk(out, b"keynumidx");
    write_integer(out, 0);
    write_bulk(out, b"firstkey");
    write_integer(out, kn.first as i64);
    write_bulk(out, b"keystep");
    write_integer(out, kn.step as i64);
}

fn write_docs(spec: &CommandSpec, proto: Protocol, out: &mut BytesMut) {
    let args = parse_syntax(spec.syntax);
    let fields = 4 + usize::from(!args.is_empty()) + usize::from(!spec.subcommands.is_empty());
    write_map_len(out, fields, proto);
    write_bulk(out, b"summary");
    write_bulk(out, spec.summary.as_bytes());
    write_bulk(out, b"since");
    write_bulk(out, spec.since.as_bytes());
    write_bulk(out, b"group");
    write_bulk(out, spec.group.as_bytes());
    write_bulk(out, b"complexity");
    write_bulk(out, spec.complexity.as_bytes());
    if !args.is_empty() {
        write_bulk(out, b"arguments");
        write_array_len(out, args.len());
        args.iter().for_each(|a| a.write(proto, out));
    }
    if !spec.subcommands.is_empty() {
        write_bulk(out, b"subcommands");
        write_map_len(out, spec.subcommands.len(), proto);
        for sub in spec.subcommands {
            write_bulk(out, sub.name.as_bytes());
            write_docs(sub, proto, out);
        }
    }
}

fn list(renames: &Renames, args: &[Bytes], out: &mut BytesMut) {
    let names: Vec<&str> = match args.len() {
        // Like Redis 7.0, every command and every subcommand (as `parent|sub`).
        2 => all_specs(renames).map(|s| s.name).collect(),
        5 if args[2].eq_ignore_ascii_case(b"filterby") => {
            let value = String::from_utf8_lossy(&args[4]).to_string();
            let all = all_specs(renames);
            let kind = args[3].to_ascii_lowercase();
            match kind.as_slice() {
                b"module" => Vec::new(),
                b"aclcat" => {
                    let cat = format!("@{}", value.to_ascii_lowercase());
                    all.filter(|s| s.acl_categories.contains(&cat.as_str()))
                        .map(|s| s.name)
                        .collect()
                }
                b"pattern" => all
                    .filter(|s| glob_match(value.as_bytes(), s.name.as_bytes()))
                    .map(|s| s.name)
                    .collect(),
                _ => return err(out, "ERR syntax error"),
            }
        }
        _ => return err(out, "ERR syntax error"),
    };
    write_array_len(out, names.len());
    names.iter().for_each(|n| write_bulk(out, n.as_bytes()));
}

fn getkeys(
    renames: &Renames,
    args: &[Bytes],
    with_flags: bool,
    proto: Protocol,
    out: &mut BytesMut,
) {
    if args.len() < 3 {
        let name = if with_flags {
            "command|getkeysandflags"
        } else {
            "command|getkeys"
        };
        return err(
            out,
            &format!("ERR wrong number of arguments for '{name}' command"),
        );
    }
    let cmd = &args[2..];
    let Some(mut spec) = renames.resolve(&cmd[0]).and_then(lookup_command) else {
        return err(out, "ERR Invalid command specified");
    };
    if !spec.subcommands.is_empty()
        && let Some(sub) = cmd.get(1).and_then(|s| spec.subcommand(s))
    {
        spec = sub;
    }
    if !spec.accepts_argc(cmd.len()) {
        return err(out, "ERR Invalid number of arguments specified for command");
    }
    let keys = spec.request_keys(cmd);
    if keys.positions.is_empty() {
        return err(
            out,
            if spec.first_key > 0 || spec.keynum.is_some() {
                "ERR Invalid arguments specified for command"
            } else {
                "ERR The command has no key arguments"
            },
        );
    }
    write_array_len(out, keys.positions.len());
    for (n, &i) in keys.positions.iter().enumerate() {
        if with_flags {
            write_array_len(out, 2);
            write_bulk(out, &cmd[i]);
            let flags = match &spec.keynum {
                _ if !keys.by_spec => &[][..],
                Some(kn) if n >= keys.range => kn.flags,
                _ => key_flags(spec),
            };
            write_flag_set(flags, proto, out);
        } else {
            write_bulk(out, &cmd[i]);
        }
    }
}

/// Redis's `stringmatchlen` for the `*`, `?`, `[...]` and `\` glob subset, ignoring case.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = text.split_first() else {
                return false;
            };
            let Some(end) = rest.iter().position(|&b| b == b']') else {
                return false;
            };
            let (class, after) = (&rest[..end], &rest[end + 1..]);
            let (negate, class) = match class.split_first() {
                Some((b'^', cls)) => (true, cls),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    let (lo, hi) = (class[i].min(class[i + 2]), class[i].max(class[i + 2]));
                    hit |= (lo..=hi).contains(&c.to_ascii_lowercase()) || (lo..=hi).contains(&c);
                    i += 3;
                } else {
                    hit |= class[i].eq_ignore_ascii_case(&c);
                    i += 1;
                }
            }
            hit != negate && glob_match(after, tail)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            !text.is_empty()
                && rest[0].eq_ignore_ascii_case(&text[0])
                && glob_match(&rest[1..], &text[1..])
        }
        Some((&p, rest)) => {
            !text.is_empty() && p.eq_ignore_ascii_case(&text[0]) && glob_match(rest, &text[1..])
        }
    }
}

/// One argument of `COMMAND DOCS`.
#[derive(Debug, Clone, PartialEq)]
struct Arg {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Arg>,
}

impl Arg {
    fn leaf(name: &str, token: Option<String>) -> Arg {
        let kind = if token.is_some() && name.is_empty() {
            "pure-token"
        } else {
            arg_type(name)
        };
        let name = if name.is_empty() {
            token.as_deref().unwrap_or("").to_ascii_lowercase()
        } else {
            name.to_string()
        };
        Arg {
            name,
            kind,
            token,
            optional: false,
            multiple: false,
            children: Vec::new(),
        }
    }

    fn group(kind: &'static str, children: Vec<Arg>) -> Arg {
        let name = match kind {
            "block" => children
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join("_"),
            _ => children
                .iter()
                .map(|c| c.name.as_str())
                .take(2)
                .collect::<Vec<_>>()
                .join("-"),
        };
        Arg {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
            children,
        }
    }

    fn write(&self, proto: Protocol, out: &mut BytesMut) {
        let flags = usize::from(self.optional) + usize::from(self.multiple);
        let fields = 2
            + usize::from(self.kind == "key")
            + usize::from(self.token.is_some())
            + usize::from(flags > 0)
            + usize::from(!self.children.is_empty());
        write_map_len(out, fields, proto);
        write_bulk(out, b"name");
        write_bulk(out, self.name.as_bytes());
        write_bulk(out, b"type");
        write_bulk(out, self.kind.as_bytes());
        if self.kind == "key" {
            write_bulk(out, b"key_spec_index");
            write_integer(out, 0);
        }
        if let Some(token) = &self.token {
            write_bulk(out, b"token");
            write_bulk(out, token.as_bytes());
        }
        if flags > 0 {
            write_bulk(out, b"flags");
            write_set_len(out, flags, proto);
            if self.optional {
                write_simple(out, b"optional");
            }
            if self.multiple {
                write_simple(out, b"multiple");
            }
        }
        if !self.children.is_empty() {
            write_bulk(out, b"arguments");
            write_array_len(out, self.children.len());
            self.children.iter().for_each(|c| c.write(proto, out));
        }
    }
}

fn arg_type(name: &str) -> &'static str {
    const INTEGERS: &[&str] = &[
        "seconds",
        "milliseconds",
        "count",
        "offset",
        "start",
        "end",
        "index",
        "index1",
        "index2",
        "timeout",
        "numreplicas",
        "increment",
        "decrement",
        "cursor",
        "len",
        "client-id",
        "destination-db",
        "protover",
        "numkeys",
    ];
    match name {
        "key" | "key1" | "key2" | "newkey" | "source" | "destination" => "key",
        "pattern" => "pattern",
        "unix-time-seconds" | "unix-time-milliseconds" => "unix-time",
        n if INTEGERS.contains(&n) => "integer",
        _ => "string",
    }
}

fn tokenize(syntax: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in syntax.chars() {
        match c {
            '[' | ']' | '<' | '>' | '|' | ' ' => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                if c != ' ' {
                    tokens.push(c.to_string());
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

fn is_token_word(w: &str) -> bool {
    w.chars().any(|c| c.is_ascii_uppercase()) && !w.chars().any(|c| c.is_ascii_lowercase())
}

/// Parses a docs syntax string into `COMMAND DOCS` arguments.
fn parse_syntax(syntax: &str) -> Vec<Arg> {
    let tokens = tokenize(syntax);
    let mut pos = 0;
    let mut alts = parse_alternatives(&tokens, &mut pos, None);
    if alts.len() == 1 {
        alts.pop().map(|(seq, _)| seq).unwrap_or_default()
    } else {
        vec![Arg::group(
            "oneof",
            alts.into_iter().map(|(s, _)| seq_to_arg(s)).collect(),
        )]
    }
}

fn seq_to_arg(mut seq: Vec<Arg>) -> Arg {
    if seq.len() == 1 {
        seq.pop().unwrap_or_else(|| Arg::leaf("arg", None))
    } else {
        Arg::group("block", seq)
    }
}

/// Parses `a b | c d ...` until `close`; each alternative comes with whether it ended in `...`.
fn parse_alternatives(
    tokens: &[String],
    pos: &mut usize,
    close: Option<&str>,
) -> Vec<(Vec<Arg>, bool)> {
    let mut alts = Vec::new();
    let mut seq: Vec<Arg> = Vec::new();
    let mut dots = false;
    while *pos < tokens.len() {
        let t = tokens[*pos].as_str();
        *pos += 1;
        if Some(t) == close {
            break;
        }
        dots = false;
        match t {
            "|" => alts.push((std::mem::take(&mut seq), false)),
            "[" | "<" => {
                let closing = if t == "[" { "]" } else { ">" };
                let inner = parse_alternatives(tokens, pos, Some(closing));
                let mut node = if inner.len() == 1 {
                    let (items, repeated) = inner.into_iter().next().unwrap_or_default();
                    let mut node = seq_to_arg(items);
                    node.multiple |= repeated;
                    node
                } else {
                    Arg::group(
                        "oneof",
                        inner
                            .into_iter()
                            .map(|(s, r)| {
                                let mut a = seq_to_arg(s);
                                a.multiple |= r;
                                a
                            })
                            .collect(),
                    )
                };
                node.optional = t == "[";
                // `key [key ...]` and `key value [key value ...]`: one repeated argument.
                if node.multiple {
                    let names: Vec<&str> = if node.kind == "block" {
                        node.children.iter().map(|c| c.name.as_str()).collect()
                    } else {
                        vec![node.name.as_str()]
                    };
                    let n = names.len();
                    if seq.len() >= n
                        && seq[seq.len() - n..]
                            .iter()
                            .map(|a| a.name.as_str())
                            .eq(names.iter().copied())
                    {
                        let popped: Vec<Arg> = seq.drain(seq.len() - n..).collect();
                        if n == 1 && node.token.is_none() {
                            node.token = popped[0].token.clone();
                        }
                        node.optional = popped.iter().all(|a| a.optional);
                    }
                }
                seq.push(node);
            }
            "..." => {
                dots = true;
                if let Some(last) = seq.last_mut() {
                    last.multiple = true;
                }
            }
            w if w.ends_with("...") => {
                seq.push(Arg::leaf(w.trim_end_matches("..."), None));
                dots = true;
            }
            w if is_token_word(w) => {
                let next = tokens.get(*pos).map(String::as_str);
                match next {
                    Some(n)
                        if !is_token_word(n) && !["[", "]", "<", ">", "|", "..."].contains(&n) =>
                    {
                        *pos += 1;
                        seq.push(Arg::leaf(n, Some(w.to_string())));
                    }
                    _ => seq.push(Arg::leaf("", Some(w.to_string()))),
                }
            }
            w => seq.push(Arg::leaf(w, None)),
        }
    }
    if dots && seq.len() > 1 {
        // `[key value ...]`: the dots repeat the whole group, not only its last element.
        if let Some(last) = seq.last_mut() {
            last.multiple = false;
        }
    } else if dots {
        // A single repeated element carries the flag itself.
        if let Some(last) = seq.last_mut() {
            last.multiple = false;
        }
    }
    alts.push((seq, dots));
    alts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(args: &[Arg]) -> Vec<String> {
        args.iter()
            .map(|a| {
                let mut s = a.name.clone();
                if let Some(t) = &a.token {
                    s = format!("{t}:{s}");
                }
                if a.optional {
                    s.push('?');
                }
                if a.multiple {
                    s.push('*');
                }
                if !a.children.is_empty() {
                    s = format!("{}({s}: {})", a.kind, names(&a.children).join(" "));
                }
                s
            })
            .collect()
    }

    #[test]
    fn syntax_strings_become_docs_arguments() {
        assert_eq!(names(&parse_syntax("key [key ...]")), ["key*"]);
        assert_eq!(
            names(&parse_syntax("key value [key value ...]")),
            ["block(key_value*: key value)"]
        );
        assert_eq!(
            names(&parse_syntax(
                "key value [NX | XX] [GET] [EX seconds | PX milliseconds | KEEPTTL]"
            )),
            [
                "key",
                "value",
                "oneof(nx-xx?: NX:nx XX:xx)",
                "GET:get?",
                "oneof(seconds-milliseconds?: EX:seconds PX:milliseconds KEEPTTL:keepttl)"
            ]
        );
        assert_eq!(
            names(&parse_syntax("[command-name [command-name ...]]")),
            ["command-name?*"]
        );
        assert_eq!(
            names(&parse_syntax(
                "[NORMAL | MASTER] [ID client-id [client-id ...]]"
            )),
            [
                "oneof(normal-master?: NORMAL:normal MASTER:master)",
                "ID:client-id?*"
            ]
        );
        assert_eq!(names(&parse_syntax("")), Vec::<String>::new());
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob_match(b"*", b"get"));
        assert!(glob_match(b"g?t", b"get"));
        assert!(glob_match(b"client|*", b"client|list"));
        assert!(glob_match(b"[gs]et", b"set"));
        assert!(!glob_match(b"[^gs]et", b"set"));
        assert!(!glob_match(b"ge", b"get"));
    }
}
