//! The gateway's routes: Chroma's `/api/v2`, each with the action and
//! target it is authorized as (the same as the engine's routes), then
//! forwarded. What Prism answers itself (identity, the v1 answer, the
//! OpenAPI document, unknown routes) is the engine routes' own handlers.

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any, get, on};
use prism_auth::Action;
use prism_engine::types::WriteKind;
use serde_json::{Map, Value};

use super::forward::{Outgoing, json_answer, path_segment};
use super::rows::{and_where, selects_something};
use crate::api::HttpOptions;
use crate::api::access::{AppState, At, Caller, Target};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::extract::ChromaPath;
use crate::listen::Peer;

/// How a route names what it acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Server,
    /// `{tenant}` of the path.
    Tenant,
    /// The body's `name` is the tenant to create.
    TenantInBody,
    /// `{tenant}` and `{database}`.
    Database,
    /// The body's `name` is the database to create in `{tenant}`.
    DatabaseInBody,
    /// `{collection_id}` of the path is a collection's *name*.
    CollectionNamed,
    /// The body's `name` is the collection to create.
    CollectionInBody,
    /// `{collection_id}` is a collection id.
    CollectionId,
}

/// What the gateway must do to a route's body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// Nothing: it streams through.
    Pass,
    /// A get, query or delete: the row filter joins its `where`.
    Select,
    /// An add, update or upsert: checked against the row filter.
    Write(WriteKind),
    /// A count: under a row filter, a filtered read.
    Count,
    /// Reaches records no row filter can limit (search, forks, functions):
    /// refused under one.
    Unfiltered,
    /// Listing databases: a database-scoped identity sees its own only.
    ListDatabases,
}

#[derive(Clone, Copy)]
struct Rule {
    action: Action,
    place: Place,
    treatment: Treatment,
}

fn rule(action: Action, place: Place, treatment: Treatment) -> Rule {
    Rule {
        action,
        place,
        treatment,
    }
}

/// Which methods a route answers.
#[derive(Clone, Copy)]
enum Methods {
    One(MethodFilter),
    Any,
}

/// Every guarded route: its path, methods, and how it is authorized and
/// treated (the same actions and targets as the engine's routes). One
/// route per line, as a table reads.
#[rustfmt::skip]
fn table() -> Vec<(String, Methods, Rule)> {
    use Action as A;
    use Methods::{Any, One};
    use Place::*;
    use Treatment::*;
    let (get, post, put, patch, delete) = (
        One(MethodFilter::GET),
        One(MethodFilter::POST),
        One(MethodFilter::PUT),
        One(MethodFilter::PATCH),
        One(MethodFilter::DELETE),
    );
    let db = "/api/v2/tenants/{tenant}/databases/{database}";
    let coll = format!("{db}/collections/{{collection_id}}");
    let at = |path: &str| path.to_string();
    vec![
        (at("/api/v2/reset"), post, rule(A::Reset, Server, Pass)),
        (at("/api/v2/tenants"), post, rule(A::CreateTenant, TenantInBody, Pass)),
        (at("/api/v2/tenants/{tenant}"), get, rule(A::GetTenant, Tenant, Pass)),
        (at("/api/v2/tenants/{tenant}"), patch, rule(A::UpdateTenant, Tenant, Pass)),
        (at("/api/v2/tenants/{tenant}/databases"), get, rule(A::ListDatabases, Tenant, ListDatabases)),
        (at("/api/v2/tenants/{tenant}/databases"), post, rule(A::CreateDatabase, DatabaseInBody, Pass)),
        (at(db), get, rule(A::GetDatabase, Database, Pass)),
        (at(db), delete, rule(A::DeleteDatabase, Database, Pass)),
        (format!("{db}/collections"), get, rule(A::ListCollections, Database, Pass)),
        (format!("{db}/collections"), post, rule(A::CreateCollection, CollectionInBody, Pass)),
        (format!("{db}/collections_count"), get, rule(A::CountCollections, Database, Pass)),
        (format!("{db}/collections/by-id/{{collection_id}}"), get, rule(A::GetCollection, CollectionId, Pass)),
        (coll.clone(), get, rule(A::GetCollection, CollectionNamed, Pass)),
        (coll.clone(), put, rule(A::UpdateCollection, CollectionId, Pass)),
        (coll.clone(), delete, rule(A::DeleteCollection, CollectionNamed, Pass)),
        (format!("{coll}/add"), post, rule(A::Add, CollectionId, Write(WriteKind::Add))),
        (format!("{coll}/update"), post, rule(A::Update, CollectionId, Write(WriteKind::Update))),
        (format!("{coll}/upsert"), post, rule(A::Upsert, CollectionId, Write(WriteKind::Upsert))),
        (format!("{coll}/delete"), post, rule(A::Delete, CollectionId, Select)),
        (format!("{coll}/get"), post, rule(A::Get, CollectionId, Select)),
        (format!("{coll}/query"), post, rule(A::Query, CollectionId, Select)),
        (format!("{coll}/count"), get, rule(A::Count, CollectionId, Count)),
        (format!("{coll}/indexing_status"), get, rule(A::Count, CollectionId, Pass)),
        (format!("{coll}/search"), post, rule(A::Search, CollectionId, Unfiltered)),
        (format!("{coll}/fork"), post, rule(A::ForkCollection, CollectionId, Unfiltered)),
        (format!("{coll}/fork_count"), get, rule(A::CountForks, CollectionId, Unfiltered)),
        (format!("{coll}/functions/{{*rest}}"), Any, rule(A::CreateAttachedFunction, CollectionId, Unfiltered)),
        (format!("{coll}/attached_functions/{{*rest}}"), Any, rule(A::CreateAttachedFunction, CollectionId, Unfiltered)),
        (format!("{db}/attached_functions/{{*rest}}"), Any, rule(A::CreateAttachedFunction, Database, Unfiltered)),
        (at("/api/v2/functions/{*rest}"), Any, rule(A::CreateAttachedFunction, Server, Unfiltered)),
        (at("/api/v2/collections/{crn}"), Any, rule(A::GetCollectionByCrn, Server, Unfiltered)),
    ]
}

