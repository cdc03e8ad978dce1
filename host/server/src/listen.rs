//! Accepting connections: at most a configured number open at once, each
//! tagged with the [`Peer`] it came from, TLS handshakes done on the
//! connection's own task (a slow or silent client never holds up others).
//!
//! At the limit, new connections wait in the kernel's accept queue rather
//! than being accepted and closed: a client then sees a slower connect, not
//! an error, and the connections being served are untouched. Slots free up
//! as clients finish, and as stalled connections hit their timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A handshake not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections allowed when the open-file limit does not say less.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Open files kept for everything but connections: the database and its
/// journal, plugins, watched configuration, logs.
const RESERVED_FILES: u64 = 256;

/// How often "at the connection limit" may be logged.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Who is on the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub address: SocketAddr,
    /// The subject of the client certificate the TLS layer verified.
    pub certificate_subject: Option<String>,
}

/// An accepted connection, counted against the limit until dropped.
pub struct Accepted {
    pub stream: TcpStream,
    pub address: SocketAddr,
    pub slot: OwnedSemaphorePermit,
}

/// A TCP listener that keeps at most `limit` connections open.
pub struct Listener {
    tcp: TcpListener,
    slots: Arc<Semaphore>,
    limit: usize,
    warned_full: Option<Instant>,
}

impl Listener {
    /// Accept on `tcp`, at most `limit` (at least 1) connections at once.
    pub fn new(tcp: TcpListener, limit: usize) -> Self {
        let limit = limit.max(1);
        Listener {
            tcp,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            warned_full: None,
        }
    }

    /// The next connection, once one may be opened. Cancel-safe.
    pub async fn accept(&mut self) -> Accepted {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                self.warn_full();
                match self.slots.clone().acquire_owned().await {
                    Ok(slot) => slot,
                    // The semaphore is never closed.
                    Err(_) => std::future::pending().await,
                }
            }
        };
        loop {
            match self.tcp.accept().await {
                Ok((stream, address)) => {
                    let _ = stream.set_nodelay(true);
                    return Accepted {
                        stream,
                        address,
                        slot,
                    };
                }
                Err(e) => pause_after_accept_error(e).await,
            }
        }
    }

    fn warn_full(&mut self) {
        let now = Instant::now();
        if self
            .warned_full
            .is_some_and(|at| now.duration_since(at) < FULL_WARNING_EVERY)
        {
            return;
        }
        self.warned_full = Some(now);
        tracing::warn!(
            limit = self.limit,
            "at the connection limit (PRISM_MAX_CONNECTIONS): new connections wait until one closes"
        );
    }
}

/// The TLS handshake on an accepted connection, with the configuration
/// current when it was accepted; `None` (logged) when it fails or stalls.
pub async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    address: SocketAddr,
) -> Option<(TlsStream<TcpStream>, Peer)> {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(client = %address, error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(client = %address, "TLS handshake timed out");
            return None;
        }
    };
    let certificate_subject = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| crate::tls::certificate_subject(leaf));
    let peer = Peer {
        address,
        certificate_subject,
    };
    Some((stream, peer))
}

/// The connection limit when none is configured: the default, or fewer
/// when the open-file limit (`soft`) would run out first — accepting past
/// it fails anyway, and starves the database of files.
pub fn default_max_connections(soft_file_limit: Option<u64>) -> usize {
    let Some(soft) = soft_file_limit else {
        return DEFAULT_MAX_CONNECTIONS;
    };
    let available = if soft > 2 * RESERVED_FILES {
        soft - RESERVED_FILES
    } else {
        soft / 2
    };
    usize::try_from(available)
        .unwrap_or(usize::MAX)
        .clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// This process's soft limit on open files, if it has one.
pub fn soft_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Connection-level errors concern one client; anything else (out of file
/// descriptors, say) is worth a log line and a pause, as axum does.
async fn pause_after_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_leaves_files_for_the_database() {
        assert_eq!(default_max_connections(None), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(default_max_connections(Some(1_048_576)), 10_000);
        assert_eq!(default_max_connections(Some(1024)), 768);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(1)), 1);
    }

    #[tokio::test]
    async fn past_the_limit_connections_wait_until_a_slot_frees() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let mut listener = Listener::new(tcp, 1);
        let _first_client = TcpStream::connect(address).await.unwrap();
        let first = listener.accept().await;
        // The kernel completes the second connect; the server does not take it.
        let _second_client = TcpStream::connect(address).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(waited.is_err(), "accepted past the limit");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("accepted once the first closed");
        assert_eq!(second.address.ip(), address.ip());
    }
}
