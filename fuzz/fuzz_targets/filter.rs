//! The filter language, end to end: any JSON as a `where` clause, as a
//! `where_document` clause, and (a two-element array) as both. A clause the
//! parser refuses must be refused by the engine as an invalid argument; one it
//! accepts must select, on a fixed set of records, exactly what the reference
//! evaluator (`prism_fuzz::reference_match`) selects, by every route:
//! `Engine::get_records`, `Engine::query` (exact below the graph threshold,
//! so it must return every match), and, for filters that fit one SQL
//! statement, the SQL compiler and the record-set compiler run directly.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prism_engine::filter::{Filter, parse_where, parse_where_document, sql};
use prism_engine::types::{Include, RecordBatch, WriteKind};
use prism_engine::{Engine, EngineError, GetRequest, NewCollection, QueryRequest, RecordSelector};
use prism_fuzz::{DATABASE, TENANT, reference_match, scratch_engine};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Map, Value, json};

/// A fixture record: id, document, metadata.
type Row = (String, Option<String>, Option<Map<String, Value>>);

struct Fixture {
    engine: Engine,
    collection: uuid::Uuid,
    /// The collection's `seq`, which the SQL compilers take.
    seq: i64,
    /// A connection of our own, to run the compilers' SQL directly.
    conn: Connection,
    /// In insertion order.
    records: Vec<Row>,
}

// `Connection` is not `Sync`; libFuzzer calls the target from one thread.
struct Shared(Fixture);
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

fn records() -> Vec<(&'static str, Option<&'static str>, Value)> {
    vec![
        // The engine's own filter tests' records...
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
        // ...and edges: extreme and inexact numbers, empty strings, non-ASCII,
        // a NUL inside a document, FTS syntax characters, a sparse vector.
        (
            "huge",
            Some("ümlaut ñ 日本語 🦀 AND OR NOT * ^ \"q\""),
            json!({"n": i64::MAX, "f": -0.0, "s": ""}),
        ),
        (
            "edge",
            Some(""),
            json!({"n": 9007199254740993_i64, "f": 1e300, "arr": [1.5, -2.0], "s": "日本"}),
        ),
        (
            "nul",
            Some("a\u{0}b needle"),
            json!({"n": i64::MIN, "b": false, "arr": ["", "a"], "s": "a"}),
        ),
        (
            "sparse",
            Some("Sparse vector NEAR(a b)"),
            json!({"sv": {"#type": "sparse_vector", "indices": [1], "values": [0.5]}, "n": 1e19}),
        ),
    ]
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Shared> = OnceLock::new();
    &FIXTURE
        .get_or_init(|| {
            let engine = scratch_engine("filter");
            let collection = engine
                .create_collection(
                    TENANT,
                    DATABASE,
                    NewCollection {
                        name: "fuzz".into(),
                        ..Default::default()
                    },
                )
                .expect("collection")
                .id;
            let rows = records();
            let batch = RecordBatch {
                ids: rows.iter().map(|r| r.0.to_string()).collect(),
                embeddings: Some((0..rows.len()).map(|i| Some(vec![i as f32, 1.0])).collect()),
                documents: Some(rows.iter().map(|r| r.1.map(str::to_string)).collect()),
                uris: None,
                metadatas: Some(rows.iter().map(|r| r.2.as_object().cloned()).collect()),
            };
            engine
                .write_records(TENANT, DATABASE, collection, WriteKind::Add, &batch)
                .expect("fixture records");
            let conn = Connection::open_with_flags(
                engine.data_dir().join(prism_engine::DB_FILE),
                OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .expect("own connection");
            conn.create_scalar_function(
                "prism_regexp",
                2,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
                |ctx| {
                    let pattern: String = ctx.get(0)?;
                    let text: Option<String> = ctx.get(1)?;
                    let re = regex::Regex::new(&pattern)
                        .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                    Ok(text.is_some_and(|t| re.is_match(&t)))
                },
            )
            .expect("prism_regexp");
            let seq = conn
                .query_row("SELECT seq FROM collections WHERE name = 'fuzz'", [], |r| {
                    r.get(0)
                })
                .expect("seq");
            Shared(Fixture {
                engine,
                collection,
                seq,
                conn,
                records: rows
                    .into_iter()
                    .map(|(id, doc, meta)| {
                        (
                            id.to_string(),
                            doc.map(str::to_string),
                            meta.as_object().cloned(),
                        )
                    })
                    .collect(),
            })
        })
        .0
}

fn run_ids(conn: &Connection, sql: &str, params: Vec<rusqlite::types::Value>) -> Vec<String> {
    let shown = &sql[..sql.floor_char_boundary(2000)];
    let mut stmt = conn
        .prepare(sql)
        .unwrap_or_else(|e| panic!("compiled SQL does not prepare: {e}\n{shown}"));
    stmt.query_map(rusqlite::params_from_iter(params), |row| row.get(0))
        .unwrap_or_else(|e| panic!("compiled SQL fails: {e}\n{shown}"))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("compiled SQL fails: {e}\n{shown}"))
}

