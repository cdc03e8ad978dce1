//! Plain data types shared by the engine and the HTTP layer.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A tenant as Chroma returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    /// Tenant name.
    pub name: String,
    /// Cloud-only resource name; always `null` here unless set with PATCH.
    pub resource_name: Option<String>,
}

/// A database as Chroma returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Database {
    /// Database id (UUID); `default_database` has the nil UUID.
    pub id: Uuid,
    /// Database name.
    pub name: String,
    /// Owning tenant.
    pub tenant: String,
}

/// A collection as Chroma returns it (`Collection` in the OpenAPI document).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Collection {
    /// Collection id (UUID v4).
    pub id: Uuid,
    /// Collection name, unique within its database.
    pub name: String,
    /// Effective configuration: `{"hnsw": {...}, "spann": null, "embedding_function": ...}`.
    pub configuration_json: Value,
    /// Chroma 1.x schema; Prism stores none and returns `null`.
    pub schema: Option<Value>,
    /// User metadata, `null` when none was given.
    pub metadata: Option<Map<String, Value>>,
    /// Embedding dimension, fixed by the first write.
    pub dimension: Option<u32>,
    /// Owning tenant.
    pub tenant: String,
    /// Owning database.
    pub database: String,
    /// Chroma's write-log position; always 0 for a single-node store.
    pub log_position: i64,
    /// Chroma's collection version; always 0 for a single-node store.
    pub version: i64,
}

/// Which fields a get or query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncludeField {
    /// Stored documents.
    Documents,
    /// Original (not normalised) embeddings.
    Embeddings,
    /// Record metadata.
    Metadatas,
    /// Distances (query only).
    Distances,
    /// Record URIs.
    Uris,
}

/// The set of fields to return, in the order the caller gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Include(pub Vec<IncludeField>);

impl Include {
    /// Whether `field` was asked for.
    pub fn has(&self, field: IncludeField) -> bool {
        self.0.contains(&field)
    }
}

/// One stored record, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// User id.
    pub id: String,
    /// The embedding as given by the user, if asked for.
    pub embedding: Option<Vec<f32>>,
    /// The document, if any.
    pub document: Option<String>,
    /// The URI, if any.
    pub uri: Option<String>,
    /// The metadata, if any.
    pub metadata: Option<Map<String, Value>>,
}

/// Which write a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Insert records whose id is absent; existing ids are left alone.
    Add,
    /// Change existing records; unknown ids are ignored.
    Update,
    /// Insert or change.
    Upsert,
}

/// A batch of records to write. Every present column has one entry per id.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    /// Record ids.
    pub ids: Vec<String>,
    /// Embeddings; for update an entry may be `None` (keep the stored one).
    pub embeddings: Option<Vec<Option<Vec<f32>>>>,
    /// Documents; `None` entries leave the stored document as it is on update.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata maps; a `null` value deletes the key on update/upsert.
    pub metadatas: Option<Vec<Option<Map<String, Value>>>>,
}

impl RecordBatch {
    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Result of a get: records in storage order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetResult {
    /// Matching records.
    pub records: Vec<Record>,
}

/// Result of a query: one list of hits per query embedding, nearest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// Hits per query vector: the record and its distance.
    pub hits: Vec<Vec<(Record, f32)>>,
}
