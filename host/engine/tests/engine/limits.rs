//! The bounds on one write: over-limit requests are refused whole and at
//! once, at-limit ones are written, and the largest allowed write does not
//! hold the writer for long.

use std::time::{Duration, Instant};

use prism_engine::types::{RecordBatch, WriteKind};
use prism_engine::validate::limits::WriteLimits;
use prism_engine::{Engine, EngineError, GetRequest, RecordSelector};
use serde_json::{Value, json};

use crate::support::{D, T, batch, collection, engine, everything, options};

/// Generous: these are behavioural checks on a loaded machine, not benchmarks.
const PROMPT: Duration = Duration::from_secs(10);

fn engine_with(limits: WriteLimits) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(prism_engine::EngineOptions {
        write_limits: limits,
        ..options(dir.path())
    })
    .unwrap();
    (dir, engine)
}

fn tight() -> WriteLimits {
    WriteLimits {
        max_batch_size: 4,
        max_document_bytes: 16,
        max_metadata_keys: 3,
        max_metadata_array_length: 5,
        max_batch_metadata_values: 12,
    }
}

/// `n` records with distinct one-dimensional embeddings.
fn records(n: usize) -> RecordBatch {
    let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    RecordBatch {
        ids,
        embeddings: Some((0..n).map(|i| Some(vec![i as f32])).collect()),
        ..Default::default()
    }
}

fn with_documents(mut b: RecordBatch, docs: &[&str]) -> RecordBatch {
    b.documents = Some(docs.iter().map(|d| Some(d.to_string())).collect());
    b
}

fn with_metadatas(mut b: RecordBatch, metas: Vec<Value>) -> RecordBatch {
    b.metadatas = Some(metas.into_iter().map(|m| m.as_object().cloned()).collect());
    b
}

/// The refusal of `write`, which must name `variable`.
fn refused(engine: &Engine, id: uuid::Uuid, kind: WriteKind, b: &RecordBatch, variable: &str) {
    match engine.write_records(T, D, id, kind, b) {
        Err(EngineError::InvalidArgument(m)) => {
            assert!(m.contains(variable), "{variable} not named in: {m}")
        }
        other => panic!("expected a refusal naming {variable}, got {other:?}"),
    }
}

/// Text with as many distinct trigrams as printable ASCII has: the content
/// that costs the trigram index most (base64, random tokens).
fn varied_text(bytes: usize) -> String {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (b'!' + (state % 94) as u8) as char
        })
        .collect()
}

#[test]
fn each_bound_refuses_the_whole_request_and_admits_its_limit() {
    let (_dir, engine) = engine_with(tight());
    let id = collection(&engine, "bounded");
    let add = WriteKind::Add;

    refused(&engine, id, add, &records(5), "PRISM_MAX_BATCH_SIZE");
    // The first record is fine; the second's document is one byte over.
    let docs = with_documents(records(2), &["ok", "seventeen bytes.."]);
    refused(&engine, id, add, &docs, "PRISM_MAX_DOCUMENT_BYTES");
    let keys = with_metadatas(
        records(2),
        vec![json!({"a": 1}), json!({"a": 1, "b": 2, "c": 3, "d": 4})],
    );
    refused(&engine, id, add, &keys, "PRISM_MAX_METADATA_KEYS");
    let array = with_metadatas(records(1), vec![json!({"tags": [1, 2, 3, 4, 5, 6]})]);
    refused(&engine, id, add, &array, "PRISM_MAX_METADATA_ARRAY_LENGTH");
    let total = with_metadatas(records(3), vec![json!({"t": [1, 2, 3, 4, 5]}); 3]);
    refused(&engine, id, add, &total, "PRISM_MAX_BATCH_METADATA_VALUES");
    assert_eq!(
        engine.count_records(T, D, id).unwrap(),
        0,
        "a refusal wrote something"
    );

    let at_limit = with_metadatas(
        with_documents(records(4), &["sixteen bytes..."; 4]),
        vec![
            json!({"t": [1, 2, 3, 4, 5], "k": "v", "n": 2}),
            json!({"t": [6, 7, 8, 9, 10]}),
            Value::Null,
            Value::Null,
        ],
    );
    engine.write_records(T, D, id, add, &at_limit).unwrap();
    assert_eq!(engine.count_records(T, D, id).unwrap(), 4);
}

