//! The command line: kvd's own flags (clap) plus any setting the way redis-server takes it.
use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;

use crate::Config;

/// kvd's flags, for `--help` and typed parsing. Every other `--name value...` is a setting in
/// Redis form (see [`config_from_args`]).
#[derive(Debug, Parser)]
#[command(
    name = "kvd",
    version,
    about = "A Redis-compatible, shared-nothing, multi-threaded in-memory key-value server",
    after_help = "Any setting also works the redis-server way, e.g. \
                  `kvd --port 7000 --save '' --appendonly no`. Redis settings kvd does not \
                  implement are accepted only with values that need nothing kvd lacks; see \
                  kvd.example.toml. Logging: RUST_LOG (default info)."
)]
struct Cli {
    /// Config file: kvd.toml format if it ends in .toml, redis.conf format otherwise.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// TCP port, 0 for any free port [default: 6379].
    #[arg(long, value_name = "PORT")]
    port: Option<String>,
    /// Accept threads sharing the port with SO_REUSEPORT [default: 1, 2 from 4 cores].
    #[arg(long, value_name = "N")]
    listeners: Option<String>,
    /// IO threads (event loops) [default: number of cores minus one, at least 1].
    #[arg(long = "io-threads", value_name = "N")]
    io_threads: Option<String>,
    /// Shard workers [default: number of cores minus one, at least 1].
    #[arg(long, value_name = "N")]
    workers: Option<String>,
    /// Password clients must AUTH with [default: none].
    #[arg(long, value_name = "PASSWORD")]
    requirepass: Option<String>,
    /// Config file as redis-server takes it, before any flag.
    #[arg(value_name = "CONFIG_FILE")]
    config_file: Option<PathBuf>,
}

/// Flags clap parses; `help` and `version` included so they keep working.
const CLAP_FLAGS: &[&str] = &[
    "config",
    "bind",
    "port",
    "listeners",
    "io-threads",
    "workers",
    "requirepass",
    "help",
    "version",
];

/// Builds the configuration from the process arguments (the first is the program name):
/// defaults, then the config file, then the flags.
///
/// Like redis-server, a `--name` not among kvd's flags takes every following argument up to
/// the next `--` as its value, joined by spaces: `--save ''` sets `save` to the empty string,
/// `--save 900 1` to `900 1`.
pub fn config_from_args<I, T>(args: I) -> anyhow::Result<Config>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            a.into()
                .into_string()
                .map_err(|a| anyhow::anyhow!("argument {a:?} is not valid UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    let (clap_args, redis_args) = split_args(args);
    let cli = match Cli::try_parse_from(clap_args) {
        Ok(cli) => cli,
        // --help, --version and usage errors print themselves and exit, like any clap tool.
        Err(err) => err.exit(),
    };

    let mut config = Config::default();
    match (&cli.config, &cli.config_file) {
        (Some(_), Some(_)) => bail!("give the config file once: --config or first argument"),
        (Some(path), None) | (None, Some(path)) => config.apply_file(path)?,
        (None, None) => {}
    }
    let flags = [
        ("bind", &cli.bind),
        ("port", &cli.port),
        ("listeners", &cli.listeners),
        ("io-threads", &cli.io_threads),
        ("workers", &cli.workers),
        ("requirepass", &cli.requirepass),
    ];
    for (name, value) in flags {
        if let Some(value) = value {
            config
                .set(name, value)
                .with_context(|| format!("--{name}"))?;
        }
    }
    for (name, values) in redis_args {
        config
            .set(&name, &values.join(" "))
            .with_context(|| format!("--{name}"))?;
    }
    config.validate()?;
    Ok(config)
}

/// Separates kvd's flags (for clap) from Redis-style `--name value...` settings.
fn split_args(args: Vec<String>) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let mut clap_args = Vec::new();
    let mut redis_args: Vec<(String, Vec<String>)> = Vec::new();
    let mut args = args.into_iter().peekable();
    if let Some(program) = args.next() {
        clap_args.push(program);
    }
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--").filter(|f| !f.is_empty()) else {
            clap_args.push(arg);
            continue;
        };
        let name = flag.split_once('=').map_or(flag, |(name, _)| name);
        if CLAP_FLAGS.contains(&name) {
            let takes_value = !matches!(name, "help" | "version") && !flag.contains('=');
            clap_args.push(arg.clone());
            if takes_value && let Some(value) = args.next() {
                clap_args.push(value);
            }
            continue;
        }
        let mut values = Vec::new();
        while let Some(value) = args.next_if(|a| !a.starts_with("--")) {
            values.push(value);
        }
        redis_args.push((name.to_owned(), values));
    }
    (clap_args, redis_args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn redis_style_flags_take_values_up_to_the_next_flag() {
        let (clap_args, redis_args) = split_args(strings(&[
            "kvd",
            "--port",
            "7000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--save",
            "900",
            "1",
            "--workers=3",
        ]));
        assert_eq!(
            clap_args,
            strings(&["kvd", "--port", "7000", "--workers=3"])
        );
        assert_eq!(
            redis_args,
            vec![
                ("save".to_owned(), strings(&[""])),
                ("appendonly".to_owned(), strings(&["no"])),
                ("save".to_owned(), strings(&["900", "1"])),
            ]
        );
    }
}
