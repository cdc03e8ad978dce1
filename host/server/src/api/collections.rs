//! Collection routes. GET and DELETE address a collection by *name*; PUT and
//! by-id address it by UUID, as in Chroma.

use axum::Json;
use axum::extract::State;
use prism_engine::types::Collection;
use prism_engine::{CollectionKey, CollectionUpdate, NewCollection};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ChromaJson, ChromaPath, ChromaQuery, collection_uuid};
use super::types::{CreateCollection, Empty, OrderedMap, Page, UpdateCollection};
use super::{AppState, blocking};

type DbPath = ChromaPath<(String, String)>;
type CollPath = ChromaPath<(String, String, String)>;

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections", tag = "collections",
    params(Page), responses((status = 200, body = Vec<Collection>)))]
/// List collections in creation order.
pub async fn list(
    State(s): State<AppState>,
    ChromaPath((t, d)): DbPath,
    ChromaQuery(page): ChromaQuery<Page>,
) -> ApiResult<Json<Vec<Collection>>> {
    Ok(Json(
        blocking(&s, move |e| {
            e.list_collections(&t, &d, page.limit, page.offset.unwrap_or(0))
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections_count", tag = "collections",
    responses((status = 200, body = u64)))]
/// Number of collections.
pub async fn count(State(s): State<AppState>, ChromaPath((t, d)): DbPath) -> ApiResult<Json<u64>> {
    Ok(Json(
        blocking(&s, move |e| e.count_collections(&t, &d)).await?,
    ))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections", tag = "collections",
    request_body = CreateCollection,
    responses((status = 200, body = Collection), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Create a collection, or get it with `get_or_create`.
pub async fn create(
    State(s): State<AppState>,
    ChromaPath((t, d)): DbPath,
    ChromaJson(body): ChromaJson<CreateCollection>,
) -> ApiResult<Json<Collection>> {
    let c = blocking(&s, move |e| {
        e.create_collection(
            &t,
            &d,
            NewCollection {
                name: body.name,
                metadata: body.metadata.map(OrderedMap::into_map),
                configuration: body.configuration,
                schema: body.schema,
                get_or_create: body.get_or_create,
            },
        )
    })
    .await?;
    Ok(Json(c))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}", tag = "collections",
    params(("collection_id" = String, Path, description = "The collection's *name*")),
    responses((status = 200, body = Collection), (status = 404, body = ErrorBody)))]
/// Read a collection by name.
pub async fn get_by_name(
    State(s): State<AppState>,
    ChromaPath((t, d, name)): CollPath,
) -> ApiResult<Json<Collection>> {
    Ok(Json(
        blocking(&s, move |e| {
            e.get_collection(&t, &d, CollectionKey::Name(&name))
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/by-id/{collection_id}", tag = "collections",
    responses((status = 200, body = Collection), (status = 404, body = ErrorBody)))]
/// Read a collection by id.
pub async fn get_by_id(
    State(s): State<AppState>,
    ChromaPath((t, d, id)): CollPath,
) -> ApiResult<Json<Collection>> {
    let id = collection_uuid(&id)?;
    Ok(Json(
        blocking(&s, move |e| e.get_collection(&t, &d, CollectionKey::Id(id))).await?,
    ))
}

#[utoipa::path(put, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}", tag = "collections",
    request_body = UpdateCollection,
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Rename, replace metadata or change configuration (by id).
pub async fn update(
    State(s): State<AppState>,
    ChromaPath((t, d, id)): CollPath,
    ChromaJson(body): ChromaJson<UpdateCollection>,
) -> ApiResult<Json<Empty>> {
    let id = collection_uuid(&id)?;
    let update = CollectionUpdate {
        new_name: body.new_name,
        new_metadata: body.new_metadata.map(OrderedMap::into_map),
        new_configuration: body.new_configuration,
    };
    blocking(&s, move |e| e.update_collection(&t, &d, id, update)).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(delete, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}", tag = "collections",
    params(("collection_id" = String, Path, description = "The collection's *name*")),
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Delete a collection by name.
pub async fn delete_by_name(
    State(s): State<AppState>,
    ChromaPath((t, d, name)): CollPath,
) -> ApiResult<Json<Empty>> {
    blocking(&s, move |e| e.delete_collection(&t, &d, &name)).await?;
    Ok(Json(Empty {}))
}
