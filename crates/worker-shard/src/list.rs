//! The list value: a packed buffer while small, a deque of boxed elements once large.
//!
//! Redis 7.0 stores every list as a quicklist of listpack nodes sized by
//! `list-max-listpack-size` (default -2: at most 8 KiB) and reports `quicklist` for all of them.
//! Here a small list is one packed buffer (each element framed by its 16-bit length before and
//! after, so it can be walked and popped from either end) which costs 4 bytes per element
//! instead of a pointer and an allocation; past the node size of [`LLimits`] it becomes a
//! [`VecDeque`] (O(1) push and pop at both ends, O(1) index), and goes back to packed once it
//! shrinks below half of that, so a list that hovers around the limit does not convert on every
//! push and pop.
use std::collections::VecDeque;

use crate::alloc::{heap_size, vec_size};

/// Redis's cap on a node's bytes when `list-max-listpack-size` counts entries
/// (`SIZE_SAFETY_LIMIT`); it also keeps every packed element's length within the `u16` frame.
const SIZE_SAFETY_LIMIT: usize = 8 * 1024;

/// The packed form's limits, from `list-max-listpack-size` (Redis's quicklist `fill`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LLimits {
    /// Most bytes of the packed buffer.
    pub(crate) bytes: usize,
    /// Most elements of the packed form.
    pub(crate) entries: usize,
}

impl LLimits {
    /// Redis's reading of `fill`: -1..-5 is a node of 4, 8, 16, 32 or 64 KiB (below -5 counts
    /// as -5); a positive value is that many entries per node, within 8 KiB; 0 holds one entry
    /// per node as Redis does.
    pub(crate) fn from_fill(fill: i32) -> LLimits {
        if fill < 0 {
            let level = fill.max(-5).unsigned_abs() - 1;
            LLimits {
                bytes: 4096 << level,
                entries: usize::MAX,
            }
        } else {
            LLimits {
                bytes: SIZE_SAFETY_LIMIT,
                entries: (fill as usize).max(1),
            }
        }
    }

    /// Whether a packed form of `bytes` and `len` elements is within the limits.
    fn fits(self, bytes: usize, len: usize) -> bool {
        bytes <= self.bytes && len <= self.entries
    }

    /// Whether a deque is small enough to pack again: below half of both limits.
    fn small(self, bytes: usize, len: usize) -> bool {
        bytes < self.bytes / 2 && len <= self.entries / 2
    }
}

