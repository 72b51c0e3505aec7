//! The command table: every command kvd knows, with Redis's metadata (arity, flags, key
//! positions, docs). Used for routing and arity checks here, and for `COMMAND` by the IO layer.
use std::sync::LazyLock;

/// Redis's description of one command (or subcommand), as `COMMAND INFO`/`COMMAND DOCS` show it.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name, e.g. `get`, or `config|get` for a subcommand.
    pub name: &'static str,
    /// Redis arity: exact argument count including the name if positive, at least `-arity` if
    /// negative.
    pub arity: i32,
    /// Redis command flags, e.g. `write`, `readonly`, `denyoom`, `fast`, `loading`, `stale`.
    pub flags: &'static [&'static str],
    /// Position of the first key (0 if none).
    pub first_key: i32,
    /// Position of the last key (-1 means the last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Keys counted by an argument (Redis's `keynum` key spec), after the range above.
    pub keynum: Option<KeyNum>,
    /// ACL categories, e.g. `@read`, `@string`, `@fast`.
    pub acl_categories: &'static [&'static str],
    /// Doc group: `string`, `generic`, `connection`, `server`, ...
    pub group: &'static str,
    /// One-line summary from the Redis docs.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// Time complexity text.
    pub complexity: &'static str,
    /// Argument syntax as in the Redis docs, e.g. `key value [NX | XX] [GET]`; the IO layer
    /// builds `COMMAND DOCS` arguments from it.
    pub syntax: &'static str,
    /// Subcommands (for container commands such as `CLIENT` and `CONFIG`).
    pub subcommands: &'static [CommandSpec],
}

/// A Redis `keynum` key spec: `numkeys` names how many keys follow, as in
/// `ZUNIONSTORE dst numkeys key [key ...]` or `ZMPOP numkeys key [key ...] MIN`.
#[derive(Debug)]
pub struct KeyNum {
    /// Index of the numkeys argument (Redis's `begin_search` index).
    pub numkeys: usize,
    /// Offset of the first key from the numkeys argument (Redis's `firstkey`).
    pub first: usize,
    /// Step between keys (Redis's `keystep`).
    pub step: usize,
    /// Redis's key spec flags of these keys, e.g. `RW access delete`.
    pub flags: &'static [&'static str],
}

/// The keys of one request, as Redis's `COMMAND GETKEYS` finds them.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestKeys {
    /// Argument indexes of the keys.
    pub positions: Vec<usize>,
    /// How many leading `positions` come from the first/last/step range; the rest are
    /// [`KeyNum`] keys.
    pub range: usize,
    /// Whether the key specs found them; if not, Redis's fallback parse (an `atoi` numkeys)
    /// did, and Redis reports no key flags.
    pub by_spec: bool,
}

/// Every top-level command kvd implements, sorted by name.
pub fn command_table() -> &'static [CommandSpec] {
    crate::table::COMMANDS
}

/// Looks a command up by name, ignoring ASCII case.
///
/// This runs for every command, so it allocates nothing: names are bucketed by length and
/// first letter once, a bucket holds one or two candidates, and each is one integer comparison.
pub fn lookup_command(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup_index(name).map(|i| &command_table()[i])
}

/// [`lookup_command`], returning the command's index in [`command_table`]: for callers that
/// keep something per command in a table of their own.
pub fn lookup_command_index(name: &[u8]) -> Option<usize> {
    lookup_index(name)
}

/// Longest top-level name we bucket; longer names are unknown.
const MAX_NAME: usize = 16;

/// A name of at most [`MAX_NAME`] bytes, ASCII-lowercased and packed into an integer, so that
/// a candidate is one comparison (a bucket holds names of one length, so the zero padding
/// cannot make two names equal).
fn packed_lowercase(name: &[u8]) -> u128 {
    name.iter().rev().fold(0u128, |acc, b| {
        (acc << 8) | u128::from(b.to_ascii_lowercase())
    })
}

/// Bucket of a name: its length and its first byte with the case bit cleared, so a bucket
/// holds one or two candidates (and a bucket shared by a non-letter costs only a comparison).
fn bucket_of(name: &[u8]) -> Option<usize> {
    let &first = name.first()?;
    (name.len() <= MAX_NAME).then(|| name.len() * 32 + usize::from(first & 0x1f))
}

/// Per bucket ([`bucket_of`]), the packed names and table indexes of its commands.
static BUCKETS: LazyLock<Vec<Vec<(u128, u16)>>> = LazyLock::new(|| {
    let mut buckets = vec![Vec::new(); (MAX_NAME + 1) * 32];
    for (i, spec) in command_table().iter().enumerate() {
        let name = spec.name.as_bytes();
        if let Some(b) = bucket_of(name) {
            buckets[b].push((packed_lowercase(name), i as u16));
        }
    }
    buckets
});

