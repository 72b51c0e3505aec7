//! The `kvd` daemon: parse the command line, start the server, run until `SHUTDOWN`,
//! SIGINT or SIGTERM, stop cleanly.
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Logging first, so warnings about accepted Redis settings reach the log.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line, without a backtrace.
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = kvd::config_from_args(std::env::args_os())?;
    // Register before starting so a signal during startup is not lost.
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let server = Arc::new(kvd::Server::start(config.clone())?);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        addr = %server.local_addr(),
        listeners = config.listeners,
        io_threads = config.io_threads,
        workers = config.workers,
        thread_layout = config.thread_layout.as_str(),
        databases = config.databases,
        "kvd ready to accept connections"
    );

    let on_signal = Arc::clone(&server);
    let signal_handle = signals.handle();
    let watcher = std::thread::Builder::new()
        .name("kvd-signals".to_owned())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!(signal, "received a signal, shutting down");
                on_signal.shutdown();
            }
        })
        .context("cannot start the signal thread")?;

    let stopped = server.wait();
    // After SHUTDOWN the watcher still waits for a signal: end its iterator and join it.
    signal_handle.close();
    if watcher.join().is_err() {
        tracing::error!("the signal thread panicked");
    }
    stopped?;
    tracing::info!("kvd exits");
    Ok(())
}
