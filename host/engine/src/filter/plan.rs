//! How a filter is answered: in one SQL statement when it fits SQLite's
//! limits (the usual case), otherwise condition by condition.
//!
//! SQLite refuses a statement with more than 32,766 parameters, an
//! expression nested more than 1,000 deep (a flat `a AND b AND ...` of
//! 1,000 terms is that deep) or more than 500 terms in one compound
//! `SELECT`. A filter within [`STATEMENT`]'s limits stays well inside all
//! three. A larger one is evaluated one condition at a time, each by a
//! small statement prepared once per shape, and the record sets combined
//! in memory ([`RecordSet`]): its cost is that of looking each condition up
//! in the indexes, with no limit on how many there are. (Grouping
//! conditions into larger statements was measured slower: SQLite builds a
//! temporary table per subquery per run.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Statement};

use super::documents::DocumentTests;
use super::normalize::normalize;
use super::sets::RecordSet;
use super::sql::{self, SqlCondition};
use super::{DocumentOp, Filter};
use crate::error::Result;

/// From this many document conditions in one `$and` / `$or` on, one pass
/// over the documents tests them all ([`DocumentTests`]) instead of one
/// full-text lookup each.
const DOCUMENT_PASS_MIN: usize = 32;

/// How large a filter one statement may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most clauses (conditions and `$and` / `$or` nodes).
    pub nodes: usize,
    /// Most levels of `$and` / `$or`.
    pub depth: usize,
    /// Most parameters.
    pub parameters: usize,
}

/// The limits Prism uses: the deepest expression they allow is about 300
/// (nodes plus the few levels each condition's subquery adds), the largest
/// compound `SELECT` 256 terms, and at most 256 x (2 + 64) parameters.
pub const STATEMENT: Limits = Limits {
    nodes: 256,
    depth: 24,
    parameters: 20_000,
};

/// What a filter became.
#[derive(Debug)]
pub enum Plan {
    /// A filter (equivalent to the one given) small enough for one statement.
    Filter(Filter),
    /// The records of the collection that match.
    Records(RecordSet),
}

/// Simplify `filter` and, if it is too large for one statement, evaluate it
/// against collection `coll`. The caller should hold a read transaction so
/// that the parts see one snapshot.
pub fn plan(conn: &Connection, filter: &Filter, coll: i64) -> Result<Plan> {
    plan_within(conn, filter, coll, STATEMENT)
}

/// [`plan`] with other limits (tests evaluate small filters with tiny ones).
pub fn plan_within(conn: &Connection, filter: &Filter, coll: i64, limits: Limits) -> Result<Plan> {
    let filter = normalize(filter);
    if fits(&filter, limits) {
        return Ok(Plan::Filter(filter));
    }
    let evaluator = Evaluator {
        conn,
        coll,
        statements: RefCell::new(HashMap::new()),
    };
    evaluator.eval(&filter, None).map(Plan::Records)
}

/// Whether `filter` fits one statement. Stops counting at the limits, so a
/// filter of a million clauses costs no more to measure than a small one.
fn fits(filter: &Filter, limits: Limits) -> bool {
    fn measure(filter: &Filter, depth: usize, left: &mut Limits) -> Option<()> {
        left.nodes = left.nodes.checked_sub(1)?;
        left.parameters = left.parameters.checked_sub(sql::leaf_parameters(filter))?;
        if let Filter::And(children) | Filter::Or(children) = filter {
            if depth >= left.depth {
                return None;
            }
            for child in children {
                measure(child, depth + 1, left)?;
            }
        }
        Some(())
    }
    let mut left = limits;
    measure(filter, 1, &mut left).is_some()
}

/// The document conditions among `children` when there are enough of them
/// for [`DocumentTests`], and the other children.
fn split_documents(children: &[Filter]) -> (Vec<&DocumentOp>, Vec<&Filter>) {
    let documents = children
        .iter()
        .filter(|c| matches!(c, Filter::Document(_)))
        .count();
    if documents < DOCUMENT_PASS_MIN {
        return (Vec::new(), children.iter().collect());
    }
    let mut ops = Vec::with_capacity(documents);
    let mut others = Vec::with_capacity(children.len() - documents);
    for child in children {
        match child {
            Filter::Document(op) => ops.push(op),
            other => others.push(other),
        }
    }
    (ops, others)
}

/// A JSON array of row ids, for `json_each` (which reads integers exactly).
fn json_ids(ids: &[i64]) -> String {
    let mut list = String::with_capacity(ids.len() * 8 + 2);
    list.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str(&id.to_string());
    }
    list.push(']');
    list
}

/// A condition on `records r` selecting `set`.
pub fn membership(set: &RecordSet) -> SqlCondition {
    let (ids, negate) = match set {
        RecordSet::Only(ids) => (ids, ""),
        RecordSet::AllBut(ids) => (ids, "NOT "),
    };
    SqlCondition {
        sql: format!("r.rowid {negate}IN (SELECT value FROM json_each(?))"),
        params: vec![SqlValue::Text(json_ids(ids))],
    }
}

struct Evaluator<'a> {
    conn: &'a Connection,
    coll: i64,
    /// Statements by their SQL, prepared once per evaluation: thousands of
    /// conditions come in a few shapes.
    statements: RefCell<HashMap<String, Statement<'a>>>,
}

