//! `cargo xtask soak`: kvd (release build) under thousands of connections with a mixed load for
//! a while, checking that nothing fails and that memory stays flat.
//!
//! The connections are split three ways: 60% issue one request at a time, 10% keep 16 in
//! flight (pipelined), 30% connect and stay idle (each must still answer `PING` at the end).
//! The busy ones run the load generator's soak mix (`SET`, `GET`, `INCR`, `LPUSH` + `LTRIM`,
//! `HSET`, `MGET` of 4 keys, each type on its own key family, lists trimmed so memory can stay
//! flat). The server's RSS is sampled every second; after the warm-up (the first half of the
//! run) every sample must stay within ±5% of the one at the end of the warm-up.
//!
//! Results go to `target/bench/soak-<date>.json` and `target/bench/soak-latest.json`.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::bench::loadgen::{self, KeyOrder, Limit, LoadResult, Op, Workload};
use crate::bench::server::{ProcStats, Server, ServerSpec};
use crate::bench::{Machine, build_kvd, utc_timestamp, workspace_root};

/// How far RSS may move after the warm-up and still count as flat.
const FLAT_TOLERANCE: f64 = 0.05;

/// Flags of `cargo xtask soak`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SoakArgs {
    /// Connections in all (60% one request at a time, 10% pipelined by 16, 30% idle).
    #[arg(long, default_value_t = 5000)]
    conns: usize,
    /// Seconds of load; the first half is the warm-up.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Client threads for the one-at-a-time connections (the pipelined ones get one more).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Distinct keys in each key family (strings, counters, lists, hashes).
    #[arg(long, default_value_t = 10_000)]
    keyspace: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 32)]
    value_size: usize,
    /// Use this kvd binary instead of building one with `cargo build --release -p kvd`.
    #[arg(long, value_name = "PATH")]
    kvd: Option<PathBuf>,
    /// Extra arguments for kvd, split on whitespace (e.g. "--workers 2").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    kvd_args: Option<String>,
    /// Soak another server instead of kvd: a program on PATH, a path, or host:port.
    #[arg(long, value_name = "SERVER")]
    against: Option<String>,
    /// Where results go (default: target/bench under the workspace).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Latency percentiles in µs.
