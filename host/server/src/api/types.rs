//! Request and response bodies of the `/api/v2` routes, as the clients send
//! and expect them.

use base64::Engine as _;
use prism_engine::collection_config::{CreateConfiguration, UpdateConfiguration};
use prism_engine::types::{Include, IncludeField};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;

/// A record's metadata as it travels over the wire.
pub type Metadata = Map<String, Value>;

/// `?limit=&offset=` on list routes.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// At most this many items.
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
}

/// `POST /tenants`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateTenant {
    /// Tenant name (3+ characters).
    pub name: String,
}

/// `PATCH /tenants/{tenant}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateTenant {
    /// Cloud resource name.
    pub resource_name: String,
}

/// `POST /tenants/{tenant}/databases`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateDatabase {
    /// Database name.
    pub name: String,
}

/// `POST .../collections`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateCollection {
    /// Collection name.
    pub name: String,
    /// Collection metadata (legacy `hnsw:*` keys are honoured).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Index configuration.
    pub configuration: Option<CreateConfiguration>,
    /// Chroma 1.x schema; its keys are returned as given.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Return the existing collection instead of failing.
    #[serde(default)]
    pub get_or_create: bool,
}

/// `PUT .../collections/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateCollection {
    /// New name.
    pub new_name: Option<String>,
    /// New metadata (replaces the old).
    #[schema(value_type = Option<Object>)]
    pub new_metadata: Option<Map<String, Value>>,
    /// Mutable configuration.
    pub new_configuration: Option<UpdateConfiguration>,
}

/// One embedding: a JSON float array or base64 of little-endian f32s.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// Floats.
    Floats(Vec<f32>),
    /// Base64 (standard alphabet, padded) of little-endian f32 bytes.
    Base64(String),
}

impl EmbeddingInput {
    /// The floats, decoding base64.
    pub fn into_vec(self) -> Result<Vec<f32>, ApiError> {
        match self {
            Self::Floats(v) => Ok(v),
            Self::Base64(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| ApiError::invalid(format!("Invalid base64 embedding: {e}")))?;
                if bytes.len() % 4 != 0 {
                    return Err(ApiError::invalid(
                        "Invalid base64 embedding: length is not a multiple of 4 bytes",
                    ));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            }
        }
    }
}

/// Decode a list of optional embeddings.
pub fn decode_embeddings(
    list: Vec<Option<EmbeddingInput>>,
) -> Result<Vec<Option<Vec<f32>>>, ApiError> {
    list.into_iter()
        .map(|e| e.map(EmbeddingInput::into_vec).transpose())
        .collect()
}

/// `POST .../add`, `.../update`, `.../upsert`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RecordsPayload {
    /// Record ids.
    pub ids: Vec<String>,
    /// Embeddings (entries may be null on update).
    pub embeddings: Option<Vec<Option<EmbeddingInput>>>,
    /// Documents.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata maps.
    #[schema(value_type = Option<Vec<Option<Object>>>)]
    pub metadatas: Option<Vec<Option<Map<String, Value>>>>,
}

/// `POST .../delete`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeletePayload {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    #[serde(rename = "where")]
    #[schema(value_type = Option<Object>)]
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    #[schema(value_type = Option<Object>)]
    pub where_document: Option<Value>,
    /// Delete at most this many.
    pub limit: Option<u32>,
}

/// `POST .../get`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GetPayload {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    #[serde(rename = "where")]
    #[schema(value_type = Option<Object>)]
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    #[schema(value_type = Option<Object>)]
    pub where_document: Option<Value>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Skip this many.
    pub offset: Option<u32>,
    /// Fields to return (default documents and metadatas).
    pub include: Option<Vec<IncludeField>>,
}

/// `POST .../query`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QueryPayload {
    /// Only among these ids.
    pub ids: Option<Vec<String>>,
    /// `where` clause.
    #[serde(rename = "where")]
    #[schema(value_type = Option<Object>)]
    pub where_clause: Option<Value>,
    /// `where_document` clause.
    #[schema(value_type = Option<Object>)]
    pub where_document: Option<Value>,
    /// One search per embedding.
    pub query_embeddings: Vec<EmbeddingInput>,
    /// Hits per search (default 10).
    pub n_results: Option<u32>,
    /// Fields to return (default documents, metadatas, distances).
    pub include: Option<Vec<IncludeField>>,
}

/// Include list with a default.
pub fn include_or(list: Option<Vec<IncludeField>>, default: &[IncludeField]) -> Include {
    Include(list.unwrap_or_else(|| default.to_vec()))
}

/// `POST .../get` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct GetResponse {
    /// Record ids.
    pub ids: Vec<String>,
    /// Embeddings, when included.
    pub embeddings: Option<Vec<Vec<f32>>>,
    /// Documents, when included.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs, when included.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata, when included.
    #[schema(value_type = Option<Vec<Option<Object>>>)]
    pub metadatas: Option<Vec<Option<Map<String, Value>>>>,
    /// The include list, echoed.
    pub include: Vec<IncludeField>,
}

/// `POST .../query` response: every field has one list per query embedding.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResponse {
    /// Record ids.
    pub ids: Vec<Vec<String>>,
    /// Embeddings, when included.
    pub embeddings: Option<Vec<Vec<Vec<f32>>>>,
    /// Documents, when included.
    pub documents: Option<Vec<Vec<Option<String>>>>,
    /// URIs, when included.
    pub uris: Option<Vec<Vec<Option<String>>>>,
    /// Metadata, when included.
    #[schema(value_type = Option<Vec<Vec<Option<Object>>>>)]
    pub metadatas: Option<Vec<Vec<Option<Metadata>>>>,
    /// Distances, when included.
    pub distances: Option<Vec<Vec<f32>>>,
    /// The include list, echoed.
    pub include: Vec<IncludeField>,
}

/// `POST .../delete` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    /// How many records were deleted.
    pub deleted: u64,
}

/// `GET /heartbeat`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Heartbeat {
    /// Nanoseconds since the epoch.
    #[serde(rename = "nanosecond heartbeat")]
    pub nanosecond_heartbeat: u128,
}

/// `GET /pre-flight-checks`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreFlight {
    /// Largest batch the client should send.
    pub max_batch_size: u32,
    /// Whether base64 embeddings are accepted.
    pub supports_base64_encoding: bool,
}

/// `GET /healthcheck`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always true once serving.
    pub is_executor_ready: bool,
    /// Always true once serving.
    pub is_log_client_ready: bool,
}

/// `GET /auth/identity`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identity {
    /// User id (`""` without authentication).
    pub user_id: String,
    /// Tenant the user is scoped to.
    pub tenant: Option<String>,
    /// Databases the user is scoped to.
    pub databases: Option<Vec<String>>,
}

/// `GET .../indexing_status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndexingStatus {
    /// Operations applied to the index.
    pub num_indexed_ops: u64,
    /// Operations not yet applied.
    pub num_unindexed_ops: u64,
    /// All operations.
    pub total_ops: u64,
    /// Fraction indexed.
    pub op_indexing_progress: f64,
}

/// An empty JSON object, `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}
