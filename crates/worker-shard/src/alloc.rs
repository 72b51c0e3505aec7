//! What an allocation really costs, so that `used_memory` and `MEMORY USAGE` follow the
//! process's resident memory rather than the bytes asked for.
//!
//! kvd uses the system allocator, glibc's malloc on Linux: a request of `n` bytes takes a chunk
//! of `n + 8` bytes (the size header) rounded up to 16, and at least 32; requests from the
//! mmap threshold (128 KiB by default) take whole pages. A 14-byte string thus costs 32
//! bytes, which counting `len()` or `capacity()` misses by half.
//!
//! A page of such a mapping is resident only once written, so a large vector costs the pages
//! its elements fill, not its capacity: a hash of 10,000 fields has room for 14,336 entries,
//! and counting the room overstated its resident memory by 15%. Hash tables are counted
//! whole, since hashing spreads their entries over every page.

/// glibc's default `M_MMAP_THRESHOLD`: larger requests are served by `mmap`.
const MMAP_THRESHOLD: usize = 128 * 1024;

/// Bytes a heap allocation of `n` bytes takes (0 for none: empty boxes and vectors do not
/// allocate).
pub(crate) fn heap_size(n: usize) -> usize {
    match n {
        0 => 0,
        n if n >= MMAP_THRESHOLD => (n + 8).next_multiple_of(4096),
        n => (n + 8).next_multiple_of(16).max(32),
    }
}

/// Bytes of a vector's buffer of `len` elements of `T` with room for `capacity`.
pub(crate) fn vec_size<T>(len: usize, capacity: usize) -> usize {
    let room = capacity * size_of::<T>();
    if room >= MMAP_THRESHOLD {
        (len * size_of::<T>() + 8).next_multiple_of(4096)
    } else {
        heap_size(room)
    }
}

/// Bytes of a hashbrown table (as inside `IndexMap`) whose `capacity()` is `capacity`, of
/// `elem`-byte buckets: the buckets, one control byte each and a group of trailing ones.
pub(crate) fn table_size(capacity: usize, elem: usize) -> usize {
    let buckets = match capacity {
        0 => return 0,
        1..4 => 4,
        4..8 => 8,
        c => (c * 8 / 7).next_power_of_two(),
    };
    heap_size((buckets * elem).next_multiple_of(16) + buckets + 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_chunk_sizes() {
        assert_eq!(heap_size(0), 0);
        assert_eq!(heap_size(1), 32);
        assert_eq!(heap_size(24), 32);
        assert_eq!(heap_size(25), 48);
        assert_eq!(heap_size(40), 48);
        assert_eq!(heap_size(1000), 1008);
        assert_eq!(heap_size(200_000), 200_704);
        assert_eq!(vec_size::<u64>(1, 4), 48);
        // Only the filled pages of a mapped vector count.
        assert_eq!(vec_size::<u64>(1, 1 << 20), 4096);
        assert_eq!(vec_size::<u64>(1000, 1 << 20), 8192);
        // An IndexMap of 14 entries sits in 16 buckets of 8-byte indices.
        assert_eq!(table_size(14, 8), heap_size(128 + 16 + 16));
        assert_eq!(table_size(3, 8), heap_size(32 + 4 + 16));
    }

    /// The element counts kept beside the large forms must come back to zero, or
    /// `used_memory` would drift with every change.
    #[test]
    fn collection_counts_return_to_zero() {
        use crate::hash::{HLimits, Hash};
        use crate::list::{End, LLimits, List};
        use crate::set::Set;
        let key = |i: usize| format!("member:{i:06}").into_bytes();
        let mut h = Hash::new(HLimits {
            entries: 0,
            value: 64,
        });
        let mut s = Set::for_member(b"x");
        let mut l = List::default();
        let ll = LLimits::from_fill(-1);
        for i in 0..5_000 {
            assert!(h.set(
                &key(i),
                b"v",
                HLimits {
                    entries: 0,
                    value: 64
                }
            ));
            // Overwriting a value changes its allocation, not the field's.
            h.set(
                &key(i),
                &vec![b'w'; i % 100],
                HLimits {
                    entries: 0,
                    value: 64,
                },
            );
            assert!(s.add(&key(i), 512));
            l.push(End::Right, &key(i), ll);
        }
        assert!(matches!(h, Hash::Table(_, heap) if heap > 5_000 * 64));
        assert!(matches!(s, Set::Table(_, heap) if heap == 5_000 * 32));
        assert!(matches!(l, List::Deque { heap, .. } if heap == 5_000 * 32));
        for i in 0..5_000 {
            assert!(h.remove(&key(i)));
            assert!(s.remove(&key(i)));
        }
        while l.len() > 1_000 {
            l.pop(End::Left, ll);
        }
        assert!(matches!(h, Hash::Table(_, 0)));
        assert!(matches!(s, Set::Table(_, 0)));
        assert!(matches!(l, List::Deque { heap, .. } if heap == 1_000 * 32));
    }
}
