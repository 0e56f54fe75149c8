//! `/api/v1/keys`: API keys for automated jobs, for LA administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;
use super::json::JsonBody;
use super::organisations::{org_ref, OrgFilter};
use super::views::KeyView;
use super::Endpoint;
use crate::app::AppState;
use crate::policy::Principal;
use crate::service::api_keys;
use crate::store::meta::KeyScope;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/keys", get(list)),
        Endpoint::new(Method::POST, "/api/v1/keys", post(create)),
        Endpoint::new(Method::DELETE, "/api/v1/keys/{id}", delete(revoke)),
        Endpoint::new(Method::POST, "/api/v1/keys/{id}/resume", post(resume)),
    ]
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    OrgFilter(org): OrgFilter,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    Ok(Json(api_keys::list_as(&state, &who, org.as_ref()).await?.iter().map(Into::into).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    org: String,
    name: String,
    channels: Option<Vec<String>>,
    send: Option<bool>,
    receive: Option<bool>,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct CreatedKey {
    id: String,
    /// Shown once; only a hash is kept.
    key: String,
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let defaults = api_keys::default_scope();
    let expires_at =
        body.expires_at.as_deref().map(|t| OffsetDateTime::parse(t, &Rfc3339)).transpose().map_err(|_| {
            ApiError::bad_request("invalid_time", "expires_at must be an RFC 3339 time such as 2027-07-31T00:00:00Z")
        })?;
    let scope = KeyScope {
        channels: body.channels.unwrap_or(defaults.channels),
        can_send: body.send.unwrap_or(defaults.can_send),
        can_receive: body.receive.unwrap_or(defaults.can_receive),
        expires_at,
    };
    let org = org_ref(&body.org)
        .map_err(|_| ApiError::bad_request("invalid_org", "org must be a DfE number or a team slug"))?;
    let (id, token) = api_keys::create_as(&state, &who, &org, &body.name, scope).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { id, key: token.expose_secret().to_owned() })))
}

/// Lets a key that a download alert suspended go on.
async fn resume(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    crate::service::audit::resume_key(&state, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    api_keys::revoke(state.repo(), state.now(), Some(&who), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
