//! Pub/Sub: subscriptions and messages across IO threads, patterns, shard channels, RESP2
//! subscribed mode and RESP3 push frames, introspection, keyspace notifications, and the
//! output buffer limit that cuts off a slow subscriber.

use kvd_tests::*;

/// A frame of `n` bulk strings: an array, or a push frame (`>`) for RESP3.
fn frame(push: bool, items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("{}{}\r\n", if push { '>' } else { '*' }, items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(&bulk(item));
    }
    out
}

fn message(channel: &str, payload: &str) -> Vec<u8> {
    frame(false, &[b"message", channel.as_bytes(), payload.as_bytes()])
}

fn pmessage(pattern: &str, channel: &str, payload: &str) -> Vec<u8> {
    frame(
        false,
        &[
            b"pmessage",
            pattern.as_bytes(),
            channel.as_bytes(),
            payload.as_bytes(),
        ],
    )
}

/// A (un)subscribe confirmation: `*3 <kind> <name> :<count>` (`>3` in RESP3).
fn confirm(push: bool, kind: &str, name: Option<&str>, count: i64) -> Vec<u8> {
    let mut out = format!("{}3\r\n", if push { '>' } else { '*' }).into_bytes();
    out.extend_from_slice(&bulk(kind));
    match name {
        Some(name) => out.extend_from_slice(&bulk(name)),
        None if push => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(NIL),
    }
    out.extend_from_slice(&int(count));
    out
}

fn three_threads() -> TestServer {
    TestServer::with(ServerOptions {
        io_threads: 3,
        ..ServerOptions::default()
    })
}

#[test]
fn subscribers_on_every_io_thread_get_every_message_in_order() {
    let server = three_threads();
    // Connections land on IO threads round-robin: these four cover all three threads, and the
    // publisher shares a thread with one subscriber.
    let mut subs: Vec<RawConn> = (0..3).map(|_| server.conn()).collect();
    let mut publisher = server.conn();
    for s in &mut subs {
        assert_reply!(
            s.cmd(&["SUBSCRIBE", "news"]),
            confirm(false, "subscribe", Some("news"), 1)
        );
    }
    assert_reply!(publisher.cmd(&["PUBLISH", "news", "first"]), int(3));
    assert_reply!(publisher.cmd(&["PUBLISH", "nobody", "x"]), int(0));
    for s in &mut subs {
        assert_reply!(s.read_reply(), message("news", "first"));
    }

    // A pipelined burst arrives whole and in publish order on every thread.
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend_from_slice(&encode_command(&["PUBLISH", "news", &i.to_string()]));
    }
    publisher.send(&burst);
    for _ in 0..200 {
        assert_reply!(publisher.read_reply(), int(3));
    }
    for s in &mut subs {
        for i in 0..200 {
            assert_reply!(s.read_reply(), message("news", &i.to_string()));
        }
    }

    // A subscriber that leaves is no longer counted, wherever it was.
    assert_reply!(
        subs[1].cmd(&["UNSUBSCRIBE", "news"]),
        confirm(false, "unsubscribe", Some("news"), 0)
    );
    subs.pop().expect("three subscribers").close();
    poll_until(|| (publisher.cmd(&["PUBLISH", "news", "last"]) == int(1)).then_some(()));
}

#[test]
fn several_publishers_keep_their_own_order() {
    let server = three_threads();
    let mut sub = server.conn();
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", "a", "b"]),
        confirm(false, "subscribe", Some("a"), 1)
    );
    assert_reply!(sub.read_reply(), confirm(false, "subscribe", Some("b"), 2));
    let mut pubs: Vec<RawConn> = (0..2).map(|_| server.conn()).collect();
    for (p, channel) in pubs.iter_mut().zip(["a", "b"]) {
        let mut burst = Vec::new();
        for i in 0..100 {
            burst.extend_from_slice(&encode_command(&["PUBLISH", channel, &i.to_string()]));
        }
        p.send(&burst);
    }
    let mut next = [0, 0];
    for _ in 0..200 {
        let reply = sub.read_reply();
        let items = bulk_items(&reply);
        let which = usize::from(items[1] == b"b");
        assert_eq!(items[2], next[which].to_string().as_bytes());
        next[which] += 1;
    }
    for p in &mut pubs {
        for _ in 0..100 {
            assert_reply!(p.read_reply(), int(1));
        }
    }
}

