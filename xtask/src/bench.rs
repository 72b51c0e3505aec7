//! `cargo xtask bench`: the benchmark suite (see BENCHMARKS.md), and `cargo xtask loadgen`, its
//! load generator on its own.
//!
//! The suite builds kvd, then for each round starts every server in turn on a free loopback
//! port (A B A B ...), loads 1,000,000 keys (the memory figure), runs the selected scenarios,
//! and stops it. Figures are medians over the rounds with their min–max.
pub(crate) mod loadgen;
mod report;
mod scenarios;
pub(crate) mod server;

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use loadgen::{KeyOrder, Limit, Op, Workload};
use report::Sample;
use scenarios::{Kind, RunLength, Scenario};
use server::{Server, ServerSpec};

/// Flags of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Short runs (1 s each) so the whole suite finishes in under two minutes.
    #[arg(long)]
    quick: bool,
    /// Other servers to compare with: a program on PATH, a path to a binary taking
    /// redis-server's flags, or host:port of a running server. Default: redis-server if on PATH.
    #[arg(long, value_name = "SERVER", num_args = 1..)]
    against: Vec<String>,
    /// Rounds; every figure is the median over them (the issue asks for at least 3).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds per run of each of our scenarios (default 5, or 1 with --quick).
    #[arg(long, conflicts_with = "requests")]
    duration: Option<f64>,
    /// Requests per run instead of a duration (also redis-benchmark's -n at pipeline 1).
    #[arg(long)]
    requests: Option<u64>,
    /// Only scenarios whose name contains one of these (e.g. `get`, `p16`, `rb-`).
    #[arg(long, value_name = "FILTER", num_args = 1..)]
    scenario: Vec<String>,
    /// Extra arguments for kvd, split on whitespace (e.g. "--workers 2").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    kvd_args: Option<String>,
    /// Use this kvd binary instead of building one with `cargo build --release -p kvd`.
    #[arg(long, value_name = "PATH")]
    kvd: Option<PathBuf>,
    /// Do not benchmark kvd (e.g. to check the suite against redis-server alone).
    #[arg(long)]
    no_kvd: bool,
    /// Client threads of our load generator (1 matches `redis-benchmark --threads 1`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also run redis-benchmark (SET and GET, 50 clients, pipeline 1 and 16) against each
    /// server, as a check of our generator.
    #[arg(long)]
    redis_benchmark: bool,
    /// Where results go (default: target/bench under the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
}

/// Flags of `cargo xtask loadgen`: one run of the load generator against any server.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadgenArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:6379")]
    addr: SocketAddr,
    /// Connections.
    #[arg(short = 'c', long, default_value_t = 50)]
    connections: usize,
    /// Client threads.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: usize,
    /// Number of distinct keys.
    #[arg(short = 'r', long, default_value_t = 1_000_000)]
    keyspace: u64,
    /// Value size in bytes for SET.
    #[arg(short = 'd', long, default_value_t = 3)]
    value_size: usize,
    /// SETs per cycle (with --gets: the read/write ratio).
    #[arg(long, default_value_t = 0)]
    sets: u32,
    /// GETs per cycle.
    #[arg(long, default_value_t = 1)]
    gets: u32,
    /// Send MGET of this many keys instead of SET/GET.
    #[arg(long)]
    mget: Option<usize>,
    /// Total requests (default: run for --duration).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Walk keys in order instead of at random.
    #[arg(long)]
    sequential: bool,
}

/// Runs `cargo xtask loadgen`.
pub(crate) fn loadgen(a: LoadgenArgs) -> Result<()> {
    let op = match (a.mget, a.sets, a.gets) {
        (Some(keys), _, _) => Op::Mget { keys },
        (None, 0, _) => Op::Get,
        (None, _, 0) => Op::Set,
        (None, sets, gets) => Op::Mix { sets, gets },
    };
    let w = Workload {
        addr: a.addr,
        connections: a.connections,
        threads: a.threads,
        pipeline: a.pipeline,
        keyspace: a.keyspace,
        value_size: a.value_size,
        op,
        keys: if a.sequential {
            KeyOrder::Sequential
        } else {
            KeyOrder::Random
        },
        limit: match a.requests {
            Some(n) => Limit::Requests(n),
            None => Limit::Duration(Duration::from_secs_f64(a.duration)),
        },
    };
    let r = loadgen::run(&w)?;
    let h = &r.histogram;
    println!(
        "{} requests in {:.2} s: {:.0} ops/s, {} errors; latency µs p50 {} p99 {} p99.9 {} max {}",
        r.requests,
        r.elapsed.as_secs_f64(),
        r.throughput(),
        r.errors,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
    Ok(())
}

/// Everything a suite run writes to JSON.
#[derive(Debug, Serialize)]
struct Results<'a> {
    date: String,
    machine: Machine,
    quick: bool,
    runs: usize,
    run_length: String,
    client_threads: usize,
    servers: &'a [String],
    summaries: &'a [report::Summary],
    samples: &'a [Sample],
}

#[derive(Debug, Serialize)]
pub(crate) struct Machine {
    cores: usize,
    cpu: String,
    kernel: String,
}

