//! `/api/v1/holds`: LA administrators place legal holds that stop retention purging, list
//! them, and lift them.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json::JsonBody;
use super::views::rfc3339;
use super::Endpoint;
use crate::policy::Principal;
use crate::service::holds::{self, HoldRequest};
use crate::service::AppState;
use crate::store::meta::HoldRecord;

#[derive(utoipa::OpenApi)]
#[openapi(paths(place, list, lift))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::POST, "/api/v1/holds", axum::routing::post(place)),
        Endpoint::new(Method::GET, "/api/v1/holds", get(list)),
        Endpoint::new(Method::DELETE, "/api/v1/holds/{id}", delete(lift)),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewHold, examples(json!({"scope": "organisation", "target": "825/2001", "reason": "Subject access request SAR-2026-014"})))]
pub(super) struct PlaceBody {
    /// `transfer`, `organisation` or `channel`.
    pub(super) scope: String,
    /// A transfer id, an organisation (825/2001 or a team slug) or a channel slug.
    pub(super) target: String,
    pub(super) reason: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Lifted holds too, not only those in force.
    #[serde(default)]
    include_lifted: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct HoldView {
    id: String,
    scope: &'static str,
    target: String,
    reason: String,
    placed_at: String,
    placed_by: String,
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifted_by: Option<String>,
}

impl From<HoldRecord> for HoldView {
    fn from(h: HoldRecord) -> Self {
        Self {
            id: h.id.hyphenated().to_string(),
            scope: h.scope.as_str(),
            active: h.is_active(),
            target: h.target,
            reason: h.reason,
            placed_at: rfc3339(h.placed_at),
            placed_by: h.placed_by,
            lifted_at: h.lifted_at.map(rfc3339),
            lifted_by: h.lifted_by,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct HoldList {
    holds: Vec<HoldView>,
}

/// Places a legal hold: nothing it covers is purged until it is lifted.
#[utoipa::path(post, path = "/api/v1/holds", tag = "holds", request_body = PlaceBody, responses(
    (status = 201, description = "Placed", body = HoldView),
    (status = 400, description = "`invalid_body`: the body is not a hold\n\n`invalid_scope`, `invalid_target`: scope or target is not valid"),
    (status = 403, description = "`forbidden`: only LA administrators place holds"),
    (status = 404, description = "`not_found`: the target does not exist"),
))]
async fn place(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<PlaceBody>,
) -> Result<(StatusCode, Json<HoldView>), ApiError> {
    let request = HoldRequest { scope: body.scope, target: body.target, reason: body.reason };
    Ok((StatusCode::CREATED, Json(holds::place(&state, &who, request).await?.into())))
}

/// The holds in force (and the lifted ones, with `include_lifted=true`).
#[utoipa::path(get, path = "/api/v1/holds", tag = "holds", params(ListParams), responses(
    (status = 200, description = "The holds", body = HoldList),
    (status = 400, description = "`invalid_query`: the only parameter is include_lifted"),
    (status = 403, description = "`forbidden`: only LA administrators see holds"),
))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<HoldList>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request("invalid_query", format!("{}: the only parameter is include_lifted=true", e.body_text()))
    })?;
    let found = holds::list(&state, &who, params.include_lifted).await?;
    Ok(Json(HoldList { holds: found.into_iter().map(Into::into).collect() }))
}

/// Lifts a hold.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "holds", params(("id" = String, Path, description = "The hold's id")), responses(
    (status = 200, description = "Lifted", body = HoldView),
    (status = 403, description = "`forbidden`: only LA administrators lift holds"),
    (status = 404, description = "`not_found`: no such hold"),
    (status = 409, description = "`already_lifted`: the hold was lifted before"),
))]
async fn lift(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    Ok(Json(holds::lift(&state, &who, &id).await?.into()))
}
