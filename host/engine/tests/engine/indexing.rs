//! The vector index from the first write on (issue 18): vectors are found the
//! moment their add returns, while the background indexer is still adding
//! them to the graph, after a restart in the middle of it, and adds wait for
//! the indexer (rather than fail) when too many vectors wait for it.

use std::path::Path;

use prism_engine::index::IndexTuning;
use prism_engine::types::{Include, RecordBatch, WriteKind};
use prism_engine::{Engine, EngineOptions, QueryRequest, RecordSelector};
use serde_json::json;
use uuid::Uuid;

use crate::support::{D, T, collection, eventually, map, options};

const DIM: usize = 8;

/// A graph from 64 vectors on, grown 8 vectors a step, so that a tail
/// outside the graph lasts long enough to be queried.
fn slow_indexing(dir: &Path, max_unindexed: usize) -> EngineOptions {
    EngineOptions {
        tuning: IndexTuning {
            graph_min_points: 64,
            max_unindexed,
            index_chunk: 8,
        },
        ..options(dir)
    }
}

fn vector(i: usize) -> Vec<f32> {
    let mut seed = i as u64 * 0x9e37_79b9_7f4a_7c15 + 1;
    (0..DIM)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}

/// Add vectors `range` as records `v<i>` with metadata `{"parity": i % 2}`.
fn add_range(engine: &Engine, id: Uuid, range: std::ops::Range<usize>) {
    let batch = RecordBatch {
        ids: range.clone().map(|i| format!("v{i}")).collect(),
        embeddings: Some(range.clone().map(|i| Some(vector(i))).collect()),
        documents: None,
        uris: None,
        metadatas: Some(
            range
                .map(|i| Some(map(json!({"parity": (i % 2) as i64}))))
                .collect(),
        ),
    };
    engine
        .write_records(T, D, id, WriteKind::Add, &batch)
        .unwrap();
}

fn nearest(engine: &Engine, id: Uuid, i: usize, n: u32, selector: RecordSelector) -> Vec<String> {
    let request = QueryRequest {
        embeddings: vec![vector(i)],
        n_results: n,
        include: Include(vec![]),
        selector,
    };
    let result = engine.query(T, D, id, &request).unwrap();
    result.hits[0].iter().map(|(r, _)| r.id.clone()).collect()
}

/// Vector `i` is found by a plain query, a `where` query and an `ids` query.
fn assert_found(engine: &Engine, id: Uuid, i: usize) {
    let me = format!("v{i}");
    assert_eq!(
        nearest(engine, id, i, 1, RecordSelector::default()),
        [me.as_str()]
    );
    let same_parity = RecordSelector {
        where_clause: Some(json!({"parity": (i % 2) as i64})),
        ..Default::default()
    };
    let hits = nearest(engine, id, i, 5, same_parity);
    assert_eq!(hits[0], me);
    let parity = |name: &str| name[1..].parse::<usize>().unwrap() % 2;
    assert!(hits.iter().all(|h| parity(h) == i % 2), "{hits:?}");
    let other = if i == 0 { "v1" } else { "v0" };
    let named = RecordSelector {
        ids: Some(vec![me.clone(), other.into()]),
        ..Default::default()
    };
    let hits = nearest(engine, id, i, 5, named);
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0], me);
}

fn progress(engine: &Engine, id: Uuid) -> (u64, u64) {
    engine.indexing_progress(T, D, id).unwrap()
}

#[test]
fn vectors_are_found_the_moment_their_add_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(slow_indexing(dir.path(), usize::MAX)).unwrap();
    let id = collection(&engine, "fresh");
    for start in (0..1200).step_by(60) {
        add_range(&engine, id, start..start + 60);
        assert_found(&engine, id, start + 59);
        assert_found(&engine, id, start + 30);
        assert_eq!(progress(&engine, id).1, start as u64 + 60);
    }
    eventually("the graph", || {
        let (indexed, total) = progress(&engine, id);
        indexed == total
    });
    for i in (0..1200).step_by(97) {
        assert_found(&engine, id, i);
    }
}

#[test]
fn progress_moves_forward_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(slow_indexing(dir.path(), usize::MAX)).unwrap();
    let id = collection(&engine, "progress");
    add_range(&engine, id, 0..30);
    assert_eq!(progress(&engine, id), (30, 30), "few vectors need no graph");
    add_range(&engine, id, 30..1500);
    let mut last = 0;
    eventually("the graph", || {
        let (indexed, total) = progress(&engine, id);
        assert_eq!(total, 1500);
        assert!(indexed >= last, "{indexed} after {last}");
        last = indexed;
        indexed == total
    });
}

#[test]
fn adds_wait_for_the_indexer_rather_than_fail() {
    let dir = tempfile::tempdir().unwrap();
    let max = 50;
    let engine = Engine::open(slow_indexing(dir.path(), max)).unwrap();
    let id = collection(&engine, "bounded");
    // Below the graph threshold first: the index is loaded by this write,
    // and the graph grown from the next.
    add_range(&engine, id, 0..40);
    for start in (40..1640).step_by(80) {
        add_range(&engine, id, start..start + 80);
        let (indexed, total) = progress(&engine, id);
        assert_eq!(total, start as u64 + 80);
        assert!(
            total - indexed <= max as u64,
            "{} vectors outside the graph after an add",
            total - indexed
        );
        assert_found(&engine, id, start + 79);
    }
}

#[test]
fn a_restart_in_the_middle_of_indexing_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(slow_indexing(dir.path(), usize::MAX)).unwrap();
    let id = collection(&engine, "restarted");
    for start in (0..1000).step_by(100) {
        add_range(&engine, id, start..start + 100);
    }
    // A graph saved part-way, then more vectors, then no flush.
    engine.save_indexes().unwrap();
    add_range(&engine, id, 1000..1300);
    drop(engine);

    let engine = Engine::open(slow_indexing(dir.path(), usize::MAX)).unwrap();
    for i in (0..1300).step_by(61) {
        assert_found(&engine, id, i);
    }
    add_range(&engine, id, 1300..1400);
    assert_found(&engine, id, 1399);
    eventually("the graph", || {
        let (indexed, total) = progress(&engine, id);
        assert_eq!(total, 1400);
        indexed == total
    });
    for i in (0..1400).step_by(53) {
        assert_found(&engine, id, i);
    }
}
