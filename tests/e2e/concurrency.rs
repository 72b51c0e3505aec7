//! Many clients at once, hash tags, and multi-key commands spanning shards.

use std::thread;

use kvd_tests::*;
use partition_router::shard_for;

#[test]
fn hundred_connections_get_their_own_replies() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        io_threads: 2,
        ..ServerOptions::default()
    });
    let addr = server.addr();
    let threads: Vec<_> = (0..100)
        .map(|t| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..50 {
                    let key = format!("c{t}:k{i}");
                    let value = format!("t{t}-i{i}");
                    // Pipeline three commands whose replies identify this client and step.
                    c.send_cmd(&["SET", &key, &value]);
                    c.send_cmd(&["GET", &key]);
                    c.send_cmd(&["ECHO", &value]);
                    assert_reply!(c.read_reply(), OK);
                    assert_reply!(c.read_reply(), bulk(&value));
                    assert_reply!(c.read_reply(), bulk(&value));
                }
                // Each client sees some multiple of 50 of the shared counter; the final GET
                // pins the total.
                let n = as_int(&c.cmd(&["INCRBY", "shared", "50"]));
                assert!(n % 50 == 0 && (50..=5000).contains(&n), "{n}");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut c = server.conn();
    assert_reply!(c.cmd(&["DBSIZE"]), int(100 * 50 + 1));
    assert_reply!(c.cmd(&["GET", "shared"]), bulk("5000"));
}

#[test]
fn hash_tagged_keys_share_a_shard_and_both_serve() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    assert_eq!(
        shard_for(b"{user1}:a", workers),
        shard_for(b"{user1}:b", workers)
    );
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "{user1}:a", "1"]), OK);
    assert_reply!(c.cmd(&["SET", "{user1}:b", "2"]), OK);
    assert_reply!(
        c.cmd(&["MGET", "{user1}:a", "{user1}:b"]),
        bulk_array(&["1", "2"])
    );
    assert_reply!(c.cmd(&["RENAME", "{user1}:a", "{user1}:c"]), OK);
    assert_reply!(c.cmd(&["GET", "{user1}:c"]), bulk("1"));
    assert_reply!(
        c.cmd(&["EXISTS", "{user1}:a", "{user1}:b", "{user1}:c"]),
        int(2)
    );
}

#[test]
fn mget_mset_span_every_shard() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    // Keys chosen so that every shard owns at least one, interleaved in argument order.
    let keys: Vec<String> = (0..40).map(|i| format!("span:{i}")).collect();
    let shards: std::collections::HashSet<usize> = keys
        .iter()
        .map(|k| shard_for(k.as_bytes(), workers))
        .collect();
    assert_eq!(shards.len(), workers);
    let mut mset = vec!["MSET".to_string()];
    for (i, k) in keys.iter().enumerate() {
        mset.push(k.clone());
        mset.push(format!("v{i}"));
    }
    let mut c = server.conn();
    assert_reply!(c.cmd(&mset), OK);
    let mut mget = vec!["MGET".to_string()];
    mget.extend(keys.iter().cloned());
    mget.insert(5, "missing".into());
    let mut expected: Vec<Option<String>> = (0..40).map(|i| Some(format!("v{i}"))).collect();
    expected.insert(4, None);
    let mut bytes = format!("*{}\r\n", expected.len()).into_bytes();
    for e in &expected {
        match e {
            Some(v) => bytes.extend(bulk(v)),
            None => bytes.extend_from_slice(NIL),
        }
    }
    // Replies come back in argument order, whichever shard answered first.
    assert_reply!(c.cmd(&mget), bytes);
    let mut del = vec!["DEL".to_string()];
    del.extend(keys.iter().cloned());
    assert_reply!(c.cmd(&del), int(40));

    // Four clients MSET the same keys concurrently. MSETs execute one at a time (each is
    // atomic), so the last one executed wins on every key: all 40 keys hold the same value,
    // and it is some writer's last round.
    let addr = server.addr();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let keys = keys.clone();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for round in 0..20 {
                    let mut cmd = vec!["MSET".to_string()];
                    for k in &keys {
                        cmd.push(k.clone());
                        cmd.push(format!("w{w}r{round}"));
                    }
                    assert_reply!(c.cmd(&cmd), OK);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let mut mget = vec!["MGET".to_string()];
    mget.extend(keys.iter().cloned());
    let values = bulk_items(&c.cmd(&mget));
    assert_eq!(values.len(), 40);
    let text: Vec<String> = values
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(text[0].ends_with("r19"), "{text:?}");
    assert!(
        text.iter().all(|v| *v == text[0]),
        "MSETs interleaved: {text:?}"
    );
}

