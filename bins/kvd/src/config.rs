//! kvd's settings and the ways to give them: `kvd.toml`, a redis.conf-style file, and
//! [`Config::set`] (which the command line uses).
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::settings::{self, Check, Setting};

/// Everything kvd can be configured with. `Config::default()` serves on 127.0.0.1:6379 with
/// threads sized to the machine.
///
/// In `kvd.toml` and on the command line every field takes its Redis name (`io-threads`) as
/// well as its Rust one (`io_threads`); see `kvd.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct Config {
    /// Address to listen on (`bind`): one IPv4 or IPv6 address; `*` is `0.0.0.0`.
    pub bind: IpAddr,
    /// TCP port (`port`); 0 picks a free port, which `ServerHandle::local_addr` reports.
    pub port: u16,
    /// Accept threads, each with its own `SO_REUSEPORT` socket (`listeners`).
    pub listeners: usize,
    /// IO threads: event loops that read, parse and write connections (`io-threads`).
    pub io_threads: usize,
    /// Shard workers, each owning one partition of the keyspace (`workers`).
    pub workers: usize,
    /// Which threads run the shards (`thread-layout`): see [`ThreadLayout`].
    pub thread_layout: ThreadLayout,
    /// Number of databases, `SELECT 0` to `databases - 1` (`databases`).
    pub databases: usize,
    /// Background task frequency per second, e.g. active expiry (`hz`, clamped to 1..=500).
    pub hz: u32,
    /// Password clients must `AUTH` with; `None` (or `""`) for none (`requirepass`).
    pub requirepass: Option<String>,
    /// Keyspace notification classes (`notify-keyspace-events`, none by default).
    pub notify_keyspace_events: worker_shard::NotifyClass,
    /// Most clients connected at once; the next gets `-ERR max number of clients reached`
    /// (`maxclients`).
    pub maxclients: u64,
    /// Seconds after which an idle client is closed, 0 for never (`timeout`).
    pub timeout: u64,
    /// TCP keepalive interval in seconds for new connections, 0 for off (`tcp-keepalive`).
    pub tcp_keepalive: u64,
    /// Most unparsed input bytes a client may have buffered (`client-query-buffer-limit`).
    pub client_query_buffer_limit: u64,
    /// Largest bulk string in a request (`proto-max-bulk-len`).
    pub proto_max_bulk_len: u64,
    /// Output buffer limits of the normal, replica and Pub/Sub classes
    /// (`client-output-buffer-limit`).
    pub client_output_buffer_limit: [io_reactor::OutputLimit; 3],
    /// Refuse non-loopback clients while the default user has no password (`protected-mode`).
    pub protected_mode: bool,
    /// File of ACL users loaded at start and by `ACL LOAD`, written by `ACL SAVE` (`aclfile`).
    pub aclfile: Option<std::path::PathBuf>,
    /// New ACL users and selectors, and `reset`, start with every channel allowed
    /// (`acl-pubsub-default allchannels`) rather than none (`resetchannels`, Redis 7's default).
    pub acl_pubsub_allchannels: bool,
    /// `rename-command NAME NEW` lines in order; an empty new name disables the command.
    pub rename_commands: Vec<(String, String)>,
    /// `user <name> <rule>...` lines (without `user`): ACL users defined in the configuration,
    /// as redis.conf allows (not together with `aclfile`).
    pub users: Vec<String>,
    /// Tests only: an address protected mode treats as remote although it is loopback, so the
    /// refusal can be tested on a machine that has only loopback (e.g. `127.0.0.2`).
    #[doc(hidden)]
    pub treat_as_remote: Option<IpAddr>,
    /// Directory of the RDB file (`dir`); relative paths are from the working directory.
    pub dir: PathBuf,
    /// File name of the RDB file, loaded at start and written by saves (`dbfilename`).
    pub dbfilename: String,
    /// Automatic snapshots (`save`): `(seconds, changes)` points, a snapshot being taken once
    /// `changes` writes happened within `seconds` of the last save. Redis's default,
    /// `3600 1 300 100 60 10000`; empty (`--save ''`) for none; `SAVE`, `BGSAVE` and
    /// `SHUTDOWN SAVE` work either way.
    pub save: Vec<(u64, u64)>,
    /// Compact-encoding thresholds of hashes, sets and sorted sets
    /// (`hash-max-listpack-entries`, ...), Redis's defaults.
    pub encoding: worker_shard::EncodingLimits,
    /// `maxmemory` (0: no limit), `maxmemory-policy`, `maxmemory-samples`, `lfu-log-factor`
    /// and `lfu-decay-time`, Redis's defaults.
    pub eviction: worker_shard::EvictionConfig,
    /// The append-only log: `appendonly`, `appendfsync`, `appendfilename`, `appenddirname`,
    /// `aof-load-truncated`, `auto-aof-rewrite-percentage`, `auto-aof-rewrite-min-size`.
    pub aof: worker_shard::AofConfig,
}

