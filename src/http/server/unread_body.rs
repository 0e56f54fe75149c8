//! An HTTP/2 request whose body the server stops reading (a refusal: too large, wrong type, bad
//! credentials) must still end so that the client reads the answer. If the body were simply
//! dropped, h2 would reset the stream while the client is still sending, and clients that do not
//! expect a reset mid-upload (curl up to 8.0 among them) report a framing error instead of the
//! JSON refusal. So the unread rest is read and thrown away, a bounded amount for a bounded time,
//! and let go only once the answer has been sent: a client that finishes sending in that time
//! sees a stream that ended normally; one that sends more gets `RST_STREAM(NO_ERROR)` after the
//! whole answer (RFC 9113 §8.1), never a `CANCEL` before it.
//!
//! HTTP/1.1 is left to hyper and to the upload handler: there an unread body means the
//! connection is closed after the answer rather than kept alive.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, Version};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;

/// The most of an unread body read and discarded after an answer, and for how long. A client
/// that still has more to send gets its stream reset (with NO_ERROR) instead.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

pub async fn finish_unread_bodies(request: Request, next: Next) -> Response {
    if request.version() != Version::HTTP_2 {
        return next.run(request).await;
    }
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let (answered, answer_sent) = oneshot::channel();
    let request =
        request.map(|body| Body::new(Watched { inner: Some(body), read: 0, declared, answer_sent: Some(answer_sent) }));
    let response = next.run(request).await;
    response.map(|body| Body::new(Answer { inner: body, _answered: answered }))
}

/// The request body as the handler sees it; what the handler leaves unread is drained once it
/// lets go.
struct Watched {
    /// None once the body has ended (or failed): nothing is left to drain.
    inner: Option<Body>,
    read: u64,
    declared: Option<u64>,
    answer_sent: Option<oneshot::Receiver<()>>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Poll::Ready(None | Some(Err(_))) => this.inner = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let Some(rest) = self.inner.take().filter(|b| !http_body::Body::is_end_stream(b)) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let left = self.declared.map(|len| len.saturating_sub(self.read));
        runtime.spawn(drain(rest, left, self.answer_sent.take()));
    }
}

async fn drain(mut rest: Body, declared_left: Option<u64>, answer_sent: Option<oneshot::Receiver<()>>) {
    // A body declared larger than the bound would be reset anyway: spare the bandwidth.
    if declared_left.is_none_or(|left| left <= DRAIN_BYTES) {
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            let mut seen = 0u64;
            while let Some(Ok(frame)) = rest.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > DRAIN_BYTES {
                    break;
                }
            }
        })
        .await;
    }
    // Letting go of the stream before the answer is out would reset it with CANCEL. Unread,
    // the client's flow-control window fills and it can send no more meanwhile.
    if let Some(answer_sent) = answer_sent {
        let _ = answer_sent.await;
    }
    drop(rest);
}

/// The response body; dropping it (hyper does once the last frame is sent, or the stream is
/// gone) tells the drain that the answer is out.
struct Answer {
    inner: Body,
    _answered: oneshot::Sender<()>,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
