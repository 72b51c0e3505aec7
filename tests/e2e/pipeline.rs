//! Pipelining: many commands in one write, and the same bytes split at awkward boundaries.

use kvd_tests::*;

const COMMANDS: usize = 10_000;

/// 10,000 commands mixing writes and reads, and the exact bytes of the replies in order.
fn workload() -> (Vec<u8>, Vec<u8>) {
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..COMMANDS {
        // Commands 4n and 4n+1 share a key, so each GET reads the SET just before it.
        let key = format!("key:{}", (i / 4) % 97);
        match i % 4 {
            0 => {
                input.extend(encode_command(&["SET", &key, &i.to_string()]));
                expected.extend_from_slice(OK);
            }
            1 => {
                // Reads the value the previous command wrote: order matters.
                input.extend(encode_command(&["GET", &key]));
                expected.extend(bulk((i - 1).to_string()));
            }
            2 => {
                input.extend(encode_command(&["INCR", &format!("ctr:{}", i % 5)]));
                expected.extend(int((i / 20 + 1) as i64));
            }
            _ if i % 8 == 3 => {
                input.extend(encode_command(&["ECHO", &format!("e{i}")]));
                expected.extend(bulk(format!("e{i}")));
            }
            _ => {
                // A multi-key read spanning shards in the middle of the pipeline must still
                // answer in its turn.
                input.extend(encode_command(&["MGET", &key, "nokey", "ctr:0"]));
                expected.extend_from_slice(b"*3\r\n");
                expected.extend(bulk((i - 3).to_string()));
                expected.extend_from_slice(NIL);
                // ctr:0 is incremented by the commands j with j % 4 == 2 and j % 5 == 0, that
                // is j % 20 == 10.
                let incs = if i >= 10 { (i - 10) / 20 + 1 } else { 0 };
                if incs == 0 {
                    expected.extend_from_slice(NIL);
                } else {
                    expected.extend(bulk(incs.to_string()));
                }
            }
        }
    }
    (input, expected)
}

/// Reads replies until `expected.len()` bytes have arrived, frame by frame.
fn read_all(c: &mut RawConn, expected: &[u8]) -> Vec<u8> {
    // Frame by frame, so a missing or extra reply shows up as a timeout or a mismatch.
    let mut got = Vec::with_capacity(expected.len());
    for _ in 0..COMMANDS {
        got.extend(c.read_reply());
    }
    got
}

/// Sends the workload in one write (from another thread, so a server that answers while we
/// still write cannot deadlock the test on full socket buffers) and checks every reply.
fn run_workload(server: &TestServer) {
    let (input, expected) = workload();
    let mut c = server.conn();
    let mut writer = c.try_clone_for_write();
    let handle = std::thread::spawn(move || writer.send(&input));
    let got = read_all(&mut c, &expected);
    handle.join().unwrap();
    assert_reply!(got, expected);
    assert_reply!(c.cmd(&["DBSIZE"]), int(97 + 5));
}

#[test]
fn ten_thousand_commands_in_one_write() {
    run_workload(&TestServer::start());
}

/// The same pipeline where the IO thread hosts every shard (each command runs as it is parsed,
/// straight into the output) and where it hosts one of two (commands on its own shard run at
/// once while earlier ones wait on the other shard): the replies keep their order.
#[test]
fn ten_thousand_commands_with_inline_execution() {
    for workers in [1, 2] {
        run_workload(&TestServer::with(ServerOptions {
            workers,
            io_threads: 1,
            listeners: 1,
            ..ServerOptions::default()
        }));
    }
}

