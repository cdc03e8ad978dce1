//! Documents that plugins' `url` settings name (a JWKS, say), fetched by the
//! host over HTTPS: plugins get no network, so the host fetches on their
//! behalf and hands them the contents as it hands them a file's.
//!
//! A plain blocking HTTP/1.1 GET over rustls: the host fetches a handful of
//! small documents, at start-up, on a refresh interval and when a plugin
//! meets a key it does not know, always on a thread that may block.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The largest document fetched; a key set is a few kilobytes.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Where the system's certificate authorities are, by distribution.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How documents are fetched (`PRISM_AUTH_FETCH_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSettings {
    /// Certificate authorities to trust instead of the system's (PEM).
    pub ca_file: Option<PathBuf>,
    /// Connect, send and receive, each.
    pub timeout: Duration,
    /// How often a fetched document is fetched again.
    pub refresh: Duration,
    /// The least time between two fetches a plugin's `unknown-key` asks for.
    pub min_interval: Duration,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            ca_file: None,
            timeout: Duration::from_secs(10),
            refresh: Duration::from_secs(300),
            min_interval: Duration::from_secs(30),
        }
    }
}

/// Why a document could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an `https://` URL (plain HTTP would let anyone on the path
    /// hand the plugin its keys).
    #[error("`{0}` is not an https:// URL")]
    NotHttps(String),
    /// No certificate authority to trust.
    #[error("no certificate authorities: {0}")]
    NoRoots(String),
    /// The exchange failed.
    #[error("fetching {url}: {message}")]
    Failed {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// The documents fetched so far, by URL: a rebuilt gate is configured from
/// these, so a rebuild does not fetch, and a refresh knows what changed.
pub struct Documents {
    entries: parking_lot::Mutex<BTreeMap<String, Fetched>>,
    /// Held while refreshing, so concurrent `unknown-key` answers fetch once.
    refreshing: parking_lot::Mutex<()>,
}

struct Fetched {
    contents: Vec<u8>,
    at: Instant,
}

static DOCUMENTS: LazyLock<Documents> = LazyLock::new(|| Documents {
    entries: parking_lot::Mutex::new(BTreeMap::new()),
    refreshing: parking_lot::Mutex::new(()),
});

impl Documents {
    /// The process's documents.
    pub fn global() -> &'static Documents {
        &DOCUMENTS
    }

    /// Whether any setting names a URL (then there is something to refresh).
    pub fn any(&self) -> bool {
        !self.entries.lock().is_empty()
    }

    /// The document at `url`: as last fetched, or fetched now.
    pub fn get(&self, url: &str, settings: &FetchSettings) -> Result<Vec<u8>, FetchError> {
        if let Some(fetched) = self.entries.lock().get(url) {
            return Ok(fetched.contents.clone());
        }
        let contents = fetch(url, settings)?;
        tracing::info!(url, bytes = contents.len(), "fetched a plugin's document");
        self.entries.lock().insert(
            url.to_string(),
            Fetched {
                contents: contents.clone(),
                at: Instant::now(),
            },
        );
        Ok(contents)
    }

    /// Fetch every document again whose last fetch is at least `min_age`
    /// old; the URLs whose contents changed. A failed fetch keeps the
    /// previous contents in force (and is logged), so an identity
    /// provider's outage does not lock everyone out.
    pub fn refresh(&self, settings: &FetchSettings, min_age: Duration) -> Vec<String> {
        let _one_at_a_time = self.refreshing.lock();
        let due: Vec<String> = self
            .entries
            .lock()
            .iter()
            .filter(|(_, f)| f.at.elapsed() >= min_age)
            .map(|(url, _)| url.clone())
            .collect();
        let mut changed = Vec::new();
        for url in due {
            match fetch(&url, settings) {
                Ok(contents) => {
                    let mut entries = self.entries.lock();
                    let previous = entries.insert(
                        url.clone(),
                        Fetched {
                            contents: contents.clone(),
                            at: Instant::now(),
                        },
                    );
                    if previous.is_none_or(|p| p.contents != contents) {
                        changed.push(url);
                    }
                }
                Err(error) => {
                    if let Some(f) = self.entries.lock().get_mut(&url) {
                        // Not again before `min_age`: a dead server is not hammered.
                        f.at = Instant::now();
                    }
                    tracing::warn!(%error, "fetching a plugin's document again failed; the previous one stays in force");
                }
            }
        }
        changed
    }
}

