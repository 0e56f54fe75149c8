//! `/api/v1/organisations`: the register, for LA administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::json::JsonBody;
use super::views::OrgDetailView;
use super::Endpoint;
use crate::app::AppState;
use crate::domain::{OrgKind, OrgRef};
use crate::policy::Principal;
use crate::service::organisations;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/organisations", get(list)),
        Endpoint::new(Method::POST, "/api/v1/organisations", post(create)),
        Endpoint::new(Method::GET, "/api/v1/organisations/{org}", get(show)),
        Endpoint::new(Method::POST, "/api/v1/organisations/{org}/close", post(close)),
        Endpoint::new(Method::POST, "/api/v1/organisations/{org}/second-factor", post(second_factor)),
    ]
}

/// An organisation reference from the path; one that cannot name anything is "not found".
pub fn org_ref(raw: &str) -> Result<OrgRef, ApiError> {
    raw.parse().map_err(|_| crate::service::ServiceError::NotFound.into())
}

/// The optional `?org=` filter of listings: a DfE number or a team slug.
pub struct OrgFilter(pub Option<OrgRef>);

#[derive(Deserialize)]
struct OrgFilterParams {
    org: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for OrgFilter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(params) = axum::extract::Query::<OrgFilterParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
        Ok(OrgFilter(params.org.as_deref().map(org_ref).transpose()?))
    }
}

async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<OrgDetailView>>, ApiError> {
    Ok(Json(organisations::list_as(&state, &who).await?.iter().map(Into::into).collect()))
}

async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<Json<OrgDetailView>, ApiError> {
    Ok(Json((&organisations::show(&state, &who, &org_ref(&org)?).await?).into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrg {
    kind: String,
    #[serde(rename = "ref")]
    reference: String,
    name: String,
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<NewOrg>,
) -> Result<(StatusCode, Json<OrgDetailView>), ApiError> {
    let kind = match body.kind.as_str() {
        "school" => OrgKind::School,
        "team" => OrgKind::Team,
        _ => return Err(ApiError::bad_request("invalid_kind", "kind must be school or team")),
    };
    let reference: OrgRef = body.reference.parse().map_err(|e: crate::domain::organisation::InvalidOrgRef| {
        ApiError::bad_request("invalid_reference", e.to_string())
    })?;
    let org = organisations::create_as(&state, &who, kind, reference, &body.name).await?;
    Ok((StatusCode::CREATED, Json((&org).into())))
}

async fn close(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<Json<OrgDetailView>, ApiError> {
    Ok(Json((&organisations::close(state.repo(), state.now(), Some(&who), &org_ref(&org)?).await?).into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFactor {
    required: bool,
}

async fn second_factor(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<SecondFactor>,
) -> Result<StatusCode, ApiError> {
    organisations::require_totp(&state, Some(&who), &org_ref(&org)?, body.required).await?;
    Ok(StatusCode::NO_CONTENT)
}
