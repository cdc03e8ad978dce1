//! The one table that turns errors into Chroma's `{"error", "message"}` body,
//! HTTP status and `chroma-trace-id` header. Every error a client can see is
//! one of the [`ErrorKind`]s below; its status and Chroma name are written
//! once, in [`error_kinds!`].

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

/// Declares [`ErrorKind`] with each kind's HTTP status and the `error` name
/// Chroma's clients turn into an exception class.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => ($status:ident, $name:literal),)*) => {
        /// Every kind of error Prism answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in table order.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$kind,)*];

            /// The HTTP status it is sent with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorKind::$kind => StatusCode::$status,)*
                }
            }

            /// Chroma's name for it, the body's `error` field.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)*
                }
            }
        }
    };
}

error_kinds! {
    /// A client mistake in a request (Chroma's `InvalidArgumentError`).
    InvalidArgument => (BAD_REQUEST, "InvalidArgumentError"),
    /// A JSON body of the wrong shape; axum's status, as Chroma's Rust server.
    UnprocessableBody => (UNPROCESSABLE_ENTITY, "ChromaError"),
    /// A body that is not JSON.
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "ChromaError"),
    /// A body over the configured limit.
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "ChromaError"),
    /// No such tenant, database, collection, record or route.
    NotFound => (NOT_FOUND, "NotFoundError"),
    /// A known route asked with another method.
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "ChromaError"),
    /// Creating what exists (tenant, database, collection).
    AlreadyExists => (CONFLICT, "ChromaError"),
    /// `POST /reset` on a server that does not allow it.
    ResetDisabled => (FORBIDDEN, "ChromaError"),
    /// Authentication failed or the identity may not do this: one answer
    /// for both, as Chroma's Python server gives.
    Forbidden => (FORBIDDEN, "AuthError"),
    /// Too many failed authentications from one client or user.
    RateLimited => (TOO_MANY_REQUESTS, "RateLimitError"),
    /// The auth plugin failed (trap, deadline, memory): fail closed.
    AuthUnavailable => (SERVICE_UNAVAILABLE, "AuthError"),
    /// Features of Chroma's distributed or cloud deployments.
    Unimplemented => (NOT_IMPLEMENTED, "ChromaError"),
    /// The v1 API, as Chroma's Rust server answers it.
    Gone => (GONE, "Unimplemented"),
    /// Prism's own failure (storage, I/O, a worker thread).
    Internal => (INTERNAL_SERVER_ERROR, "InternalError"),
}

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    /// What kind of error: its status and Chroma name.
    pub kind: ErrorKind,
    /// Message for the client.
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 with a `Retry-After` header.
    pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(ErrorKind::RateLimited, message)
        }
    }

    /// A client mistake.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Something that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A feature of Chroma's distributed or cloud deployments.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unimplemented, message)
    }

    /// Prism's own failure; logged here, since the client sees only a summary.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(error = %message, "internal error");
        Self::new(ErrorKind::Internal, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::InvalidArgument(m) => Self::invalid(m),
            EngineError::NotFound(m) => Self::not_found(m),
            EngineError::AlreadyExists(m) => Self::new(ErrorKind::AlreadyExists, m),
            EngineError::ResetDisabled => Self::new(ErrorKind::ResetDisabled, err.to_string()),
            EngineError::Unimplemented(m) => Self::unimplemented(m),
            EngineError::Storage(_) | EngineError::Io(_) | EngineError::Internal(_) => {
                Self::internal(err.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.name().to_string(),
            message: self.message,
        };
        let mut response = (self.kind.status(), Json(body)).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_an_error_status_with_a_chroma_name() {
        for &kind in ErrorKind::ALL {
            let status = kind.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{kind:?}"
            );
            assert!(
                [
                    "InvalidArgumentError",
                    "NotFoundError",
                    "ChromaError",
                    "AuthError",
                    "RateLimitError",
                    "Unimplemented",
                    "InternalError"
                ]
                .contains(&kind.name()),
                "{kind:?} has a name Chroma's clients do not know"
            );
        }
    }

    #[test]
    fn engine_errors_keep_their_status_and_name() {
        let cases = [
            (
                EngineError::InvalidArgument("x".into()),
                400,
                "InvalidArgumentError",
            ),
            (EngineError::NotFound("x".into()), 404, "NotFoundError"),
            (EngineError::AlreadyExists("x".into()), 409, "ChromaError"),
            (EngineError::ResetDisabled, 403, "ChromaError"),
            (EngineError::Unimplemented("x".into()), 501, "ChromaError"),
            (EngineError::Internal("x".into()), 500, "InternalError"),
        ];
        for (err, status, name) in cases {
            let api = ApiError::from(err);
            assert_eq!(
                (api.status().as_u16(), api.kind.name()),
                (status, name),
                "{api:?}"
            );
        }
    }

    #[test]
    fn the_response_carries_the_body_and_retry_after() {
        let response = ApiError::too_many("slow down", 7).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
        assert!(response.headers().contains_key(TRACE_ID_HEADER));
    }
}
