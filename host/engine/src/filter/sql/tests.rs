//! Filters compiled to SQL and run against a real (in-memory) store.

use super::*;
use crate::filter::{parse_where, parse_where_document};
use crate::store::schema;
use rusqlite::Connection;
use serde_json::{Value, json};

/// An in-memory store holding the records the filter tests run against.
fn fixture() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    crate::store::register_functions(&conn).unwrap();
    conn.execute_batch(
        "INSERT INTO tenants(name) VALUES ('t');
         INSERT INTO databases(id, name, tenant) VALUES ('d', 'd', 't');
         INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (7, 'c', 'c', 'd', '{}');",
    )
    .unwrap();
    let records: [(&str, Option<&str>, Value); 7] = [
        (
            "int1",
            Some("hello world"),
            json!({"n": 1, "s": "a", "arr": [1, 2]}),
        ),
        (
            "float1",
            Some("Hello there"),
            json!({"n": 1.0, "s": "b", "arr": ["x"]}),
        ),
        ("float15", Some("abc\"def"), json!({"n": 1.5})),
        ("booltrue", None, json!({"n": true, "s": "a"})),
        ("str", Some("wo"), json!({"n": "1"})),
        ("nometa", Some("world"), Value::Null),
        ("big", Some("zzz"), json!({"n": 100, "arr": [true]})),
    ];
    for (i, (id, doc, meta)) in records.iter().enumerate() {
        let rowid = i as i64 + 1;
        conn.execute(
            "INSERT INTO records(rowid, coll, id, slot, document) VALUES (?1, 7, ?2, ?1, ?3)",
            rusqlite::params![rowid, id, doc],
        )
        .unwrap();
        if let Some(map) = meta.as_object() {
            for row in crate::validate::indexed_values(map) {
                conn.execute(
                    "INSERT INTO record_metadata(rec, coll, key, value, kind, in_array) VALUES (?1, 7, ?2, ?3, ?4, ?5)",
                    rusqlite::params![rowid, row.key, sql_value(&row.value), row.value.kind(), row.in_array],
                )
                .unwrap();
            }
        }
    }
    conn
}

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
