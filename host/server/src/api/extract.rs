//! Extractors that fail the way Chroma fails: JSON bodies are parsed whatever
//! the Content-Type (Chroma defaults it to JSON), and every rejection becomes
//! Chroma's error body instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::{ApiError, ErrorKind};

/// A JSON body.
pub struct ChromaJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ChromaJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // A missing Content-Type means JSON; a different one is refused.
        if let Some(kind) = req.headers().get(header::CONTENT_TYPE) {
            let kind = kind.to_str().unwrap_or("").to_ascii_lowercase();
            let essence = kind.split(';').next().unwrap_or("").trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    "Expected request with `Content-Type: application/json`",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_unreadable)?;
        decode_json(&bytes).map(ChromaJson)
    }
}

/// A JSON request body as `T`, failing as Chroma (axum) does: malformed
/// JSON is 400, JSON of the wrong shape is 422, and the message names the
/// path of the offending field.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        if e.inner().is_data() {
            ApiError::new(
                ErrorKind::UnprocessableBody,
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            )
        } else {
            ApiError::invalid(format!("Failed to parse the request body as JSON: {e}"))
        }
    })
}

/// A body that could not be read: over the size limit, or cut off.
fn body_unreadable(e: BytesRejection) -> ApiError {
    let kind = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ErrorKind::PayloadTooLarge
    } else {
        ErrorKind::InvalidArgument
    };
    ApiError::new(kind, e.body_text())
}

/// Path parameters.
pub struct ChromaPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ChromaPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ChromaPath(p.0))
            .map_err(|e: PathRejection| ApiError::invalid(e.body_text()))
    }
}

/// Query-string parameters.
pub struct ChromaQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ChromaQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ChromaQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::invalid(e.body_text()))
    }
}

/// A collection id from the path; Chroma answers 400 for a malformed one.
pub fn collection_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid("Collection ID is not a valid UUIDv4"))
}
