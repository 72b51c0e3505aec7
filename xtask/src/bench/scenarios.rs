//! The scenarios: what each one sends, and how one run of it against one server is measured.
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::loadgen::{self, KeyOrder, Limit, Op, Workload};
use super::report::Sample;
use super::server::{ProcStats, Server};

/// Keys loaded into every server right after it starts (the memory figure), which the GET
/// scenarios then read. 12-digit keys over this space are what `redis-benchmark -r 1000000`
/// draws too.
pub(crate) const KEYSPACE: u64 = 1_000_000;
/// Value size of the load, as the issue asks for the memory figure.
pub(crate) const LOAD_VALUE_SIZE: usize = 16;
/// redis-benchmark's default value size (`-d 3`), so the two generators send the same bytes.
const VALUE_SIZE: usize = 3;

/// What a scenario does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// Our load generator.
    Load {
        connections: usize,
        pipeline: usize,
        op: Op,
        keyspace: u64,
        value_size: usize,
    },
    /// Load [`KEYSPACE`] keys of [`LOAD_VALUE_SIZE`] bytes into a fresh server; report RSS
    /// growth per key.
    Memory,
    /// `redis-benchmark -c 50 --threads 1 -r 1000000 -t <test> -P <pipeline>`.
    RedisBenchmark { test: &'static str, pipeline: usize },
}

/// One named scenario.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) kind: Kind,
}

const fn load(connections: usize, pipeline: usize, op: Op) -> Kind {
    Kind::Load {
        connections,
        pipeline,
        op,
        keyspace: KEYSPACE,
        value_size: VALUE_SIZE,
    }
}

/// Every scenario, in the order they run against each server.
pub(crate) fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "memory",
            about: "SET 1,000,000 sequential keys, 16-byte values (50 conns, pipeline 64); RSS growth per key",
            kind: Kind::Memory,
        },
        Scenario {
            name: "set-c50-p1",
            about: "SET, 50 connections, pipeline 1, random keys, 3-byte values",
            kind: load(50, 1, Op::Set),
        },
        Scenario {
            name: "get-c50-p1",
            about: "GET, 50 connections, pipeline 1, random keys (all present)",
            kind: load(50, 1, Op::Get),
        },
        Scenario {
            name: "set-c50-p16",
            about: "SET, 50 connections, pipeline 16",
            kind: load(50, 16, Op::Set),
        },
        Scenario {
            name: "get-c50-p16",
            about: "GET, 50 connections, pipeline 16",
            kind: load(50, 16, Op::Get),
        },
        Scenario {
            name: "mix-1:10-c50-p1",
            about: "1 SET : 10 GET, 50 connections, pipeline 1",
            kind: load(50, 1, Op::Mix { sets: 1, gets: 10 }),
        },
        Scenario {
            name: "mget10-c50-p1",
            about: "MGET of 10 random keys (one op = one MGET), 50 connections, pipeline 1",
            kind: load(50, 1, Op::Mget { keys: 10 }),
        },
        Scenario {
            name: "4k-c50-p1",
            about: "1 SET : 1 GET of 4 KiB values over 10,000 keys, 50 connections, pipeline 1",
            kind: Kind::Load {
                connections: 50,
                pipeline: 1,
                op: Op::Mix { sets: 1, gets: 1 },
                keyspace: 10_000,
                value_size: 4096,
            },
        },
        Scenario {
            name: "get-c1000-p1",
            about: "GET, 1,000 connections, pipeline 1",
            kind: load(1000, 1, Op::Get),
        },
        Scenario {
            name: "rb-set-p1",
            about: "redis-benchmark -t set -c 50 -P 1 --threads 1 -r 1000000",
            kind: Kind::RedisBenchmark {
                test: "set",
                pipeline: 1,
            },
        },
        Scenario {
            name: "rb-get-p1",
            about: "redis-benchmark -t get -c 50 -P 1 --threads 1 -r 1000000",
            kind: Kind::RedisBenchmark {
                test: "get",
                pipeline: 1,
            },
        },
        Scenario {
            name: "rb-set-p16",
            about: "redis-benchmark -t set -c 50 -P 16 --threads 1 -r 1000000",
            kind: Kind::RedisBenchmark {
                test: "set",
                pipeline: 16,
            },
        },
        Scenario {
            name: "rb-get-p16",
            about: "redis-benchmark -t get -c 50 -P 16 --threads 1 -r 1000000",
            kind: Kind::RedisBenchmark {
                test: "get",
                pipeline: 16,
            },
        },
    ]
}

