//! What the IO threads ask of the server: `CONFIG GET`/`SET`, the password, `SHUTDOWN`.
use std::sync::{Arc, Mutex, PoisonError};

use io_reactor::{Acl, ClientLimits, ServerHooks};
use worker_shard::{Error as PersistError, PersistConfig, Persistence, WorkerHandle};

use crate::Config;
use crate::server::Lifecycle;
use crate::settings::{self, Check, Setting};

/// The live settings. `requirepass` and `hz` change at runtime; the rest is the configuration
/// the server started with (with the real port when 0 was asked for).
pub(crate) struct KvdHooks {
    /// Read on `AUTH`/`HELLO` and `CONFIG`, never per command, so a mutex costs nothing.
    config: Mutex<Config>,
    lifecycle: Arc<Lifecycle>,
    /// Where live changes of shard settings (`hz`) go.
    workers: Vec<WorkerHandle>,
    /// Where live changes of client limits go; the IO threads read them.
    limits: Arc<ClientLimits>,
    /// The ACL users: `requirepass` is the `default` user's password.
    acl: Arc<Acl>,
    /// Snapshots; `None` only in unit tests of the settings.
    persistence: Option<Arc<Persistence>>,
}

/// The snapshot settings of a configuration.
pub(crate) fn persist_config(config: &Config) -> PersistConfig {
    PersistConfig {
        dir: config.dir.clone(),
        dbfilename: config.dbfilename.clone(),
        save_points: config.save.clone(),
    }
}

/// Redis's reply texts for failed saves.
fn save_error(e: &PersistError) -> String {
    match e {
        PersistError::InProgress => "ERR Background save already in progress".to_owned(),
        // Redis 7.0's `bgsaveCommand` while its AOF rewrite child runs.
        PersistError::RewriteInProgress => "ERR Another child process is active (AOF?): can't \
            BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
            .to_owned(),
        _ => "ERR".to_owned(),
    }
}

/// Copies the client limits of `config` into the atomics the IO threads read.
pub(crate) fn apply_limits(config: &Config, limits: &ClientLimits) {
    limits.set_maxclients(config.maxclients);
    limits.set_timeout_secs(config.timeout);
    limits.set_tcp_keepalive_secs(config.tcp_keepalive);
    limits.set_query_buffer_limit(config.client_query_buffer_limit);
    if limits.proto_max_bulk_len() != config.proto_max_bulk_len {
        limits.set_proto_max_bulk_len(config.proto_max_bulk_len);
    }
    limits.set_normal_output(config.client_output_buffer_limit[0]);
    limits.set_pubsub_output(config.client_output_buffer_limit[2]);
    limits.set_protected_mode(config.protected_mode);
}

impl KvdHooks {
    pub(crate) fn new(
        config: Config,
        lifecycle: Arc<Lifecycle>,
        workers: Vec<WorkerHandle>,
        limits: Arc<ClientLimits>,
        acl: Arc<Acl>,
    ) -> KvdHooks {
        apply_limits(&config, &limits);
        KvdHooks {
            config: Mutex::new(config),
            lifecycle,
            workers,
            limits,
            persistence: None,
            acl,
        }
    }

    /// Answers `SAVE`, `BGSAVE`, `LASTSAVE` and `INFO persistence` from `persistence`.
    pub(crate) fn with_persistence(mut self, persistence: Arc<Persistence>) -> KvdHooks {
        self.persistence = Some(persistence);
        self
    }

    fn config(&self) -> std::sync::MutexGuard<'_, Config> {
        // Nothing panics while holding the lock, and a Config is valid in every state anyway.
        self.config.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Redis's `CONFIG SET` failure text.
fn set_failed(name: &str, reason: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
}

const IMMUTABLE: &str = "can't set immutable config";

impl ServerHooks for KvdHooks {
    fn config_get(&self, pattern: &str) -> Vec<(String, String)> {
        settings::matching(&self.config(), pattern)
    }

