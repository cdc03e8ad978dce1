//! Collection configuration: Chroma's `configuration.hnsw` (strict fields),
//! the legacy `hnsw:*` metadata keys, and the `configuration_json` echoed back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::distance::Space;
use crate::error::{EngineError, Result};
use crate::index::IndexParams;

/// `configuration.hnsw` on create; unknown fields are rejected (422 upstream).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HnswCreate {
    /// Distance space.
    pub space: Option<Space>,
    /// Build-time candidate list size.
    pub ef_construction: Option<usize>,
    /// Search-time candidate list size.
    pub ef_search: Option<usize>,
    /// Neighbours per node.
    pub max_neighbors: Option<usize>,
    /// Accepted for compatibility; not used by Prism's index.
    pub num_threads: Option<usize>,
    /// Accepted for compatibility; echoed back.
    pub resize_factor: Option<f64>,
    /// Accepted for compatibility; echoed back.
    pub sync_threshold: Option<usize>,
    /// Accepted for compatibility; not echoed back (as in Chroma).
    pub batch_size: Option<usize>,
}

/// `new_configuration.hnsw` on modify: the space and build parameters are fixed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HnswUpdate {
    /// Search-time candidate list size.
    pub ef_search: Option<usize>,
    /// Neighbours per node (applies when the graph is next rebuilt).
    pub max_neighbors: Option<usize>,
    /// Accepted for compatibility.
    pub num_threads: Option<usize>,
    /// Accepted for compatibility.
    pub resize_factor: Option<f64>,
    /// Accepted for compatibility.
    pub sync_threshold: Option<usize>,
    /// Accepted for compatibility.
    pub batch_size: Option<usize>,
}

/// The `configuration` object of a create-collection request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateConfiguration {
    /// HNSW settings.
    pub hnsw: Option<HnswCreate>,
    /// SPANN is Chroma's distributed index; only `null` is accepted.
    pub spann: Option<Value>,
    /// Stored and echoed verbatim: clients rebuild their embedding function from it.
    pub embedding_function: Option<Value>,
}

/// The `new_configuration` object of a modify-collection request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfiguration {
    /// HNSW settings that may change.
    pub hnsw: Option<HnswUpdate>,
    /// Only `null` is accepted.
    pub spann: Option<Value>,
    /// Replaces the stored embedding function description.
    pub embedding_function: Option<Value>,
}

/// A collection's effective HNSW settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HnswSettings {
    /// Distance space.
    pub space: Space,
    /// Build-time candidate list size.
    pub ef_construction: usize,
    /// Search-time candidate list size.
    pub ef_search: usize,
    /// Neighbours per node.
    pub max_neighbors: usize,
    /// Echoed for compatibility.
    pub resize_factor: f64,
    /// Echoed for compatibility.
    pub sync_threshold: usize,
    /// Shown in the schema for compatibility.
    #[serde(default = "default_num_threads")]
    pub num_threads: usize,
    /// Shown in the schema for compatibility.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

impl HnswSettings {
    /// Take every field `h` sets.
    fn merge(&mut self, h: &HnswCreate) {
        self.space = h.space.unwrap_or(self.space);
        self.ef_construction = h.ef_construction.unwrap_or(self.ef_construction);
        self.ef_search = h.ef_search.unwrap_or(self.ef_search);
        self.max_neighbors = h.max_neighbors.unwrap_or(self.max_neighbors);
        self.resize_factor = h.resize_factor.unwrap_or(self.resize_factor);
        self.sync_threshold = h.sync_threshold.unwrap_or(self.sync_threshold);
        self.num_threads = h.num_threads.unwrap_or(self.num_threads);
        self.batch_size = h.batch_size.unwrap_or(self.batch_size);
    }
}

impl From<&HnswUpdate> for HnswCreate {
    fn from(u: &HnswUpdate) -> Self {
        Self {
            space: None,
            ef_construction: None,
            ef_search: u.ef_search,
            max_neighbors: u.max_neighbors,
            num_threads: u.num_threads,
            resize_factor: u.resize_factor,
            sync_threshold: u.sync_threshold,
            batch_size: u.batch_size,
        }
    }
}

fn default_num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn default_batch_size() -> usize {
    100
}

impl Default for HnswSettings {
    fn default() -> Self {
        Self {
            space: Space::L2,
            ef_construction: 100,
            ef_search: 100,
            max_neighbors: 16,
            resize_factor: 1.2,
            sync_threshold: 1000,
            num_threads: default_num_threads(),
            batch_size: default_batch_size(),
        }
    }
}

