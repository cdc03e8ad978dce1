//! [`Filter`] → a SQL condition on `records r`, answered from the metadata
//! index (`record_metadata`) and the trigram full-text index (`records_fts`)
//! so that SQLite, not a Rust loop, narrows large collections.

use rusqlite::types::Value as SqlValue;

use super::{DocumentOp, Filter, MetadataOp};
use crate::validate::{KIND_BOOL, KIND_FLOAT, KIND_INT, KIND_STR, ScalarValue};

/// A SQL boolean expression and its positional parameters.
#[derive(Debug, Default)]
pub struct SqlCondition {
    /// The expression, using `?` placeholders and the alias `r` for records.
    pub sql: String,
    /// Parameters in placeholder order.
    pub params: Vec<SqlValue>,
}

/// Trigram tokens need three characters; shorter needles use `instr`.
const TRIGRAM: usize = 3;

/// Compile `filter` for records of collection `coll`.
pub fn compile(filter: &Filter, coll: i64) -> SqlCondition {
    let mut out = SqlCondition::default();
    Compiler {
        coll,
        out: &mut out,
        bare: false,
    }
    .node(filter);
    out
}

/// For a filter only records with a matching metadata entry can pass (no
/// negations, no document conditions): a `SELECT` of the matching records'
/// row ids from the metadata index alone, without touching `records`.
pub fn compile_record_set(filter: &Filter, coll: i64) -> Option<SqlCondition> {
    let mut out = SqlCondition::default();
    Compiler {
        coll,
        out: &mut out,
        bare: true,
    }
    .record_set(filter)
    .then_some(out)
}

struct Compiler<'a> {
    coll: i64,
    out: &'a mut SqlCondition,
    /// Metadata conditions as bare `SELECT rec ...` (record-set mode).
    bare: bool,
}

fn kind_condition(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(_) => format!("kind = {KIND_STR}"),
        ScalarValue::Int(_) | ScalarValue::Float(_) => {
            format!("kind IN ({KIND_INT}, {KIND_FLOAT})")
        }
        ScalarValue::Bool(_) => format!("kind = {KIND_BOOL}"),
    }
}

/// The value as SQLite stores it in `record_metadata.value`.
pub fn sql_value(value: &ScalarValue) -> SqlValue {
    match value {
        ScalarValue::Str(s) => SqlValue::Text(s.clone()),
        ScalarValue::Int(i) => SqlValue::Integer(*i),
        ScalarValue::Float(f) => SqlValue::Real(*f),
        ScalarValue::Bool(b) => SqlValue::Integer(i64::from(*b)),
    }
}

