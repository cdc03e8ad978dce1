//! What survives a restart (opening the same data directory again), and
//! the saving of HNSW graphs that makes a restart fast.

use std::path::Path;
use std::time::Duration;

use prism_engine::index::IndexTuning;
use prism_engine::types::Include;
use prism_engine::{Engine, EngineOptions, QueryRequest};
use uuid::Uuid;

use crate::support::{D, T, add, all_ids, batch, collection, eventually, hit_ids, options, spiral};

/// Past this many vectors a collection gets a graph (4,096 by default).
const GRAPH_MIN: usize = 32;

fn graph_options(dir: &Path) -> EngineOptions {
    EngineOptions {
        tuning: IndexTuning {
            graph_min_points: GRAPH_MIN,
            ..IndexTuning::default()
        },
        ..options(dir)
    }
}

fn graph_file(dir: &Path, id: Uuid) -> std::path::PathBuf {
    dir.join("index")
        .join(id.to_string())
        .join("graph")
        .join("graph.json")
}

/// A collection of `n` spiral points named `p0`, `p1`, ...
fn fill(engine: &Engine, n: usize) -> Uuid {
    let id = collection(engine, "spiral");
    let points = spiral(n);
    let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let vectors: Vec<&[f32]> = points.iter().map(|p| &p[..]).collect();
    add(engine, id, &batch(&names, &vectors, None, None));
    id
}

/// The nearest three points to a few of the spiral's own points.
fn nearest(engine: &Engine, id: Uuid) -> Vec<Vec<String>> {
    let points = spiral(64);
    let request = QueryRequest {
        embeddings: [3, 17, 40, 63]
            .iter()
            .map(|&i| points[i].to_vec())
            .collect(),
        n_results: 3,
        include: Include(vec![]),
        ..Default::default()
    };
    let result = engine.query(T, D, id, &request).unwrap();
    hit_ids(&result)
        .into_iter()
        .map(|hits| hits.into_iter().map(String::from).collect())
        .collect()
}

fn graph_ready(engine: &Engine, id: Uuid) -> bool {
    let (indexed, total) = engine.indexing_progress(T, D, id).unwrap();
    indexed == total
}

#[test]
fn records_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).unwrap();
    let id = fill(&engine, 10);
    let before = nearest(&engine, id);
    // No flush: what was acknowledged is durable.
    drop(engine);

    let engine = Engine::open(options(dir.path())).unwrap();
    assert_eq!(engine.count_records(T, D, id).unwrap(), 10);
    assert_eq!(all_ids(&engine, id).len(), 10);
    assert_eq!(nearest(&engine, id), before);
    let collection = engine
        .get_collection(T, D, prism_engine::CollectionKey::Id(id))
        .unwrap();
    assert_eq!(collection.dimension, Some(2));
}

#[test]
fn graphs_are_saved_on_flush_and_loaded_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(graph_options(dir.path())).unwrap();
    let id = fill(&engine, 64);
    eventually("the graph", || graph_ready(&engine, id));
    let before = nearest(&engine, id);
    assert_eq!(before[0][0], "p3");
    assert!(!graph_file(dir.path(), id).exists());
    engine.flush().unwrap();
    assert!(graph_file(dir.path(), id).exists());
    // Nothing changed since, so nothing more to save.
    assert_eq!(engine.save_indexes().unwrap(), 0);
    drop(engine);

    let engine = Engine::open(graph_options(dir.path())).unwrap();
    assert_eq!(nearest(&engine, id), before);
    eventually("the saved graph", || graph_ready(&engine, id));
    assert_eq!(nearest(&engine, id), before);

    // A deleted collection's saved graph goes with it.
    engine.delete_collection(T, D, "spiral").unwrap();
    assert!(!graph_file(dir.path(), id).exists());
}

#[test]
fn the_periodic_saver_saves_changed_graphs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineOptions {
        save_interval: Some(Duration::from_millis(20)),
        ..graph_options(dir.path())
    })
    .unwrap();
    let id = fill(&engine, 64);
    eventually("the graph", || graph_ready(&engine, id));
    eventually("the periodic save", || graph_file(dir.path(), id).exists());
    // The saver is stopped by flush; the engine stays usable.
    engine.flush().unwrap();
    assert_eq!(nearest(&engine, id)[0][0], "p3");
}

/// After a restart a collection's index holds every stored vector, whether
/// its records lie together in the table (read in key ranges, by two
/// connections past 40,000 records) or interleaved with another
/// collection's (looked up through the index).
#[test]
fn a_restart_loads_every_vector_of_contiguous_and_interleaved_collections() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(options(dir.path())).unwrap();
    let big = collection(&engine, "contiguous");
    let small = collection(&engine, "interleaved");
    let point = |i: usize| [i as f32, (i % 7) as f32];
    let mut written = [0usize; 2];
    for round in 0..45 {
        for (which, id, n) in [(0, big, 1000), (1, small, 10)] {
            let first = written[which];
            let names: Vec<String> = (first..first + n).map(|i| format!("r{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let points: Vec<[f32; 2]> = (first..first + n).map(point).collect();
            let vectors: Vec<&[f32]> = points.iter().map(|p| &p[..]).collect();
            add(&engine, id, &batch(&names, &vectors, None, None));
            written[which] += n;
        }
        assert_eq!(written, [1000 * (round + 1), 10 * (round + 1)]);
    }
    drop(engine);

    let engine = Engine::open(options(dir.path())).unwrap();
    for (id, n) in [(big, written[0]), (small, written[1])] {
        let far = point(n * 2);
        let request = QueryRequest {
            embeddings: vec![far.to_vec(), point(n / 3).to_vec()],
            n_results: n as u32,
            include: Include(vec![]),
            ..Default::default()
        };
        let result = engine.query(T, D, id, &request).unwrap();
        let hits = hit_ids(&result);
        assert_eq!(hits[0].len(), n, "every vector is loaded");
        assert_eq!(hits[0][0], format!("r{}", n - 1));
        assert_eq!(hits[1][0], format!("r{}", n / 3));
    }
}
