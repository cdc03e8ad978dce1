//! Record routes: add, update, upsert, delete, get, query, count.

use axum::Json;
use axum::http::StatusCode;
use prism_auth::Action;
use prism_engine::types::{IncludeField, RecordBatch, WriteKind};
use prism_engine::{DeleteRequest, GetRequest, QueryRequest, RecordSelector};

use super::access::{Caller, Target};
use super::error::{ApiResult, ErrorBody};
use super::extract::{ChromaJson, ChromaPath};
use super::types::{
    AddPayload, DeletePayload, DeleteResponse, Empty, GetPayload, GetResponse, IndexingStatus,
    QueryPayload, QueryResponse, UpdatePayload, include_or, metadata_maps,
};

type CollPath = ChromaPath<(String, String, String)>;

const GET_DEFAULT: &[IncludeField] = &[IncludeField::Documents, IncludeField::Metadatas];
const QUERY_DEFAULT: &[IncludeField] = &[
    IncludeField::Documents,
    IncludeField::Metadatas,
    IncludeField::Distances,
];

async fn write(
    caller: Caller,
    (t, d, id): (String, String, String),
    kind: WriteKind,
    batch: RecordBatch,
) -> ApiResult<()> {
    let action = match kind {
        WriteKind::Add => Action::Add,
        WriteKind::Update => Action::Update,
        WriteKind::Upsert => Action::Upsert,
    };
    caller
        .authorize(action, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| {
            let id = at.collection_id();
            e.write_records_within(&at.tenant, &at.database, id, kind, &batch, at.rows())
        })
        .await
}

fn add_batch(body: AddPayload) -> ApiResult<RecordBatch> {
    Ok(RecordBatch {
        ids: body.ids,
        embeddings: Some(body.embeddings.decode()?),
        documents: body.documents,
        uris: body.uris,
        metadatas: metadata_maps(body.metadatas),
    })
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/add", tag = "records",
    request_body = AddPayload, responses((status = 201, body = Empty), (status = 400, body = ErrorBody)))]
/// Insert records; ids that already exist are left unchanged.
pub async fn add(
    caller: Caller,
    ChromaPath(p): CollPath,
    ChromaJson(body): ChromaJson<AddPayload>,
) -> ApiResult<(StatusCode, Json<Empty>)> {
    write(caller, p, WriteKind::Add, add_batch(body)?).await?;
    Ok((StatusCode::CREATED, Json(Empty {})))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/update", tag = "records",
    request_body = UpdatePayload, responses((status = 200, body = Empty), (status = 400, body = ErrorBody)))]
/// Change existing records; unknown ids are ignored.
pub async fn update(
    caller: Caller,
    ChromaPath(p): CollPath,
    ChromaJson(body): ChromaJson<UpdatePayload>,
) -> ApiResult<Json<Empty>> {
    let batch = RecordBatch {
        ids: body.ids,
        embeddings: body.embeddings.map(|e| e.decode()).transpose()?,
        documents: body.documents,
        uris: body.uris,
        metadatas: metadata_maps(body.metadatas),
    };
    write(caller, p, WriteKind::Update, batch).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/upsert", tag = "records",
    request_body = AddPayload, responses((status = 200, body = Empty), (status = 400, body = ErrorBody)))]
/// Insert or change records.
pub async fn upsert(
    caller: Caller,
    ChromaPath(p): CollPath,
    ChromaJson(body): ChromaJson<AddPayload>,
) -> ApiResult<Json<Empty>> {
    write(caller, p, WriteKind::Upsert, add_batch(body)?).await?;
    Ok(Json(Empty {}))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/delete", tag = "records",
    request_body = DeletePayload, responses((status = 200, body = DeleteResponse), (status = 400, body = ErrorBody)))]
/// Delete records by id and/or filter.
pub async fn delete(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
    ChromaJson(body): ChromaJson<DeletePayload>,
) -> ApiResult<Json<DeleteResponse>> {
    let request = DeleteRequest {
        selector: RecordSelector {
            ids: body.ids,
            where_clause: body.where_clause,
            where_document: body.where_document,
            rows: None,
        },
        limit: body.limit,
    };
    let deleted = caller
        .authorize(Action::Delete, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| {
            let request = at.restrict(request, |r| &mut r.selector);
            e.delete_records(&at.tenant, &at.database, at.collection_id(), &request)
        })
        .await?;
    Ok(Json(DeleteResponse { deleted }))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/get", tag = "records",
    request_body = GetPayload, responses((status = 200, body = GetResponse), (status = 400, body = ErrorBody)))]
