//! Row-level security: a caller whose authorization came with a row filter
//! sees, deletes and writes only the records matching it, as PostgreSQL's
//! `USING` / `WITH CHECK` policies do.

use prism_engine::types::{Include, RecordBatch, WriteKind};
use prism_engine::{
    DeleteRequest, Engine, EngineError, GetRequest, QueryRequest, RecordSelector, RowFilter,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{D, T, add, batch, collection, engine, hit_ids, ids};

/// What user `name` may see: the records they own.
fn owned_by(name: &str) -> RowFilter {
    RowFilter::new(&json!({"owner": name})).unwrap()
}

/// Records `a0..a4` owned by alice and `b0..b4` by bob, on a line.
fn shared(engine: &Engine) -> Uuid {
    let id = collection(engine, "shared");
    let names: Vec<String> = (0..5)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let points: Vec<[f32; 2]> = (0..10).map(|i| [i as f32, 0.0]).collect();
    let vectors: Vec<&[f32]> = points.iter().map(|p| &p[..]).collect();
    let owners = names
        .iter()
        .map(|n| json!({"owner": if n.starts_with('a') { "alice" } else { "bob" }, "n": 1}))
        .collect();
    add(engine, id, &batch(&names, &vectors, None, Some(owners)));
    id
}

fn select(rows: &RowFilter, ids: Option<&[&str]>, where_clause: Option<Value>) -> RecordSelector {
    RecordSelector {
        ids: ids.map(|ids| ids.iter().map(|s| s.to_string()).collect()),
        where_clause,
        where_document: None,
        rows: Some(rows.clone()),
    }
}

fn get(engine: &Engine, id: Uuid, selector: RecordSelector) -> Vec<String> {
    let request = GetRequest {
        selector,
        ..Default::default()
    };
    let result = engine.get_records(T, D, id, &request).unwrap();
    ids(&result).into_iter().map(String::from).collect()
}

fn one(id: &str, point: [f32; 2], owner: &str) -> RecordBatch {
    batch(
        &[id],
        &[&point[..]],
        None,
        Some(vec![json!({"owner": owner})]),
    )
}

fn refused(result: Result<(), EngineError>) -> String {
    match result {
        Err(EngineError::RowFilterViolation(m)) => m,
        other => panic!("expected a row filter refusal, got {other:?}"),
    }
}

#[test]
fn reads_see_only_the_callers_rows() {
    let (_dir, engine) = engine();
    let id = shared(&engine);
    let alice = owned_by("alice");
    assert_eq!(
        get(&engine, id, select(&alice, None, None)),
        ["a0", "a1", "a2", "a3", "a4"]
    );
    // Another's ids behave as if absent; the caller's own where is ANDed.
    assert_eq!(
        get(&engine, id, select(&alice, Some(&["a1", "b1"]), None)),
        ["a1"]
    );
    let where_n = Some(json!({"$or": [{"owner": "bob"}, {"n": 1}]}));
    assert_eq!(get(&engine, id, select(&alice, None, where_n)).len(), 5);
    assert_eq!(
        engine.count_records_within(T, D, id, Some(&alice)).unwrap(),
        5
    );
    assert_eq!(engine.count_records_within(T, D, id, None).unwrap(), 10);

    // Nearest neighbours among the visible records only, n_results filled
    // from them: bob's b0 at 1.0 is nearer to the query than alice's a1.
    let query = QueryRequest {
        embeddings: vec![vec![1.0, 0.0]],
        n_results: 3,
        selector: select(&alice, None, None),
        include: Include(vec![]),
    };
    let result = engine.query(T, D, id, &query).unwrap();
    assert_eq!(hit_ids(&result), [["a0", "a1", "a2"]]);

    // A query naming another's record fails as for an id not stored.
    let named = QueryRequest {
        selector: select(&alice, Some(&["a0", "b0"]), None),
        ..query
    };
    let err = engine.query(T, D, id, &named).unwrap_err().to_string();
    assert!(
        err.contains("ids not found") && err.contains("b0") && !err.contains("a0"),
        "{err}"
    );
}

#[test]
fn deletes_touch_only_the_callers_rows() {
    let (_dir, engine) = engine();
    let id = shared(&engine);
    let bob = owned_by("bob");
    let delete = |selector| {
        engine
            .delete_records(
                T,
                D,
                id,
                &DeleteRequest {
                    selector,
                    limit: None,
                },
            )
            .unwrap()
    };
    assert_eq!(delete(select(&bob, Some(&["a0", "b0"]), None)), 1);
    // A where matching everyone deletes only bob's.
    assert_eq!(delete(select(&bob, None, Some(json!({"n": 1})))), 4);
    // No ids and no where deletes nothing, as without a row filter.
    assert_eq!(delete(select(&owned_by("alice"), None, None)), 0);
    assert_eq!(engine.count_records(T, D, id).unwrap(), 5);
    assert_eq!(
        get(&engine, id, select(&owned_by("alice"), None, None)).len(),
        5
    );
}

#[test]
fn writes_that_touch_or_leave_records_outside_the_rows_are_refused_whole() {
    let (_dir, engine) = engine();
    let id = shared(&engine);
    let alice = owned_by("alice");
    let write = |kind, batch: &RecordBatch| {
        engine.write_records_within(T, D, id, kind, batch, Some(&alice))
    };
    let everything = || get(&engine, id, RecordSelector::default());
    let before = everything();

    // Adding a record owned by someone else, even beside a good one.
    let mut two = one("a9", [9.0, 1.0], "alice");
    let other = one("x1", [9.0, 2.0], "bob");
    two.ids.extend(other.ids);
    two.embeddings
        .as_mut()
        .unwrap()
        .extend(other.embeddings.unwrap());
    two.metadatas
        .as_mut()
        .unwrap()
        .extend(other.metadatas.unwrap());
    let m = refused(write(WriteKind::Add, &two));
    assert!(m.contains("x1") && !m.contains("a9"), "{m}");
    // Updating or upserting another's record, even into one's own.
    refused(write(WriteKind::Update, &one("b1", [1.0, 1.0], "alice")));
    refused(write(WriteKind::Upsert, &one("b1", [1.0, 1.0], "alice")));
    // Giving one's own record away (the record after the update is checked).
    refused(write(WriteKind::Update, &one("a1", [1.0, 1.0], "bob")));
    assert_eq!(
        everything(),
        before,
        "nothing of a refused batch is written"
    );

    // Within the rows every kind of write works; an update of an id not
    // stored is ignored, as without a row filter.
    write(WriteKind::Add, &one("a9", [9.0, 1.0], "alice")).unwrap();
    write(WriteKind::Upsert, &one("a1", [1.5, 0.0], "alice")).unwrap();
    write(WriteKind::Update, &one("nobody", [1.0, 1.0], "alice")).unwrap();
    let keep_owner = RecordBatch {
        ids: vec!["a2".into()],
        embeddings: None,
        documents: Some(vec![Some("still alice's".into())]),
        uris: None,
        metadatas: None,
    };
    write(WriteKind::Update, &keep_owner).unwrap();
    assert_eq!(get(&engine, id, select(&alice, None, None)).len(), 6);
    assert_eq!(engine.count_records(T, D, id).unwrap(), 11);
}

/// What a gateway decides away from the store ([`RowFilter::check_write`],
/// given the batch's stored records) is what the engine decides in its
/// transaction, for every write of a table of cases.
#[test]
fn a_write_checked_away_from_the_store_is_decided_as_the_engine_decides() {
    let (_dir, engine) = engine();
    let id = shared(&engine);
    let rows = RowFilter::new(&json!({"$and": [{"owner": "alice"}, {"n": {"$lt": 5}}]})).unwrap();
    let meta = |owner: &str, n: i64| Some(json!({"owner": owner, "n": n}));
    let null_owner = Some(json!({"owner": null}));
    let cases: Vec<(WriteKind, &str, Option<Value>)> = vec![
        (WriteKind::Add, "new", meta("alice", 1)),
        (WriteKind::Add, "new", meta("bob", 1)),
        (WriteKind::Add, "new", meta("alice", 9)),
        (WriteKind::Add, "new", None),
        (WriteKind::Add, "a1", meta("bob", 1)),
        (WriteKind::Add, "b1", meta("alice", 1)),
        (WriteKind::Update, "a1", meta("alice", 2)),
        (WriteKind::Update, "a1", meta("alice", 7)),
        (WriteKind::Update, "a1", null_owner.clone()),
        (WriteKind::Update, "a1", None),
        (WriteKind::Update, "a1", Some(json!({"n": 3}))),
        (WriteKind::Update, "b1", meta("alice", 1)),
        (WriteKind::Update, "nobody", meta("bob", 1)),
        (WriteKind::Upsert, "a1", Some(json!({"n": 9}))),
        (WriteKind::Upsert, "a1", Some(json!({"extra": true}))),
        (WriteKind::Upsert, "b1", meta("alice", 1)),
        (WriteKind::Upsert, "new", meta("alice", 4)),
        (WriteKind::Upsert, "new", null_owner),
    ];
    for (kind, record, metadata) in cases {
        let batch = RecordBatch {
            ids: vec![record.to_string()],
            embeddings: (kind != WriteKind::Update).then(|| vec![Some(vec![0.5, 0.5])]),
            documents: None,
            uris: None,
            metadatas: metadata.clone().map(|m| vec![m.as_object().cloned()]),
        };
        let stored: std::collections::HashMap<String, prism_engine::StoredRecord> = engine
            .get_records(
                T,
                D,
                id,
                &GetRequest {
                    selector: RecordSelector {
                        ids: Some(vec![record.to_string()]),
                        ..Default::default()
                    },
                    include: Include(vec![prism_engine::types::IncludeField::Metadatas]),
                    ..Default::default()
                },
            )
            .unwrap()
            .records
            .into_iter()
            .map(|r| {
                let metadata = r.metadata.clone();
                (
                    r.id,
                    prism_engine::StoredRecord {
                        metadata,
                        document: r.document,
                    },
                )
            })
            .collect();
        let away = rows
            .check_write(kind, &batch, &stored)
            .map_err(|e| e.to_string());
        // A refused write is rolled back; an allowed one stays, and both
        // deciders see its result in the cases after.
        let here = engine
            .write_records_within(T, D, id, kind, &batch, Some(&rows))
            .map_err(|e| e.to_string());
        assert_eq!(away, here, "{kind:?} {record} {metadata:?}");
        if here.is_ok() {
            // Except a new record: each case adding one starts without it.
            let _ = engine.delete_records(
                T,
                D,
                id,
                &DeleteRequest {
                    selector: RecordSelector {
                        ids: Some(vec!["new".into()]),
                        ..Default::default()
                    },
                    limit: None,
                },
            );
        }
    }
}

#[test]
fn an_empty_or_malformed_row_filter_is_refused() {
    assert!(RowFilter::new(&json!({})).is_err());
    assert!(RowFilter::new(&json!({"owner": {"$bogus": 1}})).is_err());
}
