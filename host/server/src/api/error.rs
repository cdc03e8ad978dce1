//! The one table that turns errors into Chroma's `{"error", "message"}` body,
//! HTTP status and `chroma-trace-id` header.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prism_engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

/// The header Chroma's clients copy into their exceptions.
pub const TRACE_ID_HEADER: &str = "chroma-trace-id";

/// Chroma's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Error class name the clients map to an exception type.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
}

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Chroma's error name.
    pub name: &'static str,
    /// Message for the client.
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status and Chroma name.
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            name,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `RateLimitError` with a `Retry-After` header.
    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "RateLimitError", message)
        }
    }

    /// 400 `InvalidArgumentError`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgumentError", message)
    }

    /// 404 `NotFoundError`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFoundError", message)
    }

    /// 501 for features of Chroma's distributed or cloud deployments.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "ChromaError", message)
    }

    /// Chroma's name for a status produced outside a handler (router, extractors).
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let name = match status {
            StatusCode::BAD_REQUEST => "InvalidArgumentError",
            StatusCode::NOT_FOUND => "NotFoundError",
            s if s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED => "InternalError",
            _ => "ChromaError",
        };
        Self::new(status, name, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::InvalidArgument(m) => Self::invalid(m),
            EngineError::NotFound(m) => Self::not_found(m),
            EngineError::AlreadyExists(m) => Self::new(StatusCode::CONFLICT, "ChromaError", m),
            EngineError::ResetDisabled => {
                Self::new(StatusCode::FORBIDDEN, "ChromaError", err.to_string())
            }
            EngineError::Unimplemented(m) => Self::unimplemented(m),
            EngineError::Storage(_) | EngineError::Io(_) | EngineError::Internal(_) => {
                tracing::error!(error = %err, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    err.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.name.to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // The trace-id middleware replaces this with the request's own id.
        response.headers_mut().insert(
            TRACE_ID_HEADER,
            HeaderValue::from_static("00000000000000000000000000000000"),
        );
        response
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
