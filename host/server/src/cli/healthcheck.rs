//! `prism healthcheck`: asks the server on this machine for its heartbeat,
//! for a container's HEALTHCHECK (the image has no curl). Over HTTPS the
//! server's own certificate (from `--tls-cert`) is the only one accepted.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::tls::TlsFiles;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Exit 0 if the server at `addr` answers its heartbeat.
pub fn check(addr: SocketAddr, tls: Option<&TlsFiles>) -> anyhow::Result<()> {
    // A server listening on every address is asked on loopback.
    let addr = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    let mut tcp = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("cannot connect to {addr}"))?;
    tcp.set_read_timeout(Some(TIMEOUT))?;
    tcp.set_write_timeout(Some(TIMEOUT))?;
    let request =
        format!("GET /api/v2/heartbeat HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = Vec::new();
    match tls {
        None => {
            tcp.write_all(request.as_bytes())?;
            tcp.read_to_end(&mut response)?;
        }
        Some(files) => {
            let config = pinned_client_config(files)?;
            let name = ServerName::IpAddress(addr.ip().into());
            let connection = rustls::ClientConnection::new(Arc::new(config), name)?;
            let mut stream = rustls::StreamOwned::new(connection, tcp);
            let exchange = stream
                .write_all(request.as_bytes())
                .and_then(|()| stream.read_to_end(&mut response));
            if let Err(e) = exchange {
                // A server that wants a client certificate (we have none)
                // answered the handshake: it is up.
                if asks_for_a_client_certificate(&e) {
                    println!("alive: {addr} requires a client certificate");
                    return Ok(());
                }
                return Err(e).with_context(|| format!("no TLS answer from {addr}"));
            }
        }
    }
    // A TLS record (handshake 0x16, alert 0x15, then version 3.x) where an
    // HTTP status line should be: the server speaks HTTPS.
    if tls.is_none() && matches!(response.as_slice(), [0x15 | 0x16, 0x03, ..]) {
        anyhow::bail!(
            "{addr} speaks TLS: give healthcheck the same --tls-cert and --tls-key \
             (or PRISM_TLS_CERT and PRISM_TLS_KEY) as the server"
        );
    }
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.split_whitespace().nth(1) == Some("200"),
        "heartbeat from {addr} answered `{status}`"
    );
    println!("alive: {addr}");
    Ok(())
}

fn asks_for_a_client_certificate(e: &std::io::Error) -> bool {
    use rustls::AlertDescription::{CertificateRequired, HandshakeFailure};
    let Some(error) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return false;
    };
    matches!(
        error,
        rustls::Error::AlertReceived(CertificateRequired | HandshakeFailure)
    )
}

fn pinned_client_config(files: &TlsFiles) -> anyhow::Result<rustls::ClientConfig> {
    let leaf = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|mut certs| certs.next().transpose())
        .ok()
        .flatten()
        .with_context(|| format!("no certificate in {}", files.cert.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCertificate {
        leaf,
        algorithms: provider.signature_verification_algorithms,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// Accepts exactly one certificate: the server's own. The handshake
/// signatures are still checked, so only the holder of its key passes.
#[derive(Debug)]
struct PinnedCertificate {
    leaf: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "not the certificate of --tls-cert".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
