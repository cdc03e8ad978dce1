//! `where` and `where_document` in gets, queries and deletes.

use prism_engine::types::Include;
use prism_engine::{DeleteRequest, Engine, EngineError, GetRequest, QueryRequest, RecordSelector};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{D, T, add, all_ids, batch, collection, engine, hit_ids, ids};

/// Five records on a line: `r0` at 0 ... `r4` at 4, with a colour, a
/// number and a document each.
fn five(engine: &Engine) -> Uuid {
    let id = collection(engine, "five");
    add(
        engine,
        id,
        &batch(
            &["r0", "r1", "r2", "r3", "r4"],
            &[&[0.0], &[1.0], &[2.0], &[3.0], &[4.0]],
            Some(&[
                "red apple",
                "green pear",
                "red cherry",
                "yellow lemon",
                "green lime",
            ]),
            Some(vec![
                json!({"colour": "red", "n": 0, "tags": ["fruit", "sweet"]}),
                json!({"colour": "green", "n": 1, "tags": ["fruit"]}),
                json!({"colour": "red", "n": 2}),
                json!({"colour": "yellow", "n": 3, "tags": ["sour"]}),
                json!({"colour": "green", "n": 4, "tags": ["sour", "fruit"]}),
            ]),
        ),
    );
    id
}

fn selector(where_clause: Option<Value>, where_document: Option<Value>) -> RecordSelector {
    RecordSelector {
        ids: None,
        where_clause,
        where_document,
        rows: None,
    }
}

fn get(engine: &Engine, id: Uuid, selector: RecordSelector) -> Vec<String> {
    let request = GetRequest {
        selector,
        include: Include(vec![]),
        ..Default::default()
    };
    let result = engine.get_records(T, D, id, &request).unwrap();
    ids(&result).into_iter().map(String::from).collect()
}

#[test]
fn gets_select_by_metadata_and_document() {
    let (_dir, engine) = engine();
    let id = five(&engine);
    let cases: [(Option<Value>, Option<Value>, &[&str]); 7] = [
        (Some(json!({"colour": "red"})), None, &["r0", "r2"]),
        (Some(json!({"n": {"$gt": 2}})), None, &["r3", "r4"]),
        (
            Some(json!({"colour": {"$in": ["yellow", "green"]}})),
            None,
            &["r1", "r3", "r4"],
        ),
        (
            Some(json!({"$and": [{"colour": "green"}, {"n": {"$lt": 3}}]})),
            None,
            &["r1"],
        ),
        (
            Some(json!({"tags": {"$contains": "sour"}})),
            None,
            &["r3", "r4"],
        ),
        (None, Some(json!({"$contains": "red"})), &["r0", "r2"]),
        (
            Some(json!({"colour": "green"})),
            Some(json!({"$not_contains": "pear"})),
            &["r4"],
        ),
    ];
    for (where_clause, where_document, expected) in cases {
        let what = format!("{where_clause:?} {where_document:?}");
        assert_eq!(
            get(&engine, id, selector(where_clause, where_document)),
            expected,
            "{what}"
        );
    }
    let ids_and_where = RecordSelector {
        ids: Some(vec!["r0".into(), "r1".into()]),
        ..selector(Some(json!({"colour": "red"})), None)
    };
    assert_eq!(get(&engine, id, ids_and_where), ["r0"]);
}

#[test]
fn queries_search_only_the_selected_records() {
    let (_dir, engine) = engine();
    let id = five(&engine);
    let request = QueryRequest {
        embeddings: vec![vec![0.0]],
        n_results: 10,
        selector: selector(Some(json!({"colour": "green"})), None),
        include: Include(vec![]),
    };
    let result = engine.query(T, D, id, &request).unwrap();
    assert_eq!(hit_ids(&result), [["r1", "r4"]]);
    let nothing = QueryRequest {
        selector: selector(Some(json!({"colour": "blue"})), None),
        ..request
    };
    let result = engine.query(T, D, id, &nothing).unwrap();
    assert_eq!(result.hits, vec![vec![]]);
}

#[test]
fn deletes_remove_the_selected_records_up_to_the_limit() {
    let (_dir, engine) = engine();
    let id = five(&engine);
    let green = DeleteRequest {
        selector: selector(Some(json!({"colour": "green"})), None),
        limit: Some(1),
    };
    assert_eq!(engine.delete_records(T, D, id, &green).unwrap(), 1);
    assert_eq!(all_ids(&engine, id), ["r0", "r2", "r3", "r4"]);
    let lemons = DeleteRequest {
        selector: selector(None, Some(json!({"$contains": "lemon"}))),
        limit: None,
    };
    assert_eq!(engine.delete_records(T, D, id, &lemons).unwrap(), 1);
    assert_eq!(all_ids(&engine, id), ["r0", "r2", "r4"]);
    // Deleted records are no longer found by a query either.
    let request = QueryRequest {
        embeddings: vec![vec![3.0]],
        n_results: 10,
        include: Include(vec![]),
        ..Default::default()
    };
    let result = engine.query(T, D, id, &request).unwrap();
    assert_eq!(hit_ids(&result), [["r2", "r4", "r0"]]);
}

#[test]
fn malformed_filters_are_client_errors() {
    let (_dir, engine) = engine();
    let id = five(&engine);
    let bad = [
        selector(Some(json!({"n": {"$unknown": 1}})), None),
        selector(Some(json!({"$and": "no"})), None),
        selector(None, Some(json!({"$nope": "x"}))),
    ];
    for selector in bad {
        let what = format!("{selector:?}");
        let request = GetRequest {
            selector,
            ..Default::default()
        };
        let err = engine.get_records(T, D, id, &request).unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidArgument(_)),
            "{what}: {err:?}"
        );
    }
}

/// Found by the `filter` fuzz target: a needle or regex literal holding a
/// NUL went to the full-text index, whose query syntax ends a string at NUL
/// ("unterminated string", a storage error, HTTP 500).
#[test]
fn document_conditions_may_hold_nul() {
    let (_dir, engine) = engine();
    let id = collection(&engine, "nul");
    add(
        &engine,
        id,
        &batch(
            &["with", "without"],
            &[&[0.0], &[1.0]],
            Some(&["a\0b needle", "ab needle"]),
            None,
        ),
    );
    let doc = |clause: Value| get(&engine, id, selector(None, Some(clause)));
    assert_eq!(doc(json!({"$contains": "a\u{0}b"})), ["with"]);
    assert_eq!(doc(json!({"$contains": "\u{0}b needle"})), ["with"]);
    assert_eq!(doc(json!({"$not_contains": "a\u{0}b"})), ["without"]);
    assert_eq!(doc(json!({"$regex": "a\u{0}b ne+dle"})), ["with"]);
    assert_eq!(doc(json!({"$not_regex": "a\u{0}b"})), ["without"]);
    assert_eq!(doc(json!({"$contains": "needle"})), ["with", "without"]);
}
