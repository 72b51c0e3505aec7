//! String commands: every option, exact replies and exact errors.

use kvd_tests::*;

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn arity(cmd: &str) -> Vec<u8> {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

#[test]
fn get_and_set() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["GET", "k"]), NIL);
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
    // Binary-safe keys and values, including CRLF and NUL.
    assert_reply!(c.cmd(&[&b"SET"[..], b"b\r\n\0", b"\0\r\n\xff"]), OK);
    assert_reply!(c.cmd(&[&b"GET"[..], b"b\r\n\0"]), bulk(b"\0\r\n\xff"));
    assert_reply!(c.cmd(&["SET", "empty", ""]), OK);
    assert_reply!(c.cmd(&["GET", "empty"]), bulk(""));
    // Command names are case-insensitive, arity errors name the command in lowercase.
    assert_reply!(c.cmd(&["gEt", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["GET"]), arity("get"));
    assert_reply!(c.cmd(&["GET", "a", "b"]), arity("get"));
    assert_reply!(c.cmd(&["SET", "a"]), arity("set"));
    assert_reply!(c.cmd(&["SET", "k", "v", "foo"]), err(SYNTAX));
    // A large value round-trips.
    let big = "x".repeat(1 << 20);
    assert_reply!(c.cmd(&["SET", "big", &big]), OK);
    assert_reply!(c.cmd(&["GET", "big"]), bulk(&big));
}

#[test]
fn set_expiry_options() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "v", "EX", "100"]), OK);
    assert_reply!(c.cmd(&["TTL", "k"]), int(100));
    assert_reply!(c.cmd(&["SET", "k", "v", "PX", "100000"]), OK);
    let pttl = as_int(&c.cmd(&["PTTL", "k"]));
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_reply!(c.cmd(&["SET", "k", "v", "EXAT", "9999999999"]), OK);
    assert_reply!(c.cmd(&["EXPIRETIME", "k"]), int(9_999_999_999));
    assert_reply!(c.cmd(&["SET", "k", "v", "PXAT", "9999999999123"]), OK);
    assert_reply!(c.cmd(&["PEXPIRETIME", "k"]), int(9_999_999_999_123));
    // KEEPTTL keeps it; a plain SET clears it.
    assert_reply!(c.cmd(&["SET", "k", "v2", "KEEPTTL"]), OK);
    assert_reply!(c.cmd(&["PEXPIRETIME", "k"]), int(9_999_999_999_123));
    assert_reply!(c.cmd(&["SET", "k", "v3"]), OK);
    assert_reply!(c.cmd(&["TTL", "k"]), int(-1));
    // Options are case-insensitive.
    assert_reply!(c.cmd(&["set", "k", "v", "ex", "5"]), OK);
    assert_reply!(c.cmd(&["TTL", "k"]), int(5));

    let invalid = err("ERR invalid expire time in 'set' command");
    assert_reply!(c.cmd(&["SET", "k", "v", "EX", "0"]), invalid);
    assert_reply!(c.cmd(&["SET", "k", "v", "EX", "-1"]), invalid);
    assert_reply!(c.cmd(&["SET", "k", "v", "PX", "0"]), invalid);
    assert_reply!(c.cmd(&["SET", "k", "v", "EXAT", "0"]), invalid);
    // Overflowing seconds-to-milliseconds is also an invalid expire time.
    assert_reply!(
        c.cmd(&["SET", "k", "v", "EX", "9223372036854775807"]),
        invalid
    );
    assert_reply!(
        c.cmd(&["SET", "k", "v", "PX", "9223372036854775807"]),
        invalid
    );
    assert_reply!(c.cmd(&["SET", "k", "v", "EX", "abc"]), err(NOT_INT));
    assert_reply!(c.cmd(&["SET", "k", "v", "EX"]), err(SYNTAX));
    assert_reply!(
        c.cmd(&["SET", "k", "v", "EX", "10", "PX", "10"]),
        err(SYNTAX)
    );
    assert_reply!(c.cmd(&["SET", "k", "v", "KEEPTTL", "EX", "1"]), err(SYNTAX));
    assert_reply!(c.cmd(&["SET", "k", "v", "EX", "1.5"]), err(NOT_INT));
    // The failed SETs left the value alone.
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
}

