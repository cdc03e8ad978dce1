//! Moving data in and out: `prism import` and `prism export`. A copy reads
//! tenants, databases, collections (metadata and configuration) and records
//! (ids, embeddings, documents, metadata, URIs) page by page from a source
//! (a server's API, a data directory, or a dump) and writes them to a
//! destination (a server's API, a data directory, or a dump), reading the
//! next page while the last one is written. It can be interrupted and run
//! again (`journal`, or the dump's own manifest), and ends by checking
//! counts and a sample of records on both sides.

pub mod dump;
pub mod endpoint;
pub mod journal;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;

use crate::gateway::forward::path_segment;
use dump::{DumpReader, DumpWriter, DumpedRecord};
use endpoint::Endpoint;
use journal::Journal;

/// Why a copy stopped.
#[derive(Debug, Error)]
pub enum TransferError {
    /// The command cannot work as given.
    #[error("{0}")]
    Settings(String),
    /// A server did not answer.
    #[error("{0}")]
    Unreachable(String),
    /// A server refused a request.
    #[error("{at} answered {status}: {message}")]
    Refused {
        /// The request.
        at: String,
        /// The status.
        status: StatusCode,
        /// Its message.
        message: String,
    },
    /// A server answered something that is not Chroma's API.
    #[error("{0}")]
    Unexpected(String),
    /// A dump cannot be read or written.
    #[error("{0}")]
    Dump(String),
    /// The journal cannot be written.
    #[error("cannot write the import's journal: {0}")]
    Journal(String),
    /// The destination does not hold what the source does.
    #[error("verification failed:\n  {}", .0.join("\n  "))]
    Verification(Vec<String>),
}

/// Which part of the source to copy; empty lists mean all (of the default
/// tenant, when the source cannot list tenants).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Tenant names.
    pub tenants: Vec<String>,
    /// Database names.
    pub databases: Vec<String>,
    /// Collection names.
    pub collections: Vec<String>,
}

/// A collection to copy, as the source describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionInfo {
    /// Its tenant.
    pub tenant: String,
    /// Its database.
    pub database: String,
    /// Its name.
    pub name: String,
    /// Its id at the source (a new one is made at the destination).
    pub id: String,
    /// Its metadata (`null` when it has none).
    pub metadata: Value,
    /// Its configuration, as the source's `configuration_json`.
    pub configuration: Value,
    /// How many records it has.
    pub records: u64,
}

impl CollectionInfo {
    /// `tenant/database/name`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.database, self.name)
    }

    fn path(&self, id: &str) -> String {
        format!(
            "/api/v2/tenants/{}/databases/{}/collections/{}",
            path_segment(&self.tenant),
            path_segment(&self.database),
            path_segment(id)
        )
    }
}

/// Records, column by column as a `get` answers them; a column the source
/// did not fill holds `null`s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Ids.
    pub ids: Vec<Value>,
    /// Embeddings.
    pub embeddings: Vec<Value>,
    /// Documents.
    pub documents: Vec<Value>,
    /// Metadata.
    pub metadatas: Vec<Value>,
    /// URIs.
    pub uris: Vec<Value>,
}

impl Page {
    /// A `get` answer's records.
    fn from_get(answer: Value) -> Result<Self, TransferError> {
        let Value::Object(mut answer) = answer else {
            return Err(TransferError::Unexpected(
                "a get answered something other than an object".to_string(),
            ));
        };
        let ids = match answer.remove("ids") {
            Some(Value::Array(ids)) => ids,
            _ => {
                return Err(TransferError::Unexpected(
                    "a get answered no ids".to_string(),
                ));
            }
        };
        let mut column = |name: &str| -> Result<Vec<Value>, TransferError> {
            match answer.remove(name) {
                Some(Value::Array(values)) if values.len() == ids.len() => Ok(values),
                None | Some(Value::Null) => Ok(vec![Value::Null; ids.len()]),
                Some(_) => Err(TransferError::Unexpected(format!(
                    "a get answered {name} that do not match its ids"
                ))),
            }
        };
        Ok(Self {
            embeddings: column("embeddings")?,
            documents: column("documents")?,
            metadatas: column("metadatas")?,
            uris: column("uris")?,
            ids,
        })
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Add one record.
    pub fn push(&mut self, record: DumpedRecord) {
        self.ids.push(record.id);
        self.embeddings.push(record.embedding);
        self.documents.push(record.document);
        self.metadatas.push(record.metadata);
        self.uris.push(record.uri);
    }

    /// Add another page's records.
    fn append(&mut self, other: Page) {
        self.ids.extend(other.ids);
        self.embeddings.extend(other.embeddings);
        self.documents.extend(other.documents);
        self.metadatas.extend(other.metadatas);
        self.uris.extend(other.uris);
    }

    /// The records one by one.
    pub fn records(&self) -> impl Iterator<Item = DumpedRecord> + '_ {
        (0..self.len()).map(|i| self.record(i))
    }

