//! Every setting kvd knows, by its Redis name: the one table behind `kvd.toml`, the command
//! line and `CONFIG GET`/`CONFIG SET`, so the three never disagree.
//!
//! Two kinds of entries:
//! - kvd's own settings ([`Key`]), stored in [`Config`];
//! - Redis settings kvd does not implement ([`COMPAT`]). Each is accepted only with a value that
//!   asks for nothing kvd lacks (`save ""`, `appendonly no`...), so that scripts which start
//!   redis-server that way start kvd too; any other value is refused by name. Nothing is ever
//!   silently ignored.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use worker_shard::NotifyClass;

use crate::{Config, ThreadLayout};

/// kvd's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Bind,
    Port,
    Listeners,
    IoThreads,
    Workers,
    ThreadLayout,
    Databases,
    Hz,
    Requirepass,
    NotifyKeyspaceEvents,
    Maxclients,
    Timeout,
    TcpKeepalive,
    ClientQueryBufferLimit,
    ProtoMaxBulkLen,
    ClientOutputBufferLimit,
    ProtectedMode,
    Aclfile,
    AclPubsubDefault,
    Dir,
    Dbfilename,
    Save,
    HashMaxListpackEntries,
    HashMaxListpackValue,
    SetMaxIntsetEntries,
    ZsetMaxListpackEntries,
    ZsetMaxListpackValue,
    ListMaxListpackSize,
    Maxmemory,
    MaxmemoryPolicy,
    MaxmemorySamples,
    LfuLogFactor,
    LfuDecayTime,
    Appendonly,
    Appendfsync,
    Appendfilename,
    Appenddirname,
    AofLoadTruncated,
    AutoAofRewritePercentage,
    AutoAofRewriteMinSize,
}

/// A kvd setting: its Redis name (what `CONFIG GET` shows; files and flags also take `_` for
/// `-`) and whether Redis itself refuses to change it at runtime.
struct KvdSetting {
    name: &'static str,
    key: Key,
    immutable: bool,
}