/// The body of `GET url`, which must answer 200.
pub fn fetch(url: &str, settings: &FetchSettings) -> Result<Vec<u8>, FetchError> {
    let target = Target::parse(url)?;
    let failed = |message: String| FetchError::Failed {
        url: url.to_string(),
        message,
    };
    let config = client_config(settings.ca_file.as_deref())?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| failed(format!("bad host name: {e}")))?;
    let connection = ClientConnection::new(config, name).map_err(|e| failed(e.to_string()))?;
    let socket = connect(&target, settings.timeout).map_err(&failed)?;
    let mut stream = StreamOwned::new(connection, socket);
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nUser-Agent: prism/{}\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| failed(format!("sending the request: {e}")))?;
    let mut raw = Vec::new();
    let read = (&mut stream)
        .take((MAX_DOCUMENT_BYTES + 16 * 1024) as u64)
        .read_to_end(&mut raw);
    // Servers that close without TLS's close_notify are common; the body's
    // length (below) tells a complete answer from a cut one.
    if let Err(e) = read
        && e.kind() != std::io::ErrorKind::UnexpectedEof
    {
        return Err(failed(format!("reading the answer: {e}")));
    }
    parse_response(&raw).map_err(failed)
}

/// The parts of an `https://host[:port]/path` URL.
struct Target {
    host: String,
    port: u16,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, FetchError> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| FetchError::NotHttps(url.to_string()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let bad = |why: &str| FetchError::Failed {
            url: url.to_string(),
            message: why.to_string(),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("the URL needs a host (and no user:password@)"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None => 443,
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        Ok(Target {
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            path,
        })
    }
}

fn connect(target: &Target, timeout: Duration) -> Result<TcpStream, String> {
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", target.host))?;
    let mut last = format!("{} resolves to no address", target.host);
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(socket) => {
                socket
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| socket.set_write_timeout(Some(timeout)))
                    .map_err(|e| e.to_string())?;
                return Ok(socket);
            }
            Err(e) => last = format!("connecting to {address}: {e}"),
        }
    }
    Err(last)
}

fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, FetchError> {
    let roots = trusted_roots(ca_file, "PRISM_AUTH_FETCH_CA_FILE").map_err(FetchError::NoRoots)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::NoRoots(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate authorities an HTTPS client of the host trusts: those of
/// `ca_file` (PEM) when given, else the system's; `setting` names what sets
/// `ca_file`, for the message when the system has none.
pub fn trusted_roots(ca_file: Option<&Path>, setting: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let bundle = match ca_file {
        Some(path) => path.to_path_buf(),
        None => SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| format!("the system has no CA bundle; set {setting}"))?,
    };
    let certificates = CertificateDer::pem_file_iter(&bundle)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", bundle.display()))?;
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("{} holds no usable certificate", bundle.display()));
    }
    Ok(roots)
}

/// The body of a complete `200` answer.
fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the header is not text")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split(' ').nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!(
            "the server answered `{status}` (redirects are not followed)"
        ));
    }
    let header = |name: &str| {
        lines.clone().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| "bad Content-Length")?;
        if body.len() < length {
            return Err(format!(
                "the answer was cut short ({} of {length} bytes)",
                body.len()
            ));
        }
        body[..length].to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("the document is over {MAX_DOCUMENT_BYTES} bytes"));
    }
    Ok(body)
}

/// A chunked body, which must end with its last (empty) chunk.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("the answer was cut short (chunk size)")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 || out.len() + size > MAX_DOCUMENT_BYTES {
            return Err("the answer was cut short, or is too large".to_string());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https() {
        assert!(matches!(
            Target::parse("http://idp/keys"),
            Err(FetchError::NotHttps(_))
        ));
        let t = Target::parse("https://idp.example:8443/realms/x/certs#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("idp.example", 8443, "/realms/x/certs")
        );
        let t = Target::parse("https://[::1]:9/k").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 9, "[::1]:9")
        );
        assert_eq!(Target::parse("https://idp").unwrap().path, "/");
        assert!(Target::parse("https://u:p@idp/").is_err());
    }

    #[test]
    fn answers_are_read_whole_or_refused() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(ok).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{\"a\":");
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}";
        assert!(parse_response(cut).unwrap_err().contains("cut short"));
        let cut_chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n";
        assert!(parse_response(cut_chunks).is_err());
        let moved = b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n";
        assert!(parse_response(moved).unwrap_err().contains("301"));
    }
}
