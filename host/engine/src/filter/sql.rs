//! [`Filter`] → a SQL condition on `records r`, answered from the metadata
//! index (`record_metadata`) and the trigram full-text index (`records_fts`,
//! see [`document_index`]) so that SQLite, not a Rust loop, narrows large
//! collections.

use rusqlite::types::Value as SqlValue;

use super::document_index::{self, MATCHING_RECORDS};
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

/// Lists up to this long are bound value by value, as SQLite plans best;
/// longer ones go in one JSON parameter, so no list meets SQLite's limit on
/// parameters per statement (32,766).
pub const INLINE_LIST_MAX: usize = 64;

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

/// For a metadata condition: a `SELECT` of the records with an entry that
/// satisfies its comparison, from the metadata index alone, and whether the
/// condition selects the other records instead (`$ne`, `$nin` and
/// `$not_contains` are compiled as `NOT IN` that same `SELECT`).
pub fn compile_metadata_set(filter: &Filter, coll: i64) -> Option<(SqlCondition, bool)> {
    let Filter::Metadata { key, op } = filter else {
        return None;
    };
    let mut out = SqlCondition::default();
    Compiler {
        coll,
        out: &mut out,
        bare: true,
    }
    .metadata(key, op);
    let negated = matches!(
        op,
        MetadataOp::Ne(_) | MetadataOp::Nin(_) | MetadataOp::NotContains(_)
    );
    Some((out, negated))
}

/// Whether the compiled condition of `filter` reads every document of the
/// collection: a substring too short for the trigram index, or a pattern
/// without literals to narrow it by.
pub fn scans(filter: &Filter) -> bool {
    match filter {
        Filter::And(children) | Filter::Or(children) => children.iter().any(scans),
        Filter::Metadata { .. } => false,
        Filter::Document(DocumentOp::Contains(needle) | DocumentOp::NotContains(needle)) => {
            !fts_searchable(needle)
        }
        Filter::Document(DocumentOp::Regex(pattern) | DocumentOp::NotRegex(pattern)) => {
            required_prefixes(pattern).is_none()
        }
    }
}

/// How many parameters the compiled condition of one leaf (a metadata or
/// document condition) binds, at most; 0 for `$and` and `$or` themselves.
pub fn leaf_parameters(filter: &Filter) -> usize {
    match filter {
        Filter::And(_) | Filter::Or(_) => 0,
        // The collection, the key, and the value or values.
        Filter::Metadata {
            op: MetadataOp::In(values) | MetadataOp::Nin(values),
            ..
        } if values.len() <= INLINE_LIST_MAX => 2 + values.len(),
        Filter::Metadata { .. } => 3,
        // The full-text prefilter and the pattern or needle.
        Filter::Document(_) => 2,
    }
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
                if values.len() <= INLINE_LIST_MAX {
                    self.push(" IN (");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            self.push(", ");
                        }
                        self.param(sql_value(v));
                    }
                    self.push(")");
                } else {
                    self.push(" IN (SELECT value FROM json_each(");
                    self.param(SqlValue::Text(json_list(values)));
                    self.push("))");
                }
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

    /// `r.rowid IN (records with a chunk matching any of `phrases`)`.
    fn fts_lookup(&mut self, phrases: &[&str]) {
        let query: Vec<String> = phrases.iter().map(|p| fts_phrase(p)).collect();
        self.push("r.rowid IN (");
        self.push(MATCHING_RECORDS);
        self.param(SqlValue::Text(query.join(" OR ")));
        self.push(")");
    }

    fn instr(&mut self, needle: &str) {
        self.push("coalesce(instr(r.document, ");
        self.param(SqlValue::Text(needle.to_string()));
        self.push("), 0) > 0");
    }

    fn contains(&mut self, needle: &str) {
        if !fts_searchable(needle) {
            self.instr(needle);
        } else if document_index::exact(needle) {
            self.fts_lookup(&[needle]);
        } else {
            // Longer than a chunk's overlap: the index finds the documents
            // with its start, the document itself says whether all follows.
            self.push("(");
            self.fts_lookup(&[document_index::probe(needle)]);
            self.push(" AND ");
            self.instr(needle);
            self.push(")");
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
                    let phrases: Vec<&str> = prefixes.iter().map(String::as_str).collect();
                    self.fts_lookup(&phrases);
                    self.push(" AND ");
                }
                self.push("prism_regexp(");
                self.param(SqlValue::Text(pattern.clone()));
                self.push(", r.document))");
            }
        }
    }
}

/// `values` as a JSON array whose elements `json_each` yields as SQLite
/// stores them ([`sql_value`]): text, integers, reals (serde_json writes the
/// shortest text that reads back as the same double, and SQLite reads it back
/// exactly), and bools as 0 and 1. Sorted and without repeats, which makes
/// SQLite's lookup table for `IN` quicker to build.
fn json_list(values: &[ScalarValue]) -> String {
    let mut sorted: Vec<&ScalarValue> = values.iter().collect();
    sorted.sort_by(|a, b| match (a, b) {
        (ScalarValue::Str(a), ScalarValue::Str(b)) => a.cmp(b),
        _ => number(a).total_cmp(&number(b)),
    });
    sorted.dedup();
    let mut json = Vec::with_capacity(values.len() * 8 + 2);
    json.push(b'[');
    for (i, value) in sorted.into_iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        // Writing to a Vec cannot fail, and every value here has a JSON form.
        let _ = match value {
            ScalarValue::Str(s) => serde_json::to_writer(&mut json, s),
            ScalarValue::Int(n) => serde_json::to_writer(&mut json, n),
            ScalarValue::Float(f) => serde_json::to_writer(&mut json, f),
            ScalarValue::Bool(b) => serde_json::to_writer(&mut json, &u8::from(*b)),
        };
    }
    json.push(b']');
    String::from_utf8(json).unwrap_or_default()
}

/// A number's value for ordering only (a list holds one class of values).
fn number(value: &ScalarValue) -> f64 {
    match value {
        ScalarValue::Int(n) => *n as f64,
        ScalarValue::Float(f) => *f,
        ScalarValue::Bool(b) => f64::from(u8::from(*b)),
        ScalarValue::Str(_) => 0.0,
    }
}

/// At most this many alternative literals go into one full-text query.
const MAX_PREFIXES: usize = 32;

/// Literals one of which starts every match of `pattern`, when there are few
/// and each is long enough for the trigram index; `None` otherwise. A
/// literal longer than the index answers exactly is cut to its
/// [`document_index::probe`]: every match still starts with one of them.
fn required_prefixes(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > MAX_PREFIXES {
        return None;
    }
    let mut prefixes: Vec<String> = literals
        .iter()
        .map(|l| {
            let text = document_index::probe(std::str::from_utf8(l.as_bytes()).ok()?);
            fts_searchable(text).then(|| text.to_string())
        })
        .collect::<Option<_>>()?;
    prefixes.sort_unstable();
    prefixes.dedup();
    Some(prefixes)
}

/// Whether the trigram index can look `needle` up: it has a trigram, and no
/// NUL, which ends an FTS5 query string early ("unterminated string").
fn fts_searchable(needle: &str) -> bool {
    needle.chars().count() >= TRIGRAM && !needle.contains('\0')
}

/// An FTS5 phrase that matches `needle` literally: the trigram tokenizer turns
/// a phrase into consecutive trigrams, i.e. a substring test.
fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