#[test]
fn pattern_subscriptions_follow_glob_rules() {
    let server = three_threads();
    let mut sub = server.conn();
    let mut both = server.conn();
    let mut publisher = server.conn();
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "news.[ab]*"]),
        confirm(false, "psubscribe", Some("news.[ab]*"), 1)
    );
    // A client subscribed to a channel and to a pattern matching it gets the message twice,
    // and PUBLISH counts both.
    assert_reply!(
        both.cmd(&["SUBSCRIBE", "news.art"]),
        confirm(false, "subscribe", Some("news.art"), 1)
    );
    assert_reply!(
        both.cmd(&["PSUBSCRIBE", "*art"]),
        confirm(false, "psubscribe", Some("*art"), 2)
    );
    assert_reply!(publisher.cmd(&["PUBLISH", "news.art", "m1"]), int(3));
    assert_reply!(publisher.cmd(&["PUBLISH", "news.cars", "m2"]), int(0));
    assert_reply!(publisher.cmd(&["PUBLISH", "news.b", "m3"]), int(1));
    assert_reply!(publisher.cmd(&["PUBLISH", "h\\art", "m4"]), int(1));
    assert_reply!(sub.read_reply(), pmessage("news.[ab]*", "news.art", "m1"));
    assert_reply!(sub.read_reply(), pmessage("news.[ab]*", "news.b", "m3"));
    assert_reply!(both.read_reply(), message("news.art", "m1"));
    assert_reply!(both.read_reply(), pmessage("*art", "news.art", "m1"));
    assert_reply!(both.read_reply(), pmessage("*art", "h\\art", "m4"));

    assert_reply!(
        sub.cmd(&["PUNSUBSCRIBE"]),
        confirm(false, "punsubscribe", Some("news.[ab]*"), 0)
    );
    assert_reply!(publisher.cmd(&["PUBLISH", "news.b", "m5"]), int(0));
    assert_reply!(publisher.cmd(&["PUBSUB", "NUMPAT"]), int(1));
}

#[test]
fn subscribe_and_unsubscribe_reply_like_redis() {
    let server = TestServer::start();
    let mut c = server.conn();
    // Nothing to leave: one reply with a null name.
    assert_reply!(
        c.cmd(&["UNSUBSCRIBE"]),
        confirm(false, "unsubscribe", None, 0)
    );
    assert_reply!(
        c.cmd(&["PUNSUBSCRIBE"]),
        confirm(false, "punsubscribe", None, 0)
    );
    assert_reply!(
        c.cmd(&["SUNSUBSCRIBE"]),
        confirm(false, "sunsubscribe", None, 0)
    );
    c.send_cmd(&["SUBSCRIBE", "a", "b", "a"]);
    assert_reply!(c.read_reply(), confirm(false, "subscribe", Some("a"), 1));
    assert_reply!(c.read_reply(), confirm(false, "subscribe", Some("b"), 2));
    assert_reply!(c.read_reply(), confirm(false, "subscribe", Some("a"), 2));
    // Channels and patterns share one count; shard channels have their own.
    assert_reply!(
        c.cmd(&["PSUBSCRIBE", "p*"]),
        confirm(false, "psubscribe", Some("p*"), 3)
    );
    assert_reply!(
        c.cmd(&["SSUBSCRIBE", "s1"]),
        confirm(false, "ssubscribe", Some("s1"), 1)
    );
    c.send_cmd(&["UNSUBSCRIBE", "a", "zz"]);
    assert_reply!(c.read_reply(), confirm(false, "unsubscribe", Some("a"), 2));
    assert_reply!(c.read_reply(), confirm(false, "unsubscribe", Some("zz"), 2));
    assert_reply!(
        c.cmd(&["SUNSUBSCRIBE"]),
        confirm(false, "sunsubscribe", Some("s1"), 0)
    );
    assert_reply!(
        c.cmd(&["PUNSUBSCRIBE"]),
        confirm(false, "punsubscribe", Some("p*"), 1)
    );
    assert_reply!(
        c.cmd(&["UNSUBSCRIBE"]),
        confirm(false, "unsubscribe", Some("b"), 0)
    );
    // Out of subscribed mode, PING is a plain PONG again.
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    assert_reply!(
        c.cmd(&["SUBSCRIBE"]),
        err("ERR wrong number of arguments for 'subscribe' command")
    );
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_commands() {
    let server = TestServer::start();
    let mut c = server.conn();
    let refused = |name: &str| {
        err(&format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context"
        ))
    };
    assert_reply!(
        c.cmd(&["SUBSCRIBE", "a"]),
        confirm(false, "subscribe", Some("a"), 1)
    );
    assert_reply!(c.cmd(&["GET", "a"]), refused("get"));
    assert_reply!(c.cmd(&["config", "get", "x"]), refused("config|get"));
    assert_reply!(c.cmd(&["PUBLISH", "a", "x"]), refused("publish"));
    // Unknown commands and wrong arity are reported first, as in Redis.
    assert_reply!(
        c.cmd(&["FOO"]),
        err("ERR unknown command 'FOO', with args beginning with: ")
    );
    assert_reply!(
        c.cmd(&["GET"]),
        err("ERR wrong number of arguments for 'get' command")
    );
    // PING answers in the shape of a message.
    assert_reply!(c.cmd(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_reply!(c.cmd(&["PING", "hi"]), b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    // RESET leaves subscribed mode without unsubscribe replies.
    assert_reply!(c.cmd(&["RESET"]), b"+RESET\r\n");
    assert_reply!(c.cmd(&["GET", "a"]), NIL);
    let mut publisher = server.conn();
    assert_reply!(publisher.cmd(&["PUBLISH", "a", "x"]), int(0));
    // QUIT is allowed and closes.
    assert_reply!(
        c.cmd(&["PSUBSCRIBE", "*"]),
        confirm(false, "psubscribe", Some("*"), 1)
    );
    assert_reply!(c.cmd(&["QUIT"]), OK);
    c.expect_closed();
}

#[test]
fn resp3_push_frames_interleave_with_replies() {
    let server = three_threads();
    let mut c = server.conn();
    let mut publisher = server.conn();
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["SUBSCRIBE", "ch"]),
        confirm(true, "subscribe", Some("ch"), 1)
    );
    // Normal commands keep working while subscribed.
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(publisher.cmd(&["PUBLISH", "ch", "hello"]), int(1));
    assert_reply!(c.read_reply(), frame(true, &[b"message", b"ch", b"hello"]));
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["PING"]), b"+PONG\r\n");
    // A message published between two commands lands between their replies.
    c.send_cmd(&["GET", "k"]);
    assert_reply!(c.read_reply(), bulk("v"));
    assert_reply!(publisher.cmd(&["PUBLISH", "ch", "again"]), int(1));
    c.send_cmd(&["GET", "k"]);
    assert_reply!(c.read_reply(), frame(true, &[b"message", b"ch", b"again"]));
    assert_reply!(c.read_reply(), bulk("v"));
    assert_reply!(
        c.cmd(&["SSUBSCRIBE", "s"]),
        confirm(true, "ssubscribe", Some("s"), 1)
    );
    assert_reply!(publisher.cmd(&["SPUBLISH", "s", "x"]), int(1));
    assert_reply!(c.read_reply(), frame(true, &[b"smessage", b"s", b"x"]));
    assert_reply!(
        c.cmd(&["UNSUBSCRIBE"]),
        confirm(true, "unsubscribe", Some("ch"), 0)
    );
    assert_reply!(
        c.cmd(&["UNSUBSCRIBE"]),
        confirm(true, "unsubscribe", None, 0)
    );
}

