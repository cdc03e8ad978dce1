//! The Chroma a gateway forwards to: one pooled set of keep-alive HTTP/1.1
//! connections (over rustls for `https://`), a deadline per request, and
//! failures told apart (unreachable, too slow) so the gateway can answer
//! them in Chroma's shape.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Default deadline of one forwarded request, answer included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest answer the gateway reads whole (its own lookups, not forwarded
/// answers, which stream).
const MAX_LOOKUP_BYTES: usize = 64 << 20;

/// Where and how to reach the upstream (`--upstream`, `PRISM_UPSTREAM*`).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSettings {
    /// `http://host:port` or `https://host:port`, optionally with a path
    /// prefix the upstream's `/api/v2` lives under.
    pub url: String,
    /// Certificate authorities to trust for an `https` upstream instead of
    /// the system's (PEM).
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM chain) for upstreams that ask for one.
    pub client_certificate: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Deadline of one forwarded request.
    pub timeout: Duration,
    /// Speak HTTP/2 only (an OTLP collector's gRPC); the gateway's
    /// upstream speaks HTTP/1.1.
    pub http2: bool,
}

/// Why the upstream could not be used.
#[derive(Debug, Error)]
pub enum UpstreamError {
    /// The settings cannot work (bad URL, unreadable certificate files).
    #[error("upstream: {0}")]
    Settings(String),
    /// No answer: connection refused, reset, TLS failure.
    #[error("the upstream at {url} is unreachable: {reason}")]
    Unreachable {
        /// Where.
        url: String,
        /// What failed.
        reason: String,
    },
    /// An answer did not come within the deadline.
    #[error("the upstream at {url} did not answer within {} s", timeout.as_secs())]
    Timeout {
        /// Where.
        url: String,
        /// The deadline.
        timeout: Duration,
    },
}

/// The upstream Chroma.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Body>,
    scheme: Scheme,
    authority: Authority,
    /// The URL's path prefix, without a trailing `/`.
    prefix: String,
    /// For messages: scheme, host, port and prefix (never userinfo).
    shown: String,
    timeout: Duration,
}

impl Upstream {
    /// A client of the upstream `settings` name; nothing is connected yet.
    pub fn new(settings: &UpstreamSettings) -> Result<Self, UpstreamError> {
        let uri: Uri = settings.url.parse().map_err(|e| {
            UpstreamError::Settings(format!("`{}` is not a URL: {e}", settings.url))
        })?;
        let scheme = uri.scheme().cloned().ok_or_else(|| {
            UpstreamError::Settings(format!(
                "`{}` has no scheme: write http://HOST:PORT or https://HOST:PORT",
                settings.url
            ))
        })?;
        let tls = match scheme.as_str() {
            "http" => None,
            "https" => Some(tls_connector(settings)?),
            other => {
                return Err(UpstreamError::Settings(format!(
                    "scheme `{other}` of `{}` is neither http nor https",
                    settings.url
                )));
            }
        };
        if tls.is_none() && (settings.ca_file.is_some() || settings.client_certificate.is_some()) {
            return Err(UpstreamError::Settings(format!(
                "a CA file or client certificate is set for the upstream, but `{}` is not https",
                settings.url
            )));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| UpstreamError::Settings(format!("`{}` names no host", settings.url)))?;
        if authority.as_str().contains('@') {
            return Err(UpstreamError::Settings(
                "the upstream URL carries a user or password: Chroma takes credentials in headers, not in the URL".into(),
            ));
        }
        if uri.query().is_some() {
            return Err(UpstreamError::Settings(format!(
                "`{}` has a query string; give the server's base URL",
                settings.url
            )));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.timeout.min(Duration::from_secs(10))));
        let connector = Connector { http, tls };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .http2_only(settings.http2)
            .build(connector);
        Ok(Upstream {
            client,
            shown: format!("{scheme}://{authority}{prefix}"),
            scheme,
            authority,
            prefix,
            timeout: settings.timeout,
        })
    }

    /// Where it is, for logs and messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Send one request (`path_and_query` from `/api/v2` on) and return the
    /// answer's head with its body still streaming; the deadline covers the
    /// head.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Body,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(match format!("{}{path_and_query}", self.prefix) {
                path if path.is_empty() => "/".to_string(),
                path => path,
            })
            .build()
            .map_err(|e| UpstreamError::Settings(format!("cannot build a request URI: {e}")))?;
        if let Ok(host) = HeaderValue::from_str(self.authority.as_str()) {
            headers.insert(header::HOST, host);
        }
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout {
                url: self.shown.clone(),
                timeout: self.timeout,
            }),
            Ok(Err(e)) => Err(UpstreamError::Unreachable {
                url: self.shown.clone(),
                reason: error_chain(&e),
            }),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// A request whose whole answer the gateway reads itself (a lookup),
    /// with a JSON body when given.
    pub async fn fetch(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), UpstreamError> {
        self.exchange(
            method,
            path_and_query,
            HeaderMap::new(),
            json,
            MAX_LOOKUP_BYTES,
        )
        .await
    }

    /// A request with the caller's own headers (credentials of an import)
    /// whose whole answer, at most `limit` bytes, is read.
    pub async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        json: Option<&serde_json::Value>,
        limit: usize,
    ) -> Result<(StatusCode, Bytes), UpstreamError> {
        let body = match json {
            Some(value) => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let response = self.send(method, path_and_query, headers, body).await?;
        let status = response.status();
        let limited = http_body_util::Limited::new(response.into_body(), limit);
        let bytes = tokio::time::timeout(self.timeout, limited.collect())
            .await
            .map_err(|_| UpstreamError::Timeout {
                url: self.shown.clone(),
                timeout: self.timeout,
            })?
            .map_err(|e| UpstreamError::Unreachable {
                url: self.shown.clone(),
                reason: format!("reading the answer: {e}"),
            })?
            .to_bytes();
        Ok((status, bytes))
    }
}

