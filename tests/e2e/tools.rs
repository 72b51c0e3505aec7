//! The real Redis tools against the server: redis-cli and a short redis-benchmark.

use kvd_tests::*;

#[test]
fn redis_cli_ping_scan_info() {
    let server = TestServer::start();
    let port = server.port().to_string();
    let (ok, out, stderr) = run_tool("redis-cli", &["-p", &port, "ping"]);
    assert!(ok, "{stderr}");
    assert_reply!(out, "PONG\n");

    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2", "c", "3"]), OK);
    let (ok, out, stderr) = run_tool("redis-cli", &["-p", &port, "--scan"]);
    assert!(ok, "{stderr}");
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);

    let (ok, out, stderr) = run_tool("redis-cli", &["-p", &port, "--scan", "--pattern", "b*"]);
    assert!(ok, "{stderr}");
    assert_reply!(out, "b\n");

    let (ok, out, stderr) = run_tool("redis-cli", &["-p", &port, "info", "server"]);
    assert!(ok, "{stderr}");
    // redis-cli prints INFO with the CRLFs it received.
    assert!(out.starts_with("# Server\r\n"), "{out:?}");
    assert!(out.contains("\r\nredis_version:"), "{out:?}");
    assert!(out.contains(&format!("\r\ntcp_port:{port}\r\n")), "{out:?}");

    let (ok, out, _) = run_tool("redis-cli", &["-p", &port, "get", "b"]);
    assert!(ok);
    assert_reply!(out, "2\n");
    let (ok, out, _) = run_tool("redis-cli", &["-p", &port, "nosuchcommand"]);
    assert!(ok);
    // Without a TTY redis-cli prints the error text and an extra blank line.
    assert_reply!(
        out,
        "ERR unknown command 'nosuchcommand', with args beginning with: \n\n"
    );
}

#[test]
fn redis_benchmark_smoke() {
    let server = TestServer::start();
    let port = server.port().to_string();
    let (ok, out, stderr) = run_tool(
        "redis-benchmark",
        &[
            "-p",
            &port,
            "-q",
            "-n",
            "2000",
            "-t",
            "ping,set,get,incr,mset",
        ],
    );
    assert!(ok, "redis-benchmark failed: {stderr}\n{out}");
    // redis-benchmark -q prints one "NAME: N requests per second" line per test; a reply
    // error aborts it or prints "Error".
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        assert!(
            // Progress lines are overwritten with `\r`, so split on both line ends.
            out.split(['\r', '\n'])
                .any(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second")),
            "no result for {test} in {out:?}"
        );
    }
    assert!(!out.contains("rror"), "{out:?}");
    assert!(!stderr.contains("rror"), "{stderr:?}");
    // The benchmark's writes are visible.
    let mut c = server.conn();
    assert_reply!(c.cmd(&["EXISTS", "key:__rand_int__"]), int(1));
    assert_reply!(c.cmd(&["GET", "counter:__rand_int__"]), bulk("2000"));
}