impl Default for Config {
    /// 127.0.0.1:6379, one worker and IO thread per core but one (at least one), one listener
    /// (two from four cores on, where accepting can start to compete with IO), 16 databases,
    /// hz 10, no password.
    ///
    /// One core is left to the kernel's network processing and to clients on the same machine:
    /// on 2 cores with `redis-benchmark` beside the server, 1 thread served more (and spent
    /// less CPU per operation) than 2 threads competing with the client; see BENCHMARKS.md.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.saturating_sub(1).max(1);
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 6379,
            listeners: if cores >= 4 { 2 } else { 1 },
            io_threads: threads,
            workers: threads,
            thread_layout: ThreadLayout::Shared,
            databases: 16,
            hz: 10,
            requirepass: None,
            notify_keyspace_events: worker_shard::NotifyClass::default(),
            maxclients: 10_000,
            timeout: 0,
            tcp_keepalive: 300,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_output_buffer_limit: [
                io_reactor::OutputLimit::default(),
                io_reactor::OutputLimit {
                    hard: 256 * 1024 * 1024,
                    soft: 64 * 1024 * 1024,
                    soft_secs: 60,
                },
                io_reactor::OutputLimit {
                    hard: 32 * 1024 * 1024,
                    soft: 8 * 1024 * 1024,
                    soft_secs: 60,
                },
            ],
            protected_mode: true,
            aclfile: None,
            acl_pubsub_allchannels: false,
            rename_commands: Vec::new(),
            users: Vec::new(),
            treat_as_remote: None,
            dir: PathBuf::from("."),
            dbfilename: "dump.rdb".to_owned(),
            // Redis's default when no config file sets `save`.
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            encoding: worker_shard::EncodingLimits::default(),
            eviction: worker_shard::EvictionConfig::default(),
            aof: worker_shard::AofConfig::default(),
        }
    }
}

/// Which threads run the shards' commands (`thread-layout`).
///
/// Either way the roles stay separate crates: an IO loop that hosts a shard drives the
/// `worker-shard` executor as a library and never touches the keyspace itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadLayout {
    /// `shared` (the default): IO thread `i` also owns shard `i` and runs that shard's
    /// commands inline, in the pass that read them; only commands for other shards hop to
    /// another thread. Shards beyond `io-threads` get worker threads of their own. On two
    /// cores this needs about half the thread hand-offs (and wake-ups) of `separate`.
    #[default]
    Shared,
    /// `separate`: every shard has its own worker thread, and IO threads only do IO (the
    /// seed's layout); every command crosses threads twice.
    Separate,
}

impl ThreadLayout {
    /// The setting's value as `CONFIG GET` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadLayout::Shared => "shared",
            ThreadLayout::Separate => "separate",
        }
    }
}

impl Config {
    /// A small server for tests: 127.0.0.1 on a free port, two listeners, two IO threads and
    /// two workers whatever the machine, so cross-thread paths are always exercised.
    ///
    /// Its `dir` is a fresh directory under the system's temporary directory (created only
    /// when something is saved), so a test never loads or overwrites another's `dump.rdb`.
    pub fn for_tests() -> Config {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kvd-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Config {
            dir,
            port: 0,
            listeners: 2,
            io_threads: 2,
            workers: 2,
            // No automatic snapshots: tests save only when they ask to.
            save: Vec::new(),
            ..Config::default()
        }
    }

    /// The address to listen on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Sets one setting by its Redis name (or kvd alias) from its Redis-style text value, as
    /// `kvd --name value` and config files do.
    ///
    /// A Redis setting kvd does not implement is accepted, with a warning in the log, only
    /// when the value asks for nothing kvd lacks (`save ""`, `appendonly no`); otherwise, and
    /// for unknown names, the error names the setting.
    pub fn set(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        if name.eq_ignore_ascii_case("rename-command")
            || name.eq_ignore_ascii_case("rename_command")
        {
            return self.rename_command(value);
        }
        if name.eq_ignore_ascii_case("user") {
            self.users.push(value.to_owned());
            return Ok(());
        }
        match settings::lookup(name, true) {
            Some(Setting::Kvd { key, .. }) => settings::parse_into(self, key, value)
                .map_err(|reason| anyhow::anyhow!("setting '{name}' '{value}': {reason}")),
            Some(Setting::Compat(compat)) => match compat.check(value) {
                Check::Accept => {
                    tracing::warn!(
                        "accepting Redis setting {} {value:?}: kvd does not implement it and this value needs nothing kvd lacks",
                        compat.name
                    );
                    Ok(())
                }
                Check::Unsupported(why) => {
                    bail!("setting '{} {value}' is not supported: {why}", compat.name)
                }
                Check::Invalid(reason) => bail!("setting '{name}' '{value}': {reason}"),
            },
            None => bail!("unknown setting '{name}'"),
        }
    }

