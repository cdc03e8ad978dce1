//! The background exporter: spans queue up, leave in batches (512 at most,
//! or whatever came within a second), each batch one OTLP export over gRPC
//! or HTTP. A collector that is down costs the spans of that time and a
//! warning a minute, never a request's time.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot};

use super::settings::{OtlpSettings, Protocol};
use super::{SpanData, Value, proto};
use crate::gateway::{Upstream, UpstreamError, UpstreamSettings};

/// Spans waiting to be sent; past this many, new ones are dropped.
const QUEUE: usize = 8192;
/// Most spans in one export.
const BATCH: usize = 512;
/// Longest a span waits for its batch.
const LINGER: Duration = Duration::from_secs(1);
/// Deadline of one export.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The gRPC method of `opentelemetry.proto.collector.trace.v1.TraceService`.
const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the exporter is told.
pub enum Message {
    /// A finished span.
    Span(Box<SpanData>),
    /// Send what is queued, then say so.
    Flush(oneshot::Sender<()>),
}

/// Start the exporter task; its queue's sender.
pub fn spawn(settings: OtlpSettings) -> Result<mpsc::Sender<Message>, UpstreamError> {
    let client = Upstream::new(&UpstreamSettings {
        url: settings.endpoint.clone(),
        ca_file: None,
        client_certificate: None,
        client_key: None,
        timeout: EXPORT_TIMEOUT,
        http2: settings.protocol == Protocol::Grpc,
    })?;
    let (sender, receiver) = mpsc::channel(QUEUE);
    tokio::spawn(Exporter::new(settings, client).run(receiver));
    Ok(sender)
}

/// Queue `span`, or drop it when the queue is full.
pub fn queue(sender: &mpsc::Sender<Message>, span: SpanData) {
    if sender.try_send(Message::Span(Box::new(span))).is_err() {
        dropped_span();
    }
}

fn dropped_span() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static DROPPED: AtomicU64 = AtomicU64::new(0);
    let n = DROPPED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::warn!(
            dropped = n,
            "the OTLP span queue is full: spans are being dropped"
        );
    }
}

struct Exporter {
    settings: OtlpSettings,
    client: Upstream,
    resource: Vec<super::Attribute>,
    headers: HeaderMap,
    last_warning: Option<Instant>,
}

impl Exporter {
    fn new(settings: OtlpSettings, client: Upstream) -> Self {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => {
                    tracing::warn!(header = %name, "an OTLP header that is not a valid HTTP header is left out")
                }
            }
        }
        let resource = vec![
            ("service.name", Value::Str(settings.service_name.clone())),
            (
                "service.version",
                Value::Str(env!("CARGO_PKG_VERSION").to_string()),
            ),
            ("telemetry.sdk.name", Value::Str("prism".to_string())),
        ];
        Exporter {
            settings,
            client,
            resource,
            headers,
            last_warning: None,
        }
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        tracing::info!(
            endpoint = %self.client.shown(),
            protocol = ?self.settings.protocol,
            service = %self.settings.service_name,
            "exporting traces over OTLP"
        );
        while let Some(first) = receiver.recv().await {
            let mut batch = Vec::new();
            let mut flushed = Vec::new();
            match first {
                Message::Span(span) => batch.push(*span),
                Message::Flush(done) => flushed.push(done),
            }
            let linger = tokio::time::sleep(LINGER);
            tokio::pin!(linger);
            while batch.len() < BATCH && flushed.is_empty() {
                tokio::select! {
                    next = receiver.recv() => match next {
                        Some(Message::Span(span)) => batch.push(*span),
                        Some(Message::Flush(done)) => flushed.push(done),
                        None => break,
                    },
                    () = &mut linger => break,
                }
            }
            if !batch.is_empty() {
                self.export(&batch).await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    async fn export(&mut self, spans: &[SpanData]) {
        let message = proto::export_request(&self.resource, spans);
        let result = match self.settings.protocol {
            Protocol::Grpc => self.grpc(message).await,
            Protocol::HttpProtobuf => self.http(message).await,
        };
        if let Err(error) = result {
            // One warning a minute: a collector that is down must not
            // flood the log.
            if self
                .last_warning
                .is_none_or(|at| at.elapsed() > Duration::from_secs(60))
            {
                self.last_warning = Some(Instant::now());
                tracing::warn!(endpoint = %self.client.shown(), spans = spans.len(), %error, "OTLP export failed; these spans are lost");
            }
        }
    }

    async fn http(&self, message: Vec<u8>) -> Result<(), String> {
        let mut headers = self.headers.clone();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let response = self
            .client
            .send(Method::POST, "", headers, Body::from(message))
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
        }
    }

    async fn grpc(&self, message: Vec<u8>) -> Result<(), String> {
        let mut headers = self.headers.clone();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        // gRPC's framing: uncompressed, then the length (big-endian).
        let mut framed = Vec::with_capacity(message.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(&message);
        let response = self
            .client
            .send(Method::POST, GRPC_EXPORT, headers, Body::from(framed))
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let head_status = grpc_status(response.headers());
        let collected = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        let trailer_status = collected.trailers().and_then(grpc_status);
        match (status.is_success(), trailer_status.or(head_status)) {
            (true, Some((0, _))) => Ok(()),
            (_, Some((code, message))) => Err(format!("gRPC status {code}: {message}")),
            (_, None) => Err(format!(
                "the collector answered {status} without a gRPC status"
            )),
        }
    }
}

/// `grpc-status` and `grpc-message`, if the headers carry them.
fn grpc_status(headers: &HeaderMap) -> Option<(u32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Some((code, message))
}
