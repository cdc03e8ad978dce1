//! Writing, reading and deleting records.

use prism_engine::types::{RecordBatch, WriteKind};
use prism_engine::{DeleteRequest, EngineError, GetRequest, RecordSelector};
use serde_json::json;

use crate::support::{D, T, add, all_ids, batch, collection, engine, everything, ids, map};

#[test]
fn records_are_added_read_updated_and_upserted() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "notes");
    add(
        &engine,
        id,
        &batch(
            &["a", "b", "c"],
            &[&[1.0, 0.0], &[0.0, 1.0], &[1.0, 1.0]],
            Some(&["apple", "banana", "cherry"]),
            Some(vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]),
        ),
    );
    assert_eq!(engine.count_records(T, D, id).unwrap(), 3);
    assert_eq!(all_ids(&engine, id), ["a", "b", "c"]);

    let request = GetRequest {
        selector: RecordSelector {
            ids: Some(vec!["b".into()]),
            ..Default::default()
        },
        include: everything(),
        ..Default::default()
    };
    let got = engine.get_records(T, D, id, &request).unwrap();
    let b = &got.records[0];
    assert_eq!(got.records.len(), 1);
    assert_eq!(b.embedding.as_deref(), Some(&[0.0, 1.0][..]));
    assert_eq!(b.document.as_deref(), Some("banana"));
    assert_eq!(b.metadata, Some(map(json!({"n": 2}))));

    let page = GetRequest {
        limit: Some(1),
        offset: 1,
        ..Default::default()
    };
    assert_eq!(ids(&engine.get_records(T, D, id, &page).unwrap()), ["b"]);

    // Adding an existing id leaves the stored record alone.
    add(
        &engine,
        id,
        &batch(&["a"], &[&[5.0, 5.0]], Some(&["other"]), None),
    );
    let update = RecordBatch {
        ids: vec!["b".into(), "unknown".into()],
        documents: Some(vec![Some("blueberry".into()), Some("ignored".into())]),
        ..Default::default()
    };
    engine
        .write_records(T, D, id, WriteKind::Update, &update)
        .unwrap();
    let upsert = batch(
        &["c", "d"],
        &[&[2.0, 2.0], &[3.0, 3.0]],
        Some(&["cranberry", "date"]),
        None,
    );
    engine
        .write_records(T, D, id, WriteKind::Upsert, &upsert)
        .unwrap();

    let all = GetRequest {
        include: everything(),
        ..Default::default()
    };
    let records = engine.get_records(T, D, id, &all).unwrap().records;
    let docs: Vec<_> = records
        .iter()
        .map(|r| r.document.as_deref().unwrap())
        .collect();
    assert_eq!(docs, ["apple", "blueberry", "cranberry", "date"]);
    assert_eq!(records[0].embedding.as_deref(), Some(&[1.0, 0.0][..]));
    assert_eq!(records[2].embedding.as_deref(), Some(&[2.0, 2.0][..]));
    assert_eq!(engine.count_records(T, D, id).unwrap(), 4);
}

#[test]
fn a_rejected_batch_writes_nothing() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "strict");
    add(&engine, id, &batch(&["a"], &[&[1.0, 2.0]], None, None));
    let cases = [
        (
            batch(&["x", "y"], &[&[1.0, 2.0], &[1.0]], None, None),
            "Inconsistent dimensions in provided embeddings",
        ),
        (
            batch(&["x"], &[&[1.0, 2.0, 3.0]], None, None),
            "Collection expecting embedding with dimension of 2, got 3",
        ),
        (
            batch(&["x", ""], &[&[1.0, 2.0], &[1.0, 2.0]], None, None),
            "Empty ID, ID must have at least one character",
        ),
        (
            batch(&["x"], &[&[1.0, f32::NAN]], None, None),
            "Validation error: embeddings: Embeddings must not contain NaN or Infinity values",
        ),
        (
            batch(&["x", "y"], &[&[1.0, 2.0]], None, None),
            "Inconsistent number of IDs, embeddings, documents, URIs and metadatas",
        ),
        (
            batch(&["x"], &[&[1.0, 2.0]], None, Some(vec![json!({"$bad": 1})])),
            "Validation error: metadatas: Invalid metadata at index 0",
        ),
    ];
    for (bad, message) in cases {
        let err = engine
            .write_records(T, D, id, WriteKind::Add, &bad)
            .unwrap_err();
        assert!(matches!(err, EngineError::InvalidArgument(_)), "{err:?}");
        assert_eq!(err.to_string(), message);
    }
    let no_embeddings = RecordBatch {
        ids: vec!["x".into()],
        ..Default::default()
    };
    let err = engine
        .write_records(T, D, id, WriteKind::Upsert, &no_embeddings)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Embeddings are required for add and upsert"
    );
    assert_eq!(all_ids(&engine, id), ["a"]);
}

#[test]
fn records_are_deleted_by_id() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "doomed");
    add(
        &engine,
        id,
        &batch(&["a", "b", "c"], &[&[1.0], &[2.0], &[3.0]], None, None),
    );
    let by_ids = DeleteRequest {
        selector: RecordSelector {
            ids: Some(vec!["a".into(), "c".into(), "missing".into()]),
            ..Default::default()
        },
        limit: None,
    };
    assert_eq!(engine.delete_records(T, D, id, &by_ids).unwrap(), 2);
    assert_eq!(all_ids(&engine, id), ["b"]);

    // Nothing selected deletes nothing; Chroma's checks on empty selections.
    assert_eq!(
        engine
            .delete_records(T, D, id, &DeleteRequest::default())
            .unwrap(),
        0
    );
    let empty_ids = DeleteRequest {
        selector: RecordSelector {
            ids: Some(vec![]),
            ..Default::default()
        },
        limit: None,
    };
    assert_eq!(
        engine
            .delete_records(T, D, id, &empty_ids)
            .unwrap_err()
            .to_string(),
        "Validation error: ids, where: Either ids or where must be specified"
    );
    let limit_without_where = DeleteRequest {
        limit: Some(1),
        ..by_ids
    };
    assert_eq!(
        engine
            .delete_records(T, D, id, &limit_without_where)
            .unwrap_err()
            .to_string(),
        "Validation error: limit, where: limit can only be specified when a where clause is provided"
    );
    assert_eq!(all_ids(&engine, id), ["b"]);
}
