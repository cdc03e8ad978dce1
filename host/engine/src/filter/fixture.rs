//! The small store the filter tests run against: seven records of one
//! collection (number 7) with every kind of metadata value and document.

use rusqlite::Connection;
use serde_json::{Value, json};

use super::sql::sql_value;
use crate::store::schema;

/// An in-memory store holding the records the filter tests run against.
pub fn fixture() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    crate::store::register_functions(&conn).unwrap();
    conn.execute_batch(
        "INSERT INTO tenants(name) VALUES ('t');
         INSERT INTO databases(id, name, tenant) VALUES ('d', 'd', 't');
         INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (7, 'c', 'c', 'd', '{}');",
    )
    .unwrap();
    for (i, (id, doc, meta)) in records().iter().enumerate() {
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
    // A record of another collection that matches much the same: no
    // filter of collection 7 may return it.
    conn.execute_batch(
        "INSERT INTO collections(seq, id, name, database_id, configuration) VALUES (8, 'o', 'o', 'd', '{}');
         INSERT INTO records(rowid, coll, id, slot, document) VALUES (100, 8, 'other', 0, 'hello world');
         INSERT INTO record_metadata(rec, coll, key, value, kind, in_array) VALUES (100, 8, 's', 'a', 0, 0);",
    )
    .unwrap();
    conn
}

/// The records of collection 7, in rowid order: id, document, metadata.
pub fn records() -> [(&'static str, Option<&'static str>, Value); 7] {
    [
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
    ]
}