impl Default for LLimits {
    fn default() -> LLimits {
        LLimits::from_fill(-2)
    }
}

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
    /// Large lists; `bytes` is the sum of the element lengths, `heap` the bytes of their
    /// allocations.
    Deque {
        items: VecDeque<Box<[u8]>>,
        bytes: usize,
        heap: usize,
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
            List::Packed { buf, .. } => vec_size::<u8>(buf.len(), buf.capacity()),
            List::Deque { items, heap, .. } => {
                vec_size::<Box<[u8]>>(items.len(), items.capacity()) + heap
            }
        }
    }

    /// Appends `elem` at `end`.
    pub(crate) fn push(&mut self, end: End, elem: &[u8], limits: LLimits) {
        if let List::Packed { buf, len } = self {
            if limits.fits(buf.len() + elem.len() + FRAME, *len + 1) {
                let n = (elem.len() as u16).to_le_bytes();
                reserve_packed(buf, elem.len() + FRAME, limits.bytes);
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
        if let List::Deque { items, bytes, heap } = self {
            *bytes += elem.len();
            *heap += heap_size(elem.len());
            match end {
                End::Left => items.push_front(elem.into()),
                End::Right => items.push_back(elem.into()),
            }
        }
    }

    /// Removes and returns the element at `end`.
    pub(crate) fn pop(&mut self, end: End, limits: LLimits) -> Option<Vec<u8>> {
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
            List::Deque { items, bytes, heap } => {
                let elem = match end {
                    End::Left => items.pop_front()?,
                    End::Right => items.pop_back()?,
                };
                *bytes -= elem.len();
                *heap -= heap_size(elem.len());
                elem.into_vec()
            }
        };
        self.maybe_pack(limits);
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
    pub(crate) fn set(&mut self, index: usize, elem: &[u8], limits: LLimits) -> bool {
        if index >= self.len() {
            return false;
        }
        self.rebuild(limits, |items| items[index] = elem.to_vec());
        true
    }

    /// Inserts `elem` before (or after) the first element equal to `pivot`; false if no
    /// element matches.
    pub(crate) fn insert(
        &mut self,
        pivot: &[u8],
        elem: &[u8],
        after: bool,
        limits: LLimits,
    ) -> bool {
        let Some(pos) = self.iter().position(|e| e == pivot) else {
            return false;
        };
        let at = pos + after as usize;
        match self {
            List::Deque { items, bytes, heap } => {
                *bytes += elem.len();
                *heap += heap_size(elem.len());
                items.insert(at, elem.into());
            }
            List::Packed { .. } => self.rebuild(limits, |items| items.insert(at, elem.to_vec())),
        }
        true
    }

    /// Removes up to `count` elements equal to `elem` (all if 0), from the tail if `count < 0`.
    /// Returns how many were removed.
    pub(crate) fn remove(&mut self, elem: &[u8], count: i64, limits: LLimits) -> usize {
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
        self.rebuild(limits, |items| {
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
    pub(crate) fn retain_range(&mut self, start: usize, end: usize, limits: LLimits) {
        if start > end || start >= self.len() {
            *self = List::default();
            return;
        }
        let end = end.min(self.len() - 1);
        match self {
            List::Deque { items, bytes, heap } => {
                items.truncate(end + 1);
                items.drain(..start);
                *bytes = items.iter().map(|e| e.len()).sum();
                *heap = items.iter().map(|e| heap_size(e.len())).sum();
                self.maybe_pack(limits);
            }
            List::Packed { .. } => self.rebuild(limits, |items| {
                items.truncate(end + 1);
                items.drain(..start);
            }),
        }
    }

    /// Applies `f` to the elements as a vector, then stores them in the fitting form. Used by
    /// the rarer middle-of-list edits, which are O(n) in Redis too.
    fn rebuild(&mut self, limits: LLimits, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let mut items: Vec<Vec<u8>> = self.iter().map(<[u8]>::to_vec).collect();
        f(&mut items);
        *self = List::from_items(items, limits);
    }

    /// A list of these elements, in the form its size calls for.
    pub(crate) fn from_items(items: Vec<Vec<u8>>, limits: LLimits) -> List {
        let packed: usize = items.iter().map(|e| e.len() + FRAME).sum();
        if limits.fits(packed, items.len()) {
            let mut list = List::Packed {
                buf: Vec::with_capacity(packed),
                len: 0,
            };
            for e in &items {
                list.push(End::Right, e, limits);
            }
            list
        } else {
            let bytes = items.iter().map(Vec::len).sum();
            let heap = items.iter().map(|e| heap_size(e.len())).sum();
            List::Deque {
                items: items.into_iter().map(Vec::into_boxed_slice).collect(),
                bytes,
                heap,
            }
        }
    }

    fn convert_to_deque(&mut self) {
        let items: VecDeque<Box<[u8]>> = self.iter().map(Box::from).collect();
        let bytes = items.iter().map(|e| e.len()).sum();
        let heap = items.iter().map(|e| heap_size(e.len())).sum();
        *self = List::Deque { items, bytes, heap };
    }

    /// Packs a deque that shrank below half the packed limits.
    fn maybe_pack(&mut self, limits: LLimits) {
        if let List::Deque { items, bytes, .. } = self
            && limits.small(bytes.saturating_add(items.len() * FRAME), items.len())
        {
            let items: Vec<Vec<u8>> = items.drain(..).map(Vec::from).collect();
            *self = List::from_items(items, limits);
        }
    }
}

/// Makes room for `add` more bytes in a packed buffer, in steps of whole glibc chunks.
///
/// `Vec`'s own doubling asks for 8, 16, ..., 2048 bytes, and glibc serves each request from a
/// chunk 8 bytes larger rounded to 16 (2048 bytes take a 2064-byte chunk). Where several
/// workers grow lists side by side, a realloc seldom extends in place, so each step frees its
/// old chunk, and odd-sized holes piled up: loading 10,000 lists of 100 elements
/// (`cargo xtask memcheck --shape list-100 --kvd-args "--workers 4"`) grew RSS 13% past the
/// buffers' bytes (used/RSS 0.86..0.89; 0.86 with 8 workers). Asking for each chunk's whole
/// usable size instead (24, 56, 120, ..., 2040 bytes: chunks of 32, 64, ..., 2048) makes the
/// steps powers of two, so two freed neighbours coalesce into exactly the chunk a later step
/// asks for (used/RSS 0.96 with 4 workers, 0.91 with 8), and leaves no unused tail in the last
/// chunk (100 such elements take 2048 bytes, not 2064). It reallocates no more often.
fn reserve_packed(buf: &mut Vec<u8>, add: usize, limit: usize) {
    let need = buf.len() + add;
    if need <= buf.capacity() {
        return;
    }
    // The usable size of the chunk holding at least double the room (at least 24 bytes, the
    // smallest chunk's), within the packed limit.
    let room = (buf.capacity() * 2).max(need).max(24);
    let cap = ((room + 8).next_multiple_of(16) - 8).min(limit.max(need));
    buf.reserve_exact(cap - buf.len());
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

    const D: LLimits = LLimits {
        bytes: 8 * 1024,
        entries: usize::MAX,
    };

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn push_pop_both_ends_in_both_forms() {
        for big in [false, true] {
            let mut l = List::default();
            let pad = if big { vec![b'x'; 3000] } else { Vec::new() };
            let e = |s: &str| [s.as_bytes(), &pad].concat();
            l.push(End::Right, &e("b"), D);
            l.push(End::Left, &e("a"), D);
            l.push(End::Right, &e("c"), D);
            assert_eq!(matches!(l, List::Deque { .. }), big);
            assert_eq!(l.len(), 3);
            assert_eq!(items(&l), vec![e("a"), e("b"), e("c")]);
            assert_eq!(l.iter().next_back(), Some(&e("c")[..]));
            assert_eq!(l.get(1), Some(&e("b")[..]));
            assert_eq!(l.get(2), Some(&e("c")[..]));
            assert_eq!(l.get(3), None);
            assert_eq!(l.pop(End::Left, D), Some(e("a")));
            assert_eq!(l.pop(End::Right, D), Some(e("c")));
            assert_eq!(l.pop(End::Right, D), Some(e("b")));
            assert_eq!(l.pop(End::Left, D), None);
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
            l.push(End::Right, format!("{i:08}").as_bytes(), D);
        }
        assert!(matches!(l, List::Deque { .. }));
        while l.len() > 100 {
            l.pop(End::Left, D);
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
            D,
        );
        assert!(l.insert(b"b", b"x", true, D));
        assert!(!l.insert(b"zz", b"x", false, D));
        assert_eq!(l.remove(b"a", -2, D), 2);
        assert_eq!(
            items(&l),
            ["a", "b", "x", "c"].map(|s| s.as_bytes().to_vec()).to_vec()
        );
        assert!(l.set(3, b"d", D));
        assert!(!l.set(4, b"d", D));
        l.retain_range(1, 2, D);
        assert_eq!(
            items(&l),
            ["b", "x"].map(|s| s.as_bytes().to_vec()).to_vec()
        );
        l.retain_range(5, 9, D);
        assert!(l.is_empty());
    }

    #[test]
    fn fill_reads_like_redis() {
        assert_eq!(LLimits::default(), D);
        for (fill, bytes) in [
            (-1, 4096),
            (-2, 8192),
            (-3, 16384),
            (-4, 32768),
            (-5, 65536),
        ] {
            assert_eq!(LLimits::from_fill(fill).bytes, bytes);
            assert_eq!(LLimits::from_fill(fill).entries, usize::MAX);
        }
        assert_eq!(LLimits::from_fill(-6), LLimits::from_fill(-5));
        assert_eq!(LLimits::from_fill(i32::MIN), LLimits::from_fill(-5));
        assert_eq!(
            LLimits::from_fill(100),
            LLimits {
                bytes: 8192,
                entries: 100
            }
        );
        assert_eq!(LLimits::from_fill(0).entries, 1);
        assert_eq!(LLimits::from_fill(i32::MAX).entries, i32::MAX as usize);
    }

    #[test]
    fn converts_at_the_configured_byte_limit_and_back() {
        // -1: 4 KiB. 100-byte elements take 104 packed bytes: 39 fit (4056), the 40th converts.
        let limits = LLimits::from_fill(-1);
        let mut l = List::default();
        for i in 0..39 {
            l.push(End::Right, &[b'a' + (i % 26) as u8; 100], limits);
        }
        assert!(matches!(l, List::Packed { .. }));
        l.push(End::Left, &[b'z'; 100], limits);
        assert!(matches!(l, List::Deque { .. }));
        // Under the default 8 KiB the same list stays packed.
        let mut d = List::from_items(items(&l), D);
        assert!(matches!(d, List::Packed { .. }));
        d.push(End::Right, b"x", D);
        assert!(matches!(d, List::Packed { .. }));
        // Back to packed below half of 4 KiB: 19 elements (1976 bytes), not 20 (2080).
        while l.len() > 20 {
            l.pop(End::Right, limits);
        }
        assert!(matches!(l, List::Deque { .. }));
        assert_eq!(l.pop(End::Right, limits), Some(vec![b'a' + 18; 100]));
        assert!(matches!(l, List::Packed { .. }));
        assert_eq!(l.len(), 19);
        assert_eq!(l.get(0), Some(&[b'z'; 100][..]));
        // -5 (64 KiB) keeps elements up to the u16 frame packed.
        let mut big = List::default();
        big.push(End::Right, &vec![b'b'; 60_000], LLimits::from_fill(-5));
        assert!(matches!(big, List::Packed { .. }));
        assert_eq!(big.pop(End::Left, D), Some(vec![b'b'; 60_000]));
    }

    #[test]
    fn converts_at_the_configured_entry_count_and_back() {
        let limits = LLimits::from_fill(4);
        let mut l = List::default();
        for e in ["a", "b", "c", "d"] {
            l.push(End::Right, e.as_bytes(), limits);
        }
        assert!(matches!(l, List::Packed { len: 4, .. }));
        l.push(End::Left, b"e", limits);
        assert!(matches!(l, List::Deque { .. }));
        assert!(matches!(
            List::from_items(items(&l), limits),
            List::Deque { .. }
        ));
        assert!(matches!(
            List::from_items(items(&l), D),
            List::Packed { .. }
        ));
        // Middle edits keep the form the count calls for.
        assert!(l.insert(b"c", b"x", false, limits));
        assert!(matches!(l, List::Deque { .. }));
        // Packs again at half the count: 3 left is still a deque, 2 packs.
        l.pop(End::Left, limits);
        l.pop(End::Left, limits);
        l.pop(End::Left, limits);
        assert!(matches!(l, List::Deque { .. }));
        assert_eq!(l.pop(End::Left, limits), Some(b"x".to_vec()));
        assert!(matches!(l, List::Packed { len: 2, .. }));
        assert_eq!(items(&l), vec![b"c".to_vec(), b"d".to_vec()]);
        // A count still stops at Redis's 8 KiB safety limit.
        let mut l = List::default();
        let many = LLimits::from_fill(1000);
        for _ in 0..3 {
            l.push(End::Right, &[b'q'; 3000], many);
        }
        assert!(matches!(l, List::Deque { .. }));
        // 0 holds one element per node.
        let mut one = List::default();
        one.push(End::Right, b"a", LLimits::from_fill(0));
        assert!(matches!(one, List::Packed { .. }));
        one.push(End::Right, b"b", LLimits::from_fill(0));
        assert!(matches!(one, List::Deque { .. }));
    }

    /// A packed buffer grows through whole glibc chunks of powers of two, up to the limit.
    #[test]
    fn packed_buffer_grows_by_whole_chunks() {
        let mut l = List::default();
        let mut caps = Vec::new();
        for _ in 0..450 {
            l.push(End::Right, b"element:123456", LLimits::default());
            if let List::Packed { buf, .. } = &l
                && caps.last() != Some(&buf.capacity())
            {
                caps.push(buf.capacity());
            }
        }
        assert_eq!(caps, [24, 56, 120, 248, 504, 1016, 2040, 4088, 8184]);
        assert_eq!(l.mem(), 8192);
    }
}
