//! ACL users, as Redis 7.0 has them (with selectors): who may run which commands on which
//! keys and channels, with which passwords.
//!
//! [`Acl`] is the registry shared by every IO thread and the server's settings (`requirepass`
//! is the `default` user's password). A connection holds an `Arc<User>` snapshot and the
//! registry's epoch; when an `ACL SETUSER`/`DELUSER`/`LOAD` bumps the epoch, the connection
//! looks its user up again before its next command. The per-command check is one relaxed
//! atomic load for an unrestricted user (`+@all ~* &*`, the `default` user out of the box);
//! otherwise a bit test on a precomputed per-user bitmap of command ids plus a glob match of
//! each key against the user's patterns, with no allocation.
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use worker_shard::{CommandSpec, command_table, lookup_command, string_match};

use crate::shared::lock;

/// Redis's ACL categories, in Redis's order (`ACL CAT`, and the order rules are described in).
pub(crate) const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Key permissions: read (the command reads the value), write (it changes or deletes it).
const PERM_R: u8 = 1;
const PERM_W: u8 = 2;
const PERM_RW: u8 = PERM_R | PERM_W;

/// Every command and subcommand under a dense id: a top-level command, then its subcommands.
struct CommandIds {
    /// Id of each top-level command, by its index in `command_table()`.
    base: Vec<usize>,
    /// The spec of each id.
    specs: Vec<&'static CommandSpec>,
    /// Category bits of each id.
    categories: Vec<u32>,
    /// What the check needs to know of each id, computed once so the per-command path
    /// compares no names.
    meta: Vec<Meta>,
}

/// Per-command facts the permission check uses.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// The command needs no permission (`AUTH`, `HELLO`: Redis's `no_auth` flag).
    no_auth: bool,
    /// Key permissions needed on the first key and on every other key.
    first_key: u8,
    other_keys: u8,
    /// `SET`: with a `GET` argument it reads the key too.
    set: bool,
    /// The key positions hold shard channels, not keys (`SPUBLISH`, `SSUBSCRIBE`...).
    no_keys: bool,
    channels: Channels,
}

/// Which arguments of a Pub/Sub command are channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channels {
    None,
    /// The first argument (`PUBLISH`, `SPUBLISH`).
    First,
    /// Every argument, matched against the patterns (`SUBSCRIBE`, `SSUBSCRIBE`).
    All,
    /// Every argument, each equal to an allowed pattern (`PSUBSCRIBE`).
    AllLiteral,
}

fn meta(spec: &CommandSpec) -> Meta {
    let (first_key, other_keys) = key_perms(spec.name, spec.flags);
    Meta {
        no_auth: spec.flags.contains(&"no_auth"),
        first_key,
        other_keys,
        set: spec.name == "set",
        no_keys: matches!(spec.name, "spublish" | "ssubscribe" | "sunsubscribe"),
        channels: match spec.name {
            "publish" | "spublish" => Channels::First,
            "subscribe" | "ssubscribe" => Channels::All,
            "psubscribe" => Channels::AllLiteral,
            _ => Channels::None,
        },
    }
}

static IDS: LazyLock<CommandIds> = LazyLock::new(|| {
    let mut ids = CommandIds {
        base: Vec::new(),
        specs: Vec::new(),
        categories: Vec::new(),
        meta: Vec::new(),
    };
    for spec in command_table() {
        ids.base.push(ids.specs.len());
        for s in std::iter::once(spec).chain(spec.subcommands.iter()) {
            ids.specs.push(s);
            ids.categories.push(category_mask(s.acl_categories));
            ids.meta.push(meta(s));
        }
    }
    ids
});

fn category_mask(categories: &[&str]) -> u32 {
    categories
        .iter()
        .filter_map(|c| category_bit(c.trim_start_matches('@')))
        .fold(0, |m, b| m | b)
}

fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

fn command_count() -> usize {
    IDS.specs.len()
}

/// The index of `spec` in `items`, found by address: specs are statics, so this is O(1).
fn index_in(items: &'static [CommandSpec], spec: &CommandSpec) -> Option<usize> {
    let size = std::mem::size_of::<CommandSpec>();
    let start = items.as_ptr() as usize;
    let at = spec as *const CommandSpec as usize;
    let offset = at.checked_sub(start)?;
    let i = offset / size;
    (offset % size == 0 && i < items.len()).then_some(i)
}

/// The id of a top-level command, or of its subcommand `sub`.
fn command_id(top: &'static CommandSpec, sub: Option<&'static CommandSpec>) -> Option<usize> {
    let base = *IDS.base.get(index_in(command_table(), top)?)?;
    match sub {
        None => Some(base),
        Some(sub) => Some(base + 1 + index_in(top.subcommands, sub)?),
    }
}

/// What the rules of `ACL SETUSER` can fail with: Redis's reason texts.
pub(crate) mod reason {
    pub(crate) const SYNTAX: &str = "Syntax error";
    pub(crate) const UNKNOWN: &str = "Unknown command or category name in ACL";
    pub(crate) const KEYS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
    pub(crate) const CHANNELS_AFTER_ALL: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
    pub(crate) const NO_SUCH_PASSWORD: &str =
        "The password you are trying to remove from the user does not exist";
    pub(crate) const BAD_HASH: &str = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
    pub(crate) const SUBCOMMAND_FIRSTARG: &str =
        "Allowing first-arg of a subcommand is not supported";
}

/// One set of permissions: the commands, keys and channels it allows. A user has a root
/// selector (its plain rules) and any number of further selectors (`(...)` rules, Redis 7);
/// a command is allowed if any one selector allows all of it.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    /// Allowed command ids.
    bits: Vec<u64>,
    /// Set by `+@all`/`allcommands`: Redis's reserved "future commands" bit.
    future: bool,
    /// Every command is allowed (cleared as soon as any bit is cleared).
    all_commands: bool,
    /// First arguments allowed for a command whose bit is clear (`+select|0`).
    firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    keys: Vec<(Vec<u8>, u8)>,
    all_keys: bool,
    channels: Vec<Vec<u8>>,
    all_channels: bool,
    /// `all_commands && all_keys && all_channels`: no check needed per command.
    unrestricted: bool,
}

