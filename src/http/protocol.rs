//! What HTTP lets a client send that the server refuses in the API's own words rather than
//! guessing: transfer codings it does not speak, query strings that do not decode to text,
//! methods a route does not answer, and request heads too large to be sensible.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::error::ApiError;

/// RFC 9112 §6.1: a server that receives a transfer coding it does not understand answers 501.
/// hyper takes any list that ends in `chunked` as chunked and would hand the other codings'
/// bytes (gzip, or a second chunked layer) on as if they were the file, so everything but a
/// single `chunked` is refused here. HTTP/2 has no transfer codings: h2 refuses the header.
pub async fn refuse_unknown_transfer_codings(request: Request, next: Next) -> Response {
    let mut codings = Vec::new();
    for value in request.headers().get_all(header::TRANSFER_ENCODING) {
        let Ok(text) = value.to_str() else {
            return unsupported_coding();
        };
        codings.extend(text.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_ascii_lowercase));
    }
    if codings.is_empty() || codings == ["chunked"] {
        return next.run(request).await;
    }
    unsupported_coding()
}

fn unsupported_coding() -> Response {
    let mut response = ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "unsupported_transfer_coding",
        "this server reads a body sent with Content-Length or 'Transfer-Encoding: chunked' alone: send it again \
         without other transfer codings (a compressed file is sent as the file, not as a coding)",
    )
    .into_response();
    // The body's framing cannot be trusted, so nothing more is read from this connection.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Query parameters are text: `%FF` and the like, which do not decode to UTF-8, would otherwise
/// become U+FFFD in a file name or a recipient and be stored as something the sender never
/// wrote. Raw bytes that are not UTF-8 never get this far: the URI parser refuses them.
pub async fn refuse_undecodable_queries(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query() {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decodes = |s: &str| percent_decode_str(s).decode_utf8().is_ok();
            if !decodes(name) || !decodes(value) {
                let name: String = percent_decode_str(name).decode_utf8_lossy().chars().take(40).collect();
                return ApiError::bad_request(
                    "invalid_encoding",
                    format!(
                        "the query parameter '{name}' is not UTF-8 once its %-escapes are decoded: encode the text \
                         as UTF-8 before percent-encoding it (é is %C3%A9), as HTTP libraries do; nothing was kept"
                    ),
                )
                .into_response();
            }
        }
    }
    next.run(request).await
}

/// The longest request target (path and query) the API reads. hyper refuses longer than 64 KiB
/// itself, with an empty 414 the application never sees; this lower bound answers first, in JSON.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header bytes the API reads, counted as HTTP/2 counts them (name, value and 32 per
/// field), so both versions draw the line at the same place: h2 refuses more itself (see
/// `server::H2_MAX_HEADER_LIST`), and on HTTP/1.1 hyper's own bound (400 KiB) answers with an
/// empty 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub async fn refuse_oversized_heads(request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_TARGET_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request's address is longer than {MAX_TARGET_BYTES} bytes: send long values in the body, or \
                 page through results with the cursor instead"
            ),
        )
        .into_response();
    }
    let head: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 32).sum();
    if head > MAX_HEADER_BYTES {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's headers come to more than {MAX_HEADER_BYTES} bytes: send fewer or shorter ones \
                 (the API needs little more than Authorization and Content-Type)"
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// A route that exists but does not answer this method: 405 with its `Allow` header (set by the
/// router) and the JSON error every other refusal has.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "this address does not answer {method}: the Allow header lists the methods it does, and \
             /api/v1/openapi.json describes each"
        ),
    )
}
