//! The command table: every command kvd knows, with Redis's metadata (arity, flags, key
//! positions, docs). Used for routing and arity checks here, and for `COMMAND` by the IO layer.

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

/// Every top-level command kvd implements.
pub fn command_table() -> &'static [CommandSpec] {
    &[]
}

/// Looks a command up by name, ignoring ASCII case.
pub fn lookup_command(name: &[u8]) -> Option<&'static CommandSpec> {
    command_table().iter().find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}
