//! Sorted sets: a packed sorted sequence while small (Redis's `listpack`), an order-statistics
//! tree with a member index when large (Redis's `skiplist`).
//!
//! The large form is a treap in an arena: nodes hold `(score, member)`, ordered by score then
//! member bytes, each with its subtree size, so rank, select and counting below a bound are
//! O(log n). Members are stored once: the member → node index is a `HashTable` of node indexes
//! that hashes through the arena. That is ~45 bytes plus the member per element.
//!
//! [`ZSet::pop`] is the internal API blocking pops (`BZPOPMIN`, `BZPOPMAX`, `BZMPOP`) build on.
use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::alloc::{heap_size, vec_size};
use crate::pack::Pack;

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Node {
    score: f64,
    member: Box<[u8]>,
    left: u32,
    right: u32,
    size: u32,
    prio: u32,
}

/// The large sorted set: an order-statistics treap plus a member index.
#[derive(Debug)]
pub(crate) struct ScoreTree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    seed: u32,
    bytes: usize,
}

impl Clone for ScoreTree {
    fn clone(&self) -> ScoreTree {
        let mut t = ScoreTree::new();
        self.walk(0, self.len(), &mut |s, m| t.insert(m, s));
        t
    }
}

impl PartialEq for ScoreTree {
    /// Same elements in the same order (the arena layout does not matter).
    fn eq(&self, other: &ScoreTree) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut a = Vec::with_capacity(self.len());
        self.walk(0, self.len(), &mut |s, m| a.push((s, m.to_vec())));
        let mut i = 0;
        let mut same = true;
        other.walk(0, other.len(), &mut |s, m| {
            same &= a.get(i).is_some_and(|(s2, m2)| *s2 == s && m2 == m);
            i += 1;
        });
        same
    }
}

