//! LZF, the compression Redis applies to long strings in RDB files (`rdbcompression yes`).
//!
//! Decompression is complete. Compression is a straightforward greedy matcher with a small
//! hash table, compatible with liblzf's format; its ratio is a little below liblzf's, which
//! does not matter for correctness.

/// Decompresses `input` into exactly `out_len` bytes; `None` if the data is malformed.
pub(crate) fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            let lit = input.get(i..i + run)?;
            out.extend_from_slice(lit);
            i += run;
        } else {
            // A back reference: length in the top 3 bits (7 = extended), offset in 13 bits.
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            len += 2;
            let start = out.len().checked_sub(back)?;
            // Overlapping copies repeat bytes, so copy one at a time.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

const HASH_BITS: usize = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 32;

/// Compresses `input`; `None` if the result would not be smaller (Redis then stores the
/// string as it is).
pub(crate) fn compress(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() < 4 {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut table = vec![0usize; 1 << HASH_BITS];
    let mut lit_start = 0;
    let mut i = 0;
    let hash = |p: usize| {
        let v = (input[p] as u32) << 16 | (input[p + 1] as u32) << 8 | input[p + 2] as u32;
        (v.wrapping_mul(2654435761) >> (32 - HASH_BITS)) as usize
    };
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(MAX_LIT) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < input.len() {
        let h = hash(i);
        // Entries store position + 1 so that 0 means empty.
        let candidate = table[h];
        table[h] = i + 1;
        if candidate > 0 {
            let r = candidate - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let max = (input.len() - i).min(MAX_REF);
                let mut len = 3;
                while len < max && input[r + len] == input[i + len] {
                    len += 1;
                }
                flush_literals(&mut out, lit_start, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push((off & 0xff) as u8);
                i += len;
                lit_start = i;
                if out.len() >= input.len() {
                    return None;
                }
                continue;
            }
        }
        i += 1;
    }
    flush_literals(&mut out, lit_start, input.len());
    (out.len() < input.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases: Vec<Vec<u8>> = vec![
            vec![b'a'; 300],
            b"abcabcabcabcabcabcabcabc hello hello hello world".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            (0..3000u32).map(|i| (i * 7 % 13) as u8).collect(),
        ];
        for case in cases {
            let packed = compress(&case).expect("compressible");
            assert!(packed.len() < case.len());
            assert_eq!(decompress(&packed, case.len()).as_deref(), Some(&case[..]));
        }
        assert_eq!(compress(b"abcdefgh"), None);
    }

    #[test]
    fn rejects_malformed_input() {
        // A back reference before the start of the output.
        assert_eq!(decompress(&[0x20, 0x05], 3), None);
        // A literal run longer than the input.
        assert_eq!(decompress(&[0x05, b'a'], 6), None);
        // Wrong declared length.
        assert_eq!(decompress(&[0x00, b'a'], 2), None);
    }
}
