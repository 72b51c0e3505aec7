//! Sorted set commands: every option, exact replies and exact errors.
//!
//! The replay tests run a script recorded from redis-server 7.0.15 (RESP2, then the same
//! script after `HELLO 3`) and compare every reply byte for byte.

use kvd_tests::*;

/// Runs `cases` in order on a fresh connection (after `HELLO 3` if `resp3`), collecting every
/// mismatch.
fn replay(server: &TestServer, cases: &[(&[&str], &[u8])], resp3: bool) {
    let mut c = server.conn();
    if resp3 {
        c.cmd(&["HELLO", "3"]);
    }
    let mut failures = Vec::new();
    for (args, want) in cases {
        let got = c.cmd(args);
        if got != *want {
            failures.push(format!("{args:?}: {}", describe_mismatch(&got, want)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn replies_match_redis_resp2() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] = &[
        (&["SET", "str", "x"], b"+OK\r\n"),
        (&["HSET", "h", "f", "v"], b":1\r\n"),
        (&["ZADD", "z", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZADD", "z", "NX", "XX", "1", "a"], b"-ERR XX and NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "GT", "LT", "1", "a"], b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "NX", "GT", "1", "a"], b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "INCR", "1", "a", "2", "b"], b"-ERR INCR option supports a single increment-element pair\r\n"),
        (&["ZADD", "z", "1"], b"-ERR wrong number of arguments for 'zadd' command\r\n"),
        (&["ZADD", "z", "1", "a", "2"], b"-ERR syntax error\r\n"),
        (&["ZADD", "z", "x", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "z", "nan", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "z", "CH", "5", "a", "2", "b", "4", "d"], b":2\r\n"),
        (&["ZADD", "z", "XX", "9", "nope"], b":0\r\n"),
        (&["ZADD", "z", "NX", "9", "a"], b":0\r\n"),
        (&["ZADD", "z", "GT", "1", "a"], b":0\r\n"),
        (&["ZADD", "z", "GT", "CH", "6", "a"], b":1\r\n"),
        (&["ZADD", "z", "LT", "CH", "6", "a"], b":0\r\n"),
        (&["ZADD", "z", "INCR", "1.5", "a"], b"$3\r\n7.5\r\n"),
        (&["ZADD", "z", "INCR", "inf", "a"], b"$3\r\ninf\r\n"),
        (&["ZADD", "z", "INCR", "-inf", "a"], b"-ERR resulting score is not a number (NaN)\r\n"),
        (&["ZADD", "z", "XX", "INCR", "1", "nope"], b"$-1\r\n"),
        (&["ZADD", "z", "NX", "INCR", "1", "a"], b"$-1\r\n"),
        (&["ZADD", "nokey", "XX", "1", "a"], b":0\r\n"),
        (&["EXISTS", "nokey"], b":0\r\n"),
        (&["ZINCRBY", "z", "0.1", "b"], b"$18\r\n2.1000000000000001\r\n"),
        (&["ZINCRBY", "z", "x", "b"], b"-ERR value is not a valid float\r\n"),
        (&["ZINCRBY", "z", "1", "new"], b"$1\r\n1\r\n"),
        (&["ZSCORE", "z", "a"], b"$3\r\ninf\r\n"),
        (&["ZSCORE", "z", "nope"], b"$-1\r\n"),
        (&["ZSCORE", "nokey", "a"], b"$-1\r\n"),
        (&["ZMSCORE", "z", "b", "nope", "c"], b"*3\r\n$18\r\n2.1000000000000001\r\n$-1\r\n$1\r\n3\r\n"),
        (&["ZMSCORE", "nokey", "a", "b"], b"*2\r\n$-1\r\n$-1\r\n"),
        (&["ZCARD", "z"], b":5\r\n"),
        (&["ZCARD", "nokey"], b":0\r\n"),
        (&["ZRANK", "z", "c"], b":2\r\n"),
        (&["ZREVRANK", "z", "c"], b":2\r\n"),
        (&["ZRANK", "z", "nope"], b"$-1\r\n"),
        (&["ZRANK", "nokey", "a"], b"$-1\r\n"),
        (&["ZRANGE", "z", "0", "-1"], b"*5\r\n$3\r\nnew\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "0", "-1", "WITHSCORES"], b"*10\r\n$3\r\nnew\r\n$1\r\n1\r\n$1\r\nb\r\n$18\r\n2.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        (&["ZRANGE", "z", "-2", "-1", "WITHSCORES"], b"*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        (&["ZRANGE", "z", "5", "1"], b"*0\r\n"),
        (&["ZRANGE", "z", "0", "100", "REV"], b"*5\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$3\r\nnew\r\n"),
        (&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        (&["ZRANGE", "z", "a", "b", "BYLEX", "WITHSCORES"], b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        (&["ZRANGE", "z", "(1", "+inf", "BYSCORE"], b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "WITHSCORES"], b"*8\r\n$1\r\na\r\n$3\r\ninf\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$18\r\n2.1000000000000001\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"], b"*0\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"], b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2", "WITHSCORES"], b"*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        (&["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], b"-ERR syntax error\r\n"),
        (&["ZRANGE", "z", "0", "1", "REV", "REV"], b"-ERR syntax error\r\n"),
        (&["ZRANGE", "z", "x", "1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZRANGE", "z", "x", "1", "BYSCORE"], b"-ERR min or max is not a float\r\n"),
        (&["ZRANGE", "nokey", "0", "-1"], b"*0\r\n"),
        (&["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"], b"*10\r\n$3\r\nnew\r\n$1\r\n1\r\n$1\r\nb\r\n$18\r\n2.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\na\r\n$3\r\ninf\r\n"),
        (&["ZRANGEBYSCORE", "z", "(2.1", "5"], b"*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        (&["ZRANGEBYSCORE", "z", "x", "5"], b"-ERR min or max is not a float\r\n"),
        (&["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "1"], b"*1\r\n$1\r\nb\r\n"),
        (&["ZRANGEBYSCORE", "z", "0", "10", "REV"], b"-ERR syntax error\r\n"),
        (&["ZREVRANGE", "z", "0", "1", "WITHSCORES"], b"*4\r\n$1\r\na\r\n$3\r\ninf\r\n$1\r\nd\r\n$1\r\n4\r\n"),
        (&["ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"], b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        (&["ZREVRANGEBYSCORE", "z", "+inf", "-inf"], b"*5\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$3\r\nnew\r\n"),
        (&["ZREVRANGEBYSCORE", "z", "5", "(2.1", "WITHSCORES", "LIMIT", "0", "5"], b"*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        (&["ZCOUNT", "z", "2", "5"], b":3\r\n"),
        (&["ZCOUNT", "z", "(2.1", "+inf"], b":3\r\n"),
        (&["ZCOUNT", "z", "x", "5"], b"-ERR min or max is not a float\r\n"),
        (&["ZCOUNT", "nokey", "0", "1"], b":0\r\n"),
        (&["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"], b":5\r\n"),
        (&["ZRANGEBYLEX", "lex", "-", "+"], b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        (&["ZRANGEBYLEX", "lex", "[b", "(d"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGEBYLEX", "lex", "(b", "[d", "LIMIT", "1", "5"], b"*1\r\n$1\r\nd\r\n"),
        (&["ZRANGEBYLEX", "lex", "a", "b"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZREVRANGEBYLEX", "lex", "+", "-"], b"*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
        (&["ZREVRANGEBYLEX", "lex", "[d", "(b"], b"*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
        (&["ZLEXCOUNT", "lex", "-", "+"], b":5\r\n"),
        (&["ZLEXCOUNT", "lex", "[b", "[c"], b":2\r\n"),
        (&["ZLEXCOUNT", "lex", "x", "y"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"], b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        (&["ZRANGESTORE", "dz", "z", "0", "1"], b":2\r\n"),
        (&["ZRANGE", "dz", "0", "-1", "WITHSCORES"], b"*4\r\n$3\r\nnew\r\n$1\r\n1\r\n$1\r\nb\r\n$18\r\n2.1000000000000001\r\n"),
        (&["ZRANGESTORE", "dz", "z", "0", "1", "WITHSCORES"], b"-ERR syntax error\r\n"),
        (&["ZRANGESTORE", "dz", "lex", "[b", "[c", "BYLEX"], b":2\r\n"),
        (&["ZRANGE", "dz", "0", "-1"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGESTORE", "dz", "nokey", "0", "-1"], b":0\r\n"),
        (&["EXISTS", "dz"], b":0\r\n"),
        (&["ZREMRANGEBYRANK", "lex", "0", "0"], b":1\r\n"),
        (&["ZREMRANGEBYLEX", "lex", "[d", "+"], b":2\r\n"),
        (&["ZREMRANGEBYLEX", "lex", "x", "y"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZRANGE", "lex", "0", "-1"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZREMRANGEBYSCORE", "z", "5", "+inf"], b":1\r\n"),
        (&["ZREMRANGEBYSCORE", "z", "x", "1"], b"-ERR min or max is not a float\r\n"),
        (&["ZREMRANGEBYRANK", "z", "x", "1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZRANGE", "z", "0", "-1", "WITHSCORES"], b"*8\r\n$3\r\nnew\r\n$1\r\n1\r\n$1\r\nb\r\n$18\r\n2.1000000000000001\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
        (&["ZPOPMIN", "z"], b"*2\r\n$3\r\nnew\r\n$1\r\n1\r\n"),
        (&["ZPOPMAX", "z", "2"], b"*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        (&["ZPOPMIN", "z", "-1"], b"-ERR value is out of range, must be positive\r\n"),
        (&["ZPOPMIN", "nokey"], b"*0\r\n"),
        (&["ZPOPMIN", "nokey", "2"], b"*0\r\n"),
        (&["ZPOPMAX", "z", "0"], b"*0\r\n"),
        (&["ZADD", "mp", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZMPOP", "2", "nokey", "mp", "MIN"], b"*2\r\n$2\r\nmp\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZMPOP", "1", "mp", "MAX", "COUNT", "5"], b"*2\r\n$2\r\nmp\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
        (&["ZMPOP", "1", "mp", "MIN"], b"*-1\r\n"),
        (&["ZMPOP", "0", "mp", "MIN"], b"-ERR numkeys should be greater than 0\r\n"),
        (&["ZMPOP", "1", "mp"], b"-ERR wrong number of arguments for 'zmpop' command\r\n"),
        (&["ZMPOP", "1", "mp", "MIN", "COUNT", "0"], b"-ERR count should be greater than 0\r\n"),
        (&["ZMPOP", "1", "mp", "foo"], b"-ERR syntax error\r\n"),
        (&["ZMPOP", "x", "mp", "MIN"], b"-ERR numkeys should be greater than 0\r\n"),
        (&["ZADD", "u1", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZADD", "u2", "10", "b", "20", "c", "30", "d"], b":3\r\n"),
        (&["SADD", "us", "c", "d", "e"], b":3\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WITHSCORES"], b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX", "WITHSCORES"], b"*8\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n5\r\n$1\r\nc\r\n$2\r\n10\r\n$1\r\nd\r\n$2\r\n15\r\n"),
        (&["ZINTER", "2", "u1", "u2", "WITHSCORES"], b"*4\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n"),
        (&["ZINTER", "2", "u1", "u2", "AGGREGATE", "MIN", "WITHSCORES"], b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
        (&["ZINTER", "3", "u1", "u2", "us", "WITHSCORES"], b"*2\r\n$1\r\nc\r\n$2\r\n24\r\n"),
        (&["ZUNION", "3", "u1", "u2", "us"], b"*5\r\n$1\r\na\r\n$1\r\ne\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        (&["ZDIFF", "2", "u1", "u2", "WITHSCORES"], b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZDIFF", "1", "u1", "WEIGHTS", "1"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "0", "u1"], b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
        (&["ZUNION", "x", "u1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZUNION", "3", "u1", "u2"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "1", "x"], b"-ERR weight value is not a float\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "1"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "2", "u1", "u2", "AGGREGATE", "foo"], b"-ERR syntax error\r\n"),
        (&["ZUNIONSTORE", "zd", "2", "u1", "u2"], b":4\r\n"),
        (&["ZRANGE", "zd", "0", "-1", "WITHSCORES"], b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
        (&["ZUNIONSTORE", "zd", "2", "u1", "u2", "WITHSCORES"], b"-ERR syntax error\r\n"),
        (&["ZINTERSTORE", "zd", "2", "u1", "u2"], b":2\r\n"),
        (&["ZDIFFSTORE", "zd", "2", "u1", "u2"], b":1\r\n"),
        (&["ZRANGE", "zd", "0", "-1", "WITHSCORES"], b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZDIFFSTORE", "zd", "2", "u1", "u1"], b":0\r\n"),
        (&["EXISTS", "zd"], b":0\r\n"),
        (&["ZINTERCARD", "2", "u1", "u2"], b":2\r\n"),
        (&["ZINTERCARD", "2", "u1", "u2", "LIMIT", "1"], b":1\r\n"),
        (&["ZINTERCARD", "0", "u1"], b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
        (&["ZINTERCARD", "3", "u1"], b"-ERR syntax error\r\n"),
        (&["ZINTERCARD", "1", "u1", "LIMIT", "-1"], b"-ERR LIMIT can't be negative\r\n"),
        (&["ZUNION", "2", "u1", "str"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZUNION", "2", "u1", "h"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZADD", "inf", "1", "a"], b":1\r\n"),
        (&["ZADD", "inf2", "-inf", "a"], b":1\r\n"),
        (&["ZUNION", "2", "inf", "inf2", "WEIGHTS", "inf", "1", "WITHSCORES"], b"*2\r\n$1\r\na\r\n$1\r\n0\r\n"),
        (&["ZUNION", "2", "inf", "inf2", "WEIGHTS", "0", "1", "WITHSCORES"], b"*2\r\n$1\r\na\r\n$4\r\n-inf\r\n"),
        (&["ZADD", "z5", "inf", "x"], b":1\r\n"),
        (&["ZUNION", "2", "z5", "inf2", "WITHSCORES"], b"*4\r\n$1\r\na\r\n$4\r\n-inf\r\n$1\r\nx\r\n$3\r\ninf\r\n"),
        (&["ZINTER", "2", "z5", "z5", "WEIGHTS", "1", "-1", "WITHSCORES"], b"*2\r\n$1\r\nx\r\n$1\r\n0\r\n"),
        (&["ZRANDMEMBER", "nokey"], b"$-1\r\n"),
        (&["ZRANDMEMBER", "nokey", "3"], b"*0\r\n"),
        (&["ZRANDMEMBER", "inf", "1", "WITHSCORES"], b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZRANDMEMBER", "inf", "-2", "WITHSCORES"], b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZRANDMEMBER", "inf", "2"], b"*1\r\n$1\r\na\r\n"),
        (&["ZRANDMEMBER", "inf", "1", "foo"], b"-ERR syntax error\r\n"),
        (&["ZRANDMEMBER", "inf", "4611686018427387904", "WITHSCORES"], b"-ERR value is out of range\r\n"),
        (&["ZSCAN", "inf", "0"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZSCAN", "nokey", "0"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["ZADD", "fl", "0.1", "a", "1e20", "b", "-0", "c", "1.5e-5", "d"], b":4\r\n"),
        (&["ZRANGE", "fl", "0", "-1", "WITHSCORES"], b"*8\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\nd\r\n$7\r\n1.5e-05\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n$1\r\nb\r\n$5\r\n1e+20\r\n"),
        (&["ZSCAN", "fl", "0"], b"*2\r\n$1\r\n0\r\n*8\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\nd\r\n$7\r\n1.5e-05\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n$1\r\nb\r\n$5\r\n1e+20\r\n"),
        (&["ZSCORE", "fl", "a"], b"$19\r\n0.10000000000000001\r\n"),
        (&["ZINCRBY", "fl", "1e400", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "fl", "1e400", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZRANGEBYSCORE", "fl", "1e400", "inf"], b"*0\r\n"),
        (&["ZADD", "str", "1", "a"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZRANGE", "str", "0", "1"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZSCORE", "str", "a"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["TYPE", "u1"], b"+zset\r\n"),
        (&["OBJECT", "ENCODING", "u1"], b"$8\r\nlistpack\r\n"),
    ];
    replay(&server, CASES, false);
}

#[test]
fn replies_match_redis_resp3() {
    let server = TestServer::start();
    const CASES: &[(&[&str], &[u8])] = &[
        (&["SET", "str", "x"], b"+OK\r\n"),
        (&["HSET", "h", "f", "v"], b":1\r\n"),
        (&["ZADD", "z", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZADD", "z", "NX", "XX", "1", "a"], b"-ERR XX and NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "GT", "LT", "1", "a"], b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "NX", "GT", "1", "a"], b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
        (&["ZADD", "z", "INCR", "1", "a", "2", "b"], b"-ERR INCR option supports a single increment-element pair\r\n"),
        (&["ZADD", "z", "1"], b"-ERR wrong number of arguments for 'zadd' command\r\n"),
        (&["ZADD", "z", "1", "a", "2"], b"-ERR syntax error\r\n"),
        (&["ZADD", "z", "x", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "z", "nan", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "z", "CH", "5", "a", "2", "b", "4", "d"], b":2\r\n"),
        (&["ZADD", "z", "XX", "9", "nope"], b":0\r\n"),
        (&["ZADD", "z", "NX", "9", "a"], b":0\r\n"),
        (&["ZADD", "z", "GT", "1", "a"], b":0\r\n"),
        (&["ZADD", "z", "GT", "CH", "6", "a"], b":1\r\n"),
        (&["ZADD", "z", "LT", "CH", "6", "a"], b":0\r\n"),
        (&["ZADD", "z", "INCR", "1.5", "a"], b",7.5\r\n"),
        (&["ZADD", "z", "INCR", "inf", "a"], b",inf\r\n"),
        (&["ZADD", "z", "INCR", "-inf", "a"], b"-ERR resulting score is not a number (NaN)\r\n"),
        (&["ZADD", "z", "XX", "INCR", "1", "nope"], b"_\r\n"),
        (&["ZADD", "z", "NX", "INCR", "1", "a"], b"_\r\n"),
        (&["ZADD", "nokey", "XX", "1", "a"], b":0\r\n"),
        (&["EXISTS", "nokey"], b":0\r\n"),
        (&["ZINCRBY", "z", "0.1", "b"], b",2.1000000000000001\r\n"),
        (&["ZINCRBY", "z", "x", "b"], b"-ERR value is not a valid float\r\n"),
        (&["ZINCRBY", "z", "1", "new"], b",1\r\n"),
        (&["ZSCORE", "z", "a"], b",inf\r\n"),
        (&["ZSCORE", "z", "nope"], b"_\r\n"),
        (&["ZSCORE", "nokey", "a"], b"_\r\n"),
        (&["ZMSCORE", "z", "b", "nope", "c"], b"*3\r\n,2.1000000000000001\r\n_\r\n,3\r\n"),
        (&["ZMSCORE", "nokey", "a", "b"], b"*2\r\n_\r\n_\r\n"),
        (&["ZCARD", "z"], b":5\r\n"),
        (&["ZCARD", "nokey"], b":0\r\n"),
        (&["ZRANK", "z", "c"], b":2\r\n"),
        (&["ZREVRANK", "z", "c"], b":2\r\n"),
        (&["ZRANK", "z", "nope"], b"_\r\n"),
        (&["ZRANK", "nokey", "a"], b"_\r\n"),
        (&["ZRANGE", "z", "0", "-1"], b"*5\r\n$3\r\nnew\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "0", "-1", "WITHSCORES"], b"*5\r\n*2\r\n$3\r\nnew\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.1000000000000001\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\na\r\n,inf\r\n"),
        (&["ZRANGE", "z", "-2", "-1", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\na\r\n,inf\r\n"),
        (&["ZRANGE", "z", "5", "1"], b"*0\r\n"),
        (&["ZRANGE", "z", "0", "100", "REV"], b"*5\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$3\r\nnew\r\n"),
        (&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"], b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        (&["ZRANGE", "z", "a", "b", "BYLEX", "WITHSCORES"], b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        (&["ZRANGE", "z", "(1", "+inf", "BYSCORE"], b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "WITHSCORES"], b"*4\r\n*2\r\n$1\r\na\r\n,inf\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2.1000000000000001\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2"], b"*0\r\n"),
        (&["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1"], b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\na\r\n"),
        (&["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        (&["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], b"-ERR syntax error\r\n"),
        (&["ZRANGE", "z", "0", "1", "REV", "REV"], b"-ERR syntax error\r\n"),
        (&["ZRANGE", "z", "x", "1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZRANGE", "z", "x", "1", "BYSCORE"], b"-ERR min or max is not a float\r\n"),
        (&["ZRANGE", "nokey", "0", "-1"], b"*0\r\n"),
        (&["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"], b"*5\r\n*2\r\n$3\r\nnew\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.1000000000000001\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\na\r\n,inf\r\n"),
        (&["ZRANGEBYSCORE", "z", "(2.1", "5"], b"*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        (&["ZRANGEBYSCORE", "z", "x", "5"], b"-ERR min or max is not a float\r\n"),
        (&["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "1"], b"*1\r\n$1\r\nb\r\n"),
        (&["ZRANGEBYSCORE", "z", "0", "10", "REV"], b"-ERR syntax error\r\n"),
        (&["ZREVRANGE", "z", "0", "1", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\na\r\n,inf\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
        (&["ZREVRANGE", "z", "0", "1", "LIMIT", "0", "1"], b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
        (&["ZREVRANGEBYSCORE", "z", "+inf", "-inf"], b"*5\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$3\r\nnew\r\n"),
        (&["ZREVRANGEBYSCORE", "z", "5", "(2.1", "WITHSCORES", "LIMIT", "0", "5"], b"*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        (&["ZCOUNT", "z", "2", "5"], b":3\r\n"),
        (&["ZCOUNT", "z", "(2.1", "+inf"], b":3\r\n"),
        (&["ZCOUNT", "z", "x", "5"], b"-ERR min or max is not a float\r\n"),
        (&["ZCOUNT", "nokey", "0", "1"], b":0\r\n"),
        (&["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"], b":5\r\n"),
        (&["ZRANGEBYLEX", "lex", "-", "+"], b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
        (&["ZRANGEBYLEX", "lex", "[b", "(d"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGEBYLEX", "lex", "(b", "[d", "LIMIT", "1", "5"], b"*1\r\n$1\r\nd\r\n"),
        (&["ZRANGEBYLEX", "lex", "a", "b"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZREVRANGEBYLEX", "lex", "+", "-"], b"*5\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
        (&["ZREVRANGEBYLEX", "lex", "[d", "(b"], b"*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
        (&["ZLEXCOUNT", "lex", "-", "+"], b":5\r\n"),
        (&["ZLEXCOUNT", "lex", "[b", "[c"], b":2\r\n"),
        (&["ZLEXCOUNT", "lex", "x", "y"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZRANGEBYLEX", "lex", "-", "+", "WITHSCORES"], b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
        (&["ZRANGESTORE", "dz", "z", "0", "1"], b":2\r\n"),
        (&["ZRANGE", "dz", "0", "-1", "WITHSCORES"], b"*2\r\n*2\r\n$3\r\nnew\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.1000000000000001\r\n"),
        (&["ZRANGESTORE", "dz", "z", "0", "1", "WITHSCORES"], b"-ERR syntax error\r\n"),
        (&["ZRANGESTORE", "dz", "lex", "[b", "[c", "BYLEX"], b":2\r\n"),
        (&["ZRANGE", "dz", "0", "-1"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZRANGESTORE", "dz", "nokey", "0", "-1"], b":0\r\n"),
        (&["EXISTS", "dz"], b":0\r\n"),
        (&["ZREMRANGEBYRANK", "lex", "0", "0"], b":1\r\n"),
        (&["ZREMRANGEBYLEX", "lex", "[d", "+"], b":2\r\n"),
        (&["ZREMRANGEBYLEX", "lex", "x", "y"], b"-ERR min or max not valid string range item\r\n"),
        (&["ZRANGE", "lex", "0", "-1"], b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
        (&["ZREMRANGEBYSCORE", "z", "5", "+inf"], b":1\r\n"),
        (&["ZREMRANGEBYSCORE", "z", "x", "1"], b"-ERR min or max is not a float\r\n"),
        (&["ZREMRANGEBYRANK", "z", "x", "1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZRANGE", "z", "0", "-1", "WITHSCORES"], b"*4\r\n*2\r\n$3\r\nnew\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.1000000000000001\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
        (&["ZPOPMIN", "z"], b"*2\r\n$3\r\nnew\r\n,1\r\n"),
        (&["ZPOPMAX", "z", "2"], b"*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        (&["ZPOPMIN", "z", "-1"], b"-ERR value is out of range, must be positive\r\n"),
        (&["ZPOPMIN", "nokey"], b"*0\r\n"),
        (&["ZPOPMIN", "nokey", "2"], b"*0\r\n"),
        (&["ZPOPMAX", "z", "0"], b"*0\r\n"),
        (&["ZADD", "mp", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZMPOP", "2", "nokey", "mp", "MIN"], b"*2\r\n$2\r\nmp\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        (&["ZMPOP", "1", "mp", "MAX", "COUNT", "5"], b"*2\r\n$2\r\nmp\r\n*2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
        (&["ZMPOP", "1", "mp", "MIN"], b"_\r\n"),
        (&["ZMPOP", "0", "mp", "MIN"], b"-ERR numkeys should be greater than 0\r\n"),
        (&["ZMPOP", "1", "mp"], b"-ERR wrong number of arguments for 'zmpop' command\r\n"),
        (&["ZMPOP", "1", "mp", "MIN", "COUNT", "0"], b"-ERR count should be greater than 0\r\n"),
        (&["ZMPOP", "1", "mp", "foo"], b"-ERR syntax error\r\n"),
        (&["ZMPOP", "x", "mp", "MIN"], b"-ERR numkeys should be greater than 0\r\n"),
        (&["ZADD", "u1", "1", "a", "2", "b", "3", "c"], b":3\r\n"),
        (&["ZADD", "u2", "10", "b", "20", "c", "30", "d"], b":3\r\n"),
        (&["SADD", "us", "c", "d", "e"], b":3\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WITHSCORES"], b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX", "WITHSCORES"], b"*4\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,5\r\n*2\r\n$1\r\nc\r\n,10\r\n*2\r\n$1\r\nd\r\n,15\r\n"),
        (&["ZINTER", "2", "u1", "u2", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n"),
        (&["ZINTER", "2", "u1", "u2", "AGGREGATE", "MIN", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
        (&["ZINTER", "3", "u1", "u2", "us", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\nc\r\n,24\r\n"),
        (&["ZUNION", "3", "u1", "u2", "us"], b"*5\r\n$1\r\na\r\n$1\r\ne\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        (&["ZDIFF", "2", "u1", "u2", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        (&["ZDIFF", "1", "u1", "WEIGHTS", "1"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "0", "u1"], b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
        (&["ZUNION", "x", "u1"], b"-ERR value is not an integer or out of range\r\n"),
        (&["ZUNION", "3", "u1", "u2"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "1", "x"], b"-ERR weight value is not a float\r\n"),
        (&["ZUNION", "2", "u1", "u2", "WEIGHTS", "1"], b"-ERR syntax error\r\n"),
        (&["ZUNION", "2", "u1", "u2", "AGGREGATE", "foo"], b"-ERR syntax error\r\n"),
        (&["ZUNIONSTORE", "zd", "2", "u1", "u2"], b":4\r\n"),
        (&["ZRANGE", "zd", "0", "-1", "WITHSCORES"], b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
        (&["ZUNIONSTORE", "zd", "2", "u1", "u2", "WITHSCORES"], b"-ERR syntax error\r\n"),
        (&["ZINTERSTORE", "zd", "2", "u1", "u2"], b":2\r\n"),
        (&["ZDIFFSTORE", "zd", "2", "u1", "u2"], b":1\r\n"),
        (&["ZRANGE", "zd", "0", "-1", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        (&["ZDIFFSTORE", "zd", "2", "u1", "u1"], b":0\r\n"),
        (&["EXISTS", "zd"], b":0\r\n"),
        (&["ZINTERCARD", "2", "u1", "u2"], b":2\r\n"),
        (&["ZINTERCARD", "2", "u1", "u2", "LIMIT", "1"], b":1\r\n"),
        (&["ZINTERCARD", "0", "u1"], b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
        (&["ZINTERCARD", "3", "u1"], b"-ERR syntax error\r\n"),
        (&["ZINTERCARD", "1", "u1", "LIMIT", "-1"], b"-ERR LIMIT can't be negative\r\n"),
        (&["ZUNION", "2", "u1", "str"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZUNION", "2", "u1", "h"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZADD", "inf", "1", "a"], b":1\r\n"),
        (&["ZADD", "inf2", "-inf", "a"], b":1\r\n"),
        (&["ZUNION", "2", "inf", "inf2", "WEIGHTS", "inf", "1", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\na\r\n,0\r\n"),
        (&["ZUNION", "2", "inf", "inf2", "WEIGHTS", "0", "1", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\na\r\n,-inf\r\n"),
        (&["ZADD", "z5", "inf", "x"], b":1\r\n"),
        (&["ZUNION", "2", "z5", "inf2", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\na\r\n,-inf\r\n*2\r\n$1\r\nx\r\n,inf\r\n"),
        (&["ZINTER", "2", "z5", "z5", "WEIGHTS", "1", "-1", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\nx\r\n,0\r\n"),
        (&["ZRANDMEMBER", "nokey"], b"_\r\n"),
        (&["ZRANDMEMBER", "nokey", "3"], b"*0\r\n"),
        (&["ZRANDMEMBER", "inf", "1", "WITHSCORES"], b"*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        (&["ZRANDMEMBER", "inf", "-2", "WITHSCORES"], b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
        (&["ZRANDMEMBER", "inf", "2"], b"*1\r\n$1\r\na\r\n"),
        (&["ZRANDMEMBER", "inf", "1", "foo"], b"-ERR syntax error\r\n"),
        (&["ZRANDMEMBER", "inf", "4611686018427387904", "WITHSCORES"], b"-ERR value is out of range\r\n"),
        (&["ZSCAN", "inf", "0"], b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
        (&["ZSCAN", "nokey", "0"], b"*2\r\n$1\r\n0\r\n*0\r\n"),
        (&["ZADD", "fl", "0.1", "a", "1e20", "b", "-0", "c", "1.5e-5", "d"], b":4\r\n"),
        (&["ZRANGE", "fl", "0", "-1", "WITHSCORES"], b"*4\r\n*2\r\n$1\r\nc\r\n,0\r\n*2\r\n$1\r\nd\r\n,1.5e-05\r\n*2\r\n$1\r\na\r\n,0.10000000000000001\r\n*2\r\n$1\r\nb\r\n,1e+20\r\n"),
        (&["ZSCAN", "fl", "0"], b"*2\r\n$1\r\n0\r\n*8\r\n$1\r\nc\r\n$1\r\n0\r\n$1\r\nd\r\n$7\r\n1.5e-05\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n$1\r\nb\r\n$5\r\n1e+20\r\n"),
        (&["ZSCORE", "fl", "a"], b",0.10000000000000001\r\n"),
        (&["ZINCRBY", "fl", "1e400", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZADD", "fl", "1e400", "a"], b"-ERR value is not a valid float\r\n"),
        (&["ZRANGEBYSCORE", "fl", "1e400", "inf"], b"*0\r\n"),
        (&["ZADD", "str", "1", "a"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZRANGE", "str", "0", "1"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["ZSCORE", "str", "a"], b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        (&["TYPE", "u1"], b"+zset\r\n"),
        (&["OBJECT", "ENCODING", "u1"], b"$8\r\nlistpack\r\n"),
    ];
    replay(&server, CASES, true);
}

#[test]
fn wrongtype_and_emptied_sorted_sets() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["SET", "str", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for args in [
        &["ZADD", "str", "1", "m"][..],
        &["ZINCRBY", "str", "1", "m"],
        &["ZREM", "str", "m"],
        &["ZCARD", "str"],
        &["ZSCORE", "str", "m"],
        &["ZMSCORE", "str", "m"],
        &["ZRANK", "str", "m"],
        &["ZREVRANK", "str", "m"],
        &["ZCOUNT", "str", "0", "1"],
        &["ZLEXCOUNT", "str", "-", "+"],
        &["ZRANGE", "str", "0", "1"],
        &["ZRANGEBYSCORE", "str", "0", "1"],
        &["ZREVRANGE", "str", "0", "1"],
        &["ZREVRANGEBYSCORE", "str", "1", "0"],
        &["ZRANGEBYLEX", "str", "-", "+"],
        &["ZREVRANGEBYLEX", "str", "+", "-"],
        &["ZRANGESTORE", "d", "str", "0", "1"],
        &["ZREMRANGEBYRANK", "str", "0", "1"],
        &["ZREMRANGEBYSCORE", "str", "0", "1"],
        &["ZREMRANGEBYLEX", "str", "-", "+"],
        &["ZPOPMIN", "str"],
        &["ZPOPMAX", "str"],
        &["ZMPOP", "1", "str", "MIN"],
        &["ZRANDMEMBER", "str"],
        &["ZUNION", "1", "str"],
        &["ZINTER", "1", "str"],
        &["ZDIFF", "1", "str"],
        &["ZINTERCARD", "1", "str"],
        &["ZSCAN", "str", "0"],
    ] {
        assert_reply!(c.cmd(args), wrong, "{args:?}");
    }
    assert_reply!(c.cmd(&["ZADD", "z", "1", "a"]), int(1));
    assert_reply!(c.cmd(&["TYPE", "z"]), b"+zset\r\n".to_vec());
    assert_reply!(c.cmd(&["ZREM", "z", "a"]), int(1));
    assert_reply!(c.cmd(&["EXISTS", "z"]), int(0));
}

#[test]
fn zrank_withscore_as_redis_7_2() {
    let server = TestServer::start();
    if !server.is_kvd() {
        // WITHSCORE arrived in Redis 7.2; 7.0 refuses the extra argument.
        return;
    }
    let mut c = server.conn();
    assert_reply!(c.cmd(&["ZADD", "z", "1.5", "a", "2", "b"]), int(2));
    assert_reply!(
        c.cmd(&["ZRANK", "z", "b", "WITHSCORE"]),
        b"*2\r\n:1\r\n$1\r\n2\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZREVRANK", "z", "b", "WITHSCORE"]),
        b"*2\r\n:0\r\n$1\r\n2\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZRANK", "z", "x", "WITHSCORE"]),
        b"*-1\r\n".to_vec()
    );
    assert_reply!(
        c.cmd(&["ZRANK", "z", "a", "WITHSCORES"]),
        err("ERR syntax error")
    );
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["ZRANK", "z", "a", "WITHSCORE"]),
        b"*2\r\n:0\r\n,1.5\r\n".to_vec()
    );
    assert_reply!(c.cmd(&["ZRANK", "z", "x", "WITHSCORE"]), b"_\r\n".to_vec());
}

#[test]
fn multi_key_commands_across_shards() {
    let server = TestServer::start();
    let mut c = server.conn();
    assert_reply!(c.cmd(&["ZADD", "k1", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_reply!(
        c.cmd(&["ZADD", "k2", "10", "b", "20", "c", "30", "d"]),
        int(3)
    );
    assert_reply!(c.cmd(&["SADD", "k3", "c", "d", "e"]), int(3));
    assert_reply!(
        c.cmd(&["ZUNION", "3", "k1", "k2", "k3", "WITHSCORES"]),
        bulk_array(&["a", "1", "e", "1", "b", "12", "c", "24", "d", "31"])
    );
    assert_reply!(
        c.cmd(&[
            "ZINTER",
            "2",
            "k1",
            "k2",
            "WEIGHTS",
            "2",
            "1",
            "AGGREGATE",
            "MIN",
            "WITHSCORES"
        ]),
        bulk_array(&["b", "4", "c", "6"])
    );
    assert_reply!(c.cmd(&["ZDIFF", "2", "k1", "k2"]), bulk_array(&["a"]));
    assert_reply!(c.cmd(&["ZUNIONSTORE", "k4", "2", "k1", "k2"]), int(4));
    assert_reply!(
        c.cmd(&["ZRANGE", "k4", "0", "-1", "WITHSCORES"]),
        bulk_array(&["a", "1", "b", "12", "c", "23", "d", "30"])
    );
    assert_reply!(c.cmd(&["ZINTERSTORE", "k5", "2", "k1", "k3"]), int(1));
    assert_reply!(
        c.cmd(&["ZRANGE", "k5", "0", "-1", "WITHSCORES"]),
        bulk_array(&["c", "4"])
    );
    assert_reply!(c.cmd(&["ZDIFFSTORE", "k5", "2", "k1", "k1"]), int(0));
    assert_reply!(c.cmd(&["EXISTS", "k5"]), int(0));
    assert_reply!(c.cmd(&["ZINTERCARD", "2", "k1", "k2"]), int(2));
    assert_reply!(
        c.cmd(&["ZRANGESTORE", "k6", "k2", "(10", "+inf", "BYSCORE"]),
        int(2)
    );
    assert_reply!(c.cmd(&["ZRANGE", "k6", "0", "-1"]), bulk_array(&["c", "d"]));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "k6"]), bulk("listpack"));
    assert_reply!(
        c.cmd(&["ZMPOP", "3", "nosuch", "k6", "k1", "MAX", "COUNT", "5"]),
        b"*2\r\n$2\r\nk6\r\n*2\r\n*2\r\n$1\r\nd\r\n$2\r\n30\r\n*2\r\n$1\r\nc\r\n$2\r\n20\r\n"
            .to_vec()
    );
    assert_reply!(c.cmd(&["EXISTS", "k6"]), int(0));
    assert_reply!(
        c.cmd(&["ZMPOP", "2", "k6", "nosuch", "MIN"]),
        b"*-1\r\n".to_vec()
    );
    assert_reply!(c.cmd(&["SET", "k7", "x"]), OK);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_reply!(c.cmd(&["ZMPOP", "2", "k7", "k1", "MIN"]), wrong);
    assert_reply!(c.cmd(&["ZUNION", "2", "k1", "k7"]), wrong);
    c.cmd(&["HELLO", "3"]);
    assert_reply!(
        c.cmd(&["ZINTER", "2", "k1", "k2", "WITHSCORES"]),
        b"*2\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n".to_vec()
    );
}

#[test]
fn listpack_converts_to_skiplist_at_the_thresholds() {
    let server = TestServer::start();
    let mut c = server.conn();
    let mut args = vec!["ZADD".to_string(), "z".into()];
    for i in 1..=128 {
        args.extend([i.to_string(), format!("m{i}")]);
    }
    assert_reply!(c.cmd(&args), int(128));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    assert_reply!(c.cmd(&["ZADD", "z", "129", "m129"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    assert_reply!(c.cmd(&["ZADD", "long", "1", &"x".repeat(65)]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "long"]), bulk("skiplist"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "zset-max-ziplist-entries", "0"]),
        OK
    );
    assert_reply!(c.cmd(&["ZADD", "tiny", "1", "a"]), int(1));
    assert_reply!(c.cmd(&["OBJECT", "ENCODING", "tiny"]), bulk("skiplist"));
    assert_reply!(
        c.cmd(&["CONFIG", "SET", "zset-max-ziplist-entries", "128"]),
        OK
    );
    // Rank and range operations on the large form.
    assert_reply!(c.cmd(&["ZRANK", "z", "m100"]), int(99));
    assert_reply!(c.cmd(&["ZREVRANK", "z", "m100"]), int(29));
    assert_reply!(c.cmd(&["ZCOUNT", "z", "(10", "20"]), int(10));
    assert_reply!(
        c.cmd(&["ZRANGE", "z", "(126", "+inf", "BYSCORE"]),
        bulk_array(&["m127", "m128", "m129"])
    );
    assert_reply!(
        c.cmd(&["ZRANGE", "z", "0", "1", "REV"]),
        bulk_array(&["m129", "m128"])
    );
    assert_reply!(c.cmd(&["ZREMRANGEBYSCORE", "z", "-inf", "100"]), int(100));
    assert_reply!(c.cmd(&["ZCARD", "z"]), int(29));
    // ZSCAN walks it completely.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let reply =
            String::from_utf8_lossy(&c.cmd(&["ZSCAN", "z", &cursor, "COUNT", "5"])).into_owned();
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        let items: Vec<&str> = lines[4..]
            .chunks(2)
            .filter(|p| p.len() == 2)
            .map(|p| p[1])
            .collect();
        for pair in items.chunks(2) {
            assert_eq!(format!("m{}", pair[1]), pair[0]);
            seen.insert(pair[0].to_string());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 29);
}