/// Two keys that a server with `workers` shards places on different shards.
fn pair_on_different_shards(prefix: &str, workers: usize) -> (String, String) {
    let first = format!("{prefix}:x");
    let home = shard_for(first.as_bytes(), workers);
    let second = (0..)
        .map(|i| format!("{prefix}:y{i}"))
        .find(|k| shard_for(k.as_bytes(), workers) != home)
        .unwrap();
    (first, second)
}

#[test]
fn mset_is_atomic_across_shards() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    let (x, y) = pair_on_different_shards("atomic", workers);
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", &x, "init", &y, "init"]), OK);
    let addr = server.addr();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (x, y) = (x.clone(), y.clone());
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for n in 0..300 {
                    let v = format!("w{w}n{n}");
                    assert_reply!(c.cmd(&["MSET", &x, &v, &y, &v]), OK);
                }
            })
        })
        .collect();
    // The MSET documentation promises that no client ever sees some of the keys updated and
    // others not: every MGET must show one writer's step on both keys.
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) || reads < 100 {
        let values = bulk_items(&c.cmd(&["MGET", &x, &y]));
        assert_eq!(
            values[0],
            values[1],
            "MGET saw a half-applied MSET: {:?}",
            values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
        );
        reads += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn msetnx_is_all_or_nothing_across_shards() {
    let workers = 4;
    let server = TestServer::with(ServerOptions {
        workers,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let (x, y) = pair_on_different_shards("nx", workers);
    // An existing key on one shard blocks the write on the other.
    assert_reply!(c.cmd(&["SET", &y, "old"]), OK);
    assert_reply!(c.cmd(&["MSETNX", &x, "1", &y, "1"]), int(0));
    assert_reply!(c.cmd(&["EXISTS", &x]), int(0));
    assert_reply!(c.cmd(&["DEL", &y]), int(1));

    // Two clients race MSETNX over the same two keys, round after round: exactly one wins
    // each round, and both keys hold the winner's value.
    let addr = server.addr();
    for round in 0..50 {
        let (kx, ky) = (format!("{x}{round}"), format!("{y}{round}"));
        let racers: Vec<_> = (0..2)
            .map(|r| {
                let (kx, ky) = (kx.clone(), ky.clone());
                thread::spawn(move || {
                    let mut c = RawConn::connect(addr);
                    let v = format!("r{r}");
                    (as_int(&c.cmd(&["MSETNX", &kx, &v, &ky, &v])), v)
                })
            })
            .collect();
        let results: Vec<(i64, String)> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<&String> = results
            .iter()
            .filter(|(won, _)| *won == 1)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert_reply!(
            c.cmd(&["MGET", &kx, &ky]),
            bulk_array(&[winners[0], winners[0]]),
            "round {round}"
        );
    }
}

#[test]
fn every_thread_layout_serves_the_same_replies() {
    // (workers, io_threads, listeners): one of everything, more shards than IO threads, and
    // more IO threads than shards.
    for (workers, io_threads, listeners) in [(1, 1, 1), (8, 1, 1), (3, 3, 3)] {
        let server = TestServer::with(ServerOptions {
            workers,
            io_threads,
            listeners,
            ..ServerOptions::default()
        });
        let layout = format!("workers={workers} io={io_threads} listeners={listeners}");
        let mut conns: Vec<RawConn> = (0..6).map(|_| server.conn()).collect();
        for (n, c) in conns.iter_mut().enumerate() {
            for i in 0..20 {
                assert_reply!(
                    c.cmd(&["SET", &format!("l{n}:{i}"), &i.to_string()]),
                    OK,
                    "{layout}"
                );
            }
        }
        let c = &mut conns[0];
        assert_reply!(c.cmd(&["DBSIZE"]), int(120), "{layout}");
        assert_reply!(
            c.cmd(&["MGET", "l0:1", "l5:19", "nope"]),
            b"*3\r\n$1\r\n1\r\n$2\r\n19\r\n$-1\r\n",
            "{layout}"
        );
        assert_reply!(c.cmd(&["RENAME", "l1:0", "moved"]), OK, "{layout}");
        assert_reply!(c.cmd(&["GET", "moved"]), bulk("0"), "{layout}");
        assert_eq!(bulk_items(&c.cmd(&["KEYS", "l3:*"])).len(), 20, "{layout}");
        assert_reply!(c.cmd(&["FLUSHALL"]), OK, "{layout}");
        assert_reply!(c.cmd(&["DBSIZE"]), int(0), "{layout}");
    }
}

/// Both values of `thread-layout` (IO threads hosting shards, and a worker thread per shard),
/// each with as many, fewer and more shards than IO threads, serve the same replies, including
/// concurrent atomic commands over shards that different threads run.
#[cfg(feature = "kvd")]
#[test]
fn shared_and_separate_thread_layouts_serve_the_same_replies() {
    for layout in [kvd::ThreadLayout::Shared, kvd::ThreadLayout::Separate] {
        for (workers, io_threads) in [(2, 2), (1, 2), (4, 2), (1, 1)] {
            let mut config = kvd::Config::for_tests();
            config.workers = workers;
            config.io_threads = io_threads;
            config.thread_layout = layout;
            let server = kvd::Server::start(config).expect("kvd starts");
            let addr = server.local_addr();
            let name = format!("{} workers={workers} io={io_threads}", layout.as_str());

            // Writers on several connections (spread over the IO threads), then pipelined
            // reads whose replies come from every shard and must stay in request order.
            let writers: Vec<_> = (0..4)
                .map(|t| {
                    thread::spawn(move || {
                        let mut c = RawConn::connect(addr);
                        for i in 0..50 {
                            let key = format!("t{t}:{i}");
                            assert_eq!(c.cmd(&["SET", &key, &i.to_string()]), b"+OK\r\n");
                        }
                    })
                })
                .collect();
            writers.into_iter().for_each(|w| w.join().expect("writer"));
            let mut c = RawConn::connect(addr);
            assert_reply!(c.cmd(&["DBSIZE"]), int(200), "{name}");
            let mut pipeline = Vec::new();
            let mut expected = Vec::new();
            for i in 0..50 {
                for t in 0..4 {
                    let key = format!("t{t}:{i}");
                    pipeline.extend_from_slice(
                        format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).as_bytes(),
                    );
                    expected.extend_from_slice(
                        format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes(),
                    );
                }
            }
            c.send(&pipeline);
            let mut got = Vec::new();
            for _ in 0..200 {
                got.extend_from_slice(&c.read_reply());
            }
            assert_eq!(got, expected, "{name}");

            // Concurrent MSETs over two shards (when there are two): every key ends with the
            // same writer's value.
            let (x, y) = pair_on_different_shards("layout", workers.max(2));
            let racers: Vec<_> = (0..4)
                .map(|t| {
                    let (x, y) = (x.clone(), y.clone());
                    thread::spawn(move || {
                        let mut c = RawConn::connect(addr);
                        for _ in 0..25 {
                            let v = t.to_string();
                            assert_eq!(c.cmd(&["MSET", &x, &v, &y, &v]), b"+OK\r\n");
                        }
                    })
                })
                .collect();
            racers.into_iter().for_each(|r| r.join().expect("racer"));
            let both = c.cmd(&["MGET", &x, &y]);
            let items = bulk_items(&both);
            assert_eq!(items.len(), 2, "{name}");
            assert_eq!(items[0], items[1], "{name}");
            assert_reply!(c.cmd(&["FLUSHALL"]), OK, "{name}");
            assert_reply!(c.cmd(&["DBSIZE"]), int(0), "{name}");
            server.shutdown();
        }
    }
}
