//! The HTTPS front door: routing, authentication extractors, error mapping and the TLS
//! listener. Handlers are thin: parse, call a use case, map the result.

pub mod auth;
pub mod error;
mod guard;
mod headers;
mod health;
pub mod server;
pub mod tls;
mod transfers;
mod views;

use axum::middleware;
use axum::Router;

use crate::app::AppState;
use crate::policy::Principal;

pub use error::ApiError;

/// The whole HTTP surface. Which routes need authentication is decided here, per route, by
/// whether its handler takes a [`Principal`].
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .nest("/api/v1", transfers::router())
        .fallback(not_found)
        .layer(middleware::from_fn(guard::security_headers))
        .layer(middleware::from_fn(guard::refuse_odd_paths))
        .layer(guard::trace_layer())
        .with_state(state)
}

/// Unknown paths answer 401 to strangers and 404 only once authenticated, so the route table
/// cannot be explored without a key.
async fn not_found(_who: Principal) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "there is nothing at this address: the API lives under /api/v1/transfers",
    )
}