#[test]
fn pipeline_split_at_odd_boundaries() {
    let (input, expected) = workload();
    for chunk in [1usize, 7, 13, 4096] {
        let server = TestServer::start();
        let mut c = server.conn();
        let mut writer = c.try_clone_for_write();
        // One byte at a time for all 10,000 commands is slow over loopback, so the smallest
        // chunk sizes cover a prefix of a few hundred commands plus everything else in one go.
        let limit = if chunk < 100 { 20_000 } else { input.len() };
        let bytes = input.clone();
        let handle = std::thread::spawn(move || {
            for piece in bytes[..limit].chunks(chunk) {
                writer.send(piece);
            }
            writer.send(&bytes[limit..]);
        });
        let got = read_all(&mut c, &expected);
        handle.join().unwrap();
        assert_reply!(got, expected, "for chunk size {chunk}");
    }
}

#[test]
fn select_inside_a_pipeline_applies_in_order() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    // The database switch must apply between the commands around it, even when those go to
    // different shards and all arrive in one read.
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..200 {
        let db = (i % 3).to_string();
        input.extend(encode_command(&["SELECT", &db]));
        expected.extend_from_slice(OK);
        input.extend(encode_command(&["SET", &format!("k{i}"), &db]));
        expected.extend_from_slice(OK);
    }
    for i in 0..200 {
        let db = (i % 3).to_string();
        input.extend(encode_command(&["SELECT", &db]));
        expected.extend_from_slice(OK);
        input.extend(encode_command(&["GET", &format!("k{i}")]));
        expected.extend(bulk(&db));
        input.extend(encode_command(&["SELECT", &((i + 1) % 3).to_string()]));
        expected.extend_from_slice(OK);
        input.extend(encode_command(&["EXISTS", &format!("k{i}")]));
        expected.extend(int(0));
    }
    c.send(&input);
    let mut got = Vec::new();
    for _ in 0..200 * 2 + 200 * 4 {
        got.extend(c.read_reply());
    }
    assert_reply!(got, expected);
    for db in 0..3 {
        c.cmd(&["SELECT", &db.to_string()]);
        assert_reply!(c.cmd(&["DBSIZE"]), int(if db < 2 { 67 } else { 66 }));
    }
}

#[test]
fn redis_crate_client_pipeline() {
    let server = TestServer::start();
    let mut con = server.client();
    // A typed round trip through a real client library, as applications use the server.
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("rc:{i}")).arg(i).ignore();
    }
    pipe.cmd("MGET").arg("rc:0").arg("rc:999").arg("rc:missing");
    pipe.cmd("INCRBY").arg("rc:5").arg(10);
    pipe.cmd("DBSIZE");
    let (values, incr, dbsize): (Vec<Option<i64>>, i64, i64) = pipe.query(&mut con).unwrap();
    assert_eq!(values, vec![Some(0), Some(999), None]);
    assert_eq!(incr, 15);
    assert_eq!(dbsize, 1000);

    let ttl: i64 = redis::cmd("TTL").arg("rc:1").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
    let set: bool = redis::cmd("EXPIRE")
        .arg("rc:1")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert!(set);
    let error = redis::cmd("INCR")
        .arg("rc:1")
        .arg("extra")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "An error was signalled by the server - ResponseError: wrong number of arguments for 'incr' command"
    );
}

#[test]
fn large_values_split_across_reads_and_writes() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    // Values far larger than a socket buffer, each distinct, sent in 1000-byte pieces so every
    // bulk string straddles many reads.
    let values: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            (0..300_000u32)
                .map(|j| (j as u8).wrapping_mul(31) ^ i)
                .collect()
        })
        .collect();
    let mut input = Vec::new();
    for (i, v) in values.iter().enumerate() {
        input.extend(encode_command(&[
            &b"SET"[..],
            format!("big:{i}").as_bytes(),
            v,
        ]));
    }
    let mut mget: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
    mget.extend((0..8).map(|i| format!("big:{i}").into_bytes()));
    input.extend(encode_command(&mget));
    let mut writer = c.try_clone_for_write();
    let handle = std::thread::spawn(move || {
        for piece in input.chunks(1000) {
            writer.send(piece);
        }
    });
    for _ in 0..8 {
        assert_reply!(c.read_reply(), OK);
    }
    // A 2.4 MB reply that fans in from four shards, in argument order.
    assert_reply!(c.read_reply(), bulk_array(&values));
    handle.join().unwrap();
    assert_reply!(c.cmd(&["STRLEN", "big:7"]), int(300_000));
    assert_reply!(
        c.cmd(&["GETRANGE", "big:3", "299998", "-1"]),
        bulk(&values[3][299_998..])
    );
}

