//! Rewrites a parsed [`Filter`] into an equivalent, smaller one before it is
//! evaluated: clients build long `$or` lists of `$eq` on one key (and long
//! `$and` lists of `$ne`), and nested `$and`s of `$and`s, where one `$in` /
//! `$nin` or one flat list says the same in a fraction of the SQL.
//!
//! Runs after the schema check, which must see the clauses as written.

use std::collections::HashMap;

use super::{Filter, MetadataOp};
use crate::validate::ScalarValue;

/// The value types a key's comparisons are split by: one `$in` list may hold
/// values of one class only, and numbers compare across int and float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Str,
    Number,
    Bool,
}

fn class(value: &ScalarValue) -> Class {
    match value {
        ScalarValue::Str(_) => Class::Str,
        ScalarValue::Int(_) | ScalarValue::Float(_) => Class::Number,
        ScalarValue::Bool(_) => Class::Bool,
    }
}

/// The equivalent simplified filter.
pub fn normalize(filter: &Filter) -> Filter {
    match filter {
        Filter::And(children) => junction(true, children),
        Filter::Or(children) => junction(false, children),
        leaf => leaf.clone(),
    }
}

/// An `$and` (`conjunction`) or `$or` of `children`, flattened and merged.
fn junction(conjunction: bool, children: &[Filter]) -> Filter {
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match (normalize(child), conjunction) {
            // (a AND (b AND c)) is (a AND b AND c); the same for OR.
            (Filter::And(grand), true) | (Filter::Or(grand), false) => flat.extend(grand),
            (other, _) => flat.push(other),
        }
    }
    let mut merged = merge_lists(conjunction, flat);
    if merged.len() == 1 {
        return merged.pop().unwrap_or(Filter::And(Vec::new()));
    }
    if conjunction {
        Filter::And(merged)
    } else {
        Filter::Or(merged)
    }
}

/// The values a child contributes to a merged list: in an `$or`, `$eq` and
/// `$in` (k = a OR k IN (b, c) is k IN (a, b, c)); in an `$and`, `$ne` and
/// `$nin` (k != a AND k NOT IN (b, c) is k NOT IN (a, b, c)).
fn list_values(conjunction: bool, filter: &Filter) -> Option<(&str, &[ScalarValue])> {
    let Filter::Metadata { key, op } = filter else {
        return None;
    };
    let values = match (op, conjunction) {
        (MetadataOp::Eq(v), false) | (MetadataOp::Ne(v), true) => std::slice::from_ref(v),
        (MetadataOp::In(vs), false) | (MetadataOp::Nin(vs), true) => vs.as_slice(),
        _ => return None,
    };
    Some((key, values))
}

/// The key and values of a child [`list_values`] took, moved out of it.
fn into_list(filter: Filter) -> Result<(String, Vec<ScalarValue>), Filter> {
    match filter {
        Filter::Metadata {
            key,
            op: MetadataOp::Eq(v) | MetadataOp::Ne(v),
        } => Ok((key, vec![v])),
        Filter::Metadata {
            key,
            op: MetadataOp::In(vs) | MetadataOp::Nin(vs),
        } => Ok((key, vs)),
        other => Err(other),
    }
}