    fn record(&self, i: usize) -> DumpedRecord {
        DumpedRecord {
            id: self.ids[i].clone(),
            embedding: self.embeddings[i].clone(),
            document: self.documents[i].clone(),
            metadata: self.metadatas[i].clone(),
            uri: self.uris[i].clone(),
        }
    }

    /// The body of an `upsert` of these records. A column of `null`s only
    /// is left out: every server takes that as "none given".
    fn upsert_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("ids".to_string(), Value::Array(self.ids.clone()));
        for (name, column) in [
            ("embeddings", &self.embeddings),
            ("documents", &self.documents),
            ("metadatas", &self.metadatas),
            ("uris", &self.uris),
        ] {
            if column.iter().any(|v| !v.is_null()) {
                body.insert(name.to_string(), Value::Array(column.clone()));
            }
        }
        Value::Object(body)
    }
}

/// Everything a record has, for `get`.
const INCLUDE: [&str; 4] = ["embeddings", "documents", "metadatas", "uris"];

/// Where records come from.
pub enum Source {
    /// A server or a data directory.
    Api(Endpoint),
    /// A dump (`prism export`).
    Dump(DumpReader),
}

/// Where records go.
pub enum Destination {
    /// A server or a data directory, with the journal of this copy.
    Api(Endpoint, Journal),
    /// A dump.
    Dump(DumpWriter),
}

/// How to copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Most records a page holds (lowered to what both ends accept).
    pub batch_size: usize,
    /// Records per collection compared field by field at the end.
    pub sample: usize,
}

/// What a copy is doing, for a progress line.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// The collection's position among those copied (from 1).
    pub index: usize,
    /// How many collections are copied.
    pub collections: usize,
    /// The collection.
    pub collection: &'a CollectionInfo,
    /// Its records at the destination so far.
    pub done: u64,
    /// Records written by this run, over all collections.
    pub written: u64,
    /// Since the copy started.
    pub elapsed: Duration,
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Tenants copied.
    pub tenants: usize,
    /// Databases copied.
    pub databases: usize,
    /// Collections copied.
    pub collections: usize,
    /// Records the destination holds for them.
    pub records: u64,
    /// Records written by this run (fewer when it resumed).
    pub written: u64,
    /// Records an interrupted run had copied.
    pub resumed: u64,
    /// Records compared field by field with the source.
    pub sampled: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// What to copy: tenants with their databases, and collections.
struct Plan {
    databases: Vec<(String, String)>,
    collections: Vec<CollectionInfo>,
}