fn cmp_key(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

impl ScoreTree {
    pub(crate) fn new() -> ScoreTree {
        ScoreTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            seed: 0x9E37_79B9,
            bytes: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.size(self.root) as usize
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn key(&self, t: u32) -> (f64, &[u8]) {
        let n = &self.nodes[t as usize];
        (n.score, &n.member)
    }

    fn cmp(&self, a: u32, b: u32) -> Ordering {
        cmp_key(self.key(a), self.key(b))
    }

    fn update(&mut self, t: u32) {
        let n = &self.nodes[t as usize];
        let s = 1 + self.size(n.left) + self.size(n.right);
        self.nodes[t as usize].size = s;
    }

    /// Splits `t` into the nodes ordered before `x` and the rest.
    fn split(&mut self, t: u32, x: u32) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.cmp(t, x) == Ordering::Less {
            let (l, r) = self.split(self.nodes[t as usize].right, x);
            self.nodes[t as usize].right = l;
            self.update(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.nodes[t as usize].left, x);
            self.nodes[t as usize].left = r;
            self.update(t);
            (l, t)
        }
    }

    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let m = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = m;
            self.update(a);
            a
        } else {
            let m = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = m;
            self.update(b);
            b
        }
    }

    fn insert_node(&mut self, t: u32, x: u32) -> u32 {
        if t == NIL {
            return x;
        }
        if self.nodes[x as usize].prio > self.nodes[t as usize].prio {
            let (l, r) = self.split(t, x);
            let n = &mut self.nodes[x as usize];
            n.left = l;
            n.right = r;
            self.update(x);
            return x;
        }
        if self.cmp(x, t) == Ordering::Less {
            let c = self.insert_node(self.nodes[t as usize].left, x);
            self.nodes[t as usize].left = c;
        } else {
            let c = self.insert_node(self.nodes[t as usize].right, x);
            self.nodes[t as usize].right = c;
        }
        self.update(t);
        t
    }

    fn remove_node(&mut self, t: u32, x: u32) -> u32 {
        if t == NIL {
            return NIL;
        }
        if t == x {
            let n = &self.nodes[t as usize];
            return self.merge(n.left, n.right);
        }
        if self.cmp(x, t) == Ordering::Less {
            let c = self.remove_node(self.nodes[t as usize].left, x);
            self.nodes[t as usize].left = c;
        } else {
            let c = self.remove_node(self.nodes[t as usize].right, x);
            self.nodes[t as usize].right = c;
        }
        self.update(t);
        t
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index
            .find(hash, |&i| &*self.nodes[i as usize].member == member)
            .copied()
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|i| self.nodes[i as usize].score)
    }

    /// Adds a member that is not present.
    pub(crate) fn insert(&mut self, member: &[u8], score: f64) {
        // xorshift32: priorities only need to look random to keep the treap balanced.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let node = Node {
            score,
            member: member.into(),
            left: NIL,
            right: NIL,
            size: 1,
            prio: self.seed,
        };
        let x = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.bytes += heap_size(member.len());
        let hash = self.hasher.hash_one(member);
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index
            .insert_unique(hash, x, |&i| hasher.hash_one(&*nodes[i as usize].member));
        self.root = self.insert_node(self.root, x);
    }

    /// Removes a member; returns its score.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        let entry = self
            .index
            .find_entry(hash, |&i| &*nodes[i as usize].member == member)
            .ok()?;
        let (x, _) = entry.remove();
        self.root = self.remove_node(self.root, x);
        let n = &mut self.nodes[x as usize];
        let score = n.score;
        self.bytes -= heap_size(n.member.len());
        n.member = Box::default();
        // Size 0 marks a free slot for `scan`.
        n.size = 0;
        self.free.push(x);
        Some(score)
    }

    /// 0-based rank of a member.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let x = self.find(member)?;
        let mut t = self.root;
        let mut rank = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            match self.cmp(x, t) {
                Ordering::Less => t = n.left,
                Ordering::Greater => {
                    rank += self.size(n.left) as usize + 1;
                    t = n.right;
                }
                Ordering::Equal => return Some(rank + self.size(n.left) as usize),
            }
        }
        None
    }

    /// Number of elements for which `before` holds, `before` being true for a prefix of the
    /// order.
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut t = self.root;
        let mut count = 0usize;
        while t != NIL {
            let n = &self.nodes[t as usize];
            if before(n.score, &n.member) {
                count += self.size(n.left) as usize + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        count
    }

    /// Calls `f` with the elements of ranks `lo..hi` in order.
    pub(crate) fn walk(&self, lo: usize, hi: usize, f: &mut dyn FnMut(f64, &[u8])) {
        self.walk_at(self.root, 0, lo, hi, f);
    }

    fn walk_at(&self, t: u32, offset: usize, lo: usize, hi: usize, f: &mut dyn FnMut(f64, &[u8])) {
        if t == NIL || lo >= hi {
            return;
        }
        let n = &self.nodes[t as usize];
        let rank = offset + self.size(n.left) as usize;
        if lo < rank {
            self.walk_at(n.left, offset, lo, hi, f);
        }
        if lo <= rank && rank < hi {
            f(n.score, &n.member);
        }
        if hi > rank + 1 {
            self.walk_at(n.right, rank + 1, lo, hi, f);
        }
    }

    /// One ZSCAN step over arena slots from `cursor`: a member keeps its slot for life, so
    /// every member present for the whole scan is returned.
    fn scan(&self, cursor: u64, count: usize, f: &mut dyn FnMut(&[u8], f64)) -> u64 {
        let mut i = cursor as usize;
        let mut seen = 0;
        while i < self.nodes.len() && seen < count.max(1) {
            let n = &self.nodes[i];
            if n.size > 0 {
                f(&n.member, n.score);
                seen += 1;
            }
            i += 1;
        }
        if i >= self.nodes.len() { 0 } else { i as u64 }
    }

    /// Heap bytes: the members' allocations, the node arena, the index, the free list.
    fn mem(&self) -> usize {
        self.bytes
            + vec_size::<Node>(self.nodes.len(), self.nodes.capacity())
            + heap_size(self.index.allocation_size())
            + vec_size::<u32>(self.free.len(), self.free.capacity())
    }
}

/// Thresholds of the compact encoding (`zset-max-listpack-entries`, `-value`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZLimits {
    pub(crate) entries: usize,
    pub(crate) value: usize,
}

/// A sorted set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ZSet {
    /// Members and scores (8 bytes, little endian) alternating, in order.
    Pack(Pack),
    /// The large form.
    Tree(ScoreTree),
}

fn score_of(bytes: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    f64::from_le_bytes(b)
}

/// Iterates `(byte position, score, member)` over a packed sorted set.
fn pack_iter(p: &Pack) -> impl Iterator<Item = (usize, f64, &[u8])> {
    let mut it = p.iter();
    std::iter::from_fn(move || {
        let (at, member) = it.next()?;
        let (_, score) = it.next()?;
        Some((at, score_of(score), member))
    })
}

impl ZSet {
    /// An empty sorted set in the encoding Redis creates for `size` elements whose longest
    /// member is `longest` bytes.
    pub(crate) fn with_hint(size: usize, longest: usize, limits: ZLimits) -> ZSet {
        if size <= limits.entries && longest <= limits.value && limits.entries > 0 {
            ZSet::Pack(Pack::default())
        } else {
            ZSet::Tree(ScoreTree::new())
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len() / 2,
            ZSet::Tree(t) => t.len(),
        }
    }

