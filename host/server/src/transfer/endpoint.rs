//! Where an import reads or writes through Chroma's HTTP API: a server at a
//! URL (Chroma, or another Prism), or a data directory opened in this
//! process and answered by Prism's own router without a socket. Both take
//! the same requests and give the same answers, so the copy has one path.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, Request, StatusCode};
use prism_engine::crypto::key_file;
use prism_engine::{EncryptionKey, Engine, EngineOptions};
use serde_json::Value;
use tower::ServiceExt;

use super::TransferError;
use crate::api::{self, AppState, HttpOptions};
use crate::gateway::upstream::{Upstream, UpstreamSettings};

/// Largest answer read (a page of records with their embeddings).
const MAX_ANSWER_BYTES: usize = 1 << 30;

/// A server's API, or a data directory's.
pub enum Endpoint {
    /// A server at a URL, with the headers (credentials) every request carries.
    Remote {
        /// The connection.
        upstream: Box<Upstream>,
        /// Sent with every request.
        headers: HeaderMap,
        /// The flag that gives it credentials, named when it refuses them.
        credentials_flag: &'static str,
    },
    /// A data directory, held by this process while the endpoint lives.
    Local {
        /// Prism's API over it, with authentication off: whoever can open
        /// the directory can read it anyway.
        router: Router,
        /// Flushed when the copy ends.
        engine: Arc<Engine>,
        /// Shown in messages.
        shown: String,
    },
}

/// How to reach a server.
pub struct RemoteOptions<'a> {
    /// `http://host:port` or `https://host:port`.
    pub url: &'a str,
    /// `Name: value` headers; a last word `@FILE` is read from FILE.
    pub headers: &'a [String],
    /// Certificate authorities for `https` (PEM).
    pub ca_file: Option<&'a Path>,
    /// Deadline of one request.
    pub timeout: Duration,
    /// The flag that gives its headers (`--header`, `--to-header`).
    pub credentials_flag: &'static str,
}

impl Endpoint {
    /// A server at a URL.
    pub fn remote(options: &RemoteOptions<'_>) -> Result<Self, TransferError> {
        let upstream = Upstream::new(&UpstreamSettings {
            url: options.url.to_string(),
            ca_file: options.ca_file.map(Path::to_path_buf),
            client_certificate: None,
            client_key: None,
            timeout: options.timeout,
            http2: false,
        })
        .map_err(|e| TransferError::Settings(e.to_string()))?;
        Ok(Self::Remote {
            upstream: Box::new(upstream),
            headers: parse_headers(options.headers)?,
            credentials_flag: options.credentials_flag,
        })
    }

    /// A data directory (created when missing), encrypted with the key in
    /// `key_file` when given.
    pub fn local(path: &Path, key_file: Option<&Path>) -> Result<Self, TransferError> {
        let mut options = EngineOptions::new(path);
        if let Some(file) = key_file {
            options.encryption = Some(EncryptionKey {
                file: file.to_path_buf(),
                key: Arc::new(
                    key_file::read(file).map_err(|e| TransferError::Settings(e.to_string()))?,
                ),
            });
        }
        let engine = Arc::new(Engine::open(options).map_err(|e| {
            TransferError::Settings(format!("cannot open {}: {e}", path.display()))
        })?);
        let gates = Arc::new(prism_auth::SharedGate::new(prism_auth::AuthGate::open()));
        let router = api::router(
            AppState::new(engine.clone(), gates),
            &HttpOptions {
                max_payload_bytes: MAX_ANSWER_BYTES,
                cors_allow_origins: Vec::new(),
                metrics: false,
            },
            None,
        );
        Ok(Self::Local {
            router,
            engine,
            shown: path.display().to_string(),
        })
    }

    /// Where it is, for messages.
    pub fn shown(&self) -> &str {
        match self {
            Self::Remote { upstream, .. } => upstream.shown(),
            Self::Local { shown, .. } => shown,
        }
    }

    /// The tenants, when the endpoint can list them (a data directory can;
    /// Chroma's API has no such route).
    pub fn tenants(&self) -> Option<Vec<String>> {
        match self {
            Self::Remote { .. } => None,
            Self::Local { engine, .. } => engine.list_tenants().ok(),
        }
    }

