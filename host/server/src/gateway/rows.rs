//! Row-level security in front of an upstream that has none: the row
//! filter ANDed into the `where` of reads and deletes, counts made as a
//! filtered read, and writes checked against the records the upstream holds
//! before they are forwarded (the same refusals the engine makes).
//!
//! A write's check and the write itself are two requests to the upstream,
//! not one transaction: a record changed by someone else between them is
//! not seen. Within one gateway's clients the check is as strict as the
//! engine's; docs/GATEWAY.md says what this means for several writers.

use std::collections::HashMap;

use axum::http::Method;
use prism_engine::types::{RecordBatch, WriteKind};
use prism_engine::{RowFilter, StoredRecord};
use serde_json::{Map, Value, json};

use super::Gateway;
use crate::api::error::ApiError;

/// `body` with `rows` ANDed into its `where` clause.
pub fn and_where(mut body: Map<String, Value>, rows: &RowFilter) -> Map<String, Value> {
    let clause = rows.clause().clone();
    let combined = match body.remove("where") {
        Some(Value::Object(own)) if !own.is_empty() => {
            json!({"$and": [Value::Object(own), clause]})
        }
        Some(other) if !other.is_null() && !other.as_object().is_some_and(Map::is_empty) => {
            // Not an object: the upstream refuses it as it would have.
            json!({"$and": [other, clause]})
        }
        _ => clause,
    };
    body.insert("where".into(), combined);
    body
}

/// Whether a delete selects anything of its own: one that does not deletes
/// nothing (Chroma's rule), and must not become "every visible record"
/// once the row filter is added.
pub fn selects_something(body: &Map<String, Value>) -> bool {
    let given = |key: &str| {
        body.get(key)
            .is_some_and(|v| !v.is_null() && !v.as_object().is_some_and(Map::is_empty))
    };
    given("ids") || given("where") || given("where_document")
}

impl Gateway {
    /// How many records of a collection the caller may see.
    pub async fn count_within(&self, collection: &str, rows: &RowFilter) -> Result<u64, ApiError> {
        let ids = self
            .read_records(collection, json!({"where": rows.clause(), "include": []}))
            .await?;
        Ok(ids.len() as u64)
    }

    /// Refuse a write (the JSON `body` of an add, update or upsert) that
    /// names a record outside `rows` or would leave one there.
    pub async fn check_write(
        &self,
        collection: &str,
        kind: WriteKind,
        body: &Map<String, Value>,
        rows: &RowFilter,
    ) -> Result<(), ApiError> {
        let batch = batch_of(body)?;
        if batch.ids.is_empty() {
            return Ok(());
        }
        let stored = self
            .read_records(
                collection,
                json!({"ids": batch.ids, "include": ["metadatas", "documents"]}),
            )
            .await?;
        let stored: HashMap<String, StoredRecord> = stored.into_iter().collect();
        rows.check_write(kind, &batch, &stored)
            .map_err(ApiError::from)
    }

    /// The records a `get` with `request` returns upstream.
    async fn read_records(
        &self,
        collection: &str,
        request: Value,
    ) -> Result<Vec<(String, StoredRecord)>, ApiError> {
        let answer: Value = self
            .ask(Method::POST, &format!("{collection}/get"), Some(&request))
            .await?;
        let column = |name: &str| answer.get(name).and_then(Value::as_array);
        let ids = column("ids")
            .ok_or_else(|| ApiError::internal("the upstream's get answer has no ids"))?;
        let metadatas = column("metadatas");
        let documents = column("documents");
        Ok(ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let record = StoredRecord {
                    metadata: metadatas
                        .and_then(|m| m.get(i))
                        .and_then(Value::as_object)
                        .cloned(),
                    document: documents
                        .and_then(|d| d.get(i))
                        .and_then(Value::as_str)
                        .map(String::from),
                };
                Some((id.as_str()?.to_string(), record))
            })
            .collect())
    }
}

/// The ids, metadatas and documents of a write's body (embeddings are not
/// what a row filter decides on). A body the engine would refuse is left
/// for the upstream to refuse: only what can be read is checked, and an
/// unreadable `ids` is refused here.
fn batch_of(body: &Map<String, Value>) -> Result<RecordBatch, ApiError> {
    let ids = match body.get("ids") {
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| id.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::invalid("Validation error: ids: every id must be a string"))?,
        _ => {
            return Err(ApiError::invalid(
                "Validation error: ids: expected a list of strings",
            ));
        }
    };
    let column = |name: &str| body.get(name).and_then(Value::as_array);
    Ok(RecordBatch {
        ids,
        embeddings: None,
        documents: column("documents")
            .map(|d| d.iter().map(|v| v.as_str().map(String::from)).collect()),
        uris: None,
        metadatas: column("metadatas").map(|m| m.iter().map(|v| v.as_object().cloned()).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> RowFilter {
        RowFilter::new(&json!({"owner": "alice"})).unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_row_filter_is_anded_with_the_callers_where() {
        let own = and_where(map(json!({"where": {"k": 1}, "limit": 3})), &rows());
        assert_eq!(
            Value::Object(own),
            json!({"limit": 3, "where": {"$and": [{"k": 1}, {"owner": "alice"}]}})
        );
        for empty in [json!({}), json!({"where": null}), json!({"where": {}})] {
            let none = and_where(map(empty), &rows());
            assert_eq!(none.get("where"), Some(&json!({"owner": "alice"})));
        }
    }

    #[test]
    fn a_delete_that_selects_nothing_stays_so() {
        assert!(!selects_something(&map(json!({}))));
        assert!(!selects_something(&map(json!({"where": {}, "ids": null}))));
        assert!(selects_something(&map(json!({"ids": []}))));
        assert!(selects_something(&map(json!({"where": {"k": 1}}))));
        assert!(selects_something(&map(
            json!({"where_document": {"$contains": "x"}})
        )));
    }

    #[test]
    fn writes_are_read_as_batches_and_bad_ids_refused() {
        let batch = batch_of(&map(json!({
            "ids": ["a", "b"],
            "embeddings": [[1.0], [2.0]],
            "metadatas": [{"owner": "alice"}, null],
            "documents": ["x", null],
        })))
        .unwrap();
        assert_eq!(batch.ids, ["a", "b"]);
        assert_eq!(batch.metadatas.unwrap()[1], None);
        assert_eq!(batch.documents.unwrap()[0].as_deref(), Some("x"));
        assert!(batch_of(&map(json!({"ids": [1]}))).is_err());
        assert!(batch_of(&map(json!({}))).is_err());
    }
}
