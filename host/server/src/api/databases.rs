//! Tenant and database routes.

use axum::Json;
use prism_auth::Action;
use prism_engine::types::{Database, Tenant};

use super::access::{Caller, Target};
use super::error::{ApiResult, ErrorBody};
use super::extract::{ChromaJson, ChromaPath, ChromaQuery};
use super::openapi;
use super::types::{CreateDatabase, CreateTenant, Empty, Page, UpdateTenant};

#[utoipa::path(post, path = "/api/v2/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 200, body = Empty), (status = 409, body = ErrorBody)))]
/// Create a tenant.
pub async fn create_tenant(
    caller: Caller,
    ChromaJson(body): ChromaJson<CreateTenant>,
) -> ApiResult<Json<Empty>> {
    caller
        .authorize(Action::CreateTenant, Target::Tenant(&body.name))
        .await?
        .run(move |e, at| e.create_tenant(&at.tenant))
        .await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}", tag = "tenants",
    responses((status = 200, body = openapi::Tenant), (status = 404, body = ErrorBody)))]
/// Read a tenant.
pub async fn get_tenant(
    caller: Caller,
    ChromaPath(tenant): ChromaPath<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(
        caller
            .authorize(Action::GetTenant, Target::Tenant(&tenant))
            .await?
            .run(move |e, at| e.get_tenant(&at.tenant))
            .await?,
    ))
}

#[utoipa::path(patch, path = "/api/v2/tenants/{tenant}", tag = "tenants", request_body = UpdateTenant,
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Set a tenant's resource name.
pub async fn update_tenant(
    caller: Caller,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaJson(body): ChromaJson<UpdateTenant>,
) -> ApiResult<Json<Empty>> {
    caller
        .authorize(Action::UpdateTenant, Target::Tenant(&tenant))
        .await?
        .run(move |e, at| e.update_tenant(&at.tenant, &body.resource_name))
        .await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases", tag = "databases", params(Page),
    responses((status = 200, body = Vec<openapi::Database>)))]
/// List a tenant's databases.
pub async fn list_databases(
    caller: Caller,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaQuery(page): ChromaQuery<Page>,
) -> ApiResult<Json<Vec<Database>>> {
    // A database-scoped identity sees only its own databases' names, paged
    // among themselves.
    let visible: Option<Vec<String>> = caller
        .identity()
        .and_then(prism_auth::database_scope)
        .map(<[String]>::to_vec);
    let offset = page.offset.unwrap_or(0);
    let dbs = caller
        .authorize(Action::ListDatabases, Target::Tenant(&tenant))
        .await?
        .run(move |e, at| match visible {
            None => e.list_databases(&at.tenant, page.limit, offset),
            Some(names) => Ok(e
                .list_databases(&at.tenant, None, 0)?
                .into_iter()
                .filter(|db| names.contains(&db.name))
                .skip(offset as usize)
                .take(page.limit.map_or(usize::MAX, |l| l as usize))
                .collect()),
        })
        .await?;
    Ok(Json(dbs))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases", tag = "databases", request_body = CreateDatabase,
    responses((status = 200, body = Empty), (status = 409, body = ErrorBody)))]
/// Create a database.
pub async fn create_database(
    caller: Caller,
    ChromaPath(tenant): ChromaPath<String>,
    ChromaJson(body): ChromaJson<CreateDatabase>,
) -> ApiResult<Json<Empty>> {
    caller
        .authorize(
            Action::CreateDatabase,
            Target::Database(&tenant, &body.name),
        )
        .await?
        .run(move |e, at| e.create_database(&at.tenant, &at.database))
        .await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}", tag = "databases",
    responses((status = 200, body = openapi::Database), (status = 404, body = ErrorBody)))]
/// Read a database.
pub async fn get_database(
    caller: Caller,
    ChromaPath((tenant, database)): ChromaPath<(String, String)>,
) -> ApiResult<Json<Database>> {
    Ok(Json(
        caller
            .authorize(Action::GetDatabase, Target::Database(&tenant, &database))
            .await?
            .run(move |e, at| e.get_database(&at.tenant, &at.database))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v2/tenants/{tenant}/databases/{database}", tag = "databases",
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Delete a database and everything in it.
pub async fn delete_database(
    caller: Caller,
    ChromaPath((tenant, database)): ChromaPath<(String, String)>,
) -> ApiResult<Json<Empty>> {
    caller
        .authorize(Action::DeleteDatabase, Target::Database(&tenant, &database))
        .await?
        .run(move |e, at| e.delete_database(&at.tenant, &at.database))
        .await?;
    Ok(Json(Empty {}))
}