impl Machine {
    pub(crate) fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel,
        }
    }
}

/// Runs `cargo xtask bench`.
pub(crate) fn bench(args: BenchArgs) -> Result<()> {
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out_dir = args.out.clone().unwrap_or_else(|| target.join("bench"));
    let selected = select_scenarios(&args);
    if args.list {
        for s in scenarios::all() {
            println!("{:<18} {}", s.name, s.about);
        }
        return Ok(());
    }
    if selected.is_empty() {
        bail!("no scenario matches {:?} (see --list)", args.scenario);
    }
    if args.runs < 3 {
        eprintln!(
            "note: --runs {} is below the 3 runs each figure should be a median of",
            args.runs
        );
    }
    let log_dir = out_dir.join("logs");
    let _ = std::fs::remove_dir_all(&log_dir);
    let specs = servers(&args, &root, &target, &log_dir)?;
    let names: Vec<String> = specs.iter().map(ServerSpec::name).collect();
    let len = RunLength {
        limit: match (args.requests, args.duration) {
            (Some(n), _) => Limit::Requests(n),
            (None, Some(d)) => Limit::Duration(Duration::from_secs_f64(d)),
            (None, None) => Limit::Duration(scenarios::default_duration(args.quick)),
        },
        rb_requests: args
            .requests
            .unwrap_or(if args.quick { 100_000 } else { 500_000 }),
        threads: args.threads.max(1),
    };
    let ticks = server::clock_ticks_per_sec();
    let started = Instant::now();
    let total = args.runs * specs.len() * selected.len();
    let mut samples = Vec::new();
    let mut done = 0;
    let mut failures = 0;
    for round in 1..=args.runs {
        for spec in &specs {
            let name = spec.name();
            progress(
                done,
                total,
                started,
                &format!("round {round}: starting {name}"),
            );
            let mut server = Server::start(spec, &log_dir)?;
            // Every round loads the key space first: it is the memory figure, and the GET
            // scenarios read those keys.
            progress(
                done,
                total,
                started,
                &format!(
                    "round {round}: {name}: loading {} keys",
                    scenarios::KEYSPACE
                ),
            );
            let mem = scenarios::load_keyspace(&server, len.threads, ticks)
                .with_context(|| format!("loading keys into {name}"))?;
            for sc in &selected {
                done += 1;
                let result = if sc.kind == Kind::Memory {
                    Ok(mem.clone())
                } else {
                    progress(
                        done - 1,
                        total,
                        started,
                        &format!("round {round}: {name}: {}", sc.name),
                    );
                    scenarios::run_once(sc, &server, &len, ticks)
                };
                let mut sample = match result {
                    Ok(s) => s,
                    Err(e) => {
                        // One failing scenario (say, a command a young kvd lacks, or a crash)
                        // should not cost the rest of the suite: report it, and bring the
                        // server back with its keys if it died.
                        clear_progress();
                        eprintln!("warning: {} against {name} failed: {e:#}", sc.name);
                        failures += 1;
                        if server::ping(server.addr).is_err() {
                            server.stop()?;
                            server = Server::start(spec, &log_dir)?;
                            scenarios::load_keyspace(&server, len.threads, ticks)
                                .with_context(|| format!("reloading keys into {name}"))?;
                        }
                        continue;
                    }
                };
                sample.scenario = sc.name.to_string();
                sample.server = name.clone();
                sample.round = round;
                samples.push(sample);
            }
            server.stop()?;
        }
    }
    clear_progress();
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
    if failures > 0 {
        eprintln!("warning: {failures} run(s) failed (see above); their figures are missing");
    }

    let order: Vec<&str> = selected.iter().map(|s| s.name).collect();
    let described: Vec<(&str, &str)> = selected.iter().map(|s| (s.name, s.about)).collect();
    let summaries = report::summarize(&samples, &order, &names);
    let machine = Machine::detect();
    let date = utc_timestamp(SystemTime::now());
    println!(
        "kvd benchmark, {date}, {} cores ({}), {} run(s) per figure: median (min–max)",
        machine.cores, machine.cpu, args.runs
    );
    print!("{}", report::table(&summaries, &described, &names));

    std::fs::create_dir_all(&out_dir)?;
    let results = Results {
        date: date.clone(),
        run_length: format!("{:?}", len.limit),
        machine,
        quick: args.quick,
        runs: args.runs,
        client_threads: len.threads,
        servers: &names,
        summaries: &summaries,
        samples: &samples,
    };
    let json = serde_json::to_string_pretty(&results)?;
    let stamp = date.replace([':', '-'], "");
    for file in [format!("results-{stamp}.json"), "latest.json".to_string()] {
        std::fs::write(out_dir.join(file), &json)?;
    }
    let title = format!("kvd benchmark {date} ({} cores)", results.machine.cores);
    std::fs::write(
        out_dir.join("chart.svg"),
        report::svg(&summaries, &order, &names, &title)?,
    )?;
    std::fs::write(
        out_dir.join("table.md"),
        report::markdown(&summaries, &described, &names),
    )?;
    println!(
        "\nwrote {0}/latest.json, {0}/chart.svg and {0}/table.md",
        out_dir.display()
    );
    Ok(())
}