/// Index of `name` in [`command_table`].
///
/// It runs twice per command (routing, then execution), so it compares packed names: about a
/// third of the instructions of comparing each candidate with `eq_ignore_ascii_case`.
pub(crate) fn lookup_index(name: &[u8]) -> Option<usize> {
    let bucket = BUCKETS.get(bucket_of(name)?)?;
    let packed = packed_lowercase(name);
    bucket
        .iter()
        .find(|&&(p, _)| p == packed)
        .map(|&(_, i)| i as usize)
}

impl CommandSpec {
    /// Whether `argc` arguments (the name included) satisfy this command's arity.
    pub fn accepts_argc(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Looks up a subcommand (e.g. `get` of `config`), ignoring ASCII case.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let prefix = self.name.len() + 1;
        self.subcommands.iter().find(|s| {
            s.name
                .as_bytes()
                .get(prefix..)
                .is_some_and(|sub| sub.eq_ignore_ascii_case(name))
        })
    }

    /// The keys of a request for this command, by its first/last/step key positions.
    pub fn key_positions(&self, argc: usize) -> impl Iterator<Item = usize> + use<> {
        let (first, step) = (self.first_key.max(0) as usize, self.step.max(1) as usize);
        let last = if self.first_key <= 0 {
            0
        } else if self.last_key < 0 {
            (argc as i64 + self.last_key as i64).max(0) as usize
        } else {
            self.last_key as usize
        };
        let end = if first == 0 { 0 } else { (last + 1).min(argc) };
        (first..end.max(first)).step_by(step)
    }

    /// Every key of a request (`args[0]` being the command name): the range of
    /// [`key_positions`](Self::key_positions), then the [`KeyNum`] keys. Like Redis 7.0, a
    /// numkeys that is not a non-negative integer or names keys past the end falls back to an
    /// `atoi` parse (Redis's getkeys procs, which put a store key last); no keys at all if that
    /// fails too (numkeys below 1 or too large).
    pub fn request_keys(&self, args: &[impl AsRef<[u8]>]) -> RequestKeys {
        let argc = args.len();
        let mut positions: Vec<usize> = self.key_positions(argc).filter(|&i| i < argc).collect();
        let range = positions.len();
        let Some(kn) = &self.keynum else {
            return RequestKeys {
                positions,
                range,
                by_spec: true,
            };
        };
        let count = args.get(kn.numkeys).map(|a| a.as_ref());
        let strict = count
            .and_then(|c| std::str::from_utf8(c).ok())
            .filter(|c| !c.starts_with('+'))
            .and_then(|c| c.parse::<i64>().ok());
        let first = kn.numkeys + kn.first;
        if let Some(n) = strict.filter(|&n| n >= 1) {
            let last = first as i64 + (n - 1) * kn.step as i64;
            if last < argc as i64 {
                positions.extend((first..=last as usize).step_by(kn.step));
                return RequestKeys {
                    positions,
                    range,
                    by_spec: true,
                };
            }
        }
        let n = count.map_or(0, atoi);
        if n < 1 || n > ((argc - first.min(argc)) / kn.step) as i64 {
            return RequestKeys {
                positions: Vec::new(),
                range: 0,
                by_spec: false,
            };
        }
        let mut keys: Vec<usize> = (0..n as usize).map(|i| first + i * kn.step).collect();
        keys.extend(positions);
        RequestKeys {
            positions: keys,
            range: 0,
            by_spec: false,
        }
    }
}

/// C's `atoi`: leading whitespace, an optional sign, then digits up to the first non-digit.
fn atoi(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, &d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg { -n } else { n }
}

/// Every command and subcommand in one flat list, the index being a stable [`CommandId`] used
/// for per-command statistics.
pub(crate) static ALL_SPECS: LazyLock<Vec<&'static CommandSpec>> = LazyLock::new(|| {
    let mut all = Vec::new();
    for spec in command_table() {
        all.push(spec);
        all.extend(spec.subcommands.iter());
    }
    all
});

/// Index into [`ALL_SPECS`].
pub(crate) type CommandId = usize;

/// The statistics id of the top-level command at `index` in [`command_table`]; its
/// subcommands follow it in [`ALL_SPECS`], in table order.
pub(crate) fn command_id(index: usize) -> CommandId {
    static IDS: LazyLock<Vec<CommandId>> = LazyLock::new(|| {
        let mut next = 0;
        command_table()
            .iter()
            .map(|spec| {
                let id = next;
                next += 1 + spec.subcommands.len();
                id
            })
            .collect()
    });
    IDS.get(index).copied().unwrap_or(0)
}