    /// `rename-command NAME NEW` (`NEW` empty or `""` disables `NAME`), as redis.conf has it;
    /// in a `kvd.toml` the value is the two words, e.g. `rename-command = "FLUSHALL \"\""`.
    fn rename_command(&mut self, value: &str) -> anyhow::Result<()> {
        let words = split_redis_line(value)
            .ok_or_else(|| anyhow::anyhow!("rename-command '{value}': unbalanced quotes"))?;
        let (name, new) = match words.as_slice() {
            [name] => (name.clone(), String::new()),
            [name, new] => (name.clone(), new.clone()),
            _ => bail!("rename-command '{value}': expected the command and its new name"),
        };
        self.rename_commands.push((name, new));
        Ok(())
    }

    /// Checks what a single setting cannot: nothing yet, but `Server::start` calls it so a
    /// hand-built `Config` gets the same checks as a parsed one.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, n) in [
            ("listeners", self.listeners),
            ("io-threads", self.io_threads),
            ("workers", self.workers),
        ] {
            if n == 0 || n > settings::MAX_THREADS {
                bail!(
                    "setting '{name}' '{n}': argument must be between 1 and {} inclusive",
                    settings::MAX_THREADS
                );
            }
        }
        if self.aclfile.is_some() && !self.users.is_empty() {
            bail!(
                "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both."
            );
        }
        if self.databases == 0 || self.databases > i32::MAX as usize {
            bail!(
                "setting 'databases' '{}': argument must be between 1 and 2147483647 inclusive",
                self.databases
            );
        }
        Ok(())
    }

    /// Applies a `kvd.toml` document on top of `self`. Unknown keys are errors naming the key.
    pub fn apply_toml(&mut self, text: &str) -> anyhow::Result<()> {
        let table: toml::Table = toml::from_str(text)?;
        self.apply_table(table)
    }

    fn apply_table(&mut self, table: toml::Table) -> anyhow::Result<()> {
        for (name, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_owned(),
                // Settings given more than once in redis.conf (`rename-command`) take a list.
                toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => {
                    for item in items {
                        self.set(&name, item.as_str().unwrap_or_default())?;
                    }
                    continue;
                }
                other => bail!(
                    "setting '{name}' must be a string, an integer or a boolean, not {}",
                    other.type_str()
                ),
            };
            self.set(&name, &text)?;
        }
        Ok(())
    }

    /// Applies a redis.conf-style document (`name value...` lines, `#` comments, quoted
    /// values) on top of `self`, so an existing Redis config file can start kvd.
    pub fn apply_redis_conf(&mut self, text: &str) -> anyhow::Result<()> {
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_redis_line(line)
                .with_context(|| format!("line {}: unbalanced quotes", number + 1))?;
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            self.set(name, &values.join(" "))
                .with_context(|| format!("line {}", number + 1))?;
        }
        Ok(())
    }

    /// Reads a config file: `kvd.toml` format when the name ends in `.toml`, redis.conf
    /// format otherwise.
    pub fn apply_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let applied = if path.extension().is_some_and(|e| e == "toml") {
            self.apply_toml(&text)
        } else {
            self.apply_redis_conf(&text)
        };
        applied.with_context(|| format!("in config file {}", path.display()))
    }
}

impl TryFrom<toml::Table> for Config {
    type Error = String;

    /// A `kvd.toml` document on top of the defaults; what `toml::from_str::<Config>` uses.
    fn try_from(table: toml::Table) -> Result<Config, String> {
        let mut config = Config::default();
        config.apply_table(table).map_err(|e| format!("{e:#}"))?;
        Ok(config)
    }
}

/// Splits a redis.conf line into words; `"..."` and `'...'` group words and may be empty.
fn split_redis_line(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(words);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if first == '"' => word.push(chars.next()?),
                    c if c == first => break,
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
}