#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p99: u64,
    p99_9: u64,
    max: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        Latency {
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// Everything a soak run writes to JSON.
#[derive(Debug, Serialize)]
struct SoakResult {
    date: String,
    machine: Machine,
    server: String,
    command: String,
    connections: usize,
    one_at_a_time: usize,
    pipelined: usize,
    pipeline: usize,
    idle: usize,
    secs: u64,
    requests: u64,
    /// Error replies, failed connections and idle connections that did not answer PING.
    errors: u64,
    error_notes: Vec<String>,
    throughput_per_sec: f64,
    latency_us: Latency,
    latency_one_at_a_time_us: Option<Latency>,
    latency_pipelined_us: Option<Latency>,
    /// Server RSS in KiB, one sample per second from just before the busy connections open.
    rss_kib: Vec<u64>,
    warmup_secs: u64,
    rss_at_warmup_kib: u64,
    /// Largest distance of a later sample from the warm-up one, as a fraction of it.
    rss_max_deviation: f64,
    rss_flat: bool,
    passed: bool,
}

/// Runs `cargo xtask soak`.
pub(crate) fn soak(args: SoakArgs) -> Result<()> {
    if args.secs < 2 {
        bail!("--secs must be at least 2 (the first half is the warm-up)");
    }
    let root = workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out_dir = args.out.clone().unwrap_or_else(|| target.join("bench"));
    std::fs::create_dir_all(&out_dir)?;
    // Our sockets and the server's (which inherits the limit) must all fit.
    raise_nofile_limit(args.conns as u64 + 1024)?;

    let spec = match (&args.against, &args.kvd) {
        (Some(other), _) => ServerSpec::parse(other)?,
        (None, Some(path)) => ServerSpec::kvd(path.clone(), args.kvd_args.as_deref()),
        (None, None) => match build_kvd(&root, &target) {
            Some(path) => ServerSpec::kvd(path, args.kvd_args.as_deref()),
            None => bail!("building kvd failed"),
        },
    };
    let server = Server::start(&spec, &out_dir.join("logs"))?;
    let addr = server.addr;
    eprintln!("soaking {} at {addr}", spec.name());

    let idle_n = args.conns * 3 / 10;
    let piped_n = args.conns / 10;
    let single_n = args.conns - idle_n - piped_n;
    let mut idle = Vec::with_capacity(idle_n);
    for _ in 0..idle_n {
        idle.push(
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .context("opening an idle connection")?,
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        let pid = server.pid();
        std::thread::spawn(move || sample_rss(pid, &stop))
    };
    let workload = |connections: usize, threads: usize, pipeline: usize| Workload {
        addr,
        connections,
        threads,
        pipeline,
        keyspace: args.keyspace,
        value_size: args.value_size,
        op: Op::Soak,
        keys: KeyOrder::Random,
        limit: Limit::Duration(Duration::from_secs(args.secs)),
    };
    let single = workload(single_n, args.threads.max(1), 1);
    let piped = workload(piped_n, 1, 16);
    let runs: Vec<_> = [single, piped]
        .into_iter()
        .filter(|w| w.connections > 0)
        .map(|w| std::thread::spawn(move || (w.pipeline, loadgen::run(&w))))
        .collect();

    let mut errors = 0u64;
    let mut notes = Vec::new();
    let mut results: Vec<(usize, LoadResult)> = Vec::new();
    for r in runs {
        match r.join() {
            Ok((pipeline, Ok(res))) => {
                errors += res.errors;
                if res.errors > 0 {
                    notes.push(format!(
                        "{} error replies at pipeline {pipeline}",
                        res.errors
                    ));
                }
                results.push((pipeline, res));
            }
            Ok((pipeline, Err(e))) => {
                errors += 1;
                notes.push(format!("load at pipeline {pipeline} failed: {e:#}"));
            }
            Err(_) => {
                errors += 1;
                notes.push("a load generator thread panicked".into());
            }
        }
    }
    let silent = check_idle(&mut idle);
    if silent > 0 {
        errors += silent;
        notes.push(format!(
            "{silent} of {idle_n} idle connections did not answer PING"
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.join().unwrap_or_default();
    drop(idle);
    server.stop()?;

    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut requests = 0;
    let mut elapsed = Duration::ZERO;
    for (_, r) in &results {
        all.add(&r.histogram)?;
        requests += r.requests;
        elapsed = elapsed.max(r.elapsed);
    }
    let latency_for = |p: usize| {
        results
            .iter()
            .find(|(pipeline, _)| *pipeline == p)
            .map(|(_, r)| Latency::of(&r.histogram))
    };
    let warmup = args.secs / 2;
    let (reference, deviation) = flatness(&rss, warmup as usize);
    let rss_flat = deviation <= FLAT_TOLERANCE;
    let result = SoakResult {
        date: utc_timestamp(SystemTime::now()),
        machine: Machine::detect(),
        server: spec.name(),
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        connections: args.conns,
        one_at_a_time: single_n,
        pipelined: piped_n,
        pipeline: 16,
        idle: idle_n,
        secs: args.secs,
        requests,
        errors,
        error_notes: notes,
        throughput_per_sec: requests as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_us: Latency::of(&all),
        latency_one_at_a_time_us: latency_for(1),
        latency_pipelined_us: latency_for(16),
        rss_kib: rss,
        warmup_secs: warmup,
        rss_at_warmup_kib: reference,
        rss_max_deviation: deviation,
        rss_flat,
        passed: errors == 0 && rss_flat,
    };
    report(&result);
    let json = serde_json::to_string_pretty(&result)?;
    let stamp = result.date.replace([':', '-'], "");
    for file in [format!("soak-{stamp}.json"), "soak-latest.json".to_string()] {
        std::fs::write(out_dir.join(file), &json)?;
    }
    println!("wrote {}/soak-latest.json", out_dir.display());
    if !result.passed {
        bail!("soak failed");
    }
    Ok(())
}

fn report(r: &SoakResult) {
    println!(
        "{} connections ({} one at a time, {} pipelined by {}, {} idle) for {} s against {}",
        r.connections, r.one_at_a_time, r.pipelined, r.pipeline, r.idle, r.secs, r.server
    );
    println!(
        "requests {}  throughput {:.0}/s  errors {}",
        r.requests, r.throughput_per_sec, r.errors
    );
    for note in &r.error_notes {
        println!("  error: {note}");
    }
    let l = &r.latency_us;
    println!(
        "latency µs (all): p50 {}  p99 {}  p99.9 {}  max {}",
        l.p50, l.p99, l.p99_9, l.max
    );
    if let Some(l) = &r.latency_one_at_a_time_us {
        println!(
            "latency µs (one at a time): p50 {}  p99 {}  p99.9 {}",
            l.p50, l.p99, l.p99_9
        );
    }
    if let Some(l) = &r.latency_pipelined_us {
        println!(
            "latency µs (pipelined): p50 {}  p99 {}  p99.9 {}",
            l.p50, l.p99, l.p99_9
        );
    }
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "RSS MiB: start {:.1}, at {} s {:.1}, end {:.1}; max deviation after warm-up {:.1}% ({})",
        r.rss_kib.first().copied().map_or(0.0, mib),
        r.warmup_secs,
        mib(r.rss_at_warmup_kib),
        r.rss_kib.last().copied().map_or(0.0, mib),
        r.rss_max_deviation * 100.0,
        if r.rss_flat { "flat" } else { "NOT flat" }
    );
    println!("verdict: {}", if r.passed { "PASS" } else { "FAIL" });
}

/// The sample at `warmup` seconds, and the largest distance of any later sample from it as a
/// fraction of it. Without samples (a server we did not start) there is nothing to judge.
fn flatness(rss: &[u64], warmup: usize) -> (u64, f64) {
    let Some(&reference) = rss.get(warmup).or(rss.last()) else {
        return (0, 0.0);
    };
    let deviation = rss
        .iter()
        .skip(warmup)
        .map(|&v| (v as f64 - reference as f64).abs() / (reference as f64).max(1.0))
        .fold(0.0, f64::max);
    (reference, deviation)
}

/// RSS of `pid` once a second until `stop`.
fn sample_rss(pid: Option<u32>, stop: &AtomicBool) -> Vec<u64> {
    let mut samples = Vec::new();
    let Some(pid) = pid else {
        return samples;
    };
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some(s) = ProcStats::of(pid) {
            samples.push(s.rss_kib);
        }
        let next = start + Duration::from_secs(samples.len() as u64);
        // Waits in short steps so the end of the run is not delayed by up to a second.
        while !stop.load(Ordering::Relaxed) && Instant::now() < next {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    samples
}

/// Sends PING on every idle connection, then counts those that do not answer `+PONG`.
fn check_idle(idle: &mut [TcpStream]) -> u64 {
    let mut failed = 0;
    let mut sent = Vec::with_capacity(idle.len());
    for s in idle.iter_mut() {
        sent.push(s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok());
    }
    for (s, ok) in idle.iter_mut().zip(sent) {
        let mut buf = [0u8; 7];
        let answered = ok
            && s.set_read_timeout(Some(Duration::from_secs(5))).is_ok()
            && s.read_exact(&mut buf).is_ok()
            && &buf == b"+PONG\r\n";
        failed += u64::from(!answered);
    }
    failed
}

/// Raises this process's soft limit on open files to `want` (at most the hard limit) with
/// util-linux's `prlimit`, if it is lower; servers started afterwards inherit it.
fn raise_nofile_limit(want: u64) -> Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").context("reading limits")?;
    let (soft, hard) = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| {
            let mut it = rest.split_whitespace();
            let parse = |s: Option<&str>| match s? {
                "unlimited" => Some(u64::MAX),
                n => n.parse().ok(),
            };
            Some((parse(it.next())?, parse(it.next())?))
        })
        .context("no open-files limit in /proc/self/limits")?;
    if soft >= want {
        return Ok(());
    }
    if hard < want {
        bail!("need {want} open files but the hard limit is {hard}; raise it (ulimit -Hn)");
    }
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={hard}:{hard}"),
        ])
        .status()
        .context("running prlimit to raise the open-files limit")?;
    if !status.success() {
        bail!("prlimit could not raise the open-files limit ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatness_is_measured_from_the_warm_up_sample() {
        let rss = [100, 200, 1000, 1040, 980, 1010];
        let (reference, dev) = flatness(&rss, 2);
        assert_eq!(reference, 1000);
        assert!((dev - 0.04).abs() < 1e-9);
        assert_eq!(flatness(&[], 2), (0, 0.0));
        // A run shorter than its warm-up is judged on its last sample.
        assert_eq!(flatness(&[5, 7], 30), (7, 0.0));
    }
}
