//! Closing connections that stall between requests: one that never sends a
//! complete request head within the header timeout, or sits idle after its
//! last response for longer than the idle timeout.
//!
//! hyper's own `header_read_timeout` cannot do this: it starts when hyper
//! waits for a head, so it is also the keep-alive idle timeout, and an idle
//! timeout as short as a header timeout would close connections that
//! clients (the Python client keeps them 40 s, Go's 90 s) still mean to
//! reuse. Here the two are told apart by what the connection is doing: the
//! first byte of a head starts the header clock, the end of a response
//! starts the idle clock, and a request being handled stops both (its body
//! has its own deadline, [`crate::body_timeout`]).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How long a connection may stall between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a new connection, or the first byte of a request head, to the
    /// end of that head.
    pub header: Duration,
    /// From the end of a response to the first byte of the next request.
    pub idle: Duration,
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No complete request head in time.
    Header,
    /// Idle for too long after a response.
    Idle,
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Expiry::Header => "no complete request head within the header timeout",
            Expiry::Idle => "idle for longer than the idle timeout",
        })
    }
}

/// What one connection is doing, as far as its deadlines go.
#[derive(Debug, Clone, Copy)]
struct State {
    /// Requests handed to the application whose response is not yet sent.
    in_flight: usize,
    /// Requests handed to the application so far.
    served: u64,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    /// The connection's start, then the end of each response or the last
    /// byte written after it.
    last_activity: Instant,
}

impl State {
    fn new(now: Instant) -> Self {
        State {
            in_flight: 0,
            served: 0,
            head_started: None,
            last_activity: now,
        }
    }

    /// When the connection is to be closed, and why; `None` while a request
    /// is being handled.
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        if self.in_flight > 0 {
            return None;
        }
        Some(match self.head_started {
            Some(started) => (started + timeouts.header, Expiry::Header),
            // A connection that has not sent a request yet is owed one
            // promptly: silence on it is a half-open or hostile client.
            None if self.served == 0 => (self.last_activity + timeouts.header, Expiry::Header),
            None => (self.last_activity + timeouts.idle, Expiry::Idle),
        })
    }
}

/// One connection's clock, shared by its socket, its requests and its
/// watchdog.
#[derive(Debug)]
pub struct Clock(Mutex<State>);

impl Clock {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Clock(Mutex::new(State::new(Instant::now()))))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is plain data, whole after any panic.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request head has been read and handed to the application; its
    /// response is sent when the returned guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        let mut state = self.state();
        state.in_flight += 1;
        state.served += 1;
        state.head_started = None;
        InFlight(self.clone())
    }

    fn read_progress(&self) {
        let mut state = self.state();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
        }
    }

    fn write_progress(&self) {
        // A client still reading a long response is not idle.
        self.state().last_activity = Instant::now();
    }

    /// Resolves once the connection has stalled past its deadline.
    pub async fn expired(&self, timeouts: Timeouts) -> Expiry {
        // While a request is handled there is no deadline; a new one can
        // only start after it, so rechecking this often is never late.
        let recheck = timeouts.header.min(timeouts.idle);
        loop {
            let deadline = self.state().deadline(timeouts);
            match deadline {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => tokio::time::sleep(recheck).await,
            }
        }
    }
}

/// A request being handled; dropped once its response has been sent (or
/// abandoned).
#[derive(Debug)]
pub struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight -= 1;
        state.last_activity = Instant::now();
    }
}

/// A connection's socket, reporting its reads and writes to the [`Clock`].
#[derive(Debug)]
pub struct WatchedIo<T> {
    inner: T,
    clock: Arc<Clock>,
}

impl<T> WatchedIo<T> {
    /// Watch `inner`.
    pub fn new(inner: T, clock: Arc<Clock>) -> Self {
        WatchedIo { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.read_progress();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.write_progress();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.write_progress();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(100),
    };

    #[test]
    fn a_new_connection_owes_a_head_within_the_header_timeout() {
        let start = Instant::now();
        assert_eq!(
            State::new(start).deadline(T),
            Some((start + T.header, Expiry::Header))
        );
    }

    #[test]
    fn after_a_response_the_idle_clock_runs_until_a_head_starts() {
        let start = Instant::now();
        let mut state = State::new(start);
        state.served = 1;
        state.last_activity = start + Duration::from_secs(5);
        assert_eq!(
            state.deadline(T),
            Some((start + Duration::from_secs(105), Expiry::Idle))
        );
        state.head_started = Some(start + Duration::from_secs(50));
        assert_eq!(
            state.deadline(T),
            Some((start + Duration::from_secs(60), Expiry::Header))
        );
    }

    #[test]
    fn a_request_being_handled_has_no_deadline() {
        let mut state = State::new(Instant::now());
        state.in_flight = 1;
        state.head_started = Some(Instant::now());
        assert_eq!(state.deadline(T), None);
    }

    #[tokio::test]
    async fn reads_start_the_header_clock_and_responses_the_idle_clock() {
        let clock = Clock::new();
        let (client, server) = tokio::io::duplex(64);
        let (mut client, mut server) = (client, WatchedIo::new(server, clock.clone()));
        assert_eq!(clock.state().head_started, None);

        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 8];
        server.read_exact(&mut buf).await.unwrap();
        let head_started = clock.state().head_started;
        assert!(head_started.is_some());
        // Further bytes of the same head do not restart it.
        client.write_all(b"TP/1.1").await.unwrap();
        server.read_exact(&mut buf[..6]).await.unwrap();
        assert_eq!(clock.state().head_started, head_started);

        let request = clock.request_started();
        assert_eq!(clock.state().head_started, None);
        // Body bytes read while a request is handled are not a new head.
        client.write_all(b"body").await.unwrap();
        server.read_exact(&mut buf[..4]).await.unwrap();
        assert_eq!(clock.state().head_started, None);
        assert_eq!(clock.state().deadline(T), None);

        drop(request);
        let state = *clock.state();
        assert_eq!((state.in_flight, state.served), (0, 1));
        assert_eq!(state.deadline(T).map(|(_, why)| why), Some(Expiry::Idle));
    }

    #[tokio::test]
    async fn a_silent_connection_expires_after_the_header_timeout() {
        let clock = Clock::new();
        let short = Timeouts {
            header: Duration::from_millis(50),
            idle: Duration::from_secs(60),
        };
        let started = std::time::Instant::now();
        let why = tokio::time::timeout(Duration::from_secs(5), clock.expired(short))
            .await
            .expect("the watchdog fires");
        assert_eq!(why, Expiry::Header);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_request_in_flight_is_never_expired() {
        let clock = Clock::new();
        let short = Timeouts {
            header: Duration::from_millis(20),
            idle: Duration::from_millis(20),
        };
        let request = clock.request_started();
        let waited = tokio::time::timeout(Duration::from_millis(200), clock.expired(short)).await;
        assert!(waited.is_err(), "expired while a request was handled");
        drop(request);
        let why = tokio::time::timeout(Duration::from_secs(5), clock.expired(short))
            .await
            .expect("expires once the response is sent");
        assert_eq!(why, Expiry::Idle);
    }
}
