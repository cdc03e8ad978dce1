//! Where traces go, from the names a Chroma deployment already uses:
//! Chroma's config file (`open_telemetry: {endpoint, service_name}`) and its
//! Rust server's variables (`CHROMA_OPEN_TELEMETRY__ENDPOINT`, `..._SERVICE_NAME`),
//! its Python server's (`CHROMA_OTEL_COLLECTION_ENDPOINT`, `..._SERVICE_NAME`,
//! `..._HEADERS`), and OpenTelemetry's standard `OTEL_EXPORTER_OTLP_*`,
//! which win over the others.

use serde::Deserialize;

use crate::settings::{Env, SettingsError};

/// Chroma's `open_telemetry` config section.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct OpenTelemetryConfig {
    /// The collector.
    pub endpoint: Option<String>,
    /// The service name spans are reported under.
    pub service_name: Option<String>,
}

/// How spans are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC (HTTP/2), what Chroma's servers export with; the
    /// collector's port 4317.
    Grpc,
    /// OTLP over HTTP/1.1 with a protobuf body, to `/v1/traces`; port 4318.
    HttpProtobuf,
}

/// A configured exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSettings {
    /// Base URL of the collector (gRPC), or the full URL spans are posted
    /// to (HTTP).
    pub endpoint: String,
    /// How.
    pub protocol: Protocol,
    /// `service.name` of every span.
    pub service_name: String,
    /// Headers sent with every export (API keys of hosted collectors).
    pub headers: Vec<(String, String)>,
}

/// The service name when none is configured.
pub const DEFAULT_SERVICE_NAME: &str = "prism";

/// Every variable read here.
pub const VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "CHROMA_OPEN_TELEMETRY__ENDPOINT",
    "CHROMA_OPEN_TELEMETRY__SERVICE_NAME",
    "CHROMA_OTEL_COLLECTION_ENDPOINT",
    "CHROMA_OTEL_SERVICE_NAME",
    "CHROMA_OTEL_COLLECTION_HEADERS",
];

/// The exporter the environment and config file ask for, if any.
pub fn resolve(
    env: &dyn Env,
    file: Option<&OpenTelemetryConfig>,
) -> Result<Option<OtlpSettings>, SettingsError> {
    let first = |names: &[&str]| names.iter().find_map(|n| env.get(n));
    let traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let base_endpoint = first(&[
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "CHROMA_OPEN_TELEMETRY__ENDPOINT",
        "CHROMA_OTEL_COLLECTION_ENDPOINT",
    ])
    .or_else(|| file.and_then(|f| f.endpoint.clone()));
    let protocol = match first(&[
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]) {
        None => Protocol::Grpc,
        Some(p) => match p.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            other => {
                return Err(SettingsError::Env {
                    name: "OTEL_EXPORTER_OTLP_PROTOCOL",
                    detail: format!("expected grpc or http/protobuf, got {other:?}"),
                });
            }
        },
    };
    let endpoint = match (traces_endpoint, base_endpoint) {
        // A signal's own endpoint is used as it is.
        (Some(full), _) => with_scheme(&full),
        // A base endpoint gets the signal's path over HTTP.
        (None, Some(base)) => {
            let base = with_scheme(&base);
            match protocol {
                Protocol::Grpc => base,
                Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
            }
        }
        (None, None) => return Ok(None),
    };
    let service_name = first(&[
        "OTEL_SERVICE_NAME",
        "CHROMA_OPEN_TELEMETRY__SERVICE_NAME",
        "CHROMA_OTEL_SERVICE_NAME",
    ])
    .or_else(|| file.and_then(|f| f.service_name.clone()))
    .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string());
    let headers = match first(&[
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "CHROMA_OTEL_COLLECTION_HEADERS",
    ]) {
        None => Vec::new(),
        Some(text) => parse_headers(&text).map_err(|detail| SettingsError::Env {
            name: "OTEL_EXPORTER_OTLP_HEADERS",
            detail,
        })?,
    };
    Ok(Some(OtlpSettings {
        endpoint,
        protocol,
        service_name,
        headers,
    }))
}

/// An endpoint without a scheme (`api.honeycomb.com`, as Chroma's docs
/// write it) is HTTPS.
fn with_scheme(endpoint: &str) -> String {
    let endpoint = endpoint.trim();
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}

/// OpenTelemetry's `key=value,key2=value2` (values percent-decoded), or
/// the JSON object Chroma's docs show.
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object of strings: {e}"))?;
        return Ok(map.into_iter().collect());
    }
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {:?}", pair.trim()))?;
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8_lossy()
                .into_owned();
            Ok((key.trim().to_string(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::EnvSnapshot;

    fn env(pairs: &[(&str, &str)]) -> EnvSnapshot {
        EnvSnapshot::from_pairs(pairs)
    }

    #[test]
    fn chromas_config_keys_export_over_grpc() {
        let file = OpenTelemetryConfig {
            endpoint: Some("http://otel-collector:4317".into()),
            service_name: Some("rust-frontend-service".into()),
        };
        let s = resolve(&env(&[]), Some(&file)).unwrap().unwrap();
        assert_eq!(s.endpoint, "http://otel-collector:4317");
        assert_eq!(s.protocol, Protocol::Grpc);
        assert_eq!(s.service_name, "rust-frontend-service");
        assert!(resolve(&env(&[]), None).unwrap().is_none());
    }

    #[test]
    fn standard_variables_win_and_http_gets_the_signal_path() {
        let file = OpenTelemetryConfig {
            endpoint: Some("http://file:4317".into()),
            service_name: None,
        };
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-team=abc,authorization=Bearer%20t",
            ),
            ("CHROMA_OTEL_SERVICE_NAME", "chroma-name"),
        ]);
        let s = resolve(&e, Some(&file)).unwrap().unwrap();
        assert_eq!(s.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(s.service_name, "chroma-name");
        assert_eq!(
            s.headers,
            [
                ("x-team".to_string(), "abc".to_string()),
                ("authorization".to_string(), "Bearer t".to_string())
            ]
        );
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(
            resolve(&e, None).unwrap().unwrap().endpoint,
            "http://c:4318/custom"
        );
    }

    #[test]
    fn chromas_variables_and_json_headers_and_bare_hosts() {
        let e = env(&[
            ("CHROMA_OTEL_COLLECTION_ENDPOINT", "api.honeycomb.com"),
            (
                "CHROMA_OTEL_COLLECTION_HEADERS",
                r#"{"x-honeycomb-team": "key"}"#,
            ),
        ]);
        let s = resolve(&e, None).unwrap().unwrap();
        assert_eq!(s.endpoint, "https://api.honeycomb.com");
        assert_eq!(
            s.headers,
            [("x-honeycomb-team".to_string(), "key".to_string())]
        );
        assert_eq!(s.service_name, DEFAULT_SERVICE_NAME);
        let bad = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ]);
        assert!(
            resolve(&bad, None)
                .unwrap_err()
                .to_string()
                .contains("grpc or http/protobuf")
        );
    }
}
