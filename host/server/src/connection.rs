//! Serving one accepted connection (plain or TLS alike): HTTP/1.1 with
//! keep-alive, each request tagged with its [`Peer`], its body due within
//! the body timeout, and the connection closed when it stalls between
//! requests ([`crate::watchdog`]) or, once idle, when the server stops.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt;

use crate::body_timeout::{Expired, Flag, TimedBody, timed_out_response};
use crate::listen::Peer;
use crate::watchdog::{self, Clock, InFlight, WatchedIo};

/// How long clients may take, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Between requests: the head, and idle keep-alive.
    pub between_requests: watchdog::Timeouts,
    /// For a request's whole body.
    pub body: Duration,
}

/// Serve `io` until the client closes it, it stalls, or `shutdown` asks
/// it to finish (after the request in flight, if any).
pub async fn serve<I>(io: I, peer: Peer, app: Router, timeouts: Timeouts, shutdown: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = Clock::new();
    let address = peer.address;
    let service = PeerService {
        app,
        peer,
        clock: clock.clone(),
        body_timeout: timeouts.body,
    };
    let mut builder = http1::Builder::new();
    // The watchdog keeps the time between requests; hyper's header timer
    // would also cut idle keep-alive connections at the header timeout.
    builder.header_read_timeout(None).keep_alive(true);
    let connection =
        builder.serve_connection(TokioIo::new(WatchedIo::new(io, clock.clone())), service);
    let connection = shutdown.watch(connection);
    tokio::select! {
        served = connection => {
            if let Err(e) = served {
                tracing::debug!(client = %address, error = %e, "connection ended with an error");
            }
        }
        why = clock.expired(timeouts.between_requests) => {
            // Dropping the connection closes the socket.
            tracing::debug!(client = %address, "connection closed: {why}");
        }
    }
}

/// The application as hyper calls it for one connection's requests.
#[derive(Clone)]
struct PeerService {
    app: Router,
    peer: Peer,
    clock: Arc<Clock>,
    body_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = Response<SentBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.clock.request_started();
        let expired = Expired::default();
        let ended = Flag::default();
        let limit = self.body_timeout;
        let mut request = request
            .map(|body| Body::new(TimedBody::new(body, limit, expired.clone(), ended.clone())));
        request
            .extensions_mut()
            .insert(ConnectInfo(self.peer.clone()));
        let app = self.app.clone();
        Box::pin(async move {
            let Ok(mut response) = app.oneshot(request).await;
            if expired.is_set() {
                response = timed_out_response(limit, &response);
            } else if !ended.is_set() {
                // Answered before its body was read (a refused login, a
                // body over the limit): the rest of the body is still on
                // the connection, which hyper then closes. Saying so keeps
                // a client from sending its next request down it and
                // getting no answer.
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok(response.map(|body| SentBody {
                inner: body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A response body that marks its request done once hyper has sent (or
/// dropped) it, which starts the connection's idle clock.
struct SentBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for SentBody {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
