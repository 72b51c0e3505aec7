//! Servers under test: what to run (kvd, a redis-server-like binary, or an address someone
//! else runs), starting one on a free loopback port with persistence off, waiting for it to
//! answer PING, stopping it by the PID we started, and reading its CPU time and RSS from /proc.
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How to get a server to benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ServerSpec {
    /// A binary taking redis-server's flags (`--port --bind --save '' --appendonly no`), plus
    /// extra arguments.
    Binary {
        name: String,
        path: PathBuf,
        extra_args: Vec<String>,
    },
    /// A server someone else runs; no /proc figures for it.
    Remote { addr: SocketAddr },
}

impl ServerSpec {
    /// Parses an `--against` value: `host:port`, a path, or a program name found on PATH.
    pub(crate) fn parse(s: &str) -> Result<ServerSpec> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(ServerSpec::Remote { addr });
        }
        if let Some((host, port)) = s.rsplit_once(':')
            && !s.contains('/')
            && port.parse::<u16>().is_ok()
        {
            use std::net::ToSocketAddrs;
            let addr = (host, port.parse::<u16>()?)
                .to_socket_addrs()
                .with_context(|| format!("resolving {s}"))?
                .next()
                .ok_or_else(|| anyhow!("{s} resolves to no address"))?;
            return Ok(ServerSpec::Remote { addr });
        }
        let path = if s.contains('/') {
            PathBuf::from(s)
        } else {
            which(s).ok_or_else(|| anyhow!("`{s}` is neither host:port, a path, nor on PATH"))?
        };
        if !path.is_file() {
            bail!("{} is not a file", path.display());
        }
        let name = path
            .file_name()
            .map_or_else(|| s.to_string(), |n| n.to_string_lossy().into_owned());
        Ok(ServerSpec::Binary {
            name,
            path,
            extra_args: Vec::new(),
        })
    }

    /// kvd at `path`, with extra arguments split on whitespace (`--kvd-args "--workers 2"`).
    pub(crate) fn kvd(path: PathBuf, kvd_args: Option<&str>) -> ServerSpec {
        ServerSpec::Binary {
            name: "kvd".into(),
            path,
            extra_args: kvd_args
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect(),
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            ServerSpec::Binary { name, .. } => name.clone(),
            ServerSpec::Remote { addr } => addr.to_string(),
        }
    }
}

/// Looks `program` up on PATH.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A running server; stopped (by PID) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    child: Option<Child>,
}

impl Server {
    /// Starts `spec` on a free loopback port (or checks that a remote one answers) and waits
    /// until it answers PING. The server's output goes to `log_dir/<name>-<port>.log`.
    pub(crate) fn start(spec: &ServerSpec, log_dir: &Path) -> Result<Server> {
        match spec {
            ServerSpec::Remote { addr } => {
                wait_for_ping(*addr, None, Duration::from_secs(5))?;
                Ok(Server {
                    addr: *addr,
                    child: None,
                })
            }
            ServerSpec::Binary {
                name,
                path,
                extra_args,
            } => {
                // Another process may take the free port between our probe and the server's
                // bind; a second port almost always works.
                let mut last_err = None;
                for _ in 0..3 {
                    match Self::spawn(name, path, extra_args, log_dir) {
                        Ok(s) => return Ok(s),
                        Err(e) => last_err = Some(e),
                    }
                }
                Err(last_err.expect("at least one attempt"))
            }
        }
    }

    fn spawn(name: &str, path: &Path, extra: &[String], log_dir: &Path) -> Result<Server> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        std::fs::create_dir_all(log_dir)?;
        let log_path = log_dir.join(format!("{name}-{port}.log"));
        let log = File::create(&log_path)?;
        let child = Command::new(path)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let mut server = Server {
            addr,
            child: Some(child),
        };
        wait_for_ping(addr, server.child.as_mut(), Duration::from_secs(10)).with_context(|| {
            format!(
                "{name} did not come up (its output: {})",
                log_path.display()
            )
        })?;
        Ok(server)
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU time and RSS of the server process, if we started it.
    pub(crate) fn stats(&self) -> Option<ProcStats> {
        ProcStats::of(self.pid()?)
    }

    /// Stops the server (SIGKILL to the PID we started; persistence is off so nothing is lost).
    pub(crate) fn stop(mut self) -> Result<()> {
        self.kill()
    }

    fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            if child.try_wait()?.is_none() {
                child.kill().context("stopping server")?;
            }
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
pub(crate) fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("probing for a free port")?;
    Ok(l.local_addr()?.port())
}

/// Polls PING every 10 ms until `+PONG` or the timeout; gives up early if `child` exits.
fn wait_for_ping(addr: SocketAddr, mut child: Option<&mut Child>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Some(status) = c.try_wait()?
        {
            bail!("server exited with {status} before answering PING");
        }
        match ping(addr) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).context(format!("no PONG from {addr} within {timeout:?}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Sends one PING and expects exactly `+PONG\r\n`.
pub(crate) fn ping(addr: SocketAddr) -> Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    s.write_all(b"*1\r\n$4\r\nPING\r\n")?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf)?;
    if &buf != b"+PONG\r\n" {
        bail!(
            "unexpected reply to PING: {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
    Ok(())
}

/// A process's CPU time and resident memory, from /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStats {
    /// utime + stime, in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// cutime + cstime (waited-for children), in clock ticks.
    pub(crate) children_cpu_ticks: u64,
    /// VmRSS in KiB.
    pub(crate) rss_kib: u64,
}

impl ProcStats {
    pub(crate) fn of(pid: u32) -> Option<ProcStats> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let (cpu_ticks, children_cpu_ticks) = parse_stat_cpu(&stat)?;
        Some(ProcStats {
            cpu_ticks,
            children_cpu_ticks,
            rss_kib: parse_vm_rss(&status)?,
        })
    }

    /// This process (the load generator).
    pub(crate) fn own() -> Option<ProcStats> {
        ProcStats::of(std::process::id())
    }
}

/// `(utime + stime, cutime + cstime)` from a /proc/PID/stat line. The command name in field 2
/// may contain spaces and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat_cpu(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some((n(11)? + n(12)?, n(13)? + n(14)?))
}

/// `VmRSS` in KiB from /proc/PID/status.
pub(crate) fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we run on).
pub(crate) fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_fields_after_a_tricky_name() {
        let line = "4242 (redis ) (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    150 25 7 3 20 0 5 0 123456 10000000 2000 18446744073709551615";
        assert_eq!(parse_stat_cpu(line), Some((175, 10)));
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn vm_rss_in_kib() {
        let status = "Name:\tredis-server\nVmPeak:\t  100 kB\nVmRSS:\t    8192 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(status), Some(8192));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn against_values() {
        assert_eq!(
            ServerSpec::parse("127.0.0.1:6379").unwrap(),
            ServerSpec::Remote {
                addr: "127.0.0.1:6379".parse().unwrap()
            }
        );
        assert!(matches!(
            ServerSpec::parse("localhost:6380").unwrap(),
            ServerSpec::Remote { addr } if addr.port() == 6380
        ));
        assert!(matches!(
            ServerSpec::parse("/bin/sh").unwrap(),
            ServerSpec::Binary { name, .. } if name == "sh"
        ));
        assert!(ServerSpec::parse("/no/such/server").is_err());
        assert!(ServerSpec::parse("no-such-program-on-path").is_err());
    }

    #[test]
    fn own_stats_are_readable() {
        let s = ProcStats::own().unwrap();
        assert!(s.rss_kib > 0);
    }
}