/// The scenarios `--scenario` and `--redis-benchmark` select, in suite order.
fn select_scenarios(args: &BenchArgs) -> Vec<Scenario> {
    scenarios::all()
        .into_iter()
        .filter(|s| args.redis_benchmark || !matches!(s.kind, Kind::RedisBenchmark { .. }))
        .filter(|s| {
            args.scenario.is_empty() || args.scenario.iter().any(|f| s.name.contains(f.as_str()))
        })
        .collect()
}

/// kvd (built, unless --no-kvd) followed by the others.
fn servers(
    args: &BenchArgs,
    root: &Path,
    target: &Path,
    log_dir: &Path,
) -> Result<Vec<ServerSpec>> {
    let mut specs = Vec::new();
    if !args.no_kvd {
        let path = match &args.kvd {
            Some(p) => Some(p.clone()),
            None => build_kvd(root, target),
        };
        if let Some(path) = path {
            let spec = ServerSpec::kvd(path, args.kvd_args.as_deref());
            // kvd may not run yet while it is being built; say so and go on with the others
            // rather than fail the whole suite.
            match Server::start(&spec, log_dir) {
                Ok(s) => {
                    s.stop()?;
                    specs.push(spec);
                }
                Err(e) => {
                    eprintln!("warning: kvd does not answer PING, benchmarking without it: {e:#}")
                }
            }
        }
    }
    if args.against.is_empty() {
        match server::which("redis-server") {
            Some(_) => specs.push(ServerSpec::parse("redis-server")?),
            None => eprintln!(
                "note: redis-server is not on PATH, so kvd is benchmarked alone. To compare with \
                 Redis, install it (`apt-get install redis-server`) or pass --against."
            ),
        }
    } else {
        for a in &args.against {
            specs.push(ServerSpec::parse(a).with_context(|| format!("--against {a}"))?);
        }
    }
    if args.redis_benchmark && server::which("redis-benchmark").is_none() {
        bail!("--redis-benchmark needs redis-benchmark on PATH (`apt-get install redis-tools`)");
    }
    if specs.is_empty() {
        bail!("no server to benchmark");
    }
    Ok(specs)
}

/// `cargo build --release -p kvd`; the binary's path, or None (with a warning) if it fails.
pub(crate) fn build_kvd(root: &Path, target: &Path) -> Option<PathBuf> {
    eprintln!("building kvd: cargo build --release -p kvd");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "kvd"])
        .current_dir(root)
        .status();
    match status {
        Ok(s) if s.success() => Some(target.join("release").join("kvd")),
        Ok(s) => {
            eprintln!("warning: building kvd failed ({s}); benchmarking without it");
            None
        }
        Err(e) => {
            eprintln!("warning: could not run cargo ({e}); benchmarking without kvd");
            None
        }
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// One status line on stderr, rewritten in place on a terminal (one line each otherwise).
fn progress(done: usize, total: usize, started: Instant, what: &str) {
    let mut err = std::io::stderr().lock();
    let line = format!(
        "[{done}/{total} {:>3.0}s] {what}",
        started.elapsed().as_secs_f64()
    );
    let _ = if err.is_terminal() {
        write!(err, "\r\x1b[2K{line}")
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

fn clear_progress() {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2K");
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` without a date library.
pub(crate) fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::{Cli, Task};

    fn bench_args(argv: &[&str]) -> BenchArgs {
        let mut full = vec!["xtask", "bench"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().task {
            Task::Bench(a) => a,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn bench_flags() {
        let a = bench_args(&[
            "--quick",
            "--against",
            "redis-server",
            "127.0.0.1:7000",
            "--runs",
            "5",
            "--scenario",
            "get",
            "--kvd-args",
            "--workers 2",
        ]);
        assert!(a.quick);
        assert_eq!(a.against, ["redis-server", "127.0.0.1:7000"]);
        assert_eq!(a.runs, 5);
        assert_eq!(a.scenario, ["get"]);
        assert_eq!(a.kvd_args.as_deref(), Some("--workers 2"));
        let a = bench_args(&[]);
        assert_eq!((a.runs, a.threads, a.quick), (3, 1, false));
        assert!(
            Cli::try_parse_from(["xtask", "bench", "--duration", "1", "--requests", "5"]).is_err()
        );
    }

    #[test]
    fn scenario_selection() {
        let names = |argv: &[&str]| -> Vec<&str> {
            select_scenarios(&bench_args(argv))
                .iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(
            names(&["--scenario", "p16"]),
            ["set-c50-p16", "get-c50-p16"]
        );
        assert!(!names(&[]).iter().any(|n| n.starts_with("rb-")));
        assert_eq!(
            names(&["--redis-benchmark", "--scenario", "rb-"]),
            ["rb-set-p1", "rb-get-p1", "rb-set-p16", "rb-get-p16"]
        );
    }

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_700_000);
        assert_eq!(utc_timestamp(t), "2026-11-26T13:33:20Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
