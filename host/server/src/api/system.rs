//! Public system routes, reset, and the answers for routes Prism does not serve.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{Method, Uri};
use prism_auth::Action;

use super::access::{Caller, Target};
use super::error::{ApiError, ApiResult, ErrorBody, ErrorKind};
use super::extract::ChromaPath;
use super::types::{Health, Heartbeat, Identity, PreFlight};

/// The largest batch the client may send (Chroma's SQLite variable limit / 6).
pub const MAX_BATCH_SIZE: u32 = 5461;

/// Chroma's Rust server reports this version; clients only check it is a string.
pub const API_VERSION: &str = "1.0.0";

#[utoipa::path(get, path = "/api/v2/heartbeat", tag = "system",
    responses((status = 200, body = Heartbeat)))]
/// Liveness: the server's clock in nanoseconds.
pub async fn heartbeat() -> Json<Heartbeat> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Json(Heartbeat {
        nanosecond_heartbeat: nanos,
    })
}

#[utoipa::path(get, path = "/api/v2/version", tag = "system", responses((status = 200, body = String)))]
/// The API version string.
pub async fn version() -> Json<&'static str> {
    Json(API_VERSION)
}

#[utoipa::path(get, path = "/api/v2/pre-flight-checks", tag = "system", responses((status = 200, body = PreFlight)))]
/// Limits the client reads before its first write.
pub async fn pre_flight_checks() -> Json<PreFlight> {
    Json(PreFlight {
        max_batch_size: MAX_BATCH_SIZE,
        supports_base64_encoding: true,
    })
}

#[utoipa::path(get, path = "/api/v2/healthcheck", tag = "system", responses((status = 200, body = Health)))]
/// Readiness.
pub async fn healthcheck() -> Json<Health> {
    Json(Health {
        is_executor_ready: true,
        is_log_client_ready: true,
    })
}

#[utoipa::path(get, path = "/api/v2/auth/identity", tag = "system",
    responses((status = 200, body = Identity), (status = 403, body = ErrorBody)))]
/// Who the caller is. Without an authentication provider everyone is the
/// anonymous user of the default tenant and database.
pub async fn identity(caller: Caller) -> Json<Identity> {
    Json(match caller.identity() {
        Some(who) => Identity::from(who),
        None => Identity::anonymous(),
    })
}

#[utoipa::path(post, path = "/api/v2/reset", tag = "system",
    responses((status = 200, body = bool), (status = 403, body = ErrorBody)))]
/// Wipe every tenant, database and collection (only with ALLOW_RESET).
pub async fn reset(caller: Caller) -> ApiResult<Json<bool>> {
    caller
        .authorize(Action::Reset, Target::Server)
        .await?
        .run(|e, _| e.reset())
        .await?;
    Ok(Json(true))
}

/// Prometheus' text format: what the server did and holds. Authorized as
/// `system:metrics` when authentication is on (docs/METRICS.md).
pub async fn metrics(caller: Caller) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let authorized = caller.authorize(Action::Metrics, Target::Server).await?;
    let holdings = if authorized.is_local() {
        Some(authorized.run(|e, _| crate::metrics::holdings(e)).await?)
    } else {
        authorized.check().await?;
        None
    };
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        crate::metrics::render(holdings.as_ref()),
    )
        .into_response())
}

type CollPath = ChromaPath<(String, String, String)>;

/// Authorize a route that has no data to return.
async fn authorize_only(
    caller: Caller,
    action: Action,
    target: Target<'_>,
) -> Result<(), ApiError> {
    caller.authorize(action, target).await?.check().await
}

/// Hybrid search is not implemented yet.
pub async fn unsupported_search(caller: Caller, ChromaPath((t, d, id)): CollPath) -> ApiError {
    if let Err(e) = authorize_only(caller, Action::Search, Target::CollectionId(&t, &d, &id)).await
    {
        return e;
    }
    ApiError::unimplemented("The search API is not supported by Prism yet; use query")
}

/// Forking needs Chroma's distributed copy-on-write storage.
pub async fn unsupported_fork(
    caller: Caller,
    method: Method,
    ChromaPath((t, d, id)): CollPath,
) -> ApiError {
    let action = if method == Method::GET {
        Action::CountForks
    } else {
        Action::ForkCollection
    };
    if let Err(e) = authorize_only(caller, action, Target::CollectionId(&t, &d, &id)).await {
        return e;
    }
    ApiError::unimplemented("Collection forking is unsupported for local chroma")
}

/// Functions are a Chroma Cloud feature.
pub async fn unsupported_functions(caller: Caller) -> ApiError {
    if let Err(e) = authorize_only(caller, Action::CreateAttachedFunction, Target::Server).await {
        return e;
    }
    ApiError::unimplemented("Functions are not supported by Prism")
}

/// CRN lookups are a Chroma Cloud feature.
pub async fn unsupported_crn(caller: Caller) -> ApiError {
    if let Err(e) = authorize_only(caller, Action::GetCollectionByCrn, Target::Server).await {
        return e;
    }
    ApiError::unimplemented("Collection lookup by CRN is not supported by Prism")
}
/// The v1 API is gone, as in Chroma's Rust server.
pub async fn v1_gone() -> ApiError {
    ApiError::new(
        ErrorKind::Gone,
        "The v1 API is deprecated. Please use /v2 apis",
    )
}

/// JSON 404 for unknown routes.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("No route for {method} {}", uri.path()))
}

/// JSON 405 for known routes with the wrong method.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("Method {method} is not allowed on {}", uri.path()),
    )
}
