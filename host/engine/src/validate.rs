//! Chroma's validation rules for names, ids, metadata and embeddings, and
//! for whole write batches and query embeddings; Prism's own bounds on one
//! write are in [`limits`].

pub mod limits;

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::error::{EngineError, Result};
use crate::types::{RecordBatch, WriteKind};
use limits::WriteLimits;

/// Collection and database names: 3-512 chars of `[a-zA-Z0-9._-]`, starting and
/// ending alphanumeric, no `..`, not an IP address (Chroma's `validate_name`).
/// The error is Chroma's bare rule text; callers prefix the field, as Chroma does.
pub fn name_rule(name: &str) -> std::result::Result<(), String> {
    let bytes = name.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_alphanumeric();
    let inner_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if !(3..=512).contains(&bytes.len())
        || !edge_ok(bytes[0])
        || !edge_ok(bytes[bytes.len() - 1])
        || !bytes.iter().all(|&b| inner_ok(b))
    {
        return Err(format!(
            "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: {name}"
        ));
    }
    if name.contains("..") {
        return Err(format!(
            "Expected a name that does not contains two consecutive periods (..). Got {name}"
        ));
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "Expected a name that is not a valid ip address. Got {name}"
        ));
    }
    Ok(())
}

/// A collection name, with the request field Chroma names in its message.
pub fn validate_name(field: &str, name: &str) -> Result<()> {
    name_rule(name).map_err(|m| EngineError::invalid(format!("Validation error: {field}: {m}")))
}

/// Database names may carry Chroma's multi-region `topology+` prefix; Chroma
/// reports their errors without a field prefix.
pub fn validate_database_name(name: &str) -> Result<()> {
    let bare = match name.split_once('+') {
        Some((topology, rest)) if !topology.is_empty() => rest,
        _ => name,
    };
    name_rule(bare).map_err(EngineError::InvalidArgument)
}

/// Tenant names only need three characters (Chroma's `length(min = 3)`).
pub fn validate_tenant_name(name: &str) -> Result<()> {
    if name.chars().count() < 3 {
        return Err(EngineError::invalid(format!(
            "Validation error: name: Tenant name must be at least 3 characters long. Got: {name}"
        )));
    }
    Ok(())
}

/// A scalar metadata value as it is indexed for filtering.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// A string.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// A boolean (never equal to an integer).
    Bool(bool),
}

impl ScalarValue {
    /// Read a JSON scalar; `None` for null, objects and arrays.
    pub fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self::Str(s.clone())),
            Value::Bool(b) => Some(Self::Bool(*b)),
            Value::Number(n) => n
                .as_i64()
                .map(Self::Int)
                .or_else(|| n.as_f64().map(Self::Float)),
            _ => None,
        }
    }

    /// The type tag stored beside the value: bools never compare equal to numbers.
    pub fn kind(&self) -> i64 {
        match self {
            Self::Str(_) => KIND_STR,
            Self::Int(_) => KIND_INT,
            Self::Float(_) => KIND_FLOAT,
            Self::Bool(_) => KIND_BOOL,
        }
    }
}

/// Stored kind tags of metadata values.
pub const KIND_STR: i64 = 0;
/// Integer kind tag.
pub const KIND_INT: i64 = 1;
/// Float kind tag.
pub const KIND_FLOAT: i64 = 2;
/// Bool kind tag.
pub const KIND_BOOL: i64 = 3;

/// One row of the metadata index: key, value, and whether it is an array element.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedValue {
    /// Metadata key.
    pub key: String,
    /// The scalar (or one array element).
    pub value: ScalarValue,
    /// True for elements of an array-valued field.
    pub in_array: bool,
}

fn is_sparse_vector(map: &Map<String, Value>) -> bool {
    map.get("#type").and_then(Value::as_str) == Some("sparse_vector")
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("Metadata key cannot be empty".into());
    }
    if key.starts_with('#') || key.starts_with('$') {
        return Err(format!("Metadata key cannot start with '#' or '$': {key}"));
    }
    Ok(())
}

