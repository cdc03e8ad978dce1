//! An engine over a temporary directory, and short ways to fill and read it.

use std::path::Path;
use std::time::{Duration, Instant};

use prism_engine::types::{GetResult, Include, IncludeField, QueryResult, RecordBatch, WriteKind};
use prism_engine::{
    DEFAULT_DATABASE, DEFAULT_TENANT, Engine, EngineOptions, GetRequest, NewCollection,
};
use serde_json::{Map, Value};
use tempfile::TempDir;
use uuid::Uuid;

pub const T: &str = DEFAULT_TENANT;
pub const D: &str = DEFAULT_DATABASE;

/// Options for `dir` without the periodic saver, so tests that do not test
/// it never race with it.
pub fn options(dir: &Path) -> EngineOptions {
    EngineOptions {
        save_interval: None,
        ..EngineOptions::new(dir)
    }
}

/// A fresh engine and the directory it lives in (removed when dropped).
pub fn engine() -> (TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).unwrap();
    (dir, engine)
}

/// Create a collection in the default database; its id.
pub fn collection(engine: &Engine, name: &str) -> Uuid {
    let new = NewCollection {
        name: name.into(),
        ..Default::default()
    };
    engine.create_collection(T, D, new).unwrap().id
}

/// A JSON object as a metadata map.
pub fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A batch of records with embeddings and, when given, documents and metadata.
pub fn batch(
    ids: &[&str],
    vectors: &[&[f32]],
    documents: Option<&[&str]>,
    metadatas: Option<Vec<Value>>,
) -> RecordBatch {
    RecordBatch {
        ids: ids.iter().map(|s| s.to_string()).collect(),
        embeddings: Some(vectors.iter().map(|v| Some(v.to_vec())).collect()),
        documents: documents.map(|d| d.iter().map(|s| Some(s.to_string())).collect()),
        uris: None,
        metadatas: metadatas.map(|m| m.into_iter().map(|v| Some(map(v))).collect()),
    }
}

/// Add `batch` to collection `id`.
pub fn add(engine: &Engine, id: Uuid, batch: &RecordBatch) {
    engine
        .write_records(T, D, id, WriteKind::Add, batch)
        .unwrap();
}

/// Every field a get or query can return.
pub fn everything() -> Include {
    Include(vec![
        IncludeField::Documents,
        IncludeField::Embeddings,
        IncludeField::Metadatas,
        IncludeField::Distances,
        IncludeField::Uris,
    ])
}

/// The ids of a get's records, in order.
pub fn ids(result: &GetResult) -> Vec<&str> {
    result.records.iter().map(|r| r.id.as_str()).collect()
}

/// The ids of every record of collection `id`, in storage order.
pub fn all_ids(engine: &Engine, id: Uuid) -> Vec<String> {
    let result = engine
        .get_records(T, D, id, &GetRequest::default())
        .unwrap();
    ids(&result).into_iter().map(String::from).collect()
}

/// The ids of a query's hits, per query embedding.
pub fn hit_ids(result: &QueryResult) -> Vec<Vec<&str>> {
    result
        .hits
        .iter()
        .map(|hits| hits.iter().map(|(r, _)| r.id.as_str()).collect())
        .collect()
}

/// Wait (up to a minute) until `done` holds.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` points on a 2-D spiral, far enough apart that nearest neighbours are
/// unambiguous.
pub fn spiral(n: usize) -> Vec<[f32; 2]> {
    (0..n)
        .map(|i| {
            let r = 1.0 + i as f32;
            let a = i as f32 * 0.7;
            [r * a.cos(), r * a.sin()]
        })
        .collect()
}
