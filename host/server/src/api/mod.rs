//! The HTTP layer: Chroma's `/api/v2` routes over [`prism_engine::Engine`].
//! Handlers decode, call the engine on a blocking thread, and encode; they hold
//! no logic of their own.

pub mod access;
mod collections;
mod databases;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod plane;
mod records;
mod system;
pub mod types;

#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, any, get, post};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use self::access::AppState;
use self::error::{ErrorDetail, TRACE_ID_HEADER};

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest accepted request body.
    pub max_payload_bytes: usize,
    /// Allowed CORS origins (`*` for any); empty disables CORS headers.
    pub cors_allow_origins: Vec<String>,
    /// Serve `GET /metrics`.
    pub metrics: bool,
}

/// The whole application router, with the web console under `/console`
/// when given.
pub fn router(state: AppState, options: &HttpOptions, console: Option<Router>) -> Router {
    let mut routes = routes().router;
    if let Some(console) = console {
        routes = routes.nest_service(crate::console::PREFIX, console);
    }
    finish(routes, state, options)
}

pub(crate) use system::identity;

/// What every router of Prism's has around its routes: the OpenAPI
/// document, the v1 answer, JSON answers for unknown routes and methods,
/// the body limit, trace ids and CORS.
pub(crate) fn finish(routes: Router<AppState>, state: AppState, options: &HttpOptions) -> Router {
    let mut routes = if state.public_upstream().is_some() {
        routes
            .route("/api/v1/{*rest}", any(system::v1_gone))
            .route("/openapi.json", get(openapi::serve))
    } else {
        routes
    };
    if options.metrics {
        routes = routes.route("/metrics", get(system::metrics));
    }
    let mut app = routes
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(middleware::from_fn(crate::otlp::record))
        .with_state(state)
        .layer(DefaultBodyLimit::max(options.max_payload_bytes))
        .layer(middleware::from_fn(trace_id));
    if let Some(cors) = cors_layer(&options.cors_allow_origins) {
        app = app.layer(cors);
    }
    app
}

/// A router under construction, and the path of every route it has: tests
/// walk them all, so a route added here is tested without being listed again.
struct RouteTable {
    router: Router<AppState>,
    paths: Vec<String>,
}

impl RouteTable {
    fn route(mut self, path: &str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self.paths.push(path.to_string());
        self
    }
}

/// Every route: Chroma's `/api/v2`, its v1 answer, and the OpenAPI document.
fn routes() -> RouteTable {
    let db = "/api/v2/tenants/{tenant}/databases/{database}";
    let coll = format!("{db}/collections/{{collection_id}}");
    RouteTable {
        router: Router::new(),
        paths: Vec::new(),
    }
    .route("/api/v2", get(system::heartbeat))
    .route("/api/v2/heartbeat", get(system::heartbeat))
    .route("/api/v2/version", get(system::version))
    .route("/api/v2/pre-flight-checks", get(system::pre_flight_checks))
    .route("/api/v2/healthcheck", get(system::healthcheck))
    .route("/api/v2/auth/identity", get(system::identity))
    .route("/api/v2/reset", post(system::reset))
    .route("/api/v2/tenants", post(databases::create_tenant))
    .route(
        "/api/v2/tenants/{tenant}",
        get(databases::get_tenant).patch(databases::update_tenant),
    )
    .route(
        "/api/v2/tenants/{tenant}/databases",
        get(databases::list_databases).post(databases::create_database),
    )
    .route(
        db,
        get(databases::get_database).delete(databases::delete_database),
    )
    .route(
        &format!("{db}/collections"),
        get(collections::list).post(collections::create),
    )
    .route(&format!("{db}/collections_count"), get(collections::count))
    .route(
        &format!("{db}/collections/by-id/{{collection_id}}"),
        get(collections::get_by_id),
    )
    .route(
        &coll,
        get(collections::get_by_name)
            .put(collections::update)
            .delete(collections::delete_by_name),
    )
    .route(&format!("{coll}/add"), post(records::add))
    .route(&format!("{coll}/update"), post(records::update))
    .route(&format!("{coll}/upsert"), post(records::upsert))
    .route(&format!("{coll}/delete"), post(records::delete))
    .route(&format!("{coll}/get"), post(records::get))
    .route(&format!("{coll}/query"), post(records::query))
    .route(&format!("{coll}/count"), get(records::count))
    .route(
        &format!("{coll}/indexing_status"),
        get(records::indexing_status),
    )
    .route(&format!("{coll}/search"), post(system::unsupported_search))
    .route(&format!("{coll}/fork"), post(system::unsupported_fork))
    .route(&format!("{coll}/fork_count"), get(system::unsupported_fork))
    .route(
        &format!("{coll}/functions/{{*rest}}"),
        any(system::unsupported_functions),
    )
    .route(
        &format!("{coll}/attached_functions/{{*rest}}"),
        any(system::unsupported_functions),
    )
    .route(
        &format!("{db}/attached_functions/{{*rest}}"),
        any(system::unsupported_functions),
    )
    .route(
        "/api/v2/functions/{*rest}",
        any(system::unsupported_functions),
    )
    .route("/api/v2/collections/{crn}", any(system::unsupported_crn))
    .route("/api/v1/{*rest}", any(system::v1_gone))
    .route("/openapi.json", get(openapi::serve))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(tower_http::cors::Any),
    )
}

/// A request's trace id: in its audit events, and in the `chroma-trace-id`
/// header and log line of an error response.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

/// Give every request a trace id, put it on error responses and log failures
/// with it.
async fn trace_id(mut request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let context = crate::otlp::SpanContext::for_request(
        request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    );
    let id = context.trace_hex();
    request.extensions_mut().insert(TraceId(id.clone()));
    request.extensions_mut().insert(context);
    let mut response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The unread body makes the connection unusable; say so, so clients
        // do not send their next request down it.
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    if status.is_client_error() || status.is_server_error() {
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(TRACE_ID_HEADER, value);
        }
        if status.is_server_error() {
            match response.extensions_mut().remove::<ErrorDetail>() {
                Some(ErrorDetail(detail)) => {
                    tracing::error!(%method, %path, status = status.as_u16(), trace_id = %id, error = %detail, "request failed");
                }
                None => {
                    tracing::warn!(%method, %path, status = status.as_u16(), trace_id = %id, "request failed");
                }
            }
        } else {
            tracing::debug!(%method, %path, status = status.as_u16(), trace_id = %id, "request rejected");
        }
    }
    response
}
