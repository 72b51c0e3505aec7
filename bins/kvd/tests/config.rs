//! Settings from kvd.toml, redis.conf-style files and the command line.
use std::net::IpAddr;

use kvd::{Config, ThreadLayout, config_from_args};

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn from_args(args: &[&str]) -> anyhow::Result<Config> {
    config_from_args(std::iter::once("kvd").chain(args.iter().copied()))
}

fn error_of(result: anyhow::Result<Config>) -> String {
    format!("{:#}", result.unwrap_err())
}

#[test]
fn defaults_serve_loopback_6379_sized_to_the_machine() {
    let config = Config::default();
    assert_eq!(config.addr().to_string(), "127.0.0.1:6379");
    // One core is left to the kernel and local clients.
    assert_eq!(config.workers, cores().saturating_sub(1).max(1));
    assert_eq!(config.io_threads, cores().saturating_sub(1).max(1));
    assert_eq!(config.listeners, if cores() >= 4 { 2 } else { 1 });
    assert_eq!(config.databases, 16);
    assert_eq!(config.hz, 10);
    assert_eq!(config.requirepass, None);
    assert_eq!(from_args(&[]).unwrap(), config);
}

#[test]
fn test_config_uses_a_free_port_and_two_of_each() {
    let config = Config::for_tests();
    assert_eq!(config.addr().to_string(), "127.0.0.1:0");
    assert_eq!(
        (config.listeners, config.io_threads, config.workers),
        (2, 2, 2)
    );
}

#[test]
fn toml_takes_rust_and_redis_names() {
    let config: Config = toml::from_str(
        r#"
        bind = "::1"
        port = 7000
        listeners = 3
        io-threads = 5
        workers = 6
        databases = "4"
        thread-layout = "separate"
        hz = 1000
        requirepass = "pw"
        save = ""
        appendonly = false
        protected_mode = "no"
        "#,
    )
    .unwrap();
    assert_eq!(
        config,
        Config {
            bind: "::1".parse::<IpAddr>().unwrap(),
            port: 7000,
            listeners: 3,
            io_threads: 5,
            workers: 6,
            thread_layout: ThreadLayout::Separate,
            databases: 4,
            hz: 500,
            requirepass: Some("pw".to_owned()),
            protected_mode: false,
            save: Vec::new(),
            ..Config::default()
        }
    );
    let config: Config = toml::from_str("io_threads = 2").unwrap();
    assert_eq!(config.io_threads, 2);
}

