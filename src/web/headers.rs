//! What every page response carries: a Content-Security-Policy that allows our own scripts,
//! styles and images only, never inline, and never inside another site's frame.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

pub async fn page_headers(request: Request, next: Next) -> Response {
    with_page_headers(next.run(request).await)
}

pub fn with_page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    // `no-referrer` would make a browser send `Origin: null` with our own forms, which the
    // cross-origin check must then refuse; `same-origin` still tells other sites nothing.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}
