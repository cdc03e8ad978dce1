//! Documents of megabytes through the engine: the trigram index holds them
//! as overlapping chunks, and `where_document` still answers exactly; a
//! data directory whose index holds one row per document (as Prism wrote it
//! before) is indexed again when opened.

use std::path::Path;

use prism_engine::types::{Include, RecordBatch, WriteKind};
use prism_engine::validate::limits::WriteLimits;
use prism_engine::{
    DB_FILE, DEFAULT_DATABASE as D, DEFAULT_TENANT as T, DeleteRequest, Engine, EngineOptions,
    GetRequest, NewCollection, RecordSelector,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn options(dir: &Path) -> EngineOptions {
    EngineOptions {
        save_interval: None,
        allow_reset: true,
        write_limits: WriteLimits {
            max_document_bytes: 16 << 20,
            ..WriteLimits::default()
        },
        ..EngineOptions::new(dir)
    }
}

/// `bytes` (about) of varied text, printable ASCII and one- to four-byte
/// characters, the same for the same `seed`: nearly every trigram is new,
/// so its chunks are short (about 8 KiB) and end inside characters.
fn text(seed: u64, bytes: usize) -> String {
    const OTHERS: [char; 6] = ['é', 'ß', '€', '中', '𝄞', '😀'];
    let mut x = seed | 1;
    let mut out = String::with_capacity(bytes + 4);
    while out.len() < bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % (95 + OTHERS.len() as u64)) as usize;
        out.push(match i.checked_sub(95) {
            Some(j) => OTHERS[j],
            None => char::from(b' ' + i as u8),
        });
    }
    out
}

/// `text[from..to]`, both ends moved forward to a character boundary (or
/// the end).
fn cut(text: &str, from: usize, to: usize) -> &str {
    let next = |i: usize| {
        (i.min(text.len())..=text.len())
            .find(|&j| text.is_char_boundary(j))
            .unwrap()
    };
    &text[next(from)..next(to)]
}

fn write(engine: &Engine, id: Uuid, kind: WriteKind, docs: &[(&str, Option<&str>)]) {
    let batch = RecordBatch {
        ids: docs.iter().map(|(id, _)| id.to_string()).collect(),
        embeddings: Some(docs.iter().map(|_| Some(vec![0.5, 1.0])).collect()),
        documents: Some(docs.iter().map(|(_, d)| d.map(String::from)).collect()),
        uris: None,
        metadatas: None,
    };
    engine.write_records(T, D, id, kind, &batch).unwrap();
}

fn get(engine: &Engine, id: Uuid, where_document: Value) -> Vec<String> {
    let request = GetRequest {
        selector: RecordSelector {
            where_document: Some(where_document),
            ..Default::default()
        },
        include: Include(vec![]),
        ..Default::default()
    };
    let result = engine.get_records(T, D, id, &request).unwrap();
    result.records.into_iter().map(|r| r.id).collect()
}

/// `$contains` / `$not_contains` of `needle` select exactly the records of
/// `docs` that hold it and the others.
fn check(engine: &Engine, id: Uuid, docs: &[(&str, Option<&str>)], needle: &str) {
    let (holding, lacking): (Vec<_>, Vec<_>) = docs
        .iter()
        .partition(|(_, d)| d.is_some_and(|d| d.contains(needle)));
    let ids = |records: Vec<&(&str, Option<&str>)>| -> Vec<String> {
        records.iter().map(|(id, _)| id.to_string()).collect()
    };
    let shown: String = needle.chars().take(30).collect();
    assert_eq!(
        get(engine, id, json!({"$contains": needle})),
        ids(holding),
        "{shown:?}"
    );
    assert_eq!(
        get(engine, id, json!({"$not_contains": needle})),
        ids(lacking),
        "{shown:?}"
    );
}

fn collection(engine: &Engine, name: &str) -> Uuid {
    let new = NewCollection {
        name: name.into(),
        ..Default::default()
    };
    engine.create_collection(T, D, new).unwrap().id
}

#[test]
fn megabyte_documents_are_found_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).unwrap();
    let id = collection(&engine, "long");
    let big = text(1, 1 << 20);
    let other = text(2, 100_000);
    let docs = [
        ("big", Some(big.as_str())),
        ("other", Some(other.as_str())),
        ("short", Some("a short one")),
        ("none", None),
    ];
    write(&engine, id, WriteKind::Add, &docs);

    // Across a stretch of four chunks and more, every 307 bytes, of lengths
    // within and past the chunks' overlap (256 bytes); and at both ends.
    for at in (500_000..530_000).step_by(307) {
        for len in [3, 250, 260, 600] {
            check(&engine, id, &docs, cut(&big, at, at + len));
        }
    }
    for len in [3, 256, 257, 5_000] {
        check(&engine, id, &docs, cut(&big, 0, len));
        check(&engine, id, &docs, cut(&big, big.len() - len, big.len()));
    }
    check(
        &engine,
        id,
        &docs,
        &format!("{}!", cut(&big, 10_000, 11_000)),
    );
    let literal = regex::escape(cut(&big, 8_000, 9_000));
    assert_eq!(
        get(&engine, id, json!({"$regex": format!("{literal}.")})),
        ["big"]
    );
    assert_eq!(
        get(&engine, id, json!({"$not_regex": literal})),
        ["other", "short", "none"]
    );

    // Long to short and back, then a delete by document.
    let needle = cut(&big, 700_000, 700_040).to_string();
    write(
        &engine,
        id,
        WriteKind::Update,
        &[("big", Some("short now"))],
    );
    assert!(get(&engine, id, json!({"$contains": needle})).is_empty());
    assert_eq!(get(&engine, id, json!({"$contains": "short now"})), ["big"]);
    write(&engine, id, WriteKind::Upsert, &[("big", Some(&big))]);
    assert_eq!(get(&engine, id, json!({"$contains": needle})), ["big"]);
    assert!(get(&engine, id, json!({"$contains": "short now"})).is_empty());
    let delete = DeleteRequest {
        selector: RecordSelector {
            where_document: Some(json!({"$contains": needle})),
            ..Default::default()
        },
        limit: None,
    };
    assert_eq!(engine.delete_records(T, D, id, &delete).unwrap(), 1);
    assert!(get(&engine, id, json!({"$contains": needle})).is_empty());
    assert_eq!(
        get(&engine, id, json!({"$not_contains": needle})),
        ["other", "short", "none"]
    );
}

