//! Expiry: lazy (a key is gone when read after its deadline) and active (keys nobody touches
//! are reclaimed in the background).

use std::time::{Duration, Instant};

use kvd_tests::*;

#[test]
fn lazy_expiry_hides_expired_keys() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "keep", "v"]), OK);
    // Taken before the SET is sent, so the key's deadline is at least 50 ms after it.
    let start = Instant::now();
    assert_reply!(c.cmd(&["SET", "k", "v", "PX", "50"]), OK);
    // Poll until it is gone; the deadline bounds a server that never expires.
    poll_until(|| (c.cmd(&["GET", "k"]) == NIL).then_some(()));
    // One millisecond of slack for a server clock read at millisecond resolution.
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(49),
        "expired after {elapsed:?}, before its 50 ms"
    );
    assert_reply!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_reply!(c.cmd(&["TTL", "k"]), int(-2));
    assert_reply!(c.cmd(&["GET", "keep"]), bulk("v"));
    // An expired key is really gone: SET NX succeeds and the old TTL does not linger.
    assert_reply!(c.cmd(&["SET", "k", "new", "NX"]), OK);
    assert_reply!(c.cmd(&["TTL", "k"]), int(-1));

    // Every read path honours the deadline, not only GET.
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2"]), OK);
    assert_reply!(c.cmd(&["PEXPIRE", "a", "30"]), int(1));
    assert_reply!(c.cmd(&["PEXPIRE", "b", "30"]), int(1));
    poll_until(|| (c.cmd(&["EXISTS", "a", "b"]) == int(0)).then_some(()));
    assert_reply!(c.cmd(&["MGET", "a", "b"]), b"*2\r\n$-1\r\n$-1\r\n");
    assert_reply!(c.cmd(&["STRLEN", "a"]), int(0));
    assert_reply!(c.cmd(&["TYPE", "a"]), b"+none\r\n");
    assert_reply!(c.cmd(&["RENAME", "a", "z"]), err("ERR no such key"));
    assert_reply!(c.cmd(&["COPY", "a", "z"]), int(0));
    assert_reply!(c.cmd(&["GETDEL", "a"]), NIL);
    assert_reply!(c.cmd(&["DBSIZE"]), int(2));
    assert_reply!(c.cmd(&["INCR", "a"]), int(1));
    assert_reply!(c.cmd(&["APPEND", "b", "x"]), int(1));
}

#[test]
fn expired_keys_leave_keys_and_scan() {
    let server = TestServer::start();
    let mut c = server.conn();
    for i in 0..10 {
        assert_reply!(c.cmd(&["SET", &format!("short:{i}"), "v", "PX", "30"]), OK);
    }
    assert_reply!(c.cmd(&["SET", "long", "v"]), OK);
    poll_until(|| (c.cmd(&["KEYS", "*"]) == bulk_array(&["long"])).then_some(()));
    // A full SCAN walk (COUNT is only a hint, so it may take several calls) sees only "long".
    let mut seen = Vec::new();
    let mut cursor = b"0".to_vec();
    loop {
        let reply = c.cmd(&[b"SCAN".as_slice(), &cursor, b"COUNT", b"100"]);
        let rest = &reply[4..];
        let cursor_len = frame_len(rest).unwrap().unwrap();
        cursor = bulk_payload(&rest[..cursor_len]);
        seen.extend(bulk_items(&rest[cursor_len..]));
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen, vec![b"long".to_vec()]);
    assert_reply!(c.cmd(&["RANDOMKEY"]), bulk("long"));
}

#[test]
fn active_expiry_reclaims_untouched_keys() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let mut writer = c.try_clone_for_write();
    let total = 10_000;
    let input: Vec<u8> = (0..total)
        .flat_map(|i| encode_command(&["SET", &format!("exp:{i}"), "v", "PX", "100"]))
        .collect();
    let handle = std::thread::spawn(move || writer.send(&input));
    for _ in 0..total {
        assert_reply!(c.read_reply(), OK);
    }
    handle.join().unwrap();
    assert_reply!(c.cmd(&["SET", "persistent", "v"]), OK);
    // Only DBSIZE and INFO are sent from now on: neither touches the keys, so only the
    // background cycle can remove them. DBSIZE counts keys not yet reclaimed, which makes it
    // the right probe for active expiry.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = as_int(&c.cmd(&["DBSIZE"]));
        if left == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "active expiry left {} of {total} expired keys",
            left - 1
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "stats"]))).unwrap();
    let expired: i64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("expired_keys:"))
        .expect("expired_keys")
        .trim()
        .parse()
        .unwrap();
    assert!(expired >= total, "expired_keys:{expired}");
    let keyspace = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "keyspace"]))).unwrap();
    assert!(
        keyspace.starts_with("# Keyspace\r\ndb0:keys=1,expires=0,"),
        "{keyspace:?}"
    );
}
