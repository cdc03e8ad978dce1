//! The console's pages and forms. Each reads or writes through
//! [`Caller::authorize`] with the session's identity, exactly as the API
//! routes do; buttons are shown by [`Caller::may`], and the server refuses
//! the action anyway when they are forged.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use prism_auth::Action;
use prism_engine::types::{Include, IncludeField, Record};
use prism_engine::{DeleteRequest, GetRequest, QueryRequest, RecordSelector};
use serde::Deserialize;
use serde_json::Value;

use super::guard::Refused;
use super::login::Fields;
use super::projection::principal_components;
use super::views::{
    self, AdminPage, CollectionHeader, CollectionPage, CollectionRow, DatabasePage,
    EmbeddingSummary, ErrorPage, EventRow, HomePage, MapPage, MapPoint, Nav, Neighbour, RecordPage,
    RecordRow, TenantView,
};
use super::{Console, Visitor};
use crate::api::access::{Caller, Target};
use crate::api::error::ApiError;
use crate::audit;

const DEFAULT_TENANT: &str = "default_tenant";

/// Records per page of the records table.
const PAGE_SIZE: u32 = 25;
/// Most collections a database page lists.
const MAX_COLLECTIONS: u32 = 500;
/// Most records the picture samples, in this many evenly spaced slices.
const MAP_SAMPLE: u32 = 2_000;
const MAP_SLICES: u32 = 8;
/// Longest document or metadata text in a table cell.
const CELL_CHARS: usize = 160;
/// Neighbours shown on a record's page.
const NEIGHBOURS: u32 = 10;

type CollectionPath = Path<(String, String, String)>;

impl Visitor {
    async fn nav(&self) -> Nav {
        Nav {
            user: self.caller.identity().map(|i| i.user_id.clone()),
            csrf: self.session.csrf_token.clone(),
            admin: self.caller.may(Action::ConsoleAdmin, Target::Server).await,
            session: true,
        }
    }

    /// Refuse a form that does not carry this session's CSRF token (as the
    /// `csrf` field or the `X-CSRF-Token` header).
    pub(super) fn check_csrf(&self, headers: &HeaderMap, fields: &Fields) -> Result<(), Refused> {
        let sent = fields.get("csrf").map(String::from).or_else(|| {
            headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        });
        match sent {
            Some(token) if super::session::tokens_equal(&token, &self.session.csrf_token) => Ok(()),
            _ => {
                tracing::info!(
                    user = self.caller.identity().map(|i| i.user_id.as_str()),
                    "console form without this session's CSRF token refused"
                );
                Err(Refused(
                    "This form was not sent from your console session (its CSRF token is missing or wrong); reload the page and try again",
                ))
            }
        }
    }

    /// A page for `error` (its status and Chroma's message).
    async fn failure(&self, error: ApiError) -> Response {
        let title = match error.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            s if s.is_client_error() => "Not accepted",
            _ => "Something failed",
        };
        let status = error.status();
        let page = ErrorPage {
            nav: self.nav().await,
            title: title.to_string(),
            message: error.message,
        };
        views::render(status, &page)
    }
}

/// `GET /console`.
pub async fn home(visitor: Visitor) -> Response {
    let caller = visitor.caller();
    let identity = caller.identity();
    let tenant_scope = identity.and_then(|i| i.tenant.clone()).filter(|t| t != "*");
    let mut candidates = match &tenant_scope {
        Some(tenant) => vec![tenant.clone()],
        None => match caller
            .clone()
            .authorize(Action::GetTenant, Target::Server)
            .await
        {
            Ok(authorized) => authorized.list_tenants().await.unwrap_or_default(),
            Err(_) => vec![],
        },
    };
    if candidates.is_empty() {
        candidates.push(DEFAULT_TENANT.to_string());
    }
    let mut tenants = Vec::new();
    for name in candidates {
        let databases = list_databases(&caller, &name).await;
        if databases.is_some() || caller.may(Action::GetTenant, Target::Tenant(&name)).await {
            tenants.push(TenantView { name, databases });
        }
    }
    let attributes = identity.map(|i| i.attributes.clone()).unwrap_or_default();
    let page = HomePage {
        nav: visitor.nav().await,
        auth: identity.is_some(),
        tenant: tenant_scope,
        databases: identity
            .and_then(prism_auth::database_scope)
            .map(<[String]>::to_vec),
        roles: attributes
            .iter()
            .filter(|(k, _)| k == "role")
            .map(|(_, v)| v.clone())
            .collect(),
        attributes: attributes
            .into_iter()
            .filter(|(k, _)| k != "role")
            .collect(),
        tenants,
    };
    views::render(StatusCode::OK, &page)
}

