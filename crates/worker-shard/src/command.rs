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

/// Every top-level command kvd implements, sorted by name.
pub fn command_table() -> &'static [CommandSpec] {
    crate::table::COMMANDS
}

/// Looks a command up by name, ignoring ASCII case.
///
/// This runs for every command, so it avoids both allocation and lowercasing: names are
/// bucketed by length once, and a bucket holds at most a handful of candidates.
pub fn lookup_command(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup_index(name).map(|i| &command_table()[i])
}

/// Longest top-level name we bucket; longer names are unknown.
const MAX_NAME: usize = 16;

static BY_LEN: LazyLock<Vec<Vec<u16>>> = LazyLock::new(|| {
    let mut buckets = vec![Vec::new(); MAX_NAME + 1];
    for (i, spec) in command_table().iter().enumerate() {
        buckets[spec.name.len()].push(i as u16);
    }
    buckets
});

/// Index of `name` in [`command_table`].
pub(crate) fn lookup_index(name: &[u8]) -> Option<usize> {
    let bucket = BY_LEN.get(name.len())?;
    let table = command_table();
    bucket
        .iter()
        .map(|&i| i as usize)
        .find(|&i| table[i].name.as_bytes().eq_ignore_ascii_case(name))
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