    /// One request; a 2xx answer's JSON, or the refusal with Chroma's message.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TransferError> {
        let (status, bytes) = match self {
            Self::Remote {
                upstream, headers, ..
            } => upstream
                .exchange(
                    method.clone(),
                    path,
                    headers.clone(),
                    body,
                    MAX_ANSWER_BYTES,
                )
                .await
                .map_err(|e| TransferError::Unreachable(e.to_string()))?,
            Self::Local { router, .. } => {
                let mut request = Request::builder().method(method.clone()).uri(path);
                let body = match body {
                    Some(json) => {
                        request = request.header(header::CONTENT_TYPE, "application/json");
                        Body::from(json.to_string())
                    }
                    None => Body::empty(),
                };
                let request = request
                    .body(body)
                    .map_err(|e| TransferError::Settings(e.to_string()))?;
                let response = router
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|e| TransferError::Unreachable(e.to_string()))?;
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
                    .await
                    .map_err(|e| TransferError::Unreachable(e.to_string()))?;
                (status, bytes)
            }
        };
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return answer.ok_or_else(|| TransferError::Refused {
                at: format!("{method} {}{path}", self.shown()),
                status,
                message: "the answer is not JSON".to_string(),
            });
        }
        let mut message = answer
            .as_ref()
            .and_then(|a| a.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        if let Self::Remote {
            credentials_flag, ..
        } = self
            && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        {
            message.push_str(&format!(
                " (credentials for it go in {credentials_flag} 'Name: value')"
            ));
        }
        Err(TransferError::Refused {
            at: format!("{method} {}{path}", self.shown()),
            status,
            message,
        })
    }

    /// Make what was written durable and the graphs saved (a data directory).
    pub async fn finish(&self) -> Result<(), TransferError> {
        if let Self::Local { engine, .. } = self {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || engine.flush())
                .await
                .map_err(|e| TransferError::Settings(e.to_string()))?
                .map_err(|e| TransferError::Settings(e.to_string()))?;
        }
        Ok(())
    }
}

/// Whether a refusal says the thing exists already.
pub fn exists(error: &TransferError) -> bool {
    matches!(error, TransferError::Refused { status, .. } if *status == StatusCode::CONFLICT)
}

/// `Name: value` pairs; a last word `@FILE` of a value is FILE's first
/// line, so a secret need not be on the command line (where `ps` shows it).
fn parse_headers(pairs: &[String]) -> Result<HeaderMap, TransferError> {
    let mut headers = HeaderMap::new();
    for pair in pairs {
        let Some((name, value)) = pair.split_once(':') else {
            return Err(TransferError::Settings(format!(
                "a header is `Name: value`; got {:?}",
                pair.chars().take(40).collect::<String>()
            )));
        };
        let value = value.trim();
        // The last word may be `@FILE`: "Bearer @token.txt".
        let (before, last) = value.rsplit_once(' ').map_or(("", value), |(b, l)| (b, l));
        let value = match last.strip_prefix('@') {
            Some(file) => {
                let secret = std::fs::read_to_string(file)
                    .map_err(|e| TransferError::Settings(format!("cannot read {file}: {e}")))?;
                let secret = secret.lines().next().unwrap_or_default().trim();
                match before {
                    "" => secret.to_string(),
                    before => format!("{before} {secret}"),
                }
            }
            None => value.to_string(),
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| TransferError::Settings(format!("{:?} is not a header name", name)))?;
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            TransferError::Settings(format!("the value of header {name} is not valid"))
        })?;
        value.set_sensitive(true);
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_from_the_command_line_and_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        let headers = parse_headers(&[
            "Authorization: Basic YWRtaW46YWRtaW4=".to_string(),
            format!("X-Chroma-Token: @{}", file.display()),
            format!("X-Other: Bearer @{}", file.display()),
        ])
        .unwrap();
        assert_eq!(headers["x-other"], "Bearer s3cret");
        assert_eq!(headers["authorization"], "Basic YWRtaW46YWRtaW4=");
        assert_eq!(headers["x-chroma-token"], "s3cret");
        assert!(parse_headers(&["no colon".to_string()]).is_err());
        assert!(parse_headers(&["Bad Name: x".to_string()]).is_err());
    }
}