/// `(conditions, depth)` of a filter.
fn size(filter: &Filter) -> (usize, usize) {
    match filter {
        Filter::And(children) | Filter::Or(children) => children
            .iter()
            .map(size)
            .fold((0, 1), |(n, d), (cn, cd)| (n + cn, d.max(cd + 1))),
        _ => (1, 1),
    }
}

/// Filters small enough for one SQL statement whatever their shape:
/// SQLite allows 500 terms in a compound SELECT and expressions 1000 deep.
/// The engine answers larger ones in parts (`filter::plan`), which the
/// `get` and `query` checks cover.
fn fits_one_statement(filter: &Filter) -> bool {
    let (conditions, depth) = size(filter);
    conditions <= 400 && depth <= 100
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn check(fx: &Fixture, where_clause: Option<&Value>, where_document: Option<&Value>) {
    let selector = RecordSelector {
        ids: None,
        where_clause: where_clause.cloned(),
        where_document: where_document.cloned(),
        rows: None,
    };
    let got = fx.engine.get_records(
        TENANT,
        DATABASE,
        fx.collection,
        &GetRequest {
            selector: selector.clone(),
            limit: None,
            offset: 0,
            include: Include(vec![]),
        },
    );
    let parsed = where_clause.map(parse_where).transpose().and_then(|w| {
        Ok((
            w.flatten(),
            where_document.map(parse_where_document).transpose()?,
        ))
    });
    let (w, d) = match parsed {
        Ok(both) => both,
        Err(e) => {
            assert!(matches!(e, EngineError::InvalidArgument(_)), "{e:?}");
            match got {
                Err(EngineError::InvalidArgument(_)) => return,
                other => {
                    panic!("the parser refuses the clause ({e}), the engine answers {other:?}")
                }
            }
        }
    };
    let filter = Filter::and(w, d.flatten());
    let expected: Vec<String> = fx
        .records
        .iter()
        .filter(|(_, doc, meta)| {
            filter
                .as_ref()
                .is_none_or(|f| reference_match(f, doc.as_deref(), meta.as_ref()))
        })
        .map(|r| r.0.clone())
        .collect();

    let got: Vec<String> = got
        .unwrap_or_else(|e| panic!("get fails on a parsed filter {filter:?}: {e}"))
        .records
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(got, expected, "get_records, filter {filter:?}");

    if let Some(filter) = filter.as_ref().filter(|f| fits_one_statement(f)) {
        let cond = sql::compile(filter, fx.seq);
        let query = format!(
            "SELECT r.id FROM records r WHERE r.coll = {} AND {} ORDER BY r.pk",
            fx.seq, cond.sql
        );
        assert_eq!(
            run_ids(&fx.conn, &query, cond.params),
            expected,
            "SQL compiler, filter {filter:?}"
        );
        if let Some(set) = sql::compile_record_set(filter, fx.seq) {
            let query = format!(
                "SELECT r.id FROM records r WHERE r.pk IN ({}) ORDER BY r.pk",
                set.sql
            );
            assert_eq!(
                run_ids(&fx.conn, &query, set.params),
                expected,
                "record-set compiler, filter {filter:?}"
            );
        }
    }

    let hits = fx
        .engine
        .query(
            TENANT,
            DATABASE,
            fx.collection,
            &QueryRequest {
                embeddings: vec![vec![3.0, 1.0]],
                n_results: 1000,
                selector,
                include: Include(vec![]),
            },
        )
        .unwrap_or_else(|e| panic!("query fails on a parsed filter {filter:?}: {e}"))
        .hits;
    assert_eq!(hits.len(), 1);
    assert!(
        hits[0].windows(2).all(|w| w[0].1 <= w[1].1),
        "query hits out of order"
    );
    let found: Vec<String> = hits[0].iter().map(|(r, _)| r.id.clone()).collect();
    assert_eq!(sorted(found), sorted(expected), "query, filter {filter:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let fx = fixture();
    check(fx, Some(&value), None);
    check(fx, None, Some(&value));
    if let Value::Array(pair) = &value
        && let [w, d] = pair.as_slice()
    {
        check(fx, Some(w), Some(d));
    }
});