/// How long or how much each run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RunLength {
    pub(crate) limit: Limit,
    /// Requests per redis-benchmark run at pipeline 1 (it only takes a count); pipeline 16
    /// runs get 5 times as many.
    pub(crate) rb_requests: u64,
    pub(crate) threads: usize,
}

/// CPU seconds per million operations from a tick delta.
fn cpu_per_mop(ticks: u64, ops: u64, ticks_per_sec: u64) -> Option<f64> {
    (ops > 0).then(|| ticks as f64 / ticks_per_sec as f64 / ops as f64 * 1e6)
}

/// Runs one of our load generator workloads against `server`, with server and client CPU.
fn measure_load(
    server: &Server,
    w: &Workload,
    ticks_per_sec: u64,
) -> Result<(Sample, loadgen::LoadResult)> {
    let (srv0, own0) = (server.stats(), ProcStats::own());
    let r = loadgen::run(w)?;
    let (srv1, own1) = (server.stats(), ProcStats::own());
    let mut s = Sample::new(r.requests, r.errors);
    s.set("ops_per_sec", Some(r.throughput()));
    s.set("p50_us", Some(r.histogram.value_at_quantile(0.50) as f64));
    s.set("p99_us", Some(r.histogram.value_at_quantile(0.99) as f64));
    s.set(
        "p99.9_us",
        Some(r.histogram.value_at_quantile(0.999) as f64),
    );
    s.set("max_us", Some(r.histogram.max() as f64));
    if let (Some(a), Some(b)) = (srv0, srv1) {
        s.set(
            "server_cpu_s_per_mop",
            cpu_per_mop(b.cpu_ticks - a.cpu_ticks, r.requests, ticks_per_sec),
        );
    }
    if let (Some(a), Some(b)) = (own0, own1) {
        s.set(
            "client_cpu_s_per_mop",
            cpu_per_mop(b.cpu_ticks - a.cpu_ticks, r.requests, ticks_per_sec),
        );
    }
    Ok((s, r))
}

/// Loads the key space into a freshly started server and measures its RSS growth per key.
pub(crate) fn load_keyspace(server: &Server, threads: usize, ticks_per_sec: u64) -> Result<Sample> {
    let before = server.stats();
    let w = Workload {
        addr: server.addr,
        connections: 50,
        threads,
        pipeline: 64,
        keyspace: KEYSPACE,
        value_size: LOAD_VALUE_SIZE,
        op: Op::Set,
        keys: KeyOrder::Sequential,
        limit: Limit::Requests(KEYSPACE),
    };
    let (mut s, _) = measure_load(server, &w, ticks_per_sec)?;
    if let (Some(a), Some(b)) = (before, server.stats()) {
        let growth = b.rss_kib.saturating_sub(a.rss_kib) as f64 * 1024.0;
        s.set("rss_bytes_per_key", Some(growth / KEYSPACE as f64));
    }
    Ok(s)
}

/// Runs one scenario once against `server`.
pub(crate) fn run_once(
    sc: &Scenario,
    server: &Server,
    len: &RunLength,
    ticks_per_sec: u64,
) -> Result<Sample> {
    match sc.kind {
        Kind::Memory => load_keyspace(server, len.threads, ticks_per_sec),
        Kind::Load {
            connections,
            pipeline,
            op,
            keyspace,
            value_size,
        } => {
            let w = Workload {
                addr: server.addr,
                connections,
                threads: len.threads,
                pipeline,
                keyspace,
                value_size,
                op,
                keys: KeyOrder::Random,
                limit: len.limit,
            };
            Ok(measure_load(server, &w, ticks_per_sec)?.0)
        }
        Kind::RedisBenchmark { test, pipeline } => {
            let n = len.rb_requests * if pipeline > 1 { 5 } else { 1 };
            redis_benchmark(server, test, pipeline, n, ticks_per_sec)
        }
    }
}

