//! `/api/v1/organisations`: the register, for LA administrators.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;

use super::error::{no_such_organisation, ApiError};
use super::json::JsonBody;
use super::views::OrgDetailView;
use super::Endpoint;
use crate::domain::{OrgKind, OrgRef};
use crate::policy::Principal;
use crate::service::organisations;
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, show, close, second_factor))]
pub(super) struct Api;

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
    raw.parse().map_err(|_| no_such_organisation(crate::service::ServiceError::NotFound))
}

/// The optional `?org=` filter of listings: a DfE number or a team slug.
pub struct OrgFilter(pub Option<OrgRef>);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrgFilterParams {
    /// Only this organisation's: a DfE number (`825/2001`) or a team slug.
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

/// The register: schools and teams.
#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations", responses(
    (status = 200, description = "Every organisation", body = Vec<OrgDetailView>),
    (status = 403, description = "`forbidden`: only LA administrators read the register"),
))]
async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<OrgDetailView>>, ApiError> {
    Ok(Json(organisations::list_as(&state, &who).await?.iter().map(Into::into).collect()))
}

/// One organisation.
#[utoipa::path(get, path = "/api/v1/organisations/{org}", tag = "organisations", params(("org" = String, Path, description = "A DfE number without its slash (`8252001`) or a team slug")), responses(
    (status = 200, description = "The organisation", body = OrgDetailView),
    (status = 403, description = "`forbidden`: the caller may not see it"),
    (status = 404, description = "`not_found`: no such organisation"),
))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<Json<OrgDetailView>, ApiError> {
    Ok(Json((&organisations::show(&state, &who, &org_ref(&org)?).await.map_err(no_such_organisation)?).into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"kind": "school", "ref": "825/2099", "name": "Riverside Primary School"})))]
pub(super) struct NewOrg {
    /// `school` or `team`.
    pub(super) kind: String,
    /// A school's DfE number (`825/2099`), or a team's slug (`admissions`).
    #[serde(rename = "ref")]
    pub(super) reference: String,
    name: String,
}

/// Adds a school or a team by hand (schools normally come from the GIAS import).
#[utoipa::path(post, path = "/api/v1/organisations", tag = "organisations", request_body = NewOrg, responses(
    (status = 201, description = "Added", body = OrgDetailView),
    (status = 400, description = "`invalid_body`: the body is not an organisation\n\n`invalid_kind`, `invalid_reference`: a field is not valid"),
    (status = 403, description = "`forbidden`: only LA administrators change the register"),
    (status = 409, description = "`duplicate_organisation`: it exists already"),
))]
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

/// Marks an organisation closed: it sends and receives nothing more.
#[utoipa::path(post, path = "/api/v1/organisations/{org}/close", tag = "organisations", params(("org" = String, Path, description = "A DfE number without its slash (`8252001`) or a team slug")), responses(
    (status = 200, description = "Closed", body = OrgDetailView),
    (status = 403, description = "`forbidden`: only LA administrators change the register"),
    (status = 404, description = "`not_found`: no such organisation"),
))]
async fn close(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
) -> Result<Json<OrgDetailView>, ApiError> {
    Ok(Json(
        (&organisations::close(state.repo(), state.now(), Some(&who), &org_ref(&org)?)
            .await
            .map_err(no_such_organisation)?)
            .into(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"required": true})))]
pub(super) struct SecondFactor {
    /// Whether the organisation's people must use a second factor.
    required: bool,
}

/// Requires (or stops requiring) a second factor for a school's people; LA people always need one.
#[utoipa::path(post, path = "/api/v1/organisations/{org}/second-factor", tag = "organisations", params(("org" = String, Path, description = "A DfE number without its slash (`8252001`) or a team slug")),
    request_body = SecondFactor,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "`invalid_body`: the body is not a setting"),
        (status = 403, description = "`forbidden`: only LA administrators change it"),
        (status = 404, description = "`not_found`: no such organisation"),
))]
async fn second_factor(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<SecondFactor>,
) -> Result<StatusCode, ApiError> {
    organisations::require_totp(&state, Some(&who), &org_ref(&org)?, body.required)
        .await
        .map_err(no_such_organisation)?;
    Ok(StatusCode::NO_CONTENT)
}