/// The databases of `tenant` the caller may list; `None` if it may not.
async fn list_databases(caller: &Caller, tenant: &str) -> Option<Vec<String>> {
    let visible: Option<Vec<String>> = caller
        .identity()
        .and_then(prism_auth::database_scope)
        .map(<[String]>::to_vec);
    let databases = caller
        .clone()
        .authorize(Action::ListDatabases, Target::Tenant(tenant))
        .await
        .ok()?
        .list_databases()
        .await
        .ok()?;
    Some(
        databases
            .into_iter()
            .map(|db| db.name)
            .filter(|name| visible.as_ref().is_none_or(|v| v.contains(name)))
            .collect(),
    )
}

/// `GET /console/tenants/{t}/databases/{d}`: its collections.
pub async fn database(
    visitor: Visitor,
    Path((tenant, database)): Path<(String, String)>,
) -> Response {
    let caller = visitor.caller();
    let listed = async {
        caller
            .clone()
            .authorize(
                Action::ListCollections,
                Target::Database(&tenant, &database),
            )
            .await?
            .list_collections(MAX_COLLECTIONS)
            .await
    };
    let mut collections = match listed.await {
        Ok(collections) => collections,
        Err(error) => return visitor.failure(error).await,
    };
    // By name, whatever order the data plane lists them in (an upstream
    // Chroma's is its own).
    collections.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::with_capacity(collections.len());
    for c in collections {
        // Listing names every collection, as Chroma's API does; the console
        // shows only those the visitor may open.
        let visible = Target::CollectionNamed(&tenant, &database, &c.name);
        if !caller.may(Action::GetCollection, visible).await {
            continue;
        }
        let id = c.id.to_string();
        let progress = async {
            caller
                .clone()
                .authorize(Action::Count, Target::CollectionId(&tenant, &database, &id))
                .await?
                .count()
                .await
        };
        let progress = progress.await.ok();
        let hnsw = &c.configuration_json["hnsw"];
        let setting = |key: &str| match &hnsw[key] {
            Value::Null => "—".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        rows.push(CollectionRow {
            count: progress.map(|(visible, _)| visible),
            dimension: c.dimension,
            space: setting("space"),
            max_neighbors: setting("max_neighbors"),
            ef_construction: setting("ef_construction"),
            ef_search: setting("ef_search"),
            // The upstream's indexing is its own: not shown in gateway mode.
            indexing: progress
                .and_then(|(_, graph)| graph)
                .map(|(indexed, total)| {
                    if total == 0 {
                        "100 %".to_string()
                    } else {
                        format!(
                            "{:.0} % ({indexed} of {total})",
                            indexed as f64 * 100.0 / total as f64
                        )
                    }
                }),
            can_delete: caller
                .may(
                    Action::DeleteCollection,
                    Target::CollectionNamed(&tenant, &database, &c.name),
                )
                .await,
            name: c.name,
            id,
        });
    }
    let page = DatabasePage {
        nav: visitor.nav().await,
        can_create: caller
            .may(
                Action::CreateCollection,
                Target::Database(&tenant, &database),
            )
            .await,
        tenant,
        database,
        collections: rows,
    };
    views::render(StatusCode::OK, &page)
}

/// `POST …/collections`: create one (name and distance).
pub async fn create_collection(
    visitor: Visitor,
    Path((tenant, database)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    if let Err(refusal) = visitor.check_csrf(&headers, &fields) {
        return refusal.into_response();
    }
    let name = fields.get("name").unwrap_or_default().trim().to_string();
    let space = fields.get("space").unwrap_or("l2").to_string();
    let configuration = serde_json::json!({"hnsw": {"space": space}});
    let created = async {
        visitor
            .caller()
            .authorize(
                Action::CreateCollection,
                Target::CollectionNamed(&tenant, &database, &name),
            )
            .await?
            .create_collection(name, configuration)
            .await
    };
    match created.await {
        Ok(c) => Redirect::to(
            &collection_header(&tenant, &database, &c.id.to_string(), &c.name).href(""),
        )
        .into_response(),
        Err(error) => visitor.failure(error).await,
    }
}

/// `POST …/collections/{id}/delete-collection`.
pub async fn delete_collection(
    visitor: Visitor,
    Path((tenant, database, id)): CollectionPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refusal) = visitor.check_csrf(&headers, &Fields::parse(&body)) {
        return refusal.into_response();
    }
    let deleted = async {
        visitor
            .caller()
            .authorize(
                Action::DeleteCollection,
                Target::CollectionId(&tenant, &database, &id),
            )
            .await?
            .delete_collection()
            .await
    };
    match deleted.await {
        Ok(()) => Redirect::to(&collection_header(&tenant, &database, &id, "").database_href())
            .into_response(),
        Err(error) => visitor.failure(error).await,
    }
}

/// The collection's name and where its pages are, if the caller may read it.
async fn header(
    caller: &Caller,
    tenant: &str,
    database: &str,
    id: &str,
) -> Result<CollectionHeader, ApiError> {
    let collection = caller
        .clone()
        .authorize(
            Action::GetCollection,
            Target::CollectionId(tenant, database, id),
        )
        .await?
        .get_collection()
        .await?;
    Ok(collection_header(tenant, database, id, &collection.name))
}

fn collection_header(tenant: &str, database: &str, id: &str, name: &str) -> CollectionHeader {
    CollectionHeader {
        tenant: tenant.to_string(),
        database: database.to_string(),
        id: id.to_string(),
        name: name.to_string(),
    }
}

#[derive(Deserialize, Default)]
pub struct RecordsQuery {
    #[serde(rename = "where", default)]
    where_text: String,
    #[serde(default)]
    where_document: String,
    #[serde(default)]
    offset: u32,
}

/// A filter box's text as a clause: empty is none; anything else must be
/// a JSON object, checked by the engine as Chroma checks it.
fn clause(text: &str, name: &str) -> Result<Option<Value>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ApiError::invalid(format!("{name} is not JSON: {e}")))
}