/// One ACL user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    enabled: bool,
    nopass: bool,
    /// `sanitize-payload` (Some(true)) or `skip-sanitize-payload` (Some(false)).
    sanitize: Option<bool>,
    /// SHA-256 digests of the passwords, in the order they were added.
    passwords: Vec<[u8; 32]>,
    /// The plain rules.
    root: Selector,
    /// The `(...)` selectors, in the order they were added.
    selectors: Vec<Selector>,
    /// `acl-pubsub-default` is `allchannels`: what `reset` and new selectors start with. Set by
    /// the registry before rules are applied, as Redis reads the setting at that moment.
    pub(crate) channels_default: bool,
    /// Some selector allows everything: no check needed per command.
    pub(crate) unrestricted: bool,
}

/// Why a command was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    Command,
    /// The argument at this index is a key the user may not access.
    Key(usize),
    /// The argument at this index is a channel the user may not access.
    Channel(usize),
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn hex(digest: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn parse_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let nibble = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    Some(out)
}

/// Compares two digests in time independent of where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Key permissions a command needs on its keys: (first key, every other key), from Redis
/// 7.0's key specs (`ACCESS` needs read, `INSERT`/`UPDATE`/`DELETE` need write); generated
/// from `COMMAND INFO` of redis-server 7.0.15. A command missing here needs read, and write
/// too if it is flagged `write`.
fn key_perms(name: &str, flags: &[&str]) -> (u8, u8) {
    let (first, rest) = match name {
        "exists" | "llen" | "object|encoding" | "object|freq" | "object|idletime"
        | "object|refcount" | "strlen" | "touch" | "type" | "watch" => (0, 0),
        "dump" | "expiretime" | "get" | "getrange" | "lcs" | "lindex" | "lpos" | "lrange"
        | "mget" | "pexpiretime" | "pttl" | "substr" | "ttl" => (PERM_R, PERM_R),
        "copy" => (PERM_R, PERM_W),
        "zdiffstore" | "zinterstore" | "zunionstore" => (PERM_W, PERM_R),
        "append" | "del" | "expire" | "expireat" | "linsert" | "lpush" | "lpushx" | "lrem"
        | "lset" | "ltrim" | "mset" | "msetnx" | "persist" | "pexpire" | "pexpireat" | "psetex"
        | "restore" | "rpush" | "rpushx" | "set" | "setex" | "setnx" | "setrange" | "unlink" => {
            (PERM_W, PERM_W)
        }
        "blmove" | "brpoplpush" | "lmove" | "rename" | "renamenx" | "rpoplpush" => {
            (PERM_RW, PERM_W)
        }
        "blpop" | "brpop" | "decr" | "decrby" | "getdel" | "getex" | "getset" | "incr"
        | "incrby" | "incrbyfloat" | "lpop" | "rpop" => (PERM_RW, PERM_RW),
        _ if flags.contains(&"write") => (PERM_RW, PERM_RW),
        _ => (PERM_R, PERM_R),
    };
    (first, rest)
}

/// Joins `ACL SETUSER` arguments that belong to one selector: `(~x` `+get)` becomes
/// `(~x +get)`, as Redis's `ACLMergeSelectorArguments` does. An unclosed selector is an error
/// naming the argument that opened it.
pub(crate) fn merge_selector_args<T: AsRef<[u8]>>(args: &[T]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, arg) in args.iter().enumerate() {
        let arg = arg.as_ref();
        if arg.first() == Some(&b'(') && arg.last() != Some(&b')') {
            open = Some((i, arg.to_vec()));
            continue;
        }
        if let Some((_, selector)) = open.as_mut() {
            selector.push(b' ');
            selector.extend_from_slice(arg);
            if arg.last() == Some(&b')') {
                out.extend(open.take().map(|(_, s)| s));
            }
            continue;
        }
        out.push(arg.to_vec());
    }
    match open {
        Some((i, _)) => Err(args[i].as_ref().to_vec()),
        None => Ok(out),
    }
}

/// Redis's text for an unclosed selector.
pub(crate) fn unmatched_parenthesis(arg: &[u8]) -> String {
    format!(
        "Unmatched parenthesis in acl selector starting at '{}'.",
        String::from_utf8_lossy(arg)
    )
}

/// Severity of a refusal, as Redis ranks them when no selector allows a command: a channel
/// beats a key beats the command itself; among equals, the later argument wins.
fn severity(denied: &Denied) -> (u8, usize) {
    match *denied {
        Denied::Command => (1, 0),
        Denied::Key(i) => (2, i),
        Denied::Channel(i) => (4, i),
    }
}

impl Selector {
    fn new(all_channels: bool) -> Selector {
        let mut s = Selector {
            bits: vec![0; command_count().div_ceil(64)],
            future: false,
            all_commands: false,
            firstargs: Vec::new(),
            keys: Vec::new(),
            all_keys: false,
            channels: Vec::new(),
            all_channels,
            unrestricted: false,
        };
        s.refresh();
        s
    }

    fn refresh(&mut self) {
        self.unrestricted = self.all_commands && self.all_keys && self.all_channels;
    }