/// Check one value: scalar, null (when `allow_null`), non-empty homogeneous
/// array of scalars, or a sparse vector.
fn check_value(value: &Value, allow_null: bool) -> std::result::Result<(), String> {
    match value {
        Value::Null if allow_null => Ok(()),
        Value::Null => Err("Metadata value cannot be null".into()),
        Value::String(_) | Value::Bool(_) | Value::Number(_) => Ok(()),
        Value::Array(items) => {
            let Some(first) = items.first() else {
                return Err("Expected metadata list to be non-empty".into());
            };
            let same = |v: &Value| {
                matches!(
                    (first, v),
                    (Value::String(_), Value::String(_))
                        | (Value::Bool(_), Value::Bool(_))
                        | (Value::Number(_), Value::Number(_))
                )
            };
            if !matches!(first, Value::String(_) | Value::Bool(_) | Value::Number(_))
                || !items.iter().all(same)
            {
                return Err(
                    "Expected metadata list elements to be all str, all int, all float or all bool"
                        .into(),
                );
            }
            Ok(())
        }
        Value::Object(map) if is_sparse_vector(map) => check_sparse_vector(map),
        Value::Object(_) => {
            Err("data did not match any variant of untagged enum MetadataValue".into())
        }
    }
}

fn check_sparse_vector(map: &Map<String, Value>) -> std::result::Result<(), String> {
    let indices = map.get("indices").and_then(Value::as_array);
    let values = map.get("values").and_then(Value::as_array);
    match (indices, values) {
        (Some(i), Some(v))
            if i.len() == v.len()
                && i.iter()
                    .all(|x| x.as_u64().is_some_and(|n| n <= u32::MAX as u64))
                && v.iter().all(Value::is_number) =>
        {
            Ok(())
        }
        _ => Err("Invalid sparse vector: indices and values must be arrays of equal length".into()),
    }
}

/// Validate a record's metadata. `allow_null` is true for update and upsert,
/// where a null deletes the key.
pub fn validate_record_metadata(
    map: &Map<String, Value>,
    allow_null: bool,
) -> std::result::Result<(), String> {
    for (key, value) in map {
        check_key(key)?;
        check_value(value, allow_null)?;
    }
    Ok(())
}

/// Validate collection metadata (non-empty, keys as for records) and drop
/// its null values, as Chroma does; `None` when nothing is left. `field` is
/// the request field Chroma names in its message.
pub fn collection_metadata(
    field: &str,
    map: Map<String, Value>,
) -> Result<Option<Map<String, Value>>> {
    let invalid = |m: String| EngineError::invalid(format!("Validation error: {field}: {m}"));
    if map.is_empty() {
        return Err(invalid("Metadata cannot be empty".into()));
    }
    for (key, value) in &map {
        check_key(key).map_err(invalid)?;
        check_value(value, true).map_err(invalid)?;
    }
    let kept: Map<String, Value> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    Ok((!kept.is_empty()).then_some(kept))
}

/// The rows the metadata index holds for one record.
pub fn indexed_values(map: &Map<String, Value>) -> Vec<IndexedValue> {
    let mut rows = Vec::with_capacity(map.len());
    for (key, value) in map {
        match value {
            Value::Array(items) => rows.extend(
                items
                    .iter()
                    .filter_map(ScalarValue::from_json)
                    .map(|value| IndexedValue {
                        key: key.clone(),
                        value,
                        in_array: true,
                    }),
            ),
            other => {
                if let Some(value) = ScalarValue::from_json(other) {
                    rows.push(IndexedValue {
                        key: key.clone(),
                        value,
                        in_array: false,
                    });
                }
            }
        }
    }
    rows
}

/// Embeddings must be non-empty and finite.
pub fn validate_embedding(embedding: &[f32]) -> std::result::Result<(), String> {
    if embedding.is_empty() {
        return Err(
            "Validation error: embeddings: Each embedding must have at least 1 dimension".into(),
        );
    }
    if embedding.iter().any(|x| !x.is_finite()) {
        return Err(
            "Validation error: embeddings: Embeddings must not contain NaN or Infinity values"
                .into(),
        );
    }
    Ok(())
}

/// Record ids may not be empty.
pub(crate) fn check_ids(ids: &[String]) -> Result<()> {
    if ids.iter().any(String::is_empty) {
        return Err(EngineError::invalid(
            "Empty ID, ID must have at least one character",
        ));
    }
    Ok(())
}

