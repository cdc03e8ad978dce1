//! Filters far past SQLite's limits on one statement (32,766 parameters,
//! expressions 1,000 deep): long `$in` / `$nin` lists and `$and` / `$or`
//! with 100,000 clauses are answered, and answered right, in gets, queries
//! and deletes; only nesting past the documented depth is refused.

use std::time::Instant;

use prism_engine::filter::MAX_NESTING;
use prism_engine::types::Include;
use prism_engine::{DeleteRequest, Engine, EngineError, GetRequest, QueryRequest, RecordSelector};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{D, T, add, batch, collection, engine, hit_ids, ids};

const RECORDS: usize = 300;

/// Record `i`'s metadata: `i`, `s` = "v{i}", `f` = i + 0.5, `even`, and
/// an array `tags` = [i % 7, i % 11] (arrays never match `$in`).
fn metadata(i: usize) -> Value {
    json!({
        "i": i,
        "s": format!("v{i}"),
        "f": i as f64 + 0.5,
        "even": i.is_multiple_of(2),
        "tags": [i % 7, i % 11],
    })
}

/// A collection of [`RECORDS`] records `r0`, `r1`, ... on a line, with
/// [`metadata`] and the document "doc {i} of {i % 5}".
fn numbered(engine: &Engine) -> Uuid {
    let id = collection(engine, "numbered");
    let names: Vec<String> = (0..RECORDS).map(|i| format!("r{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let vectors: Vec<[f32; 1]> = (0..RECORDS).map(|i| [i as f32]).collect();
    let vectors: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
    let documents: Vec<String> = (0..RECORDS)
        .map(|i| format!("doc {i} of {}", i % 5))
        .collect();
    let documents: Vec<&str> = documents.iter().map(String::as_str).collect();
    let metadatas = (0..RECORDS).map(metadata).collect();
    add(
        engine,
        id,
        &batch(&names, &vectors, Some(&documents), Some(metadatas)),
    );
    id
}

fn selector(where_clause: Value) -> RecordSelector {
    RecordSelector {
        ids: None,
        where_clause: Some(where_clause),
        where_document: None,
        rows: None,
    }
}

fn get(engine: &Engine, id: Uuid, selector: RecordSelector) -> Result<Vec<String>, EngineError> {
    let request = GetRequest {
        selector,
        include: Include(vec![]),
        ..Default::default()
    };
    let result = engine.get_records(T, D, id, &request)?;
    Ok(ids(&result).into_iter().map(String::from).collect())
}

fn get_where(engine: &Engine, id: Uuid, where_clause: Value) -> Vec<String> {
    let started = Instant::now();
    let found = get(engine, id, selector(where_clause)).unwrap();
    eprintln!("get: {} records in {:?}", found.len(), started.elapsed());
    found
}

/// The ids of the records `i` for which `keep(i)`, in insertion order.
fn expected(keep: impl Fn(usize) -> bool) -> Vec<String> {
    (0..RECORDS)
        .filter(|&i| keep(i))
        .map(|i| format!("r{i}"))
        .collect()
}

/// Query all records nearest to 0 among those `where_clause` selects: the
/// hits are the selected records in order.
fn query_where(engine: &Engine, id: Uuid, where_clause: Value) -> Vec<String> {
    let request = QueryRequest {
        embeddings: vec![vec![0.0]],
        n_results: RECORDS as u32,
        selector: selector(where_clause),
        include: Include(vec![]),
    };
    let result = engine.query(T, D, id, &request).unwrap();
    hit_ids(&result)[0].iter().map(|s| s.to_string()).collect()
}

fn object(key: String, value: Value) -> Value {
    Value::Object(Map::from_iter([(key, value)]))
}

#[test]
fn in_and_nin_lists_of_100_000_values_select_exactly() {
    let (_dir, engine) = engine();
    let id = numbered(&engine);
    // Every third record's string among 100,000 values, most of them absent.
    let strings: Vec<Value> = (0..100_000).map(|k| json!(format!("v{}", k * 3))).collect();
    let every_third = expected(|i| i % 3 == 0);
    assert_eq!(
        get_where(&engine, id, json!({"s": {"$in": strings.clone()}})),
        every_third
    );
    assert_eq!(
        query_where(&engine, id, json!({"s": {"$in": strings.clone()}})),
        every_third
    );
    assert_eq!(
        get_where(&engine, id, json!({"s": {"$nin": strings.clone()}})),
        expected(|i| i % 3 != 0)
    );
    // Integers match ints and the floats equal to them; floats exactly.
    let ints: Vec<Value> = (0..100_000).map(|k| json!(k * 4)).collect();
    assert_eq!(
        get_where(&engine, id, json!({"i": {"$in": ints.clone()}})),
        expected(|i| i % 4 == 0)
    );
    let floats: Vec<Value> = (0..100_000).map(|k| json!(k as f64 * 5.0 + 0.5)).collect();
    assert_eq!(
        get_where(&engine, id, json!({"f": {"$in": floats.clone()}})),
        expected(|i| i % 5 == 0)
    );
    // Near misses: the doubles next to i + 0.5 are not i + 0.5.
    let near: Vec<Value> = (0..RECORDS)
        .flat_map(|i| {
            let f = i as f64 + 0.5;
            [
                f64::from_bits(f.to_bits() + 1),
                f64::from_bits(f.to_bits() - 1),
            ]
        })
        .chain((0..100_000).map(|k| 1e6 + k as f64))
        .map(|f| json!(f))
        .collect();
    assert!(get_where(&engine, id, json!({"f": {"$in": near}})).is_empty());
    // $in never matches array elements, whatever the list's length.
    assert!(get_where(&engine, id, json!({"tags": {"$in": ints.clone()}})).is_empty());
    assert_eq!(
        get_where(&engine, id, json!({"tags": {"$nin": ints}})).len(),
        RECORDS
    );
    // Bools: true and false repeated, far past one statement's parameters.
    let bools: Vec<Value> = (0..100_000).map(|k| json!(k % 10 == 0)).collect();
    assert_eq!(
        get_where(&engine, id, json!({"even": {"$in": bools}})).len(),
        RECORDS
    );
    // Deleting with the list removes exactly what it selects.
    let request = DeleteRequest {
        selector: selector(json!({"s": {"$in": strings}})),
        limit: None,
    };
    let deleted = engine.delete_records(T, D, id, &request).unwrap();
    assert_eq!(deleted as usize, every_third.len());
    assert_eq!(
        get_where(&engine, id, json!({"i": {"$gte": 0}})),
        expected(|i| i % 3 != 0)
    );
}

#[test]
fn an_in_list_of_a_million_values_is_answered() {
    let (_dir, engine) = engine();
    let id = numbered(&engine);
    let ints: Vec<Value> = (0..1_000_000).map(|k| json!(k * 7)).collect();
    let started = Instant::now();
    assert_eq!(
        get_where(&engine, id, json!({"i": {"$in": ints.clone()}})),
        expected(|i| i % 7 == 0)
    );
    assert_eq!(
        get_where(&engine, id, json!({"i": {"$nin": ints}})),
        expected(|i| i % 7 != 0)
    );
    eprintln!("1,000,000-value $in and $nin: {:?}", started.elapsed());
}

#[test]
fn and_or_of_100_000_clauses_select_exactly() {
    let (_dir, engine) = engine();
    let id = numbered(&engine);
    // $eq on one key: one $in, in effect.
    let or_eq: Vec<Value> = (0..100_000).map(|k| json!({"i": k * 6})).collect();
    let sixth = expected(|i| i % 6 == 0);
    assert_eq!(get_where(&engine, id, json!({"$or": or_eq.clone()})), sixth);
    assert_eq!(query_where(&engine, id, json!({"$or": or_eq})), sixth);
    // $ne on one key: one $nin.
    let and_ne: Vec<Value> = (0..100_000)
        .map(|k| json!({"s": {"$ne": format!("v{}", k * 2)}}))
        .collect();
    assert_eq!(
        get_where(&engine, id, json!({"$and": and_ne})),
        expected(|i| i % 2 == 1)
    );
    // Distinct keys, nothing to merge: answered in parts.
    let or_keys: Vec<Value> = (0..100_000)
        .map(|k| object(format!("k{k}"), json!(k)))
        .chain([json!({"i": {"$lt": 3}}), json!({"tags": {"$contains": 10}})])
        .collect();
    let small_or_ten = expected(|i| i < 3 || i % 11 == 10);
    assert_eq!(
        get_where(&engine, id, json!({"$or": or_keys.clone()})),
        small_or_ten
    );
    assert_eq!(query_where(&engine, id, json!({"$or": or_keys})), {
        let mut by_distance = small_or_ten.clone();
        by_distance.sort_by_key(|r| r[1..].parse::<usize>().unwrap());
        by_distance
    });
    let and_keys: Vec<Value> = (0..100_000)
        .map(|k| object(format!("k{k}"), json!({"$ne": k})))
        .chain([
            json!({"i": {"$gte": 100}}),
            json!({"tags": {"$not_contains": 0}}),
            json!({"#document": {"$not_contains": "of 3"}}),
        ])
        .collect();
    assert_eq!(
        get_where(&engine, id, json!({"$and": and_keys.clone()})),
        expected(|i| i >= 100 && i % 7 != 0 && i % 11 != 0 && i % 5 != 3)
    );
    // A mix of conditions under an $or, answered in parts. (Each matches
    // a record or two: the cost is that of the records each one matches.)
    let mixed_or: Vec<Value> = (0..100_000)
        .map(|k| match k % 4 {
            0 => json!({"$and": [{"i": k}, {"s": format!("v{k}")}]}),
            1 => json!({"$and": [
                {"s": format!("v{k}")},
                {"#document": {"$contains": format!("doc {k} ")}},
            ]}),
            2 => json!({"$and": [{"i": 39}, {"i": {"$ne": k}}]}),
            _ => json!({"tags": {"$contains": 100 + k}}),
        })
        .collect();
    assert_eq!(
        get_where(&engine, id, json!({"$or": mixed_or})),
        expected(|i| i % 4 < 2 || i == 39)
    );
    // And under an $and, with negations, document conditions and nesting.
    let mixed_and: Vec<Value> = (0..100_000)
        .map(|k| match k % 3 {
            0 => object(format!("k{k}"), json!({"$ne": k})),
            1 => json!({"$or": [{"i": {"$ne": 5 + k % 7}}, {"i": {"$gte": 299}}]}),
            _ => json!({"#document": {"$not_contains": format!("doc {} of", 1000 + k)}}),
        })
        .chain([json!({"i": {"$lt": 200}})])
        .collect();
    assert_eq!(
        get_where(&engine, id, json!({"$and": mixed_and})),
        expected(|i| i < 200 && !(5..=11).contains(&i))
    );
    // Deleting with 100,000 clauses.
    let request = DeleteRequest {
        selector: selector(json!({"$and": and_keys})),
        limit: Some(5),
    };
    assert_eq!(engine.delete_records(T, D, id, &request).unwrap(), 5);
    let left = get_where(&engine, id, json!({"i": {"$gte": 100}}));
    assert_eq!(left.len(), expected(|i| i >= 100).len() - 5);
}

#[test]
fn document_filters_with_many_clauses_are_answered() {
    let (_dir, engine) = engine();
    let id = numbered(&engine);
    // 20,000 substrings, of which only "doc 7 " and "doc 42 " occur.
    let contains: Vec<Value> = (0..20_000)
        .map(|k| json!({"$contains": format!("doc {} ", k * 1000 + 7)}))
        .chain([json!({"$contains": "doc 42 "})])
        .collect();
    let request = RecordSelector {
        ids: None,
        where_clause: None,
        where_document: Some(json!({"$or": contains})),
        rows: None,
    };
    assert_eq!(get(&engine, id, request).unwrap(), ["r7", "r42"]);
    // 2,000 patterns, negated: the records none of them matches.
    let regexes: Vec<Value> = (0..2_000)
        .map(|k| json!({"$not_regex": format!("^doc {k} of [0-3]$")}))
        .collect();
    let request = RecordSelector {
        ids: None,
        where_clause: None,
        where_document: Some(json!({"$and": regexes})),
        rows: None,
    };
    assert_eq!(get(&engine, id, request).unwrap(), expected(|i| i % 5 == 4));
}

/// `levels` of `$and` and `$or` in turn around `leaf`.
fn alternating(levels: usize, leaf: Value) -> Value {
    (0..levels).fold(leaf, |inner, level| {
        let op = if level % 2 == 0 { "$and" } else { "$or" };
        // Each level also admits (or keeps out) the records of one residue.
        let side = json!({"i": {"$ne": level}});
        object(op.to_string(), Value::Array(vec![inner, side]))
    })
}

#[test]
fn nesting_up_to_the_limit_is_answered_and_past_it_refused() {
    let (_dir, engine) = engine();
    let id = numbered(&engine);
    // Levels from the inside out: $and with i != 0, $or with i != 1, ...
    // The outermost $or admits every record but the one $ne names.
    let levels = MAX_NESTING;
    let found = get_where(&engine, id, alternating(levels, json!({"i": {"$lt": 50}})));
    let keep = |i: usize| {
        let mut matched = i < 50;
        for level in 0..levels {
            matched = if level % 2 == 0 {
                matched && i != level
            } else {
                matched || i != level
            };
        }
        matched
    };
    assert_eq!(found, expected(keep));
    let err = get(
        &engine,
        id,
        selector(alternating(MAX_NESTING + 1, json!({"i": 1}))),
    )
    .unwrap_err();
    assert!(matches!(err, EngineError::InvalidArgument(_)), "{err:?}");
    assert!(
        err.to_string().contains(&MAX_NESTING.to_string()),
        "the message names the limit: {err}"
    );
}
