//! `INFO commandstats` for the commands the IO layer sees complete: local commands and commands
//! spread over shards (shards count only the commands they run whole).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use worker_shard::{command_table, lookup_command};

/// Calls, time and failures per command name, indexed like the command table (subcommands
/// included). One relaxed add per counter per call, no locks.
#[derive(Debug)]
pub(crate) struct CommandStats {
    names: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    calls: Vec<AtomicU64>,
    usec: Vec<AtomicU64>,
    failed: Vec<AtomicU64>,
}

impl Default for CommandStats {
    fn default() -> Self {
        let names: Vec<&'static str> = command_table()
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.subcommands.iter().map(|c| c.name)))
            .collect();
        let index = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let zeros = || names.iter().map(|_| AtomicU64::new(0)).collect();
        CommandStats {
            index,
            calls: zeros(),
            usec: zeros(),
            failed: zeros(),
            names,
        }
    }
}

impl CommandStats {
    /// The statistics slot of a request: its command, or `command|sub` for containers.
    pub(crate) fn slot(&self, args: &[Bytes]) -> Option<usize> {
        let spec = lookup_command(args.first()?)?;
        let name = match args.get(1) {
            Some(sub) if !spec.subcommands.is_empty() => spec.subcommand(sub)?.name,
            _ => spec.name,
        };
        self.index.get(name).copied()
    }

    pub(crate) fn record(&self, slot: usize, usec: u64, failed: bool) {
        if let (Some(c), Some(u), Some(f)) = (
            self.calls.get(slot),
            self.usec.get(slot),
            self.failed.get(slot),
        ) {
            c.fetch_add(1, Ordering::Relaxed);
            u.fetch_add(usec, Ordering::Relaxed);
            if failed {
                f.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `(name, calls, usec, failed)` of every command called at least once.
    pub(crate) fn snapshot(&self) -> Vec<(&'static str, u64, u64, u64)> {
        (0..self.names.len())
            .map(|i| {
                let load = |v: &[AtomicU64]| v[i].load(Ordering::Relaxed);
                (
                    self.names[i],
                    load(&self.calls),
                    load(&self.usec),
                    load(&self.failed),
                )
            })
            .filter(|&(_, calls, _, failed)| calls > 0 || failed > 0)
            .collect()
    }

    pub(crate) fn reset(&self) {
        for v in [&self.calls, &self.usec, &self.failed] {
            v.iter().for_each(|a| a.store(0, Ordering::Relaxed));
        }
    }
}