impl Evaluator<'_> {
    /// The records matching `filter`; with `within`, exact among those
    /// records only (outside them the result may hold anything, so callers
    /// intersect it with `within`).
    fn eval(&self, filter: &Filter, within: Option<&[i64]>) -> Result<RecordSet> {
        match filter {
            Filter::And(children) => self.conjunction(children, within),
            Filter::Or(children) => self.disjunction(children, within),
            leaf => self.leaf(leaf, within),
        }
    }

    fn conjunction(&self, children: &[Filter], within: Option<&[i64]>) -> Result<RecordSet> {
        let (documents, others) = split_documents(children);
        // Conditions the indexes answer come first; those that read
        // documents then read only the records still in.
        let (scanning, indexed): (Vec<&Filter>, Vec<&Filter>) =
            others.into_iter().partition(|child| sql::scans(child));
        let mut parts = Vec::with_capacity(indexed.len());
        for child in indexed {
            let part = self.eval(child, within)?;
            if part.is_empty() {
                return Ok(part);
            }
            parts.push(part);
        }
        let mut found = RecordSet::intersection(parts);
        if !documents.is_empty() {
            let restriction = match &found {
                RecordSet::Only(ids) => Some(ids.as_slice()),
                RecordSet::AllBut(_) => within,
            };
            let part = self.document_pass(&documents, true, restriction)?;
            found = RecordSet::intersection(vec![found, part]);
        }
        for child in scanning {
            let restriction = match &found {
                RecordSet::Only(ids) => Some(ids.as_slice()),
                RecordSet::AllBut(_) => within,
            };
            let part = self.eval(child, restriction)?;
            found = RecordSet::intersection(vec![found, part]);
            if found.is_empty() {
                break;
            }
        }
        Ok(found)
    }

    fn disjunction(&self, children: &[Filter], within: Option<&[i64]>) -> Result<RecordSet> {
        let (documents, others) = split_documents(children);
        let mut parts = Vec::with_capacity(others.len() + 1);
        for child in others {
            let part = self.eval(child, within)?;
            if part.is_everything() {
                return Ok(part);
            }
            parts.push(part);
        }
        if !documents.is_empty() {
            parts.push(self.document_pass(&documents, false, within)?);
        }
        Ok(RecordSet::union(parts))
    }

    /// The records (among `within`) whose document passes all (for a
    /// `conjunction`) or any of `ops`, in one pass over the documents.
    fn document_pass(
        &self,
        ops: &[&DocumentOp],
        conjunction: bool,
        within: Option<&[i64]>,
    ) -> Result<RecordSet> {
        let tests = DocumentTests::new(ops, conjunction)?;
        let mut sql = String::from("SELECT r.pk, r.document FROM records r WHERE r.coll = ?");
        let mut params = vec![SqlValue::Integer(self.coll)];
        if let Some(ids) = within {
            sql.push_str(" AND r.rowid IN (SELECT value FROM json_each(?))");
            params.push(SqlValue::Text(json_ids(ids)));
        }
        let mut statement = self.conn.prepare(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let mut ids = Vec::new();
        while let Some(row) = rows.next()? {
            let document = row
                .get_ref(1)?
                .as_str_or_null()
                .map_err(rusqlite::Error::from)?;
            if tests.passes(document) {
                ids.push(row.get(0)?);
            }
        }
        Ok(RecordSet::only(ids))
    }

    /// One metadata or document condition.
    fn leaf(&self, leaf: &Filter, within: Option<&[i64]>) -> Result<RecordSet> {
        if let Some((set, negated)) = sql::compile_metadata_set(leaf, self.coll) {
            let found = self.select(&set.sql, set.params)?;
            return Ok(if negated { found.complement() } else { found });
        }
        // A negated document condition is compiled as NOT of the positive
        // one; answer it as the positive one's complement.
        let positive = match leaf {
            Filter::Document(DocumentOp::NotContains(s)) => {
                Some(Filter::Document(DocumentOp::Contains(s.clone())))
            }
            Filter::Document(DocumentOp::NotRegex(s)) => {
                Some(Filter::Document(DocumentOp::Regex(s.clone())))
            }
            _ => None,
        };
        if let Some(positive) = positive {
            return Ok(self.leaf(&positive, within)?.complement());
        }
        let mut sql = String::from("SELECT r.pk FROM records r WHERE r.coll = ?");
        let mut params = vec![SqlValue::Integer(self.coll)];
        // Only worth it for a condition that would read every document.
        if let Some(ids) = within.filter(|_| sql::scans(leaf)) {
            sql.push_str(" AND r.rowid IN (SELECT value FROM json_each(?))");
            params.push(SqlValue::Text(json_ids(ids)));
        }
        let cond = sql::compile(leaf, self.coll);
        sql.push_str(" AND ");
        sql.push_str(&cond.sql);
        params.extend(cond.params);
        self.select(&sql, params)
    }

    fn select(&self, sql: &str, params: Vec<SqlValue>) -> Result<RecordSet> {
        let mut statements = self.statements.borrow_mut();
        let statement = match statements.entry(sql.to_string()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.conn.prepare(sql)?),
        };
        let ids = statement
            .query_map(rusqlite::params_from_iter(params), |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(RecordSet::only(ids))
    }
}

#[cfg(test)]
mod tests;