    fn bit(&self, id: usize) -> bool {
        self.bits
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.bits.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Allows or forbids a command and all its subcommands (Redis's `ACLChangeSelectorPerm`).
    fn change_command(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.firstargs.retain(|(i, _)| *i != id);
        let spec = IDS.specs[id];
        for i in 0..spec.subcommands.len() {
            self.set_bit(id + 1 + i, allow);
        }
    }

    fn change_category(&mut self, mask: u32, allow: bool) {
        for id in 0..command_count() {
            if IDS.categories[id] & mask != 0 {
                self.change_command(id, allow);
            }
        }
    }

    fn all(&mut self, allow: bool) {
        for w in &mut self.bits {
            *w = if allow { u64::MAX } else { 0 };
        }
        self.firstargs.clear();
        self.future = allow;
        self.all_commands = allow;
    }

    /// Applies one rule about commands, keys or channels (Redis's `ACLSetSelector`); an `Err`
    /// is Redis's reason text.
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let result = self.apply_inner(rule);
        self.refresh();
        result
    }

    fn apply_inner(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" => {
                self.all_keys = true;
                self.keys.clear();
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            b"allchannels" => {
                self.all_channels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" | b"+@all" => self.all(true),
            b"nocommands" | b"-@all" => self.all(false),
            _ => {
                let (&first, rest) = rule.split_first().ok_or(reason::SYNTAX)?;
                match first {
                    b'~' => self.add_key_pattern(rest, PERM_RW)?,
                    b'%' => {
                        let tilde = rest.iter().position(|&c| c == b'~').ok_or(reason::SYNTAX)?;
                        let mut perms = 0;
                        for &c in &rest[..tilde] {
                            perms |= match c {
                                b'R' | b'r' => PERM_R,
                                b'W' | b'w' => PERM_W,
                                _ => return Err(reason::SYNTAX),
                            };
                        }
                        if perms == 0 {
                            return Err(reason::SYNTAX);
                        }
                        self.add_key_pattern(&rest[tilde + 1..], perms)?;
                    }
                    b'&' => {
                        if self.all_channels {
                            return Err(reason::CHANNELS_AFTER_ALL);
                        }
                        if rest == b"*" {
                            self.all_channels = true;
                            self.channels.clear();
                        } else if !self.channels.iter().any(|c| c == rest) {
                            self.channels.push(rest.to_vec());
                        }
                    }
                    b'+' | b'-' => self.apply_command_rule(first == b'+', rest)?,
                    _ => return Err(reason::SYNTAX),
                }
            }
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, pattern: &[u8], perms: u8) -> Result<(), &'static str> {
        if self.all_keys {
            return Err(reason::KEYS_AFTER_ALL);
        }
        if pattern == b"*" && perms == PERM_RW {
            self.all_keys = true;
            self.keys.clear();
            return Ok(());
        }
        match self.keys.iter_mut().find(|(p, _)| p == pattern) {
            Some((_, existing)) => *existing |= perms,
            None => self.keys.push((pattern.to_vec(), perms)),
        }
        Ok(())
    }

    fn apply_command_rule(&mut self, allow: bool, rest: &[u8]) -> Result<(), &'static str> {
        if let Some(category) = rest.strip_prefix(b"@") {
            let name = std::str::from_utf8(category).map_err(|_| reason::UNKNOWN)?;
            let bit = category_bit(name).ok_or(reason::UNKNOWN)?;
            self.change_category(bit, allow);
            return Ok(());
        }
        let mut parts = rest.splitn(2, |&c| c == b'|');
        let name = parts.next().unwrap_or_default();
        let top = lookup_command(name).ok_or(reason::UNKNOWN)?;
        let top_id = command_id(top, None).ok_or(reason::UNKNOWN)?;
        let Some(sub) = parts.next() else {
            self.change_command(top_id, allow);
            return Ok(());
        };
        if !top.subcommands.is_empty() {
            if sub.contains(&b'|') {
                return Err(reason::SUBCOMMAND_FIRSTARG);
            }
            let spec = top.subcommand(sub).ok_or(reason::UNKNOWN)?;
            let id = command_id(top, Some(spec)).ok_or(reason::UNKNOWN)?;
            self.change_command(id, allow);
            return Ok(());
        }
        // A first argument of a plain command (`+select|0`): only allowing is meaningful.
        if !allow || sub.is_empty() || sub.contains(&b'|') {
            return Err(reason::SYNTAX);
        }
        if self.bit(top_id) {
            return Ok(());
        }
        match self.firstargs.iter_mut().find(|(i, _)| *i == top_id) {
            Some((_, list)) => {
                if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                    list.push(sub.to_vec());
                }
            }
            None => self.firstargs.push((top_id, vec![sub.to_vec()])),
        }
        Ok(())
    }

    /// Checks a request against this selector (Redis's `ACLSelectorCheckCmd`); `args` passed
    /// the name and arity checks, `top`/`sub` are its command.
    fn check(
        &self,
        args: &[Bytes],
        id: usize,
        spec: &CommandSpec,
        subcommand: bool,
    ) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        let meta = IDS.meta[id];
        if !self.all_commands && !meta.no_auth && !self.bit(id) {
            let arg = args.get(if subcommand { 2 } else { 1 });
            let allowed = arg.is_some_and(|arg| {
                self.firstargs
                    .iter()
                    .any(|(i, list)| *i == id && list.iter().any(|a| a.eq_ignore_ascii_case(arg)))
            });
            if !allowed {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys && !meta.no_keys {
            let (first, rest) = (meta.first_key, meta.other_keys);
            let set_get = meta.set && args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            for (n, i) in spec.request_keys(args).positions.into_iter().enumerate() {
                let Some(key) = args.get(i) else {
                    continue;
                };
                let need = if set_get {
                    PERM_RW
                } else if n == 0 {
                    first
                } else {
                    rest
                };
                if !self.key_allowed(key, need) {
                    return Err(Denied::Key(i));
                }
            }
        }
        if !self.all_channels && meta.channels != Channels::None {
            self.check_channels(meta.channels, args)?;
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.keys
            .iter()
            .any(|(p, perms)| perms & need == need && string_match(p, key, false))
    }

    /// Channels of the Pub/Sub commands: `PUBLISH`/`SPUBLISH` name one, `[S]SUBSCRIBE` many
    /// (each must match a pattern), `PSUBSCRIBE` patterns (each must equal an allowed one).
    fn check_channels(&self, channels: Channels, args: &[Bytes]) -> Result<(), Denied> {
        let (range, literal) = match channels {
            Channels::First => (1..2.min(args.len()), false),
            Channels::All => (1..args.len(), false),
            Channels::AllLiteral => (1..args.len(), true),
            Channels::None => return Ok(()),
        };
        for i in range {
            if !self.channel_allowed(&args[i], literal) {
                return Err(Denied::Channel(i));
            }
        }
        Ok(())
    }

    fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.all_channels || channel_in(&self.channels, channel, literal)
    }

    /// The key rules (`~*`, `~a %R~b`), as `ACL GETUSER` shows them.
    fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".to_owned();
        }
        let mut out = Vec::new();
        for (p, perms) in &self.keys {
            let prefix = match *perms {
                PERM_R => "%R~",
                PERM_W => "%W~",
                _ => "~",
            };
            out.push(format!("{prefix}{}", String::from_utf8_lossy(p)));
        }
        out.join(" ")
    }

    /// The channel rules (`&*`, `&a &b`), as `ACL GETUSER` shows them.
    fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".to_owned();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn category_counts(bits: &[u64], mask: u32) -> (usize, usize) {
        let (mut on, mut off) = (0, 0);
        for id in 0..command_count() {
            if IDS.categories[id] & mask != 0 {
                if bits[id / 64] & (1 << (id % 64)) != 0 {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The command rules, Redis 7.0's way (`ACLDescribeSelectorCommandRules`): `+@all` or
    /// `-@all`, then the best-fitting categories one at a time, then single commands.
    fn describe_commands(&self) -> String {
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_owned()];
        let mut fake = Selector::new(false);
        fake.all(!additive);
        let mut temp = self.bits.clone();
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = Self::category_counts(&temp, 1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else {
                break;
            };
            let sign = if additive { "+" } else { "-" };
            rules.push(format!("{sign}@{}", CATEGORIES[j]));
            fake.change_category(1 << j, additive);
            // Apply the inverse to the temporary bitmap so the category is not counted again.
            for id in 0..command_count() {
                if IDS.categories[id] & (1 << j) != 0 {
                    let spec = IDS.specs[id];
                    for k in std::iter::once(id).chain(id + 1..id + 1 + spec.subcommands.len()) {
                        if !additive {
                            temp[k / 64] |= 1 << (k % 64);
                        } else {
                            temp[k / 64] &= !(1 << (k % 64));
                        }
                    }
                }
            }
            applied[j] = true;
        }
        for id in 0..command_count() {
            let mine = self.bit(id);
            if mine != fake.bit(id) {
                rules.push(format!(
                    "{}{}",
                    if mine { "+" } else { "-" },
                    IDS.specs[id].name
                ));
                fake.change_command(id, mine);
            }
            if !mine && let Some((_, list)) = self.firstargs.iter().find(|(i, _)| *i == id) {
                for a in list {
                    rules.push(format!(
                        "+{}|{}",
                        IDS.specs[id].name,
                        String::from_utf8_lossy(a)
                    ));
                }
            }
        }
        rules.join(" ")
    }

    /// Keys, channels and commands as `ACL LIST` shows them (Redis's `ACLDescribeSelector`):
    /// `~a* resetchannels &c -@all +get`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.all_channels {
            parts.push("&*".to_owned());
        } else {
            parts.push("resetchannels".to_owned());
            let channels = self.describe_channels();
            if !channels.is_empty() {
                parts.push(channels);
            }
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

/// Whether `channel` is allowed by `patterns`: matched as a glob, or for a `PSUBSCRIBE`
/// pattern (`literal`), equal to one of them.
fn channel_in(patterns: &[Vec<u8>], channel: &[u8], literal: bool) -> bool {
    patterns.iter().any(|p| {
        if literal {
            p == channel
        } else {
            string_match(p, channel, false)
        }
    })
}

impl User {
    /// A new user as `ACL SETUSER` creates it: off, no passwords, no keys, no channels (unless
    /// `acl-pubsub-default` is `allchannels`), no commands.
    pub(crate) fn new(name: &str) -> User {
        User::with_channels_default(name, false)
    }

    pub(crate) fn with_channels_default(name: &str, all_channels: bool) -> User {
        let mut u = User {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(all_channels),
            selectors: Vec::new(),
            channels_default: all_channels,
            unrestricted: false,
        };
        u.refresh();
        u
    }

    /// The `default` user out of the box: `on nopass ~* &* +@all`.
    pub(crate) fn default_user() -> User {
        let mut u = User::new("default");
        for rule in ["on", "nopass", "~*", "&*", "+@all"] {
            let _ = u.apply(rule.as_bytes());
        }
        u
    }

    fn refresh(&mut self) {
        self.unrestricted = self.root.unrestricted || self.selectors.iter().any(|s| s.unrestricted);
    }

    pub(crate) fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether a fresh connection of this user starts authenticated (Redis: the user has
    /// `nopass` and is enabled).
    pub(crate) fn auto_auth(&self) -> bool {
        self.nopass && self.enabled
    }

    /// Applies one `ACL SETUSER` rule (selectors already merged into one argument); an `Err`
    /// is Redis's reason text.
    pub(crate) fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let result = self.apply_inner(rule);
        self.refresh();
        result
    }

    fn apply_inner(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"sanitize-payload" => self.sanitize = Some(true),
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                self.apply_inner(b"resetpass")?;
                self.root.apply(b"resetkeys")?;
                self.root.apply(b"resetchannels")?;
                if self.channels_default {
                    self.root.apply(b"allchannels")?;
                }
                self.enabled = false;
                self.sanitize = Some(true);
                self.selectors.clear();
                self.root.apply(b"-@all")?;
            }
            _ => return self.apply_valued(rule),
        }
        Ok(())
    }

    fn apply_valued(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let (&first, rest) = rule.split_first().ok_or(reason::SYNTAX)?;
        match first {
            b'>' => {
                let digest = sha256(rest);
                if !self.passwords.contains(&digest) {
                    self.passwords.push(digest);
                }
                self.nopass = false;
            }
            b'#' => {
                let digest = parse_hash(rest).ok_or(reason::BAD_HASH)?;
                if !self.passwords.contains(&digest) {
                    self.passwords.push(digest);
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let digest = if first == b'<' {
                    sha256(rest)
                } else {
                    parse_hash(rest).ok_or(reason::BAD_HASH)?
                };
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != digest);
                if self.passwords.len() == before {
                    return Err(reason::NO_SUCH_PASSWORD);
                }
            }
            b'(' if rule.last() == Some(&b')') => {
                // The rules inside are split as Redis's `sdssplitargs` splits them, on blanks.
                let mut selector = Selector::new(self.channels_default);
                for part in rule[1..rule.len() - 1]
                    .split(u8::is_ascii_whitespace)
                    .filter(|p| !p.is_empty())
                {
                    selector.apply(part)?;
                }
                self.selectors.push(selector);
            }
            _ => self.root.apply(rule)?,
        }
        Ok(())
    }

    /// Whether `password` is one of the user's (or the user needs none). Every stored digest
    /// is compared in constant time.
    pub(crate) fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let digest = sha256(password);
        self.passwords
            .iter()
            .fold(false, |ok, p| ok | same_digest(p, &digest))
    }

    /// Checks a request against this user's selectors: allowed if one allows it all. Commands
    /// kvd does not know, or with a wrong argument count, pass: routing answers them with
    /// Redis's error, which Redis sends before any ACL check. A refusal is the one Redis
    /// reports (`ACLCheckAllUserCommandPerm`).
    pub(crate) fn check(&self, args: &[Bytes]) -> Result<(), Denied> {
        if self.unrestricted {
            return Ok(());
        }
        let Some(top) = args.first().and_then(|n| lookup_command(n)) else {
            return Ok(());
        };
        let sub = match (top.subcommands.is_empty(), args.get(1)) {
            (false, Some(name)) => match top.subcommand(name) {
                Some(sub) => Some(sub),
                None => return Ok(()),
            },
            _ => None,
        };
        let spec = sub.unwrap_or(top);
        if !spec.accepts_argc(args.len()) {
            return Ok(());
        }
        let id = command_id(top, sub).ok_or(Denied::Command)?;
        let mut worst = match self.root.check(args, id, spec, sub.is_some()) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        for selector in &self.selectors {
            match selector.check(args, id, spec, sub.is_some()) {
                Ok(()) => return Ok(()),
                Err(d) if severity(&d) > severity(&worst) => worst = d,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether every selector together allows `channel` (Redis's union of all selectors'
    /// channels, used to drop subscribers whose channels were taken away).
    pub(crate) fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.all_channels || channel_in(&s.channels, channel, literal))
    }

    /// Whether `other`'s channel rules are all kept by `self` (Redis's shortcut in
    /// `ACLKillPubsubClientsIfNeeded`): some selector allows every channel, or `other` did not
    /// and every channel pattern of `other` is still one of `self`'s.
    pub(crate) fn keeps_channels_of(&self, other: &User) -> bool {
        let mine = || std::iter::once(&self.root).chain(&self.selectors);
        if mine().any(|s| s.all_channels) {
            return true;
        }
        let theirs = || std::iter::once(&other.root).chain(&other.selectors);
        !theirs().any(|s| s.all_channels)
            && theirs()
                .flat_map(|s| &s.channels)
                .all(|c| mine().any(|s| s.channels.contains(c)))
    }

    /// The flags `ACL GETUSER` lists.
    pub(crate) fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    /// Password digests in hex, as `ACL GETUSER` lists them.
    pub(crate) fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// The root selector's key rules, as `ACL GETUSER` shows them.
    pub(crate) fn describe_keys(&self) -> String {
        self.root.describe_keys()
    }

    /// The root selector's channel rules, as `ACL GETUSER` shows them.
    pub(crate) fn describe_channels(&self) -> String {
        self.root.describe_channels()
    }

    /// The root selector's command rules, as `ACL GETUSER` shows them.
    pub(crate) fn describe_commands(&self) -> String {
        self.root.describe_commands()
    }

    /// The `(...)` selectors as `ACL GETUSER` lists them: (commands, keys, channels) each.
    pub(crate) fn describe_selectors(&self) -> Vec<[String; 3]> {
        self.selectors
            .iter()
            .map(|s| {
                [
                    s.describe_commands(),
                    s.describe_keys(),
                    s.describe_channels(),
                ]
            })
            .collect()
    }

    /// The user as an `ACL LIST` line and an ACL file line: `user default on nopass ~* &* +@all`,
    /// selectors in parentheses after the root rules.
    pub(crate) fn describe(&self) -> String {
        let mut parts = vec!["user".to_owned(), self.name.clone()];
        parts.extend(self.flags().into_iter().map(str::to_owned));
        parts.extend(self.passwords.iter().map(|p| format!("#{}", hex(p))));
        parts.push(self.root.describe());
        for s in &self.selectors {
            parts.push(format!("({})", s.describe()));
        }
        parts.join(" ")
    }
}

/// Every command of a category (subcommands as `name|sub`), for `ACL CAT <category>`.
pub(crate) fn category_commands(category: &str) -> Option<Vec<&'static str>> {
    let bit = category_bit(category)?;
    Some(
        (0..command_count())
            .filter(|&id| IDS.categories[id] & bit != 0)
            .map(|id| IDS.specs[id].name)
            .collect(),
    )
}

