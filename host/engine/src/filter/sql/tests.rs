//! Filters compiled to SQL and run against a real (in-memory) store.

use super::*;
use crate::filter::fixture::fixture;
use crate::filter::{parse_where, parse_where_document};
use rusqlite::Connection;
use serde_json::{Value, json};

fn ids(conn: &Connection, filter: Filter) -> Vec<String> {
    let cond = compile(&filter, 7);
    let sql = format!(
        "SELECT r.id FROM records r WHERE r.coll = 7 AND {} ORDER BY r.rowid",
        cond.sql
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let found: Vec<String> = stmt
        .query_map(rusqlite::params_from_iter(cond.params), |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Every filter the record-set compiler takes must select the same.
    if let Some(set) = compile_record_set(&filter, 7) {
        let sql = format!(
            "SELECT r.id FROM records r WHERE r.rowid IN ({}) ORDER BY r.rowid",
            set.sql
        );
        let from_set: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map(rusqlite::params_from_iter(set.params), |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(from_set, found, "record set of {filter:?}");
    }
    // The in-memory evaluation (the gateway's row checks) must agree with
    // the SQL on every filter these tests run.
    let in_memory: Vec<String> = crate::filter::fixture::records()
        .iter()
        .filter(|(_, document, metadata)| {
            crate::filter::eval::matches(&filter, metadata.as_object(), *document).unwrap()
        })
        .map(|(id, _, _)| id.to_string())
        .collect();
    assert_eq!(in_memory, found, "in-memory evaluation of {filter:?}");
    found
}

#[test]
fn only_positive_metadata_filters_become_record_sets() {
    let positive = parse_where(
        &json!({"$and": [{"n": {"$gt": 1}}, {"$or": [{"s": "a"}, {"arr": {"$contains": 1}}]}]}),
    )
    .unwrap()
    .unwrap();
    assert!(compile_record_set(&positive, 7).is_some());
    for negative in [
        json!({"n": {"$ne": 1}}),
        json!({"n": {"$nin": [1]}}),
        json!({"$or": [{"s": "a"}, {"arr": {"$not_contains": 1}}]}),
    ] {
        let f = parse_where(&negative).unwrap().unwrap();
        assert!(compile_record_set(&f, 7).is_none(), "{negative}");
    }
    let doc = parse_where_document(&json!({"$contains": "world"}))
        .unwrap()
        .unwrap();
    assert!(compile_record_set(&doc, 7).is_none());
}

fn w(conn: &Connection, v: Value) -> Vec<String> {
    ids(conn, parse_where(&v).unwrap().unwrap())
}

fn d(conn: &Connection, v: Value) -> Vec<String> {
    ids(conn, parse_where_document(&v).unwrap().unwrap())
}

#[test]
fn numbers_compare_across_int_and_float_but_never_bool() {
    let c = fixture();
    assert_eq!(w(&c, json!({"n": 1})), ["int1", "float1"]);
    assert_eq!(w(&c, json!({"n": 1.0})), ["int1", "float1"]);
    assert_eq!(w(&c, json!({"n": true})), ["booltrue"]);
    assert_eq!(w(&c, json!({"n": "1"})), ["str"]);
    assert_eq!(
        w(&c, json!({"n": {"$gt": 0.5}})),
        ["int1", "float1", "float15", "big"]
    );
    assert_eq!(w(&c, json!({"n": {"$gte": 1.5}})), ["float15", "big"]);
    assert_eq!(w(&c, json!({"n": {"$lt": 1.5}})), ["int1", "float1"]);
    assert_eq!(w(&c, json!({"n": {"$lte": 1}})), ["int1", "float1"]);
}

#[test]
fn ne_and_nin_match_missing_keys() {
    let c = fixture();
    assert_eq!(
        w(&c, json!({"s": {"$ne": "a"}})),
        ["float1", "float15", "str", "nometa", "big"]
    );
    assert_eq!(
        w(&c, json!({"s": {"$nin": ["a", "b"]}})),
        ["float15", "str", "nometa", "big"]
    );
    assert_eq!(
        w(&c, json!({"s": {"$in": ["a", "b"]}})),
        ["int1", "float1", "booltrue"]
    );
    assert_eq!(
        w(&c, json!({"n": {"$in": [1.5, 100.0]}})),
        ["float15", "big"]
    );
}

#[test]
fn arrays_match_contains_only() {
    let c = fixture();
    assert_eq!(w(&c, json!({"arr": {"$contains": 1}})), ["int1"]);
    assert_eq!(w(&c, json!({"arr": {"$contains": "x"}})), ["float1"]);
    assert_eq!(w(&c, json!({"arr": {"$contains": true}})), ["big"]);
    assert_eq!(
        w(&c, json!({"arr": {"$not_contains": 1}})),
        ["float1", "float15", "booltrue", "str", "nometa", "big"]
    );
    assert!(w(&c, json!({"arr": 1})).is_empty());
    assert!(w(&c, json!({"arr": {"$in": [1]}})).is_empty());
    assert!(w(&c, json!({"arr": {"$ne": 1}})).contains(&"int1".to_string()));
}

#[test]
fn logical_operators() {
    let c = fixture();
    assert_eq!(w(&c, json!({"$and": [{"s": "a"}, {"n": 1}]})), ["int1"]);
    assert_eq!(
        w(&c, json!({"$or": [{"s": "b"}, {"n": 100}]})),
        ["float1", "big"]
    );
    assert_eq!(w(&c, json!({"$and": []})).len(), 7);
    assert!(w(&c, json!({"$or": []})).is_empty());
}

#[test]
fn regex_prefilter_uses_literals_only_when_safe() {
    assert_eq!(
        required_prefixes("hello.*world"),
        Some(vec!["hello".to_string()])
    );
    assert_eq!(required_prefixes("(?i)abc").map(|v| v.len()), Some(8));
    assert_eq!(required_prefixes("ab"), None, "too short for trigrams");
    assert_eq!(required_prefixes(".*x"), None, "no required prefix");
    assert_eq!(required_prefixes("[a-z]+"), None);
    let c = fixture();
    assert_eq!(d(&c, json!({"$regex": "Hello t.*e"})), ["float1"]);
    assert_eq!(d(&c, json!({"$regex": "(?i)hello"})), ["int1", "float1"]);
    assert_eq!(
        d(&c, json!({"$not_regex": "(?i)hello"})),
        ["float15", "booltrue", "str", "nometa", "big"]
    );
}

#[test]
fn document_filters() {
    let c = fixture();
    assert_eq!(d(&c, json!({"$contains": "world"})), ["int1", "nometa"]);
    assert_eq!(d(&c, json!({"$contains": "wo"})), ["int1", "str", "nometa"]);
    assert_eq!(
        d(&c, json!({"$contains": "hello"})),
        ["int1"],
        "case-sensitive"
    );
    assert_eq!(d(&c, json!({"$contains": "c\"d"})), ["float15"]);
    assert_eq!(
        d(&c, json!({"$not_contains": "world"})),
        ["float1", "float15", "booltrue", "str", "big"]
    );
    assert_eq!(d(&c, json!({"$regex": "^[Hh]ello"})), ["int1", "float1"]);
    assert_eq!(d(&c, json!({"$regex": "(?i)HELLO"})), ["int1", "float1"]);
    assert_eq!(
        d(&c, json!({"$not_regex": "o"})),
        ["float15", "booltrue", "big"]
    );
    assert_eq!(
        d(
            &c,
            json!({"$or": [{"$contains": "zzz"}, {"$contains": "abc"}]})
        ),
        ["float15", "big"]
    );
    assert_eq!(
        w(&c, json!({"#document": {"$contains": "there"}})),
        ["float1"]
    );
}

/// `values` padded with `extra` values no record holds, past the length
/// that is bound value by value.
fn long_list(values: Value, extra: impl Fn(usize) -> Value) -> Value {
    let mut list = values.as_array().unwrap().clone();
    list.extend((0..INLINE_LIST_MAX + 5).map(extra));
    Value::Array(list)
}

#[test]
fn long_lists_select_what_short_lists_select() {
    let c = fixture();
    let strings = |i| json!(format!("absent-{i}"));
    let floats = |i| json!(1000.25 + i as f64);
    let ints = |i| json!(1000 + i as i64);
    for (key, short, extra) in [
        ("s", json!(["a", "b"]), &strings as &dyn Fn(usize) -> Value),
        ("n", json!([1.5, 100.0]), &floats),
        ("n", json!([1, 100]), &ints),
        ("n", json!(["1"]), &strings),
        (
            "n",
            json!([0.1, 1.0000000000000002, 0.9999999999999999, 1.5]),
            &floats,
        ),
    ] {
        for op in ["$in", "$nin"] {
            let long = long_list(short.clone(), extra);
            let cond = compile(
                &parse_where(&json!({key: {op: long.clone()}}))
                    .unwrap()
                    .unwrap(),
                7,
            );
            assert!(cond.sql.contains("json_each"), "{}", cond.sql);
            assert_eq!(
                w(&c, json!({key: {op: long}})),
                w(&c, json!({key: {op: short.clone()}})),
                "{key} {op} {short}"
            );
        }
    }
    // Bools are stored as 0 and 1 and never equal numbers.
    let bools = json!([true, false, true, false, true, false, true, false, true]);
    let mut many = bools.as_array().unwrap().clone();
    while many.len() <= INLINE_LIST_MAX {
        many.extend(bools.as_array().unwrap().iter().cloned());
    }
    assert_eq!(w(&c, json!({"n": {"$in": many.clone()}})), ["booltrue"]);
    assert_eq!(
        w(&c, json!({"arr": {"$in": many}})),
        Vec::<String>::new(),
        "$in never matches array elements"
    );
}

#[test]
fn leaf_parameters_bound_what_the_compiler_binds() {
    let long: Vec<i64> = (0..INLINE_LIST_MAX as i64 + 1).collect();
    let short: Vec<i64> = (0..INLINE_LIST_MAX as i64).collect();
    for leaf in [
        json!({"n": 1}),
        json!({"n": {"$ne": "x"}}),
        json!({"n": {"$gt": 1}}),
        json!({"n": {"$in": short.clone()}}),
        json!({"n": {"$nin": short}}),
        json!({"n": {"$in": long.clone()}}),
        json!({"n": {"$nin": long}}),
        json!({"arr": {"$contains": 1}}),
        json!({"arr": {"$not_contains": 1}}),
        json!({"#document": {"$contains": "hello"}}),
        json!({"#document": {"$contains": "he"}}),
        json!({"#document": {"$not_contains": "hello"}}),
        json!({"#document": {"$regex": "hello.*"}}),
        json!({"#document": {"$not_regex": "[a-z]"}}),
    ] {
        let f = parse_where(&leaf).unwrap().unwrap();
        let bound = compile(&f, 7).params.len();
        assert!(bound <= leaf_parameters(&f), "{leaf}: {bound}");
    }
}