#[test]
fn shard_channels_are_their_own_namespace() {
    let server = three_threads();
    let mut s = server.conn();
    let mut p = server.conn();
    let mut publisher = server.conn();
    assert_reply!(
        s.cmd(&["SSUBSCRIBE", "orders"]),
        confirm(false, "ssubscribe", Some("orders"), 1)
    );
    assert_reply!(
        p.cmd(&["PSUBSCRIBE", "*"]),
        confirm(false, "psubscribe", Some("*"), 1)
    );
    // Patterns and plain channels never see shard messages, and vice versa.
    assert_reply!(publisher.cmd(&["SPUBLISH", "orders", "o1"]), int(1));
    assert_reply!(publisher.cmd(&["PUBLISH", "orders", "o2"]), int(1));
    assert_reply!(
        s.read_reply(),
        frame(false, &[b"smessage", b"orders", b"o1"])
    );
    assert_reply!(p.read_reply(), pmessage("*", "orders", "o2"));
    s.expect_silence(std::time::Duration::from_millis(50));
}

#[test]
fn pubsub_introspection() {
    let server = three_threads();
    let mut a = server.conn();
    let mut b = server.conn();
    let mut c = server.conn();
    a.send_cmd(&["SUBSCRIBE", "news", "sport"]);
    a.read_reply();
    a.read_reply();
    assert_reply!(
        b.cmd(&["SUBSCRIBE", "news"]),
        confirm(false, "subscribe", Some("news"), 1)
    );
    b.send_cmd(&["PSUBSCRIBE", "n*", "s*"]);
    b.read_reply();
    b.read_reply();
    assert_reply!(
        b.cmd(&["SSUBSCRIBE", "orders"]),
        confirm(false, "ssubscribe", Some("orders"), 1)
    );
    let mut channels = bulk_items(&c.cmd(&["PUBSUB", "CHANNELS"]));
    channels.sort();
    assert_eq!(channels, [b"news".to_vec(), b"sport".to_vec()]);
    assert_reply!(c.cmd(&["PUBSUB", "CHANNELS", "n*"]), bulk_array(&["news"]));
    assert_reply!(
        c.cmd(&["PUBSUB", "NUMSUB", "news", "sport", "none"]),
        b"*6\r\n$4\r\nnews\r\n:2\r\n$5\r\nsport\r\n:1\r\n$4\r\nnone\r\n:0\r\n"
    );
    assert_reply!(c.cmd(&["PUBSUB", "NUMSUB"]), b"*0\r\n");
    assert_reply!(c.cmd(&["PUBSUB", "NUMPAT"]), int(2));
    assert_reply!(c.cmd(&["PUBSUB", "SHARDCHANNELS"]), bulk_array(&["orders"]));
    assert_reply!(c.cmd(&["PUBSUB", "SHARDCHANNELS", "x*"]), b"*0\r\n");
    assert_reply!(
        c.cmd(&["PUBSUB", "SHARDNUMSUB", "orders", "news"]),
        b"*4\r\n$6\r\norders\r\n:1\r\n$4\r\nnews\r\n:0\r\n"
    );
    assert_reply!(
        c.cmd(&["PUBSUB", "CHANNELS", "a", "b"]),
        err("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.")
    );
    assert_reply!(
        c.cmd(&["PUBSUB", "NUMPAT", "x"]),
        err("ERR wrong number of arguments for 'pubsub|numpat' command")
    );
    let info = String::from_utf8(bulk_payload(&c.cmd(&["INFO", "stats"]))).expect("utf-8");
    for line in [
        "pubsub_channels:2",
        "pubsub_patterns:2",
        "pubsubshard_channels:1",
    ] {
        assert!(info.contains(&format!("{line}\r\n")), "{line} in {info}");
    }

    let list = String::from_utf8(bulk_payload(&c.cmd(&["CLIENT", "LIST"]))).expect("utf-8");
    let fields = |line: &str| -> (String, String) {
        let get = |name: &str| {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .unwrap_or_default()
                .to_owned()
        };
        (
            get("flags="),
            format!("{} {} {}", get("sub="), get("psub="), get("ssub=")),
        )
    };
    let mut rows: Vec<(String, String)> = list.lines().map(fields).collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("N".to_owned(), "0 0 0".to_owned()),
            ("P".to_owned(), "1 2 1".to_owned()),
            ("P".to_owned(), "2 0 0".to_owned()),
        ]
    );
    let pubsub_clients = bulk_payload(&c.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]));
    assert_eq!(pubsub_clients.iter().filter(|&&b| b == b'\n').count(), 2);

    // Leaving (here by disconnecting) empties the registry.
    a.close();
    b.close();
    poll_until(|| (c.cmd(&["PUBSUB", "NUMPAT"]) == int(0)).then_some(()));
    poll_until(|| (c.cmd(&["PUBSUB", "CHANNELS"]) == b"*0\r\n").then_some(()));
    assert_reply!(c.cmd(&["PUBSUB", "SHARDCHANNELS"]), b"*0\r\n");
}

