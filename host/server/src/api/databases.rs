//! Tenant and database routes.

use axum::Json;
use axum::extract::State;
use prism_engine::types::{Database, Tenant};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ChromaJson, ChromaPath, ChromaQuery};
use super::types::{CreateDatabase, CreateTenant, Empty, Page, UpdateTenant};
use super::{AppState, blocking};

#[utoipa::path(post, path = "/api/v2/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 200, body = Empty), (status = 409, body = ErrorBody)))]
/// Create a tenant.
pub async fn create_tenant(
    State(s): State<AppState>,
    ChromaJson(body): ChromaJson<CreateTenant>,
) -> ApiResult<Json<Empty>> {
    blocking(&s, move |e| e.create_tenant(&body.name)).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}", tag = "tenants",
    responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)))]
/// Read a tenant.
pub async fn get_tenant(
    State(s): State<AppState>,
    ChromaPath(tenant): ChromaPath<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(blocking(&s, move |e| e.get_tenant(&tenant)).await?))
}

#[utoipa::path(patch, path = "/api/v2/tenants/{tenant}", tag = "tenants", request_body = UpdateTenant,
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Set a tenant's resource name.
pub async fn update_tenant(
    State(s): State<AppState>,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaJson(body): ChromaJson<UpdateTenant>,
) -> ApiResult<Json<Empty>> {
    blocking(&s, move |e| e.update_tenant(&tenant, &body.resource_name)).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases", tag = "databases", params(Page),
    responses((status = 200, body = Vec<Database>)))]
/// List a tenant's databases.
pub async fn list_databases(
    State(s): State<AppState>,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaQuery(page): ChromaQuery<Page>,
) -> ApiResult<Json<Vec<Database>>> {
    let dbs = blocking(&s, move |e| {
        e.list_databases(&tenant, page.limit, page.offset.unwrap_or(0))
    })
    .await?;
    Ok(Json(dbs))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases", tag = "databases", request_body = CreateDatabase,
    responses((status = 200, body = Empty), (status = 409, body = ErrorBody)))]
/// Create a database.
pub async fn create_database(
    State(s): State<AppState>,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaJson(body): ChromaJson<CreateDatabase>,
) -> ApiResult<Json<Empty>> {
    blocking(&s, move |e| e.create_database(&tenant, &body.name)).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}", tag = "databases",
    responses((status = 200, body = Database), (status = 404, body = ErrorBody)))]
/// Read a database.
pub async fn get_database(
    State(s): State<AppState>,
    ChromaPath((tenant, database)): ChromaPath<(String, String)>,
) -> ApiResult<Json<Database>> {
    Ok(Json(
        blocking(&s, move |e| e.get_database(&tenant, &database)).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v2/tenants/{tenant}/databases/{database}", tag = "databases",
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Delete a database and everything in it.
pub async fn delete_database(
    State(s): State<AppState>,
    ChromaPath((tenant, database)): ChromaPath<(String, String)>,
) -> ApiResult<Json<Empty>> {
    blocking(&s, move |e| e.delete_database(&tenant, &database)).await?;
    Ok(Json(Empty {}))
}
