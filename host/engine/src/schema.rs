//! Chroma 1.x collection schemas: what a client's schema may ask of a
//! single-node server, how it combines with the collection configuration, and
//! the index toggles it sets (a disabled index makes filters on it an error,
//! as in Chroma).

use serde_json::Value;

use crate::distance::Space;
use crate::error::{EngineError, Result};
use crate::filter::{Filter, MetadataOp};
use crate::validate::ScalarValue;

/// What a schema says about the vector index of `#embedding`.
#[derive(Debug, Default, PartialEq)]
pub struct VectorIndexRequest {
    /// Distance space.
    pub space: Option<Space>,
    /// HNSW parameters (SPANN parameters are dropped, as Chroma's local server does).
    pub hnsw: Option<Value>,
    /// Whether SPANN parameters were given (they still make the schema non-default).
    pub has_spann: bool,
    /// Embedding function description.
    pub embedding_function: Option<Value>,
}

fn vector_config(schema: &Value) -> Option<&Value> {
    let embedding = schema.pointer("/keys/#embedding/float_list/vector_index/config");
    embedding.or_else(|| schema.pointer("/defaults/float_list/vector_index/config"))
}

/// Reject what a single-node server cannot do and extract the vector index
/// settings.
pub fn vector_index_request(schema: &Value) -> Result<VectorIndexRequest> {
    if let Some(keys) = schema.get("keys").and_then(Value::as_object) {
        let sparse = keys.values().any(|k| {
            k.pointer("/sparse_vector/sparse_vector_index/enabled")
                .and_then(Value::as_bool)
                == Some(true)
        });
        if sparse {
            return Err(EngineError::invalid(
                "Sparse vector indexing is not enabled in local mode",
            ));
        }
    }
    let Some(config) = vector_config(schema) else {
        return Ok(VectorIndexRequest::default());
    };
    let space = match config.get("space") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(Space::parse)
                .ok_or_else(|| EngineError::invalid(format!("Invalid space in schema: {v}")))?,
        ),
    };
    Ok(VectorIndexRequest {
        space,
        hnsw: config.get("hnsw").filter(|v| v.is_object()).cloned(),
        has_spann: config.get("spann").is_some_and(Value::is_object),
        embedding_function: config
            .get("embedding_function")
            .filter(|v| v.is_object())
            .cloned(),
    })
}

/// The embedding function clients send when the user chose none.
pub fn is_default_embedding_function(ef: &Value) -> bool {
    ef.get("type").and_then(Value::as_str) == Some("known")
        && ef.get("name").and_then(Value::as_str) == Some("default")
}

fn value_type(value: &ScalarValue) -> (&'static str, &'static str) {
    match value {
        ScalarValue::Str(_) => ("string", "string_inverted_index"),
        ScalarValue::Int(_) => ("int", "int_inverted_index"),
        ScalarValue::Float(_) => ("float", "float_inverted_index"),
        ScalarValue::Bool(_) => ("bool", "bool_inverted_index"),
    }
}

fn enabled(schema: &Value, key: &str, kind: &str, index: &str) -> bool {
    let per_key = schema
        .get("keys")
        .and_then(|k| k.get(key))
        .and_then(|k| k.get(kind))
        .and_then(|k| k.get(index))
        .and_then(|i| i.get("enabled"))
        .and_then(Value::as_bool);
    let default = schema
        .get("defaults")
        .and_then(|d| d.get(kind))
        .and_then(|d| d.get(index))
        .and_then(|i| i.get("enabled"))
        .and_then(Value::as_bool);
    per_key.or(default).unwrap_or(true)
}

fn operand(op: &MetadataOp) -> &ScalarValue {
    match op {
        MetadataOp::Eq(v)
        | MetadataOp::Ne(v)
        | MetadataOp::Cmp(_, v)
        | MetadataOp::Contains(v)
        | MetadataOp::NotContains(v) => v,
        MetadataOp::In(vs) | MetadataOp::Nin(vs) => &vs[0],
    }
}

/// Fail when `filter` needs an index the collection's schema disabled.
pub fn check_filter(filter: &Filter, schema: &Value) -> Result<()> {
    match filter {
        Filter::And(children) | Filter::Or(children) => {
            children.iter().try_for_each(|c| check_filter(c, schema))
        }
        Filter::Metadata { key, op } => {
            let (kind, index) = value_type(operand(op));
            if enabled(schema, key, kind, index) {
                Ok(())
            } else {
                Err(EngineError::invalid(format!(
                    "Cannot filter using metadata key '{key}' with a {kind} value: its {index} is disabled in the collection schema"
                )))
            }
        }
        Filter::Document(_) => {
            if enabled(schema, "#document", "string", "fts_index") {
                Ok(())
            } else {
                Err(EngineError::invalid(
                    "Cannot filter on documents: the full-text index of #document is disabled in the collection schema",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_where;
    use serde_json::json;

    #[test]
    fn sparse_indexes_are_refused_and_vector_settings_extracted() {
        let sparse = json!({"keys": {"s": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}}}});
        assert!(
            vector_index_request(&sparse)
                .unwrap_err()
                .to_string()
                .contains("Sparse vector indexing is not enabled in local")
        );
        let schema = json!({"keys": {"#embedding": {"float_list": {"vector_index": {"enabled": true,
            "config": {"space": "cosine", "spann": {"search_nprobe": 16}, "embedding_function": {"type": "known", "name": "x"}}}}}}});
        let req = vector_index_request(&schema).unwrap();
        assert_eq!(req.space, Some(Space::Cosine));
        assert!(req.hnsw.is_none());
        assert_eq!(req.embedding_function.unwrap()["name"], "x");
    }

    #[test]
    fn disabled_indexes_block_filters_on_them_only() {
        let schema = json!({
            "defaults": {"int": {"int_inverted_index": {"enabled": false}}},
            "keys": {"tag": {"string": {"string_inverted_index": {"enabled": false}}},
                     "n": {"int": {"int_inverted_index": {"enabled": true}}},
                     "#document": {"string": {"fts_index": {"enabled": false}}}}
        });
        let check = |w: Value| check_filter(&parse_where(&w).unwrap().unwrap(), &schema);
        let err = check(json!({"tag": "x"})).unwrap_err().to_string();
        assert!(
            err.contains("Cannot filter using metadata key 'tag'"),
            "{err}"
        );
        assert!(
            check(json!({"tag": 1.5})).is_ok(),
            "float index of tag is on"
        );
        assert!(
            check(json!({"other": 3})).is_err(),
            "ints disabled by default"
        );
        assert!(check(json!({"n": {"$gt": 3}})).is_ok(), "re-enabled for n");
        assert!(
            check(json!({"$or": [{"other": "x"}, {"#document": {"$contains": "y"}}]})).is_err()
        );
    }
}