const KVD: &[KvdSetting] = &[
    KvdSetting {
        name: "bind",
        key: Key::Bind,
        immutable: false,
    },
    KvdSetting {
        name: "port",
        key: Key::Port,
        immutable: false,
    },
    KvdSetting {
        name: "listeners",
        key: Key::Listeners,
        immutable: true,
    },
    KvdSetting {
        name: "io-threads",
        key: Key::IoThreads,
        immutable: true,
    },
    KvdSetting {
        name: "workers",
        key: Key::Workers,
        immutable: true,
    },
    KvdSetting {
        name: "thread-layout",
        key: Key::ThreadLayout,
        immutable: true,
    },
    KvdSetting {
        name: "databases",
        key: Key::Databases,
        immutable: true,
    },
    KvdSetting {
        name: "hz",
        key: Key::Hz,
        immutable: false,
    },
    KvdSetting {
        name: "requirepass",
        key: Key::Requirepass,
        immutable: false,
    },
    KvdSetting {
        name: "notify-keyspace-events",
        key: Key::NotifyKeyspaceEvents,
        immutable: false,
    },
    KvdSetting {
        name: "maxclients",
        key: Key::Maxclients,
        immutable: false,
    },
    KvdSetting {
        name: "timeout",
        key: Key::Timeout,
        immutable: false,
    },
    KvdSetting {
        name: "tcp-keepalive",
        key: Key::TcpKeepalive,
        immutable: false,
    },
    KvdSetting {
        name: "client-query-buffer-limit",
        key: Key::ClientQueryBufferLimit,
        immutable: false,
    },
    KvdSetting {
        name: "proto-max-bulk-len",
        key: Key::ProtoMaxBulkLen,
        immutable: false,
    },
    KvdSetting {
        name: "client-output-buffer-limit",
        key: Key::ClientOutputBufferLimit,
        immutable: false,
    },
    KvdSetting {
        name: "protected-mode",
        key: Key::ProtectedMode,
        immutable: false,
    },
    KvdSetting {
        name: "acl-pubsub-default",
        key: Key::AclPubsubDefault,
        immutable: false,
    },
    KvdSetting {
        name: "aclfile",
        key: Key::Aclfile,
        immutable: true,
    },
    KvdSetting {
        name: "dir",
        key: Key::Dir,
        immutable: false,
    },
    KvdSetting {
        name: "dbfilename",
        key: Key::Dbfilename,
        immutable: false,
    },
    KvdSetting {
        name: "save",
        key: Key::Save,
        immutable: false,
    },
    KvdSetting {
        name: "appendonly",
        key: Key::Appendonly,
        immutable: false,
    },
    KvdSetting {
        name: "appendfsync",
        key: Key::Appendfsync,
        immutable: false,
    },
    KvdSetting {
        name: "appendfilename",
        key: Key::Appendfilename,
        immutable: true,
    },
    KvdSetting {
        name: "appenddirname",
        key: Key::Appenddirname,
        immutable: true,
    },
    KvdSetting {
        name: "aof-load-truncated",
        key: Key::AofLoadTruncated,
        immutable: false,
    },
    KvdSetting {
        name: "auto-aof-rewrite-percentage",
        key: Key::AutoAofRewritePercentage,
        immutable: false,
    },
    KvdSetting {
        name: "auto-aof-rewrite-min-size",
        key: Key::AutoAofRewriteMinSize,
        immutable: false,
    },
    // The compact-encoding thresholds of hashes, sets, sorted sets and lists, with the `ziplist`
    // aliases Redis 7.0 still accepts (and lists) for the `listpack` names.
    KvdSetting {
        name: "hash-max-listpack-entries",
        key: Key::HashMaxListpackEntries,
        immutable: false,
    },
    KvdSetting {
        name: "hash-max-ziplist-entries",
        key: Key::HashMaxListpackEntries,
        immutable: false,
    },
    KvdSetting {
        name: "hash-max-listpack-value",
        key: Key::HashMaxListpackValue,
        immutable: false,
    },
    KvdSetting {
        name: "hash-max-ziplist-value",
        key: Key::HashMaxListpackValue,
        immutable: false,
    },
    KvdSetting {
        name: "set-max-intset-entries",
        key: Key::SetMaxIntsetEntries,
        immutable: false,
    },
    KvdSetting {
        name: "zset-max-listpack-entries",
        key: Key::ZsetMaxListpackEntries,
        immutable: false,
    },
    KvdSetting {
        name: "zset-max-ziplist-entries",
        key: Key::ZsetMaxListpackEntries,
        immutable: false,
    },
    KvdSetting {
        name: "zset-max-listpack-value",
        key: Key::ZsetMaxListpackValue,
        immutable: false,
    },
    KvdSetting {
        name: "zset-max-ziplist-value",
        key: Key::ZsetMaxListpackValue,
        immutable: false,
    },
    KvdSetting {
        name: "list-max-listpack-size",
        key: Key::ListMaxListpackSize,
        immutable: false,
    },
    KvdSetting {
        name: "list-max-ziplist-size",
        key: Key::ListMaxListpackSize,
        immutable: false,
    },
    KvdSetting {
        name: "maxmemory",
        key: Key::Maxmemory,
        immutable: false,
    },
    KvdSetting {
        name: "maxmemory-policy",
        key: Key::MaxmemoryPolicy,
        immutable: false,
    },
    KvdSetting {
        name: "maxmemory-samples",
        key: Key::MaxmemorySamples,
        immutable: false,
    },
    KvdSetting {
        name: "lfu-log-factor",
        key: Key::LfuLogFactor,
        immutable: false,
    },
    KvdSetting {
        name: "lfu-decay-time",
        key: Key::LfuDecayTime,
        immutable: false,
    },
];

/// Settings that change while the server runs (`CONFIG SET`); the other mutable ones accept
/// only their current value.
pub(crate) fn is_live(key: Key) -> bool {
    !matches!(
        key,
        Key::Bind
            | Key::Port
            | Key::Listeners
            | Key::IoThreads
            | Key::Workers
            | Key::Databases
            | Key::Aclfile
    )
}

/// Most threads of one kind kvd starts; more is a typo, not a machine.
pub(crate) const MAX_THREADS: usize = 1024;

/// What a Redis setting kvd does not implement makes of a value.
pub(crate) enum Check {
    /// The value asks for nothing kvd lacks.
    Accept,
    /// A valid Redis value that asks for something kvd lacks; the text says what.
    Unsupported(&'static str),
    /// Not a valid value for Redis either; the text is Redis's reason.
    Invalid(String),
}

/// A Redis setting kvd accepts only with values that need nothing it lacks.
pub(crate) struct Compat {
    pub(crate) name: &'static str,
    /// What `CONFIG GET` reports: the behaviour kvd actually has.
    value: fn() -> String,
    check: fn(&str) -> Check,
    immutable: bool,
}

fn fixed_no() -> String {
    "no".to_owned()
}
fn fixed_empty() -> String {
    String::new()
}

fn yes_no(value: &str) -> Result<bool, Check> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(Check::Invalid("argument must be 'yes' or 'no'".to_owned())),
    }
}

