//! The pages people use in a browser: server-rendered HTML over the same use cases and the same
//! policy as the API, signed in with a session cookie instead of a bearer token. Every page
//! works without JavaScript; scripts only add progress bars and drag-and-drop.

pub mod account;
pub mod assets;
pub mod chrome;
pub mod csrf;
pub mod error;
pub mod form;
pub mod format;
pub mod headers;
pub mod la;
pub mod mail;
pub mod session;

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

use crate::http;
use crate::policy::Principal;
use crate::service::AppState;

/// One page route or form action: the table below is the only list of what the browser side
/// answers, so the authorisation tests can walk every one of them.
pub struct Page {
    pub method: Method,
    pub path: &'static str,
    /// Reachable without signing in (the sign-in form itself, the stylesheets).
    pub public: bool,
    pub route: MethodRouter<AppState>,
}

impl Page {
    pub fn new(method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        Self { method, path, public: false, route }
    }

    pub fn public(method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        Self { method, path, public: true, route }
    }
}

pub fn pages() -> Vec<Page> {
    [assets::pages(), account::pages(), mail::pages(), la::pages()].into_iter().flatten().collect()
}

/// Everything the server answers: the API and the pages, behind the same outer layers.
pub fn router(state: AppState) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for p in pages() {
        let merged = match by_path.remove(p.path) {
            Some(existing) => existing.merge(p.route),
            None => p.route,
        };
        by_path.insert(p.path, merged);
    }
    let mut pages_router = Router::new();
    for (path, route) in by_path {
        pages_router = pages_router.route(path, route);
    }
    let pages_router = pages_router
        .route_layer(middleware::from_fn(csrf::refuse_cross_origin))
        .layer(middleware::from_fn(headers::page_headers));
    http::finish(http::api_routes(state.clone()).merge(pages_router).fallback(not_found), state)
}

/// Under `/api/` an unknown path is answered as the API answers it; anywhere else a person
/// gets a page that says so.
async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        let (mut parts, _) = request.into_parts();
        return match Principal::from_request_parts(&mut parts, &state).await {
            Ok(who) => http::not_found(who).await.into_response(),
            Err(refused) => refused.into_response(),
        };
    }
    let response = error::PageError::not_found().into_response();
    headers::with_page_headers(response)
}