/// Whether a user name is acceptable: no spaces or NUL bytes.
pub(crate) fn valid_username(name: &[u8]) -> bool {
    !name
        .iter()
        .any(|&c| c.is_ascii_whitespace() || c == 0 || c == 0x0b)
}

/// One `ACL LOG` entry.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub(crate) count: u64,
    pub(crate) reason: &'static str,
    /// `toplevel`, or `multi` for a command refused while queuing a transaction.
    pub(crate) context: &'static str,
    pub(crate) object: String,
    pub(crate) username: String,
    pub(crate) created: Instant,
    pub(crate) client_info: String,
}

/// Most entries `ACL LOG` keeps (Redis's `acllog-max-len` default).
const LOG_MAX: usize = 128;

/// The ACL users of a server.
#[derive(Debug)]
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    epoch: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    aclfile: Mutex<Option<PathBuf>>,
    /// `acl-pubsub-default` is `allchannels` (Redis 7's default is `resetchannels`).
    all_channels_default: AtomicBool,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new()
    }
}

impl Acl {
    /// A registry with Redis's `default` user only: `on nopass ~* &* +@all`.
    pub fn new() -> Acl {
        let mut users = BTreeMap::new();
        users.insert("default".to_owned(), Arc::new(User::default_user()));
        Acl {
            users: RwLock::new(users),
            epoch: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
            aclfile: Mutex::new(None),
            all_channels_default: AtomicBool::new(false),
        }
    }