#[test]
fn the_example_file_is_valid_and_matches_the_defaults() {
    let mut config = Config::default();
    config
        .apply_toml(include_str!("../kvd.example.toml"))
        .unwrap();
    let expected = Config {
        listeners: 1,
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn unknown_keys_are_errors_that_name_them() {
    let err = toml::from_str::<Config>("port = 1\nprot = 2\n").unwrap_err();
    assert!(err.to_string().contains("unknown setting 'prot'"), "{err}");
    let mut config = Config::default();
    let err = config.apply_toml("[server]\nport = 1\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "setting 'server' must be a string, an integer or a boolean, not table"
    );
}

#[test]
fn bad_values_get_redis_reasons() {
    let mut config = Config::default();
    assert_eq!(
        config.set("port", "70000").unwrap_err().to_string(),
        "setting 'port' '70000': argument must be between 0 and 65535 inclusive"
    );
    assert_eq!(
        config.set("workers", "x").unwrap_err().to_string(),
        "setting 'workers' 'x': argument couldn't be parsed into an integer"
    );
    assert_eq!(
        config.set("io-threads", "0").unwrap_err().to_string(),
        "setting 'io-threads' '0': argument must be between 1 and 1024 inclusive"
    );
    assert_eq!(
        config.set("bind", "127.0.0.1 ::1").unwrap_err().to_string(),
        "setting 'bind' '127.0.0.1 ::1': kvd binds exactly one address"
    );
    assert_eq!(config, Config::default());
}

#[test]
fn redis_style_command_line() {
    let config = from_args(&[
        "--port",
        "7000",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
        "--logfile",
        "",
        "--dbfilename",
        "x.rdb",
        "--databases",
        "4",
        "--hz",
        "20",
        "--bind",
        "*",
    ])
    .unwrap();
    assert_eq!(config.port, 7000);
    assert_eq!(config.databases, 4);
    assert_eq!(config.hz, 20);
    assert_eq!(config.bind.to_string(), "0.0.0.0");
}

#[test]
fn kvd_flags_override_the_file() {
    let dir = std::env::temp_dir().join(format!("kvd-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kvd.toml");
    std::fs::write(&path, "port = 7001\nworkers = 3\nrequirepass = \"file\"\n").unwrap();
    let path = path.to_str().unwrap();
    let config = from_args(&[
        "--config",
        path,
        "--port",
        "7002",
        "--io-threads=2",
        "--requirepass",
        "flag",
    ])
    .unwrap();
    assert_eq!(
        (config.port, config.workers, config.io_threads),
        (7002, 3, 2)
    );
    assert_eq!(config.requirepass.as_deref(), Some("flag"));

    // redis-server's form: the config file first, then flags.
    let conf = dir.join("redis.conf");
    std::fs::write(
        &conf,
        "# a redis.conf\nport 7003\nsave \"\"\nappendonly no\nrequirepass \"a b\"\n\n",
    )
    .unwrap();
    let config = from_args(&[conf.to_str().unwrap(), "--workers", "2"]).unwrap();
    assert_eq!((config.port, config.workers), (7003, 2));
    assert_eq!(config.requirepass.as_deref(), Some("a b"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redis_settings_kvd_lacks_fail_by_name() {
    // The append-only log is a real setting now.
    let config = from_args(&["--appendonly", "yes", "--appendfsync", "always"]).unwrap();
    assert!(config.aof.enabled);
    assert_eq!(config.aof.fsync, kvd::AppendFsync::Always);
    // `save` points are real settings now.
    assert_eq!(
        from_args(&["--save", "900", "1", "--dir", "/tmp"])
            .unwrap()
            .save,
        vec![(900, 1)]
    );
    assert_eq!(
        error_of(from_args(&["--save", "900"])),
        "--save: setting 'save' '900': Invalid save parameters"
    );
    // The memory limit is a real setting, in Redis's units.
    let config = from_args(&["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lfu"]).unwrap();
    assert_eq!(config.eviction.maxmemory, 100 * 1024 * 1024);
    assert_eq!(
        config.eviction.policy,
        worker_shard::EvictionPolicy::AllkeysLfu
    );
    assert_eq!(
        error_of(from_args(&["--maxmemory-policy", "lru"])),
        "--maxmemory-policy: setting 'maxmemory-policy' 'lru': argument(s) must be one of the \
         following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, \
         allkeys-lfu, allkeys-random, noeviction"
    );
    assert_eq!(
        error_of(from_args(&["--daemonize", "yes"])),
        "--daemonize: setting 'daemonize yes' is not supported: kvd does not daemonize; run it under a supervisor"
    );
    assert_eq!(
        error_of(from_args(&["--appendonly", "maybe"])),
        "--appendonly: setting 'appendonly' 'maybe': argument must be 'yes' or 'no'"
    );
    assert_eq!(
        error_of(from_args(&["--replicaof", "127.0.0.1", "6379"])),
        "--replicaof: unknown setting 'replicaof'"
    );
}

#[test]
fn rename_command_in_both_file_formats() {
    let mut config = Config::default();
    config
        .apply_redis_conf("rename-command FLUSHALL \"\"\nrename-command CONFIG XYZ\n")
        .unwrap();
    config
        .apply_toml("rename-command = ['DEBUG \"\"', \"KEYS\"]\n")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let pairs: Vec<(&str, &str)> = config
        .rename_commands
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("FLUSHALL", ""),
            ("CONFIG", "XYZ"),
            ("DEBUG", ""),
            ("KEYS", "")
        ]
    );
}