/// The gateway's router, with the same paths, limits, CORS and trace ids as
/// the engine's, and the web console when it is on.
pub fn router(state: AppState, options: &HttpOptions, console: Option<Router>) -> Router {
    let mut guarded: Vec<(String, MethodRouter<AppState>)> = Vec::new();
    for (path, methods, rule) in table() {
        let handler = move |State(state): State<AppState>,
                            caller: Caller,
                            ChromaPath(params): ChromaPath<HashMap<String, String>>,
                            request: Request| async move {
            handle(rule, state, caller, params, request)
                .await
                .unwrap_or_else(IntoResponse::into_response)
        };
        let route = match methods {
            Methods::One(filter) => on(filter, handler),
            Methods::Any => any(handler),
        };
        match guarded.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(route),
            None => guarded.push((path, route)),
        }
    }
    let mut routes = Router::new()
        .route("/api/v2", get(public))
        .route("/api/v2/heartbeat", get(public))
        .route("/api/v2/version", get(public))
        .route("/api/v2/pre-flight-checks", get(public))
        .route("/api/v2/healthcheck", get(public))
        .route("/api/v2/auth/identity", get(crate::api::identity));
    for (path, route) in guarded {
        routes = routes.route(&path, route);
    }
    if let Some(console) = console {
        routes = routes.nest_service(crate::console::PREFIX, console);
    }
    crate::api::finish(routes, state, options)
}