/// A pipeline of multi-key commands across shards (`MSET`, `MGET`, `DEL`, `UNLINK`, `EXISTS`,
/// `TOUCH`), run by the server as groups of one transaction each, mixed with single-key
/// commands and commands that end a group: the replies are exactly those of running the
/// commands one by one, in RESP2 and RESP3, on every thread layout.
#[test]
fn pipelined_multi_key_commands_across_shards_answer_in_order() {
    use std::collections::HashMap;

    const N: usize = 3000;
    for (workers, io_threads, resp3) in [(2, 1, false), (4, 2, false), (4, 2, true), (3, 1, true)] {
        let server = TestServer::with(ServerOptions {
            workers,
            io_threads,
            listeners: 1,
            ..ServerOptions::default()
        });
        let mut c = server.conn();
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        let nil: &[u8] = if resp3 { b"_\r\n" } else { NIL };
        let keys: Vec<String> = (0..12).map(|i| format!("sq:{i}")).collect();
        let mut model: HashMap<&str, String> = HashMap::new();
        let mut rng: u64 = 0x9e37_79b9_7f4a_7c15 ^ workers as u64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n as u64) as usize
        };
        let (mut input, mut expected) = (Vec::new(), Vec::new());
        for i in 0..N {
            let (a, b, k) = (&keys[next(12)], &keys[next(12)], &keys[next(12)]);
            let v = i.to_string();
            // Mostly runs of squashable commands, now and then one that ends the run.
            match next(10) {
                0..=2 => {
                    input.extend(encode_command(&["MSET", a, &v, b, &v]));
                    expected.extend_from_slice(OK);
                    model.insert(a, v.clone());
                    model.insert(b, v);
                }
                3 | 4 => {
                    input.extend(encode_command(&["MGET", a, b, k]));
                    expected.extend_from_slice(b"*3\r\n");
                    for key in [a, b, k] {
                        match model.get(key.as_str()) {
                            Some(v) => expected.extend(bulk(v)),
                            None => expected.extend_from_slice(nil),
                        }
                    }
                }
                5 => {
                    let name = if next(2) == 0 { "DEL" } else { "UNLINK" };
                    input.extend(encode_command(&[name, a, b]));
                    let n = model.remove(a.as_str()).is_some() as i64
                        + model.remove(b.as_str()).is_some() as i64;
                    expected.extend(int(n));
                }
                6 => {
                    // Both count a key named twice twice, as in Redis.
                    let name = if next(2) == 0 { "EXISTS" } else { "TOUCH" };
                    input.extend(encode_command(&[name, a, b, k]));
                    let n = [a, b, k]
                        .iter()
                        .filter(|key| model.contains_key(key.as_str()))
                        .count();
                    expected.extend(int(n as i64));
                }
                7 => {
                    input.extend(encode_command(&["SET", k, &v]));
                    expected.extend_from_slice(OK);
                    model.insert(k, v);
                }
                8 => {
                    input.extend(encode_command(&["GET", k]));
                    match model.get(k.as_str()) {
                        Some(v) => expected.extend(bulk(v)),
                        None => expected.extend_from_slice(nil),
                    }
                }
                _ => {
                    input.extend(encode_command(&["ECHO", &v]));
                    expected.extend(bulk(&v));
                }
            }
        }
        let mut writer = c.try_clone_for_write();
        let handle = std::thread::spawn(move || writer.send(&input));
        let mut got = Vec::with_capacity(expected.len());
        for _ in 0..N {
            got.extend(c.read_reply());
        }
        handle.join().unwrap();
        assert_reply!(got, expected);
        assert_reply!(c.cmd(&["DBSIZE"]), int(model.len() as i64));
    }
}

