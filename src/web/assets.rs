//! The stylesheet and scripts, compiled into the binary so a server needs no files beside it
//! and no page ever loads anything from another site. `ops/assets` rebuilds the GOV.UK
//! Frontend ones from npm; the others are ours.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::Page;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "govuk.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("assets/govuk.css") },
    Asset {
        name: "govuk.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/govuk.js"),
    },
    Asset { name: "init.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("assets/init.js") },
    Asset { name: "send.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("assets/send.js") },
];

pub fn pages() -> Vec<Page> {
    vec![Page::public(Method::GET, "/assets/{name}", get(asset))]
}

/// The names the pages may refer to, for tests that check every one is served.
pub fn names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// Each file's ETag, in the order of [`ASSETS`], hashed once per process rather than on every
/// request.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS
        .get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.bytes)[..12]))).collect())
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return super::error::PageError::not_found().into_response();
    };
    let asset = &ASSETS[i];
    // Revalidated on every use rather than cached for a time, so a new release's styles are
    // seen at once; an unchanged file costs a 304.
    let etag = etags()[i].as_str();
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let etag = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, cache, [(header::ETAG, etag)]).into_response();
    }
    (cache, [(header::ETAG, etag), (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], asset.bytes)
        .into_response()
}
