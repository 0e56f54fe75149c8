//! `/api/v1/keys`: API keys for automated jobs, for LA administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::{no_such_key, ApiError};
use super::json::JsonBody;
use super::organisations::{org_ref, OrgFilter};
use super::views::KeyView;
use super::Endpoint;
use crate::domain::records::KeyScope;
use crate::policy::Principal;
use crate::service::api_keys;
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, revoke, resume))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/keys", get(list)),
        Endpoint::new(Method::POST, "/api/v1/keys", post(create)),
        Endpoint::new(Method::DELETE, "/api/v1/keys/{id}", delete(revoke)),
        Endpoint::new(Method::POST, "/api/v1/keys/{id}/resume", post(resume)),
    ]
}

/// API keys, without their secrets.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(super::organisations::OrgFilterParams), responses(
    (status = 200, description = "The keys", body = Vec<KeyView>),
    (status = 400, description = "`invalid_query`: the org filter is not valid"),
    (status = 403, description = "`forbidden`: only LA administrators manage keys"),
    (status = 404, description = "`not_found`: no such organisation"),
    (status = 422, description = "`unknown_organisation`: the org filter names no organisation"),
))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    OrgFilter(org): OrgFilter,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    Ok(Json(api_keys::list_as(&state, &who, org.as_ref()).await?.iter().map(Into::into).collect()))
}

/// An API key for an automated job, scoped to one organisation and to named channels.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"org": "825/2001", "name": "census-upload", "channels": ["census", "general"], "send": true, "receive": false, "expires_at": "2027-07-31T00:00:00Z"})))]
pub(super) struct NewKey {
    /// The organisation the key acts for: a DfE number or a team slug.
    pub(super) org: String,
    /// A name unique within the organisation, saying what uses it.
    name: String,
    /// The channels it may use, or `["*"]` for all; `["general"]` when left out.
    channels: Option<Vec<String>>,
    /// Whether it may upload (default true).
    send: Option<bool>,
    /// Whether it may read its organisation's inbox and download (default true).
    receive: Option<bool>,
    /// An RFC 3339 time after which it stops working; none when left out.
    pub(super) expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CreatedKey {
    id: String,
    /// Shown once; only a hash is kept.
    key: String,
}

/// Makes an API key; its secret is in the answer and nowhere else.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = NewKey, responses(
    (status = 201, description = "Made: keep `key` now, it is shown once", body = CreatedKey),
    (status = 400, description = "`invalid_body`: the body is not a key\n\n`invalid_org`, `invalid_time`, `invalid_scope`: a field is not valid"),
    (status = 403, description = "`forbidden`: only LA administrators make keys"),
    (status = 409, description = "`duplicate_key_name`: the organisation has a key of that name"),
    (status = 422, description = "`unknown_organisation`: no such organisation"),
))]
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
#[utoipa::path(post, path = "/api/v1/keys/{id}/resume", tag = "keys", params(("id" = String, Path, description = "The key's id")), responses(
    (status = 204, description = "Resumed"),
    (status = 403, description = "`forbidden`: only LA administrators resume keys"),
    (status = 404, description = "`not_found`: no such key"),
    (status = 409, description = "`not_suspended`: the key is not suspended"),
))]
async fn resume(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    crate::service::audit::resume_key(&state, &who, &id).await.map_err(no_such_key)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", params(("id" = String, Path, description = "The key's id")), responses(
    (status = 204, description = "Revoked"),
    (status = 403, description = "`forbidden`: only LA administrators revoke keys"),
    (status = 404, description = "`not_found`: no such key"),
))]
async fn revoke(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    api_keys::revoke(state.repo(), state.now(), Some(&who), &id).await.map_err(no_such_key)?;
    Ok(StatusCode::NO_CONTENT)
}
