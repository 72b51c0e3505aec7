//! The list value: a packed buffer while small, a deque of boxed elements once large.
//!
//! Redis 7.0 stores every list as a quicklist of listpack nodes of at most 8 KiB
//! (`list-max-listpack-size -2`) and reports `quicklist` for all of them. Here a small list is
//! one packed buffer (each element framed by its 16-bit length before and after, so it can be
//! walked and popped from either end) which costs 4 bytes per element instead of a pointer and
//! an allocation; past [`PACKED_MAX_BYTES`] it becomes a [`VecDeque`] (O(1) push and pop at both
//! ends, O(1) index), and goes back to packed once it shrinks below half of that, so a list
//! that hovers around the limit does not convert on every push and pop.
use std::collections::VecDeque;

/// Largest packed buffer: Redis's default node size, 8 KiB.
pub(crate) const PACKED_MAX_BYTES: usize = 8 * 1024;

/// Per-element framing in the packed form: a `u16` length before and after the bytes.
const FRAME: usize = 4;

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Left,
    Right,
}

impl End {
    /// Parses `LEFT` or `RIGHT`, ignoring case.
    pub(crate) fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

/// A list value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum List {
    /// Elements packed back to back: `len:u16 bytes len:u16` each.
    Packed { buf: Vec<u8>, len: usize },
    /// Large lists; `bytes` is the sum of the element lengths.
    Deque {
        items: VecDeque<Box<[u8]>>,
        bytes: usize,
    },
}

impl Default for List {
    fn default() -> Self {
        List::Packed {
            buf: Vec::new(),
            len: 0,
        }
    }
}

fn read_u16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

impl List {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            List::Packed { len, .. } => *len,
            List::Deque { items, .. } => items.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rough heap bytes, for `used_memory`.
    pub(crate) fn mem(&self) -> usize {
        match self {
            List::Packed { buf, .. } => buf.capacity(),
            List::Deque { items, bytes } => items.capacity() * 16 + bytes + items.len() * 16,
        }
    }

    /// Appends `elem` at `end`.
    pub(crate) fn push(&mut self, end: End, elem: &[u8]) {
        if let List::Packed { buf, len } = self {
            if buf.len() + elem.len() + FRAME <= PACKED_MAX_BYTES {
                let n = (elem.len() as u16).to_le_bytes();
                match end {
                    End::Right => {
                        buf.extend_from_slice(&n);
                        buf.extend_from_slice(elem);
                        buf.extend_from_slice(&n);
                    }
                    End::Left => {
                        let mut framed = Vec::with_capacity(elem.len() + FRAME);
                        framed.extend_from_slice(&n);
                        framed.extend_from_slice(elem);
                        framed.extend_from_slice(&n);
                        buf.splice(0..0, framed);
                    }
                }
                *len += 1;
                return;
            }
            self.convert_to_deque();
        }
        if let List::Deque { items, bytes } = self {
            *bytes += elem.len();
            match end {
                End::Left => items.push_front(elem.into()),
                End::Right => items.push_back(elem.into()),
            }
        }
    }

