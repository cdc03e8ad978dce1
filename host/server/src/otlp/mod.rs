//! OpenTelemetry traces over OTLP: one server span per request, whose trace
//! id is the request's `chroma-trace-id` (the one in its audit events and
//! error answers), exported in batches in the background when an endpoint
//! is configured (Chroma's `open_telemetry` config keys and variables, or
//! the standard `OTEL_EXPORTER_OTLP_*` ones; docs/TRACING.md).
//!
//! Exporting never slows a request: spans go to a bounded queue, and past
//! its size they are dropped and counted in the log.

mod export;
mod proto;
pub mod settings;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::mpsc;

pub use settings::{OtlpSettings, Protocol};

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// A span or resource attribute.
pub type Attribute = (&'static str, Value);

/// One finished span.
#[derive(Debug, Clone)]
pub struct SpanData {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// Its own id.
    pub span_id: [u8; 8],
    /// The caller's span, from an incoming `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// `GET /api/v2/...` (the route's template).
    pub name: String,
    /// When it began.
    pub start_unix_nanos: u64,
    /// When it ended.
    pub end_unix_nanos: u64,
    /// What it did.
    pub attributes: Vec<Attribute>,
    /// Whether it failed (a 5xx answer).
    pub error: bool,
}

/// A request's place in a trace: set by the trace-id middleware from the
/// client's `traceparent` when it sent one, random otherwise.
#[derive(Debug, Clone, Copy)]
pub struct SpanContext {
    /// The trace (its hex is the request's `chroma-trace-id`).
    pub trace_id: [u8; 16],
    /// This request's span.
    pub span_id: [u8; 8],
    /// The client's span.
    pub parent_span_id: Option<[u8; 8]>,
}

impl SpanContext {
    /// The context for a request with these headers: continuing a valid
    /// W3C `traceparent` (version 00), or a new trace.
    pub fn for_request(traceparent: Option<&str>) -> Self {
        let span_id = random_span_id();
        if let Some((trace_id, parent)) = traceparent.and_then(parse_traceparent) {
            return SpanContext {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
            };
        }
        SpanContext {
            trace_id: uuid::Uuid::new_v4().into_bytes(),
            span_id,
            parent_span_id: None,
        }
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` to send a server this request calls, as a child
    /// of this request's span.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", hex(&self.trace_id), hex(&self.span_id))
    }
}

fn random_span_id() -> [u8; 8] {
    loop {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let mut id = [0; 8];
        id.copy_from_slice(&bytes[..8]);
        if id != [0; 8] {
            return id;
        }
    }
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids
/// are invalid.
fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8])> {
    let mut parts = value.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || flags.len() != 2 {
        return None;
    }
    let trace: [u8; 16] = unhex(trace)?.try_into().ok()?;
    let parent: [u8; 8] = unhex(parent)?.try_into().ok()?;
    (trace != [0; 16] && parent != [0; 8]).then_some((trace, parent))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

static EXPORTER: OnceLock<mpsc::Sender<export::Message>> = OnceLock::new();

/// Start exporting to `settings`' endpoint (within a tokio runtime).
pub fn start(settings: OtlpSettings) -> Result<(), crate::gateway::UpstreamError> {
    let sender = export::spawn(settings)?;
    let _ = EXPORTER.set(sender);
    Ok(())
}

/// Send what is queued, waiting at most `within` (at shutdown).
pub async fn flush(within: Duration) {
    let Some(sender) = EXPORTER.get() else {
        return;
    };
    let (done, finished) = tokio::sync::oneshot::channel();
    if sender.send(export::Message::Flush(done)).await.is_ok() {
        let _ = tokio::time::timeout(within, finished).await;
    }
}

/// Record each request's span, when exporting: a middleware inside the
/// router, so the span is named by the route's template.
pub async fn record(request: Request, next: Next) -> Response {
    let Some(sender) = EXPORTER.get() else {
        return next.run(request).await;
    };
    let context = request.extensions().get::<SpanContext>().copied();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let start = now_nanos();
    let response = next.run(request).await;
    let Some(context) = context else {
        return response;
    };
    let status = response.status();
    let mut attributes = vec![
        ("http.request.method", Value::Str(method.clone())),
        (
            "http.response.status_code",
            Value::Int(i64::from(status.as_u16())),
        ),
    ];
    if let Some(route) = &route {
        attributes.push(("http.route", Value::Str(route.clone())));
    }
    let span = SpanData {
        trace_id: context.trace_id,
        span_id: context.span_id,
        parent_span_id: context.parent_span_id,
        name: match &route {
            Some(route) => format!("{method} {route}"),
            None => method,
        },
        start_unix_nanos: start,
        end_unix_nanos: now_nanos(),
        attributes,
        error: status.is_server_error(),
    };
    export::queue(sender, span);
    response
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued_and_others_start_a_trace() {
        let continued = SpanContext::for_request(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(continued.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            continued.parent_span_id,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_ne!(continued.span_id, [0; 8]);
        assert!(
            continued
                .traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "garbage",
        ] {
            let fresh = SpanContext::for_request(Some(bad));
            assert_eq!(fresh.parent_span_id, None, "{bad}");
            assert_ne!(fresh.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }
    }
}
