//! What every request passes through: a request span, a refusal of paths that try to be
//! clever, and response headers that keep pupil data out of caches and browsers' guesses.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::{field, Span};

use super::error::ApiError;

/// Paths are compared literally by the router; these would mean something different to a
/// proxy, a file system or a framework further on, so they are refused before routing.
pub async fn refuse_odd_paths(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let lower = path.to_ascii_lowercase();
    let odd = path.split('/').any(|seg| seg == ".." || seg == ".")
        || path.contains("//")
        || path.contains(['\\', ';'])
        || ["%2e", "%2f", "%5c", "%00", "%3b", "%25"].iter().any(|enc| lower.contains(enc));
    if odd {
        return ApiError::bad_request(
            "invalid_path",
            "the request path is not in canonical form: remove dot segments, encoded separators, ';' and '\\'",
        )
        .into_response();
    }
    next.run(request).await
}

/// Headers that look like credentials but are not the one we read. A proxy or client that
/// sends them alongside (or instead of) `Authorization` is confused, and confusion about who is
/// asking is how file-transfer servers have been broken into; refuse rather than guess.
const LOOK_ALIKES: &[&str] =
    &["authorisation", "x-authorization", "x-auth-token", "x-api-key", "x-access-token", "proxy-authorization"];

pub async fn refuse_ambiguous_credentials(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let look_alike = LOOK_ALIKES.iter().any(|name| headers.contains_key(*name));
    // HTTP/2 lets a browser split its cookies over several header fields (RFC 9113 8.2.3), so
    // only HTTP/1 must send them in one.
    let cookies_split = request.version() >= axum::http::Version::HTTP_2;
    let repeated = headers.get_all(header::AUTHORIZATION).iter().count() > 1
        || (!cookies_split && headers.get_all(header::COOKIE).iter().count() > 1);
    if look_alike || repeated {
        return ApiError::bad_request(
            "ambiguous_credentials",
            "send credentials once, in a single Authorization header, and no other credential-like header",
        )
        .into_response();
    }
    next.run(request).await
}

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=63072000");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; sandbox");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    response
}

type Trace = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request) -> Span,
    tower_http::trace::DefaultOnRequest,
    fn(&Response, Duration, &Span),
>;

/// One span per request: method, matched route, status, latency, principal and request id.
/// Health probes are logged at debug level so they do not drown the log.
pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(make_span as fn(&Request) -> Span)
        .on_response(on_response as fn(&Response, Duration, &Span))
}

fn make_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".into());
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    if route.starts_with("/healthz") || route.starts_with("/readyz") {
        tracing::debug_span!("request", method = %request.method(), route, request_id, principal = field::Empty, status = field::Empty, latency_ms = field::Empty)
    } else {
        tracing::info_span!("request", method = %request.method(), route, request_id, principal = field::Empty, status = field::Empty, latency_ms = field::Empty)
    }
}

fn on_response(response: &Response, latency: Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency.as_millis() as u64);
    if response.status().is_server_error() {
        tracing::warn!(parent: span, status = response.status().as_u16(), "request failed");
    } else {
        tracing::debug!(parent: span, status = response.status().as_u16(), "request done");
    }
}