/// Routes that answer anyone and reach no data: forwarded as they are, so
/// clients see the upstream's limits (its pre-flight checks) and whether it
/// is up.
async fn public(State(state): State<AppState>, request: Request) -> Response {
    let Some(gateway) = state.public_upstream() else {
        return ApiError::internal("a gateway route was reached with the local engine")
            .into_response();
    };
    let outgoing = outgoing(request, None, Body::empty(), None);
    gateway
        .forward(outgoing)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Authorize a request as `rule` says, change what must change, forward it.
async fn handle(
    rule: Rule,
    state: AppState,
    caller: Caller,
    params: HashMap<String, String>,
    request: Request,
) -> Result<Response, ApiError> {
    let max_payload = state
        .public_upstream()
        .map_or(usize::MAX, |g| g.max_payload_bytes());
    if declared_length(request.headers()).is_some_and(|n| n > max_payload) {
        return Err(too_large(max_payload));
    }
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    // A body is read only when it names the target (a creation: small), or
    // when a row filter applies to it (below); every other body streams
    // through unread.
    let names_target = matches!(
        rule.place,
        Place::TenantInBody | Place::DatabaseInBody | Place::CollectionInBody
    );
    let (request, body, json) = if names_target {
        read_json(request, max_payload).await?
    } else {
        (request, None, None)
    };
    let named = |key: &str| -> Result<String, ApiError> {
        json.as_ref()
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::UnprocessableBody,
                    format!("Failed to deserialize the JSON body into the target type: missing field `{key}`"),
                )
            })
    };
    let (tenant, database) = (param("tenant"), param("database"));
    let body_name = match rule.place {
        Place::TenantInBody | Place::DatabaseInBody | Place::CollectionInBody => named("name")?,
        _ => String::new(),
    };
    let target = match rule.place {
        Place::Server => Target::Server,
        Place::Tenant => Target::Tenant(tenant),
        Place::TenantInBody => Target::Tenant(&body_name),
        Place::Database => Target::Database(tenant, database),
        Place::DatabaseInBody => Target::Database(tenant, &body_name),
        Place::CollectionNamed => Target::CollectionNamed(tenant, database, param("collection_id")),
        Place::CollectionInBody => Target::CollectionNamed(tenant, database, &body_name),
        Place::CollectionId => Target::CollectionId(tenant, database, param("collection_id")),
    };
    let visible_databases = caller
        .identity()
        .and_then(prism_auth::database_scope)
        .map(<[String]>::to_vec);
    let client_address = caller.client_address().map(String::from);
    let authorized = async {
        caller
            .authorize(rule.action, target)
            .await?
            .upstream()
            .await
    };
    let (gateway, at) = match authorized.await {
        Ok(allowed) => allowed,
        Err(refusal) => return Err(refused(request, max_payload, refusal).await),
    };
    let filtered_body =
        at.rows().is_some() && matches!(rule.treatment, Treatment::Select | Treatment::Write(_));
    let (request, body, json) = if filtered_body && body.is_none() {
        read_json(request, max_payload).await?
    } else {
        (request, body, json)
    };
    let path_and_query = rewrite_path(&request, &at, rule.place);
    let collection_path = path_and_query
        .split('?')
        .next()
        .unwrap_or_default()
        .rsplit_once('/')
        .map(|(head, _)| head.to_string())
        .unwrap_or_default();

    // What the gateway answers itself, or changes, before forwarding.
    let mut forwarded = body.clone();
    match (rule.treatment, at.rows()) {
        (Treatment::ListDatabases, _) if visible_databases.is_some() => {
            let names = visible_databases.unwrap_or_default();
            let query = request.uri().query().map(String::from);
            return list_visible_databases(&gateway, query.as_deref(), &at, &names).await;
        }
        (Treatment::Unfiltered, Some(_)) => {
            let refusal = ApiError::new(
                ErrorKind::Forbidden,
                "Forbidden: this action reaches records outside your row filter",
            );
            return Err(refused(request, max_payload, refusal).await);
        }
        (Treatment::Count, Some(rows)) => {
            return Ok(json_answer(
                &gateway.count_within(&collection_path, rows).await?,
            ));
        }
        (Treatment::Select, Some(rows)) => {
            let own = json.clone().unwrap_or_default();
            let is_delete = rule.action == Action::Delete;
            if !is_delete || selects_something(&own) {
                forwarded = Some(Bytes::from(Value::Object(and_where(own, rows)).to_string()));
            }
        }
        (Treatment::Write(kind), Some(rows)) => {
            let own = json.clone().unwrap_or_default();
            gateway
                .check_write(&collection_path, kind, &own, rows)
                .await?;
        }
        _ => {}
    }
    // The singleton overwrite: the tenant or database a body creates.
    let overwritten = match rule.place {
        Place::TenantInBody if at.tenant != body_name && !at.tenant.is_empty() => Some(&at.tenant),
        Place::DatabaseInBody if at.database != body_name && !at.database.is_empty() => {
            Some(&at.database)
        }
        _ => None,
    };
    if let (Some(name), Some(mut own)) = (overwritten, json.clone()) {
        own.insert("name".into(), Value::String(name.clone()));
        forwarded = Some(Bytes::from(Value::Object(own).to_string()));
    }
    let rewritten_length = match (&forwarded, &body) {
        (Some(new), Some(old)) if new != old => Some(new.len()),
        _ => None,
    };
    let (request, stream) = match forwarded {
        Some(bytes) => (request, Body::from(bytes)),
        None => {
            let (parts, body) = request.into_parts();
            let limited = http_body_util::Limited::new(body, max_payload);
            (
                Request::from_parts(parts, Body::empty()),
                Body::new(limited),
            )
        }
    };
    let mut outgoing = outgoing(request, Some(path_and_query), stream, rewritten_length);
    // The address the client connected from, or the one a trusted proxy
    // forwarded.
    if client_address.is_some() {
        outgoing.client = client_address;
    }
    let response = gateway.forward(outgoing).await?;
    if response.status().is_success() {
        match (rule.action, rule.place) {
            (Action::UpdateCollection, _) => gateway.forget(&at, None),
            (Action::DeleteCollection, Place::CollectionNamed) => {
                gateway.forget(&at, Some(param("collection_id")))
            }
            _ => {}
        }
    }
    Ok(response)
}