/// `GET …/collections/{id}`: a page of records, filtered.
pub async fn collection(
    visitor: Visitor,
    Path((tenant, database, id)): CollectionPath,
    Query(query): Query<RecordsQuery>,
) -> Response {
    let caller = visitor.caller();
    let header = match header(&caller, &tenant, &database, &id).await {
        Ok(h) => h,
        Err(error) => return visitor.failure(error).await,
    };
    let total = async {
        caller
            .clone()
            .authorize(Action::Count, Target::CollectionId(&tenant, &database, &id))
            .await?
            .count()
            .await
    };
    let total = total.await.ok().map(|(visible, _)| visible);
    let read = async {
        let where_clause = clause(&query.where_text, "where")?;
        let where_document = clause(&query.where_document, "where_document")?;
        let request = GetRequest {
            selector: RecordSelector {
                ids: None,
                where_clause,
                where_document,
                rows: None,
            },
            limit: Some(PAGE_SIZE + 1),
            offset: query.offset,
            include: Include(vec![IncludeField::Documents, IncludeField::Metadatas]),
        };
        caller
            .clone()
            .authorize(Action::Get, Target::CollectionId(&tenant, &database, &id))
            .await?
            .get(request)
            .await
    };
    let (mut records, error) = match read.await {
        Ok(result) => (result.records, None),
        Err(error) => (vec![], Some(error.message)),
    };
    let more = records.len() > PAGE_SIZE as usize;
    records.truncate(PAGE_SIZE as usize);
    let page_at = |offset: u32| {
        let mut link = form_urlencoded::Serializer::new(String::new());
        if !query.where_text.trim().is_empty() {
            link.append_pair("where", &query.where_text);
        }
        if !query.where_document.trim().is_empty() {
            link.append_pair("where_document", &query.where_document);
        }
        link.append_pair("offset", &offset.to_string());
        format!("{}?{}", header.href(""), link.finish())
    };
    let page = CollectionPage {
        nav: visitor.nav().await,
        total,
        first: query.offset + 1,
        previous: (query.offset > 0).then(|| page_at(query.offset.saturating_sub(PAGE_SIZE))),
        next: more.then(|| page_at(query.offset + PAGE_SIZE)),
        can_delete: caller
            .may(
                Action::Delete,
                Target::CollectionId(&tenant, &database, &id),
            )
            .await,
        records: records.into_iter().map(record_row).collect(),
        where_text: query.where_text.clone(),
        where_document_text: query.where_document.clone(),
        error,
        collection: header,
    };
    let status = if page.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    views::render(status, &page)
}

