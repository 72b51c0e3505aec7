//! Sets: a sorted array of integers while every member is one (Redis's `intset`), a hash
//! table otherwise.
use hashbrown::DefaultHashBuilder;
use indexmap::IndexSet;

use crate::alloc::{heap_size, table_size, vec_size};
use crate::keyspace::parse_canonical_i64;

/// The large form: insertion-ordered so a random member is one index away.
pub(crate) type SetTable = IndexSet<Box<[u8]>, DefaultHashBuilder>;

/// A set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Set {
    /// Sorted, distinct integers.
    Ints(Vec<i64>),
    /// The large form, with the heap bytes of its members.
    Table(SetTable, usize),
}

impl Set {
    /// An empty set in the encoding Redis creates for a first member `first`.
    pub(crate) fn for_member(first: &[u8]) -> Set {
        match parse_canonical_i64(first) {
            Some(_) => Set::Ints(Vec::new()),
            None => Set::Table(SetTable::default(), 0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t, _) => t.len(),
        }
    }

    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(..) => "hashtable",
        }
    }

    pub(crate) fn mem(&self) -> usize {
        match self {
            Set::Ints(v) => heap_size(size_of::<Set>()) + vec_size::<i64>(v.len(), v.capacity()),
            // Entries (hash, boxed member) in a vector, their indexes in a table.
            Set::Table(t, heap) => {
                heap_size(size_of::<Set>())
                    + vec_size::<(usize, Box<[u8]>)>(t.len(), t.capacity())
                    + table_size(t.capacity(), size_of::<usize>())
                    + heap
            }
        }
    }

    pub(crate) fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => {
                parse_canonical_i64(member).is_some_and(|n| v.binary_search(&n).is_ok())
            }
            Set::Table(t, _) => t.contains(member),
        }
    }

    fn convert(&mut self) {
        if let Set::Ints(v) = self {
            let mut t = SetTable::with_capacity_and_hasher(v.len() + 1, Default::default());
            let mut buf = itoa::Buffer::new();
            let mut heap = 0;
            for n in v.iter() {
                let m = buf.format(*n).as_bytes();
                heap += heap_size(m.len());
                t.insert(m.into());
            }
            *self = Set::Table(t, heap);
        }
    }

    /// Adds a member; returns true if it is new. `max_ints` is `set-max-intset-entries`.
    pub(crate) fn add(&mut self, member: &[u8], max_ints: usize) -> bool {
        if let Set::Ints(v) = self {
            match parse_canonical_i64(member) {
                Some(n) => {
                    let Err(at) = v.binary_search(&n) else {
                        return false;
                    };
                    v.insert(at, n);
                    if v.len() > max_ints {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            Set::Table(t, heap) => {
                let new = t.insert(member.into());
                if new {
                    *heap += heap_size(member.len());
                }
                new
            }
            Set::Ints(_) => false,
        }
    }

    /// Removes a member; returns true if it existed.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_canonical_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Set::Table(t, heap) => {
                let found = t.swap_remove(member);
                if found {
                    *heap -= heap_size(member.len());
                }
                found
            }
        }
    }

    /// Calls `f` with every member.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Ints(v) => {
                let mut buf = itoa::Buffer::new();
                v.iter().for_each(|n| f(buf.format(*n).as_bytes()));
            }
            Set::Table(t, _) => t.iter().for_each(|m| f(m)),
        }
    }

    /// The `i`-th member, copied (for random picks).
    pub(crate) fn nth(&self, i: usize) -> Option<Vec<u8>> {
        match self {
            Set::Ints(v) => v
                .get(i)
                .map(|n| itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Set::Table(t, _) => t.get_index(i).map(|m| m.to_vec()),
        }
    }

    /// One SSCAN step, as [`crate::hash::Hash::scan`].
    pub(crate) fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Ints(_) => {
                self.for_each(f);
                0
            }
            Set::Table(t, _) => {
                let mut c = if cursor == 0 {
                    t.len()
                } else {
                    (cursor as usize).min(t.len())
                };
                let stop = c.saturating_sub(count.max(1));
                while c > stop {
                    c -= 1;
                    if let Some(m) = t.get_index(c) {
                        f(m);
                    }
                }
                c as u64
            }
        }
    }
}