/// A server whose settings a test may change without affecting others.
fn private_server() -> TestServer {
    TestServer::with(ServerOptions {
        io_threads: 3,
        private: true,
        ..ServerOptions::default()
    })
}

/// The keyspace and keyevent messages of one event, as a `__key*@0__:*` pattern sees them.
fn key_events(event: &str, key: &str) -> [Vec<u8>; 2] {
    let pattern = "__key*@0__:*";
    [
        pmessage(pattern, &format!("__keyspace@0__:{key}"), event),
        pmessage(pattern, &format!("__keyevent@0__:{event}"), key),
    ]
}

fn expect_events(sub: &mut RawConn, events: &[(&str, &str)]) {
    for (event, key) in events {
        for want in key_events(event, key) {
            assert_reply!(sub.read_reply(), want);
        }
    }
}

#[test]
fn keyspace_notifications_for_string_and_key_commands() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        bulk_array(&["notify-keyspace-events", ""])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Q"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
             Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
        )
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        bulk_array(&["notify-keyspace-events", "AKE"])
    );
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "__key*@0__:*"]),
        confirm(false, "psubscribe", Some("__key*@0__:*"), 1)
    );
    // One key, so every event comes from one shard, in command order.
    for cmd in [
        &["SET", "k", "v"][..],
        &["SETRANGE", "k", "1", "xy"],
        &["APPEND", "k", "z"],
        &["EXPIRE", "k", "100"],
        &["PERSIST", "k"],
        &["DEL", "k"],
        &["INCRBY", "k", "5"],
        &["INCRBYFLOAT", "k", "1.5"],
        &["SET", "k", "v", "EX", "100"],
        &["GETDEL", "k"],
        &["DEL", "k"],
    ] {
        c.cmd(cmd);
    }
    expect_events(
        &mut sub,
        &[
            ("set", "k"),
            ("setrange", "k"),
            ("append", "k"),
            ("expire", "k"),
            ("persist", "k"),
            ("del", "k"),
            ("incrby", "k"),
            ("incrbyfloat", "k"),
            ("set", "k"),
            ("expire", "k"),
            ("del", "k"),
        ],
    );
    // RENAME within one hash tag, so both keys live on one shard.
    c.cmd(&["SET", "{t}a", "1"]);
    assert_reply!(c.cmd(&["RENAME", "{t}a", "{t}b"]), OK);
    expect_events(
        &mut sub,
        &[
            ("set", "{t}a"),
            ("rename_from", "{t}a"),
            ("rename_to", "{t}b"),
        ],
    );

    // Only the classes asked for: with `Eg`, string commands say nothing and DEL says `del` on
    // the keyevent channel only.
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Eg"]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        bulk_array(&["notify-keyspace-events", "gE"])
    );
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["DEL", "k"]);
    assert_reply!(
        sub.read_reply(),
        pmessage("__key*@0__:*", "__keyevent@0__:del", "k")
    );
    assert_reply!(c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]), OK);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["DEL", "k"]);
    sub.expect_silence(std::time::Duration::from_millis(100));
}