    /// Redis changes most settings live; kvd changes `requirepass` and `hz`. For the others a
    /// valid value equal to the current one succeeds (scripts that `CONFIG SET appendonly no`
    /// keep working) and any other gets Redis's answer for a setting that cannot change.
    fn config_set(&self, name: &str, value: &str) -> Result<(), String> {
        match settings::lookup(name, false) {
            None => Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )),
            Some(Setting::Kvd {
                immutable: true, ..
            }) => Err(set_failed(name, IMMUTABLE)),
            Some(Setting::Kvd { key, .. }) => {
                let mut config = self.config();
                let mut changed = config.clone();
                settings::parse_into(&mut changed, key, value)
                    .map_err(|reason| set_failed(name, &reason))?;
                if key == settings::Key::Hz {
                    // One pool-wide store; every worker reads it before its next cycle.
                    if let Some(worker) = self.workers.first() {
                        worker.set_hz(changed.hz);
                    }
                }
                // Like hz: one pool-wide store that the shards read per command.
                if changed.encoding != config.encoding
                    && let Some(worker) = self.workers.first()
                {
                    worker.set_encoding_limits(changed.encoding);
                }
                let persist_key = matches!(
                    key,
                    settings::Key::Dir | settings::Key::Dbfilename | settings::Key::Save
                );
                if key == settings::Key::Dir && !changed.dir.is_dir() {
                    return Err(set_failed(name, "No such file or directory"));
                }
                if persist_key && let Some(p) = &self.persistence {
                    p.set_config(persist_config(&changed));
                }
                // Like hz: one pool-wide store; each worker loads it with its next batch.
                if changed.eviction != config.eviction
                    && let Some(worker) = self.workers.first()
                {
                    worker.set_eviction(changed.eviction);
                }
                if changed.aof != config.aof
                    && let Some(p) = &self.persistence
                {
                    if key == settings::Key::Appendonly {
                        p.set_appendonly(changed.aof.enabled)
                            .map_err(|e| set_failed(name, &e.to_string()))?;
                    } else {
                        p.update_aof_config(changed.aof.clone());
                    }
                }
                if key == settings::Key::NotifyKeyspaceEvents
                    && let Some(worker) = self.workers.first()
                {
                    // One pool-wide store, like hz; workers load it once per batch.
                    worker.set_notify_flags(changed.notify_keyspace_events);
                }
                if settings::is_live(key) || changed == *config {
                    if key == settings::Key::AclPubsubDefault {
                        self.acl.set_pubsub_default(changed.acl_pubsub_allchannels);
                    }
                    if key == settings::Key::Requirepass {
                        self.acl
                            .set_default_password(changed.requirepass.as_deref());
                    }
                    *config = changed;
                    apply_limits(&config, &self.limits);
                    Ok(())
                } else {
                    Err(set_failed(name, IMMUTABLE))
                }
            }
            Some(Setting::Compat(compat)) if compat.immutable() => Err(set_failed(name, IMMUTABLE)),
            Some(Setting::Compat(compat)) => match compat.check(value) {
                Check::Accept => Ok(()),
                Check::Unsupported(_) => Err(set_failed(name, IMMUTABLE)),
                Check::Invalid(reason) => Err(set_failed(name, &reason)),
            },
        }
    }

    fn requirepass(&self) -> Option<String> {
        self.config().requirepass.clone()
    }

    fn shutdown(&self) {
        self.lifecycle.request_stop();
    }

    fn prepare_shutdown(&self, save: Option<bool>) -> Result<(), String> {
        let Some(p) = &self.persistence else {
            return Ok(());
        };
        p.save_on_shutdown(save).map_err(|e| {
            tracing::warn!("error trying to save the DB, can't exit: {e}");
            "ERR Errors trying to SHUTDOWN. Check logs.".to_owned()
        })
    }

    fn shutdown_command(
        &self,
        save: Option<bool>,
    ) -> Option<Result<Box<dyn worker_shard::Coordinator>, String>> {
        let p = self.persistence.as_ref()?;
        let lifecycle = Arc::clone(&self.lifecycle);
        match p.shutdown_command(save, Box::new(move || lifecycle.request_stop())) {
            Ok(cmd) => cmd.map(Ok),
            Err(e) => {
                tracing::warn!("error trying to save the DB, can't exit: {e}");
                Some(Err("ERR Errors trying to SHUTDOWN. Check logs.".to_owned()))
            }
        }
    }

    fn save(&self) -> Result<(), String> {
        let Some(p) = &self.persistence else {
            return Err("ERR".to_owned());
        };
        p.save().map_err(|e| save_error(&e))
    }

    fn save_command(&self) -> Option<Result<Box<dyn worker_shard::Coordinator>, String>> {
        let p = self.persistence.as_ref()?;
        Some(p.save_command().map_err(|e| save_error(&e)))
    }

    fn bgsave(&self, schedule: bool) -> Result<String, String> {
        let Some(p) = &self.persistence else {
            return Err("ERR".to_owned());
        };
        // With SCHEDULE Redis still refuses when an RDB save is what is running.
        p.bgsave_command(schedule)
            .map(str::to_owned)
            .map_err(|e| save_error(&e))
    }

    fn lastsave(&self) -> Option<i64> {
        self.persistence.as_ref().map(|p| p.lastsave())
    }

    fn persistence_info(&self) -> Option<Vec<(&'static str, String)>> {
        self.persistence.as_ref().map(|p| p.info())
    }

    fn writes_blocked(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        self.persistence.as_ref().map(|p| p.writes_blocked())
    }

    fn bgrewriteaof(&self) -> Result<String, String> {
        let Some(p) = &self.persistence else {
            return Err("ERR kvd was started without persistence".to_owned());
        };
        p.bgrewriteaof().map_err(|e| match e {
            PersistError::Aof(text) => text,
            other => format!("ERR {other}"),
        })
    }

    fn misconf_error(&self) -> Option<String> {
        self.persistence.as_ref().and_then(|p| p.misconf_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> KvdHooks {
        let config = Config {
            port: 7000,
            io_threads: 3,
            workers: 4,
            listeners: 2,
            ..Config::default()
        };
        KvdHooks::new(
            config,
            Arc::new(Lifecycle::default()),
            Vec::new(),
            Arc::default(),
            Arc::default(),
        )
    }

    fn get(hooks: &KvdHooks, pattern: &str) -> Vec<(String, String)> {
        hooks.config_get(pattern)
    }

    fn pair(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), value.to_owned())]
    }

    #[test]
    fn config_get_answers_like_redis() {
        let h = hooks();
        assert_eq!(get(&h, "port"), pair("port", "7000"));
        // A literal name is echoed as the client spelled it, as Redis 7.0 does.
        assert_eq!(get(&h, "PORT"), pair("PORT", "7000"));
        assert_eq!(get(&h, "po?t"), pair("port", "7000"));
        // Redis's default without a config file (`redis-server` 7.0.15, `CONFIG GET save`).
        assert_eq!(get(&h, "save"), pair("save", "3600 1 300 100 60 10000"));
        assert_eq!(get(&h, "appendonly"), pair("appendonly", "no"));
        assert_eq!(get(&h, "databases"), pair("databases", "16"));
        assert_eq!(get(&h, "maxclients"), pair("maxclients", "10000"));
        assert_eq!(get(&h, "timeout"), pair("timeout", "0"));
        assert_eq!(get(&h, "hz"), pair("hz", "10"));
        assert_eq!(get(&h, "requirepass"), pair("requirepass", ""));
        assert_eq!(get(&h, "bind"), pair("bind", "127.0.0.1"));
        assert_eq!(get(&h, "io-threads"), pair("io-threads", "3"));
        assert_eq!(get(&h, "io_threads"), vec![]);
        assert_eq!(get(&h, "workers"), pair("workers", "4"));
        assert_eq!(get(&h, "listeners"), pair("listeners", "2"));
        assert_eq!(get(&h, "thread-layout"), pair("thread-layout", "shared"));
        assert_eq!(get(&h, "tcp-backlog"), pair("tcp-backlog", "511"));
        assert_eq!(get(&h, "nosuch"), vec![]);
        let all = get(&h, "*");
        // 22 of kvd's own, then 11 encoding thresholds (six names, five aliases), 5 of memory
        // and eviction, 7 of the append-only log.
        assert_eq!(all.len(), 22 + 11 + 5 + 7 + crate::settings::COMPAT.len());
        let max: Vec<String> = get(&h, "max*").into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            max,
            [
                "maxclients",
                "maxmemory",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        assert_eq!(get(&h, "tcp-keepalive"), pair("tcp-keepalive", "300"));
        assert_eq!(get(&h, "protected-mode"), pair("protected-mode", "yes"));
        assert_eq!(
            get(&h, "client-output-buffer-limit"),
            pair(
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            )
        );
        assert_eq!(
            get(&h, "client-query-buffer-limit"),
            pair("client-query-buffer-limit", "1073741824")
        );
        assert_eq!(
            get(&h, "proto-max-bulk-len"),
            pair("proto-max-bulk-len", "536870912")
        );
    }

    #[test]
    fn client_limits_change_live_with_redis_texts() {
        let limits = Arc::new(ClientLimits::default());
        let h = KvdHooks::new(
            Config::default(),
            Arc::new(Lifecycle::default()),
            Vec::new(),
            Arc::clone(&limits),
            Arc::default(),
        );
        h.config_set("maxclients", "5").unwrap();
        assert_eq!(limits.maxclients(), 5);
        h.config_set("timeout", "7").unwrap();
        assert_eq!(limits.timeout_secs(), 7);
        h.config_set("tcp-keepalive", "60").unwrap();
        assert_eq!(limits.tcp_keepalive_secs(), 60);
        h.config_set("proto-max-bulk-len", "2mb").unwrap();
        assert_eq!(limits.proto_max_bulk_len(), 2 * 1024 * 1024);
        assert_eq!(
            get(&h, "proto-max-bulk-len"),
            pair("proto-max-bulk-len", "2097152")
        );
        h.config_set("client-query-buffer-limit", "1mb").unwrap();
        assert_eq!(limits.query_buffer_limit(), 1024 * 1024);
        h.config_set("client-output-buffer-limit", "normal 1mb 512k 3")
            .unwrap();
        assert_eq!(
            limits.normal_output(),
            io_reactor::OutputLimit {
                hard: 1024 * 1024,
                soft: 512_000,
                soft_secs: 3
            }
        );
        assert_eq!(
            get(&h, "client-output-buffer-limit"),
            pair(
                "client-output-buffer-limit",
                "normal 1048576 512000 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
            )
        );
        h.config_set("protected-mode", "no").unwrap();
        assert!(!limits.protected_mode());
        let failed = |name: &str, reason: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
        };
        for (name, value, reason) in [
            (
                "proto-max-bulk-len",
                "100",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
            (
                "client-query-buffer-limit",
                "100",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
            (
                "client-output-buffer-limit",
                "normal 1mb 2mb",
                "Wrong number of arguments in buffer limit configuration.",
            ),
            (
                "client-output-buffer-limit",
                "foo 1 1 1",
                "Invalid client class specified in buffer limit configuration.",
            ),
            (
                "maxclients",
                "0",
                "argument must be between 1 and 4294967295 inclusive",
            ),
            ("protected-mode", "maybe", "argument must be 'yes' or 'no'"),
            ("aclfile", "/tmp/x", "can't set immutable config"),
        ] {
            assert_eq!(h.config_set(name, value).unwrap_err(), failed(name, reason));
        }
    }

    #[test]
    fn config_set_errors_are_redis_texts() {
        let h = hooks();
        let set = |n: &str, v: &str| h.config_set(n, v);
        assert_eq!(
            set("foo", "bar").unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        // kvd's own names are not CONFIG SET names unless Redis has them.
        assert_eq!(
            set("io_threads", "2").unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'io_threads'"
        );
        for (name, value) in [
            ("databases", "16"),
            ("io-threads", "3"),
            ("daemonize", "no"),
            ("workers", "4"),
            ("port", "1"),
        ] {
            assert_eq!(
                set(name, value).unwrap_err(),
                format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                ),
                "{name} {value}"
            );
        }
        assert_eq!(
            set("hz", "abc").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            set("port", "99999").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'port') - argument must be between 0 and 65535 inclusive"
        );
        assert_eq!(
            set("timeout", "-1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            set("maxclients", "0").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive"
        );
        assert_eq!(
            set("appendonly", "maybe").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
        );
        assert_eq!(
            set("save", "1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"
        );
    }

    #[test]
    fn notify_keyspace_events_changes_live() {
        let h = hooks();
        assert_eq!(h.config_set("notify-keyspace-events", "KEA"), Ok(()));
        assert_eq!(
            get(&h, "notify-keyspace-events"),
            pair("notify-keyspace-events", "AKE")
        );
        assert_eq!(
            h.config_set("notify-keyspace-events", "x!").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
             Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        );
    }

    #[test]
    fn hz_changes_live() {
        let h = hooks();
        assert_eq!(h.config_set("hz", "20"), Ok(()));
        assert_eq!(get(&h, "hz"), pair("hz", "20"));
        // Redis clamps hz to 1..=500 rather than refusing.
        assert_eq!(h.config_set("hz", "100000"), Ok(()));
        assert_eq!(get(&h, "hz"), pair("hz", "500"));
    }

    #[test]
    fn encoding_thresholds_change_live_under_both_names() {
        let h = hooks();
        assert_eq!(
            get(&h, "hash-max-listpack-entries"),
            pair("hash-max-listpack-entries", "128")
        );
        assert_eq!(
            get(&h, "set-max-intset-entries"),
            pair("set-max-intset-entries", "512")
        );
        assert_eq!(h.config_set("hash-max-ziplist-entries", "5"), Ok(()));
        assert_eq!(
            get(&h, "hash-max-listpack-entries"),
            pair("hash-max-listpack-entries", "5")
        );
        assert_eq!(h.config_set("zset-max-listpack-value", "0"), Ok(()));
        assert_eq!(
            get(&h, "zset-max-ziplist-value"),
            pair("zset-max-ziplist-value", "0")
        );
        // Values from redis-server 7.0.15.
        assert_eq!(
            h.config_set("set-max-intset-entries", "-1").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'set-max-intset-entries') - argument must be between 0 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            h.config_set("zset-max-listpack-entries", "x").unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'zset-max-listpack-entries') - argument couldn't be parsed into an integer"
        );
    }

    #[test]
    fn list_max_listpack_size_changes_live_under_both_names() {
        let h = hooks();
        assert_eq!(
            get(&h, "list-max-listpack-size"),
            pair("list-max-listpack-size", "-2")
        );
        assert_eq!(
            get(&h, "list-max-ziplist-size"),
            pair("list-max-ziplist-size", "-2")
        );
        assert_eq!(
            get(&h, "list-max-*"),
            [
                ("list-max-listpack-size".to_owned(), "-2".to_owned()),
                ("list-max-ziplist-size".to_owned(), "-2".to_owned()),
            ]
        );
        // As redis-server 7.0.15: any int is accepted and shown as given.
        for v in ["-5", "0", "-100", "32768", "2147483647", "-2147483648", "7"] {
            assert_eq!(h.config_set("list-max-listpack-size", v), Ok(()), "{v}");
            assert_eq!(
                get(&h, "list-max-listpack-size"),
                pair("list-max-listpack-size", v)
            );
        }
        assert_eq!(h.config_set("list-max-ziplist-size", "-1"), Ok(()));
        assert_eq!(
            get(&h, "list-max-listpack-size"),
            pair("list-max-listpack-size", "-1")
        );
        assert_eq!(h.config().encoding.list_max_listpack_size, -1);
        // Texts from redis-server 7.0.15.
        for v in ["2147483648", "-2147483649"] {
            assert_eq!(
                h.config_set("list-max-listpack-size", v).unwrap_err(),
                "ERR CONFIG SET failed (possibly related to argument 'list-max-listpack-size') - argument must be between -2147483648 and 2147483647 inclusive"
            );
        }
        for v in ["abc", "1.5", "", "10k", "1kb"] {
            assert_eq!(
                h.config_set("list-max-ziplist-size", v).unwrap_err(),
                "ERR CONFIG SET failed (possibly related to argument 'list-max-ziplist-size') - argument couldn't be parsed into an integer",
                "{v}"
            );
        }
        assert_eq!(
            get(&h, "list-max-listpack-size"),
            pair("list-max-listpack-size", "-1")
        );
    }

    #[test]
    fn list_max_listpack_size_from_files() {
        let mut config = Config::default();
        config.apply_toml("list-max-listpack-size = -4").unwrap();
        assert_eq!(config.encoding.list_max_listpack_size, -4);
        config.apply_toml("list_max_ziplist_size = \"64\"").unwrap();
        assert_eq!(config.encoding.list_max_listpack_size, 64);
        config
            .apply_redis_conf("list-max-ziplist-size -3\n")
            .unwrap();
        assert_eq!(config.encoding.list_max_listpack_size, -3);
        assert!(config.apply_toml("list-max-listpack-size = \"x\"").is_err());
        config.set("list-max-listpack-size", "128").unwrap();
        assert_eq!(config.encoding.list_max_listpack_size, 128);
    }

    #[test]
    fn config_set_accepts_what_kvd_already_does() {
        let h = hooks();
        for (name, value) in [
            ("port", "7000"),
            ("PORT", "7000"),
            ("hz", "10"),
            ("save", ""),
            ("appendonly", "no"),
            ("timeout", "0"),
            ("bind", "127.0.0.1"),
            ("loglevel", "warning"),
        ] {
            assert_eq!(h.config_set(name, value), Ok(()), "{name} {value}");
        }
    }

    #[test]
    fn requirepass_changes_live() {
        let h = hooks();
        assert_eq!(h.requirepass(), None);
        h.config_set("requirepass", "s3cret").unwrap();
        assert_eq!(h.requirepass().as_deref(), Some("s3cret"));
        assert_eq!(get(&h, "requirepass"), pair("requirepass", "s3cret"));
        h.config_set("requirepass", "").unwrap();
        assert_eq!(h.requirepass(), None);
    }

    #[test]
    fn shutdown_only_requests_a_stop() {
        let lifecycle = Arc::new(Lifecycle::default());
        let h = KvdHooks::new(
            Config::default(),
            Arc::clone(&lifecycle),
            Vec::new(),
            Arc::default(),
            Arc::default(),
        );
        h.shutdown();
        assert!(lifecycle.stop_requested());
    }
}
