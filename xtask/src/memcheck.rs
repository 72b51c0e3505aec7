//! `cargo xtask memcheck`: does `used_memory` follow the process's real memory?
//!
//! For each data shape, starts a fresh release kvd, warms it up with 2% as many elements on
//! other keys, then loads `--elements` elements (pipelined, 1000 commands per round trip) and
//! compares the growth of `INFO memory`'s `used_memory` with the growth of the server's
//! resident set (`used_memory_rss`, read from /proc). A ratio within 0.9..=1.1 passes; the
//! exit status is non-zero if any shape fails.
//!
//! ```text
//! cargo xtask memcheck                      # every shape, 1M elements
//! cargo xtask memcheck --shape string hash  # some of them
//! ```
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::bench::server::{Server, ServerSpec};

/// Arguments of `cargo xtask memcheck`.
#[derive(Debug, clap::Args)]
pub(crate) struct MemcheckArgs {
    /// Elements loaded per shape.
    #[arg(long, default_value_t = 1_000_000)]
    elements: usize,
    /// Only these shapes (default: all).
    #[arg(long, num_args = 1..)]
    shape: Vec<String>,
    /// Use this kvd binary instead of building one with `cargo build --release -p kvd`.
    #[arg(long, value_name = "PATH")]
    kvd: Option<PathBuf>,
    /// Extra arguments for kvd, split on whitespace (e.g. "--workers 2").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    kvd_args: Option<String>,
}

/// A data shape: its name and the command that adds element `i`.
struct Shape {
    name: &'static str,
    command: fn(usize) -> Vec<String>,
}

fn cmd(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "string",
        command: |i| cmd(&["SET", &format!("key:{i:012}"), &format!("value:{i:08}")]),
    },
    Shape {
        name: "hash-100",
        command: |i| {
            cmd(&[
                "HSET",
                &format!("hash:{}", i / 100),
                &format!("field:{i}"),
                &format!("v{i}"),
            ])
        },
    },
    Shape {
        name: "hash-10k",
        command: |i| {
            cmd(&[
                "HSET",
                &format!("hash:{}", i / 10_000),
                &format!("field:{i}"),
                &format!("v{i}"),
            ])
        },
    },
    Shape {
        name: "set-100",
        command: |i| cmd(&["SADD", &format!("set:{}", i / 100), &format!("member:{i}")]),
    },
    Shape {
        name: "set-10k",
        command: |i| {
            cmd(&[
                "SADD",
                &format!("set:{}", i / 10_000),
                &format!("member:{i}"),
            ])
        },
    },
    Shape {
        name: "intset-100",
        command: |i| cmd(&["SADD", &format!("set:{}", i / 100), &i.to_string()]),
    },
    Shape {
        name: "list-100",
        command: |i| {
            cmd(&[
                "RPUSH",
                &format!("list:{}", i / 100),
                &format!("element:{i}"),
            ])
        },
    },
    Shape {
        name: "list-10k",
        command: |i| {
            cmd(&[
                "RPUSH",
                &format!("list:{}", i / 10_000),
                &format!("element:{i}"),
            ])
        },
    },
    Shape {
        name: "zset-100",
        command: |i| {
            cmd(&[
                "ZADD",
                &format!("zset:{}", i / 100),
                &i.to_string(),
                &format!("member:{i}"),
            ])
        },
    },
    Shape {
        name: "zset-10k",
        command: |i| {
            cmd(&[
                "ZADD",
                &format!("zset:{}", i / 10_000),
                &i.to_string(),
                &format!("member:{i}"),
            ])
        },
    },
];

pub(crate) fn memcheck(args: MemcheckArgs) -> Result<()> {
    let root = crate::bench::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let kvd = match args.kvd {
        Some(path) => path,
        None => crate::bench::build_kvd(&root, &target).context("building kvd")?,
    };
    let spec = ServerSpec::kvd(kvd, args.kvd_args.as_deref());
    let log_dir = target.join("memcheck");
    let mut failed = Vec::new();
    println!("shape        elements  used_memory +MB    RSS +MB  used/RSS");
    for shape in SHAPES {
        if !args.shape.is_empty() && !args.shape.iter().any(|s| shape.name.contains(s.as_str())) {
            continue;
        }
        let server = Server::start(&spec, &log_dir)?;
        let mut conn = Conn::connect(&server)?;
        // A warm-up of 2% more elements (other keys) first: the buffers of pipelined batches
        // and the allocator's arenas reach their working size, which is not data.
        let warm = (args.elements / 50).max(1000);
        conn.load(shape, args.elements..args.elements + warm)?;
        conn.reply_to(&["PING"])?;
        let (used0, rss0) = conn.memory()?;
        conn.load(shape, 0..args.elements)?;
        // Statistics are published once per worker pass: one more round trip sees them.
        conn.reply_to(&["PING"])?;
        let (used1, rss1) = conn.memory()?;
        server.stop()?;
        let used = used1.saturating_sub(used0) as f64;
        let rss = rss1.saturating_sub(rss0) as f64;
        let ratio = used / rss.max(1.0);
        let ok = (0.9..=1.1).contains(&ratio);
        println!(
            "{:<12} {:>8} {:>16.1} {:>10.1} {:>9.3}{}",
            shape.name,
            args.elements,
            used / 1e6,
            rss / 1e6,
            ratio,
            if ok { "" } else { "  (off by more than 10%)" }
        );
        if !ok {
            failed.push(shape.name);
        }
    }
    if !failed.is_empty() {
        bail!(
            "used_memory is off by more than 10% for {}",
            failed.join(", ")
        );
    }
    Ok(())
}

fn encode(out: &mut Vec<u8>, args: &[String]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

/// A plain RESP connection that reads one reply line (or bulk) at a time.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn connect(server: &Server) -> Result<Conn> {
        let stream = TcpStream::connect(server.addr)?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Conn { stream, reader })
    }

    /// One reply; a bulk string's payload, any other type's line.
    fn reply(&mut self) -> Result<String> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$') {
            let len: i64 = len.parse().context("bulk length")?;
            if len < 0 {
                return Ok(String::new());
            }
            let mut payload = vec![0; len as usize + 2];
            self.reader.read_exact(&mut payload)?;
            payload.truncate(len as usize);
            return Ok(String::from_utf8_lossy(&payload).into_owned());
        }
        Ok(line)
    }

    fn reply_to(&mut self, args: &[&str]) -> Result<String> {
        let mut buf = Vec::new();
        encode(
            &mut buf,
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        self.stream.write_all(&buf)?;
        self.reply()
    }

    /// Sends the shape's commands for `range`, 1000 per round trip.
    fn load(&mut self, shape: &Shape, range: std::ops::Range<usize>) -> Result<()> {
        for start in range.clone().step_by(1000) {
            let end = (start + 1000).min(range.end);
            let mut buf = Vec::new();
            for i in start..end {
                encode(&mut buf, &(shape.command)(i));
            }
            self.stream.write_all(&buf)?;
            for _ in start..end {
                let reply = self.reply()?;
                if reply.starts_with('-') {
                    bail!("{}: the server answered {reply}", shape.name);
                }
            }
        }
        Ok(())
    }

    /// `used_memory` and `used_memory_rss`.
    fn memory(&mut self) -> Result<(u64, u64)> {
        let info = self.reply_to(&["INFO", "memory"])?;
        let field = |name: &str| -> Result<u64> {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .with_context(|| format!("{name} in INFO memory"))
        };
        Ok((field("used_memory")?, field("used_memory_rss")?))
    }
}