#[test]
fn keyspace_notifications_for_expired_keys() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expired"]),
        confirm(false, "subscribe", Some("__keyevent@0__:expired"), 1)
    );
    // Active expiry: nobody touches the key.
    assert_reply!(c.cmd(&["SET", "gone", "v", "PX", "10"]), OK);
    assert_reply!(sub.read_reply(), message("__keyevent@0__:expired", "gone"));
    // Lazy expiry or active expiry, whichever comes first: exactly one event.
    assert_reply!(c.cmd(&["SET", "read", "v", "PX", "10"]), OK);
    poll_until(|| (c.cmd(&["GET", "read"]) == NIL).then_some(()));
    assert_reply!(sub.read_reply(), message("__keyevent@0__:expired", "read"));
    sub.expect_silence(std::time::Duration::from_millis(100));
}

#[test]
fn slow_subscriber_is_disconnected_at_the_pubsub_limit() {
    let server = private_server();
    let mut c = server.conn();
    let mut slow = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        bulk_array(&[
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        ])
    );
    assert_reply!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 256kb 128kb 60"
        ]),
        OK
    );
    assert_reply!(
        c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        bulk_array(&[
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 262144 131072 60"
        ])
    );
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - \
             Wrong number of arguments in buffer limit configuration."
        )
    );
    assert_reply!(
        slow.cmd(&["SUBSCRIBE", "firehose"]),
        confirm(false, "subscribe", Some("firehose"), 1)
    );
    // The subscriber never reads: once the socket buffers are full, its output grows in the
    // server until the hard limit cuts it off and PUBLISH stops counting it.
    let payload = "x".repeat(64 * 1024);
    poll_until(|| (c.cmd(&["PUBLISH", "firehose", payload.as_str()]) == int(0)).then_some(()));
    assert_reply!(
        c.cmd(&["PUBSUB", "NUMSUB", "firehose"]),
        b"*2\r\n$8\r\nfirehose\r\n:0\r\n"
    );
    // What the kernel already held still arrives, then the connection ends.
    loop {
        match slow.try_read_reply(REPLY_TIMEOUT) {
            Ok(Some(reply)) => assert_reply!(reply, message("firehose", &payload)),
            Ok(None) => break,
            Err(e) => panic!("the slow subscriber was not disconnected: {e}"),
        }
    }
}

#[test]
fn keyspace_notifications_for_moves_across_shards() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "E$g"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]),
        confirm(false, "psubscribe", Some("__keyevent@0__:*"), 1)
    );
    // Several pairs, so some surely span two shards; events of different shards may arrive in
    // either order, so each pair's two events are compared as a set.
    for i in 0..8 {
        let (src, dst, copy) = (format!("src{i}"), format!("dst{i}"), format!("copy{i}"));
        assert_reply!(c.cmd(&["SET", &src, "v"]), OK);
        assert_reply!(
            sub.read_reply(),
            pmessage("__keyevent@0__:*", "__keyevent@0__:set", &src)
        );
        assert_reply!(c.cmd(&["RENAME", &src, &dst]), OK);
        let mut got = vec![sub.read_reply(), sub.read_reply()];
        got.sort();
        let mut want = vec![
            pmessage("__keyevent@0__:*", "__keyevent@0__:rename_from", &src),
            pmessage("__keyevent@0__:*", "__keyevent@0__:rename_to", &dst),
        ];
        want.sort();
        assert_eq!(got, want, "RENAME {src} {dst}");
        assert_reply!(c.cmd(&["COPY", &dst, &copy]), int(1));
        assert_reply!(
            sub.read_reply(),
            pmessage("__keyevent@0__:*", "__keyevent@0__:copy_to", &copy)
        );
    }
}

#[test]
fn keyspace_notifications_for_key_misses() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Em"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:keymiss"]),
        confirm(false, "subscribe", Some("__keyevent@0__:keymiss"), 1)
    );
    assert_reply!(c.cmd(&["SET", "here", "v"]), OK);
    for cmd in [
        &["GET", "nokey1"][..],
        &["GET", "here"],
        &["STRLEN", "nokey2"],
        &["EXISTS", "nokey3"],
    ] {
        c.cmd(cmd);
    }
    for key in ["nokey1", "nokey2", "nokey3"] {
        assert_reply!(sub.read_reply(), message("__keyevent@0__:keymiss", key));
    }
}

