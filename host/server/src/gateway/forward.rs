//! One request on its way upstream and its answer on the way back: which
//! headers cross (never the client's credentials, never hop-by-hop ones),
//! the request's trace id as a W3C `traceparent`, and upstream failures in
//! Chroma's shape.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::{Gateway, UpstreamError, unavailable};
use crate::api::error::{ApiError, ErrorKind};
use crate::metrics;

/// Headers that describe one connection, not the request (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers that carry the client's credentials (or the console's cookie):
/// Prism checked them; the upstream never sees them.
const CREDENTIALS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-chroma-token",
    "cookie",
];

/// What a path segment may not hold unescaped.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `value` as one path segment.
pub fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// What the gateway forwards of one request.
pub struct Outgoing {
    /// Method.
    pub method: Method,
    /// From `/api/v2` on, query string included.
    pub path_and_query: String,
    /// The client's headers (filtered here).
    pub headers: HeaderMap,
    /// The body: the client's stream, or the gateway's rewrite of it.
    pub body: Body,
    /// Set when the body was rewritten: its new length.
    pub rewritten_length: Option<usize>,
    /// The `traceparent` that makes the upstream's spans children of this
    /// request's.
    pub traceparent: Option<String>,
    /// The client's address, for `X-Forwarded-For`.
    pub client: Option<String>,
}

impl Gateway {
    /// Send `outgoing` upstream and stream the answer back.
    pub async fn forward(&self, outgoing: Outgoing) -> Result<Response, ApiError> {
        let headers = self.upstream_headers(&outgoing);
        let started = std::time::Instant::now();
        let answer = self
            .upstream
            .send(
                outgoing.method,
                &outgoing.path_and_query,
                headers,
                outgoing.body,
            )
            .await;
        let status = match &answer {
            Ok(response) => response.status().as_str().to_string(),
            Err(UpstreamError::Timeout { .. }) => "timeout".to_string(),
            Err(_) => "unreachable".to_string(),
        };
        metrics::upstream_call(&status, started.elapsed());
        let answer = answer.map_err(|e| unavailable(&e))?;
        let (mut parts, body) = answer.into_parts();
        strip(&mut parts.headers, &[]);
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    fn upstream_headers(&self, outgoing: &Outgoing) -> HeaderMap {
        let mut headers = outgoing.headers.clone();
        strip(&mut headers, &self.credential_headers);
        headers.remove(header::HOST);
        headers.remove("x-forwarded-for");
        headers.remove("forwarded");
        if let Some(length) = outgoing.rewritten_length {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        if let Some(client) = outgoing
            .client
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            headers.insert("x-forwarded-for", client);
        }
        headers.remove("traceparent");
        headers.remove("tracestate");
        if let Some(value) = outgoing
            .traceparent
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert("traceparent", value);
        }
        headers
    }
}

/// Remove hop-by-hop headers (and those `Connection` names), and `also`.
fn strip(headers: &mut HeaderMap, also: &[HeaderName]) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(also) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP.iter().chain(CREDENTIALS) {
        headers.remove(*name);
    }
}

/// An upstream's error answer to a request the gateway made itself (a
/// lookup), as a client error of the same meaning.
pub fn upstream_error(status: StatusCode, body: &Bytes) -> ApiError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(500).collect());
    let kind = match status {
        StatusCode::BAD_REQUEST => ErrorKind::InvalidArgument,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::CONFLICT => ErrorKind::AlreadyExists,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorKind::UnprocessableBody,
        _ => {
            return ApiError::new(
                ErrorKind::UpstreamUnavailable,
                "Service unavailable: the upstream Chroma server failed (details in the server log)",
            )
            .with_detail(format!("the upstream answered {status}: {message}"));
        }
    };
    ApiError::new(kind, message)
}

/// A JSON answer made by the gateway itself.
pub fn json_answer(value: &impl serde::Serialize) -> Response {
    axum::Json(value).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_by_hop_headers_never_cross() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer secret"),
            ("x-chroma-token", "secret"),
            ("x-custom-token", "secret"),
            ("cookie", "__Host-prism-session=secret"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("content-type", "application/json"),
            ("user-agent", "chroma-python"),
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip(&mut headers, &[HeaderName::from_static("x-custom-token")]);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "user-agent"]);
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("default_tenant"), "default_tenant");
        assert_eq!(path_segment("a b/c?d%"), "a%20b%2Fc%3Fd%25");
    }

    #[test]
    fn upstream_errors_keep_their_meaning_and_hide_server_failures() {
        let e = upstream_error(
            StatusCode::NOT_FOUND,
            &Bytes::from_static(
                br#"{"error":"NotFoundError","message":"Collection [x] does not exist"}"#,
            ),
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "Collection [x] does not exist")
        );
        let e = upstream_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Bytes::from_static(b"boom at db.internal:5432"),
        );
        assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
        assert!(!e.message.contains("db.internal"));
    }
}