/// Accepts `no`, refuses `yes` with `reason`.
fn only_no(value: &str, reason: &'static str) -> Check {
    match yes_no(value) {
        Ok(false) => Check::Accept,
        Ok(true) => Check::Unsupported(reason),
        Err(invalid) => invalid,
    }
}

fn only_empty(value: &str, reason: &'static str) -> Check {
    if value.is_empty() {
        Check::Accept
    } else {
        Check::Unsupported(reason)
    }
}

fn one_of(value: &str, allowed: &[&str]) -> Check {
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        Check::Accept
    } else {
        Check::Invalid(format!(
            "argument(s) must be one of the following: {}",
            allowed.join(", ")
        ))
    }
}

/// Redis's memory sizes: `0`, `100mb`, `1gb`... Returns the byte count.
fn memory(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let units: [(&str, u64); 7] = [
        ("kb", 1024),
        ("mb", 1024 * 1024),
        ("gb", 1024 * 1024 * 1024),
        ("k", 1000),
        ("m", 1000 * 1000),
        ("g", 1000 * 1000 * 1000),
        ("b", 1),
    ];
    let (digits, unit) = units
        .iter()
        .find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|d| (d, *unit)))
        .unwrap_or((lower.as_str(), 1));
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

fn integer_in(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = value
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_owned())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Redis settings kvd does not implement, with the values it accepts. Keep sorted by name.
pub(crate) const COMPAT: &[Compat] = &[
    Compat {
        name: "always-show-logo",
        value: fixed_no,
        check: |v| yes_no(v).map_or_else(|e| e, |_| Check::Accept),
        immutable: true,
    },
    Compat {
        name: "cluster-enabled",
        value: fixed_no,
        check: |v| only_no(v, "kvd has no cluster mode"),
        immutable: true,
    },
    Compat {
        name: "daemonize",
        value: fixed_no,
        check: |v| only_no(v, "kvd does not daemonize; run it under a supervisor"),
        immutable: true,
    },
    Compat {
        name: "logfile",
        value: fixed_empty,
        check: |v| only_empty(v, "kvd logs to standard error"),
        immutable: true,
    },
    Compat {
        name: "loglevel",
        value: || "notice".to_owned(),
        check: |v| one_of(v, &["debug", "verbose", "notice", "warning", "nothing"]),
        immutable: false,
    },
    Compat {
        name: "pidfile",
        value: fixed_empty,
        check: |v| only_empty(v, "kvd writes no pid file"),
        immutable: true,
    },
    Compat {
        name: "supervised",
        value: fixed_no,
        check: |v| match v.to_ascii_lowercase().as_str() {
            "no" => Check::Accept,
            "upstart" | "systemd" | "auto" => {
                Check::Unsupported("kvd does not talk to a supervisor")
            }
            _ => one_of(v, &["upstart", "systemd", "auto", "no"]),
        },
        immutable: true,
    },
    Compat {
        name: "tcp-backlog",
        value: || reuseport_listener::BACKLOG.to_string(),
        check: |v| match integer_in(v, 0, i32::MAX.into()) {
            Ok(n) if n == i64::from(reuseport_listener::BACKLOG) => Check::Accept,
            Ok(_) => Check::Unsupported("kvd's listen backlog is fixed at 511"),
            Err(reason) => Check::Invalid(reason),
        },
        immutable: true,
    },
    Compat {
        name: "unixsocket",
        value: fixed_empty,
        check: |v| only_empty(v, "kvd listens on TCP only"),
        immutable: true,
    },
];

/// A setting found by name.
pub(crate) enum Setting {
    Kvd { key: Key, immutable: bool },
    Compat(&'static Compat),
}

/// Finds a setting by its Redis name, ignoring case as Redis does. With `loose` (files and
/// flags, not `CONFIG SET`), `_` also stands for `-`, so `io_threads` and `protected_mode`
/// work in a kvd.toml.
pub(crate) fn lookup(name: &str, loose: bool) -> Option<Setting> {
    let normalized;
    let name = if loose {
        normalized = name.replace('_', "-");
        normalized.as_str()
    } else {
        name
    };
    for s in KVD {
        if s.name.eq_ignore_ascii_case(name) {
            return Some(Setting::Kvd {
                key: s.key,
                immutable: s.immutable,
            });
        }
    }
    COMPAT
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .map(Setting::Compat)
}

impl Compat {
    pub(crate) fn check(&self, value: &str) -> Check {
        (self.check)(value)
    }