    pub(crate) fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Tree(_) => "skiplist",
        }
    }

    pub(crate) fn mem(&self) -> usize {
        match self {
            ZSet::Pack(p) => heap_size(size_of::<ZSet>()) + heap_size(p.bytes()),
            ZSet::Tree(t) => heap_size(size_of::<ZSet>()) + t.mem(),
        }
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => pack_iter(p).find(|e| e.2 == member).map(|e| e.1),
            ZSet::Tree(t) => t.score(member),
        }
    }

    /// Sets `member`'s score, adding it if absent, converting to the large form when the
    /// limits are crossed. Returns the previous score.
    pub(crate) fn set(&mut self, member: &[u8], score: f64, limits: ZLimits) -> Option<f64> {
        let old = self.remove(member);
        if let ZSet::Pack(p) = self
            && (p.len() / 2 + 1 > limits.entries || member.len() > limits.value)
        {
            self.convert();
        }
        match self {
            ZSet::Pack(p) => {
                // Listpack stores scores as text, where -0 reads back as 0.
                let score = score + 0.0;
                let at = pack_iter(p)
                    .find(|&(_, s, m)| cmp_key((s, m), (score, member)) == Ordering::Greater)
                    .map_or(usize::MAX, |e| e.0);
                let at = if at == usize::MAX { p.end() } else { at };
                p.insert_at(at, &[member, &score.to_le_bytes()]);
            }
            ZSet::Tree(t) => t.insert(member, score),
        }
        old
    }

    /// Removes `member`; returns its score.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => {
                let (at, score, _) = pack_iter(p).find(|e| e.2 == member)?;
                p.remove_at(at, 2);
                Some(score)
            }
            ZSet::Tree(t) => t.remove(member),
        }
    }

    /// Converts to the large form.
    fn convert(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut t = ScoreTree::new();
            for (_, s, m) in pack_iter(p) {
                t.insert(m, s);
            }
            *self = ZSet::Tree(t);
        }
    }

    /// 0-based rank and score of `member` in ascending order.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Pack(p) => pack_iter(p)
                .enumerate()
                .find(|(_, e)| e.2 == member)
                .map(|(i, e)| (i, e.1)),
            ZSet::Tree(t) => Some((t.rank(member)?, t.score(member)?)),
        }
    }

    /// Number of elements for which `before` holds (true for a prefix of the order).
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => pack_iter(p).take_while(|e| before(e.1, e.2)).count(),
            ZSet::Tree(t) => t.count_before(before),
        }
    }

    /// Calls `f` with the elements of ascending ranks `lo..hi`.
    pub(crate) fn walk(&self, lo: usize, hi: usize, f: &mut dyn FnMut(f64, &[u8])) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match self {
            ZSet::Pack(p) => pack_iter(p)
                .skip(lo)
                .take(hi - lo)
                .for_each(|e| f(e.1, e.2)),
            ZSet::Tree(t) => t.walk(lo, hi, f),
        }
    }

    /// The elements of ascending ranks `lo..hi`, copied, in order (reversed if `rev`).
    pub(crate) fn range(&self, lo: usize, hi: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::with_capacity(hi.saturating_sub(lo).min(self.len()));
        self.walk(lo, hi, &mut |s, m| out.push((m.to_vec(), s)));
        if rev {
            out.reverse();
        }
        out
    }

    /// Removes and returns up to `count` elements with the lowest scores (the highest if
    /// `max`), in pop order. The caller deletes the key if the set is left empty.
    pub(crate) fn pop(&mut self, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
        let len = self.len();
        let n = count.min(len);
        let (lo, hi) = if max { (len - n, len) } else { (0, n) };
        let popped = self.range(lo, hi, max);
        for (m, _) in &popped {
            self.remove(m);
        }
        popped
    }

    /// One ZSCAN step: the compact form whole (cursor 0), the tree by arena slot.
    pub(crate) fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Pack(p) => {
                pack_iter(p).for_each(|(_, s, m)| f(m, s));
                0
            }
            ZSet::Tree(t) => t.scan(cursor, count, &mut f),
        }
    }

    /// Every element in order.
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<(Vec<u8>, f64)> {
        self.range(0, self.len(), false)
    }
}

/// A score bound: value and whether it is exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScoreBound {
    pub(crate) value: f64,
    pub(crate) exclusive: bool,
}

/// Redis's `strtod`-based parsing of a range bound: leading spaces and an empty string (0) are
/// accepted, NaN is not.
fn strtod_all(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return Some(0.0);
    }
    let t = s.trim_ascii_start();
    let v: f64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Parses a score range bound (`1.5`, `(1.5`, `-inf`, `+inf`).
