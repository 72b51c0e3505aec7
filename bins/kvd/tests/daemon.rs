//! The `kvd` binary: startup line, serving, exit status after SHUTDOWN, startup errors.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};

fn kvd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kvd"));
    command.env("RUST_LOG", "info");
    command
}

#[test]
fn starts_redis_style_serves_and_exits_zero_after_shutdown() {
    let mut child = kvd()
        .args([
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
            "--workers",
            "2",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    // The startup line names the address; with port 0 it is the only way to learn the port.
    let mut addr: Option<SocketAddr> = None;
    let mut line = String::new();
    while addr.is_none() {
        line.clear();
        assert_ne!(log.read_line(&mut line).unwrap(), 0, "kvd exited early");
        if line.contains("ready to accept connections") {
            let start = line.find("addr=").unwrap() + "addr=".len();
            let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
            addr = Some(line[start..end].trim().parse().unwrap());
            assert!(line.contains("workers=2"), "{line}");
            assert!(line.contains("version=\"0.1.0\""), "{line}");
        }
    }
    let mut client = TcpStream::connect(addr.unwrap()).unwrap();
    client.write_all(b"PING\r\nSHUTDOWN\r\n").unwrap();
    let mut replies = Vec::new();
    client.read_to_end(&mut replies).unwrap();
    assert_eq!(replies, b"+PONG\r\n");
    assert!(child.wait().unwrap().success());
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("kvd exits"), "{rest}");
}

#[test]
fn a_redis_setting_kvd_lacks_stops_startup_by_name() {
    let output = kvd()
        .args(["--port", "0", "--daemonize", "yes"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(
            "--daemonize: setting 'daemonize yes' is not supported: kvd does not daemonize; run it under a supervisor"
        ),
        "{stderr}"
    );
}
