//! A compact sequence of byte strings in one allocation, the stand-in for Redis's listpack.
//!
//! Each entry is a LEB128 length followed by its bytes. Small hashes and sorted sets (at most
//! 128 entries of at most 64 bytes by default) live in one of these: lookups are linear scans
//! over a few kilobytes, which costs less than hashing, and an entry costs its length plus one
//! byte instead of two heap allocations.

/// Entries packed back to back.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pack {
    buf: Vec<u8>,
    len: usize,
}

fn write_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Decodes the entry at `pos`: its bytes and the position of the next entry.
fn read_at(buf: &[u8], mut pos: usize) -> (&[u8], usize) {
    let (mut n, mut shift) = (0usize, 0);
    loop {
        let b = buf[pos];
        pos += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (&buf[pos..pos + n], pos + n)
}

impl Pack {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes used by the encoding.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The byte position after the last entry.
    pub(crate) fn end(&self) -> usize {
        self.buf.len()
    }

    /// Iterates over `(position, entry)`.
    pub(crate) fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Appends an entry.
    pub(crate) fn push(&mut self, entry: &[u8]) {
        write_len(&mut self.buf, entry.len());
        self.buf.extend_from_slice(entry);
        self.len += 1;
    }

    /// Inserts entries at byte position `pos` (an entry boundary or the end).
    pub(crate) fn insert_at(&mut self, pos: usize, entries: &[&[u8]]) {
        let mut enc = Vec::new();
        for e in entries {
            write_len(&mut enc, e.len());
            enc.extend_from_slice(e);
        }
        self.buf.splice(pos..pos, enc);
        self.len += entries.len();
    }

    /// Removes `count` entries starting at byte position `pos`.
    pub(crate) fn remove_at(&mut self, pos: usize, count: usize) {
        let mut end = pos;
        for _ in 0..count {
            end = read_at(&self.buf, end).1;
        }
        self.buf.drain(pos..end);
        self.len -= count;
    }

    /// Replaces the entry at byte position `pos`.
    pub(crate) fn replace_at(&mut self, pos: usize, entry: &[u8]) {
        let end = read_at(&self.buf, pos).1;
        let mut enc = Vec::with_capacity(entry.len() + 2);
        write_len(&mut enc, entry.len());
        enc.extend_from_slice(entry);
        self.buf.splice(pos..end, enc);
    }
}

/// Iterator over a [`Pack`]'s `(byte position, entry)`.
#[derive(Debug, Clone)]
pub(crate) struct PackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let at = self.pos;
        let (entry, next) = read_at(self.buf, at);
        self.pos = next;
        Some((at, entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_replace() {
        let mut p = Pack::default();
        p.push(b"a");
        p.push(&[7u8; 200]);
        p.push(b"c");
        let pos: Vec<usize> = p.iter().map(|(at, _)| at).collect();
        assert_eq!(p.iter().nth(1).map(|(_, e)| e.len()), Some(200));
        p.replace_at(pos[1], b"bb");
        p.insert_at(pos[0], &[b"z", b""]);
        let all: Vec<&[u8]> = p.iter().map(|(_, e)| e).collect();
        assert_eq!(all, vec![&b"z"[..], b"", b"a", b"bb", b"c"]);
        let at = p.iter().nth(2).map(|(at, _)| at).unwrap_or(0);
        p.remove_at(at, 2);
        let all: Vec<&[u8]> = p.iter().map(|(_, e)| e).collect();
        assert_eq!(all, vec![&b"z"[..], b"", b"c"]);
        assert_eq!(p.len(), 3);
    }
}