#[test]
fn publish_and_subscribe_inside_multi() {
    let server = TestServer::start();
    let mut sub = server.conn();
    let mut c = server.conn();
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", "a"]),
        confirm(false, "subscribe", Some("a"), 1)
    );
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["PUBLISH", "a", "x"]), b"+QUEUED\r\n");
    assert_reply!(c.cmd(&["SET", "k", "v"]), b"+QUEUED\r\n");
    assert_reply!(c.cmd(&["EXEC"]), b"*2\r\n:1\r\n+OK\r\n");
    assert_reply!(sub.read_reply(), message("a", "x"));
    assert_reply!(c.cmd(&["MULTI"]), OK);
    assert_reply!(c.cmd(&["SUBSCRIBE", "b"]), b"+QUEUED\r\n");
    let mut reply = b"*1\r\n".to_vec();
    reply.extend_from_slice(&confirm(false, "subscribe", Some("b"), 1));
    assert_reply!(c.cmd(&["EXEC"]), reply);
    // The client is now in subscribed mode.
    assert_reply!(c.cmd(&["PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

#[test]
fn keyspace_notifications_for_hash_set_and_sorted_set_commands() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "__key*@0__:*"]),
        confirm(false, "psubscribe", Some("__key*@0__:*"), 1)
    );
    // One hash tag, so every event comes from one shard, in command order. The commands that
    // change nothing (HSETNX of an existing field, SADD of a member, ZINCRBY by 0, ZPOPMAX 0,
    // ...) say nothing, as in Redis (sequence recorded from redis-server 7.0.15).
    for cmd in [
        &["HSET", "{n}h", "f", "1", "g", "2"][..],
        &["HSET", "{n}h", "f", "1"],
        &["HMSET", "{n}h", "a", "b"],
        &["HSETNX", "{n}h", "f", "9"],
        &["HSETNX", "{n}h", "x", "9"],
        &["HDEL", "{n}h", "nope"],
        &["HDEL", "{n}h", "f", "g"],
        &["HINCRBY", "{n}h", "i", "2"],
        &["HINCRBYFLOAT", "{n}h", "j", "1.5"],
        &["HDEL", "{n}h", "a", "x", "i", "j"],
        &["SADD", "{n}s", "a", "b", "c"],
        &["SADD", "{n}s", "a"],
        &["SREM", "{n}s", "nope"],
        &["SREM", "{n}s", "a"],
        &["SPOP", "{n}s"],
        &["SPOP", "{n}s", "0"],
        &["SPOP", "{n}s", "5"],
        &["SADD", "{n}s", "a", "b"],
        &["SMOVE", "{n}s", "{n}t", "a"],
        &["SMOVE", "{n}s", "{n}t", "nope"],
        &["SMOVE", "{n}s", "{n}t", "b"],
        &["SADD", "{n}s", "b", "c"],
        &["SINTERSTORE", "{n}d", "{n}s", "{n}t"],
        &["SUNIONSTORE", "{n}d", "{n}s", "{n}t"],
        &["SDIFFSTORE", "{n}d", "{n}s", "{n}s"],
        &["SDIFFSTORE", "{n}d", "{n}s", "{n}s"],
        &[
            "ZADD", "{n}z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f",
        ],
        &["ZADD", "{n}z", "1", "a"],
        &["ZADD", "{n}z", "INCR", "1", "a"],
        &["ZINCRBY", "{n}z", "0", "a"],
        &["ZINCRBY", "{n}z", "1", "a"],
        &["ZREM", "{n}z", "nope"],
        &["ZREM", "{n}z", "a"],
        &["ZREMRANGEBYSCORE", "{n}z", "2", "2"],
        &["ZREMRANGEBYRANK", "{n}z", "0", "0"],
        &["ZREMRANGEBYLEX", "{n}z", "[d", "[d"],
        &["ZREMRANGEBYLEX", "{n}z", "[x", "[y"],
        &["ZPOPMIN", "{n}z"],
        &["ZPOPMAX", "{n}z", "0"],
        &["ZPOPMAX", "{n}z"],
        &["ZADD", "{n}z", "1", "a", "2", "b"],
        &["ZMPOP", "1", "{n}z", "MIN"],
        &["ZUNIONSTORE", "{n}u", "1", "{n}z"],
        &["ZINTERSTORE", "{n}u", "2", "{n}z", "{n}nope"],
        &["ZINTERSTORE", "{n}u", "2", "{n}z", "{n}nope"],
        &["ZDIFFSTORE", "{n}u", "1", "{n}z"],
        &["ZRANGESTORE", "{n}r", "{n}z", "0", "-1"],
        &["ZRANGESTORE", "{n}r", "{n}z", "5", "9"],
        &["BZPOPMAX", "{n}z", "0"],
    ] {
        c.cmd(cmd);
    }
    expect_events(
        &mut sub,
        &[
            ("hset", "{n}h"),
            ("hset", "{n}h"),
            ("hset", "{n}h"),
            ("hset", "{n}h"),
            ("hdel", "{n}h"),
            ("hincrby", "{n}h"),
            ("hincrbyfloat", "{n}h"),
            ("hdel", "{n}h"),
            ("del", "{n}h"),
            ("sadd", "{n}s"),
            ("srem", "{n}s"),
            ("spop", "{n}s"),
            ("spop", "{n}s"),
            ("del", "{n}s"),
            ("sadd", "{n}s"),
            ("srem", "{n}s"),
            ("sadd", "{n}t"),
            ("srem", "{n}s"),
            ("del", "{n}s"),
            ("sadd", "{n}t"),
            ("sadd", "{n}s"),
            ("sinterstore", "{n}d"),
            ("sunionstore", "{n}d"),
            ("del", "{n}d"),
            ("zadd", "{n}z"),
            ("zincr", "{n}z"),
            ("zincr", "{n}z"),
            ("zrem", "{n}z"),
            ("zremrangebyscore", "{n}z"),
            ("zremrangebyrank", "{n}z"),
            ("zremrangebylex", "{n}z"),
            ("zpopmin", "{n}z"),
            ("zpopmax", "{n}z"),
            ("del", "{n}z"),
            ("zadd", "{n}z"),
            ("zpopmin", "{n}z"),
            ("zunionstore", "{n}u"),
            ("del", "{n}u"),
            ("zdiffstore", "{n}u"),
            ("zrangestore", "{n}r"),
            ("del", "{n}r"),
            ("zpopmax", "{n}z"),
            ("del", "{n}z"),
        ],
    );
    sub.expect_silence(std::time::Duration::from_millis(50));
}

