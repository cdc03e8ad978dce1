//! Nearest-neighbour queries, and the bounds on what one may return.

use prism_engine::types::{Include, WriteKind};
use prism_engine::{Engine, EngineError, QueryRequest, RecordSelector};

use crate::support::{D, T, add, batch, collection, engine, hit_ids, options};

fn query(embeddings: &[&[f32]], n_results: u32) -> QueryRequest {
    QueryRequest {
        embeddings: embeddings.iter().map(|e| e.to_vec()).collect(),
        n_results,
        include: Include(vec![]),
        ..Default::default()
    }
}

#[test]
fn hits_come_nearest_first_with_their_distances() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "line");
    add(
        &engine,
        id,
        &batch(
            &["far", "near", "mid"],
            &[&[3.0, 0.0], &[1.0, 0.0], &[2.0, 0.0]],
            None,
            None,
        ),
    );
    let result = engine
        .query(T, D, id, &query(&[&[0.0, 0.0], &[3.0, 0.1]], 2))
        .unwrap();
    assert_eq!(hit_ids(&result), [["near", "mid"], ["far", "mid"]]);
    // Chroma's l2 is the squared distance.
    let distances: Vec<f32> = result.hits[0].iter().map(|(_, d)| *d).collect();
    assert_eq!(distances, [1.0, 4.0]);

    let none = engine.query(T, D, id, &query(&[&[0.0, 0.0]], 0)).unwrap();
    assert_eq!(none.hits, vec![vec![]]);
}

#[test]
fn n_results_of_u32_max_answers_every_record() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "pair");
    add(
        &engine,
        id,
        &batch(&["a", "b"], &[&[0.0, 0.0], &[1.0, 1.0]], None, None),
    );
    let result = engine
        .query(T, D, id, &query(&[&[0.0, 0.1]], u32::MAX))
        .unwrap();
    assert_eq!(hit_ids(&result), [["a", "b"]]);
}

#[test]
fn a_query_answering_more_than_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(prism_engine::EngineOptions {
        max_query_results: 3,
        ..options(dir.path())
    })
    .unwrap();
    let id = collection(&engine, "bounded");
    add(
        &engine,
        id,
        &batch(&["a", "b"], &[&[0.0, 0.0], &[1.0, 1.0]], None, None),
    );
    // n_results is clamped to the vectors searched before the limit applies.
    let one = engine
        .query(T, D, id, &query(&[&[0.0, 0.0]], u32::MAX))
        .unwrap();
    assert_eq!(hit_ids(&one), [["a", "b"]]);

    let err = engine
        .query(T, D, id, &query(&[&[0.0, 0.0], &[1.0, 1.0]], u32::MAX))
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Query would return 4 results (2 query embeddings x 2); the limit is 3 per request. Ask for fewer n_results or send fewer query embeddings per request."
    );
}

#[test]
fn queries_are_checked_before_they_run() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "checked");
    // An empty collection answers empty lists, whatever the dimension.
    let empty = engine
        .query(T, D, id, &query(&[&[0.0, 0.0, 0.0]], 5))
        .unwrap();
    assert_eq!(empty.hits, vec![vec![]]);
    add(&engine, id, &batch(&["a"], &[&[0.0, 0.0]], None, None));

    let wrong_dimension = engine
        .query(T, D, id, &query(&[&[0.0, 0.0, 0.0]], 5))
        .unwrap_err();
    assert_eq!(
        wrong_dimension.to_string(),
        "Collection expecting embedding with dimension of 2, got 3"
    );
    let mixed = engine
        .query(T, D, id, &query(&[&[0.0, 0.0], &[0.0]], 5))
        .unwrap_err();
    assert_eq!(
        mixed.to_string(),
        "Inconsistent dimensions in provided embeddings"
    );
    let unknown = QueryRequest {
        selector: RecordSelector {
            ids: Some(vec!["a".into(), "nope".into()]),
            ..Default::default()
        },
        ..query(&[&[0.0, 0.0]], 5)
    };
    let err = engine.query(T, D, id, &unknown).unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Error finding id: ids not found in collection: nope"
    );
}

/// Found by the `requests` fuzz target (fuzz/regressions/requests/): a
/// record written twice in one batch, once the collection's index is
/// loaded, left its first vector searchable though SQLite no longer held
/// it, so a query could spend a result on that vector and answer nothing.
#[test]
fn a_record_written_twice_in_one_batch_keeps_one_vector() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "twice");
    add(&engine, id, &batch(&["a"], &[&[0.0, 0.0]], None, None));
    // Loads the index, so later writes are applied to it.
    engine.query(T, D, id, &query(&[&[0.0, 0.0]], 1)).unwrap();
    for kind in [WriteKind::Upsert, WriteKind::Update] {
        let twice = batch(&["b", "b"], &[&[5.0, 5.0], &[9.0, 9.0]], None, None);
        engine.write_records(T, D, id, kind, &twice).unwrap();
        let near_first = engine.query(T, D, id, &query(&[&[5.0, 5.0]], 1)).unwrap();
        assert_eq!(hit_ids(&near_first), [["b"]], "{kind:?}");
        let distances: Vec<f32> = near_first.hits[0].iter().map(|(_, d)| *d).collect();
        assert_eq!(distances, [32.0], "{kind:?}: the second vector, [9, 9]");
        let every = engine.query(T, D, id, &query(&[&[0.0, 0.0]], 10)).unwrap();
        assert_eq!(hit_ids(&every), [["a", "b"]], "{kind:?}");
    }
}

/// Found by the `requests` fuzz target: a record written twice in the
/// collection's first write (its index loaded from that commit, then given
/// the commit's changes) was left out of searches restricted to it.
#[test]
fn a_record_written_twice_in_the_first_write_is_found_by_id() {
    // An add keeps the first vector (it skips an id it has), an upsert the
    // second.
    for (kind, distance) in [(WriteKind::Add, 50.5), (WriteKind::Upsert, 98.5)] {
        let (_dir, engine) = engine();
        let id = collection(&engine, "twice");
        let twice = batch(&["b", "b"], &[&[5.0, 6.0], &[7.0, 8.0]], None, None);
        engine.write_records(T, D, id, kind, &twice).unwrap();
        let mut restricted = query(&[&[0.5, 0.5]], 10);
        restricted.selector.ids = Some(vec!["b".into(), "b".into()]);
        let hits = engine.query(T, D, id, &restricted).unwrap();
        assert_eq!(hit_ids(&hits), [["b"]], "{kind:?}");
        let distances: Vec<f32> = hits.hits[0].iter().map(|(_, d)| *d).collect();
        assert_eq!(distances, [distance], "{kind:?}");
    }
}
