//! Forms cannot be posted from another site: each form carries a token bound to the session
//! (an HMAC of its id under a key derived from the master key, so nothing is stored), and a
//! request that a browser marks as coming from another origin is refused before it is read.

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::PageError;
use crate::service::AppState;

const KEY_LABEL: &str = "web form token v1";

/// The token every form of this session must carry.
pub fn token(state: &AppState, session_id: &str) -> String {
    match state.keys().derived_keys(KEY_LABEL).first() {
        Some((_, key)) => hex::encode(mac(key, session_id)),
        None => String::new(),
    }
}

/// Whether `given` is this session's token under the current or a retired master key, so a
/// key rotation does not break the forms already open in people's browsers.
pub fn verify(state: &AppState, session_id: &str, given: &str) -> bool {
    let Ok(given) = hex::decode(given.trim()) else { return false };
    state.keys().derived_keys(KEY_LABEL).iter().any(|(_, key)| bool::from(mac(key, session_id).ct_eq(&given[..])))
}

fn mac(key: &[u8; 32], session_id: &str) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(session_id.as_bytes());
    m.finalize().into_bytes().into()
}

/// Refuses a form action that the browser says came from another site. Browsers send
/// `Sec-Fetch-Site` (and `Origin`) with every POST; a client that sends neither is not a
/// browser carrying someone's cookie, and still needs the form token.
pub async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let site_ok = site.is_none_or(|s| s == "same-origin" || s == "none");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned));
    let origin_ok = match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin.strip_prefix("https://").is_some_and(|o| o.eq_ignore_ascii_case(&host)),
        (Some(_), None) => false,
    };
    if site_ok && origin_ok {
        return next.run(request).await;
    }
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form was sent from another website",
        "For your safety, forms can only be sent from this service's own pages. Go back to the page, reload it and try again.",
    )
    .into_response()
}
