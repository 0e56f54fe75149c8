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
use crate::app::AppState;
use crate::policy::Principal;
use crate::service::quarantine;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/quarantine", get(list)),
        Endpoint::new(Method::POST, "/api/v1/quarantine/{id}/route", post(route)),
        Endpoint::new(Method::DELETE, "/api/v1/quarantine/{id}", delete(discard)),
    ]
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<PageView>, ApiError> {
    let params = query(params)?;
    let before = cursor_param(params.cursor.as_deref())?;
    let page = quarantine::list(&state, &who, before, params.limit).await?;
    Ok(Json(PageView {
        items: page.items.iter().map(|e| TransferView::new(&e.transfer, None)).collect(),
        next_cursor: page.next_cursor.map(encode_cursor),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteBody {
    /// The school's DfE number: `825/2001` or `8252001`.
    to: String,
}

async fn route(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RouteBody>,
) -> Result<Json<TransferView>, ApiError> {
    let record = quarantine::route(&state, &who, transfer_id(&id)?, &body.to).await?;
    Ok(Json(TransferView::new(&record, None)))
}

async fn discard(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    quarantine::discard(&state, &who, transfer_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
