//! The trigram index of documents (`records_fts`), which holds each document
//! as overlapping chunks.
//!
//! FTS5 indexes one row in time that grows with the square of the row's
//! distinct trigrams (its table of pending tokens hashes an ASCII trigram
//! into one of a few thousand buckets, and is only written out between
//! rows): one row of 1 MiB of varied text took 15 s, 10 MiB ten minutes.
//! Chunks with a bounded number of distinct trigrams ([`chunks`]) are
//! indexed in time linear in the document's length.
//!
//! Consecutive chunks share [`chunks::OVERLAP_BYTES`], so every substring
//! of at most [`EXACT_BYTES`] lies wholly inside some chunk (the last chunk
//! starting at or before it ends at least that far after it starts): for
//! such a needle the index is exact, and for a longer one its first
//! [`EXACT_BYTES`] ([`probe`]) select the candidates that the whole
//! document then confirms.
//!
//! Chunk 0 of record `pk` is row `pk`, as when a document was one row:
//! FTS5 stores each row id as the difference from the previous one, so the
//! row ids of short documents must stay as dense as the records' (spread
//! out by a shift, the index of 1 KB documents grew by 45%). Chunk `k >= 1`
//! is row `-(pk << ROWID_BITS | k)`: a record's further chunks are one
//! range of negative row ids. The triggers on `records` (in `store::schema`)
//! delete a record's rows by its row id and that range, and a lookup maps a
//! row back to its record ([`MATCHING_RECORDS`]).

pub(crate) mod chunks;

use std::fmt::Write;

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

use chunks::{DISTINCT_TRIGRAMS, OVERLAP_BYTES, boundary_at_or_before, chunk_ranges};

/// The longest substring, in bytes, that always lies inside one chunk.
pub const EXACT_BYTES: usize = OVERLAP_BYTES;

/// Low bits of a further chunk's (negated) row id that number the chunk
/// within its record. Records' row ids stay below 2^43 (they count up
/// from 1).
pub const ROWID_BITS: u32 = 20;

/// SQLite's largest string or blob, in bytes (`SQLITE_MAX_LENGTH`).
const SQLITE_MAX_LENGTH: usize = 1_000_000_000;

/// A `SELECT` of the records having a chunk that matches the full-text
/// query bound after it.
pub const MATCHING_RECORDS: &str =
    "SELECT iif(rowid > 0, rowid, (-rowid) >> 20) FROM records_fts WHERE records_fts MATCH ";

// A probe of a needle of three or more characters has three or more
// characters too (the trigram index needs three); a chunk other than the
// last (DISTINCT_TRIGRAMS + 2 characters at least) is longer than the
// overlap, so chunks advance by more than DISTINCT_TRIGRAMS - OVERLAP_BYTES
// bytes; and the chunks of the longest document SQLite holds are numbered
// in ROWID_BITS.
const _: () = assert!((EXACT_BYTES - 3) / 4 >= 3);
const _: () = assert!(DISTINCT_TRIGRAMS > OVERLAP_BYTES + 4);
const _: () =
    assert!(SQLITE_MAX_LENGTH / (DISTINCT_TRIGRAMS - OVERLAP_BYTES - 4) + 1 < 1 << ROWID_BITS);

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
/// - `prism_document_chunks(document)`: a JSON array of its chunks' byte
///   ranges, `[[start, end], ...]` (empty for NULL or an empty document),
///   for `json_each`;
/// - `prism_document_chunk(document, start, end)`: the text of one.
///
/// The document may be text or a blob of its UTF-8. Pass a blob
/// (`CAST(document AS BLOB)`): SQLite hands a function a blob as it is, but
/// copies a text to end it with a NUL (rusqlite binds text without one), on
/// every call, which would make writing a document's chunks cost time
/// growing with the square of its length.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("prism_document_chunks", 1, flags, |ctx| {
        let ranges = text_arg(ctx, 0)?.map(chunk_ranges).unwrap_or_default();
        let mut list = String::with_capacity(ranges.len() * 20 + 2);
        list.push('[');
        for (i, range) in ranges.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(list, "[{},{}]", range.start, range.end);
        }
        list.push(']');
        Ok(list)
    })?;
    conn.create_scalar_function("prism_document_chunk", 3, flags, |ctx| {
        let (start, end): (i64, i64) = (ctx.get(1)?, ctx.get(2)?);
        let Some(text) = text_arg(ctx, 0)? else {
            return Ok(None);
        };
        let range = usize::try_from(start).ok()..usize::try_from(end).ok();
        let Some(chunk) = range
            .start
            .zip(range.end)
            .and_then(|(start, end)| text.get(start..end))
        else {
            return Err(rusqlite::Error::UserFunctionError(
                format!(
                    "no chunk {start}..{end} in a document of {} bytes",
                    text.len()
                )
                .into(),
            ));
        };
        // Rust always stores valid UTF-8; a document written otherwise is
        // indexed as well as it can be rather than refused.
        Ok(Some(String::from_utf8_lossy(chunk).into_owned()))
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