#[test]
fn keyspace_notifications_for_collection_commands_across_shards() {
    let server = private_server();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Esz"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]),
        confirm(false, "psubscribe", Some("__keyevent@0__:*"), 1)
    );
    let event =
        |e: &str, key: &str| pmessage("__keyevent@0__:*", &format!("__keyevent@0__:{e}"), key);
    // Several key pairs, so some surely span two shards; events of different shards may
    // arrive in either order, so each command's events are compared as a set.
    for i in 0..6 {
        let (a, b, d) = (format!("a{i}"), format!("b{i}"), format!("d{i}"));
        for (cmd, want) in [
            (vec!["SADD", &a, "m"], vec![event("sadd", &a)]),
            (
                vec!["SMOVE", &a, &b, "m"],
                vec![event("srem", &a), event("sadd", &b)],
            ),
            (
                vec!["SUNIONSTORE", &d, &a, &b],
                vec![event("sunionstore", &d)],
            ),
            (vec!["ZADD", &a, "1", "m"], vec![event("zadd", &a)]),
            (
                vec!["ZUNIONSTORE", &d, "2", &a, &b],
                vec![event("zunionstore", &d)],
            ),
            (
                vec!["ZMPOP", "2", &d, &a, "MAX"],
                vec![event("zpopmax", &a)],
            ),
        ] {
            if cmd[0] == "ZMPOP" {
                c.cmd(&["DEL", &d]);
            }
            c.cmd(&cmd);
            let mut got: Vec<Vec<u8>> = want.iter().map(|_| sub.read_reply()).collect();
            got.sort();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{cmd:?}");
        }
        c.cmd(&["DEL", &b, &d]);
    }
    sub.expect_silence(std::time::Duration::from_millis(50));
}

/// The events of one command or transaction whose keys live on several shards arrive in the
/// order Redis emits them (recorded from redis-server 7.0.15), with all their keys on
/// different shards: the coordinator publishes a multi-shard hop's events itself, in order,
/// before any lock is released.
#[test]
fn keyspace_notifications_across_shards_come_in_redis_order() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        io_threads: 3,
        private: true,
        ..ServerOptions::default()
    });
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "EA"]),
        OK
    );
    assert_reply!(
        sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]),
        confirm(false, "psubscribe", Some("__keyevent@0__:*"), 1)
    );
    let k = keys_on_different_shards("ord", 4, 4);
    let (a, b, d, e) = (k[0].as_str(), k[1].as_str(), k[2].as_str(), k[3].as_str());
    let mut expect = |cmds: &[&[&str]], events: &[(&str, &str)]| {
        for cmd in cmds {
            c.cmd(cmd);
        }
        for (event, key) in events {
            let want = pmessage("__keyevent@0__:*", &format!("__keyevent@0__:{event}"), key);
            assert_reply!(sub.read_reply(), want);
        }
    };
    expect(
        &[&["MSET", a, "1", b, "2", d, "3"]],
        &[("set", a), ("set", b), ("set", d)],
    );
    expect(
        &[&["RENAME", a, e]],
        &[("rename_from", a), ("rename_to", e)],
    );
    expect(
        &[&["DEL", e, b, d, a]],
        &[("del", e), ("del", b), ("del", d)],
    );
    expect(&[&["MSETNX", b, "1", a, "2"]], &[("set", b), ("set", a)]);
    expect(&[&["COPY", a, d]], &[("copy_to", d)]);
    expect(&[&["DEL", a, b, d]], &[("del", a), ("del", b), ("del", d)]);
    expect(&[&["SADD", a, "m"]], &[("sadd", a)]);
    expect(
        &[&["SMOVE", a, b, "m"]],
        &[("srem", a), ("del", a), ("sadd", b)],
    );
    expect(&[&["RPUSH", a, "x"]], &[("rpush", a)]);
    expect(
        &[&["LMOVE", a, d, "LEFT", "RIGHT"]],
        &[("rpush", d), ("lpop", a), ("del", a)],
    );
    expect(
        &[
            &["MULTI"],
            &["SET", a, "1"],
            &["SET", b, "2"],
            &["RENAME", a, e],
            &["SET", a, "3"],
            &["DEL", a, b],
            &["LMOVE", d, a, "LEFT", "LEFT"],
            &["EXEC"],
        ],
        &[
            ("set", a),
            ("set", b),
            ("rename_from", a),
            ("rename_to", e),
            ("set", a),
            ("del", a),
            ("del", b),
            ("lpush", a),
            ("lpop", d),
            ("del", d),
        ],
    );
    sub.expect_silence(std::time::Duration::from_millis(50));
}

