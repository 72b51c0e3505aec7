//! `INFO commandstats` for the commands the IO layer sees complete: local commands and commands
//! spread over shards (shards count only the commands they run whole).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use worker_shard::{command_table, lookup_command_index};

/// Calls, time and failures per command name, indexed like the command table (subcommands
/// included). One relaxed add per counter per call, no locks.
#[derive(Debug)]
pub(crate) struct CommandStats {
    names: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    /// The slot of each command of the command table, by its index there.
    by_command: Vec<usize>,
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
        // A command's statistics come right before its subcommands'.
        let by_command = command_table()
            .iter()
            .scan(0, |next, s| {
                let at = *next;
                *next += 1 + s.subcommands.len();
                Some(at)
            })
            .collect();
        let zeros = || names.iter().map(|_| AtomicU64::new(0)).collect();
        CommandStats {
            index,
            by_command,
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
        let index = lookup_command_index(args.first()?)?;
        let spec = &command_table()[index];
        match args.get(1) {
            Some(sub) if !spec.subcommands.is_empty() => {
                self.index.get(spec.subcommand(sub)?.name).copied()
            }
            _ => self.by_command.get(index).copied(),
        }
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
