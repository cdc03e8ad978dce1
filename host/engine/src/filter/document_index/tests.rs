//! Chunk geometry, and document conditions answered from chunks against
//! the same conditions tested on the whole documents in Rust.

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::*;
use crate::filter::fixture::fixture;
use crate::filter::plan::{self, Limits, Plan};
use crate::filter::{DocumentOp, Filter, parse_where, sql};

/// The collection these tests write (the fixture's is 7).
const COLL: i64 = 9;

/// A deterministic stream of pseudo-random numbers.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

/// `bytes` (about) of varied text: printable ASCII and one- to four-byte
/// characters, so chunks end inside characters and hold about 8,000
/// characters each.
fn varied_text(dice: &mut Dice, bytes: usize) -> String {
    const OTHERS: [char; 6] = ['é', 'ß', '€', '中', '𝄞', '😀'];
    let mut text = String::with_capacity(bytes + 4);
    while text.len() < bytes {
        let i = dice.roll(95 + OTHERS.len());
        text.push(match i.checked_sub(95) {
            Some(j) => OTHERS[j],
            None => char::from(b' ' + i as u8),
        });
    }
    text
}

/// `bytes` (about) of text of a few characters, whose chunks end at
/// MAX_CHUNK_BYTES.
fn plain_text(dice: &mut Dice, bytes: usize) -> String {
    const ALPHABET: [char; 4] = ['a', 'b', ' ', '€'];
    let mut text = String::with_capacity(bytes + 4);
    while text.len() < bytes {
        text.push(ALPHABET[dice.roll(ALPHABET.len())]);
    }
    text
}

/// The chunks of `document`, in order.
fn chunk_texts(document: &str) -> Vec<&str> {
    chunk_ranges(document.as_bytes())
        .into_iter()
        .map(|r| &document[r])
        .collect()
}

fn char_boundaries(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect()
}

#[test]
fn chunks_overlap_and_cover_every_short_substring() {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let texts = [
        String::new(),
        varied_text(&mut dice, 1),
        varied_text(&mut dice, 100),
        varied_text(&mut dice, 9_000),
        varied_text(&mut dice, 60_000),
        plain_text(&mut dice, 3 * chunks::MAX_CHUNK_BYTES + 100),
    ];
    for text in &texts {
        let ranges = chunk_ranges(text.as_bytes());
        if text.is_empty() {
            assert!(ranges.is_empty());
            continue;
        }
        // The first chunk starts the text and the last ends it; each is
        // within its bounds, starts on a character and shares at least the
        // overlap with the next, which starts later.
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges.last().unwrap().end, text.len());
        for (k, range) in ranges.iter().enumerate() {
            let chunk = &text[range.clone()];
            assert!(chunk.len() <= chunks::MAX_CHUNK_BYTES);
            let chars: Vec<char> = chunk.chars().collect();
            let trigrams: std::collections::HashSet<&[char]> = chars.windows(3).collect();
            // Counted in a set of bits, where a few collide.
            assert!(trigrams.len() <= DISTINCT_TRIGRAMS * 17 / 16, "chunk {k}");
            if let Some(next) = ranges.get(k + 1) {
                assert!(range.start < next.start && next.start + OVERLAP_BYTES <= range.end);
            }
        }
        // Every substring of EXACT_BYTES or fewer lies inside some chunk.
        let bounds = char_boundaries(text);
        let mut chunk = 0;
        for (i, &start) in bounds.iter().enumerate() {
            let end = bounds[i..]
                .iter()
                .copied()
                .take_while(|&e| e - start <= EXACT_BYTES)
                .last()
                .unwrap();
            while chunk + 1 < ranges.len() && ranges[chunk + 1].start <= start {
                chunk += 1;
            }
            let range = &ranges[chunk];
            assert!(
                range.start <= start && end <= range.end,
                "{start}..{end} of {} bytes is in no chunk: {ranges:?}",
                text.len()
            );
        }
    }
    // Varied text fills chunks by trigrams, plain text by bytes.
    assert_eq!(chunk_ranges(texts[4].as_bytes()).len(), 7);
    assert_eq!(chunk_ranges(texts[5].as_bytes()).len(), 4);
}

#[test]
fn probes_are_prefixes_within_the_exact_length() {
    let short = "a".repeat(EXACT_BYTES);
    assert_eq!(probe(&short), short);
    assert!(exact(&short));
    let long = format!("{short}b");
    assert_eq!(probe(&long), short);
    assert!(!exact(&long));
    // Cut at a character boundary: '€' is three bytes.
    let euros = "€".repeat(EXACT_BYTES);
    assert_eq!(probe(&euros), "€".repeat(EXACT_BYTES / 3));
    assert!(MATCHING_RECORDS.contains(&format!(">> {ROWID_BITS})")));
}