    /// Removes and returns the element at `end`.
    pub(crate) fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let popped = match self {
            List::Packed { buf, len } => {
                if *len == 0 {
                    return None;
                }
                *len -= 1;
                match end {
                    End::Left => {
                        let n = read_u16(buf, 0);
                        let elem = buf[2..2 + n].to_vec();
                        buf.drain(..n + FRAME);
                        elem
                    }
                    End::Right => {
                        let n = read_u16(buf, buf.len() - 2);
                        let start = buf.len() - 2 - n;
                        let elem = buf[start..start + n].to_vec();
                        buf.truncate(start - 2);
                        elem
                    }
                }
            }
            List::Deque { items, bytes } => {
                let elem = match end {
                    End::Left => items.pop_front()?,
                    End::Right => items.pop_back()?,
                };
                *bytes -= elem.len();
                elem.into_vec()
            }
        };
        self.maybe_pack();
        Some(popped)
    }

    /// The element at `index` (0-based from the left), if in range.
    pub(crate) fn get(&self, index: usize) -> Option<&[u8]> {
        match self {
            List::Packed { len, .. } => {
                if index >= *len {
                    return None;
                }
                if index <= *len / 2 {
                    self.iter().nth(index)
                } else {
                    self.iter().rev().nth(*len - 1 - index)
                }
            }
            List::Deque { items, .. } => items.get(index).map(|b| &b[..]),
        }
    }

    /// Iterates from left to right (and backwards with `rev`).
    pub(crate) fn iter(&self) -> Iter<'_> {
        match self {
            List::Packed { buf, len } => Iter::Packed {
                buf,
                front: 0,
                back: buf.len(),
                left: *len,
            },
            List::Deque { items, .. } => Iter::Deque(items.iter()),
        }
    }

    /// Replaces the element at `index`; false if out of range.
    pub(crate) fn set(&mut self, index: usize, elem: &[u8]) -> bool {
        if index >= self.len() {
            return false;
        }
        self.rebuild(|items| items[index] = elem.to_vec());
        true
    }

    /// Inserts `elem` before (or after) the first element equal to `pivot`; false if no
    /// element matches.
    pub(crate) fn insert(&mut self, pivot: &[u8], elem: &[u8], after: bool) -> bool {
        let Some(pos) = self.iter().position(|e| e == pivot) else {
            return false;
        };
        let at = pos + after as usize;
        match self {
            List::Deque { items, bytes } => {
                *bytes += elem.len();
                items.insert(at, elem.into());
            }
            List::Packed { .. } => self.rebuild(|items| items.insert(at, elem.to_vec())),
        }
        true
    }

    /// Removes up to `count` elements equal to `elem` (all if 0), from the tail if `count < 0`.
    /// Returns how many were removed.
    pub(crate) fn remove(&mut self, elem: &[u8], count: i64) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let positions: Vec<usize> = if count < 0 {
            let n = self.len();
            self.iter()
                .rev()
                .enumerate()
                .filter(|(_, e)| *e == elem)
                .take(limit)
                .map(|(i, _)| n - 1 - i)
                .collect()
        } else {
            self.iter()
                .enumerate()
                .filter(|(_, e)| *e == elem)
                .take(limit)
                .map(|(i, _)| i)
                .collect()
        };
        if positions.is_empty() {
            return 0;
        }
        let removed = positions.len();
        let mut drop = positions;
        drop.sort_unstable();
        self.rebuild(|items| {
            let mut i = 0;
            let mut next = drop.iter().peekable();
            items.retain(|_| {
                let keep = next.peek() != Some(&&i);
                if !keep {
                    next.next();
                }
                i += 1;
                keep
            });
        });
        removed
    }

    /// Keeps only the elements in `start..=end` (already clamped by the caller; an empty range
    /// is `start > end`).
    pub(crate) fn retain_range(&mut self, start: usize, end: usize) {
        if start > end || start >= self.len() {
            *self = List::default();
            return;
        }
        let end = end.min(self.len() - 1);
        match self {
            List::Deque { items, bytes } => {
                items.truncate(end + 1);
                for e in items.drain(..start) {
                    *bytes -= e.len();
                }
                *bytes = items.iter().map(|e| e.len()).sum();
                self.maybe_pack();
            }
            List::Packed { .. } => self.rebuild(|items| {
                items.truncate(end + 1);
                items.drain(..start);
            }),
        }
    }

    /// Applies `f` to the elements as a vector, then stores them in the fitting form. Used by
    /// the rarer middle-of-list edits, which are O(n) in Redis too.
    fn rebuild(&mut self, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let mut items: Vec<Vec<u8>> = self.iter().map(<[u8]>::to_vec).collect();
        f(&mut items);
        *self = List::from_items(items);
    }

    /// A list of these elements, in the form its size calls for.
    pub(crate) fn from_items(items: Vec<Vec<u8>>) -> List {
        let packed: usize = items.iter().map(|e| e.len() + FRAME).sum();
        if packed <= PACKED_MAX_BYTES {
            let mut list = List::Packed {
                buf: Vec::with_capacity(packed),
                len: 0,
            };
            for e in &items {
                list.push(End::Right, e);
            }
            list
        } else {
            let bytes = items.iter().map(Vec::len).sum();
            List::Deque {
                items: items.into_iter().map(Vec::into_boxed_slice).collect(),
                bytes,
            }
        }
    }

    fn convert_to_deque(&mut self) {
        let items: VecDeque<Box<[u8]>> = self.iter().map(Box::from).collect();
        let bytes = items.iter().map(|e| e.len()).sum();
        *self = List::Deque { items, bytes };
    }

    /// Packs a deque that shrank below half the packed limit.
    fn maybe_pack(&mut self) {
        if let List::Deque { items, bytes } = self
            && bytes.saturating_add(items.len() * FRAME) < PACKED_MAX_BYTES / 2
        {
            let items: Vec<Vec<u8>> = items.drain(..).map(Vec::from).collect();
            *self = List::from_items(items);
        }
    }
}