/// Everything stored about a collection's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConfiguration {
    /// HNSW settings.
    pub hnsw: HnswSettings,
    /// The embedding function description, verbatim.
    pub embedding_function: Option<Value>,
    /// A schema the client sent on create, kept so it is returned as given.
    #[serde(default)]
    pub user_schema: Option<Value>,
}

impl StoredConfiguration {
    /// The `configuration_json` object Chroma returns.
    pub fn to_chroma_json(&self) -> Value {
        let h = &self.hnsw;
        json!({
            "hnsw": {
                "space": h.space.as_str(),
                "ef_construction": h.ef_construction,
                "ef_search": h.ef_search,
                "max_neighbors": h.max_neighbors,
                "resize_factor": h.resize_factor,
                "sync_threshold": h.sync_threshold,
            },
            "spann": null,
            "embedding_function": self.embedding_function.clone().unwrap_or(Value::Null),
        })
    }

    /// The `schema` object Chroma 1.x returns: the default value-type indexes,
    /// with the vector index describing this configuration. Keys of a schema
    /// the client sent on create are laid over the defaults.
    pub fn to_chroma_schema(&self) -> Value {
        let h = &self.hnsw;
        let hnsw = json!({
            "ef_construction": h.ef_construction,
            "max_neighbors": h.max_neighbors,
            "ef_search": h.ef_search,
            "num_threads": h.num_threads,
            "batch_size": h.batch_size,
            "sync_threshold": h.sync_threshold,
            "resize_factor": h.resize_factor,
        });
        let mut vector_config = json!({"space": h.space.as_str()});
        if let Some(ef) = &self.embedding_function {
            vector_config["embedding_function"] = ef.clone();
        }
        let mut embedding_config = vector_config.clone();
        vector_config["hnsw"] = hnsw.clone();
        embedding_config["source_key"] = json!("#document");
        embedding_config["hnsw"] = hnsw;
        let index = |enabled: bool| json!({"enabled": enabled, "config": {}});
        let mut schema = json!({
            "defaults": {
                "string": {"fts_index": index(false), "string_inverted_index": index(true)},
                "float_list": {"vector_index": {"enabled": false, "config": vector_config}},
                "sparse_vector": {"sparse_vector_index": {"enabled": false, "config": {"embedding_function": {"type": "unknown"}, "bm25": false}}},
                "int": {"int_inverted_index": index(true)},
                "float": {"float_inverted_index": index(true)},
                "bool": {"bool_inverted_index": index(true)},
            },
            "keys": {
                "#document": {"string": {"fts_index": index(true), "string_inverted_index": index(false)}},
                "#embedding": {"float_list": {"vector_index": {"enabled": true, "config": embedding_config}}},
            }
        });
        if let Some(Value::Object(user_keys)) =
            self.user_schema.as_ref().and_then(|s| s.get("keys"))
        {
            for (key, value) in user_keys {
                if key != "#embedding" {
                    schema["keys"][key] = value.clone();
                }
            }
        }
        schema
    }

    /// The parameters the vector index is built with.
    pub fn index_params(&self) -> IndexParams {
        IndexParams {
            space: self.hnsw.space,
            ef_construction: self.hnsw.ef_construction,
            ef_search: self.hnsw.ef_search,
            max_neighbors: self.hnsw.max_neighbors,
        }
    }