/// A subscriber sees the events of one key in commit order, whether they come from
/// single-shard commands or from transactions spanning shards: while `MSET` (across shards)
/// and `DEL` race on a key, two `del` events never follow each other (a second `DEL` only
/// deletes after a `set`), and the last event matches the key's final state.
#[test]
fn keyspace_notifications_of_one_key_follow_commit_order() {
    let server = TestServer::with(ServerOptions {
        workers: 4,
        io_threads: 3,
        private: true,
        ..ServerOptions::default()
    });
    let addr = server.addr();
    let mut c = server.conn();
    let mut sub = server.conn();
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Kg$"]),
        OK
    );
    let k = keys_on_different_shards("commit", 2, 4);
    let channel = format!("__keyspace@0__:{}", k[0]);
    assert_reply!(
        sub.cmd(&["SUBSCRIBE", &channel]),
        confirm(false, "subscribe", Some(&channel), 1)
    );
    const ROUNDS: usize = 150;
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let k = k.clone();
            std::thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut events = 0;
                for _ in 0..ROUNDS {
                    if t % 2 == 0 {
                        assert_reply!(c.cmd(&["MSET", &k[0], "v", &k[1], "v"]), OK);
                        events += 1;
                    } else {
                        events += as_int(&c.cmd(&["DEL", &k[0]]));
                    }
                }
                events
            })
        })
        .collect();
    let total: i64 = workers.into_iter().map(|w| w.join().expect("client")).sum();
    let mut last = String::new();
    for _ in 0..total {
        let reply = sub.read_reply();
        let text = String::from_utf8_lossy(&reply).to_string();
        let event = text.rsplit("\r\n").nth(1).unwrap_or_default().to_string();
        assert!(
            !(event == "del" && last == "del"),
            "two del events in a row: commit order lost"
        );
        last = event;
    }
    let exists = as_int(&c.cmd(&["EXISTS", &k[0]]));
    assert_eq!(last, if exists == 1 { "set" } else { "del" });
    sub.expect_silence(std::time::Duration::from_millis(50));
}

/// `UNSUBSCRIBE` racing a flood of `PUBLISH` from another IO thread: messages may arrive
/// until the unsubscribe confirmation, never after it (the next frames are `PING`'s reply and
/// the next subscribe confirmation), in RESP2 and RESP3, for channels and patterns.
#[test]
fn no_message_arrives_after_the_unsubscribe_confirmation() {
    let server = three_threads();
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut p = RawConn::connect(addr);
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..16 {
                    p.send_cmd(&["PUBLISH", "race", &i.to_string()]);
                    i += 1;
                }
                for _ in 0..16 {
                    assert!(p.read_reply().starts_with(b":"));
                }
            }
        })
    };
    for (resp3, pattern) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut s = server.conn();
        if resp3 {
            s.cmd(&["HELLO", "3"]);
        }
        let (sub, unsub, name) = if pattern {
            ("PSUBSCRIBE", "punsubscribe", "ra*")
        } else {
            ("SUBSCRIBE", "unsubscribe", "race")
        };
        for _ in 0..20 {
            assert_reply!(
                s.cmd(&[sub, name]),
                confirm(resp3, &sub.to_ascii_lowercase(), Some(name), 1)
            );
            // Wait for traffic, so the unsubscribe surely races a stream of messages.
            let first = s.read_reply();
            assert!(
                first.starts_with(if resp3 { b">" } else { b"*" }),
                "{}",
                escape(&first)
            );
            s.send_cmd(&[&unsub.to_ascii_uppercase(), name]);
            s.send_cmd(&["PING"]);
            let done = confirm(resp3, unsub, Some(name), 0);
            let mut messages = 0;
            loop {
                let reply = s.read_reply();
                if reply == done {
                    break;
                }
                assert!(
                    reply.windows(7).any(|w| w == b"message"),
                    "{}",
                    escape(&reply)
                );
                messages += 1;
                assert!(messages < 100_000, "no unsubscribe confirmation");
            }
            assert_reply!(s.read_reply(), b"+PONG\r\n");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    publisher.join().expect("publisher");
}