/// Iterator over a [`List`]'s elements.
#[derive(Debug)]
pub(crate) enum Iter<'a> {
    Packed {
        buf: &'a [u8],
        front: usize,
        back: usize,
        left: usize,
    },
    Deque(std::collections::vec_deque::Iter<'a, Box<[u8]>>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Packed {
                buf, front, left, ..
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let n = read_u16(buf, *front);
                let elem = &buf[*front + 2..*front + 2 + n];
                *front += n + FRAME;
                Some(elem)
            }
            Iter::Deque(it) => it.next().map(|b| &b[..]),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Packed { left, .. } => (*left, Some(*left)),
            Iter::Deque(it) => it.size_hint(),
        }
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Packed {
                buf, back, left, ..
            } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let n = read_u16(buf, *back - 2);
                let start = *back - 2 - n;
                *back = start - 2;
                Some(&buf[start..start + n])
            }
            Iter::Deque(it) => it.next_back().map(|b| &b[..]),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn push_pop_both_ends_in_both_forms() {
        for big in [false, true] {
            let mut l = List::default();
            let pad = if big { vec![b'x'; 3000] } else { Vec::new() };
            let e = |s: &str| [s.as_bytes(), &pad].concat();
            l.push(End::Right, &e("b"));
            l.push(End::Left, &e("a"));
            l.push(End::Right, &e("c"));
            assert_eq!(matches!(l, List::Deque { .. }), big);
            assert_eq!(l.len(), 3);
            assert_eq!(items(&l), vec![e("a"), e("b"), e("c")]);
            assert_eq!(l.iter().next_back(), Some(&e("c")[..]));
            assert_eq!(l.get(1), Some(&e("b")[..]));
            assert_eq!(l.get(2), Some(&e("c")[..]));
            assert_eq!(l.get(3), None);
            assert_eq!(l.pop(End::Left), Some(e("a")));
            assert_eq!(l.pop(End::Right), Some(e("c")));
            assert_eq!(l.pop(End::Right), Some(e("b")));
            assert_eq!(l.pop(End::Left), None);
            assert!(
                matches!(l, List::Packed { .. }),
                "an emptied list packs again"
            );
        }
    }

    #[test]
    fn converts_past_8k_and_back_below_half() {
        let mut l = List::default();
        for i in 0..1000 {
            l.push(End::Right, format!("{i:08}").as_bytes());
        }
        assert!(matches!(l, List::Deque { .. }));
        while l.len() > 100 {
            l.pop(End::Left);
        }
        assert!(matches!(l, List::Packed { .. }));
        assert_eq!(l.get(0), Some(&b"00000900"[..]));
    }

    #[test]
    fn middle_edits() {
        let mut l = List::from_items(
            ["a", "b", "a", "c", "a"]
                .map(|s| s.as_bytes().to_vec())
                .to_vec(),
        );
        assert!(l.insert(b"b", b"x", true));
        assert!(!l.insert(b"zz", b"x", false));
        assert_eq!(l.remove(b"a", -2), 2);
        assert_eq!(
            items(&l),
            ["a", "b", "x", "c"].map(|s| s.as_bytes().to_vec()).to_vec()
        );
        assert!(l.set(3, b"d"));
        assert!(!l.set(4, b"d"));
        l.retain_range(1, 2);
        assert_eq!(
            items(&l),
            ["b", "x"].map(|s| s.as_bytes().to_vec()).to_vec()
        );
        l.retain_range(5, 9);
        assert!(l.is_empty());
    }
}