    pub(crate) fn value(&self) -> String {
        (self.value)()
    }

    pub(crate) fn immutable(&self) -> bool {
        self.immutable
    }
}

/// Parses `value` for `key`. Errors are Redis's `CONFIG SET` reasons, used at startup too.
pub(crate) fn parse_into(config: &mut Config, key: Key, value: &str) -> Result<(), String> {
    match key {
        Key::Bind => config.bind = parse_bind(value)?,
        Key::Port => config.port = integer_in(value, 0, 65535)? as u16,
        Key::Listeners => config.listeners = threads(value)?,
        Key::IoThreads => config.io_threads = threads(value)?,
        Key::Workers => config.workers = threads(value)?,
        Key::ThreadLayout => {
            config.thread_layout = match value.to_ascii_lowercase().as_str() {
                "shared" => ThreadLayout::Shared,
                "separate" => ThreadLayout::Separate,
                _ => return Err("argument must be one of the following: shared, separate".into()),
            }
        }
        Key::Databases => config.databases = integer_in(value, 1, i32::MAX.into())? as usize,
        // Redis accepts any non-negative hz and clamps it to 1..=500 (CONFIG_MIN_HZ/MAX_HZ).
        Key::Hz => config.hz = integer_in(value, 0, i32::MAX.into())?.clamp(1, 500) as u32,
        Key::Requirepass => {
            config.requirepass = (!value.is_empty()).then(|| value.to_owned());
        }
        Key::NotifyKeyspaceEvents => {
            config.notify_keyspace_events = NotifyClass::parse(value).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_owned()
            })?;
        }
        Key::Maxclients => config.maxclients = integer_in(value, 1, u32::MAX.into())? as u64,
        Key::Timeout => config.timeout = integer_in(value, 0, i32::MAX.into())? as u64,
        Key::TcpKeepalive => config.tcp_keepalive = integer_in(value, 0, i32::MAX.into())? as u64,
        Key::ClientQueryBufferLimit => config.client_query_buffer_limit = big_memory(value)?,
        Key::ProtoMaxBulkLen => config.proto_max_bulk_len = big_memory(value)?,
        Key::ClientOutputBufferLimit => parse_output_limits(config, value)?,
        Key::ProtectedMode => config.protected_mode = yes_no(value).map_err(invalid_reason)?,
        Key::Aclfile => {
            config.aclfile = (!value.is_empty()).then(|| value.into());
        }
        Key::AclPubsubDefault => {
            config.acl_pubsub_allchannels = match value.to_ascii_lowercase().as_str() {
                "allchannels" => true,
                "resetchannels" => false,
                _ => {
                    return Err(
                        "argument(s) must be one of the following: allchannels, resetchannels"
                            .into(),
                    );
                }
            }
        }
        Key::Dir => {
            if value.is_empty() {
                return Err("No such file or directory".to_owned());
            }
            config.dir = value.into();
        }
        Key::Dbfilename => {
            if value.contains('/') || value.is_empty() || value == "." || value == ".." {
                return Err("dbfilename can't be a path, just a filename".to_owned());
            }
            config.dbfilename = value.to_owned();
        }
        Key::Save => {
            config.save = worker_shard::parse_save_points(value)
                .ok_or_else(|| "Invalid save parameters".to_owned())?;
        }
        Key::HashMaxListpackEntries => config.encoding.hash_max_listpack_entries = size(value)?,
        Key::HashMaxListpackValue => config.encoding.hash_max_listpack_value = size(value)?,
        Key::SetMaxIntsetEntries => config.encoding.set_max_intset_entries = size(value)?,
        Key::ZsetMaxListpackEntries => config.encoding.zset_max_listpack_entries = size(value)?,
        Key::ZsetMaxListpackValue => config.encoding.zset_max_listpack_value = size(value)?,
        // An `int` in Redis: any value is accepted (the list code clamps it to -5..).
        Key::ListMaxListpackSize => {
            config.encoding.list_max_listpack_size =
                integer_in(value, i32::MIN.into(), i32::MAX.into())? as i32;
        }
        Key::Maxmemory => {
            config.eviction.maxmemory =
                memory(value).ok_or_else(|| "argument must be a memory value".to_owned())?;
        }
        Key::MaxmemoryPolicy => {
            config.eviction.policy =
                worker_shard::EvictionPolicy::parse(value).ok_or_else(|| {
                    let names: Vec<&str> = worker_shard::EvictionPolicy::ALL
                        .iter()
                        .map(|p| p.name())
                        .collect();
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    )
                })?;
        }
        // Redis 7.0.15 bounds these by INT_MAX only (samples from 1).
        Key::MaxmemorySamples => {
            config.eviction.samples = integer_in(value, 1, i32::MAX.into())? as u32;
        }
        Key::LfuLogFactor => {
            config.eviction.lfu_log_factor = integer_in(value, 0, i32::MAX.into())? as u32;
        }
        Key::LfuDecayTime => {
            config.eviction.lfu_decay_time = integer_in(value, 0, i32::MAX.into())? as u32;
        }
        Key::Appendonly => config.aof.enabled = yes_no(value).map_err(invalid_reason)?,
        Key::Appendfsync => {
            config.aof.fsync = worker_shard::AppendFsync::parse(value).ok_or_else(|| {
                "argument(s) must be one of the following: everysec, always, no".to_owned()
            })?;
        }
        Key::Appendfilename => {
            if value.contains('/') || value.is_empty() || value == "." || value == ".." {
                return Err("appendfilename can't be a path, just a filename".to_owned());
            }
            config.aof.filename = value.to_owned();
        }
        Key::Appenddirname => {
            if value.contains('/') || value.is_empty() || value == "." || value == ".." {
                return Err("appenddirname can't be a path, just a dirname".to_owned());
            }
            config.aof.dirname = value.to_owned();
        }
        Key::AofLoadTruncated => {
            config.aof.load_truncated = yes_no(value).map_err(invalid_reason)?;
        }
        Key::AutoAofRewritePercentage => {
            config.aof.auto_rewrite_percentage = integer_in(value, 0, i32::MAX.into())? as u64;
        }
        Key::AutoAofRewriteMinSize => {
            config.aof.auto_rewrite_min_size = memory(value)
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| "argument must be a memory value".to_owned())?;
        }
    }
    Ok(())
}