    /// Build the configuration of a new collection from the request's
    /// `configuration` and, where it has no `hnsw`, the legacy metadata keys.
    pub fn for_create(
        config: Option<&CreateConfiguration>,
        metadata: Option<&Map<String, Value>>,
        schema: Option<&Value>,
    ) -> Result<Self> {
        let mut hnsw = HnswSettings::default();
        let spann_space = spann_space(config.and_then(|c| c.spann.as_ref()))?;
        if config.is_some_and(|c| c.hnsw.is_some()) && spann_space.is_some() {
            return Err(EngineError::invalid(
                "Cannot specify both hnsw and spann configuration",
            ));
        }
        match config.and_then(|c| c.hnsw.as_ref()) {
            Some(h) => {
                hnsw.merge(h);
                check_minimums(h.sync_threshold, h.batch_size)?;
            }
            None => {
                if let Some(meta) = metadata {
                    apply_legacy_metadata(&mut hnsw, meta)?;
                }
                // Chroma's single-node server turns a SPANN request into HNSW
                // with the same space and default parameters.
                if let Some(space) = spann_space {
                    hnsw.space = space;
                }
            }
        }
        let mut embedding_function = config.and_then(|c| c.embedding_function.clone());
        if let Some(schema) = schema {
            let request = crate::schema::vector_index_request(schema)?;
            if let (Some(from_schema), Some(from_config)) =
                (&request.embedding_function, &embedding_function)
                && from_schema != from_config
                && !crate::schema::is_default_embedding_function(from_config)
                && !crate::schema::is_default_embedding_function(from_schema)
            {
                return Err(EngineError::invalid(format!(
                    "Conflicting embedding functions: the schema sets {from_schema} but the configuration sets {from_config}"
                )));
            }
            // Clients always send an hnsw space in the configuration (their
            // embedding function's default), so a schema that sets its own
            // vector index wins; a default `Schema()` (default embedding
            // function, l2, no index parameters) leaves the configuration be.
            let schema_is_default = request.hnsw.is_none()
                && !request.has_spann
                && request.space.is_none_or(|s| s == Space::L2)
                && request
                    .embedding_function
                    .as_ref()
                    .is_none_or(crate::schema::is_default_embedding_function);
            if let Some(space) = request.space.filter(|_| !schema_is_default) {
                hnsw.space = space;
            }
            if let Some(h) = &request.hnsw {
                let h: HnswCreate = serde_json::from_value(h.clone()).map_err(|e| {
                    EngineError::invalid(format!("Invalid hnsw settings in schema: {e}"))
                })?;
                hnsw.merge(&h);
            }
            // A schema's default embedding function does not override the
            // configuration's chosen one.
            if let Some(ef) = request.embedding_function
                && (embedding_function.is_none()
                    || !crate::schema::is_default_embedding_function(&ef))
            {
                embedding_function = Some(ef);
            }
        }
        check_settings(&hnsw)?;
        Ok(Self {
            hnsw,
            embedding_function,
            user_schema: schema.filter(|s| s.is_object()).cloned(),
        })
    }

    /// Apply a modify request's `new_configuration`.
    pub fn apply_update(&mut self, update: &UpdateConfiguration) -> Result<()> {
        if update.spann.as_ref().is_some_and(|s| !s.is_null()) {
            return Err(EngineError::invalid(
                "Cannot update spann configuration of an hnsw collection",
            ));
        }
        if let Some(h) = &update.hnsw {
            let mut next = self.hnsw.clone();
            next.merge(&HnswCreate::from(h));
            check_minimums(h.sync_threshold, h.batch_size)?;
            check_settings(&next)?;
            self.hnsw = next;
        }
        if let Some(ef) = &update.embedding_function {
            self.embedding_function = Some(ef.clone());
        }
        Ok(())
    }
}

/// The space of a `configuration.spann` object, which is all a single-node
/// server keeps of it.
fn spann_space(spann: Option<&Value>) -> Result<Option<Space>> {
    match spann {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => match map.get("space") {
            None => Ok(Some(Space::L2)),
            Some(v) => v
                .as_str()
                .and_then(Space::parse)
                .map(Some)
                .ok_or_else(|| EngineError::invalid(format!("Invalid spann space {v}"))),
        },
        Some(other) => Err(EngineError::invalid(format!(
            "Invalid spann configuration {other}"
        ))),
    }
}

fn check_minimums(sync_threshold: Option<usize>, batch_size: Option<usize>) -> Result<()> {
    if sync_threshold.is_some_and(|v| v < 2) || batch_size.is_some_and(|v| v < 2) {
        return Err(EngineError::invalid(
            "Validation error: sync_threshold and batch_size must be at least 2",
        ));
    }
    Ok(())
}

fn check_settings(h: &HnswSettings) -> Result<()> {
    // The graph stores link counts in a byte and keeps 2*M links on layer 0.
    if !(2..=128).contains(&h.max_neighbors) {
        return Err(EngineError::invalid(format!(
            "Validation error: max_neighbors must be between 2 and 128, got {}",
            h.max_neighbors
        )));
    }
    if h.ef_construction == 0 || h.ef_search == 0 {
        return Err(EngineError::invalid(
            "Validation error: ef_construction and ef_search must be positive",
        ));
    }
    Ok(())
}