fn redis_benchmark(
    server: &Server,
    test: &str,
    pipeline: usize,
    n: u64,
    ticks_per_sec: u64,
) -> Result<Sample> {
    let (srv0, own0) = (server.stats(), ProcStats::own());
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            &server.addr.ip().to_string(),
            "-p",
            &server.addr.port().to_string(),
        ])
        .args(["-c", "50", "--threads", "1", "-r", "1000000", "--csv"])
        .args([
            "-n",
            &n.to_string(),
            "-t",
            test,
            "-P",
            &pipeline.to_string(),
        ])
        .output()
        .context("running redis-benchmark")?;
    let (srv1, own1) = (server.stats(), ProcStats::own());
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let csv = String::from_utf8_lossy(&out.stdout);
    let row =
        parse_rb_csv(&csv).with_context(|| format!("unexpected redis-benchmark output: {csv}"))?;
    let mut s = Sample::new(n, 0);
    s.set("ops_per_sec", Some(row.rps));
    s.set("p50_us", Some(row.p50_ms * 1000.0));
    s.set("p99_us", Some(row.p99_ms * 1000.0));
    s.set("max_us", Some(row.max_ms * 1000.0));
    if let (Some(a), Some(b)) = (srv0, srv1) {
        s.set(
            "server_cpu_s_per_mop",
            cpu_per_mop(b.cpu_ticks - a.cpu_ticks, n, ticks_per_sec),
        );
    }
    // redis-benchmark has been waited for, so its CPU time is in our children's counters.
    if let (Some(a), Some(b)) = (own0, own1) {
        let ticks = b.children_cpu_ticks - a.children_cpu_ticks;
        s.set("client_cpu_s_per_mop", cpu_per_mop(ticks, n, ticks_per_sec));
    }
    Ok(s)
}

/// The figures of one redis-benchmark `--csv` result row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RbRow {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// Parses redis-benchmark 7's `--csv` output: a header line naming the columns, then one row
/// per test; the first row is taken.
pub(crate) fn parse_rb_csv(csv: &str) -> Option<RbRow> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let split = |l: &str| -> Vec<String> {
        l.split(',')
            .map(|f| f.trim().trim_matches('"').to_string())
            .collect()
    };
    let header = split(lines.next()?);
    let row = split(lines.next()?);
    let col = |name: &str| -> Option<f64> {
        let i = header.iter().position(|h| h == name)?;
        row.get(i)?.parse().ok()
    };
    Some(RbRow {
        rps: col("rps")?,
        p50_ms: col("p50_latency_ms")?,
        p99_ms: col("p99_latency_ms")?,
        max_ms: col("max_latency_ms")?,
    })
}

/// Default run length: `--quick` keeps the whole suite under two minutes.
pub(crate) fn default_duration(quick: bool) -> Duration {
    if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_csv() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                   \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"GET\",\"103092.78\",\"0.254\",\"0.072\",\"0.231\",\"0.359\",\"0.495\",\"1.127\"\n";
        assert_eq!(
            parse_rb_csv(csv),
            Some(RbRow {
                rps: 103092.78,
                p50_ms: 0.231,
                p99_ms: 0.495,
                max_ms: 1.127
            })
        );
        assert_eq!(parse_rb_csv("\"test\",\"rps\"\n"), None);
    }

    #[test]
    fn cpu_per_million_ops() {
        assert_eq!(cpu_per_mop(150, 3_000_000, 100), Some(0.5));
        assert_eq!(cpu_per_mop(1, 0, 100), None);
    }

    #[test]
    fn scenario_names_are_unique() {
        let mut names: Vec<_> = all().iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all().len());
    }
}
