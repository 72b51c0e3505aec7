//! `cargo xtask`: kvd's task runner (`cargo xtask` is an alias for
//! `cargo run --package xtask --`, see `.cargo/config.toml`).
//!
//! One subcommand per task, one module per task:
//! - `bench`: the benchmark suite, kvd against redis-server or others (see BENCHMARKS.md);
//! - `loadgen`: the suite's RESP load generator on its own, against any running server;
//! - `soak`: kvd under thousands of connections with a mixed load for a minute: errors,
//!   latency percentiles and whether its memory stays flat (see BENCHMARKS.md);
//! - `memcheck`: `used_memory` against the resident set's growth, per data shape.
#![allow(
    clippy::print_stdout,
    reason = "xtask is a command-line tool: its terminal output is the product"
)]

mod bench;
mod memcheck;
mod soak;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "kvd's task runner")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Benchmark kvd against redis-server (or others): throughput, latency, CPU and memory.
    Bench(bench::BenchArgs),
    /// Run the load generator once against a running server.
    Loadgen(bench::LoadgenArgs),
    /// Soak kvd: 5,000 connections of mixed load for 60 s; errors, latency, memory flatness.
    Soak(soak::SoakArgs),
    /// Check that INFO's used_memory follows the resident set as data is loaded.
    Memcheck(memcheck::MemcheckArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cfg!(debug_assertions) && std::env::var_os("XTASK_DEBUG_BUILD").is_none() {
        // `cargo xtask` builds in the dev profile, and an unoptimized load generator would be
        // the bottleneck it must not be; so measuring tasks re-run themselves optimized.
        return rerun_optimized();
    }
    match cli.task {
        Task::Bench(args) => bench::bench(args),
        Task::Loadgen(args) => bench::loadgen(args),
        Task::Soak(args) => soak::soak(args),
        Task::Memcheck(args) => memcheck::memcheck(args),
    }
}

/// Runs this same command line from a release build of xtask, and exits with its status.
fn rerun_optimized() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
        .args(std::env::args_os().skip(1))
        // Same working directory, so relative paths in the arguments mean the same.
        .status()
        .context("running the optimized xtask")?;
    std::process::exit(status.code().unwrap_or(1));
}
