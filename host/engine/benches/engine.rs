//! Where the server's time goes, without HTTP: vector search (graph and
//! exact), filter evaluation in SQLite, and a whole engine query with and
//! without a filter. Workload as bench/compare.py's: clustered float32
//! vectors, dim 384, metadata {"cat": i % 10, "n": i}, a short document.
//!
//! `cargo bench -p prism-engine` (PRISM_BENCH_N sets the collection size,
//! default 20,000).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use prism_engine::distance::Space;
use prism_engine::index::{IndexParams, IndexTuning, NewVector, VectorIndex};
use prism_engine::types::{Include, IncludeField, RecordBatch, WriteKind};
use prism_engine::{
    Engine, EngineOptions, GetRequest, NewCollection, QueryRequest, RecordSelector,
};
use serde_json::{Value, json};

mod support;

use support::DIM;

struct Data {
    vectors: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

fn data(n: usize) -> Data {
    let (vectors, queries) = support::clustered(n, 64);
    Data { vectors, queries }
}

fn size() -> usize {
    std::env::var("PRISM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn params() -> IndexParams {
    IndexParams {
        space: Space::L2,
        ef_construction: 100,
        ef_search: 100,
        max_neighbors: 16,
    }
}

fn index_search(c: &mut Criterion) {
    let d = data(size());
    let items: Vec<NewVector<'_>> = d
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (i as u32, i as i64, v.as_slice()))
        .collect();
    let mut graph = VectorIndex::new(params(), IndexTuning::default(), DIM);
    graph.insert(&items);
    graph.build_graph_now();
    let exact_only = IndexTuning {
        graph_min_points: usize::MAX,
        ..IndexTuning::default()
    };
    let mut exact = VectorIndex::new(params(), exact_only, DIM);
    exact.insert(&items);
    // A filter selecting a tenth of the records ({"cat": 3}).
    let tenth: Vec<i64> = (0..d.vectors.len() as i64)
        .filter(|i| i % 10 == 3)
        .collect();

    let mut group = c.benchmark_group(format!("index search, {} x {DIM}", d.vectors.len()));
    let mut q = d.queries.iter().cycle();
    group.bench_function("graph, k=10", |b| {
        b.iter(|| black_box(graph.search(q.next().unwrap(), 10, None)))
    });
    group.bench_function("exact, k=10", |b| {
        b.iter(|| black_box(exact.search(q.next().unwrap(), 10, None)))
    });
    group.bench_function("a tenth of the records (exact), k=10", |b| {
        b.iter(|| black_box(graph.search(q.next().unwrap(), 10, Some(&tenth))))
    });
    group.finish();
}

/// An engine over a temporary directory holding the workload, graph ready.
fn loaded_engine(d: &Data) -> (tempfile::TempDir, Engine, uuid::Uuid) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineOptions::new(dir.path())).unwrap();
    let (t, db) = (prism_engine::DEFAULT_TENANT, prism_engine::DEFAULT_DATABASE);
    let collection = engine
        .create_collection(
            t,
            db,
            NewCollection {
                name: "bench".into(),
                ..Default::default()
            },
        )
        .unwrap();
    for (start, chunk) in d.vectors.chunks(1000).enumerate() {
        let first = start * 1000;
        let batch = RecordBatch {
            ids: (first..first + chunk.len())
                .map(|i| format!("id-{i}"))
                .collect(),
            embeddings: Some(chunk.iter().map(|v| Some(v.clone())).collect()),
            documents: Some(
                (first..first + chunk.len())
                    .map(|i| Some(format!("document {i} about topic {}", i % 10)))
                    .collect(),
            ),
            uris: None,
            metadatas: Some(
                (first..first + chunk.len())
                    .map(|i| match json!({"cat": i % 10, "n": i}) {
                        Value::Object(m) => Some(m),
                        _ => unreachable!(),
                    })
                    .collect(),
            ),
        };
        engine
            .write_records(t, db, collection.id, WriteKind::Add, &batch)
            .unwrap();
    }
    // Wait for the background graph.
    let mut first = QueryRequest {
        embeddings: vec![d.queries[0].clone()],
        n_results: 1,
        ..Default::default()
    };
    first.include = Include(vec![]);
    engine.query(t, db, collection.id, &first).unwrap();
    while {
        let (indexed, total) = engine.indexing_progress(t, db, collection.id).unwrap();
        indexed < total
    } {
        std::thread::sleep(Duration::from_millis(50));
    }
    (dir, engine, collection.id)
}

fn filters_and_queries(c: &mut Criterion) {
    let d = data(size());
    let (_dir, engine, id) = loaded_engine(&d);
    let (t, db) = (prism_engine::DEFAULT_TENANT, prism_engine::DEFAULT_DATABASE);
    let ids_only = Include(vec![]);
    let get = |where_clause: Option<Value>, where_document: Option<Value>| GetRequest {
        selector: RecordSelector {
            ids: None,
            where_clause,
            where_document,
            rows: None,
        },
        limit: Some(100),
        include: ids_only.clone(),
        ..Default::default()
    };

    let mut group = c.benchmark_group(format!("filter evaluation, {} records", d.vectors.len()));
    let cases = [
        ("cat == 3", get(Some(json!({"cat": 3})), None)),
        (
            "cat in [1,3] and n >= 5000",
            get(
                Some(json!({"$and": [{"cat": {"$in": [1, 3]}}, {"n": {"$gte": 5000}}]})),
                None,
            ),
        ),
        (
            "document contains \"topic 3\"",
            get(None, Some(json!({"$contains": "topic 3"}))),
        ),
    ];
    for (name, request) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(engine.get_records(t, db, id, request).unwrap()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group(format!("engine query, {} x {DIM}", d.vectors.len()));
    let include = Include(vec![
        IncludeField::Documents,
        IncludeField::Metadatas,
        IncludeField::Distances,
    ]);
    let mut q = d.queries.iter().cycle();
    for (name, where_clause) in [("k=10", None), ("k=10, cat == 3", Some(json!({"cat": 3})))] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let request = QueryRequest {
                    embeddings: vec![q.next().unwrap().clone()],
                    n_results: 10,
                    selector: RecordSelector {
                        where_clause: where_clause.clone(),
                        ..Default::default()
                    },
                    include: include.clone(),
                };
                black_box(engine.query(t, db, id, &request).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = index_search, filters_and_queries
}
criterion_main!(benches);