#[test]
fn set_conditions_and_get() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "v", "XX"]), NIL);
    assert_reply!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_reply!(c.cmd(&["SET", "k", "v", "NX"]), OK);
    assert_reply!(c.cmd(&["SET", "k", "w", "NX"]), NIL);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["SET", "k", "w", "XX"]), OK);
    assert_reply!(c.cmd(&["GET", "k"]), bulk("w"));
    assert_reply!(c.cmd(&["SET", "k", "v", "NX", "XX"]), err(SYNTAX));

    // GET returns the old value (or nil) and still sets.
    assert_reply!(c.cmd(&["SET", "g", "1", "GET"]), NIL);
    assert_reply!(c.cmd(&["SET", "g", "2", "GET"]), bulk("1"));
    assert_reply!(c.cmd(&["GET", "g"]), bulk("2"));
    // Since 7.0, NX and GET combine: the old value is returned and nothing is set.
    assert_reply!(c.cmd(&["SET", "g", "3", "NX", "GET"]), bulk("2"));
    assert_reply!(c.cmd(&["GET", "g"]), bulk("2"));
    assert_reply!(c.cmd(&["SET", "g", "4", "XX", "GET"]), bulk("2"));
    assert_reply!(c.cmd(&["GET", "g"]), bulk("4"));
    assert_reply!(c.cmd(&["SET", "nog", "4", "XX", "GET"]), NIL);
    assert_reply!(c.cmd(&["EXISTS", "nog"]), int(0));
    assert_reply!(c.cmd(&["SET", "g", "5", "GET", "EX", "100"]), bulk("4"));
    assert_reply!(c.cmd(&["TTL", "g"]), int(100));
    assert_reply!(c.cmd(&["SET", "g", "6", "KEEPTTL", "GET"]), bulk("5"));
    assert_reply!(c.cmd(&["TTL", "g"]), int(100));
    // An absolute time in the past is accepted: the key is written and at once expired.
    assert_reply!(c.cmd(&["SET", "g", "7", "EXAT", "1", "GET"]), bulk("6"));
    assert_reply!(c.cmd(&["EXISTS", "g"]), int(0));
    assert_reply!(c.cmd(&["SET", "p", "v", "PXAT", "1"]), OK);
    assert_reply!(c.cmd(&["EXISTS", "p"]), int(0));
}

