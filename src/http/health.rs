//! Probes for load balancers and orchestrators, open without credentials.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::Json;
use serde_json::json;

use super::Endpoint;
use crate::service::startup::master_keys::{keyring_state, KeyringState};
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(super) struct Api;

/// What a probe answers: `ok`, or `unavailable` for a backend that does not answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the JSON the probes build.
struct Probe {
    status: String,
    database: Option<String>,
    store: Option<String>,
    keyring: Option<String>,
}

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::public(Method::GET, "/healthz", get(healthz)), Endpoint::public(Method::GET, "/readyz", get(readyz))]
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "Up", body = Probe)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when both backends answer and this node's master keys agree with the database's
/// record of them. Says which part is wrong, but never why (the log has that).
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, description = "The database and the object store answer, and this node holds the master keys the database needs", body = Probe),
    (status = 503, description = "A backend does not answer, or this node's master keys do not match the database's (`keyring`: `mismatch`); the log says why", body = Probe),
))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (db, store) = tokio::join!(state.repo().ping(), state.blobs().check());
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database not answering");
    }
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: object store not answering");
    }
    let keyring = match &db {
        Ok(()) => match keyring_state(state.keys(), state.repo()).await {
            Ok(KeyringState::Agrees) => "ok",
            Ok(KeyringState::Mismatch) => {
                tracing::warn!(
                    "readiness: this node's master keys no longer agree with the database (another node or \
                     `keys rotate` moved to a key this node lacks): give it the installation's keys and restart it"
                );
                "mismatch"
            }
            Err(e) => {
                tracing::warn!(error = %e, "readiness: could not compare the master keys with the database");
                "unknown"
            }
        },
        Err(_) => "unknown",
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = db.is_ok() && store.is_ok() && keyring == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(json!({
            "status": word(ready),
            "database": word(db.is_ok()),
            "store": word(store.is_ok()),
            "keyring": keyring,
        })),
    )
}
