//! JSON → [`Filter`], with Chroma's rules and error messages.

use regex::Regex;
use serde_json::{Map, Value};

use super::{DocumentOp, Filter, MetadataOp, Ordering};
use crate::error::{EngineError, Result};
use crate::validate::ScalarValue;

/// Chroma answers every malformed clause with exactly "Invalid where clause";
/// Prism keeps that prefix (clients match on it) and says what is wrong.
fn invalid_where(detail: String) -> EngineError {
    EngineError::invalid(format!("Invalid where clause: {detail}"))
}

fn invalid_where_document(detail: String) -> EngineError {
    EngineError::invalid(format!("Invalid where document clause: {detail}"))
}

fn single_entry(
    map: &Map<String, Value>,
    err: fn(String) -> EngineError,
) -> Result<(&String, &Value)> {
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some(entry), None) => Ok(entry),
        _ => Err(err(format!(
            "expected exactly one operator or key, got {}",
            map.len()
        ))),
    }
}

const DOCUMENT_OPERATORS: [&str; 4] = ["$contains", "$not_contains", "$regex", "$not_regex"];

/// At most this many characters of a client's clause are quoted back in an
/// error: a malformed list of a million values must not come back whole.
const QUOTED_MAX: usize = 200;

fn clip(text: &str) -> String {
    match text.char_indices().nth(QUOTED_MAX) {
        None => text.to_string(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

fn shown(value: &Value) -> String {
    clip(&value.to_string())
}

/// Most levels of `$and` / `$or` in one clause. Every step over a filter
/// recurses once per level, so the depth must be bounded for the stack's
/// sake. A request body cannot reach it (its JSON may nest 128 deep, and
/// each level takes two), so only callers of the engine itself meet it.
pub const MAX_NESTING: usize = 100;

fn too_deep(err: fn(String) -> EngineError) -> EngineError {
    err(format!(
        "$and / $or nested deeper than {MAX_NESTING} levels"
    ))
}

/// Parse a `where` clause. `null` means no filter.
pub fn parse_where(value: &Value) -> Result<Option<Filter>> {
    match value {
        Value::Null => Ok(None),
        other => where_node(other, 0).map(Some),
    }
}

/// Parse a `where_document` clause. `null` means no filter.
pub fn parse_where_document(value: &Value) -> Result<Option<Filter>> {
    match value {
        Value::Null => Ok(None),
        other => document_node(other, 0).map(Some),
    }
}

fn where_node(value: &Value, depth: usize) -> Result<Filter> {
    let map = value
        .as_object()
        .ok_or_else(|| invalid_where(format!("expected an object, got {}", shown(value))))?;
    let (key, operand) = single_entry(map, invalid_where)?;
    match key.as_str() {
        "$and" | "$or" => {
            let items = operand
                .as_array()
                .ok_or_else(|| invalid_where(format!("{key} expects a list")))?;
            if depth >= MAX_NESTING {
                return Err(too_deep(invalid_where));
            }
            let children = items
                .iter()
                .map(|item| where_node(item, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok(if key == "$and" {
                Filter::And(children)
            } else {
                Filter::Or(children)
            })
        }
        "#document" => {
            let op = operand.as_object().and_then(|m| m.keys().next());
            if let Some(op) = op.filter(|op| !DOCUMENT_OPERATORS.contains(&op.as_str())) {
                return Err(EngineError::invalid(format!(
                    "Invalid where clause: #document supports only $contains, $not_contains, $regex and $not_regex, not {}",
                    clip(op)
                )));
            }
            document_condition(operand, invalid_where)
        }
        k if k.starts_with('$') => Err(invalid_where(format!("unknown operator {}", clip(k)))),
        _ => metadata_condition(key, operand),
    }
}

fn scalar(value: &Value, op: &str) -> Result<ScalarValue> {
    ScalarValue::from_json(value).ok_or_else(|| {
        invalid_where(format!(
            "{op} expects a string, number or bool, got {}",
            shown(value)
        ))
    })
}

fn scalar_list(value: &Value, op: &str) -> Result<Vec<ScalarValue>> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid_where(format!("{op} expects a list, got {}", shown(value))))?;
    if items.is_empty() {
        return Err(invalid_where(format!("{op} expects a non-empty list")));
    }
    let values = items
        .iter()
        .map(|v| scalar(v, op))
        .collect::<Result<Vec<_>>>()?;
    // Chroma's lists are typed: ints and floats do not mix.
    let first = &values[0];
    let homogeneous = values
        .iter()
        .all(|v| std::mem::discriminant(v) == std::mem::discriminant(first));
    if !homogeneous {
        return Err(invalid_where(format!(
            "{op} expects all values of one type"
        )));
    }
    Ok(values)
}

fn metadata_condition(key: &str, operand: &Value) -> Result<Filter> {
    let op = match operand {
        Value::Object(ops) => {
            let (name, arg) = single_entry(ops, invalid_where)?;
            match name.as_str() {
                "$eq" => MetadataOp::Eq(scalar(arg, name)?),
                "$ne" => MetadataOp::Ne(scalar(arg, name)?),
                "$gt" | "$gte" | "$lt" | "$lte" => {
                    let ord = match name.as_str() {
                        "$gt" => Ordering::Gt,
                        "$gte" => Ordering::Gte,
                        "$lt" => Ordering::Lt,
                        _ => Ordering::Lte,
                    };
                    let value = scalar(arg, name)?;
                    if !matches!(value, ScalarValue::Int(_) | ScalarValue::Float(_)) {
                        return Err(invalid_where(format!(
                            "{name} expects a number, got {}",
                            shown(arg)
                        )));
                    }
                    MetadataOp::Cmp(ord, value)
                }
                "$in" => MetadataOp::In(scalar_list(arg, name)?),
                "$nin" => MetadataOp::Nin(scalar_list(arg, name)?),
                "$contains" => MetadataOp::Contains(scalar(arg, name)?),
                "$not_contains" => MetadataOp::NotContains(scalar(arg, name)?),
                other => {
                    return Err(invalid_where(format!(
                        "unsupported operator {} on metadata key {}",
                        clip(other),
                        clip(key)
                    )));
                }
            }
        }
        scalar_value => MetadataOp::Eq(scalar(scalar_value, "$eq")?),
    };
    Ok(Filter::Metadata {
        key: key.to_string(),
        op,
    })
}

fn document_node(value: &Value, depth: usize) -> Result<Filter> {
    let map = value.as_object().ok_or_else(|| {
        invalid_where_document(format!("expected an object, got {}", shown(value)))
    })?;
    let (key, operand) = single_entry(map, invalid_where_document)?;
    match key.as_str() {
        "$and" | "$or" => {
            let items = operand
                .as_array()
                .ok_or_else(|| invalid_where_document(format!("{key} expects a list")))?;
            if depth >= MAX_NESTING {
                return Err(too_deep(invalid_where_document));
            }
            let children = items
                .iter()
                .map(|item| document_node(item, depth + 1))
                .collect::<Result<Vec<_>>>()?;
            Ok(if key == "$and" {
                Filter::And(children)
            } else {
                Filter::Or(children)
            })
        }
        _ => document_condition(value, invalid_where_document),
    }
}

/// `{"$contains": "x"}` and friends, for `where_document` and `#document`.
fn document_condition(value: &Value, err: fn(String) -> EngineError) -> Result<Filter> {
    let map = value
        .as_object()
        .ok_or_else(|| err(format!("expected an operator object, got {}", shown(value))))?;
    let (name, arg) = single_entry(map, err)?;
    let text = arg
        .as_str()
        .ok_or_else(|| {
            err(format!(
                "{} expects a string, got {}",
                clip(name),
                shown(arg)
            ))
        })?
        .to_string();
    let op = match name.as_str() {
        "$contains" => DocumentOp::Contains(text),
        "$not_contains" => DocumentOp::NotContains(text),
        "$regex" | "$not_regex" => {
            // Chroma's message carries its typo; clients match on it.
            Regex::new(&text)
                .map_err(|e| EngineError::invalid(format!("Regex syntax errror: {e}")))?;
            if name == "$regex" {
                DocumentOp::Regex(text)
            } else {
                DocumentOp::NotRegex(text)
            }
        }
        other => {
            return Err(err(format!(
                "unsupported document operator {}",
                clip(other)
            )));
        }
    };
    Ok(Filter::Document(op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(v: Value) -> Result<Option<Filter>> {
        parse_where(&v)
    }

    #[test]
    fn shorthand_is_eq() {
        assert_eq!(
            w(json!({"a": 1})).unwrap().unwrap(),
            Filter::Metadata {
                key: "a".into(),
                op: MetadataOp::Eq(ScalarValue::Int(1))
            }
        );
        assert_eq!(w(Value::Null).unwrap(), None);
    }

    #[test]
    fn every_operator_parses() {
        for op in ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"] {
            assert!(w(json!({"a": {op: 2.5}})).is_ok(), "{op}");
        }
        assert!(w(json!({"a": {"$in": [1, 2]}})).is_ok());
        assert!(
            w(json!({"a": {"$in": [1, 2.0]}})).is_err(),
            "ints and floats do not mix"
        );
        assert!(w(json!({"a": {"$nin": ["x", "y"]}})).is_ok());
        assert!(w(json!({"a": {"$contains": 1}})).is_ok());
        assert!(w(json!({"a": {"$not_contains": "x"}})).is_ok());
        assert!(w(json!({"$and": [{"a": 1}, {"$or": [{"b": 2}, {"c": true}]}]})).is_ok());
        assert!(w(json!({"#document": {"$contains": "x"}})).is_ok());
        assert!(w(json!({"#document": {"$regex": "(?i)x"}})).is_ok());
        assert!(w(json!({"$and": []})).is_ok());
    }

    #[test]
    fn bad_clauses_are_rejected() {
        for bad in [
            json!({}),
            json!({"a": 1, "b": 2}),
            json!({"$foo": 1}),
            json!({"a": {"$gt": "x"}}),
            json!({"a": {"$gt": true}}),
            json!({"a": {"$in": []}}),
            json!({"a": {"$in": [1, "x"]}}),
            json!({"a": {"$in": 1}}),
            json!({"a": {"$contains": [1]}}),
            json!({"a": {"$regex": "x"}}),
            json!({"a": {"$bogus": 1}}),
            json!({"a": {"$eq": 1, "$ne": 2}}),
            json!({"a": [1, 2]}),
            json!({"a": null}),
            json!({"$and": {"a": 1}}),
            json!({"#document": {"$contains": 3}}),
            json!([1]),
        ] {
            let err = w(bad.clone()).unwrap_err();
            assert!(matches!(err, EngineError::InvalidArgument(_)), "{bad}");
        }
    }

    #[test]
    fn errors_quote_only_the_start_of_a_clause() {
        let huge: Vec<Value> = (0..100_000).map(Value::from).collect();
        for bad in [
            json!({"a": {"$in": {"x": huge.clone()}}}),
            json!({"a": {"$gt": huge.clone()}}),
            json!(huge.clone()),
            json!({"a": {"$".repeat(100_000): 1}}),
            json!({"#document": {"$contains": huge}}),
        ] {
            let err = w(bad).unwrap_err().to_string();
            assert!(err.len() < 500, "{} bytes: {}", err.len(), &err[..500]);
            assert!(err.contains("..."), "{err}");
        }
    }

    #[test]
    fn bad_regex_keeps_chromas_message() {
        let err = parse_where_document(&json!({"$regex": "("})).unwrap_err();
        assert!(err.to_string().starts_with("Regex syntax errror"), "{err}");
    }

    /// `{"$and": [{"$and": [... {"a": 1} ...]}]}`, `levels` deep.
    fn nested(levels: usize, op: &str, leaf: Value) -> Value {
        // Built by hand: json! would copy the inner value recursively.
        (0..levels).fold(leaf, |inner, _| {
            Value::Object(Map::from_iter([(
                op.to_string(),
                Value::Array(vec![inner]),
            )]))
        })
    }

    #[test]
    fn nesting_is_bounded() {
        assert!(w(nested(MAX_NESTING, "$and", json!({"a": 1}))).is_ok());
        let err = w(nested(MAX_NESTING + 1, "$or", json!({"a": 1}))).unwrap_err();
        assert!(matches!(err, EngineError::InvalidArgument(_)), "{err}");
        assert!(err.to_string().contains("deeper than 100 levels"), "{err}");
        let doc = nested(MAX_NESTING + 1, "$and", json!({"$contains": "x"}));
        assert!(matches!(
            parse_where_document(&doc),
            Err(EngineError::InvalidArgument(_))
        ));
        // Far deeper than the limit: refused without exhausting the stack.
        let deep = nested(100_000, "$and", json!({"a": 1}));
        assert!(parse_where(&deep).is_err());
        // serde_json's Value drops recursively; do not let the test itself
        // overflow the stack on the way out.
        std::mem::forget(deep);
    }

    #[test]
    fn where_document_shapes() {
        assert!(parse_where_document(&json!({"$contains": "x"})).is_ok());
        assert!(
            parse_where_document(&json!({"$and": [{"$contains": "x"}, {"$not_regex": "y"}]}))
                .is_ok()
        );
        assert!(parse_where_document(&json!({"$eq": "x"})).is_err());
        assert!(parse_where_document(&json!({"a": "x"})).is_err());
        assert!(parse_where_document(&json!({})).is_err());
    }
}