    /// `acl-pubsub-default`: whether new users and selectors, and `reset`, start with
    /// `allchannels` (true) or `resetchannels` (false, Redis 7's default).
    pub fn set_pubsub_default(&self, all_channels: bool) {
        self.all_channels_default
            .store(all_channels, Ordering::Relaxed);
    }

    /// The `acl-pubsub-default` in effect: true for `allchannels`.
    pub fn pubsub_default(&self) -> bool {
        self.all_channels_default.load(Ordering::Relaxed)
    }

    /// A copy of user `name` to change, or a new user, with the current `acl-pubsub-default`.
    fn editable(&self, users: &BTreeMap<String, Arc<User>>, name: &str) -> User {
        let all_channels = self.pubsub_default();
        let mut user = users
            .get(name)
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::with_channels_default(name, all_channels));
        user.channels_default = all_channels;
        user
    }

    /// Sets the `default` user's password as `requirepass` does in Redis: `resetpass` then
    /// `>password`, or `nopass` for none.
    pub fn set_default_password(&self, password: Option<&str>) {
        self.update("default", |u| {
            let _ = u.apply(b"resetpass");
            match password {
                Some(p) => {
                    let mut rule = b">".to_vec();
                    rule.extend_from_slice(p.as_bytes());
                    let _ = u.apply(&rule);
                }
                None => {
                    let _ = u.apply(b"nopass");
                }
            }
        });
    }

    /// The file `ACL LOAD` reads and `ACL SAVE` writes (`aclfile`).
    pub fn set_aclfile(&self, path: Option<PathBuf>) {
        *lock(&self.aclfile) = path;
    }

    pub(crate) fn aclfile(&self) -> Option<PathBuf> {
        lock(&self.aclfile).clone()
    }

    /// Loads the users of the `aclfile`, replacing every user (the `default` user is reset to
    /// its out-of-the-box rules unless the file defines it). On any error nothing changes;
    /// the error names the file and line as Redis does.
    pub fn load_file(&self) -> Result<(), String> {
        let Some(path) = self.aclfile() else {
            return Err(NO_ACLFILE.to_owned());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("Error loading ACLs, opening file '{}': {e}", path.display()))?;
        let users = parse_acl_file(&text, self.pubsub_default()).map_err(|(line, why)| {
            format!(
                "{}:{line}: {why}. WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
                path.display()
            )
        })?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = users;
        self.bump();
        Ok(())
    }

    /// Defines a user from a redis.conf `user <name> <rule>...` line (without `user`), as
    /// Redis does at startup. The error is Redis's reason for the first bad rule.
    pub fn define_user(&self, line: &str) -> Result<(), String> {
        let mut words = line.split_ascii_whitespace();
        let name = words
            .next()
            .ok_or_else(|| "a user name is required".to_owned())?;
        if !valid_username(name.as_bytes()) {
            return Err("Usernames can't contain spaces or null characters".to_owned());
        }
        let rules: Vec<Bytes> = words
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        self.set_user(name, &rules)
            .map(|_| ())
            .map_err(|e| e.trim_start_matches("ERR ").to_owned())
    }

    /// Writes every user to the `aclfile` (through a temporary file, renamed into place).
    pub(crate) fn save_file(&self) -> Result<(), String> {
        let Some(path) = self.aclfile() else {
            return Err(NO_ACLFILE.to_owned());
        };
        let mut text = String::new();
        for user in self.users() {
            text.push_str(&user.describe());
            text.push('\n');
        }
        let tmp = path.with_extension("tmp-kvd");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("There was an error trying to save the ACLs. Please check the server logs for more information: {e}"))
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub(crate) fn default_user(&self) -> Arc<User> {
        self.user("default")
            .unwrap_or_else(|| Arc::new(User::default_user()))
    }

    /// Every user, sorted by name.
    pub(crate) fn users(&self) -> Vec<Arc<User>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Changes a user (creating it if absent) and publishes the change.
    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut User)) {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut user = self.editable(&users, name);
        change(&mut user);
        users.insert(name.to_owned(), Arc::new(user));
        drop(users);
        self.bump();
    }

    /// `ACL SETUSER`: applies every rule to a copy; on the first error nothing changes.
    /// Returns whether an existing user lost channel permissions, so that its subscribed
    /// clients must be checked (Redis's `ACLKillPubsubClientsIfNeeded`).
    pub(crate) fn set_user(&self, name: &str, rules: &[Bytes]) -> Result<bool, String> {
        let rules = merge_selector_args(rules)
            .map_err(|arg| format!("ERR {}", unmatched_parenthesis(&arg)))?;
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let mut user = self.editable(&users, name);
        for rule in &rules {
            user.apply(rule).map_err(|why| {
                format!(
                    "ERR Error in ACL SETUSER modifier '{}': {why}",
                    String::from_utf8_lossy(rule)
                )
            })?;
        }
        let narrowed = users
            .get(name)
            .is_some_and(|old| !user.keeps_channels_of(old));
        users.insert(name.to_owned(), Arc::new(user));
        drop(users);
        self.bump();
        Ok(narrowed)
    }

    /// Deletes users; returns how many existed.
    pub(crate) fn delete(&self, names: &[&str]) -> usize {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let removed = names.iter().filter(|n| users.remove(**n).is_some()).count();
        drop(users);
        self.bump();
        removed
    }

    /// The user `name` if it exists, is enabled and `password` is one of its passwords.
    pub(crate) fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let name = std::str::from_utf8(name).ok()?;
        let user = self.user(name)?;
        // The password is checked even for a disabled user, so timing tells nothing.
        let ok = user.password_ok(password);
        (ok && user.enabled).then_some(user)
    }

    /// Records a denial in `ACL LOG`. As in Redis, an identical entry from the last minute is
    /// counted up and moved to the front instead of adding a new one.
    pub(crate) fn log(
        &self,
        (reason, context): (&'static str, &'static str),
        object: String,
        username: &str,
        client: String,
    ) {
        let mut log = lock(&self.log);
        let same = log.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && e.created.elapsed().as_secs() < 60
        });
        let count = match same.and_then(|i| log.remove(i)) {
            Some(old) => old.count + 1,
            None => 1,
        };
        log.push_front(LogEntry {
            count,
            reason,
            context,
            object,
            username: username.to_owned(),
            created: Instant::now(),
            client_info: client,
        });
        log.truncate(LOG_MAX);
    }

    pub(crate) fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        lock(&self.log).iter().take(count).cloned().collect()
    }

    pub(crate) fn reset_log(&self) {
        lock(&self.log).clear();
    }
}