fn invalid_reason(check: Check) -> String {
    match check {
        Check::Invalid(reason) => reason,
        Check::Unsupported(reason) => reason.to_owned(),
        Check::Accept => String::new(),
    }
}

/// A memory size of at least 1mb, as Redis bounds `client-query-buffer-limit` and
/// `proto-max-bulk-len`.
fn big_memory(value: &str) -> Result<u64, String> {
    let n = memory(value).ok_or_else(|| "argument must be a memory value".to_owned())?;
    if !(1024 * 1024..=i64::MAX as u64).contains(&n) {
        return Err(format!(
            "argument must be between 1048576 and {} inclusive",
            i64::MAX
        ));
    }
    Ok(n)
}

/// The classes of `client-output-buffer-limit`, in the order `CONFIG GET` lists them.
const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// `client-output-buffer-limit <class> <hard> <soft> <soft seconds> ...`, Redis's texts for
/// every mistake; classes not named keep their values.
fn parse_output_limits(config: &mut Config, value: &str) -> Result<(), String> {
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".to_owned());
    }
    let mut limits = config.client_output_buffer_limit;
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err(
                    "Invalid client class specified in buffer limit configuration.".to_owned(),
                );
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = memory(group[1]).ok_or_else(bad)?;
        let soft = memory(group[2]).ok_or_else(bad)?;
        let soft_secs = group[3].parse::<u64>().map_err(|_| bad())?;
        limits[class] = io_reactor::OutputLimit {
            hard,
            soft,
            soft_secs,
        };
    }
    config.client_output_buffer_limit = limits;
    Ok(())
}

/// A `size_t` setting: Redis's range is 0..=LONG_MAX.
fn size(value: &str) -> Result<usize, String> {
    Ok(integer_in(value, 0, i64::MAX)? as usize)
}

fn threads(value: &str) -> Result<usize, String> {
    Ok(integer_in(value, 1, MAX_THREADS as i64)? as usize)
}