/// A database-scoped identity's databases of the tenant, paged among
/// themselves, as the engine's route answers.
async fn list_visible_databases(
    gateway: &super::Gateway,
    query: Option<&str>,
    at: &At,
    names: &[String],
) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize, Default)]
    struct Page {
        limit: Option<usize>,
        offset: Option<usize>,
    }
    let page: Page = query.map(serde_urlencoded_page).unwrap_or_default();
    let path = format!("/api/v2/tenants/{}/databases", path_segment(&at.tenant));
    let (status, body) = gateway
        .upstream()
        .fetch(Method::GET, &path, None)
        .await
        .map_err(|e| super::unavailable(&e))?;
    if status != StatusCode::OK {
        return Err(super::forward::upstream_error(status, &body));
    }
    let all: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::internal(format!("the upstream's database list is not JSON: {e}"))
    })?;
    let visible: Vec<Value> = all
        .into_iter()
        .filter(|db| {
            db.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| names.iter().any(|v| v == n))
        })
        .skip(page.offset.unwrap_or(0))
        .take(page.limit.unwrap_or(usize::MAX))
        .collect();
    return Ok(json_answer(&visible));

    fn serde_urlencoded_page(query: &str) -> Page {
        let mut page = Page::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "limit" => page.limit = value.parse().ok(),
                "offset" => page.offset = value.parse().ok(),
                _ => {}
            }
        }
        page
    }
}

/// The request's path with the tenant and database the authorization
/// settled on (the singleton overwrite), query string kept.
fn rewrite_path(request: &Request, at: &At, place: Place) -> String {
    let uri = request.uri();
    let mut segments: Vec<String> = uri.path().split('/').map(String::from).collect();
    // "", "api", "v2", "tenants", T, "databases", D, ...
    let has_tenant = !matches!(place, Place::Server | Place::TenantInBody);
    if has_tenant && segments.len() > 4 && segments[3] == "tenants" && !at.tenant.is_empty() {
        segments[4] = path_segment(&at.tenant);
    }
    let has_database = !matches!(
        place,
        Place::Server | Place::TenantInBody | Place::Tenant | Place::DatabaseInBody
    );
    if has_database && segments.len() > 6 && segments[5] == "databases" && !at.database.is_empty() {
        segments[6] = path_segment(&at.database);
    }
    let mut path = segments.join("/");
    if let Some(query) = uri.query() {
        path.push('?');
        path.push_str(query);
    }
    path
}

/// The forwarded form of `request`.
fn outgoing(
    request: Request,
    path_and_query: Option<String>,
    body: Body,
    rewritten_length: Option<usize>,
) -> Outgoing {
    let (parts, _) = request.into_parts();
    let traceparent = parts
        .extensions
        .get::<crate::otlp::SpanContext>()
        .map(crate::otlp::SpanContext::traceparent);
    let client = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(peer)| peer.address.ip().to_string());
    Outgoing {
        path_and_query: path_and_query.unwrap_or_else(|| {
            parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string())
        }),
        method: parts.method,
        headers: parts.headers,
        body,
        rewritten_length,
        traceparent,
        client,
    }
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!(
            "Failed to buffer the request body: length limit exceeded (the limit is {max} bytes)"
        ),
    )
}

/// Read `request`'s whole body (within `max` bytes) as a JSON object; the
/// request is handed back without it.
/// A refusal, once the request's body is read and dropped (up to `max`):
/// answered with the body still unread, the connection could not be reused,
/// and a client that sends its next request on it before it sees it closed
/// gets no answer at all.
async fn refused(request: Request, max: usize, refusal: ApiError) -> ApiError {
    let _ = axum::body::to_bytes(request.into_body(), max).await;
    refusal
}

async fn read_json(
    request: Request,
    max: usize,
) -> Result<(Request, Option<Bytes>, Option<Map<String, Value>>), ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large(max))?;
    let json = json_object(&bytes)?;
    Ok((
        Request::from_parts(parts, Body::empty()),
        Some(bytes),
        Some(json),
    ))
}

/// A body the gateway reads: a JSON object, or Chroma's answer to one that
/// is not.
fn json_object(bytes: &Bytes) -> Result<Map<String, Value>, ApiError> {
    crate::api::extract::decode_json(bytes)
}
