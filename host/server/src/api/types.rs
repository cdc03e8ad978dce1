//! Request and response bodies of the `/api/v2` routes, as the clients send
//! and expect them.

use base64::Engine as _;
use prism_engine::collection_config::{CreateConfiguration, UpdateConfiguration};
use prism_engine::types::{Include, IncludeField};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::openapi;

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
    pub metadata: Option<OrderedMap<NonNullMetadataValue>>,
    /// Index configuration.
    #[schema(value_type = Option<openapi::CreateConfiguration>)]
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
    /// New metadata (replaces the old; null values are dropped).
    pub new_metadata: Option<OrderedMap<MetadataValue>>,
    /// Mutable configuration.
    #[schema(value_type = Option<openapi::UpdateConfiguration>)]
    pub new_configuration: Option<UpdateConfiguration>,
}

/// Embeddings of an add or upsert: all JSON float arrays, or all base64
/// strings of little-endian f32s (what clients send when pre-flight says so).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingsInput {
    /// Float arrays.
    Floats(Vec<Vec<f32>>),
    /// Base64 (standard alphabet) of little-endian f32 bytes.
    Base64(Vec<String>),
}

/// Embeddings of an update: entries may be null (keep the stored vector).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UpdateEmbeddingsInput {
    /// Float arrays.
    Floats(Vec<Option<Vec<f32>>>),
    /// Base64 strings.
    Base64(Vec<Option<String>>),
}

/// Decode one base64 embedding.
pub fn decode_base64_embedding(index: usize, text: &str) -> Result<Vec<f32>, ApiError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| ApiError::invalid(format!("Invalid base64 string: {e}")))?;
    if bytes.len() % 4 != 0 {
        return Err(ApiError::invalid(format!(
            "Invalid base64 embedding: {} bytes is not divisible by 4",
            bytes.len()
        )));
    }
    let vector: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(bad) = vector.iter().find(|x| !x.is_finite()) {
        return Err(ApiError::invalid(format!(
            "Non-finite float value at embedding index {index}: {bad}"
        )));
    }
    Ok(vector)
}

impl EmbeddingsInput {
    /// The vectors, decoding base64.
    pub fn decode(self) -> Result<Vec<Option<Vec<f32>>>, ApiError> {
        match self {
            Self::Floats(v) => Ok(v.into_iter().map(Some).collect()),
            Self::Base64(v) => v
                .iter()
                .enumerate()
                .map(|(i, t)| decode_base64_embedding(i, t).map(Some))
                .collect(),
        }
    }
}

impl UpdateEmbeddingsInput {
    /// The vectors, decoding base64.
    pub fn decode(self) -> Result<Vec<Option<Vec<f32>>>, ApiError> {
        match self {
            Self::Floats(v) => Ok(v),
            Self::Base64(v) => v
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    t.as_deref()
                        .map(|t| decode_base64_embedding(i, t))
                        .transpose()
                })
                .collect(),
        }
    }
}

/// A metadata value as Chroma's `MetadataValue` accepts it: a scalar, null,
/// a non-empty homogeneous array of scalars, or a sparse vector. Anything
/// else fails deserialization (422), naming its path.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct MetadataValue(pub Value);

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Bool(_) | Value::Number(_));
        let ok = match &value {
            Value::Null | Value::String(_) | Value::Bool(_) | Value::Number(_) => true,
            Value::Array(items) => {
                let same_kind = |a: &Value, b: &Value| {
                    matches!(
                        (a, b),
                        (Value::String(_), Value::String(_))
                            | (Value::Bool(_), Value::Bool(_))
                            | (Value::Number(_), Value::Number(_))
                    )
                };
                items.iter().all(scalar) && items.windows(2).all(|w| same_kind(&w[0], &w[1]))
            }
            Value::Object(map) => map.get("#type").and_then(Value::as_str) == Some("sparse_vector"),
        };
        if ok {
            Ok(Self(value))
        } else {
            Err(serde::de::Error::custom(
                "data did not match any variant of untagged enum MetadataValue",
            ))
        }
    }
}