/// Errors, `CLIENT REPLY SKIP` and `INFO commandstats` around commands run as one group.
#[test]
fn pipelined_multi_key_commands_keep_errors_skips_and_stats_per_command() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        io_threads: 1,
        listeners: 1,
        ..ServerOptions::default()
    });
    let k = keys_on_different_shards("grp", 3, 4);
    let (a, b, c3) = (k[0].as_str(), k[1].as_str(), k[2].as_str());
    let mut c = server.conn();
    assert_reply!(c.cmd(&["CONFIG", "RESETSTAT"]), OK);
    let pipeline: Vec<Vec<u8>> = vec![
        encode_command(&["MSET", a, "1", b, "2"]),
        encode_command(&["MSET", a, "1", b]),
        encode_command(&["MGET", a, b, c3]),
        encode_command(&["LPUSH", c3, "x"]),
        encode_command(&["MGET", a, c3]),
        encode_command(&["DEL", a, c3]),
        encode_command(&["CLIENT", "REPLY", "SKIP"]),
        encode_command(&["MSET", a, "3", c3, "4"]),
        encode_command(&["MGET", a, b, c3]),
        encode_command(&["EXISTS", a, a, b]),
    ];
    c.send(&pipeline.concat());
    let expected: Vec<Vec<u8>> = vec![
        OK.to_vec(),
        err("ERR wrong number of arguments for 'mset' command"),
        [b"*3\r\n".to_vec(), bulk("1"), bulk("2"), NIL.to_vec()].concat(),
        int(1),
        // MGET answers nil for a key of another type.
        [b"*2\r\n".to_vec(), bulk("1"), NIL.to_vec()].concat(),
        int(2),
        // CLIENT REPLY SKIP: neither it nor the MSET after it answers.
        [b"*3\r\n".to_vec(), bulk("3"), bulk("2"), bulk("4")].concat(),
        int(3),
    ];
    for want in expected {
        assert_reply!(c.read_reply(), want);
    }
    let stats = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "commandstats"]))).unwrap();
    let calls = |name: &str| {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map(|n| n.parse::<i64>().unwrap())
    };
    assert_eq!(calls("mset"), Some(2), "{stats}");
    assert_eq!(calls("mget"), Some(3), "{stats}");
    assert_eq!(calls("del"), Some(1), "{stats}");
    assert_eq!(calls("exists"), Some(1), "{stats}");
}

/// A connection's own pipelined multi-key write, run in a group, still touches the keys it
/// watches: its `EXEC` fails, as in Redis.
#[test]
fn a_grouped_write_touches_the_connections_own_watched_keys() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        io_threads: 1,
        listeners: 1,
        ..ServerOptions::default()
    });
    let k = keys_on_different_shards("own", 3, 4);
    let mut c = server.conn();
    assert_reply!(c.cmd(&["WATCH", &k[0]]), OK);
    c.send(
        &[
            encode_command(&["MSET", &k[0], "1", &k[1], "2"]),
            encode_command(&["MGET", &k[0], &k[2]]),
            encode_command(&["MULTI"]),
            encode_command(&["SET", &k[2], "3"]),
            encode_command(&["EXEC"]),
        ]
        .concat(),
    );
    assert_reply!(c.read_reply(), OK);
    assert_reply!(
        c.read_reply(),
        [b"*2\r\n".to_vec(), bulk("1"), NIL.to_vec()].concat()
    );
    assert_reply!(c.read_reply(), OK);
    assert_reply!(c.read_reply(), b"+QUEUED\r\n");
    assert_reply!(c.read_reply(), b"*-1\r\n");
    assert_reply!(c.cmd(&["EXISTS", &k[2]]), int(0));
}