#[test]
fn chunk_functions_pass_documents_through_sql() {
    let conn = Connection::open_in_memory().unwrap();
    register_functions(&conn).unwrap();
    let text = varied_text(&mut Dice(77), 30_000);
    for document in ["?1", "CAST(?1 AS BLOB)"] {
        let from_sql: Vec<String> = conn
            .prepare(&format!(
                "SELECT prism_document_chunk({document}, c.value ->> 0, c.value ->> 1) FROM json_each(prism_document_chunks({document})) c ORDER BY c.key"
            ))
            .unwrap()
            .query_map([&text], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(from_sql.len() > 1);
        assert_eq!(from_sql, chunk_texts(&text), "{document}");
    }
    let none: String = conn
        .query_row("SELECT prism_document_chunks(NULL)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(none, "[]");
    assert!(
        conn.query_row("SELECT prism_document_chunk('abc', 1, 4)", [], |r| r
            .get::<_, String>(0))
            .is_err()
    );
}

/// The fixture's store with the records of collection [`COLL`] added.
struct Store {
    conn: Connection,
    /// `(rowid, document)` of each record of [`COLL`].
    records: Vec<(i64, Option<String>)>,
}

impl Store {
    fn new() -> Self {
        let conn = fixture();
        conn.execute_batch(
            "INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (9, 'long', 'long', 'd', '{}');",
        )
        .unwrap();
        Self {
            conn,
            records: Vec::new(),
        }
    }

    fn put(&mut self, rowid: i64, document: Option<&str>) {
        self.conn
            .execute(
                "INSERT INTO records(rowid, coll, id, slot, document) VALUES (?1, ?2, ?3, ?1, ?4)",
                params![rowid, COLL, format!("r{rowid}"), document],
            )
            .unwrap();
        self.records.push((rowid, document.map(String::from)));
    }

    fn update(&mut self, rowid: i64, document: Option<&str>) {
        self.conn
            .execute(
                "UPDATE records SET document = ?2 WHERE rowid = ?1",
                params![rowid, document],
            )
            .unwrap();
        for record in &mut self.records {
            if record.0 == rowid {
                record.1 = document.map(String::from);
            }
        }
    }

    fn delete(&mut self, rowid: i64) {
        self.conn
            .execute("DELETE FROM records WHERE rowid = ?1", [rowid])
            .unwrap();
        self.records.retain(|r| r.0 != rowid);
    }

    /// Rows of the index that belong to record `rowid`, checked against
    /// the record each row maps back to.
    fn chunk_rows(&self, rowid: i64) -> i64 {
        let last = -((rowid << ROWID_BITS) | ((1 << ROWID_BITS) - 1));
        let first = -((rowid << ROWID_BITS) | 1);
        let rows: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM records_fts WHERE rowid = ?1 OR rowid BETWEEN ?2 AND ?3",
                params![rowid, last, first],
                |r| r.get(0),
            )
            .unwrap();
        let record = MATCHING_RECORDS
            .split(" FROM ")
            .next()
            .unwrap()
            .trim_start_matches("SELECT ");
        let mapped: i64 = self
            .conn
            .query_row(
                &format!("SELECT count(*) FROM records_fts WHERE {record} = ?1"),
                [rowid],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(mapped, rows, "rows of record {rowid}");
        rows
    }

    /// The records `filter` selects, compiled into one statement.
    fn selected(&self, filter: &Filter) -> Vec<i64> {
        self.selected_where(sql::compile(filter, COLL))
    }

    fn selected_where(&self, cond: sql::SqlCondition) -> Vec<i64> {
        let query = format!(
            "SELECT r.rowid FROM records r WHERE r.coll = {COLL} AND {} ORDER BY r.rowid",
            cond.sql
        );
        self.conn
            .prepare(&query)
            .unwrap()
            .query_map(rusqlite::params_from_iter(cond.params), |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The records `filter` selects when answered condition by condition.
    fn selected_in_parts(&self, filter: &Filter) -> Vec<i64> {
        let tiny = Limits {
            nodes: 1,
            depth: 1,
            parameters: 3,
        };
        match plan::plan_within(&self.conn, filter, COLL, tiny).unwrap() {
            Plan::Records(set) => self.selected_where(plan::membership(&set)),
            Plan::Filter(f) => self.selected(&f),
        }
    }

    /// The records whose document passes `test` (a missing document is
    /// `None`).
    fn expected(&self, test: impl Fn(Option<&str>) -> bool) -> Vec<i64> {
        self.records
            .iter()
            .filter(|(_, d)| test(d.as_deref()))
            .map(|(rowid, _)| *rowid)
            .collect()
    }

    /// `$contains` and `$not_contains` of `needle` select exactly the
    /// documents that hold it and the others, in one statement and in parts.
    fn check_contains(&self, needle: &str) {
        let holds = self.expected(|d| d.is_some_and(|d| d.contains(needle)));
        let lacks = self.expected(|d| !d.is_some_and(|d| d.contains(needle)));
        let contains = Filter::Document(DocumentOp::Contains(needle.into()));
        let not_contains = Filter::Document(DocumentOp::NotContains(needle.into()));
        let shown: String = needle.chars().take(40).collect();
        let len = needle.len();
        assert_eq!(
            self.selected(&contains),
            holds,
            "$contains {shown:?} ({len} bytes)"
        );
        assert_eq!(
            self.selected(&not_contains),
            lacks,
            "$not_contains {shown:?} ({len} bytes)"
        );
        assert_eq!(
            self.selected_in_parts(&contains),
            holds,
            "split $contains {shown:?}"
        );
        assert_eq!(
            self.selected_in_parts(&not_contains),
            lacks,
            "split $not_contains {shown:?}"
        );
    }

    fn check_regex(&self, pattern: &str) {
        let re = regex::Regex::new(pattern).unwrap();
        let matching = self.expected(|d| d.is_some_and(|d| re.is_match(d)));
        let rest = self.expected(|d| !d.is_some_and(|d| re.is_match(d)));
        let regex = Filter::Document(DocumentOp::Regex(pattern.into()));
        let not_regex = Filter::Document(DocumentOp::NotRegex(pattern.into()));
        let shown: String = pattern.chars().take(40).collect();
        assert_eq!(self.selected(&regex), matching, "$regex {shown:?}");
        assert_eq!(self.selected(&not_regex), rest, "$not_regex {shown:?}");
        assert_eq!(
            self.selected_in_parts(&regex),
            matching,
            "split $regex {shown:?}"
        );
    }
}

/// A store holding long documents of varied characters (several chunks
/// each), a plain one (three chunks), a short one, an empty one and a
/// record without a document.
fn long_documents() -> (Store, Vec<String>) {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut store = Store::new();
    let mut docs: Vec<String> = [50_000, 20_017, 9_500, 300]
        .iter()
        .map(|&n| varied_text(&mut dice, n))
        .collect();
    docs.push(plain_text(&mut dice, 2 * chunks::MAX_CHUNK_BYTES + 5));
    for (i, doc) in docs.iter().enumerate() {
        store.put(201 + i as i64, Some(doc));
    }
    store.put(210, Some(""));
    store.put(211, None);
    (store, docs)
}

/// Needles cut from `doc` around byte `at`: lengths from 1 character to far
/// past the overlap, starting just before, at and just after it.
fn needles_around(doc: &str, at: usize) -> Vec<&str> {
    let bounds = char_boundaries(doc);
    let near = bounds.partition_point(|&b| b < at);
    let mut needles = Vec::new();
    for start in [near.saturating_sub(3), near, near + 1] {
        let Some(&s) = bounds.get(start) else {
            continue;
        };
        for chars in [1, 2, 3, 40, 85, 200, 1500] {
            if let Some(&e) = bounds.get(start + chars) {
                needles.push(&doc[s..e]);
            }
        }
        // The longest needle the index answers alone, and one byte more.
        let exact_end = bounds.partition_point(|&b| b <= s + EXACT_BYTES);
        for e in [exact_end - 1, exact_end] {
            if let Some(&e) = bounds.get(e) {
                needles.push(&doc[s..e]);
            }
        }
    }
    needles
}

#[test]
fn needles_across_chunk_boundaries_are_found_exactly() {
    let (store, docs) = long_documents();
    // Where each chunk starts and ends; in the plain document (whose
    // needles are everywhere, so slow to check) only where its chunks start.
    let varied: Vec<usize> = chunk_ranges(docs[0].as_bytes())
        .iter()
        .flat_map(|r| [r.start, r.end])
        .collect();
    let plain: Vec<usize> = chunk_ranges(docs[4].as_bytes())
        .iter()
        .map(|r| r.start)
        .collect();
    for (doc, points) in [(&docs[0], varied), (&docs[4], plain)] {
        for at in points {
            for needle in needles_around(doc, at) {
                store.check_contains(needle);
            }
        }
    }
    // The very start and end of a document, longer than the overlap too.
    for len in [3, EXACT_BYTES, EXACT_BYTES + 1, 20_000] {
        for doc in &docs {
            let start = &doc[..boundary_at_or_before(doc.as_bytes(), len)];
            let end_from = doc.len().saturating_sub(len);
            let end_from = (end_from..=doc.len())
                .find(|&i| doc.is_char_boundary(i))
                .unwrap();
            store.check_contains(start);
            store.check_contains(&doc[end_from..]);
        }
    }
    // Whole documents, and texts that are nowhere: a long needle whose
    // probe is found but whose end is not.
    for doc in &docs {
        store.check_contains(doc);
        store.check_contains(&format!("{doc}!"));
        let (head, _) = doc.split_at(boundary_at_or_before(doc.as_bytes(), 600));
        store.check_contains(&format!("{head}\u{1}"));
    }
    store.check_contains("zz");
    store.check_contains("zzz");
}

#[test]
fn long_regex_literals_are_shortened_to_a_probe() {
    let (store, docs) = long_documents();
    let doc = &docs[0];
    // A literal much longer than a probe, across chunk boundaries.
    let first_end = chunk_ranges(doc.as_bytes())[0].end;
    let from = boundary_at_or_before(doc.as_bytes(), first_end - 50);
    let to = boundary_at_or_before(doc.as_bytes(), first_end + 700);
    let literal = regex::escape(&doc[from..to]);
    let from_start = boundary_at_or_before(docs[2].as_bytes(), 40);
    for pattern in [
        literal.clone(),
        format!("{literal}.*"),
        format!("(?s){literal}.+$"),
        format!("{literal}X"),
        format!("(?:{literal}|{})", regex::escape(&docs[2][..from_start])),
    ] {
        store.check_regex(&pattern);
    }
}

#[test]
fn updates_and_deletes_replace_every_chunk() {
    let (mut store, docs) = long_documents();
    let long = &docs[0];
    let needle = &long[long.len() / 2..long.len() / 2 + 20];
    assert_eq!(store.chunk_rows(201), chunk_texts(long).len() as i64);
    store.check_contains(needle);

    store.update(201, Some("now a short document"));
    assert_eq!(store.chunk_rows(201), 1);
    store.check_contains(needle);
    store.check_contains("short doc");

    store.update(201, Some(long));
    assert_eq!(store.chunk_rows(201), chunk_texts(long).len() as i64);
    store.check_contains(needle);
    store.check_contains("short doc");

    store.update(201, None);
    assert_eq!(store.chunk_rows(201), 0);
    store.check_contains(needle);
    store.update(201, Some(long));

    store.delete(201);
    assert_eq!(store.chunk_rows(201), 0);
    store.check_contains(needle);
    // Another record's chunks are untouched.
    assert_eq!(store.chunk_rows(202), chunk_texts(&docs[1]).len() as i64);
}

#[test]
fn combined_and_many_document_conditions_agree_with_the_documents() {
    let (store, docs) = long_documents();
    let long_needle = |i: usize| -> &str {
        let d = &docs[i];
        let s = boundary_at_or_before(d.as_bytes(), d.len() / 3);
        let e = boundary_at_or_before(d.as_bytes(), d.len() / 3 + 400);
        &d[s..e]
    };
    let absent = |i: usize| json!({"#document": {"$contains": format!("{}{i}", "q".repeat(300))}});
    let clauses = [
        json!({"$and": [
            {"#document": {"$contains": long_needle(0)}},
            {"#document": {"$not_contains": long_needle(1)}},
        ]}),
        json!({"$or": [
            {"#document": {"$contains": long_needle(0)}},
            {"#document": {"$contains": long_needle(1)}},
            {"#document": {"$regex": regex::escape(long_needle(2))}},
        ]}),
        // Enough document conditions for one pass over the documents.
        json!({"$or": (0..40).map(absent).chain([json!({"#document": {"$contains": long_needle(1)}})]).collect::<Vec<Value>>()}),
        json!({"$and": (0..40).map(|i| json!({"#document": {"$not_contains": format!("{}{i}", "q".repeat(300))}})).chain([json!({"#document": {"$not_contains": long_needle(2)}})]).collect::<Vec<Value>>()}),
    ];
    let holds = |d: Option<&str>, i: usize| d.is_some_and(|d| d.contains(long_needle(i)));
    let expected = [
        store.expected(|d| holds(d, 0) && !holds(d, 1)),
        store.expected(|d| holds(d, 0) || holds(d, 1) || holds(d, 2)),
        store.expected(|d| holds(d, 1)),
        store.expected(|d| !holds(d, 2)),
    ];
    for (clause, expected) in clauses.iter().zip(expected) {
        let filter = parse_where(clause).unwrap().unwrap();
        assert!(!expected.is_empty(), "{clause:.80}");
        assert_eq!(store.selected(&filter), expected, "{clause:.80}");
        assert_eq!(store.selected_in_parts(&filter), expected, "{clause:.80}");
    }
}
