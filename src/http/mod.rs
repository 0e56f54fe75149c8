//! The HTTPS front door: routing, authentication extractors, error mapping and the TLS
//! listener. Handlers are thin: parse, call a use case, map the result.

mod audit;
pub mod auth;
mod batches;
mod channel_admin;
mod channels;
mod collection;
mod csv_export;
pub mod error;
mod guard;
mod headers;
mod health;
mod holds;
mod json;
mod keys;
mod messages;
pub mod openapi;
mod organisations;
mod protocol;
mod quarantine;
pub mod refusals;
pub mod request_bodies;
pub mod request_context;
pub mod server;
mod session;
mod since;
pub mod tls;
mod transfers;
mod unclaimed;
mod users;
mod views;

use std::collections::BTreeMap;

use axum::http::Method;
use axum::middleware;
use axum::routing::MethodRouter;
use axum::Router;

use crate::policy::Principal;
use crate::service::AppState;

pub use error::ApiError;
pub use transfers::file_response;

/// One route: the table below is the only list of what the server answers, so tests can
/// enumerate it and a new route cannot slip in untested.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    /// Reachable without credentials. Everything else takes a [`Principal`], whose extractor
    /// is the only gate: authentication is decided per route, never by a path prefix.
    pub public: bool,
    pub route: MethodRouter<AppState>,
}

impl Endpoint {
    pub fn new(method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        Self { method, path, public: false, route }
    }

    pub fn public(method: Method, path: &'static str, route: MethodRouter<AppState>) -> Self {
        Self { method, path, public: true, route }
    }
}

pub fn endpoints() -> Vec<Endpoint> {
    [
        health::endpoints(),
        channels::endpoints(),
        audit::endpoints(),
        channel_admin::endpoints(),
        unclaimed::endpoints(),
        collection::endpoints(),
        holds::endpoints(),
        session::endpoints(),
        transfers::endpoints(),
        messages::endpoints(),
        batches::endpoints(),
        quarantine::endpoints(),
        organisations::endpoints(),
        users::endpoints(),
        keys::endpoints(),
        openapi::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The whole HTTP surface of the API alone, answering unknown paths as the API does.
pub fn router(state: AppState) -> Router {
    finish(api_routes(state.clone()).fallback(not_found), state)
}

/// Every API route, with the layer that records refusals, ready to be merged with other routes
/// before [`finish`] puts the layers every request passes through around them all.
pub fn api_routes(state: AppState) -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for e in endpoints() {
        let merged = match by_path.remove(e.path) {
            Some(existing) => existing.merge(e.route),
            None => e.route,
        };
        by_path.insert(e.path, merged);
    }
    let mut router = Router::new();
    for (path, route) in by_path {
        router = router.route(path, route);
    }
    router
        .method_not_allowed_fallback(protocol::method_not_allowed)
        .route_layer(middleware::from_fn(protocol::refuse_undecodable_queries))
        .route_layer(middleware::from_fn(protocol::refuse_oversized_heads))
        .route_layer(middleware::from_fn_with_state(state, refusals::record_refusals))
}

/// The layers every request passes through, whoever answers it.
pub fn finish(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(protocol::refuse_unknown_transfer_codings))
        .layer(middleware::from_fn(guard::security_headers))
        .layer(middleware::from_fn(guard::refuse_ambiguous_credentials))
        .layer(middleware::from_fn(guard::refuse_odd_paths))
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(guard::trace_layer())
        .with_state(state)
}

/// A handler that panics answers 500 in the JSON shape, logged and counted like any other,
/// rather than the connection closing without an answer; the server serves on either way.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked (the panic's own message is above)");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on the server: it has been logged; try again, and tell the LA if it keeps happening",
    )
    .into_response()
}

/// Unknown paths answer 401 to strangers and 404 only once authenticated, so the route table
/// cannot be explored without credentials.
pub async fn not_found(_who: Principal) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "there is nothing at this address: the API lives under /api/v1",
    )
}