fn legacy_uint(meta: &Map<String, Value>, key: &str) -> Result<Option<usize>> {
    match meta.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| {
            EngineError::invalid(format!("{key} must be a positive integer, got {v}"))
        }),
    }
}

fn apply_legacy_metadata(h: &mut HnswSettings, meta: &Map<String, Value>) -> Result<()> {
    if let Some(space) = meta.get("hnsw:space") {
        h.space = space
            .as_str()
            .and_then(Space::parse)
            .ok_or_else(|| EngineError::invalid(format!("Invalid hnsw:space {space}")))?;
    }
    h.ef_construction = legacy_uint(meta, "hnsw:construction_ef")?.unwrap_or(h.ef_construction);
    h.ef_search = legacy_uint(meta, "hnsw:search_ef")?.unwrap_or(h.ef_search);
    h.max_neighbors = legacy_uint(meta, "hnsw:M")?.unwrap_or(h.max_neighbors);
    let sync = legacy_uint(meta, "hnsw:sync_threshold")?;
    let batch = legacy_uint(meta, "hnsw:batch_size")?;
    check_minimums(sync, batch)?;
    h.sync_threshold = sync.unwrap_or(h.sync_threshold);
    if let Some(r) = meta.get("hnsw:resize_factor") {
        h.resize_factor = r.as_f64().ok_or_else(|| {
            EngineError::invalid(format!("hnsw:resize_factor must be a number, got {r}"))
        })?;
    }
    legacy_uint(meta, "hnsw:num_threads")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_metadata_sets_space_when_no_hnsw_config() {
        let meta = json!({"hnsw:space": "ip", "hnsw:M": 8});
        let c = StoredConfiguration::for_create(None, meta.as_object(), None).unwrap();
        assert_eq!(c.hnsw.space, Space::Ip);
        assert_eq!(c.hnsw.max_neighbors, 8);
        assert_eq!(c.to_chroma_json()["hnsw"]["space"], "ip");
    }

    #[test]
    fn explicit_config_wins_and_embedding_function_is_echoed() {
        let cfg: CreateConfiguration = serde_json::from_value(json!({
            "hnsw": {"space": "cosine", "ef_search": 50},
            "spann": null,
            "embedding_function": {"type": "known", "name": "default", "config": {}}
        }))
        .unwrap();
        let meta = json!({"hnsw:space": "ip"});
        let c = StoredConfiguration::for_create(Some(&cfg), meta.as_object(), None).unwrap();
        assert_eq!(c.hnsw.space, Space::Cosine);
        assert_eq!(c.hnsw.ef_search, 50);
        assert_eq!(c.to_chroma_json()["embedding_function"]["name"], "default");
    }

    #[test]
    fn strict_fields_and_bad_values() {
        assert!(serde_json::from_value::<HnswCreate>(json!({"bogus": 1})).is_err());
        assert!(serde_json::from_value::<HnswCreate>(json!({"space": "euclid"})).is_err());
        assert!(serde_json::from_value::<HnswUpdate>(json!({"space": "l2"})).is_err());
        let meta = json!({"hnsw:space": "nope"});
        assert!(StoredConfiguration::for_create(None, meta.as_object(), None).is_err());
        let cfg: CreateConfiguration =
            serde_json::from_value(json!({"hnsw": {"sync_threshold": 1}})).unwrap();
        assert!(StoredConfiguration::for_create(Some(&cfg), None, None).is_err());
        let cfg: CreateConfiguration =
            serde_json::from_value(json!({"spann": {"space": "cosine", "search_nprobe": 1}}))
                .unwrap();
        let c = StoredConfiguration::for_create(Some(&cfg), None, None).unwrap();
        assert_eq!(
            (c.hnsw.space, c.hnsw.ef_search),
            (Space::Cosine, 100),
            "spann becomes hnsw"
        );
        let both: CreateConfiguration =
            serde_json::from_value(json!({"hnsw": {}, "spann": {"space": "ip"}})).unwrap();
        assert!(StoredConfiguration::for_create(Some(&both), None, None).is_err());
    }

    #[test]
    fn update_changes_only_mutable_fields() {
        let mut c = StoredConfiguration::for_create(None, None, None).unwrap();
        let up: UpdateConfiguration =
            serde_json::from_value(json!({"hnsw": {"ef_search": 7}})).unwrap();
        c.apply_update(&up).unwrap();
        assert_eq!(c.hnsw.ef_search, 7);
        assert_eq!(c.hnsw.space, Space::L2);
    }
}