/// Read records by id and/or filter, in insertion order.
pub async fn get(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
    ChromaJson(body): ChromaJson<GetPayload>,
) -> ApiResult<Json<GetResponse>> {
    let include = include_or(body.include, GET_DEFAULT);
    let request = GetRequest {
        selector: RecordSelector {
            ids: body.ids,
            where_clause: body.where_clause,
            where_document: body.where_document,
            rows: None,
        },
        limit: body.limit,
        offset: body.offset.unwrap_or(0),
        include: include.clone(),
    };
    let result = caller
        .authorize(Action::Get, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| {
            let request = at.restrict(request, |r| &mut r.selector);
            e.get_records(&at.tenant, &at.database, at.collection_id(), &request)
        })
        .await?;
    let recs = result.records;
    let has = |f| include.has(f);
    Ok(Json(GetResponse {
        embeddings: has(IncludeField::Embeddings).then(|| {
            recs.iter()
                .map(|r| r.embedding.clone().unwrap_or_default())
                .collect()
        }),
        documents: has(IncludeField::Documents)
            .then(|| recs.iter().map(|r| r.document.clone()).collect()),
        uris: has(IncludeField::Uris).then(|| recs.iter().map(|r| r.uri.clone()).collect()),
        metadatas: has(IncludeField::Metadatas)
            .then(|| recs.iter().map(|r| r.metadata.clone()).collect()),
        ids: recs.into_iter().map(|r| r.id).collect(),
        include: include.0,
    }))
}

#[utoipa::path(post, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/query", tag = "records",
    request_body = QueryPayload, responses((status = 200, body = QueryResponse), (status = 400, body = ErrorBody)))]
/// Nearest neighbours of each query embedding, nearest first.
pub async fn query(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
    ChromaJson(body): ChromaJson<QueryPayload>,
) -> ApiResult<Json<QueryResponse>> {
    let include = include_or(body.include, QUERY_DEFAULT);
    let embeddings = body.query_embeddings;
    let request = QueryRequest {
        embeddings,
        n_results: body.n_results.unwrap_or(10),
        selector: RecordSelector {
            ids: body.ids,
            where_clause: body.where_clause,
            where_document: body.where_document,
            rows: None,
        },
        include: include.clone(),
    };
    let result = caller
        .authorize(Action::Query, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| {
            let request = at.restrict(request, |r| &mut r.selector);
            e.query(&at.tenant, &at.database, at.collection_id(), &request)
        })
        .await?;
    let hits = result.hits;
    let has = |f| include.has(f);
    let per_query = |f: &dyn Fn(&prism_engine::types::Record, f32) -> _| -> Vec<Vec<_>> {
        hits.iter()
            .map(|h| h.iter().map(|(r, d)| f(r, *d)).collect())
            .collect()
    };
    Ok(Json(QueryResponse {
        ids: hits
            .iter()
            .map(|h| h.iter().map(|(r, _)| r.id.clone()).collect())
            .collect(),
        embeddings: has(IncludeField::Embeddings).then(|| {
            hits.iter()
                .map(|h| {
                    h.iter()
                        .map(|(r, _)| r.embedding.clone().unwrap_or_default())
                        .collect()
                })
                .collect()
        }),
        documents: has(IncludeField::Documents).then(|| per_query(&|r, _| r.document.clone())),
        uris: has(IncludeField::Uris).then(|| per_query(&|r, _| r.uri.clone())),
        metadatas: has(IncludeField::Metadatas).then(|| {
            hits.iter()
                .map(|h| h.iter().map(|(r, _)| r.metadata.clone()).collect())
                .collect()
        }),
        distances: has(IncludeField::Distances).then(|| {
            hits.iter()
                .map(|h| h.iter().map(|(_, d)| *d).collect())
                .collect()
        }),
        include: include.0,
    }))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/count", tag = "records",
    responses((status = 200, body = u64), (status = 404, body = ErrorBody)))]
/// Number of records.
pub async fn count(caller: Caller, ChromaPath((t, d, id)): CollPath) -> ApiResult<Json<u64>> {
    Ok(Json(
        caller
            .authorize(Action::Count, Target::CollectionId(&t, &d, &id))
            .await?
            .run(move |e, at| {
                e.count_records_within(&at.tenant, &at.database, at.collection_id(), at.rows())
            })
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/indexing_status", tag = "records",
    responses((status = 200, body = IndexingStatus), (status = 404, body = ErrorBody)))]
/// How far the collection's HNSW graph is built; records are searchable (exactly) either way.
pub async fn indexing_status(
    caller: Caller,
    ChromaPath((t, d, id)): CollPath,
) -> ApiResult<Json<IndexingStatus>> {
    let ((indexed, total), breadth) = caller
        .authorize(Action::Count, Target::CollectionId(&t, &d, &id))
        .await?
        .run(move |e, at| {
            let id = at.collection_id();
            Ok((
                e.indexing_progress(&at.tenant, &at.database, id)?,
                e.search_breadth(&at.tenant, &at.database, id)?,
            ))
        })
        .await?;
    Ok(Json(IndexingStatus {
        num_indexed_ops: indexed,
        num_unindexed_ops: total - indexed,
        total_ops: total,
        search_ef: breadth.map(|b| b.ef as u64),
        search_recall_estimate: breadth.map(|b| f64::from(b.recall)),
        op_indexing_progress: if total == 0 {
            1.0
        } else {
            indexed as f64 / total as f64
        },
    }))
}
