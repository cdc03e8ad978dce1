//! Collection routes. GET and DELETE address a collection by *name*; PUT and
//! by-id address it by UUID, as in Chroma.

use axum::Json;
use prism_auth::Action;
use prism_engine::types::Collection;
use prism_engine::{CollectionKey, CollectionUpdate, NewCollection};

use super::access::{Caller, Target};
use super::error::{ApiResult, ErrorBody};
use super::extract::{ChromaJson, ChromaPath, ChromaQuery};
use super::openapi;
use super::types::{CreateCollection, Empty, OrderedMap, Page, UpdateCollection};

type DbPath = ChromaPath<(String, String)>;
type CollPath = ChromaPath<(String, String, String)>;

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections", tag = "collections",
    params(Page), responses((status = 200, body = Vec<openapi::Collection>)))]
/// List collections in creation order.
pub async fn list(
    caller: Caller,
    ChromaPath((t, d)): DbPath,
    ChromaQuery(page): ChromaQuery<Page>,
) -> ApiResult<Json<Vec<Collection>>> {
    Ok(Json(
        caller
            .authorize(Action::ListCollections, Target::Database(&t, &d))
            .await?
            .run(move |e, at| {
                e.list_collections(
                    &at.tenant,
                    &at.database,
                    page.limit,
                    page.offset.unwrap_or(0),
                )
            })
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections_count", tag = "collections",
    responses((status = 200, body = u64)))]
/// Number of collections.
pub async fn count(caller: Caller, ChromaPath((t, d)): DbPath) -> ApiResult<Json<u64>> {
    Ok(Json(
        caller
            .authorize(Action::CountCollections, Target::Database(&t, &d))
            .await?
            .run(move |e, at| e.count_collections(&at.tenant, &at.database))
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections", tag = "collections",
    request_body = CreateCollection,
    responses((status = 200, body = openapi::Collection), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Create a collection, or get it with `get_or_create`.
pub async fn create(
    caller: Caller,
    ChromaPath((t, d)): DbPath,
    ChromaJson(body): ChromaJson<CreateCollection>,
) -> ApiResult<Json<Collection>> {
    let c = caller
        .authorize(
            Action::CreateCollection,
            Target::CollectionNamed(&t, &d, &body.name),
        )
        .await?
        .run(move |e, at| {
            e.create_collection(
                &at.tenant,
                &at.database,
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
    responses((status = 200, body = openapi::Collection), (status = 404, body = ErrorBody)))]
/// Read a collection by name.
pub async fn get_by_name(
    caller: Caller,
    ChromaPath((t, d, name)): CollPath,
) -> ApiResult<Json<Collection>> {
    Ok(Json(
        caller
            .authorize(
                Action::GetCollection,
                Target::CollectionNamed(&t, &d, &name),
            )
            .await?
            .run(move |e, at| {
                e.get_collection(&at.tenant, &at.database, CollectionKey::Name(&name))
            })
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/by-id/{collection_id}", tag = "collections",
    responses((status = 200, body = openapi::Collection), (status = 404, body = ErrorBody)))]
/// Read a collection by id.
pub async fn get_by_id(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
) -> ApiResult<Json<Collection>> {
    Ok(Json(
        caller
            .authorize(Action::GetCollection, Target::CollectionId(&t, &d, &id))
            .await?
            .run(move |e, at| {
                e.get_collection(
                    &at.tenant,
                    &at.database,
                    CollectionKey::Id(at.collection_id()),
                )
            })
            .await?,
    ))
}

#[utoipa::path(put, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}", tag = "collections",
    request_body = UpdateCollection,
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Rename, replace metadata or change configuration (by id).
pub async fn update(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
    ChromaJson(body): ChromaJson<UpdateCollection>,
) -> ApiResult<Json<Empty>> {
    let update = CollectionUpdate {
        new_name: body.new_name,
        new_metadata: body.new_metadata.map(OrderedMap::into_map),
        new_configuration: body.new_configuration,
    };
    caller
        .authorize(Action::UpdateCollection, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| e.update_collection(&at.tenant, &at.database, at.collection_id(), update))
        .await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(delete, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}", tag = "collections",
    params(("collection_id" = String, Path, description = "The collection's *name*")),
    responses((status = 200, body = Empty), (status = 404, body = ErrorBody)))]
/// Delete a collection by name.
pub async fn delete_by_name(
    caller: Caller,
    ChromaPath((t, d, name)): CollPath,
) -> ApiResult<Json<Empty>> {
    caller
        .authorize(
            Action::DeleteCollection,
            Target::CollectionNamed(&t, &d, &name),
        )
        .await?
        .run(move |e, at| e.delete_collection(&at.tenant, &at.database, &name))
        .await?;
    Ok(Json(Empty {}))
}