#[test]
fn updates_and_upserts_are_bounded_too() {
    let (_dir, engine) = engine_with(tight());
    let id = collection(&engine, "bounded");
    let stored = with_documents(records(1), &["kept"]);
    engine
        .write_records(T, D, id, WriteKind::Add, &stored)
        .unwrap();

    let mut update = with_documents(records(1), &["far more than sixteen bytes"]);
    update.embeddings = None;
    refused(
        &engine,
        id,
        WriteKind::Update,
        &update,
        "PRISM_MAX_DOCUMENT_BYTES",
    );
    let upsert = with_metadatas(records(1), vec![json!({"t": vec![0; 6]})]);
    refused(
        &engine,
        id,
        WriteKind::Upsert,
        &upsert,
        "PRISM_MAX_METADATA_ARRAY_LENGTH",
    );

    let request = GetRequest {
        include: everything(),
        ..Default::default()
    };
    let got = engine.get_records(T, D, id, &request).unwrap();
    assert_eq!(got.records[0].document.as_deref(), Some("kept"));
    assert_eq!(got.records[0].metadata, None);
}

#[test]
fn the_probes_requests_are_refused_at_once_by_default() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "probe");
    let add = WriteKind::Add;

    let huge_document = "x".repeat(30 * 1024 * 1024);
    let started = Instant::now();
    refused(
        &engine,
        id,
        add,
        &batch(&["doc"], &[&[1.0]], Some(&[huge_document.as_str()]), None),
        "PRISM_MAX_DOCUMENT_BYTES",
    );
    let huge_array = vec![json!({"ints": (0..100_000).collect::<Vec<i64>>()})];
    refused(
        &engine,
        id,
        add,
        &batch(&["arr"], &[&[1.0]], None, Some(huge_array)),
        "PRISM_MAX_METADATA_ARRAY_LENGTH",
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusals took {:?}",
        started.elapsed()
    );
    assert_eq!(engine.count_records(T, D, id).unwrap(), 0);
}

#[test]
fn the_largest_allowed_write_is_quick_and_searchable() {
    let (_dir, engine) = engine();
    let limits = WriteLimits::default();
    let id = collection(&engine, "largest");
    let other = collection(&engine, "other");
    let document = varied_text(limits.max_document_bytes);
    let array: Vec<usize> = (0..limits.max_metadata_array_length).collect();
    let big = batch(
        &["doc", "arr"],
        &[&[1.0], &[2.0]],
        Some(&[document.as_str(), "small"]),
        Some(vec![json!({}), json!({ "ints": array })]),
    );

    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let started = Instant::now();
            engine
                .write_records(T, D, id, WriteKind::Add, &big)
                .unwrap();
            started.elapsed()
        });
        // A one-record write to another collection waits at most for the
        // big write, whichever of the two takes the writer first.
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        engine
            .write_records(
                T,
                D,
                other,
                WriteKind::Add,
                &batch(&["one"], &[&[0.0]], None, None),
            )
            .unwrap();
        let waited = started.elapsed();
        let took = writer.join().unwrap();
        assert!(took < PROMPT, "the largest allowed write took {took:?}");
        assert!(waited < PROMPT, "a one-record write waited {waited:?}");
    });

    // Still found by a substring from its middle.
    let needle = &document[70_000..70_040];
    let request = GetRequest {
        selector: RecordSelector {
            where_document: Some(json!({"$contains": needle})),
            ..Default::default()
        },
        ..Default::default()
    };
    let got = engine.get_records(T, D, id, &request).unwrap();
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records[0].id, "doc");
}
