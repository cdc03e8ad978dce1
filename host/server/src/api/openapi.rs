//! `/openapi.json`, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

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
    )
)]
pub struct ApiDoc;

/// Serve the document.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
