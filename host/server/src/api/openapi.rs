//! `/openapi.json`, generated from the handlers' annotations, and the
//! schemas of the engine's types that travel over the wire: the engine knows
//! nothing of OpenAPI, so their descriptions live here, beside the document
//! (a test keeps each one in step with its engine type).

use axum::Json;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{Modify, OpenApi, ToSchema};
use uuid::Uuid;

use axum::http::StatusCode;

use super::error::ErrorKind;
use super::{collections, databases, records, system};

/// The OpenAPI document of the `/api/v2` routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Prism",
        description = "Chroma-compatible embedding database (API v2)"
    ),
    paths(
        system::heartbeat,
        system::version,
        system::pre_flight_checks,
        system::healthcheck,
        system::identity,
        system::reset,
        databases::create_tenant,
        databases::get_tenant,
        databases::update_tenant,
        databases::list_databases,
        databases::create_database,
        databases::get_database,
        databases::delete_database,
        collections::list,
        collections::count,
        collections::create,
        collections::get_by_name,
        collections::get_by_id,
        collections::update,
        collections::delete_by_name,
        records::add,
        records::update,
        records::upsert,
        records::delete,
        records::get,
        records::query,
        records::count,
        records::indexing_status,
    ),
    modifiers(&PathParameters, &ErrorResponses, &JsonScalars)
)]
pub struct ApiDoc;

/// Declares every `{name}` of a route's path as a path parameter of each of
/// its operations where the handler's annotation does not: client
/// generators and schemathesis refuse an operation whose path has an
/// undeclared parameter.
struct PathParameters;

impl Modify for PathParameters {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::Required;
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};

        for (path, item) in doc.paths.paths.iter_mut() {
            let names = path_parameter_names(path);
            for operation in operations(item) {
                let declared = operation.parameters.get_or_insert_with(Vec::new);
                for name in &names {
                    if declared
                        .iter()
                        .any(|p| p.name == *name && p.parameter_in == ParameterIn::Path)
                    {
                        continue;
                    }
                    declared.push(
                        ParameterBuilder::new()
                            .name(*name)
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build(),
                    );
                }
            }
        }
    }
}

/// Declares, on every operation, the error statuses of the [`ErrorKind`]
/// table it does not declare itself, each with Chroma's error body: any
/// request can meet the auth layer (403, 429, 503), the body limit and
/// decoder (400, 413, 415, 422), a missing resource (404) or a server-side
/// failure (500, 507), and a client or schemathesis must find each status it
/// can receive in the document. 405 and 410 belong to no operation.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        let statuses: std::collections::BTreeSet<u16> = ErrorKind::ALL
            .iter()
            .map(|kind| kind.status())
            .filter(|status| {
                *status != StatusCode::METHOD_NOT_ALLOWED && *status != StatusCode::GONE
            })
            .map(|status| status.as_u16())
            .collect();
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                for status in &statuses {
                    let code = status.to_string();
                    if operation.responses.responses.contains_key(&code) {
                        continue;
                    }
                    let reason = StatusCode::from_u16(*status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Error");
                    let response = ResponseBuilder::new()
                        .description(reason)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    operation.responses.responses.insert(code, response.into());
                }
            }
        }
    }
}

/// utoipa documents a bare string, number or boolean body as `text/plain`;
/// Prism sends them as JSON (`"1.0.0"`, `42`, `true`), as Chroma does.
struct JsonScalars;

impl Modify for JsonScalars {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;

        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if let Some(content) = response.content.shift_remove("text/plain") {
                        response
                            .content
                            .insert("application/json".to_string(), content);
                    }
                }
            }
        }
    }
}

/// The operations of one path, whichever methods it has.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// The `{name}` segments of a path template.
fn path_parameter_names(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect()
}

/// Serve the document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// A tenant as Chroma returns it.
#[derive(ToSchema)]
pub struct Tenant {
    /// Tenant name.
    pub name: String,
    /// Cloud-only resource name; always `null` here unless set with PATCH.
    pub resource_name: Option<String>,
}

/// A database as Chroma returns it.
#[derive(ToSchema)]
pub struct Database {
    /// Database id (UUID); `default_database` has the nil UUID.
    pub id: Uuid,
    /// Database name.
    pub name: String,
    /// Owning tenant.
    pub tenant: String,
}

/// A collection as Chroma returns it (`Collection` in the OpenAPI document).
#[derive(ToSchema)]
pub struct Collection {
    /// Collection id (UUID v4).
    pub id: Uuid,
    /// Collection name, unique within its database.
    pub name: String,
    /// Effective configuration: `{"hnsw": {...}, "spann": null, "embedding_function": ...}`.
    #[schema(value_type = Object)]
    pub configuration_json: Value,
    /// Chroma 1.x schema; Prism stores none and returns `null`.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// User metadata, `null` when none was given.
    #[schema(value_type = Option<Object>)]
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
#[derive(Deserialize, ToSchema)]
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

/// A collection's distance space.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// Squared Euclidean distance.
    L2,
    /// Inner product, reported as `1 - dot` (may be negative).
    Ip,
    /// Cosine, reported as `1 - cos`; vectors are normalised before indexing.
    Cosine,
}