/// Copy the selection from `source` to `destination`.
pub async fn copy(
    source: &mut Source,
    destination: &mut Destination,
    selection: &Selection,
    options: CopyOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Summary, TransferError> {
    let started = Instant::now();
    let plan = plan(source, selection).await?;
    let batch_size = options
        .batch_size
        .min(max_batch(source).await?)
        .min(max_batch_of(destination).await?)
        .max(1);
    create_databases(destination, &plan.databases).await?;
    let mut summary = Summary {
        tenants: {
            let mut tenants: Vec<&String> = plan.databases.iter().map(|(t, _)| t).collect();
            tenants.dedup();
            tenants.len()
        },
        databases: plan.databases.len(),
        collections: plan.collections.len(),
        ..Summary::default()
    };
    let mut problems = Vec::new();
    for (index, c) in plan.collections.iter().enumerate() {
        let copied = copy_collection(source, destination, c, batch_size, &mut |done, written| {
            progress(Progress {
                index: index + 1,
                collections: plan.collections.len(),
                collection: c,
                done,
                written: summary.written + written,
                elapsed: started.elapsed(),
            })
        })
        .await?;
        summary.records += copied.records;
        summary.written += copied.written;
        summary.resumed += copied.resumed;
        let (sampled, found) = verify(source, destination, c, &copied, options.sample).await?;
        summary.sampled += sampled;
        problems.extend(found);
    }
    if !problems.is_empty() {
        return Err(TransferError::Verification(problems));
    }
    match destination {
        Destination::Api(endpoint, _) => endpoint.finish().await?,
        Destination::Dump(_) => {}
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// End a verified copy: its journal is no longer needed.
pub fn done(destination: Destination) {
    if let Destination::Api(_, journal) = destination {
        journal.remove();
    }
}

/// What copying one collection did.
struct Copied {
    /// The destination's id of it (none for a dump).
    id: Option<String>,
    records: u64,
    written: u64,
    resumed: u64,
}

async fn copy_collection(
    source: &mut Source,
    destination: &mut Destination,
    c: &CollectionInfo,
    batch_size: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Copied, TransferError> {
    let key = c.key();
    let (id, start) = match destination {
        Destination::Api(endpoint, journal) => {
            let id = create_collection(endpoint, c).await?;
            (Some(id), journal.done(&key))
        }
        Destination::Dump(writer) if writer.has(c) => {
            return Ok(Copied {
                id: None,
                records: c.records,
                written: 0,
                resumed: c.records,
            });
        }
        Destination::Dump(writer) => {
            writer.begin(c)?;
            (None, 0)
        }
    };
    let mut offset = start;
    let mut next = read_page(source, c, offset, batch_size).await?;
    progress(offset, 0);
    while !next.is_empty() {
        let page = next;
        let n = page.len() as u64;
        let (written, read) = tokio::join!(
            write_page(destination, c, id.as_deref(), &page),
            read_page(source, c, offset + n, batch_size)
        );
        written?;
        next = read?;
        offset += n;
        if let Destination::Api(_, journal) = destination {
            journal.record(&key, offset)?;
        }
        progress(offset, offset - start);
    }
    if let Destination::Dump(writer) = destination {
        writer.finish(offset)?;
    }
    Ok(Copied {
        id,
        records: offset,
        written: offset - start,
        resumed: start,
    })
}

async fn read_page(
    source: &mut Source,
    c: &CollectionInfo,
    offset: u64,
    limit: usize,
) -> Result<Page, TransferError> {
    match source {
        Source::Api(endpoint) => {
            let answer = endpoint
                .call(
                    Method::POST,
                    &format!("{}/get", c.path(&c.id)),
                    Some(&json!({"limit": limit, "offset": offset, "include": INCLUDE})),
                )
                .await?;
            Page::from_get(answer)
        }
        Source::Dump(reader) => reader.page(c, offset, limit),
    }
}

async fn write_page(
    destination: &mut Destination,
    c: &CollectionInfo,
    id: Option<&str>,
    page: &Page,
) -> Result<(), TransferError> {
    match destination {
        Destination::Api(endpoint, _) => {
            let id = id.expect("an API destination has the collection's id");
            endpoint
                .call(
                    Method::POST,
                    &format!("{}/upsert", c.path(id)),
                    Some(&page.upsert_body()),
                )
                .await
                .map(drop)
        }
        Destination::Dump(writer) => writer.write(page),
    }
}

/// Counts on both sides, and `sample` records spread over the collection
/// (read again from the source) field by field: how many were compared,
/// and what differs.
async fn verify(
    source: &mut Source,
    destination: &Destination,
    c: &CollectionInfo,
    copied: &Copied,
    sample: usize,
) -> Result<(usize, Vec<String>), TransferError> {
    let mut problems = Vec::new();
    let source_count = match source {
        Source::Api(endpoint) => count(endpoint, c, &c.id).await?,
        Source::Dump(_) => c.records,
    };
    let (Destination::Api(endpoint, _), Some(id)) = (destination, copied.id.as_deref()) else {
        if copied.records != source_count {
            problems.push(format!(
                "{}: {} records written, the source has {source_count}",
                c.key(),
                copied.records
            ));
        }
        return Ok((0, problems));
    };
    let destination_count = count(endpoint, c, id).await?;
    if destination_count != source_count {
        problems.push(format!(
            "{}: the destination has {destination_count} records, the source {source_count}",
            c.key()
        ));
    }
    let mut expected = Page::default();
    let step = (source_count / sample.max(1) as u64).max(1);
    let mut offset = 0;
    while offset < source_count && expected.len() < sample {
        expected.append(read_page(source, c, offset, 1).await?);
        offset += step;
    }
    if expected.is_empty() {
        return Ok((0, problems));
    }
    let answer = endpoint
        .call(
            Method::POST,
            &format!("{}/get", c.path(id)),
            Some(&json!({"ids": expected.ids, "include": INCLUDE})),
        )
        .await?;
    let held = Page::from_get(answer)?;
    for expected in expected.records() {
        let Some(i) = held.ids.iter().position(|id| *id == expected.id) else {
            problems.push(format!("{}: record {} is missing", c.key(), expected.id));
            continue;
        };
        let got = held.record(i);
        for (field, a, b) in [
            ("embedding", &expected.embedding, &got.embedding),
            ("document", &expected.document, &got.document),
            (
                "metadata",
                no_metadata(&expected.metadata),
                no_metadata(&got.metadata),
            ),
            ("uri", &expected.uri, &got.uri),
        ] {
            if !same(a, b) {
                problems.push(format!(
                    "{}: record {}'s {field} differs",
                    c.key(),
                    expected.id
                ));
            }
        }
    }
    Ok((expected.len(), problems))
}

/// Chroma answers `{}` for a record without metadata where Prism answers
/// `null`; both mean none.
fn no_metadata(metadata: &Value) -> &Value {
    match metadata {
        Value::Object(map) if map.is_empty() => &Value::Null,
        other => other,
    }
}

/// Equal as stored: numbers compared as 32-bit floats when either is a
/// fraction (embeddings are `f32`; one server writes `1.0` where another
/// writes `1`), exactly otherwise.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64().map(|v| v as f32) == y.as_f64().map(|v| v as f32),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

async fn count(endpoint: &Endpoint, c: &CollectionInfo, id: &str) -> Result<u64, TransferError> {
    let answer = endpoint
        .call(Method::GET, &format!("{}/count", c.path(id)), None)
        .await?;
    answer
        .as_u64()
        .ok_or_else(|| TransferError::Unexpected(format!("a count answered {answer}")))
}

/// The tenants, databases and collections of the selection, in order.
async fn plan(source: &Source, selection: &Selection) -> Result<Plan, TransferError> {
    let endpoint = match source {
        Source::Dump(reader) => {
            let m = &reader.manifest;
            let wanted =
                |list: &[String], name: &str| list.is_empty() || list.iter().any(|n| n == name);
            let collections: Vec<CollectionInfo> = m
                .collections
                .iter()
                .map(|d| d.info.clone())
                .filter(|c| {
                    wanted(&selection.tenants, &c.tenant)
                        && wanted(&selection.databases, &c.database)
                        && wanted(&selection.collections, &c.name)
                })
                .collect();
            let databases = m
                .databases
                .iter()
                .filter(|(t, d)| wanted(&selection.tenants, t) && wanted(&selection.databases, d))
                .cloned()
                .collect();
            let plan = Plan {
                databases,
                collections,
            };
            check_found(selection, &plan)?;
            return Ok(plan);
        }
        Source::Api(endpoint) => endpoint,
    };
    let tenants = if selection.tenants.is_empty() {
        endpoint
            .tenants()
            .unwrap_or_else(|| vec!["default_tenant".to_string()])
    } else {
        selection.tenants.clone()
    };
    let mut databases = Vec::new();
    let mut collections = Vec::new();
    for tenant in &tenants {
        let path = format!("/api/v2/tenants/{}/databases", path_segment(tenant));
        let names: Vec<String> = list(endpoint, &path)
            .await?
            .iter()
            .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .filter(|name| selection.databases.is_empty() || selection.databases.contains(name))
            .collect();
        for database in names {
            let path = format!(
                "/api/v2/tenants/{}/databases/{}/collections",
                path_segment(tenant),
                path_segment(&database)
            );
            for c in list(endpoint, &path).await? {
                let name = text_field(&c, "name")?;
                if !selection.collections.is_empty() && !selection.collections.contains(&name) {
                    continue;
                }
                let mut info = CollectionInfo {
                    tenant: tenant.clone(),
                    database: database.clone(),
                    name,
                    id: text_field(&c, "id")?,
                    metadata: c.get("metadata").cloned().unwrap_or(Value::Null),
                    configuration: c.get("configuration_json").cloned().unwrap_or(Value::Null),
                    records: 0,
                };
                info.records = count(endpoint, &info, &info.id.clone()).await?;
                collections.push(info);
            }
            databases.push((tenant.clone(), database));
        }
    }
    let plan = Plan {
        databases,
        collections,
    };
    check_found(selection, &plan)?;
    Ok(plan)
}

/// A name asked for that matched nothing is a mistake, not an empty copy.
fn check_found(selection: &Selection, plan: &Plan) -> Result<(), TransferError> {
    let missing = |kind: &str, names: &[String], has: &dyn Fn(&str) -> bool| {
        names.iter().find(|n| !has(n)).map_or(Ok(()), |name| {
            Err(TransferError::Settings(format!(
                "the source has no {kind} {name:?} (of the selection)"
            )))
        })
    };
    missing("tenant", &selection.tenants, &|n| {
        plan.databases.iter().any(|(t, _)| t == n)
    })?;
    missing("database", &selection.databases, &|n| {
        plan.databases.iter().any(|(_, d)| d == n)
    })?;
    missing("collection", &selection.collections, &|n| {
        plan.collections.iter().any(|c| c.name == n)
    })
}

/// Every item of a paged list route.
async fn list(endpoint: &Endpoint, path: &str) -> Result<Vec<Value>, TransferError> {
    const PAGE: usize = 100;
    let mut items = Vec::new();
    loop {
        let answer = endpoint
            .call(
                Method::GET,
                &format!("{path}?limit={PAGE}&offset={}", items.len()),
                None,
            )
            .await?;
        let Value::Array(page) = answer else {
            return Err(TransferError::Unexpected(format!(
                "{path} answered something other than a list"
            )));
        };
        let n = page.len();
        items.extend(page);
        if n < PAGE {
            return Ok(items);
        }
    }
}

fn text_field(item: &Value, name: &str) -> Result<String, TransferError> {
    item.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TransferError::Unexpected(format!("a collection without {name}: {item}")))
}

/// The most records one write may hold at an endpoint (its pre-flight
/// checks; no limit when it does not say).
async fn max_batch_at(endpoint: &Endpoint) -> Result<usize, TransferError> {
    let answer = endpoint
        .call(Method::GET, "/api/v2/pre-flight-checks", None)
        .await?;
    Ok(answer
        .get("max_batch_size")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |n| n as usize))
}

async fn max_batch(source: &Source) -> Result<usize, TransferError> {
    match source {
        Source::Api(endpoint) => max_batch_at(endpoint).await,
        Source::Dump(_) => Ok(usize::MAX),
    }
}

async fn max_batch_of(destination: &Destination) -> Result<usize, TransferError> {
    match destination {
        Destination::Api(endpoint, _) => max_batch_at(endpoint).await,
        Destination::Dump(_) => Ok(usize::MAX),
    }
}

/// The tenants and databases, where missing.
async fn create_databases(
    destination: &mut Destination,
    databases: &[(String, String)],
) -> Result<(), TransferError> {
    let endpoint = match destination {
        Destination::Dump(writer) => return writer.databases(databases),
        Destination::Api(endpoint, _) => endpoint,
    };
    let mut tenants: Vec<&String> = Vec::new();
    for (tenant, database) in databases {
        if !tenants.contains(&tenant) {
            tenants.push(tenant);
            created(
                endpoint
                    .call(
                        Method::POST,
                        "/api/v2/tenants",
                        Some(&json!({"name": tenant})),
                    )
                    .await,
            )?;
        }
        created(
            endpoint
                .call(
                    Method::POST,
                    &format!("/api/v2/tenants/{}/databases", path_segment(tenant)),
                    Some(&json!({"name": database})),
                )
                .await,
        )?;
    }
    Ok(())
}

/// Made now or before.
fn created(answer: Result<Value, TransferError>) -> Result<(), TransferError> {
    match answer {
        Err(e) if !endpoint::exists(&e) => Err(e),
        _ => Ok(()),
    }
}

/// The collection at the destination (made when missing, with the source's
/// metadata and configuration): its id there.
async fn create_collection(
    endpoint: &Endpoint,
    c: &CollectionInfo,
) -> Result<String, TransferError> {
    let mut body = json!({"name": c.name, "get_or_create": true});
    if !c.metadata.is_null() {
        body["metadata"] = c.metadata.clone();
    }
    if let Value::Object(configuration) = &c.configuration {
        // Keys a server sets to `null` are ones it does not use.
        let given: Map<String, Value> = configuration
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        body["configuration"] = Value::Object(given);
    }
    let path = format!(
        "/api/v2/tenants/{}/databases/{}/collections",
        path_segment(&c.tenant),
        path_segment(&c.database)
    );
    let answer = endpoint.call(Method::POST, &path, Some(&body)).await?;
    text_field(&answer, "id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_get_answer_becomes_columns_with_nulls_where_not_given() {
        let page = Page::from_get(json!({
            "ids": ["a", "b"],
            "embeddings": [[1.0, 2.0], [3.0, 4.0]],
            "documents": ["x", null],
            "metadatas": null,
            "include": ["embeddings", "documents"]
        }))
        .unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page.metadatas, vec![Value::Null, Value::Null]);
        assert_eq!(page.uris, vec![Value::Null, Value::Null]);
        let body = page.upsert_body();
        assert_eq!(body["documents"], json!(["x", null]));
        assert!(body.get("metadatas").is_none() && body.get("uris").is_none());
        assert!(Page::from_get(json!({"ids": ["a"], "documents": []})).is_err());
        assert!(Page::from_get(json!([])).is_err());
    }

    #[test]
    fn values_are_the_same_as_stored() {
        assert!(same(
            &json!([0.1f32, 1]),
            &json!([0.10000000149011612, 1.0])
        ));
        assert!(same(&json!({"a": 1, "b": "x"}), &json!({"b": "x", "a": 1})));
        assert!(!same(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!same(&json!([1.5]), &json!([1.25])));
        assert!(!same(&json!("1"), &json!(1)));
        assert!(same(&Value::Null, &Value::Null));
    }

    #[test]
    fn names_asked_for_must_exist() {
        let c = CollectionInfo {
            tenant: "t".into(),
            database: "d".into(),
            name: "c".into(),
            id: "1".into(),
            metadata: Value::Null,
            configuration: Value::Null,
            records: 0,
        };
        let plan = Plan {
            databases: vec![("t".into(), "d".into()), ("t".into(), "empty".into())],
            collections: vec![c],
        };
        let mut selection = Selection::default();
        assert!(check_found(&selection, &plan).is_ok());
        selection.collections = vec!["c".into()];
        selection.databases = vec!["empty".into()];
        assert!(check_found(&selection, &plan).is_ok());
        selection.databases = vec!["other".into()];
        let refused = check_found(&selection, &plan).unwrap_err().to_string();
        assert!(refused.contains("database \"other\""), "{refused}");
    }
}