/// The causes of a client error, outermost first ("client error (Connect):
/// tcp connect error: Connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn tls_connector(settings: &UpstreamSettings) -> Result<TlsConnector, UpstreamError> {
    let roots =
        prism_auth::fetch::trusted_roots(settings.ca_file.as_deref(), "PRISM_UPSTREAM_CA_FILE")
            .map_err(UpstreamError::Settings)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Settings(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match (&settings.client_certificate, &settings.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(chain), Some(key)) => builder
            .with_client_auth_cert(read_chain(chain)?, read_key(key)?)
            .map_err(|e| UpstreamError::Settings(format!("client certificate: {e}")))?,
        _ => {
            return Err(UpstreamError::Settings(
                "PRISM_UPSTREAM_CERT_FILE and PRISM_UPSTREAM_KEY_FILE go together".into(),
            ));
        }
    };
    if settings.http2 {
        config.alpn_protocols = vec![b"h2".to_vec()];
    }
    Ok(TlsConnector::from(Arc::new(config)))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, UpstreamError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| UpstreamError::Settings(format!("{}: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(UpstreamError::Settings(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, UpstreamError> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| UpstreamError::Settings(format!("{}: {e}", path.display())))
}

/// Opens connections to the upstream: TCP, then TLS for `https`.
#[derive(Clone)]
struct Connector {
    http: HttpConnector,
    tls: Option<TlsConnector>,
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<UpstreamStream>, io::Error>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        tower::Service::<Uri>::poll_ready(&mut self.http, cx).map_err(io::Error::other)
    }

    fn call(&mut self, uri: Uri) -> ConnectFuture {
        let mut http = self.http.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = tower::Service::call(&mut http, uri.clone())
                .await
                .map_err(io::Error::other)?
                .into_inner();
            let Some(tls) = tls else {
                return Ok(TokioIo::new(UpstreamStream::Plain(tcp)));
            };
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = tls.connect(name, tcp).await?;
            Ok(TokioIo::new(UpstreamStream::Tls(Box::new(stream))))
        })
    }
}

/// A connection to the upstream, plain or TLS.
enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> UpstreamSettings {
        UpstreamSettings {
            url: url.into(),
            ca_file: None,
            client_certificate: None,
            client_key: None,
            timeout: DEFAULT_TIMEOUT,
            http2: false,
        }
    }

    #[test]
    fn urls_that_cannot_work_are_refused_with_the_reason() {
        let refused = |url: &str| match Upstream::new(&settings(url)) {
            Err(UpstreamError::Settings(reason)) => reason,
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url} accepted"),
        };
        assert!(
            refused("chroma:8000").contains("scheme"),
            "{}",
            refused("chroma:8000")
        );
        assert!(refused("ftp://chroma:8000").contains("neither http nor https"));
        assert!(refused("http://user:pw@chroma:8000").contains("credentials in headers"));
        assert!(refused("http://chroma:8000/?x=1").contains("query string"));
        let mut with_ca = settings("http://chroma:8000");
        with_ca.ca_file = Some("/ca.pem".into());
        assert!(
            matches!(Upstream::new(&with_ca), Err(UpstreamError::Settings(r)) if r.contains("not https"))
        );
    }

    #[tokio::test]
    async fn a_prefix_is_kept_and_shown_without_a_trailing_slash() {
        let upstream = Upstream::new(&settings("http://127.0.0.1:9/chroma/")).unwrap();
        assert_eq!(upstream.shown(), "http://127.0.0.1:9/chroma");
        // Port 9 (discard) is closed here: unreachable, not a panic or a hang.
        let error = upstream
            .fetch(Method::GET, "/api/v2/heartbeat", None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, UpstreamError::Unreachable { .. }),
            "{error}"
        );
    }
}
