//! OTLP's `ExportTraceServiceRequest` in protobuf's wire format, written
//! by hand: the handful of fields a request span needs do not justify a
//! protobuf code generator in the build.
//!
//! Field numbers are those of `opentelemetry/proto/trace/v1/trace.proto`,
//! `common/v1/common.proto`, `resource/v1/resource.proto` and
//! `collector/trace/v1/trace_service.proto`.

use super::{Attribute, SpanData};

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH: u8 = 2;

/// An `ExportTraceServiceRequest` of `spans`, all from one resource (this
/// server) and one instrumentation scope.
pub fn export_request(resource: &[Attribute], spans: &[SpanData]) -> Vec<u8> {
    let mut scope_spans = Vec::new();
    // InstrumentationScope scope = 1 { string name = 1; string version = 2; }
    let mut scope = Vec::new();
    string(&mut scope, 1, "prism");
    string(&mut scope, 2, env!("CARGO_PKG_VERSION"));
    message(&mut scope_spans, 1, &scope);
    for span in spans {
        // repeated Span spans = 2
        message(&mut scope_spans, 2, &span_message(span));
    }
    let mut resource_message = Vec::new();
    for attribute in resource {
        // repeated KeyValue attributes = 1
        message(&mut resource_message, 1, &key_value(attribute));
    }
    let mut resource_spans = Vec::new();
    // Resource resource = 1; repeated ScopeSpans scope_spans = 2;
    message(&mut resource_spans, 1, &resource_message);
    message(&mut resource_spans, 2, &scope_spans);
    let mut request = Vec::new();
    // repeated ResourceSpans resource_spans = 1
    message(&mut request, 1, &resource_spans);
    request
}

fn span_message(span: &SpanData) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(&mut out, 1, &span.trace_id);
    bytes(&mut out, 2, &span.span_id);
    if let Some(parent) = &span.parent_span_id {
        bytes(&mut out, 4, parent);
    }
    string(&mut out, 5, &span.name);
    // SpanKind kind = 6 (SERVER = 2)
    varint_field(&mut out, 6, 2);
    fixed64(&mut out, 7, span.start_unix_nanos);
    fixed64(&mut out, 8, span.end_unix_nanos);
    for attribute in &span.attributes {
        message(&mut out, 9, &key_value(attribute));
    }
    // Status status = 15 { string message = 2; StatusCode code = 3; }
    // (UNSET = 0, ERROR = 2): only an error is said.
    if span.error {
        let mut status = Vec::new();
        varint_field(&mut status, 3, 2);
        message(&mut out, 15, &status);
    }
    out
}

/// `KeyValue { string key = 1; AnyValue value = 2; }` with
/// `AnyValue { string_value = 1; bool_value = 2; int_value = 3; }`.
fn key_value(attribute: &Attribute) -> Vec<u8> {
    let mut value = Vec::new();
    match &attribute.1 {
        super::Value::Str(s) => string(&mut value, 1, s),
        super::Value::Bool(b) => varint_field(&mut value, 2, u64::from(*b)),
        super::Value::Int(i) => varint_field(&mut value, 3, *i as u64),
    }
    let mut out = Vec::new();
    string(&mut out, 1, attribute.0);
    message(&mut out, 2, &value);
    out
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    tag(out, field, VARINT);
    varint(out, value);
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LENGTH);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    bytes(out, field, value.as_bytes());
}

fn message(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    bytes(out, field, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        out.clear();
        varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn a_span_encodes_its_ids_times_and_attributes() {
        let span = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: "GET /x".into(),
            start_unix_nanos: 5,
            end_unix_nanos: 6,
            attributes: vec![("http.response.status_code", super::super::Value::Int(404))],
            error: false,
        };
        let encoded = span_message(&span);
        // trace_id: field 1, length 16.
        assert_eq!(&encoded[..2], &[0x0a, 16]);
        assert_eq!(&encoded[2..18], &[1; 16]);
        // span_id: field 2, length 8.
        assert_eq!(&encoded[18..20], &[0x12, 8]);
        // start time: field 7, fixed64.
        let start = encoded
            .windows(9)
            .position(|w| w == [0x39, 5, 0, 0, 0, 0, 0, 0, 0]);
        assert!(start.is_some(), "{encoded:?}");
    }
}