/// One address, in Redis's spelling: `*` is every IPv4 address, `::*` every IPv6 one, and the
/// leading `-` (bind if available) is accepted and ignored since kvd binds exactly one address.
fn parse_bind(value: &str) -> Result<IpAddr, String> {
    let mut addrs = value.split_ascii_whitespace();
    let (Some(first), None) = (addrs.next(), addrs.next()) else {
        return Err("kvd binds exactly one address".to_owned());
    };
    let first = first.strip_prefix('-').unwrap_or(first);
    match first {
        "*" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "::*" => Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => first
            .parse()
            .map_err(|_| format!("'{first}' is not an IP address")),
    }
}

/// The current value of `key`, as `CONFIG GET` shows it.
pub(crate) fn value_of(config: &Config, key: Key) -> String {
    match key {
        Key::Bind => config.bind.to_string(),
        Key::Port => config.port.to_string(),
        Key::Listeners => config.listeners.to_string(),
        Key::IoThreads => config.io_threads.to_string(),
        Key::Workers => config.workers.to_string(),
        Key::ThreadLayout => config.thread_layout.as_str().to_owned(),
        Key::Databases => config.databases.to_string(),
        Key::Hz => config.hz.to_string(),
        Key::Requirepass => config.requirepass.clone().unwrap_or_default(),
        Key::NotifyKeyspaceEvents => config.notify_keyspace_events.to_string(),
        Key::Maxclients => config.maxclients.to_string(),
        Key::Timeout => config.timeout.to_string(),
        Key::TcpKeepalive => config.tcp_keepalive.to_string(),
        Key::ClientQueryBufferLimit => config.client_query_buffer_limit.to_string(),
        Key::ProtoMaxBulkLen => config.proto_max_bulk_len.to_string(),
        Key::ClientOutputBufferLimit => {
            let mut text = String::new();
            for (class, l) in OUTPUT_CLASSES.iter().zip(config.client_output_buffer_limit) {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&format!("{class} {} {} {}", l.hard, l.soft, l.soft_secs));
            }
            text
        }
        Key::ProtectedMode => if config.protected_mode { "yes" } else { "no" }.to_owned(),
        Key::AclPubsubDefault => if config.acl_pubsub_allchannels {
            "allchannels"
        } else {
            "resetchannels"
        }
        .to_owned(),
        Key::Aclfile => config
            .aclfile
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        Key::Dir => {
            let dir = if config.dir.is_absolute() {
                config.dir.clone()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(&config.dir))
                    .unwrap_or_else(|_| config.dir.clone())
            };
            // Redis shows the directory it changed to, without a trailing `/.`.
            let shown = dir.display().to_string();
            shown.strip_suffix("/.").map(str::to_owned).unwrap_or(shown)
        }
        Key::Dbfilename => config.dbfilename.clone(),
        Key::Save => config
            .save
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" "),
        Key::HashMaxListpackEntries => config.encoding.hash_max_listpack_entries.to_string(),
        Key::HashMaxListpackValue => config.encoding.hash_max_listpack_value.to_string(),
        Key::SetMaxIntsetEntries => config.encoding.set_max_intset_entries.to_string(),
        Key::ZsetMaxListpackEntries => config.encoding.zset_max_listpack_entries.to_string(),
        Key::ZsetMaxListpackValue => config.encoding.zset_max_listpack_value.to_string(),
        Key::ListMaxListpackSize => config.encoding.list_max_listpack_size.to_string(),
        Key::Maxmemory => config.eviction.maxmemory.to_string(),
        Key::MaxmemoryPolicy => config.eviction.policy.name().to_owned(),
        Key::MaxmemorySamples => config.eviction.samples.to_string(),
        Key::LfuLogFactor => config.eviction.lfu_log_factor.to_string(),
        Key::LfuDecayTime => config.eviction.lfu_decay_time.to_string(),
        Key::Appendonly => yes_or_no(config.aof.enabled),
        Key::Appendfsync => config.aof.fsync.as_str().to_owned(),
        Key::Appendfilename => config.aof.filename.clone(),
        Key::Appenddirname => config.aof.dirname.clone(),
        Key::AofLoadTruncated => yes_or_no(config.aof.load_truncated),
        Key::AutoAofRewritePercentage => config.aof.auto_rewrite_percentage.to_string(),
        Key::AutoAofRewriteMinSize => config.aof.auto_rewrite_min_size.to_string(),
    }
}

