//! A deadline for receiving a request body: a client trickling its upload
//! is cut off with a 408 in Chroma's error shape instead of holding a
//! connection (and whatever the handler would do next) for as long as it
//! likes. Handlers read the whole body before any engine work, so a slow
//! body never holds the engine's writer.
//!
//! The deadline is for the whole body, not for each read: a client sending
//! one byte a second would satisfy any per-read timeout forever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body::{Body, Frame, SizeHint};
use thiserror::Error;
use tokio::time::Sleep;

use crate::api::error::{ApiError, ErrorKind, TRACE_ID_HEADER};

/// What the handler reading a body sees when it is cut off.
#[derive(Debug, Error)]
#[error("the request body was not received within {} s", .0.as_secs_f64())]
pub struct BodyTimedOut(pub Duration);

/// Something that happened to a request's body, for its response to
/// react to: it was cut off ([`TimedBody`]'s `expired`), or it was read to
/// its end (`ended`).
#[derive(Debug, Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    /// Whether it happened.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Whether a request's body was cut off, for the response to say so.
pub type Expired = Flag;

/// A request body that fails once `limit` has passed since it was first
/// read from, unless it has ended by then.
pub struct TimedBody<B> {
    inner: B,
    limit: Duration,
    /// Started on the first read: a body nobody reads costs no timer.
    deadline: Option<Pin<Box<Sleep>>>,
    expired: Expired,
    ended: Flag,
    failed: bool,
}

impl<B> TimedBody<B> {
    /// `inner`, due within `limit`; `expired` is set when it is cut off,
    /// `ended` once it has been read to its end (at once for no body).
    pub fn new(inner: B, limit: Duration, expired: Expired, ended: Flag) -> Self
    where
        B: Body,
    {
        if inner.is_end_stream() {
            ended.set();
        }
        TimedBody {
            inner,
            limit,
            deadline: None,
            expired,
            ended,
            failed: false,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if frame.is_none() || this.inner.is_end_stream() {
                this.ended.set();
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let limit = this.limit;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.failed = true;
        this.expired.set();
        Poll::Ready(Some(Err(BodyTimedOut(limit).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a request whose body was cut off, whatever the handler
/// made of the failed read (a 400, typically): 408, closing the connection
/// (the rest of the body is still on its way), with the trace id the
/// handler's response carries.
pub fn timed_out_response(limit: Duration, handled: &Response) -> Response {
    let message = format!(
        "The request body was not received within {} s (PRISM_BODY_TIMEOUT_SECS)",
        limit.as_secs_f64()
    );
    let mut response = ApiError::new(ErrorKind::RequestTimeout, message).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(trace_id) = handled.headers().get(TRACE_ID_HEADER) {
        headers.insert(TRACE_ID_HEADER, trace_id.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Bytes, to_bytes};
    use axum::http::StatusCode;

    /// A body that yields one byte per `every`, forever.
    struct Trickle {
        every: Duration,
        next: Option<Pin<Box<Sleep>>>,
    }

    impl Body for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            let every = this.every;
            let next = this
                .next
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
            if next.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.next = None;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    #[tokio::test]
    async fn a_trickled_body_is_cut_off_at_the_deadline() {
        let expired = Expired::default();
        let body = TimedBody::new(
            Trickle {
                every: Duration::from_millis(10),
                next: None,
            },
            Duration::from_millis(100),
            expired.clone(),
            Flag::default(),
        );
        let started = std::time::Instant::now();
        let read = tokio::time::timeout(
            Duration::from_secs(5),
            to_bytes(axum::body::Body::new(body), usize::MAX),
        )
        .await
        .expect("the deadline ends the read");
        let error = read.expect_err("a trickled body fails");
        assert!(expired.is_set());
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(
            error.to_string().contains("not received within 0.1 s"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_time_is_untouched() {
        let expired = Expired::default();
        let ended = Flag::default();
        let body = TimedBody::new(
            axum::body::Body::from("hello"),
            Duration::from_millis(1),
            expired.clone(),
            ended.clone(),
        );
        assert!(!ended.is_set());
        let bytes = to_bytes(axum::body::Body::new(body), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"hello");
        assert!(!expired.is_set());
        assert!(ended.is_set());
        let empty = Flag::default();
        TimedBody::new(
            axum::body::Body::empty(),
            Duration::from_millis(1),
            Flag::default(),
            empty.clone(),
        );
        assert!(empty.is_set(), "no body is a body read to its end");
    }

    #[tokio::test]
    async fn the_response_is_a_408_in_chromas_shape_keeping_the_trace_id() {
        let mut handled = StatusCode::BAD_REQUEST.into_response();
        handled
            .headers_mut()
            .insert(TRACE_ID_HEADER, HeaderValue::from_static("abc"));
        let response = timed_out_response(Duration::from_secs(3), &handled);
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
        assert_eq!(response.headers()[TRACE_ID_HEADER], "abc");
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "ChromaError");
        assert!(
            body["message"].as_str().unwrap().contains("within 3 s"),
            "{body}"
        );
    }
}
