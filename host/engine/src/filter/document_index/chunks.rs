//! Where a document's chunks start and end.
//!
//! What one FTS5 row costs grows with the square of its distinct trigrams,
//! and what a document costs grows with its rows (FTS5 keeps an entry per
//! trigram and row), so a chunk ends where it would hold more than
//! [`DISTINCT_TRIGRAMS`], or at [`MAX_CHUNK_BYTES`]. Varied text (random
//! characters, identifiers, base64) gets chunks of about 8 KiB; prose and
//! code, which repeat their trigrams, chunks of 50 KiB to
//! [`MAX_CHUNK_BYTES`], so most documents stay one row as before. Measured
//! in FTS5 alone (CPU time): 1 MiB of random printable text
//! cost 1.2 s in chunks of 4 or 8 KiB, 1.8 s in chunks of 16 KiB; 120
//! documents of 128 KiB of prose and code cost 2.9 s as one row each, 6.7 s
//! in chunks of 4 KiB, 3.6 s in these chunks.
//!
//! Each chunk after the first starts [`OVERLAP_BYTES`] (or up to three
//! more, to start on a character) before the previous one ends.

use std::ops::Range;

/// Most distinct trigrams in one chunk.
pub const DISTINCT_TRIGRAMS: usize = 8192;

/// Most bytes in one chunk, whatever its text: the largest row the index
/// held when every document was one row (then the largest document).
pub const MAX_CHUNK_BYTES: usize = 128 * 1024;

/// Bytes each chunk shares with the next (at least).
pub const OVERLAP_BYTES: usize = 256;

/// Bits of the set a chunk's trigrams are counted in: 8,192 trigrams fill
/// 6% of its 2^17, so few are missed as collisions, and missing some only
/// lengthens the chunk a little.
const SEEN_BITS: u32 = 17;

/// The byte ranges of `text`'s chunks, in order: none for an empty text.
/// `text` should be UTF-8; other bytes are cut as well as they can be.
pub fn chunk_ranges(text: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut seen = vec![0u64; (1 << SEEN_BITS) / 64];
    let mut start = 0;
    while start < text.len() {
        let end = chunk_end(text, start, &mut seen);
        ranges.push(start..end);
        if end == text.len() {
            break;
        }
        // A chunk is longer than the overlap (it holds DISTINCT_TRIGRAMS + 2
        // characters or MAX_CHUNK_BYTES), so the next one starts later.
        start = boundary_at_or_before(text, end - OVERLAP_BYTES);
    }
    ranges
}

/// Where the chunk starting at `start` ends: before the character that
/// would add a trigram past [`DISTINCT_TRIGRAMS`] or a byte past
/// [`MAX_CHUNK_BYTES`], else at the end of `text`.
fn chunk_end(text: &[u8], start: usize, seen: &mut [u64]) -> usize {
    seen.fill(0);
    let mut distinct = 0;
    // The two characters before the current one (their bytes), and how
    // many characters the chunk has so far.
    let (mut first, mut second, mut chars) = (0u32, 0u32, 0usize);
    let mut i = start;
    while i < text.len() {
        let next = next_boundary(text, i);
        if next - start > MAX_CHUNK_BYTES {
            return i;
        }
        let current = pack(&text[i..next]);
        chars += 1;
        if chars >= 3 {
            let bit = trigram_bit(first, second, current);
            let (word, mask) = (bit / 64, 1u64 << (bit % 64));
            if seen[word] & mask == 0 {
                if distinct == DISTINCT_TRIGRAMS {
                    return i;
                }
                seen[word] |= mask;
                distinct += 1;
            }
        }
        (first, second) = (second, current);
        i = next;
    }
    text.len()
}

/// The start of the character after the one at `i`.
fn next_boundary(text: &[u8], i: usize) -> usize {
    let mut next = i + 1;
    while next < text.len() && is_continuation(text[next]) {
        next += 1;
    }
    next
}

fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// A character's (first four) bytes as one number.
fn pack(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0, |packed, &b| (packed << 8) | u32::from(b))
}

/// The bit of the seen set that stands for a trigram.
fn trigram_bit(first: u32, second: u32, third: u32) -> usize {
    let key = (u64::from(first) << 32 | u64::from(second)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(third);
    (key.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - SEEN_BITS)) as usize
}

/// The greatest character boundary of UTF-8 `text` at or before `i`.
pub fn boundary_at_or_before(text: &[u8], i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    // At most three continuation bytes precede a character's first byte.
    (i.saturating_sub(3)..=i)
        .rev()
        .find(|&j| !is_continuation(text[j]))
        .unwrap_or(0)
}
