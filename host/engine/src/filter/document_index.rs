//! The trigram index of documents (`records_fts`), which holds each document
//! as overlapping chunks.
//!
//! FTS5 indexes one row in time that grows with the square of the row's
//! distinct trigrams (its table of pending tokens hashes an ASCII trigram
//! into one of a few thousand buckets, and is only written out between
//! rows): one row of 1 MiB of varied text took 15 s, 10 MiB never finished.
//! Rows of [`CHUNK_BYTES`] keep that table small, so a document is indexed
//! in time linear in its length. Chunk sizes from 2 to 16 KiB measured the
//! same; from 32 KiB the square shows again.
//!
//! Chunk `k` of a document covers its bytes `k * STRIDE ..
//! k * STRIDE + CHUNK_BYTES`, each end moved back to a character boundary;
//! chunks follow until one reaches the end. Consecutive chunks share
//! [`OVERLAP_BYTES`], so every substring of at most [`EXACT_BYTES`] bytes lies
//! wholly inside some chunk: for such a needle the index is exact, and for a
//! longer one its first [`EXACT_BYTES`] ([`probe`]) select the candidates
//! that the whole document then confirms.
//!
//! Chunk 0 of record `pk` is row `pk`, as when a document was one row:
//! FTS5 stores each row id as the difference from the previous one, so the
//! row ids of short documents must stay as dense as the records' (spread
//! out by a shift, the index of 1 KB documents grew by 45%). Chunk `k >= 1`
//! is row `-(pk << ROWID_BITS | k)`: a record's further chunks are one
//! range of negative row ids. The triggers on `records` (in `store::schema`)
//! delete a record's rows by its row id and that range, and a lookup maps a
//! row back to its record ([`MATCHING_RECORDS`]).

use std::fmt::Write;

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

/// Bytes of one chunk (up to three more when its start moves back to a
/// character boundary).
pub const CHUNK_BYTES: usize = 4096;

/// Bytes consecutive chunks share (at least, before moving ends back to a
/// character boundary). Text in the overlap is indexed twice: 256 of 4096
/// bytes adds 7% to the index.
pub const OVERLAP_BYTES: usize = 256;

/// How far one chunk starts after the previous one.
const STRIDE: usize = CHUNK_BYTES - OVERLAP_BYTES;

/// The longest substring, in bytes, that always lies inside one chunk: a
/// substring starting at byte `a` of chunk `k = a / STRIDE`'s stretch ends
/// by `a + OVERLAP_BYTES - 1`, less the up to 3 bytes the chunk's end may
/// move back to a character boundary.
pub const EXACT_BYTES: usize = OVERLAP_BYTES - 2;

/// Low bits of a further chunk's (negated) row id that number the chunk
/// within its record: room for 2^20 chunks, 3.8 GiB, more than SQLite's
/// largest value (1 GB). Records' row ids stay below 2^43 (they count up
/// from 1).
pub const ROWID_BITS: u32 = 20;

/// SQLite's largest string or blob, in bytes (`SQLITE_MAX_LENGTH`).
const SQLITE_MAX_LENGTH: usize = 1_000_000_000;

/// A `SELECT` of the records having a chunk that matches the full-text
/// query bound after it.
pub const MATCHING_RECORDS: &str =
    "SELECT iif(rowid > 0, rowid, (-rowid) >> 20) FROM records_fts WHERE records_fts MATCH ";

// A probe of a needle of three or more characters has three or more
// characters too (the trigram index needs three), chunks advance, and the
// chunks of the longest document SQLite holds are numbered in ROWID_BITS.
const _: () = assert!((EXACT_BYTES - 3) / 4 >= 3 && STRIDE > 4);
const _: () = assert!(chunk_count(SQLITE_MAX_LENGTH) < 1 << ROWID_BITS);

/// How many chunks a document of `len` bytes has (none when empty).
pub const fn chunk_count(len: usize) -> usize {
    match len {
        0 => 0,
        n if n <= CHUNK_BYTES => 1,
        n => 1 + (n - CHUNK_BYTES).div_ceil(STRIDE),
    }
}

/// The greatest character boundary of UTF-8 `text` at or before `i`.
fn boundary_at_or_before(text: &[u8], i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    // At most three continuation bytes precede a character's first byte.
    (i.saturating_sub(3)..=i)
        .rev()
        .find(|&j| text[j] & 0xC0 != 0x80)
        .unwrap_or(0)
}

/// The byte range of chunk `k` of `text` (assumed UTF-8), if it has one.
fn chunk_range(text: &[u8], k: usize) -> Option<std::ops::Range<usize>> {
    if k >= chunk_count(text.len()) {
        return None;
    }
    let start = boundary_at_or_before(text, k * STRIDE);
    let end = boundary_at_or_before(text, k * STRIDE + CHUNK_BYTES);
    Some(start..end)
}

/// The part of `needle` the index is asked for: all of it when it is at
/// most [`EXACT_BYTES`] long (then the index's answer is exact), otherwise
/// its longest prefix within that length.
pub fn probe(needle: &str) -> &str {
    &needle[..boundary_at_or_before(needle.as_bytes(), EXACT_BYTES.min(needle.len()))]
}

/// Whether the index's answer for `needle` is the exact answer.
pub fn exact(needle: &str) -> bool {
    needle.len() <= EXACT_BYTES
}

/// Register the SQL functions the triggers on `records` call to write a
/// document's chunks:
///
/// - `prism_document_chunks(document)`: a JSON array of its chunk numbers,
///   `[0, 1, ...]` (empty for NULL or an empty document), for `json_each`;
/// - `prism_document_chunk(document, k)`: the text of chunk `k`.
///
/// The document may be text or a blob of its UTF-8. Pass a blob
/// (`CAST(document AS BLOB)`): SQLite hands a function a blob as it is, but
/// copies a text to end it with a NUL (rusqlite binds text without one), on
/// every call, which would make writing a document's chunks cost time
/// growing with the square of its length.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("prism_document_chunks", 1, flags, |ctx| {
        let count = text_arg(ctx, 0)?.map_or(0, |t| chunk_count(t.len()));
        let mut list = String::with_capacity(count * 6 + 2);
        list.push('[');
        for k in 0..count {
            if k > 0 {
                list.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(list, "{k}");
        }
        list.push(']');
        Ok(list)
    })?;
    conn.create_scalar_function("prism_document_chunk", 2, flags, |ctx| {
        let k: i64 = ctx.get(1)?;
        let Some(text) = text_arg(ctx, 0)? else {
            return Ok(None);
        };
        let Some(range) = usize::try_from(k).ok().and_then(|k| chunk_range(text, k)) else {
            return Ok(None);
        };
        // Rust always stores valid UTF-8; a document written otherwise is
        // indexed as well as it can be rather than refused.
        Ok(Some(String::from_utf8_lossy(&text[range]).into_owned()))
    })
}

/// The bytes of text or blob argument `i` (NULL: none).
fn text_arg<'a>(ctx: &'a Context<'_>, i: usize) -> rusqlite::Result<Option<&'a [u8]>> {
    Ok(match ctx.get_raw(i) {
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(t),
        ValueRef::Null => None,
        _ => {
            return Err(rusqlite::Error::UserFunctionError(
                "a document must be text or a blob".into(),
            ));
        }
    })
}

#[cfg(test)]
mod tests;