/// A collection metadata value on create: as [`MetadataValue`] but not null.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct NonNullMetadataValue(pub Value);

impl<'de> Deserialize<'de> for NonNullMetadataValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match MetadataValue::deserialize(d)? {
            MetadataValue(Value::Null) => Err(serde::de::Error::custom(
                "data did not match any variant of untagged enum MetadataValue",
            )),
            MetadataValue(v) => Ok(Self(v)),
        }
    }
}

impl From<MetadataValue> for Value {
    fn from(v: MetadataValue) -> Self {
        v.0
    }
}

impl From<NonNullMetadataValue> for Value {
    fn from(v: NonNullMetadataValue) -> Self {
        v.0
    }
}

/// A metadata map in the order the client sent its keys, with each value
/// checked while it is deserialized (so errors name the key's path).
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V: Into<Value>> OrderedMap<V> {
    /// The engine's map.
    pub fn into_map(self) -> Map<String, Value> {
        self.0.into_iter().map(|(k, v)| (k, v.into())).collect()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> serde::de::Visitor<'de> for Visit<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a metadata map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = access.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// Record metadata on the wire.
pub type RecordMetadata = OrderedMap<MetadataValue>;

/// Turn wire metadata into the engine's maps.
pub fn metadata_maps(
    list: Option<Vec<Option<RecordMetadata>>>,
) -> Option<Vec<Option<Map<String, Value>>>> {
    list.map(|l| l.into_iter().map(|m| m.map(OrderedMap::into_map)).collect())
}

/// `POST .../add` and `.../upsert`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPayload {
    /// Record ids.
    pub ids: Vec<String>,
    /// Embeddings, one per id.
    pub embeddings: EmbeddingsInput,
    /// Documents.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata maps.
    pub metadatas: Option<Vec<Option<RecordMetadata>>>,
}

/// `POST .../update`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdatePayload {
    /// Record ids.
    pub ids: Vec<String>,
    /// Embeddings; null entries keep the stored vector.
    pub embeddings: Option<UpdateEmbeddingsInput>,
    /// Documents.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata maps; a null value deletes the key.
    pub metadatas: Option<Vec<Option<RecordMetadata>>>,
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
    /// Fields to return (default documents and metadatas; `null` is refused).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<openapi::IncludeField>>)]
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
    pub query_embeddings: Vec<Vec<f32>>,
    /// Hits per search (default 10).
    pub n_results: Option<u32>,
    /// Fields to return (default documents, metadatas, distances; `null` is refused).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<openapi::IncludeField>>)]
    pub include: Option<Vec<IncludeField>>,
}

/// A field that may be absent but, when present, may not be `null` (as in
/// Chroma, whose fields have serde defaults rather than `Option`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
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
    #[schema(value_type = Vec<openapi::IncludeField>)]
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
    #[schema(value_type = Vec<openapi::IncludeField>)]
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
    /// Free-form attributes from the authentication plugin; `null` when it
    /// gave none, absent when authentication is off (both as Chroma).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub attributes: Option<Option<BTreeMap<String, String>>>,
}

impl Identity {
    /// The answer without authentication.
    pub fn anonymous() -> Self {
        Identity {
            user_id: String::new(),
            tenant: Some(prism_engine::DEFAULT_TENANT.to_string()),
            databases: Some(vec![prism_engine::DEFAULT_DATABASE.to_string()]),
            attributes: None,
        }
    }
}

impl From<&prism_auth::Identity> for Identity {
    fn from(who: &prism_auth::Identity) -> Self {
        Identity {
            user_id: who.user_id.clone(),
            tenant: who.tenant.clone(),
            databases: who.databases.clone(),
            attributes: Some(
                (!who.attributes.is_empty()).then(|| who.attributes.iter().cloned().collect()),
            ),
        }
    }
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
    /// Prism only: the candidate list size graph searches use, when it was
    /// chosen by measuring the graph's recall (the collection's `ef_search`
    /// is Chroma's default, 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_ef: Option<u64>,
    /// Prism only: recall@10 measured at `search_ef` on the graph's own
    /// points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_recall_estimate: Option<f64>,
}

/// An empty JSON object, `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Empty {}