#[test]
fn setnx_setex_psetex_getset() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SETNX", "k", "1"]), int(1));
    assert_reply!(c.cmd(&["SETNX", "k", "2"]), int(0));
    assert_reply!(c.cmd(&["GET", "k"]), bulk("1"));

    assert_reply!(c.cmd(&["SETEX", "e", "100", "v"]), OK);
    assert_reply!(c.cmd(&["TTL", "e"]), int(100));
    assert_reply!(c.cmd(&["GET", "e"]), bulk("v"));
    assert_reply!(
        c.cmd(&["SETEX", "e", "0", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_reply!(c.cmd(&["SETEX", "e", "abc", "v"]), err(NOT_INT));
    assert_reply!(c.cmd(&["SETEX", "e", "10"]), arity("setex"));

    assert_reply!(c.cmd(&["PSETEX", "p", "100000", "v"]), OK);
    let pttl = as_int(&c.cmd(&["PTTL", "p"]));
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_reply!(
        c.cmd(&["PSETEX", "p", "-5", "v"]),
        err("ERR invalid expire time in 'psetex' command")
    );

    assert_reply!(c.cmd(&["GETSET", "gs", "a"]), NIL);
    assert_reply!(c.cmd(&["GETSET", "gs", "b"]), bulk("a"));
    assert_reply!(c.cmd(&["GET", "gs"]), bulk("b"));
    // GETSET clears a TTL like SET does.
    assert_reply!(c.cmd(&["GETSET", "e", "x"]), bulk("v"));
    assert_reply!(c.cmd(&["TTL", "e"]), int(-1));
}

#[test]
fn getdel_and_getex() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["GETDEL", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["GETDEL", "k"]), NIL);
    assert_reply!(c.cmd(&["EXISTS", "k"]), int(0));

    assert_reply!(c.cmd(&["SET", "k", "v"]), OK);
    assert_reply!(c.cmd(&["GETEX", "k"]), bulk("v"));
    assert_reply!(c.cmd(&["TTL", "k"]), int(-1));
    assert_reply!(c.cmd(&["GETEX", "k", "EX", "100"]), bulk("v"));
    assert_reply!(c.cmd(&["TTL", "k"]), int(100));
    assert_reply!(c.cmd(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_reply!(c.cmd(&["TTL", "k"]), int(-1));
    assert_reply!(c.cmd(&["GETEX", "k", "PX", "100000"]), bulk("v"));
    assert!(as_int(&c.cmd(&["PTTL", "k"])) > 99_000);
    assert_reply!(c.cmd(&["GETEX", "k", "EXAT", "9999999999"]), bulk("v"));
    assert_reply!(c.cmd(&["EXPIRETIME", "k"]), int(9_999_999_999));
    assert_reply!(c.cmd(&["GETEX", "k", "PXAT", "9999999999000"]), bulk("v"));
    assert_reply!(c.cmd(&["PEXPIRETIME", "k"]), int(9_999_999_999_000));
    assert_reply!(c.cmd(&["GETEX", "nope", "EX", "10"]), NIL);
    assert_reply!(c.cmd(&["EXISTS", "nope"]), int(0));

    assert_reply!(c.cmd(&["GETEX", "k", "PX", "5000", "PERSIST"]), err(SYNTAX));
    assert_reply!(c.cmd(&["GETEX", "k", "FOO"]), err(SYNTAX));
    assert_reply!(
        c.cmd(&["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_reply!(c.cmd(&["GETEX", "k", "EX", "abc"]), err(NOT_INT));
    // A past absolute time deletes the key and still returns the value.
    assert_reply!(c.cmd(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
    assert_reply!(c.cmd(&["EXISTS", "k"]), int(0));
}

#[test]
fn mget_mset_msetnx() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["MSET", "a", "1", "b", "2"]), OK);
    assert_reply!(
        c.cmd(&["MGET", "a", "b", "nope", "a"]),
        b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n1\r\n"
    );
    // The last value wins when a key repeats.
    assert_reply!(c.cmd(&["MSET", "d", "1", "d", "2"]), OK);
    assert_reply!(c.cmd(&["GET", "d"]), bulk("2"));
    assert_reply!(c.cmd(&["MSET", "a"]), arity("mset"));
    assert_reply!(c.cmd(&["MSET", "a", "1", "b"]), arity("mset"));
    assert_reply!(c.cmd(&["MGET"]), arity("mget"));

    // MSETNX sets all or nothing.
    assert_reply!(c.cmd(&["MSETNX", "a", "3", "c", "4"]), int(0));
    assert_reply!(c.cmd(&["EXISTS", "c"]), int(0));
    assert_reply!(c.cmd(&["MSETNX", "c", "3", "e", "4"]), int(1));
    assert_reply!(c.cmd(&["MGET", "c", "e"]), bulk_array(&["3", "4"]));
    assert_reply!(c.cmd(&["MSETNX", "x", "1", "y"]), arity("msetnx"));

    // MSET replaces TTLs.
    assert_reply!(c.cmd(&["SETEX", "t", "100", "v"]), OK);
    assert_reply!(c.cmd(&["MSET", "t", "w"]), OK);
    assert_reply!(c.cmd(&["TTL", "t"]), int(-1));
}

#[test]
fn incr_decr_family() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["INCR", "n"]), int(1));
    assert_reply!(c.cmd(&["INCRBY", "n", "10"]), int(11));
    assert_reply!(c.cmd(&["DECR", "n"]), int(10));
    assert_reply!(c.cmd(&["DECRBY", "n", "15"]), int(-5));
    assert_reply!(c.cmd(&["INCRBY", "n", "-5"]), int(-10));
    assert_reply!(c.cmd(&["GET", "n"]), bulk("-10"));
    assert_reply!(c.cmd(&["DECR", "fresh"]), int(-1));

    // INCR keeps a TTL.
    assert_reply!(c.cmd(&["SET", "t", "1", "EX", "100"]), OK);
    assert_reply!(c.cmd(&["INCR", "t"]), int(2));
    assert_reply!(c.cmd(&["TTL", "t"]), int(100));

    assert_reply!(c.cmd(&["SET", "n", "9223372036854775806"]), OK);
    assert_reply!(c.cmd(&["INCR", "n"]), int(i64::MAX));
    assert_reply!(
        c.cmd(&["INCR", "n"]),
        err("ERR increment or decrement would overflow")
    );
    assert_reply!(c.cmd(&["SET", "n", "-9223372036854775808"]), OK);
    assert_reply!(
        c.cmd(&["DECR", "n"]),
        err("ERR increment or decrement would overflow")
    );
    // DECRBY i64::MIN cannot be negated: its own message.
    assert_reply!(c.cmd(&["SET", "n", "1"]), OK);
    assert_reply!(
        c.cmd(&["DECRBY", "n", "-9223372036854775808"]),
        err("ERR decrement would overflow")
    );
    assert_reply!(c.cmd(&["DECRBY", "n", "9223372036854775808"]), err(NOT_INT));
    assert_reply!(c.cmd(&["GET", "n"]), bulk("1"));

    // Only canonical integers count: no spaces, no leading zeros, no '+', no decimals.
    for bad in ["abc", " 1", "01", "1.5", "+1", "", "1e3"] {
        assert_reply!(c.cmd(&["SET", "s", bad]), OK);
        assert_reply!(c.cmd(&["INCR", "s"]), err(NOT_INT), "value {bad:?}");
    }
    assert_reply!(c.cmd(&["INCRBY", "n", "1.5"]), err(NOT_INT));
    assert_reply!(c.cmd(&["INCRBY", "n", ""]), err(NOT_INT));
    assert_reply!(c.cmd(&["INCRBY", "n"]), arity("incrby"));
    assert_reply!(c.cmd(&["INCR"]), arity("incr"));
}

#[test]
fn incrbyfloat_formatting() {
    let server = TestServer::start();
    let mut c = server.conn();
    // The examples from the INCRBYFLOAT documentation.
    assert_reply!(c.cmd(&["SET", "f", "10.50"]), OK);
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    assert_reply!(c.cmd(&["SET", "f", "5.0e3"]), OK);
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f", "2.0e2"]), bulk("5200"));
    // Trailing zeros and the decimal point are dropped; the result is stored as text.
    assert_reply!(c.cmd(&["INCRBYFLOAT", "g", "3.0"]), bulk("3"));
    assert_reply!(c.cmd(&["INCRBYFLOAT", "g", "1.5"]), bulk("4.5"));
    assert_reply!(c.cmd(&["INCRBYFLOAT", "g", "-0.5"]), bulk("4"));
    assert_reply!(c.cmd(&["GET", "g"]), bulk("4"));
    assert_reply!(c.cmd(&["INCRBYFLOAT", "h", "0.1"]), bulk("0.1"));
    // 17 significant digits round 0.1 + 0.2 to 0.3, unlike shortest round-trip printing.
    assert_reply!(c.cmd(&["INCRBYFLOAT", "h", "0.2"]), bulk("0.3"));
    assert_reply!(c.cmd(&["SET", "i", "1"]), OK);
    assert_reply!(c.cmd(&["INCRBYFLOAT", "i", "1"]), bulk("2"));
    // Works on an integer-encoded value and returns a plain integer when whole.
    assert_reply!(c.cmd(&["INCRBYFLOAT", "i", "-3"]), bulk("-1"));

    assert_reply!(
        c.cmd(&["INCRBYFLOAT", "f", "abc"]),
        err("ERR value is not a valid float")
    );
    assert_reply!(c.cmd(&["SET", "s", "abc"]), OK);
    assert_reply!(
        c.cmd(&["INCRBYFLOAT", "s", "1"]),
        err("ERR value is not a valid float")
    );
    assert_reply!(
        c.cmd(&["INCRBYFLOAT", "f", "inf"]),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_reply!(c.cmd(&["GET", "f"]), bulk("5200"));
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f"]), arity("incrbyfloat"));
}

#[test]
fn append_strlen() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["APPEND", "k", "Hello"]), int(5));
    assert_reply!(c.cmd(&["APPEND", "k", " World"]), int(11));
    assert_reply!(c.cmd(&["GET", "k"]), bulk("Hello World"));
    assert_reply!(c.cmd(&["STRLEN", "k"]), int(11));
    assert_reply!(c.cmd(&["STRLEN", "nope"]), int(0));
    // STRLEN of an integer-encoded value is the length of its decimal text.
    assert_reply!(c.cmd(&["SET", "i", "-12345"]), OK);
    assert_reply!(c.cmd(&["STRLEN", "i"]), int(6));
    assert_reply!(c.cmd(&["APPEND", "k", ""]), int(11));
    // APPEND to an integer value appends to its decimal text.
    assert_reply!(c.cmd(&["SET", "n", "12"]), OK);
    assert_reply!(c.cmd(&["APPEND", "n", "3"]), int(3));
    assert_reply!(c.cmd(&["INCR", "n"]), int(124));
    assert_reply!(c.cmd(&["STRLEN", "n"]), int(3));
    // APPEND keeps a TTL.
    assert_reply!(c.cmd(&["SETEX", "t", "100", "a"]), OK);
    assert_reply!(c.cmd(&["APPEND", "t", "b"]), int(2));
    assert_reply!(c.cmd(&["TTL", "t"]), int(100));
    assert_reply!(c.cmd(&["APPEND", "k"]), arity("append"));
}