fn yes_or_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// Every `(name, value)` whose name matches the glob `pattern`, as `CONFIG GET` answers.
pub(crate) fn matching(config: &Config, pattern: &str) -> Vec<(String, String)> {
    // Redis 7.0 looks a name without glob characters up directly and echoes it as the client
    // spelled it (`CONFIG GET PORT` answers `PORT`).
    let literal = !pattern.contains(['[', '*', '?']);
    let name = |canonical: &str| {
        if literal {
            pattern.to_owned()
        } else {
            canonical.to_owned()
        }
    };
    let mut found = Vec::new();
    for s in KVD {
        if glob_match(pattern.as_bytes(), s.name.as_bytes()) {
            found.push((name(s.name), value_of(config, s.key)));
        }
    }
    for c in COMPAT {
        if glob_match(pattern.as_bytes(), c.name.as_bytes()) {
            found.push((name(c.name), c.value()));
        }
    }
    found
}

/// Redis's `stringmatchlen` with `nocase`: `*`, `?`, `[abc]`, `[^a-z]` and `\` escapes.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let eq = |a: u8, b: u8| a.eq_ignore_ascii_case(&b);
    let (mut p, mut t) = (pattern, text);
    loop {
        let Some((&c, rest)) = p.split_first() else {
            return t.is_empty();
        };
        match c {
            b'*' => {
                let rest = {
                    let mut r = rest;
                    while r.first() == Some(&b'*') {
                        r = &r[1..];
                    }
                    r
                };
                if rest.is_empty() {
                    return true;
                }
                return (0..=t.len()).any(|i| glob_match(rest, &t[i..]));
            }
            b'?' => {
                let Some((_, trest)) = t.split_first() else {
                    return false;
                };
                p = rest;
                t = trest;
            }
            b'[' => {
                let Some((&tc, trest)) = t.split_first() else {
                    return false;
                };
                let mut r = rest;
                let negate = r.first() == Some(&b'^');
                if negate {
                    r = &r[1..];
                }
                let mut matched = false;
                loop {
                    match r {
                        [] => break,
                        [b']', ..] => {
                            r = &r[1..];
                            break;
                        }
                        [b'\\', x, ..] => {
                            matched |= eq(*x, tc);
                            r = &r[2..];
                        }
                        [lo, b'-', hi, ..] if *hi != b']' => {
                            let (lo, hi) = (lo.to_ascii_lowercase(), hi.to_ascii_lowercase());
                            let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                            let tcl = tc.to_ascii_lowercase();
                            matched |= lo <= tcl && tcl <= hi;
                            r = &r[3..];
                        }
                        [x, ..] => {
                            matched |= eq(*x, tc);
                            r = &r[1..];
                        }
                    }
                }
                if matched == negate {
                    return false;
                }
                p = r;
                t = trest;
            }
            b'\\' if !rest.is_empty() => {
                let Some((&tc, trest)) = t.split_first() else {
                    return false;
                };
                if !eq(rest[0], tc) {
                    return false;
                }
                p = &rest[1..];
                t = trest;
            }
            _ => {
                let Some((&tc, trest)) = t.split_first() else {
                    return false;
                };
                if !eq(c, tc) {
                    return false;
                }
                p = rest;
                t = trest;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_redis_stringmatch() {
        assert!(glob_match(b"*", b"port"));
        assert!(glob_match(b"po?t", b"port"));
        assert!(glob_match(b"PORT", b"port"));
        assert!(glob_match(b"*-threads", b"io-threads"));
        assert!(glob_match(b"[a-p]ort", b"port"));
        assert!(!glob_match(b"[^p]ort", b"port"));
        assert!(glob_match(b"h\\z", b"hz"));
        assert!(!glob_match(b"port?", b"port"));
        assert!(!glob_match(b"", b"port"));
    }

    #[test]
    fn compat_table_is_sorted_and_unique() {
        assert!(COMPAT.windows(2).all(|w| w[0].name < w[1].name));
        for c in COMPAT {
            assert!(lookup(c.name, false).is_some());
            assert!(KVD.iter().all(|k| k.name != c.name));
        }
    }

    #[test]
    fn memory_values() {
        assert_eq!(memory("0"), Some(0));
        assert_eq!(memory("0mb"), Some(0));
        assert_eq!(memory("1kb"), Some(1024));
        assert_eq!(memory("1k"), Some(1000));
        assert_eq!(memory("x"), None);
    }
}
