//! Hashes: packed field/value pairs while small (Redis's `listpack`), a hash table when large.
use hashbrown::DefaultHashBuilder;
use indexmap::IndexMap;

use crate::alloc::{heap_size, table_size, vec_size};
use crate::pack::Pack;

/// Thresholds of the compact encoding (`hash-max-listpack-entries`, `-value`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HLimits {
    pub(crate) entries: usize,
    pub(crate) value: usize,
}

/// The large form: insertion-ordered so a random field is one index away.
pub(crate) type HashTable = IndexMap<Box<[u8]>, Box<[u8]>, DefaultHashBuilder>;

/// A hash.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hash {
    /// Fields and values alternating, in insertion order.
    Pack(Pack),
    /// The large form, with the heap bytes of its fields and values.
    Table(HashTable, usize),
}

/// Iterates `(byte position, field, value)` over a packed hash.
fn pack_pairs(p: &Pack) -> impl Iterator<Item = (usize, &[u8], &[u8])> {
    let mut it = p.iter();
    std::iter::from_fn(move || {
        let (at, f) = it.next()?;
        let (_, v) = it.next()?;
        Some((at, f, v))
    })
}

impl Hash {
    /// An empty hash in the encoding Redis creates.
    pub(crate) fn new(limits: HLimits) -> Hash {
        if limits.entries == 0 {
            Hash::Table(HashTable::default(), 0)
        } else {
            Hash::Pack(Pack::default())
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(t, _) => t.len(),
        }
    }

    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(..) => "hashtable",
        }
    }

    pub(crate) fn mem(&self) -> usize {
        match self {
            Hash::Pack(p) => heap_size(size_of::<Hash>()) + heap_size(p.bytes()),
            // Entries (hash, two boxed slices) in a vector, their indexes in a table.
            Hash::Table(t, heap) => {
                heap_size(size_of::<Hash>())
                    + vec_size::<(usize, Box<[u8]>, Box<[u8]>)>(t.len(), t.capacity())
                    + table_size(t.capacity(), size_of::<usize>())
                    + heap
            }
        }
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => pack_pairs(p).find(|e| e.1 == field).map(|e| e.2),
            Hash::Table(t, _) => t.get(field).map(|v| &**v),
        }
    }

    /// Converts to the large form before a write of `field`/`value` that would not fit.
    pub(crate) fn prepare(&mut self, field: &[u8], value: &[u8], limits: HLimits) {
        if let Hash::Pack(p) = self
            && (field.len() > limits.value
                || value.len() > limits.value
                || (p.len() / 2 >= limits.entries && self.get(field).is_none()))
        {
            self.convert();
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(p) = self {
            let mut t = HashTable::with_capacity_and_hasher(p.len() / 2 + 1, Default::default());
            let mut heap = 0;
            for (_, f, v) in pack_pairs(p) {
                heap += heap_size(f.len()) + heap_size(v.len());
                t.insert(f.into(), v.into());
            }
            *self = Hash::Table(t, heap);
        }
    }

    /// Sets a field; returns true if it is new.
    pub(crate) fn set(&mut self, field: &[u8], value: &[u8], limits: HLimits) -> bool {
        self.prepare(field, value, limits);
        match self {
            Hash::Pack(p) => {
                let found = pack_pairs(p).find(|e| e.1 == field).map(|e| e.0);
                match found {
                    Some(at) => {
                        let vpos = p.iter().find(|&(pos, _)| pos > at).map_or(0, |e| e.0);
                        p.replace_at(vpos, value);
                        false
                    }
                    None => {
                        p.push(field);
                        p.push(value);
                        true
                    }
                }
            }
            Hash::Table(t, heap) => {
                *heap += heap_size(value.len());
                match t.insert(field.into(), value.into()) {
                    Some(old) => {
                        *heap -= heap_size(old.len());
                        false
                    }
                    None => {
                        *heap += heap_size(field.len());
                        true
                    }
                }
            }
        }
    }

    /// Removes a field; returns true if it existed.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => {
                let found = pack_pairs(p).find(|e| e.1 == field).map(|e| e.0);
                match found {
                    Some(at) => {
                        p.remove_at(at, 2);
                        true
                    }
                    None => false,
                }
            }
            Hash::Table(t, heap) => match t.swap_remove_entry(field) {
                Some((f, v)) => {
                    *heap -= heap_size(f.len()) + heap_size(v.len());
                    true
                }
                None => false,
            },
        }
    }

    /// Calls `f` with every field and value.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            Hash::Pack(p) => pack_pairs(p).for_each(|(_, k, v)| f(k, v)),
            Hash::Table(t, _) => t.iter().for_each(|(k, v)| f(k, v)),
        }
    }

    /// The `i`-th field and value (for random picks).
    pub(crate) fn nth(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(p) => pack_pairs(p).nth(i).map(|(_, k, v)| (k, v)),
            Hash::Table(t, _) => t.get_index(i).map(|(k, v)| (&**k, &**v)),
        }
    }

    /// One HSCAN step: calls `f` with visited pairs; returns the next cursor.
    ///
    /// The compact form is returned whole (cursor 0), as in Redis. The table is walked from its
    /// last index down: a removal moves the last entry into the hole, which is either already
    /// visited (no loss) or moves a visited entry down (seen twice, which SCAN allows), so
    /// every field present for the whole scan is returned.
    pub(crate) fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Pack(_) => {
                self.for_each(f);
                0
            }
            Hash::Table(t, _) => {
                let mut c = if cursor == 0 {
                    t.len()
                } else {
                    (cursor as usize).min(t.len())
                };
                let stop = c.saturating_sub(count.max(1));
                while c > stop {
                    c -= 1;
                    if let Some((k, v)) = t.get_index(c) {
                        f(k, v);
                    }
                }
                c as u64
            }
        }
    }
}
