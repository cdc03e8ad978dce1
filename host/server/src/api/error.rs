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
    /// A request body not received within `PRISM_BODY_TIMEOUT_SECS`.
    RequestTimeout => (REQUEST_TIMEOUT, "ChromaError"),
    /// A known route asked with another method.
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "ChromaError"),
    /// Creating what exists (tenant, database, collection).
    AlreadyExists => (CONFLICT, "ChromaError"),
    /// `POST /reset` on a server that does not allow it.
    ResetDisabled => (FORBIDDEN, "ChromaError"),
    /// Authentication failed or the identity may not do this: one answer
    /// for both, as Chroma's Python server gives.
    Forbidden => (FORBIDDEN, "AuthError"),
    /// A bearer token read and refused for a reason (expired, wrong issuer
    /// or audience, bad signature): 401 with `WWW-Authenticate`, as RFC 6750
    /// asks. Only plugins that say so (`refused`, contract 0.2) get this;
    /// Chroma's own providers keep the 403.
    Unauthorized => (UNAUTHORIZED, "AuthError"),
    /// Too many failed authentications from one client or user.
    RateLimited => (TOO_MANY_REQUESTS, "RateLimitError"),
    /// The auth plugin failed (trap, deadline, memory): fail closed.
    AuthUnavailable => (SERVICE_UNAVAILABLE, "AuthError"),
    /// Features of Chroma's distributed or cloud deployments.
    Unimplemented => (NOT_IMPLEMENTED, "ChromaError"),
    /// The v1 API, as Chroma's Rust server answers it.
    Gone => (GONE, "Unimplemented"),
    /// Gateway mode: the upstream Chroma cannot be reached.
    UpstreamUnavailable => (SERVICE_UNAVAILABLE, "ChromaError"),
    /// Gateway mode: the upstream Chroma did not answer in time.
    UpstreamTimeout => (GATEWAY_TIMEOUT, "ChromaError"),
    /// Prism's own failure (storage, I/O, a worker thread).
    Internal => (INTERNAL_SERVER_ERROR, "InternalError"),
    /// The disk holding the data directory is full: the write was not made
    /// (Chroma's clients raise their `InternalError` with the message).
    StorageFull => (INSUFFICIENT_STORAGE, "InternalError"),
}

/// All a client is told of Prism's own failures; the log has the details.
pub const INTERNAL_MESSAGE: &str =
    "Internal error: the server could not complete the request; its log says why";

/// What a client is told when a write finds the disk full.
pub const STORAGE_FULL_MESSAGE: &str = "Insufficient storage: the disk holding the server's data directory is full, so nothing of this request was written. Reads still work; writes work again once space is freed";

/// An error on its way to becoming an HTTP response.
#[derive(Debug)]
pub struct ApiError {
    /// What kind of error: its status and Chroma name.
    pub kind: ErrorKind,
    /// Message for the client.
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
    /// What went wrong inside, for the server's log only (see
    /// [`ApiError::internal`]).
    pub detail: Option<String>,
}

/// The details of a server error, carried from the handler to the
/// trace-id middleware in the response's extensions, so that they are
/// logged once, on the line that has the request's trace id.
#[derive(Debug, Clone)]
pub struct ErrorDetail(pub String);

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
            detail: None,
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

    /// Prism's own failure. `detail` (SQL, SQLite's or the OS's words)
    /// goes to the server log only: it means nothing to a client, may be
    /// huge, and tells an attacker how the server works.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, INTERNAL_MESSAGE).with_detail(detail)
    }

    /// The same error, with `detail` for the server's log.
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..self
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        if err.is_storage_full() {
            return Self::new(ErrorKind::StorageFull, STORAGE_FULL_MESSAGE).with_detail(format!(
                "the disk holding the data directory is full; writes fail until space is freed: {err}"
            ));
        }
        match err {
            EngineError::InvalidArgument(m) => Self::invalid(m),
            EngineError::NotFound(m) => Self::not_found(m),
            EngineError::AlreadyExists(m) => Self::new(ErrorKind::AlreadyExists, m),
            EngineError::ResetDisabled => Self::new(ErrorKind::ResetDisabled, err.to_string()),
            // Same answer as a refused authorization; the message names the
            // ids the request itself sent, nothing more.
            EngineError::RowFilterViolation(m) => Self::new(ErrorKind::Forbidden, m),
            EngineError::Unimplemented(m) => Self::unimplemented(m),
            EngineError::Storage(_)
            | EngineError::Io(_)
            | EngineError::Encryption(_)
            | EngineError::InUse(_)
            | EngineError::Internal(_) => Self::internal(err.to_string()),
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
        if self.kind == ErrorKind::Unauthorized {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ErrorDetail(detail));
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
    fn internal_details_stay_out_of_the_message() {
        // Storage errors take the same way (rusqlite is not a dependency
        // here to build one).
        for err in [
            EngineError::Internal("too many SQL variables in SELECT r.slot FROM records".into()),
            EngineError::Io(std::io::Error::other("/data/prism/x.hnsw: SELECT")),
        ] {
            let api = ApiError::from(err);
            assert_eq!(api.kind, ErrorKind::Internal);
            assert_eq!(api.message, INTERNAL_MESSAGE);
            assert!(!api.message.contains("SELECT"));
        }
        assert_eq!(
            ApiError::internal("worker failed: panic").message,
            INTERNAL_MESSAGE
        );
    }

    #[test]
    fn internal_details_travel_to_the_log_line_not_the_body() {
        let response = ApiError::internal("disk I/O error at page 7").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response.extensions().get::<ErrorDetail>().expect("detail");
        assert_eq!(detail.0, "disk I/O error at page 7");
        assert!(
            ApiError::invalid("bad")
                .into_response()
                .extensions()
                .get::<ErrorDetail>()
                .is_none()
        );
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
            (
                EngineError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)),
                507,
                "InternalError",
            ),
            (
                EngineError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
                500,
                "InternalError",
            ),
        ];
        for (err, status, name) in cases {
            let api = ApiError::from(err);
            assert_eq!(
                (api.status().as_u16(), api.kind.name()),
                (status, name),
                "{api:?}"
            );
            if status == 507 {
                assert_eq!(api.message, STORAGE_FULL_MESSAGE);
            }
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