/// Merge the children [`list_values`] takes on one key and class into one
/// list, at the place of the first of them; the other children keep their
/// order. Values are moved, not copied: lists may be long.
fn merge_lists(conjunction: bool, children: Vec<Filter>) -> Vec<Filter> {
    let mut slot_of: HashMap<(&str, Class), usize> = HashMap::new();
    let mut members: Vec<usize> = Vec::new();
    let joins: Vec<Option<usize>> = children
        .iter()
        .map(|child| {
            let (key, values) = list_values(conjunction, child)?;
            let slot = *slot_of.entry((key, class(&values[0]))).or_insert_with(|| {
                members.push(0);
                members.len() - 1
            });
            members[slot] += 1;
            Some(slot)
        })
        .collect();
    drop(slot_of);
    if members.iter().all(|&n| n < 2) {
        return children;
    }
    // Each merged list: its key, its values, and where it goes in `out`.
    let mut merged: Vec<Option<(String, Vec<ScalarValue>, usize)>> = vec![None; members.len()];
    let mut out: Vec<Option<Filter>> = Vec::with_capacity(children.len());
    for (child, join) in children.into_iter().zip(joins) {
        let slot = match join {
            Some(slot) if members[slot] >= 2 => slot,
            _ => {
                out.push(Some(child));
                continue;
            }
        };
        let (key, values) = match into_list(child) {
            Ok(list) => list,
            Err(child) => {
                out.push(Some(child));
                continue;
            }
        };
        match &mut merged[slot] {
            Some((_, list, _)) => list.extend(values),
            empty => {
                *empty = Some((key, values, out.len()));
                out.push(None);
            }
        }
    }
    for (key, values, at) in merged.into_iter().flatten() {
        let op = if conjunction {
            MetadataOp::Nin(values)
        } else {
            MetadataOp::In(values)
        };
        out[at] = Some(Filter::Metadata { key, op });
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_where;
    use serde_json::{Value, json};

    fn n(v: Value) -> Filter {
        normalize(&parse_where(&v).unwrap().unwrap())
    }

    fn p(v: Value) -> Filter {
        parse_where(&v).unwrap().unwrap()
    }

    #[test]
    fn nested_junctions_of_one_kind_flatten() {
        assert_eq!(
            n(json!({"$and": [{"a": 1}, {"$and": [{"b": 2}, {"$and": [{"c": 3}]}]}]})),
            p(json!({"$and": [{"a": 1}, {"b": 2}, {"c": 3}]}))
        );
        assert_eq!(
            n(json!({"$or": [{"$and": [{"a": 1}, {"b": 2}]}, {"$or": [{"c": {"$gt": 3}}]}]})),
            p(json!({"$or": [{"$and": [{"a": 1}, {"b": 2}]}, {"c": {"$gt": 3}}]}))
        );
        assert_eq!(n(json!({"$and": [{"a": 1}]})), p(json!({"a": 1})));
        assert_eq!(n(json!({"$and": []})), Filter::And(vec![]));
        assert_eq!(n(json!({"$or": []})), Filter::Or(vec![]));
    }

    #[test]
    fn equalities_on_one_key_in_an_or_become_one_in() {
        assert_eq!(
            n(
                json!({"$or": [{"k": 1}, {"x": "y"}, {"k": {"$in": [2, 3]}}, {"k": "s"}, {"k": {"$eq": 4.5}}]})
            ),
            Filter::Or(vec![
                Filter::Metadata {
                    key: "k".into(),
                    op: MetadataOp::In(vec![
                        ScalarValue::Int(1),
                        ScalarValue::Int(2),
                        ScalarValue::Int(3),
                        ScalarValue::Float(4.5)
                    ])
                },
                p(json!({"x": "y"})),
                p(json!({"k": "s"})),
            ])
        );
    }

    #[test]
    fn inequalities_on_one_key_in_an_and_become_one_nin() {
        assert_eq!(
            n(json!({"$and": [{"k": {"$ne": true}}, {"k": {"$nin": [false]}}, {"k": {"$ne": 1}}]})),
            Filter::And(vec![
                p(json!({"k": {"$nin": [true, false]}})),
                p(json!({"k": {"$ne": 1}})),
            ])
        );
    }

    #[test]
    fn lists_are_not_merged_where_the_meaning_would_change() {
        for unchanged in [
            // k = 1 AND k = 2 is not k IN (1, 2).
            json!({"$and": [{"k": 1}, {"k": 2}]}),
            // k != 1 OR k != 2 is not k NOT IN (1, 2).
            json!({"$or": [{"k": {"$ne": 1}}, {"k": {"$ne": 2}}]}),
            json!({"$or": [{"k": {"$contains": 1}}, {"k": {"$contains": 2}}]}),
            json!({"$or": [{"k": 1}, {"j": 1}]}),
        ] {
            assert_eq!(n(unchanged.clone()), p(unchanged.clone()), "{unchanged}");
        }
    }
}
