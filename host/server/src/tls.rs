//! HTTPS with rustls: the server configuration from PEM files, and the
//! verified client certificate's subject as authentication plugins see it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Whether clients must present a certificate signed by the client CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientAuth {
    /// Connections without a valid client certificate are refused.
    Required,
    /// A client certificate is verified if sent; without one, the request
    /// goes on with no subject (the auth plugins decide).
    Optional,
}

/// The files HTTPS is served from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificates client certificates are verified against.
    pub client_ca: Option<PathBuf>,
    /// Whether a client certificate is required (with `client_ca`).
    pub client_auth: ClientAuth,
}

/// Why HTTPS cannot be set up; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {path}: {reason}")]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("the TLS certificate file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("the TLS key file {0} holds no PEM private key")]
    NoKey(PathBuf),
    #[error("the client CA file {0} holds no PEM certificate")]
    NoClientCa(PathBuf),
    #[error("the client CA file {path} is not usable: {reason}")]
    BadClientCa { path: PathBuf, reason: String },
    #[error("the TLS key {key} does not belong to the certificate {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the TLS certificate {cert} and key {key} are not usable: {reason}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

impl TlsFiles {
    /// The rustls configuration: TLS 1.3 and 1.2 only, HTTP/1.1, and the
    /// client verifier when a client CA is given. Fails on anything a
    /// client would only find out about at its first handshake.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certificates(&self.cert, "certificate file")?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate(self.cert.clone()));
        }
        let key = read_key(&self.key)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| self.unusable(e))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                let cas = read_certificates(path, "client CA file")?;
                if cas.is_empty() {
                    return Err(TlsError::NoClientCa(path.clone()));
                }
                for ca in cas {
                    roots.add(ca).map_err(|e| TlsError::BadClientCa {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match self.client_auth {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier.build().map_err(|e| TlsError::BadClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                cert: self.cert.clone(),
                key: self.key.clone(),
            },
            e => self.unusable(e),
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A warning worth logging at startup about the leaf certificate (expired,
    /// not yet valid), if any.
    pub fn certificate_warning(&self) -> Option<String> {
        let certs = read_certificates(&self.cert, "certificate file").ok()?;
        let (_, leaf) = x509_parser::parse_x509_certificate(certs.first()?).ok()?;
        let validity = leaf.validity();
        if validity.is_valid() {
            return None;
        }
        Some(format!(
            "the TLS certificate {} is valid from {} to {} only; clients will refuse it now",
            self.cert.display(),
            validity.not_before,
            validity.not_after
        ))
    }

    fn unusable(&self, e: rustls::Error) -> TlsError {
        TlsError::Unusable {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: e.to_string(),
        }
    }
}

fn read_certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let unreadable = |reason: String| TlsError::Unreadable {
        what,
        path: path.to_path_buf(),
        reason,
    };
    CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.to_string()))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls_pki_types::pem::Error;
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        Error::NoItemsFound => TlsError::NoKey(path.to_path_buf()),
        e => TlsError::Unreadable {
            what: "key file",
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    })
}

/// The subject of a verified client certificate as an RFC 4514 string
/// (`CN=alice,O=Example Corp`: most specific attribute first, as
/// `openssl x509 -subject -nameopt RFC2253` prints it), or `None` if the
/// certificate cannot be parsed.
pub fn certificate_subject(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type();
                    let name = short_name(&oid.to_id_string())
                        .map(str::to_string)
                        .unwrap_or_else(|| oid.to_id_string());
                    let value = match attribute.as_str() {
                        Ok(text) => escape_rfc4514(text),
                        // Not a string type: RFC 4514 says `#` + the BER as hex.
                        Err(_) => format!("#{}", hex(attribute.attr_value().data)),
                    };
                    format!("{name}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Some(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// RFC 4514 §3's short names.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn self_signed(dn: &[(DnType, &str)]) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        let mut name = DistinguishedName::new();
        for (kind, value) in dn {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        (params.self_signed(&key).unwrap(), key)
    }

    fn files(cert: PathBuf, key: PathBuf) -> TlsFiles {
        TlsFiles {
            cert,
            key,
            client_ca: None,
            client_auth: ClientAuth::Required,
        }
    }

    #[test]
    fn a_matching_pair_serves() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&[(DnType::CommonName, "localhost")]);
        let tls = files(
            write(dir.path(), "c.pem", &cert.pem()),
            write(dir.path(), "k.pem", &key.serialize_pem()),
        );
        let config = tls.server_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(tls.certificate_warning().is_none());
    }

    #[test]
    fn a_key_from_another_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(&[(DnType::CommonName, "a")]);
        let (_, other_key) = self_signed(&[(DnType::CommonName, "b")]);
        let tls = files(
            write(dir.path(), "c.pem", &cert.pem()),
            write(dir.path(), "k.pem", &other_key.serialize_pem()),
        );
        let error = tls.server_config().unwrap_err();
        assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error}");
        assert!(error.to_string().contains("k.pem"), "{error}");
    }

    #[test]
    fn files_without_pem_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(&[(DnType::CommonName, "a")]);
        let cert_path = write(dir.path(), "c.pem", &cert.pem());
        let key_path = write(dir.path(), "k.pem", &key.serialize_pem());
        let junk = write(dir.path(), "junk.pem", "not pem at all\n");

        let no_cert = files(junk.clone(), key_path.clone()).server_config();
        assert!(matches!(no_cert, Err(TlsError::NoCertificate(_))));
        let no_key = files(cert_path.clone(), junk.clone()).server_config();
        assert!(matches!(no_key, Err(TlsError::NoKey(_))));
        // A certificate where the key belongs is not a key either.
        let swapped = files(cert_path.clone(), cert_path.clone()).server_config();
        assert!(matches!(swapped, Err(TlsError::NoKey(_))));
        let missing = files(dir.path().join("nope.pem"), key_path.clone()).server_config();
        let error = missing.unwrap_err();
        assert!(error.to_string().contains("nope.pem"), "{error}");

        let mut bad_ca = files(cert_path, key_path);
        bad_ca.client_ca = Some(junk);
        assert!(matches!(
            bad_ca.server_config(),
            Err(TlsError::NoClientCa(_))
        ));
    }

    #[test]
    fn expired_certificates_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let tls = files(
            write(dir.path(), "c.pem", &cert.pem()),
            write(dir.path(), "k.pem", &key.serialize_pem()),
        );
        let warning = tls.certificate_warning().unwrap();
        assert!(warning.contains("c.pem"), "{warning}");
    }

    #[test]
    fn subjects_are_rfc4514_strings() {
        let (cert, _) = self_signed(&[
            (DnType::CountryName, "NL"),
            (DnType::OrganizationName, "Example, Inc."),
            (DnType::CommonName, "alice"),
        ]);
        assert_eq!(
            certificate_subject(cert.der()).as_deref(),
            Some("CN=alice,O=Example\\, Inc.,C=NL")
        );
        assert_eq!(certificate_subject(b"not a certificate"), None);
        assert_eq!(escape_rfc4514(" #a+b "), "\\ #a\\+b\\ ");
    }
}