/// The document index as Prism wrote it up to schema version 2: one row per
/// document under the record's row id, kept by triggers on `records`, and
/// no record counts (version 5 keeps them).
const ONE_ROW_PER_DOCUMENT: &str = r#"
    DROP TRIGGER records_count_insert;
    DROP TRIGGER records_count_delete;
    ALTER TABLE collections DROP COLUMN record_count;
    DROP TRIGGER records_fts_insert;
    DROP TRIGGER records_fts_delete;
    DROP TRIGGER records_fts_update;
    DROP TABLE records_fts;
    CREATE VIRTUAL TABLE records_fts USING fts5(
        document, content = 'records', content_rowid = 'pk',
        tokenize = 'trigram case_sensitive 1'
    );
    CREATE TRIGGER records_fts_insert AFTER INSERT ON records WHEN new.document IS NOT NULL BEGIN
        INSERT INTO records_fts (rowid, document) VALUES (new.pk, new.document);
    END;
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records WHEN old.document IS NOT NULL BEGIN
        INSERT INTO records_fts (records_fts, rowid, document) VALUES ('delete', old.pk, old.document);
    END;
    CREATE TRIGGER records_fts_update AFTER UPDATE OF document ON records BEGIN
        INSERT INTO records_fts (records_fts, rowid, document)
            SELECT 'delete', old.pk, old.document WHERE old.document IS NOT NULL;
        INSERT INTO records_fts (rowid, document)
            SELECT new.pk, new.document WHERE new.document IS NOT NULL;
    END;
    INSERT INTO records_fts (records_fts) VALUES ('rebuild');
    PRAGMA user_version = 2;
"#;

#[test]
fn a_data_directory_indexed_one_row_per_document_is_indexed_again() {
    let dir = tempfile::tempdir().unwrap();
    let long = text(3, 60_000);
    let docs = [
        ("long", Some(long.as_str())),
        ("short", Some("a short one")),
        ("none", None),
    ];
    let id = {
        let engine = Engine::open(options(dir.path())).unwrap();
        let id = collection(&engine, "old");
        write(&engine, id, WriteKind::Add, &docs);
        engine.flush().unwrap();
        id
    };
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(ONE_ROW_PER_DOCUMENT).unwrap();
        // The long document is one row: a needle spanning its first 4 KiB
        // matches that row.
        let needle = cut(&long, 4_000, 4_200).replace('"', "\"\"");
        let rows: Vec<i64> = conn
            .prepare("SELECT rowid FROM records_fts WHERE records_fts MATCH ?1")
            .unwrap()
            .query_map([format!("\"{needle}\"")], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows, [1]);
    }

    let engine = Engine::open(options(dir.path())).unwrap();
    for at in (0..long.len()).step_by(499) {
        for len in [20, 300] {
            check(&engine, id, &docs, cut(&long, at, at + len));
        }
    }
    check(&engine, id, &docs, "short one");
    check(&engine, id, &docs, "short two");
    // The new triggers keep the index from here on.
    write(
        &engine,
        id,
        WriteKind::Upsert,
        &[("short", Some("changed"))],
    );
    assert_eq!(get(&engine, id, json!({"$contains": "changed"})), ["short"]);
    assert!(get(&engine, id, json!({"$contains": "short one"})).is_empty());
}

#[test]
fn records_written_after_a_reset_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).unwrap();
    let id = collection(&engine, "before");
    write(&engine, id, WriteKind::Add, &[("a", Some("some text"))]);
    engine.reset().unwrap();
    let id = collection(&engine, "after");
    let long = text(4, 50_000);
    write(
        &engine,
        id,
        WriteKind::Add,
        &[("a", Some(&long)), ("b", Some("other text"))],
    );
    let delete = DeleteRequest {
        selector: RecordSelector {
            ids: Some(vec!["a".into()]),
            ..Default::default()
        },
        limit: None,
    };
    assert_eq!(engine.delete_records(T, D, id, &delete).unwrap(), 1);
    assert_eq!(get(&engine, id, json!({"$contains": "text"})), ["b"]);
    assert!(get(&engine, id, json!({"$contains": cut(&long, 100, 120)})).is_empty());
}