/// `configuration.hnsw` on create; unknown fields are rejected (422 upstream).
#[derive(Deserialize, ToSchema)]
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
#[derive(Deserialize, ToSchema)]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConfiguration {
    /// HNSW settings.
    pub hnsw: Option<HnswCreate>,
    /// SPANN is Chroma's distributed index; only `null` is accepted.
    #[schema(value_type = Option<Object>)]
    pub spann: Option<Value>,
    /// Stored and echoed verbatim: clients rebuild their embedding function from it.
    #[schema(value_type = Option<Object>)]
    pub embedding_function: Option<Value>,
}

/// The `new_configuration` object of a modify-collection request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfiguration {
    /// HNSW settings that may change.
    pub hnsw: Option<HnswUpdate>,
    /// Only `null` is accepted.
    #[schema(value_type = Option<Object>)]
    pub spann: Option<Value>,
    /// Replaces the stored embedding function description.
    #[schema(value_type = Option<Object>)]
    pub embedding_function: Option<Value>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prism_engine::collection_config as config;
    use prism_engine::distance::Space as EngineSpace;
    use prism_engine::types::{self as engine, IncludeField as EngineInclude};
    use serde::Serialize;
    use serde_json::json;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
        &doc["components"]["schemas"][name]
    }

    /// The property names the document gives a schema.
    fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
        let props = schema(doc, name)["properties"].as_object();
        props
            .unwrap_or_else(|| panic!("{name} has no properties"))
            .keys()
            .cloned()
            .collect()
    }

    /// The keys the engine's type serializes with.
    fn keys(value: impl Serialize) -> BTreeSet<String> {
        let value = serde_json::to_value(value).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// The values the document allows for an enum schema.
    fn enum_values(doc: &Value, name: &str) -> BTreeSet<String> {
        let values = schema(doc, name)["enum"].as_array();
        let values = values.unwrap_or_else(|| panic!("{name} is no enum"));
        values
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    fn spellings<T: Serialize>(values: &[T]) -> BTreeSet<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn every_operation_declares_the_error_statuses_and_json_bodies() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for status in [
                    "400", "403", "404", "413", "422", "429", "500", "503", "507",
                ] {
                    let declared = &responses[status]["content"]["application/json"]["schema"];
                    assert_eq!(
                        declared["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} does not declare {status}"
                    );
                }
                for (status, response) in responses {
                    if let Some(content) = response["content"].as_object() {
                        assert!(
                            content.keys().all(|k| k == "application/json"),
                            "{method} {path} {status} is documented as {:?}",
                            content.keys().collect::<Vec<_>>()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_parameter_is_declared_by_every_operation() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 20);
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                for name in path_parameter_names(path) {
                    let declared = operation["parameters"].as_array().is_some_and(|ps| {
                        ps.iter().any(|p| {
                            p["name"] == name && p["in"] == "path" && p["required"] == true
                        })
                    });
                    assert!(declared, "{method} {path} does not declare {{{name}}}");
                }
            }
        }
    }

    #[test]
    fn engine_structs_have_the_fields_their_schemas_describe() {
        let doc = document();
        let tenant = engine::Tenant {
            name: "t".into(),
            resource_name: None,
        };
        assert_eq!(properties(&doc, "Tenant"), keys(tenant));
        let database = engine::Database {
            id: Uuid::nil(),
            name: "d".into(),
            tenant: "t".into(),
        };
        assert_eq!(properties(&doc, "Database"), keys(database));
        let collection = engine::Collection {
            id: Uuid::nil(),
            name: "c".into(),
            configuration_json: json!({}),
            schema: None,
            metadata: None,
            dimension: None,
            tenant: "t".into(),
            database: "d".into(),
            log_position: 0,
            version: 0,
        };
        assert_eq!(properties(&doc, "Collection"), keys(collection));
        let cases = [
            ("HnswCreate", keys(config::HnswCreate::default())),
            ("HnswUpdate", keys(config::HnswUpdate::default())),
            (
                "CreateConfiguration",
                keys(config::CreateConfiguration::default()),
            ),
            (
                "UpdateConfiguration",
                keys(config::UpdateConfiguration::default()),
            ),
        ];
        for (name, engine_keys) in cases {
            assert_eq!(properties(&doc, name), engine_keys, "{name}");
        }
    }

    #[test]
    fn engine_enums_have_the_values_their_schemas_describe() {
        // A new variant fails these matches until it is listed (and so
        // compared with the schema) below.
        let include = |f: EngineInclude| match f {
            EngineInclude::Documents
            | EngineInclude::Embeddings
            | EngineInclude::Metadatas
            | EngineInclude::Distances
            | EngineInclude::Uris => f,
        };
        let space = |s: EngineSpace| match s {
            EngineSpace::L2 | EngineSpace::Ip | EngineSpace::Cosine => s,
        };
        let doc = document();
        let all_include = [
            EngineInclude::Documents,
            EngineInclude::Embeddings,
            EngineInclude::Metadatas,
            EngineInclude::Distances,
            EngineInclude::Uris,
        ]
        .map(include);
        assert_eq!(enum_values(&doc, "IncludeField"), spellings(&all_include));
        let all_space = [EngineSpace::L2, EngineSpace::Ip, EngineSpace::Cosine].map(space);
        assert_eq!(enum_values(&doc, "Space"), spellings(&all_space));
    }
}