pub(crate) const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Parses an ACL file: `user <name> <rule>...` lines; blank lines and `#` comments skipped.
fn parse_acl_file(
    text: &str,
    all_channels: bool,
) -> Result<BTreeMap<String, Arc<User>>, (usize, String)> {
    let mut users: BTreeMap<String, Arc<User>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if words[0] != "user" || words.len() < 2 {
            return Err((line_no, "line should start with user keyword".to_owned()));
        }
        let name = words[1];
        if users.contains_key(name) {
            return Err((line_no, format!("Duplicate user '{name}' found")));
        }
        let mut user = User::with_channels_default(name, all_channels);
        let rules = merge_selector_args(&words[2..])
            .map_err(|arg| (line_no, unmatched_parenthesis(&arg)))?;
        for rule in &rules {
            user.apply(rule).map_err(|why| {
                (
                    line_no,
                    format!(
                        "Error in applying operation '{}': {why}",
                        String::from_utf8_lossy(rule)
                    ),
                )
            })?;
        }
        users.insert(name.to_owned(), Arc::new(user));
    }
    users
        .entry("default".to_owned())
        .or_insert_with(|| Arc::new(User::default_user()));
    Ok(users)
}

/// Fills `out` with random bytes from the kernel (`ACL GENPASS`, as Redis reads
/// `/dev/urandom`).
pub(crate) fn random_bytes(out: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("u");
        for r in rules {
            u.apply(r.as_bytes()).unwrap();
        }
        u
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn default_user_is_described_like_redis() {
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass ~* &* +@all"
        );
        assert!(User::default_user().unrestricted);
    }

    #[test]
    fn new_and_reset_users_are_described_like_redis() {
        assert_eq!(User::new("u").describe(), "user u off resetchannels -@all");
        assert_eq!(
            user(&["reset"]).describe(),
            "user u off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn passwords_are_sha256_and_listed_in_hex() {
        let u = user(&["on", ">p1"]);
        assert_eq!(
            u.password_hashes(),
            ["f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"]
        );
        assert!(u.password_ok(b"p1"));
        assert!(!u.password_ok(b"p2"));
        let mut u2 = user(&["#f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a"]);
        assert!(u2.password_ok(b"p1"));
        assert_eq!(u2.apply(b"<p2"), Err(reason::NO_SUCH_PASSWORD));
        assert_eq!(u2.apply(b"#abc"), Err(reason::BAD_HASH));
        u2.apply(b"<p1").unwrap();
        assert!(!u2.password_ok(b"p1"));
    }

    #[test]
    fn command_rules_are_checked_by_bit() {
        let u = user(&["+get", "~*", "&*"]);
        assert_eq!(u.check(&args(&["get", "k"])), Ok(()));
        assert_eq!(u.check(&args(&["GET", "k"])), Ok(()));
        assert_eq!(u.check(&args(&["set", "k", "v"])), Err(Denied::Command));
        // Wrong arity and unknown commands are left to routing, as Redis checks them first.
        assert_eq!(u.check(&args(&["set", "k"])), Ok(()));
        assert_eq!(u.check(&args(&["nosuch"])), Ok(()));
        // AUTH and HELLO need no permission.
        assert_eq!(u.check(&args(&["auth", "x"])), Ok(()));
        let c = user(&["+config|get", "~*"]);
        assert_eq!(c.check(&args(&["config", "get", "x"])), Ok(()));
        assert_eq!(
            c.check(&args(&["config", "set", "x", "y"])),
            Err(Denied::Command)
        );
        let s = user(&["+select|0"]);
        assert_eq!(s.check(&args(&["select", "0"])), Ok(()));
        assert_eq!(s.check(&args(&["select", "1"])), Err(Denied::Command));
        assert_eq!(s.describe_commands(), "-@all +select|0");
    }

    #[test]
    fn key_patterns_follow_read_and_write_permissions() {
        let u = user(&["+@all", "~foo*", "%R~r*", "%W~w*"]);
        assert_eq!(u.check(&args(&["get", "foo1"])), Ok(()));
        assert_eq!(u.check(&args(&["get", "bar"])), Err(Denied::Key(1)));
        assert_eq!(u.check(&args(&["get", "r1"])), Ok(()));
        assert_eq!(u.check(&args(&["set", "r1", "v"])), Err(Denied::Key(1)));
        assert_eq!(u.check(&args(&["set", "w1", "v"])), Ok(()));
        assert_eq!(u.check(&args(&["get", "w1"])), Err(Denied::Key(1)));
        assert_eq!(
            u.check(&args(&["set", "w1", "v", "GET"])),
            Err(Denied::Key(1))
        );
        assert_eq!(u.check(&args(&["incr", "w1"])), Err(Denied::Key(1)));
        assert_eq!(
            u.check(&args(&["mget", "foo", "r", "w"])),
            Err(Denied::Key(3))
        );
        assert_eq!(u.check(&args(&["copy", "r1", "w1"])), Ok(()));
        assert_eq!(u.check(&args(&["exists", "w1"])), Ok(()));
        assert_eq!(u.check(&args(&["watch", "w1", "r1"])), Ok(()));
        assert_eq!(u.check(&args(&["restore", "w1", "0", "x"])), Ok(()));
        assert_eq!(
            u.check(&args(&["restore", "r1", "0", "x"])),
            Err(Denied::Key(1))
        );
        assert_eq!(u.check(&args(&["dump", "w1"])), Err(Denied::Key(1)));
        assert_eq!(u.check(&args(&["lpush", "w1", "x"])), Ok(()));
        assert_eq!(u.check(&args(&["lpop", "w1"])), Err(Denied::Key(1)));
        assert_eq!(u.check(&args(&["llen", "w1"])), Ok(()));
        assert_eq!(
            u.check(&args(&["lmove", "foo1", "w1", "LEFT", "LEFT"])),
            Ok(())
        );
        // Patterns are case-sensitive globs.
        assert_eq!(u.check(&args(&["get", "FOO"])), Err(Denied::Key(1)));
        assert_eq!(u.describe_keys(), "~foo* %R~r* %W~w*");
    }

    #[test]
    fn channel_patterns() {
        let u = user(&["+@all", "~*", "&news.*"]);
        assert!(u.channel_allowed(b"news.a", false));
        assert!(!u.channel_allowed(b"sport", false));
        assert!(!u.channel_allowed(b"news.*x", true));
        assert!(u.channel_allowed(b"news.*", true));
        assert_eq!(u.describe_channels(), "&news.*");
        let mut all = user(&["allchannels"]);
        assert_eq!(all.apply(b"&x"), Err(reason::CHANNELS_AFTER_ALL));
    }

    #[test]
    fn errors_are_redis_reasons() {
        let mut u = User::new("u");
        assert_eq!(u.apply(b"foo"), Err(reason::SYNTAX));
        assert_eq!(u.apply(b"+nosuch"), Err(reason::UNKNOWN));
        assert_eq!(u.apply(b"+@nosuch"), Err(reason::UNKNOWN));
        assert_eq!(u.apply(b"+config|nosuch"), Err(reason::UNKNOWN));
        assert_eq!(u.apply(b"%X~a"), Err(reason::SYNTAX));
        u.apply(b"allkeys").unwrap();
        assert_eq!(u.apply(b"~x"), Err(reason::KEYS_AFTER_ALL));
    }

    #[test]
    fn command_rules_are_described_like_redis() {
        assert_eq!(
            user(&["+@all", "-@dangerous"]).describe_commands(),
            "+@all -@dangerous"
        );
        assert_eq!(user(&["+get"]).describe_commands(), "-@all +get");
        assert_eq!(user(&["+@all", "-get"]).describe_commands(), "+@all -get");
        assert_eq!(
            user(&["+@string", "-set"]).describe_commands(),
            "-@all +@string -set"
        );
        assert_eq!(
            user(&["+config|get"]).describe_commands(),
            "-@all +config|get"
        );
        assert_eq!(
            user(&["on", ">p1", "~foo*", "%R~bar*", "&ch*", "+@string", "-set"]).describe(),
            "user u on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* %R~bar* resetchannels &ch* -@all +@string -set"
        );
    }

    #[test]
    fn acl_files_round_trip() {
        let text = "user bob on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~k* resetchannels -@all +get\nuser default on nopass ~* &* +@all\n";
        let users = parse_acl_file(text, false).unwrap();
        let described: Vec<String> = users.values().map(|u| u.describe()).collect();
        assert_eq!(described.join("\n") + "\n", text);
        assert_eq!(
            parse_acl_file("user x +nosuch", false).unwrap_err(),
            (
                1,
                "Error in applying operation '+nosuch': Unknown command or category name in ACL"
                    .to_owned()
            )
        );
        assert!(parse_acl_file("", false).unwrap().contains_key("default"));
    }

    #[test]
    fn selector_arguments_are_merged_as_redis_merges_them() {
        let merged = merge_selector_args(&["on", "(~x", "+get)", "(~y)", "(", ")"]).unwrap();
        assert_eq!(
            merged,
            [&b"on"[..], b"(~x +get)", b"(~y)", b"( )"].map(<[u8]>::to_vec)
        );
        assert_eq!(
            merge_selector_args(&["(~x", "(~y"]).unwrap_err(),
            b"(~y".to_vec()
        );
    }

    #[test]
    fn the_most_severe_refusal_of_all_selectors_is_reported() {
        let u = user(&["~a", "+get", "(~b +set)", "(&x +publish ~*)"]);
        assert_eq!(u.check(&args(&["get", "a"])), Ok(()));
        assert_eq!(u.check(&args(&["set", "b", "v"])), Ok(()));
        // Root: key; first selector: command. The key refusal wins.
        assert_eq!(u.check(&args(&["get", "b"])), Err(Denied::Key(1)));
        // Only the second selector knows PUBLISH: its channel refusal is reported.
        assert_eq!(
            u.check(&args(&["publish", "y", "m"])),
            Err(Denied::Channel(1))
        );
        assert_eq!(u.check(&args(&["publish", "x", "m"])), Ok(()));
        assert_eq!(u.check(&args(&["del", "a"])), Err(Denied::Command));
        assert!(u.channel_allowed(b"x", false) && !u.channel_allowed(b"y", false));
        let line = "user u off ~a resetchannels -@all +get (~b resetchannels -@all +set) (~* resetchannels &x -@all +publish)";
        assert_eq!(u.describe(), line);
        let file = parse_acl_file(&format!("{line}\n"), false).unwrap();
        assert_eq!(file["u"].describe(), u.describe());
    }

    #[test]
    fn every_command_and_subcommand_has_an_id() {
        for spec in command_table() {
            let id = command_id(spec, None).unwrap();
            assert_eq!(IDS.specs[id].name, spec.name);
            for sub in spec.subcommands {
                let id = command_id(spec, Some(sub)).unwrap();
                assert_eq!(IDS.specs[id].name, sub.name);
            }
        }
    }
}
