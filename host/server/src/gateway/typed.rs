//! The upstream as a typed data plane: the calls the web console makes,
//! with the engine's request and result types, answered by the upstream's
//! API. Row filters are applied as the forwarded routes apply them
//! (`rows`): ANDed into `where`, counts made as a filtered read.

use axum::http::{Method, StatusCode};
use prism_engine::types::{Collection, Database, GetResult, Include, QueryResult, Record};
use prism_engine::{DeleteRequest, GetRequest, QueryRequest, RecordSelector};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::forward::{path_segment, upstream_error};
use super::rows::{and_where, selects_something};
use super::{Gateway, unavailable};
use crate::api::access::At;
use crate::api::error::ApiError;

impl Gateway {
    /// One request the gateway makes itself; the answer's JSON.
    pub(super) async fn ask<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let (status, bytes) = self
            .upstream
            .fetch(method, path, body)
            .await
            .map_err(|e| unavailable(&e))?;
        if !status.is_success() {
            return Err(upstream_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::internal(format!(
                "the upstream's answer to {path} is not understood: {e}"
            ))
        })
    }

    /// The databases of `at`'s tenant.
    pub async fn list_databases(&self, at: &At) -> Result<Vec<Database>, ApiError> {
        self.ask(Method::GET, &databases_path(at), None).await
    }

    /// The collections of `at`'s database, at most `limit`.
    pub async fn list_collections(&self, at: &At, limit: u32) -> Result<Vec<Collection>, ApiError> {
        let path = format!("{}?limit={limit}", collections_path(at));
        self.ask(Method::GET, &path, None).await
    }

    /// The collection `at` addresses by id.
    pub async fn get_collection(&self, at: &At) -> Result<Collection, ApiError> {
        let name = self.collection_name(at).await?;
        let path = format!("{}/{}", collections_path(at), path_segment(&name));
        self.ask(Method::GET, &path, None).await
    }

    /// Create a collection named `name` with `configuration`.
    pub async fn create_collection(
        &self,
        at: &At,
        name: &str,
        configuration: Value,
    ) -> Result<Collection, ApiError> {
        let body = json!({"name": name, "configuration": configuration});
        self.ask(Method::POST, &collections_path(at), Some(&body))
            .await
    }

    /// Delete the collection `at` addresses by id.
    pub async fn delete_collection(&self, at: &At) -> Result<(), ApiError> {
        let name = self.collection_name(at).await?;
        let path = format!("{}/{}", collections_path(at), path_segment(&name));
        let (status, bytes) = self
            .upstream
            .fetch(Method::DELETE, &path, None)
            .await
            .map_err(|e| unavailable(&e))?;
        if status != StatusCode::OK {
            return Err(upstream_error(status, &bytes));
        }
        self.forget(at, Some(&name));
        Ok(())
    }

    /// The records of `at`'s collection the caller may see.
    pub async fn count(&self, at: &At) -> Result<u64, ApiError> {
        let collection = collection_path(at);
        match at.rows() {
            Some(rows) => self.count_within(&collection, rows).await,
            None => {
                self.ask(Method::GET, &format!("{collection}/count"), None)
                    .await
            }
        }
    }

    /// A get, restricted to the caller's rows.
    pub async fn get(&self, at: &At, request: &GetRequest) -> Result<GetResult, ApiError> {
        let mut body = selector_body(&request.selector);
        if let Some(limit) = request.limit {
            body.insert("limit".into(), limit.into());
        }
        body.insert("offset".into(), request.offset.into());
        body.insert("include".into(), include(&request.include));
        let body = restricted(at, body);
        let answer: Value = self
            .ask(
                Method::POST,
                &format!("{}/get", collection_path(at)),
                Some(&body),
            )
            .await?;
        Ok(GetResult {
            records: records(&answer, None)?,
        })
    }

    /// A query, restricted to the caller's rows.
    pub async fn query(&self, at: &At, request: &QueryRequest) -> Result<QueryResult, ApiError> {
        let mut body = selector_body(&request.selector);
        body.insert("query_embeddings".into(), json!(request.embeddings));
        body.insert("n_results".into(), request.n_results.into());
        body.insert("include".into(), include(&request.include));
        let body = restricted(at, body);
        let answer: Value = self
            .ask(
                Method::POST,
                &format!("{}/query", collection_path(at)),
                Some(&body),
            )
            .await?;
        let searches = answer
            .get("ids")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let hits = (0..searches)
            .map(|q| {
                let found = records(&answer, Some(q))?;
                let distances = answer
                    .get("distances")
                    .and_then(|d| d.get(q))
                    .and_then(Value::as_array);
                Ok(found
                    .into_iter()
                    .enumerate()
                    .map(|(i, record)| {
                        let distance = distances
                            .and_then(|d| d.get(i))
                            .and_then(Value::as_f64)
                            .unwrap_or(f64::NAN);
                        (record, distance as f32)
                    })
                    .collect())
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(QueryResult { hits })
    }

    /// A delete, restricted to the caller's rows (one that selects nothing
    /// of its own deletes nothing, as the forwarded route).
    pub async fn delete(&self, at: &At, request: &DeleteRequest) -> Result<(), ApiError> {
        let mut body = selector_body(&request.selector);
        if !selects_something(&body) {
            return Ok(());
        }
        if let Some(limit) = request.limit {
            body.insert("limit".into(), limit.into());
        }
        let body = restricted(at, body);
        let _: Value = self
            .ask(
                Method::POST,
                &format!("{}/delete", collection_path(at)),
                Some(&body),
            )
            .await?;
        Ok(())
    }
}

fn databases_path(at: &At) -> String {
    format!("/api/v2/tenants/{}/databases", path_segment(&at.tenant))
}

fn collections_path(at: &At) -> String {
    format!(
        "{}/{}/collections",
        databases_path(at),
        path_segment(&at.database)
    )
}

fn collection_path(at: &At) -> String {
    format!("{}/{}", collections_path(at), at.collection_id())
}

fn selector_body(selector: &RecordSelector) -> Map<String, Value> {
    let mut body = Map::new();
    if let Some(ids) = &selector.ids {
        body.insert("ids".into(), json!(ids));
    }
    if let Some(clause) = &selector.where_clause {
        body.insert("where".into(), clause.clone());
    }
    if let Some(clause) = &selector.where_document {
        body.insert("where_document".into(), clause.clone());
    }
    body
}

fn restricted(at: &At, body: Map<String, Value>) -> Value {
    Value::Object(match at.rows() {
        Some(rows) => and_where(body, rows),
        None => body,
    })
}

fn include(include: &Include) -> Value {
    json!(include.0)
}

/// The records of a get answer (`search` none) or of one search of a
/// query answer, whose columns are lists of lists.
fn records(answer: &Value, search: Option<usize>) -> Result<Vec<Record>, ApiError> {
    let column = |name: &str| {
        let value = answer.get(name)?;
        match search {
            Some(q) => value.get(q)?.as_array(),
            None => value.as_array(),
        }
    };
    let ids = column("ids").ok_or_else(|| ApiError::internal("the upstream answered no ids"))?;
    let embeddings = column("embeddings");
    let documents = column("documents");
    let metadatas = column("metadatas");
    let uris = column("uris");
    let at = |c: Option<&Vec<Value>>, i: usize| c.and_then(|c| c.get(i)).cloned();
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            Ok(Record {
                id: id
                    .as_str()
                    .ok_or_else(|| {
                        ApiError::internal("the upstream answered an id that is not text")
                    })?
                    .to_string(),
                embedding: at(embeddings, i)
                    .and_then(|v| serde_json::from_value::<Vec<f32>>(v).ok()),
                document: at(documents, i).and_then(|v| v.as_str().map(String::from)),
                uri: at(uris, i).and_then(|v| v.as_str().map(String::from)),
                metadata: at(metadatas, i)
                    .and_then(|v| v.as_object().cloned())
                    .filter(|m| !m.is_empty()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_and_query_answers_become_records() {
        let get = json!({
            "ids": ["a", "b"],
            "embeddings": [[1.0, 2.0], [3.0, 4.5]],
            "documents": ["x", null],
            "metadatas": [{"k": 1}, {}],
            "uris": null,
            "include": ["embeddings", "documents", "metadatas"]
        });
        let found = records(&get, None).unwrap();
        assert_eq!(found[0].embedding, Some(vec![1.0, 2.0]));
        assert_eq!(found[1].document, None);
        assert_eq!(found[0].metadata.as_ref().unwrap()["k"], 1);
        assert_eq!(found[1].metadata, None);
        assert_eq!(found[0].uri, None);
        let query = json!({
            "ids": [["a"], ["b", "c"]],
            "documents": [["x"], ["y", "z"]],
            "distances": [[0.5], [0.25, 1.0]]
        });
        let second = records(&query, Some(1)).unwrap();
        assert_eq!(second.len(), 2);
        assert_eq!(second[1].document.as_deref(), Some("z"));
        assert!(records(&json!({}), None).is_err());
    }

    #[test]
    fn selectors_become_request_bodies() {
        let selector = RecordSelector {
            ids: Some(vec!["a".into()]),
            where_clause: Some(json!({"k": 1})),
            where_document: None,
            rows: None,
        };
        let body = selector_body(&selector);
        assert_eq!(
            Value::Object(body),
            json!({"ids": ["a"], "where": {"k": 1}})
        );
        assert_eq!(
            include(&Include(vec![
                prism_engine::types::IncludeField::Documents,
                prism_engine::types::IncludeField::Distances
            ])),
            json!(["documents", "distances"])
        );
    }
}