/// A batch as a whole, before anything is written: every column one entry
/// per id, within `limits`, ids non-empty, embeddings complete for add and
/// upsert, valid and of one dimension, and every metadata map valid for the
/// write.
pub(crate) fn validate_batch(
    kind: WriteKind,
    batch: &RecordBatch,
    limits: &WriteLimits,
) -> Result<()> {
    let n = batch.len();
    let lengths_ok = batch.embeddings.as_ref().is_none_or(|c| c.len() == n)
        && batch.documents.as_ref().is_none_or(|c| c.len() == n)
        && batch.uris.as_ref().is_none_or(|c| c.len() == n)
        && batch.metadatas.as_ref().is_none_or(|c| c.len() == n);
    if !lengths_ok {
        return Err(EngineError::invalid(
            "Inconsistent number of IDs, embeddings, documents, URIs and metadatas",
        ));
    }
    limits.check(batch)?;
    check_ids(&batch.ids)?;
    if kind != WriteKind::Update {
        let complete = batch
            .embeddings
            .as_ref()
            .is_some_and(|e| e.iter().all(Option::is_some));
        if !complete && n > 0 {
            return Err(EngineError::invalid(
                "Embeddings are required for add and upsert",
            ));
        }
    }
    if let Some(embeddings) = &batch.embeddings {
        same_dimension(embeddings.iter().flatten())?;
    }
    if let Some(metadatas) = &batch.metadatas {
        for (i, m) in metadatas.iter().enumerate() {
            if let Some(m) = m {
                // Chroma's message names the record, not the problem.
                validate_record_metadata(m, kind != WriteKind::Add).map_err(|_| {
                    EngineError::invalid(format!(
                        "Validation error: metadatas: Invalid metadata at index {i}"
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// A query's embeddings: each valid, all of one dimension, which is returned
/// (`None` when there are none).
pub(crate) fn query_embeddings(embeddings: &[Vec<f32>]) -> Result<Option<usize>> {
    same_dimension(embeddings)
}

/// Every embedding valid and of the first one's dimension, returned.
fn same_dimension<'a>(embeddings: impl IntoIterator<Item = &'a Vec<f32>>) -> Result<Option<usize>> {
    let mut dim = None;
    for e in embeddings {
        validate_embedding(e).map_err(EngineError::InvalidArgument)?;
        if *dim.get_or_insert(e.len()) != e.len() {
            return Err(EngineError::invalid(
                "Inconsistent dimensions in provided embeddings",
            ));
        }
    }
    Ok(dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_chroma_rules() {
        for ok in ["abc", "a.b-c_d", "A12", &"x".repeat(512)] {
            assert!(name_rule(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "_abc",
            "abc-",
            "a..b",
            "127.0.0.1",
            "a b c",
            &"x".repeat(513),
            "ümlaut",
        ] {
            assert!(name_rule(bad).is_err(), "{bad}");
        }
        let msg = validate_name("name", "x").unwrap_err().to_string();
        assert!(msg.starts_with("Validation error: name: Expected a name containing 3-512"));
        assert_eq!(
            validate_database_name("a..b").unwrap_err().to_string(),
            "Expected a name that does not contains two consecutive periods (..). Got a..b"
        );
        assert!(validate_database_name("topo+my_db").is_ok());
        assert!(validate_tenant_name("ab").is_err());
        assert!(validate_tenant_name("a b").is_ok());
    }

    #[test]
    fn metadata_rules() {
        let ok = json!({"a": 1, "b": 2.5, "c": "s", "d": true, "e": [1, 2], "f": ["x"]});
        assert!(validate_record_metadata(ok.as_object().unwrap(), false).is_ok());
        for bad in [
            json!({"$a": 1}),
            json!({"#a": 1}),
            json!({"": 1}),
            json!({"a": {"b": 1}}),
            json!({"a": []}),
            json!({"a": [1, "x"]}),
            json!({"a": [[1]]}),
        ] {
            assert!(
                validate_record_metadata(bad.as_object().unwrap(), false).is_err(),
                "{bad}"
            );
        }
        let nulls = json!({"a": null});
        assert!(validate_record_metadata(nulls.as_object().unwrap(), false).is_err());
        assert!(validate_record_metadata(nulls.as_object().unwrap(), true).is_ok());
        let sparse =
            json!({"s": {"#type": "sparse_vector", "indices": [1, 5], "values": [0.5, 0.1]}});
        assert!(validate_record_metadata(sparse.as_object().unwrap(), false).is_ok());
        assert_eq!(
            collection_metadata("metadata", Map::new())
                .unwrap_err()
                .to_string(),
            "Validation error: metadata: Metadata cannot be empty"
        );
        let dropped = collection_metadata(
            "m",
            json!({"k": null, "m": 2}).as_object().cloned().unwrap(),
        );
        assert_eq!(dropped.unwrap(), json!({"m": 2}).as_object().cloned());
        let gone = collection_metadata("m", json!({"k": null}).as_object().cloned().unwrap());
        assert_eq!(gone.unwrap(), None);
    }

    #[test]
    fn indexed_values_flatten_arrays_and_keep_kinds() {
        let m = json!({"n": 1, "f": 1.0, "b": true, "arr": ["x", "y"], "s": {"#type": "sparse_vector", "indices": [], "values": []}});
        let rows = indexed_values(m.as_object().unwrap());
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].value, ScalarValue::Int(1));
        assert_eq!(rows[1].value, ScalarValue::Float(1.0));
        assert_eq!(rows[2].value, ScalarValue::Bool(true));
        assert!(rows[3].in_array && rows[4].in_array);
    }

    #[test]
    fn embeddings_must_be_finite_and_non_empty() {
        assert!(validate_embedding(&[]).is_err());
        assert!(validate_embedding(&[1.0, f32::NAN]).is_err());
        assert!(validate_embedding(&[1.0, f32::INFINITY]).is_err());
        assert!(validate_embedding(&[0.0, -1.5]).is_ok());
    }

    fn batch(ids: &[&str], embeddings: Option<Vec<Option<Vec<f32>>>>) -> RecordBatch {
        RecordBatch {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            embeddings,
            ..Default::default()
        }
    }

    #[test]
    fn batches_are_checked_as_a_whole() {
        let validate = |kind, b: &RecordBatch| validate_batch(kind, b, &WriteLimits::default());
        let message = |kind, b: &RecordBatch| validate(kind, b).unwrap_err().to_string();
        let ok = batch(&["a", "b"], Some(vec![Some(vec![1.0]), Some(vec![2.0])]));
        assert!(validate(WriteKind::Add, &ok).is_ok());
        let one = WriteLimits {
            max_batch_size: 1,
            ..WriteLimits::default()
        };
        let over = validate_batch(WriteKind::Add, &ok, &one).unwrap_err();
        assert!(over.to_string().contains("PRISM_MAX_BATCH_SIZE"), "{over}");
        assert_eq!(
            message(
                WriteKind::Add,
                &batch(&["a", "b"], Some(vec![Some(vec![1.0])]))
            ),
            "Inconsistent number of IDs, embeddings, documents, URIs and metadatas"
        );
        assert_eq!(
            message(
                WriteKind::Upsert,
                &batch(&["a", ""], Some(vec![Some(vec![1.0]); 2]))
            ),
            "Empty ID, ID must have at least one character"
        );
        let partial = batch(&["a", "b"], Some(vec![Some(vec![1.0]), None]));
        assert_eq!(
            message(WriteKind::Add, &partial),
            "Embeddings are required for add and upsert"
        );
        assert!(validate(WriteKind::Update, &partial).is_ok());
        assert!(validate(WriteKind::Update, &batch(&["a"], None)).is_ok());
        assert!(validate(WriteKind::Add, &batch(&[], None)).is_ok());
        assert_eq!(
            message(
                WriteKind::Add,
                &batch(
                    &["a", "b"],
                    Some(vec![Some(vec![1.0]), Some(vec![1.0, 2.0])])
                )
            ),
            "Inconsistent dimensions in provided embeddings"
        );
        let mut nulls = batch(&["a", "b"], Some(vec![Some(vec![1.0]); 2]));
        nulls.metadatas = Some(vec![None, json!({"k": null}).as_object().cloned()]);
        assert_eq!(
            message(WriteKind::Add, &nulls),
            "Validation error: metadatas: Invalid metadata at index 1"
        );
        assert!(validate(WriteKind::Upsert, &nulls).is_ok());
    }

    #[test]
    fn query_embeddings_share_one_dimension() {
        assert_eq!(query_embeddings(&[]).unwrap(), None);
        assert_eq!(query_embeddings(&[vec![1.0, 2.0]]).unwrap(), Some(2));
        assert!(query_embeddings(&[vec![1.0], vec![1.0, 2.0]]).is_err());
        assert!(query_embeddings(&[vec![f32::NAN]]).is_err());
        assert!(check_ids(&["".to_string()]).is_err());
    }
}