fn record_row(record: Record) -> RecordRow {
    RecordRow {
        id: record.id,
        document: shorten(record.document.as_deref().unwrap_or_default()),
        metadata: record
            .metadata
            .map(|m| shorten(&Value::Object(m).to_string()))
            .unwrap_or_default(),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(CELL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `POST …/collections/{id}/delete-records`: the records ticked.
pub async fn delete_records(
    visitor: Visitor,
    Path((tenant, database, id)): CollectionPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = Fields::parse(&body);
    if let Err(refusal) = visitor.check_csrf(&headers, &fields) {
        return refusal.into_response();
    }
    let ids = fields.all("ids");
    let back = collection_header(&tenant, &database, &id, "").href("");
    if ids.is_empty() {
        return Redirect::to(&back).into_response();
    }
    let request = DeleteRequest {
        selector: RecordSelector {
            ids: Some(ids),
            where_clause: None,
            where_document: None,
            rows: None,
        },
        limit: None,
    };
    let deleted = async {
        visitor
            .caller()
            .authorize(
                Action::Delete,
                Target::CollectionId(&tenant, &database, &id),
            )
            .await?
            .delete(request)
            .await
    };
    match deleted.await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(error) => visitor.failure(error).await,
    }
}

#[derive(Deserialize)]
pub struct RecordQuery {
    id: String,
}

/// `GET …/collections/{id}/records?id=`: a record and its neighbours.
pub async fn record(
    visitor: Visitor,
    Path((tenant, database, collection_id)): CollectionPath,
    Query(RecordQuery { id }): Query<RecordQuery>,
) -> Response {
    let caller = visitor.caller();
    let header = match header(&caller, &tenant, &database, &collection_id).await {
        Ok(h) => h,
        Err(error) => return visitor.failure(error).await,
    };
    let target = || Target::CollectionId(&tenant, &database, &collection_id);
    let request = GetRequest {
        selector: RecordSelector {
            ids: Some(vec![id.clone()]),
            ..RecordSelector::default()
        },
        limit: Some(1),
        offset: 0,
        include: Include(vec![
            IncludeField::Documents,
            IncludeField::Metadatas,
            IncludeField::Uris,
            IncludeField::Embeddings,
        ]),
    };
    let found = async {
        caller
            .clone()
            .authorize(Action::Get, target())
            .await?
            .get(request)
            .await
    };
    let record = match found.await.map(|r| r.records.into_iter().next()) {
        Ok(Some(record)) => record,
        Ok(None) => {
            return visitor
                .failure(ApiError::not_found(format!("Record {id} not found")))
                .await;
        }
        Err(error) => return visitor.failure(error).await,
    };
    let neighbours = match &record.embedding {
        Some(embedding) => {
            let request = QueryRequest {
                embeddings: vec![embedding.clone()],
                n_results: NEIGHBOURS + 1,
                selector: RecordSelector::default(),
                include: Include(vec![IncludeField::Documents, IncludeField::Distances]),
            };
            let hits = async {
                caller
                    .clone()
                    .authorize(Action::Query, target())
                    .await?
                    .query(request)
                    .await
            };
            hits.await
                .map(|r| r.hits.into_iter().next().unwrap_or_default())
                .unwrap_or_default()
                .into_iter()
                .filter(|(r, _)| r.id != id)
                .take(NEIGHBOURS as usize)
                .map(|(r, distance)| Neighbour {
                    id: r.id,
                    distance: format!("{distance:.4}"),
                    document: shorten(r.document.as_deref().unwrap_or_default()),
                })
                .collect()
        }
        None => vec![],
    };
    let page = RecordPage {
        nav: visitor.nav().await,
        collection: header,
        embedding: record.embedding.as_deref().map(summary),
        metadata: record
            .metadata
            .map(|m| serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_default())
            .unwrap_or_else(|| "none".to_string()),
        document: record.document,
        uri: record.uri,
        id: record.id,
        neighbours,
    };
    views::render(StatusCode::OK, &page)
}

fn summary(embedding: &[f32]) -> EmbeddingSummary {
    let norm = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
    let min = embedding.iter().copied().fold(f32::INFINITY, f32::min);
    let max = embedding.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut head: Vec<String> = embedding
        .iter()
        .take(8)
        .map(|x| format!("{x:.4}"))
        .collect();
    if embedding.len() > 8 {
        head.push("…".to_string());
    }
    EmbeddingSummary {
        dimension: embedding.len(),
        norm: format!("{norm:.4}"),
        min: format!("{min:.4}"),
        max: format!("{max:.4}"),
        head: head.join(", "),
    }
}

#[derive(Deserialize, Default)]
pub struct MapQuery {
    #[serde(default)]
    color: String,
}

/// Categorical colours (Okabe–Ito, then a few more), readable by most
/// colour-blind people; values past them are grey.
const PALETTE: &[&str] = &[
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
    "#7a5195", "#8c6d31",
];
const OTHER: &str = "#9aa0aa";

/// `GET …/collections/{id}/map?color=key`: the picture.
pub async fn map(
    visitor: Visitor,
    Path((tenant, database, id)): CollectionPath,
    Query(query): Query<MapQuery>,
) -> Response {
    let caller = visitor.caller();
    let header = match header(&caller, &tenant, &database, &id).await {
        Ok(h) => h,
        Err(error) => return visitor.failure(error).await,
    };
    let sample = async {
        caller
            .clone()
            .authorize(Action::Get, Target::CollectionId(&tenant, &database, &id))
            .await?
            .count_and_get(|total| {
                let slice = MAP_SAMPLE / MAP_SLICES;
                let slices = if total <= u64::from(MAP_SAMPLE) {
                    1
                } else {
                    MAP_SLICES
                };
                (0..slices)
                    .map(|i| GetRequest {
                        selector: RecordSelector::default(),
                        limit: Some(if slices == 1 { MAP_SAMPLE } else { slice }),
                        offset: if slices == 1 {
                            0
                        } else {
                            (total * u64::from(i) / u64::from(slices)) as u32
                        },
                        include: Include(vec![IncludeField::Embeddings, IncludeField::Metadatas]),
                    })
                    .collect()
            })
            .await
    };
    let (total, records) = match sample.await {
        Ok(sample) => sample,
        Err(error) => return visitor.failure(error).await,
    };
    let records: Vec<Record> = records
        .into_iter()
        .filter(|r| r.embedding.is_some())
        .collect();
    let mut keys: Vec<String> = records
        .iter()
        .filter_map(|r| r.metadata.as_ref())
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let color_key = if keys.contains(&query.color) {
        query.color.clone()
    } else {
        String::new()
    };
    let value_of = |r: &Record| -> Option<String> {
        let value = r.metadata.as_ref()?.get(&color_key)?;
        Some(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    // The most frequent values get the palette's colours.
    let mut counts: Vec<(String, usize)> = Vec::new();
    for value in records.iter().filter_map(value_of) {
        match counts.iter_mut().find(|(v, _)| *v == value) {
            Some((_, n)) => *n += 1,
            None => counts.push((value, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut legend: Vec<(String, &'static str)> = counts
        .iter()
        .zip(PALETTE)
        .map(|((value, _), colour)| (value.clone(), *colour))
        .collect();
    if counts.len() > PALETTE.len()
        || (!color_key.is_empty() && records.iter().any(|r| value_of(r).is_none()))
    {
        legend.push(("other or none".to_string(), OTHER));
    }
    let vectors: Vec<Vec<f32>> = records.iter().filter_map(|r| r.embedding.clone()).collect();
    let projection = principal_components(&vectors);
    let (min_x, max_x, min_y, max_y) = projection.points.iter().fold(
        (f32::MAX, f32::MIN, f32::MAX, f32::MIN),
        |(a, b, c, d), (x, y)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
    );
    let scale = |v: f32, lo: f32, hi: f32| {
        if hi > lo {
            20.0 + (v - lo) / (hi - lo) * 580.0
        } else {
            310.0
        }
    };
    let points = records
        .iter()
        .zip(&projection.points)
        .map(|(r, (x, y))| {
            let value = value_of(r);
            let color = value
                .as_ref()
                .and_then(|v| legend.iter().find(|(l, _)| l == v).map(|(_, c)| *c))
                .unwrap_or(if color_key.is_empty() {
                    PALETTE[0]
                } else {
                    OTHER
                });
            MapPoint {
                x: format!("{:.1}", scale(*x, min_x, max_x)),
                // SVG's y grows downwards.
                y: format!("{:.1}", 620.0 - scale(*y, min_y, max_y)),
                color,
                title: match value {
                    Some(v) => format!("{} ({color_key}: {v})", r.id),
                    None => r.id.clone(),
                },
                href: header.record_href(&r.id),
            }
        })
        .collect();
    let page = MapPage {
        nav: visitor.nav().await,
        collection: header,
        keys,
        color_key,
        points,
        legend,
        sampled: records.len(),
        total,
        explained: format!("{:.0}", projection.explained * 100.0),
    };
    views::render(StatusCode::OK, &page)
}

/// `GET /console/admin`: providers, their settings, the latest audit events.
pub async fn admin(State(console): State<Console>, visitor: Visitor) -> Response {
    let allowed = async {
        visitor
            .caller()
            .authorize(Action::ConsoleAdmin, Target::Server)
            .await?
            .check()
            .await
    };
    if let Err(error) = allowed.await {
        return visitor.failure(error).await;
    }
    let limits = console.sessions().limits();
    let page = AdminPage {
        nav: visitor.nav().await,
        in_force: console.app().gate().providers(),
        providers: console.inner.providers.clone(),
        sessions: console.sessions().len(),
        idle_minutes: limits.idle.as_secs() / 60,
        lifetime_hours: format!("{:.1}", limits.lifetime.as_secs_f64() / 3600.0),
        events: audit::recent()
            .into_iter()
            .map(|e| EventRow {
                at: crate::utc::date_time(e.at),
                user: e.user.unwrap_or_default(),
                client: e.client.unwrap_or_default(),
                stage: e.stage,
                action: e.action.unwrap_or_default(),
                resource: e.resource.unwrap_or_default(),
                allowed: e.allowed,
                reason: e.reason.unwrap_or_default(),
                provider: e.provider.unwrap_or_default(),
            })
            .collect(),
    };
    views::render(StatusCode::OK, &page)
}

/// Any other console path.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No such console page").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_cut_on_a_character() {
        assert_eq!(shorten("short"), "short");
        let long = "é".repeat(CELL_CHARS + 5);
        assert_eq!(shorten(&long).chars().count(), CELL_CHARS + 1);
    }

    #[test]
    fn filters_must_be_json() {
        assert_eq!(clause("  ", "where").unwrap(), None);
        assert!(clause("{\"a\": 1}", "where").unwrap().is_some());
        let error = clause("{a: 1}", "where").unwrap_err();
        assert!(error.message.starts_with("where is not JSON"));
    }
}