impl Compiler<'_> {
    fn push(&mut self, sql: &str) {
        self.out.sql.push_str(sql);
    }

    fn param(&mut self, value: SqlValue) {
        self.out.sql.push('?');
        self.out.params.push(value);
    }

    fn node(&mut self, filter: &Filter) {
        match filter {
            Filter::And(children) | Filter::Or(children) if children.is_empty() => {
                self.push(if matches!(filter, Filter::And(_)) {
                    "1"
                } else {
                    "0"
                });
            }
            Filter::And(children) | Filter::Or(children) => {
                let joiner = if matches!(filter, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.node(child);
                }
                self.push(")");
            }
            Filter::Metadata { key, op } => self.metadata(key, op),
            Filter::Document(op) => self.document(op),
        }
    }

    /// Emit the filter as a compound `SELECT` of row ids; false (with the
    /// output unusable) when the filter is not a positive metadata filter.
    fn record_set(&mut self, filter: &Filter) -> bool {
        match filter {
            Filter::And(children) | Filter::Or(children) if !children.is_empty() => {
                let joiner = if matches!(filter, Filter::And(_)) {
                    " INTERSECT "
                } else {
                    " UNION "
                };
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    // Compound members cannot be parenthesised in SQLite.
                    self.push("SELECT * FROM (");
                    if !self.record_set(child) {
                        return false;
                    }
                    self.push(")");
                }
                true
            }
            Filter::Metadata {
                key,
                op:
                    op @ (MetadataOp::Eq(_)
                    | MetadataOp::Cmp(..)
                    | MetadataOp::In(_)
                    | MetadataOp::Contains(_)),
            } => {
                self.metadata(key, op);
                true
            }
            _ => false,
        }
    }

    /// `r.rowid [NOT] IN (SELECT rec FROM record_metadata WHERE ...)`, or in
    /// record-set mode `SELECT rec FROM record_metadata WHERE ...`.
    fn metadata_subquery(&mut self, negate: bool, key: &str, in_array: bool, kind: &str) {
        self.push(match (self.bare, negate) {
            (true, _) => "",
            (false, true) => "r.rowid NOT IN (",
            (false, false) => "r.rowid IN (",
        });
        self.push("SELECT rec FROM record_metadata WHERE coll = ");
        self.param(SqlValue::Integer(self.coll));
        self.push(" AND key = ");
        self.param(SqlValue::Text(key.to_string()));
        self.push(if in_array {
            " AND in_array = 1 AND "
        } else {
            " AND in_array = 0 AND "
        });
        self.push(kind);
        self.push(" AND value");
    }

    fn metadata(&mut self, key: &str, op: &MetadataOp) {
        match op {
            MetadataOp::Eq(v) | MetadataOp::Ne(v) => {
                self.metadata_subquery(
                    matches!(op, MetadataOp::Ne(_)),
                    key,
                    false,
                    &kind_condition(v),
                );
                self.push(" = ");
                self.param(sql_value(v));
            }
            MetadataOp::Cmp(ord, v) => {
                self.metadata_subquery(false, key, false, &kind_condition(v));
                self.push(" ");
                self.push(ord.sql());
                self.push(" ");
                self.param(sql_value(v));
            }
            MetadataOp::In(values) | MetadataOp::Nin(values) => {
                self.metadata_subquery(
                    matches!(op, MetadataOp::Nin(_)),
                    key,
                    false,
                    &kind_condition(&values[0]),
                );
                self.push(" IN (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.param(sql_value(v));
                }
                self.push(")");
            }
            MetadataOp::Contains(v) | MetadataOp::NotContains(v) => {
                self.metadata_subquery(
                    matches!(op, MetadataOp::NotContains(_)),
                    key,
                    true,
                    &kind_condition(v),
                );
                self.push(" = ");
                self.param(sql_value(v));
            }
        }
        if !self.bare {
            self.push(")");
        }
    }

    fn contains(&mut self, needle: &str) {
        if needle.chars().count() >= TRIGRAM {
            self.push("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ");
            self.param(SqlValue::Text(fts_phrase(needle)));
            self.push(")");
        } else {
            self.push("coalesce(instr(r.document, ");
            self.param(SqlValue::Text(needle.to_string()));
            self.push("), 0) > 0");
        }
    }

    fn document(&mut self, op: &DocumentOp) {
        match op {
            DocumentOp::Contains(needle) => self.contains(needle),
            DocumentOp::NotContains(needle) => {
                self.push("NOT (");
                self.contains(needle);
                self.push(")");
            }
            DocumentOp::Regex(pattern) | DocumentOp::NotRegex(pattern) => {
                if matches!(op, DocumentOp::NotRegex(_)) {
                    self.push("NOT ");
                }
                self.push("(");
                // Narrow with the trigram index first when every match must
                // start with one of a few literals, so SQLite does not run the
                // regex over every document.
                if let Some(prefixes) = required_prefixes(pattern) {
                    let query: Vec<String> = prefixes.iter().map(|p| fts_phrase(p)).collect();
                    self.push("r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ");
                    self.param(SqlValue::Text(query.join(" OR ")));
                    self.push(") AND ");
                }
                self.push("prism_regexp(");
                self.param(SqlValue::Text(pattern.clone()));
                self.push(", r.document))");
            }
        }
    }
}

/// At most this many alternative literals go into one full-text query.
const MAX_PREFIXES: usize = 32;

/// Literals one of which starts every match of `pattern`, when there are few
/// and each is long enough for the trigram index; `None` otherwise.
fn required_prefixes(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > MAX_PREFIXES {
        return None;
    }
    literals
        .iter()
        .map(|l| {
            let text = std::str::from_utf8(l.as_bytes()).ok()?;
            (text.chars().count() >= TRIGRAM).then(|| text.to_string())
        })
        .collect()
}

/// An FTS5 phrase that matches `needle` literally: the trigram tokenizer turns
/// a phrase into consecutive trigrams, i.e. a substring test.
fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
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
}
