//! `/api/v1/quarantine`: the sender's batch files that could not be routed; choose a school for
//! each, or discard it.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, post};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::json::JsonBody;
use super::transfers::{cursor_param, encode_cursor, query, transfer_id};
use super::views::{PageView, TransferView};
use super::Endpoint;
use crate::policy::Principal;
use crate::service::quarantine;
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, route, discard))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/quarantine", get(list)),
        Endpoint::new(Method::POST, "/api/v1/quarantine/{id}/route", post(route)),
        Endpoint::new(Method::DELETE, "/api/v1/quarantine/{id}", delete(discard)),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Items per page, 1 to 200.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The caller's files that could not be routed, newest first.
#[utoipa::path(get, path = "/api/v1/quarantine", tag = "batches", params(ListParams), responses(
    (status = 200, description = "A page of quarantined files; each says why in `quarantine`", body = PageView),
    (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_limit`: a parameter is not valid"),
    (status = 403, description = "`key_cannot_send`: the API key may only receive\n\n`forbidden`: this credential may not send"),
))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<PageView>, ApiError> {
    let params = query(params)?;
    let before = cursor_param(params.cursor.as_deref())?;
    let page = quarantine::list(&state, &who, before, params.limit).await?;
    Ok(Json(PageView {
        items: page.items.iter().map(|e| TransferView::new(state.keys(), &e.transfer, None)).collect(),
        next_cursor: page.next_cursor.map(encode_cursor),
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = QuarantineRoute, examples(json!({"to": "825/2001"})))]
pub(super) struct RouteBody {
    /// The school's DfE number: `825/2001` or `8252001`.
    pub(super) to: String,
}

/// Sends a quarantined file on to the school chosen for it.
#[utoipa::path(post, path = "/api/v1/quarantine/{id}/route", tag = "batches", params(("id" = String, Path, description = "The transfer's id (a UUID)")),
    request_body = RouteBody,
    responses(
        (status = 200, description = "Delivered", body = TransferView),
        (status = 400, description = "`invalid_body`: the body is not a route\n\n`invalid_recipient`: `to` is not a DfE number"),
        (status = 404, description = "`not_found`: no such file in the caller's quarantine, or no such school"),
        (status = 410, description = "`gone`: it is no longer in the quarantine"),
        (status = 422, description = "`wrong_recipient_kind`, `recipient_closed`: not a school that can receive\n\n`not_reroutable`: its content was refused, so it cannot be sent on"),
))]
async fn route(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RouteBody>,
) -> Result<Json<TransferView>, ApiError> {
    let record = quarantine::route(&state, &who, transfer_id(&id)?, &body.to).await?;
    Ok(Json(TransferView::new(state.keys(), &record, None)))
}

/// Discards a quarantined file.
#[utoipa::path(delete, path = "/api/v1/quarantine/{id}", tag = "batches", params(("id" = String, Path, description = "The transfer's id (a UUID)")), responses(
    (status = 204, description = "Discarded"),
    (status = 404, description = "`not_found`: no such file in the caller's quarantine"),
    (status = 410, description = "`gone`: it is no longer in the quarantine"),
))]
async fn discard(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    quarantine::discard(&state, &who, transfer_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