pub(crate) fn parse_score_bound(s: &[u8]) -> Option<ScoreBound> {
    match s.first() {
        Some(b'(') => Some(ScoreBound {
            value: strtod_all(&s[1..])?,
            exclusive: true,
        }),
        _ => Some(ScoreBound {
            value: strtod_all(s)?,
            exclusive: false,
        }),
    }
}

/// Parses a score argument as Redis's `getDoubleFromObject`: no leading space, no trailing
/// garbage, no overflow or underflow to zero, no NaN.
pub(crate) fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s.len() > 5000 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if v.is_infinite() && !lower.contains("inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            return None;
        }
    }
    Some(v)
}

/// A lexicographic range bound.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[x` or `(x`
    Value(Vec<u8>, bool),
}

/// Parses `-`, `+`, `[x`, `(x`.
pub(crate) fn parse_lex_bound(s: &[u8]) -> Option<LexBound> {
    match s.first()? {
        b'+' if s.len() == 1 => Some(LexBound::Max),
        b'-' if s.len() == 1 => Some(LexBound::Min),
        b'[' => Some(LexBound::Value(s[1..].to_vec(), false)),
        b'(' => Some(LexBound::Value(s[1..].to_vec(), true)),
        _ => None,
    }
}

impl ZSet {
    /// Ascending rank range `lo..hi` of the elements with scores between `min` and `max`.
    pub(crate) fn score_range(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        let lo = self.count_before(|s, _| {
            if min.exclusive {
                s <= min.value
            } else {
                s < min.value
            }
        });
        let hi = self.count_before(|s, _| {
            if max.exclusive {
                s < max.value
            } else {
                s <= max.value
            }
        });
        (lo, hi.max(lo))
    }

    /// Ascending rank range of the members between `min` and `max` (for sets whose scores are
    /// all equal, as Redis requires).
    pub(crate) fn lex_range(&self, min: &LexBound, max: &LexBound) -> (usize, usize) {
        let lo = self.count_before(|_, m| match min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value(v, ex) => {
                if *ex {
                    m <= &v[..]
                } else {
                    m < &v[..]
                }
            }
        });
        let hi = self.count_before(|_, m| match max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Value(v, ex) => {
                if *ex {
                    m < &v[..]
                } else {
                    m <= &v[..]
                }
            }
        });
        (lo, hi.max(lo))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_ranks_and_ranges() {
        let mut t = ScoreTree::new();
        for i in (0..1000u32).rev() {
            t.insert(format!("m{i:04}").as_bytes(), f64::from(i % 10));
        }
        assert_eq!(t.len(), 1000);
        // Score 0 holds m0000, m0010, ... (100 members), ordered by member.
        assert_eq!(t.rank(b"m0000"), Some(0));
        assert_eq!(t.rank(b"m0010"), Some(1));
        assert_eq!(t.rank(b"m0001"), Some(100));
        assert_eq!(t.count_before(|s, _| s < 5.0), 500);
        for i in (0..1000).step_by(2) {
            assert_eq!(
                t.remove(format!("m{i:04}").as_bytes()),
                Some(f64::from(i % 10))
            );
        }
        assert_eq!(t.len(), 500);
        let mut seen = Vec::new();
        t.walk(0, 3, &mut |s, m| seen.push((s, m.to_vec())));
        assert_eq!(seen[0], (1.0, b"m0001".to_vec()));
        assert_eq!(seen[1], (1.0, b"m0011".to_vec()));
        assert_eq!(t.score(b"m0003"), Some(3.0));
        assert_eq!(t.score(b"m0002"), None);
    }

    #[test]
    fn pack_and_tree_agree() {
        let limits = ZLimits {
            entries: 4,
            value: 64,
        };
        let mut z = ZSet::with_hint(1, 1, limits);
        for (m, s) in [("c", 3.0), ("a", 1.0), ("b", 1.0), ("d", -1.0)] {
            z.set(m.as_bytes(), s, limits);
        }
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.rank(b"b"), Some((2, 1.0)));
        z.set(b"e", 0.5, limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.rank(b"b"), Some((3, 1.0)));
        assert_eq!(
            z.pop(false, 2),
            vec![(b"d".to_vec(), -1.0), (b"e".to_vec(), 0.5)]
        );
        assert_eq!(z.pop(true, 1), vec![(b"c".to_vec(), 3.0)]);
        assert_eq!(z.to_vec(), vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 1.0)]);
    }

    #[test]
    fn score_parsing() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        for bad in [&b"nan"[..], b" 1", b"1 ", b"", b"1e400", b"1e-400", b"abc"] {
            assert_eq!(parse_score(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_score_bound(b"(1.5"),
            Some(ScoreBound {
                value: 1.5,
                exclusive: true
            })
        );
        assert_eq!(parse_score_bound(b"x"), None);
    }
}