#[test]
fn getrange_setrange_substr() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "k", "Hello World"]), OK);
    assert_reply!(c.cmd(&["GETRANGE", "k", "0", "3"]), bulk("Hell"));
    assert_reply!(c.cmd(&["GETRANGE", "k", "-3", "-1"]), bulk("rld"));
    assert_reply!(c.cmd(&["GETRANGE", "k", "0", "-1"]), bulk("Hello World"));
    assert_reply!(c.cmd(&["GETRANGE", "k", "10", "100"]), bulk("d"));
    assert_reply!(c.cmd(&["GETRANGE", "k", "5", "2"]), bulk(""));
    assert_reply!(c.cmd(&["GETRANGE", "k", "11", "20"]), bulk(""));
    // Redis 7.0 clamps both negative indexes to 0, so a range entirely before the start
    // yields the first byte (7.2 changed this to an empty string).
    assert_reply!(c.cmd(&["GETRANGE", "k", "-100", "-50"]), bulk("H"));
    assert_reply!(c.cmd(&["GETRANGE", "nope", "0", "-1"]), bulk(""));
    assert_reply!(c.cmd(&["GETRANGE", "k", "0", "abc"]), err(NOT_INT));
    assert_reply!(c.cmd(&["GETRANGE", "k", "0"]), arity("getrange"));
    assert_reply!(c.cmd(&["SUBSTR", "k", "0", "4"]), bulk("Hello"));
    // GETRANGE of an integer-encoded value works on its text.
    assert_reply!(c.cmd(&["SET", "n", "12345"]), OK);
    assert_reply!(c.cmd(&["GETRANGE", "n", "1", "2"]), bulk("23"));

    assert_reply!(c.cmd(&["SETRANGE", "k", "6", "Redis"]), int(11));
    assert_reply!(c.cmd(&["GET", "k"]), bulk("Hello Redis"));
    // Writing past the end pads with NUL bytes.
    assert_reply!(c.cmd(&["SETRANGE", "pad", "6", "Redis"]), int(11));
    assert_reply!(c.cmd(&["GET", "pad"]), bulk(b"\0\0\0\0\0\0Redis"));
    assert_reply!(c.cmd(&["SETRANGE", "k", "0", ""]), int(11));
    // An empty write to a missing key creates nothing.
    assert_reply!(c.cmd(&["SETRANGE", "e", "0", ""]), int(0));
    assert_reply!(c.cmd(&["EXISTS", "e"]), int(0));
    assert_reply!(
        c.cmd(&["SETRANGE", "k", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_reply!(
        c.cmd(&["SETRANGE", "k", "536870912", "x"]),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_reply!(c.cmd(&["SETRANGE", "k", "x", "y"]), err(NOT_INT));
}

#[test]
fn object_encoding() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "i", "12345"]), OK);
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "i"]), bulk("int"));
    assert_reply!(c.cmd(&["SET", "neg", "-7"]), OK);
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "neg"]), bulk("int"));
    // Strings of up to 44 bytes are embstr; 45 and longer are raw.
    assert_reply!(c.cmd(&["SET", "e", &"x".repeat(44)]), OK);
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "e"]), bulk("embstr"));
    assert_reply!(c.cmd(&["SET", "r", &"x".repeat(45)]), OK);
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "r"]), bulk("raw"));
    // Leading zeros are not an integer encoding.
    assert_reply!(c.cmd(&["SET", "z", "012"]), OK);
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("embstr"));
    // APPEND makes any string raw.
    assert_reply!(c.cmd(&["APPEND", "i", "6"]), int(6));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "i"]), bulk("raw"));
    // INCR turns it back into an integer.
    assert_reply!(c.cmd(&["INCR", "i"]), int(123457));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "i"]), bulk("int"));
    // INCRBYFLOAT and SETRANGE results are strings, never int-encoded.
    assert_reply!(c.cmd(&["SET", "f", "5"]), OK);
    assert_reply!(c.cmd(&["INCRBYFLOAT", "f", "1"]), bulk("6"));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "f"]), bulk("embstr"));
    assert_reply!(c.cmd(&["SETRANGE", "f", "0", "9"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "f"]), bulk("raw"));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "nope"]), NIL);
    assert_reply!(
        c.cmd(&["OBJECT", "FOO", "i"]),
        err("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")
    );
}
